//! The like-set: the exact set of user IDs that like one piece of content,
//! its count in O(1), and recent-activity stripes. Plain Rust, no Redis types.
//!
//! Each encoding lives in its own file and implements [`Form`]; `policy`
//! lists them and decides which one a set uses; `codec` serializes them.
//! This file is the set's API, the same whatever the encoding.

pub mod activity;
mod block_code;
mod block_index;
pub mod codec;
mod ef_run;
mod elias_fano;
mod packed;
mod policy;
mod roaring;
mod select;
mod single;

use std::fmt;
use std::ops::ControlFlow;
use std::ptr::NonNull;

pub use activity::{Activity, ActivityRef, Rate};
pub(crate) use policy::Repr;
pub use policy::{Encoding, Policy, DEFAULT_PACKED_MAX};
/// A roaring set's shards: shard key `id >> ROARING_SHIFT`, low bits in the bitmap.
pub(crate) use roaring::{LOW_MASK as ROARING_LOW_MASK, SHIFT as ROARING_SHIFT};

/// Largest user ID (2^63-1).
pub const MAX_ID: u64 = i64::MAX as u64;

/// What every encoding does. A form holds at least one ID.
pub(crate) trait Form {
    fn encoding(&self) -> Encoding;
    fn len(&self) -> u64;
    fn contains(&self, id: u64) -> bool;
    /// Asks the CPU for the memory a read starts with (`prefetch`; none
    /// for a form held in the value word itself).
    fn prefetch(&self) {}
    /// Adds `id`: whether it is new, or None when this form cannot hold it
    /// (the policy then moves the set to a form that can).
    fn insert(&mut self, id: u64) -> Option<bool>;
    /// Removes `id`; whether it was there.
    fn remove(&mut self, id: u64) -> bool;
    /// Removes `id` if there, else adds it: `Some(false)` when removed,
    /// `Some(true)` when added, None when this form cannot hold it (as
    /// `insert`). A form that can find the ID once for either edit overrides it.
    fn toggle(&mut self, id: u64) -> Option<bool> {
        if self.remove(id) {
            Some(false)
        } else {
            self.insert(id)
        }
    }
    /// Calls `f` on the IDs from `from` on, ascending, until it breaks.
    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> ControlFlow<()>);
    fn activity(&self) -> ActivityRef<'_>;
    /// Replaces the activity, or hands it back when this form cannot hold it.
    fn set_activity(&mut self, activity: Activity) -> Result<(), Activity>;
    /// Moves the activity out, leaving none.
    fn take_activity(&mut self) -> Activity;
    /// Heap bytes owned (what MEMORY USAGE counts).
    fn heap_bytes(&self) -> usize;
    /// How much work freeing it takes, in O(1) (Redis frees values above 64
    /// in a background thread).
    fn free_effort(&self) -> usize {
        1
    }
}

/// A form handed over for storage outside Rust (the Redis value word): up to
/// `STORED_BITS_MAX` bits of its own, or the address of its heap block.
pub enum StoredForm {
    Bits(u64),
    Heap(NonNull<u8>),
}

impl StoredForm {
    /// A boxed form's heap address, giving up ownership (the forms' boxes
    /// hold u64s: 8-aligned).
    pub(crate) fn from_box<T>(b: Box<T>) -> StoredForm {
        debug_assert!(std::mem::align_of::<T>() >= 8);
        StoredForm::Heap(NonNull::from(Box::leak(b)).cast())
    }

    /// The box `from_box` gave up.
    ///
    /// # Safety
    /// `self` must come from `from_box::<T>`, and be taken back once.
    pub(crate) unsafe fn into_box<T>(self) -> Option<Box<T>> {
        let StoredForm::Heap(p) = self else { return None };
        // SAFETY: per the contract, `p` is the address of a leaked Box<T>.
        Some(unsafe { Box::from_raw(p.cast::<T>().as_ptr()) })
    }
}

/// Largest `StoredForm::Bits` payload: 61 bits (the value word keeps 3 for tags).
pub const STORED_BITS_MAX: u64 = (1 << 61) - 1;

/// Asks the CPU to bring the cache line of `p` in (a hint: any address,
/// no fault, nothing read).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Bytes an allocation of `n` bytes really takes from jemalloc, Redis's
/// allocator: its size classes are 8, multiples of 16 up to 128, then four
/// per doubling. What heap sizes (MEMORY USAGE, the policy's comparisons)
/// count, so that they match `used_memory`.
pub fn allocated(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => (n + 15) & !15,
        _ => {
            let spacing = 1usize << ((usize::BITS - (n - 1).leading_zeros()) - 3);
            (n + spacing - 1) & !(spacing - 1)
        }
    }
}

/// How a form gives itself up for storage and comes back.
pub(crate) trait Stored: Sized {
    /// The form as bits (at most `STORED_BITS_MAX`) or as an 8-aligned heap address.
    fn into_stored(self) -> StoredForm;

    /// # Safety
    /// `stored` must come from `into_stored` of this form, and be taken back
    /// once (or borrowed only while that one is alive).
    unsafe fn from_stored(stored: StoredForm) -> Option<Self>;
}

/// Declares the encodings (invoked once, in `policy`): the `Encoding` names
/// that INFO and LIKE.INFO report, and the set's representation.
macro_rules! forms {
    ($($variant:ident($form:ty) = $name:literal),+ $(,)?) => {
        /// The encoding a like-set uses.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Encoding {
            $($variant),+
        }

        impl Encoding {
            /// Every encoding, in declaration order.
            pub const ALL: &'static [Encoding] = &[$(Encoding::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Encoding::$variant => $name),+
                }
            }
        }

        /// A like-set's representation: empty, or one of the forms.
        #[derive(Default)]
        pub(crate) enum Repr {
            #[default]
            Empty,
            $($variant($form)),+
        }

        impl Repr {
            pub(super) fn form(&self) -> Option<&dyn $crate::likeset::Form> {
                match self {
                    Repr::Empty => None,
                    $(Repr::$variant(f) => Some(f)),+
                }
            }

            pub(super) fn form_mut(&mut self) -> Option<&mut dyn $crate::likeset::Form> {
                match self {
                    Repr::Empty => None,
                    $(Repr::$variant(f) => Some(f)),+
                }
            }
        }

        impl Repr {
            /// The form's place in the declaration and its stored parts;
            /// None for an empty set.
            pub(crate) fn into_stored(self) -> Option<(usize, $crate::likeset::StoredForm)> {
                let mut index = 0;
                $(
                    if let Repr::$variant(f) = self {
                        return Some((index, $crate::likeset::Stored::into_stored(f)));
                    }
                    index += 1;
                )+
                let _ = index;
                None
            }

            /// The form at `index` from its stored parts; None when `index`
            /// or the parts name no form.
            ///
            /// # Safety
            /// As `Stored::from_stored`, for the form `into_stored` gave `index`.
            pub(crate) unsafe fn from_stored(
                index: usize,
                stored: $crate::likeset::StoredForm,
            ) -> Option<Repr> {
                let mut at = 0;
                $(
                    if index == at {
                        // SAFETY: per this function's contract.
                        return unsafe {
                            <$form as $crate::likeset::Stored>::from_stored(stored)
                        }
                        .map(Repr::$variant);
                    }
                    at += 1;
                )+
                let _ = at;
                None
            }
        }

        impl Clone for Repr {
            fn clone(&self) -> Repr {
                match self {
                    Repr::Empty => Repr::Empty,
                    $(Repr::$variant(f) => Repr::$variant(f.clone())),+
                }
            }
        }
    };
}
use forms;

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of user IDs with O(1) count. See the module docs.
#[derive(Default, Clone)]
pub struct LikeSet(pub(crate) Repr);

impl LikeSet {
    pub fn new() -> LikeSet {
        LikeSet(Repr::Empty)
    }

    /// Builds from strictly ascending IDs, each at most `MAX_ID`.
    pub fn from_sorted(ids: &[u64], activity: Activity, policy: &Policy) -> LikeSet {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids.last() <= Some(&MAX_ID));
        LikeSet(policy::form_for_sorted(ids, activity, policy))
    }

    pub fn len(&self) -> u64 {
        self.0.form().map_or(0, |f| f.len())
    }

    /// Every form holds at least one ID (an emptied set is `Empty` as soon
    /// as the write that emptied it returns): no count needed.
    pub fn is_empty(&self) -> bool {
        debug_assert_eq!(self.0.form().is_none(), self.len() == 0);
        self.0.form().is_none()
    }

    /// The encoding in use (an empty set reports `single`, its smallest form).
    pub fn encoding(&self) -> Encoding {
        self.0.form().map_or(Encoding::Single, |f| f.encoding())
    }

    /// Asks the CPU for the memory a read of the set starts with, without
    /// waiting for it: a command that reads many keys asks for each before
    /// it reads any, so their cache misses overlap.
    pub fn prefetch(&self) {
        if let Some(f) = self.0.form() {
            f.prefetch();
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.0.form().is_some_and(|f| f.contains(id))
    }

    /// Adds `id` (at most `MAX_ID`); true if it was not there. `now_ms`
    /// records the add in the activity stripes; `None` (e.g. while loading)
    /// does not.
    pub fn insert(&mut self, id: u64, now_ms: Option<u64>, policy: &Policy) -> bool {
        debug_assert!(id <= MAX_ID);
        let was_coded = policy::is_coded_packed(&self.0);
        match self.0.form_mut().and_then(|f| f.insert(id)) {
            Some(false) => return false,
            Some(true) => {}
            None => policy::grow(&mut self.0, id),
        }
        self.added(id, now_ms, policy, was_coded);
        true
    }

    /// Removes `id` if there, else adds it (as `insert` does); true if added.
    pub fn toggle(&mut self, id: u64, now_ms: Option<u64>, policy: &Policy) -> bool {
        debug_assert!(id <= MAX_ID);
        let was_coded = policy::is_coded_packed(&self.0);
        match self.0.form_mut().and_then(|f| f.toggle(id)) {
            Some(false) => {
                self.removed(id, policy);
                return false;
            }
            Some(true) => {}
            None => policy::grow(&mut self.0, id),
        }
        self.added(id, now_ms, policy, was_coded);
        true
    }

    /// Removes `id`; true if it was there.
    pub fn remove(&mut self, id: u64, policy: &Policy) -> bool {
        if !self.0.form_mut().is_some_and(|f| f.remove(id)) {
            return false;
        }
        self.removed(id, policy);
        true
    }

    /// After the set took `id` in: records the add and moves the set when
    /// its form outgrew it (`was_coded`: as `policy::after_insert`).
    fn added(&mut self, id: u64, now_ms: Option<u64>, policy: &Policy, was_coded: bool) {
        if let Some(now) = now_ms {
            self.record_adds(now, 1);
        }
        policy::after_insert(&mut self.0, policy, was_coded);
        debug_assert!(self.contains(id));
    }

    /// After the form removed `id`: drops, shrinks or moves the set.
    fn removed(&mut self, id: u64, policy: &Policy) {
        policy::after_remove(&mut self.0, policy);
        debug_assert!(!self.contains(id));
    }

    /// Calls `f` for the IDs greater than `after` in ascending order, at most
    /// `limit` of them. O(log N + limit).
    pub fn page(&self, after: Option<u64>, limit: usize, mut f: impl FnMut(u64)) {
        let from = match after {
            None => 0,
            Some(a) if a >= MAX_ID => return,
            Some(a) => a + 1,
        };
        let (Some(form), true) = (self.0.form(), limit > 0) else { return };
        let mut left = limit;
        form.visit_from(from, &mut |id| {
            f(id);
            left -= 1;
            if left == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    /// Calls `f` on every ID in ascending order.
    pub fn for_each(&self, mut f: impl FnMut(u64)) {
        if let Some(form) = self.0.form() {
            form.visit_from(0, &mut |id| {
                f(id);
                ControlFlow::Continue(())
            });
        }
    }

    /// Every ID in ascending order, collected (tests and small sets).
    pub fn to_vec(&self) -> Vec<u64> {
        let mut ids = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.for_each(|id| ids.push(id));
        ids
    }

    /// Records `n` likes added at `now_ms` in the activity stripes (once per
    /// command, after its inserts with `now_ms: None`).
    pub fn record_adds(&mut self, now_ms: u64, n: u64) {
        let Some(form) = self.0.form_mut() else { return };
        if n == 0 {
            return;
        }
        let mut activity = form.take_activity();
        activity.record(now_ms, u32::try_from(n).unwrap_or(u32::MAX));
        if let Err(activity) = form.set_activity(activity) {
            policy::hold_activity(&mut self.0, activity);
        }
    }

    /// Likes added in the last minute and hour.
    pub fn rate(&self, now_ms: u64) -> Rate {
        self.0.form().map_or_else(Rate::default, |f| f.activity().rate(now_ms))
    }

    /// The activity state (what the codec saves).
    pub fn activity(&self) -> ActivityRef<'_> {
        self.0.form().map_or(ActivityRef::NONE, |f| f.activity())
    }

    /// Replaces the activity (used when loading a saved value, after the
    /// set was settled: only a `single` that cannot hold it moves).
    pub fn set_activity(&mut self, activity: Activity) {
        let Some(form) = self.0.form_mut() else { return };
        if let Err(activity) = form.set_activity(activity) {
            policy::hold_activity(&mut self.0, activity);
        }
    }

    /// Heap bytes this value owns (what MEMORY USAGE should count).
    pub fn heap_bytes(&self) -> usize {
        self.0.form().map_or(0, |f| f.heap_bytes())
    }

    /// How much work freeing it takes, in O(1).
    pub fn free_effort(&self) -> usize {
        self.0.form().map_or(1, |f| f.free_effort())
    }

    /// Picks the best encoding for the current content (after loading, or
    /// when the thresholds change).
    pub fn settle(&mut self, policy: &Policy) {
        policy::settle(&mut self.0, policy);
    }
}

/// The IDs of a representation, ascending (conversions between forms).
fn ids_of(repr: &Repr) -> Vec<u64> {
    let mut ids = Vec::new();
    if let Some(form) = repr.form() {
        form.visit_from(0, &mut |id| {
            ids.push(id);
            ControlFlow::Continue(())
        });
    }
    ids
}

impl fmt::Debug for LikeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LikeSet({}, {} ids)", self.encoding(), self.len())
    }
}

impl PartialEq for LikeSet {
    /// Same IDs (activity is not part of equality).
    fn eq(&self, other: &LikeSet) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

#[cfg(test)]
mod tests;
