//! Privacy accounting: zCDP / Rényi DP to (epsilon, delta), the distributed
//! discrete Gaussian and Skellam bounds, composition over rounds, the wrap
//! bound, and the central Gaussian baseline (spec/dp.md section 5).
//!
//! Every bound here is a function of *scaled* quantities (the integer
//! domain after scaling by `s`): `delta2` the L2 sensitivity after
//! rounding, `sigma` the standard deviation of one client's noise.

use super::DpError;

/// The epsilon of a `rho`-zCDP mechanism at `delta`: the smallest
/// `rho alpha + ln(1 - 1/alpha) - (ln delta + ln alpha) / (alpha - 1)` over
/// `alpha > 1` (Canonne, Kamath, Steinke 2020, Proposition 12; the same conversion as OpenDP's `make_zCDP_to_approxDP`). 0 for
/// `rho = 0`; `rho` and `delta` are assumed valid (`rho >= 0`, `0 < delta < 1`).
///
/// ```
/// let eps = secagg::dp::accounting::zcdp_epsilon(0.5, 1e-5);
/// // Looser than the textbook rho + 2 sqrt(rho ln(1/delta)), never more.
/// assert!(eps < 0.5 + 2.0 * (0.5 * 1e5f64.ln()).sqrt());
/// assert!((eps - 4.728).abs() < 1e-3);
/// ```
pub fn zcdp_epsilon(rho: f64, delta: f64) -> f64 {
    rdp_linear_epsilon(0.0, rho, delta, false)
}

/// The epsilon at `delta` of a mechanism whose Rényi divergence of order
/// `alpha` is at most `xi + rho alpha` for every `alpha > 1` (or every
/// integer `alpha >= 2` when `integer_orders`), by the same conversion as
/// [`zcdp_epsilon`] (CKS20 Proposition 12): `xi + g(alpha*)`.
fn rdp_linear_epsilon(xi: f64, rho: f64, delta: f64, integer_orders: bool) -> f64 {
    if rho.is_nan() || xi.is_nan() || rho.is_infinite() || xi.is_infinite() {
        return f64::INFINITY;
    }
    if rho <= 0.0 {
        return xi.max(0.0);
    }
    let ln_delta = delta.ln();
    let g = |a: f64| rho * a + (-1.0 / a).ln_1p() - (ln_delta + a.ln()) / (a - 1.0);
    // g'(alpha) = rho + ln(alpha delta) / (alpha - 1)^2: negative below the
    // root of rho (alpha - 1)^2 + ln(alpha delta), positive above, and the
    // root lies in (1, 1/delta). Bisect on ln(alpha - 1).
    // In logarithms: for a subnormal delta, 1/delta and alpha delta leave
    // the range of f64 (to infinity, or to 0) while ln delta does not.
    let h = |a: f64| rho * (a - 1.0) * (a - 1.0) + a.ln() + ln_delta;
    let (mut lo, mut hi) = (-40.0f64, -ln_delta);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if h(1.0 + mid.exp()) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let a = 1.0 + hi.exp();
    let eps = if integer_orders {
        let f = a.floor().max(2.0);
        g(f).min(g(f + 1.0))
    } else {
        g(a)
    };
    // Degenerate inputs (an order that rounds to 1) give NaN: no guarantee.
    // Tested before the clamp at 0, which would take NaN for 0.
    if eps.is_nan() {
        return f64::INFINITY;
    }
    xi + eps.max(0.0)
}

/// The noise mechanism each client uses.
///
/// ```
/// let mut c = secagg::dp::DpConfig::new(1.0, 1e-5, 1.0, 100, 24, 10)?;
/// c.mechanism = secagg::dp::Mechanism::Skellam;
/// assert!(c.calibrate().is_ok());
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// The distributed discrete Gaussian (Kairouz, Liu, Steinke ICML 2021).
    DiscreteGaussian,
    /// The distributed Skellam mechanism (Agarwal, Kairouz, Liu NeurIPS 2021).
    Skellam,
}

/// The L2 norm bound after conditional randomized rounding of a vector of
/// norm at most `norm` in dimension `d` (KLS21 Theorem 1 and Proposition 22, as in
/// the paper's `rounded_l2_norm_bound`): `min(norm + sqrt(d), sqrt(norm^2 +
/// d/4 + sqrt(2 ln(1/beta)) (norm + sqrt(d)/2)))`, the second only for
/// `beta > 0`.
///
/// ```
/// let b = secagg::dp::accounting::rounded_l2_bound(100.0, 0.0, 64);
/// assert_eq!(b, 108.0);
/// assert!(secagg::dp::accounting::rounded_l2_bound(100.0, 0.5f64.exp().recip(), 64) < 108.0);
/// ```
pub fn rounded_l2_bound(norm: f64, beta: f64, d: usize) -> f64 {
    let sd = super::rotate::usize_f64(d).sqrt();
    let bound1 = norm + sd;
    if beta <= 0.0 {
        return bound1;
    }
    let sq = norm * norm + 0.25 * sd * sd + (2.0 * (1.0 / beta).ln()).sqrt() * (norm + 0.5 * sd);
    bound1.min(sq.sqrt())
}

/// The L1 bound of an integer vector of L2 norm at most `l2` in dimension
/// `d`: `l2 min(sqrt(d), l2)` (KLS21 section 4; `||x||_1 <= ||x||_2^2` for
/// integer vectors).
fn l1_bound(l2: f64, d: usize) -> f64 {
    l2 * super::rotate::usize_f64(d).sqrt().min(l2)
}

/// KLS21 Theorem 1's `tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k /
/// (k + 1))`, where `sigma` is one client's discrete Gaussian parameter.
/// Summed exactly for `k <= 10^4`; every later term is bounded by its limit
/// `exp(-2 pi^2 sigma^2 10^4 / (10^4 + 1))` (an upper bound on tau).
///
/// ```
/// use secagg::dp::accounting::ddg_tau;
/// // Negligible once sigma is a few units: the sum of discrete Gaussians
/// // is then as good as one discrete Gaussian.
/// assert_eq!(ddg_tau(10.0, 100), 0.0);
/// let t = ddg_tau(0.5, 2); // one term: 10 exp(-2 pi^2 / 4 / 2)
/// assert!((t - 10.0 * (-std::f64::consts::PI.powi(2) / 4.0).exp()).abs() < 1e-12);
/// ```
pub fn ddg_tau(sigma: f64, n: u64) -> f64 {
    let c = 2.0 * core::f64::consts::PI * core::f64::consts::PI * sigma * sigma;
    // Every term is at most exp(-c / 2); below 1e-300 / n the sum vanishes.
    if n < 2 || -c / 2.0 < -745.0 {
        return 0.0;
    }
    let exact = (n - 1).min(10_000);
    let mut sum = 0.0;
    for k in 1..=exact {
        #[allow(clippy::cast_precision_loss, reason = "k <= 10^4")]
        let kf = k as f64;
        sum += (-c * kf / (kf + 1.0)).exp();
    }
    let rest = n - 1 - exact;
    if rest > 0 {
        #[allow(clippy::cast_precision_loss, reason = "a count, rounding is harmless")]
        let r = rest as f64;
        sum += r * (-c * 10_000.0 / 10_001.0).exp();
    }
    10.0 * sum
}

/// The (epsilon, delta) guarantee over `rounds` rounds of the sum of
/// `honest` clients' noise, each of standard deviation `sigma` (scaled
/// units), for an L2 sensitivity `delta2` after rounding in dimension `d`.
///
/// Discrete Gaussian: KLS21 Proposition 14 / Eq. 17 (Rényi DP of the
/// distributed discrete Gaussian, with Theorem 1's tau); requires `sigma >=
/// 1/2` (KLS21 Theorem 1), else infinite. Skellam: Agarwal, Kairouz, Liu
/// 2021, as in their accounting code (`_skellam_rdp`). Both are
/// evaluated at integer orders `alpha >= 2` only, as the papers' accounting
/// code does (conservative: a subset of the orders). Composition: Rényi DP
/// adds over rounds. Conversion: [`zcdp_epsilon`]'s (CKS20 Proposition 12)
/// at the best integer order.
/// Infinite when `honest` is 0.
///
/// ```
/// use secagg::dp::accounting::{epsilon, rounded_l2_bound, Mechanism};
/// // 100 clients, d = 1024, clip 1 at scale 100, beta = e^-0.5.
/// let delta2 = rounded_l2_bound(100.0, (-0.5f64).exp(), 1024);
/// let e = |honest, rounds| {
///     epsilon(Mechanism::DiscreteGaussian, delta2, 1024, 50.0, honest, rounds, 1e-5)
/// };
/// assert!(e(80, 1) > e(100, 1)); // dropouts weaken the guarantee
/// assert!(e(100, 4) > e(100, 1)); // so does composition
/// assert_eq!(e(0, 1), f64::INFINITY);
/// ```
pub fn epsilon(
    mechanism: Mechanism,
    delta2: f64,
    d: usize,
    sigma: f64,
    honest: u64,
    rounds: u32,
    delta: f64,
) -> f64 {
    if honest == 0 || sigma <= 0.0 || !sigma.is_finite() {
        return f64::INFINITY;
    }
    #[allow(clippy::cast_precision_loss, reason = "client counts are below 2^53")]
    let nf = honest as f64;
    let t = f64::from(rounds);
    let dd = super::rotate::usize_f64(d);
    let l1 = l1_bound(delta2, d);
    let var = nf * sigma * sigma;
    match mechanism {
        Mechanism::DiscreteGaussian => {
            if sigma < 0.5 {
                return f64::INFINITY;
            }
            let tau = ddg_tau(sigma, honest);
            let l2s = delta2 / var.sqrt();
            let l1s = l1 / var.sqrt();
            let terms = [
                (tau * dd, l2s * l2s / 2.0),
                (0.0, (l2s * l2s + 2.0 * l1s * tau + tau * tau * dd) / 2.0),
                (0.0, (l2s + dd.sqrt() * tau).powi(2) / 2.0),
            ];
            terms
                .iter()
                .map(|&(xi, rho)| rdp_linear_epsilon(t * xi, t * rho, delta, true))
                .fold(f64::INFINITY, f64::min)
        }
        Mechanism::Skellam => {
            let a2 = delta2 * delta2;
            let terms = [
                (
                    (6.0 * l1 - a2) / (4.0 * var * var),
                    a2 / (2.0 * var) + a2 / (2.0 * var * var),
                ),
                (3.0 * l1 / (2.0 * var), a2 / (2.0 * var)),
            ];
            terms
                .iter()
                .map(|&(xi, rho)| rdp_linear_epsilon(t * xi, t * rho, delta, true))
                .fold(f64::INFINITY, f64::min)
        }
    }
}

/// The smallest per-client standard deviation (scaled units, within 1e-9
/// relative) meeting `target` epsilon at `delta` with `honest` clients, or
/// `None` when even `2^20` does not.
///
/// ```
/// use secagg::dp::accounting::{epsilon, local_sigma, rounded_l2_bound, Mechanism};
/// let delta2 = rounded_l2_bound(100.0, (-0.5f64).exp(), 1024);
/// let g = Mechanism::DiscreteGaussian;
/// let sigma = local_sigma(g, delta2, 1024, 100, 1, 1e-5, 1.0).unwrap();
/// assert!(epsilon(g, delta2, 1024, sigma, 100, 1, 1e-5) <= 1.0);
/// assert!(epsilon(g, delta2, 1024, 0.99 * sigma, 100, 1, 1e-5) > 1.0);
/// ```
#[allow(clippy::too_many_arguments, reason = "the accountant's inputs")]
pub fn local_sigma(
    mechanism: Mechanism,
    delta2: f64,
    d: usize,
    honest: u64,
    rounds: u32,
    delta: f64,
    target: f64,
) -> Option<f64> {
    let eps = |s: f64| epsilon(mechanism, delta2, d, s, honest, rounds, delta);
    let (mut lo, mut hi) = ((1.0f64 / 256.0).ln(), 20.0 * core::f64::consts::LN_2);
    if eps(hi.exp()) > target {
        return None;
    }
    if eps(lo.exp()) <= target {
        return Some(lo.exp());
    }
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if eps(mid.exp()) <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.exp())
}

/// An upper bound on the probability that some coordinate of the sum
/// leaves `[-2^(b-1), 2^(b-1))` (and so wraps): a Chernoff bound per
/// coordinate, times `d` (union bound), times 2 (two tails).
///
/// One coordinate of the sum of `clients` encodings is the rotated signal
/// (sub-Gaussian with variance proxy `(clients c s)^2 / d`: a Rademacher
/// sum, Hoeffding), the rounding errors (each in an interval of length 1:
/// proxy 1/4) and the noise (discrete Gaussian: proxy `sigma^2`, CKS20
/// section 2; Skellam: its exact moment generating function
/// `exp(sigma^2 (cosh l - 1))`).
///
/// ```
/// use secagg::dp::accounting::{wrap_bound, Mechanism};
/// let g = Mechanism::DiscreteGaussian;
/// // 100 clients, d = 2^16, clip 1, scale 17000, sigma 6900, 20 bits.
/// assert!(wrap_bound(g, 20, 65536, 100, 1.0, 17000.0, 6900.0) < 1e-6);
/// // Twice the scale does not fit.
/// assert!(wrap_bound(g, 20, 65536, 100, 1.0, 34000.0, 13800.0) > 0.01);
/// ```
#[allow(clippy::too_many_arguments, reason = "the bound's inputs")]
pub fn wrap_bound(
    mechanism: Mechanism,
    bits: u8,
    d: usize,
    clients: u64,
    clip: f64,
    scale: f64,
    sigma: f64,
) -> f64 {
    if bits < 2 {
        return 1.0;
    }
    #[allow(clippy::cast_precision_loss, reason = "client counts are below 2^53")]
    let n = clients as f64;
    let dd = super::rotate::usize_f64(d);
    let b = 2f64.powi(i32::from(bits) - 1) - 1.0;
    let v = (n * clip * scale).powi(2) / dd + n / 4.0;
    let s2 = n * sigma * sigma;
    let ln_one = match mechanism {
        Mechanism::DiscreteGaussian => -b * b / (2.0 * (v + s2)),
        Mechanism::Skellam => {
            // min over l > 0 of l^2 v / 2 + s2 (cosh l - 1) - l b: convex,
            // derivative l v + s2 sinh l - b, increasing. cosh l - 1 as
            // 2 sinh^2(l / 2): the minimiser can be as small as 1e-9, where
            // cosh l rounds to 1 and the noise term would vanish.
            let f = |l: f64| l * l * v / 2.0 + s2 * 2.0 * (l / 2.0).sinh().powi(2) - l * b;
            let df = |l: f64| l * v + s2 * l.sinh() - b;
            let mut hi = 1e-9;
            while df(hi) < 0.0 && hi < 700.0 {
                hi *= 2.0;
            }
            let mut lo = 0.0;
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if df(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            f(hi)
        }
    };
    (2.0 * dd * ln_one.exp()).min(1.0)
}

/// The complementary error function, to about 1e-15 relative: the Taylor
/// series of erf below 2, Lentz's continued fraction above.
///
/// ```
/// use secagg::dp::accounting::erfc;
/// assert!((erfc(1.0) - 0.157_299_207_050_285_13).abs() < 1e-15);
/// assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 1e-15);
/// ```
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200u32 {
            let nf = f64::from(n);
            term *= -x2 / nf;
            let add = term / (2.0 * nf + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return 1.0 - 2.0 / core::f64::consts::PI.sqrt() * sum;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500u32 {
        let a = f64::from(n) / 2.0;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * core::f64::consts::PI.sqrt())
}

/// The standard normal CDF.
fn phi(t: f64) -> f64 {
    0.5 * erfc(-t / core::f64::consts::SQRT_2)
}

/// The smallest standard deviation of the central continuous Gaussian
/// mechanism that is (epsilon, delta)-DP for L2 sensitivity `sensitivity`:
/// the analytic Gaussian mechanism of Balle and Wang (ICML 2018, Theorem
/// 8), `Phi(D/(2s) - eps s/D) - e^eps Phi(-D/(2s) - eps s/D) <= delta`,
/// solved by bisection to 1e-12 relative.
///
/// ```
/// let s = secagg::dp::accounting::analytic_gaussian_sigma(1.0, 1e-5, 1.0)?;
/// assert!((s - 3.7306).abs() < 1e-3);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
///
/// # Errors
/// [`DpError::Epsilon`], [`DpError::Delta`] or [`DpError::Clip`] for a
/// non-positive or non-finite epsilon or sensitivity, or delta outside (0, 1).
pub fn analytic_gaussian_sigma(epsilon: f64, delta: f64, sensitivity: f64) -> Result<f64, DpError> {
    super::check_epsilon(epsilon)?;
    super::check_delta(delta)?;
    super::check_clip(sensitivity)?;
    let dl = |s: f64| {
        let a = sensitivity / (2.0 * s);
        let b = epsilon * s / sensitivity;
        phi(a - b) - epsilon.exp() * phi(-a - b)
    };
    let (mut lo, mut hi) = (1e-6 * sensitivity, sensitivity);
    while dl(hi) > delta {
        hi *= 2.0;
        if !hi.is_finite() {
            return Err(DpError::Epsilon);
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if dl(mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi {
            break;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_erfc_values() {
        // Abramowitz and Stegun table 7.1 / exact values.
        assert!((erfc(0.0) - 1.0).abs() < 1e-15);
        assert!((erfc(1.0) - 0.157_299_207_050_285_13).abs() < 1e-15);
        assert!((erfc(3.0) / 2.209_049_699_858_544e-5 - 1.0).abs() < 1e-12);
        assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 1e-15);
        assert!((erfc(2.0) / 4.677_734_981_047_266e-3 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn dp_zcdp_limits() {
        assert_eq!(zcdp_epsilon(0.0, 1e-5), 0.0);
        // Larger rho, larger epsilon; smaller delta, larger epsilon.
        assert!(zcdp_epsilon(0.1, 1e-5) < zcdp_epsilon(0.2, 1e-5));
        assert!(zcdp_epsilon(0.1, 1e-5) < zcdp_epsilon(0.1, 1e-7));
        // Never worse than rho + 2 sqrt(rho ln(1/delta)) (Bun-Steinke 2016).
        for rho in [1e-3, 0.1, 1.0, 10.0] {
            assert!(zcdp_epsilon(rho, 1e-6) <= rho + 2.0 * (rho * 1e6f64.ln()).sqrt());
        }
    }

    /// A subnormal delta (below `f64::MIN_POSITIVE`, where `1 / delta` is
    /// infinite) gives the epsilon its logarithm says, larger than at any
    /// larger delta: neither 0 (a NaN clamped at 0 claimed perfect privacy,
    /// and calibration then chose no noise) nor NaN.
    #[test]
    fn dp_subnormal_delta_is_accounted_like_any_other() {
        for rho in [1e-3, 0.1, 1.0] {
            let mut last = zcdp_epsilon(rho, 1e-300);
            for delta in [1e-310, 1e-320, 5e-324] {
                let e = zcdp_epsilon(rho, delta);
                assert!(e.is_finite() && e > last, "rho {rho}, delta {delta}: {e}");
                // Within the textbook bound rho + 2 sqrt(rho ln(1/delta)).
                assert!(e <= rho + 2.0 * (-rho * delta.ln()).sqrt());
                last = e;
            }
            let int = rdp_linear_epsilon(0.0, rho, 5e-324, true);
            assert!(int.is_finite() && int >= zcdp_epsilon(rho, 5e-324));
        }
    }

    #[test]
    fn dp_degenerate_rho_is_no_guarantee() {
        assert!(zcdp_epsilon(1e45, 1e-5) >= 1e44);
        assert!(!rdp_linear_epsilon(0.0, 1e300, 1e-5, true).is_nan());
        assert_eq!(
            rdp_linear_epsilon(0.0, f64::INFINITY, 1e-5, false),
            f64::INFINITY
        );
    }

    #[test]
    fn dp_tau_vanishes_for_large_sigma() {
        assert_eq!(ddg_tau(30.0, 1000), 0.0);
        assert!(ddg_tau(0.5, 100) > 0.0);
        assert_eq!(ddg_tau(0.5, 1), 0.0);
        // The tail bound is an upper bound: n = 10^6 > n = 10^4 + 1.
        assert!(ddg_tau(0.5, 1_000_000) > ddg_tau(0.5, 10_001));
    }
}
