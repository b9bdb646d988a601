//! Whole rounds.
use secagg::simulation::{Dropouts, run};
use secagg::{Graph, Params, Prg, ServerModel};

use crate::common::{ROUND, rng, top};

#[test]
fn complete_graph_one_dropout_after_shares() {
    let params = Params::new(5, 3, 32, 8, Graph::Complete).unwrap();
    let inputs: Vec<Vec<u64>> = (1..=5u64)
        .map(|i| (0..8).map(|j| i * 1000 + j).collect())
        .collect();
    let d = Dropouts {
        after_shares: vec![2],
        ..Default::default()
    };
    let r = run(&params, &inputs, &d, &mut rng(1));
    let agg = r.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 3, 4, 5]);
    let want: Vec<u64> = (0..8).map(|j| (1 + 3 + 4 + 5) * 1000 + 4 * j).collect();
    assert_eq!(agg.sum, want);
    assert!(r.ok());
}

/// Three round shapes: the complete graph with `m` past one 4096-element
/// PRG chunk (b = 32), a Harary graph (b = 64), the malicious model
/// (b = 17).
fn shapes() -> [Params; 3] {
    let harary = Graph::Harary {
        degree: 4,
        seed: [3; 32],
    };
    [
        Params::new(5, 3, 32, 4100, Graph::Complete).unwrap(),
        Params::new(9, 3, 64, 37, harary).unwrap(),
        Params::new(7, 5, 17, 9, Graph::Complete)
            .unwrap()
            .with_model(ServerModel::Malicious { corrupt: 1 })
            .unwrap(),
    ]
}

/// Rounds with the AES-128-CTR mask PRG give the exact sum: both lane
/// widths, the complete and Harary graphs, both server models, with clients
/// dropping after their shares (their pairwise masks removed by the server
/// through the same PRG).
#[test]
fn aes_prg_rounds_sum_correctly() {
    for (params, seed) in shapes().into_iter().zip(11..) {
        let params = params.with_prg(Prg::Aes128Ctr);
        let n = u64::from(params.clients());
        let m = u64::from(params.dim());
        let top = top(&params);
        let inputs: Vec<Vec<u64>> = (1..=n)
            .map(|i| {
                (0..m)
                    .map(|j| (i * 0x9e37_79b9 + j * 7919).wrapping_mul(i | 1) & top)
                    .collect()
            })
            .collect();
        let d = Dropouts {
            after_shares: vec![2],
            ..Default::default()
        };
        let r = run(&params, &inputs, &d, &mut rng(seed));
        assert!(r.ok(), "{params:?}");
        let agg = r.result.as_ref().unwrap();
        let survivors: Vec<u32> = (1..=params.clients()).filter(|&u| u != 2).collect();
        assert_eq!(agg.survivors, survivors);
        let want: Vec<u64> = (0..m as usize)
            .map(|j| {
                survivors
                    .iter()
                    .fold(0u64, |a, &u| a.wrapping_add(inputs[u as usize - 1][j]))
                    & top
            })
            .collect();
        assert_eq!(agg.sum, want, "{params:?}");
    }
}

/// An input out of range is refused by `AwaitingShares::receive` (the range
/// is checked in its masking pass, wherever the bad element is) and leaves
/// the state usable: the same client then masks the right input, and the
/// round sums it. The masked input equals the `MaskedInput` encoding of its
/// own decoding, byte for byte (the fused mask-and-pack writes the wire
/// packing: b = 17, m not a multiple of 8 or of the PRG chunk).
#[test]
fn out_of_range_input_keeps_the_share_state() {
    use secagg::protocol::messages::MaskedInput;
    use secagg::{AwaitingKeys, Decode, Encode, Error, Misuse, Server, Step};
    let params = Params::new(4, 3, 17, 16_389, Graph::Complete)
        .unwrap()
        .with_prg(Prg::Aes128Ctr);
    let round = [9u8; 32];
    let mut r = rng(21);
    let m = params.dim() as usize;
    let top = (1u64 << 17) - 1;
    let inputs: Vec<Vec<u64>> = (1..=4u64)
        .map(|i| (0..m as u64).map(|j| (i * 7919 + j * 31) & top).collect())
        .collect();
    let deliver = |step: Result<Step, Error>| match step {
        Ok(Step::Deliver(d)) => d,
        other => panic!("{other:?}"),
    };
    let mut server = Server::new(&params, round, &mut r).unwrap();
    let mut s0 = Vec::new();
    for i in 1..=4 {
        let (st, msg) = AwaitingKeys::new(&params, round, i, &mut r).unwrap();
        server.receive(i, &msg).unwrap();
        s0.push(st);
    }
    let mut s1 = Vec::new();
    for ((i, msg), mut st) in deliver(server.close_phase()).into_iter().zip(s0) {
        let (st, out) = st.receive(&msg, &mut r).unwrap();
        server.receive(i, &out).unwrap();
        s1.push(st);
    }
    let mut s2 = Vec::new();
    for ((i, msg), mut st) in deliver(server.close_phase()).into_iter().zip(s1) {
        let x = &inputs[i as usize - 1];
        for at in [0, m / 2, m - 1] {
            let mut bad = x.clone();
            bad[at] = top + 1;
            assert_eq!(
                st.receive(&msg, &bad).map(|_| ()),
                Err(Error::Misuse(Misuse::InputRange)),
                "client {i}, element {at}"
            );
        }
        let (st, out) = st.receive(&msg, x).unwrap();
        let decoded = MaskedInput::decode(&params, &out).unwrap();
        assert_eq!(decoded.to_bytes(), out);
        assert_eq!(decoded.masked.len(), m);
        assert_ne!(&decoded.masked, x);
        server.receive(i, &out).unwrap();
        s2.push(st);
    }
    for ((i, msg), mut st) in deliver(server.close_phase()).into_iter().zip(s2) {
        let out = st.receive(&msg).unwrap();
        server.receive(i, &out).unwrap();
    }
    let Ok(Step::Done(agg)) = server.close_phase() else {
        panic!("round did not finish")
    };
    let want: Vec<u64> = (0..m)
        .map(|j| inputs.iter().fold(0u64, |a, x| a.wrapping_add(x[j])) & top)
        .collect();
    assert_eq!(agg.sum, want);
}

/// How a test round takes the messages of each phase close.
#[derive(Clone, Copy, Debug)]
enum Take {
    /// The by-value iterator, each message built when it is reached.
    Iterate,
    /// `Outbox::into_vec`, every message built at once.
    IntoVec,
    /// `Outbox::message` for each of `Outbox::recipients`.
    OneByOne,
}

/// A seeded round driven message by message, client 2 dropping after its
/// ShareKeys, the messages taken from each close as `take` says: every
/// message the server sent, in order, and the aggregate.
fn round_taking(
    params: &secagg::Params,
    take: Take,
    seed: u64,
) -> (Vec<(u32, Vec<u8>)>, secagg::Aggregate) {
    use secagg::{Client, Identity, Roster, Server, Step};
    let mut r = rng(seed);
    let n = params.clients();
    let top = top(params);
    let input = |i: u32| -> Vec<u64> {
        (0..u64::from(params.dim()))
            .map(|j| (u64::from(i) * 7919 + j * 31) & top)
            .collect()
    };
    let (mut server, mut clients) = if params.is_malicious() {
        let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
        let keys: Vec<_> = ids.iter().map(Identity::public_key).collect();
        let roster = Roster::new(&keys).unwrap();
        let server = Server::with_roster(params, ROUND, &roster, &mut r).unwrap();
        let clients: Vec<(Client, Vec<u8>)> = (1..=n)
            .map(|i| Client::with_identity(params, ROUND, i, &ids[i as usize - 1], &roster, &mut r))
            .collect::<Result<_, _>>()
            .unwrap();
        (server, clients)
    } else {
        let server = Server::new(params, ROUND, &mut r).unwrap();
        let clients: Vec<(Client, Vec<u8>)> = (1..=n)
            .map(|i| Client::new(params, ROUND, i, &mut r))
            .collect::<Result<_, _>>()
            .unwrap();
        (server, clients)
    };
    for (i, (client, advertise)) in (1..=n).zip(&mut clients) {
        client.set_input(&input(i)).unwrap();
        server.receive(i, advertise).unwrap();
    }
    let mut sent = Vec::new();
    let mut closes = 0;
    loop {
        let outbox = match server.close_phase().unwrap() {
            Step::Deliver(outbox) => outbox,
            Step::Done(aggregate) => return (sent, aggregate),
            _ => unreachable!(),
        };
        closes += 1;
        let recipients = outbox.recipients().to_vec();
        assert_eq!(outbox.len(), recipients.len());
        assert!(recipients.windows(2).all(|w| w[0] < w[1]));
        let mut handle = |i: u32, bytes: Vec<u8>| {
            sent.push((i, bytes.clone()));
            if i == 2 && closes == 2 {
                return;
            }
            let reply = clients[i as usize - 1].0.receive(&bytes, &mut r).unwrap();
            server.receive(i, &reply).unwrap();
        };
        match take {
            Take::Iterate => outbox.into_iter().for_each(|(i, b)| handle(i, b)),
            Take::IntoVec => outbox
                .into_vec()
                .into_iter()
                .for_each(|(i, b)| handle(i, b)),
            Take::OneByOne => {
                for &i in outbox.recipients() {
                    handle(i, outbox.message(i).unwrap());
                }
                for v in (0..=n + 1).filter(|v| recipients.binary_search(v).is_err()) {
                    assert_eq!(outbox.message(v), None, "close {closes}, client {v}");
                }
            }
        }
    }
}

/// A round gives the same messages and the same sum whichever way its
/// deliveries are taken from the `Outbox` (spec/protocol.md section 5.2):
/// the complete graph (one shared KeyBroadcast), the Harary graph (built
/// KeyBroadcasts), the malicious model (one shared ConsistencyRequest).
#[test]
fn outbox_taken_any_way_gives_the_same_round() {
    for (params, seed) in shapes().into_iter().zip(41..) {
        let (sent, aggregate) = round_taking(&params, Take::Iterate, seed);
        for take in [Take::IntoVec, Take::OneByOne] {
            let (other, agg) = round_taking(&params, take, seed);
            assert!(other == sent, "{take:?} {params:?}");
            assert_eq!(agg, aggregate, "{take:?} {params:?}");
        }
        let n = params.clients();
        let survivors: Vec<u32> = (1..=n).filter(|&i| i != 2).collect();
        assert_eq!(aggregate.survivors, survivors);
        let top = top(&params);
        let want: Vec<u64> = (0..u64::from(params.dim()))
            .map(|j| {
                survivors
                    .iter()
                    .fold(0u64, |a, &i| a.wrapping_add(u64::from(i) * 7919 + j * 31))
                    & top
            })
            .collect();
        assert_eq!(aggregate.sum, want, "{params:?}");
        // Every client heard the KeyBroadcast and the ShareDelivery; the
        // survivors one or two more messages.
        let phases = if params.is_malicious() { 4 } else { 3 };
        assert_eq!(sent.len(), 2 * n as usize + (phases - 2) * survivors.len());
    }
}

/// `Server::receive_all` gives the same result per message, the same
/// deliveries and the same aggregate as `Server::receive` on each message
/// in turn, with hostile messages in the batches: garbage from a client
/// before its real message (ShareKeys and UnmaskResponse, the phases whose
/// checks run ahead for the whole batch), a byte-identical resend, a
/// different second message, strangers, and a dropped client.
#[test]
fn receive_all_matches_receive_in_turn() {
    use secagg::{Client, ClientFault, Error, Identity, Roster, Server, Step};
    let harary = Graph::Harary {
        degree: 6,
        seed: [8; 32],
    };
    let shapes = [
        Params::new(12, 3, 32, 40, harary).unwrap(),
        Params::new(16, 9, 17, 9, Graph::Complete)
            .unwrap()
            .with_model(ServerModel::Malicious { corrupt: 1 })
            .unwrap(),
    ];
    // In the malicious model, a signature broken in each phase whose
    // signatures the batch checks ahead: (phase, client, byte of the
    // signature flipped). Client 12's AdvertiseKeys, client 6's
    // MaskedInput and client 7's ConsistencyResponse are refused with
    // `BadSignature`, alone and in the batch.
    let broken = [(0, 12, 100), (2, 6, 40), (3, 7, 36)];
    for (params, seed) in shapes.into_iter().zip(61..) {
        let n = params.clients();
        let top = top(&params);
        let mut r = rng(seed);
        let (mut one, mut all, mut clients) = if params.is_malicious() {
            let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
            let keys: Vec<_> = ids.iter().map(Identity::public_key).collect();
            let roster = Roster::new(&keys).unwrap();
            let one = Server::with_roster(&params, ROUND, &roster, &mut rng(seed + 100)).unwrap();
            let all = Server::with_roster(&params, ROUND, &roster, &mut rng(seed + 100)).unwrap();
            let clients: Vec<(Client, Vec<u8>)> = (1..=n)
                .map(|i| {
                    Client::with_identity(&params, ROUND, i, &ids[i as usize - 1], &roster, &mut r)
                })
                .collect::<Result<_, _>>()
                .unwrap();
            (one, all, clients)
        } else {
            let one = Server::new(&params, ROUND, &mut rng(seed + 100)).unwrap();
            let all = Server::new(&params, ROUND, &mut rng(seed + 100)).unwrap();
            let clients: Vec<(Client, Vec<u8>)> = (1..=n)
                .map(|i| Client::new(&params, ROUND, i, &mut r))
                .collect::<Result<_, _>>()
                .unwrap();
            (one, all, clients)
        };
        let input = |i: u32| -> Vec<u64> {
            (0..u64::from(params.dim()))
                .map(|j| (u64::from(i) * 7919 + j * 31) & top)
                .collect()
        };
        let mut replies: Vec<(u32, Vec<u8>)> = Vec::new();
        for (i, (client, advertise)) in (1..=n).zip(&mut clients) {
            client.set_input(&input(i)).unwrap();
            replies.push((i, advertise.clone()));
        }
        let mut phase = 0;
        let mut malformed = 0;
        let mut refused = 0;
        loop {
            // The batch: the real replies ascending, garbage from client 3
            // before its ShareKeys and from client 4 before its
            // UnmaskResponse; then a resend, a changed second message,
            // strangers and client 2, which dropped after its ShareKeys.
            let last = if params.is_malicious() { 4 } else { 3 };
            let garbage = vec![0x5a_u8; 40];
            let mut batch: Vec<(u32, Vec<u8>)> = Vec::new();
            for (i, msg) in &replies {
                if (phase == 1 && *i == 3) || (phase == last && *i == 4) {
                    batch.push((*i, garbage.clone()));
                }
                batch.push((*i, msg.clone()));
            }
            if let Some((i, msg)) = replies.first() {
                batch.push((*i, msg.clone()));
            }
            if let Some((i, _)) = replies.get(4).filter(|_| phase >= 2) {
                batch.push((*i, garbage.clone()));
            }
            batch.extend([(0, garbage.clone()), (n + 3, garbage.clone())]);
            if phase >= 2 {
                batch.push((2, garbage.clone()));
            }
            let mut flipped = None;
            for &(_, who, at) in broken.iter().filter(|b| b.0 == phase) {
                if let Some(k) = batch.iter().position(|(i, _)| *i == who)
                    && params.is_malicious()
                {
                    batch[k].1[at] ^= 1;
                    flipped = Some(k);
                }
            }
            let in_turn: Vec<Result<(), Error>> =
                batch.iter().map(|(i, m)| one.receive(*i, m)).collect();
            if let Some(k) = flipped {
                assert!(
                    matches!(
                        in_turn[k],
                        Err(Error::Client {
                            fault: ClientFault::BadSignature,
                            ..
                        })
                    ),
                    "phase {phase}: {:?}",
                    in_turn[k]
                );
                refused += 1;
            }
            let borrowed: Vec<(u32, &[u8])> =
                batch.iter().map(|(i, m)| (*i, m.as_slice())).collect();
            let together = all.receive_all(&borrowed);
            assert_eq!(
                format!("{together:?}"),
                format!("{in_turn:?}"),
                "phase {phase} {params:?}"
            );
            malformed += in_turn
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        Err(Error::Client {
                            fault: ClientFault::Malformed(_),
                            ..
                        })
                    )
                })
                .count();
            assert_eq!(all.excluded(), one.excluded());
            assert_eq!(all.pending(), one.pending());
            let (a, b) = (one.close_phase().unwrap(), all.close_phase().unwrap());
            match (a, b) {
                (Step::Deliver(a), Step::Deliver(b)) => {
                    let a = a.into_vec();
                    assert!(a == b.into_vec(), "phase {phase} {params:?}");
                    replies.clear();
                    for (i, bytes) in a {
                        if i == 2 && phase == 1 {
                            continue;
                        }
                        let reply = clients[i as usize - 1].0.receive(&bytes, &mut r).unwrap();
                        replies.push((i, reply));
                    }
                }
                (Step::Done(a), Step::Done(b)) => {
                    assert_eq!(a, b);
                    // Client 3 was excluded with its garbage ShareKeys,
                    // client 2 dropped; client 4's garbage answer excludes
                    // it from the unmasking, but its input counts.
                    assert!(!a.survivors.contains(&2) && !a.survivors.contains(&3));
                    assert!(a.survivors.contains(&4));
                    let want: Vec<u64> = (0..u64::from(params.dim()))
                        .map(|j| {
                            a.survivors.iter().fold(0u64, |acc, &i| {
                                acc.wrapping_add(u64::from(i) * 7919 + j * 31)
                            }) & top
                        })
                        .collect();
                    assert_eq!(a.sum, want, "{params:?}");
                    break;
                }
                (a, b) => panic!("phase {phase}: {a:?} against {b:?}"),
            }
            phase += 1;
        }
        // Every phase's garbage from a client still in it (R1 and the last:
        // the clients excluded for it; the changed second messages are
        // duplicates, not garbage) was found malformed.
        assert!(malformed >= 2, "{params:?}");
        let expected = if params.is_malicious() {
            broken.len()
        } else {
            0
        };
        assert_eq!(refused, expected, "{params:?}");
    }
}
