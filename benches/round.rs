//! Whole-protocol costs: the client per phase, and the server's last close
//! (unmasking) against the dropout rate. Semi-honest SecAgg+ parameters
//! from `Params::secagg_plus` at 5 % corrupt and 5 % dropout.
//!
//!     cargo bench --bench round
//!
//! Every client draws from its own seeded generator, so a state rebuilt in
//! a bench's setup is the one that produced the recorded messages.

#![allow(clippy::expect_used, reason = "a bench stops on the first failure")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rand_core::SeedableRng;
use secagg::{
    AwaitingKeys, AwaitingShares, AwaitingUnmask, Params, Phase, RoundId, Server, StateKey, Step,
};

type Rng = chacha20::ChaCha20Rng;

const ROUND: RoundId = [9; 32];

fn rng_of(i: u32) -> Rng {
    Rng::seed_from_u64(u64::from(i))
}

fn input(params: &Params, i: u32) -> Vec<u64> {
    (0..params.dim())
        .map(|j| u64::from(i.wrapping_mul(31).wrapping_add(j)) & 0xffff)
        .collect()
}

fn deliver(step: Step) -> Messages {
    match step {
        Step::Deliver(m) => m.into_vec(),
        _ => panic!("round ended early"),
    }
}

fn message_to(msgs: &[(u32, Vec<u8>)], i: u32) -> Vec<u8> {
    msgs.iter()
        .find(|(j, _)| *j == i)
        .map(|(_, m)| m.clone())
        .unwrap_or_default()
}

/// Client `i`'s states, rebuilt from its seed: R0, then R1 and R2 when the
/// messages are given.
fn client_r0(params: &Params, i: u32, rng: &mut Rng) -> AwaitingKeys {
    AwaitingKeys::new(params, ROUND, i, rng).expect("R0").0
}

fn client_r1(params: &Params, i: u32, broadcast: &[u8], rng: &mut Rng) -> AwaitingShares {
    client_r0(params, i, rng)
        .receive(broadcast, rng)
        .expect("R1")
        .0
}

fn client_r2(
    params: &Params,
    i: u32,
    broadcast: &[u8],
    delivery: &[u8],
    rng: &mut Rng,
) -> AwaitingUnmask {
    client_r1(params, i, broadcast, rng)
        .receive(delivery, &input(params, i))
        .expect("R2")
        .0
}

/// A server that has every unmask answer of a round in which the clients
/// `dropped` leave before sending their masked input; the bench then times
/// the last `close_phase`. Also returns the messages to client 1.
fn round_to_unmask(params: &Params, dropped: &[u32]) -> (Server, [Vec<u8>; 3]) {
    let (mut server, answers, to_one) = round_to_answers(params, dropped);
    for (i, out) in &answers {
        server.receive(*i, out).expect("R3 in");
    }
    (server, to_one)
}

/// Messages by client index.
type Messages = Vec<(u32, Vec<u8>)>;

/// [`round_to_unmask`] before the server takes the unmask answers: the
/// server, the answers by client, and the messages to client 1.
fn round_to_answers(params: &Params, dropped: &[u32]) -> (Server, Messages, [Vec<u8>; 3]) {
    let n = params.clients();
    let mut server = Server::new(params, ROUND, &mut Rng::seed_from_u64(0)).expect("server");
    let mut rngs: Vec<Rng> = (1..=n).map(rng_of).collect();
    let mut r0 = Vec::new();
    for i in 1..=n {
        let (c, m) = AwaitingKeys::new(params, ROUND, i, &mut rngs[i as usize - 1]).expect("R0");
        server.receive(i, &m).expect("R0 in");
        r0.push(c);
    }
    let b = deliver(server.close_phase().expect("close R0"));
    let mut r1 = Vec::new();
    for (mut c, (i, m)) in r0.into_iter().zip(&b) {
        let (next, out) = c.receive(m, &mut rngs[*i as usize - 1]).expect("R1");
        server.receive(*i, &out).expect("R1 in");
        r1.push((*i, next));
    }
    let d = deliver(server.close_phase().expect("close R1"));
    let mut r2 = Vec::new();
    for (i, mut c) in r1 {
        if dropped.contains(&i) {
            continue;
        }
        let (next, out) = c
            .receive(&message_to(&d, i), &input(params, i))
            .expect("R2");
        server.receive(i, &out).expect("R2 in");
        r2.push((i, next));
    }
    let r = deliver(server.close_phase().expect("close R2"));
    let answers = r2
        .iter_mut()
        .map(|(i, c)| (*i, c.receive(&message_to(&r, *i)).expect("R3")))
        .collect();
    let to_one = [message_to(&b, 1), message_to(&d, 1), message_to(&r, 1)];
    (server, answers, to_one)
}

fn params(n: u32, m: u32) -> Params {
    Params::secagg_plus(n, 32, m, 0.05, 0.05, &mut Rng::seed_from_u64(1)).expect("params")
}

fn client(c: &mut Criterion) {
    let p = params(100, 100_000);
    let (_, [b, d, r]) = round_to_unmask(&p, &[]);
    let mut g = c.benchmark_group("client_n100_m1e5");
    g.bench_function("r0_advertise", |bench| {
        bench.iter(|| client_r0(&p, 1, &mut rng_of(1)));
    });
    g.bench_function("r1_share_keys", |bench| {
        bench.iter_batched(
            || (client_r0(&p, 1, &mut rng_of(1)), rng_of(1)),
            |(mut s, mut rng)| black_box(s.receive(&b, &mut rng).expect("R1")),
            BatchSize::PerIteration,
        );
    });
    let x = input(&p, 1);
    g.bench_function("r2_masked_input", |bench| {
        bench.iter_batched(
            || client_r1(&p, 1, &b, &mut rng_of(1)),
            |mut s| black_box(s.receive(&d, &x).expect("R2")),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("r3_unmask", |bench| {
        bench.iter_batched(
            || client_r2(&p, 1, &b, &d, &mut rng_of(1)),
            |mut s| black_box(s.receive(&r).expect("R3")),
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn server_unmask(c: &mut Criterion) {
    let p = params(100, 10_000);
    let mut g = c.benchmark_group("server_unmask_n100_m1e4");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for percent in [0u32, 5, 10] {
        // Clients 2, 3, ... up to `percent` of n (client 1's messages are
        // recorded, so it stays).
        let dropped: Vec<u32> = (2..=p.clients()).filter(|i| i % 100 < percent).collect();
        g.bench_with_input(
            BenchmarkId::from_parameter(percent),
            &dropped,
            |bench, d| {
                bench.iter_batched(
                    || round_to_unmask(&p, d).0,
                    |mut s| match s.close_phase().expect("close R3") {
                        Step::Done(a) => black_box(a),
                        _ => panic!("not done"),
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    g.finish();
}

/// The server taking every unmask answer of a round of 1,000 without
/// dropout (`Server::receive_all`, as a host that gathers them does):
/// decoding and checking about `(k + 1) n` shares.
fn server_receive_answers(c: &mut Criterion) {
    let p = params(1000, 1000);
    let (server, answers, _) = round_to_answers(&p, &[]);
    // Each iteration takes the answers into a fresh copy of the server,
    // imported from its sealed state.
    let key = StateKey::generate(&mut rng_of(0));
    let sealed = server.export(&key, &mut rng_of(0));
    let batch: Vec<(u32, &[u8])> = answers.iter().map(|(i, m)| (*i, m.as_slice())).collect();
    let mut g = c.benchmark_group("server_receive_answers_n1000");
    g.bench_function("receive_all", |bench| {
        bench.iter_batched(
            || Server::import(&sealed, &key, &ROUND, Some(Phase::Unmask)).expect("import"),
            |mut s| {
                let verdicts = s.receive_all(&batch);
                assert!(verdicts.iter().all(Result::is_ok), "an answer refused");
                black_box(s)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = client, server_unmask, server_receive_answers
}
criterion_main!(benches);
