//! What each signature of the malicious-server model covers
//! (spec/crypto.md section 9), and the masking-set bitmaps: shared by the
//! client, which signs and checks, and the server, which checks and
//! forwards.

use std::collections::BTreeSet;

use crate::crypto::kx::{self, PublicKeyBytes};
use crate::error::ClientIndex;
use crate::params::{Params, RoundId};
use crate::protocol::messages::SessionId;

/// What a ShareKeys signature covers (spec/crypto.md section 9).
pub(crate) fn shares_parts(
    session: &SessionId,
    index: ClientIndex,
    key_commitments: &[[u8; 32]],
    seed_commitments: &[[u8; 32]],
) -> [Vec<u8>; 4] {
    [
        session.to_vec(),
        index.to_le_bytes().to_vec(),
        key_commitments.concat(),
        seed_commitments.concat(),
    ]
}

/// What an AdvertiseKeys signature covers (spec/crypto.md section 9).
pub(crate) fn advertise_parts(
    params: &Params,
    round: &RoundId,
    index: ClientIndex,
    c_pk: &PublicKeyBytes,
    s_pk: &PublicKeyBytes,
) -> [Vec<u8>; 5] {
    [
        kx::params_digest(&params.to_bytes()).to_vec(),
        round.to_vec(),
        index.to_le_bytes().to_vec(),
        c_pk.to_vec(),
        s_pk.to_vec(),
    ]
}

/// Signed fields as the borrowed slices the signer takes.
pub(crate) trait Parts {
    fn parts(&self) -> Vec<&[u8]>;
}

impl<const N: usize> Parts for [Vec<u8>; N] {
    fn parts(&self) -> Vec<&[u8]> {
        self.iter().map(Vec::as_slice).collect()
    }
}

/// The bitmap of `set` over `neighbours` (both ascending): bit `j` set when
/// the `j`-th neighbour is in `set`.
pub(crate) fn neighbour_bitmap(neighbours: &[ClientIndex], set: &BTreeSet<ClientIndex>) -> Vec<u8> {
    let mut out = vec![0u8; neighbours.len().div_ceil(8)];
    for (j, v) in neighbours.iter().enumerate() {
        if set.contains(v) {
            out[j / 8] |= 1 << (j % 8);
        }
    }
    out
}

/// The members of `neighbours` whose bits are set in `bitmap`.
pub(crate) fn bitmap_members(neighbours: &[ClientIndex], bitmap: &[u8]) -> BTreeSet<ClientIndex> {
    neighbours
        .iter()
        .enumerate()
        .filter(|(j, _)| bitmap.get(j / 8).is_some_and(|b| b >> (j % 8) & 1 == 1))
        .map(|(_, &v)| v)
        .collect()
}

/// What a masking-set signature covers.
pub(crate) fn masked_with_parts(
    session: &SessionId,
    owner: ClientIndex,
    bitmap: &[u8],
) -> [Vec<u8>; 3] {
    [
        session.to_vec(),
        owner.to_le_bytes().to_vec(),
        bitmap.to_vec(),
    ]
}

/// What a consistency signature covers.
pub(crate) fn consistency_parts(
    session: &SessionId,
    signer: ClientIndex,
    digest: &[u8; 32],
) -> [Vec<u8>; 3] {
    [
        session.to_vec(),
        signer.to_le_bytes().to_vec(),
        digest.to_vec(),
    ]
}
