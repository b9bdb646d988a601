//! The messages a phase close hands the host ([`Outbox`]), each built when
//! the host asks for it (spec/protocol.md section 5.2).

use core::fmt;
use std::sync::Arc;

use crate::crypto::identity::SignatureBytes;
use crate::error::ClientIndex;
use crate::protocol::messages::{Ciphertext, SessionId, ShareDelivery, ShareKeys};
use crate::protocol::parallel::par_map;

/// The messages of one phase close, for the host to deliver: one per
/// recipient, recipients ascending.
///
/// A message is built when it is asked for ([`Outbox::message`], or the
/// iterator of `into_iter`), so a host that sends each as it is built
/// never holds them all. This matters at the ShareKeys close: each
/// receiver's ShareDelivery carries the commitments of its ~k senders, so
/// the deliveries together are ~k times the size of what the server
/// received; the outbox holds only what was received (the ShareKeys,
/// moved in) and, per receiver, the positions of its senders (4 bytes a
/// ciphertext). A message shared by every recipient (the complete graph's
/// KeyBroadcast, the ConsistencyRequest) is held once. The bytes are the
/// same whichever way they are asked for.
///
/// # Example
/// ```
/// use secagg::Step;
///
/// # fn send(_to: u32, _bytes: Vec<u8>) {}
/// # fn host(step: Step) {
/// if let Step::Deliver(outbox) = step {
///     // One message built, sent and dropped at a time.
///     for (client, bytes) in outbox {
///         send(client, bytes);
///     }
/// }
/// # }
/// ```
pub struct Outbox {
    messages: Messages,
}

/// How an [`Outbox`] holds its messages.
enum Messages {
    /// Built already, `messages[i]` for `recipients[i]`.
    Built {
        recipients: Vec<ClientIndex>,
        messages: Vec<Vec<u8>>,
    },
    /// One message for every recipient.
    Shared {
        recipients: Vec<ClientIndex>,
        bytes: Vec<u8>,
    },
    /// The ShareKeys close's deliveries, built from what was received.
    Shares(Box<Deliveries>),
}

/// One polynomial's Feldman commitments, compressed, as
/// [`CommitmentTable`] hands them out.
pub(super) type Points = [[u8; 32]];

/// Points per block of a [`CommitmentTable`] (64 KiB): few blocks to free,
/// and filling one while the messages' own lists are freed costs at most
/// one block more than the lists alone.
const TABLE_BLOCK_POINTS: usize = 2048;

/// One sender of a [`CommitmentTable`]: `(sender, block, start in the
/// block, mask-key count, self-seed count)`.
type TableEntry = (ClientIndex, usize, usize, usize, usize);

/// The Feldman commitments the server keeps from R1 to R3, flat: every
/// sender's points (its mask-key polynomial's, then its self-seed
/// polynomial's) in blocks of [`TABLE_BLOCK_POINTS`], ascending by sender,
/// so that the table is a few dozen allocations per thousand senders
/// rather than three per sender, freed together.
#[derive(Clone, Default)]
pub(super) struct CommitmentTable {
    /// Ascending by sender.
    entries: Vec<TableEntry>,
    blocks: Vec<Vec<[u8; 32]>>,
}

impl CommitmentTable {
    /// An empty table with room for `senders` entries (the points' blocks
    /// are allocated as they fill).
    pub(super) fn with_capacity(senders: usize) -> Self {
        Self {
            entries: Vec::with_capacity(senders),
            blocks: Vec::new(),
        }
    }

    /// Adds `owner`'s commitments, `owner` above every sender already in
    /// (a lower one is ignored: the table stays ascending).
    pub(super) fn insert(&mut self, owner: ClientIndex, [key, seed]: [&Points; 2]) {
        if self.entries.last().is_some_and(|&(last, ..)| last >= owner) {
            return;
        }
        let need = key.len() + seed.len();
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= need);
        if !fits {
            self.blocks
                .push(Vec::with_capacity(need.max(TABLE_BLOCK_POINTS)));
        }
        let at = self.blocks.len() - 1;
        if let Some(block) = self.blocks.last_mut() {
            self.entries
                .push((owner, at, block.len(), key.len(), seed.len()));
            block.extend_from_slice(key);
            block.extend_from_slice(seed);
        }
    }

    /// `owner`'s mask-key and self-seed commitments.
    pub(super) fn get(&self, owner: ClientIndex) -> Option<[&Points; 2]> {
        let at = self
            .entries
            .binary_search_by_key(&owner, |&(o, ..)| o)
            .ok()?;
        self.points(self.entries.get(at)?)
    }

    /// The two lists of one entry.
    fn points(&self, &(_, block, start, key, seed): &TableEntry) -> Option<[&Points; 2]> {
        let points = self.blocks.get(block)?;
        let mid = start.checked_add(key)?;
        Some([
            points.get(start..mid)?,
            points.get(mid..mid.checked_add(seed)?)?,
        ])
    }

    /// Every sender with its commitments, ascending: one pass over the
    /// entries.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ClientIndex, [&Points; 2])> {
        self.entries
            .iter()
            .filter_map(|entry| Some((entry.0, self.points(entry)?)))
    }

    /// The number of senders.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What the server keeps of one ShareKeys for its deliveries besides its
/// commitments (those go into the round's [`CommitmentTable`]): the
/// signature every delivery from this sender forwards, and the
/// ciphertexts.
struct Forward {
    signature: Option<SignatureBytes>,
    /// `(receiver, ciphertext)`, ascending by receiver.
    ciphertexts: Vec<(ClientIndex, Ciphertext)>,
}

/// The R1 close's deliveries, unbuilt: per receiver in U2, the positions
/// in `sent` of the senders that addressed it a ciphertext.
struct Deliveries {
    session: SessionId,
    /// U2, ascending: the receivers, and the senders of `sent` in order.
    u2: Vec<ClientIndex>,
    sent: Vec<Forward>,
    /// The senders' commitments, shared with the server, which keeps them
    /// for R3.
    commitments: Arc<CommitmentTable>,
    /// Receiver `r`'s senders are `senders[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
    /// Sender positions, ascending within each receiver's run.
    senders: Vec<u32>,
}

impl Deliveries {
    /// The bytes of the ShareDelivery of the receiver at position `r` of
    /// U2: an entry per sender in U2 that addressed it a ciphertext,
    /// ascending by sender, written straight from the ShareKeys received
    /// ([`ShareDelivery::encode_forwarded`]) into a buffer of its exact
    /// length.
    ///
    /// Implements spec/protocol.md section 5.2 (R1 close).
    fn build(&self, r: usize) -> Vec<u8> {
        let receiver = self.u2[r];
        let senders = &self.senders[self.starts[r]..self.starts[r + 1]];
        let entries = senders.iter().map(|&s| {
            let s = s as usize;
            let msg = &self.sent[s];
            // Present: the index was built from this list.
            let c = msg
                .ciphertexts
                .binary_search_by_key(&receiver, |(v, _)| *v)
                .unwrap_or_default();
            // Present: the table was filled from the same senders.
            let [kc, sc] = self.commitments.get(self.u2[s]).unwrap_or([&[], &[]]);
            (self.u2[s], [kc, sc], &msg.signature, &msg.ciphertexts[c].1)
        });
        ShareDelivery::encode_forwarded(&self.session, entries)
    }
}

impl Outbox {
    /// Messages built already: `(client, bytes)`, ascending by client.
    pub(super) fn built(messages: Vec<(ClientIndex, Vec<u8>)>) -> Self {
        let (recipients, messages) = messages.into_iter().unzip();
        Self {
            messages: Messages::Built {
                recipients,
                messages,
            },
        }
    }

    /// The same `bytes` for each of `recipients` (ascending), held once.
    pub(super) fn shared(recipients: Vec<ClientIndex>, bytes: Vec<u8>) -> Self {
        Self {
            messages: Messages::Shared { recipients, bytes },
        }
    }

    /// The R1 close's deliveries (spec/protocol.md section 5.2): one per
    /// receiver in `u2` (ascending, the senders of `sent` in order), with
    /// an entry per sender in U2 that addressed it a ciphertext. Only the
    /// index of who sent what to whom is built here, `O(n k)` 4-byte
    /// positions; ciphertexts addressed to clients outside U2 are not
    /// delivered. Every sender's commitments move into one
    /// [`CommitmentTable`], returned beside the outbox and shared with it
    /// (held once, freed at once).
    pub(super) fn share_deliveries(
        session: SessionId,
        u2: Vec<ClientIndex>,
        sent: Vec<ShareKeys>,
    ) -> (Self, Arc<CommitmentTable>) {
        let mut table = CommitmentTable::with_capacity(u2.len());
        let sent: Vec<Forward> = u2
            .iter()
            .zip(sent)
            .map(|(&sender, msg)| {
                table.insert(sender, [&msg.key_commitments, &msg.seed_commitments]);
                Forward {
                    signature: msg.signature,
                    ciphertexts: msg.ciphertexts,
                }
            })
            .collect();
        let commitments = Arc::new(table);
        let receivers = |msg: &Forward| -> Vec<usize> {
            msg.ciphertexts
                .iter()
                .filter_map(|(v, _)| u2.binary_search(v).ok())
                .collect()
        };
        // Counted first, then filled: one allocation of the exact size.
        let mut starts = vec![0; u2.len() + 1];
        for msg in &sent {
            for r in receivers(msg) {
                starts[r + 1] += 1;
            }
        }
        for r in 0..u2.len() {
            starts[r + 1] += starts[r];
        }
        let mut next = starts.clone();
        let mut senders = vec![0; starts[u2.len()]];
        // Senders in ascending order: each receiver's run is ascending.
        for (s, msg) in sent.iter().enumerate() {
            for r in receivers(msg) {
                senders[next[r]] = s as u32;
                next[r] += 1;
            }
        }
        let outbox = Self {
            messages: Messages::Shares(Box::new(Deliveries {
                session,
                u2,
                sent,
                commitments: Arc::clone(&commitments),
                starts,
                senders,
            })),
        };
        (outbox, commitments)
    }

    /// The clients there is a message for, ascending.
    pub fn recipients(&self) -> &[ClientIndex] {
        match &self.messages {
            Messages::Built { recipients, .. } | Messages::Shared { recipients, .. } => recipients,
            Messages::Shares(d) => &d.u2,
        }
    }

    /// The number of messages (and of recipients).
    pub fn len(&self) -> usize {
        self.recipients().len()
    }

    /// Whether there is no message at all.
    pub fn is_empty(&self) -> bool {
        self.recipients().is_empty()
    }

    /// The message at position `i` of [`Outbox::recipients`], built.
    fn at(&self, i: usize) -> Vec<u8> {
        match &self.messages {
            Messages::Built { messages, .. } => messages[i].clone(),
            Messages::Shared { bytes, .. } => bytes.clone(),
            Messages::Shares(d) => d.build(i),
        }
    }

    /// The message for `client`, built now (each call builds it again);
    /// `None` when `client` is not a recipient.
    pub fn message(&self, client: ClientIndex) -> Option<Vec<u8>> {
        let i = self.recipients().binary_search(&client).ok()?;
        Some(self.at(i))
    }

    /// Every message, `(client, bytes)` ascending by client, all built at
    /// once (in parallel with the `parallel` feature). At the ShareKeys
    /// close this holds ~k times what the server received: prefer the
    /// iterator at large n.
    pub fn into_vec(self) -> Vec<(ClientIndex, Vec<u8>)> {
        match self.messages {
            Messages::Built {
                recipients,
                messages,
            } => recipients.into_iter().zip(messages).collect(),
            Messages::Shared { recipients, bytes } => {
                recipients.into_iter().map(|v| (v, bytes.clone())).collect()
            }
            Messages::Shares(d) => {
                let positions: Vec<usize> = (0..d.u2.len()).collect();
                par_map(positions, |r| (d.u2[r], d.build(r)))
            }
        }
    }
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = match &self.messages {
            Messages::Built { .. } => "built",
            Messages::Shared { .. } => "shared",
            Messages::Shares(_) => "on demand",
        };
        f.debug_struct("Outbox")
            .field("messages", &self.len())
            .field("held", &held)
            .finish()
    }
}

/// The messages of an [`Outbox`], `(client, bytes)` ascending by client,
/// each built when it is reached.
pub struct IntoIter {
    outbox: Outbox,
    next: usize,
}

impl Iterator for IntoIter {
    type Item = (ClientIndex, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.next;
        let client = *self.outbox.recipients().get(i)?;
        self.next += 1;
        let bytes = match &mut self.outbox.messages {
            // Moved out, not copied: the iterator frees them as it goes.
            Messages::Built { messages, .. } => core::mem::take(&mut messages[i]),
            _ => self.outbox.at(i),
        };
        Some((client, bytes))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.outbox.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for IntoIter {}

impl fmt::Debug for IntoIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("left", &self.len())
            .finish()
    }
}

impl IntoIterator for Outbox {
    type Item = (ClientIndex, Vec<u8>);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter {
            outbox: self,
            next: 0,
        }
    }
}

#[cfg(test)]
mod share_delivery_tests {
    use super::*;
    use crate::codec::Encode;
    use crate::crypto::aead::CIPHERTEXT_LEN;
    use crate::protocol::messages::DeliveredShares;
    use std::collections::BTreeMap;

    fn outbox(session: &SessionId, u2: &[ClientIndex], sent: &[ShareKeys]) -> Outbox {
        Outbox::share_deliveries(*session, u2.to_vec(), sent.to_vec()).0
    }

    /// All the deliveries, built at once.
    fn share_deliveries(
        session: &SessionId,
        u2: &[ClientIndex],
        sent: &[ShareKeys],
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        outbox(session, u2, sent).into_vec()
    }

    /// The deliveries as built before `share_deliveries`: a
    /// [`DeliveredShares`] per (sender, receiver in `u2`), then `to_bytes`.
    fn reference(
        session: &SessionId,
        sent: &[(ClientIndex, ShareKeys)],
    ) -> Vec<(ClientIndex, Vec<u8>)> {
        let mut inbox: BTreeMap<ClientIndex, Vec<DeliveredShares>> =
            sent.iter().map(|(v, _)| (*v, Vec::new())).collect();
        for (sender, msg) in sent {
            for (receiver, ciphertext) in &msg.ciphertexts {
                if let Some(list) = inbox.get_mut(receiver) {
                    list.push(DeliveredShares {
                        sender: *sender,
                        key_commitments: msg.key_commitments.clone(),
                        seed_commitments: msg.seed_commitments.clone(),
                        signature: msg.signature,
                        ciphertext: *ciphertext,
                    });
                }
            }
        }
        inbox
            .into_iter()
            .map(|(v, shares)| {
                let msg = ShareDelivery {
                    session: *session,
                    shares,
                };
                (v, msg.to_bytes())
            })
            .collect()
    }

    fn share_keys(from: ClientIndex, t: usize, signed: bool, to: &[ClientIndex]) -> ShareKeys {
        let point = |j: usize, list: u8| {
            let mut p = [list; 32];
            p[0] = from as u8;
            p[1] = j as u8;
            p
        };
        ShareKeys {
            session: [7; 32],
            key_commitments: (0..t).map(|j| point(j, 1)).collect(),
            seed_commitments: (0..t).map(|j| point(j, 2)).collect(),
            signature: signed.then_some([from as u8 ^ 0x5a; 64]),
            ciphertexts: to
                .iter()
                .map(|&v| (v, [(from * 16 + v) as u8; CIPHERTEXT_LEN]))
                .collect(),
        }
    }

    /// Implements the check of spec/protocol.md section 5.2 (R1 close):
    /// the deliveries written straight from the ShareKeys are the bytes of
    /// the `ShareDelivery` values they stand for.
    #[test]
    fn deliveries_are_the_share_delivery_bytes() {
        // Client 4 dropped (not in U2): what is addressed to it, and to 1
        // and 6, is not delivered. Client 9 hears from 2 only (a single
        // sender); 7 from nobody (an empty delivery).
        let cases: Vec<Vec<(ClientIndex, &[ClientIndex])>> = vec![
            vec![
                (2, &[1, 3, 4, 5, 9]),
                (3, &[2, 4, 5]),
                (5, &[2, 3, 6]),
                (7, &[]),
                (9, &[]),
            ],
            vec![(3, &[1, 2, 4])],
            vec![(1, &[2]), (2, &[1])],
        ];
        for (t, signed) in [(1, false), (3, true), (4, false)] {
            for case in &cases {
                let sent: Vec<(ClientIndex, ShareKeys)> = case
                    .iter()
                    .map(|&(from, to)| (from, share_keys(from, t, signed, to)))
                    .collect();
                let u2: Vec<ClientIndex> = sent.iter().map(|(v, _)| *v).collect();
                let msgs: Vec<ShareKeys> = sent.iter().map(|(_, m)| m.clone()).collect();
                let session = [0x33; 32];
                let got = share_deliveries(&session, &u2, &msgs);
                assert_eq!(got, reference(&session, &sent), "t {t} case {case:?}");
                assert_eq!(got.len(), u2.len());
            }
        }
        // The single-sender delivery of the first case, entry by entry.
        let sent: Vec<ShareKeys> = cases[0]
            .iter()
            .map(|&(from, to)| share_keys(from, 2, false, to))
            .collect();
        let got = share_deliveries(&[1; 32], &[2, 3, 5, 7, 9], &sent);
        let (v, bytes) = &got[4];
        assert_eq!(*v, 9);
        let expected = ShareDelivery {
            session: [1; 32],
            shares: vec![DeliveredShares {
                sender: 2,
                key_commitments: sent[0].key_commitments.clone(),
                seed_commitments: sent[0].seed_commitments.clone(),
                signature: None,
                ciphertext: [(2 * 16 + 9) as u8; CIPHERTEXT_LEN],
            }],
        };
        assert_eq!(bytes, &expected.to_bytes());
        assert_eq!(
            got[3],
            (
                7,
                ShareDelivery {
                    session: [1; 32],
                    shares: Vec::new()
                }
                .to_bytes()
            )
        );
    }

    /// Every way of asking gives the same messages: `message(v)` is the
    /// element of `into_vec()` and of the iterator for `v`, `None` for a
    /// client that is not a recipient; `len` and `recipients` agree.
    #[test]
    fn every_way_of_asking_gives_the_same_bytes() {
        let sent: Vec<ShareKeys> = [
            (2, &[1, 3, 4, 5, 9][..]),
            (3, &[2, 4, 5]),
            (5, &[2, 3, 6, 9]),
            (7, &[]),
            (9, &[2]),
        ]
        .iter()
        .map(|&(from, to)| share_keys(from, 3, true, to))
        .collect();
        let u2 = [2, 3, 5, 7, 9];
        let session = [0x44; 32];
        let built: Vec<(ClientIndex, Vec<u8>)> =
            u2.iter().map(|&v| (v, vec![v as u8; v as usize])).collect();
        let make = |kind: usize| match kind {
            0 => outbox(&session, &u2, &sent),
            1 => Outbox::built(built.clone()),
            _ => Outbox::shared(u2.to_vec(), vec![0xab; 40]),
        };
        for kind in 0..3 {
            let all = make(kind).into_vec();
            let iterated: Vec<(ClientIndex, Vec<u8>)> = make(kind).into_iter().collect();
            let o = make(kind);
            assert_eq!(o.recipients(), &u2);
            assert_eq!(o.len(), 5);
            assert!(!o.is_empty());
            assert_eq!(o.into_iter().len(), 5);
            let o = make(kind);
            assert_eq!(all, iterated, "kind {kind}");
            assert_eq!(all.len(), u2.len());
            for (i, &v) in u2.iter().enumerate() {
                assert_eq!(all[i].0, v);
                assert_eq!(o.message(v).as_ref(), Some(&all[i].1), "kind {kind} v {v}");
            }
            for v in [0, 1, 4, 6, 8, 10] {
                assert_eq!(o.message(v), None, "kind {kind} v {v}");
            }
        }
        // Distinct messages where they should be: the deliveries differ
        // per receiver, and 9's is the one ShareDelivery from 2 and 5.
        let all = make(0).into_vec();
        assert_eq!(all, share_deliveries(&session, &u2, &sent));
        let expected = ShareDelivery {
            session,
            shares: [(0, 2), (2, 5)]
                .iter()
                .map(|&(s, sender)| DeliveredShares {
                    sender,
                    key_commitments: sent[s].key_commitments.clone(),
                    seed_commitments: sent[s].seed_commitments.clone(),
                    signature: sent[s].signature,
                    ciphertext: [(sender * 16 + 9) as u8; CIPHERTEXT_LEN],
                })
                .collect(),
        };
        assert_eq!(all[4].1, expected.to_bytes());
        assert_eq!(make(1).into_vec(), built);
        assert_eq!(make(2).message(7), Some(vec![0xab; 40]));
        let empty = Outbox::built(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.message(1), None);
        assert_eq!(empty.into_iter().next(), None);
        assert_eq!(
            format!("{:?}", make(0)),
            "Outbox { messages: 5, held: \"on demand\" }"
        );
    }

    /// The table hands back each sender's two lists exactly, by lookup and
    /// in one ascending pass, across block boundaries (a list longer than
    /// a block gets a block of its own), and ignores a sender that is not
    /// above the last one.
    #[test]
    fn commitment_table_keeps_every_list_across_blocks() {
        let lists = |owner: u32, len: usize, kind: u8| -> Vec<[u8; 32]> {
            (0..len)
                .map(|j| {
                    let mut p = [kind; 32];
                    p[..4].copy_from_slice(&owner.to_le_bytes());
                    p[4..8].copy_from_slice(&(j as u32).to_le_bytes());
                    p
                })
                .collect()
        };
        // Lengths that fill a block unevenly, one longer than a block, and
        // an empty seed list.
        let senders: Vec<(u32, usize, usize)> = vec![
            (2, 700, 700),
            (3, 300, 0),
            (5, 1, 2),
            (8, TABLE_BLOCK_POINTS + 5, 3),
            (9, 1000, 1000),
            (12, 40, 41),
        ];
        let mut table = CommitmentTable::with_capacity(senders.len());
        for &(owner, k, s) in &senders {
            table.insert(owner, [&lists(owner, k, 1), &lists(owner, s, 2)]);
        }
        // Not above the last sender: ignored, the table stays as it was.
        table.insert(12, [&lists(12, 1, 7), &lists(12, 1, 7)]);
        table.insert(4, [&lists(4, 1, 7), &lists(4, 1, 7)]);
        assert_eq!(table.len(), senders.len());
        assert!(table.blocks.len() >= 3, "{}", table.blocks.len());
        type Lists = (u32, Vec<[u8; 32]>, Vec<[u8; 32]>);
        let walked: Vec<Lists> = table
            .iter()
            .map(|(o, [k, s])| (o, k.to_vec(), s.to_vec()))
            .collect();
        let expected: Vec<Lists> = senders
            .iter()
            .map(|&(o, k, s)| (o, lists(o, k, 1), lists(o, s, 2)))
            .collect();
        assert_eq!(walked, expected);
        for (o, k, s) in &expected {
            let [gk, gs] = table.get(*o).expect("a sender");
            assert_eq!((gk, gs), (&k[..], &s[..]), "sender {o}");
        }
        for absent in [0, 1, 4, 6, 13] {
            assert!(table.get(absent).is_none(), "{absent}");
        }
    }
}
