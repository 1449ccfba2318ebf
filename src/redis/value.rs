//! The value Redis stores for a key: one machine word. Redis never looks
//! inside it; only this file knows the tags. A like-only key is its like-set,
//! whose form either fits the word itself (`single`: one like, no
//! allocation) or is a pointer to its heap block; the tag says which form, by
//! its place in the encoding list. A key with other kinds of reaction is a
//! pointer to its reaction table, under the one tag no form uses (forms
//! stored as bits are the first only).
//!
//! ```text
//! bits << 3 | form << 1 | 1    a form stored as bits (at most 61 of them)
//! pointer | form << 1          a form on the heap (8-aligned: 3 low bits free)
//! pointer | 0b111              a reaction table (8-aligned)
//! null                         empty (only transiently, before a key is deleted)
//! ```

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::likeset::{Encoding, LikeSet, Repr, StoredForm, STORED_BITS_MAX};
use crate::reactions::{ReactionTable, Reactions};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the value word holds a form's 61 bits: 64-bit targets only");

const BITS_FLAG: usize = 1;
const FORM_SHIFT: u32 = 1;
const FORM_MASK: usize = 0b110;
const TAG_MASK: usize = 0b111;
/// A reaction table: the bits flag with a form tag no form stored as bits has.
const TABLE_TAG: usize = 0b111;
const _: () = assert!(Encoding::ALL.len() <= 4, "the value word tags at most 4 forms");

/// A key's value as a value word; Redis owns the word from here on.
pub fn into_value(value: Reactions) -> *mut c_void {
    match value {
        Reactions::Likes(set) => set_into_value(set),
        Reactions::Table(table) => {
            let p = Box::into_raw(table);
            debug_assert!(p.addr() & TAG_MASK == 0, "a box of u64-aligned fields is 8-aligned");
            p.map_addr(|a| a | TABLE_TAG).cast()
        }
    }
}

fn set_into_value(set: LikeSet) -> *mut c_void {
    let Some((form, stored)) = set.0.into_stored() else { return std::ptr::null_mut() };
    let tag = form << FORM_SHIFT;
    match stored {
        StoredForm::Bits(bits) => {
            debug_assert!(bits <= STORED_BITS_MAX);
            debug_assert!(
                tag | BITS_FLAG != TABLE_TAG,
                "no form stored as bits takes the table's tag"
            );
            std::ptr::without_provenance_mut((bits as usize) << 3 | tag | BITS_FLAG)
        }
        StoredForm::Heap(p) => {
            debug_assert!(p.as_ptr().addr() & TAG_MASK == 0, "heap forms are 8-aligned");
            p.as_ptr().map_addr(|a| a | tag).cast()
        }
    }
}

/// Takes the value back from a value word.
///
/// # Safety
/// `word` must come from `into_value`, and be taken back once: the result
/// owns the heap form (or only borrows it, if the caller forgets the result
/// while the word stays alive, as `with_value` does).
pub unsafe fn from_value(word: *mut c_void) -> Reactions {
    if word.addr() & TAG_MASK == TABLE_TAG {
        // SAFETY: per the contract, the word came from into_value, which
        // tags a leaked Box<ReactionTable> this way and nothing else.
        let table =
            unsafe { Box::from_raw(word.map_addr(|a| a & !TAG_MASK).cast::<ReactionTable>()) };
        return Reactions::Table(table);
    }
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
    Reactions::Likes(LikeSet(repr.unwrap_or_default()))
}

/// Borrows the value stored in a live value word.
///
/// # Safety
/// `word` must be a live value from `into_value`, not changed or freed while
/// `f` runs.
pub unsafe fn with_value<R>(word: *const c_void, f: impl FnOnce(&Reactions) -> R) -> R {
    // SAFETY: the value is only borrowed: ManuallyDrop keeps it from freeing
    // the heap form the word still owns.
    let value = std::mem::ManuallyDrop::new(unsafe { from_value(word.cast_mut()) });
    f(&value)
}

/// Mutates the value stored in `word`, and gives back `f`'s result and the
/// value's new word: the same or another one when the form moved, None when
/// the value is empty.
///
/// # Safety
/// `word` must be a live value from `into_value` that nothing else uses
/// while `f` runs; afterwards it is dead, and the new word is live.
pub unsafe fn with_value_mut<R>(
    word: *mut c_void,
    f: impl FnOnce(&mut Reactions) -> R,
) -> (R, Option<*mut c_void>) {
    // SAFETY: the value takes ownership of the heap form and gives it back
    // through into_value below (a panic in between aborts the process).
    let mut value = unsafe { from_value(word) };
    let r = f(&mut value);
    // An emptied value is an empty like-set (a table normalizes to one),
    // which gives no word.
    let new = into_value(value);
    (r, (!new.is_null()).then_some(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likeset::{Encoding, Policy, MAX_ID};
    use crate::reactions::Kind;

    fn likes(value: &Reactions) -> &LikeSet {
        match value {
            Reactions::Likes(set) => set,
            Reactions::Table(_) => panic!("a like-only value"),
        }
    }

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
            let w = into_value(Reactions::Likes(s));
            // SAFETY: `w` comes from into_value and is taken back once, at the end.
            unsafe {
                with_value(w, |b| {
                    let b = likes(b);
                    assert_eq!((b.len(), b.encoding(), b.rate(NOW)), (len, enc, rate));
                    assert_eq!(b.to_vec(), ids);
                });
                let (added, live) = with_value_mut(w, |b| {
                    b.add(&Kind::LIKE, &[MAX_ID], None, &p).expect("one kind")
                });
                assert_eq!(added, 1);
                let back = from_value(live.expect("a non-empty set has a word"));
                assert_eq!(likes(&back).len(), len + 1);
            }
        }
    }

    #[test]
    fn emptied_set_leaves_no_word() {
        let p = Policy::default();
        let mut s = LikeSet::new();
        s.insert(5, None, &p);
        let w = into_value(Reactions::Likes(s));
        // SAFETY: `w` comes from into_value; with_value_mut consumes it.
        let (removed, live) = unsafe { with_value_mut(w, |b| b.remove_any(&[5], &p)) };
        assert_eq!(removed, 1);
        assert_eq!(live, None);
    }

    #[test]
    fn table_round_trips_and_goes_back_to_a_like_set() {
        let p = Policy::default();
        let dislike = Kind::parse(b"dislike").expect("a valid kind");
        let mut value = Reactions::new();
        value.add(&Kind::LIKE, &[1, 2, 3], Some(NOW), &p).expect("one kind");
        value.set(7, &dislike, Some(NOW), &p).expect("two kinds");
        let w = into_value(value);
        assert_eq!(w.addr() & TAG_MASK, TABLE_TAG);
        // SAFETY: `w` comes from into_value; with_value_mut consumes it and
        // the word it gives back is taken back once.
        unsafe {
            with_value(w, |v| {
                assert_eq!(v.count(b"like"), 3);
                assert_eq!(v.get(7), Some(&b"dislike"[..]));
            });
            let (removed, live) = with_value_mut(w, |v| v.remove_any(&[7], &p));
            assert_eq!(removed, 1);
            let w = live.expect("likes are left");
            assert_ne!(w.addr() & TAG_MASK, TABLE_TAG, "a like-only key is a like-set again");
            assert_eq!(likes(&from_value(w)).to_vec(), vec![1, 2, 3]);
        }
    }
}
