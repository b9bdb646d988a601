//! State that survives a process: sealed exports of a [`Client`] and a
//! [`Server`] (spec/state.md).
//!
//! An export is a versioned header (magic, format version, protocol version,
//! role, phase, round id), a random 12-byte nonce and the state's plaintext
//! sealed with ChaCha20-Poly1305 under a 32-byte host-provided
//! [`StateKey`], with the header as associated data. The plaintext holds
//! secret keys and Shamir shares: it exists only in zeroized buffers and
//! never leaves this module unsealed.
//!
//! The plaintext decoders (`decode_client`, `decode_server`) are total:
//! every count is checked against the parameters' limits and against the
//! bytes that remain before anything is allocated, and a state that decodes
//! re-encodes to the same bytes (the `decode_client_state` and
//! `decode_server_state` fuzz targets check both).

use core::fmt;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::codec::{Decode, Encode, Reader, VERSION};
use crate::crypto::fingerprint::{FINGERPRINT_LEN, Fingerprint, FingerprintKey};
use crate::crypto::identity::{Identity, Roster};
use crate::crypto::kx::{self, PublicKeyBytes};
use crate::crypto::prg::Sign;
use crate::crypto::secret::SecretScalar;
use crate::crypto::shamir::ShareBytes;
use crate::error::{ClientFault, ClientIndex, DecodeError, Error, Phase};
use crate::graph::Topology;
use crate::params::{Params, RoundId};
use crate::protocol::client::{
    AwaitingKeys, AwaitingShares, AwaitingUnmask, Common, Credentials, HeldShares, Keyed,
    KeysInner, PeerKeys, SharesInner, Signed,
};
use crate::protocol::host::{Client, ClientPhase, Stage};
use crate::protocol::messages::{MaskingSet, ShareKeys, index_bitmap};
use crate::protocol::outbox::CommitmentTable;
use crate::protocol::server::{Server, State};

/// The first four bytes of every export.
pub const MAGIC: [u8; 4] = *b"SAST";
/// The export format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 2;
/// Header length: magic, format version, protocol version, role, phase,
/// round id.
const HEADER_LEN: usize = 4 + 1 + 1 + 1 + 1 + 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The role byte of a client export.
const ROLE_CLIENT: u8 = 1;
/// The role byte of a server export.
const ROLE_SERVER: u8 = 2;

/// The 32-byte key a host seals exported states under. Keep it apart from
/// the store that holds the exports (for example in a key manager): with
/// it, an export reveals the state's secret keys and shares.
///
/// Zeroized on drop; its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct StateKey(Zeroizing<[u8; 32]>);

impl StateKey {
    /// The key with these bytes (32 uniformly random bytes, e.g. from the
    /// operating system's generator).
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh key drawn from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut());
        Self(k)
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

/// Why an exported state was refused on import (spec/state.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateError {
    /// The bytes are not an export (too short, wrong magic), or the sealed
    /// plaintext does not decode.
    Malformed(DecodeError),
    /// A format or protocol version this build does not read.
    Version,
    /// The export is of another round than the one expected.
    Round,
    /// The export is of another phase than the one expected.
    Phase,
    /// A client's export imported as a server's, or the reverse.
    Role,
    /// The seal does not open: a wrong key, or bytes altered or truncated.
    Authentication,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed state: {e}"),
            Self::Version => f.write_str("unsupported state format or protocol version"),
            Self::Round => f.write_str("state of another round"),
            Self::Phase => f.write_str("state of another phase"),
            Self::Role => f.write_str("state of another role"),
            Self::Authentication => f.write_str("state does not authenticate under this key"),
        }
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

// ----- The envelope (spec/state.md section 2) -----

fn header(role: u8, phase: u8, round: &RoundId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = FORMAT_VERSION;
    h[5] = VERSION;
    h[6] = role;
    h[7] = phase;
    h[8..].copy_from_slice(round);
    h
}

/// Seals `plaintext` under `key` with a nonce from `rng`.
fn seal<R: CryptoRng + ?Sized>(
    role: u8,
    phase: u8,
    round: &RoundId,
    plaintext: &[u8],
    key: &StateKey,
    rng: &mut R,
) -> Vec<u8> {
    let h = header(role, phase, round);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = ChaCha20Poly1305::new((&*key.0).into());
    // Encryption fails only beyond 2^38 bytes of plaintext, far above any
    // state (the parameters bound n and m).
    let ct = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: &h,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ct.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Checks the header against what the host expects, then opens the seal.
fn open(
    bytes: &[u8],
    key: &StateKey,
    role: u8,
    phase: u8,
    round: &RoundId,
) -> Result<Zeroizing<Vec<u8>>, StateError> {
    if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(StateError::Malformed(DecodeError::Truncated));
    }
    let (h, rest) = bytes.split_at(HEADER_LEN);
    if h[..4] != MAGIC {
        return Err(StateError::Malformed(DecodeError::NonCanonical));
    }
    if h[4] != FORMAT_VERSION || h[5] != VERSION {
        return Err(StateError::Version);
    }
    if h[6] != role {
        return Err(StateError::Role);
    }
    if h[8..] != round[..] {
        return Err(StateError::Round);
    }
    if h[7] != phase {
        return Err(StateError::Phase);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new((&*key.0).into());
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    cipher
        .decrypt((&n).into(), Payload { msg: ct, aad: h })
        .map(Zeroizing::new)
        .map_err(|_| StateError::Authentication)
}

// ----- Writing into a buffer that never leaves a copy behind -----

/// A growable buffer that wipes every buffer it outgrows, so that no
/// reallocation leaves secret bytes in freed memory.
struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    fn new() -> Self {
        Self(Zeroizing::new(Vec::with_capacity(1024)))
    }

    fn put(&mut self, b: &[u8]) {
        let need = self.0.len().saturating_add(b.len());
        if need > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped as it drops.
            self.0 = bigger;
        }
        self.0.extend_from_slice(b);
    }

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }

    fn flag(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    fn indices<'a>(&mut self, list: impl ExactSizeIterator<Item = &'a ClientIndex>) {
        self.len(list.len());
        for i in list {
            self.u32(*i);
        }
    }

    fn u64s(&mut self, v: &[u64]) {
        for x in v {
            self.put(&x.to_le_bytes());
        }
    }
}

// ----- Reading -----

fn flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::NonCanonical),
    }
}

fn scalar(r: &mut Reader<'_>) -> Result<SecretScalar, DecodeError> {
    let b = Zeroizing::new(r.array::<32>()?);
    Option::from(Scalar::from_canonical_bytes(*b))
        .map(SecretScalar)
        .ok_or(DecodeError::NonCanonical)
}

fn secret32(r: &mut Reader<'_>) -> Result<Zeroizing<[u8; 32]>, DecodeError> {
    Ok(Zeroizing::new(r.array()?))
}

/// A length-prefixed byte string (bounded by what remains).
fn blob<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let len = r.count(usize::MAX, 1)?;
    r.take(len)
}

/// A count of at most `max` items of at least `item_len` bytes.
fn count(r: &mut Reader<'_>, max: usize, item_len: usize) -> Result<usize, DecodeError> {
    r.count(max, item_len)
}

/// An index in `1..=n` strictly above `prev`.
fn ascending(r: &mut Reader<'_>, n: u32, prev: &mut u32) -> Result<ClientIndex, DecodeError> {
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

/// A strictly ascending list of indices in `1..=n`.
fn indices(r: &mut Reader<'_>, n: u32) -> Result<Vec<ClientIndex>, DecodeError> {
    let c = count(r, n as usize, 4)?;
    let mut prev = 0;
    (0..c).map(|_| ascending(r, n, &mut prev)).collect()
}

/// A map keyed by strictly ascending indices in `1..=n`, each value at
/// least `item_len` bytes after its index.
fn map<V>(
    r: &mut Reader<'_>,
    n: u32,
    item_len: usize,
    mut value: impl FnMut(&mut Reader<'_>, ClientIndex) -> Result<V, DecodeError>,
) -> Result<BTreeMap<ClientIndex, V>, DecodeError> {
    let c = count(r, n as usize, 4 + item_len)?;
    let mut prev = 0;
    let mut out = BTreeMap::new();
    for _ in 0..c {
        let i = ascending(r, n, &mut prev)?;
        out.insert(i, value(r, i)?);
    }
    Ok(out)
}

/// `m` little-endian `u64`s, checked against what remains first.
fn u64s(r: &mut Reader<'_>, m: usize) -> Result<Vec<u64>, DecodeError> {
    let need = m.checked_mul(8).ok_or(DecodeError::LengthOutOfBounds)?;
    let b = r.take(need)?;
    Ok(b.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect())
}

/// The parameters a client or server plaintext names (both start with the
/// round id, then the parameters), for the fuzz entry points: the work of a
/// decode grows with n, not with the bytes.
pub(crate) fn plaintext_params(bytes: &[u8]) -> Option<Params> {
    let mut r = Reader::new(bytes);
    let _round: RoundId = r.array().ok()?;
    params(&mut r).ok()
}

fn params(r: &mut Reader<'_>) -> Result<Params, DecodeError> {
    let b = blob(r)?;
    Params::decode(b).map_err(|e| match e {
        Error::Decode(e) => e,
        _ => DecodeError::NonCanonical,
    })
}

fn put_params(w: &mut Writer, p: &Params) {
    w.bytes(&p.to_bytes());
}

fn put_roster(w: &mut Writer, roster: &Roster) {
    for i in 1..=u32::try_from(roster.len()).unwrap_or(u32::MAX) {
        w.put(&roster.get(i).unwrap_or_default());
    }
}

/// The n keys of the roster of `p`.
fn roster(r: &mut Reader<'_>, p: &Params) -> Result<Roster, DecodeError> {
    let n = p.clients_usize();
    let raw = r.take(n.checked_mul(32).ok_or(DecodeError::LengthOutOfBounds)?)?;
    let keys: Vec<[u8; 32]> = raw
        .chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            a
        })
        .collect();
    Roster::new(&keys).map_err(|_| DecodeError::NonCanonical)
}

// ----- Client (spec/state.md section 4) -----

/// The phase byte of a client export.
pub(crate) fn client_phase_byte(p: ClientPhase) -> u8 {
    match p {
        ClientPhase::KeyBroadcast => 0,
        ClientPhase::ShareDelivery => 1,
        ClientPhase::ConsistencyRequest => 2,
        ClientPhase::UnmaskRequest => 3,
        ClientPhase::Done => 4,
        ClientPhase::Over => 5,
    }
}

const STAGE_KEYS: u8 = 0;
const STAGE_SHARES: u8 = 1;
const STAGE_UNMASK: u8 = 2;
const STAGE_OVER: u8 = 3;

fn put_held(w: &mut Writer, h: &HeldShares) {
    w.put(h.mask_key.0.as_bytes());
    w.put(h.seed.0.as_bytes());
}

fn held(r: &mut Reader<'_>) -> Result<HeldShares, DecodeError> {
    Ok(HeldShares {
        mask_key: scalar(r)?,
        seed: scalar(r)?,
    })
}

/// The plaintext of a client's state.
pub(crate) fn encode_client(c: &Client) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::new();
    let common = &c.common;
    w.put(&common.round);
    put_params(&mut w, &common.params);
    w.u32(common.index);
    w.flag(common.creds.is_some());
    if let Some(creds) = &common.creds {
        w.put(creds.identity.secret_bytes().as_ref());
        put_roster(&mut w, &creds.roster);
    }
    w.flag(c.input.is_some());
    if let Some(input) = &c.input {
        w.u64s(input);
    }
    match &c.stage {
        Stage::Keys(AwaitingKeys {
            inner: Some(me), ..
        }) => {
            w.u8(STAGE_KEYS);
            w.put(me.c_sk.as_bytes());
            w.put(me.mask_key.0.as_bytes());
        }
        Stage::Shares(AwaitingShares {
            inner: Some(me), ..
        }) => {
            w.u8(STAGE_SHARES);
            w.put(&me.session);
            w.put(me.seed.0.as_bytes());
            put_held(&mut w, &me.own_shares);
            w.len(me.peers.0.len());
            for (i, p) in &me.peers.0 {
                w.u32(*i);
                w.put(p.open.as_ref());
                w.put(p.mask.0.as_ref());
            }
        }
        Stage::Unmask(u) if u.own_shares.is_some() || u.answered.is_some() => {
            w.u8(STAGE_UNMASK);
            w.put(&u.session);
            w.indices(u.view.iter());
            w.len(u.held.0.len());
            for (i, h) in &u.held.0 {
                w.u32(*i);
                put_held(&mut w, h);
            }
            w.flag(u.signed.is_some());
            if let Some(s) = &u.signed {
                w.indices(s.survivors.iter());
                w.bytes(&s.response);
            }
            if let Some(own) = &u.own_shares {
                w.u8(0);
                put_held(&mut w, own);
            } else if let Some((req, resp)) = &u.answered {
                w.u8(1);
                w.bytes(req);
                w.bytes(resp);
            }
        }
        _ => w.u8(STAGE_OVER),
    }
    w.0
}

/// Decodes the plaintext of a client's state (the inverse of
/// [`encode_client`]).
///
/// # Errors
/// A [`DecodeError`] for any input that is not a canonical encoding.
pub(crate) fn decode_client(bytes: &[u8]) -> Result<Client, DecodeError> {
    let mut r = Reader::new(bytes);
    let round: RoundId = r.array()?;
    let params = params(&mut r)?;
    let n = params.clients();
    let index = r.u32()?;
    if index == 0 || index > n {
        return Err(DecodeError::IndexOutOfRange);
    }
    let creds = if flag(&mut r)? {
        let identity = Identity::from_secret_bytes(&*secret32(&mut r)?);
        let roster = roster(&mut r, &params)?;
        if roster.get(index) != Some(identity.public_key()) {
            return Err(DecodeError::NonCanonical);
        }
        Some(Credentials { identity, roster })
    } else {
        None
    };
    if creds.is_some() != params.is_malicious() {
        return Err(DecodeError::NonCanonical);
    }
    let input = if flag(&mut r)? {
        let v = Zeroizing::new(u64s(&mut r, params.dim_usize())?);
        let top = crate::vector::mask(params.bits());
        if v.iter().any(|&x| x & !top != 0) {
            return Err(DecodeError::NonCanonical);
        }
        Some(v)
    } else {
        None
    };
    let common = Common {
        params,
        round,
        index,
        creds,
    };
    let topo = Topology::new(&common.params, &round);
    let stage = match r.u8()? {
        STAGE_KEYS => {
            let c_sk = StaticSecret::from(*secret32(&mut r)?);
            let mask_key = scalar(&mut r)?;
            let s_sk = kx::mask_secret(&mask_key.0, &round);
            Stage::Keys(AwaitingKeys {
                common: common.clone(),
                inner: Some(Box::new(KeysInner {
                    c_pk: kx::public_key(&c_sk),
                    s_pk: kx::public_key(&s_sk),
                    c_sk,
                    mask_key,
                    s_sk,
                })),
            })
        }
        STAGE_SHARES => {
            let session = r.array()?;
            let seed = scalar(&mut r)?;
            let own_shares = Box::new(held(&mut r)?);
            let c = count(&mut r, n as usize, 4 + 64)?;
            let mut peers = Keyed::with_capacity(c);
            let mut prev = 0;
            for _ in 0..c {
                let i = ascending(&mut r, n, &mut prev)?;
                if !topo.adjacent(index, i) {
                    return Err(DecodeError::IndexOutOfRange);
                }
                let open = secret32(&mut r)?;
                let mask = secret32(&mut r)?;
                let sign = if index < i { Sign::Plus } else { Sign::Minus };
                peers.push(
                    i,
                    PeerKeys {
                        open,
                        mask: (mask, sign),
                    },
                );
            }
            Stage::Shares(AwaitingShares {
                neighbours: topo.neighbours(index),
                common: common.clone(),
                inner: Some(Box::new(SharesInner {
                    session,
                    seed,
                    own_shares,
                    peers,
                })),
            })
        }
        STAGE_UNMASK => {
            let session = r.array()?;
            let view_list = indices(&mut r, n)?;
            if view_list.iter().any(|&v| !topo.adjacent(index, v)) {
                return Err(DecodeError::IndexOutOfRange);
            }
            let view: BTreeSet<ClientIndex> = view_list.iter().copied().collect();
            let c = count(&mut r, view.len(), 4 + 64)?;
            let mut held_shares = Keyed::with_capacity(c);
            let mut prev = 0;
            for _ in 0..c {
                let i = ascending(&mut r, n, &mut prev)?;
                if !view.contains(&i) {
                    return Err(DecodeError::IndexOutOfRange);
                }
                held_shares.push(i, held(&mut r)?);
            }
            let signed = if flag(&mut r)? {
                let list = indices(&mut r, n)?;
                let response = blob(&mut r)?.to_vec();
                let bitmap = index_bitmap(n, &list);
                Some(Box::new(Signed {
                    digest: kx::survivor_set_digest(&session, n, &bitmap),
                    survivors: list.into_iter().collect(),
                    response,
                }))
            } else {
                None
            };
            let (own_shares, answered) = match r.u8()? {
                0 => (Some(Box::new(held(&mut r)?)), None),
                1 => {
                    let req = blob(&mut r)?.to_vec();
                    let resp = blob(&mut r)?.to_vec();
                    (None, Some((req, resp)))
                }
                _ => return Err(DecodeError::NonCanonical),
            };
            Stage::Unmask(Box::new(AwaitingUnmask {
                t: common.params.threshold_usize(),
                common: common.clone(),
                session,
                neighbours: topo.neighbours(index),
                own_shares,
                view,
                held: held_shares,
                signed,
                answered,
            }))
        }
        STAGE_OVER => Stage::Over,
        _ => return Err(DecodeError::NonCanonical),
    };
    r.finish()?;
    Ok(Client {
        common,
        stage,
        input,
    })
}

/// Seals a client's state (spec/state.md).
pub(crate) fn export_client<R: CryptoRng + ?Sized>(
    c: &Client,
    key: &StateKey,
    rng: &mut R,
) -> Vec<u8> {
    let pt = encode_client(c);
    seal(
        ROLE_CLIENT,
        client_phase_byte(c.phase()),
        &c.common.round,
        &pt,
        key,
        rng,
    )
}

/// Opens and decodes a client's state.
pub(crate) fn import_client(
    bytes: &[u8],
    key: &StateKey,
    round: &RoundId,
    phase: ClientPhase,
) -> Result<Client, StateError> {
    let pt = open(bytes, key, ROLE_CLIENT, client_phase_byte(phase), round)?;
    let c = decode_client(&pt).map_err(StateError::Malformed)?;
    if c.common.round != *round || c.phase() != phase {
        return Err(StateError::Malformed(DecodeError::NonCanonical));
    }
    Ok(c)
}

// ----- Server (spec/state.md section 5) -----

/// The phase byte of a server export.
pub(crate) fn server_phase_byte(p: Option<Phase>) -> u8 {
    match p {
        Some(Phase::AdvertiseKeys) => 0,
        Some(Phase::ShareKeys) => 1,
        Some(Phase::MaskedInput) => 2,
        Some(Phase::Consistency) => 3,
        Some(Phase::Unmask) => 4,
        None => 5,
    }
}

fn decode_error_tag(e: DecodeError) -> (u8, Option<u8>) {
    match e {
        DecodeError::Truncated => (0, None),
        DecodeError::TrailingBytes => (1, None),
        DecodeError::UnsupportedVersion(v) => (2, Some(v)),
        DecodeError::UnexpectedType(t) => (3, Some(t)),
        DecodeError::LengthOutOfBounds => (4, None),
        DecodeError::NonCanonical => (5, None),
        DecodeError::IndexOutOfRange => (6, None),
    }
}

fn put_fault(w: &mut Writer, f: &ClientFault) {
    match f {
        ClientFault::Malformed(e) => {
            w.u8(0);
            let (tag, v) = decode_error_tag(*e);
            w.u8(tag);
            if let Some(v) = v {
                w.u8(v);
            }
        }
        ClientFault::WrongSession => w.u8(1),
        ClientFault::BadSignature => w.u8(2),
        ClientFault::Duplicate => w.u8(3),
        ClientFault::UnknownSender => w.u8(4),
        ClientFault::NotInPhase => w.u8(5),
        ClientFault::WeakKey => w.u8(6),
        ClientFault::DuplicateKey => w.u8(7),
        ClientFault::WrongRecipients => w.u8(8),
        ClientFault::Undecryptable { reported_by } => {
            w.u8(9);
            w.u32(*reported_by);
        }
        ClientFault::WrongAnswer => w.u8(10),
        ClientFault::BadShare { owner } => {
            w.u8(11);
            w.u32(*owner);
        }
        ClientFault::SecretMismatch => w.u8(12),
    }
}

fn fault(r: &mut Reader<'_>, n: u32) -> Result<ClientFault, DecodeError> {
    let index = |r: &mut Reader<'_>| {
        let i = r.u32()?;
        if i == 0 || i > n {
            Err(DecodeError::IndexOutOfRange)
        } else {
            Ok(i)
        }
    };
    Ok(match r.u8()? {
        0 => ClientFault::Malformed(match r.u8()? {
            0 => DecodeError::Truncated,
            1 => DecodeError::TrailingBytes,
            2 => DecodeError::UnsupportedVersion(r.u8()?),
            3 => DecodeError::UnexpectedType(r.u8()?),
            4 => DecodeError::LengthOutOfBounds,
            5 => DecodeError::NonCanonical,
            6 => DecodeError::IndexOutOfRange,
            _ => return Err(DecodeError::NonCanonical),
        }),
        1 => ClientFault::WrongSession,
        2 => ClientFault::BadSignature,
        3 => ClientFault::Duplicate,
        4 => ClientFault::UnknownSender,
        5 => ClientFault::NotInPhase,
        6 => ClientFault::WeakKey,
        7 => ClientFault::DuplicateKey,
        8 => ClientFault::WrongRecipients,
        9 => ClientFault::Undecryptable {
            reported_by: index(r)?,
        },
        10 => ClientFault::WrongAnswer,
        11 => ClientFault::BadShare { owner: index(r)? },
        12 => ClientFault::SecretMismatch,
        _ => return Err(DecodeError::NonCanonical),
    })
}

fn put_keys(w: &mut Writer, keys: &BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>) {
    w.len(keys.len());
    for (i, (c, s)) in keys {
        w.u32(*i);
        w.put(c);
        w.put(s);
    }
}

type KeyMap = BTreeMap<ClientIndex, (PublicKeyBytes, PublicKeyBytes)>;

fn keys(r: &mut Reader<'_>, n: u32) -> Result<KeyMap, DecodeError> {
    map(r, n, 64, |r, _| Ok((r.array()?, r.array()?)))
}

fn put_sigs(w: &mut Writer, sigs: &BTreeMap<ClientIndex, [u8; 64]>) {
    w.len(sigs.len());
    for (i, s) in sigs {
        w.u32(*i);
        w.put(s);
    }
}

fn sigs(r: &mut Reader<'_>, n: u32) -> Result<BTreeMap<ClientIndex, [u8; 64]>, DecodeError> {
    map(r, n, 64, |r, _| r.array())
}

const S_ADVERTISE: u8 = 0;
const S_SHARES: u8 = 1;
const S_MASKED: u8 = 2;
const S_CONSISTENCY: u8 = 3;
const S_UNMASK: u8 = 4;
const S_OVER: u8 = 5;

/// The plaintext of a server's state.
pub(crate) fn encode_server(s: &Server) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::new();
    w.put(&s.round);
    put_params(&mut w, &s.params);
    w.flag(s.roster.is_some());
    if let Some(roster) = &s.roster {
        put_roster(&mut w, roster);
    }
    w.put(s.nonce.as_ref());
    w.put(&s.session);
    put_keys(&mut w, &s.keys);
    w.len(s.commitments.len());
    for (i, [kc, sc]) in s.commitments.iter() {
        w.u32(i);
        kc.iter().chain(sc).for_each(|p| w.put(p));
    }
    put_sigs(&mut w, &s.key_signatures);
    w.len(s.masking_sets.len());
    for (i, m) in &s.masking_sets {
        w.u32(*i);
        w.bytes(&m.bitmap);
        w.put(&m.signature);
    }
    for u in [&s.u1, &s.u2, &s.u3, &s.u4] {
        w.indices(u.iter());
    }
    w.indices(s.excluded.iter());
    w.len(s.misbehaved.len());
    for (i, f) in &s.misbehaved {
        w.u32(*i);
        put_fault(&mut w, f);
    }
    let accepted: BTreeMap<ClientIndex, &Fingerprint> =
        s.accepted.iter().map(|(i, d)| (*i, d)).collect();
    w.len(accepted.len());
    for (i, d) in &accepted {
        w.u32(*i);
        w.put(&d.0);
    }
    match &s.state {
        State::AdvertiseKeys { keys, burned, .. } => {
            w.u8(S_ADVERTISE);
            put_keys(&mut w, keys);
            let burned: BTreeSet<&PublicKeyBytes> = burned.iter().collect();
            w.len(burned.len());
            burned.into_iter().for_each(|k| w.put(k));
        }
        State::ShareKeys { received } => {
            w.u8(S_SHARES);
            w.len(received.len());
            for (i, m) in received {
                w.u32(*i);
                w.bytes(&m.to_bytes());
            }
        }
        State::MaskedInput { sum, received } => {
            w.u8(S_MASKED);
            w.u64s(sum);
            w.len(received.len());
            for (i, c) in received {
                w.u32(*i);
                w.indices(c.iter());
            }
        }
        State::Consistency {
            sum,
            dropped,
            digest,
            signatures,
        } => {
            w.u8(S_CONSISTENCY);
            w.u64s(sum);
            w.indices(dropped.iter());
            w.put(digest);
            put_sigs(&mut w, signatures);
        }
        State::Unmask {
            sum,
            dropped,
            answered,
            shares,
            ..
        } => {
            w.u8(S_UNMASK);
            w.u64s(sum);
            w.indices(dropped.iter());
            w.indices(answered.iter());
            // Owner by owner, each owner's shares in arrival order.
            let mut by_owner: BTreeMap<ClientIndex, Vec<&ShareBytes>> = BTreeMap::new();
            for (owner, _, sh) in shares.iter().flatten() {
                by_owner.entry(*owner).or_default().push(sh);
            }
            w.len(by_owner.len());
            for (owner, list) in by_owner {
                w.u32(owner);
                w.len(list.len());
                for sh in list {
                    w.u32(sh.x);
                    w.put(&*sh.to_bytes());
                }
            }
        }
        State::Over => w.u8(S_OVER),
    }
    w.0
}

/// Decodes the plaintext of a server's state (the inverse of
/// [`encode_server`]).
///
/// # Errors
/// A [`DecodeError`] for any input that is not a canonical encoding.
pub(crate) fn decode_server(bytes: &[u8]) -> Result<Server, DecodeError> {
    let mut r = Reader::new(bytes);
    let round: RoundId = r.array()?;
    let params = params(&mut r)?;
    let n = params.clients();
    let t = params.threshold_usize();
    let roster = if flag(&mut r)? {
        Some(roster(&mut r, &params)?)
    } else {
        None
    };
    if roster.is_some() != params.is_malicious() {
        return Err(DecodeError::NonCanonical);
    }
    let nonce = Zeroizing::new(r.array()?);
    let session = r.array()?;
    let all_keys = keys(&mut r, n)?;
    let mut commitments = CommitmentTable::default();
    for (owner, c) in map(&mut r, n, 64 * t, |r, _| {
        let mut read =
            || -> Result<Vec<[u8; 32]>, DecodeError> { (0..t).map(|_| r.array()).collect() };
        Ok([read()?, read()?])
    })? {
        let [key, seed] = &c;
        commitments.insert(owner, [key, seed]);
    }
    let key_signatures = sigs(&mut r, n)?;
    let bitmap_max = (n as usize).div_ceil(8);
    let masking_sets = map(&mut r, n, 4 + 64, |r, owner| {
        let len = r.count(bitmap_max, 1)?;
        let bitmap = r.take(len)?.to_vec();
        Ok(MaskingSet {
            owner,
            bitmap,
            signature: r.array()?,
        })
    })?;
    let u1 = indices(&mut r, n)?;
    let u2 = indices(&mut r, n)?;
    let u3 = indices(&mut r, n)?;
    let u4 = indices(&mut r, n)?;
    let excluded: BTreeSet<ClientIndex> = indices(&mut r, n)?.into_iter().collect();
    let misbehaved = map(&mut r, n, 1, |r, _| fault(r, n))?;
    let accepted: HashMap<ClientIndex, Fingerprint> = map(&mut r, n, FINGERPRINT_LEN, |r, _| {
        Ok(Fingerprint(r.array()?))
    })?
    .into_iter()
    .collect();
    let m = params.dim_usize();
    let state = match r.u8()? {
        S_ADVERTISE => {
            let keys = keys(&mut r, n)?;
            let c = count(&mut r, 2 * (n as usize) + 2, 32)?;
            let mut burned = HashSet::with_capacity(c);
            let mut prev: Option<PublicKeyBytes> = None;
            for _ in 0..c {
                let k: PublicKeyBytes = r.array()?;
                if prev.is_some_and(|p| p >= k) {
                    return Err(DecodeError::NonCanonical);
                }
                prev = Some(k);
                burned.insert(k);
            }
            let seen = keys
                .iter()
                .flat_map(|(i, (c, s))| [(*c, *i), (*s, *i)])
                .collect();
            State::AdvertiseKeys { keys, seen, burned }
        }
        S_SHARES => State::ShareKeys {
            received: map(&mut r, n, 4, |r, _| ShareKeys::decode(&params, blob(r)?))?,
        },
        S_MASKED => {
            let sum = u64s(&mut r, m)?;
            let received = map(&mut r, n, 4, |r, _| indices(r, n))?;
            State::MaskedInput { sum, received }
        }
        S_CONSISTENCY => State::Consistency {
            sum: u64s(&mut r, m)?,
            dropped: indices(&mut r, n)?,
            digest: r.array()?,
            signatures: sigs(&mut r, n)?,
        },
        S_UNMASK => {
            let sum = u64s(&mut r, m)?;
            let dropped = indices(&mut r, n)?;
            let answered: BTreeSet<ClientIndex> = indices(&mut r, n)?.into_iter().collect();
            let holders = params.degree() as usize + 1;
            // One list per owner, allocated at what the input holds (the
            // responses still to come are lists of their own): no
            // reallocation leaves a copy of a share behind.
            // The kind of share asked of each owner, as when the requests
            // went out: the shares of a client nobody was asked about are
            // never kept, so an input holding one is not an export.
            let asked = super::server::asked_kinds(n, &u3, &dropped);
            let shares = map(&mut r, n, 4, |r, owner| {
                let kind = asked
                    .get(owner as usize)
                    .copied()
                    .flatten()
                    .ok_or(DecodeError::NonCanonical)?;
                let c = count(r, holders, 4 + 32)?;
                let mut list = Vec::with_capacity(c);
                for _ in 0..c {
                    let x = r.u32()?;
                    if x == 0 || x > n {
                        return Err(DecodeError::IndexOutOfRange);
                    }
                    let sh = ShareBytes::new(x, r.array_ref()?).ok_or(DecodeError::NonCanonical)?;
                    list.push((owner, kind, sh));
                }
                Ok(list)
            })?
            .into_values()
            .collect();
            State::Unmask {
                asked,
                sum,
                dropped,
                answered,
                shares,
            }
        }
        S_OVER => State::Over,
        _ => return Err(DecodeError::NonCanonical),
    };
    r.finish()?;
    Ok(Server {
        topo: Topology::new(&params, &round),
        params,
        round,
        roster,
        resend_key: FingerprintKey::from_nonce(&nonce),
        nonce,
        state,
        session,
        keys: all_keys,
        commitments: Arc::new(commitments),
        // Kept only in memory: R3 decodes the points it needs.
        constant_terms: HashMap::new(),
        key_signatures,
        masking_sets,
        u1,
        u2,
        u3,
        u4,
        excluded,
        misbehaved,
        accepted,
    })
}

impl Server {
    /// Seals this server's state under `key` for the host's store (a
    /// checkpoint between receives or phases); `rng` draws the nonce.
    /// Cost: O(state size), one ChaCha20-Poly1305 pass; the state holds the
    /// running sum (8 m bytes) and, in Unmask, every share received.
    ///
    /// The export is bound to the round and to the current phase
    /// ([`Server::phase`]); see spec/state.md for the format and for the
    /// single-use rule: never run two servers from copies of one state.
    ///
    /// # Examples
    /// ```
    /// use secagg::{Graph, Params, Server, StateKey};
    /// # use rand_core::SeedableRng;
    /// # let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    /// let params = Params::new(3, 2, 16, 4, Graph::Complete)?;
    /// let round = [7u8; 32];
    /// let server = Server::new(&params, round, &mut rng)?;
    /// let key = StateKey::generate(&mut rng);
    /// let sealed = server.export(&key, &mut rng);
    /// let again = Server::import(&sealed, &key, &round, server.phase())?;
    /// assert_eq!(again.phase(), server.phase());
    /// # Ok::<(), secagg::Error>(())
    /// ```
    pub fn export<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
        let pt = encode_server(self);
        seal(
            ROLE_SERVER,
            server_phase_byte(self.phase()),
            &self.round,
            &pt,
            key,
            rng,
        )
    }

    /// Opens a state sealed by [`Server::export`]: it must be of round
    /// `round` and of phase `phase` (`None` for a finished round), sealed
    /// under `key`. Cost: one ChaCha20-Poly1305 pass and a decode linear in
    /// the bytes, then for a Harary graph the rebuild of the graph, O(n),
    /// as [`Server::new`].
    ///
    /// # Errors
    /// [`Error::State`]: [`StateError::Round`], [`StateError::Phase`] or
    /// [`StateError::Role`] for an export of another round, phase or role;
    /// [`StateError::Version`] for an unknown format or protocol version;
    /// [`StateError::Authentication`] under another key or for altered or
    /// truncated bytes; [`StateError::Malformed`] for bytes that are not an
    /// export at all.
    pub fn import(
        bytes: &[u8],
        key: &StateKey,
        round: &RoundId,
        phase: Option<Phase>,
    ) -> Result<Self, Error> {
        let pt = open(bytes, key, ROLE_SERVER, server_phase_byte(phase), round)?;
        let s = decode_server(&pt).map_err(StateError::Malformed)?;
        if s.round != *round || s.phase() != phase {
            return Err(StateError::Malformed(DecodeError::NonCanonical).into());
        }
        Ok(s)
    }
}

/// The plaintext decoders, for the fuzz targets: decode, and when that
/// succeeds re-encode and compare.
pub(crate) fn client_roundtrip(bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    decode_client(bytes).ok().map(|c| encode_client(&c))
}

/// See [`client_roundtrip`].
pub(crate) fn server_roundtrip(bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    decode_server(bytes).ok().map(|s| encode_server(&s))
}

/// The plaintexts of a client's and a server's states, for the fuzz seeds.
pub(crate) fn plaintext_of_client(c: &Client) -> Zeroizing<Vec<u8>> {
    encode_client(c)
}

/// See [`plaintext_of_client`].
pub(crate) fn plaintext_of_server(s: &Server) -> Zeroizing<Vec<u8>> {
    encode_server(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::ShareKind;
    use rand_core::Rng;

    fn seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (c, s) = crate::fuzzing::state_seeds();
        // Both rounds ran to the end: 5 client states and one server state
        // per close (four closes semi-honest, five malicious), and more.
        assert!(c.len() >= 5 * 9, "client seeds {}", c.len());
        assert!(s.len() >= 9, "server seeds {}", s.len());
        (c, s)
    }

    #[test]
    fn plaintexts_roundtrip_and_every_prefix_fails() {
        let (clients, servers) = seeds();
        for pt in &clients {
            let c = decode_client(pt).unwrap();
            assert_eq!(&encode_client(&c)[..], &pt[..]);
            for len in 0..pt.len() {
                assert!(decode_client(&pt[..len]).is_err(), "prefix {len}");
            }
            let mut longer = pt.clone();
            longer.push(0);
            assert_eq!(
                decode_client(&longer).err(),
                Some(DecodeError::TrailingBytes)
            );
        }
        for pt in &servers {
            let s = decode_server(pt).unwrap();
            assert_eq!(&encode_server(&s)[..], &pt[..]);
            for len in 0..pt.len() {
                assert!(decode_server(&pt[..len]).is_err(), "prefix {len}");
            }
            let mut longer = pt.clone();
            longer.push(0);
            assert_eq!(
                decode_server(&longer).err(),
                Some(DecodeError::TrailingBytes)
            );
        }
    }

    #[test]
    fn seeds_cover_every_phase_of_both_roles() {
        let (clients, servers) = seeds();
        let phases: BTreeSet<u8> = clients
            .iter()
            .map(|pt| client_phase_byte(decode_client(pt).unwrap().phase()))
            .collect();
        // KeyBroadcast .. Done (no client is refused in an honest round).
        assert_eq!(phases, (0..=4).collect());
        let phases: BTreeSet<u8> = servers
            .iter()
            .map(|pt| server_phase_byte(decode_server(pt).unwrap().phase()))
            .collect();
        assert_eq!(phases, (0..=5).collect());
    }

    #[test]
    fn garbage_and_flipped_plaintexts_never_panic() {
        let (clients, servers) = seeds();
        let mut rng = <chacha20::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(9);
        for len in [0usize, 1, 31, 32, 40, 100, 1000] {
            for _ in 0..50 {
                let mut b = vec![0u8; len];
                rng.fill_bytes(&mut b);
                crate::fuzzing::decode_client_state(&b);
                crate::fuzzing::decode_server_state(&b);
            }
        }
        // One flipped bit per byte of a few seeds: refused, or (a flip
        // inside a key or a digest) a state that re-encodes to its bytes.
        for pt in clients.iter().step_by(7).chain(servers.iter().step_by(3)) {
            for i in 0..pt.len() {
                let mut b = pt.clone();
                b[i] ^= 1 << (i % 8);
                crate::fuzzing::decode_client_state(&b);
                crate::fuzzing::decode_server_state(&b);
            }
        }
        // A count of 2^32 - 1 behind a genuine prefix allocates nothing.
        let c = &clients[0];
        let params_len = u32::from_le_bytes([c[32], c[33], c[34], c[35]]) as usize;
        let mut b = c[..36 + params_len + 4].to_vec();
        b.extend_from_slice(&[1]);
        b.extend_from_slice(&[0xff; 8]);
        assert!(decode_client(&b).is_err());
    }

    /// Share lists of an imported server are allocated at what they hold
    /// (never reallocated, never sized by the parameters alone): the finding
    /// `fuzz/regressions/decode_server_state/share_list_capacity_from_params`
    /// asked for 300 MB on a 1 KB input.
    #[test]
    fn share_lists_are_sized_by_the_input() {
        let (_, servers) = seeds();
        let mut checked = 0;
        for pt in &servers {
            let s = decode_server(pt).unwrap();
            let State::Unmask { shares, .. } = &s.state else {
                continue;
            };
            for list in shares {
                assert!(!list.is_empty());
                assert_eq!(list.capacity(), list.len());
                checked += 1;
            }
        }
        assert!(checked > 0);
        let finding = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/regressions/decode_server_state/share_list_capacity_from_params"),
        )
        .unwrap();
        // n = 2^23: the parameters alone would call for 2^23 shares.
        let p = Params::decode(&finding[36..36 + 17]).unwrap();
        assert!(p.degree() >= 1 << 20);
        if let Ok(s) = decode_server(&finding)
            && let State::Unmask { shares, .. } = &s.state
        {
            assert!(shares.iter().all(|l| l.capacity() < 1 << 16));
        }
    }

    /// A server state whose share lists name an owner that is neither a
    /// survivor nor dropped (the server never keeps such a share) does not
    /// decode; the kind of each share comes from the lists, as at intake.
    #[test]
    fn shares_of_an_owner_nobody_was_asked_about_are_refused() {
        let (_, servers) = seeds();
        let mut checked = 0;
        for pt in &servers {
            let s = decode_server(pt).unwrap();
            let State::Unmask {
                dropped, shares, ..
            } = &s.state
            else {
                continue;
            };
            for (owner, kind, _) in shares.iter().flatten() {
                let expected = if s.u3.contains(owner) {
                    ShareKind::SelfSeed
                } else {
                    assert!(dropped.contains(owner));
                    ShareKind::MaskKey
                };
                assert_eq!(*kind, expected);
            }
            // A dropped client with shares is no longer listed as dropped:
            // its shares now belong to nobody asked about.
            let Some(&gone) = dropped
                .iter()
                .find(|v| shares.iter().flatten().any(|(o, _, _)| o == *v))
            else {
                continue;
            };
            let forget = |s: &mut Server, drop_shares: bool| {
                if let State::Unmask {
                    dropped, shares, ..
                } = &mut s.state
                {
                    dropped.retain(|&v| v != gone);
                    if drop_shares {
                        for list in shares.iter_mut() {
                            list.retain(|(o, _, _)| *o != gone);
                        }
                        shares.retain(|list| !list.is_empty());
                    }
                }
            };
            let mut stranger = decode_server(pt).unwrap();
            forget(&mut stranger, false);
            assert_eq!(
                decode_server(&encode_server(&stranger)).err(),
                Some(DecodeError::NonCanonical)
            );
            // Without its shares, the same state decodes.
            let mut without = decode_server(pt).unwrap();
            forget(&mut without, true);
            assert!(decode_server(&encode_server(&without)).is_ok());
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn state_error_display_names_no_secret() {
        assert_eq!(
            Error::State(StateError::Phase).to_string(),
            "state: state of another phase"
        );
        assert_eq!(
            format!("{:?}", StateKey::new([7; 32])),
            "StateKey(<redacted>)"
        );
    }
}
