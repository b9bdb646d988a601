//! Arithmetic mod `2^b` and the bit-packed vector encoding
//! (spec/wire-format.md section 3).
//!
//! Element `i` occupies bits `i*b .. (i+1)*b` of the packed string, least
//! significant bit first, bytes little-endian; the last byte's unused high
//! bits are zero. The packed length is `ceil(m * b / 8)` bytes.

use crate::error::DecodeError;

/// `2^bits - 1` (all ones for 64).
pub(crate) fn mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Reduces every element mod `2^bits`.
pub(crate) fn reduce(v: &mut [u64], bits: u8) {
    let m = mask(bits);
    if m != u64::MAX {
        v.iter_mut().for_each(|x| *x &= m);
    }
}

/// Adds `src` into `acc` element-wise, wrapping.
pub(crate) fn add_assign(acc: &mut [u64], src: &[u64]) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a = a.wrapping_add(*s);
    }
}

/// The packed length of `len` elements of `bits` bits, or `None` on overflow.
pub fn packed_len(len: usize, bits: u8) -> Option<usize> {
    len.checked_mul(usize::from(bits))?
        .checked_add(7)
        .map(|x| x / 8)
}

/// Appends `v` (every element already below `2^bits`) bit-packed to `out`.
pub(crate) fn pack(v: &[u64], bits: u8, out: &mut Vec<u8>) {
    match bits {
        8 => out.extend(v.iter().map(|&x| x.to_le_bytes()[0])),
        16 => v
            .iter()
            .for_each(|&x| out.extend_from_slice(&x.to_le_bytes()[..2])),
        32 => v
            .iter()
            .for_each(|&x| out.extend_from_slice(&x.to_le_bytes()[..4])),
        64 => v
            .iter()
            .for_each(|&x| out.extend_from_slice(&x.to_le_bytes())),
        _ => {
            let b = u32::from(bits);
            let mut acc: u128 = 0;
            let mut have: u32 = 0;
            for &x in v {
                acc |= u128::from(x) << have;
                have += b;
                while have >= 8 {
                    out.push(acc.to_le_bytes()[0]);
                    acc >>= 8;
                    have -= 8;
                }
            }
            if have > 0 {
                out.push(acc.to_le_bytes()[0]);
            }
        }
    }
}

/// Writes `v` reduced mod `2^bits` and bit-packed into `out`, which must be
/// exactly [`packed_len`]`(v.len(), bits)` bytes: the same bytes as
/// [`reduce`] then [`pack`], in one pass and without a copy of `v`. Bytes
/// beyond a too-short `out` are dropped (never a panic).
pub(crate) fn pack_reduced_into<T: Copy + Into<u64>>(v: &[T], bits: u8, out: &mut [u8]) {
    fn whole<const W: usize, T: Copy + Into<u64>>(v: &[T], out: &mut [u8]) {
        for (o, &x) in out.chunks_exact_mut(W).zip(v) {
            let x: u64 = x.into();
            if let Some(b) = x.to_le_bytes().get(..W) {
                o.copy_from_slice(b);
            }
        }
    }
    match bits {
        8 => whole::<1, T>(v, out),
        16 => whole::<2, T>(v, out),
        32 => whole::<4, T>(v, out),
        64 => whole::<8, T>(v, out),
        _ => {
            let m = mask(bits);
            let b = u32::from(bits);
            let mut acc: u128 = 0;
            let mut have: u32 = 0;
            let mut words = out.chunks_mut(8);
            for &x in v {
                let x: u64 = x.into();
                // have < 64 here, so have + b <= 127.
                acc |= u128::from(x & m) << have;
                have += b;
                if have >= 64 {
                    if let Some(w) = words.next() {
                        let le = acc.to_le_bytes();
                        let n = w.len();
                        w.copy_from_slice(&le[..n]);
                    }
                    acc >>= 64;
                    have -= 64;
                }
            }
            if have > 0
                && let Some(w) = words.next()
            {
                let le = acc.to_le_bytes();
                let n = w.len().min(16);
                w[..n].copy_from_slice(&le[..n]);
            }
        }
    }
}

/// Checks that `bytes` is a canonical packing of exactly `len` elements of
/// `bits` bits: exactly [`packed_len`] long, with zero padding bits.
///
/// # Errors
/// [`DecodeError::Truncated`] / [`DecodeError::TrailingBytes`] on a length
/// mismatch, [`DecodeError::NonCanonical`] on non-zero padding,
/// [`DecodeError::LengthOutOfBounds`] if the length overflows.
pub(crate) fn check_packed(bytes: &[u8], len: usize, bits: u8) -> Result<(), DecodeError> {
    let total_bits = len
        .checked_mul(usize::from(bits))
        .ok_or(DecodeError::LengthOutOfBounds)?;
    let need = packed_len(len, bits).ok_or(DecodeError::LengthOutOfBounds)?;
    if bytes.len() < need {
        return Err(DecodeError::Truncated);
    }
    if bytes.len() > need {
        return Err(DecodeError::TrailingBytes);
    }
    // The padding is the high `8 - used` bits of the last byte.
    let used = total_bits % 8;
    if let (true, Some(&last)) = (used != 0, bytes.last())
        && last >> used != 0
    {
        return Err(DecodeError::NonCanonical);
    }
    Ok(())
}

/// Calls `f(i, x)` for each element `x` of a packed string already checked
/// by [`check_packed`] (`len` elements of `bits` bits).
#[inline]
fn for_each_packed(bytes: &[u8], len: usize, bits: u8, mut f: impl FnMut(usize, u64)) {
    match bits {
        8 | 16 | 32 | 64 => {
            let w = usize::from(bits / 8);
            for (i, c) in bytes.chunks_exact(w).enumerate() {
                let mut le = [0u8; 8];
                le[..w].copy_from_slice(c);
                f(i, u64::from_le_bytes(le));
            }
        }
        _ => {
            let b = u32::from(bits);
            let m = u128::from(mask(bits));
            let mut acc: u128 = 0;
            let mut have: u32 = 0;
            let mut it = bytes.iter();
            for i in 0..len {
                while have < b {
                    // The length was checked: the iterator has the bytes.
                    let byte = it.next().copied().unwrap_or(0);
                    acc |= u128::from(byte) << have;
                    have += 8;
                }
                f(i, u64::try_from(acc & m).unwrap_or(0));
                acc >>= b;
                have -= b;
            }
        }
    }
}

/// Decodes exactly `len` packed elements of `bits` bits from `bytes`, which
/// must be exactly [`packed_len`] long with zero padding bits.
///
/// # Errors
/// As [`check_packed`].
pub(crate) fn unpack(bytes: &[u8], len: usize, bits: u8) -> Result<Vec<u64>, DecodeError> {
    check_packed(bytes, len, bits)?;
    let mut out = Vec::with_capacity(len);
    for_each_packed(bytes, len, bits, |_, x| out.push(x));
    Ok(out)
}

/// Adds the packed vector `bytes` (checked by [`check_packed`] for
/// `acc.len()` elements of `bits` bits) into `acc`, wrapping, without
/// unpacking it into memory first.
pub(crate) fn add_packed(acc: &mut [u64], bytes: &[u8], bits: u8) {
    match bits {
        32 => {
            for (a, c) in acc.iter_mut().zip(bytes.chunks_exact(4)) {
                let x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                *a = a.wrapping_add(u64::from(x));
            }
        }
        _ => {
            let len = acc.len();
            for_each_packed(bytes, len, bits, |i, x| {
                if let Some(a) = acc.get_mut(i) {
                    *a = a.wrapping_add(x);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packs_lsb_first() {
        let mut out = Vec::new();
        pack(&[1, 0, 3], 2, &mut out);
        assert_eq!(out, vec![0b11_00_01]);
        let mut out = Vec::new();
        pack(&[1, 1, 1, 1, 1, 1, 1, 1, 1], 1, &mut out);
        assert_eq!(out, vec![0xff, 0x01]);
        assert_eq!(unpack(&[0xff, 0x03], 9, 1), Err(DecodeError::NonCanonical));
        assert_eq!(unpack(&[0xff], 9, 1), Err(DecodeError::Truncated));
        assert_eq!(unpack(&[0xff, 1, 0], 9, 1), Err(DecodeError::TrailingBytes));
        assert_eq!(packed_len(3, 33), Some(13));
    }

    proptest! {
        #[test]
        fn roundtrip(bits in 1u8..=64, raw in proptest::collection::vec(any::<u64>(), 0..70)) {
            let mut v = raw;
            reduce(&mut v, bits);
            let mut out = Vec::new();
            pack(&v, bits, &mut out);
            prop_assert_eq!(Some(out.len()), packed_len(v.len(), bits));
            prop_assert_eq!(unpack(&out, v.len(), bits), Ok(v));
        }

        /// Adding a packed vector in place equals unpacking and adding, for
        /// every width (32 has its own loop).
        #[test]
        fn add_packed_is_unpack_then_add(
            bits in 1u8..=64,
            raw in proptest::collection::vec(any::<u64>(), 0..70),
            start in any::<u64>(),
        ) {
            let mut v = raw;
            reduce(&mut v, bits);
            let mut packed = Vec::new();
            pack(&v, bits, &mut packed);
            let mut want: Vec<u64> = (0..v.len() as u64)
                .map(|i| start.wrapping_mul(i + 1))
                .collect();
            let mut got = want.clone();
            add_assign(&mut want, &v);
            prop_assert_eq!(check_packed(&packed, v.len(), bits), Ok(()));
            add_packed(&mut got, &packed, bits);
            prop_assert_eq!(got, want);
        }

        /// The fused reduce-and-pack writes the bytes of reduce then pack,
        /// for every width and lengths that are not multiples of 8.
        #[test]
        fn pack_reduced_into_is_reduce_then_pack(
            bits in 1u8..=64,
            raw in proptest::collection::vec(any::<u64>(), 0..70),
        ) {
            let mut v = raw.clone();
            reduce(&mut v, bits);
            let mut want = Vec::new();
            pack(&v, bits, &mut want);
            let mut got = vec![0xa5u8; packed_len(raw.len(), bits).unwrap()];
            pack_reduced_into(&raw, bits, &mut got);
            prop_assert_eq!(got, want);
        }

        /// Any set padding bit is refused, by the check and by unpack.
        #[test]
        fn padding_bits_are_refused(bits in 1u8..=64, len in 1usize..40, bit in 0u32..8) {
            let total = len * usize::from(bits);
            let used = u32::try_from(total % 8).unwrap();
            prop_assume!(used != 0 && bit >= used);
            let mut packed = vec![0u8; packed_len(len, bits).unwrap()];
            *packed.last_mut().unwrap() |= 1 << bit;
            prop_assert_eq!(check_packed(&packed, len, bits), Err(DecodeError::NonCanonical));
            prop_assert_eq!(unpack(&packed, len, bits), Err(DecodeError::NonCanonical));
        }
    }
}
