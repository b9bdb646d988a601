//! The seven messages of protocol v1 and their canonical encoding
//! (spec/wire-format.md section 5).
//!
//! Every message starts with the version byte [`VERSION`] and a message-type
//! byte; every message after R0 carries the 32-byte session id. Lists are a
//! `u32` count followed by entries in strictly ascending index order, counts
//! bounded by n before anything is allocated. The masked vector is bit-packed
//! ([`crate::vector`]).

use core::fmt;

use curve25519_dalek::Scalar;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{Decode, Encode, Reader, put_len, put_u32};
use crate::crypto::aead::CIPHERTEXT_LEN;
use crate::error::{ClientIndex, DecodeError};
use crate::params::Params;
use crate::vector;

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;

/// The session id: SHA-256 over the parameters, a server nonce and U1's keys.
pub type SessionId = [u8; 32];

/// A 32-byte X25519 public key.
pub type PublicKey = [u8; 32];

/// A share ciphertext.
pub type Ciphertext = [u8; CIPHERTEXT_LEN];

/// Message-type bytes (client to server below 0x80, server to client above).
pub mod kind {
    /// R0, client: [`super::AdvertiseKeys`].
    pub const ADVERTISE_KEYS: u8 = 0x01;
    /// R1, client: [`super::ShareKeys`].
    pub const SHARE_KEYS: u8 = 0x02;
    /// R2, client: [`super::MaskedInput`].
    pub const MASKED_INPUT: u8 = 0x03;
    /// R3, client: [`super::UnmaskResponse`].
    pub const UNMASK_RESPONSE: u8 = 0x04;
    /// R0 close, server: [`super::KeyBroadcast`].
    pub const KEY_BROADCAST: u8 = 0x81;
    /// R1 close, server: [`super::ShareDelivery`].
    pub const SHARE_DELIVERY: u8 = 0x82;
    /// R2 close, server: [`super::UnmaskRequest`].
    pub const UNMASK_REQUEST: u8 = 0x83;
}

fn header(r: &mut Reader<'_>, expected: u8) -> Result<(), DecodeError> {
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeError::UnsupportedVersion(v));
    }
    let t = r.u8()?;
    if t != expected {
        return Err(DecodeError::UnexpectedType(t));
    }
    Ok(())
}

/// Reads a client index in `1..=n` that is strictly above `prev`.
fn ascending_index(r: &mut Reader<'_>, n: u32, prev: &mut u32) -> Result<ClientIndex, DecodeError> {
    let i = r.u32()?;
    if i == 0 || i > n {
        return Err(DecodeError::IndexOutOfRange);
    }
    if i <= *prev {
        return Err(DecodeError::NonCanonical);
    }
    *prev = i;
    Ok(i)
}

fn index_list(r: &mut Reader<'_>, n: u32) -> Result<Vec<ClientIndex>, DecodeError> {
    let count = r.count(n as usize, 4)?;
    let mut prev = 0;
    (0..count)
        .map(|_| ascending_index(r, n, &mut prev))
        .collect()
}

fn put_index_list(out: &mut Vec<u8>, list: &[ClientIndex]) {
    put_len(out, list.len());
    list.iter().for_each(|&i| put_u32(out, i));
}

/// R0 (client to server): the client's two fresh X25519 public keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertiseKeys {
    /// Share-encryption key c_pk.
    pub c_pk: PublicKey,
    /// Mask-agreement key s_pk.
    pub s_pk: PublicKey,
}

impl Encode for AdvertiseKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::ADVERTISE_KEYS]);
        out.extend_from_slice(&self.c_pk);
        out.extend_from_slice(&self.s_pk);
    }
    fn encoded_len(&self) -> usize {
        66
    }
}

impl Decode for AdvertiseKeys {
    fn decode(_: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::ADVERTISE_KEYS)?;
        let m = Self {
            c_pk: r.array()?,
            s_pk: r.array()?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// One entry of a [`KeyBroadcast`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKeys {
    /// The client.
    pub index: ClientIndex,
    /// Its share-encryption key.
    pub c_pk: PublicKey,
    /// Its mask-agreement key.
    pub s_pk: PublicKey,
}

/// R0 close (server to client): the session id and the keys of the client
/// and of its neighbours in U1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBroadcast {
    /// The session id.
    pub session: SessionId,
    /// Ascending by index; includes the receiving client.
    pub keys: Vec<ClientKeys>,
}

impl Encode for KeyBroadcast {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::KEY_BROADCAST]);
        out.extend_from_slice(&self.session);
        put_len(out, self.keys.len());
        for k in &self.keys {
            put_u32(out, k.index);
            out.extend_from_slice(&k.c_pk);
            out.extend_from_slice(&k.s_pk);
        }
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 4 + self.keys.len() * 68
    }
}

impl Decode for KeyBroadcast {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::KEY_BROADCAST)?;
        let session = r.array()?;
        let count = r.count(p.clients_usize(), 68)?;
        let mut prev = 0;
        let keys = (0..count)
            .map(|_| {
                Ok(ClientKeys {
                    index: ascending_index(&mut r, p.clients(), &mut prev)?,
                    c_pk: r.array()?,
                    s_pk: r.array()?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        r.finish()?;
        Ok(Self { session, keys })
    }
}

/// R1 (client to server): a commitment to the self-mask seed and one share
/// ciphertext per neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareKeys {
    /// The session id.
    pub session: SessionId,
    /// SHA-256 commitment to the sender's self-mask seed.
    pub seed_commitment: [u8; 32],
    /// `(receiver, ciphertext)`, ascending by receiver.
    pub ciphertexts: Vec<(ClientIndex, Ciphertext)>,
}

fn put_ciphertexts(out: &mut Vec<u8>, cts: &[(ClientIndex, Ciphertext)]) {
    put_len(out, cts.len());
    for (i, ct) in cts {
        put_u32(out, *i);
        out.extend_from_slice(ct);
    }
}

fn ciphertexts(r: &mut Reader<'_>, n: u32) -> Result<Vec<(ClientIndex, Ciphertext)>, DecodeError> {
    let count = r.count(n as usize, 4 + CIPHERTEXT_LEN)?;
    let mut prev = 0;
    (0..count)
        .map(|_| Ok((ascending_index(r, n, &mut prev)?, r.array()?)))
        .collect()
}

impl Encode for ShareKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::SHARE_KEYS]);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&self.seed_commitment);
        put_ciphertexts(out, &self.ciphertexts);
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 32 + 4 + self.ciphertexts.len() * (4 + CIPHERTEXT_LEN)
    }
}

impl Decode for ShareKeys {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::SHARE_KEYS)?;
        let session = r.array()?;
        let seed_commitment = r.array()?;
        let ciphertexts = ciphertexts(&mut r, p.clients())?;
        r.finish()?;
        Ok(Self {
            session,
            seed_commitment,
            ciphertexts,
        })
    }
}

/// R1 close (server to client): the ciphertexts addressed to the client by
/// its neighbours in U2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareDelivery {
    /// The session id.
    pub session: SessionId,
    /// `(sender, ciphertext)`, ascending by sender.
    pub ciphertexts: Vec<(ClientIndex, Ciphertext)>,
}

impl Encode for ShareDelivery {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::SHARE_DELIVERY]);
        out.extend_from_slice(&self.session);
        put_ciphertexts(out, &self.ciphertexts);
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 4 + self.ciphertexts.len() * (4 + CIPHERTEXT_LEN)
    }
}

impl Decode for ShareDelivery {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::SHARE_DELIVERY)?;
        let session = r.array()?;
        let ciphertexts = ciphertexts(&mut r, p.clients())?;
        r.finish()?;
        Ok(Self {
            session,
            ciphertexts,
        })
    }
}

/// R2 (client to server): the masked input, and the neighbours whose share
/// ciphertexts did not decrypt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedInput {
    /// The session id.
    pub session: SessionId,
    /// Senders whose ciphertexts failed to decrypt, ascending.
    pub complaints: Vec<ClientIndex>,
    /// b, the width each element is packed to (from the parameters; not on
    /// the wire).
    pub bits: u8,
    /// `m` elements below `2^b`, bit-packed on the wire.
    pub masked: Vec<u64>,
}

impl Encode for MaskedInput {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::MASKED_INPUT]);
        out.extend_from_slice(&self.session);
        put_index_list(out, &self.complaints);
        vector::pack(&self.masked, self.bits, out);
    }
    fn encoded_len(&self) -> usize {
        2 + 32
            + 4
            + 4 * self.complaints.len()
            + vector::packed_len(self.masked.len(), self.bits).unwrap_or(0)
    }
}

impl Decode for MaskedInput {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let view = MaskedInputView::decode(p, bytes)?;
        let masked = vector::unpack(view.packed, p.dim_usize(), p.bits())?;
        Ok(Self {
            session: view.session,
            complaints: view.complaints,
            bits: p.bits(),
            masked,
        })
    }
}

/// A [`MaskedInput`] checked in full but with its vector left packed in the
/// input bytes: the server adds it straight into its running sum, so a
/// masked input never costs it `8 * m` bytes of its own.
#[derive(Debug)]
pub(crate) struct MaskedInputView<'a> {
    pub(crate) session: SessionId,
    pub(crate) complaints: Vec<ClientIndex>,
    /// `m` elements of `b` bits, canonical (checked).
    pub(crate) packed: &'a [u8],
}

impl<'a> MaskedInputView<'a> {
    /// Decodes and checks everything [`MaskedInput::decode`] does.
    pub(crate) fn decode(p: &Params, bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::MASKED_INPUT)?;
        let session = r.array()?;
        let complaints = index_list(&mut r, p.clients())?;
        let rest = r.remaining();
        let packed = r.take(rest)?;
        vector::check_packed(packed, p.dim_usize(), p.bits())?;
        Ok(Self {
            session,
            complaints,
            packed,
        })
    }
}

/// R2 close (server to client): which of the client's neighbours survived
/// (the server needs their self-mask-seed shares) and which dropped after R1
/// (the server needs their mask-key shares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmaskRequest {
    /// The session id.
    pub session: SessionId,
    /// U3 within the client's neighbourhood (itself included), ascending.
    pub survivors: Vec<ClientIndex>,
    /// U2 minus U3 within the client's neighbourhood, ascending.
    pub dropped: Vec<ClientIndex>,
}

impl Encode for UnmaskRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::UNMASK_REQUEST]);
        out.extend_from_slice(&self.session);
        put_index_list(out, &self.survivors);
        put_index_list(out, &self.dropped);
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 8 + 4 * (self.survivors.len() + self.dropped.len())
    }
}

impl Decode for UnmaskRequest {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::UNMASK_REQUEST)?;
        let session = r.array()?;
        let survivors = index_list(&mut r, p.clients())?;
        let dropped = index_list(&mut r, p.clients())?;
        r.finish()?;
        Ok(Self {
            session,
            survivors,
            dropped,
        })
    }
}

/// Which secret a returned share is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Zeroize)]
pub enum ShareKind {
    /// A share of a survivor's self-mask seed (tag 0).
    SelfSeed,
    /// A share of a dropped client's mask key (tag 1).
    MaskKey,
}

/// One share in an [`UnmaskResponse`].
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ShareEntry {
    /// Whose secret this is a share of.
    pub owner: ClientIndex,
    /// Which secret.
    pub kind: ShareKind,
    /// The share value, a canonical scalar.
    pub share: Scalar,
}

impl fmt::Debug for ShareEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareEntry")
            .field("owner", &self.owner)
            .field("kind", &self.kind)
            .field("share", &"<redacted>")
            .finish()
    }
}

/// R3 (client to server): one share per neighbour the server asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmaskResponse {
    /// The session id.
    pub session: SessionId,
    /// Ascending by owner.
    pub shares: Vec<ShareEntry>,
}

impl Encode for UnmaskResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::UNMASK_RESPONSE]);
        out.extend_from_slice(&self.session);
        put_len(out, self.shares.len());
        for s in &self.shares {
            put_u32(out, s.owner);
            out.push(match s.kind {
                ShareKind::SelfSeed => 0,
                ShareKind::MaskKey => 1,
            });
            out.extend_from_slice(s.share.as_bytes());
        }
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 4 + self.shares.len() * 37
    }
}

impl Decode for UnmaskResponse {
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::UNMASK_RESPONSE)?;
        let session = r.array()?;
        let count = r.count(p.clients_usize(), 37)?;
        let mut prev = 0;
        let shares = (0..count)
            .map(|_| {
                let owner = ascending_index(&mut r, p.clients(), &mut prev)?;
                let kind = match r.u8()? {
                    0 => ShareKind::SelfSeed,
                    1 => ShareKind::MaskKey,
                    _ => return Err(DecodeError::NonCanonical),
                };
                let share = Option::from(Scalar::from_canonical_bytes(r.array()?))
                    .ok_or(DecodeError::NonCanonical)?;
                Ok(ShareEntry { owner, kind, share })
            })
            .collect::<Result<_, DecodeError>>()?;
        r.finish()?;
        Ok(Self { session, shares })
    }
}

impl Drop for UnmaskResponse {
    fn drop(&mut self) {
        self.shares.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Graph;
    use proptest::prelude::*;

    fn params(bits: u8) -> Params {
        Params::new(9, 3, bits, 11, Graph::Complete).unwrap()
    }

    /// One encoded sample of every message type under `p`.
    fn samples(p: &Params) -> Vec<(u8, Vec<u8>)> {
        let top = crate::vector::mask(p.bits());
        let keys = |i: u32| ClientKeys {
            index: i,
            c_pk: [i as u8; 32],
            s_pk: [i as u8 + 100; 32],
        };
        let share = |o: u32, kind| ShareEntry {
            owner: o,
            kind,
            share: Scalar::from(u64::from(o) * 77),
        };
        vec![
            (
                kind::ADVERTISE_KEYS,
                AdvertiseKeys {
                    c_pk: [1; 32],
                    s_pk: [2; 32],
                }
                .to_bytes(),
            ),
            (
                kind::KEY_BROADCAST,
                KeyBroadcast {
                    session: [3; 32],
                    keys: vec![keys(1), keys(4), keys(9)],
                }
                .to_bytes(),
            ),
            (
                kind::SHARE_KEYS,
                ShareKeys {
                    session: [4; 32],
                    seed_commitment: [5; 32],
                    ciphertexts: vec![(2, [6; CIPHERTEXT_LEN]), (3, [7; CIPHERTEXT_LEN])],
                }
                .to_bytes(),
            ),
            (
                kind::SHARE_DELIVERY,
                ShareDelivery {
                    session: [8; 32],
                    ciphertexts: vec![(5, [9; CIPHERTEXT_LEN])],
                }
                .to_bytes(),
            ),
            (
                kind::MASKED_INPUT,
                MaskedInput {
                    session: [10; 32],
                    complaints: vec![2, 7],
                    bits: p.bits(),
                    masked: (0..11u64)
                        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & top)
                        .collect(),
                }
                .to_bytes(),
            ),
            (
                kind::UNMASK_REQUEST,
                UnmaskRequest {
                    session: [11; 32],
                    survivors: vec![1, 2, 3],
                    dropped: vec![5],
                }
                .to_bytes(),
            ),
            (
                kind::UNMASK_RESPONSE,
                UnmaskResponse {
                    session: [12; 32],
                    shares: vec![share(1, ShareKind::SelfSeed), share(5, ShareKind::MaskKey)],
                }
                .to_bytes(),
            ),
        ]
    }

    /// Decodes `bytes` as message type `t` and re-encodes it.
    fn decode_as(p: &Params, t: u8, bytes: &[u8]) -> Result<(Vec<u8>, usize), DecodeError> {
        fn go<M: Decode + Encode>(p: &Params, b: &[u8]) -> Result<(Vec<u8>, usize), DecodeError> {
            let m = M::decode(p, b)?;
            Ok((m.to_bytes(), m.encoded_len()))
        }
        match t {
            kind::ADVERTISE_KEYS => go::<AdvertiseKeys>(p, bytes),
            kind::KEY_BROADCAST => go::<KeyBroadcast>(p, bytes),
            kind::SHARE_KEYS => go::<ShareKeys>(p, bytes),
            kind::SHARE_DELIVERY => go::<ShareDelivery>(p, bytes),
            kind::MASKED_INPUT => go::<MaskedInput>(p, bytes),
            kind::UNMASK_REQUEST => go::<UnmaskRequest>(p, bytes),
            _ => go::<UnmaskResponse>(p, bytes),
        }
    }

    const KINDS: [u8; 7] = [
        kind::ADVERTISE_KEYS,
        kind::KEY_BROADCAST,
        kind::SHARE_KEYS,
        kind::SHARE_DELIVERY,
        kind::MASKED_INPUT,
        kind::UNMASK_REQUEST,
        kind::UNMASK_RESPONSE,
    ];

    #[test]
    fn every_message_roundtrips_with_exact_length() {
        for bits in [1u8, 7, 32, 33, 64] {
            let p = params(bits);
            for (t, bytes) in samples(&p) {
                let (again, len) = decode_as(&p, t, &bytes).unwrap();
                assert_eq!(again, bytes, "type {t:#x} bits {bits}");
                assert_eq!(len, bytes.len(), "encoded_len of type {t:#x}");
            }
        }
    }

    #[test]
    fn every_strict_prefix_and_any_trailing_byte_fail() {
        for bits in [1u8, 32, 33, 64] {
            let p = params(bits);
            for (t, bytes) in samples(&p) {
                for cut in 0..bytes.len() {
                    assert!(
                        decode_as(&p, t, &bytes[..cut]).is_err(),
                        "type {t:#x} prefix {cut}"
                    );
                }
                for extra in [0u8, 1, 0xff] {
                    let mut long = bytes.clone();
                    long.push(extra);
                    assert!(
                        decode_as(&p, t, &long).is_err(),
                        "type {t:#x} trailing {extra}"
                    );
                }
            }
        }
    }

    #[test]
    fn header_and_canonical_rules() {
        let p = params(32);
        let good = samples(&p);
        // Wrong version, wrong type.
        for (t, bytes) in &good {
            let mut v = bytes.clone();
            v[0] = 2;
            assert_eq!(
                decode_as(&p, *t, &v),
                Err(DecodeError::UnsupportedVersion(2))
            );
            let mut v = bytes.clone();
            v[1] ^= 0x40;
            assert_eq!(
                decode_as(&p, *t, &v),
                Err(DecodeError::UnexpectedType(v[1]))
            );
        }
        // Unsorted indices, index 0, index above n, non-canonical scalar, bad kind tag.
        let req = |s: Vec<u32>| {
            UnmaskRequest {
                session: [0; 32],
                survivors: s,
                dropped: vec![],
            }
            .to_bytes()
        };
        assert_eq!(
            UnmaskRequest::decode(&p, &req(vec![2, 1])),
            Err(DecodeError::NonCanonical)
        );
        assert_eq!(
            UnmaskRequest::decode(&p, &req(vec![1, 1])),
            Err(DecodeError::NonCanonical)
        );
        assert_eq!(
            UnmaskRequest::decode(&p, &req(vec![0])),
            Err(DecodeError::IndexOutOfRange)
        );
        assert_eq!(
            UnmaskRequest::decode(&p, &req(vec![10])),
            Err(DecodeError::IndexOutOfRange)
        );
        let mut resp = good[6].1.clone();
        let share_at = 2 + 32 + 4 + 4 + 1;
        resp[share_at..share_at + 32].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            UnmaskResponse::decode(&p, &resp),
            Err(DecodeError::NonCanonical)
        );
        let mut resp = good[6].1.clone();
        resp[share_at - 1] = 2;
        assert_eq!(
            UnmaskResponse::decode(&p, &resp),
            Err(DecodeError::NonCanonical)
        );
        // Counts above n are refused before reading further.
        let mut many = req(vec![1]);
        many[34..38].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            UnmaskRequest::decode(&p, &many),
            Err(DecodeError::LengthOutOfBounds)
        );
        // Non-zero padding bits in a packed vector (b = 1, m = 11: 5 pad bits).
        let p1 = params(1);
        let mut mi = good_masked(&p1);
        let last = mi.len() - 1;
        mi[last] |= 0x80;
        assert_eq!(
            MaskedInput::decode(&p1, &mi),
            Err(DecodeError::NonCanonical)
        );
    }

    fn good_masked(p: &Params) -> Vec<u8> {
        samples(p).swap_remove(4).1
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(t in 0usize..7, bits in prop_oneof![Just(1u8), Just(32), Just(64), 1u8..=64],
                                    bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let p = params(bits);
            let kind = KINDS[t];
            // With the right header, the body is what gets exercised.
            let mut framed = vec![VERSION, kind];
            framed.extend_from_slice(&bytes);
            for input in [&bytes[..], &framed[..]] {
                if let Ok((again, len)) = decode_as(&p, kind, input) {
                    prop_assert_eq!(&again[..], input);
                    prop_assert_eq!(len, input.len());
                }
            }
        }

        #[test]
        fn mutated_messages_decode_canonically_or_fail(t in 0usize..7, pos in any::<usize>(), xor in 1u8..=255) {
            let p = params(33);
            let (kind, mut bytes) = samples(&p).swap_remove(t);
            let i = pos % bytes.len();
            bytes[i] ^= xor;
            if let Ok((again, _)) = decode_as(&p, kind, &bytes) {
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
