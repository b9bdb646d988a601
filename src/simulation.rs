//! A whole round in one process, every message through encode and decode:
//! the engine of `secagg simulate`, of the property tests and of the
//! benchmarks.
//!
//! ```
//! use secagg::simulation::{run, Dropouts};
//! use secagg::{Graph, Params};
//! use rand_core::SeedableRng;
//! let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1); // OS randomness in real use
//! let params = Params::new(5, 3, 32, 8, Graph::Complete)?;
//! let inputs: Vec<Vec<u64>> = (1..=5).map(|i| vec![i; 8]).collect();
//! let dropouts = Dropouts { after_shares: vec![2], ..Default::default() };
//! let report = run(&params, &inputs, &dropouts, &mut rng);
//! let agg = report.result?;
//! assert_eq!(agg.survivors, vec![1, 3, 4, 5]);
//! assert_eq!(agg.sum, vec![1 + 3 + 4 + 5; 8]);
//! # Ok::<(), secagg::Error>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, Rng, SeedableRng};

use crate::bench::{ServerHeapUsage, ServerScope, server_heap};
use crate::crypto::identity::{Identity, Roster};
use crate::error::{ClientIndex, Error, Phase};
use crate::params::{Params, RoundId};
use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask};
use crate::protocol::server::{Aggregate, Outbox, Server, Step};

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
    /// Send MaskedInput, then never answer the consistency request
    /// (malicious model; in the semi-honest model the same as
    /// `during_unmask`).
    pub during_consistency: Vec<ClientIndex>,
    /// Send MaskedInput (and a consistency signature), then never answer
    /// the unmask request.
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
    /// Per phase, in protocol order: AdvertiseKeys, ShareKeys,
    /// MaskedInput, Consistency (zero in the semi-honest model), Unmask.
    pub times: [PhaseTime; 5],
    /// Mean bytes a participating client sent over the round.
    pub upload_per_client: f64,
    /// Mean bytes a participating client received over the round.
    pub download_per_client: f64,
    /// |U1|, |U2|, |U3| as the server closed them.
    pub survivors: [usize; 3],
    /// Clients that refused a server message, with the reason.
    pub client_errors: Vec<(ClientIndex, Error)>,
    /// The round id the round ran under (drawn first from the RNG).
    pub round: RoundId,
    /// The most heap the server held at once over the round, in bytes
    /// (everything allocated inside its calls and not yet freed, above what
    /// was live when the round started): counted by
    /// `secagg::bench::ServerHeap`, so `None` unless the binary installs it
    /// as its global allocator.
    pub server_peak_heap: Option<u64>,
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

/// The clients' input vectors of a simulated round: n vectors held in
/// memory (a slice or a `Vec` of them), or vectors made when each client
/// needs its own ([`RandomInputs`]), so that a round of many clients does
/// not hold `n m` elements at once.
pub trait Inputs {
    /// The number of vectors, which must be n.
    fn count(&self) -> usize;
    /// Client `index`'s vector (`1..=count()`), of m elements below `2^b`.
    ///
    /// # Panics
    /// May panic if `index` is not in `1..=count()`.
    fn input(&self, index: ClientIndex) -> Cow<'_, [u64]>;
}

impl Inputs for [Vec<u64>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn input(&self, index: ClientIndex) -> Cow<'_, [u64]> {
        Cow::Borrowed(&self[index as usize - 1])
    }
}

impl Inputs for Vec<Vec<u64>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn input(&self, index: ClientIndex) -> Cow<'_, [u64]> {
        self.as_slice().input(index)
    }
}

impl<const N: usize> Inputs for [Vec<u64>; N] {
    fn count(&self) -> usize {
        N
    }
    fn input(&self, index: ClientIndex) -> Cow<'_, [u64]> {
        self.as_slice().input(index)
    }
}

/// Uniform inputs below `2^b`, each client's vector made when it is asked
/// for: client `i`'s vector is the first `8 m` bytes of stream `i` of
/// ChaCha20 keyed by a 32-byte key drawn once, read as little-endian
/// `u64` and reduced mod `2^b`. Holds the key only, so a round of n clients
/// needs one vector of memory for the inputs instead of n.
///
/// ```
/// use secagg::simulation::{run, Dropouts, Inputs, RandomInputs};
/// use secagg::{Graph, Params};
/// use rand_core::SeedableRng;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
/// let params = Params::new(5, 3, 16, 8, Graph::Complete)?;
/// let inputs = RandomInputs::new(&params, &mut rng);
/// assert_eq!(inputs.count(), 5);
/// assert!(inputs.input(2).iter().all(|&x| x < 1 << 16));
/// assert_eq!(inputs.input(2), inputs.input(2));
/// let report = run(&params, &inputs, &Dropouts::default(), &mut rng);
/// assert!(report.ok());
/// # Ok::<(), secagg::Error>(())
/// ```
pub struct RandomInputs {
    key: [u8; 32],
    count: usize,
    dim: usize,
    bits: u8,
}

impl RandomInputs {
    /// n inputs of m elements below `2^b`, as `params` gives them, from a
    /// key drawn from `rng`.
    pub fn new<R: CryptoRng + ?Sized>(params: &Params, rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self {
            key,
            count: params.clients_usize(),
            dim: params.dim_usize(),
            bits: params.bits(),
        }
    }
}

impl core::fmt::Debug for RandomInputs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RandomInputs")
            .field("count", &self.count)
            .field("dim", &self.dim)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl Inputs for RandomInputs {
    fn count(&self) -> usize {
        self.count
    }
    fn input(&self, index: ClientIndex) -> Cow<'_, [u64]> {
        let top = crate::vector::mask(self.bits);
        // Chunk `c` starts at keystream block `c * INPUT_CHUNK / 8` of the
        // stream, so the chunks can be drawn in parallel.
        let fill = |(c, chunk): (usize, &mut [u64])| {
            let mut rng = chacha20::ChaCha20Rng::from_seed(self.key);
            rng.set_stream(u64::from(index));
            rng.set_block_pos((c * INPUT_CHUNK / 8) as u64);
            let mut bytes = vec![0u8; chunk.len() * 8];
            rng.fill_bytes(&mut bytes);
            for (x, b) in chunk.iter_mut().zip(bytes.chunks_exact(8)) {
                *x = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) & top;
            }
        };
        let mut out = vec![0u64; self.dim];
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            out.par_chunks_mut(INPUT_CHUNK).enumerate().for_each(fill);
        }
        #[cfg(not(feature = "parallel"))]
        out.chunks_mut(INPUT_CHUNK).enumerate().for_each(fill);
        Cow::Owned(out)
    }
}

/// Elements of one [`RandomInputs`] draw: 64 KiB of keystream, a whole
/// number of 64-byte blocks.
const INPUT_CHUNK: usize = 8192;

fn mean(total: Duration, count: usize) -> Duration {
    u32::try_from(count)
        .ok()
        .filter(|&c| c > 0)
        .map_or(Duration::ZERO, |c| total / c)
}

/// Runs one round of `params` with `inputs.input(i)` as client `i`'s vector.
/// Clients that refuse a server message drop out from then on (their errors
/// are in [`Report::client_errors`]).
///
/// # Panics
/// If `inputs.count()` is not n (a caller bug, not an input error).
pub fn run<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
) -> Report {
    run_with_progress(params, inputs, dropouts, rng, &mut |_, _, _| {})
}

/// [`run`], calling `progress(phase, done, total)` as clients are processed.
///
/// # Panics
/// If `inputs.count()` is not n.
pub fn run_with_progress<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Report {
    honestly(params, inputs, dropouts, rng, progress, Clients::InTurn)
}

/// [`run_with_progress`] with the clients of each phase run side by side on
/// every core (with the `parallel` feature; one after the other without it),
/// for rounds of many clients: the round of n = 10^6 clients is one client's
/// work a million times over.
///
/// Each client draws from its own ChaCha20 stream instead of taking turns on
/// `rng`: at the start of each phase a 32-byte key is drawn from `rng`, and
/// client `i` reads stream `i` of that key. So the round differs from
/// [`run`]'s for the same `rng` (keys, masks and shares), and it is exact in
/// the same way and the same whatever the number of threads. The clients'
/// times ([`PhaseTime::client_mean`]) are each client's own wall time while
/// the others share the machine, so they are not the one-client figures
/// [`run`] gives.
///
/// ```
/// use secagg::simulation::{run_concurrent, Dropouts};
/// use secagg::{Graph, Params};
/// use rand_core::SeedableRng;
/// let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
/// let params = Params::new(20, 11, 32, 8, Graph::Harary { degree: 14, seed: [0; 32] })?;
/// let inputs: Vec<Vec<u64>> = (1..=20).map(|i| vec![i; 8]).collect();
/// let dropouts = Dropouts { after_shares: vec![4, 9], ..Default::default() };
/// let report = run_concurrent(&params, &inputs, &dropouts, &mut rng, &mut |_, _, _| {});
/// assert!(report.ok());
/// assert_eq!(report.result?.sum, vec![210 - 4 - 9; 8]);
/// # Ok::<(), secagg::Error>(())
/// ```
///
/// # Panics
/// If `inputs.count()` is not n.
pub fn run_concurrent<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
) -> Report {
    honestly(params, inputs, dropouts, rng, progress, Clients::Concurrent)
}

/// [`drive`] over an honest wire, the server taking the client messages
/// [`UPLOAD_BATCH`] at a time.
fn honestly<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
    clients: Clients,
) -> Report {
    let pace = Pace {
        batch: UPLOAD_BATCH,
        clients,
    };
    drive(params, inputs, dropouts, rng, progress, &mut Honest, pace)
}

/// [`run`], calling `record` with every message after its receiver handled
/// it, in the order of the round (the transcripts of protocols/v1).
///
/// # Panics
/// If `inputs.count()` is not n.
pub fn run_recorded<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    record: &mut dyn FnMut(&Event<'_>),
) -> Report {
    drive(
        params,
        inputs,
        dropouts,
        rng,
        &mut |_, _, _| {},
        &mut Recorder(record),
        Pace {
            batch: 1,
            clients: Clients::InTurn,
        },
    )
}

/// [`run`] over `wire`, which may alter, repeat or inject client messages
/// and alter server messages in flight (the bad_* vectors of protocols/v1).
///
/// # Panics
/// If `inputs.count()` is not n.
pub fn run_on_wire<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    wire: &mut dyn Wire,
) -> Report {
    drive(
        params,
        inputs,
        dropouts,
        rng,
        &mut |_, _, _| {},
        wire,
        Pace {
            batch: 1,
            clients: Clients::InTurn,
        },
    )
}

/// Which way a message travels, and the client at the other end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a client to the server; `from` is the sender as the server is
    /// told it (the host's authenticated index, which a wire may forge).
    ToServer {
        /// The sender.
        from: ClientIndex,
    },
    /// From the server to one client.
    ToClient {
        /// The receiver.
        to: ClientIndex,
    },
}

/// One message of a simulated round, after its receiver handled it.
#[derive(Debug)]
pub struct Event<'a> {
    /// The phase the message belongs to. A server message belongs to the
    /// phase whose close produced it: a KeyBroadcast to
    /// [`Phase::AdvertiseKeys`], a ShareDelivery to [`Phase::ShareKeys`], a
    /// ConsistencyRequest (or, semi-honest, an UnmaskRequest) to
    /// [`Phase::MaskedInput`], a malicious-model UnmaskRequest to
    /// [`Phase::Consistency`].
    pub phase: Phase,
    /// Who sent it or who receives it.
    pub direction: Direction,
    /// The bytes as delivered.
    pub bytes: &'a [u8],
    /// The receiver's error when it refused the message. A server message to
    /// a client that dropped out is never handled, so never refused.
    pub refused: Option<Error>,
}

/// The network between the clients and the server of a simulated round. The
/// default methods deliver every message unchanged and observe nothing.
pub trait Wire {
    /// Client `from` sent `bytes` in `phase`; returns what the server receives
    /// instead, in order, as `(claimed sender, bytes)`.
    fn on_client_message(
        &mut self,
        phase: Phase,
        from: ClientIndex,
        bytes: Vec<u8>,
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        let _ = phase;
        vec![(from, bytes)]
    }

    /// The server sent `bytes` to client `to` at the close of `phase`;
    /// returns what the client receives instead.
    fn on_server_message(&mut self, phase: Phase, to: ClientIndex, bytes: Vec<u8>) -> Vec<u8> {
        let _ = (phase, to);
        bytes
    }

    /// A message was delivered and handled by its receiver.
    fn on_delivered(&mut self, event: &Event<'_>) {
        let _ = event;
    }
}

/// The wire of [`run`]: everything arrives unchanged.
struct Honest;

impl Wire for Honest {}

/// The wire of [`run_recorded`].
struct Recorder<'a>(&'a mut dyn FnMut(&Event<'_>));

impl Wire for Recorder<'_> {
    fn on_delivered(&mut self, event: &Event<'_>) {
        (self.0)(event);
    }
}

/// How many client messages [`run`] and [`run_with_progress`] hand to the
/// server at once ([`Server::receive_all`]), unless they reach
/// [`UPLOAD_BATCH_BYTES`] first.
const UPLOAD_BATCH: usize = 256;

/// The most bytes of client messages queued for one [`Server::receive_all`].
const UPLOAD_BATCH_BYTES: usize = 1 << 20;

/// Client messages on their way to the server through the wire, handed
/// over `batch` at a time (one at a time with a wire that observes them,
/// so its events keep their order).
struct Uploads {
    phase: Phase,
    batch: usize,
    pending: Vec<(ClientIndex, Vec<u8>)>,
    bytes: usize,
}

impl Uploads {
    fn new(phase: Phase, batch: usize) -> Self {
        Self {
            phase,
            batch: batch.max(1),
            pending: Vec::new(),
            bytes: 0,
        }
    }

    /// Queues what arrives of client `from`'s message `bytes`, handing the
    /// queue to the server whenever it is full; returns the time the
    /// server spent.
    fn push(
        &mut self,
        server: &mut Server,
        wire: &mut dyn Wire,
        from: ClientIndex,
        bytes: Vec<u8>,
    ) -> Duration {
        let mut spent = Duration::ZERO;
        for (claimed, msg) in wire.on_client_message(self.phase, from, bytes) {
            self.bytes += msg.len();
            self.pending.push((claimed, msg));
            if self.pending.len() >= self.batch || self.bytes >= UPLOAD_BATCH_BYTES {
                spent += self.flush(server, wire);
            }
        }
        spent
    }

    /// Hands every queued message to the server; returns its time.
    fn flush(&mut self, server: &mut Server, wire: &mut dyn Wire) -> Duration {
        if self.pending.is_empty() {
            return Duration::ZERO;
        }
        let batch: Vec<(ClientIndex, &[u8])> = self
            .pending
            .iter()
            .map(|(i, m)| (*i, m.as_slice()))
            .collect();
        // A rejected message is the sender's problem; the server records it.
        let (verdicts, time) = serve(|| server.receive_all(&batch));
        for ((claimed, msg), verdict) in self.pending.iter().zip(verdicts) {
            wire.on_delivered(&Event {
                phase: self.phase,
                direction: Direction::ToServer { from: *claimed },
                bytes: msg,
                refused: verdict.err(),
            });
        }
        self.pending.clear();
        self.bytes = 0;
        time
    }
}

/// Reports a server message to `wire` once its receiver handled it (or
/// ignored it, having dropped out).
fn downloaded(
    wire: &mut dyn Wire,
    phase: Phase,
    to: ClientIndex,
    bytes: &[u8],
    refused: Option<Error>,
) {
    wire.on_delivered(&Event {
        phase,
        direction: Direction::ToClient { to },
        bytes,
        refused,
    });
}

/// How [`drive`] moves the round along: client messages go to the server
/// `batch` at a time ([`Uploads`]), and the clients run as `clients` says.
#[derive(Clone, Copy, Debug)]
struct Pace {
    batch: usize,
    clients: Clients,
}

/// How [`drive`] runs the clients' side of each phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clients {
    /// One client at a time on this thread, each drawing from the round's
    /// rng in the documented order.
    InTurn,
    /// [`CONCURRENT_CHUNK`] clients at a time on the rayon pool, each
    /// drawing from its own stream ([`run_concurrent`]).
    Concurrent,
}

/// The most input and output a [`Clients::Concurrent`] phase holds at once
/// for the clients it runs side by side: 64 MiB, at 8 bytes per element of
/// each client's input (its masked input is no larger).
const CONCURRENT_BYTES: usize = 64 << 20;

/// The most clients a [`Clients::Concurrent`] phase runs at once: enough
/// to keep every core busy between the server's turns.
const CONCURRENT_CHUNK: usize = 256;

impl Clients {
    /// How many clients to take at a time: one in turn; concurrently
    /// [`CONCURRENT_CHUNK`], fewer where their vectors would pass
    /// [`CONCURRENT_BYTES`] (8 clients at m = 10^6), never fewer than two.
    fn chunk(self, params: &Params) -> usize {
        match self {
            Self::InTurn => 1,
            Self::Concurrent => {
                (CONCURRENT_BYTES / (8 * params.dim_usize()).max(1)).clamp(2, CONCURRENT_CHUNK)
            }
        }
    }

    /// The key of this phase's per-client streams, drawn from `rng`
    /// ([`Clients::Concurrent`] only: [`Clients::InTurn`] draws nothing, so
    /// the documented order stays).
    fn phase_key<R: CryptoRng + ?Sized>(self, rng: &mut R) -> Option<[u8; 32]> {
        (self == Self::Concurrent).then(|| {
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key);
            key
        })
    }

    /// Runs `job` on each of `jobs` (a client and what it works on) and
    /// times each, giving the results in the order of `jobs`. With a `key`
    /// the jobs run in parallel, client `i` drawing from stream `i` of
    /// ChaCha20 under `key`; without one they run in turn, drawing from
    /// `rng`.
    fn work<J, T, R>(
        key: Option<[u8; 32]>,
        rng: &mut R,
        jobs: Vec<(ClientIndex, J)>,
        job: impl Fn(J, &mut dyn CryptoRng) -> T + Sync,
    ) -> Vec<(ClientIndex, T, Duration)>
    where
        J: Send,
        T: Send,
        R: CryptoRng + ?Sized,
    {
        let timed = |job_rng: &mut dyn CryptoRng, j: J| {
            let start = Instant::now();
            let out = job(j, job_rng);
            (out, start.elapsed())
        };
        let Some(key) = key else {
            let mut rng = rng;
            return jobs
                .into_iter()
                .map(|(i, j)| {
                    let (out, time) = timed(&mut rng, j);
                    (i, out, time)
                })
                .collect();
        };
        let one = |(i, j): (ClientIndex, J)| {
            let mut own = chacha20::ChaCha20Rng::from_seed(key);
            own.set_stream(u64::from(i));
            let (out, time) = timed(&mut own, j);
            (i, out, time)
        };
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            jobs.into_par_iter().map(one).collect()
        }
        #[cfg(not(feature = "parallel"))]
        jobs.into_iter().map(one).collect()
    }
}

/// The one round driver behind [`run`], [`run_with_progress`],
/// [`run_recorded`] and [`run_on_wire`]; the server takes client messages
/// `batch` at a time ([`Uploads`]), 1 for a wire that sees every event. Randomness is drawn in a fixed
/// order (spec/conformance.md relies on it): the round id (32 bytes); in the
/// malicious model each client's identity (32 bytes) in ascending index
/// order; the server's nonce; each client's R0 keys in ascending index
/// order; each client's R1 draws in ascending index order. With
/// [`Clients::Concurrent`] the clients draw from their own streams instead,
/// keyed by 32 bytes drawn at the start of each of the five client phases
/// (before R0, R1, R2, the consistency phase when there is one, and R3).
///
/// Every `Server` call runs inside a [`ServerScope`] ([`serve`]) and no
/// client work runs during one (clients and server take turns on this
/// thread; their rayon work ends before the call returns), so what the
/// scopes count is the server's alone ([`Report::server_peak_heap`]).
fn drive<I: Inputs + ?Sized, R: CryptoRng + ?Sized>(
    params: &Params,
    inputs: &I,
    dropouts: &Dropouts,
    rng: &mut R,
    progress: &mut dyn FnMut(Phase, usize, usize),
    wire: &mut dyn Wire,
    pace: Pace,
) -> Report {
    let n = params.clients_usize();
    assert_eq!(inputs.count(), n, "one input per client");
    let mut times = [PhaseTime::default(); 5];
    let mut survivors = [0usize; 3];
    let bits = params.bits();

    // The server's heap is counted from here (when the allocator is in).
    let heap_base = server_heap().map(|_| ServerHeapUsage::reset_peak().live);
    let mut round: RoundId = [0; 32];
    rng.fill_bytes(&mut round);
    let report = |result: Result<Aggregate, Error>,
                  times: [PhaseTime; 5],
                  survivors: [usize; 3],
                  tally: Tally| {
        let expected = result.as_ref().ok().map(|agg| {
            let mut sum = vec![0u64; params.dim_usize()];
            for &u in &agg.survivors {
                crate::vector::add_assign(&mut sum, &inputs.input(u));
            }
            crate::vector::reduce(&mut sum, bits);
            sum
        });
        let active: Vec<usize> = (1..=n).filter(|&i| tally.up[i] > 0).collect();
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
            upload_per_client: avg(&tally.up),
            download_per_client: avg(&tally.down),
            survivors,
            client_errors: tally.client_errors,
            round,
            server_peak_heap: heap_base
                .and_then(|base| Some(server_heap()?.peak.saturating_sub(base))),
        }
    };
    let tally = Tally {
        up: vec![0; n + 1],
        down: vec![0; n + 1],
        client_errors: Vec::new(),
    };

    let identities: Vec<Identity> = if params.is_malicious() {
        (0..n).map(|_| Identity::generate(rng)).collect()
    } else {
        Vec::new()
    };
    let keys: Vec<[u8; 32]> = identities.iter().map(Identity::public_key).collect();
    let roster = match Roster::new(&keys) {
        Ok(r) => r,
        Err(e) => return report(Err(e), times, survivors, tally),
    };
    let (server, _) = serve(|| {
        if params.is_malicious() {
            Server::with_roster(params, round, &roster, rng)
        } else {
            Server::new(params, round, rng)
        }
    });
    let mut server = match server {
        Ok(s) => s,
        Err(e) => return report(Err(e), times, survivors, tally),
    };
    let mut desk = Desk {
        server: &mut server,
        wire,
        progress,
        tally,
        pace,
        chunk: pace.clients.chunk(params),
    };
    // The dropout lists, sorted once: each client is looked up in them, so
    // a linear search would cost O(n * dropouts) per phase (5 * 10^10
    // comparisons at n = 10^6 with 5 % dropping).
    let sorted = |list: &[ClientIndex]| {
        let mut list = list.to_vec();
        list.sort_unstable();
        list
    };
    let dropouts = &Dropouts {
        before_keys: sorted(&dropouts.before_keys),
        after_keys: sorted(&dropouts.after_keys),
        after_shares: sorted(&dropouts.after_shares),
        during_consistency: sorted(&dropouts.during_consistency),
        during_unmask: sorted(&dropouts.during_unmask),
    };
    let gone = |list: &[ClientIndex], i: ClientIndex| list.binary_search(&i).is_ok();
    let stays = |list: &[ClientIndex], i: ClientIndex| (!gone(list, i)).then_some(());
    // The phases; an error of the server's ends the round with it.
    let mut phases = || -> Result<Aggregate, Error> {
        // R0.
        let mut waiting: BTreeMap<ClientIndex, AwaitingKeys> = BTreeMap::new();
        let mut client_time = Duration::ZERO;
        let mut server_time = Duration::ZERO;
        let mut uploads = Uploads::new(Phase::AdvertiseKeys, pace.batch);
        let key = pace.clients.phase_key(rng);
        let present: Vec<ClientIndex> = (1..=params.clients())
            .filter(|&i| !gone(&dropouts.before_keys, i))
            .collect();
        for some in present.chunks(desk.chunk) {
            let jobs = some.iter().map(|&i| (i, i)).collect();
            let start =
                |i: ClientIndex, rng: &mut dyn CryptoRng| match identities.get(i as usize - 1) {
                    Some(id) => AwaitingKeys::with_identity(params, round, i, id, &roster, rng),
                    None => AwaitingKeys::new(params, round, i, rng),
                };
            for (i, started, time) in Clients::work(key, rng, jobs, start) {
                let Ok((state, msg)) = started else {
                    continue;
                };
                client_time += time;
                desk.tally.up[i as usize] += msg.len();
                server_time += uploads.push(desk.server, desk.wire, i, msg);
                waiting.insert(i, state);
                (desk.progress)(Phase::AdvertiseKeys, i as usize, n);
            }
        }
        server_time += uploads.flush(desk.server, desk.wire);
        let count = waiting.len();
        let (step, time) = desk.close();
        times[0] = PhaseTime {
            server: server_time + time,
            client_mean: mean(client_time, count),
        };
        let deliveries = step?;
        survivors[0] = serve(|| desk.server.survivor_sets()[0].len()).0;

        // R1.
        let r1 = desk.answer(
            deliveries,
            (Phase::AdvertiseKeys, Phase::ShareKeys),
            &mut waiting,
            |i| stays(&dropouts.after_keys, i),
            rng,
            |mut state, msg, (), rng| {
                let (next, out) = state.receive(msg, rng)?;
                Ok((Some(next), out))
            },
        );
        let (step, time) = desk.close();
        r1.record(&mut times, (0, 1), time);
        let deliveries = step?;
        let mut waiting: BTreeMap<ClientIndex, AwaitingShares> = r1.next;
        survivors[1] = serve(|| desk.server.survivor_sets()[1].len()).0;

        // R2.
        let r2 = desk.answer(
            deliveries,
            (Phase::ShareKeys, Phase::MaskedInput),
            &mut waiting,
            |i| (!gone(&dropouts.after_shares, i)).then(|| inputs.input(i)),
            rng,
            |mut state, msg, input, _| {
                let (next, out) = state.receive(msg, &input)?;
                Ok((Some(next), out))
            },
        );
        let (step, time) = desk.close();
        r2.record(&mut times, (1, 2), time);
        let mut deliveries = step?;
        let mut waiting: BTreeMap<ClientIndex, AwaitingUnmask> = r2.next;
        survivors[2] = serve(|| desk.server.survivor_sets()[2].len()).0;

        // Consistency (malicious model).
        let mut request_phase = Phase::MaskedInput;
        if params.is_malicious() {
            let signed = desk.answer(
                deliveries,
                (Phase::MaskedInput, Phase::Consistency),
                &mut waiting,
                |i| stays(&dropouts.during_consistency, i),
                rng,
                |mut state, msg, (), _| {
                    let out = state.consistency(msg)?;
                    Ok((Some(state), out))
                },
            );
            let (step, time) = desk.close();
            signed.record(&mut times, (2, 3), time);
            deliveries = step?;
            waiting.extend(signed.next);
            request_phase = Phase::Consistency;
        }

        // R3.
        let r3 = desk.answer(
            deliveries,
            (request_phase, Phase::Unmask),
            &mut waiting,
            |i| {
                let gone_now = gone(&dropouts.during_unmask, i)
                    || (!params.is_malicious() && gone(&dropouts.during_consistency, i));
                (!gone_now).then_some(())
            },
            rng,
            |mut state, msg, (), _| Ok((None::<AwaitingUnmask>, state.receive(msg)?)),
        );
        let asked = if params.is_malicious() { 3 } else { 2 };
        let (step, time) = serve(|| desk.server.close_phase());
        r3.record(&mut times, (asked, 4), time);
        match step? {
            Step::Done(agg) => Ok(agg),
            Step::Deliver(_) => unreachable_done(),
        }
    };
    let result = phases();
    report(result, times, survivors, desk.tally)
}

/// The bytes each client sent and received (indexed by client, 0 unused)
/// and the clients' refusals, over a round of [`drive`].
struct Tally {
    up: Vec<usize>,
    down: Vec<usize>,
    client_errors: Vec<(ClientIndex, Error)>,
}

/// What every client phase of [`drive`] works with: the server, the wire,
/// the progress callback, the tally and the pace.
struct Desk<'a> {
    server: &'a mut Server,
    wire: &'a mut dyn Wire,
    progress: &'a mut dyn FnMut(Phase, usize, usize),
    tally: Tally,
    pace: Pace,
    /// Clients taken at a time ([`Clients::chunk`]).
    chunk: usize,
}

/// What one client phase of [`Desk::answer`] gave.
struct Answered<N> {
    /// The clients' next states, of those that answered.
    next: BTreeMap<ClientIndex, N>,
    /// The clients' time, summed.
    client: Duration,
    /// The server's time taking the answers.
    server: Duration,
    /// The server's time building its messages (the work of closing the
    /// phase before).
    built: Duration,
    /// The clients that handled their message, answering or refusing it.
    count: usize,
}

impl<N> Answered<N> {
    /// Records the phase in `times`: at `at` the server's time taking the
    /// answers plus `closing` (its close of the phase), and the clients'
    /// mean over those that handled their message; at `asked`, the phase
    /// whose messages they answered, the time spent building those.
    fn record(&self, times: &mut [PhaseTime; 5], (asked, at): (usize, usize), closing: Duration) {
        if let Some(before) = times.get_mut(asked) {
            before.server += self.built;
        }
        if let Some(phase) = times.get_mut(at) {
            *phase = PhaseTime {
                server: self.server + closing,
                client_mean: mean(self.client, self.count),
            };
        }
    }
}

impl Desk<'_> {
    /// Closes the server's phase, timed: the messages it sends (every
    /// phase but the last delivers).
    fn close(&mut self) -> (Result<Outbox, Error>, Duration) {
        let (step, time) = serve(|| self.server.close_phase());
        let outbox = match step {
            Ok(Step::Deliver(d)) => Ok(d),
            Ok(Step::Done(_)) => unreachable_done(),
            Err(e) => Err(e),
        };
        (outbox, time)
    }

    /// One client phase: each message of `outbox` (the server's messages of
    /// phase `from`) is built when reached; a receiver still `waiting` that
    /// `admit` lets through (with what it needs beside its state, such as
    /// its input) handles it with `answer` (in turn or side by side, as the
    /// pace says), and its answer of phase `to` goes to the server. Others
    /// drop their state and ignore the message.
    fn answer<S, X, N, R>(
        &mut self,
        outbox: Outbox,
        (from, to): (Phase, Phase),
        waiting: &mut BTreeMap<ClientIndex, S>,
        mut admit: impl FnMut(ClientIndex) -> Option<X>,
        rng: &mut R,
        answer: impl Fn(S, &[u8], X, &mut dyn CryptoRng) -> Result<(Option<N>, Vec<u8>), Error> + Sync,
    ) -> Answered<N>
    where
        S: Send,
        X: Send,
        N: Send,
        R: CryptoRng + ?Sized,
    {
        let mut out = Answered {
            next: BTreeMap::new(),
            client: Duration::ZERO,
            server: Duration::ZERO,
            built: Duration::ZERO,
            count: 0,
        };
        let (total, mut done) = (outbox.len(), 0);
        let mut uploads = Uploads::new(to, self.pace.batch);
        let mut messages = build(outbox, &mut out.built);
        let key = self.pace.clients.phase_key(rng);
        let job = |(state, msg, extra): (S, Vec<u8>, X), rng: &mut dyn CryptoRng| {
            let r = answer(state, &msg, extra, rng);
            (msg, r)
        };
        loop {
            let (mut jobs, before) = (Vec::new(), done);
            for (i, msg) in messages.by_ref().take(self.chunk) {
                done += 1;
                let msg = self.wire.on_server_message(from, i, msg);
                self.tally.down[i as usize] += msg.len();
                match waiting.remove(&i).zip(admit(i)) {
                    Some((state, extra)) => jobs.push((i, (state, msg, extra))),
                    None => downloaded(self.wire, from, i, &msg, None),
                }
            }
            if done == before {
                break;
            }
            for (i, (msg, r), time) in Clients::work(key, rng, jobs, job) {
                out.client += time;
                out.count += 1;
                downloaded(self.wire, from, i, &msg, r.as_ref().err().copied());
                match r {
                    Ok((state, answer)) => {
                        self.tally.up[i as usize] += answer.len();
                        out.server += uploads.push(self.server, self.wire, i, answer);
                        if let Some(state) = state {
                            out.next.insert(i, state);
                        }
                    }
                    Err(e) => self.tally.client_errors.push((i, e)),
                }
            }
            (self.progress)(to, done, total);
        }
        drop(messages);
        out.server += uploads.flush(self.server, self.wire);
        out
    }
}

/// Runs one server call `f` inside a [`ServerScope`] (its allocations are
/// the server's heap), and times it.
fn serve<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let _scope = ServerScope::open();
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// The messages of `outbox`, each built when it is reached inside a
/// [`ServerScope`] ([`serve`]): building them is the server's work, closing
/// the phase before, timed into `*time`, and each message is the server's
/// heap until the client drops it. One message is built at a time and
/// [`drive`] takes one client's (or one concurrent chunk's) at a time, so
/// the round never holds all the R1 deliveries.
fn build(outbox: Outbox, time: &mut Duration) -> impl Iterator<Item = (ClientIndex, Vec<u8>)> {
    let mut messages = outbox.into_iter();
    core::iter::from_fn(move || {
        let (item, spent) = serve(|| messages.next());
        *time += spent;
        item
    })
}

/// The server's phase sequence is fixed: Done only after Unmask.
#[cold]
fn unreachable_done() -> ! {
    unreachable!("server phase order is fixed")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::Graph;

    /// Without `bench::ServerHeap` as the global allocator (this test
    /// binary has none) the server's heap is unknown, not zero.
    #[test]
    fn random_inputs_are_below_the_modulus_and_fixed_per_client() {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(9);
        for bits in [1u8, 7, 32, 63, 64] {
            let p = Params::new(3, 2, bits, 64, Graph::Complete).unwrap();
            let inputs = RandomInputs::new(&p, &mut rng);
            assert_eq!(inputs.count(), 3);
            let all: Vec<Vec<u64>> = (1..=3).map(|i| inputs.input(i).into_owned()).collect();
            for v in &all {
                assert_eq!(v.len(), 64);
                assert!(bits == 64 || v.iter().all(|&x| x < 1u64 << bits));
                // The top bit of the range is used (64 draws: fails with
                // probability 2^-64).
                let top = 1u64 << (bits - 1);
                assert!(v.iter().any(|&x| x & top != 0), "bits {bits}");
            }
            // Each call gives the same vector; clients get different ones.
            assert_eq!(inputs.input(2).as_ref(), &all[1][..]);
            assert_ne!(all[0], all[1]);
            assert_ne!(all[1], all[2]);
        }
    }

    #[test]
    fn random_inputs_are_one_keystream_per_client_whatever_the_chunks() {
        let m = 2 * INPUT_CHUNK + 5;
        let p = Params::new(4, 2, 64, m as u32, Graph::Complete).unwrap();
        let inputs = RandomInputs::new(&p, &mut chacha20::ChaCha20Rng::seed_from_u64(3));
        for i in [1u32, 4] {
            let mut rng = chacha20::ChaCha20Rng::from_seed(inputs.key);
            rng.set_stream(u64::from(i));
            let mut bytes = vec![0u8; 8 * m];
            rng.fill_bytes(&mut bytes);
            let expected: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert_eq!(inputs.input(i).as_ref(), &expected[..], "client {i}");
        }
    }

    #[test]
    fn inputs_made_on_demand_give_the_round_of_the_same_vectors_in_memory() {
        let params = Params::new(6, 3, 20, 300, Graph::Complete).unwrap();
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(4);
        let lazy = RandomInputs::new(&params, &mut rng);
        let held: Vec<Vec<u64>> = (1..=6).map(|i| lazy.input(i).into_owned()).collect();
        let dropouts = Dropouts {
            after_shares: vec![2],
            ..Default::default()
        };
        let a = run(
            &params,
            &lazy,
            &dropouts,
            &mut chacha20::ChaCha20Rng::seed_from_u64(5),
        );
        let b = run(
            &params,
            &held,
            &dropouts,
            &mut chacha20::ChaCha20Rng::seed_from_u64(5),
        );
        assert!(a.ok() && b.ok());
        let agg = a.result.unwrap();
        assert_eq!(agg, b.result.unwrap());
        let mut sum = vec![0u64; 300];
        for u in [1, 3, 4, 5, 6] {
            crate::vector::add_assign(&mut sum, &held[u - 1]);
        }
        crate::vector::reduce(&mut sum, 20);
        assert_eq!(agg.survivors, vec![1, 3, 4, 5, 6]);
        assert_eq!(agg.sum, sum);
    }

    /// The concurrent round: exact under dropouts at every phase, in both
    /// models; the same messages whatever the number of threads; every
    /// client's keys its own; and not the in-turn round of the same seed
    /// (the per-client streams are used).
    #[cfg(feature = "parallel")]
    #[test]
    fn concurrent_clients_give_an_exact_round_whatever_the_threads() {
        use crate::codec::Decode;
        use crate::params::ServerModel;
        use crate::protocol::messages::AdvertiseKeys;

        let n = 24u32;
        let graph = Graph::Harary {
            degree: 14,
            seed: [7; 32],
        };
        let semi = Params::new(n, 9, 32, 40, graph).unwrap();
        let malicious = semi
            .clone()
            .with_model(ServerModel::Malicious { corrupt: 0 })
            .unwrap();
        let inputs: Vec<Vec<u64>> = (1..=u64::from(n))
            .map(|i| (0..40).map(|j| i * 1000 + j).collect())
            .collect();
        let dropouts = Dropouts {
            before_keys: vec![2],
            after_keys: vec![3],
            after_shares: vec![5, 8],
            during_consistency: vec![11],
            during_unmask: vec![13],
        };
        type Transcript = Vec<(Phase, Direction, Vec<u8>, Option<Error>)>;
        let round = |params: &Params, threads: usize, clients: Clients| -> (Report, Transcript) {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut events = Vec::new();
                let mut record = |e: &Event<'_>| {
                    events.push((e.phase, e.direction, e.bytes.to_vec(), e.refused));
                };
                let report = drive(
                    params,
                    &inputs,
                    &dropouts,
                    &mut chacha20::ChaCha20Rng::seed_from_u64(6),
                    &mut |_, _, _| {},
                    &mut Recorder(&mut record),
                    Pace {
                        batch: UPLOAD_BATCH,
                        clients,
                    },
                );
                (report, events)
            })
        };
        for params in [&semi, &malicious] {
            let (one, events) = round(params, 1, Clients::Concurrent);
            assert!(one.ok(), "{:?}", one.result);
            let agg = one.result.as_ref().unwrap();
            // 2 and 3 never sent ShareKeys, 5 and 8 never sent MaskedInput;
            // 11 and 13 did, so their inputs count.
            let expected: Vec<u32> = (1..=n).filter(|i| ![2, 3, 5, 8].contains(i)).collect();
            assert_eq!(agg.survivors, expected);
            let mut sum = vec![0u64; 40];
            for &u in &expected {
                crate::vector::add_assign(&mut sum, &inputs[u as usize - 1]);
            }
            crate::vector::reduce(&mut sum, 32);
            assert_eq!(agg.sum, sum);

            let (three, same) = round(params, 3, Clients::Concurrent);
            assert_eq!(three.result, one.result);
            assert!(events == same, "the transcript depends on the threads");

            let keys = |events: &Transcript| -> Vec<[u8; 32]> {
                events
                    .iter()
                    .filter(|(phase, d, _, _)| {
                        *phase == Phase::AdvertiseKeys && matches!(d, Direction::ToServer { .. })
                    })
                    .flat_map(|(_, _, bytes, _)| {
                        let m = AdvertiseKeys::decode(params, bytes).unwrap();
                        [m.c_pk, m.s_pk]
                    })
                    .collect()
            };
            let mut ours = keys(&events);
            assert_eq!(ours.len(), 2 * (n as usize - 1));
            let (_, in_turn) = round(params, 1, Clients::InTurn);
            let theirs = keys(&in_turn);
            assert!(ours.iter().all(|k| !theirs.contains(k)));
            ours.sort_unstable();
            ours.dedup();
            assert_eq!(
                ours.len(),
                2 * (n as usize - 1),
                "two clients drew the same key"
            );
        }
    }

    #[test]
    fn without_the_allocator_the_server_heap_is_unknown() {
        let params = Params::new(4, 3, 32, 16, Graph::Complete).unwrap();
        let inputs = vec![vec![1u64; 16]; 4];
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
        let report = run(&params, &inputs, &Dropouts::default(), &mut rng);
        assert!(report.ok());
        assert_eq!(report.server_peak_heap, None);
        assert_eq!(crate::bench::server_heap(), None);
    }
}
