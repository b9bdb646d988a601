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
