//! README.md's claims about the public API that no other module checks
//! value by value: the host-driven round of "Deploying" (identities stored
//! with `Identity::secret_bytes`, `Client::with_identity`, `set_input`, one
//! `receive` per server message, `Server::pending`), the server taking
//! messages in any order, and randomness only from the `rng` passed in.

use secagg::{
    Client, ClientIndex, ClientPhase, Graph, Identity, Params, Roster, Server, ServerModel, Step,
};

use crate::common::{ROUND, rng};

/// Drives one round of `n` clients with the single `Client` type, client
/// `i`'s input being `[i, 10 i, 100 i]`. The server is told each phase's
/// messages in the order `order` gives for the phase's senders. Returns
/// every message either side sent, in order, and the sum.
fn host_round(
    params: &Params,
    creds: Option<(&[Identity], &Roster)>,
    seed: u64,
    order: fn(&mut Vec<(ClientIndex, Vec<u8>)>),
) -> (Vec<Vec<u8>>, Vec<u64>) {
    let mut rng = rng(seed);
    let n = params.clients();
    let mut server = match creds {
        Some((_, roster)) => Server::with_roster(params, ROUND, roster, &mut rng).unwrap(),
        None => Server::new(params, ROUND, &mut rng).unwrap(),
    };
    let mut clients = Vec::new();
    let mut sent = Vec::new();
    for i in 1..=n {
        let (c, msg) = match creds {
            Some((ids, roster)) => {
                Client::with_identity(params, ROUND, i, &ids[i as usize - 1], roster, &mut rng)
                    .unwrap()
            }
            None => Client::new(params, ROUND, i, &mut rng).unwrap(),
        };
        sent.push((i, msg));
        clients.push(c);
    }
    let mut transcript = Vec::new();
    loop {
        order(&mut sent);
        // "Deadlines and pending()": every expected client is pending until
        // it answers, then not.
        let mut expected: Vec<ClientIndex> = sent.iter().map(|(i, _)| *i).collect();
        expected.sort_unstable();
        assert_eq!(server.pending(), expected);
        for (i, msg) in sent.drain(..) {
            server.receive(i, &msg).unwrap();
            assert!(!server.pending().contains(&i));
            transcript.push(msg);
        }
        assert!(server.pending().is_empty() && server.excluded().is_empty());
        match server.close_phase().unwrap() {
            Step::Done(agg) => {
                assert_eq!(agg.survivors, (1..=n).collect::<Vec<_>>());
                for c in &clients {
                    assert_eq!(c.phase(), ClientPhase::Done);
                }
                return (transcript, agg.sum);
            }
            Step::Deliver(out) => {
                for (i, msg) in out {
                    let c = &mut clients[i as usize - 1];
                    if c.phase() == ClientPhase::KeyBroadcast {
                        // "set_input once the update is ready".
                        let v = u64::from(i);
                        c.set_input(&[v, 10 * v, 100 * v]).unwrap();
                    }
                    sent.push((i, c.receive(&msg, &mut rng).unwrap()));
                    transcript.push(msg);
                }
            }
            other => panic!("unexpected step {other:?}"),
        }
    }
}

/// The sum of `[i, 10 i, 100 i]` over `1..=n`.
fn expected_sum(n: u32) -> Vec<u64> {
    let s: u64 = (1..=u64::from(n)).sum();
    vec![s, 10 * s, 100 * s]
}

/// README "Deploying", "Malicious model": identities generated once and
/// stored with `Identity::secret_bytes` (here: rebuilt from those bytes),
/// the roster in index order to `Server::with_roster` and to every
/// `Client::with_identity`, `set_input`, then one `receive` per server
/// message, the consistency request included; the sum is exact.
#[test]
fn malicious_round_with_stored_identities_and_the_client_type() {
    let n = 5;
    let params = Params::new(n, 4, 32, 3, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 1 })
        .unwrap();
    let mut r = rng(11);
    let stored: Vec<_> = (0..n)
        .map(|_| Identity::generate(&mut r).secret_bytes())
        .collect();
    let ids: Vec<Identity> = stored
        .iter()
        .map(|s| Identity::from_secret_bytes(s))
        .collect();
    // The stored bytes give back the same identity, not a fresh one.
    for (s, id) in stored.iter().zip(&ids) {
        assert_eq!(id.public_key(), Identity::from_secret_bytes(s).public_key());
        assert_eq!(*id.secret_bytes(), **s);
    }
    let keys: Vec<[u8; 32]> = ids.iter().map(Identity::public_key).collect();
    let roster = Roster::new(&keys).unwrap();
    let (transcript, sum) = host_round(&params, Some((&ids, &roster)), 12, |_| {});
    assert_eq!(sum, expected_sum(n));
    // Four client phases and four server closes that deliver (KeyBroadcast,
    // ShareDelivery, ConsistencyRequest, UnmaskRequest), n messages each.
    assert_eq!(transcript.len(), 9 * n as usize);
}

/// README "Using it": the server takes messages in any order. A round fed
/// each phase's messages in descending order sums to the same exact value
/// as one fed them ascending.
#[test]
fn server_takes_messages_in_any_order() {
    let n = 4;
    let params = Params::new(n, 3, 32, 3, Graph::Complete).unwrap();
    let (_, asc) = host_round(&params, None, 21, |v| v.sort_by_key(|(i, _)| *i));
    let (_, desc) = host_round(&params, None, 21, |v| v.sort_by_key(|(i, _)| u32::MAX - *i));
    assert_eq!(asc, expected_sum(n));
    assert_eq!(desc, expected_sum(n));
}

/// README "Security notes": randomness is always passed in, and the
/// library never reads a global RNG. Two rounds driven by the same seed
/// send byte-identical messages in every phase (a draw from anywhere else
/// would make them differ); another seed changes them.
#[test]
fn same_seed_gives_the_same_bytes() {
    let params = Params::new(3, 2, 32, 3, Graph::Complete).unwrap();
    let (a, sum_a) = host_round(&params, None, 31, |_| {});
    let (b, sum_b) = host_round(&params, None, 31, |_| {});
    let (c, _) = host_round(&params, None, 32, |_| {});
    assert_eq!((sum_a.clone(), sum_b), (expected_sum(3), expected_sum(3)));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "same seed, different bytes");
    assert_ne!(a[0], c[0], "the AdvertiseKeys ignore the seed");
}

/// README "Security notes": the malicious model needs a unique survivor
/// set, `2t > n + c` on the complete graph and `2t - k > c` on a Harary
/// graph of degree k, "checked by `Params`". Every (t, c) of small rosters
/// on both sides of the bound: `with_model` accepts exactly those that meet
/// it (and t <= k, the signers being among a client's k neighbours).
#[test]
fn malicious_model_accepts_exactly_the_unique_survivor_set_bound() {
    let mut checked = [0u32; 2];
    for n in 2..=10u32 {
        for t in 1..=n {
            let Ok(p) = Params::new(n, t, 32, 1, Graph::Complete) else {
                continue;
            };
            for c in 0..n {
                let ok = t < n && 2 * t > n + c;
                let got = p.clone().with_model(ServerModel::Malicious { corrupt: c });
                assert_eq!(
                    got.is_ok(),
                    ok,
                    "complete n = {n}, t = {t}, c = {c}: {got:?}"
                );
                checked[usize::from(ok)] += 1;
            }
        }
    }
    let n = 12;
    for k in (2..n).step_by(2) {
        for t in 1..=k + 1 {
            let graph = Graph::Harary {
                degree: k,
                seed: [7; 32],
            };
            let Ok(p) = Params::new(n, t, 32, 1, graph) else {
                continue;
            };
            for c in 0..n {
                let ok = t <= k && 2 * t > k + c;
                let got = p.clone().with_model(ServerModel::Malicious { corrupt: c });
                assert_eq!(got.is_ok(), ok, "Harary k = {k}, t = {t}, c = {c}: {got:?}");
                checked[usize::from(ok)] += 1;
            }
        }
    }
    // Both sides of the bound were reached many times.
    assert!(checked.iter().all(|&x| x > 50), "{checked:?}");
}

/// README "Deploying", "Crashes": on a Harary graph the round aborts with
/// `Error::NotEnoughSurvivors` when one client's neighbourhood loses more
/// than `Params::max_dropped_holders()` of its members, even when most
/// clients remain; at that many it completes. n = 20, k = 4, t = 3 (k + 1 -
/// t = 2): client 1's neighbours mask, then 2 or 3 of them vanish before
/// the unmask answer (their inputs stay in the sum).
#[test]
fn a_harary_neighbourhood_losing_more_than_max_dropped_holders_aborts() {
    use secagg::Error;
    use secagg::simulation::{Dropouts, run};
    let n = 20;
    let graph = Graph::Harary {
        degree: 4,
        seed: [3; 32],
    };
    let params = Params::new(n, 3, 32, 2, graph).unwrap();
    assert_eq!(params.max_dropped_holders(), 2);
    let inputs: Vec<Vec<u64>> = (1..=u64::from(n)).map(|i| vec![i, 2 * i]).collect();
    let total: u64 = (1..=u64::from(n)).sum();
    let first = run(&params, &inputs, &Dropouts::default(), &mut rng(41));
    assert_eq!(first.result.unwrap().sum, vec![total, 2 * total]);
    let near = params.neighbours(&first.round, 1);
    assert_eq!(near.len(), 4);
    for gone in [2, 3] {
        let d = Dropouts {
            during_unmask: near[..gone].to_vec(),
            ..Dropouts::default()
        };
        let r = run(&params, &inputs, &d, &mut rng(41));
        // The same seed draws the same round id, so the same graph.
        assert_eq!(r.round, first.round);
        match (gone, r.result) {
            (2, Ok(agg)) => {
                assert_eq!(agg.sum, vec![total, 2 * total]);
                assert_eq!(agg.survivors.len(), n as usize);
            }
            (3, Err(Error::NotEnoughSurvivors { threshold, .. })) => assert_eq!(threshold, 3),
            (g, other) => panic!("{g} of client 1's neighbours gone: {other:?}"),
        }
    }
}

/// README "Using it": `Params::secagg_plus` falls back to the complete graph
/// when no sparse graph meets both bounds. Three clients have no sparse
/// graph (a Harary graph needs an even degree below n - 1); the fallback's
/// threshold is 2: above the one corrupt client that 5 % of 3 rounds up
/// to, a majority, and reached by the two left when one drops, which the
/// round then survives with their exact sum.
#[test]
fn secagg_plus_falls_back_to_the_complete_graph() {
    use secagg::simulation::{Dropouts, run};
    let p = Params::secagg_plus(3, 32, 2, 0.05, 0.05, &mut rng(51)).unwrap();
    assert_eq!(p.graph(), &Graph::Complete);
    assert_eq!((p.threshold(), p.degree()), (2, 2));
    let inputs = vec![vec![1, 2], vec![10, 20], vec![100, 200]];
    let d = Dropouts {
        after_keys: vec![2],
        ..Dropouts::default()
    };
    let agg = run(&p, &inputs, &d, &mut rng(52)).result.unwrap();
    assert_eq!((agg.sum, agg.survivors), (vec![101, 202], vec![1, 3]));
}

/// README "C and Python": the C suite goes through every function of
/// include/secagg.h. Each function the header declares is called in
/// tests/c/round.c or tests/c/review.c.
#[test]
fn the_c_suite_calls_every_declared_function() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let header = read("include/secagg.h");
    let suite = read("tests/c/round.c") + &read("tests/c/review.c");
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let called = |name: &str| {
        suite.match_indices(name).any(|(at, _)| {
            let before = suite[..at].chars().next_back();
            let after = suite[at + name.len()..].trim_start().chars().next();
            !before.is_some_and(is_ident) && after == Some('(')
        })
    };
    let mut declared: Vec<&str> = header
        .match_indices("secagg_")
        .filter_map(|(at, _)| {
            let rest = &header[at..];
            let end = rest.find(|c: char| !is_ident(c))?;
            let prev = header[..at].chars().next_back();
            (rest[end..].starts_with('(') && !prev.is_some_and(is_ident)).then_some(&rest[..end])
        })
        .collect();
    declared.sort_unstable();
    declared.dedup();
    assert!(declared.len() > 40, "{declared:?}");
    let missing: Vec<_> = declared.iter().filter(|f| !called(f)).collect();
    assert!(missing.is_empty(), "never called by tests/c: {missing:?}");
}
