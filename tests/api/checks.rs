//! Tests that fail when one security check of the protocol is taken out or
//! weakened and no other test would notice: each names the rule of
//! spec/protocol.md it pins.

use std::collections::BTreeSet;

use secagg::protocol::messages::{Evidence, ShareKind, UnmaskResponse};
use secagg::simulation::Dropouts;
use secagg::{ClientIndex, Decode, Error, Graph, Params, Phase, ServerFault};

use crate::common::{ROUND, rng};
use crate::harary_attack::{N, T, params, run};
use crate::review::{keep, malicious, pass, ran};

/// spec/protocol.md section 4.5, check 4, `|S ∩ Nbar(o)| >= t`: a holder
/// gives survivor `o`'s self-mask-seed share only if the survivor set holds
/// at least t of `o`'s closed neighbourhood. On H(4, 9), holder `w` is
/// shown `S = {w, a, b}` for two neighbours `a`, `b` of `w` that are not
/// neighbours of each other: `w` signs it (it holds t of `w`'s closed
/// neighbourhood), and the evidence carries every client's signature on
/// `S` (the others' stand for corrupt clients: certified at every client)
/// and every genuine signed masking set. Only the count rule fails: `a`
/// and `b` each have `w` alone as a neighbour in `S`, so `w` refuses naming
/// the lower of them. With a third client that neighbours both, the same
/// holder answers with both seed shares.
#[test]
fn a_survivor_with_fewer_than_t_in_its_closed_neighbourhood_is_not_answered() {
    let p = params(Some(0));
    let round = run(&p, &[], |_, _| true);
    let nb = |x: ClientIndex| p.neighbours(&ROUND, x);
    let w = 1;
    let (a, b) = nb(w)
        .iter()
        .flat_map(|&a| nb(w).into_iter().map(move |b| (a, b)))
        .find(|&(a, b)| a < b && !nb(a).contains(&b))
        .expect("H(4, 9) has two non-adjacent neighbours of 1");
    let answer = |set: &[ClientIndex]| {
        let evidence = Evidence {
            masking_sets: round.masking_sets.clone(),
            signatures: (1..=N).map(|x| (x, round.sign(x, set))).collect(),
        };
        let mut c = round.fork(w);
        c.receive(&round.consistency_request(set), &mut rng(0))
            .expect("w signs a set holding t of its closed neighbourhood");
        c.receive(&round.request(w, set, Some(evidence)), &mut rng(0))
    };
    let mut set = vec![w, a, b];
    set.sort_unstable();
    for o in [a, b] {
        let near = nb(o).iter().filter(|v| set.contains(v)).count();
        assert_eq!(near + 1, T as usize - 1, "{o}: w and itself only");
    }
    // (`.err()`: the shares of a wrong answer are not printed.)
    assert_eq!(
        answer(&set).err(),
        Some(Error::Server(ServerFault::NotCertified { peer: a }))
    );
    // A common neighbour of a and b (not w) brings each to t.
    let third = (1..=N)
        .find(|&x| x != w && nb(x).contains(&a) && nb(x).contains(&b))
        .expect("H(4, 9) has one");
    let set: Vec<ClientIndex> = BTreeSet::from([w, a, b, third]).into_iter().collect();
    let bytes = answer(&set).expect("every survivor has t in its closed neighbourhood");
    let resp = UnmaskResponse::decode(&p, &bytes).unwrap();
    for o in [a, b] {
        assert!(
            resp.shares
                .iter()
                .any(|e| e.owner == o && e.kind == ShareKind::SelfSeed),
            "{o}"
        );
    }
}

/// spec/protocol.md section 5.2, R2 close: fewer than t masked inputs end
/// the round with `survivors = |U3|`, before the smallest-neighbourhood
/// count is taken. H(4, 20), t = 3: clients 1 and 2 alone send their masked
/// inputs (U3 of t - 1 = 2), while some dropped client neighbours neither
/// (its count would be 0): the round reports 2.
#[test]
fn r2_close_below_t_reports_the_survivor_count() {
    let p = Params::new(
        20,
        3,
        16,
        2,
        Graph::Harary {
            degree: 4,
            seed: [5; 32],
        },
    )
    .unwrap();
    let d = Dropouts {
        after_shares: (3..=20).collect(),
        ..Dropouts::default()
    };
    let r = ran(&p, 3, &d, pass, keep);
    let nb = |u: ClientIndex| p.neighbours(&r.report.round, u);
    assert!((3..=20).any(|x| !nb(1).contains(&x) && !nb(2).contains(&x)));
    assert_eq!(
        r.report.result.err(),
        Some(Error::NotEnoughSurvivors {
            phase: Phase::MaskedInput,
            survivors: 2,
            threshold: 3,
        })
    );
}

/// spec/protocol.md section 5.2, consistency close: fewer than t verified
/// consistency signatures end the round with `survivors = |U4|`, before the
/// per-client signer count is taken. Malicious, complete graph, n = 5,
/// t = 3: three clients stop before signing, so U4 holds t - 1 = 2 clients
/// (each of which has one other signer): the round reports 2.
#[test]
fn consistency_close_below_t_reports_the_signer_count() {
    let p = malicious(5, 3, 0);
    let d = Dropouts {
        during_consistency: vec![1, 2, 3],
        ..Dropouts::default()
    };
    let r = ran(&p, 4, &d, pass, keep);
    assert_eq!(
        r.report.result.err(),
        Some(Error::NotEnoughSurvivors {
            phase: Phase::Consistency,
            survivors: 2,
            threshold: 3,
        })
    );
}

/// spec/protocol.md section 5.2, R2 close: the round aborts when some
/// survivor has fewer than t members of U3 in `Nbar(u)`, or some dropped
/// client fewer than t in `N(v) ∩ U3`, and not at exactly t. On H(4, 9),
/// t = 3, semi-honest, the smallest set of clients dropping after R1 that
/// leaves the smallest such count at exactly t - 1 = 2 (recomputed here
/// from `Params::neighbours`, with U3 of at least t) ends the round there
/// with that count.
#[test]
fn r2_close_aborts_at_t_minus_one_in_a_neighbourhood() {
    let p = params(None);
    let id = ran(&p, 9, &Dropouts::default(), pass, keep).report.round;
    let nb = |u: ClientIndex| p.neighbours(&id, u);
    let smallest = |gone: &[ClientIndex]| {
        (1..=N)
            .map(|v| {
                let live = nb(v).iter().filter(|x| !gone.contains(x)).count();
                live + usize::from(!gone.contains(&v))
            })
            .min()
            .unwrap()
    };
    let gone: Vec<ClientIndex> = (1u32..1 << N)
        .map(|bits| {
            (1..=N)
                .filter(|i| bits >> (i - 1) & 1 == 1)
                .collect::<Vec<_>>()
        })
        .filter(|g| g.len() <= (N - T) as usize && smallest(g) == T as usize - 1)
        .min_by_key(Vec::len)
        .expect("some set of drops leaves a count of t - 1");
    let d = Dropouts {
        after_shares: gone,
        ..Dropouts::default()
    };
    let r = ran(&p, 9, &d, pass, keep);
    assert_eq!(r.report.round, id);
    assert_eq!(
        r.report.result.err(),
        Some(Error::NotEnoughSurvivors {
            phase: Phase::MaskedInput,
            survivors: T as usize - 1,
            threshold: T as usize,
        })
    );
}
