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
//! model, so the share count would catch a failure.
//!
//! The exhaustive search (`exhaustive`, spec/security.md P2). A plan gives
//! each honest client one survivor set `S`, any of the `2^n = 512` subsets
//! of the clients (clients that signed another set, corrupt clients,
//! itself, may each be in it or not), and puts it in a group; the members
//! of a group share a set, sign it, and are each shown the unmask request
//! for it with the signatures of the group and of every corrupt client (and
//! every signed masking set: a corrupt client's is the one it signed in
//! R2, its whole neighbourhood with full delivery, the most check 4 of
//! that section accepts). Groups may share a set. That is every way to
//! ask each honest client once, up to which valid signatures on its set a
//! holder is shown: a holder's checks ask for at least t of them among
//! given neighbourhoods (spec/protocol.md section 4.5), so a signature
//! left out never turns a refusal into an answer. Counted as a partition
//! of the honest clients into groups and a set per group, the plans number
//! `sum_b S(h, b) 512^b`: about 2.6e24 at c = 0 (h = 9), 5.0e21 at c = 1.
//! The search reaches the same answer exactly by three reductions:
//!
//! - a client shown a set it refuses to sign gives nothing and adds no
//!   signature: the plan reveals what the plan without it does. Every
//!   honest client is asked to sign every set (4608 requests at c = 0);
//!   groups are made of a set's signers only (13966 (group, set) pairs at
//!   c = 0, 8989 at c = 1).
//! - a signer that refuses with every signature on its set (all its
//!   signers' and the corrupt clients') refuses in every group, by the
//!   rule above: a group is played only if it holds a signer that answers
//!   with all of them (3670 worlds at c = 0, 3126 at c = 1), and only
//!   those signers are asked.
//! - plans are combined by their shares, a union; an option of a group
//!   whose shares another option of the same group also gives is dropped,
//!   and a branch whose shares plus every option still open unmask nobody
//!   is cut (unmasking is monotone in the shares).
//!
//! These counts are what the rules of spec/protocol.md section 4.5 give on
//! H(4, 9), computed apart from the library; the tests assert them, so a
//! search that asks fewer clients or plays fewer worlds fails.
//! `the_search_finds_the_attack_beyond_c` runs the same search with three
//! corrupt clients, where it must find, and finds, an honest client
//! unmasked through honest holders' shares.

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

    /// What honest `w` reveals when it signs `set` and is then shown the
    /// unmask request for it with `evidence`, or its refusal.
    fn answer(
        &self,
        w: ClientIndex,
        set: &[ClientIndex],
        evidence: &Evidence,
    ) -> Result<Revealed, Error> {
        let mut c = self.fork(w);
        c.receive(&self.consistency_request(set), &mut rng(0))?;
        let bytes = c.receive(&self.request(w, set, Some(evidence.clone())), &mut rng(0))?;
        let mut revealed = vec![[0u32; 2]; self.params.clients() as usize + 1];
        for e in &UnmaskResponse::decode(&self.params, &bytes).unwrap().shares {
            revealed[e.owner as usize][kind_slot(e.kind)] |= 1 << w;
        }
        Ok(revealed)
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

/// What one exhaustive search went through and found.
#[derive(Debug)]
struct Search {
    /// The honest clients some plan unmasks.
    exposed: BTreeSet<ClientIndex>,
    /// Consistency requests: every honest client asked to sign every set.
    requests: usize,
    /// Worlds played: a group of honest clients that all sign one set,
    /// shown that set.
    worlds: usize,
    /// Worlds in which some member answered.
    answering: usize,
    /// Undominated (group, revealed shares) options left for the cover.
    options: usize,
    /// Nodes of the cover search, and complete plans reached.
    nodes: usize,
    plans: usize,
}

/// The clients of survivor set `s`: bit `x - 1` for client `x`.
fn clients_of(n: u32, s: u32) -> Vec<ClientIndex> {
    (1..=n).filter(|x| s >> (x - 1) & 1 == 1).collect()
}

/// Whether `a` holds every share `b` holds.
fn covers(a: &Revealed, b: &Revealed) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x[0] & y[0] == y[0] && x[1] & y[1] == y[1])
}

/// The exhaustive search of the module doc, in three steps.
///
/// 1. Every honest client is asked to sign every one of the `2^n`
///    survivor sets (a fresh copy of it each time): the signers of each
///    set.
/// 2. For every set `S` and every non-empty group `W` of its honest
///    signers, the world `(W, S)` is played: each member signs `S` and is
///    shown the unmask request for `S` with the signatures of `W` and of
///    the corrupt clients. What the members reveal is kept, per group, as
///    an option; an option whose shares another option of the same group
///    also gives is dropped.
/// 3. Every plan is a cover of the honest clients by disjoint groups, each
///    with one of its options, the others revealing nothing; the search
///    goes through all of them, cutting a branch when the shares it has
///    plus every option of every group still open unmask nobody it has
///    not found unmasked already.
fn exhaustive(round: &Round) -> Search {
    assert!(round.params.is_malicious());
    let honest = round.honest();
    let n = round.params.clients();
    let mut search = Search {
        exposed: BTreeSet::new(),
        requests: 0,
        worlds: 0,
        answering: 0,
        options: 0,
        nodes: 0,
        plans: 0,
    };
    // 1. The honest signers of each set, as a mask over `honest`, and
    // their signatures.
    let h = honest.len();
    let mut signatures = vec![Vec::new(); 1 << n];
    let signers: Vec<usize> = (0..1u32 << n)
        .zip(&mut signatures)
        .map(|(s, sigs)| {
            let set = clients_of(n, s);
            let req = round.consistency_request(&set);
            let mut mask = 0;
            for (j, &w) in honest.iter().enumerate() {
                search.requests += 1;
                match round.fork(w).receive(&req, &mut rng(0)) {
                    Ok(bytes) => {
                        let resp = ConsistencyResponse::decode(&round.params, &bytes).unwrap();
                        sigs.push((w, resp.signature));
                        mask |= 1 << j;
                    }
                    Err(e) if set.contains(&w) => assert!(typed(&e), "{e:?}"),
                    Err(e) => assert_eq!(e, Error::Server(ServerFault::SelfNotSurvivor)),
                }
            }
            mask
        })
        .collect();
    // 2. Every world in which a member may answer, and the undominated
    // options of each group.
    let mut by_group: BTreeMap<usize, Vec<Revealed>> = BTreeMap::new();
    for (s, &all) in (0..).zip(&signers) {
        let set = clients_of(n, s);
        let evidence = |group: usize| {
            let mut signatures: Vec<(ClientIndex, [u8; 64])> = signatures[s as usize]
                .iter()
                .filter(|(w, _)| {
                    honest
                        .iter()
                        .position(|x| x == w)
                        .is_some_and(|j| group >> j & 1 == 1)
                })
                .copied()
                .chain(round.corrupt.iter().map(|&x| (x, round.sign(x, &set))))
                .collect();
            signatures.sort_unstable_by_key(|(x, _)| *x);
            Evidence {
                masking_sets: round.masking_sets.clone(),
                signatures,
            }
        };
        // The signers that answer with every signature on the set: no
        // other signer answers in any group (fewer signatures).
        let full = evidence(all);
        let answerers = (0..h)
            .filter(|&j| all >> j & 1 == 1 && round.answer(honest[j], &set, &full).is_ok())
            .fold(0, |m, j| m | 1 << j);
        let mut group = all;
        while group != 0 {
            if group & answerers != 0 {
                let shown = evidence(group);
                let mut revealed = vec![[0u32; 2]; n as usize + 1];
                for j in (0..h).filter(|j| group & answerers >> j & 1 == 1) {
                    match round.answer(honest[j], &set, &shown) {
                        Ok(r) => merge(&mut revealed, &r),
                        Err(e) => assert!(typed(&e), "{e:?}"),
                    }
                }
                search.worlds += 1;
                if revealed.iter().any(|r| r[0] | r[1] != 0) {
                    search.answering += 1;
                    by_group.entry(group).or_default().push(revealed);
                }
            }
            group = (group - 1) & all;
        }
    }
    let mut options = Vec::new();
    for (group, mut found) in by_group {
        found.sort_unstable();
        found.dedup();
        for r in &found {
            if !found.iter().any(|o| o != r && covers(o, r)) {
                options.push((group, r.clone()));
            }
        }
    }
    search.options = options.len();
    // 3. Every cover of the honest clients by groups with options.
    fn cover(
        round: &Round,
        honest: &[ClientIndex],
        options: &[(usize, Revealed)],
        open: usize,
        held: &Revealed,
        search: &mut Search,
    ) {
        search.nodes += 1;
        let mut bound = held.clone();
        for (_, r) in options.iter().filter(|(g, _)| g & !open == 0) {
            merge(&mut bound, r);
        }
        let new = |u: &&ClientIndex| !search.exposed.contains(*u);
        if !honest.iter().filter(new).any(|&u| round.unmasks(&bound, u)) {
            return;
        }
        if open == 0 {
            search.plans += 1;
            search
                .exposed
                .extend(honest.iter().filter(|&&u| round.unmasks(held, u)));
            return;
        }
        // The first open client reveals nothing, or joins a group.
        let j = open.trailing_zeros();
        cover(round, honest, options, open & !(1 << j), held, search);
        for (g, r) in options
            .iter()
            .filter(|(g, _)| g >> j & 1 == 1 && g & !open == 0)
        {
            let mut next = held.clone();
            merge(&mut next, r);
            cover(round, honest, options, open & !g, &next, search);
        }
    }
    let base = round.corrupt_knowledge();
    cover(
        round,
        &honest,
        &options,
        (1 << honest.len()) - 1,
        &base,
        &mut search,
    );
    search
}

/// No corrupt client: no plan unmasks an honest input. 4608 consistency
/// requests (9 clients, 512 sets), 3670 worlds played.
#[test]
fn no_plan_unmasks_an_honest_client_at_c_0() {
    let round = run(&params(Some(0)), &[], |_, _| true);
    let search = exhaustive(&round);
    assert_eq!((search.requests, search.worlds), (4608, 3670), "{search:?}");
    assert!(search.answering > 0 && search.nodes > 0, "{search:?}");
    assert!(search.exposed.is_empty(), "{search:?}");
}

/// One corrupt client (c = 1, the most t = 3 allows on k = 4), which
/// signs every set and is in it or not: no plan unmasks an honest input.
/// 4096 consistency requests, 3126 worlds.
#[test]
fn no_plan_unmasks_an_honest_client_at_c_1() {
    let round = run(&params(Some(1)), &[1], |_, _| true);
    let search = exhaustive(&round);
    assert_eq!((search.requests, search.worlds), (4096, 3126), "{search:?}");
    assert!(search.answering > 0 && search.nodes > 0, "{search:?}");
    assert!(search.exposed.is_empty(), "{search:?}");
}

/// The clients in ring order: H(4, 9) is the circulant graph on nine
/// vertices with steps 1 and 2, relabelled, so each client neighbours the
/// two before and the two after it. Two clients one step apart have two
/// common neighbours, two steps apart one.
fn ring(p: &Params) -> Vec<ClientIndex> {
    let nb = |x: ClientIndex| p.neighbours(&ROUND, x);
    let common =
        |a: ClientIndex, b: ClientIndex| nb(a).iter().filter(|v| nb(b).contains(v)).count();
    let mut order = vec![1];
    while order.len() < N as usize {
        let last = order[order.len() - 1];
        let next = nb(last)
            .into_iter()
            .find(|&v| common(last, v) == 2 && !order.contains(&v))
            .unwrap();
        order.push(next);
    }
    let n = N as usize;
    for (i, &x) in order.iter().enumerate() {
        let around: BTreeSet<ClientIndex> = [1, 2, n - 1, n - 2]
            .iter()
            .map(|d| order[(i + d) % n])
            .collect();
        assert_eq!(nb(x).into_iter().collect::<BTreeSet<_>>(), around);
    }
    order
}

/// The search finds an attack where one exists, so a search that played
/// no world or combined nothing fails here: three corrupt clients (beyond
/// the c = 1 the parameters allow, and as many as t), at ring positions
/// 0, 1 and 4. It unmasks exactly the clients at positions 2 and 3, the
/// second only with honest holders' shares (3072 requests, 1860 worlds).
#[test]
fn the_search_finds_the_attack_beyond_c() {
    let p = params(Some(1));
    let r = ring(&p);
    let round = run(&p, &[r[0], r[1], r[4]], |_, _| true);
    let search = exhaustive(&round);
    assert_eq!((search.requests, search.worlds), (3072, 1860), "{search:?}");
    // r[2] has three corrupt neighbours, whose shares alone unmask it; r[3]
    // has two, and is unmasked only with shares honest holders gave.
    let alone: BTreeSet<ClientIndex> = round
        .honest()
        .into_iter()
        .filter(|&u| round.unmasks(&round.corrupt_knowledge(), u))
        .collect();
    assert_eq!(alone, BTreeSet::from([r[2]]));
    assert_eq!(search.exposed, BTreeSet::from([r[2], r[3]]), "{search:?}");
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
/// any plan of the exhaustive search unmasks anyone (911 worlds), nor
/// with one of the two kept senders corrupt (c = 1; 962 worlds).
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
    let search = exhaustive(&mal);
    assert_eq!((search.requests, search.worlds), (4608, 911), "{search:?}");
    assert!(search.answering > 0, "{search:?}");
    assert!(search.exposed.is_empty(), "{search:?}");
    let mal = run(&params(Some(1)), &nb[..1], keep);
    let search = exhaustive(&mal);
    assert_eq!((search.requests, search.worlds), (4096, 962), "{search:?}");
    assert!(search.answering > 0, "{search:?}");
    assert!(search.exposed.is_empty(), "{search:?}");
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
