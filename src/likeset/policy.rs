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
//! set when another form is clearly smaller (under 4/5 of the current one;
//! 16/17 between `elias-fano` and `roaring`), or when the current form is no
//! longer allowed (packed past `packed_max`).
//! The margin keeps a set at a boundary from flipping on every write.

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
    matches!(repr, Repr::Packed(p) if p.is_coded())
}

/// After an insert: move the set when its form outgrew it. `was_coded`: the
/// set was a coded packed block before the insert.
pub(super) fn after_insert(repr: &mut Repr, policy: &Policy, was_coded: bool) {
    let len = repr.form().map_or(0, |f| f.len()) as usize;
    let forced = matches!(repr, Repr::Packed(_)) && len > policy.packed_max;
    // A code that outgrew one block becomes an array, up to 3x its size for
    // 2^20-range IDs: checked now, not at the next 1/8 of the set's writes.
    let outgrew_code = was_coded && !is_coded_packed(repr);
    if forced || outgrew_code || size_check_due(repr, len) {
        reform(repr, policy, forced, len > EXACT_MAX, true);
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
        _ if size_check_due(repr, len) => reform(repr, policy, false, len > EXACT_MAX, false),
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
            reform(repr, policy, forced, len as usize > LOAD_EXACT_MAX, false);
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
/// amortised per write (about 8 IDs visited per write). A big set dense
/// enough for bitmaps to compete (`roaring`, or `elias-fano` blocks of
/// `DENSE_BLOCK_IDS` IDs or more: under 8 bits per ID) checks at every 1/64:
/// its check visits its blocks or shards, hundreds of times fewer than its
/// IDs, and near the switch between the two forms each one's size against
/// the bound moves fast with the density (at 1/8 steps a set reached 1.45x
/// the bound in `elias-fano` before its next check).
fn size_check_due(repr: &Repr, len: usize) -> bool {
    let parts = match repr {
        Repr::Roaring(_) if len > EXACT_MAX => 64,
        Repr::EliasFano(ef) if len > EXACT_MAX && ef.ids_per_block() >= DENSE_BLOCK_IDS => 64,
        _ => 8,
    };
    let step = (len.next_power_of_two() / parts).max(8);
    len.is_multiple_of(step)
}

/// IDs per `elias-fano` block from which a set is checked as often as a
/// `roaring` one: about one ID in 16 of the range or denser (bitmaps take
/// over near one in five), and never sparse sets of millions of blocks.
const DENSE_BLOCK_IDS: u64 = 768;

/// Moves a set of two or more IDs to the smallest allowed form, when that is
/// clearly smaller than its current one or the current one is not allowed;
/// a big `elias-fano` or `roaring` set compared `by_blocks` (`bounds`), any
/// other ID by ID. `growing`: the check follows an insert.
fn reform(repr: &mut Repr, policy: &Policy, forced: bool, by_blocks: bool, growing: bool) {
    if let (Repr::Roaring(r), true) = (&mut *repr, by_blocks) {
        // Its own heap counts: its stores as small as they get (runs where
        // smaller), as the bound of the other form counts them.
        r.optimize();
    }
    let Some(form) = repr.form() else { return };
    let current = form.encoding();
    let quick = if by_blocks { bounds(repr) } else { small_packed_sizes(repr, policy, growing) };
    let (sizes, current_bytes) = match quick {
        Some(quick) => quick,
        None => {
            let sizes = measure(repr, policy);
            // A roaring set is compared by the same estimate as the others:
            // measured against its real heap, which the estimate undercounts
            // (its stores), it would be left on the next check for the form
            // it just replaced. A packed or elias-fano set by its real heap,
            // which its estimate gives exactly once its blocks are full (so a
            // set of part-empty blocks shows what a re-cut would save).
            let current_bytes = match sizes.iter().find(|&&(e, _)| e == current) {
                Some(&(_, bytes)) if current == Encoding::Roaring => bytes,
                _ => form.heap_bytes() - form.activity().heap_bytes(),
            };
            (sizes, current_bytes)
        }
    };
    let moves = sizes
        .into_iter()
        .filter(|&(e, _)| e != current || current != Encoding::Roaring)
        .filter(|&(e, bytes)| forced || clearly_smaller(current, e, growing, bytes, current_bytes));
    if let Some((best, _)) = moves.min_by_key(|&(_, bytes)| bytes) {
        convert(repr, best);
    }
}

/// Whether `bytes` in `to` are clearly smaller than `current_bytes` in
/// `current`: smaller by the margin that keeps a set from moving back and
/// forth between forms of about its size (both sides are measured by the
/// same estimates, and a move happens only at a size check): 1/4 in and out
/// of `packed`, whose estimates are per ID; 1/16 between `elias-fano` and
/// `roaring` (1/4 kept sets of IDs a fifth to a third of their range in
/// `elias-fano` at up to 1.6x the information bound, where bitmaps take
/// 1.2-1.3x). A packed or elias-fano set is measured against itself too: a
/// packed array may have become larger than its code, or the other way round
/// (re-coding one block is cheap: 1/16); elias-fano blocks that unlikes
/// emptied re-cut into full ones (1/16), a growing set's only when 1/4 larger
/// than full ones (random likes keep blocks about 3/4 full, and full blocks
/// would split again on the next likes).
fn clearly_smaller(
    current: Encoding,
    to: Encoding,
    growing: bool,
    bytes: usize,
    current_bytes: usize,
) -> bool {
    let margin = match (current, to) {
        (Encoding::Packed, Encoding::Packed) => 16,
        (Encoding::EliasFano, Encoding::EliasFano) if growing => 4,
        (Encoding::EliasFano | Encoding::Roaring, Encoding::EliasFano | Encoding::Roaring) => 16,
        _ => 4,
    };
    bytes.saturating_add(bytes / margin) < current_bytes
}

/// A small packed set's sizes from its count and extremes alone, without the
/// pass over its IDs that `measure` makes (~5,000 instructions at 16 IDs, at
/// every 8th write), when these settle the check; None otherwise. Up to
/// `BLOCK_SURE_FIT` IDs `EfEstimate` cuts no second block, so the
/// `elias-fano` size is exact; and `roaring` is left out when even its
/// smallest set of as many IDs (`RoaringEstimate::least`) is not clearly
/// smaller than the block: then the check moves the set to the same form
/// as it does with every size measured.
fn small_packed_sizes(repr: &Repr, policy: &Policy, growing: bool) -> Option<(Sizes, usize)> {
    let Repr::Packed(p) = repr else { return None };
    let len = p.len();
    if len > policy.packed_max || len as u64 > elias_fano::BLOCK_SURE_FIT {
        return None;
    }
    let own = p.heap_bytes() - p.activity().heap_bytes();
    let least = RoaringEstimate::least(len);
    if clearly_smaller(Encoding::Packed, Encoding::Roaring, growing, least, own) {
        return None;
    }
    let (first, last) = p.view().extremes()?;
    let ef = EliasFano::one_block_bytes(len as u64, first, last);
    Some((
        vec![
            (Encoding::EliasFano, ef),
            (Encoding::Packed, Packed::bytes_for(len, first, last, p.activity())),
        ],
        own,
    ))
}

/// Bytes each encoding would take for a set's IDs.
type Sizes = Vec<(Encoding, usize)>;

/// What each multi-ID form other than `single` would take for these IDs:
/// packed only up to `packed_max`.
fn measure(repr: &Repr, policy: &Policy) -> Sizes {
    let Some(form) = repr.form() else { return Sizes::new() };
    let len = form.len() as usize;
    // IDs that fit one block (a packed set's coded run, as a rule) cut no
    // second one: a run's bits do not decrease as its count or its range
    // grows (`encoded_len_of_never_decreases`), so no prefix outgrows a
    // block the whole fits. Their `elias-fano` size needs no pass.
    let one_block = match repr {
        Repr::Packed(p) => p.run().map(|run| (run.len() as u64, run.first(), run.last())),
        _ => None,
    }
    .filter(|&(n, first, last)| elias_fano::block_fits(n, first, last));
    let mut ef = EfEstimate::default();
    let mut roaring = RoaringEstimate::default();
    let (mut first, mut max) = (None, 0);
    let mut pass = |id| {
        if one_block.is_none() {
            ef.push(id);
        }
        roaring.push(id);
        first.get_or_insert(id);
        max = id;
        ControlFlow::Continue(())
    };
    // A packed set's pass (the common check) is inlined: no call per ID.
    match repr {
        Repr::Packed(p) => p.view().visit_from(0, &mut pass),
        _ => form.visit_from(0, &mut pass),
    }
    let ef = match one_block {
        Some((n, first, last)) => EliasFano::one_block_bytes(n, first, last),
        None => ef.finish(),
    };
    let mut sizes = vec![(Encoding::EliasFano, ef), (Encoding::Roaring, roaring.finish())];
    if len <= policy.packed_max {
        sizes.push((
            Encoding::Packed,
            Packed::bytes_for(len, first.unwrap_or(0), max, form.activity()),
        ));
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
            let mut code = 0;
            for bytes in ef.runs() {
                let run = ef_run::Run::trusted(bytes);
                roaring.push_block(run.first(), run.last(), run.len() as u64);
                code += bytes.len() - ef_run::HEADER;
            }
            let recut = ef_in_full_blocks(ef.len(), code);
            Some((vec![(Encoding::EliasFano, recut), (Encoding::Roaring, roaring.finish())], own))
        }
        Repr::Roaring(r) => {
            let own = r.bitmap_bytes();
            let shards = r.shards().filter_map(|(key, bm)| {
                let base = key << roaring::SHIFT;
                Some((bm.len(), base | u64::from(bm.min()?), base | u64::from(bm.max()?)))
            });
            Some((vec![(Encoding::Roaring, own), (Encoding::EliasFano, ef_estimate(shards))], own))
        }
        _ => None,
    }
}

/// Heap bytes of an `elias-fano` set of `n` IDs whose runs take `code`
/// bytes past their headers, cut into full blocks (as `convert` builds
/// them): blocks cut by the byte budget or the ID cap, each with its header
/// and about half a size class of slack.
fn ef_in_full_blocks(n: u64, code: usize) -> usize {
    let blocks = (code / (elias_fano::BLOCK_BYTES_MAX - ef_run::HEADER - 16))
        .max(n as usize / elias_fano::BLOCK_IDS_MAX)
        + 1;
    EliasFano::bytes_for(blocks, code + blocks * (ef_run::HEADER + 64))
}

/// The `elias-fano` bytes of sets of `n` IDs from `first` to `last`, each
/// coded in full blocks. With l = floor(log2(u / n)) for a range of u, a
/// coded run of n IDs takes at most n (l + 1) + u / 2^l bits; cutting it
/// into blocks only lowers that (each block's own width is the best one for
/// it, and the blocks' ranges add up to at most u).
fn ef_estimate(sets: impl Iterator<Item = (u64, u64, u64)>) -> usize {
    let (mut n_all, mut code) = (0u64, 0usize);
    for (n, first, last) in sets {
        let n = n.max(1);
        let range = last - first;
        let l = if range < n { 0 } else { (range / n).ilog2() };
        code += (n * (u64::from(l) + 1) + (range >> l)).div_ceil(8) as usize;
        n_all += n;
    }
    ef_in_full_blocks(n_all, code)
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
    /// The fewest bytes any `n` IDs take (n >= 1): one container holding
    /// one run, in one shard (each further container, run or shard adds).
    fn least(n: usize) -> usize {
        let mut least = RoaringEstimate::default();
        least.push_block(0, n.max(1) as u64 - 1, n.max(1) as u64);
        least.finish()
    }

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
    /// many bytes as they could take at most: as that many IDs in one run
    /// if consecutive, else in as many runs; each container the block
    /// reaches could hold all of them. Its first and last containers go on
    /// with the blocks before and after it (they are shared), so a dense
    /// set's containers are bitmaps of their true size, not counted twice.
    fn push_block(&mut self, first: u64, last: u64, n: u64) {
        let runs = if last - first + 1 == n { 1 } else { n as usize };
        self.enter(first);
        self.card += n as usize;
        self.runs += runs;
        self.prev = Some(last);
        let between = (last >> 16) - (first >> 16);
        if between == 0 {
            return;
        }
        if between > 1 {
            self.close_container();
            // The containers in between (at most one per ID): each its store,
            // its header and as much again of its shard's container array
            // slack; each shard reached, its smallest array.
            let containers = n.min(between - 1) as usize;
            let shards = n.min((last >> roaring::SHIFT) - (first >> roaring::SHIFT) + 1) as usize;
            self.bytes += containers * (roaring::MIN_STORE_BYTES + 2 * roaring::CONTAINER_BYTES)
                + 2 * n as usize
                + shards * 4 * roaring::CONTAINER_BYTES;
            self.shards += shards;
        }
        self.enter(last);
        self.card += n as usize;
        self.runs += runs;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted distinct IDs: dense runs, narrow and 63-bit ranges.
    fn ids() -> impl Strategy<Value = Vec<u64>> {
        // Dense runs are sampled from the span (drawing up to 20 distinct
        // values of 40 at random rejects most draws, and enough cases
        // exhaust proptest's rejects); wide spans are drawn.
        let dense = (1usize..=20)
            .prop_flat_map(|n| prop::sample::subsequence((0..40u64).collect::<Vec<_>>(), n));
        let span = prop_oneof![Just(1u64 << 17), Just(1 << 32), Just(1 << 62)];
        let wide = (span, 1usize..120).prop_flat_map(|(span, n)| {
            prop::collection::btree_set(0..span, n).prop_map(|s| s.into_iter().collect())
        });
        (any::<u64>(), prop_oneof![1 => dense, 3 => wide]).prop_map(|(base, offsets)| {
            let base = base % (1 << 62);
            offsets.into_iter().map(|x: u64| base + x).collect()
        })
    }

    /// The form a check moves a set to, if any, from its sizes.
    fn decision(current: Encoding, sizes: Sizes, own: usize, growing: bool) -> Option<Encoding> {
        sizes
            .into_iter()
            .filter(|&(e, bytes)| clearly_smaller(current, e, growing, bytes, own))
            .min_by_key(|&(_, bytes)| bytes)
            .map(|(e, _)| e)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn least_roaring_is_the_fewest(ids in ids()) {
            let mut estimate = RoaringEstimate::default();
            ids.iter().for_each(|&id| estimate.push(id));
            prop_assert!(RoaringEstimate::least(ids.len()) <= estimate.finish());
        }

        #[test]
        fn encoded_len_of_never_decreases(n in 1u64..70_000, first in 0u64..(1 << 62), range in 0u64..(1 << 62)) {
            // What `measure`'s one-block shortcut rests on: more IDs, or a wider
            // range, never code shorter.
            let last = first + range.max(n - 1);
            let len = ef_run::encoded_len_of(n, first, last);
            prop_assert!(len <= ef_run::encoded_len_of(n + 1, first, last + 1));
            prop_assert!(len <= ef_run::encoded_len_of(n, first, last + 1));
            if range >= n {
                prop_assert!(len <= ef_run::encoded_len_of(n + 1, first, last));
            }
        }

        #[test]
        fn one_block_measures_as_the_pass_does(ids in ids(), extra in 0usize..400) {
            // Up to ~500 IDs, most past BLOCK_SURE_FIT, where the pass checks each ID.
            let ids: Vec<u64> = ids
                .iter()
                .copied()
                .chain((1..=extra as u64).map(|i| ids[ids.len() - 1] + i * 3))
                .collect();
            let policy = Policy::default();
            let packed = Repr::Packed(Packed::from_sorted(&ids, Activity::default()));
            prop_assume!(matches!(&packed, Repr::Packed(p) if p.run().is_some()));
            // The same IDs as an elias-fano set: measured by the pass.
            let visited = Repr::EliasFano(EliasFano::from_sorted(&ids, Activity::default()));
            prop_assert_eq!(measure(&packed, &policy), measure(&visited, &policy));
        }

        #[test]
        fn small_packed_sizes_decide_as_measure_does(
            ids in ids(),
            growing in any::<bool>(),
            spread in any::<bool>(),
        ) {
            // Likes in two stripes of the hour: the activity takes a second header word.
            let mut activity = Activity::default();
            activity.record(3_600_000, 1);
            if spread {
                activity.record(3_660_000, 1);
            }
            let repr = Repr::Packed(Packed::from_sorted(&ids, activity));
            let policy = Policy::default();
            let Some((quick, own)) = small_packed_sizes(&repr, &policy, growing) else {
                // Only sets past the shortcut's reach, or blocks that roaring could beat.
                prop_assert!(ids.len() as u64 > elias_fano::BLOCK_SURE_FIT || ids.len() > 60);
                return Ok(());
            };
            let full = measure(&repr, &policy);
            for &(e, bytes) in &quick {
                prop_assert_eq!(full.iter().find(|&&(f, _)| f == e).map(|&(_, b)| b), Some(bytes));
            }
            let moves_to = decision(Encoding::Packed, quick, own, growing);
            prop_assert_eq!(moves_to, decision(Encoding::Packed, full, own, growing));
            // A block just built holds its smallest body: no check rebuilds it.
            prop_assert_ne!(moves_to, Some(Encoding::Packed));
        }
    }
}
