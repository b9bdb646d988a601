//! The one codec: [`Encode`] / [`Decode`] and a bounded, borrowed [`Reader`].
//!
//! Implements spec/wire-format.md section 2 (encoding rules). Integers are
//! little-endian; every count is checked against a bound from the parameters
//! *and* against the bytes that remain before anything is allocated, so a
//! length field can never make the decoder allocate more than the input
//! justifies. Decoders are total: every input gives a value or a
//! [`DecodeError`], trailing bytes are an error, and a value that decodes
//! re-encodes to the same bytes.

use crate::error::DecodeError;

/// The largest roster this build accepts.
pub const MAX_CLIENTS: u32 = 1 << 24;
/// The largest vector length this build accepts.
pub const MAX_DIM: u32 = 1 << 28;

/// The protocol version this build speaks: the first byte of every message
/// and of the parameters' encoding (spec/wire-format.md section 6).
pub const VERSION: u8 = 2;

/// A borrowed cursor over untrusted bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next `len` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer remain.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    /// Takes a fixed-size array by reference: no copy of it is made (a
    /// secret read this way leaves no copy behind to wipe).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than `N` bytes remain.
    pub fn array_ref<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        <&[u8; N]>::try_from(self.take(N)?).map_err(|_| DecodeError::Truncated)
    }

    /// Takes a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than `N` bytes remain.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] at the end of input.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] if fewer than 4 bytes remain.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a `u32` count of items of `item_len` bytes each, bounded by `max`
    /// and by the bytes that remain; returns it as `usize`.
    ///
    /// # Errors
    /// [`DecodeError::LengthOutOfBounds`] when the count exceeds `max`,
    /// [`DecodeError::Truncated`] when the items cannot fit in what remains.
    pub fn count(&mut self, max: usize, item_len: usize) -> Result<usize, DecodeError> {
        let count = usize::try_from(self.u32()?).map_err(|_| DecodeError::LengthOutOfBounds)?;
        if count > max {
            return Err(DecodeError::LengthOutOfBounds);
        }
        match count.checked_mul(item_len) {
            Some(need) if need <= self.remaining() => Ok(count),
            _ => Err(DecodeError::Truncated),
        }
    }

    /// Fails unless every byte was read.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] if bytes remain.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// A value with one canonical byte encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The exact length of [`Encode::encode`]'s output.
    fn encoded_len(&self) -> usize;

    /// The encoding as a fresh vector (allocated once, at the exact size).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

/// A value decoded from untrusted bytes under a context (for messages, the
/// round's [`crate::Params`], which bound every count and the vector length).
pub trait Decode: Sized {
    /// What the decoder needs to know besides the bytes.
    type Context: ?Sized;

    /// Decodes exactly `bytes` (no trailing bytes).
    ///
    /// # Errors
    /// A [`DecodeError`] for any input that is not a canonical encoding.
    fn decode(ctx: &Self::Context, bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// Appends a little-endian `u32`.
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a collection length as a `u32`. Lengths are bounded by the
/// parameters (at most `MAX_CLIENTS` entries), so they always fit.
pub(crate) fn put_len(out: &mut Vec<u8>, len: usize) {
    put_u32(out, u32::try_from(len).unwrap_or(u32::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[1, 0, 0, 0, 9]);
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.take(2), Err(DecodeError::Truncated));
        assert_eq!(r.u8(), Ok(9));
        assert_eq!(r.u8(), Err(DecodeError::Truncated));
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(Reader::new(&[0]).finish(), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn count_is_checked_before_allocation() {
        // A count of 2^32 - 1 items of 80 bytes with 4 bytes behind it.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.count(usize::MAX, 80), Err(DecodeError::Truncated));
        let mut r = Reader::new(&bytes);
        assert_eq!(r.count(10, 1), Err(DecodeError::LengthOutOfBounds));
        let mut r = Reader::new(&[1, 0, 0, 0, 7]);
        assert_eq!(r.count(1, 1), Ok(1));
    }
}
