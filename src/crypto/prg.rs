//! The mask PRG (spec/crypto.md section 5).
//!
//! Element `i` of the mask under a 32-byte key is lane `i` of the RFC 8439
//! ChaCha20 keystream under that key with the all-zero nonce, read
//! little-endian: 4-byte lanes when `b <= 32`, 8-byte lanes otherwise, reduced
//! mod `2^b`. Lanes are seekable, so any chunk of the vector is expanded on
//! its own. Accumulators are `u64` with wrapping arithmetic: since `2^b`
//! divides `2^64`, reducing once at the end gives the sum mod `2^b`.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use zeroize::Zeroizing;

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

/// Adds (or subtracts) mask elements `start .. start + acc.len()` under `key`
/// into `acc`, wrapping mod `2^64`.
pub(crate) fn apply(key: &[u8; 32], bits: u8, start: usize, acc: &mut [u64], sign: Sign) {
    let lane = lane_bytes(bits);
    let mut cipher = ChaCha20::new(key.into(), &[0u8; 12].into());
    // Byte offsets fit in u64: start < MAX_DIM * 8.
    cipher.seek(
        u64::try_from(start)
            .unwrap_or(u64::MAX)
            .saturating_mul(lane as u64),
    );
    let mut buf = Zeroizing::new([0u8; BUF]);
    for chunk in acc.chunks_mut(BUF / lane) {
        let bytes = &mut buf[..chunk.len() * lane];
        cipher.write_keystream(bytes);
        match (lane, sign) {
            (4, Sign::Plus) => add_lanes::<4, false>(chunk, bytes),
            (4, Sign::Minus) => add_lanes::<4, true>(chunk, bytes),
            (_, Sign::Plus) => add_lanes::<8, false>(chunk, bytes),
            (_, Sign::Minus) => add_lanes::<8, true>(chunk, bytes),
        }
    }
}

/// Elements unmasked together: 32 KiB of accumulator, so each chunk stays in
/// L1/L2 while every mask is added into it.
const CHUNK: usize = 4096;

/// Adds every `(key, sign)` mask into `acc` (from element 0), chunk by chunk
/// so that each chunk of the accumulator stays in cache while all masks are
/// applied to it; chunks run in parallel with the `parallel` feature.
pub(crate) fn apply_many(masks: &[(PrgKey, Sign)], bits: u8, acc: &mut [u64]) {
    let one = |(i, chunk): (usize, &mut [u64])| {
        for (key, sign) in masks {
            apply(key, bits, i * CHUNK, chunk, *sign);
        }
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        acc.par_chunks_mut(CHUNK).enumerate().for_each(one);
    }
    #[cfg(not(feature = "parallel"))]
    acc.chunks_mut(CHUNK).enumerate().for_each(one);
}

#[inline(always)]
fn add_lanes<const L: usize, const NEG: bool>(acc: &mut [u64], bytes: &[u8]) {
    for (a, l) in acc.iter_mut().zip(bytes.chunks_exact(L)) {
        let v = if L == 4 {
            u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]]))
        } else {
            u64::from_le_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]])
        };
        *a = if NEG {
            a.wrapping_sub(v)
        } else {
            a.wrapping_add(v)
        };
    }
}

/// The first `len` mask elements under `key`, reduced mod `2^bits`.
#[cfg(test)]
pub(crate) fn expand(key: &[u8; 32], bits: u8, len: usize) -> Vec<u64> {
    let mut out = vec![0u64; len];
    apply(key, bits, 0, &mut out, Sign::Plus);
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
        let lanes = expand(&k, 32, 4);
        // 76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 ...
        assert_eq!(
            lanes,
            vec![0xade0_b876, 0x903d_f1a0, 0xe56a_5d40, 0x28bd_8653]
        );
        let wide = expand(&k, 64, 2);
        assert_eq!(wide, vec![0x903d_f1a0_ade0_b876, 0x28bd_8653_e56a_5d40]);
        let narrow = expand(&k, 3, 2);
        assert_eq!(narrow, vec![0xade0_b876 & 7, 0x903d_f1a0 & 7]);
    }

    #[test]
    fn chunks_are_seekable() {
        let k = [7u8; 32];
        for bits in [1u8, 17, 32, 33, 64] {
            let whole = expand(&k, bits, 3000);
            let mut part = vec![0u64; 1000];
            apply(&k, bits, 1500, &mut part, Sign::Plus);
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
                apply(k, bits, 0, &mut one, *s);
            }
            let mut many = vec![1u64; 3 * CHUNK + 17];
            apply_many(&keys, bits, &mut many);
            assert_eq!(one, many);
        }
    }

    #[test]
    fn minus_cancels_plus() {
        let k = [9u8; 32];
        let mut acc: Vec<u64> = (0..2049).collect();
        let before = acc.clone();
        apply(&k, 40, 3, &mut acc, Sign::Plus);
        assert_ne!(acc, before);
        apply(&k, 40, 3, &mut acc, Sign::Minus);
        assert_eq!(acc, before);
    }
}
