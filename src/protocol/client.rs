//! The client side of a round: one state per message awaited (spec/protocol.md
//! section 4).
//!
//! ```text
//! AwaitingKeys::new / with_identity      -> AdvertiseKeys bytes
//! AwaitingKeys::receive      (KeyBroadcast)       -> AwaitingShares, ShareKeys bytes
//! AwaitingShares::receive    (ShareDelivery)      -> AwaitingUnmask, MaskedInput bytes
//! AwaitingUnmask::consistency (ConsistencyRequest) -> ConsistencyResponse bytes (malicious model)
//! AwaitingUnmask::receive    (UnmaskRequest)      -> UnmaskResponse bytes
//! ```
//!
//! Each `receive` takes `&mut self`. What happens to the state on an error
//! depends on who erred:
//! - a caller's mistake ([`Error::Misuse`], e.g. an input of the wrong
//!   length) or server bytes that do not decode
//!   ([`ServerFault::Malformed`]): the state is unchanged and can take the
//!   real message;
//! - a decoded server message that the client refuses (any other
//!   [`Error::Server`]): the state is spent, the client has dropped out of
//!   the round and has revealed nothing beyond its earlier messages. Two
//!   exceptions, where a retry is safe (spec/protocol.md section 4): a
//!   refused consistency request leaves [`AwaitingUnmask`] usable (it signs
//!   at most one set whatever it refused), and once it has answered an
//!   unmask request it refuses any other but answers that one again;
//! - after a success the state is spent too (the next state holds the
//!   round); calling it again is [`Misuse::RoundOver`].

use core::cell::RefCell;
use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::codec::{Decode, Encode};
use crate::crypto::aead::{self, PLAINTEXT_LEN};
use crate::crypto::feldman;
use crate::crypto::identity::{Identity, Roster};
use crate::crypto::kx::{self, PublicKeyBytes};
use crate::crypto::labels;
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::secret::SecretScalar;
use crate::crypto::shamir::random_scalar;
use crate::error::{ClientIndex, DecodeError, Error, Misuse, ServerFault};
use crate::graph::Topology;
use crate::params::{Params, RoundId};
use crate::protocol::messages::{
    AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, DeliveredShares, Evidence,
    KeyBroadcast, MaskingSet, SessionId, ShareDelivery, ShareEntry, ShareKeys, ShareKind,
    UnmaskRequest, UnmaskResponse, index_bitmap, masked_input_head,
};
use crate::protocol::parallel::{failing_in_groups, join, map_all};
use crate::protocol::signed::{
    Parts, advertise_parts, bitmap_members, consistency_parts, masked_with_parts, neighbour_bitmap,
    shares_parts,
};
use crate::vector;

fn server_err(e: DecodeError) -> Error {
    Error::Server(ServerFault::Malformed(e))
}

fn refuse(fault: ServerFault) -> Error {
    Error::Server(fault)
}

/// The identity and roster of a client in the malicious-server model.
#[derive(Clone, Debug)]
pub(super) struct Credentials {
    pub(super) identity: Identity,
    pub(super) roster: Roster,
}

/// What every state carries.
#[derive(Clone, Debug)]
pub(super) struct Common {
    pub(super) params: Params,
    pub(super) round: RoundId,
    pub(super) index: ClientIndex,
    pub(super) creds: Option<Credentials>,
}

/// Secrets keyed by client index: a vector allocated once at its final size
/// and filled in ascending index order, so that no reallocation (or a
/// `BTreeMap` node split) leaves a copy of a secret behind in freed memory
/// (spec/crypto.md section 7).
pub(super) struct Keyed<V>(pub(super) Vec<(ClientIndex, V)>);

impl<V> Keyed<V> {
    pub(super) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Appends `(index, value)`; `index` must be above every index held.
    /// Beyond the capacity the value is dropped (and wiped) rather than
    /// moving every secret to a new buffer.
    pub(super) fn push(&mut self, index: ClientIndex, value: V) {
        if self.0.len() < self.0.capacity() && self.0.last().is_none_or(|(i, _)| *i < index) {
            self.0.push((index, value));
        }
    }

    pub(super) fn get(&self, index: ClientIndex) -> Option<&V> {
        self.0
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .and_then(|p| self.0.get(p))
            .map(|(_, v)| v)
    }

    fn contains_key(&self, index: ClientIndex) -> bool {
        self.get(index).is_some()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Takes the inner state, or says the state is spent.
fn take<T>(slot: &mut Option<T>) -> Result<T, Error> {
    slot.take().ok_or(Error::Misuse(Misuse::RoundOver))
}

/// A client that has advertised its keys and awaits the server's
/// [`KeyBroadcast`].
pub struct AwaitingKeys {
    pub(super) common: Common,
    /// Boxed, as every secret a state holds: moving the state (by the
    /// host too) moves a pointer, not the secrets, so no copy is left
    /// behind where it was.
    pub(super) inner: Option<Box<KeysInner>>,
}

pub(super) struct KeysInner {
    pub(super) c_sk: StaticSecret,
    pub(super) c_pk: PublicKeyBytes,
    pub(super) mask_key: SecretScalar,
    pub(super) s_sk: StaticSecret,
    pub(super) s_pk: PublicKeyBytes,
}

impl fmt::Debug for AwaitingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingKeys")
            .field("index", &self.common.index)
            .field("spent", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl AwaitingKeys {
    /// Starts round `round` as client `index` (in `1..=n`) under
    /// semi-honest parameters: draws the two key pairs from `rng` and
    /// returns the state and the [`AdvertiseKeys`] bytes.
    ///
    /// `round` must be fresh: a client never takes part in two rounds with
    /// the same id (spec/protocol.md section 2).
    ///
    /// Implements spec/protocol.md section 4.1 (AdvertiseKeys, client side).
    /// Cost: two X25519 key pairs (one Ed25519 signature more in the
    /// malicious model), constant.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `index` is outside `1..=n`, or
    /// ([`Misuse::Identity`]) the parameters are of the malicious model,
    /// which needs [`AwaitingKeys::with_identity`].
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        index: ClientIndex,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        if params.is_malicious() {
            return Err(Misuse::Identity.into());
        }
        Self::start(params, round, index, None, rng)
    }

    /// [`AwaitingKeys::new`] for the malicious-server model: the client's
    /// long-term `identity` signs its keys and its later commitments, and
    /// `roster` holds every client's verifying key.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `index` is outside `1..=n`, the parameters are
    /// semi-honest, the roster does not have n keys, or `identity` is not
    /// the roster's key for `index` ([`Misuse::Identity`], [`Misuse::Roster`]).
    pub fn with_identity<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        index: ClientIndex,
        identity: &Identity,
        roster: &Roster,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        if !params.is_malicious() {
            return Err(Misuse::Identity.into());
        }
        if roster.len() != params.clients_usize() {
            return Err(Misuse::Roster.into());
        }
        if roster.get(index).is_some() && roster.get(index) != Some(identity.public_key()) {
            return Err(Misuse::Identity.into());
        }
        let creds = Credentials {
            identity: identity.clone(),
            roster: roster.clone(),
        };
        Self::start(params, round, index, Some(creds), rng)
    }

    fn start<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        index: ClientIndex,
        creds: Option<Credentials>,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        if index == 0 || index > params.clients() {
            return Err(Misuse::ClientIndex.into());
        }
        let mut c_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(c_bytes.as_mut());
        let c_sk = StaticSecret::from(*c_bytes);
        let mask_key = SecretScalar(random_scalar(rng));
        let s_sk = kx::mask_secret(&mask_key.0, &round);
        let inner = KeysInner {
            c_pk: kx::public_key(&c_sk),
            s_pk: kx::public_key(&s_sk),
            c_sk,
            mask_key,
            s_sk,
        };
        let signature = creds.as_ref().map(|c| {
            c.identity.sign(
                labels::SIG_ADVERTISE,
                &advertise_parts(params, &round, index, &inner.c_pk, &inner.s_pk).parts(),
            )
        });
        let msg = AdvertiseKeys {
            round,
            c_pk: inner.c_pk,
            s_pk: inner.s_pk,
            signature,
        };
        let state = Self {
            common: Common {
                params: params.clone(),
                round,
                index,
                creds,
            },
            inner: Some(Box::new(inner)),
        };
        Ok((state, msg.to_bytes()))
    }

    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.common.index
    }

    /// Handles the [`KeyBroadcast`]: checks it, Shamir-shares the mask key and
    /// a fresh self-mask seed among the neighbours named (and itself), and
    /// returns the [`ShareKeys`] bytes.
    ///
    /// Cost: one X25519 agreement pair and one Shamir evaluation pair per
    /// neighbour, O(k t), the agreements spread over the threads with the
    /// `parallel` feature; in the malicious model also one signature check
    /// per neighbour.
    ///
    /// Implements spec/protocol.md section 4.2 (ShareKeys, client side).
    ///
    /// # Errors
    /// [`Error::Server`] when the broadcast does not decode (the state stays
    /// usable), or (the state is spent) lacks this client's own keys,
    /// repeats a key, names a non-neighbour or a small-order key, carries a
    /// signature that does not verify (malicious model), or names fewer
    /// than t clients (this one included).
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<(AwaitingShares, Vec<u8>), Error> {
        let msg = KeyBroadcast::decode(&self.common.params, bytes).map_err(server_err)?;
        let me = take(&mut self.inner)?;
        let common = self.common.clone();
        let params = &common.params;
        let index = common.index;
        let topo = Topology::new(params, &common.round);
        let mut own = false;
        let mut seen = std::collections::HashSet::with_capacity(msg.keys.len() * 2);
        for k in &msg.keys {
            if !seen.insert(k.c_pk) || !seen.insert(k.s_pk) {
                return Err(refuse(ServerFault::DuplicateKeys));
            }
            if k.index == index {
                if k.c_pk != me.c_pk || k.s_pk != me.s_pk {
                    return Err(refuse(ServerFault::MissingOwnKeys));
                }
                own = true;
                continue;
            }
            if !topo.adjacent(index, k.index) {
                return Err(refuse(ServerFault::UnexpectedPeer { peer: k.index }));
            }
            if kx::is_weak_public_key(&k.c_pk) || kx::is_weak_public_key(&k.s_pk) {
                return Err(refuse(ServerFault::WeakKey { peer: k.index }));
            }
            if let Some(c) = &common.creds {
                let parts = advertise_parts(params, &common.round, k.index, &k.c_pk, &k.s_pk);
                let ok = k.signature.is_some_and(|sig| {
                    c.roster
                        .verify(k.index, labels::SIG_ADVERTISE, &parts.parts(), &sig)
                });
                if !ok {
                    return Err(refuse(ServerFault::BadSignature { peer: k.index }));
                }
            }
        }
        if !own {
            return Err(refuse(ServerFault::MissingOwnKeys));
        }
        let t = params.threshold_usize();
        if msg.keys.len() < t {
            return Err(refuse(ServerFault::NotEnoughNeighbours {
                named: msg.keys.len(),
                threshold: t,
            }));
        }

        let session = msg.session;
        let seed = SecretScalar(random_scalar(rng));
        let holders: Vec<ClientIndex> = msg.keys.iter().map(|k| k.index).collect();
        let shares_of = |secret: &Scalar, rng: &mut R| {
            feldman::split_committed(secret, t, &holders, rng).map_err(|_| {
                refuse(ServerFault::NotEnoughNeighbours {
                    named: holders.len(),
                    threshold: t,
                })
            })
        };
        let (key_shares, key_commitments) = shares_of(&me.mask_key.0, rng)?;
        let (seed_shares, seed_commitments) = shares_of(&seed.0, rng)?;

        let mut own_shares = None;
        let mut jobs = Vec::with_capacity(holders.len());
        for ((k, ks), ss) in msg.keys.iter().zip(&key_shares).zip(&seed_shares) {
            if k.index == index {
                own_shares = Some(HeldShares {
                    mask_key: SecretScalar(ks.y),
                    seed: SecretScalar(ss.y),
                });
            } else {
                jobs.push((k, ks, ss));
            }
        }
        // Two X25519 agreements per neighbour: the bulk of this phase, run
        // per neighbour in parallel with the `parallel` feature. The first
        // failure in the broadcast's order is the one reported.
        let sealed: Vec<Result<_, Error>> = map_all(&jobs, |&(k, ks, ss)| {
            let weak = || refuse(ServerFault::WeakKey { peer: k.index });
            let shared = kx::agree(&me.c_sk, &k.c_pk).ok_or_else(weak)?;
            let key = kx::share_key(&shared, &session, index, k.index);
            // Everything R2 needs from this peer's keys is derived now, while
            // the client waits for the server: the R2 critical path is then
            // the mask PRG alone, and the secret keys are dropped here.
            let mask_shared = kx::agree(&me.s_sk, &k.s_pk).ok_or_else(weak)?;
            let sign = if index < k.index {
                Sign::Plus
            } else {
                Sign::Minus
            };
            let peer = PeerKeys {
                open: kx::share_key(&shared, &session, k.index, index),
                mask: (
                    kx::pair_mask_key(&mask_shared, &session, index, k.index),
                    sign,
                ),
            };
            let mut pt = Zeroizing::new([0u8; PLAINTEXT_LEN]);
            pt[..32].copy_from_slice(ks.y.as_bytes());
            pt[32..].copy_from_slice(ss.y.as_bytes());
            let ct = aead::seal(&key, &session, index, k.index, &pt);
            Ok((k.index, peer, ct))
        });
        let mut ciphertexts = Vec::with_capacity(sealed.len());
        let mut peers = Keyed::with_capacity(msg.keys.len());
        // The keys are cloned, not moved out: each result is then dropped,
        // and its keys wiped, where it lies (a move would leave their bytes
        // in the list's buffer, freed unwiped).
        for r in &sealed {
            let (peer, keys, ct) = r.as_ref().map_err(|e| *e)?;
            peers.push(*peer, keys.clone());
            ciphertexts.push((*peer, *ct));
        }
        drop(sealed);
        let own_shares = own_shares.ok_or(refuse(ServerFault::MissingOwnKeys))?;
        let key_commitments = points(&key_commitments);
        let seed_commitments = points(&seed_commitments);
        let signature = common.creds.as_ref().map(|c| {
            c.identity.sign(
                labels::SIG_SHARES,
                &shares_parts(&session, index, &key_commitments, &seed_commitments).parts(),
            )
        });
        let out = ShareKeys {
            session,
            key_commitments,
            seed_commitments,
            signature,
            ciphertexts,
        };
        let next = AwaitingShares {
            common,
            neighbours: topo.neighbours(index),
            inner: Some(Box::new(SharesInner {
                session,
                seed,
                own_shares: Box::new(own_shares),
                peers,
            })),
        };
        Ok((next, out.to_bytes()))
    }
}

/// The wire form of Feldman commitments.
fn points(c: &feldman::Commitments) -> Vec<[u8; 32]> {
    c.encode()
        .chunks_exact(32)
        .map(|p| {
            let mut a = [0u8; 32];
            a.copy_from_slice(p);
            a
        })
        .collect()
}

/// The two shares a client holds of one peer's secrets.
#[derive(Debug)]
pub(super) struct HeldShares {
    pub(super) mask_key: SecretScalar,
    pub(super) seed: SecretScalar,
}

/// A client that has sent its shares and awaits the server's
/// [`ShareDelivery`] (and its own input).
pub struct AwaitingShares {
    pub(super) common: Common,
    /// N(self), ascending.
    pub(super) neighbours: Vec<ClientIndex>,
    /// Boxed, as [`AwaitingKeys`]' secrets.
    pub(super) inner: Option<Box<SharesInner>>,
}

pub(super) struct SharesInner {
    pub(super) session: SessionId,
    pub(super) seed: SecretScalar,
    pub(super) own_shares: Box<HeldShares>,
    /// Neighbours in U1 and the keys derived with each.
    pub(super) peers: Keyed<PeerKeys>,
}

/// What a client derives in R1 from one neighbour's advertised keys
/// (spec/crypto.md sections 3 and 4).
#[derive(Clone)]
pub(super) struct PeerKeys {
    /// The share-encryption key from the neighbour to this client.
    pub(super) open: Zeroizing<[u8; 32]>,
    /// The pairwise mask key and the sign this client adds it with.
    pub(super) mask: (PrgKey, Sign),
}

impl fmt::Debug for AwaitingShares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingShares")
            .field("index", &self.common.index)
            .field("spent", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl AwaitingShares {
    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.common.index
    }

    /// Handles the [`ShareDelivery`]: decrypts the neighbours' shares and
    /// returns the [`MaskedInput`](crate::protocol::messages::MaskedInput)
    /// bytes for `input` (m elements below `2^b`).
    /// A ciphertext that fails to decrypt is reported in the message's
    /// complaints; its sender is still masked with, since it masks with us.
    ///
    /// Cost: the mask PRG, `(k + 1) m` lanes of the round's PRG (the heaviest
    /// client call: run it on a blocking pool in an async host).
    ///
    /// Implements spec/protocol.md section 4.3 (MaskedInput, client side).
    ///
    /// # Errors
    /// [`Error::Misuse`] for an input of the wrong length or range, and
    /// [`Error::Server`] with [`ServerFault::Malformed`] for a delivery that
    /// does not decode: the state stays usable. [`Error::Server`] (the
    /// state is spent) when the delivery names another session or a peer
    /// that was not a neighbour in U1, or leaves fewer than t clients (this
    /// one included). The input's range is checked in the masking pass, so
    /// after these refusals.
    ///
    /// Cost beyond the PRG: one AEAD open per neighbour and the decoding and
    /// checking `2 k t` commitments (Ristretto decompressions and a batched
    /// multiscalar multiplication), overlapped with the masking and spread
    /// over the threads with the `parallel` feature.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        input: &[u64],
    ) -> Result<(AwaitingUnmask, Vec<u8>), Error> {
        let params = &self.common.params;
        let bits = params.bits();
        if input.len() != params.dim_usize() {
            return Err(Misuse::InputLength.into());
        }
        let packed = vector::packed_len(input.len(), bits).ok_or(Misuse::InputLength)?;
        // The range is checked in the masking pass, which reads the input
        // anyway; an input out of range leaves the state usable.
        let top = vector::mask(bits);
        let msg = ShareDelivery::decode(params, bytes).map_err(server_err)?;
        let me = take(&mut self.inner)?;
        let index = self.common.index;
        if msg.session != me.session {
            return Err(refuse(ServerFault::WrongSession));
        }
        for d in &msg.shares {
            if !me.peers.contains_key(d.sender) {
                return Err(refuse(ServerFault::UnexpectedPeer { peer: d.sender }));
            }
            if let Some(c) = &self.common.creds {
                let parts = shares_parts(
                    &me.session,
                    d.sender,
                    &d.key_commitments,
                    &d.seed_commitments,
                );
                let ok = d.signature.is_some_and(|sig| {
                    c.roster
                        .verify(d.sender, labels::SIG_SHARES, &parts.parts(), &sig)
                });
                if !ok {
                    return Err(refuse(ServerFault::BadSignature { peer: d.sender }));
                }
            }
        }
        let t = params.threshold_usize();
        if msg.shares.len() + 1 < t {
            return Err(refuse(ServerFault::NotEnoughNeighbours {
                named: msg.shares.len() + 1,
                threshold: t,
            }));
        }

        let mut masks = Vec::with_capacity(msg.shares.len() + 1);
        masks.push((
            kx::self_mask_key(&me.seed.0, &me.session, index),
            Sign::Plus,
        ));
        // Checked above: every sender is a neighbour in U1.
        masks.extend(
            msg.shares
                .iter()
                .filter_map(|d| me.peers.get(d.sender))
                .map(|peer| peer.mask.clone()),
        );
        let view: BTreeSet<ClientIndex> = msg.shares.iter().map(|d| d.sender).collect();
        let signature = self.common.creds.as_ref().map(|c| {
            let bitmap = neighbour_bitmap(&self.neighbours, &view);
            c.identity.sign(
                labels::SIG_MASKED_WITH,
                &masked_with_parts(&me.session, index, &bitmap).parts(),
            )
        });
        // The vector is masked and packed straight into the message, laid
        // out for no complaints, while the shares are opened and checked
        // against their commitments (both in parallel with the `parallel`
        // feature). A share that does not decrypt, or does not lie on the
        // sender's committed polynomial, is a complaint (spec/protocol.md
        // section 4.3): the holder keeps only shares it verified, and a
        // complaint moves the vector once, to make room for it.
        let mut head = Vec::new();
        masked_input_head(&me.session, &[], &signature, &mut head);
        let prg = self.common.params.prg();
        // Allocated by the caller's thread: the message leaves with the
        // caller, and a buffer from a pool thread's arena can come back as
        // fresh pages (page faults) each time.
        let mut out = vec![0u8; head.len() + packed];
        // The masking goes first: it starts on the first thread free, and the
        // share checks wait to be taken by the next one.
        let (or, (mut complaints, opened, bad)) = join(
            || prg::mask_and_pack(prg, &masks, bits, input, &mut out[head.len()..]),
            || {
                let mut complaints = Vec::new();
                let mut opened = Vec::with_capacity(msg.shares.len());
                for d in &msg.shares {
                    let Some(peer) = me.peers.get(d.sender) else {
                        continue;
                    };
                    match open_shares(&peer.open, &me.session, d.sender, index, &d.ciphertext) {
                        Some(h) => opened.push((d, h)),
                        None => complaints.push(d.sender),
                    }
                }
                let bad = bad_deliveries(&me.session, index, t, &opened);
                (complaints, opened, bad)
            },
        );
        if or & !top != 0 {
            // Nothing was sent: the state takes the right input.
            self.inner = Some(me);
            return Err(Misuse::InputRange.into());
        }
        let mut held = Keyed::with_capacity(msg.shares.len());
        let mut late = Vec::new();
        for (d, h) in opened {
            if bad.contains(&d.sender) {
                late.push(d.sender);
            } else {
                held.push(d.sender, h);
            }
        }
        if !late.is_empty() {
            complaints.extend(late);
            complaints.sort_unstable();
        }
        if complaints.is_empty() {
            out[..head.len()].copy_from_slice(&head);
        } else {
            let mut moved = Vec::with_capacity(out.len() + 4 * complaints.len());
            masked_input_head(&me.session, &complaints, &signature, &mut moved);
            moved.extend_from_slice(&out[head.len()..]);
            out = moved;
        }
        let next = AwaitingUnmask {
            common: self.common.clone(),
            t,
            session: me.session,
            neighbours: core::mem::take(&mut self.neighbours),
            own_shares: Some(me.own_shares),
            view,
            held,
            signed: None,
            answered: None,
        };
        Ok((next, out))
    }
}

/// Batch groups of a holder's share check (spec/crypto.md section 8.3).
const HOLDER_GROUPS: usize = 4;
/// The fewest items in one group of a holder's share check.
const HOLDER_GROUP_MIN: usize = 8;

/// The items in each group of a holder's share check of `items` shares.
pub(crate) fn holder_group_size(items: usize) -> usize {
    items.div_ceil(HOLDER_GROUPS).max(HOLDER_GROUP_MIN)
}

/// The senders of `opened` whose commitments do not decode, or whose shares
/// do not lie on the polynomials they committed to (Feldman's check,
/// spec/crypto.md section 8.3). The commitments are decoded per sender in
/// parallel; the shares are checked in batches, bisected only if one fails.
/// The items are the key share then the seed share of each sender whose
/// commitments decoded, ascending by sender; they are cut into
/// [`HOLDER_GROUPS`] consecutive groups of at least [`HOLDER_GROUP_MIN`]
/// items, checked in parallel, and group `g` takes its weights from stream
/// `g` of ChaCha20 keyed by `SHA-256("secagg/v2/share-batch" || session ||
/// u32(x) || for each of those senders: u32(sender) || bytes(key share) ||
/// bytes(seed share))`.
fn bad_deliveries(
    session: &SessionId,
    x: ClientIndex,
    t: usize,
    opened: &[(&DeliveredShares, HeldShares)],
) -> BTreeSet<ClientIndex> {
    use sha2::{Digest, Sha256};
    let commitments = |c: &[[u8; 32]]| feldman::Commitments::decode(&c.concat(), t).ok();
    let decoded = map_all(opened, |(d, _)| {
        Some([
            commitments(&d.key_commitments)?,
            commitments(&d.seed_commitments)?,
        ])
    });
    let mut bad = BTreeSet::new();
    let mut transcript = Sha256::new();
    transcript.update(labels::SHARE_BATCH);
    transcript.update(session);
    transcript.update(x.to_le_bytes());
    let mut items = Vec::with_capacity(2 * opened.len());
    let mut whose = Vec::with_capacity(2 * opened.len());
    for ((d, h), c) in opened.iter().zip(&decoded) {
        let Some([kc, sc]) = c else {
            bad.insert(d.sender);
            continue;
        };
        transcript.update(d.sender.to_le_bytes());
        transcript.update(h.mask_key.0.as_bytes());
        transcript.update(h.seed.0.as_bytes());
        items.push((kc, x, h.mask_key.0));
        items.push((sc, x, h.seed.0));
        whose.extend([d.sender, d.sender]);
    }
    let seed = Zeroizing::new(<[u8; 32]>::from(transcript.finalize()));
    let size = holder_group_size(items.len());
    let failed = failing_in_groups(
        &items,
        size,
        &seed,
        feldman::verify_batch,
        feldman::find_bad,
    );
    // Every weight-combined share lives in the batch checks; the items'
    // scalars are copies of the held shares, wiped here.
    for item in &mut items {
        zeroize::Zeroize::zeroize(&mut item.2);
    }
    bad.extend(failed.into_iter().filter_map(|i| whose.get(i).copied()));
    bad
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

/// The survivor set a client signed in the consistency round.
pub(super) struct Signed {
    pub(super) survivors: BTreeSet<ClientIndex>,
    /// Digest of the set, which every consistency signature covers.
    pub(super) digest: [u8; 32],
    /// The response sent, returned again for a byte-identical request.
    pub(super) response: Vec<u8>,
}

/// A client that has sent its masked input and awaits the server's
/// [`UnmaskRequest`] (in the malicious model, first its
/// [`ConsistencyRequest`]).
pub struct AwaitingUnmask {
    pub(super) common: Common,
    pub(super) t: usize,
    pub(super) session: SessionId,
    /// N(self), ascending.
    pub(super) neighbours: Vec<ClientIndex>,
    /// Boxed, as [`AwaitingKeys`]' secrets.
    pub(super) own_shares: Option<Box<HeldShares>>,
    /// U2 within the neighbourhood: the senders of the delivered ciphertexts.
    pub(super) view: BTreeSet<ClientIndex>,
    /// The shares that decrypted.
    pub(super) held: Keyed<HeldShares>,
    pub(super) signed: Option<Box<Signed>>,
    /// The request answered and the answer (a byte-identical request gets
    /// the same answer; any other is refused).
    pub(super) answered: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for AwaitingUnmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitingUnmask")
            .field("index", &self.common.index)
            .field("answered", &self.answered.is_some())
            .finish_non_exhaustive()
    }
}

impl AwaitingUnmask {
    /// This client's index.
    pub fn index(&self) -> ClientIndex {
        self.common.index
    }

    /// The parameters of the round.
    pub fn params(&self) -> &Params {
        &self.common.params
    }

    /// Malicious model: handles the [`ConsistencyRequest`] and returns the
    /// [`ConsistencyResponse`] bytes, this client's signature on the
    /// survivor set. It signs at most one set per round: a byte-identical
    /// request gets the same answer, a different set is refused. Cost:
    /// O(k) set checks and one Ed25519 signature.
    ///
    /// Implements spec/protocol.md section 4.5 (consistency, client side).
    ///
    /// # Errors
    /// [`Error::Misuse`] ([`Misuse::Identity`]) in the semi-honest model,
    /// [`Misuse::RoundOver`] once a refused unmask request spent the state.
    /// [`Error::Server`] (the state stays usable) when the request does not
    /// decode, names another session, does not list this client, lists a
    /// neighbour it did not mask with, names fewer than t of its
    /// neighbourhood, or is a second, different set
    /// ([`ServerFault::SurvivorSetChanged`]).
    pub fn consistency(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let Some(creds) = &self.common.creds else {
            return Err(Misuse::Identity.into());
        };
        let params = &self.common.params;
        let msg = ConsistencyRequest::decode(params, bytes).map_err(server_err)?;
        if self.own_shares.is_none() && self.answered.is_none() {
            // A refused unmask request spent the state: the client has left
            // the round and signs nothing more.
            return Err(Misuse::RoundOver.into());
        }
        if msg.session != self.session {
            return Err(refuse(ServerFault::WrongSession));
        }
        let survivors: BTreeSet<ClientIndex> = msg.survivors.iter().copied().collect();
        if let Some(signed) = &self.signed {
            return if signed.survivors == survivors {
                Ok(signed.response.clone())
            } else {
                Err(refuse(ServerFault::SurvivorSetChanged))
            };
        }
        let index = self.common.index;
        if !survivors.contains(&index) {
            return Err(refuse(ServerFault::SelfNotSurvivor));
        }
        let mut named = 1;
        for v in &self.neighbours {
            if survivors.contains(v) {
                if !self.view.contains(v) {
                    return Err(refuse(ServerFault::UnexpectedPeer { peer: *v }));
                }
                named += 1;
            }
        }
        if named < self.t {
            return Err(refuse(ServerFault::NotEnoughNeighbours {
                named,
                threshold: self.t,
            }));
        }
        let bitmap = index_bitmap(params.clients(), &msg.survivors);
        let digest = kx::survivor_set_digest(&self.session, params.clients(), &bitmap);
        let signature = creds.identity.sign(
            labels::SIG_CONSISTENCY,
            &consistency_parts(&self.session, index, &digest).parts(),
        );
        let response = ConsistencyResponse {
            session: self.session,
            signature,
        }
        .to_bytes();
        self.signed = Some(Box::new(Signed {
            survivors,
            digest,
            response: response.clone(),
        }));
        Ok(response)
    }

    /// Handles the [`UnmaskRequest`] and returns the [`UnmaskResponse`]
    /// bytes: for each survivor its self-mask-seed share, for each dropped
    /// peer its mask-key share, never both for one peer. It answers one
    /// request: a byte-identical resend gets the same answer, any other
    /// request is refused.
    ///
    /// In the malicious model the request must match the survivor set this
    /// client signed and carry the evidence of spec/protocol.md section 4.5:
    /// for each peer it answers about, t consistency signatures from that
    /// peer's neighbourhood, and for each survivor its signed masking set,
    /// consistent with the survivor set and itself certified. Cost: one
    /// signature check per signer named, O(k^2) set operations.
    ///
    /// Implements spec/protocol.md sections 4.4 and 4.5 (Unmask, client side).
    ///
    /// # Errors
    /// [`Error::Server`] (and no share revealed) when the request does not
    /// decode (the state stays usable), or (the state is spent) names
    /// another session, lists a peer as both survivor and dropped, names a
    /// peer this client did not mask with, leaves one out, does not list
    /// this client as a survivor, names fewer than t survivors, or in the
    /// malicious model differs from the signed set or lacks its evidence.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        // Bytes that do not decode are `Malformed` in every state, answered
        // or not (spec/protocol.md section 4).
        let msg = UnmaskRequest::decode(&self.common.params, bytes).map_err(server_err)?;
        if let Some((req, resp)) = &self.answered {
            return if req == bytes {
                Ok(resp.clone())
            } else {
                Err(refuse(ServerFault::SurvivorSetChanged))
            };
        }
        let own_shares = take(&mut self.own_shares)?;
        let result = self.answer(&msg, &own_shares);
        // Whatever the outcome, the held shares of this round are done with.
        self.held.clear();
        let out = result?;
        self.answered = Some((bytes.to_vec(), out.clone()));
        Ok(out)
    }

    fn answer(&self, msg: &UnmaskRequest, own_shares: &HeldShares) -> Result<Vec<u8>, Error> {
        let index = self.common.index;
        if msg.session != self.session {
            return Err(refuse(ServerFault::WrongSession));
        }
        if let Some(&peer) = msg
            .survivors
            .iter()
            .find(|p| msg.dropped.binary_search(p).is_ok())
        {
            return Err(refuse(ServerFault::SurvivorAndDropped { peer }));
        }
        if msg.dropped.contains(&index) || msg.survivors.binary_search(&index).is_err() {
            return Err(refuse(ServerFault::SelfNotSurvivor));
        }
        for &peer in msg.survivors.iter().chain(&msg.dropped) {
            if peer != index && !self.view.contains(&peer) {
                return Err(refuse(ServerFault::UnexpectedPeer { peer }));
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
                .unwrap_or(index);
            return Err(refuse(ServerFault::IncompleteRequest { peer }));
        }
        if msg.survivors.len() < self.t {
            return Err(refuse(ServerFault::NotEnoughNeighbours {
                named: msg.survivors.len(),
                threshold: self.t,
            }));
        }
        if let Some(creds) = &self.common.creds {
            self.check_evidence(creds, msg)?;
        }
        let mut shares = Vec::with_capacity(msg.survivors.len() + msg.dropped.len());
        let held = |owner: ClientIndex| {
            if owner == index {
                Some(own_shares)
            } else {
                self.held.get(owner)
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

    /// The malicious-model checks of spec/protocol.md section 4.5.
    fn check_evidence(&self, creds: &Credentials, msg: &UnmaskRequest) -> Result<(), Error> {
        let index = self.common.index;
        let signed = self
            .signed
            .as_ref()
            .ok_or(refuse(ServerFault::SurvivorSetChanged))?;
        let s = &signed.survivors;
        // The request must be the signed set, seen from here.
        let expect_survivors: Vec<ClientIndex> = self
            .view
            .iter()
            .copied()
            .chain([index])
            .filter(|v| s.contains(v))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let expect_dropped: Vec<ClientIndex> = self
            .view
            .iter()
            .copied()
            .filter(|v| !s.contains(v))
            .collect();
        if msg.survivors != expect_survivors || msg.dropped != expect_dropped {
            return Err(refuse(ServerFault::SurvivorSetChanged));
        }
        let evidence = msg
            .evidence
            .as_ref()
            .ok_or(refuse(ServerFault::NotCertified { peer: index }))?;
        let certifier = Certifier::new(creds, &self.common, &self.session, signed, evidence)?;
        for &o in self.view.iter().chain([&index]) {
            certifier.certified(o)?;
        }
        // Each survivor's signed masking set and whether its signature
        // verifies, over the threads; they are then checked in order.
        let session = &self.session;
        let sets = map_all(&msg.survivors, |&o| {
            masking_set(creds, session, o, evidence)
        });
        for (&o, set) in msg.survivors.iter().zip(sets) {
            certifier.survivor_consistent(o, set, s, self.t)?;
        }
        Ok(())
    }
}

/// Survivor `o`'s signed masking set in the evidence, if there is one,
/// and whether its signature verifies.
fn masking_set<'e>(
    creds: &Credentials,
    session: &SessionId,
    o: ClientIndex,
    evidence: &'e Evidence,
) -> Option<(&'e MaskingSet, bool)> {
    let set = evidence
        .masking_sets
        .binary_search_by_key(&o, |m| m.owner)
        .ok()
        .and_then(|i| evidence.masking_sets.get(i))?;
    let parts = masked_with_parts(session, o, &set.bitmap);
    let ok = creds
        .roster
        .verify(o, labels::SIG_MASKED_WITH, &parts.parts(), &set.signature);
    Some((set, ok))
}

/// Checks certification claims against the verified consistency signers.
struct Certifier {
    topo: Topology,
    t: usize,
    /// Clients whose consistency signature on the signed set verified.
    signers: BTreeSet<ClientIndex>,
    /// Whether the set is certified at each client asked about so far: the
    /// same neighbourhoods come up for many survivors.
    certified_at: RefCell<BTreeMap<ClientIndex, bool>>,
}

impl Certifier {
    fn new(
        creds: &Credentials,
        common: &Common,
        session: &SessionId,
        signed: &Signed,
        evidence: &Evidence,
    ) -> Result<Self, Error> {
        // Every signature is checked (over the threads with the `parallel`
        // feature); the first that fails, in the evidence's order, is named.
        let verified = map_all(&evidence.signatures, |(signer, sig)| {
            let parts = consistency_parts(session, *signer, &signed.digest);
            creds
                .roster
                .verify(*signer, labels::SIG_CONSISTENCY, &parts.parts(), sig)
        });
        let mut signers = BTreeSet::new();
        for ((signer, _), ok) in evidence.signatures.iter().zip(verified) {
            if !ok {
                return Err(refuse(ServerFault::BadSignature { peer: *signer }));
            }
            signers.insert(*signer);
        }
        Ok(Self {
            topo: Topology::new(&common.params, &common.round),
            t: common.params.threshold_usize(),
            signers,
            certified_at: RefCell::new(BTreeMap::new()),
        })
    }

    /// The survivor set is certified at `x`: at least t of `x`'s neighbours
    /// signed it.
    fn certified(&self, x: ClientIndex) -> Result<(), Error> {
        let known = self.certified_at.borrow().get(&x).copied();
        let ok = known.unwrap_or_else(|| {
            let ok = self.count_signing_neighbours(x) >= self.t;
            self.certified_at.borrow_mut().insert(x, ok);
            ok
        });
        if ok {
            Ok(())
        } else {
            Err(refuse(ServerFault::NotCertified { peer: x }))
        }
    }

    /// How many of `x`'s neighbours signed the set.
    fn count_signing_neighbours(&self, x: ClientIndex) -> usize {
        match &self.topo {
            Topology::Complete { .. } => {
                self.signers.len() - usize::from(self.signers.contains(&x))
            }
            Topology::Harary { .. } => {
                let mut count = 0;
                self.topo.for_each_neighbour(x, |v| {
                    count += usize::from(self.signers.contains(&v));
                });
                count
            }
        }
    }

    /// Survivor `o`'s signed masking set (`set`, from [`masking_set`])
    /// contains every neighbour of `o` in the
    /// survivor set `s`, `s` holds at least t of `o`'s neighbourhood, and
    /// `s` is certified at each of those neighbours.
    fn survivor_consistent(
        &self,
        o: ClientIndex,
        set: Option<(&MaskingSet, bool)>,
        s: &BTreeSet<ClientIndex>,
        t: usize,
    ) -> Result<(), Error> {
        let not = refuse(ServerFault::NotCertified { peer: o });
        let (set, verified) = set.ok_or(not)?;
        if !verified {
            return Err(refuse(ServerFault::BadSignature { peer: o }));
        }
        let neighbours = self.topo.neighbours(o);
        let masked_with = bitmap_members(&neighbours, &set.bitmap);
        let alive: Vec<ClientIndex> = neighbours
            .iter()
            .copied()
            .filter(|v| s.contains(v))
            .collect();
        if alive.len() + 1 < t || alive.iter().any(|v| !masked_with.contains(v)) {
            return Err(not);
        }
        alive.iter().try_for_each(|&x| self.certified(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_bitmaps_roundtrip() {
        let nb = vec![2, 5, 7, 9, 11, 12, 13, 20, 31];
        let set: BTreeSet<ClientIndex> = [5, 9, 31].into_iter().collect();
        let bm = neighbour_bitmap(&nb, &set);
        assert_eq!(bm, vec![0b0000_1010, 0b1]);
        assert_eq!(bitmap_members(&nb, &bm), set);
    }
}
