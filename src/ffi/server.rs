//! The server handle.

use std::sync::{Mutex, PoisonError};

use super::{
    Fail, SecaggParams, SecaggRng, SecaggRoster, SecaggStatus, array, boundary, boundary_indexed,
    fill, free, give, handle, handle_mut, input, map_error, need, output, put, state_key, with_rng,
};
use crate::{Aggregate, Error, Outbox, Outcome, Phase, Server, Step};

/// The phase a server handle accepts messages for.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggServerPhase {
    /// R0: AdvertiseKeys.
    AdvertiseKeys = 0,
    /// R1: ShareKeys.
    ShareKeys = 1,
    /// R2: MaskedInput.
    MaskedInput = 2,
    /// R2.5 (malicious model): ConsistencyResponse.
    Consistency = 3,
    /// R3: UnmaskResponse.
    Unmask = 4,
    /// The round is over (finished or aborted).
    Over = 5,
}

impl SecaggServerPhase {
    fn of(p: Option<Phase>) -> Self {
        match p {
            Some(Phase::AdvertiseKeys) => Self::AdvertiseKeys,
            Some(Phase::ShareKeys) => Self::ShareKeys,
            Some(Phase::MaskedInput) => Self::MaskedInput,
            Some(Phase::Consistency) => Self::Consistency,
            Some(Phase::Unmask) => Self::Unmask,
            None => Self::Over,
        }
    }

    /// The phase of a C code (`None` inside for `Over`); `Err` for a value
    /// outside the enum.
    fn from_code(code: i32) -> Result<Option<Phase>, Fail> {
        Ok(Some(match code {
            0 => Phase::AdvertiseKeys,
            1 => Phase::ShareKeys,
            2 => Phase::MaskedInput,
            3 => Phase::Consistency,
            4 => Phase::Unmask,
            5 => return Ok(None),
            _ => return Err(SecaggStatus::InvalidArgument.into()),
        }))
    }
}

/// What the server did about the client whose message (or, at a phase
/// close, whose shares) it refused: spec/protocol.md section 5.4, read with
/// [`secagg_server_outcome`]. The values are stable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggOutcome {
    /// The last receive or phase close did not refuse a client: it
    /// succeeded, or its status is not a `SECAGG_STATUS_CLIENT_*` code.
    None = 0,
    /// Nothing was recorded: the message was dropped and the sender keeps
    /// its standing (a late message, a sender outside the roster).
    Ignored = 1,
    /// The sender is named in [`secagg_server_misbehaved`] and removed from
    /// the rest of the round (its input is not in the sum when excluded
    /// before its masked input was accepted, and stays in it after).
    Excluded = 2,
    /// The sender is named in [`secagg_server_misbehaved`] but stays in the
    /// round: the offending message is discarded, what it sent before
    /// stands.
    Named = 3,
    /// The phase close failed: the round is over, and the client is the
    /// reason.
    Aborted = 4,
}

impl SecaggOutcome {
    fn of(o: Outcome) -> Self {
        match o {
            Outcome::Ignored => Self::Ignored,
            Outcome::Excluded => Self::Excluded,
            Outcome::Named => Self::Named,
            Outcome::Aborted => Self::Aborted,
        }
    }

    /// The client and the outcome an error names, if it is a client fault.
    fn from_result<T>(r: &Result<T, Error>) -> (Self, u32) {
        match r {
            Err(Error::Client { index, outcome, .. }) => (Self::of(*outcome), *index),
            _ => (Self::None, 0),
        }
    }
}

/// A client named in the result with the first fault seen of it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecaggFault {
    /// The client.
    pub index: u32,
    /// Its fault, a `SECAGG_STATUS_CLIENT_*` code.
    pub code: i32,
}

/// The server of one round. May be moved between threads; must not be used
/// from two threads at once.
pub struct SecaggServer {
    server: Server,
    /// The messages to deliver after the last phase close, each built when
    /// it is asked for.
    outgoing: Option<Outbox>,
    /// The message last built from `outgoing`, with its recipient: the
    /// usual pair of [`secagg_server_message`] calls (its length, then its
    /// bytes) builds it once. Behind a lock because that function takes a
    /// shared handle.
    built: Mutex<Option<(u32, Vec<u8>)>>,
    result: Option<Aggregate>,
    /// The outcome and client of the last receive or phase close.
    last: (SecaggOutcome, u32),
}

impl core::fmt::Debug for SecaggServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecaggServer")
            .field("server", &self.server)
            .field("outgoing", &self.outgoing.as_ref().map_or(0, Outbox::len))
            .finish_non_exhaustive()
    }
}

/// A server for round `round` (32 bytes). In the malicious-server model
/// `roster` is required; in the semi-honest model it must be NULL
/// (`SECAGG_STATUS_MISUSE_IDENTITY`). The session nonce comes from `rng`
/// (NULL: the operating system's source, as in production).
///
/// # Safety
/// `params`, `roster` and `rng` are NULL or live handles; `round` is NULL or 32
/// readable bytes; `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_new(
    params: *const SecaggParams,
    round: *const u8,
    roster: *const SecaggRoster,
    rng: *mut SecaggRng,
    out: *mut *mut SecaggServer,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle / 32 readable bytes.
        let (p, round) = unsafe { (handle(params)?, array::<32>(round)?) };
        need(out)?;
        // SAFETY: NULL or live handles.
        let server = unsafe {
            let roster = roster.as_ref();
            with_rng(rng, |rng| {
                Ok(match roster {
                    Some(r) => Server::with_roster(&p.inner, round, &r.inner, rng)?,
                    None => Server::new(&p.inner, round, rng)?,
                })
            })?
        };
        let s = SecaggServer {
            server,
            outgoing: None,
            built: Mutex::new(None),
            result: None,
            last: (SecaggOutcome::None, 0),
        };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, s) }
    })
}

/// Takes client `from`'s message of the current phase. A byte-identical
/// resend is a no-op (`SECAGG_STATUS_OK`). On a client fault the status is
/// a `SECAGG_STATUS_CLIENT_*` code and `*fault_index` the client at fault
/// (0 when there is none); what the server did about it
/// (ignored, excluded, named) is [`secagg_server_outcome`].
///
/// # Safety
/// `server` is NULL or a live handle; `bytes` is NULL or `len` readable
/// bytes; `fault_index` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_receive(
    server: *mut SecaggServer,
    from: u32,
    bytes: *const u8,
    len: usize,
    fault_index: *mut u32,
) -> SecaggStatus {
    boundary_indexed(fault_index, || {
        // SAFETY: NULL or a live, unaliased handle; readable input.
        let s = unsafe { handle_mut(server)? };
        s.last = (SecaggOutcome::None, 0);
        // SAFETY: NULL or `len` readable bytes.
        let bytes = unsafe { input(bytes, len)? };
        let r = s.server.receive(from, bytes);
        s.last = SecaggOutcome::from_result(&r);
        r?;
        Ok(())
    })
}

/// Takes a batch of `count` messages of the current phase, message `k` from
/// client `senders[k]` with bytes `(messages[k], lens[k])`: the same
/// statuses, in the same order, and the same server state as
/// [`secagg_server_receive`] on each message in turn, but the checks that
/// depend only on a message's bytes (ShareKeys and UnmaskResponse) run for
/// the whole batch over the library's threads (spec/protocol.md section
/// 5.1).
///
/// Returns `SECAGG_STATUS_OK` when every message was handed to the server;
/// each message's own status is then `statuses[k]`, the index
/// [`secagg_server_receive`] writes to its `fault_index` is
/// `fault_indices[k]` and its [`SecaggOutcome`] (what
/// [`secagg_server_outcome`] reports after that call) is `outcomes[k]`;
/// `fault_indices` and `outcomes` may be NULL (not written).
/// [`secagg_server_outcome`] then describes the last message of the batch
/// (`SECAGG_OUTCOME_NONE` for an empty one).
///
/// Argument errors are checked before any message is taken; then nothing
/// is written, the round is unchanged and [`secagg_server_outcome`]
/// reports `SECAGG_OUTCOME_NONE`. They are `SECAGG_STATUS_NULL_POINTER`
/// for a NULL handle, a NULL `senders`, `messages`, `lens` or `statuses`
/// when `count > 0`, or a NULL message with a non-zero length, and
/// `SECAGG_STATUS_INVALID_ARGUMENT` for a count or length whose bytes
/// overflow.
///
/// Beyond what [`secagg_server_receive`] allocates for a message, the
/// call allocates a few words a message (the batch's list and each
/// message's result): in proportion to `count`, as the caller's own arrays.
///
/// ```c
/// uint32_t senders[2] = {1, 2};
/// const uint8_t *messages[2] = {msg1, msg2};
/// size_t lens[2] = {len1, len2};
/// SecaggStatus statuses[2];
/// uint32_t faults[2];
/// SecaggOutcome outcomes[2];
/// if (secagg_server_receive_all(server, 2, senders, messages, lens,
///                               statuses, faults, outcomes) != SECAGG_STATUS_OK) {
///     /* a caller's error: nothing was taken */
/// }
/// for (size_t k = 0; k < 2; k++) {
///     if (statuses[k] != SECAGG_STATUS_OK) {
///         /* client faults[k] refused, outcomes[k] says what the server did */
///     }
/// }
/// ```
///
/// # Safety
/// `server` is NULL or a live handle; `senders`, `messages` and `lens` are
/// NULL or `count` readable elements, and each `messages[k]` NULL or
/// `lens[k]` readable bytes; `statuses`, `fault_indices` and `outcomes` are
/// NULL or `count` writable elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_receive_all(
    server: *mut SecaggServer,
    count: usize,
    senders: *const u32,
    messages: *const *const u8,
    lens: *const usize,
    statuses: *mut SecaggStatus,
    fault_indices: *mut u32,
    outcomes: *mut SecaggOutcome,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live, unaliased handle.
        let s = unsafe { handle_mut(server)? };
        s.last = (SecaggOutcome::None, 0);
        // SAFETY: NULL or `count` readable elements each. The widest
        // elements come first, so a count whose bytes overflow is refused
        // before any slice is made of the narrower `senders`.
        let (messages, lens, senders) = unsafe {
            (
                input(messages, count)?,
                input(lens, count)?,
                input(senders, count)?,
            )
        };
        if count > 0 {
            need(statuses)?;
        }
        let batch = senders
            .iter()
            .zip(messages)
            .zip(lens)
            // SAFETY: each message is NULL or `lens[k]` readable bytes.
            .map(|((&from, &ptr), &len)| Ok((from, unsafe { input(ptr, len)? })))
            .collect::<Result<Vec<_>, Fail>>()?;
        let results = s.server.receive_all(&batch);
        let (status, index): (Vec<SecaggStatus>, Vec<u32>) = results
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or_else(map_error, |()| (SecaggStatus::Ok, 0))
            })
            .unzip();
        let outcome: Vec<SecaggOutcome> = results
            .iter()
            .map(|r| SecaggOutcome::from_result(r).0)
            .collect();
        s.last = results
            .last()
            .map_or((SecaggOutcome::None, 0), SecaggOutcome::from_result);
        // SAFETY: NULL (skipped) or `count` writable elements each, and
        // every vector has one entry per message.
        unsafe {
            fill(statuses, &status);
            fill(fault_indices, &index);
            fill(outcomes, &outcome);
        }
        Ok(())
    })
}

/// Closes the current phase (the host's deadline passed). After it, the
/// messages to deliver are read with [`secagg_server_recipients`] and
/// [`secagg_server_message`]; after the last phase the result with
/// [`secagg_server_sum`] and friends. `SECAGG_STATUS_NOT_ENOUGH_SURVIVORS`
/// ends the round, and so does a `SECAGG_STATUS_CLIENT_*` code here
/// ([`secagg_server_outcome`] names the client, with `SECAGG_OUTCOME_ABORTED`).
///
/// # Safety
/// `server` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_close_phase(server: *mut SecaggServer) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live, unaliased handle.
        let s = unsafe { handle_mut(server)? };
        s.outgoing = None;
        *s.built.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        let r = s.server.close_phase();
        s.last = SecaggOutcome::from_result(&r);
        match r? {
            Step::Deliver(msgs) => s.outgoing = Some(msgs),
            Step::Done(agg) => s.result = Some(agg),
        }
        Ok(())
    })
}

/// The phase whose messages the server accepts.
///
/// # Safety
/// `server` is NULL or a live handle; `out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_phase(
    server: *const SecaggServer,
    out: *mut SecaggServerPhase,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        // SAFETY: NULL or writable.
        unsafe { put(out, SecaggServerPhase::of(s.server.phase())) }
    })
}

/// What the server did about the client the last [`secagg_server_receive`]
/// or [`secagg_server_close_phase`] on this handle refused
/// (spec/protocol.md section 5.4): writes the [`SecaggOutcome`] to
/// `*outcome` (a NULL `outcome` is `SECAGG_STATUS_NULL_POINTER`) and the
/// client to `*index` (a NULL `index` is not written). After a call
/// that succeeded or failed without a `SECAGG_STATUS_CLIENT_*` code, the
/// outcome is `SECAGG_OUTCOME_NONE` and the index 0. An imported server
/// starts with `SECAGG_OUTCOME_NONE`.
///
/// # Safety
/// `server` is NULL or a live handle; `outcome` is NULL or valid for one
/// write; `index` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_outcome(
    server: *const SecaggServer,
    outcome: *mut SecaggOutcome,
    index: *mut u32,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        need(outcome)?;
        // SAFETY: checked non-NULL / NULL (skipped) or writable.
        unsafe {
            put(outcome, s.last.0)?;
            if !index.is_null() {
                put(index, s.last.1)?;
            }
        }
        Ok(())
    })
}

/// Which list [`secagg_server_clients`] returns.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecaggClientList {
    /// The clients the last phase close has a message for, ascending.
    Recipients = 0,
    /// The clients whose message of the current phase is still awaited.
    Pending = 1,
    /// The clients excluded so far.
    Excluded = 2,
    /// The clients whose inputs are in the sum (after the round ended).
    Survivors = 3,
}

/// Copies a list of client indices into `(buf, cap)`, its length at `*len`.
/// `list` is a [`SecaggClientList`] value (`SECAGG_STATUS_INVALID_ARGUMENT`
/// otherwise); `Survivors` is `SECAGG_STATUS_OUT_OF_ORDER` before the
/// round has finished.
///
/// # Safety
/// `server` is NULL or a live handle; `buf` is NULL or `cap` writable
/// elements; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_clients(
    server: *const SecaggServer,
    list: i32,
    buf: *mut u32,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        let items: Vec<u32> = match list {
            0 => s
                .outgoing
                .as_ref()
                .map_or_else(Vec::new, |o| o.recipients().to_vec()),
            1 => s.server.pending(),
            2 => s.server.excluded(),
            3 => s
                .result
                .as_ref()
                .ok_or(Fail::from(SecaggStatus::OutOfOrder))?
                .survivors
                .clone(),
            _ => return Err(SecaggStatus::InvalidArgument.into()),
        };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&items, buf, cap, len) }
    })
}

/// The recipients of the last phase close: [`secagg_server_clients`] with
/// `Recipients`.
///
/// # Safety
/// As [`secagg_server_clients`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_recipients(
    server: *const SecaggServer,
    buf: *mut u32,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    // SAFETY: forwarded contract.
    unsafe { secagg_server_clients(server, SecaggClientList::Recipients as i32, buf, cap, len) }
}

/// Copies the message for client `to` from the last phase close into
/// `(buf, cap)`. `SECAGG_STATUS_NOT_FOUND` when there is none for it (it
/// dropped out or was excluded).
///
/// # Safety
/// `server` is NULL or a live handle; `buf` is NULL or `cap` writable
/// bytes; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_message(
    server: *const SecaggServer,
    to: u32,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        let mut built = s.built.lock().unwrap_or_else(PoisonError::into_inner);
        if built.as_ref().is_none_or(|(v, _)| *v != to) {
            let msg = s.outgoing.as_ref().and_then(|o| o.message(to));
            *built = msg.map(|m| (to, m));
        }
        let (_, msg) = built.as_ref().ok_or(Fail::from(SecaggStatus::NotFound))?;
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(msg, buf, cap, len) }
    })
}

fn result(s: &SecaggServer) -> Result<&Aggregate, Fail> {
    s.result
        .as_ref()
        .ok_or(Fail::from(SecaggStatus::OutOfOrder))
}

/// Copies the sum (m elements mod `2^b`) into `(buf, cap)` once the round
/// has finished (`SECAGG_STATUS_OUT_OF_ORDER` before).
///
/// # Safety
/// `server` is NULL or a live handle; `buf` is NULL or `cap` writable
/// elements; `len` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_sum(
    server: *const SecaggServer,
    buf: *mut u64,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&result(s)?.sum, buf, cap, len) }
    })
}

/// Copies the clients that broke the protocol, with the first fault seen
/// of each, into `(buf, cap)` once the round has finished.
///
/// # Safety
/// As [`secagg_server_sum`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_misbehaved(
    server: *const SecaggServer,
    buf: *mut SecaggFault,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        let items: Vec<SecaggFault> = result(s)?
            .misbehaved
            .iter()
            .map(|&(index, fault)| SecaggFault {
                index,
                code: map_error(&crate::Error::Client {
                    index,
                    fault,
                    outcome: crate::Outcome::Named,
                })
                .0 as i32,
            })
            .collect();
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&items, buf, cap, len) }
    })
}

/// Writes the 32-byte session id (all zero before R0 closes): the public
/// seed of the DP rotation (`secagg_dp_encode`).
///
/// # Safety
/// `server` is NULL or a live handle; `out` is NULL or 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_session(
    server: *const SecaggServer,
    out: *mut u8,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle.
        let s = unsafe { handle(server)? };
        let mut n = 0usize;
        // SAFETY: `out` is NULL or 32 writable bytes.
        unsafe { output(s.server.session(), out, 32, &mut n) }
    })
}

/// Seals the server's state under the 32-byte `key` (spec/state.md) into
/// `(buf, cap)`, its length at `*len`; the nonce comes from `rng` (NULL:
/// the operating system's source). A checkpoint between receives or
/// phases: the export holds the round's protocol state (the running masked
/// sum and, in the unmask phase, the shares received) only sealed, but not
/// the messages of the last phase close nor the result of a finished
/// round: read those ([`secagg_server_message`], [`secagg_server_sum`])
/// before exporting. Record the phase ([`secagg_server_phase`]) with it.
///
/// Never run two servers from copies of one state (spec/ffi.md,
/// spec/state.md section 6).
///
/// # Safety
/// `server` and `rng` are NULL or live handles; `key` is NULL or 32
/// readable bytes; `buf` is NULL or `cap` writable bytes; `len` is NULL or
/// valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_export(
    server: *const SecaggServer,
    key: *const u8,
    rng: *mut SecaggRng,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live handle / 32 readable bytes.
        let (s, key) = unsafe { (handle(server)?, state_key(key)?) };
        need(len)?;
        // SAFETY: NULL or a live handle.
        let sealed = unsafe { with_rng(rng, |r| Ok(s.server.export(&key, r)))? };
        // SAFETY: the caller's contract on the buffer.
        unsafe { output(&sealed, buf, cap, len) }
    })
}

/// Opens a server state sealed by [`secagg_server_export`] into a new
/// handle at `*out`. It must be a server's, of round `round` (32 bytes),
/// sealed under `key` (32 bytes) in phase `phase` (a [`SecaggServerPhase`]
/// value, `Over` for a round that had ended: `SECAGG_STATUS_INVALID_ARGUMENT`
/// otherwise). Refusals are the `SECAGG_STATUS_STATE_*` codes of
/// [`secagg_client_import`](super::secagg_client_import). The new handle
/// has no messages to deliver and no result until its next phase close.
///
/// # Safety
/// `bytes` is NULL or `len` readable bytes; `key` and `round` are NULL or
/// 32 readable bytes; `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_import(
    bytes: *const u8,
    len: usize,
    key: *const u8,
    round: *const u8,
    phase: i32,
    out: *mut *mut SecaggServer,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: readable input / 32 readable bytes each.
        let (bytes, key, round) =
            unsafe { (input(bytes, len)?, state_key(key)?, array::<32>(round)?) };
        need(out)?;
        let phase = SecaggServerPhase::from_code(phase)?;
        let server = Server::import(bytes, &key, &round, phase)?;
        let s = SecaggServer {
            server,
            outgoing: None,
            built: Mutex::new(None),
            result: None,
            last: (SecaggOutcome::None, 0),
        };
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, s) }
    })
}

/// Frees a server; NULL is a no-op.
///
/// # Safety
/// `server` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_server_free(server: *mut SecaggServer) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(server) };
        Ok(())
    });
}
