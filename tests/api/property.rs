//! The round property: for random parameters and random dropouts at every
//! phase, the result is exactly the plaintext sum over U3 whenever every
//! phase (and every neighbourhood) kept at least t, and otherwise a typed
//! `NotEnoughSurvivors` at the phase an independent model predicts.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rand_core::Rng;
use secagg::simulation::{Dropouts, run};
use secagg::{ClientIndex, Error, Graph, Params, Phase, ServerModel};

use crate::common::rng;

/// What the model says the round ends with.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Sum(Vec<ClientIndex>),
    Abort(Phase),
}

/// An independent model of who survives each phase (spec/protocol.md
/// sections 4 and 5): set arithmetic only, no cryptography.
fn model(p: &Params, round: &[u8; 32], d: &Dropouts) -> Outcome {
    let n = p.clients();
    let t = p.threshold() as usize;
    let nb: Vec<BTreeSet<ClientIndex>> = (0..=n)
        .map(|u| p.neighbours(round, u).into_iter().collect())
        .collect();
    let within = |u: ClientIndex, set: &BTreeSet<ClientIndex>, with_self: bool| {
        nb[u as usize].intersection(set).count() + usize::from(with_self && set.contains(&u))
    };
    let has = |list: &[ClientIndex], u| list.contains(&u);
    let u1: BTreeSet<_> = (1..=n).filter(|&u| !has(&d.before_keys, u)).collect();
    if u1.len() < t {
        return Outcome::Abort(Phase::AdvertiseKeys);
    }
    // A client refuses a key broadcast naming fewer than t (itself included).
    let u2: BTreeSet<_> = u1
        .iter()
        .copied()
        .filter(|&u| !has(&d.after_keys, u) && within(u, &u1, true) >= t)
        .collect();
    if u2.len() < t {
        return Outcome::Abort(Phase::ShareKeys);
    }
    let u3: BTreeSet<_> = u2
        .iter()
        .copied()
        .filter(|&u| !has(&d.after_shares, u) && within(u, &u2, true) >= t)
        .collect();
    if u3.len() < t {
        return Outcome::Abort(Phase::MaskedInput);
    }
    let dropped: BTreeSet<_> = u2.difference(&u3).copied().collect();
    let short = |set: &BTreeSet<ClientIndex>| {
        u3.iter().any(|&u| within(u, set, true) < t)
            || dropped.iter().any(|&v| within(v, set, false) < t)
    };
    if short(&u3) {
        return Outcome::Abort(Phase::MaskedInput);
    }
    // Malicious model: the survivors that sign the survivor set, and the
    // server's check that every client of U2 has t signing neighbours.
    let u4: BTreeSet<_> = u3
        .iter()
        .copied()
        .filter(|&u| !has(&d.during_consistency, u))
        .collect();
    if p.is_malicious() && (u4.len() < t || u2.iter().any(|&x| within(x, &u4, false) < t)) {
        return Outcome::Abort(Phase::Consistency);
    }
    let responders: BTreeSet<_> = u4
        .iter()
        .copied()
        .filter(|&u| !has(&d.during_unmask, u))
        .collect();
    if short(&responders) {
        return Outcome::Abort(Phase::Unmask);
    }
    Outcome::Sum(u3.into_iter().collect())
}

#[derive(Debug, Clone)]
struct Case {
    n: u32,
    harary_degree: Option<u32>,
    t: u32,
    bits: u8,
    dim: u32,
    fates: Vec<u8>,
    seed: u64,
    malicious: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        2u32..=40,
        any::<bool>(),
        any::<u64>(),
        prop_oneof![Just(1u8), Just(32), Just(33), Just(64), 1u8..=64],
        any::<bool>(),
    )
        .prop_flat_map(|(n, harary, seed, bits, malicious)| {
            let max_k = if n % 2 == 1 { n - 1 } else { n - 2 };
            let degree = if harary && max_k >= 2 {
                (1..=max_k / 2).prop_map(|h| Some(2 * h)).boxed()
            } else {
                Just(None).boxed()
            };
            (
                Just(n),
                degree,
                Just(bits),
                prop_oneof![Just(0u32), Just(1), 0u32..=300],
                proptest::collection::vec(0u8..100, n as usize),
                Just(seed),
                0u32..=1000,
                Just(malicious),
            )
        })
        .prop_map(
            |(n, harary_degree, bits, dim, fates, seed, tpick, malicious)| {
                let k = harary_degree.unwrap_or(n - 1);
                // Thresholds spread over 2..=k+1, weighted towards ones that can finish.
                let mut t = 2 + (tpick * (k)) / 1001 / if tpick % 3 == 0 { 1 } else { 2 };
                // The least threshold with a unique survivor set at c = 0;
                // the malicious model also needs t <= k (t signers among k
                // neighbours), so a roster with no such t (n = 2) runs
                // semi-honest.
                let base = if harary_degree.is_some() { k } else { n };
                let malicious = malicious && base / 2 < k;
                let top = if malicious {
                    t = t.max(base / 2 + 1);
                    k
                } else {
                    k + 1
                };
                Case {
                    n,
                    harary_degree,
                    t: t.min(top),
                    bits,
                    dim,
                    fates,
                    seed,
                    malicious,
                }
            },
        )
}

fn dropouts(fates: &[u8]) -> Dropouts {
    let mut d = Dropouts::default();
    for (i, &f) in (1u32..).zip(fates) {
        match f {
            0..=74 => {}
            75..=80 => d.before_keys.push(i),
            81..=86 => d.after_keys.push(i),
            87..=93 => d.after_shares.push(i),
            94..=96 => d.during_consistency.push(i),
            _ => d.during_unmask.push(i),
        }
    }
    d
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let mut r = rng(c.seed);
    let graph = match c.harary_degree {
        None => Graph::Complete,
        Some(degree) => {
            let mut seed = [0u8; 32];
            r.fill_bytes(&mut seed);
            Graph::Harary { degree, seed }
        }
    };
    let mut params = Params::new(c.n, c.t, c.bits, c.dim, graph).unwrap();
    if c.malicious {
        params = params
            .with_model(ServerModel::Malicious { corrupt: 0 })
            .unwrap();
    }
    let top = if c.bits == 64 {
        u64::MAX
    } else {
        (1u64 << c.bits) - 1
    };
    let inputs: Vec<Vec<u64>> = (0..c.n)
        .map(|_| (0..c.dim).map(|_| r.next_u64() & top).collect())
        .collect();
    let d = dropouts(&c.fates);
    let report = run(&params, &inputs, &d, &mut r);
    match (model(&params, &report.round, &d), &report.result) {
        (Outcome::Sum(u3), Ok(agg)) => {
            prop_assert_eq!(&agg.survivors, &u3);
            let mut want = vec![0u64; c.dim as usize];
            for &u in &u3 {
                for (w, x) in want.iter_mut().zip(&inputs[u as usize - 1]) {
                    *w = w.wrapping_add(*x) & top;
                }
            }
            prop_assert_eq!(&agg.sum, &want);
            prop_assert!(agg.misbehaved.is_empty());
        }
        (Outcome::Abort(phase), Err(Error::NotEnoughSurvivors { phase: got, .. })) => {
            prop_assert_eq!(phase, *got);
        }
        (want, got) => prop_assert!(false, "model {:?}, round {:?}", want, got),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(500),
        ..ProptestConfig::default()
    })]

    #[test]
    fn round_sum_is_exact_or_typed_abort(c in case()) {
        check(&c)?;
    }
}

/// The edge widths on both graph kinds, with dropouts at every phase.
#[test]
fn edge_bit_widths() {
    for bits in [1u8, 32, 33, 64] {
        for harary in [None, Some(6)] {
            for dim in [0u32, 1, 257] {
                for malicious in [false, true] {
                    let mut fates = vec![0u8; 20];
                    fates[3] = 78; // before keys
                    fates[7] = 84; // after keys
                    fates[11] = 90; // after shares
                    fates[13] = 95; // during consistency
                    fates[15] = 97; // during unmask
                    let c = Case {
                        n: 20,
                        harary_degree: harary,
                        t: match (harary.is_some(), malicious) {
                            (true, false) => 3,
                            (true, true) => 4,
                            (false, false) => 10,
                            (false, true) => 11,
                        },
                        bits,
                        dim,
                        fates,
                        seed: u64::from(bits) * 1000 + u64::from(dim),
                        malicious,
                    };
                    check(&c).unwrap();
                }
            }
        }
    }
}
