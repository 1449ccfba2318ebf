//! The roaring encoding's storage: roaring bitmaps sharded by ID / 2^24.
//!
//! One roaring bitmap keeps its containers (one per 2^16 IDs) in a sorted
//! array, so a new container in a sparse set of 2^32-wide IDs shifts up to
//! 65,536 of them (~2 MB). Shards of 2^24 IDs hold at most 256 containers:
//! a write moves at most 8 KB, whatever the set's size.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

/// IDs per shard: 2^SHIFT.
pub const SHIFT: u32 = 24;
pub const LOW_MASK: u64 = (1 << SHIFT) - 1;

/// A roaring container header (key + store enum) in roaring 0.12.
const CONTAINER_BYTES: usize = 32;
/// A BTreeMap<u64, RoaringBitmap> node: 11 entries of 8 + 24 bytes, plus links.
const NODE_BYTES: usize = 400;
const NODE_ENTRIES: usize = 11;
/// A bitset container: 2^16 bits.
const BITSET_BYTES: usize = 8192;
/// Smallest allocation of an array or run store (Vec capacity 4 of u16).
const MIN_STORE_BYTES: usize = 8;

/// Heap bytes of the shard map's nodes for `shards` entries.
pub fn map_bytes(shards: usize) -> usize {
    shards.div_ceil(NODE_ENTRIES) * NODE_BYTES
}

#[derive(Clone, Default, PartialEq)]
pub struct Shards {
    map: BTreeMap<u64, RoaringBitmap>,
}

fn split(id: u64) -> (u64, u32) {
    (id >> SHIFT, (id & LOW_MASK) as u32)
}

impl Shards {
    /// Builds from ascending IDs.
    pub fn from_sorted(ids: impl Iterator<Item = u64>) -> Shards {
        let mut s = Shards::default();
        let mut current: Option<(u64, RoaringBitmap)> = None;
        for id in ids {
            let (key, low) = split(id);
            match &mut current {
                Some((k, bm)) if *k == key => {
                    bm.insert(low);
                }
                _ => {
                    if let Some((k, bm)) = current.take() {
                        s.map.insert(k, bm);
                    }
                    let mut bm = RoaringBitmap::new();
                    bm.insert(low);
                    current = Some((key, bm));
                }
            }
        }
        if let Some((k, bm)) = current {
            s.map.insert(k, bm);
        }
        s
    }

    /// From (shard key, bitmap of low bits) pairs; the caller validated them.
    pub fn from_shards(shards: Vec<(u64, RoaringBitmap)>) -> Shards {
        Shards { map: shards.into_iter().collect() }
    }

    pub fn shards(&self) -> impl Iterator<Item = (u64, &RoaringBitmap)> {
        self.map.iter().map(|(k, bm)| (*k, bm))
    }

    pub fn contains(&self, id: u64) -> bool {
        let (key, low) = split(id);
        self.map.get(&key).is_some_and(|bm| bm.contains(low))
    }

    pub fn insert(&mut self, id: u64) -> bool {
        let (key, low) = split(id);
        self.map.entry(key).or_default().insert(low)
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let (key, low) = split(id);
        let Some(bm) = self.map.get_mut(&key) else { return false };
        let removed = bm.remove(low);
        if bm.is_empty() {
            self.map.remove(&key);
        }
        removed
    }

    pub fn max(&self) -> Option<u64> {
        self.map.iter().next_back().and_then(|(k, bm)| bm.max().map(|low| (k << SHIFT) | u64::from(low)))
    }

    /// Converts containers to run-length form where that is smaller.
    pub fn optimize(&mut self) {
        for bm in self.map.values_mut() {
            bm.optimize();
        }
    }

    /// Ascending IDs from `from` on.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        let (first_key, first_low) = split(from);
        self.map.range(first_key..).flat_map(move |(&k, bm)| {
            let mut it = bm.iter();
            if k == first_key {
                it.advance_to(first_low);
            }
            it.map(move |low| (k << SHIFT) | u64::from(low))
        })
    }

    pub fn heap_bytes(&self) -> usize {
        map_bytes(self.map.len()) + self.map.values().map(bitmap_heap_bytes).sum::<usize>()
    }
}

/// Heap bytes of one roaring bitmap: its container array (Vec capacity: at
/// least 4, then doubling) and each container's store. roaring 0.12's
/// `n_bytes_bitset_containers` counts bits, so bitsets are counted here.
pub fn bitmap_heap_bytes(bm: &RoaringBitmap) -> usize {
    let s = bm.statistics();
    let containers = (s.n_containers as usize).next_power_of_two().max(4);
    containers * CONTAINER_BYTES
        + s.n_bytes_array_containers as usize
        + s.n_array_containers as usize * MIN_STORE_BYTES
        + s.n_bytes_run_containers as usize
        + s.n_run_containers as usize * MIN_STORE_BYTES
        + s.n_bitset_containers as usize * BITSET_BYTES
}
