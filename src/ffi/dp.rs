//! Distributed differential privacy (spec/dp.md): the configuration, the
//! client's encoding and the server's decoding with its privacy report.

use super::{
    Fail, SecaggParams, SecaggStatus, array, boundary, free, give, handle, input, need, os_rng,
    output, put,
};
use crate::dp::{Calibration, DpConfig, Mechanism};

/// The fields of a DP configuration (spec/dp.md section 3), plain data.
/// Fill it with [`secagg_dp_options_default`], adjust, then build a
/// [`SecaggDpConfig`] with [`secagg_dp_config_new`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecaggDpOptions {
    /// 0: distributed discrete Gaussian, 1: distributed Skellam.
    pub mechanism: u32,
    /// The target epsilon over all rounds (> 0).
    pub epsilon: f64,
    /// The target delta, in (0, 1).
    pub delta: f64,
    /// The L2 clip norm (> 0).
    pub clip: f64,
    /// Conditional rounding's beta in [0, 1).
    pub beta: f64,
    /// The largest probability that some coordinate of the sum wraps.
    pub wrap_probability: f64,
    /// m, the length of a client's float vector.
    pub dim: u32,
    /// b: the sum is taken mod `2^b`.
    pub bits: u8,
    /// n, the roster size.
    pub clients: u32,
    /// The fewest honest survivors the guarantee is calibrated for.
    pub min_honest: u32,
    /// Clients assumed to collude with the server.
    pub corrupt: u32,
    /// Rounds composed into epsilon.
    pub rounds: u32,
    /// The server refuses a release whose reached epsilon exceeds this;
    /// 0 for no limit.
    pub epsilon_limit: f64,
}

/// The privacy guarantee of a released sum (spec/dp.md section 5).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecaggPrivacyReport {
    /// The target epsilon.
    pub epsilon: f64,
    /// The delta every epsilon is stated at.
    pub delta: f64,
    /// The epsilon reached with the actual honest survivors.
    pub epsilon_reached: f64,
    /// The clients whose encodings are in the sum.
    pub survivors: u64,
    /// Survivors less the assumed corrupt.
    pub honest: u64,
    /// The honest survivors the noise was calibrated for.
    pub min_honest: u32,
    /// The rounds composed.
    pub rounds: u32,
}

/// A validated, calibrated DP configuration. Immutable: may be shared
/// between threads.
#[derive(Debug)]
pub struct SecaggDpConfig {
    config: DpConfig,
    calibration: Calibration,
}

fn options_of(c: &DpConfig) -> SecaggDpOptions {
    SecaggDpOptions {
        mechanism: match c.mechanism {
            Mechanism::DiscreteGaussian => 0,
            Mechanism::Skellam => 1,
        },
        epsilon: c.epsilon,
        delta: c.delta,
        clip: c.clip,
        beta: c.beta,
        wrap_probability: c.wrap_probability,
        dim: c.dim,
        bits: c.bits,
        clients: c.clients,
        min_honest: c.min_honest,
        corrupt: c.corrupt,
        rounds: c.rounds,
        epsilon_limit: c.epsilon_limit.unwrap_or(0.0),
    }
}

fn config_of(o: &SecaggDpOptions) -> Result<SecaggDpConfig, Fail> {
    let config = DpConfig {
        mechanism: match o.mechanism {
            0 => Mechanism::DiscreteGaussian,
            1 => Mechanism::Skellam,
            _ => return Err(SecaggStatus::InvalidArgument.into()),
        },
        epsilon: o.epsilon,
        delta: o.delta,
        clip: o.clip,
        beta: o.beta,
        wrap_probability: o.wrap_probability,
        dim: o.dim,
        bits: o.bits,
        clients: o.clients,
        min_honest: o.min_honest,
        corrupt: o.corrupt,
        rounds: o.rounds,
        epsilon_limit: (o.epsilon_limit != 0.0).then_some(o.epsilon_limit),
    };
    let calibration = config.calibrate()?;
    Ok(SecaggDpConfig {
        config,
        calibration,
    })
}

/// Fills `*out` with the defaults of a configuration for the given targets
/// (discrete Gaussian, beta `e^-0.5`, wrap probability `1e-6`, every client
/// honest, one round, no limit), validated.
///
/// # Safety
/// `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_options_default(
    epsilon: f64,
    delta: f64,
    clip: f64,
    dim: u32,
    bits: u8,
    clients: u32,
    out: *mut SecaggDpOptions,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        let c = DpConfig::new(epsilon, delta, clip, dim, bits, clients)?;
        // SAFETY: `out` checked non-NULL.
        unsafe { put(out, options_of(&c)) }
    })
}

/// Validates and calibrates `*options` into a configuration handle.
///
/// # Safety
/// `options` is NULL or a readable [`SecaggDpOptions`]; `out` is NULL or
/// valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_new(
    options: *const SecaggDpOptions,
    out: *mut *mut SecaggDpConfig,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or readable.
        let o = unsafe { handle(options)? };
        need(out)?;
        let c = config_of(o)?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, c) }
    })
}

/// Writes the configuration's fields to `*out`.
///
/// # Safety
/// `config` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_options(
    config: *const SecaggDpConfig,
    out: *mut SecaggDpOptions,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(config)? };
        // SAFETY: NULL or writable.
        unsafe { put(out, options_of(&c.config)) }
    })
}

/// The padded dimension d: the length of the round's integer vectors (the
/// parameters' m).
///
/// # Safety
/// `config` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_padded_dim(
    config: *const SecaggDpConfig,
    out: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(config)? };
        // SAFETY: NULL or writable.
        unsafe { put(out, c.calibration.padded_dim()) }
    })
}

/// The canonical encoding of the configuration (spec/dp.md section 6).
///
/// # Safety
/// `config` is NULL or a live handle; `buf` is NULL or `cap` writable
/// bytes; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_encode(
    config: *const SecaggDpConfig,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(config)? };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&c.config.to_bytes(), buf, cap, len) }
    })
}

/// Decodes (and calibrates) a configuration from its canonical encoding.
///
/// # Safety
/// `bytes` is NULL or `len` readable bytes; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_decode(
    bytes: *const u8,
    len: usize,
    out: *mut *mut SecaggDpConfig,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: the caller's contract.
        let bytes = unsafe { input(bytes, len)? };
        need(out)?;
        let config = DpConfig::decode(bytes)?;
        let calibration = config.calibrate()?;
        // SAFETY: `out` checked non-NULL.
        unsafe {
            give(
                out,
                SecaggDpConfig {
                    config,
                    calibration,
                },
            )
        }
    })
}

/// A copy of `params` carrying the DP configuration (every party then
/// agrees on it): `SECAGG_STATUS_DP_PARAMS_MISMATCH` unless the
/// configuration is for the same n and b and its padded dimension is m.
///
/// # Safety
/// `params` and `config` are NULL or live handles; `out` is NULL or valid
/// for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_with_dp(
    params: *const SecaggParams,
    config: *const SecaggDpConfig,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or live handles.
        let (p, c) = unsafe { (handle(params)?, handle(config)?) };
        need(out)?;
        let inner = p.inner.clone().with_dp(&c.config)?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// The DP configuration the parameters carry (`SECAGG_STATUS_NOT_FOUND`
/// when they carry none).
///
/// # Safety
/// `params` is NULL or a live handle; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_dp(
    params: *const SecaggParams,
    out: *mut *mut SecaggDpConfig,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        need(out)?;
        let config = p.inner.dp().ok_or(Fail::from(SecaggStatus::NotFound))?;
        let calibration = config.calibrate()?;
        // SAFETY: `out` checked non-NULL.
        unsafe {
            give(
                out,
                SecaggDpConfig {
                    config,
                    calibration,
                },
            )
        }
    })
}

/// Client side: encodes `x` (m floats) into the d integers to pass as the
/// input of `secagg_client_receive_shares`: clip, rotate with the
/// public 32-byte `seed` (the same for every client of the round), scale,
/// round and add noise from the operating system's random source.
///
/// # Safety
/// `config` is NULL or a live handle; `x` is NULL or `x_len` readable
/// doubles; `seed` is NULL or 32 readable bytes; `buf` is NULL or `cap`
/// writable elements; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_encode(
    config: *const SecaggDpConfig,
    x: *const f64,
    x_len: usize,
    seed: *const u8,
    buf: *mut u64,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle / readable inputs.
        let (c, x, seed) = unsafe { (handle(config)?, input(x, x_len)?, array::<32>(seed)?) };
        need(len)?;
        let d = c.calibration.padded_dim();
        if cap < d {
            // SAFETY: checked non-NULL.
            unsafe { len.write(d) };
            return Err(SecaggStatus::ShortBuffer.into());
        }
        let encoded = zeroize::Zeroizing::new(c.calibration.encode(x, &seed, &mut os_rng()?)?);
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&encoded, buf, cap, len) }
    })
}

/// Server side: checks the guarantee of `survivors` contributors against
/// the configured limit (`SECAGG_STATUS_DP_RELEASE_REFUSED`), then decodes
/// the round's sum (d elements) into m floats, divided by `survivors` when
/// `mean` is set, and writes the privacy report to `*report`.
///
/// # Safety
/// `config` is NULL or a live handle; `sum` is NULL or `sum_len` readable
/// elements; `seed` is NULL or 32 readable bytes; `buf` is NULL or `cap`
/// writable doubles; `len` and `report` are NULL or valid for one write.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments, reason = "a flat C signature")]
pub unsafe extern "C" fn secagg_dp_decode(
    config: *const SecaggDpConfig,
    sum: *const u64,
    sum_len: usize,
    survivors: usize,
    seed: *const u8,
    mean: bool,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
    report: *mut SecaggPrivacyReport,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle / readable inputs.
        let (c, sum, seed) = unsafe { (handle(config)?, input(sum, sum_len)?, array::<32>(seed)?) };
        need(len)?;
        need(report)?;
        let release = if mean {
            c.calibration.decode_mean(sum, survivors, &seed)?
        } else {
            c.calibration.decode_sum(sum, survivors, &seed)?
        };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&release.values, buf, cap, len)? };
        let r = release.report;
        let to_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        // SAFETY: checked non-NULL.
        unsafe {
            put(
                report,
                SecaggPrivacyReport {
                    epsilon: r.epsilon,
                    delta: r.delta,
                    epsilon_reached: r.epsilon_reached,
                    survivors: to_u64(r.survivors),
                    honest: to_u64(r.honest),
                    min_honest: r.min_honest,
                    rounds: r.rounds,
                },
            )
        }
    })
}

/// Frees a DP configuration; NULL is a no-op.
///
/// # Safety
/// `config` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_dp_config_free(config: *mut SecaggDpConfig) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(config) };
        Ok(())
    });
}
