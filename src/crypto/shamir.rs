//! Shamir secret sharing over the scalar field of curve25519.
//!
//! A secret `s` is the constant term of a random polynomial
//! `f(X) = s + a_1 X + ... + a_{t-1} X^{t-1}` over the field of
//! [`Scalar`]s (integers modulo the prime group order `l`); the holder with
//! index `x` (never 0) receives `f(x)`. Any `t` shares determine `f` and so
//! `s`; any `t - 1` shares are consistent with every possible secret, each for
//! exactly one polynomial, so they reveal nothing (A. Shamir, "How to share a
//! secret", Communications of the ACM 22(11), 1979).
//!
//! Shares are verifiable: the dealer publishes Feldman commitments to the
//! polynomial ([`super::feldman`]), holders check every share they receive
//! against them, and the server checks each secret it interpolates against
//! its constant-term commitment, checking the shares of one that fails and
//! interpolating any `t` that pass. A wrong share among those used is then
//! found by the check, not by decoding, so no error-correcting decoder is
//! needed (protocol v1's Berlekamp–Welch decoder,
//! `O(N^3)` per secret with a liar among the first `t`, is gone).
//!
//! # Complexity
//!
//! [`split_with`]: `O(N t)`. [`interpolate_at_zero`]: `O(t^2)` and one batch
//! inversion; with the coefficients of a holder set computed once
//! ([`lagrange_at_zero_batch`]), each further secret from the same holders
//! costs `t` multiplications ([`combine_at_zero`]).
//!
//! # Security
//!
//! Every branch in [`split_with`], [`interpolate_at_zero`] and the Lagrange
//! coefficient functions depends only on the public x-coordinates and
//! threshold, never on a share value or secret.

use core::fmt;

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A uniformly random scalar.
///
/// Draws 64 bytes from `rng` and reduces them modulo `l` with
/// [`Scalar::from_bytes_mod_order_wide`]; since `l` is about `2^252`, the
/// result is within statistical distance `2^-250` of uniform over the whole
/// field (zero included). The 64-byte buffer is zeroized.
pub(crate) fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(wide.as_mut());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// One share of a secret: the holder's x-coordinate and the value `f(x)`.
///
/// The x-coordinate is a client index (public, never 0); the value is secret:
/// it is zeroized on drop, hidden by `Debug` and compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Share {
    /// The holder's x-coordinate (its client index), never 0.
    #[zeroize(skip)]
    pub(crate) x: u32,
    /// The value of the sharing polynomial at `x`.
    pub(crate) y: Scalar,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(f, "Share", self.x)
    }
}

/// The `Debug` of a share: its holder, the value redacted.
fn debug_redacted(f: &mut fmt::Formatter<'_>, name: &str, x: u32) -> fmt::Result {
    f.debug_struct(name)
        .field("x", &x)
        .field("y", &format_args!("<redacted>"))
        .finish()
}

impl PartialEq for Share {
    /// Constant time in the value `y`.
    fn eq(&self, other: &Self) -> bool {
        (self.x.ct_eq(&other.x) & self.y.ct_eq(&other.y)).into()
    }
}

impl Eq for Share {}

/// A share as it arrived: the holder's x-coordinate and the value, checked
/// canonical ([`ShareBytes::new`]) and kept as little-endian words, so no
/// [`Scalar`] need be built to store it: [`Lagrange::combine`] reads the
/// words as integer limbs, and [`ShareBytes::to_share`] makes the
/// [`Share`] only where one is needed. Zeroized on drop, hidden by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ShareBytes {
    /// The holder's x-coordinate (its client index).
    #[zeroize(skip)]
    pub(crate) x: u32,
    /// The value, canonical (below the group order `l`), as eight
    /// little-endian 32-bit words: eight words to wipe on drop rather than
    /// 32 bytes, and no wider alignment than the index beside it (a share
    /// in a list of `(owner, kind, share)` takes 44 bytes).
    y: [u32; 8],
}

impl fmt::Debug for ShareBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(f, "ShareBytes", self.x)
    }
}

impl ShareBytes {
    /// The share `(x, y)` if `y` is a canonical scalar encoding
    /// ([`is_canonical`]), else `None`.
    pub(crate) fn new(x: u32, y: &[u8; 32]) -> Option<Self> {
        bool::from(is_canonical(y)).then(|| {
            let mut words = [0u32; 8];
            for (word, chunk) in words.iter_mut().zip(y.chunks_exact(4)) {
                let mut b = [0u8; 4];
                b.copy_from_slice(chunk);
                *word = u32::from_le_bytes(b);
            }
            Self { x, y: words }
        })
    }

    /// The value's 32 little-endian bytes.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.y) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The share as a [`Share`]; `None` cannot happen (the bytes were
    /// checked canonical on the way in).
    pub(crate) fn to_share(&self) -> Option<Share> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(*self.to_bytes()))
            .map(|y| Share { x: self.x, y })
    }
}

/// A share's value as four little-endian 64-bit limbs, as
/// [`Lagrange::combine`] and [`combine_at_zero`] read it.
pub(crate) trait ShareValue {
    /// The value, canonical (below `l`).
    fn limbs(&self) -> [u64; 4];
}

impl ShareValue for Share {
    fn limbs(&self) -> [u64; 4] {
        limbs(self.y.as_bytes())
    }
}

impl<T: ShareValue> ShareValue for &T {
    fn limbs(&self) -> [u64; 4] {
        (*self).limbs()
    }
}

impl ShareValue for ShareBytes {
    fn limbs(&self) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (limb, pair) in out.iter_mut().zip(self.y.chunks_exact(2)) {
            if let [lo, hi] = pair {
                *limb = u64::from(*lo) | (u64::from(*hi) << 32);
            }
        }
        out
    }
}

/// The group order `l = 2^252 + 27742317777372353535851937790883648493`,
/// as four little-endian 64-bit limbs.
const ORDER: [u64; 4] = [
    0x5812_631a_5cf5_d3ed,
    0x14de_f9de_a2f7_9cd6,
    0x0000_0000_0000_0000,
    0x1000_0000_0000_0000,
];

/// The four little-endian 64-bit limbs of 32 little-endian bytes.
fn limbs(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(word);
    }
    out
}

/// Whether `bytes` is the canonical encoding of a scalar, the
/// little-endian integer below the group order `l`: exactly the bytes
/// [`Scalar::from_canonical_bytes`] accepts, found by one subtraction of
/// `l` with borrow (the value is below `l` iff it borrows) instead of a
/// modular reduction. Constant time in `bytes`.
pub(crate) fn is_canonical(bytes: &[u8; 32]) -> Choice {
    let mut borrow = 0u64;
    for (a, b) in limbs(bytes).iter().zip(ORDER) {
        let (d, o1) = a.overflowing_sub(b);
        let (_, o2) = d.overflowing_sub(borrow);
        borrow = u64::from(o1 | o2);
    }
    #[allow(clippy::cast_possible_truncation, reason = "borrow is 0 or 1")]
    Choice::from(borrow as u8)
}

/// Why a Shamir operation failed. Carries no share or secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShamirError {
    /// The caller broke a precondition: no holders, a threshold of 0 or above
    /// the number of holders, an x-coordinate of 0, or a repeated x-coordinate.
    InvalidArguments,
}

impl fmt::Display for ShamirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArguments => f.write_str("invalid Shamir arguments"),
        }
    }
}

impl core::error::Error for ShamirError {}

/// Splits `secret` into one share per holder in `xs`, any `threshold` of which
/// reconstruct it (Shamir 1979, section 3).
///
/// The polynomial is `f(X) = secret + a_1 X + ... + a_{t-1} X^{t-1}` with every
/// `a_i` from [`random_scalar`]: uniform over the whole field, zero allowed
/// (rejecting zero would bias the shares). Shares are returned in the order of
/// `xs`; each is `f(x)` evaluated by Horner's rule. The coefficients are
/// zeroized before returning.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] unless `xs` is non-empty, its entries are
/// distinct and nonzero, and `1 <= threshold <= xs.len()`.
#[cfg(test)]
pub(crate) fn split<R: CryptoRng + ?Sized>(
    secret: &Scalar,
    threshold: usize,
    xs: &[u32],
    rng: &mut R,
) -> Result<Vec<Share>, ShamirError> {
    split_with(secret, threshold, xs, rng, |_| ()).map(|(shares, ())| shares)
}

/// `split` (its form for the tests), also handing the coefficients (of `X^0` first) to `inspect`
/// before they are zeroized; returns the shares and what `inspect` returned.
/// The one sampling routine behind `split` and
/// `feldman::split_committed`, so both draw the same bytes in the same order.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] unless `xs` is non-empty, its
/// entries are distinct and nonzero, and `1 <= threshold <= xs.len()`;
/// `inspect` is not called then.
pub(super) fn split_with<R: CryptoRng + ?Sized, T>(
    secret: &Scalar,
    threshold: usize,
    xs: &[u32],
    rng: &mut R,
    inspect: impl FnOnce(&[Scalar]) -> T,
) -> Result<(Vec<Share>, T), ShamirError> {
    if threshold == 0 || threshold > xs.len() {
        return Err(ShamirError::InvalidArguments);
    }
    check_xs(xs.iter().copied())?;
    // coeffs[i] is the coefficient of X^i. The capacity is exact, so pushing
    // never reallocates and leaves no unzeroized copy behind.
    let mut coeffs = Zeroizing::new(Vec::with_capacity(threshold));
    coeffs.push(*secret);
    for _ in 1..threshold {
        coeffs.push(random_scalar(rng));
    }
    let shares = xs
        .iter()
        .map(|&x| Share {
            x,
            y: evaluate(&coeffs, x),
        })
        .collect();
    Ok((shares, inspect(&coeffs)))
}

/// The secret through exactly the given shares: Lagrange interpolation of the
/// polynomial of degree `< shares.len()` at zero, with the coefficients of
/// [`lagrange_at_zero`] for the shares' x-coordinates. `O(t^2)`
/// multiplications and one field inversion.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] if `shares` is empty or its x-coordinates
/// are not distinct and nonzero.
pub(crate) fn interpolate_at_zero(shares: &[Share]) -> Result<Scalar, ShamirError> {
    let xs: Vec<u32> = shares.iter().map(|s| s.x).collect();
    let coeffs = lagrange_at_zero(&xs)?;
    Ok(combine_at_zero(&coeffs, shares))
}

/// The Lagrange coefficients at zero of the holder set `xs`:
/// `lambda_i = prod_{j != i} x_j / (x_j - x_i)`, so that
/// `f(0) = sum_i lambda_i f(x_i)` for every polynomial `f` of degree
/// `< xs.len()` (Shamir 1979, section 3). They depend on the public
/// x-coordinates only, so one set serves every secret reconstructed from the
/// same holders ([`combine_at_zero`]).
///
/// Computed as `lambda_i = (prod_j x_j) / d_i` with
/// `d_i = x_i * prod_{j != i} (x_j - x_i)`: `O(t^2)` multiplications, the
/// `d_i` inverted together ([`lagrange_at_zero_batch`]).
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] if `xs` is empty or its entries are not
/// distinct and nonzero.
pub(crate) fn lagrange_at_zero(xs: &[u32]) -> Result<Vec<Scalar>, ShamirError> {
    let mut all = lagrange_at_zero_batch(&[xs])?;
    all.pop()
        .map(|set| set.coefficients())
        .ok_or(ShamirError::InvalidArguments)
}

/// The Lagrange coefficients at zero of one holder set, kept factored as
/// `lambda_i = scale * inverses[i]` with `scale = prod_j x_j` and
/// `inverses[i] = 1 / d_i` ([`lagrange_at_zero_batch`]): a secret is then
/// `scale * sum_i inverses[i] y_i` ([`Lagrange::combine`]), so a set used
/// for one secret costs `t` multiplications fewer than forming every
/// `lambda_i`. Public (x-coordinates only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lagrange {
    scale: Scalar,
    inverses: Vec<Scalar>,
}

impl Lagrange {
    /// The coefficients `lambda_i` themselves, in the order of the set.
    pub(crate) fn coefficients(&self) -> Vec<Scalar> {
        self.inverses.iter().map(|inv| self.scale * inv).collect()
    }

    /// The secret through `shares`, whose x-coordinates must be this set's,
    /// in the same order (the caller's duty): [`combine_at_zero`] with the
    /// inverses, times the scale. `t + 1` multiplications; the partial sum
    /// is wiped.
    pub(crate) fn combine<S: ShareValue>(&self, shares: &[S]) -> Scalar {
        let partial = Zeroizing::new(combine_at_zero(&self.inverses, shares));
        self.scale * *partial
    }
}

/// Most holder sets per batch inversion in [`lagrange_at_zero_batch`]:
/// enough that the one field inversion of a batch (about as dear as 250
/// multiplications) is spread thin.
const LAGRANGE_CHUNK: usize = 64;

/// Fewest holder sets per batch inversion when the sets are cut so that
/// every thread gets chunks ([`lagrange_at_zero_batch`]).
const LAGRANGE_CHUNK_MIN: usize = 16;

/// [`lagrange_at_zero`] for several holder sets at once, in order, each
/// factored as a [`Lagrange`]. The sets are cut into chunks of at most
/// `LAGRANGE_CHUNK` (64), handled in parallel with the `parallel` feature
/// (then chunks of at least `LAGRANGE_CHUNK_MIN`, 16, and four per thread
/// when the sets allow: the 70 or so sets of a round of 1,000 are five
/// chunks, not one of 64 and one of 6);
/// in each, every denominator `d_i` is formed from its small integer
/// factors ([`product`]) and all of them go through one batch inversion
/// (Montgomery's trick: one field inversion and three multiplications per
/// element), and `lambda_i = (prod_j x_j) / d_i` is left factored.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] if any set is empty or has entries that
/// are not distinct and nonzero.
pub(crate) fn lagrange_at_zero_batch(sets: &[&[u32]]) -> Result<Vec<Lagrange>, ShamirError> {
    for xs in sets {
        check_holders(xs)?;
    }
    if let Some(by_shape) = lagrange_by_shape(sets) {
        return Ok(by_shape);
    }
    #[cfg(feature = "parallel")]
    let chunks: Vec<Vec<Lagrange>> = {
        use rayon::prelude::*;
        let per_thread = sets.len().div_ceil(4 * rayon::current_num_threads().max(1));
        sets.par_chunks(per_thread.clamp(LAGRANGE_CHUNK_MIN, LAGRANGE_CHUNK))
            .map(lagrange_chunk)
            .collect()
    };
    #[cfg(not(feature = "parallel"))]
    let chunks: Vec<Vec<Lagrange>> = sets.chunks(LAGRANGE_CHUNK).map(lagrange_chunk).collect();
    Ok(chunks.into_iter().flatten().collect())
}

/// The coefficients of each of `sets` (already checked), with one batch
/// inversion for all their denominators.
fn lagrange_chunk(sets: &[&[u32]]) -> Vec<Lagrange> {
    // d_i = x_i * prod_{j != i} (x_j - x_i), set after set.
    let mut den: Vec<Scalar> = Vec::with_capacity(sets.iter().map(|xs| xs.len()).sum());
    for xs in sets {
        for (i, &xi) in xs.iter().enumerate() {
            den.push(product(
                core::iter::once(i64::from(xi)).chain(differences(xs, i)),
            ));
        }
    }
    Scalar::invert_batch_alloc(&mut den);
    let mut inverses = den.into_iter();
    sets.iter()
        .map(|xs| Lagrange {
            scale: product(xs.iter().map(|&x| i64::from(x))),
            inverses: inverses.by_ref().take(xs.len()).collect(),
        })
        .collect()
}

/// `x_j - x_i` for every `j != i` of `xs`, in order.
fn differences(xs: &[u32], i: usize) -> impl Iterator<Item = i64> + '_ {
    let xi = xs.get(i).map_or(0, |&x| i64::from(x));
    xs.iter()
        .enumerate()
        .filter(move |&(j, _)| j != i)
        .map(move |(_, &xj)| i64::from(xj) - xi)
}

/// [`lagrange_at_zero_batch`] for sets (already checked) that are mostly
/// translates of one another, as the holder sets of a Harary graph are:
/// `None` when fewer than two sets share each shape on average.
///
/// The shape of a set is its offsets from its first entry. Since
/// `d_i = x_i D_i` with `D_i = prod_{j != i} (x_j - x_i)`, and `D_i`
/// depends on the shape only, the `D_i` of each distinct shape and every
/// distinct x-coordinate are inverted in one batch, and each set's
/// `1 / d_i = (1 / x_i)(1 / D_i)` is one multiplication (the sets in
/// parallel with the `parallel` feature), instead of forming and inverting
/// every set's own `d_i`. The result is the same field elements.
fn lagrange_by_shape(sets: &[&[u32]]) -> Option<Vec<Lagrange>> {
    let mut shape_of: std::collections::HashMap<Vec<i64>, usize> = std::collections::HashMap::new();
    let mut shapes: Vec<&[u32]> = Vec::new();
    let mut shape_ids = Vec::with_capacity(sets.len());
    for &xs in sets {
        let first = i64::from(*xs.first()?);
        let key: Vec<i64> = xs.iter().map(|&x| i64::from(x) - first).collect();
        let next = shapes.len();
        let id = *shape_of.entry(key).or_insert(next);
        if id == next {
            shapes.push(xs);
        }
        shape_ids.push(id);
    }
    if shapes.len() * 2 > sets.len() {
        return None;
    }
    // 1 / D_i of each shape, shape after shape, and where each shape starts.
    let mut starts = Vec::with_capacity(shapes.len());
    let mut inv_d: Vec<Scalar> = Vec::new();
    for xs in &shapes {
        starts.push(inv_d.len());
        inv_d.extend((0..xs.len()).map(|i| product(differences(xs, i))));
    }
    Scalar::invert_batch_alloc(&mut inv_d);
    // 1 / x of every x-coordinate used.
    let mut all: Vec<u32> = sets.iter().flat_map(|xs| xs.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    let mut inv_x: Vec<Scalar> = all.iter().map(|&x| Scalar::from(x)).collect();
    Scalar::invert_batch_alloc(&mut inv_x);
    let one = |(xs, id): (&&[u32], usize)| -> Option<Lagrange> {
        let start = *starts.get(id)?;
        let inverses = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let ix = inv_x.get(all.binary_search(x).ok()?)?;
                Some(ix * inv_d.get(start + i)?)
            })
            .collect::<Option<Vec<Scalar>>>()?;
        Some(Lagrange {
            scale: product(xs.iter().map(|&x| i64::from(x))),
            inverses,
        })
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        sets.par_iter().zip(shape_ids).map(one).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        sets.iter().zip(shape_ids).map(one).collect()
    }
}

/// The product in the field of nonzero integers (each below `2^32` in
/// magnitude, as the differences of two x-coordinates are): the magnitudes
/// are multiplied in a `u128` while they fit (four factors of 32 bits,
/// twelve of 10), only then into a [`Scalar`], and the sign is applied
/// once at the end. Branches depend on the public x-coordinates only.
fn product(factors: impl Iterator<Item = i64>) -> Scalar {
    let mut out: Option<Scalar> = None;
    let mut run: u128 = 1;
    let mut negative = false;
    for f in factors {
        negative ^= f < 0;
        let magnitude = u128::from(f.unsigned_abs());
        match run.checked_mul(magnitude) {
            Some(v) => run = v,
            None => {
                let full = Scalar::from(run);
                out = Some(out.map_or(full, |o| o * full));
                run = magnitude;
            }
        }
    }
    let last = Scalar::from(run);
    let all = out.map_or(last, |o| o * last);
    if negative { -all } else { all }
}

/// Products summed in one 512-bit accumulator before a reduction in
/// [`combine_at_zero`]: each product of two canonical values is below
/// `l^2 < 2^506`, so 64 of them stay below `2^512`.
const LAZY_TERMS: usize = 64;

/// `sum_i coeffs[i] * shares[i].y`: the secret through `shares` when
/// `coeffs` are the [`lagrange_at_zero`] coefficients of their
/// x-coordinates, in the same order (the caller's duty).
///
/// The products are taken as plain 256 x 256-bit integer products of the
/// canonical bytes and summed in a 512-bit accumulator, reduced modulo `l`
/// once per [`LAZY_TERMS`] (64) terms ([`Scalar::from_bytes_mod_order_wide`]),
/// instead of one modular multiplication and one modular addition per term:
/// no share value is made a [`Scalar`] first. Constant time in the values;
/// the accumulator is wiped.
pub(crate) fn combine_at_zero<S: ShareValue>(coeffs: &[Scalar], shares: &[S]) -> Scalar {
    let mut sum = Zeroizing::new(Scalar::ZERO);
    let mut acc = Zeroizing::new([0u64; 8]);
    let mut wide = Zeroizing::new([0u8; 64]);
    let mut terms = coeffs.iter().zip(shares).peekable();
    while terms.peek().is_some() {
        *acc = [0u64; 8];
        for (c, s) in terms.by_ref().take(LAZY_TERMS) {
            mul_add(&mut acc, &limbs(c.as_bytes()), &s.limbs());
        }
        for (out, limb) in wide.chunks_exact_mut(8).zip(acc.iter()) {
            out.copy_from_slice(&limb.to_le_bytes());
        }
        *sum += Scalar::from_bytes_mod_order_wide(&wide);
    }
    *sum
}

/// `acc += a * b` on little-endian 64-bit limbs, schoolbook; the caller
/// keeps the sum below `2^512`. Constant time.
fn mul_add(acc: &mut [u64; 8], a: &[u64; 4], b: &[u64; 4]) {
    for (i, &ai) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &bj) in b.iter().enumerate() {
            let slot = &mut acc[i + j];
            let t = u128::from(*slot) + u128::from(ai) * u128::from(bj) + carry;
            #[allow(clippy::cast_possible_truncation, reason = "the low limb")]
            {
                *slot = t as u64;
            }
            carry = t >> 64;
        }
        for slot in acc.iter_mut().skip(i + 4) {
            let t = u128::from(*slot) + carry;
            #[allow(clippy::cast_possible_truncation, reason = "the low limb")]
            {
                *slot = t as u64;
            }
            carry = t >> 64;
        }
    }
}

/// `Ok` when `xs` is a holder set [`lagrange_at_zero`] accepts: non-empty,
/// entries distinct and nonzero.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] otherwise.
pub(crate) fn check_holders(xs: &[u32]) -> Result<(), ShamirError> {
    if xs.is_empty() {
        return Err(ShamirError::InvalidArguments);
    }
    check_xs(xs.iter().copied())
}

/// `Ok` when every x is nonzero and no two are equal.
fn check_xs(xs: impl Iterator<Item = u32>) -> Result<(), ShamirError> {
    let mut sorted: Vec<u32> = xs.collect();
    sorted.sort_unstable();
    if sorted.first() == Some(&0) || sorted.windows(2).any(|w| w[0] == w[1]) {
        Err(ShamirError::InvalidArguments)
    } else {
        Ok(())
    }
}

/// The coefficients (of `X^0` first) of the polynomial of degree
/// `< shares.len()` through `shares`, whose x-coordinates must be distinct.
///
/// Lagrange form turned into monomial form: with `M(X) = prod_j (X - x_j)`,
/// `P(X) = sum_j y_j / M'(x_j) * M(X) / (X - x_j)`, where
/// `M'(x_j) = prod_{k != j} (x_j - x_k)` (nonzero) is inverted in one batch and
/// each `M(X) / (X - x_j)` is one synthetic division. `O(t^2)`.
#[cfg(test)]
fn interpolate_coefficients(shares: &[Share]) -> Zeroizing<Vec<Scalar>> {
    let n = shares.len();
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(s.x)).collect();

    // m[i] is the coefficient of X^i in M(X); multiply in one factor at a time.
    let mut m = vec![Scalar::ZERO; n + 1];
    m[0] = Scalar::ONE;
    for (k, xj) in xs.iter().enumerate() {
        // m has degree k; m <- m * (X - x_j), highest coefficient first.
        for i in (1..=k + 1).rev() {
            m[i] = m[i - 1] - xj * m[i];
        }
        m[0] = -(xj * m[0]);
    }

    let mut den: Vec<Scalar> = xs
        .iter()
        .enumerate()
        .map(|(j, xj)| {
            xs.iter()
                .enumerate()
                .filter(|&(k, _)| k != j)
                .map(|(_, xk)| xj - xk)
                .product()
        })
        .collect();
    Scalar::invert_batch_alloc(&mut den);

    let mut out = Zeroizing::new(vec![Scalar::ZERO; n]);
    for ((s, xj), inv) in shares.iter().zip(&xs).zip(&den) {
        let weight = Zeroizing::new(s.y * inv);
        // Synthetic division: the coefficients q_i of M(X) / (X - x_j) satisfy
        // q_{n-1} = m_n and q_{i-1} = m_i + x_j q_i.
        let mut q = Scalar::ZERO;
        for (o, mi) in out.iter_mut().zip(&m[1..]).rev() {
            q = mi + xj * q;
            *o += *weight * q;
        }
    }
    out
}

/// `sum_i coeffs[i] x^i` by Horner's rule.
fn evaluate(coeffs: &[Scalar], x: u32) -> Scalar {
    let x = Scalar::from(x);
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    use chacha20::ChaCha20Rng;
    use core::convert::Infallible;
    use proptest::prelude::*;
    use rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};

    /// An RNG that returns only zero bytes (for the zero-coefficient test).
    struct ZeroRng;

    impl TryRng for ZeroRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            dst.fill(0);
            Ok(())
        }
    }

    impl TryCryptoRng for ZeroRng {}

    /// A seeded ChaCha20 RNG.
    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// The x-coordinates `1..=n`.
    fn indices(n: usize) -> Vec<u32> {
        (1..=u32::try_from(n).unwrap()).collect()
    }

    /// `count` distinct positions in `0..n`, in random order.
    fn positions(rng: &mut ChaCha20Rng, n: usize, count: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        // Fisher–Yates.
        for i in (1..n).rev() {
            let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap();
            all.swap(i, j);
        }
        all.truncate(count);
        all
    }

    #[test]
    fn random_scalar_is_seeded_and_canonical() {
        let a = random_scalar(&mut rng(1));
        let b = random_scalar(&mut rng(1));
        let c = random_scalar(&mut rng(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(bool::from(
            Scalar::from_canonical_bytes(a.to_bytes()).is_some()
        ));
        assert_eq!(random_scalar(&mut ZeroRng), Scalar::ZERO);
        // The same 64 bytes reduced wide.
        let mut wide = [0u8; 64];
        rng(3).fill_bytes(&mut wide);
        assert_eq!(
            random_scalar(&mut rng(3)),
            Scalar::from_bytes_mod_order_wide(&wide)
        );
    }

    #[test]
    fn any_t_subset_reconstructs() {
        let mut r = rng(10);
        for (n, t) in [(1, 1), (2, 1), (2, 2), (5, 3), (7, 7), (9, 4)] {
            let secret = random_scalar(&mut r);
            let shares = split(&secret, t, &indices(n), &mut r).unwrap();
            assert_eq!(shares.len(), n);
            // Every t-subset, by bitmask.
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != t {
                    continue;
                }
                let subset: Vec<Share> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| shares[i].clone())
                    .collect();
                assert_eq!(interpolate_at_zero(&subset).unwrap(), secret);
            }
            // All n shares lie on the same polynomial of degree < t.
            assert_eq!(interpolate_at_zero(&shares).unwrap(), secret);
        }
    }

    #[test]
    fn shares_follow_xs_order_and_large_xs_work() {
        let mut r = rng(11);
        let secret = random_scalar(&mut r);
        let xs = [u32::MAX, 7, 1, u32::MAX - 1, 1 << 31];
        let shares = split(&secret, 3, &xs, &mut r).unwrap();
        let got: Vec<u32> = shares.iter().map(|s| s.x).collect();
        assert_eq!(got, xs);
        assert_eq!(interpolate_at_zero(&shares[..3]).unwrap(), secret);
        assert_eq!(interpolate_at_zero(&shares[2..]).unwrap(), secret);
    }

    #[test]
    fn fewer_than_t_shares_do_not_give_the_secret() {
        let mut r = rng(12);
        for case in 0..200 {
            let n = 2 + case % 9;
            let t = 2 + case % (n - 1);
            let secret = random_scalar(&mut r);
            let shares = split(&secret, t, &indices(n), &mut r).unwrap();
            let at = positions(&mut r, n, t - 1);
            let subset: Vec<Share> = at.iter().map(|&i| shares[i].clone()).collect();
            assert_ne!(interpolate_at_zero(&subset).unwrap(), secret, "n={n} t={t}");
        }
    }

    /// An RNG that replays a fixed byte string (then zeros).
    struct ScriptedRng(Vec<u8>);

    impl TryRng for ScriptedRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            let take = dst.len().min(self.0.len());
            let (head, tail) = dst.split_at_mut(take);
            head.copy_from_slice(&self.0[..take]);
            tail.fill(0);
            self.0.drain(..take);
            Ok(())
        }
    }

    impl TryCryptoRng for ScriptedRng {}

    /// An RNG whose successive `random_scalar` draws are exactly `scalars`.
    fn scripted(scalars: &[Scalar]) -> ScriptedRng {
        let mut bytes = Vec::new();
        for s in scalars {
            bytes.extend_from_slice(&s.to_bytes());
            bytes.extend_from_slice(&[0u8; 32]);
        }
        ScriptedRng(bytes)
    }

    #[test]
    fn t_minus_one_shares_fit_every_secret() {
        // Perfect hiding, concretely: for any other secret s', some draw of
        // the coefficients (each as likely as the real one) gives the same
        // t - 1 shares.
        let mut r = rng(13);
        let (n, t) = (7, 4);
        let secret = random_scalar(&mut r);
        let shares = split(&secret, t, &indices(n), &mut r).unwrap();
        let seen = &shares[2..2 + t - 1];
        for _ in 0..10 {
            let other = random_scalar(&mut r);
            let mut points = vec![Share { x: 0, y: other }];
            points.extend(seen.iter().cloned());
            let g = interpolate_coefficients(&points);
            assert_eq!(g[0], other);
            let forged = split(&other, t, &indices(n), &mut scripted(&g[1..])).unwrap();
            assert_eq!(&forged[2..2 + t - 1], seen);
            assert_ne!(forged, shares);
        }
    }

    #[test]
    fn threshold_one_shares_equal_the_secret() {
        let mut r = rng(14);
        let secret = random_scalar(&mut r);
        let shares = split(&secret, 1, &indices(8), &mut r).unwrap();
        assert!(shares.iter().all(|s| s.y == secret));
        for s in &shares {
            assert_eq!(
                interpolate_at_zero(core::slice::from_ref(s)).unwrap(),
                secret
            );
        }
    }

    #[test]
    fn threshold_n_needs_all_shares() {
        let mut r = rng(15);
        let secret = random_scalar(&mut r);
        let n = 12;
        let shares = split(&secret, n, &indices(n), &mut r).unwrap();
        assert_eq!(interpolate_at_zero(&shares).unwrap(), secret);
        assert_ne!(interpolate_at_zero(&shares[1..]).unwrap(), secret);
    }

    #[test]
    fn zero_coefficients_are_not_rejected() {
        let secret = random_scalar(&mut rng(16));
        let shares = split(&secret, 5, &indices(9), &mut ZeroRng).unwrap();
        assert!(shares.iter().all(|s| s.y == secret));
    }

    #[test]
    fn split_rejects_bad_arguments() {
        let s = Scalar::ONE;
        let mut r = rng(17);
        assert_eq!(
            split(&s, 1, &[], &mut r),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(
            split(&s, 0, &[1, 2], &mut r),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(
            split(&s, 3, &[1, 2], &mut r),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(
            split(&s, 1, &[1, 0], &mut r),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(
            split(&s, 2, &[4, 2, 4], &mut r),
            Err(ShamirError::InvalidArguments)
        );
    }

    #[test]
    fn interpolate_rejects_bad_arguments() {
        let share = |x| Share { x, y: Scalar::ONE };
        assert_eq!(interpolate_at_zero(&[]), Err(ShamirError::InvalidArguments));
        assert_eq!(
            interpolate_at_zero(&[share(1), share(0)]),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(
            interpolate_at_zero(&[share(3), share(2), share(3)]),
            Err(ShamirError::InvalidArguments)
        );
    }

    /// `lambda_i` straight from the definition, one inversion each.
    fn fresh_lagrange(xs: &[u32]) -> Vec<Scalar> {
        xs.iter()
            .enumerate()
            .map(|(i, &xi)| {
                let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
                for (j, &xj) in xs.iter().enumerate() {
                    if j != i {
                        num *= Scalar::from(xj);
                        den *= Scalar::from(xj) - Scalar::from(xi);
                    }
                }
                num * den.invert()
            })
            .collect()
    }

    #[test]
    fn cached_lagrange_coefficients_equal_fresh_ones() {
        let sets: Vec<Vec<u32>> = vec![
            vec![1],
            vec![1, 2, 3],
            vec![9, 4, 7, 1000, 2],
            vec![u32::MAX, 1, u32::MAX - 5],
            (3..40).collect(),
        ];
        let views: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
        let batch = lagrange_at_zero_batch(&views).unwrap();
        assert_eq!(batch.len(), sets.len());
        for (xs, cached) in sets.iter().zip(&batch) {
            let fresh = fresh_lagrange(xs);
            assert_eq!(cached.coefficients(), fresh);
            assert_eq!(&lagrange_at_zero(xs).unwrap(), &fresh);
            // sum_i lambda_i = 1 (interpolating the constant polynomial 1).
            assert_eq!(cached.coefficients().iter().sum::<Scalar>(), Scalar::ONE);
        }
        // Reused across secrets dealt to the same holders: exact each time.
        let xs = &sets[2];
        let mut r = rng(11);
        for _ in 0..4 {
            let secret = random_scalar(&mut r);
            let shares = split(&secret, xs.len(), xs, &mut r).unwrap();
            assert_eq!(batch[2].combine(&shares), secret);
            assert_eq!(combine_at_zero(&batch[2].coefficients(), &shares), secret);
        }
        // The set [1] has lambda = 1: the one share is the secret.
        assert_eq!(batch[0].coefficients(), vec![Scalar::ONE]);
    }

    /// The integer path of the denominators against the definition:
    /// x-coordinates near `u32::MAX` (32-bit factors, four to a `u128`
    /// run, several runs per product), sets given in descending or mixed
    /// order (negative differences, both sign parities), t = 1 and 2, and
    /// more sets than one batch inversion takes, so chunk boundaries are
    /// crossed and the order of the sets is kept across them.
    #[test]
    fn lagrange_integer_path_matches_the_definition() {
        let max = u32::MAX;
        let mut sets: Vec<Vec<u32>> = vec![
            vec![max],
            vec![1],
            vec![max, 1],
            vec![1, max],
            vec![max - 1, max],
            vec![7, 3],
            vec![max, max - 1, max - 2, 1, 2, 3],
            vec![3, max, 1, max - 2, 2, max - 1],
            (0..40).map(|i| max - i * 97).collect(),
            (1..=30).map(|i| i * (max / 31)).collect(),
        ];
        let mut r = rng(5);
        while sets.len() < 3 * LAGRANGE_CHUNK + 5 {
            let size = 1 + r.next_u32() as usize % 20;
            let mut xs: Vec<u32> = Vec::new();
            while xs.len() < size {
                // Small, large and mixed magnitudes.
                let x = match r.next_u32() % 3 {
                    0 => 1 + r.next_u32() % 1000,
                    1 => max - r.next_u32() % 1000,
                    _ => r.next_u32().max(1),
                };
                if !xs.contains(&x) {
                    xs.push(x);
                }
            }
            sets.push(xs);
        }
        let views: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
        let batch = lagrange_at_zero_batch(&views).unwrap();
        assert_eq!(batch.len(), sets.len());
        for (xs, cached) in sets.iter().zip(&batch) {
            assert_eq!(cached.coefficients(), fresh_lagrange(xs), "{xs:?}");
        }
        // t = 2 by hand: lambda_1 = x_2 / (x_2 - x_1), lambda_2 = x_1 / (x_1 - x_2).
        let (a, b) = (Scalar::from(max), Scalar::from(1u32));
        assert_eq!(
            batch[2].coefficients(),
            vec![b * (b - a).invert(), a * (a - b).invert()]
        );
    }

    /// [`product`] equals the field product of its factors, signs included,
    /// whether or not they fit one `u128` run.
    #[test]
    fn product_equals_the_field_product() {
        let field = |fs: &[i64]| -> Scalar {
            fs.iter()
                .map(|&f| {
                    let s = Scalar::from(f.unsigned_abs());
                    if f < 0 { -s } else { s }
                })
                .product()
        };
        let big = i64::from(u32::MAX);
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![1],
            vec![-1],
            vec![big],
            vec![-big, big, -big, big, -big],
            vec![-big; 9],
            vec![-3, 5, -7, 11, -13],
            (1..=40)
                .map(|i| if i % 3 == 0 { -i } else { i * 1000 })
                .collect(),
        ];
        for fs in &cases {
            assert_eq!(product(fs.iter().copied()), field(fs), "{fs:?}");
        }
    }

    #[test]
    fn lagrange_rejects_bad_sets() {
        let err = Err(ShamirError::InvalidArguments);
        assert_eq!(lagrange_at_zero(&[]), err);
        assert_eq!(lagrange_at_zero(&[0, 1]), err);
        assert_eq!(lagrange_at_zero(&[5, 2, 5]), err);
        let good: &[u32] = &[1, 2];
        assert_eq!(
            lagrange_at_zero_batch(&[good, &[3, 3]]),
            Err(ShamirError::InvalidArguments)
        );
        assert_eq!(lagrange_at_zero_batch(&[]), Ok(Vec::new()));
    }

    #[test]
    fn debug_is_redacted_and_eq_compares_both_fields() {
        let y = Scalar::from(0x1234_5678u32);
        let share = Share { x: 7, y };
        let text = format!("{share:?}");
        assert_eq!(text, "Share { x: 7, y: <redacted> }");
        assert_eq!(share, Share { x: 7, y });
        assert_ne!(share, Share { x: 8, y });
        assert_ne!(
            share,
            Share {
                x: 7,
                y: y + Scalar::ONE
            }
        );
        let mut wiped = share.clone();
        wiped.zeroize();
        assert_eq!(wiped.y, Scalar::ZERO);
        assert_eq!(wiped.x, 7);
    }

    #[test]
    fn error_display() {
        assert_eq!(
            ShamirError::InvalidArguments.to_string(),
            "invalid Shamir arguments"
        );
    }

    /// A sharing of size `n`, threshold `t` with random distinct x's in random
    /// order.
    fn sharing(n: usize, t: usize, seed: u64) -> (Vec<Share>, Scalar) {
        let mut r = rng(seed);
        let mut xs: Vec<u32> = Vec::with_capacity(n);
        while xs.len() < n {
            let x = match r.next_u32() % 3 {
                0 => r.next_u32() % 64 + 1,
                1 => u32::MAX - r.next_u32() % 64,
                _ => r.next_u32().max(1),
            };
            if !xs.contains(&x) {
                xs.push(x);
            }
        }
        let secret = random_scalar(&mut r);
        let shares = split(&secret, t, &xs, &mut r).unwrap();
        (shares, secret)
    }

    /// Translated holder sets (windows of a ring, as a Harary graph's,
    /// some wrapping around) take the shape path, which gives the
    /// coefficients of the definition and of the per-set path; sets of
    /// mostly distinct shapes do not take it.
    #[test]
    fn lagrange_by_shape_matches_the_definition() {
        let n = 60u32;
        let windows: Vec<Vec<u32>> = (0..n)
            .map(|v| {
                let mut xs: Vec<u32> = (0..7).map(|d| (v + d) % n + 1).collect();
                xs.sort_unstable();
                xs
            })
            .collect();
        let views: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
        let by_shape = lagrange_by_shape(&views).expect("mostly one shape");
        assert_eq!(by_shape, lagrange_chunk(&views));
        assert_eq!(lagrange_at_zero_batch(&views).unwrap(), by_shape);
        for (xs, cached) in windows.iter().zip(&by_shape) {
            assert_eq!(cached.coefficients(), fresh_lagrange(xs));
        }
        let odd: Vec<Vec<u32>> = (1..10u32).map(|i| vec![1, 1 + i, 3 + i * i]).collect();
        let odd_views: Vec<&[u32]> = odd.iter().map(Vec::as_slice).collect();
        assert!(lagrange_by_shape(&odd_views).is_none());
    }

    /// `l - 1` plus `d` (mod 2^256), little-endian bytes.
    fn order_minus_one_plus(d: u8) -> [u8; 32] {
        let mut b = (-Scalar::ONE).to_bytes();
        let mut carry = u16::from(d);
        for byte in &mut b {
            let v = u16::from(*byte) + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        b
    }

    /// The byte comparison accepts exactly what `from_canonical_bytes`
    /// does, at and around the group order and the high bits.
    #[test]
    fn is_canonical_matches_from_canonical_bytes() {
        let mut edges = vec![
            [0u8; 32],
            order_minus_one_plus(0),
            order_minus_one_plus(1),
            order_minus_one_plus(2),
            [0xff; 32],
        ];
        // 2^252, 2^255, 2^256 - 2^255 - 1, 1, and l - 1 with each byte
        // raised or lowered by one.
        for (at, bit) in [(31usize, 0x10u8), (31, 0x80), (0, 0x01)] {
            let mut b = [0u8; 32];
            b[at] = bit;
            edges.push(b);
        }
        let mut low = [0xffu8; 32];
        low[31] = 0x7f;
        edges.push(low);
        let top = order_minus_one_plus(0);
        for i in 0..32 {
            for delta in [1u8, 0xff] {
                let mut b = top;
                b[i] = b[i].wrapping_add(delta);
                edges.push(b);
            }
        }
        let mut r = rng(40);
        for _ in 0..256 {
            let mut b = [0u8; 32];
            r.fill_bytes(&mut b);
            b[31] &= 0x1f;
            edges.push(b);
        }
        let mut accepted = 0;
        for b in &edges {
            let expected = bool::from(Scalar::from_canonical_bytes(*b).is_some());
            assert_eq!(bool::from(is_canonical(b)), expected, "{b:02x?}");
            assert_eq!(ShareBytes::new(1, b).is_some(), expected);
            accepted += usize::from(expected);
        }
        // Both sides of the boundary were exercised.
        assert!(bool::from(is_canonical(&order_minus_one_plus(0))));
        assert!(!bool::from(is_canonical(&order_minus_one_plus(1))));
        assert!(!bool::from(is_canonical(&order_minus_one_plus(2))));
        assert!(bool::from(is_canonical(&[0u8; 32])));
        assert!(!bool::from(is_canonical(&[0xff; 32])));
        assert!(accepted > 100 && accepted < edges.len());
    }

    /// The lazily reduced sum of products equals the field's own, for
    /// runs shorter and longer than one accumulator (64 terms) and at the
    /// largest values, and reads `Share` and `ShareBytes` alike.
    #[test]
    fn combine_at_zero_matches_field_arithmetic() {
        let mut r = rng(41);
        let top = -Scalar::ONE;
        for len in [0usize, 1, 2, 17, 63, 64, 65, 128, 200] {
            for extreme in [false, true] {
                let coeffs: Vec<Scalar> = (0..len)
                    .map(|_| if extreme { top } else { random_scalar(&mut r) })
                    .collect();
                let shares: Vec<Share> = (0..len)
                    .map(|i| Share {
                        x: u32::try_from(i).unwrap() + 1,
                        y: if extreme { top } else { random_scalar(&mut r) },
                    })
                    .collect();
                let expected: Scalar = coeffs.iter().zip(&shares).map(|(c, s)| c * s.y).sum();
                assert_eq!(combine_at_zero(&coeffs, &shares), expected, "{len}");
                let bytes: Vec<ShareBytes> = shares
                    .iter()
                    .map(|s| ShareBytes::new(s.x, s.y.as_bytes()).unwrap())
                    .collect();
                assert_eq!(combine_at_zero(&coeffs, &bytes), expected, "{len}");
                for (b, s) in bytes.iter().zip(&shares) {
                    assert_eq!(b.to_share().unwrap(), *s);
                }
            }
        }
    }

    #[test]
    fn a_share_in_an_answer_list_takes_44_bytes() {
        // (owner, kind, share): how the server keeps every share it takes,
        // 36 million of them at n = 10^6.
        use crate::protocol::messages::ShareKind;
        assert_eq!(core::mem::size_of::<(u32, ShareKind, ShareBytes)>(), 44);
    }

    #[test]
    fn share_bytes_debug_hides_the_value() {
        let b = ShareBytes::new(3, Scalar::from(0xabcdu64).as_bytes()).unwrap();
        let text = format!("{b:?}");
        assert!(text.contains("redacted") && text.contains('3'));
        assert!(!text.contains("205") && !text.contains("171"));
    }

    /// The shape path is taken when at least two sets share each shape on
    /// average (shapes `2 s <= sets`), and not below: four sets of two
    /// shapes take it, three sets of two shapes do not. Either way the
    /// batch gives the coefficients of the definition.
    #[test]
    fn lagrange_by_shape_threshold_is_two_sets_per_shape() {
        let four: [&[u32]; 4] = [&[1, 2], &[3, 4], &[1, 5], &[2, 6]];
        let by_shape = lagrange_by_shape(&four).expect("two sets per shape");
        assert_eq!(by_shape, lagrange_chunk(&four));
        let three: [&[u32]; 3] = [&[1, 2], &[3, 4], &[1, 5]];
        assert!(lagrange_by_shape(&three).is_none());
        for sets in [&four[..], &three[..]] {
            let batch = lagrange_at_zero_batch(sets).unwrap();
            for (xs, cached) in sets.iter().zip(&batch) {
                assert_eq!(cached.coefficients(), fresh_lagrange(xs));
            }
        }
    }

    /// More than 256 products of the largest values, `(l - 1)^2` each
    /// (about `2^504`), overflow one 512-bit accumulator: the reduction
    /// every `LAZY_TERMS` terms keeps the sum exact at 300 of them.
    #[test]
    fn combine_at_zero_reduces_before_the_accumulator_overflows() {
        let top = -Scalar::ONE;
        let len = 300usize;
        let coeffs = vec![top; len];
        let shares: Vec<Share> = (1..=u32::try_from(len).unwrap())
            .map(|x| Share { x, y: top })
            .collect();
        // sum of 300 (l - 1)^2 = 300 (mod l).
        assert_eq!(combine_at_zero(&coeffs, &shares), Scalar::from(300u32));
        let expected: Scalar = coeffs.iter().zip(&shares).map(|(c, s)| c * s.y).sum();
        assert_eq!(combine_at_zero(&coeffs, &shares), expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_split_interpolate(
            (n, t, seed) in (1usize..=24)
                .prop_flat_map(|n| (Just(n), 1..=n, any::<u64>()))
        ) {
            let (shares, secret) = sharing(n, t, seed);
            let mut r = rng(seed ^ 1);
            let at = positions(&mut r, n, t);
            let subset: Vec<Share> = at.iter().map(|&i| shares[i].clone()).collect();
            prop_assert_eq!(interpolate_at_zero(&subset).unwrap(), secret);
        }

        /// Any holder sets of distinct nonzero x-coordinates, in any order
        /// and of any magnitude: the batch gives the coefficients of the
        /// definition, set by set.
        #[test]
        fn prop_lagrange_batch_matches_the_definition(
            sets in prop::collection::vec(
                prop::collection::hash_set(1u32..=u32::MAX, 1..=18)
                    .prop_map(|xs| xs.into_iter().collect::<Vec<u32>>()),
                1..=70,
            )
        ) {
            let views: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
            let batch = lagrange_at_zero_batch(&views).unwrap();
            prop_assert_eq!(batch.len(), sets.len());
            for (xs, cached) in sets.iter().zip(&batch) {
                prop_assert_eq!(cached.coefficients(), fresh_lagrange(xs));
            }
        }
    }
}
