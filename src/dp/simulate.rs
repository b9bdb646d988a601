//! One whole DP round over the simulation engine (spec/dp.md section 8).

use core::fmt;

use rand_core::CryptoRng;

use super::{DpConfig, DpError, accounting, clip, rotate};
use crate::error::Error;
use crate::params::Params;
use crate::simulation::{self, Dropouts};

/// What a simulated DP round measured. Every MSE is per coordinate of the
/// decoded *sum*, averaged over the m coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulationReport {
    /// The target epsilon.
    pub epsilon: f64,
    /// The delta.
    pub delta: f64,
    /// The epsilon reached with the actual survivors (spec/dp.md section 5).
    pub epsilon_reached: f64,
    /// |U3|.
    pub survivors: usize,
    /// [`super::Calibration::predicted_mse`] for |U3| contributors.
    pub predicted_mse: f64,
    /// The mean squared error of the decoded sum against the exact sum of
    /// the survivors' clipped inputs.
    pub measured_mse: f64,
    /// The variance of the central continuous Gaussian mechanism at the same
    /// (epsilon, delta) and sensitivity `clip`, composed over the rounds
    /// (sensitivity `clip sqrt(T)`): the analytic Gaussian of Balle and Wang
    /// 2018 ([`accounting::analytic_gaussian_sigma`]).
    pub central_gaussian_mse: f64,
    /// The scale s.
    pub scale: f64,
    /// One client's noise parameter sigma (scaled units).
    pub local_sigma: f64,
    /// The bound on the probability of a wrap.
    pub wrap_bound: f64,
}

/// Why a simulated DP round did not finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimulationError {
    /// The DP layer refused (configuration, input or release).
    Dp(DpError),
    /// The secure aggregation round aborted.
    Round(Error),
}

impl fmt::Display for SimulationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dp(e) => write!(f, "{e}"),
            Self::Round(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SimulationError {}

impl From<DpError> for SimulationError {
    fn from(e: DpError) -> Self {
        Self::Dp(e)
    }
}

/// Runs one DP round: calibrates `config`, draws the public rotation seed
/// from `rng` (the session id in a deployment; the engine takes every input
/// before the round starts, so here it is drawn first), encodes each
/// client's vector, runs the secure aggregation round of `params` with
/// `dropouts` through [`simulation::run`], decodes the sum, and compares it
/// with the exact sum of the survivors' clipped inputs.
///
/// ```
/// use rand_core::SeedableRng;
/// use secagg::dp::{simulate, DpConfig};
/// use secagg::simulation::Dropouts;
/// use secagg::{Graph, Params};
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let config = DpConfig::new(1.0, 1e-5, 1.0, 64, 24, 5)?;
/// let params = Params::new(5, 3, 24, 64, Graph::Complete)?;
/// let inputs: Vec<Vec<f64>> = (0..5).map(|i| vec![f64::from(i) / 4.0; 64]).collect();
/// let report = simulate(&params, &config, &inputs, &Dropouts::default(), &mut rng)?;
/// assert_eq!(report.survivors, 5);
/// assert!(report.epsilon_reached <= 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`SimulationError::Dp`]: [`DpError::ParamsMismatch`] unless `params`
/// has the configuration's clients and bits and the padded dimension,
/// [`DpError::InputLength`] unless there is one input per client, or any
/// error of calibration, encoding or release. [`SimulationError::Round`]
/// when the round aborts.
pub fn simulate<R: CryptoRng + ?Sized>(
    params: &Params,
    config: &DpConfig,
    inputs: &[Vec<f64>],
    dropouts: &Dropouts,
    rng: &mut R,
) -> Result<SimulationReport, SimulationError> {
    simulate_with_progress(params, config, inputs, dropouts, rng, &mut |_, _, _| {})
        .map(|(dp, _)| dp)
}

/// [`simulate`], calling `progress(phase, done, total)` as clients are
/// processed (as [`simulation::run_with_progress`]), and returning the
/// round's own [`simulation::Report`] (timings, bytes) beside the DP figures.
///
/// # Errors
/// As [`simulate`].
pub fn simulate_with_progress<R: CryptoRng + ?Sized>(
    params: &Params,
    config: &DpConfig,
    inputs: &[Vec<f64>],
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(crate::Phase, usize, usize),
) -> Result<(SimulationReport, simulation::Report), SimulationError> {
    let cal = config.calibrate()?;
    let padded = cal.padded_dim();
    if params.clients() != config.clients
        || params.bits() != config.bits
        || usize::try_from(params.dim()).ok() != Some(padded)
    {
        return Err(DpError::ParamsMismatch.into());
    }
    if inputs.len() != params.clients_usize() {
        return Err(DpError::InputLength.into());
    }
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let mut encoded = Vec::with_capacity(inputs.len());
    for x in inputs {
        encoded.push(cal.encode(x, &seed, rng)?);
    }
    let round = simulation::run_with_progress(params, &encoded, dropouts, rng, progress);
    let agg = round.result.clone().map_err(SimulationError::Round)?;
    let survivors = agg.survivors.len();
    let release = cal.decode_sum(&agg.sum, survivors, &seed)?;

    let m = release.values.len();
    let mut exact = vec![0.0f64; m];
    for &i in &agg.survivors {
        let idx = usize::try_from(i).map_err(|_| DpError::InputLength)?;
        let Some(x) = idx.checked_sub(1).and_then(|j| inputs.get(j)) else {
            return Err(DpError::InputLength.into());
        };
        let norm = clip::l2_norm(x)?;
        let f = if norm > config.clip {
            config.clip / norm
        } else {
            1.0
        };
        for (e, v) in exact.iter_mut().zip(x) {
            *e += v * f;
        }
    }
    let measured_mse = release
        .values
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / rotate::usize_f64(m.max(1));
    let central = accounting::analytic_gaussian_sigma(
        config.epsilon,
        config.delta,
        config.clip * f64::from(config.rounds).sqrt(),
    )?;
    let report = SimulationReport {
        epsilon: config.epsilon,
        delta: config.delta,
        epsilon_reached: release.report.epsilon_reached,
        survivors,
        predicted_mse: cal.predicted_mse(survivors),
        measured_mse,
        central_gaussian_mse: central * central,
        scale: cal.scale(),
        local_sigma: cal.local_sigma(),
        wrap_bound: cal.wrap_bound(),
    };
    Ok((report, round))
}
