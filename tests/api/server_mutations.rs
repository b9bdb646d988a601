//! The server's phase closes and intake checks, pinned against the rules of
//! spec/protocol.md sections 4.5, 5.1 and 5.2 computed again from the
//! public neighbour relation and from what the wire saw: who is asked for
//! shares (U4 in the malicious model, U3 otherwise), what each unmask
//! request names, the exact evidence it carries (the signed masking sets
//! of the survivors it names, the consistency signatures of the signing
//! neighbours of the clients checked), when the consistency close aborts
//! and with which count, complaints about clients outside U2, and answers
//! from clients that are not asked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand_core::Rng;
use secagg::protocol::messages::{
    ConsistencyRequest, ConsistencyResponse, MaskedInput, UnmaskRequest,
};
use secagg::simulation::Dropouts;
use secagg::{
    ClientFault, ClientIndex, Decode, Encode, Error, Graph, Outcome, Params, Phase, RoundId,
    ServerModel,
};

use crate::common::rng;
use crate::review::{Ran, client_error, keep, ran};

/// What the wire saw of one round: the senders of each phase's messages,
/// the masking-set and consistency signatures, the survivor set the
/// consistency request carried, and the unmask requests by receiver.
#[derive(Default)]
struct Seen {
    senders: HashMap<Phase, Vec<ClientIndex>>,
    masking_signatures: BTreeMap<ClientIndex, [u8; 64]>,
    consistency_signatures: BTreeMap<ClientIndex, [u8; 64]>,
    consistency_request: Option<Vec<ClientIndex>>,
    requests: BTreeMap<ClientIndex, UnmaskRequest>,
}

impl Seen {
    fn of(&self, phase: Phase) -> Vec<ClientIndex> {
        self.senders.get(&phase).cloned().unwrap_or_default()
    }
}

/// A round of `params` with `dropouts`, everything delivered unchanged,
/// and what the wire saw of it.
fn observed(params: &Params, seed: u64, dropouts: &Dropouts) -> (Ran, Seen) {
    let up_seen = std::cell::RefCell::new(Seen::default());
    let mut down_seen: Vec<(Phase, ClientIndex, Vec<u8>)> = Vec::new();
    let ran = ran(
        params,
        seed,
        dropouts,
        |phase, from, bytes| {
            let mut s = up_seen.borrow_mut();
            s.senders.entry(phase).or_default().push(from);
            match phase {
                Phase::MaskedInput => {
                    let m = MaskedInput::decode(params, &bytes).unwrap();
                    if let Some(sig) = m.signature {
                        s.masking_signatures.insert(from, sig);
                    }
                }
                Phase::Consistency => {
                    let m = ConsistencyResponse::decode(params, &bytes).unwrap();
                    s.consistency_signatures.insert(from, m.signature);
                }
                _ => {}
            }
            vec![(from, bytes)]
        },
        |phase, to, bytes| {
            down_seen.push((phase, to, bytes.clone()));
            bytes
        },
    );
    for (phase, to, bytes) in down_seen {
        let unmask = match (phase, params.is_malicious()) {
            (Phase::Consistency, true) | (Phase::MaskedInput, false) => true,
            (Phase::MaskedInput, true) => {
                // The same bytes for every member of U3.
                let m = ConsistencyRequest::decode(params, &bytes).unwrap();
                let mut s = up_seen.borrow_mut();
                if let Some(earlier) = &s.consistency_request {
                    assert_eq!(earlier, &m.survivors);
                }
                s.consistency_request = Some(m.survivors);
                false
            }
            _ => false,
        };
        if unmask {
            let m = UnmaskRequest::decode(params, &bytes).unwrap();
            up_seen.borrow_mut().requests.insert(to, m);
        }
    }
    (ran, up_seen.into_inner())
}

/// The neighbour relation of a round, from the public API.
struct Nbr {
    of: Vec<Vec<ClientIndex>>,
}

impl Nbr {
    fn new(params: &Params, round: &RoundId) -> Self {
        let of = (0..=params.clients())
            .map(|u| params.neighbours(round, u))
            .collect();
        Self { of }
    }

    /// The members of `set` that neighbour `u`, and `u` when `with_self`
    /// and it is in `set`; ascending.
    fn restrict(&self, u: ClientIndex, set: &[ClientIndex], with_self: bool) -> Vec<ClientIndex> {
        let mut out: Vec<ClientIndex> = self.of[u as usize]
            .iter()
            .copied()
            .filter(|v| set.contains(v))
            .collect();
        if with_self && set.contains(&u) {
            out.push(u);
            out.sort_unstable();
        }
        out
    }
}

fn not_enough(phase: Phase, survivors: usize, threshold: usize) -> Error {
    Error::NotEnoughSurvivors {
        phase,
        survivors,
        threshold,
    }
}

/// Which situations the scenarios reached, so that the sweep keeps
/// exercising each rule whose failure it would catch.
#[derive(Default, Debug)]
struct Reached {
    /// The consistency close aborted at a client of U2 outside U3 that
    /// had fewer signing neighbours than every member of U3.
    short_outside_u3: usize,
    /// ... at a count of exactly t - 1 for a client that signed itself.
    short_by_one_at_a_signer: usize,
    /// |U4| was exactly t - 1.
    signers_one_short: usize,
    /// A finished round in which some request's evidence left out a
    /// signer, and one in which client n's signature was in some evidence.
    evidence_left_out_a_signer: usize,
    evidence_named_client_n: usize,
    /// A finished round with a client dropped after ShareKeys (named in
    /// the requests as dropped) and one with a non-signing survivor.
    finished_with_dropped: usize,
    finished_with_non_signer: usize,
}

/// Checks one round against spec/protocol.md section 5.2 computed from
/// what the wire saw.
fn check_round(params: &Params, ran: &Ran, seen: &Seen, reached: &mut Reached) {
    let t = params.threshold() as usize;
    let n = params.clients();
    let nbr = Nbr::new(params, &ran.report.round);
    let harary = matches!(params.graph(), Graph::Harary { .. });
    let result = &ran.report.result;
    let u1 = seen.of(Phase::AdvertiseKeys);
    let u2 = seen.of(Phase::ShareKeys);
    let u3 = seen.of(Phase::MaskedInput);
    let u4 = seen.of(Phase::Consistency);
    if u1.len() < t {
        assert_eq!(result, &Err(not_enough(Phase::AdvertiseKeys, u1.len(), t)));
        return;
    }
    if u2.len() < t {
        assert_eq!(result, &Err(not_enough(Phase::ShareKeys, u2.len(), t)));
        return;
    }
    if u3.len() < t {
        assert_eq!(result, &Err(not_enough(Phase::MaskedInput, u3.len(), t)));
        return;
    }
    let dropped: Vec<ClientIndex> = u2.iter().copied().filter(|v| !u3.contains(v)).collect();
    let short = if harary {
        u3.iter()
            .map(|&u| nbr.restrict(u, &u3, true).len())
            .chain(dropped.iter().map(|&v| nbr.restrict(v, &u3, false).len()))
            .min()
            .unwrap()
    } else {
        u3.len()
    };
    if short < t {
        assert_eq!(result, &Err(not_enough(Phase::MaskedInput, short, t)));
        return;
    }
    let askers = if params.is_malicious() {
        assert_eq!(seen.consistency_request.as_ref(), Some(&u3));
        if u4.len() + 1 == t {
            reached.signers_one_short += 1;
        }
        if u4.len() < t {
            assert_eq!(result, &Err(not_enough(Phase::Consistency, u4.len(), t)));
            assert!(seen.requests.is_empty());
            return;
        }
        // Every client of U2, survivor or not, must be certified by t
        // signing neighbours (not itself).
        let count = |x: ClientIndex| nbr.restrict(x, &u4, false).len();
        let short = u2.iter().map(|&x| count(x)).min().unwrap();
        if short < t {
            let in_u3 = u3.iter().map(|&x| count(x)).min().unwrap();
            if short < in_u3 {
                reached.short_outside_u3 += 1;
            }
            if short + 1 == t && u2.iter().any(|&x| count(x) == short && u4.contains(&x)) {
                reached.short_by_one_at_a_signer += 1;
            }
            assert_eq!(result, &Err(not_enough(Phase::Consistency, short, t)));
            assert!(seen.requests.is_empty());
            return;
        }
        &u4
    } else {
        &u3
    };
    // Asked: exactly U4 (U3 semi-honest), each about its own neighbourhood.
    assert_eq!(
        seen.requests.keys().copied().collect::<Vec<_>>(),
        *askers,
        "{params:?}"
    );
    for (&w, req) in &seen.requests {
        let survivors = nbr.restrict(w, &u3, true);
        assert_eq!(req.survivors, survivors, "w {w}");
        assert_eq!(req.dropped, nbr.restrict(w, &dropped, false), "w {w}");
        let Some(evidence) = &req.evidence else {
            assert!(!params.is_malicious());
            continue;
        };
        assert!(params.is_malicious());
        // The signed masking sets of the survivors it names, as signed.
        let owners: Vec<ClientIndex> = evidence.masking_sets.iter().map(|s| s.owner).collect();
        assert_eq!(owners, survivors, "w {w}");
        for set in &evidence.masking_sets {
            assert_eq!(
                Some(&set.signature),
                seen.masking_signatures.get(&set.owner)
            );
        }
        // The signing neighbours of every client checked: the survivors
        // named and their neighbours in U2; on the complete graph, every
        // signer.
        let signers: Vec<ClientIndex> = if harary {
            let mut checked = BTreeSet::new();
            for &o in &survivors {
                checked.insert(o);
                checked.extend(nbr.restrict(o, &u2, false));
            }
            checked
                .iter()
                .flat_map(|&x| nbr.restrict(x, &u4, false))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        } else {
            u4.clone()
        };
        let got: Vec<ClientIndex> = evidence.signatures.iter().map(|(v, _)| *v).collect();
        assert_eq!(got, signers, "w {w} {params:?}");
        for (v, sig) in &evidence.signatures {
            assert_eq!(Some(sig), seen.consistency_signatures.get(v));
        }
        if got.len() < u4.len() {
            reached.evidence_left_out_a_signer += 1;
        }
        if got.contains(&n) {
            reached.evidence_named_client_n += 1;
        }
    }
    ran.finished(&u3, &[]);
    if !dropped.is_empty() {
        reached.finished_with_dropped += 1;
    }
    if params.is_malicious() && u4.len() < u3.len() {
        reached.finished_with_non_signer += 1;
    }
}

/// Random dropouts after keys, after shares and during the consistency
/// round; nobody drops during unmasking, so every round that gets past the
/// consistency close finishes.
fn dropouts(n: u32, seed: u64, rates: [u32; 3]) -> Dropouts {
    let mut r = rng(seed);
    let mut d = Dropouts::default();
    for i in 1..=n {
        let x = r.next_u32() % 100;
        if x < rates[0] {
            d.after_keys.push(i);
        } else if x < rates[0] + rates[1] {
            d.after_shares.push(i);
        } else if x < rates[0] + rates[1] + rates[2] {
            d.during_consistency.push(i);
        }
    }
    d
}

fn harary(n: u32, k: u32, t: u32) -> Params {
    Params::new(
        n,
        t,
        32,
        4,
        Graph::Harary {
            degree: k,
            seed: [n as u8; 32],
        },
    )
    .unwrap()
}

fn malicious(p: Params, corrupt: u32) -> Params {
    p.with_model(ServerModel::Malicious { corrupt }).unwrap()
}

/// The consistency close and the unmask requests, over random dropouts on
/// small Harary graphs (rings that wrap onto themselves: k = n - 1 and
/// k = n - 3; and one whose evidence leaves out far signers), the complete
/// graph, and the semi-honest model: each round
/// ends as spec/protocol.md section 5.2 says, with the exact abort count,
/// or sends its requests to exactly U4 (U3) with the exact neighbourhoods
/// and evidence, and finishes with the exact sum of U3.
#[test]
fn closes_and_requests_follow_the_spec_under_random_dropouts() {
    let shapes = [
        (malicious(harary(7, 4, 3), 1), [5, 20, 22], 40),
        (malicious(harary(9, 4, 3), 1), [5, 12, 25], 40),
        (malicious(harary(11, 6, 4), 1), [4, 14, 20], 30),
        (malicious(harary(5, 4, 3), 1), [5, 10, 20], 20),
        (malicious(harary(25, 4, 3), 1), [3, 6, 8], 12),
        (
            malicious(Params::new(6, 4, 32, 4, Graph::Complete).unwrap(), 1),
            [5, 10, 20],
            20,
        ),
        (harary(9, 4, 3), [8, 20, 0], 20),
    ];
    let mut reached = Reached::default();
    for (shape, (params, rates, runs)) in shapes.iter().enumerate() {
        for run in 0..*runs {
            let seed = 1000 * shape as u64 + run;
            let d = dropouts(params.clients(), seed, *rates);
            let (ran, seen) = observed(params, seed, &d);
            check_round(params, &ran, &seen, &mut reached);
        }
    }
    assert!(reached.short_outside_u3 > 0, "{reached:?}");
    assert!(reached.short_by_one_at_a_signer > 0, "{reached:?}");
    assert!(reached.signers_one_short > 0, "{reached:?}");
    assert!(reached.evidence_left_out_a_signer > 0, "{reached:?}");
    assert!(reached.evidence_named_client_n > 0, "{reached:?}");
    assert!(reached.finished_with_dropped > 0, "{reached:?}");
    assert!(reached.finished_with_non_signer > 0, "{reached:?}");
}

/// A complaint about a neighbour that is in U1 but not in U2 (it sent no
/// ShareKeys, so it dealt nothing to complain about) is `WrongRecipients`
/// and excludes the complainer, whose input is then not in the sum
/// (spec/protocol.md section 5.1, R2); the client named is not blamed.
#[test]
fn a_complaint_about_a_client_outside_u2_excludes_the_complainer() {
    for params in [
        Params::new(5, 3, 32, 4, Graph::Complete).unwrap(),
        malicious(Params::new(5, 4, 32, 4, Graph::Complete).unwrap(), 1),
    ] {
        let d = Dropouts {
            after_keys: vec![5],
            ..Dropouts::default()
        };
        let ran = ran(
            &params,
            31,
            &d,
            |phase, from, bytes| {
                if phase == Phase::MaskedInput && from == 1 {
                    let mut m = MaskedInput::decode(&params, &bytes).unwrap();
                    m.complaints = vec![5];
                    return vec![(from, m.to_bytes())];
                }
                vec![(from, bytes)]
            },
            keep,
        );
        let wrong = client_error(1, ClientFault::WrongRecipients, Outcome::Excluded);
        assert_eq!(ran.refused_of(1), vec![(Phase::MaskedInput, wrong)]);
        assert!(ran.refused_of(5).is_empty());
        let t = params.threshold();
        let survivors: Vec<ClientIndex> = (2..=4).collect();
        if t as usize <= survivors.len() {
            ran.finished(&survivors, &[(1, ClientFault::WrongRecipients)]);
        } else {
            assert_eq!(
                ran.report.result,
                Err(not_enough(Phase::MaskedInput, 3, t as usize))
            );
        }
    }
}

/// An answer in R3 from a client that was not asked (malicious model: a
/// survivor that sent no consistency signature; semi-honest: a client that
/// dropped after ShareKeys) is `NotInPhase`, ignored: it is not decoded,
/// not recorded, and the round finishes with every survivor's input.
#[test]
fn an_answer_from_a_client_not_asked_is_ignored() {
    let garbage = vec![0xee_u8; 48];
    for malicious_model in [false, true] {
        let (params, d, survivors): (Params, Dropouts, Vec<ClientIndex>) = if malicious_model {
            (
                malicious(Params::new(6, 4, 32, 4, Graph::Complete).unwrap(), 1),
                Dropouts {
                    during_consistency: vec![6],
                    ..Dropouts::default()
                },
                (1..=6).collect(),
            )
        } else {
            (
                Params::new(6, 3, 32, 4, Graph::Complete).unwrap(),
                Dropouts {
                    after_shares: vec![6],
                    ..Dropouts::default()
                },
                (1..=5).collect(),
            )
        };
        let ran = ran(
            &params,
            47,
            &d,
            |phase, from, bytes| {
                let mut out = vec![(from, bytes)];
                if phase == Phase::Unmask && from == 1 {
                    out.push((6, garbage.clone()));
                }
                out
            },
            keep,
        );
        let ignored = client_error(6, ClientFault::NotInPhase, Outcome::Ignored);
        assert_eq!(ran.refused_of(6), vec![(Phase::Unmask, ignored)]);
        ran.finished(&survivors, &[]);
    }
}

/// In the malicious model's R3 the server waits for U4, the clients whose
/// consistency signature verified, not for all of U3: `pending` lists the
/// signers not yet heard from, and a survivor that did not sign is never
/// waited for (spec/protocol.md section 5.1).
#[test]
fn the_last_phase_waits_for_the_signers_only() {
    use secagg::{Client, Identity, Roster, Server, Step};
    let params = malicious(Params::new(6, 4, 32, 4, Graph::Complete).unwrap(), 1);
    let mut r = rng(71);
    let ids: Vec<Identity> = (0..6).map(|_| Identity::generate(&mut r)).collect();
    let keys: Vec<_> = ids.iter().map(Identity::public_key).collect();
    let roster = Roster::new(&keys).unwrap();
    let round = crate::common::ROUND;
    let mut server = Server::with_roster(&params, round, &roster, &mut rng(72)).unwrap();
    let mut clients = Vec::new();
    let mut replies = Vec::new();
    for i in 1..=6 {
        let (mut c, advertise) =
            Client::with_identity(&params, round, i, &ids[i as usize - 1], &roster, &mut r)
                .unwrap();
        c.set_input(&[u64::from(i); 4]).unwrap();
        clients.push(c);
        replies.push((i, advertise));
    }
    // AdvertiseKeys, ShareKeys, MaskedInput, then the consistency round,
    // in which client 6 does not answer.
    for phase in 0..4 {
        for (i, msg) in &replies {
            server.receive(*i, msg).unwrap();
        }
        let Step::Deliver(out) = server.close_phase().unwrap() else {
            panic!("phase {phase}");
        };
        replies.clear();
        for (i, bytes) in out.into_vec() {
            if phase == 2 && i == 6 {
                continue;
            }
            let reply = clients[i as usize - 1].receive(&bytes, &mut r).unwrap();
            replies.push((i, reply));
        }
    }
    assert_eq!(server.phase(), Some(Phase::Unmask));
    assert_eq!(server.signers(), [1, 2, 3, 4, 5]);
    assert_eq!(server.pending(), vec![1, 2, 3, 4, 5]);
    let (first, answer) = &replies[0];
    server.receive(*first, answer).unwrap();
    assert_eq!(server.pending(), vec![2, 3, 4, 5]);
}
