//! Neighbour graphs (spec/params.md section 3).
//!
//! The complete graph, or the Harary graph H(k, n) with k even: clients sit on
//! a ring in an order fixed by a public seed, and each is joined to the k/2
//! nearest on either side. The order is a Fisher–Yates shuffle driven by
//! ChaCha20 under `HKDF(ikm = seed, info = "secagg/v1/graph" || n)`, words read
//! as little-endian u64 and reduced by rejection sampling (no modulo bias).

use std::sync::{Arc, Mutex};

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};

use crate::crypto::{hkdf32, labels};
use crate::error::ClientIndex;
use crate::params::{Graph, Params, RoundId};

impl Params {
    /// The neighbours of client `u` (without `u`) in round `round`,
    /// ascending; empty when `u` is outside `1..=n`. Builds the graph: O(n)
    /// for a Harary graph, whose label permutation depends on the round.
    pub fn neighbours(&self, round: &RoundId, u: ClientIndex) -> Vec<ClientIndex> {
        if u == 0 || u > self.clients() {
            return Vec::new();
        }
        Topology::new(self, round).neighbours(u)
    }
}

/// The neighbour relation of a round, built once from [`Params`].
#[derive(Debug, Clone)]
pub(crate) enum Topology {
    /// Everyone neighbours everyone.
    Complete {
        /// n.
        n: u32,
    },
    /// The ring of a Harary graph and its half-degree.
    Harary { half: u32, ring: Arc<Ring> },
}

/// The ring order of a Harary graph: `pos[u]` is client u's slot (index 0
/// unused) and `at[p]` the client in slot p. Public: it follows from the
/// parameters and the round id alone.
#[derive(Debug)]
pub(crate) struct Ring {
    pub(crate) pos: Vec<u32>,
    pub(crate) at: Vec<u32>,
}

/// What a ring depends on: the label seed, the round id and n.
type RingKey = ([u8; 32], RoundId, u32);

/// The last ring built in this process. Every client of a round builds the
/// same O(n) ring; a host that runs many clients of one round in one
/// process (a simulation) builds it once. The ring is public, so sharing
/// it between clients reveals nothing; the cache holds one ring, replaced
/// by the next round's.
static LAST_RING: Mutex<Option<(RingKey, Arc<Ring>)>> = Mutex::new(None);

impl Ring {
    /// The ring for `(seed, round, n)`: the cached one when it matches, or
    /// a new one (built outside the lock, then cached). A poisoned lock
    /// only disables the cache.
    fn shared(seed: &[u8; 32], round: &RoundId, n: u32) -> Arc<Self> {
        let key: RingKey = (*seed, *round, n);
        if let Ok(last) = LAST_RING.lock()
            && let Some((k, ring)) = last.as_ref()
            && *k == key
        {
            return Arc::clone(ring);
        }
        let ring = Arc::new(Self::build(seed, round, n));
        if let Ok(mut last) = LAST_RING.lock() {
            *last = Some((key, Arc::clone(&ring)));
        }
        ring
    }

    fn build(seed: &[u8; 32], round: &RoundId, n: u32) -> Self {
        let at = permutation(seed, round, n);
        let mut pos = vec![0u32; at.len() + 1];
        for (p, &u) in (0u32..).zip(&at) {
            pos[u as usize] = p;
        }
        Self { pos, at }
    }
}

impl Topology {
    /// Builds the topology of `params` in round `round` in O(n).
    pub(crate) fn new(params: &Params, round: &RoundId) -> Self {
        let n = params.clients();
        match params.graph() {
            Graph::Complete => Self::Complete { n },
            Graph::Harary { degree, seed } => Self::Harary {
                half: degree / 2,
                ring: Ring::shared(seed, round, n),
            },
        }
    }

    /// Whether `u != v` are neighbours (both in `1..=n`).
    pub(crate) fn adjacent(&self, u: ClientIndex, v: ClientIndex) -> bool {
        match self {
            Self::Complete { .. } => u != v,
            Self::Harary { half, ring } => {
                let (pos, at) = (&ring.pos, &ring.at);
                if u == v {
                    return false;
                }
                let n = at.len() as u64;
                let (a, b) = (u64::from(pos[u as usize]), u64::from(pos[v as usize]));
                // a, b < n: no division.
                let d = if a >= b { a - b } else { a + n - b };
                d.min(n - d) <= u64::from(*half)
            }
        }
    }

    /// The members of `set` (ascending) that neighbour `u`, and `u` itself
    /// when `with_self` and it is in `set`; ascending. O(|set|) for the
    /// complete graph, O(k log |set|) for a Harary graph.
    pub(crate) fn restrict(
        &self,
        u: ClientIndex,
        set: &[ClientIndex],
        with_self: bool,
    ) -> Vec<ClientIndex> {
        match self {
            Self::Complete { .. } => set
                .iter()
                .copied()
                .filter(|&v| with_self || v != u)
                .collect(),
            Self::Harary { .. } => {
                let mut out = self.neighbours(u);
                if with_self {
                    out.push(u);
                    out.sort_unstable();
                }
                out.retain(|v| set.binary_search(v).is_ok());
                out
            }
        }
    }

    /// The neighbours of `u`, ascending, without `u`.
    pub(crate) fn neighbours(&self, u: ClientIndex) -> Vec<ClientIndex> {
        match self {
            Self::Complete { n } => (1..=*n).filter(|&v| v != u).collect(),
            Self::Harary { half, .. } => {
                let mut out = Vec::with_capacity(2 * *half as usize);
                self.for_each_neighbour(u, |v| out.push(v));
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }

    /// Calls `f` on each neighbour of `u` (not `u`) once, in no particular
    /// order and without allocating: for a Harary graph the clients in the
    /// ring slots 1 to k/2 away on either side (distinct, since k < n).
    pub(crate) fn for_each_neighbour(&self, u: ClientIndex, mut f: impl FnMut(ClientIndex)) {
        match self {
            Self::Complete { n } => (1..=*n).filter(|&v| v != u).for_each(f),
            Self::Harary { half, ring } => {
                let (pos, at) = (&ring.pos, &ring.at);
                let n = at.len();
                let p = pos[u as usize] as usize;
                for d in 1..=*half as usize {
                    f(at[(p + d) % n]);
                    f(at[(p + n - d) % n]);
                }
            }
        }
    }
}

/// The ring order: `at[p]` for slots `p` in `0..n`, a uniform permutation of
/// `1..=n` determined by `seed` and the round id:
/// `HKDF(salt = round, ikm = seed, info = "secagg/v1/graph" || n)` keys the
/// ChaCha20 stream, so the permutation is fixed only once the host has
/// chosen the round (spec/params.md section 3).
fn permutation(seed: &[u8; 32], round: &RoundId, n: u32) -> Vec<u32> {
    let key = hkdf32(Some(round), seed, &[labels::GRAPH, &n.to_le_bytes()]);
    let mut stream = ChaCha20::new((&*key).into(), &[0u8; 12].into());
    // The keystream is read in blocks of `WORDS` words: the same words, in
    // the same order, as reading 8 bytes at a time, without a cipher call
    // per word.
    const WORDS: usize = 512;
    let mut block = [0u64; WORDS];
    let mut used = WORDS;
    let mut next = || {
        if used == WORDS {
            let mut bytes = [0u8; WORDS * 8];
            stream.apply_keystream(&mut bytes);
            for (w, b) in block.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut le = [0u8; 8];
                le.copy_from_slice(b);
                *w = u64::from_le_bytes(le);
            }
            used = 0;
        }
        let w = block[used];
        used += 1;
        w
    };
    let mut at: Vec<u32> = (1..=n).collect();
    for i in (1..at.len()).rev() {
        let bound = i as u64 + 1;
        let j = loop {
            let r = next();
            // Accept r below the largest multiple of `bound`: uniform mod
            // bound. That multiple is above 2^64 - 2^32 (bound <= n <=
            // 2^32), so only a word whose top 32 bits are all ones needs
            // the exact limit, and its division.
            if r >> 32 != u64::from(u32::MAX) || r <= rejection_limit(bound) {
                break (r % bound) as usize;
            }
        };
        at.swap(i, j);
    }
    at
}

/// The largest `r` that [`permutation`] accepts for `bound`: one below the
/// largest multiple of `bound` that fits in 64 bits, plus `bound - 1`, so
/// that `r % bound` is uniform over the accepted words.
fn rejection_limit(bound: u64) -> u64 {
    u64::MAX - (u64::MAX % bound + 1) % bound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn harary(n: u32, k: u32, seed: u8) -> Topology {
        let p = Params::new(
            n,
            2,
            8,
            1,
            Graph::Harary {
                degree: k,
                seed: [seed; 32],
            },
        )
        .unwrap();
        Topology::new(&p, &[0; 32])
    }

    #[test]
    fn shared_rings_match_their_key() {
        let (seed, other_seed) = ([3u8; 32], [4u8; 32]);
        // Interleaved keys: a cached ring is never returned for another
        // seed, round or n.
        for (seed, round, n) in [
            (&seed, [1u8; 32], 500),
            (&seed, [2u8; 32], 500),
            (&seed, [1u8; 32], 500),
            (&other_seed, [1u8; 32], 500),
            (&seed, [1u8; 32], 499),
            (&seed, [1u8; 32], 500),
        ] {
            let shared = Ring::shared(seed, &round, n);
            let fresh = Ring::build(seed, &round, n);
            assert_eq!(shared.at, fresh.at);
            assert_eq!(shared.pos, fresh.pos);
        }
        // Two topologies of one round share one ring (other tests may
        // replace the cache in between, hence the retries).
        let round = [9u8; 32];
        let p = Params::new(
            300,
            4,
            16,
            1,
            Graph::Harary {
                degree: 6,
                seed: [5; 32],
            },
        )
        .unwrap();
        let shared =
            (0..100).any(
                |_| match (Topology::new(&p, &round), Topology::new(&p, &round)) {
                    (Topology::Harary { ring: a, .. }, Topology::Harary { ring: b, .. }) => {
                        Arc::ptr_eq(&a, &b)
                    }
                    _ => false,
                },
            );
        assert!(shared);
    }

    #[test]
    fn harary_is_k_regular_and_symmetric() {
        for (n, k) in [(3, 2), (5, 4), (20, 6), (41, 10)] {
            let t = harary(n, k, 1);
            for u in 1..=n {
                let nb = t.neighbours(u);
                assert_eq!(nb.len(), k as usize, "n={n} k={k} u={u}");
                assert!(!nb.contains(&u));
                // Each neighbour exactly once, with no duplicate to remove.
                let mut each = Vec::new();
                t.for_each_neighbour(u, |v| each.push(v));
                each.sort_unstable();
                assert_eq!(each, nb, "n={n} k={k} u={u}");
                for v in 1..=n {
                    assert_eq!(t.adjacent(u, v), nb.contains(&v));
                    assert_eq!(t.adjacent(u, v), t.adjacent(v, u));
                }
            }
        }
    }

    #[test]
    fn permutation_depends_on_seed_and_is_a_permutation() {
        let a = permutation(&[1; 32], &[0; 32], 50);
        let b = permutation(&[2; 32], &[0; 32], 50);
        assert_ne!(a, b);
        assert_ne!(a, permutation(&[1; 32], &[1; 32], 50), "bound to the round");
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (1..=50).collect::<Vec<_>>());
        assert_eq!(a, permutation(&[1; 32], &[0; 32], 50));
    }

    /// The permutation as spec/params.md section 3 words it: one 8-byte
    /// word of keystream at a time, each checked against the exact limit.
    fn reference_permutation(seed: &[u8; 32], round: &RoundId, n: u32) -> Vec<u32> {
        let key = hkdf32(Some(round), seed, &[labels::GRAPH, &n.to_le_bytes()]);
        let mut stream = ChaCha20::new((&*key).into(), &[0u8; 12].into());
        let mut at: Vec<u32> = (1..=n).collect();
        for i in (1..at.len()).rev() {
            let bound = i as u64 + 1;
            let zone = u64::MAX - (u64::MAX % bound + 1) % bound;
            let j = loop {
                let mut w = [0u8; 8];
                stream.apply_keystream(&mut w);
                let r = u64::from_le_bytes(w);
                if r <= zone {
                    break (r % bound) as usize;
                }
            };
            at.swap(i, j);
        }
        at
    }

    /// Reading the keystream in blocks, and checking the exact limit only
    /// for words in the top 2^32, gives the same permutation, across block
    /// boundaries (n well past 512 words) and for small n.
    #[test]
    fn block_reads_give_the_specified_permutation() {
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (511, 4), (513, 5), (5000, 6)] {
            assert_eq!(
                permutation(&[seed; 32], &[9; 32], n),
                reference_permutation(&[seed; 32], &[9; 32], n),
                "n {n}"
            );
        }
    }

    /// `rejection_limit(b) + 1` is a multiple of `b` (2^64 itself for a
    /// power of two), and at least `2^64 - 2^32` for every `b <= 2^32`,
    /// which is what lets `permutation` skip it for lower words.
    #[test]
    fn rejection_limit_is_the_last_full_multiple() {
        let bounds = [
            1u64,
            2,
            3,
            7,
            1 << 20,
            1_000_003,
            (1 << 31) + 1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            1 << 32,
        ];
        for b in bounds {
            let end = u128::from(rejection_limit(b)) + 1;
            assert_eq!(end % u128::from(b), 0, "bound {b}");
            assert!(
                end > (1u128 << 64) - u128::from(b),
                "bound {b}: not the last"
            );
            assert!(end <= 1u128 << 64);
            assert!(
                rejection_limit(b) >= u64::MAX - u64::from(u32::MAX),
                "bound {b}"
            );
        }
    }

    #[test]
    fn complete_neighbours() {
        let t = Topology::new(&Params::new(4, 2, 8, 1, Graph::Complete).unwrap(), &[0; 32]);
        assert_eq!(t.neighbours(2), vec![1, 3, 4]);
        let mut each = Vec::new();
        t.for_each_neighbour(2, |v| each.push(v));
        assert_eq!(each, vec![1, 3, 4]);
        assert!(!t.adjacent(2, 2));
    }
}
