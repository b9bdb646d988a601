//! Parameters, identities and rosters: the immutable, shareable handles.

use super::{
    Fail, SecaggRng, SecaggStatus, array, boundary, free, give, handle, input, need, os_rng,
    output, put, with_rng,
};
use crate::{Graph, Identity, Params, Policy, Prg, Roster, ServerModel};

/// Round parameters (spec/params.md). Immutable: may be shared between
/// threads.
#[derive(Debug, Clone)]
pub struct SecaggParams {
    pub(crate) inner: Params,
}

/// A client's long-term Ed25519 identity (malicious-server model). Holds a
/// secret key, wiped when freed. Immutable: may be shared between threads.
#[derive(Debug)]
pub struct SecaggIdentity {
    pub(crate) inner: Identity,
}

/// Every client's verifying key, index `i` at position `i - 1`. Immutable:
/// may be shared between threads.
#[derive(Debug)]
pub struct SecaggRoster {
    pub(crate) inner: Roster,
}

/// Semi-honest parameters on the complete graph (SecAgg): `clients` n,
/// `threshold` t, sums mod `2^bits` of vectors of `dim` elements.
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_new(
    clients: u32,
    threshold: u32,
    bits: u8,
    dim: u32,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        let inner = Params::new(clients, threshold, bits, dim, Graph::Complete)?;
        // SAFETY: `out` checked non-NULL; the caller's contract.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// Semi-honest parameters on the Harary graph of even `degree` with the
/// 32-byte label permutation `seed` (SecAgg+).
///
/// # Safety
/// `seed` is NULL or 32 readable bytes; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_new_harary(
    clients: u32,
    threshold: u32,
    bits: u8,
    dim: u32,
    degree: u32,
    seed: *const u8,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        // SAFETY: NULL or 32 readable bytes, the caller's contract.
        let seed = unsafe { array::<32>(seed)? };
        let inner = Params::new(
            clients,
            threshold,
            bits,
            dim,
            Graph::Harary { degree, seed },
        )?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// SecAgg+ parameters derived for `clients` clients of which at most
/// `corrupt_fraction` are corrupt and `dropout_fraction` drop out; with
/// `malicious`, for the malicious-server model. The label permutation seed
/// comes from the operating system.
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_secagg_plus(
    clients: u32,
    bits: u8,
    dim: u32,
    corrupt_fraction: f64,
    dropout_fraction: f64,
    malicious: bool,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        let mut rng = os_rng()?;
        let inner = if malicious {
            Params::secagg_plus_malicious(
                clients,
                bits,
                dim,
                corrupt_fraction,
                dropout_fraction,
                &mut rng,
            )?
        } else {
            Params::secagg_plus(
                clients,
                bits,
                dim,
                corrupt_fraction,
                dropout_fraction,
                &mut rng,
            )?
        };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// A copy of `params` under the malicious-server model tolerating `corrupt`
/// corrupt clients per neighbourhood (`SECAGG_STATUS_PARAMS_NOT_UNIQUE`
/// unless the survivor set is unique).
///
/// # Safety
/// `params` is NULL or a live handle; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_with_malicious(
    params: *const SecaggParams,
    corrupt: u32,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        need(out)?;
        let inner = p
            .inner
            .clone()
            .with_model(ServerModel::Malicious { corrupt })?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// The mask PRG a round's parameters name (spec/crypto.md section 5). The
/// values are stable; the canonical encoding of the parameters carries the
/// choice, so a client that decodes them expands the same masks.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggPrg {
    /// The RFC 8439 ChaCha20 keystream (the default).
    Chacha20 = 0,
    /// AES-128-CTR: faster on CPUs with AES instructions, much slower in
    /// software elsewhere.
    Aes128Ctr = 1,
}

impl SecaggPrg {
    fn of(p: Prg) -> Self {
        match p {
            Prg::ChaCha20 => Self::Chacha20,
            Prg::Aes128Ctr => Self::Aes128Ctr,
        }
    }
}

/// A copy of `params` with the mask PRG `prg`, a [`SecaggPrg`] value
/// (`SECAGG_STATUS_INVALID_ARGUMENT` otherwise). The server chooses it;
/// [`secagg_params_encode`] carries it to the clients.
///
/// # Safety
/// `params` is NULL or a live handle; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_with_prg(
    params: *const SecaggParams,
    prg: i32,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        need(out)?;
        let prg = match prg {
            0 => Prg::ChaCha20,
            1 => Prg::Aes128Ctr,
            _ => return Err(SecaggStatus::InvalidArgument.into()),
        };
        let inner = p.inner.clone().with_prg(prg);
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// Writes the mask PRG `params` name to `*out`.
///
/// # Safety
/// `params` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_prg(
    params: *const SecaggParams,
    out: *mut SecaggPrg,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        // SAFETY: NULL or writable, the caller's contract.
        unsafe { put(out, SecaggPrg::of(p.inner.prg())) }
    })
}

/// Decodes parameters from their canonical encoding (as a client receives
/// them from a server).
///
/// # Safety
/// `bytes` is NULL or `len` readable bytes; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_decode(
    bytes: *const u8,
    len: usize,
    out: *mut *mut SecaggParams,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: the caller's contract.
        let bytes = unsafe { input(bytes, len)? };
        need(out)?;
        let inner = Params::decode(bytes)?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggParams { inner }) }
    })
}

/// The canonical encoding of `params` into `(buf, cap)`, its length at
/// `*len`.
///
/// # Safety
/// `params` is NULL or a live handle; `buf` is NULL or `cap` writable
/// bytes; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_encode(
    params: *const SecaggParams,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        // SAFETY: the caller's contract on `buf`, `cap` and `len`.
        unsafe { output(&p.inner.to_bytes(), buf, cap, len) }
    })
}

/// The parameters' numbers: n, t, b, m, the degree k (n - 1 on the complete
/// graph) and whether the model is malicious. Any out-pointer may be NULL
/// (not written).
///
/// # Safety
/// `params` is NULL or a live handle; each out-pointer is NULL or valid for
/// one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_info(
    params: *const SecaggParams,
    clients: *mut u32,
    threshold: *mut u32,
    bits: *mut u8,
    dim: *mut u32,
    degree: *mut u32,
    malicious: *mut bool,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = &unsafe { handle(params)? }.inner;
        // SAFETY: each is NULL (skipped) or writable, the caller's contract.
        unsafe {
            if !clients.is_null() {
                put(clients, p.clients())?;
            }
            if !threshold.is_null() {
                put(threshold, p.threshold())?;
            }
            if !bits.is_null() {
                put(bits, p.bits())?;
            }
            if !dim.is_null() {
                put(dim, p.dim())?;
            }
            if !degree.is_null() {
                put(degree, p.degree())?;
            }
            if !malicious.is_null() {
                put(malicious, p.is_malicious())?;
            }
        }
        Ok(())
    })
}

/// Checks parameters received from a server against a client's own policy
/// (`SECAGG_STATUS_PARAMS_POLICY` when they fall short).
///
/// # Safety
/// `params` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_check_policy(
    params: *const SecaggParams,
    min_threshold: u32,
    min_clients: u32,
    require_malicious: bool,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let p = unsafe { handle(params)? };
        p.inner.check_policy(&Policy {
            min_threshold,
            min_clients,
            require_malicious,
        })?;
        Ok(())
    })
}

/// Frees parameters; NULL is a no-op.
///
/// # Safety
/// `params` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_params_free(params: *mut SecaggParams) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(params) };
        Ok(())
    });
}

/// A fresh identity, from `rng` or (NULL) the operating system's source.
///
/// # Safety
/// `rng` is NULL or a live handle; `out` is NULL or valid for one pointer
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_identity_generate(
    rng: *mut SecaggRng,
    out: *mut *mut SecaggIdentity,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        // SAFETY: NULL or a live handle.
        let inner = unsafe { with_rng(rng, |r| Ok(Identity::generate(r)))? };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggIdentity { inner }) }
    })
}

/// An identity from its 32-byte secret key (as exported by
/// [`secagg_identity_export_secret`]).
///
/// # Safety
/// `secret` is NULL or 32 readable bytes; `out` is NULL or valid for one
/// pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_identity_from_secret(
    secret: *const u8,
    out: *mut *mut SecaggIdentity,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        // SAFETY: NULL or 32 readable bytes.
        let secret = zeroize::Zeroizing::new(unsafe { array::<32>(secret)? });
        let inner = Identity::from_secret_bytes(&secret);
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggIdentity { inner }) }
    })
}

/// Writes the identity's 32-byte verifying key to `out`.
///
/// # Safety
/// `identity` is NULL or a live handle; `out` is NULL or 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_identity_public_key(
    identity: *const SecaggIdentity,
    out: *mut u8,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let id = unsafe { handle(identity)? };
        let mut n = 0usize;
        // SAFETY: `out` is NULL or 32 writable bytes, the caller's contract.
        unsafe { output(&id.inner.public_key(), out, 32, &mut n) }
    })
}

/// Writes the identity's 32-byte secret key to `out`: the only function
/// that copies a secret into caller memory. The caller must wipe it.
///
/// # Safety
/// `identity` is NULL or a live handle; `out` is NULL or 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_identity_export_secret(
    identity: *const SecaggIdentity,
    out: *mut u8,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let id = unsafe { handle(identity)? };
        let secret = id.inner.secret_bytes();
        let mut n = 0usize;
        // SAFETY: `out` is NULL or 32 writable bytes, the caller's contract.
        unsafe { output(secret.as_ref(), out, 32, &mut n) }
    })
}

/// Frees an identity, wiping its secret; NULL is a no-op.
///
/// # Safety
/// `identity` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_identity_free(identity: *mut SecaggIdentity) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(identity) };
        Ok(())
    });
}

/// A roster of `count` verifying keys, concatenated in `keys`
/// (`32 * count` bytes; client `i`'s at offset `32 (i - 1)`).
/// `SECAGG_STATUS_MISUSE_ROSTER` for an invalid, small-order or repeated
/// key.
///
/// # Safety
/// `keys` is NULL or `32 * count` readable bytes; `out` is NULL or valid
/// for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_roster_new(
    keys: *const u8,
    count: usize,
    out: *mut *mut SecaggRoster,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        let len = count
            .checked_mul(32)
            .ok_or(Fail::from(SecaggStatus::InvalidArgument))?;
        // SAFETY: the caller's contract.
        let bytes = unsafe { input(keys, len)? };
        let keys: Vec<[u8; 32]> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut k = [0u8; 32];
                k.copy_from_slice(c);
                k
            })
            .collect();
        let inner = Roster::new(&keys)?;
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggRoster { inner }) }
    })
}

/// The number of keys in the roster (0 for NULL).
///
/// # Safety
/// `roster` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_roster_len(roster: *const SecaggRoster) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { roster.as_ref() }.map_or(0, |r| r.inner.len())
}

/// Frees a roster; NULL is a no-op.
///
/// # Safety
/// `roster` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_roster_free(roster: *mut SecaggRoster) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(roster) };
        Ok(())
    });
}
