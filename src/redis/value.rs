//! The value Redis stores for a key: one machine word that is either the
//! like-set itself (`single`: one like, inline) or a tagged pointer to its
//! heap form. Redis never looks inside it; only this file knows the tags.
//!
//! ```text
//! id << 32 | stripe << 1 | 1    single: ID below 2^32, stripe of its recent add (31 bits)
//! pointer | 2                   roaring (the box is 8-aligned: low bits free)
//! pointer                       packed block (8-aligned)
//! null                          empty (only transiently, before a key is deleted)
//! ```

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::likeset::{LikeSet, Packed, Repr, Roaring, Single};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the value word holds a single like in 64 bits: 64-bit targets only");

const TAG_SINGLE: usize = 1;
const TAG_ROARING: usize = 2;
const TAG_MASK: usize = 3;

/// A like-set as a value word; Redis owns the word from here on.
pub fn into_value(set: LikeSet) -> *mut c_void {
    match set.0 {
        Repr::Empty => std::ptr::null_mut(),
        Repr::Single(Single { id, stripe }) => {
            let word = (u64::from(id) << 32) | (u64::from(stripe) << 1) | TAG_SINGLE as u64;
            word as usize as *mut c_void
        }
        Repr::Packed(p) => p.into_raw().as_ptr().cast(),
        Repr::Roaring(r) => r.into_raw().as_ptr().map_addr(|a| a | TAG_ROARING).cast(),
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
    LikeSet(match NonNull::new(word.cast::<u8>()) {
        None => Repr::Empty,
        Some(_) if bits & TAG_SINGLE != 0 => {
            let bits = bits as u64;
            Repr::Single(Single {
                id: (bits >> 32) as u32,
                stripe: ((bits >> 1) as u32) & Single::STRIPE_MAX,
            })
        }
        Some(_) if bits & TAG_MASK == TAG_ROARING => {
            match NonNull::new(word.map_addr(|a| a & !TAG_MASK).cast::<u8>()) {
                // SAFETY: per the contract, the untagged pointer came from
                // Roaring::into_raw in `into_value`, and is taken back once.
                Some(p) => Repr::Roaring(unsafe { Roaring::from_raw(p) }),
                None => Repr::Empty,
            }
        }
        // SAFETY: per the contract, an untagged pointer came from
        // Packed::into_raw in `into_value`, and is taken back once.
        Some(p) => Repr::Packed(unsafe { Packed::from_raw(p) }),
    })
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
