//! The crate's hot paths, for `benches/` only (not part of the API: hidden
//! from the docs, and free to change with the internals it wraps).
//!
//! Each item runs one internal routine exactly as the protocol does, on
//! inputs the caller sets up, so a criterion bench can time it alone.

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;

use crate::Prg;
use crate::crypto::feldman::{self, Commitments};
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::shamir::{self, Share};

/// Adds the mask of keystream `prg` under `key` (elements `0..acc.len()`,
/// modulus `2^bits`) into `acc`: the keystream and the lane arithmetic of
/// spec/crypto.md section 5, one thread.
pub fn add_mask(prg: Prg, key: &[u8; 32], bits: u8, acc: &mut [u64]) {
    prg::apply(prg, key, bits, 0, acc, Sign::Plus);
}

/// Adds every mask under `keys` into `acc` chunk by chunk, in parallel with
/// the `parallel` feature: the server's unmasking loop.
pub fn add_masks(prg: Prg, keys: &[[u8; 32]], bits: u8, acc: &mut [u64]) {
    let masks: Vec<(PrgKey, Sign)> = keys
        .iter()
        .map(|k| (PrgKey::new(*k), Sign::Minus))
        .collect();
    prg::apply_many(prg, &masks, bits, acc);
}

/// One secret dealt with Feldman commitments to holders `1..=holders`.
pub struct Dealing {
    shares: Vec<Share>,
    commitments: Commitments,
    secret: Scalar,
    threshold: usize,
}

impl core::fmt::Debug for Dealing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dealing")
            .field("holders", &self.shares.len())
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl Dealing {
    /// Deals a random secret with threshold `threshold` to `holders`
    /// holders (the dealer's work in ShareKeys, one sharing). `None` for
    /// arguments the sharing refuses.
    pub fn new<R: CryptoRng + ?Sized>(threshold: usize, holders: u32, rng: &mut R) -> Option<Self> {
        let secret = shamir::random_scalar(rng);
        let xs: Vec<u32> = (1..=holders).collect();
        let (shares, commitments) = feldman::split_committed(&secret, threshold, &xs, rng).ok()?;
        Some(Self {
            shares,
            commitments,
            secret,
            threshold,
        })
    }

    /// Interpolates the secret from the first t shares and says whether it
    /// is the one dealt (the server's reconstruction of one secret).
    pub fn reconstruct(&self) -> bool {
        let t = self.threshold.min(self.shares.len());
        shamir::interpolate_at_zero(&self.shares[..t]).is_ok_and(|s| s == self.secret)
    }

    /// Checks every share alone against the commitments (a holder's check
    /// without batching).
    pub fn verify_each(&self) -> bool {
        self.shares
            .iter()
            .all(|s| feldman::verify_share(&self.commitments, s.x, &s.y))
    }

    /// Checks every share in one batch with random weights from `rng` (the
    /// server's R3 check of one owner's shares).
    pub fn verify_batch<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> bool {
        let items: Vec<(&Commitments, u32, Scalar)> = self
            .shares
            .iter()
            .map(|s| (&self.commitments, s.x, s.y))
            .collect();
        feldman::verify_batch(&items, rng)
    }
}
