//! The messages of protocol v2 and their canonical encoding
//! (spec/wire-format.md section 5).
//!
//! Every message starts with the version byte [`VERSION`] and a message-type
//! byte; every message after R0 carries the 32-byte session id. Lists are a
//! `u32` count followed by entries in strictly ascending index order, counts
//! bounded by n before anything is allocated. The masked vector is bit-packed
//! ([`crate::vector`]); sets of clients that every survivor must see whole
//! travel as bitmaps. Fields marked "malicious model" are present exactly when
//! the parameters' server model is [`crate::ServerModel::Malicious`]: the
//! decoder takes them from the [`Params`].

use core::fmt;

use curve25519_dalek::Scalar;
use curve25519_dalek::ristretto::RistrettoPoint;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{Decode, Encode, Reader, put_len, put_u32};
use crate::crypto::aead::CIPHERTEXT_LEN;
pub use crate::crypto::identity::SignatureBytes;
use crate::crypto::shamir::ShareBytes;
use crate::error::{ClientIndex, DecodeError};
use crate::params::{Params, RoundId};
use crate::vector;

pub use crate::codec::VERSION;

/// The session id: SHA-256 over the parameters, the round id, a server nonce
/// and U1's keys.
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
    /// Consistency round, client: [`super::ConsistencyResponse`].
    pub const CONSISTENCY_RESPONSE: u8 = 0x05;
    /// R0 close, server: [`super::KeyBroadcast`].
    pub const KEY_BROADCAST: u8 = 0x81;
    /// R1 close, server: [`super::ShareDelivery`].
    pub const SHARE_DELIVERY: u8 = 0x82;
    /// R2 close (consistency close in the malicious model), server:
    /// [`super::UnmaskRequest`].
    pub const UNMASK_REQUEST: u8 = 0x83;
    /// R2 close in the malicious model, server: [`super::ConsistencyRequest`].
    pub const CONSISTENCY_REQUEST: u8 = 0x84;
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

/// Reads an X25519 public key, refusing non-canonical encodings.
fn public_key(r: &mut Reader<'_>) -> Result<PublicKey, DecodeError> {
    let pk = r.array()?;
    if crate::crypto::kx::is_canonical_public_key(&pk) {
        Ok(pk)
    } else {
        Err(DecodeError::NonCanonical)
    }
}

fn signature_len(p: &Params) -> usize {
    if p.is_malicious() { 64 } else { 0 }
}

/// Reads a signature when the model has one.
fn opt_signature(r: &mut Reader<'_>, p: &Params) -> Result<Option<SignatureBytes>, DecodeError> {
    if p.is_malicious() {
        Ok(Some(r.array()?))
    } else {
        Ok(None)
    }
}

fn put_opt_signature(out: &mut Vec<u8>, sig: &Option<SignatureBytes>) {
    if let Some(sig) = sig {
        out.extend_from_slice(sig);
    }
}

fn opt_len(sig: &Option<SignatureBytes>) -> usize {
    sig.map_or(0, |s| s.len())
}

/// The length of a bitmap of `bits` bits.
fn bitmap_len(bits: usize) -> usize {
    bits.div_ceil(8)
}

/// A bitmap of `bits` bits whose padding bits are zero.
fn bitmap(r: &mut Reader<'_>, bits: usize) -> Result<Vec<u8>, DecodeError> {
    let bytes = r.take(bitmap_len(bits))?;
    if !bits.is_multiple_of(8) && bytes.last().is_some_and(|&b| b >> (bits % 8) != 0) {
        return Err(DecodeError::NonCanonical);
    }
    Ok(bytes.to_vec())
}

/// The bitmap over `1..=n` with bit `i - 1` set for each `i` in `set`
/// (ascending, in `1..=n`): how a survivor set travels.
pub fn index_bitmap(n: u32, set: &[ClientIndex]) -> Vec<u8> {
    let mut out = vec![0u8; bitmap_len(n as usize)];
    for &i in set {
        if let Some(byte) = i.checked_sub(1).and_then(|j| out.get_mut((j / 8) as usize)) {
            *byte |= 1 << ((i - 1) % 8);
        }
    }
    out
}

/// The indices whose bits are set in an [`index_bitmap`], ascending.
pub fn bitmap_indices(bitmap: &[u8]) -> Vec<ClientIndex> {
    (0u32..)
        .zip(bitmap)
        .flat_map(|(j, &b)| {
            (0..8)
                .filter(move |k| b >> k & 1 == 1)
                .map(move |k| j * 8 + k + 1)
        })
        .collect()
}

/// R0 (client to server): the client's two fresh X25519 public keys for
/// this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertiseKeys {
    /// The round the keys are for.
    pub round: RoundId,
    /// Share-encryption key c_pk.
    pub c_pk: PublicKey,
    /// Mask-agreement key s_pk.
    pub s_pk: PublicKey,
    /// Malicious model: the client's signature over the parameters, the
    /// round, its index and both keys (spec/crypto.md section 9).
    pub signature: Option<SignatureBytes>,
}

impl Encode for AdvertiseKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::ADVERTISE_KEYS]);
        out.extend_from_slice(&self.round);
        out.extend_from_slice(&self.c_pk);
        out.extend_from_slice(&self.s_pk);
        put_opt_signature(out, &self.signature);
    }
    fn encoded_len(&self) -> usize {
        2 + 96 + opt_len(&self.signature)
    }
}

impl Decode for AdvertiseKeys {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::ADVERTISE_KEYS)?;
        let m = Self {
            round: r.array()?,
            c_pk: public_key(&mut r)?,
            s_pk: public_key(&mut r)?,
            signature: opt_signature(&mut r, p)?,
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
    /// Malicious model: its AdvertiseKeys signature, forwarded.
    pub signature: Option<SignatureBytes>,
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
            put_opt_signature(out, &k.signature);
        }
    }
    fn encoded_len(&self) -> usize {
        2 + 32
            + 4
            + self
                .keys
                .iter()
                .map(|k| 68 + opt_len(&k.signature))
                .sum::<usize>()
    }
}

impl Decode for KeyBroadcast {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::KEY_BROADCAST)?;
        let session = r.array()?;
        let count = r.count(p.clients_usize(), 68 + signature_len(p))?;
        let mut prev = 0;
        let keys = (0..count)
            .map(|_| {
                Ok(ClientKeys {
                    index: ascending_index(&mut r, p.clients(), &mut prev)?,
                    c_pk: public_key(&mut r)?,
                    s_pk: public_key(&mut r)?,
                    signature: opt_signature(&mut r, p)?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        r.finish()?;
        Ok(Self { session, keys })
    }
}

/// Feldman commitments to one sharing polynomial: `t` compressed
/// Ristretto255 points `C_j = a_j G` (spec/crypto.md section 8).
pub type Commitments = Vec<[u8; 32]>;

/// Reads `t` commitments without decompressing them (ShareKeys checks its
/// own afterwards, all at once). Forwarded ones: the server
/// checked them when their dealer sent them (and, in the malicious model,
/// the dealer signed these bytes); a holder that cannot decompress them
/// complains about the dealer (spec/wire-format.md section 5).
fn forwarded_commitments(r: &mut Reader<'_>, t: usize) -> Result<Commitments, DecodeError> {
    let bytes = r.take(t.checked_mul(32).ok_or(DecodeError::LengthOutOfBounds)?)?;
    Ok(split_points(bytes))
}

fn split_points(bytes: &[u8]) -> Commitments {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            a
        })
        .collect()
}

fn put_commitments(out: &mut Vec<u8>, c: &[[u8; 32]]) {
    out.extend_from_slice(c.as_flattened());
}

/// R1 (client to server): Feldman commitments to the two sharing
/// polynomials (mask key, then self-mask seed) and one share ciphertext per
/// neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareKeys {
    /// The session id.
    pub session: SessionId,
    /// `t` commitments to the polynomial sharing the mask key `a_u`.
    pub key_commitments: Commitments,
    /// `t` commitments to the polynomial sharing the self-mask seed `b_u`.
    pub seed_commitments: Commitments,
    /// Malicious model: the sender's signature over the session, its index
    /// and both commitment lists.
    pub signature: Option<SignatureBytes>,
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
        put_commitments(out, &self.key_commitments);
        put_commitments(out, &self.seed_commitments);
        put_opt_signature(out, &self.signature);
        put_ciphertexts(out, &self.ciphertexts);
    }
    fn encoded_len(&self) -> usize {
        2 + 32
            + 32 * (self.key_commitments.len() + self.seed_commitments.len())
            + opt_len(&self.signature)
            + 4
            + self.ciphertexts.len() * (4 + CIPHERTEXT_LEN)
    }
}

impl Decode for ShareKeys {
    type Context = Params;
    /// Reads the layout first and checks the `2t` commitment points after,
    /// all at once (in parallel from 16 points up, feature `parallel`: at
    /// R1 their decompression is most of the server's work). The error is
    /// the one a front-to-back reader gives: a point that is not canonical
    /// in a commitment list read whole comes before any later layout error.
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_keeping_constant_terms(p, bytes).map(|(msg, _)| msg)
    }
}

impl ShareKeys {
    /// [`Decode::decode`], also handing back the constant-term commitments
    /// `C_0` of both lists (mask key, self seed), decompressed by the point
    /// check itself: the server keeps them for the secret check of R3.
    pub(crate) fn decode_keeping_constant_terms(
        p: &Params,
        bytes: &[u8],
    ) -> Result<(Self, [RistrettoPoint; 2]), DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::SHARE_KEYS)?;
        let t = p.threshold_usize();
        let session = r.array()?;
        if t == 0 {
            // As `feldman::Commitments::decode`: no commitments is no sharing.
            return Err(DecodeError::LengthOutOfBounds);
        }
        let points_at = bytes.len() - r.remaining();
        let mut lists_read: usize = 0;
        let rest = (|| {
            let key_commitments = forwarded_commitments(&mut r, t)?;
            lists_read = 1;
            let seed_commitments = forwarded_commitments(&mut r, t)?;
            lists_read = 2;
            let signature = opt_signature(&mut r, p)?;
            let ciphertexts = ciphertexts(&mut r, p.clients())?;
            r.finish()?;
            Ok((key_commitments, seed_commitments, signature, ciphertexts))
        })();
        // `lists_read` whole lists of 32 t bytes each were taken from
        // `points_at` on, so this slice is in `bytes`.
        let points = (32 * lists_read)
            .checked_mul(t)
            .and_then(|len| bytes.get(points_at..points_at.checked_add(len)?))
            .ok_or(DecodeError::Truncated)?;
        let constant_terms = crate::crypto::feldman::check_lists(points, t)?;
        let (key_commitments, seed_commitments, signature, ciphertexts) = rest?;
        // Both lists were read whole, so there are two.
        let [key_c0, seed_c0] = constant_terms[..] else {
            return Err(DecodeError::Truncated);
        };
        let msg = Self {
            session,
            key_commitments,
            seed_commitments,
            signature,
            ciphertexts,
        };
        Ok((msg, [key_c0, seed_c0]))
    }
}

/// One sender's entry of a [`ShareDelivery`]: its commitments (and, in the
/// malicious model, its signature on them), forwarded, and the ciphertext
/// it addressed to the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveredShares {
    /// The dealer.
    pub sender: ClientIndex,
    /// Its commitments to the mask-key polynomial.
    pub key_commitments: Commitments,
    /// Its commitments to the self-mask-seed polynomial.
    pub seed_commitments: Commitments,
    /// Malicious model: its ShareKeys signature.
    pub signature: Option<SignatureBytes>,
    /// The two shares, sealed to the receiver.
    pub ciphertext: Ciphertext,
}

/// R1 close (server to client): what the client's neighbours in U2 dealt
/// it, ascending by sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareDelivery {
    /// The session id.
    pub session: SessionId,
    /// Ascending by sender.
    pub shares: Vec<DeliveredShares>,
}

/// One entry of a [`ShareDelivery`], borrowed from the ShareKeys its sender
/// sent: the sender, its two commitment lists and its signature (forwarded)
/// and the ciphertext it addressed to the receiver.
pub(crate) type Forwarded<'a> = (
    ClientIndex,
    [&'a [[u8; 32]]; 2],
    &'a Option<SignatureBytes>,
    &'a Ciphertext,
);

/// The length of a [`ShareDelivery`] with entries made of these parts.
fn share_delivery_len(entries: impl Iterator<Item = (usize, usize)>) -> usize {
    2 + 32
        + 4
        + entries
            .map(|(points, signature)| 4 + 32 * points + signature + CIPHERTEXT_LEN)
            .sum::<usize>()
}

/// Writes a [`ShareDelivery`] header and its entry count.
fn put_share_delivery_head(out: &mut Vec<u8>, session: &SessionId, count: usize) {
    out.extend_from_slice(&[VERSION, kind::SHARE_DELIVERY]);
    out.extend_from_slice(session);
    put_len(out, count);
}

/// Writes one [`ShareDelivery`] entry (spec/wire-format.md section 5).
fn put_delivered(
    out: &mut Vec<u8>,
    sender: ClientIndex,
    [key_commitments, seed_commitments]: [&[[u8; 32]]; 2],
    signature: &Option<SignatureBytes>,
    ciphertext: &Ciphertext,
) {
    put_u32(out, sender);
    put_commitments(out, key_commitments);
    put_commitments(out, seed_commitments);
    put_opt_signature(out, signature);
    out.extend_from_slice(ciphertext);
}

impl Encode for ShareDelivery {
    fn encode(&self, out: &mut Vec<u8>) {
        put_share_delivery_head(out, &self.session, self.shares.len());
        for d in &self.shares {
            put_delivered(
                out,
                d.sender,
                [&d.key_commitments, &d.seed_commitments],
                &d.signature,
                &d.ciphertext,
            );
        }
    }
    fn encoded_len(&self) -> usize {
        share_delivery_len(self.shares.iter().map(|d| {
            (
                d.key_commitments.len() + d.seed_commitments.len(),
                opt_len(&d.signature),
            )
        }))
    }
}

impl ShareDelivery {
    /// The bytes of the `ShareDelivery` whose entries are `entries`
    /// (ascending by sender), each made of the parts of the ShareKeys its
    /// sender sent:
    /// the same bytes as `ShareDelivery { session, shares }.to_bytes()`
    /// with each [`DeliveredShares`] built from that ShareKeys, written
    /// straight into one buffer of the exact length, with no intermediate
    /// copy of the commitments.
    ///
    /// Implements spec/protocol.md section 5.2 (R1 close, the deliveries).
    pub(crate) fn encode_forwarded<'a>(
        session: &SessionId,
        entries: impl ExactSizeIterator<Item = Forwarded<'a>> + Clone,
    ) -> Vec<u8> {
        let len = share_delivery_len(
            entries
                .clone()
                .map(|(_, [kc, sc], signature, _)| (kc.len() + sc.len(), opt_len(signature))),
        );
        let mut out = Vec::with_capacity(len);
        put_share_delivery_head(&mut out, session, entries.len());
        for (sender, commitments, signature, ciphertext) in entries {
            put_delivered(&mut out, sender, commitments, signature, ciphertext);
        }
        debug_assert_eq!(out.len(), len);
        out
    }
}

impl Decode for ShareDelivery {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::SHARE_DELIVERY)?;
        let session = r.array()?;
        let t = p.threshold_usize();
        let entry = 4 + 64 * t + signature_len(p) + CIPHERTEXT_LEN;
        let count = r.count(p.clients_usize(), entry)?;
        let mut prev = 0;
        let shares = (0..count)
            .map(|_| {
                Ok(DeliveredShares {
                    sender: ascending_index(&mut r, p.clients(), &mut prev)?,
                    key_commitments: forwarded_commitments(&mut r, t)?,
                    seed_commitments: forwarded_commitments(&mut r, t)?,
                    signature: opt_signature(&mut r, p)?,
                    ciphertext: r.array()?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        r.finish()?;
        Ok(Self { session, shares })
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
    /// Malicious model: the client's signature over its masking set (the
    /// senders of its ShareDelivery, as a bitmap over its neighbours).
    pub signature: Option<SignatureBytes>,
    /// b, the width each element is packed to (from the parameters; not on
    /// the wire).
    pub bits: u8,
    /// `m` elements below `2^b`, bit-packed on the wire.
    pub masked: Vec<u64>,
}

/// Appends everything of a [`MaskedInput`]'s encoding before its packed
/// vector, for a client that packs the vector straight into the message.
pub(crate) fn masked_input_head(
    session: &SessionId,
    complaints: &[ClientIndex],
    signature: &Option<SignatureBytes>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&[VERSION, kind::MASKED_INPUT]);
    out.extend_from_slice(session);
    put_index_list(out, complaints);
    put_opt_signature(out, signature);
}

impl Encode for MaskedInput {
    fn encode(&self, out: &mut Vec<u8>) {
        masked_input_head(&self.session, &self.complaints, &self.signature, out);
        vector::pack(&self.masked, self.bits, out);
    }
    fn encoded_len(&self) -> usize {
        2 + 32
            + 4
            + 4 * self.complaints.len()
            + opt_len(&self.signature)
            + vector::packed_len(self.masked.len(), self.bits).unwrap_or(0)
    }
}

impl Decode for MaskedInput {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let view = MaskedInputView::decode(p, bytes)?;
        let masked = vector::unpack(view.packed, p.dim_usize(), p.bits())?;
        Ok(Self {
            session: view.session,
            complaints: view.complaints,
            signature: view.signature,
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
    pub(crate) signature: Option<SignatureBytes>,
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
        let signature = opt_signature(&mut r, p)?;
        let rest = r.remaining();
        let packed = r.take(rest)?;
        vector::check_packed(packed, p.dim_usize(), p.bits())?;
        Ok(Self {
            session,
            complaints,
            signature,
            packed,
        })
    }
}

/// R2 close, malicious model (server to client): the survivor set U3 the
/// client is asked to sign. The whole set travels, as a bitmap over
/// `1..=n`, because every consistency signature covers the same set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyRequest {
    /// The session id.
    pub session: SessionId,
    /// n, the width of the bitmap.
    pub clients: u32,
    /// U3, ascending, within `1..=clients` (a bitmap of n bits on the wire).
    pub survivors: Vec<ClientIndex>,
}

impl Encode for ConsistencyRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::CONSISTENCY_REQUEST]);
        out.extend_from_slice(&self.session);
        put_u32(out, self.clients);
        out.extend_from_slice(&index_bitmap(self.clients, &self.survivors));
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 4 + bitmap_len(self.clients as usize)
    }
}

impl Decode for ConsistencyRequest {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::CONSISTENCY_REQUEST)?;
        let session = r.array()?;
        if r.u32()? != p.clients() {
            return Err(DecodeError::LengthOutOfBounds);
        }
        let bits = bitmap(&mut r, p.clients_usize())?;
        r.finish()?;
        Ok(Self {
            session,
            clients: p.clients(),
            survivors: bitmap_indices(&bits),
        })
    }
}

/// Consistency round, malicious model (client to server): the client's
/// signature on the survivor set it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyResponse {
    /// The session id.
    pub session: SessionId,
    /// Its signature over the session, its index and the survivor set
    /// (spec/crypto.md section 9).
    pub signature: SignatureBytes,
}

impl Encode for ConsistencyResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::CONSISTENCY_RESPONSE]);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&self.signature);
    }
    fn encoded_len(&self) -> usize {
        2 + 32 + 64
    }
}

impl Decode for ConsistencyResponse {
    type Context = Params;
    fn decode(_: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::CONSISTENCY_RESPONSE)?;
        let m = Self {
            session: r.array()?,
            signature: r.array()?,
        };
        r.finish()?;
        Ok(m)
    }
}

/// A client's signed masking set, forwarded in an [`UnmaskRequest`]
/// (malicious model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskingSet {
    /// The client that masked.
    pub owner: ClientIndex,
    /// Bit `j` set when the owner's `j`-th neighbour (ascending) sent it
    /// shares and so was masked with: `ceil(k / 8)` bytes, padding zero.
    pub bitmap: Vec<u8>,
    /// The owner's signature from its MaskedInput.
    pub signature: SignatureBytes,
}

/// The evidence an [`UnmaskRequest`] carries in the malicious model
/// (spec/protocol.md section 4.5).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Evidence {
    /// The signed masking sets of the survivors the request names,
    /// ascending by owner.
    pub masking_sets: Vec<MaskingSet>,
    /// Consistency signatures on the survivor set, `(signer, signature)`,
    /// ascending by signer.
    pub signatures: Vec<(ClientIndex, SignatureBytes)>,
}

/// The server's request for shares: R2 close in the semi-honest model, the
/// consistency round's close in the malicious one. It names which of the
/// client's neighbours survived (the server needs their self-mask-seed
/// shares) and which dropped after R1 (their mask-key shares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmaskRequest {
    /// The session id.
    pub session: SessionId,
    /// U3 within the client's neighbourhood (itself included), ascending.
    pub survivors: Vec<ClientIndex>,
    /// U2 minus U3 within the client's neighbourhood, ascending.
    pub dropped: Vec<ClientIndex>,
    /// Malicious model: the signatures that certify the survivor set.
    pub evidence: Option<Evidence>,
}

impl Encode for UnmaskRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, kind::UNMASK_REQUEST]);
        out.extend_from_slice(&self.session);
        put_index_list(out, &self.survivors);
        put_index_list(out, &self.dropped);
        if let Some(e) = &self.evidence {
            put_len(out, e.masking_sets.len());
            for m in &e.masking_sets {
                put_u32(out, m.owner);
                out.extend_from_slice(&m.bitmap);
                out.extend_from_slice(&m.signature);
            }
            put_len(out, e.signatures.len());
            for (i, sig) in &e.signatures {
                put_u32(out, *i);
                out.extend_from_slice(sig);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        2 + 32
            + 8
            + 4 * (self.survivors.len() + self.dropped.len())
            + self.evidence.as_ref().map_or(0, |e| {
                8 + e
                    .masking_sets
                    .iter()
                    .map(|m| 4 + m.bitmap.len() + 64)
                    .sum::<usize>()
                    + e.signatures.len() * 68
            })
    }
}

impl Decode for UnmaskRequest {
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::UNMASK_REQUEST)?;
        let session = r.array()?;
        let survivors = index_list(&mut r, p.clients())?;
        let dropped = index_list(&mut r, p.clients())?;
        let evidence = if p.is_malicious() {
            let k = p.degree() as usize;
            let count = r.count(p.clients_usize(), 4 + bitmap_len(k) + 64)?;
            let mut prev = 0;
            let masking_sets = (0..count)
                .map(|_| {
                    Ok(MaskingSet {
                        owner: ascending_index(&mut r, p.clients(), &mut prev)?,
                        bitmap: bitmap(&mut r, k)?,
                        signature: r.array()?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?;
            let count = r.count(p.clients_usize(), 68)?;
            let mut prev = 0;
            let signatures = (0..count)
                .map(|_| Ok((ascending_index(&mut r, p.clients(), &mut prev)?, r.array()?)))
                .collect::<Result<_, DecodeError>>()?;
            Some(Evidence {
                masking_sets,
                signatures,
            })
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            session,
            survivors,
            dropped,
            evidence,
        })
    }
}

/// Which secret a returned share is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Zeroize)]
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
    type Context = Params;
    fn decode(p: &Params, bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw = UnmaskShares::decode(p, bytes, 0)?;
        let shares = raw
            .shares
            .iter()
            .map(|(owner, kind, value)| {
                let share = value.to_share().ok_or(DecodeError::NonCanonical)?;
                Ok(ShareEntry {
                    owner: *owner,
                    kind: *kind,
                    share: share.y,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            session: raw.session,
            shares,
        })
    }
}

/// An [`UnmaskResponse`] as the server takes it in: each share's value kept
/// as its canonical bytes ([`ShareBytes`], checked by a comparison with the
/// group order), never made a [`Scalar`] here. Accepts and rejects exactly
/// the bytes [`UnmaskResponse::decode`] does. The values are zeroized on
/// drop.
#[derive(Debug)]
pub(crate) struct UnmaskShares {
    /// The session id.
    pub(crate) session: SessionId,
    /// `(owner, kind, value)` ascending by owner; each value's `x` is the
    /// holder given to [`UnmaskShares::decode`].
    pub(crate) shares: Vec<(ClientIndex, ShareKind, ShareBytes)>,
}

impl UnmaskShares {
    /// Decodes an [`UnmaskResponse`] sent by `holder`.
    ///
    /// # Errors
    ///
    /// As [`UnmaskResponse::decode`].
    pub(crate) fn decode(p: &Params, bytes: &[u8], holder: u32) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::UNMASK_RESPONSE)?;
        let session = r.array()?;
        let count = r.count(p.clients_usize(), 37)?;
        let mut prev = 0;
        // Allocated at its final size: no reallocation leaves a copy of a
        // share behind.
        let mut shares = Vec::with_capacity(count);
        for _ in 0..count {
            let owner = ascending_index(&mut r, p.clients(), &mut prev)?;
            let kind = match r.u8()? {
                0 => ShareKind::SelfSeed,
                1 => ShareKind::MaskKey,
                _ => return Err(DecodeError::NonCanonical),
            };
            // Read in place and copied once, into the share.
            let value = ShareBytes::new(holder, r.array_ref()?).ok_or(DecodeError::NonCanonical)?;
            shares.push((owner, kind, value));
        }
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

    /// Malicious-model parameters: every signature field present.
    fn malicious(bits: u8) -> Params {
        Params::new(9, 7, bits, 11, Graph::Complete)
            .unwrap()
            .with_model(crate::params::ServerModel::Malicious { corrupt: 2 })
            .unwrap()
    }

    fn both(bits: u8) -> [Params; 2] {
        [params(bits), malicious(bits)]
    }

    /// `t` valid commitments: multiples of the base point by `base + j`.
    fn points(t: usize, base: u64) -> Commitments {
        let g = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
        (0..t as u64)
            .map(|j| (g * Scalar::from(base + j)).compress().to_bytes())
            .collect()
    }

    /// One encoded sample of every message type under `p`.
    fn samples(p: &Params) -> Vec<(u8, Vec<u8>)> {
        let top = crate::vector::mask(p.bits());
        let sig = |b: u8| p.is_malicious().then_some([b; 64]);
        let keys = |i: u32| ClientKeys {
            index: i,
            c_pk: [i as u8; 32],
            s_pk: [i as u8 + 100; 32],
            signature: sig(i as u8),
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
                    round: [13; 32],
                    c_pk: [1; 32],
                    s_pk: [2; 32],
                    signature: sig(14),
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
                    key_commitments: points(p.threshold_usize(), 1),
                    seed_commitments: points(p.threshold_usize(), 2),
                    signature: sig(23),
                    ciphertexts: vec![(2, [6; CIPHERTEXT_LEN]), (3, [7; CIPHERTEXT_LEN])],
                }
                .to_bytes(),
            ),
            (
                kind::SHARE_DELIVERY,
                ShareDelivery {
                    session: [8; 32],
                    shares: vec![
                        DeliveredShares {
                            sender: 5,
                            key_commitments: points(p.threshold_usize(), 3),
                            seed_commitments: points(p.threshold_usize(), 4),
                            signature: sig(24),
                            ciphertext: [9; CIPHERTEXT_LEN],
                        },
                        DeliveredShares {
                            sender: 6,
                            key_commitments: points(p.threshold_usize(), 5),
                            seed_commitments: points(p.threshold_usize(), 6),
                            signature: sig(25),
                            ciphertext: [10; CIPHERTEXT_LEN],
                        },
                    ],
                }
                .to_bytes(),
            ),
            (
                kind::MASKED_INPUT,
                MaskedInput {
                    session: [10; 32],
                    complaints: vec![2, 7],
                    signature: sig(15),
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
                    evidence: p.is_malicious().then(|| Evidence {
                        masking_sets: vec![
                            MaskingSet {
                                owner: 2,
                                bitmap: vec![0b1011_0110],
                                signature: [16; 64],
                            },
                            MaskingSet {
                                owner: 3,
                                bitmap: vec![0b0000_0001],
                                signature: [17; 64],
                            },
                        ],
                        signatures: vec![(1, [18; 64]), (9, [19; 64])],
                    }),
                }
                .to_bytes(),
            ),
            (
                kind::CONSISTENCY_REQUEST,
                ConsistencyRequest {
                    session: [20; 32],
                    clients: p.clients(),
                    survivors: vec![1, 2, 8, 9],
                }
                .to_bytes(),
            ),
            (
                kind::CONSISTENCY_RESPONSE,
                ConsistencyResponse {
                    session: [21; 32],
                    signature: [22; 64],
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
        fn go<M: Decode<Context = Params> + Encode>(
            p: &Params,
            b: &[u8],
        ) -> Result<(Vec<u8>, usize), DecodeError> {
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
            kind::CONSISTENCY_REQUEST => go::<ConsistencyRequest>(p, bytes),
            kind::CONSISTENCY_RESPONSE => go::<ConsistencyResponse>(p, bytes),
            _ => go::<UnmaskResponse>(p, bytes),
        }
    }

    const KINDS: [u8; 9] = [
        kind::ADVERTISE_KEYS,
        kind::KEY_BROADCAST,
        kind::SHARE_KEYS,
        kind::SHARE_DELIVERY,
        kind::MASKED_INPUT,
        kind::UNMASK_REQUEST,
        kind::CONSISTENCY_REQUEST,
        kind::CONSISTENCY_RESPONSE,
        kind::UNMASK_RESPONSE,
    ];

    #[test]
    fn every_message_roundtrips_with_exact_length() {
        for bits in [1u8, 7, 32, 33, 64] {
            for p in both(bits) {
                let all = samples(&p);
                assert_eq!(all.len(), KINDS.len());
                for (t, bytes) in all {
                    let (again, len) = decode_as(&p, t, &bytes).unwrap();
                    assert_eq!(again, bytes, "type {t:#x} bits {bits}");
                    assert_eq!(len, bytes.len(), "encoded_len of type {t:#x}");
                }
            }
        }
        // The signature fields make the two models' encodings differ.
        let [semi, mal] = both(32);
        let a = samples(&semi)[0].1.clone();
        assert_eq!(AdvertiseKeys::decode(&mal, &a), Err(DecodeError::Truncated));
    }

    #[test]
    fn every_strict_prefix_and_any_trailing_byte_fail() {
        for bits in [1u8, 32, 33, 64] {
            for p in both(bits) {
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
    }

    #[test]
    fn header_and_canonical_rules() {
        let p = params(32);
        let good = samples(&p);
        // Wrong version, wrong type.
        for (t, bytes) in &good {
            let mut v = bytes.clone();
            v[0] = 1;
            assert_eq!(
                decode_as(&p, *t, &v),
                Err(DecodeError::UnsupportedVersion(1))
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
                evidence: None,
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
        let mut resp = good[8].1.clone();
        let share_at = 2 + 32 + 4 + 4 + 1;
        resp[share_at..share_at + 32].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            UnmaskResponse::decode(&p, &resp),
            Err(DecodeError::NonCanonical)
        );
        let mut resp = good[8].1.clone();
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

    #[test]
    fn v2_canonical_rules() {
        let p = malicious(32);
        let good = samples(&p);
        // Non-canonical X25519 keys: bit 255 set, or a value >= 2^255 - 19.
        let adv = &good[0].1;
        let mut high = adv.clone();
        high[2 + 32 + 31] |= 0x80;
        assert_eq!(
            AdvertiseKeys::decode(&p, &high),
            Err(DecodeError::NonCanonical)
        );
        let mut big = adv.clone();
        big[2 + 64..2 + 96].copy_from_slice(&[0xff; 32]);
        big[2 + 95] = 0x7f;
        assert_eq!(
            AdvertiseKeys::decode(&p, &big),
            Err(DecodeError::NonCanonical)
        );
        let mut kb = good[1].1.clone();
        kb[2 + 32 + 4 + 4 + 31] = 0x80;
        assert_eq!(
            KeyBroadcast::decode(&p, &kb),
            Err(DecodeError::NonCanonical)
        );
        // Survivor bitmap: n = 9 bits in 2 bytes; a padding bit set, or the
        // wrong n, is refused.
        let mut cr = good[6].1.clone();
        let last = cr.len() - 1;
        cr[last] |= 0x02;
        assert_eq!(
            ConsistencyRequest::decode(&p, &cr),
            Err(DecodeError::NonCanonical)
        );
        let mut cr = good[6].1.clone();
        cr[34..38].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            ConsistencyRequest::decode(&p, &cr),
            Err(DecodeError::LengthOutOfBounds)
        );
        assert_eq!(
            ConsistencyRequest::decode(&p, &good[6].1)
                .unwrap()
                .survivors,
            vec![1, 2, 8, 9]
        );
        // A masking-set bitmap over k = 8 neighbours is one byte, no padding;
        // with k = 6 (Harary), bits 6 and 7 are padding.
        let h = Params::new(
            9,
            5,
            32,
            11,
            Graph::Harary {
                degree: 6,
                seed: [1; 32],
            },
        )
        .unwrap()
        .with_model(crate::params::ServerModel::Malicious { corrupt: 3 })
        .unwrap();
        let req = |bitmap: u8| {
            UnmaskRequest {
                session: [0; 32],
                survivors: vec![1],
                dropped: vec![],
                evidence: Some(Evidence {
                    masking_sets: vec![MaskingSet {
                        owner: 1,
                        bitmap: vec![bitmap],
                        signature: [0; 64],
                    }],
                    signatures: vec![],
                }),
            }
            .to_bytes()
        };
        assert!(UnmaskRequest::decode(&h, &req(0b0011_1111)).is_ok());
        assert_eq!(
            UnmaskRequest::decode(&h, &req(0b0100_0000)),
            Err(DecodeError::NonCanonical)
        );
        assert_eq!(
            bitmap_indices(&index_bitmap(20, &[1, 8, 9, 20])),
            vec![1, 8, 9, 20]
        );
    }

    fn good_masked(p: &Params) -> Vec<u8> {
        samples(p).swap_remove(4).1
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(t in 0usize..9, mal in any::<bool>(), bits in prop_oneof![Just(1u8), Just(32), Just(64), 1u8..=64],
                                    bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let p = both(bits)[usize::from(mal)].clone();
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
        fn mutated_messages_decode_canonically_or_fail(t in 0usize..9, mal in any::<bool>(), pos in any::<usize>(), xor in 1u8..=255) {
            let p = both(33)[usize::from(mal)].clone();
            let (kind, mut bytes) = samples(&p).swap_remove(t);
            let i = pos % bytes.len();
            bytes[i] ^= xor;
            if let Ok((again, _)) = decode_as(&p, kind, &bytes) {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    /// ShareKeys as decoded before its points were checked all at once:
    /// front to back, each commitment list decompressed as it is read.
    fn share_keys_front_to_back(p: &Params, bytes: &[u8]) -> Result<ShareKeys, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, kind::SHARE_KEYS)?;
        let t = p.threshold_usize();
        let list = |r: &mut Reader<'_>| -> Result<Commitments, DecodeError> {
            let b = r.take(t.checked_mul(32).ok_or(DecodeError::LengthOutOfBounds)?)?;
            crate::crypto::feldman::Commitments::decode(b, t)?;
            Ok(split_points(b))
        };
        let m = ShareKeys {
            session: r.array()?,
            key_commitments: list(&mut r)?,
            seed_commitments: list(&mut r)?,
            signature: opt_signature(&mut r, p)?,
            ciphertexts: ciphertexts(&mut r, p.clients())?,
        };
        r.finish()?;
        Ok(m)
    }

    /// spec/protocol.md section 5.1 (R1): checking the commitments after
    /// the layout, in parallel, refuses the same messages with the same
    /// error as reading front to back: a bad point in either list (first,
    /// last) with every cut of the message, a trailing byte and a bad
    /// ciphertext count; below and above the parallel cut-off.
    #[test]
    fn share_keys_errors_are_those_of_a_front_to_back_reader() {
        let mut bad = [0xff; 32];
        bad[0] = 0xed;
        bad[31] = 0x7f;
        for p in [
            params(32),
            malicious(32),
            Params::new(40, 20, 32, 4, Graph::Complete).unwrap(),
        ] {
            let t = p.threshold_usize();
            let good = ShareKeys {
                session: [4; 32],
                key_commitments: points(t, 1),
                seed_commitments: points(t, 2),
                signature: p.is_malicious().then_some([5; 64]),
                ciphertexts: vec![(2, [6; CIPHERTEXT_LEN]), (3, [7; CIPHERTEXT_LEN])],
            }
            .to_bytes();
            let base = 2 + 32;
            for slot in [None, Some(0), Some(t - 1), Some(t), Some(2 * t - 1)] {
                let mut msg = good.clone();
                if let Some(s) = slot {
                    let at = base + 32 * s;
                    msg[at..at + 32].copy_from_slice(&bad);
                }
                let mut variants: Vec<Vec<u8>> =
                    (0..=msg.len()).map(|l| msg[..l].to_vec()).collect();
                variants.push([&msg[..], &[0]].concat());
                let mut many = msg.clone();
                let count_at = base + 64 * t + if p.is_malicious() { 64 } else { 0 };
                many[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                variants.push(many);
                for v in &variants {
                    let want = share_keys_front_to_back(&p, v);
                    assert_eq!(
                        ShareKeys::decode(&p, v),
                        want,
                        "t {t}, bad slot {slot:?}, length {}",
                        v.len()
                    );
                }
                assert_eq!(ShareKeys::decode(&p, &msg).is_ok(), slot.is_none());
            }
        }
    }
}
