//! The `packed` encoding: one allocation holding a header and the sorted user
//! IDs packed at the narrowest width that fits the largest (2, 4 or 8 bytes),
//! in the spirit of Redis's intset. The block is reallocated to the exact
//! size on every change, so a small set pays no spare capacity.
//!
//! The header is one word, as small as an intset's (8 bytes), whenever the
//! set's recent activity fits in it: no likes in the last hour, or likes in
//! one 10-second stripe (at most 511 of them). Otherwise a second word holds
//! the activity (`ActivityWord`: inline, or the rings it owns).
//!
//! Word 0: bit 0 compact, bits 1-2 width code, bits 3-25 length; in a compact
//! header also bits 26-34 the activity count and bits 35-63 its stripe.

use std::alloc::{self, Layout};
use std::ops::ControlFlow;
use std::ptr::NonNull;

use super::activity::{Activity, ActivityRef, ActivityWord};
use super::{Encoding, Form, Stored, StoredForm};

const COMPACT: u64 = 1;
const WIDTH_SHIFT: u32 = 1;
const LEN_SHIFT: u32 = 3;
/// Most IDs a packed set holds (far above any `like.packed-max`).
pub const LEN_MAX: usize = (1 << 23) - 1;
const COUNT_SHIFT: u32 = 26;
const COUNT_MAX: u32 = (1 << 9) - 1;
const STRIPE_SHIFT: u32 = 35;
const STRIPE_MAX: u32 = (1 << 29) - 1;
/// Word 0's bits that are not the length.
const LEN_MASK: u64 = (LEN_MAX as u64) << LEN_SHIFT;

const WORD: usize = 8;
const ALIGN: usize = 8;

/// Sorted, deduplicated IDs at one width.
#[derive(Clone, Copy)]
pub enum View<'a> {
    W2(&'a [u16]),
    W4(&'a [u32]),
    W8(&'a [u64]),
}

impl View<'_> {
    pub fn len(&self) -> usize {
        match self {
            View::W2(s) => s.len(),
            View::W4(s) => s.len(),
            View::W8(s) => s.len(),
        }
    }

    pub fn get(&self, i: usize) -> Option<u64> {
        match self {
            View::W2(s) => s.get(i).map(|&v| u64::from(v)),
            View::W4(s) => s.get(i).map(|&v| u64::from(v)),
            View::W8(s) => s.get(i).copied(),
        }
    }

    /// `Ok(position)` of `id`, or `Err(insertion point)`.
    pub fn search(&self, id: u64) -> Result<usize, usize> {
        match self {
            View::W2(s) => u16::try_from(id).map_or(Err(s.len()), |v| s.binary_search(&v)),
            View::W4(s) => u32::try_from(id).map_or(Err(s.len()), |v| s.binary_search(&v)),
            View::W8(s) => s.binary_search(&id),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}

/// Narrowest width (bytes) that holds `id`.
pub fn width_for(id: u64) -> usize {
    if id <= u64::from(u16::MAX) {
        2
    } else if id <= u64::from(u32::MAX) {
        4
    } else {
        8
    }
}

/// The activity as compact header bits, when it fits them.
fn compact_bits(activity: &Activity) -> Option<u64> {
    match *activity {
        Activity::Inline { stripe, count } if stripe <= STRIPE_MAX && count <= COUNT_MAX => {
            Some(COMPACT | u64::from(count) << COUNT_SHIFT | u64::from(stripe) << STRIPE_SHIFT)
        }
        _ => None,
    }
}

/// Header bytes: one word, or two when the activity has its own.
fn header_bytes(compact: bool) -> usize {
    if compact {
        WORD
    } else {
        2 * WORD
    }
}

/// Owning pointer to a packed block.
pub struct Packed {
    ptr: NonNull<u64>,
}

// SAFETY: the block is plain memory owned by this handle alone, like a Box
// (the rings its activity word points to are owned the same way).
unsafe impl Send for Packed {}
// SAFETY: shared access only reads; every mutation takes `&mut self`.
unsafe impl Sync for Packed {}

/// The block's layout. A packed set holds at most LEN_MAX IDs (the policy
/// keeps it to `like.packed-max`), far below isize::MAX: a failure here is a
/// broken invariant, and writing `len` elements into any other layout would
/// corrupt memory.
fn layout(header: usize, width: usize, len: usize) -> Layout {
    let size = width.checked_mul(len).and_then(|data| data.checked_add(header));
    match size.map(|size| Layout::from_size_align(size, ALIGN)) {
        Some(Ok(layout)) if len <= LEN_MAX => layout,
        _ => panic!("packed block of {len} x {width} bytes has no valid layout"),
    }
}

impl Packed {
    /// Heap bytes of a packed set of `len` IDs whose largest is `max` (with
    /// a one-word header, as most sets have).
    pub fn bytes_for(len: usize, max: u64) -> usize {
        WORD + width_for(max) * len
    }

    /// Builds a block from strictly ascending IDs (the caller guarantees order).
    pub fn from_sorted(ids: &[u64], activity: Activity) -> Packed {
        let width = ids.last().map_or(2, |&m| width_for(m));
        let mut p = Packed::alloc(width, ids.len(), activity);
        for (i, &id) in ids.iter().enumerate() {
            p.write(i, id);
        }
        p
    }

    /// A block of `len` uninitialised IDs (the caller writes them all).
    fn alloc(width: usize, len: usize, activity: Activity) -> Packed {
        let compact = compact_bits(&activity);
        let lay = layout(header_bytes(compact.is_some()), width, len);
        // SAFETY: the layout has non-zero size (it includes the header).
        let raw = unsafe { alloc::alloc(lay) } as *mut u64;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(lay) };
        let shape = (width.trailing_zeros() as u64 - 1) << WIDTH_SHIFT | (len as u64) << LEN_SHIFT;
        // SAFETY: freshly allocated, 8-aligned, with room for the header
        // words written (two when not compact).
        unsafe {
            match compact {
                Some(bits) => ptr.as_ptr().write(shape | bits),
                None => {
                    ptr.as_ptr().write(shape);
                    (ptr.as_ptr().add(1) as *mut ActivityWord).write(ActivityWord::new(activity));
                }
            }
        }
        Packed { ptr }
    }

    fn word(&self) -> u64 {
        // SAFETY: ptr is a live block we own; word 0 is always initialised.
        unsafe { self.ptr.as_ptr().read() }
    }

    fn set_word(&mut self, word: u64) {
        // SAFETY: ptr is a live block we own exclusively.
        unsafe { self.ptr.as_ptr().write(word) }
    }

    fn is_compact(&self) -> bool {
        self.word() & COMPACT != 0
    }

    fn header(&self) -> usize {
        header_bytes(self.is_compact())
    }

    /// The activity word of a two-word header.
    fn activity_word(&self) -> Option<&ActivityWord> {
        // SAFETY: a block without the compact bit has an initialised
        // ActivityWord in word 1, owned by the block and borrowed with self.
        (!self.is_compact()).then(|| unsafe { &*(self.ptr.as_ptr().add(1) as *const ActivityWord) })
    }

    fn activity_word_mut(&mut self) -> Option<&mut ActivityWord> {
        // SAFETY: as in `activity_word`, borrowed mutably with self.
        (!self.is_compact())
            .then(|| unsafe { &mut *(self.ptr.as_ptr().add(1) as *mut ActivityWord) })
    }

    pub fn len(&self) -> usize {
        ((self.word() & LEN_MASK) >> LEN_SHIFT) as usize
    }

    pub fn width(&self) -> usize {
        2 << ((self.word() >> WIDTH_SHIFT) & 3)
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data area starts right after the header, inside the block.
        unsafe { (self.ptr.as_ptr() as *mut u8).add(self.header()) }
    }

    pub fn view(&self) -> View<'_> {
        let (len, data) = (self.len(), self.data());
        // SAFETY: the block holds `len` initialised elements of `width` bytes,
        // 8-aligned (the header is one or two words).
        unsafe {
            match self.width() {
                2 => View::W2(std::slice::from_raw_parts(data as *const u16, len)),
                4 => View::W4(std::slice::from_raw_parts(data as *const u32, len)),
                _ => View::W8(std::slice::from_raw_parts(data as *const u64, len)),
            }
        }
    }

    /// Appends the IDs as little-endian integers of the block's width (the
    /// serialized form): one copy on little-endian machines.
    pub fn write_le(&self, out: &mut Vec<u8>) {
        if cfg!(target_endian = "little") {
            // SAFETY: the data area holds len * width initialised bytes.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(self.data(), self.len() * self.width())
            });
        } else {
            let w = self.width();
            self.view().iter().for_each(|id| out.extend_from_slice(&id.to_le_bytes()[..w]));
        }
    }

    fn write(&mut self, i: usize, id: u64) {
        debug_assert!(i < self.len() && width_for(id) <= self.width());
        let data = self.data();
        // SAFETY: i < len, and the width holds id (callers widen first).
        unsafe {
            match self.width() {
                2 => (data as *mut u16).add(i).write(id as u16),
                4 => (data as *mut u32).add(i).write(id as u32),
                _ => (data as *mut u64).add(i).write(id),
            }
        }
    }

    fn resize(&mut self, new_len: usize) {
        let (h, w, old) = (self.header(), self.width(), self.len());
        let new_layout = layout(h, w, new_len);
        // SAFETY: the block was allocated with layout(h, w, old); the new size
        // is non-zero and valid for the same alignment.
        let raw = unsafe {
            alloc::realloc(self.ptr.as_ptr() as *mut u8, layout(h, w, old), new_layout.size())
        } as *mut u64;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(new_layout) };
        self.ptr = ptr;
        let word = self.word();
        self.set_word(word & !LEN_MASK | (new_len as u64) << LEN_SHIFT);
    }

    /// Inserts `id`; false if already present.
    pub fn insert(&mut self, id: u64) -> bool {
        let pos = match self.view().search(id) {
            Ok(_) => return false,
            Err(pos) => pos,
        };
        if width_for(id) > self.width() {
            // Widening rewrites every element: rebuild (rare, like intset upgrade).
            let mut ids: Vec<u64> = self.view().iter().collect();
            ids.insert(pos, id);
            *self = Packed::from_sorted(&ids, self.take_activity());
            return true;
        }
        let (len, w) = (self.len(), self.width());
        self.resize(len + 1);
        let data = self.data();
        // SAFETY: the block now has room for len + 1 elements; shift the tail right.
        unsafe { std::ptr::copy(data.add(pos * w), data.add((pos + 1) * w), (len - pos) * w) };
        self.write(pos, id);
        true
    }

    /// Removes `id`; false if absent.
    pub fn remove(&mut self, id: u64) -> bool {
        let Ok(pos) = self.view().search(id) else { return false };
        let (len, w) = (self.len(), self.width());
        let data = self.data();
        // SAFETY: pos < len; shift the tail left over it.
        unsafe { std::ptr::copy(data.add((pos + 1) * w), data.add(pos * w), (len - pos - 1) * w) };
        self.resize(len - 1);
        true
    }

    /// Moves the activity out, leaving an empty one.
    pub fn take_activity(&mut self) -> Activity {
        if let Some(word) = self.activity_word_mut() {
            return word.take();
        }
        let activity = self.activity().to_owned();
        let word = self.word();
        self.set_word(word & (LEN_MASK | 3 << WIDTH_SHIFT) | COMPACT);
        activity
    }

    /// Replaces the activity, moving the IDs to a block with the other
    /// header size when the new activity needs it.
    fn put_activity(&mut self, activity: Activity) {
        match (compact_bits(&activity), self.activity_word_mut()) {
            (Some(bits), None) => {
                let word = self.word();
                self.set_word(word & (LEN_MASK | 3 << WIDTH_SHIFT) | bits);
            }
            (None, Some(word)) => *word = ActivityWord::new(activity),
            _ => {
                let (w, len) = (self.width(), self.len());
                let moved = Packed::alloc(w, len, activity);
                // SAFETY: both blocks hold len elements of width w; distinct allocations.
                unsafe { std::ptr::copy_nonoverlapping(self.data(), moved.data(), len * w) };
                *self = moved;
            }
        }
    }
}

impl Stored for Packed {
    /// The block's address (8-aligned), giving up ownership.
    fn into_stored(self) -> StoredForm {
        let p = self.ptr.cast();
        std::mem::forget(self);
        StoredForm::Heap(p)
    }

    unsafe fn from_stored(stored: StoredForm) -> Option<Packed> {
        let StoredForm::Heap(p) = stored else { return None };
        Some(Packed { ptr: p.cast() })
    }
}

impl Form for Packed {
    fn encoding(&self) -> Encoding {
        Encoding::Packed
    }

    fn len(&self) -> u64 {
        Packed::len(self) as u64
    }

    fn contains(&self, id: u64) -> bool {
        self.view().search(id).is_ok()
    }

    fn insert(&mut self, id: u64) -> Option<bool> {
        Some(Packed::insert(self, id))
    }

    fn remove(&mut self, id: u64) -> bool {
        Packed::remove(self, id)
    }

    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> ControlFlow<()>) {
        let v = self.view();
        let start = v.search(from).unwrap_or_else(|i| i);
        for i in start..v.len() {
            if let Some(id) = v.get(i) {
                if f(id).is_break() {
                    return;
                }
            }
        }
    }

    fn activity(&self) -> ActivityRef<'_> {
        match self.activity_word() {
            Some(word) => word.get(),
            None => {
                let word = self.word();
                ActivityRef::Inline {
                    stripe: (word >> STRIPE_SHIFT) as u32,
                    count: ((word >> COUNT_SHIFT) as u32) & COUNT_MAX,
                }
            }
        }
    }

    fn set_activity(&mut self, activity: Activity) -> Result<(), Activity> {
        self.put_activity(activity);
        Ok(())
    }

    fn take_activity(&mut self) -> Activity {
        Packed::take_activity(self)
    }

    /// Bytes of the block and of the rings it owns.
    fn heap_bytes(&self) -> usize {
        self.header() + self.width() * self.len() + self.activity().heap_bytes()
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        let (w, len) = (self.width(), self.len());
        let copy = Packed::alloc(w, len, self.activity().to_owned());
        // SAFETY: both blocks hold len elements of width w; distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(self.data(), copy.data(), len * w) };
        copy
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        let lay = layout(self.header(), self.width(), self.len());
        // SAFETY: the activity word (two-word headers only) is initialised and
        // dropped exactly once here (it owns the rings); the block was
        // allocated with `lay` and is freed once, after which `self` is never used.
        unsafe {
            if !self.is_compact() {
                std::ptr::drop_in_place(self.ptr.as_ptr().add(1) as *mut ActivityWord);
            }
            alloc::dealloc(self.ptr.as_ptr() as *mut u8, lay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_widen() {
        let mut p = Packed::from_sorted(&[5], Activity::default());
        assert!(p.insert(3));
        assert!(!p.insert(3));
        assert!(p.insert(70_000));
        assert_eq!(p.width(), 4);
        assert!(p.insert(1 << 40));
        assert_eq!(p.width(), 8);
        assert_eq!(p.view().iter().collect::<Vec<_>>(), vec![3, 5, 70_000, 1 << 40]);
        assert!(p.remove(5));
        assert!(!p.remove(5));
        assert_eq!(p.view().iter().collect::<Vec<_>>(), vec![3, 70_000, 1 << 40]);
        let c = p.clone();
        assert!(p.remove(3));
        assert_eq!(c.len(), 3);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn header_is_one_word_while_the_activity_fits_it() {
        let mut p = Packed::from_sorted(&[1, 2, 3], Activity::default());
        assert_eq!(p.heap_bytes(), 8 + 3 * 2);
        let one_stripe = Activity::Inline { stripe: 180_000_000, count: COUNT_MAX };
        p.put_activity(one_stripe.clone());
        assert_eq!(p.heap_bytes(), 8 + 3 * 2);
        assert_eq!(p.activity().to_owned(), one_stripe);
        // Past what the word holds: a second word, the IDs moved along.
        for wide in [
            Activity::Inline { stripe: 180_000_000, count: COUNT_MAX + 1 },
            Activity::Inline { stripe: STRIPE_MAX + 1, count: 1 },
        ] {
            p.put_activity(wide.clone());
            assert_eq!(p.heap_bytes(), 16 + 3 * 2);
            assert_eq!(p.activity().to_owned(), wide);
            assert_eq!(p.clone().activity().to_owned(), wide);
            assert_eq!(p.view().iter().collect::<Vec<_>>(), vec![1, 2, 3]);
            p.put_activity(Activity::default());
            assert_eq!(p.heap_bytes(), 8 + 3 * 2);
            assert_eq!(p.view().iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        }
        assert!(p.insert(1 << 40));
        assert!(p.remove(2));
        assert_eq!(p.view().iter().collect::<Vec<_>>(), vec![1, 3, 1 << 40]);
        assert_eq!(p.heap_bytes(), 8 + 3 * 8);
    }

    #[test]
    fn activity_rings_survive_clone_and_take() {
        let mut rings = Activity::default();
        rings.record(1_000_000_000, 1);
        rings.record(1_000_030_000, 1);
        assert!(matches!(rings, Activity::Rings(_)));
        let mut p = Packed::from_sorted(&[1, 2], rings.clone());
        let c = p.clone();
        assert_eq!(c.activity().to_owned(), rings);
        assert_eq!(
            p.heap_bytes(),
            16 + 2 * 2 + std::mem::size_of::<super::super::activity::Rings>()
        );
        assert_eq!(p.take_activity(), rings);
        assert_eq!(p.heap_bytes(), 16 + 2 * 2);
        assert_eq!(c.activity().to_owned(), rings);
    }
}
