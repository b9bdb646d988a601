//! The intermediate values of the conformance vectors
//! (protocols/v2/intermediates, spec/conformance.md section 5).
//!
//! Test-only. For every honest round of protocols/v2 this module re-derives,
//! from the file's `rng_seed` alone and in the draw order of
//! spec/conformance.md section 2, every secret and intermediate value the
//! public API keeps hidden: the identities' secret keys, the server nonce,
//! each client's `c_sk`, mask key `a_u`, `s_sk`, self-mask seed `b_u`, both
//! polynomials, their Feldman commitments, the shares dealt to each holder,
//! the pairwise keys (share-encryption key, pairwise mask key), the self-mask
//! key and masks. [`intermediates_match_their_files`] compares the derivation
//! with protocols/v2/intermediates/<name>.json (with
//! `SECAGG_REGEN_VECTORS=1` it writes the files), and
//! [`intermediates_explain_the_transcripts`] checks that the values *recorded
//! in those files* explain every byte of the round's messages: the public
//! keys, the session id, the commitments, every ciphertext (it opens under
//! the recorded key to the recorded shares), every masked input (input plus
//! self-mask plus pairwise masks from the recorded keys) and every share
//! revealed in Unmask. A wrong intermediate fails that check
//! ([`a_wrong_intermediate_fails_the_check`]).
//!
//! The derivation draws from the stream itself and evaluates and commits the
//! polynomials itself, following the spec rather than calling the client:
//! what it finds is what an independent implementation finds from spec/.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chacha20::ChaCha20Rng;
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use rand_core::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use x25519_dalek::StaticSecret;

use crate::codec::Decode;
use crate::crypto::{aead, kx, prg};
use crate::error::ClientIndex;
use crate::params::Params;
use crate::protocol::messages::{
    AdvertiseKeys, KeyBroadcast, MaskedInput, ShareDelivery, ShareKeys, ShareKind, UnmaskResponse,
};
use crate::{Identity, vector};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/protocols/v2");

/// The rounds whose intermediates are recorded: every honest round of
/// protocols/v2 in which a key broadcast happens (complete and Harary
/// graphs, both server models, dropouts at every phase, aborts, the edge
/// widths, both mask PRGs). `complete_n5_t3_b32_m8_abort_advertise` is left out: it ends
/// before any session exists.
const ROUNDS: [&str; 15] = [
    "complete_n5_t3_b32_m8_drop1",
    "complete_n5_t3_b32_m8_drop1_aes",
    "complete_n5_t3_b32_m8_abort",
    "complete_n5_t3_b32_m8_abort_masked",
    "complete_n5_t3_b32_m8_abort_unmask",
    "complete_n5_t3_b33_m8_drop1",
    "complete_n5_t3_b13_m7_drop1",
    "harary_n20_k6_t4_b16_m16_drops",
    "complete_n5_t3_b1_m13_drop1",
    "complete_n5_t3_b40_m8_drop1",
    "complete_n5_t3_b64_m8_wrap",
    "complete_n5_t3_b8_m0_drop1",
    "malicious_complete_n9_t6_c1_b32_m8_drops",
    "malicious_complete_n7_t6_c1_b32_m8_abort",
    "malicious_harary_n20_k6_t5_c1_b16_m16_drops",
];

/// The check's verdict: `Err` names the first value that does not fit.
type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut acc, b| {
        let _ = write!(acc, "{b:02x}");
        acc
    })
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {text}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("bad hex {text}"))
        })
        .collect()
}

fn hex32(v: &Value) -> Result<[u8; 32], String> {
    let text = v.as_str().ok_or_else(|| format!("not a hex string: {v}"))?;
    unhex(text)?
        .try_into()
        .map_err(|_| format!("not 32 bytes: {text}"))
}

fn scalar_of(v: &Value) -> Result<Scalar, String> {
    Option::from(Scalar::from_canonical_bytes(hex32(v)?))
        .ok_or_else(|| format!("not a canonical scalar: {v}"))
}

fn index_of(v: &Value) -> Result<ClientIndex, String> {
    v.as_u64()
        .and_then(|x| u32::try_from(x).ok())
        .ok_or_else(|| format!("not an index: {v}"))
}

fn indices_of(v: &Value) -> Result<Vec<ClientIndex>, String> {
    v.as_array()
        .ok_or_else(|| format!("not an array: {v}"))?
        .iter()
        .map(index_of)
        .collect()
}

fn path_of(dir: &str, name: &str) -> PathBuf {
    Path::new(dir).join(format!("{name}.json"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (SECAGG_REGEN_VECTORS=1 writes it)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One message of a vector file, decoded just enough to walk it.
struct Msg<'a> {
    phase: &'a str,
    from: Option<ClientIndex>,
    to: Option<ClientIndex>,
    injected: bool,
    bytes: Vec<u8>,
}

fn messages(v: &Value) -> Result<Vec<Msg<'_>>, String> {
    let list = v["messages"].as_array().ok_or("no messages")?;
    list.iter()
        .map(|m| {
            Ok(Msg {
                phase: m["phase"].as_str().ok_or("no phase")?,
                from: index_of(&m["from"]).ok(),
                to: index_of(&m["to"]).ok(),
                injected: m["tampered"] == "injected",
                bytes: unhex(m["hex"].as_str().ok_or("no hex")?)?,
            })
        })
        .collect()
}

fn params_of(v: &Value) -> Result<Params, String> {
    let bytes = unhex(v["params"]["params_hex"].as_str().ok_or("no params_hex")?)?;
    Params::decode(&bytes).map_err(|e| format!("params: {e}"))
}

/// The test stream, counting what it hands out.
struct Stream {
    rng: ChaCha20Rng,
    used: usize,
    draws: Vec<Value>,
}

impl Stream {
    fn draw<const N: usize>(&mut self, who: String, what: &str) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        self.draws.push(json!({
            "offset": self.used, "bytes": N, "who": who, "what": what,
        }));
        self.used += N;
        out
    }

    /// 64 bytes read as a little-endian integer and reduced mod `l`.
    fn scalar(&mut self, who: String, what: &str) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&self.draw::<64>(who, what))
    }
}

/// `f(x)` for the coefficients `coeffs` (of `X^0` first), by Horner's rule.
fn eval(coeffs: &[Scalar], x: ClientIndex) -> Scalar {
    let x = Scalar::from(x);
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// Feldman commitments: the compressed Ristretto points `c_j G`.
fn commit(coeffs: &[Scalar]) -> Vec<String> {
    coeffs
        .iter()
        .map(|c| hex((RISTRETTO_BASEPOINT_POINT * c).compress().as_bytes()))
        .collect()
}

fn scalars_hex(s: &[Scalar]) -> Vec<String> {
    s.iter().map(|c| hex(c.as_bytes())).collect()
}

/// What one client drew in R0.
struct Keys {
    c_sk: [u8; 32],
    c_pk: [u8; 32],
    mask_key: Scalar,
    s_sk: [u8; 32],
    s_pk: [u8; 32],
}

/// The server message of `phase` delivered to `to`, if any.
fn delivered<'m>(msgs: &'m [Msg<'_>], phase: &str, to: ClientIndex) -> Option<&'m [u8]> {
    msgs.iter()
        .find(|m| m.phase == phase && m.to == Some(to))
        .map(|m| m.bytes.as_slice())
}

/// The first (not injected) message `from` sent in `phase`.
fn sent<'m>(msgs: &'m [Msg<'_>], phase: &str, from: ClientIndex) -> Option<&'m [u8]> {
    msgs.iter()
        .find(|m| m.phase == phase && m.from == Some(from) && !m.injected)
        .map(|m| m.bytes.as_slice())
}

fn input_of(v: &Value, u: ClientIndex) -> Result<Vec<u64>, String> {
    v["inputs"][u as usize - 1]
        .as_array()
        .ok_or("no input")?
        .iter()
        .map(|x| {
            x.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad element {x}"))
        })
        .collect()
}

/// `input + self-mask + sum over masked_with of +-pairwise mask`, mod 2^b
/// (spec/protocol.md section 4.3).
fn masked(
    prg: prg::Prg,
    input: &[u64],
    bits: u8,
    u: ClientIndex,
    self_key: &[u8; 32],
    pair_keys: &[(ClientIndex, [u8; 32])],
) -> Vec<u64> {
    let mut acc = input.to_vec();
    let add = |acc: &mut Vec<u64>, mask: Vec<u64>, plus: bool| {
        for (a, m) in acc.iter_mut().zip(mask) {
            *a = if plus {
                a.wrapping_add(m)
            } else {
                a.wrapping_sub(m)
            };
        }
    };
    add(
        &mut acc,
        prg::expand(prg, self_key, bits, input.len()),
        true,
    );
    for (v, key) in pair_keys {
        add(&mut acc, prg::expand(prg, key, bits, input.len()), u < *v);
    }
    vector::reduce(&mut acc, bits);
    acc
}

/// Re-derives the intermediates of the round file `name` from its seed.
#[allow(clippy::too_many_lines, reason = "one walk of the draw order")]
fn derive(name: &str, v: &Value) -> Result<Value, String> {
    let params = params_of(v)?;
    let malicious = params.is_malicious();
    let (n, t) = (params.clients(), params.threshold_usize());
    let seed = v["rng_seed"].as_u64().ok_or("no rng_seed")?;
    let msgs = messages(v)?;
    let mut r = Stream {
        rng: ChaCha20Rng::seed_from_u64(seed),
        used: 0,
        draws: Vec::new(),
    };
    // Steps 1 to 3: round id, identities (malicious model), server nonce.
    let round: [u8; 32] = r.draw("host".into(), "round id");
    let mut identities = Vec::new();
    if malicious {
        for u in 1..=n {
            let sk: [u8; 32] = r.draw(format!("host for client {u}"), "Ed25519 secret key");
            let pk = Identity::from_secret_bytes(&sk).public_key();
            identities.push(json!({
                "index": u, "secret_key_hex": hex(&sk), "public_key_hex": hex(&pk),
            }));
        }
    }
    let nonce: [u8; 32] = r.draw("server".into(), "server nonce");

    // Steps 4 and 5, in transcript order.
    let mut keys: BTreeMap<ClientIndex, Keys> = BTreeMap::new();
    let mut records: BTreeMap<ClientIndex, Map<String, Value>> = BTreeMap::new();
    let mut sessions = BTreeSet::new();
    for m in msgs.iter().filter(|m| m.to.is_none() && !m.injected) {
        let u = m.from.ok_or("a client message without sender")?;
        let who = format!("client {u}");
        match m.phase {
            "AdvertiseKeys" => {
                let c_sk: [u8; 32] = r.draw(who.clone(), "c_sk");
                let mask_key = r.scalar(who, "mask key a_u (reduced wide)");
                let s_sk = kx::mask_secret(&mask_key, &round).to_bytes();
                let k = Keys {
                    c_sk,
                    c_pk: kx::public_key(&StaticSecret::from(c_sk)),
                    mask_key,
                    s_sk,
                    s_pk: kx::public_key(&StaticSecret::from(s_sk)),
                };
                let rec = records.entry(u).or_default();
                rec.insert("c_sk_hex".into(), json!(hex(&k.c_sk)));
                rec.insert("c_pk_hex".into(), json!(hex(&k.c_pk)));
                rec.insert("mask_key_hex".into(), json!(hex(k.mask_key.as_bytes())));
                rec.insert("s_sk_hex".into(), json!(hex(&k.s_sk)));
                rec.insert("s_pk_hex".into(), json!(hex(&k.s_pk)));
                keys.insert(u, k);
            }
            "ShareKeys" => {
                let kb = delivered(&msgs, "AdvertiseKeys", u).ok_or("no KeyBroadcast")?;
                let kb = KeyBroadcast::decode(&params, kb).map_err(|e| format!("{e}"))?;
                sessions.insert(kb.session);
                let me = keys.get(&u).ok_or("ShareKeys before AdvertiseKeys")?;
                let seed_b = r.scalar(who.clone(), "self-mask seed b_u (reduced wide)");
                let mut poly_a = vec![me.mask_key];
                for j in 1..t {
                    poly_a.push(r.scalar(who.clone(), &format!("mask-key coefficient c_{j}")));
                }
                let mut poly_b = vec![seed_b];
                for j in 1..t {
                    poly_b.push(r.scalar(who.clone(), &format!("seed coefficient c_{j}")));
                }
                let shares: Vec<Value> = kb
                    .keys
                    .iter()
                    .map(|k| {
                        json!({
                            "holder": k.index,
                            "mask_key_share_hex": hex(eval(&poly_a, k.index).as_bytes()),
                            "seed_share_hex": hex(eval(&poly_b, k.index).as_bytes()),
                        })
                    })
                    .collect();
                let c_sk = StaticSecret::from(me.c_sk);
                let s_sk = StaticSecret::from(me.s_sk);
                let mut peers = Vec::new();
                for k in kb.keys.iter().filter(|k| k.index != u) {
                    let c_shared = kx::agree(&c_sk, &k.c_pk).ok_or("weak c_pk")?;
                    let s_shared = kx::agree(&s_sk, &k.s_pk).ok_or("weak s_pk")?;
                    peers.push(json!({
                        "peer": k.index,
                        "share_key_hex": hex(&*kx::share_key(&c_shared, &kb.session, u, k.index)),
                        "pair_mask_key_hex":
                            hex(&*kx::pair_mask_key(&s_shared, &kb.session, u, k.index)),
                    }));
                }
                let self_key = kx::self_mask_key(&seed_b, &kb.session, u);
                let rec = records.entry(u).or_default();
                rec.insert("seed_hex".into(), json!(hex(seed_b.as_bytes())));
                rec.insert("self_mask_key_hex".into(), json!(hex(&*self_key)));
                rec.insert("mask_key_polynomial".into(), json!(scalars_hex(&poly_a)));
                rec.insert("seed_polynomial".into(), json!(scalars_hex(&poly_b)));
                rec.insert("mask_key_commitments".into(), json!(commit(&poly_a)));
                rec.insert("seed_commitments".into(), json!(commit(&poly_b)));
                rec.insert("shares".into(), Value::Array(shares));
                rec.insert("peers".into(), Value::Array(peers));
                // R2, if the client masks: the peers it masks with are the
                // senders of its ShareDelivery; its masks follow.
                if let (Some(sd), Some(_)) = (
                    delivered(&msgs, "ShareKeys", u),
                    sent(&msgs, "MaskedInput", u),
                ) {
                    let sd = ShareDelivery::decode(&params, sd).map_err(|e| format!("{e}"))?;
                    let with: Vec<ClientIndex> = sd.shares.iter().map(|d| d.sender).collect();
                    let input = input_of(v, u)?;
                    let bits = params.bits();
                    let self_mask = prg::expand(params.prg(), &self_key, bits, input.len());
                    let mut pair_keys = Vec::new();
                    for w in &with {
                        let k = kb.keys.iter().find(|k| k.index == *w).ok_or("unknown")?;
                        let shared = kx::agree(&s_sk, &k.s_pk).ok_or("weak s_pk")?;
                        pair_keys.push((*w, *kx::pair_mask_key(&shared, &kb.session, u, *w)));
                    }
                    let out = masked(params.prg(), &input, bits, u, &self_key, &pair_keys);
                    let strings = |x: &[u64]| x.iter().map(u64::to_string).collect::<Vec<_>>();
                    rec.insert("masked_with".into(), json!(with));
                    rec.insert("self_mask".into(), json!(strings(&self_mask)));
                    rec.insert("masked_input".into(), json!(strings(&out)));
                }
            }
            _ => {}
        }
    }
    // The session id: SHA-256 over the parameters, round, nonce and U1's keys.
    let u1 = indices_of(&v["survivor_sets"]["u1"])?;
    let u1_keys: Vec<(ClientIndex, &Keys)> = u1
        .iter()
        .map(|u| keys.get(u).map(|k| (*u, k)).ok_or("U1 client without keys"))
        .collect::<Result<_, _>>()?;
    let session = kx::session_id(
        &params.to_bytes(),
        &round,
        &nonce,
        u1_keys.iter().map(|(u, k)| (*u, &k.c_pk, &k.s_pk)),
    );
    ensure!(
        sessions.iter().all(|s| *s == session),
        "{name}: the KeyBroadcasts carry another session id"
    );
    let clients: Vec<Value> = (1..=n)
        .map(|u| {
            let mut rec = records.remove(&u).unwrap_or_default();
            rec.insert("index".into(), json!(u));
            rec.insert("neighbours".into(), json!(params.neighbours(&round, u)));
            Value::Object(rec)
        })
        .collect();
    let mut doc = json!({
        "version": 2,
        "vector": name,
        "description": "Every secret and intermediate value of the round, re-derived from \
                        rng_seed in the draw order of spec/conformance.md section 2.",
        "rng_seed": seed,
        "round_id_hex": hex(&round),
        "server_nonce_hex": hex(&nonce),
        "session_id_hex": hex(&session),
        "survivor_sets": v["survivor_sets"].clone(),
        "rng_bytes_used": r.used,
        "draws": r.draws,
        "clients": clients,
    });
    if malicious {
        doc["identities"] = Value::Array(identities);
    }
    Ok(doc)
}

/// Checks that the intermediates `iv` (as read from their file) explain the
/// messages of the round file `v`.
#[allow(clippy::too_many_lines, reason = "one check per kind of value")]
fn explain(v: &Value, iv: &Value) -> Check {
    let params = params_of(v)?;
    let t = params.threshold_usize();
    let msgs = messages(v)?;
    let round = hex32(&v["round_id_hex"])?;
    ensure!(iv["round_id_hex"] == v["round_id_hex"], "round id");
    ensure!(iv["survivor_sets"] == v["survivor_sets"], "survivor sets");
    if params.is_malicious() {
        let ids = iv["identities"].as_array().ok_or("no identities")?;
        ensure!(ids.len() == params.clients() as usize, "identity count");
        for (id, listed) in ids.iter().zip(v["roster"].as_array().ok_or("no roster")?) {
            let pk = Identity::from_secret_bytes(&hex32(&id["secret_key_hex"])?).public_key();
            ensure!(
                json!(hex(&pk)) == *listed,
                "identity {}: roster key",
                id["index"]
            );
        }
    }
    let clients = iv["clients"].as_array().ok_or("no clients")?;
    let rec = |u: ClientIndex| -> Result<&Value, String> {
        clients
            .get(u as usize - 1)
            .filter(|c| c["index"] == u)
            .ok_or_else(|| format!("no record of client {u}"))
    };
    // R0: the keys.
    for c in clients {
        let u = index_of(&c["index"])?;
        ensure!(
            indices_of(&c["neighbours"])? == params.neighbours(&round, u),
            "{u}: neighbours"
        );
        let Some(bytes) = sent(&msgs, "AdvertiseKeys", u) else {
            ensure!(
                c.get("c_sk_hex").is_none(),
                "{u}: keys without AdvertiseKeys"
            );
            continue;
        };
        let msg = AdvertiseKeys::decode(&params, bytes).map_err(|e| format!("{e}"))?;
        let c_pk = kx::public_key(&StaticSecret::from(hex32(&c["c_sk_hex"])?));
        let s_sk = kx::mask_secret(&scalar_of(&c["mask_key_hex"])?, &round).to_bytes();
        ensure!(
            hex32(&c["s_sk_hex"])? == s_sk,
            "{u}: s_sk = HKDF(round, a_u)"
        );
        let s_pk = kx::public_key(&StaticSecret::from(s_sk));
        ensure!(
            hex32(&c["c_pk_hex"])? == c_pk && msg.c_pk == c_pk,
            "{u}: c_pk"
        );
        ensure!(
            hex32(&c["s_pk_hex"])? == s_pk && msg.s_pk == s_pk,
            "{u}: s_pk"
        );
    }
    // The session id.
    let session = hex32(&iv["session_id_hex"])?;
    let u1 = indices_of(&v["survivor_sets"]["u1"])?;
    let u1_keys = u1
        .iter()
        .map(|u| {
            Ok((
                *u,
                hex32(&rec(*u)?["c_pk_hex"])?,
                hex32(&rec(*u)?["s_pk_hex"])?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let want = kx::session_id(
        &params.to_bytes(),
        &round,
        &hex32(&iv["server_nonce_hex"])?,
        u1_keys.iter().map(|(u, c, s)| (*u, c, s)),
    );
    ensure!(
        want == session,
        "session id = SHA-256(label, params, round, nonce, U1 keys)"
    );
    for m in msgs
        .iter()
        .filter(|m| m.phase == "AdvertiseKeys" && m.to.is_some())
    {
        let kb = KeyBroadcast::decode(&params, &m.bytes).map_err(|e| format!("{e}"))?;
        ensure!(kb.session == session, "KeyBroadcast session");
    }
    // R1: polynomials, commitments, shares, ciphertexts, pairwise keys.
    for c in clients {
        let u = index_of(&c["index"])?;
        let Some(bytes) = sent(&msgs, "ShareKeys", u) else {
            ensure!(c.get("seed_hex").is_none(), "{u}: a seed without ShareKeys");
            continue;
        };
        let msg = ShareKeys::decode(&params, bytes).map_err(|e| format!("{e}"))?;
        let poly = |key: &str| -> Result<Vec<Scalar>, String> {
            c[key]
                .as_array()
                .ok_or_else(|| format!("{u}: no {key}"))?
                .iter()
                .map(scalar_of)
                .collect()
        };
        let (pa, pb) = (poly("mask_key_polynomial")?, poly("seed_polynomial")?);
        ensure!(pa.len() == t && pb.len() == t, "{u}: t coefficients");
        ensure!(pa[0] == scalar_of(&c["mask_key_hex"])?, "{u}: a_u is f(0)");
        ensure!(pb[0] == scalar_of(&c["seed_hex"])?, "{u}: b_u is g(0)");
        let wire = |cs: &[[u8; 32]]| cs.iter().map(|p| hex(p)).collect::<Vec<_>>();
        ensure!(
            commit(&pa) == wire(&msg.key_commitments)
                && json!(commit(&pa)) == c["mask_key_commitments"],
            "{u}: mask-key commitments"
        );
        ensure!(
            commit(&pb) == wire(&msg.seed_commitments)
                && json!(commit(&pb)) == c["seed_commitments"],
            "{u}: seed commitments"
        );
        let shares: BTreeMap<ClientIndex, (Scalar, Scalar)> = c["shares"]
            .as_array()
            .ok_or("no shares")?
            .iter()
            .map(|s| {
                let x = index_of(&s["holder"])?;
                let (a, b) = (
                    scalar_of(&s["mask_key_share_hex"])?,
                    scalar_of(&s["seed_share_hex"])?,
                );
                ensure!(
                    a == eval(&pa, x) && b == eval(&pb, x),
                    "{u}: shares of holder {x}"
                );
                Ok((x, (a, b)))
            })
            .collect::<Result<_, String>>()?;
        let kb = KeyBroadcast::decode(
            &params,
            delivered(&msgs, "AdvertiseKeys", u).ok_or("no KeyBroadcast")?,
        )
        .map_err(|e| format!("{e}"))?;
        let holders: Vec<ClientIndex> = kb.keys.iter().map(|k| k.index).collect();
        ensure!(
            shares.keys().copied().eq(holders.iter().copied()),
            "{u}: holders"
        );
        let c_sk = StaticSecret::from(hex32(&c["c_sk_hex"])?);
        let s_sk = StaticSecret::from(hex32(&c["s_sk_hex"])?);
        let peers = c["peers"].as_array().ok_or("no peers")?;
        ensure!(
            peers.len() + 1 == holders.len(),
            "{u}: one peer record per holder"
        );
        ensure!(
            msg.ciphertexts.len() == peers.len(),
            "{u}: one ciphertext per peer"
        );
        for (p, (to, ct)) in peers.iter().zip(&msg.ciphertexts) {
            let w = index_of(&p["peer"])?;
            ensure!(w == *to, "{u}: ciphertext order");
            let other = rec(w)?;
            let key = hex32(&p["share_key_hex"])?;
            let shared = kx::agree(&c_sk, &hex32(&other["c_pk_hex"])?).ok_or("weak")?;
            ensure!(
                *kx::share_key(&shared, &session, u, w) == key,
                "{u}->{w}: share key"
            );
            let pt = aead::open(&key, &session, u, w, ct)
                .ok_or_else(|| format!("{u}->{w}: the ciphertext does not open"))?;
            let (a, b) = shares.get(&w).ok_or("no share")?;
            ensure!(
                pt[..32] == *a.as_bytes() && pt[32..] == *b.as_bytes(),
                "{u}->{w}: the ciphertext holds the recorded shares"
            );
            let pair = hex32(&p["pair_mask_key_hex"])?;
            let shared = kx::agree(&s_sk, &hex32(&other["s_pk_hex"])?).ok_or("weak")?;
            ensure!(
                *kx::pair_mask_key(&shared, &session, u, w) == pair,
                "{u}-{w}: pair key"
            );
            if let Some(q) = other["peers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|q| q["peer"] == u))
            {
                ensure!(
                    q["pair_mask_key_hex"] == p["pair_mask_key_hex"],
                    "{u}-{w}: symmetric"
                );
            }
        }
        let self_key = hex32(&c["self_mask_key_hex"])?;
        ensure!(
            *kx::self_mask_key(&pb[0], &session, u) == self_key,
            "{u}: self-mask key = HKDF(session, b_u)"
        );
        // R2: the masked input.
        let Some(bytes) = sent(&msgs, "MaskedInput", u) else {
            ensure!(
                c.get("masked_input").is_none(),
                "{u}: masked without MaskedInput"
            );
            continue;
        };
        let mi = MaskedInput::decode(&params, bytes).map_err(|e| format!("{e}"))?;
        let sd = ShareDelivery::decode(
            &params,
            delivered(&msgs, "ShareKeys", u).ok_or("no delivery")?,
        )
        .map_err(|e| format!("{e}"))?;
        let with = indices_of(&c["masked_with"])?;
        ensure!(
            with.iter().copied().eq(sd.shares.iter().map(|d| d.sender)),
            "{u}: masked with"
        );
        let mut pair_keys = Vec::new();
        for w in &with {
            let p = peers.iter().find(|p| p["peer"] == *w).ok_or("no peer")?;
            pair_keys.push((*w, hex32(&p["pair_mask_key_hex"])?));
        }
        let input = input_of(v, u)?;
        let want = masked(
            params.prg(),
            &input,
            params.bits(),
            u,
            &self_key,
            &pair_keys,
        );
        ensure!(want == mi.masked, "{u}: masked input = input + masks");
        let strings: Vec<String> = want.iter().map(u64::to_string).collect();
        ensure!(
            json!(strings) == c["masked_input"],
            "{u}: recorded masked input"
        );
        let self_mask: Vec<String> =
            prg::expand(params.prg(), &self_key, params.bits(), input.len())
                .iter()
                .map(u64::to_string)
                .collect();
        ensure!(
            json!(self_mask) == c["self_mask"],
            "{u}: recorded self-mask"
        );
    }
    // R3: every revealed share is the one the owner dealt to the holder.
    for m in msgs
        .iter()
        .filter(|m| m.phase == "Unmask" && m.from.is_some())
    {
        let holder = m.from.ok_or("no sender")?;
        let resp = UnmaskResponse::decode(&params, &m.bytes).map_err(|e| format!("{e}"))?;
        for e in &resp.shares {
            let dealt = rec(e.owner)?["shares"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["holder"] == holder))
                .ok_or("no dealt share")?;
            let key = match e.kind {
                ShareKind::MaskKey => "mask_key_share_hex",
                ShareKind::SelfSeed => "seed_share_hex",
            };
            ensure!(
                scalar_of(&dealt[key])? == e.share,
                "{holder}: revealed share of {}",
                e.owner
            );
        }
    }
    Ok(())
}

fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

fn intermediates_dir() -> String {
    format!("{DIR}/intermediates")
}

#[test]
fn intermediates_match_their_files() {
    let write = std::env::var("SECAGG_REGEN_VECTORS").is_ok_and(|v| v == "1");
    for name in ROUNDS {
        let v = read_json(&path_of(DIR, name));
        let doc = derive(name, &v).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = render(&doc);
        let path = path_of(&intermediates_dir(), name);
        if write {
            std::fs::create_dir_all(intermediates_dir()).unwrap_or_default();
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
            continue;
        }
        let stored = read_json(&path);
        for key in [
            "round_id_hex",
            "server_nonce_hex",
            "session_id_hex",
            "identities",
            "rng_bytes_used",
        ] {
            assert_eq!(stored.get(key), doc.get(key), "{name}: {key}");
        }
        assert_eq!(stored["draws"], doc["draws"], "{name}: draws");
        assert_eq!(stored["clients"], doc["clients"], "{name}: clients");
        assert_eq!(stored, doc, "{name}");
        let raw = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(raw, text, "{name}: file text");
    }
    if !write {
        let on_disk: BTreeSet<String> = std::fs::read_dir(intermediates_dir())
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let want: BTreeSet<String> = ROUNDS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            on_disk, want,
            "protocols/v2/intermediates holds exactly the rounds"
        );
    }
}

#[test]
fn intermediates_explain_the_transcripts() {
    for name in ROUNDS {
        let v = read_json(&path_of(DIR, name));
        let iv = read_json(&path_of(&intermediates_dir(), name));
        assert_eq!(iv["vector"], name);
        explain(&v, &iv).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The stream stands where the draws say.
        let used = iv["rng_bytes_used"].as_u64().unwrap_or_default();
        let last = iv["draws"]
            .as_array()
            .and_then(|d| d.last())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            last["offset"].as_u64().unwrap_or_default()
                + last["bytes"].as_u64().unwrap_or_default(),
            used,
            "{name}: draws are consecutive"
        );
    }
}

/// Each kind of recorded value is checked against the transcript: a changed
/// byte in any of them is found.
#[test]
fn a_wrong_intermediate_fails_the_check() {
    let name = "complete_n5_t3_b32_m8_drop1";
    let v = read_json(&path_of(DIR, name));
    let iv = read_json(&path_of(&intermediates_dir(), name));
    explain(&v, &iv).unwrap_or_else(|e| panic!("{e}"));
    // Flip bit 4 of a hex value's first byte: X25519 ignores bits 0 to 2 of
    // a secret (clamping), and a scalar stays canonical.
    let edits = [
        ("server nonce", "/server_nonce_hex"),
        ("c_sk", "/clients/0/c_sk_hex"),
        ("mask key", "/clients/1/mask_key_hex"),
        ("s_sk", "/clients/2/s_sk_hex"),
        ("seed", "/clients/3/seed_hex"),
        ("coefficient", "/clients/4/mask_key_polynomial/2"),
        ("seed coefficient", "/clients/0/seed_polynomial/1"),
        ("share", "/clients/1/shares/3/seed_share_hex"),
        ("share key", "/clients/2/peers/0/share_key_hex"),
        ("pair mask key", "/clients/3/peers/1/pair_mask_key_hex"),
        ("self-mask key", "/clients/4/self_mask_key_hex"),
    ];
    for (what, at) in edits {
        let mut bad = iv.clone();
        let field = bad
            .pointer_mut(at)
            .unwrap_or_else(|| panic!("{what}: no {at}"));
        let mut b = unhex(field.as_str().unwrap_or_default()).unwrap_or_default();
        b[0] ^= 0x10;
        *field = json!(hex(&b));
        assert!(explain(&v, &bad).is_err(), "a wrong {what} passes");
    }
    let mut bad = iv.clone();
    bad["clients"][0]["masked_input"][0] = json!("0");
    assert!(explain(&v, &bad).is_err(), "a wrong masked input passes");
    let mut bad = iv;
    bad["clients"][0]["masked_with"] = json!([2, 3]);
    assert!(explain(&v, &bad).is_err(), "a wrong masking set passes");
}
