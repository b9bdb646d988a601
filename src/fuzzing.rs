//! Entry points of the fuzz targets in `fuzz/` (not part of the API).
//!
//! Each function takes arbitrary bytes, drives one surface of the crate that
//! sees untrusted input, and panics only when an invariant is broken: a
//! decoded message that does not re-encode to its input, a client that
//! answers a server message it should refuse, a server whose sum an attacker
//! changed or that blames an honest client, a reconstruction that returns a
//! wrong secret. Errors the crate returns are the expected outcome for
//! garbage; only panics, hangs and runaway allocations are findings.
//!
//! The fuzz targets are one-liners over these functions, and
//! `tests/api/fuzz_corpus.rs` replays the saved corpus through them in a
//! plain `cargo test`, so a fixed finding stays fixed without the fuzzer.
//! spec/security.md maps each function to the property it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::OnceLock;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use curve25519_dalek::Scalar;
use rand_core::{TryCryptoRng, TryRng};

use crate::codec::{Decode, Encode};
use crate::crypto::aead::CIPHERTEXT_LEN;
use crate::crypto::identity::{Identity, Roster};
use crate::crypto::{feldman, kx, labels, shamir};
use crate::error::{ClientFault, ClientIndex, Error, Misuse, Outcome, ServerFault};
use crate::params::{Graph, Params, RoundId, ServerModel};
use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask};
use crate::protocol::messages::{
    AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, Evidence, KeyBroadcast, MaskedInput,
    MaskingSet, ShareDelivery, ShareKeys, ShareKind, UnmaskRequest, UnmaskResponse, VERSION,
    index_bitmap, kind,
};
use crate::protocol::server::{Server, Step};
use crate::protocol::signed::{
    Parts, consistency_parts, masked_with_parts, neighbour_bitmap, shares_parts,
};
use crate::vector;

// ----- Plumbing -----

/// The round id of every fuzzed round.
const ROUND: RoundId = [0x52; 32];

/// A deterministic RNG over the ChaCha20 keystream: fuzz inputs must replay
/// to the same execution. Never used outside this module.
struct DetRng(ChaCha20);

impl DetRng {
    fn new(label: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&label.to_le_bytes());
        key[8..].copy_from_slice(b"secagg fuzzing rng key 1");
        Self(ChaCha20::new(&key.into(), &[0u8; 12].into()))
    }
}

impl TryRng for DetRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.0.apply_keystream(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.0.apply_keystream(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0);
        self.0.apply_keystream(dst);
        Ok(())
    }
}

impl TryCryptoRng for DetRng {}

/// A cursor over the fuzz input that reads zeros past its end, so every
/// input means something.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    /// Up to `len` bytes (fewer at the end of the input).
    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(len.min(self.0.len()));
        self.0 = tail;
        head
    }

    /// 32 bytes, zero-padded at the end of the input.
    fn array32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let b = self.bytes(32);
        out[..b.len()].copy_from_slice(b);
        out
    }

    /// A sender index: usually one of `0..=n + 1` (outside the roster at both
    /// ends included), sometimes any `u32`.
    fn index(&mut self, n: u32) -> ClientIndex {
        let b = self.u8();
        if b >= 0xf0 {
            self.u32()
        } else {
            u32::from(b) % (n + 2)
        }
    }
}

/// Applies mutation operations, three bytes each (`pos: u16`, `val: u8`):
/// `val = 0` truncates at `pos`, `pos = 0xffff` appends `val`, anything else
/// XORs `val` into the byte at `pos` (modulo the length).
fn mutate(msg: &mut Vec<u8>, ops: &[u8]) {
    for op in ops.chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([op[0], op[1]]));
        let val = op[2];
        if pos == 0xffff || msg.is_empty() {
            msg.push(val);
        } else if val == 0 {
            msg.truncate(pos % msg.len());
        } else {
            let len = msg.len();
            msg[pos % len] ^= val;
        }
    }
}

fn sum_mod(acc: &mut [u64], v: &[u64], bits: u8) {
    vector::add_assign(acc, v);
    vector::reduce(acc, bits);
}

fn sub_mod(acc: &mut [u64], v: &[u64], bits: u8) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a = a.wrapping_sub(*x);
    }
    vector::reduce(acc, bits);
}

/// A client's input vector in the fuzzed rounds, derived from its index.
fn input_of(params: &Params, u: ClientIndex) -> Vec<u64> {
    let top = vector::mask(params.bits());
    (0..u64::from(params.dim()))
        .map(|j| ((u64::from(u) << 20) | j).wrapping_mul(0x9e37_79b9_7f4a_7c15) & top)
        .collect()
}

/// The RNG of client `u` (or, for `u = 0`, of the server) in scenario `s`:
/// each party has its own stream, so one client's state can be rebuilt
/// without replaying the others.
fn party_rng(scenario: usize, u: ClientIndex) -> DetRng {
    DetRng::new(((scenario as u64) << 32) | u64::from(u))
}

// ----- Decoders -----

/// The parameters the decoder targets use, chosen by their input's first
/// byte: bits 0..2 pick n, bits 2..5 b, bits 5..7 m, from short lists that
/// hit the edges of the count checks and of the bit packing; bit 7 the
/// server model. Semi-honest: the complete graph, t = 2. Malicious (every
/// signature field present): per n a graph, t and c that meet the
/// uniqueness rule and t <= k, with t from 2 to 6 (the commitment lists)
/// and masking sets of 2, 4 (padded), 8 (whole byte) and 10 (two bytes)
/// neighbours.
/// Every byte gives parameters.
pub fn small_params(sel: u8) -> Option<Params> {
    const CLIENTS: [u32; 4] = [2, 5, 9, 300];
    const BITS: [u8; 8] = [1, 7, 8, 16, 32, 33, 63, 64];
    const DIMS: [u32; 4] = [0, 1, 3, 11];
    // (n; Harary degree, 0 for the complete graph; t; c). No malicious
    // parameters have n = 2 (t <= k = 1 < 2): the smallest roster is 3.
    const MALICIOUS: [(u32, u32, u32, u32); 4] =
        [(3, 0, 2, 0), (5, 0, 4, 2), (9, 8, 5, 1), (300, 10, 6, 1)];
    let i = usize::from(sel & 3);
    let bits = BITS[usize::from((sel >> 2) & 7)];
    let dim = DIMS[usize::from((sel >> 5) & 3)];
    if sel & 0x80 == 0 {
        return Params::new(CLIENTS[i], 2, bits, dim, Graph::Complete).ok();
    }
    let (n, degree, t, corrupt) = MALICIOUS[i];
    shape_params(&(n, t, degree, bits, dim, Some(corrupt)))
}

/// First byte: the parameters ([`small_params`]); the rest: one message of
/// type `M`. A message that decodes must re-encode to exactly its input, and
/// its `encoded_len` must be exact.
fn roundtrip<M: Decode<Context = Params> + Encode>(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let Some(params) = small_params(sel) else {
        return;
    };
    if let Ok(msg) = M::decode(&params, body) {
        assert_eq!(
            msg.encoded_len(),
            body.len(),
            "encoded_len is not the decoded length"
        );
        assert_eq!(msg.to_bytes(), body, "decode then encode changed the bytes");
    }
}

/// Fuzzes the [`AdvertiseKeys`] decoder (the decoded message must re-encode to exactly its input).
pub fn decode_advertise_keys(data: &[u8]) {
    roundtrip::<AdvertiseKeys>(data);
}

/// Fuzzes the [`KeyBroadcast`] decoder.
pub fn decode_key_broadcast(data: &[u8]) {
    roundtrip::<KeyBroadcast>(data);
}

/// Fuzzes the [`ShareKeys`] decoder.
pub fn decode_share_keys(data: &[u8]) {
    roundtrip::<ShareKeys>(data);
}

/// Fuzzes the [`ShareDelivery`] decoder.
pub fn decode_share_delivery(data: &[u8]) {
    roundtrip::<ShareDelivery>(data);
}

/// Fuzzes the [`MaskedInput`] decoder.
pub fn decode_masked_input(data: &[u8]) {
    roundtrip::<MaskedInput>(data);
}

/// Fuzzes the [`UnmaskRequest`] decoder.
pub fn decode_unmask_request(data: &[u8]) {
    roundtrip::<UnmaskRequest>(data);
}

/// Fuzzes the [`UnmaskResponse`] decoder.
pub fn decode_unmask_response(data: &[u8]) {
    roundtrip::<UnmaskResponse>(data);
}

/// Fuzzes the [`ConsistencyRequest`] decoder.
pub fn decode_consistency_request(data: &[u8]) {
    roundtrip::<ConsistencyRequest>(data);
}

/// Fuzzes the [`ConsistencyResponse`] decoder.
pub fn decode_consistency_response(data: &[u8]) {
    roundtrip::<ConsistencyResponse>(data);
}

/// Fuzzes [`Params::decode`]: parameters that decode re-encode to the input.
pub fn decode_params(data: &[u8]) {
    if let Ok(p) = Params::decode(data) {
        assert_eq!(
            p.to_bytes(),
            data,
            "Params decode then encode changed the bytes"
        );
    }
}

// ----- Honest rounds shared by the client and server targets -----

/// A round's shape: n, t, Harary degree (0 for the complete graph), b, m,
/// and the server model (`None` semi-honest, `Some(c)` malicious with c).
type Shape = (u32, u32, u32, u8, u32, Option<u32>);

fn shape_params(&(n, t, degree, bits, dim, corrupt): &Shape) -> Option<Params> {
    let graph = if degree == 0 {
        Graph::Complete
    } else {
        Graph::Harary {
            degree,
            seed: [7; 32],
        }
    };
    let p = Params::new(n, t, bits, dim, graph).ok()?;
    match corrupt {
        None => Some(p),
        Some(corrupt) => p.with_model(ServerModel::Malicious { corrupt }).ok(),
    }
}

/// The long-term identities of a round's clients (malicious model; empty
/// otherwise), client `u` at position `u - 1`, deterministic in `label`,
/// and their roster.
fn identities(p: &Params, label: u64) -> Option<(Vec<Identity>, Roster)> {
    let ids: Vec<Identity> = if p.is_malicious() {
        (1..=u64::from(p.clients()))
            .map(|u| {
                let mut secret = [0u8; 32];
                let _ = DetRng::new((0x1d << 56) | (label << 32) | u).try_fill_bytes(&mut secret);
                Identity::from_secret_bytes(&secret)
            })
            .collect()
    } else {
        Vec::new()
    };
    let keys: Vec<[u8; 32]> = ids.iter().map(Identity::public_key).collect();
    let roster = Roster::new(&keys).ok()?;
    Some((ids, roster))
}

/// Starts client `u`, with its identity in the malicious model.
fn start_client(
    p: &Params,
    u: ClientIndex,
    ids: &(Vec<Identity>, Roster),
    rng: &mut DetRng,
) -> Result<(AwaitingKeys, Vec<u8>), Error> {
    match ids.0.get(u as usize - 1) {
        Some(id) => AwaitingKeys::with_identity(p, ROUND, u, id, &ids.1, rng),
        None => AwaitingKeys::new(p, ROUND, u, rng),
    }
}

/// Starts the server, with the roster in the malicious model.
fn start_server(p: &Params, ids: &(Vec<Identity>, Roster), rng: &mut DetRng) -> Option<Server> {
    if p.is_malicious() {
        Server::with_roster(p, ROUND, &ids.1, rng).ok()
    } else {
        Server::new(p, ROUND, rng).ok()
    }
}

// ----- Client -----

/// The client scenarios: a shape, and which clients drop after R0 and after
/// R1 in the honest round that produced the server's messages (so that the
/// genuine unmask request has a dropped list). Client 1 is the one fuzzed.
/// The first three are semi-honest, the others malicious (c = 0 or 1; on
/// the complete graph t + 1 survivors are needed to certify each one).
const CLIENT_SCENARIOS: [(Shape, &[ClientIndex], &[ClientIndex]); 6] = [
    ((3, 2, 0, 32, 4, None), &[], &[]),
    ((5, 3, 0, 33, 3, None), &[5], &[2]),
    ((7, 2, 4, 7, 9, None), &[], &[]),
    ((3, 2, 0, 32, 4, Some(0)), &[], &[]),
    ((7, 4, 0, 33, 3, Some(0)), &[7], &[2]),
    ((7, 3, 4, 7, 9, Some(1)), &[], &[4]),
];

/// The clients of each scenario that collude with the server (at most its
/// c): the fuzzed server signs with their identities whatever it likes.
/// In scenario 5 client 6 is a surviving neighbour of client 1.
const CORRUPT: [&[ClientIndex]; 6] = [&[], &[], &[], &[], &[], &[6]];

/// What the honest server sent client 1, what client 1 sent back, and what
/// every client advertised and dealt.
struct ClientTranscript {
    params: Params,
    ids: (Vec<Identity>, Roster),
    advertise: Vec<u8>,
    broadcast: Vec<u8>,
    delivery: Vec<u8>,
    /// The consistency request (malicious model; empty otherwise).
    consistency: Vec<u8>,
    request: Vec<u8>,
    /// Client 1's answers to the four messages above (the consistency
    /// response empty in the semi-honest model).
    answers: [Vec<u8>; 4],
    /// Every client's AdvertiseKeys, and ShareKeys (those in U2).
    advertised: BTreeMap<ClientIndex, Vec<u8>>,
    dealt: BTreeMap<ClientIndex, Vec<u8>>,
}

/// Runs the honest round of client scenario `s` (client 1 never drops).
fn client_transcript(s: usize) -> Option<ClientTranscript> {
    let (shape, after_keys, after_shares) = CLIENT_SCENARIOS[s];
    let params = shape_params(&shape)?;
    let ids = identities(&params, s as u64)?;
    let n = params.clients();
    let mut rngs: BTreeMap<ClientIndex, DetRng> = (1..=n).map(|u| (u, party_rng(s, u))).collect();
    let mut server = start_server(&params, &ids, &mut party_rng(s, 0))?;
    let mut advertised = BTreeMap::new();
    let mut dealt = BTreeMap::new();
    let mut answers: [Vec<u8>; 4] = Default::default();
    let mut s0 = BTreeMap::new();
    for (&u, rng) in &mut rngs {
        let (st, msg) = start_client(&params, u, &ids, rng).ok()?;
        server.receive(u, &msg).ok()?;
        advertised.insert(u, msg);
        s0.insert(u, st);
    }
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        return None;
    };
    let mut broadcast = Vec::new();
    let mut s1 = BTreeMap::new();
    for (u, msg) in d {
        let (mut st, rng): (AwaitingKeys, _) = (s0.remove(&u)?, rngs.get_mut(&u)?);
        if u == 1 {
            broadcast.clone_from(&msg);
        }
        let (st, out) = st.receive(&msg, rng).ok()?;
        if !after_keys.contains(&u) {
            server.receive(u, &out).ok()?;
            dealt.insert(u, out);
            s1.insert(u, st);
        }
    }
    answers[0] = dealt.get(&1)?.clone();
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        return None;
    };
    let mut delivery = Vec::new();
    let mut s2 = BTreeMap::new();
    for (u, msg) in d {
        let mut st: AwaitingShares = s1.remove(&u)?;
        if u == 1 {
            delivery.clone_from(&msg);
        }
        let (st, out) = st.receive(&msg, &input_of(&params, u)).ok()?;
        if u == 1 {
            answers[1].clone_from(&out);
        }
        if !after_shares.contains(&u) {
            server.receive(u, &out).ok()?;
            s2.insert(u, st);
        }
    }
    let Ok(Step::Deliver(mut d)) = server.close_phase() else {
        return None;
    };
    let mut consistency = Vec::new();
    if params.is_malicious() {
        for (u, msg) in d {
            let st: &mut AwaitingUnmask = s2.get_mut(&u)?;
            let out = st.consistency(&msg).ok()?;
            if u == 1 {
                consistency = msg;
                answers[2].clone_from(&out);
            }
            server.receive(u, &out).ok()?;
        }
        let Ok(Step::Deliver(next)) = server.close_phase() else {
            return None;
        };
        d = next;
    }
    let request = d.into_iter().find(|(u, _)| *u == 1)?.1;
    answers[3] = s2.get_mut(&1)?.receive(&request).ok()?;
    Some(ClientTranscript {
        params,
        ids,
        advertise: advertised.get(&1)?.clone(),
        broadcast,
        delivery,
        consistency,
        request,
        answers,
        advertised,
        dealt,
    })
}

fn client_transcripts() -> &'static [Option<ClientTranscript>] {
    static CACHE: OnceLock<Vec<Option<ClientTranscript>>> = OnceLock::new();
    CACHE.get_or_init(|| (0..CLIENT_SCENARIOS.len()).map(client_transcript).collect())
}

/// The genuine message, sent after the fuzzed one to a state that took the
/// fuzzed one in `first`: a message that does not decode leaves the state
/// as it was (the genuine one then gets exactly the genuine answer `want`);
/// one that decodes spends it, accepted or refused (the genuine one is then
/// misuse). No server message is ever reported as the caller's misuse.
fn check_then_genuine<T>(first: &Result<T, Error>, second: Result<Vec<u8>, Error>, want: &[u8]) {
    match first {
        Err(Error::Server(ServerFault::Malformed(_))) => assert!(
            second.is_ok_and(|out| out == want),
            "the genuine message, after one that did not decode, was not answered as in the honest round"
        ),
        Err(Error::Misuse(m)) => panic!("a server message reported as misuse: {m:?}"),
        _ => assert_eq!(
            second.err(),
            Some(Error::Misuse(Misuse::RoundOver)),
            "a state took a second message after a decoded one spent it"
        ),
    }
}

/// Fuzzes a client fed a server message in each of its states.
///
/// First byte: bits 0..2 the state (0 AwaitingKeys, 1 AwaitingShares,
/// 2 AwaitingUnmask fed the consistency request, 3 AwaitingUnmask fed the
/// unmask request), bits 2..5 the scenario (semi-honest and malicious
/// model), bit 6 equivocation (malicious model, state 3: the input first
/// gives, after a `u16` length, the consistency request client 1 is sent,
/// which it may refuse, then the unmask request; the server colludes with
/// the scenario's corrupt clients, `collude`), bit 7 the mode. Client 1 is
/// rebuilt in that state from the honest round; the rest of the input is
/// the server message (raw mode) or mutations of the genuine one (mode bit
/// set; three bytes each: a position, then a byte to XOR in or 0 to
/// truncate). Whatever the client accepts must pass the checks the protocol
/// promises, restated independently below; above all, an accepted unmask
/// request partitions exactly the peers the client masked with, so it
/// never reveals both shares of one peer or answers fewer than t
/// survivors, and in the malicious model it is the survivor set the client
/// signed, and that set is the genuine one (no other set can gather t
/// signatures: only client 1 and the corrupt clients sign it), so it
/// answers exactly as in the honest round. Then the genuine
/// message is sent to the same state (`check_then_genuine`).
pub fn client(data: &[u8]) {
    let mut inp = Input(data);
    let sel = inp.u8();
    let state = usize::from(sel & 3);
    let s = usize::from((sel >> 2) & 7) % CLIENT_SCENARIOS.len();
    let equivocate = sel & 0x40 != 0;
    let Some(Some(tr)) = client_transcripts().get(s) else {
        return;
    };
    let genuine = [&tr.broadcast, &tr.delivery, &tr.consistency, &tr.request][state];
    let message = |g: &Vec<u8>, b: &[u8]| {
        if sel & 0x80 != 0 {
            let mut m = g.clone();
            mutate(&mut m, b);
            m
        } else {
            b.to_vec()
        }
    };
    // Malicious model, state 3, bit 6: the input first gives (u16 length)
    // the consistency request client 1 signs, then the unmask request.
    let equivocate = equivocate && state == 3 && tr.params.is_malicious();
    let (consistency, msg) = if equivocate {
        let len = usize::from(inp.u16());
        let first = inp.bytes(len);
        (message(&tr.consistency, first), message(genuine, inp.0))
    } else {
        (tr.consistency.clone(), message(genuine, inp.0))
    };
    let p = &tr.params;
    let mut rng = party_rng(s, 1);
    let rebuilt = start_client(p, 1, &tr.ids, &mut rng);
    let Ok((mut keys, advertise)) = rebuilt else {
        panic!("client 1 cannot be rebuilt");
    };
    assert_eq!(advertise, tr.advertise, "client 1 rebuilt differently");
    if state == 0 {
        let first = keys.receive(&msg, &mut rng);
        if let Ok((_, out)) = &first {
            check_share_keys(p, tr, &msg, out);
        }
        let second = keys.receive(&tr.broadcast, &mut rng).map(|(_, o)| o);
        check_then_genuine(&first, second, &tr.answers[0]);
        return;
    }
    let Ok((mut shares, _)) = keys.receive(&tr.broadcast, &mut rng) else {
        panic!("client 1 refused the genuine broadcast");
    };
    let input = input_of(p, 1);
    if state == 1 {
        let first = shares.receive(&msg, &input);
        if let Ok((_, out)) = &first {
            check_masked_input(p, tr, &msg, out);
        }
        let second = shares.receive(&tr.delivery, &input).map(|(_, o)| o);
        check_then_genuine(&first, second, &tr.answers[1]);
        return;
    }
    let Ok((mut unmask, _)) = shares.receive(&tr.delivery, &input) else {
        panic!("client 1 refused the genuine delivery");
    };
    if state == 2 {
        let first = unmask.consistency(&msg);
        if !p.is_malicious() {
            assert_eq!(
                first.err(),
                Some(Error::Misuse(Misuse::Identity)),
                "a semi-honest client answered a consistency request"
            );
            return;
        }
        if let Ok(out) = &first {
            check_consistency(p, tr, &msg, out);
        }
        // Refused (decoded or not), the request leaves the state as it was;
        // accepted, only the same survivor set is answered again.
        let same = |m: &[u8]| {
            ConsistencyRequest::decode(p, m).ok().map(|r| r.survivors)
                == ConsistencyRequest::decode(p, &tr.consistency)
                    .ok()
                    .map(|r| r.survivors)
        };
        let second = unmask.consistency(&tr.consistency);
        if first.is_err() || same(&msg) {
            assert!(
                second.is_ok_and(|out| out == tr.answers[2]),
                "the genuine consistency request was not answered as in the honest round"
            );
        } else {
            assert_eq!(
                second.err(),
                Some(Error::Server(ServerFault::SurvivorSetChanged)),
                "signed a second survivor set"
            );
        }
        return;
    }
    // The survivor set client 1 signed (malicious model): the genuine one,
    // or in equivocation mode whatever it accepted (none if it refused).
    let mut signed = None;
    if p.is_malicious() {
        match unmask.consistency(&consistency) {
            Ok(_) => {
                signed = ConsistencyRequest::decode(p, &consistency)
                    .ok()
                    .map(|r| r.survivors);
            }
            Err(_) if equivocate => {}
            Err(e) => panic!("client 1 refused the genuine consistency request: {e:?}"),
        }
    }
    let genuine_set = ConsistencyRequest::decode(p, &tr.consistency)
        .ok()
        .map(|r| r.survivors);
    let signed_genuine = signed.is_some() && signed == genuine_set;
    let msg = match &signed {
        Some(set) => collude(tr, s, set, msg),
        None => msg,
    };
    let first = AwaitingUnmask::receive(&mut unmask, &msg);
    if let Ok(out) = &first {
        check_unmask_response(p, tr, (signed.is_some(), signed_genuine), &msg, out);
    }
    let second = unmask.receive(&tr.request);
    match &first {
        Ok(out) if msg == tr.request => {
            assert!(
                second.is_ok_and(|o| o == *out),
                "a resent request answered differently"
            );
        }
        Ok(_) => assert_eq!(
            second.err(),
            Some(Error::Server(ServerFault::SurvivorSetChanged)),
            "answered a second, different unmask request"
        ),
        Err(Error::Server(ServerFault::Malformed(_))) if p.is_malicious() && !signed_genuine => {
            assert!(
                matches!(second, Err(Error::Server(_))),
                "answered the genuine unmask request without having signed its survivor set"
            );
        }
        _ => check_then_genuine(&first, second, &tr.answers[3]),
    }
}

/// The server colluding with the corrupt clients of scenario `s`: in an
/// unmask request that decodes, every consistency signature of a corrupt
/// client (and client 1's own, which the server received) becomes a valid
/// signature on `set`, the survivor set client 1 signed, and every masking
/// set of a corrupt owner is signed as it stands.
fn collude(tr: &ClientTranscript, s: usize, set: &[ClientIndex], msg: Vec<u8>) -> Vec<u8> {
    let p = &tr.params;
    let Ok(mut req) = UnmaskRequest::decode(p, &msg) else {
        return msg;
    };
    let Some(evidence) = &mut req.evidence else {
        return msg;
    };
    let signer = |u: ClientIndex| {
        (u == 1 || CORRUPT[s].contains(&u))
            .then(|| tr.ids.0.get(u as usize - 1))
            .flatten()
    };
    let digest =
        kx::survivor_set_digest(&req.session, p.clients(), &index_bitmap(p.clients(), set));
    for (u, sig) in &mut evidence.signatures {
        if let Some(id) = signer(*u) {
            let parts = consistency_parts(&req.session, *u, &digest);
            *sig = id.sign(labels::SIG_CONSISTENCY, &parts.parts());
        }
    }
    for m in &mut evidence.masking_sets {
        if let Some(id) = signer(m.owner).filter(|_| m.owner != 1) {
            let parts = masked_with_parts(&req.session, m.owner, &m.bitmap);
            m.signature = id.sign(labels::SIG_MASKED_WITH, &parts.parts());
        }
    }
    req.to_bytes()
}

/// Whether `sig` is client `u`'s signature under `label` over `parts`.
fn signed_by(
    tr: &ClientTranscript,
    u: ClientIndex,
    label: &[u8],
    parts: &[&[u8]],
    sig: &[u8; 64],
) -> bool {
    tr.ids.1.verify(u, label, parts, sig)
}

/// Client 1 accepted `msg` as its key broadcast and answered `out`.
fn check_share_keys(p: &Params, tr: &ClientTranscript, msg: &[u8], out: &[u8]) {
    let Ok(kb) = KeyBroadcast::decode(p, msg) else {
        panic!("accepted a key broadcast that does not decode");
    };
    let Ok(own) = AdvertiseKeys::decode(p, &tr.advertise) else {
        panic!("own advertisement does not decode");
    };
    assert!(
        kb.keys
            .iter()
            .any(|k| k.index == 1 && k.c_pk == own.c_pk && k.s_pk == own.s_pk),
        "accepted a broadcast without its own keys"
    );
    assert!(
        kb.keys.len() >= p.threshold_usize(),
        "accepted fewer than t clients"
    );
    let neighbours = p.neighbours(&ROUND, 1);
    let mut seen = BTreeSet::new();
    for k in &kb.keys {
        assert!(
            k.index == 1 || neighbours.contains(&k.index),
            "accepted a non-neighbour"
        );
        assert!(
            seen.insert(k.c_pk) && seen.insert(k.s_pk),
            "accepted a repeated key"
        );
        // Malicious model: no key substitution. Every key accepted is the
        // one its owner advertised (and signed) in this round.
        if p.is_malicious() {
            let real = tr
                .advertised
                .get(&k.index)
                .and_then(|m| AdvertiseKeys::decode(p, m).ok());
            assert!(
                real.is_some_and(|a| a.c_pk == k.c_pk && a.s_pk == k.s_pk),
                "accepted keys client {} never advertised",
                k.index
            );
        }
    }
    let Ok(sk) = ShareKeys::decode(p, out) else {
        panic!("sent a ShareKeys that does not decode");
    };
    assert_eq!(sk.session, kb.session, "ShareKeys for another session");
    let to: Vec<ClientIndex> = sk.ciphertexts.iter().map(|(v, _)| *v).collect();
    let want: Vec<ClientIndex> = kb
        .keys
        .iter()
        .map(|k| k.index)
        .filter(|&v| v != 1)
        .collect();
    assert_eq!(to, want, "shares not sent to exactly the broadcast's peers");
    if p.is_malicious() {
        let parts = shares_parts(&sk.session, 1, &sk.key_commitments, &sk.seed_commitments);
        assert!(
            sk.signature.is_some_and(|sig| signed_by(
                tr,
                1,
                labels::SIG_SHARES,
                &parts.parts(),
                &sig
            )),
            "ShareKeys without a valid signature on its commitments"
        );
    }
}

/// Client 1 accepted `msg` as its share delivery and answered `out`.
fn check_masked_input(p: &Params, tr: &ClientTranscript, msg: &[u8], out: &[u8]) {
    let (Ok(sd), Ok(real), Ok(kb)) = (
        ShareDelivery::decode(p, msg),
        ShareDelivery::decode(p, &tr.delivery),
        KeyBroadcast::decode(p, &tr.broadcast),
    ) else {
        panic!("accepted a delivery that does not decode");
    };
    assert_eq!(
        sd.session, kb.session,
        "accepted a delivery for another session"
    );
    for d in &sd.shares {
        assert!(
            d.sender != 1 && kb.keys.iter().any(|k| k.index == d.sender),
            "accepted an unknown sender"
        );
        // Malicious model: the commitments accepted are the ones the
        // sender dealt (and signed); a sender that dealt none is refused.
        if p.is_malicious() {
            let dealt = tr
                .dealt
                .get(&d.sender)
                .and_then(|m| ShareKeys::decode(p, m).ok());
            assert!(
                dealt.is_some_and(|sk| sk.key_commitments == d.key_commitments
                    && sk.seed_commitments == d.seed_commitments),
                "accepted commitments client {} never dealt",
                d.sender
            );
        }
    }
    assert!(
        sd.shares.len() + 1 >= p.threshold_usize(),
        "accepted fewer than t"
    );
    let Ok(mi) = MaskedInput::decode(p, out) else {
        panic!("sent a MaskedInput that does not decode");
    };
    assert_eq!(mi.session, kb.session, "MaskedInput for another session");
    assert_eq!(
        mi.masked.len(),
        p.dim_usize(),
        "MaskedInput of the wrong length"
    );
    // A ciphertext decrypts exactly when it is the one its sender sealed for
    // this client (the AEAD binds session, sender and receiver), and its
    // shares verify exactly against the sender's own commitments.
    let forged: Vec<ClientIndex> = sd
        .shares
        .iter()
        .filter(|d| !real.shares.contains(d))
        .map(|d| d.sender)
        .collect();
    assert_eq!(
        mi.complaints, forged,
        "complaints are not exactly the forged deliveries"
    );
    // Malicious model: it signs the set it masked with, the delivery's
    // senders.
    if p.is_malicious() {
        let view: BTreeSet<ClientIndex> = sd.shares.iter().map(|d| d.sender).collect();
        let bitmap = neighbour_bitmap(&p.neighbours(&ROUND, 1), &view);
        let parts = masked_with_parts(&sd.session, 1, &bitmap);
        assert!(
            mi.signature.is_some_and(|sig| signed_by(
                tr,
                1,
                labels::SIG_MASKED_WITH,
                &parts.parts(),
                &sig
            )),
            "MaskedInput not signed over the set it masked with"
        );
    }
}

/// Client 1 (malicious model) accepted `msg` as its consistency request
/// and answered `out`.
fn check_consistency(p: &Params, tr: &ClientTranscript, msg: &[u8], out: &[u8]) {
    let (Ok(req), Ok(sd)) = (
        ConsistencyRequest::decode(p, msg),
        ShareDelivery::decode(p, &tr.delivery),
    ) else {
        panic!("accepted a consistency request that does not decode");
    };
    assert_eq!(
        req.session, sd.session,
        "accepted a consistency request for another session"
    );
    let survivors: BTreeSet<ClientIndex> = req.survivors.iter().copied().collect();
    assert!(
        survivors.contains(&1),
        "signed a survivor set without the client itself"
    );
    let view: BTreeSet<ClientIndex> = sd.shares.iter().map(|d| d.sender).collect();
    let mut named = 1;
    for v in p.neighbours(&ROUND, 1) {
        if survivors.contains(&v) {
            assert!(
                view.contains(&v),
                "signed a survivor set naming neighbour {v}, not masked with"
            );
            named += 1;
        }
    }
    assert!(
        named >= p.threshold_usize(),
        "signed a survivor set with fewer than t of its neighbourhood"
    );
    let Ok(resp) = ConsistencyResponse::decode(p, out) else {
        panic!("sent a ConsistencyResponse that does not decode");
    };
    assert_eq!(
        resp.session, sd.session,
        "ConsistencyResponse for another session"
    );
    let bitmap = index_bitmap(p.clients(), &req.survivors);
    let digest = kx::survivor_set_digest(&sd.session, p.clients(), &bitmap);
    let parts = consistency_parts(&sd.session, 1, &digest);
    assert!(
        signed_by(
            tr,
            1,
            labels::SIG_CONSISTENCY,
            &parts.parts(),
            &resp.signature
        ),
        "the consistency signature is not on the set it was sent"
    );
}

/// Client 1 accepted `msg` as its unmask request and answered `out`
/// (`signed`: whether it had signed a survivor set first, and whether that
/// was the genuine one).
fn check_unmask_response(
    p: &Params,
    tr: &ClientTranscript,
    (signed, genuine): (bool, bool),
    msg: &[u8],
    out: &[u8],
) {
    let t = p.threshold_usize();
    let (Ok(req), Ok(sd)) = (
        UnmaskRequest::decode(p, msg),
        ShareDelivery::decode(p, &tr.delivery),
    ) else {
        panic!("accepted an unmask request that does not decode");
    };
    assert_eq!(
        req.session, sd.session,
        "accepted a request for another session"
    );
    let survivors: BTreeSet<ClientIndex> = req.survivors.iter().copied().collect();
    let dropped: BTreeSet<ClientIndex> = req.dropped.iter().copied().collect();
    assert!(
        survivors.is_disjoint(&dropped),
        "accepted a peer both survived and dropped"
    );
    assert!(
        survivors.contains(&1),
        "accepted a request that drops the client itself"
    );
    assert!(survivors.len() >= t, "accepted fewer than t survivors");
    let mut view: BTreeSet<ClientIndex> = sd.shares.iter().map(|d| d.sender).collect();
    view.insert(1);
    let named: BTreeSet<ClientIndex> = survivors.union(&dropped).copied().collect();
    assert_eq!(
        named, view,
        "accepted a request that is not a partition of its view"
    );
    let Ok(resp) = UnmaskResponse::decode(p, out) else {
        panic!("sent an UnmaskResponse that does not decode");
    };
    assert_eq!(
        resp.session, sd.session,
        "UnmaskResponse for another session"
    );
    for e in &resp.shares {
        let asked = match e.kind {
            ShareKind::SelfSeed => survivors.contains(&e.owner),
            ShareKind::MaskKey => dropped.contains(&e.owner),
        };
        assert!(asked, "revealed a share that was not asked for");
    }
    let owners: BTreeSet<ClientIndex> = resp.shares.iter().map(|e| e.owner).collect();
    assert_eq!(owners, view, "did not answer exactly one share per peer");
    // Malicious model: only after signing, only the set signed (the genuine
    // one here), so exactly the honest round's answer, whatever evidence
    // came with it.
    if p.is_malicious() {
        assert!(
            signed,
            "answered an unmask request before signing a survivor set"
        );
        // Only client 1 and the corrupt clients (fewer than t in all) can
        // have signed another set: it cannot be certified.
        assert!(
            genuine,
            "answered for a survivor set only it and corrupt clients signed"
        );
        let Ok(real) = UnmaskRequest::decode(p, &tr.request) else {
            panic!("the genuine request does not decode");
        };
        assert!(
            req.survivors == real.survivors && req.dropped == real.dropped,
            "answered a request that is not the survivor set it signed"
        );
        assert!(req.evidence.is_some(), "answered without evidence");
        assert_eq!(
            out, tr.answers[3],
            "answered differently from the honest round"
        );
    }
}

// ----- Server -----

/// The server scenarios (client 1 is not special here): four semi-honest,
/// then four malicious (on the complete graph t + 1 signers certify each
/// survivor, so n = 4, t = 3 tolerates no dropout and n = 5, 6 one).
const SERVER_SHAPES: [Shape; 8] = [
    (3, 2, 0, 32, 4, None),
    (4, 2, 0, 33, 3, None),
    (5, 2, 2, 8, 5, None),
    (5, 3, 4, 64, 2, None),
    (4, 3, 0, 33, 3, Some(1)),
    (5, 3, 0, 16, 4, Some(0)),
    (7, 3, 4, 8, 3, Some(1)),
    (6, 4, 0, 64, 2, Some(1)),
];

/// The phases of a fuzzed round, in protocol order (the consistency phase
/// runs only in the malicious model).
const ADVERTISE: usize = 0;
const SHARES: usize = 1;
const MASKED: usize = 2;
const CONSISTENCY: usize = 3;
const UNMASK: usize = 4;

/// What one fuzz record does to the round.
enum Act<'a> {
    /// Send these bytes from this index.
    Raw(ClientIndex, &'a [u8]),
    /// Mutate client `j`'s own message of the phase before it is sent.
    Mutate(ClientIndex, &'a [u8]),
    /// Send client `j`'s message of the phase, mutated, from another index.
    Replay(ClientIndex, ClientIndex, &'a [u8]),
    /// Client `j` drops out before sending its message of the phase.
    Drop(ClientIndex),
}

struct Record<'a> {
    phase: usize,
    /// Delivered before the clients' own messages of the phase.
    early: bool,
    act: Act<'a>,
}

fn parse_record<'a>(inp: &mut Input<'a>, n: u32) -> Record<'a> {
    let op = inp.u8();
    let phase = if op & 0x20 != 0 {
        CONSISTENCY
    } else {
        [ADVERTISE, SHARES, MASKED, UNMASK][usize::from(op & 3)]
    };
    let early = op & 0x10 != 0;
    let j = |inp: &mut Input<'a>| u32::from(inp.u8()) % n + 1;
    let muts = |inp: &mut Input<'a>| {
        let count = usize::from(inp.u8() % 8);
        inp.bytes(3 * count)
    };
    let act = match (op >> 2) & 3 {
        0 => {
            let from = inp.index(n);
            let len = usize::from(inp.u16() % 1024);
            Act::Raw(from, inp.bytes(len))
        }
        1 => {
            let j = j(inp);
            Act::Mutate(j, muts(inp))
        }
        2 => {
            let from = inp.index(n);
            let j = j(inp);
            Act::Replay(from, j, muts(inp))
        }
        _ => Act::Drop(j(inp)),
    };
    Record { phase, early, act }
}

/// One fuzzed round as seen by the server.
struct ServerRun<'a> {
    params: Params,
    records: Vec<Record<'a>>,
    server: Server,
    /// Clients no record names, as sender or as subject: they behave
    /// honestly and nobody speaks for them.
    clean: BTreeSet<ClientIndex>,
    /// Per phase, each client's own message (before any mutation).
    genuine: [BTreeMap<ClientIndex, Vec<u8>>; 5],
    /// Per phase, the bytes the server accepted from each index.
    accepted: [BTreeMap<ClientIndex, Vec<u8>>; 5],
    /// Whether each phase's messages go to the server as one
    /// `Server::receive_all` batch.
    batched: bool,
}

impl ServerRun<'_> {
    fn dropped(&self, u: ClientIndex, phase: usize) -> bool {
        self.records
            .iter()
            .any(|r| r.phase <= phase && matches!(r.act, Act::Drop(j) if j == u))
    }

    /// Hands `msgs` (sender, bytes, whether they are its own unchanged
    /// message) to the server in order: one at a time, or as one batch
    /// through `Server::receive_all` when the run is batched, which must
    /// give the same verdicts.
    fn send_all(&mut self, phase: usize, msgs: Vec<(ClientIndex, Vec<u8>, bool)>) {
        let verdicts: Vec<Result<(), Error>> = if self.batched {
            let batch: Vec<(ClientIndex, &[u8])> =
                msgs.iter().map(|(u, m, _)| (*u, m.as_slice())).collect();
            self.server.receive_all(&batch)
        } else {
            msgs.iter()
                .map(|(u, m, _)| self.server.receive(*u, m))
                .collect()
        };
        assert_eq!(verdicts.len(), msgs.len(), "one verdict per message");
        for ((from, bytes, own), verdict) in msgs.into_iter().zip(verdicts) {
            self.judge(phase, from, bytes, own, verdict);
        }
    }

    /// Checks the server's verdict on one message.
    fn judge(
        &mut self,
        phase: usize,
        from: ClientIndex,
        bytes: Vec<u8>,
        own: bool,
        verdict: Result<(), Error>,
    ) {
        match verdict {
            Ok(()) => match self.accepted[phase].get(&from) {
                // A byte-identical resend is a no-op (spec/protocol.md
                // section 5.1); anything else accepted twice is a bug.
                Some(first) => assert!(
                    *first == bytes,
                    "accepted two different messages from {from} in one phase"
                ),
                None => {
                    self.accepted[phase].insert(from, bytes);
                }
            },
            Err(e) => {
                assert!(
                    matches!(e, Error::Client { index, outcome, .. }
                        if index == from && outcome != Outcome::Aborted),
                    "rejection does not name the sender {from}: {e:?}"
                );
                assert!(
                    !(own && self.clean.contains(&from)),
                    "refused honest client {from}: {e:?}"
                );
            }
        }
    }

    /// The messages of the records of `phase` (early or late ones), in
    /// order.
    fn records_of(&self, phase: usize, early: bool) -> Vec<(ClientIndex, Vec<u8>, bool)> {
        let mut out = Vec::new();
        for r in self
            .records
            .iter()
            .filter(|r| r.phase == phase && r.early == early)
        {
            match &r.act {
                Act::Raw(from, b) => out.push((*from, b.to_vec(), false)),
                Act::Replay(from, j, ops) => {
                    if let Some(m) = self.genuine[phase].get(j) {
                        let mut m = m.clone();
                        mutate(&mut m, ops);
                        out.push((*from, m, false));
                    }
                }
                Act::Mutate(..) | Act::Drop(_) => {}
            }
        }
        out
    }

    /// Delivers one phase: early records, each client's own (possibly
    /// mutated) message, late records.
    fn deliver(&mut self, phase: usize) {
        let mut msgs = self.records_of(phase, true);
        let own: Vec<(ClientIndex, Vec<u8>)> = self.genuine[phase]
            .iter()
            .map(|(&u, m)| {
                let mut m = m.clone();
                for r in &self.records {
                    if let (true, Act::Mutate(j, ops)) = (r.phase == phase, &r.act)
                        && *j == u
                    {
                        mutate(&mut m, ops);
                    }
                }
                (u, m)
            })
            .collect();
        for (u, m) in own {
            let unchanged = self.genuine[phase].get(&u) == Some(&m);
            msgs.push((u, m, unchanged));
        }
        msgs.extend(self.records_of(phase, false));
        self.send_all(phase, msgs);
    }

    /// Whether the server accepted client `u`'s own message of `phase`,
    /// unchanged.
    fn own(&self, u: ClientIndex, phase: usize) -> bool {
        self.genuine[phase]
            .get(&u)
            .is_some_and(|g| self.accepted[phase].get(&u) == Some(g))
    }

    /// Closes the phase; `None` when the round ended with a typed abort:
    /// too few survivors, a client whose verified shares give a secret other
    /// than the key it advertised (only a client whose accepted keys or
    /// commitments were not its own: the shares were checked against its
    /// own commitments, so nobody can frame it), or a dealer too many
    /// holders complained about (the dealer or one of its accusers was
    /// tampered with).
    fn close(&mut self) -> Option<Step> {
        match self.server.close_phase() {
            Ok(step) => Some(step),
            Err(Error::NotEnoughSurvivors { .. }) => None,
            Err(Error::Client {
                index,
                fault: ClientFault::SecretMismatch,
                outcome: Outcome::Aborted,
            }) => {
                assert!(
                    !(self.own(index, ADVERTISE) && self.own(index, SHARES)),
                    "client {index} blamed for its secret, its keys and commitments its own"
                );
                None
            }
            Err(Error::Client {
                index,
                fault: ClientFault::Undecryptable { .. },
                outcome: Outcome::Aborted,
            }) => {
                let touched = self.params.clients() as usize - self.clean.len();
                assert!(
                    !self.clean.contains(&index) || touched > 0,
                    "honest client {index} ended the round with nobody tampering"
                );
                None
            }
            Err(e) => panic!("close failed: {e:?}"),
        }
    }

    fn deliveries(&mut self) -> Option<Vec<(ClientIndex, Vec<u8>)>> {
        match self.close()? {
            Step::Deliver(d) => {
                let n = self.params.clients();
                assert!(
                    d.recipients().iter().all(|u| (1..=n).contains(u)),
                    "delivery outside the roster"
                );
                Some(d.into_vec())
            }
            Step::Done(_) => panic!("round done before its last phase"),
        }
    }

    /// A client refused a message from the server.
    fn refused(&self, u: ClientIndex, e: &Error) {
        assert!(
            matches!(e, Error::Server(_)),
            "client refusal is not a server fault: {e:?}"
        );
        // An honest client can be left with too few neighbours by others'
        // dropouts in a sparse graph; any other refusal means the server
        // relayed something another client made up.
        let sparse = matches!(self.params.graph(), Graph::Harary { .. });
        let tolerated =
            sparse && matches!(e, Error::Server(ServerFault::NotEnoughNeighbours { .. }));
        assert!(
            !self.clean.contains(&u) || tolerated,
            "honest client {u} refused: {e:?}"
        );
    }

    fn run(mut self, scenario: usize, ids: &(Vec<Identity>, Roster)) {
        let p = self.params.clone();
        let n = p.clients();
        let mut rngs: BTreeMap<ClientIndex, DetRng> =
            (1..=n).map(|u| (u, party_rng(scenario + 16, u))).collect();

        let mut s0 = BTreeMap::new();
        for (&u, rng) in &mut rngs {
            if self.dropped(u, ADVERTISE) {
                continue;
            }
            if let Ok((st, msg)) = start_client(&p, u, ids, rng) {
                self.genuine[ADVERTISE].insert(u, msg);
                s0.insert(u, st);
            }
        }
        self.deliver(ADVERTISE);
        let Some(d) = self.deliveries() else { return };

        let mut s1 = BTreeMap::new();
        for (u, msg) in d {
            let (Some(mut st), Some(rng)) = (s0.remove(&u), rngs.get_mut(&u)) else {
                continue;
            };
            if self.dropped(u, SHARES) {
                continue;
            }
            match st.receive(&msg, rng) {
                Ok((st, out)) => {
                    self.genuine[SHARES].insert(u, out);
                    s1.insert(u, st);
                }
                Err(e) => self.refused(u, &e),
            }
        }
        self.deliver(SHARES);
        let Some(d) = self.deliveries() else { return };

        let mut s2 = BTreeMap::new();
        let mut masked: BTreeMap<ClientIndex, Vec<u64>> = BTreeMap::new();
        for (u, msg) in d {
            let Some(st) = s1.remove(&u) else { continue };
            if self.dropped(u, MASKED) {
                continue;
            }
            let mut st: AwaitingShares = st;
            match st.receive(&msg, &input_of(&p, u)) {
                Ok((st, out)) => {
                    let Ok(mi) = MaskedInput::decode(&p, &out) else {
                        panic!("client {u} sent a MaskedInput that does not decode");
                    };
                    masked.insert(u, mi.masked.clone());
                    self.genuine[MASKED].insert(u, out);
                    s2.insert(u, st);
                }
                Err(e) => self.refused(u, &e),
            }
        }
        self.deliver(MASKED);
        let Some(mut d) = self.deliveries() else {
            return;
        };

        if p.is_malicious() {
            let mut signed = BTreeMap::new();
            for (u, msg) in d {
                let Some(mut st) = s2.remove(&u) else {
                    continue;
                };
                if self.dropped(u, CONSISTENCY) {
                    continue;
                }
                let st_ref: &mut AwaitingUnmask = &mut st;
                match st_ref.consistency(&msg) {
                    Ok(out) => {
                        self.genuine[CONSISTENCY].insert(u, out);
                        signed.insert(u, st);
                    }
                    Err(e) => self.refused(u, &e),
                }
            }
            s2 = signed;
            self.deliver(CONSISTENCY);
            let Some(next) = self.deliveries() else {
                return;
            };
            d = next;
        }

        for (u, msg) in d {
            let Some(st) = s2.remove(&u) else { continue };
            if self.dropped(u, UNMASK) {
                continue;
            }
            let mut st: AwaitingUnmask = st;
            match st.receive(&msg) {
                Ok(out) => {
                    self.genuine[UNMASK].insert(u, out);
                }
                Err(e) => self.refused(u, &e),
            }
        }
        self.deliver(UNMASK);
        let Some(step) = self.close() else { return };
        let Step::Done(agg) = step else {
            panic!("no result after the last phase");
        };

        // U3 is exactly the senders whose masked input was accepted.
        let accepted_inputs: Vec<ClientIndex> = self.accepted[MASKED].keys().copied().collect();
        assert_eq!(
            agg.survivors, accepted_inputs,
            "survivors are not the accepted inputs"
        );
        // Attribution: names roster members once each, and a bad share is
        // never blamed on a holder whose own answer was accepted unchanged
        // (every share it holds passed its dealer's commitments, the same
        // commitments the server checks a share against when the secret
        // rebuilt from the first t failed its C_0). A wrong share outside
        // the first t of a secret that passed is not checked, so a liar may
        // go unnamed: this asserts no more than that nobody is framed.
        let blamed: Vec<ClientIndex> = agg.misbehaved.iter().map(|(u, _)| *u).collect();
        assert!(
            blamed.windows(2).all(|w| w[0] < w[1]),
            "misbehaved not ascending"
        );
        assert!(
            blamed.iter().all(|u| (1..=n).contains(u)),
            "blamed outside the roster"
        );
        for (u, fault) in &agg.misbehaved {
            if let ClientFault::BadShare { .. } = fault {
                assert!(
                    !self.own(*u, UNMASK),
                    "client {u} blamed for a share it sent unchanged"
                );
            }
            assert!(
                !matches!(fault, ClientFault::SecretMismatch),
                "SecretMismatch recorded in a finished round"
            );
        }
        // The sum: every survivor contributes its input plus whatever the
        // accepted masked vector differs from the one it computed. Only a
        // survivor that computed none (its index was taken over) makes the
        // sum unpredictable.
        let bits = p.bits();
        let mut want = vec![0u64; p.dim_usize()];
        for u in &agg.survivors {
            let (Some(real), Some(sent)) = (masked.get(u), self.accepted[MASKED].get(u)) else {
                return;
            };
            let Ok(sent) = MaskedInput::decode(&p, sent) else {
                panic!("accepted a MaskedInput that does not decode");
            };
            sum_mod(&mut want, &input_of(&p, *u), bits);
            sum_mod(&mut want, &sent.masked, bits);
            sub_mod(&mut want, real, bits);
        }
        assert_eq!(agg.sum, want, "the sum is not the survivors' inputs");
    }
}

/// Fuzzes the server with arbitrary client messages from arbitrary indices
/// in every phase, around a round of real clients.
///
/// First byte: the scenario in its low 7 bits (semi-honest shapes, then
/// malicious ones, whose honest round runs the consistency phase between
/// MaskedInput and Unmask); its top bit hands each phase's messages to the
/// server as one `Server::receive_all` batch instead of one by one. Then records, each an op byte (bits 0..2 the phase: R0, R1, R2,
/// Unmask; bit 5 set: the consistency phase instead; bits 2..4 the kind,
/// bit 4 early) and its operands: raw bytes from an index (`0`, `n + 1` and
/// any `u32` included), a mutation of a client's own message, a replay of
/// one client's message from another index, or a dropout. Every rejection
/// must name its sender; no honest client that nobody impersonated is
/// refused or refuses; the round ends with the exact sum of its survivors
/// (their accepted masked vectors taken at face value) or a typed abort;
/// and no holder whose answer was its own is named `BadShare`, no dealer
/// whose keys and commitments were its own `SecretMismatch` (strict: every
/// secret is checked against its dealer's own `C_0`, and when that fails
/// every share of it against the dealer's own commitments).
pub fn server(data: &[u8]) {
    let mut inp = Input(data);
    let first = inp.u8();
    let scenario = usize::from(first & 0x7f) % SERVER_SHAPES.len();
    let batched = first & 0x80 != 0;
    let Some(params) = shape_params(&SERVER_SHAPES[scenario]) else {
        return;
    };
    let n = params.clients();
    let mut records = Vec::new();
    while !inp.is_empty() && records.len() < 64 {
        records.push(parse_record(&mut inp, n));
    }
    let mut clean: BTreeSet<ClientIndex> = (1..=n).collect();
    for r in &records {
        match r.act {
            Act::Raw(from, _) => clean.remove(&from),
            Act::Mutate(j, _) | Act::Drop(j) => clean.remove(&j),
            Act::Replay(from, j, _) => {
                clean.remove(&from);
                clean.remove(&j)
            }
        };
    }
    let Some(ids) = identities(&params, scenario as u64 + 16) else {
        return;
    };
    let Some(server) = start_server(&params, &ids, &mut party_rng(scenario + 16, 0)) else {
        return;
    };
    ServerRun {
        params,
        records,
        server,
        clean,
        genuine: Default::default(),
        accepted: Default::default(),
        batched,
    }
    .run(scenario, &ids);
}

// ----- Shamir -----

/// `f(x)` for the polynomial through `points` (distinct x), by Lagrange.
fn eval_at(points: &[(Scalar, Scalar)], x: Scalar) -> Scalar {
    let mut acc = Scalar::ZERO;
    for (i, (xi, yi)) in points.iter().enumerate() {
        let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
        for (j, (xj, _)) in points.iter().enumerate() {
            if i != j {
                num *= x - xj;
                den *= xi - xj;
            }
        }
        acc += yi * num * den.invert();
    }
    acc
}

/// Fuzzes verifiable Shamir sharing: splitting with Feldman commitments,
/// the share check against them, and reconstruction from checked shares.
///
/// Input: t (1..=7), the number of shares (0..=12), the secret, the
/// x-coordinates (any `u32`, zero and repeats included), an RNG seed, then
/// corruptions (add to a share's y, replace it, or move its x). Splitting
/// must refuse x = 0 (that share would be the secret). A share must pass the
/// check exactly when it lies on the dealt polynomial, and any t shares
/// that pass, with distinct x, must interpolate to the secret: a holder is
/// blamed only for a share off the polynomial, and reconstruction never
/// needs an error-correcting decoder.
pub fn shamir(data: &[u8]) {
    let mut inp = Input(data);
    let t = 1 + usize::from(inp.u8() % 7);
    let count = usize::from(inp.u8() % 13);
    let secret = Scalar::from_bytes_mod_order(inp.array32());
    let xs: Vec<u32> = (0..count).map(|_| inp.index(250)).collect();
    let mut rng = DetRng::new(u64::from(inp.u8()));
    let Ok((genuine, commitments)) = feldman::split_committed(&secret, t, &xs, &mut rng) else {
        return;
    };
    assert!(!xs.contains(&0), "split handed out the share at x = 0");
    assert_eq!(
        genuine.len(),
        xs.len(),
        "split returned the wrong number of shares"
    );
    assert!(
        genuine.iter().zip(&xs).all(|(s, x)| s.x == *x),
        "split moved the x-coordinates"
    );
    assert!(
        feldman::constant_term(&commitments)
            == curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT * secret,
        "the constant-term commitment is not secret * G"
    );

    let mut shares = genuine.clone();
    while !inp.is_empty() && !shares.is_empty() {
        let i = usize::from(inp.u8()) % shares.len();
        match inp.u8() % 3 {
            0 => shares[i].y += Scalar::from(inp.u32()),
            1 => shares[i].y = Scalar::from_bytes_mod_order(inp.array32()),
            _ => shares[i].x = inp.index(250),
        }
    }
    let genuine_xs: BTreeSet<u32> = xs.iter().copied().collect();
    if genuine_xs.len() != xs.len() || count < t {
        return;
    }
    let points: Vec<(Scalar, Scalar)> = genuine
        .iter()
        .take(t)
        .map(|s| (Scalar::from(s.x), s.y))
        .collect();
    assert!(
        eval_at(&points, Scalar::ZERO) == secret,
        "split's shares do not interpolate"
    );
    let mut passed: Vec<shamir::Share> = Vec::new();
    for s in &shares {
        let on = s.x != 0 && eval_at(&points, Scalar::from(s.x)) == s.y;
        let ok = feldman::verify_share(&commitments, s.x, &s.y);
        assert_eq!(ok, on, "the share check disagrees with the polynomial");
        if ok && passed.iter().all(|p| p.x != s.x) {
            passed.push(s.clone());
        }
    }
    if passed.len() >= t {
        let got = shamir::interpolate_at_zero(&passed[..t]);
        assert!(
            got.is_ok_and(|g| g == secret),
            "checked shares did not give the secret"
        );
    }
}

// ----- Seeds -----

/// Seed inputs for the fuzz target `target`: genuine messages and honest
/// rounds in each target's input format, so that fuzzing starts deep. They
/// are written to fuzz/corpus/ by `tests/api/fuzz_corpus.rs` and replayed
/// with it.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "decode_params" => decode_params_seeds(),
        "decode_dp_config" => crate::dp::fuzzing::seeds(),
        "client" => client_seeds(),
        "server" => server_seeds(),
        "shamir" => shamir_seeds(),
        "decode_client_state" => state_seeds().0,
        "decode_server_state" => state_seeds().1,
        _ => message_seeds(target),
    }
}

fn decode_params_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for shape in CLIENT_SCENARIOS.iter().map(|s| s.0).chain(SERVER_SHAPES) {
        if let Some(p) = shape_params(&shape) {
            out.push(p.to_bytes());
            // The same parameters with the AES-128-CTR mask PRG (extension 2).
            out.push(p.with_prg(crate::Prg::Aes128Ctr).to_bytes());
        }
    }
    out
}

fn client_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (s, tr) in client_transcripts().iter().enumerate() {
        let Some(tr) = tr else { continue };
        for (state, msg) in [&tr.broadcast, &tr.delivery, &tr.consistency, &tr.request]
            .into_iter()
            .enumerate()
        {
            let sel = ((s as u8) << 2) | state as u8;
            out.push([&[sel][..], msg].concat());
            // One flipped byte in the last field, in mutation mode; the
            // message cut by one byte (it no longer decodes; the genuine one
            // follows).
            let pos = u16::try_from(msg.len().saturating_sub(1))
                .unwrap_or(0)
                .to_le_bytes();
            out.push(vec![sel | 0x80, pos[0], pos[1], 1]);
            out.push(vec![sel | 0x80, pos[0], pos[1], 0]);
        }
        if tr.params.is_malicious() {
            // Equivocation mode: the genuine unmask request before any
            // survivor set was signed (an empty consistency request); after
            // the genuine one; after one with client 4's bit flipped.
            let sel = ((s as u8) << 2) | 3 | 0x40;
            out.push([&[sel, 0, 0][..], &tr.request].concat());
            let len = u16::try_from(tr.consistency.len())
                .unwrap_or(0)
                .to_le_bytes();
            out.push([&[sel, len[0], len[1]][..], &tr.consistency, &tr.request].concat());
            let pos = u16::try_from(tr.consistency.len().saturating_sub(1))
                .unwrap_or(0)
                .to_le_bytes();
            out.push(vec![sel | 0x80, 3, 0, pos[0], pos[1], 0x08]);
            // A byte of the evidence's last consistency signature flipped.
            let pos = u16::try_from(tr.request.len().saturating_sub(40))
                .unwrap_or(0)
                .to_le_bytes();
            out.push(vec![((s as u8) << 2) | 3 | 0x80, pos[0], pos[1], 0x20]);
        }
    }
    out
}

fn server_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in 0..SERVER_SHAPES.len() as u8 {
        // An honest round; one with a flipped byte in each phase's message of
        // client 2; garbage from an unknown index; a dropout after R1.
        out.push(vec![s]);
        // Op bits 0..2 and 5: R0, R1, R2, Unmask, consistency; the message
        // type each phase's garbage header names.
        for (op, msg_type) in [
            (0u8, kind::ADVERTISE_KEYS),
            (1, kind::SHARE_KEYS),
            (2, kind::MASKED_INPUT),
            (3, kind::UNMASK_RESPONSE),
            (0x20, kind::CONSISTENCY_RESPONSE),
        ] {
            out.push(vec![s, op | (1 << 2), 1, 1, 40, 0, 0x10]);
            out.push(vec![
                s,
                op | 0x10,
                0xf0,
                0xff,
                0xff,
                0xff,
                0xff,
                4,
                0,
                VERSION,
                msg_type,
                0,
                0,
            ]);
            // Client 3's message replayed from client 1's index, early.
            out.push(vec![s, op | 0x10 | (2 << 2), 1, 2, 0]);
        }
        out.push(vec![s, 2 | (3 << 2), 2]);
        out.push(vec![s, 0x10 | 3 | (2 << 2), 1, 1, 1, 34, 0, 0x40]);
        // A dropout during the consistency phase.
        out.push(vec![s, 0x20 | (3 << 2), 3]);
    }
    out
}

fn shamir_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (t, n, corrupt) in [(3u8, 5u8, 0u8), (3, 7, 2), (2, 2, 0), (4, 12, 4)] {
        let mut d = vec![t - 1, n];
        d.extend_from_slice(&[0x5a; 32]);
        d.extend(1..=n);
        d.push(9);
        for i in 0..corrupt {
            d.extend_from_slice(&[i, 0, 1, 0, 0, 0]);
        }
        out.push(d);
    }
    out
}

/// Genuine messages of each type under a few [`small_params`] selectors.
/// `t` valid commitments: multiples of the Ristretto base point.
fn points(t: usize) -> Vec<[u8; 32]> {
    let g = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
    (0..t)
        .map(|j| (g * Scalar::from(j as u64)).compress().to_bytes())
        .collect()
}

fn message_seeds(target: &str) -> Vec<Vec<u8>> {
    use crate::protocol::messages::{ClientKeys, DeliveredShares, ShareEntry};
    let mut out = Vec::new();
    // Semi-honest, then malicious (bit 7): every n, several b and m.
    for sel in [0x01u8, 0x16, 0x32, 0x7d, 0x4b, 0x80, 0x95, 0xb2, 0xfe, 0xcb] {
        let Some(p) = small_params(sel) else { continue };
        let n = p.clients();
        let t = p.threshold_usize();
        let sig = |b: u8| p.is_malicious().then_some([b; 64]);
        let idx: Vec<ClientIndex> = [1, 2, n]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let top = vector::mask(p.bits());
        let msg = match target {
            "decode_advertise_keys" => AdvertiseKeys {
                round: ROUND,
                c_pk: [1; 32],
                s_pk: [2; 32],
                signature: sig(3),
            }
            .to_bytes(),
            "decode_key_broadcast" => KeyBroadcast {
                session: [3; 32],
                keys: idx
                    .iter()
                    .map(|&i| ClientKeys {
                        index: i,
                        c_pk: [i as u8; 32],
                        s_pk: [i as u8 ^ 0x40; 32],
                        signature: sig(i as u8),
                    })
                    .collect(),
            }
            .to_bytes(),
            "decode_share_keys" => ShareKeys {
                session: [4; 32],
                key_commitments: points(t),
                seed_commitments: points(t),
                signature: sig(5),
                ciphertexts: idx
                    .iter()
                    .map(|&i| (i, [i as u8; CIPHERTEXT_LEN]))
                    .collect(),
            }
            .to_bytes(),
            "decode_share_delivery" => ShareDelivery {
                session: [6; 32],
                shares: idx
                    .iter()
                    .map(|&i| DeliveredShares {
                        sender: i,
                        key_commitments: points(t),
                        seed_commitments: points(t),
                        signature: sig(i as u8 ^ 9),
                        ciphertext: [i as u8 ^ 7; CIPHERTEXT_LEN],
                    })
                    .collect(),
            }
            .to_bytes(),
            "decode_masked_input" => MaskedInput {
                session: [8; 32],
                complaints: idx[1..].to_vec(),
                signature: sig(8),
                bits: p.bits(),
                masked: (0..u64::from(p.dim()))
                    .map(|j| j.wrapping_mul(0x9e37_79b9_7f4a_7c15) & top)
                    .collect(),
            }
            .to_bytes(),
            "decode_unmask_request" => {
                let survivors = idx[..idx.len() - 1].to_vec();
                // A masking set over k neighbours: all bits set but the
                // padding.
                let k = p.degree() as usize;
                let mut bitmap = vec![0xffu8; k.div_ceil(8)];
                if let Some(last) = bitmap.last_mut()
                    && !k.is_multiple_of(8)
                {
                    *last = (1u8 << (k % 8)) - 1;
                }
                UnmaskRequest {
                    session: [9; 32],
                    evidence: p.is_malicious().then(|| Evidence {
                        masking_sets: survivors
                            .iter()
                            .map(|&o| MaskingSet {
                                owner: o,
                                bitmap: bitmap.clone(),
                                signature: [o as u8; 64],
                            })
                            .collect(),
                        signatures: idx.iter().map(|&i| (i, [i as u8 ^ 3; 64])).collect(),
                    }),
                    survivors,
                    dropped: idx[idx.len() - 1..].to_vec(),
                }
                .to_bytes()
            }
            "decode_unmask_response" => UnmaskResponse {
                session: [10; 32],
                shares: idx
                    .iter()
                    .map(|&i| ShareEntry {
                        owner: i,
                        kind: if i == 1 {
                            ShareKind::MaskKey
                        } else {
                            ShareKind::SelfSeed
                        },
                        share: Scalar::from(u64::from(i) * 0x1234_5678),
                    })
                    .collect(),
            }
            .to_bytes(),
            "decode_consistency_request" => ConsistencyRequest {
                session: [11; 32],
                clients: n,
                survivors: idx.clone(),
            }
            .to_bytes(),
            "decode_consistency_response" => ConsistencyResponse {
                session: [12; 32],
                signature: [13; 64],
            }
            .to_bytes(),
            _ => return Vec::new(),
        };
        out.push([&[sel][..], &msg].concat());
    }
    out
}

// ----- Exported state (spec/state.md) -----

/// The most clients a fuzzed state may name. Decoding a state rebuilds the
/// neighbour graph and the client's neighbour list, O(n) in the parameters'
/// n (up to `MAX_CLIENTS` = 2^24), which is the cost of the state itself,
/// not of its bytes: only the holder of the storage key can present a
/// plaintext (spec/state.md). Without this bound a 400-byte input naming
/// the complete graph on 2^24 clients spends seconds per execution
/// (regression `timeout_complete_graph_max_clients`).
const STATE_MAX_CLIENTS: u32 = 1 << 12;

fn state_in_scope(data: &[u8]) -> bool {
    crate::protocol::state::plaintext_params(data).is_none_or(|p| p.clients() <= STATE_MAX_CLIENTS)
}

/// Fuzzes the plaintext decoder of a [`crate::Client`]'s exported state
/// (the sealed envelope would stop every input): a state that decodes must
/// re-encode to exactly its input. States naming more than 4096 clients are
/// skipped (their decode is O(n) by design).
pub fn decode_client_state(data: &[u8]) {
    if !state_in_scope(data) {
        return;
    }
    if let Some(again) = crate::protocol::state::client_roundtrip(data) {
        assert!(
            again[..] == *data,
            "client state decode then encode changed the bytes"
        );
    }
}

/// Fuzzes the plaintext decoder of a [`Server`]'s exported state: a state
/// that decodes must re-encode to exactly its input. States naming more
/// than 4096 clients are skipped, as for [`decode_client_state`].
pub fn decode_server_state(data: &[u8]) {
    if !state_in_scope(data) {
        return;
    }
    if let Some(again) = crate::protocol::state::server_roundtrip(data) {
        assert!(
            again[..] == *data,
            "server state decode then encode changed the bytes"
        );
    }
}

/// The plaintexts of every client's and the server's state at every phase
/// of two honest rounds, semi-honest and malicious (c = 0), each with
/// client 5 dropping after R1.
pub(crate) fn state_seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    use crate::protocol::host::Client;
    use crate::protocol::state::{plaintext_of_client, plaintext_of_server};
    let mut clients_out = Vec::new();
    let mut server_out = Vec::new();
    for (label, shape) in [
        (1u64, (5, 3, 0, 16, 3, None)),
        (2, (5, 3, 4, 16, 3, Some(0))),
    ] {
        let Some(p) = shape_params(&shape) else {
            continue;
        };
        let Some(ids) = identities(&p, label) else {
            continue;
        };
        let mut rng = DetRng::new(0x57 << 56 | label);
        let Some(mut server) = start_server(&p, &ids, &mut rng) else {
            continue;
        };
        let mut clients = Vec::new();
        for u in 1..=p.clients() {
            let started = match ids.0.get(u as usize - 1) {
                Some(id) => Client::with_identity(&p, ROUND, u, id, &ids.1, &mut rng),
                None => Client::new(&p, ROUND, u, &mut rng),
            };
            let Ok((mut c, msg)) = started else { continue };
            let _ = c.set_input(&vec![u64::from(u); p.dim_usize()]);
            let _ = server.receive(u, &msg);
            clients.push(c);
        }
        let mut closes = 0;
        loop {
            server_out.push(plaintext_of_server(&server).to_vec());
            clients_out.extend(clients.iter().map(|c| plaintext_of_client(c).to_vec()));
            let Ok(Step::Deliver(out)) = server.close_phase() else {
                server_out.push(plaintext_of_server(&server).to_vec());
                break;
            };
            closes += 1;
            for (u, bytes) in out {
                if u == 5 && closes >= 2 {
                    continue;
                }
                if let Some(c) = clients.get_mut(u as usize - 1)
                    && let Ok(reply) = c.receive(&bytes, &mut rng)
                {
                    let _ = server.receive(u, &reply);
                }
            }
        }
    }
    (clients_out, server_out)
}
