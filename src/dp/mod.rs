//! Distributed differential privacy inside the secure sum (spec/dp.md).
//!
//! Each client encodes its float vector into `Z_{2^b}` with
//! [`Calibration::encode`]: pad to a power of two, rotate with public random
//! signs, clip to L2 norm `c`, scale by `s`, round randomly (conditionally
//! on a norm bound), add discrete Gaussian (or Skellam) noise of its share
//! of the variance, wrap mod `2^b`. The server sums the encodings with the
//! secure aggregation protocol and decodes the sum with
//! [`Calibration::decode_sum`]: centred lift, divide by `s`, rotate back,
//! unpad. Only the sum is ever seen, and it is already noisy.
//!
//! [`DpConfig::calibrate`] picks the noise and the scale from the targets
//! (epsilon, delta, clip, dimension, bits, minimum honest survivors,
//! rounds); [`Calibration::report`] gives the epsilon actually reached with
//! the real survivors, counting only the noise of clients not assumed
//! corrupt, and the server refuses to release past
//! [`DpConfig::epsilon_limit`].
//!
//! ```
//! use rand_core::SeedableRng;
//! use secagg::dp::DpConfig;
//! let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
//! let config = DpConfig::new(1.0, 1e-5, 1.0, 6, 24, 10)?;
//! let cal = config.calibrate()?;
//! let seed = [9u8; 32]; // the session id
//! let inputs = [[0.3, -0.2, 0.1, 0.0, 0.5, 0.2]; 10];
//! let mut sum = vec![0u64; cal.padded_dim()];
//! for x in &inputs {
//!     let y = cal.encode(x, &seed, &mut rng)?;
//!     for (s, v) in sum.iter_mut().zip(y) {
//!         *s = (*s + v) % (1 << 24);
//!     }
//! }
//! let release = cal.decode_sum(&sum, 10, &seed)?;
//! assert_eq!(release.values.len(), 6);
//! assert!(release.report.epsilon_reached <= 1.0);
//! # Ok::<(), secagg::dp::DpError>(())
//! ```

pub mod accounting;
pub mod clip;
pub mod noise;
pub mod quantize;
pub mod rotate;
pub mod rounding;
mod simulate;

use core::fmt;
use std::sync::Mutex;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

pub use self::accounting::Mechanism;
pub use self::noise::Noise;
pub use self::quantize::{Quantizer, SignedCodec, WeightedQuantizer, bits_for};
pub use self::simulate::{SimulationError, SimulationReport, simulate, simulate_with_progress};
use crate::codec::{MAX_CLIENTS, MAX_DIM};
use crate::error::DecodeError;

/// What went wrong in the DP layer: a bad configuration, bad input, or a
/// release refused. Text never contains input values.
///
/// ```
/// use secagg::dp::{DpConfig, DpError};
/// assert_eq!(DpConfig::new(0.0, 1e-5, 1.0, 10, 20, 10), Err(DpError::Epsilon));
/// assert_eq!(DpConfig::new(1.0, 1.0, 1.0, 10, 20, 10), Err(DpError::Delta));
/// assert_eq!(DpError::Delta.to_string(), "delta must be in (0, 1)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpError {
    /// Epsilon not positive and finite (or an epsilon limit below epsilon).
    Epsilon,
    /// Delta outside (0, 1).
    Delta,
    /// A clip (or clip range) not positive and finite.
    Clip,
    /// Beta outside [0, 1).
    Beta,
    /// A wrap probability outside (0, 1).
    WrapProbability,
    /// A dimension of 0 or above `MAX_DIM`.
    Dimension,
    /// Bits outside `1..=64`.
    Bits,
    /// Client counts inconsistent: no clients, more than `MAX_CLIENTS`, a
    /// minimum of honest survivors of 0, or more honest plus corrupt
    /// clients than clients.
    Clients,
    /// Zero rounds.
    Rounds,
    /// No scale lets the noisy sum fit `b` bits with the stated wrap
    /// probability (or, for quantisation, lets `n` values fit).
    ScaleDoesNotFit,
    /// A scaled value too large for 64-bit integers.
    ScaleTooLarge,
    /// A noise parameter outside what the samplers support.
    Noise,
    /// A NaN or infinite input.
    NonFiniteInput,
    /// An input or sum of the wrong length.
    InputLength,
    /// Conditional rounding failed every try (probability below beta^1000).
    RoundingFailed,
    /// The epsilon reached with the actual survivors is worse than the
    /// configured limit: the server does not release the sum.
    ReleaseRefused,
    /// A mean over no contributors (or no weight).
    NoContributors,
    /// The parameters of the round do not match the DP configuration.
    ParamsMismatch,
    /// The configuration bytes do not decode.
    Decode(DecodeError),
    /// An integer input outside the range its codec was sized for
    /// ([`SignedCodec`]).
    OutOfRange,
}

impl fmt::Display for DpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Epsilon => f.write_str("epsilon must be positive and finite"),
            Self::Delta => f.write_str("delta must be in (0, 1)"),
            Self::Clip => f.write_str("clip must be positive and finite"),
            Self::Beta => f.write_str("beta must be in [0, 1)"),
            Self::WrapProbability => f.write_str("wrap probability must be in (0, 1)"),
            Self::Dimension => f.write_str("dimension out of range"),
            Self::Bits => f.write_str("bits must be in 1..=64"),
            Self::Clients => f.write_str("inconsistent client counts"),
            Self::Rounds => f.write_str("rounds must be at least 1"),
            Self::ScaleDoesNotFit => f.write_str("no scale fits the sum in b bits"),
            Self::ScaleTooLarge => f.write_str("scaled value too large"),
            Self::Noise => f.write_str("noise parameter outside the sampler's range"),
            Self::NonFiniteInput => f.write_str("input is NaN or infinite"),
            Self::InputLength => f.write_str("input length differs from the dimension"),
            Self::RoundingFailed => f.write_str("conditional rounding failed every try"),
            Self::ReleaseRefused => {
                f.write_str("epsilon reached with these survivors exceeds the limit")
            }
            Self::NoContributors => f.write_str("no contributors"),
            Self::ParamsMismatch => f.write_str("round parameters do not match the DP config"),
            Self::Decode(e) => write!(f, "DP config decode error: {e}"),
            Self::OutOfRange => f.write_str("input outside the codec's range"),
        }
    }
}

impl std::error::Error for DpError {}

impl From<DecodeError> for DpError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

pub(crate) fn check_epsilon(e: f64) -> Result<(), DpError> {
    if e.is_finite() && e > 0.0 {
        Ok(())
    } else {
        Err(DpError::Epsilon)
    }
}

pub(crate) fn check_delta(d: f64) -> Result<(), DpError> {
    if d > 0.0 && d < 1.0 {
        Ok(())
    } else {
        Err(DpError::Delta)
    }
}

pub(crate) fn check_clip(c: f64) -> Result<(), DpError> {
    if c.is_finite() && c > 0.0 {
        Ok(())
    } else {
        Err(DpError::Clip)
    }
}

/// The DP configuration of a round: the targets and the quantities they
/// depend on (spec/dp.md section 3). Fields are public; every function that
/// uses a configuration validates it first.
///
/// ```
/// use secagg::dp::{DpConfig, Mechanism};
/// let mut c = DpConfig::new(1.0, 1e-5, 1.0, 1000, 20, 100)?;
/// c.min_honest = 80;
/// c.corrupt = 10;
/// c.rounds = 5;
/// c.mechanism = Mechanism::Skellam;
/// c.validate()?;
/// assert_eq!(DpConfig::decode(&c.to_bytes())?, c);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpConfig {
    /// The noise each client adds.
    pub mechanism: Mechanism,
    /// The target epsilon over all `rounds` (> 0).
    pub epsilon: f64,
    /// The target delta, in (0, 1).
    pub delta: f64,
    /// The L2 clip norm c (> 0).
    pub clip: f64,
    /// Conditional rounding's beta in [0, 1); 0 rounds unconditionally.
    pub beta: f64,
    /// The largest allowed probability that some coordinate of the sum
    /// wraps mod `2^b`, in (0, 1).
    pub wrap_probability: f64,
    /// m, the length of a client's float vector (padded to a power of two
    /// `d` for the round: the round's `Params` have dimension `d`).
    pub dim: u32,
    /// b: the sum is taken mod `2^b`.
    pub bits: u8,
    /// n, the most clients whose encodings are summed (the roster size).
    pub clients: u32,
    /// The fewest honest (not corrupt) survivors the guarantee is
    /// calibrated for: each client adds `1 / min_honest` of the noise.
    pub min_honest: u32,
    /// How many clients are assumed to collude with the server; their noise
    /// is not counted (they can subtract it).
    pub corrupt: u32,
    /// T, rounds composed (zCDP composition) into `epsilon`.
    pub rounds: u32,
    /// When set, the server refuses to release a sum whose reached epsilon
    /// exceeds it ([`DpError::ReleaseRefused`]); at least `epsilon`.
    pub epsilon_limit: Option<f64>,
}

/// The format byte of [`DpConfig::to_bytes`].
pub const CONFIG_VERSION: u8 = 1;
/// The length of an encoded [`DpConfig`] without an epsilon limit (8 more with).
pub const CONFIG_LEN: usize = 64;

impl DpConfig {
    /// A validated configuration with defaults: the discrete Gaussian, beta
    /// `e^-0.5` (as TensorFlow Federated), wrap probability `1e-6`, every
    /// client honest and counted (`min_honest = clients`, `corrupt = 0`),
    /// one round, no epsilon limit.
    ///
    /// # Errors
    /// As [`DpConfig::validate`].
    pub fn new(
        epsilon: f64,
        delta: f64,
        clip: f64,
        dim: u32,
        bits: u8,
        clients: u32,
    ) -> Result<Self, DpError> {
        let c = Self {
            mechanism: Mechanism::DiscreteGaussian,
            epsilon,
            delta,
            clip,
            beta: (-0.5f64).exp(),
            wrap_probability: 1e-6,
            dim,
            bits,
            clients,
            min_honest: clients,
            corrupt: 0,
            rounds: 1,
            epsilon_limit: None,
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// The [`DpError`] naming the first field out of range: epsilon not
    /// positive and finite, delta outside (0, 1), clip not positive and
    /// finite, beta outside [0, 1) (or -0), wrap probability outside (0, 1),
    /// dim 0 or above `MAX_DIM`, bits outside `1..=64`, clients 0 or above
    /// `MAX_CLIENTS`, `min_honest` 0, `min_honest + corrupt > clients`,
    /// rounds 0, an epsilon limit below epsilon or not finite.
    pub fn validate(&self) -> Result<(), DpError> {
        check_epsilon(self.epsilon)?;
        check_delta(self.delta)?;
        check_clip(self.clip)?;
        if !(self.beta >= 0.0 && self.beta < 1.0) || self.beta.is_sign_negative() {
            return Err(DpError::Beta);
        }
        if !(self.wrap_probability > 0.0 && self.wrap_probability < 1.0) {
            return Err(DpError::WrapProbability);
        }
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(DpError::Dimension);
        }
        if !(1..=64).contains(&self.bits) {
            return Err(DpError::Bits);
        }
        if self.clients == 0
            || self.clients > MAX_CLIENTS
            || self.min_honest == 0
            || u64::from(self.min_honest) + u64::from(self.corrupt) > u64::from(self.clients)
        {
            return Err(DpError::Clients);
        }
        if self.rounds == 0 {
            return Err(DpError::Rounds);
        }
        if let Some(l) = self.epsilon_limit
            && !(l.is_finite() && l >= self.epsilon)
        {
            return Err(DpError::Epsilon);
        }
        Ok(())
    }

    /// The padded dimension `d` (the round's vector length).
    ///
    /// # Errors
    /// [`DpError::Dimension`] for a dimension of 0.
    pub fn padded_dim(&self) -> Result<usize, DpError> {
        rotate::padded_len(usize::try_from(self.dim).map_err(|_| DpError::Dimension)?)
    }

    /// The canonical encoding (spec/dp.md section 6): version, mechanism,
    /// epsilon, delta, clip, beta, wrap probability (f64 little-endian),
    /// dim (u32), bits (u8), clients, min_honest, corrupt, rounds (u32), then
    /// 0, or 1 and the epsilon limit (f64).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONFIG_LEN + 8);
        out.push(CONFIG_VERSION);
        out.push(match self.mechanism {
            Mechanism::DiscreteGaussian => 0,
            Mechanism::Skellam => 1,
        });
        for v in [
            self.epsilon,
            self.delta,
            self.clip,
            self.beta,
            self.wrap_probability,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.dim.to_le_bytes());
        out.push(self.bits);
        for v in [self.clients, self.min_honest, self.corrupt, self.rounds] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        match self.epsilon_limit {
            None => out.push(0),
            Some(l) => {
                out.push(1);
                out.extend_from_slice(&l.to_le_bytes());
            }
        }
        out
    }

    /// Decodes and validates [`DpConfig::to_bytes`] output. Total: never
    /// panics, allocates nothing.
    ///
    /// # Errors
    /// [`DpError::Decode`] for bytes that are not a canonical encoding
    /// (truncated, trailing bytes, unknown version or tag, a float with its
    /// sign bit set), or the field's error from [`DpConfig::validate`] (NaN
    /// and infinities included).
    pub fn decode(bytes: &[u8]) -> Result<Self, DpError> {
        let mut r = crate::codec::Reader::new(bytes);
        let version = r.u8()?;
        if version != CONFIG_VERSION {
            return Err(DecodeError::UnsupportedVersion(version).into());
        }
        let mechanism = match r.u8()? {
            0 => Mechanism::DiscreteGaussian,
            1 => Mechanism::Skellam,
            _ => return Err(DecodeError::NonCanonical.into()),
        };
        let mut f64s = [0.0f64; 5];
        for v in &mut f64s {
            *v = read_f64(&mut r)?;
        }
        let dim = r.u32()?;
        let bits = r.u8()?;
        let clients = r.u32()?;
        let min_honest = r.u32()?;
        let corrupt = r.u32()?;
        let rounds = r.u32()?;
        let epsilon_limit = match r.u8()? {
            0 => None,
            1 => Some(read_f64(&mut r)?),
            _ => return Err(DecodeError::NonCanonical.into()),
        };
        r.finish()?;
        let [epsilon, delta, clip, beta, wrap_probability] = f64s;
        let c = Self {
            mechanism,
            epsilon,
            delta,
            clip,
            beta,
            wrap_probability,
            dim,
            bits,
            clients,
            min_honest,
            corrupt,
            rounds,
            epsilon_limit,
        };
        c.validate()?;
        Ok(c)
    }

    /// Picks the scale and the per-client noise (spec/dp.md section 3): for
    /// a scale `s`, the rounded sensitivity `delta2(s)` and the smallest
    /// per-client noise meeting epsilon at delta over `rounds` with
    /// `min_honest` honest clients; the largest `s` (bisection on `log s`)
    /// whose wrap bound stays within `wrap_probability`.
    ///
    /// The calibration is deterministic, and a few tens of milliseconds of
    /// bisection; the last one made in the process is kept and returned
    /// again for a configuration with the same bytes ([`DpConfig::to_bytes`]),
    /// so every party of a round in one process, and every import of
    /// parameters that carry it ([`crate::Params::decode`]), pays for it
    /// once.
    ///
    /// # Errors
    /// As [`DpConfig::validate`], and [`DpError::ScaleDoesNotFit`] when no
    /// scale fits.
    pub fn calibrate(&self) -> Result<Calibration, DpError> {
        let key = self.to_bytes();
        if let Ok(last) = LAST_CALIBRATION.lock()
            && let Some((k, calibration)) = last.as_ref()
            && *k == key
        {
            return Ok(*calibration);
        }
        let calibration = self.calibrate_afresh()?;
        if let Ok(mut last) = LAST_CALIBRATION.lock() {
            *last = Some((key, calibration));
        }
        Ok(calibration)
    }

    /// [`DpConfig::calibrate`] without the kept calibration.
    fn calibrate_afresh(&self) -> Result<Calibration, DpError> {
        self.validate()?;
        let padded = self.padded_dim()?;
        let at = |log_s: f64| -> Option<(f64, f64, Noise)> {
            let s = log_s.exp2();
            let delta2 = accounting::rounded_l2_bound(self.clip * s, self.beta, padded);
            let sigma = accounting::local_sigma(
                self.mechanism,
                delta2,
                padded,
                u64::from(self.min_honest),
                self.rounds,
                self.delta,
                self.epsilon,
            )?;
            let noise = make_noise(self.mechanism, sigma).ok()?;
            let wrap = accounting::wrap_bound(
                self.mechanism,
                self.bits,
                padded,
                u64::from(self.clients),
                self.clip,
                s,
                noise.sigma(),
            );
            (wrap <= self.wrap_probability).then_some((s, delta2, noise))
        };
        let (mut lo, mut hi) = (-40.0f64, 64.0f64);
        if at(lo).is_none() {
            return Err(DpError::ScaleDoesNotFit);
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if at(mid).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (scale, delta2, noise) = at(lo).ok_or(DpError::ScaleDoesNotFit)?;
        Ok(Calibration {
            config: *self,
            padded,
            scale,
            delta2,
            noise,
        })
    }
}

/// The last calibration made in this process, with the bytes of its
/// configuration: public values, so sharing them between the parties of a
/// process reveals nothing. A poisoned lock only disables it.
static LAST_CALIBRATION: Mutex<Option<(Vec<u8>, Calibration)>> = Mutex::new(None);

fn read_f64(r: &mut crate::codec::Reader<'_>) -> Result<f64, DpError> {
    let v = f64::from_le_bytes(r.array()?);
    if v.is_sign_negative() {
        // Every field is non-negative; -0.0 is not canonical.
        return Err(DecodeError::NonCanonical.into());
    }
    Ok(v)
}

/// The per-client noise of standard deviation `sigma`.
fn make_noise(mechanism: Mechanism, sigma: f64) -> Result<Noise, DpError> {
    Ok(match mechanism {
        Mechanism::DiscreteGaussian => Noise::Gaussian(noise::DiscreteGaussian::new(sigma)?),
        Mechanism::Skellam => Noise::Skellam(noise::Skellam::with_variance(sigma * sigma)?),
    })
}

/// A calibrated configuration: the scale and the noise every client uses,
/// and the encode / decode steps (spec/dp.md section 2). The module's
/// example runs a whole encode-sum-decode.
///
/// ```
/// let cal = secagg::dp::DpConfig::new(1.0, 1e-5, 1.0, 1000, 20, 100)?.calibrate()?;
/// assert_eq!(cal.padded_dim(), 1024);
/// assert!(cal.wrap_bound() <= 1e-6);
/// // The sum's error per coordinate, in the input's units.
/// assert!(cal.predicted_mse(100) > 0.0);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    config: DpConfig,
    padded: usize,
    scale: f64,
    delta2: f64,
    noise: Noise,
}

/// What the server releases: the decoded vector and its privacy report.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The decoded sum (or mean), length m.
    pub values: Vec<f64>,
    /// The guarantee it carries.
    pub report: PrivacyReport,
}

/// The privacy guarantee of a released sum (spec/dp.md section 5).
///
/// ```
/// let mut c = secagg::dp::DpConfig::new(1.0, 1e-5, 1.0, 1000, 20, 100)?;
/// c.corrupt = 10;
/// c.min_honest = 90;
/// let cal = c.calibrate()?;
/// let r = cal.report(85); // 75 honest survivors, fewer than 90
/// assert_eq!(r.honest, 75);
/// assert!(r.epsilon_reached > r.epsilon);
/// # Ok::<(), secagg::dp::DpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyReport {
    /// The target epsilon (over all rounds).
    pub epsilon: f64,
    /// The delta every epsilon here is stated at.
    pub delta: f64,
    /// The epsilon reached with the actual honest survivors: at most
    /// `epsilon` when `honest >= min_honest` (the bound at `min_honest` is
    /// used when it is smaller), larger below (save where the discrete
    /// Gaussian's tau term dominates), infinite at 0.
    pub epsilon_reached: f64,
    /// |U3|, the clients whose encodings are in the sum.
    pub survivors: usize,
    /// `survivors - corrupt` (saturating): whose noise counts.
    pub honest: usize,
    /// The honest survivors the noise was calibrated for.
    pub min_honest: u32,
    /// The rounds composed.
    pub rounds: u32,
}

impl Calibration {
    /// The configuration.
    pub fn config(&self) -> &DpConfig {
        &self.config
    }

    /// d, the padded dimension: the round's vector length.
    pub fn padded_dim(&self) -> usize {
        self.padded
    }

    /// s, the scale (the integer grid step is `1 / s`).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The L2 sensitivity after rounding, in scaled units.
    pub fn sensitivity(&self) -> f64 {
        self.delta2
    }

    /// The noise each client adds to each coordinate.
    pub fn noise(&self) -> &Noise {
        &self.noise
    }

    /// The parameter sigma of one client's noise (scaled units): the
    /// discrete Gaussian's sigma (its variance is at most `sigma^2`), the
    /// Skellam's standard deviation.
    pub fn local_sigma(&self) -> f64 {
        self.noise.sigma()
    }

    /// The bound on the probability that some coordinate wraps with all
    /// `clients` contributing ([`accounting::wrap_bound`]).
    pub fn wrap_bound(&self) -> f64 {
        accounting::wrap_bound(
            self.config.mechanism,
            self.config.bits,
            self.padded,
            u64::from(self.config.clients),
            self.config.clip,
            self.scale,
            self.local_sigma(),
        )
    }

    /// The expected squared error per coordinate of the decoded sum of
    /// `contributors` encodings against the sum of their clipped inputs:
    /// `contributors (Var(noise) + 1/4) / s^2` (1/4 bounds the variance of
    /// one randomized rounding; the rotation is orthonormal, so the
    /// per-coordinate error is the same before and after it).
    pub fn predicted_mse(&self, contributors: usize) -> f64 {
        rotate::usize_f64(contributors) * (self.noise.variance() + 0.25) / (self.scale * self.scale)
    }

    /// The guarantee of a sum of `survivors` encodings: the epsilon reached
    /// at delta when `survivors - corrupt` clients' noise counts.
    pub fn report(&self, survivors: usize) -> PrivacyReport {
        let honest = survivors.saturating_sub(usize::try_from(self.config.corrupt).unwrap_or(0));
        let at = |h: u64| {
            accounting::epsilon(
                self.config.mechanism,
                self.delta2,
                self.padded,
                self.local_sigma(),
                h,
                self.config.rounds,
                self.config.delta,
            )
        };
        let h = u64::try_from(honest).unwrap_or(u64::MAX);
        let min_honest = u64::from(self.config.min_honest);
        // More honest noise than calibrated for is the calibrated mechanism
        // followed by adding independent noise (post-processing): never
        // worse than with `min_honest`. The discrete Gaussian bound's tau
        // grows with the client count, so evaluated at `h` alone it can
        // exceed the target (spec/dp.md section 5.3).
        let epsilon_reached = if h > min_honest {
            at(h).min(at(min_honest))
        } else {
            at(h)
        };
        PrivacyReport {
            epsilon: self.config.epsilon,
            delta: self.config.delta,
            epsilon_reached,
            survivors,
            honest,
            min_honest: self.config.min_honest,
            rounds: self.config.rounds,
        }
    }

    /// Client side (spec/dp.md section 2): pad, rotate with the signs of
    /// `seed` (the session id: public, the same for every client), clip,
    /// scale, conditionally round, add noise, wrap into `Z_{2^b}`. Returns
    /// the `d` elements to mask.
    ///
    /// # Errors
    /// [`DpError::InputLength`] unless `x.len()` is m,
    /// [`DpError::NonFiniteInput`] for NaN or infinite elements,
    /// [`DpError::RoundingFailed`] with probability below `beta^1000`.
    pub fn encode<R: CryptoRng + ?Sized>(
        &self,
        x: &[f64],
        seed: &[u8; 32],
        rng: &mut R,
    ) -> Result<Vec<u64>, DpError> {
        if x.len() != usize::try_from(self.config.dim).unwrap_or(usize::MAX) {
            return Err(DpError::InputLength);
        }
        // The working copies of the input are wiped when dropped (allocated
        // at their final size, so never moved to a new buffer).
        let mut v = Zeroizing::new(Vec::with_capacity(self.padded));
        v.extend_from_slice(x);
        v.resize(self.padded, 0.0);
        // Clipping before the rotation is the same map (the rotation keeps
        // norms) and keeps every intermediate value finite; clipping again
        // after it removes the rotation's float rounding.
        clip::clip_l2(&mut v, self.config.clip)?;
        rotate::rotate(&mut v, seed)?;
        clip::clip_l2(&mut v, self.config.clip)?;
        v.iter_mut().for_each(|e| *e *= self.scale);
        let rounded = Zeroizing::new(rounding::conditional_round(&v, self.delta2, rng)?);
        let mask = crate::vector::mask(self.config.bits);
        Ok(rounded
            .iter()
            .map(|&r| {
                let z = r.wrapping_add(self.noise.sample(rng));
                #[allow(clippy::cast_sign_loss, reason = "two's complement wrap mod 2^b")]
                let u = z as u64;
                u & mask
            })
            .collect())
    }

    /// Server side (spec/dp.md section 2.7): checks the guarantee of
    /// `survivors` contributors against the limit, then lifts each element
    /// of `sum` (mod `2^b`) to `[-2^(b-1), 2^(b-1))`, divides by s, rotates
    /// back with `seed`'s signs and drops the padding.
    ///
    /// # Errors
    /// [`DpError::ReleaseRefused`] when the epsilon reached exceeds the
    /// configured limit, [`DpError::InputLength`] unless `sum.len()` is d.
    pub fn decode_sum(
        &self,
        sum: &[u64],
        survivors: usize,
        seed: &[u8; 32],
    ) -> Result<Release, DpError> {
        if sum.len() != self.padded {
            return Err(DpError::InputLength);
        }
        let report = self.report(survivors);
        if let Some(limit) = self.config.epsilon_limit
            && (report.epsilon_reached.is_nan() || report.epsilon_reached > limit)
        {
            return Err(DpError::ReleaseRefused);
        }
        let bits = self.config.bits;
        let mask = crate::vector::mask(bits);
        let mut v: Vec<f64> = sum
            .iter()
            .map(|&x| centred(x & mask, bits) / self.scale)
            .collect();
        rotate::unrotate(&mut v, seed)?;
        v.truncate(usize::try_from(self.config.dim).unwrap_or(0));
        Ok(Release { values: v, report })
    }

    /// [`Calibration::decode_sum`] divided by `survivors`.
    ///
    /// # Errors
    /// As [`Calibration::decode_sum`], and [`DpError::NoContributors`] for 0
    /// survivors.
    pub fn decode_mean(
        &self,
        sum: &[u64],
        survivors: usize,
        seed: &[u8; 32],
    ) -> Result<Release, DpError> {
        if survivors == 0 {
            return Err(DpError::NoContributors);
        }
        let mut r = self.decode_sum(sum, survivors, seed)?;
        let n = rotate::usize_f64(survivors);
        r.values.iter_mut().for_each(|v| *v /= n);
        Ok(r)
    }
}

/// The centred lift of `x < 2^bits` to `[-2^(bits-1), 2^(bits-1))`, as f64.
pub(crate) fn centred(x: u64, bits: u8) -> f64 {
    #[allow(
        clippy::cast_possible_wrap,
        reason = "two's complement reinterpretation"
    )]
    let signed = if bits >= 64 {
        x as i64
    } else if x >> (bits - 1) == 1 {
        (x as i64) - (1i64 << (bits - 1)) - (1i64 << (bits - 1))
    } else {
        x as i64
    };
    #[allow(clippy::cast_precision_loss, reason = "the sum is a float estimate")]
    let f = signed as f64;
    f
}

/// Fuzz entry (the `decode_dp_config` target): a configuration that
/// decodes re-encodes to its input.
#[doc(hidden)]
pub mod fuzzing {
    use super::{DpConfig, Mechanism};

    /// Seed inputs for the `decode_dp_config` target: valid encodings of
    /// both mechanisms, with and without an epsilon limit.
    pub fn seeds() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, mechanism) in [Mechanism::DiscreteGaussian, Mechanism::Skellam]
            .into_iter()
            .enumerate()
        {
            let Ok(mut c) = DpConfig::new(1.0, 1e-5, 1.0, 65536, 20, 100) else {
                continue;
            };
            c.mechanism = mechanism;
            out.push(c.to_bytes());
            c.min_honest = 80;
            c.corrupt = 5;
            c.rounds = 10;
            c.beta = if i == 0 { 0.0 } else { 0.25 };
            c.epsilon_limit = Some(2.0);
            out.push(c.to_bytes());
        }
        out
    }

    /// Decodes `data` as a [`super::DpConfig`]; on success, asserts that it
    /// re-encodes to `data`.
    pub fn decode_dp_config(data: &[u8]) {
        if let Ok(c) = super::DpConfig::decode(data) {
            assert_eq!(
                c.to_bytes(),
                data,
                "DpConfig decode then encode changed the bytes"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn dp_centred_lift() {
        assert_eq!(centred(0, 8), 0.0);
        assert_eq!(centred(127, 8), 127.0);
        assert_eq!(centred(128, 8), -128.0);
        assert_eq!(centred(255, 8), -1.0);
        assert_eq!(centred(u64::MAX, 64), -1.0);
        assert_eq!(centred(1, 1), -1.0);
    }

    /// The kept calibration is returned only for the same configuration:
    /// configurations that differ in one field each, taken in turn and
    /// again, each get their own calibration.
    #[test]
    fn dp_kept_calibration_is_the_configurations_own() {
        let base = DpConfig::new(1.0, 1e-5, 1.0, 100, 16, 20).unwrap();
        let mut configs = vec![base];
        let mut vary = |f: &dyn Fn(&mut DpConfig)| {
            let mut c = base;
            f(&mut c);
            configs.push(c);
        };
        vary(&|c| c.epsilon = 2.0);
        vary(&|c| c.delta = 1e-6);
        vary(&|c| c.clip = 0.5);
        vary(&|c| c.beta = 0.0);
        vary(&|c| c.wrap_probability = 1e-4);
        vary(&|c| c.mechanism = Mechanism::Skellam);
        vary(&|c| c.min_honest = 10);
        vary(&|c| {
            c.corrupt = 5;
            c.min_honest = 15;
        });
        vary(&|c| c.rounds = 3);
        vary(&|c| c.bits = 20);
        vary(&|c| c.clients = 400);
        vary(&|c| c.dim = 50);
        vary(&|c| c.epsilon_limit = Some(4.0));
        let fresh: Vec<Calibration> = configs
            .iter()
            .map(|c| c.calibrate_afresh().unwrap())
            .collect();
        for (i, f) in fresh.iter().enumerate().skip(1) {
            assert_ne!(*f, fresh[0], "config {i} calibrates like the base");
        }
        for _ in 0..2 {
            for (c, f) in configs.iter().zip(&fresh) {
                assert_eq!(c.calibrate().unwrap(), *f);
                assert_eq!(c.calibrate().unwrap(), *f);
            }
        }
        // A configuration that does not calibrate is refused every time.
        let mut bad = base;
        bad.bits = 2;
        assert!(bad.calibrate().is_err() && bad.calibrate().is_err());
    }

    #[test]
    fn dp_config_len() {
        let c = DpConfig::new(1.0, 1e-5, 1.0, 10, 16, 5).unwrap();
        assert_eq!(c.to_bytes().len(), CONFIG_LEN);
        let mut c2 = c;
        c2.epsilon_limit = Some(2.0);
        assert_eq!(c2.to_bytes().len(), CONFIG_LEN + 8);
    }
}
