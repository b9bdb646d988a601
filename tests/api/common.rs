//! Shared helpers for the integration tests.
#![allow(dead_code, reason = "not every test module uses every helper")]

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

/// A seeded RNG (tests only).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The largest input element of `params`: `2^b - 1`.
pub fn top(params: &secagg::Params) -> u64 {
    if params.bits() == 64 {
        u64::MAX
    } else {
        (1 << params.bits()) - 1
    }
}

/// The round id of hand-driven test rounds.
pub const ROUND: [u8; 32] = [0x52; 32];
