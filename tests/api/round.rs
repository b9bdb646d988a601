//! Whole rounds.
use secagg::simulation::{Dropouts, run};
use secagg::{Graph, Params};

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
