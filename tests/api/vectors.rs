//! The conformance vectors of protocols/v1 (format: protocols/v1/README.md).
//!
//! Two checks per file, independent of each other:
//! - `vectors_regenerate_byte_for_byte` runs every case below through
//!   `simulation::run_recorded` (or `run_on_wire` for the bad_* cases) and
//!   compares the transcript and the result with the file, message by
//!   message; with `SECAGG_REGEN_VECTORS=1` it writes the files instead.
//! - `vectors_replay_from_files` reads every file in the directory and walks
//!   its messages: the file's bytes go to a fresh `Server` (and to clients
//!   rebuilt from the same RNG stream), every verdict and the result must be
//!   the file's, and every message must decode and re-encode to its bytes.

use crate::common::ROUND;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::protocol::messages::{
    AdvertiseKeys, KeyBroadcast, MaskedInput, ShareDelivery, ShareKeys, UnmaskRequest,
    UnmaskResponse,
};
use secagg::simulation::{Direction, Dropouts, Event, Wire, run_on_wire, run_recorded};
use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, ClientFault, ClientIndex, Decode,
    DecodeError, Encode, Error, Graph, Params, Phase, Server, ServerFault, Step,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/protocols/v1");

// ---------------------------------------------------------------------------
// A small ordered JSON value, so the files keep a fixed, readable key order.

enum J {
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

fn s(v: impl Into<String>) -> J {
    J::Str(v.into())
}

fn num(v: impl Into<u64>) -> J {
    J::Num(v.into())
}

fn compact(j: &J, out: &mut String) {
    match j {
        J::Num(v) => write!(out, "{v}").unwrap(),
        J::Str(v) => out.push_str(&serde_json::to_string(v).unwrap()),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                compact(item, out);
            }
            out.push(']');
        }
        J::Obj(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write!(out, "\"{k}\":").unwrap();
                compact(v, out);
            }
            out.push('}');
        }
    }
}

/// The top-level object one key per line; arrays of arrays or objects one
/// element per line; everything else compact.
fn render(doc: &J) -> String {
    let J::Obj(fields) = doc else {
        unreachable!("documents are objects")
    };
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        write!(out, "  \"{k}\": ").unwrap();
        match v {
            J::Arr(items) if items.iter().any(|x| matches!(x, J::Arr(_) | J::Obj(_))) => {
                out.push_str("[\n");
                for (n, item) in items.iter().enumerate() {
                    out.push_str("    ");
                    compact(item, &mut out);
                    out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str("  ]");
            }
            _ => compact(v, &mut out),
        }
        out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

fn value(j: &J) -> Value {
    let mut text = String::new();
    compact(j, &mut text);
    serde_json::from_str(&text).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut acc, b| {
        write!(acc, "{b:02x}").unwrap();
        acc
    })
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Stable names: phases, messages, errors, results.

const PHASES: [Phase; 4] = [
    Phase::AdvertiseKeys,
    Phase::ShareKeys,
    Phase::MaskedInput,
    Phase::Unmask,
];

fn phase_named(name: &str) -> Phase {
    *PHASES
        .iter()
        .find(|p| p.to_string() == name)
        .unwrap_or_else(|| panic!("unknown phase {name}"))
}

/// The message type a client sends in `phase`, or the server sends at its
/// close.
fn message_name(phase: Phase, to_server: bool) -> &'static str {
    match (phase, to_server) {
        (Phase::AdvertiseKeys, true) => "AdvertiseKeys",
        (Phase::AdvertiseKeys, false) => "KeyBroadcast",
        (Phase::ShareKeys, true) => "ShareKeys",
        (Phase::ShareKeys, false) => "ShareDelivery",
        (Phase::MaskedInput, true) => "MaskedInput",
        (Phase::MaskedInput, false) => "UnmaskRequest",
        (Phase::Unmask, true) => "UnmaskResponse",
        (Phase::Unmask, false) => unreachable!("the server sends nothing after Unmask"),
    }
}

fn decode_fields(e: &DecodeError, o: &mut Vec<(&'static str, J)>) {
    let name = match e {
        DecodeError::Truncated => "Truncated",
        DecodeError::TrailingBytes => "TrailingBytes",
        DecodeError::UnsupportedVersion(v) => {
            o.push(("detail", s("UnsupportedVersion")));
            o.push(("version", num(*v)));
            return;
        }
        DecodeError::UnexpectedType(t) => {
            o.push(("detail", s("UnexpectedType")));
            o.push(("type", num(*t)));
            return;
        }
        DecodeError::LengthOutOfBounds => "LengthOutOfBounds",
        DecodeError::NonCanonical => "NonCanonical",
        DecodeError::IndexOutOfRange => "IndexOutOfRange",
        other => {
            o.push(("detail", s(format!("{other:?}"))));
            return;
        }
    };
    o.push(("detail", s(name)));
}

fn client_fault_fields(f: &ClientFault, o: &mut Vec<(&'static str, J)>) {
    let name = match f {
        ClientFault::Malformed(e) => {
            o.push(("fault", s("Malformed")));
            decode_fields(e, o);
            return;
        }
        ClientFault::WrongSession => "WrongSession",
        ClientFault::Duplicate => "Duplicate",
        ClientFault::UnknownSender => "UnknownSender",
        ClientFault::NotInPhase => "NotInPhase",
        ClientFault::WeakKey => "WeakKey",
        ClientFault::DuplicateKey => "DuplicateKey",
        ClientFault::WrongRecipients => "WrongRecipients",
        ClientFault::Undecryptable { reported_by } => {
            o.push(("fault", s("Undecryptable")));
            o.push(("reported_by", num(*reported_by)));
            return;
        }
        ClientFault::WrongAnswer => "WrongAnswer",
        ClientFault::BadShare { owner } => {
            o.push(("fault", s("BadShare")));
            o.push(("owner", num(*owner)));
            return;
        }
        other => {
            o.push(("fault", s(format!("{other:?}"))));
            return;
        }
    };
    o.push(("fault", s(name)));
}

fn server_fault_fields(f: &ServerFault, o: &mut Vec<(&'static str, J)>) {
    let (name, peer) = match f {
        ServerFault::Malformed(e) => {
            o.push(("fault", s("Malformed")));
            decode_fields(e, o);
            return;
        }
        ServerFault::NotEnoughNeighbours { named, threshold } => {
            o.push(("fault", s("NotEnoughNeighbours")));
            o.push(("named", num(*named as u64)));
            o.push(("threshold", num(*threshold as u64)));
            return;
        }
        ServerFault::WrongSession => ("WrongSession", None),
        ServerFault::MissingOwnKeys => ("MissingOwnKeys", None),
        ServerFault::DuplicateKeys => ("DuplicateKeys", None),
        ServerFault::SelfNotSurvivor => ("SelfNotSurvivor", None),
        ServerFault::WeakKey { peer } => ("WeakKey", Some(*peer)),
        ServerFault::UnexpectedPeer { peer } => ("UnexpectedPeer", Some(*peer)),
        ServerFault::SurvivorAndDropped { peer } => ("SurvivorAndDropped", Some(*peer)),
        ServerFault::IncompleteRequest { peer } => ("IncompleteRequest", Some(*peer)),
        other => {
            o.push(("fault", s(format!("{other:?}"))));
            return;
        }
    };
    o.push(("fault", s(name)));
    if let Some(peer) = peer {
        o.push(("peer", num(peer)));
    }
}

/// The error object of protocols/v1/README.md section "Errors".
fn error_json(e: &Error) -> J {
    let mut o = Vec::new();
    match e {
        Error::Decode(d) => {
            o.push(("error", s("Decode")));
            decode_fields(d, &mut o);
        }
        Error::Client { index, fault } => {
            o.push(("error", s("Client")));
            o.push(("index", num(*index)));
            client_fault_fields(fault, &mut o);
        }
        Error::Server(f) => {
            o.push(("error", s("Server")));
            server_fault_fields(f, &mut o);
        }
        Error::NotEnoughSurvivors {
            phase,
            survivors,
            threshold,
        } => {
            o.push(("error", s("NotEnoughSurvivors")));
            o.push(("phase", s(phase.to_string())));
            o.push(("survivors", num(*survivors as u64)));
            o.push(("threshold", num(*threshold as u64)));
        }
        Error::Params(p) => {
            o.push(("error", s("Params")));
            o.push(("detail", s(format!("{p:?}"))));
        }
        Error::Misuse(m) => {
            o.push(("error", s("Misuse")));
            o.push(("detail", s(format!("{m:?}"))));
        }
        other => o.push(("error", s(format!("{other:?}")))),
    }
    J::Obj(o)
}

fn vector_json(v: &[u64]) -> J {
    J::Arr(v.iter().map(|x| s(x.to_string())).collect())
}

fn indices_json(v: &[ClientIndex]) -> J {
    J::Arr(v.iter().map(|&i| num(i)).collect())
}

fn result_json(result: &Result<Aggregate, Error>) -> J {
    match result {
        Ok(agg) => J::Obj(vec![
            ("sum", vector_json(&agg.sum)),
            ("survivors", indices_json(&agg.survivors)),
            (
                "misbehaved",
                J::Arr(
                    agg.misbehaved
                        .iter()
                        .map(|(i, f)| {
                            let mut o = vec![("index", num(*i))];
                            client_fault_fields(f, &mut o);
                            J::Obj(o)
                        })
                        .collect(),
                ),
            ),
        ]),
        Err(e) => error_json(e),
    }
}

fn params_json(p: &Params) -> J {
    let mut o = vec![
        ("clients", num(p.clients())),
        ("threshold", num(p.threshold())),
        ("bits", num(p.bits())),
        ("dim", num(p.dim())),
    ];
    match p.graph() {
        Graph::Complete => o.push(("graph", s("complete"))),
        Graph::Harary { degree, seed } => {
            o.push(("graph", s("harary")));
            o.push(("degree", num(*degree)));
            o.push(("graph_seed_hex", s(hex(seed))));
        }
    }
    o.push(("params_hex", s(hex(&p.to_bytes()))));
    J::Obj(o)
}

fn dropouts_json(d: &Dropouts) -> J {
    J::Obj(vec![
        ("before_keys", indices_json(&d.before_keys)),
        ("after_keys", indices_json(&d.after_keys)),
        ("after_shares", indices_json(&d.after_shares)),
        ("during_unmask", indices_json(&d.during_unmask)),
    ])
}

// ---------------------------------------------------------------------------
// The cases.

/// How a bad_* case disturbs one message in flight.
#[derive(Clone, Copy)]
enum Tamper {
    /// Drop the last `bytes` bytes of `from`'s message in `phase`.
    Truncate {
        phase: Phase,
        from: ClientIndex,
        bytes: usize,
    },
    /// Append `byte` to `from`'s message in `phase`.
    Append {
        phase: Phase,
        from: ClientIndex,
        byte: u8,
    },
    /// XOR byte `offset` of `from`'s message in `phase` with `mask`.
    Xor {
        phase: Phase,
        from: ClientIndex,
        offset: usize,
        mask: u8,
    },
    /// Deliver `from`'s message in `phase` twice.
    Duplicate { phase: Phase, from: ClientIndex },
    /// Deliver `from`'s message in `phase`, then a copy claiming sender `claimed`.
    Inject {
        phase: Phase,
        from: ClientIndex,
        claimed: ClientIndex,
    },
    /// The UnmaskRequest to `to` also lists its dropped peers as survivors.
    DroppedAlsoSurvivor { to: ClientIndex },
}

impl Tamper {
    fn json(&self) -> J {
        let head = |action: &str, phase: Phase, who: &'static str, i: ClientIndex| {
            vec![
                ("action", s(action)),
                ("phase", s(phase.to_string())),
                (who, num(i)),
            ]
        };
        J::Obj(match *self {
            Self::Truncate { phase, from, bytes } => {
                let mut o = head("truncate", phase, "from", from);
                o.push(("bytes", num(bytes as u64)));
                o
            }
            Self::Append { phase, from, byte } => {
                let mut o = head("append", phase, "from", from);
                o.push(("byte", num(byte)));
                o
            }
            Self::Xor {
                phase,
                from,
                offset,
                mask,
            } => {
                let mut o = head("xor", phase, "from", from);
                o.push(("offset", num(offset as u64)));
                o.push(("mask", num(mask)));
                o
            }
            Self::Duplicate { phase, from } => head("duplicate", phase, "from", from),
            Self::Inject {
                phase,
                from,
                claimed,
            } => {
                let mut o = head("inject", phase, "from", from);
                o.push(("claimed", num(claimed)));
                o
            }
            Self::DroppedAlsoSurvivor { to } => {
                head("dropped_also_survivor", Phase::MaskedInput, "to", to)
            }
        })
    }
}

struct Case {
    name: &'static str,
    description: &'static str,
    seed: u64,
    params: Params,
    inputs: Vec<Vec<u64>>,
    dropouts: Dropouts,
    tamper: Option<Tamper>,
}

/// A fixed, well-mixed function of (client, element): the inputs are stored
/// in the files, this only picks them.
fn mix(u: u64, j: u64) -> u64 {
    let mut z = (u << 32 | j).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn inputs(p: &Params, f: impl Fn(u64, u64) -> u64) -> Vec<Vec<u64>> {
    let top = if p.bits() == 64 {
        u64::MAX
    } else {
        (1 << p.bits()) - 1
    };
    (1..=u64::from(p.clients()))
        .map(|u| (0..u64::from(p.dim())).map(|j| f(u, j) & top).collect())
        .collect()
}

fn complete(n: u32, t: u32, bits: u8, m: u32) -> Params {
    Params::new(n, t, bits, m, Graph::Complete).unwrap()
}

/// Offset of byte `at` of the ciphertext for the `slot`-th receiver in a
/// ShareKeys message (spec/wire-format.md section 5).
const fn share_keys_ciphertext(slot: usize, at: usize) -> usize {
    2 + 32 + 32 + 4 + slot * (4 + 80) + 4 + at
}

fn cases() -> Vec<Case> {
    let base = complete(5, 3, 32, 8);
    let base_inputs = inputs(&base, mix);
    let harary = Params::new(
        20,
        4,
        16,
        16,
        Graph::Harary {
            degree: 6,
            seed: core::array::from_fn(|i| i as u8),
        },
    )
    .unwrap();
    let b1 = complete(5, 3, 1, 13);
    let b64 = complete(5, 3, 64, 8);
    let drop = |after_shares: Vec<ClientIndex>| Dropouts {
        after_shares,
        ..Default::default()
    };
    let bad = |name, description, seed, dropouts, tamper| Case {
        name,
        description,
        seed,
        params: base.clone(),
        inputs: base_inputs.clone(),
        dropouts,
        tamper: Some(tamper),
    };
    vec![
        Case {
            name: "complete_n5_t3_b32_m8_drop1",
            description: "Complete graph, n=5, t=3, b=32, m=8. Client 2 sends ShareKeys, \
                          then drops before MaskedInput: its pairwise masks are removed \
                          through its reconstructed mask key.",
            seed: 1,
            params: base.clone(),
            inputs: base_inputs.clone(),
            dropouts: drop(vec![2]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b32_m8_abort",
            description: "Complete graph, n=5, t=3, b=32, m=8. Clients 1, 2 and 4 advertise \
                          keys and drop before ShareKeys: R1 closes with 2 < t and the round \
                          aborts.",
            seed: 2,
            params: base.clone(),
            inputs: base_inputs.clone(),
            dropouts: Dropouts {
                after_keys: vec![1, 2, 4],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "harary_n20_k6_t4_b16_m16_drops",
            description: "SecAgg+: Harary graph H(6, 20) with permuted labels, t=4, b=16, \
                          m=16. Clients 3 and 11 drop after AdvertiseKeys, 7 and 16 after \
                          ShareKeys, 19 during Unmask.",
            seed: 3,
            inputs: inputs(&harary, mix),
            params: harary,
            dropouts: Dropouts {
                after_keys: vec![3, 11],
                after_shares: vec![7, 16],
                during_unmask: vec![19],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b1_m13_drop1",
            description: "b=1 (sums mod 2), m=13: packed vectors are 2 bytes with 3 zero \
                          padding bits. Client 4 drops after ShareKeys.",
            seed: 4,
            inputs: inputs(&b1, mix),
            params: b1,
            dropouts: drop(vec![4]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b64_m8_wrap",
            description: "b=64, inputs just below 2^64 so the sum wraps; 8-byte PRG lanes. \
                          Client 5 drops after ShareKeys.",
            seed: 5,
            inputs: inputs(&b64, |u, j| u64::MAX - 16 * u - j),
            params: b64,
            dropouts: drop(vec![5]),
            tamper: None,
        },
        bad(
            "bad_advertise_trailing_byte",
            "Client 1's AdvertiseKeys arrives with one extra byte: the server rejects it \
             (TrailingBytes) and excludes client 1; the round finishes without it.",
            11,
            Dropouts::default(),
            Tamper::Append {
                phase: Phase::AdvertiseKeys,
                from: 1,
                byte: 0,
            },
        ),
        bad(
            "bad_advertise_unknown_sender",
            "A copy of client 5's AdvertiseKeys claims to come from client 6, outside the \
             roster of 5: rejected (UnknownSender) and not recorded; the round finishes \
             with all five clients.",
            12,
            Dropouts::default(),
            Tamper::Inject {
                phase: Phase::AdvertiseKeys,
                from: 5,
                claimed: 6,
            },
        ),
        bad(
            "bad_share_keys_truncated",
            "Client 2's ShareKeys loses its last byte: rejected (Truncated), client 2 is \
             excluded before masking; the round finishes without it.",
            13,
            Dropouts::default(),
            Tamper::Truncate {
                phase: Phase::ShareKeys,
                from: 2,
                bytes: 1,
            },
        ),
        bad(
            "bad_share_keys_flipped_ciphertext",
            "One byte of the ciphertext client 2 addresses to client 4 is flipped. The \
             server cannot tell and forwards it; client 4 fails to open it and complains \
             in MaskedInput, so client 2 is named Undecryptable. Client 2's input is still \
             in the sum: the other shares suffice.",
            14,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::ShareKeys,
                from: 2,
                offset: share_keys_ciphertext(2, 10),
                mask: 0x01,
            },
        ),
        bad(
            "bad_masked_input_wrong_session",
            "The session id in client 3's MaskedInput has one bit flipped: rejected \
             (WrongSession), client 3 is treated as dropped after ShareKeys and its \
             pairwise masks are removed.",
            15,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::MaskedInput,
                from: 3,
                offset: 2,
                mask: 0x01,
            },
        ),
        bad(
            "bad_masked_input_duplicate",
            "Client 5's MaskedInput arrives twice: the second copy is rejected (Duplicate), \
             the first stands, and client 5 is named in misbehaved.",
            16,
            Dropouts::default(),
            Tamper::Duplicate {
                phase: Phase::MaskedInput,
                from: 5,
            },
        ),
        bad(
            "bad_unmask_response_wrong_version",
            "Client 4's UnmaskResponse carries version byte 2: rejected \
             (UnsupportedVersion); its input stays in the sum, unmasked with the other \
             clients' shares.",
            17,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::Unmask,
                from: 4,
                offset: 0,
                mask: 0x03,
            },
        ),
        bad(
            "bad_unmask_response_flipped_share",
            "The lowest byte of client 3's share of client 1's self-mask seed is flipped \
             (still a canonical scalar): the message is accepted, verified reconstruction \
             finds the bad share and names client 3 (BadShare), and the sum is still \
             right.",
            18,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::Unmask,
                from: 3,
                offset: 2 + 32 + 4 + 4 + 1,
                mask: 0x01,
            },
        ),
        bad(
            "bad_unmask_request_survivor_and_dropped",
            "Client 5 drops after ShareKeys. The UnmaskRequest to client 2 lists 5 both as \
             survivor and as dropped (a server fishing for both of 5's secrets): client 2 \
             refuses (SurvivorAndDropped) and reveals nothing; the others' answers \
             suffice and the round finishes with client 2's input in the sum.",
            19,
            drop(vec![5]),
            Tamper::DroppedAlsoSurvivor { to: 2 },
        ),
    ]
}

// ---------------------------------------------------------------------------
// Generation.

const ALTERED: &str = "altered";
const INJECTED: &str = "injected";

/// One transcript entry as generated.
struct Entry {
    phase: Phase,
    direction: Direction,
    bytes: Vec<u8>,
    refused: Option<Error>,
    tampered: Option<&'static str>,
}

impl Entry {
    fn new(e: &Event<'_>, tampered: Option<&'static str>) -> Self {
        Self {
            phase: e.phase,
            direction: e.direction,
            bytes: e.bytes.to_vec(),
            refused: e.refused,
            tampered,
        }
    }

    fn json(&self) -> J {
        let (from, to, up) = match self.direction {
            Direction::ToServer { from } => (num(from), s("server"), true),
            Direction::ToClient { to } => (s("server"), num(to), false),
        };
        let mut o = vec![
            ("phase", s(self.phase.to_string())),
            ("from", from),
            ("to", to),
            ("message", s(message_name(self.phase, up))),
            ("hex", s(hex(&self.bytes))),
        ];
        if let Some(t) = self.tampered {
            o.push(("tampered", s(t)));
        }
        if let Some(e) = &self.refused {
            o.push(("error", error_json(e)));
        }
        J::Obj(o)
    }
}

/// The wire of a bad_* case: applies its tamper once and records everything.
struct TamperWire<'a> {
    params: &'a Params,
    tamper: Tamper,
    hits: usize,
    marks: VecDeque<Option<&'static str>>,
    entries: Vec<Entry>,
}

impl Wire for TamperWire<'_> {
    fn on_client_message(
        &mut self,
        phase: Phase,
        from: ClientIndex,
        mut bytes: Vec<u8>,
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        let hit = |p: Phase, f: ClientIndex| p == phase && f == from;
        let out = match self.tamper {
            Tamper::Truncate {
                phase: p,
                from: f,
                bytes: k,
            } if hit(p, f) => {
                bytes.truncate(bytes.len() - k);
                vec![(from, bytes, Some(ALTERED))]
            }
            Tamper::Append {
                phase: p,
                from: f,
                byte,
            } if hit(p, f) => {
                bytes.push(byte);
                vec![(from, bytes, Some(ALTERED))]
            }
            Tamper::Xor {
                phase: p,
                from: f,
                offset,
                mask,
            } if hit(p, f) => {
                bytes[offset] ^= mask;
                vec![(from, bytes, Some(ALTERED))]
            }
            Tamper::Duplicate { phase: p, from: f } if hit(p, f) => {
                vec![(from, bytes.clone(), None), (from, bytes, Some(INJECTED))]
            }
            Tamper::Inject {
                phase: p,
                from: f,
                claimed,
            } if hit(p, f) => {
                vec![
                    (from, bytes.clone(), None),
                    (claimed, bytes, Some(INJECTED)),
                ]
            }
            _ => vec![(from, bytes, None)],
        };
        if out.iter().any(|(_, _, m)| m.is_some()) {
            self.hits += 1;
        }
        out.into_iter()
            .map(|(i, b, m)| {
                self.marks.push_back(m);
                (i, b)
            })
            .collect()
    }

    fn on_server_message(&mut self, phase: Phase, to: ClientIndex, bytes: Vec<u8>) -> Vec<u8> {
        match self.tamper {
            Tamper::DroppedAlsoSurvivor { to: t } if phase == Phase::MaskedInput && t == to => {
                let mut req = UnmaskRequest::decode(self.params, &bytes).unwrap();
                assert!(!req.dropped.is_empty(), "the case needs a dropped peer");
                req.survivors.extend_from_slice(&req.dropped);
                req.survivors.sort_unstable();
                self.hits += 1;
                self.marks.push_back(Some(ALTERED));
                req.to_bytes()
            }
            _ => {
                self.marks.push_back(None);
                bytes
            }
        }
    }

    fn on_delivered(&mut self, event: &Event<'_>) {
        let mark = self.marks.pop_front().expect("one mark per message");
        self.entries.push(Entry::new(event, mark));
    }
}

fn first_rng_bytes(seed: u64) -> [u8; 32] {
    let mut nonce = [0u8; 32];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut nonce);
    nonce
}

/// Runs `case` and returns its file, as a document.
fn generate(case: &Case) -> J {
    let mut rng = ChaCha20Rng::seed_from_u64(case.seed);
    let (report, entries) = match case.tamper {
        None => {
            let mut entries = Vec::new();
            let report = run_recorded(
                &case.params,
                &case.inputs,
                &case.dropouts,
                &mut rng,
                &mut |e| entries.push(Entry::new(e, None)),
            );
            (report, entries)
        }
        Some(tamper) => {
            let mut wire = TamperWire {
                params: &case.params,
                tamper,
                hits: 0,
                marks: VecDeque::new(),
                entries: Vec::new(),
            };
            let report = run_on_wire(
                &case.params,
                &case.inputs,
                &case.dropouts,
                &mut rng,
                &mut wire,
            );
            assert_eq!(wire.hits, 1, "{}: the tamper hits exactly once", case.name);
            assert!(wire.marks.is_empty());
            (report, wire.entries)
        }
    };
    // Whenever the round finishes, its sum is the plaintext sum over U3.
    if let Ok(agg) = &report.result {
        assert_eq!(Some(&agg.sum), report.expected.as_ref(), "{}", case.name);
    }
    let mut doc = vec![
        ("version", num(1u8)),
        ("description", s(case.description)),
        ("rng_seed", num(case.seed)),
        ("server_nonce_hex", s(hex(&first_rng_bytes(case.seed)))),
        ("params", params_json(&case.params)),
        (
            "inputs",
            J::Arr(case.inputs.iter().map(|x| vector_json(x)).collect()),
        ),
        ("dropouts", dropouts_json(&case.dropouts)),
    ];
    if let Some(t) = &case.tamper {
        doc.push(("tamper", t.json()));
    }
    doc.push((
        "messages",
        J::Arr(entries.iter().map(Entry::json).collect()),
    ));
    doc.push(("result", result_json(&report.result)));
    J::Obj(doc)
}

fn path_of(name: &str) -> PathBuf {
    Path::new(DIR).join(format!("{name}.json"))
}

fn vector_files() -> BTreeSet<String> {
    std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .collect()
}

#[test]
fn vectors_regenerate_byte_for_byte() {
    let write = std::env::var("SECAGG_REGEN_VECTORS").is_ok_and(|v| v == "1");
    let cases = cases();
    for case in &cases {
        let doc = generate(case);
        let text = render(&doc);
        let path = path_of(case.name);
        if write {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (SECAGG_REGEN_VECTORS=1 writes it)", path.display())
        });
        let file: Value = serde_json::from_str(&stored).unwrap();
        let fresh = value(&doc);
        for key in [
            "version",
            "rng_seed",
            "server_nonce_hex",
            "params",
            "inputs",
            "dropouts",
            "tamper",
        ] {
            assert_eq!(file.get(key), fresh.get(key), "{}: {key}", case.name);
        }
        let (ours, theirs) = (
            fresh["messages"].as_array().unwrap(),
            file["messages"].as_array().unwrap(),
        );
        for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert_eq!(a, b, "{}: message {k}", case.name);
        }
        assert_eq!(ours.len(), theirs.len(), "{}: message count", case.name);
        assert_eq!(fresh["result"], file["result"], "{}: result", case.name);
        assert_eq!(text, stored, "{}: file text", case.name);
    }
    let names: BTreeSet<String> = cases.iter().map(|c| c.name.to_owned()).collect();
    assert_eq!(
        names,
        vector_files(),
        "every file in protocols/v1 is a case"
    );
    let bad = names.iter().filter(|n| n.starts_with("bad_")).count();
    assert!((6..=10).contains(&bad), "{bad} bad_* cases");
}

// ---------------------------------------------------------------------------
// Replay from the files alone.

fn u32_of(v: &Value) -> u32 {
    u32::try_from(v.as_u64().unwrap()).unwrap()
}

fn params_from(v: &Value) -> Params {
    let graph = match v["graph"].as_str().unwrap() {
        "complete" => Graph::Complete,
        "harary" => Graph::Harary {
            degree: u32_of(&v["degree"]),
            seed: unhex(v["graph_seed_hex"].as_str().unwrap())
                .try_into()
                .unwrap(),
        },
        other => panic!("unknown graph {other}"),
    };
    let p = Params::new(
        u32_of(&v["clients"]),
        u32_of(&v["threshold"]),
        u8::try_from(v["bits"].as_u64().unwrap()).unwrap(),
        u32_of(&v["dim"]),
        graph,
    )
    .unwrap();
    let encoded = unhex(v["params_hex"].as_str().unwrap());
    assert_eq!(
        p.to_bytes(),
        encoded,
        "params_hex is the canonical encoding"
    );
    assert_eq!(Params::decode(&encoded).unwrap(), p);
    p
}

fn vector_from(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Decodes `bytes` as the message `name` and re-encodes it.
fn reencode(p: &Params, name: &str, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    fn go<M: Decode + Encode>(p: &Params, b: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let m = M::decode(p, b)?;
        assert_eq!(m.encoded_len(), b.len());
        Ok(m.to_bytes())
    }
    match name {
        "AdvertiseKeys" => go::<AdvertiseKeys>(p, bytes),
        "KeyBroadcast" => go::<KeyBroadcast>(p, bytes),
        "ShareKeys" => go::<ShareKeys>(p, bytes),
        "ShareDelivery" => go::<ShareDelivery>(p, bytes),
        "MaskedInput" => go::<MaskedInput>(p, bytes),
        "UnmaskRequest" => go::<UnmaskRequest>(p, bytes),
        "UnmaskResponse" => go::<UnmaskResponse>(p, bytes),
        other => panic!("unknown message {other}"),
    }
}

/// A client rebuilt from the RNG stream, in the state its next server
/// message finds it.
enum Client {
    Keys(AwaitingKeys),
    Shares(AwaitingShares),
    Unmask(AwaitingUnmask),
    Finished,
}

/// Hands `client` the server message of the close of `phase`.
fn respond(
    client: Client,
    phase: Phase,
    bytes: &[u8],
    input: &[u64],
    rng: &mut ChaCha20Rng,
) -> Result<(Client, Vec<u8>), Error> {
    match (client, phase) {
        (Client::Keys(c), Phase::AdvertiseKeys) => {
            c.receive(bytes, rng).map(|(c, o)| (Client::Shares(c), o))
        }
        (Client::Shares(c), Phase::ShareKeys) => {
            c.receive(bytes, input).map(|(c, o)| (Client::Unmask(c), o))
        }
        (Client::Unmask(c), Phase::MaskedInput) => c.receive(bytes).map(|o| (Client::Finished, o)),
        _ => panic!("no client state takes the close of {phase}"),
    }
}

/// Walks one file (protocols/v1/README.md section "Replaying").
fn replay(name: &str) {
    let text = std::fs::read_to_string(path_of(name)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1, "{name}");
    let params = params_from(&v["params"]);
    let seed = v["rng_seed"].as_u64().unwrap();
    assert_eq!(
        v["server_nonce_hex"].as_str().unwrap(),
        hex(&first_rng_bytes(seed)),
        "{name}: the first 32 bytes of the stream"
    );
    let inputs: Vec<Vec<u64>> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(vector_from)
        .collect();
    assert_eq!(inputs.len(), params.clients() as usize, "{name}");

    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut server = Server::new(&params, ROUND, &mut rng).unwrap();
    let mut clients: BTreeMap<ClientIndex, Client> = BTreeMap::new();
    let mut pending: BTreeMap<ClientIndex, Vec<u8>> = BTreeMap::new();
    let mut last_close: Option<Phase> = None;
    let mut undelivered: BTreeMap<ClientIndex, Vec<u8>> = BTreeMap::new();

    for (k, m) in v["messages"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name}: message {k}");
        let phase = phase_named(m["phase"].as_str().unwrap());
        let bytes = unhex(m["hex"].as_str().unwrap());
        let tampered = m.get("tampered").map(|t| t.as_str().unwrap());
        assert!(
            matches!(tampered, None | Some(ALTERED | INJECTED)),
            "{at}: tampered"
        );
        let expected = m.get("error");
        let to_server = m["to"] == "server";
        let kind = message_name(phase, to_server);
        assert_eq!(m["message"], kind, "{at}");
        // Every message decodes and re-encodes to its bytes; a tampered one
        // either fails to decode or is canonical too.
        match reencode(&params, kind, &bytes) {
            Ok(again) => assert_eq!(again, bytes, "{at}: re-encoding"),
            Err(e) => assert!(tampered.is_some(), "{at}: {e:?}"),
        }

        if to_server {
            let from = u32_of(&m["from"]);
            assert_eq!(server.phase(), Some(phase), "{at}");
            if tampered != Some(INJECTED) {
                let input = &inputs[from as usize - 1];
                let produced = if phase == Phase::AdvertiseKeys {
                    assert!(!clients.contains_key(&from), "{at}: second R0 message");
                    let (c, out) = AwaitingKeys::new(&params, ROUND, from, &mut rng).unwrap();
                    clients.insert(from, Client::Keys(c));
                    out
                } else {
                    let state = clients.remove(&from).expect("a client in the round");
                    let delivered = pending.remove(&from).expect("a server message to answer");
                    let previous = PHASES[PHASES.iter().position(|&p| p == phase).unwrap() - 1];
                    let (state, out) = respond(state, previous, &delivered, input, &mut rng)
                        .unwrap_or_else(|e| panic!("{at}: client refused: {e}"));
                    clients.insert(from, state);
                    out
                };
                if tampered == Some(ALTERED) {
                    assert_ne!(produced, bytes, "{at}: altered in flight");
                } else {
                    assert_eq!(produced, bytes, "{at}: the client's own bytes");
                }
            }
            let verdict = server.receive(from, &bytes).err();
            assert_eq!(
                verdict.as_ref().map(|e| value(&error_json(e))).as_ref(),
                expected,
                "{at}: server verdict"
            );
        } else {
            assert_eq!(m["from"], "server", "{at}");
            let to = u32_of(&m["to"]);
            if last_close != Some(phase) {
                assert!(undelivered.is_empty(), "{at}: missing deliveries");
                assert_eq!(server.phase(), Some(phase), "{at}");
                let Ok(Step::Deliver(out)) = server.close_phase() else {
                    panic!("{at}: the close of {phase} delivers");
                };
                undelivered = out.into_iter().collect();
                last_close = Some(phase);
            }
            let sent = undelivered
                .remove(&to)
                .unwrap_or_else(|| panic!("{at}: the server sends nothing to {to}"));
            if tampered == Some(ALTERED) {
                assert_ne!(sent, bytes, "{at}: altered in flight");
            } else {
                assert!(tampered.is_none(), "{at}: only altered server messages");
                assert_eq!(sent, bytes, "{at}: the server's bytes");
            }
            if let Some(expected) = expected {
                // The client refuses it at once.
                let state = clients.remove(&to).expect("a client in the round");
                let refused = respond(state, phase, &bytes, &inputs[to as usize - 1], &mut rng)
                    .err()
                    .unwrap_or_else(|| panic!("{at}: the client accepted"));
                clients.insert(to, Client::Finished);
                assert_eq!(
                    &value(&error_json(&refused)),
                    expected,
                    "{at}: client verdict"
                );
            } else {
                pending.insert(to, bytes);
            }
        }
    }
    assert!(undelivered.is_empty(), "{name}: missing deliveries");
    let result = match server.close_phase() {
        Ok(Step::Done(agg)) => Ok(agg),
        Ok(_) => panic!("{name}: the transcript stops before the round ends"),
        Err(e) => Err(e),
    };
    assert_eq!(value(&result_json(&result)), v["result"], "{name}: result");
    if let Ok(agg) = &result {
        // The sum is the plaintext sum of the survivors' inputs.
        let mut want = vec![0u64; params.dim() as usize];
        for &u in &agg.survivors {
            for (a, x) in want.iter_mut().zip(&inputs[u as usize - 1]) {
                *a = a.wrapping_add(*x);
            }
        }
        if params.bits() < 64 {
            want.iter_mut().for_each(|a| *a &= (1 << params.bits()) - 1);
        }
        assert_eq!(agg.sum, want, "{name}: plaintext sum");
    }
}

#[test]
fn vectors_replay_from_files() {
    let files = vector_files();
    assert!(files.len() >= 10, "{} vector files", files.len());
    for name in &files {
        replay(name);
    }
}

/// protocols/v1/README.md defines the RNG without reference to a library:
/// the key is the seed expanded by PCG32, the stream is the ChaCha20
/// keystream under it with an all-zero nonce from block 0.
#[test]
fn vectors_rng_is_the_documented_chacha20_stream() {
    use chacha20::ChaCha20;
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    for seed in [0u64, 1, 19, u64::MAX] {
        let mut state = seed;
        let mut key = [0u8; 32];
        for word in key.chunks_exact_mut(4) {
            state = state
                .wrapping_mul(0x5851_f42d_4c95_7f2d)
                .wrapping_add(0xa176_54e4_6fbe_17f3);
            let xorshifted = (((state >> 18) ^ state) >> 27) as u32;
            let x = xorshifted.rotate_right((state >> 59) as u32);
            word.copy_from_slice(&x.to_le_bytes());
        }
        let mut want = [0u8; 1000];
        ChaCha20::new(&key.into(), &[0u8; 12].into()).apply_keystream(&mut want);
        // Drawn the way the protocol draws: 32- and 64-byte requests.
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut got = Vec::new();
        for len in [32usize, 32, 64, 64, 64, 32, 64] {
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            got.extend_from_slice(&b);
        }
        assert_eq!(got[..], want[..got.len()], "seed {seed}");
    }
}
