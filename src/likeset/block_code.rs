//! One coded block of an `elias-fano` set: its bytes in an allocation of the
//! allocator's whole size class (`allocated(len)`, what jemalloc gives a
//! block anyway). A write replaces a block with a code a few bits longer or
//! shorter; while the new length stays in the class, it is copied in place,
//! with no malloc and free: most writes (a class spans 64-128 bytes for a
//! block of 512-1024, a write moves the length by about 2 bytes).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::allocated;

pub struct BlockCode {
    /// `allocated(len)` bytes (at least 1), the first `len` of them the code.
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: BlockCode owns its allocation (like a Box<[u8]>): nothing else
// points into it, so it can move to and be read from other threads (a lazy
// free drops a value on a background thread).
unsafe impl Send for BlockCode {}
// SAFETY: shared references only read the bytes.
unsafe impl Sync for BlockCode {}

/// The allocation of a code of `len` bytes: its size class whole.
fn layout(len: usize) -> Layout {
    match Layout::from_size_align(allocated(len).max(1), 1) {
        Ok(l) => l,
        // Only a length near usize::MAX (never a block's) gets here.
        Err(_) => alloc::handle_alloc_error(Layout::new::<u8>()),
    }
}

impl BlockCode {
    pub fn new(code: &[u8]) -> BlockCode {
        let lay = layout(code.len());
        // SAFETY: `lay` has a non-zero size.
        let raw = unsafe { alloc::alloc(lay) };
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(lay) };
        // SAFETY: the new allocation holds `allocated(len) >= len` bytes and
        // cannot overlap `code`.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), ptr.as_ptr(), code.len()) };
        BlockCode { ptr, len: code.len() }
    }

    /// Replaces the bytes by `code`: in place when its length has the same
    /// size class, in a new allocation otherwise (the class stays exact, so
    /// memory is what a fresh block of `code` would take).
    pub fn set(&mut self, code: &[u8]) {
        if allocated(code.len()) == allocated(self.len) {
            // SAFETY: the allocation holds `allocated(self.len)` bytes, which
            // is at least `code.len()`; `code` is a shared borrow, so it is not
            // this block's bytes (those are borrowed mutably through `self`).
            unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), self.ptr.as_ptr(), code.len()) };
            self.len = code.len();
        } else {
            *self = BlockCode::new(code);
        }
    }
}

impl BlockCode {
    /// `len` zero bytes.
    fn zeroed(len: usize) -> BlockCode {
        let lay = layout(len);
        // SAFETY: `lay` has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(lay) };
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(lay) };
        BlockCode { ptr, len }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the first `len` bytes are initialised and owned by `self`,
        // borrowed mutably for the borrow's life.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Edits the code in place into one of `new_len` bytes: `f` gets the old
    /// code's bytes followed by zeros, as many as the longer of the two
    /// lengths, and leaves the new code in the first `new_len`. In the same
    /// allocation while the size class stays.
    pub fn edit(&mut self, new_len: usize, f: impl FnOnce(&mut [u8])) {
        let old_len = self.len;
        let same_class = allocated(new_len) == allocated(old_len);
        if new_len > old_len {
            if same_class {
                // SAFETY: the allocation holds `allocated(old_len)` =
                // `allocated(new_len)` >= new_len bytes; this initialises the
                // ones past the old code.
                unsafe {
                    std::ptr::write_bytes(self.ptr.as_ptr().add(old_len), 0, new_len - old_len)
                };
                self.len = new_len;
            } else {
                let mut grown = BlockCode::zeroed(new_len);
                grown.bytes_mut()[..old_len].copy_from_slice(self);
                *self = grown;
            }
            f(self.bytes_mut());
        } else {
            f(self.bytes_mut());
            if same_class {
                self.len = new_len;
            } else {
                *self = BlockCode::new(&self[..new_len]);
            }
        }
    }
}

impl std::ops::Deref for BlockCode {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the allocation are initialised
        // (written by `new` or `set`), and live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Clone for BlockCode {
    fn clone(&self) -> BlockCode {
        BlockCode::new(self)
    }
}

impl Drop for BlockCode {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with `layout(self.len)`: `set` changes
        // `len` only within the same size class, so the layout is the same.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), layout(self.len)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_bytes_in_and_across_classes() {
        let mut c = BlockCode::new(&[1; 11]);
        assert_eq!(&*c, &[1; 11]);
        for len in [12, 16, 17, 100, 129, 700, 767, 768, 769, 1024, 11, 500] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let before = c.ptr;
            let same_class = allocated(len) == allocated(c.len);
            c.set(&bytes);
            assert_eq!(&*c, &bytes[..]);
            if same_class {
                assert_eq!(c.ptr, before, "len {len}: in place");
            }
            assert_eq!(&*c.clone(), &bytes[..]);
        }
    }

    #[test]
    fn edit_sees_old_bytes_then_zeros() {
        let mut c = BlockCode::new(&[7; 100]);
        for new_len in [101, 112, 113, 200, 700, 300, 12, 11, 640] {
            let old = c.to_vec();
            c.edit(new_len, |buf| {
                assert_eq!(buf.len(), new_len.max(old.len()));
                assert_eq!(&buf[..old.len()], &old[..]);
                assert!(buf[old.len()..].iter().all(|&b| b == 0));
                for (i, b) in buf[..new_len].iter_mut().enumerate() {
                    *b = (i % 251) as u8 + 1;
                }
            });
            assert_eq!(c.len(), new_len);
            assert!(c.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8 + 1));
        }
    }
}
