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
