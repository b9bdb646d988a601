//! Long-term identities and the signatures of the malicious-server model
//! (spec/crypto.md section 9).
//!
//! Each client holds an Ed25519 signing key ([`Identity`]); every party is
//! given the roster of verifying keys by the host ([`Roster`]), the PKI
//! assumption of spec/threat-model.md. Signatures are `verify_strict`
//! Ed25519 (RFC 8032 with the small-order and malleability checks of
//! ed25519-dalek) over a labelled message, so a signature made for one
//! purpose never verifies for another.

use core::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{ClientIndex, Error, Misuse};

/// An Ed25519 signature as sent on the wire.
pub type SignatureBytes = [u8; 64];

/// A client's long-term signing key. Its secret half is zeroized on drop and
/// never printed.
///
/// ```
/// use rand_core::SeedableRng;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
/// let id = secagg::Identity::generate(&mut rng);
/// let again = secagg::Identity::from_secret_bytes(&id.secret_bytes());
/// assert_eq!(id.public_key(), again.public_key());
/// ```
///
/// Cloning shares the one key (a reference count), it does not copy it.
#[derive(Clone)]
pub struct Identity {
    key: Arc<SigningKey>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh identity: 32 bytes from `rng` are the Ed25519 secret key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::from_secret_bytes(&secret)
    }

    /// The identity with this 32-byte Ed25519 secret key (RFC 8032 section
    /// 5.1.5), e.g. one the host stored with [`Identity::secret_bytes`].
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            key: Arc::new(SigningKey::from_bytes(secret)),
        }
    }

    /// The 32-byte secret key, for the host to store. Handle with care: it
    /// is the client's long-term identity.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The 32-byte verifying key that goes into every party's [`Roster`].
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `label || parts...`.
    pub(crate) fn sign(&self, label: &[u8], parts: &[&[u8]]) -> SignatureBytes {
        self.key.sign(&labelled(label, parts)).to_bytes()
    }
}

fn labelled(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = label.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(label);
    parts.iter().for_each(|p| msg.extend_from_slice(p));
    msg
}

/// The verifying keys of clients `1..=n`, given to every party by the host:
/// the public-key infrastructure the malicious-server model relies on
/// (spec/threat-model.md section 1). Cheap to clone (shared).
///
/// ```
/// use rand_core::SeedableRng;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
/// let ids: Vec<_> = (0..3).map(|_| secagg::Identity::generate(&mut rng)).collect();
/// let roster = secagg::Roster::new(&ids.iter().map(|i| i.public_key()).collect::<Vec<_>>())?;
/// assert_eq!(roster.len(), 3);
/// # Ok::<(), secagg::Error>(())
/// ```
#[derive(Clone)]
pub struct Roster {
    keys: Arc<[VerifyingKey]>,
}

impl fmt::Debug for Roster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roster")
            .field("clients", &self.keys.len())
            .finish()
    }
}

impl PartialEq for Roster {
    fn eq(&self, other: &Self) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(other.keys.iter())
                .all(|(a, b)| a.as_bytes() == b.as_bytes())
    }
}

impl Eq for Roster {}

impl Roster {
    /// The roster whose client `i` has verifying key `keys[i - 1]`.
    ///
    /// # Errors
    /// [`Error::Misuse`] ([`Misuse::Roster`]) when a key is not a valid
    /// Ed25519 point, is of small order, or appears twice (two clients may
    /// not share an identity).
    pub fn new(keys: &[[u8; 32]]) -> Result<Self, Error> {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        let parsed = keys
            .iter()
            .map(|k| {
                let vk = VerifyingKey::from_bytes(k).map_err(|_| Misuse::Roster)?;
                if vk.is_weak() || !seen.insert(*k) {
                    return Err(Misuse::Roster);
                }
                Ok(vk)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            keys: parsed.into(),
        })
    }

    /// n, the number of identities.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the roster is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The verifying key of client `index`, if it is in `1..=n`.
    pub fn get(&self, index: ClientIndex) -> Option<[u8; 32]> {
        self.key(index).map(VerifyingKey::to_bytes)
    }

    fn key(&self, index: ClientIndex) -> Option<&VerifyingKey> {
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        self.keys.get(i)
    }

    /// Whether `sig` is `index`'s strict Ed25519 signature over
    /// `label || parts...`.
    pub(crate) fn verify(
        &self,
        index: ClientIndex,
        label: &[u8],
        parts: &[&[u8]],
        sig: &SignatureBytes,
    ) -> bool {
        let Some(key) = self.key(index) else {
            return false;
        };
        key.verify_strict(&labelled(label, parts), &Signature::from_bytes(sig))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn signatures_verify_only_for_their_signer_label_and_message() {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(9);
        let a = Identity::generate(&mut rng);
        let b = Identity::generate(&mut rng);
        let roster = Roster::new(&[a.public_key(), b.public_key()]).unwrap();
        let sig = a.sign(b"label", &[b"x", b"y"]);
        assert!(roster.verify(1, b"label", &[b"x", b"y"], &sig));
        assert!(
            roster.verify(1, b"label", &[b"xy"], &sig),
            "parts are concatenated"
        );
        assert!(!roster.verify(2, b"label", &[b"x", b"y"], &sig));
        assert!(!roster.verify(1, b"other", &[b"x", b"y"], &sig));
        assert!(!roster.verify(1, b"label", &[b"x", b"z"], &sig));
        assert!(!roster.verify(3, b"label", &[b"x", b"y"], &sig));
        assert!(!roster.verify(0, b"label", &[b"x", b"y"], &sig));
        let mut bad = sig;
        bad[5] ^= 1;
        assert!(!roster.verify(1, b"label", &[b"x", b"y"], &bad));
    }

    #[test]
    fn roster_refuses_bad_weak_and_repeated_keys() {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(2);
        let a = Identity::generate(&mut rng).public_key();
        assert_eq!(Roster::new(&[a, a]), Err(Error::Misuse(Misuse::Roster)));
        // The identity point (small order).
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(Roster::new(&[ident]), Err(Error::Misuse(Misuse::Roster)));
        assert!(Roster::new(&[a]).is_ok());
    }
}
