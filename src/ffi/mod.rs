//! The C ABI (feature `ffi`): opaque handles over the crate's types, every
//! function `extern "C"`, NULL-safe and behind a panic boundary
//! (spec/ffi.md). `include/secagg.h` is generated from this module by
//! cbindgen and committed; a test fails when it drifts.
//!
//! Rules, as in spec/ffi.md:
//! - Every fallible function returns a [`SecaggStatus`]; `SECAGG_STATUS_OK`
//!   is 0. Codes are stable and never reused.
//! - Handles are created by `*_new`-style functions through an out-pointer
//!   and released by the matching `*_free`, for which NULL is a no-op.
//! - The object comes first, outputs last. Outputs are written only on
//!   success, with two exceptions: a `SECAGG_STATUS_SHORT_BUFFER` return
//!   writes the needed length to the length out-pointer, and a `fault_index`
//!   out-pointer (where a function has one) is always written: the client
//!   at fault (or the peer a server fault names), 0 when there is none.
//!   What the server did about a client it refused is
//!   [`secagg_server_outcome`] (a [`SecaggOutcome`]).
//! - Byte inputs are `(pointer, length)`; NULL with length 0 is the empty
//!   input. Output buffers are caller-owned `(pointer, capacity,
//!   length out)`; NULL with capacity 0 asks for the needed length.
//! - Randomness comes from the operating system (getrandom) at this edge
//!   only, unless a test passes a seeded [`SecaggRng`]; the library below
//!   never reads a global RNG.
//! - Secrets never leave the library, except a long-term identity key on
//!   explicit request ([`secagg_identity_export_secret`]).
//!
//! Threads: [`SecaggParams`], [`SecaggIdentity`], [`SecaggRoster`] and
//! [`SecaggDpConfig`] are immutable after creation and may be shared and
//! used from several threads at once. [`SecaggClient`], [`SecaggServer`]
//! and [`SecaggRng`] may be moved between threads but must not be used from
//! two threads at the same time.
#![allow(
    unsafe_code,
    reason = "the C ABI dereferences caller pointers (the only other unsafe code is the counting allocator of `bench`, built with the `cli` feature only)"
)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod client;
mod dp;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod server;

use core::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand_core::UnwrapErr;

use crate::dp::DpError;
use crate::error::{ClientFault, DecodeError, Error, Misuse, ParamsError, ServerFault};
use crate::protocol::state::StateError;

pub use self::client::*;
pub use self::dp::*;
pub use self::keys::*;
pub use self::server::*;

/// The status every fallible function returns. Values are stable and never
/// reused; the families are the name prefixes (`DECODE`, `CLIENT`,
/// `SERVER`, `PARAMS`, `MISUSE`, `DP`) and the numeric ranges below.
/// [`secagg_status_message`] gives each a static text.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecaggStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// The output buffer is too small; the needed length was written.
    ShortBuffer = 2,
    /// An argument is out of range (an unknown enum value, a length that
    /// overflows).
    InvalidArgument = 3,
    /// A Rust panic was caught at the boundary (a bug): free the handle.
    Panic = 4,
    /// The function does not apply to the handle's current phase (a client
    /// asked for the wrong message, a server result before the round ended).
    OutOfOrder = 5,
    /// No such item: no message for this client, no DP configuration.
    NotFound = 6,
    /// The operating system's random source failed.
    Randomness = 7,
    /// An error of a kind this build cannot name more precisely.
    Unknown = 8,

    /// Bytes ended before the message did.
    DecodeTruncated = 10,
    /// Bytes were left after the message ended.
    DecodeTrailingBytes = 11,
    /// A version byte this build does not speak.
    DecodeUnsupportedVersion = 12,
    /// A message-type byte not expected here.
    DecodeUnexpectedType = 13,
    /// A count or length above what the parameters allow.
    DecodeLengthOutOfBounds = 14,
    /// A field not in canonical form.
    DecodeNonCanonical = 15,
    /// An index outside the roster.
    DecodeIndexOutOfRange = 16,

    /// Client fault: its message did not decode.
    ClientMalformed = 20,
    /// Client fault: its message names another session or round.
    ClientWrongSession = 21,
    /// Client fault: its signature does not verify.
    ClientBadSignature = 22,
    /// Client fault: a different second message in this phase.
    ClientDuplicate = 23,
    /// Client fault: its index is not in the roster.
    ClientUnknownSender = 24,
    /// Client fault: it is not expected in this phase.
    ClientNotInPhase = 25,
    /// Client fault: a small-order public key.
    ClientWeakKey = 26,
    /// Client fault: a public key another client advertised first.
    ClientDuplicateKey = 27,
    /// Client fault: ciphertexts not addressed to exactly its neighbours.
    ClientWrongRecipients = 28,
    /// Client fault: a neighbour could not decrypt its shares.
    ClientUndecryptable = 29,
    /// Client fault: its unmask answer does not match the request.
    ClientWrongAnswer = 30,
    /// Client fault: a share inconsistent with the reconstruction.
    ClientBadShare = 31,
    /// Client fault: its shares give another secret than it published.
    ClientSecretMismatch = 32,

    /// Server fault: its message did not decode.
    ServerMalformed = 40,
    /// Server fault: its message names another session.
    ServerWrongSession = 41,
    /// Server fault: the key broadcast lacks this client's keys.
    ServerMissingOwnKeys = 42,
    /// Server fault: the key broadcast repeats a key.
    ServerDuplicateKeys = 43,
    /// Server fault: a peer's key is of small order.
    ServerWeakKey = 44,
    /// Server fault: an unexpected peer.
    ServerUnexpectedPeer = 45,
    /// Server fault: fewer neighbours than the threshold.
    ServerNotEnoughNeighbours = 46,
    /// Server fault: a peer listed as survivor and as dropped.
    ServerSurvivorAndDropped = 47,
    /// Server fault: this client is not listed as a survivor.
    ServerSelfNotSurvivor = 48,
    /// Server fault: the request leaves out a peer.
    ServerIncompleteRequest = 49,
    /// Server fault: a forwarded signature does not verify.
    ServerBadSignature = 50,
    /// Server fault: the survivor set is not certified.
    ServerNotCertified = 51,
    /// Server fault: a second, different survivor set.
    ServerSurvivorSetChanged = 52,

    /// Too few survivors to finish the phase: the round is over.
    NotEnoughSurvivors = 60,

    /// Invalid parameters: client count.
    ParamsClientCount = 70,
    /// Invalid parameters: threshold.
    ParamsThreshold = 71,
    /// Invalid parameters: modulus bits.
    ParamsBits = 72,
    /// Invalid parameters: vector length.
    ParamsDimension = 73,
    /// Invalid parameters: Harary degree.
    ParamsDegree = 74,
    /// Invalid parameters: a fraction outside [0, 1).
    ParamsFraction = 75,
    /// Invalid parameters: no safe threshold.
    ParamsNoSafeThreshold = 76,
    /// Invalid parameters: the survivor set would not be unique.
    ParamsNotUnique = 77,
    /// The parameters do not meet the client's policy.
    ParamsPolicy = 78,

    /// Misuse: the input's length is not the parameters' dimension.
    MisuseInputLength = 90,
    /// Misuse: an input element is not below 2^b.
    MisuseInputRange = 91,
    /// Misuse: a client index outside 1..=n.
    MisuseClientIndex = 92,
    /// Misuse: the round is over (or the client state was spent by a
    /// refused message).
    MisuseRoundOver = 93,
    /// Misuse: a roster key invalid or repeated, or a roster not of size n.
    MisuseRoster = 94,
    /// Misuse: identity and roster are required exactly in the malicious
    /// model.
    MisuseIdentity = 95,
    /// Misuse: the input was not set before the ShareDelivery.
    MisuseInputMissing = 96,

    /// DP: epsilon.
    DpEpsilon = 110,
    /// DP: delta.
    DpDelta = 111,
    /// DP: clip.
    DpClip = 112,
    /// DP: beta.
    DpBeta = 113,
    /// DP: wrap probability.
    DpWrapProbability = 114,
    /// DP: dimension.
    DpDimension = 115,
    /// DP: bits.
    DpBits = 116,
    /// DP: client counts.
    DpClients = 117,
    /// DP: rounds.
    DpRounds = 118,
    /// DP: no scale fits the sum in b bits.
    DpScaleDoesNotFit = 119,
    /// DP: a scaled value too large.
    DpScaleTooLarge = 120,
    /// DP: a noise parameter outside the samplers' range.
    DpNoise = 121,
    /// DP: a NaN or infinite input.
    DpNonFiniteInput = 122,
    /// DP: an input or sum of the wrong length.
    DpInputLength = 123,
    /// DP: conditional rounding failed every try.
    DpRoundingFailed = 124,
    /// DP: the epsilon reached exceeds the limit; the sum is not released.
    DpReleaseRefused = 125,
    /// DP: a mean over no contributors.
    DpNoContributors = 126,
    /// DP: the round's parameters do not match the configuration.
    DpParamsMismatch = 127,
    /// DP: the configuration bytes do not decode.
    DpDecode = 128,
    /// DP: an integer input outside its codec's range.
    DpOutOfRange = 129,

    /// State: an export that does not decode.
    StateMalformed = 130,
    /// State: an unknown state format or protocol version.
    StateVersion = 131,
    /// State: an export of another round.
    StateRound = 132,
    /// State: an export of another phase.
    StatePhase = 133,
    /// State: an export of another role (client or server).
    StateRole = 134,
    /// State: an export that does not authenticate under the key (altered,
    /// truncated or sealed under another key).
    StateAuthentication = 135,
}

/// Every status, in numeric order (for tests and bindings).
pub const ALL_STATUSES: &[SecaggStatus] = {
    use SecaggStatus as S;
    &[
        S::Ok,
        S::NullPointer,
        S::ShortBuffer,
        S::InvalidArgument,
        S::Panic,
        S::OutOfOrder,
        S::NotFound,
        S::Randomness,
        S::Unknown,
        S::DecodeTruncated,
        S::DecodeTrailingBytes,
        S::DecodeUnsupportedVersion,
        S::DecodeUnexpectedType,
        S::DecodeLengthOutOfBounds,
        S::DecodeNonCanonical,
        S::DecodeIndexOutOfRange,
        S::ClientMalformed,
        S::ClientWrongSession,
        S::ClientBadSignature,
        S::ClientDuplicate,
        S::ClientUnknownSender,
        S::ClientNotInPhase,
        S::ClientWeakKey,
        S::ClientDuplicateKey,
        S::ClientWrongRecipients,
        S::ClientUndecryptable,
        S::ClientWrongAnswer,
        S::ClientBadShare,
        S::ClientSecretMismatch,
        S::ServerMalformed,
        S::ServerWrongSession,
        S::ServerMissingOwnKeys,
        S::ServerDuplicateKeys,
        S::ServerWeakKey,
        S::ServerUnexpectedPeer,
        S::ServerNotEnoughNeighbours,
        S::ServerSurvivorAndDropped,
        S::ServerSelfNotSurvivor,
        S::ServerIncompleteRequest,
        S::ServerBadSignature,
        S::ServerNotCertified,
        S::ServerSurvivorSetChanged,
        S::NotEnoughSurvivors,
        S::ParamsClientCount,
        S::ParamsThreshold,
        S::ParamsBits,
        S::ParamsDimension,
        S::ParamsDegree,
        S::ParamsFraction,
        S::ParamsNoSafeThreshold,
        S::ParamsNotUnique,
        S::ParamsPolicy,
        S::MisuseInputLength,
        S::MisuseInputRange,
        S::MisuseClientIndex,
        S::MisuseRoundOver,
        S::MisuseRoster,
        S::MisuseIdentity,
        S::MisuseInputMissing,
        S::DpEpsilon,
        S::DpDelta,
        S::DpClip,
        S::DpBeta,
        S::DpWrapProbability,
        S::DpDimension,
        S::DpBits,
        S::DpClients,
        S::DpRounds,
        S::DpScaleDoesNotFit,
        S::DpScaleTooLarge,
        S::DpNoise,
        S::DpNonFiniteInput,
        S::DpInputLength,
        S::DpRoundingFailed,
        S::DpReleaseRefused,
        S::DpNoContributors,
        S::DpParamsMismatch,
        S::DpDecode,
        S::DpOutOfRange,
        S::StateMalformed,
        S::StateVersion,
        S::StateRound,
        S::StatePhase,
        S::StateRole,
        S::StateAuthentication,
    ]
};

impl SecaggStatus {
    /// The static, NUL-terminated message of this status.
    pub fn message(self) -> &'static core::ffi::CStr {
        use SecaggStatus as S;
        match self {
            S::Ok => c"success",
            S::NullPointer => c"a required pointer argument was NULL",
            S::ShortBuffer => c"output buffer too small; the needed length was written",
            S::InvalidArgument => c"argument out of range",
            S::Panic => c"internal error (panic caught at the C boundary)",
            S::OutOfOrder => c"call not valid in the current phase",
            S::NotFound => c"no such item",
            S::Randomness => c"the operating system's random source failed",
            S::Unknown => c"unclassified error",
            S::DecodeTruncated => c"message truncated",
            S::DecodeTrailingBytes => c"trailing bytes after message",
            S::DecodeUnsupportedVersion => c"unsupported version",
            S::DecodeUnexpectedType => c"unexpected message type",
            S::DecodeLengthOutOfBounds => c"length or count out of bounds",
            S::DecodeNonCanonical => c"non-canonical encoding",
            S::DecodeIndexOutOfRange => c"client index out of range",
            S::ClientMalformed => c"client message malformed",
            S::ClientWrongSession => c"client message for another session",
            S::ClientBadSignature => c"client signature does not verify",
            S::ClientDuplicate => c"duplicate client message in this phase",
            S::ClientUnknownSender => c"sender not in roster",
            S::ClientNotInPhase => c"sender not expected in this phase",
            S::ClientWeakKey => c"client public key of small order",
            S::ClientDuplicateKey => c"client public key already advertised by another client",
            S::ClientWrongRecipients => c"client ciphertexts not addressed to its neighbours",
            S::ClientUndecryptable => c"client shares failed to decrypt at a neighbour",
            S::ClientWrongAnswer => c"client unmask answer does not match the request",
            S::ClientBadShare => c"client returned a bad share",
            S::ClientSecretMismatch => c"client shares give a secret it did not publish",
            S::ServerMalformed => c"server message malformed",
            S::ServerWrongSession => c"server message for another session",
            S::ServerMissingOwnKeys => c"key broadcast lacks this client's keys",
            S::ServerDuplicateKeys => c"key broadcast repeats a public key",
            S::ServerWeakKey => c"peer public key of small order",
            S::ServerUnexpectedPeer => c"server named an unexpected peer",
            S::ServerNotEnoughNeighbours => c"fewer neighbours named than the threshold",
            S::ServerSurvivorAndDropped => c"peer listed both as survivor and as dropped",
            S::ServerSelfNotSurvivor => c"unmask request does not list this client",
            S::ServerIncompleteRequest => c"unmask request leaves out a peer",
            S::ServerBadSignature => c"forwarded signature does not verify",
            S::ServerNotCertified => c"survivor set not certified",
            S::ServerSurvivorSetChanged => c"survivor set differs from the one signed",
            S::NotEnoughSurvivors => c"not enough survivors: the round is over",
            S::ParamsClientCount => c"client count out of range",
            S::ParamsThreshold => c"threshold out of range",
            S::ParamsBits => c"modulus bits must be in 1..=64",
            S::ParamsDimension => c"vector length too large",
            S::ParamsDegree => c"Harary degree must be even, at least 2 and below n",
            S::ParamsFraction => c"fraction must be in [0, 1)",
            S::ParamsNoSafeThreshold => c"no safe threshold",
            S::ParamsNotUnique => c"threshold too low for a unique survivor set",
            S::ParamsPolicy => c"parameters below the client's policy",
            S::MisuseInputLength => c"input length differs from the parameters' dimension",
            S::MisuseInputRange => c"input element not below 2^b",
            S::MisuseClientIndex => c"client index outside 1..=n",
            S::MisuseRoundOver => c"the round is over",
            S::MisuseRoster => c"roster key invalid or repeated, or roster size is not n",
            S::MisuseIdentity => {
                c"identity and roster are required exactly in the malicious-server model"
            }
            S::MisuseInputMissing => c"the input was not set before the ShareDelivery",
            S::DpEpsilon => c"epsilon must be positive and finite",
            S::DpDelta => c"delta must be in (0, 1)",
            S::DpClip => c"clip must be positive and finite",
            S::DpBeta => c"beta must be in [0, 1)",
            S::DpWrapProbability => c"wrap probability must be in (0, 1)",
            S::DpDimension => c"DP dimension out of range",
            S::DpBits => c"DP bits must be in 1..=64",
            S::DpClients => c"inconsistent DP client counts",
            S::DpRounds => c"rounds must be at least 1",
            S::DpScaleDoesNotFit => c"no scale fits the sum in b bits",
            S::DpScaleTooLarge => c"scaled value too large",
            S::DpNoise => c"noise parameter outside the sampler's range",
            S::DpNonFiniteInput => c"input is NaN or infinite",
            S::DpInputLength => c"DP input length differs from the dimension",
            S::DpRoundingFailed => c"conditional rounding failed every try",
            S::DpReleaseRefused => c"epsilon reached with these survivors exceeds the limit",
            S::DpNoContributors => c"no contributors",
            S::DpParamsMismatch => c"round parameters do not match the DP config",
            S::DpDecode => c"DP config does not decode",
            S::DpOutOfRange => c"input outside the codec's range",
            S::StateMalformed => c"state export does not decode",
            S::StateVersion => c"unsupported state format or protocol version",
            S::StateRound => c"state of another round",
            S::StatePhase => c"state of another phase",
            S::StateRole => c"state of another role",
            S::StateAuthentication => c"state does not authenticate under this key",
        }
    }
}

/// A failure: the status and the index it names (0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail {
    status: SecaggStatus,
    index: u32,
}

impl From<SecaggStatus> for Fail {
    fn from(status: SecaggStatus) -> Self {
        Self { status, index: 0 }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let (status, index) = map_error(&e);
        Self { status, index }
    }
}

impl From<DpError> for Fail {
    fn from(e: DpError) -> Self {
        map_dp(e).into()
    }
}

fn map_decode(e: DecodeError) -> SecaggStatus {
    use SecaggStatus as S;
    match e {
        DecodeError::Truncated => S::DecodeTruncated,
        DecodeError::TrailingBytes => S::DecodeTrailingBytes,
        DecodeError::UnsupportedVersion(_) => S::DecodeUnsupportedVersion,
        DecodeError::UnexpectedType(_) => S::DecodeUnexpectedType,
        DecodeError::LengthOutOfBounds => S::DecodeLengthOutOfBounds,
        DecodeError::NonCanonical => S::DecodeNonCanonical,
        DecodeError::IndexOutOfRange => S::DecodeIndexOutOfRange,
    }
}

fn map_dp(e: DpError) -> SecaggStatus {
    use SecaggStatus as S;
    match e {
        DpError::Epsilon => S::DpEpsilon,
        DpError::Delta => S::DpDelta,
        DpError::Clip => S::DpClip,
        DpError::Beta => S::DpBeta,
        DpError::WrapProbability => S::DpWrapProbability,
        DpError::Dimension => S::DpDimension,
        DpError::Bits => S::DpBits,
        DpError::Clients => S::DpClients,
        DpError::Rounds => S::DpRounds,
        DpError::ScaleDoesNotFit => S::DpScaleDoesNotFit,
        DpError::ScaleTooLarge => S::DpScaleTooLarge,
        DpError::Noise => S::DpNoise,
        DpError::NonFiniteInput => S::DpNonFiniteInput,
        DpError::InputLength => S::DpInputLength,
        DpError::RoundingFailed => S::DpRoundingFailed,
        DpError::ReleaseRefused => S::DpReleaseRefused,
        DpError::NoContributors => S::DpNoContributors,
        DpError::ParamsMismatch => S::DpParamsMismatch,
        DpError::Decode(_) => S::DpDecode,
        DpError::OutOfRange => S::DpOutOfRange,
    }
}

/// The one mapping from the crate's [`Error`] to a status and the index it
/// names: the client at fault for [`Error::Client`], the peer a
/// [`ServerFault`] names where it names one, else 0. New error variants
/// are added here and nowhere else.
pub fn map_error(e: &Error) -> (SecaggStatus, u32) {
    use SecaggStatus as S;
    match *e {
        Error::Decode(d) => (map_decode(d), 0),
        Error::Client { index, fault, .. } => {
            let status = match fault {
                ClientFault::Malformed(_) => S::ClientMalformed,
                ClientFault::WrongSession => S::ClientWrongSession,
                ClientFault::BadSignature => S::ClientBadSignature,
                ClientFault::Duplicate => S::ClientDuplicate,
                ClientFault::UnknownSender => S::ClientUnknownSender,
                ClientFault::NotInPhase => S::ClientNotInPhase,
                ClientFault::WeakKey => S::ClientWeakKey,
                ClientFault::DuplicateKey => S::ClientDuplicateKey,
                ClientFault::WrongRecipients => S::ClientWrongRecipients,
                ClientFault::Undecryptable { .. } => S::ClientUndecryptable,
                ClientFault::WrongAnswer => S::ClientWrongAnswer,
                ClientFault::BadShare { .. } => S::ClientBadShare,
                ClientFault::SecretMismatch => S::ClientSecretMismatch,
            };
            (status, index)
        }
        Error::Server(f) => match f {
            ServerFault::Malformed(_) => (S::ServerMalformed, 0),
            ServerFault::WrongSession => (S::ServerWrongSession, 0),
            ServerFault::MissingOwnKeys => (S::ServerMissingOwnKeys, 0),
            ServerFault::DuplicateKeys => (S::ServerDuplicateKeys, 0),
            ServerFault::WeakKey { peer } => (S::ServerWeakKey, peer),
            ServerFault::UnexpectedPeer { peer } => (S::ServerUnexpectedPeer, peer),
            ServerFault::NotEnoughNeighbours { .. } => (S::ServerNotEnoughNeighbours, 0),
            ServerFault::SurvivorAndDropped { peer } => (S::ServerSurvivorAndDropped, peer),
            ServerFault::SelfNotSurvivor => (S::ServerSelfNotSurvivor, 0),
            ServerFault::IncompleteRequest { peer } => (S::ServerIncompleteRequest, peer),
            ServerFault::BadSignature { peer } => (S::ServerBadSignature, peer),
            ServerFault::NotCertified { peer } => (S::ServerNotCertified, peer),
            ServerFault::SurvivorSetChanged => (S::ServerSurvivorSetChanged, 0),
        },
        Error::NotEnoughSurvivors { .. } => (S::NotEnoughSurvivors, 0),
        Error::Params(p) => (
            match p {
                ParamsError::ClientCount => S::ParamsClientCount,
                ParamsError::Threshold => S::ParamsThreshold,
                ParamsError::Bits => S::ParamsBits,
                ParamsError::Dimension => S::ParamsDimension,
                ParamsError::Degree => S::ParamsDegree,
                ParamsError::Fraction => S::ParamsFraction,
                ParamsError::NoSafeThreshold => S::ParamsNoSafeThreshold,
                ParamsError::NotUnique => S::ParamsNotUnique,
                ParamsError::Policy => S::ParamsPolicy,
            },
            0,
        ),
        Error::Misuse(m) => (
            match m {
                Misuse::InputLength => S::MisuseInputLength,
                Misuse::InputRange => S::MisuseInputRange,
                Misuse::ClientIndex => S::MisuseClientIndex,
                Misuse::RoundOver => S::MisuseRoundOver,
                Misuse::Roster => S::MisuseRoster,
                Misuse::Identity => S::MisuseIdentity,
                Misuse::InputMissing => S::MisuseInputMissing,
            },
            0,
        ),
        Error::Dp(d) => (map_dp(d), 0),
        Error::State(st) => (
            match st {
                StateError::Malformed(_) => S::StateMalformed,
                StateError::Version => S::StateVersion,
                StateError::Round => S::StateRound,
                StateError::Phase => S::StatePhase,
                StateError::Role => S::StateRole,
                StateError::Authentication => S::StateAuthentication,
            },
            0,
        ),
    }
}

/// Runs `f` behind the panic boundary.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Fail>) -> SecaggStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SecaggStatus::Ok,
        Ok(Err(fail)) => fail.status,
        Err(_) => SecaggStatus::Panic,
    }
}

/// Runs `f` behind the panic boundary and writes the index a failure names
/// (0 on success or when none) to `fault_index` unless it is NULL.
pub(crate) fn boundary_indexed(
    fault_index: *mut u32,
    f: impl FnOnce() -> Result<(), Fail>,
) -> SecaggStatus {
    let (status, index) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => (SecaggStatus::Ok, 0),
        Ok(Err(fail)) => (fail.status, fail.index),
        Err(_) => (SecaggStatus::Panic, 0),
    };
    if !fault_index.is_null() {
        // SAFETY: the caller passes NULL or a pointer valid for one u32
        // write (the header's contract for every out-pointer).
        unsafe { fault_index.write(index) };
    }
    status
}

/// A slice from a caller's `(pointer, length)`; NULL is the empty slice
/// when the length is 0.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` elements for `'a`, and not
/// written to meanwhile.
pub(crate) unsafe fn input<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], Fail> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(SecaggStatus::NullPointer.into())
        };
    }
    if len
        .checked_mul(core::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(SecaggStatus::InvalidArgument.into());
    }
    // SAFETY: non-NULL, the caller guarantees `len` readable elements, and
    // the total size fits isize (checked above).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Copies `data` into a caller's array of `data.len()` elements; NULL (an
/// optional output) is skipped.
///
/// # Safety
/// `out` is NULL or valid for writes of `data.len()` elements.
pub(crate) unsafe fn fill<T: Copy>(out: *mut T, data: &[T]) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable for `data.len()` elements by the
        // caller's contract; Rust-owned `data` cannot overlap caller memory.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len()) };
    }
}

/// A fixed-size array input (32-byte keys, ids and seeds).
///
/// # Safety
/// `ptr` is NULL or valid for reads of `N` bytes.
pub(crate) unsafe fn array<const N: usize>(ptr: *const u8) -> Result<[u8; N], Fail> {
    if ptr.is_null() {
        return Err(SecaggStatus::NullPointer.into());
    }
    let mut out = [0u8; N];
    // SAFETY: non-NULL, and the caller guarantees N readable bytes; `out`
    // is a distinct local.
    unsafe { core::ptr::copy_nonoverlapping(ptr, out.as_mut_ptr(), N) };
    Ok(out)
}

/// A state key from 32 caller bytes; the local copy is wiped.
///
/// # Safety
/// `ptr` is NULL or valid for reads of 32 bytes.
pub(crate) unsafe fn state_key(ptr: *const u8) -> Result<crate::StateKey, Fail> {
    use zeroize::Zeroize;
    // SAFETY: forwarded contract.
    let mut raw = unsafe { array::<32>(ptr)? };
    let key = crate::StateKey::new(raw);
    raw.zeroize();
    Ok(key)
}

/// Copies `data` into the caller's `(buf, cap)` and its length to
/// `len_out`; writes only the needed length when `cap` is too small.
///
/// # Safety
/// `len_out` is NULL or valid for one write; `buf` is NULL or valid for
/// writes of `cap` elements.
pub(crate) unsafe fn output<T: Copy>(
    data: &[T],
    buf: *mut T,
    cap: usize,
    len_out: *mut usize,
) -> Result<(), Fail> {
    if len_out.is_null() {
        return Err(SecaggStatus::NullPointer.into());
    }
    if data.len() > cap {
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { len_out.write(data.len()) };
        return Err(SecaggStatus::ShortBuffer.into());
    }
    if !data.is_empty() {
        if buf.is_null() {
            return Err(SecaggStatus::NullPointer.into());
        }
        // SAFETY: `buf` is non-NULL and writable for `cap >= data.len()`
        // elements; Rust-owned `data` cannot overlap caller memory.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    }
    // SAFETY: checked non-NULL above.
    unsafe { len_out.write(data.len()) };
    Ok(())
}

/// Writes one value to a caller's out-pointer.
///
/// # Safety
/// `out` is NULL or valid for one write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) -> Result<(), Fail> {
    if out.is_null() {
        return Err(SecaggStatus::NullPointer.into());
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Fails unless an out-pointer is non-NULL (checked before any work).
pub(crate) fn need<T>(out: *mut T) -> Result<(), Fail> {
    if out.is_null() {
        Err(SecaggStatus::NullPointer.into())
    } else {
        Ok(())
    }
}

/// A shared reference to a handle.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` from this library that no
/// other thread mutates meanwhile.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T) -> Result<&'a T, Fail> {
    // SAFETY: the caller's contract: NULL or a live, properly aligned handle.
    unsafe { ptr.as_ref() }.ok_or_else(|| SecaggStatus::NullPointer.into())
}

/// An exclusive reference to a handle.
///
/// # Safety
/// `ptr` is NULL or a live handle of type `T` from this library, used by no
/// one else during the call.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T) -> Result<&'a mut T, Fail> {
    // SAFETY: the caller's contract: NULL or a live, aligned, unaliased handle.
    unsafe { ptr.as_mut() }.ok_or_else(|| SecaggStatus::NullPointer.into())
}

/// Boxes `value` into a new handle at `*out`.
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
pub(crate) unsafe fn give<T>(out: *mut *mut T, value: T) -> Result<(), Fail> {
    // SAFETY: forwarded contract.
    unsafe { put(out, Box::into_raw(Box::new(value))) }
}

/// Frees a handle made by [`give`]; NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or a handle of type `T` from this library not yet freed.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: made by Box::into_raw in `give` and not freed before.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// The operating system's random source, checked once per call so that a
/// failing source is a status, not a panic.
pub(crate) fn os_rng() -> Result<UnwrapErr<getrandom::SysRng>, Fail> {
    let mut probe = [0u8; 1];
    getrandom::fill(&mut probe).map_err(|_| Fail::from(SecaggStatus::Randomness))?;
    Ok(UnwrapErr(getrandom::SysRng))
}

/// A deterministic random source (ChaCha20 seeded from a `u64`, the stream
/// of spec/conformance.md section 1) for tests and for replaying the
/// conformance vectors of protocols/. Never use it in production: pass NULL
/// wherever a function takes a `SecaggRng *`, and the operating system's
/// source is used. Mutable: must not be used from two threads at once.
pub struct SecaggRng {
    inner: chacha20::ChaCha20Rng,
}

impl core::fmt::Debug for SecaggRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecaggRng(..)")
    }
}

/// Runs `f` with the caller's seeded source, or the operating system's
/// when `rng` is NULL.
///
/// # Safety
/// `rng` is NULL or a live [`SecaggRng`] used by no one else during the call.
pub(crate) unsafe fn with_rng<T>(
    rng: *mut SecaggRng,
    f: impl FnOnce(&mut dyn rand_core::CryptoRng) -> Result<T, Fail>,
) -> Result<T, Fail> {
    // SAFETY: the caller's contract.
    match unsafe { rng.as_mut() } {
        Some(r) => f(&mut r.inner),
        None => f(&mut os_rng()?),
    }
}

/// A deterministic source from `seed` (tests and conformance vectors only).
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_rng_new_seeded(
    seed: u64,
    out: *mut *mut SecaggRng,
) -> SecaggStatus {
    boundary(|| {
        need(out)?;
        let inner = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(seed);
        // SAFETY: `out` checked non-NULL.
        unsafe { give(out, SecaggRng { inner }) }
    })
}

/// Draws `len` bytes from the source into `buf` (a host's round id, in the
/// conformance vectors).
///
/// # Safety
/// `rng` is NULL or a live handle; `buf` is NULL or `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_rng_fill(
    rng: *mut SecaggRng,
    buf: *mut u8,
    len: usize,
) -> SecaggStatus {
    boundary(|| {
        // SAFETY: NULL or a live, unaliased handle.
        let r = unsafe { handle_mut(rng)? };
        if buf.is_null() && len > 0 {
            // Nothing drawn: a failed call leaves the stream where it was.
            return Err(SecaggStatus::NullPointer.into());
        }
        if len > isize::MAX as usize {
            // No caller has that many bytes: refused as every overflowing
            // length is, before anything is drawn or allocated.
            return Err(SecaggStatus::InvalidArgument.into());
        }
        let mut bytes = vec![0u8; len];
        rand_core::Rng::fill_bytes(&mut r.inner, &mut bytes);
        let mut n = 0usize;
        // SAFETY: `buf` is NULL or `len` writable bytes.
        unsafe { output(&bytes, buf, len, &mut n) }
    })
}

/// Frees a source; NULL is a no-op.
///
/// # Safety
/// `rng` is NULL or a handle not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secagg_rng_free(rng: *mut SecaggRng) {
    let _ = boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { free(rng) };
        Ok(())
    });
}

/// The static, NUL-terminated message of a status code; a code this build
/// does not know gets a generic text. Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn secagg_status_message(code: i32) -> *const c_char {
    ALL_STATUSES
        .iter()
        .find(|s| **s as i32 == code)
        .map_or(c"unknown status code", |s| s.message())
        .as_ptr()
}

/// The crate version, a static NUL-terminated string. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn secagg_version() -> *const c_char {
    const V: &core::ffi::CStr = match core::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_unique_and_messages_distinct() {
        let mut codes: Vec<i32> = ALL_STATUSES.iter().map(|s| *s as i32).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        let mut msgs: Vec<_> = ALL_STATUSES.iter().map(|s| s.message()).collect();
        msgs.sort_unstable();
        msgs.dedup();
        assert_eq!(msgs.len(), n);
    }

    #[test]
    fn error_mapping_names_index() {
        let e = Error::Client {
            index: 7,
            fault: ClientFault::BadShare { owner: 3 },
            outcome: crate::Outcome::Excluded,
        };
        assert_eq!(map_error(&e), (SecaggStatus::ClientBadShare, 7));
        let e = Error::Server(ServerFault::UnexpectedPeer { peer: 4 });
        assert_eq!(map_error(&e), (SecaggStatus::ServerUnexpectedPeer, 4));
        let e = Error::Dp(DpError::ReleaseRefused);
        assert_eq!(map_error(&e), (SecaggStatus::DpReleaseRefused, 0));
    }

    /// A panic inside an exported function becomes `SECAGG_STATUS_PANIC`,
    /// and the `fault_index` of an indexed call is still written (0)
    /// (spec/ffi.md section 2).
    #[test]
    fn a_panic_is_caught_at_the_boundary() {
        assert_eq!(boundary(|| panic!("a bug")), SecaggStatus::Panic);
        let mut index = 77u32;
        assert_eq!(
            boundary_indexed(&mut index, || panic!("a bug")),
            SecaggStatus::Panic
        );
        assert_eq!(index, 0);
        assert_eq!(boundary(|| Ok(())), SecaggStatus::Ok);
    }

    /// Every client fault has its own `CLIENT_*` code (20-39) and names the
    /// client at fault; every server fault its own `SERVER_*` code (40-59),
    /// naming the peer exactly when the fault has one (spec/ffi.md
    /// sections 2 and 3).
    #[test]
    fn every_fault_has_its_own_code_and_index() {
        use crate::error::DecodeError as D;
        let clients = [
            ClientFault::Malformed(D::Truncated),
            ClientFault::WrongSession,
            ClientFault::BadSignature,
            ClientFault::Duplicate,
            ClientFault::UnknownSender,
            ClientFault::NotInPhase,
            ClientFault::WeakKey,
            ClientFault::DuplicateKey,
            ClientFault::WrongRecipients,
            ClientFault::Undecryptable { reported_by: 5 },
            ClientFault::WrongAnswer,
            ClientFault::BadShare { owner: 5 },
            ClientFault::SecretMismatch,
        ];
        let mut seen = Vec::new();
        for fault in clients {
            let e = Error::Client {
                index: 9,
                fault,
                outcome: crate::Outcome::Named,
            };
            let (status, index) = map_error(&e);
            assert!((20..40).contains(&(status as i32)), "{fault:?}");
            assert_eq!(index, 9, "{fault:?}");
            assert!(!seen.contains(&status), "{fault:?} shares {status:?}");
            seen.push(status);
        }
        let peer = 7;
        let servers = [
            (ServerFault::Malformed(D::Truncated), 0),
            (ServerFault::WrongSession, 0),
            (ServerFault::MissingOwnKeys, 0),
            (ServerFault::DuplicateKeys, 0),
            (ServerFault::WeakKey { peer }, peer),
            (ServerFault::UnexpectedPeer { peer }, peer),
            (
                ServerFault::NotEnoughNeighbours {
                    named: 1,
                    threshold: 2,
                },
                0,
            ),
            (ServerFault::SurvivorAndDropped { peer }, peer),
            (ServerFault::SelfNotSurvivor, 0),
            (ServerFault::IncompleteRequest { peer }, peer),
            (ServerFault::BadSignature { peer }, peer),
            (ServerFault::NotCertified { peer }, peer),
            (ServerFault::SurvivorSetChanged, 0),
        ];
        for (fault, want) in servers {
            let (status, index) = map_error(&Error::Server(fault));
            assert!((40..60).contains(&(status as i32)), "{fault:?}");
            assert_eq!(index, want, "{fault:?}");
            assert!(!seen.contains(&status), "{fault:?} shares {status:?}");
            seen.push(status);
        }
    }
}
