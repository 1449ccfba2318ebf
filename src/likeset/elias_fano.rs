//! The `elias-fano` encoding, for sparse sets of any size: the sorted IDs cut
//! into blocks, each an Elias-Fano coded run (`ef_run`), so a set takes about
//! 2 + log2(range / n) bits per ID, near the information-theoretic minimum for
//! every ID shape (32-bit, 64-bit hashed, Snowflake). A sorted index of the
//! blocks' first IDs finds the one block a read or a write touches; a write
//! rewrites that block only.
//!
//! Blocks are cut by coded size, not by count: each costs about 35 bytes
//! besides its code (index entry, pointer, header), so a byte budget keeps
//! that overhead a small share for narrow IDs (2^20 ranges, 5 bits per ID) and
//! wide ones (64-bit, 60 bits per ID) alike, while the count cap bounds the
//! bit scan a lookup does inside one block.

use std::ops::ControlFlow;

use super::activity::{Activity, ActivityRef};
use super::block_code::BlockCode;
use super::block_index::{At, Blocks};
use super::ef_run::{self, Edit, Run, Shift};
use super::{allocated, prefetch, Encoding, Form, Stored, StoredForm};

/// Most IDs per block (a lookup scans about 2 bits per ID of its block).
pub const BLOCK_IDS_MAX: usize = 2048;
/// Most code bytes per block (a write rewrites one block).
pub const BLOCK_BYTES_MAX: usize = 768;
/// A block whose code shrinks below this merges with a neighbour when they fit in one.
const BLOCK_BYTES_MIN: usize = BLOCK_BYTES_MAX / 4;

/// Any this many IDs fit one block, whatever their range: a run takes fewer
/// than 66 bits per ID past its first (l + 3 with l at most 63).
pub const BLOCK_SURE_FIT: u64 = ((BLOCK_BYTES_MAX - ef_run::HEADER - 1) * 8 / 66) as u64;

/// Whether `n` IDs from `first` to `last` make one block within the budget.
pub fn block_fits(n: u64, first: u64, last: u64) -> bool {
    n <= BLOCK_IDS_MAX as u64 && ef_run::encoded_len_of(n, first, last) <= BLOCK_BYTES_MAX
}

/// Cuts strictly ascending `ids` into blocks greedily: each block takes IDs
/// while it fits. Calls `f` with each block's IDs.
fn cut(ids: &[u64], mut f: impl FnMut(&[u64])) {
    let mut start = 0;
    for j in 1..ids.len() {
        if !block_fits((j - start + 1) as u64, ids[start], ids[j]) {
            f(&ids[start..j]);
            start = j;
        }
    }
    if start < ids.len() {
        f(&ids[start..]);
    }
}

#[derive(Clone)]
pub struct EliasFano(Box<Inner>);

#[derive(Clone)]
struct Inner {
    count: u64,
    activity: Activity,
    /// The blocks, each one coded run of 1 ..= BLOCK_IDS_MAX IDs, indexed
    /// by their first IDs (a lookup touches no other block).
    blocks: Blocks,
}

fn code(ids: &[u64]) -> BlockCode {
    ef_run::with_scratch(|bytes| {
        ef_run::encode(ids, bytes);
        BlockCode::new(bytes)
    })
}

impl EliasFano {
    /// From strictly ascending IDs (at least one), in full blocks.
    pub fn from_sorted(ids: &[u64], activity: Activity) -> EliasFano {
        let mut blocks = Blocks::default();
        cut(ids, |block| blocks.push(block[0], code(block)));
        blocks.shrink_to_fit();
        EliasFano(Box::new(Inner { count: ids.len() as u64, activity, blocks }))
    }

    /// From coded runs the codec validated: ascending, disjoint, each of
    /// 1 ..= BLOCK_IDS_MAX IDs, `count` IDs in all.
    pub fn from_runs(blocks: &[&[u8]], count: u64, activity: Activity) -> EliasFano {
        let mut index = Blocks::default();
        for b in blocks {
            index.push(Run::trusted(b).first(), BlockCode::new(b));
        }
        index.shrink_to_fit();
        EliasFano(Box::new(Inner { count, activity, blocks: index }))
    }

    /// IDs per block, on average.
    pub fn ids_per_block(&self) -> u64 {
        self.0.count / self.0.blocks.len().max(1) as u64
    }

    /// The coded runs, in order (what the codec writes).
    pub fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.0.blocks.codes()
    }

    /// Heap bytes of a set of `blocks` blocks whose codes take `coded` bytes
    /// (allocated, each block rounded to its size class).
    pub fn bytes_for(blocks: usize, coded: usize) -> usize {
        allocated(size_of::<Inner>()) + Blocks::index_bytes_for(blocks) + coded
    }

    /// Heap bytes of `n` IDs from `first` to `last` as one block, which
    /// they must fit (`block_fits`): their size from the count and the
    /// extremes alone.
    pub fn one_block_bytes(n: u64, first: u64, last: u64) -> usize {
        debug_assert!(block_fits(n, first, last));
        EliasFano::bytes_for(1, allocated(ef_run::encoded_len_of(n, first, last)))
    }

    /// Bytes of the blocks and the index (what the policy compares).
    pub fn coded_bytes(&self) -> usize {
        let blocks = &self.0.blocks;
        allocated(size_of::<Inner>())
            + blocks.index_bytes()
            + blocks.codes().map(|b| allocated(b.len())).sum::<usize>()
    }

    /// The IDs of the block at `at`.
    fn decode(&self, at: At) -> Vec<u64> {
        let mut ids = Vec::new();
        Run::trusted(self.0.blocks.code(at)).decode_into(&mut ids);
        ids
    }

    /// Applies `shift` to the block at `at` in place when the block stays
    /// within its bounds: most inserts and removes keep the block's first ID
    /// and low-bit width, and leave it neither too big nor too small to stay
    /// on its own. Whether it did.
    fn shift_in_place(&mut self, at: At, shift: &Shift) -> bool {
        let fits = if shift.insert {
            shift.len <= BLOCK_BYTES_MAX && shift.n <= BLOCK_IDS_MAX
        } else {
            shift.len >= BLOCK_BYTES_MIN || self.0.blocks.len() == 1
        };
        if fits {
            self.0.blocks.apply(at, shift);
            if shift.insert {
                self.0.count += 1;
            } else {
                self.0.count -= 1;
            }
        }
        fits
    }

    /// Makes `edit`, planned on the block at `at` for inserting `id`: in
    /// place when the block stays within its bounds, else through a new
    /// code, or the block split in halves.
    fn insert_planned(&mut self, at: At, id: u64, edit: Edit) -> Option<bool> {
        match edit {
            Edit::Unchanged => return Some(false),
            Edit::Shift(shift) if self.shift_in_place(at, &shift) => return Some(true),
            Edit::Shift(_) | Edit::Recode | Edit::Refused => {}
        }
        // Else a new code replaces the block (re-coded, or split in halves).
        let done = ef_run::with_scratch(|code| {
            match ef_run::write_edit(&Run::trusted(self.0.blocks.code(at)), id, false, edit, code) {
                Some(false) => Some(false),
                Some(true)
                    if code.len() <= BLOCK_BYTES_MAX
                        && Run::trusted(code).len() <= BLOCK_IDS_MAX =>
                {
                    self.0.blocks.rewrite(at, Run::trusted(code).first(), code);
                    self.0.count += 1;
                    Some(true)
                }
                Some(true) | None => None,
            }
        });
        if done.is_some() {
            return done;
        }
        let mut ids = self.decode(at);
        let k = match ids.binary_search(&id) {
            Ok(_) => return Some(false),
            Err(k) => k,
        };
        ids.insert(k, id);
        self.store(at, &ids);
        self.0.count += 1;
        Some(true)
    }

    /// Makes `edit`, planned on the block at `at` for removing `id`: in
    /// place when the block stays within its bounds, else through a new
    /// code, or the block merged with a neighbour or dropped.
    fn remove_planned(&mut self, at: At, id: u64, edit: Edit) -> bool {
        match edit {
            Edit::Unchanged => return false,
            Edit::Shift(shift) if self.shift_in_place(at, &shift) => return true,
            Edit::Shift(_) | Edit::Recode | Edit::Refused => {}
        }
        // Else a new code replaces it (re-coded, or merged with a neighbour).
        let done = ef_run::with_scratch(|code| {
            match ef_run::write_edit(&Run::trusted(self.0.blocks.code(at)), id, true, edit, code) {
                Some(false) => Some(false),
                Some(true) if code.len() >= BLOCK_BYTES_MIN || self.0.blocks.len() == 1 => {
                    self.0.blocks.rewrite(at, Run::trusted(code).first(), code);
                    self.0.count -= 1;
                    Some(true)
                }
                Some(true) | None => None,
            }
        });
        if let Some(removed) = done {
            return removed;
        }
        let mut ids = self.decode(at);
        let Ok(k) = ids.binary_search(&id) else { return false };
        ids.remove(k);
        self.0.count -= 1;
        if ids.is_empty() {
            if self.0.blocks.len() > 1 {
                self.0.blocks.remove(at);
            }
            // The last block of an emptied set stays: the policy drops the set.
            return true;
        }
        // A small block merges with a neighbour (the right one, or the left
        // one for the last block) when both fit in one.
        let (first, last) = (ids[0], ids[ids.len() - 1]);
        let blocks = &self.0.blocks;
        let neighbour = blocks.next(at).map(|n| (n, true)).or(blocks.prev(at).map(|p| (p, false)));
        if let Some((other_at, right)) = neighbour {
            let other = Run::trusted(blocks.code(other_at));
            let (lo, hi) = if right { (first, other.last()) } else { (other.first(), last) };
            if ef_run::encoded_len_of(ids.len() as u64, first, last) < BLOCK_BYTES_MIN
                && block_fits((ids.len() + other.len()) as u64, lo, hi)
            {
                let mut both = self.decode(other_at);
                let (keep, drop) = if right {
                    ids.append(&mut both);
                    (at, other_at)
                } else {
                    both.append(&mut ids);
                    ids = both;
                    (other_at, at)
                };
                // The later block goes first: the earlier one keeps its place.
                self.0.blocks.remove(drop);
                self.store(keep, &ids);
                return true;
            }
        }
        self.store(at, &ids);
        true
    }

    /// Replaces the block at `at` by the IDs `ids` (at least one), halved
    /// until each part fits a block.
    fn store(&mut self, at: At, ids: &[u64]) {
        let mut parts = Vec::new();
        halve_to_fit(ids, &mut parts);
        self.0.blocks.splice(at, parts.into_iter().map(|p| (p[0], code(p))).collect());
    }
}

/// Splits `ids` into balanced parts that each fit a block (halves, not a
/// greedy cut: a split block leaves room in both for the writes to come).
fn halve_to_fit<'a>(ids: &'a [u64], parts: &mut Vec<&'a [u64]>) {
    if ids.len() <= 1 || block_fits(ids.len() as u64, ids[0], ids[ids.len() - 1]) {
        parts.push(ids);
    } else {
        let (left, right) = ids.split_at(ids.len() / 2);
        halve_to_fit(left, parts);
        halve_to_fit(right, parts);
    }
}

impl Stored for EliasFano {
    fn into_stored(self) -> StoredForm {
        StoredForm::from_box(self.0)
    }

    unsafe fn from_stored(stored: StoredForm) -> Option<EliasFano> {
        // SAFETY: per the contract, `stored` came from `into_stored` above.
        unsafe { stored.into_box() }.map(EliasFano)
    }
}

impl Form for EliasFano {
    fn encoding(&self) -> Encoding {
        Encoding::EliasFano
    }

    fn len(&self) -> u64 {
        self.0.count
    }

    fn contains(&self, id: u64) -> bool {
        Run::trusted(self.0.blocks.code(self.0.blocks.locate(id))).contains(id)
    }

    fn prefetch(&self) {
        // The count and the index's top, where every read starts.
        prefetch(std::ptr::from_ref::<Inner>(&self.0).cast());
    }

    fn insert(&mut self, id: u64) -> Option<bool> {
        let at = self.0.blocks.locate_to_write(id);
        let edit = ef_run::plan_insert(&Run::trusted(self.0.blocks.code(at)), id);
        self.insert_planned(at, id, edit)
    }

    fn remove(&mut self, id: u64) -> bool {
        let at = self.0.blocks.locate_to_write(id);
        let edit = ef_run::plan_remove(&Run::trusted(self.0.blocks.code(at)), id);
        self.remove_planned(at, id, edit)
    }

    /// One lookup and one search for either edit.
    fn toggle(&mut self, id: u64) -> Option<bool> {
        let at = self.0.blocks.locate_to_write(id);
        let (present, edit) = ef_run::plan_toggle(&Run::trusted(self.0.blocks.code(at)), id);
        if present {
            self.remove_planned(at, id, edit);
            Some(false)
        } else {
            self.insert_planned(at, id, edit)
        }
    }

    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> ControlFlow<()>) {
        let mut stop = false;
        for block in self.0.blocks.codes_from(self.0.blocks.locate(from)) {
            Run::trusted(block).for_each(|id| {
                if id >= from && f(id).is_break() {
                    stop = true;
                }
                !stop
            });
            if stop {
                return;
            }
        }
    }

    fn activity(&self) -> ActivityRef<'_> {
        self.0.activity.as_ref()
    }

    fn set_activity(&mut self, activity: Activity) -> Result<(), Activity> {
        self.0.activity = activity;
        Ok(())
    }

    fn take_activity(&mut self) -> Activity {
        std::mem::take(&mut self.0.activity)
    }

    fn heap_bytes(&self) -> usize {
        self.coded_bytes() + self.0.activity.heap_bytes()
    }

    /// One allocation per block.
    fn free_effort(&self) -> usize {
        self.0.blocks.allocations()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn ids_of(s: &EliasFano) -> Vec<u64> {
        let mut out = Vec::new();
        s.visit_from(0, &mut |id| {
            out.push(id);
            ControlFlow::Continue(())
        });
        out
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(
            start in prop::collection::btree_set(0u64..(1 << 40), 1..2000),
            ops in prop::collection::vec((0u8..3, 0u64..(1 << 40)), 0..600),
        ) {
            let ids: Vec<u64> = start.iter().copied().collect();
            let mut s = EliasFano::from_sorted(&ids, Activity::default());
            let mut model = start.clone();
            for (op, id) in ops {
                if model.is_empty() {
                    break;
                }
                // Reuse present IDs half the time so removals hit.
                let id = if id % 2 == 0 { *model.iter().nth((id as usize / 2) % model.len()).unwrap() } else { id };
                let keeps_one = model.len() > 1 || !model.contains(&id);
                match op {
                    0 => prop_assert_eq!(s.insert(id), Some(model.insert(id))),
                    1 if keeps_one => prop_assert_eq!(s.remove(id), model.remove(&id)),
                    2 if keeps_one => {
                        let added = !model.remove(&id) && model.insert(id);
                        prop_assert_eq!(s.toggle(id), Some(added));
                    }
                    _ => {}
                }
                prop_assert_eq!(s.len(), model.len() as u64);
            }
            prop_assert_eq!(ids_of(&s), model.iter().copied().collect::<Vec<_>>());
            for id in model.iter().take(100) {
                prop_assert!(s.contains(*id));
            }
            // The index holds each block's first ID.
            let mut at = Some(s.0.blocks.locate(0));
            while let Some(here) = at {
                prop_assert_eq!(s.0.blocks.first(here), Run::trusted(s.0.blocks.code(here)).first());
                at = s.0.blocks.next(here);
            }
            for b in s.0.blocks.codes() {
                let (run, len) = Run::parse(b, u64::MAX >> 1).expect("canonical blocks");
                prop_assert_eq!(len, b.len());
                prop_assert!((1..=BLOCK_IDS_MAX).contains(&run.len()));
                prop_assert!(run.len() == 1 || b.len() <= BLOCK_BYTES_MAX);
            }
        }
    }

    #[test]
    fn any_sure_fit_ids_fit_a_block() {
        const { assert!(BLOCK_SURE_FIT >= 64) };
        for bits in 0..63 {
            for range in [(1u64 << bits) - 1, 1 << bits, (1 << bits) + (1 << bits) / 2] {
                let range = range.min(crate::likeset::MAX_ID);
                if range + 1 >= BLOCK_SURE_FIT {
                    assert!(block_fits(BLOCK_SURE_FIT, 0, range), "range {range}");
                }
            }
        }
        assert!(block_fits(BLOCK_SURE_FIT, 0, crate::likeset::MAX_ID));
    }

    #[test]
    fn pages_from_any_point() {
        let ids: Vec<u64> = (0..3000u64).map(|i| i * 7919 + 3).collect();
        let s = EliasFano::from_sorted(&ids, Activity::default());
        let model: BTreeSet<u64> = ids.iter().copied().collect();
        for from in [0, 3, 4, 7922, 7919 * 1500, 7919 * 2999 + 3, 7919 * 2999 + 4] {
            let mut got = Vec::new();
            s.visit_from(from, &mut |id| {
                got.push(id);
                if got.len() == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            let want: Vec<u64> = model.range(from..).take(10).copied().collect();
            assert_eq!(got, want, "from {from}");
        }
    }
}
