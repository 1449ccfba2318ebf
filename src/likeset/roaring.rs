//! The `roaring` encoding, for large or dense sets: roaring bitmaps sharded
//! by ID / 2^24, with the count cached (a bitmap's `len` walks every container).
//!
//! One roaring bitmap keeps its containers (one per 2^16 IDs) in a sorted
//! array, so a new container in a sparse set of 2^32-wide IDs shifts up to
//! 65,536 of them (~2 MB). Shards of 2^24 IDs hold at most 256 containers:
//! a write moves at most 8 KB, whatever the set's size.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use roaring::RoaringBitmap;

use super::activity::{Activity, ActivityRef};
use super::{Encoding, Form, Stored, StoredForm};

/// A roaring like-set: one pointer (so that it fits the Redis value word).
#[derive(Clone)]
pub struct Roaring(Box<Inner>);

#[derive(Clone)]
struct Inner {
    map: Shards,
    count: u64,
    activity: Activity,
}

impl Roaring {
    /// Heap bytes of a roaring set before its first shard.
    pub const EMPTY_BYTES: usize = std::mem::size_of::<Inner>();

    /// From ascending IDs, in run-length form where that is smaller.
    pub fn from_sorted(ids: impl Iterator<Item = u64>, activity: Activity) -> Roaring {
        let mut map = Shards::from_sorted(ids);
        map.optimize();
        Roaring::from_shards(map, activity)
    }

    /// From validated shards (the codec checked them).
    pub fn from_shards(map: Shards, activity: Activity) -> Roaring {
        let count = map.map.values().map(RoaringBitmap::len).sum();
        Roaring(Box::new(Inner { map, count, activity }))
    }

    pub fn shards(&self) -> impl Iterator<Item = (u64, &RoaringBitmap)> {
        self.0.map.shards()
    }

    /// Converts containers to run-length form where that is smaller.
    pub fn optimize(&mut self) {
        self.0.map.optimize();
    }

    /// Heap bytes of the bitmaps alone (what the policy compares).
    pub fn bitmap_bytes(&self) -> usize {
        Roaring::EMPTY_BYTES + self.0.map.heap_bytes()
    }
}

impl Stored for Roaring {
    fn into_stored(self) -> StoredForm {
        StoredForm::from_box(self.0)
    }

    unsafe fn from_stored(stored: StoredForm) -> Option<Roaring> {
        // SAFETY: per the contract, `stored` came from `into_stored` above.
        unsafe { stored.into_box() }.map(Roaring)
    }
}

impl Form for Roaring {
    fn encoding(&self) -> Encoding {
        Encoding::Roaring
    }

    fn len(&self) -> u64 {
        self.0.count
    }

    fn contains(&self, id: u64) -> bool {
        self.0.map.contains(id)
    }

    fn insert(&mut self, id: u64) -> Option<bool> {
        let inner = &mut *self.0;
        if !inner.map.insert(id) {
            return Some(false);
        }
        inner.count += 1;
        // Dense ranges compress to run containers, and containers filled in
        // random order keep the capacity of their gappy past (a run container
        // of 1,000 runs that merged into one still holds 4 KB): re-check the
        // shard written to now and then.
        if inner.count.is_multiple_of(4_096) {
            inner.map.compact_shard_of(id);
        }
        Some(true)
    }

    fn remove(&mut self, id: u64) -> bool {
        let removed = self.0.map.remove(id);
        if removed {
            self.0.count -= 1;
        }
        removed
    }

    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> ControlFlow<()>) {
        let _ = self.0.map.iter_from(from).try_for_each(f);
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
        self.bitmap_bytes() + self.0.activity.heap_bytes()
    }

    /// One allocation per container: Redis frees values whose effort exceeds
    /// 64 in a background thread (UNLINK, FLUSHALL ASYNC).
    fn free_effort(&self) -> usize {
        1 + (self.0.count / 16) as usize
    }
}

/// IDs per shard: 2^SHIFT.
pub const SHIFT: u32 = 24;
pub const LOW_MASK: u64 = (1 << SHIFT) - 1;

/// A roaring container header (key + store enum) in roaring 0.12.
pub const CONTAINER_BYTES: usize = 32;
/// A BTreeMap<u64, RoaringBitmap> node: 11 entries of 8 + 24 bytes, plus links.
const NODE_BYTES: usize = 400;
const NODE_ENTRIES: usize = 11;
/// A bitset container: 2^16 bits.
const BITSET_BYTES: usize = 8192;
/// Smallest allocation of an array or run store (Vec capacity 4 of u16).
pub const MIN_STORE_BYTES: usize = 8;

/// Heap bytes of the shard map's nodes for `shards` entries.
pub fn map_bytes(shards: usize) -> usize {
    shards.div_ceil(NODE_ENTRIES) * NODE_BYTES
}

/// Roaring bitmaps of the IDs' low 24 bits, by ID >> 24.
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

    /// Converts containers to run-length form where that is smaller.
    pub fn optimize(&mut self) {
        for bm in self.map.values_mut() {
            bm.optimize();
        }
    }

    /// Optimizes the shard holding `id` and gives back its spare capacity (a
    /// clone allocates each store exactly).
    pub fn compact_shard_of(&mut self, id: u64) {
        if let Some(bm) = self.map.get_mut(&split(id).0) {
            bm.optimize();
            *bm = bm.clone();
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
        // roaring 0.12 counts an array store's capacity at 4 bytes per value
        // (statistics.rs); the values are u16.
        + s.n_bytes_array_containers as usize / 2
        + s.n_array_containers as usize * MIN_STORE_BYTES
        + s.n_bytes_run_containers as usize
        + s.n_run_containers as usize * MIN_STORE_BYTES
        + s.n_bitset_containers as usize * BITSET_BYTES
}
