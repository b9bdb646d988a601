//! The malicious-server model against the attacks that broke P2 in v1
//! (spec/threat-model.md P2, spec/security.md): a server that trims one
//! client's ShareDelivery and equivocates about who dropped, and a server
//! that substitutes public keys. Each attack is mounted through the public
//! API by a server that forges whatever it can; the test then counts the
//! shares the honest clients revealed and checks that they do not complete
//! the attack. The same attacks against the semi-honest model succeed,
//! which shows the count would catch a failure.

use std::collections::{BTreeMap, BTreeSet};

use secagg::protocol::messages::{
    AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, Evidence, KeyBroadcast, MaskedInput,
    MaskingSet, ShareDelivery, ShareKind, UnmaskRequest, UnmaskResponse,
};
use secagg::{
    AwaitingKeys, AwaitingUnmask, ClientIndex, Decode, Encode, Error, Graph, Identity, Params,
    Roster, Server, ServerFault, ServerModel, Step,
};

use crate::common::{ROUND, rng};

/// Every party of a round up to the end of R2, the server honest so far
/// except for the delivery `trim` makes to each client.
struct Setup {
    params: Params,
    /// Clients that sent their masked input, in the state awaiting the
    /// consistency or unmask request.
    clients: BTreeMap<ClientIndex, AwaitingUnmask>,
    /// The senders each client received shares from (its masking set).
    views: BTreeMap<ClientIndex, BTreeSet<ClientIndex>>,
    /// The signed masking sets from the clients' MaskedInput messages,
    /// ascending by owner (malicious model), for the server to forward.
    masking_sets: Vec<MaskingSet>,
    session: [u8; 32],
}

fn params(n: u32, t: u32, malicious: bool) -> Params {
    let p = Params::new(n, t, 32, 4, Graph::Complete).unwrap();
    if malicious {
        p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap()
    } else {
        p
    }
}

/// Runs R0 and R1 with the real server, then delivers to each client the
/// ShareDelivery with the senders `trim` keeps, and collects every masked
/// input (the attacker does not care that an honest server would refuse
/// the trimmed client's signature).
fn setup(params: &Params, trim: impl Fn(ClientIndex, ClientIndex) -> bool) -> Setup {
    let mut r = rng(77);
    let n = params.clients();
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = if params.is_malicious() {
        Server::with_roster(params, ROUND, &roster, &mut r).unwrap()
    } else {
        Server::new(params, ROUND, &mut r).unwrap()
    };
    let mut s0 = BTreeMap::new();
    for i in 1..=n {
        let (c, msg) = if params.is_malicious() {
            AwaitingKeys::with_identity(params, ROUND, i, &ids[i as usize - 1], &roster, &mut r)
        } else {
            AwaitingKeys::new(params, ROUND, i, &mut r)
        }
        .unwrap();
        server.receive(i, &msg).unwrap();
        s0.insert(i, c);
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!("R0 closes")
    };
    let mut s1 = BTreeMap::new();
    for (i, msg) in d {
        let mut c = s0.remove(&i).unwrap();
        let (c, out) = c.receive(&msg, &mut r).unwrap();
        server.receive(i, &out).unwrap();
        s1.insert(i, c);
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!("R1 closes")
    };
    let mut clients = BTreeMap::new();
    let mut views = BTreeMap::new();
    let mut masking_sets = Vec::new();
    let mut session = [0; 32];
    for (i, msg) in d {
        let mut delivery = ShareDelivery::decode(params, &msg).unwrap();
        session = delivery.session;
        delivery.shares.retain(|s| trim(i, s.sender));
        let view: BTreeSet<ClientIndex> = delivery.shares.iter().map(|s| s.sender).collect();
        let mut c = s1.remove(&i).unwrap();
        let (c, out) = c.receive(&delivery.to_bytes(), &[u64::from(i); 4]).unwrap();
        if let Some(signature) = MaskedInput::decode(params, &out).unwrap().signature {
            // The complete graph: bit j for the j-th other client, ascending.
            let others: Vec<ClientIndex> = (1..=n).filter(|&v| v != i).collect();
            let mut bitmap = vec![0u8; others.len().div_ceil(8)];
            for (j, v) in others.iter().enumerate() {
                if view.contains(v) {
                    bitmap[j / 8] |= 1 << (j % 8);
                }
            }
            masking_sets.push(MaskingSet {
                owner: i,
                bitmap,
                signature,
            });
        }
        views.insert(i, view);
        clients.insert(i, c);
    }
    Setup {
        params: params.clone(),
        clients,
        views,
        masking_sets,
        session,
    }
}

/// The shares the honest clients revealed: `(owner, kind) -> holders`.
type Revealed = BTreeMap<(ClientIndex, ShareKind), BTreeSet<ClientIndex>>;

fn collect(revealed: &mut Revealed, p: &Params, holder: ClientIndex, bytes: &[u8]) {
    let resp = UnmaskResponse::decode(p, bytes).unwrap();
    for e in &resp.shares {
        revealed
            .entry((e.owner, e.kind))
            .or_default()
            .insert(holder);
    }
}

/// Whether the revealed shares let the server remove every mask from
/// `u`'s masked input: `b_u`, and for each peer `v` it masked with, `a_u`
/// or `a_v` (t shares each).
fn unmasks(
    revealed: &Revealed,
    t: usize,
    u: ClientIndex,
    masked_with: &BTreeSet<ClientIndex>,
) -> bool {
    let has = |o, k| revealed.get(&(o, k)).is_some_and(|h| h.len() >= t);
    has(u, ShareKind::SelfSeed)
        && (has(u, ShareKind::MaskKey) || masked_with.iter().all(|&v| has(v, ShareKind::MaskKey)))
}

/// The trimmed-delivery attack of the v1 review: client 1 is delivered only
/// t - 1 senders V = {2, 3}; then holder w is told that the members of
/// `dropped_for(w)` dropped (everyone else in its view survived). In the
/// malicious model the server also runs the consistency round, sending each
/// client the survivor set its plan needs, and forwards every signature it
/// collected on that set.
fn trimmed_attack(malicious: bool) -> (Revealed, Vec<(ClientIndex, Error)>, Setup) {
    let p = params(5, 3, malicious);
    let mut s = setup(&p, |to, from| to != 1 || from == 2 || from == 3);
    // Holders 4 and 5 are told 2 and 3 dropped, 2 that 3 did, 3 that 2
    // did: each a_v gets t = 3 shares, and b_1 four.
    let dropped_for = |w: ClientIndex| -> BTreeSet<ClientIndex> {
        match w {
            2 => [3].into(),
            3 => [2].into(),
            4 | 5 => [2, 3].into(),
            _ => BTreeSet::new(),
        }
    };
    let survivors_for = |w: ClientIndex, view: &BTreeSet<ClientIndex>| -> Vec<ClientIndex> {
        let drop = dropped_for(w);
        let mut v: Vec<ClientIndex> = view.iter().copied().filter(|x| !drop.contains(x)).collect();
        v.push(w);
        v.sort_unstable();
        v
    };
    let n = p.clients();
    // The survivor set the plan shows each client: everyone but the ones it
    // is told dropped.
    let global_for = |w: ClientIndex| -> Vec<ClientIndex> {
        let drop = dropped_for(w);
        (1..=n).filter(|x| !drop.contains(x)).collect()
    };
    let mut errors = Vec::new();
    let mut signatures: BTreeMap<Vec<ClientIndex>, Vec<(ClientIndex, [u8; 64])>> = BTreeMap::new();
    if malicious {
        for (&w, c) in &mut s.clients {
            let set = global_for(w);
            let req = ConsistencyRequest {
                session: s.session,
                clients: n,
                survivors: set.clone(),
            };
            match c.consistency(&req.to_bytes()) {
                Ok(bytes) => {
                    let resp = ConsistencyResponse::decode(&p, &bytes).unwrap();
                    signatures.entry(set).or_default().push((w, resp.signature));
                }
                Err(e) => errors.push((w, e)),
            }
        }
    }
    let mut revealed = Revealed::new();
    let ws: Vec<ClientIndex> = s.clients.keys().copied().collect();
    for w in ws {
        let view = s.views[&w].clone();
        let survivors = survivors_for(w, &view);
        let dropped: Vec<ClientIndex> = dropped_for(w)
            .into_iter()
            .filter(|x| view.contains(x))
            .collect();
        let evidence = malicious.then(|| Evidence {
            masking_sets: s.masking_sets.clone(),
            signatures: signatures.get(&global_for(w)).cloned().unwrap_or_default(),
        });
        let req = UnmaskRequest {
            session: s.session,
            survivors,
            dropped,
            evidence,
        };
        match s.clients.get_mut(&w).unwrap().receive(&req.to_bytes()) {
            Ok(bytes) => collect(&mut revealed, &p, w, &bytes),
            Err(e) => errors.push((w, e)),
        }
    }
    (revealed, errors, s)
}

#[test]
fn trimmed_delivery_recovers_an_input_in_the_semi_honest_model() {
    let (revealed, errors, s) = trimmed_attack(false);
    assert!(errors.is_empty(), "{errors:?}");
    let t = s.params.threshold() as usize;
    assert!(
        unmasks(&revealed, t, 1, &s.views[&1]),
        "the attack is out of the semi-honest model's scope, and works: {revealed:?}"
    );
}

#[test]
fn trimmed_delivery_fails_in_the_malicious_model() {
    let (revealed, errors, s) = trimmed_attack(true);
    let t = s.params.threshold() as usize;
    assert!(
        !unmasks(&revealed, t, 1, &s.views[&1]),
        "client 1's input is exposed: {revealed:?}"
    );
    // No mask key of the peers client 1 masked with is revealed at all, and
    // the refusals are typed.
    for v in &s.views[&1] {
        assert!(
            !revealed.contains_key(&(*v, ShareKind::MaskKey)),
            "a_{v} shares revealed"
        );
    }
    assert!(!errors.is_empty());
    for (w, e) in &errors {
        assert!(
            matches!(
                e,
                Error::Server(
                    ServerFault::NotCertified { .. }
                        | ServerFault::UnexpectedPeer { .. }
                        | ServerFault::SurvivorSetChanged
                )
            ),
            "client {w}: {e:?}"
        );
    }
}

/// Every survivor set the server could show, tried on every client in turn
/// (each honest client signs at most one): whatever the server collects,
/// client 1's input stays masked. n = 5, t = 3, the trimmed delivery of the
/// attack above; the server may choose, per client, any set and any
/// unmask request, and forwards every signature it holds on that set.
#[test]
fn no_survivor_set_plan_unmasks_the_trimmed_client() {
    let p = params(5, 3, true);
    let n = p.clients();
    let t = p.threshold() as usize;
    // A plan: a survivor set per client (a bitmask over 1..=5).
    let sets: Vec<Vec<ClientIndex>> = (1u32..32)
        .map(|mask| (1..=n).filter(|i| mask & (1 << (i - 1)) != 0).collect())
        .collect();
    // An honest client signs only a set that names it.
    let with = |w: ClientIndex| -> Vec<&Vec<ClientIndex>> {
        sets.iter().filter(|s| s.contains(&w)).collect()
    };
    let (for1, for4) = (with(1), with(4));
    // The set an honest server would use: client 1's masking-set signature
    // does not match what it was delivered, so it is excluded.
    let honest: Vec<ClientIndex> = (2..=n).collect();
    let mut worst = 0usize;
    for plan in 0..for1.len() * for4.len() {
        // Clients 1 and 4 get the set the plan picks (among them the one
        // the attack needs, where 2 and 3 dropped); the others the honest
        // set, which they sign.
        let pick = |w: ClientIndex| -> &Vec<ClientIndex> {
            match w {
                1 => for1[plan % for1.len()],
                4 => for4[plan / for1.len()],
                _ => &honest,
            }
        };
        let mut s = setup(&p, |to, from| to != 1 || from == 2 || from == 3);
        let mut signatures: BTreeMap<Vec<ClientIndex>, Vec<(ClientIndex, [u8; 64])>> =
            BTreeMap::new();
        for (&w, c) in &mut s.clients {
            let req = ConsistencyRequest {
                session: s.session,
                clients: n,
                survivors: pick(w).clone(),
            };
            if let Ok(bytes) = c.consistency(&req.to_bytes()) {
                let resp = ConsistencyResponse::decode(&p, &bytes).unwrap();
                signatures
                    .entry(pick(w).clone())
                    .or_default()
                    .push((w, resp.signature));
            }
        }
        let mut revealed = Revealed::new();
        let ws: Vec<ClientIndex> = s.clients.keys().copied().collect();
        for w in ws {
            let set = pick(w);
            let view = &s.views[&w];
            let survivors: Vec<ClientIndex> = view
                .iter()
                .copied()
                .chain([w])
                .filter(|x| set.contains(x))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let dropped: Vec<ClientIndex> =
                view.iter().copied().filter(|x| !set.contains(x)).collect();
            let req = UnmaskRequest {
                session: s.session,
                survivors,
                dropped,
                evidence: Some(Evidence {
                    masking_sets: s.masking_sets.clone(),
                    signatures: signatures.get(set).cloned().unwrap_or_default(),
                }),
            };
            if let Ok(bytes) = s.clients.get_mut(&w).unwrap().receive(&req.to_bytes()) {
                collect(&mut revealed, &p, w, &bytes);
            }
        }
        assert!(
            !unmasks(&revealed, t, 1, &s.views[&1]),
            "plan {plan} exposes client 1: {revealed:?}"
        );
        worst = worst.max(revealed.values().map(BTreeSet::len).sum());
    }
    // The server does get shares for some plans (so the loop exercised the
    // answering path), never the ones it needs.
    assert!(worst > 0);
}

/// The key-substitution attack: the server replaces every neighbour's keys
/// in client 1's KeyBroadcast with keys of its own. In the malicious model
/// the forwarded signatures do not cover them and client 1 refuses before
/// dealing a single share; in the semi-honest model it accepts (out of that
/// model's scope, as its docs say).
#[test]
fn key_substitution_is_refused_in_the_malicious_model() {
    for malicious in [false, true] {
        let p = params(10, if malicious { 6 } else { 10 }, malicious);
        let mut r = rng(5);
        let ids: Vec<Identity> = (0..10).map(|_| Identity::generate(&mut r)).collect();
        let roster =
            Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
        let mut server = if malicious {
            Server::with_roster(&p, ROUND, &roster, &mut r).unwrap()
        } else {
            Server::new(&p, ROUND, &mut r).unwrap()
        };
        let start = |i: ClientIndex, r: &mut chacha20::ChaCha20Rng| {
            if malicious {
                AwaitingKeys::with_identity(&p, ROUND, i, &ids[i as usize - 1], &roster, r)
            } else {
                AwaitingKeys::new(&p, ROUND, i, r)
            }
            .unwrap()
        };
        let mut clients = BTreeMap::new();
        for i in 1..=10 {
            let (c, msg) = start(i, &mut r);
            server.receive(i, &msg).unwrap();
            clients.insert(i, c);
        }
        let Ok(Step::Deliver(d)) = server.close_phase() else {
            panic!()
        };
        // The attacker's own key pairs, made the way any client makes them;
        // it forwards the genuine signatures (it can make no others that
        // verify under the roster keys).
        let plain = params(10, 10, false);
        let d = d.into_vec();
        let mut forged = KeyBroadcast::decode(&p, &d[0].1).unwrap();
        for k in forged.keys.iter_mut().filter(|k| k.index != 1) {
            let (_, own) = AwaitingKeys::new(&plain, ROUND, k.index, &mut r).unwrap();
            let own = AdvertiseKeys::decode(&plain, &own).unwrap();
            k.c_pk = own.c_pk;
            k.s_pk = own.s_pk;
        }
        let c1 = clients.get_mut(&1).unwrap();
        let got = c1.receive(&forged.to_bytes(), &mut r);
        if malicious {
            assert_eq!(
                got.unwrap_err(),
                Error::Server(ServerFault::BadSignature { peer: 2 })
            );
            // The state is spent: nothing can be dealt afterwards.
            assert!(c1.receive(&d[0].1, &mut r).is_err());
        } else {
            assert!(
                got.is_ok(),
                "the semi-honest model trusts the server's keys"
            );
        }
    }
}

/// An AdvertiseKeys from another round (a replay of keys whose secret may
/// have been reconstructed there) is refused by the server, and a key
/// broadcast carrying another round's signed keys is refused by the client.
#[test]
fn keys_from_another_round_are_refused() {
    let p = params(4, 3, true);
    let mut r = rng(9);
    let ids: Vec<Identity> = (0..4).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let old_round = [0x11; 32];
    let (_, old) = AwaitingKeys::with_identity(&p, old_round, 2, &ids[1], &roster, &mut r).unwrap();
    let mut server = Server::with_roster(&p, ROUND, &roster, &mut r).unwrap();
    assert_eq!(
        server.receive(2, &old),
        Err(Error::Client {
            index: 2,
            fault: secagg::ClientFault::WrongSession,
            outcome: secagg::Outcome::Excluded,
        })
    );
    // The server now forwards the old message's keys and signature to
    // client 1 as client 2's.
    let mut clients = BTreeMap::new();
    for i in [1u32, 3, 4] {
        let (c, msg) =
            AwaitingKeys::with_identity(&p, ROUND, i, &ids[i as usize - 1], &roster, &mut r)
                .unwrap();
        server.receive(i, &msg).unwrap();
        clients.insert(i, c);
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!()
    };
    let mut kb = KeyBroadcast::decode(&p, &d.message(1).unwrap()).unwrap();
    let old = AdvertiseKeys::decode(&p, &old).unwrap();
    kb.keys.push(secagg::protocol::messages::ClientKeys {
        index: 2,
        c_pk: old.c_pk,
        s_pk: old.s_pk,
        signature: old.signature,
    });
    kb.keys.sort_by_key(|k| k.index);
    assert_eq!(
        clients
            .get_mut(&1)
            .unwrap()
            .receive(&kb.to_bytes(), &mut r)
            .unwrap_err(),
        Error::Server(ServerFault::BadSignature { peer: 2 })
    );
}

/// A survivor signs one set: a second, different consistency request is
/// refused, a byte-identical one gets the same signature, and an unmask
/// request that does not match the signed set reveals nothing.
#[test]
fn a_client_signs_one_survivor_set() {
    let p = params(5, 3, true);
    let mut s = setup(&p, |_, _| true);
    let c = s.clients.get_mut(&1).unwrap();
    let req = |set: Vec<ClientIndex>| {
        ConsistencyRequest {
            session: s.session,
            clients: 5,
            survivors: set,
        }
        .to_bytes()
    };
    let first = c.consistency(&req(vec![1, 2, 3, 4, 5])).unwrap();
    assert_eq!(c.consistency(&req(vec![1, 2, 3, 4, 5])).unwrap(), first);
    assert_eq!(
        c.consistency(&req(vec![1, 2, 3])).unwrap_err(),
        Error::Server(ServerFault::SurvivorSetChanged)
    );
    // An unmask request for another set.
    let other = UnmaskRequest {
        session: s.session,
        survivors: vec![1, 2, 3],
        dropped: vec![4, 5],
        evidence: Some(Evidence::default()),
    };
    assert_eq!(
        c.receive(&other.to_bytes()).unwrap_err(),
        Error::Server(ServerFault::SurvivorSetChanged)
    );
}

// ---------------------------------------------------------------------------
// Attribution: lying holders and bad dealers, never an honest client named.

mod attribution {
    use std::collections::BTreeSet;

    use curve25519_dalek::Scalar;
    use proptest::prelude::*;
    use rand_core::{Rng, SeedableRng};
    use secagg::protocol::messages::{ShareKeys, UnmaskResponse};
    use secagg::simulation::{Dropouts, Wire, run_on_wire};
    use secagg::{
        ClientFault, ClientIndex, Decode, Encode, Error, Graph, Params, Phase, ServerModel,
    };

    /// The wire of a round with lying holders and bad dealers.
    struct Liars {
        params: Params,
        /// Holders that return wrong R3 shares. With `colluding`, all of
        /// them put their shares of each owner on one wrong polynomial of
        /// degree < t (a consistent lie); otherwise each adds its own
        /// random offset.
        liars: BTreeSet<ClientIndex>,
        colluding: bool,
        /// Dealers that publish commitments to another polynomial (their
        /// first two commitments of each kind swapped): the shares they
        /// deal fail the check at every holder but the one at x = 1, where
        /// `C_0 + x C_1` is unchanged by the swap.
        bad_dealers: BTreeSet<ClientIndex>,
        rng: chacha20::ChaCha20Rng,
        /// Per owner, the coefficients of the colluders' shared offset.
        offsets: std::collections::BTreeMap<ClientIndex, Vec<Scalar>>,
    }

    impl Wire for Liars {
        fn on_client_message(
            &mut self,
            phase: Phase,
            from: ClientIndex,
            bytes: Vec<u8>,
        ) -> Vec<(ClientIndex, Vec<u8>)> {
            let p = &self.params;
            let out = match phase {
                Phase::ShareKeys if self.bad_dealers.contains(&from) => {
                    let mut m = ShareKeys::decode(p, &bytes).unwrap();
                    m.seed_commitments.swap(0, 1);
                    m.key_commitments.swap(0, 1);
                    // (In the malicious model the signature then no longer
                    // matches: the server excludes the dealer at once.)
                    m.to_bytes()
                }
                Phase::Unmask if self.liars.contains(&from) => {
                    let mut m = UnmaskResponse::decode(p, &bytes).unwrap();
                    let t = p.threshold() as usize;
                    for e in &mut m.shares {
                        let delta = if self.colluding {
                            let rng = &mut self.rng;
                            let coeffs = self.offsets.entry(e.owner).or_insert_with(|| {
                                (0..t).map(|_| Scalar::from(rng.next_u64() | 1)).collect()
                            });
                            let x = Scalar::from(from);
                            coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
                        } else {
                            Scalar::from(self.rng.next_u64() | 1)
                        };
                        e.share += delta;
                    }
                    m.to_bytes()
                }
                _ => bytes,
            };
            vec![(from, out)]
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        n: u32,
        malicious: bool,
        liars: Vec<ClientIndex>,
        colluding: bool,
        bad_dealers: Vec<ClientIndex>,
        after_shares: Vec<ClientIndex>,
        seed: u64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (5u32..=11, any::<bool>(), any::<bool>(), any::<u64>()).prop_flat_map(
            |(n, malicious, colluding, seed)| {
                let pick = proptest::collection::btree_set(1..=n, 0..=2);
                (
                    Just(n),
                    Just(malicious),
                    pick.clone(),
                    Just(colluding),
                    pick.clone(),
                    proptest::collection::btree_set(1..=n, 0..=1),
                    Just(seed),
                )
                    .prop_map(|(n, malicious, l, colluding, d, a, seed)| Case {
                        n,
                        malicious,
                        liars: l.into_iter().collect(),
                        colluding,
                        bad_dealers: d.into_iter().collect(),
                        after_shares: a.into_iter().collect(),
                        seed,
                    })
            },
        )
    }

    fn check(c: &Case) -> Result<(), TestCaseError> {
        // t: a majority, or the least with a unique survivor set at c = 0.
        let t = c.n / 2 + 1;
        let mut params = Params::new(c.n, t, 32, 3, Graph::Complete).unwrap();
        if c.malicious {
            params = params
                .with_model(ServerModel::Malicious { corrupt: 0 })
                .unwrap();
        }
        let inputs: Vec<Vec<u64>> = (1..=u64::from(c.n))
            .map(|u| vec![u, 2 * u, 3 * u])
            .collect();
        let dropouts = Dropouts {
            after_shares: c.after_shares.clone(),
            ..Default::default()
        };
        let mut wire = Liars {
            params: params.clone(),
            liars: c.liars.iter().copied().collect(),
            colluding: c.colluding,
            bad_dealers: c.bad_dealers.iter().copied().collect(),
            rng: chacha20::ChaCha20Rng::seed_from_u64(c.seed ^ 0xa5),
            offsets: Default::default(),
        };
        let mut r = chacha20::ChaCha20Rng::seed_from_u64(c.seed);
        let report = run_on_wire(&params, &inputs, &dropouts, &mut r, &mut wire);
        let tampered: BTreeSet<ClientIndex> =
            c.liars.iter().chain(&c.bad_dealers).copied().collect();
        let proven = |f: &ClientFault| {
            !matches!(
                f,
                ClientFault::Undecryptable { .. } | ClientFault::NotInPhase
            )
        };
        match &report.result {
            Ok(agg) => {
                prop_assert_eq!(Some(&agg.sum), report.expected.as_ref(), "sum");
                for (i, f) in &agg.misbehaved {
                    match f {
                        ClientFault::Undecryptable { reported_by } => prop_assert!(
                            c.bad_dealers.contains(i) && !c.bad_dealers.contains(reported_by),
                            "accused {} by {}",
                            i,
                            reported_by
                        ),
                        f => prop_assert!(
                            tampered.contains(i) && proven(f),
                            "honest client {} named {:?}",
                            i,
                            f
                        ),
                    }
                }
                // The holders of every secret are the survivors (complete
                // graph, no drop in Unmask), and each secret is rebuilt from
                // its first t in ascending order. A liar among those moves
                // every secret off its C_0 (spec/crypto.md section 6), so
                // every share is checked and every liar that answered is
                // named, with proof; otherwise no share beyond the first t
                // is checked and nobody is named BadShare.
                let first_t = &agg.survivors[..agg.survivors.len().min(t as usize)];
                let caught = c.liars.iter().any(|l| first_t.contains(l));
                for l in &c.liars {
                    if caught && agg.survivors.contains(l) && !c.bad_dealers.contains(l) {
                        prop_assert!(
                            agg.misbehaved
                                .iter()
                                .any(|(i, f)| i == l && matches!(f, ClientFault::BadShare { .. })),
                            "liar {} not named",
                            l
                        );
                    }
                }
                if !caught {
                    prop_assert!(
                        !agg.misbehaved
                            .iter()
                            .any(|(_, f)| matches!(f, ClientFault::BadShare { .. })),
                        "a share beyond the first t was checked: {:?}",
                        agg.misbehaved
                    );
                }
            }
            Err(Error::Client {
                index,
                fault,
                outcome,
            }) => {
                prop_assert_eq!(*outcome, secagg::Outcome::Aborted);
                prop_assert!(
                    tampered.contains(index),
                    "the round ended naming honest client {} ({:?})",
                    index,
                    fault
                );
            }
            Err(Error::NotEnoughSurvivors { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(120),
            ..ProptestConfig::default()
        })]

        /// protocol.md section 5.1: no honest client is ever named with a
        /// proven fault, in either model, whatever liars and bad dealers do;
        /// lying holders are named with proof when one sits among the first
        /// t holders (spec/protocol.md section 5.3), and the sum stays exact.
        #[test]
        fn no_honest_client_is_ever_proven_faulty(c in case()) {
            check(&c)?;
        }
    }
}

/// Every client message delivered twice, byte for byte, in every phase of
/// both models (the consistency round included): the result is the
/// undisturbed round's, and nothing is refused.
#[test]
fn resends_are_no_ops_in_every_phase_of_both_models() {
    use secagg::Phase;
    use secagg::simulation::{Dropouts, Wire, run, run_on_wire};

    struct Twice(usize);
    impl Wire for Twice {
        fn on_client_message(
            &mut self,
            _: Phase,
            from: ClientIndex,
            bytes: Vec<u8>,
        ) -> Vec<(ClientIndex, Vec<u8>)> {
            self.0 += 1;
            vec![(from, bytes.clone()), (from, bytes)]
        }
        fn on_delivered(&mut self, e: &secagg::simulation::Event<'_>) {
            assert!(e.refused.is_none(), "refused: {:?}", e.refused);
        }
    }
    for malicious in [false, true] {
        let p = params(7, 5, malicious);
        let inputs: Vec<Vec<u64>> = (1..=7).map(|i| vec![i, 2 * i, 3 * i, 4 * i]).collect();
        let d = Dropouts {
            after_shares: vec![3],
            ..Default::default()
        };
        let plain = run(&p, &inputs, &d, &mut rng(21));
        let mut wire = Twice(0);
        let twice = run_on_wire(&p, &inputs, &d, &mut rng(21), &mut wire);
        assert_eq!(
            plain.result.unwrap(),
            twice.result.unwrap(),
            "malicious = {malicious}"
        );
        // 7 AdvertiseKeys, 7 ShareKeys, 6 MaskedInput, (6 consistency), 6 answers.
        assert_eq!(wire.0, if malicious { 32 } else { 26 });
    }
}
