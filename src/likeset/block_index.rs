//! The blocks of an `elias-fano` set and their index: a two-level sorted
//! index (a B+ tree of height two). Blocks sit in groups of at most
//! `GROUP_BLOCKS_MAX`; a lookup searches the groups' first IDs, then the
//! group's. A write that splits or drops a block shifts one group's entries,
//! not the whole set's: on a 10M-ID set (70k blocks) a flat index moved about
//! 1 MB per block split.
//!
//! A big set's index and blocks are mostly out of the CPU caches, so a lookup
//! is a chain of cache misses. `locate` asks for the lines it will read
//! before it reads them: the group's entries at once (small groups: a few
//! lines), then the block's header and end (where its high parts are), so
//! the misses overlap instead of following one another.

use super::block_code::BlockCode;
use super::ef_run::{self, Shift};
use super::prefetch;

/// Most blocks per group (a split or a removal moves at most this many
/// entries; a lookup fetches a group's 32 first IDs and codes, 12 cache lines).
pub const GROUP_BLOCKS_MAX: usize = 32;
/// A group this small merges with its right neighbour when both fit in one.
const GROUP_BLOCKS_MIN: usize = GROUP_BLOCKS_MAX / 4;

/// Where a block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    group: usize,
    block: usize,
}

#[derive(Clone, Default)]
struct Group {
    /// First ID of each block, ascending.
    firsts: Vec<u64>,
    codes: Vec<BlockCode>,
}

/// Coded blocks in ID order, each with its first ID (at least one block,
/// once built).
#[derive(Clone, Default)]
pub struct Blocks {
    /// First ID of each group (of its first block), ascending.
    tops: Vec<u64>,
    groups: Vec<Group>,
    len: usize,
}

impl Blocks {
    /// Appends a block past every block held (building from sorted IDs).
    pub fn push(&mut self, first: u64, code: BlockCode) {
        debug_assert!(self.groups.last().and_then(|g| g.firsts.last()) < Some(&first));
        if self.groups.last().is_none_or(|g| g.codes.len() >= GROUP_BLOCKS_MAX) {
            if let Some(full) = self.groups.last_mut() {
                full.firsts.shrink_to_fit();
                full.codes.shrink_to_fit();
            }
            self.tops.push(first);
            self.groups.push(Group::default());
        }
        if let Some(g) = self.groups.last_mut() {
            g.firsts.push(first);
            g.codes.push(code);
        }
        self.len += 1;
    }

    /// Gives back the spare capacity of the last group and the top level (after building).
    pub fn shrink_to_fit(&mut self) {
        if let Some(g) = self.groups.last_mut() {
            g.firsts.shrink_to_fit();
            g.codes.shrink_to_fit();
        }
        self.tops.shrink_to_fit();
        self.groups.shrink_to_fit();
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The block that holds `id` if any does: the last one starting at or
    /// before it (the first block for an ID below every block). Also starts
    /// fetching the block's header and end, which a search reads first.
    pub fn locate(&self, id: u64) -> At {
        self.find(id, |code| {
            prefetch(code.as_ptr());
            prefetch(code.as_ptr().wrapping_add(code.len().saturating_sub(1)));
            prefetch(code.as_ptr().wrapping_add(code.len().saturating_sub(65)));
        })
    }

    /// `locate` for a write, which moves the block's bits past the ID:
    /// fetches all of the block.
    pub fn locate_to_write(&self, id: u64) -> At {
        self.find(id, prefetch_all)
    }

    fn find(&self, id: u64, fetch: impl FnOnce(&[u8])) -> At {
        let group = self.tops.partition_point(|&f| f <= id).saturating_sub(1);
        let g = &self.groups[group];
        prefetch_all(&g.firsts);
        prefetch_all(&g.codes);
        let block = g.firsts.partition_point(|&f| f <= id).saturating_sub(1);
        if let Some(code) = g.codes.get(block) {
            fetch(code);
        }
        At { group, block }
    }

    pub fn code(&self, at: At) -> &[u8] {
        &self.groups[at.group].codes[at.block]
    }

    #[cfg(test)]
    pub fn first(&self, at: At) -> u64 {
        self.groups[at.group].firsts[at.block]
    }

    /// Replaces the code of the block at `at` by `code`, whose first ID is
    /// `first` (at or past the previous block's last ID, before the next
    /// block's first); in the block's allocation while its size class stays.
    pub fn rewrite(&mut self, at: At, first: u64, code: &[u8]) {
        let g = &mut self.groups[at.group];
        g.codes[at.block].set(code);
        g.firsts[at.block] = first;
        if at.block == 0 {
            self.tops[at.group] = first;
        }
    }

    /// Edits the code of the block at `at` in place (its first ID stays).
    pub fn apply(&mut self, at: At, shift: &Shift) {
        self.groups[at.group].codes[at.block].edit(shift.len, |buf| ef_run::apply(buf, shift));
    }

    /// Replaces the block at `at` by `parts` (at least one, ascending, in
    /// the same place), splitting its group when it outgrows the maximum.
    pub fn splice(&mut self, at: At, parts: Vec<(u64, BlockCode)>) {
        debug_assert!(!parts.is_empty());
        let added = parts.len() - 1;
        let g = &mut self.groups[at.group];
        // Exact growth: a group's arrays stay within their size class.
        g.firsts.reserve_exact(added);
        g.codes.reserve_exact(added);
        let (firsts, codes): (Vec<u64>, Vec<BlockCode>) = parts.into_iter().unzip();
        g.firsts.splice(at.block..=at.block, firsts);
        g.codes.splice(at.block..=at.block, codes);
        self.tops[at.group] = g.firsts[0];
        self.len += added;
        if g.codes.len() > GROUP_BLOCKS_MAX {
            let half = g.codes.len() / 2;
            let right = Group { firsts: g.firsts.split_off(half), codes: g.codes.split_off(half) };
            g.firsts.shrink_to_fit();
            g.codes.shrink_to_fit();
            self.tops.insert(at.group + 1, right.firsts[0]);
            self.groups.insert(at.group + 1, right);
        }
    }

    /// Removes the block at `at` (never the only one). A group left empty
    /// goes; one left small merges with its right neighbour when they fit.
    pub fn remove(&mut self, at: At) {
        debug_assert!(self.len > 1);
        let g = &mut self.groups[at.group];
        g.firsts.remove(at.block);
        g.codes.remove(at.block);
        self.len -= 1;
        if g.codes.is_empty() {
            self.tops.remove(at.group);
            self.groups.remove(at.group);
            return;
        }
        self.tops[at.group] = g.firsts[0];
        let left = g.codes.len();
        let next = at.group + 1;
        if left < GROUP_BLOCKS_MIN
            && next < self.groups.len()
            && left + self.groups[next].codes.len() <= GROUP_BLOCKS_MAX
        {
            let right = self.groups.remove(next);
            self.tops.remove(next);
            let g = &mut self.groups[at.group];
            g.firsts.extend(right.firsts);
            g.codes.extend(right.codes);
        }
    }

    /// The block after `at`.
    pub fn next(&self, at: At) -> Option<At> {
        if at.block + 1 < self.groups[at.group].codes.len() {
            Some(At { group: at.group, block: at.block + 1 })
        } else if at.group + 1 < self.groups.len() {
            Some(At { group: at.group + 1, block: 0 })
        } else {
            None
        }
    }

    /// The block before `at`.
    pub fn prev(&self, at: At) -> Option<At> {
        if at.block > 0 {
            Some(At { group: at.group, block: at.block - 1 })
        } else if at.group > 0 {
            let group = at.group - 1;
            Some(At { group, block: self.groups[group].codes.len() - 1 })
        } else {
            None
        }
    }

    /// The codes from the block at `at` on, in order.
    pub fn codes_from(&self, at: At) -> impl Iterator<Item = &[u8]> {
        let first_group = self.groups[at.group].codes[at.block..].iter();
        let rest = self.groups[at.group + 1..].iter().flat_map(|g| g.codes.iter());
        first_group.chain(rest).map(|c| &c[..])
    }

    /// Every code, in order.
    pub fn codes(&self) -> impl Iterator<Item = &[u8]> {
        self.groups.iter().flat_map(|g| g.codes.iter()).map(|c| &c[..])
    }

    /// Heap bytes of the index (the codes not included), allocated.
    pub fn index_bytes(&self) -> usize {
        use super::allocated;
        allocated(self.tops.capacity() * size_of::<u64>())
            + allocated(self.groups.capacity() * size_of::<Group>())
            + self
                .groups
                .iter()
                .map(|g| {
                    allocated(g.firsts.capacity() * size_of::<u64>())
                        + allocated(g.codes.capacity() * size_of::<BlockCode>())
                })
                .sum::<usize>()
    }

    /// `index_bytes` of `blocks` blocks in full groups, as `push` builds them.
    pub fn index_bytes_for(blocks: usize) -> usize {
        use super::allocated;
        let groups = blocks.div_ceil(GROUP_BLOCKS_MAX);
        let per_group =
            |n: usize| allocated(n * size_of::<u64>()) + allocated(n * size_of::<BlockCode>());
        let full = blocks / GROUP_BLOCKS_MAX;
        allocated(groups * size_of::<u64>())
            + allocated(groups * size_of::<Group>())
            + full * per_group(GROUP_BLOCKS_MAX)
            + per_group(blocks % GROUP_BLOCKS_MAX)
    }

    /// Every allocation (what freeing costs).
    pub fn allocations(&self) -> usize {
        2 + 2 * self.groups.len() + self.len
    }
}

/// `prefetch` of every cache line of `items`.
#[inline(always)]
fn prefetch_all<T>(items: &[T]) {
    const LINE: usize = 64;
    let p = items.as_ptr().cast::<u8>();
    let skew = p as usize % LINE;
    let (start, end) = (p.wrapping_sub(skew), skew + std::mem::size_of_val(items));
    let mut at = 0;
    while at < end {
        prefetch(start.wrapping_add(at));
        at += LINE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(first: u64) -> BlockCode {
        BlockCode::new(&first.to_le_bytes())
    }

    fn firsts(b: &Blocks) -> Vec<u64> {
        b.codes().map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
    }

    fn check(b: &Blocks) {
        assert_eq!(b.len, b.groups.iter().map(|g| g.codes.len()).sum::<usize>());
        assert_eq!(b.tops.len(), b.groups.len());
        for (top, g) in b.tops.iter().zip(&b.groups) {
            assert!(!g.codes.is_empty() && g.codes.len() <= GROUP_BLOCKS_MAX);
            assert_eq!(*top, g.firsts[0]);
            assert_eq!(g.firsts.len(), g.codes.len());
        }
        let f = firsts(b);
        assert!(f.windows(2).all(|w| w[0] < w[1]));
        let stored: Vec<u64> = b.groups.iter().flat_map(|g| g.firsts.iter().copied()).collect();
        assert_eq!(f, stored);
    }

    #[test]
    fn splits_merges_and_finds() {
        let mut b = Blocks::default();
        for i in 0..1000u64 {
            b.push(i * 100, code(i * 100));
        }
        b.shrink_to_fit();
        check(&b);
        assert_eq!(b.index_bytes(), Blocks::index_bytes_for(1000));
        // Split many blocks in one region: its group splits, others stay.
        for i in 0..300u64 {
            let id = 50_000 + i * 100;
            let at = b.locate(id);
            assert_eq!(b.first(at), id);
            b.splice(at, vec![(id, code(id)), (id + 50, code(id + 50))]);
            check(&b);
        }
        assert_eq!(b.len(), 1300);
        for id in [0, 1, 99, 100, 50_049, 50_050, 50_051, 99_950, u64::MAX] {
            let at = b.locate(id);
            let want = *firsts(&b).iter().rfind(|&&f| f <= id).expect("some first <= id");
            assert_eq!(b.first(at), want, "id {id}");
        }
        // Walk forward and back over every block.
        let mut at = b.locate(0);
        let mut n = 1;
        while let Some(next) = b.next(at) {
            assert_eq!(b.prev(next), Some(at));
            at = next;
            n += 1;
        }
        assert_eq!(n, b.len());
        // Remove nearly everything, from the middle out.
        while b.len() > 1 {
            let f = firsts(&b);
            b.remove(b.locate(f[f.len() / 2]));
            check(&b);
        }
        assert_eq!(b.groups.len(), 1);
        assert_eq!(b.codes_from(b.locate(0)).count(), 1);
    }
}
