//! The server side of a round (spec/protocol.md section 5).
//!
//! Sans-IO: the host hands every client message to [`Server::receive`] in any
//! order and calls [`Server::close_phase`] at its deadline, which returns the
//! messages to deliver (an [`Outbox`]) or, after the last phase, the
//! [`Aggregate`]. Masked inputs are added into one running sum as they
//! arrive: memory is O(m) for the vector plus O(n k) for keys, ciphertexts
//! in transit and shares, and O(n k t) for the commitments received. The
//! ShareKeys close does not build the deliveries: its [`Outbox`] builds
//! each when the host asks for it (together they are ~k times the size of
//! what was received).
//!
//! A message that breaks the protocol is rejected with an [`Error::Client`]
//! naming its sender and saying, in its [`Outcome`], what became of it:
//! ignored (a late message, or a sender outside the roster), excluded from
//! the rest of the round, or named in [`Aggregate::misbehaved`] while it
//! stays in (spec/protocol.md section 5.4). Once a masked input is in the
//! sum it stays there, whatever its sender does later. Each client is
//! recorded at most once, and senders outside the roster are never recorded,
//! so garbage does not grow the server's memory.

use core::fmt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use curve25519_dalek::Scalar;
use curve25519_dalek::ristretto::RistrettoPoint;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::codec::{Decode, Encode};
use crate::crypto::feldman;
use crate::crypto::fingerprint::{Fingerprint, FingerprintKey};
use crate::crypto::identity::{Roster, SignatureBytes};
use crate::crypto::kx::{self, PublicKeyBytes};
use crate::crypto::labels;
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::secret::SecretScalar;
use crate::crypto::shamir::{self, Share, ShareBytes};
use crate::error::{ClientFault, ClientIndex, Error, Misuse, Outcome, Phase};
use crate::graph::Topology;
use crate::params::{Params, RoundId};
use crate::protocol::messages::{
    AdvertiseKeys, ClientKeys, ConsistencyRequest, ConsistencyResponse, Evidence, KeyBroadcast,
    MaskedInputView, MaskingSet, SessionId, ShareKeys, ShareKind, UnmaskRequest, UnmaskShares,
    index_bitmap,
};
use crate::protocol::parallel::{failing_in_groups, map_all, par_map};
use crate::protocol::signed::{
    Parts, advertise_parts, consistency_parts, masked_with_parts, neighbour_bitmap, shares_parts,
};
use crate::vector;

pub use super::outbox::Outbox;
use super::outbox::{CommitmentTable, Points};

/// The most batches R3's secret check is split into (spec/crypto.md section
/// 8.3), so that they run in parallel.
const SECRET_BATCH_GROUPS: usize = 8;
/// The fewest secrets in one of those batches: smaller ones lose more to the
/// multiscalar multiplication's fixed cost than they gain in parallel (one
/// thread, 1,000 secrets: 2.8 ms in groups of 256, 2.35 ms in groups of
/// 512, 2.15 ms in one).
const SECRET_BATCH_MIN: usize = 512;

/// One share to check: its dealer's commitments, its holder, its value.
type ShareItem<'a> = (&'a feldman::Commitments, u32, Scalar);

/// A reconstructed secret waiting for its check: the candidate from its
/// interpolation set ([`pick_holders`]) and its dealer's `C_0`, decompressed and as sent.
type Candidate = Option<(SecretScalar, (RistrettoPoint, [u8; 32]))>;

/// The shares of one UnmaskResponse: `(owner, kind, value)` ascending by
/// owner, each value's `x` its holder (spec/protocol.md section 5.3).
pub(super) type Answers = Vec<(ClientIndex, ShareKind, ShareBytes)>;

/// What R3 derives from one reconstructed secret.
enum Derived {
    /// A survivor's self-mask key.
    SelfMask(PrgKey),
    /// A dropped client's X25519 mask secret, and whether its public key
    /// is the one the client advertised.
    MaskSecret(ClientIndex, x25519_dalek::StaticSecret, bool),
}

/// The holder sets each secret of `jobs` (each list ascending by holder) is
/// interpolated from (spec/crypto.md section 6): the distinct sets of `t`
/// holders, ascending, and the index of each secret's among them (`None`
/// for a secret with fewer than `t` shares).
///
/// Complete graph: the first `t` shares in ascending holder order (every
/// secret with every answer in has the same set). Harary graph: the secrets
/// are taken in ring order, and one keeps the set of the one before it when
/// it holds a share from each of its holders; otherwise its set is the `t`
/// holders furthest ahead on the ring from its owner, which the next
/// `2h - t + 1` owners (`h = k / 2`) also neighbour. With every answer in,
/// about `n / (2h - t + 1)` distinct sets instead of one per secret, so the
/// `O(t^2)` Lagrange coefficients are computed that many times.
fn pick_holders(
    topo: &Topology,
    t: usize,
    jobs: &[(ClientIndex, Vec<&ShareBytes>, Option<PublicKeyBytes>)],
) -> (Vec<Vec<u32>>, Vec<Option<usize>>) {
    /// The index of holder set `xs` among `sets`, added if new; `None`
    /// for a set that is not valid.
    fn intern(
        sets: &mut Vec<Vec<u32>>,
        known: &mut HashMap<Vec<u32>, usize>,
        xs: Vec<u32>,
    ) -> Option<usize> {
        shamir::check_holders(&xs).ok()?;
        let next = sets.len();
        let at = *known.entry(xs.clone()).or_insert(next);
        if at == next {
            sets.push(xs);
        }
        Some(at)
    }
    let mut sets: Vec<Vec<u32>> = Vec::new();
    let mut known: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut picks: Vec<Option<usize>> = vec![None; jobs.len()];
    let Topology::Harary { half, ring } = topo else {
        for ((_, list, _), pick) in jobs.iter().zip(&mut picks) {
            let Some(first) = list.get(..t) else {
                continue;
            };
            *pick = intern(&mut sets, &mut known, first.iter().map(|s| s.x).collect());
        }
        return (sets, picks);
    };
    let (pos, at) = (&ring.pos, &ring.at);
    let n = at.len();
    let slot = |x: ClientIndex| pos.get(x as usize).map(|&p| p as usize);
    let mut job_of: Vec<Option<usize>> = vec![None; n + 1];
    for (j, (owner, _, _)) in jobs.iter().enumerate() {
        if let Some(entry) = job_of.get_mut(*owner as usize) {
            *entry = Some(j);
        }
    }
    // The holders of the current set, marked.
    let mut marked = vec![false; n + 1];
    let mut current: Option<usize> = None;
    for &owner in at {
        let Some((j, list)) = job_of
            .get(owner as usize)
            .copied()
            .flatten()
            .and_then(|j| Some((j, &jobs.get(j)?.1)))
        else {
            continue;
        };
        if list.len() < t {
            continue;
        }
        // A list's holders are distinct: it holds the whole set when t
        // of them are marked.
        let kept = current.filter(|_| {
            list.iter()
                .filter(|s| marked.get(s.x as usize).copied().unwrap_or(false))
                .count()
                == t
        });
        let set = match kept {
            Some(set) => set,
            None => {
                // Ring distance ahead of the owner, shifted by h so that the
                // owner's whole neighbourhood counts from 0.
                let Some(p) = slot(owner) else {
                    continue;
                };
                let ahead = |x: u32| slot(x).map_or(0, |q| (q + n + *half as usize - p) % n);
                let mut order: Vec<u32> = list.iter().map(|s| s.x).collect();
                order.sort_unstable_by_key(|&x| core::cmp::Reverse(ahead(x)));
                order.truncate(t);
                order.sort_unstable();
                let Some(set) = intern(&mut sets, &mut known, order) else {
                    continue;
                };
                set
            }
        };
        if current != Some(set) {
            for (old, new) in [(current, false), (Some(set), true)] {
                for &x in old.and_then(|i| sets.get(i)).into_iter().flatten() {
                    if let Some(m) = marked.get_mut(x as usize) {
                        *m = new;
                    }
                }
            }
            current = Some(set);
        }
        if let Some(pick) = picks.get_mut(j) {
            *pick = Some(set);
        }
    }
    (sets, picks)
}

/// Each secret's shares, by reference (no share is copied), each list
/// ascending by holder: a survivor's self-seed shares for each of `u3` in
/// order, then a dropped client's mask-key shares for each of `dropped`.
/// Shares of any other secret are left out.
///
/// Every share of an answer has its holder's x ([`UnmaskShares::decode`])
/// and each holder answers once, so taking the answers by holder fills
/// every list in ascending x, with no list to sort, whatever order the
/// answers came in.
fn share_lists<'a>(
    n: u32,
    degree: u32,
    u3: &[ClientIndex],
    dropped: &[ClientIndex],
    shares: &'a [Answers],
) -> Vec<Vec<&'a ShareBytes>> {
    // Where each client's secret of each kind is in the lists: a
    // survivor's seed at its place in U3, a dropped client's mask key
    // after U3 (one lookup per share, no search).
    let mut slot = vec![[usize::MAX; 2]; n as usize + 1];
    for (i, &u) in u3.iter().enumerate() {
        if let Some(entry) = slot.get_mut(u as usize) {
            entry[0] = i;
        }
    }
    for (i, &v) in dropped.iter().enumerate() {
        if let Some(entry) = slot.get_mut(v as usize) {
            entry[1] = u3.len() + i;
        }
    }
    // No secret has more holders than a client has neighbours, plus
    // itself, or than there are answers.
    let holders = (degree as usize + 1).min(shares.len());
    let mut lists: Vec<Vec<&ShareBytes>> = (0..u3.len() + dropped.len())
        .map(|_| Vec::with_capacity(holders))
        .collect();
    let mut by_holder: Vec<&Answers> = shares.iter().collect();
    by_holder.sort_unstable_by_key(|a| a.first().map_or(0, |(_, _, s)| s.x));
    for answer in by_holder {
        for (owner, kind, value) in answer {
            let which = match kind {
                ShareKind::SelfSeed => 0,
                ShareKind::MaskKey => 1,
            };
            let at = slot.get(*owner as usize).map_or(usize::MAX, |e| e[which]);
            if let Some(list) = lists.get_mut(at) {
                list.push(value);
            }
        }
    }
    lists
}

/// The share the unmask requests ask for of each client index `0..=n` (0
/// unused): a seed share of a member of `u3`, a key share of a member of
/// `dropped`, none of anyone else; one lookup per share received instead of
/// a search.
pub(super) fn asked_kinds(
    n: u32,
    u3: &[ClientIndex],
    dropped: &[ClientIndex],
) -> Vec<Option<ShareKind>> {
    let mut asked = vec![None; n as usize + 1];
    for (set, kind) in [(u3, ShareKind::SelfSeed), (dropped, ShareKind::MaskKey)] {
        for &i in set {
            if let Some(entry) = asked.get_mut(i as usize) {
                *entry = Some(kind);
            }
        }
    }
    asked
}

/// Messages from this many bytes up are fingerprinted on another thread
/// while they are checked and added (with the `parallel` feature); below it
/// the hand-off costs more than it saves.
#[cfg(feature = "parallel")]
const JOIN_MIN_BYTES: usize = 1 << 16;

/// Runs `a` and `b`, side by side with the `parallel` feature when `len` is
/// at least `JOIN_MIN_BYTES` (64 KiB), else one after the other.
fn join_large<A: Send, B: Send>(
    len: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    if len >= JOIN_MIN_BYTES {
        return super::parallel::join(a, b);
    }
    let _ = len;
    (a(), b())
}

/// How many messages [`Server::receive_all`] checks at once.
const RECEIVE_GROUP: usize = 1024;

/// The unmask requests are built in at most this many consecutive groups of
/// askers, in parallel with the `parallel` feature.
const REQUEST_GROUPS: usize = 8;

/// A set of client indices in `1..=n` that is emptied in O(1): `insert`
/// tells whether an index is new since the last `clear`.
struct Marks {
    /// The generation in which each index was last inserted.
    stamp: Vec<u32>,
    now: u32,
}

impl Marks {
    fn new(n: usize) -> Self {
        Self {
            stamp: vec![0; n + 1],
            now: 1,
        }
    }

    fn clear(&mut self) {
        self.now = self.now.wrapping_add(1);
        if self.now == 0 {
            self.stamp.fill(0);
            self.now = 1;
        }
    }

    fn insert(&mut self, v: ClientIndex) -> bool {
        match self.stamp.get_mut(v as usize) {
            Some(s) if *s != self.now => {
                *s = self.now;
                true
            }
            _ => false,
        }
    }
}

/// The signers whose consistency signatures go in the evidence for a client
/// whose surviving neighbourhood is `survivors` (spec/protocol.md section
/// 4.5): the neighbours that signed (`signed[v]`) of every client checked,
/// which are the survivors and their neighbours in U2 (`in_u2[v]`);
/// ascending. `marks` is scratch of n + 1 entries.
fn evidence_signers(
    topo: &Topology,
    survivors: &[ClientIndex],
    in_u2: &[bool],
    signed: &[bool],
    marks: &mut Marks,
) -> Vec<ClientIndex> {
    let flag = |set: &[bool], v: ClientIndex| set.get(v as usize).copied().unwrap_or(false);
    marks.clear();
    let mut checked = Vec::with_capacity(4 * survivors.len());
    for &o in survivors {
        if marks.insert(o) {
            checked.push(o);
        }
        topo.for_each_neighbour(o, |v| {
            if flag(in_u2, v) && marks.insert(v) {
                checked.push(v);
            }
        });
    }
    marks.clear();
    let mut signers = Vec::with_capacity(2 * checked.len());
    for &x in &checked {
        topo.for_each_neighbour(x, |v| {
            if flag(signed, v) && marks.insert(v) {
                signers.push(v);
            }
        });
    }
    signers.sort_unstable();
    signers
}

/// The checks of one message made ahead by [`Server::receive_all`].
enum Prechecked {
    AdvertiseKeys(Result<AdvertiseKeys, ClientFault>),
    ShareKeys(Box<Result<(ShareKeys, [RistrettoPoint; 2]), ClientFault>>),
    MaskedInput(Result<Option<MaskingSet>, ClientFault>),
    Consistency(Result<SignatureBytes, ClientFault>),
    Unmask(Result<UnmaskShares, ClientFault>),
}

/// What [`Server::close_phase`] hands back.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Messages for the host to deliver, one per recipient, ascending by
    /// client; each is built when the host asks for it (see [`Outbox`]).
    Deliver(Outbox),
    /// The round is over.
    Done(Aggregate),
}

/// The result of a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// The sum mod `2^b` of the inputs of `survivors`.
    pub sum: Vec<u64>,
    /// U3: the clients whose inputs are in the sum, ascending.
    pub survivors: Vec<ClientIndex>,
    /// Clients that broke the protocol, with the first fault seen of each,
    /// ascending by index. Those excluded before R2 are not in `survivors`.
    pub misbehaved: Vec<(ClientIndex, ClientFault)>,
}

/// The state of the current phase.
pub(super) enum State {
    AdvertiseKeys {
        keys: BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>,
        /// Every key advertised so far, with its advertiser.
        seen: HashMap<PublicKeyBytes, ClientIndex>,
        /// Keys two clients advertised: whoever advertises one again is
        /// excluded too.
        burned: HashSet<PublicKeyBytes>,
    },
    ShareKeys {
        received: BTreeMap<ClientIndex, ShareKeys>,
    },
    MaskedInput {
        sum: Vec<u64>,
        received: BTreeMap<ClientIndex, Vec<ClientIndex>>,
    },
    Consistency {
        sum: Vec<u64>,
        dropped: Vec<ClientIndex>,
        /// Digest of U3, which every consistency signature covers.
        digest: [u8; 32],
        signatures: BTreeMap<ClientIndex, SignatureBytes>,
    },
    Unmask {
        sum: Vec<u64>,
        dropped: Vec<ClientIndex>,
        /// The share asked of each client index (0 unused): derived from U3
        /// and `dropped` ([`asked_kinds`]), not exported.
        asked: Vec<Option<ShareKind>>,
        answered: BTreeSet<ClientIndex>,
        /// The shares received, one list per UnmaskResponse in arrival
        /// order (an imported server: one list per owner), sorted by owner
        /// only at [`Server::finish`].
        shares: Vec<Answers>,
    },
    Over,
}

/// The server of one round.
pub struct Server {
    pub(super) params: Params,
    pub(super) round: RoundId,
    /// Malicious model: every client's verifying key.
    pub(super) roster: Option<Roster>,
    pub(super) topo: Topology,
    /// Secret: the resend-fingerprint key is derived from it.
    pub(super) nonce: Zeroizing<[u8; 32]>,
    /// Derived from `nonce` (spec/crypto.md section 10).
    pub(super) resend_key: FingerprintKey,
    pub(super) state: State,
    pub(super) session: SessionId,
    /// Public keys of U1.
    pub(super) keys: BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>,
    /// Feldman commitments of U2: mask-key polynomial, self-seed polynomial.
    /// Shared with the R1 close's [`Outbox`] while it lives.
    pub(super) commitments: Arc<CommitmentTable>,
    /// The constant-term commitments `C_0` of each ShareKeys accepted (mask
    /// key, self seed), decompressed when its points were checked, so R3
    /// checks the secrets without decompressing them again. Not part of
    /// the exported state: a server imported after R1 decodes them in R3.
    pub(super) constant_terms: HashMap<ClientIndex, [RistrettoPoint; 2]>,
    /// Malicious model: AdvertiseKeys signatures of U1.
    pub(super) key_signatures: BTreeMap<ClientIndex, SignatureBytes>,
    /// Malicious model: the signed masking sets of U3.
    pub(super) masking_sets: BTreeMap<ClientIndex, MaskingSet>,
    pub(super) u1: Vec<ClientIndex>,
    pub(super) u2: Vec<ClientIndex>,
    pub(super) u3: Vec<ClientIndex>,
    /// Malicious model: the clients whose consistency signature verified.
    pub(super) u4: Vec<ClientIndex>,
    pub(super) excluded: BTreeSet<ClientIndex>,
    pub(super) misbehaved: BTreeMap<ClientIndex, ClientFault>,
    /// Fingerprint of the message accepted from each client in the current
    /// phase: a byte-identical resend is recognised and ignored.
    pub(super) accepted: HashMap<ClientIndex, Fingerprint>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("params", &self.params)
            .field("phase", &self.phase())
            .field("u1", &self.u1.len())
            .field("u2", &self.u2.len())
            .field("u3", &self.u3.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for round `round` under semi-honest parameters; `rng` draws
    /// the session nonce. Cost: builds the graph, O(n).
    ///
    /// # Errors
    /// [`Error::Misuse`] ([`Misuse::Identity`]) for parameters of the
    /// malicious model, which need [`Server::with_roster`].
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        rng: &mut R,
    ) -> Result<Self, Error> {
        if params.is_malicious() {
            return Err(Misuse::Identity.into());
        }
        Ok(Self::start(params, round, None, rng))
    }

    /// [`Server::new`] for the malicious-server model: `roster` holds every
    /// client's verifying key, against which the server checks the
    /// signatures it forwards.
    ///
    /// # Errors
    /// [`Error::Misuse`] for semi-honest parameters ([`Misuse::Identity`])
    /// or a roster whose size is not n ([`Misuse::Roster`]).
    pub fn with_roster<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        roster: &Roster,
        rng: &mut R,
    ) -> Result<Self, Error> {
        if !params.is_malicious() {
            return Err(Misuse::Identity.into());
        }
        if roster.len() != params.clients_usize() {
            return Err(Misuse::Roster.into());
        }
        Ok(Self::start(params, round, Some(roster.clone()), rng))
    }

    fn start<R: CryptoRng + ?Sized>(
        params: &Params,
        round: RoundId,
        roster: Option<Roster>,
        rng: &mut R,
    ) -> Self {
        // The only draw: the fingerprint key is derived from the nonce, so
        // every seeded run draws the stream of spec/conformance.md section 2.
        let mut nonce = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(nonce.as_mut());
        Self {
            resend_key: FingerprintKey::from_nonce(&nonce),
            topo: Topology::new(params, &round),
            params: params.clone(),
            round,
            roster,
            nonce,
            state: State::AdvertiseKeys {
                keys: BTreeMap::new(),
                seen: HashMap::new(),
                burned: HashSet::new(),
            },
            session: [0; 32],
            keys: BTreeMap::new(),
            commitments: Arc::default(),
            constant_terms: HashMap::new(),
            key_signatures: BTreeMap::new(),
            masking_sets: BTreeMap::new(),
            u1: Vec::new(),
            u2: Vec::new(),
            u3: Vec::new(),
            u4: Vec::new(),
            excluded: BTreeSet::new(),
            misbehaved: BTreeMap::new(),
            accepted: HashMap::new(),
        }
    }

    /// The round id.
    pub fn round(&self) -> &RoundId {
        &self.round
    }

    /// The phase whose messages [`Server::receive`] accepts, or `None` once
    /// the round is over.
    pub fn phase(&self) -> Option<Phase> {
        match self.state {
            State::AdvertiseKeys { .. } => Some(Phase::AdvertiseKeys),
            State::ShareKeys { .. } => Some(Phase::ShareKeys),
            State::MaskedInput { .. } => Some(Phase::MaskedInput),
            State::Consistency { .. } => Some(Phase::Consistency),
            State::Unmask { .. } => Some(Phase::Unmask),
            State::Over => None,
        }
    }

    /// The parameters of the round.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The session id (all zero before R0 closes).
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// U1, U2 and U3 as far as they are known (ascending).
    pub fn survivor_sets(&self) -> [&[ClientIndex]; 3] {
        [&self.u1, &self.u2, &self.u3]
    }

    /// Malicious model: the clients whose consistency signature verified,
    /// once the consistency round has closed (ascending).
    pub fn signers(&self) -> &[ClientIndex] {
        &self.u4
    }

    /// Records `fault` against `from`, who stays in the round
    /// ([`Outcome::Named`]).
    fn fault(&mut self, from: ClientIndex, fault: ClientFault) -> Error {
        self.record(from, fault, Outcome::Named)
    }

    fn record(&mut self, from: ClientIndex, fault: ClientFault, outcome: Outcome) -> Error {
        self.misbehaved.entry(from).or_insert(fault);
        Error::Client {
            index: from,
            fault,
            outcome,
        }
    }

    /// Records `fault` against `from` and removes it from the rest of the
    /// round ([`Outcome::Excluded`]).
    fn exclude(&mut self, from: ClientIndex, fault: ClientFault) -> Error {
        self.excluded.insert(from);
        match &mut self.state {
            State::AdvertiseKeys { keys, seen, .. } => {
                if let Some((c, s)) = keys.remove(&from) {
                    seen.remove(&c);
                    seen.remove(&s);
                }
            }
            State::ShareKeys { received } => {
                received.remove(&from);
                self.constant_terms.remove(&from);
            }
            _ => {}
        }
        self.record(from, fault, Outcome::Excluded)
    }

    /// Takes one client message of the current phase.
    ///
    /// A byte-identical resend of a message already accepted in this phase
    /// is a no-op (`Ok(())`): hosts with at-least-once delivery may retry
    /// freely. A *different* second message is a fault (`Duplicate`).
    ///
    /// Cost: one keyed fingerprint of the message (POLYVAL, to recognise
    /// resends; beside the intake for large first messages), then the
    /// phase's check: O(message) for most, plus in the malicious model one
    /// signature check; a MaskedInput is added into the running sum, O(m).
    ///
    /// Implements spec/protocol.md section 5.1 (message intake).
    ///
    /// # Errors
    /// [`Error::Client`] naming `from` when it is outside the roster, not
    /// expected in this phase, already heard from, or its message is
    /// malformed, for another session or inconsistent with its neighbourhood;
    /// its `outcome` says whether `from` was ignored, excluded or named
    /// (the table of spec/protocol.md section 5.4);
    /// [`Error::Misuse`] once the round is over.
    pub fn receive(&mut self, from: ClientIndex, bytes: &[u8]) -> Result<(), Error> {
        self.receive_checked(from, bytes, None)
    }

    /// Takes a batch of messages of the current phase: the same results,
    /// in the same order, and the same state as [`Server::receive`] called
    /// on each in turn, but the checks of each message that depend only on
    /// its bytes run for the whole batch at once, spread over the threads
    /// with the `parallel` feature. Those are the costly ones: decoding a
    /// ShareKeys (every commitment point is decompressed) and checking its
    /// signature, decoding an UnmaskResponse (every share is checked to be
    /// a canonical scalar) and its owners, and in the malicious model the
    /// signature of every AdvertiseKeys, MaskedInput and
    /// ConsistencyResponse. A server that gathers the messages arriving in
    /// a window and hands them over together takes them on every core; in
    /// the semi-honest model's R0 and R2 this is [`Server::receive`] in a
    /// loop.
    ///
    /// Messages are checked in groups of at most 1,024 at a time, so the
    /// memory a batch takes beyond its bytes is bounded by a group's.
    ///
    /// # Errors
    /// One result per message, as [`Server::receive`] gives it.
    pub fn receive_all(&mut self, batch: &[(ClientIndex, &[u8])]) -> Vec<Result<(), Error>> {
        let mut results = Vec::with_capacity(batch.len());
        for group in batch.chunks(RECEIVE_GROUP) {
            let prechecked = self.precheck(group);
            for (&(from, bytes), pre) in group.iter().zip(prechecked) {
                results.push(self.receive_checked(from, bytes, pre));
            }
        }
        results
    }

    /// The checks of `group` that depend only on each message's bytes, for
    /// the messages that would reach them (a sender in the phase's set,
    /// not excluded, not yet heard from), each with the message's
    /// fingerprint (kept if it is taken); `None` for the others and in the
    /// phases without costly checks.
    fn precheck(&self, group: &[(ClientIndex, &[u8])]) -> Vec<Option<(Prechecked, Fingerprint)>> {
        // Each check with its message's fingerprint, over the threads.
        let all = |check: &(dyn Fn(ClientIndex, &[u8]) -> Option<Prechecked> + Sync)| {
            map_all(group, |&(from, bytes)| {
                check(from, bytes).map(|p| (p, self.resend_key.hasher().fingerprint(bytes)))
            })
        };
        let new = |from: ClientIndex| {
            !self.excluded.contains(&from) && !self.accepted.contains_key(&from)
        };
        let fresh =
            |from: ClientIndex, set: &[ClientIndex]| set.binary_search(&from).is_ok() && new(from);
        let n = self.params.clients();
        let malicious = self.roster.is_some();
        match &self.state {
            // Without signatures the checks of R0 and R2 cost less than
            // spreading them would.
            State::AdvertiseKeys { .. } if malicious => all(&|from, bytes| {
                ((1..=n).contains(&from) && new(from))
                    .then(|| Prechecked::AdvertiseKeys(self.check_advertise_keys(from, bytes)))
            }),
            State::ShareKeys { .. } => all(&|from, bytes| {
                fresh(from, &self.u1)
                    .then(|| Prechecked::ShareKeys(Box::new(self.check_share_keys(from, bytes))))
            }),
            State::MaskedInput { .. } if malicious => all(&|from, bytes| {
                fresh(from, &self.u2).then(|| {
                    Prechecked::MaskedInput(
                        self.check_masked_input(from, bytes).map(|(_, set)| set),
                    )
                })
            }),
            State::Consistency { digest, .. } => all(&|from, bytes| {
                fresh(from, &self.u3)
                    .then(|| Prechecked::Consistency(self.check_consistency(from, bytes, digest)))
            }),
            State::Unmask { asked, .. } => {
                let askers = if self.params.is_malicious() {
                    &self.u4
                } else {
                    &self.u3
                };
                all(&|from, bytes| {
                    fresh(from, askers)
                        .then(|| Prechecked::Unmask(self.check_unmask(from, bytes, asked)))
                })
            }
            _ => group.iter().map(|_| None).collect(),
        }
    }

    /// Decodes an AdvertiseKeys from `from` and checks what depends on its
    /// bytes alone: the round, that neither key is weak and, in the
    /// malicious model, its signature.
    fn check_advertise_keys(
        &self,
        from: ClientIndex,
        bytes: &[u8],
    ) -> Result<AdvertiseKeys, ClientFault> {
        let msg = AdvertiseKeys::decode(&self.params, bytes).map_err(ClientFault::Malformed)?;
        if msg.round != self.round {
            return Err(ClientFault::WrongSession);
        }
        if kx::is_weak_public_key(&msg.c_pk) || kx::is_weak_public_key(&msg.s_pk) {
            return Err(ClientFault::WeakKey);
        }
        if let Some(roster) = &self.roster {
            let parts = advertise_parts(&self.params, &self.round, from, &msg.c_pk, &msg.s_pk);
            let ok = msg.signature.is_some_and(|sig| {
                roster.verify(from, labels::SIG_ADVERTISE, &parts.parts(), &sig)
            });
            if !ok {
                return Err(ClientFault::BadSignature);
            }
        }
        Ok(msg)
    }

    /// Decodes a MaskedInput from `from` (in R2) and checks what depends on
    /// its bytes alone: the session, that it complains only about
    /// neighbours in U2 and, in the malicious model, its signature over the
    /// masking set this server delivered (the client's neighbours in U2),
    /// returned as the [`MaskingSet`] to keep.
    fn check_masked_input<'b>(
        &self,
        from: ClientIndex,
        bytes: &'b [u8],
    ) -> Result<(MaskedInputView<'b>, Option<MaskingSet>), ClientFault> {
        let msg = MaskedInputView::decode(&self.params, bytes).map_err(ClientFault::Malformed)?;
        if msg.session != self.session {
            return Err(ClientFault::WrongSession);
        }
        let (topo, u2) = (&self.topo, &self.u2);
        if !msg
            .complaints
            .iter()
            .all(|&v| topo.adjacent(from, v) && u2.binary_search(&v).is_ok())
        {
            return Err(ClientFault::WrongRecipients);
        }
        let Some(roster) = &self.roster else {
            return Ok((msg, None));
        };
        let delivered: BTreeSet<ClientIndex> = topo.restrict(from, u2, false).into_iter().collect();
        let bitmap = neighbour_bitmap(&topo.neighbours(from), &delivered);
        let parts = masked_with_parts(&self.session, from, &bitmap);
        let Some(signature) = msg
            .signature
            .filter(|sig| roster.verify(from, labels::SIG_MASKED_WITH, &parts.parts(), sig))
        else {
            return Err(ClientFault::BadSignature);
        };
        Ok((
            msg,
            Some(MaskingSet {
                owner: from,
                bitmap,
                signature,
            }),
        ))
    }

    /// Decodes a ConsistencyResponse from `from` and checks its session and
    /// its signature over the survivor set's `digest`.
    fn check_consistency(
        &self,
        from: ClientIndex,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> Result<SignatureBytes, ClientFault> {
        let msg =
            ConsistencyResponse::decode(&self.params, bytes).map_err(ClientFault::Malformed)?;
        if msg.session != self.session {
            return Err(ClientFault::WrongSession);
        }
        let parts = consistency_parts(&self.session, from, digest);
        let ok = self.roster.as_ref().is_some_and(|r| {
            r.verify(
                from,
                labels::SIG_CONSISTENCY,
                &parts.parts(),
                &msg.signature,
            )
        });
        if !ok {
            return Err(ClientFault::BadSignature);
        }
        Ok(msg.signature)
    }

    /// Decodes a ShareKeys from `from` and checks what depends on its bytes
    /// alone: the session, its recipients (`from`'s neighbours in U1) and,
    /// in the malicious model, its signature. Returns the message and its
    /// two constant-term commitments, decompressed.
    fn check_share_keys(
        &self,
        from: ClientIndex,
        bytes: &[u8],
    ) -> Result<(ShareKeys, [RistrettoPoint; 2]), ClientFault> {
        let (msg, constant_terms) = ShareKeys::decode_keeping_constant_terms(&self.params, bytes)
            .map_err(ClientFault::Malformed)?;
        if msg.session != self.session {
            return Err(ClientFault::WrongSession);
        }
        let expected = self.topo.restrict(from, &self.u1, false);
        if !expected
            .into_iter()
            .eq(msg.ciphertexts.iter().map(|(v, _)| *v))
        {
            return Err(ClientFault::WrongRecipients);
        }
        if let Some(roster) = &self.roster {
            let parts = shares_parts(
                &self.session,
                from,
                &msg.key_commitments,
                &msg.seed_commitments,
            );
            let ok = msg
                .signature
                .is_some_and(|sig| roster.verify(from, labels::SIG_SHARES, &parts.parts(), &sig));
            if !ok {
                return Err(ClientFault::BadSignature);
            }
        }
        Ok((msg, constant_terms))
    }

    /// Decodes an UnmaskResponse from `from` and checks what depends on its
    /// bytes alone: the session, and that every share is of an owner that
    /// `from` neighbours (or is), of the kind the request asked for
    /// (`asked`, by owner: a seed share of a member of U3, a key share of a
    /// dropped client).
    fn check_unmask(
        &self,
        from: ClientIndex,
        bytes: &[u8],
        asked: &[Option<ShareKind>],
    ) -> Result<UnmaskShares, ClientFault> {
        let msg =
            UnmaskShares::decode(&self.params, bytes, from).map_err(ClientFault::Malformed)?;
        if msg.session != self.session {
            return Err(ClientFault::WrongSession);
        }
        let fits = msg.shares.iter().all(|&(owner, kind, _)| {
            let near = owner == from || self.topo.adjacent(from, owner);
            near && asked.get(owner as usize) == Some(&Some(kind))
        });
        if !fits {
            return Err(ClientFault::WrongAnswer);
        }
        Ok(msg)
    }

    /// [`Server::receive`], with the checks of [`Server::precheck`] and the
    /// message's fingerprint when they were made.
    fn receive_checked(
        &mut self,
        from: ClientIndex,
        bytes: &[u8],
        pre: Option<(Prechecked, Fingerprint)>,
    ) -> Result<(), Error> {
        let (pre, printed) = pre.map_or((None, None), |(p, f)| (Some(p), Some(f)));
        let (fingerprint, result) =
            if !self.excluded.contains(&from) && self.accepted.contains_key(&from) {
                let fingerprint =
                    printed.unwrap_or_else(|| self.resend_key.hasher().fingerprint(bytes));
                if self.accepted.get(&from) == Some(&fingerprint) {
                    // A byte-identical resend (an at-least-once transport
                    // retrying): the first copy already counted, this one
                    // changes nothing. A different message taken for a
                    // resend (probability at most (L + 1) / 2^128 for L
                    // blocks, whatever the sender chose: spec/protocol.md
                    // section 5.1) is dropped the same way: the first
                    // message stands.
                    return Ok(());
                }
                (fingerprint, self.intake(from, bytes, pre))
            } else {
                // A first message from `from` in this phase: its
                // fingerprint is only kept, so it is taken beside the
                // intake (or was, beside the other messages' checks).
                match printed {
                    Some(fingerprint) => (fingerprint, self.intake(from, bytes, pre)),
                    None => {
                        let hasher = self.resend_key.hasher();
                        join_large(
                            bytes.len(),
                            || hasher.fingerprint(bytes),
                            || self.intake(from, bytes, pre),
                        )
                    }
                }
            };
        if result.is_ok() {
            self.accepted.insert(from, fingerprint);
        }
        result
    }

    /// Every client whose message of the current phase the server still
    /// waits for: the members of the previous phase's set (all of `1..=n` in
    /// R0) not yet heard from and not excluded, ascending. Empty once the
    /// round is over.
    pub fn pending(&self) -> Vec<ClientIndex> {
        let expected: Vec<ClientIndex> = match self.state {
            State::AdvertiseKeys { .. } => (1..=self.params.clients()).collect(),
            State::ShareKeys { .. } => self.u1.clone(),
            State::MaskedInput { .. } => self.u2.clone(),
            State::Consistency { .. } => self.u3.clone(),
            State::Unmask { .. } if self.params.is_malicious() => self.u4.clone(),
            State::Unmask { .. } => self.u3.clone(),
            State::Over => Vec::new(),
        };
        expected
            .into_iter()
            .filter(|i| !self.excluded.contains(i) && !self.accepted.contains_key(i))
            .collect()
    }

    /// The clients excluded from the round so far, ascending: their later
    /// messages are `NotInPhase`. The inputs of those excluded up to R2 are
    /// not in the sum; those excluded in Consistency or Unmask keep theirs
    /// there ([`Outcome::Excluded`]).
    pub fn excluded(&self) -> Vec<ClientIndex> {
        self.excluded.iter().copied().collect()
    }

    /// Whether `bytes` carry the header (this version, the type byte) of a
    /// client message of a phase before the current one: an at-least-once
    /// transport retrying a message after its phase closed. It is late, as
    /// a message after the deadline is (`NotInPhase`, ignored), not
    /// malformed: an honest client is never excluded for a retry
    /// (spec/protocol.md section 5.4). Only the header is read; what
    /// follows it is not decoded.
    fn of_an_earlier_phase(&self, bytes: &[u8]) -> bool {
        use super::messages::kind::{
            ADVERTISE_KEYS, CONSISTENCY_RESPONSE, MASKED_INPUT, SHARE_KEYS,
        };
        let earlier: &[u8] = match self.state {
            State::AdvertiseKeys { .. } | State::Over => &[],
            State::ShareKeys { .. } => &[ADVERTISE_KEYS],
            State::MaskedInput { .. } => &[ADVERTISE_KEYS, SHARE_KEYS],
            State::Consistency { .. } => &[ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT],
            State::Unmask { .. } if self.params.is_malicious() => &[
                ADVERTISE_KEYS,
                SHARE_KEYS,
                MASKED_INPUT,
                CONSISTENCY_RESPONSE,
            ],
            State::Unmask { .. } => &[ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT],
        };
        matches!(bytes, [version, kind, ..] if *version == crate::codec::VERSION && earlier.contains(kind))
    }

    /// The phase logic behind [`Server::receive`].
    fn intake(
        &mut self,
        from: ClientIndex,
        bytes: &[u8],
        pre: Option<Prechecked>,
    ) -> Result<(), Error> {
        let n = self.params.clients();
        if matches!(self.state, State::Over) {
            return Err(Misuse::RoundOver.into());
        }
        if from == 0 || from > n {
            return Err(Error::Client {
                index: from,
                fault: ClientFault::UnknownSender,
                outcome: Outcome::Ignored,
            });
        }
        let not_in_phase = Error::Client {
            index: from,
            fault: ClientFault::NotInPhase,
            outcome: Outcome::Ignored,
        };
        if self.excluded.contains(&from) || self.of_an_earlier_phase(bytes) {
            return Err(not_in_phase);
        }
        let params = &self.params;
        match &mut self.state {
            State::AdvertiseKeys { keys, .. } => {
                if keys.contains_key(&from) {
                    return Err(self.exclude(from, ClientFault::Duplicate));
                }
                let checked = match pre {
                    Some(Prechecked::AdvertiseKeys(checked)) => checked,
                    _ => self.check_advertise_keys(from, bytes),
                };
                let msg = match checked {
                    Ok(m) => m,
                    Err(fault) => return Err(self.exclude(from, fault)),
                };
                let State::AdvertiseKeys { keys, seen, burned } = &mut self.state else {
                    return Err(not_in_phase);
                };
                if msg.c_pk == msg.s_pk {
                    return Err(self.exclude(from, ClientFault::DuplicateKey));
                }
                // A key another client advertised excludes both: the server
                // cannot tell who copied whom (spec/protocol.md section 5.1).
                let mut clash = false;
                for pk in [msg.c_pk, msg.s_pk] {
                    if burned.contains(&pk) {
                        clash = true;
                    }
                    if let Some(&other) = seen.get(&pk) {
                        burned.insert(pk);
                        clash = true;
                        let other_keys = keys.remove(&other);
                        if let Some((c, s)) = other_keys {
                            for k in [c, s] {
                                seen.remove(&k);
                                burned.insert(k);
                            }
                        }
                        self.excluded.insert(other);
                        self.misbehaved
                            .entry(other)
                            .or_insert(ClientFault::DuplicateKey);
                        self.key_signatures.remove(&other);
                    }
                }
                if clash {
                    burned.insert(msg.c_pk);
                    burned.insert(msg.s_pk);
                    return Err(self.exclude(from, ClientFault::DuplicateKey));
                }
                seen.insert(msg.c_pk, from);
                seen.insert(msg.s_pk, from);
                keys.insert(from, (msg.c_pk, msg.s_pk));
                if let Some(sig) = msg.signature {
                    self.key_signatures.insert(from, sig);
                }
                Ok(())
            }
            State::ShareKeys { received } => {
                if self.u1.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if received.contains_key(&from) {
                    return Err(self.exclude(from, ClientFault::Duplicate));
                }
                let checked = match pre {
                    Some(Prechecked::ShareKeys(checked)) => *checked,
                    _ => self.check_share_keys(from, bytes),
                };
                let (msg, constant_terms) = match checked {
                    Ok(m) => m,
                    Err(fault) => return Err(self.exclude(from, fault)),
                };
                if let State::ShareKeys { received } = &mut self.state {
                    received.insert(from, msg);
                }
                self.constant_terms.insert(from, constant_terms);
                Ok(())
            }
            State::MaskedInput { received, .. } => {
                if self.u2.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if received.contains_key(&from) {
                    return Err(self.fault(from, ClientFault::Duplicate));
                }
                let checked = match pre {
                    // Checked whole already: only the view is taken again.
                    Some(Prechecked::MaskedInput(checked)) => checked.and_then(|set| {
                        let msg = MaskedInputView::decode(params, bytes)
                            .map_err(ClientFault::Malformed)?;
                        Ok((msg, set))
                    }),
                    _ => self.check_masked_input(from, bytes),
                };
                let (msg, set) = match checked {
                    Ok(m) => m,
                    Err(fault) => return Err(self.exclude(from, fault)),
                };
                if let Some(set) = set {
                    self.masking_sets.insert(from, set);
                }
                let State::MaskedInput { sum, received } = &mut self.state else {
                    return Err(not_in_phase);
                };
                vector::add_packed(sum, msg.packed, params.bits());
                received.insert(from, msg.complaints);
                Ok(())
            }
            State::Consistency {
                digest, signatures, ..
            } => {
                if self.u3.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if signatures.contains_key(&from) {
                    return Err(self.fault(from, ClientFault::Duplicate));
                }
                let digest = *digest;
                let checked = match pre {
                    Some(Prechecked::Consistency(checked)) => checked,
                    _ => self.check_consistency(from, bytes, &digest),
                };
                let signature = match checked {
                    Ok(s) => s,
                    Err(fault) => return Err(self.exclude(from, fault)),
                };
                if let State::Consistency { signatures, .. } = &mut self.state {
                    signatures.insert(from, signature);
                }
                Ok(())
            }
            State::Unmask { answered, .. } => {
                let askers = if self.params.is_malicious() {
                    &self.u4
                } else {
                    &self.u3
                };
                if askers.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if answered.contains(&from) {
                    return Err(self.fault(from, ClientFault::Duplicate));
                }
                let checked = match pre {
                    Some(Prechecked::Unmask(checked)) => checked,
                    _ => {
                        let asked = match &self.state {
                            State::Unmask { asked, .. } => asked.as_slice(),
                            _ => &[],
                        };
                        self.check_unmask(from, bytes, asked)
                    }
                };
                let msg = match checked {
                    Ok(m) => m,
                    Err(fault) => return Err(self.exclude(from, fault)),
                };
                if let State::Unmask {
                    answered, shares, ..
                } = &mut self.state
                {
                    answered.insert(from);
                    // The decoded list is kept as it is (moved, not copied):
                    // no share is copied or sorted per message.
                    shares.push(msg.shares);
                }
                Ok(())
            }
            State::Over => Err(Misuse::RoundOver.into()),
        }
    }

    fn abort(&mut self, phase: Phase, survivors: usize) -> Error {
        self.state = State::Over;
        Error::NotEnoughSurvivors {
            phase,
            survivors,
            threshold: self.params.threshold_usize(),
        }
    }

    /// Closes the current phase (the host's deadline has passed) and returns
    /// what to send next, or the result after the last phase.
    ///
    /// Cost: R0 close O(n k) (one key broadcast per client); R1 close
    /// O(n k t) bytes moved; R2 close O(n k); consistency close O(n k^2)
    /// (evidence per client); the last close is the heavy one: `O(t)` per
    /// secret to interpolate (plus `O(t^2)` per distinct holder set), one
    /// batched multiscalar multiplication of one point per secret to check
    /// the secrets, a full share check only for a secret that fails it,
    /// one X25519 agreement per surviving neighbour
    /// of each dropped client, and the mask PRG over `m` lanes per mask
    /// removed, on rayon with the `parallel` feature (hundreds of ms at
    /// n = 1,000: run it on a blocking pool in an async host).
    ///
    /// Implements spec/protocol.md section 5.2 (phase close).
    ///
    /// # Errors
    /// [`Error::NotEnoughSurvivors`] (and the round is over) when fewer than
    /// t clients remain in the phase, or some secret that must be
    /// reconstructed has fewer than t holders left (or too few good shares);
    /// [`Error::Client`] with [`Outcome::Aborted`] (and the round is over)
    /// for a dealer too many holders complained about
    /// ([`ClientFault::Undecryptable`], R2) or whose shares give another
    /// secret than it published ([`ClientFault::SecretMismatch`], Unmask);
    /// [`Error::Misuse`] once the round is over.
    pub fn close_phase(&mut self) -> Result<Step, Error> {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!(
            "secagg.close_phase",
            phase = ?self.phase(),
            pending = self.pending().len(),
        )
        .entered();
        let result = self.close_phase_inner();
        #[cfg(feature = "tracing")]
        match &result {
            Ok(Step::Deliver(out)) => tracing::info!(
                messages = out.len(),
                excluded = self.excluded.len(),
                next = ?self.phase(),
                "phase closed"
            ),
            Ok(Step::Done(a)) => tracing::info!(
                survivors = a.survivors.len(),
                misbehaved = a.misbehaved.len(),
                "round done"
            ),
            Err(e) => tracing::warn!(error = %e, "round ended"),
        }
        result
    }

    fn close_phase_inner(&mut self) -> Result<Step, Error> {
        let t = self.params.threshold_usize();
        self.accepted.clear();
        match core::mem::replace(&mut self.state, State::Over) {
            State::AdvertiseKeys { keys, .. } => {
                if keys.len() < t {
                    return Err(self.abort(Phase::AdvertiseKeys, keys.len()));
                }
                self.u1 = keys.keys().copied().collect();
                self.session = kx::session_id(
                    &self.params.to_bytes(),
                    &self.round,
                    &self.nonce,
                    keys.iter().map(|(i, (c, s))| (*i, c, s)),
                );
                self.keys = keys;
                let out = self.key_broadcasts();
                self.state = State::ShareKeys {
                    received: BTreeMap::new(),
                };
                Ok(Step::Deliver(out))
            }
            State::ShareKeys { received } => {
                if received.len() < t {
                    return Err(self.abort(Phase::ShareKeys, received.len()));
                }
                let (u2, sent): (Vec<ClientIndex>, Vec<ShareKeys>) = received.into_iter().unzip();
                self.u2 = u2;
                // The commitments move into one table, shared with the
                // deliveries and kept for R3 (held once, freed at once, not
                // sender by sender when the round ends); the ciphertexts go
                // with the deliveries.
                let (out, commitments) =
                    Outbox::share_deliveries(self.session, self.u2.clone(), sent);
                self.commitments = commitments;
                self.state = State::MaskedInput {
                    sum: vec![0; self.params.dim_usize()],
                    received: BTreeMap::new(),
                };
                Ok(Step::Deliver(out))
            }
            State::MaskedInput { sum, received } => {
                if received.len() < t {
                    return Err(self.abort(Phase::MaskedInput, received.len()));
                }
                self.u3 = received.keys().copied().collect();
                let mut accusers: BTreeMap<ClientIndex, Vec<ClientIndex>> = BTreeMap::new();
                for (by, complaints) in received {
                    for accused in complaints {
                        self.fault(accused, ClientFault::Undecryptable { reported_by: by });
                        accusers.entry(accused).or_default().push(by);
                    }
                }
                let dropped: Vec<ClientIndex> = self
                    .u2
                    .iter()
                    .copied()
                    .filter(|v| self.u3.binary_search(v).is_err())
                    .collect();
                if let Some(short) = self.shortest_neighbourhood(&dropped)
                    && short < t
                {
                    return Err(self.abort(Phase::MaskedInput, short));
                }
                // A dealer whose shares too many holders refused (they did
                // not decrypt or failed its commitments) cannot be unmasked:
                // the round ends naming it (spec/protocol.md section 5.2).
                for (&accused, by) in &accusers {
                    let survivor = self.u3.binary_search(&accused).is_ok();
                    let holders = self.topo.restrict(accused, &self.u3, survivor);
                    let good = holders.iter().filter(|h| !by.contains(h)).count();
                    if good < t {
                        self.state = State::Over;
                        return Err(Error::Client {
                            index: accused,
                            fault: ClientFault::Undecryptable { reported_by: by[0] },
                            outcome: Outcome::Aborted,
                        });
                    }
                }
                if self.params.is_malicious() {
                    let n = self.params.clients();
                    let bitmap = index_bitmap(n, &self.u3);
                    let digest = kx::survivor_set_digest(&self.session, n, &bitmap);
                    let bytes = ConsistencyRequest {
                        session: self.session,
                        clients: n,
                        survivors: self.u3.clone(),
                    }
                    .to_bytes();
                    let out = Outbox::shared(self.u3.clone(), bytes);
                    self.state = State::Consistency {
                        sum,
                        dropped,
                        digest,
                        signatures: BTreeMap::new(),
                    };
                    return Ok(Step::Deliver(out));
                }
                let out = Outbox::built(self.unmask_requests(&dropped, None));
                self.state = State::Unmask {
                    asked: asked_kinds(self.params.clients(), &self.u3, &dropped),
                    sum,
                    dropped,
                    answered: BTreeSet::new(),
                    shares: Vec::new(),
                };
                Ok(Step::Deliver(out))
            }
            State::Consistency {
                sum,
                dropped,
                signatures,
                ..
            } => {
                self.u4 = signatures.keys().copied().collect();
                if self.u4.len() < t {
                    return Err(self.abort(Phase::Consistency, self.u4.len()));
                }
                // Every client whose shares are asked for must have its
                // survivor set certified by t signing neighbours
                // (spec/protocol.md section 5.2).
                let u4 = &self.u4;
                let short = self
                    .u2
                    .iter()
                    .map(|&x| self.topo.restrict(x, u4, false).len())
                    .min()
                    .unwrap_or(0);
                if short < t {
                    return Err(self.abort(Phase::Consistency, short));
                }
                let out = Outbox::built(self.unmask_requests(&dropped, Some(&signatures)));
                self.state = State::Unmask {
                    asked: asked_kinds(self.params.clients(), &self.u3, &dropped),
                    sum,
                    dropped,
                    answered: BTreeSet::new(),
                    shares: Vec::new(),
                };
                Ok(Step::Deliver(out))
            }
            State::Unmask {
                sum,
                dropped,
                shares,
                ..
            } => self.finish(sum, &dropped, &shares).map(Step::Done),
            State::Over => Err(Misuse::RoundOver.into()),
        }
    }

    /// The smallest number of U3 members that can answer for one secret:
    /// for a survivor, itself and its neighbours in U3; for a dropped client,
    /// its neighbours in U3.
    fn shortest_neighbourhood(&self, dropped: &[ClientIndex]) -> Option<usize> {
        match self.topo {
            Topology::Complete { .. } => Some(self.u3.len()),
            Topology::Harary { .. } => self
                .u3
                .iter()
                .map(|&u| self.topo.restrict(u, &self.u3, true).len())
                .chain(
                    dropped
                        .iter()
                        .map(|&v| self.topo.restrict(v, &self.u3, false).len()),
                )
                .min(),
        }
    }

    /// Per client in U1: the session id and the keys of itself and its
    /// neighbours in U1 (spec/protocol.md section 5.2, R0 close).
    /// The complete graph's broadcast is the same bytes for everyone, held
    /// once.
    fn key_broadcasts(&self) -> Outbox {
        let entry = |v: ClientIndex| {
            let (c_pk, s_pk) = self.keys[&v];
            ClientKeys {
                index: v,
                c_pk,
                s_pk,
                signature: self.key_signatures.get(&v).copied(),
            }
        };
        match self.topo {
            Topology::Complete { .. } => {
                let bytes = KeyBroadcast {
                    session: self.session,
                    keys: self.u1.iter().map(|&v| entry(v)).collect(),
                }
                .to_bytes();
                Outbox::shared(self.u1.clone(), bytes)
            }
            Topology::Harary { .. } => Outbox::built(
                self.u1
                    .iter()
                    .map(|&u| {
                        let keys = self
                            .topo
                            .restrict(u, &self.u1, true)
                            .into_iter()
                            .map(entry)
                            .collect();
                        let msg = KeyBroadcast {
                            session: self.session,
                            keys,
                        };
                        (u, msg.to_bytes())
                    })
                    .collect(),
            ),
        }
    }

    /// Per client asked (U3; U4 in the malicious model): its neighbours
    /// (and itself) in U3 and its neighbours in U2 minus U3, and in the
    /// malicious model the evidence of spec/protocol.md section 4.5.
    fn unmask_requests(
        &self,
        dropped: &[ClientIndex],
        signatures: Option<&BTreeMap<ClientIndex, SignatureBytes>>,
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        let askers = if signatures.is_some() {
            &self.u4
        } else {
            &self.u3
        };
        let n = self.params.clients_usize();
        // Dense membership of U2 and of the signers, for the evidence.
        let lookup = signatures.map(|sigs| {
            let mut in_u2 = vec![false; n + 1];
            let mut signed = vec![false; n + 1];
            for &v in &self.u2 {
                in_u2[v as usize] = true;
            }
            for &v in sigs.keys() {
                signed[v as usize] = true;
            }
            (sigs, in_u2, signed)
        });
        // A few consecutive groups of askers in parallel, each with its own
        // marks (n + 1 words), so the marks cost O(n) per group.
        let groups: Vec<&[ClientIndex]> = askers
            .chunks(askers.len().div_ceil(REQUEST_GROUPS).max(1))
            .collect();
        let built = map_all(&groups, |group| {
            let mut marks = Marks::new(if lookup.is_some() { n } else { 0 });
            group
                .iter()
                .map(|&w| {
                    let survivors = self.topo.restrict(w, &self.u3, true);
                    let evidence = lookup.as_ref().map(|(sigs, in_u2, signed)| {
                        self.evidence(&survivors, sigs, in_u2, signed, &mut marks)
                    });
                    let msg = UnmaskRequest {
                        session: self.session,
                        survivors,
                        dropped: self.topo.restrict(w, dropped, false),
                        evidence,
                    };
                    (w, msg.to_bytes())
                })
                .collect::<Vec<_>>()
        });
        built.into_iter().flatten().collect()
    }

    /// The evidence for a client whose surviving neighbourhood (itself
    /// included) is `survivors`: their signed masking sets, and the
    /// consistency signatures of every neighbour of the clients whose
    /// certification it checks (itself, its U2 neighbours, and the U3
    /// neighbours of each survivor named), ascending by signer.
    /// `in_u2[v]` and `signed[v]` say whether client v is in U2 and signed;
    /// `marks` is scratch of n + 1 entries.
    ///
    /// Cost for a Harary graph: O(k^2) (each of the k + 1 survivors' k
    /// neighbours, then each of the at most 2k + 1 clients checked's k
    /// neighbours), with no set built.
    fn evidence(
        &self,
        survivors: &[ClientIndex],
        signatures: &BTreeMap<ClientIndex, SignatureBytes>,
        in_u2: &[bool],
        signed: &[bool],
        marks: &mut Marks,
    ) -> Evidence {
        let masking_sets = survivors
            .iter()
            .filter_map(|o| self.masking_sets.get(o).cloned())
            .collect();
        let signatures = match self.topo {
            Topology::Complete { .. } => signatures.iter().map(|(i, s)| (*i, *s)).collect(),
            Topology::Harary { .. } => {
                evidence_signers(&self.topo, survivors, in_u2, signed, marks)
                    .into_iter()
                    .filter_map(|v| signatures.get(&v).map(|s| (v, *s)))
                    .collect()
            }
        };
        Evidence {
            masking_sets,
            signatures,
        }
    }

    /// Reconstructs every secret needed, checks each against its dealer's
    /// constant-term commitment, and removes the masks from the sum
    /// (spec/protocol.md section 5.3).
    ///
    /// 1. Each secret (a survivor's seed, a dropped client's mask key) is
    ///    interpolated at 0 from the t shares of its interpolation set
    ///    ([`pick_holders`]: the first t by holder on the complete graph, a
    ///    set shared along the ring on a Harary graph, so that about one
    ///    secret in `2h - t + 1` needs a set of its own): the Lagrange
    ///    coefficients of each distinct holder set once
    ///    (`O(t^2)`, one batch inversion per 64 sets, the batches in
    ///    parallel with the `parallel` feature), then `t` multiplications
    ///    per secret, in parallel.
    /// 2. Every candidate `s` is checked against its dealer's `C_0` (kept
    ///    decompressed from R1 intake; after an import, that point alone is
    ///    decompressed now), `s G == C_0`, in a few batched
    ///    multiscalar multiplications of one point per secret run in
    ///    parallel ([`Server::failed_secrets`], spec/crypto.md section 8.3).
    /// 3. Only for a secret that fails, or that has fewer than t shares, are
    ///    its dealer's full commitments decoded and all its shares checked
    ///    ([`Server::recheck`]): the holders of the shares that fail are
    ///    named ([`ClientFault::BadShare`]: proven, the commitments are the
    ///    dealer's own), and the secret is interpolated from its first t
    ///    verified shares. A share outside the interpolation set of a
    ///    secret that passed is neither used nor checked.
    /// 4. A dropped client's mask key must reproduce its advertised `s_pk`;
    ///    when it does not, its own commitments convict it
    ///    ([`ClientFault::SecretMismatch`]) and the round ends.
    /// 5. The masks are derived (the keys of every secret in parallel; for
    ///    a dropped client, one key agreement per surviving neighbour, every
    ///    pair in parallel) and removed from the
    ///    sum chunk by chunk ([`prg::apply_many`]).
    ///
    /// Outcomes are taken in a fixed order (faults by dealer ascending, then
    /// holder ascending; failures U3 ascending then the dropped ascending),
    /// so the failure reported and the faults recorded do not depend on
    /// scheduling.
    fn finish(
        &mut self,
        mut sum: Vec<u64>,
        dropped: &[ClientIndex],
        shares: &[Answers],
    ) -> Result<Aggregate, Error> {
        let t = self.params.threshold_usize();
        let session = self.session;
        let round = self.round;
        let u3 = &self.u3;
        let lists = share_lists(
            self.params.clients(),
            self.params.degree(),
            u3,
            dropped,
            shares,
        );
        // (owner, its shares, its mask public key if it dropped)
        let owners = u3
            .iter()
            .map(|&u| (u, None))
            .chain(dropped.iter().map(|&v| {
                let s_pk = self.keys.get(&v).map(|k| k.1).unwrap_or_default();
                (v, Some(s_pk))
            }));
        let jobs: Vec<(ClientIndex, Vec<&ShareBytes>, Option<PublicKeyBytes>)> = owners
            .zip(lists)
            .map(|((owner, s_pk), list)| (owner, list, s_pk))
            .collect();
        let commitments = core::mem::take(&mut self.commitments);
        let constant_terms = core::mem::take(&mut self.constant_terms);
        // The commitments each secret is checked against: the self-seed
        // polynomial of a survivor, the mask-key one of the dropped; and
        // their C_0 if it was kept decompressed at R1.
        let committed: Vec<(Option<&Points>, Option<&RistrettoPoint>)> = jobs
            .iter()
            .map(|(owner, _, s_pk)| {
                let which = usize::from(s_pk.is_none());
                (
                    commitments.get(*owner).map(|c| c[which]),
                    constant_terms.get(owner).and_then(|c| c.get(which)),
                )
            })
            .collect();
        // The shares each secret is interpolated from, and their holder set
        // among the distinct sets, each set's Lagrange coefficients computed
        // once, every set's denominators inverted in batches; each secret
        // is then t multiplications.
        let (sets, picks) = pick_holders(&self.topo, t, &jobs);
        let distinct: Vec<&[u32]> = sets.iter().map(Vec::as_slice).collect();
        let Ok(coefficients) = shamir::lagrange_at_zero_batch(&distinct) else {
            return Err(self.abort(Phase::Unmask, 0));
        };
        // Per secret: the candidate from its interpolation set and its
        // dealer's C_0 (kept from R1, or that point alone decompressed).
        let candidates: Vec<Candidate> = par_map(
            jobs.iter().zip(&picks).zip(&committed).collect(),
            |(((_, list, _), pick), (c, kept))| {
                // The shares of the secret's holder set, in its order.
                let secret = pick.and_then(|set| {
                    let xs = distinct.get(set)?;
                    let mut wanted = xs.iter().peekable();
                    let shares: Vec<&ShareBytes> = list
                        .iter()
                        .filter(|s| wanted.next_if(|&&x| x == s.x).is_some())
                        .copied()
                        .collect();
                    if shares.len() != xs.len() {
                        return None;
                    }
                    Some(SecretScalar(coefficients.get(set)?.combine(&shares)))
                });
                let c0 = c.and_then(|c| c.first()).and_then(|c0| {
                    let point = kept
                        .copied()
                        .or_else(|| feldman::decode_constant_term(c0))?;
                    Some((point, *c0))
                });
                secret.zip(c0)
            },
        );
        let owners: Vec<ClientIndex> = jobs.iter().map(|(owner, _, _)| *owner).collect();
        let failed = self.failed_secrets(&owners, &candidates);
        // Only the secrets that failed (or had no candidate) are rebuilt from
        // verified shares.
        let rechecked = par_map(
            failed
                .into_iter()
                .filter_map(|i| Some((i, jobs.get(i)?, committed.get(i)?.0)))
                .collect(),
            |(i, (owner, list, _), c)| {
                // Made scalars only here, for a secret being rechecked (the
                // bytes are canonical: none is left out).
                let list: Vec<Share> = list.iter().filter_map(|s| s.to_share()).collect();
                (i, Self::recheck(&session, *owner, &list, c, t))
            },
        );
        let mut faults: Vec<(ClientIndex, ClientIndex)> = rechecked
            .iter()
            .filter_map(|(i, (bad, _))| Some((*owners.get(*i)?, bad)))
            .flat_map(|(owner, bad)| bad.iter().map(move |&x| (owner, x)))
            .collect();
        faults.sort_unstable();
        for (owner, x) in faults {
            self.fault(x, ClientFault::BadShare { owner });
        }
        // The rebuilt secrets are read in place and cloned where they go
        // next, never moved out of a list: each list is then dropped, and
        // its secrets wiped, where they lie (spec/crypto.md section 7).
        let mut outcomes: Vec<Result<Option<&SecretScalar>, usize>> = candidates
            .iter()
            .map(|c| Ok(c.as_ref().map(|(secret, _)| secret)))
            .collect();
        for (i, (_, outcome)) in &rechecked {
            if let Some(slot) = outcomes.get_mut(*i) {
                *slot = outcome.as_ref().map(Option::as_ref).map_err(|&have| have);
            }
        }
        // Survivors' self-mask keys; each dropped client's X25519 mask
        // secret and whether it gives the advertised public key. Derived in
        // parallel, then taken in order, so the first failure is the one
        // reported whatever the scheduling.
        let inputs: Vec<_> = jobs
            .iter()
            .zip(&outcomes)
            .map(|((owner, _, s_pk), outcome)| (*owner, *s_pk, *outcome))
            .collect();
        let derived = map_all(&inputs, |&(owner, s_pk, outcome)| {
            let secret = outcome?;
            Ok(secret.map(|secret| match s_pk {
                None => Derived::SelfMask(kx::self_mask_key(&secret.0, &session, owner)),
                Some(pk) => {
                    let s_sk = kx::mask_secret(&secret.0, &round);
                    let advertised = kx::public_key(&s_sk) == pk;
                    Derived::MaskSecret(owner, s_sk, advertised)
                }
            }))
        });
        drop(inputs);
        drop(outcomes);
        drop(rechecked);
        drop(candidates);
        let mut dropped_sk = Vec::with_capacity(dropped.len());
        for outcome in &derived {
            match outcome {
                Ok(Some(Derived::SelfMask(_))) => {}
                Ok(Some(Derived::MaskSecret(owner, s_sk, true))) => {
                    dropped_sk.push((*owner, s_sk.clone()));
                }
                Ok(Some(Derived::MaskSecret(owner, _, false))) => {
                    let owner = *owner;
                    // Its mask key matched its own C_0: it dealt a key other
                    // than the one it advertised.
                    self.state = State::Over;
                    return Err(self.record(owner, ClientFault::SecretMismatch, Outcome::Aborted));
                }
                Ok(None) => return Err(self.abort(Phase::Unmask, 0)),
                Err(have) => return Err(self.abort(Phase::Unmask, *have)),
            }
        }
        // A dropped client's pairwise masks with U3 are taken away: u added
        // +PRG when u < v, and vice versa. One key agreement per pair, every
        // pair of every dropped client in parallel.
        let u3 = &self.u3;
        let topo = &self.topo;
        let keys = &self.keys;
        let pairs: Vec<(usize, ClientIndex)> = dropped_sk
            .iter()
            .enumerate()
            .flat_map(|(i, (v, _))| {
                topo.restrict(*v, u3, false)
                    .into_iter()
                    .map(move |u| (i, u))
            })
            .collect();
        // The masks taken away, at their final size: each survivor's self
        // mask, then one pairwise mask per pair.
        let mut tasks: Vec<(PrgKey, Sign)> = Vec::with_capacity(derived.len() + pairs.len());
        tasks.extend(derived.iter().filter_map(|outcome| match outcome {
            Ok(Some(Derived::SelfMask(key))) => Some((key.clone(), Sign::Minus)),
            _ => None,
        }));
        drop(derived);
        // Each neighbour's key is prepared once ([8]P on edwards25519) for
        // the variable-time agreement: the server rebuilt these secrets, so
        // their use leaks nothing it may not know (spec/crypto.md 3.1).
        let mut peers: Vec<ClientIndex> = pairs.iter().map(|&(_, u)| u).collect();
        peers.sort_unstable();
        peers.dedup();
        let prepared = par_map(peers.clone(), |u| kx::edwards_peer(&keys.get(&u)?.1));
        // The pairs go in batches that share one inversion (kx::REBUILT_BATCH),
        // the batches in parallel; a peer that could not be prepared (not
        // a point of the curve) takes the X25519 ladder.
        let batches: Vec<&[(usize, ClientIndex)]> = pairs.chunks(kx::REBUILT_BATCH).collect();
        let sign = |u: ClientIndex, v: ClientIndex| if u < v { Sign::Minus } else { Sign::Plus };
        let pair_keys = map_all(&batches, |batch| {
            let mut fast = Vec::with_capacity(batch.len());
            let mut owners = Vec::with_capacity(batch.len());
            let mut keyed = Vec::with_capacity(batch.len());
            for &(i, u) in *batch {
                let Some((v, s_sk)) = dropped_sk.get(i) else {
                    continue;
                };
                let p8 = peers
                    .binary_search(&u)
                    .ok()
                    .and_then(|j| prepared.get(j)?.as_ref());
                if let Some(p8) = p8 {
                    fast.push((s_sk, p8));
                    owners.push((u, *v));
                } else if let Some(shared) = keys.get(&u).and_then(|k| kx::agree(s_sk, &k.1)) {
                    let key = kx::pair_mask_key(&shared, &session, u, *v);
                    keyed.push((key, sign(u, *v)));
                }
            }
            let shared = kx::agree_rebuilt_all(&fast);
            keyed.extend(shared.iter().zip(&owners).filter_map(|(shared, &(u, v))| {
                let shared = shared.as_ref()?;
                Some((kx::pair_mask_key(shared, &session, u, v), sign(u, v)))
            }));
            keyed
        });
        tasks.extend(pair_keys.iter().flatten().cloned());
        drop(pair_keys);
        let bits = self.params.bits();
        prg::apply_many(self.params.prg(), &tasks, bits, &mut sum);
        vector::reduce(&mut sum, bits);
        self.state = State::Over;
        Ok(Aggregate {
            sum,
            survivors: core::mem::take(&mut self.u3),
            misbehaved: core::mem::take(&mut self.misbehaved).into_iter().collect(),
        })
    }

    /// The positions in `candidates` (ascending) of the secrets to rebuild
    /// from verified shares: those without a candidate (fewer than t
    /// shares, or no constant-term commitment that decodes) and those whose
    /// candidate `s` fails `s G == C_0`.
    ///
    /// The candidates, in order, are cut into at most
    /// [`SECRET_BATCH_GROUPS`] consecutive groups of at least
    /// [`SECRET_BATCH_MIN`], each one batched check (in parallel) of one
    /// point per secret; bisection only in a group that fails. The weights
    /// come from a hash of the session and every `(owner, C_0, s)` checked,
    /// so they are fixed only once the shares are (spec/crypto.md section
    /// 8.3).
    fn failed_secrets(&self, owners: &[ClientIndex], candidates: &[Candidate]) -> Vec<usize> {
        let mut failed = Vec::new();
        let mut items: Vec<(&RistrettoPoint, &Scalar)> = Vec::with_capacity(candidates.len());
        let mut position = Vec::with_capacity(candidates.len());
        let mut transcript = Sha256::new();
        transcript.update(labels::SECRET_BATCH);
        transcript.update(self.session);
        for (i, (owner, candidate)) in owners.iter().zip(candidates).enumerate() {
            match candidate {
                Some((secret, (point, c0))) => {
                    transcript.update(owner.to_le_bytes());
                    transcript.update(c0);
                    transcript.update(secret.0.as_bytes());
                    items.push((point, &secret.0));
                    position.push(i);
                }
                None => failed.push(i),
            }
        }
        let seed: [u8; 32] = transcript.finalize().into();
        // Consecutive groups checked as separate batches, in parallel; group
        // g draws its weights from stream g of the seeded generator.
        let size = items
            .len()
            .div_ceil(SECRET_BATCH_GROUPS)
            .max(SECRET_BATCH_MIN);
        failed.extend(
            failing_in_groups(
                &items,
                size,
                &seed,
                feldman::verify_secrets_batch,
                feldman::find_bad_secrets,
            )
            .into_iter()
            .filter_map(|i| position.get(i).copied()),
        );
        failed.sort_unstable();
        failed
    }

    /// Rebuilds the secret of `owner` from verified shares only, for a
    /// secret whose candidate failed its `C_0` (or had none): every share
    /// in `list` (ascending by holder) is checked against the dealer's full
    /// `commitments` in one batched check, bisected if it fails, and the
    /// secret is interpolated from the first t that pass (spec/crypto.md
    /// section 6). The weights come from ChaCha20 keyed by a hash of the
    /// session and every share checked (spec/crypto.md section 8.3).
    ///
    /// Returns the holders whose share failed (ascending; every holder when
    /// the commitments are missing or do not decode) and the secret,
    /// `Err(verified)` with fewer than t verified shares, or `Ok(None)` if
    /// the verified holders are not a valid set.
    fn recheck(
        session: &SessionId,
        owner: ClientIndex,
        list: &[Share],
        commitments: Option<&Points>,
        t: usize,
    ) -> (Vec<ClientIndex>, Result<Option<SecretScalar>, usize>) {
        let decoded = commitments.and_then(|c| feldman::Commitments::decode(&c.concat(), t).ok());
        let Some(decoded) = decoded else {
            return (list.iter().map(|s| s.x).collect(), Err(0));
        };
        let mut transcript = Sha256::new();
        transcript.update(labels::SHARE_BATCH);
        transcript.update(session);
        for share in list {
            transcript.update(owner.to_le_bytes());
            transcript.update(share.x.to_le_bytes());
            transcript.update(share.y.as_bytes());
        }
        let seed: [u8; 32] = transcript.finalize().into();
        let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed);
        let mut items: Vec<ShareItem<'_>> = list.iter().map(|s| (&decoded, s.x, s.y)).collect();
        let bad = if feldman::verify_batch(&items, &mut rng) {
            Vec::new()
        } else {
            feldman::find_bad(&items, &mut rng)
        };
        // The copies of the shares are wiped.
        for item in &mut items {
            item.2.zeroize();
        }
        let verified: Vec<Share> = list
            .iter()
            .enumerate()
            .filter(|(i, _)| bad.binary_search(i).is_err())
            .map(|(_, s)| s.clone())
            .collect();
        let holders = bad
            .iter()
            .filter_map(|&i| list.get(i).map(|s| s.x))
            .collect();
        let Some(first) = verified.get(..t) else {
            return (holders, Err(verified.len()));
        };
        (
            holders,
            Ok(shamir::interpolate_at_zero(first).ok().map(SecretScalar)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Graph;

    fn topology(n: u32, t: u32, graph: Graph) -> Topology {
        Topology::new(&Params::new(n, t, 8, 1, graph).unwrap(), &[7; 32])
    }

    #[test]
    fn marks_start_empty_after_every_clear_and_across_the_wrap() {
        let mut marks = Marks::new(5);
        assert!(marks.insert(3) && !marks.insert(3) && marks.insert(5));
        assert!(!marks.insert(6), "outside 1..=n");
        marks.clear();
        assert!(marks.insert(3) && marks.insert(5));
        marks.now = u32::MAX;
        assert!(marks.insert(2));
        marks.clear();
        assert_eq!(marks.now, 1);
        assert!(marks.insert(2) && marks.insert(3) && marks.insert(5));
        marks.clear();
        assert!(marks.insert(2));
    }

    /// The evidence's signers are the signing neighbours of the survivors
    /// and of their neighbours in U2, as sets would give them, whatever U2,
    /// U3 and the signers are, on rings small enough to wrap onto
    /// themselves and large enough not to.
    #[test]
    fn evidence_signers_are_the_signing_neighbours_of_those_checked() {
        use rand_core::{Rng, SeedableRng};
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(5);
        for (n, k) in [(7, 4), (20, 6), (40, 8), (200, 16), (1000, 30)] {
            let seed = [n as u8; 32];
            let topo = topology(n, 3, Graph::Harary { degree: k, seed });
            let mut marks = Marks::new(n as usize);
            for _ in 0..20 {
                let pick = |rng: &mut chacha20::ChaCha20Rng, of: &[u32], keep: u32| {
                    of.iter()
                        .copied()
                        .filter(|_| rng.next_u32() % 100 < keep)
                        .collect::<Vec<u32>>()
                };
                let all: Vec<u32> = (1..=n).collect();
                let u2 = pick(&mut rng, &all, 90);
                let u3 = pick(&mut rng, &u2, 90);
                let sig = pick(&mut rng, &u3, 90);
                let (mut in_u2, mut signed) =
                    (vec![false; n as usize + 1], vec![false; n as usize + 1]);
                u2.iter().for_each(|&v| in_u2[v as usize] = true);
                sig.iter().for_each(|&v| signed[v as usize] = true);
                for &w in &u3 {
                    let survivors = topo.restrict(w, &u3, true);
                    let mut checked = BTreeSet::new();
                    for &o in &survivors {
                        checked.insert(o);
                        checked.extend(topo.restrict(o, &u2, false));
                    }
                    let expected: Vec<u32> = checked
                        .iter()
                        .flat_map(|&x| topo.restrict(x, &sig, false))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let got = evidence_signers(&topo, &survivors, &in_u2, &signed, &mut marks);
                    assert_eq!(got, expected, "n={n} k={k} w={w}");
                }
            }
        }
    }

    /// The shares `holders` hold of one secret, ascending.
    fn held(holders: &[ClientIndex]) -> Vec<ShareBytes> {
        holders
            .iter()
            .map(|&x| {
                let mut y = [0u8; 32];
                y[..4].copy_from_slice(&x.to_le_bytes());
                ShareBytes::new(x, &y).unwrap()
            })
            .collect()
    }

    /// Every secret of `owners` with `shares[i]` gets a valid set of t of its
    /// own holders, or none with fewer than t.
    fn check_picks(
        topo: &Topology,
        t: usize,
        shares: &[Vec<ShareBytes>],
    ) -> (Vec<Vec<u32>>, Vec<Option<usize>>) {
        let jobs: Vec<(ClientIndex, Vec<&ShareBytes>, Option<PublicKeyBytes>)> = shares
            .iter()
            .zip(1..)
            .map(|(list, owner)| (owner, list.iter().collect(), None))
            .collect();
        let (sets, picks) = pick_holders(topo, t, &jobs);
        for ((_, list, _), pick) in jobs.iter().zip(&picks) {
            let Some(set) = pick else {
                assert!(list.len() < t);
                continue;
            };
            let xs = &sets[*set];
            assert_eq!(xs.len(), t);
            assert!(xs.windows(2).all(|w| w[0] < w[1]));
            assert!(xs.iter().all(|x| list.iter().any(|s| s.x == *x)));
        }
        (sets, picks)
    }

    /// Harary graph, every answer in: each secret is interpolated from t of
    /// its own holders, and consecutive owners on the ring share sets, so
    /// n = 1,000, k = 30, t = 17 needs about n / (2h - t + 1) = 67 sets,
    /// not 1,000. With some holders gone the sets still hold, and a secret
    /// with fewer than t shares gets none.
    #[test]
    fn harary_secrets_share_holder_sets_along_the_ring() {
        let graph = Graph::Harary {
            degree: 30,
            seed: [3; 32],
        };
        let topo = topology(1000, 17, graph.clone());
        let all: Vec<Vec<ShareBytes>> = (1..=1000)
            .map(|u| {
                let mut h = topo.neighbours(u);
                h.push(u);
                h.sort_unstable();
                held(&h)
            })
            .collect();
        let (sets, picks) = check_picks(&topo, 17, &all);
        assert!(picks.iter().all(Option::is_some));
        assert!(sets.len() <= 1000 / 15 + 2, "{} sets", sets.len());
        // One holder in five gone, and one secret with only 16 shares.
        let some: Vec<Vec<ShareBytes>> = (1..=1000u32)
            .map(|u| {
                let mut h: Vec<u32> = topo.neighbours(u);
                h.push(u);
                h.sort_unstable();
                h.retain(|x| x % 5 != 0);
                if u == 10 {
                    h.truncate(16);
                }
                held(&h)
            })
            .collect();
        let (sets, picks) = check_picks(&topo, 17, &some);
        assert!(picks[9].is_none());
        assert_eq!(picks.iter().filter(|p| p.is_none()).count(), 1);
        assert!(sets.len() < 1000 / 2, "{} sets", sets.len());
    }

    /// Complete graph: the first t shares in holder order, one set when
    /// every answer is in.
    #[test]
    fn complete_graph_secrets_use_their_first_t_holders() {
        let topo = topology(9, 4, Graph::Complete);
        let mut shares: Vec<Vec<ShareBytes>> =
            (0..9).map(|_| held(&[1, 2, 3, 4, 5, 6, 7, 8, 9])).collect();
        shares[2] = held(&[2, 4, 6, 8]);
        let (sets, picks) = check_picks(&topo, 4, &shares);
        assert_eq!(sets, vec![vec![1, 2, 3, 4], vec![2, 4, 6, 8]]);
        assert_eq!(picks[0], Some(0));
        assert_eq!(picks[2], Some(1));
        assert_eq!(picks[8], Some(0));
    }

    /// Holder `x`'s answer: for each `(owner, kind)`, a share whose value
    /// names the owner, the kind and the holder.
    fn answer(x: u32, asked: &[(ClientIndex, ShareKind)]) -> Answers {
        asked
            .iter()
            .map(|&(owner, kind)| {
                let mut y = [0u8; 32];
                y[..4].copy_from_slice(&owner.to_le_bytes());
                y[4] = u8::from(kind == ShareKind::MaskKey);
                y[5..9].copy_from_slice(&x.to_le_bytes());
                (owner, kind, ShareBytes::new(x, &y).unwrap())
            })
            .collect()
    }

    /// `share_lists`: whatever order the answers come in, each secret's
    /// list holds exactly its shares (a survivor's seed, a dropped
    /// client's mask key; another kind or owner left out), ascending by
    /// holder, survivors first, then the dropped.
    #[test]
    fn share_lists_are_each_secrets_shares_ascending_by_holder() {
        use ShareKind::{MaskKey, SelfSeed};
        let (u3, dropped) = (vec![2, 3, 5, 7], vec![4, 6]);
        // Holders 7, 2, 5, 3 answer in that order (not ascending), each
        // with shares of some survivors' seeds and dropped clients' keys,
        // and two that no list takes: a survivor's mask key, a dropped
        // client's seed.
        let answers = vec![
            answer(
                7,
                &[(2, SelfSeed), (4, MaskKey), (5, SelfSeed), (7, SelfSeed)],
            ),
            answer(
                2,
                &[(2, SelfSeed), (3, MaskKey), (4, MaskKey), (6, MaskKey)],
            ),
            answer(
                5,
                &[(3, SelfSeed), (5, SelfSeed), (6, SelfSeed), (7, SelfSeed)],
            ),
            answer(
                3,
                &[(2, SelfSeed), (3, SelfSeed), (4, MaskKey), (6, MaskKey)],
            ),
        ];
        let lists = share_lists(8, 4, &u3, &dropped, &answers);
        let got: Vec<Vec<(u32, [u8; 9])>> = lists
            .iter()
            .map(|list| {
                list.iter()
                    .map(|s| {
                        let share = s.to_share().unwrap();
                        let mut head = [0u8; 9];
                        head.copy_from_slice(&share.y.as_bytes()[..9]);
                        (s.x, head)
                    })
                    .collect()
            })
            .collect();
        let want = |owner: u32, kind: u8, xs: &[u32]| -> Vec<(u32, [u8; 9])> {
            xs.iter()
                .map(|&x| {
                    let mut head = [0u8; 9];
                    head[..4].copy_from_slice(&owner.to_le_bytes());
                    head[4] = kind;
                    head[5..9].copy_from_slice(&x.to_le_bytes());
                    (x, head)
                })
                .collect()
        };
        assert_eq!(
            got,
            vec![
                want(2, 0, &[2, 3, 7]),
                want(3, 0, &[3, 5]),
                want(5, 0, &[5, 7]),
                want(7, 0, &[5, 7]),
                want(4, 1, &[2, 3, 7]),
                want(6, 1, &[2, 3]),
            ]
        );
    }

    /// `CommitmentTable`: each sender's two polynomials come back as
    /// inserted, in ascending order of sender; a sender not above the last
    /// is ignored, an absent one is `None`.
    #[test]
    fn commitment_table_gives_back_each_senders_polynomials() {
        use crate::protocol::messages::Commitments;
        let points = |tag: u8, len: usize| -> Commitments {
            (0..len)
                .map(|j| {
                    let mut p = [tag; 32];
                    p[0] = u8::try_from(j).unwrap();
                    p
                })
                .collect()
        };
        let mut table = CommitmentTable::with_capacity(2);
        table.insert(3, [&points(1, 3), &points(2, 3)]);
        table.insert(9, [&points(3, 2), &points(4, 4)]);
        table.insert(9, [&points(5, 3), &points(6, 3)]);
        table.insert(5, [&points(7, 3), &points(8, 3)]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(3), Some([&points(1, 3)[..], &points(2, 3)[..]]));
        assert_eq!(table.get(9), Some([&points(3, 2)[..], &points(4, 4)[..]]));
        for absent in [0, 4, 5, 10] {
            assert_eq!(table.get(absent), None);
        }
        let owners: Vec<ClientIndex> = table.iter().map(|(o, _)| o).collect();
        assert_eq!(owners, [3, 9]);
        // Past one block of points: senders of 2 x 150 points, 6 to a
        // block, each given back whole, the last of a block and the first
        // of the next included.
        let mut big = CommitmentTable::with_capacity(0);
        for owner in 1..=30u8 {
            big.insert(owner.into(), [&points(owner, 150), &points(!owner, 150)]);
        }
        assert_eq!(big.len(), 30);
        for owner in 1..=30u8 {
            let want = [&points(owner, 150)[..], &points(!owner, 150)[..]];
            assert_eq!(big.get(owner.into()), Some(want), "{owner}");
        }
    }
}
