//! Hostile servers and hostile clients: every refusal is typed, names the
//! culprit, reveals nothing, and loses no honest client's contribution.

use std::collections::BTreeMap;

use rand_core::Rng;
use secagg::protocol::messages::{MaskedInput, ShareKeys, UnmaskRequest, UnmaskResponse};
use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, ClientFault, ClientIndex, Decode,
    DecodeError, Encode, Error, Graph, Outcome, Params, Server, ServerFault, StateKey, Step,
};

use crate::common::{ROUND, rng, top};

/// What a tamper hook does with one client message.
enum Act {
    /// Deliver these bytes (possibly changed).
    Send(Vec<u8>),
    /// Deliver these bytes, then these again (a duplicate).
    Twice(Vec<u8>, Vec<u8>),
    /// Do not deliver (the client dropped).
    Drop,
}

/// Everything a test checks after a round.
struct Run {
    result: Result<Aggregate, Error>,
    /// Errors `Server::receive` returned, in order.
    rejected: Vec<Error>,
    inputs: Vec<Vec<u64>>,
    params: Params,
}

impl Run {
    fn expected_sum(&self, over: &[ClientIndex]) -> Vec<u64> {
        let top = if self.params.bits() == 64 {
            u64::MAX
        } else {
            (1 << self.params.bits()) - 1
        };
        let mut s = vec![0u64; self.params.dim() as usize];
        for &u in over {
            for (a, x) in s.iter_mut().zip(&self.inputs[u as usize - 1]) {
                *a = a.wrapping_add(*x) & top;
            }
        }
        s
    }
}

/// Drives a round with honest clients; `tamper(phase, from, bytes)` sits
/// between each client and the server.
fn round(
    params: &Params,
    seed: u64,
    tamper: impl FnMut(usize, ClientIndex, Vec<u8>) -> Act,
) -> Run {
    round_with(params, seed, false, tamper)
}

/// [`round`]; with `reimport`, the server is exported and imported before
/// its last close, so it unmasks without what it kept only in memory.
fn round_with(
    params: &Params,
    seed: u64,
    reimport: bool,
    mut tamper: impl FnMut(usize, ClientIndex, Vec<u8>) -> Act,
) -> Run {
    let mut r = rng(seed);
    let n = params.clients();
    let top = top(params);
    let inputs: Vec<Vec<u64>> = (0..n)
        .map(|_| (0..params.dim()).map(|_| r.next_u64() & top).collect())
        .collect();
    let mut server = Server::new(params, ROUND, &mut r).unwrap();
    let mut rejected = Vec::new();
    let mut deliver =
        |server: &mut Server, phase: usize, from: ClientIndex, bytes: Vec<u8>| -> bool {
            match tamper(phase, from, bytes) {
                Act::Send(b) => {
                    if let Err(e) = server.receive(from, &b) {
                        rejected.push(e);
                    }
                    true
                }
                Act::Twice(a, b) => {
                    for m in [a, b] {
                        if let Err(e) = server.receive(from, &m) {
                            rejected.push(e);
                        }
                    }
                    true
                }
                Act::Drop => false,
            }
        };
    let deliveries = |step: Result<Step, Error>| match step {
        Ok(Step::Deliver(d)) => Ok(d),
        Ok(_) => unreachable!("deliveries before the last phase"),
        Err(e) => Err(e),
    };
    let finish = |result, rejected, inputs| Run {
        result,
        rejected,
        inputs,
        params: params.clone(),
    };

    let mut s0: BTreeMap<ClientIndex, AwaitingKeys> = BTreeMap::new();
    for i in 1..=n {
        let (st, msg) = AwaitingKeys::new(params, ROUND, i, &mut r).unwrap();
        if deliver(&mut server, 0, i, msg) {
            s0.insert(i, st);
        }
    }
    let d = match deliveries(server.close_phase()) {
        Ok(d) => d,
        Err(e) => return finish(Err(e), rejected, inputs),
    };
    let mut s1: BTreeMap<ClientIndex, AwaitingShares> = BTreeMap::new();
    for (i, msg) in d {
        let Some(mut st) = s0.remove(&i) else {
            continue;
        };
        if let Ok((st, out)) = st.receive(&msg, &mut r)
            && deliver(&mut server, 1, i, out)
        {
            s1.insert(i, st);
        }
    }
    let d = match deliveries(server.close_phase()) {
        Ok(d) => d,
        Err(e) => return finish(Err(e), rejected, inputs),
    };
    let mut s2: BTreeMap<ClientIndex, AwaitingUnmask> = BTreeMap::new();
    for (i, msg) in d {
        let Some(mut st) = s1.remove(&i) else {
            continue;
        };
        if let Ok((st, out)) = st.receive(&msg, &inputs[i as usize - 1])
            && deliver(&mut server, 2, i, out)
        {
            s2.insert(i, st);
        }
    }
    let d = match deliveries(server.close_phase()) {
        Ok(d) => d,
        Err(e) => return finish(Err(e), rejected, inputs),
    };
    for (i, msg) in d {
        let Some(mut st) = s2.remove(&i) else {
            continue;
        };
        if let Ok(out) = st.receive(&msg) {
            deliver(&mut server, 3, i, out);
        }
    }
    if reimport {
        let key = StateKey::new([9; 32]);
        let sealed = server.export(&key, &mut r);
        server = Server::import(&sealed, &key, &ROUND, server.phase()).unwrap();
    }
    let result = match server.close_phase() {
        Ok(Step::Done(agg)) => Ok(agg),
        Ok(_) => unreachable!("done after the last phase"),
        Err(e) => Err(e),
    };
    finish(result, rejected, inputs)
}

fn complete(n: u32, t: u32) -> Params {
    Params::new(n, t, 32, 16, Graph::Complete).unwrap()
}

// ----- Hostile server: the client refuses and reveals nothing. -----

/// Drives n = 5, t = 3 to the unmask request with client 2 dropped after R1
/// and client 5 dropped before R1; returns client 1's state and the honest
/// request it got.
fn client_at_unmask() -> (AwaitingUnmask, UnmaskRequest, Params) {
    let params = complete(5, 3);
    let mut r = rng(77);
    let mut server = Server::new(&params, ROUND, &mut r).unwrap();
    let mut s0 = BTreeMap::new();
    for i in 1..=5 {
        let (st, msg) = AwaitingKeys::new(&params, ROUND, i, &mut r).unwrap();
        server.receive(i, &msg).unwrap();
        s0.insert(i, st);
    }
    let Step::Deliver(d) = server.close_phase().unwrap() else {
        panic!()
    };
    let mut s1 = BTreeMap::new();
    for (i, msg) in d {
        let (st, out) = s0.remove(&i).unwrap().receive(&msg, &mut r).unwrap();
        if i != 5 {
            server.receive(i, &out).unwrap();
            s1.insert(i, st);
        }
    }
    let Step::Deliver(d) = server.close_phase().unwrap() else {
        panic!()
    };
    let mut s2 = BTreeMap::new();
    for (i, msg) in d {
        let (st, out) = s1.remove(&i).unwrap().receive(&msg, &[7; 16]).unwrap();
        if i != 2 {
            server.receive(i, &out).unwrap();
            s2.insert(i, st);
        }
    }
    let Step::Deliver(d) = server.close_phase().unwrap() else {
        panic!()
    };
    let req = UnmaskRequest::decode(&params, &d.message(1).unwrap()).unwrap();
    assert_eq!(req.survivors, vec![1, 3, 4]);
    assert_eq!(req.dropped, vec![2]);
    (s2.remove(&1).unwrap(), req, params)
}

fn refuse(req: UnmaskRequest) -> Error {
    let (mut client, _, _) = client_at_unmask();
    client
        .receive(&req.to_bytes())
        .expect_err("the client must refuse")
}

#[test]
fn honest_unmask_request_is_answered_with_one_share_per_peer() {
    let (mut client, req, params) = client_at_unmask();
    let resp = UnmaskResponse::decode(&params, &client.receive(&req.to_bytes()).unwrap()).unwrap();
    let owners: Vec<_> = resp.shares.iter().map(|s| (s.owner, s.kind)).collect();
    use secagg::protocol::messages::ShareKind::{MaskKey, SelfSeed};
    assert_eq!(
        owners,
        vec![(1, SelfSeed), (2, MaskKey), (3, SelfSeed), (4, SelfSeed)]
    );
}

#[test]
fn server_listing_a_peer_as_survivor_and_dropped_is_refused() {
    let (_, mut req, _) = client_at_unmask();
    req.survivors = vec![1, 2, 3, 4];
    assert_eq!(
        refuse(req),
        Error::Server(ServerFault::SurvivorAndDropped { peer: 2 })
    );
}

#[test]
fn server_naming_fewer_than_t_survivors_is_refused() {
    let (_, mut req, _) = client_at_unmask();
    // Claims 3 and 4 dropped too: asks for their mask keys with 2 survivors.
    req.survivors = vec![1, 3];
    req.dropped = vec![2, 4];
    assert_eq!(
        refuse(req),
        Error::Server(ServerFault::NotEnoughNeighbours {
            named: 2,
            threshold: 3
        })
    );
}

#[test]
fn server_naming_a_peer_never_seen_is_refused() {
    // Client 5 never sent shares: client 1 did not mask with it.
    let (_, mut req, _) = client_at_unmask();
    req.survivors = vec![1, 3, 4, 5];
    assert_eq!(
        refuse(req),
        Error::Server(ServerFault::UnexpectedPeer { peer: 5 })
    );
    let (_, mut req, _) = client_at_unmask();
    req.dropped = vec![2, 5];
    assert_eq!(
        refuse(req),
        Error::Server(ServerFault::UnexpectedPeer { peer: 5 })
    );
}

#[test]
fn server_request_from_another_session_is_refused() {
    let (_, mut req, _) = client_at_unmask();
    req.session[0] ^= 1;
    assert_eq!(refuse(req), Error::Server(ServerFault::WrongSession));
}

#[test]
fn server_request_leaving_out_the_client_or_a_peer_is_refused() {
    let (_, mut req, _) = client_at_unmask();
    req.survivors = vec![3, 4];
    req.dropped = vec![1, 2];
    assert_eq!(refuse(req), Error::Server(ServerFault::SelfNotSurvivor));
    let (_, mut req, _) = client_at_unmask();
    req.survivors = vec![1, 3, 4];
    req.dropped = vec![];
    assert_eq!(
        refuse(req),
        Error::Server(ServerFault::IncompleteRequest { peer: 2 })
    );
    // A garbage frame leaves the state usable: the genuine request that
    // follows is answered.
    let (mut client, req, _) = client_at_unmask();
    assert_eq!(
        client.receive(&[2, 0x83, 0]),
        Err(Error::Server(ServerFault::Malformed(
            DecodeError::Truncated
        )))
    );
    assert!(client.receive(&req.to_bytes()).is_ok());
}

// ----- Hostile clients: excluded, named, and the rest still sums exactly. -----

fn assert_client_error(run: &Run, index: ClientIndex, fault: ClientFault, outcome: Outcome) {
    assert!(
        run.rejected.contains(&Error::Client {
            index,
            fault,
            outcome
        }),
        "expected client {index} {fault:?}, got {:?}",
        run.rejected
    );
}

#[test]
fn malformed_message_excludes_its_sender() {
    let params = complete(6, 3);
    let run = round(&params, 1, |phase, from, mut b| {
        if phase == 1 && from == 2 {
            b.truncate(b.len() - 1);
        }
        Act::Send(b)
    });
    assert_client_error(
        &run,
        2,
        ClientFault::Malformed(DecodeError::Truncated),
        Outcome::Excluded,
    );
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 3, 4, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&[1, 3, 4, 5, 6]));
    assert!(
        agg.misbehaved
            .contains(&(2, ClientFault::Malformed(DecodeError::Truncated)))
    );
}

#[test]
fn garbage_masked_input_excludes_its_sender_and_its_masks_are_removed() {
    let params = complete(6, 3);
    let run = round(&params, 2, |phase, from, b| {
        if phase == 2 && from == 4 {
            let mut m = b;
            m.push(0);
            return Act::Send(m);
        }
        Act::Send(b)
    });
    assert_client_error(
        &run,
        4,
        ClientFault::Malformed(DecodeError::TrailingBytes),
        Outcome::Excluded,
    );
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 3, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&[1, 2, 3, 5, 6]));
}

#[test]
fn wrong_session_excludes_its_sender() {
    let params = complete(6, 3);
    let run = round(&params, 3, |phase, from, mut b| {
        if phase == 1 && from == 3 {
            b[2] ^= 0xff; // first byte of the session id
        }
        Act::Send(b)
    });
    assert_client_error(&run, 3, ClientFault::WrongSession, Outcome::Excluded);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 4, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
}

#[test]
fn duplicate_sender_before_masking_is_excluded() {
    let params = complete(6, 3);
    let run = round(&params, 4, |phase, from, b| {
        if phase == 0 && from == 4 {
            // A second, different message (a byte-identical resend is a
            // no-op: `identical_resends_change_nothing`).
            let mut other = b.clone();
            let last = other.len() - 1;
            other[last] ^= 1;
            return Act::Twice(b, other);
        }
        Act::Send(b)
    });
    assert_client_error(&run, 4, ClientFault::Duplicate, Outcome::Excluded);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 3, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    assert!(agg.misbehaved.contains(&(4, ClientFault::Duplicate)));
}

#[test]
fn duplicate_masked_input_is_counted_once_and_named() {
    let params = complete(6, 3);
    let run = round(&params, 5, |phase, from, b| {
        if phase == 2 && from == 5 {
            // A second, different message (a byte-identical resend is a
            // no-op: `identical_resends_change_nothing`).
            let mut other = b.clone();
            let last = other.len() - 1;
            other[last] ^= 1;
            return Act::Twice(b, other);
        }
        Act::Send(b)
    });
    assert_client_error(&run, 5, ClientFault::Duplicate, Outcome::Named);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    assert!(agg.misbehaved.contains(&(5, ClientFault::Duplicate)));
}

/// spec/protocol.md section 5.1: a byte-identical resend is a no-op in
/// every phase; the round, its sum and its `misbehaved` list are those of
/// the undisturbed round.
#[test]
fn identical_resends_change_nothing() {
    let params = complete(6, 3);
    let plain = round(&params, 8, |_, _, b| Act::Send(b));
    let resent = round(&params, 8, |_, _, b| Act::Twice(b.clone(), b));
    assert!(resent.rejected.is_empty(), "{:?}", resent.rejected);
    let (a, b) = (plain.result.unwrap(), resent.result.unwrap());
    assert_eq!(a, b);
    assert!(b.misbehaved.is_empty());
}

#[test]
fn unknown_index_and_out_of_phase_senders_are_rejected_without_effect() {
    let params = complete(5, 3);
    let mut extra: Vec<Error> = Vec::new();
    let mut r = rng(6);
    let mut server = Server::new(&params, ROUND, &mut r).unwrap();
    for from in [0u32, 6, u32::MAX] {
        extra.push(server.receive(from, &[1, 1]).unwrap_err());
    }
    assert!(extra.iter().zip([0u32, 6, u32::MAX]).all(|(e, i)| *e
        == Error::Client {
            index: i,
            fault: ClientFault::UnknownSender,
            outcome: Outcome::Ignored,
        }));
    // A client that sends a MaskedInput in R0 is malformed (wrong type).
    let (_, msg) = AwaitingKeys::new(&params, ROUND, 1, &mut r).unwrap();
    let mut wrong = msg.clone();
    wrong[1] = 0x03;
    assert_eq!(
        server.receive(1, &wrong),
        Err(Error::Client {
            index: 1,
            fault: ClientFault::Malformed(DecodeError::UnexpectedType(3)),
            outcome: Outcome::Excluded,
        })
    );
    // Excluded for the rest of the round.
    assert_eq!(
        server.receive(1, &msg),
        Err(Error::Client {
            index: 1,
            fault: ClientFault::NotInPhase,
            outcome: Outcome::Ignored,
        })
    );
}

#[test]
fn undecryptable_ciphertext_names_its_sender_and_the_sum_stays_exact() {
    let params = complete(6, 3);
    let run = round(&params, 7, |phase, from, b| {
        if phase == 1 && from == 2 {
            let mut msg =
                ShareKeys::decode(&Params::new(6, 3, 32, 16, Graph::Complete).unwrap(), &b)
                    .unwrap();
            // Corrupt the ciphertext addressed to client 3.
            let ct = msg.ciphertexts.iter_mut().find(|(v, _)| *v == 3).unwrap();
            ct.1[5] ^= 1;
            return Act::Send(msg.to_bytes());
        }
        Act::Send(b)
    });
    assert!(run.rejected.is_empty());
    let agg = run.result.as_ref().unwrap();
    assert_eq!(
        agg.misbehaved,
        vec![(2, ClientFault::Undecryptable { reported_by: 3 })]
    );
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
}

#[test]
fn complaint_about_a_non_neighbour_excludes_the_complainer() {
    let params = complete(5, 3);
    let run = round(&params, 8, |phase, from, b| {
        if phase == 2 && from == 1 {
            let p = Params::new(5, 3, 32, 16, Graph::Complete).unwrap();
            let mut m = MaskedInput::decode(&p, &b).unwrap();
            m.complaints = vec![1]; // itself: not a neighbour
            return Act::Send(m.to_bytes());
        }
        Act::Send(b)
    });
    assert_client_error(&run, 1, ClientFault::WrongRecipients, Outcome::Excluded);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![2, 3, 4, 5]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
}

/// An unmask answer with 1 added to every share in it.
fn shift_every_share(params: &Params, bytes: &[u8]) -> Vec<u8> {
    let mut m = UnmaskResponse::decode(params, bytes).unwrap();
    for s in &mut m.shares {
        s.share += curve25519_dalek::Scalar::ONE;
    }
    m.to_bytes()
}

#[test]
fn wrong_shares_are_detected_attributed_and_corrected() {
    // n = 8, t = 3: each secret has up to 8 holders, so two bad holders are
    // corrected ((8 - 3) / 2 = 2).
    let params = complete(8, 3);
    let p2 = params.clone();
    let run = round(&params, 9, |phase, from, b| {
        if phase == 2 && from == 6 {
            return Act::Drop; // so both kinds of secret are reconstructed
        }
        if phase == 3 && (from == 2 || from == 7) {
            return Act::Send(shift_every_share(&p2, &b));
        }
        Act::Send(b)
    });
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5, 7, 8]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    let named: Vec<_> = agg.misbehaved.iter().map(|(i, _)| *i).collect();
    assert_eq!(named, vec![2, 7]);
    assert!(
        agg.misbehaved
            .iter()
            .all(|(_, f)| matches!(f, ClientFault::BadShare { .. }))
    );
}

/// Adds `by(holder)` to the share of `owner`'s secret in an unmask answer
/// from `holder`.
fn shift_share_of(
    params: &Params,
    bytes: &[u8],
    owner: ClientIndex,
    by: curve25519_dalek::Scalar,
) -> Vec<u8> {
    let mut m = UnmaskResponse::decode(params, bytes).unwrap();
    let e = m.shares.iter_mut().find(|e| e.owner == owner).unwrap();
    e.share += by;
    m.to_bytes()
}

/// A wrong share at each position among the first t of a secret moves the
/// reconstruction off the dealer's C_0 (every Lagrange coefficient is
/// non-zero), so the secret's shares are all checked and the liar is named
/// (spec/crypto.md section 6). Both kinds: survivor 5's seed (holders
/// 1..=7, first t = 1, 2, 3) and dropped client 8's mask key (the same
/// first t). The same from a server exported and imported before its last
/// close, which decodes the constant-term commitments it had kept from R1.
#[test]
fn wrong_share_among_the_first_t_is_named_and_the_sum_is_exact() {
    let params = complete(8, 3);
    for (owner, reimport) in [(5, false), (8, false), (5, true), (8, true)] {
        for liar in 1..=3 {
            let p2 = params.clone();
            let run = round_with(&params, 40 + u64::from(liar), reimport, |phase, from, b| {
                if phase == 2 && from == 8 {
                    return Act::Drop;
                }
                if phase == 3 && from == liar {
                    let by = curve25519_dalek::Scalar::from(7u64);
                    return Act::Send(shift_share_of(&p2, &b, owner, by));
                }
                Act::Send(b)
            });
            let agg = run.result.as_ref().unwrap();
            assert_eq!(agg.survivors, (1..=7).collect::<Vec<_>>());
            assert_eq!(agg.sum, run.expected_sum(&agg.survivors), "{owner} {liar}");
            assert_eq!(
                agg.misbehaved,
                vec![(liar, ClientFault::BadShare { owner })],
                "owner {owner}, liar {liar}, reimported {reimport}"
            );
        }
    }
}

/// A wrong share outside the first t of a secret whose reconstruction
/// matched C_0 is neither used nor checked: nobody is named and the sum is
/// exact (spec/protocol.md section 5.3).
#[test]
fn wrong_share_outside_the_first_t_is_not_used() {
    let params = complete(8, 3);
    for owner in [5, 8] {
        for liar in 4..=7 {
            let p2 = params.clone();
            let run = round(&params, 50 + u64::from(liar), |phase, from, b| {
                if phase == 2 && from == 8 {
                    return Act::Drop;
                }
                if phase == 3 && from == liar {
                    let by = curve25519_dalek::Scalar::ONE;
                    return Act::Send(shift_share_of(&p2, &b, owner, by));
                }
                Act::Send(b)
            });
            let agg = run.result.as_ref().unwrap();
            assert_eq!(agg.survivors, (1..=7).collect::<Vec<_>>());
            assert_eq!(agg.sum, run.expected_sum(&agg.survivors), "{owner} {liar}");
            assert_eq!(agg.misbehaved, vec![], "owner {owner}, liar {liar}");
        }
    }
}

/// Holders colluding on another polynomial: each liar x adds `g(x)` with
/// `g(X) = d + e X` (degree < t), so the first t shares are consistent with
/// the secret plus `d`. The reconstruction fails the dealer's C_0, the
/// shares are checked one by one against the full commitments, every liar
/// is named and the sum is exact; with fewer than t honest holders left the
/// round aborts, typed. When `g(0) = 0` the lies cancel at 0: the secret is
/// the committed one, the sum is exact, and the liars are not named.
#[test]
fn colluding_holders_cannot_move_a_secret_off_its_commitment() {
    use curve25519_dalek::Scalar;
    let params = complete(8, 3);
    let g = |d: u64, x: ClientIndex| Scalar::from(d) + Scalar::from(11u64) * Scalar::from(x);
    let collude = |liars: Vec<ClientIndex>, d: u64, seed: u64| {
        let p2 = params.clone();
        round(&params, seed, move |phase, from, b| {
            if phase == 2 && from == 8 {
                return Act::Drop;
            }
            if phase == 3 && liars.contains(&from) {
                let with_seed = shift_share_of(&p2, &b, 5, g(d, from));
                return Act::Send(shift_share_of(&p2, &with_seed, 8, g(d, from)));
            }
            Act::Send(b)
        })
    };
    // Liars 1, 2, 3 are the first t of both secrets; 4 is beyond them.
    let run = collude(vec![1, 2, 3, 4], 5, 60);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    assert_eq!(
        agg.misbehaved,
        vec![
            (1, ClientFault::BadShare { owner: 5 }),
            (2, ClientFault::BadShare { owner: 5 }),
            (3, ClientFault::BadShare { owner: 5 }),
            (4, ClientFault::BadShare { owner: 5 }),
        ]
    );
    // Five liars among seven holders: two verified shares remain.
    let run = collude(vec![1, 2, 3, 4, 5], 5, 61);
    assert_eq!(
        run.result,
        Err(Error::NotEnoughSurvivors {
            phase: secagg::Phase::Unmask,
            survivors: 2,
            threshold: 3,
        })
    );
    // g(0) = 0: the first t shares still interpolate to the committed secret.
    let run = collude(vec![1, 2, 3], 0, 62);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    assert_eq!(agg.misbehaved, vec![]);
}

/// A round of six on the complete graph in which client 6 stops before
/// `phase` and client 1 sends its unmask answer as `edit` leaves it: client
/// 1 is excluded for a wrong answer, its input stays in and the sum of 1 to
/// 5 is exact.
fn unmask_answer_is_discarded_and_named(phase: usize, edit: impl Fn(&mut UnmaskResponse)) {
    let params = complete(6, 3);
    let p2 = params.clone();
    let run = round(&params, 10, |at, from, b| {
        if at == phase && from == 6 {
            return Act::Drop;
        }
        if at == 3 && from == 1 {
            let mut m = UnmaskResponse::decode(&p2, &b).unwrap();
            edit(&mut m);
            return Act::Send(m.to_bytes());
        }
        Act::Send(b)
    });
    assert_client_error(&run, 1, ClientFault::WrongAnswer, Outcome::Excluded);
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, vec![1, 2, 3, 4, 5]);
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
}

#[test]
fn unmask_share_of_a_client_nobody_asked_about_is_discarded_and_named() {
    // Client 6 leaves before dealing its shares: it is neither in U3 nor
    // among the dropped whose keys are rebuilt, so no share of its is
    // asked. Client 1 adds a key share for it, as if it had dropped after
    // dealing (the highest owner: the list stays ascending).
    unmask_answer_is_discarded_and_named(1, |m| {
        let mut extra = m.shares[0].clone();
        extra.owner = 6;
        extra.kind = secagg::protocol::messages::ShareKind::MaskKey;
        m.shares.push(extra);
    });
}

#[test]
fn unmask_answer_of_the_wrong_kind_is_discarded_and_named() {
    // Claims a self-seed share for the dropped client 6.
    unmask_answer_is_discarded_and_named(2, |m| {
        for s in &mut m.shares {
            s.kind = secagg::protocol::messages::ShareKind::SelfSeed;
        }
    });
}

#[test]
fn too_many_bad_shares_abort_with_a_typed_error() {
    let params = complete(5, 3);
    let p2 = params.clone();
    let run = round(&params, 11, |phase, from, b| {
        if phase == 3 && from <= 3 {
            let mut m = UnmaskResponse::decode(&p2, &b).unwrap();
            for s in &mut m.shares {
                s.share += curve25519_dalek::Scalar::ONE;
            }
            return Act::Send(m.to_bytes());
        }
        Act::Send(b)
    });
    assert!(matches!(
        run.result,
        Err(Error::NotEnoughSurvivors {
            phase: secagg::Phase::Unmask,
            ..
        })
    ));
}

/// One holder lying about every secret of a complete graph with many
/// holders: it sits among the first t shares of each, so every secret fails
/// its C_0 and has its shares checked. The round must still finish exactly,
/// naming only the liar (once, for the first secret it was caught on), with
/// every secret of U3 and of the dropped recovered.
#[test]
fn one_liar_in_every_secret_of_a_large_complete_graph() {
    let params = complete(60, 31);
    let p2 = params.clone();
    let run = round(&params, 11, |phase, from, b| {
        if phase == 2 && (from == 59 || from == 60) {
            return Act::Drop;
        }
        if phase == 3 && from == 2 {
            return Act::Send(shift_every_share(&p2, &b));
        }
        Act::Send(b)
    });
    let agg = run.result.as_ref().unwrap();
    assert_eq!(agg.survivors, (1..=58).collect::<Vec<_>>());
    assert_eq!(agg.sum, run.expected_sum(&agg.survivors));
    assert_eq!(agg.misbehaved.len(), 1);
    assert!(matches!(
        agg.misbehaved[0],
        (2, ClientFault::BadShare { .. })
    ));
}

/// `Server::pending` lists who the host still waits for in each phase, and
/// `Server::excluded` who is out.
#[test]
fn pending_and_excluded_follow_the_round() {
    let params = complete(4, 3);
    let mut r = rng(31);
    let mut server = Server::new(&params, ROUND, &mut r).unwrap();
    assert_eq!(server.pending(), vec![1, 2, 3, 4]);
    let mut clients = BTreeMap::new();
    for i in 1..=4 {
        let (c, msg) = AwaitingKeys::new(&params, ROUND, i, &mut r).unwrap();
        if i == 2 {
            server.receive(2, &msg[..5]).unwrap_err();
        } else {
            server.receive(i, &msg).unwrap();
        }
        clients.insert(i, c);
    }
    assert_eq!(server.pending(), Vec::<ClientIndex>::new());
    assert_eq!(server.excluded(), vec![2]);
    let Ok(Step::Deliver(d)) = server.close_phase() else {
        panic!()
    };
    assert_eq!(server.pending(), vec![1, 3, 4]);
    let d = d.into_vec();
    let (i, msg) = &d[0];
    let (_, out) = clients.get_mut(i).unwrap().receive(msg, &mut r).unwrap();
    server.receive(*i, &out).unwrap();
    assert_eq!(server.pending(), vec![3, 4]);
}

// ----- Which shares the server interpolates on a Harary graph. -----

/// The ring of spec/params.md section 3, computed from the spec alone:
/// `ring[p]` is the client in slot `p`.
fn spec_ring(seed: &[u8; 32], n: u32) -> Vec<ClientIndex> {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let mut info = b"secagg/v1/graph".to_vec();
    info.extend_from_slice(&n.to_le_bytes());
    let key = crate::common::hkdf(&ROUND, seed, &info);
    let mut stream = chacha20::ChaCha20::new(&key.into(), &[0u8; 12].into());
    let mut word = || {
        let mut w = [0u8; 8];
        stream.apply_keystream(&mut w);
        u64::from_le_bytes(w)
    };
    let mut at: Vec<ClientIndex> = (1..=n).collect();
    for i in (1..n as usize).rev() {
        let bound = i as u64 + 1;
        let limit = u64::MAX - (u64::MAX % bound + 1) % bound;
        let r = loop {
            let r = word();
            if r <= limit {
                break r;
            }
        };
        at.swap(i, (r % bound) as usize);
    }
    at
}

/// The interpolation set of every secret, by the rule of spec/crypto.md
/// section 6 restated: owners in ring order; a secret keeps the set of the
/// one before it when its shares come from each holder of that set, and
/// otherwise takes the `t` holders of its shares furthest ahead on the ring
/// from its owner, ascending by index. `holders[o]` are the holders of the
/// shares the server got of owner `o`'s secret.
fn spec_sets(
    ring: &[ClientIndex],
    half: usize,
    t: usize,
    holders: &BTreeMap<ClientIndex, Vec<ClientIndex>>,
) -> BTreeMap<ClientIndex, Vec<ClientIndex>> {
    let n = ring.len();
    let slot = |x: ClientIndex| ring.iter().position(|&y| y == x).unwrap();
    let mut sets = BTreeMap::new();
    let mut current: Option<Vec<ClientIndex>> = None;
    for &owner in ring {
        let Some(list) = holders.get(&owner) else {
            continue;
        };
        if list.len() < t {
            continue;
        }
        let kept = current
            .as_ref()
            .filter(|set| set.iter().all(|x| list.contains(x)))
            .cloned();
        let set = kept.unwrap_or_else(|| {
            // Steps ahead of the owner, from -half (0 here) to +half (2 half).
            let ahead = |x: ClientIndex| (slot(x) + n + half - slot(owner)) % n;
            let mut by_ahead = list.clone();
            by_ahead.sort_by_key(|&x| std::cmp::Reverse(ahead(x)));
            by_ahead.truncate(t);
            by_ahead.sort_unstable();
            by_ahead
        });
        sets.insert(owner, set.clone());
        current = Some(set);
    }
    sets
}

/// On a Harary graph the server interpolates each secret from the set
/// spec/crypto.md section 6 fixes, seen from the public API alone: in each
/// of `k + 1` rounds every holder lies about the share of the owner at a
/// fixed ring offset from it (so each holder lies once and every (owner,
/// holder) pair is tried once), and exactly the liars inside their owner's
/// interpolation set are named `BadShare`; a liar outside it is neither
/// used nor named. The sum is exact every time. One client drops after its
/// shares, so the secrets of its neighbours miss its share and change sets,
/// and its own mask key is rebuilt from the others'.
#[test]
fn harary_interpolation_sets_are_the_specs_and_only_their_liars_are_named() {
    let seed = [0x3c; 32];
    let (n, k, t) = (13u32, 6u32, 4u32);
    let half = (k / 2) as usize;
    let params = Params::new(n, t, 32, 8, Graph::Harary { degree: k, seed }).unwrap();
    let ring = spec_ring(&seed, n);
    let slot = |x: ClientIndex| ring.iter().position(|&y| y == x).unwrap();
    // The spec's ring is the graph the crate builds.
    for &u in &ring {
        let p = slot(u);
        let mut around: Vec<ClientIndex> = (1..=half)
            .flat_map(|d| {
                [
                    ring[(p + d) % ring.len()],
                    ring[(p + ring.len() - d) % ring.len()],
                ]
            })
            .collect();
        around.sort_unstable();
        let mut nb = params.neighbours(&ROUND, u);
        nb.sort_unstable();
        assert_eq!(nb, around, "neighbours of {u}");
    }
    let dropped = ring[5];
    // Every secret's holders that answer: the owner and its neighbours, the
    // dropped client excepted.
    let holders: BTreeMap<ClientIndex, Vec<ClientIndex>> = ring
        .iter()
        .map(|&o| {
            let mut h: Vec<ClientIndex> = params.neighbours(&ROUND, o);
            h.push(o);
            h.retain(|&x| x != dropped);
            h.sort_unstable();
            (o, h)
        })
        .collect();
    let sets = spec_sets(&ring, half, t as usize, &holders);
    assert_eq!(sets.len(), n as usize);
    // The rule shares sets along the ring and the dropout changes some: a
    // test of it, not of one set per secret.
    let distinct: std::collections::BTreeSet<&Vec<ClientIndex>> = sets.values().collect();
    assert!(
        distinct.len() < sets.len() && distinct.len() > 1,
        "{sets:?}"
    );
    let (mut named, mut unnamed) = (0, 0);
    for offset in 0..=2 * half {
        // The holder at `offset - half` ring steps from each owner lies
        // about that owner's share.
        let liar_of =
            |owner: ClientIndex| ring[(slot(owner) + ring.len() + offset - half) % ring.len()];
        let lies: BTreeMap<ClientIndex, ClientIndex> = ring
            .iter()
            .map(|&o| (liar_of(o), o))
            .filter(|&(liar, _)| liar != dropped)
            .collect();
        let p2 = params.clone();
        let lies2 = lies.clone();
        let run = round(&params, 90 + offset as u64, move |phase, from, b| {
            if phase == 2 && from == dropped {
                return Act::Drop;
            }
            if phase == 3
                && let Some(&owner) = lies2.get(&from)
            {
                let by = curve25519_dalek::Scalar::from(3u64);
                return Act::Send(shift_share_of(&p2, &b, owner, by));
            }
            Act::Send(b)
        });
        let agg = run.result.as_ref().unwrap();
        let survivors: Vec<ClientIndex> = (1..=n).filter(|&x| x != dropped).collect();
        assert_eq!(agg.survivors, survivors, "offset {offset}");
        assert_eq!(agg.sum, run.expected_sum(&survivors), "offset {offset}");
        let mut expected: Vec<(ClientIndex, ClientFault)> = lies
            .iter()
            .filter(|(liar, owner)| sets[owner].contains(liar))
            .map(|(&liar, &owner)| (liar, ClientFault::BadShare { owner }))
            .collect();
        expected.sort_unstable_by_key(|&(liar, _)| liar);
        let mut got = agg.misbehaved.clone();
        got.sort_unstable_by_key(|&(liar, _)| liar);
        assert_eq!(got, expected, "offset {offset}: sets {sets:?}");
        named += expected.len();
        unnamed += lies.len() - expected.len();
    }
    // Both kinds of liar were met, many times each.
    assert!(named >= 20 && unnamed >= 20, "{named} named, {unnamed} not");
}
