//! Padding and the randomized Hadamard rotation (spec/dp.md section 2).
//!
//! `R = H D / sqrt(d)`: `D` a diagonal of public random signs, `H` the
//! `d x d` Walsh-Hadamard matrix (`d` a power of two). `R` is orthonormal,
//! so it keeps L2 norms, and it spreads any vector's mass over all
//! coordinates (Kairouz, Liu, Steinke ICML 2021, section 4.2), which keeps
//! each coordinate of the sum small enough for `b` bits. The inverse is
//! `D H / sqrt(d)`. The fast Walsh-Hadamard transform runs in place in
//! `O(d log d)`.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};

use super::DpError;

/// The label that derives the sign key from the public seed.
pub const SIGN_LABEL: &[u8] = b"secagg/v1/dp-rotation";

/// The padded dimension: the smallest power of two `>= m` (at least 1).
///
/// ```
/// assert_eq!(secagg::dp::rotate::padded_len(1000), Ok(1024));
/// ```
///
/// # Errors
/// [`DpError::Dimension`] when `m` is 0 or the power of two overflows.
pub fn padded_len(m: usize) -> Result<usize, DpError> {
    if m == 0 {
        return Err(DpError::Dimension);
    }
    m.checked_next_power_of_two().ok_or(DpError::Dimension)
}

/// The in-place, unnormalised fast Walsh-Hadamard transform (`x <- H x`);
/// `x.len()` must be a power of two (any other length is left unchanged).
///
/// ```
/// let mut x = vec![1.0, 0.0, 0.0, 0.0];
/// secagg::dp::rotate::fwht(&mut x);
/// assert_eq!(x, vec![1.0; 4]); // the first column of H
/// ```
pub fn fwht(x: &mut [f64]) {
    let d = x.len();
    if !d.is_power_of_two() {
        return;
    }
    let mut h = 1;
    while h < d {
        for block in x.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
                let (u, v) = (*a, *b);
                *a = u + v;
                *b = u - v;
            }
        }
        h *= 2;
    }
}

/// The `d` public signs (`true` = negate) derived from `seed`: bit `i` of
/// the ChaCha20 keystream (key `SHA-256(SIGN_LABEL || seed)`, nonce zero),
/// least significant bit of each byte first.
///
/// ```
/// use secagg::dp::rotate::signs;
/// // Public and reproducible: every client derives the same signs.
/// assert_eq!(signs(&[1; 32], 100), signs(&[1; 32], 100));
/// assert_ne!(signs(&[1; 32], 100), signs(&[2; 32], 100));
/// ```
pub fn signs(seed: &[u8; 32], d: usize) -> Vec<bool> {
    let mut h = Sha256::new();
    h.update(SIGN_LABEL);
    h.update(seed);
    let key: [u8; 32] = h.finalize().into();
    let mut cipher = ChaCha20::new(&key.into(), &[0u8; 12].into());
    let mut bytes = vec![0u8; d.div_ceil(8)];
    cipher.apply_keystream(&mut bytes);
    (0..d).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect()
}

/// `x <- H D x / sqrt(d)`, the forward rotation (spec/dp.md section 2.2).
///
/// ```
/// use secagg::dp::rotate::{rotate, unrotate};
/// let seed = [7u8; 32]; // the session id in a round
/// let mut x = vec![3.0, -1.0, 0.5, 2.0];
/// rotate(&mut x, &seed)?;
/// unrotate(&mut x, &seed)?;
/// assert!((x[0] - 3.0).abs() < 1e-12 && (x[2] - 0.5).abs() < 1e-12);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// [`DpError::Dimension`] unless `x.len()` is a power of two.
pub fn rotate(x: &mut [f64], seed: &[u8; 32]) -> Result<(), DpError> {
    let d = x.len();
    if !d.is_power_of_two() {
        return Err(DpError::Dimension);
    }
    for (v, neg) in x.iter_mut().zip(signs(seed, d)) {
        if neg {
            *v = -*v;
        }
    }
    fwht(x);
    let norm = 1.0 / usize_f64(d).sqrt();
    x.iter_mut().for_each(|v| *v *= norm);
    Ok(())
}

/// `x <- D H x / sqrt(d)`, the inverse of [`rotate`].
///
/// # Errors
/// [`DpError::Dimension`] unless `x.len()` is a power of two.
pub fn unrotate(x: &mut [f64], seed: &[u8; 32]) -> Result<(), DpError> {
    let d = x.len();
    if !d.is_power_of_two() {
        return Err(DpError::Dimension);
    }
    fwht(x);
    let norm = 1.0 / usize_f64(d).sqrt();
    for (v, neg) in x.iter_mut().zip(signs(seed, d)) {
        *v *= if neg { -norm } else { norm };
    }
    Ok(())
}

/// `usize` to `f64` (exact below 2^53; dimensions are below 2^28).
pub(crate) fn usize_f64(n: usize) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        reason = "dimensions and counts are below 2^53"
    )]
    let f = n as f64;
    f
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn dp_fwht_matches_matrix() {
        // H_4 rows: ++++, +-+-, ++--, +--+.
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        fwht(&mut x);
        assert_eq!(x, vec![10.0, -2.0, -4.0, 0.0]);
    }

    #[test]
    fn dp_padding() {
        assert_eq!(padded_len(0), Err(DpError::Dimension));
        assert_eq!(padded_len(1), Ok(1));
        assert_eq!(padded_len(5), Ok(8));
        assert_eq!(padded_len(65536), Ok(65536));
        let mut x = vec![0.0; 3];
        assert_eq!(rotate(&mut x, &[0; 32]), Err(DpError::Dimension));
    }

    /// Known answer, computed from spec/dp.md section 2.2 alone with
    /// Python's hashlib and the `cryptography` package's RFC 8439 ChaCha20:
    /// keystream bytes bf 5d 6e 71 for seed [7; 32].
    #[test]
    fn dp_signs_known_answer() {
        let bits: String = signs(&[7; 32], 32)
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect();
        assert_eq!(bits, "11111101101110100111011010001110");
    }

    #[test]
    fn dp_rotation_keeps_norm() {
        let seed = [1u8; 32];
        let mut x: Vec<f64> = (0..64).map(|i| f64::from(i) - 20.0).collect();
        let n0: f64 = x.iter().map(|v| v * v).sum();
        rotate(&mut x, &seed).unwrap();
        let n1: f64 = x.iter().map(|v| v * v).sum();
        assert!((n0 - n1).abs() < 1e-9 * n0);
        let s = signs(&seed, 64);
        assert!(s.iter().any(|&b| b) && s.iter().any(|&b| !b));
    }
}
