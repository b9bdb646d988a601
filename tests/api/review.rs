//! Claims of spec/threat-model.md, spec/protocol.md and spec/state.md
//! checked from the public API where no other test pins their values:
//! burned keys, one recorded fault per client, refusals of malformed or
//! misplaced server messages, answers about non-neighbours, the edges of
//! the parameters (n = 2, t = n, b = 1 and 64, m = 0 and 1), and a server
//! whose round is over, also after an export.

use std::collections::BTreeMap;

use rand_core::Rng;
use secagg::protocol::messages::{
    AdvertiseKeys, ShareDelivery, ShareEntry, ShareKind, UnmaskRequest, UnmaskResponse,
};
use secagg::simulation::{Direction, Dropouts, Event, Report, Wire, run_on_wire};
use secagg::{
    ClientFault, ClientIndex, Decode, Encode, Error, Graph, Misuse, Outcome, Params, Phase, Server,
    ServerFault, ServerModel, StateKey, Step,
};

use crate::common::{rng, top};

/// A wire whose hooks see every client and server message, and which
/// records every refusal the server made of a client message.
pub(crate) struct Tap<U, D> {
    pub(crate) up: U,
    pub(crate) down: D,
    pub(crate) refused: Vec<(Phase, ClientIndex, Error)>,
}

impl<U, D> Wire for Tap<U, D>
where
    U: FnMut(Phase, ClientIndex, Vec<u8>) -> Vec<(ClientIndex, Vec<u8>)>,
    D: FnMut(Phase, ClientIndex, Vec<u8>) -> Vec<u8>,
{
    fn on_client_message(
        &mut self,
        phase: Phase,
        from: ClientIndex,
        bytes: Vec<u8>,
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        (self.up)(phase, from, bytes)
    }

    fn on_server_message(&mut self, phase: Phase, to: ClientIndex, bytes: Vec<u8>) -> Vec<u8> {
        (self.down)(phase, to, bytes)
    }

    fn on_delivered(&mut self, event: &Event<'_>) {
        if let (Direction::ToServer { from }, Some(e)) = (event.direction, event.refused) {
            self.refused.push((event.phase, from, e));
        }
    }
}

/// A simulated round's report and the server's refusals, in order.
pub(crate) struct Ran {
    pub(crate) report: Report,
    pub(crate) refused: Vec<(Phase, ClientIndex, Error)>,
    pub(crate) inputs: Vec<Vec<u64>>,
    pub(crate) params: Params,
}

impl Ran {
    /// The exact sum mod `2^b` of the inputs of `over`.
    pub(crate) fn sum_of(&self, over: &[ClientIndex]) -> Vec<u64> {
        let top = top(&self.params);
        let mut s = vec![0u64; self.params.dim() as usize];
        for &u in over {
            for (a, x) in s.iter_mut().zip(&self.inputs[u as usize - 1]) {
                *a = a.wrapping_add(*x) & top;
            }
        }
        s
    }

    /// The round finished with survivors `over`, their exact sum and the
    /// faults `misbehaved`.
    pub(crate) fn finished(&self, over: &[ClientIndex], misbehaved: &[(ClientIndex, ClientFault)]) {
        let agg = self.report.result.as_ref().expect("the round finishes");
        assert_eq!(agg.survivors, over);
        assert_eq!(agg.sum, self.sum_of(over));
        assert_eq!(agg.misbehaved, misbehaved);
    }

    /// The server's refusals of `from`'s messages.
    pub(crate) fn refused_of(&self, from: ClientIndex) -> Vec<(Phase, Error)> {
        self.refused
            .iter()
            .filter(|(_, i, _)| *i == from)
            .map(|(p, _, e)| (*p, *e))
            .collect()
    }
}

/// Random inputs below `2^b` for every client of `params`.
fn inputs(params: &Params, seed: u64) -> Vec<Vec<u64>> {
    let mut r = rng(seed ^ 0x1e);
    let top = top(params);
    (0..params.clients())
        .map(|_| (0..params.dim()).map(|_| r.next_u64() & top).collect())
        .collect()
}

/// Runs a round of `params` (seeded) through the hooks `up` (client to
/// server) and `down` (server to client).
pub(crate) fn ran(
    params: &Params,
    seed: u64,
    dropouts: &Dropouts,
    up: impl FnMut(Phase, ClientIndex, Vec<u8>) -> Vec<(ClientIndex, Vec<u8>)>,
    down: impl FnMut(Phase, ClientIndex, Vec<u8>) -> Vec<u8>,
) -> Ran {
    let inputs = inputs(params, seed);
    let mut tap = Tap {
        up,
        down,
        refused: Vec::new(),
    };
    let report = run_on_wire(params, &inputs, dropouts, &mut rng(seed), &mut tap);
    Ran {
        report,
        refused: tap.refused,
        inputs,
        params: params.clone(),
    }
}

pub(crate) fn pass(_: Phase, from: ClientIndex, b: Vec<u8>) -> Vec<(ClientIndex, Vec<u8>)> {
    vec![(from, b)]
}

pub(crate) fn keep(_: Phase, _: ClientIndex, b: Vec<u8>) -> Vec<u8> {
    b
}

pub(crate) fn client_error(index: ClientIndex, fault: ClientFault, outcome: Outcome) -> Error {
    Error::Client {
        index,
        fault,
        outcome,
    }
}

pub(crate) fn complete(n: u32, t: u32) -> Params {
    Params::new(n, t, 32, 8, Graph::Complete).unwrap()
}

pub(crate) fn malicious(n: u32, t: u32, corrupt: u32) -> Params {
    complete(n, t)
        .with_model(ServerModel::Malicious { corrupt })
        .unwrap()
}

/// The n clients' indices, ascending.
pub(crate) fn all(p: &Params) -> Vec<ClientIndex> {
    (1..=p.clients()).collect()
}

// ----- The client against a hostile server (P4) -----

/// A ShareDelivery that names its receiver among the senders is refused
/// with `UnexpectedPeer` naming the receiver itself (protocol.md section
/// 4.3: every sender must be a neighbour, and a client is not its own),
/// before it masks anything: the receiver sends no MaskedInput, counts as
/// dropped after R1, and the others' sum is exact, with nobody blamed.
#[test]
fn delivery_naming_the_receiver_as_a_sender_is_refused() {
    for p in [complete(5, 3), malicious(7, 5, 1)] {
        let r = ran(&p, 2, &Dropouts::default(), pass, |phase, to, b| {
            if phase == Phase::ShareKeys && to == 1 {
                let mut d = ShareDelivery::decode(&p, &b).unwrap();
                let mut own = d.shares[0].clone();
                own.sender = 1;
                d.shares.insert(0, own);
                return d.to_bytes();
            }
            b
        });
        assert_eq!(
            r.report.client_errors,
            [(1, Error::Server(ServerFault::UnexpectedPeer { peer: 1 }))]
        );
        r.finished(&all(&p)[1..], &[]);
    }
}

// ----- Malicious clients against the server (P3, protocol.md 5.1, 5.4) -----

/// Both keys of both clients of a duplicated key are burned (protocol.md
/// section 5.1): a later client advertising either key of either of them,
/// whether the copied one or not, is excluded with `DuplicateKey` too, and
/// the round sums exactly the clients whose keys were their own.
#[test]
fn burned_keys_exclude_whoever_advertises_one_later() {
    let p = complete(8, 3);
    let mut seen: BTreeMap<ClientIndex, AdvertiseKeys> = BTreeMap::new();
    let r = ran(
        &p,
        3,
        &Dropouts::default(),
        |phase, from, b| {
            if phase != Phase::AdvertiseKeys {
                return vec![(from, b)];
            }
            let mut m = AdvertiseKeys::decode(&p, &b).unwrap();
            match from {
                // Client 3 copies client 1's mask key.
                3 => m.s_pk = seen[&1].s_pk,
                // Client 5 advertises client 1's other key, never copied.
                5 => m.c_pk = seen[&1].c_pk,
                // Client 6 advertises the copier's own other key.
                6 => m.s_pk = seen[&3].c_pk,
                _ => {}
            }
            seen.insert(from, m.clone());
            vec![(from, m.to_bytes())]
        },
        keep,
    );
    for i in [3, 5, 6] {
        assert_eq!(
            r.refused_of(i),
            [(
                Phase::AdvertiseKeys,
                client_error(i, ClientFault::DuplicateKey, Outcome::Excluded)
            )]
        );
    }
    // Client 1 gets no error of its own, but is excluded with client 3.
    assert!(r.refused_of(1).is_empty());
    r.finished(
        &[2, 4, 7, 8],
        &[
            (1, ClientFault::DuplicateKey),
            (3, ClientFault::DuplicateKey),
            (5, ClientFault::DuplicateKey),
            (6, ClientFault::DuplicateKey),
        ],
    );
}

/// Each client is recorded once, with its first fault (protocol.md section
/// 5.1): a client named `Duplicate` in R2 (its first masked input stands)
/// and then excluded for a `WrongAnswer` in R3 gets both errors, but
/// `Aggregate::misbehaved` holds the first only, and its input is in the
/// sum. Both models.
#[test]
fn each_client_is_recorded_once_with_its_first_fault() {
    for p in [complete(5, 3), malicious(5, 4, 2)] {
        let r = ran(
            &p,
            4,
            &Dropouts::default(),
            |phase, from, b| {
                if from != 2 {
                    return vec![(from, b)];
                }
                match phase {
                    Phase::MaskedInput => {
                        let mut other = b.clone();
                        *other.last_mut().unwrap() ^= 1;
                        vec![(2, b), (2, other)]
                    }
                    Phase::Unmask => {
                        let mut m = UnmaskResponse::decode(&p, &b).unwrap();
                        m.shares[0].kind = ShareKind::MaskKey;
                        vec![(2, m.to_bytes())]
                    }
                    _ => vec![(2, b)],
                }
            },
            keep,
        );
        assert_eq!(
            r.refused_of(2),
            [
                (
                    Phase::MaskedInput,
                    client_error(2, ClientFault::Duplicate, Outcome::Named)
                ),
                (
                    Phase::Unmask,
                    client_error(2, ClientFault::WrongAnswer, Outcome::Excluded)
                ),
            ]
        );
        r.finished(&all(&p), &[(2, ClientFault::Duplicate)]);
    }
}

/// On a Harary graph a holder's unmask answer may hold shares of its
/// neighbours and itself only: a share of a survivor it does not
/// neighbour, of the very kind asked of that survivor, is `WrongAnswer`
/// and excludes the holder; its input stays in the sum, which is exact,
/// and nobody else is named. Both models.
#[test]
fn unmask_share_of_a_non_neighbour_is_a_wrong_answer() {
    let graph = Graph::Harary {
        degree: 4,
        seed: [3; 32],
    };
    let semi = Params::new(10, 3, 32, 8, graph).unwrap();
    let mal = semi
        .clone()
        .with_model(ServerModel::Malicious { corrupt: 1 })
        .unwrap();
    for p in [semi, mal] {
        // The phase whose close sends the unmask request.
        let asks = if p.is_malicious() {
            Phase::Consistency
        } else {
            Phase::MaskedInput
        };
        let stranger: std::cell::Cell<Option<ClientIndex>> = std::cell::Cell::new(None);
        let r = ran(
            &p,
            5,
            &Dropouts::default(),
            |phase, from, b| {
                if phase != Phase::Unmask || from != 4 {
                    return vec![(from, b)];
                }
                let mut m = UnmaskResponse::decode(&p, &b).unwrap();
                let owner = stranger.get().unwrap();
                let at = m.shares.partition_point(|s| s.owner < owner);
                m.shares.insert(
                    at,
                    ShareEntry {
                        owner,
                        kind: ShareKind::SelfSeed,
                        share: curve25519_dalek::Scalar::ONE,
                    },
                );
                vec![(4, m.to_bytes())]
            },
            |phase, to, b| {
                if phase == asks && to == 4 {
                    let req = UnmaskRequest::decode(&p, &b).unwrap();
                    assert!(req.dropped.is_empty());
                    stranger.set((1..=10).find(|i| !req.survivors.contains(i)));
                }
                b
            },
        );
        assert!(stranger.get().is_some());
        assert_eq!(
            r.refused_of(4),
            [(
                Phase::Unmask,
                client_error(4, ClientFault::WrongAnswer, Outcome::Excluded)
            )]
        );
        r.finished(&all(&p), &[(4, ClientFault::WrongAnswer)]);
    }
}

// ----- The edges of the parameters -----

/// The smallest roster, n = 2 with t = 2 = n, at the edge widths b = 1 and
/// 64 and lengths m = 0 and 1: every round sums exactly, and one client
/// missing in any phase ends the round with `NotEnoughSurvivors` naming
/// that phase, the one client left and t. The smallest malicious roster
/// that can finish, n = 4 with t = 3 and c = 1 (`2t > n + c`, and t at most
/// the n - 1 neighbours that sign for a client), at the same edges: exact
/// without dropouts and with one client silent at the unmask request.
#[test]
fn smallest_rosters_at_the_edge_widths() {
    for bits in [1u8, 64] {
        for dim in [0u32, 1] {
            let seed = u64::from(bits) * 10 + u64::from(dim);
            let p = Params::new(2, 2, bits, dim, Graph::Complete).unwrap();
            let r = ran(&p, seed, &Dropouts::default(), pass, keep);
            assert!(r.refused.is_empty());
            r.finished(&[1, 2], &[]);
            let one = |phase: Phase| {
                let mut d = Dropouts::default();
                match phase {
                    Phase::AdvertiseKeys => d.before_keys = vec![2],
                    Phase::ShareKeys => d.after_keys = vec![2],
                    Phase::MaskedInput => d.after_shares = vec![2],
                    _ => d.during_unmask = vec![2],
                }
                d
            };
            for phase in [
                Phase::AdvertiseKeys,
                Phase::ShareKeys,
                Phase::MaskedInput,
                Phase::Unmask,
            ] {
                let r = ran(&p, seed, &one(phase), pass, keep);
                assert_eq!(
                    r.report.result,
                    Err(Error::NotEnoughSurvivors {
                        phase,
                        survivors: 1,
                        threshold: 2
                    }),
                    "{phase:?}, b = {bits}, m = {dim}"
                );
            }
            let p = Params::new(4, 3, bits, dim, Graph::Complete)
                .unwrap()
                .with_model(ServerModel::Malicious { corrupt: 1 })
                .unwrap();
            let r = ran(&p, seed, &Dropouts::default(), pass, keep);
            assert!(r.refused.is_empty());
            r.finished(&[1, 2, 3, 4], &[]);
            let d = Dropouts {
                during_unmask: vec![3],
                ..Dropouts::default()
            };
            ran(&p, seed, &d, pass, keep).finished(&[1, 2, 3, 4], &[]);
        }
    }
}

// ----- A round that is over (protocol.md section 5.1, state.md) -----

/// Drives a semi-honest round of n = 3, t = 2 by hand with `Client`s:
/// returns the server once the round is done, with the aggregate and the
/// last message each client sent.
fn done_server() -> (Server, secagg::Aggregate, Vec<(ClientIndex, Vec<u8>)>) {
    let p = Params::new(3, 2, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(6);
    let mut server = Server::new(&p, crate::common::ROUND, &mut r).unwrap();
    let mut clients = Vec::new();
    let mut last = Vec::new();
    for i in 1..=3 {
        let (mut c, msg) = secagg::Client::new(&p, crate::common::ROUND, i, &mut r).unwrap();
        c.set_input(&[u64::from(i) * 1000; 4]).unwrap();
        server.receive(i, &msg).unwrap();
        clients.push(c);
    }
    loop {
        match server.close_phase().unwrap() {
            Step::Deliver(out) => {
                last.clear();
                for (i, msg) in out {
                    let reply = clients[i as usize - 1].receive(&msg, &mut r).unwrap();
                    server.receive(i, &reply).unwrap();
                    last.push((i, reply));
                }
            }
            Step::Done(agg) => return (server, agg, last),
            _ => unreachable!(),
        }
    }
}

/// Once a round is over, whether it finished or aborted, the server takes
/// nothing more: every message, a byte-identical resend of one it accepted
/// and one from outside the roster alike, is `Misuse(RoundOver)` (checked
/// before the sender, protocol.md section 5.1), so is `close_phase`;
/// `phase()` is `None` and nothing is pending. The same holds for the
/// server exported then and imported as over (`phase` `None`), which
/// refuses to be imported as being in any phase.
#[test]
fn a_round_over_takes_nothing_more_also_after_an_export() {
    let (server, agg, last) = done_server();
    assert_eq!(agg.sum, vec![6000; 4]);
    assert_eq!(agg.survivors, vec![1, 2, 3]);
    let key = StateKey::new([0x4b; 32]);
    let sealed = server.export(&key, &mut rng(7));
    let imported = Server::import(&sealed, &key, &crate::common::ROUND, None).unwrap();
    for phase in [
        Phase::AdvertiseKeys,
        Phase::ShareKeys,
        Phase::MaskedInput,
        Phase::Consistency,
        Phase::Unmask,
    ] {
        assert_eq!(
            Server::import(&sealed, &key, &crate::common::ROUND, Some(phase)).unwrap_err(),
            Error::State(secagg::StateError::Phase)
        );
    }
    // An aborted round: t = 3 of 3 and client 3 never advertises.
    let p = Params::new(3, 3, 16, 4, Graph::Complete).unwrap();
    let mut r = rng(8);
    let mut aborted = Server::new(&p, crate::common::ROUND, &mut r).unwrap();
    for i in 1..=2 {
        let (_, msg) = secagg::AwaitingKeys::new(&p, crate::common::ROUND, i, &mut r).unwrap();
        aborted.receive(i, &msg).unwrap();
    }
    assert_eq!(
        aborted.close_phase().unwrap_err(),
        Error::NotEnoughSurvivors {
            phase: Phase::AdvertiseKeys,
            survivors: 2,
            threshold: 3
        }
    );
    let over = Error::Misuse(Misuse::RoundOver);
    for mut s in [server, imported, aborted] {
        assert_eq!(s.phase(), None);
        assert!(s.pending().is_empty());
        for (i, msg) in &last {
            assert_eq!(s.receive(*i, msg), Err(over));
        }
        assert_eq!(s.receive(0, b"garbage"), Err(over));
        assert_eq!(s.receive(u32::MAX, &[]), Err(over));
        let batch: Vec<(ClientIndex, &[u8])> = last.iter().map(|(i, m)| (*i, &m[..])).collect();
        assert!(s.receive_all(&batch).iter().all(|e| *e == Err(over)));
        assert!(matches!(s.close_phase(), Err(e) if e == over));
        assert_eq!(s.phase(), None);
    }
}

/// spec/params.md section 4.7.3: the complete-graph threshold of the
/// malicious model is returned only when the survivors can reach it. With
/// `S` survivors, each of them finds `S - 1` signers among its neighbours
/// at the consistency close, which needs `t` of them (protocol.md section
/// 5.2): so every t returned must let a round in which `n - S` clients
/// vanish before signing finish, with the exact sum of the inputs masked;
/// and `Params::secagg_plus_malicious` never returns parameters with which
/// even a round without dropouts cannot finish (`t` above the `k`
/// neighbours that sign for a client).
#[test]
fn malicious_complete_threshold_is_reachable_by_its_survivors() {
    use secagg::params::secagg_plus::complete_threshold_malicious;
    let mut rounds = 0;
    for n in 2..=9u32 {
        for c in 0..n {
            for survivors in 2..=n {
                let Some(t) = complete_threshold_malicious(n, c, survivors) else {
                    continue;
                };
                let p = Params::new(n, t, 16, 3, Graph::Complete)
                    .and_then(|p| p.with_model(ServerModel::Malicious { corrupt: c }))
                    .unwrap();
                let gone: Vec<ClientIndex> = (survivors + 1..=n).collect();
                let d = Dropouts {
                    during_consistency: gone,
                    ..Dropouts::default()
                };
                let r = ran(&p, u64::from(n * 100 + c * 10 + survivors), &d, pass, keep);
                let agg = r.report.result.as_ref().unwrap_or_else(|e| {
                    panic!("n = {n}, c = {c}, S = {survivors}: t = {t} gives {e:?}")
                });
                // Those that vanished after masking are in the sum.
                assert_eq!(agg.sum, r.sum_of(&all(&p)));
                rounds += 1;
            }
        }
    }
    assert!(rounds > 20, "{rounds} rounds");
    for n in 2..=120u32 {
        for g in [0.0, 0.01, 0.05, 0.1, 0.2, 0.3] {
            for d in [0.0, 0.01, 0.05, 0.1, 0.2, 0.3] {
                match Params::secagg_plus_malicious(n, 32, 1, g, d, &mut rng(1)) {
                    Ok(p) => assert!(
                        p.threshold() <= p.degree(),
                        "n = {n}, {g}, {d}: k = {}, t = {}",
                        p.degree(),
                        p.threshold()
                    ),
                    Err(e) => assert_eq!(
                        e,
                        Error::Params(secagg::ParamsError::NoSafeThreshold),
                        "n = {n}, {g}, {d}"
                    ),
                }
            }
        }
    }
}

/// A holder that could not open a dealer's shares complains and holds
/// nothing of it (protocol.md sections 4.3 and 4.4): its unmask answer has
/// no share of that dealer, one share of every other peer it masked with
/// and of itself, of the kind asked; the dealer is named `Undecryptable`
/// by that holder (accused, not excluded), and its input, with every
/// other, is in the exact sum. Both models (the server here garbles the
/// dealer's ciphertext in the holder's ShareDelivery).
#[test]
fn a_complainer_answers_nothing_for_the_dealer_it_accused() {
    for p in [complete(5, 3), malicious(7, 5, 1)] {
        let asks = if p.is_malicious() {
            Phase::Consistency
        } else {
            Phase::MaskedInput
        };
        let asked: std::cell::RefCell<Option<UnmaskRequest>> = std::cell::RefCell::new(None);
        let answer: std::cell::RefCell<Option<UnmaskResponse>> = std::cell::RefCell::new(None);
        let r = ran(
            &p,
            12,
            &Dropouts::default(),
            |phase, from, b| {
                if phase == Phase::Unmask && from == 1 {
                    *answer.borrow_mut() = Some(UnmaskResponse::decode(&p, &b).unwrap());
                }
                vec![(from, b)]
            },
            |phase, to, b| {
                if phase == Phase::ShareKeys && to == 1 {
                    let mut d = ShareDelivery::decode(&p, &b).unwrap();
                    let two = d.shares.iter_mut().find(|s| s.sender == 2).unwrap();
                    *two.ciphertext.last_mut().unwrap() ^= 0x80;
                    return d.to_bytes();
                }
                if phase == asks && to == 1 {
                    *asked.borrow_mut() = Some(UnmaskRequest::decode(&p, &b).unwrap());
                }
                b
            },
        );
        assert!(r.refused.is_empty());
        r.finished(
            &all(&p),
            &[(2, ClientFault::Undecryptable { reported_by: 1 })],
        );
        let req = asked.borrow().clone().unwrap();
        assert_eq!(req.survivors, all(&p));
        let answer = answer.borrow_mut().take().unwrap();
        let owners: Vec<(ClientIndex, ShareKind)> =
            answer.shares.iter().map(|s| (s.owner, s.kind)).collect();
        let want: Vec<(ClientIndex, ShareKind)> = all(&p)
            .into_iter()
            .filter(|&o| o != 2)
            .map(|o| (o, ShareKind::SelfSeed))
            .collect();
        assert_eq!(owners, want);
    }
}

/// Malicious model (crypto.md section 9): every signed message is bound
/// to its sender's index, so a message of client 2 taken as client 3's is
/// refused in every signed phase, with the fault of the first check it
/// fails, and the round sums exactly the clients whose messages were their
/// own (client 3 excluded before masking: not in the sum; in the
/// consistency round: its input stays). The unmask answer carries no
/// signature: taken as client 3's, its shares sit at client 3's index, fail
/// the dealers' commitments and client 3 is named `BadShare` of the first
/// dealer checked, its answer discarded, the sum still exact.
#[test]
fn a_message_taken_from_another_sender_is_refused_in_the_malicious_model() {
    let p = malicious(7, 5, 1);
    let without_3: Vec<ClientIndex> = vec![1, 2, 4, 5, 6, 7];
    for (phase, fault, outcome, over) in [
        (
            Phase::AdvertiseKeys,
            ClientFault::BadSignature,
            Outcome::Excluded,
            &without_3,
        ),
        (
            Phase::ShareKeys,
            ClientFault::WrongRecipients,
            Outcome::Excluded,
            &without_3,
        ),
        (
            Phase::MaskedInput,
            ClientFault::BadSignature,
            Outcome::Excluded,
            &without_3,
        ),
        (
            Phase::Consistency,
            ClientFault::BadSignature,
            Outcome::Excluded,
            &all(&p),
        ),
    ] {
        let mut of_2: Option<Vec<u8>> = None;
        let r = ran(
            &p,
            13,
            &Dropouts::default(),
            |at, from, b| {
                if at == phase && from == 2 {
                    of_2 = Some(b.clone());
                }
                if at == phase && from == 3 {
                    return vec![(3, of_2.clone().unwrap())];
                }
                vec![(from, b)]
            },
            keep,
        );
        assert_eq!(
            r.refused_of(3),
            [(phase, client_error(3, fault, outcome))],
            "{phase:?}"
        );
        r.finished(over, &[(3, fault)]);
    }
    let mut of_2: Option<Vec<u8>> = None;
    let r = ran(
        &p,
        13,
        &Dropouts::default(),
        |at, from, b| {
            if at == Phase::Unmask && from == 2 {
                of_2 = Some(b.clone());
            }
            if at == Phase::Unmask && from == 3 {
                return vec![(3, of_2.clone().unwrap())];
            }
            vec![(from, b)]
        },
        keep,
    );
    assert!(r.refused.is_empty());
    r.finished(&all(&p), &[(3, ClientFault::BadShare { owner: 1 })]);
}

// ----- Secret hygiene (P6) -----

/// The ways a `Debug` implementation could print `secret`: as a byte
/// list, in hex either case, and its first 8 bytes alone.
fn renderings(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        format!("{secret:?}"),
        format!("{:?}", &secret[..8])
            .trim_end_matches(']')
            .to_owned(),
        hex.clone(),
        hex.to_uppercase(),
        hex[..16].to_owned(),
    ]
}

fn assert_hidden(what: &str, debug: &str, secrets: &[Vec<u8>]) {
    for s in secrets {
        for r in renderings(s) {
            assert!(!debug.contains(&r), "{what} prints a secret: {debug}");
        }
    }
}

/// Secrets are never printed (threat-model.md P6): through a whole
/// malicious-model round, the `Debug` of every client at every phase, of
/// the server, the identities and the state key shows none of the
/// identities' Ed25519 secrets nor the state key, and an unmask answer's
/// `Debug` shows none of the shares in it (each is `<redacted>`).
#[test]
fn debug_never_prints_a_secret() {
    let p = malicious(4, 3, 1);
    let mut r = rng(14);
    let ids: Vec<secagg::Identity> = (0..4).map(|_| secagg::Identity::generate(&mut r)).collect();
    let roster = secagg::Roster::new(
        &ids.iter()
            .map(secagg::Identity::public_key)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let key_bytes = [0x3c; 32];
    let key = StateKey::new(key_bytes);
    let mut secrets: Vec<Vec<u8>> = ids.iter().map(|id| id.secret_bytes().to_vec()).collect();
    secrets.push(key_bytes.to_vec());
    let round = [0x21; 32];
    let mut server = Server::with_roster(&p, round, &roster, &mut r).unwrap();
    let mut clients = Vec::new();
    for i in 1..=4u32 {
        let (mut c, msg) =
            secagg::Client::with_identity(&p, round, i, &ids[i as usize - 1], &roster, &mut r)
                .unwrap();
        c.set_input(&[u64::from(i); 8]).unwrap();
        server.receive(i, &msg).unwrap();
        clients.push(c);
    }
    let mut shares_seen = 0;
    let agg = loop {
        for c in &clients {
            assert_hidden("Client", &format!("{c:?}"), &secrets);
        }
        assert_hidden("Server", &format!("{server:?}"), &secrets);
        match server.close_phase().unwrap() {
            Step::Deliver(out) => {
                for (i, msg) in out {
                    let reply = clients[i as usize - 1].receive(&msg, &mut r).unwrap();
                    if let Ok(answer) = UnmaskResponse::decode(&p, &reply) {
                        let values: Vec<Vec<u8>> = answer
                            .shares
                            .iter()
                            .map(|s| s.share.to_bytes().to_vec())
                            .collect();
                        let debug = format!("{answer:?}");
                        assert_hidden("UnmaskResponse", &debug, &values);
                        assert_eq!(debug.matches("<redacted>").count(), values.len());
                        shares_seen += values.len();
                    }
                    server.receive(i, &reply).unwrap();
                }
            }
            Step::Done(agg) => break agg,
            _ => unreachable!(),
        }
    };
    assert_eq!(agg.sum, vec![10; 8]);
    assert_eq!(shares_seen, 16);
    for id in &ids {
        let debug = format!("{id:?}");
        assert_hidden("Identity", &debug, &secrets);
        // The matcher sees what is printed: the public key is.
        assert!(
            renderings(&id.public_key())
                .iter()
                .any(|r| debug.contains(r))
        );
    }
    assert_hidden("StateKey", &format!("{key:?}"), &secrets);
    assert_hidden("Roster", &format!("{roster:?}"), &secrets);
}

// ----- Exported state (state.md) -----

/// The burned keys survive an export (state.md section 5: the AdvertiseKeys
/// body keeps them; who advertised each accepted key is derived again): a
/// server exported and imported after every AdvertiseKeys gives the same
/// result for each as one that never left memory, excluding both clients
/// of a copied key and every later advertiser of any of their four keys,
/// and closes R0 with the same U1 and the same key broadcasts.
#[test]
fn burned_keys_survive_an_export() {
    let p = complete(10, 3);
    let mut r = rng(15);
    let key = StateKey::new([0x77; 32]);
    let round = crate::common::ROUND;
    let mut msgs: Vec<AdvertiseKeys> = Vec::new();
    for i in 1..=10 {
        let (_, bytes) = secagg::AwaitingKeys::new(&p, round, i, &mut r).unwrap();
        msgs.push(AdvertiseKeys::decode(&p, &bytes).unwrap());
    }
    msgs[2].s_pk = msgs[0].s_pk; // 3 copies 1's mask key
    msgs[4].c_pk = msgs[0].c_pk; // 5 advertises 1's other key
    msgs[5].s_pk = msgs[2].c_pk; // 6 advertises 3's own other key
    msgs[6].c_pk = msgs[1].s_pk; // 7 copies 2's key: both excluded
    msgs[7].s_pk = msgs[6].s_pk; // 8 advertises 7's own other key
    let mut kept = Server::new(&p, round, &mut rng(16)).unwrap();
    let mut moved = Server::new(&p, round, &mut rng(16)).unwrap();
    let mut results = Vec::new();
    for (i, m) in (1..=10).zip(&msgs) {
        let bytes = m.to_bytes();
        let a = kept.receive(i, &bytes);
        let b = moved.receive(i, &bytes);
        assert_eq!(a, b, "client {i}");
        results.push(a);
        let sealed = moved.export(&key, &mut r);
        moved = Server::import(&sealed, &key, &round, Some(Phase::AdvertiseKeys)).unwrap();
        assert_eq!(moved.pending(), kept.pending());
        assert_eq!(moved.excluded(), kept.excluded());
    }
    let dup = |i| {
        Err(client_error(
            i,
            ClientFault::DuplicateKey,
            Outcome::Excluded,
        ))
    };
    assert_eq!(
        results,
        [
            Ok(()),
            Ok(()),
            dup(3),
            Ok(()),
            dup(5),
            dup(6),
            dup(7),
            dup(8),
            Ok(()),
            Ok(())
        ]
    );
    assert_eq!(kept.excluded(), [1, 2, 3, 5, 6, 7, 8]);
    let close = |s: &mut Server| {
        let Step::Deliver(out) = s.close_phase().unwrap() else {
            unreachable!()
        };
        (
            s.survivor_sets()[0].to_vec(),
            out.into_iter().collect::<Vec<_>>(),
        )
    };
    let (a, b) = (close(&mut kept), close(&mut moved));
    assert_eq!(a.0, [4, 9, 10]);
    assert_eq!(a, b);
}

/// The keys of a client excluded for another reason than a copied key are
/// forgotten (protocol.md section 5.1): client 1, excluded for a different
/// second AdvertiseKeys (its first withdrawn too), does not burn its keys,
/// so a later client advertising one of them is accepted and is in U1,
/// while client 1 is not; its third message, a resend of its first, is
/// `NotInPhase` and changes nothing.
#[test]
fn keys_of_a_client_excluded_otherwise_are_forgotten() {
    let p = complete(5, 3);
    let round = crate::common::ROUND;
    let mut r = rng(17);
    let mut msgs: Vec<AdvertiseKeys> = Vec::new();
    for i in 1..=5 {
        let (_, bytes) = secagg::AwaitingKeys::new(&p, round, i, &mut r).unwrap();
        msgs.push(AdvertiseKeys::decode(&p, &bytes).unwrap());
    }
    let mut server = Server::new(&p, round, &mut r).unwrap();
    let first = msgs[0].to_bytes();
    let mut second = msgs[0].clone();
    second.s_pk = msgs[4].s_pk;
    second.c_pk = msgs[4].c_pk;
    assert_eq!(server.receive(1, &first), Ok(()));
    assert_eq!(
        server.receive(1, &second.to_bytes()),
        Err(client_error(1, ClientFault::Duplicate, Outcome::Excluded))
    );
    assert_eq!(
        server.receive(1, &first),
        Err(client_error(1, ClientFault::NotInPhase, Outcome::Ignored))
    );
    msgs[2].c_pk = msgs[0].c_pk;
    for i in 2..=5u32 {
        assert_eq!(server.receive(i, &msgs[i as usize - 1].to_bytes()), Ok(()));
    }
    assert_eq!(server.excluded(), [1]);
    assert!(server.pending().is_empty());
    let Step::Deliver(out) = server.close_phase().unwrap() else {
        unreachable!()
    };
    assert_eq!(server.survivor_sets()[0], [2, 3, 4, 5]);
    assert_eq!(
        out.into_iter().map(|(i, _)| i).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
}

// ----- Canonical encodings (wire-format.md section 2, rule 5) -----

/// A packed vector's padding bits must be zero: a MaskedInput at b = 13,
/// m = 7 (91 bits in 12 bytes) with its top padding bit set is
/// `Malformed(NonCanonical)` and excludes its sender, whose masks are then
/// removed like those of a client that dropped after R1: the sum over the
/// others is exact. Both models.
#[test]
fn masked_input_padding_bits_must_be_zero() {
    let semi = Params::new(7, 5, 13, 7, Graph::Complete).unwrap();
    let mal = semi
        .clone()
        .with_model(ServerModel::Malicious { corrupt: 1 })
        .unwrap();
    for p in [semi, mal] {
        let r = ran(
            &p,
            18,
            &Dropouts::default(),
            |phase, from, mut b| {
                if phase == Phase::MaskedInput && from == 2 {
                    *b.last_mut().unwrap() |= 0x80;
                }
                vec![(from, b)]
            },
            keep,
        );
        let fault = ClientFault::Malformed(secagg::DecodeError::NonCanonical);
        assert_eq!(
            r.refused_of(2),
            [(
                Phase::MaskedInput,
                client_error(2, fault, Outcome::Excluded)
            )]
        );
        r.finished(&[1, 3, 4, 5, 6, 7], &[(2, fault)]);
    }
}

/// A survivor bitmap's padding bits must be zero: a ConsistencyRequest
/// over n = 7 (one byte, bit 7 padding) with it set is refused by the
/// client as `Malformed(NonCanonical)`; it signs nothing, and the round
/// certifies the survivor set with the six other signatures and sums every
/// input, the refusing client's included.
#[test]
fn survivor_bitmap_padding_bits_must_be_zero() {
    let p = malicious(7, 5, 1);
    let r = ran(&p, 19, &Dropouts::default(), pass, |phase, to, mut b| {
        if phase == Phase::MaskedInput && to == 1 {
            *b.last_mut().unwrap() |= 0x80;
        }
        b
    });
    assert_eq!(
        r.report.client_errors,
        [(
            1,
            Error::Server(ServerFault::Malformed(secagg::DecodeError::NonCanonical))
        )]
    );
    r.finished(&all(&p), &[]);
}

// ----- A client's policy (README, Params::check_policy) -----

/// `check_policy` takes parameters exactly at the policy's minimums and
/// refuses, with `ParamsError::Policy`, one below either minimum or
/// semi-honest parameters under `require_malicious`; the same parameters
/// decoded from their bytes get the same verdicts.
#[test]
fn policy_minimums_are_inclusive_and_refusals_typed() {
    use secagg::{ParamsError, Policy};
    let refused = Err(Error::Params(ParamsError::Policy));
    let semi = complete(7, 5);
    let mal = malicious(7, 5, 1);
    let at = |t, n, m| Policy {
        min_threshold: t,
        min_clients: n,
        require_malicious: m,
    };
    for p in [semi.clone(), mal.clone()] {
        let q = Params::decode(&p.to_bytes()).unwrap();
        assert_eq!(q, p);
        for p in [&p, &q] {
            assert_eq!(p.check_policy(&at(5, 7, false)), Ok(()));
            assert_eq!(p.check_policy(&at(6, 7, false)), refused);
            assert_eq!(p.check_policy(&at(5, 8, false)), refused);
            assert_eq!(p.check_policy(&at(0, 0, false)), Ok(()));
        }
    }
    assert_eq!(semi.check_policy(&at(2, 2, true)), refused);
    assert_eq!(mal.check_policy(&at(2, 2, true)), Ok(()));
}

// ----- Constructors refuse what the model does not allow -----

/// Every constructor refuses a caller's mistake with its `Misuse`, and
/// nothing is built: an index outside `1..=n` (`ClientIndex`), a model
/// without its credentials or credentials without the model (`Identity`),
/// a roster of another size than n (`Roster`), and an identity that is
/// not the roster's key for the index (`Identity`); the right ones build.
#[test]
fn constructors_refuse_the_wrong_model_roster_index_or_identity() {
    use secagg::{AwaitingKeys, Client, Identity, Roster};
    let semi = complete(4, 3);
    let mal = malicious(4, 3, 1);
    let mut r = rng(20);
    let round = crate::common::ROUND;
    let ids: Vec<Identity> = (0..5).map(|_| Identity::generate(&mut r)).collect();
    let keys: Vec<[u8; 32]> = ids.iter().map(Identity::public_key).collect();
    let roster = Roster::new(&keys[..4]).unwrap();
    let short = Roster::new(&keys[..3]).unwrap();
    let long = Roster::new(&keys).unwrap();
    let misuse = |m| Error::Misuse(m);
    for i in [0, 5, u32::MAX] {
        assert_eq!(
            AwaitingKeys::new(&semi, round, i, &mut r).unwrap_err(),
            misuse(Misuse::ClientIndex)
        );
        assert_eq!(
            Client::new(&semi, round, i, &mut r).unwrap_err(),
            misuse(Misuse::ClientIndex)
        );
        assert_eq!(
            AwaitingKeys::with_identity(&mal, round, i, &ids[0], &roster, &mut r).unwrap_err(),
            misuse(Misuse::ClientIndex)
        );
    }
    assert_eq!(
        AwaitingKeys::new(&mal, round, 1, &mut r).unwrap_err(),
        misuse(Misuse::Identity)
    );
    assert_eq!(
        Client::new(&mal, round, 1, &mut r).unwrap_err(),
        misuse(Misuse::Identity)
    );
    assert_eq!(
        AwaitingKeys::with_identity(&semi, round, 1, &ids[0], &roster, &mut r).unwrap_err(),
        misuse(Misuse::Identity)
    );
    for bad in [&short, &long] {
        assert_eq!(
            AwaitingKeys::with_identity(&mal, round, 1, &ids[0], bad, &mut r).unwrap_err(),
            misuse(Misuse::Roster)
        );
        assert_eq!(
            Server::with_roster(&mal, round, bad, &mut r).unwrap_err(),
            misuse(Misuse::Roster)
        );
    }
    // Client 2 holding client 1's identity, or one outside the roster.
    for id in [&ids[0], &ids[4]] {
        assert_eq!(
            AwaitingKeys::with_identity(&mal, round, 2, id, &roster, &mut r).unwrap_err(),
            misuse(Misuse::Identity)
        );
        assert_eq!(
            Client::with_identity(&mal, round, 2, id, &roster, &mut r).unwrap_err(),
            misuse(Misuse::Identity)
        );
    }
    assert_eq!(
        Server::new(&mal, round, &mut r).unwrap_err(),
        misuse(Misuse::Identity)
    );
    assert_eq!(
        Server::with_roster(&semi, round, &roster, &mut r).unwrap_err(),
        misuse(Misuse::Identity)
    );
    assert!(Server::with_roster(&mal, round, &roster, &mut r).is_ok());
    assert!(AwaitingKeys::with_identity(&mal, round, 2, &ids[1], &roster, &mut r).is_ok());
    assert!(Client::new(&semi, round, 4, &mut r).is_ok());
}

/// The set a client signed, and the request it answered, survive its
/// export (state.md sections 1 and 4, protocol.md sections 4.4 and 4.5): a
/// copy imported after it signed the survivor set refuses a consistency
/// request for another set (`SurvivorSetChanged`), stays usable, and signs
/// the genuine request again with the same bytes; a copy imported after it
/// answered its unmask request refuses another request the same way and
/// still answers the genuine one with the same bytes. The live clients then
/// finish the round with the exact sum.
#[test]
fn a_signed_set_and_an_answered_request_survive_an_export() {
    use secagg::protocol::messages::ConsistencyRequest;
    use secagg::{Client, ClientPhase, Identity, Roster};
    let p = malicious(7, 5, 1);
    let mut r = rng(21);
    let round = crate::common::ROUND;
    let key = StateKey::new([0x19; 32]);
    let ids: Vec<Identity> = (0..7).map(|_| Identity::generate(&mut r)).collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();
    let mut server = Server::with_roster(&p, round, &roster, &mut r).unwrap();
    let mut clients = Vec::new();
    for i in 1..=7u32 {
        let (mut c, msg) =
            Client::with_identity(&p, round, i, &ids[i as usize - 1], &roster, &mut r).unwrap();
        c.set_input(&[u64::from(i) << 20; 8]).unwrap();
        server.receive(i, &msg).unwrap();
        clients.push(c);
    }
    let mut checked = [false; 2];
    let agg = loop {
        let out = match server.close_phase().unwrap() {
            Step::Deliver(out) => out,
            Step::Done(agg) => break agg,
            _ => unreachable!(),
        };
        for (i, bytes) in out {
            let c = &mut clients[i as usize - 1];
            let phase = c.phase();
            let reply = c.receive(&bytes, &mut r).unwrap();
            if i == 3 && phase == ClientPhase::ConsistencyRequest {
                assert_eq!(c.phase(), ClientPhase::UnmaskRequest);
                let sealed = c.export(&key, &mut r);
                let mut copy = Client::import(&sealed, &key, &round, c.phase()).unwrap();
                let mut other = ConsistencyRequest::decode(&p, &bytes).unwrap();
                assert_eq!(other.survivors, all(&p));
                other.survivors.retain(|&v| v != 7);
                assert_eq!(
                    copy.receive(&other.to_bytes(), &mut r),
                    Err(Error::Server(ServerFault::SurvivorSetChanged))
                );
                assert_eq!(copy.phase(), ClientPhase::UnmaskRequest);
                assert_eq!(copy.receive(&bytes, &mut r).unwrap(), reply);
                checked[0] = true;
            }
            if i == 3 && phase == ClientPhase::UnmaskRequest {
                assert_eq!(c.phase(), ClientPhase::Done);
                let sealed = c.export(&key, &mut r);
                let mut copy = Client::import(&sealed, &key, &round, ClientPhase::Done).unwrap();
                let mut other = UnmaskRequest::decode(&p, &bytes).unwrap();
                let moved = other.survivors.pop().unwrap();
                other.dropped.push(moved);
                assert_eq!(
                    copy.receive(&other.to_bytes(), &mut r),
                    Err(Error::Server(ServerFault::SurvivorSetChanged))
                );
                // Refusing it did not spend the answered state.
                assert_eq!(copy.phase(), ClientPhase::Done);
                assert_eq!(copy.receive(&bytes, &mut r).unwrap(), reply);
                checked[1] = true;
            }
            server.receive(i, &reply).unwrap();
        }
    };
    assert_eq!(checked, [true, true]);
    assert_eq!(agg.sum, vec![28 << 20; 8]);
    assert!(agg.misbehaved.is_empty());
}

// ----- Retries of an earlier phase (P3, protocol.md section 5.4) -----

/// A late retry of an accepted message, after its phase closed (an
/// at-least-once transport), is out of phase: `NotInPhase`, ignored, never
/// a fault. The client keeps its place and the sum is exact, in every pair
/// of phases of both models, whether the retry arrives before or after the
/// client's message of the new phase (where it was taken for a second,
/// different message before).
#[test]
fn a_late_retry_of_an_earlier_phase_is_ignored() {
    for p in [complete(5, 3), malicious(7, 5, 1)] {
        let mut phases = vec![Phase::AdvertiseKeys, Phase::ShareKeys, Phase::MaskedInput];
        if p.is_malicious() {
            phases.push(Phase::Consistency);
        }
        phases.push(Phase::Unmask);
        for (i, &previous) in phases.iter().enumerate() {
            for &current in &phases[i + 1..] {
                for after in [false, true] {
                    let mut kept: Option<Vec<u8>> = None;
                    let r = ran(
                        &p,
                        9,
                        &Dropouts::default(),
                        |phase, from, b| {
                            if from != 2 {
                                return vec![(from, b)];
                            }
                            if phase == previous {
                                kept = Some(b.clone());
                            }
                            if phase != current {
                                return vec![(from, b)];
                            }
                            let old = (2, kept.clone().expect("kept"));
                            if after {
                                vec![(2, b), old]
                            } else {
                                vec![old, (2, b)]
                            }
                        },
                        keep,
                    );
                    assert_eq!(
                        r.refused_of(2),
                        vec![(
                            current,
                            client_error(2, ClientFault::NotInPhase, Outcome::Ignored)
                        )],
                        "{previous:?} retried in {current:?}"
                    );
                    r.finished(&all(&p), &[]);
                }
            }
        }
    }
}

/// A client message of a later phase than the current one is no retry: it
/// is malformed (`UnexpectedType`) and excludes its sender, as before.
#[test]
fn a_message_of_a_later_phase_is_malformed() {
    let p = complete(5, 3);
    let mut kept: Option<Vec<u8>> = None;
    let r = ran(
        &p,
        10,
        &Dropouts::default(),
        |phase, from, b| {
            if from == 1 && phase == Phase::ShareKeys {
                kept = Some(b.clone());
            }
            if from == 2 && phase == Phase::ShareKeys {
                // Client 1's ShareKeys was seen first (ascending order).
                let mut later = kept.clone().expect("kept");
                later[1] = 0x03; // the MaskedInput type
                return vec![(2, later)];
            }
            vec![(from, b)]
        },
        keep,
    );
    let malformed = ClientFault::Malformed(secagg::DecodeError::UnexpectedType(0x03));
    assert_eq!(
        r.refused_of(2),
        vec![(
            Phase::ShareKeys,
            client_error(2, malformed, Outcome::Excluded)
        )]
    );
    r.finished(&[1, 3, 4, 5], &[(2, malformed)]);
}

// ----- The malicious model's threshold (spec/params.md section 4.7) -----

/// A survivor set is certified by t signers among a client's k neighbours,
/// so malicious-model parameters with t = k + 1, which no round could
/// finish, are refused (`ParamsError::Threshold`), by `with_model` and by
/// `Params::decode` alike; t = k is accepted.
#[test]
fn malicious_parameters_that_can_never_finish_are_refused() {
    let harary = |degree| Graph::Harary {
        degree,
        seed: [1; 32],
    };
    for (n, t, c, graph) in [
        (2, 2, 1, Graph::Complete),
        (5, 5, 1, Graph::Complete),
        (10, 5, 1, harary(4)),
    ] {
        let p = Params::new(n, t, 32, 2, graph.clone()).unwrap();
        assert_eq!(
            p.clone()
                .with_model(ServerModel::Malicious { corrupt: c })
                .err(),
            Some(Error::Params(secagg::ParamsError::Threshold)),
            "n = {n}, t = {t}, c = {c}, {graph:?}"
        );
        // The same parameters, encoded by hand in the malicious model.
        let mut bytes = p.to_bytes();
        let model_at = bytes.len() - 2;
        assert_eq!(&bytes[model_at..], &[0, 0], "semi-honest, no extension");
        bytes.truncate(model_at);
        bytes.push(1);
        bytes.extend_from_slice(&c.to_le_bytes());
        bytes.push(0);
        assert_eq!(
            Params::decode(&bytes).err(),
            Some(Error::Params(secagg::ParamsError::Threshold))
        );
    }
    let at_k = Params::new(5, 4, 32, 2, Graph::Complete)
        .unwrap()
        .with_model(ServerModel::Malicious { corrupt: 1 })
        .unwrap();
    assert_eq!(Params::decode(&at_k.to_bytes()).unwrap(), at_k);
}

/// `max_dropped_holders` is what a round tolerates: k + 1 - t semi-honest,
/// k - t in the malicious model (the survivor set needs t signers among
/// the k neighbours). n = 7, t = 5 on the complete graph: one client
/// dropping after its shares or during the consistency round leaves an
/// exact sum, two end the round at the consistency close.
#[test]
fn malicious_rounds_tolerate_max_dropped_holders() {
    let p = malicious(7, 5, 1);
    assert_eq!(p.max_dropped_holders(), 1);
    assert_eq!(complete(7, 5).max_dropped_holders(), 2);
    for gone in [vec![7], vec![6, 7]] {
        for d in [
            Dropouts {
                after_shares: gone.clone(),
                ..Dropouts::default()
            },
            Dropouts {
                during_consistency: gone.clone(),
                ..Dropouts::default()
            },
        ] {
            let r = ran(&p, 2, &d, pass, keep);
            if gone.len() as u32 <= p.max_dropped_holders() {
                assert!(r.report.ok(), "{d:?}: {:?}", r.report.result);
            } else {
                assert_eq!(
                    r.report.result.as_ref().err(),
                    Some(&Error::NotEnoughSurvivors {
                        phase: Phase::Consistency,
                        survivors: 4,
                        threshold: 5,
                    }),
                    "{d:?}"
                );
            }
        }
    }
}
