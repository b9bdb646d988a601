//! Verifiable shares: Feldman commitments to a Shamir sharing polynomial
//! over Ristretto255 (spec/crypto.md section 8).
//!
//! The dealer of `f(X) = a_0 + a_1 X + ... + a_{t-1} X^{t-1}` (with
//! `a_0` the secret) publishes `C_j = a_j G` for `j` in `0..t`, `G` the
//! Ristretto255 base point. A holder with index `x` checks its share `y`
//! with
//!
//! ```text
//! y G == sum_j x^j C_j
//! ```
//!
//! which holds exactly when `y = f(x)`: the group has prime order `l`, the
//! scalar field's order, so `P -> a P` is injective for every nonzero `a`
//! (P. Feldman, "A practical scheme for non-interactive verifiable secret
//! sharing", FOCS 1987, section 3).
//!
//! [`verify_batch`] checks many shares at once with random 128-bit weights
//! and one multiscalar multiplication (for a holder's shares, all at its
//! own index, after evaluating each dealer's commitments at that index):
//! a batch containing any wrong share passes with probability at most
//! `2^-128`; [`find_bad`] then names the wrong ones by bisection.
//! [`verify_secret`] and
//! [`verify_secrets_batch`] check reconstructed secrets against their
//! constant-term commitments `C_0` alone, the same check at `x = 0` (the
//! server's, spec/crypto.md section 8.3).
//!
//! # Security
//!
//! The commitments reveal `C_0 = secret G` and nothing else that is
//! computable: recovering the secret from it is a discrete logarithm, and
//! `t - 1` shares together with the commitments determine nothing beyond
//! `secret G` (spec/crypto.md section 8.4). Splitting is constant time in
//! the secret and the coefficients (fixed-base multiplication by the
//! precomputed base-point table); the checks multiply public points by
//! public scalars in variable time, and multiply the base point by the share
//! (or a random combination of shares) in constant time.
//!
//! # Complexity
//!
//! [`split_committed`]: [`shamir::split_with`]'s `O(N t)` plus `t` fixed-base
//! multiplications and compressions. [`verify_share`]: one multiscalar
//! multiplication of size `t`. [`verify_batch`] over `M` items: one of size
//! at most `M t` (fewer when consecutive items share their commitments);
//! when every item has the same index `x` instead `t - 1` multiplications by
//! `x` per item (Horner's rule; double-and-add, about `bits(x) + ones(x)`
//! group additions each, for small `x`) and one multiscalar multiplication
//! of size at most `M` with 128-bit scalars (unless `x >= 2^16` and
//! `M t >= 1,000`, where the first form costs less).
//! [`find_bad`] with `b` wrong items among `M`: about `2 b log2(M / b)`
//! batch checks of shrinking size. [`verify_secrets_batch`] over `M`
//! secrets: one of size `M` (one constant-term commitment each, decoded
//! alone by [`decode_constant_term`]); [`find_bad_secrets`] as
//! [`find_bad`].

use core::fmt;

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::shamir::{self, ShamirError, Share};
use crate::error::DecodeError;

/// Bytes of one compressed Ristretto255 point.
pub(crate) const POINT_LEN: usize = 32;

/// Feldman commitments `C_0, ..., C_{t-1}` to a sharing polynomial of
/// threshold `t`: `C_j = a_j G`, the coefficient of `X^j` times the
/// Ristretto255 base point.
///
/// Holds both the canonical 32-byte encodings and the decompressed points;
/// a value always has at least one commitment (`t >= 1`). Public data: no
/// zeroization.
#[derive(Clone)]
pub(crate) struct Commitments {
    compressed: Vec<CompressedRistretto>,
    points: Vec<RistrettoPoint>,
}

impl fmt::Debug for Commitments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.compressed.iter().map(|c| Hex(c.as_bytes())))
            .finish()
    }
}

/// Lower-case hexadecimal in `Debug`.
struct Hex<'a>(&'a [u8; POINT_LEN]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl PartialEq for Commitments {
    /// Compares the canonical encodings (which determine the points).
    fn eq(&self, other: &Self) -> bool {
        self.compressed == other.compressed
    }
}

impl Eq for Commitments {}

impl Commitments {
    /// Commits to the coefficients `coeffs` (of `X^0` first): `a_j G` by the
    /// precomputed base-point table, constant time in the coefficients.
    fn commit(coeffs: &[Scalar]) -> Self {
        let points: Vec<RistrettoPoint> = coeffs
            .iter()
            .map(|a| RISTRETTO_BASEPOINT_TABLE * a)
            .collect();
        let compressed = points.iter().map(RistrettoPoint::compress).collect();
        Self { compressed, points }
    }

    /// `t`, the number of commitments (the threshold of the sharing).
    pub(crate) fn threshold(&self) -> usize {
        self.points.len()
    }

    /// The decompressed points `C_0, ..., C_{t-1}`.
    #[cfg(test)]
    pub(crate) fn points(&self) -> &[RistrettoPoint] {
        &self.points
    }

    /// Bytes of [`Commitments::encode`]: `32 t`.
    pub(crate) fn encoded_len(&self) -> usize {
        self.compressed.len() * POINT_LEN
    }

    /// Appends the encoding (spec/crypto.md section 8.2): the `t`
    /// compressed points `C_0 || ... || C_{t-1}`, 32 bytes each, no length
    /// prefix (the threshold comes from the parameters).
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        for c in &self.compressed {
            out.extend_from_slice(c.as_bytes());
        }
    }

    /// The encoding of [`Commitments::encode_into`] as a new vector.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes exactly `threshold` commitments from `bytes`, which must hold
    /// nothing else. Total: never panics, and allocates only after the
    /// length has been checked against `bytes`.
    ///
    /// # Errors
    ///
    /// - [`DecodeError::LengthOutOfBounds`]: `threshold` is 0, or `32 *
    ///   threshold` overflows `usize`.
    /// - [`DecodeError::Truncated`]: `bytes` is shorter than `32 * threshold`.
    /// - [`DecodeError::TrailingBytes`]: `bytes` is longer.
    /// - [`DecodeError::NonCanonical`]: a 32-byte string that is not the
    ///   canonical encoding of a Ristretto255 point (the identity, all zero
    ///   bytes, is a valid point: a coefficient may be zero).
    pub(crate) fn decode(bytes: &[u8], threshold: usize) -> Result<Self, DecodeError> {
        if threshold == 0 {
            return Err(DecodeError::LengthOutOfBounds);
        }
        let len = threshold
            .checked_mul(POINT_LEN)
            .ok_or(DecodeError::LengthOutOfBounds)?;
        match bytes.len().cmp(&len) {
            core::cmp::Ordering::Less => return Err(DecodeError::Truncated),
            core::cmp::Ordering::Greater => return Err(DecodeError::TrailingBytes),
            core::cmp::Ordering::Equal => {}
        }
        let mut compressed = Vec::with_capacity(threshold);
        let mut points = Vec::with_capacity(threshold);
        for chunk in bytes.chunks_exact(POINT_LEN) {
            let c =
                CompressedRistretto::from_slice(chunk).map_err(|_| DecodeError::NonCanonical)?;
            // Ristretto decompression accepts only the canonical encoding of
            // each point, so decode then encode gives back the same bytes.
            points.push(c.decompress().ok_or(DecodeError::NonCanonical)?);
            compressed.push(c);
        }
        Ok(Self { compressed, points })
    }
}

/// From this many points up, [`check_points_beside`] shares them with another
/// thread (with the `parallel` feature); below it the hand-off costs more
/// than it saves (one decompression is a field exponentiation, some
/// microseconds).
#[cfg(feature = "parallel")]
const PARALLEL_MIN_POINTS: usize = 16;

/// Points per piece of a shared check (`all_points_shared`): the most the
/// caller waits for once it has checked every piece left (a piece a
/// worker took last), about 15 us.
#[cfg(feature = "parallel")]
const SHARED_PIECE_POINTS: usize = 4;

/// Whether a 32-byte string is the canonical encoding of a Ristretto255
/// point (RFC 9496 section 4.3.1: decoding refuses every other string).
fn is_point(chunk: &[u8]) -> bool {
    CompressedRistretto::from_slice(chunk)
        .ok()
        .and_then(|c| c.decompress())
        .is_some()
}

fn all_points(bytes: &[u8]) -> bool {
    bytes.chunks_exact(POINT_LEN).all(is_point)
}

/// Checks that `bytes` is a sequence of canonical Ristretto255 point
/// encodings, 32 bytes each, as [`Commitments::decode`] would, without
/// keeping the points. From `PARALLEL_MIN_POINTS` (16) points up, they are
/// shared with the rayon pool (feature `parallel`, `all_points_shared`);
/// the answer does not depend on who checks which.
///
/// # Errors
///
/// - [`DecodeError::NonCanonical`]: a 32-byte string that is not a point.
/// - [`DecodeError::Truncated`]: `bytes` is not a whole number of points
///   (only if the caller cut it wrongly).
#[cfg(test)]
pub(crate) fn check_points(bytes: &[u8]) -> Result<(), DecodeError> {
    check_points_beside(bytes, || ()).0
}

/// The check `check_points` (its form for the tests) documents, running
/// `first` on the calling thread once the points are offered to the pool,
/// before it takes its own share of them: the pool's worker wakes up while
/// `first` runs.
fn check_points_beside<R>(bytes: &[u8], first: impl FnOnce() -> R) -> (Result<(), DecodeError>, R) {
    if !bytes.len().is_multiple_of(POINT_LEN) {
        return (Err(DecodeError::Truncated), first());
    }
    #[cfg(feature = "parallel")]
    let (all, r) = if bytes.len() >= PARALLEL_MIN_POINTS * POINT_LEN {
        all_points_shared(bytes, first)
    } else {
        let r = first();
        (all_points(bytes), r)
    };
    #[cfg(not(feature = "parallel"))]
    let (all, r) = {
        let r = first();
        (all_points(bytes), r)
    };
    let checked = if all {
        Ok(())
    } else {
        Err(DecodeError::NonCanonical)
    };
    (checked, r)
}

/// [`check_points_beside`] for `bytes` made of whole lists of `t` points each
/// (the commitment lists of one message), keeping the first point of each
/// list, its constant-term commitment `C_0`, decompressed: one per list, in
/// order. The other points are checked by [`check_points_beside`] (the constant
/// terms are decompressed while the pool takes its share of them), so the
/// work is the same decompressions, none twice.
///
/// # Errors
///
/// As [`check_points_beside`]; [`DecodeError::Truncated`] also when `t` is 0 or
/// `bytes` is not a whole number of lists.
pub(crate) fn check_lists(bytes: &[u8], t: usize) -> Result<Vec<RistrettoPoint>, DecodeError> {
    let list_len = t
        .checked_mul(POINT_LEN)
        .filter(|&len| len > 0 && bytes.len().is_multiple_of(len))
        .ok_or(DecodeError::Truncated)?;
    let lists = bytes.len() / list_len;
    let mut rest = Vec::with_capacity(bytes.len() - lists * POINT_LEN);
    for list in bytes.chunks_exact(list_len) {
        rest.extend_from_slice(&list[POINT_LEN..]);
    }
    let (checked, constant_terms) = check_points_beside(&rest, || {
        bytes
            .chunks_exact(list_len)
            .map(|list| decode_constant_term(list).ok_or(DecodeError::NonCanonical))
            .collect::<Result<Vec<_>, _>>()
    });
    checked?;
    constant_terms
}

/// [`all_points`] shared with the rayon pool, piece by piece
/// (`SHARED_PIECE_POINTS` points each): one job is offered to the pool,
/// then the calling thread runs `first` and checks pieces too; each side
/// claims the next unclaimed piece until none is left or one is bad. So the
/// caller never waits for a worker to wake up (on a loaded machine that can
/// take longer than the whole check), and once every piece is claimed it
/// waits at most for the piece a worker is checking: at worst this is the
/// sequential check plus one spawn and one piece, and a worker that wakes
/// up late still takes its share of what is left. `rayon::join` would not
/// do: called from outside the pool it hands both halves to the pool and
/// blocks.
#[cfg(feature = "parallel")]
fn all_points_shared<R>(bytes: &[u8], first: impl FnOnce() -> R) -> (bool, R) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const PIECE: usize = SHARED_PIECE_POINTS * POINT_LEN;
    struct Shared {
        points: Vec<u8>,
        /// The next piece to claim (may run past the last).
        next: AtomicUsize,
        /// Pieces checked, by either side.
        done: AtomicUsize,
        /// Whether a piece held a string that is not a point.
        bad: AtomicBool,
    }
    impl Shared {
        fn pieces(&self) -> usize {
            self.points.len().div_ceil(PIECE)
        }
        /// Claims and checks pieces until none is left or one is bad.
        fn work(&self) {
            let pieces = self.pieces();
            while !self.bad.load(Ordering::Acquire) {
                let i = self.next.fetch_add(1, Ordering::AcqRel);
                let end = i.saturating_add(1).saturating_mul(PIECE);
                let Some(piece) = (i < pieces)
                    .then(|| self.points.get(i * PIECE..end.min(self.points.len())))
                    .flatten()
                else {
                    return;
                };
                if !all_points(piece) {
                    self.bad.store(true, Ordering::Release);
                }
                self.done.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    // A copy (at most a few kilobytes of public points), so the job needs
    // no borrow and the caller may return before it runs.
    let shared = Arc::new(Shared {
        points: bytes.to_vec(),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        bad: AtomicBool::new(false),
    });
    let job = Arc::clone(&shared);
    rayon::spawn(move || job.work());
    let r = first();
    shared.work();
    // Every piece is claimed, or one was bad: wait for the pieces a worker
    // is still checking. `bad` is set before `done` counts its piece, so it
    // is read again once every piece is counted.
    let pieces = shared.pieces();
    loop {
        if shared.bad.load(Ordering::Acquire) {
            return (false, r);
        }
        if shared.done.load(Ordering::Acquire) == pieces {
            return (!shared.bad.load(Ordering::Acquire), r);
        }
        std::thread::yield_now();
    }
}

/// [`shamir::split_with`] with Feldman commitments to the polynomial: the same
/// shares from the same random bytes, drawn in the same order, and
/// `C_j = a_j G` for `j` in `0..threshold` (`C_0 = secret G`).
///
/// Implements spec/crypto.md section 8.2 (dealing).
///
/// # Errors
///
/// As [`shamir::split_with`]: [`ShamirError::InvalidArguments`] unless `xs` is
/// non-empty, its entries are distinct and nonzero, and
/// `1 <= threshold <= xs.len()`.
pub(crate) fn split_committed<R: CryptoRng + ?Sized>(
    secret: &Scalar,
    threshold: usize,
    xs: &[u32],
    rng: &mut R,
) -> Result<(Vec<Share>, Commitments), ShamirError> {
    shamir::split_with(secret, threshold, xs, rng, Commitments::commit)
}

/// Whether `y` is the value at `x` of the polynomial committed to by `c`:
/// `y G == sum_j x^j C_j`. False for `x = 0` (no holder has index 0).
///
/// Implements spec/crypto.md section 8.3 (the share check).
///
/// # Security
///
/// `y` is the caller's share: `y G` is computed in constant time by the
/// base-point table. The right-hand side involves only public values (the
/// published commitments and the index `x`), so it uses a variable-time
/// multiscalar multiplication. The result of the comparison is public
/// anyway: a holder complains about a bad share.
pub(crate) fn verify_share(c: &Commitments, x: u32, y: &Scalar) -> bool {
    if x == 0 {
        return false;
    }
    let expected = RistrettoPoint::vartime_multiscalar_mul(powers(x, c.threshold()), &c.points);
    let actual = RISTRETTO_BASEPOINT_TABLE * y;
    actual == expected
}

/// Whether every item `(c_i, x_i, y_i)` passes [`verify_share`], checked at
/// once: with random 128-bit weights `r_i`,
///
/// ```text
/// (sum_i r_i y_i) G == sum_i r_i sum_j x_i^j C_ij
/// ```
///
/// (the left side, a combination of shares, in constant time). The right
/// side involves only public values and is computed in variable time, in
/// one of two orders:
///
/// - when every item has the same index `x` (a holder checking the shares
///   it was dealt), factored as `sum_i r_i F_i` with `F_i = sum_j x^j C_ij`:
///   each `F_i` by Horner's rule (`t - 1` multiplications by the small
///   public `x`, [`times`]), then one multiscalar multiplication of size `M`
///   with the 128-bit weights; except for `x >= 2^16` in a batch of 1,000
///   commitment points or more, where that costs more
///   ([`factored_is_cheaper`]);
/// - otherwise as one multiscalar multiplication of size at most `M t`
///   whose scalars are `r_i x_i^j`.
///
/// Either way consecutive items with the same commitments (the same
/// reference) share their points, so `M` shares of one secret cost a
/// multiscalar multiplication of size `t`, not `M t`. Both orders compute
/// the same point from the same weights, so the verdict does not depend on
/// which one runs.
///
/// If every item is right this returns true; if any is wrong it returns
/// false except with probability at most `2^-128` over the weights
/// (spec/crypto.md section 8.3). An item with `x = 0` is wrong. An empty
/// batch is true. Draws 16 bytes from `rng` per item, in order.
pub(crate) fn verify_batch<R: CryptoRng + ?Sized>(
    items: &[(&Commitments, u32, Scalar)],
    rng: &mut R,
) -> bool {
    verify_batch_in(items, rng, Order::Fastest)
}

/// How [`verify_batch_in`] evaluates the right side.
#[derive(Clone, Copy)]
enum Order {
    /// Factored at one common index, as a holder's items are; else general.
    Fastest,
    /// Always one multiscalar multiplication over every commitment point.
    #[cfg(test)]
    General,
}

/// [`verify_batch`], its right side evaluated as `order` says.
fn verify_batch_in<R: CryptoRng + ?Sized>(
    items: &[(&Commitments, u32, Scalar)],
    rng: &mut R,
    order: Order,
) -> bool {
    if items.iter().any(|&(_, x, _)| x == 0) {
        return false;
    }
    // sum_i r_i y_i: a combination of shares, wiped after use.
    let mut combined = Zeroizing::new(Scalar::ZERO);
    let weights: Vec<Scalar> = items
        .iter()
        .map(|(_, _, y)| {
            let r = weight(rng);
            *combined += r * y;
            r
        })
        .collect();
    let expected = match (order, common_index(items)) {
        (Order::Fastest, Some(x)) if factored_is_cheaper(items, x) => {
            right_side_at(items, x, &weights)
        }
        _ => right_side(items, &weights),
    };
    let actual = RISTRETTO_BASEPOINT_TABLE * &*combined;
    actual == expected
}

/// The index every item has, if they all have the same one (`None` for an
/// empty batch).
fn common_index(items: &[(&Commitments, u32, Scalar)]) -> Option<u32> {
    let (&(_, x, _), rest) = items.split_first()?;
    rest.iter().all(|&(_, other, _)| other == x).then_some(x)
}

/// From this index up [`times`] costs about 40,000 instructions (its NAF
/// path at 17 bits and more), about what a point costs in dalek's
/// Pippenger multiplication from `LARGE_BATCH_POINTS` points up (8-bit
/// windows).
const LARGE_INDEX: u32 = 1 << 16;

/// See `LARGE_INDEX`.
const LARGE_BATCH_POINTS: usize = 1000;

/// Whether [`right_side_at`] counts fewer instructions than [`right_side`]
/// for `items`, all at index `x`: everywhere but at a large index
/// (`LARGE_INDEX`) in a large batch (`M t` of at least
/// `LARGE_BATCH_POINTS` commitment points), where each Horner step costs as
/// much as the point it replaces and the factored order's own
/// multiscalar multiplication pays for its `M` points on top. Measured
/// (benches/feldman_count.rs, one batch; general then factored): `(M, t)
/// = (40, 22)`, `x = 517,013`: 39.2 M, 37.7 M; `(50, 22)`: 46.6 M, 47.0 M;
/// `(60, 17)`: 43.0 M, 43.6 M; `(200, 6)`: 41.8 M, 51.2 M; `(76, 22)`:
/// 64.7 M, 64.5 M at `x = 65,537`, 63.7 M, 60.6 M at `x = 8,193`, 67.0 M,
/// 85.3 M at `x = 2^32 - 5`; `(60, 17)`, `x = 999`: 40.2 M, 35.7 M. Below
/// `LARGE_INDEX` the factored order is never the dearer in large batches
/// either: `(61, 67)`: 151.2 M, 150.4 M at `x = 9,999`; `(72, 78)`:
/// 203.7 M, 193.1 M at `x = 999`, 197.4 M, 125.0 M at `x = 100`. A
/// holder's groups at γ = δ = 5 % stay below `LARGE_BATCH_POINTS` up to
/// n = 10^6 (`(19, 22)`: 418 points); larger γ, δ at large n reach it.
fn factored_is_cheaper(items: &[(&Commitments, u32, Scalar)], x: u32) -> bool {
    x < LARGE_INDEX
        || items.iter().map(|(c, _, _)| c.threshold()).sum::<usize>() < LARGE_BATCH_POINTS
}

/// `sum_i r_i sum_j x_i^j C_ij` (`r_i` = `weights[i]`) as one multiscalar
/// multiplication with scalars `r_i x_i^j`, a run of items with the same
/// commitments summing its scalars on their `t` points.
fn right_side(items: &[(&Commitments, u32, Scalar)], weights: &[Scalar]) -> RistrettoPoint {
    let mut scalars: Vec<Scalar> = Vec::new();
    let mut points: Vec<&RistrettoPoint> = Vec::new();
    let mut run: Option<&Commitments> = None;
    let mut run_start = 0;
    for (&(c, x, _), &r) in items.iter().zip(weights) {
        // A new run of items with the same commitments: new coefficients.
        if !run.is_some_and(|prev| core::ptr::eq(prev, c)) {
            run = Some(c);
            run_start = scalars.len();
            scalars.extend(core::iter::repeat_n(Scalar::ZERO, c.threshold()));
            points.extend(&c.points);
        }
        let mut power = r;
        let x = Scalar::from(x);
        for s in &mut scalars[run_start..] {
            *s += power;
            power *= x;
        }
    }
    RistrettoPoint::vartime_multiscalar_mul(&scalars, points)
}

/// [`right_side`] when every item has index `x`: `sum_i r_i F_i` with
/// `F_i = sum_j x^j C_ij` ([`evaluate`]), one multiscalar multiplication of
/// one point per run of items with the same commitments (its weights
/// summed). The same point as [`right_side`]: only the order of the sum
/// differs.
///
/// Cheaper because each commitment point costs one Horner step (a dozen
/// group additions or fewer for an index below 2^7) instead of its part in
/// a multiscalar multiplication with a scalar `r_i x^j` of up to 253 bits,
/// and the one multiscalar multiplication left has `M` points with 128-bit
/// scalars instead of `M t` (and stays below dalek's Pippenger cut-off,
/// whose digits always span 256 bits). Instructions per holder check (`bad_deliveries`'
/// groups run one after another; benches/feldman_count.rs), general then
/// factored: `(k, t) = (16, 6)`, `x = 57`: 9.8 M, 6.3 M; `(30, 17)`,
/// `x = 517`: 52.0 M, 32.1 M; `(38, 22)`, `x = 517,013`: 85.6 M, 72.5 M;
/// `(38, 22)`, `x = 2^32 - 5`: 87.7 M, 86.5 M. The other factoring,
/// `sum_j x^j D_j` with `D_j = sum_i r_i C_ij` (`t` multiscalar
/// multiplications of `M` points, then Horner's rule once), counted more
/// than the general order at every size (13.7 M, 56.5 M, 91.6 M): each of
/// dalek's Straus multiplications pays 256 doublings however short its
/// scalars.
fn right_side_at(
    items: &[(&Commitments, u32, Scalar)],
    x: u32,
    weights: &[Scalar],
) -> RistrettoPoint {
    let mut scalars: Vec<Scalar> = Vec::with_capacity(items.len());
    let mut points: Vec<RistrettoPoint> = Vec::with_capacity(items.len());
    let mut run: Option<&Commitments> = None;
    for (&(c, _, _), &r) in items.iter().zip(weights) {
        match scalars.last_mut() {
            Some(sum) if run.is_some_and(|prev| core::ptr::eq(prev, c)) => *sum += r,
            _ => {
                run = Some(c);
                scalars.push(r);
                points.push(evaluate(c, x));
            }
        }
    }
    RistrettoPoint::vartime_multiscalar_mul(&scalars, &points)
}

/// `sum_j x^j C_j` by Horner's rule: `t - 1` steps of [`times`] and one
/// addition. Variable time; public inputs only.
fn evaluate(c: &Commitments, x: u32) -> RistrettoPoint {
    let mut high_first = c.points.iter().rev();
    let mut acc = high_first
        .next()
        .copied()
        .unwrap_or_else(RistrettoPoint::identity);
    for p in high_first {
        acc = times(&acc, x) + p;
    }
    acc
}

/// The most group additions [`times`] spends on double-and-add; above it
/// dalek's NAF multiplication is cheaper. Measured per Horner step (in
/// instructions): double-and-add costs about 2,500 per addition, the NAF
/// multiplication about 27,000 plus 550 per bit of `x` (its fixed part
/// builds a table of odd multiples and two 256-digit NAFs). So the cut is
/// near 12 additions: every `x` below 2^7, and larger `x` up to 2^12 with
/// few one bits.
const DOUBLE_AND_ADD_MAX: u32 = 12;

/// `x P` for a public `x`, in variable time: left-to-right double-and-add
/// (`bits(x) - 1` doublings and `ones(x) - 1` additions, each a full group
/// addition: the Ristretto API has no cheaper doubling) when that takes at
/// most `DOUBLE_AND_ADD_MAX` additions, else dalek's variable-time NAF
/// multiplication (`vartime_double_scalar_mul_basepoint` with a zero
/// base-point scalar), which skips the leading zero bits of `x`.
fn times(p: &RistrettoPoint, x: u32) -> RistrettoPoint {
    let bits = u32::BITS - x.leading_zeros();
    if x == 0 || bits + x.count_ones() - 2 > DOUBLE_AND_ADD_MAX {
        return RistrettoPoint::vartime_double_scalar_mul_basepoint(
            &Scalar::from(x),
            p,
            &Scalar::ZERO,
        );
    }
    let mut acc = *p;
    for bit in (0..bits - 1).rev() {
        acc = acc + acc;
        if (x >> bit) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// The positions in `items` of the items that fail [`verify_share`],
/// ascending. Bisection with [`verify_batch`]: a half that passes is
/// cleared, a half that fails is split again, single items are checked
/// alone. With `b` wrong items among `M` that is about `2 b log2(M / b)`
/// batch checks of shrinking size; with none, two halves (so call it after
/// [`verify_batch`] has failed). A wrong item escapes only if a batch
/// containing it passes, probability at most `2^-128` each.
pub(crate) fn find_bad<R: CryptoRng + ?Sized>(
    items: &[(&Commitments, u32, Scalar)],
    rng: &mut R,
) -> Vec<usize> {
    find_bad_by(items, rng, &verify_batch, &|(c, x, y)| {
        verify_share(c, *x, y)
    })
}

/// Whether `secret G == c0`: `secret` is the value committed to by a
/// sharing whose constant-term commitment is `c0` (the share check of
/// [`verify_share`] at `x = 0` against `C_0` alone). Constant time in
/// `secret`.
///
/// Implements spec/crypto.md section 8.3 (the secret check).
pub(crate) fn verify_secret(c0: &RistrettoPoint, secret: &Scalar) -> bool {
    RISTRETTO_BASEPOINT_TABLE * secret == *c0
}

/// Whether every item `(C_0,i, s_i)` passes [`verify_secret`], checked at
/// once: with random 128-bit weights `r_i`,
///
/// ```text
/// (sum_i r_i s_i) G == sum_i r_i C_0,i
/// ```
///
/// one variable-time multiscalar multiplication of one point per item (the
/// left side, a combination of secrets, in constant time and wiped). This
/// is [`verify_batch`] with one-point commitments at `x = 0`, so the same
/// bound holds: if any item is wrong it returns true with probability at
/// most `2^-128` over the weights (spec/crypto.md section 8.3). An empty
/// batch is true. Draws 16 bytes from `rng` per item.
pub(crate) fn verify_secrets_batch<R: CryptoRng + ?Sized>(
    items: &[(&RistrettoPoint, &Scalar)],
    rng: &mut R,
) -> bool {
    let mut combined = Zeroizing::new(Scalar::ZERO);
    let mut weights = Vec::with_capacity(items.len());
    for &(_, s) in items {
        let r = weight(rng);
        *combined += r * s;
        weights.push(r);
    }
    let expected =
        RistrettoPoint::vartime_multiscalar_mul(&weights, items.iter().map(|&(c0, _)| c0));
    let actual = RISTRETTO_BASEPOINT_TABLE * &*combined;
    actual == expected
}

/// [`find_bad`] for [`verify_secrets_batch`]: the positions of the items
/// that fail [`verify_secret`], ascending, by bisection (call it after the
/// batch has failed).
pub(crate) fn find_bad_secrets<R: CryptoRng + ?Sized>(
    items: &[(&RistrettoPoint, &Scalar)],
    rng: &mut R,
) -> Vec<usize> {
    find_bad_by(items, rng, &verify_secrets_batch, &|(c0, s)| {
        verify_secret(c0, s)
    })
}

/// The bisection behind [`find_bad`] and [`find_bad_secrets`]: `batch`
/// checks a run of items, `single` one item.
fn find_bad_by<T, R: ?Sized>(
    items: &[T],
    rng: &mut R,
    batch: &dyn Fn(&[T], &mut R) -> bool,
    single: &dyn Fn(&T) -> bool,
) -> Vec<usize> {
    let mut bad = Vec::new();
    let mid = items.len() / 2;
    if items.len() <= 1 {
        bisect(items, 0, rng, &mut bad, batch, single);
    } else {
        // The caller's batch already failed: start from the halves.
        let (left, right) = items.split_at(mid);
        bisect(left, 0, rng, &mut bad, batch, single);
        bisect(right, mid, rng, &mut bad, batch, single);
    }
    bad
}

/// Appends to `bad` the positions (plus `offset`) of the wrong items.
fn bisect<T, R: ?Sized>(
    items: &[T],
    offset: usize,
    rng: &mut R,
    bad: &mut Vec<usize>,
    batch: &dyn Fn(&[T], &mut R) -> bool,
    single: &dyn Fn(&T) -> bool,
) {
    match items {
        [] => {}
        [item] => {
            if !single(item) {
                bad.push(offset);
            }
        }
        _ => {
            if batch(items, rng) {
                return;
            }
            let mid = items.len() / 2;
            let (left, right) = items.split_at(mid);
            bisect(left, offset, rng, bad, batch, single);
            bisect(right, offset + mid, rng, bad, batch, single);
        }
    }
}

/// `C_0 = secret G`, the commitment to the shared secret.
pub(crate) fn constant_term(c: &Commitments) -> RistrettoPoint {
    // A `Commitments` always holds at least one point; the fallback is
    // unreachable but keeps this total.
    c.points
        .first()
        .copied()
        .unwrap_or_else(RistrettoPoint::identity)
}

/// Decodes the constant-term commitment `C_0` alone from the first 32 bytes
/// of an encoding (spec/crypto.md section 8.2), without decompressing the
/// other `t - 1` points. `None` when `bytes` is shorter than 32 bytes or
/// they are not the canonical encoding of a point. Total.
pub(crate) fn decode_constant_term(bytes: &[u8]) -> Option<RistrettoPoint> {
    let first = bytes.get(..POINT_LEN)?;
    CompressedRistretto::from_slice(first).ok()?.decompress()
}

/// `1, x, x^2, ..., x^{count-1}` as scalars.
fn powers(x: u32, count: usize) -> Vec<Scalar> {
    let x = Scalar::from(x);
    core::iter::successors(Some(Scalar::ONE), |p| Some(p * x))
        .take(count)
        .collect()
}

/// A uniform 128-bit weight: 16 bytes from `rng`, little-endian.
fn weight<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    Scalar::from(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    use chacha20::ChaCha20Rng;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
    use rand_core::{Rng, SeedableRng};

    use crate::crypto::shamir::{interpolate_at_zero, random_scalar, split};

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    fn indices(n: u32) -> Vec<u32> {
        (1..=n).collect()
    }

    /// A random secret shared among `1..=n` with threshold `t`.
    fn dealt(n: u32, t: usize, seed: u64) -> (Scalar, Vec<Share>, Commitments) {
        let mut r = rng(seed);
        let secret = random_scalar(&mut r);
        let (shares, c) = split_committed(&secret, t, &indices(n), &mut r).unwrap();
        (secret, shares, c)
    }

    #[test]
    fn honest_shares_verify() {
        for (n, t) in [(1, 1), (5, 1), (5, 3), (12, 11), (40, 40)] {
            let (secret, shares, c) = dealt(n, t, u64::from(n) * 100 + t as u64);
            assert_eq!(c.threshold(), t);
            assert_eq!(c.points().len(), t);
            assert_eq!(constant_term(&c), RISTRETTO_BASEPOINT_POINT * secret);
            for s in &shares {
                assert!(verify_share(&c, s.x, &s.y), "n={n} t={t} x={}", s.x);
            }
        }
    }

    #[test]
    fn honest_shares_verify_in_batch() {
        let mut r = rng(2);
        // Shares of several dealers, and several shares of one dealer in a
        // row (the shared-commitments path).
        let dealers: Vec<_> = (0..6).map(|i| dealt(9, 4, 20 + i)).collect();
        let mut items = Vec::new();
        for (_, shares, c) in &dealers {
            for s in shares {
                items.push((c, s.x, s.y));
            }
        }
        assert!(verify_batch(&items, &mut r));
        // One holder's view: one share from each dealer.
        let one: Vec<_> = dealers
            .iter()
            .map(|(_, shares, c)| (c, shares[3].x, shares[3].y))
            .collect();
        assert!(verify_batch(&one, &mut r));
        assert!(verify_batch(&[], &mut r));
        assert!(find_bad(&items, &mut r).is_empty());
    }

    #[test]
    fn share_plus_one_fails() {
        let mut r = rng(3);
        let (_, shares, c) = dealt(7, 4, 3);
        for s in &shares {
            let wrong = s.y + Scalar::ONE;
            assert!(!verify_share(&c, s.x, &wrong));
            assert!(!verify_batch(&[(&c, s.x, wrong)], &mut r));
        }
    }

    #[test]
    fn share_for_wrong_x_fails() {
        let (_, shares, c) = dealt(7, 4, 4);
        for s in &shares {
            assert!(!verify_share(&c, s.x % 7 + 1, &s.y));
            assert!(!verify_share(&c, s.x + 100, &s.y));
        }
        // Index 0 is no holder, even with the secret as its "share".
        let (secret, _, c) = dealt(5, 2, 5);
        assert!(!verify_share(&c, 0, &secret));
        let mut r = rng(5);
        assert!(!verify_batch(&[(&c, 0, secret)], &mut r));
        // Shares checked against another dealer's commitments.
        let (_, _, other) = dealt(7, 4, 6);
        assert!(shares.iter().all(|s| !verify_share(&other, s.x, &s.y)));
    }

    #[test]
    fn one_bad_among_50_is_found() {
        let mut r = rng(7);
        let dealers: Vec<_> = (0..50).map(|i| dealt(20, 11, 1000 + i)).collect();
        let good: Vec<_> = dealers
            .iter()
            .enumerate()
            .map(|(i, (_, shares, c))| (c, shares[i % 20].x, shares[i % 20].y))
            .collect();
        assert!(verify_batch(&good, &mut r));
        for bad_at in [0, 17, 31, 49] {
            let mut items = good.clone();
            items[bad_at].2 += Scalar::ONE;
            assert!(!verify_batch(&items, &mut r), "bad at {bad_at}");
            assert_eq!(find_bad(&items, &mut r), vec![bad_at]);
        }
        // Several bad ones, including neighbours and a wrong x.
        let mut items = good.clone();
        items[3].2 = random_scalar(&mut r);
        items[4].2 -= Scalar::ONE;
        items[40].1 += 1;
        assert!(!verify_batch(&items, &mut r));
        assert_eq!(find_bad(&items, &mut r), vec![3, 4, 40]);
        // Every item bad, and one item alone.
        let all: Vec<_> = good
            .iter()
            .map(|&(c, x, y)| (c, x, y + Scalar::ONE))
            .collect();
        assert_eq!(find_bad(&all, &mut r), (0..50).collect::<Vec<_>>());
        assert_eq!(find_bad(&all[..1], &mut r), vec![0]);
        assert!(find_bad(&good[..1], &mut r).is_empty());
    }

    #[test]
    fn one_bad_among_shares_of_one_dealer_is_found() {
        // Consecutive items with the same commitments share their points.
        let mut r = rng(8);
        let (_, shares, c) = dealt(30, 11, 8);
        let mut items: Vec<_> = shares.iter().map(|s| (&c, s.x, s.y)).collect();
        assert!(verify_batch(&items, &mut r));
        items[22].2 += Scalar::ONE;
        assert!(!verify_batch(&items, &mut r));
        assert_eq!(find_bad(&items, &mut r), vec![22]);
    }

    #[test]
    fn batch_weights_catch_cancelling_errors() {
        // Two errors that cancel in an unweighted sum: the same share twice,
        // once plus d and once minus d.
        let mut r = rng(9);
        let (_, shares, c) = dealt(5, 3, 9);
        let d = random_scalar(&mut r);
        let items = [
            (&c, shares[0].x, shares[0].y + d),
            (&c, shares[0].x, shares[0].y - d),
        ];
        assert!(!verify_batch(&items, &mut r));
        assert_eq!(find_bad(&items, &mut r), vec![0, 1]);
    }

    /// One secret with threshold `t` dealt to `x` and the `t - 1` least
    /// other indices: its commitments and the share at `x`.
    fn dealt_at(x: u32, t: usize, seed: u64) -> (Commitments, Scalar) {
        let mut r = rng(seed);
        let mut xs: Vec<u32> = (1..).filter(|&v| v != x).take(t - 1).collect();
        xs.push(x);
        let secret = random_scalar(&mut r);
        let (shares, c) = split_committed(&secret, t, &xs, &mut r).unwrap();
        assert_eq!(shares.last().unwrap().x, x);
        (c, shares.last().unwrap().y)
    }

    /// `c` with `C_j` moved by `G`: commitments no dealer of the shares made.
    fn moved(c: &Commitments, j: usize) -> Commitments {
        let mut c = c.clone();
        c.points[j] += RISTRETTO_BASEPOINT_POINT;
        c.compressed[j] = c.points[j].compress();
        c
    }

    /// Both orders of the batch check, from the same seed: the verdict, and
    /// the generator's next output (the same bytes were drawn).
    fn both_orders(items: &[(&Commitments, u32, Scalar)], seed: u64) -> [(bool, u64); 2] {
        [Order::Fastest, Order::General].map(|order| {
            let mut r = rng(seed);
            let ok = verify_batch_in(items, &mut r, order);
            (ok, r.next_u64())
        })
    }

    #[test]
    fn times_is_scalar_multiplication() {
        let p = RISTRETTO_BASEPOINT_POINT * random_scalar(&mut rng(40));
        // Both sides of the cut, and the ends.
        for x in [
            0,
            1,
            2,
            3,
            57,
            100,
            127,
            517,
            1000,
            4095,
            4096,
            8191,
            1 << 20,
        ]
        .into_iter()
        .chain([517_013, u32::MAX - 4, u32::MAX])
        {
            assert_eq!(times(&p, x), p * Scalar::from(x), "x {x}");
        }
        let mut r = rng(41);
        for _ in 0..200 {
            let x = r.next_u32() >> (r.next_u32() % 32);
            assert_eq!(times(&p, x), p * Scalar::from(x), "x {x}");
        }
    }

    /// The holder's factored order and the general one: the same right side
    /// from the same weights, the same verdict and the same bytes drawn, on
    /// good batches and with one wrong share or one wrong commitment point,
    /// for small and large indices.
    #[test]
    fn factored_and_general_orders_agree() {
        let xs = [1, 2, 57, 517, 4096, 517_013, u32::MAX - 4, u32::MAX];
        for (t, count) in [(1, 1), (1, 9), (2, 2), (2, 8), (6, 32), (22, 5), (22, 19)] {
            for (xi, &x) in xs.iter().enumerate() {
                let seed = ((t as u64) << 32) | ((count as u64) << 8) | xi as u64;
                let dealt: Vec<_> = (0..count)
                    .map(|i| dealt_at(x, t, seed * 64 + i as u64))
                    .collect();
                let good: Vec<_> = dealt.iter().map(|(c, y)| (c, x, *y)).collect();
                let case = format!("t {t} count {count} x {x}");
                assert_eq!(common_index(&good), Some(x));
                let mut r = rng(seed);
                let weights: Vec<Scalar> = (0..count).map(|_| weight(&mut r)).collect();
                assert_eq!(
                    right_side_at(&good, x, &weights),
                    right_side(&good, &weights),
                    "{case}"
                );
                assert_eq!(both_orders(&good, seed).map(|(ok, _)| ok), [true; 2]);
                let bad_at = count / 2;
                // One wrong share.
                let mut items = good.clone();
                items[bad_at].2 += Scalar::ONE;
                let [fast, general] = both_orders(&items, seed);
                assert_eq!(fast, general, "{case}");
                assert!(!fast.0, "{case}");
                assert_eq!(find_bad(&items, &mut r), vec![bad_at], "{case}");
                // One wrong commitment point, the constant term or the last.
                for j in [0, t - 1] {
                    let wrong = moved(&dealt[bad_at].0, j);
                    let mut items = good.clone();
                    items[bad_at].0 = &wrong;
                    assert_eq!(
                        right_side_at(&items, x, &weights),
                        right_side(&items, &weights),
                        "{case} j {j}"
                    );
                    let [fast, general] = both_orders(&items, seed);
                    assert_eq!(fast, general, "{case} j {j}");
                    assert!(!fast.0, "{case} j {j}");
                    assert_eq!(find_bad(&items, &mut r), vec![bad_at], "{case} j {j}");
                }
            }
        }
    }

    /// The general order for a large index in a large batch only; the
    /// verdict is the same either way.
    #[test]
    fn large_index_in_a_large_batch_takes_the_general_order() {
        for (x, count, factored) in [
            (517_013, 45, true),
            (517_013, 46, false),
            (65_535, 46, true),
            (65_536, 46, false),
            (57, 200, true),
            (u32::MAX, 45, true),
            (u32::MAX, 46, false),
        ] {
            let (c, y) = dealt_at(x, 22, 50);
            let mut items = vec![(&c, x, y); count];
            assert_eq!(
                factored_is_cheaper(&items, x),
                factored,
                "x {x} count {count}"
            );
            assert_eq!(both_orders(&items, 51).map(|(ok, _)| ok), [true; 2]);
            items[count - 1].2 += Scalar::ONE;
            assert_eq!(both_orders(&items, 51).map(|(ok, _)| ok), [false; 2]);
        }
    }

    /// Items at one index whose consecutive commitments are the same (the
    /// same share twice, errors that cancel unweighted): the factored order
    /// merges their weights as the general one merges their scalars.
    #[test]
    fn factored_order_merges_runs_of_one_commitment() {
        let mut r = rng(42);
        let (c, y) = dealt_at(9, 6, 42);
        let (other, z) = dealt_at(9, 6, 43);
        let d = random_scalar(&mut r);
        let runs = [
            vec![(&c, 9, y), (&c, 9, y), (&other, 9, z), (&c, 9, y)],
            vec![(&c, 9, y + d), (&c, 9, y - d), (&other, 9, z)],
        ];
        for (items, ok) in runs.iter().zip([true, false]) {
            let weights: Vec<Scalar> = items.iter().map(|_| weight(&mut r)).collect();
            assert_eq!(
                right_side_at(items, 9, &weights),
                right_side(items, &weights)
            );
            assert_eq!(both_orders(items, 44).map(|(v, _)| v), [ok; 2]);
        }
        assert_eq!(find_bad(&runs[1], &mut r), vec![0, 1]);
    }

    /// Mixed indices take the general order; an empty batch is true and
    /// draws nothing; index 0 is refused, by either order, before anything
    /// is drawn.
    #[test]
    fn mixed_empty_and_zero_index_batches() {
        let (c, y) = dealt_at(5, 3, 45);
        let (d, z) = dealt_at(6, 3, 46);
        assert_eq!(common_index(&[(&c, 5, y), (&d, 6, z)]), None);
        assert_eq!(common_index(&[]), None);
        assert!(both_orders(&[(&c, 5, y), (&d, 6, z)], 47)[0].0);
        let fresh = rng(48).next_u64();
        assert_eq!(both_orders(&[], 48), [(true, fresh); 2]);
        let (secret, _, c0) = dealt(5, 3, 49);
        for items in [
            vec![(&c0, 0, secret)],
            vec![(&c0, 0, secret), (&c0, 0, secret)],
        ] {
            assert_eq!(both_orders(&items, 48), [(false, fresh); 2]);
        }
        assert!(!verify_batch(&[(&c, 5, y), (&c0, 0, secret)], &mut rng(48)));
    }

    #[test]
    fn secrets_check_against_their_constant_term() {
        let mut r = rng(30);
        let dealers: Vec<_> = (0..40).map(|i| dealt(9, 4, 300 + i)).collect();
        let c0: Vec<RistrettoPoint> = dealers.iter().map(|(_, _, c)| constant_term(c)).collect();
        // C_0 decodes from the first 32 bytes of the full encoding alone.
        for ((_, _, c), point) in dealers.iter().zip(&c0) {
            assert_eq!(decode_constant_term(&c.encode()), Some(*point));
            assert_eq!(decode_constant_term(&c.encode()[..32]), Some(*point));
        }
        assert_eq!(decode_constant_term(&[0u8; 31]), None);
        assert_eq!(decode_constant_term(&[0xff; 32]), None);
        let secrets: Vec<Scalar> = dealers.iter().map(|(s, _, _)| *s).collect();
        let good: Vec<(&RistrettoPoint, &Scalar)> = c0.iter().zip(&secrets).collect();
        assert!(good.iter().all(|(c, s)| verify_secret(c, s)));
        assert!(verify_secrets_batch(&good, &mut r));
        assert!(verify_secrets_batch(&[], &mut r));
        // The secret rebuilt from a share off by one fails, by the batch and
        // alone, and bisection finds exactly the wrong ones.
        let (secret, mut shares, c) = dealt(7, 3, 31);
        shares[1].y += Scalar::ONE;
        let moved = interpolate_at_zero(&shares[..3]).unwrap();
        assert_ne!(moved, secret);
        assert!(!verify_secret(&constant_term(&c), &moved));
        let wrong: Vec<Scalar> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| if i % 13 == 5 { s + Scalar::ONE } else { *s })
            .collect();
        let items: Vec<(&RistrettoPoint, &Scalar)> = c0.iter().zip(&wrong).collect();
        assert!(!verify_secrets_batch(&items, &mut r));
        assert_eq!(find_bad_secrets(&items, &mut r), vec![5, 18, 31]);
        // Another dealer's C_0 is wrong too; errors that cancel unweighted
        // (+d on one, -d on another of the same C_0) are caught.
        let swapped = [(&c0[1], &secrets[0])];
        assert!(!verify_secrets_batch(&swapped, &mut r));
        let d = random_scalar(&mut r);
        let (plus, minus) = (secrets[0] + d, secrets[0] - d);
        let cancel = [(&c0[0], &plus), (&c0[0], &minus)];
        assert!(!verify_secrets_batch(&cancel, &mut r));
        assert_eq!(find_bad_secrets(&cancel, &mut r), vec![0, 1]);
    }

    #[test]
    fn commitments_roundtrip() {
        for (t, seed) in [(1, 10), (2, 11), (11, 12), (44, 13)] {
            let (_, _, c) = dealt(50, t, seed);
            let bytes = c.encode();
            assert_eq!(bytes.len(), 32 * t);
            assert_eq!(c.encoded_len(), bytes.len());
            let back = Commitments::decode(&bytes, t).unwrap();
            assert_eq!(back, c);
            assert_eq!(back.points(), c.points());
            assert_eq!(back.encode(), bytes);
            let mut out = vec![0xAA];
            c.encode_into(&mut out);
            assert_eq!(&out[1..], &bytes[..]);
            // The same bytes under another threshold are a length error.
            assert!(Commitments::decode(&bytes, t + 1).is_err());
            if t > 1 {
                assert_eq!(
                    Commitments::decode(&bytes, t - 1),
                    Err(DecodeError::TrailingBytes)
                );
            }
        }
    }

    #[test]
    fn commitments_strict_prefixes_and_trailing_bytes_fail() {
        let (_, _, c) = dealt(9, 5, 14);
        let bytes = c.encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                Commitments::decode(&bytes[..cut], 5),
                Err(DecodeError::Truncated),
                "cut {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Commitments::decode(&long, 5),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(
            Commitments::decode(&[], 0),
            Err(DecodeError::LengthOutOfBounds)
        );
        assert_eq!(
            Commitments::decode(&bytes, usize::MAX / 16),
            Err(DecodeError::LengthOutOfBounds)
        );
    }

    #[test]
    fn commitments_reject_points_that_do_not_decompress() {
        let (_, _, c) = dealt(9, 3, 15);
        let good = c.encode();
        // p = 2^255 - 19 and all-ones: field elements not reduced; 1: a
        // "negative" (odd) s, which Ristretto255 never emits.
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut one = [0u8; 32];
        one[0] = 1;
        for bad in [p, [0xff; 32], one] {
            assert!(CompressedRistretto(bad).decompress().is_none());
            for slot in 0..3 {
                let mut bytes = good.clone();
                bytes[slot * 32..slot * 32 + 32].copy_from_slice(&bad);
                assert_eq!(
                    Commitments::decode(&bytes, 3),
                    Err(DecodeError::NonCanonical),
                    "slot {slot}"
                );
            }
        }
        // Every single-byte change to a valid encoding either fails or
        // decodes to something that re-encodes to the changed bytes.
        for i in 0..good.len() {
            for delta in [1u8, 0x80] {
                let mut bytes = good.clone();
                bytes[i] ^= delta;
                if let Ok(d) = Commitments::decode(&bytes, 3) {
                    assert_eq!(d.encode(), bytes);
                }
            }
        }
        // The identity (a zero coefficient) is a valid point.
        assert!(Commitments::decode(&[0u8; 32], 1).is_ok());
    }

    /// `check_points` accepts exactly what `Commitments::decode` accepts,
    /// below and above the parallel cut-off, wherever the bad point is.
    #[test]
    fn check_points_agrees_with_decode() {
        let mut bad = [0xff; 32];
        bad[0] = 0xed;
        bad[31] = 0x7f;
        // 18 and 41: a last shared piece shorter than the others; every
        // slot, so a bad point in each piece is found.
        for t in [1, 3, 15, 16, 18, 40, 41] {
            let (_, _, c) = dealt(t as u32 + 1, t, 99);
            let good = c.encode();
            assert_eq!(check_points(&good), Ok(()), "t {t}");
            assert_eq!(check_points(&[]), Ok(()));
            for slot in 0..t {
                let mut bytes = good.clone();
                bytes[slot * 32..slot * 32 + 32].copy_from_slice(&bad);
                assert_eq!(
                    Commitments::decode(&bytes, t),
                    Err(DecodeError::NonCanonical)
                );
                assert_eq!(
                    check_points(&bytes),
                    Err(DecodeError::NonCanonical),
                    "t {t} slot {slot}"
                );
            }
            for i in (0..good.len()).step_by(7) {
                let mut bytes = good.clone();
                bytes[i] ^= 0x80;
                assert_eq!(
                    check_points(&bytes).is_ok(),
                    Commitments::decode(&bytes, t).is_ok(),
                    "t {t} byte {i}"
                );
            }
            assert_eq!(check_points(&good[1..]), Err(DecodeError::Truncated));
        }
    }

    /// `check_lists` accepts what `check_points` accepts, wherever the bad
    /// point is (a constant term or not, either list), and hands back each
    /// list's `C_0` as `Commitments::decode` decodes it.
    #[test]
    fn check_lists_keeps_the_constant_terms() {
        let mut bad = [0xff; 32];
        bad[0] = 0xed;
        bad[31] = 0x7f;
        for t in [1, 2, 9, 17] {
            let (_, _, key) = dealt(t as u32 + 1, t, 7);
            let (_, _, seed) = dealt(t as u32 + 1, t, 8);
            let mut good = key.encode();
            good.extend_from_slice(&seed.encode());
            let kept = check_lists(&good, t).unwrap();
            assert_eq!(kept, vec![constant_term(&key), constant_term(&seed)]);
            assert_ne!(kept[0], kept[1]);
            assert_eq!(check_lists(&good[..32 * t], t).unwrap().len(), 1);
            assert_eq!(check_lists(&[], t), Ok(Vec::new()));
            for slot in [0, t - 1, t, 2 * t - 1] {
                let mut bytes = good.clone();
                bytes[slot * 32..slot * 32 + 32].copy_from_slice(&bad);
                assert_eq!(
                    check_lists(&bytes, t),
                    Err(DecodeError::NonCanonical),
                    "t {t} slot {slot}"
                );
            }
            assert_eq!(check_lists(&good[1..], t), Err(DecodeError::Truncated));
            assert_eq!(check_lists(&good, 0), Err(DecodeError::Truncated));
        }
    }

    /// `split` output at a fixed seed, recorded before `split` and
    /// `split_committed` came to share their sampling: a change in the bytes
    /// drawn or their order breaks the conformance vectors, and this.
    const PINNED_SHARES: &str = "00cd5b23d0cc3d7f67cd6b39f9267822aac44549a2f35a16afb8c4b80d46730c192a332f3a46ce9c7b89b44f44911b74ffc46988abef379963e31a98e8bb2c034d5cc2d1ca0c32b915e648f76603bdc4b345232ce25927833b674f3734d6e80e86b2a82d4bbbd02f14847bd0ccd4e344114eb4262fbf7b0beb865eeb542fec01";
    const PINNED_NEXT: u64 = 15_515_148_961_156_626_121;

    fn hex_of(shares: &[Share]) -> String {
        shares
            .iter()
            .flat_map(|s| s.y.to_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn split_output_is_pinned() {
        let secret = Scalar::from(0x1234_5678_u64);
        let mut r = rng(0x5eca66);
        let shares = split(&secret, 3, &[1, 2, 7, 9], &mut r).unwrap();
        assert_eq!(hex_of(&shares), PINNED_SHARES);
        assert_eq!(r.next_u64(), PINNED_NEXT);
        let mut r = rng(0x5eca66);
        let (shares, _) = split_committed(&secret, 3, &[1, 2, 7, 9], &mut r).unwrap();
        assert_eq!(hex_of(&shares), PINNED_SHARES);
        assert_eq!(r.next_u64(), PINNED_NEXT);
    }

    #[test]
    fn split_committed_draws_like_split() {
        for (n, t, seed) in [(1, 1, 16), (5, 1, 17), (5, 5, 18), (30, 11, 19)] {
            let secret = random_scalar(&mut rng(seed ^ 0xff));
            let xs: Vec<u32> = (1..=n).map(|i| i * 3 + 1).collect();
            let (mut a, mut b) = (rng(seed), rng(seed));
            let plain = split(&secret, t, &xs, &mut a).unwrap();
            let (committed, c) = split_committed(&secret, t, &xs, &mut b).unwrap();
            assert_eq!(plain, committed);
            assert_eq!(c.threshold(), t);
            // Both left the RNG in the same state: the same bytes were drawn.
            assert_eq!(a.next_u64(), b.next_u64());
        }
        // And refuse the same arguments.
        let mut r = rng(20);
        for (t, xs) in [
            (0, vec![1, 2]),
            (3, vec![1, 2]),
            (1, vec![]),
            (2, vec![1, 0]),
            (2, vec![4, 4]),
        ] {
            assert_eq!(
                split_committed(&Scalar::ONE, t, &xs, &mut r).unwrap_err(),
                ShamirError::InvalidArguments
            );
            assert_eq!(
                split(&Scalar::ONE, t, &xs, &mut r).unwrap_err(),
                ShamirError::InvalidArguments
            );
        }
    }

    #[test]
    fn any_t_shares_give_the_committed_secret() {
        let mut r = rng(21);
        let (n, t) = (12u32, 5usize);
        let (secret, shares, c) = dealt(n, t, 21);
        assert_eq!(RISTRETTO_BASEPOINT_POINT * secret, constant_term(&c));
        for _ in 0..40 {
            // A random t-subset, by a partial Fisher–Yates shuffle.
            let mut pick = shares.clone();
            for i in 0..t {
                let j = i + usize::try_from(r.next_u64() % (pick.len() - i) as u64).unwrap();
                pick.swap(i, j);
            }
            let got = interpolate_at_zero(&pick[..t]).unwrap();
            assert_eq!(got, secret);
            assert_eq!(RISTRETTO_BASEPOINT_POINT * got, constant_term(&c));
        }
        // t - 1 shares give something else (with overwhelming probability).
        let partial = interpolate_at_zero(&shares[..t - 1]).unwrap();
        assert_ne!(RISTRETTO_BASEPOINT_POINT * partial, constant_term(&c));
    }

    #[test]
    fn zero_secret_and_zero_coefficients_verify() {
        // All-zero randomness gives zero coefficients: identity commitments.
        let mut zero = ZeroRng;
        let (shares, c) = split_committed(&Scalar::ZERO, 3, &[1, 2, 3], &mut zero).unwrap();
        assert_eq!(c.encode(), vec![0u8; 96]);
        assert_eq!(constant_term(&c), RistrettoPoint::identity());
        assert!(shares.iter().all(|s| verify_share(&c, s.x, &s.y)));
        assert!(!verify_share(&c, 1, &Scalar::ONE));
    }

    #[test]
    fn debug_shows_the_public_encoding() {
        let c = Commitments::decode(&[0u8; 32], 1).unwrap();
        assert_eq!(format!("{c:?}"), format!("[{}]", "0".repeat(64)));
    }

    /// The general order from exactly `LARGE_BATCH_POINTS` (1,000)
    /// commitment points at a large index: 50 items of `t = 20` take it,
    /// 49 do not, with the same verdict either way.
    #[test]
    fn the_large_batch_cut_is_at_one_thousand_points() {
        let x = 65_536;
        let (c, y) = dealt_at(x, 20, 52);
        for (count, factored) in [(49, true), (50, false)] {
            let mut items = vec![(&c, x, y); count];
            assert_eq!(factored_is_cheaper(&items, x), factored, "{count}");
            assert_eq!(both_orders(&items, 53).map(|(ok, _)| ok), [true; 2]);
            items[0].2 += Scalar::ONE;
            assert_eq!(both_orders(&items, 53).map(|(ok, _)| ok), [false; 2]);
        }
    }

    /// Both batch checks draw exactly 16 bytes (one 128-bit weight) per
    /// item, in order, whatever the verdict.
    #[test]
    fn batch_checks_draw_sixteen_bytes_per_item() {
        let (secret, shares, c) = dealt(5, 3, 54);
        let items: Vec<_> = shares.iter().map(|s| (&c, s.x, s.y)).collect();
        let c0 = constant_term(&c);
        let wrong = secret + Scalar::ONE;
        for count in [1usize, 3, 5] {
            let mut skip = rng(55);
            let mut drawn = vec![0u8; 16 * count];
            skip.fill_bytes(&mut drawn);
            let next = skip.next_u64();
            let mut r = rng(55);
            assert!(verify_batch(&items[..count], &mut r));
            assert_eq!(r.next_u64(), next, "shares {count}");
            let secrets = vec![(&c0, &secret); count];
            let mut r = rng(55);
            assert!(verify_secrets_batch(&secrets, &mut r));
            assert_eq!(r.next_u64(), next, "secrets {count}");
            let mut bad = secrets.clone();
            bad[count - 1] = (&c0, &wrong);
            let mut r = rng(55);
            assert!(!verify_secrets_batch(&bad, &mut r));
            assert_eq!(r.next_u64(), next, "bad secrets {count}");
        }
    }

    /// A threshold of 0 is refused even for an empty message (no lists of
    /// no points), never divided by.
    #[test]
    fn check_lists_refuses_threshold_zero_on_empty_input() {
        assert_eq!(check_lists(&[], 0), Err(DecodeError::Truncated));
        assert_eq!(check_lists(&[0u8; 32], 0), Err(DecodeError::Truncated));
    }

    /// An RNG that returns only zero bytes.
    struct ZeroRng;

    impl rand_core::TryRng for ZeroRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(0);
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for ZeroRng {}
}
