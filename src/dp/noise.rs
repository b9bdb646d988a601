//! Discrete noise: the exact discrete Gaussian sampler of Canonne, Kamath
//! and Steinke (NeurIPS 2020, "The Discrete Gaussian for Differential
//! Privacy", Algorithms 1-3) and the Skellam distribution of Agarwal,
//! Kairouz and Liu (NeurIPS 2021, "The Skellam Mechanism for Differentially
//! Private Federated Learning").
//!
//! Implements spec/dp.md section 4. Every draw takes the injected RNG.
//!
//! The discrete Gaussian sampler uses integer arithmetic only: `sigma^2` is
//! held as `N / 2^16` (rounded *up* from the requested value, so never less
//! noise than asked for) with `1 <= N <= 2^56`, i.e. `1/256 <= sigma <=
//! 2^20`. Every Bernoulli trial compares a uniform integer with a rational,
//! so the output distribution is exactly `N_Z(0, sigma^2)`, except that a
//! Laplace candidate with `|y| >= 2^28` or `|y| t >= 2^48` (`t = floor(sigma)
//! + 1`; either way at least 255 sigma from 0) is rejected outright instead
//! of being accepted with probability below `e^-32000`.

use rand_core::CryptoRng;

use super::DpError;

/// `sigma^2 = n / 2^GRID_BITS`.
const GRID_BITS: u32 = 16;
/// The largest grid numerator: `sigma <= 2^20`.
const MAX_N: u64 = 1 << 56;
/// Laplace candidates at least this far from zero are rejected.
const MAX_CANDIDATE: u64 = 1 << 28;

/// A uniform integer in `[0, n)`, `n >= 1` (rejection sampling: unbiased).
fn below_u64<R: CryptoRng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    // 2^64 mod n: values below it would bias the remainder.
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        if x >= threshold {
            return x % n;
        }
    }
}

/// A uniform integer in `[0, n)`, `n >= 1`.
fn below_u128<R: CryptoRng + ?Sized>(rng: &mut R, n: u128) -> u128 {
    if let Ok(small) = u64::try_from(n) {
        return u128::from(below_u64(rng, small));
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let x = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if x >= threshold {
            return x % n;
        }
    }
}

/// Bernoulli(`num / den`), `num <= den`, `den >= 1`: exact.
fn bernoulli<R: CryptoRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    below_u128(rng, den) < num
}

/// Bernoulli(`exp(-num / den)`) for `num <= den` (CKS20 Algorithm 1, the
/// case `gamma in [0, 1]`): exact.
fn bernoulli_exp_unit<R: CryptoRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    let mut k: u128 = 1;
    // Bernoulli(gamma / k); a denominator past u128 means a probability
    // below 2^-128 / gamma, reached after k! trials: treated as 0.
    while let Some(d) = den.checked_mul(k) {
        if !bernoulli(rng, num, d) {
            break;
        }
        k += 1;
    }
    k % 2 == 1
}

/// Bernoulli(`exp(-num / den)`) for any `num / den >= 0` (CKS20 Algorithm 1):
/// exact.
fn bernoulli_exp<R: CryptoRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    let whole = num / den;
    let mut i: u128 = 0;
    while i < whole {
        if !bernoulli_exp_unit(rng, 1, 1) {
            return false;
        }
        i += 1;
    }
    bernoulli_exp_unit(rng, num % den, den)
}

/// A discrete Laplace draw, `P(x) ∝ exp(-|x| / t)`, `t >= 1` (CKS20
/// Algorithm 2 with `s = 1`).
fn discrete_laplace<R: CryptoRng + ?Sized>(rng: &mut R, t: u64) -> i64 {
    loop {
        let u = below_u64(rng, t);
        if !bernoulli_exp_unit(rng, u128::from(u), u128::from(t)) {
            continue;
        }
        let mut v: u64 = 0;
        while bernoulli_exp_unit(rng, 1, 1) {
            v += 1;
        }
        let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) else {
            continue;
        };
        let Ok(x) = i64::try_from(x) else {
            continue;
        };
        let negative = rng.next_u32() & 1 == 1;
        if negative && x == 0 {
            continue;
        }
        return if negative { -x } else { x };
    }
}

/// The exact discrete Gaussian `N_Z(0, sigma^2)`: `P(x) ∝ exp(-x^2 / (2
/// sigma^2))` over the integers (CKS20 Algorithm 3).
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::noise::DiscreteGaussian;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let g = DiscreteGaussian::new(3.0)?;
/// let draws: Vec<i64> = (0..1000).map(|_| g.sample(&mut rng)).collect();
/// assert!(draws.iter().all(|x| x.abs() < 40));
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscreteGaussian {
    /// `sigma^2 = n / 2^16`.
    n: u64,
    /// `floor(sigma) + 1`, the Laplace scale.
    t: u64,
}

impl DiscreteGaussian {
    /// The discrete Gaussian with parameter `sigma` (its variance is
    /// slightly below `sigma^2`; see [`DiscreteGaussian::variance`]).
    /// `sigma^2` is rounded up to a multiple of `2^-16`.
    ///
    /// # Errors
    /// [`DpError::Noise`] unless `1/256 <= sigma <= 2^20` and finite.
    pub fn new(sigma: f64) -> Result<Self, DpError> {
        if !sigma.is_finite() || sigma <= 0.0 {
            return Err(DpError::Noise);
        }
        let scaled = (sigma * sigma * f64::from(1u32 << GRID_BITS)).ceil();
        // MAX_N is exactly representable.
        #[allow(clippy::cast_precision_loss, reason = "2^56 is exact")]
        let max = MAX_N as f64;
        if !(1.0..=max).contains(&scaled) {
            return Err(DpError::Noise);
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "an integer in [1, 2^56]"
        )]
        let n = scaled as u64;
        let t = isqrt(n) / (1 << (GRID_BITS / 2)) + 1;
        Ok(Self { n, t })
    }

    /// `sigma^2` as held (a multiple of `2^-16`).
    pub fn sigma_squared(&self) -> f64 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "n <= 2^56, a multiple of 2^-16 is exact"
        )]
        let n = self.n as f64;
        n / f64::from(1u32 << GRID_BITS)
    }

    /// The variance of the distribution, `sum x^2 P(x)`: below `sigma^2`,
    /// and equal to it to double precision once `sigma >= 2` (CKS20 section 2.1).
    pub fn variance(&self) -> f64 {
        let s2 = self.sigma_squared();
        if s2 >= 4.0 {
            return s2;
        }
        let (mut num, mut den) = (0.0, 1.0);
        for k in 1..200u32 {
            let k = f64::from(k);
            let w = (-k * k / (2.0 * s2)).exp();
            num += 2.0 * k * k * w;
            den += 2.0 * w;
        }
        num / den
    }

    /// One draw.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let n = u128::from(self.n);
        let t = u128::from(self.t);
        // gamma = (|y| - sigma^2 / t)^2 / (2 sigma^2)
        //       = (|y| t 2^16 - n)^2 / (2^17 n t^2); the denominator is
        //       below 2^17 * 2^56 * 2^42 = 2^115.
        let den = (n * t * t) << (GRID_BITS + 1);
        loop {
            let y = discrete_laplace(rng, self.t);
            let a = y.unsigned_abs();
            if a >= MAX_CANDIDATE {
                continue;
            }
            // |y| t 2^16 < 2^28 * 2^21 * 2^16 = 2^65: in u128; |u| < 2^65
            // and u^2 < 2^130 may overflow, so keep only |u| < 2^64.
            let scaled = (u128::from(a) * t) << GRID_BITS;
            let u = scaled.abs_diff(n);
            let Some(num) = u.checked_mul(u) else {
                continue;
            };
            if bernoulli_exp(rng, num, den) {
                return y;
            }
        }
    }
}

/// `floor(sqrt(n))`.
fn isqrt(n: u64) -> u64 {
    n.isqrt()
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
fn unit<R: CryptoRng + ?Sized>(rng: &mut R) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "53 bits are exact")]
    let x = (rng.next_u64() >> 11) as f64;
    x * (1.0 / 9_007_199_254_740_992.0)
}

/// `ln(k!)`: exact sum below 30, Stirling's series (error below 1e-15)
/// above.
fn ln_factorial(k: u64) -> f64 {
    if k < 30 {
        return (2..=k).map(|i| (i as f64).ln()).sum();
    }
    #[allow(clippy::cast_precision_loss, reason = "k < 2^53 in use")]
    let x = k as f64;
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    x * x.ln() - x
        + 0.5 * (2.0 * core::f64::consts::PI * x).ln()
        + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0)))
}

/// A Poisson(`mu`) draw: inversion for `mu < 12`, Hörmann's PTRS
/// (transformed rejection with squeeze, Insurance: Mathematics and
/// Economics 12, 1993) above. Floating point: not exact like the discrete
/// Gaussian.
fn poisson<R: CryptoRng + ?Sized>(rng: &mut R, mu: f64) -> u64 {
    if mu < 12.0 {
        let mut p = (-mu).exp();
        let mut cdf = p;
        let u = unit(rng);
        let mut k: u64 = 0;
        while u > cdf && k < 1000 {
            k += 1;
            #[allow(clippy::cast_precision_loss, reason = "k < 1000")]
            let kf = k as f64;
            p *= mu / kf;
            cdf += p;
        }
        return k;
    }
    let smu = mu.sqrt();
    let b = 0.931 + 2.53 * smu;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    let ln_mu = mu.ln();
    loop {
        let u = unit(rng) - 0.5;
        let v = unit(rng);
        let us = 0.5 - u.abs();
        let kf = ((2.0 * a / us + b) * u + mu + 0.43).floor();
        if us >= 0.07 && v <= vr {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "k >= 0 here"
            )]
            return kf.max(0.0) as u64;
        }
        if kf < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "k >= 0 here"
        )]
        let k = kf as u64;
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln() <= -mu + kf * ln_mu - ln_factorial(k)
        {
            return k;
        }
    }
}

/// The Skellam distribution `Sk(mu, mu)`: the difference of two
/// independent Poisson(`mu`) draws, variance `2 mu` (Agarwal, Kairouz, Liu
/// 2021, section 3).
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::noise::Skellam;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let s = Skellam::with_variance(50.0)?;
/// assert_eq!(s.variance(), 50.0);
/// let x = s.sample(&mut rng);
/// assert!(x.abs() < 200);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skellam {
    mu: f64,
}

impl Skellam {
    /// The Skellam distribution of the given variance (`mu = variance / 2`).
    ///
    /// # Errors
    /// [`DpError::Noise`] unless `0 < variance <= 2^40` and finite.
    pub fn with_variance(variance: f64) -> Result<Self, DpError> {
        if !variance.is_finite() || variance <= 0.0 || variance > (1u64 << 40) as f64 {
            return Err(DpError::Noise);
        }
        Ok(Self { mu: variance / 2.0 })
    }

    /// The variance, `2 mu`.
    pub fn variance(&self) -> f64 {
        2.0 * self.mu
    }

    /// One draw.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let a = poisson(rng, self.mu);
        let b = poisson(rng, self.mu);
        // Both below 2^41 (mu <= 2^39, far tails rejected by PTRS's range).
        let a = i64::try_from(a).unwrap_or(i64::MAX);
        let b = i64::try_from(b).unwrap_or(i64::MAX);
        a - b
    }
}

/// The noise one client adds to each coordinate.
///
/// ```
/// use secagg::dp::noise::{DiscreteGaussian, Noise};
/// let n = Noise::Gaussian(DiscreteGaussian::new(10.0)?);
/// assert_eq!(n.sigma(), 10.0);
/// assert_eq!(n.variance(), 100.0);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// Discrete Gaussian.
    Gaussian(DiscreteGaussian),
    /// Skellam.
    Skellam(Skellam),
}

impl Noise {
    /// One draw.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        match self {
            Self::Gaussian(g) => g.sample(rng),
            Self::Skellam(s) => s.sample(rng),
        }
    }

    /// The variance of one draw.
    pub fn variance(&self) -> f64 {
        match self {
            Self::Gaussian(g) => g.variance(),
            Self::Skellam(s) => s.variance(),
        }
    }

    /// The parameter the accountant uses: the discrete Gaussian's `sigma`
    /// (as held on its grid), the Skellam's standard deviation.
    pub fn sigma(&self) -> f64 {
        match self {
            Self::Gaussian(g) => g.sigma_squared().sqrt(),
            Self::Skellam(s) => s.variance().sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use rand_core::SeedableRng;

    /// An RNG that replays fixed 64-bit words (then zeros).
    struct Words(Vec<u64>);

    impl rand_core::TryRng for Words {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(u32::try_from(self.try_next_u64()? >> 32).unwrap())
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            })
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for c in dst.chunks_mut(8) {
                let w = self.try_next_u64()?.to_le_bytes();
                c.copy_from_slice(&w[..c.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for Words {}

    /// spec/dp.md section 4: `Bernoulli(p / q)` draws a uniform integer in
    /// `[0, q)` by rejection sampling, unbiased. A 64-bit word `x` maps to
    /// `x mod q` only when `x >= 2^64 mod q` (then each residue has exactly
    /// `floor(2^64 / q)` preimages); the words below are redrawn. With
    /// `q = 2^63 + 1`, `2^64 mod q = 2^63 - 1`: the word `2^63 - 2` is
    /// rejected, `2^63 - 1` (the threshold itself) accepted. Fails when the
    /// rejection is dropped or its comparison made strict.
    #[test]
    fn uniform_below_rejects_exactly_the_biased_words() {
        let q = (1u64 << 63) + 1;
        let threshold = u64::MAX - q + 1; // 2^64 - q = 2^64 mod q, as q > 2^63
        assert_eq!(threshold, (1u64 << 63) - 1);
        let mut rng = Words(vec![threshold - 1, threshold, u64::MAX]);
        assert_eq!(below_u64(&mut rng, q), threshold % q);
        assert_eq!(rng.0, vec![u64::MAX], "one word rejected, one used");
        // n = 3: 2^64 = 1 mod 3, so only the word 0 is redrawn.
        let mut rng = Words(vec![0, 0, 5]);
        assert_eq!(below_u64(&mut rng, 3), 2);
        // q = 2^127 + 1 > 2^64 (two words per draw, high first):
        // 2^128 mod q = 2^127 - 1.
        let q = (1u128 << 127) + 1;
        let t = (1u128 << 127) - 1;
        let words = |x: u128| {
            [
                u64::try_from(x >> 64).unwrap(),
                u64::try_from(x & u128::from(u64::MAX)).unwrap(),
            ]
        };
        let mut script = words(t - 1).to_vec();
        script.extend(words(t));
        script.extend(words(u128::MAX));
        let mut rng = Words(script);
        assert_eq!(below_u128(&mut rng, q), t);
        assert_eq!(rng.0.len(), 2);
        // Bernoulli(p / q) is the comparison of that draw with p.
        let mut rng = Words(vec![0, 2]);
        assert!(
            !bernoulli(&mut rng, 2, 3),
            "the word 0 is redrawn: 2 < 2 fails"
        );
    }

    #[test]
    fn dp_grid_and_bounds() {
        assert_eq!(DiscreteGaussian::new(0.0), Err(DpError::Noise));
        assert_eq!(DiscreteGaussian::new(f64::NAN), Err(DpError::Noise));
        assert_eq!(DiscreteGaussian::new(1e7), Err(DpError::Noise));
        let g = DiscreteGaussian::new(3.0).unwrap();
        assert_eq!(g.sigma_squared(), 9.0);
        assert_eq!(g.t, 4);
        let g = DiscreteGaussian::new(0.5).unwrap();
        assert_eq!((g.sigma_squared(), g.t), (0.25, 1));
        assert!(DiscreteGaussian::new(1024.0 * 1024.0).is_ok());
    }

    #[test]
    fn dp_bernoulli_exp_rate() {
        // P = exp(-3/2): 200k trials, 5 standard deviations.
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(9);
        let trials = 200_000u32;
        let hits = (0..trials)
            .filter(|_| bernoulli_exp(&mut rng, 3, 2))
            .count();
        let p = (-1.5f64).exp();
        let sd = (f64::from(trials) * p * (1.0 - p)).sqrt();
        assert!((hits as f64 - f64::from(trials) * p).abs() < 5.0 * sd);
    }

    #[test]
    fn dp_poisson_mean() {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(2);
        for mu in [0.5, 5.0, 40.0, 1e6] {
            let n = 20_000u32;
            let mean = (0..n).map(|_| poisson(&mut rng, mu) as f64).sum::<f64>() / f64::from(n);
            assert!(
                (mean - mu).abs() < 5.0 * (mu / f64::from(n)).sqrt(),
                "mu {mu}: {mean}"
            );
        }
    }

    #[test]
    fn dp_ln_factorial_matches_sum() {
        let exact: f64 = (2..=40u32).map(|i| f64::from(i).ln()).sum();
        assert!((ln_factorial(40) - exact).abs() < 1e-12);
    }
}
