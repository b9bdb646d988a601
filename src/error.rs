//! Errors, split by who is at fault.
//!
//! [`Error`] is the one error type of the crate. Its variants say who broke
//! what: bytes that did not parse ([`DecodeError`]), a client that broke the
//! protocol ([`ClientFault`], always with the client's index), a server message
//! that a client refuses ([`ServerFault`]), too few survivors to finish, bad
//! parameters ([`ParamsError`]) or a call the API does not allow ([`Misuse`]).
//! Every sub-enum is `Copy`, so a C binding maps it with one total `match`.
//!
//! No error carries key, seed, share or input material: a failed decryption is
//! reported as [`ClientFault::Undecryptable`] and nothing more.

use core::fmt;

/// A client's position in the roster, `1..=n`; it is also the client's
/// Shamir x-coordinate.
pub type ClientIndex = u32;

/// The phases of a round (spec/protocol.md section 3). `Consistency` runs in
/// the malicious-server model only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// R0: clients advertise their two public keys.
    AdvertiseKeys,
    /// R1: clients send encrypted shares of their secrets to their neighbours.
    ShareKeys,
    /// R2: clients send their masked inputs.
    MaskedInput,
    /// R2.5 (malicious-server model): clients sign the survivor set.
    Consistency,
    /// R3: clients send the shares the server needs to unmask the sum.
    Unmask,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AdvertiseKeys => "AdvertiseKeys",
            Self::ShareKeys => "ShareKeys",
            Self::MaskedInput => "MaskedInput",
            Self::Consistency => "Consistency",
            Self::Unmask => "Unmask",
        })
    }
}

/// Why bytes did not decode (spec/wire-format.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the message did.
    Truncated,
    /// Bytes were left after the message ended.
    TrailingBytes,
    /// The version byte is not one this build speaks.
    UnsupportedVersion(u8),
    /// The message-type byte is not the one expected here.
    UnexpectedType(u8),
    /// A count or length exceeds what the parameters allow.
    LengthOutOfBounds,
    /// A field holds a value that is not in canonical form (unsorted or
    /// repeated indices, a scalar not reduced, non-zero padding bits, an
    /// unknown enum tag).
    NonCanonical,
    /// An index outside the roster `1..=n`.
    IndexOutOfRange,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("message truncated"),
            Self::TrailingBytes => f.write_str("trailing bytes after message"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            Self::UnexpectedType(t) => write!(f, "unexpected message type {t:#04x}"),
            Self::LengthOutOfBounds => f.write_str("length or count out of bounds"),
            Self::NonCanonical => f.write_str("non-canonical encoding"),
            Self::IndexOutOfRange => f.write_str("client index out of range"),
        }
    }
}

/// What the server did about the sender of a message it refused: the
/// second half of [`Error::Client`] (spec/protocol.md section 5.4). A
/// framework reads it to know whether the sender is still in the round
/// without knowing the protocol's rules for each fault and phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Nothing was recorded and nothing changed: the message was dropped.
    /// The sender keeps whatever standing it had (still in the round, or
    /// already excluded); it is not added to
    /// [`crate::Aggregate::misbehaved`]. A late message or one from outside
    /// the roster is harmless.
    Ignored,
    /// The sender is recorded in [`crate::Aggregate::misbehaved`] and removed
    /// from the rest of the round: its later messages are refused as
    /// [`ClientFault::NotInPhase`] (with [`Outcome::Ignored`]). Excluded
    /// before its masked input was accepted (R0 to R2), it is not in the sum
    /// and counts as dropped; excluded later (Consistency, Unmask), its
    /// masked input stays in the sum, since removing it would mean unmasking
    /// it alone, but it is no longer a signer or a holder whose shares count.
    Excluded,
    /// The sender is recorded in [`crate::Aggregate::misbehaved`] but stays
    /// in the round: the offending message is discarded, what it sent before
    /// (its first message of the phase, its masked input) stands, and it is
    /// asked and heard in later phases as before.
    Named,
    /// The round is over ([`crate::Server::close_phase`] returned this
    /// error): the sender is named as the reason no [`crate::Aggregate`]
    /// can be produced. Every later call is [`Misuse::RoundOver`].
    Aborted,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ignored => "ignored",
            Self::Excluded => "excluded",
            Self::Named => "named",
            Self::Aborted => "round aborted",
        })
    }
}

/// How a client broke the protocol, as seen by the server. What happened to
/// the client is the [`Outcome`] that comes with it in [`Error::Client`];
/// each variant below says which outcome it has in which phase
/// (spec/protocol.md section 5.4 has the same table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientFault {
    /// Its message did not decode. [`Outcome::Excluded`] in every phase; in
    /// R2 the undecodable message counts as its masked input, so a later
    /// well-formed one is [`ClientFault::NotInPhase`].
    Malformed(DecodeError),
    /// Its message names another session (or, in R0, another round).
    /// [`Outcome::Excluded`] in every phase.
    WrongSession,
    /// Its signature does not verify under its roster key
    /// (malicious-server model): over its keys (R0), its commitments (R1),
    /// the masking set the server delivered (R2) or the survivor set
    /// (Consistency). [`Outcome::Excluded`] in each.
    BadSignature,
    /// It already sent a different message in this phase (a byte-identical
    /// resend is accepted as a no-op). In R0 and R1
    /// [`Outcome::Excluded`]: its first message is withdrawn too. In R2,
    /// Consistency and Unmask [`Outcome::Named`]: the first message stands
    /// (its masked input is already in the sum).
    Duplicate,
    /// Its index is not in the roster `1..=n`. [`Outcome::Ignored`], in
    /// every phase: garbage from outside the roster is never recorded.
    UnknownSender,
    /// It is not expected to speak in this phase: it dropped out earlier, was
    /// excluded, or (malicious model, Unmask) is not a signer.
    /// [`Outcome::Ignored`], in every phase: a late message is harmless.
    NotInPhase,
    /// It advertised a public key of small order (a non-contributory key).
    /// R0 only, [`Outcome::Excluded`].
    WeakKey,
    /// It advertised the same key twice, or a key another client advertised
    /// (or one already burned by such a clash). R0 only,
    /// [`Outcome::Excluded`]; the client whose key it repeated is excluded
    /// too, without an error of its own (the server cannot tell who copied
    /// whom), and is in [`crate::Aggregate::misbehaved`] with this fault.
    DuplicateKey,
    /// Its ciphertexts are not addressed to exactly its neighbours in U1
    /// (R1), or its complaints name a client that is not its neighbour in U2
    /// (R2). [`Outcome::Excluded`] in both.
    WrongRecipients,
    /// A neighbour reported that its shares did not decrypt or did not match
    /// its commitments. Never returned by [`crate::Server::receive`]: the
    /// server records it when R2 closes ([`Outcome::Named`]: the accused
    /// stays in the round, its input in the sum if it sent one, in
    /// [`crate::Aggregate::misbehaved`]). When the accused is left with
    /// fewer than t holders, [`crate::Server::close_phase`] returns it with
    /// [`Outcome::Aborted`].
    Undecryptable {
        /// The neighbour that could not decrypt.
        reported_by: ClientIndex,
    },
    /// Its unmask answer does not match the request (wrong owners or kinds).
    /// Unmask only, [`Outcome::Excluded`]: the answer is discarded, its
    /// input stays in the sum.
    WrongAnswer,
    /// A share it returned does not match its dealer's Feldman commitments.
    /// Never returned as an error: the server finds it when the last phase
    /// closes and records it in [`crate::Aggregate::misbehaved`]
    /// ([`Outcome::Named`]): the share is discarded, the holder's own input
    /// stays in the sum.
    BadShare {
        /// Whose secret the bad share was of.
        owner: ClientIndex,
    },
    /// Its secret, reconstructed from shares that agree with one another,
    /// does not match what it published: its seed commitment (R1) when it
    /// survived, its mask public key (R0) when it dropped out. It dealt
    /// shares of another secret than the one it masked with, so its mask
    /// cannot be removed and the round ends with this error. The server
    /// names it only when at least `2t - 1` shares agree, so that framing it
    /// would take `t` lying holders (spec/threat-model.md); with fewer, the
    /// round ends with [`Error::NotEnoughSurvivors`] in Unmask instead.
    /// Returned by the last [`crate::Server::close_phase`] only, with
    /// [`Outcome::Aborted`].
    SecretMismatch,
}

impl fmt::Display for ClientFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed message: {e}"),
            Self::WrongSession => f.write_str("message for another session"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::Duplicate => f.write_str("duplicate message in this phase"),
            Self::UnknownSender => f.write_str("sender not in roster"),
            Self::NotInPhase => f.write_str("sender not expected in this phase"),
            Self::WeakKey => f.write_str("public key of small order"),
            Self::DuplicateKey => f.write_str("public key already advertised by another client"),
            Self::WrongRecipients => {
                f.write_str("ciphertexts not addressed to exactly its neighbours")
            }
            Self::Undecryptable { reported_by } => {
                write!(f, "shares failed to decrypt at client {reported_by}")
            }
            Self::WrongAnswer => f.write_str("unmask answer does not match the request"),
            Self::BadShare { owner } => {
                write!(f, "returned a bad share of client {owner}'s secret")
            }
            Self::SecretMismatch => {
                f.write_str("its shares give a secret that does not match what it published")
            }
        }
    }
}

/// How a server message broke the protocol, as seen by a client. The client
/// refuses it and reveals nothing more. What happens to the client's state
/// (spec/protocol.md section 4): a message that does not decode
/// ([`ServerFault::Malformed`]) leaves it usable, the real message can
/// follow; a decoded message that is refused spends it (the client has
/// dropped out, a later call is [`Misuse::RoundOver`]), except on
/// [`crate::AwaitingUnmask::consistency`], where a refusal leaves the state
/// usable (the client signed nothing, so a retry cannot make it sign two
/// sets), and except that a client that already answered an unmask request
/// keeps answering that request alone. Each variant names the calls that
/// return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerFault {
    /// The message did not decode. Every call; the state stays usable.
    Malformed(DecodeError),
    /// The message names another session. On
    /// [`crate::AwaitingShares::receive`] and
    /// [`crate::AwaitingUnmask::receive`] the state is spent; on
    /// [`crate::AwaitingUnmask::consistency`] it stays usable.
    WrongSession,
    /// The key broadcast does not hold this client's own keys
    /// ([`crate::AwaitingKeys::receive`]; the state is spent).
    MissingOwnKeys,
    /// The key broadcast holds the same public key twice
    /// ([`crate::AwaitingKeys::receive`]; the state is spent).
    DuplicateKeys,
    /// A public key of small order (non-contributory)
    /// ([`crate::AwaitingKeys::receive`]; the state is spent).
    WeakKey {
        /// Whose key.
        peer: ClientIndex,
    },
    /// The message names a peer that is not a neighbour, or one this client
    /// never saw in an earlier phase. The state is spent, except on
    /// [`crate::AwaitingUnmask::consistency`], where it stays usable.
    UnexpectedPeer {
        /// The peer.
        peer: ClientIndex,
    },
    /// Fewer neighbours (counting this client) than the threshold. The state
    /// is spent, except on [`crate::AwaitingUnmask::consistency`], where it
    /// stays usable.
    NotEnoughNeighbours {
        /// How many were named.
        named: usize,
        /// The threshold.
        threshold: usize,
    },
    /// The unmask request lists a peer both as survivor and as dropped
    /// ([`crate::AwaitingUnmask::receive`]; the state is spent).
    SurvivorAndDropped {
        /// The peer.
        peer: ClientIndex,
    },
    /// The unmask request, or the consistency request, does not list this
    /// client among the survivors. The state is spent on
    /// [`crate::AwaitingUnmask::receive`], stays usable on
    /// [`crate::AwaitingUnmask::consistency`].
    SelfNotSurvivor,
    /// The unmask request leaves out a peer this client masked with
    /// ([`crate::AwaitingUnmask::receive`]; the state is spent).
    IncompleteRequest {
        /// The peer left out.
        peer: ClientIndex,
    },
    /// A signature the server forwarded does not verify under the signer's
    /// roster key (malicious-server model): a substituted key, a forged or
    /// replayed message. Returned by [`crate::AwaitingKeys::receive`],
    /// [`crate::AwaitingShares::receive`] and
    /// [`crate::AwaitingUnmask::receive`] (the evidence); the state is spent.
    BadSignature {
        /// The client whose signature it claims to be.
        peer: ClientIndex,
    },
    /// The unmask request does not carry enough consistency signatures on
    /// the survivor set from the neighbourhood of `peer`, or lacks `peer`'s
    /// signed masking set, or that set is inconsistent with the survivor
    /// set (malicious-server model, spec/protocol.md section 4.5).
    /// [`crate::AwaitingUnmask::receive`]; the state is spent.
    NotCertified {
        /// The client whose status the server could not certify.
        peer: ClientIndex,
    },
    /// A second survivor set, different from the one this client signed, or
    /// an unmask request before the survivor set was signed
    /// (malicious-server model), or a second, different unmask request. On
    /// [`crate::AwaitingUnmask::consistency`] the state stays usable (it
    /// still answers the set it signed); on
    /// [`crate::AwaitingUnmask::receive`] after an answer, the client still
    /// answers only the request it answered, byte-identical; before any
    /// answer (unsigned set, or a request that is not the signed set seen
    /// from this client) the state is spent.
    SurvivorSetChanged,
}

impl fmt::Display for ServerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed server message: {e}"),
            Self::WrongSession => f.write_str("server message for another session"),
            Self::MissingOwnKeys => f.write_str("key broadcast lacks this client's keys"),
            Self::DuplicateKeys => f.write_str("key broadcast repeats a public key"),
            Self::WeakKey { peer } => write!(f, "client {peer} has a small-order public key"),
            Self::UnexpectedPeer { peer } => write!(f, "unexpected peer {peer}"),
            Self::NotEnoughNeighbours { named, threshold } => {
                write!(f, "{named} neighbours named, threshold is {threshold}")
            }
            Self::SurvivorAndDropped { peer } => {
                write!(f, "peer {peer} listed both as survivor and as dropped")
            }
            Self::SelfNotSurvivor => f.write_str("unmask request does not list this client"),
            Self::IncompleteRequest { peer } => write!(f, "unmask request leaves out peer {peer}"),
            Self::BadSignature { peer } => write!(f, "signature of client {peer} does not verify"),
            Self::NotCertified { peer } => {
                write!(f, "survivor set not certified around client {peer}")
            }
            Self::SurvivorSetChanged => {
                f.write_str("survivor set differs from the one signed, or was never signed")
            }
        }
    }
}

/// Parameters that would make a round unsafe or unable to finish
/// (spec/params.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParamsError {
    /// `n` is outside `2..=MAX_CLIENTS`.
    ClientCount,
    /// `t` is outside `2..=k + 1` (a threshold of one lets any single
    /// neighbour reconstruct a client's secrets), or above k in the
    /// malicious-server model (a survivor set is certified by t of a
    /// client's k neighbours).
    Threshold,
    /// `b` is outside `1..=64`.
    Bits,
    /// The vector length exceeds `MAX_DIM`.
    Dimension,
    /// A Harary degree that is odd, below 2 or not below `n`.
    Degree,
    /// A fraction outside `[0, 1)` or not a number.
    Fraction,
    /// No threshold exceeds the corrupt clients while staying reachable by
    /// the survivors.
    NoSafeThreshold,
    /// Malicious-server model: the threshold does not make an accepted
    /// survivor set unique (`2t > n + c` on the complete graph, `2t - k > c`
    /// on a Harary graph, `c` the corrupt bound; spec/params.md section 4.7.2).
    NotUnique,
    /// The parameters do not meet the client's own policy
    /// ([`crate::Policy`]).
    Policy,
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientCount => "client count out of range",
            Self::Threshold => {
                "threshold must be at least 2 and at most k + 1 (at most k in the malicious-server model)"
            }
            Self::Bits => "modulus bits must be in 1..=64",
            Self::Dimension => "vector length too large",
            Self::Degree => "Harary degree must be even, at least 2 and below n",
            Self::Fraction => "fraction must be in [0, 1)",
            Self::NoSafeThreshold => "no threshold is both above the corrupt count and reachable",
            Self::NotUnique => {
                "threshold too low for a unique survivor set against a malicious server"
            }
            Self::Policy => "parameters below the client's policy",
        })
    }
}

/// A call the API does not allow in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Misuse {
    /// The input vector's length is not the parameters' `m`.
    InputLength,
    /// An input element is not below `2^b`.
    InputRange,
    /// The client index is outside `1..=n`.
    ClientIndex,
    /// The round is already finished (or aborted).
    RoundOver,
    /// A roster key is not a valid Ed25519 key, is of small order or
    /// repeats, or the roster's size is not n.
    Roster,
    /// The malicious-server model needs this client's identity and the
    /// roster; the semi-honest model takes neither.
    Identity,
    /// A ShareDelivery arrived before the input was set
    /// ([`crate::Client::set_input`]).
    InputMissing,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InputLength => "input length differs from the parameters' dimension",
            Self::InputRange => "input element not below 2^b",
            Self::ClientIndex => "client index outside 1..=n",
            Self::RoundOver => "the round is over",
            Self::Roster => "roster key invalid or repeated, or roster size is not n",
            Self::Identity => {
                "identity and roster are required exactly in the malicious-server model"
            }
            Self::InputMissing => "the input was not set before the ShareDelivery",
        })
    }
}

/// The crate's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Bytes did not decode (for standalone decoding; inside a round the
    /// fault is attributed with [`Error::Client`] or [`Error::Server`]).
    Decode(DecodeError),
    /// A client broke the protocol, or sent a message the server does not
    /// take from it now; `outcome` says what the server did about it.
    Client {
        /// The client at fault.
        index: ClientIndex,
        /// What it did.
        fault: ClientFault,
        /// What happened to it: ignored, excluded, named, or the round
        /// aborted (see each [`ClientFault`] variant for which, where).
        outcome: Outcome,
    },
    /// A server message broke the protocol; the client refused it.
    Server(ServerFault),
    /// A phase closed, or a secret had to be reconstructed, with fewer than
    /// `threshold` participants: the round aborts.
    NotEnoughSurvivors {
        /// The phase that could not finish.
        phase: Phase,
        /// How many took part (in the smallest neighbourhood that fell short).
        survivors: usize,
        /// How many were needed.
        threshold: usize,
    },
    /// The parameters are invalid.
    Params(ParamsError),
    /// The API was called wrongly.
    Misuse(Misuse),
    /// A differential-privacy configuration, input or release failed
    /// (spec/dp.md).
    Dp(crate::dp::DpError),
    /// An exported state was refused on import (spec/state.md).
    State(crate::protocol::state::StateError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "decode error: {e}"),
            Self::Client {
                index,
                fault,
                outcome,
            } => write!(f, "client {index}: {fault} ({outcome})"),
            Self::Server(e) => write!(f, "server: {e}"),
            Self::NotEnoughSurvivors {
                phase,
                survivors,
                threshold,
            } => write!(
                f,
                "not enough survivors in {phase}: {survivors} < threshold {threshold}"
            ),
            Self::Params(e) => write!(f, "invalid parameters: {e}"),
            Self::Misuse(e) => write!(f, "API misuse: {e}"),
            Self::Dp(e) => write!(f, "differential privacy: {e}"),
            Self::State(e) => write!(f, "state: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<ParamsError> for Error {
    fn from(e: ParamsError) -> Self {
        Self::Params(e)
    }
}

impl From<crate::dp::DpError> for Error {
    fn from(e: crate::dp::DpError) -> Self {
        Self::Dp(e)
    }
}

impl From<Misuse> for Error {
    fn from(e: Misuse) -> Self {
        Self::Misuse(e)
    }
}
