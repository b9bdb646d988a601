//! spec/dp.md's deterministic parts implemented a second time from the page
//! alone (module `spec_ref`: padding 2.1, the sign stream and the rotation
//! 2.2, clipping 2.3, `Delta_2` and `Delta_1` 2.4, the server decode 2.7,
//! calibration 3, accounting 5, the configuration encoding 6, quantisation
//! 7), and compared with the library's public API over a grid of
//! configurations. Exact bytes where the page defines bytes (the signs, the
//! configuration encoding, the validation errors); floats to the tolerance
//! stated at each comparison. Plain `f64` throughout, as the page.

use rand_core::Rng;
use secagg::dp::accounting::{self, Mechanism};
use secagg::dp::clip::{clip_l2, l2_norm};
use secagg::dp::noise::{DiscreteGaussian, Noise};
use secagg::dp::rotate::{fwht, padded_len, rotate, signs, unrotate};
use secagg::dp::{Calibration, DpConfig, DpError, Quantizer, WeightedQuantizer, bits_for};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use crate::common::rng;

/// The reference implementation: every function follows the section of
/// spec/dp.md it names, and nothing else.
mod spec_ref {
    use super::Mechanism;

    // ---- 2.1 ----

    /// `d = 2^ceil(log2 m)`.
    pub fn padded(m: usize) -> usize {
        let mut d = 1;
        while d < m {
            d *= 2;
        }
        d
    }

    // ---- 2.2: RFC 8439 ChaCha20, written out ----

    fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }

    /// RFC 8439 section 2.3: one 64-byte block.
    pub fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let mut init = [0u32; 16];
        init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
        for i in 0..8 {
            init[4 + i] = word(&key[4 * i..]);
        }
        init[12] = counter;
        for i in 0..3 {
            init[13 + i] = word(&nonce[4 * i..]);
        }
        let mut s = init;
        for _ in 0..10 {
            quarter(&mut s, 0, 4, 8, 12);
            quarter(&mut s, 1, 5, 9, 13);
            quarter(&mut s, 2, 6, 10, 14);
            quarter(&mut s, 3, 7, 11, 15);
            quarter(&mut s, 0, 5, 10, 15);
            quarter(&mut s, 1, 6, 11, 12);
            quarter(&mut s, 2, 7, 8, 13);
            quarter(&mut s, 3, 4, 9, 14);
        }
        let mut out = [0u8; 64];
        for i in 0..16 {
            out[4 * i..4 * i + 4].copy_from_slice(&s[i].wrapping_add(init[i]).to_le_bytes());
        }
        out
    }

    /// 2.2: `true` (`D_ii = -1`) when bit `i` of the keystream under
    /// `SHA-256("secagg/v1/dp-rotation" || seed)`, nonce 0, counter 0, is 1;
    /// bit `i mod 8` (least significant first) of byte `floor(i / 8)`.
    pub fn sign_bits(seed: &[u8; 32], d: usize) -> Vec<bool> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"secagg/v1/dp-rotation");
        h.update(seed);
        let key: [u8; 32] = h.finalize().into();
        let mut stream = Vec::new();
        let mut counter = 0u32;
        while stream.len() * 8 < d {
            stream.extend_from_slice(&chacha20_block(&key, counter, &[0; 12]));
            counter += 1;
        }
        (0..d)
            .map(|i| (stream[i / 8] >> (i % 8)) & 1 == 1)
            .collect()
    }

    /// `H_ij = (-1)^popcount(i AND j)`.
    fn h(i: usize, j: usize) -> f64 {
        if (i & j).count_ones().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        }
    }

    fn d_sign(neg: bool) -> f64 {
        if neg { -1.0 } else { 1.0 }
    }

    /// `H x`, by the matrix (O(d^2)).
    pub fn hadamard(x: &[f64]) -> Vec<f64> {
        (0..x.len())
            .map(|i| x.iter().enumerate().map(|(j, v)| h(i, j) * v).sum())
            .collect()
    }

    /// `H D x / sqrt(d)`, by the matrix.
    pub fn rotate(x: &[f64], seed: &[u8; 32]) -> Vec<f64> {
        let d = x.len();
        let s = sign_bits(seed, d);
        let dx: Vec<f64> = x.iter().zip(&s).map(|(v, &n)| d_sign(n) * v).collect();
        hadamard(&dx)
            .iter()
            .map(|v| v / (d as f64).sqrt())
            .collect()
    }

    /// `D H x / sqrt(d)`, by the matrix.
    pub fn unrotate(x: &[f64], seed: &[u8; 32]) -> Vec<f64> {
        let d = x.len();
        let s = sign_bits(seed, d);
        hadamard(x)
            .iter()
            .zip(&s)
            .map(|(v, &n)| d_sign(n) * v / (d as f64).sqrt())
            .collect()
    }

    // ---- 2.3 ----

    /// `||y||_2`, scaled by the largest magnitude.
    pub fn norm(y: &[f64]) -> f64 {
        let big = y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if big == 0.0 {
            return 0.0;
        }
        big * y.iter().map(|v| (v / big) * (v / big)).sum::<f64>().sqrt()
    }

    /// `y min(1, c / ||y||)`, the direction kept even when `||y||` overflows.
    pub fn clip(y: &[f64], c: f64) -> Vec<f64> {
        let big = y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if big == 0.0 {
            return y.to_vec();
        }
        let unit: Vec<f64> = y.iter().map(|v| v / big).collect();
        let n_unit = unit.iter().map(|v| v * v).sum::<f64>().sqrt();
        // ||y|| = big n_unit; clip when it exceeds c.
        if big * n_unit <= c {
            return y.to_vec();
        }
        unit.iter().map(|v| v * (c / n_unit)).collect()
    }

    // ---- 2.4 ----

    /// `Delta_2` for the scaled clip `sc`.
    pub fn delta2(sc: f64, beta: f64, d: usize) -> f64 {
        let rd = (d as f64).sqrt();
        let first = sc + rd;
        if beta > 0.0 {
            let second =
                (sc * sc + d as f64 / 4.0 + (2.0 * (1.0 / beta).ln()).sqrt() * (sc + rd / 2.0))
                    .sqrt();
            first.min(second)
        } else {
            first
        }
    }

    /// `Delta_1 = Delta_2 min(sqrt(d), Delta_2)`.
    pub fn delta1(d2: f64, d: usize) -> f64 {
        d2 * (d as f64).sqrt().min(d2)
    }

    // ---- 5.1 ----

    /// `g(alpha) = rho alpha + ln(1 - 1/alpha) - (ln delta + ln alpha) / (alpha - 1)`.
    fn g(rho: f64, alpha: f64, ln_delta: f64) -> f64 {
        rho * alpha + (-1.0 / alpha).ln_1p() - (ln_delta + alpha.ln()) / (alpha - 1.0)
    }

    /// The continuous minimiser: the root of `rho (a - 1)^2 + ln a + ln
    /// delta = 0`, by bisection on `u = ln(a - 1)` up to `-ln delta`.
    fn alpha_star(rho: f64, ln_delta: f64) -> f64 {
        let f = |u: f64| rho * (2.0 * u).exp() + u.exp().ln_1p() + ln_delta;
        // The page's 200 steps; 80 already reach the float resolution of u.
        1.0 + root(-40.0, -ln_delta, 80, f).exp()
    }

    /// The upper end after `steps` bisection steps on `[lo, hi]` for the
    /// sign change of an increasing `f`.
    fn root(mut lo: f64, mut hi: f64, steps: u32, f: impl Fn(f64) -> f64) -> f64 {
        for _ in 0..steps {
            let mid = 0.5 * (lo + hi);
            if f(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// 5.1, continuous `alpha`: `zcdp_epsilon(rho, delta)`.
    pub fn zcdp(rho: f64, delta: f64) -> f64 {
        if rho == 0.0 {
            return 0.0;
        }
        let ln_delta = delta.ln();
        let a = alpha_star(rho, ln_delta);
        let e = g(rho, a, ln_delta);
        if e.is_nan() {
            f64::INFINITY
        } else {
            e.max(0.0)
        }
    }

    /// 5.1, integer `alpha >= 2`: the better of `max(2, floor(alpha*))`
    /// and that plus 1.
    pub fn rdp_to_dp(xi: f64, rho: f64, delta: f64) -> f64 {
        let ln_delta = delta.ln();
        let a = alpha_star(rho, ln_delta);
        let best = [a.floor().max(2.0), a.floor().max(2.0) + 1.0]
            .iter()
            .map(|&k| g(rho, k, ln_delta))
            .fold(f64::INFINITY, f64::min);
        // g's minimum is clamped at 0 before xi is added.
        if best.is_nan() {
            f64::INFINITY
        } else {
            xi + best.max(0.0)
        }
    }

    // ---- 5.2 ----

    /// `tau = 10 sum_{k=1}^{h-1} exp(-2 pi^2 sigma^2 k / (k + 1))`, exact
    /// to `k = 10^4`, each later term its limit.
    pub fn tau(sigma: f64, h: u64) -> f64 {
        let c = 2.0 * std::f64::consts::PI * std::f64::consts::PI * sigma * sigma;
        if (-c / 2.0).exp() == 0.0 {
            return 0.0; // every term underflows
        }
        let exact = h.saturating_sub(1).min(10_000);
        let mut t: f64 = (1..=exact)
            .map(|k| (-c * k as f64 / (k as f64 + 1.0)).exp())
            .sum();
        let rest = h.saturating_sub(1).saturating_sub(10_000);
        if rest > 0 {
            t += rest as f64 * (-c * 1e4 / 10_001.0).exp();
        }
        10.0 * t
    }

    /// 5.2 with 5.1's integer-order conversion and `T`-fold composition.
    pub fn epsilon(
        mech: Mechanism,
        d2: f64,
        d: usize,
        sigma: f64,
        h: u64,
        rounds: u32,
        delta: f64,
    ) -> f64 {
        if h == 0 {
            return f64::INFINITY;
        }
        let t = f64::from(rounds);
        let v = h as f64 * sigma * sigma;
        let d1 = delta1(d2, d);
        let df = d as f64;
        let pairs: Vec<(f64, f64)> = match mech {
            Mechanism::DiscreteGaussian => {
                if sigma < 0.5 {
                    return f64::INFINITY;
                }
                let l2 = d2 / v.sqrt();
                let l1 = d1 / v.sqrt();
                let tau = tau(sigma, h);
                vec![
                    (tau * df, l2 * l2 / 2.0),
                    (0.0, (l2 * l2 + 2.0 * l1 * tau + tau * tau * df) / 2.0),
                    (0.0, (l2 + df.sqrt() * tau).powi(2) / 2.0),
                ]
            }
            _ => vec![
                (
                    (6.0 * d1 - d2 * d2) / (4.0 * v * v),
                    d2 * d2 / (2.0 * v) + d2 * d2 / (2.0 * v * v),
                ),
                (3.0 * d1 / (2.0 * v), d2 * d2 / (2.0 * v)),
            ],
        };
        pairs
            .iter()
            .map(|&(xi, rho)| rdp_to_dp(t * xi, t * rho, delta))
            .fold(f64::INFINITY, f64::min)
    }

    // ---- 3.1 ----

    /// The smallest `sigma` in `[2^-8, 2^20]` meeting the target, by 64
    /// steps of bisection on `ln sigma`; `None` when `2^20` does not.
    pub fn sigma_for(
        mech: Mechanism,
        d2: f64,
        d: usize,
        h: u64,
        rounds: u32,
        delta: f64,
        target: f64,
    ) -> Option<f64> {
        let ok = |ls: f64| epsilon(mech, d2, d, ls.exp(), h, rounds, delta) <= target;
        let (mut lo, mut hi) = ((2.0f64).powi(-8).ln(), (2.0f64).powi(20).ln());
        if !ok(hi) {
            return None;
        }
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if ok(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi.exp())
    }

    // ---- 3.2 ----

    /// The sigma the sampler holds (section 4): the discrete Gaussian's
    /// `sqrt(ceil(sigma^2 2^16) / 2^16)`, the Skellam's sigma.
    pub fn held_sigma(mech: Mechanism, sigma: f64) -> f64 {
        match mech {
            Mechanism::DiscreteGaussian => ((sigma * sigma * 65_536.0).ceil() / 65_536.0).sqrt(),
            _ => sigma,
        }
    }

    /// `2 d exp(min_l [l^2 v / 2 + K(l) - l B])`.
    pub fn wrap(mech: Mechanism, bits: u8, d: usize, n: u64, c: f64, s: f64, sigma: f64) -> f64 {
        let nf = n as f64;
        let v = (nf * c * s).powi(2) / d as f64 + nf / 4.0;
        let b = 2.0f64.powi(i32::from(bits) - 1) - 1.0;
        let ns2 = nf * sigma * sigma;
        let exponent = match mech {
            Mechanism::DiscreteGaussian => -b * b / (2.0 * (v + ns2)),
            _ => {
                // f'(l) = l v + n sigma^2 sinh l - B, increasing from -B.
                let fp = |l: f64| l * v + ns2 * l.sinh() - b;
                let l = root(0.0, (b / v).min((b / ns2).asinh()), 200, fp);
                // cosh l - 1 = 2 sinh^2(l / 2), without cancellation.
                l * l * v / 2.0 + ns2 * 2.0 * (l / 2.0).sinh().powi(2) - l * b
            }
        };
        2.0 * d as f64 * exponent.exp()
    }

    /// 3.2: the largest `s = 2^x`, `x` by 60 steps of bisection over `[-40,
    /// 64]`, whose noise exists and whose wrap bound is within the
    /// configured one. Returns `(s, sigma)`, or `None` (`ScaleDoesNotFit`).
    #[allow(clippy::too_many_arguments, reason = "the configuration's fields")]
    pub fn calibrate(
        mech: Mechanism,
        epsilon_target: f64,
        delta: f64,
        c: f64,
        beta: f64,
        wrap_p: f64,
        m: usize,
        bits: u8,
        n: u64,
        min_honest: u64,
        rounds: u32,
    ) -> Option<(f64, f64)> {
        let d = padded(m);
        let try_scale = |x: f64| {
            let s = x.exp2();
            let sigma = sigma_for(
                mech,
                delta2(s * c, beta, d),
                d,
                min_honest,
                rounds,
                delta,
                epsilon_target,
            )?;
            let held = held_sigma(mech, sigma);
            (wrap(mech, bits, d, n, c, s, held) <= wrap_p).then_some((s, sigma))
        };
        let (mut lo, mut hi) = (-40.0f64, 64.0f64);
        let mut best = try_scale(lo)?;
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            match try_scale(mid) {
                Some(found) => {
                    best = found;
                    lo = mid;
                }
                None => hi = mid,
            }
        }
        Some(best)
    }

    // ---- 5.3 ----

    /// `epsilon_reached` for `survivors` given the calibrated `sigma` and
    /// `Delta_2`.
    #[allow(clippy::too_many_arguments, reason = "the configuration's fields")]
    pub fn reached(
        mech: Mechanism,
        d2: f64,
        d: usize,
        sigma: f64,
        survivors: u64,
        corrupt: u64,
        min_honest: u64,
        rounds: u32,
        delta: f64,
    ) -> f64 {
        let honest = survivors.saturating_sub(corrupt);
        let at = epsilon(mech, d2, d, sigma, honest, rounds, delta);
        if honest > min_honest {
            at.min(epsilon(mech, d2, d, sigma, min_honest, rounds, delta))
        } else {
            at
        }
    }
}

/// RFC 8439 section 2.3.2's block, so the reference ChaCha20 is itself
/// checked before it judges the library.
#[test]
fn dp_spec_reference_chacha20_is_rfc8439() {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let nonce = [0, 0, 0, 0x09, 0, 0, 0, 0x4a, 0, 0, 0, 0];
    let block = spec_ref::chacha20_block(&key, 1, &nonce);
    let want = "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
                d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
    let got: String = block.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got, want);
}

/// 2.1 and 2.2: padding, the sign stream bit for bit (at lengths that are
/// not multiples of 8 nor of a block, `d = 1` included), the unnormalised
/// transform, and the rotation and its inverse against the matrices.
#[test]
fn dp_spec_padding_signs_and_rotation_match_the_page() {
    for m in [
        1usize,
        2,
        3,
        5,
        8,
        9,
        100,
        1000,
        1024,
        1025,
        65_537,
        1 << 28,
    ] {
        assert_eq!(padded_len(m), Ok(spec_ref::padded(m)), "m = {m}");
    }
    let mut r = rng(1);
    for (k, d) in [
        1usize, 2, 3, 7, 8, 9, 63, 64, 511, 512, 513, 1000, 4096, 5000,
    ]
    .into_iter()
    .enumerate()
    {
        let mut seed = [0u8; 32];
        r.fill_bytes(&mut seed);
        if k == 0 {
            seed = [0; 32];
        }
        assert_eq!(signs(&seed, d), spec_ref::sign_bits(&seed, d), "d = {d}");
    }
    // The key is SHA-256 of the label then the seed, exactly.
    let mut h = Sha256::new();
    h.update(secagg::dp::rotate::SIGN_LABEL);
    h.update([1u8; 32]);
    let key: [u8; 32] = h.finalize().into();
    let block = spec_ref::chacha20_block(&key, 0, &[0; 12]);
    let bits: Vec<bool> = (0..512)
        .map(|i| (block[i / 8] >> (i % 8)) & 1 == 1)
        .collect();
    assert_eq!(signs(&[1; 32], 512), bits);

    for d in [1usize, 2, 4, 8, 64, 256] {
        let mut seed = [0u8; 32];
        r.fill_bytes(&mut seed);
        let x: Vec<f64> = (0..d)
            .map(|_| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            .collect();
        let scale = spec_ref::norm(&x).max(1e-300);
        let mut h_lib = x.clone();
        fwht(&mut h_lib);
        let h_ref = spec_ref::hadamard(&x);
        let mut y = x.clone();
        rotate(&mut y, &seed).unwrap();
        let y_ref = spec_ref::rotate(&x, &seed);
        let mut z = x.clone();
        unrotate(&mut z, &seed).unwrap();
        let z_ref = spec_ref::unrotate(&x, &seed);
        for i in 0..d {
            // Float rounding of O(d) additions: 1e-12 of the norm.
            assert!(
                (h_lib[i] - h_ref[i]).abs() <= 1e-12 * scale * (d as f64).sqrt(),
                "H, d = {d}"
            );
            assert!(
                (y[i] - y_ref[i]).abs() <= 1e-12 * scale,
                "rotate, d = {d}, i = {i}"
            );
            assert!(
                (z[i] - z_ref[i]).abs() <= 1e-12 * scale,
                "unrotate, d = {d}, i = {i}"
            );
        }
    }
    // d = 1: the rotation is the sign alone.
    for b in 0..=255u8 {
        let seed = [b; 32];
        let mut y = [2.5];
        rotate(&mut y, &seed).unwrap();
        assert_eq!(
            y[0],
            if spec_ref::sign_bits(&seed, 1)[0] {
                -2.5
            } else {
                2.5
            }
        );
    }
}

/// 2.3: the norm and the clip, including norms past `f64::MAX` and clips
/// whose ratio underflows; the clipped norm never exceeds `c`.
#[test]
fn dp_spec_clipping_matches_the_page() {
    let mut r = rng(2);
    let mut cases: Vec<(Vec<f64>, f64)> = vec![
        (vec![3.0, 4.0], 1.0),
        (vec![3.0, 4.0], 5.0),
        (vec![3.0, 4.0], 7.0),
        (vec![0.0; 5], 1.0),
        (vec![f64::MAX, f64::MAX, -f64::MAX], 1.0),
        (vec![1e300, -1e300], 1e-300),
        (vec![f64::MAX, 1.0], 1e-310),
        (vec![5e-324, 5e-324], 1e-320),
        (vec![1e-200; 7], 1e-250),
        (vec![-2.0], 0.5),
    ];
    for _ in 0..200 {
        let len = 1 + (r.next_u32() % 40) as usize;
        let e = (r.next_u32() % 600) as i32 - 300;
        let x: Vec<f64> = (0..len)
            .map(|_| ((r.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 10f64.powi(e))
            .collect();
        let c = 10f64.powi((r.next_u32() % 600) as i32 - 300);
        cases.push((x, c));
    }
    for (x, c) in cases {
        let n_ref = spec_ref::norm(&x);
        let n_lib = l2_norm(&x).unwrap();
        assert!(
            n_lib == n_ref || (n_lib - n_ref).abs() <= 4.0 * f64::EPSILON * n_ref,
            "norm {n_lib} vs {n_ref}"
        );
        let mut y = x.clone();
        let before = clip_l2(&mut y, c).unwrap();
        assert!(before == n_ref || (before - n_ref).abs() <= 4.0 * f64::EPSILON * n_ref);
        let y_ref = spec_ref::clip(&x, c);
        let after = spec_ref::norm(&y);
        assert!(after <= c, "clipped norm {after} above {c}");
        // Same vector to a few ulps of the clipped norm (the last-ulp shave
        // included).
        let tol = 8.0 * f64::EPSILON * spec_ref::norm(&y_ref);
        for (a, b) in y.iter().zip(&y_ref) {
            assert!((a - b).abs() <= tol, "clip of {x:?} at {c}: {a} vs {b}");
        }
    }
}

/// 2.4: `Delta_2` over scaled clips, betas (0 included) and dimensions.
#[test]
fn dp_spec_rounded_bounds_match_the_page() {
    for d in [1usize, 2, 64, 1024, 1 << 20] {
        for sc in [0.0, 1e-3, 1.0, 17.5, 1e4, 1e9] {
            for beta in [0.0, 1e-300, 1e-9, (-0.5f64).exp(), 0.5, 0.999_999] {
                let got = accounting::rounded_l2_bound(sc, beta, d);
                let want = spec_ref::delta2(sc, beta, d);
                assert!(
                    (got - want).abs() <= 1e-14 * want,
                    "d {d} sc {sc} beta {beta}: {got} vs {want}"
                );
            }
        }
    }
}

/// The grid of configurations the calibration, accounting and report are
/// compared over: both mechanisms, several epsilon, delta (1e-300 among
/// them), clip, beta, bits, clients, min_honest, corrupt and rounds, `m`
/// not a power of two, `m = 1`.
fn grid() -> Vec<DpConfig> {
    type Row = (f64, f64, f64, f64, u32, u8, u32, u32, u32, u32);
    let mut out = Vec::new();
    #[rustfmt::skip]
    let rows: [Row; 9] = [
        // epsilon, delta, clip, beta, m, bits, n, min_honest, corrupt, rounds
        (1.0, 1e-5, 1.0, (-0.5f64).exp(), 1000, 20, 100, 80, 10, 1),
        (0.5, 1e-9, 0.1, 0.1, 6, 24, 10, 7, 3, 3),
        (5.0, 1e-5, 1.0, (-0.5f64).exp(), 1, 16, 10, 10, 0, 1),
        (3.0, 1e-300, 2.0, (-0.5f64).exp(), 3, 32, 50, 40, 5, 2),
        (1.0, 0.5, 1.0, 0.9, 33, 12, 5, 1, 0, 1),
        (2.0, 1e-7, 0.5, 0.0, 700, 64, 1000, 500, 100, 10),
        (0.3, 1e-12, 1.0, 1e-6, 2, 36, 3000, 2500, 100, 4),
        (1.0, 1e-5, 1.0, (-0.5f64).exp(), 300, 32, 1 << 20, 1, 0, 1),
        (20.0, 1e-5, 1.0, (-0.5f64).exp(), 1, 8, 3, 2, 1, 1),
    ];
    for (epsilon, delta, clip, beta, dim, bits, clients, min_honest, corrupt, rounds) in rows {
        for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
            let mut c = DpConfig::new(epsilon, delta, clip, dim, bits, clients).unwrap();
            c.mechanism = mechanism;
            c.beta = beta;
            c.min_honest = min_honest;
            c.corrupt = corrupt;
            c.rounds = rounds;
            c.validate().unwrap();
            out.push(c);
        }
    }
    out
}

/// A grid configuration, its calibration by the library and by the page.
struct Calibrated {
    config: DpConfig,
    lib: Result<Calibration, DpError>,
    page: Option<(f64, f64)>,
}

/// The grid calibrated once for every test that uses it (a calibration is
/// about 0.1 s).
fn calibrated() -> &'static [Calibrated] {
    static CELL: OnceLock<Vec<Calibrated>> = OnceLock::new();
    CELL.get_or_init(|| {
        let one = |config: DpConfig| Calibrated {
            config,
            lib: config.calibrate(),
            page: ref_calibrate(&config),
        };
        let (first, second): (Vec<_>, Vec<_>) = grid()
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| second.into_iter().map(|(_, c)| one(c)).collect::<Vec<_>>());
            let mut out: Vec<Calibrated> = first.into_iter().map(|(_, c)| one(c)).collect();
            out.extend(other.join().unwrap());
            out
        })
    })
}

fn ref_calibrate(c: &DpConfig) -> Option<(f64, f64)> {
    spec_ref::calibrate(
        c.mechanism,
        c.epsilon,
        c.delta,
        c.clip,
        c.beta,
        c.wrap_probability,
        c.dim as usize,
        c.bits,
        u64::from(c.clients),
        u64::from(c.min_honest),
        c.rounds,
    )
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

/// 5.1: the zCDP conversion (continuous `alpha`) and the Rényi conversion
/// at integer orders, through the mechanisms' epsilon, over rho from 1e-12
/// to 1e4 and delta from 5e-324 to 0.9.
#[test]
fn dp_spec_zcdp_conversion_matches_the_page() {
    for delta in [5e-324, 1e-320, 1e-300, 1e-12, 1e-5, 0.01, 0.5, 0.9] {
        for rho in [1e-12, 1e-6, 1e-3, 0.01, 0.5, 1.0, 10.0, 1e4] {
            let got = accounting::zcdp_epsilon(rho, delta);
            let want = spec_ref::zcdp(rho, delta);
            assert!(
                rel(got, want) <= 1e-9,
                "rho {rho} delta {delta}: {got} vs {want}"
            );
        }
        assert_eq!(accounting::zcdp_epsilon(0.0, delta), 0.0);
    }
}

/// 5.2: tau and both mechanisms' epsilon at given (Delta_2, d, sigma,
/// honest, T, delta), sigma across 1/2 and the sampler's range.
#[test]
fn dp_spec_accounting_matches_the_page() {
    for sigma in [0.3, 0.5, 0.7, 1.0, 2.0, 10.0] {
        for h in [0u64, 1, 2, 10, 10_001, 10_002, 50_000] {
            let got = accounting::ddg_tau(sigma, h);
            let want = spec_ref::tau(sigma, h);
            assert!(
                rel(got, want) <= 1e-12,
                "tau sigma {sigma} h {h}: {got} vs {want}"
            );
        }
    }
    for mech in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        for d in [1usize, 8, 1024] {
            for d2 in [0.5, 3.0, 100.0, 1e5] {
                for sigma in [0.4, 0.5, 0.6, 2.0, 50.0, 1e4] {
                    for h in [0u64, 1, 3, 100, 20_000] {
                        for (rounds, delta) in [(1u32, 1e-5), (7, 1e-300), (1, 0.3)] {
                            let got = accounting::epsilon(mech, d2, d, sigma, h, rounds, delta);
                            let want = spec_ref::epsilon(mech, d2, d, sigma, h, rounds, delta);
                            assert!(
                                rel(got, want) <= 1e-9 || (got.is_infinite() && want.is_infinite()),
                                "{mech:?} d {d} d2 {d2} sigma {sigma} h {h} T {rounds} delta {delta}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// 3.2: the wrap bound of both mechanisms, the noise dominating (where the
/// Skellam's `cosh l - 1` is small) or not, up to 64 bits.
#[test]
fn dp_spec_wrap_bound_matches_the_page() {
    for mech in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        for (bits, d, n, c, s, sigma) in [
            (20u8, 65_536usize, 100u64, 1.0, 17_000.0, 6_900.0),
            (20, 65_536, 100, 1.0, 34_000.0, 13_800.0),
            (16, 1, 10, 1.0, 100.0, 30.0),
            (32, 1024, 1000, 1.0, 1e5, 1e4),
            (32, 1024, 1000, 1e-6, 1.0, 1e6),
            (40, 4, 1 << 20, 1.0, 1e3, 1e6),
            (64, 1024, 1 << 24, 1.0, 1e6, 1e6),
            (64, 2, 3, 1.0, 1e15, 1.0),
            (8, 8, 3, 1.0, 1.0, 1.0),
            // The noise dominates and the minimising l is about 2e-9, where
            // cosh l - 1 computed directly is 0.
            (36, 4, 1 << 24, 1e-9, 1.0, 1_048_576.0),
            (32, 1024, 1 << 20, 1e-3, 1.0, 3e5),
        ] {
            let got = accounting::wrap_bound(mech, bits, d, n, c, s, sigma);
            let want = spec_ref::wrap(mech, bits, d, n, c, s, sigma);
            assert!(
                rel(got, want) <= 1e-6 || (got.min(1.0) == 1.0 && want >= 1.0),
                "{mech:?} b {bits} d {d} n {n} c {c} s {s} sigma {sigma}: {got} vs {want}"
            );
        }
    }
}

/// Section 3 end to end: the scale and per-client noise of every grid
/// configuration agree with the reference calibration, meet the target and
/// the wrap bound by the reference's own accounting, and are tight; the
/// sensitivity is `Delta_2(s)`; section 4's grid holds the discrete
/// Gaussian's `sigma^2` as `ceil(sigma^2 2^16) / 2^16`.
#[test]
fn dp_spec_calibration_matches_the_page() {
    for row in calibrated() {
        let (c, lib, want) = (row.config, row.lib, row.page);
        let (cal, (s, sigma)) = match (lib, want) {
            (Ok(cal), Some(w)) => (cal, w),
            (Err(DpError::ScaleDoesNotFit), None) => continue,
            (l, w) => panic!("{c:?}: library {l:?}, page {w:?}"),
        };
        let d = spec_ref::padded(c.dim as usize);
        assert_eq!(cal.padded_dim(), d);
        assert!(
            rel(cal.scale(), s) <= 1e-12,
            "{c:?}: s {} vs {s}",
            cal.scale()
        );
        let d2 = spec_ref::delta2(cal.scale() * c.clip, c.beta, d);
        assert!(
            rel(cal.sensitivity(), d2) <= 1e-14,
            "{c:?}: Delta_2 {} vs {d2}",
            cal.sensitivity()
        );
        let lib_sigma = cal.local_sigma();
        match cal.noise() {
            Noise::Gaussian(g) => {
                let grid = (sigma * sigma * 65_536.0).ceil() / 65_536.0;
                assert!(
                    rel(g.sigma_squared(), grid) <= 1e-9,
                    "{c:?}: sigma^2 {} vs {grid}",
                    g.sigma_squared()
                );
                assert_eq!(DiscreteGaussian::new(sigma).unwrap().sigma_squared(), grid);
            }
            Noise::Skellam(k) => assert!(rel(k.variance(), sigma * sigma) <= 1e-9),
        }
        assert!(
            rel(lib_sigma, spec_ref::held_sigma(c.mechanism, sigma)) <= 1e-9,
            "{c:?}: sigma {lib_sigma} vs {sigma}"
        );
        // The library's choice meets the page's conditions by the page's
        // own accounting...
        let h = u64::from(c.min_honest);
        let e = spec_ref::epsilon(c.mechanism, d2, d, lib_sigma, h, c.rounds, c.delta);
        assert!(e <= c.epsilon * (1.0 + 1e-9), "{c:?}: epsilon {e}");
        let w = spec_ref::wrap(
            c.mechanism,
            c.bits,
            d,
            u64::from(c.clients),
            c.clip,
            cal.scale(),
            lib_sigma,
        );
        assert!(w <= c.wrap_probability * (1.0 + 1e-6), "{c:?}: wrap {w}");
        assert!(
            rel(cal.wrap_bound(), w) <= 1e-6,
            "{c:?}: wrap bound {} vs {w}",
            cal.wrap_bound()
        );
        // ...and is tight: a scale 1e-6 larger is not feasible.
        let s_up = cal.scale() * (1.0 + 1e-6);
        let d2_up = spec_ref::delta2(s_up * c.clip, c.beta, d);
        let feasible = spec_ref::sigma_for(c.mechanism, d2_up, d, h, c.rounds, c.delta, c.epsilon)
            .is_some_and(|sg| {
                spec_ref::wrap(
                    c.mechanism,
                    c.bits,
                    d,
                    u64::from(c.clients),
                    c.clip,
                    s_up,
                    sg,
                ) <= c.wrap_probability
            });
        assert!(
            !feasible || cal.scale() >= 2f64.powi(63),
            "{c:?}: s is not the largest"
        );
    }
}

/// 5.3: the report for survivor counts around `min_honest + corrupt`, and
/// the release rule of 2.7: with the limit at the target and at the epsilon
/// reached one below `min_honest` honest survivors, a sum is refused
/// exactly when the reached epsilon exceeds the limit (equal releases).
#[test]
fn dp_spec_report_and_release_match_the_page() {
    for (i, row) in calibrated().iter().enumerate() {
        let (c, Ok(cal)) = (row.config, row.lib) else {
            continue;
        };
        let d = cal.padded_dim();
        let k = u64::from(c.corrupt);
        let mh = u64::from(c.min_honest);
        let mut counts = vec![
            0u64,
            1,
            k,
            k + 1,
            mh + k - 1,
            mh + k,
            mh + k + 1,
            u64::from(c.clients),
        ];
        if c.clients < 20_000 {
            counts.push(u64::from(c.clients) * 3);
        }
        let mut reached = Vec::new();
        for &survivors in &counts {
            let r = cal.report(survivors as usize);
            let honest = survivors.saturating_sub(k);
            assert_eq!(r.honest as u64, honest);
            assert_eq!(r.survivors as u64, survivors);
            assert_eq!(
                (r.epsilon, r.delta, r.min_honest, r.rounds),
                (c.epsilon, c.delta, c.min_honest, c.rounds)
            );
            let want = spec_ref::reached(
                c.mechanism,
                cal.sensitivity(),
                d,
                cal.local_sigma(),
                survivors,
                k,
                mh,
                c.rounds,
                c.delta,
            );
            assert!(
                rel(r.epsilon_reached, want) <= 1e-9
                    || (r.epsilon_reached.is_infinite() && want.is_infinite()),
                "{c:?} survivors {survivors}: {} vs {want}",
                r.epsilon_reached
            );
            if honest >= mh {
                assert!(
                    r.epsilon_reached <= c.epsilon * (1.0 + 1e-9),
                    "{c:?} survivors {survivors}"
                );
            }
            reached.push(r.epsilon_reached);
        }
        let zeros = vec![0u64; d];
        let below = reached[4];
        // One limit per configuration (each is a calibration): the epsilon
        // reached one below min_honest where that is a valid limit (the
        // equal case releases), else the target.
        let limit = if below.is_finite() && below >= c.epsilon {
            below
        } else {
            c.epsilon
        };
        if i % 4 == 0 {
            let mut lc = c;
            lc.epsilon_limit = Some(limit);
            if lc.validate().is_err() {
                continue;
            }
            let lcal = lc.calibrate().unwrap();
            assert_eq!(
                (lcal.scale(), lcal.local_sigma()),
                (cal.scale(), cal.local_sigma())
            );
            for (&survivors, &e) in counts.iter().zip(&reached) {
                let out = lcal.decode_sum(&zeros, survivors as usize, &[3; 32]);
                if e > limit || e.is_nan() {
                    assert_eq!(
                        out.unwrap_err(),
                        DpError::ReleaseRefused,
                        "{lc:?} {survivors}"
                    );
                } else {
                    assert!(out.is_ok(), "{lc:?} {survivors}");
                }
            }
        }
    }
}

/// 2.7: the server decode of arbitrary sums (centred lift, divide by s,
/// `D H / sqrt(d)`, truncate to m) and the mean (divide by |U3|).
#[test]
fn dp_spec_server_decode_matches_the_page() {
    let mut r = rng(3);
    for row in calibrated() {
        let (c, Ok(cal)) = (row.config, row.lib) else {
            continue;
        };
        let (m, bits) = (c.dim, c.bits);
        let d = cal.padded_dim();
        let modulus = if c.bits == 64 { 0 } else { 1u64 << c.bits };
        let mut seed = [0u8; 32];
        r.fill_bytes(&mut seed);
        let mut sum: Vec<u64> = (0..d)
            .map(|_| {
                if modulus == 0 {
                    r.next_u64()
                } else {
                    r.next_u64() % modulus
                }
            })
            .collect();
        sum[0] = if modulus == 0 { 1 << 63 } else { modulus / 2 }; // -2^(b-1)
        if d > 1 {
            sum[1] = if modulus == 0 {
                (1 << 63) - 1
            } else {
                modulus / 2 - 1
            }; // 2^(b-1) - 1
        }
        let lifted: Vec<f64> = sum
            .iter()
            .map(|&v| {
                // The centred representative, as an integer, then divided.
                let half = 1i128 << (c.bits - 1);
                let v = i128::from(v);
                (if v >= half { v - 2 * half } else { v }) as f64 / cal.scale()
            })
            .collect();
        let want: Vec<f64> = spec_ref::unrotate(&lifted, &seed)
            .into_iter()
            .take(m as usize)
            .collect();
        let got = cal.decode_sum(&sum, 10, &seed).unwrap().values;
        let mean = cal.decode_mean(&sum, 7, &seed).unwrap().values;
        let scale = spec_ref::norm(&lifted);
        assert_eq!(got.len(), m as usize);
        for i in 0..m as usize {
            assert!(
                (got[i] - want[i]).abs() <= 1e-12 * scale,
                "m {m} b {bits} i {i}: {} vs {}",
                got[i],
                want[i]
            );
            assert!((mean[i] - want[i] / 7.0).abs() <= 1e-12 * scale);
        }
    }
}

/// Section 6: the encoding byte for byte, its decoding, and which error
/// each out-of-range field gives.
#[test]
fn dp_spec_configuration_encoding_matches_the_page() {
    fn bytes(c: &DpConfig) -> Vec<u8> {
        let mut b = vec![
            1u8,
            if c.mechanism == Mechanism::Skellam {
                1
            } else {
                0
            },
        ];
        for f in [c.epsilon, c.delta, c.clip, c.beta, c.wrap_probability] {
            b.extend_from_slice(&f.to_le_bytes());
        }
        b.extend_from_slice(&c.dim.to_le_bytes());
        b.push(c.bits);
        for u in [c.clients, c.min_honest, c.corrupt, c.rounds] {
            b.extend_from_slice(&u.to_le_bytes());
        }
        match c.epsilon_limit {
            None => b.push(0),
            Some(l) => {
                b.push(1);
                b.extend_from_slice(&l.to_le_bytes());
            }
        }
        b
    }
    let mut configs = grid();
    let mut limited = configs[3];
    limited.epsilon_limit = Some(7.25);
    configs.push(limited);
    let mut edge =
        DpConfig::new(f64::MIN_POSITIVE, 5e-324, f64::MAX, 1 << 28, 64, 1 << 24).unwrap();
    edge.wrap_probability = 1.0 - f64::EPSILON / 2.0;
    edge.beta = 1.0 - f64::EPSILON / 2.0;
    edge.min_honest = 1;
    edge.corrupt = (1 << 24) - 1;
    edge.rounds = u32::MAX;
    edge.epsilon_limit = Some(f64::MAX);
    configs.push(edge);
    for c in &configs {
        let want = bytes(c);
        assert_eq!(want.len(), if c.epsilon_limit.is_some() { 72 } else { 64 });
        assert_eq!(c.to_bytes(), want, "{c:?}");
        assert_eq!(DpConfig::decode(&want), Ok(*c));
    }
    // Decode refusals: version, tag, sign bits, length; a NaN is the
    // field's error.
    let base = bytes(&configs[0]);
    let is_decode = |b: &[u8]| matches!(DpConfig::decode(b), Err(DpError::Decode(_)));
    let mut b = base.clone();
    b[0] = 2;
    assert!(is_decode(&b));
    let mut b = base.clone();
    b[1] = 2;
    assert!(is_decode(&b));
    for field in 0..5 {
        let mut b = base.clone();
        b[2 + 8 * field + 7] |= 0x80;
        assert!(is_decode(&b), "sign bit of float {field}");
    }
    let mut b = base.clone();
    b[63] = 2;
    assert!(is_decode(&b));
    assert!(is_decode(&base[..63]));
    let mut b = base.clone();
    b.push(0);
    assert!(is_decode(&b));
    let mut b = bytes(&limited);
    b[64 + 7] |= 0x80;
    assert!(is_decode(&b));
    let nan = f64::NAN.to_le_bytes();
    for (field, err) in [
        DpError::Epsilon,
        DpError::Delta,
        DpError::Clip,
        DpError::Beta,
        DpError::WrapProbability,
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = base.clone();
        b[2 + 8 * field..10 + 8 * field].copy_from_slice(&nan);
        assert_eq!(DpConfig::decode(&b), Err(err), "NaN in float {field}");
    }

    // Validation, field by field (section 6's list, in its order).
    let ok = DpConfig::new(1.0, 1e-5, 1.0, 10, 20, 10).unwrap();
    type Edit = fn(&mut DpConfig);
    let bad: [(Edit, DpError); 28] = [
        (|c| c.epsilon = 0.0, DpError::Epsilon),
        (|c| c.epsilon = f64::INFINITY, DpError::Epsilon),
        (|c| c.epsilon = -1.0, DpError::Epsilon),
        (|c| c.delta = 0.0, DpError::Delta),
        (|c| c.delta = 1.0, DpError::Delta),
        (|c| c.clip = 0.0, DpError::Clip),
        (|c| c.clip = f64::INFINITY, DpError::Clip),
        (|c| c.beta = -0.0, DpError::Beta),
        (|c| c.beta = 1.0, DpError::Beta),
        (|c| c.beta = -1e-300, DpError::Beta),
        (|c| c.wrap_probability = 0.0, DpError::WrapProbability),
        (|c| c.wrap_probability = 1.0, DpError::WrapProbability),
        (|c| c.dim = 0, DpError::Dimension),
        (|c| c.dim = (1 << 28) + 1, DpError::Dimension),
        (|c| c.bits = 0, DpError::Bits),
        (|c| c.bits = 65, DpError::Bits),
        (|c| c.clients = 0, DpError::Clients),
        (|c| c.clients = (1 << 24) + 1, DpError::Clients),
        (|c| c.min_honest = 0, DpError::Clients),
        (
            |c| {
                c.min_honest = 6;
                c.corrupt = 5;
            },
            DpError::Clients,
        ),
        (|c| c.corrupt = u32::MAX, DpError::Clients),
        (|c| c.rounds = 0, DpError::Rounds),
        (|c| c.epsilon_limit = Some(0.5), DpError::Epsilon),
        (|c| c.epsilon_limit = Some(f64::INFINITY), DpError::Epsilon),
        (|c| c.epsilon_limit = Some(f64::NAN), DpError::Epsilon),
        (
            |c| {
                c.delta = f64::NAN;
                c.bits = 0;
            },
            DpError::Delta,
        ),
        (
            |c| {
                c.rounds = 0;
                c.dim = 0;
            },
            DpError::Dimension,
        ),
        (
            |c| {
                c.clients = 0;
                c.bits = 70;
            },
            DpError::Bits,
        ),
    ];
    for (i, (edit, err)) in bad.into_iter().enumerate() {
        let mut c = ok;
        edit(&mut c);
        assert_eq!(c.validate(), Err(err), "case {i}: {c:?}");
        assert_eq!(c.calibrate().unwrap_err(), err, "case {i}");
    }
    let mut c = ok;
    c.epsilon_limit = Some(1.0);
    c.beta = 0.0;
    c.dim = 1 << 28;
    c.bits = 64;
    c.clients = 1 << 24;
    c.min_honest = 1;
    c.corrupt = (1 << 24) - 1;
    assert_eq!(c.validate(), Ok(()));
}

/// Section 7: the levels `Q`, the modulus check, encodings of the range's
/// ends and of exactly representable points, the decode of any sum, and
/// the weighted mean's ranges.
#[test]
fn dp_spec_quantisation_matches_the_page() {
    let mut r = rng(4);
    for (lo, hi, bits, n) in [
        (-1.0, 1.0, 16u8, 3u32),
        (0.0, 1.0, 1, 1),
        (-5.0, 3.0, 8, 255),
        (-5.0, 3.0, 8, 256),
        (1e-3, 2e-3, 64, 1 << 24),
        (-1e300, 1e300, 32, 7),
        (2.0, 2.5, 20, 1000),
    ] {
        let q_want = ((if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        }) / u64::from(n)) as f64;
        let q = match Quantizer::new(lo, hi, bits, n) {
            Ok(q) => q,
            Err(e) => {
                assert_eq!((e, q_want), (DpError::ScaleDoesNotFit, 0.0));
                continue;
            }
        };
        assert_eq!(q.levels() as f64, q_want);
        assert!(u128::from(q.levels()) * u128::from(n) < 1u128 << bits);
        assert_eq!(
            bits_for(n, q.levels()),
            (1..=64u8).find(|&b| u128::from(n) * u128::from(q.levels()) < 1u128 << b)
        );
        let qf = q.levels() as f64;
        let enc = q
            .encode(&[lo, hi, lo - 1.0, hi + 1.0, f64::MAX, -f64::MAX], &mut r)
            .unwrap();
        assert_eq!(enc, vec![0, q.levels(), 0, q.levels(), q.levels(), 0]);
        // Any point in range encodes to floor or ceil of (x - lo) / (hi - lo) Q.
        for _ in 0..50 {
            let u = (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let x = lo + u * (hi - lo);
            let t = (x.clamp(lo, hi) - lo) / (hi - lo) * qf;
            let e = q.encode(&[x], &mut r).unwrap()[0] as f64;
            assert!(e == t.floor() || e == t.ceil(), "{x}: {e} vs {t}");
        }
        // Decode: lo count + sum (hi - lo) / Q.
        let count = (1 + r.next_u32() % n) as usize;
        let sum: Vec<u64> = (0..5)
            .map(|_| r.next_u64() % (q.levels() * count as u64).saturating_add(1))
            .collect();
        let got = q.decode_sum(&sum, count).unwrap();
        let mean = q.decode_mean(&sum, count).unwrap();
        for i in 0..5 {
            let want = lo * count as f64 + sum[i] as f64 / qf * (hi - lo);
            assert!(
                (got[i] - want).abs() <= 1e-12 * (lo.abs().max(hi.abs()) * count as f64),
                "{got:?} vs {want}"
            );
            assert!((mean[i] - want / count as f64).abs() <= 1e-12 * lo.abs().max(hi.abs()));
        }
    }
    // Weighted: w clip(x) over [min(lo, 0) w_max, max(hi, 0) w_max], w over
    // [0, w_max], both with the same Q.
    for (lo, hi, wmax, bits, n) in [
        (-1.0, 1.0, 100.0, 32u8, 2u32),
        (0.5, 2.0, 3.0, 24, 10),
        (-4.0, -1.0, 1.0, 40, 1000),
    ] {
        let wq = WeightedQuantizer::new(lo, hi, wmax, bits, n).unwrap();
        let qf = (((1u64 << bits) - 1) / u64::from(n)) as f64;
        let (a, b) = (f64::min(lo, 0.0) * wmax, f64::max(hi, 0.0) * wmax);
        // Ends encode exactly: the largest weight at each end of the range.
        let top = wq.encode(&[hi, lo], wmax, &mut r).unwrap();
        let want_hi = ((hi * wmax - a) / (b - a) * qf).round();
        let want_lo = ((lo * wmax - a) / (b - a) * qf).round();
        if (hi * wmax - a) / (b - a) * qf == want_hi && (lo * wmax - a) / (b - a) * qf == want_lo {
            assert_eq!(top, vec![want_hi as u64, want_lo as u64, qf as u64]);
        }
        let zero_w = wq.encode(&[hi, lo], 0.0, &mut r).unwrap();
        assert_eq!(zero_w[2], 0);
        let count = 3usize.min(n as usize);
        let sum = [
            (qf as u64) * count as u64 / 2,
            (qf as u64) * count as u64 / 3,
            (qf as u64) * count as u64 / 2,
        ];
        let (mean, weight) = wq.decode_mean(&sum, count).unwrap();
        let sw = sum[2] as f64 * wmax / qf;
        assert!(rel(weight, sw) <= 1e-12, "{weight} vs {sw}");
        for i in 0..2 {
            let swx = a * count as f64 + sum[i] as f64 * (b - a) / qf;
            assert!(
                (mean[i] - swx / sw).abs() <= 1e-9 * (swx / sw).abs().max(1.0),
                "{} vs {}",
                mean[i],
                swx / sw
            );
        }
    }
}
