//! Key agreement and the key schedule (spec/crypto.md sections 2 to 4).

use curve25519_dalek::Scalar;
use curve25519_dalek::montgomery::MontgomeryPoint;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::hkdf32;
use super::labels;
use super::prg::PrgKey;
use crate::error::ClientIndex;

/// A 32-byte X25519 public key as sent on the wire.
pub(crate) type PublicKeyBytes = [u8; 32];

/// The public key of an X25519 secret.
pub(crate) fn public_key(secret: &StaticSecret) -> PublicKeyBytes {
    PublicKey::from(secret).to_bytes()
}

/// Whether `pk` is a point of small order (on the curve or its twist): then
/// every X25519 agreement with it is all-zero. `[8]P` is the identity exactly
/// for those points, and three doublings cost far less than a full ladder.
pub(crate) fn is_weak_public_key(pk: &PublicKeyBytes) -> bool {
    let eight = MontgomeryPoint(*pk).mul_bits_be([true, false, false, false].into_iter());
    bool::from(eight.to_bytes().ct_eq(&[0u8; 32]))
}

/// X25519 agreement; `None` when the result is all-zero (non-contributory).
pub(crate) fn agree(secret: &StaticSecret, peer: &PublicKeyBytes) -> Option<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(&PublicKey::from(*peer));
    if shared.was_contributory() {
        Some(Zeroizing::new(shared.to_bytes()))
    } else {
        None
    }
}

/// Whether `pk` is the canonical encoding of an X25519 u-coordinate: bit
/// 255 clear and the value below `p = 2^255 - 19`. X25519 ignores bit 255
/// and reduces mod p, so each key has other encodings; refusing them at
/// decode makes byte equality key equality (spec/wire-format.md section 2).
pub(crate) fn is_canonical_public_key(pk: &PublicKeyBytes) -> bool {
    if pk[31] & 0x80 != 0 {
        return false;
    }
    // Values >= p: 0x7f, then 30 bytes of 0xff, then a low byte >= 0xed.
    !(pk[31] == 0x7f && pk[1..31].iter().all(|&b| b == 0xff) && pk[0] >= 0xed)
}

/// The X25519 mask secret derived from the Shamir-shared mask-key scalar:
/// `HKDF(salt = round id, ikm = scalar bytes, info = "secagg/v1/mask-sk")`.
pub(crate) fn mask_secret(mask_key: &Scalar, round: &[u8; 32]) -> StaticSecret {
    let bytes = hkdf32(Some(round), mask_key.as_bytes(), &[labels::MASK_SK]);
    StaticSecret::from(*bytes)
}

/// The share-encryption key from `sender` to `receiver`:
/// `HKDF(salt = session, ikm = X25519(c_sender, c_receiver), info = label || sender || receiver)`.
/// Directional, so each key seals exactly one message.
pub(crate) fn share_key(
    shared: &[u8; 32],
    session: &[u8; 32],
    sender: ClientIndex,
    receiver: ClientIndex,
) -> Zeroizing<[u8; 32]> {
    hkdf32(
        Some(session),
        shared,
        &[
            labels::SHARE_KEY,
            &sender.to_le_bytes(),
            &receiver.to_le_bytes(),
        ],
    )
}

/// The pairwise mask PRG key of `u` and `v` (symmetric):
/// `HKDF(salt = session, ikm = X25519(s_u, s_v), info = label || min(u, v) || max(u, v))`.
pub(crate) fn pair_mask_key(
    shared: &[u8; 32],
    session: &[u8; 32],
    u: ClientIndex,
    v: ClientIndex,
) -> PrgKey {
    let (lo, hi) = if u < v { (u, v) } else { (v, u) };
    hkdf32(
        Some(session),
        shared,
        &[labels::PAIR_MASK, &lo.to_le_bytes(), &hi.to_le_bytes()],
    )
}

/// The self-mask PRG key of `owner`:
/// `HKDF(salt = session, ikm = seed bytes, info = label || owner)`.
pub(crate) fn self_mask_key(seed: &Scalar, session: &[u8; 32], owner: ClientIndex) -> PrgKey {
    hkdf32(
        Some(session),
        seed.as_bytes(),
        &[labels::SELF_MASK, &owner.to_le_bytes()],
    )
}

/// The digest a consistency signature covers:
/// `SHA-256(label || session || n || bitmap of the survivor set)`.
pub(crate) fn survivor_set_digest(session: &[u8; 32], n: u32, bitmap: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(labels::SURVIVOR_SET);
    h.update(session);
    h.update(n.to_le_bytes());
    h.update(bitmap);
    h.finalize().into()
}

/// SHA-256 of the encoded parameters: what an AdvertiseKeys signature binds.
pub(crate) fn params_digest(params: &[u8]) -> [u8; 32] {
    Sha256::digest(params).into()
}

/// The session id:
/// `SHA-256(label || params || round || nonce || (index || c_pk || s_pk)*)`
/// over U1 in ascending index order.
pub(crate) fn session_id<'a>(
    params: &[u8],
    round: &[u8; 32],
    nonce: &[u8; 32],
    keys: impl Iterator<Item = (ClientIndex, &'a PublicKeyBytes, &'a PublicKeyBytes)>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(labels::SESSION);
    h.update(params);
    h.update(round);
    h.update(nonce);
    for (i, c, s) in keys {
        h.update(i.to_le_bytes());
        h.update(c);
        h.update(s);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_points_are_weak() {
        // u = 0 (order 2... the identity's image), u = 1 (order 4 on the twist),
        // and p - 1 (order 2 on the twist); all agree to zero.
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        let mut one = [0u8; 32];
        one[0] = 1;
        for pk in [[0u8; 32], one, p_minus_1] {
            assert!(is_weak_public_key(&pk));
            let s = StaticSecret::from([0x42; 32]);
            assert!(agree(&s, &pk).is_none());
        }
        let good = public_key(&StaticSecret::from([0x42; 32]));
        assert!(!is_weak_public_key(&good));
    }

    #[test]
    fn only_canonical_encodings_pass() {
        let good = public_key(&StaticSecret::from([0x42; 32]));
        assert!(is_canonical_public_key(&good));
        let mut high = good;
        high[31] |= 0x80;
        assert!(!is_canonical_public_key(&high), "bit 255 set");
        let mut p = [0xffu8; 32];
        p[31] = 0x7f;
        p[0] = 0xed;
        assert!(!is_canonical_public_key(&p), "p itself");
        p[0] = 0xec;
        assert!(is_canonical_public_key(&p), "p - 1");
    }

    #[test]
    fn agreement_is_symmetric_and_keys_directional() {
        let a = StaticSecret::from([1u8; 32]);
        let b = StaticSecret::from([2u8; 32]);
        let ab = agree(&a, &public_key(&b)).unwrap();
        let ba = agree(&b, &public_key(&a)).unwrap();
        assert_eq!(*ab, *ba);
        let s = [3u8; 32];
        assert_ne!(*share_key(&ab, &s, 1, 2), *share_key(&ab, &s, 2, 1));
        assert_eq!(*pair_mask_key(&ab, &s, 1, 2), *pair_mask_key(&ab, &s, 2, 1));
        assert_ne!(
            *pair_mask_key(&ab, &s, 1, 2),
            *pair_mask_key(&ab, &[4u8; 32], 1, 2)
        );
    }
}
