//! The formulas of spec/crypto.md, spec/state.md and spec/wire-format.md
//! recomputed from the primitive crates alone (hkdf, sha2, x25519-dalek,
//! chacha20, aes, chacha20poly1305, ed25519-dalek, curve25519-dalek) and
//! compared with the bytes the crate produced: the messages of the
//! protocols/v2 round files and the crate's sealed exports. None of these
//! checks goes through the crate's own key schedule, PRG or codec.

use std::path::Path;

use aes::Aes128;
use aes::cipher::BlockCipherEncrypt;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use serde_json::Value;
use sha2::{Digest, Sha256};

use rand_core::Rng;
use secagg::{
    AwaitingKeys, Client, ClientPhase, DecodeError, Error, Graph, Params, Phase, Server,
    StateError, StateKey, Step,
};

use crate::common::{ROUND, hkdf, rng, x25519};
use crate::vectors::unhex;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/protocols/v2");

fn h32(v: &Value) -> [u8; 32] {
    unhex(v.as_str().unwrap()).try_into().unwrap()
}

fn scalar(v: &Value) -> Scalar {
    Option::from(Scalar::from_canonical_bytes(h32(v))).expect("canonical scalar")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `PRG(K)`: `m` elements mod `2^b` (spec/crypto.md section 5), from the
/// bare ChaCha20 keystream or the AES-128 block function of big-endian
/// counters.
fn prg(aes: bool, key: &[u8; 32], b: u32, m: usize) -> Vec<u64> {
    let lane = if b <= 32 { 4 } else { 8 };
    let mut stream = vec![0u8; m * lane];
    if aes {
        let cipher = Aes128::new(&<[u8; 16]>::try_from(&key[..16]).unwrap().into());
        for (j, block) in stream.chunks_mut(16).enumerate() {
            let mut ctr = (j as u128).to_be_bytes().into();
            cipher.encrypt_block(&mut ctr);
            block.copy_from_slice(&ctr[..block.len()]);
        }
    } else {
        ChaCha20::new(key.into(), &[0u8; 12].into()).apply_keystream(&mut stream);
    }
    stream
        .chunks_exact(lane)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..lane].copy_from_slice(c);
            u64::from_le_bytes(w) & mask_of(b)
        })
        .collect()
}

/// `l = 2^252 + 27742317777372353535851937790883648493`, little-endian
/// (spec/crypto.md section 1; the low term is 0x14def9dea2f79cd65812631a5cf5d3ed).
fn group_order() -> [u8; 32] {
    let mut l = [0u8; 32];
    l[..16].copy_from_slice(&27_742_317_777_372_353_535_851_937_790_883_648_493u128.to_le_bytes());
    l[31] = 0x10;
    l
}

fn mask_of(b: u32) -> u64 {
    if b == 64 { u64::MAX } else { (1u64 << b) - 1 }
}

/// The packing of wire-format.md section 3, element `i` at bits
/// `i*b .. (i+1)*b`, least significant first.
fn unpack(bytes: &[u8], b: u32, m: usize) -> Vec<u64> {
    let bit = |j: usize| u64::from((bytes[j / 8] >> (j % 8)) & 1);
    (0..m)
        .map(|i| (0..b as usize).map(|k| bit(i * b as usize + k) << k).sum())
        .collect()
}

fn u32le(x: u64) -> [u8; 4] {
    u32::try_from(x).unwrap().to_le_bytes()
}

/// A bitmap of `w` bits, bit `j` in bit `j mod 8` of byte `j / 8`.
fn bitmap(w: usize, set: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut out = vec![0u8; w.div_ceil(8)];
    for j in (0..w).filter(|&j| set(j)) {
        out[j / 8] |= 1 << (j % 8);
    }
    out
}

fn verify(vk: &[u8; 32], msg: &[u8], sig: &[u8]) {
    let vk = VerifyingKey::from_bytes(vk).unwrap();
    let sig = Signature::from_bytes(&sig.try_into().unwrap());
    vk.verify_strict(msg, &sig)
        .expect("signature over the transcript of spec/crypto.md section 9");
}

/// The one message of `kind` sent by client `u` (to the server), or sent to
/// client `u` by the server.
fn msg(round: &Value, kind: &str, from: Option<u64>, to: Option<u64>) -> Option<Vec<u8>> {
    let who = |x: Option<u64>, s: &str| x.map_or(s.to_owned(), |u| u.to_string());
    let (f, t) = (who(from, "server"), who(to, "server"));
    // Files write an index as a number or as a string.
    let name = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut hits = round["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message"] == kind && name(&m["from"]) == f && name(&m["to"]) == t);
    let out = hits.next().map(|m| unhex(m["hex"].as_str().unwrap()));
    assert!(hits.next().is_none(), "one {kind} from {f} to {t}");
    out
}

fn indices(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn eval(coeffs: &[Scalar], x: u64) -> Scalar {
    let x = Scalar::from(x);
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c)
}

/// wire-format.md 0x04 and conformance.md section 5 step 9: each
/// UnmaskResponse from `w` answers, ascending by owner, with kind 0 and
/// `g_owner(w)` for each owner in U3 and kind 1 and `f_owner(w)` for each
/// dropped one (U2 \ U3), the polynomials evaluated here. Returns the
/// number of shares checked.
fn check_unmask_responses(round: &Value, clients: &[Value]) -> usize {
    let u3 = indices(&round["survivor_sets"]["u3"]);
    let mut checked = 0;
    for w in u3.iter().copied() {
        let Some(resp) = msg(round, "UnmaskResponse", Some(w), None) else {
            continue;
        };
        assert_eq!(resp[..2], [2, 4]);
        let count = u32::from_le_bytes(resp[34..38].try_into().unwrap()) as usize;
        assert_eq!(resp.len(), 38 + 37 * count);
        let mut prev = 0;
        for e in resp[38..].chunks_exact(37) {
            let owner = u64::from(u32::from_le_bytes(e[..4].try_into().unwrap()));
            assert!(owner > prev, "owners ascending");
            prev = owner;
            let c = &clients[(owner - 1) as usize];
            let (kind, poly) = if u3.contains(&owner) {
                (0, "seed_polynomial")
            } else {
                (1, "mask_key_polynomial")
            };
            let coeffs: Vec<Scalar> = c[poly].as_array().unwrap().iter().map(scalar).collect();
            assert_eq!(e[4], kind, "kind of {owner}'s share from {w}");
            assert_eq!(
                e[5..],
                *eval(&coeffs, w).as_bytes(),
                "{owner}'s share from {w}"
            );
            checked += 1;
        }
    }
    checked
}

/// The parameters' encoding built from wire-format.md section 4 and the
/// round file's fields (no DP extension in these files).
fn params_encoding(p: &Value) -> Vec<u8> {
    let u = |k: &str| p[k].as_u64().unwrap();
    let mut out = vec![2];
    out.extend(u32le(u("clients")));
    out.extend(u32le(u("threshold")));
    out.push(u("bits") as u8);
    out.extend(u32le(u("dim")));
    if p["graph"] == "harary" {
        out.push(1);
        out.extend(u32le(u("degree")));
        out.extend(h32(&p["graph_seed_hex"]));
    } else {
        assert_eq!(p["graph"], "complete");
        out.push(0);
    }
    if p["server_model"] == "malicious" {
        out.push(1);
        out.extend(u32le(u("corrupt")));
    } else {
        out.push(0);
    }
    if p["prg"] == "aes128ctr" {
        out.extend([1, 2, 1, 0, 0, 0, 1]);
    } else {
        out.push(0);
    }
    out
}

/// Every honest round file with intermediates: each derived value and each
/// byte the crate put in a message, recomputed from the drawn secrets by
/// the formulas of spec/crypto.md sections 3 to 9 and wire-format.md
/// sections 3 and 5.
#[test]
#[allow(clippy::too_many_lines, reason = "one walk over a round's formulas")]
fn round_files_follow_the_key_schedule_masks_and_signatures() {
    let mut rounds = 0;
    let mut aes_rounds = 0;
    let mut widths = std::collections::BTreeSet::new();
    let mut signatures = 0;
    let mut masked_inputs = 0;
    let mut unmask_shares = 0;
    let mut broadcasts = 0;
    for entry in std::fs::read_dir(format!("{DIR}/intermediates")).unwrap() {
        let path = entry.unwrap().path();
        let iv = read(&path);
        let round = read(&Path::new(DIR).join(path.file_name().unwrap()));
        let p = &round["params"];
        let (n, t, b, m) = (
            p["clients"].as_u64().unwrap(),
            p["threshold"].as_u64().unwrap() as usize,
            p["bits"].as_u64().unwrap() as u32,
            p["dim"].as_u64().unwrap() as usize,
        );
        let malicious = p["server_model"] == "malicious";
        let aes = p["prg"] == "aes128ctr";
        let params = unhex(p["params_hex"].as_str().unwrap());
        assert_eq!(
            params,
            params_encoding(p),
            "{path:?}: wire-format.md section 4"
        );
        let round_id = h32(&round["round_id_hex"]);
        let nonce = h32(&iv["server_nonce_hex"]);
        let clients = iv["clients"].as_array().unwrap();
        let sig_len = if malicious { 64 } else { 0 };
        rounds += 1;
        aes_rounds += usize::from(aes);
        widths.insert(b);

        // Section 3: c_pk, s_sk = HKDF(round, a_u, mask-sk), s_pk, and the
        // AdvertiseKeys bytes (wire-format.md 0x01), signed in the malicious
        // model over section 9's transcript.
        let mut keys = std::collections::BTreeMap::new();
        for c in clients.iter().filter(|c| c.get("c_sk_hex").is_some()) {
            let u = c["index"].as_u64().unwrap();
            let c_sk = h32(&c["c_sk_hex"]);
            let a = scalar(&c["mask_key_hex"]);
            let s_sk = hkdf(&round_id, a.as_bytes(), b"secagg/v1/mask-sk");
            let c_pk = x25519(&c_sk, &x25519_dalek::X25519_BASEPOINT_BYTES);
            let s_pk = x25519(&s_sk, &x25519_dalek::X25519_BASEPOINT_BYTES);
            assert_eq!(h32(&c["s_sk_hex"]), s_sk);
            let adv = msg(&round, "AdvertiseKeys", Some(u), None).unwrap();
            assert_eq!(adv.len(), 98 + sig_len);
            assert_eq!(adv[..2], [2, 1]);
            assert_eq!(adv[2..34], round_id);
            assert_eq!(adv[34..66], c_pk, "{path:?}: c_pk of {u}");
            assert_eq!(adv[66..98], s_pk, "{path:?}: s_pk of {u}");
            if malicious {
                let id = &iv["identities"][(u - 1) as usize];
                let vk = h32(&id["public_key_hex"]);
                let sk = h32(&id["secret_key_hex"]);
                assert_eq!(
                    ed25519_dalek::SigningKey::from_bytes(&sk)
                        .verifying_key()
                        .to_bytes(),
                    vk
                );
                let signed = cat(&[
                    b"secagg/v2/sig-advertise",
                    &Sha256::digest(&params),
                    &round_id,
                    &u32le(u),
                    &c_pk,
                    &s_pk,
                ]);
                verify(&vk, &signed, &adv[98..]);
                signatures += 1;
            }
            keys.insert(u, (c_sk, c_pk, s_sk, s_pk));
        }

        // The session id over U1 ascending.
        let u1 = indices(&round["survivor_sets"]["u1"]);
        let mut h = Sha256::new();
        h.update(b"secagg/v1/session");
        h.update(&params);
        h.update(round_id);
        h.update(nonce);
        for u in &u1 {
            let (_, c_pk, _, s_pk) = keys[u];
            h.update(u32le(*u));
            h.update(c_pk);
            h.update(s_pk);
        }
        let session: [u8; 32] = h.finalize().into();
        assert_eq!(session, h32(&round["session_id_hex"]), "{path:?}: session");

        // KeyBroadcast to u (wire-format.md 0x81): Nbar(u) ∩ U1 ascending,
        // each with the keys and signature of v's AdvertiseKeys.
        for c in clients {
            let u = c["index"].as_u64().unwrap();
            let Some(kb) = msg(&round, "KeyBroadcast", None, Some(u)) else {
                continue;
            };
            assert_eq!(kb[..34], cat(&[&[2, 0x81], &session[..]])[..]);
            let mut nbar: Vec<u64> = indices(&c["neighbours"]);
            nbar.push(u);
            nbar.retain(|v| u1.contains(v));
            nbar.sort_unstable();
            let mut want = u32le(nbar.len() as u64).to_vec();
            for v in nbar {
                let adv = msg(&round, "AdvertiseKeys", Some(v), None).unwrap();
                want.extend(u32le(v));
                want.extend(&adv[34..]);
            }
            assert_eq!(kb[34..], want[..], "{path:?}: KeyBroadcast to {u}");
            broadcasts += 1;
        }

        for c in clients.iter().filter(|c| c.get("seed_hex").is_some()) {
            let u = c["index"].as_u64().unwrap();
            let (c_sk, _, s_sk, _) = keys[&u];
            let poly =
                |k: &str| -> Vec<Scalar> { c[k].as_array().unwrap().iter().map(scalar).collect() };
            let (fa, fb) = (poly("mask_key_polynomial"), poly("seed_polynomial"));
            assert_eq!((fa.len(), fb.len()), (t, t));
            assert_eq!(fa[0], scalar(&c["mask_key_hex"]));
            assert_eq!(fb[0], scalar(&c["seed_hex"]));

            // ShareKeys: the 2t commitments C_j = c_j G (section 8.2), in the
            // malicious model signed with the session (section 9), then one
            // ChaCha20-Poly1305 ciphertext per holder (section 4).
            let sk = msg(&round, "ShareKeys", Some(u), None).unwrap();
            assert_eq!(sk[..2], [2, 2]);
            assert_eq!(sk[2..34], session);
            let commits: Vec<u8> = fa
                .iter()
                .chain(&fb)
                .flat_map(|c| (RISTRETTO_BASEPOINT_POINT * c).compress().to_bytes())
                .collect();
            let end = 34 + 64 * t;
            assert_eq!(sk[34..end], commits[..], "{path:?}: commitments of {u}");
            if malicious {
                let vk = h32(&iv["identities"][(u - 1) as usize]["public_key_hex"]);
                let signed = cat(&[b"secagg/v2/sig-shares", &session, &u32le(u), &commits]);
                verify(&vk, &signed, &sk[end..end + 64]);
                signatures += 1;
            }
            let body = &sk[end + sig_len..];
            let count = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            assert_eq!(body.len(), 4 + count * 84, "{path:?}: ShareKeys ends");
            let mut receivers = Vec::new();
            for e in body[4..].chunks_exact(84) {
                let v = u64::from(u32::from_le_bytes(e[..4].try_into().unwrap()));
                receivers.push(v);
                let (_, c_pk_v, _, _) = keys[&v];
                let k = hkdf(
                    &session,
                    &x25519(&c_sk, &c_pk_v),
                    &cat(&[b"secagg/v1/share-key", &u32le(u), &u32le(v)]),
                );
                let aad = cat(&[b"secagg/v1/share-aad", &session, &u32le(u), &u32le(v), &[2]]);
                let pt = ChaCha20Poly1305::new(&k.into())
                    .decrypt(
                        &[0u8; 12].into(),
                        Payload {
                            msg: &e[4..],
                            aad: &aad,
                        },
                    )
                    .expect("the share ciphertext opens under k_uv, nonce 0, the AAD");
                let want = cat(&[eval(&fa, v).as_bytes(), eval(&fb, v).as_bytes()]);
                assert_eq!(pt, want, "{path:?}: shares of {u} for {v}");
                // The key is directional: k_vu does not open it.
                let k_vu = hkdf(
                    &session,
                    &x25519(&c_sk, &c_pk_v),
                    &cat(&[b"secagg/v1/share-key", &u32le(v), &u32le(u)]),
                );
                assert!(
                    ChaCha20Poly1305::new(&k_vu.into())
                        .decrypt(
                            &[0u8; 12].into(),
                            Payload {
                                msg: &e[4..],
                                aad: &aad
                            }
                        )
                        .is_err()
                );
            }
            let mut holders: Vec<u64> = indices(&c["neighbours"])
                .into_iter()
                .filter(|v| u1.contains(v))
                .collect();
            holders.sort_unstable();
            assert_eq!(receivers, holders, "{path:?}: N(u) ∩ U1, ascending");

            // MaskedInput: y_u = x_u + PRG(q_u) + sum s(u,v) PRG(p_uv) mod 2^b.
            let Some(mi) = msg(&round, "MaskedInput", Some(u), None) else {
                continue;
            };
            let sd = msg(&round, "ShareDelivery", None, Some(u)).unwrap();
            let entry = 4 + 64 * t + sig_len + 80;
            let cnt = u32::from_le_bytes(sd[34..38].try_into().unwrap()) as usize;
            assert_eq!(sd.len(), 38 + cnt * entry);
            let senders: Vec<u64> = sd[38..]
                .chunks_exact(entry)
                .map(|e| u64::from(u32::from_le_bytes(e[..4].try_into().unwrap())))
                .collect();
            // wire-format.md 0x82: senders N(u) ∩ U2 ascending, each entry
            // the sender's commitments and signature from its ShareKeys and
            // its ciphertext to u.
            let u2 = indices(&round["survivor_sets"]["u2"]);
            let mut want_senders: Vec<u64> = indices(&c["neighbours"]);
            want_senders.retain(|v| u2.contains(v));
            want_senders.sort_unstable();
            assert_eq!(senders, want_senders, "{path:?}: senders to {u}");
            for (e, &v) in sd[38..].chunks_exact(entry).zip(&senders) {
                let from = msg(&round, "ShareKeys", Some(v), None).unwrap();
                let head = 34 + 64 * t + sig_len;
                let ct = from[head + 4..]
                    .chunks_exact(84)
                    .find(|r| r[..4] == u32le(u))
                    .unwrap();
                assert_eq!(e[4..entry - 80], from[34..head], "{path:?}: {v} to {u}");
                assert_eq!(e[entry - 80..], ct[4..], "{path:?}: {v} to {u}");
            }
            let q = hkdf(
                &session,
                fb[0].as_bytes(),
                &cat(&[b"secagg/v1/self-mask", &u32le(u)]),
            );
            let input: Vec<u64> = round["inputs"][(u - 1) as usize]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().parse().unwrap())
                .collect();
            // s(u,v) * PRG as a multiplication by +1 or -1 mod 2^64 (then 2^b).
            let add = |y: &mut [u64], mask: Vec<u64>, sign: u64| {
                y.iter_mut()
                    .zip(mask)
                    .for_each(|(a, r)| *a = a.wrapping_add(r.wrapping_mul(sign)));
            };
            let mut y = input;
            add(&mut y, prg(aes, &q, b, m), 1);
            for &v in &senders {
                let (_, _, _, s_pk_v) = keys[&v];
                let info = cat(&[b"secagg/v1/pair-mask", &u32le(u.min(v)), &u32le(u.max(v))]);
                let p_uv = hkdf(&session, &x25519(&s_sk, &s_pk_v), &info);
                add(
                    &mut y,
                    prg(aes, &p_uv, b, m),
                    if u < v { 1 } else { u64::MAX },
                );
            }
            y.iter_mut().for_each(|a| *a &= mask_of(b));
            let complaints = u32::from_le_bytes(mi[34..38].try_into().unwrap()) as usize;
            let vec_at = 38 + 4 * complaints + sig_len;
            assert_eq!(mi.len(), vec_at + (m * b as usize).div_ceil(8));
            assert_eq!(unpack(&mi[vec_at..], b, m), y, "{path:?}: y_{u}");
            // Padding bits of the last byte are zero.
            if !(m * b as usize).is_multiple_of(8) {
                assert_eq!(mi.last().unwrap() >> ((m * b as usize) % 8), 0);
            }
            masked_inputs += 1;
            if malicious {
                let vk = h32(&iv["identities"][(u - 1) as usize]["public_key_hex"]);
                let mut nbrs = indices(&c["neighbours"]);
                nbrs.sort_unstable();
                let bits = bitmap(nbrs.len(), |j| senders.contains(&nbrs[j]));
                let signed = cat(&[b"secagg/v2/sig-masked-with", &session, &u32le(u), &bits]);
                verify(&vk, &signed, &mi[38 + 4 * complaints..vec_at]);
                signatures += 1;
                // The consistency vote: D(S) of the survivor set it was sent.
                let (Some(req), Some(resp)) = (
                    msg(&round, "ConsistencyRequest", None, Some(u)),
                    msg(&round, "ConsistencyResponse", Some(u), None),
                ) else {
                    continue;
                };
                assert_eq!(req[34..38], u32le(n));
                let set = &req[38..];
                assert_eq!(set.len() as u64, n.div_ceil(8));
                let u3 = indices(&round["survivor_sets"]["u3"]);
                assert_eq!(set, bitmap(n as usize, |j| u3.contains(&(j as u64 + 1))));
                let d = Sha256::digest(cat(&[b"secagg/v2/survivor-set", &session, &u32le(n), set]));
                let signed = cat(&[b"secagg/v2/sig-consistency", &session, &u32le(u), &d]);
                assert_eq!(resp.len(), 98);
                verify(&vk, &signed, &resp[34..]);
                signatures += 1;
            }
        }
        unmask_shares += check_unmask_responses(&round, clients);
    }
    assert!(unmask_shares >= 60, "{unmask_shares} shares");
    assert!(broadcasts >= 60, "{broadcasts} key broadcasts");
    // The walk covered both PRGs, both lane widths and the edge widths, and
    // the malicious transcripts.
    assert!(
        rounds >= 10 && aes_rounds >= 1,
        "{rounds} rounds, {aes_rounds} AES"
    );
    assert!(
        widths.is_superset(&[1, 13, 32, 33, 64].into()),
        "{widths:?}"
    );
    assert!(
        signatures >= 40 && masked_inputs >= 30,
        "{signatures} {masked_inputs}"
    );
}

// ----- spec/state.md: the envelope and the client plaintext -----

pub(crate) const STATE_KEY: [u8; 32] = [0x6b; 32];

/// `"SAST" || 2 || 2 || role || phase || round` (spec/state.md section 2).
fn state_header(role: u8, phase: u8) -> Vec<u8> {
    cat(&[b"SAST", &[2, 2, role, phase], &ROUND])
}

/// Seals `pt` as spec/state.md section 2 says, with nonce `nonce`.
pub(crate) fn seal(header: &[u8], nonce: [u8; 12], pt: &[u8]) -> Vec<u8> {
    let ct = ChaCha20Poly1305::new(&STATE_KEY.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: pt,
                aad: header,
            },
        )
        .unwrap();
    cat(&[header, &nonce, &ct])
}

/// Opens an export with the primitive alone; checks the header first.
pub(crate) fn unseal(export: &[u8], header: &[u8]) -> Vec<u8> {
    assert_eq!(export[..40], *header, "header");
    ChaCha20Poly1305::new(&STATE_KEY.into())
        .decrypt(
            &<[u8; 12]>::try_from(&export[40..52]).unwrap().into(),
            Payload {
                msg: &export[52..],
                aad: header,
            },
        )
        .expect("the export opens with ChaCha20-Poly1305 under the host's key, aad = header")
}

/// A fresh client 2 of a semi-honest round (awaiting its KeyBroadcast),
/// its export and the plaintext spec/state.md section 4 gives for it,
/// computed from the RNG stream of spec/conformance.md section 2 (c_sk,
/// then 64 bytes reduced mod l) and the documented layout.
fn fresh_client() -> (Params, Client, Vec<u8>, Vec<u8>) {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(7);
    let mut probe = rng(7);
    let (mut client, adv) = Client::new(&p, ROUND, 2, &mut r).unwrap();
    let mut c_sk = [0u8; 32];
    probe.fill_bytes(&mut c_sk);
    let mut wide = [0u8; 64];
    probe.fill_bytes(&mut wide);
    let a = Scalar::from_bytes_mod_order_wide(&wide);
    let s_sk = hkdf(&ROUND, a.as_bytes(), b"secagg/v1/mask-sk");
    let g = x25519_dalek::X25519_BASEPOINT_BYTES;
    assert_eq!(adv[34..66], x25519(&c_sk, &g));
    assert_eq!(adv[66..98], x25519(&s_sk, &g));
    client.set_input(&[1, 2, 0xffff, 0]).unwrap();
    let mut nonce = [0u8; 12];
    probe.fill_bytes(&mut nonce);
    let export = client.export(&StateKey::new(STATE_KEY), &mut r);
    assert_eq!(
        export[40..52],
        nonce,
        "the nonce is the next 12 bytes of the RNG"
    );
    let params = p.to_bytes();
    let input: Vec<u8> = [1u64, 2, 0xffff, 0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let pt = cat(&[
        &ROUND,
        &u32le(params.len() as u64),
        &params,
        &u32le(2),
        &[0, 1],
        &input,
        &[0],
        &c_sk,
        a.as_bytes(),
    ]);
    (p, client, export, pt)
}

fn import(bytes: &[u8], phase: ClientPhase) -> Result<Client, Error> {
    Client::import(bytes, &StateKey::new(STATE_KEY), &ROUND, phase)
}

/// spec/state.md sections 2 and 4: an export is the header, a nonce from
/// the caller's RNG and the ChaCha20-Poly1305 seal of the documented
/// plaintext under the host's key with the header as associated data; an
/// export sealed independently from that layout imports to the same client.
#[test]
fn client_export_is_the_documented_envelope_and_plaintext() {
    let (_, client, export, pt) = fresh_client();
    let header = state_header(1, 0);
    assert_eq!(unseal(&export, &header), pt);
    assert_eq!(export.len(), 40 + 12 + pt.len() + 16);
    // Built from the spec alone, the same state imports and behaves alike:
    // it re-exports (under the same nonce stream) to the same plaintext.
    let forged = seal(&header, [9; 12], &pt);
    let back = import(&forged, ClientPhase::KeyBroadcast).unwrap();
    assert_eq!(back.index(), client.index());
    let again = back.export(&StateKey::new(STATE_KEY), &mut rng(1));
    assert_eq!(unseal(&again, &header), pt);
}

/// spec/state.md section 3 step 6: a header edited to pass steps 2 to 5
/// (the phase, round or role the importer asks for) fails authentication.
#[test]
fn an_edited_header_fails_authentication() {
    let (_, _, export, _) = fresh_client();
    let auth =
        |r: Result<Client, Error>| matches!(r, Err(Error::State(StateError::Authentication)));
    for (byte, phase) in [
        (1, ClientPhase::ShareDelivery),
        (2, ClientPhase::ConsistencyRequest),
        (3, ClientPhase::UnmaskRequest),
        (4, ClientPhase::Done),
        (5, ClientPhase::Over),
    ] {
        let mut e = export.clone();
        e[7] = byte;
        assert!(auth(import(&e, phase)), "phase byte {byte}");
    }
    let mut e = export.clone();
    e[8] ^= 1;
    let mut other = ROUND;
    other[0] ^= 1;
    let r = Client::import(
        &e,
        &StateKey::new(STATE_KEY),
        &other,
        ClientPhase::KeyBroadcast,
    );
    assert!(auth(r));
    // A client export relabelled as a server's, imported as a server.
    let mut e = export;
    e[6] = 2;
    let r = Server::import(
        &e,
        &StateKey::new(STATE_KEY),
        &ROUND,
        Some(Phase::AdvertiseKeys),
    );
    assert!(matches!(r, Err(Error::State(StateError::Authentication))));
}

/// spec/state.md sections 3 step 7 and 4: a plaintext that authenticates
/// but breaks the layout (trailing byte, cut, index out of range,
/// non-canonical mask key, input element above 2^b, flag other than 0/1,
/// another round, credentials in a semi-honest round) is Malformed, and
/// the documented one imports.
#[test]
fn sealed_plaintexts_that_break_the_layout_are_malformed() {
    let (p, _, _, pt) = fresh_client();
    let header = state_header(1, 0);
    let at = |pt: &[u8]| import(&seal(&header, [3; 12], pt), ClientPhase::KeyBroadcast);
    assert!(at(&pt).is_ok());
    let plen = p.to_bytes().len();
    let idx = 36 + plen;
    let (cred, inp) = (idx + 4, idx + 5);
    let key_at = pt.len() - 32;
    let edit = |i: usize, v: &[u8]| {
        let mut b = pt.clone();
        b[i..i + v.len()].copy_from_slice(v);
        b
    };
    // l: the smallest non-canonical scalar.
    let mut l = group_order();
    // A well-formed credentials block (an Ed25519 secret and a roster
    // with its key at index 2) in a semi-honest round.
    let vk = |i: u8| {
        ed25519_dalek::SigningKey::from_bytes(&[i; 32])
            .verifying_key()
            .to_bytes()
    };
    let roster: Vec<u8> = (1..=5).flat_map(vk).collect();
    let creds = cat(&[&pt[..cred], &[1], &[2; 32], &roster, &pt[cred + 1..]]);
    let mut long = pt.clone();
    long.push(0);
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        ("trailing byte", long, DecodeError::TrailingBytes),
        ("cut", pt[..pt.len() - 1].to_vec(), DecodeError::Truncated),
        (
            "index 0",
            edit(idx, &u32le(0)),
            DecodeError::IndexOutOfRange,
        ),
        (
            "index n + 1",
            edit(idx, &u32le(6)),
            DecodeError::IndexOutOfRange,
        ),
        (
            "credentials flag 2",
            edit(cred, &[2]),
            DecodeError::NonCanonical,
        ),
        ("credentials, semi-honest", creds, DecodeError::NonCanonical),
        ("input flag 2", edit(inp, &[2]), DecodeError::NonCanonical),
        (
            "input above 2^b",
            edit(inp + 1, &[0, 0, 1]),
            DecodeError::NonCanonical,
        ),
        ("mask key = l", edit(key_at, &l), DecodeError::NonCanonical),
        ("another round", edit(0, &[0x53]), DecodeError::NonCanonical),
    ];
    for (what, bad, want) in cases {
        match at(&bad) {
            Err(Error::State(StateError::Malformed(e))) => assert_eq!(e, want, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // The largest canonical scalar, l - 1, is accepted.
    l[0] -= 1;
    assert!(at(&edit(key_at, &l)).is_ok());
}

// ----- spec/crypto.md section 4: what a receiver does with a plaintext -----

/// n = 3, t = 2: client 1's MaskedInput complaints when the ciphertext
/// from client 2 in its ShareDelivery is replaced by `edit` of the genuine
/// plaintext, sealed again under `k_21` recomputed from the spec (client
/// 2's `c_sk` is the first 32 bytes of its RNG, spec/conformance.md
/// section 2).
fn complaints_of_1(edit: impl Fn(&mut [u8; 64])) -> Vec<u32> {
    let p = Params::new(3, 2, 16, 2, Graph::Complete).unwrap();
    let mut rngs: Vec<_> = (0..=3).map(|u| rng(100 + u)).collect();
    let mut server = Server::new(&p, ROUND, &mut rngs[0]).unwrap();
    let mut waiting = Vec::new();
    let mut c_pk = Vec::new();
    for u in 1..=3u32 {
        let (st, adv) = AwaitingKeys::new(&p, ROUND, u, &mut rngs[u as usize]).unwrap();
        server.receive(u, &adv).unwrap();
        c_pk.push(<[u8; 32]>::try_from(&adv[34..66]).unwrap());
        waiting.push(Some(st));
    }
    let Step::Deliver(kb) = server.close_phase().unwrap() else {
        panic!("R0 closes")
    };
    let mut shares = Vec::new();
    for (u, msg) in kb {
        let mut st = waiting[u as usize - 1].take().unwrap();
        let (st, sk) = st.receive(&msg, &mut rngs[u as usize]).unwrap();
        server.receive(u, &sk).unwrap();
        shares.push(Some(st));
    }
    let Step::Deliver(sd) = server.close_phase().unwrap() else {
        panic!("R1 closes")
    };
    let mut delivery = sd.message(1).unwrap();
    let session: [u8; 32] = delivery[2..34].try_into().unwrap();
    // The first entry is sender 2's: index, 2t points, 80-byte ciphertext.
    assert_eq!(delivery[38..42], u32le(2));
    let ct = 42 + 64 * 2;
    let mut c_sk_2 = [0u8; 32];
    rng(102).fill_bytes(&mut c_sk_2);
    let k = hkdf(
        &session,
        &x25519(&c_sk_2, &c_pk[0]),
        &cat(&[b"secagg/v1/share-key", &u32le(2), &u32le(1)]),
    );
    let aad = cat(&[b"secagg/v1/share-aad", &session, &u32le(2), &u32le(1), &[2]]);
    let aead = ChaCha20Poly1305::new(&k.into());
    let nonce = [0u8; 12].into();
    let pt = aead
        .decrypt(
            &nonce,
            Payload {
                msg: &delivery[ct..ct + 80],
                aad: &aad,
            },
        )
        .unwrap();
    let mut pt: [u8; 64] = pt.try_into().unwrap();
    edit(&mut pt);
    let sealed = aead
        .encrypt(
            &nonce,
            Payload {
                msg: &pt,
                aad: &aad,
            },
        )
        .unwrap();
    delivery[ct..ct + 80].copy_from_slice(&sealed);
    let mut st = shares[0].take().unwrap();
    let (_, mi) = st.receive(&delivery, &[5, 6]).unwrap();
    let count = u32::from_le_bytes(mi[34..38].try_into().unwrap()) as usize;
    mi[38..38 + 4 * count]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// `y + l` as a 256-bit little-endian integer: the same value mod `l`, not
/// canonical (every `y < l < 2^253`, so it does not overflow).
pub(crate) fn plus_order(y: &mut [u8]) {
    let l = group_order();
    let mut carry = 0u16;
    for (a, b) in y.iter_mut().zip(l) {
        let s = u16::from(*a) + u16::from(b) + carry;
        *a = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
}

/// A ciphertext that opens to a share that is not a canonical scalar
/// (either of the two; `y + l`, which reduces to the right share, included),
/// or to a canonical share that fails the sender's commitments, leaves its
/// receiver without that sender's share: it complains about the sender.
/// The genuine plaintext sealed again under the recomputed key draws no
/// complaint, so the key and AAD are right.
#[test]
fn an_opened_share_that_is_not_canonical_is_a_complaint() {
    assert_eq!(complaints_of_1(|_| {}), Vec::<u32>::new());
    assert_eq!(complaints_of_1(|pt| plus_order(&mut pt[..32])), [2]);
    assert_eq!(complaints_of_1(|pt| plus_order(&mut pt[32..])), [2]);
    assert_eq!(complaints_of_1(|pt| pt[32..].fill(0xff)), [2]);
    // Canonical but not f(1): the commitments refuse it.
    assert_eq!(complaints_of_1(|pt| pt[0] ^= 1), [2]);
}

// ----- spec/crypto.md section 9: strict verification -----

/// An AdvertiseKeys signature by client 1's own key that ed25519-dalek's
/// cofactorless `verify` accepts but `verify_strict` does not: `R` is the
/// identity (small order) and `S = k a` with `k = H(R || A || M)`, so
/// `[S]B = R + [k]A`. The server refuses it as it refuses a flipped
/// signature (spec/crypto.md section 9: strict verification, no
/// small-order `R`).
#[test]
fn a_signature_with_a_small_order_r_is_refused() {
    use ed25519_dalek::Verifier;
    use sha2::Sha512;
    let p = Params::new(5, 3, 16, 2, Graph::Complete)
        .unwrap()
        .with_model(secagg::ServerModel::Malicious { corrupt: 0 })
        .unwrap();
    let secrets: Vec<[u8; 32]> = (1..=5u8).map(|i| [i; 32]).collect();
    let ids: Vec<secagg::Identity> = secrets
        .iter()
        .map(secagg::Identity::from_secret_bytes)
        .collect();
    let keys: Vec<[u8; 32]> = ids.iter().map(secagg::Identity::public_key).collect();
    let roster = secagg::Roster::new(&keys).unwrap();
    let (_, adv) = Client::with_identity(&p, ROUND, 1, &ids[0], &roster, &mut rng(8)).unwrap();
    assert_eq!(adv.len(), 162);
    // RFC 8032 section 5.1.5: a is the clamped first half of SHA-512(secret).
    let h = Sha512::digest(secrets[0]);
    let mut a = <[u8; 32]>::try_from(&h[..32]).unwrap();
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let mut r = [0u8; 32];
    r[0] = 1; // the identity's compressed encoding
    let signed = cat(&[
        b"secagg/v2/sig-advertise",
        &Sha256::digest(p.to_bytes()),
        &ROUND,
        &u32le(1),
        &adv[34..98],
    ]);
    let k: [u8; 64] = Sha512::digest(cat(&[&r, &keys[0], &signed])).into();
    let s = Scalar::from_bytes_mod_order_wide(&k) * a;
    let forged = Signature::from_bytes(&cat(&[&r, s.as_bytes()]).try_into().unwrap());
    let vk = VerifyingKey::from_bytes(&keys[0]).unwrap();
    assert!(
        vk.verify(&signed, &forged).is_ok(),
        "cofactorless verify accepts it"
    );
    assert!(vk.verify_strict(&signed, &forged).is_err());
    // The genuine signature is over exactly this transcript.
    verify(&keys[0], &signed, &adv[98..]);

    let refusal = |sig: &[u8]| {
        let mut server = Server::with_roster(&p, ROUND, &roster, &mut rng(9)).unwrap();
        let msg = cat(&[&adv[..98], sig]);
        server.receive(1, &msg).unwrap_err()
    };
    let mut flipped = adv[98..].to_vec();
    flipped[40] ^= 1;
    let want = refusal(&flipped);
    assert!(format!("{want}").contains("signature"), "{want}");
    assert_eq!(refusal(&forged.to_bytes()), want);
    let mut server = Server::with_roster(&p, ROUND, &roster, &mut rng(9)).unwrap();
    assert!(server.receive(1, &adv).is_ok());
}

// ----- spec/crypto.md section 7: redacted Debug -----

/// Renderings a `Debug` could print a secret in: bytes as a list, hex in
/// either case, or the first 8 bytes.
fn shows(debug: &str, secret: &[u8]) -> bool {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let list = format!("{:?}", &secret[..8]);
    [
        hex[..16].to_owned(),
        hex[..16].to_uppercase(),
        list.trim_end_matches(']').to_owned(),
    ]
    .iter()
    .any(|r| debug.contains(r))
}

/// Through a whole semi-honest round, no client's `Debug` shows any of its
/// round secrets (c_sk, the mask key a_u, s_sk, the self-mask seed b_u,
/// the polynomial coefficients, the share, pairwise mask and self-mask
/// keys, all recomputed from its RNG stream and the spec's formulas), and
/// the server's shows neither its session nonce nor the resend-fingerprint
/// key derived from it (sections 3, 7 and 10).
#[test]
fn debug_shows_no_round_secret() {
    let p = Params::new(4, 3, 16, 3, Graph::Complete).unwrap();
    let t = 3;
    let g = x25519_dalek::X25519_BASEPOINT_BYTES;
    let mut rngs: Vec<_> = (0..=4).map(|u| rng(200 + u)).collect();
    let mut streams: Vec<_> = (0..=4).map(|u| rng(200 + u)).collect();
    let mut draw = |u: usize, len: usize| {
        let mut b = vec![0u8; len];
        streams[u].fill_bytes(&mut b);
        b
    };
    let nonce = draw(0, 32);
    let mut fk = [0u8; 32];
    Hkdf::<Sha256>::new(None, &nonce)
        .expand(b"secagg/v2/resend-key", &mut fk)
        .unwrap();
    let server_secrets = vec![nonce.clone(), fk[..16].to_vec()];
    let wide = |b: Vec<u8>| Scalar::from_bytes_mod_order_wide(&b.try_into().unwrap());
    let mut server = Server::new(&p, ROUND, &mut rngs[0]).unwrap();
    let mut clients = Vec::new();
    let mut secrets: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut s_keys = vec![([0u8; 32], [0u8; 32])];
    for (u, r) in rngs.iter_mut().enumerate().skip(1) {
        let (mut c, adv) = Client::new(&p, ROUND, u as u32, r).unwrap();
        c.set_input(&[7, 8, 9]).unwrap();
        server.receive(u as u32, &adv).unwrap();
        clients.push(c);
        let c_sk: [u8; 32] = draw(u, 32).try_into().unwrap();
        let a = wide(draw(u, 64));
        let s_sk = hkdf(&ROUND, a.as_bytes(), b"secagg/v1/mask-sk");
        // b_u, then t - 1 coefficients for each polynomial (drawn in R1).
        let mut mine = vec![c_sk.to_vec(), a.to_bytes().to_vec(), s_sk.to_vec()];
        mine.extend((0..2 * t - 1).map(|_| wide(draw(u, 64)).to_bytes().to_vec()));
        secrets.push(mine);
        s_keys.push((c_sk, s_sk));
        assert_eq!(adv[34..66], x25519(&c_sk, &g));
    }
    let mut session = None;
    loop {
        for (i, c) in clients.iter().enumerate() {
            let debug = format!("{c:?}");
            for s in &secrets[i + 1] {
                assert!(
                    !shows(&debug, s),
                    "client {} prints a secret: {debug}",
                    i + 1
                );
            }
        }
        let debug = format!("{server:?}");
        for s in &server_secrets {
            assert!(!shows(&debug, s), "server prints a secret: {debug}");
        }
        match server.close_phase().unwrap() {
            Step::Deliver(out) => {
                for (u, msg) in out {
                    // The KeyBroadcast carries the session first.
                    session.get_or_insert(<[u8; 32]>::try_from(&msg[2..34]).unwrap());
                    let reply = clients[u as usize - 1]
                        .receive(&msg, &mut rngs[u as usize])
                        .unwrap();
                    if reply[1] == 2 {
                        // ShareKeys: C_0 of both polynomials are a_u G and
                        // b_u G, so the recomputed secrets are the client's.
                        let mine = &secrets[u as usize];
                        for (at, s) in [(34, &mine[1]), (34 + 32 * t, &mine[3])] {
                            let s = Scalar::from_canonical_bytes(s.clone().try_into().unwrap());
                            let c = RISTRETTO_BASEPOINT_POINT * s.unwrap();
                            assert_eq!(reply[at..at + 32], c.compress().to_bytes());
                        }
                    }
                    server.receive(u, &reply).unwrap();
                }
                if let Some(s) = session {
                    add_pair_keys(&mut secrets, &s_keys, &s, &p);
                }
            }
            Step::Done(agg) => {
                assert_eq!(agg.sum, [28, 32, 36]);
                break;
            }
            _ => unreachable!(),
        }
    }
    assert!(secrets.iter().skip(1).all(|s| s.len() == 3 + 5 + 1 + 6));
    // The matcher sees a secret that is printed.
    assert!(shows(&format!("{:?}", secrets[2][4]), &secrets[2][4]));
}

/// Adds, once, each client's share keys, pairwise mask keys and self-mask
/// key (needs the session and the peers' public keys, recomputed).
fn add_pair_keys(
    secrets: &mut [Vec<Vec<u8>>],
    s_keys: &[([u8; 32], [u8; 32])],
    session: &[u8; 32],
    p: &Params,
) {
    let g = x25519_dalek::X25519_BASEPOINT_BYTES;
    let n = p.clients() as usize;
    if secrets[1].len() > 8 {
        return;
    }
    for u in 1..=n {
        let (c_sk, s_sk) = s_keys[u];
        let b_u = secrets[u][3].clone();
        secrets[u].push(
            hkdf(
                session,
                &b_u,
                &cat(&[b"secagg/v1/self-mask", &u32le(u as u64)]),
            )
            .to_vec(),
        );
        for v in (1..=n).filter(|&v| v != u) {
            let (c_sk_v, s_sk_v) = s_keys[v];
            let (uu, vv) = (u as u64, v as u64);
            let share = cat(&[b"secagg/v1/share-key", &u32le(uu), &u32le(vv)]);
            let pair = cat(&[
                b"secagg/v1/pair-mask",
                &u32le(uu.min(vv)),
                &u32le(uu.max(vv)),
            ]);
            let k = hkdf(session, &x25519(&c_sk, &x25519(&c_sk_v, &g)), &share);
            let q = hkdf(session, &x25519(&s_sk, &x25519(&s_sk_v, &g)), &pair);
            secrets[u].push(k.to_vec());
            secrets[u].push(q.to_vec());
        }
    }
}

/// spec/state.md section 5: a server's export at AdvertiseKeys opens with
/// the primitive alone to `round || u32 len || params || 0 (no roster) ||
/// nonce`, the nonce being the 32 bytes the server drew first; the
/// fingerprint key derived from it is not stored (crypto.md section 10).
#[test]
fn server_export_keeps_the_nonce_not_the_fingerprint_key() {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut nonce = [0u8; 32];
    rng(31).fill_bytes(&mut nonce);
    let server = Server::new(&p, ROUND, &mut rng(31)).unwrap();
    let export = server.export(&StateKey::new(STATE_KEY), &mut rng(32));
    let pt = unseal(&export, &state_header(2, 0));
    let params = p.to_bytes();
    let head = cat(&[&ROUND, &u32le(params.len() as u64), &params, &[0], &nonce]);
    assert_eq!(pt[..head.len()], head[..]);
    let mut fk = [0u8; 32];
    Hkdf::<Sha256>::new(None, &nonce)
        .expand(b"secagg/v2/resend-key", &mut fk)
        .unwrap();
    assert!(!pt.windows(16).any(|w| w == &fk[..16]));
}

/// spec/state.md section 4, stage 1: client 1 of n = 3, t = 2, exported
/// after its KeyBroadcast, seals `session || b_1 || f(1) || g(1) || u32 2
/// || (v, k_v1, p_1v)` for v = 2, 3: the key that opens v's ciphertext to
/// it (sender v first) and the pairwise mask key, each recomputed here
/// from the RNG streams and the key schedule.
#[test]
fn client_export_after_the_key_broadcast_holds_the_documented_keys() {
    let p = Params::new(3, 2, 16, 2, Graph::Complete).unwrap();
    let mut server = Server::new(&p, ROUND, &mut rng(300)).unwrap();
    let mut rngs: Vec<_> = (1..=3).map(|u| rng(300 + u)).collect();
    let mut clients = Vec::new();
    let mut adv = Vec::new();
    for (u, r) in (1..=3u32).zip(&mut rngs) {
        let (c, a) = Client::new(&p, ROUND, u, r).unwrap();
        server.receive(u, &a).unwrap();
        clients.push(c);
        adv.push(a);
    }
    let Step::Deliver(kb) = server.close_phase().unwrap() else {
        panic!("R0 closes")
    };
    let kb1 = kb.message(1).unwrap();
    let session: [u8; 32] = kb1[2..34].try_into().unwrap();
    clients[0].receive(&kb1, &mut rngs[0]).unwrap();
    let export = clients[0].export(&StateKey::new(STATE_KEY), &mut rng(9));
    let pt = unseal(&export, &state_header(1, 1));

    let mut stream = rng(301);
    let mut draw = |len: usize| {
        let mut b = vec![0u8; len];
        stream.fill_bytes(&mut b);
        b
    };
    let c_sk: [u8; 32] = draw(32).try_into().unwrap();
    let wide = |b: Vec<u8>| Scalar::from_bytes_mod_order_wide(&b.try_into().unwrap());
    let a = wide(draw(64));
    let b = wide(draw(64));
    let (c1, d1) = (wide(draw(64)), wide(draw(64)));
    let s_sk = hkdf(&ROUND, a.as_bytes(), b"secagg/v1/mask-sk");
    let params = p.to_bytes();
    let mut want = cat(&[
        &ROUND,
        &u32le(params.len() as u64),
        &params,
        &u32le(1),
        &[0, 0, 1],
        &session,
        b.as_bytes(),
        (a + c1).as_bytes(),
        (b + d1).as_bytes(),
        &u32le(2),
    ]);
    for v in 2..=3u64 {
        let peer = &adv[v as usize - 1];
        let (c_pk, s_pk) = (
            peer[34..66].try_into().unwrap(),
            peer[66..98].try_into().unwrap(),
        );
        let share = cat(&[b"secagg/v1/share-key", &u32le(v), &u32le(1)]);
        let pair = cat(&[b"secagg/v1/pair-mask", &u32le(1), &u32le(v)]);
        want.extend(u32le(v));
        want.extend(hkdf(&session, &x25519(&c_sk, &c_pk), &share));
        want.extend(hkdf(&session, &x25519(&s_sk, &s_pk), &pair));
    }
    assert_eq!(pt, want);
    // Section 3 step 7: sealed again under its own header it imports; under
    // a header naming another phase (authentic, since the host holds the
    // key) the plaintext's stage disagrees: Malformed.
    assert!(
        import(
            &seal(&state_header(1, 1), [1; 12], &pt),
            ClientPhase::ShareDelivery
        )
        .is_ok()
    );
    let other = import(
        &seal(&state_header(1, 0), [1; 12], &pt),
        ClientPhase::KeyBroadcast,
    );
    assert!(
        matches!(
            other,
            Err(Error::State(StateError::Malformed(
                DecodeError::NonCanonical
            )))
        ),
        "{other:?}"
    );
}

/// A copy of client 1 that refuses an UnmaskRequest of another session is
/// `Over`, and its export is the bare stage 3 (state.md section 4: a spent
/// state keeps no secrets; the input was wiped with the MaskedInput).
fn refused_copy_is_spent(c: &Client, request: &[u8], p: &Params) {
    let key = StateKey::new(STATE_KEY);
    let exported = c.export(&key, &mut rng(2));
    let mut copy = Client::import(&exported, &key, &ROUND, ClientPhase::UnmaskRequest).unwrap();
    let mut other = request.to_vec();
    other[2] ^= 1;
    assert!(copy.receive(&other, &mut rng(3)).is_err());
    assert_eq!(copy.phase(), ClientPhase::Over);
    let pt = unseal(&copy.export(&key, &mut rng(4)), &state_header(1, 5));
    let params = p.to_bytes();
    let want = cat(&[
        &ROUND,
        &u32le(params.len() as u64),
        &params,
        &u32le(1),
        &[0, 0, 3],
    ]);
    assert_eq!(pt, want);
}

/// spec/crypto.md section 7: a client clears the shares it holds once it
/// has answered the unmask request. In a round without dropouts client 1
/// holds `f_v(1)` (mask key) and `g_v(1)` (seed) of every client; its
/// export awaiting the UnmaskRequest holds every `f_v(1)` (the control:
/// the polynomials are recomputed from the RNG streams), its export once
/// it has answered holds none (it revealed only seed shares).
#[test]
fn answered_clients_keep_no_mask_key_share() {
    let (n, t) = (4u32, 3usize);
    let p = Params::new(n, t as u32, 16, 2, Graph::Complete).unwrap();
    let mut server = Server::new(&p, ROUND, &mut rng(400)).unwrap();
    let mut rngs: Vec<_> = (1..=n).map(|u| rng(400 + u64::from(u))).collect();
    let mut clients = Vec::new();
    for (u, r) in (1..=n).zip(&mut rngs) {
        let (mut c, a) = Client::new(&p, ROUND, u, r).unwrap();
        c.set_input(&[1, 2]).unwrap();
        server.receive(u, &a).unwrap();
        clients.push(c);
    }
    // f_v(1) for every v: a_v, then (in R1) b_v and the a_v coefficients.
    let mask_shares: Vec<[u8; 32]> = (1..=n)
        .map(|v| {
            let mut s = rng(400 + u64::from(v));
            let mut c_sk = [0u8; 32];
            s.fill_bytes(&mut c_sk);
            let mut draw = || {
                let mut b = [0u8; 64];
                s.fill_bytes(&mut b);
                Scalar::from_bytes_mod_order_wide(&b)
            };
            let a = draw();
            let _b = draw();
            let coeffs: Vec<Scalar> = std::iter::once(a).chain((1..t).map(|_| draw())).collect();
            eval(&coeffs, 1).to_bytes()
        })
        .collect();
    let held = |c: &Client, phase: u8| {
        let pt = unseal(
            &c.export(&StateKey::new(STATE_KEY), &mut rng(1)),
            &state_header(1, phase),
        );
        mask_shares
            .iter()
            .filter(|f| pt.windows(32).any(|w| w == &f[..]))
            .count()
    };
    loop {
        match server.close_phase().unwrap() {
            Step::Deliver(out) => {
                for (u, msg) in out {
                    let c = &mut clients[u as usize - 1];
                    if u == 1 && msg[1] == 0x83 {
                        assert_eq!(held(c, 3), n as usize, "awaiting the UnmaskRequest");
                        refused_copy_is_spent(c, &msg, &p);
                    }
                    let reply = c.receive(&msg, &mut rngs[u as usize - 1]).unwrap();
                    server.receive(u, &reply).unwrap();
                }
            }
            Step::Done(agg) => {
                assert_eq!(agg.sum, [4, 8]);
                break;
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(clients[0].phase(), ClientPhase::Done);
    assert_eq!(held(&clients[0], 4), 0, "answered");
}

/// spec/crypto.md sections 5 and 5.1: what keeps every mask keystream far
/// inside its cipher's limit is the parameters' bound on m. `m = 2^28` at
/// `b = 64` (8-byte lanes, the longest stream: 2^31 bytes, 2^25 ChaCha20
/// blocks of the 2^32 a 32-bit counter allows, 2^27 AES blocks) is
/// accepted, `m = 2^28 + 1` is `ParamsError::Dimension`, also when decoded.
#[test]
fn the_dimension_bound_keeps_keystreams_inside_their_limits() {
    let max = 1u32 << 28;
    assert_eq!(secagg::params::MAX_DIM, max);
    let longest = u64::from(max) * 8;
    assert_eq!((longest / 64, longest / 16), (1 << 25, 1 << 27));
    assert!(longest / 64 < 1 << 32);
    assert!(Params::new(5, 3, 64, max, Graph::Complete).is_ok());
    let err = Params::new(5, 3, 64, max + 1, Graph::Complete).unwrap_err();
    assert!(
        matches!(err, Error::Params(secagg::ParamsError::Dimension)),
        "{err:?}"
    );
    let mut enc = Params::new(5, 3, 64, max, Graph::Complete)
        .unwrap()
        .to_bytes();
    enc[10..14].copy_from_slice(&(max + 1).to_le_bytes());
    let err = Params::decode(&enc).unwrap_err();
    assert!(
        matches!(err, Error::Params(secagg::ParamsError::Dimension)),
        "{err:?}"
    );
}
