//! Whole rounds.
use secagg::simulation::{Dropouts, run};
use secagg::{Graph, Params, Prg, ServerModel};

use crate::common::rng;

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

/// Rounds with the AES-128-CTR mask PRG give the exact sum: both lane
/// widths, the complete and Harary graphs, both server models, with clients
/// dropping after their shares (their pairwise masks removed by the server
/// through the same PRG).
#[test]
fn aes_prg_rounds_sum_correctly() {
    let harary = Graph::Harary {
        degree: 4,
        seed: [3; 32],
    };
    let cases = [
        (Params::new(5, 3, 32, 4100, Graph::Complete).unwrap(), 11),
        (Params::new(9, 3, 64, 37, harary).unwrap(), 12),
        (
            Params::new(7, 5, 17, 9, Graph::Complete)
                .unwrap()
                .with_model(ServerModel::Malicious { corrupt: 1 })
                .unwrap(),
            13,
        ),
    ];
    for (params, seed) in cases {
        let params = params.with_prg(Prg::Aes128Ctr);
        let n = u64::from(params.clients());
        let m = u64::from(params.dim());
        let top = if params.bits() == 64 {
            u64::MAX
        } else {
            (1 << params.bits()) - 1
        };
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
