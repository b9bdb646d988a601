//! A whole round in one process, every message through encode and decode:
//! the engine of `secagg simulate`, of the property tests and of the
//! benchmarks.
//!
//! ```
//! use secagg::simulation::{run, Dropouts};
//! use secagg::{Graph, Params};
//! # struct Rng(u64);
//! # impl rand_core::TryRng for Rng {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(self.try_next_u64()? as u32) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
//! #         self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); Ok(self.0) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
//! #         for b in d { *b = self.try_next_u64()? as u8 } Ok(()) }
//! # }
//! # impl rand_core::TryCryptoRng for Rng {}
//! # let mut rng = Rng(1); // tests only: use getrandom::SysRng in real code
//! let params = Params::new(5, 3, 32, 8, Graph::Complete)?;
//! let inputs: Vec<Vec<u64>> = (1..=5).map(|i| vec![i; 8]).collect();
//! let dropouts = Dropouts { after_shares: vec![2], ..Default::default() };
//! let report = run(&params, &inputs, &dropouts, &mut rng);
//! let agg = report.result?;
//! assert_eq!(agg.survivors, vec![1, 3, 4, 5]);
//! assert_eq!(agg.sum, vec![1 + 3 + 4 + 5; 8]);
//! # Ok::<(), secagg::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand_core::CryptoRng;

use crate::error::{ClientIndex, Error, Phase};
use crate::params::Params;
use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask};
use crate::protocol::server::{Aggregate, Server, Step};

/// Which clients drop out, and when. A client listed in several sets drops
/// at the earliest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropouts {
    /// Never send AdvertiseKeys.
    pub before_keys: Vec<ClientIndex>,
    /// Send AdvertiseKeys, then vanish before ShareKeys.
    pub after_keys: Vec<ClientIndex>,
    /// Send ShareKeys, then vanish before MaskedInput (the expensive case:
    /// their pairwise masks must be removed).
    pub after_shares: Vec<ClientIndex>,
    /// Send MaskedInput, then never answer the unmask request.
    pub during_unmask: Vec<ClientIndex>,
}

/// Time spent in one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTime {
    /// The server: receiving every message and closing the phase.
    pub server: Duration,
    /// The mean over the clients that took part.
    pub client_mean: Duration,
}

/// What a simulated round did.
#[derive(Debug)]
pub struct Report {
    /// The server's result.
    pub result: Result<Aggregate, Error>,
    /// The plaintext sum mod `2^b` over the final survivors (when the round
    /// finished), computed directly from the inputs.
    pub expected: Option<Vec<u64>>,
    /// Per phase, in protocol order.
    pub times: [PhaseTime; 4],
    /// Mean bytes a participating client sent over the round.
    pub upload_per_client: f64,
    /// Mean bytes a participating client received over the round.
    pub download_per_client: f64,
    /// |U1|, |U2|, |U3| as the server closed them.
    pub survivors: [usize; 3],
    /// Clients that refused a server message, with the reason.
    pub client_errors: Vec<(ClientIndex, Error)>,
}

impl Report {
    /// Whether the round finished and its sum equals the plaintext sum.
    pub fn ok(&self) -> bool {
        match (&self.result, &self.expected) {
            (Ok(agg), Some(e)) => &agg.sum == e,
            _ => false,
        }
    }
}

fn mean(total: Duration, count: usize) -> Duration {
    u32::try_from(count)
        .ok()
        .filter(|&c| c > 0)
        .map_or(Duration::ZERO, |c| total / c)
}

/// Runs one round of `params` with `inputs[i]` as client `i + 1`'s vector.
/// Clients that refuse a server message drop out from then on (their errors
/// are in [`Report::client_errors`]).
///
/// # Panics
/// If `inputs.len()` is not n (a caller bug, not an input error).
pub fn run<R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &[Vec<u64>],
    dropouts: &Dropouts,
    rng: &mut R,
) -> Report {
    run_with_progress(params, inputs, dropouts, rng, &mut |_, _, _| {})
}

/// [`run`], calling `progress(phase, done, total)` as clients are processed.
///
/// # Panics
/// If `inputs.len()` is not n.
pub fn run_with_progress<R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &[Vec<u64>],
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Report {
    let n = params.clients_usize();
    assert_eq!(inputs.len(), n, "one input per client");
    let mut times = [PhaseTime::default(); 4];
    let mut up = vec![0usize; n + 1];
    let mut down = vec![0usize; n + 1];
    let mut client_errors = Vec::new();
    let mut survivors = [0usize; 3];
    let bits = params.bits();

    let report = |result: Result<Aggregate, Error>,
                      times: [PhaseTime; 4],
                      survivors: [usize; 3],
                      up: &[usize],
                      down: &[usize],
                      client_errors: Vec<(ClientIndex, Error)>| {
        let expected = result.as_ref().ok().map(|agg| {
            let mut sum = vec![0u64; params.dim_usize()];
            for &u in &agg.survivors {
                crate::vector::add_assign(&mut sum, &inputs[u as usize - 1]);
            }
            crate::vector::reduce(&mut sum, bits);
            sum
        });
        let active: Vec<usize> = (1..=n).filter(|&i| up[i] > 0).collect();
        let avg = |v: &[usize]| {
            if active.is_empty() {
                0.0
            } else {
                active.iter().map(|&i| v[i] as f64).sum::<f64>() / active.len() as f64
            }
        };
        Report {
            result,
            expected,
            times,
            upload_per_client: avg(up),
            download_per_client: avg(down),
            survivors,
            client_errors,
        }
    };

    let mut server = Server::new(params, rng);
    let gone = |list: &[ClientIndex], i: ClientIndex| list.contains(&i);

    // R0.
    let mut waiting: BTreeMap<ClientIndex, AwaitingKeys> = BTreeMap::new();
    let mut client_time = Duration::ZERO;
    let mut server_time = Duration::ZERO;
    for i in (1..=params.clients()).filter(|&i| !gone(&dropouts.before_keys, i)) {
        let start = Instant::now();
        let Ok((state, msg)) = AwaitingKeys::new(params, i, rng) else {
            continue;
        };
        client_time += start.elapsed();
        up[i as usize] += msg.len();
        let start = Instant::now();
        // A rejected message is the sender's problem; the server records it.
        let _ = server.receive(i, &msg);
        server_time += start.elapsed();
        waiting.insert(i, state);
        progress(Phase::AdvertiseKeys, i as usize, n);
    }
    let count = waiting.len();
    let start = Instant::now();
    let step = server.close_phase();
    server_time += start.elapsed();
    times[0] = PhaseTime {
        server: server_time,
        client_mean: mean(client_time, count),
    };
    let deliveries = match step {
        Ok(Step::Deliver(d)) => d,
        Ok(Step::Done(_)) => unreachable_done(),
        Err(e) => return report(Err(e), times, survivors, &up, &down, client_errors),
    };
    survivors[0] = server.survivor_sets()[0].len();

    // R1.
    let (mut next, mut client_time, mut server_time) = (BTreeMap::new(), Duration::ZERO, Duration::ZERO);
    let total = deliveries.len();
    for (done, (i, msg)) in deliveries.into_iter().enumerate() {
        down[i as usize] += msg.len();
        let Some(state) = waiting.remove(&i) else { continue };
        if gone(&dropouts.after_keys, i) {
            continue;
        }
        let start = Instant::now();
        let r = state.receive(&msg, rng);
        client_time += start.elapsed();
        match r {
            Ok((state, out)) => {
                up[i as usize] += out.len();
                let start = Instant::now();
                let _ = server.receive(i, &out);
                server_time += start.elapsed();
                next.insert(i, state);
            }
            Err(e) => client_errors.push((i, e)),
        }
        progress(Phase::ShareKeys, done + 1, total);
    }
    let mut waiting: BTreeMap<ClientIndex, AwaitingShares> = next;
    let count = waiting.len();
    let start = Instant::now();
    let step = server.close_phase();
    server_time += start.elapsed();
    times[1] = PhaseTime {
        server: server_time,
        client_mean: mean(client_time, count),
    };
    let deliveries = match step {
        Ok(Step::Deliver(d)) => d,
        Ok(Step::Done(_)) => unreachable_done(),
        Err(e) => return report(Err(e), times, survivors, &up, &down, client_errors),
    };
    survivors[1] = server.survivor_sets()[1].len();

    // R2.
    let (mut next, mut client_time, mut server_time) = (BTreeMap::new(), Duration::ZERO, Duration::ZERO);
    let total = deliveries.len();
    for (done, (i, msg)) in deliveries.into_iter().enumerate() {
        down[i as usize] += msg.len();
        let Some(state) = waiting.remove(&i) else { continue };
        if gone(&dropouts.after_shares, i) {
            continue;
        }
        let start = Instant::now();
        let r = state.receive(&msg, &inputs[i as usize - 1]);
        client_time += start.elapsed();
        match r {
            Ok((state, out)) => {
                up[i as usize] += out.len();
                let start = Instant::now();
                let _ = server.receive(i, &out);
                server_time += start.elapsed();
                next.insert(i, state);
            }
            Err(e) => client_errors.push((i, e)),
        }
        progress(Phase::MaskedInput, done + 1, total);
    }
    let mut waiting: BTreeMap<ClientIndex, AwaitingUnmask> = next;
    let count = waiting.len();
    let start = Instant::now();
    let step = server.close_phase();
    server_time += start.elapsed();
    times[2] = PhaseTime {
        server: server_time,
        client_mean: mean(client_time, count),
    };
    let deliveries = match step {
        Ok(Step::Deliver(d)) => d,
        Ok(Step::Done(_)) => unreachable_done(),
        Err(e) => return report(Err(e), times, survivors, &up, &down, client_errors),
    };
    survivors[2] = server.survivor_sets()[2].len();

    // R3.
    let (mut client_time, mut server_time, mut count) = (Duration::ZERO, Duration::ZERO, 0);
    let total = deliveries.len();
    for (done, (i, msg)) in deliveries.into_iter().enumerate() {
        down[i as usize] += msg.len();
        let Some(state) = waiting.remove(&i) else { continue };
        if gone(&dropouts.during_unmask, i) {
            continue;
        }
        let start = Instant::now();
        let r = state.receive(&msg);
        client_time += start.elapsed();
        count += 1;
        match r {
            Ok(out) => {
                up[i as usize] += out.len();
                let start = Instant::now();
                let _ = server.receive(i, &out);
                server_time += start.elapsed();
            }
            Err(e) => client_errors.push((i, e)),
        }
        progress(Phase::Unmask, done + 1, total);
    }
    let start = Instant::now();
    let step = server.close_phase();
    server_time += start.elapsed();
    times[3] = PhaseTime {
        server: server_time,
        client_mean: mean(client_time, count),
    };
    let result = match step {
        Ok(Step::Done(agg)) => Ok(agg),
        Ok(Step::Deliver(_)) => unreachable_done(),
        Err(e) => Err(e),
    };
    report(result, times, survivors, &up, &down, client_errors)
}

/// The server's phase sequence is fixed: Done only after Unmask.
#[cold]
fn unreachable_done() -> ! {
    unreachable!("server phase order is fixed")
}
