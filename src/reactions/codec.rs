//! Serialization of a key's reactions (RDB, DUMP/RESTORE): the like-set codec
//! (`likeset::codec`) with one more kind. Every like-set payload ever written
//! stays decodable, as a like-only value.
//!
//! Version 4 (current): version 3, whose first byte is the like-set kind
//! (0 list, 1 roaring, 2 elias-fano), and one more kind:
//! ```text
//! u8 3 (table), activity (as the like-set codec writes it), varint kinds (1..=16),
//! kinds x (u8 name_len (1..=32), name bytes, varint payload_len,
//!          a version-3 like-set payload with no activity)
//! ```
//! A like-only value is written as its like-set, byte for byte as version 3.
//! Versions 1..=3: like-set payloads (`likeset::codec`), decoded as like-only.
//!
//! Decoding trusts nothing: names valid and distinct, at most 16 kinds, each
//! non-empty and without activity, users disjoint across kinds (in time
//! proportional to the payload: see `check_disjoint`), every length checked
//! against the bytes present, no trailing bytes. A table of only `like` loads
//! as a like-set.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use roaring::RoaringBitmap;

use super::kind::Kind;
use super::table::ReactionTable;
use super::{Reactions, KINDS_MAX};
pub use crate::likeset::codec::DecodeError;
use crate::likeset::codec::{
    self as likeset_codec, get_activity, put_activity, put_varint, Reader,
};
use crate::likeset::{
    Activity, ActivityRef, LikeSet, Policy, Repr, ROARING_LOW_MASK, ROARING_SHIFT,
};

pub const CURRENT_VERSION: u32 = 4;
/// Oldest version still decodable (the like-set codec's first).
pub const OLDEST_VERSION: u32 = likeset_codec::OLDEST_VERSION;

/// The like-set codec version a table's kind payloads, and a version-4
/// like-only payload, are written in.
const LIKESET_VERSION: u32 = 3;
/// First byte of a table (the like-set kinds are 0, 1 and 2).
const KIND_TABLE: u8 = 3;

type Result<T> = std::result::Result<T, DecodeError>;

/// Appends the current-version encoding of `value` to `out`.
pub fn encode(value: &Reactions, out: &mut Vec<u8>) {
    match value {
        Reactions::Likes(likes) => likeset_codec::encode(likes, out),
        Reactions::Table(table) => {
            out.push(KIND_TABLE);
            put_activity(out, table.activity().as_ref());
            put_varint(out, table.kinds() as u64);
            for (name, users) in table.iter() {
                out.push(name.len() as u8);
                out.extend_from_slice(name);
                // The length goes before the payload: write the payload, then
                // slide it up past its length (no second copy of a big set).
                let start = out.len();
                likeset_codec::encode(users, out);
                let mut len = Vec::new();
                put_varint(&mut len, (out.len() - start) as u64);
                out.splice(start..start, len);
            }
        }
    }
}

/// Decodes a payload written by encoding `version`.
pub fn decode(bytes: &[u8], version: u32, policy: &Policy) -> Result<Reactions> {
    match version {
        OLDEST_VERSION..=LIKESET_VERSION => {
            likeset_codec::decode(bytes, version, policy).map(Reactions::Likes)
        }
        4 => match bytes.first() {
            Some(&KIND_TABLE) => decode_table(bytes, policy),
            _ => likeset_codec::decode(bytes, LIKESET_VERSION, policy).map(Reactions::Likes),
        },
        _ => Err(DecodeError("unknown encoding version")),
    }
}

fn decode_table(bytes: &[u8], policy: &Policy) -> Result<Reactions> {
    let mut r = Reader { bytes, pos: 0 };
    if r.u8()? != KIND_TABLE {
        return Err(DecodeError("not a table"));
    }
    let activity = get_activity(&mut r)?;
    let count = r.varint()?;
    if count == 0 {
        return Err(DecodeError("table without kinds"));
    }
    if count > KINDS_MAX as u64 {
        return Err(DecodeError("too many kinds"));
    }
    let mut kinds: Vec<(Kind, LikeSet)> = Vec::with_capacity(KINDS_MAX);
    for _ in 0..count {
        let name_len = usize::from(r.u8()?);
        let kind = Kind::parse(r.take(name_len)?).map_err(|_| DecodeError("bad kind name"))?;
        if kinds.iter().any(|(k, _)| *k == kind) {
            return Err(DecodeError("duplicate kind"));
        }
        let payload_len = r.count()?;
        // Refuses an empty set ("empty set") and trailing bytes in the payload.
        let users = likeset_codec::decode(r.take(payload_len)?, LIKESET_VERSION, policy)?;
        if !matches!(users.activity(), ActivityRef::Inline { stripe: 0, count: 0 }) {
            return Err(DecodeError("kind with its own activity"));
        }
        kinds.push((kind, users));
    }
    if r.pos != bytes.len() {
        return Err(DecodeError("trailing bytes"));
    }
    check_disjoint(&kinds.iter().map(|(_, users)| users).collect::<Vec<_>>())?;
    Ok(normalized(activity, kinds))
}

/// A decoded table, or a like-set when its only kind is `like`.
fn normalized(activity: Activity, kinds: Vec<(Kind, LikeSet)>) -> Reactions {
    match <[(Kind, LikeSet); 1]>::try_from(kinds) {
        Ok([(kind, mut likes)]) if kind.is_like() => {
            likes.set_activity(activity);
            Reactions::Likes(likes)
        }
        Ok(one) => Reactions::Table(Box::new(ReactionTable::from_kinds(activity, Vec::from(one)))),
        Err(kinds) => Reactions::Table(Box::new(ReactionTable::from_kinds(activity, kinds))),
    }
}

/// IDs read from a set per `LikeSet::page` call while merging.
const CHUNK: usize = 1024;

/// Two kinds share a user.
fn overlap() -> DecodeError {
    DecodeError("user in two kinds")
}

/// Refuses sets that share an ID, in time proportional to their payloads,
/// not to their IDs: a roaring set may hold 2^24 IDs in a few kilobytes, so
/// roaring sets are checked shard by shard with bitmap operations, and only
/// the other sets (at least 2 bits per ID) are walked, in one k-way merge
/// (O(N log k)) that also looks each ID up in the roaring sets' union.
fn check_disjoint(sets: &[&LikeSet]) -> Result<()> {
    let mut dense = DenseUnion::default();
    let mut walked: Vec<&LikeSet> = Vec::with_capacity(sets.len());
    for &users in sets {
        match &users.0 {
            Repr::Roaring(roaring) => {
                for (key, bits) in roaring.shards() {
                    let seen = dense.0.entry(key).or_default();
                    if !seen.is_disjoint(bits) {
                        return Err(overlap());
                    }
                    *seen |= bits;
                }
            }
            _ => walked.push(users),
        }
    }
    merge(walked, &dense)
}

/// The union of the roaring sets: shard key to the bitmap of low bits.
#[derive(Default)]
struct DenseUnion(BTreeMap<u64, RoaringBitmap>);

impl DenseUnion {
    /// An error when the union holds `id`.
    fn check(&self, id: u64) -> Result<()> {
        let low = (id & ROARING_LOW_MASK) as u32;
        match self.0.get(&(id >> ROARING_SHIFT)) {
            Some(bits) if bits.contains(low) => Err(overlap()),
            _ => Ok(()),
        }
    }
}

/// Walks the sets' IDs in one ascending merge: an error when two sets, or
/// a set and `dense`, share an ID. Each set's run of IDs below the other
/// sets' smallest head is taken without touching the heap; with no dense
/// union, a set's IDs past every other set's are not walked.
fn merge(sets: Vec<&LikeSet>, dense: &DenseUnion) -> Result<()> {
    let walk_all = !dense.0.is_empty();
    let mut cursors: Vec<Cursor<'_>> = sets.into_iter().map(Cursor::new).collect();
    match cursors.as_mut_slice() {
        [] => return Ok(()),
        [_] if !walk_all => return Ok(()),
        // Two kinds (like/dislike, up/down): a plain merge, no heap.
        [a, b] => {
            let (mut x, mut y) = (a.next(), b.next());
            loop {
                let id = match (x, y) {
                    (Some(p), Some(q)) if p == q => return Err(overlap()),
                    (Some(p), Some(q)) if q < p => {
                        y = b.next();
                        q
                    }
                    (Some(p), Some(_)) => {
                        x = a.next();
                        p
                    }
                    (Some(p), None) if walk_all => {
                        x = a.next();
                        p
                    }
                    (None, Some(q)) if walk_all => {
                        y = b.next();
                        q
                    }
                    _ => return Ok(()),
                };
                dense.check(id)?;
            }
        }
        _ => {}
    }
    let mut heads = BinaryHeap::with_capacity(cursors.len());
    for (i, cursor) in cursors.iter_mut().enumerate() {
        if let Some(id) = cursor.next() {
            heads.push(Reverse((id, i)));
        }
    }
    while let Some(Reverse((mut id, i))) = heads.pop() {
        let Some(cursor) = cursors.get_mut(i) else { continue };
        let bound = heads.peek().map(|&Reverse((head, _))| head);
        if bound.is_none() && !walk_all {
            return Ok(());
        }
        loop {
            if bound == Some(id) {
                return Err(overlap());
            }
            if bound.is_some_and(|b| id > b) {
                heads.push(Reverse((id, i)));
                break;
            }
            dense.check(id)?;
            let Some(next) = cursor.next() else { break };
            id = next;
        }
    }
    Ok(())
}

/// A set's users in ascending order, a chunk at a time.
struct Cursor<'a> {
    users: &'a LikeSet,
    chunk: Vec<u64>,
    at: usize,
    done: bool,
}

impl<'a> Cursor<'a> {
    fn new(users: &'a LikeSet) -> Cursor<'a> {
        Cursor { users, chunk: Vec::new(), at: 0, done: false }
    }

    /// The next ID, reading the next chunk when this one is used up.
    fn next(&mut self) -> Option<u64> {
        if self.at == self.chunk.len() && !self.done {
            let after = self.chunk.last().copied();
            self.chunk.clear();
            self.at = 0;
            self.users.page(after, CHUNK, |id| self.chunk.push(id));
            self.done = self.chunk.len() < CHUNK;
        }
        let id = self.chunk.get(self.at).copied()?;
        self.at += 1;
        Some(id)
    }
}
