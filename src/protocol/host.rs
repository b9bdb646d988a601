//! One client type for hosts that drive a round message by message:
//! [`Client`] holds whichever typed state (spec/protocol.md section 4) the
//! round is in, and can be sealed for storage between messages
//! (spec/state.md).
//!
//! A whole round with [`Client`] and [`Server`](crate::Server):
//!
//! ```
//! use secagg::{Client, ClientPhase, Graph, Params, Server, Step};
//! # use rand_core::SeedableRng;
//! # let mut rng = chacha20::ChaCha20Rng::seed_from_u64(7);
//! let params = Params::new(3, 2, 16, 4, Graph::Complete)?;
//! let round = [1u8; 32];
//! let mut server = Server::new(&params, round, &mut rng)?;
//! let mut clients = Vec::new();
//! for i in 1..=3u32 {
//!     let (mut client, advertise) = Client::new(&params, round, i, &mut rng)?;
//!     client.set_input(&[u64::from(i); 4])?;
//!     server.receive(i, &advertise)?;
//!     clients.push(client);
//! }
//! let aggregate = loop {
//!     match server.close_phase()? {
//!         Step::Done(aggregate) => break aggregate,
//!         Step::Deliver(messages) => {
//!             for (i, bytes) in messages {
//!                 let reply = clients[i as usize - 1].receive(&bytes, &mut rng)?;
//!                 server.receive(i, &reply)?;
//!             }
//!         }
//!         _ => unreachable!(),
//!     }
//! };
//! assert_eq!(aggregate.sum, vec![1 + 2 + 3; 4]);
//! assert!(clients.iter().all(|c| c.phase() == ClientPhase::Done));
//! # Ok::<(), secagg::Error>(())
//! ```

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::identity::{Identity, Roster};
use crate::error::{ClientIndex, Error, Misuse};
use crate::params::{Params, RoundId};
use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask, Common};
use crate::protocol::messages::kind;
use crate::protocol::state::{self, StateKey};
use crate::vector;

/// What a [`Client`] waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientPhase {
    /// The server's KeyBroadcast (R0 close).
    KeyBroadcast,
    /// The server's ShareDelivery (R1 close); the input must be set by then
    /// ([`Client::set_input`]).
    ShareDelivery,
    /// Malicious model: the server's ConsistencyRequest (R2 close).
    ConsistencyRequest,
    /// The server's UnmaskRequest (R2 close, or the consistency round's in
    /// the malicious model). A byte-identical ConsistencyRequest is still
    /// answered as before.
    UnmaskRequest,
    /// The UnmaskRequest is answered: the client's part of the round is
    /// done (a byte-identical request is answered again).
    Done,
    /// The client refused a server message and left the round.
    Over,
}

/// Which typed state a [`Client`] is in.
pub(super) enum Stage {
    Keys(AwaitingKeys),
    Shares(AwaitingShares),
    Unmask(Box<AwaitingUnmask>),
    Over,
}

/// A client of one round, whatever message it awaits: the typed states
/// [`AwaitingKeys`], [`AwaitingShares`] and [`AwaitingUnmask`] behind one
/// [`Client::receive`].
///
/// What happens on an error is what the typed state does: server bytes that
/// do not decode, or a caller's mistake ([`Error::Misuse`]), leave the
/// client as it was, and so does a refused consistency request and, once
/// the unmask request is answered ([`ClientPhase::Done`]), any other
/// request ([`AwaitingUnmask::consistency`], [`AwaitingUnmask::receive`]);
/// any other decoded server message that it refuses ends its round
/// ([`ClientPhase::Over`]), having revealed nothing beyond its earlier
/// messages. A byte-identical repeat of the consistency or unmask request
/// already answered gets the same answer.
///
/// Its input is zeroized on drop, as are its keys and shares; its `Debug`
/// shows only its index and phase.
pub struct Client {
    pub(super) common: Common,
    pub(super) stage: Stage,
    pub(super) input: Option<Zeroizing<Vec<u64>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("index", &self.common.index)
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl Client {
    fn wrap((state, msg): (AwaitingKeys, Vec<u8>)) -> (Self, Vec<u8>) {
        let client = Self {
            common: state.common.clone(),
            stage: Stage::Keys(state),
            input: None,
        };
        (client, msg)
    }

    /// Starts round `round` as client `index` under semi-honest
    /// parameters; returns the client and its AdvertiseKeys bytes
    /// ([`AwaitingKeys::new`]). Cost: two X25519 key pairs, constant.
    ///
    /// # Errors
    /// As [`AwaitingKeys::new`].
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        index: ClientIndex,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        AwaitingKeys::new(params, round, index, rng).map(Self::wrap)
    }

    /// [`Client::new`] for the malicious-server model
    /// ([`AwaitingKeys::with_identity`]). Cost: two X25519 key pairs and
    /// one Ed25519 signature, constant.
    ///
    /// # Errors
    /// As [`AwaitingKeys::with_identity`].
    pub fn with_identity<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        index: ClientIndex,
        identity: &Identity,
        roster: &Roster,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        AwaitingKeys::with_identity(params, round, index, identity, roster, rng).map(Self::wrap)
    }

    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.common.index
    }

    /// The parameters of the round.
    pub fn params(&self) -> &Params {
        &self.common.params
    }

    /// The round id.
    pub fn round(&self) -> &RoundId {
        &self.common.round
    }

    /// What the client waits for.
    pub fn phase(&self) -> ClientPhase {
        match &self.stage {
            Stage::Keys(s) if s.inner.is_some() => ClientPhase::KeyBroadcast,
            Stage::Shares(s) if s.inner.is_some() => ClientPhase::ShareDelivery,
            Stage::Unmask(u) if u.answered.is_some() => ClientPhase::Done,
            Stage::Unmask(u) if u.own_shares.is_some() => {
                if self.common.creds.is_some() && u.signed.is_none() {
                    ClientPhase::ConsistencyRequest
                } else {
                    ClientPhase::UnmaskRequest
                }
            }
            _ => ClientPhase::Over,
        }
    }

    /// Sets the input vector (m elements below `2^b`), which the
    /// ShareDelivery masks; it may be set, or replaced, any time before the
    /// ShareDelivery arrives. The client keeps it in a buffer zeroized on
    /// drop and wipes it once the masked input is sent or the round is
    /// over for it ([`ClientPhase::Over`]).
    ///
    /// # Errors
    /// [`Misuse::InputLength`] or [`Misuse::InputRange`] for an input of
    /// the wrong length or range, [`Misuse::RoundOver`] once the masked
    /// input was sent (or the round ended): nothing is changed.
    pub fn set_input(&mut self, input: &[u64]) -> Result<(), Error> {
        if !matches!(
            self.phase(),
            ClientPhase::KeyBroadcast | ClientPhase::ShareDelivery
        ) {
            return Err(Misuse::RoundOver.into());
        }
        let params = &self.common.params;
        if input.len() != params.dim_usize() {
            return Err(Misuse::InputLength.into());
        }
        let top = vector::mask(params.bits());
        if input.iter().any(|&x| x & !top != 0) {
            return Err(Misuse::InputRange.into());
        }
        let mut v = Zeroizing::new(Vec::with_capacity(input.len()));
        v.extend_from_slice(input);
        self.input = Some(v);
        Ok(())
    }

    /// [`Client::set_input`] then [`Client::receive`] of the ShareDelivery
    /// as one step (the C ABI's `secagg_client_receive_shares`): when either
    /// refuses, the client keeps the input it had before, so a refused call
    /// leaves its state (and its export) as it was (spec/ffi.md section 8).
    #[cfg(feature = "ffi")]
    pub(crate) fn receive_with_input<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        input: &[u64],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let before = self.input.take();
        let r = self
            .set_input(input)
            .and_then(|()| self.receive(bytes, rng));
        if r.is_err() && self.phase() == ClientPhase::ShareDelivery {
            self.input = before;
        }
        r
    }

    /// Handles the server message the client awaits ([`Client::phase`]) and
    /// returns its answer: ShareKeys for the KeyBroadcast, MaskedInput for
    /// the ShareDelivery, ConsistencyResponse for the ConsistencyRequest
    /// (malicious model), UnmaskResponse for the UnmaskRequest. `rng` is
    /// drawn from only for the KeyBroadcast (the sharing polynomials).
    ///
    /// Implements spec/protocol.md sections 4.2 to 4.5 (client side), by
    /// the typed states.
    ///
    /// Cost: that of the typed state's method for the phase. The
    /// ShareDelivery is the heaviest (the mask PRG over `(k + 1) m` lanes,
    /// milliseconds at m = 10^5) and the KeyBroadcast next (one X25519
    /// agreement and one Shamir evaluation pair per neighbour); in an
    /// async host, call it on a blocking pool.
    ///
    /// # Errors
    /// The errors of [`AwaitingKeys::receive`], [`AwaitingShares::receive`],
    /// [`AwaitingUnmask::consistency`] and [`AwaitingUnmask::receive`];
    /// [`Misuse::InputMissing`] for a ShareDelivery before the input was
    /// set, and [`Misuse::RoundOver`] once the round is over for this
    /// client ([`ClientPhase::Over`]), whatever the bytes: bytes that do
    /// not decode are `RoundOver` too, where a spent typed state answers
    /// them `Malformed`.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let out = self.step(bytes, rng);
        // A client whose round is over keeps no secret: an input set for a
        // ShareDelivery it refused, or never got to, goes too (spec/state.md
        // section 4).
        if self.phase() == ClientPhase::Over {
            self.input = None;
        }
        out
    }

    /// [`Client::receive`] in the typed state of the phase.
    fn step<R: CryptoRng + ?Sized>(&mut self, bytes: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
        // A client whose round is over answers nothing, whatever the bytes:
        // live or imported, in every stage (spec/protocol.md section 4).
        if self.phase() == ClientPhase::Over {
            return Err(Misuse::RoundOver.into());
        }
        match &mut self.stage {
            Stage::Keys(s) => {
                let (next, out) = s.receive(bytes, rng)?;
                self.stage = Stage::Shares(next);
                Ok(out)
            }
            Stage::Shares(s) => {
                let input = self.input.as_ref().ok_or(Misuse::InputMissing)?;
                let (next, out) = s.receive(bytes, input)?;
                self.stage = Stage::Unmask(Box::new(next));
                self.input = None;
                Ok(out)
            }
            Stage::Unmask(u) => {
                if self.common.creds.is_some() && bytes.get(1) == Some(&kind::CONSISTENCY_REQUEST) {
                    u.consistency(bytes)
                } else {
                    u.receive(bytes)
                }
            }
            Stage::Over => Err(Misuse::RoundOver.into()),
        }
    }

    /// Seals this client's state under `key` for the host's store, with a
    /// nonce drawn from `rng` (spec/state.md). The export holds the
    /// client's secret keys, its shares and its input (if set), and is
    /// bound to its round, its role and its phase. Cost: O(state size),
    /// one ChaCha20-Poly1305 pass (the input dominates once set: 8 m bytes).
    ///
    /// # Security
    /// A host must answer from at most one copy of a state: never restore
    /// an older export once a newer one (or the live client) has answered
    /// a message (spec/state.md section 6).
    ///
    /// # Examples
    /// ```
    /// use secagg::{Client, ClientPhase, Graph, Params, StateKey};
    /// # use rand_core::SeedableRng;
    /// # let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    /// let params = Params::new(3, 2, 16, 4, Graph::Complete)?;
    /// let round = [7u8; 32];
    /// let (client, _advertise) = Client::new(&params, round, 1, &mut rng)?;
    /// let key = StateKey::generate(&mut rng);
    /// let sealed = client.export(&key, &mut rng);
    /// let again = Client::import(&sealed, &key, &round, ClientPhase::KeyBroadcast)?;
    /// assert_eq!(again.index(), 1);
    /// // Asked for another phase, the same bytes are refused.
    /// assert!(Client::import(&sealed, &key, &round, ClientPhase::ShareDelivery).is_err());
    /// # Ok::<(), secagg::Error>(())
    /// ```
    pub fn export<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
        state::export_client(self, key, rng)
    }

    /// Opens a state sealed by [`Client::export`]: it must be a client's,
    /// of round `round`, in phase `phase` (the phase the host recorded with
    /// it), sealed under `key`. Cost: one ChaCha20-Poly1305 pass over the
    /// bytes, then a decode linear in them.
    ///
    /// # Errors
    /// [`Error::State`]: [`state::StateError::Round`],
    /// [`state::StateError::Phase`] or [`state::StateError::Role`] for an
    /// export of another round, phase or role;
    /// [`state::StateError::Version`] for an unknown format or protocol
    /// version; [`state::StateError::Authentication`] under another key or
    /// for altered or truncated bytes; [`state::StateError::Malformed`] for
    /// bytes that are not an export at all.
    pub fn import(
        bytes: &[u8],
        key: &StateKey,
        round: &RoundId,
        phase: ClientPhase,
    ) -> Result<Self, Error> {
        state::import_client(bytes, key, round, phase).map_err(Error::State)
    }
}
