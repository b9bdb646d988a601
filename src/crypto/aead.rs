//! Share encryption (spec/crypto.md section 4).
//!
//! ChaCha20-Poly1305 with the all-zero nonce. A fixed nonce is safe because
//! every key seals exactly one message: the key is derived from the pair's
//! X25519 secret, the session id and the ordered pair (sender, receiver), and
//! a client sends one ciphertext per receiver per session.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use zeroize::Zeroizing;

use super::labels;
use crate::error::ClientIndex;

/// Plaintext length: a mask-key share and a self-seed share, 32 bytes each.
pub(crate) const PLAINTEXT_LEN: usize = 64;
/// Ciphertext length: the plaintext and a 16-byte tag.
pub const CIPHERTEXT_LEN: usize = PLAINTEXT_LEN + 16;

/// Phase byte bound into the associated data (the ShareKeys message type).
const PHASE: u8 = 0x02;

/// `label || session || sender || receiver || phase`.
fn aad(session: &[u8; 32], sender: ClientIndex, receiver: ClientIndex) -> [u8; 60] {
    let mut out = [0u8; 60];
    let l = labels::SHARE_AAD.len();
    out[..l].copy_from_slice(labels::SHARE_AAD);
    out[l..l + 32].copy_from_slice(session);
    out[l + 32..l + 36].copy_from_slice(&sender.to_le_bytes());
    out[l + 36..l + 40].copy_from_slice(&receiver.to_le_bytes());
    out[l + 40] = PHASE;
    out
}

/// Seals one share plaintext from `sender` to `receiver`.
pub(crate) fn seal(
    key: &[u8; 32],
    session: &[u8; 32],
    sender: ClientIndex,
    receiver: ClientIndex,
    plaintext: &[u8; PLAINTEXT_LEN],
) -> [u8; CIPHERTEXT_LEN] {
    let cipher = ChaCha20Poly1305::new(key.into());
    let aad = aad(session, sender, receiver);
    let mut out = [0u8; CIPHERTEXT_LEN];
    // Encryption of 64 bytes cannot fail (the length limit is 2^38 bytes).
    if let Ok(ct) = cipher.encrypt(
        &Default::default(),
        Payload {
            msg: plaintext,
            aad: &aad,
        },
    ) {
        out.copy_from_slice(&ct);
    }
    out
}

/// Opens one share ciphertext; `None` on any failure (opaque by design).
pub(crate) fn open(
    key: &[u8; 32],
    session: &[u8; 32],
    sender: ClientIndex,
    receiver: ClientIndex,
    ciphertext: &[u8; CIPHERTEXT_LEN],
) -> Option<Zeroizing<[u8; PLAINTEXT_LEN]>> {
    let cipher = ChaCha20Poly1305::new(key.into());
    let aad = aad(session, sender, receiver);
    let pt = Zeroizing::new(
        cipher
            .decrypt(
                &Default::default(),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()?,
    );
    let mut out = Zeroizing::new([0u8; PLAINTEXT_LEN]);
    if pt.len() != PLAINTEXT_LEN {
        return None;
    }
    out.copy_from_slice(&pt);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layout() {
        let a = aad(&[7u8; 32], 0x0102_0304, 5);
        assert_eq!(&a[..19], b"secagg/v1/share-aad");
        assert_eq!(&a[19..51], &[7u8; 32]);
        assert_eq!(&a[51..55], &[4, 3, 2, 1]);
        assert_eq!(&a[55..59], &[5, 0, 0, 0]);
        assert_eq!(a[59], PHASE);
    }

    #[test]
    fn binds_session_and_direction() {
        let key = [1u8; 32];
        let s = [2u8; 32];
        let pt = [3u8; PLAINTEXT_LEN];
        let ct = seal(&key, &s, 1, 2, &pt);
        assert_eq!(*open(&key, &s, 1, 2, &ct).unwrap(), pt);
        assert!(open(&key, &s, 2, 1, &ct).is_none());
        assert!(open(&key, &[9u8; 32], 1, 2, &ct).is_none());
        let mut bad = ct;
        bad[0] ^= 1;
        assert!(open(&key, &s, 1, 2, &bad).is_none());
    }
}
