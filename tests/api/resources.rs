//! Resource bounds under hostile input (spec/security.md, property R):
//!
//! - no count or length field makes a decoder allocate more than the bytes
//!   it was given justify, and a message claiming gigabytes fails before
//!   allocating anything;
//! - a server fed 10^5 garbage messages per phase from unknown, excluded and
//!   out-of-phase senders keeps nothing of them: its heap does not grow by a
//!   byte and the process's resident memory stays within 10% of its start.
//!
//! Heap use is measured by a counting global allocator that keeps one count
//! per thread, so tests running in parallel in this binary do not disturb
//! each other. Resident memory is process-wide, so it is measured in a child
//! process running only that test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::process::Command;

use rand_core::Rng;
use secagg::fuzzing;
use secagg::params::{MAX_CLIENTS, MAX_DIM};
use secagg::protocol::messages::{
    AdvertiseKeys, KeyBroadcast, MaskedInput, ShareDelivery, ShareKeys, UnmaskRequest,
    UnmaskResponse, kind,
};
use secagg::{
    AwaitingKeys, AwaitingShares, AwaitingUnmask, ClientFault, ClientIndex, Decode, DecodeError,
    Error, Graph, Params, Server, Step,
};

use crate::common::{ROUND, rng};
use crate::fuzz_corpus::{fuzz_dir, inputs};

// ----- A per-thread counting allocator -----

/// Forwards to [`System`] and counts, per thread, the bytes allocated and not
/// yet freed, and their peak since the last [`measure`].
struct Counting;

thread_local! {
    /// Live bytes allocated by this thread (frees on other threads make it
    /// drift, which no measured section here does).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last reset.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Records an allocation (`delta > 0`) or a free. The thread-locals are
/// const-initialised and have no destructor: reading them never allocates,
/// and `try_with` only fails during thread teardown, when nothing is measured.
fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// implements `GlobalAlloc` correctly, and returns its result unchanged; the
// bookkeeping in `note` neither allocates nor unwinds.
#[allow(unsafe_code, reason = "a global allocator is an unsafe trait impl")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from `System`, with
        // this layout (the caller's obligation).
        unsafe { System.dealloc(ptr, layout) };
        note(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s
        // contract for `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(size(new_size) - size(layout.size()));
        }
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Runs `f` and returns its result and the peak of this thread's heap above
/// its level at the start (what `f` allocated at most at one time,
/// including the result it returns).
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = live();
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, usize::try_from(peak).unwrap_or(0))
}

// ----- Decoders -----

/// Decodes `bytes` as the message type `t` under `p`, returning whether it
/// decoded and the peak heap use of the decode (the decoded value included).
fn decode_peak(p: &Params, t: u8, bytes: &[u8]) -> (Result<(), DecodeError>, usize) {
    fn go<M: Decode<Context = Params>>(p: &Params, b: &[u8]) -> (Result<(), DecodeError>, usize) {
        let (r, peak) = measure(|| M::decode(p, b));
        (r.map(drop), peak)
    }
    match t {
        kind::ADVERTISE_KEYS => go::<AdvertiseKeys>(p, bytes),
        kind::KEY_BROADCAST => go::<KeyBroadcast>(p, bytes),
        kind::SHARE_KEYS => go::<ShareKeys>(p, bytes),
        kind::SHARE_DELIVERY => go::<ShareDelivery>(p, bytes),
        kind::MASKED_INPUT => go::<MaskedInput>(p, bytes),
        kind::UNMASK_REQUEST => go::<UnmaskRequest>(p, bytes),
        _ => go::<UnmaskResponse>(p, bytes),
    }
}

/// `version || type || session || extra || count` followed by `tail` bytes.
fn claiming(t: u8, extra: usize, count: u32, tail: usize) -> Vec<u8> {
    let mut m = vec![secagg::protocol::messages::VERSION, t];
    m.extend_from_slice(&[0x11; 32]);
    // Valid points (the identity encodes as zeros) where commitments go.
    m.extend(std::iter::repeat_n(0x00, extra));
    m.extend_from_slice(&count.to_le_bytes());
    m.extend(std::iter::repeat_n(0x01, tail));
    m
}

#[test]
fn decode_claiming_4_gib_fails_before_allocating() {
    // The largest parameters there are: n = 2^24 clients, vectors of 2^28
    // 64-bit elements (2 GiB packed, 2 GiB decoded).
    let p = Params::new(MAX_CLIENTS, 2, 64, MAX_DIM, Graph::Complete).unwrap();
    let n = MAX_CLIENTS;
    // (type, bytes between the session and the count, entry size).
    let lists = [
        (kind::KEY_BROADCAST, 0, 68u64),
        (kind::SHARE_KEYS, 2 * 2 * 32, 84),
        (kind::SHARE_DELIVERY, 0, 4 + 2 * 2 * 32 + 80),
        (kind::MASKED_INPUT, 0, 4),
        (kind::UNMASK_REQUEST, 0, 4),
        (kind::UNMASK_RESPONSE, 0, 37),
    ];
    for (t, extra, entry) in lists {
        // 2^32 - 1 entries: above n, refused on the count alone.
        let huge = claiming(t, extra, u32::MAX, 64);
        assert!(
            u64::from(u32::MAX) * entry >= 4 << 30,
            "claims at least 4 GiB"
        );
        // Nothing is allocated for the list; the only allocation allowed is
        // the fixed-size part before it (ShareKeys' 2t commitments, decoded
        // and checked as they are read), bounded by a few times its bytes.
        let before = 8 * extra;
        let (got, peak) = decode_peak(&p, t, &huge);
        assert_eq!(
            got,
            Err(DecodeError::LengthOutOfBounds),
            "type {t:#x}, count 2^32 - 1"
        );
        assert!(
            peak <= before,
            "type {t:#x}: {peak} bytes for a refused count"
        );
        // n entries: allowed by the parameters, but the 64 bytes that follow
        // cannot hold them.
        let many = claiming(t, extra, n, 64);
        let (got, peak) = decode_peak(&p, t, &many);
        assert_eq!(got, Err(DecodeError::Truncated), "type {t:#x}, count n");
        assert!(
            peak <= before,
            "type {t:#x}: {peak} bytes for a refused count"
        );
    }
    // The second list of an unmask request, after an empty first one.
    let mut second = claiming(kind::UNMASK_REQUEST, 0, 0, 0);
    second.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode_peak(&p, kind::UNMASK_REQUEST, &second),
        (Err(DecodeError::LengthOutOfBounds), 0)
    );
    // A masked input whose parameters promise 2 GiB of vector, with 64 bytes
    // of it present: refused before the 2 GiB (or the 2 GiB decoded) are
    // allocated.
    let short = claiming(kind::MASKED_INPUT, 0, 0, 64);
    assert_eq!(
        decode_peak(&p, kind::MASKED_INPUT, &short),
        (Err(DecodeError::Truncated), 0)
    );
    // Parameters are fixed-size: nothing to allocate, whatever they claim.
    let params_bytes = p.to_bytes();
    let (decoded, peak) = measure(|| Params::decode(&params_bytes));
    assert_eq!(decoded, Ok(p));
    assert_eq!(peak, 0);
}

/// The most a decode may allocate for `len` input bytes under `p`: list
/// entries take at most 40 bytes in memory for each 37 on the wire, and a
/// growing vector's capacity is at most twice its length (or 4 entries), so
/// `3 * len` plus a constant (`5 * len` where Feldman commitments are
/// decoded into points); a masked vector of `m` elements is allocated
/// at its exact size, 8 bytes each, once the input is long enough to hold it.
fn justified(p: &Params, t: u8, len: usize) -> usize {
    let vector = usize::try_from(p.dim()).unwrap() * 8;
    let packed = secagg::vector::packed_len(p.dim() as usize, p.bits()).unwrap();
    let holds_vector = t == kind::MASKED_INPUT && len >= 2 + 32 + 4 + packed;
    // Feldman commitments decode from 32 bytes to a 160-byte point (four
    // field elements of five u64 limbs): linear in the input, five times it.
    // (ShareDelivery forwards them undecoded.)
    let per_byte = if t == kind::SHARE_KEYS { 5 } else { 3 };
    per_byte * len + 4 * 84 + if holds_vector { vector } else { 0 }
}

#[test]
fn decoders_allocate_no_more_than_the_input_justifies() {
    // Every saved input of the decoder fuzz targets, and random bytes behind
    // a valid header, under every parameter selector.
    let targets = [
        ("decode_advertise_keys", kind::ADVERTISE_KEYS),
        ("decode_key_broadcast", kind::KEY_BROADCAST),
        ("decode_share_keys", kind::SHARE_KEYS),
        ("decode_share_delivery", kind::SHARE_DELIVERY),
        ("decode_masked_input", kind::MASKED_INPUT),
        ("decode_unmask_request", kind::UNMASK_REQUEST),
        ("decode_unmask_response", kind::UNMASK_RESPONSE),
    ];
    let mut r = rng(31);
    let mut checked = 0usize;
    for (target, t) in targets {
        let mut cases: Vec<Vec<u8>> = inputs(&fuzz_dir().join("corpus").join(target))
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        cases.extend(fuzzing::seeds(target));
        for _ in 0..200 {
            let mut d = vec![0u8; 1 + (r.next_u32() % 600) as usize];
            r.fill_bytes(&mut d);
            if d.len() >= 3 {
                d[1] = 1;
                d[2] = t;
            }
            cases.push(d);
        }
        for data in cases {
            let Some((&sel, body)) = data.split_first() else {
                continue;
            };
            let p = fuzzing::small_params(sel).unwrap();
            let (_, peak) = decode_peak(&p, t, body);
            let bound = justified(&p, t, body.len());
            assert!(
                peak <= bound,
                "{target}: {peak} bytes allocated for {} input bytes (bound {bound})",
                body.len()
            );
            checked += 1;
        }
    }
    assert!(checked > 7 * 200);
}

// ----- The server under a flood of garbage -----

/// Garbage messages per phase.
const FLOOD: usize = 100_000;
/// Garbage messages before the measurement starts (the first message from
/// each roster member may legitimately be recorded: it gets it excluded).
const WARM_UP: usize = 1_000;

/// Resident memory of this process, in pages (/proc/self/statm, field 2).
fn resident_pages() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Feeds `server` `count` garbage messages from `senders` (cycled), each a
/// slice of `pool` of varying length; returns how many were rejected.
/// Nothing is allocated per message on the test's side.
fn flood(server: &mut Server, senders: &[ClientIndex], pool: &[u8], count: usize) -> usize {
    let mut rejected = 0;
    for i in 0..count {
        let from = senders[i % senders.len()];
        let start = (i * 7) % 512;
        let len = (i * 13) % 512;
        if server.receive(from, &pool[start..start + len]).is_err() {
            rejected += 1;
        }
    }
    rejected
}

/// What one flooded phase did to the heap and to resident memory.
#[derive(Debug)]
struct Growth {
    phase: usize,
    heap_bytes: isize,
    pages_before: u64,
    pages_after: u64,
}

/// A round of n = 12 (t = 6, m = 256) in which client 3 is excluded in R0
/// for a malformed message and clients 11 and 12 never speak; after the
/// honest messages of each phase, the server gets [`FLOOD`] garbage messages
/// from unknown indices (0, above n, up to `u32::MAX`), from the excluded
/// client and from the silent ones. Returns the growth per phase, after
/// checking that the round still ends with the exact sum of the honest
/// clients.
fn flooded_round() -> Vec<Growth> {
    let n = 12u32;
    let params = Params::new(n, 6, 32, 256, Graph::Complete).unwrap();
    let mut r = rng(99);
    let inputs: Vec<Vec<u64>> = (1..=n)
        .map(|_| (0..256).map(|_| u64::from(r.next_u32())).collect())
        .collect();
    let mut pool = vec![0u8; 1024];
    r.fill_bytes(&mut pool);
    // Some garbage looks like the start of a message of each type.
    for (i, chunk) in pool.chunks_mut(64).enumerate() {
        chunk[0] = 1;
        // Never a well-formed AdvertiseKeys: the silent clients' first
        // message must be refused too.
        chunk[1] = [2, 3, 4, 0x81, 0x83][i % 5];
    }
    let mut senders: Vec<ClientIndex> = vec![0, n + 1, n + 2, u32::MAX, u32::MAX - 1, 3, 11, 12];
    senders.extend((0..1000).map(|_| n + 1 + r.next_u32() % (u32::MAX - n)));

    let mut server = Server::new(&params, ROUND, &mut r).unwrap();
    let mut growth = Vec::new();
    let mut measured_flood = |server: &mut Server, phase: usize| {
        flood(server, &senders, &pool, WARM_UP);
        let pages_before = resident_pages();
        let (rejected, heap) = {
            let base = live();
            let rejected = flood(server, &senders, &pool, FLOOD);
            (rejected, live() - base)
        };
        assert_eq!(
            rejected, FLOOD,
            "phase {phase}: a garbage message was accepted"
        );
        growth.push(Growth {
            phase,
            heap_bytes: heap,
            pages_before,
            pages_after: resident_pages(),
        });
    };
    let deliveries = |step: Result<Step, Error>| match step {
        Ok(Step::Deliver(d)) => d,
        other => panic!("expected deliveries, got {other:?}"),
    };

    // R0: client 3 sends a malformed message and is excluded.
    let mut s0: BTreeMap<ClientIndex, AwaitingKeys> = BTreeMap::new();
    for i in 1..=10 {
        let (st, msg) = AwaitingKeys::new(&params, ROUND, i, &mut r).unwrap();
        if i == 3 {
            let e = server.receive(3, &msg[..10]).unwrap_err();
            assert_eq!(
                e,
                Error::Client {
                    index: 3,
                    fault: ClientFault::Malformed(DecodeError::Truncated),
                    outcome: secagg::Outcome::Excluded,
                }
            );
            continue;
        }
        server.receive(i, &msg).unwrap();
        s0.insert(i, st);
    }
    measured_flood(&mut server, 0);
    let d = deliveries(server.close_phase());
    let mut s1: BTreeMap<ClientIndex, AwaitingShares> = BTreeMap::new();
    for (i, msg) in d {
        let (st, out) = s0.remove(&i).unwrap().receive(&msg, &mut r).unwrap();
        server.receive(i, &out).unwrap();
        s1.insert(i, st);
    }
    measured_flood(&mut server, 1);
    let d = deliveries(server.close_phase());
    let mut s2: BTreeMap<ClientIndex, AwaitingUnmask> = BTreeMap::new();
    for (i, msg) in d {
        let (st, out) = s1
            .remove(&i)
            .unwrap()
            .receive(&msg, &inputs[i as usize - 1])
            .unwrap();
        server.receive(i, &out).unwrap();
        s2.insert(i, st);
    }
    measured_flood(&mut server, 2);
    let d = deliveries(server.close_phase());
    for (i, msg) in d {
        let out = s2.remove(&i).unwrap().receive(&msg).unwrap();
        server.receive(i, &out).unwrap();
    }
    measured_flood(&mut server, 3);
    let Ok(Step::Done(agg)) = server.close_phase() else {
        panic!("the round did not finish");
    };
    let honest: Vec<ClientIndex> = (1..=10).filter(|&i| i != 3).collect();
    assert_eq!(agg.survivors, honest);
    let mut want = vec![0u64; 256];
    for &i in &honest {
        for (w, x) in want.iter_mut().zip(&inputs[i as usize - 1]) {
            *w = (*w + x) & 0xffff_ffff;
        }
    }
    assert_eq!(agg.sum, want);
    // Only roster members are ever recorded, each once.
    let named: Vec<ClientIndex> = agg.misbehaved.iter().map(|(i, _)| *i).collect();
    assert_eq!(named, vec![3, 11, 12]);
    growth
}

/// The environment variable that makes [`server_memory_child`] run.
const CHILD: &str = "SECAGG_RESOURCES_CHILD";

/// Runs the flooded round alone in this process (started by
/// [`server_memory_stays_flat_under_garbage`]; without its environment
/// variable it does nothing, so that resident memory is never measured while
/// other tests run).
#[test]
fn server_memory_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let growth = flooded_round();
    let first = growth.first().unwrap().pages_before;
    for g in &growth {
        println!("{g:?}");
        assert!(
            g.heap_bytes <= 0,
            "phase {}: heap grew by {} bytes",
            g.phase,
            g.heap_bytes
        );
        assert!(
            g.pages_after * 10 <= g.pages_before * 11,
            "phase {}: resident memory grew more than 10%: {g:?}",
            g.phase
        );
    }
    // Over the round, what the floods added (the round's own state grows
    // between them: clients' states live in this process too).
    let flooded: u64 = growth
        .iter()
        .map(|g| g.pages_after.saturating_sub(g.pages_before))
        .sum();
    assert!(
        flooded * 10 <= first,
        "the floods added more than 10% of resident memory over the round"
    );
}

#[test]
fn server_memory_stays_flat_under_garbage() {
    // Each phase sees 10^5 garbage messages; the heap must not grow by a
    // byte, resident memory by no more than 10%. Measured in a child process
    // that runs only this round.
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "resources::server_memory_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child really ran the round (4 phases measured), not an empty filter.
    assert_eq!(
        stdout.matches("Growth {").count(),
        4,
        "child output:\n{stdout}"
    );
}
