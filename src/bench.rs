//! The crate's hot paths, for `benches/` only (not part of the API: hidden
//! from the docs, and free to change with the internals it wraps).
//!
//! Each item runs one internal routine exactly as the protocol does, on
//! inputs the caller sets up, so a criterion bench can time it alone;
//! [`Floor`], the PRG floor that `secagg simulate` and the benches share;
//! and [`ServerHeap`], the allocator that counts the server's own heap in
//! a simulated round.

use std::time::{Duration, Instant};

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;

use crate::Prg;
use crate::crypto::feldman::{self, Commitments};
use crate::crypto::kx;
use crate::crypto::prg::{self, PrgKey, Sign};
use crate::crypto::shamir::{self, Share};
use crate::params::Params;
use crate::simulation::{Dropouts, Report};

/// Adds the mask of keystream `prg` under `key` (elements `0..acc.len()`,
/// modulus `2^bits`) into `acc`: the keystream and the lane arithmetic of
/// spec/crypto.md section 5, one thread.
pub fn add_mask(prg: Prg, key: &[u8; 32], bits: u8, acc: &mut [u64]) {
    prg::apply(prg, key, bits, 0, acc, Sign::Plus);
}

/// Adds every mask under `keys` into `acc` chunk by chunk, in parallel with
/// the `parallel` feature: the server's unmasking loop.
pub fn add_masks(prg: Prg, keys: &[[u8; 32]], bits: u8, acc: &mut [u64]) {
    let masks: Vec<(PrgKey, Sign)> = keys
        .iter()
        .map(|k| (PrgKey::new(*k), Sign::Minus))
        .collect();
    prg::apply_many(prg, &masks, bits, acc);
}

/// One secret dealt with Feldman commitments to holders `1..=holders`.
pub struct Dealing {
    shares: Vec<Share>,
    commitments: Commitments,
    secret: Scalar,
    threshold: usize,
}

impl core::fmt::Debug for Dealing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dealing")
            .field("holders", &self.shares.len())
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl Dealing {
    /// Deals a random secret with threshold `threshold` to `holders`
    /// holders (the dealer's work in ShareKeys, one sharing). `None` for
    /// arguments the sharing refuses.
    pub fn new<R: CryptoRng + ?Sized>(threshold: usize, holders: u32, rng: &mut R) -> Option<Self> {
        let secret = shamir::random_scalar(rng);
        let xs: Vec<u32> = (1..=holders).collect();
        let (shares, commitments) = feldman::split_committed(&secret, threshold, &xs, rng).ok()?;
        Some(Self {
            shares,
            commitments,
            secret,
            threshold,
        })
    }

    /// Interpolates the secret from the first t shares and says whether it
    /// is the one dealt (the server's reconstruction of one secret).
    pub fn reconstruct(&self) -> bool {
        let t = self.threshold.min(self.shares.len());
        shamir::interpolate_at_zero(&self.shares[..t]).is_ok_and(|s| s == self.secret)
    }

    /// Checks every share alone against the commitments (a holder's check
    /// without batching).
    pub fn verify_each(&self) -> bool {
        self.shares
            .iter()
            .all(|s| feldman::verify_share(&self.commitments, s.x, &s.y))
    }

    /// Checks every share in one batch with random weights from `rng` (the
    /// server's R3 check of one owner's shares).
    pub fn verify_batch<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> bool {
        let items: Vec<(&Commitments, u32, Scalar)> = self
            .shares
            .iter()
            .map(|s| (&self.commitments, s.x, s.y))
            .collect();
        feldman::verify_batch(&items, rng)
    }
}

/// The shares one holder was dealt in R2: one share at index `x` from each
/// of `items` secrets, each secret with its own commitments (a mask key and
/// a self-mask seed per neighbour: `2 k` items), as `bad_deliveries` checks
/// them (spec/crypto.md section 8.3, "Holder").
pub struct HolderShares {
    items: Vec<(Commitments, Scalar)>,
    x: u32,
}

impl core::fmt::Debug for HolderShares {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HolderShares")
            .field("items", &self.items.len())
            .field("x", &self.x)
            .finish_non_exhaustive()
    }
}

impl HolderShares {
    /// Deals `items` random secrets with threshold `threshold`, each to
    /// holders `1..threshold` and `x`, and keeps the share at `x`. `None`
    /// for arguments the sharing refuses (`threshold` 0, or `x` below
    /// `threshold`).
    pub fn new<R: CryptoRng + ?Sized>(
        items: usize,
        threshold: usize,
        x: u32,
        rng: &mut R,
    ) -> Option<Self> {
        let mut xs: Vec<u32> = (1..u32::try_from(threshold).ok()?).collect();
        xs.push(x);
        let items = (0..items)
            .map(|_| {
                let secret = shamir::random_scalar(rng);
                let (shares, c) = feldman::split_committed(&secret, threshold, &xs, rng).ok()?;
                Some((c, shares.last()?.y))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { items, x })
    }

    /// Checks every share in batches of `group` items (at least 1), the
    /// batches one after another on this thread, each with its own
    /// weights from `rng`: the holder's check without its parallelism.
    pub fn verify_batch<R: CryptoRng + ?Sized>(&self, group: usize, rng: &mut R) -> bool {
        let items: Vec<(&Commitments, u32, Scalar)> =
            self.items.iter().map(|(c, y)| (c, self.x, *y)).collect();
        let mut ok = true;
        for batch in items.chunks(group.max(1)) {
            ok &= feldman::verify_batch(batch, rng);
        }
        ok
    }
}

// ----- The PRG floor (DESIGN.md section 8) -----

/// The most keystream [`Floor::measure`] generates to time the PRG.
const FLOOR_SAMPLE_BYTES: usize = 64 << 20;
/// The least keystream [`Floor::measure`] generates, for a stable rate.
const FLOOR_MIN_SAMPLE_BYTES: usize = 8 << 20;

/// The physical floor of DESIGN.md section 8: the keystream a client and the
/// server of one round must generate and add, and how long that alone takes
/// on this machine. `secagg simulate` prints its ratios; the criterion
/// benches time the same routine ([`add_mask`], [`add_masks`]).
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// A client's (k + 1) * m * lane bytes.
    pub client_bytes: u64,
    /// The server's (|U3| + sum over dropped v of |N(v) ∩ U3|) * m * lane
    /// bytes; `None` when the round did not finish.
    pub server_bytes: Option<u64>,
    /// Keystream generated and added per second on one thread.
    pub rate: f64,
    /// The threads the PRG work is spread over.
    pub threads: usize,
    /// The public-key work the keystream floor leaves out, which no
    /// implementation of the protocol avoids either.
    pub public_key: PublicKeyWork,
}

/// The elliptic-curve work of a round that no implementation of spec/
/// avoids, on top of the keystream: what the server must do in R3 and the
/// least a client must do in R2, counted for `report`'s round and timed
/// on this machine ([`agreement_rate`], [`decompress_rate`]).
#[derive(Debug, Clone, Copy)]
pub struct PublicKeyWork {
    /// The server's X25519 agreements in R3: one per pair of a dropped
    /// client and a neighbour in U3 (to rebuild their pairwise mask key),
    /// plus one per dropped client (its rebuilt key must reproduce its
    /// advertised `s_pk`). `None` when the round did not finish.
    pub server_agreements: Option<u64>,
    /// The secrets the server rebuilds in R3 (a seed per member of U3, a
    /// mask key per dropped client), each checked against its dealer's
    /// `C_0` (spec/crypto.md section 8.3). `None` when the round did not
    /// finish.
    pub server_secrets: Option<u64>,
    /// Seconds one thread takes for that check: one variable-time
    /// multiscalar multiplication over one point per secret with 128-bit
    /// weights ([`multiscalar_seconds`]).
    pub server_multiscalar: Option<f64>,
    /// The Ristretto255 points a client decodes in R2 to check the shares
    /// it was dealt: `2 t` per neighbour (spec/crypto.md section 8.3).
    pub client_points: u64,
    /// X25519 agreements per second on one thread.
    pub agreement_rate: f64,
    /// Ristretto255 decodings per second on one thread.
    pub decompress_rate: f64,
    /// Seconds one thread takes for the batched check of the shares those
    /// points commit to, as the holder runs it: its groups one after
    /// another, each a Horner evaluation per share and one variable-time
    /// multiscalar multiplication ([`holder_check_seconds`]).
    pub client_multiscalar: f64,
}

impl PublicKeyWork {
    /// The server's agreements and its check of the rebuilt secrets, on
    /// all threads.
    pub fn server(&self, threads: usize) -> Option<Duration> {
        let agreements = self.server_agreements? as f64 / self.agreement_rate.max(1.0);
        Some(per_thread(
            agreements + self.server_multiscalar.unwrap_or(0.0),
            threads,
        ))
    }

    /// A client's decodings and its batched check, on all threads.
    pub fn client(&self, threads: usize) -> Duration {
        per_thread(
            self.client_points as f64 / self.decompress_rate.max(1.0) + self.client_multiscalar,
            threads,
        )
    }
}

fn per_thread(secs: f64, threads: usize) -> Duration {
    Duration::from_secs_f64(secs / threads.max(1) as f64)
}

impl Floor {
    /// Computes the byte counts of `report`'s round and times the round's
    /// PRG generate-and-add on one thread ([`keystream_rate`]). `None` when
    /// there is nothing to generate (m = 0).
    pub fn measure(params: &Params, dropouts: &Dropouts, report: &Report) -> Option<Self> {
        let lane = prg::lane_bytes(params.bits()) as u64;
        let row = u64::from(params.dim()) * lane;
        if row == 0 {
            return None;
        }
        let client_bytes = (u64::from(params.degree()) + 1) * row;
        // The pairwise masks to remove are those of the clients that sent
        // shares but no masked input, with their neighbours in U3: one
        // agreement each, and one more per such client for its s_pk.
        let removed = report.result.as_ref().ok().map(|agg| {
            let dropped: Vec<_> = dropouts
                .after_shares
                .iter()
                .filter(|v| agg.survivors.binary_search(v).is_err())
                .collect();
            let cancelled: u64 = dropped
                .iter()
                .map(|&&v| {
                    params
                        .neighbours(&report.round, v)
                        .iter()
                        .filter(|u| agg.survivors.binary_search(u).is_ok())
                        .count() as u64
                })
                .sum();
            (agg.survivors.len() as u64, cancelled, dropped.len() as u64)
        });
        let server_bytes = removed.map(|(u3, cancelled, _)| (u3 + cancelled) * row);
        let client_points = 2 * u64::from(params.degree()) * u64::from(params.threshold());
        let public_key = PublicKeyWork {
            server_agreements: removed.map(|(_, cancelled, dropped)| cancelled + dropped),
            server_secrets: removed.map(|(u3, _, dropped)| u3 + dropped),
            server_multiscalar: removed
                .map(|(u3, _, dropped)| multiscalar_seconds(u3 + dropped, 128)),
            client_points,
            agreement_rate: agreement_rate(),
            decompress_rate: decompress_rate(),
            client_multiscalar: holder_check_seconds(
                params.degree(),
                params.threshold(),
                params.clients(),
            ),
        };
        let sample = client_bytes.max(server_bytes.unwrap_or(0));
        let rate = keystream_rate(
            params.prg(),
            params.bits(),
            usize::try_from(sample).unwrap_or(usize::MAX),
        );
        Some(Self {
            client_bytes,
            server_bytes,
            rate,
            threads: prg_threads(),
            public_key,
        })
    }

    /// The server floor with its public-key work, on all threads.
    pub fn server_with_public_key(&self) -> Option<Duration> {
        Some(self.server()? + self.public_key.server(self.threads)?)
    }

    /// The client floor with its public-key work, on all threads.
    pub fn client_with_public_key(&self) -> Duration {
        self.client() + self.public_key.client(self.threads)
    }

    /// The client floor on all PRG threads.
    pub fn client(&self) -> Duration {
        self.time(self.client_bytes)
    }

    /// The server floor on all PRG threads.
    pub fn server(&self) -> Option<Duration> {
        self.server_bytes.map(|b| self.time(b))
    }

    fn time(&self, bytes: u64) -> Duration {
        per_thread(bytes as f64 / self.rate.max(1.0), self.threads)
    }
}

/// How many operations [`agreement_rate`] and [`decompress_rate`] time.
const PUBLIC_KEY_SAMPLE: u32 = 256;

/// X25519 agreements per second on one thread, through the routines the
/// server uses to rebuild a pairwise mask key: `kx::edwards_peer` for the
/// neighbour's key, then `kx::agree_rebuilt_all` in batches of the
/// server's size (spec/crypto.md section 3.1). Each key is prepared for one
/// agreement here, where the server prepares it once for all its dropped
/// neighbours: a slight overestimate.
pub fn agreement_rate() -> f64 {
    let secret = x25519_dalek::StaticSecret::from([0x42u8; 32]);
    let peers: Vec<[u8; 32]> = (0..PUBLIC_KEY_SAMPLE)
        .map(|i| {
            let mut sk = [0x17u8; 32];
            sk[..4].copy_from_slice(&i.to_le_bytes());
            kx::public_key(&x25519_dalek::StaticSecret::from(sk))
        })
        .collect();
    let start = Instant::now();
    let agreed: usize = peers
        .chunks(kx::REBUILT_BATCH)
        .map(|batch| {
            let prepared: Vec<_> = batch.iter().filter_map(kx::edwards_peer).collect();
            let pairs: Vec<_> = prepared.iter().map(|p| (&secret, p)).collect();
            kx::agree_rebuilt_all(&pairs)
                .iter()
                .filter(|k| k.is_some())
                .count()
        })
        .sum();
    std::hint::black_box(agreed);
    f64::from(PUBLIC_KEY_SAMPLE) / start.elapsed().as_secs_f64().max(1e-9)
}

/// Ristretto255 decodings per second on one thread (a point of a Feldman
/// commitment, spec/crypto.md section 8.2).
pub fn decompress_rate() -> f64 {
    let mut point = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
    let encoded: Vec<_> = (0..PUBLIC_KEY_SAMPLE)
        .map(|_| {
            point += curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
            point.compress()
        })
        .collect();
    let start = Instant::now();
    let decoded = encoded.iter().filter(|c| c.decompress().is_some()).count();
    std::hint::black_box(decoded);
    f64::from(PUBLIC_KEY_SAMPLE) / start.elapsed().as_secs_f64().max(1e-9)
}

/// The most points [`multiscalar_seconds`] multiplies at once.
const MULTISCALAR_SAMPLE_MAX: u64 = 1 << 16;

/// Seconds one thread takes for one variable-time multiscalar
/// multiplication over `points` Ristretto255 points with scalars below
/// `2^bits` (`bits` at most 256; 128 for the server's check of its rebuilt
/// secrets, spec/crypto.md section 8.3). Best of three. Above 2^16 points, 2^16 are timed and the time
/// scaled linearly (an overestimate: Pippenger's cost per point falls as
/// the count grows).
pub fn multiscalar_seconds(points: u64, bits: u32) -> f64 {
    use curve25519_dalek::traits::VartimeMultiscalarMul;
    use curve25519_dalek::{RistrettoPoint, Scalar, constants::RISTRETTO_BASEPOINT_POINT};
    if points == 0 {
        return 0.0;
    }
    let sample = points.min(MULTISCALAR_SAMPLE_MAX);
    let step = Scalar::from(0x9e37_79b9_7f4a_7c15u64) * Scalar::from(0x6a09_e667_f3bc_c909u64);
    let mut point = RISTRETTO_BASEPOINT_POINT;
    let mut scalar = step;
    // Bytes at and above bit `bits` cleared (whole bytes: 128 and 256 are
    // the sizes used).
    let keep = (bits.min(256) / 8) as usize;
    let (bases, scalars): (Vec<RistrettoPoint>, Vec<Scalar>) = (0..sample)
        .map(|_| {
            point += RISTRETTO_BASEPOINT_POINT;
            scalar *= step;
            let mut bytes = scalar.to_bytes();
            bytes[keep..].fill(0);
            (point, Scalar::from_bytes_mod_order(bytes))
        })
        .unzip();
    let best = (0..3)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(RistrettoPoint::vartime_multiscalar_mul(&scalars, &bases));
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    best * points as f64 / sample as f64
}

/// Seconds one thread takes for a holder's batched check of the shares
/// dealt to it by `degree` neighbours (a mask-key share and a seed share
/// each, threshold `threshold`) at index `x`: the client's R2 check
/// (spec/crypto.md section 8.3) in its groups, one after another, on
/// random sharings of random secrets. Best of three. Falls back to one
/// full-size multiscalar multiplication over the `2 k t` points when the
/// sharing refuses the arguments (`threshold` 0 or above `x`).
pub fn holder_check_seconds(degree: u32, threshold: u32, x: u32) -> f64 {
    use rand_core::SeedableRng;
    let items = 2 * degree as usize;
    // Public, made-up sharings: a fixed seed makes every run check the same.
    let mut rng = chacha20::ChaCha20Rng::from_seed([7; 32]);
    let Some(holder) = HolderShares::new(items, threshold as usize, x, &mut rng) else {
        return multiscalar_seconds(2 * u64::from(degree) * u64::from(threshold), 256);
    };
    let group = crate::protocol::client::holder_group_size(items);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(holder.verify_batch(group, &mut rng));
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The threads the library's PRG work runs on.
pub fn prg_threads() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

/// Bytes per second of `prg` keystream generated and added on one thread,
/// the way the mask PRG does it for each mask of a chunk: a fresh cipher
/// per cache-resident chunk of `CHUNK` elements, 4 KiB of keystream at a
/// time added as lanes into a tile of lane-wide words (spec/crypto.md
/// section 5). Generates `wanted` bytes, clamped to 8..=64 MiB so the
/// figure is stable.
pub fn keystream_rate(prg: Prg, bits: u8, wanted: usize) -> f64 {
    let total = wanted.clamp(FLOOR_MIN_SAMPLE_BYTES, FLOOR_SAMPLE_BYTES);
    let chunk = prg::CHUNK * prg::lane_bytes(bits);
    let passes = total.div_ceil(chunk);
    let start = Instant::now();
    std::hint::black_box(prg::floor_pass(prg, &[7u8; 32], bits, prg::CHUNK, passes));
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    (passes * chunk) as f64 / secs
}

/// The peak resident memory of this process in bytes (`VmHWM` of
/// /proc/self/status), on Linux; `None` elsewhere or if unreadable. In a
/// simulated round every client lives in the same process, so this bounds
/// the server's own peak from above.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

// ----- The server's own heap (DESIGN.md section 8) -----

#[cfg(feature = "cli")]
pub use heap::ServerHeap;
pub use heap::{ServerHeapUsage, ServerScope, server_heap};

/// Bytes per element of the server's running sum (`u64`, spec/protocol.md:
/// one running sum of m elements): the `lane` of the memory target
/// `2 m lane + 64 MiB` that `secagg simulate` prints.
pub const SUM_LANE_BYTES: u64 = core::mem::size_of::<u64>() as u64;

/// The server heap target of the performance issue for `dim` elements:
/// `2 m lane + 64 MiB`, with `lane` = [`SUM_LANE_BYTES`].
pub fn server_heap_target(dim: u32) -> u64 {
    2 * u64::from(dim) * SUM_LANE_BYTES + (64 << 20)
}

#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; only with the `cli` feature, for the CLI and the heap test"
)]
mod heap {
    #![warn(clippy::undocumented_unsafe_blocks)]

    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    #[cfg(feature = "cli")]
    use std::alloc::{GlobalAlloc, Layout, System};

    /// Open [`ServerScope`]s, process-wide: while it is above zero every
    /// allocation, on any thread, is the server's.
    static SCOPES: AtomicUsize = AtomicUsize::new(0);
    /// Whether a [`ServerHeap`] has served an allocation, so is installed.
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    /// The bytes of the server's allocations still live.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    /// The most [`LIVE`] has been since the last [`ServerHeapUsage::reset_peak`].
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    /// The least header in front of an allocation: room for the tag word,
    /// and 16-byte alignment of what follows.
    #[cfg(feature = "cli")]
    const MIN_HEADER: usize = 16;
    /// The tag word sits in the last `TAG_BYTES` of the header, just before
    /// the pointer handed out.
    #[cfg(feature = "cli")]
    const TAG_BYTES: usize = core::mem::size_of::<usize>();
    /// Tag of an allocation made while a [`ServerScope`] was open.
    #[cfg(feature = "cli")]
    const SERVER: usize = 1;
    /// Tag of any other allocation.
    #[cfg(feature = "cli")]
    const OTHER: usize = 0;

    /// A global allocator over [`System`] that counts the server's heap:
    /// every allocation made while a [`ServerScope`] is open (on any thread,
    /// rayon workers included) is tagged as the server's, and its bytes
    /// count in [`server_heap`] until it is freed, wherever and whenever
    /// that happens; a reallocation keeps its tag.
    ///
    /// Each allocation carries a header of `max(align, 16)` bytes in front
    /// of it whose last word is the tag, so the count needs no table and no
    /// lock: two relaxed atomics per server allocation, one atomic load per
    /// other allocation. The figures are the bytes asked for, without the
    /// headers or the system allocator's own overhead.
    ///
    /// Install it in a binary (the library never does):
    ///
    /// ```
    /// use secagg::bench::{ServerHeap, ServerScope, server_heap};
    ///
    /// #[global_allocator]
    /// static HEAP: ServerHeap = ServerHeap::new();
    ///
    /// fn main() {
    ///     let before = server_heap().expect("installed").live;
    ///     let v = {
    ///         let _scope = ServerScope::open();
    ///         vec![0u8; 4096]
    ///     };
    ///     assert_eq!(server_heap().expect("installed").live, before + 4096);
    ///     drop(v);
    ///     assert_eq!(server_heap().expect("installed").live, before);
    /// }
    /// ```
    #[cfg(feature = "cli")]
    #[derive(Debug, Default, Clone, Copy)]
    pub struct ServerHeap {
        _private: (),
    }

    #[cfg(feature = "cli")]
    impl ServerHeap {
        /// The allocator, for a `#[global_allocator]` static.
        pub const fn new() -> Self {
            Self { _private: () }
        }
    }

    /// Marks the code between its creation and its drop as the server's:
    /// `secagg::simulation` opens one around every `Server` call. Scopes
    /// are process-wide and nest (a count, not a flag): two rounds run at
    /// once in one process attribute each other's allocations.
    #[derive(Debug)]
    #[must_use = "the scope closes when the guard is dropped"]
    pub struct ServerScope {
        _private: (),
    }

    impl ServerScope {
        /// Opens a scope until the guard is dropped.
        pub fn open() -> Self {
            SCOPES.fetch_add(1, Relaxed);
            Self { _private: () }
        }
    }

    impl Drop for ServerScope {
        fn drop(&mut self) {
            SCOPES.fetch_sub(1, Relaxed);
        }
    }

    /// The server's heap as [`ServerHeap`] counts it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ServerHeapUsage {
        /// Bytes of the server's allocations not yet freed.
        pub live: u64,
        /// The most `live` has been since the last [`Self::reset_peak`] (or
        /// since the process started).
        pub peak: u64,
    }

    impl ServerHeapUsage {
        /// Sets the peak to the bytes live now, so that the next reading's
        /// peak is that of what runs in between; returns the usage after
        /// the reset. An allocation racing with the reset on another thread
        /// may be missed by the new peak.
        pub fn reset_peak() -> Self {
            PEAK.store(LIVE.load(Relaxed), Relaxed);
            // A block counted between the load and the store raised `LIVE`
            // after its own `fetch_max` was overwritten: take it again.
            PEAK.fetch_max(LIVE.load(Relaxed), Relaxed);
            Self::now()
        }

        fn now() -> Self {
            Self {
                live: LIVE.load(Relaxed) as u64,
                peak: PEAK.load(Relaxed) as u64,
            }
        }
    }

    /// The server's heap now, or `None` when no [`ServerHeap`] is installed
    /// as the global allocator (then nothing is counted; the figure is
    /// unknown, not zero).
    pub fn server_heap() -> Option<ServerHeapUsage> {
        INSTALLED.load(Relaxed).then(ServerHeapUsage::now)
    }

    /// Counts `bytes` more of the server's heap.
    #[cfg(feature = "cli")]
    fn grow(bytes: usize) {
        let live = LIVE.fetch_add(bytes, Relaxed).wrapping_add(bytes);
        PEAK.fetch_max(live, Relaxed);
    }

    /// Counts `bytes` of the server's heap freed.
    #[cfg(feature = "cli")]
    fn shrink(bytes: usize) {
        LIVE.fetch_sub(bytes, Relaxed);
    }

    /// The header in front of an allocation aligned to `align`: at least
    /// [`MIN_HEADER`], and a multiple of `align` so the pointer after it
    /// keeps the alignment.
    #[cfg(feature = "cli")]
    fn header(align: usize) -> usize {
        align.max(MIN_HEADER)
    }

    /// The layout asked of [`System`] for `size` bytes after the header of
    /// `align`: aligned to `max(align, 16)` (so the tag word is aligned
    /// too). `None` when it overflows.
    #[cfg(feature = "cli")]
    fn outer(size: usize, align: usize) -> Option<Layout> {
        let total = size.checked_add(header(align))?;
        Layout::from_size_align(total, header(align)).ok()
    }

    #[cfg(feature = "cli")]
    impl ServerHeap {
        /// `alloc` and `alloc_zeroed`: allocates header and block, writes the
        /// tag, counts the block if a scope is open.
        ///
        /// # Safety
        /// As [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
        unsafe fn allocate(layout: Layout, zeroed: bool) -> *mut u8 {
            if !INSTALLED.load(Relaxed) {
                INSTALLED.store(true, Relaxed);
            }
            let Some(outer) = outer(layout.size(), layout.align()) else {
                return core::ptr::null_mut();
            };
            let base = if zeroed {
                // SAFETY: `outer` has a non-zero size (at least the header).
                unsafe { System.alloc_zeroed(outer) }
            } else {
                // SAFETY: as above.
                unsafe { System.alloc(outer) }
            };
            if base.is_null() {
                return base;
            }
            let server = SCOPES.load(Relaxed) > 0;
            // SAFETY: `base` points to `outer.size() >= header + size` bytes,
            // so `base + header` is in the allocation (or one past its end
            // when size is 0); it is aligned to `header(align)`, a multiple
            // of `layout.align()` since both are powers of two.
            let block = unsafe { base.add(header(layout.align())) };
            // SAFETY: the tag word lies in the header (`TAG_BYTES <= 16 <=
            // header`), inside the allocation, and is aligned: `block` is
            // aligned to at least 16 and `TAG_BYTES` divides 16.
            unsafe {
                block
                    .sub(TAG_BYTES)
                    .cast::<usize>()
                    .write(if server { SERVER } else { OTHER });
            }
            if server {
                grow(layout.size());
            }
            block
        }

        /// Reads the tag of a block this allocator handed out.
        ///
        /// # Safety
        /// `block` came from [`Self::allocate`] (or `realloc`) and is live.
        unsafe fn is_server(block: *mut u8) -> bool {
            // SAFETY: the caller's block has the header `allocate` wrote,
            // whose last word is the aligned tag.
            unsafe { block.sub(TAG_BYTES).cast::<usize>().read() == SERVER }
        }
    }

    // SAFETY: every block handed out is `header(align)` bytes into a block
    // of `System` of layout `outer(size, align)`, so it has `size` bytes,
    // the alignment asked for, and is freed or resized through `System`
    // with the same outer layout it was made with; the counters are atomics
    // and nothing here allocates or panics.
    #[cfg(feature = "cli")]
    unsafe impl GlobalAlloc for ServerHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is `allocate`'s.
            unsafe { Self::allocate(layout, false) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as `alloc`.
            unsafe { Self::allocate(layout, true) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller passes a live block of this allocator.
            if unsafe { Self::is_server(ptr) } {
                shrink(layout.size());
            }
            let Some(outer) = outer(layout.size(), layout.align()) else {
                // The same layout gave an outer one when it was allocated.
                return;
            };
            // SAFETY: `ptr - header` is the `System` block made with `outer`.
            unsafe { System.dealloc(ptr.sub(header(layout.align())), outer) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let (Some(old), Some(new)) = (
                outer(layout.size(), layout.align()),
                outer(new_size, layout.align()),
            ) else {
                // Too large: the block stays as it was.
                return core::ptr::null_mut();
            };
            // SAFETY: the caller passes a live block of this allocator.
            let server = unsafe { Self::is_server(ptr) };
            let head = header(layout.align());
            // SAFETY: `ptr - head` is the `System` block made with `old`,
            // `new.size()` is non-zero and valid for its alignment (`outer`
            // built a `Layout` of it). `System` copies the header with the
            // block, so the tag survives.
            let base = unsafe { System.realloc(ptr.sub(head), old, new.size()) };
            if base.is_null() {
                return base;
            }
            if server {
                if new_size >= layout.size() {
                    grow(new_size - layout.size());
                } else {
                    shrink(layout.size() - new_size);
                }
            }
            // SAFETY: `base` has `head + new_size` bytes, aligned as before.
            unsafe { base.add(head) }
        }
    }
}
