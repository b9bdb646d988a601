//! Cryptographic building blocks (spec/crypto.md).
//!
//! Every key derivation is HKDF-SHA256 with a constant label from [`labels`];
//! a test checks that spec/crypto.md lists exactly these labels.

pub(crate) mod aead;
pub(crate) mod feldman;
pub(crate) mod fingerprint;
pub(crate) mod identity;
pub(crate) mod kx;
pub(crate) mod prg;
pub(crate) mod secret;
pub(crate) mod shamir;

/// The domain-separation labels (spec/crypto.md section 2): the `secagg/v1/`
/// labels of the key schedule, unchanged since protocol v1, and the
/// `secagg/v2/` labels of the signatures added in v2.
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
    /// HKDF info prefix of the key that permutes the Harary graph's labels.
    pub const GRAPH: &[u8] = b"secagg/v1/graph";
    /// Prefix of the signed AdvertiseKeys message (malicious-server model).
    pub const SIG_ADVERTISE: &[u8] = b"secagg/v2/sig-advertise";
    /// Prefix of the signed ShareKeys commitments (malicious-server model).
    pub const SIG_SHARES: &[u8] = b"secagg/v2/sig-shares";
    /// Prefix of the signed masking set of a MaskedInput (malicious-server model).
    pub const SIG_MASKED_WITH: &[u8] = b"secagg/v2/sig-masked-with";
    /// Prefix of the signed survivor set of the consistency round.
    pub const SIG_CONSISTENCY: &[u8] = b"secagg/v2/sig-consistency";
    /// Prefix of the survivor-set digest that consistency signatures cover.
    pub const SURVIVOR_SET: &[u8] = b"secagg/v2/survivor-set";
    /// Prefix of the hash that seeds the weights of the server's batched
    /// share check.
    pub const SHARE_BATCH: &[u8] = b"secagg/v2/share-batch";
    /// Prefix of the hash that seeds the weights of the server's batched
    /// check of reconstructed secrets against their constant-term
    /// commitments.
    pub const SECRET_BATCH: &[u8] = b"secagg/v2/secret-batch";
    /// HKDF info of the server's resend-fingerprint key, derived from its
    /// session nonce.
    pub const RESEND_KEY: &[u8] = b"secagg/v2/resend-key";

    /// Every label, for the spec-agreement test.
    pub const ALL: [&[u8]; 15] = [
        SESSION,
        SHARE_KEY,
        SHARE_AAD,
        MASK_SK,
        PAIR_MASK,
        SELF_MASK,
        GRAPH,
        SIG_ADVERTISE,
        SIG_SHARES,
        SIG_MASKED_WITH,
        SIG_CONSISTENCY,
        SURVIVOR_SET,
        SHARE_BATCH,
        SECRET_BATCH,
        RESEND_KEY,
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
