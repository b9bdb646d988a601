//! Edges of the arithmetic rules that no other test reaches exactly: each
//! bound of spec/params.md section 2 on both sides, and the complete-graph
//! fallback's refusal of spec/params.md section 4.

use secagg::params::{MAX_CLIENTS, MAX_DIM, ServerModel};
use secagg::{Error, Graph, Params, ParamsError};

use crate::common::rng;

/// A Harary graph of degree `k` (the seed does not matter to validation).
fn h(k: u32) -> Graph {
    Graph::Harary {
        degree: k,
        seed: [7; 32],
    }
}

/// `Params::new`'s error, if any, as the `ParamsError` it names.
fn refusal(n: u32, t: u32, b: u8, m: u32, g: Graph) -> Option<ParamsError> {
    match Params::new(n, t, b, m, g) {
        Ok(_) => None,
        Err(Error::Params(e)) => Some(e),
        Err(e) => panic!("not a parameter error: {e:?}"),
    }
}

/// One `Params::new` case: n, t, b, m, the graph and the expected refusal.
type Case = (u32, u32, u8, u32, Graph, Option<ParamsError>);

/// spec/params.md section 2, each bound of `Params::new` on both sides of
/// its edge: `2 <= n <= 2^24`, `1 <= b <= 64`, `m <= 2^28`, Harary `k` even
/// with `2 <= k <= n - 1`, `2 <= t <= k + 1` (k = n - 1 on the complete
/// graph). The constants are the spec's numbers, not the crate's.
#[test]
fn params_table_bounds_at_their_edges() {
    let max_n: u32 = 1 << 24;
    let max_m: u32 = 1 << 28;
    assert_eq!((MAX_CLIENTS, MAX_DIM), (max_n, max_m));
    let cases: &[Case] = &[
        // n
        (2, 2, 8, 1, Graph::Complete, None),
        (1, 2, 8, 1, Graph::Complete, Some(ParamsError::ClientCount)),
        (max_n, 2, 8, 1, Graph::Complete, None),
        (
            max_n + 1,
            2,
            8,
            1,
            Graph::Complete,
            Some(ParamsError::ClientCount),
        ),
        (max_n, 2, 8, 1, h(2), None),
        // b
        (5, 3, 1, 1, Graph::Complete, None),
        (5, 3, 64, 1, Graph::Complete, None),
        (5, 3, 0, 1, Graph::Complete, Some(ParamsError::Bits)),
        (5, 3, 65, 1, Graph::Complete, Some(ParamsError::Bits)),
        // m (0 is allowed: the table has no lower bound)
        (5, 3, 8, 0, Graph::Complete, None),
        (5, 3, 8, max_m, Graph::Complete, None),
        (
            5,
            3,
            8,
            max_m + 1,
            Graph::Complete,
            Some(ParamsError::Dimension),
        ),
        // k: even, 2 ..= n - 1
        (10, 2, 8, 1, h(2), None),
        (11, 2, 8, 1, h(10), None),
        (10, 2, 8, 1, h(10), Some(ParamsError::Degree)),
        (12, 2, 8, 1, h(11), Some(ParamsError::Degree)),
        (10, 2, 8, 1, h(1), Some(ParamsError::Degree)),
        (10, 2, 8, 1, h(5), Some(ParamsError::Degree)),
        (10, 2, 8, 1, h(0), Some(ParamsError::Degree)),
        // t: 2 ..= k + 1
        (10, 1, 8, 1, h(4), Some(ParamsError::Threshold)),
        (10, 2, 8, 1, h(4), None),
        (10, 5, 8, 1, h(4), None),
        (10, 6, 8, 1, h(4), Some(ParamsError::Threshold)),
        (10, 10, 8, 1, Graph::Complete, None),
        (10, 11, 8, 1, Graph::Complete, Some(ParamsError::Threshold)),
        (2, 2, 8, 1, Graph::Complete, None),
        (2, 1, 8, 1, Graph::Complete, Some(ParamsError::Threshold)),
    ];
    for &(n, t, b, m, ref g, want) in cases {
        assert_eq!(
            refusal(n, t, b, m, g.clone()),
            want,
            "n {n} t {t} b {b} m {m} {g:?}"
        );
    }
}

/// `with_model`'s error, if any, as the `ParamsError` it names.
fn malicious(n: u32, t: u32, g: Graph, c: u32) -> Option<ParamsError> {
    let p = Params::new(n, t, 8, 1, g).unwrap();
    match p.with_model(ServerModel::Malicious { corrupt: c }) {
        Ok(_) => None,
        Err(Error::Params(e)) => Some(e),
        Err(e) => panic!("not a parameter error: {e:?}"),
    }
}

/// spec/params.md section 2, the malicious-model rows at their edges:
/// `t <= k` (else `Threshold`), then `2t > n + c` on the complete graph and
/// `2t - k > c` on a Harary graph (else `NotUnique`), each checked one
/// below, at and one above its edge.
#[test]
fn malicious_rows_at_their_edges() {
    // Complete, n = 10 (k = 9): t = 10 = k + 1 is refused though 2t > n + c.
    assert_eq!(
        malicious(10, 10, Graph::Complete, 0),
        Some(ParamsError::Threshold)
    );
    assert_eq!(malicious(10, 9, Graph::Complete, 0), None);
    // 2t > n + c: t = 8 gives 16 > 10 + c for c <= 5.
    assert_eq!(malicious(10, 8, Graph::Complete, 5), None);
    assert_eq!(
        malicious(10, 8, Graph::Complete, 6),
        Some(ParamsError::NotUnique)
    );
    assert_eq!(
        malicious(10, 8, Graph::Complete, 7),
        Some(ParamsError::NotUnique)
    );
    // Harary k = 6 on n = 20: t = 7 = k + 1 is refused, t = 6 allowed;
    // 2t - k > c: t = 6 gives 6 > c.
    assert_eq!(malicious(20, 7, h(6), 0), Some(ParamsError::Threshold));
    assert_eq!(malicious(20, 6, h(6), 5), None);
    assert_eq!(malicious(20, 6, h(6), 6), Some(ParamsError::NotUnique));
    assert_eq!(malicious(20, 5, h(6), 3), None);
    assert_eq!(malicious(20, 5, h(6), 4), Some(ParamsError::NotUnique));
    // n = 2 has no malicious parameters (t = 2 = k + 1).
    assert_eq!(
        malicious(2, 2, Graph::Complete, 0),
        Some(ParamsError::Threshold)
    );
}

/// spec/params.md section 4: when no sparse graph exists the fallback
/// refuses (`NoSafeThreshold`) exactly when `A + 1 > S`, with
/// `A = floor(corrupt n)` and `S = ceil((1 - dropout) n)`. At the edge
/// `A = S` (n = 100, 50% corrupt, 50% dropout: A = S = 50) it refuses; with
/// one corrupt client fewer (49%: A = 49, S = 50) it takes
/// `t = max(A + 1, min(floor(n / 2) + 1, S)) = max(50, min(51, 50)) = 50`.
#[test]
fn fallback_refuses_exactly_when_the_corrupt_reach_the_survivors() {
    let mut r = rng(11);
    assert_eq!(
        Params::secagg_plus(100, 16, 4, 0.5, 0.5, &mut r),
        Err(Error::Params(ParamsError::NoSafeThreshold))
    );
    let p = Params::secagg_plus(100, 16, 4, 0.49, 0.5, &mut r).unwrap();
    assert_eq!((p.graph(), p.threshold()), (&Graph::Complete, 50));
}
