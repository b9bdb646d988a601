//! The client handle: one opaque handle over [`Client`].

use zeroize::Zeroizing;

use super::{
    Fail, SecaggIdentity, SecaggParams, SecaggRng, SecaggRoster, SecaggStatus, array, boundary,
    boundary_indexed, free, give, handle, handle_mut, input, need, output, put, state_key,
    with_rng,
};
use crate::error::{Error, Misuse, ServerFault};
use crate::protocol::messages::{ConsistencyRequest, UnmaskRequest, kind};
use crate::{Client, ClientPhase, Decode};

/// What a client handle waits for: the phase [`secagg_client_phase`]
/// reports and [`secagg_client_import`] expects.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggClientPhase {
    /// The key broadcast ([`secagg_client_receive_keys`]).
    AwaitingKeys = 0,
    /// The share delivery and its input ([`secagg_client_receive_shares`]).
    AwaitingShares = 1,
    /// The unmask request ([`secagg_client_receive_unmask`]); in the
    /// malicious model, after the consistency request was answered.
    AwaitingUnmask = 2,
    /// Malicious model: the consistency request
    /// ([`secagg_client_receive_consistency`]).
    AwaitingConsistency = 3,
    /// The unmask request is answered: the client's part of the round is
    /// done (a byte-identical request is answered again).
    Done = 4,
    /// The client refused a server message and left the round.
    Over = 5,
}

impl SecaggClientPhase {
    fn of(p: ClientPhase) -> Self {
        match p {
            ClientPhase::KeyBroadcast => Self::AwaitingKeys,
            ClientPhase::ShareDelivery => Self::AwaitingShares,
            ClientPhase::ConsistencyRequest => Self::AwaitingConsistency,
            ClientPhase::UnmaskRequest => Self::AwaitingUnmask,
            ClientPhase::Done => Self::Done,
            ClientPhase::Over => Self::Over,
        }
    }

    /// The phase of a C code; `None` for a value outside the enum.
    fn from_code(code: i32) -> Option<ClientPhase> {
        Some(match code {
            0 => ClientPhase::KeyBroadcast,
            1 => ClientPhase::ShareDelivery,
            2 => ClientPhase::UnmaskRequest,
            3 => ClientPhase::ConsistencyRequest,
            4 => ClientPhase::Done,
            5 => ClientPhase::Over,
            _ => return None,
        })
    }
}

/// One client of one round. Owns its secrets (wiped when freed). May be
/// moved between threads; must not be used from two threads at once.
pub struct SecaggClient {
    client: Client,
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
        SecaggClientPhase::of(self.client.phase())
    }

    /// Fails with `SECAGG_STATUS_OUT_OF_ORDER` unless the client waits in
    /// one of `phases`, or is over (then [`Client::receive`] gives
    /// `SECAGG_STATUS_MISUSE_ROUND_OVER`).
    fn expect(&self, phases: &[ClientPhase]) -> Result<(), Fail> {
        let p = self.client.phase();
        if p == ClientPhase::Over || phases.contains(&p) {
            Ok(())
        } else {
            Err(SecaggStatus::OutOfOrder.into())
        }
    }

    /// Answers `bytes` and keeps the answer as the message to send.
    fn answer(&mut self, bytes: &[u8], rng: &mut dyn rand_core::CryptoRng) -> Result<(), Fail> {
        let msg = self.client.receive(bytes, rng)?;
        self.outgoing = Zeroizing::new(msg);
        Ok(())
    }
}

/// The phases in which the client holds its unmask-stage state.
const UNMASK_STAGE: [ClientPhase; 3] = [
    ClientPhase::ConsistencyRequest,
    ClientPhase::UnmaskRequest,
    ClientPhase::Done,
];

/// A source for the calls that draw nothing ([`Client::receive`] draws only
/// for the key broadcast).
struct NoDraw;

impl rand_core::TryRng for NoDraw {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("no randomness is drawn after the key broadcast")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("no randomness is drawn after the key broadcast")
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
        unreachable!("no randomness is drawn after the key broadcast")
    }
}

impl rand_core::TryCryptoRng for NoDraw {}

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
        let (client, msg) = unsafe {
            with_rng(rng, |rng| {
                Ok(match (id, ro) {
                    (Some(id), Some(ro)) => {
                        Client::with_identity(&p.inner, round, index, &id.inner, &ro.inner, rng)?
                    }
                    (None, None) => Client::new(&p.inner, round, index, rng)?,
                    _ => return Err(SecaggStatus::MisuseIdentity.into()),
                })
            })?
        };
        let client = SecaggClient {
            client,
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

/// The client's index in `1..=n` (for a handle from
/// [`secagg_client_import`], the index it was created with).
///
/// # Safety
/// `client` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_index(
    client: *const SecaggClient,
    out: *mut u32,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let c = unsafe { handle(client)? };
        // SAFETY: NULL or writable.
        unsafe { put(out, c.client.index()) }
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
        c.expect(&[ClientPhase::KeyBroadcast])?;
        // SAFETY: NULL or a live handle.
        unsafe { with_rng(rng, |r| c.answer(bytes, r)) }
    })
}

/// Handles the server's ShareDelivery with this client's `input` (`m`
/// elements below `2^b`) and prepares the MaskedInput message. A wrong
/// input (`SECAGG_STATUS_MISUSE_INPUT_LENGTH` / `_RANGE`) or a delivery
/// that does not decode leaves the client usable, and as it was: the input
/// is kept only with the answer.
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
        c.expect(&[ClientPhase::ShareDelivery])?;
        if c.client.phase() != ClientPhase::ShareDelivery {
            return c.answer(bytes, &mut NoDraw);
        }
        // The input is kept only with the answer: a refused delivery
        // leaves the state as it was.
        let msg = c.client.receive_with_input(bytes, values, &mut NoDraw)?;
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
        c.expect(&UNMASK_STAGE)?;
        let params = c.client.params();
        if c.client.phase() != ClientPhase::Over {
            if !params.is_malicious() {
                return Err(Error::from(Misuse::Identity).into());
            }
            if bytes.get(1) != Some(&kind::CONSISTENCY_REQUEST) {
                // Refused at its header, as the typed state refuses it.
                if let Err(e) = ConsistencyRequest::decode(params, bytes) {
                    return Err(Error::Server(ServerFault::Malformed(e)).into());
                }
            }
        }
        c.answer(bytes, &mut NoDraw)
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
        c.expect(&UNMASK_STAGE)?;
        let params = c.client.params();
        if params.is_malicious() && bytes.get(1) == Some(&kind::CONSISTENCY_REQUEST) {
            // Refused at its header, as the typed state refuses it.
            if let Err(e) = UnmaskRequest::decode(params, bytes) {
                return Err(Error::Server(ServerFault::Malformed(e)).into());
            }
        }
        c.answer(bytes, &mut NoDraw)
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

/// Seals the client's state under the 32-byte `key` (spec/state.md) into
/// `(buf, cap)`, its length at `*len`; the nonce comes from `rng` (NULL:
/// the operating system's source). The export holds the client's secrets
/// only sealed (ChaCha20-Poly1305 under `key`), so it may be stored
/// anywhere the host likes; it does not hold the message to send (read it
/// with [`secagg_client_message`] first). Record the phase
/// ([`secagg_client_phase`]) with it: [`secagg_client_import`] asks for it.
/// Each call draws a fresh nonce, so two exports of one state differ (they
/// have the same length).
///
/// A host answers from at most one copy of a state: never import an older
/// export once a newer one, or the live handle, has answered a message
/// (spec/ffi.md, spec/state.md section 6).
///
/// # Safety
/// `client` and `rng` are NULL or live handles; `key` is NULL or 32
/// readable bytes; `buf` is NULL or `cap` writable bytes; `len` is NULL or
/// valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_export(
    client: *const SecaggClient,
    key: *const u8,
    rng: *mut SecaggRng,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle / 32 readable bytes.
        let (c, key) = unsafe { (handle(client)?, state_key(key)?) };
        need(len)?;
        // SAFETY: NULL or a live handle.
        let sealed = unsafe { with_rng(rng, |r| Ok(c.client.export(&key, r)))? };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&sealed, buf, cap, len) }
    })
}

/// Opens a client state sealed by [`secagg_client_export`] into a new
/// handle at `*out`. It must be a client's, of round `round` (32 bytes),
/// sealed under `key` (32 bytes) in phase `phase` (a [`SecaggClientPhase`]
/// value: `SECAGG_STATUS_INVALID_ARGUMENT` otherwise). A refusal is a
/// `SECAGG_STATUS_STATE_*` code: `_ROUND`, `_PHASE` or `_ROLE` for an export
/// of another round, phase or role, `_AUTHENTICATION` under another key or
/// for altered or truncated bytes, `_VERSION` for an unknown format,
/// `_MALFORMED` for bytes that are not an export. The new handle has no
/// message to send until its next successful `receive`.
///
/// # Safety
/// `bytes` is NULL or `len` readable bytes; `key` and `round` are NULL or
/// 32 readable bytes; `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_client_import(
    bytes: *const u8,
    len: usize,
    key: *const u8,
    round: *const u8,
    phase: i32,
    out: *mut *mut SecaggClient,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: readable input / 32 readable bytes each.
        let (bytes, key, round) =
            unsafe { (input(bytes, len)?, state_key(key)?, array::<32>(round)?) };
        need(out)?;
        let phase =
            SecaggClientPhase::from_code(phase).ok_or(Fail::from(SecaggStatus::InvalidArgument))?;
        let client = Client::import(bytes, &key, &round, phase)?;
        let c = SecaggClient {
            client,
            outgoing: Zeroizing::new(Vec::new()),
        };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, c) }
    })
}
