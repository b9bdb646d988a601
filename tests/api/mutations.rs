//! Tests that fail when one rule of the protocol or its cryptography is
//! moved by one or taken out and no other test would notice: each names
//! the rule of spec/*.md it pins.

use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, Client, ClientIndex, ClientPhase,
    Error, Graph, Misuse, Params, Server, Step,
};

use crate::common::{ROUND, rng};

/// n = 5, t = 3, b = 16, m = 5, complete graph.
fn five() -> Params {
    Params::new(5, 3, 16, 5, Graph::Complete).unwrap()
}

/// Client `u`'s input of `len` elements: `u * 100 + j`.
fn input(u: ClientIndex, len: u64) -> Vec<u64> {
    (0..len).map(|j| u64::from(u) * 100 + j).collect()
}

/// The sum of every client's input of [`five`].
fn sum_of_five() -> Vec<u64> {
    (0..5).map(|j| (1..=5).map(|u| u * 100 + j).sum()).collect()
}

/// The messages of a close that delivers, by client.
type Messages = Vec<(ClientIndex, Vec<u8>)>;

/// The messages of a close that delivers.
fn deliver(server: &mut Server) -> Messages {
    let Step::Deliver(out) = server.close_phase().unwrap() else {
        panic!("the round ended early")
    };
    out.into_iter().collect()
}

/// A semi-honest round of [`five`] up to its ShareDelivery: the server,
/// each client awaiting it, and the deliveries.
fn at_share_delivery(seed: u64) -> (Server, Vec<AwaitingShares>, Messages) {
    let p = five();
    let mut r = rng(seed);
    let mut server = Server::new(&p, ROUND, &mut r).unwrap();
    let mut keys = Vec::new();
    for u in 1..=p.clients() {
        let (c, msg) = AwaitingKeys::new(&p, ROUND, u, &mut r).unwrap();
        server.receive(u, &msg).unwrap();
        keys.push(c);
    }
    let mut shares = Vec::new();
    for (u, bytes) in deliver(&mut server) {
        let (s, reply) = keys[u as usize - 1].receive(&bytes, &mut r).unwrap();
        server.receive(u, &reply).unwrap();
        shares.push(s);
    }
    let deliveries = deliver(&mut server);
    (server, shares, deliveries)
}

/// Hands each client its ShareDelivery, first to `check`, then with its
/// input of m elements; the server takes every MaskedInput.
fn mask_all(
    server: &mut Server,
    shares: &mut [AwaitingShares],
    deliveries: &[(ClientIndex, Vec<u8>)],
    mut check: impl FnMut(ClientIndex, &[u8], &mut AwaitingShares),
) -> Vec<AwaitingUnmask> {
    let m = u64::from(five().dim());
    let mut unmask = Vec::new();
    for (u, bytes) in deliveries {
        let s = &mut shares[*u as usize - 1];
        check(*u, bytes, s);
        let (next, reply) = s.receive(bytes, &input(*u, m)).unwrap();
        server.receive(*u, &reply).unwrap();
        unmask.push(next);
    }
    unmask
}

/// Answers the UnmaskRequests `requests` and closes the round.
fn finish(
    server: &mut Server,
    unmask: &mut [AwaitingUnmask],
    requests: &[(ClientIndex, Vec<u8>)],
) -> Aggregate {
    for (u, bytes) in requests {
        let reply = unmask[*u as usize - 1].receive(bytes).unwrap();
        server.receive(*u, &reply).unwrap();
    }
    let Step::Done(agg) = server.close_phase().unwrap() else {
        panic!("the round goes on")
    };
    agg
}

/// spec/protocol.md section 4.3 (MaskedInput, client side): the input has
/// exactly m elements. Each client of a round with m = 5 is handed its
/// ShareDelivery with an input of m + 1 and then m - 1 elements: each is
/// refused `Misuse(InputLength)`, in the typed state
/// (`AwaitingShares::receive`) and in [`Client::set_input`], and leaves the
/// state usable; with m elements the round ends with the exact sum.
/// Accepting m + 1 would mask and send a vector the server cannot decode,
/// so an honest client would be excluded as malformed for a caller's slip.
#[test]
fn an_input_one_element_long_or_short_is_refused_and_the_state_kept() {
    let m = u64::from(five().dim());
    let (mut server, mut shares, deliveries) = at_share_delivery(41);
    let mut unmask = mask_all(&mut server, &mut shares, &deliveries, |u, bytes, s| {
        for len in [m + 1, m - 1] {
            assert_eq!(
                s.receive(bytes, &input(u, len)).map(|_| ()),
                Err(Error::Misuse(Misuse::InputLength)),
                "client {u}, {len} elements"
            );
        }
    });
    let requests = deliver(&mut server);
    assert_eq!(
        finish(&mut server, &mut unmask, &requests).sum,
        sum_of_five()
    );

    let (mut c, _) = Client::new(&five(), ROUND, 1, &mut rng(42)).unwrap();
    for len in [m + 1, m - 1] {
        assert_eq!(
            c.set_input(&input(1, len)),
            Err(Error::Misuse(Misuse::InputLength)),
            "{len} elements"
        );
    }
    assert_eq!(c.phase(), ClientPhase::KeyBroadcast);
    c.set_input(&input(1, m)).unwrap();
}

/// spec/state.md section 5 with spec/wire-format.md section 2: a share the
/// server keeps in its Unmask state is a canonical scalar (below `l`), and
/// an import refuses any other encoding. A server of n = 5, t = 3 has
/// taken client 1's UnmaskResponse; its export, opened and sealed again
/// with the first share `y` of that response written as `y + l` (the same
/// value mod `l`), is `Malformed(NonCanonical)`; sealed again unchanged it
/// imports and the round ends with the exact sum. Accepting `y + l` would
/// give one state two encodings and hold a share that never passed the
/// intake's decoder.
#[test]
fn a_server_export_holding_a_share_not_below_the_order_is_refused() {
    use secagg::{DecodeError, StateError, StateKey};

    use crate::crypto_review::{STATE_KEY, plus_order, seal, unseal};

    let (mut server, mut shares, deliveries) = at_share_delivery(43);
    let mut unmask = mask_all(&mut server, &mut shares, &deliveries, |_, _, _| {});
    let requests = deliver(&mut server);
    let first = unmask[0].receive(&requests[0].1).unwrap();
    server.receive(1, &first).unwrap();
    // UnmaskResponse: header (2), session (32), count (4), then
    // owner (4) || kind (1) || share (32) per entry.
    let y = &first[43..75];

    let key = StateKey::new(STATE_KEY);
    let export = server.export(&key, &mut rng(44));
    let header = &export[..40];
    let pt = unseal(&export, header);
    let at: Vec<usize> = (0..=pt.len() - 32)
        .filter(|&i| pt[i..i + 32] == *y)
        .collect();
    assert_eq!(at.len(), 1, "the share is in the plaintext once");
    let mut forged = pt.clone();
    plus_order(&mut forged[at[0]..at[0] + 32]);
    let phase = server.phase();
    assert_eq!(
        Server::import(&seal(header, [7; 12], &forged), &key, &ROUND, phase).map(|_| ()),
        Err(Error::State(StateError::Malformed(
            DecodeError::NonCanonical
        )))
    );

    let mut server = Server::import(&seal(header, [8; 12], &pt), &key, &ROUND, phase).unwrap();
    let agg = finish(&mut server, &mut unmask, &requests[1..]);
    assert_eq!(agg.sum, sum_of_five());
}
