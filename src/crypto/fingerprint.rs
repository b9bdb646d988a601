//! The server's resend fingerprint (spec/protocol.md section 5.1,
//! spec/crypto.md section 10): POLYVAL (RFC 8452) under a key the senders
//! never see, over the message zero-padded to 16-byte blocks followed by a
//! block holding its length.
//!
//! Only equality of two fingerprints under one key matters: two different
//! messages of at most `L` blocks collide with probability at most
//! `(L + 1) / 2^128` over the key, whatever the sender chose, because the
//! sender learns nothing about the key (it never sees a fingerprint nor the
//! nonce the key is derived from).

use core::fmt;

use polyval::Polyval;
use polyval::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{hkdf32, labels};

/// Bytes of a fingerprint (one POLYVAL block).
pub(crate) const FINGERPRINT_LEN: usize = 16;

/// The key of the resend fingerprints of one server:
/// `HKDF(salt = none, ikm = nonce, info = "secagg/v2/resend-key")`, its
/// first 16 bytes. Zeroized on drop; its `Debug` shows nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct FingerprintKey([u8; FINGERPRINT_LEN]);

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

impl FingerprintKey {
    /// The key of a server whose session nonce is `nonce` (secret: the
    /// session id that clients see is a hash of it under another label).
    ///
    /// Implements spec/crypto.md section 10 (key).
    pub(crate) fn from_nonce(nonce: &[u8; 32]) -> Self {
        let okm = hkdf32(None, nonce, &[labels::RESEND_KEY]);
        let mut key = [0u8; FINGERPRINT_LEN];
        key.copy_from_slice(&okm[..FINGERPRINT_LEN]);
        Self(key)
    }

    /// A hasher that computes one fingerprint; it holds the key (and wipes
    /// it on drop), so it can go to another thread without `self`.
    pub(crate) fn hasher(&self) -> Hasher {
        Hasher(Polyval::new(&self.0.into()))
    }
}

/// One fingerprint computation under a [`FingerprintKey`].
pub(crate) struct Hasher(Polyval);

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher(<redacted>)")
    }
}

impl Hasher {
    /// The fingerprint of `msg`: POLYVAL over `msg` zero-padded to a whole
    /// number of blocks, then one block `u64_le(len(msg)) || 0^8`. Cost:
    /// one carry-less multiplication per 16 bytes.
    ///
    /// Implements spec/crypto.md section 10 (fingerprint).
    pub(crate) fn fingerprint(mut self, msg: &[u8]) -> Fingerprint {
        self.0.update_padded(msg);
        // The length block makes the encoding injective: zero padding alone
        // would let `m` and `m || 0` share a fingerprint.
        let mut len = Zeroizing::new([0u8; 16]);
        len[..8].copy_from_slice(&(msg.len() as u64).to_le_bytes());
        self.0.update(&[(*len).into()]);
        Fingerprint(self.0.finalize().into())
    }
}

/// A resend fingerprint. Compared in constant time; its `Debug` shows
/// nothing of it (it is a function of the key).
#[derive(Clone, Copy)]
pub(crate) struct Fingerprint(pub(crate) [u8; FINGERPRINT_LEN]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(<redacted>)")
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Fingerprint {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(key: &FingerprintKey, msg: &[u8]) -> Fingerprint {
        key.hasher().fingerprint(msg)
    }

    #[test]
    fn equal_messages_equal_fingerprints_and_any_change_differs() {
        let key = FingerprintKey::from_nonce(&[7; 32]);
        let msg: Vec<u8> = (0..100u8).collect();
        assert_eq!(fp(&key, &msg), fp(&key, &msg.clone()));
        for i in [0, 15, 16, 50, 99] {
            let mut other = msg.clone();
            other[i] ^= 1;
            assert_ne!(fp(&key, &msg), fp(&key, &other), "byte {i}");
        }
        // Zero padding alone would make these collide; the length block
        // does not.
        let mut longer = msg.clone();
        longer.push(0);
        assert_ne!(fp(&key, &msg), fp(&key, &longer));
        assert_ne!(fp(&key, &msg), fp(&key, &msg[..99]));
        assert_ne!(fp(&key, &[]), fp(&key, &[0]));
        assert_ne!(fp(&key, &[0; 16]), fp(&key, &[0; 32]));
    }

    #[test]
    fn the_key_comes_from_the_nonce_and_changes_the_fingerprint() {
        let a = FingerprintKey::from_nonce(&[1; 32]);
        let b = FingerprintKey::from_nonce(&[2; 32]);
        assert_ne!(a.0, b.0);
        assert_eq!(a.0, FingerprintKey::from_nonce(&[1; 32]).0);
        assert_ne!(fp(&a, b"message"), fp(&b, b"message"));
        // The key is HKDF's output, not the nonce.
        assert_ne!(a.0, [1; 16]);
    }

    #[test]
    fn fingerprint_is_polyval_of_padded_message_and_length_block() {
        // RFC 8452 appendix A: POLYVAL(H, X_1, X_2).
        let h: [u8; 16] = hex16("25629347589242761d31f826ba4b757b");
        let x1 = hex16("4f4f95668c83dfb6401762bb2d01a262");
        let x2 = hex16("d1a24ddd2721d006bbe45f20d3c9f362");
        let mut p = Polyval::new(&h.into());
        p.update(&[x1.into(), x2.into()]);
        let tag: [u8; 16] = p.finalize().into();
        assert_eq!(tag, hex16("f7a3b47b846119fae5b7866cf5e5b77e"));
        // The fingerprint of a 32-byte message is that POLYVAL with the
        // length block appended.
        let key = FingerprintKey(h);
        let mut msg = x1.to_vec();
        msg.extend_from_slice(&x2);
        let mut p = Polyval::new(&h.into());
        let mut len = [0u8; 16];
        len[0] = 32;
        p.update(&[x1.into(), x2.into(), len.into()]);
        let want: [u8; 16] = p.finalize().into();
        assert_eq!(key.hasher().fingerprint(&msg).0, want);
    }

    /// spec/crypto.md section 10 from the primitives: `fk` is the first 16
    /// bytes of HKDF-SHA256 with no salt, the nonce as input and the label
    /// as info; the message is zero-padded to whole blocks (none for an
    /// empty or whole-block message) and followed by `u64(len) || 0^8`.
    #[test]
    fn key_and_padding_follow_the_spec() {
        let nonce = [0x3c; 32];
        let mut okm = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &nonce)
            .expand(b"secagg/v2/resend-key", &mut okm)
            .unwrap_or_default();
        let key = FingerprintKey::from_nonce(&nonce);
        let fk: [u8; 16] = core::array::from_fn(|i| okm[i]);
        assert_eq!(key.0, fk);
        for len in [0usize, 1, 15, 16, 17, 37, 64] {
            let msg: Vec<u8> = (0..len).map(|i| (i as u8) ^ 0xa5).collect();
            let mut padded = msg.clone();
            padded.resize(len.div_ceil(16) * 16, 0);
            padded.extend_from_slice(&(len as u64).to_le_bytes());
            padded.extend_from_slice(&[0; 8]);
            let blocks: Vec<_> = padded
                .chunks_exact(16)
                .map(|c| core::array::from_fn::<u8, 16, _>(|i| c[i]).into())
                .collect();
            assert_eq!(blocks.len(), len.div_ceil(16) + 1);
            let mut p = Polyval::new(&fk.into());
            p.update(&blocks);
            let want: [u8; 16] = p.finalize().into();
            assert_eq!(key.hasher().fingerprint(&msg).0, want, "length {len}");
        }
    }

    fn hex16(s: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            let d = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            *o = d(pair[0]) << 4 | d(pair[1]);
        }
        out
    }

    #[test]
    fn debug_shows_nothing() {
        let key = FingerprintKey::from_nonce(&[9; 32]);
        let text = format!("{key:?} {:?} {:?}", key.hasher(), fp(&key, b"x"));
        assert!(
            !text
                .chars()
                .any(|c| c.is_ascii_hexdigit() && c.is_ascii_digit())
        );
    }
}
