//! Claims of spec/threat-model.md and spec/protocol.md that spec/security.md
//! cited no test for, or only a test that would not catch their failure:
//! each test's doc comment names the claim it checks.

use std::cell::RefCell;

use curve25519_dalek::Scalar;
use secagg::protocol::messages::{AdvertiseKeys, MaskedInput, UnmaskRequest, UnmaskResponse};
use secagg::simulation::{Dropouts, run_on_wire};
use secagg::{
    ClientFault, ClientIndex, Decode, Encode, Error, Outcome, Params, Phase, ServerFault,
};

use crate::common::rng;
use crate::review::{Ran, Tap, all, client_error, complete, keep, malicious, pass, ran};

/// Both server models at n = 5, t = 3 on the complete graph.
fn both_models() -> [Params; 2] {
    [complete(5, 3), malicious(5, 3, 0)]
}

/// A client hook that adds a complaint about `dealer` to the MaskedInput
/// of each client in `accusers` (its shares of `dealer` opened and
/// verified: the complaint is false), and hands the server the phase's
/// MaskedInputs in descending order of their senders, so that the first
/// accuser heard is the largest.
fn false_complaints(
    p: &Params,
    dealer: ClientIndex,
    accusers: &'static [ClientIndex],
) -> impl FnMut(Phase, ClientIndex, Vec<u8>) -> Vec<(ClientIndex, Vec<u8>)> {
    let p = p.clone();
    let mut held: Vec<(ClientIndex, Vec<u8>)> = Vec::new();
    move |phase, from, b| {
        if phase != Phase::MaskedInput {
            return vec![(from, b)];
        }
        let b = if accusers.contains(&from) {
            let mut m = MaskedInput::decode(&p, &b).unwrap();
            m.complaints = vec![dealer];
            m.to_bytes()
        } else {
            b
        };
        held.push((from, b));
        if from == p.clients() {
            held.reverse();
            std::mem::take(&mut held)
        } else {
            Vec::new()
        }
    }
}

/// threat-model.md P3 ("complaining falsely about an honest dealer until it
/// has fewer than t usable holders: the round ends naming the dealer as
/// accused, never as proven") and protocol.md section 5.2 (`reported_by`
/// is the smallest accuser). Corrupt holders 3, 4 and 5 complain about
/// honest dealer 2, whose shares they hold and verified: 2 holders are
/// left, fewer than t = 3, and the round ends at the R2 close with
/// `Undecryptable { reported_by: 3 }` naming 2, aborted, although 5's
/// complaint reached the server first. With two false accusers, 3 holders
/// are left: the round finishes with the exact sum of every input, the
/// honest dealer's included, and the dealer is named as accused by the
/// smallest accuser and nobody is named anything else. Both models (the
/// masking-set signature does not cover complaints).
#[test]
fn false_complaints_end_the_round_naming_the_dealer_as_accused_only() {
    for p in both_models() {
        let r = ran(
            &p,
            3,
            &Dropouts::default(),
            false_complaints(&p, 2, &[3, 4, 5]),
            keep,
        );
        assert_eq!(
            r.report.result.as_ref().err(),
            Some(&client_error(
                2,
                ClientFault::Undecryptable { reported_by: 3 },
                Outcome::Aborted
            )),
            "malicious = {}",
            p.is_malicious()
        );
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        let r = ran(
            &p,
            4,
            &Dropouts::default(),
            false_complaints(&p, 2, &[4, 5]),
            keep,
        );
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        r.finished(
            &all(&p),
            &[(2, ClientFault::Undecryptable { reported_by: 4 })],
        );
    }
}

/// threat-model.md P3, "Accused": "a share an accuser sends for it anyway
/// is treated as every share is: a secret is rebuilt only from shares that
/// verify, a wrong share that was used names its holder `BadShare`, and the
/// sum stays exact". Holder 1 complains falsely about dealer 2 and then
/// answers the unmask request with its share of 2's seed anyway. Unchanged,
/// the round finishes with the exact sum and only 2 accused. Off by one,
/// the share sits among the first t of 2's seed (holders 1, 2, 3), so the
/// seed fails its `C_0`, every share of it is checked and holder 1 is named
/// `BadShare { owner: 2 }`; the sum, rebuilt from verified shares, is still
/// exact. Both models.
#[test]
fn a_share_an_accuser_sends_anyway_is_checked_like_every_share() {
    for p in both_models() {
        for lie in [false, true] {
            let mut complain = false_complaints(&p, 2, &[1]);
            let p2 = p.clone();
            let up = move |phase, from, b: Vec<u8>| {
                if phase == Phase::Unmask && from == 1 {
                    let mut m = UnmaskResponse::decode(&p2, &b).unwrap();
                    let e = m.shares.iter_mut().find(|e| e.owner == 2);
                    let e = e.expect("the accuser holds the dealer's share and sends it");
                    if lie {
                        e.share += Scalar::ONE;
                    }
                    return vec![(from, m.to_bytes())];
                }
                complain(phase, from, b)
            };
            let r = ran(&p, 5, &Dropouts::default(), up, keep);
            assert!(r.refused.is_empty(), "{:?}", r.refused);
            let accused = (2, ClientFault::Undecryptable { reported_by: 1 });
            if lie {
                r.finished(
                    &all(&p),
                    &[(1, ClientFault::BadShare { owner: 2 }), accused],
                );
            } else {
                r.finished(&all(&p), &[accused]);
            }
        }
    }
}

/// protocol.md section 5.1, R0: "`c_pk == s_pk` (`DuplicateKey`) excludes
/// it". Client 2 advertises its own mask key as both of its keys (no other
/// client has it): it alone is excluded, with `DuplicateKey`, its later
/// messages are not taken, and the round sums exactly the four others.
/// Semi-honest model (in the malicious one the changed key breaks the
/// signature first).
#[test]
fn one_key_advertised_as_both_excludes_its_sender() {
    let p = complete(5, 3);
    let p2 = p.clone();
    let up = move |phase, from, b: Vec<u8>| {
        if phase == Phase::AdvertiseKeys && from == 2 {
            let mut m = AdvertiseKeys::decode(&p2, &b).unwrap();
            m.c_pk = m.s_pk;
            return vec![(from, m.to_bytes())];
        }
        vec![(from, b)]
    };
    let r = ran(&p, 6, &Dropouts::default(), up, keep);
    assert_eq!(
        r.refused_of(2),
        [(
            Phase::AdvertiseKeys,
            client_error(2, ClientFault::DuplicateKey, Outcome::Excluded)
        )]
    );
    assert_eq!(r.refused.len(), 1, "{:?}", r.refused);
    r.finished(&[1, 3, 4, 5], &[(2, ClientFault::DuplicateKey)]);
}

/// A malicious-model round of n = 5, t = 3 in which client 1's unmask
/// request is edited by `edit`; returns the round and whether client 1 sent
/// an unmask answer.
fn edited_request(seed: u64, edit: impl Fn(&mut UnmaskRequest)) -> (Ran, bool) {
    let p = malicious(5, 3, 0);
    let p2 = p.clone();
    let answered = RefCell::new(false);
    let up = |phase, from, b| {
        if phase == Phase::Unmask && from == 1 {
            *answered.borrow_mut() = true;
        }
        pass(phase, from, b)
    };
    let down = move |phase, to, b: Vec<u8>| {
        if phase == Phase::Consistency && to == 1 {
            let mut m = UnmaskRequest::decode(&p2, &b).unwrap();
            edit(&mut m);
            return m.to_bytes();
        }
        b
    };
    let r = ran(&p, seed, &Dropouts::default(), up, down);
    let answered = answered.into_inner();
    (r, answered)
}

/// Client 1 refused its unmask request with `fault` and revealed nothing
/// (it sent no answer); the four other holders finish the round with the
/// exact sum of all five inputs (every client is in U3), nobody named.
fn refused_and_round_exact(r: &Ran, answered: bool, fault: ServerFault) {
    assert_eq!(r.report.client_errors, [(1, Error::Server(fault))]);
    assert!(!answered, "client 1 answered a request it refused");
    r.finished(&all(&r.params), &[]);
}

/// protocol.md section 4.5, check 4 (P2): for every survivor `o` it names,
/// a holder needs `o`'s signed masking set in the evidence, with a
/// signature that verifies, else it refuses naming `o`. Survivor 3's
/// masking set left out: `NotCertified { peer: 3 }`; its signature with one
/// bit flipped, or its bitmap with the bit of a neighbour cleared (the
/// server claiming 3 masked with fewer peers): `BadSignature { peer: 3 }`.
/// The unedited request is answered (so the check, not the harness,
/// refuses).
#[test]
fn a_survivors_masking_set_must_be_in_the_evidence_and_signed() {
    let set_of_3 = |m: &mut UnmaskRequest| -> usize {
        let e = m.evidence.as_ref().unwrap();
        e.masking_sets.iter().position(|s| s.owner == 3).unwrap()
    };
    let (r, answered) = edited_request(7, |_| {});
    assert!(answered);
    assert!(r.report.client_errors.is_empty());
    r.finished(&all(&r.params), &[]);
    let (r, answered) = edited_request(7, |m| {
        let at = set_of_3(m);
        m.evidence.as_mut().unwrap().masking_sets.remove(at);
    });
    refused_and_round_exact(&r, answered, ServerFault::NotCertified { peer: 3 });
    let (r, answered) = edited_request(7, |m| {
        let at = set_of_3(m);
        m.evidence.as_mut().unwrap().masking_sets[at].signature[5] ^= 0x10;
    });
    refused_and_round_exact(&r, answered, ServerFault::BadSignature { peer: 3 });
    let (r, answered) = edited_request(7, |m| {
        let at = set_of_3(m);
        m.evidence.as_mut().unwrap().masking_sets[at].bitmap[0] &= !1;
    });
    refused_and_round_exact(&r, answered, ServerFault::BadSignature { peer: 3 });
}

/// protocol.md section 4.5, check 3 (P2): `S` is certified at `x` when at
/// least t members of `N(x)` signed it, and a holder answers only if `S` is
/// certified at every peer it answers about, naming the first that is not.
/// n = 5, t = 3, every client signed. With the signatures of 1, 3, 4 and 5
/// only, each peer has at least t signers among its neighbours (client 2
/// has 4, each of the others exactly 3): the request is answered. With
/// those of 1, 3 and 4 only, 2 still has 3 but 3 has 2 (1 and 4): the
/// holder refuses with `NotCertified { peer: 3 }`.
#[test]
fn exactly_t_signers_around_each_peer_certify_and_t_minus_one_do_not() {
    let keep_signers = |who: &'static [ClientIndex]| {
        move |m: &mut UnmaskRequest| {
            let e = m.evidence.as_mut().unwrap();
            e.signatures.retain(|(s, _)| who.contains(s));
        }
    };
    let (r, answered) = edited_request(8, keep_signers(&[1, 3, 4, 5]));
    assert!(answered);
    assert!(r.report.client_errors.is_empty());
    r.finished(&all(&r.params), &[]);
    let (r, answered) = edited_request(8, keep_signers(&[1, 3, 4]));
    refused_and_round_exact(&r, answered, ServerFault::NotCertified { peer: 3 });
}

/// The RNG of `rng(seed)`, except that the first bytes drawn from it, the
/// round id of a simulated round, have their lowest bit flipped: a second
/// round with the same roster, keys drawn and inputs, under another id.
struct OtherRound(chacha20::ChaCha20Rng, bool);

impl rand_core::TryRng for OtherRound {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.0.try_next_u32()
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0.try_next_u64()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.try_fill_bytes(dst)?;
        if !self.1 {
            self.1 = true;
            dst[0] ^= 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for OtherRound {}

/// What the wire of [`evidence_from_another_round_is_refused`] saw of
/// client 1, and what it puts into client 1's unmask request's evidence
/// (the consistency signatures or masking sets of another round).
#[derive(Default)]
struct Replay {
    advertised: Vec<u8>,
    request: Option<UnmaskRequest>,
    signatures: Option<Vec<(ClientIndex, [u8; 64])>>,
    masking_sets: Option<Vec<secagg::protocol::messages::MaskingSet>>,
    answered: bool,
}

/// threat-model.md P5 ("the X25519 mask secret is bound to the round id; a
/// message replayed from another session or round fails its signature")
/// and protocol.md section 4.5, check 2. Two malicious-model rounds with
/// the same roster, the same draws and the same inputs, under round ids
/// that differ in one bit. Client 1's `c_pk` is the same in both (so are
/// its draws) but its `s_pk` is not: the mask secret depends on the round.
/// A server that puts the first round's consistency signatures (on the
/// same survivor set, by the same signers) into the second round's
/// evidence is refused with `BadSignature` naming the first signer; with
/// the first round's signed masking sets, `BadSignature` naming the first
/// survivor, client 1 itself. The refusing holder sends no answer, and the
/// others finish with the exact sum.
#[test]
fn evidence_from_another_round_is_refused() {
    let p = malicious(5, 3, 0);
    let inputs: Vec<Vec<u64>> = (1..=5).map(|i| vec![i * 1000; 8]).collect();
    let round = |seen: &mut Replay, other: bool| {
        let seen = RefCell::new(seen);
        let up = |phase, from, bytes: Vec<u8>| {
            let mut seen = seen.borrow_mut();
            match (from, phase) {
                (1, Phase::AdvertiseKeys) => seen.advertised.clone_from(&bytes),
                (1, Phase::Unmask) => seen.answered = true,
                _ => {}
            }
            vec![(from, bytes)]
        };
        let down = |phase, to, bytes: Vec<u8>| {
            if phase != Phase::Consistency || to != 1 {
                return bytes;
            }
            let mut seen = seen.borrow_mut();
            let mut m = UnmaskRequest::decode(&p, &bytes).unwrap();
            seen.request = Some(m.clone());
            let e = m.evidence.as_mut().unwrap();
            if let Some(s) = &seen.signatures {
                e.signatures.clone_from(s);
            }
            if let Some(s) = &seen.masking_sets {
                e.masking_sets.clone_from(s);
            }
            m.to_bytes()
        };
        let mut wire = Tap {
            up,
            down,
            refused: Vec::new(),
        };
        let d = Dropouts::default();
        let report = if other {
            let mut r = OtherRound(rng(12), false);
            run_on_wire(&p, &inputs, &d, &mut r, &mut wire)
        } else {
            run_on_wire(&p, &inputs, &d, &mut rng(12), &mut wire)
        };
        Ran {
            report,
            refused: wire.refused,
            inputs: inputs.clone(),
            params: p.clone(),
        }
    };
    let mut first = Replay::default();
    let a = round(&mut first, false);
    a.finished(&all(&p), &[]);
    let mut second = Replay::default();
    let b = round(&mut second, true);
    b.finished(&all(&p), &[]);
    let mut id = a.report.round;
    id[0] ^= 1;
    assert_eq!(b.report.round, id);
    let (keys_a, keys_b) = (
        AdvertiseKeys::decode(&p, &first.advertised).unwrap(),
        AdvertiseKeys::decode(&p, &second.advertised).unwrap(),
    );
    assert_eq!(keys_a.c_pk, keys_b.c_pk, "the same draws");
    assert_ne!(
        keys_a.s_pk, keys_b.s_pk,
        "the mask secret ignores the round"
    );
    let old = first.request.unwrap().evidence.unwrap();
    let new = second.request.unwrap().evidence.unwrap();
    assert_eq!(
        old.signatures.iter().map(|s| s.0).collect::<Vec<_>>(),
        new.signatures.iter().map(|s| s.0).collect::<Vec<_>>(),
        "the same signers"
    );
    let mut replay = Replay {
        signatures: Some(old.signatures.clone()),
        ..Replay::default()
    };
    let r = round(&mut replay, true);
    let peer = old.signatures[0].0;
    refused_and_round_exact(&r, replay.answered, ServerFault::BadSignature { peer });
    let mut replay = Replay {
        masking_sets: Some(old.masking_sets),
        ..Replay::default()
    };
    let r = round(&mut replay, true);
    refused_and_round_exact(&r, replay.answered, ServerFault::BadSignature { peer: 1 });
}

/// protocol.md section 5.1: in the malicious model's Unmask a client not
/// in U4 (it did not sign the survivor set) is not expected: its message
/// is `NotInPhase`, ignored, never a fault. Client 5 masks its input and
/// then stops before signing; the wire hands the server, as 5's, a copy of
/// client 4's unmask answer. It is refused `NotInPhase` and ignored: nobody
/// is named and the sum of all five inputs (5 is in U3) is exact.
#[test]
fn an_unmask_answer_from_a_client_that_did_not_sign_is_not_in_phase() {
    let p = malicious(5, 3, 0);
    let up = |phase, from, b: Vec<u8>| {
        if phase == Phase::Unmask && from == 4 {
            return vec![(4, b.clone()), (5, b)];
        }
        vec![(from, b)]
    };
    let d = Dropouts {
        during_consistency: vec![5],
        ..Dropouts::default()
    };
    let r = ran(&p, 9, &d, up, keep);
    assert_eq!(
        r.refused,
        [(
            Phase::Unmask,
            5,
            client_error(5, ClientFault::NotInPhase, Outcome::Ignored)
        )]
    );
    r.finished(&all(&p), &[]);
}

/// protocol.md section 5.3: "a secret with fewer than t verified shares
/// aborts the round (`survivors` = the verified shares of the first such
/// secret)", outcomes taken in a fixed order (U3 ascending), so the error
/// does not depend on scheduling. n = 6, t = 3, no dropouts: every holder
/// but 2 and 6 lies about survivor 2's seed (2 verified shares), every
/// holder but 4 about survivor 4's (1 verified share). The round ends with
/// `NotEnoughSurvivors { Unmask, survivors: 2, threshold: 3 }`: owner 2's
/// count, not 4's. Both models.
#[test]
fn the_first_secret_short_of_verified_shares_is_the_one_reported() {
    for p in [complete(6, 3), malicious(6, 4, 0)] {
        let t = p.threshold();
        // Malicious n = 6 needs 2t > n: t = 4, so owner 2 keeps 3 verified
        // shares (2, 5, 6) and owner 4 keeps 1.
        let honest_for_2: &[ClientIndex] = if t == 3 { &[2, 6] } else { &[2, 5, 6] };
        let p2 = p.clone();
        let up = move |phase, from, b: Vec<u8>| {
            if phase != Phase::Unmask {
                return vec![(from, b)];
            }
            let mut m = UnmaskResponse::decode(&p2, &b).unwrap();
            for e in &mut m.shares {
                if (e.owner == 2 && !honest_for_2.contains(&from)) || (e.owner == 4 && from != 4) {
                    e.share += Scalar::ONE;
                }
            }
            vec![(from, m.to_bytes())]
        };
        let r = ran(&p, 10, &Dropouts::default(), up, keep);
        assert_eq!(
            r.report.result.as_ref().err(),
            Some(&Error::NotEnoughSurvivors {
                phase: Phase::Unmask,
                survivors: honest_for_2.len(),
                threshold: t as usize,
            }),
            "t = {t}"
        );
    }
}

/// H(4, 9) with t = 3, semi-honest or malicious with c = 1 (`2t - k = 2 >
/// c`), and the round id the simulation draws first from `rng(seed)`.
fn harary_9(malicious: bool, seed: u64) -> (Params, secagg::RoundId) {
    use rand_core::Rng;
    let p = Params::new(
        9,
        3,
        32,
        2,
        secagg::Graph::Harary {
            degree: 4,
            seed: [4; 32],
        },
    )
    .unwrap();
    let p = if malicious {
        p.with_model(secagg::ServerModel::Malicious { corrupt: 1 })
            .unwrap()
    } else {
        p
    };
    let mut id = [0u8; 32];
    rng(seed).fill_bytes(&mut id);
    (p, id)
}

/// Runs a round of `p` under `rng(seed)` (round id `id`) with `dropouts`;
/// it must end at the close of `phase` with `NotEnoughSurvivors` whose
/// count is `count`, which the caller recomputed, and that count must be 1
/// (the cases below leave only client 1 that short).
fn ends_short(
    p: &Params,
    (seed, id): (u64, secagg::RoundId),
    dropouts: &Dropouts,
    phase: Phase,
    count: usize,
) {
    assert_eq!(count, 1, "{dropouts:?}");
    let r = ran(p, seed, dropouts, pass, keep);
    assert_eq!(r.report.round, id);
    let want = Error::NotEnoughSurvivors {
        phase,
        survivors: count,
        threshold: 3,
    };
    assert_eq!(r.report.result.as_ref().err(), Some(&want), "{dropouts:?}");
}

/// protocol.md section 5.2, R2 close: the round aborts if some survivor
/// has fewer than t members of U3 in `Nbar(u)` or some client dropped after
/// R1 has fewer than t in `N(v) ∩ U3`, with `survivors` the smallest such
/// count. On H(4, 9) with t = 3, clients drop after R1 around client 1:
/// 1 and three of its neighbours (1 keeps one live neighbour; every
/// survivor keeps at least 2 in its `Nbar`), then all four neighbours of 1
/// (1 alone in its `Nbar`; every dropped client keeps at least 2 live
/// neighbours). The count is recomputed here from `Params::neighbours` of
/// the round's id, and the round must end at the R2 close with exactly it.
#[test]
fn r2_close_aborts_with_the_smallest_neighbourhood_count() {
    let (p, id) = harary_9(false, 11);
    let nb = |u: ClientIndex| p.neighbours(&id, u);
    let n1 = nb(1);
    for gone in [vec![1, n1[0], n1[1], n1[2]], n1.clone()] {
        let u3: Vec<ClientIndex> = all(&p).into_iter().filter(|v| !gone.contains(v)).collect();
        let live = |v: ClientIndex| nb(v).iter().filter(|x| u3.contains(x)).count();
        let smallest = all(&p)
            .into_iter()
            .map(|v| live(v) + usize::from(u3.contains(&v)))
            .min()
            .unwrap();
        let d = Dropouts {
            after_shares: gone.clone(),
            ..Dropouts::default()
        };
        ends_short(&p, (11, id), &d, Phase::MaskedInput, smallest);
    }
}

/// protocol.md section 5.2, consistency close: the round aborts if any
/// client `x` of U2 has fewer than t signers in `N(x)` (its status could not
/// be certified), with `survivors` the smallest such count. H(4, 9), t = 3,
/// c = 1: three of client 1's four neighbours stop before signing, so 1
/// has one signer among its neighbours (every other client at least 2,
/// and U4 has 6 >= t members): the round ends at the consistency close
/// with the count recomputed here from `Params::neighbours`.
#[test]
fn consistency_close_aborts_with_the_smallest_signer_count() {
    let (p, id) = harary_9(true, 16);
    let nb = |u: ClientIndex| p.neighbours(&id, u);
    let gone = nb(1)[..3].to_vec();
    let signed = |x: ClientIndex| nb(x).iter().filter(|v| !gone.contains(v)).count();
    let smallest = all(&p).into_iter().map(signed).min().unwrap();
    let d = Dropouts {
        during_consistency: gone.clone(),
        ..Dropouts::default()
    };
    ends_short(&p, (16, id), &d, Phase::Consistency, smallest);
}

/// protocol.md section 4.2: the KeyBroadcast checks run entry by entry in
/// the broadcast's order, each entry's in the order the section lists
/// them (a repeated key, then the client's own keys, then neighbour, weak
/// key and signature), and only then whether the client's own entry was
/// there at all and whether t entries were. Client 3, n = 5, t = 3: its own
/// entry (the third) carrying entry 1's `c_pk` is `DuplicateKeys`; entry 2
/// with a weak key before an own entry with wrong keys is
/// `WeakKey { peer: 2 }`; a broadcast of entries 1 and 2 only, without its
/// own, is `MissingOwnKeys` rather than `NotEnoughNeighbours`. Each time
/// client 3 is spent before dealing, and the others sum exactly.
#[test]
fn key_broadcast_checks_run_entry_by_entry_in_the_stated_order() {
    use secagg::protocol::messages::KeyBroadcast;
    type Edit = fn(&mut KeyBroadcast);
    let cases: [(Edit, ServerFault); 3] = [
        (
            |m| m.keys[2].c_pk = m.keys[0].c_pk,
            ServerFault::DuplicateKeys,
        ),
        (
            |m| {
                m.keys[1].c_pk = [0; 32];
                m.keys[2].s_pk[0] ^= 1;
            },
            ServerFault::WeakKey { peer: 2 },
        ),
        (|m| m.keys.truncate(2), ServerFault::MissingOwnKeys),
    ];
    let p = complete(5, 3);
    for (edit, fault) in cases {
        let down = |phase, to, b: Vec<u8>| {
            if phase != Phase::AdvertiseKeys || to != 3 {
                return b;
            }
            let mut m = KeyBroadcast::decode(&p, &b).unwrap();
            assert_eq!(m.keys[2].index, 3);
            edit(&mut m);
            m.to_bytes()
        };
        let r = ran(&p, 13, &Dropouts::default(), pass, down);
        assert_eq!(r.report.client_errors, [(3, Error::Server(fault))]);
        r.finished(&[1, 2, 4, 5], &[]);
    }
}

/// protocol.md section 4.3: the input's length is checked first, its range
/// in the masking pass after the refusals of the delivery. Client 3 of
/// n = 5, t = 3 (b = 32) is handed a ShareDelivery of another session:
/// with an input holding `2^32` it is refused `WrongSession` (the range
/// not yet checked), with an input one element short `Misuse(InputLength)`
/// (before the delivery is read); with the genuine delivery the first
/// input is `Misuse(InputRange)`. Client 3 sends nothing in each case and
/// the others' sum is exact.
#[test]
fn input_length_is_checked_before_the_delivery_and_range_after_it() {
    use secagg::Misuse;
    use secagg::protocol::messages::ShareDelivery;
    let p = complete(5, 3);
    let mut too_big: Vec<Vec<u64>> = (1..=5).map(|i| vec![i; 8]).collect();
    too_big[2][4] = 1 << 32;
    let mut short = too_big.clone();
    short[2] = vec![3; 7];
    for (inputs, other_session, error) in [
        (&too_big, true, Error::Server(ServerFault::WrongSession)),
        (&short, true, Error::Misuse(Misuse::InputLength)),
        (&too_big, false, Error::Misuse(Misuse::InputRange)),
    ] {
        let down = |phase, to, b: Vec<u8>| {
            if phase != Phase::ShareKeys || to != 3 || !other_session {
                return b;
            }
            let mut m = ShareDelivery::decode(&p, &b).unwrap();
            m.session[0] ^= 1;
            m.to_bytes()
        };
        let mut wire = Tap {
            up: pass,
            down,
            refused: Vec::new(),
        };
        let report = run_on_wire(&p, inputs, &Dropouts::default(), &mut rng(14), &mut wire);
        assert_eq!(report.client_errors, [(3, error)]);
        let r = Ran {
            report,
            refused: wire.refused,
            inputs: inputs.clone(),
            params: p.clone(),
        };
        r.finished(&[1, 2, 4, 5], &[]);
    }
}

/// threat-model.md P3, "Proven": "in the malicious model the commitments
/// are signed by the dealer". The server swaps the first two of dealer 2's
/// seed commitments in client 3's ShareDelivery, keeping 2's signature
/// (client 3: at holder x = 1 swapping C_0 and C_1 changes nothing).
/// Malicious model: client 3 refuses with `BadSignature { peer: 2 }` before
/// masking, counts as dropped after R1, and the others sum exactly, nobody
/// named. Semi-honest model (no signature), the same edit makes 2's shares
/// fail their commitments: client 3 complains, 2 is named `Undecryptable`
/// by 3 (accused, not proven) and every input is in the exact sum.
#[test]
fn a_dealers_commitments_are_bound_by_its_signature() {
    use secagg::protocol::messages::ShareDelivery;
    for p in both_models() {
        let down = |phase, to, b: Vec<u8>| {
            if phase != Phase::ShareKeys || to != 3 {
                return b;
            }
            let mut m = ShareDelivery::decode(&p, &b).unwrap();
            let d = m.shares.iter_mut().find(|d| d.sender == 2).unwrap();
            d.seed_commitments.swap(0, 1);
            m.to_bytes()
        };
        let r = ran(&p, 15, &Dropouts::default(), pass, down);
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        if p.is_malicious() {
            let fault = ServerFault::BadSignature { peer: 2 };
            assert_eq!(r.report.client_errors, [(3, Error::Server(fault))]);
            r.finished(&[1, 2, 4, 5], &[]);
        } else {
            assert!(r.report.client_errors.is_empty());
            r.finished(
                &all(&p),
                &[(2, ClientFault::Undecryptable { reported_by: 3 })],
            );
        }
    }
}

/// threat-model.md P6, "secrets are never carried in errors": every error
/// type of the public API is `Copy` (so it owns no buffer, key or
/// zeroizing wrapper) and an enum of at most 32 bytes. A variant holding a
/// scalar, an X25519 or Ed25519 key, a share or a state key (32 bytes
/// each, byte arrays with no spare bit pattern for the tag) would make the
/// enum larger than 32 bytes: only indices, counts and tags fit.
#[test]
fn every_error_type_is_copy_and_too_small_to_hold_a_secret() {
    fn small<T: Copy>(name: &str) {
        let size = std::mem::size_of::<T>();
        assert!(size <= 32, "{name} is {size} bytes");
    }
    small::<Error>("Error");
    small::<ClientFault>("ClientFault");
    small::<ServerFault>("ServerFault");
    small::<secagg::Misuse>("Misuse");
    small::<secagg::DecodeError>("DecodeError");
    small::<secagg::ParamsError>("ParamsError");
    small::<Outcome>("Outcome");
    small::<Phase>("Phase");
    small::<secagg::StateError>("StateError");
    small::<secagg::dp::DpError>("DpError");
    small::<secagg::dp::SimulationError>("SimulationError");
}
