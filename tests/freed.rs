//! Freed memory holds no secret (spec/security.md P6): every block the
//! library frees while a check is armed is scanned for the secrets of the
//! round, derived here from the parties' RNG streams and the key schedule
//! of spec/crypto.md sections 3 to 5 and 10, and for the clients' inputs.
//! A copy that is dropped without being wiped, or a wiped vector that
//! grows and leaves its old block behind, is found.
//!
//! A binary of its own: the allocator is process-wide, so its one test runs
//! the checks in sequence (several tests would run on parallel threads and
//! be scanned in each other's checks). The scan looks at heap blocks when
//! they are freed or moved; the stack, blocks still live and the operating
//! system's pages are not seen. It runs optimised (`cargo test --release
//! --test freed`, as scripts/test does): an unoptimised build gives every
//! temporary a stack slot of its own, and a secret left in one reaches
//! the heap inside the uninitialised padding or `None` payload of a value
//! built there later (a `Client` moved into a growing vector, in the
//! check's first run in such a build), which is the stack's limit rather
//! than a copy the library makes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unsafe_code,
    reason = "a test binary; the allocator's interface is unsafe"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use chacha20::ChaCha20Rng;
use curve25519_dalek::Scalar;
use rand_core::Rng;
use secagg::dp::DpConfig;
use secagg::{
    Client, ClientPhase, Graph, Identity, Params, Prg, Roster, Server, ServerModel, StateKey, Step,
};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

#[path = "api/common.rs"]
mod common;

use common::{ROUND, hkdf, rng, top, x25519};

/// Scans every block freed while [`ARMED`], then frees it with [`System`].
struct Scanner;

#[global_allocator]
static ALLOC: Scanner = Scanner;

/// Whether freed blocks are scanned.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The secrets looked for: a leaked [`Table`], replaced only while
/// disarmed (the old one is never freed, so a late scan still reads it).
static TABLE: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());
/// Matches found since the last [`take_hits`].
static HITS: AtomicUsize = AtomicUsize::new(0);
/// The secret of the first match (`usize::MAX`: none) and its block size.
static FIRST: AtomicUsize = AtomicUsize::new(usize::MAX);
static FIRST_SIZE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Acquire) {
            scan(unsafe { core::slice::from_raw_parts(ptr, layout.size()) });
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !ARMED.load(Ordering::Acquire) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Moved by hand, so that the old block is scanned as it is freed
        // (the system's realloc would free it unseen).
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// 16-byte pieces of the secrets, sorted by their first 8 bytes, and a
/// filter of their first 2 bytes.
struct Table {
    pieces: Vec<(u64, [u8; 16], usize)>,
    names: Vec<String>,
    filter: Vec<u64>,
}

/// Counts every 16-byte window of `bytes` (at every offset) that is a
/// piece of a secret. Allocates nothing.
fn scan(bytes: &[u8]) {
    let Some(table) = (unsafe { TABLE.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    for w in bytes.windows(16) {
        let k = usize::from(u16::from_le_bytes([w[0], w[1]]));
        if (table.filter[k / 64] >> (k % 64)) & 1 == 0 {
            continue;
        }
        let prefix = u64::from_le_bytes(w[..8].try_into().unwrap());
        let start = table.pieces.partition_point(|p| p.0 < prefix);
        for (p, piece, name) in &table.pieces[start..] {
            if *p != prefix {
                break;
            }
            if piece == w {
                HITS.fetch_add(1, Ordering::AcqRel);
                if FIRST
                    .compare_exchange(usize::MAX, *name, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    FIRST_SIZE.store(bytes.len(), Ordering::Release);
                    if std::env::var_os("FREED_DEBUG").is_some() {
                        let was = ARMED.swap(false, Ordering::AcqRel);
                        eprintln!(
                            "HIT {} size {}\n{}",
                            table.names[*name],
                            bytes.len(),
                            std::backtrace::Backtrace::force_capture()
                        );
                        ARMED.store(was, Ordering::Release);
                    }
                }
            }
        }
    }
}

/// The secrets of one check, by name. The test's own copies of secrets are
/// wiped too (and not reallocated), so that a block the library takes
/// from the allocator uninitialised holds none of them.
struct Secrets {
    names: Vec<String>,
    pieces: Zeroizing<Vec<[u8; 16]>>,
    owner: Vec<usize>,
}

impl Secrets {
    fn new() -> Self {
        Self {
            names: Vec::new(),
            pieces: Zeroizing::new(Vec::with_capacity(1 << 14)),
            owner: Vec::with_capacity(1 << 14),
        }
    }

    /// A secret: every 16-byte piece of it that starts at a multiple of 8
    /// (a copy of 24 bytes or more holds one whatever its alignment).
    fn add(&mut self, name: impl Into<String>, bytes: &[u8]) {
        assert!(bytes.len() >= 16, "a secret of at least 16 bytes");
        assert!(self.pieces.len() + bytes.len() / 8 <= self.pieces.capacity());
        let id = self.names.len();
        self.names.push(name.into());
        for start in (0..=bytes.len() - 16).step_by(8) {
            self.pieces
                .push(bytes[start..start + 16].try_into().unwrap());
            self.owner.push(id);
        }
    }

    /// An input vector, as the library may hold it: every run of two
    /// elements as little-endian `u64` words and of four as `u32` lanes
    /// (elements below `2^32`).
    fn add_input(&mut self, name: &str, x: &[u64]) {
        let words: Vec<[u8; 8]> = x.iter().map(|e| e.to_le_bytes()).collect();
        self.add_runs(name, &words);
        if x.iter().all(|&e| e >> 32 == 0) {
            let lanes: Vec<[u8; 4]> = x.iter().map(|&e| (e as u32).to_le_bytes()).collect();
            self.add_runs(&format!("{name} (lanes)"), &lanes);
        }
    }

    /// A vector of floats: every run of two elements.
    fn add_floats(&mut self, name: &str, x: &[f64]) {
        let words: Vec<[u8; 8]> = x.iter().map(|e| e.to_le_bytes()).collect();
        self.add_runs(name, &words);
    }

    /// Every run of `16 / N` consecutive `N`-byte elements.
    fn add_runs<const N: usize>(&mut self, name: &str, elements: &[[u8; N]]) {
        let id = self.names.len();
        self.names.push(name.into());
        for w in elements.windows(16 / N) {
            self.pieces.push(w.concat().try_into().unwrap());
            self.owner.push(id);
        }
    }

    /// Makes these the secrets looked for (call while disarmed).
    fn install(&self) {
        assert!(!ARMED.load(Ordering::Acquire));
        let mut pieces: Vec<(u64, [u8; 16], usize)> = self
            .pieces
            .iter()
            .zip(&self.owner)
            .map(|(p, &o)| (u64::from_le_bytes(p[..8].try_into().unwrap()), *p, o))
            .collect();
        pieces.sort_unstable();
        let mut filter = vec![0u64; 1024];
        for (_, p, _) in &pieces {
            let k = usize::from(u16::from_le_bytes([p[0], p[1]]));
            filter[k / 64] |= 1 << (k % 64);
        }
        let table = Box::new(Table {
            pieces,
            names: self.names.clone(),
            filter,
        });
        TABLE.store(Box::into_raw(table), Ordering::Release);
    }
}

/// Runs `f` with freed blocks scanned.
fn armed<T>(f: impl FnOnce() -> T) -> T {
    clear_stacks();
    ARMED.store(true, Ordering::Release);
    let out = f();
    ARMED.store(false, Ordering::Release);
    out
}

/// Overwrites the deepest 256 KiB of this thread's stack, and of every
/// rayon worker's, with zeros. The stack is not checked (a secret built on
/// it and moved to the heap leaves its copy there), and its leftovers can
/// reach the heap later through the uninitialised bytes of an unrelated
/// value (padding, the payload of a `None`) that a later call moves into a
/// block; cleared between calls, what a call frees is what that call put
/// there.
fn clear_stacks() {
    #[inline(never)]
    fn clear() {
        let zeros = [0u8; 256 << 10];
        std::hint::black_box(&zeros);
    }
    clear();
    #[cfg(feature = "parallel")]
    rayon::broadcast(|_| clear());
}

/// The matches since the last call: their count, the first secret found
/// and the size of the block it was in.
fn take_hits() -> (usize, Option<(String, usize)>) {
    let hits = HITS.swap(0, Ordering::AcqRel);
    let first = FIRST.swap(usize::MAX, Ordering::AcqRel);
    let size = FIRST_SIZE.swap(0, Ordering::AcqRel);
    let table = unsafe { TABLE.load(Ordering::Acquire).as_ref() };
    let name = table
        .and_then(|t| t.names.get(first))
        .map(|n| (n.clone(), size));
    (hits, name)
}

fn assert_clean(what: &str) {
    let (hits, first) = take_hits();
    assert_eq!(
        hits, 0,
        "{what}: {hits} freed 16-byte windows held a secret; the first: {first:?} (name, block size)"
    );
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "unoptimised code keeps every temporary in its own stack slot, and \
              secrets left there reach the heap in the padding of unrelated \
              values (the stack's limit, not a copy the library makes); \
              scripts/test runs this binary with --release"
)]
fn freed_memory_holds_no_secret() {
    // Spawn rayon's pool first: its threads' own start-up is no round's.
    #[cfg(feature = "parallel")]
    rayon::broadcast(|_| ());
    the_scan_finds_an_unwiped_copy_and_a_grown_wiped_vector();
    a_round_frees_no_secret(Prg::ChaCha20, 32, false, Graph::Complete, 3, 1000);
    a_round_frees_no_secret(Prg::Aes128Ctr, 48, false, Graph::Complete, 3, 2000);
    a_round_frees_no_secret(Prg::ChaCha20, 32, true, Graph::Complete, 3, 3000);
    let harary = Graph::Harary {
        degree: 2,
        seed: [7; 32],
    };
    a_round_frees_no_secret(Prg::ChaCha20, 32, false, harary, 2, 5000);
    #[cfg(feature = "ffi")]
    a_c_abi_round_frees_no_secret(4000);
    dp_encoding_frees_no_copy_of_the_input();
}

/// The instrument itself: an unwiped copy at an odd offset is found, a
/// wiped one is not, and a wiped vector that grows past its capacity
/// leaves its old block unwiped (which is why secret lists are allocated
/// at their final size).
fn the_scan_finds_an_unwiped_copy_and_a_grown_wiped_vector() {
    let mut secret = [0u8; 32];
    rng(0xbad).fill_bytes(&mut secret);
    let mut s = Secrets::new();
    s.add("probe", &secret);
    s.install();
    armed(|| {
        let mut v = vec![0u8; 100];
        v[7..39].copy_from_slice(&secret);
        drop(std::hint::black_box(v));
    });
    let (hits, first) = take_hits();
    assert!(hits >= 1, "an unwiped copy is found");
    assert_eq!(first, Some(("probe".to_string(), 100)));
    armed(|| {
        let mut v = Zeroizing::new(vec![0u8; 100]);
        v[7..39].copy_from_slice(&secret);
        drop(std::hint::black_box(v));
    });
    assert_clean("a wiped copy");
    armed(|| {
        let mut v = Zeroizing::new(Vec::with_capacity(40));
        v.extend_from_slice(&secret);
        v.extend_from_slice(&[0u8; 64]);
        drop(std::hint::black_box(v));
    });
    let (hits, _) = take_hits();
    assert!(hits >= 1, "a wiped vector that grew left its old block");
}

/// One client's secrets of R0 and R1 (spec/crypto.md section 3 and 6):
/// `c_sk`, `a_u`, `b_u` and the `2 (t - 1)` coefficients, from its RNG
/// stream in the order drawn, and `s_sk`.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Drawn {
    c_sk: [u8; 32],
    s_sk: [u8; 32],
    b: Scalar,
    /// Every raw draw of R0 and R1.
    raw: Vec<Vec<u8>>,
    /// Each 64-byte draw reduced mod l (a_u, b_u, the coefficients).
    scalars: Vec<Scalar>,
}

fn drawn(seed: u64, t: usize) -> Drawn {
    let mut stream = rng(seed);
    let mut draw = |len: usize| {
        let mut b = vec![0u8; len];
        stream.fill_bytes(&mut b);
        b
    };
    let mut raw: Vec<Vec<u8>> = Vec::with_capacity(3 + 2 * (t - 1));
    raw.push(draw(32));
    raw.extend((0..2 + 2 * (t - 1)).map(|_| draw(64)));
    let c_sk: [u8; 32] = raw[0].as_slice().try_into().unwrap();
    let scalars: Vec<Scalar> = raw[1..]
        .iter()
        .map(|w| Scalar::from_bytes_mod_order_wide(&w.as_slice().try_into().unwrap()))
        .collect();
    let s_sk = hkdf(&ROUND, scalars[0].as_bytes(), b"secagg/v1/mask-sk");
    Drawn {
        c_sk,
        s_sk,
        b: scalars[1],
        raw,
        scalars,
    }
}

fn u32le(x: u32) -> [u8; 4] {
    x.to_le_bytes()
}

fn deliver(step: Step) -> Vec<(u32, Vec<u8>)> {
    match step {
        Step::Deliver(m) => m.into_vec(),
        _ => panic!("the round goes on"),
    }
}

fn message_to(msgs: &[(u32, Vec<u8>)], u: u32) -> Vec<u8> {
    msgs.iter().find(|(v, _)| *v == u).unwrap().1.clone()
}

/// Each client's draws, scalars, `s_sk`, X25519 agreements and input, and
/// its Ed25519 secret key (RFC 8032 section 5.1.5: the key, its SHA-512,
/// the clamped scalar half) when it has an identity.
fn client_secrets(
    s: &mut Secrets,
    drawn: &[Drawn],
    public: &[([u8; 32], [u8; 32])],
    inputs: &[Zeroizing<Vec<u64>>],
    ids: Option<&[Identity]>,
) {
    for (i, d) in drawn.iter().enumerate() {
        let u = i + 1;
        for (j, r) in d.raw.iter().enumerate() {
            s.add(format!("client {u}: draw {j}"), r);
        }
        for (j, sc) in d.scalars.iter().enumerate() {
            s.add(
                format!("client {u}: scalar {j} (a_u, b_u, coefficients)"),
                sc.as_bytes(),
            );
        }
        s.add(format!("client {u}: s_sk"), &d.s_sk);
        for (j, (c_pk, s_pk)) in public.iter().enumerate() {
            if j != i {
                s.add(
                    format!("client {u}: c agreement with {}", j + 1),
                    &x25519(&d.c_sk, c_pk),
                );
                s.add(
                    format!("client {u}: s agreement with {}", j + 1),
                    &x25519(&d.s_sk, s_pk),
                );
            }
        }
        s.add_input(&format!("client {u}: input"), &inputs[i]);
        if let Some(ids) = ids {
            let secret = ids[i].secret_bytes();
            s.add(format!("client {u}: Ed25519 secret key"), secret.as_ref());
            let mut h: [u8; 64] = Sha512::digest(secret.as_ref()).into();
            s.add(format!("client {u}: Ed25519 expanded key"), &h);
            h[0] &= 248;
            h[31] &= 127;
            h[31] |= 64;
            s.add(format!("client {u}: Ed25519 clamped scalar"), &h[..32]);
            h.zeroize();
        }
    }
}

/// The server's only draw (from `rng(seed)`), its nonce, and the
/// resend-fingerprint key derived from it (spec/crypto.md section 10).
fn server_secrets(s: &mut Secrets, seed: u64) {
    let mut nonce = Zeroizing::new([0u8; 32]);
    rng(seed).fill_bytes(nonce.as_mut());
    s.add("server: nonce", nonce.as_ref());
    let fk = Zeroizing::new(hkdf(&[0u8; 32], nonce.as_ref(), b"secagg/v2/resend-key"));
    s.add("server: resend-fingerprint key", &fk[..16]);
}

/// The keys of spec/crypto.md sections 4 and 5, known once the session is:
/// self-mask keys, share keys (both directions) and pairwise mask keys.
fn session_secrets(
    s: &mut Secrets,
    session: &[u8; 32],
    drawn: &[Drawn],
    public: &[([u8; 32], [u8; 32])],
) {
    for (i, d) in drawn.iter().enumerate() {
        let u = u32::try_from(i + 1).unwrap();
        let self_info = [b"secagg/v1/self-mask".as_slice(), &u32le(u)].concat();
        s.add(
            format!("client {u}: self-mask key"),
            &hkdf(session, d.b.as_bytes(), &self_info),
        );
        for (j, (c_pk, s_pk)) in public.iter().enumerate() {
            let v = u32::try_from(j + 1).unwrap();
            if v == u {
                continue;
            }
            let dh = x25519(&d.c_sk, c_pk);
            for (from, to) in [(u, v), (v, u)] {
                let info = [b"secagg/v1/share-key".as_slice(), &u32le(from), &u32le(to)].concat();
                s.add(
                    format!("share key {from} -> {to}"),
                    &hkdf(session, &dh, &info),
                );
            }
            let info = [
                b"secagg/v1/pair-mask".as_slice(),
                &u32le(u.min(v)),
                &u32le(u.max(v)),
            ]
            .concat();
            s.add(
                format!("pair key {u}, {v}"),
                &hkdf(session, &x25519(&d.s_sk, s_pk), &info),
            );
        }
    }
}

/// The public halves of the clients' key pairs, `(c_pk, s_pk)`.
fn public_keys(drawn: &[Drawn]) -> Vec<([u8; 32], [u8; 32])> {
    let basepoint = x25519_dalek::X25519_BASEPOINT_BYTES;
    drawn
        .iter()
        .map(|d| (x25519(&d.c_sk, &basepoint), x25519(&d.s_sk, &basepoint)))
        .collect()
}

/// `n` inputs of `m` elements below `2^b`, from `rng(seed)`.
fn inputs_for(p: &Params, seed: u64) -> Vec<Zeroizing<Vec<u64>>> {
    let top = top(p);
    let mut r = rng(seed);
    (0..p.clients())
        .map(|_| Zeroizing::new((0..p.dim()).map(|_| r.next_u64() & top).collect()))
        .collect()
}

/// The sum mod `2^b` of the survivors' inputs.
fn survivors_sum(p: &Params, inputs: &[Zeroizing<Vec<u64>>]) -> Vec<u64> {
    let top = top(p);
    (0..p.dim() as usize)
        .map(|j| inputs.iter().fold(0u64, |a, x| a.wrapping_add(x[j])) & top)
        .collect()
}

/// A round of five clients on `graph` (complete, or a Harary graph of
/// degree 2), semi-honest or malicious (signed messages and the consistency round), every client
/// and server call armed, the server exported and imported before it
/// takes each phase's answers, each client exported and imported before
/// and after every message and moved as a host might (a growing vector, a rehashing map),
/// client 5 dropped with its input set before it masks. No call frees a
/// block holding any client's RNG draws, `a_u`, `b_u`, coefficients,
/// `s_sk`, X25519 agreements, share keys, pairwise or self-mask keys,
/// Ed25519 secret key, or input, nor the server's nonce or
/// resend-fingerprint key; no message carries one; the sum is exact. (The
/// server rebuilds the survivors' `b_u` and the dropped client's `a_u`,
/// `s_sk` and pairwise keys by design; it must wipe them too.)
fn a_round_frees_no_secret(prg: Prg, bits: u8, malicious: bool, graph: Graph, t: usize, base: u64) {
    let (n, m) = (5u32, 40usize);
    let mut p = Params::new(n, t as u32, bits, m as u32, graph)
        .unwrap()
        .with_prg(prg);
    if malicious {
        p = p.with_model(ServerModel::Malicious { corrupt: 0 }).unwrap();
    }
    let key = StateKey::new([0x6b; 32]);
    // Seeds of their own for each round: no stale block of an earlier one
    // holds this round's secrets.
    let seeds: Vec<u64> = (1..=u64::from(n)).map(|u| base + u).collect();
    let clients_drawn: Vec<Drawn> = seeds.iter().map(|&s| drawn(s, t)).collect();
    let public = public_keys(&clients_drawn);
    let inputs = inputs_for(&p, base + 77);
    let ids: Vec<Identity> = seeds
        .iter()
        .map(|&s| Identity::generate(&mut rng(s + 500)))
        .collect();
    let roster = Roster::new(&ids.iter().map(Identity::public_key).collect::<Vec<_>>()).unwrap();

    let mut s = Secrets::new();
    client_secrets(
        &mut s,
        &clients_drawn,
        &public,
        &inputs,
        malicious.then_some(&ids[..]),
    );
    server_secrets(&mut s, base + 1);
    s.install();

    let mut server = armed(|| {
        if malicious {
            Server::with_roster(&p, ROUND, &roster, &mut rng(base + 1)).unwrap()
        } else {
            Server::new(&p, ROUND, &mut rng(base + 1)).unwrap()
        }
    });
    let mut rngs: Vec<ChaCha20Rng> = seeds.iter().map(|&s| rng(s)).collect();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut export_rng = rng(base + 3);

    // R0.
    let (clients, adv): (Vec<Option<Client>>, Vec<Vec<u8>>) = armed(|| {
        (1..=n)
            .zip(&mut rngs)
            .zip(&ids)
            .map(|((u, r), id)| {
                clear_stacks();
                let (c, a) = if malicious {
                    Client::with_identity(&p, ROUND, u, id, &roster, r).unwrap()
                } else {
                    Client::new(&p, ROUND, u, r).unwrap()
                };
                (Some(c), a)
            })
            .unzip()
    });
    let mut clients = armed(|| moved_around(clients));
    let mut from_server = armed(|| {
        for (u, a) in (1..=n).zip(&adv) {
            server.receive(u, a).unwrap();
        }
        deliver(server.close_phase().unwrap())
    });
    sent.extend(adv);
    assert_clean("R0");

    // The session is known: the keys of spec/crypto.md sections 4 and 5.
    let session: [u8; 32] = from_server[0].1[2..34].try_into().unwrap();
    session_secrets(&mut s, &session, &clients_drawn, &public);
    s.install();

    // Each later phase: every live client answers the server's message,
    // is exported and imported (the plaintext buffers are the check), the
    // clients are moved, and the server takes the answers and closes.
    let mut phases = vec![
        ("R1", ClientPhase::ShareDelivery),
        (
            "R2",
            if malicious {
                ClientPhase::ConsistencyRequest
            } else {
                ClientPhase::UnmaskRequest
            },
        ),
    ];
    if malicious {
        phases.push(("consistency", ClientPhase::UnmaskRequest));
    }
    phases.push(("R3", ClientPhase::Done));
    let mut last = None;
    for (name, next) in phases {
        let live = if name == "R1" { 5 } else { 4 };
        let answers: Vec<Vec<u8>> = armed(|| {
            let mut out = Vec::new();
            for (i, r) in rngs.iter_mut().take(live).enumerate() {
                clear_stacks();
                let u = u32::try_from(i + 1).unwrap();
                let c = clients[i].take().unwrap();
                let sealed = c.export(&key, &mut export_rng);
                drop(c);
                let mut c = Client::import(&sealed, &key, &ROUND, awaiting(name)).unwrap();
                out.push(c.receive(&message_to(&from_server, u), r).unwrap());
                if name == "R1" {
                    c.set_input(&inputs[i]).unwrap();
                }
                let sealed = c.export(&key, &mut export_rng);
                drop(c);
                clients[i] = Some(Client::import(&sealed, &key, &ROUND, next).unwrap());
            }
            if name == "R1" {
                // Client 5 drops with its input set.
                clients[4] = None;
            }
            out
        });
        clients = armed(|| moved_around(core::mem::take(&mut clients)));
        // The server too is exported and imported before it takes them.
        let before = server;
        server = armed(|| {
            let phase = before.phase();
            let sealed = before.export(&key, &mut export_rng);
            drop(before);
            Server::import(&sealed, &key, &ROUND, phase).unwrap()
        });
        let step = armed(|| {
            for (u, msg) in (1..).zip(&answers) {
                server.receive(u, msg).unwrap();
            }
            server.close_phase().unwrap()
        });
        sent.extend(answers);
        sent.extend(from_server.iter().map(|(_, m)| m.clone()));
        match step {
            Step::Deliver(m) => from_server = armed(|| m.into_vec()),
            Step::Done(agg) => last = Some(agg),
            _ => panic!("a step"),
        }
        assert_clean(name);
    }
    armed(|| {
        drop(core::mem::take(&mut clients));
        drop(server);
    });
    assert_clean("the clients' and the server's drop");
    assert_eq!(
        last.expect("R3 closes the round").sum,
        survivors_sum(&p, &inputs[..4]),
        "the round is exact"
    );

    // No message carries a secret.
    for msg in &sent {
        scan(msg);
    }
    assert_clean("the messages");
}

/// The phase a client is in when the server's message of phase `name`
/// reaches it.
fn awaiting(name: &str) -> ClientPhase {
    match name {
        "R1" => ClientPhase::KeyBroadcast,
        "R2" => ClientPhase::ShareDelivery,
        "consistency" => ClientPhase::ConsistencyRequest,
        _ => ClientPhase::UnmaskRequest,
    }
}

/// The clients of a semi-honest round through the C ABI (`secagg::ffi`,
/// include/secagg.h), the server through the Rust API, every call armed:
/// creation from a seeded `SecaggRng` (the same stream as the Rust
/// clients' RNG), each message copied out with `secagg_client_message`,
/// the input passed with the share delivery, each client exported and
/// imported (into a new handle) after every message, client 5 freed after
/// R1. No call frees a block holding a secret of `a_round_frees_no_secret`
/// (the identities aside); the sum is exact.
#[cfg(feature = "ffi")]
fn a_c_abi_round_frees_no_secret(base: u64) {
    use secagg::ffi::*;
    use std::ptr;

    fn ok(status: SecaggStatus) {
        assert_eq!(status, SecaggStatus::Ok);
    }
    /// The bytes of `(buf, cap, len)` output `f` (at most 1 MiB).
    fn out(f: impl FnOnce(*mut u8, usize, *mut usize) -> SecaggStatus) -> Vec<u8> {
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0usize;
        ok(f(buf.as_mut_ptr(), buf.len(), &mut len));
        buf.truncate(len);
        buf
    }

    let (n, t, bits, m) = (5u32, 3usize, 32u8, 40u32);
    let p = Params::new(n, t as u32, bits, m, Graph::Complete).unwrap();
    let seeds: Vec<u64> = (1..=u64::from(n)).map(|u| base + u).collect();
    let clients_drawn: Vec<Drawn> = seeds.iter().map(|&s| drawn(s, t)).collect();
    let public = public_keys(&clients_drawn);
    let inputs = inputs_for(&p, base + 77);
    let mut s = Secrets::new();
    client_secrets(&mut s, &clients_drawn, &public, &inputs, None);
    s.install();
    let state_key = [0x6b; 32];
    let mut server = armed(|| Server::new(&p, ROUND, &mut rng(base + 1)).unwrap());

    // Every handle: parameters, seeded sources, clients.
    let mut params = ptr::null_mut();
    let mut rngs: Vec<*mut SecaggRng> = Vec::new();
    let mut clients: Vec<*mut SecaggClient> = Vec::new();
    let mut export_rng = ptr::null_mut();
    let adv: Vec<Vec<u8>> = armed(|| unsafe {
        ok(secagg_params_new(n, t as u32, bits, m, &mut params));
        ok(secagg_rng_new_seeded(base + 3, &mut export_rng));
        seeds
            .iter()
            .zip(1..)
            .map(|(&seed, u)| {
                clear_stacks();
                let mut r = ptr::null_mut();
                ok(secagg_rng_new_seeded(seed, &mut r));
                let mut c = ptr::null_mut();
                ok(secagg_client_new(
                    params,
                    ROUND.as_ptr(),
                    u,
                    ptr::null(),
                    ptr::null(),
                    r,
                    &mut c,
                ));
                rngs.push(r);
                clients.push(c);
                out(|b, cap, len| secagg_client_message(c, b, cap, len))
            })
            .collect()
    });
    let mut from_server = armed(|| {
        for (u, a) in (1..).zip(&adv) {
            server.receive(u, a).unwrap();
        }
        deliver(server.close_phase().unwrap())
    });
    assert_clean("C ABI: R0");
    let session: [u8; 32] = from_server[0].1[2..34].try_into().unwrap();
    session_secrets(&mut s, &session, &clients_drawn, &public);
    s.install();

    let phases = [
        (SecaggClientPhase::AwaitingShares, 5usize),
        (SecaggClientPhase::AwaitingUnmask, 4),
        (SecaggClientPhase::Done, 4),
    ];
    let mut last = None;
    for (round, (next, live)) in phases.into_iter().enumerate() {
        let answers: Vec<Vec<u8>> = armed(|| unsafe {
            let mut answers = Vec::new();
            for (i, c) in clients.iter_mut().take(live).enumerate() {
                clear_stacks();
                let u = u32::try_from(i + 1).unwrap();
                let msg = message_to(&from_server, u);
                let mut fault = 0u32;
                ok(match round {
                    0 => {
                        secagg_client_receive_keys(*c, msg.as_ptr(), msg.len(), rngs[i], &mut fault)
                    }
                    1 => secagg_client_receive_shares(
                        *c,
                        msg.as_ptr(),
                        msg.len(),
                        inputs[i].as_ptr(),
                        inputs[i].len(),
                        &mut fault,
                    ),
                    _ => secagg_client_receive_unmask(*c, msg.as_ptr(), msg.len(), &mut fault),
                });
                answers.push(out(|b, cap, len| secagg_client_message(*c, b, cap, len)));
                let sealed = out(|b, cap, len| {
                    secagg_client_export(*c, state_key.as_ptr(), export_rng, b, cap, len)
                });
                secagg_client_free(*c);
                ok(secagg_client_import(
                    sealed.as_ptr(),
                    sealed.len(),
                    state_key.as_ptr(),
                    ROUND.as_ptr(),
                    next as i32,
                    c,
                ));
            }
            if round == 0 {
                secagg_client_free(clients.pop().unwrap());
            }
            answers
        });
        let step = armed(|| {
            for (u, msg) in (1..).zip(&answers) {
                server.receive(u, msg).unwrap();
            }
            server.close_phase().unwrap()
        });
        match step {
            Step::Deliver(msgs) => from_server = armed(|| msgs.into_vec()),
            Step::Done(agg) => last = Some(agg),
            _ => panic!("a step"),
        }
        assert_clean(&format!("C ABI: R{}", round + 1));
    }
    armed(|| unsafe {
        for c in clients.drain(..) {
            secagg_client_free(c);
        }
        for r in rngs.drain(..) {
            secagg_rng_free(r);
        }
        secagg_rng_free(export_rng);
        secagg_params_free(params);
        drop(server);
    });
    assert_clean("C ABI: the handles' free");
    assert_eq!(
        last.expect("R3 closes the round").sum,
        survivors_sum(&p, &inputs[..4]),
        "the round is exact"
    );
}

/// Moves the clients as a host might: into a vector that reallocates as it
/// grows, through a hash map that rehashes as it fills, and back in order.
fn moved_around(clients: Vec<Option<Client>>) -> Vec<Option<Client>> {
    let mut grown = Vec::with_capacity(1);
    for c in clients {
        grown.push(c);
    }
    let mut map = HashMap::with_capacity(1);
    for (i, c) in grown.into_iter().enumerate() {
        map.insert(i, c);
    }
    let mut back: Vec<(usize, Option<Client>)> = map.into_iter().collect();
    back.sort_by_key(|(i, _)| *i);
    back.into_iter().map(|(_, c)| c).collect()
}

/// `Calibration::encode` (spec/dp.md section 2) works on a copy of the
/// input that it pads, clips, rotates and scales in place, then rounds:
/// neither the input nor the scaled copy is left in a freed block.
fn dp_encoding_frees_no_copy_of_the_input() {
    let m = 100usize;
    let config = DpConfig::new(1.0, 1e-5, 1.0, m as u32, 20, 10).unwrap();
    let cal = config.calibrate().unwrap();
    let seed = [0x33; 32];
    let mut r = rng(5);
    let x: Zeroizing<Vec<f64>> = Zeroizing::new(
        (0..m)
            .map(|_| (f64::from(r.next_u32()) / f64::from(u32::MAX)) - 0.5)
            .collect(),
    );
    // What encode computes before it rounds, from the public steps.
    let mut v = Zeroizing::new(Vec::with_capacity(cal.padded_dim()));
    v.extend_from_slice(&x);
    v.resize(cal.padded_dim(), 0.0);
    secagg::dp::clip::clip_l2(&mut v, config.clip).unwrap();
    secagg::dp::rotate::rotate(&mut v, &seed).unwrap();
    secagg::dp::clip::clip_l2(&mut v, config.clip).unwrap();
    v.iter_mut().for_each(|e| *e *= cal.scale());
    let mut s = Secrets::new();
    s.add_floats("the input", &x);
    s.add_floats("the scaled, rotated input", &v);
    s.install();
    let encoded = armed(|| cal.encode(&x, &seed, &mut rng(6)).unwrap());
    assert_clean("DP encode");
    assert_eq!(encoded.len(), cal.padded_dim());
}
