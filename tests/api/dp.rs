//! Distributed differential privacy (spec/dp.md): the samplers' distributions,
//! the accountant against OpenDP and against the DDG paper's accounting code,
//! whole DP rounds over the simulation engine, the wrap bound, and the
//! configuration's encoding.

use opendp::combinators::make_zCDP_to_approxDP;
use opendp::core::{Function, Measurement, PrivacyMap};
use opendp::domains::AtomDomain;
use opendp::measurements::make_gaussian;
use opendp::measures::ZeroConcentratedDivergence;
use opendp::metrics::AbsoluteDistance;
use rand_core::Rng;
use secagg::dp::accounting::{self, Mechanism};
use secagg::dp::noise::{DiscreteGaussian, Skellam};
use secagg::dp::rotate::{padded_len, rotate, unrotate};
use secagg::dp::rounding::{conditional_round, squared_norm};
use secagg::dp::{DpConfig, DpError, Quantizer, SimulationError, WeightedQuantizer, simulate};
use secagg::simulation::Dropouts;
use secagg::{Graph, Params};

use crate::common::rng;

// ----- Statistics helpers -----

/// ln Gamma(x), Lanczos (g = 7, n = 9), about 1e-15 relative.
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma Q(a, x) (series below a + 1,
/// Lentz's continued fraction above; Numerical Recipes 6.2).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * front
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        front * h
    }
}

/// The p-value of a chi-square statistic with `df` degrees of freedom.
fn chi2_p(stat: f64, df: usize) -> f64 {
    gamma_q(df as f64 / 2.0, stat / 2.0)
}

/// The exact pmf of N_Z(0, sigma^2) on `lo..=hi` (normalised over the
/// whole line, summed to 60 sigma + 10 where the rest is below 1e-700).
fn dgauss_pmf(sigma2: f64, lo: i64, hi: i64) -> Vec<f64> {
    let reach = (60.0 * sigma2.sqrt()) as i64 + 10;
    let w = |k: i64| (-((k * k) as f64) / (2.0 * sigma2)).exp();
    let z: f64 = (-reach..=reach).map(w).sum();
    (lo..=hi).map(|k| w(k) / z).collect()
}

/// Pearson's chi-square of `counts` (over `lo..=hi`, with two extra tail
/// bins) against `probs`, bins merged from the centre out so that each
/// expects at least 20.
fn chi2_against(counts: &[u64], below: u64, above: u64, probs: &[f64], n: u64) -> (f64, usize) {
    let nf = n as f64;
    let tail_p = 1.0 - probs.iter().sum::<f64>();
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (observed, expected)
    let (mut o, mut e) = (below as f64 + above as f64, tail_p * nf);
    for (c, p) in counts.iter().zip(probs) {
        o += *c as f64;
        e += p * nf;
        if e >= 20.0 {
            bins.push((o, e));
            o = 0.0;
            e = 0.0;
        }
    }
    if let Some(last) = bins.last_mut() {
        last.0 += o;
        last.1 += e;
    }
    let stat = bins.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    (stat, bins.len() - 1)
}

/// Histogram of `draws` over `lo..=hi`, plus counts below and above.
fn histogram(draws: &[i64], lo: i64, hi: i64) -> (Vec<u64>, u64, u64) {
    let mut h = vec![0u64; (hi - lo + 1) as usize];
    let (mut below, mut above) = (0, 0);
    for &x in draws {
        if x < lo {
            below += 1;
        } else if x > hi {
            above += 1;
        } else {
            h[(x - lo) as usize] += 1;
        }
    }
    (h, below, above)
}

/// A float vector with Gaussian-ish entries (sum of uniforms) of L2 norm
/// `norm`.
fn vector(r: &mut impl Rng, m: usize, norm: f64) -> Vec<f64> {
    let mut v: Vec<f64> = (0..m)
        .map(|_| {
            (0..4)
                .map(|_| (r.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0 - 0.5)
                .sum::<f64>()
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x *= norm / n);
    v
}

// ----- 1. Samplers, rounding, rotation -----

/// 10^6 draws of the discrete Gaussian for each sigma in {0.5, 3, 100}
/// against the exact pmf `exp(-x^2 / 2 sigma^2) / Z` (CKS20 Definition 1):
/// Pearson's chi-square, p > 1e-3. Fixed seeds.
#[test]
fn dp_discrete_gaussian_matches_exact_pmf() {
    for (sigma, seed) in [(0.5, 11), (3.0, 12), (100.0, 13)] {
        let g = DiscreteGaussian::new(sigma).unwrap();
        assert_eq!(g.sigma_squared(), sigma * sigma);
        let mut r = rng(seed);
        let n = 1_000_000u64;
        let draws: Vec<i64> = (0..n).map(|_| g.sample(&mut r)).collect();
        let reach = (8.0 * sigma) as i64 + 3;
        let (h, below, above) = histogram(&draws, -reach, reach);
        let probs = dgauss_pmf(sigma * sigma, -reach, reach);
        let (stat, df) = chi2_against(&h, below, above, &probs, n);
        let p = chi2_p(stat, df);
        assert!(p > 1e-3, "sigma {sigma}: chi2 {stat} on {df} df, p = {p}");
        // The variance is the pmf's.
        let mean_sq = draws.iter().map(|&x| (x * x) as f64).sum::<f64>() / n as f64;
        assert!((mean_sq / g.variance() - 1.0).abs() < 0.01);
    }
}

/// Our sampler against OpenDP's (`make_gaussian` over integers, which calls
/// its exact CKS20 sampler): a two-sample chi-square test of homogeneity.
/// OpenDP draws from the operating system's randomness and cannot be
/// seeded, so this one test is not reproducible bit for bit; its threshold
/// is p > 1e-4 (a false alarm once in 10^4 runs).
#[test]
fn dp_discrete_gaussian_matches_opendp_sampler() {
    for (sigma, seed) in [(0.5, 21), (3.0, 22)] {
        let meas = make_gaussian::<_, _, ZeroConcentratedDivergence>(
            AtomDomain::<i64>::default(),
            AbsoluteDistance::<i64>::default(),
            sigma,
            None,
        )
        .unwrap();
        let theirs: Vec<i64> = (0..100_000).map(|_| meas.invoke(&0).unwrap()).collect();
        let g = DiscreteGaussian::new(sigma).unwrap();
        let mut r = rng(seed);
        let ours: Vec<i64> = (0..100_000).map(|_| g.sample(&mut r)).collect();
        let reach = (6.0 * sigma) as i64 + 2;
        let (a, a_lo, a_hi) = histogram(&ours, -reach, reach);
        let (b, b_lo, b_hi) = histogram(&theirs, -reach, reach);
        let mut pairs: Vec<(f64, f64)> = vec![((a_lo + a_hi) as f64, (b_lo + b_hi) as f64)];
        pairs.extend(a.iter().zip(&b).map(|(x, y)| (*x as f64, *y as f64)));
        // Merge sparse bins (expected below 20 per sample).
        let mut merged: Vec<(f64, f64)> = Vec::new();
        let mut acc = (0.0, 0.0);
        for (x, y) in pairs {
            acc = (acc.0 + x, acc.1 + y);
            if acc.0 + acc.1 >= 40.0 {
                merged.push(acc);
                acc = (0.0, 0.0);
            }
        }
        if let Some(last) = merged.last_mut() {
            last.0 += acc.0;
            last.1 += acc.1;
        }
        let (na, nb) = (100_000.0, 100_000.0);
        let stat: f64 = merged
            .iter()
            .map(|(x, y)| {
                let tot = x + y;
                let ex = tot * na / (na + nb);
                let ey = tot * nb / (na + nb);
                (x - ex) * (x - ex) / ex + (y - ey) * (y - ey) / ey
            })
            .sum();
        let p = chi2_p(stat, merged.len() - 1);
        assert!(p > 1e-4, "sigma {sigma}: chi2 {stat}, p = {p}");
    }
}

/// Skellam draws have the stated variance within 1% (10^6 draws; the
/// sample variance's relative standard error is sqrt(2 / 10^6) = 0.14%),
/// for a small mu (inversion) and a large one (PTRS).
#[test]
fn dp_skellam_variance_within_one_percent() {
    for (var, seed) in [(10.0, 31), (5e5, 32)] {
        let s = Skellam::with_variance(var).unwrap();
        let mut r = rng(seed);
        let n = 1_000_000;
        let draws: Vec<f64> = (0..n).map(|_| s.sample(&mut r) as f64).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let v = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        assert!((v / var - 1.0).abs() < 0.01, "variance {var}: measured {v}");
        assert!(mean.abs() < 5.0 * (var / n as f64).sqrt());
    }
}

/// After conditional rounding the L2 bound (KLS21 Theorem 1 and Proposition 22,
/// `rounded_l2_bound`) holds in every one of 10^5 trials, with beta =
/// e^-0.5 and with beta = 0 (unconditional: `c + sqrt(d)`).
#[test]
fn dp_conditional_rounding_bound_holds_in_every_trial() {
    let d = 64;
    let mut r = rng(41);
    for beta in [(-0.5f64).exp(), 0.0] {
        for trial in 0..50_000 {
            let norm = 1.0 + (trial % 40) as f64;
            let x = vector(&mut r, d, norm);
            let bound = accounting::rounded_l2_bound(norm, beta, d);
            let out = conditional_round(&x, bound, &mut r).unwrap();
            let sq = squared_norm(&out) as f64;
            assert!(sq.sqrt() <= bound, "trial {trial}: {} > {bound}", sq.sqrt());
            assert!(
                out.iter()
                    .zip(&x)
                    .all(|(&o, &v)| (o as f64 - v).abs() < 1.0)
            );
        }
    }
}

/// The rotation followed by its inverse returns the input to within 1e-9
/// relative (L2), at d = 2^16, and padding keeps the input's prefix.
#[test]
fn dp_rotation_inverse_is_identity() {
    let mut r = rng(51);
    let seed = [3u8; 32];
    for m in [1usize, 5, 1000, 65536] {
        let d = padded_len(m).unwrap();
        let mut x = vector(&mut r, m, 10.0);
        x.resize(d, 0.0);
        let orig = x.clone();
        rotate(&mut x, &seed).unwrap();
        unrotate(&mut x, &seed).unwrap();
        let err = x
            .iter()
            .zip(&orig)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        assert!(err <= 1e-9 * 10.0, "m {m}: error {err}");
    }
}

// ----- 2. The accountant -----

/// OpenDP's epsilon for rho-zCDP at delta: a measurement with a constant
/// privacy map `rho`, cast by `make_zCDP_to_approxDP`, its profile inverted
/// at delta.
fn opendp_epsilon(rho: f64, delta: f64) -> f64 {
    let m = Measurement::new(
        AtomDomain::<i64>::default(),
        AbsoluteDistance::<i64>::default(),
        ZeroConcentratedDivergence,
        Function::new(|x: &i64| *x),
        PrivacyMap::new(move |_: &i64| rho),
    )
    .unwrap();
    let approx = make_zCDP_to_approxDP(m).unwrap();
    approx.map(&1).unwrap().epsilon(delta).unwrap()
}

/// Our zCDP-to-(epsilon, delta) conversion agrees with OpenDP's to 1e-6
/// relative on a grid of rho and delta.
#[test]
fn dp_zcdp_conversion_matches_opendp() {
    for rho in [1e-4, 1e-3, 0.01, 0.0306, 0.1, 0.5, 1.0, 3.0, 10.0] {
        for delta in [1e-3, 1e-5, 1e-7, 1e-9, 1e-12] {
            let ours = accounting::zcdp_epsilon(rho, delta);
            let theirs = opendp_epsilon(rho, delta);
            assert!(
                (ours / theirs - 1.0).abs() < 1e-6,
                "rho {rho} delta {delta}: ours {ours}, OpenDP {theirs}"
            );
        }
    }
}

/// The per-client noise the accountant calibrates agrees with the DDG
/// paper's accounting code for the same configuration: the issue asks for
/// 1%; the two agree to better than 1e-8, and the test holds them to 1e-6.
///
/// Source of every expected number: `ddgauss_local_stddev` and
/// `skellam_local_stddev` of google-research/federated
/// `distributed_dp/accounting_utils.py` (commit 5e27a86, the code of
/// Kairouz, Liu, Steinke ICML 2021 and Agarwal, Kairouz, Liu NeurIPS 2021),
/// run with q = 1 (no subsampling), beta = e^-0.5, and `tfp.get_privacy_spent`
/// replaced by the function it calls, `dp_accounting`'s RDP
/// `compute_epsilon` (orders 2..128 and 256). Those functions return the
/// local standard deviation in the unscaled domain; the expected values
/// below are that times the scale `1 / gamma`. The configurations follow
/// the paper's distributed mean estimation setting (n = 100, d = 2^16,
/// c = 1, delta = 1e-5) and vary epsilon, d, n, rounds and the scale,
/// including one (n = 1000, scaled sigma near 1) where the tau term of
/// Theorem 1 binds.
#[test]
fn dp_calibrated_noise_matches_published_accounting() {
    let beta = (-0.5f64).exp();
    // (epsilon, delta, clip, scale, n, d, rounds, expected scaled stddev)
    let ddg = [
        (1.0, 1e-5, 1.0, 18000.0, 100, 65536, 1, 7282.081470603154),
        (10.0, 1e-5, 1.0, 1000.0, 100, 65536, 1, 54.18566073179074),
        (1.0, 1e-5, 1.0, 50.0, 100, 1024, 1, 21.49009840534964),
        (3.0, 1e-6, 0.5, 20.0, 50, 256, 10, 9.917106614148496),
        (2.0, 1e-5, 1.0, 5.0, 1000, 1024, 1, 1.1818070523180992),
    ];
    for (eps, delta, c, scale, n, d, t, want) in ddg {
        let delta2 = accounting::rounded_l2_bound(c * scale, beta, d);
        let got = accounting::local_sigma(Mechanism::DiscreteGaussian, delta2, d, n, t, delta, eps)
            .unwrap();
        assert!(
            (got / want - 1.0).abs() < 1e-6,
            "DDG eps {eps} n {n} d {d}: ours {got}, paper's code {want}"
        );
    }
    let skellam = [
        (1.0, 1e-5, 1.0, 18000.0, 100, 65536, 1, 7282.081471272327),
        (3.0, 1e-6, 0.5, 20.0, 50, 256, 10, 9.918394654018837),
        (1.0, 1e-5, 1.0, 50.0, 100, 1024, 1, 21.490347959344998),
    ];
    for (eps, delta, c, scale, n, d, t, want) in skellam {
        let delta2 = accounting::rounded_l2_bound(c * scale, beta, d);
        let got = accounting::local_sigma(Mechanism::Skellam, delta2, d, n, t, delta, eps).unwrap();
        assert!(
            (got / want - 1.0).abs() < 1e-6,
            "Skellam eps {eps} n {n} d {d}: ours {got}, paper's code {want}"
        );
    }
}

/// The central Gaussian baseline: the analytic Gaussian mechanism (Balle
/// and Wang 2018, Theorem 8) needs less noise than the classic
/// `sqrt(2 ln(1.25 / delta)) / epsilon` (Dwork-Roth Theorem A.1) and
/// meets delta exactly. Expected sigma 3.7306 for (1, 1e-5): computed with
/// the same Theorem 8 condition by bisection (Python's math.erfc).
#[test]
fn dp_analytic_gaussian_baseline() {
    let s = accounting::analytic_gaussian_sigma(1.0, 1e-5, 1.0).unwrap();
    assert!((s - 3.730_631_634_815_9).abs() < 1e-6, "{s}");
    assert!(s < (2.0 * (1.25f64 / 1e-5).ln()).sqrt());
    assert_eq!(
        accounting::analytic_gaussian_sigma(0.0, 1e-5, 1.0),
        Err(DpError::Epsilon)
    );
}

// ----- 3. Whole rounds -----

fn dp_round_config(n: u32, m: u32) -> (DpConfig, Params) {
    let config = DpConfig::new(1.0, 1e-5, 1.0, m, 20, n).unwrap();
    let d = config.padded_dim().unwrap() as u32;
    let params = Params::new(n, n / 2 + 1, 20, d, Graph::Complete).unwrap();
    (config, params)
}

fn inputs(n: u32, m: u32, seed: u64) -> Vec<Vec<f64>> {
    let mut r = rng(seed);
    (0..n).map(|_| vector(&mut r, m as usize, 3.0)).collect()
}

/// One DP round at the configuration: n = 100, m = 65536, b = 20,
/// epsilon = 1, delta = 1e-5, clip = 1, every input of norm 3 (above the
/// clip), through the whole secure aggregation round: the measured MSE of
/// the decoded sum is within 10% of the prediction and within 1.25x the
/// central (analytic) Gaussian's at the same (epsilon, delta).
#[test]
fn dp_round_mse_matches_prediction_and_central_gaussian() {
    check_round(65536);
}

fn check_round(m: u32) {
    let n = 100;
    let (config, params) = dp_round_config(n, m);
    let report = simulate(
        &params,
        &config,
        &inputs(n, m, 61),
        &Dropouts::default(),
        &mut rng(62),
    )
    .unwrap();
    println!("m = {m}: {report:?}");
    assert_eq!(report.survivors, 100);
    assert!(report.epsilon_reached <= 1.0 + 1e-9);
    assert!(
        (report.measured_mse / report.predicted_mse - 1.0).abs() < 0.1,
        "{report:?}"
    );
    assert!(
        report.measured_mse < 1.25 * report.central_gaussian_mse,
        "{report:?}"
    );
}

/// The Skellam mechanism through a whole round (n = 20, m = 1000 padded to
/// 1024, b = 24): measured MSE within 10% of predicted, epsilon met; and
/// the mean is the sum divided by |U3|.
#[test]
fn dp_skellam_round_and_mean() {
    let (n, m) = (20u32, 1000u32);
    let mut config = DpConfig::new(2.0, 1e-6, 1.0, m, 24, n).unwrap();
    config.mechanism = Mechanism::Skellam;
    let params = Params::new(n, 11, 24, 1024, Graph::Complete).unwrap();
    let xs = inputs(n, m, 121);
    let report = simulate(&params, &config, &xs, &Dropouts::default(), &mut rng(122)).unwrap();
    assert!(report.epsilon_reached <= 2.0 + 1e-9);
    assert!(
        (report.measured_mse / report.predicted_mse - 1.0).abs() < 0.1,
        "{report:?}"
    );
    let cal = config.calibrate().unwrap();
    let seed = [4u8; 32];
    let mut r = rng(123);
    let mut sum = vec![0u64; 1024];
    for x in &xs {
        for (s, v) in sum.iter_mut().zip(cal.encode(x, &seed, &mut r).unwrap()) {
            *s = (*s + v) & ((1 << 24) - 1);
        }
    }
    let total = cal.decode_sum(&sum, 20, &seed).unwrap();
    let mean = cal.decode_mean(&sum, 20, &seed).unwrap();
    assert_eq!(total.report, mean.report);
    for (t, m) in total.values.iter().zip(&mean.values) {
        assert!((t / 20.0 - m).abs() < 1e-12);
    }
}

/// With 20% of the clients dropping after ShareKeys, 80 noises remain of
/// the 100 the guarantee was calibrated for: the report shows the weaker
/// epsilon reached, and a server with a limit below it refuses to release.
#[test]
fn dp_dropouts_weaken_the_epsilon_reached() {
    let (n, m) = (100, 256);
    let (mut config, params) = dp_round_config(n, m);
    let dropouts = Dropouts {
        after_shares: (1..=20).collect(),
        ..Default::default()
    };
    let report = simulate(&params, &config, &inputs(n, m, 71), &dropouts, &mut rng(72)).unwrap();
    println!("20% dropped: {report:?}");
    assert_eq!(report.survivors, 80);
    // Noise variance 80/100 of the calibrated: epsilon grows by about
    // sqrt(100/80) (the Gaussian term dominates at this scale).
    assert!(report.epsilon_reached > 1.1, "{report:?}");
    assert!(report.epsilon_reached < 1.3, "{report:?}");
    config.epsilon_limit = Some(1.05);
    assert_eq!(
        simulate(&params, &config, &inputs(n, m, 71), &dropouts, &mut rng(72)),
        Err(SimulationError::Dp(DpError::ReleaseRefused))
    );
    // Assumed-corrupt clients' noise does not count either.
    let mut config = dp_round_config(n, m).0;
    config.min_honest = 90;
    config.corrupt = 10;
    let cal = config.calibrate().unwrap();
    assert!(cal.report(100).epsilon_reached <= 1.0 + 1e-9);
    assert!(cal.report(95).epsilon_reached > 1.0);
    assert_eq!(cal.report(10).epsilon_reached, f64::INFINITY);
}

/// The round's parameters must match the configuration.
#[test]
fn dp_simulate_checks_params() {
    let (config, _) = dp_round_config(5, 10);
    let params = Params::new(5, 3, 20, 10, Graph::Complete).unwrap(); // not padded
    assert_eq!(
        simulate(
            &params,
            &config,
            &inputs(5, 10, 1),
            &Dropouts::default(),
            &mut rng(1)
        ),
        Err(SimulationError::Dp(DpError::ParamsMismatch))
    );
}

// ----- 4. Wrap probability -----

/// Over 1,000 rounds of the sum of encodings at the calibrated scale (the
/// wrap is a property of the encoded integers, so no masking), the
/// fraction of rounds in which some coordinate leaves [-2^(b-1), 2^(b-1))
/// is below the configured bound, for both mechanisms. The largest
/// coordinate seen is above 2^(b-1) / 8: everything in the sum scales with
/// s, so 8 times the calibrated scale would wrap; the bound is not met by a
/// needlessly small scale.
#[test]
fn dp_wrap_probability_below_bound() {
    for mechanism in [Mechanism::DiscreteGaussian, Mechanism::Skellam] {
        let (n, m, bits) = (10u32, 32u32, 12u8);
        let mut config = DpConfig::new(2.0, 1e-5, 1.0, m, bits, n).unwrap();
        config.mechanism = mechanism;
        config.wrap_probability = 0.05;
        let cal = config.calibrate().unwrap();
        assert!(cal.wrap_bound() <= 0.05);
        let half = 1i64 << (bits - 1);
        let mut r = rng(81);
        let seed = [5u8; 32];
        let mut wrapped = 0;
        let mut max_abs = 0i64;
        let rounds = 1000;
        for round in 0..rounds {
            // Worst case for the signal: every client sends the same
            // direction at full norm.
            let x = vector(&mut rng(1000 + round), m as usize, 5.0);
            let mut sum = vec![0i64; cal.padded_dim()];
            for _ in 0..n {
                let y = cal.encode(&x, &seed, &mut r).unwrap();
                for (s, v) in sum.iter_mut().zip(y) {
                    // Lift each encoding back to a signed integer.
                    let v = if v >= half as u64 {
                        v as i64 - 2 * half
                    } else {
                        v as i64
                    };
                    *s += v;
                }
            }
            let worst = sum.iter().map(|s| s.abs()).max().unwrap();
            max_abs = max_abs.max(worst);
            if sum.iter().any(|&s| s < -half || s >= half) {
                wrapped += 1;
            }
        }
        let rate = f64::from(wrapped) / rounds as f64;
        assert!(
            rate <= 0.05,
            "{mechanism:?}: {wrapped} of {rounds} rounds wrapped"
        );
        assert!(
            max_abs > half / 8,
            "{mechanism:?}: scale not near the modulus ({max_abs})"
        );
    }
}

// ----- 5. Configuration: validation and encoding -----

#[test]
fn dp_bad_configurations_are_typed_errors() {
    let ok = DpConfig::new(1.0, 1e-5, 1.0, 10, 20, 10).unwrap();
    type Case = (Box<dyn Fn(&mut DpConfig)>, DpError);
    let cases: Vec<Case> = vec![
        (Box::new(|c| c.epsilon = 0.0), DpError::Epsilon),
        (Box::new(|c| c.epsilon = -1.0), DpError::Epsilon),
        (Box::new(|c| c.epsilon = f64::NAN), DpError::Epsilon),
        (Box::new(|c| c.epsilon = f64::INFINITY), DpError::Epsilon),
        (Box::new(|c| c.delta = 0.0), DpError::Delta),
        (Box::new(|c| c.delta = 1.0), DpError::Delta),
        (Box::new(|c| c.delta = f64::NAN), DpError::Delta),
        (Box::new(|c| c.clip = 0.0), DpError::Clip),
        (Box::new(|c| c.clip = f64::INFINITY), DpError::Clip),
        (Box::new(|c| c.beta = 1.0), DpError::Beta),
        (Box::new(|c| c.beta = -0.0), DpError::Beta),
        (
            Box::new(|c| c.wrap_probability = 0.0),
            DpError::WrapProbability,
        ),
        (Box::new(|c| c.dim = 0), DpError::Dimension),
        (Box::new(|c| c.bits = 65), DpError::Bits),
        (Box::new(|c| c.bits = 0), DpError::Bits),
        (Box::new(|c| c.clients = 0), DpError::Clients),
        (Box::new(|c| c.min_honest = 0), DpError::Clients),
        (Box::new(|c| c.corrupt = 1), DpError::Clients), // 10 + 1 > 10
        (Box::new(|c| c.rounds = 0), DpError::Rounds),
        (Box::new(|c| c.epsilon_limit = Some(0.5)), DpError::Epsilon),
        (
            Box::new(|c| c.epsilon_limit = Some(f64::INFINITY)),
            DpError::Epsilon,
        ),
    ];
    for (i, (f, want)) in cases.iter().enumerate() {
        let mut c = ok;
        f(&mut c);
        assert_eq!(c.validate(), Err(*want), "case {i}");
        assert_eq!(c.calibrate().err(), Some(*want), "case {i}");
        // The encoding of an invalid config never decodes.
        assert!(DpConfig::decode(&c.to_bytes()).is_err(), "case {i}");
    }
    // A scale that cannot fit b bits.
    let tiny = DpConfig::new(1.0, 1e-5, 1.0, 1000, 8, 100).unwrap();
    assert_eq!(tiny.calibrate().err(), Some(DpError::ScaleDoesNotFit));
    // NaN and infinite inputs, wrong lengths.
    let cal = ok.calibrate().unwrap();
    let mut r = rng(1);
    let mut x = vec![0.1; 10];
    x[3] = f64::NAN;
    assert_eq!(
        cal.encode(&x, &[0; 32], &mut r),
        Err(DpError::NonFiniteInput)
    );
    x[3] = f64::NEG_INFINITY;
    assert_eq!(
        cal.encode(&x, &[0; 32], &mut r),
        Err(DpError::NonFiniteInput)
    );
    assert_eq!(
        cal.encode(&[0.1; 9], &[0; 32], &mut r),
        Err(DpError::InputLength)
    );
    // Huge but finite inputs are clipped, never overflow.
    assert!(cal.encode(&[1e308; 10], &[0; 32], &mut r).is_ok());
    assert!(cal.encode(&[f64::MAX; 10], &[0; 32], &mut r).is_ok());
    assert_eq!(
        cal.decode_sum(&[0; 10], 10, &[0; 32]).err(),
        Some(DpError::InputLength)
    );
    assert_eq!(
        cal.decode_mean(&[0; 16], 0, &[0; 32]).err(),
        Some(DpError::NoContributors)
    );
    assert_eq!(DiscreteGaussian::new(-1.0), Err(DpError::Noise));
    assert_eq!(Skellam::with_variance(f64::NAN), Err(DpError::Noise));
}

#[test]
fn dp_config_encoding_is_canonical() {
    let mut c = DpConfig::new(0.7, 1e-6, 2.5, 1000, 32, 50).unwrap();
    c.min_honest = 40;
    c.corrupt = 5;
    c.rounds = 12;
    c.mechanism = Mechanism::Skellam;
    for limit in [None, Some(3.0)] {
        c.epsilon_limit = limit;
        let bytes = c.to_bytes();
        assert_eq!(DpConfig::decode(&bytes), Ok(c));
        secagg::dp::fuzzing::decode_dp_config(&bytes);
        for cut in 0..bytes.len() {
            assert!(DpConfig::decode(&bytes[..cut]).is_err(), "prefix {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            DpConfig::decode(&long),
            Err(DpError::Decode(secagg::DecodeError::TrailingBytes))
        );
    }
    let bytes = c.to_bytes();
    let f64_at = |i: usize| 2 + 8 * i; // epsilon, delta, clip, beta, wrap
    let bad = |at: usize, v: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + v.len()].copy_from_slice(v);
        DpConfig::decode(&b)
    };
    assert_eq!(
        bad(0, &[2]),
        Err(DpError::Decode(secagg::DecodeError::UnsupportedVersion(2)))
    );
    assert_eq!(
        bad(1, &[2]),
        Err(DpError::Decode(secagg::DecodeError::NonCanonical))
    );
    assert_eq!(
        bad(f64_at(0), &f64::NAN.to_le_bytes()),
        Err(DpError::Epsilon)
    );
    assert_eq!(
        bad(f64_at(0), &f64::INFINITY.to_le_bytes()),
        Err(DpError::Epsilon)
    );
    assert_eq!(
        bad(f64_at(0), &(-1.0f64).to_le_bytes()),
        Err(DpError::Decode(secagg::DecodeError::NonCanonical))
    );
    assert_eq!(
        bad(f64_at(3), &(-0.0f64).to_le_bytes()),
        Err(DpError::Decode(secagg::DecodeError::NonCanonical))
    );
    assert_eq!(bad(f64_at(1), &2.0f64.to_le_bytes()), Err(DpError::Delta));
    assert_eq!(bad(f64_at(2), &f64::NAN.to_le_bytes()), Err(DpError::Clip));
    let limit_tag = bytes.len() - 9;
    assert_eq!(
        bad(limit_tag, &[2]),
        Err(DpError::Decode(secagg::DecodeError::NonCanonical))
    );
    // The fuzz target's seeds decode and re-encode.
    let seeds = secagg::dp::fuzzing::seeds();
    assert_eq!(seeds.len(), 4);
    for s in &seeds {
        assert!(DpConfig::decode(s).is_ok());
        secagg::dp::fuzzing::decode_dp_config(s);
    }
    // Random bytes never panic, and whatever decodes re-encodes identically.
    let mut r = rng(91);
    for len in 0..200 {
        let mut b = vec![0u8; len % 80];
        r.fill_bytes(&mut b);
        secagg::dp::fuzzing::decode_dp_config(&b);
        let mut flip = bytes.clone();
        let i = (r.next_u32() as usize) % flip.len();
        flip[i] ^= 1 << (r.next_u32() % 8);
        secagg::dp::fuzzing::decode_dp_config(&flip);
    }
}

// ----- Plain quantisation and weighted means -----

/// The modulus check: n clients all at the top of the range sum to at most
/// 2^b - 1, so the sum never wraps; decoding gives the clipped sum.
#[test]
fn dp_quantisation_never_wraps_and_decodes() {
    let mut r = rng(101);
    for (bits, n) in [(8u8, 7u32), (16, 100), (32, 1000), (64, 3)] {
        let q = Quantizer::new(-2.0, 3.0, bits, n).unwrap();
        let mut sum = [0u128; 4];
        for _ in 0..n {
            let y = q.encode(&[3.0, 10.0, -2.0, 0.5], &mut r).unwrap();
            for (s, v) in sum.iter_mut().zip(y) {
                *s += u128::from(v);
            }
        }
        let top = (1u128 << bits) - 1;
        assert!(sum.iter().all(|&s| s <= top), "bits {bits} n {n}");
        let sum64: Vec<u64> = sum.iter().map(|&s| s as u64).collect();
        let total = q.decode_sum(&sum64, n as usize).unwrap();
        let step = 5.0 / q.levels() as f64;
        let nf = f64::from(n);
        for (got, want) in total.iter().zip([3.0 * nf, 3.0 * nf, -2.0 * nf]) {
            assert!(
                (got - want).abs() < 1e-9 * nf.max(1.0) + step,
                "{got} vs {want}"
            );
        }
        assert!((total[3] - 0.5 * nf).abs() <= nf * step);
    }
    assert_eq!(
        Quantizer::new(0.0, 1.0, 4, 16).err(),
        Some(DpError::ScaleDoesNotFit)
    );
    assert_eq!(Quantizer::new(1.0, 1.0, 8, 2).err(), Some(DpError::Clip));
    assert_eq!(
        Quantizer::new(0.0, f64::NAN, 8, 2).err(),
        Some(DpError::Clip)
    );
    let q = Quantizer::new(0.0, 1.0, 8, 2).unwrap();
    assert_eq!(q.encode(&[f64::NAN], &mut r), Err(DpError::NonFiniteInput));
}

/// Weighted means through a real secure aggregation round: the weights are
/// masked like the values (the last coordinate), and the server recovers
/// sum(w x) / sum(w).
#[test]
fn dp_weighted_mean_through_a_round() {
    let n = 5u32;
    let q = WeightedQuantizer::new(-1.0, 1.0, 10.0, 32, n).unwrap();
    let params = Params::new(n, 3, 32, 4, Graph::Complete).unwrap();
    let mut r = rng(111);
    let xs = [
        [0.5, -0.5, 0.9],
        [0.1, 0.2, 0.3],
        [-1.0, 1.0, 0.0],
        [0.7, 0.7, -0.7],
        [0.0, 0.0, 0.0],
    ];
    let ws = [1.0, 2.0, 3.0, 4.0, 10.0];
    let encoded: Vec<Vec<u64>> = xs
        .iter()
        .zip(ws)
        .map(|(x, w)| q.encode(x, w, &mut r).unwrap())
        .collect();
    let report = secagg::simulation::run(&params, &encoded, &Dropouts::default(), &mut r);
    let agg = report.result.unwrap();
    let (mean, weight) = q.decode_mean(&agg.sum, 5).unwrap();
    assert!((weight - 20.0).abs() < 1e-6);
    for j in 0..3 {
        let want: f64 = xs.iter().zip(ws).map(|(x, w)| w * x[j]).sum::<f64>() / 20.0;
        assert!((mean[j] - want).abs() < 1e-6, "coordinate {j}");
    }
}
