//! Randomized rounding, unconditional and conditional (spec/dp.md section
//! 2.4; Kairouz, Liu, Steinke ICML 2021, section 4.1 and Proposition 22).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::DpError;

/// How many times conditional rounding retries before giving up. Each try
/// succeeds with probability at least `1 - beta` (KLS21 Proposition 22), so
/// failing every one has probability below `beta^1000`.
pub const MAX_TRIES: u32 = 1000;

/// The largest magnitude a rounded coordinate may have.
const MAX_ABS: f64 = 4_611_686_018_427_387_904.0; // 2^62

/// A uniform `f64` in `[0, 1)` with 53 random bits.
fn unit<R: CryptoRng + ?Sized>(rng: &mut R) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "53 bits are exact")]
    let x = (rng.next_u64() >> 11) as f64;
    x * (1.0 / 9_007_199_254_740_992.0)
}

/// Rounds each `x_i` to `floor(x_i)` or `floor(x_i) + 1`, up with
/// probability `x_i - floor(x_i)`: unbiased.
///
/// ```
/// use rand_core::SeedableRng;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let mut out = Vec::new();
/// secagg::dp::rounding::randomized_round(&[2.0, -1.5, 0.25], &mut out, &mut rng)?;
/// assert_eq!(out[0], 2);
/// assert!(out[1] == -2 || out[1] == -1);
/// assert!(out[2] == 0 || out[2] == 1);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// [`DpError::NonFiniteInput`] for a NaN or infinite element,
/// [`DpError::ScaleTooLarge`] for one of magnitude `2^62` or more.
pub fn randomized_round<R: CryptoRng + ?Sized>(
    x: &[f64],
    out: &mut Vec<i64>,
    rng: &mut R,
) -> Result<(), DpError> {
    out.clear();
    out.reserve(x.len());
    for &v in x {
        if !v.is_finite() {
            return Err(DpError::NonFiniteInput);
        }
        if v.abs() >= MAX_ABS {
            return Err(DpError::ScaleTooLarge);
        }
        let f = v.floor();
        let up = unit(rng) < v - f;
        #[allow(clippy::cast_possible_truncation, reason = "|v| < 2^62, an integer")]
        let r = f as i64 + i64::from(up);
        out.push(r);
    }
    Ok(())
}

/// The squared L2 norm of an integer vector, exactly (saturating at
/// `u128::MAX`).
///
/// ```
/// assert_eq!(secagg::dp::rounding::squared_norm(&[3, -4]), 25);
/// ```
pub fn squared_norm(x: &[i64]) -> u128 {
    x.iter().fold(0u128, |acc, &v| {
        let a = u128::from(v.unsigned_abs());
        acc.saturating_add(a * a)
    })
}

/// Conditional randomized rounding: randomized rounding repeated until the
/// result has L2 norm at most `bound` (KLS21 section 4.1; with `bound` from
/// [`super::accounting::rounded_l2_bound`] each try succeeds with
/// probability at least `1 - beta`).
///
/// The tries it refuses are wiped here; the vector it returns, a rounding
/// of the caller's input, is the caller's to wipe (wrap it in
/// [`zeroize::Zeroizing`], as [`crate::dp::Calibration::encode`] does).
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::{accounting::rounded_l2_bound, rounding::{conditional_round, squared_norm}};
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let x = vec![10.4, -3.5, 0.25, 7.9];
/// let bound = rounded_l2_bound(13.5, (-0.5f64).exp(), 4);
/// let r = conditional_round(&x, bound, &mut rng)?;
/// assert!((squared_norm(&r) as f64).sqrt() <= bound);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// As [`randomized_round`], and [`DpError::RoundingFailed`] when
/// [`MAX_TRIES`] tries all exceed the bound.
pub fn conditional_round<R: CryptoRng + ?Sized>(
    x: &[f64],
    bound: f64,
    rng: &mut R,
) -> Result<Vec<i64>, DpError> {
    // Each try overwrites the last in place; a refused one is wiped.
    let mut out = Zeroizing::new(Vec::with_capacity(x.len()));
    for _ in 0..MAX_TRIES {
        randomized_round(x, &mut out, rng)?;
        #[allow(
            clippy::cast_precision_loss,
            reason = "a comparison; rounding is harmless"
        )]
        let sq = squared_norm(&out) as f64;
        if sq.sqrt() <= bound {
            return Ok(core::mem::take(&mut *out));
        }
    }
    Err(DpError::RoundingFailed)
}
