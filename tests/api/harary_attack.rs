//! The malicious-server model on a SecAgg+ Harary graph
//! (spec/threat-model.md P2, spec/params.md section 4.7.2, spec/protocol.md
//! section 4.5): a server that tells different clients different stories
//! about who dropped, helped by up to c corrupt clients, never collects the
//! shares that unmask an honest client's input, as long as `2t - k > c`
//! with the signatures counted among the owner's k neighbours.
//!
//! H(4, 9), t = 3: the least t the malicious model accepts at c = 0, and
//! the largest c it accepts at that t (`2t - k = 2 > 1`, no slack). The
//! attacker runs R0 to R2 with the real server, then plays the server from
//! there: it forks each client (state export and import) to ask it
//! whatever it likes, and each plan it tries uses each honest client once.
//! A corrupt client is one whose secrets and held shares the attacker
//! knows, and which signs any survivor set it is asked to (its signature
//! is made here from its identity key, as spec/crypto.md section 9 says).
//! A per-client plan (two stories) unmasks every input in the semi-honest
//! model, so the share count would catch a failure; with the holders'
//! certification checks taken out of the client (checked by editing it),
//! the c = 1 search and that plan unmask inputs in the malicious model too.
//! The search covers plans whose worlds are shown exactly their members
//! (and the corrupt clients), not sets that also list clients who signed
//! another set (spec/security.md, P2).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signer, SigningKey};
use secagg::protocol::messages::{
    ConsistencyRequest, ConsistencyResponse, Evidence, MaskedInput, MaskingSet, ShareDelivery,
    ShareKind, UnmaskRequest, UnmaskResponse, index_bitmap,
};
use secagg::{
    Client, ClientIndex, ClientPhase, Decode, Encode, Error, Graph, Identity, Params, Roster,
    Server, ServerFault, ServerModel, StateKey, Step, labels,
};
use sha2::{Digest, Sha256};

use crate::common::{ROUND, rng};

pub(crate) const N: u32 = 9;
const K: u32 = 4;
pub(crate) const T: u32 = 3;

/// H(4, 9) with t = 3; malicious with the corrupt count `c` when given.
pub(crate) fn params(c: Option<u32>) -> Params {
    let p = Params::new(
        N,
        T,
        16,
        2,
        Graph::Harary {
            degree: K,
            seed: [3; 32],
        },
    )
    .unwrap();
    match c {
        Some(corrupt) => p.with_model(ServerModel::Malicious { corrupt }).unwrap(),
        None => p,
    }
}

/// Per owner, per kind (0: self-mask seed, 1: mask key), the holders whose
/// share the attacker has, as a bitmask over client indices.
type Revealed = Vec<[u32; 2]>;

fn kind_slot(kind: ShareKind) -> usize {
    match kind {
        ShareKind::SelfSeed => 0,
        ShareKind::MaskKey => 1,
    }
}

fn merge(into: &mut Revealed, from: &Revealed) {
    for (a, b) in into.iter_mut().zip(from) {
        a[0] |= b[0];
        a[1] |= b[1];
    }
}

/// A round run to the end of R2 by the real server, every client's state
/// sealed there so that the attacker can fork it.
pub(crate) struct Round {
    params: Params,
    ids: Vec<Identity>,
    key: StateKey,
    session: [u8; 32],
    sealed: BTreeMap<ClientIndex, Vec<u8>>,
    /// The senders each client received shares from (its masking set).
    views: BTreeMap<ClientIndex, BTreeSet<ClientIndex>>,
    /// Every signed masking set, ascending by owner (malicious model).
    pub(crate) masking_sets: Vec<MaskingSet>,
    /// Clients whose secrets, shares and signing keys the attacker holds.
    corrupt: BTreeSet<ClientIndex>,
}

/// Runs R0 to R2; the ShareDelivery to client `to` keeps the senders for
/// which `keep(to, from)` holds.
pub(crate) fn run(
    params: &Params,
    corrupt: &[ClientIndex],
    keep: impl Fn(ClientIndex, ClientIndex) -> bool,
) -> Round {
    let mut r = rng(41);
    let n = params.clients();
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let malicious = params.is_malicious();
    let mut server = if malicious {
        Server::with_roster(params, ROUND, &roster, &mut r).unwrap()
    } else {
        Server::new(params, ROUND, &mut r).unwrap()
    };
    let mut clients = BTreeMap::new();
    for i in 1..=n {
        let (mut c, msg) = if malicious {
            Client::with_identity(params, ROUND, i, &ids[i as usize - 1], &roster, &mut r)
        } else {
            Client::new(params, ROUND, i, &mut r)
        }
        .unwrap();
        c.set_input(&[u64::from(i); 2]).unwrap();
        server.receive(i, &msg).unwrap();
        clients.insert(i, c);
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!("R0 closes")
    };
    for (i, msg) in d {
        let out = clients.get_mut(&i).unwrap().receive(&msg, &mut r).unwrap();
        server.receive(i, &out).unwrap();
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!("R1 closes")
    };
    let key = StateKey::generate(&mut r);
    let (mut session, mut sealed, mut views, mut masking_sets) =
        ([0; 32], BTreeMap::new(), BTreeMap::new(), Vec::new());
    for (i, msg) in d {
        let mut delivery = ShareDelivery::decode(params, &msg).unwrap();
        session = delivery.session;
        delivery.shares.retain(|s| keep(i, s.sender));
        let view: BTreeSet<ClientIndex> = delivery.shares.iter().map(|s| s.sender).collect();
        let c = clients.get_mut(&i).unwrap();
        let out = c.receive(&delivery.to_bytes(), &mut r).unwrap();
        if let Some(signature) = MaskedInput::decode(params, &out).unwrap().signature {
            // spec/crypto.md section 9: bit j for the j-th neighbour, ascending.
            let bitmap = params
                .neighbours(&ROUND, i)
                .chunks(8)
                .map(|byte| {
                    (0..)
                        .zip(byte)
                        .filter(|(_, v)| view.contains(v))
                        .fold(0u8, |b, (j, _)| b | 1 << j)
                })
                .collect();
            masking_sets.push(MaskingSet {
                owner: i,
                bitmap,
                signature,
            });
        }
        sealed.insert(i, c.export(&key, &mut r));
        views.insert(i, view);
    }
    Round {
        params: params.clone(),
        ids,
        key,
        session,
        sealed,
        views,
        masking_sets,
        corrupt: corrupt.iter().copied().collect(),
    }
}

impl Round {
    fn honest(&self) -> Vec<ClientIndex> {
        (1..=self.params.clients())
            .filter(|i| !self.corrupt.contains(i))
            .collect()
    }

    /// A copy of client `w` as it stood after sending its masked input.
    pub(crate) fn fork(&self, w: ClientIndex) -> Client {
        let phase = if self.params.is_malicious() {
            ClientPhase::ConsistencyRequest
        } else {
            ClientPhase::UnmaskRequest
        };
        Client::import(&self.sealed[&w], &self.key, &ROUND, phase).unwrap()
    }

    /// Client `signer`'s consistency signature on `set`, made from its
    /// identity key as spec/crypto.md section 9 defines it.
    pub(crate) fn sign(&self, signer: ClientIndex, set: &[ClientIndex]) -> [u8; 64] {
        let n = self.params.clients();
        let digest: [u8; 32] = Sha256::new()
            .chain_update(labels::SURVIVOR_SET)
            .chain_update(self.session)
            .chain_update(n.to_le_bytes())
            .chain_update(index_bitmap(n, set))
            .finalize()
            .into();
        let mut msg = labels::SIG_CONSISTENCY.to_vec();
        msg.extend_from_slice(&self.session);
        msg.extend_from_slice(&signer.to_le_bytes());
        msg.extend_from_slice(&digest);
        let sk = SigningKey::from_bytes(&self.ids[signer as usize - 1].secret_bytes());
        sk.sign(&msg).to_bytes()
    }

    /// The consistency request for the survivor set `set`.
    pub(crate) fn consistency_request(&self, set: &[ClientIndex]) -> Vec<u8> {
        ConsistencyRequest {
            session: self.session,
            clients: self.params.clients(),
            survivors: set.to_vec(),
        }
        .to_bytes()
    }

    /// The unmask request for `w` when the survivor set is `set`: `set`
    /// seen from `w`.
    pub(crate) fn request(
        &self,
        w: ClientIndex,
        set: &[ClientIndex],
        evidence: Option<Evidence>,
    ) -> Vec<u8> {
        let view = &self.views[&w];
        // Survivors are `set` seen from `w`, `w` itself included.
        let (mut survivors, dropped): (BTreeSet<_>, BTreeSet<_>) =
            view.iter().partition(|x| set.contains(x));
        survivors.insert(&w);
        UnmaskRequest {
            session: self.session,
            survivors: survivors.into_iter().copied().collect(),
            dropped: dropped.into_iter().copied().collect(),
            evidence,
        }
        .to_bytes()
    }

    /// What the corrupt clients hold: both shares of every owner in their
    /// view and of themselves.
    fn corrupt_knowledge(&self) -> Revealed {
        let mut out = vec![[0u32; 2]; self.params.clients() as usize + 1];
        for &w in &self.corrupt {
            for o in self.views[&w].iter().chain([&w]) {
                out[*o as usize][0] |= 1 << w;
                out[*o as usize][1] |= 1 << w;
            }
        }
        out
    }

    /// Shows the honest `members` the survivor set `set`: each signs it
    /// (malicious model), then gets the unmask request for `set` with every
    /// signature on it (the members' and the corrupt clients') and every
    /// signed masking set. Returns what they reveal and their refusals.
    fn world(&self, members: &[ClientIndex], set: &[ClientIndex]) -> (Revealed, Vec<Error>) {
        let mut revealed = vec![[0u32; 2]; self.params.clients() as usize + 1];
        let mut refusals = Vec::new();
        let mut forks: Vec<(ClientIndex, Client)> =
            members.iter().map(|&w| (w, self.fork(w))).collect();
        let evidence = if self.params.is_malicious() {
            let req = self.consistency_request(set);
            let mut signatures = Vec::new();
            forks.retain_mut(|(w, c)| match c.receive(&req, &mut rng(0)) {
                Ok(bytes) => {
                    let resp = ConsistencyResponse::decode(&self.params, &bytes).unwrap();
                    signatures.push((*w, resp.signature));
                    true
                }
                Err(e) => {
                    refusals.push(e);
                    false
                }
            });
            signatures.extend(self.corrupt.iter().map(|&x| (x, self.sign(x, set))));
            signatures.sort_unstable_by_key(|(x, _)| *x);
            Some(Evidence {
                masking_sets: self.masking_sets.clone(),
                signatures,
            })
        } else {
            None
        };
        for (w, c) in &mut forks {
            match c.receive(&self.request(*w, set, evidence.clone()), &mut rng(0)) {
                Ok(bytes) => {
                    let resp = UnmaskResponse::decode(&self.params, &bytes).unwrap();
                    for e in &resp.shares {
                        revealed[e.owner as usize][kind_slot(e.kind)] |= 1 << *w;
                    }
                }
                Err(e) => refusals.push(e),
            }
        }
        (revealed, refusals)
    }

    /// Whether `revealed` removes every mask from honest `u`'s input: t
    /// shares of `b_u`, and for each peer `v` it masked with, `a_u` or
    /// `a_v` (t shares), or `v` corrupt (it knows `p_uv`).
    fn unmasks(&self, revealed: &Revealed, u: ClientIndex) -> bool {
        let t = self.params.threshold();
        let has = |o: ClientIndex, k: usize| revealed[o as usize][k].count_ones() >= t;
        has(u, 0)
            && (has(u, 1)
                || self.views[&u]
                    .iter()
                    .all(|&v| self.corrupt.contains(&v) || has(v, 1)))
    }
}

/// Whether a refusal is one the consistency checks give.
fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Server(
            ServerFault::NotCertified { .. }
                | ServerFault::NotEnoughNeighbours { .. }
                | ServerFault::UnexpectedPeer { .. }
        )
    )
}

/// The honest clients whose input some plan of the family unmasks, over
/// every partition of the honest clients into worlds, each world shown
/// the survivor set made of its members and the corrupt clients (or, with
/// `corrupt_survive` false, its members alone). Also returns the number of
/// plans and whether any honest client answered at all.
fn exhaustive(round: &Round, corrupt_survive: bool) -> (BTreeSet<ClientIndex>, usize, bool) {
    let honest = round.honest();
    let h = honest.len();
    // Every world: the members are the bits of `mask` over `honest`.
    let mut worlds = vec![Vec::new(); 1 << h];
    let mut answered = false;
    for (mask, slot) in worlds.iter_mut().enumerate().skip(1) {
        let members: Vec<ClientIndex> = (0..h)
            .filter(|j| mask >> j & 1 == 1)
            .map(|j| honest[j])
            .collect();
        let mut set: BTreeSet<ClientIndex> = members.iter().copied().collect();
        if corrupt_survive {
            set.extend(&round.corrupt);
        }
        let set: Vec<ClientIndex> = set.into_iter().collect();
        let (revealed, refusals) = round.world(&members, &set);
        assert!(refusals.iter().all(typed), "{refusals:?}");
        answered |= revealed.iter().any(|r| r[0] | r[1] != 0);
        *slot = revealed;
    }
    // Every set partition of the honest clients, as the list of its worlds'
    // masks: client j joins an existing world or opens a new one.
    let base = round.corrupt_knowledge();
    let mut exposed = BTreeSet::new();
    let mut plans = 0;
    let mut parts: Vec<usize> = Vec::new();
    fn visit(j: usize, h: usize, parts: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
        if j == h {
            f(parts);
            return;
        }
        for i in 0..parts.len() {
            parts[i] |= 1 << j;
            visit(j + 1, h, parts, f);
            parts[i] &= !(1 << j);
        }
        parts.push(1 << j);
        visit(j + 1, h, parts, f);
        parts.pop();
    }
    visit(0, h, &mut parts, &mut |parts| {
        plans += 1;
        let mut revealed = base.clone();
        for &m in parts {
            merge(&mut revealed, &worlds[m]);
        }
        for &u in &honest {
            if round.unmasks(&revealed, u) {
                exposed.insert(u);
            }
        }
    });
    (exposed, plans, answered)
}

/// The 21147 partitions of the 9 clients into worlds (Bell number B9),
/// with no corrupt client: no honest input is unmasked.
#[test]
fn no_world_partition_unmasks_an_honest_client_at_c_0() {
    let round = run(&params(Some(0)), &[], |_, _| true);
    let (exposed, plans, answered) = exhaustive(&round, true);
    assert_eq!(plans, 21147);
    assert!(answered, "the search reached the answering path");
    assert!(exposed.is_empty(), "exposed: {exposed:?}");
}

/// One corrupt client (c = 1, the most t = 3 allows on k = 4), surviving
/// in every world or dropped from every one: no honest input is unmasked
/// in any of the 4140 partitions (B8) of the other eight.
#[test]
fn no_world_partition_unmasks_an_honest_client_at_c_1() {
    let p = params(Some(1));
    for corrupt in [1, 5] {
        let round = run(&p, &[corrupt], |_, _| true);
        for survive in [true, false] {
            let (exposed, plans, answered) = exhaustive(&round, survive);
            assert_eq!(plans, 4140);
            assert!(answered);
            assert!(
                exposed.is_empty(),
                "corrupt {corrupt}, survive {survive}: exposed {exposed:?}"
            );
        }
    }
}

/// The two-stories plan against `u`: every other client `w` is told that
/// the members of `V_u` it neighbours dropped (so it gives their mask-key
/// shares), and everyone else, `u` included, survived (so the neighbours of
/// `u` give `b_u` shares); `u` is told nobody dropped. In the malicious
/// model each client is first asked to sign its survivor set, and the
/// clients shown the same set share their signatures.
fn two_stories(round: &Round, u: ClientIndex) -> (Revealed, Vec<Error>) {
    let n = round.params.clients();
    let mut worlds: BTreeMap<Vec<ClientIndex>, Vec<ClientIndex>> = BTreeMap::new();
    for w in round.honest() {
        let nw = round.params.neighbours(&ROUND, w);
        let set: Vec<ClientIndex> = (1..=n)
            .filter(|x| w == u || !(round.views[&u].contains(x) && nw.contains(x)))
            .collect();
        worlds.entry(set).or_default().push(w);
    }
    let mut revealed = round.corrupt_knowledge();
    let mut refusals = Vec::new();
    for (set, members) in &worlds {
        let (r, e) = round.world(members, set);
        merge(&mut revealed, &r);
        refusals.extend(e);
    }
    (revealed, refusals)
}

/// The two-stories plan unmasks every client in the semi-honest model (out
/// of its scope, spec/threat-model.md section 2), and no honest client in
/// the malicious model, at c = 0 or with client 5 corrupt (c = 1), whose
/// honest clients refuse with typed faults.
#[test]
fn two_stories_unmask_in_the_semi_honest_model_only() {
    let semi = run(&params(None), &[], |_, _| true);
    for u in 1..=N {
        let (revealed, refusals) = two_stories(&semi, u);
        assert!(refusals.is_empty(), "{refusals:?}");
        assert!(semi.unmasks(&revealed, u), "semi-honest, client {u}");
    }
    for (c, corrupt) in [(0, vec![]), (1, vec![5])] {
        let mal = run(&params(Some(c)), &corrupt, |_, _| true);
        for u in mal.honest() {
            let (revealed, refusals) = two_stories(&mal, u);
            for v in mal.honest() {
                assert!(
                    !mal.unmasks(&revealed, v),
                    "c = {c}, plan on {u}: {v} exposed"
                );
            }
            assert!(!refusals.is_empty());
            assert!(refusals.iter().all(typed), "{refusals:?}");
        }
    }
}

/// The trimmed-delivery attack on H(4, 9): client 1 receives shares from
/// t - 1 = 2 of its neighbours only. The two-stories plan on it unmasks it
/// in the semi-honest model; in the malicious model neither that plan nor
/// any of the 21147 world partitions unmasks anyone, nor, with one of the
/// two kept senders corrupt (c = 1), any of the 4140 partitions of the
/// others.
#[test]
fn trimmed_delivery_fails_on_a_harary_graph() {
    let nb = params(None).neighbours(&ROUND, 1);
    let keep = |to: ClientIndex, from: ClientIndex| to != 1 || nb[..2].contains(&from);
    let semi = run(&params(None), &[], keep);
    assert_eq!(semi.views[&1].len(), T as usize - 1);
    let (revealed, refusals) = two_stories(&semi, 1);
    assert!(refusals.is_empty(), "{refusals:?}");
    assert!(semi.unmasks(&revealed, 1));
    let mal = run(&params(Some(0)), &[], keep);
    let (revealed, refusals) = two_stories(&mal, 1);
    assert!((1..=N).all(|v| !mal.unmasks(&revealed, v)));
    assert!(refusals.iter().all(typed), "{refusals:?}");
    let (exposed, plans, answered) = exhaustive(&mal, true);
    assert_eq!(plans, 21147);
    assert!(answered);
    assert!(exposed.is_empty(), "exposed: {exposed:?}");
    let mal = run(&params(Some(1)), &nb[..1], keep);
    for survive in [true, false] {
        let (exposed, plans, answered) = exhaustive(&mal, survive);
        assert_eq!(plans, 4140);
        assert!(answered);
        assert!(exposed.is_empty(), "survive {survive}: exposed {exposed:?}");
    }
}

/// spec/protocol.md section 4.5, spec/params.md section 4.7.2: a survivor
/// set is certified at owner `o` by t signers among `o`'s k neighbours,
/// `o` itself not counted. Evidence with t - 1 of them plus `o`'s own
/// signature, plus every non-neighbour of `o`, is refused with
/// `NotCertified { peer: o }`; one more neighbour's signature and the same
/// holder answers. The attacker's signatures made from identity keys are
/// the clients' own (Ed25519 is deterministic).
#[test]
fn certification_counts_only_the_owners_neighbours() {
    let p = params(Some(0));
    let round = run(&p, &[], |_, _| true);
    let all: Vec<ClientIndex> = (1..=N).collect();
    let req = round.consistency_request(&all);
    // Every client's own signature on the full set.
    let own: BTreeMap<ClientIndex, [u8; 64]> = all
        .iter()
        .map(|&w| {
            let bytes = round.fork(w).receive(&req, &mut rng(0)).unwrap();
            let sig = ConsistencyResponse::decode(&p, &bytes).unwrap().signature;
            assert_eq!(sig, round.sign(w, &all), "client {w}");
            (w, sig)
        })
        .collect();
    let nb = |x: ClientIndex| p.neighbours(&ROUND, x);
    let o = 1;
    // Two neighbours of o that no other client neighbours both: leaving
    // them out leaves o with t - 1 = 2 neighbour signers and every other
    // client with at least t.
    let pairs: Vec<(ClientIndex, ClientIndex)> = nb(o)
        .iter()
        .flat_map(|&a| {
            nb(o)
                .into_iter()
                .filter(move |&b| b > a)
                .map(move |b| (a, b))
        })
        .collect();
    let &(r1, r2) = pairs
        .iter()
        .find(|(a, b)| (1..=N).all(|x| x == o || !(nb(x).contains(a) && nb(x).contains(b))))
        .expect("H(4, 9) has such a pair");
    let holder = nb(o).into_iter().find(|&w| w != r1 && w != r2).unwrap();
    let evidence = |signers: &BTreeSet<ClientIndex>| Evidence {
        masking_sets: round.masking_sets.clone(),
        signatures: signers.iter().map(|&s| (s, own[&s])).collect(),
    };
    let short: BTreeSet<ClientIndex> = all
        .iter()
        .copied()
        .filter(|&x| x != r1 && x != r2)
        .collect();
    let count =
        |x: ClientIndex, s: &BTreeSet<ClientIndex>| nb(x).iter().filter(|v| s.contains(v)).count();
    assert_eq!(count(o, &short), T as usize - 1);
    assert!(short.contains(&o), "the owner's own signature is there");
    assert!(short.len() > T as usize, "and non-neighbours of the owner");
    assert!((1..=N).all(|x| x == o || count(x, &short) >= T as usize));
    let mut c = round.fork(holder);
    c.receive(&req, &mut rng(0)).unwrap();
    // (`.err()`: the shares of a wrong answer are not printed.)
    assert_eq!(
        c.receive(
            &round.request(holder, &all, Some(evidence(&short))),
            &mut rng(0)
        )
        .err(),
        Some(Error::Server(ServerFault::NotCertified { peer: o }))
    );
    // The state is spent; a fresh holder with one more neighbour's
    // signature answers, with its share of o's self-mask seed.
    let mut enough = short.clone();
    enough.insert(r1);
    let mut c = round.fork(holder);
    c.receive(&req, &mut rng(0)).unwrap();
    let bytes = c
        .receive(
            &round.request(holder, &all, Some(evidence(&enough))),
            &mut rng(0),
        )
        .unwrap();
    let resp = UnmaskResponse::decode(&p, &bytes).unwrap();
    assert!(
        resp.shares
            .iter()
            .any(|e| e.owner == o && e.kind == ShareKind::SelfSeed)
    );
}

/// Check 4 of spec/protocol.md section 4.5: a holder gives a survivor's
/// self-mask-seed share only if that survivor's signed masking set covers
/// its neighbours in the survivor set. Client 1 was delivered shares from
/// two neighbours only; the full set, signed by the eight others and so
/// certified at every client, still names client 1's other neighbours:
/// its neighbour holders refuse, naming it, and so they do when its signed
/// masking set is left out of the evidence.
#[test]
fn a_survivors_own_masking_set_bounds_the_set() {
    let p = params(Some(0));
    let nb = p.neighbours(&ROUND, 1);
    let round = run(&p, &[], |to, from| to != 1 || nb[..2].contains(&from));
    let all: Vec<ClientIndex> = (1..=N).collect();
    let req = round.consistency_request(&all);
    assert_eq!(
        round.fork(1).receive(&req, &mut rng(0)).err(),
        Some(Error::Server(ServerFault::UnexpectedPeer { peer: nb[2] }))
    );
    let signatures: Vec<(ClientIndex, [u8; 64])> =
        (2..=N).map(|w| (w, round.sign(w, &all))).collect();
    for x in 1..=N {
        let signed = p.neighbours(&ROUND, x).iter().filter(|&&v| v != 1).count();
        assert!(signed >= T as usize, "certified at {x}");
    }
    for holder in &nb[2..] {
        for with_own in [true, false] {
            let mut c = round.fork(*holder);
            c.receive(&req, &mut rng(0)).unwrap();
            let masking_sets = round
                .masking_sets
                .iter()
                .filter(|m| with_own || m.owner != 1)
                .cloned()
                .collect();
            let evidence = Evidence {
                masking_sets,
                signatures: signatures.clone(),
            };
            assert_eq!(
                c.receive(&round.request(*holder, &all, Some(evidence)), &mut rng(0))
                    .err(),
                Some(Error::Server(ServerFault::NotCertified { peer: 1 })),
                "holder {holder}, own masking set {with_own}"
            );
        }
    }
}
