//! Exported state (spec/state.md) against the mistakes an implementation
//! could make and the other state tests would not notice: a server field
//! left out of the export (the excluded clients, the burned keys, the
//! faults), the phase byte of a header written under another number, and
//! a decoder that lets a sorted list repeat an entry or run past its bound.

use secagg::protocol::messages::{AdvertiseKeys, ShareKeys};
use secagg::{
    Client, ClientFault, ClientIndex, ClientPhase, Decode, DecodeError, Encode, Error, Graph,
    Identity, Outcome, Params, Phase, Roster, Server, ServerModel, StateError, StateKey, Step,
};

use crate::common::{ROUND, rng};
use crate::crypto_review::{STATE_KEY, seal, unseal};

fn key() -> StateKey {
    StateKey::new(STATE_KEY)
}

fn input(p: &Params, u: ClientIndex) -> Vec<u64> {
    (0..u64::from(p.dim()))
        .map(|j| u64::from(u) * 10 + j)
        .collect()
}

/// A round of `p` begun: the server (with a roster of fresh identities in
/// the malicious model) and clients `1..=n` with their inputs set, every
/// AdvertiseKeys received.
fn start(p: &Params, r: &mut chacha20::ChaCha20Rng) -> (Server, Vec<Client>) {
    let ids: Vec<Identity> = (0..p.clients()).map(|_| Identity::generate(r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = if p.is_malicious() {
        Server::with_roster(p, ROUND, &roster, r).unwrap()
    } else {
        Server::new(p, ROUND, r).unwrap()
    };
    let mut clients = Vec::new();
    for u in 1..=p.clients() {
        let (mut c, msg) = if p.is_malicious() {
            Client::with_identity(p, ROUND, u, &ids[u as usize - 1], &roster, r).unwrap()
        } else {
            Client::new(p, ROUND, u, r).unwrap()
        };
        c.set_input(&input(p, u)).unwrap();
        server.receive(u, &msg).unwrap();
        clients.push(c);
    }
    (server, clients)
}

/// The sum of the inputs of `over`.
fn sum_of(p: &Params, over: &[ClientIndex]) -> Vec<u64> {
    (0..p.dim() as usize)
        .map(|j| over.iter().map(|&u| input(p, u)[j]).sum())
        .collect()
}

/// `"SAST" || 2 || 2 || role || phase || round` (spec/state.md section 2).
fn header(role: u8, phase: u8) -> Vec<u8> {
    [&b"SAST"[..], &[2, 2, role, phase], &ROUND].concat()
}

fn client_error(index: ClientIndex, fault: ClientFault, outcome: Outcome) -> Result<(), Error> {
    Err(Error::Client {
        index,
        fault,
        outcome,
    })
}

/// The server exported and imported in place.
fn reimport(server: &mut Server) {
    let phase = server.phase();
    let sealed = server.export(&key(), &mut rng(99));
    *server = Server::import(&sealed, &key(), &ROUND, phase).unwrap();
}

/// spec/state.md section 5: the excluded clients, the burned keys and the
/// faults recorded before an export are in the imported server. Client 3
/// copies client 1's mask key (both excluded, their keys burned); after the
/// import, client 1's genuine repeat is `NotInPhase` (it is still
/// excluded), client 4 advertising client 1's burned `c_pk` is
/// `DuplicateKey`, and the Aggregate names all three.
#[test]
fn server_exclusions_burned_keys_and_faults_survive_an_export() {
    let p = Params::new(7, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(41);
    let mut server = Server::new(&p, ROUND, &mut r).unwrap();
    let mut clients = Vec::new();
    let mut adverts = Vec::new();
    for u in 1..=p.clients() {
        let (mut c, msg) = Client::new(&p, ROUND, u, &mut r).unwrap();
        c.set_input(&input(&p, u)).unwrap();
        clients.push(c);
        adverts.push(msg);
    }
    let first = AdvertiseKeys::decode(&p, &adverts[0]).unwrap();
    server.receive(1, &adverts[0]).unwrap();
    server.receive(2, &adverts[1]).unwrap();
    let mut copy = AdvertiseKeys::decode(&p, &adverts[2]).unwrap();
    copy.s_pk = first.s_pk;
    assert_eq!(
        server.receive(3, &copy.to_bytes()),
        client_error(3, ClientFault::DuplicateKey, Outcome::Excluded)
    );
    assert_eq!(server.excluded(), vec![1, 3]);
    reimport(&mut server);
    assert_eq!(server.excluded(), vec![1, 3]);
    assert_eq!(
        server.receive(1, &adverts[0]),
        client_error(1, ClientFault::NotInPhase, Outcome::Ignored)
    );
    let mut burned = AdvertiseKeys::decode(&p, &adverts[3]).unwrap();
    burned.c_pk = first.c_pk;
    assert_eq!(
        server.receive(4, &burned.to_bytes()),
        client_error(4, ClientFault::DuplicateKey, Outcome::Excluded)
    );
    for u in 5..=p.clients() {
        server.receive(u, &adverts[u as usize - 1]).unwrap();
    }
    reimport(&mut server);
    let agg = loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(agg) => break agg,
            _ => unreachable!(),
        };
        reimport(&mut server);
        for (u, bytes) in out {
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
        }
        reimport(&mut server);
    };
    assert_eq!(agg.survivors, vec![2, 5, 6, 7]);
    assert_eq!(
        agg.misbehaved,
        vec![
            (1, ClientFault::DuplicateKey),
            (3, ClientFault::DuplicateKey),
            (4, ClientFault::DuplicateKey),
        ]
    );
    assert_eq!(agg.sum, sum_of(&p, &[2, 5, 6, 7]));
}

/// spec/state.md section 2: the phase byte of every export is the number
/// the table gives, for a client in each of its six phases and a server in
/// each of its six (malicious model, so every phase occurs), and the role
/// byte is 1 for a client, 2 for a server.
#[test]
fn export_headers_carry_the_documented_phase_bytes() {
    let p = Params::new(5, 3, 16, 4, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 0 })
        .unwrap();
    let mut r = rng(43);
    let (mut server, mut clients) = start(&p, &mut r);
    let bytes_of = |sealed: &[u8]| (sealed[6], sealed[7]);
    let client_byte = |c: &Client| {
        let sealed = c.export(&key(), &mut rng(1));
        let phase = c.phase();
        assert!(Client::import(&sealed, &key(), &ROUND, phase).is_ok());
        bytes_of(&sealed)
    };
    let server_byte = |s: &Server| bytes_of(&s.export(&key(), &mut rng(2)));
    let mut client_seen = Vec::new();
    let mut server_seen = vec![(server.phase(), server_byte(&server))];
    client_seen.push((clients[0].phase(), client_byte(&clients[0])));
    let mut refused = None;
    loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(_) => break,
            _ => unreachable!(),
        };
        server_seen.push((server.phase(), server_byte(&server)));
        for (u, bytes) in out {
            let c = &mut clients[u as usize - 1];
            if refused.is_none() && c.phase() == ClientPhase::ShareDelivery && u == 5 {
                // Client 5 is refused a ShareDelivery of another session.
                let mut other = bytes.clone();
                other[2] ^= 1;
                assert!(c.receive(&other, &mut r).is_err());
                refused = Some(client_byte(c));
                continue;
            }
            let reply = c.receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
            if u == 1 {
                client_seen.push((c.phase(), client_byte(c)));
            }
        }
    }
    server_seen.push((server.phase(), server_byte(&server)));
    assert_eq!(
        client_seen,
        vec![
            (ClientPhase::KeyBroadcast, (1, 0)),
            (ClientPhase::ShareDelivery, (1, 1)),
            (ClientPhase::ConsistencyRequest, (1, 2)),
            (ClientPhase::UnmaskRequest, (1, 3)),
            (ClientPhase::Done, (1, 4)),
        ]
    );
    assert_eq!(refused, Some((1, 5)));
    assert_eq!(
        server_seen,
        vec![
            (Some(Phase::AdvertiseKeys), (2, 0)),
            (Some(Phase::ShareKeys), (2, 1)),
            (Some(Phase::MaskedInput), (2, 2)),
            (Some(Phase::Consistency), (2, 3)),
            (Some(Phase::Unmask), (2, 4)),
            (None, (2, 5)),
        ]
    );
}

/// A semi-honest server in AdvertiseKeys that heard clients 1 and 2, and
/// from 3 a copy of 1's mask key (keys 1 and 3 burned), with its
/// plaintext and the two sections it ends with: 2's keys entry, and the
/// burned keys, ascending.
struct AtAdvertise {
    pt: Vec<u8>,
    n: u32,
    /// Where client 2's `(index, c_pk, s_pk)` entry starts.
    entry: usize,
    /// Where the burned-key count starts.
    burned: usize,
}

fn at_advertise(with_clash: bool) -> AtAdvertise {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(47);
    let mut server = Server::new(&p, ROUND, &mut r).unwrap();
    let mut adverts = Vec::new();
    for u in 1..=3 {
        adverts.push(Client::new(&p, ROUND, u, &mut r).unwrap().1);
    }
    let keys: Vec<AdvertiseKeys> = adverts
        .iter()
        .map(|a| AdvertiseKeys::decode(&p, a).unwrap())
        .collect();
    server.receive(1, &adverts[0]).unwrap();
    server.receive(2, &adverts[1]).unwrap();
    let mut burned: Vec<[u8; 32]> = Vec::new();
    if with_clash {
        let mut copy = keys[2].clone();
        copy.s_pk = keys[0].s_pk;
        assert!(server.receive(3, &copy.to_bytes()).is_err());
        burned = vec![keys[0].c_pk, keys[0].s_pk, keys[2].c_pk];
        burned.sort_unstable();
    }
    let sealed = server.export(&key(), &mut r);
    let pt = unseal(&sealed, &header(2, 0));
    let tail: Vec<u8> = [
        &2u32.to_le_bytes()[..],
        &keys[1].c_pk,
        &keys[1].s_pk,
        &(burned.len() as u32).to_le_bytes(),
        &burned.concat(),
    ]
    .concat();
    assert_eq!(pt[pt.len() - tail.len()..], tail[..], "the documented tail");
    let burned_at = pt.len() - 4 - 32 * burned.len();
    AtAdvertise {
        n: p.clients(),
        entry: pt.len() - tail.len(),
        burned: burned_at,
        pt,
    }
}

fn import_server(pt: &[u8]) -> Result<Server, Error> {
    import_server_in(pt, 0, Phase::AdvertiseKeys)
}

/// A server plaintext sealed with phase byte `byte` and imported in `phase`.
fn import_server_in(pt: &[u8], byte: u8, phase: Phase) -> Result<Server, Error> {
    let sealed = seal(&header(2, byte), [3; 12], pt);
    Server::import(&sealed, &key(), &ROUND, Some(phase))
}

fn malformed(pt: &[u8]) -> Option<DecodeError> {
    match import_server(pt) {
        Err(Error::State(StateError::Malformed(e))) => Some(e),
        Ok(_) => None,
        Err(e) => panic!("expected Malformed, got {e:?}"),
    }
}

/// spec/state.md section 4: lists are strictly ascending. A keys map whose
/// second entry repeats the index of the first, or goes below it, does not
/// decode (a decoder that let a repeat through would keep one entry of
/// two); the genuine plaintext, resealed, imports.
#[test]
fn a_repeated_or_descending_index_is_refused() {
    let s = at_advertise(false);
    assert!(import_server(&s.pt).is_ok());
    // The entry before 2's is 1's: (index, 64 bytes of keys).
    let prev = s.entry - 68;
    assert_eq!(s.pt[prev..prev + 4], 1u32.to_le_bytes());
    let mut repeated = s.pt.clone();
    repeated[s.entry..s.entry + 4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(malformed(&repeated), Some(DecodeError::NonCanonical));
    let mut swapped = s.pt.clone();
    swapped[prev..prev + 4].copy_from_slice(&2u32.to_le_bytes());
    swapped[s.entry..s.entry + 4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(malformed(&swapped), Some(DecodeError::NonCanonical));
    let mut beyond = s.pt.clone();
    beyond[s.entry..s.entry + 4].copy_from_slice(&(s.n + 1).to_le_bytes());
    assert_eq!(malformed(&beyond), Some(DecodeError::IndexOutOfRange));
}

/// spec/state.md section 5, state 0: burned keys are strictly ascending
/// and at most 2n + 2. A burned key written twice, or 2n + 3 keys, do not
/// decode; 2n + 2 ascending keys do.
#[test]
fn burned_keys_repeated_or_past_their_bound_are_refused() {
    let s = at_advertise(true);
    assert!(import_server(&s.pt).is_ok());
    let list = s.burned + 4;
    assert_eq!(s.pt[s.burned..list], 3u32.to_le_bytes());
    let mut twice = s.pt.clone();
    let first: [u8; 32] = twice[list..list + 32].try_into().unwrap();
    twice[list + 32..list + 64].copy_from_slice(&first);
    assert_eq!(malformed(&twice), Some(DecodeError::NonCanonical));
    let with = |count: u32| {
        let mut pt = s.pt[..s.burned].to_vec();
        pt.extend_from_slice(&count.to_le_bytes());
        for i in 1..=count {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            pt.extend_from_slice(&k);
        }
        pt
    };
    let bound = 2 * s.n + 2;
    assert!(import_server(&with(bound)).is_ok());
    assert_eq!(
        malformed(&with(bound + 1)),
        Some(DecodeError::LengthOutOfBounds)
    );
}

/// Client 1 of a semi-honest round of n = 3 (complete graph), exported
/// awaiting its ShareDelivery and awaiting its UnmaskRequest: the two
/// plaintexts.
fn client_plaintexts() -> (Vec<u8>, Vec<u8>) {
    let p = Params::new(3, 2, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(53);
    let (mut server, mut clients) = start(&p, &mut r);
    let mut at = Vec::new();
    while at.len() < 2 {
        let Step::Deliver(out) = server.close_phase().unwrap() else {
            unreachable!()
        };
        for (u, bytes) in out {
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
        }
        let c = &clients[0];
        let phase = c.phase();
        let byte = match phase {
            ClientPhase::ShareDelivery => 1,
            ClientPhase::UnmaskRequest => 3,
            other => panic!("{other:?}"),
        };
        at.push(unseal(&c.export(&key(), &mut r), &header(1, byte)));
    }
    (at.remove(0), at.remove(0))
}

fn client_error_of(pt: &[u8], phase: ClientPhase) -> Option<DecodeError> {
    let byte = if phase == ClientPhase::ShareDelivery {
        1
    } else {
        3
    };
    let sealed = seal(&header(1, byte), [5; 12], pt);
    match Client::import(&sealed, &key(), &ROUND, phase) {
        Ok(_) => None,
        Err(Error::State(StateError::Malformed(e))) => Some(e),
        Err(e) => panic!("expected Malformed, got {e:?}"),
    }
}

fn set_u32(pt: &mut [u8], at: usize, v: u32) {
    pt[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// spec/state.md section 4, stage 1: each pairwise entry is a neighbour's.
/// Client 1's entries (2, 3) with 2 rewritten as 1 (still ascending, but
/// the client itself) do not decode.
#[test]
fn a_pairwise_entry_for_a_non_neighbour_is_refused() {
    let (pt, _) = client_plaintexts();
    assert_eq!(client_error_of(&pt, ClientPhase::ShareDelivery), None);
    let peers = pt.len() - 4 - 2 * 68;
    assert_eq!(pt[peers..peers + 8], [2, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(pt[peers + 72..peers + 76], 3u32.to_le_bytes());
    let mut own = pt.clone();
    set_u32(&mut own, peers + 4, 1);
    assert_eq!(
        client_error_of(&own, ClientPhase::ShareDelivery),
        Some(DecodeError::IndexOutOfRange)
    );
}

/// spec/state.md section 4, stage 2: the view holds neighbours only, each
/// held share is of a client in the view, and there are at most as many
/// held shares as the view has members. Client 1's view (2, 3) and held
/// shares (2, 3), edited: view and held (1, 3) (the client itself),
/// held (1, 3) under view (2, 3), and a held count of 3, are refused.
#[test]
fn a_view_or_held_share_outside_the_neighbours_is_refused() {
    let (_, pt) = client_plaintexts();
    let phase = ClientPhase::UnmaskRequest;
    assert_eq!(client_error_of(&pt, phase), None);
    // ... view || held || signed (0) || 0 || own shares (64).
    let held = pt.len() - 64 - 2 - (4 + 2 * 68);
    let view = held - (4 + 2 * 4);
    assert_eq!(pt[view..held], [2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
    assert_eq!(pt[held..held + 8], [2, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(pt[pt.len() - 66..pt.len() - 64], [0, 0]);
    let mut self_in_view = pt.clone();
    set_u32(&mut self_in_view, view + 4, 1);
    set_u32(&mut self_in_view, held + 4, 1);
    assert_eq!(
        client_error_of(&self_in_view, phase),
        Some(DecodeError::IndexOutOfRange)
    );
    let mut outside_view = pt.clone();
    set_u32(&mut outside_view, held + 4, 1);
    assert_eq!(
        client_error_of(&outside_view, phase),
        Some(DecodeError::IndexOutOfRange)
    );
    let mut more_than_view = pt.clone();
    set_u32(&mut more_than_view, held, 3);
    assert_eq!(
        client_error_of(&more_than_view, phase),
        Some(DecodeError::LengthOutOfBounds)
    );
}

/// spec/state.md section 4: in the malicious model the identity must be
/// the roster's key for the client's index. A fresh client 2's plaintext
/// with its Ed25519 secret replaced does not decode.
#[test]
fn an_identity_that_is_not_the_rosters_is_refused() {
    let p = Params::new(3, 2, 16, 4, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 0 })
        .unwrap();
    let mut r = rng(59);
    let ids: Vec<Identity> = (0..3).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let (c, _) = Client::with_identity(&p, ROUND, 2, &ids[1], &roster, &mut r).unwrap();
    let pt = unseal(&c.export(&key(), &mut r), &header(1, 0));
    let import = |pt: &[u8]| {
        let sealed = seal(&header(1, 0), [6; 12], pt);
        Client::import(&sealed, &key(), &ROUND, ClientPhase::KeyBroadcast)
    };
    assert!(import(&pt).is_ok());
    let params_len = u32::from_le_bytes(pt[32..36].try_into().unwrap()) as usize;
    let secret = 36 + params_len + 4 + 1;
    assert_eq!(pt[secret - 1], 1, "the credentials flag");
    // The roster follows the secret: client 2's key is its second entry.
    let keys = secret + 32;
    assert_eq!(pt[keys + 32..keys + 64], ids[1].public_key());
    let mut other = pt.clone();
    other[secret..secret + 32].copy_from_slice(&[9; 32]);
    assert_eq!(
        import(&other).err(),
        Some(Error::State(StateError::Malformed(
            DecodeError::NonCanonical
        )))
    );
}

/// A semi-honest round (n = 5, t = 3) in which client 2's ciphertexts to
/// `garbled` do not open, with the server exported and imported after
/// every message it receives and before every close.
fn round_with_complaints(garbled: &[ClientIndex]) -> Result<secagg::Aggregate, Error> {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(61);
    let (mut server, mut clients) = start(&p, &mut r);
    loop {
        reimport(&mut server);
        let out = match server.close_phase()? {
            Step::Deliver(out) => out,
            Step::Done(agg) => return Ok(agg),
            _ => unreachable!(),
        };
        for (u, bytes) in out {
            let mut reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            if u == 2 && server.phase() == Some(Phase::ShareKeys) {
                let mut m = ShareKeys::decode(&p, &reply).unwrap();
                for (v, c) in &mut m.ciphertexts {
                    if garbled.contains(v) {
                        c[0] ^= 1;
                    }
                }
                reply = m.to_bytes();
            }
            server.receive(u, &reply).unwrap();
            reimport(&mut server);
        }
    }
}

/// spec/state.md section 5, state 2: the complaints that came with each
/// MaskedInput survive an export. One complaint names the dealer (its
/// input stays in the sum); three leave fewer than t holders of its shares
/// and abort the round, as without exports
/// (`tests/api/outcomes.rs::undecryptable_names_the_dealer_or_aborts`).
#[test]
fn complaints_survive_an_export() {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let agg = round_with_complaints(&[1]).unwrap();
    assert_eq!(
        agg.misbehaved,
        vec![(2, ClientFault::Undecryptable { reported_by: 1 })]
    );
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5]);
    assert_eq!(agg.sum, sum_of(&p, &[1, 2, 3, 4, 5]));
    assert_eq!(
        round_with_complaints(&[1, 3, 4]).unwrap_err(),
        Error::Client {
            index: 2,
            fault: ClientFault::Undecryptable { reported_by: 1 },
            outcome: Outcome::Aborted,
        }
    );
}

/// spec/state.md section 5, state 4: the clients that answered the unmask
/// request survive an export. Client 1's second, different UnmaskResponse
/// after the server was exported and imported is a `Duplicate` (named, the
/// first stands), and the round ends with every input in the sum.
#[test]
fn unmask_answers_survive_an_export() {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(67);
    let (mut server, mut clients) = start(&p, &mut r);
    let mut second = None;
    let agg = loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(agg) => break agg,
            _ => unreachable!(),
        };
        for (u, bytes) in out {
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
            if u == 1 && server.phase() == Some(Phase::Unmask) {
                reimport(&mut server);
                let mut other = reply.clone();
                let last = other.len() - 1;
                other[last] ^= 1;
                second = Some(server.receive(1, &other));
            }
        }
    };
    assert_eq!(
        second,
        Some(client_error(1, ClientFault::Duplicate, Outcome::Named))
    );
    assert_eq!(agg.misbehaved, vec![(1, ClientFault::Duplicate)]);
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5]);
    assert_eq!(agg.sum, sum_of(&p, &[1, 2, 3, 4, 5]));
}

/// `pt` with the `len` bytes at `at` (after a u32 length) rewritten as
/// `with`, the length with them.
fn splice_len_prefixed(pt: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    [
        &pt[..at],
        &(with.len() as u32).to_le_bytes()[..],
        with,
        &pt[at + 4 + len..],
    ]
    .concat()
}

/// spec/state.md section 5: a masking set's bitmap is at most
/// `ceil(n / 8)` bytes. A malicious server of n = 9 (complete graph, so
/// each bitmap covers 8 neighbours in one byte) exported after client 1's
/// MaskedInput: its masking set, rewritten with a bitmap of 2 bytes
/// (`ceil(9 / 8)`), imports; one of 3 bytes does not decode.
#[test]
fn a_masking_set_bitmap_beyond_n_bits_is_refused() {
    let p = Params::new(9, 5, 16, 4, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 0 })
        .unwrap();
    let mut r = rng(71);
    let (mut server, mut clients) = start(&p, &mut r);
    let mut masked = None;
    while masked.is_none() {
        let Step::Deliver(out) = server.close_phase().unwrap() else {
            unreachable!()
        };
        for (u, bytes) in out {
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            if server.phase() == Some(Phase::MaskedInput) {
                if u == 1 {
                    server.receive(1, &reply).unwrap();
                    masked = Some(reply);
                }
            } else {
                server.receive(u, &reply).unwrap();
            }
        }
    }
    let msg = secagg::protocol::messages::MaskedInput::decode(&p, &masked.unwrap()).unwrap();
    let signature = msg.signature.unwrap();
    let pt = unseal(&server.export(&key(), &mut r), &header(2, 2));
    let at = pt
        .windows(64)
        .position(|w| w == signature)
        .expect("the masking set keeps client 1's signature");
    // (owner 1, u32 len 1, one byte of 8 neighbour bits, signature)
    assert_eq!(pt[at - 9..at - 5], 1u32.to_le_bytes());
    assert_eq!(pt[at - 5..at - 1], 1u32.to_le_bytes());
    let bits = pt[at - 1];
    assert_eq!(bits, 0xff, "client 1 masked with its 8 neighbours");
    let import = |pt: &[u8]| import_server_in(pt, 2, Phase::MaskedInput);
    assert!(import(&pt).is_ok());
    assert!(import(&splice_len_prefixed(&pt, at - 5, 1, &[bits, 0])).is_ok());
    assert!(matches!(
        import(&splice_len_prefixed(&pt, at - 5, 1, &[bits, 0, 0])),
        Err(Error::State(StateError::Malformed(_)))
    ));
}

/// spec/state.md section 5, state 4: an owner's share list holds at most
/// `k + 1` shares. A semi-honest server of n = 5 (complete, k = 4) in
/// Unmask after client 5 dropped and client 1 answered: its share lists,
/// replaced by one list for client 5 of 5 shares, import; 6 shares do not
/// decode.
#[test]
fn an_owner_with_more_than_k_plus_one_shares_is_refused() {
    let p = Params::new(5, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(73);
    let (mut server, mut clients) = start(&p, &mut r);
    while server.phase() != Some(Phase::Unmask) {
        let Step::Deliver(out) = server.close_phase().unwrap() else {
            unreachable!()
        };
        let phase = server.phase();
        for (u, bytes) in out {
            if phase == Some(Phase::MaskedInput) && u == 5 {
                continue;
            }
            if phase == Some(Phase::Unmask) && u != 1 {
                continue;
            }
            let reply = clients[u as usize - 1].receive(&bytes, &mut r).unwrap();
            server.receive(u, &reply).unwrap();
        }
    }
    let pt = unseal(&server.export(&key(), &mut r), &header(2, 4));
    // dropped = [5], answered = [1], then the share lists to the end: five
    // owners (client 1 holds a share of each client's seed or mask key).
    let lists: Vec<u8> = [1u32, 5, 1, 1, 5]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let found: Vec<usize> = (0..pt.len() - lists.len())
        .filter(|&i| pt[i..].starts_with(&lists))
        .collect();
    assert_eq!(found.len(), 1, "dropped, answered and the owner count");
    let at = found[0] + 16;
    let with = |shares: u32| {
        let mut out = pt[..at].to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&5u32.to_le_bytes());
        out.extend_from_slice(&shares.to_le_bytes());
        for _ in 0..shares {
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&[0; 32]);
        }
        out
    };
    let import = |pt: &[u8]| import_server_in(pt, 4, Phase::Unmask);
    assert!(import(&pt).is_ok());
    assert!(import(&with(5)).is_ok());
    assert!(matches!(
        import(&with(6)),
        Err(Error::State(StateError::Malformed(_)))
    ));
}
