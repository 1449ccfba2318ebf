//! Which encoding a like-set uses, all in one place: the list of encodings
//! and the size rules that move a set between them.
//!
//! - `single` holds one like (an ID below 2^32, at most one recent add).
//! - `packed` holds small sets, up to `Policy::packed_max` IDs (up to
//!   `PACKED_STRETCH` times that for very sparse 64-bit IDs, where roaring
//!   would cost more than a native set).
//! - `roaring` holds the rest, and dense sets as soon as it is clearly smaller.
//!
//! A packed set is promoted when it outgrows `packed_max` or when a roaring
//! bitmap would take under 4/5 of its size; a roaring set is demoted when it
//! shrinks to half of `packed_max` and the packed form is under 4/5 of its
//! size. The gap between the two rules keeps a set at the boundary from
//! flipping on every write.

use super::activity::Activity;
use super::packed::{self, Packed, View};
use super::roaring::{self, Roaring};
use super::single::Single;
use super::Form;

super::forms! {
    Single(Single) = "single",
    Packed(Packed) = "packed",
    Roaring(Roaring) = "roaring",
}

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

/// The smallest form for strictly ascending IDs (at least one).
pub(super) fn form_for_sorted(ids: &[u64], activity: Activity, policy: &Policy) -> Repr {
    let mut repr = match ids {
        [] => Repr::Empty,
        [id] => match Single::new(*id, &activity) {
            Some(single) => Repr::Single(single),
            None => Repr::Packed(Packed::from_sorted(ids, activity)),
        },
        _ => Repr::Packed(Packed::from_sorted(ids, activity)),
    };
    settle(&mut repr, policy);
    repr
}

/// The set's form cannot hold `id` (a second like in `single`): the next form up.
pub(super) fn grow(repr: &mut Repr, id: u64) {
    let (ids, activity) = match std::mem::take(repr) {
        Repr::Empty => (vec![id], Activity::default()),
        mut other => {
            let mut ids = super::ids_of(&other);
            let at = ids.binary_search(&id).unwrap_or_else(|i| i);
            ids.insert(at, id);
            let activity = other.form_mut().map(|f| f.take_activity()).unwrap_or_default();
            (ids, activity)
        }
    };
    *repr = match ids.as_slice() {
        [only] => match Single::new(*only, &activity) {
            Some(single) => Repr::Single(single),
            None => Repr::Packed(Packed::from_sorted(&ids, activity)),
        },
        _ => Repr::Packed(Packed::from_sorted(&ids, activity)),
    };
}

/// The set's form cannot hold `activity` (`single` records one add): packed.
pub(super) fn hold_activity(repr: &mut Repr, activity: Activity) {
    let ids = super::ids_of(repr);
    *repr = Repr::Packed(Packed::from_sorted(&ids, activity));
}

/// After an insert: promote a packed set that outgrew its form.
pub(super) fn after_insert(repr: &mut Repr, policy: &Policy) {
    if let Repr::Packed(p) = repr {
        let len = p.len();
        if promotion_due(p.view(), policy, len == policy.packed_max + 1 || size_check_due(len)) {
            promote(repr);
        }
    }
}

/// After a remove: drop an empty set, shrink to `single` or demote to packed
/// where that is smaller.
pub(super) fn after_remove(repr: &mut Repr, policy: &Policy) {
    match repr {
        // `single` reports a removal of its one like; it cannot hold zero.
        Repr::Single(_) => *repr = Repr::Empty,
        Repr::Packed(p) if p.len() == 0 => *repr = Repr::Empty,
        Repr::Packed(p) if p.len() == 1 => {
            let id = p.view().get(0).unwrap_or(0);
            let activity = p.take_activity();
            match Single::new(id, &activity) {
                Some(single) => *repr = Repr::Single(single),
                None => {
                    // Packed holds any activity.
                    let _ = p.set_activity(activity);
                }
            }
        }
        Repr::Roaring(r) if r.len() == 0 => *repr = Repr::Empty,
        Repr::Roaring(r) => {
            let n = r.len() as usize;
            if n <= policy.packed_max / 2 && size_check_due(n) {
                demote_if_smaller(repr);
            }
        }
        _ => {}
    }
}

/// The best form for the current content (after loading, or when the
/// thresholds changed).
pub(super) fn settle(repr: &mut Repr, policy: &Policy) {
    match repr {
        Repr::Packed(p) => {
            if promotion_due(p.view(), policy, true) {
                promote(repr);
            } else {
                after_remove(repr, policy);
            }
        }
        Repr::Roaring(r) => {
            if r.len() as usize <= policy.packed_max / 2 {
                demote_if_smaller(repr);
            }
            if let Repr::Roaring(r) = repr {
                r.optimize();
            }
        }
        _ => {}
    }
}

/// Whether a set of `len` IDs re-checks which encoding is smaller: at every
/// 8, then at every 1/16 of the length, so the O(len) check costs O(1)
/// amortised per write.
fn size_check_due(len: usize) -> bool {
    let step = (len.next_power_of_two() / 16).max(8);
    len.is_multiple_of(step)
}

fn promote(repr: &mut Repr) {
    let Repr::Packed(p) = repr else { return };
    let activity = p.take_activity();
    *repr = Repr::Roaring(Roaring::from_sorted(p.view().iter(), activity));
}

fn demote_if_smaller(repr: &mut Repr) {
    let Repr::Roaring(r) = repr else { return };
    let width = r.max().map_or(2, packed::width_for);
    let packed_bytes = 16 + width * r.len() as usize;
    if packed_bytes * 5 / 4 < r.bitmap_bytes() {
        let ids: Vec<u64> = r.iter().collect();
        let activity = r.take_activity();
        *repr = Repr::Packed(Packed::from_sorted(&ids, activity));
    }
}

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
    let mut est = Roaring::EMPTY_BYTES;
    let (mut i, n) = (0, v.len());
    let mut shard_count = 0;
    while i < n && est <= cap {
        let shard = v.get(i).unwrap_or(0) >> roaring::SHIFT;
        shard_count += 1;
        let mut containers: usize = 0;
        while i < n && est <= cap {
            let first = v.get(i).unwrap_or(0);
            if first >> roaring::SHIFT != shard {
                break;
            }
            let (mut card, mut runs, mut prev) = (0usize, 0usize, None::<u64>);
            while let Some(id) = v.get(i).filter(|id| id >> 16 == first >> 16) {
                if prev.is_none_or(|p| p + 1 != id) {
                    runs += 1;
                }
                prev = Some(id);
                card += 1;
                i += 1;
            }
            containers += 1;
            est += roaring::MIN_STORE_BYTES + (2 * card).min(8192).min(4 * runs);
        }
        est += containers.next_power_of_two().max(4) * roaring::CONTAINER_BYTES;
    }
    est + roaring::map_bytes(shard_count)
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
        len > policy.packed_max.saturating_mul(PACKED_STRETCH)
            || (estimate && !roaring_far_bigger(v))
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
