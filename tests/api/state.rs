//! The single client type and state that survives a process
//! (spec/state.md): a round exported and imported at every step is the same
//! round, byte for byte; an export of another round, phase or role, cut,
//! altered or under another key is refused with its typed error; and
//! [`Client`] behaves as the typed states it wraps.

use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, Client, ClientFault, ClientIndex,
    ClientPhase, DecodeError, Error, Graph, Identity, Misuse, Outcome, Params, Phase, Roster,
    Server, ServerFault, ServerModel, StateError, StateKey, Step,
};

use crate::common::{ROUND, rng};

const KEY: [u8; 32] = [0x4b; 32];

fn semi_honest() -> Params {
    Params::new(6, 3, 16, 5, Graph::Complete).unwrap()
}

fn malicious() -> Params {
    Params::new(7, 4, 16, 5, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 0 })
        .unwrap()
}

fn input(p: &Params, u: ClientIndex) -> Vec<u64> {
    (0..u64::from(p.dim()))
        .map(|j| u64::from(u) * 100 + j)
        .collect()
}

/// How the clients are driven.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The typed states.
    Typed,
    /// [`Client`].
    Client,
    /// [`Client`], every client and the server exported and imported after
    /// every message they handle and before every phase close.
    Exported,
}

enum Typed {
    Keys(AwaitingKeys),
    Shares(AwaitingShares),
    Unmask(AwaitingUnmask),
}

enum Party {
    Typed(Option<Typed>),
    Client(Client),
}

struct Run {
    /// Every message of the round, in order.
    transcript: Vec<Vec<u8>>,
    result: Result<Aggregate, Error>,
}

/// One round of `params` in which `drop_r0` advertises its keys and then
/// goes silent and `drop_r1` goes silent after its ShareKeys.
fn drive(params: &Params, mode: Mode, drop_r0: ClientIndex, drop_r1: ClientIndex) -> Run {
    let mut r = rng(11);
    // Export nonces come from their own stream, so the round's draws are
    // the same in every mode.
    let mut nonces = rng(12);
    let key = StateKey::new(KEY);
    let n = params.clients();
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mal = params.is_malicious();
    let mut server = if mal {
        Server::with_roster(params, ROUND, &roster, &mut r).unwrap()
    } else {
        Server::new(params, ROUND, &mut r).unwrap()
    };
    let mut checkpoint_server = |server: &mut Server| {
        if mode == Mode::Exported {
            let phase = server.phase();
            let sealed = server.export(&key, &mut nonces);
            *server = Server::import(&sealed, &key, &ROUND, phase).unwrap();
            assert_eq!(server.phase(), phase);
        }
    };
    let mut client_nonces = rng(13);
    let mut checkpoint_client = |c: &mut Client| {
        if mode == Mode::Exported {
            let phase = c.phase();
            let sealed = c.export(&key, &mut client_nonces);
            *c = Client::import(&sealed, &key, &ROUND, phase).unwrap();
            assert_eq!(c.phase(), phase);
        }
    };
    let mut transcript = Vec::new();
    let mut parties = Vec::new();
    for u in 1..=n {
        let id = &ids[u as usize - 1];
        let msg = if mode == Mode::Typed {
            let (s, msg) = if mal {
                AwaitingKeys::with_identity(params, ROUND, u, id, &roster, &mut r).unwrap()
            } else {
                AwaitingKeys::new(params, ROUND, u, &mut r).unwrap()
            };
            parties.push(Party::Typed(Some(Typed::Keys(s))));
            msg
        } else {
            let (mut c, msg) = if mal {
                Client::with_identity(params, ROUND, u, id, &roster, &mut r).unwrap()
            } else {
                Client::new(params, ROUND, u, &mut r).unwrap()
            };
            checkpoint_client(&mut c);
            c.set_input(&input(params, u)).unwrap();
            checkpoint_client(&mut c);
            parties.push(Party::Client(c));
            msg
        };
        transcript.push(msg.clone());
        server.receive(u, &msg).unwrap();
        checkpoint_server(&mut server);
    }
    let mut closes = 0;
    let result = loop {
        checkpoint_server(&mut server);
        let out = match server.close_phase() {
            Ok(Step::Deliver(out)) => out,
            Ok(Step::Done(agg)) => break Ok(agg),
            Ok(_) => unreachable!(),
            Err(e) => break Err(e),
        };
        closes += 1;
        checkpoint_server(&mut server);
        for (u, bytes) in out {
            transcript.push(bytes.clone());
            if u == drop_r0 || (u == drop_r1 && closes >= 2) {
                continue;
            }
            let reply = match &mut parties[u as usize - 1] {
                Party::Client(c) => {
                    let reply = c.receive(&bytes, &mut r).unwrap();
                    checkpoint_client(c);
                    reply
                }
                Party::Typed(slot) => match slot.take().unwrap() {
                    Typed::Keys(mut s) => {
                        let (next, reply) = s.receive(&bytes, &mut r).unwrap();
                        *slot = Some(Typed::Shares(next));
                        reply
                    }
                    Typed::Shares(mut s) => {
                        let (next, reply) = s.receive(&bytes, &input(params, u)).unwrap();
                        *slot = Some(Typed::Unmask(next));
                        reply
                    }
                    Typed::Unmask(mut s) => {
                        let reply = if server.phase() == Some(Phase::Consistency) {
                            s.consistency(&bytes).unwrap()
                        } else {
                            s.receive(&bytes).unwrap()
                        };
                        *slot = Some(Typed::Unmask(s));
                        reply
                    }
                },
            };
            transcript.push(reply.clone());
            server.receive(u, &reply).unwrap();
            checkpoint_server(&mut server);
        }
    };
    if mode != Mode::Typed {
        for (i, p) in parties.iter().enumerate() {
            let Party::Client(c) = p else { continue };
            let u = i as ClientIndex + 1;
            // drop_r0 never handled its KeyBroadcast, drop_r1 its
            // ShareDelivery.
            let want = if u == drop_r0 {
                ClientPhase::KeyBroadcast
            } else if u == drop_r1 {
                ClientPhase::ShareDelivery
            } else {
                ClientPhase::Done
            };
            assert_eq!(c.phase(), want, "client {u}");
        }
    }
    Run { transcript, result }
}

/// The sum of the inputs of `1..=n` but `gone`, mod `2^b`.
fn expected_sum(p: &Params, gone: &[ClientIndex]) -> Vec<u64> {
    let mask = (1u64 << p.bits()) - 1;
    (0..p.dim() as usize)
        .map(|j| {
            (1..=p.clients())
                .filter(|u| !gone.contains(u))
                .map(|u| input(p, u)[j])
                .fold(0u64, u64::wrapping_add)
                & mask
        })
        .collect()
}

fn same_round_every_way(p: &Params) {
    let (drop_r0, drop_r1) = (p.clients(), p.clients() - 1);
    let typed = drive(p, Mode::Typed, drop_r0, drop_r1);
    let client = drive(p, Mode::Client, drop_r0, drop_r1);
    let exported = drive(p, Mode::Exported, drop_r0, drop_r1);
    let agg = typed.result.as_ref().unwrap();
    assert_eq!(agg.sum, expected_sum(p, &[drop_r0, drop_r1]));
    let survivors: Vec<ClientIndex> = (1..p.clients() - 1).collect();
    assert_eq!(agg.survivors, survivors);
    assert!(typed.transcript.len() > 4 * p.clients() as usize);
    // (c) Client runs the typed-state round; (a) exports change nothing.
    assert!(client.transcript == typed.transcript, "Client differs");
    assert_eq!(client.result, typed.result);
    assert!(exported.transcript == typed.transcript, "exported differs");
    assert_eq!(exported.result, typed.result);
}

#[test]
fn exported_at_every_step_semi_honest() {
    same_round_every_way(&semi_honest());
}

#[test]
fn exported_at_every_step_malicious() {
    same_round_every_way(&malicious());
}

/// A client (awaiting its ShareDelivery) and the server (in ShareKeys) of
/// a malicious round, exported.
fn exports() -> (Vec<u8>, Vec<u8>) {
    let p = malicious();
    let mut r = rng(21);
    let ids: Vec<Identity> = (0..p.clients())
        .map(|_| Identity::generate(&mut r))
        .collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = Server::with_roster(&p, ROUND, &roster, &mut r).unwrap();
    let mut clients = Vec::new();
    for u in 1..=p.clients() {
        let (c, msg) =
            Client::with_identity(&p, ROUND, u, &ids[u as usize - 1], &roster, &mut r).unwrap();
        server.receive(u, &msg).unwrap();
        clients.push(c);
    }
    let Step::Deliver(out) = server.close_phase().unwrap() else {
        unreachable!()
    };
    let reply = clients[0]
        .receive(&out.message(1).unwrap(), &mut r)
        .unwrap();
    server.receive(1, &reply).unwrap();
    assert_eq!(clients[0].phase(), ClientPhase::ShareDelivery);
    assert_eq!(server.phase(), Some(Phase::ShareKeys));
    let key = StateKey::new(KEY);
    (clients[0].export(&key, &mut r), server.export(&key, &mut r))
}

fn import_client(bytes: &[u8]) -> Result<Client, Error> {
    Client::import(
        bytes,
        &StateKey::new(KEY),
        &ROUND,
        ClientPhase::ShareDelivery,
    )
}

fn import_server(bytes: &[u8]) -> Result<Server, Error> {
    Server::import(bytes, &StateKey::new(KEY), &ROUND, Some(Phase::ShareKeys))
}

fn state_err<T: std::fmt::Debug>(r: Result<T, Error>) -> StateError {
    match r {
        Err(Error::State(e)) => e,
        other => panic!("expected a state error, got {other:?}"),
    }
}

/// Header layout: magic 0..4, format version 4, protocol version 5, role
/// 6, phase 7, round 8..40, then nonce and ciphertext.
fn error_for_flip_at(i: usize) -> StateError {
    match i {
        0..4 => StateError::Malformed(DecodeError::NonCanonical),
        4 | 5 => StateError::Version,
        6 => StateError::Role,
        7 => StateError::Phase,
        8..40 => StateError::Round,
        _ => StateError::Authentication,
    }
}

#[test]
fn genuine_exports_import() {
    let (c, s) = exports();
    assert_eq!(
        import_client(&c).unwrap().phase(),
        ClientPhase::ShareDelivery
    );
    assert_eq!(import_server(&s).unwrap().phase(), Some(Phase::ShareKeys));
}

#[test]
fn other_round_phase_role_or_key_is_refused() {
    let (c, s) = exports();
    let key = StateKey::new(KEY);
    let other_round = [0x53; 32];
    assert_eq!(
        state_err(Client::import(
            &c,
            &key,
            &other_round,
            ClientPhase::ShareDelivery
        )),
        StateError::Round
    );
    assert_eq!(
        state_err(Server::import(
            &s,
            &key,
            &other_round,
            Some(Phase::ShareKeys)
        )),
        StateError::Round
    );
    for phase in [
        ClientPhase::KeyBroadcast,
        ClientPhase::ConsistencyRequest,
        ClientPhase::UnmaskRequest,
        ClientPhase::Done,
        ClientPhase::Over,
    ] {
        assert_eq!(
            state_err(Client::import(&c, &key, &ROUND, phase)),
            StateError::Phase
        );
    }
    for phase in [
        Some(Phase::AdvertiseKeys),
        Some(Phase::MaskedInput),
        Some(Phase::Unmask),
        None,
    ] {
        assert_eq!(
            state_err(Server::import(&s, &key, &ROUND, phase)),
            StateError::Phase
        );
    }
    assert_eq!(state_err(import_server(&c)), StateError::Role);
    assert_eq!(state_err(import_client(&s)), StateError::Role);
    let wrong = StateKey::new([0x4c; 32]);
    assert_eq!(
        state_err(Client::import(
            &c,
            &wrong,
            &ROUND,
            ClientPhase::ShareDelivery
        )),
        StateError::Authentication
    );
    assert_eq!(
        state_err(Server::import(&s, &wrong, &ROUND, Some(Phase::ShareKeys))),
        StateError::Authentication
    );
}

#[test]
fn unknown_versions_are_refused() {
    let (c, s) = exports();
    // Format version 1 (a server's resend digests were SHA-256) is refused
    // like any other: this build writes and reads 2 (spec/state.md section 3).
    assert_eq!(c[4], 2);
    assert_eq!(s[4], 2);
    for (pos, v) in [(4, 0u8), (4, 1), (4, 3), (4, 0xff), (5, 1), (5, 3)] {
        let mut c2 = c.clone();
        c2[pos] = v;
        assert_eq!(state_err(import_client(&c2)), StateError::Version);
        let mut s2 = s.clone();
        s2[pos] = v;
        assert_eq!(state_err(import_server(&s2)), StateError::Version);
    }
}

#[test]
fn every_truncation_is_refused() {
    let (c, s) = exports();
    for (bytes, import) in [
        (
            &c,
            (|b: &[u8]| import_client(b).map(|_| ())) as fn(&[u8]) -> Result<(), Error>,
        ),
        (&s, |b: &[u8]| import_server(b).map(|_| ())),
    ] {
        for len in 0..bytes.len() {
            let want = if len < 40 + 12 + 16 {
                StateError::Malformed(DecodeError::Truncated)
            } else {
                StateError::Authentication
            };
            assert_eq!(state_err(import(&bytes[..len])), want, "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(state_err(import(&longer)), StateError::Authentication);
    }
}

#[test]
fn every_bit_flip_is_refused() {
    let (c, s) = exports();
    for (bytes, import) in [
        (
            &c,
            (|b: &[u8]| import_client(b).map(|_| ())) as fn(&[u8]) -> Result<(), Error>,
        ),
        (&s, |b: &[u8]| import_server(b).map(|_| ())),
    ] {
        for i in 0..bytes.len() {
            // Every byte; the bit flipped walks through all eight.
            let mut b = bytes.clone();
            b[i] ^= 1 << (i % 8);
            assert_eq!(state_err(import(&b)), error_for_flip_at(i), "byte {i}");
        }
    }
}

#[test]
fn exports_are_sealed() {
    // The client's export holds its secret keys: none of the plaintext
    // fields the host could recognise (its index and the parameters)
    // appears in the clear beyond the header.
    let (c, _) = exports();
    let params = malicious().to_bytes();
    assert!(!c[40..].windows(params.len()).any(|w| w == params));
    // Two exports of one state differ (fresh nonces).
    let p = semi_honest();
    let mut r = rng(3);
    let (client, _) = Client::new(&p, ROUND, 1, &mut r).unwrap();
    let key = StateKey::new(KEY);
    assert_ne!(client.export(&key, &mut r), client.export(&key, &mut r));
    assert_eq!(format!("{key:?}"), "StateKey(<redacted>)");
}

/// A semi-honest round up to the point where client 1 awaits its
/// ShareDelivery: the client, the server, and the delivery for client 1.
fn at_share_delivery() -> (Client, Vec<u8>) {
    let p = semi_honest();
    let mut r = rng(31);
    let mut server = Server::new(&p, ROUND, &mut r).unwrap();
    let mut clients = Vec::new();
    for u in 1..=p.clients() {
        let (c, msg) = Client::new(&p, ROUND, u, &mut r).unwrap();
        server.receive(u, &msg).unwrap();
        clients.push(c);
    }
    let Step::Deliver(out) = server.close_phase().unwrap() else {
        unreachable!()
    };
    for (u, bytes) in out {
        let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
        server.receive(u, &reply).unwrap();
    }
    let Step::Deliver(out) = server.close_phase().unwrap() else {
        unreachable!()
    };
    (clients.swap_remove(0), out.message(1).unwrap())
}

#[test]
fn client_input_is_checked_and_required() {
    let (mut c, delivery) = at_share_delivery();
    let mut r = rng(1);
    assert_eq!(
        c.receive(&delivery, &mut r),
        Err(Error::Misuse(Misuse::InputMissing))
    );
    assert_eq!(
        c.set_input(&[1, 2, 3]),
        Err(Error::Misuse(Misuse::InputLength))
    );
    assert_eq!(
        c.set_input(&[1, 2, 3, 4, 1 << 16]),
        Err(Error::Misuse(Misuse::InputRange))
    );
    assert_eq!(c.phase(), ClientPhase::ShareDelivery);
    c.set_input(&[1, 2, 3, 4, 5]).unwrap();
    assert!(c.receive(&delivery, &mut r).is_ok());
    assert_eq!(c.phase(), ClientPhase::UnmaskRequest);
    assert_eq!(
        c.set_input(&[1, 2, 3, 4, 5]),
        Err(Error::Misuse(Misuse::RoundOver))
    );
}

#[test]
fn client_garbage_keeps_the_state_and_a_refusal_spends_it() {
    let (mut c, delivery) = at_share_delivery();
    let mut r = rng(1);
    c.set_input(&[0; 5]).unwrap();
    // Cut by one byte: does not decode, the client waits on.
    assert_eq!(
        c.receive(&delivery[..delivery.len() - 1], &mut r),
        Err(Error::Server(ServerFault::Malformed(
            DecodeError::Truncated
        )))
    );
    assert_eq!(c.phase(), ClientPhase::ShareDelivery);
    // Another session: decodes, refused, the round is over for it.
    let mut other = delivery.clone();
    other[2] ^= 1;
    assert_eq!(
        c.receive(&other, &mut r),
        Err(Error::Server(ServerFault::WrongSession))
    );
    assert_eq!(c.phase(), ClientPhase::Over);
    assert_eq!(
        c.receive(&delivery, &mut r),
        Err(Error::Misuse(Misuse::RoundOver))
    );
    // An over state exports and imports as over.
    let key = StateKey::new(KEY);
    let sealed = c.export(&key, &mut r);
    let back = Client::import(&sealed, &key, &ROUND, ClientPhase::Over).unwrap();
    assert_eq!(back.phase(), ClientPhase::Over);
    assert_eq!(back.index(), 1);
}

/// In the malicious model, a byte-identical consistency or unmask request
/// gets the same answer, also from an imported copy of the state; a
/// different unmask request is refused.
#[test]
fn client_repeats_are_answered_the_same() {
    let p = malicious();
    let mut r = rng(41);
    let key = StateKey::new(KEY);
    let ids: Vec<Identity> = (0..p.clients())
        .map(|_| Identity::generate(&mut r))
        .collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = Server::with_roster(&p, ROUND, &roster, &mut r).unwrap();
    let mut clients = Vec::new();
    for u in 1..=p.clients() {
        let (mut c, msg) =
            Client::with_identity(&p, ROUND, u, &ids[u as usize - 1], &roster, &mut r).unwrap();
        c.set_input(&input(&p, u)).unwrap();
        server.receive(u, &msg).unwrap();
        clients.push(c);
    }
    let mut last = Vec::new();
    loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(agg) => {
                assert_eq!(agg.sum, expected_sum(&p, &[]));
                break;
            }
            _ => unreachable!(),
        };
        for (u, bytes) in out {
            let c = &mut clients[u as usize - 1];
            let phase = c.phase();
            let reply = c.receive(&bytes, &mut r).unwrap();
            if matches!(
                phase,
                ClientPhase::ConsistencyRequest | ClientPhase::UnmaskRequest
            ) {
                assert_eq!(c.receive(&bytes, &mut r).unwrap(), reply);
                let sealed = c.export(&key, &mut r);
                let mut copy = Client::import(&sealed, &key, &ROUND, c.phase()).unwrap();
                assert_eq!(copy.receive(&bytes, &mut r).unwrap(), reply);
            }
            if u == 1 {
                last = bytes;
            }
            server.receive(u, &reply).unwrap();
        }
    }
    let c = &mut clients[0];
    assert_eq!(c.phase(), ClientPhase::Done);
    let mut other = last.clone();
    let end = other.len() - 1;
    other[end] ^= 1;
    assert_eq!(
        c.receive(&other, &mut r),
        Err(Error::Server(ServerFault::SurvivorSetChanged))
    );
}

/// A named change to a message.
type Variant = (&'static str, Box<dyn Fn(&[u8]) -> Vec<u8>>);

/// What happened to client 2's second R2 message in [`second_masked_input`].
struct Resent {
    second: Result<(), Error>,
    result: Aggregate,
}

/// A semi-honest round (n = 6, m = 20000: a MaskedInput above 64 KiB, so
/// the first copy is fingerprinted beside its intake) whose server draws
/// from `server_seed`; in R2, after client 2's genuine MaskedInput the
/// server is optionally exported and imported, then gets `second(genuine)`
/// from client 2.
fn second_masked_input(
    server_seed: u64,
    export_between: bool,
    second: impl Fn(&[u8]) -> Vec<u8>,
) -> Resent {
    let p = Params::new(6, 3, 32, 20_000, Graph::Complete).unwrap();
    let mut r = rng(31);
    let mut server = Server::new(&p, ROUND, &mut rng(server_seed)).unwrap();
    let key = StateKey::new(KEY);
    let mut clients = Vec::new();
    for u in 1..=p.clients() {
        let (mut c, msg) = Client::new(&p, ROUND, u, &mut r).unwrap();
        c.set_input(&input(&p, u)).unwrap();
        server.receive(u, &msg).unwrap();
        clients.push(c);
    }
    let mut second_result = None;
    loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(result) => {
                return Resent {
                    second: second_result.unwrap(),
                    result,
                };
            }
            _ => unreachable!(),
        };
        for (u, bytes) in out {
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
            if u == 2 && server.phase() == Some(Phase::MaskedInput) {
                assert!(reply.len() > 1 << 16);
                if export_between {
                    let sealed = server.export(&key, &mut r);
                    server = Server::import(&sealed, &key, &ROUND, server.phase()).unwrap();
                }
                second_result = Some(server.receive(2, &second(&reply)));
            }
        }
    }
}

/// spec/protocol.md section 5.1: a byte-identical resend of a MaskedInput
/// is a no-op, also when the server was exported and imported between the
/// two copies (the fingerprints and their key survive the state).
#[test]
fn masked_input_resend_is_a_no_op_across_an_export() {
    let p = Params::new(6, 3, 32, 20_000, Graph::Complete).unwrap();
    let plain = second_masked_input(5, false, |_| Vec::new());
    // An empty second message is a different one: named, the first stands.
    assert_eq!(
        plain.second,
        Err(Error::Client {
            index: 2,
            fault: ClientFault::Duplicate,
            outcome: Outcome::Named,
        })
    );
    for export_between in [false, true] {
        let resent = second_masked_input(5, export_between, <[u8]>::to_vec);
        assert_eq!(resent.second, Ok(()), "export between: {export_between}");
        assert!(resent.result.misbehaved.is_empty());
        assert_eq!(resent.result.survivors, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(resent.result.sum, expected_sum(&p, &[]));
    }
}

/// spec/protocol.md section 5.1: a second MaskedInput that differs from the
/// first in one byte anywhere, or is one byte longer or shorter, is a
/// `Duplicate` (named, the sender stays in); the first copy is the one in
/// the sum, with or without an export and import between the two.
#[test]
fn masked_input_differing_in_one_byte_is_a_duplicate_across_an_export() {
    let p = Params::new(6, 3, 32, 20_000, Graph::Complete).unwrap();
    let flip = |at: fn(usize) -> usize| {
        move |b: &[u8]| {
            let mut v = b.to_vec();
            let i = at(v.len());
            v[i] ^= 0x01;
            v
        }
    };
    let variants: Vec<Variant> = vec![
        ("first byte", Box::new(flip(|_| 0))),
        ("middle byte", Box::new(flip(|len| len / 2))),
        ("last byte", Box::new(flip(|len| len - 1))),
        ("one byte longer", Box::new(|b: &[u8]| [b, &[0]].concat())),
        (
            "one byte shorter",
            Box::new(|b: &[u8]| b[..b.len() - 1].to_vec()),
        ),
    ];
    for export_between in [false, true] {
        for (name, second) in &variants {
            let run = second_masked_input(5, export_between, second);
            assert_eq!(
                run.second,
                Err(Error::Client {
                    index: 2,
                    fault: ClientFault::Duplicate,
                    outcome: Outcome::Named,
                }),
                "{name}, export between: {export_between}"
            );
            assert_eq!(run.result.misbehaved, vec![(2, ClientFault::Duplicate)]);
            assert_eq!(run.result.survivors, vec![1, 2, 3, 4, 5, 6]);
            assert_eq!(run.result.sum, expected_sum(&p, &[]), "{name}");
        }
    }
}

/// The fingerprint key is derived from the server's nonce: servers with
/// different nonces (so different keys) recognise the same resends and
/// reach the same sum.
#[test]
fn servers_with_different_fingerprint_keys_agree() {
    let a = second_masked_input(5, false, <[u8]>::to_vec);
    let b = second_masked_input(6, true, <[u8]>::to_vec);
    assert_eq!((a.second, b.second), (Ok(()), Ok(())));
    assert_eq!(a.result, b.result);
    let p = Params::new(6, 3, 32, 20_000, Graph::Complete).unwrap();
    assert_eq!(a.result.sum, expected_sum(&p, &[]));
}
