//! Key agreement and the key schedule (spec/crypto.md sections 2 to 4).

use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::EdwardsPoint;
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

/// `[8]P` for a point `P` of edwards25519 whose Montgomery u-coordinate is
/// `peer` (either of the two: X25519 sees only u), ready for
/// [`agree_rebuilt_all`]. `None` when `peer` is not a canonical encoding or not
/// a point of the curve (a point of its twist, u = -1 among them): X25519
/// still defines an agreement there, which [`agree`] computes.
///
/// Costs about one field inversion and one square root; the server
/// prepares each peer once for all the rebuilt secrets it meets
/// (spec/crypto.md section 3.1).
pub(crate) fn edwards_peer(peer: &PublicKeyBytes) -> Option<EdwardsPoint> {
    if !is_canonical_public_key(peer) {
        return None;
    }
    Some(MontgomeryPoint(*peer).to_edwards(0)?.mul_by_cofactor())
}

/// How many agreements the server passes to [`agree_rebuilt_all`] at once:
/// enough that the one inversion a batch shares costs a few percent of one
/// agreement, few enough that the batches spread over the threads.
pub(crate) const REBUILT_BATCH: usize = 32;

/// [`agree`] in variable time, for secrets the caller has rebuilt from
/// shares and so may compute on openly: the server's pairwise keys of the
/// dropped clients (spec/crypto.md section 3.1). Each pair is a secret and
/// a peer prepared by [`edwards_peer`]; each result is the same 32 bytes as
/// [`agree`] with that peer's public key, `None` when they are all zero.
///
/// X25519 multiplies `P` by the clamped scalar `c` (`2^254 <= c < 2^255`,
/// `c = 0 mod 8`) and keeps u. Since `8` divides `c`, `c P = (c / 8) [8]P`,
/// and `[8]P` lies in the subgroup of prime order `l`, so `c / 8` may be
/// reduced mod `l`: one variable-time Edwards multiplication (`wNAF`, the
/// vector backend where the CPU has it) instead of the constant-time
/// Montgomery ladder. Then `u = (Z + Y) / (Z - Y)` for every product with
/// one inversion between them (Montgomery's trick, which leaves a zero
/// denominator, the identity's, zero: its u is 0, as X25519's is).
///
/// The products and their u-coordinates are wiped when dropped; the
/// batched inversion's own scratch (the denominators, which without the
/// numerators do not give u) is curve25519-dalek's.
pub(crate) fn agree_rebuilt_all(
    pairs: &[(&StaticSecret, &EdwardsPoint)],
) -> Vec<Option<Zeroizing<[u8; 32]>>> {
    let products: Zeroizing<Vec<EdwardsPoint>> = Zeroizing::new(
        pairs
            .iter()
            .map(|(secret, peer8)| rebuilt_product(secret, peer8))
            .collect(),
    );
    let us: Zeroizing<Vec<MontgomeryPoint>> =
        Zeroizing::new(EdwardsPoint::to_montgomery_batch(&products));
    us.iter()
        .map(|u| {
            let u = Zeroizing::new(u.to_bytes());
            if bool::from(u.ct_eq(&[0u8; 32])) {
                None
            } else {
                Some(u)
            }
        })
        .collect()
}

/// `(c / 8 mod l) [8]P` for the clamped scalar `c` of `secret`, in
/// variable time ([`agree_rebuilt_all`]).
fn rebuilt_product(secret: &StaticSecret, peer8: &EdwardsPoint) -> EdwardsPoint {
    let mut c = Zeroizing::new(secret.to_bytes());
    c[0] &= 248;
    c[31] &= 127;
    c[31] |= 64;
    // c / 8: shift the little-endian integer right by three bits.
    let mut eighth = Zeroizing::new([0u8; 32]);
    for i in 0..32 {
        let next = c.get(i + 1).copied().unwrap_or(0);
        eighth[i] = (c[i] >> 3) | (next << 5);
    }
    let scalar = Zeroizing::new(Scalar::from_bytes_mod_order(*eighth));
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&scalar, peer8, &Scalar::ZERO)
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

    /// `agree_rebuilt_all` gives `agree`'s bytes for every secret and every
    /// peer on the curve: random keys, peers with a torsion component
    /// (`P + T` for each point `T` of order dividing 8), and secrets at the
    /// clamping edges. Peers `edwards_peer` refuses are those `agree` must
    /// handle: non-canonical encodings, twist points.
    #[test]
    fn rebuilt_agreement_is_x25519() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        use rand_core::{Rng, SeedableRng};
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(25519);
        let mut secrets: Vec<[u8; 32]> = (0..40)
            .map(|_| {
                let mut b = [0u8; 32];
                rng.fill_bytes(&mut b);
                b
            })
            .collect();
        secrets.extend([[0u8; 32], [0xff; 32], {
            let mut b = [0u8; 32];
            b[31] = 0x40;
            b
        }]);
        // The small-order points themselves (every agreement all zero), then
        // random points with each torsion component.
        let mut peers: Vec<EdwardsPoint> = EIGHT_TORSION.to_vec();
        for _ in 0..12 {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            let p = EdwardsPoint::mul_base_clamped(b);
            peers.extend(EIGHT_TORSION.iter().map(|t| p + t));
        }
        let secrets: Vec<StaticSecret> = secrets.into_iter().map(StaticSecret::from).collect();
        let mut pairs = Vec::new();
        let mut expected = Vec::new();
        for (i, secret) in secrets.iter().enumerate() {
            // Every peer for a few secrets, a few peers for every secret.
            let step = if i < 3 { 1 } else { 7 };
            for p in peers.iter().skip(i % step).step_by(step) {
                let pk = p.to_montgomery().to_bytes();
                // Every point of the curve has an Edwards preimage.
                let p8 = edwards_peer(&pk).expect("a point of the curve");
                expected.push(agree(secret, &pk).map(|k| *k));
                pairs.push((secret, p8));
            }
        }
        assert_eq!(pairs.len(), 906);
        // The all-zero agreements (small-order peers) are among the others,
        // so a batch that let a zero denominator spoil the inversion of its
        // neighbours would fail here; batches of one, of the server's size
        // and of everything give the same bytes.
        let zeros = expected.iter().filter(|e| e.is_none()).count();
        assert_eq!(zeros, 70);
        let refs: Vec<(&StaticSecret, &EdwardsPoint)> =
            pairs.iter().map(|(s, p)| (*s, p)).collect();
        for size in [1, REBUILT_BATCH, refs.len()] {
            let got: Vec<Option<[u8; 32]>> = refs
                .chunks(size)
                .flat_map(agree_rebuilt_all)
                .map(|k| k.map(|k| *k))
                .collect();
            assert_eq!(got, expected, "batches of {size}");
        }
        // A twist point (u = 2 is not on the curve), u = -1, and
        // non-canonical encodings are refused, never mapped to another key.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(MontgomeryPoint(two).to_edwards(0).is_none());
        assert!(edwards_peer(&two).is_none());
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(edwards_peer(&minus_one).is_none());
        let good = public_key(&StaticSecret::from([0x42; 32]));
        let mut high = good;
        high[31] |= 0x80;
        assert!(edwards_peer(&good).is_some());
        assert!(edwards_peer(&high).is_none());
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

    /// Every point of order dividing 8 on the curve is weak (`[8]P` is
    /// the identity for exactly those), the order-8 ones included, which
    /// `[4]P` would miss; a point of order `8 l` (a full point with a
    /// torsion component) is not, though its agreements depend on the
    /// clamping clearing that component.
    #[test]
    fn every_eight_torsion_point_is_weak_and_full_points_are_not() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let secret = StaticSecret::from([0x42; 32]);
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            let pk = t.to_montgomery().to_bytes();
            assert!(is_weak_public_key(&pk), "torsion point {i}");
            assert!(agree(&secret, &pk).is_none(), "torsion point {i}");
        }
        let full = EdwardsPoint::mul_base_clamped([0x17; 32]);
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            let pk = (full + t).to_montgomery().to_bytes();
            assert!(!is_weak_public_key(&pk), "full point plus torsion {i}");
            assert!(agree(&secret, &pk).is_some(), "full point plus torsion {i}");
        }
    }
}
