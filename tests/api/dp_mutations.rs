//! Rules of spec/dp.md whose removal or off-by-one change no other test
//! caught: the clip's final shave, the rotation matrix entry by entry, the
//! randomized rounding's probability, conditional rounding's retry limit,
//! and the divisor of `decode_mean`. Every test is seeded: deterministic.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use rand_core::{Rng, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

use secagg::dp::clip::{clip_l2, l2_norm};
use secagg::dp::rotate::{SIGN_LABEL, rotate, signs, unrotate};
use secagg::dp::rounding::{MAX_TRIES, conditional_round, randomized_round};
use secagg::dp::{DpConfig, DpError};

use crate::common::rng;

/// A uniform float in `[-1, 1)`.
fn symmetric(r: &mut impl Rng) -> f64 {
    (r.next_u64() >> 11) as f64 / 4_503_599_627_370_496.0 - 1.0
}

/// spec/dp.md 2.3: "if float rounding leaves the clipped norm above `c`, it
/// is scaled down by a further ulp". Over 2,000 seeded vectors (dimensions
/// 2 to 1,000, norms up to 10^6 times the clip, clips from 1e-3 to 1e3),
/// the clipped norm is never above the clip. Without the final shave,
/// `x c / ||x||` lands an ulp above `c` for a good part of them (the L2
/// sensitivity then exceeds the clip the accountant assumed).
#[test]
fn dp_mutation_clip_shaves_the_last_ulp() {
    let mut r = rng(0xc11b);
    for trial in 0..2000u32 {
        let len = 2 + (r.next_u32() % 999) as usize;
        let clip = 10f64.powf(3.0 * symmetric(&mut r));
        let mut x: Vec<f64> = (0..len).map(|_| symmetric(&mut r)).collect();
        let grow = clip * 10f64.powf(3.0 + 3.0 * symmetric(&mut r)) / l2_norm(&x).unwrap();
        x.iter_mut().for_each(|v| *v *= grow);
        let before = clip_l2(&mut x, clip).unwrap();
        assert!(before > clip, "trial {trial}: not above the clip");
        let after = l2_norm(&x).unwrap();
        assert!(
            after <= clip,
            "trial {trial}: len {len} clip {clip:e}: clipped norm {after:e}"
        );
        assert!(after >= clip * (1.0 - 1e-12), "trial {trial}: {after:e}");
    }
}

/// The sign stream recomputed from spec/dp.md 2.2's words alone: bit `i` of
/// the RFC 8439 ChaCha20 keystream (key `SHA-256(label || seed)`, nonce and
/// counter zero), least significant bit of each byte first.
fn spec_signs(seed: &[u8; 32], d: usize) -> Vec<bool> {
    let key: [u8; 32] = Sha256::new()
        .chain_update(SIGN_LABEL)
        .chain_update(seed)
        .finalize()
        .into();
    let mut bytes = vec![0u8; d.div_ceil(8)];
    ChaCha20::new(&key.into(), &[0u8; 12].into()).apply_keystream(&mut bytes);
    (0..d).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect()
}

/// spec/dp.md 2.2: the rotation is `H D / sqrt(d)` with `H_ij =
/// (-1)^popcount(i AND j)` and `D_ii = -1` exactly when sign bit `i` is
/// set; its inverse is `D H / sqrt(d)`, the transpose. Checked entry by
/// entry (to 1e-12) for every `d` from 1 to 512, by rotating each basis
/// vector, and the signs against the stream recomputed here for every `d`
/// up to 4096. A sign dropped at any one index (the last one included,
/// which the 32-bit known answer does not reach), a normalisation of `1 /
/// d`, or an inverse without the signs changes some entry: the decoded sum
/// would then not be the sum, or the rotation would stop spreading an
/// input's mass (the wrap bound of 3.2 assumes it does).
#[test]
fn dp_mutation_rotation_is_h_d_over_sqrt_d_entry_by_entry() {
    let seed = [7u8; 32];
    let mut last_bit_set = false;
    for log_d in 0..=12 {
        let d = 1usize << log_d;
        let want = spec_signs(&seed, d);
        assert_eq!(signs(&seed, d), want, "d {d}");
        last_bit_set |= want[d - 1];
        if d > 512 {
            continue;
        }
        let norm = 1.0 / (d as f64).sqrt();
        let entry = |i: usize, j: usize| {
            let h = if (i & j).count_ones().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            if want[j] { -h * norm } else { h * norm }
        };
        for k in 0..d {
            let mut e = vec![0.0; d];
            e[k] = 1.0;
            let mut col = e.clone();
            rotate(&mut col, &seed).unwrap();
            // R e_k is column k of R: R_ik = H_ik D_kk / sqrt(d).
            for (i, v) in col.iter().enumerate() {
                assert!((v - entry(i, k)).abs() < 1e-12, "d {d}: R[{i}][{k}] = {v}");
            }
            unrotate(&mut e, &seed).unwrap();
            // R^T e_k is row k of R.
            for (j, v) in e.iter().enumerate() {
                assert!(
                    (v - entry(k, j)).abs() < 1e-12,
                    "d {d}: R^T[{j}][{k}] = {v}"
                );
            }
        }
    }
    assert!(
        last_bit_set,
        "no d whose last sign is set: the check is void"
    );
}

/// spec/dp.md 2.4: each `z_i` rounds to `floor(z_i) + Bernoulli(z_i -
/// floor(z_i))`, so the rounding is unbiased. 10^5 seeded roundings of
/// coordinates with fractional parts 0, 0.1, 0.25, 0.75 and 0.9 (positive
/// and negative): each coordinate's mean is within 0.015 of its value. For
/// a correct sampler Hoeffding bounds the chance of a miss by `2
/// exp(-2 * 10^5 * 0.015^2) = 6e-20` per coordinate; flooring moves the
/// mean by the fractional part (at least 0.1) and inverting the probability
/// by `|1 - 2 frac|` (at least 0.5), both far beyond 0.015. Without the
/// unbiased choice the decoded sum carries a bias of up to `n / s` per
/// coordinate that no noise accounts for.
#[test]
fn dp_mutation_randomized_rounding_is_unbiased() {
    let x = [
        3.0, 0.1, 0.25, 0.75, 0.9, -0.1, -0.25, -0.75, -0.9, 12.25, -7.9,
    ];
    let mut r = rng(0x20d);
    let n = 100_000u32;
    let mut sums = [0i64; 11];
    let mut out = Vec::new();
    for _ in 0..n {
        randomized_round(&x, &mut out, &mut r).unwrap();
        for ((s, &o), &v) in sums.iter_mut().zip(&out).zip(&x) {
            assert!(
                o == v.floor() as i64 || o == v.floor() as i64 + 1,
                "{v}: {o}"
            );
            *s += o;
        }
    }
    for (&s, &v) in sums.iter().zip(&x) {
        let mean = s as f64 / f64::from(n);
        assert!((mean - v).abs() < 0.015, "{v}: mean {mean}");
    }
}

/// A ChaCha20 RNG that counts the 64-bit words drawn (32-bit draws and
/// bytes count as whole words).
struct Counting {
    inner: chacha20::ChaCha20Rng,
    words: u64,
}

impl TryRng for Counting {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.words += 1;
        Ok(self.inner.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.words += 1;
        Ok(self.inner.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.words += dst.len().div_ceil(8) as u64;
        self.inner.fill_bytes(dst);
        Ok(())
    }
}

impl TryCryptoRng for Counting {}

/// spec/dp.md 2.4: conditional rounding repeats the whole vector, and
/// "after 1000 failures the encoder returns `DpError::RoundingFailed`".
/// With a bound no rounding of `[1.5; 8]` can meet (every rounding has norm
/// at least `sqrt(8)`), the error comes after exactly 1000 tries: the RNG
/// gives exactly 1000 times the words of one randomized rounding. One try
/// fewer raises the failure probability of 2.4's `beta^1000`; unbounded
/// retries would hang a client on an infeasible bound.
#[test]
fn dp_mutation_conditional_rounding_gives_up_after_exactly_1000_tries() {
    assert_eq!(MAX_TRIES, 1000);
    let x = [1.5; 8];
    let mut one = Counting {
        inner: rng(0x7e1),
        words: 0,
    };
    let mut out = Vec::new();
    randomized_round(&x, &mut out, &mut one).unwrap();
    assert!(one.words > 0);
    let mut many = Counting {
        inner: rng(0x7e1),
        words: 0,
    };
    assert_eq!(
        conditional_round(&x, 1.0, &mut many),
        Err(DpError::RoundingFailed)
    );
    assert_eq!(many.words, 1000 * one.words);
    // A bound every rounding meets takes one try.
    let mut once = Counting {
        inner: rng(0x7e1),
        words: 0,
    };
    assert_eq!(conditional_round(&x, 6.0, &mut once).unwrap().len(), 8);
    assert_eq!(once.words, one.words);
}

/// spec/dp.md 2.7: "`decode_mean` divides by `|U3|`", the survivors whose
/// encodings are in the sum: not by the roster size `n`, nor by the honest
/// survivors `|U3| - corrupt` that the privacy report counts. Six of ten
/// clients (two assumed corrupt) survive: the mean is the decoded sum over
/// six, to 1e-12, and matches the mean of the six clipped inputs within
/// six predicted standard deviations (little noise: epsilon = 10^4; the
/// seeds fix the draws). Dividing by 10 or 4 would scale every released
/// mean by 0.6 or 1.5.
#[test]
fn dp_mutation_decode_mean_divides_by_the_survivors() {
    let (n, m) = (10u32, 5u32);
    let mut c = DpConfig::new(1e4, 1e-5, 1.0, m, 40, n).unwrap();
    c.min_honest = 8;
    c.corrupt = 2;
    let cal = c.calibrate().unwrap();
    let seed = [0x4du8; 32];
    let mask = (1u64 << 40) - 1;
    let xs: Vec<[f64; 5]> = (0..6)
        .map(|i| {
            let v = f64::from(i + 1) / 20.0;
            [v, -v, 0.5, 0.0, 0.3 - v]
        })
        .collect();
    let mut sum = vec![0u64; cal.padded_dim()];
    let mut r = rng(0x3ea);
    for x in &xs {
        for (s, e) in sum.iter_mut().zip(cal.encode(x, &seed, &mut r).unwrap()) {
            *s = (*s + e) & mask;
        }
    }
    let total = cal.decode_sum(&sum, 6, &seed).unwrap();
    let mean = cal.decode_mean(&sum, 6, &seed).unwrap();
    assert_eq!(mean.report, total.report);
    assert_eq!((mean.report.survivors, mean.report.honest), (6, 4));
    let tol = 6.0 * cal.predicted_mse(6).sqrt() / 6.0;
    assert!(tol < 0.01, "noise too large for the check: {tol}");
    for j in 0..m as usize {
        assert!(
            (mean.values[j] * 6.0 - total.values[j]).abs()
                <= 1e-12 * total.values[j].abs().max(1.0),
            "coordinate {j}: {} vs {} / 6",
            mean.values[j],
            total.values[j]
        );
        // Every input has norm below the clip (at most 0.66): the mean is
        // unclipped.
        let want = xs.iter().map(|x| x[j]).sum::<f64>() / 6.0;
        assert!(
            (mean.values[j] - want).abs() < tol,
            "coordinate {j}: {} vs {want}",
            mean.values[j]
        );
    }
}
