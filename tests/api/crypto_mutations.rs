//! The crypto primitives' public surface (spec/crypto.md), checked where a
//! plausible slip in the code would change what a caller sees: roster
//! equality and lookup, identities, signatures.

use secagg::{Error, Identity, Misuse, Roster};

use crate::common::rng;

fn identities(n: usize, seed: u64) -> Vec<Identity> {
    let mut r = rng(seed);
    (0..n).map(|_| Identity::generate(&mut r)).collect()
}

fn keys(ids: &[Identity]) -> Vec<[u8; 32]> {
    ids.iter().map(Identity::public_key).collect()
}

/// Two rosters are equal exactly when they list the same keys in the same
/// order: a roster is not equal to one of its prefixes or extensions, nor
/// to the same keys in another order.
#[test]
fn rosters_are_equal_only_with_the_same_keys_in_order() {
    let ids = identities(3, 61);
    let k = keys(&ids);
    let full = Roster::new(&k).unwrap();
    assert_eq!(full, Roster::new(&k).unwrap());
    let prefix = Roster::new(&k[..2]).unwrap();
    assert_ne!(full, prefix);
    assert_ne!(prefix, full);
    let empty = Roster::new(&[]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_ne!(empty, prefix);
    assert_ne!(prefix, empty);
    assert_eq!(empty, Roster::new(&[]).unwrap());
    let swapped = Roster::new(&[k[1], k[0], k[2]]).unwrap();
    assert_ne!(full, swapped);
    assert_eq!(full.len(), 3);
    assert!(!full.is_empty());
}

/// `Roster::get` is 1-based: client `i` has `keys[i - 1]`; 0 and `n + 1`
/// are no client.
#[test]
fn roster_lookup_is_one_based() {
    let ids = identities(4, 62);
    let k = keys(&ids);
    let roster = Roster::new(&k).unwrap();
    assert_eq!(roster.get(0), None);
    for (i, key) in (1u32..).zip(&k) {
        assert_eq!(roster.get(i), Some(*key), "client {i}");
    }
    assert_eq!(roster.get(5), None);
    assert_eq!(roster.get(u32::MAX), None);
}

/// A roster refuses, wherever it stands, a repeated key, a key that is no
/// point, and each small-order point; the same keys without it pass.
#[test]
fn roster_refuses_each_bad_key_at_each_position() {
    let ids = identities(3, 63);
    let k = keys(&ids);
    // The identity (small order), an order-2 point (y = -1), and a y that is
    // on no point of the curve (y = 2 has no x).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut two = [0u8; 32];
    two[0] = 2;
    for bad in [identity, minus_one, two, k[0]] {
        for at in 0..=3 {
            let mut list = k.clone();
            list.insert(at, bad);
            assert_eq!(
                Roster::new(&list),
                Err(Error::Misuse(Misuse::Roster)),
                "{bad:02x?} at {at}"
            );
        }
    }
    assert!(Roster::new(&k).is_ok());
}

/// An identity restored from its secret bytes is the same key; distinct
/// secrets give distinct keys.
#[test]
fn identity_secret_bytes_roundtrip() {
    let ids = identities(2, 64);
    let again = Identity::from_secret_bytes(&ids[0].secret_bytes());
    assert_eq!(again.public_key(), ids[0].public_key());
    assert_eq!(*again.secret_bytes(), *ids[0].secret_bytes());
    assert_ne!(ids[0].public_key(), ids[1].public_key());
}
