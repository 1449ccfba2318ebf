//! Serialization of a like-set (RDB, DUMP/RESTORE). Versioned: every version
//! ever written stays decodable. Decoding trusts nothing: every length is
//! checked against the bytes present before anything is allocated, IDs must
//! be strictly ascending and at most 2^63-1, counts must match, and trailing
//! bytes are refused. A payload either decodes to a sane set or is an error.
//!
//! Version 3 (current): version 2 and one more kind.
//! ```text
//! u8 kind (0 = sorted list, 1 = roaring, 2 = elias-fano)
//! activity: u8 0 + u32 stripe + u32 count | u8 1 + u32 last + 7 u32 + 7 u32
//! varint count (>= 1)
//! list:       u8 width (2, 4, 8), count x width bytes little-endian
//! roaring:    varint n, n x (varint shard = id >> 24, varint len, roaring portable
//!             bytes of the IDs' low 24 bits)
//! elias-fano: varint n, n x an Elias-Fano coded run of 1 ..= 2048 IDs (ef_run; 1.0.0 wrote and read at most 1024),
//!             ascending and disjoint (a coded `packed` set is one run)
//! ```
//! Version 2: kinds 0 and 1.
//! Version 1 (first release): varint count, then the IDs as varint deltas
//! (the first absolute). No activity.

use std::fmt;
use std::io::Cursor;

use roaring::RoaringBitmap;

use super::activity::{Activity, ActivityRef, Rings};
use super::ef_run::Run;
use super::elias_fano::{EliasFano, BLOCK_IDS_MAX};
use super::packed::{width_for, Packed};
use super::roaring::{Roaring, Shards, LOW_MASK, SHIFT};
use super::{Form, LikeSet, Policy, Repr, MAX_ID};

pub const CURRENT_VERSION: u32 = 3;
/// Oldest version still decodable.
pub const OLDEST_VERSION: u32 = 1;

const KIND_LIST: u8 = 0;
const KIND_ROARING: u8 = 1;
const KIND_ELIAS_FANO: u8 = 2;
const ACTIVITY_INLINE: u8 = 0;
const ACTIVITY_RINGS: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt like-set payload: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

type Result<T> = std::result::Result<T, DecodeError>;

/// Appends the current-version encoding of `set` to `out`. The kind table:
/// `roaring` is written as its shards, `elias-fano` as its coded runs, every
/// other form as a sorted list.
pub fn encode(set: &LikeSet, out: &mut Vec<u8>) {
    match &set.0 {
        Repr::EliasFano(e) => {
            out.push(KIND_ELIAS_FANO);
            put_activity(out, set.activity());
            put_varint(out, e.len());
            put_varint(out, e.runs().count() as u64);
            e.runs().for_each(|run| out.extend_from_slice(run));
        }
        Repr::Roaring(r) => {
            out.push(KIND_ROARING);
            put_activity(out, set.activity());
            put_varint(out, r.len());
            put_varint(out, r.shards().count() as u64);
            for (key, bm) in r.shards() {
                put_varint(out, key);
                put_varint(out, bm.serialized_size() as u64);
                // Writing into a Vec cannot fail.
                let _ = bm.serialize_into(&mut *out);
            }
        }
        Repr::Packed(p) => match (p.run(), p.width()) {
            (Some(run), _) => {
                out.push(KIND_ELIAS_FANO);
                put_activity(out, set.activity());
                put_varint(out, p.len() as u64);
                put_varint(out, 1);
                run.write_code(out);
            }
            (None, Some(width)) => {
                out.push(KIND_LIST);
                put_activity(out, set.activity());
                put_varint(out, p.len() as u64);
                out.push(width as u8);
                p.write_le(out);
            }
            // A window: its IDs, as an array of them would be written.
            (None, None) => put_list(set, out),
        },
        Repr::Single(_) | Repr::Empty => put_list(set, out),
    }
}

/// Writes `set` as a sorted list of IDs at the narrowest width.
fn put_list(set: &LikeSet, out: &mut Vec<u8>) {
    out.push(KIND_LIST);
    put_activity(out, set.activity());
    put_varint(out, set.len());
    let ids = set.to_vec();
    let width = ids.last().map_or(2, |&id| width_for(id));
    out.push(width as u8);
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes()[..width]);
    }
}

/// The version-1 encoding, for the property tests' v1 round trips (the
/// golden fixtures in tests/fixtures hold payloads written by Redis).
#[cfg(test)]
pub fn encode_v1(ids: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 3 + 10);
    put_varint(&mut out, ids.len() as u64);
    let mut prev = 0;
    for (i, &id) in ids.iter().enumerate() {
        put_varint(&mut out, if i == 0 { id } else { id - prev });
        prev = id;
    }
    out
}

/// Decodes a payload written by encoding `version`.
pub fn decode(bytes: &[u8], version: u32, policy: &Policy) -> Result<LikeSet> {
    let mut r = Reader { bytes, pos: 0 };
    let set = match version {
        1 => decode_v1(&mut r, policy)?,
        2 | 3 => decode_v2(&mut r, version, policy)?,
        _ => return Err(DecodeError("unknown encoding version")),
    };
    if r.pos != bytes.len() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok(set)
}

fn decode_v1(r: &mut Reader<'_>, policy: &Policy) -> Result<LikeSet> {
    let count = r.count()?;
    let mut ids = Vec::with_capacity(count);
    let mut prev: Option<u64> = None;
    for _ in 0..count {
        let v = r.varint()?;
        let id = match prev {
            None => v,
            Some(p) if v == 0 => {
                return Err(DecodeError(if p == 0 { "duplicate id" } else { "ids not ascending" }))
            }
            Some(p) => p.checked_add(v).ok_or(DecodeError("id out of range"))?,
        };
        if id > MAX_ID {
            return Err(DecodeError("id out of range"));
        }
        ids.push(id);
        prev = Some(id);
    }
    Ok(LikeSet::from_sorted(&ids, Activity::default(), policy))
}

/// Versions 2 and 3 (3 adds the elias-fano kind).
fn decode_v2(r: &mut Reader<'_>, version: u32, policy: &Policy) -> Result<LikeSet> {
    let kind = r.u8()?;
    let activity = get_activity(r)?;
    let count = r.varint()?;
    if count == 0 {
        return Err(DecodeError("empty set"));
    }
    let mut set = match kind {
        KIND_LIST => {
            let width = usize::from(r.u8()?);
            if !matches!(width, 2 | 4 | 8) {
                return Err(DecodeError("bad width"));
            }
            let n = usize::try_from(count).map_err(|_| DecodeError("count too large"))?;
            let body = r.take(n.checked_mul(width).ok_or(DecodeError("count too large"))?)?;
            let mut ids = Vec::with_capacity(n);
            for chunk in body.chunks_exact(width) {
                let mut le = [0u8; 8];
                le[..width].copy_from_slice(chunk);
                let id = u64::from_le_bytes(le);
                if id > MAX_ID {
                    return Err(DecodeError("id out of range"));
                }
                if ids.last().is_some_and(|&p| p >= id) {
                    return Err(DecodeError("ids not ascending"));
                }
                ids.push(id);
            }
            LikeSet::from_sorted(&ids, Activity::default(), policy)
        }
        KIND_ROARING => {
            let n = r.count()?;
            let mut total: u64 = 0;
            let mut prev_key: Option<u64> = None;
            let mut shards = Vec::with_capacity(n);
            for _ in 0..n {
                let key = r.varint()?;
                if key > MAX_ID >> SHIFT {
                    return Err(DecodeError("id out of range"));
                }
                if prev_key.is_some_and(|p| p >= key) {
                    return Err(DecodeError("shards not ascending"));
                }
                prev_key = Some(key);
                let len = r.count()?;
                let body = r.take(len)?;
                let mut cur = Cursor::new(body);
                let bm = RoaringBitmap::deserialize_from(&mut cur)
                    .map_err(|_| DecodeError("bad bitmap"))?;
                if cur.position() != len as u64 {
                    return Err(DecodeError("bitmap length mismatch"));
                }
                match bm.max() {
                    None => return Err(DecodeError("empty bitmap")),
                    Some(m) if u64::from(m) > LOW_MASK => {
                        return Err(DecodeError("bitmap value out of shard"))
                    }
                    Some(_) => {}
                }
                total += bm.len();
                shards.push((key, bm));
            }
            if total != count {
                return Err(DecodeError("count mismatch"));
            }
            let roaring = Roaring::from_shards(Shards::from_shards(shards), Activity::default());
            let mut set = LikeSet(Repr::Roaring(roaring));
            set.settle(policy);
            set
        }
        KIND_ELIAS_FANO if version >= 3 => {
            let n = r.count()?;
            let mut blocks = Vec::with_capacity(n);
            let mut total: u64 = 0;
            let mut prev_last: Option<u64> = None;
            for _ in 0..n {
                let (run, len) = Run::parse(r.rest(), MAX_ID).map_err(|e| DecodeError(e.0))?;
                if run.len() > BLOCK_IDS_MAX {
                    return Err(DecodeError("run too long"));
                }
                if prev_last.is_some_and(|p| p >= run.first()) {
                    return Err(DecodeError("runs not ascending"));
                }
                prev_last = Some(run.last());
                total += run.len() as u64;
                blocks.push(r.take(len)?);
            }
            if total != count {
                return Err(DecodeError("count mismatch"));
            }
            match blocks.as_slice() {
                // One run that makes a packed block (what a coded packed set
                // writes) becomes one directly: no index, no re-coding, and
                // no size check (the smallest form of a block's IDs is its
                // code, or an array 1/16 smaller, which the next writes check).
                [code] if Packed::holds_code(code, policy) => {
                    LikeSet(Repr::Packed(Packed::from_code(code, Activity::default())))
                }
                _ => {
                    let ef = EliasFano::from_runs(&blocks, count, Activity::default());
                    let mut set = LikeSet(Repr::EliasFano(ef));
                    set.settle(policy);
                    set
                }
            }
        }
        _ => return Err(DecodeError("unknown kind")),
    };
    if set.len() != count {
        return Err(DecodeError("count mismatch"));
    }
    set.set_activity(activity);
    Ok(set)
}

pub(crate) fn put_activity(out: &mut Vec<u8>, a: ActivityRef<'_>) {
    match a {
        ActivityRef::Inline { stripe, count } => {
            out.push(ACTIVITY_INLINE);
            out.extend_from_slice(&stripe.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        ActivityRef::Rings(r) => {
            out.push(ACTIVITY_RINGS);
            out.extend_from_slice(&r.last.to_le_bytes());
            for v in r.minute.iter().chain(r.hour.iter()) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

pub(crate) fn get_activity(r: &mut Reader<'_>) -> Result<Activity> {
    match r.u8()? {
        ACTIVITY_INLINE => {
            let (stripe, count) = (r.u32()?, r.u32()?);
            // Counts past 2^31-1 are more than any set can record (the
            // packed header's word holds 31 bits): only a forged payload has them.
            if count > i32::MAX as u32 {
                return Err(DecodeError("activity count out of range"));
            }
            Ok(Activity::Inline { stripe, count })
        }
        ACTIVITY_RINGS => {
            let mut rings = Rings { last: r.u32()?, ..Rings::default() };
            for v in rings.minute.iter_mut().chain(rings.hour.iter_mut()) {
                *v = r.u32()?;
            }
            // The minute stripes lie inside the hour stripes.
            let sum = |ring: &[u32]| ring.iter().map(|&v| u64::from(v)).sum::<u64>();
            if sum(&rings.minute) > sum(&rings.hour) {
                return Err(DecodeError("activity rings disagree"));
            }
            Ok(Activity::Rings(Box::new(rings)))
        }
        _ => Err(DecodeError("bad activity")),
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(DecodeError("truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError("varint overflow"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint overflow"))
    }

    /// A count of items that each take at least one more byte: refused when
    /// larger than what is left, so a forged count cannot force a huge allocation.
    pub(crate) fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.pos)
            .ok_or(DecodeError("count exceeds payload"))
    }
}
