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

/// The least modulus bits `b` in `1..=64` with `clients * levels <= 2^b -
/// 1`: the sum of `clients` integers in `[0, levels]` then never wraps.
/// `None` when even 64 bits are too few.
///
/// ```
/// use secagg::dp::bits_for;
/// assert_eq!(bits_for(100, 255), Some(15)); // 25,500 < 2^15
/// assert_eq!(bits_for(1, 1), Some(1));
/// assert_eq!(bits_for(2, u64::MAX), None);
/// ```
pub fn bits_for(clients: u32, levels: u64) -> Option<u8> {
    let top = u128::from(clients) * u128::from(levels);
    (1..=64u8).find(|&b| top < 1u128 << b)
}

/// Signed integers in `[-bound, bound]`, summed over at most `clients`
/// clients mod `2^b` in two's complement: any sum of up to `clients`
/// encodings decodes to the exact signed sum, since `2 clients bound < 2^b`
/// is checked at construction.
///
/// ```
/// use secagg::dp::SignedCodec;
/// let c = SignedCodec::fitting(1000, 3)?; // values in [-1000, 1000], 3 clients
/// assert_eq!(c.bits(), 13); // 2 * 3 * 1000 = 6000 < 2^13
/// let mask = (1u64 << c.bits()) - 1;
/// let mut sum = vec![0u64; 2];
/// for x in [[-1000, 7], [400, -8], [-3, 0]] {
///     for (s, v) in sum.iter_mut().zip(c.encode(&x)?) {
///         *s = (*s + v) & mask; // what the masked round computes
///     }
/// }
/// assert_eq!(c.decode_sum(&sum)?, vec![-603, -1]);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedCodec {
    bound: u64,
    clients: u32,
    bits: u8,
}

impl SignedCodec {
    /// Values in `[-bound, bound]`, at most `clients` summands, modulus
    /// `2^bits`.
    ///
    /// # Errors
    /// [`DpError::Bits`] for bits outside `1..=64`, [`DpError::Clients`] for
    /// 0 clients, [`DpError::ScaleDoesNotFit`] unless `2 clients bound <
    /// 2^bits`.
    pub fn new(bound: u64, clients: u32, bits: u8) -> Result<Self, DpError> {
        if !(1..=64).contains(&bits) {
            return Err(DpError::Bits);
        }
        if clients == 0 {
            return Err(DpError::Clients);
        }
        if 2 * u128::from(clients) * u128::from(bound) >= 1u128 << bits {
            return Err(DpError::ScaleDoesNotFit);
        }
        Ok(Self {
            bound,
            clients,
            bits,
        })
    }

    /// [`SignedCodec::new`] with the least bits that fit.
    ///
    /// # Errors
    /// [`DpError::Clients`] for 0 clients, [`DpError::ScaleDoesNotFit`] when
    /// 64 bits are too few.
    pub fn fitting(bound: u64, clients: u32) -> Result<Self, DpError> {
        if clients == 0 {
            return Err(DpError::Clients);
        }
        let top = 2 * u128::from(clients) * u128::from(bound);
        let bits = (1..=64u8)
            .find(|&b| top < 1u128 << b)
            .ok_or(DpError::ScaleDoesNotFit)?;
        Self::new(bound, clients, bits)
    }

    /// The modulus bits, for [`crate::Params`].
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The largest magnitude accepted.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// The most summands the modulus was sized for.
    pub fn clients(&self) -> u32 {
        self.clients
    }

    fn mask(&self) -> u64 {
        u64::MAX >> (64 - u32::from(self.bits))
    }

    /// Each element as an integer below `2^b` (two's complement).
    ///
    /// # Errors
    /// [`DpError::OutOfRange`] for an element outside `[-bound, bound]`;
    /// nothing is returned then.
    pub fn encode(&self, x: &[i64]) -> Result<Vec<u64>, DpError> {
        let mask = self.mask();
        x.iter()
            .map(|&v| {
                if v.unsigned_abs() > self.bound {
                    return Err(DpError::OutOfRange);
                }
                #[allow(clippy::cast_sign_loss, reason = "two's complement, then reduced")]
                Ok((v as u64) & mask)
            })
            .collect()
    }

    /// The signed sum from a sum mod `2^b` of at most `clients` encodings.
    ///
    /// # Errors
    /// [`DpError::OutOfRange`] for an element not below `2^b`, or one
    /// whose signed value exceeds `clients bound` in magnitude (more
    /// summands than the codec was sized for, or not a sum of encodings).
    pub fn decode_sum(&self, sum: &[u64]) -> Result<Vec<i64>, DpError> {
        let mask = self.mask();
        let half = 1u128 << (self.bits - 1);
        let limit = u128::from(self.clients) * u128::from(self.bound);
        sum.iter()
            .map(|&s| {
                if s & !mask != 0 {
                    return Err(DpError::OutOfRange);
                }
                let s = u128::from(s);
                let (neg, mag) = if s >= half {
                    (true, (1u128 << self.bits) - s)
                } else {
                    (false, s)
                };
                if mag > limit {
                    return Err(DpError::OutOfRange);
                }
                // limit < 2^63 because 2 limit < 2^64.
                let mag = i64::try_from(mag).map_err(|_| DpError::OutOfRange)?;
                Ok(if neg { -mag } else { mag })
            })
            .collect()
    }
}

#[cfg(test)]
mod signed_tests {
    use super::*;

    #[test]
    fn extremes_round_trip_at_every_width() {
        for bits in 3..=64u8 {
            let Ok(c) = SignedCodec::fitting((u64::MAX >> (65 - u32::from(bits))) / 3, 3) else {
                continue;
            };
            assert!(c.bits() <= bits);
            let b = i64::try_from(c.bound()).unwrap_or(i64::MAX);
            let mask = c.mask();
            for xs in [[b, b, b], [-b, -b, -b], [b, -b, 0], [-b, 1, -1]] {
                let mut sum = 0u64;
                for x in xs {
                    let e = c.encode(&[x]).unwrap_or_default();
                    assert_eq!(e.len(), 1);
                    sum = sum.wrapping_add(e[0]) & mask;
                }
                let want: i64 = xs.iter().sum();
                assert_eq!(c.decode_sum(&[sum]), Ok(vec![want]), "bits {bits} {xs:?}");
            }
        }
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert_eq!(SignedCodec::new(4, 2, 4), Err(DpError::ScaleDoesNotFit)); // 16 = 2^4
        assert!(SignedCodec::new(3, 2, 4).is_ok()); // 12 < 16
        assert_eq!(SignedCodec::new(1, 0, 8), Err(DpError::Clients));
        assert_eq!(SignedCodec::new(1, 1, 65), Err(DpError::Bits));
        assert_eq!(
            SignedCodec::fitting(u64::MAX, 2),
            Err(DpError::ScaleDoesNotFit)
        );
        let c = SignedCodec::new(3, 2, 4).unwrap_or_else(|_| unreachable!());
        assert_eq!(c.encode(&[1, 4]), Err(DpError::OutOfRange));
        assert_eq!(c.encode(&[i64::MIN]), Err(DpError::OutOfRange));
        assert_eq!(c.decode_sum(&[16]), Err(DpError::OutOfRange)); // not below 2^4
        assert_eq!(c.decode_sum(&[7]), Err(DpError::OutOfRange)); // 7 > 2 * 3
        assert_eq!(c.decode_sum(&[10]), Ok(vec![-6]));
    }

    #[test]
    fn bits_for_is_the_least_width() {
        for (clients, levels) in [
            (1u32, 1u64),
            (100, 255),
            (7, 1 << 40),
            (u32::MAX, u64::from(u32::MAX)),
        ] {
            let b = bits_for(clients, levels).unwrap_or(0);
            let top = u128::from(clients) * u128::from(levels);
            assert!(top < 1u128 << b);
            assert!(b == 1 || top >= 1u128 << (b - 1));
        }
    }
}
