//! Plain quantisation without differential privacy, and weighted means
//! (spec/dp.md section 7).
//!
//! Each coordinate is clipped to `[lo, hi]` and mapped to an integer in
//! `[0, Q]` by stochastic rounding, `Q = floor((2^b - 1) / n)`, so the sum of
//! `n` encodings is at most `2^b - 1` and never wraps. The server decodes
//! `lo count + sum (hi - lo) / Q`.

use rand_core::CryptoRng;

use super::DpError;
use super::rotate::usize_f64;

/// A uniform `f64` in `[0, 1)` with 53 random bits.
fn unit<R: CryptoRng + ?Sized>(rng: &mut R) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "53 bits are exact")]
    let x = (rng.next_u64() >> 11) as f64;
    x * (1.0 / 9_007_199_254_740_992.0)
}

/// Per-coordinate clipping and stochastic rounding to `Q + 1` levels.
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::Quantizer;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let q = Quantizer::new(-1.0, 1.0, 16, 3)?;
/// assert_eq!(q.levels(), 21845); // floor((2^16 - 1) / 3)
/// let mut sum = vec![0u64; 2];
/// for x in [[0.5, -2.0], [0.25, 0.0], [-0.5, 1.0]] {
///     for (s, v) in sum.iter_mut().zip(q.encode(&x, &mut rng)?) {
///         *s += v; // mod 2^16, but it never wraps
///     }
/// }
/// let total = q.decode_sum(&sum, 3)?;
/// assert!((total[0] - 0.25).abs() < 3.0 * 2.0 / 21845.0);
/// assert!(total[1].abs() < 3.0 * 2.0 / 21845.0); // -2.0 clipped to -1.0, + 0 + 1
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantizer {
    lo: f64,
    hi: f64,
    bits: u8,
    clients: u32,
    levels: u64,
}

impl Quantizer {
    /// Clip range `[lo, hi]`, modulus `2^bits`, at most `clients` summands.
    ///
    /// # Errors
    /// [`DpError::Clip`] unless `lo < hi`, both finite, and `hi - lo`
    /// finite; [`DpError::Bits`] for bits outside `1..=64`;
    /// [`DpError::Clients`] for 0 clients; [`DpError::ScaleDoesNotFit`] when
    /// `clients > 2^b - 1` (no level left: the modulus check).
    pub fn new(lo: f64, hi: f64, bits: u8, clients: u32) -> Result<Self, DpError> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite()) {
            return Err(DpError::Clip);
        }
        if !(1..=64).contains(&bits) {
            return Err(DpError::Bits);
        }
        if clients == 0 {
            return Err(DpError::Clients);
        }
        let max = (1u128 << bits) - 1;
        let levels = max / u128::from(clients);
        if levels == 0 {
            return Err(DpError::ScaleDoesNotFit);
        }
        let levels = u64::try_from(levels).map_err(|_| DpError::ScaleDoesNotFit)?;
        Ok(Self {
            lo,
            hi,
            bits,
            clients,
            levels,
        })
    }

    /// Q: each coordinate encodes to an integer in `[0, Q]`.
    pub fn levels(&self) -> u64 {
        self.levels
    }

    /// The modulus bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Clips each coordinate to `[lo, hi]` and rounds `(x - lo) / (hi - lo)
    /// Q` up or down at random, unbiased.
    ///
    /// # Errors
    /// [`DpError::NonFiniteInput`] for NaN or infinite elements.
    pub fn encode<R: CryptoRng + ?Sized>(
        &self,
        x: &[f64],
        rng: &mut R,
    ) -> Result<Vec<u64>, DpError> {
        #[allow(clippy::cast_precision_loss, reason = "Q as a float grid")]
        let q = self.levels as f64;
        x.iter()
            .map(|&v| {
                if !v.is_finite() {
                    return Err(DpError::NonFiniteInput);
                }
                let t = (v.clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo) * q;
                let f = t.floor();
                let up = unit(rng) < t - f;
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "0 <= f <= Q"
                )]
                let r = (f as u64).saturating_add(u64::from(up)).min(self.levels);
                Ok(r)
            })
            .collect()
    }

    /// The sum of `count` clipped inputs from the sum of their encodings
    /// (each element below `2^b`).
    ///
    /// # Errors
    /// [`DpError::Clients`] when `count` exceeds the clients the modulus
    /// was sized for.
    pub fn decode_sum(&self, sum: &[u64], count: usize) -> Result<Vec<f64>, DpError> {
        if count > usize::try_from(self.clients).unwrap_or(usize::MAX) {
            return Err(DpError::Clients);
        }
        #[allow(clippy::cast_precision_loss, reason = "Q as a float grid")]
        let step = (self.hi - self.lo) / self.levels as f64;
        let base = self.lo * usize_f64(count);
        Ok(sum
            .iter()
            .map(|&s| {
                #[allow(clippy::cast_precision_loss, reason = "a float estimate")]
                let s = s as f64;
                base + s * step
            })
            .collect())
    }

    /// [`Quantizer::decode_sum`] divided by `count`.
    ///
    /// # Errors
    /// As [`Quantizer::decode_sum`], and [`DpError::NoContributors`] for 0.
    pub fn decode_mean(&self, sum: &[u64], count: usize) -> Result<Vec<f64>, DpError> {
        if count == 0 {
            return Err(DpError::NoContributors);
        }
        let mut v = self.decode_sum(sum, count)?;
        let n = usize_f64(count);
        v.iter_mut().for_each(|x| *x /= n);
        Ok(v)
    }
}

/// Weighted means with hidden weights: a client with weight `w` in `[0,
/// w_max]` sends the quantised `w x` and, as one more coordinate, the
/// quantised `w`; both are masked, so the server learns only `sum w x` and
/// `sum w`.
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::WeightedQuantizer;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let q = WeightedQuantizer::new(-1.0, 1.0, 100.0, 32, 2)?;
/// let a = q.encode(&[0.5], 30.0, &mut rng)?;
/// let b = q.encode(&[-0.5], 10.0, &mut rng)?;
/// assert_eq!(a.len(), 2); // the weight travels as the last coordinate
/// let sum: Vec<u64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
/// let (mean, weight) = q.decode_mean(&sum, 2)?;
/// assert!((weight - 40.0).abs() < 1e-6);
/// assert!((mean[0] - 0.25).abs() < 1e-6); // (30 * 0.5 - 10 * 0.5) / 40
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedQuantizer {
    values: Quantizer,
    weights: Quantizer,
    lo: f64,
    hi: f64,
    max_weight: f64,
}

impl WeightedQuantizer {
    /// Values clipped to `[lo, hi]`, weights to `[0, max_weight]`; `w x` is
    /// quantised over `[min(lo, 0) w_max, max(hi, 0) w_max]`.
    ///
    /// # Errors
    /// As [`Quantizer::new`]; [`DpError::Clip`] for a maximum weight that is
    /// not positive and finite.
    pub fn new(lo: f64, hi: f64, max_weight: f64, bits: u8, clients: u32) -> Result<Self, DpError> {
        super::check_clip(max_weight)?;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(DpError::Clip);
        }
        let values = Quantizer::new(
            lo.min(0.0) * max_weight,
            hi.max(0.0) * max_weight,
            bits,
            clients,
        )?;
        let weights = Quantizer::new(0.0, max_weight, bits, clients)?;
        Ok(Self {
            values,
            weights,
            lo,
            hi,
            max_weight,
        })
    }

    /// The encoding of `x` with weight `weight`: `m + 1` elements.
    ///
    /// # Errors
    /// [`DpError::NonFiniteInput`] for NaN or infinite elements or weight,
    /// [`DpError::Clip`] for a weight outside `[0, w_max]`.
    pub fn encode<R: CryptoRng + ?Sized>(
        &self,
        x: &[f64],
        weight: f64,
        rng: &mut R,
    ) -> Result<Vec<u64>, DpError> {
        if !weight.is_finite() {
            return Err(DpError::NonFiniteInput);
        }
        if !(0.0..=self.max_weight).contains(&weight) {
            return Err(DpError::Clip);
        }
        let mut scaled = Vec::with_capacity(x.len());
        for &v in x {
            if !v.is_finite() {
                return Err(DpError::NonFiniteInput);
            }
            scaled.push(v.clamp(self.lo, self.hi) * weight);
        }
        let mut out = self.values.encode(&scaled, rng)?;
        out.extend(self.weights.encode(&[weight], rng)?);
        Ok(out)
    }

    /// The weighted mean `sum w x / sum w` and the total weight `sum w`
    /// from the sum of `count` encodings.
    ///
    /// # Errors
    /// [`DpError::InputLength`] for an empty sum, [`DpError::NoContributors`]
    /// when the total weight is not positive, or as [`Quantizer::decode_sum`].
    pub fn decode_mean(&self, sum: &[u64], count: usize) -> Result<(Vec<f64>, f64), DpError> {
        let Some((&w, values)) = sum.split_last() else {
            return Err(DpError::InputLength);
        };
        let total = self.weights.decode_sum(&[w], count)?;
        let total = total.first().copied().unwrap_or(0.0);
        if total <= 0.0 {
            return Err(DpError::NoContributors);
        }
        let mut v = self.values.decode_sum(values, count)?;
        v.iter_mut().for_each(|x| *x /= total);
        Ok((v, total))
    }
}
