//! The client side of a round: one state per message awaited, each consumed
//! to produce the next state and the bytes to send (spec/protocol.md
//! section 4).
//!
//! ```text
//! AwaitingKeys::new            -> AdvertiseKeys bytes
//! AwaitingKeys::receive        (KeyBroadcast)  -> AwaitingShares, ShareKeys bytes
//! AwaitingShares::receive      (ShareDelivery) -> AwaitingUnmask, MaskedInput bytes
//! AwaitingUnmask::receive      (UnmaskRequest) -> UnmaskResponse bytes
//! ```
//!
//! A client whose server message is refused (an [`Error::Server`]) simply
//! stops: it is a dropout as far as the round is concerned, and it has
//! revealed nothing beyond what the earlier phases sent.

use core::fmt;
use std::collections::BTreeMap;

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::codec::{Decode, Encode};
use crate::crypto::aead::{self, PLAINTEXT_LEN};
use crate::crypto::kx::{self, PublicKeyBytes};
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::secret::SecretScalar;
use crate::crypto::shamir::{self, random_scalar};
use crate::error::{ClientIndex, Error, Misuse, ServerFault};
use crate::graph::Topology;
use crate::params::Params;
use crate::protocol::messages::{
    AdvertiseKeys, KeyBroadcast, MaskedInput, SessionId, ShareDelivery, ShareEntry, ShareKeys,
    ShareKind, UnmaskRequest, UnmaskResponse,
};
use crate::vector;

fn server_err(e: crate::error::DecodeError) -> Error {
    Error::Server(ServerFault::Malformed(e))
}

/// A client that has advertised its keys and awaits the server's
/// [`KeyBroadcast`].
pub struct AwaitingKeys {
    params: Params,
    index: ClientIndex,
    c_sk: StaticSecret,
    c_pk: PublicKeyBytes,
    mask_key: SecretScalar,
    s_sk: StaticSecret,
    s_pk: PublicKeyBytes,
}

impl fmt::Debug for AwaitingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingKeys")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl AwaitingKeys {
    /// Starts a round as client `index` (in `1..=n`): draws the two key pairs
    /// from `rng` and returns the state and the [`AdvertiseKeys`] bytes.
    ///
    /// Implements spec/protocol.md section 4.1 (AdvertiseKeys, client side).
    ///
    /// # Errors
    /// [`Error::Misuse`] if `index` is outside `1..=n`.
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        index: ClientIndex,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        if index == 0 || index > params.clients() {
            return Err(Misuse::ClientIndex.into());
        }
        let mut c_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(c_bytes.as_mut());
        let c_sk = StaticSecret::from(*c_bytes);
        let mask_key = SecretScalar(random_scalar(rng));
        let s_sk = kx::mask_secret(&mask_key.0);
        let state = Self {
            params: params.clone(),
            index,
            c_pk: kx::public_key(&c_sk),
            s_pk: kx::public_key(&s_sk),
            c_sk,
            mask_key,
            s_sk,
        };
        let msg = AdvertiseKeys {
            c_pk: state.c_pk,
            s_pk: state.s_pk,
        };
        Ok((state, msg.to_bytes()))
    }

    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.index
    }

    /// Handles the [`KeyBroadcast`]: checks it, Shamir-shares the mask key and
    /// a fresh self-mask seed among the neighbours named (and itself), and
    /// returns the [`ShareKeys`] bytes.
    ///
    /// Implements spec/protocol.md section 4.2 (ShareKeys, client side).
    ///
    /// # Errors
    /// [`Error::Server`] when the broadcast does not decode, lacks this
    /// client's own keys, repeats a key, names a non-neighbour or a
    /// small-order key, or names fewer than t clients (this one included).
    pub fn receive<R: CryptoRng + ?Sized>(
        self,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<(AwaitingShares, Vec<u8>), Error> {
        let msg = KeyBroadcast::decode(&self.params, bytes).map_err(server_err)?;
        let topo = Topology::new(&self.params);
        let mut own = false;
        let mut seen = std::collections::HashSet::with_capacity(msg.keys.len() * 2);
        for k in &msg.keys {
            if !seen.insert(k.c_pk) || !seen.insert(k.s_pk) {
                return Err(Error::Server(ServerFault::DuplicateKeys));
            }
            if k.index == self.index {
                if k.c_pk != self.c_pk || k.s_pk != self.s_pk {
                    return Err(Error::Server(ServerFault::MissingOwnKeys));
                }
                own = true;
            } else if !topo.adjacent(self.index, k.index) {
                return Err(Error::Server(ServerFault::UnexpectedPeer { peer: k.index }));
            } else if kx::is_weak_public_key(&k.c_pk) || kx::is_weak_public_key(&k.s_pk) {
                return Err(Error::Server(ServerFault::WeakKey { peer: k.index }));
            }
        }
        if !own {
            return Err(Error::Server(ServerFault::MissingOwnKeys));
        }
        let t = self.params.threshold_usize();
        if msg.keys.len() < t {
            return Err(Error::Server(ServerFault::NotEnoughNeighbours {
                named: msg.keys.len(),
                threshold: t,
            }));
        }

        let session = msg.session;
        let seed = SecretScalar(random_scalar(rng));
        let holders: Vec<ClientIndex> = msg.keys.iter().map(|k| k.index).collect();
        let shares_of = |secret: &Scalar, rng: &mut R| {
            shamir::split(secret, t, &holders, rng).map_err(|_| {
                Error::Server(ServerFault::NotEnoughNeighbours {
                    named: holders.len(),
                    threshold: t,
                })
            })
        };
        let key_shares = shares_of(&self.mask_key.0, rng)?;
        let seed_shares = shares_of(&seed.0, rng)?;

        let mut ciphertexts = Vec::with_capacity(holders.len().saturating_sub(1));
        let mut peers = BTreeMap::new();
        let mut own_shares = None;
        for ((k, ks), ss) in msg.keys.iter().zip(&key_shares).zip(&seed_shares) {
            if k.index == self.index {
                own_shares = Some(HeldShares {
                    mask_key: SecretScalar(ks.y),
                    seed: SecretScalar(ss.y),
                });
                continue;
            }
            let weak = Error::Server(ServerFault::WeakKey { peer: k.index });
            let shared = kx::agree(&self.c_sk, &k.c_pk).ok_or(weak)?;
            let key = kx::share_key(&shared, &session, self.index, k.index);
            // Everything R2 needs from this peer's keys is derived now, while
            // the client waits for the server: the R2 critical path is then
            // the mask PRG alone, and the secret keys are dropped here.
            let mask_shared = kx::agree(&self.s_sk, &k.s_pk).ok_or(weak)?;
            let sign = if self.index < k.index {
                Sign::Plus
            } else {
                Sign::Minus
            };
            peers.insert(
                k.index,
                PeerKeys {
                    open: kx::share_key(&shared, &session, k.index, self.index),
                    mask: (
                        kx::pair_mask_key(&mask_shared, &session, self.index, k.index),
                        sign,
                    ),
                },
            );
            let mut pt = Zeroizing::new([0u8; PLAINTEXT_LEN]);
            pt[..32].copy_from_slice(ks.y.as_bytes());
            pt[32..].copy_from_slice(ss.y.as_bytes());
            ciphertexts.push((
                k.index,
                aead::seal(&key, &session, self.index, k.index, &pt),
            ));
        }
        let own_shares = own_shares.ok_or(Error::Server(ServerFault::MissingOwnKeys))?;
        let out = ShareKeys {
            session,
            seed_commitment: kx::seed_commitment(&seed.0, &session, self.index),
            ciphertexts,
        };
        let next = AwaitingShares {
            params: self.params,
            index: self.index,
            session,
            seed,
            own_shares,
            peers,
        };
        Ok((next, out.to_bytes()))
    }
}

/// The two shares a client holds of one peer's secrets.
#[derive(Debug)]
struct HeldShares {
    mask_key: SecretScalar,
    seed: SecretScalar,
}

/// A client that has sent its shares and awaits the server's
/// [`ShareDelivery`] (and its own input).
pub struct AwaitingShares {
    params: Params,
    index: ClientIndex,
    session: SessionId,
    seed: SecretScalar,
    own_shares: HeldShares,
    /// Neighbours in U1 and the keys derived with each.
    peers: BTreeMap<ClientIndex, PeerKeys>,
}

/// What a client derives in R1 from one neighbour's advertised keys
/// (spec/crypto.md sections 3 and 4).
struct PeerKeys {
    /// The share-encryption key from the neighbour to this client.
    open: Zeroizing<[u8; 32]>,
    /// The pairwise mask key and the sign this client adds it with.
    mask: (PrgKey, Sign),
}

impl fmt::Debug for AwaitingShares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingShares")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl AwaitingShares {
    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.index
    }

    /// Handles the [`ShareDelivery`]: decrypts the neighbours' shares and
    /// returns the [`MaskedInput`] bytes for `input` (m elements below `2^b`).
    /// A ciphertext that fails to decrypt is reported in the message's
    /// complaints; its sender is still masked with, since it masks with us.
    ///
    /// Implements spec/protocol.md section 4.3 (MaskedInput, client side).
    ///
    /// # Errors
    /// [`Error::Misuse`] for an input of the wrong length or range;
    /// [`Error::Server`] when the delivery does not decode, names another
    /// session or a peer that was not a neighbour in U1, or leaves fewer than
    /// t clients (this one included).
    pub fn receive(self, bytes: &[u8], input: &[u64]) -> Result<(AwaitingUnmask, Vec<u8>), Error> {
        let bits = self.params.bits();
        if input.len() != self.params.dim_usize() {
            return Err(Misuse::InputLength.into());
        }
        let top = vector::mask(bits);
        if input.iter().any(|&x| x & !top != 0) {
            return Err(Misuse::InputRange.into());
        }
        let msg = ShareDelivery::decode(&self.params, bytes).map_err(server_err)?;
        if msg.session != self.session {
            return Err(Error::Server(ServerFault::WrongSession));
        }
        for (sender, _) in &msg.ciphertexts {
            if !self.peers.contains_key(sender) {
                return Err(Error::Server(ServerFault::UnexpectedPeer { peer: *sender }));
            }
        }
        let t = self.params.threshold_usize();
        if msg.ciphertexts.len() + 1 < t {
            return Err(Error::Server(ServerFault::NotEnoughNeighbours {
                named: msg.ciphertexts.len() + 1,
                threshold: t,
            }));
        }

        let mut held = BTreeMap::new();
        let mut complaints = Vec::new();
        let mut masks = Vec::with_capacity(msg.ciphertexts.len() + 1);
        masks.push((
            kx::self_mask_key(&self.seed.0, &self.session, self.index),
            Sign::Plus,
        ));
        for (sender, ct) in &msg.ciphertexts {
            // Checked above: every sender is a neighbour in U1.
            let Some(peer) = self.peers.get(sender) else {
                continue;
            };
            match open_shares(&peer.open, &self.session, *sender, self.index, ct) {
                Some(h) => {
                    held.insert(*sender, h);
                }
                None => complaints.push(*sender),
            }
            masks.push(peer.mask.clone());
        }
        let mut masked = input.to_vec();
        prg::apply_many(&masks, bits, &mut masked);
        vector::reduce(&mut masked, bits);
        let out = MaskedInput {
            session: self.session,
            complaints,
            bits,
            masked,
        };
        let next = AwaitingUnmask {
            t,
            index: self.index,
            session: self.session,
            own_shares: self.own_shares,
            view: msg.ciphertexts.iter().map(|(s, _)| *s).collect(),
            held,
            params: self.params,
        };
        Ok((next, out.to_bytes()))
    }
}

/// Decrypts one neighbour's shares; `None` if anything fails.
fn open_shares(
    key: &[u8; 32],
    session: &SessionId,
    sender: ClientIndex,
    receiver: ClientIndex,
    ct: &[u8; aead::CIPHERTEXT_LEN],
) -> Option<HeldShares> {
    let pt = aead::open(key, session, sender, receiver, ct)?;
    let scalar = |b: &[u8]| -> Option<Scalar> {
        let mut a = Zeroizing::new([0u8; 32]);
        a.copy_from_slice(b);
        Option::from(Scalar::from_canonical_bytes(*a))
    };
    Some(HeldShares {
        mask_key: SecretScalar(scalar(&pt[..32])?),
        seed: SecretScalar(scalar(&pt[32..])?),
    })
}

/// A client that has sent its masked input and awaits the server's
/// [`UnmaskRequest`].
pub struct AwaitingUnmask {
    params: Params,
    t: usize,
    index: ClientIndex,
    session: SessionId,
    own_shares: HeldShares,
    /// U2 within the neighbourhood: the senders of the delivered ciphertexts.
    view: std::collections::BTreeSet<ClientIndex>,
    /// The shares that decrypted.
    held: BTreeMap<ClientIndex, HeldShares>,
}

impl fmt::Debug for AwaitingUnmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingUnmask")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl AwaitingUnmask {
    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.index
    }

    /// The parameters of the round.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Handles the [`UnmaskRequest`] and returns the [`UnmaskResponse`]
    /// bytes: for each survivor its self-mask-seed share, for each dropped
    /// peer its mask-key share, never both for one peer. Consuming the state
    /// makes a second answer impossible.
    ///
    /// Implements spec/protocol.md section 4.4 (Unmask, client side).
    ///
    /// # Errors
    /// [`Error::Server`] (and no share revealed) when the request does not
    /// decode, names another session, lists a peer as both survivor and
    /// dropped, names a peer this client did not mask with, leaves one out,
    /// does not list this client as a survivor, or names fewer than t
    /// survivors.
    pub fn receive(self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let msg = UnmaskRequest::decode(&self.params, bytes).map_err(server_err)?;
        if msg.session != self.session {
            return Err(Error::Server(ServerFault::WrongSession));
        }
        if let Some(&peer) = msg
            .survivors
            .iter()
            .find(|p| msg.dropped.binary_search(p).is_ok())
        {
            return Err(Error::Server(ServerFault::SurvivorAndDropped { peer }));
        }
        if msg.dropped.contains(&self.index) || msg.survivors.binary_search(&self.index).is_err() {
            return Err(Error::Server(ServerFault::SelfNotSurvivor));
        }
        for &peer in msg.survivors.iter().chain(&msg.dropped) {
            if peer != self.index && !self.view.contains(&peer) {
                return Err(Error::Server(ServerFault::UnexpectedPeer { peer }));
            }
        }
        // Lists are disjoint subsets of view + self; equal sizes mean a partition.
        if msg.survivors.len() + msg.dropped.len() != self.view.len() + 1 {
            let peer = self
                .view
                .iter()
                .copied()
                .find(|p| {
                    msg.survivors.binary_search(p).is_err() && msg.dropped.binary_search(p).is_err()
                })
                .unwrap_or(self.index);
            return Err(Error::Server(ServerFault::IncompleteRequest { peer }));
        }
        if msg.survivors.len() < self.t {
            return Err(Error::Server(ServerFault::NotEnoughNeighbours {
                named: msg.survivors.len(),
                threshold: self.t,
            }));
        }
        let mut shares = Vec::with_capacity(msg.survivors.len() + msg.dropped.len());
        let held = |owner: ClientIndex| {
            if owner == self.index {
                Some(&self.own_shares)
            } else {
                self.held.get(&owner)
            }
        };
        let mut all: Vec<(ClientIndex, ShareKind)> = msg
            .survivors
            .iter()
            .map(|&o| (o, ShareKind::SelfSeed))
            .chain(msg.dropped.iter().map(|&o| (o, ShareKind::MaskKey)))
            .collect();
        all.sort_unstable_by_key(|(o, _)| *o);
        for (owner, kind) in all {
            if let Some(h) = held(owner) {
                let share = match kind {
                    ShareKind::SelfSeed => h.seed.0,
                    ShareKind::MaskKey => h.mask_key.0,
                };
                shares.push(ShareEntry { owner, kind, share });
            }
        }
        Ok(UnmaskResponse {
            session: self.session,
            shares,
        }
        .to_bytes())
    }
}
