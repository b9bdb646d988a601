//! The crate's primitives: the mask PRG per lane width, Shamir dealing and
//! reconstruction, and Feldman share checks.
//!
//!     cargo bench --bench primitives
//!
//! Element throughput is reported per mask element; 4-byte lanes serve
//! `b <= 32`, 8-byte lanes `b` in 33..=64 (spec/crypto.md section 5), for
//! each keystream (ChaCha20 and AES-128-CTR). `keystream` times the bare
//! ciphers in bytes, ChaCha12 and ChaCha8 included (not offered as mask
//! PRGs: spec/crypto.md section 5 gives the measured reason).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::SeedableRng;
use secagg::Prg;
use secagg::bench::{Dealing, add_mask, add_masks};

fn keystream(c: &mut Criterion) {
    let m = 100_000;
    let mut g = c.benchmark_group("mask_prg");
    g.throughput(Throughput::Elements(m as u64));
    for (name, prg) in [("chacha20", Prg::ChaCha20), ("aes128ctr", Prg::Aes128Ctr)] {
        for bits in [16u8, 32, 48, 64] {
            let mut acc = vec![0u64; m];
            g.bench_with_input(BenchmarkId::new(name, bits), &bits, |b, &bits| {
                b.iter(|| add_mask(prg, black_box(&[7u8; 32]), bits, &mut acc));
            });
        }
    }
    g.finish();
}

/// The bare keystream of each cipher, 64 KiB at a time into one buffer.
fn raw_keystream(c: &mut Criterion) {
    use aes::cipher::{KeyIvInit, StreamCipher};
    const LEN: usize = 64 << 10;
    let mut g = c.benchmark_group("keystream");
    g.throughput(Throughput::Bytes(LEN as u64));
    let mut buf = vec![0u8; LEN];
    let key = [7u8; 32];
    let mut run = |name: &str, cipher: &mut dyn StreamCipher| {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| cipher.apply_keystream(black_box(&mut buf)));
        });
    };
    // Seek back is not needed: the keystream of each cipher is far longer
    // than the bytes a measurement draws.
    run(
        "chacha20",
        &mut chacha20::ChaCha20::new(&key.into(), &[0u8; 12].into()),
    );
    run(
        "chacha12",
        &mut chacha20::ChaCha12::new(&key.into(), &[0u8; 12].into()),
    );
    run(
        "chacha8",
        &mut chacha20::ChaCha8::new(&key.into(), &[0u8; 12].into()),
    );
    let k16: [u8; 16] = [7u8; 16];
    run(
        "aes128ctr",
        &mut ctr::Ctr128BE::<aes::Aes128>::new(&k16.into(), &[0u8; 16].into()),
    );
    g.finish();
}

fn unmask_loop(c: &mut Criterion) {
    let m = 100_000;
    let mut g = c.benchmark_group("unmask_masks");
    for masks in [1usize, 12, 48] {
        let keys: Vec<[u8; 32]> = (0..masks).map(|i| [i as u8; 32]).collect();
        let mut acc = vec![0u64; m];
        g.throughput(Throughput::Elements((m * masks) as u64));
        g.bench_with_input(BenchmarkId::new("b32", masks), &keys, |b, keys| {
            b.iter(|| add_masks(Prg::ChaCha20, black_box(keys), 32, &mut acc));
        });
    }
    g.finish();
}

fn shamir(c: &mut Criterion) {
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("shamir");
    // (t, holders): the semi-honest and malicious 5 %/5 % points for
    // n = 1,000, and the complete graph at n = 100.
    for (t, holders) in [(17usize, 31u32), (37, 53), (51, 100)] {
        let id = format!("t{t}_of_{holders}");
        g.bench_function(BenchmarkId::new("deal_committed", &id), |b| {
            b.iter(|| Dealing::new(t, holders, &mut rng));
        });
        let Some(d) = Dealing::new(t, holders, &mut rng) else {
            continue;
        };
        assert!(d.reconstruct() && d.verify_each());
        g.bench_function(BenchmarkId::new("reconstruct", &id), |b| {
            b.iter(|| black_box(d.reconstruct()));
        });
        g.bench_function(BenchmarkId::new("verify_each", &id), |b| {
            b.iter(|| black_box(d.verify_each()));
        });
        g.bench_function(BenchmarkId::new("verify_batch", &id), |b| {
            b.iter(|| black_box(d.verify_batch(&mut rng)));
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = keystream, raw_keystream, unmask_loop, shamir
}
criterion_main!(benches);
