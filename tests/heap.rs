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
use secagg::{AwaitingKeys, Graph, Params, Server, Step};

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
    the_largest_roster_costs_the_ring_and_no_more();
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

/// The largest roster parameters allow (n = 2^24, spec/params.md section 2)
/// costs what spec/security.md says (P4, parameters from an untrusted
/// source), counted with this allocator (a scope counts every allocation,
/// whoever makes it). On a Harary graph `Server::new` and a client's R1
/// each build the ring of spec/params.md section 3 and its inverse, 4 bytes
/// per client each (128 MiB), and little else; the R0 close builds nothing
/// of size n. On the complete graph only a client's R1 is of size n: its
/// list of the n - 1 clients it neighbours (64 MiB).
fn the_largest_roster_costs_the_ring_and_no_more() {
    const SMALL: usize = 64 << 10;
    let n = secagg::params::MAX_CLIENTS;
    let ring = 2 * 4 * (n as usize + 1);
    let list = 4 * (n as usize - 1);
    let round = [0x52; 32];
    let harary = |seed| Graph::Harary { degree: 4, seed };
    // (graph, Server::new, the R0 close, client 1's R1), each as the range
    // its peak allocation must fall in.
    let cases = [
        (
            harary([1; 32]),
            ring..ring + SMALL,
            0..SMALL,
            ring..ring + SMALL,
        ),
        (Graph::Complete, 0..SMALL, 0..SMALL, list..list + SMALL),
    ];
    for (graph, new_range, close_range, r1_range) in cases {
        let params = Params::new(n, 3, 32, 1, graph.clone()).unwrap();
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(2);
        // The peak bytes `f` allocates, and what it returns.
        let cost = |f: &mut dyn FnMut() -> Box<dyn std::any::Any>| {
            let base = ServerHeapUsage::reset_peak();
            let _scope = ServerScope::open();
            let kept = f();
            (peak() - usize::try_from(base.live).unwrap(), kept)
        };
        let (new, server) = cost(&mut || Box::new(Server::new(&params, round, &mut rng).unwrap()));
        assert!(
            new_range.contains(&new),
            "{graph:?}: Server::new {new} bytes"
        );
        let mut server = *server.downcast::<Server>().unwrap();
        let mut clients = Vec::new();
        for i in 1..=3 {
            let (c, msg) = AwaitingKeys::new(&params, round, i, &mut rng).unwrap();
            server.receive(i, &msg).unwrap();
            clients.push(c);
        }
        let (close, step) = cost(&mut || Box::new(server.close_phase().unwrap()));
        assert!(
            close_range.contains(&close),
            "{graph:?}: R0 close {close} bytes"
        );
        let Step::Deliver(broadcasts) = *step.downcast::<Step>().unwrap() else {
            panic!("{graph:?}: no broadcasts");
        };
        let to_1 = broadcasts.into_iter().find(|(i, _)| *i == 1).unwrap().1;
        // Another ring in the process's one-ring cache, so that client 1
        // builds its own.
        Params::new(n, 3, 32, 1, harary([9; 32]))
            .unwrap()
            .neighbours(&round, 1);
        let (r1, _) = cost(&mut || Box::new(clients[0].receive(&to_1, &mut rng)));
        assert!(r1_range.contains(&r1), "{graph:?}: client R1 {r1} bytes");
    }
}
