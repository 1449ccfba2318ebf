//! The like-set: the exact set of user IDs that like one piece of content,
//! its count in O(1), and recent-activity stripes. Plain Rust, no Redis types.
//!
//! Three encodings, chosen by size:
//! - `single`: one like, stored in the Redis value pointer itself (no heap).
//! - `packed`: a sorted array at the narrowest integer width (see `packed`).
//! - `roaring`: a 64-bit roaring bitmap with a cached count, for large or dense sets.
//!
//! A packed set is promoted when it outgrows `Policy::packed_max` or when a
//! roaring bitmap would be clearly smaller (dense IDs); a roaring set is
//! demoted when it shrinks to half of `packed_max` and the packed form is
//! clearly smaller. The gap between the two rules keeps a set at the boundary
//! from flipping on every write.

pub mod activity;
pub mod codec;
pub mod packed;
pub mod shards;

use std::fmt;


pub use activity::{Activity, Rate};
use packed::{Packed, View};
use shards::Shards;

/// Largest user ID (2^63-1).
pub const MAX_ID: u64 = i64::MAX as u64;

/// Encoding thresholds (module configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Most IDs a packed set holds before it becomes roaring. Inserting into a
    /// sorted array moves half of it, so this bounds the cost of a write.
    pub packed_max: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { packed_max: DEFAULT_PACKED_MAX }
    }
}

/// Measured with random IDs below 2^32 (insert+remove on one set, release
/// build): packed costs 4 B/like and 0.25 us at 4k, 0.8 us at 16k, 4 us at
/// 32k (the memmove grows with the set); sharded roaring stays at 0.25-0.4 us
/// but costs 48 B/like at 4k, 43 at 16k, 21 at 128k. 16k keeps every write
/// under a microsecond and small sets at 4 B/like.
pub const DEFAULT_PACKED_MAX: usize = 16_384;

/// How far past `packed_max` a set stays packed when roaring would be far bigger.
const PACKED_STRETCH: usize = 4;

/// Whether a set of `len` IDs re-checks which encoding is smaller: at every
/// 8, then at every 1/16 of the length, so the O(len) check costs O(1)
/// amortised per write.
fn size_check_due(len: usize) -> bool {
    let step = (len.next_power_of_two() / 16).max(8);
    len % step == 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Single,
    Packed,
    Roaring,
}

impl Encoding {
    pub const ALL: [Encoding; 3] = [Encoding::Single, Encoding::Packed, Encoding::Roaring];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Single => "single",
            Encoding::Packed => "packed",
            Encoding::Roaring => "roaring",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roaring encoding.
#[derive(Clone)]
pub struct Big {
    map: Shards,
    /// Cached: a roaring bitmap's `len` walks every container.
    count: u64,
    activity: Activity,
}

#[derive(Default)]
enum Repr {
    #[default]
    Empty,
    /// One like of an ID below 2^32; `stripe` is the minute-stripe of its add
    /// when that counts as recent activity, else 0.
    Single { id: u32, stripe: u32 },
    Packed(Packed),
    Big(Box<Big>),
}

/// A set of user IDs with O(1) count. See the module docs.
#[derive(Default)]
pub struct LikeSet(Repr);

const TAG_SINGLE: u64 = 1;
const TAG_BIG: u64 = 2;
const SINGLE_STRIPE_MAX: u32 = i32::MAX as u32;

impl LikeSet {
    pub fn new() -> LikeSet {
        LikeSet(Repr::Empty)
    }

    /// Builds from strictly ascending IDs, each at most `MAX_ID`.
    pub fn from_sorted(ids: &[u64], activity: Activity, policy: &Policy) -> LikeSet {
        let mut s = LikeSet(Repr::Packed(Packed::from_sorted(ids, activity)));
        s.settle(policy);
        s
    }

    pub fn len(&self) -> u64 {
        match &self.0 {
            Repr::Empty => 0,
            Repr::Single { .. } => 1,
            Repr::Packed(p) => p.len() as u64,
            Repr::Big(b) => b.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> Encoding {
        match &self.0 {
            Repr::Empty | Repr::Single { .. } => Encoding::Single,
            Repr::Packed(_) => Encoding::Packed,
            Repr::Big(_) => Encoding::Roaring,
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        match &self.0 {
            Repr::Empty => false,
            Repr::Single { id: s, .. } => u64::from(*s) == id,
            Repr::Packed(p) => p.view().search(id).is_ok(),
            Repr::Big(b) => b.map.contains(id),
        }
    }

    /// Adds `id` (at most `MAX_ID`); true if it was not there. `now_ms`
    /// records the add in the activity stripes; `None` (e.g. while loading)
    /// does not.
    pub fn insert(&mut self, id: u64, now_ms: Option<u64>, policy: &Policy) -> bool {
        debug_assert!(id <= MAX_ID);
        match &mut self.0 {
            Repr::Empty => {
                self.0 = match u32::try_from(id) {
                    Ok(id) => Repr::Single { id, stripe: 0 },
                    Err(_) => Repr::Packed(Packed::from_sorted(&[id], Activity::default())),
                };
            }
            Repr::Single { id: s, stripe } => {
                let s = u64::from(*s);
                if s == id {
                    return false;
                }
                let activity = single_activity(*stripe);
                let ids = if s < id { [s, id] } else { [id, s] };
                self.0 = Repr::Packed(Packed::from_sorted(&ids, activity));
            }
            Repr::Packed(p) => {
                if !p.insert(id) {
                    return false;
                }
            }
            Repr::Big(b) => {
                if !b.map.insert(id) {
                    return false;
                }
                b.count += 1;
            }
        }
        if let Some(now) = now_ms {
            self.record_adds(now, 1);
        }
        self.after_insert(policy);
        true
    }

    /// Removes `id`; true if it was there.
    pub fn remove(&mut self, id: u64, policy: &Policy) -> bool {
        match &mut self.0 {
            Repr::Empty => return false,
            Repr::Single { id: s, .. } => {
                if u64::from(*s) != id {
                    return false;
                }
                self.0 = Repr::Empty;
                return true;
            }
            Repr::Packed(p) => {
                if !p.remove(id) {
                    return false;
                }
            }
            Repr::Big(b) => {
                if !b.map.remove(id) {
                    return false;
                }
                b.count -= 1;
            }
        }
        self.after_remove(policy);
        true
    }

    /// Calls `f` for the IDs greater than `after` in ascending order, at most
    /// `limit` of them. O(log N + limit).
    pub fn page(&self, after: Option<u64>, limit: usize, mut f: impl FnMut(u64)) {
        let from = match after {
            None => 0,
            Some(a) if a >= MAX_ID => return,
            Some(a) => a + 1,
        };
        match &self.0 {
            Repr::Empty => {}
            Repr::Single { id, .. } => {
                if limit > 0 && u64::from(*id) >= from {
                    f(u64::from(*id));
                }
            }
            Repr::Packed(p) => {
                let v = p.view();
                let start = v.search(from).unwrap_or_else(|i| i);
                (start..v.len()).take(limit).filter_map(|i| v.get(i)).for_each(f);
            }
            Repr::Big(b) => {
                b.map.iter_from(from).take(limit).for_each(f);
            }
        }
    }

    /// Every ID in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Empty => Iter::Single(None),
            Repr::Single { id, .. } => Iter::Single(Some(u64::from(*id))),
            Repr::Packed(p) => Iter::Packed(p.view(), 0),
            Repr::Big(b) => Iter::Big(Box::new(b.map.iter_from(0))),
        }
    }

    /// Records `n` likes added at `now_ms` in the activity stripes (once per
    /// command, after its inserts with `now_ms: None`).
    pub fn record_adds(&mut self, now_ms: u64, n: u64) {
        if n > 0 && !self.is_empty() {
            self.with_activity(|a| a.record(now_ms, u32::try_from(n).unwrap_or(u32::MAX)));
        }
    }

    /// Likes added in the last minute and hour.
    pub fn rate(&self, now_ms: u64) -> Rate {
        self.activity().rate(now_ms)
    }

    pub fn activity(&self) -> Activity {
        match &self.0 {
            Repr::Empty => Activity::default(),
            Repr::Single { stripe, .. } => single_activity(*stripe),
            Repr::Packed(p) => p.activity(),
            Repr::Big(b) => b.activity.clone(),
        }
    }

    /// Replaces the activity (used when loading a saved value).
    pub fn set_activity(&mut self, activity: Activity, policy: &Policy) {
        self.with_activity(|a| *a = activity);
        self.settle(policy);
    }

    fn with_activity<R>(&mut self, f: impl FnOnce(&mut Activity) -> R) -> R {
        match &mut self.0 {
            Repr::Empty => f(&mut Activity::default()),
            Repr::Single { id, stripe } => {
                let mut a = single_activity(*stripe);
                let r = f(&mut a);
                match a {
                    Activity::Inline { stripe: s, count } if count <= 1 && s <= SINGLE_STRIPE_MAX => {
                        *stripe = if count == 0 { 0 } else { s };
                    }
                    other => {
                        let id = u64::from(*id);
                        self.0 = Repr::Packed(Packed::from_sorted(&[id], other));
                    }
                }
                r
            }
            Repr::Packed(p) => p.with_activity(f),
            Repr::Big(b) => f(&mut b.activity),
        }
    }

    /// Heap bytes this value owns (what MEMORY USAGE should count).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Empty | Repr::Single { .. } => 0,
            Repr::Packed(p) => p.heap_bytes(),
            Repr::Big(b) => std::mem::size_of::<Big>() + b.map.heap_bytes() + b.activity.heap_bytes(),
        }
    }

    /// How much work freeing it takes, in O(1): Redis frees values whose
    /// effort exceeds 64 in a background thread (UNLINK, FLUSHALL ASYNC).
    /// Only roaring sets own many allocations (one per container).
    pub fn free_effort(&self) -> usize {
        match &self.0 {
            Repr::Big(b) => 1 + (b.count / 16) as usize,
            _ => 1,
        }
    }

    /// Picks the best encoding for the current content (after loading, or
    /// when the thresholds change).
    pub fn settle(&mut self, policy: &Policy) {
        match &self.0 {
            Repr::Packed(p) => {
                if promotion_due(p.view(), policy, true) {
                    self.promote();
                } else {
                    self.after_remove(policy);
                }
            }
            Repr::Big(b) => {
                if b.count as usize <= policy.packed_max / 2 {
                    self.demote_if_smaller();
                }
                if let Repr::Big(b) = &mut self.0 {
                    b.map.optimize();
                }
            }
            _ => {}
        }
    }

    fn after_insert(&mut self, policy: &Policy) {
        if let Repr::Packed(p) = &self.0 {
            let len = p.len();
            if promotion_due(p.view(), policy, len == policy.packed_max + 1 || size_check_due(len)) {
                self.promote();
            }
        } else if let Repr::Big(b) = &mut self.0 {
            // Dense ranges compress to run containers; re-check now and then.
            if b.count % 65_536 == 0 {
                b.map.optimize();
            }
        }
    }

    fn after_remove(&mut self, policy: &Policy) {
        match &mut self.0 {
            Repr::Packed(p) if p.len() == 0 => self.0 = Repr::Empty,
            Repr::Packed(p) if p.len() == 1 => {
                let id = p.view().get(0).unwrap_or(0);
                if let (Ok(id32), Activity::Inline { stripe, count }) = (u32::try_from(id), p.activity()) {
                    if count <= 1 && stripe <= SINGLE_STRIPE_MAX {
                        let stripe = if count == 0 { 0 } else { stripe };
                        self.0 = Repr::Single { id: id32, stripe };
                    }
                }
            }
            Repr::Big(b) if b.count == 0 => self.0 = Repr::Empty,
            Repr::Big(b) => {
                let n = b.count as usize;
                if n <= policy.packed_max / 2 && size_check_due(n) {
                    self.demote_if_smaller();
                }
            }
            _ => {}
        }
    }

    fn promote(&mut self) {
        let Repr::Packed(p) = &mut self.0 else { return };
        let v = p.view();
        let mut map = Shards::from_sorted(v.iter());
        map.optimize();
        let count = v.len() as u64;
        let activity = p.take_activity();
        self.0 = Repr::Big(Box::new(Big { map, count, activity }));
    }

    fn demote_if_smaller(&mut self) {
        let Repr::Big(b) = &mut self.0 else { return };
        let width = b.map.max().map_or(2, packed::width_for);
        let packed_bytes = 16 + width * b.count as usize;
        let big_bytes = std::mem::size_of::<Big>() + b.map.heap_bytes();
        if packed_bytes * 5 / 4 < big_bytes {
            let ids: Vec<u64> = b.map.iter_from(0).collect();
            let activity = std::mem::take(&mut b.activity);
            self.0 = Repr::Packed(Packed::from_sorted(&ids, activity));
        }
    }

    /// The value as one machine word, for storage as a Redis module value:
    /// a single like inline (`id << 32 | stripe << 1 | 1`), otherwise a
    /// pointer (a packed block, or a `Big` tagged with 2). Empty is 0.
    pub fn into_word(self) -> u64 {
        let mut s = std::mem::ManuallyDrop::new(self);
        match std::mem::take(&mut s.0) {
            Repr::Empty => 0,
            Repr::Single { id, stripe } => (u64::from(id) << 32) | (u64::from(stripe) << 1) | TAG_SINGLE,
            Repr::Packed(p) => p.into_raw() as usize as u64,
            Repr::Big(b) => Box::into_raw(b) as usize as u64 | TAG_BIG,
        }
    }

    /// # Safety
    /// `word` must come from `into_word` and be consumed once.
    pub unsafe fn from_word(word: u64) -> LikeSet {
        LikeSet(if word == 0 {
            Repr::Empty
        } else if word & TAG_SINGLE != 0 {
            Repr::Single { id: (word >> 32) as u32, stripe: ((word >> 1) as u32) & SINGLE_STRIPE_MAX }
        } else if word & TAG_BIG != 0 {
            Repr::Big(Box::from_raw((word & !TAG_BIG) as usize as *mut Big))
        } else {
            Repr::Packed(Packed::from_raw(word as usize as *mut u8))
        })
    }

    /// Borrows the set stored in `word` without taking ownership.
    ///
    /// # Safety
    /// `word` must be a live value from `into_word`.
    pub unsafe fn with_word<R>(word: u64, f: impl FnOnce(&LikeSet) -> R) -> R {
        let s = std::mem::ManuallyDrop::new(LikeSet::from_word(word));
        f(&s)
    }

    /// Mutates the set stored in `*word`, updating the word when the
    /// encoding moved. Returns `f`'s result.
    ///
    /// # Safety
    /// `*word` must be a live value from `into_word`.
    pub unsafe fn with_word_mut<R>(word: &mut u64, f: impl FnOnce(&mut LikeSet) -> R) -> R {
        let mut s = LikeSet::from_word(*word);
        let r = f(&mut s);
        *word = s.into_word();
        r
    }
}

impl Clone for LikeSet {
    fn clone(&self) -> LikeSet {
        LikeSet(match &self.0 {
            Repr::Empty => Repr::Empty,
            Repr::Single { id, stripe } => Repr::Single { id: *id, stripe: *stripe },
            Repr::Packed(p) => Repr::Packed(p.clone()),
            Repr::Big(b) => Repr::Big(b.clone()),
        })
    }
}

impl fmt::Debug for LikeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LikeSet({}, {} ids)", self.encoding(), self.len())
    }
}

impl PartialEq for LikeSet {
    /// Same IDs (activity is not part of equality).
    fn eq(&self, other: &LikeSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Ascending IDs of a like-set.
pub enum Iter<'a> {
    Single(Option<u64>),
    Packed(View<'a>, usize),
    Big(Box<dyn Iterator<Item = u64> + 'a>),
}

impl Iterator for Iter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            Iter::Single(v) => v.take(),
            Iter::Packed(v, i) => {
                let r = v.get(*i);
                *i += 1;
                r
            }
            Iter::Big(it) => it.next(),
        }
    }
}

fn single_activity(stripe: u32) -> Activity {
    Activity::Inline { stripe, count: u32::from(stripe != 0) }
}

/// Roaring size estimate: a container header (key + store enum) in roaring
/// 0.12, and the smallest store allocation.
const CONTAINER_BYTES: usize = 32;
const MIN_STORE_BYTES: usize = 8;

fn packed_bytes(v: View<'_>) -> usize {
    let width = match v {
        View::W2(_) => 2,
        View::W4(_) => 4,
        View::W8(_) => 8,
    };
    16 + width * v.len()
}

/// Estimated heap bytes of these IDs as sharded roaring bitmaps, container by
/// container (as `Shards::heap_bytes` counts them); stops early once above `cap`.
fn roaring_estimate(v: View<'_>, cap: usize) -> usize {
    let mut est = std::mem::size_of::<Big>();
    let (mut i, n) = (0, v.len());
    let mut shard_count = 0;
    while i < n && est <= cap {
        let shard = v.get(i).unwrap_or(0) >> shards::SHIFT;
        shard_count += 1;
        let mut containers: usize = 0;
        while i < n && est <= cap {
            let first = v.get(i).unwrap_or(0);
            if first >> shards::SHIFT != shard {
                break;
            }
            let (mut card, mut runs, mut prev) = (0usize, 0usize, None::<u64>);
            while let Some(id) = v.get(i).filter(|id| id >> 16 == first >> 16) {
                if prev.map_or(true, |p| p + 1 != id) {
                    runs += 1;
                }
                prev = Some(id);
                card += 1;
                i += 1;
            }
            containers += 1;
            est += MIN_STORE_BYTES + (2 * card).min(8192).min(4 * runs);
        }
        est += containers.next_power_of_two().max(4) * CONTAINER_BYTES;
    }
    est + shards::map_bytes(shard_count)
}

/// Whether a packed set should become roaring. `estimate` says whether the
/// O(len) size estimate may run now (always when settling, amortised on writes).
/// Past packed_max a set stays packed only where roaring would be far bigger,
/// and at most up to PACKED_STRETCH x packed_max (bounds the memmove).
fn promotion_due(v: View<'_>, policy: &Policy, estimate: bool) -> bool {
    let len = v.len();
    if len <= policy.packed_max {
        estimate && roaring_clearly_smaller(v)
    } else {
        len > policy.packed_max.saturating_mul(PACKED_STRETCH) || (estimate && !roaring_far_bigger(v))
    }
}

/// Whether a roaring bitmap of these IDs would take well under (4/5 of) the packed block.
fn roaring_clearly_smaller(v: View<'_>) -> bool {
    let packed = packed_bytes(v);
    roaring_estimate(v, packed) * 5 / 4 < packed
}

/// Whether roaring would cost more per like than a native set's hashtable
/// entry (64 B): very sparse 64-bit IDs (e.g. Snowflake IDs), a bitmap each.
fn roaring_far_bigger(v: View<'_>) -> bool {
    let cap = 64 * v.len();
    roaring_estimate(v, cap) > cap
}

#[cfg(test)]
mod tests;
