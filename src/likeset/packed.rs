//! The `packed` encoding: one allocation holding a 16-byte header (activity
//! word, length, element width) and the sorted user IDs packed at the
//! narrowest width that fits the largest (2, 4 or 8 bytes), in the spirit of
//! Redis's intset. The block is reallocated to the exact size on every change,
//! so a small set pays no spare capacity.

use std::alloc::{self, Layout};
use std::ops::ControlFlow;
use std::ptr::NonNull;

use super::activity::{Activity, ActivityRef, ActivityWord};
use super::{Encoding, Form, Stored, StoredForm};

#[repr(C)]
struct Header {
    activity: ActivityWord,
    len: u32,
    width: u8,
    _pad: [u8; 3],
}

const HEADER: usize = std::mem::size_of::<Header>();
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

/// Owning pointer to a packed block.
pub struct Packed {
    ptr: NonNull<Header>,
}

// SAFETY: the block is plain memory owned by this handle alone, like a Box
// (the rings its activity word points to are owned the same way).
unsafe impl Send for Packed {}
// SAFETY: shared access only reads; every mutation takes `&mut self`.
unsafe impl Sync for Packed {}

/// The block's layout. A packed set holds at most 4 x like.packed-max
/// (<= 2^22) IDs, far below isize::MAX: a failure here is a broken invariant,
/// and writing `len` elements into any other layout would corrupt memory.
fn layout(width: usize, len: usize) -> Layout {
    let size = width.checked_mul(len).and_then(|data| data.checked_add(HEADER));
    match size.map(|size| Layout::from_size_align(size, ALIGN)) {
        Some(Ok(layout)) => layout,
        _ => panic!("packed block of {len} x {width} bytes has no valid layout"),
    }
}

impl Packed {
    /// Heap bytes of a packed set of `len` IDs whose largest is `max`.
    pub fn bytes_for(len: usize, max: u64) -> usize {
        HEADER + width_for(max) * len
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

    fn alloc(width: usize, len: usize, activity: Activity) -> Packed {
        let lay = layout(width, len);
        // SAFETY: the layout has non-zero size (it includes the header).
        let raw = unsafe { alloc::alloc(lay) } as *mut Header;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(lay) };
        // SAFETY: freshly allocated, properly aligned for Header.
        unsafe {
            ptr.as_ptr().write(Header {
                activity: ActivityWord::new(activity),
                len: len as u32,
                width: width as u8,
                _pad: [0; 3],
            })
        };
        Packed { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: ptr is a live block we own.
        unsafe { self.ptr.as_ref() }
    }

    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: ptr is a live block we own exclusively.
        unsafe { self.ptr.as_mut() }
    }

    pub fn len(&self) -> usize {
        self.header().len as usize
    }

    pub fn width(&self) -> usize {
        usize::from(self.header().width)
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data area starts right after the header, inside the block.
        unsafe { (self.ptr.as_ptr() as *mut u8).add(HEADER) }
    }

    pub fn view(&self) -> View<'_> {
        let (len, data) = (self.len(), self.data());
        // SAFETY: the block holds `len` initialised elements of `width` bytes,
        // 8-aligned (header size is a multiple of 8).
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
        let (w, old) = (self.width(), self.len());
        // SAFETY: the block was allocated with layout(w, old); the new size is
        // non-zero and valid for the same alignment.
        let raw = unsafe {
            alloc::realloc(self.ptr.as_ptr() as *mut u8, layout(w, old), layout(w, new_len).size())
        } as *mut Header;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout(w, new_len)) };
        self.ptr = ptr;
        self.header_mut().len = new_len as u32;
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
        self.header_mut().activity.take()
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
        self.header().len.into()
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
        self.header().activity.get()
    }

    fn set_activity(&mut self, activity: Activity) -> Result<(), Activity> {
        self.header_mut().activity = ActivityWord::new(activity);
        Ok(())
    }

    fn take_activity(&mut self) -> Activity {
        Packed::take_activity(self)
    }

    /// Bytes of the block and of the rings it owns.
    fn heap_bytes(&self) -> usize {
        HEADER + self.width() * self.len() + self.header().activity.get().heap_bytes()
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        let lay = layout(self.width(), self.len());
        // SAFETY: same layout as self; we copy all bytes, then give the copy
        // its own activity word (rings are deep-copied, not shared).
        unsafe {
            let raw = alloc::alloc(lay);
            let Some(ptr) = NonNull::new(raw as *mut Header) else {
                alloc::handle_alloc_error(lay)
            };
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr() as *const u8, raw, lay.size());
            // The bitwise copy of the activity word must not be dropped
            // (it would free self's rings): overwrite it without dropping.
            std::ptr::addr_of_mut!((*ptr.as_ptr()).activity).write(self.header().activity.clone());
            Packed { ptr }
        }
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        let lay = layout(self.width(), self.len());
        // SAFETY: the header is initialised and dropped exactly once here (it
        // owns the activity's rings); the block was allocated with `lay` and
        // is freed once, after which `self` is never used.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
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
