//! What the other client tests leave open (spec/security.md P4 and S):
//! `Client::receive`'s dispatch on the type byte in every phase, the
//! holder's Feldman check naming the dealer whose share is off its
//! commitments (and nothing revealed for it), the input wiped from the
//! state once the masked input is sent or the client refused a message (and
//! an `Over` client, live or imported, takes nothing more), a `Done`
//! client's repeat of its consistency signature, and the checks of a client's
//! exported plaintext that `state_mutations.rs` does not make (an input
//! above `2^b`, credentials that disagree with the model, an index outside
//! `1..=n`, a plaintext of another phase or round than its header), each
//! pinned with its exact error and the genuine case beside it.

use chacha20::ChaCha20Rng;
use secagg::protocol::messages::{
    ConsistencyRequest, KeyBroadcast, MaskedInput, ShareDelivery, ShareKind, UnmaskRequest,
    UnmaskResponse,
};
use secagg::{
    Client, ClientIndex, ClientPhase, Decode, DecodeError, Encode, Error, Graph, Identity, Misuse,
    Params, Roster, Server, ServerFault, ServerModel, StateError, StateKey, Step,
};

use crate::common::{ROUND, rng};
use crate::crypto_review::{STATE_KEY, seal, unseal};

fn key() -> StateKey {
    StateKey::new(STATE_KEY)
}

/// `"SAST" || 2 || 2 || 1 || phase || round` (spec/state.md section 2).
fn header(phase: u8, round: &[u8; 32]) -> Vec<u8> {
    [&b"SAST"[..], &[2, 2, 1, phase], round].concat()
}

fn params(malicious: bool) -> Params {
    let p = Params::new(3, 2, 16, 2, Graph::Complete).unwrap();
    if malicious {
        p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap()
    } else {
        p
    }
}

/// A fresh client 2 of `params(malicious)` with its input `[0xffff, 7]`
/// set: its plaintext (spec/state.md section 4) awaiting the KeyBroadcast,
/// and where its credentials flag is.
fn fresh(malicious: bool) -> (Vec<u8>, usize) {
    let p = params(malicious);
    let mut r = rng(83);
    let ids: Vec<Identity> = (0..3).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let (mut c, _) = if malicious {
        Client::with_identity(&p, ROUND, 2, &ids[1], &roster, &mut r).unwrap()
    } else {
        Client::new(&p, ROUND, 2, &mut r).unwrap()
    };
    c.set_input(&[0xffff, 7]).unwrap();
    let pt = unseal(&c.export(&key(), &mut r), &header(0, &ROUND));
    let params_len = u32::from_le_bytes(pt[32..36].try_into().unwrap()) as usize;
    assert_eq!(pt[36..36 + params_len], p.to_bytes());
    let flag = 36 + params_len + 4;
    assert_eq!(pt[flag - 4..flag], 2u32.to_le_bytes(), "the index");
    assert_eq!(pt[flag], u8::from(malicious), "the credentials flag");
    (pt, flag)
}

/// `pt` sealed under a header of phase byte `byte` and round `round`, then
/// imported in `phase` of `round`.
fn import_as(pt: &[u8], byte: u8, round: &[u8; 32], phase: ClientPhase) -> Result<Client, Error> {
    Client::import(
        &seal(&header(byte, round), [4; 12], pt),
        &key(),
        round,
        phase,
    )
}

fn import(pt: &[u8]) -> Result<Client, Error> {
    import_as(pt, 0, &ROUND, ClientPhase::KeyBroadcast)
}

fn malformed(e: DecodeError) -> Result<ClientIndex, Error> {
    Err(Error::State(StateError::Malformed(e)))
}

/// spec/state.md section 4: the input holds m elements below `2^b`. The
/// genuine input (its first element `2^16 - 1`) imports; the same with
/// `2^16` does not.
#[test]
fn an_input_element_of_b_plus_one_bits_is_refused() {
    let (pt, flag) = fresh(false);
    assert_eq!(pt[flag + 1], 1, "the input flag");
    let at = flag + 2;
    assert_eq!(
        pt[at..at + 16],
        [0xff, 0xff, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(import(&pt).map(|c| c.index()), Ok(2));
    let mut wide = pt.clone();
    wide[at..at + 8].copy_from_slice(&0x1_0000u64.to_le_bytes());
    assert_eq!(
        import(&wide).map(|c| c.index()),
        malformed(DecodeError::NonCanonical)
    );
}

/// spec/state.md section 4: the credentials are present exactly in the
/// malicious model. A malicious client's plaintext without them, and a
/// semi-honest client's plaintext with the malicious one's credentials
/// spliced in, do not decode.
#[test]
fn credentials_that_disagree_with_the_model_are_refused() {
    let (mal, flag) = fresh(true);
    let (semi, semi_flag) = fresh(false);
    assert_eq!(import(&mal).map(|c| c.index()), Ok(2));
    assert_eq!(import(&semi).map(|c| c.index()), Ok(2));
    // The identity's secret, then the roster of n = 3 keys.
    let creds = &mal[flag + 1..flag + 1 + 32 + 3 * 32];
    let without: Vec<u8> = [&mal[..flag], &[0], &mal[flag + 1 + creds.len()..]].concat();
    assert_eq!(
        import(&without).map(|c| c.index()),
        malformed(DecodeError::NonCanonical)
    );
    let with: Vec<u8> = [&semi[..semi_flag], &[1], creds, &semi[semi_flag + 1..]].concat();
    assert_eq!(
        import(&with).map(|c| c.index()),
        malformed(DecodeError::NonCanonical)
    );
}

/// spec/state.md section 4: the client's index is in `1..=n`. Client 2's
/// plaintext with its index written as 0 or as n + 1 = 4 does not decode;
/// written as 3 it is client 3's.
#[test]
fn a_client_index_outside_one_to_n_is_refused() {
    let (pt, flag) = fresh(false);
    let with = |i: u32| {
        let mut b = pt.clone();
        b[flag - 4..flag].copy_from_slice(&i.to_le_bytes());
        import(&b).map(|c| c.index())
    };
    assert_eq!(with(3), Ok(3));
    assert_eq!(with(0), malformed(DecodeError::IndexOutOfRange));
    assert_eq!(with(4), malformed(DecodeError::IndexOutOfRange));
}

/// spec/state.md section 3: the plaintext's own round and phase must be
/// those asked for, whatever the header says. A client awaiting its
/// KeyBroadcast, sealed under the header of a ShareDelivery or under the
/// header of another round, authenticates but does not import.
#[test]
fn a_plaintext_of_another_phase_or_round_than_its_header_is_refused() {
    let (pt, _) = fresh(false);
    assert_eq!(
        import_as(&pt, 0, &ROUND, ClientPhase::KeyBroadcast).map(|c| c.index()),
        Ok(2)
    );
    assert_eq!(
        import_as(&pt, 1, &ROUND, ClientPhase::ShareDelivery).map(|c| c.index()),
        malformed(DecodeError::NonCanonical)
    );
    let other = [0x53; 32];
    assert_eq!(
        import_as(&pt, 0, &other, ClientPhase::KeyBroadcast).map(|c| c.index()),
        malformed(DecodeError::NonCanonical)
    );
}

// ---- A round driven message by message.

/// A round of `p` with the real server: clients `1..=n`, inputs `[i, i]`
/// (malicious model: identities and their roster).
struct Run {
    server: Server,
    clients: Vec<Client>,
    r: ChaCha20Rng,
}

impl Run {
    fn new(p: &Params) -> Self {
        let mut r = rng(89);
        let n = p.clients();
        let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
        let roster =
            Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
        let mut server = if p.is_malicious() {
            Server::with_roster(p, ROUND, &roster, &mut r).unwrap()
        } else {
            Server::new(p, ROUND, &mut r).unwrap()
        };
        let mut clients = Vec::new();
        for (i, id) in (1..=n).zip(&ids) {
            let (mut c, msg) = if p.is_malicious() {
                Client::with_identity(p, ROUND, i, id, &roster, &mut r).unwrap()
            } else {
                Client::new(p, ROUND, i, &mut r).unwrap()
            };
            c.set_input(&[u64::from(i); 2]).unwrap();
            server.receive(i, &msg).unwrap();
            clients.push(c);
        }
        Self { server, clients, r }
    }

    /// Closes the phase: the messages it delivers, or `None` when the round
    /// is done.
    fn close(&mut self) -> Option<Vec<(ClientIndex, Vec<u8>)>> {
        match self.server.close_phase().unwrap() {
            Step::Deliver(out) => Some(out.into_vec()),
            Step::Done(_) => None,
            _ => panic!("no phase fails"),
        }
    }

    /// Client `u`'s answer to `bytes`, handed to the server.
    fn answer(&mut self, u: ClientIndex, bytes: &[u8]) -> Vec<u8> {
        let reply = self.clients[u as usize - 1]
            .receive(bytes, &mut self.r)
            .unwrap();
        self.server.receive(u, &reply).unwrap();
        reply
    }

    fn client(&mut self, u: ClientIndex) -> &mut Client {
        &mut self.clients[u as usize - 1]
    }
}

fn unexpected(t: u8) -> Result<Vec<u8>, Error> {
    Err(Error::Server(ServerFault::Malformed(
        DecodeError::UnexpectedType(t),
    )))
}

/// spec/state.md section 1: `Client::receive` hands the message to the
/// step of its phase (in the `Unmask` states a ConsistencyRequest type byte
/// to the consistency step, any other to the unmask step). In each phase of
/// both models, client 1's genuine message with its type byte rewritten as
/// that of a client message, of another phase's server message, or of no
/// message at all is `Malformed(UnexpectedType)` naming that byte, the
/// phase stays, and the genuine message is then answered; the round sums
/// every input.
#[test]
fn every_phase_refuses_every_other_type_byte_and_keeps_its_state() {
    for malicious in [false, true] {
        let p = Params::new(3, 2, 16, 2, Graph::Complete).unwrap();
        let p = if malicious {
            p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap()
        } else {
            p
        };
        let mut run = Run::new(&p);
        let mut seen = Vec::new();
        while let Some(out) = run.close() {
            for (u, bytes) in out {
                if u == 1 {
                    let phase = run.client(1).phase();
                    seen.push((phase, bytes[1]));
                    // Server types that another step of this phase takes.
                    let taken: &[u8] = match phase {
                        ClientPhase::ConsistencyRequest | ClientPhase::UnmaskRequest => {
                            &[0x83, 0x84]
                        }
                        _ => &[bytes[1]],
                    };
                    for t in [
                        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff,
                    ] {
                        if taken.contains(&t) {
                            continue;
                        }
                        let mut other = bytes.clone();
                        other[1] = t;
                        let c = run.client(1);
                        assert_eq!(
                            c.receive(&other, &mut rng(0)),
                            unexpected(t),
                            "{phase:?} {t:#x}"
                        );
                        assert_eq!(c.phase(), phase);
                    }
                }
                run.answer(u, &bytes);
            }
        }
        let expect: &[(ClientPhase, u8)] = if malicious {
            &[
                (ClientPhase::KeyBroadcast, 0x81),
                (ClientPhase::ShareDelivery, 0x82),
                (ClientPhase::ConsistencyRequest, 0x84),
                (ClientPhase::UnmaskRequest, 0x83),
            ]
        } else {
            &[
                (ClientPhase::KeyBroadcast, 0x81),
                (ClientPhase::ShareDelivery, 0x82),
                (ClientPhase::UnmaskRequest, 0x83),
            ]
        };
        assert_eq!(seen, expect);
        assert_eq!(run.client(1).phase(), ClientPhase::Done);
    }
}

/// spec/protocol.md section 4.3: a share that does not lie on its
/// dealer's committed polynomial is a complaint naming that dealer, and the
/// holder keeps nothing of it (section 4.4: it answers nothing for it). Client
/// 1 of n = 5 (t = 3, semi-honest) gets a delivery in which one dealer's
/// seed commitments are another's: its MaskedInput names exactly that
/// dealer, for the first, a middle and the last sender, and its answer to
/// an unmask request naming every client leaves that dealer out.
#[test]
fn a_share_off_its_commitments_names_its_dealer_and_is_never_revealed() {
    let p = Params::new(5, 3, 16, 2, Graph::Complete).unwrap();
    for dealer in [2, 3, 5] {
        let mut run = Run::new(&p);
        for (u, bytes) in run.close().unwrap() {
            run.answer(u, &bytes);
        }
        let mut delivery = None;
        for (u, bytes) in run.close().unwrap() {
            if u == 1 {
                delivery = Some(ShareDelivery::decode(&p, &bytes).unwrap());
            }
        }
        let mut d = delivery.unwrap();
        assert_eq!(
            d.shares.iter().map(|s| s.sender).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        let donor = if dealer == 2 { 3 } else { 2 };
        let theirs = d.shares.iter().find(|s| s.sender == donor).unwrap();
        let seed_commitments = theirs.seed_commitments.clone();
        d.shares
            .iter_mut()
            .find(|s| s.sender == dealer)
            .unwrap()
            .seed_commitments = seed_commitments;
        let c = run.client(1);
        let reply = c.receive(&d.to_bytes(), &mut rng(0)).unwrap();
        let masked = MaskedInput::decode(&p, &reply).unwrap();
        assert_eq!(masked.complaints, vec![dealer], "dealer {dealer}");
        let request = UnmaskRequest {
            session: d.session,
            survivors: vec![1, 2, 3, 4, 5],
            dropped: vec![],
            evidence: None,
        };
        let answer = c.receive(&request.to_bytes(), &mut rng(0)).unwrap();
        let owners: Vec<(ClientIndex, ShareKind)> = UnmaskResponse::decode(&p, &answer)
            .unwrap()
            .shares
            .iter()
            .map(|e| (e.owner, e.kind))
            .collect();
        let expect: Vec<(ClientIndex, ShareKind)> = (1..=5)
            .filter(|&o| o != dealer)
            .map(|o| (o, ShareKind::SelfSeed))
            .collect();
        assert_eq!(owners, expect, "dealer {dealer}");
    }
}

/// spec/state.md section 1: the input is wiped once the MaskedInput is
/// built. Client 1's export awaiting its ShareDelivery holds the input
/// (flag 1, then `[1, 1]`); its export once the MaskedInput is sent has the
/// input flag 0, the stage byte (2, awaiting unmask) right after it.
#[test]
fn the_input_leaves_the_state_with_the_masked_input() {
    let p = params(false);
    let mut run = Run::new(&p);
    let params_len = p.to_bytes().len();
    // round, params, index, credentials flag (0): then the input flag.
    let input_flag = 32 + 4 + params_len + 4 + 1;
    let mut exported = Vec::new();
    let mut session = Vec::new();
    while let Some(out) = run.close() {
        for (u, bytes) in out {
            if u == 1 && bytes[1] == 0x82 {
                session = bytes[2..34].to_vec();
            }
            run.answer(u, &bytes);
        }
        let c = run.client(1);
        let (byte, len) = match c.phase() {
            ClientPhase::ShareDelivery => (1, 1 + 16 + 1),
            ClientPhase::UnmaskRequest => (3, 1 + 1 + 32),
            _ => continue,
        };
        let pt = unseal(&c.export(&key(), &mut rng(1)), &header(byte, &ROUND));
        exported.push((byte, pt[input_flag..input_flag + len].to_vec()));
    }
    let one = 1u64.to_le_bytes();
    assert_eq!(
        exported,
        vec![
            (1, [&[1][..], &one, &one, &[1]].concat()),
            (3, [&[0, 2][..], &session].concat()),
        ]
    );
}

/// spec/state.md sections 1 and 4: a client that refused a decoded message
/// is `Over` and keeps no secret, its input included. Client 1 (input set)
/// refused a KeyBroadcast without its own keys, client 2 a ShareDelivery
/// of another session, client 3 an UnmaskRequest of another session: each
/// export has the input flag 0 and the stage byte 3 (over) and nothing
/// after it; live and imported, each takes neither the genuine message nor
/// the refused one again (`Misuse::RoundOver`), nor bytes that do not
/// decode (`RoundOver` too, in every stage it was spent in), nor an input.
#[test]
fn a_client_that_refused_a_message_keeps_no_input_and_stays_over() {
    let p = Params::new(6, 3, 16, 2, Graph::Complete).unwrap();
    let mut run = Run::new(&p);
    let input_flag = 32 + 4 + p.to_bytes().len() + 4 + 1;
    let mut over = Vec::new();
    while let Some(out) = run.close() {
        for (u, bytes) in out {
            let bad = match (u, bytes[1]) {
                (1, 0x81) => {
                    let mut kb = KeyBroadcast::decode(&p, &bytes).unwrap();
                    kb.keys.retain(|k| k.index != 1);
                    kb.to_bytes()
                }
                (2, 0x82) | (3, 0x83) => {
                    let mut other = bytes.clone();
                    other[2] ^= 1;
                    other
                }
                _ => {
                    if run.client(u).phase() != ClientPhase::Over {
                        run.answer(u, &bytes);
                    }
                    continue;
                }
            };
            let c = run.client(u);
            assert!(matches!(
                c.receive(&bad, &mut rng(0)),
                Err(Error::Server(_))
            ));
            assert_eq!(c.phase(), ClientPhase::Over);
            let pt = unseal(&c.export(&key(), &mut rng(1)), &header(5, &ROUND));
            assert_eq!(pt[input_flag..], [0, 3], "client {u}");
            let sealed = c.export(&key(), &mut rng(2));
            let imported = Client::import(&sealed, &key(), &ROUND, ClientPhase::Over).unwrap();
            over.push((u, bytes, bad, imported));
        }
    }
    assert_eq!(over.len(), 3);
    let round_over = Err(Error::Misuse(Misuse::RoundOver));
    for (u, genuine, bad, mut imported) in over {
        for c in [run.client(u), &mut imported] {
            assert_eq!(c.receive(&genuine, &mut rng(0)), round_over, "client {u}");
            assert_eq!(c.receive(&bad, &mut rng(0)), round_over, "client {u}");
            // Bytes that do not decode, or decode as another phase's
            // message, are no different once the round is over.
            let cut = &genuine[..genuine.len() - 1];
            for junk in [&[][..], &[2][..], cut, &[2, 0x81][..]] {
                assert_eq!(c.receive(junk, &mut rng(0)), round_over, "client {u}");
            }
            assert_eq!(c.set_input(&[1, 1]), Err(Error::Misuse(Misuse::RoundOver)));
            assert_eq!(c.phase(), ClientPhase::Over);
        }
    }
}

/// spec/protocol.md section 4: a client that answered the unmask request
/// still answers a byte-identical repeat of the ConsistencyRequest it
/// signed with the same bytes, live and imported in `Done`, and refuses
/// another set (`SurvivorSetChanged`), staying `Done`. Malicious model,
/// n = 3, client 2.
#[test]
fn a_done_client_repeats_its_consistency_signature() {
    let p = params(true);
    let mut run = Run::new(&p);
    let mut signed = None;
    while let Some(out) = run.close() {
        for (u, bytes) in out {
            let reply = run.answer(u, &bytes);
            if u == 2 && bytes[1] == 0x84 {
                signed = Some((bytes, reply));
            }
        }
    }
    let (request, response) = signed.unwrap();
    let mut fewer = ConsistencyRequest::decode(&p, &request).unwrap();
    fewer.survivors = vec![1, 2];
    let fewer = fewer.to_bytes();
    let sealed = run.client(2).export(&key(), &mut rng(3));
    let mut imported = Client::import(&sealed, &key(), &ROUND, ClientPhase::Done).unwrap();
    for c in [run.client(2), &mut imported] {
        assert_eq!(c.phase(), ClientPhase::Done);
        assert_eq!(c.receive(&request, &mut rng(0)), Ok(response.clone()));
        assert_eq!(
            c.receive(&fewer, &mut rng(0)),
            Err(Error::Server(ServerFault::SurvivorSetChanged))
        );
        assert_eq!(c.receive(&request, &mut rng(0)), Ok(response.clone()));
        assert_eq!(c.phase(), ClientPhase::Done);
    }
}
