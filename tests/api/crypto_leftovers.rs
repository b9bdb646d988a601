//! The server's batch intake at the boundaries of its check groups
//! (spec/protocol.md section 5.1): `Server::receive_all` checks what
//! depends on each message's bytes a group of 1,024 messages at a time, and
//! each message must meet its own checks on either side of a boundary.

use secagg::{
    Client, ClientFault, ClientIndex, Error, Graph, Identity, Outcome, Params, Roster, Server,
    ServerModel,
};

use crate::common::{ROUND, rng};

/// The size of the groups `Server::receive_all` checks at once.
const GROUP: usize = 1024;

/// A byte of the AdvertiseKeys signature: flipping it breaks the signature
/// and nothing else.
const SIGNATURE_BYTE: usize = 100;

/// `Server::receive_all` on the first `len` AdvertiseKeys of a
/// malicious-model round of n = 2,049 (so a batch of 1,024, 1,025 or 2,049
/// messages: one group, a group and one message, two groups and one
/// message), with the signature of the message at `bad` broken, on either
/// side of each group boundary: exactly that message is refused with
/// `BadSignature` and its client excluded; every other message is taken,
/// with its own keys (no other client is excluded for a key clash), and
/// the server waits for exactly the clients not in the batch. The results
/// are those of `Server::receive` on each message in turn.
#[test]
fn receive_all_group_boundaries_exclude_exactly_the_bad_client() {
    let n = 2 * GROUP as u32 + 1;
    let params = Params::new(
        n,
        6,
        16,
        1,
        Graph::Harary {
            degree: 8,
            seed: [5; 32],
        },
    )
    .and_then(|p| p.with_model(ServerModel::Malicious { corrupt: 1 }))
    .unwrap();
    let mut r = rng(1024);
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let keys: Vec<[u8; 32]> = ids.iter().map(Identity::public_key).collect();
    let roster = Roster::new(&keys).unwrap();
    let adverts: Vec<(ClientIndex, Vec<u8>)> = (1..=n)
        .zip(&ids)
        .map(|(i, id)| {
            let (_, bytes) = Client::with_identity(&params, ROUND, i, id, &roster, &mut r).unwrap();
            (i, bytes)
        })
        .collect();
    let cases = [
        (GROUP, 0),
        (GROUP, GROUP - 1),
        (GROUP + 1, GROUP - 1),
        (GROUP + 1, GROUP),
        (2 * GROUP + 1, GROUP),
        (2 * GROUP + 1, 2 * GROUP - 1),
        (2 * GROUP + 1, 2 * GROUP),
    ];
    for (len, bad) in cases {
        let mut batch: Vec<(ClientIndex, Vec<u8>)> = adverts[..len].to_vec();
        batch[bad].1[SIGNATURE_BYTE] ^= 1;
        let borrowed: Vec<(ClientIndex, &[u8])> =
            batch.iter().map(|(i, m)| (*i, m.as_slice())).collect();
        let mut server = Server::with_roster(&params, ROUND, &roster, &mut rng(7)).unwrap();
        let results = server.receive_all(&borrowed);
        assert_eq!(results.len(), len, "{len} messages");
        let culprit = adverts[bad].0;
        for (k, result) in results.iter().enumerate() {
            if k == bad {
                assert_eq!(
                    *result,
                    Err(Error::Client {
                        index: culprit,
                        fault: ClientFault::BadSignature,
                        outcome: Outcome::Excluded,
                    }),
                    "{len} messages, bad at {bad}"
                );
            } else {
                assert_eq!(*result, Ok(()), "{len} messages, bad at {bad}, message {k}");
            }
        }
        assert_eq!(server.excluded(), [culprit], "{len} messages, bad at {bad}");
        let waiting: Vec<ClientIndex> = (u32::try_from(len).unwrap() + 1..=n).collect();
        assert_eq!(server.pending(), waiting, "{len} messages, bad at {bad}");
        // The same as each message on its own.
        let mut one = Server::with_roster(&params, ROUND, &roster, &mut rng(7)).unwrap();
        let in_turn: Vec<Result<(), Error>> =
            borrowed.iter().map(|&(i, m)| one.receive(i, m)).collect();
        assert_eq!(in_turn, results, "{len} messages, bad at {bad}");
        assert_eq!(one.excluded(), server.excluded());
    }
}
