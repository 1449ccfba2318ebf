//! Which encoding a like-set uses, all in one place: the list of encodings
//! and the size rules that move a set between them.
//!
//! - `single` holds one like (an ID below 2^32, at most one recent add).
//! - `packed` holds small sets as a plain sorted array (fastest writes), up to
//!   `Policy::packed_max` IDs.
//! - `elias-fano` holds sparse sets of any size near the information bound.
//! - `roaring` holds dense and clustered sets (runs and bitmaps).
//!
//! Beyond one like, the choice is by size: at amortised checks the policy
//! measures what each allowed form would take for the set's IDs and moves the
//! set when another form is clearly smaller (under 4/5 of the current one), or
//! when the current form is no longer allowed (packed past `packed_max`). The
//! 4/5 margin keeps a set at a boundary from flipping on every write.

use std::ops::ControlFlow;

use super::activity::Activity;
use super::elias_fano::{self, EliasFano};
use super::packed::Packed;
use super::roaring::{self, Roaring};
use super::single::Single;
use super::{allocated, ef_run, Form};

super::forms! {
    Single(Single) = "single",
    Packed(Packed) = "packed",
    Roaring(Roaring) = "roaring",
    EliasFano(EliasFano) = "elias-fano",
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

/// After a write, sets up to this size are measured ID by ID (a pass of at
/// most a few hundred microseconds); larger `elias-fano` and `roaring` sets
/// from their blocks and containers (`bounds`), so that no check stalls a
/// write to a big set (a pass over 1M IDs took 19 ms), and a set of any size
/// still moves when its density changes.
const EXACT_MAX: usize = 4096;

/// A loaded set is measured ID by ID up to this size (loading is a pass over
/// its IDs anyway), by `bounds` beyond: a roaring shard of 2^24 IDs fits in
/// a few bytes of payload, and a pass over millions of IDs would stall the load.
const LOAD_EXACT_MAX: usize = 1 << 20;

/// The smallest form for strictly ascending IDs.
pub(super) fn form_for_sorted(ids: &[u64], activity: Activity, policy: &Policy) -> Repr {
    let mut repr = if ids.len() <= policy.packed_max {
        small_form(ids, activity)
    } else {
        Repr::EliasFano(EliasFano::from_sorted(ids, activity))
    };
    settle(&mut repr, policy);
    repr
}

/// One like in `single` when the ID and the activity fit it, else a plain
/// array (no ID: empty).
fn small_form(ids: &[u64], activity: Activity) -> Repr {
    match ids {
        [] => Repr::Empty,
        [id] => match Single::new(*id, &activity) {
            Some(single) => Repr::Single(single),
            None => Repr::Packed(Packed::from_sorted(ids, activity)),
        },
        _ => Repr::Packed(Packed::from_sorted(ids, activity)),
    }
}

/// The set's form cannot hold `id` (a second like in `single`): the next form up.
pub(super) fn grow(repr: &mut Repr, id: u64) {
    // Only an empty set and `single` refuse an ID: at most two IDs, on the stack.
    let mut held = None;
    if let Some(form) = repr.form() {
        debug_assert_eq!(form.len(), 1);
        form.visit_from(0, &mut |x| {
            held = Some(x);
            ControlFlow::Break(())
        });
    }
    debug_assert_ne!(held, Some(id), "a form refuses only an ID it lacks");
    let pair;
    let ids: &[u64] = match held {
        None => std::slice::from_ref(&id),
        Some(x) => {
            pair = [x.min(id), x.max(id)];
            &pair
        }
    };
    let activity = repr.form_mut().map(|f| f.take_activity()).unwrap_or_default();
    *repr = small_form(ids, activity);
}

/// The set's form cannot hold `activity` (`single` records one add): packed.
pub(super) fn hold_activity(repr: &mut Repr, activity: Activity) {
    let ids = super::ids_of(repr);
    *repr = Repr::Packed(Packed::from_sorted(&ids, activity));
}

/// Whether the set is a packed block holding its IDs coded.
pub(super) fn is_coded_packed(repr: &Repr) -> bool {
    matches!(repr, Repr::Packed(p) if p.code().is_some())
}

/// After an insert: move the set when its form outgrew it. `was_coded`: the
/// set was a coded packed block before the insert.
pub(super) fn after_insert(repr: &mut Repr, policy: &Policy, was_coded: bool) {
    let len = repr.form().map_or(0, |f| f.len()) as usize;
    let forced = matches!(repr, Repr::Packed(_)) && len > policy.packed_max;
    // A code that outgrew one block becomes an array, up to 3x its size for
    // 2^20-range IDs: checked now, not at the next 1/8 of the set's writes.
    let outgrew_code = was_coded && !is_coded_packed(repr);
    if forced || outgrew_code || size_check_due(len) {
        reform(repr, policy, forced, len > EXACT_MAX);
    }
}

/// After a remove: drop an empty set, shrink a one-like set to `single`, or
/// move the set to a form that is now clearly smaller.
pub(super) fn after_remove(repr: &mut Repr, policy: &Policy) {
    let len = repr.form().map_or(0, |f| f.len()) as usize;
    match repr {
        // `single` reports a removal of its one like; it cannot hold zero.
        Repr::Single(_) => *repr = Repr::Empty,
        _ if len == 0 => *repr = Repr::Empty,
        _ if len == 1 => shrink_to_single(repr),
        _ if size_check_due(len) => reform(repr, policy, false, len > EXACT_MAX),
        _ => {}
    }
}

/// The best form for the current content (after loading, or when the
/// thresholds changed).
pub(super) fn settle(repr: &mut Repr, policy: &Policy) {
    match repr.form().map_or(0, |f| f.len()) {
        0 => *repr = Repr::Empty,
        1 => shrink_to_single(repr),
        len => {
            let forced = matches!(repr, Repr::Packed(p) if p.len() > policy.packed_max);
            reform(repr, policy, forced, len as usize > LOAD_EXACT_MAX);
        }
    }
    if let Repr::Roaring(r) = repr {
        r.optimize();
    }
}

fn shrink_to_single(repr: &mut Repr) {
    let Some(form) = repr.form_mut() else { return };
    let mut id = None;
    form.visit_from(0, &mut |x| {
        id = Some(x);
        ControlFlow::Break(())
    });
    let activity = form.take_activity();
    match id.and_then(|id| Single::new(id, &activity)) {
        Some(single) => *repr = Repr::Single(single),
        None => {
            if let Err(activity) = form.set_activity(activity) {
                hold_activity(repr, activity);
            }
        }
    }
}

/// Whether a set of `len` IDs re-checks which encoding is smaller: at every
/// 8, then at every 1/8 of the length, so the O(len) check costs O(1)
/// amortised per write (about 8 IDs visited per write).
fn size_check_due(len: usize) -> bool {
    let step = (len.next_power_of_two() / 8).max(8);
    len.is_multiple_of(step)
}

/// Moves a set of two or more IDs to the smallest allowed form, when that is
/// clearly smaller than its current one or the current one is not allowed;
/// a big `elias-fano` or `roaring` set compared `by_blocks` (`bounds`), any
/// other ID by ID.
fn reform(repr: &mut Repr, policy: &Policy, forced: bool, by_blocks: bool) {
    if let (Repr::Roaring(r), true) = (&mut *repr, by_blocks) {
        // Its own heap counts: its stores as small as they get (runs where
        // smaller), as the bound of the other form counts them.
        r.optimize();
    }
    let Some(form) = repr.form() else { return };
    let current = form.encoding();
    let (sizes, current_bytes) = match by_blocks.then(|| bounds(repr)).flatten() {
        Some(bounds) => bounds,
        None => {
            let sizes = measure(form, policy);
            // The current form is compared by the same estimate as the others
            // (a packed block by its exact size): measured against its real
            // heap, a form the estimate undercounts (roaring's stores) would
            // be left on the next check for the one it just replaced.
            let current_bytes = match sizes.iter().find(|&&(e, _)| e == current) {
                Some(&(_, bytes)) if current != Encoding::Packed => bytes,
                _ => form.heap_bytes() - form.activity().heap_bytes(),
            };
            (sizes, current_bytes)
        }
    };
    // A packed set is measured against itself too: its array may have
    // become larger than its code, or the other way round.
    let Some((best, best_bytes)) = sizes
        .into_iter()
        .filter(|&(e, _)| e != current || e == Encoding::Packed)
        .min_by_key(|&(_, b)| b)
    else {
        return;
    };
    // A 1/4 margin keeps a set from moving back and forth between forms of
    // about its size; re-coding a packed block (at most 768 bytes of code) is
    // cheap enough for a 1/16 one.
    let margin = if best == current { 16 } else { 4 };
    if forced || best_bytes.saturating_add(best_bytes / margin) < current_bytes {
        convert(repr, best);
    }
}

/// Bytes each encoding would take for a set's IDs.
type Sizes = Vec<(Encoding, usize)>;

/// What each multi-ID form other than `single` would take for these IDs:
/// packed only up to `packed_max`.
fn measure(form: &dyn Form, policy: &Policy) -> Sizes {
    let len = form.len() as usize;
    let mut ef = EfEstimate::default();
    let mut roaring = RoaringEstimate::default();
    let (mut first, mut max) = (None, 0);
    form.visit_from(0, &mut |id| {
        ef.push(id);
        roaring.push(id);
        first.get_or_insert(id);
        max = id;
        ControlFlow::Continue(())
    });
    let mut sizes = vec![(Encoding::EliasFano, ef.finish()), (Encoding::Roaring, roaring.finish())];
    if len <= policy.packed_max {
        sizes.push((Encoding::Packed, Packed::bytes_for(len, first.unwrap_or(0), max)));
    }
    sizes
}

/// An `elias-fano` or `roaring` set's own heap and an upper bound of the
/// other form's, from its blocks or containers, in O(blocks): upper bounds
/// both ways, so a set moves only when the other form is surely smaller, and
/// cannot move back on the next check. Blind to runs inside a block that
/// is not one run: a set that becomes runs while `elias-fano` may stay so
/// (the ID-by-ID checks up to EXACT_MAX put a set of runs in `roaring` early).
/// None for the other forms (measured ID by ID).
fn bounds(repr: &Repr) -> Option<(Sizes, usize)> {
    match repr {
        Repr::EliasFano(ef) => {
            let own = ef.coded_bytes();
            let mut roaring = RoaringEstimate::default();
            for code in ef.runs() {
                let run = ef_run::Run::trusted(code);
                roaring.push_block(run.first(), run.last(), run.len() as u64);
            }
            Some((vec![(Encoding::EliasFano, own), (Encoding::Roaring, roaring.finish())], own))
        }
        Repr::Roaring(r) => {
            let own = r.bitmap_bytes();
            let shards = r.shards().filter_map(|(key, bm)| {
                let base = key << roaring::SHIFT;
                Some((bm.len(), base | u64::from(bm.min()?), base | u64::from(bm.max()?)))
            });
            Some((vec![(Encoding::Roaring, own), (Encoding::EliasFano, ef_bound(shards))], own))
        }
        _ => None,
    }
}

/// More than the `elias-fano` bytes of sets of `n` IDs from `first` to
/// `last`, whatever their spread: a coded run of n IDs over a range of u
/// takes at most n (log2(u / n) + 3) bits, and cutting it into blocks only
/// narrows each block's range; blocks are at least half full.
fn ef_bound(sets: impl Iterator<Item = (u64, u64, u64)>) -> usize {
    let (mut code, mut blocks) = (0usize, 0usize);
    for (n, first, last) in sets {
        let n = n.max(1);
        let per_id = u64::from((last - first).max(n).div_ceil(n).ilog2()) + 3;
        let bytes = (n * per_id).div_ceil(8) as usize;
        let cut =
            bytes / (elias_fano::BLOCK_BYTES_MAX / 2) + n as usize / elias_fano::BLOCK_IDS_MAX + 1;
        code += bytes;
        blocks += cut;
    }
    // Each block: its header, and up to a size class's spacing of slack.
    EliasFano::bytes_for(blocks, code + blocks * (ef_run::HEADER + 128))
}

fn convert(repr: &mut Repr, to: Encoding) {
    let Some(form) = repr.form_mut() else { return };
    let activity = form.take_activity();
    let ids = super::ids_of(repr);
    *repr = match to {
        // `single` is never measured: a set of one like shrinks to it directly.
        Encoding::Single | Encoding::Packed => Repr::Packed(Packed::from_sorted(&ids, activity)),
        Encoding::EliasFano => Repr::EliasFano(EliasFano::from_sorted(&ids, activity)),
        Encoding::Roaring => Repr::Roaring(Roaring::from_sorted(ids.into_iter(), activity)),
    };
}

/// Bytes of an Elias-Fano set of the IDs pushed, in full blocks.
#[derive(Default)]
struct EfEstimate {
    bytes: usize,
    blocks: usize,
    in_block: u64,
    first: u64,
    last: u64,
}

impl EfEstimate {
    /// Cuts blocks as `EliasFano::from_sorted` does.
    fn push(&mut self, id: u64) {
        // Up to BLOCK_SURE_FIT IDs need no check (the pass runs at every 1/8 of a set's writes).
        if self.in_block >= elias_fano::BLOCK_SURE_FIT
            && !elias_fano::block_fits(self.in_block + 1, self.first, id)
        {
            self.close();
        }
        if self.in_block == 0 {
            self.first = id;
        }
        self.last = id;
        self.in_block += 1;
    }

    fn close(&mut self) {
        if self.in_block > 0 {
            self.bytes += allocated(ef_run::encoded_len_of(self.in_block, self.first, self.last));
            self.blocks += 1;
            self.in_block = 0;
        }
    }

    fn finish(mut self) -> usize {
        self.close();
        EliasFano::bytes_for(self.blocks, self.bytes)
    }
}

/// Heap bytes of the IDs pushed as sharded roaring bitmaps, container by
/// container (as `Shards::heap_bytes` counts them).
#[derive(Default)]
struct RoaringEstimate {
    bytes: usize,
    shards: usize,
    containers_in_shard: usize,
    shard: Option<u64>,
    container: Option<u64>,
    card: usize,
    runs: usize,
    prev: Option<u64>,
}

impl RoaringEstimate {
    fn push(&mut self, id: u64) {
        self.enter(id);
        if self.prev.is_none_or(|p| p + 1 != id) {
            self.runs += 1;
        }
        self.prev = Some(id);
        self.card += 1;
    }

    /// Moves to the container (and shard) of `id`.
    fn enter(&mut self, id: u64) {
        if self.container != Some(id >> 16) {
            self.close_container();
            if self.shard != Some(id >> roaring::SHIFT) {
                self.close_shard();
                self.shard = Some(id >> roaring::SHIFT);
                self.shards += 1;
            }
            self.container = Some(id >> 16);
        }
    }

    /// `n` ascending IDs from `first` to `last` (an elias-fano block), as
    /// many bytes as they could take at most: in one container, as that
    /// many IDs in one run if consecutive, else in as many runs; spread
    /// over containers, one container per ID.
    fn push_block(&mut self, first: u64, last: u64, n: u64) {
        if first >> 16 == last >> 16 {
            self.enter(first);
            self.card += n as usize;
            self.runs += if last - first + 1 == n { 1 } else { n as usize };
            self.prev = Some(last);
            return;
        }
        self.close_container();
        let containers = n.min((last >> 16) - (first >> 16) + 1) as usize;
        let shards = n.min((last >> roaring::SHIFT) - (first >> roaring::SHIFT) + 1) as usize;
        // Each container: its store, its header and as much again of the
        // shard's container array slack; each shard: its smallest array.
        self.bytes += containers * (roaring::MIN_STORE_BYTES + 2 * roaring::CONTAINER_BYTES)
            + 2 * n as usize
            + shards * 4 * roaring::CONTAINER_BYTES;
        self.shards += shards;
        // The next block starts afresh: a container shared with it is counted twice.
        (self.shard, self.prev) = (None, Some(last));
    }

    fn close_container(&mut self) {
        if self.container.take().is_some() {
            self.bytes += roaring::MIN_STORE_BYTES + (2 * self.card).min(8192).min(4 * self.runs);
            self.containers_in_shard += 1;
            (self.card, self.runs) = (0, 0);
        }
    }

    fn close_shard(&mut self) {
        if self.containers_in_shard > 0 {
            self.bytes +=
                self.containers_in_shard.next_power_of_two().max(4) * roaring::CONTAINER_BYTES;
            self.containers_in_shard = 0;
        }
    }

    fn finish(mut self) -> usize {
        self.close_container();
        self.close_shard();
        Roaring::EMPTY_BYTES + self.bytes + roaring::map_bytes(self.shards)
    }
}
