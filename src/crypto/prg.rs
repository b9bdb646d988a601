//! The mask PRG (spec/crypto.md section 5).
//!
//! Element `i` of the mask under a 32-byte key is lane `i` of a keystream
//! under that key, read little-endian: 4-byte lanes when `b <= 32`, 8-byte
//! lanes otherwise, reduced mod `2^b`. The keystream is the RFC 8439 ChaCha20
//! keystream with the all-zero nonce, or (when the parameters say so)
//! AES-128-CTR under the key's first 16 bytes with a 128-bit big-endian
//! counter starting at zero. Lanes are seekable, so any chunk of the vector
//! is expanded on its own. Accumulators use wrapping arithmetic: since `2^b`
//! divides `2^64`, reducing once at the end gives the sum mod `2^b`. The
//! hot paths ([`apply_many`], [`mask_and_pack`]) add the masks of a chunk
//! into a tile of lane-wide words (`u32` when `b <= 32`: `2^b` divides
//! `2^32` too), so adding a lane is one wrapping add with no widening, and
//! widen the tile into the `u64` vector once per chunk.

use aes::Aes128;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use zeroize::{Zeroize, Zeroizing};

/// AES-128 in counter mode with a 128-bit big-endian counter.
type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// The keystream that expands a mask key (spec/crypto.md section 5). The
/// server chooses it and the parameters carry it (spec/params.md), so every
/// party computes the same bytes; a client without AES instructions is only
/// slower.
///
/// ```
/// use secagg::{Graph, Params, Prg};
/// let p = Params::new(5, 3, 32, 8, Graph::Complete)?.with_prg(Prg::fastest());
/// assert_eq!(Params::decode(&p.to_bytes())?.prg(), Prg::fastest());
/// # Ok::<(), secagg::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum Prg {
    /// The RFC 8439 ChaCha20 keystream with the all-zero nonce (the
    /// default: constant time and fast everywhere).
    #[default]
    ChaCha20,
    /// AES-128-CTR: several times faster on CPUs with AES instructions
    /// (AES-NI, ARMv8 AES), much slower in software elsewhere.
    Aes128Ctr,
}

impl Prg {
    /// [`Prg::Aes128Ctr`] when this CPU has AES instructions, else
    /// [`Prg::ChaCha20`]: for a server choosing the parameters. The choice
    /// only speeds up machines like the server's; clients compute the same
    /// masks either way.
    pub fn fastest() -> Self {
        if aes::hardware_accelerated() {
            Self::Aes128Ctr
        } else {
            Self::ChaCha20
        }
    }
}

/// A 32-byte PRG key.
pub(crate) type PrgKey = Zeroizing<[u8; 32]>;

/// Keystream bytes generated per step: large enough to amortise the
/// cipher's setup, small enough to stay in L1 next to the accumulator.
const BUF: usize = 4096;

/// Bytes per lane for modulus bits `bits`.
pub(crate) fn lane_bytes(bits: u8) -> usize {
    if bits <= 32 { 4 } else { 8 }
}

/// Whether the PRG output is added or subtracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// Add the mask.
    Plus,
    /// Subtract the mask.
    Minus,
}

/// A word the keystream is read into or added to: `u32` or `u64`, wrapping.
pub(crate) trait Word: Copy + Default + Send + Sync + Zeroize + Into<u64> {
    /// Bytes per word.
    const BYTES: usize;
    /// The little-endian word in `l` (exactly `BYTES` bytes).
    fn read(l: &[u8]) -> Self;
    /// `x mod 2^(8 BYTES)`.
    fn low(x: u64) -> Self;
    /// Wrapping addition.
    fn add(self, o: Self) -> Self;
    /// Wrapping subtraction.
    fn sub(self, o: Self) -> Self;
}

/// `Word` for an unsigned integer type, given its little-endian read and
/// its truncation from `u64`.
macro_rules! word {
    ($t:ty, $read:expr, $low:expr) => {
        impl Word for $t {
            const BYTES: usize = core::mem::size_of::<$t>();
            #[inline(always)]
            fn read(l: &[u8]) -> Self {
                $read(l)
            }
            #[inline(always)]
            fn low(x: u64) -> Self {
                $low(x)
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
        }
    };
}

word!(
    u32,
    |l: &[u8]| u32::from_le_bytes([l[0], l[1], l[2], l[3]]),
    |x: u64| x as u32
);
word!(
    u64,
    |l: &[u8]| u64::from_le_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]),
    |x: u64| x
);

/// Keystream scratch space, wiped once when dropped (not after every mask:
/// a byte-by-byte wipe of 4 KiB costs as much as several KiB of AES
/// keystream).
type KeystreamBuf = Zeroizing<[u8; BUF]>;

fn keystream_buf() -> KeystreamBuf {
    Zeroizing::new([0u8; BUF])
}

/// Adds (or subtracts) mask elements `start .. start + acc.len()` of the
/// keystream `prg` under `key` into `acc`, wrapping mod `2^64`.
pub(crate) fn apply(prg: Prg, key: &[u8; 32], bits: u8, start: usize, acc: &mut [u64], sign: Sign) {
    let mut buf = keystream_buf();
    if lane_bytes(bits) == 4 {
        apply_lanes::<u32, u64>(prg, key, start, acc, sign, &mut buf);
    } else {
        apply_lanes::<u64, u64>(prg, key, start, acc, sign, &mut buf);
    }
}

/// Adds (or subtracts) lanes `start .. start + acc.len()` of the keystream
/// `prg` under `key`, read as `L` words, into `acc`, through `buf`.
fn apply_lanes<L: Word + Into<A>, A: Word>(
    prg: Prg,
    key: &[u8; 32],
    start: usize,
    acc: &mut [A],
    sign: Sign,
    buf: &mut KeystreamBuf,
) {
    match prg {
        Prg::ChaCha20 => fill::<_, L, A>(
            ChaCha20::new(key.into(), &[0u8; 12].into()),
            start,
            acc,
            sign,
            buf,
        ),
        Prg::Aes128Ctr => {
            // The AES key is the first half of the 32-byte key; the initial
            // counter block is zero (spec/crypto.md section 5).
            let k: Zeroizing<[u8; 16]> = Zeroizing::new(core::array::from_fn(|i| key[i]));
            fill::<_, L, A>(
                Aes128Ctr::new(&(*k).into(), &[0u8; 16].into()),
                start,
                acc,
                sign,
                buf,
            );
        }
    }
}

/// [`apply_lanes`] on a freshly keyed stream cipher.
fn fill<C: StreamCipher + StreamCipherSeek, L: Word + Into<A>, A: Word>(
    mut cipher: C,
    start: usize,
    acc: &mut [A],
    sign: Sign,
    buf: &mut KeystreamBuf,
) {
    // Byte offsets fit in u64: start < MAX_DIM * 8.
    cipher.seek(
        u64::try_from(start)
            .unwrap_or(u64::MAX)
            .saturating_mul(L::BYTES as u64),
    );
    for chunk in acc.chunks_mut(BUF / L::BYTES) {
        let Some(bytes) = buf.get_mut(..chunk.len() * L::BYTES) else {
            return;
        };
        cipher.write_keystream(bytes);
        match sign {
            Sign::Plus => add_lanes::<L, A, false>(chunk, bytes),
            Sign::Minus => add_lanes::<L, A, true>(chunk, bytes),
        }
    }
}

/// Adds every `(key, sign)` mask's lanes `start .. start + tile.len()` into
/// `tile`, lane-wide words.
fn masks_into<T: Word>(
    prg: Prg,
    masks: &[(PrgKey, Sign)],
    start: usize,
    tile: &mut [T],
    buf: &mut KeystreamBuf,
) {
    for (key, sign) in masks {
        apply_lanes::<T, T>(prg, key, start, tile, *sign, buf);
    }
}

/// One worker's tile of lane-wide words and keystream buffer, wiped on
/// drop (a tile holds a partial sum of masks: key material).
struct Scratch<T: Word> {
    tile: Zeroizing<Vec<T>>,
    buf: KeystreamBuf,
}

impl<T: Word> Scratch<T> {
    fn new() -> Self {
        Self {
            tile: Zeroizing::new(Vec::with_capacity(CHUNK)),
            buf: keystream_buf(),
        }
    }

    /// Refills the tile with `len` zero words.
    fn zeroed(&mut self, len: usize) {
        self.tile.clear();
        self.tile.resize(len, T::default());
    }
}

/// One thread's mask PRG floor: `passes` times, a fresh cipher under `key`
/// adds `len` lanes into a lane-wide tile, as [`apply_many`] and
/// [`mask_and_pack`] do for each mask of a chunk. Returns the OR of the
/// tile's words, for the caller to keep opaque.
pub(crate) fn floor_pass(prg: Prg, key: &[u8; 32], bits: u8, len: usize, passes: usize) -> u64 {
    fn run<T: Word>(prg: Prg, key: &[u8; 32], len: usize, passes: usize) -> u64 {
        let mut s = Scratch::<T>::new();
        s.zeroed(len);
        for _ in 0..passes {
            apply_lanes::<T, T>(prg, key, 0, &mut s.tile, Sign::Plus, &mut s.buf);
        }
        s.tile.iter().fold(0, |a, &x| a | x.into())
    }
    if lane_bytes(bits) == 4 {
        run::<u32>(prg, key, len, passes)
    } else {
        run::<u64>(prg, key, len, passes)
    }
}

/// Elements unmasked together: 128 KiB of accumulator, so each chunk stays in
/// L2 while every mask is added into it. Each mask starts a fresh cipher per
/// chunk (an AES-128 key schedule costs as much as several KiB of
/// keystream), so chunks are not made smaller than that.
pub(crate) const CHUNK: usize = 16384;

/// Adds every `(key, sign)` mask into `acc` (from element 0), equal mod
/// `2^bits` to adding them one by one with [`apply`] (the caller reduces).
/// Chunk by chunk: each chunk's masks are summed into a lane-wide tile that
/// stays in cache while every mask is added to it, then the tile is added
/// into `acc`; chunks run in parallel with the `parallel` feature.
///
/// A short vector has fewer chunks than the threads can share (m = 10^4 is
/// three chunks): then the masks are also split into groups, each group
/// summed into its own zeroed copy of the vector tile by tile, and the
/// copies added into `acc`. The copies take at most about
/// `8 * threads * CHUNK` lanes in all.
pub(crate) fn apply_many(prg: Prg, masks: &[(PrgKey, Sign)], bits: u8, acc: &mut [u64]) {
    if lane_bytes(bits) == 4 {
        apply_many_as::<u32>(prg, masks, acc);
    } else {
        apply_many_as::<u64>(prg, masks, acc);
    }
}

/// [`apply_many`] with tiles of `T` words.
fn apply_many_as<T: Word>(prg: Prg, masks: &[(PrgKey, Sign)], acc: &mut [u64]) {
    let one = |s: &mut Scratch<T>, (i, chunk): (usize, &mut [u64])| {
        s.zeroed(chunk.len());
        masks_into(prg, masks, i * CHUNK, &mut s.tile, &mut s.buf);
        add_words(chunk, &s.tile);
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let Some(copies) = group_sums::<T>(prg, masks, acc.len()) else {
            acc.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each_init(Scratch::new, one);
            return;
        };
        acc.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| add_copies(chunk, &copies, i));
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut s = Scratch::new();
        acc.chunks_mut(CHUNK)
            .enumerate()
            .for_each(|job| one(&mut s, job));
    }
}

/// The short-vector split of [`apply_many`]: when a vector of `len`
/// elements has fewer chunks than the threads can share, the masks cut into
/// groups, each summed over the whole vector into its own zeroed copy
/// (wiped on drop: a group's sum is key material). `None` when the chunks
/// alone keep the threads busy.
#[cfg(feature = "parallel")]
fn group_sums<T: Word>(
    prg: Prg,
    masks: &[(PrgKey, Sign)],
    len: usize,
) -> Option<Vec<Zeroizing<Vec<T>>>> {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let chunks = len.div_ceil(CHUNK);
    let tiles = 4 * threads;
    if threads < 2 || chunks == 0 || chunks >= tiles || masks.len() < 2 {
        return None;
    }
    let groups = tiles.div_ceil(chunks).min(masks.len());
    let per = masks.len().div_ceil(groups);
    let mut copies: Vec<Zeroizing<Vec<T>>> = masks
        .chunks(per)
        .map(|_| Zeroizing::new(vec![T::default(); len]))
        .collect();
    copies
        .par_iter_mut()
        .zip(masks.par_chunks(per))
        .flat_map(|(copy, group)| {
            copy.par_chunks_mut(CHUNK)
                .enumerate()
                .map(move |(i, chunk)| (group, i, chunk))
        })
        .for_each_init(keystream_buf, |buf, (group, i, chunk)| {
            masks_into(prg, group, i * CHUNK, chunk, buf);
        });
    Some(copies)
}

/// Adds chunk `i` of every group sum of [`group_sums`] into `chunk`.
#[cfg(feature = "parallel")]
fn add_copies<T: Word + Into<A>, A: Word>(chunk: &mut [A], copies: &[Zeroizing<Vec<T>>], i: usize) {
    for copy in copies {
        add_words(chunk, copy.get(i * CHUNK..).unwrap_or(&[]));
    }
}

/// `acc[j] += src[j]` (wrapping), `src` widened to `acc`'s words.
fn add_words<T: Word + Into<A>, A: Word>(acc: &mut [A], src: &[T]) {
    for (a, &s) in acc.iter_mut().zip(src) {
        *a = a.add(s.into());
    }
}

/// Masks `input` with every `(key, sign)` mask, reduces mod `2^bits` and
/// writes the result bit-packed (spec/wire-format.md section 3) into `out`,
/// which must be exactly `vector::packed_len(input.len(), bits)` bytes: the
/// bytes of `input` plus [`apply_many`], `vector::reduce` and
/// `vector::pack`, in one pass per chunk of [`CHUNK`] elements (each chunk
/// packs to a whole number of bytes, `CHUNK * bits / 8`), with no
/// `m`-element copy of the input. Chunks run in parallel with the
/// `parallel` feature; a short vector splits its masks into groups as
/// [`apply_many`] does.
///
/// Returns the bitwise OR of every input element, so that the caller checks
/// the range `input < 2^bits` without reading the input again.
pub(crate) fn mask_and_pack(
    prg: Prg,
    masks: &[(PrgKey, Sign)],
    bits: u8,
    input: &[u64],
    out: &mut [u8],
) -> u64 {
    if lane_bytes(bits) == 4 {
        mask_and_pack_as::<u32>(prg, masks, bits, input, out)
    } else {
        mask_and_pack_as::<u64>(prg, masks, bits, input, out)
    }
}

/// [`mask_and_pack`] with tiles of `T` words.
fn mask_and_pack_as<T: Word>(
    prg: Prg,
    masks: &[(PrgKey, Sign)],
    bits: u8,
    input: &[u64],
    out: &mut [u8],
) -> u64 {
    // CHUNK * bits is a multiple of 8 for every width.
    let packed = CHUNK * usize::from(bits) / 8;
    if packed == 0 {
        return input.iter().fold(0, |a, &x| a | x);
    }
    // Chunk `i`: the tile is the input mod 2^(8 T::BYTES) (a multiple of
    // 2^bits), all masks are added into it while it sits in cache, then it
    // is reduced and packed. After the last mask the tile holds public
    // masked elements only.
    let load = |s: &mut Scratch<T>, inp: &[u64]| -> u64 {
        let mut or = 0;
        s.tile.clear();
        s.tile.extend(inp.iter().map(|&x| {
            or |= x;
            T::low(x)
        }));
        or
    };
    let one = |s: &mut Scratch<T>, (i, (inp, o)): (usize, (&[u64], &mut [u8]))| -> u64 {
        let or = load(s, inp);
        masks_into(prg, masks, i * CHUNK, &mut s.tile, &mut s.buf);
        crate::vector::pack_reduced_into(&s.tile, bits, o);
        or
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let work = input
            .par_chunks(CHUNK)
            .zip(out.par_chunks_mut(packed))
            .enumerate();
        match group_sums::<T>(prg, masks, input.len()) {
            None => work.map_init(Scratch::new, one).reduce(|| 0, |a, b| a | b),
            Some(copies) => work
                .map_init(Scratch::new, |s, (i, (inp, o))| {
                    let or = load(s, inp);
                    add_copies(&mut s.tile, &copies, i);
                    crate::vector::pack_reduced_into(&s.tile, bits, o);
                    or
                })
                .reduce(|| 0, |a, b| a | b),
        }
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut s = Scratch::new();
        input
            .chunks(CHUNK)
            .zip(out.chunks_mut(packed))
            .enumerate()
            .map(|job| one(&mut s, job))
            .fold(0, |a, b| a | b)
    }
}

/// Adds (`NEG`: subtracts) the `L` words of `bytes` into `acc`, widened to
/// `A`.
#[inline(always)]
fn add_lanes<L: Word + Into<A>, A: Word, const NEG: bool>(acc: &mut [A], bytes: &[u8]) {
    for (a, l) in acc.iter_mut().zip(bytes.chunks_exact(L::BYTES)) {
        let v: A = L::read(l).into();
        *a = if NEG { a.sub(v) } else { a.add(v) };
    }
}

/// The first `len` mask elements under `key`, reduced mod `2^bits`.
#[cfg(test)]
pub(crate) fn expand(prg: Prg, key: &[u8; 32], bits: u8, len: usize) -> Vec<u64> {
    let mut out = vec![0u64; len];
    apply(prg, key, bits, 0, &mut out, Sign::Plus);
    crate::vector::reduce(&mut out, bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 section 2.4.2's key with a zero nonce: the first keystream
    /// block from A.1 test vector #1 (all-zero key, zero nonce, counter 0).
    #[test]
    fn matches_rfc8439_zero_key_block() {
        let k = [0u8; 32];
        let lanes = expand(Prg::ChaCha20, &k, 32, 4);
        // 76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 ...
        assert_eq!(
            lanes,
            vec![0xade0_b876, 0x903d_f1a0, 0xe56a_5d40, 0x28bd_8653]
        );
        let wide = expand(Prg::ChaCha20, &k, 64, 2);
        assert_eq!(wide, vec![0x903d_f1a0_ade0_b876, 0x28bd_8653_e56a_5d40]);
        let narrow = expand(Prg::ChaCha20, &k, 3, 2);
        assert_eq!(narrow, vec![0xade0_b876 & 7, 0x903d_f1a0 & 7]);
    }

    #[test]
    fn chunks_are_seekable() {
        let k = [7u8; 32];
        for bits in [1u8, 17, 32, 33, 64] {
            let whole = expand(Prg::ChaCha20, &k, bits, 3000);
            let mut part = vec![0u64; 1000];
            apply(Prg::ChaCha20, &k, bits, 1500, &mut part, Sign::Plus);
            crate::vector::reduce(&mut part, bits);
            assert_eq!(&whole[1500..2500], &part[..]);
        }
    }

    #[test]
    fn apply_many_equals_one_by_one() {
        let keys: Vec<(PrgKey, Sign)> = (0..5u8)
            .map(|i| {
                (
                    Zeroizing::new([i; 32]),
                    if i % 2 == 0 { Sign::Plus } else { Sign::Minus },
                )
            })
            .collect();
        for bits in [3u8, 32, 64] {
            let mut one = vec![1u64; 3 * CHUNK + 17];
            for (k, s) in &keys {
                apply(Prg::ChaCha20, k, bits, 0, &mut one, *s);
            }
            let mut many = vec![1u64; 3 * CHUNK + 17];
            apply_many(Prg::ChaCha20, &keys, bits, &mut many);
            // Equal mod 2^bits: the lane-wide tiles wrap at 2^32 when
            // bits <= 32.
            crate::vector::reduce(&mut one, bits);
            crate::vector::reduce(&mut many, bits);
            assert_eq!(one, many);
        }
    }

    #[test]
    fn apply_many_on_short_vectors_equals_one_by_one() {
        // Fewer chunks than threads can share: the masks are split into
        // groups summed apart (with the `parallel` feature).
        let keys: Vec<(PrgKey, Sign)> = (0..37u8)
            .map(|i| {
                (
                    Zeroizing::new([i.wrapping_mul(7); 32]),
                    if i % 3 == 0 { Sign::Minus } else { Sign::Plus },
                )
            })
            .collect();
        for prg in [Prg::ChaCha20, Prg::Aes128Ctr] {
            for (bits, len) in [
                (32u8, 1usize),
                (32, CHUNK + 5),
                (64, 2 * CHUNK + 1),
                (20, 777),
            ] {
                let start: Vec<u64> = (0..len as u64).map(|i| i * 3 + 1).collect();
                let mut one = start.clone();
                for (k, s) in &keys {
                    apply(prg, k, bits, 0, &mut one, *s);
                }
                let mut many = start.clone();
                apply_many(prg, &keys, bits, &mut many);
                crate::vector::reduce(&mut one, bits);
                crate::vector::reduce(&mut many, bits);
                assert_eq!(one, many);
                assert!(len == 0 || many != start);
            }
        }
    }

    /// The unfused reference of [`mask_and_pack`]: copy, add each mask
    /// into `u64` words, reduce, pack.
    fn mask_then_pack(prg: Prg, masks: &[(PrgKey, Sign)], bits: u8, input: &[u64]) -> Vec<u8> {
        let mut v = input.to_vec();
        for (key, sign) in masks {
            apply(prg, key, bits, 0, &mut v, *sign);
        }
        crate::vector::reduce(&mut v, bits);
        let mut out = Vec::new();
        crate::vector::pack(&v, bits, &mut out);
        out
    }

    fn fused(prg: Prg, masks: &[(PrgKey, Sign)], bits: u8, input: &[u64]) -> (Vec<u8>, u64) {
        let len = crate::vector::packed_len(input.len(), bits).unwrap();
        let mut out = vec![0x5au8; len];
        let or = mask_and_pack(prg, masks, bits, input, &mut out);
        (out, or)
    }

    fn test_masks(count: u8) -> Vec<(PrgKey, Sign)> {
        (0..count)
            .map(|i| {
                (
                    Zeroizing::new([i.wrapping_mul(11).wrapping_add(1); 32]),
                    if i % 3 == 1 { Sign::Minus } else { Sign::Plus },
                )
            })
            .collect()
    }

    /// Every width, both PRGs, lengths that are not multiples of 8 or of
    /// the chunk (with `parallel`, a few chunks take the grouped path).
    #[test]
    fn mask_and_pack_equals_mask_then_pack() {
        let masks = test_masks(4);
        for prg in [Prg::ChaCha20, Prg::Aes128Ctr] {
            for bits in 1u8..=64 {
                for len in [0usize, 1, 7, 13, CHUNK - 1, CHUNK + 3] {
                    let top = crate::vector::mask(bits);
                    let input: Vec<u64> = (0..len as u64)
                        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & top)
                        .collect();
                    let (got, or) = fused(prg, &masks, bits, &input);
                    assert_eq!(
                        got,
                        mask_then_pack(prg, &masks, bits, &input),
                        "{prg:?} bits {bits} len {len}"
                    );
                    assert_eq!(or, input.iter().fold(0, |a, &x| a | x));
                }
            }
        }
    }

    /// Long vectors: many chunks (the chunk path), and the input's OR
    /// reports an element out of range wherever it is.
    #[test]
    fn mask_and_pack_long_vectors_and_range() {
        let masks = test_masks(3);
        for prg in [Prg::ChaCha20, Prg::Aes128Ctr] {
            for bits in [5u8, 32, 33, 64] {
                let len = 9 * CHUNK + 5;
                let top = crate::vector::mask(bits);
                let mut input: Vec<u64> = (0..len as u64).map(|i| (i * 7 + 3) & top).collect();
                let (got, or) = fused(prg, &masks, bits, &input);
                assert_eq!(got, mask_then_pack(prg, &masks, bits, &input));
                assert_eq!(or & !top, 0);
                if bits < 64 {
                    input[len - 2] = top + 1;
                    let (_, or) = fused(prg, &masks, bits, &input);
                    assert_ne!(or & !top, 0);
                }
            }
        }
    }

    /// With one thread the chunk path runs for every length.
    #[cfg(feature = "parallel")]
    #[test]
    fn mask_and_pack_on_one_thread() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let masks = test_masks(5);
        pool.install(|| {
            for bits in [1u8, 17, 32, 63] {
                for len in [3usize, CHUNK + 9, 2 * CHUNK] {
                    let input: Vec<u64> = (0..len as u64)
                        .map(|i| i & crate::vector::mask(bits))
                        .collect();
                    let (got, _) = fused(Prg::Aes128Ctr, &masks, bits, &input);
                    assert_eq!(got, mask_then_pack(Prg::Aes128Ctr, &masks, bits, &input));
                }
            }
        });
    }

    /// The floor pass adds the same mask lanes the hot paths do: one pass is
    /// the mask itself, two passes twice it, wrapping at the lane width.
    #[test]
    fn floor_pass_adds_the_mask() {
        let k = [3u8; 32];
        for prg in [Prg::ChaCha20, Prg::Aes128Ctr] {
            for bits in [32u8, 64] {
                let lanes = expand(prg, &k, bits, 700);
                let or = |f: &dyn Fn(u64) -> u64| lanes.iter().fold(0, |a, &x| a | f(x));
                assert_eq!(floor_pass(prg, &k, bits, 700, 1), or(&|x| x));
                let top = crate::vector::mask(bits);
                assert_eq!(
                    floor_pass(prg, &k, bits, 700, 2),
                    or(&|x| x.wrapping_mul(2) & top)
                );
            }
        }
    }

    #[test]
    fn minus_cancels_plus() {
        let k = [9u8; 32];
        let mut acc: Vec<u64> = (0..2049).collect();
        let before = acc.clone();
        apply(Prg::ChaCha20, &k, 40, 3, &mut acc, Sign::Plus);
        assert_ne!(acc, before);
        apply(Prg::ChaCha20, &k, 40, 3, &mut acc, Sign::Minus);
        assert_eq!(acc, before);
    }

    /// AES-128-CTR keystream block `i` is AES under the key's first 16 bytes
    /// of the 128-bit big-endian counter `i`: checked against the block
    /// function itself, lane by lane, for both lane widths.
    #[test]
    fn aes_lanes_are_aes_of_big_endian_counters() {
        use aes::cipher::{BlockCipherEncrypt, KeyInit};
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
        let aes = Aes128::new(&core::array::from_fn::<u8, 16, _>(|i| key[i]).into());
        // 300 blocks: past the 4096-byte buffer and a carry out of the low byte.
        let mut stream = Vec::new();
        for i in 0u128..300 {
            let mut block = i.to_be_bytes().into();
            aes.encrypt_block(&mut block);
            stream.extend_from_slice(&block);
        }
        let narrow = expand(Prg::Aes128Ctr, &key, 32, stream.len() / 4);
        let want: Vec<u64> = stream
            .chunks_exact(4)
            .map(|l| u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]])))
            .collect();
        assert_eq!(narrow, want);
        let wide = expand(Prg::Aes128Ctr, &key, 64, stream.len() / 8);
        let want: Vec<u64> = stream
            .chunks_exact(8)
            .map(|l| u64::from_le_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]))
            .collect();
        assert_eq!(wide, want);
        // The second half of the key plays no part.
        let mut other = key;
        other[16..].fill(0xee);
        assert_eq!(expand(Prg::Aes128Ctr, &other, 64, 40), wide[..40]);
        // And the stream differs from ChaCha20's.
        assert_ne!(expand(Prg::ChaCha20, &key, 64, 40), wide[..40]);
    }

    /// Published AES-128 answers under the all-zero key: E(0) is the GCM
    /// hash key of the all-zero key, E(1) and E(2) the keystream of GCM test
    /// cases 1 and 2 (McGrew and Viega), read as little-endian lanes.
    #[test]
    fn aes_matches_zero_key_known_answers() {
        let lanes = expand(Prg::Aes128Ctr, &[0u8; 32], 32, 12);
        assert_eq!(
            lanes,
            vec![
                // 66e94bd4 ef8a2c3b 884cfa59 ca342b2e
                0xd44b_e966,
                0x3b2c_8aef,
                0x59fa_4c88,
                0x2e2b_34ca,
                // 58e2fcce fa7e3061 367f1d57 a4e7455a
                0xcefc_e258,
                0x6130_7efa,
                0x571d_7f36,
                0x5a45_e7a4,
                // 0388dace 60b6a392 f328c2b9 71b2fe78
                0xceda_8803,
                0x92a3_b660,
                0xb9c2_28f3,
                0x78fe_b271,
            ]
        );
    }

    #[test]
    fn aes_chunks_are_seekable() {
        let k = [0x5au8; 32];
        for bits in [1u8, 17, 32, 33, 64] {
            let whole = expand(Prg::Aes128Ctr, &k, bits, 3000);
            for start in [1usize, 3, 4, 1500, 2047] {
                let mut part = vec![0u64; 3000 - start];
                apply(Prg::Aes128Ctr, &k, bits, start, &mut part, Sign::Plus);
                crate::vector::reduce(&mut part, bits);
                assert_eq!(&whole[start..], &part[..], "bits {bits} start {start}");
            }
        }
    }

    #[test]
    fn aes_apply_many_equals_one_by_one_and_cancels() {
        let keys: Vec<(PrgKey, Sign)> = (0..4u8)
            .map(|i| (Zeroizing::new([i; 32]), Sign::Plus))
            .collect();
        let mut one = vec![1u64; 2 * CHUNK + 5];
        for (k, s) in &keys {
            apply(Prg::Aes128Ctr, k, 32, 0, &mut one, *s);
        }
        let mut many = vec![1u64; 2 * CHUNK + 5];
        apply_many(Prg::Aes128Ctr, &keys, 32, &mut many);
        crate::vector::reduce(&mut one, 32);
        let mut reduced = many.clone();
        crate::vector::reduce(&mut reduced, 32);
        assert_eq!(one, reduced);
        let minus: Vec<(PrgKey, Sign)> =
            keys.iter().map(|(k, _)| (k.clone(), Sign::Minus)).collect();
        apply_many(Prg::Aes128Ctr, &minus, 32, &mut many);
        crate::vector::reduce(&mut many, 32);
        assert_eq!(many, vec![1u64; 2 * CHUNK + 5]);
    }
}
