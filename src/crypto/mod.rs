//! Cryptographic building blocks (spec/crypto.md).
//!
//! Every key derivation is HKDF-SHA256 with a constant label from [`labels`];
//! a test checks that spec/crypto.md lists exactly these labels.

pub(crate) mod aead;
pub(crate) mod feldman;
pub(crate) mod kx;
pub(crate) mod prg;
pub(crate) mod secret;
pub(crate) mod shamir;

/// The domain-separation labels of protocol v1 (spec/crypto.md section 2).
pub mod labels {
    /// Prefix of the session-id hash.
    pub const SESSION: &[u8] = b"secagg/v1/session";
    /// HKDF info prefix of the share-encryption key (sender to receiver).
    pub const SHARE_KEY: &[u8] = b"secagg/v1/share-key";
    /// Prefix of the share ciphertext's associated data.
    pub const SHARE_AAD: &[u8] = b"secagg/v1/share-aad";
    /// HKDF info of the X25519 mask secret derived from the mask-key scalar.
    pub const MASK_SK: &[u8] = b"secagg/v1/mask-sk";
    /// HKDF info prefix of the pairwise mask PRG key.
    pub const PAIR_MASK: &[u8] = b"secagg/v1/pair-mask";
    /// HKDF info prefix of the self-mask PRG key.
    pub const SELF_MASK: &[u8] = b"secagg/v1/self-mask";
    /// Prefix of the self-mask seed commitment hash.
    pub const SEED_COMMIT: &[u8] = b"secagg/v1/seed-commit";
    /// HKDF info prefix of the key that permutes the Harary graph's labels.
    pub const GRAPH: &[u8] = b"secagg/v1/graph";

    /// Every label, for the spec-agreement test.
    pub const ALL: [&[u8]; 8] = [
        SESSION,
        SHARE_KEY,
        SHARE_AAD,
        MASK_SK,
        PAIR_MASK,
        SELF_MASK,
        SEED_COMMIT,
        GRAPH,
    ];
}

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF-SHA256 to a 32-byte key: `HKDF(salt, ikm, info = parts concatenated)`.
pub(crate) fn hkdf32(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand
    // cannot fail; the error arm is unreachable but handled without panicking.
    if hk.expand_multi_info(info, out.as_mut()).is_err() {
        out.as_mut().fill(0);
    }
    out
}
