//! spec/dp.md's claims checked against independent computations: the
//! calibration's epsilon and its tightness, the accountant against a
//! brute-force conversion over integer orders, the wrap bound's closed form,
//! clipping at extreme norms, the round trip through one encoding,
//! determinism in the injected RNG, and extreme configurations.

use secagg::dp::accounting::{self, Mechanism};
use secagg::dp::clip::{clip_l2, l2_norm};
use secagg::dp::{DpConfig, DpError};

use crate::common::rng;

/// A configuration with `n` clients, dimension `m` and `b` bits.
fn config(mechanism: Mechanism, m: u32, b: u8, n: u32) -> DpConfig {
    let mut c = DpConfig::new(1.0, 1e-5, 1.0, m, b, n).unwrap();
    c.mechanism = mechanism;
    c
}

/// Brute-force (epsilon, delta) of Rényi DP `xi + rho alpha` over integer
/// orders `2..=limit` (CKS20 Proposition 12), independent of the crate's
/// bisection.
fn brute_epsilon(xi: f64, rho: f64, delta: f64) -> f64 {
    let mut best = f64::INFINITY;
    for a in 2..2_000_000u64 {
        let a = a as f64;
        let e = xi + rho * a + (1.0 - 1.0 / a).ln() - (delta.ln() + a.ln()) / (a - 1.0);
        best = best.min(e);
    }
    best.max(xi)
}

/// The L2 norm in long arithmetic (inputs of moderate size).
fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Clipping bounds the norm by `c` and keeps the direction, at every scale
/// of input norm a finite vector can have, including norms above
/// `f64::MAX` (spec/dp.md 2.3: the norm "never overflows").
#[test]
fn dp_review_clip_bounds_the_norm_and_keeps_the_direction() {
    for &(scale, c) in &[
        (1e-300, 1e-310),
        (1.0, 0.5),
        (1e300, 1.0),
        (f64::MAX, 1.0),
        (f64::MAX, 1e-300),
        (f64::MAX / 3.0, 7.0),
    ] {
        let dir = [0.6, -0.8, 0.0, 0.0];
        let mut x: Vec<f64> = dir.iter().map(|d| d * scale).collect();
        clip_l2(&mut x, c).unwrap();
        let after = l2_norm(&x).unwrap();
        assert!(after <= c, "scale {scale:e} clip {c:e}: norm {after:e}");
        assert!(
            after >= c * (1.0 - 1e-12),
            "scale {scale:e} clip {c:e}: norm {after:e}"
        );
        for (v, d) in x.iter().zip(dir) {
            assert!(
                (v / c - d).abs() < 1e-12,
                "scale {scale:e} clip {c:e}: {x:?}"
            );
        }
    }
    // Below the clip nothing changes.
    let mut x = vec![0.3, 0.4];
    assert_eq!(clip_l2(&mut x, 1.0).unwrap(), 0.5);
    assert_eq!(x, vec![0.3, 0.4]);
}

/// The encoder clips an input of overflowing norm to norm `c` in the input's
/// direction: one client's decoded encoding is that clipped vector plus its
/// noise and rounding, not zero.
#[test]
fn dp_review_encode_clips_a_huge_input_in_its_direction() {
    let m = 4;
    let mut c = DpConfig::new(1.0, 1e-5, 1.0, m, 40, 1).unwrap();
    c.epsilon = 1e4; // little noise: one client's encoding shows its input
    let cal = c.calibrate().unwrap();
    let seed = [3u8; 32];
    let x = [f64::MAX, -f64::MAX, f64::MAX, -f64::MAX];
    let y = cal.encode(&x, &seed, &mut rng(5)).unwrap();
    let out = cal.decode_sum(&y, 1, &seed).unwrap().values;
    let tol = 6.0 * cal.predicted_mse(1).sqrt();
    assert!(tol < 0.25, "noise too large for the check: {tol}");
    for (i, v) in out.iter().enumerate() {
        let want = if i % 2 == 0 { 0.5 } else { -0.5 };
        assert!((v - want).abs() < tol, "{out:?} (tol {tol})");
    }
}

/// Calibration reaches at most the target with `min_honest` honest
/// survivors, and is tight: 1% less noise would miss it. The sensitivity is
/// section 2.4's bound at the chosen scale, and the wrap bound holds.
#[test]
fn dp_review_calibration_meets_the_target_tightly() {
    let mut cases = Vec::new();
    for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        for &(eps, delta, m, b, n, mh, corrupt, rounds) in &[
            (1.0, 1e-5, 1000u32, 20u8, 100u32, 100u32, 0u32, 1u32),
            (0.3, 1e-8, 64, 24, 10, 8, 2, 1),
            (4.0, 1e-3, 300, 16, 50, 30, 5, 10),
            (10.0, 1e-6, 4096, 32, 1000, 500, 100, 3),
            // Subnormal deltas, where 1 / delta is infinite: the accountant
            // once reported epsilon 0 there and calibrated no noise.
            (1.0, 1e-320, 64, 32, 10, 10, 0, 1),
            (1.0, 5e-324, 64, 32, 10, 10, 0, 1),
        ] {
            let mut c = DpConfig::new(eps, delta, 1.0, m, b, n).unwrap();
            c.mechanism = mechanism;
            c.min_honest = mh;
            c.corrupt = corrupt;
            c.rounds = rounds;
            cases.push(c);
        }
    }
    for c in cases {
        let cal = c.calibrate().unwrap();
        let d = cal.padded_dim();
        assert_eq!(d, (c.dim as usize).next_power_of_two());
        assert_eq!(
            cal.sensitivity(),
            accounting::rounded_l2_bound(c.clip * cal.scale(), c.beta, d),
            "{c:?}"
        );
        let r = cal.report((c.min_honest + c.corrupt) as usize);
        assert_eq!(r.honest, c.min_honest as usize);
        assert!(r.epsilon_reached <= c.epsilon, "{c:?}: {r:?}");
        assert!(r.epsilon_reached > 0.9 * c.epsilon, "{c:?}: {r:?}");
        let eps_less = accounting::epsilon(
            c.mechanism,
            cal.sensitivity(),
            d,
            0.99 * cal.local_sigma(),
            u64::from(c.min_honest),
            c.rounds,
            c.delta,
        );
        assert!(eps_less > c.epsilon, "{c:?}: {eps_less}");
        assert!(cal.wrap_bound() <= c.wrap_probability, "{c:?}");
        // A scale twice as large would not fit (the bisection found the
        // largest, unless the sampler's limit stopped it first).
        if cal.local_sigma() < 2f64.powi(19) {
            let s2 = 2.0 * cal.scale();
            let sigma2 = accounting::local_sigma(
                c.mechanism,
                accounting::rounded_l2_bound(c.clip * s2, c.beta, d),
                d,
                u64::from(c.min_honest),
                c.rounds,
                c.delta,
                c.epsilon,
            );
            if let Some(sigma2) = sigma2 {
                let w = accounting::wrap_bound(
                    c.mechanism,
                    c.bits,
                    d,
                    u64::from(c.clients),
                    c.clip,
                    s2,
                    sigma2,
                );
                assert!(w > c.wrap_probability, "{c:?}: scale not maximal");
            }
        }
    }
}

/// With every honest survivor count from `min_honest` up to all clients, the
/// reached epsilon stays at most the target (spec/dp.md 5.3: "with honest >=
/// min_honest it is at most the target"); below `min_honest`, for Skellam,
/// it exceeds the target and grows as survivors drop.
#[test]
fn dp_review_more_survivors_never_exceed_the_target() {
    for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        for &(eps, m, b, n, mh) in &[
            (1.0, 1024u32, 20u8, 100u32, 100u32),
            (1.0, 256, 12, 1000, 2),
            (1.0, 64, 16, 5000, 10),
            // Per-client sigma near 1/2, where KLS21's tau grows with the
            // client count: 5.3's claim must still hold.
            (5.0, 1, 16, 1 << 20, 10),
            (1.0, 16, 16, 100_000, 1000),
            (5.0, 1, 16, 1 << 16, 2),
        ] {
            let mut c = config(mechanism, m, b, n);
            c.epsilon = eps;
            c.min_honest = mh;
            let Ok(cal) = c.calibrate() else { continue };
            let mut prev = f64::INFINITY;
            let step = ((n as usize) / 200).max(1);
            for s in (1..=n as usize).step_by(step).chain([mh as usize]) {
                let e = cal.report(s).epsilon_reached;
                assert!(!e.is_nan());
                if s >= mh as usize {
                    assert!(e <= c.epsilon, "{c:?}: {s} survivors: {e}");
                } else if c.mechanism == Mechanism::Skellam {
                    // The Skellam bound falls with the noise variance: fewer
                    // survivors, larger epsilon. (The discrete Gaussian's
                    // tau, growing with the count, can make it smaller.)
                    assert!(e > c.epsilon, "{c:?}: {s} survivors: {e}");
                    assert!(
                        e <= prev * (1.0 + 1e-12),
                        "{c:?}: {s} survivors: {e} after {prev}"
                    );
                    prev = e;
                }
            }
        }
    }
}

/// The accountant against a brute-force conversion: with tau negligible
/// (sigma large), the discrete Gaussian sum is `rho`-zCDP with `rho = T
/// Delta_2^2 / (2 h sigma^2)`, and the epsilon at the best integer order
/// must match. Skellam: [AKL21]'s two (xi, rho) pairs, each converted by
/// brute force.
#[test]
fn dp_review_accountant_matches_an_independent_conversion() {
    let d = 1024;
    for &(delta2, sigma, h, t, delta) in &[
        (100.0, 50.0, 100u64, 1u32, 1e-5),
        (1000.0, 300.0, 20, 5, 1e-8),
        (40.0, 20.0, 3, 1, 1e-3),
        (5000.0, 4000.0, 1000, 100, 1e-6),
    ] {
        assert_eq!(accounting::ddg_tau(sigma, h), 0.0);
        let v = h as f64 * sigma * sigma;
        let rho = f64::from(t) * delta2 * delta2 / (2.0 * v);
        let want = brute_epsilon(0.0, rho, delta);
        let got = accounting::epsilon(Mechanism::DiscreteGaussian, delta2, d, sigma, h, t, delta);
        assert!((got - want).abs() <= 1e-9 * want, "DG {got} vs {want}");

        let a2 = delta2 * delta2;
        let l1 = delta2 * (d as f64).sqrt().min(delta2);
        let tf = f64::from(t);
        let p1 = brute_epsilon(
            tf * (6.0 * l1 - a2) / (4.0 * v * v),
            tf * (a2 / (2.0 * v) + a2 / (2.0 * v * v)),
            delta,
        );
        let p2 = brute_epsilon(tf * 3.0 * l1 / (2.0 * v), tf * a2 / (2.0 * v), delta);
        let want = p1.min(p2);
        let got = accounting::epsilon(Mechanism::Skellam, delta2, d, sigma, h, t, delta);
        assert!((got - want).abs() <= 1e-9 * want, "Skellam {got} vs {want}");
    }
}

/// The discrete Gaussian wrap bound's closed form, computed here from the
/// calibration: `2 d exp(-B^2 / (2 (v + n sigma^2)))`.
#[test]
fn dp_review_wrap_bound_closed_form() {
    for &(m, b, n) in &[(1000u32, 20u8, 100u32), (65536, 24, 1000), (10, 32, 3)] {
        let cal = config(Mechanism::DiscreteGaussian, m, b, n)
            .calibrate()
            .unwrap();
        let d = cal.padded_dim() as f64;
        let nf = f64::from(n);
        let s = cal.scale();
        let v = (nf * s).powi(2) / d + nf / 4.0;
        let big_b = 2f64.powi(i32::from(b) - 1) - 1.0;
        let sig = cal.local_sigma();
        let want = (2.0 * d * (-big_b * big_b / (2.0 * (v + nf * sig * sig))).exp()).min(1.0);
        let got = cal.wrap_bound();
        assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
        // Section 2.6 and 3.2: the lift covers exactly 2^(b-1) - 1 on the
        // positive side used by the bound.
        assert!(got <= 1e-6);
    }
}

/// One client's encoding decodes to its clipped input within the predicted
/// error (dimension not a power of two, padding dropped), at 1 client and at
/// 2; decoding with another session seed gives another vector.
#[test]
fn dp_review_one_encoding_round_trips() {
    for n in [1u32, 2] {
        let mut c = DpConfig::new(1e4, 1e-5, 2.0, 5, 48, n).unwrap();
        c.min_honest = n;
        let cal = c.calibrate().unwrap();
        assert_eq!(cal.padded_dim(), 8);
        let seed = [7u8; 32];
        let x = [3.0, -4.0, 0.0, 1e-3, 0.0]; // norm about 5: clipped to 2
        let k = 2.0 / norm(&x);
        let want: Vec<f64> = x.iter().map(|v| v * k).collect();
        let mut sum = vec![0u64; 8];
        let mask = (1u64 << 48) - 1;
        for i in 0..n {
            let y = cal.encode(&x, &seed, &mut rng(100 + u64::from(i))).unwrap();
            assert_eq!(y.len(), 8);
            assert!(y.iter().all(|&e| e <= mask));
            for (s, e) in sum.iter_mut().zip(y) {
                *s = (*s + e) & mask;
            }
        }
        let rel = cal.decode_mean(&sum, n as usize, &seed).unwrap();
        assert_eq!(rel.values.len(), 5);
        let tol = 6.0 * cal.predicted_mse(n as usize).sqrt() / f64::from(n);
        assert!(tol < 0.25, "{tol}");
        for (g, w) in rel.values.iter().zip(&want) {
            assert!((g - w).abs() < tol, "{:?} vs {want:?}", rel.values);
        }
        let other = cal.decode_mean(&sum, n as usize, &[8u8; 32]).unwrap();
        assert_ne!(other.values, rel.values);
    }
}

/// The encoding is a function of the input, the seed and the injected RNG
/// only: equal RNG states give equal encodings (no hidden randomness),
/// different RNG states different ones.
#[test]
fn dp_review_encoding_is_determined_by_the_injected_rng() {
    for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        let cal = config(mechanism, 100, 24, 10).calibrate().unwrap();
        let x: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let a = cal.encode(&x, &[1; 32], &mut rng(9)).unwrap();
        let b = cal.encode(&x, &[1; 32], &mut rng(9)).unwrap();
        assert_eq!(a, b);
        let c = cal.encode(&x, &[1; 32], &mut rng(10)).unwrap();
        assert_ne!(a, c);
        // Calibration is a pure function of the configuration.
        assert_eq!(cal.config().calibrate().unwrap(), cal);
    }
}

/// Extreme configurations calibrate or fail with a typed error, never
/// panic; when they calibrate, the report meets the target, the wrap bound
/// holds and an encoding of any finite input stays in `Z_{2^b}`.
#[test]
fn dp_review_extreme_configurations() {
    let mut r = rng(11);
    for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        for &(eps, delta, clip, m, b, n) in &[
            (1e-6, 1e-5, 1.0, 16u32, 64u8, 10u32),
            (1e3, 1e-5, 1.0, 16, 8, 10),
            (1.0, 1e-300, 1.0, 16, 40, 10),
            (1.0, 0.999, 1.0, 16, 20, 10),
            (1.0, 1e-5, 1e-300, 16, 20, 10),
            (1.0, 1e-5, 1e300, 16, 20, 10),
            (1.0, 1e-5, 1.0, 1, 20, 1),
            (1.0, 1e-5, 1.0, 1, 64, 1),
            (1.0, 1e-5, 1.0, 3, 2, 1),
            (1.0, 1e-5, 1.0, 16, 1, 1),
            (1.0, 1e-5, 1.0, 16, 64, 2),
            (1.0, 1e-5, 1.0, 16, 64, 1 << 24),
        ] {
            let mut c = DpConfig::new(eps, delta, clip, m, b, n).unwrap();
            c.mechanism = mechanism;
            let cal = match c.calibrate() {
                Ok(cal) => cal,
                Err(e) => {
                    assert_eq!(e, DpError::ScaleDoesNotFit, "{c:?}");
                    continue;
                }
            };
            assert!(cal.report(n as usize).epsilon_reached <= eps, "{c:?}");
            assert!(cal.wrap_bound() <= c.wrap_probability, "{c:?}");
            let top = if b == 64 { u64::MAX } else { (1u64 << b) - 1 };
            for x in [
                vec![0.0; m as usize],
                vec![f64::MAX; m as usize],
                vec![-1e-300; m as usize],
            ] {
                let y = cal.encode(&x, &[2; 32], &mut r).unwrap();
                assert!(y.iter().all(|&e| e <= top), "{c:?}");
                let out = cal.decode_sum(&y, 1, &[2; 32]).unwrap();
                assert!(out.values.iter().all(|v| v.is_finite()), "{c:?}");
            }
        }
    }
}

/// Decoding checks the sum's length against the padded dimension and the
/// release rule against the survivors it is given.
#[test]
fn dp_review_decode_with_the_wrong_shape_or_survivors() {
    let mut c = config(Mechanism::DiscreteGaussian, 5, 20, 10);
    c.epsilon_limit = Some(1.2);
    let cal = c.calibrate().unwrap();
    assert_eq!(
        cal.decode_sum(&[0; 5], 10, &[0; 32]).err(),
        Some(DpError::InputLength)
    );
    assert_eq!(
        cal.decode_sum(&[0; 16], 10, &[0; 32]).err(),
        Some(DpError::InputLength)
    );
    assert!(cal.decode_sum(&[0; 8], 10, &[0; 32]).is_ok());
    assert_eq!(
        cal.decode_sum(&[0; 8], 0, &[0; 32]).err(),
        Some(DpError::ReleaseRefused)
    );
    assert_eq!(
        cal.decode_sum(&[0; 8], 5, &[0; 32]).err(),
        Some(DpError::ReleaseRefused)
    );
    // Elements above 2^b are reduced mod 2^b first.
    let a = cal
        .decode_sum(&[1, 2, 3, 4, 5, 6, 7, 8], 10, &[0; 32])
        .unwrap();
    let hi: Vec<u64> = (1..=8).map(|v| v + (1 << 20) * 3).collect();
    let b = cal.decode_sum(&hi, 10, &[0; 32]).unwrap();
    assert_eq!(a, b);
}

/// The release rule does not refuse a sum because more honest clients
/// survived than calibrated for (the discrete Gaussian's tau grows with the
/// count; the noise of the extra clients only helps).
#[test]
fn dp_review_more_survivors_are_released_under_the_limit() {
    let mut c = config(Mechanism::DiscreteGaussian, 1, 16, 1 << 20);
    c.epsilon = 5.0;
    c.min_honest = 10;
    c.epsilon_limit = Some(5.0);
    let cal = c.calibrate().unwrap();
    assert!(cal.local_sigma() < 1.0, "{}", cal.local_sigma());
    for s in [10usize, 5243, 1 << 16, 1 << 20] {
        let r = cal.decode_sum(&[0], s, &[0; 32]).unwrap().report;
        assert!(r.epsilon_reached <= 5.0, "{s}: {r:?}");
        assert_eq!(r.honest, s);
    }
    assert_eq!(
        cal.decode_sum(&[0], 5, &[0; 32]).err(),
        Some(DpError::ReleaseRefused)
    );
}
