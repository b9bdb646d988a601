//! Shared helpers for the integration tests.
#![allow(dead_code, reason = "not every test module uses every helper")]

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

/// A seeded RNG (tests only).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}
