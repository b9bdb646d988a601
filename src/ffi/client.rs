//! The client handle: one opaque handle over the typed client states.

use zeroize::Zeroizing;

use super::{
    Fail, SecaggIdentity, SecaggParams, SecaggRng, SecaggRoster, SecaggStatus, array, boundary,
    boundary_indexed, free, give, handle, handle_mut, input, need, output, put, with_rng,
};
use crate::{AwaitingKeys, AwaitingShares, AwaitingUnmask};

/// What a client handle waits for.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggClientPhase {
    /// The key broadcast ([`secagg_client_receive_keys`]).
    AwaitingKeys = 0,
    /// The share delivery and its input ([`secagg_client_receive_shares`]).
    AwaitingShares = 1,
    /// The consistency request (malicious model) or the unmask request.
    AwaitingUnmask = 2,
}

enum State {
    Keys(AwaitingKeys),
    Shares(AwaitingShares),
    Unmask(AwaitingUnmask),
}

/// One client of one round. Owns its secrets (wiped when freed). May be
/// moved between threads; must not be used from two threads at once.
pub struct SecaggClient {
    state: State,
    /// The message to send, from the last successful call.
    outgoing: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for SecaggClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecaggClient")
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl SecaggClient {
    fn phase(&self) -> SecaggClientPhase {
        match self.state {
            State::Keys(_) => SecaggClientPhase::AwaitingKeys,
            State::Shares(_) => SecaggClientPhase::AwaitingShares,
            State::Unmask(_) => SecaggClientPhase::AwaitingUnmask,
        }
    }
}

fn out_of_order() -> Fail {
    SecaggStatus::OutOfOrder.into()
}

/// Starts round `round` (32 bytes, fresh for every round) as client `index`
/// in `1..=n`: draws the keys from `rng` (NULL: the operating system's
/// source, as in production) and prepares the
/// AdvertiseKeys message ([`secagg_client_message`]). In the
/// malicious-server model `identity` and `roster` are required; in the
/// semi-honest model both must be NULL (`SECAGG_STATUS_MISUSE_IDENTITY`).
///
/// # Safety
/// `params`, `identity`, `roster` and `rng` are NULL or live handles; `round` is
/// NULL or 32 readable bytes; `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_new(
    params: *const SecaggParams,
    round: *const u8,
    index: u32,
    identity: *const SecaggIdentity,
    roster: *const SecaggRoster,
    rng: *mut SecaggRng,
    out: *mut *mut SecaggClient,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or live handles / 32 readable bytes.
        let (p, round) = unsafe { (handle(params)?, array::<32>(round)?) };
        need(out)?;
        // SAFETY: NULL or live handles.
        let (id, ro) = unsafe { (identity.as_ref(), roster.as_ref()) };
        // SAFETY: NULL or a live handle.
        let (state, msg) = unsafe {
            with_rng(rng, |rng| {
                Ok(match (id, ro) {
                    (Some(id), Some(ro)) => AwaitingKeys::with_identity(
                        &p.inner, round, index, &id.inner, &ro.inner, rng,
                    )?,
                    (None, None) => AwaitingKeys::new(&p.inner, round, index, rng)?,
                    _ => return Err(SecaggStatus::MisuseIdentity.into()),
                })
            })?
        };
        let client = SecaggClient {
            state: State::Keys(state),
            outgoing: Zeroizing::new(msg),
        };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, client) }
    })
}

/// The phase the client waits in.
///
/// # Safety
/// `client` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_phase(
    client: *const SecaggClient,
    out: *mut SecaggClientPhase,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(client)? };
        // SAFETY: NULL or writable.
        unsafe { put(out, c.phase()) }
    })
}

/// Copies the message the client has to send (from its creation or its
/// last successful `receive`) into `(buf, cap)`, its length at `*len`. May
/// be called again (to resend: the server ignores byte-identical resends).
///
/// # Safety
/// `client` is NULL or a live handle; `buf` is NULL or `cap` writable
/// bytes; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_message(
    client: *const SecaggClient,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(client)? };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&c.outgoing, buf, cap, len) }
    })
}

/// Handles the server's KeyBroadcast and prepares the ShareKeys message,
/// drawing the Shamir polynomials from `rng` (NULL: the operating system).
/// `*fault_index` names the peer a server fault concerns (0 if none).
/// A broadcast that does not decode leaves the client usable; any other
/// refusal spends it (later calls give `SECAGG_STATUS_MISUSE_ROUND_OVER`).
///
/// # Safety
/// `client` and `rng` are NULL or live handles; `bytes` is NULL or `len`
/// readable bytes; `fault_index` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_receive_keys(
    client: *mut SecaggClient,
    bytes: *const u8,
    len: usize,
    rng: *mut SecaggRng,
    fault_index: *mut u32,
) -> SecaggStatus {
    boundary_indexed(fault_index, || {
        // SAFETY: NULL or a live, unaliased handle; readable input.
        let (c, bytes) = unsafe { (handle_mut(client)?, input(bytes, len)?) };
        let State::Keys(s) = &mut c.state else {
            return Err(out_of_order());
        };
        // SAFETY: NULL or a live handle.
        let (next, msg) = unsafe { with_rng(rng, |r| Ok(s.receive(bytes, r)?))? };
        c.state = State::Shares(next);
        c.outgoing = Zeroizing::new(msg);
        Ok(())
    })
}

/// Handles the server's ShareDelivery with this client's `input` (`m`
/// elements below `2^b`) and prepares the MaskedInput message. A wrong
/// input (`SECAGG_STATUS_MISUSE_INPUT_LENGTH` / `_RANGE`) or a delivery
/// that does not decode leaves the client usable.
///
/// # Safety
/// `client` is NULL or a live handle; `bytes` is NULL or `len` readable
/// bytes; `input` is NULL or `input_len` readable elements; `fault_index`
/// is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_receive_shares(
    client: *mut SecaggClient,
    bytes: *const u8,
    len: usize,
    input_values: *const u64,
    input_len: usize,
    fault_index: *mut u32,
) -> SecaggStatus {
    boundary_indexed(fault_index, || {
        // SAFETY: NULL or a live, unaliased handle; readable inputs.
        let (c, bytes, values) = unsafe {
            (
                handle_mut(client)?,
                input(bytes, len)?,
                input(input_values, input_len)?,
            )
        };
        let State::Shares(s) = &mut c.state else {
            return Err(out_of_order());
        };
        let (next, msg) = s.receive(bytes, values)?;
        c.state = State::Unmask(next);
        c.outgoing = Zeroizing::new(msg);
        Ok(())
    })
}

/// Malicious model: handles the ConsistencyRequest and prepares the
/// ConsistencyResponse (the client's signature on the survivor set).
///
/// # Safety
/// `client` is NULL or a live handle; `bytes` is NULL or `len` readable
/// bytes; `fault_index` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_receive_consistency(
    client: *mut SecaggClient,
    bytes: *const u8,
    len: usize,
    fault_index: *mut u32,
) -> SecaggStatus {
    boundary_indexed(fault_index, || {
        // SAFETY: NULL or a live, unaliased handle; readable input.
        let (c, bytes) = unsafe { (handle_mut(client)?, input(bytes, len)?) };
        let State::Unmask(s) = &mut c.state else {
            return Err(out_of_order());
        };
        let msg = s.consistency(bytes)?;
        c.outgoing = Zeroizing::new(msg);
        Ok(())
    })
}

/// Handles the UnmaskRequest and prepares the UnmaskResponse. A
/// byte-identical request gets the same answer; any other is refused.
///
/// # Safety
/// `client` is NULL or a live handle; `bytes` is NULL or `len` readable
/// bytes; `fault_index` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_receive_unmask(
    client: *mut SecaggClient,
    bytes: *const u8,
    len: usize,
    fault_index: *mut u32,
) -> SecaggStatus {
    boundary_indexed(fault_index, || {
        // SAFETY: NULL or a live, unaliased handle; readable input.
        let (c, bytes) = unsafe { (handle_mut(client)?, input(bytes, len)?) };
        let State::Unmask(s) = &mut c.state else {
            return Err(out_of_order());
        };
        let msg = s.receive(bytes)?;
        c.outgoing = Zeroizing::new(msg);
        Ok(())
    })
}

/// Frees a client, wiping its secrets; NULL is a no-op.
///
/// # Safety
/// `client` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_free(client: *mut SecaggClient) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(client) };
        Ok(())
    });
}
