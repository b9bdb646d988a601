//! The server's heap count (`secagg::bench::ServerHeap`), installed here as
//! the global allocator. A binary of its own: the count is process-wide, so
//! nothing else may allocate beside it, and its one test runs the checks in
//! sequence (several tests would run on parallel threads and be counted in
//! each other's scopes).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::alloc::{GlobalAlloc as _, Layout};
use std::hint::black_box;

use rand_core::SeedableRng as _;
use secagg::bench::{ServerHeap, ServerHeapUsage, ServerScope, server_heap};
use secagg::simulation::{Dropouts, run};
use secagg::{Graph, Params};

#[global_allocator]
static HEAP: ServerHeap = ServerHeap::new();

/// The size of the blocks the checks allocate: 1 MiB.
const N: usize = 1 << 20;

fn usage() -> ServerHeapUsage {
    server_heap().expect("this binary installs the allocator")
}

fn live() -> usize {
    usize::try_from(usage().live).unwrap()
}

fn peak() -> usize {
    usize::try_from(usage().peak).unwrap()
}

#[test]
fn the_server_heap_counts_what_the_server_allocates() {
    // Spawn rayon's global pool before any scope, as a long-lived process
    // has: its threads' own allocations are no one's round. Every worker
    // runs a job first, so none is still starting (and allocating its
    // thread's state) once a scope opens, however late a loaded machine
    // schedules it.
    #[cfg(feature = "parallel")]
    rayon::broadcast(|_| ());
    outside_a_scope_nothing_is_counted();
    inside_a_scope_a_block_counts_until_freed();
    a_reallocation_keeps_its_tag();
    another_thread_counts_inside_a_scope();
    #[cfg(feature = "parallel")]
    a_rayon_worker_counts_inside_a_scope();
    alignment_and_zeroing_are_kept();
    a_simulated_round_counts_the_server_alone();
}

fn outside_a_scope_nothing_is_counted() {
    let before = usage();
    let v = black_box(vec![1u8; N]);
    assert_eq!(usage().live, before.live);
    drop(v);
    assert_eq!(usage(), before);
}

fn inside_a_scope_a_block_counts_until_freed() {
    let base = ServerHeapUsage::reset_peak();
    assert_eq!(base.peak, base.live);
    let v = {
        let _scope = ServerScope::open();
        black_box(vec![7u8; N])
    };
    // Exactly the block: the guard itself allocates nothing.
    assert_eq!(live(), base.live as usize + N);
    assert_eq!(peak(), base.live as usize + N);
    // Freed outside the scope, it is still the server's to give back.
    drop(v);
    assert_eq!(live(), base.live as usize);
    assert_eq!(peak(), base.live as usize + N);
    // A block made outside and freed inside was never counted.
    let w = black_box(vec![7u8; N]);
    {
        let _scope = ServerScope::open();
        drop(w);
    }
    assert_eq!(live(), base.live as usize);
    // Scopes nest: the inner one closing leaves the outer open.
    let v = {
        let _outer = ServerScope::open();
        drop(ServerScope::open());
        black_box(vec![7u8; N])
    };
    assert_eq!(live(), base.live as usize + N);
    drop(v);
    assert_eq!(live(), base.live as usize);
}

fn a_reallocation_keeps_its_tag() {
    let base = live();
    ServerHeapUsage::reset_peak();
    let mut v: Vec<u8> = {
        let _scope = ServerScope::open();
        let mut v = Vec::with_capacity(1000);
        assert_eq!(live(), base + 1000);
        v.reserve_exact(N);
        v
    };
    assert_eq!(v.capacity(), N);
    assert_eq!(live(), base + N);
    assert_eq!(peak(), base + N);
    // Shrunk outside the scope: still the server's, now 100 bytes.
    v.shrink_to(100);
    assert_eq!(v.capacity(), 100);
    assert_eq!(live(), base + 100);
    drop(v);
    assert_eq!(live(), base);
    // A block made outside and grown inside stays uncounted.
    let mut w: Vec<u8> = Vec::with_capacity(1000);
    {
        let _scope = ServerScope::open();
        w.reserve_exact(N);
    }
    assert_eq!(w.capacity(), N);
    assert_eq!(live(), base);
    drop(w);
    assert_eq!(live(), base);
}

fn another_thread_counts_inside_a_scope() {
    let base = live();
    let v = {
        let _scope = ServerScope::open();
        std::thread::spawn(|| black_box(vec![3u8; N]))
            .join()
            .unwrap()
    };
    let during = live();
    assert!(during >= base + N, "{during} < {base} + {N}");
    drop(v);
    assert_eq!(live(), during - N);
}

#[cfg(feature = "parallel")]
fn a_rayon_worker_counts_inside_a_scope() {
    // The global pool, spawned before any scope: a pool made and dropped
    // here would free its threads' blocks whenever they exit.
    let base = live();
    let ((v, on_worker), ()) = {
        let _scope = ServerScope::open();
        // Called from outside the pool, both halves run on its workers.
        rayon::join(
            || {
                let on_worker = rayon::current_thread_index().is_some();
                (black_box(vec![5u8; N]), on_worker)
            },
            || (),
        )
    };
    assert!(on_worker, "made on a worker thread");
    let during = live();
    assert!(during >= base + N, "{during} < {base} + {N}");
    drop(v);
    assert_eq!(live(), during - N);
}

#[allow(
    unsafe_code,
    reason = "calls the allocator directly, as Rust's alloc does"
)]
fn alignment_and_zeroing_are_kept() {
    let base = live();
    for (size, align) in [(1, 1), (24, 8), (100, 16), (100, 64), (100, 4096)] {
        let layout = Layout::from_size_align(size, align).unwrap();
        let _scope = ServerScope::open();
        // SAFETY: `layout` has a non-zero size; the block is freed below
        // with the layout it has then.
        unsafe {
            let p = HEAP.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align}");
            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
            assert_eq!(live(), base + size);
            p.write_bytes(0xA5, size);
            let q = HEAP.realloc(p, layout, size * 50);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0, "align {align} after realloc");
            assert!(
                std::slice::from_raw_parts(q, size)
                    .iter()
                    .all(|&b| b == 0xA5)
            );
            assert_eq!(live(), base + size * 50);
            HEAP.dealloc(q, Layout::from_size_align(size * 50, align).unwrap());
        }
        assert_eq!(live(), base);
    }
}

fn a_simulated_round_counts_the_server_alone() {
    let (n, m) = (8u32, 1u32 << 17);
    let params = Params::new(n, 5, 32, m, Graph::Complete).unwrap();
    let inputs: Vec<Vec<u64>> = (1..=u64::from(n)).map(|i| vec![i; m as usize]).collect();
    let dropouts = Dropouts {
        after_shares: vec![3],
        ..Default::default()
    };
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let base = live();
    let report = run(&params, &inputs, &dropouts, &mut rng);
    assert!(report.ok());
    let server = report.server_peak_heap.unwrap();
    let sum = u64::from(m) * 8;
    // The running sum of m u64 at least; the clients' vectors (8 of them,
    // as large as the sum) are not counted.
    assert!(server >= sum, "{server} < {sum}");
    if let Some(rss) = secagg::bench::peak_rss_bytes() {
        assert!(server < rss, "{server} >= the process's {rss}");
    }
    // The aggregate's sum, made by the server, is still counted; once the
    // report is gone the server holds nothing.
    assert!(live() >= base + sum as usize);
    drop(report);
    assert_eq!(live(), base);
}
