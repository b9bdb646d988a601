//! A holder's batched share check (`bench::HolderShares`) run a fixed
//! number of times, for counting instructions rather than timing
//! (benches/README.md section 3):
//!
//!     cargo bench --bench feldman_count -- ITEMS T X GROUP ITERS
//!     valgrind --tool=cachegrind --cache-sim=no \
//!         target/release/deps/feldman_count-<hash> ITEMS T X GROUP ITERS
//!
//! `ITEMS` shares at index `X` of secrets with threshold `T`, checked in
//! batches of `GROUP` items one after another, `ITERS` times. The count of
//! a run with `ITERS = 0` (the dealing alone) taken from one with
//! `ITERS = N`, divided by `N`, is the cost of one check. A holder with `k`
//! neighbours has `2 k` items in groups of `max(8, ceil(2 k / 4))`
//! (spec/crypto.md section 8.3). Without arguments it runs one check of
//! 32 items at `T = 6`, `X = 57` (n = 100), so `cargo bench` succeeds.

use rand_core::SeedableRng;
use secagg::bench::HolderShares;

fn main() {
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse().ok())
        .collect();
    // With no arguments (as a plain `cargo bench` runs every bench): one
    // check at n = 100's sizes, (k, t) = (16, 6), index 57.
    let args = if args.is_empty() {
        vec![32, 6, 57, 8, 1]
    } else {
        args
    };
    let shares = match args.as_slice() {
        &[items, t, x, group, iters] => u32::try_from(x)
            .ok()
            .and_then(|x| HolderShares::new(items, t, x, &mut rng))
            .map(|shares| (shares, group, iters)),
        _ => None,
    };
    let Some((shares, group, iters)) = shares else {
        eprintln!("usage: feldman_count ITEMS T X GROUP ITERS (1 <= T <= X < 2^32)");
        std::process::exit(2);
    };
    for _ in 0..iters {
        assert!(shares.verify_batch(group, &mut rng));
    }
}
