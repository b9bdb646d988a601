//! The conformance vectors of protocols/v2 (format: protocols/v2/README.md;
//! how they are produced and replayed: spec/conformance.md).
//!
//! Checks, independent of each other:
//! - `vectors_regenerate_byte_for_byte` runs every case below through
//!   `simulation::run_recorded` (or `run_on_wire` for the bad_* cases) and
//!   compares the transcript, the result and the recorded intermediate
//!   values with the file, message by message; it does the same for the
//!   table of parameter encodings (params.json). With
//!   `SECAGG_REGEN_VECTORS=1` it writes the files instead.
//! - `vectors_replay_from_files` reads every round file in the directory and
//!   walks its messages: the round id, the identities (malicious model) and
//!   the server are rebuilt from the file's RNG stream, the file's bytes go
//!   to the server and to clients rebuilt from the same stream, every
//!   verdict, every client refusal and the result must be the file's, every
//!   message must decode and re-encode to its bytes, and the recorded
//!   intermediate values must be what the rebuilt server and parameters say.
//!   An `altered` message records its honest original, which the rebuilt
//!   sender (or server) must produce.
//! - `vectors_params_encodings_from_file` decodes every entry of params.json
//!   and checks the verdict the file records;
//!   `vectors_secagg_plus_table_from_file` runs every derivation of
//!   secagg_plus.json.
//! - `vectors_cover_every_fault` checks that some vector shows each fault and
//!   refusal the spec names.
//!
//! The secrets and intermediate values behind the honest rounds
//! (protocols/v2/intermediates) are derived and checked against these
//! transcripts inside the crate, in `src/conformance.rs`
//! (`cargo test --lib conformance`), where the key schedule is reachable.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::protocol::messages::{
    AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, KeyBroadcast, MaskedInput,
    ShareDelivery, ShareKeys, UnmaskRequest, UnmaskResponse, kind,
};
use secagg::simulation::{Direction, Dropouts, Event, Wire, run_on_wire, run_recorded};
use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, ClientFault, ClientIndex, Decode,
    DecodeError, Encode, Error, Graph, Identity, Params, ParamsError, Phase, Prg, Roster, RoundId,
    Server, ServerFault, ServerModel, Step,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/protocols/v2");

/// The file of rejected and accepted parameter encodings (not a round).
const PARAMS_TABLE: &str = "params";

/// The file of SecAgg+ (k, t) derivations (spec/params.md section 4; not a
/// round).
const DERIVATION_TABLE: &str = "secagg_plus";

/// The format and protocol version of the files.
const FORMAT: u8 = 2;

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

/// Whether the compact form of `j` is too long for one line.
fn long(j: &J) -> bool {
    let mut text = String::new();
    compact(j, &mut text);
    text.len() > 100
}

/// The top-level object one key per line; arrays of arrays or objects, and
/// arrays longer than 100 characters, one element per line; everything else
/// compact.
fn render(doc: &J) -> String {
    let J::Obj(fields) = doc else {
        unreachable!("documents are objects")
    };
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        write!(out, "  \"{k}\": ").unwrap();
        match v {
            J::Arr(items)
                if items.iter().any(|x| matches!(x, J::Arr(_) | J::Obj(_))) || long(v) =>
            {
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

pub(crate) fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Stable names: phases, messages, errors, results.

const PHASES: [Phase; 5] = [
    Phase::AdvertiseKeys,
    Phase::ShareKeys,
    Phase::MaskedInput,
    Phase::Consistency,
    Phase::Unmask,
];

fn phase_named(name: &str) -> Phase {
    *PHASES
        .iter()
        .find(|p| p.to_string() == name)
        .unwrap_or_else(|| panic!("unknown phase {name}"))
}

/// The message type a client sends in `phase`, or the server sends at its
/// close, under the server model `malicious` or not.
fn message_name(phase: Phase, to_server: bool, malicious: bool) -> &'static str {
    match (phase, to_server) {
        (Phase::AdvertiseKeys, true) => "AdvertiseKeys",
        (Phase::AdvertiseKeys, false) => "KeyBroadcast",
        (Phase::ShareKeys, true) => "ShareKeys",
        (Phase::ShareKeys, false) => "ShareDelivery",
        (Phase::MaskedInput, true) => "MaskedInput",
        (Phase::MaskedInput, false) if malicious => "ConsistencyRequest",
        (Phase::MaskedInput, false) => "UnmaskRequest",
        (Phase::Consistency, true) => "ConsistencyResponse",
        (Phase::Consistency, false) => "UnmaskRequest",
        (Phase::Unmask, true) => "UnmaskResponse",
        (Phase::Unmask, false) => unreachable!("the server sends nothing after Unmask"),
    }
}

/// The `message` of an entry: [`message_name`] of its phase, except for an
/// injected client message of an earlier phase (a late retry), which is
/// named by the type its bytes carry.
fn entry_name(
    phase: Phase,
    to_server: bool,
    malicious: bool,
    injected: bool,
    bytes: &[u8],
) -> &'static str {
    let carried = match bytes.get(1) {
        Some(&kind::ADVERTISE_KEYS) => Some(Phase::AdvertiseKeys),
        Some(&kind::SHARE_KEYS) => Some(Phase::ShareKeys),
        Some(&kind::MASKED_INPUT) => Some(Phase::MaskedInput),
        Some(&kind::CONSISTENCY_RESPONSE) => Some(Phase::Consistency),
        _ => None,
    };
    match carried {
        Some(earlier) if to_server && injected && rank(earlier) < rank(phase) => {
            message_name(earlier, true, malicious)
        }
        _ => message_name(phase, to_server, malicious),
    }
}

/// A phase's place in a round.
fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::AdvertiseKeys => 0,
        Phase::ShareKeys => 1,
        Phase::MaskedInput => 2,
        Phase::Consistency => 3,
        Phase::Unmask => 4,
    }
}

/// The phase whose close produced the server message a client answers with
/// its message of `phase`.
fn answered_close(phase: Phase, malicious: bool) -> Phase {
    match phase {
        Phase::ShareKeys => Phase::AdvertiseKeys,
        Phase::MaskedInput => Phase::ShareKeys,
        Phase::Consistency => Phase::MaskedInput,
        Phase::Unmask if malicious => Phase::Consistency,
        Phase::Unmask => Phase::MaskedInput,
        Phase::AdvertiseKeys => unreachable!("R0 answers nothing"),
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
        other => panic!("no stable name for {other:?}"),
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
        ClientFault::BadSignature => "BadSignature",
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
        ClientFault::SecretMismatch => "SecretMismatch",
        other => panic!("no stable name for {other:?}"),
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
        ServerFault::SurvivorSetChanged => ("SurvivorSetChanged", None),
        ServerFault::WeakKey { peer } => ("WeakKey", Some(*peer)),
        ServerFault::UnexpectedPeer { peer } => ("UnexpectedPeer", Some(*peer)),
        ServerFault::SurvivorAndDropped { peer } => ("SurvivorAndDropped", Some(*peer)),
        ServerFault::IncompleteRequest { peer } => ("IncompleteRequest", Some(*peer)),
        ServerFault::BadSignature { peer } => ("BadSignature", Some(*peer)),
        ServerFault::NotCertified { peer } => ("NotCertified", Some(*peer)),
        other => panic!("no stable name for {other:?}"),
    };
    o.push(("fault", s(name)));
    if let Some(peer) = peer {
        o.push(("peer", num(peer)));
    }
}

fn params_error_name(p: &ParamsError) -> &'static str {
    match p {
        ParamsError::ClientCount => "ClientCount",
        ParamsError::Threshold => "Threshold",
        ParamsError::Bits => "Bits",
        ParamsError::Dimension => "Dimension",
        ParamsError::Degree => "Degree",
        ParamsError::Fraction => "Fraction",
        ParamsError::NoSafeThreshold => "NoSafeThreshold",
        ParamsError::NotUnique => "NotUnique",
        other => panic!("no stable name for {other:?}"),
    }
}

/// The error object of protocols/v2/README.md section "Errors".
fn error_json(e: &Error) -> J {
    let mut o = Vec::new();
    match e {
        Error::Decode(d) => {
            o.push(("error", s("Decode")));
            decode_fields(d, &mut o);
        }
        // The outcome follows from the fault and the phase (spec/protocol.md
        // section 5.4); the vectors' error objects do not carry it.
        Error::Client { index, fault, .. } => {
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
            o.push(("detail", s(params_error_name(p))));
        }
        Error::Misuse(m) => {
            o.push(("error", s("Misuse")));
            o.push(("detail", s(format!("{m:?}"))));
        }
        other => panic!("no stable name for {other:?}"),
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
    match p.model() {
        ServerModel::SemiHonest => {
            o.push(("server_model", s("semi-honest")));
            o.push(("corrupt", num(0u32)));
        }
        ServerModel::Malicious { corrupt } => {
            o.push(("server_model", s("malicious")));
            o.push(("corrupt", num(corrupt)));
        }
    }
    // The mask PRG only when it is not the default ChaCha20 (extension 2).
    if p.prg() == Prg::Aes128Ctr {
        o.push(("prg", s("aes128ctr")));
    }
    o.push(("params_hex", s(hex(&p.to_bytes()))));
    J::Obj(o)
}

fn dropouts_json(d: &Dropouts) -> J {
    J::Obj(vec![
        ("before_keys", indices_json(&d.before_keys)),
        ("after_keys", indices_json(&d.after_keys)),
        ("after_shares", indices_json(&d.after_shares)),
        ("during_consistency", indices_json(&d.during_consistency)),
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
    /// Deliver `from`'s message in `phase`, then a different second one
    /// (its last byte XORed with 1).
    Duplicate { phase: Phase, from: ClientIndex },
    /// Deliver `from`'s message in `phase` twice, byte for byte (a retry).
    Resend { phase: Phase, from: ClientIndex },
    /// Deliver `from`'s message of `phase` again in the later phase
    /// `again`, after its message of that phase (an at-least-once transport
    /// retrying after the phase closed).
    Retry {
        phase: Phase,
        from: ClientIndex,
        again: Phase,
    },
    /// Deliver `from`'s message in `phase`, then a copy claiming sender `claimed`.
    Inject {
        phase: Phase,
        from: ClientIndex,
        claimed: ClientIndex,
    },
    /// Semi-honest model: the UnmaskRequest to `to` also lists its dropped
    /// peers as survivors.
    DroppedAlsoSurvivor { to: ClientIndex },
    /// The KeyBroadcast to `to` carries, for neighbour `peer`, the X25519
    /// base point (u = 9, a valid key nobody signed) as `s_pk`.
    ReplaceKey { to: ClientIndex, peer: ClientIndex },
    /// Malicious model: the UnmaskRequest to `to` loses the consistency
    /// signatures of its evidence.
    StripCertificates { to: ClientIndex },
    /// Set `len` bytes of `from`'s message in `phase` from `offset` on to `byte`.
    Fill {
        phase: Phase,
        from: ClientIndex,
        offset: usize,
        len: usize,
        byte: u8,
    },
    /// The server message to `to` at the close of `phase` is changed by `edit`.
    Server {
        phase: Phase,
        to: ClientIndex,
        edit: Edit,
    },
}

/// How a bad_* case changes one server message (decoded, edited, re-encoded,
/// except `Xor`, which works on the bytes).
#[derive(Clone, Copy)]
enum Edit {
    /// XOR byte `offset` with `mask`.
    Xor { offset: usize, mask: u8 },
    /// KeyBroadcast: `peer`'s `s_pk` becomes all zero (a small-order point).
    ZeroKey { peer: ClientIndex },
    /// KeyBroadcast: `peer`'s `s_pk` becomes `source`'s.
    CopyKey {
        peer: ClientIndex,
        source: ClientIndex,
    },
    /// KeyBroadcast: the receiver's own entry is left out.
    RemoveOwnKeys,
    /// KeyBroadcast: only the first `count` entries are kept.
    KeepKeys { count: usize },
    /// UnmaskRequest: `peer` is left out of the survivors.
    RemoveSurvivor { peer: ClientIndex },
    /// UnmaskRequest: `peer` is added to the survivors.
    AddSurvivor { peer: ClientIndex },
    /// UnmaskRequest: `peer` moves from the survivors to the dropped.
    SurvivorToDropped { peer: ClientIndex },
}

impl Edit {
    fn name(&self) -> &'static str {
        match self {
            Self::Xor { .. } => "xor",
            Self::ZeroKey { .. } => "zero_s_pk",
            Self::CopyKey { .. } => "copy_s_pk",
            Self::RemoveOwnKeys => "remove_own_keys",
            Self::KeepKeys { .. } => "keep_keys",
            Self::RemoveSurvivor { .. } => "remove_survivor",
            Self::AddSurvivor { .. } => "add_survivor",
            Self::SurvivorToDropped { .. } => "survivor_to_dropped",
        }
    }

    fn fields(&self, o: &mut Vec<(&'static str, J)>) {
        match *self {
            Self::Xor { offset, mask } => {
                o.push(("offset", num(offset as u64)));
                o.push(("mask", num(mask)));
            }
            Self::ZeroKey { peer }
            | Self::RemoveSurvivor { peer }
            | Self::AddSurvivor { peer }
            | Self::SurvivorToDropped { peer } => {
                o.push(("peer", num(peer)));
            }
            Self::CopyKey { peer, source } => {
                o.push(("peer", num(peer)));
                o.push(("source", num(source)));
            }
            Self::RemoveOwnKeys => {}
            Self::KeepKeys { count } => o.push(("count", num(count as u64))),
        }
    }

    /// Applies the edit to `bytes`, the server message to `to` in `p`.
    fn apply(&self, p: &Params, to: ClientIndex, bytes: &[u8]) -> Vec<u8> {
        let broadcast = |f: &dyn Fn(&mut KeyBroadcast)| {
            let mut msg = KeyBroadcast::decode(p, bytes).unwrap();
            f(&mut msg);
            msg.to_bytes()
        };
        let request = |f: &dyn Fn(&mut UnmaskRequest)| {
            let mut req = UnmaskRequest::decode(p, bytes).unwrap();
            f(&mut req);
            req.to_bytes()
        };
        match *self {
            Self::Xor { offset, mask } => {
                let mut out = bytes.to_vec();
                out[offset] ^= mask;
                out
            }
            Self::ZeroKey { peer } => broadcast(&|m| {
                m.keys.iter_mut().find(|k| k.index == peer).unwrap().s_pk = [0; 32];
            }),
            Self::CopyKey { peer, source } => broadcast(&|m| {
                let key = m.keys.iter().find(|k| k.index == source).unwrap().s_pk;
                m.keys.iter_mut().find(|k| k.index == peer).unwrap().s_pk = key;
            }),
            Self::RemoveOwnKeys => broadcast(&|m| m.keys.retain(|k| k.index != to)),
            Self::KeepKeys { count } => broadcast(&|m| m.keys.truncate(count)),
            Self::RemoveSurvivor { peer } => request(&|r| r.survivors.retain(|&v| v != peer)),
            Self::AddSurvivor { peer } => request(&|r| {
                r.survivors.push(peer);
                r.survivors.sort_unstable();
            }),
            Self::SurvivorToDropped { peer } => request(&|r| {
                r.survivors.retain(|&v| v != peer);
                r.dropped.push(peer);
                r.dropped.sort_unstable();
            }),
        }
    }
}

/// The X25519 base point: a canonical, not small-order public key.
const BASE_POINT: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 9;
    k
};

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
            Self::Resend { phase, from } => head("resend", phase, "from", from),
            Self::Retry { phase, from, again } => {
                let mut o = head("retry", phase, "from", from);
                o.push(("again", s(again.to_string())));
                o
            }
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
            Self::ReplaceKey { to, peer } => {
                let mut o = head("replace_s_pk", Phase::AdvertiseKeys, "to", to);
                o.push(("peer", num(peer)));
                o.push(("key_hex", s(hex(&BASE_POINT))));
                o
            }
            Self::StripCertificates { to } => {
                head("strip_certificates", Phase::Consistency, "to", to)
            }
            Self::Fill {
                phase,
                from,
                offset,
                len,
                byte,
            } => {
                let mut o = head("fill", phase, "from", from);
                o.push(("offset", num(offset as u64)));
                o.push(("len", num(len as u64)));
                o.push(("byte", num(byte)));
                o
            }
            Self::Server { phase, to, edit } => {
                let mut o = head(edit.name(), phase, "to", to);
                edit.fields(&mut o);
                o
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

fn malicious(p: Params, corrupt: u32) -> Params {
    p.with_model(ServerModel::Malicious { corrupt }).unwrap()
}

/// The length of a signature field in `p`'s model (spec/wire-format.md
/// section 5).
fn signature_len(p: &Params) -> usize {
    if p.is_malicious() { 64 } else { 0 }
}

/// Offset of byte `at` of the ciphertext for the `slot`-th receiver in a
/// ShareKeys message: header, session, 2 t commitments, the signature in the
/// malicious model, the count, then `(u32 receiver, 80-byte ciphertext)`.
fn share_keys_ciphertext(p: &Params, slot: usize, at: usize) -> usize {
    let t = p.threshold() as usize;
    2 + 32 + 2 * 32 * t + signature_len(p) + 4 + slot * (4 + 80) + 4 + at
}

/// Offset of the signature in an AdvertiseKeys: header, round id, two keys.
const ADVERTISE_SIGNATURE: usize = 2 + 32 + 32 + 32;
/// Offset of the round id in an AdvertiseKeys.
const ADVERTISE_ROUND: usize = 2;
/// Offset of the signature in a MaskedInput without complaints: header,
/// session, complaint count 0.
const MASKED_INPUT_SIGNATURE: usize = 2 + 32 + 4;
/// Offset of the signature in a ConsistencyResponse: header, session.
const CONSISTENCY_SIGNATURE: usize = 2 + 32;

fn harary(n: u32, k: u32, t: u32, bits: u8, m: u32) -> Params {
    Params::new(
        n,
        t,
        bits,
        m,
        Graph::Harary {
            degree: k,
            seed: core::array::from_fn(|i| i as u8),
        },
    )
    .unwrap()
}

#[allow(clippy::too_many_lines, reason = "one table of cases")]
fn cases() -> Vec<Case> {
    let base = complete(5, 3, 32, 8);
    let base_inputs = inputs(&base, mix);
    let mal = malicious(complete(7, 5, 32, 8), 1);
    let mal_inputs = inputs(&mal, mix);
    let harary_semi = harary(20, 6, 4, 16, 16);
    let harary_mal = malicious(harary(20, 6, 5, 16, 16), 1);
    let mal9 = malicious(complete(9, 6, 32, 8), 1);
    let mal7 = malicious(complete(7, 6, 32, 8), 1);
    let b1 = complete(5, 3, 1, 13);
    let b40 = complete(5, 3, 40, 8);
    let b64 = complete(5, 3, 64, 8);
    let m0 = complete(5, 3, 8, 0);
    let b33 = complete(5, 3, 33, 8);
    let b13 = complete(5, 3, 13, 7);
    let drop = |after_shares: Vec<ClientIndex>| Dropouts {
        after_shares,
        ..Default::default()
    };
    let bad = |name, description, seed, dropouts: Dropouts, tamper| Case {
        name,
        description,
        seed,
        params: base.clone(),
        inputs: base_inputs.clone(),
        dropouts,
        tamper: Some(tamper),
    };
    let bad_mal = |name, description, seed, tamper| Case {
        name,
        description,
        seed,
        params: mal.clone(),
        inputs: mal_inputs.clone(),
        dropouts: Dropouts::default(),
        tamper: Some(tamper),
    };
    vec![
        Case {
            name: "complete_n5_t3_b32_m8_drop1",
            description: "Complete graph, n=5, t=3, b=32, m=8, semi-honest server. Client 2 \
                          sends ShareKeys, then drops before MaskedInput: its pairwise masks \
                          are removed through its reconstructed mask key.",
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
            description: "SecAgg+: Harary graph H(6, 20) with labels permuted by the graph \
                          seed and the round id, t=4, b=16, m=16, semi-honest server. Clients \
                          3 and 11 drop after AdvertiseKeys, 7 and 16 after ShareKeys, 19 \
                          during Unmask.",
            seed: 3,
            inputs: inputs(&harary_semi, mix),
            params: harary_semi,
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
        Case {
            name: "complete_n5_t3_b40_m8_drop1",
            description: "b=40: elements packed to 5 bytes, 8-byte PRG lanes reduced mod \
                          2^40. Client 1 drops after ShareKeys.",
            seed: 6,
            inputs: inputs(&b40, mix),
            params: b40,
            dropouts: drop(vec![1]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b8_m0_drop1",
            description: "m=0: every masked input and the sum are empty, the rest of the \
                          round (keys, shares, unmasking) runs as usual. Client 3 drops after \
                          ShareKeys.",
            seed: 7,
            inputs: inputs(&m0, mix),
            params: m0,
            dropouts: drop(vec![3]),
            tamper: None,
        },
        Case {
            name: "malicious_complete_n9_t6_c1_b32_m8_drops",
            description: "Malicious-server model (c=1), complete graph, n=9, t=6 (2t > n + c), \
                          b=32, m=8. Client 3 drops after ShareKeys, client 7 sends MaskedInput \
                          but never answers the ConsistencyRequest, client 5 signs the survivor \
                          set but never answers its UnmaskRequest. U3 has 8 clients, 7 sign \
                          (every U2 client keeps t signing neighbours), 6 answer.",
            seed: 21,
            inputs: inputs(&mal9, mix),
            params: mal9,
            dropouts: Dropouts {
                after_shares: vec![3],
                during_consistency: vec![7],
                during_unmask: vec![5],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "malicious_complete_n7_t6_c1_b32_m8_abort",
            description: "Malicious-server model (c=1), complete graph, n=7, t=6. Client 4 \
                          never answers the ConsistencyRequest: 6 clients sign, but a signer \
                          then has only 5 signing neighbours, fewer than t, so the consistency \
                          round closes with NotEnoughSurvivors and nobody is asked for shares.",
            seed: 22,
            inputs: inputs(&mal7, mix),
            params: mal7,
            dropouts: Dropouts {
                during_consistency: vec![4],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "malicious_harary_n20_k6_t5_c1_b16_m16_drops",
            description: "Malicious-server model (c=1) on the Harary graph H(6, 20), t=5 \
                          (2t - k = 4 > c), b=16, m=16. Client 1 drops after ShareKeys, client \
                          3 never answers the ConsistencyRequest, client 7 never answers its \
                          UnmaskRequest. Under this round id 1 and 3 are not neighbours and \
                          share no neighbour, so every client keeps t signing neighbours.",
            seed: 23,
            inputs: inputs(&harary_mal, mix),
            params: harary_mal,
            dropouts: Dropouts {
                after_shares: HARARY_MAL_DROPS[0].to_vec(),
                during_consistency: HARARY_MAL_DROPS[1].to_vec(),
                during_unmask: HARARY_MAL_DROPS[2].to_vec(),
                ..Default::default()
            },
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
                offset: share_keys_ciphertext(&base, 2, 10),
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
            "Client 5's MaskedInput is followed by a second, different one (its last byte \
             flipped): the second is rejected (Duplicate), the first stands, and client 5 \
             is named in misbehaved.",
            16,
            Dropouts::default(),
            Tamper::Duplicate {
                phase: Phase::MaskedInput,
                from: 5,
            },
        ),
        bad(
            "bad_masked_input_resent_identical",
            "Client 5's MaskedInput arrives twice, byte for byte (a transport retry): the \
             resend is a no-op, nobody is named, and the sum is the undisturbed round's.",
            20,
            Dropouts::default(),
            Tamper::Resend {
                phase: Phase::MaskedInput,
                from: 5,
            },
        ),
        bad(
            "bad_unmask_response_wrong_version",
            "Client 4's UnmaskResponse carries version byte 1 (protocol v1): rejected \
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
             (still a canonical scalar): the message is accepted, the share fails client \
             1's Feldman commitments, client 3 is named (BadShare), and the sum is still \
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
        Case {
            name: "complete_n5_t3_b32_m8_abort_advertise",
            description: "Complete graph, n=5, t=3. Clients 1, 2 and 3 never send \
                          AdvertiseKeys: R0 closes with 2 < t and the round aborts before \
                          any key is broadcast.",
            seed: 8,
            params: base.clone(),
            inputs: base_inputs.clone(),
            dropouts: Dropouts {
                before_keys: vec![1, 2, 3],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b32_m8_abort_masked",
            description: "Complete graph, n=5, t=3. Clients 1, 2 and 3 send ShareKeys and \
                          drop before MaskedInput: R2 closes with 2 < t masked inputs and the \
                          round aborts; nobody is asked for shares.",
            seed: 9,
            params: base.clone(),
            inputs: base_inputs.clone(),
            dropouts: drop(vec![1, 2, 3]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b32_m8_abort_unmask",
            description: "Complete graph, n=5, t=3. Every client sends MaskedInput; clients \
                          1, 2 and 3 never answer their UnmaskRequest: R3 closes with 2 < t \
                          answers and the round aborts without a sum.",
            seed: 10,
            params: base.clone(),
            inputs: base_inputs.clone(),
            dropouts: Dropouts {
                during_unmask: vec![1, 2, 3],
                ..Default::default()
            },
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b33_m8_drop1",
            description: "b=33, the narrowest width with 8-byte PRG lanes (reduced mod \
                          2^33); 33-bit elements cross byte boundaries, 8 of them pack into \
                          33 bytes. Client 2 drops after ShareKeys.",
            seed: 24,
            inputs: inputs(&b33, mix),
            params: b33,
            dropouts: drop(vec![2]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b32_m8_drop1_aes",
            description: "The first round with the AES-128-CTR mask PRG (parameter \
                          extension 2): complete graph, n=5, t=3, b=32, m=8. Client 2 drops \
                          after ShareKeys; every mask, the self-masks and its pairwise ones, \
                          is AES-128-CTR keystream.",
            seed: 26,
            params: base.clone().with_prg(Prg::Aes128Ctr),
            inputs: base_inputs.clone(),
            dropouts: drop(vec![2]),
            tamper: None,
        },
        Case {
            name: "complete_n5_t3_b13_m7_drop1",
            description: "b=13, m=7: 91 bits packed into 12 bytes with 5 zero padding \
                          bits; elements cross byte boundaries at every offset. Client 5 \
                          drops after ShareKeys.",
            seed: 25,
            inputs: inputs(&b13, mix),
            params: b13,
            dropouts: drop(vec![5]),
            tamper: None,
        },
        bad(
            "bad_advertise_unexpected_type",
            "Client 1's AdvertiseKeys carries message type 3 instead of 1: rejected \
             (UnexpectedType), client 1 is excluded; the round finishes without it.",
            41,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::AdvertiseKeys,
                from: 1,
                offset: 1,
                mask: 0x02,
            },
        ),
        bad(
            "bad_advertise_weak_key",
            "Client 3's AdvertiseKeys carries c_pk = 0, a point of small order whose \
             every agreement is all-zero: rejected (WeakKey), client 3 is excluded.",
            42,
            Dropouts::default(),
            Tamper::Fill {
                phase: Phase::AdvertiseKeys,
                from: 3,
                offset: 2 + 32,
                len: 32,
                byte: 0,
            },
        ),
        bad(
            "bad_advertise_duplicate_key",
            "Client 2 never advertises; a copy of client 1's AdvertiseKeys claims to come \
             from client 2: its keys are client 1's, so it is rejected (DuplicateKey), and \
             client 1 is excluded too (the server cannot tell which of the two is genuine, \
             spec/protocol.md section 5.1); the round finishes with 3, 4 and 5.",
            43,
            Dropouts {
                before_keys: vec![2],
                ..Default::default()
            },
            Tamper::Inject {
                phase: Phase::AdvertiseKeys,
                from: 1,
                claimed: 2,
            },
        ),
        bad(
            "bad_share_keys_count_out_of_bounds",
            "The ciphertext count of client 2's ShareKeys gets 2^24 added: more than n, \
             rejected before anything is allocated (LengthOutOfBounds); client 2 is \
             excluded.",
            44,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::ShareKeys,
                from: 2,
                offset: share_keys_ciphertext(&base, 0, 0) - 8 + 3,
                mask: 0x01,
            },
        ),
        bad(
            "bad_share_keys_index_out_of_range",
            "The receiver index of the last ciphertext in client 1's ShareKeys gets 2^24 \
             added (still ascending): outside 1..=n, rejected (IndexOutOfRange); client 1 is \
             excluded.",
            45,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::ShareKeys,
                from: 1,
                offset: share_keys_ciphertext(&base, 3, 0) - 4 + 3,
                mask: 0x01,
            },
        ),
        bad(
            "bad_share_keys_wrong_recipients",
            "Client 5 never advertises. Client 1's last ciphertext, for client 4, is \
             readdressed to 5, a valid index outside U1: rejected (WrongRecipients), client \
             1 is excluded.",
            46,
            Dropouts {
                before_keys: vec![5],
                ..Default::default()
            },
            Tamper::Xor {
                phase: Phase::ShareKeys,
                from: 1,
                offset: share_keys_ciphertext(&base, 2, 0) - 4,
                mask: 0x01,
            },
        ),
        bad(
            "bad_share_keys_late_retry",
            "Client 2's AdvertiseKeys arrives again during R1, after its ShareKeys (an \
             at-least-once transport retrying after R0 closed): a message of an earlier \
             phase is late, not malformed (NotInPhase, ignored); client 2 keeps its place \
             and the round finishes with all five.",
            60,
            Dropouts::default(),
            Tamper::Retry {
                phase: Phase::AdvertiseKeys,
                from: 2,
                again: Phase::ShareKeys,
            },
        ),
        bad(
            "bad_share_keys_not_in_phase",
            "Client 2 never advertises; a copy of client 1's ShareKeys claims to come from \
             client 2, which is not in U1: rejected (NotInPhase); the round finishes with \
             the other four.",
            47,
            Dropouts {
                before_keys: vec![2],
                ..Default::default()
            },
            Tamper::Inject {
                phase: Phase::ShareKeys,
                from: 1,
                claimed: 2,
            },
        ),
        bad(
            "bad_unmask_response_wrong_kind",
            "The kind byte of the first share in client 2's UnmaskResponse is flipped: it \
             offers a mask-key share of a survivor, which the request did not ask for \
             (WrongAnswer); the other answers suffice.",
            48,
            Dropouts::default(),
            Tamper::Xor {
                phase: Phase::Unmask,
                from: 2,
                offset: 2 + 32 + 4 + 4,
                mask: 0x01,
            },
        ),
        bad(
            "bad_unmask_response_non_canonical_share",
            "The first share in client 2's UnmaskResponse is set to 32 bytes 0xff, a scalar \
             not reduced mod l: rejected (NonCanonical); the other answers suffice.",
            49,
            Dropouts::default(),
            Tamper::Fill {
                phase: Phase::Unmask,
                from: 2,
                offset: 2 + 32 + 4 + 4 + 1,
                len: 32,
                byte: 0xff,
            },
        ),
        bad(
            "bad_key_broadcast_missing_own_keys",
            "The KeyBroadcast to client 2 leaves out client 2's own keys: client 2 refuses \
             (MissingOwnKeys) and drops out before sharing; the round finishes without it.",
            51,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::AdvertiseKeys,
                to: 2,
                edit: Edit::RemoveOwnKeys,
            },
        ),
        bad(
            "bad_key_broadcast_duplicate_keys",
            "The KeyBroadcast to client 2 gives client 4 client 3's s_pk: client 2 refuses \
             (DuplicateKeys) and drops out before sharing.",
            52,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::AdvertiseKeys,
                to: 2,
                edit: Edit::CopyKey { peer: 4, source: 3 },
            },
        ),
        bad(
            "bad_key_broadcast_weak_key",
            "The KeyBroadcast to client 2 gives client 4 s_pk = 0 (small order): client 2 \
             refuses (WeakKey, peer 4) and drops out before sharing.",
            53,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::AdvertiseKeys,
                to: 2,
                edit: Edit::ZeroKey { peer: 4 },
            },
        ),
        bad(
            "bad_key_broadcast_too_few",
            "The KeyBroadcast to client 1 keeps only clients 1 and 2, fewer than t = 3: \
             client 1 refuses (NotEnoughNeighbours) and drops out before sharing.",
            54,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::AdvertiseKeys,
                to: 1,
                edit: Edit::KeepKeys { count: 2 },
            },
        ),
        bad(
            "bad_share_delivery_wrong_version",
            "The ShareDelivery to client 3 carries version byte 1: client 3 refuses it \
             (Server/Malformed/UnsupportedVersion) and drops out before masking; its pairwise \
             masks never enter the sum.",
            55,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::ShareKeys,
                to: 3,
                edit: Edit::Xor {
                    offset: 0,
                    mask: 0x03,
                },
            },
        ),
        bad(
            "bad_share_delivery_wrong_session",
            "The session id of the ShareDelivery to client 3 has one bit flipped: client 3 \
             refuses it (WrongSession) and drops out before masking.",
            56,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::ShareKeys,
                to: 3,
                edit: Edit::Xor {
                    offset: 2,
                    mask: 0x01,
                },
            },
        ),
        bad(
            "bad_unmask_request_self_not_survivor",
            "The UnmaskRequest to client 2 leaves client 2 out of the survivors: client 2 \
             refuses (SelfNotSurvivor) and reveals nothing; the others' answers suffice.",
            57,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::MaskedInput,
                to: 2,
                edit: Edit::RemoveSurvivor { peer: 2 },
            },
        ),
        bad(
            "bad_unmask_request_incomplete",
            "The UnmaskRequest to client 2 leaves client 4, a neighbour it masked with, out \
             of the survivors: client 2 refuses (IncompleteRequest, peer 4) and reveals \
             nothing; the others' answers suffice.",
            58,
            Dropouts::default(),
            Tamper::Server {
                phase: Phase::MaskedInput,
                to: 2,
                edit: Edit::RemoveSurvivor { peer: 4 },
            },
        ),
        bad(
            "bad_unmask_request_unexpected_peer",
            "Client 5 never advertises. The UnmaskRequest to client 2 lists 5 as a \
             survivor, a peer client 2 never saw: client 2 refuses (UnexpectedPeer, peer 5) \
             and reveals nothing.",
            59,
            Dropouts {
                before_keys: vec![5],
                ..Default::default()
            },
            Tamper::Server {
                phase: Phase::MaskedInput,
                to: 2,
                edit: Edit::AddSurvivor { peer: 5 },
            },
        ),
        bad_mal(
            "bad_malicious_unmask_request_changed_set",
            "Malicious model, n=7, t=5, c=1. The UnmaskRequest to client 2 moves client 5 \
             from the survivors to the dropped, a different set from the one every client \
             signed: client 2 refuses (SurvivorSetChanged) and reveals nothing (neither 5's \
             seed share nor its mask-key share); the others' answers suffice.",
            37,
            Tamper::Server {
                phase: Phase::Consistency,
                to: 2,
                edit: Edit::SurvivorToDropped { peer: 5 },
            },
        ),
        bad_mal(
            "bad_malicious_advertise_flipped_signature",
            "Malicious model, complete graph, n=7, t=5, c=1. One bit of the signature in \
             client 2's AdvertiseKeys is flipped: the server rejects it (BadSignature) and \
             excludes client 2; the round finishes with the other six.",
            31,
            Tamper::Xor {
                phase: Phase::AdvertiseKeys,
                from: 2,
                offset: ADVERTISE_SIGNATURE,
                mask: 0x01,
            },
        ),
        bad_mal(
            "bad_malicious_advertise_other_round",
            "Malicious model, n=7, t=5, c=1. The round id in client 4's AdvertiseKeys \
             differs in one bit, as in a message replayed from another round: the server \
             rejects it (WrongSession) before looking at the signature and excludes client \
             4; the round finishes with the other six.",
            32,
            Tamper::Xor {
                phase: Phase::AdvertiseKeys,
                from: 4,
                offset: ADVERTISE_ROUND,
                mask: 0x01,
            },
        ),
        bad_mal(
            "bad_malicious_masked_input_flipped_signature",
            "Malicious model, n=7, t=5, c=1. One bit of the masking-set signature in \
             client 3's MaskedInput is flipped: rejected (BadSignature), client 3 is \
             excluded, treated as dropped after ShareKeys, and its pairwise masks are \
             removed through its reconstructed mask key.",
            33,
            Tamper::Xor {
                phase: Phase::MaskedInput,
                from: 3,
                offset: MASKED_INPUT_SIGNATURE,
                mask: 0x01,
            },
        ),
        bad_mal(
            "bad_malicious_consistency_flipped_signature",
            "Malicious model, n=7, t=5, c=1. One bit of client 6's consistency signature is \
             flipped: rejected (BadSignature), client 6 is not a signer and is not asked for \
             shares, but its input is in the sum (its self-mask seed is reconstructed from \
             the other six) and it is named in misbehaved.",
            34,
            Tamper::Xor {
                phase: Phase::Consistency,
                from: 6,
                offset: CONSISTENCY_SIGNATURE,
                mask: 0x01,
            },
        ),
        bad_mal(
            "bad_malicious_key_broadcast_replaced_key",
            "Malicious model, n=7, t=5, c=1. The KeyBroadcast to client 3 carries another \
             valid key (the X25519 base point) as client 5's s_pk: client 5's signature \
             does not cover it, client 3 refuses (BadSignature, peer 5) and drops out \
             before sharing; the round finishes with the other six.",
            35,
            Tamper::ReplaceKey { to: 3, peer: 5 },
        ),
        bad_mal(
            "bad_malicious_unmask_request_stripped_certificates",
            "Malicious model, n=7, t=5, c=1. The UnmaskRequest to client 2 arrives without \
             the consistency signatures of its evidence: client 2 cannot see the survivor \
             set certified, refuses (NotCertified) and reveals no share; the other six \
             answers suffice and the round finishes with client 2's input in the sum.",
            36,
            Tamper::StripCertificates { to: 2 },
        ),
    ]
}

/// The malicious Harary case's dropouts: after ShareKeys, during
/// Consistency, during Unmask. Chosen under the case's round id so that the
/// first two share no neighbour (each client of H(6, 20) may lose at most
/// one of its six neighbours before the consistency round and keep t = 5
/// signers); `vectors_harary_dropouts_are_spread` checks it.
const HARARY_MAL_DROPS: [[ClientIndex; 1]; 3] = [[1], [3], [7]];

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
    /// The honest bytes of an `altered` message, before the wire changed them.
    original: Option<Vec<u8>>,
}

/// How the wire disturbed one message: its mark and, when altered, the
/// honest bytes its sender produced.
type Mark = (Option<&'static str>, Option<Vec<u8>>);

impl Entry {
    fn new(e: &Event<'_>, (tampered, original): Mark) -> Self {
        Self {
            phase: e.phase,
            direction: e.direction,
            bytes: e.bytes.to_vec(),
            refused: e.refused,
            tampered,
            original,
        }
    }

    fn json(&self, malicious: bool) -> J {
        let (from, to, up) = match self.direction {
            Direction::ToServer { from } => (num(from), s("server"), true),
            Direction::ToClient { to } => (s("server"), num(to), false),
        };
        let mut o = vec![
            ("phase", s(self.phase.to_string())),
            ("from", from),
            ("to", to),
            ("message", s(self.message_name(up, malicious))),
            ("hex", s(hex(&self.bytes))),
        ];
        if let Some(t) = self.tampered {
            o.push(("tampered", s(t)));
        }
        if let Some(original) = &self.original {
            o.push(("original_hex", s(hex(original))));
        }
        if let Some(e) = &self.refused {
            o.push(("error", error_json(e)));
        }
        J::Obj(o)
    }

    fn message_name(&self, up: bool, malicious: bool) -> &'static str {
        entry_name(
            self.phase,
            up,
            malicious,
            self.tampered == Some(INJECTED),
            &self.bytes,
        )
    }

    fn to(&self) -> Option<ClientIndex> {
        match self.direction {
            Direction::ToClient { to } => Some(to),
            Direction::ToServer { .. } => None,
        }
    }
}

/// The wire of a bad_* case: applies its tamper once and records everything.
struct TamperWire<'a> {
    params: &'a Params,
    tamper: Tamper,
    hits: usize,
    marks: VecDeque<Mark>,
    entries: Vec<Entry>,
    /// The message a `Retry` delivers again.
    kept: Option<Vec<u8>>,
}

impl Wire for TamperWire<'_> {
    fn on_client_message(
        &mut self,
        phase: Phase,
        from: ClientIndex,
        mut bytes: Vec<u8>,
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        let hit = |p: Phase, f: ClientIndex| p == phase && f == from;
        let original = bytes.clone();
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
            Tamper::Fill {
                phase: p,
                from: f,
                offset,
                len,
                byte,
            } if hit(p, f) => {
                bytes[offset..offset + len].fill(byte);
                vec![(from, bytes, Some(ALTERED))]
            }
            Tamper::Duplicate { phase: p, from: f } if hit(p, f) => {
                let mut other = bytes.clone();
                if let Some(last) = other.last_mut() {
                    *last ^= 1;
                }
                vec![(from, bytes, None), (from, other, Some(INJECTED))]
            }
            Tamper::Resend { phase: p, from: f } if hit(p, f) => {
                vec![(from, bytes.clone(), None), (from, bytes, Some(INJECTED))]
            }
            Tamper::Retry {
                phase: p, from: f, ..
            } if hit(p, f) => {
                self.kept = Some(bytes.clone());
                vec![(from, bytes, None)]
            }
            Tamper::Retry { from: f, again, .. } if hit(again, f) => {
                let old = self.kept.clone().unwrap_or_default();
                vec![(from, bytes, None), (from, old, Some(INJECTED))]
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
                let honest = (m == Some(ALTERED)).then(|| original.clone());
                self.marks.push_back((m, honest));
                (i, b)
            })
            .collect()
    }

    fn on_server_message(&mut self, phase: Phase, to: ClientIndex, bytes: Vec<u8>) -> Vec<u8> {
        let p = self.params;
        let altered = match self.tamper {
            Tamper::DroppedAlsoSurvivor { to: t }
                if phase == Phase::MaskedInput && !p.is_malicious() && t == to =>
            {
                let mut req = UnmaskRequest::decode(p, &bytes).unwrap();
                assert!(!req.dropped.is_empty(), "the case needs a dropped peer");
                req.survivors.extend_from_slice(&req.dropped);
                req.survivors.sort_unstable();
                Some(req.to_bytes())
            }
            Tamper::ReplaceKey { to: t, peer } if phase == Phase::AdvertiseKeys && t == to => {
                let mut msg = KeyBroadcast::decode(p, &bytes).unwrap();
                let entry = msg.keys.iter_mut().find(|k| k.index == peer).unwrap();
                assert_ne!(entry.s_pk, BASE_POINT);
                entry.s_pk = BASE_POINT;
                Some(msg.to_bytes())
            }
            Tamper::StripCertificates { to: t } if phase == Phase::Consistency && t == to => {
                let mut req = UnmaskRequest::decode(p, &bytes).unwrap();
                let evidence = req.evidence.as_mut().unwrap();
                assert!(!evidence.signatures.is_empty());
                evidence.signatures.clear();
                Some(req.to_bytes())
            }
            Tamper::Server {
                phase: ph,
                to: t,
                edit,
            } if phase == ph && t == to => Some(edit.apply(p, to, &bytes)),
            _ => None,
        };
        match altered {
            Some(out) => {
                assert_ne!(out, bytes);
                self.hits += 1;
                self.marks.push_back((Some(ALTERED), Some(bytes)));
                out
            }
            None => {
                self.marks.push_back((None, None));
                bytes
            }
        }
    }

    fn on_delivered(&mut self, event: &Event<'_>) {
        let mark = self.marks.pop_front().expect("one mark per message");
        self.entries.push(Entry::new(event, mark));
    }
}

/// The first 32 bytes of the stream of `seed`: the round id.
fn first_rng_bytes(seed: u64) -> RoundId {
    let mut round = [0u8; 32];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut round);
    round
}

/// The stream of `seed` after the round id and, in the malicious model, the
/// clients' identities (drawn 32 bytes each, ascending by index): what the
/// server and the clients draw from next.
fn identities(p: &Params, rng: &mut ChaCha20Rng) -> Vec<Identity> {
    if p.is_malicious() {
        (0..p.clients()).map(|_| Identity::generate(rng)).collect()
    } else {
        Vec::new()
    }
}

/// The identities' public keys, in index order: the roster.
fn roster_of(seed: u64, p: &Params) -> Vec<[u8; 32]> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut round = [0u8; 32];
    rng.fill_bytes(&mut round);
    identities(p, &mut rng)
        .iter()
        .map(Identity::public_key)
        .collect()
}

/// The intermediate values of an honest transcript (protocols/v2/README.md
/// section "Intermediate values"), read off its messages.
fn intermediates(p: &Params, round: &RoundId, entries: &[Entry]) -> Vec<(&'static str, J)> {
    let recipients = |phase: Phase| -> Vec<ClientIndex> {
        let set: BTreeSet<ClientIndex> = entries
            .iter()
            .filter(|e| e.phase == phase)
            .filter_map(Entry::to)
            .collect();
        set.into_iter().collect()
    };
    let session = entries
        .iter()
        .find(|e| e.phase == Phase::AdvertiseKeys && e.to().is_some())
        .map_or([0u8; 32], |e| {
            KeyBroadcast::decode(p, &e.bytes).unwrap().session
        });
    let mut keys = BTreeMap::new();
    for e in entries {
        if let (Phase::AdvertiseKeys, Direction::ToServer { from }) = (e.phase, e.direction) {
            let m = AdvertiseKeys::decode(p, &e.bytes).unwrap();
            assert!(keys.insert(from, (m.c_pk, m.s_pk)).is_none());
        }
    }
    let mut sets = vec![
        ("u1", indices_json(&recipients(Phase::AdvertiseKeys))),
        ("u2", indices_json(&recipients(Phase::ShareKeys))),
        ("u3", indices_json(&recipients(Phase::MaskedInput))),
    ];
    if p.is_malicious() {
        let signers: Vec<ClientIndex> = entries
            .iter()
            .filter(|e| e.phase == Phase::Consistency && e.refused.is_none())
            .filter_map(|e| match e.direction {
                Direction::ToServer { from } => Some(from),
                Direction::ToClient { .. } => None,
            })
            .collect();
        sets.push(("u4", indices_json(&signers)));
    }
    let clients = (1..=p.clients())
        .map(|u| {
            let mut o = vec![
                ("index", num(u)),
                ("neighbours", indices_json(&p.neighbours(round, u))),
            ];
            if let Some((c_pk, s_pk)) = keys.get(&u) {
                o.push(("c_pk_hex", s(hex(c_pk))));
                o.push(("s_pk_hex", s(hex(s_pk))));
            }
            J::Obj(o)
        })
        .collect();
    vec![
        ("session_id_hex", s(hex(&session))),
        ("survivor_sets", J::Obj(sets)),
        ("clients", J::Arr(clients)),
    ]
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
                &mut |e| entries.push(Entry::new(e, (None, None))),
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
                kept: None,
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
    assert_eq!(report.round, first_rng_bytes(case.seed), "{}", case.name);
    // Whenever the round finishes, its sum is the plaintext sum over U3.
    if let Ok(agg) = &report.result {
        assert_eq!(Some(&agg.sum), report.expected.as_ref(), "{}", case.name);
    }
    let malicious = case.params.is_malicious();
    let mut doc = vec![
        ("version", num(FORMAT)),
        ("description", s(case.description)),
        ("rng_seed", num(case.seed)),
        ("round_id_hex", s(hex(&report.round))),
        ("params", params_json(&case.params)),
    ];
    if malicious {
        let roster = roster_of(case.seed, &case.params);
        doc.push(("roster", J::Arr(roster.iter().map(|k| s(hex(k))).collect())));
    }
    doc.push((
        "inputs",
        J::Arr(case.inputs.iter().map(|x| vector_json(x)).collect()),
    ));
    doc.push(("dropouts", dropouts_json(&case.dropouts)));
    if let Some(t) = &case.tamper {
        doc.push(("tamper", t.json()));
    }
    doc.push((
        "messages",
        J::Arr(entries.iter().map(|e| e.json(malicious)).collect()),
    ));
    doc.push(("result", result_json(&report.result)));
    if case.tamper.is_none() {
        doc.extend(intermediates(&case.params, &report.round, &entries));
    }
    J::Obj(doc)
}

fn path_of(name: &str) -> PathBuf {
    Path::new(DIR).join(format!("{name}.json"))
}

/// The round files of the directory (every .json but the params table).
fn vector_files() -> BTreeSet<String> {
    std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .filter(|f| f != PARAMS_TABLE && f != DERIVATION_TABLE)
        .collect()
}

/// Writes `text` to `path` with `SECAGG_REGEN_VECTORS=1`; otherwise
/// returns the stored text.
fn stored_or_write(path: &Path, text: &str, write: bool) -> Option<String> {
    if write {
        std::fs::write(path, text).unwrap();
        return None;
    }
    Some(
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{}: {e} (SECAGG_REGEN_VECTORS=1 writes it)", path.display())
        }),
    )
}

#[test]
fn vectors_regenerate_byte_for_byte() {
    let write = std::env::var("SECAGG_REGEN_VECTORS").is_ok_and(|v| v == "1");
    let cases = cases();
    for case in &cases {
        let doc = generate(case);
        let text = render(&doc);
        let Some(stored) = stored_or_write(&path_of(case.name), &text, write) else {
            continue;
        };
        let file: Value = serde_json::from_str(&stored).unwrap();
        let fresh = value(&doc);
        for key in [
            "version",
            "rng_seed",
            "round_id_hex",
            "params",
            "roster",
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
        for key in ["session_id_hex", "survivor_sets", "clients"] {
            assert_eq!(file.get(key), fresh.get(key), "{}: {key}", case.name);
        }
        assert_eq!(text, stored, "{}: file text", case.name);
    }
    let table = render(&params_table());
    if let Some(stored) = stored_or_write(&path_of(PARAMS_TABLE), &table, write) {
        assert_eq!(table, stored, "params.json text");
    }
    let table = render(&derivation_table());
    if let Some(stored) = stored_or_write(&path_of(DERIVATION_TABLE), &table, write) {
        assert_eq!(table, stored, "secagg_plus.json text");
    }
    if write {
        return;
    }
    let names: BTreeSet<String> = cases.iter().map(|c| c.name.to_owned()).collect();
    assert_eq!(
        names,
        vector_files(),
        "every round file in protocols/v2 is a case"
    );
    let bad = names.iter().filter(|n| n.starts_with("bad_")).count();
    let bad_malicious = names
        .iter()
        .filter(|n| n.starts_with("bad_malicious_"))
        .count();
    assert_eq!((bad, bad_malicious), (36, 7), "bad_* cases");
}

/// Every fault and refusal the spec names appears in some vector, as a
/// verdict on a message or in a result: each `ClientFault` and
/// `ServerFault`, each `DecodeError` (in a client's or the server's
/// `Malformed`, or from `Params::decode`), each `ParamsError` that
/// `Params::decode` can return, and `NotEnoughSurvivors` in every phase.
/// `SecretMismatch` is the exception: it needs a dealer that shares another
/// secret than the one it masks with, which no edit of the encrypted
/// messages on the wire can make (tests/api/fuzz_corpus.rs
/// `regression_wrong_seed_commitment_aborts_typed` covers it).
#[test]
fn vectors_cover_every_fault() {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut note = |e: &Value| {
        let kind = e["error"].as_str().unwrap_or("Client");
        let mut key = format!("{kind}/{}", e["fault"].as_str().unwrap_or(""));
        if let Some(d) = e["detail"].as_str() {
            key = format!("{key}/{d}");
        }
        if let Some(p) = e["phase"].as_str() {
            key = format!("{key}{p}");
        }
        seen.insert(key);
    };
    for name in vector_files() {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path_of(&name)).unwrap()).unwrap();
        for m in v["messages"].as_array().unwrap() {
            if let Some(e) = m.get("error") {
                note(e);
            }
        }
        if v["result"].get("error").is_some() {
            note(&v["result"]);
        } else {
            v["result"]["misbehaved"]
                .as_array()
                .unwrap()
                .iter()
                .for_each(&mut note);
        }
    }
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(path_of(PARAMS_TABLE)).unwrap()).unwrap();
    for e in table["encodings"].as_array().unwrap() {
        if let Some(err) = e.get("error") {
            note(err);
        }
    }
    let decode = [
        "Truncated",
        "TrailingBytes",
        "UnsupportedVersion",
        "UnexpectedType",
        "LengthOutOfBounds",
        "NonCanonical",
        "IndexOutOfRange",
    ];
    let mut want: BTreeSet<String> = [
        "WrongSession",
        "BadSignature",
        "Duplicate",
        "UnknownSender",
        "NotInPhase",
        "WeakKey",
        "DuplicateKey",
        "WrongRecipients",
        "Undecryptable",
        "WrongAnswer",
        "BadShare",
    ]
    .iter()
    .map(|f| format!("Client/{f}"))
    .collect();
    want.extend(decode.iter().map(|d| format!("Client/Malformed/{d}")));
    want.extend(
        [
            "WrongSession",
            "MissingOwnKeys",
            "DuplicateKeys",
            "WeakKey",
            "UnexpectedPeer",
            "NotEnoughNeighbours",
            "SurvivorAndDropped",
            "SelfNotSurvivor",
            "IncompleteRequest",
            "BadSignature",
            "NotCertified",
            "SurvivorSetChanged",
            "Malformed/UnsupportedVersion",
        ]
        .iter()
        .map(|f| format!("Server/{f}")),
    );
    want.extend(
        [
            "UnsupportedVersion",
            "NonCanonical",
            "Truncated",
            "TrailingBytes",
        ]
        .iter()
        .map(|d| format!("Decode//{d}")),
    );
    want.extend(
        [
            "ClientCount",
            "Threshold",
            "Bits",
            "Dimension",
            "Degree",
            "NotUnique",
        ]
        .iter()
        .map(|d| format!("Params//{d}")),
    );
    want.extend(PHASES.iter().map(|p| format!("NotEnoughSurvivors/{p}")));
    let missing: Vec<&String> = want.difference(&seen).collect();
    assert!(missing.is_empty(), "no vector shows {missing:?}");
}

/// The malicious Harary case only finishes because its dropouts are spread
/// over the ring: check the choice under the case's round id.
#[test]
fn vectors_harary_dropouts_are_spread() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "malicious_harary_n20_k6_t5_c1_b16_m16_drops")
        .unwrap();
    let round = first_rng_bytes(case.seed);
    let [a, b, c] = HARARY_MAL_DROPS.map(|[x]| x);
    let nb = |u| case.params.neighbours(&round, u);
    assert_eq!(nb(a).len(), 6);
    assert!(
        !nb(a).contains(&b),
        "the two early dropouts are not neighbours"
    );
    let shared: Vec<ClientIndex> = nb(a).into_iter().filter(|v| nb(b).contains(v)).collect();
    assert_eq!(shared, Vec::<ClientIndex>::new(), "no common neighbour");
    assert!(![a, b].contains(&c));
}

// ---------------------------------------------------------------------------
// The table of parameter encodings (params.json).

/// Offset of the graph tag in a parameter encoding: version, n, t, b, m.
const GRAPH_TAG: usize = 1 + 4 + 4 + 1 + 4;

/// `base` with the little-endian `u32` at `at` replaced by `value`.
fn splice(base: &[u8], at: usize, value: u32) -> Vec<u8> {
    let mut v = base.to_vec();
    v[at..at + 4].copy_from_slice(&value.to_le_bytes());
    v
}

/// `(name, what it shows, bytes)` for every entry of params.json.
fn params_encodings() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let semi = complete(5, 3, 32, 8).to_bytes();
    let mal = malicious(complete(7, 5, 32, 8), 1).to_bytes();
    let h = malicious(harary(20, 6, 5, 16, 16), 1).to_bytes();
    let edit = |base: &[u8], at: usize, byte: u8| {
        let mut v = base.to_vec();
        v[at] = byte;
        v
    };
    // Malicious complete-graph encodings with t and c spliced in.
    let mal_with = |t: u32, c: u32| {
        let mut v = mal.clone();
        v[5..9].copy_from_slice(&t.to_le_bytes());
        let model = GRAPH_TAG + 1;
        v[model + 1..model + 5].copy_from_slice(&c.to_le_bytes());
        v
    };
    let last = semi.len() - 1;
    let model_tag = GRAPH_TAG + 1;
    let mut trailing = semi.clone();
    trailing.push(0);
    let mut odd_degree = h.clone();
    odd_degree[GRAPH_TAG + 1..GRAPH_TAG + 5].copy_from_slice(&5u32.to_le_bytes());
    let mut harary_low = h.clone();
    harary_low[5..9].copy_from_slice(&3u32.to_le_bytes());
    vec![
        (
            "accepted_semi_honest_complete",
            "n=5, t=3, b=32, m=8, complete graph, semi-honest: model byte 0.",
            semi.clone(),
        ),
        (
            "accepted_malicious_complete",
            "n=7, t=5, b=32, m=8, complete graph, malicious with c=1: model byte 1, then c.",
            mal.clone(),
        ),
        (
            "accepted_malicious_harary",
            "n=20, t=5, b=16, m=16, Harary k=6, malicious with c=1 (2t - k = 4 > c).",
            h.clone(),
        ),
        (
            "version_1",
            "Version byte 1 (protocol v1).",
            edit(&semi, 0, 1),
        ),
        (
            "unknown_graph_tag",
            "Graph tag 2: neither complete (0) nor Harary (1).",
            edit(&semi, GRAPH_TAG, 2),
        ),
        (
            "unknown_model_tag",
            "Server-model tag 2: neither semi-honest (0) nor malicious (1).",
            edit(&semi, model_tag, 2),
        ),
        (
            "extension_count_without_extension",
            "Extension count 1, then nothing: the extension's type byte is missing.",
            edit(&semi, last, 1),
        ),
        (
            "three_extensions",
            "Extension count 3: at most one extension of each defined type (1, the DP \
             configuration; 2, the mask PRG).",
            edit(&semi, last, 3),
        ),
        (
            "unknown_extension_type",
            "One extension of type 3: only types 1 (the DP configuration) and 2 (the mask \
             PRG) are defined.",
            [&edit(&semi, last, 1)[..], &[3, 0, 0, 0, 0]].concat(),
        ),
        (
            "accepted_prg_aes128ctr",
            "n=5, t=3, b=32, m=8, complete graph, semi-honest, mask PRG AES-128-CTR: one \
             extension of type 2, length 1, body 0x01.",
            [&edit(&semi, last, 1)[..], &[2, 1, 0, 0, 0, 1]].concat(),
        ),
        (
            "prg_extension_naming_chacha20",
            "A PRG extension with body 0x00 (ChaCha20): ChaCha20 is the absence of the \
             extension, so this is not canonical.",
            [&edit(&semi, last, 1)[..], &[2, 1, 0, 0, 0, 0]].concat(),
        ),
        (
            "prg_extension_unknown_prg",
            "A PRG extension with body 0x02: no such PRG.",
            [&edit(&semi, last, 1)[..], &[2, 1, 0, 0, 0, 2]].concat(),
        ),
        (
            "duplicate_prg_extension",
            "Two PRG extensions (both AES-128-CTR): each type appears at most once.",
            [
                &edit(&semi, last, 2)[..],
                &[2, 1, 0, 0, 0, 1],
                &[2, 1, 0, 0, 0, 1],
            ]
            .concat(),
        ),
        (
            "missing_extension_count",
            "The encoding stops before the extension-count byte.",
            semi[..last].to_vec(),
        ),
        (
            "trailing_byte",
            "One byte after the extension count.",
            trailing,
        ),
        (
            "malicious_complete_threshold_too_low",
            "Malicious, complete graph, n=7, c=1, t=4: 2t = 8 is not above n + c = 8.",
            mal_with(4, 1),
        ),
        (
            "malicious_threshold_not_above_corrupt",
            "Malicious, complete graph, n=7, t=5, c=5: t is not above c (nor 2t above n + c).",
            mal_with(5, 5),
        ),
        (
            "malicious_harary_threshold_too_low",
            "Malicious, Harary k=6, c=1, t=3: 2t - k = 0 is not above c = 1.",
            harary_low,
        ),
        (
            "harary_odd_degree",
            "Harary degree 5: degrees are even.",
            odd_degree,
        ),
        (
            "threshold_one",
            "t=1: any one neighbour could reconstruct a client's secrets.",
            {
                let mut v = semi.clone();
                v[5..9].copy_from_slice(&1u32.to_le_bytes());
                v
            },
        ),
        ("bits_zero", "b=0: b must be in 1..=64.", edit(&semi, 9, 0)),
        ("bits_65", "b=65: b must be in 1..=64.", edit(&semi, 9, 65)),
        (
            "one_client",
            "n=1: a round needs at least two clients.",
            splice(&semi, 1, 1),
        ),
        (
            "too_many_clients",
            "n above MAX_CLIENTS.",
            splice(&semi, 1, secagg::params::MAX_CLIENTS + 1),
        ),
        (
            "threshold_above_clients",
            "Complete graph, n=5, t=6: t is above the neighbourhood (n).",
            splice(&semi, 5, 6),
        ),
        (
            "threshold_above_harary_neighbourhood",
            "Harary k=6, t=8: t is above the neighbourhood (k + 1 = 7).",
            splice(&h, 5, 8),
        ),
        (
            "dimension_too_large",
            "m = MAX_DIM + 1.",
            splice(&semi, 10, secagg::params::MAX_DIM + 1),
        ),
        (
            "harary_degree_not_below_n",
            "Harary degree 20 with n=20: the degree must be below n.",
            splice(&h, GRAPH_TAG + 1, 20),
        ),
        (
            "harary_degree_zero",
            "Harary degree 0: the degree is at least 2.",
            splice(&h, GRAPH_TAG + 1, 0),
        ),
        ("empty", "No bytes at all.", Vec::new()),
    ]
}

fn decode_verdict(bytes: &[u8]) -> (&'static str, J) {
    match Params::decode(bytes) {
        Ok(p) => ("accepted", params_json(&p)),
        Err(e) => ("error", error_json(&e)),
    }
}

fn params_table() -> J {
    let entries = params_encodings()
        .into_iter()
        .map(|(name, description, bytes)| {
            let (key, verdict) = decode_verdict(&bytes);
            J::Obj(vec![
                ("name", s(name)),
                ("description", s(description)),
                ("hex", s(hex(&bytes))),
                (key, verdict),
            ])
        })
        .collect();
    J::Obj(vec![
        ("version", num(FORMAT)),
        (
            "description",
            s(
                "Parameter encodings (spec/wire-format.md section 4) and what \
               Params::decode makes of them: the parameters, or the error.",
            ),
        ),
        ("encodings", J::Arr(entries)),
    ])
}

#[test]
fn vectors_params_encodings_from_file() {
    let text = std::fs::read_to_string(path_of(PARAMS_TABLE)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], FORMAT);
    let entries = v["encodings"].as_array().unwrap();
    let mut rejected = 0;
    for e in entries {
        let name = e["name"].as_str().unwrap();
        let bytes = unhex(e["hex"].as_str().unwrap());
        match Params::decode(&bytes) {
            Ok(p) => {
                assert_eq!(p.to_bytes(), bytes, "{name}: canonical");
                assert_eq!(value(&params_json(&p)), e["accepted"], "{name}");
                assert_eq!(params_from(&e["accepted"]), p, "{name}");
            }
            Err(err) => {
                assert_eq!(value(&error_json(&err)), e["error"], "{name}");
                rejected += 1;
            }
        }
    }
    assert!(rejected >= 8, "{rejected} rejected encodings");
    let named = |n: &str| {
        &entries
            .iter()
            .find(|e| e["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))["error"]
    };
    assert_eq!(
        named("version_1"),
        &serde_json::json!({"error": "Decode", "detail": "UnsupportedVersion", "version": 1})
    );
    assert_eq!(
        named("extension_count_without_extension"),
        &serde_json::json!({"error": "Decode", "detail": "Truncated"})
    );
    for n in [
        "unknown_graph_tag",
        "unknown_model_tag",
        "three_extensions",
        "unknown_extension_type",
        "prg_extension_naming_chacha20",
        "prg_extension_unknown_prg",
        "duplicate_prg_extension",
    ] {
        assert_eq!(
            named(n),
            &serde_json::json!({"error": "Decode", "detail": "NonCanonical"}),
            "{n}"
        );
    }
    for n in [
        "malicious_complete_threshold_too_low",
        "malicious_threshold_not_above_corrupt",
        "malicious_harary_threshold_too_low",
    ] {
        assert_eq!(
            named(n),
            &serde_json::json!({"error": "Params", "detail": "NotUnique"}),
            "{n}"
        );
    }
}

// ---------------------------------------------------------------------------
// The SecAgg+ (k, t) derivation table (secagg_plus.json).

/// `(corrupt fraction, dropout fraction)` rows: those of spec/params.md
/// sections 4.3 and 4.7, and the extremes.
const DERIVATION_FRACTIONS: [(&str, &str); 8] = [
    ("0.05", "0.05"),
    ("0.05", "0.33"),
    ("0.33", "0.05"),
    ("0.1", "0.1"),
    ("0.2", "0.2"),
    ("0", "0.2"),
    ("0.45", "0.45"),
    ("0.05", "0.2"),
];

/// Roster sizes of the table: the degenerate ones and the decades.
const DERIVATION_CLIENTS: [u32; 9] = [2, 3, 10, 20, 100, 1_000, 10_000, 100_000, 1_000_000];

/// One derivation: `(k, t)` for the semi-honest server, `(k, t, c)` for the
/// malicious one (`c` from `corrupt_bound`), "none" when no pair exists.
fn derivation(n: u32, gamma: f64, delta: f64) -> (J, J) {
    use secagg::params::secagg_plus::{corrupt_bound, derive, derive_malicious};
    let semi = derive(n, gamma, delta).map_or_else(
        || s("none"),
        |(k, t)| J::Obj(vec![("degree", num(k)), ("threshold", num(t))]),
    );
    let mal = derive_malicious(n, gamma, delta).map_or_else(
        || s("none"),
        |(k, t)| {
            let mut o = vec![("degree", num(k)), ("threshold", num(t))];
            match corrupt_bound(n, k, gamma) {
                Some(c) => o.push(("corrupt", num(c))),
                None => o.push(("corrupt", s("none"))),
            }
            J::Obj(o)
        },
    );
    (semi, mal)
}

fn derivation_table() -> J {
    let mut rows = Vec::new();
    for (gamma, delta) in DERIVATION_FRACTIONS {
        for n in DERIVATION_CLIENTS {
            let (semi, mal) = derivation(n, gamma.parse().unwrap(), delta.parse().unwrap());
            rows.push(J::Obj(vec![
                ("corrupt_fraction", s(gamma)),
                ("dropout_fraction", s(delta)),
                ("clients", num(n)),
                ("semi_honest", semi),
                ("malicious", mal),
            ]));
        }
    }
    J::Obj(vec![
        ("version", num(FORMAT)),
        (
            "description",
            s(
                "SecAgg+ (k, t) from (n, corrupt fraction, dropout fraction) by the rule of                spec/params.md section 4.2 (semi-honest) and 4.7 (malicious, with the corrupt                bound c of section 4.7.1); \"none\" where no pair meets the rule. Fractions                are decimal strings, parsed to the nearest double.",
            ),
        ),
        ("derivations", J::Arr(rows)),
    ])
}

#[test]
fn vectors_secagg_plus_table_from_file() {
    let text = std::fs::read_to_string(path_of(DERIVATION_TABLE)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], FORMAT);
    let rows = v["derivations"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        DERIVATION_FRACTIONS.len() * DERIVATION_CLIENTS.len()
    );
    for r in rows {
        let gamma: f64 = r["corrupt_fraction"].as_str().unwrap().parse().unwrap();
        let delta: f64 = r["dropout_fraction"].as_str().unwrap().parse().unwrap();
        let n = u32_of(&r["clients"]);
        let (semi, mal) = derivation(n, gamma, delta);
        assert_eq!(value(&semi), r["semi_honest"], "{n} {gamma} {delta}");
        assert_eq!(value(&mal), r["malicious"], "{n} {gamma} {delta}");
    }
    // The reference points of spec/params.md section 4.3.
    let at = |g: &str, d: &str, n: u32| {
        rows.iter()
            .find(|r| r["corrupt_fraction"] == g && r["dropout_fraction"] == d && r["clients"] == n)
            .unwrap()
    };
    assert_eq!(
        at("0.05", "0.05", 1_000)["semi_honest"],
        serde_json::json!({"degree": 30, "threshold": 17})
    );
    assert_eq!(
        at("0.05", "0.05", 100)["malicious"],
        serde_json::json!({"degree": 16, "threshold": 11, "corrupt": 5})
    );
    assert_eq!(at("0.05", "0.05", 2)["semi_honest"], "none");
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
    let model = match v["server_model"].as_str().unwrap() {
        "semi-honest" => {
            assert_eq!(v["corrupt"], 0);
            ServerModel::SemiHonest
        }
        "malicious" => ServerModel::Malicious {
            corrupt: u32_of(&v["corrupt"]),
        },
        other => panic!("unknown server model {other}"),
    };
    let p = Params::new(
        u32_of(&v["clients"]),
        u32_of(&v["threshold"]),
        u8::try_from(v["bits"].as_u64().unwrap()).unwrap(),
        u32_of(&v["dim"]),
        graph,
    )
    .unwrap()
    .with_model(model)
    .unwrap()
    .with_prg(match v["prg"].as_str() {
        None => Prg::ChaCha20,
        Some("aes128ctr") => Prg::Aes128Ctr,
        Some(other) => panic!("unknown prg {other}"),
    });
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

fn indices_from(v: &Value) -> Vec<ClientIndex> {
    v.as_array().unwrap().iter().map(u32_of).collect()
}

/// Decodes `bytes` as the message `name` and re-encodes it.
fn reencode(p: &Params, name: &str, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    fn go<M: Decode<Context = Params> + Encode>(
        p: &Params,
        b: &[u8],
    ) -> Result<Vec<u8>, DecodeError> {
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
        "ConsistencyRequest" => go::<ConsistencyRequest>(p, bytes),
        "ConsistencyResponse" => go::<ConsistencyResponse>(p, bytes),
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
        (Client::Keys(mut c), Phase::AdvertiseKeys) => {
            c.receive(bytes, rng).map(|(c, o)| (Client::Shares(c), o))
        }
        (Client::Shares(mut c), Phase::ShareKeys) => {
            c.receive(bytes, input).map(|(c, o)| (Client::Unmask(c), o))
        }
        (Client::Unmask(mut c), Phase::MaskedInput) if c.params().is_malicious() => {
            c.consistency(bytes).map(|o| (Client::Unmask(c), o))
        }
        (Client::Unmask(mut c), Phase::MaskedInput | Phase::Consistency) => {
            c.receive(bytes).map(|o| (Client::Finished, o))
        }
        _ => panic!("no client state takes the close of {phase}"),
    }
}

/// Checks the intermediate values a file records against the rebuilt
/// server, the parameters and the file's own messages.
/// `sets` are U1, U2 and U3 as the server held them before its last close
/// (the close that finishes a round hands U3 over to the aggregate); the
/// signers are read after it (the consistency close records them even when
/// it aborts).
fn check_intermediates(
    name: &str,
    v: &Value,
    params: &Params,
    round: &RoundId,
    server: &Server,
    sets_before_last_close: &[Vec<ClientIndex>; 3],
) {
    assert_eq!(
        v["session_id_hex"].as_str().unwrap(),
        hex(server.session()),
        "{name}: session id"
    );
    let sets = &v["survivor_sets"];
    for (key, set) in ["u1", "u2", "u3"].iter().zip(sets_before_last_close) {
        assert_eq!(&indices_from(&sets[key]), set, "{name}: {key}");
    }
    if params.is_malicious() {
        assert_eq!(indices_from(&sets["u4"]), server.signers(), "{name}: u4");
    } else {
        assert!(sets.get("u4").is_none(), "{name}: u4 is malicious-only");
    }
    let mut advertised = BTreeMap::new();
    for m in v["messages"].as_array().unwrap() {
        if m["message"] == "AdvertiseKeys" {
            let msg = AdvertiseKeys::decode(params, &unhex(m["hex"].as_str().unwrap())).unwrap();
            advertised.insert(u32_of(&m["from"]), msg);
        }
    }
    let clients = v["clients"].as_array().unwrap();
    assert_eq!(clients.len(), params.clients() as usize, "{name}");
    for (u, c) in (1..=params.clients()).zip(clients) {
        assert_eq!(u32_of(&c["index"]), u, "{name}");
        assert_eq!(
            indices_from(&c["neighbours"]),
            params.neighbours(round, u),
            "{name}: neighbours of {u}"
        );
        match advertised.get(&u) {
            Some(m) => {
                assert_eq!(c["c_pk_hex"].as_str().unwrap(), hex(&m.c_pk), "{name}: {u}");
                assert_eq!(c["s_pk_hex"].as_str().unwrap(), hex(&m.s_pk), "{name}: {u}");
            }
            None => assert!(c.get("c_pk_hex").is_none(), "{name}: {u} never advertised"),
        }
    }
}

/// The `original_hex` of an `altered` message.
fn original_hex(m: &Value) -> &str {
    m["original_hex"]
        .as_str()
        .expect("an altered message records its honest original")
}

/// Walks one file (protocols/v2/README.md section "Replaying").
#[allow(clippy::too_many_lines, reason = "one walk of a transcript")]
fn replay(name: &str) {
    let text = std::fs::read_to_string(path_of(name)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], FORMAT, "{name}");
    let params = params_from(&v["params"]);
    let malicious = params.is_malicious();
    let seed = v["rng_seed"].as_u64().unwrap();
    let inputs: Vec<Vec<u64>> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(vector_from)
        .collect();
    assert_eq!(inputs.len(), params.clients() as usize, "{name}");

    // The stream: round id, identities (malicious model), server nonce.
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut round: RoundId = [0; 32];
    rng.fill_bytes(&mut round);
    assert_eq!(
        v["round_id_hex"].as_str().unwrap(),
        hex(&round),
        "{name}: the first 32 bytes of the stream"
    );
    let ids = identities(&params, &mut rng);
    let roster = if malicious {
        let keys: Vec<[u8; 32]> = ids.iter().map(Identity::public_key).collect();
        let listed: Vec<&str> = v["roster"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let drawn: Vec<String> = keys.iter().map(|k| hex(k)).collect();
        assert_eq!(listed, drawn, "{name}: roster");
        Some(Roster::new(&keys).unwrap())
    } else {
        assert!(
            v.get("roster").is_none(),
            "{name}: roster is malicious-only"
        );
        None
    };
    let mut server = match &roster {
        Some(r) => Server::with_roster(&params, round, r, &mut rng),
        None => Server::new(&params, round, &mut rng),
    }
    .unwrap();
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
        assert_eq!(
            m.get("original_hex").is_some(),
            tampered == Some(ALTERED),
            "{at}: exactly the altered messages record their original"
        );
        let expected = m.get("error");
        let to_server = m["to"] == "server";
        let kind = entry_name(
            phase,
            to_server,
            malicious,
            tampered == Some(INJECTED),
            &bytes,
        );
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
                    let (c, out) = match (&roster, ids.get(from as usize - 1)) {
                        (Some(roster), Some(id)) => {
                            AwaitingKeys::with_identity(&params, round, from, id, roster, &mut rng)
                        }
                        _ => AwaitingKeys::new(&params, round, from, &mut rng),
                    }
                    .unwrap();
                    clients.insert(from, Client::Keys(c));
                    out
                } else {
                    let state = clients.remove(&from).expect("a client in the round");
                    let delivered = pending.remove(&from).expect("a server message to answer");
                    let previous = answered_close(phase, malicious);
                    let (state, out) = respond(state, previous, &delivered, input, &mut rng)
                        .unwrap_or_else(|e| panic!("{at}: client refused: {e}"));
                    clients.insert(from, state);
                    out
                };
                if tampered == Some(ALTERED) {
                    assert_ne!(produced, bytes, "{at}: altered in flight");
                    assert_eq!(hex(&produced), original_hex(m), "{at}: the honest original");
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
                assert_eq!(hex(&sent), original_hex(m), "{at}: the honest original");
            } else {
                assert!(tampered.is_none(), "{at}: only altered server messages");
                assert_eq!(sent, bytes, "{at}: the server's bytes");
            }
            if let Some(expected) = expected {
                // The client refuses it at once and drops out.
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
    let sets = server.survivor_sets().map(<[ClientIndex]>::to_vec);
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
    check_stream_consumed(name, &v, &params, seed, &mut rng);
    if name.starts_with("bad_") {
        assert!(
            v.get("clients").is_none(),
            "{name}: intermediates are for honest rounds"
        );
    } else {
        check_intermediates(name, &v, &params, &round, &server, &sets);
    }
}

/// spec/conformance.md section 2: a round consumes exactly `32 + (32 n if
/// malicious) + 32 + 96 |R0 senders| + 64 (2t - 1) |R1 senders|` bytes of
/// the stream. `rng` is the replay's stream after the round; its next bytes
/// must be those at that offset of a fresh stream.
fn check_stream_consumed(name: &str, v: &Value, params: &Params, seed: u64, rng: &mut ChaCha20Rng) {
    let senders = |kind: &str| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message"] == kind && m.get("tampered").is_none_or(|t| t != INJECTED))
            .count()
    };
    let n = params.clients() as usize;
    let t = params.threshold() as usize;
    let ids = if params.is_malicious() { 32 * n } else { 0 };
    let used =
        32 + ids + 32 + 96 * senders("AdvertiseKeys") + 64 * (2 * t - 1) * senders("ShareKeys");
    let mut fresh = ChaCha20Rng::seed_from_u64(seed);
    let mut skip = vec![0u8; used];
    fresh.fill_bytes(&mut skip);
    let (mut want, mut got) = ([0u8; 32], [0u8; 32]);
    fresh.fill_bytes(&mut want);
    rng.fill_bytes(&mut got);
    assert_eq!(
        got, want,
        "{name}: the round drew {used} bytes of the stream"
    );
}

#[test]
fn vectors_replay_from_files() {
    let files = vector_files();
    assert!(files.len() >= 25, "{} vector files", files.len());
    assert!(files.iter().any(|f| f.starts_with("malicious_")));
    for name in &files {
        replay(name);
    }
}

/// protocols/v2/README.md and spec/conformance.md define the RNG without
/// reference to a library: the key is the seed expanded by PCG32, the
/// stream is the ChaCha20 keystream under it with an all-zero nonce from
/// block 0.
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
        // Drawn the way a round draws: the round id, identities, the
        // server nonce, then 32- and 64-byte key and scalar requests.
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut got = Vec::new();
        for len in [32usize, 32, 32, 32, 32, 64, 64, 64, 32, 64] {
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            got.extend_from_slice(&b);
        }
        assert_eq!(got[..], want[..got.len()], "seed {seed}");
    }
}
