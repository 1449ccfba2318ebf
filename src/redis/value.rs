//! The value Redis stores for a key: one machine word. Redis never looks
//! inside it; only this file knows the tags. A form either fits the word
//! itself (`single`: one like, no allocation) or is a pointer to its heap
//! block; the tag says which form, by its place in the encoding list.
//!
//! ```text
//! bits << 3 | form << 1 | 1    a form stored as bits (at most 61 of them)
//! pointer | form << 1          a form on the heap (8-aligned: 3 low bits free)
//! null                         empty (only transiently, before a key is deleted)
//! ```

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::likeset::{Encoding, LikeSet, Repr, StoredForm, STORED_BITS_MAX};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the value word holds a form's 61 bits: 64-bit targets only");

const BITS_FLAG: usize = 1;
const FORM_SHIFT: u32 = 1;
const FORM_MASK: usize = 0b110;
const TAG_MASK: usize = 0b111;
const _: () = assert!(Encoding::ALL.len() <= 4, "the value word tags at most 4 forms");

/// A like-set as a value word; Redis owns the word from here on.
pub fn into_value(set: LikeSet) -> *mut c_void {
    let Some((form, stored)) = set.0.into_stored() else { return std::ptr::null_mut() };
    let tag = form << FORM_SHIFT;
    match stored {
        StoredForm::Bits(bits) => {
            debug_assert!(bits <= STORED_BITS_MAX);
            std::ptr::without_provenance_mut((bits as usize) << 3 | tag | BITS_FLAG)
        }
        StoredForm::Heap(p) => {
            debug_assert!(p.as_ptr().addr() & TAG_MASK == 0, "heap forms are 8-aligned");
            p.as_ptr().map_addr(|a| a | tag).cast()
        }
    }
}

/// Takes the like-set back from a value word.
///
/// # Safety
/// `word` must come from `into_value`, and be taken back once: the result
/// owns the heap form (or only borrows it, if the caller forgets the result
/// while the word stays alive, as `with_value` does).
pub unsafe fn from_value(word: *mut c_void) -> LikeSet {
    let bits = word.addr();
    let form = (bits & FORM_MASK) >> FORM_SHIFT;
    let stored = if bits & BITS_FLAG != 0 {
        Some(StoredForm::Bits((bits >> 3) as u64))
    } else {
        NonNull::new(word.map_addr(|a| a & !TAG_MASK).cast::<u8>()).map(StoredForm::Heap)
    };
    // SAFETY: per the contract, the word came from into_value, which stored
    // this form's parts under this tag.
    let repr = stored.and_then(|stored| unsafe { Repr::from_stored(form, stored) });
    LikeSet(repr.unwrap_or_default())
}

/// Borrows the like-set stored in a live value word.
///
/// # Safety
/// `word` must be a live value from `into_value`, not changed or freed while
/// `f` runs.
pub unsafe fn with_value<R>(word: *const c_void, f: impl FnOnce(&LikeSet) -> R) -> R {
    // SAFETY: the set is only borrowed: ManuallyDrop keeps it from freeing
    // the heap form the word still owns.
    let set = std::mem::ManuallyDrop::new(unsafe { from_value(word.cast_mut()) });
    f(&set)
}

/// Mutates the like-set stored in `word`, and gives back `f`'s result and
/// the set's new word: the same or another one when the form moved, None
/// when the set is empty.
///
/// # Safety
/// `word` must be a live value from `into_value` that nothing else uses
/// while `f` runs; afterwards it is dead, and the new word is live.
pub unsafe fn with_value_mut<R>(
    word: *mut c_void,
    f: impl FnOnce(&mut LikeSet) -> R,
) -> (R, Option<*mut c_void>) {
    // SAFETY: the set takes ownership of the heap form and gives it back
    // through into_value below (a panic in between aborts the process).
    let mut set = unsafe { from_value(word) };
    let r = f(&mut set);
    let new = into_value(set);
    (r, (!new.is_null()).then_some(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likeset::{Encoding, Policy, MAX_ID};

    const NOW: u64 = 1_789_999_800_000;

    #[test]
    fn word_round_trip_every_encoding() {
        let p = Policy { packed_max: 64 };
        let mut sets = vec![];
        for n in [1u64, 2, 100, 5_000] {
            let mut s = LikeSet::new();
            for i in 0..n {
                s.insert(i * 7919 + (1 << 33) * (n % 2), Some(NOW), &p);
            }
            sets.push(s);
        }
        let mut single = LikeSet::new();
        single.insert(u64::from(u32::MAX), Some(NOW), &p);
        sets.push(single);
        let mut dense = LikeSet::new();
        for i in 0..70_000 {
            dense.insert(i, None, &p);
        }
        sets.push(dense);
        let mut single_zero = LikeSet::new();
        single_zero.insert(0, None, &p);
        sets.push(single_zero);
        let encodings: Vec<Encoding> = sets.iter().map(LikeSet::encoding).collect();
        for e in Encoding::ALL {
            assert!(encodings.contains(e), "no {e} set in the test");
        }
        for s in sets {
            let (len, enc, ids, rate) = (s.len(), s.encoding(), s.to_vec(), s.rate(NOW));
            let w = into_value(s);
            // SAFETY: `w` comes from into_value and is taken back once, at the end.
            unsafe {
                with_value(w, |b| {
                    assert_eq!((b.len(), b.encoding(), b.rate(NOW)), (len, enc, rate));
                    assert_eq!(b.to_vec(), ids);
                });
                let (added, live) = with_value_mut(w, |b| b.insert(MAX_ID, None, &p));
                assert!(added);
                let back = from_value(live.expect("a non-empty set has a word"));
                assert_eq!(back.len(), len + 1);
            }
        }
    }

    #[test]
    fn emptied_set_leaves_no_word() {
        let p = Policy::default();
        let mut s = LikeSet::new();
        s.insert(5, None, &p);
        let w = into_value(s);
        // SAFETY: `w` comes from into_value; with_value_mut consumes it.
        let (removed, live) = unsafe { with_value_mut(w, |b| b.remove(5, &p)) };
        assert!(removed);
        assert_eq!(live, None);
    }
}
