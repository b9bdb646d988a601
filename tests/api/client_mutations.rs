//! The client's checks of spec/protocol.md sections 4.4 and 4.5, each pinned
//! at its boundary with the exact refusal (spec/security.md P2 and P4): the
//! consistency request (session, self listed, only neighbours it masked
//! with, at least t of its neighbourhood counting itself, one set per round),
//! the evidence of the unmask request (every signature verified and the
//! first bad one named in the evidence's order, t signers around each peer
//! other than the peer itself, each survivor's signed masking set), which
//! shares a request may reveal, and the dispatch and phase of [`Client`].
//! Each test would fail if the check it names were dropped, inverted or
//! moved by one.

use std::collections::BTreeMap;

use secagg::protocol::messages::{
    ConsistencyRequest, Evidence, KeyBroadcast, ShareDelivery, ShareKind, UnmaskRequest,
    UnmaskResponse,
};
use secagg::{
    AwaitingKeys, Client, ClientIndex, ClientPhase, Decode, DecodeError, Encode, Error, Graph,
    Identity, Misuse, Outbox, Params, Roster, Server, ServerFault, ServerModel, Step,
};

use crate::common::{ROUND, rng};
use crate::harary_attack::{Round, run};

fn fault(e: ServerFault) -> Result<Vec<u8>, Error> {
    Err(Error::Server(e))
}

fn complete(n: u32, t: u32, malicious: bool) -> Params {
    let p = Params::new(n, t, 16, 2, Graph::Complete).unwrap();
    if malicious {
        p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap()
    } else {
        p
    }
}

/// A round of n = 5, t = 3 on the complete graph run to the end of R2.
fn five(malicious: bool, keep: impl Fn(ClientIndex, ClientIndex) -> bool) -> Round {
    run(&complete(5, 3, malicious), &[], keep)
}

fn all(_: ClientIndex, _: ClientIndex) -> bool {
    true
}

/// `(owner, kind)` of each share in an unmask response, in its order.
fn kinds(p: &Params, bytes: &[u8]) -> Vec<(ClientIndex, ShareKind)> {
    UnmaskResponse::decode(p, bytes)
        .unwrap()
        .shares
        .iter()
        .map(|e| (e.owner, e.kind))
        .collect()
}

fn seeds(owners: &[ClientIndex]) -> Vec<(ClientIndex, ShareKind)> {
    owners.iter().map(|&o| (o, ShareKind::SelfSeed)).collect()
}

/// The session of round `r`.
fn session(r: &Round, p: &Params) -> [u8; 32] {
    ConsistencyRequest::decode(p, &r.consistency_request(&[1]))
        .unwrap()
        .session
}

// ---- The consistency request (spec/protocol.md section 4.5, what a client
// signs).

fn ask(c: &mut Client, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    c.receive(bytes, &mut rng(0))
}

#[test]
fn consistency_refusals_are_exact_and_leave_the_client_able_to_sign() {
    let r = five(true, all);
    let other = ConsistencyRequest {
        session: [9; 32],
        clients: 5,
        survivors: vec![1, 2, 3, 4, 5],
    }
    .to_bytes();
    let without_self = r.consistency_request(&[2, 3, 4, 5]);
    let exactly_t = r.consistency_request(&[1, 2, 3]);
    let mut c = r.fork(1);
    assert_eq!(ask(&mut c, &other), fault(ServerFault::WrongSession));
    assert_eq!(
        ask(&mut c, &without_self),
        fault(ServerFault::SelfNotSurvivor)
    );
    assert_eq!(
        ask(&mut c, &r.consistency_request(&[1, 2])),
        fault(ServerFault::NotEnoughNeighbours {
            named: 2,
            threshold: 3
        })
    );
    assert_eq!(c.phase(), ClientPhase::ConsistencyRequest);
    // t of its neighbourhood counting itself is enough.
    let signed = ask(&mut c, &exactly_t).unwrap();
    assert_eq!(c.phase(), ClientPhase::UnmaskRequest);
    assert_eq!(ask(&mut c, &exactly_t).unwrap(), signed);
    // One set per round: another set is refused, whatever it lacks, and
    // the signed one is still answered the same.
    assert_eq!(
        ask(&mut c, &r.consistency_request(&[1, 2, 3, 4])),
        fault(ServerFault::SurvivorSetChanged)
    );
    assert_eq!(
        ask(&mut c, &without_self),
        fault(ServerFault::SurvivorSetChanged)
    );
    assert_eq!(ask(&mut c, &exactly_t).unwrap(), signed);
    assert_eq!(c.phase(), ClientPhase::UnmaskRequest);
}

#[test]
fn consistency_names_only_neighbours_it_masked_with() {
    // Client 1 gets no shares from 2: it masked with 3, 4 and 5 only.
    let r = five(true, |to, from| to != 1 || from != 2);
    let mut c = r.fork(1);
    for set in [&[1, 2, 3, 4, 5][..], &[1, 2, 3]] {
        assert_eq!(
            ask(&mut c, &r.consistency_request(set)),
            fault(ServerFault::UnexpectedPeer { peer: 2 })
        );
    }
    assert!(ask(&mut c, &r.consistency_request(&[1, 3, 4])).is_ok());
}

#[test]
fn consistency_counts_only_the_neighbourhood_toward_t() {
    let p = crate::harary_attack::params(Some(0));
    let r = run(&p, &[], all);
    let w = 1;
    let nb = p.neighbours(&ROUND, w);
    assert_eq!(nb.len(), 4);
    let with = |ns: &[ClientIndex]| -> Vec<ClientIndex> {
        (1..=9)
            .filter(|v| !nb.contains(v) || ns.contains(v))
            .collect()
    };
    let mut c = r.fork(w);
    // Seven survivors, but only two of them in Nbar(1).
    assert_eq!(
        ask(&mut c, &r.consistency_request(&with(&nb[..1]))),
        fault(ServerFault::NotEnoughNeighbours {
            named: 2,
            threshold: 3
        })
    );
    assert!(ask(&mut c, &r.consistency_request(&with(&nb[..2]))).is_ok());
}

#[test]
fn semi_honest_consistency_is_misuse_and_the_unmask_request_is_still_answered() {
    let p = complete(3, 2, false);
    let mut rg = rng(3);
    let mut states = Vec::new();
    let mut msgs = Vec::new();
    for i in 1..=3 {
        let (s, m) = AwaitingKeys::new(&p, ROUND, i, &mut rg).unwrap();
        states.push(s);
        msgs.push(m);
    }
    let mut server = Server::new(&p, ROUND, &mut rg).unwrap();
    for (i, m) in (1..).zip(&msgs) {
        server.receive(i, m).unwrap();
    }
    let mut shares = Vec::new();
    for (i, m) in deliveries(&mut server) {
        let (s, out) = states[i as usize - 1].receive(&m, &mut rg).unwrap();
        server.receive(i, &out).unwrap();
        shares.push(s);
    }
    let mut unmask = Vec::new();
    for (i, m) in deliveries(&mut server) {
        let (s, out) = shares[i as usize - 1].receive(&m, &[1, 2]).unwrap();
        server.receive(i, &out).unwrap();
        unmask.push(s);
    }
    for (i, m) in deliveries(&mut server) {
        let c = &mut unmask[i as usize - 1];
        let session = UnmaskRequest::decode(&p, &m).unwrap().session;
        let req = ConsistencyRequest {
            session,
            clients: 3,
            survivors: vec![1, 2, 3],
        }
        .to_bytes();
        assert_eq!(c.consistency(&req), Err(Error::Misuse(Misuse::Identity)));
        let out = c.receive(&m).unwrap();
        assert_eq!(kinds(&p, &out), seeds(&[1, 2, 3]));
        assert_eq!(c.consistency(&req), Err(Error::Misuse(Misuse::Identity)));
        assert_eq!(c.receive(&m).unwrap(), out);
        server.receive(i, &out).unwrap();
    }
    let Ok(Step::Done(a)) = server.close_phase() else {
        panic!("R3 closes")
    };
    assert_eq!(a.sum, vec![3, 6]);
}

fn deliveries(server: &mut Server) -> Outbox {
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!("the phase closes")
    };
    d
}

// ---- The unmask request (spec/protocol.md section 4.4).

/// Client 1's answer to `survivors`/`dropped` in a fresh semi-honest round
/// with n = 5, t = 3, where `keep` trims the deliveries.
fn answer(
    keep: impl Fn(ClientIndex, ClientIndex) -> bool,
    survivors: &[ClientIndex],
    dropped: &[ClientIndex],
) -> Result<Vec<(ClientIndex, ShareKind)>, Error> {
    let p = complete(5, 3, false);
    let r = run(&p, &[], keep);
    let req = UnmaskRequest {
        session: session(&r, &p),
        survivors: survivors.to_vec(),
        dropped: dropped.to_vec(),
        evidence: None,
    };
    ask(&mut r.fork(1), &req.to_bytes()).map(|b| kinds(&p, &b))
}

#[test]
fn unmask_refusals_are_exact() {
    let err = |e| Err(Error::Server(e));
    assert_eq!(
        answer(all, &[1, 2, 3, 4], &[3, 4, 5]),
        err(ServerFault::SurvivorAndDropped { peer: 3 })
    );
    assert_eq!(
        answer(all, &[2, 3, 4, 5], &[]),
        err(ServerFault::SelfNotSurvivor)
    );
    assert_eq!(
        answer(all, &[2, 3, 4], &[1, 5]),
        err(ServerFault::SelfNotSurvivor)
    );
    assert_eq!(
        answer(all, &[1, 2, 4], &[5]),
        err(ServerFault::IncompleteRequest { peer: 3 })
    );
    assert_eq!(
        answer(all, &[1, 2, 3, 4], &[]),
        err(ServerFault::IncompleteRequest { peer: 5 })
    );
    assert_eq!(
        answer(all, &[1, 2], &[3, 4, 5]),
        err(ServerFault::NotEnoughNeighbours {
            named: 2,
            threshold: 3
        })
    );
    let trimmed = |to, from| to != 1 || from != 2;
    assert_eq!(
        answer(trimmed, &[1, 2, 3, 4, 5], &[]),
        err(ServerFault::UnexpectedPeer { peer: 2 })
    );
    assert_eq!(
        answer(trimmed, &[1, 3, 4], &[2, 5]),
        err(ServerFault::UnexpectedPeer { peer: 2 })
    );
    assert_eq!(
        answer(trimmed, &[1, 3, 4, 5], &[]),
        Ok(seeds(&[1, 3, 4, 5]))
    );
}

#[test]
fn unmask_reveals_one_kind_per_peer_in_owner_order() {
    use ShareKind::{MaskKey, SelfSeed};
    // Exactly t survivors are enough.
    assert_eq!(
        answer(all, &[1, 2, 3], &[4, 5]),
        Ok(vec![
            (1, SelfSeed),
            (2, SelfSeed),
            (3, SelfSeed),
            (4, MaskKey),
            (5, MaskKey)
        ])
    );
    assert_eq!(
        answer(all, &[1, 3, 5], &[2, 4]),
        Ok(vec![
            (1, SelfSeed),
            (2, MaskKey),
            (3, SelfSeed),
            (4, MaskKey),
            (5, SelfSeed)
        ])
    );
}

#[test]
fn unmask_answers_one_request_and_refuses_a_spent_state() {
    let r = five(false, all);
    let first = r.request(1, &[1, 2, 3, 4], None);
    let mut c = r.fork(1);
    let out = ask(&mut c, &first).unwrap();
    assert_eq!(c.phase(), ClientPhase::Done);
    assert_eq!(ask(&mut c, &first).unwrap(), out);
    assert_eq!(
        ask(&mut c, &r.request(1, &[1, 2, 3, 5], None)),
        fault(ServerFault::SurvivorSetChanged)
    );
    assert_eq!(ask(&mut c, &first).unwrap(), out);
    // A refusal spends the state: the genuine request then finds it over.
    let mut wrong = first.clone();
    wrong[2] ^= 1;
    let mut c = r.fork(1);
    assert_eq!(ask(&mut c, &wrong), fault(ServerFault::WrongSession));
    assert_eq!(c.phase(), ClientPhase::Over);
    assert_eq!(ask(&mut c, &first), Err(Error::Misuse(Misuse::RoundOver)));
}

// ---- The evidence of the unmask request (spec/protocol.md section 4.5,
// what a client checks before it answers).

const ALL: [ClientIndex; 5] = [1, 2, 3, 4, 5];

/// A malicious round (n = 5, t = 3, complete) in which client 1 signed
/// `set`; its answer to `set` with the signatures of `signers` and the
/// evidence `edit` makes of it.
fn evidence_answer(
    keep: impl Fn(ClientIndex, ClientIndex) -> bool,
    set: &[ClientIndex],
    signers: &[ClientIndex],
    edit: impl FnOnce(&mut Evidence),
) -> Result<Vec<(ClientIndex, ShareKind)>, Error> {
    let p = complete(5, 3, true);
    let r = run(&p, &[], keep);
    let mut c = r.fork(1);
    ask(&mut c, &r.consistency_request(set)).unwrap();
    let mut evidence = Evidence {
        masking_sets: r
            .masking_sets
            .iter()
            .filter(|m| set.contains(&m.owner))
            .cloned()
            .collect(),
        signatures: signers.iter().map(|&s| (s, r.sign(s, set))).collect(),
    };
    edit(&mut evidence);
    ask(&mut c, &r.request(1, set, Some(evidence))).map(|b| kinds(&p, &b))
}

/// The answer of client 1 when only 5 dropped.
fn five_dropped() -> Vec<(ClientIndex, ShareKind)> {
    let mut v = seeds(&[1, 2, 3, 4]);
    v.push((5, ShareKind::MaskKey));
    v
}

#[test]
fn evidence_needs_t_signers_around_each_peer_besides_the_peer() {
    assert_eq!(evidence_answer(all, &ALL, &ALL, |_| ()), Ok(seeds(&ALL)));
    // Four signers: three around each of them, four around the others.
    for signers in [[1, 2, 3, 4], [2, 3, 4, 5]] {
        assert_eq!(
            evidence_answer(all, &ALL, &signers, |_| ()),
            Ok(seeds(&ALL))
        );
    }
    // Three signers: a signer's own signature does not count around it.
    assert_eq!(
        evidence_answer(all, &ALL, &[1, 2, 3], |_| ()),
        Err(Error::Server(ServerFault::NotCertified { peer: 2 }))
    );
    assert_eq!(
        evidence_answer(all, &ALL, &[1, 4, 5], |_| ()),
        Err(Error::Server(ServerFault::NotCertified { peer: 4 }))
    );
    // Dropped peers need the set certified around them too.
    assert_eq!(
        evidence_answer(all, &[1, 2, 3, 4], &[1, 2, 3, 4], |_| ()),
        Ok(five_dropped())
    );
}

#[test]
fn evidence_names_the_first_bad_signature_in_its_order() {
    for (bad, named) in [(&[4][..], 4), (&[2, 4], 2), (&[3, 5], 3), (&[1, 5], 1)] {
        assert_eq!(
            evidence_answer(all, &ALL, &ALL, |e| {
                for (s, sig) in &mut e.signatures {
                    if bad.contains(s) {
                        sig[0] ^= 1;
                    }
                }
            }),
            Err(Error::Server(ServerFault::BadSignature { peer: named })),
            "spoiled {bad:?}"
        );
    }
    // Another signer's valid signature does not verify as this one's.
    assert_eq!(
        evidence_answer(all, &ALL, &ALL, |e| e.signatures[3].1 = e.signatures[2].1),
        Err(Error::Server(ServerFault::BadSignature { peer: 4 }))
    );
}

#[test]
fn evidence_needs_each_survivors_signed_masking_set() {
    assert_eq!(
        evidence_answer(all, &ALL, &ALL, |e| e.masking_sets.retain(|m| m.owner != 3)),
        Err(Error::Server(ServerFault::NotCertified { peer: 3 }))
    );
    assert_eq!(
        evidence_answer(all, &ALL, &ALL, |e| e.masking_sets[2].signature[5] ^= 1),
        Err(Error::Server(ServerFault::BadSignature { peer: 3 }))
    );
    // Another owner's set under this owner's name.
    assert_eq!(
        evidence_answer(all, &ALL, &ALL, |e| {
            e.masking_sets[3].signature = e.masking_sets[1].signature;
        }),
        Err(Error::Server(ServerFault::BadSignature { peer: 4 }))
    );
    // Client 5 got no shares from 2 and signed so: a set naming both as
    // survivors is refused on 5's word, though enough others signed it.
    let trimmed = |to, from| to != 5 || from != 2;
    assert_eq!(
        evidence_answer(trimmed, &ALL, &[1, 2, 3, 4], |_| ()),
        Err(Error::Server(ServerFault::NotCertified { peer: 5 }))
    );
    assert_eq!(
        evidence_answer(trimmed, &[1, 2, 3, 4], &[1, 2, 3, 4], |_| ()),
        Ok(five_dropped())
    );
}

#[test]
fn evidence_request_must_be_the_signed_set() {
    let r = five(true, all);
    let sigs = |set: &[ClientIndex]| Evidence {
        masking_sets: r.masking_sets.clone(),
        signatures: ALL.iter().map(|&s| (s, r.sign(s, set))).collect(),
    };
    // Nothing signed yet.
    let mut c = r.fork(1);
    let req = r.request(1, &ALL, Some(sigs(&ALL)));
    assert_eq!(ask(&mut c, &req), fault(ServerFault::SurvivorSetChanged));
    assert_eq!(c.phase(), ClientPhase::Over);
    assert_eq!(ask(&mut c, &req), Err(Error::Misuse(Misuse::RoundOver)));
    // A spent client signs nothing more.
    assert_eq!(
        ask(&mut c, &r.consistency_request(&ALL)),
        Err(Error::Misuse(Misuse::RoundOver))
    );
    // Signed {1, 2, 3, 4, 5}, asked about {1, 2, 3, 4} with its evidence.
    let mut c = r.fork(1);
    ask(&mut c, &r.consistency_request(&ALL)).unwrap();
    let other = r.request(1, &[1, 2, 3, 4], Some(sigs(&[1, 2, 3, 4])));
    assert_eq!(ask(&mut c, &other), fault(ServerFault::SurvivorSetChanged));
}

// ---- `Client`: dispatch and phase.

const KEY_BROADCAST: u8 = 0x81;
const SHARE_DELIVERY: u8 = 0x82;
const UNMASK: u8 = 0x83;
const CONSISTENCY: u8 = 0x84;

/// A whole round of host clients with the real server; `meddle` sees each
/// client and each message first, and answers it itself (the client then
/// leaves the round) when it returns true. The aggregate, if the round
/// ends with one.
fn host_round(params: &Params, mut meddle: impl FnMut(&mut Client, &[u8]) -> bool) -> Vec<u64> {
    let mut r = rng(8);
    let n = params.clients();
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = match params.is_malicious() {
        true => Server::with_roster(params, ROUND, &roster, &mut r),
        false => Server::new(params, ROUND, &mut r),
    }
    .unwrap();
    let mut clients = Vec::new();
    for (i, id) in (1..=n).zip(&ids) {
        let (mut c, msg) = match params.is_malicious() {
            true => Client::with_identity(params, ROUND, i, id, &roster, &mut r),
            false => Client::new(params, ROUND, i, &mut r),
        }
        .unwrap();
        assert_eq!(c.phase(), ClientPhase::KeyBroadcast);
        c.set_input(&[u64::from(i); 2]).unwrap();
        server.receive(i, &msg).unwrap();
        clients.push(c);
    }
    loop {
        match server.close_phase().unwrap() {
            Step::Done(a) => return a.sum,
            Step::Deliver(msgs) => {
                for (i, bytes) in msgs {
                    let c = &mut clients[i as usize - 1];
                    if !meddle(c, &bytes) {
                        let reply = c.receive(&bytes, &mut r).unwrap();
                        server.receive(i, &reply).unwrap();
                    }
                }
            }
            _ => panic!("no phase fails"),
        }
    }
}

#[test]
fn semi_honest_client_reads_a_consistency_request_as_a_malformed_unmask_request() {
    let p = complete(3, 2, false);
    let mut phases = Vec::new();
    let sum = host_round(&p, |c, bytes| {
        if c.index() == 1 {
            phases.push(c.phase());
        }
        if bytes[1] == UNMASK {
            let req = ConsistencyRequest {
                session: UnmaskRequest::decode(&p, bytes).unwrap().session,
                clients: 3,
                survivors: vec![1, 2, 3],
            }
            .to_bytes();
            assert_eq!(
                ask(c, &req),
                fault(ServerFault::Malformed(DecodeError::UnexpectedType(
                    CONSISTENCY
                )))
            );
            assert_eq!(c.phase(), ClientPhase::UnmaskRequest);
        }
        false
    });
    assert_eq!(sum, vec![6, 6]);
    assert_eq!(
        phases,
        [
            ClientPhase::KeyBroadcast,
            ClientPhase::ShareDelivery,
            ClientPhase::UnmaskRequest
        ]
    );
}

#[test]
fn malicious_client_answers_consistency_then_unmask_and_repeats_both() {
    let p = complete(3, 2, true);
    let mut phases = Vec::new();
    let mut answered: BTreeMap<(ClientIndex, u8), (Vec<u8>, Vec<u8>)> = BTreeMap::new();
    let sum = host_round(&p, |c, bytes| {
        if c.index() == 2 {
            phases.push(c.phase());
        }
        if bytes[1] == CONSISTENCY {
            let mut other = bytes.to_vec();
            other[2] ^= 1;
            assert_eq!(ask(c, &other), fault(ServerFault::WrongSession));
            assert_eq!(c.phase(), ClientPhase::ConsistencyRequest);
        }
        if bytes[1] == CONSISTENCY || bytes[1] == UNMASK {
            // Answered here once: the round's own answer is then a repeat.
            let out = ask(c, bytes).unwrap();
            let after = match bytes[1] {
                UNMASK => ClientPhase::Done,
                _ => ClientPhase::UnmaskRequest,
            };
            assert_eq!(c.phase(), after);
            let (req, resp) = answered.entry((c.index(), bytes[1])).or_default();
            *req = bytes.to_vec();
            *resp = out;
        }
        false
    });
    assert_eq!(sum, vec![6, 6]);
    use ClientPhase::{ConsistencyRequest, KeyBroadcast, ShareDelivery, UnmaskRequest};
    assert_eq!(
        phases,
        [
            KeyBroadcast,
            ShareDelivery,
            ConsistencyRequest,
            UnmaskRequest
        ]
    );
    assert_eq!(answered.len(), 6);
}

#[test]
fn a_refused_key_broadcast_or_delivery_ends_the_round() {
    let p = complete(5, 3, false);
    let mut refused = 0;
    let sum = host_round(&p, |c, bytes| {
        let bad;
        match (c.index(), bytes[1]) {
            (1, KEY_BROADCAST) => {
                let mut kb = KeyBroadcast::decode(&p, bytes).unwrap();
                kb.keys.retain(|k| k.index != 1);
                bad = kb.to_bytes();
                assert_eq!(ask(c, &bad), fault(ServerFault::MissingOwnKeys));
            }
            (3, SHARE_DELIVERY) => {
                let mut d = ShareDelivery::decode(&p, bytes).unwrap();
                d.session[0] ^= 1;
                bad = d.to_bytes();
                assert_eq!(ask(c, &bad), fault(ServerFault::WrongSession));
            }
            _ => return false,
        }
        refused += 1;
        assert_eq!(c.phase(), ClientPhase::Over);
        assert_eq!(ask(c, bytes), Err(Error::Misuse(Misuse::RoundOver)));
        assert_eq!(ask(c, &bad), Err(Error::Misuse(Misuse::RoundOver)));
        assert_eq!(c.set_input(&[1, 1]), Err(Error::Misuse(Misuse::RoundOver)));
        true
    });
    assert_eq!(refused, 2);
    assert_eq!(sum, vec![2 + 4 + 5; 2]);
}
