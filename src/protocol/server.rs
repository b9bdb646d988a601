//! The server side of a round (spec/protocol.md section 5).
//!
//! Sans-IO: the host hands every client message to [`Server::receive`] in any
//! order and calls [`Server::close_phase`] at its deadline, which returns the
//! messages to deliver or, after the last phase, the [`Aggregate`]. Masked
//! inputs are added into one running sum as they arrive: memory is O(m) for
//! the vector plus O(n k) for keys, ciphertexts in transit and shares.
//!
//! A message that breaks the protocol is rejected with an [`Error::Client`]
//! naming its sender. Before R2 the sender is excluded from the round; from
//! R2 on its masked input may already be in the sum, so it is named in
//! [`Aggregate::misbehaved`] and its bad message is ignored. Each client is
//! recorded at most once, and senders outside the roster are never recorded,
//! so garbage does not grow the server's memory.

use core::fmt;
use curve25519_dalek::Scalar;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand_core::CryptoRng;

use crate::codec::{Decode, Encode};
use crate::crypto::kx::{self, PublicKeyBytes};
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::shamir::{self, ShamirError, Share};
use crate::error::{ClientFault, ClientIndex, Error, Misuse, Phase};
use crate::graph::Topology;
use crate::params::Params;
use crate::protocol::messages::{
    AdvertiseKeys, Ciphertext, ClientKeys, KeyBroadcast, MaskedInputView, SessionId, ShareDelivery,
    ShareKeys, ShareKind, UnmaskRequest, UnmaskResponse,
};
use crate::vector;

/// Maps `f` over `items`, in parallel with the `parallel` feature; the
/// results keep the order of `items`.
fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items.into_iter().map(f).collect()
    }
}

/// What [`Server::close_phase`] hands back.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Messages for the host to deliver: `(client, bytes)`, ascending.
    Deliver(Vec<(ClientIndex, Vec<u8>)>),
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
enum State {
    AdvertiseKeys {
        keys: BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>,
        seen: HashSet<PublicKeyBytes>,
    },
    ShareKeys {
        received: BTreeMap<ClientIndex, ShareKeys>,
    },
    MaskedInput {
        sum: Vec<u64>,
        received: BTreeMap<ClientIndex, Vec<ClientIndex>>,
    },
    Unmask {
        sum: Vec<u64>,
        dropped: Vec<ClientIndex>,
        answered: BTreeSet<ClientIndex>,
        /// Owner -> shares received of its secret (self seed for survivors,
        /// mask key for dropped).
        shares: BTreeMap<ClientIndex, Vec<Share>>,
    },
    Over,
}

/// The server of one round.
pub struct Server {
    params: Params,
    topo: Topology,
    nonce: [u8; 32],
    state: State,
    session: SessionId,
    /// Public keys of U1.
    keys: BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>,
    /// Seed commitments of U2.
    commitments: BTreeMap<ClientIndex, [u8; 32]>,
    u1: Vec<ClientIndex>,
    u2: Vec<ClientIndex>,
    u3: Vec<ClientIndex>,
    excluded: BTreeSet<ClientIndex>,
    misbehaved: BTreeMap<ClientIndex, ClientFault>,
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
    /// A server for one round; `rng` draws the session nonce.
    pub fn new<R: CryptoRng + ?Sized>(params: &Params, rng: &mut R) -> Self {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        Self {
            topo: Topology::new(params),
            params: params.clone(),
            nonce,
            state: State::AdvertiseKeys {
                keys: BTreeMap::new(),
                seen: HashSet::new(),
            },
            session: [0; 32],
            keys: BTreeMap::new(),
            commitments: BTreeMap::new(),
            u1: Vec::new(),
            u2: Vec::new(),
            u3: Vec::new(),
            excluded: BTreeSet::new(),
            misbehaved: BTreeMap::new(),
        }
    }

    /// The phase whose messages [`Server::receive`] accepts, or `None` once
    /// the round is over.
    pub fn phase(&self) -> Option<Phase> {
        match self.state {
            State::AdvertiseKeys { .. } => Some(Phase::AdvertiseKeys),
            State::ShareKeys { .. } => Some(Phase::ShareKeys),
            State::MaskedInput { .. } => Some(Phase::MaskedInput),
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

    fn fault(&mut self, from: ClientIndex, fault: ClientFault) -> Error {
        self.misbehaved.entry(from).or_insert(fault);
        Error::Client { index: from, fault }
    }

    fn exclude(&mut self, from: ClientIndex, fault: ClientFault) -> Error {
        self.excluded.insert(from);
        match &mut self.state {
            State::AdvertiseKeys { keys, seen } => {
                if let Some((c, s)) = keys.remove(&from) {
                    seen.remove(&c);
                    seen.remove(&s);
                }
            }
            State::ShareKeys { received } => {
                received.remove(&from);
            }
            _ => {}
        }
        self.fault(from, fault)
    }

    /// Takes one client message of the current phase.
    ///
    /// Implements spec/protocol.md section 5.1 (message intake).
    ///
    /// # Errors
    /// [`Error::Client`] naming `from` when it is outside the roster, not
    /// expected in this phase, already heard from, or its message is
    /// malformed, for another session or inconsistent with its neighbourhood;
    /// [`Error::Misuse`] once the round is over.
    pub fn receive(&mut self, from: ClientIndex, bytes: &[u8]) -> Result<(), Error> {
        let n = self.params.clients();
        if matches!(self.state, State::Over) {
            return Err(Misuse::RoundOver.into());
        }
        if from == 0 || from > n {
            return Err(Error::Client {
                index: from,
                fault: ClientFault::UnknownSender,
            });
        }
        let not_in_phase = Error::Client {
            index: from,
            fault: ClientFault::NotInPhase,
        };
        if self.excluded.contains(&from) {
            return Err(not_in_phase);
        }
        let params = &self.params;
        match &mut self.state {
            State::AdvertiseKeys { keys, seen } => {
                if keys.contains_key(&from) {
                    return Err(self.exclude(from, ClientFault::Duplicate));
                }
                let msg = match AdvertiseKeys::decode(params, bytes) {
                    Ok(m) => m,
                    Err(e) => return Err(self.exclude(from, ClientFault::Malformed(e))),
                };
                if kx::is_weak_public_key(&msg.c_pk) || kx::is_weak_public_key(&msg.s_pk) {
                    return Err(self.exclude(from, ClientFault::WeakKey));
                }
                if msg.c_pk == msg.s_pk || seen.contains(&msg.c_pk) || seen.contains(&msg.s_pk) {
                    return Err(self.exclude(from, ClientFault::DuplicateKey));
                }
                seen.insert(msg.c_pk);
                seen.insert(msg.s_pk);
                keys.insert(from, (msg.c_pk, msg.s_pk));
                Ok(())
            }
            State::ShareKeys { received } => {
                if self.u1.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if received.contains_key(&from) {
                    return Err(self.exclude(from, ClientFault::Duplicate));
                }
                let msg = match ShareKeys::decode(params, bytes) {
                    Ok(m) => m,
                    Err(e) => return Err(self.exclude(from, ClientFault::Malformed(e))),
                };
                if msg.session != self.session {
                    return Err(self.exclude(from, ClientFault::WrongSession));
                }
                let expected = self.topo.restrict(from, &self.u1, false);
                if !expected
                    .into_iter()
                    .eq(msg.ciphertexts.iter().map(|(v, _)| *v))
                {
                    return Err(self.exclude(from, ClientFault::WrongRecipients));
                }
                received.insert(from, msg);
                Ok(())
            }
            State::MaskedInput { sum, received } => {
                if self.u2.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if received.contains_key(&from) {
                    return Err(self.fault(from, ClientFault::Duplicate));
                }
                let msg = match MaskedInputView::decode(params, bytes) {
                    Ok(m) => m,
                    Err(e) => return Err(self.exclude(from, ClientFault::Malformed(e))),
                };
                if msg.session != self.session {
                    return Err(self.exclude(from, ClientFault::WrongSession));
                }
                let topo = &self.topo;
                let u2 = &self.u2;
                if !msg
                    .complaints
                    .iter()
                    .all(|&v| topo.adjacent(from, v) && u2.binary_search(&v).is_ok())
                {
                    return Err(self.exclude(from, ClientFault::WrongRecipients));
                }
                vector::add_packed(sum, msg.packed, params.bits());
                received.insert(from, msg.complaints);
                Ok(())
            }
            State::Unmask {
                answered,
                shares,
                dropped,
                ..
            } => {
                if self.u3.binary_search(&from).is_err() {
                    return Err(not_in_phase);
                }
                if answered.contains(&from) {
                    return Err(self.fault(from, ClientFault::Duplicate));
                }
                let msg = match UnmaskResponse::decode(params, bytes) {
                    Ok(m) => m,
                    Err(e) => return Err(self.exclude(from, ClientFault::Malformed(e))),
                };
                if msg.session != self.session {
                    return Err(self.exclude(from, ClientFault::WrongSession));
                }
                let topo = &self.topo;
                let u3 = &self.u3;
                let fits = msg.shares.iter().all(|e| {
                    let near = e.owner == from || topo.adjacent(from, e.owner);
                    let kind_ok = match e.kind {
                        ShareKind::SelfSeed => u3.binary_search(&e.owner).is_ok(),
                        ShareKind::MaskKey => dropped.binary_search(&e.owner).is_ok(),
                    };
                    near && kind_ok
                });
                if !fits {
                    return Err(self.exclude(from, ClientFault::WrongAnswer));
                }
                answered.insert(from);
                for e in &msg.shares {
                    shares.entry(e.owner).or_default().push(Share {
                        x: from,
                        y: e.share,
                    });
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
    /// Implements spec/protocol.md section 5.2 (phase close).
    ///
    /// # Errors
    /// [`Error::NotEnoughSurvivors`] (and the round is over) when fewer than
    /// t clients remain in the phase, or some secret that must be
    /// reconstructed has fewer than t holders left (or too few good shares);
    /// [`Error::Misuse`] once the round is over.
    pub fn close_phase(&mut self) -> Result<Step, Error> {
        let t = self.params.threshold_usize();
        match core::mem::replace(&mut self.state, State::Over) {
            State::AdvertiseKeys { keys, .. } => {
                if keys.len() < t {
                    return Err(self.abort(Phase::AdvertiseKeys, keys.len()));
                }
                self.u1 = keys.keys().copied().collect();
                self.session = kx::session_id(
                    &self.params.to_bytes(),
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
                self.u2 = received.keys().copied().collect();
                let mut inbox: BTreeMap<ClientIndex, Vec<(ClientIndex, Ciphertext)>> =
                    self.u2.iter().map(|&v| (v, Vec::new())).collect();
                for (sender, msg) in received {
                    self.commitments.insert(sender, msg.seed_commitment);
                    for (receiver, ct) in msg.ciphertexts {
                        if let Some(list) = inbox.get_mut(&receiver) {
                            list.push((sender, ct));
                        }
                    }
                }
                let out = inbox
                    .into_iter()
                    .map(|(v, ciphertexts)| {
                        let msg = ShareDelivery {
                            session: self.session,
                            ciphertexts,
                        };
                        (v, msg.to_bytes())
                    })
                    .collect();
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
                for (by, complaints) in received {
                    for accused in complaints {
                        self.fault(accused, ClientFault::Undecryptable { reported_by: by });
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
                let out = self.unmask_requests(&dropped);
                self.state = State::Unmask {
                    sum,
                    dropped,
                    answered: BTreeSet::new(),
                    shares: BTreeMap::new(),
                };
                Ok(Step::Deliver(out))
            }
            State::Unmask {
                sum,
                dropped,
                mut shares,
                ..
            } => self.finish(sum, &dropped, &mut shares).map(Step::Done),
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
    fn key_broadcasts(&self) -> Vec<(ClientIndex, Vec<u8>)> {
        let entry = |v: ClientIndex| {
            let (c_pk, s_pk) = self.keys[&v];
            ClientKeys {
                index: v,
                c_pk,
                s_pk,
            }
        };
        match self.topo {
            Topology::Complete { .. } => {
                let bytes = KeyBroadcast {
                    session: self.session,
                    keys: self.u1.iter().map(|&v| entry(v)).collect(),
                }
                .to_bytes();
                self.u1.iter().map(|&u| (u, bytes.clone())).collect()
            }
            Topology::Harary { .. } => self
                .u1
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
        }
    }

    /// Per client in U3: its neighbours (and itself) in U3 and its
    /// neighbours in U2 minus U3.
    fn unmask_requests(&self, dropped: &[ClientIndex]) -> Vec<(ClientIndex, Vec<u8>)> {
        self.u3
            .iter()
            .map(|&w| {
                let msg = UnmaskRequest {
                    session: self.session,
                    survivors: self.topo.restrict(w, &self.u3, true),
                    dropped: self.topo.restrict(w, dropped, false),
                };
                (w, msg.to_bytes())
            })
            .collect()
    }

    /// Reconstructs every secret needed, verifying each, and removes the
    /// masks from the sum (spec/protocol.md section 5.3).
    ///
    /// 1. Every secret goes through the fast path of verified reconstruction
    ///    (`O(N t)`), in parallel with the `parallel` feature.
    /// 2. The few it cannot settle (a wrong share among the first `t`) go,
    ///    in order, through the full decoder with the shares of every holder
    ///    named so far moved to the back: a liar costs the `O(N^3)` decoder
    ///    about once, not once per secret it holds a share of (with the
    ///    complete graph, every secret).
    /// 3. The masks are derived (for a dropped client, one key agreement per
    ///    surviving neighbour), in parallel, and removed from the sum.
    ///
    /// Outcomes are taken in a fixed order, U3 ascending then the dropped
    /// ascending, so the failure reported and the faults recorded do not
    /// depend on scheduling.
    fn finish(
        &mut self,
        mut sum: Vec<u64>,
        dropped: &[ClientIndex],
        shares: &mut BTreeMap<ClientIndex, Vec<Share>>,
    ) -> Result<Aggregate, Error> {
        let t = self.params.threshold_usize();
        let session = self.session;
        // (owner, its shares, its mask public key if it dropped)
        let mut jobs: Vec<(ClientIndex, Vec<Share>, Option<PublicKeyBytes>)> =
            Vec::with_capacity(self.u3.len() + dropped.len());
        for &u in &self.u3 {
            jobs.push((u, shares.remove(&u).unwrap_or_default(), None));
        }
        for &v in dropped {
            let s_pk = self.keys.get(&v).map(|k| k.1).unwrap_or_default();
            jobs.push((v, shares.remove(&v).unwrap_or_default(), Some(s_pk)));
        }
        // Not needed after this round; taken so that faults can be recorded
        // while the checks borrow them.
        let commitments = core::mem::take(&mut self.commitments);
        let commitments = &commitments;
        let check = |owner: ClientIndex, s_pk: Option<PublicKeyBytes>| {
            let commitment = commitments.get(&owner).copied().unwrap_or_default();
            move |secret: &Scalar| match s_pk {
                // A survivor's self-mask seed, against its commitment.
                None => kx::seed_commitment(secret, &session, owner) == commitment,
                // A dropped client's mask key, against its public key.
                Some(pk) => kx::public_key(&kx::mask_secret(secret)) == pk,
            }
        };
        let first = par_map(jobs, |(owner, list, s_pk)| {
            let outcome = shamir::reconstruct_fast(&list, t, check(owner, s_pk));
            (owner, list, s_pk, outcome)
        });
        let mut secrets = Vec::with_capacity(first.len());
        for (owner, mut list, s_pk, outcome) in first {
            let outcome = match outcome {
                Err(ShamirError::NeedsDecoding) => {
                    let named = &self.misbehaved;
                    list.sort_by_key(|s| named.contains_key(&s.x));
                    shamir::reconstruct_verified(&list, t, check(owner, s_pk))
                }
                other => other,
            };
            let rec = self.recovered(owner, list.len(), outcome)?;
            for &x in &rec.bad {
                self.fault(x, ClientFault::BadShare { owner });
            }
            secrets.push((owner, s_pk.is_some(), rec));
        }
        let u3 = &self.u3;
        let topo = &self.topo;
        let keys = &self.keys;
        let masks = par_map(secrets, |(owner, is_dropped, rec)| {
            if !is_dropped {
                // A survivor's self mask is taken away.
                return vec![(kx::self_mask_key(&rec.secret, &session, owner), Sign::Minus)];
            }
            // A dropped client's pairwise masks with U3 are taken away: u
            // added +PRG when u < v, and vice versa.
            let s_sk = kx::mask_secret(&rec.secret);
            topo.restrict(owner, u3, false)
                .into_iter()
                .filter_map(|u| {
                    let shared = kx::agree(&s_sk, &keys.get(&u)?.1)?;
                    let key = kx::pair_mask_key(&shared, &session, u, owner);
                    Some((key, if u < owner { Sign::Minus } else { Sign::Plus }))
                })
                .collect()
        });
        let tasks: Vec<(PrgKey, Sign)> = masks.into_iter().flatten().collect();
        let bits = self.params.bits();
        prg::apply_many(&tasks, bits, &mut sum);
        vector::reduce(&mut sum, bits);
        self.state = State::Over;
        Ok(Aggregate {
            sum,
            survivors: core::mem::take(&mut self.u3),
            misbehaved: core::mem::take(&mut self.misbehaved).into_iter().collect(),
        })
    }

    /// The outcome of the verified reconstruction of `owner`'s secret from
    /// `have` shares: passes a success through, ends the round on a failure.
    fn recovered<T>(
        &mut self,
        owner: ClientIndex,
        have: usize,
        outcome: Result<T, ShamirError>,
    ) -> Result<T, Error> {
        let t = self.params.threshold_usize();
        match outcome {
            Ok(v) => Ok(v),
            // The owner is blamed only when framing it would take at least
            // t lying holders (agreeing - t + 1 >= t), which the threat model
            // rules out; below that the round cannot tell who lied.
            Err(ShamirError::Rejected { agreeing }) if agreeing + 1 >= 2 * t => {
                self.state = State::Over;
                Err(self.fault(owner, ClientFault::SecretMismatch))
            }
            Err(_) => Err(self.abort(Phase::Unmask, have)),
        }
    }
}
