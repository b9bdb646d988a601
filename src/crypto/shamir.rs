//! Shamir secret sharing over the scalar field of curve25519, with verified,
//! error-correcting reconstruction.
//!
//! A secret `s` is the constant term of a random polynomial
//! `f(X) = s + a_1 X + ... + a_{t-1} X^{t-1}` over the field of
//! [`Scalar`]s (integers modulo the prime group order `l`); the holder with
//! index `x` (never 0) receives `f(x)`. Any `t` shares determine `f` and so
//! `s`; any `t - 1` shares are consistent with every possible secret, each for
//! exactly one polynomial, so they reveal nothing (A. Shamir, "How to share a
//! secret", Communications of the ACM 22(11), 1979).
//!
//! # Verified reconstruction
//!
//! The server may receive more than `t` shares, some of them altered by a
//! malicious holder. [`reconstruct_verified`] takes a caller-supplied check
//! (the reconstructed mask key must reproduce the advertised public key, the
//! reconstructed seed must match its commitment) and decodes the shares as a
//! Reed–Solomon codeword: the polynomial through the first `t` shares is tried
//! first; if it disagrees with too many of the others it falls back to
//! Berlekamp–Welch decoding (E. R. Berlekamp and L. R. Welch, "Error correction
//! for algebraic block codes", US patent 4,633,470, 1986; the exposition
//! followed here is P. Gemmell and M. Sudan, "Highly resilient correctors for
//! polynomials", Information Processing Letters 43(4), 1992).
//!
//! With `N` shares and threshold `t`, if at most `e = floor((N - t) / 2)`
//! shares are wrong, reconstruction returns the secret and names exactly the
//! wrong ones, wherever they are.
//!
//! # Complexity
//!
//! [`split`]: `O(N t)`. [`interpolate_at_zero`]: `O(t^2)` and one batch
//! inversion. [`reconstruct_verified`]: `O(N t)` on the fast path (all shares
//! consistent, or only a few wrong ones outside the first `t`), `O(N^3)` on
//! the Berlekamp–Welch path.
//!
//! # Security
//!
//! Every branch in [`split`] and [`interpolate_at_zero`] depends only on the
//! public x-coordinates and threshold, never on a share value or secret; the
//! fast path of [`reconstruct_verified`] also branches on which shares
//! disagree, which it reports anyway. The Berlekamp–Welch path chooses its
//! pivots by testing share-derived values for zero, so its timing depends on
//! the shares; it runs only on a share set that is already inconsistent, in the
//! process that is about to learn the secret. Its `O(N^3)` time and
//! `O(N^2)` memory are what one wrong share among the first `t` costs the
//! caller (about 1 s at `N = 200`, `t = 100`).

use core::fmt;

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
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
        f.debug_struct("Share")
            .field("x", &self.x)
            .field("y", &format_args!("<redacted>"))
            .finish()
    }
}

impl PartialEq for Share {
    /// Constant time in the value `y`.
    fn eq(&self, other: &Self) -> bool {
        (self.x.ct_eq(&other.x) & self.y.ct_eq(&other.y)).into()
    }
}

impl Eq for Share {}

/// The result of [`reconstruct_verified`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Recovered {
    /// The reconstructed secret, accepted by the caller's check.
    pub(crate) secret: Scalar,
    /// The x-coordinates of the shares inconsistent with the verified
    /// polynomial, ascending.
    #[zeroize(skip)]
    pub(crate) bad: Vec<u32>,
}

impl fmt::Debug for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recovered")
            .field("secret", &format_args!("<redacted>"))
            .field("bad", &self.bad)
            .finish()
    }
}

/// Why a Shamir operation failed. Carries no share or secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShamirError {
    /// The caller broke a precondition: no holders, a threshold of 0 or above
    /// the number of holders, an x-coordinate of 0, or a repeated x-coordinate.
    InvalidArguments,
    /// Fewer shares than the threshold.
    NotEnoughShares {
        /// Shares given.
        have: usize,
        /// Shares needed (the threshold).
        need: usize,
    },
    /// No polynomial of degree `< t` disagrees with at most
    /// `e = (N - t) / 2` of the shares: too many of them are wrong to tell
    /// which.
    NoConsistentSet,
    /// The shares are consistent (one polynomial of degree `< t` disagrees
    /// with at most `e` of them, so it is the dealt one unless more than `e`
    /// holders lied together), but the caller's check refuses its constant
    /// term: the dealer shared a secret other than the one it published, or
    /// at least `agreeing - t + 1` holders lied together to put `agreeing`
    /// shares on a wrong polynomial.
    Rejected {
        /// How many shares lie on the refused polynomial.
        agreeing: usize,
    },
    /// Only from [`reconstruct_fast`]: the polynomial through the first `t`
    /// shares disagrees with more than `e` of the others, so only the
    /// error-correcting decoder can tell what is right.
    NeedsDecoding,
}

impl fmt::Display for ShamirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArguments => f.write_str("invalid Shamir arguments"),
            Self::NotEnoughShares { have, need } => {
                write!(f, "not enough shares: have {have}, need {need}")
            }
            Self::NoConsistentSet => f.write_str("too many wrong shares to reconstruct"),
            Self::NeedsDecoding => f.write_str("the first shares disagree with too many others"),
            Self::Rejected { agreeing } => write!(
                f,
                "{agreeing} consistent shares give a secret the check refuses"
            ),
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
pub(crate) fn split<R: CryptoRng + ?Sized>(
    secret: &Scalar,
    threshold: usize,
    xs: &[u32],
    rng: &mut R,
) -> Result<Vec<Share>, ShamirError> {
    split_with(secret, threshold, xs, rng, |_| ()).map(|(shares, ())| shares)
}

/// [`split`], also handing the coefficients (of `X^0` first) to `inspect`
/// before they are zeroized; returns the shares and what `inspect` returned.
/// The one sampling routine behind [`split`] and
/// `feldman::split_committed`, so both draw the same bytes in the same order.
///
/// # Errors
///
/// As [`split`]; `inspect` is not called then.
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
/// polynomial of degree `< shares.len()` at zero.
///
/// `f(0) = sum_i y_i * prod_{j != i} x_j / (x_j - x_i)`, computed as
/// `(prod_j x_j) * sum_i y_i / d_i` with `d_i = x_i * prod_{j != i} (x_j - x_i)`;
/// the `d_i` (nonzero, as the `x_i` are distinct and nonzero) are inverted
/// together with one batch inversion. `O(t^2)` multiplications.
///
/// # Errors
///
/// [`ShamirError::InvalidArguments`] if `shares` is empty or its x-coordinates
/// are not distinct and nonzero.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "part of the module's API; reconstruction goes through reconstruct_verified"
    )
)]
pub(crate) fn interpolate_at_zero(shares: &[Share]) -> Result<Scalar, ShamirError> {
    if shares.is_empty() {
        return Err(ShamirError::InvalidArguments);
    }
    check_xs(shares.iter().map(|s| s.x))?;
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(s.x)).collect();
    let mut den: Vec<Scalar> = xs
        .iter()
        .enumerate()
        .map(|(i, xi)| {
            xs.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(*xi, |acc, (_, xj)| acc * (xj - xi))
        })
        .collect();
    Scalar::invert_batch_alloc(&mut den);
    let sum: Scalar = shares.iter().zip(&den).map(|(s, inv)| s.y * inv).sum();
    let prod: Scalar = xs.iter().product();
    Ok(prod * sum)
}

/// Verified, error-correcting reconstruction of a secret from shares of which
/// some may be wrong (the design's "verified reconstruction").
///
/// `verify` is the caller's check that a candidate is the right secret (it
/// re-derives a public key and compares it with the advertised one, or checks
/// a hash commitment); it is called at most once.
///
/// With `N = shares.len()`, `t = threshold` and `e = floor((N - t) / 2)`, a
/// polynomial `P` of degree `< t` is accepted when it disagrees with at most
/// `e` shares and `verify(P(0))` holds; the shares it disagrees with are
/// reported as bad. If at most `e` shares are wrong, an accepted `P` is the
/// true polynomial `F`: they agree on at least `N - 2e >= t` shares.
///
/// 1. Fast path, `O(N t)`: interpolate the first `t` shares (one batch
///    inversion) and evaluate at every other share's x. If at most `e` shares
///    disagree, this polynomial is the answer: accepted, or `Rejected`
///    (any other polynomial with at most `e` disagreements would agree with
///    this one on `N - 2e >= t` shares, so there is none to find).
/// 2. Otherwise Berlekamp–Welch with `e` errors, `O(N^3)`: it finds `F`
///    whenever at most `e` shares are wrong, wherever they are.
///
/// Checking only that the first `t` shares give a verifying secret would not
/// do: two wrong shares among them can cancel in the interpolated secret
/// (`lambda_a d_a + lambda_b d_b = 0` for public Lagrange coefficients), giving a
/// verifying but wrong polynomial that disagrees with the honest others.
///
/// The returned secret is always one that `verify` accepted, and the bad list
/// is exact whenever at most `e` shares are wrong. Beyond that no decoder can
/// be sure: a coalition of `e + 2` or more can choose its shares to lie on a
/// wrong polynomial through the true secret, and the holders off it are named
/// (for `N = t = 2`, adding 1 and 2 to the shares at `x = 1, 2` leaves a
/// consistent, verifying pair). Never panics.
///
/// # Errors
///
/// - [`ShamirError::InvalidArguments`]: `threshold` is 0, or two shares have
///   the same x, or an x is 0.
/// - [`ShamirError::NotEnoughShares`]: fewer than `threshold` shares.
/// - [`ShamirError::NoConsistentSet`]: more than `e` shares are wrong.
/// - [`ShamirError::Rejected`]: at most `e` shares are wrong (the rest lie on
///   one polynomial), but `verify` refuses its secret.
pub(crate) fn reconstruct_verified(
    shares: &[Share],
    threshold: usize,
    verify: impl FnMut(&Scalar) -> bool,
) -> Result<Recovered, ShamirError> {
    reconstruct(shares, threshold, true, verify)
}

/// Step 1 of [`reconstruct_verified`] alone: `O(N t)`, and
/// [`ShamirError::NeedsDecoding`] where that would go on to step 2.
///
/// For a caller with many secrets whose wrong shares tend to come from the
/// same holders: it runs this on every secret, then [`reconstruct_verified`]
/// on the few that need it with the holders found lying moved to the back,
/// out of the first `t`, so that the `O(N^3)` decoder runs about once per
/// liar rather than once per secret.
///
/// # Errors
///
/// As [`reconstruct_verified`], plus [`ShamirError::NeedsDecoding`].
pub(crate) fn reconstruct_fast(
    shares: &[Share],
    threshold: usize,
    verify: impl FnMut(&Scalar) -> bool,
) -> Result<Recovered, ShamirError> {
    reconstruct(shares, threshold, false, verify)
}

fn reconstruct(
    shares: &[Share],
    threshold: usize,
    decode: bool,
    mut verify: impl FnMut(&Scalar) -> bool,
) -> Result<Recovered, ShamirError> {
    if threshold == 0 {
        return Err(ShamirError::InvalidArguments);
    }
    check_xs(shares.iter().map(|s| s.x))?;
    let n = shares.len();
    if n < threshold {
        return Err(ShamirError::NotEnoughShares {
            have: n,
            need: threshold,
        });
    }
    let e = (n - threshold) / 2;

    let (first, others) = shares.split_at(threshold);
    let fast = interpolate_coefficients(first);
    // The first t lie on `fast` by construction; only the others can disagree.
    let bad = disagreeing(&fast, others);
    if bad.len() <= e {
        return accept(&fast, bad, n, &mut verify);
    }
    if !decode {
        return Err(ShamirError::NeedsDecoding);
    }

    let slow = berlekamp_welch(shares, threshold, e).ok_or(ShamirError::NoConsistentSet)?;
    let bad = disagreeing(&slow, shares);
    if bad.len() > e {
        // Unreachable: Q = P E with E of degree e vanishes at no more than e
        // points, and P(x_i) = y_i wherever E(x_i) != 0.
        return Err(ShamirError::NoConsistentSet);
    }
    accept(&slow, bad, n, &mut verify)
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

/// `sum_i coeffs[i] x^i` by Horner's rule.
fn evaluate(coeffs: &[Scalar], x: u32) -> Scalar {
    let x = Scalar::from(x);
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// The coefficients (of `X^0` first) of the polynomial of degree
/// `< shares.len()` through `shares`, whose x-coordinates must be distinct.
///
/// Lagrange form turned into monomial form: with `M(X) = prod_j (X - x_j)`,
/// `P(X) = sum_j y_j / M'(x_j) * M(X) / (X - x_j)`, where
/// `M'(x_j) = prod_{k != j} (x_j - x_k)` (nonzero) is inverted in one batch and
/// each `M(X) / (X - x_j)` is one synthetic division. `O(t^2)`.
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

/// The x-coordinates, ascending, of the shares with `y != P(x)`.
fn disagreeing(poly: &[Scalar], shares: &[Share]) -> Vec<u32> {
    let mut bad: Vec<u32> = shares
        .iter()
        .filter(|s| !bool::from(evaluate(poly, s.x).ct_eq(&s.y)))
        .map(|s| s.x)
        .collect();
    bad.sort_unstable();
    bad
}

/// Calls `verify` on the constant term of `poly`, which disagrees with `bad`
/// of the `total` shares; on success, the recovery.
fn accept(
    poly: &[Scalar],
    bad: Vec<u32>,
    total: usize,
    verify: &mut impl FnMut(&Scalar) -> bool,
) -> Result<Recovered, ShamirError> {
    let secret = poly.first().copied().unwrap_or(Scalar::ZERO);
    if verify(&secret) {
        Ok(Recovered { secret, bad })
    } else {
        Err(ShamirError::Rejected {
            agreeing: total - bad.len(),
        })
    }
}

/// Berlekamp–Welch decoding (US patent 4,633,470; Gemmell–Sudan 1992): the
/// coefficients of a polynomial `P` of degree `< t` that agrees with all but at
/// most `e` of the shares, or `None`.
///
/// Unknowns: a monic error locator `E` of degree `e` and `Q` of degree
/// `< e + t`, with `Q(x_i) = y_i E(x_i)` for every share, i.e. the linear
/// equations `sum_k Q_k x_i^k - y_i sum_{k<e} E_k x_i^k = y_i x_i^e` in
/// `2e + t <= N` unknowns. If at most `e` shares are wrong, the system is
/// solvable (take `E` = the error locator times any monic filler) and every
/// solution has `Q / E = P`: for two solutions, `Q E' - Q' E` has degree
/// `< 2e + t <= N` and vanishes at every `x_i`, so `Q / E = Q' / E'`. So any
/// solution will do, and fewer actual errors need no second attempt with a
/// smaller `e`. Gauss–Jordan elimination, free unknowns set to zero, `O(N^3)`;
/// then `P = Q / E`, rejected unless the division is exact.
fn berlekamp_welch(shares: &[Share], t: usize, e: usize) -> Option<Zeroizing<Vec<Scalar>>> {
    let q_len = e + t;
    let unknowns = q_len + e;
    // Row i: [x_i^0 .. x_i^{e+t-1} | -y_i x_i^0 .. -y_i x_i^{e-1} | y_i x_i^e].
    let mut rows: Zeroizing<Vec<Vec<Scalar>>> = Zeroizing::new(
        shares
            .iter()
            .map(|s| {
                let x = Scalar::from(s.x);
                let mut row = Vec::with_capacity(unknowns + 1);
                let mut power = Scalar::ONE;
                for _ in 0..q_len {
                    row.push(power);
                    power *= x;
                }
                let mut power = Scalar::ONE;
                for _ in 0..e {
                    row.push(-(s.y * power));
                    power *= x;
                }
                row.push(s.y * power);
                row
            })
            .collect(),
    );
    let solution = solve(&mut rows, unknowns)?;

    // E = E_0 + ... + E_{e-1} X^{e-1} + X^e.
    let mut locator = Zeroizing::new(solution[q_len..].to_vec());
    locator.push(Scalar::ONE);
    let mut remainder = Zeroizing::new(solution[..q_len].to_vec());
    divide_by_monic(&mut remainder, &locator)
}

/// Solves the linear system whose augmented rows (each `unknowns + 1` long)
/// are `rows`, by Gauss–Jordan elimination over the scalar field. Free
/// unknowns are set to zero; `None` if the system is inconsistent. The rows are
/// left reduced.
fn solve(rows: &mut [Vec<Scalar>], unknowns: usize) -> Option<Zeroizing<Vec<Scalar>>> {
    let mut pivot_columns = Vec::new();
    for col in 0..unknowns {
        let r = pivot_columns.len();
        let Some(found) = rows.iter().skip(r).position(|row| row[col] != Scalar::ZERO) else {
            continue;
        };
        rows.swap(r, r + found);
        // Take the pivot row out (a move, no copy) to update the others.
        let mut pivot = core::mem::take(&mut rows[r]);
        let inverse = pivot[col].invert();
        for v in &mut pivot[col..] {
            *v *= inverse;
        }
        for (i, row) in rows.iter_mut().enumerate() {
            if i == r {
                continue;
            }
            // Entries left of `col` are zero in the pivot row.
            let factor = row[col];
            for (v, p) in row[col..].iter_mut().zip(&pivot[col..]) {
                *v -= factor * p;
            }
        }
        rows[r] = pivot;
        pivot_columns.push(col);
    }
    // Rows below the pivots have all-zero coefficients: consistent only if the
    // right-hand side is zero too.
    if rows
        .iter()
        .skip(pivot_columns.len())
        .any(|row| row[unknowns] != Scalar::ZERO)
    {
        return None;
    }
    let mut solution = Zeroizing::new(vec![Scalar::ZERO; unknowns]);
    for (row, &col) in rows.iter().zip(&pivot_columns) {
        solution[col] = row[unknowns];
    }
    Some(solution)
}

/// Divides the polynomial `remainder` by the monic `divisor` (coefficients of
/// `X^0` first), leaving the remainder in place; the quotient if the remainder
/// is zero, else `None`.
fn divide_by_monic(remainder: &mut [Scalar], divisor: &[Scalar]) -> Option<Zeroizing<Vec<Scalar>>> {
    let degree = divisor.len().checked_sub(1)?;
    let quotient_len = remainder.len().checked_sub(degree)?;
    let mut quotient = Zeroizing::new(vec![Scalar::ZERO; quotient_len]);
    for k in (0..quotient_len).rev() {
        // The leading term of the remainder is X^{k + degree}.
        let lead = remainder[k + degree];
        quotient[k] = lead;
        for (v, d) in remainder[k..=k + degree].iter_mut().zip(divisor) {
            *v -= lead * d;
        }
    }
    if remainder.iter().all(|v| *v == Scalar::ZERO) {
        Some(quotient)
    } else {
        None
    }
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

    /// A nonzero random scalar, to add to a share's value.
    fn nonzero(rng: &mut ChaCha20Rng) -> Scalar {
        let s = random_scalar(rng);
        if s == Scalar::ZERO { Scalar::ONE } else { s }
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

    /// Corrupts the shares at `at` and returns their x's, ascending.
    fn corrupt(shares: &mut [Share], at: &[usize], rng: &mut ChaCha20Rng) -> Vec<u32> {
        let mut xs: Vec<u32> = at
            .iter()
            .map(|&i| {
                shares[i].y += nonzero(rng);
                shares[i].x
            })
            .collect();
        xs.sort_unstable();
        xs
    }

    /// Reconstruction with a check that knows the true secret.
    fn reconstruct(shares: &[Share], t: usize, secret: Scalar) -> Result<Recovered, ShamirError> {
        reconstruct_verified(shares, t, |c| *c == secret)
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
        let rec = reconstruct(&shares, n, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert!(rec.bad.is_empty());
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

    #[test]
    fn interpolation_agrees_with_coefficient_form() {
        let mut r = rng(18);
        for t in 1..12 {
            let secret = random_scalar(&mut r);
            let xs: Vec<u32> = (0..t).map(|_| r.next_u32() | 1).collect();
            let Ok(shares) = split(&secret, t, &xs, &mut r) else {
                continue; // a repeated random x: skip this size
            };
            let poly = interpolate_coefficients(&shares);
            assert_eq!(poly.len(), t);
            assert_eq!(poly[0], secret);
            assert_eq!(interpolate_at_zero(&shares).unwrap(), secret);
            for s in &shares {
                assert_eq!(evaluate(&poly, s.x), s.y);
            }
        }
    }

    #[test]
    fn reconstruct_all_good() {
        let mut r = rng(20);
        for (n, t) in [(1, 1), (5, 1), (5, 5), (10, 4), (31, 16)] {
            let secret = random_scalar(&mut r);
            let shares = split(&secret, t, &indices(n), &mut r).unwrap();
            let rec = reconstruct(&shares, t, secret).unwrap();
            assert_eq!(rec.secret, secret);
            assert!(rec.bad.is_empty());
        }
    }

    #[test]
    fn reconstruct_corrects_every_error_count() {
        let mut r = rng(21);
        for (n, t) in [
            (3, 1),
            (6, 2),
            (10, 4),
            (11, 4),
            (20, 7),
            (25, 25),
            (40, 10),
        ] {
            for e in 0..=(n - t) / 2 {
                for round in 0..4 {
                    let secret = random_scalar(&mut r);
                    let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
                    let mut at = positions(&mut r, n, e);
                    if round == 0 && e > 0 {
                        at[0] = 0; // one error inside the first t: slow path
                        at.sort_unstable();
                        at.dedup();
                    }
                    let wrong = corrupt(&mut shares, &at, &mut r);
                    let rec = reconstruct(&shares, t, secret).unwrap();
                    assert_eq!(rec.secret, secret, "n={n} t={t} e={e}");
                    assert_eq!(rec.bad, wrong, "n={n} t={t} e={e}");
                }
            }
        }
    }

    #[test]
    fn reconstruct_corrects_errors_in_first_t_only() {
        let mut r = rng(22);
        let (n, t) = (16, 6);
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        let wrong = corrupt(&mut shares, &[0, 2, 3, 5, 4], &mut r);
        let rec = reconstruct(&shares, t, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, wrong);
    }

    #[test]
    fn reconstruct_unsorted_shares() {
        let mut r = rng(23);
        let t = 5;
        let secret = random_scalar(&mut r);
        let mut shares = split(
            &secret,
            t,
            &[9, 4, 13, 1, 7, 2, 12, 3, 11, 5, 10, 6, 8],
            &mut r,
        )
        .unwrap();
        let wrong = corrupt(&mut shares, &[1, 8, 2, 0], &mut r);
        assert_eq!(wrong, vec![4, 9, 11, 13]);
        let rec = reconstruct(&shares, t, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, wrong);
    }

    #[test]
    fn one_error_too_many_fails_even_outside_the_first_t() {
        // N - t odd: e + 1 wrong shares after the first t are not corrected.
        let mut r = rng(24);
        let (n, t) = (11, 4);
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        corrupt(&mut shares, &[4, 7, 9, 10], &mut r);
        assert_eq!(
            reconstruct(&shares, t, secret).unwrap_err(),
            ShamirError::NoConsistentSet
        );
        // One fewer is corrected.
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        let wrong = corrupt(&mut shares, &[4, 7, 10], &mut r);
        let rec = reconstruct(&shares, t, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, wrong);
    }

    /// Two colluders among the first t shift their values so that the
    /// interpolated secret does not change (lambda_a d_a + lambda_b d_b = 0):
    /// the polynomial through the first t then verifies but is wrong. The
    /// honest holders must not be blamed.
    fn colluding_pair(n: usize, t: usize, seed: u64) -> (Vec<Share>, Scalar) {
        let mut r = rng(seed);
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        let lagrange = |i: usize| {
            let unit: Vec<Share> = shares[..t]
                .iter()
                .enumerate()
                .map(|(j, s)| Share {
                    x: s.x,
                    y: if i == j { Scalar::ONE } else { Scalar::ZERO },
                })
                .collect();
            interpolate_at_zero(&unit).unwrap()
        };
        let (la, lb) = (lagrange(0), lagrange(1));
        let da = nonzero(&mut r);
        let db = -(la * da) * lb.invert();
        shares[0].y += da;
        shares[1].y += db;
        assert_eq!(interpolate_at_zero(&shares[..t]).unwrap(), secret);
        (shares, secret)
    }

    #[test]
    fn colluders_in_first_t_cannot_frame_honest_holders() {
        let (n, t) = (12, 8); // e = 2: both colluders are corrected
        let (shares, secret) = colluding_pair(n, t, 25);
        let rec = reconstruct(&shares, t, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, vec![1, 2]);

        let (n, t) = (11, 8); // e = 1 < 2 colluders, r = 2 < 3 honest others
        let (shares, secret) = colluding_pair(n, t, 26);
        assert_eq!(
            reconstruct(&shares, t, secret).unwrap_err(),
            ShamirError::NoConsistentSet
        );

        let (n, t) = (9, 8); // e = 0: the last holder is not blamed either
        let (shares, secret) = colluding_pair(n, t, 27);
        assert_eq!(
            reconstruct(&shares, t, secret).unwrap_err(),
            ShamirError::NoConsistentSet
        );

        // The documented limit: with N = t nothing is redundant, and a
        // consistent wrong pair through the true secret cannot be detected.
        let (shares, secret) = colluding_pair(2, 2, 28);
        let rec = reconstruct(&shares, 2, secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert!(rec.bad.is_empty());
    }

    #[test]
    fn too_many_errors_fail_cleanly() {
        let mut r = rng(27);
        for (n, t) in [(2, 2), (3, 2), (6, 2), (10, 4), (11, 4), (20, 7), (40, 10)] {
            let e = (n - t) / 2;
            for errors in e + 1..=n {
                let secret = random_scalar(&mut r);
                let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
                let at = positions(&mut r, n, errors);
                corrupt(&mut shares, &at, &mut r);
                // With n = t nothing is redundant: the shares are consistent
                // by definition and only the check can refuse them.
                let want = if n == t {
                    ShamirError::Rejected { agreeing: n }
                } else {
                    ShamirError::NoConsistentSet
                };
                assert_eq!(
                    reconstruct(&shares, t, secret).unwrap_err(),
                    want,
                    "n={n} t={t} errors={errors}"
                );
            }
        }
    }

    #[test]
    fn all_shares_replaced_fail_cleanly() {
        let mut r = rng(28);
        let secret = random_scalar(&mut r);
        let shares: Vec<Share> = indices(9)
            .into_iter()
            .map(|x| Share {
                x,
                y: random_scalar(&mut r),
            })
            .collect();
        assert_eq!(
            reconstruct(&shares, 3, secret).unwrap_err(),
            ShamirError::NoConsistentSet
        );
        // All zero values: a singular system, and a consistent sharing of 0,
        // which the check refuses.
        let zeros: Vec<Share> = indices(9)
            .into_iter()
            .map(|x| Share { x, y: Scalar::ZERO })
            .collect();
        assert_eq!(
            reconstruct(&zeros, 3, secret).unwrap_err(),
            ShamirError::Rejected { agreeing: 9 }
        );
        let rec = reconstruct_verified(&zeros, 3, |c| *c == Scalar::ZERO).unwrap();
        assert!(rec.bad.is_empty());
    }

    #[test]
    fn verify_always_false_fails() {
        let mut r = rng(29);
        let (n, t) = (15, 5);
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        assert_eq!(
            reconstruct_verified(&shares, t, |_| false).unwrap_err(),
            ShamirError::Rejected { agreeing: 15 }
        );
        corrupt(&mut shares, &[0, 1, 14], &mut r); // slow path
        assert_eq!(
            reconstruct_verified(&shares, t, |_| false).unwrap_err(),
            ShamirError::Rejected { agreeing: 12 }
        );
        // A sharing of another secret: consistent, refused.
        let other = split(&random_scalar(&mut r), t, &indices(n), &mut r).unwrap();
        assert_eq!(
            reconstruct(&other, t, secret).unwrap_err(),
            ShamirError::Rejected { agreeing: 15 }
        );
    }

    #[test]
    fn verify_is_called_at_most_once() {
        let mut r = rng(30);
        let (n, t) = (15, 5);
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        for at in [
            &[][..],
            &[9][..],
            &[0, 3, 12][..],
            &[0, 1, 2, 3, 4, 5, 6][..],
        ] {
            corrupt(&mut shares, at, &mut r);
            let mut calls = 0;
            let _ = reconstruct_verified(&shares, t, |c| {
                calls += 1;
                *c == secret
            });
            assert!(calls <= 1);
        }
    }

    #[test]
    fn reconstruct_rejects_bad_arguments() {
        let mut r = rng(31);
        let secret = random_scalar(&mut r);
        let shares = split(&secret, 3, &indices(5), &mut r).unwrap();
        assert_eq!(
            reconstruct(&shares[..2], 3, secret).unwrap_err(),
            ShamirError::NotEnoughShares { have: 2, need: 3 }
        );
        assert_eq!(
            reconstruct(&[], 1, secret).unwrap_err(),
            ShamirError::NotEnoughShares { have: 0, need: 1 }
        );
        assert_eq!(
            reconstruct(&shares, 0, secret).unwrap_err(),
            ShamirError::InvalidArguments
        );
        let mut dup = shares.clone();
        dup[4].x = dup[1].x;
        assert_eq!(
            reconstruct(&dup, 3, secret).unwrap_err(),
            ShamirError::InvalidArguments
        );
        let mut dup_first = shares.clone();
        dup_first.push(shares[0].clone());
        assert_eq!(
            reconstruct(&dup_first, 3, secret).unwrap_err(),
            ShamirError::InvalidArguments
        );
        let mut zero = shares.clone();
        zero[2].x = 0;
        assert_eq!(
            reconstruct(&zero, 3, secret).unwrap_err(),
            ShamirError::InvalidArguments
        );
    }

    #[test]
    fn solver_and_division_edge_cases() {
        // x + y = 1, 2x + 2y = 3: inconsistent.
        let two = Scalar::from(2u8);
        let mut rows = vec![
            vec![Scalar::ONE, Scalar::ONE, Scalar::ONE],
            vec![two, two, Scalar::from(3u8)],
        ];
        assert!(solve(&mut rows, 2).is_none());
        // x + y = 1 twice: free y = 0, x = 1.
        let mut rows = vec![vec![Scalar::ONE, Scalar::ONE, Scalar::ONE]; 2];
        assert_eq!(
            solve(&mut rows, 2).unwrap().as_slice(),
            &[Scalar::ONE, Scalar::ZERO]
        );
        // (X^2 - 1) / (X - 1) = X + 1; (X^2 + 1) / (X - 1) is not exact.
        let mut num = [-Scalar::ONE, Scalar::ZERO, Scalar::ONE];
        let q = divide_by_monic(&mut num, &[-Scalar::ONE, Scalar::ONE]).unwrap();
        assert_eq!(q.as_slice(), &[Scalar::ONE, Scalar::ONE]);
        let mut num = [Scalar::ONE, Scalar::ZERO, Scalar::ONE];
        assert!(divide_by_monic(&mut num, &[-Scalar::ONE, Scalar::ONE]).is_none());
        assert!(divide_by_monic(&mut [], &[Scalar::ONE, Scalar::ONE]).is_none());
    }

    #[test]
    fn debug_is_redacted_and_eq_compares_both_fields() {
        let y = Scalar::from(0x1234_5678u32);
        let share = Share { x: 7, y };
        let text = format!("{share:?}");
        assert_eq!(text, "Share { x: 7, y: <redacted> }");
        let rec = Recovered {
            secret: y,
            bad: vec![3, 5],
        };
        assert_eq!(
            format!("{rec:?}"),
            "Recovered { secret: <redacted>, bad: [3, 5] }"
        );
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
        assert_eq!(
            ShamirError::NotEnoughShares { have: 2, need: 5 }.to_string(),
            "not enough shares: have 2, need 5"
        );
        assert_eq!(
            ShamirError::NoConsistentSet.to_string(),
            "too many wrong shares to reconstruct"
        );
        assert_eq!(
            ShamirError::Rejected { agreeing: 7 }.to_string(),
            "7 consistent shares give a secret the check refuses"
        );
        assert_eq!(
            ShamirError::NeedsDecoding.to_string(),
            "the first shares disagree with too many others"
        );
    }

    #[test]
    fn fast_path_alone_defers_only_what_needs_decoding() {
        let mut r = rng(31);
        let (n, t) = (12, 4); // e = 4
        let secret = random_scalar(&mut r);
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        // Wrong shares after the first t: settled by the fast path.
        let wrong = corrupt(&mut shares, &[5, 9], &mut r);
        let rec = reconstruct_fast(&shares, t, |c| *c == secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, wrong);
        // One wrong share among the first t: deferred, without calling the
        // check; the full decoder settles it, and so does the fast path once
        // that share is moved to the back.
        let mut shares = split(&secret, t, &indices(n), &mut r).unwrap();
        let wrong = corrupt(&mut shares, &[1], &mut r);
        let mut called = false;
        let deferred = reconstruct_fast(&shares, t, |_| {
            called = true;
            true
        });
        assert_eq!(deferred.unwrap_err(), ShamirError::NeedsDecoding);
        assert!(!called);
        let rec = reconstruct(&shares, t, secret).unwrap();
        assert_eq!(rec.bad, wrong);
        shares.sort_by_key(|s| wrong.contains(&s.x));
        let rec = reconstruct_fast(&shares, t, |c| *c == secret).unwrap();
        assert_eq!(rec.secret, secret);
        assert_eq!(rec.bad, wrong);
    }

    /// A sharing of size `n`, threshold `t` with random distinct x's in random
    /// order and `errors` wrong shares at random positions.
    fn noisy_case(n: usize, t: usize, errors: usize, seed: u64) -> (Vec<Share>, Scalar, Vec<u32>) {
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
        let mut shares = split(&secret, t, &xs, &mut r).unwrap();
        let at = positions(&mut r, n, errors);
        let wrong = corrupt(&mut shares, &at, &mut r);
        (shares, secret, wrong)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_reconstruct_exact(
            (n, t, errors, seed) in (1usize..=40)
                .prop_flat_map(|n| (Just(n), 1..=n))
                .prop_flat_map(|(n, t)| (Just(n), Just(t), 0..=(n - t) / 2, any::<u64>()))
        ) {
            let (shares, secret, wrong) = noisy_case(n, t, errors, seed);
            let rec = reconstruct(&shares, t, secret).unwrap();
            prop_assert_eq!(rec.secret, secret);
            prop_assert_eq!(&rec.bad, &wrong);
        }

        #[test]
        fn prop_too_many_errors_rejected(
            (n, t, errors, seed) in (1usize..=30)
                .prop_flat_map(|n| (Just(n), 1..=n))
                .prop_flat_map(|(n, t)| (Just(n), Just(t), (n - t) / 2 + 1..=n, any::<u64>()))
        ) {
            let (shares, secret, _) = noisy_case(n, t, errors, seed);
            let want = if n == t {
                ShamirError::Rejected { agreeing: n }
            } else {
                ShamirError::NoConsistentSet
            };
            prop_assert_eq!(reconstruct(&shares, t, secret).unwrap_err(), want);
        }

        #[test]
        fn prop_split_interpolate(
            (n, t, seed) in (1usize..=24)
                .prop_flat_map(|n| (Just(n), 1..=n, any::<u64>()))
        ) {
            let (shares, secret, _) = noisy_case(n, t, 0, seed);
            let mut r = rng(seed ^ 1);
            let at = positions(&mut r, n, t);
            let subset: Vec<Share> = at.iter().map(|&i| shares[i].clone()).collect();
            prop_assert_eq!(interpolate_at_zero(&subset).unwrap(), secret);
        }
    }
}
