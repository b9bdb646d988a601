//! What happens to the sender of every refused message (spec/protocol.md
//! sections 4 and 5.4): for each `ClientFault`, the `Outcome` the server
//! returns, whether the sender's later messages are taken, whether it is in
//! `Aggregate::misbehaved` and whether its input is in the sum; for each
//! `ServerFault`, whether the client's state is still usable (the real
//! message that follows is answered and the round sums right) or spent
//! (`Misuse::RoundOver`). Each fault is provoked through the public API by
//! a hook on the wire of one hand-driven round.

use std::collections::BTreeMap;

use rand_core::Rng;
use secagg::protocol::messages::{
    AdvertiseKeys, ConsistencyRequest, ConsistencyResponse, Evidence, KeyBroadcast, MaskedInput,
    ShareDelivery, ShareKeys, ShareKind, UnmaskRequest, UnmaskResponse,
};
use secagg::{
    Aggregate, AwaitingKeys, AwaitingShares, AwaitingUnmask, ClientFault, ClientIndex, Decode,
    DecodeError, Encode, Error, Graph, Identity, Misuse, Outcome, Params, Roster, Server,
    ServerFault, ServerModel, Step,
};

use crate::common::{ROUND, rng};

/// Client messages, by the step of the round that sends them.
const ADVERTISE: usize = 0;
const SHARES: usize = 1;
const MASKED: usize = 2;
const CONSISTENCY: usize = 3;
const UNMASK: usize = 4;

/// Server messages, by the client state that takes them.
const KEYS: usize = 0;
const DELIVERY: usize = 1;
const SIGN: usize = 2;
const REQUEST: usize = 3;

/// Client-to-server hook: `(step, from, real bytes)` to the frames the
/// server receives, as `(claimed sender, bytes)`, in order.
type Up<'a> = &'a mut dyn FnMut(usize, ClientIndex, &[u8]) -> Vec<(ClientIndex, Vec<u8>)>;
/// Server-to-client hook: `(state, to, real bytes)` to the frames the client
/// receives, in order, until one is taken.
type Down<'a> = &'a mut dyn FnMut(usize, ClientIndex, &[u8]) -> Vec<Vec<u8>>;

/// What a round did.
struct Ran {
    result: Result<Aggregate, Error>,
    /// Every server receive: `(step, claimed sender, result)`.
    server: Vec<(usize, ClientIndex, Result<(), Error>)>,
    /// Every refusal by a client: `(state, client, error)`.
    client: Vec<(usize, ClientIndex, Error)>,
    params: Params,
}

impl Ran {
    /// The results of the server's receives from `from` in `step`.
    fn at(&self, step: usize, from: ClientIndex) -> Vec<Result<(), Error>> {
        self.server
            .iter()
            .filter(|(s, f, _)| *s == step && *f == from)
            .map(|(_, _, r)| *r)
            .collect()
    }

    /// The client's refusals in `state`.
    fn refused(&self, state: usize, to: ClientIndex) -> Vec<Error> {
        self.client
            .iter()
            .filter(|(s, c, _)| *s == state && *c == to)
            .map(|(_, _, e)| *e)
            .collect()
    }

    fn aggregate(&self) -> &Aggregate {
        self.result.as_ref().expect("the round finishes")
    }

    /// Asserts the round finished with survivors `over` and their sum.
    fn sums(&self, over: &[ClientIndex]) {
        let agg = self.aggregate();
        assert_eq!(agg.survivors, over, "survivors");
        assert_eq!(agg.sum, sum_of(&self.params, over), "sum over {over:?}");
    }

    fn misbehaved(&self) -> &[(ClientIndex, ClientFault)] {
        &self.aggregate().misbehaved
    }
}

/// Client `i`'s input: `i * 1000 + j` in lane `j`.
fn input(params: &Params, i: ClientIndex) -> Vec<u64> {
    (0..u64::from(params.dim()))
        .map(|j| u64::from(i) * 1000 + j)
        .collect()
}

fn sum_of(params: &Params, over: &[ClientIndex]) -> Vec<u64> {
    (0..u64::from(params.dim()))
        .map(|j| over.iter().map(|&i| u64::from(i) * 1000 + j).sum())
        .collect()
}

/// n = 5, t = 3 on the complete graph, in either model.
fn params(malicious: bool) -> Params {
    let p = Params::new(5, 3, 32, 4, Graph::Complete).unwrap();
    if malicious {
        p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap()
    } else {
        p
    }
}

fn client_error(index: ClientIndex, fault: ClientFault, outcome: Outcome) -> Result<(), Error> {
    Err(Error::Client {
        index,
        fault,
        outcome,
    })
}

/// Delivers `frames` to the server, logging each result.
fn upload(
    server: &mut Server,
    log: &mut Vec<(usize, ClientIndex, Result<(), Error>)>,
    step: usize,
    frames: Vec<(ClientIndex, Vec<u8>)>,
) {
    for (from, bytes) in frames {
        log.push((step, from, server.receive(from, &bytes)));
    }
}

/// Hands every frame to `take`, in order; logs the refusals and returns
/// the first output (later frames test what the state does after it).
fn download<T>(
    log: &mut Vec<(usize, ClientIndex, Error)>,
    state: usize,
    to: ClientIndex,
    frames: Vec<Vec<u8>>,
    mut take: impl FnMut(&[u8]) -> Result<T, Error>,
) -> Option<T> {
    let mut first = None;
    for f in frames {
        match take(&f) {
            Ok(t) => {
                first.get_or_insert(t);
            }
            Err(e) => log.push((state, to, e)),
        }
    }
    first
}

fn deliveries(step: Result<Step, Error>) -> Result<Vec<(ClientIndex, Vec<u8>)>, Error> {
    match step? {
        Step::Deliver(d) => Ok(d.into_vec()),
        _ => panic!("done before the last phase"),
    }
}

/// One round of `params` (seeded), every message through `up` or `down`.
fn drive(params: &Params, up: Up<'_>, down: Down<'_>) -> Ran {
    let mut r = rng(41);
    let n = params.clients();
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = if params.is_malicious() {
        Server::with_roster(params, ROUND, &roster, &mut r).unwrap()
    } else {
        Server::new(params, ROUND, &mut r).unwrap()
    };
    let mut ran = Ran {
        result: Err(Error::Misuse(Misuse::RoundOver)),
        server: Vec::new(),
        client: Vec::new(),
        params: params.clone(),
    };
    let mut s0: BTreeMap<ClientIndex, AwaitingKeys> = BTreeMap::new();
    for i in 1..=n {
        let (c, msg) = if params.is_malicious() {
            AwaitingKeys::with_identity(params, ROUND, i, &ids[i as usize - 1], &roster, &mut r)
        } else {
            AwaitingKeys::new(params, ROUND, i, &mut r)
        }
        .unwrap();
        upload(
            &mut server,
            &mut ran.server,
            ADVERTISE,
            up(ADVERTISE, i, &msg),
        );
        s0.insert(i, c);
    }
    macro_rules! close {
        () => {
            match deliveries(server.close_phase()) {
                Ok(d) => d,
                Err(e) => {
                    ran.result = Err(e);
                    return ran;
                }
            }
        };
    }
    let d = close!();
    let mut s1: BTreeMap<ClientIndex, AwaitingShares> = BTreeMap::new();
    for (i, msg) in d {
        let Some(mut c) = s0.remove(&i) else { continue };
        let frames = down(KEYS, i, &msg);
        if let Some((c, out)) = download(&mut ran.client, KEYS, i, frames, |b| c.receive(b, &mut r))
        {
            upload(&mut server, &mut ran.server, SHARES, up(SHARES, i, &out));
            s1.insert(i, c);
        }
    }
    let d = close!();
    let mut s2: BTreeMap<ClientIndex, AwaitingUnmask> = BTreeMap::new();
    for (i, msg) in d {
        let Some(mut c) = s1.remove(&i) else { continue };
        let x = input(params, i);
        let frames = down(DELIVERY, i, &msg);
        if let Some((c, out)) = download(&mut ran.client, DELIVERY, i, frames, |b| c.receive(b, &x))
        {
            upload(&mut server, &mut ran.server, MASKED, up(MASKED, i, &out));
            s2.insert(i, c);
        }
    }
    let mut d = close!();
    if params.is_malicious() {
        let mut signed = BTreeMap::new();
        for (i, msg) in d {
            let Some(mut c) = s2.remove(&i) else { continue };
            let frames = down(SIGN, i, &msg);
            if let Some(out) = download(&mut ran.client, SIGN, i, frames, |b| c.consistency(b)) {
                upload(
                    &mut server,
                    &mut ran.server,
                    CONSISTENCY,
                    up(CONSISTENCY, i, &out),
                );
                signed.insert(i, c);
            }
        }
        s2 = signed;
        d = close!();
    }
    for (i, msg) in d {
        let Some(mut c) = s2.remove(&i) else { continue };
        let frames = down(REQUEST, i, &msg);
        if let Some(out) = download(&mut ran.client, REQUEST, i, frames, |b| c.receive(b)) {
            upload(&mut server, &mut ran.server, UNMASK, up(UNMASK, i, &out));
        }
    }
    ran.result = match server.close_phase() {
        Ok(Step::Done(agg)) => Ok(agg),
        Ok(_) => panic!("deliveries after the last phase"),
        Err(e) => Err(e),
    };
    ran
}

/// A round whose client messages go through `up`; server messages arrive
/// unchanged.
fn upstream(
    params: &Params,
    mut up: impl FnMut(usize, ClientIndex, &[u8]) -> Vec<(ClientIndex, Vec<u8>)>,
) -> Ran {
    drive(params, &mut up, &mut |_, _, b| vec![b.to_vec()])
}

/// A round whose server messages go through `down`.
fn downstream(
    params: &Params,
    mut down: impl FnMut(usize, ClientIndex, &[u8]) -> Vec<Vec<u8>>,
) -> Ran {
    drive(params, &mut |_, i, b| vec![(i, b.to_vec())], &mut down)
}

/// `(from, bytes)` unchanged.
fn same(from: ClientIndex, bytes: &[u8]) -> Vec<(ClientIndex, Vec<u8>)> {
    vec![(from, bytes.to_vec())]
}

fn both_models(test: impl Fn(&Params)) {
    for malicious in [false, true] {
        test(&params(malicious));
    }
}

const ALL: [ClientIndex; 5] = [1, 2, 3, 4, 5];

// ---------------------------------------------------------------------------
// Client faults.

#[test]
fn malformed_excludes_the_sender_in_every_phase() {
    both_models(|p| {
        let steps: &[usize] = if p.is_malicious() {
            &[ADVERTISE, SHARES, MASKED, CONSISTENCY, UNMASK]
        } else {
            &[ADVERTISE, SHARES, MASKED, UNMASK]
        };
        for &step in steps {
            // Client 2 sends its message cut short, then the real one.
            let ran = upstream(p, |s, i, b| {
                if s == step && i == 2 {
                    vec![(2, b[..b.len() - 1].to_vec()), (2, b.to_vec())]
                } else {
                    same(i, b)
                }
            });
            assert_eq!(
                ran.at(step, 2),
                [
                    client_error(
                        2,
                        ClientFault::Malformed(DecodeError::Truncated),
                        Outcome::Excluded
                    ),
                    client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
                ],
                "step {step}"
            );
            assert_eq!(
                ran.misbehaved(),
                [(2, ClientFault::Malformed(DecodeError::Truncated))]
            );
            // Nothing more is taken from client 2 after its exclusion.
            for later in step + 1..=UNMASK {
                assert!(ran.at(later, 2).is_empty(), "step {step}, later {later}");
            }
            if step <= MASKED {
                ran.sums(&[1, 3, 4, 5]);
            } else {
                // Its masked input was in the sum already and stays there.
                ran.sums(&ALL);
            }
        }
    });
}

/// Flips a byte of the session (or, in R0, the round id) of client 2's
/// message of `step`.
fn wrong_session(p: &Params, step: usize, b: &[u8]) -> Vec<u8> {
    match step {
        ADVERTISE => {
            let mut m = AdvertiseKeys::decode(p, b).unwrap();
            m.round[0] ^= 1;
            m.to_bytes()
        }
        SHARES => {
            let mut m = ShareKeys::decode(p, b).unwrap();
            m.session[0] ^= 1;
            m.to_bytes()
        }
        MASKED => {
            let mut m = MaskedInput::decode(p, b).unwrap();
            m.session[0] ^= 1;
            m.to_bytes()
        }
        CONSISTENCY => {
            let mut m = ConsistencyResponse::decode(p, b).unwrap();
            m.session[0] ^= 1;
            m.to_bytes()
        }
        _ => {
            let mut m = UnmaskResponse::decode(p, b).unwrap();
            m.session[0] ^= 1;
            m.to_bytes()
        }
    }
}

#[test]
fn wrong_session_excludes_the_sender_in_every_phase() {
    both_models(|p| {
        let steps: &[usize] = if p.is_malicious() {
            &[ADVERTISE, SHARES, MASKED, CONSISTENCY, UNMASK]
        } else {
            &[ADVERTISE, SHARES, MASKED, UNMASK]
        };
        for &step in steps {
            let ran = upstream(p, |s, i, b| {
                if s == step && i == 2 {
                    vec![(2, wrong_session(p, s, b)), (2, b.to_vec())]
                } else {
                    same(i, b)
                }
            });
            assert_eq!(
                ran.at(step, 2),
                [
                    client_error(2, ClientFault::WrongSession, Outcome::Excluded),
                    client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
                ],
                "step {step}"
            );
            assert_eq!(ran.misbehaved(), [(2, ClientFault::WrongSession)]);
            if step <= MASKED {
                ran.sums(&[1, 3, 4, 5]);
            } else {
                ran.sums(&ALL);
            }
        }
    });
}

/// Flips a bit of the signature on client 2's message of `step`
/// (malicious model).
fn bad_signature(p: &Params, step: usize, b: &[u8]) -> Vec<u8> {
    let flip = |s: &mut [u8; 64]| s[0] ^= 1;
    match step {
        ADVERTISE => {
            let mut m = AdvertiseKeys::decode(p, b).unwrap();
            flip(m.signature.as_mut().unwrap());
            m.to_bytes()
        }
        SHARES => {
            let mut m = ShareKeys::decode(p, b).unwrap();
            flip(m.signature.as_mut().unwrap());
            m.to_bytes()
        }
        MASKED => {
            let mut m = MaskedInput::decode(p, b).unwrap();
            flip(m.signature.as_mut().unwrap());
            m.to_bytes()
        }
        _ => {
            let mut m = ConsistencyResponse::decode(p, b).unwrap();
            flip(&mut m.signature);
            m.to_bytes()
        }
    }
}

#[test]
fn bad_signature_excludes_the_sender_in_every_signed_phase() {
    // Malicious model only: the semi-honest model has no signatures.
    let p = params(true);
    for step in [ADVERTISE, SHARES, MASKED, CONSISTENCY] {
        let ran = upstream(&p, |s, i, b| {
            if s == step && i == 2 {
                vec![(2, bad_signature(&p, s, b)), (2, b.to_vec())]
            } else {
                same(i, b)
            }
        });
        assert_eq!(
            ran.at(step, 2),
            [
                client_error(2, ClientFault::BadSignature, Outcome::Excluded),
                client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
            ],
            "step {step}"
        );
        assert_eq!(ran.misbehaved(), [(2, ClientFault::BadSignature)]);
        assert!(ran.at(UNMASK, 2).is_empty(), "an excluded client answered");
        if step == CONSISTENCY {
            // Not a signer, so never asked to unmask; its input stays.
            ran.sums(&ALL);
        } else {
            ran.sums(&[1, 3, 4, 5]);
        }
    }
}

#[test]
fn duplicate_excludes_before_r2_and_names_from_r2_on() {
    both_models(|p| {
        let steps: &[usize] = if p.is_malicious() {
            &[ADVERTISE, SHARES, MASKED, CONSISTENCY, UNMASK]
        } else {
            &[ADVERTISE, SHARES, MASKED, UNMASK]
        };
        for &step in steps {
            // The real message, its byte-identical resend (a no-op), then a
            // different one.
            let ran = upstream(p, |s, i, b| {
                if s == step && i == 2 {
                    vec![(2, b.to_vec()), (2, b.to_vec()), (2, vec![2, 0])]
                } else {
                    same(i, b)
                }
            });
            let outcome = if step <= SHARES {
                Outcome::Excluded
            } else {
                Outcome::Named
            };
            assert_eq!(
                ran.at(step, 2),
                [
                    Ok(()),
                    Ok(()),
                    client_error(2, ClientFault::Duplicate, outcome)
                ],
                "step {step}"
            );
            assert_eq!(ran.misbehaved(), [(2, ClientFault::Duplicate)]);
            if step <= SHARES {
                // The first message is withdrawn with the sender.
                assert!(ran.at(step + 1, 2).is_empty());
                ran.sums(&[1, 3, 4, 5]);
            } else {
                // Named: it stays in the round and its later messages count.
                for later in step + 1..=UNMASK {
                    if later != CONSISTENCY || p.is_malicious() {
                        assert_eq!(ran.at(later, 2), [Ok(())], "step {step}, later {later}");
                    }
                }
                ran.sums(&ALL);
            }
        }
    });
}

#[test]
fn unknown_sender_is_ignored() {
    both_models(|p| {
        let ran = upstream(p, |_, i, b| {
            let mut frames = same(i, b);
            if i == 1 {
                frames.insert(0, (6, b.to_vec()));
                frames.push((0, vec![2]));
            }
            frames
        });
        for step in [ADVERTISE, SHARES, MASKED, UNMASK] {
            assert_eq!(
                ran.at(step, 6),
                [client_error(
                    6,
                    ClientFault::UnknownSender,
                    Outcome::Ignored
                )]
            );
            assert_eq!(
                ran.at(step, 0),
                [client_error(
                    0,
                    ClientFault::UnknownSender,
                    Outcome::Ignored
                )]
            );
        }
        assert!(ran.misbehaved().is_empty());
        ran.sums(&ALL);
    });
}

#[test]
fn not_in_phase_is_ignored() {
    both_models(|p| {
        // Client 5's keys arrive late, in R1; then it speaks in every later
        // phase (with client 1's messages), never having been in U1.
        let mut late: Option<Vec<u8>> = None;
        let ran = upstream(p, |s, i, b| {
            if s == ADVERTISE && i == 5 {
                late = Some(b.to_vec());
                return Vec::new();
            }
            let mut frames = same(i, b);
            if s == SHARES && i == 1 {
                frames.push((5, late.take().unwrap()));
            } else if s > SHARES && i == 1 {
                frames.push((5, b.to_vec()));
            }
            frames
        });
        let ignored = client_error(5, ClientFault::NotInPhase, Outcome::Ignored);
        for step in [SHARES, MASKED, UNMASK] {
            assert_eq!(ran.at(step, 5), [ignored], "step {step}");
        }
        assert!(ran.misbehaved().is_empty(), "a late message is not a fault");
        ran.sums(&[1, 2, 3, 4]);
    });
}

/// The identity point: a canonical X25519 encoding of small order.
const WEAK: [u8; 32] = [0; 32];

#[test]
fn weak_key_excludes_the_sender() {
    both_models(|p| {
        let ran = upstream(p, |s, i, b| {
            if s == ADVERTISE && i == 2 {
                let mut m = AdvertiseKeys::decode(p, b).unwrap();
                m.c_pk = WEAK;
                vec![(2, m.to_bytes()), (2, b.to_vec())]
            } else {
                same(i, b)
            }
        });
        assert_eq!(
            ran.at(ADVERTISE, 2),
            [
                client_error(2, ClientFault::WeakKey, Outcome::Excluded),
                client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
            ]
        );
        assert_eq!(ran.misbehaved(), [(2, ClientFault::WeakKey)]);
        ran.sums(&[1, 3, 4, 5]);
    });
}

#[test]
fn duplicate_key_excludes_both_advertisers() {
    // Semi-honest model: in the malicious model the copied key breaks the
    // copier's signature first (BadSignature, tested above).
    let p = params(false);
    let mut first: Option<AdvertiseKeys> = None;
    let ran = upstream(&p, |s, i, b| {
        if s == ADVERTISE && i == 1 {
            first = Some(AdvertiseKeys::decode(&p, b).unwrap());
        }
        if s == ADVERTISE && i == 3 {
            // Client 3 copies client 1's mask key.
            let mut m = AdvertiseKeys::decode(&p, b).unwrap();
            m.s_pk = first.as_ref().unwrap().s_pk;
            return vec![(3, m.to_bytes()), (3, b.to_vec())];
        }
        same(i, b)
    });
    assert_eq!(
        ran.at(ADVERTISE, 3),
        [
            client_error(3, ClientFault::DuplicateKey, Outcome::Excluded),
            client_error(3, ClientFault::NotInPhase, Outcome::Ignored),
        ]
    );
    // Client 1 got no error of its own but is excluded as well.
    assert_eq!(ran.at(ADVERTISE, 1), [Ok(())]);
    assert!(
        ran.at(SHARES, 1).is_empty(),
        "client 1 was not sent its keys"
    );
    assert_eq!(
        ran.misbehaved(),
        [
            (1, ClientFault::DuplicateKey),
            (3, ClientFault::DuplicateKey)
        ]
    );
    ran.sums(&[2, 4, 5]);
}

#[test]
fn wrong_recipients_excludes_the_sender() {
    both_models(|p| {
        // R1: ciphertexts for one neighbour too few.
        let ran = upstream(p, |s, i, b| {
            if s == SHARES && i == 2 {
                let mut m = ShareKeys::decode(p, b).unwrap();
                m.ciphertexts.pop();
                vec![(2, m.to_bytes()), (2, b.to_vec())]
            } else {
                same(i, b)
            }
        });
        assert_eq!(
            ran.at(SHARES, 2),
            [
                client_error(2, ClientFault::WrongRecipients, Outcome::Excluded),
                client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
            ]
        );
        assert_eq!(ran.misbehaved(), [(2, ClientFault::WrongRecipients)]);
        ran.sums(&[1, 3, 4, 5]);
    });
    // R2: a complaint naming a client outside U2 (semi-honest: the
    // malicious model's masking-set signature does not cover complaints,
    // so the check is the same).
    let p = params(false);
    let ran = upstream(&p, |s, i, b| {
        if s == SHARES && i == 5 {
            return Vec::new();
        }
        if s == MASKED && i == 2 {
            let mut m = MaskedInput::decode(&p, b).unwrap();
            m.complaints = vec![5];
            return vec![(2, m.to_bytes()), (2, b.to_vec())];
        }
        same(i, b)
    });
    assert_eq!(
        ran.at(MASKED, 2),
        [
            client_error(2, ClientFault::WrongRecipients, Outcome::Excluded),
            client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
        ]
    );
    assert_eq!(ran.misbehaved(), [(2, ClientFault::WrongRecipients)]);
    ran.sums(&[1, 3, 4]);
}

/// Corrupts client 2's ciphertexts to the clients in `to`.
fn garble_shares_of_2(
    p: &Params,
    to: &'static [ClientIndex],
) -> impl FnMut(usize, ClientIndex, &[u8]) -> Vec<(ClientIndex, Vec<u8>)> {
    let p = p.clone();
    move |s, i, b| {
        if s == SHARES && i == 2 {
            let mut m = ShareKeys::decode(&p, b).unwrap();
            for (v, c) in &mut m.ciphertexts {
                if to.contains(v) {
                    c[0] ^= 1;
                }
            }
            return vec![(2, m.to_bytes())];
        }
        same(i, b)
    }
}

#[test]
fn undecryptable_names_the_dealer_or_aborts() {
    both_models(|p| {
        // One holder complains: client 2 is named and stays in, its input in
        // the sum, and it still answers the unmask request.
        let ran = upstream(p, garble_shares_of_2(p, &[1]));
        assert_eq!(ran.at(MASKED, 2), [Ok(())]);
        assert_eq!(ran.at(UNMASK, 2), [Ok(())]);
        assert_eq!(
            ran.misbehaved(),
            [(2, ClientFault::Undecryptable { reported_by: 1 })]
        );
        ran.sums(&ALL);
        // Three complain: two holders are left for client 2, fewer than t.
        let ran = upstream(p, garble_shares_of_2(p, &[1, 3, 4]));
        assert_eq!(
            ran.result.unwrap_err(),
            Error::Client {
                index: 2,
                fault: ClientFault::Undecryptable { reported_by: 1 },
                outcome: Outcome::Aborted,
            }
        );
    });
}

#[test]
fn wrong_answer_excludes_the_holder_and_keeps_its_input() {
    both_models(|p| {
        let ran = upstream(p, |s, i, b| {
            if s == UNMASK && i == 2 {
                // Asks a dropped client's kind for a survivor.
                let mut m = UnmaskResponse::decode(p, b).unwrap();
                m.shares[0].kind = ShareKind::MaskKey;
                vec![(2, m.to_bytes()), (2, b.to_vec())]
            } else {
                same(i, b)
            }
        });
        assert_eq!(
            ran.at(UNMASK, 2),
            [
                client_error(2, ClientFault::WrongAnswer, Outcome::Excluded),
                client_error(2, ClientFault::NotInPhase, Outcome::Ignored),
            ]
        );
        assert_eq!(ran.misbehaved(), [(2, ClientFault::WrongAnswer)]);
        ran.sums(&ALL);
    });
}

#[test]
fn bad_share_names_the_holder_and_keeps_its_input() {
    both_models(|p| {
        let ran = upstream(p, |s, i, b| {
            if s == UNMASK && i == 3 {
                let mut m = UnmaskResponse::decode(p, b).unwrap();
                let e = m.shares.iter_mut().find(|e| e.owner == 1).unwrap();
                e.share += curve25519_dalek::Scalar::ONE;
                return vec![(3, m.to_bytes())];
            }
            same(i, b)
        });
        // Accepted when it arrives: the check runs at the close.
        assert_eq!(ran.at(UNMASK, 3), [Ok(())]);
        assert_eq!(ran.misbehaved(), [(3, ClientFault::BadShare { owner: 1 })]);
        ran.sums(&ALL);
    });
}

#[test]
fn secret_mismatch_aborts_the_round() {
    // Semi-honest model (a malicious-model server checks the signature on
    // the keys): the server is told another mask key for client 2 than the
    // one client 2 deals shares of, client 2 is shown its real key, and
    // drops after R1, so its mask key must be reconstructed.
    let p = params(false);
    let (_, other) = AwaitingKeys::new(&p, ROUND, 2, &mut rng(99)).unwrap();
    let other = AdvertiseKeys::decode(&p, &other).unwrap().s_pk;
    let real = std::cell::Cell::new([0u8; 32]);
    let ran = drive(
        &p,
        &mut |s, i, b| {
            if s == ADVERTISE && i == 2 {
                let mut m = AdvertiseKeys::decode(&p, b).unwrap();
                real.set(m.s_pk);
                m.s_pk = other;
                return vec![(2, m.to_bytes())];
            }
            if s == MASKED && i == 2 {
                return Vec::new();
            }
            same(i, b)
        },
        &mut |s, i, b| {
            if s == KEYS && i == 2 {
                let mut m = KeyBroadcast::decode(&p, b).unwrap();
                m.keys.iter_mut().find(|k| k.index == 2).unwrap().s_pk = real.get();
                return vec![m.to_bytes()];
            }
            vec![b.to_vec()]
        },
    );
    assert_eq!(
        ran.result.unwrap_err(),
        Error::Client {
            index: 2,
            fault: ClientFault::SecretMismatch,
            outcome: Outcome::Aborted,
        }
    );
}

// ---------------------------------------------------------------------------
// Server faults: usable or spent.

/// Client 1 first receives `bad(real)` in `state`, then the real message.
/// Returns the round and client 1's refusals there.
fn first_bad(p: &Params, state: usize, bad: impl Fn(&[u8]) -> Vec<u8>) -> (Ran, Vec<Error>) {
    let ran = downstream(p, |s, i, b| {
        if s == state && i == 1 {
            vec![bad(b), b.to_vec()]
        } else {
            vec![b.to_vec()]
        }
    });
    let refused = ran.refused(state, 1);
    (ran, refused)
}

/// Client 1 refused `fault` and the real message that followed was taken:
/// the round completes with every input.
fn usable(p: &Params, state: usize, fault: ServerFault, bad: impl Fn(&[u8]) -> Vec<u8>) {
    let (ran, refused) = first_bad(p, state, bad);
    assert_eq!(refused, [Error::Server(fault)], "state {state}");
    ran.sums(&ALL);
}

/// Client 1 refused `fault` and then the real message with `RoundOver`:
/// it dropped out at that point.
fn spent(p: &Params, state: usize, fault: ServerFault, bad: impl Fn(&[u8]) -> Vec<u8>) {
    let (ran, refused) = first_bad(p, state, bad);
    assert_eq!(
        refused,
        [Error::Server(fault), Error::Misuse(Misuse::RoundOver)],
        "state {state}"
    );
    if state <= DELIVERY {
        // Dropped before its masked input.
        ran.sums(&[2, 3, 4, 5]);
    } else {
        // Its input is in; the other holders unmask it.
        ran.sums(&ALL);
    }
}

fn edit_broadcast(p: &Params, f: impl Fn(&mut KeyBroadcast)) -> impl Fn(&[u8]) -> Vec<u8> {
    let p = p.clone();
    move |b| {
        let mut m = KeyBroadcast::decode(&p, b).unwrap();
        f(&mut m);
        m.to_bytes()
    }
}

fn edit_delivery(p: &Params, f: impl Fn(&mut ShareDelivery)) -> impl Fn(&[u8]) -> Vec<u8> {
    let p = p.clone();
    move |b| {
        let mut m = ShareDelivery::decode(&p, b).unwrap();
        f(&mut m);
        m.to_bytes()
    }
}

fn edit_consistency(p: &Params, f: impl Fn(&mut ConsistencyRequest)) -> impl Fn(&[u8]) -> Vec<u8> {
    let p = p.clone();
    move |b| {
        let mut m = ConsistencyRequest::decode(&p, b).unwrap();
        f(&mut m);
        m.to_bytes()
    }
}

fn edit_request(p: &Params, f: impl Fn(&mut UnmaskRequest)) -> impl Fn(&[u8]) -> Vec<u8> {
    let p = p.clone();
    move |b| {
        let mut m = UnmaskRequest::decode(&p, b).unwrap();
        f(&mut m);
        m.to_bytes()
    }
}

/// The states client 1 goes through in `p`'s model.
fn states(p: &Params) -> &'static [usize] {
    if p.is_malicious() {
        &[KEYS, DELIVERY, SIGN, REQUEST]
    } else {
        &[KEYS, DELIVERY, REQUEST]
    }
}

#[test]
fn server_malformed_leaves_the_state_usable() {
    both_models(|p| {
        for &state in states(p) {
            usable(
                p,
                state,
                ServerFault::Malformed(DecodeError::Truncated),
                |b| b[..b.len() - 1].to_vec(),
            );
        }
    });
}

#[test]
fn server_wrong_session_spends_the_state_except_in_consistency() {
    both_models(|p| {
        spent(
            p,
            DELIVERY,
            ServerFault::WrongSession,
            edit_delivery(p, |m| m.session[0] ^= 1),
        );
        spent(
            p,
            REQUEST,
            ServerFault::WrongSession,
            edit_request(p, |m| m.session[0] ^= 1),
        );
    });
    let p = params(true);
    usable(
        &p,
        SIGN,
        ServerFault::WrongSession,
        edit_consistency(&p, |m| m.session[0] ^= 1),
    );
}

#[test]
fn server_missing_own_keys_spends_the_state() {
    both_models(|p| {
        spent(
            p,
            KEYS,
            ServerFault::MissingOwnKeys,
            edit_broadcast(p, |m| m.keys.retain(|k| k.index != 1)),
        );
    });
}

#[test]
fn server_duplicate_keys_spends_the_state() {
    both_models(|p| {
        spent(
            p,
            KEYS,
            ServerFault::DuplicateKeys,
            edit_broadcast(p, |m| m.keys[2].c_pk = m.keys[1].c_pk),
        );
    });
}

#[test]
fn server_weak_key_spends_the_state() {
    both_models(|p| {
        spent(
            p,
            KEYS,
            ServerFault::WeakKey { peer: 3 },
            edit_broadcast(p, |m| m.keys[2].s_pk = WEAK),
        );
    });
}

/// Client 5 advertises keys but never sends shares: client 1 masks with
/// 2, 3 and 4 only.
fn five_gone_after_keys(s: usize, i: ClientIndex, b: &[u8]) -> Vec<(ClientIndex, Vec<u8>)> {
    if s == SHARES && i == 5 {
        Vec::new()
    } else {
        same(i, b)
    }
}

#[test]
fn server_unexpected_peer_spends_the_state_except_in_consistency() {
    both_models(|p| {
        // A delivery naming a sender not in the key broadcast (client 1
        // itself).
        spent(
            p,
            DELIVERY,
            ServerFault::UnexpectedPeer { peer: 1 },
            edit_delivery(p, |m| {
                let mut own = m.shares[0].clone();
                own.sender = 1;
                m.shares.insert(0, own);
            }),
        );
        // An unmask request naming client 5, which client 1 never masked
        // with.
        let ran = drive(p, &mut five_gone_after_keys, &mut |s, i, b| {
            if s == REQUEST && i == 1 {
                let bad = edit_request(p, |m| m.survivors.push(5))(b);
                vec![bad, b.to_vec()]
            } else {
                vec![b.to_vec()]
            }
        });
        assert_eq!(
            ran.refused(REQUEST, 1),
            [
                Error::Server(ServerFault::UnexpectedPeer { peer: 5 }),
                Error::Misuse(Misuse::RoundOver)
            ]
        );
        ran.sums(&[1, 2, 3, 4]);
    });
    // A consistency request naming client 5 as a survivor: refused, and the
    // real request that follows is signed.
    let p = params(true);
    let ran = drive(&p, &mut five_gone_after_keys, &mut |s, i, b| {
        if s == SIGN && i == 1 {
            let bad = edit_consistency(&p, |m| m.survivors.push(5))(b);
            vec![bad, b.to_vec()]
        } else {
            vec![b.to_vec()]
        }
    });
    assert_eq!(
        ran.refused(SIGN, 1),
        [Error::Server(ServerFault::UnexpectedPeer { peer: 5 })]
    );
    ran.sums(&[1, 2, 3, 4]);
}

#[test]
fn server_not_enough_neighbours_spends_the_state_except_in_consistency() {
    let few = |named| ServerFault::NotEnoughNeighbours {
        named,
        threshold: 3,
    };
    both_models(|p| {
        spent(p, KEYS, few(2), edit_broadcast(p, |m| m.keys.truncate(2)));
        spent(
            p,
            DELIVERY,
            few(2),
            edit_delivery(p, |m| m.shares.truncate(1)),
        );
        spent(
            p,
            REQUEST,
            few(2),
            edit_request(p, |m| {
                m.survivors = vec![1, 2];
                m.dropped = vec![3, 4, 5];
            }),
        );
    });
    let p = params(true);
    usable(
        &p,
        SIGN,
        few(2),
        edit_consistency(&p, |m| m.survivors = vec![1, 2]),
    );
}

#[test]
fn server_survivor_and_dropped_spends_the_state() {
    both_models(|p| {
        spent(
            p,
            REQUEST,
            ServerFault::SurvivorAndDropped { peer: 2 },
            edit_request(p, |m| m.dropped = vec![2]),
        );
    });
}

#[test]
fn server_self_not_survivor_spends_the_state_except_in_consistency() {
    both_models(|p| {
        spent(
            p,
            REQUEST,
            ServerFault::SelfNotSurvivor,
            edit_request(p, |m| {
                m.survivors.retain(|&v| v != 1);
                m.dropped = vec![1];
            }),
        );
    });
    let p = params(true);
    usable(
        &p,
        SIGN,
        ServerFault::SelfNotSurvivor,
        edit_consistency(&p, |m| m.survivors.retain(|&v| v != 1)),
    );
}

#[test]
fn server_incomplete_request_spends_the_state() {
    both_models(|p| {
        spent(
            p,
            REQUEST,
            ServerFault::IncompleteRequest { peer: 5 },
            edit_request(p, |m| m.survivors.retain(|&v| v != 5)),
        );
    });
}

#[test]
fn server_bad_signature_spends_the_state() {
    // Malicious model only: the semi-honest model carries no signatures.
    let p = params(true);
    let flip = |s: &mut Option<[u8; 64]>| s.as_mut().unwrap()[0] ^= 1;
    spent(
        &p,
        KEYS,
        ServerFault::BadSignature { peer: 3 },
        edit_broadcast(&p, |m| flip(&mut m.keys[2].signature)),
    );
    spent(
        &p,
        DELIVERY,
        ServerFault::BadSignature { peer: 3 },
        edit_delivery(&p, |m| flip(&mut m.shares[1].signature)),
    );
    spent(
        &p,
        REQUEST,
        ServerFault::BadSignature { peer: 2 },
        edit_request(&p, |m| {
            let e = m.evidence.as_mut().unwrap();
            let sig = e.signatures.iter_mut().find(|(v, _)| *v == 2).unwrap();
            sig.1[0] ^= 1;
        }),
    );
}

#[test]
fn server_not_certified_spends_the_state() {
    let p = params(true);
    spent(
        &p,
        REQUEST,
        ServerFault::NotCertified { peer: 2 },
        edit_request(&p, |m| m.evidence = Some(Evidence::default())),
    );
}

#[test]
fn server_survivor_set_changed() {
    let p = params(true);
    // Consistency: the signed set is answered again, another refused, and
    // the state stays usable.
    let other = edit_consistency(&p, |m| m.survivors.retain(|&v| v != 5));
    let ran = downstream(&p, |s, i, b| {
        if s == SIGN && i == 1 {
            vec![b.to_vec(), other(b), b.to_vec()]
        } else {
            vec![b.to_vec()]
        }
    });
    assert_eq!(
        ran.refused(SIGN, 1),
        [Error::Server(ServerFault::SurvivorSetChanged)]
    );
    ran.sums(&ALL);
    // Unmask, before an answer: a request that is not the signed set spends
    // the state.
    spent(
        &p,
        REQUEST,
        ServerFault::SurvivorSetChanged,
        edit_request(&p, |m| {
            m.survivors.retain(|&v| v != 5);
            m.dropped = vec![5];
        }),
    );
    // Unmask, after an answer: bytes that do not decode are still
    // `Malformed`, another request is refused, the answered one is answered
    // again.
    let other = edit_request(&p, |m| {
        m.survivors.retain(|&v| v != 5);
        m.dropped = vec![5];
    });
    let ran = downstream(&p, |s, i, b| {
        if s == REQUEST && i == 1 {
            vec![b.to_vec(), b[..1].to_vec(), other(b), b.to_vec()]
        } else {
            vec![b.to_vec()]
        }
    });
    assert_eq!(
        ran.refused(REQUEST, 1),
        [
            Error::Server(ServerFault::Malformed(DecodeError::Truncated)),
            Error::Server(ServerFault::SurvivorSetChanged)
        ]
    );
    ran.sums(&ALL);
}

// ---------------------------------------------------------------------------
// Garbage frames: a client in any state takes the real message after them.

#[test]
fn garbage_frames_leave_every_client_state_usable() {
    both_models(|p| {
        // The undisturbed round, and the server messages client 1 got.
        let mut real: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let clean = downstream(p, |s, i, b| {
            if i == 1 {
                real.insert(s, b.to_vec());
            }
            vec![b.to_vec()]
        });
        clean.sums(&ALL);
        let states = states(p);
        for (k, &state) in states.iter().enumerate() {
            // A real message client 1 gets in another state.
            let other = real[&states[(k + 1) % states.len()]].clone();
            let mut noise = rng(7 + k as u64);
            let ran = downstream(p, |s, i, b| {
                if s == state && i == 1 {
                    let mut random = vec![0u8; b.len()];
                    noise.fill_bytes(&mut random);
                    vec![random, b[..b.len() / 2].to_vec(), other.clone(), b.to_vec()]
                } else {
                    vec![b.to_vec()]
                }
            });
            let refused = ran.refused(state, 1);
            assert_eq!(refused.len(), 3, "state {state}: {refused:?}");
            assert!(
                refused
                    .iter()
                    .all(|e| matches!(e, Error::Server(ServerFault::Malformed(_)))),
                "state {state}: {refused:?}"
            );
            assert!(matches!(
                refused[2],
                Error::Server(ServerFault::Malformed(DecodeError::UnexpectedType(_)))
            ));
            ran.sums(&ALL);
            assert_eq!(ran.aggregate().sum, clean.aggregate().sum);
        }
    });
}

#[test]
fn server_unexpected_peer_in_a_key_broadcast_spends_the_state() {
    // Only a sparse graph has non-neighbours to name: H(4, 7), t = 3.
    let p = Params::new(
        7,
        3,
        32,
        4,
        Graph::Harary {
            degree: 4,
            seed: [3; 32],
        },
    )
    .unwrap();
    let mut stranger = None;
    let ran = downstream(&p, |s, i, b| {
        if s != KEYS || i != 1 {
            return vec![b.to_vec()];
        }
        let mut m = KeyBroadcast::decode(&p, b).unwrap();
        let named: Vec<ClientIndex> = m.keys.iter().map(|k| k.index).collect();
        let j = (2..=7).find(|j| !named.contains(j)).unwrap();
        stranger = Some(j);
        // Keys the stranger might have had: valid, not weak, not repeated.
        let (_, adv) = AwaitingKeys::new(&p, ROUND, j, &mut rng(5)).unwrap();
        let adv = AdvertiseKeys::decode(&p, &adv).unwrap();
        let mut entry = m.keys[0].clone();
        entry.index = j;
        entry.c_pk = adv.c_pk;
        entry.s_pk = adv.s_pk;
        m.keys.push(entry);
        m.keys.sort_by_key(|k| k.index);
        vec![m.to_bytes(), b.to_vec()]
    });
    let peer = stranger.unwrap();
    assert_eq!(
        ran.refused(KEYS, 1),
        [
            Error::Server(ServerFault::UnexpectedPeer { peer }),
            Error::Misuse(Misuse::RoundOver)
        ]
    );
    ran.sums(&[2, 3, 4, 5, 6, 7]);
}
