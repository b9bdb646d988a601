//! Shared helpers for the integration tests.
#![allow(dead_code, reason = "not every test module uses every helper")]

use chacha20::ChaCha20Rng;
use hkdf::Hkdf;
use rand_core::SeedableRng;
use sha2::Sha256;

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

/// `HKDF-SHA256(salt, ikm, info)` to 32 bytes (RFC 5869).
pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// X25519 of scalar bytes `k` and u-coordinate `u` (RFC 7748).
pub fn x25519(k: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*k, *u)
}
