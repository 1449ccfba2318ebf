//! The `packed` encoding: a small set in one allocation, a header and the
//! sorted user IDs either as an array at the narrowest width that fits the
//! largest (2, 4 or 8 bytes, in the spirit of Redis's intset), or, when that
//! is smaller, as one Elias-Fano coded run (`ef_run`: about 2 + log2(range / n)
//! bits per ID) of at most one `elias-fano` block's size (768 bytes, 2048 IDs),
//! or as a window: the first ID and one header bit for each of the next
//! `WINDOW_SPAN` IDs (a tiny dense set, such as 0..9, in a 16-byte block
//! where an array or a code takes 32). `from_sorted` picks the smallest; a
//! code of up to `SHORT_MAX` IDs is held as a short code (its run header in
//! the block's header, 4 bytes less) where that saves a size class. The
//! block takes its allocator size class whole (what the allocator gives it
//! anyway), so a small set pays no spare capacity and a write reallocates
//! only when it crosses a class.
//!
//! The header is one word, as small as an intset's (8 bytes), whenever the
//! set's recent activity fits in it: no likes in the last hour, or likes in
//! one 10-second stripe (at most 511 of them). Otherwise a second word holds
//! the activity (`ActivityWord`: inline, or the rings it owns).
//!
//! Word 0: bit 0 compact, bits 1-3 body kind (array of 2, 4 or 8-byte IDs,
//! coded, window or short code), bits 4-25 the array's length, the code's
//! bytes, the window's bits or the short code's run header and size class
//! (`KIND_SHORT`); in a compact header also bits 26-34 the activity count and
//! bits 35-63 its stripe. This layout lives only in memory: a payload holds
//! the IDs (`codec`), whatever body held them.

use std::alloc::{self, Layout};
use std::ops::ControlFlow;
use std::ptr::NonNull;

use super::activity::{Activity, ActivityRef, ActivityWord};
use super::ef_run::{self, Edit, Run, Shift};
use super::elias_fano::block_fits;
use super::{allocated, prefetch, Encoding, Form, Stored, StoredForm};

const COMPACT: u64 = 1;
const KIND_SHIFT: u32 = 1;
const KIND_MASK: u64 = 7 << KIND_SHIFT;
/// Body kind of a coded block (0, 1, 2: arrays of 2, 4, 8-byte IDs).
const KIND_CODED: u64 = 3;
/// Body kind of a window: the first ID (the body, one word) and, in the
/// length field, bit i set when `first + 1 + i` is in the set.
const KIND_WINDOW: u64 = 4;
const LEN_SHIFT: u32 = 4;
const LEN_BITS: u32 = 22;
/// Most IDs in an array, or bytes in a code (far above any `like.packed-max`).
pub const LEN_MAX: usize = (1 << LEN_BITS) - 1;
/// IDs after the first that a window holds (one length-field bit each).
const WINDOW_SPAN: u64 = LEN_BITS as u64;
/// Body bytes of a window: its first ID.
const WINDOW_BYTES: usize = 8;
/// Body kind of a short code: a coded run of at most `SHORT_MAX` IDs whose
/// run header lives in the length field (n - 1 in bits 0-5, the low-bit
/// width in bits 6-11, the first ID's top 7 bits in 12-18), so that the body
/// is the first ID's low 56 bits (7 bytes) and the run's bits. 4 bytes less
/// than the coded body: a Snowflake-ID set of 10 takes an 80-byte block, the
/// SET's intset size minus the module value's 16, where the coded one takes 96.
/// Its byte length is not stored: bit 19 says which of the two size classes
/// its length can fall in (`short_capacity`) the block takes, and the body
/// runs to the block's end, zeros past the code (which a run reads as
/// nothing: its IDs end with the last of its n - 1 unary ones).
const KIND_SHORT: u64 = 5;
/// Most IDs in a short code: a write rebuilds it (a few hundred instructions).
const SHORT_MAX: usize = 64;
const SHORT_N_BITS: u32 = 6;
const SHORT_L_SHIFT: u32 = 6;
const SHORT_TOP_SHIFT: u32 = 12;
/// Set when a short code's block takes the size class above the one of
/// its shortest possible body.
const SHORT_UPPER_CLASS: usize = 1 << 19;
/// The first ID's bytes in a short code's body (its top bits are in the header).
const SHORT_FIRST_BYTES: usize = 7;
/// Bytes a short code saves on the coded body of the same run.
const SHORT_SAVES: usize = ef_run::HEADER - SHORT_FIRST_BYTES;
const COUNT_SHIFT: u32 = 26;
const COUNT_MAX: u32 = (1 << 9) - 1;
const STRIPE_SHIFT: u32 = 35;
const STRIPE_MAX: u32 = (1 << 29) - 1;
/// Word 0's length bits.
const LEN_MASK: u64 = (LEN_MAX as u64) << LEN_SHIFT;

const WORD: usize = 8;
const ALIGN: usize = 8;

/// A packed set's IDs, ascending.
#[derive(Clone, Copy)]
pub enum View<'a> {
    W2(&'a [u16]),
    W4(&'a [u32]),
    W8(&'a [u64]),
    Coded(Run<'a>),
    /// `first`, and `first + 1 + i` for each bit i set in `rest`.
    Window {
        first: u64,
        rest: u32,
    },
}

impl View<'_> {
    pub fn len(&self) -> usize {
        match self {
            View::W2(s) => s.len(),
            View::W4(s) => s.len(),
            View::W8(s) => s.len(),
            View::Coded(r) => r.len(),
            View::Window { rest, .. } => 1 + rest.count_ones() as usize,
        }
    }

    /// In an array: `Ok(position)` of `id`, or `Err(insertion point)`.
    fn search(&self, id: u64) -> Result<usize, usize> {
        match self {
            View::W2(s) => u16::try_from(id).map_or(Err(s.len()), |v| s.binary_search(&v)),
            View::W4(s) => u32::try_from(id).map_or(Err(s.len()), |v| s.binary_search(&v)),
            View::W8(s) => s.binary_search(&id),
            View::Coded(_) | View::Window { .. } => Err(0),
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        match *self {
            View::Coded(r) => r.contains(id),
            View::Window { first, rest } => window_mask(first, rest, id) & 1 != 0,
            array => array.search(id).is_ok(),
        }
    }

    /// Calls `f` with each ID from `from` on, until it breaks. Generic, so a
    /// pass that knows the set is packed (the policy's size check) runs
    /// without a call per ID.
    pub fn visit_from(&self, from: u64, mut f: impl FnMut(u64) -> ControlFlow<()>) {
        fn from_array<T: Copy + Into<u64>>(
            ids: &[T],
            start: usize,
            mut f: impl FnMut(u64) -> ControlFlow<()>,
        ) {
            for &id in ids.get(start..).unwrap_or_default() {
                if f(id.into()).is_break() {
                    return;
                }
            }
        }
        let start = self.search(from).unwrap_or_else(|i| i);
        match self {
            View::W2(s) => from_array(s, start, f),
            View::W4(s) => from_array(s, start, f),
            View::W8(s) => from_array(s, start, f),
            View::Coded(r) => r.for_each(|id| id < from || f(id).is_continue()),
            View::Window { first, rest } => {
                let (first, mut mask) = (*first, window_ids(*rest));
                while mask != 0 {
                    let id = first + u64::from(mask.trailing_zeros());
                    mask &= mask - 1;
                    if id >= from && f(id).is_break() {
                        return;
                    }
                }
            }
        }
    }

    /// The lowest and the highest ID (None when empty), without a pass over them.
    pub fn extremes(&self) -> Option<(u64, u64)> {
        fn ends<T: Copy + Into<u64>>(ids: &[T]) -> Option<(u64, u64)> {
            Some(((*ids.first()?).into(), (*ids.last()?).into()))
        }
        match *self {
            View::W2(s) => ends(s),
            View::W4(s) => ends(s),
            View::W8(s) => ends(s),
            View::Coded(r) => Some((r.first(), r.last())),
            View::Window { first, rest } => {
                Some((first, first + u64::from(63 - window_ids(rest).leading_zeros())))
            }
        }
    }

    pub fn to_vec(self) -> Vec<u64> {
        let mut ids = Vec::with_capacity(self.len());
        self.visit_from(0, |id| {
            ids.push(id);
            ControlFlow::Continue(())
        });
        ids
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

/// A packed block's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// An array of IDs of this many bytes each.
    Array(usize),
    /// An Elias-Fano code of this many bytes.
    Coded(usize),
    /// A window (`KIND_WINDOW`).
    Window,
    /// A short code (`KIND_SHORT`) of this many bytes.
    Short(usize),
}

/// The smallest body of `len` IDs from `first` to `max` (an array on a
/// tie: its writes are the simplest), and its bytes.
fn body_for(len: usize, first: u64, max: u64) -> (Body, usize) {
    let width = width_for(max);
    let mut best = (Body::Array(width), width * len);
    if len >= 2 && max - first <= WINDOW_SPAN && WINDOW_BYTES < best.1 {
        best = (Body::Window, WINDOW_BYTES);
    }
    // A code is one `elias-fano` block at most (768 bytes): a write rewrites it whole.
    if len >= 2 && block_fits(len as u64, first, max) {
        let coded = ef_run::encoded_len_of(len as u64, first, max);
        if coded < best.1 {
            best = (Body::Coded(coded), coded);
        }
        if best.0 == Body::Coded(coded) && short_shrinks(len, coded) {
            best = (Body::Short(coded - SHORT_SAVES), coded - SHORT_SAVES);
        }
    }
    best
}

/// Whether a code of `n` IDs in `code_len` bytes, coded as the smallest body,
/// takes a smaller size class as a short code (a coded body keeps its
/// in-place writes where the class is the same).
fn short_shrinks(n: usize, code_len: usize) -> bool {
    n <= SHORT_MAX && allocated(WORD + code_len - SHORT_SAVES) < allocated(WORD + code_len)
}

/// Whether `n` IDs from `first` to `last` coded in `len` bytes make the body
/// `from_sorted` would make of them.
fn stays_coded(n: usize, first: u64, last: u64, len: usize) -> bool {
    body_for(n, first, last).0 == Body::Coded(len)
}

/// A window's IDs as a mask from its first ID (bit 0, always set).
fn window_ids(rest: u32) -> u64 {
    u64::from(rest) << 1 | 1
}

/// The window from `first` holding `rest` as a mask of its IDs from `id`
/// on (bit 0: `id`); 0 when `id` is below the window.
fn window_mask(first: u64, rest: u32, id: u64) -> u64 {
    match id.checked_sub(first) {
        Some(off) if off <= WINDOW_SPAN => window_ids(rest) >> off,
        _ => 0,
    }
}

/// Whether an inline activity fits the compact header's bits.
fn fits_compact(stripe: u32, count: u32) -> bool {
    stripe <= STRIPE_MAX && count <= COUNT_MAX
}

/// The activity as compact header bits, when it fits them.
fn compact_bits(activity: &Activity) -> Option<u64> {
    match *activity {
        Activity::Inline { stripe, count } if fits_compact(stripe, count) => {
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

/// Body bytes of a block of `kind` whose length field is `len` (not a short
/// code: its length is in its bits, `Packed::body_len`).
fn body_bytes(kind: u64, len: usize) -> usize {
    debug_assert_ne!(kind, KIND_SHORT);
    match kind {
        KIND_CODED => len,
        KIND_WINDOW => WINDOW_BYTES,
        _ => len << (kind + 1),
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

/// Most body bytes: an array of LEN_MAX 8-byte IDs.
const BODY_MAX: usize = LEN_MAX * 8;

/// The block's layout: the header and body rounded up to the allocator's size
/// class, which the block takes whole (the allocator would round it up all
/// the same), so that a write that stays within the class reallocates
/// nothing. The body is at most BODY_MAX (the policy keeps arrays to
/// `like.packed-max` IDs, codes to one elias-fano block), far below
/// isize::MAX: a failure here is a broken invariant, and writing the body
/// into any other layout would corrupt memory.
fn layout(header: usize, body: usize) -> Layout {
    let size = allocated(header + body.min(BODY_MAX));
    match Layout::from_size_align(size, ALIGN) {
        Ok(layout) if body <= BODY_MAX => layout,
        _ => panic!("packed block with a {body}-byte body has no valid layout"),
    }
}

/// A short code's length field: n - 1, the low-bit width, the first ID's top bits.
fn short_field(run: &Run<'_>) -> usize {
    short_field_of(run.len(), run.low_width(), run.first())
}

/// A short code's length field for `n` IDs of low-bit width `l` from `first`.
fn short_field_of(n: usize, l: u32, first: u64) -> usize {
    let top = first >> (8 * SHORT_FIRST_BYTES);
    debug_assert!((2..=SHORT_MAX).contains(&n) && top < 1 << 7);
    (n - 1) | (l as usize) << SHORT_L_SHIFT | (top as usize) << SHORT_TOP_SHIFT
}

/// The IDs after a short code's first: (n - 1, low-bit width) from its length field.
fn short_counts(len: usize) -> (u64, u64) {
    let len = len as u64;
    (len & ((1 << SHORT_N_BITS) - 1), (len >> SHORT_L_SHIFT) & 63)
}

/// Body bytes a short code of `len` (its length field) may take: at the
/// fewest its first ID's bytes and the run's bits with the fewest high bits
/// a canonical low-bit width leaves (n - 1 offsets up to R have R >> l from
/// n - 1 to 2(n - 1) - 1), at most n - 1 bytes more: one size class or the
/// next (classes are 16 bytes or more apart from 16 bytes up).
fn short_min_bytes(len: usize) -> usize {
    let (m, l) = short_counts(len);
    SHORT_FIRST_BYTES + (m * l + 2 * m).div_ceil(8) as usize
}

/// Body bytes of a short code's block: from its header to the end of its
/// size class (`len`: its length field).
fn short_capacity(header: usize, len: usize) -> usize {
    let lower = allocated(header + short_min_bytes(len));
    let size = if len & SHORT_UPPER_CLASS != 0 { allocated(lower + 1) } else { lower };
    size - header
}

/// A short code's length field `len` for a block of `size` bytes: with
/// `SHORT_UPPER_CLASS` when the block takes the class above its shortest body's.
fn short_in_class(header: usize, len: usize, size: usize) -> usize {
    let lower = allocated(header + short_min_bytes(len));
    let len = if size > lower { len | SHORT_UPPER_CLASS } else { len };
    debug_assert_eq!(short_capacity(header, len), size - header);
    len
}

/// The run a short code's body holds (`len`: its length field).
fn short_run(body: &[u8], len: usize) -> Run<'_> {
    let (m, l) = short_counts(len);
    let mut low = [0u8; 8];
    low[..SHORT_FIRST_BYTES].copy_from_slice(&body[..SHORT_FIRST_BYTES]);
    let top = (len >> SHORT_TOP_SHIFT) as u64 & 127;
    let first = top << (8 * SHORT_FIRST_BYTES) | u64::from_le_bytes(low);
    Run::from_parts(m as usize + 1, l as u32, first, &body[SHORT_FIRST_BYTES..])
}

impl Packed {
    /// Heap bytes of a packed set of `len` IDs from `first` to `max` holding
    /// `activity` (in a one-word header when it fits one, as most sets'
    /// does; a set whose activity needs the second word compared with a
    /// one-word block would move to the block it already is at every check).
    pub fn bytes_for(len: usize, first: u64, max: u64, activity: ActivityRef<'_>) -> usize {
        let compact = matches!(activity, ActivityRef::Inline { stripe, count } if fits_compact(stripe, count));
        allocated(header_bytes(compact) + body_for(len, first, max).1)
    }

    /// Builds a block from strictly ascending IDs (the caller guarantees
    /// order), with the smallest body.
    pub fn from_sorted(ids: &[u64], activity: Activity) -> Packed {
        let (first, max) = (ids.first().copied().unwrap_or(0), ids.last().copied().unwrap_or(0));
        match body_for(ids.len(), first, max).0 {
            Body::Coded(bytes) | Body::Short(bytes) => ef_run::with_scratch(|code| {
                code.reserve(bytes + SHORT_SAVES);
                ef_run::encode(ids, code);
                Packed::from_code(code, activity)
            }),
            Body::Window => {
                let rest = ids[1..].iter().fold(0, |rest, &id| rest | 1 << (id - first - 1));
                let mut p = Packed::alloc(KIND_WINDOW, 0, WINDOW_BYTES, activity);
                p.set_window(first, rest);
                p
            }
            Body::Array(width) => {
                let kind = u64::from(width.trailing_zeros() - 1);
                let mut p = Packed::alloc(kind, ids.len(), body_bytes(kind, ids.len()), activity);
                for (i, &id) in ids.iter().enumerate() {
                    p.write(i, id);
                }
                p
            }
        }
    }

    /// Whether a validated coded run can be a packed set's body as it is:
    /// two IDs or more, within one block and `packed_max`.
    pub fn holds_code(code: &[u8], policy: &super::Policy) -> bool {
        let run = Run::trusted(code);
        (2..=policy.packed_max).contains(&run.len())
            && block_fits(run.len() as u64, run.first(), run.last())
    }

    /// A coded block holding `code`, a validated coded run (`holds_code`):
    /// a short code when that takes a smaller size class.
    pub fn from_code(code: &[u8], activity: Activity) -> Packed {
        let run = Run::trusted(code);
        if short_shrinks(run.len(), code.len()) {
            let first = run.first().to_le_bytes();
            let parts = [&first[..SHORT_FIRST_BYTES], run.body()];
            Packed::alloc_with(KIND_SHORT, short_field(&run), &parts, activity)
        } else {
            Packed::alloc_with(KIND_CODED, code.len(), &[code], activity)
        }
    }

    /// A block of `kind` with length field `len` and a body of `parts`, in order.
    fn alloc_with(kind: u64, len: usize, parts: &[&[u8]], activity: Activity) -> Packed {
        let body_len = parts.iter().map(|p| p.len()).sum();
        let p = Packed::alloc(kind, len, body_len, activity);
        // SAFETY: `alloc` made room for `body_len` body bytes after the
        // header, which the parts fill exactly, in order.
        unsafe {
            let mut at = (p.ptr.as_ptr() as *mut u8).add(p.header());
            for part in parts {
                std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
        }
        p
    }

    /// A block of `kind` with length field `len` and an uninitialised body
    /// of `body_len` bytes (the caller writes it all); the rest of the size
    /// class is zeroed (a short code's length is found by reading up to
    /// its last bit, a word at a time).
    fn alloc(kind: u64, len: usize, body_len: usize, activity: Activity) -> Packed {
        assert!(len <= LEN_MAX, "packed length field {len} over {LEN_MAX}");
        let compact = compact_bits(&activity);
        let header = header_bytes(compact.is_some());
        let lay = layout(header, body_len);
        let len = if kind == KIND_SHORT { short_in_class(header, len, lay.size()) } else { len };
        // SAFETY: the layout has non-zero size (it includes the header).
        let raw = unsafe { alloc::alloc(lay) } as *mut u64;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(lay) };
        let shape = kind << KIND_SHIFT | (len as u64) << LEN_SHIFT;
        // SAFETY: freshly allocated, 8-aligned, with room for the header
        // words written (two when not compact) and the body; the zeroed
        // tail is the class's bytes after them.
        unsafe {
            match compact {
                Some(bits) => ptr.as_ptr().write(shape | bits),
                None => {
                    ptr.as_ptr().write(shape);
                    (ptr.as_ptr().add(1) as *mut ActivityWord).write(ActivityWord::new(activity));
                }
            }
            let end = header + body_len;
            (ptr.as_ptr() as *mut u8).add(end).write_bytes(0, lay.size() - end);
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

    fn kind(&self) -> u64 {
        (self.word() & KIND_MASK) >> KIND_SHIFT
    }

    /// The length field: IDs of an array, bytes of a code.
    fn len_field(&self) -> usize {
        ((self.word() & LEN_MASK) >> LEN_SHIFT) as usize
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
        match self.kind() {
            // From the run's count: no view (every write's INFO accounting asks).
            KIND_CODED => Run::trusted_len(self.body()),
            KIND_WINDOW => self.view().len(),
            KIND_SHORT => short_counts(self.len_field()).0 as usize + 1,
            _ => self.len_field(),
        }
    }

    /// Bytes per ID of an array (None when coded or a window).
    pub fn width(&self) -> Option<usize> {
        (self.kind() < KIND_CODED).then(|| 2 << self.kind())
    }

    /// Body bytes: from the length field (a short code's: to its block's end).
    fn body_len(&self) -> usize {
        match self.kind() {
            KIND_SHORT => short_capacity(self.header(), self.len_field()),
            kind => body_bytes(kind, self.len_field()),
        }
    }

    fn body(&self) -> &[u8] {
        let (at, len) = (self.header(), self.body_len());
        // SAFETY: the body starts right after the header and holds `len`
        // initialised bytes, inside the block; borrowed with self.
        unsafe { std::slice::from_raw_parts((self.ptr.as_ptr() as *const u8).add(at), len) }
    }

    fn body_mut(&mut self) -> &mut [u8] {
        let (at, len) = (self.header(), self.body_len());
        // SAFETY: as in `body`, borrowed mutably with self. Every byte is
        // written before it is read (alloc's callers fill the whole body).
        unsafe { std::slice::from_raw_parts_mut((self.ptr.as_ptr() as *mut u8).add(at), len) }
    }

    /// Whether the block is a coded body or a short code.
    pub fn is_coded(&self) -> bool {
        matches!(self.kind(), KIND_CODED | KIND_SHORT)
    }

    /// The run of a coded block or a short code.
    pub fn run(&self) -> Option<Run<'_>> {
        match self.view() {
            View::Coded(run) => Some(run),
            _ => None,
        }
    }

    pub fn view(&self) -> View<'_> {
        let body = self.body();
        let (data, len) = (body.as_ptr(), self.len_field());
        // SAFETY: an array block's body holds `len` initialised elements of
        // its width, a window's its first ID; 8-aligned (the header is one
        // or two words).
        unsafe {
            match self.kind() {
                0 => View::W2(std::slice::from_raw_parts(data as *const u16, len)),
                1 => View::W4(std::slice::from_raw_parts(data as *const u32, len)),
                2 => View::W8(std::slice::from_raw_parts(data as *const u64, len)),
                KIND_CODED => View::Coded(Run::trusted(body)),
                KIND_SHORT => View::Coded(short_run(body, len)),
                _ => View::Window { first: (data as *const u64).read(), rest: len as u32 },
            }
        }
    }

    /// Appends an array's IDs as little-endian integers of its width (the
    /// serialized form): one copy on little-endian machines.
    pub fn write_le(&self, out: &mut Vec<u8>) {
        let Some(w) = self.width() else { return };
        if cfg!(target_endian = "little") {
            out.extend_from_slice(self.body());
        } else {
            self.view().visit_from(0, |id: u64| {
                out.extend_from_slice(&id.to_le_bytes()[..w]);
                ControlFlow::Continue(())
            });
        }
    }

    /// Writes array element `i` (the width holds `id`: callers widen first).
    fn write(&mut self, i: usize, id: u64) {
        debug_assert!(self.width().is_some_and(|w| width_for(id) <= w));
        let w = self.width().unwrap_or(8);
        let body = self.body_mut();
        match w {
            2 => body[2 * i..2 * i + 2].copy_from_slice(&(id as u16).to_ne_bytes()),
            4 => body[4 * i..4 * i + 4].copy_from_slice(&(id as u32).to_ne_bytes()),
            _ => body[8 * i..8 * i + 8].copy_from_slice(&id.to_ne_bytes()),
        }
    }

    /// Sets the length field to `len`, reallocating the block when its size
    /// class changes.
    fn resize(&mut self, len: usize) {
        let (h, kind, old) = (self.header(), self.kind(), self.len_field());
        assert!(len <= LEN_MAX, "packed length field {len} over {LEN_MAX}");
        self.reallocate(layout(h, body_bytes(kind, old)), layout(h, body_bytes(kind, len)));
        self.set_len_field(len);
    }

    /// Moves the block from the layout it has, `old`, to `new` (nothing when
    /// the size class stays), keeping its bytes up to the smaller size.
    fn reallocate(&mut self, old: Layout, new: Layout) {
        if new.size() == old.size() {
            return;
        }
        // SAFETY: the block was allocated with `old` (the caller's contract:
        // its header and body as they are); the new size is non-zero and
        // valid for the same alignment (`layout` made it).
        let raw = unsafe { alloc::realloc(self.ptr.as_ptr() as *mut u8, old, new.size()) };
        let Some(ptr) = NonNull::new(raw as *mut u64) else { alloc::handle_alloc_error(new) };
        self.ptr = ptr;
    }

    fn set_len_field(&mut self, len: usize) {
        let word = self.word();
        self.set_word(word & !LEN_MASK | (len as u64) << LEN_SHIFT);
    }

    /// Makes a short code's block hold `run` (a run `from_code` makes a
    /// short code of) in place, reallocated only when its size class
    /// changes: a write to a short code allocates no new block.
    fn set_short(&mut self, run: &Run<'_>) {
        debug_assert_eq!(self.kind(), KIND_SHORT);
        let h = self.header();
        let code = SHORT_FIRST_BYTES + run.body().len();
        let new = layout(h, code);
        self.reallocate(layout(h, self.body_len()), new);
        self.set_len_field(short_in_class(h, short_field(run), new.size()));
        let body = self.body_mut();
        body[..SHORT_FIRST_BYTES].copy_from_slice(&run.first().to_le_bytes()[..SHORT_FIRST_BYTES]);
        body[SHORT_FIRST_BYTES..code].copy_from_slice(run.body());
        // A short code runs to its block's end: zeros past its bits.
        body[code..].fill(0);
    }

    /// Replaces a coded block's code.
    fn set_code(&mut self, code: &[u8]) {
        self.resize(code.len());
        self.body_mut().copy_from_slice(code);
    }

    /// Rebuilds the block from its IDs changed by `edit` (false: unchanged).
    fn rebuild(&mut self, edit: impl FnOnce(&mut Vec<u64>) -> bool) -> bool {
        let mut ids = self.view().to_vec();
        if !edit(&mut ids) {
            return false;
        }
        let activity = self.take_activity();
        *self = Packed::from_sorted(&ids, activity);
        true
    }

    /// Inserts `id`; false if already present.
    pub fn insert(&mut self, id: u64) -> bool {
        if let Some((present, edit)) = self.plan_toggle(id) {
            return !present && self.edit_code(id, false, edit);
        }
        if self.kind() == KIND_WINDOW {
            return !self.view().contains(id) && self.toggle_in_window(id);
        }
        match self.view().search(id) {
            Ok(_) => false,
            Err(pos) => self.insert_at(pos, id),
        }
    }

    /// Removes `id`; false if absent.
    pub fn remove(&mut self, id: u64) -> bool {
        if let Some((present, edit)) = self.plan_toggle(id) {
            return present && self.edit_code(id, true, edit);
        }
        if self.kind() == KIND_WINDOW {
            return self.view().contains(id) && !self.toggle_in_window(id);
        }
        match self.view().search(id) {
            Ok(pos) => {
                self.remove_at(pos);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes `id` if there, else inserts it (one search); true if inserted.
    pub fn toggle(&mut self, id: u64) -> bool {
        if let Some((present, edit)) = self.plan_toggle(id) {
            self.edit_code(id, present, edit);
            return !present;
        }
        if self.kind() == KIND_WINDOW {
            return self.toggle_in_window(id);
        }
        match self.view().search(id) {
            Ok(pos) => {
                self.remove_at(pos);
                false
            }
            Err(pos) => self.insert_at(pos, id),
        }
    }

    /// For a coded body or a short code: whether `id` is there, and how
    /// removing it (when it is) or inserting it changes the run.
    fn plan_toggle(&self, id: u64) -> Option<(bool, Edit)> {
        self.run().map(|run| ef_run::plan_toggle(&run, id))
    }

    /// Makes `edit`, planned on the run for removing `id` (when `removing`)
    /// or inserting it: in place when a coded body stays one (`shift_code`),
    /// else through a new code (`take_code`). Whether it changed.
    fn edit_code(&mut self, id: u64, removing: bool, edit: Edit) -> bool {
        match edit {
            Edit::Unchanged => return false,
            Edit::Shift(shift) if self.kind() == KIND_CODED && self.shift_code(&shift) => {
                return true
            }
            Edit::Shift(shift) if self.kind() == KIND_SHORT && self.shift_short(&shift) => {
                return true
            }
            Edit::Shift(_) | Edit::Recode | Edit::Refused => {}
        }
        ef_run::with_scratch(|out| {
            let Some(run) = self.run() else { return false };
            match ef_run::write_edit(&run, id, removing, edit, out) {
                Some(false) => false,
                Some(true) => {
                    self.take_code(id, out);
                    true
                }
                None => {
                    self.rebuild_toggled(id);
                    true
                }
            }
        })
    }

    /// Makes the block hold `code`, its IDs with `id` toggled: in place when
    /// a coded body stays one; a new block when `from_sorted` makes the IDs
    /// a coded body or a short code (no decoding: a short code and a coded
    /// body hold the same run); else rebuilt, when an array or a window is
    /// smaller or the code outgrew one block.
    fn take_code(&mut self, id: u64, code: &[u8]) {
        let run = Run::trusted(code);
        let coded = Body::Coded(code.len());
        let short = Body::Short(code.len() - SHORT_SAVES);
        match body_for(run.len(), run.first(), run.last()).0 {
            body if body == coded && self.kind() == KIND_CODED => self.set_code(code),
            body if body == short && self.kind() == KIND_SHORT => self.set_short(&run),
            body if body == coded || body == short => {
                let activity = self.take_activity();
                *self = Packed::from_code(code, activity);
            }
            _ => {
                self.rebuild_toggled(id);
            }
        }
    }

    /// Rebuilds the block with `id` removed if there, else inserted.
    fn rebuild_toggled(&mut self, id: u64) {
        self.rebuild(|ids| {
            match ids.binary_search(&id) {
                Ok(at) => {
                    ids.remove(at);
                }
                Err(at) => ids.insert(at, id),
            }
            true
        });
    }

    /// Applies `shift`, planned on the coded body, in place when the new
    /// code stays a coded body (as `from_sorted` would make it): no copy of
    /// the code, and no reallocation while its size class stays. Whether
    /// it did (else nothing changed).
    fn shift_code(&mut self, shift: &Shift) -> bool {
        let first = Run::trusted(self.body()).first();
        if !stays_coded(shift.n, first, first + shift.max_offset(), shift.len) {
            return false;
        }
        let old = self.len_field();
        if shift.len > old {
            self.resize(shift.len);
            // `apply` reads zeros past the old code.
            self.body_mut()[old..].fill(0);
            ef_run::apply(self.body_mut(), shift);
        } else {
            ef_run::apply(self.body_mut(), shift);
            self.resize(shift.len);
        }
        true
    }

    /// Applies `shift`, planned on the short code, in place when the IDs
    /// stay a short code (as `from_sorted` would make them) in a block of
    /// the same size: no copy of the code in and out. Whether it did (else
    /// nothing changed).
    fn shift_short(&mut self, shift: &Shift) -> bool {
        let Some(run) = self.run() else { return false };
        let (first, l) = (run.first(), run.low_width());
        let code = shift.len - SHORT_SAVES;
        let h = self.header();
        let size = h + self.body_len();
        if body_for(shift.n, first, first + shift.max_offset()).0 != Body::Short(code)
            || layout(h, code).size() != size
        {
            return false;
        }
        ef_run::apply_to_body(&mut self.body_mut()[SHORT_FIRST_BYTES..], l, shift);
        let field = short_field_of(shift.n, l, first);
        self.set_len_field(short_in_class(h, field, size));
        true
    }

    /// Removes `id` from a window if there, else inserts it; true if
    /// inserted. In place while the IDs fit a window (the first one moves
    /// with the lowest ID), else the block rebuilt.
    fn toggle_in_window(&mut self, id: u64) -> bool {
        let View::Window { first, rest } = self.view() else { return false };
        let mask = window_ids(rest);
        // The IDs with `id` toggled, as a mask from the lower of `first` and
        // `id`; 0 when they surely do not fit a window (`id` further away).
        let (base, mask) = match id.checked_sub(first) {
            Some(off) if off < 64 => (first, mask ^ 1 << off),
            Some(_) => (first, 0),
            None if first - id <= WINDOW_SPAN => (id, mask << (first - id) | 1),
            None => (id, 0),
        };
        let inserting = window_mask(first, rest, id) & 1 == 0;
        let fits = mask != 0 && (mask >> mask.trailing_zeros()) >> (WINDOW_SPAN + 1) == 0;
        if !fits {
            self.rebuild_toggled(id);
            return inserting;
        }
        let shift = mask.trailing_zeros();
        self.set_window(base + u64::from(shift), mask >> shift >> 1);
        inserting
    }

    /// Makes a window block hold `first` and the IDs after it in `rest`
    /// (bit i: `first + 1 + i`; under 2^WINDOW_SPAN).
    fn set_window(&mut self, first: u64, rest: u64) {
        debug_assert!(self.kind() == KIND_WINDOW && rest >> WINDOW_SPAN == 0);
        self.set_len_field(rest as usize);
        self.body_mut().copy_from_slice(&first.to_ne_bytes());
    }

    /// Inserts `id` at index `pos` of the array (where it sorts, absent).
    fn insert_at(&mut self, pos: usize, id: u64) -> bool {
        let Some(w) = self.width().filter(|&w| width_for(id) <= w) else {
            // Widening every element: rebuild (rare, like an intset upgrade).
            return self.rebuild(|ids| {
                ids.insert(pos, id);
                true
            });
        };
        let len = self.len_field();
        if self.coded_takes_a_smaller_class(len + 1, id) {
            return self.rebuild(|ids| {
                ids.insert(pos, id);
                true
            });
        }
        self.resize(len + 1);
        self.body_mut().copy_within(pos * w..len * w, (pos + 1) * w);
        self.write(pos, id);
        true
    }

    /// Whether the array's IDs and `id` (`len` in all), when the array would
    /// grow into a larger size class, take a smaller one as `from_sorted`
    /// makes them (coded: 10 Snowflake IDs written one by one move from a
    /// 96-byte array to an 80-byte short code at the tenth, not at the
    /// policy's next size check).
    fn coded_takes_a_smaller_class(&self, len: usize, id: u64) -> bool {
        let (h, w) = (self.header(), self.width().unwrap_or(8));
        let grown = allocated(h + len * w);
        if grown == allocated(h + (len - 1) * w) {
            return false;
        }
        let (first, last) = match self.view() {
            View::Coded(_) | View::Window { .. } => return false,
            array => array.extremes().map_or((id, id), |(f, l)| (f.min(id), l.max(id))),
        };
        let (body, bytes) = body_for(len, first, last);
        !matches!(body, Body::Array(_)) && allocated(h + bytes) < grown
    }

    /// Removes the ID at index `pos` of the array.
    fn remove_at(&mut self, pos: usize) {
        let (len, w) = (self.len_field(), self.width().unwrap_or(8));
        self.body_mut().copy_within((pos + 1) * w..len * w, pos * w);
        self.resize(len - 1);
    }

    /// Moves the activity out, leaving an empty one.
    pub fn take_activity(&mut self) -> Activity {
        if let Some(word) = self.activity_word_mut() {
            return word.take();
        }
        let activity = self.activity().to_owned();
        let word = self.word();
        self.set_word(word & (LEN_MASK | KIND_MASK) | COMPACT);
        activity
    }

    /// Replaces the activity, moving the IDs to a block with the other
    /// header size when the new activity needs it.
    fn put_activity(&mut self, activity: Activity) {
        match (compact_bits(&activity), self.activity_word_mut()) {
            (Some(bits), None) => {
                let word = self.word();
                self.set_word(word & (LEN_MASK | KIND_MASK) | bits);
            }
            (None, Some(word)) => *word = ActivityWord::new(activity),
            _ => *self = self.copy_with(activity),
        }
    }

    /// A copy of the block with `activity` (a short code's body without
    /// the zeros past its code: the header may change, and the class with it).
    fn copy_with(&self, activity: Activity) -> Packed {
        let (kind, len, body) = (self.kind(), self.len_field(), self.body());
        match self.run() {
            Some(run) if kind == KIND_SHORT => {
                let code = SHORT_FIRST_BYTES + run.code_len() - ef_run::HEADER;
                Packed::alloc_with(kind, len & !SHORT_UPPER_CLASS, &[&body[..code]], activity)
            }
            _ => Packed::alloc_with(kind, len, &[body], activity),
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
        self.view().contains(id)
    }

    fn prefetch(&self) {
        // The header and the two lines after it, where a set of a hundred
        // or so IDs ends, asked for before the header says how long it is.
        let block = self.ptr.as_ptr().cast::<u8>();
        for at in [0, 64, 127] {
            prefetch(block.wrapping_add(at));
        }
    }

    fn insert(&mut self, id: u64) -> Option<bool> {
        Some(Packed::insert(self, id))
    }

    fn remove(&mut self, id: u64) -> bool {
        Packed::remove(self, id)
    }

    fn toggle(&mut self, id: u64) -> Option<bool> {
        Some(Packed::toggle(self, id))
    }

    fn visit_from(&self, from: u64, f: &mut dyn FnMut(u64) -> ControlFlow<()>) {
        self.view().visit_from(from, f);
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
        allocated(self.header() + self.body().len()) + self.activity().heap_bytes()
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        self.copy_with(self.activity().to_owned())
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        let lay = layout(self.header(), self.body_len());
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
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Inserts, removes and toggles (edits in place in a coded body, or
        /// rebuilds) against a model; after each, a coded block is the one
        /// `from_sorted` makes of the model's IDs, byte for byte (an array
        /// stays an array until the policy re-forms the set).
        #[test]
        fn writes_keep_the_code_from_sorted_would_make(
            span in prop_oneof![Just(25u64), Just(300), Just(5_000), Just(1 << 20), Just(1 << 40)],
            base in prop_oneof![Just(0u64), Just(1 << 33), Just(super::super::MAX_ID - (1 << 41))],
            start in prop::collection::btree_set(0u64..5_000, 1..300),
            ops in prop::collection::vec((0u8..3, any::<u64>()), 1..200),
        ) {
            let start = start.iter().map(|&x| base + x * span / 5_000).collect();
            writes_match_a_model(start, &ops, |r| base + r % (span + 2), |p, want, ids| {
                // A window holds IDs within its span, in no more bytes than
                // from_sorted's block (an array of the same class for a few IDs).
                if p.kind() == KIND_WINDOW {
                    prop_assert!(ids.len() == 1 || ids[ids.len() - 1] - ids[0] <= WINDOW_SPAN);
                    prop_assert!(p.heap_bytes() <= want.heap_bytes());
                }
                if want.kind() == KIND_WINDOW && p.kind() != KIND_WINDOW {
                    // An array that came to fit a window stays one until the
                    // policy re-forms the set.
                    prop_assert!(p.width().is_some());
                }
                Ok(())
            })?;
        }
    }

    proptest! {
        /// Sparse sets of 2-70 IDs over 2^20 to 2^62 values (Snowflake IDs
        /// span about 2^58), where short codes are: inserts, removes and
        /// toggles against a model; after each, the block is the one
        /// `from_sorted` makes of the model's IDs, and a coded or short block
        /// writes the run `encode` makes.
        #[test]
        fn short_codes_behave_like_a_btreeset(
            span in prop_oneof![Just(1u64 << 20), Just(1 << 32), Just(1 << 40), Just(94_608_000_000u64 << 22), Just(1 << 62)],
            base in prop_oneof![Just(0u64), Just(1 << 33), Just(1 << 60)],
            start in prop::collection::vec(any::<u64>(), 2..70),
            ops in prop::collection::vec((0u8..3, any::<u64>()), 1..100),
        ) {
            let base = base.min(super::super::MAX_ID - span);
            let start = start.iter().map(|r| base + r % span).collect();
            writes_match_a_model(start, &ops, |r| base + r % span, |p, _, ids| {
                if p.kind() == KIND_SHORT {
                    prop_assert!(ids.len() <= SHORT_MAX);
                    prop_assert!(p.clone().view().to_vec() == ids);
                }
                Ok(())
            })?;
        }
    }

    /// Runs `ops` (0: insert, 1: remove, else toggle; of an ID the set holds
    /// for an even `r`, else of `fresh(r >> 1)`) on a block built from
    /// `start` and on a model. After each, the block holds the model's IDs
    /// (and not their neighbours the model lacks), and a coded or short
    /// block is the one `from_sorted` makes of them, byte for byte, and
    /// writes the run `encode` makes; `check` adds its own checks of the
    /// block, `from_sorted`'s and the IDs.
    fn writes_match_a_model(
        start: BTreeSet<u64>,
        ops: &[(u8, u64)],
        fresh: impl Fn(u64) -> u64,
        mut check: impl FnMut(&Packed, &Packed, &[u64]) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        let mut model = start;
        let ids: Vec<u64> = model.iter().copied().collect();
        let mut p = Packed::from_sorted(&ids, Activity::default());
        for &(op, r) in ops {
            // Half the time an ID the set holds, so removes hit.
            let id = if r % 2 == 0 {
                *model.iter().nth((r / 2) as usize % model.len()).unwrap_or(&0)
            } else {
                fresh(r >> 1)
            };
            if model.len() == 1 && model.contains(&id) {
                continue;
            }
            match op {
                0 => prop_assert_eq!(p.insert(id), model.insert(id)),
                1 => prop_assert_eq!(p.remove(id), model.remove(&id)),
                _ => {
                    let added = !model.remove(&id) && model.insert(id);
                    prop_assert_eq!(p.toggle(id), added);
                }
            }
            let ids: Vec<u64> = model.iter().copied().collect();
            prop_assert_eq!(p.view().to_vec(), ids.clone());
            prop_assert_eq!(p.len(), ids.len());
            let agrees = |id: u64| p.view().contains(id) == model.contains(&id);
            prop_assert!(ids.iter().all(|&id| agrees(id) && agrees(id ^ 1)));
            let want = Packed::from_sorted(&ids, Activity::default());
            if p.is_coded() {
                prop_assert_eq!((p.kind(), p.body()), (want.kind(), want.body()));
                prop_assert_eq!(p.heap_bytes(), want.heap_bytes());
                let (mut written, mut code) = (Vec::new(), Vec::new());
                if let Some(run) = p.run() {
                    run.write_code(&mut written);
                }
                ef_run::encode(&ids, &mut code);
                prop_assert_eq!(written, code);
            }
            check(&p, &want, &ids)?;
        }
        Ok(())
    }

    /// IDs written one by one into a short code and removed again, each
    /// write checked against what `from_sorted` makes: short code to short
    /// code writes go through `set_short`, in place, in several size
    /// classes (a deterministic case, small enough for miri).
    #[test]
    fn short_code_writes_in_place() {
        let id = |i: u64| (1u64 << 60) + i * 0x1234;
        let ids: Vec<u64> = (0..10).map(id).collect();
        let mut p = Packed::from_sorted(&ids, Activity::default());
        assert_eq!(p.kind(), KIND_SHORT);
        let mut model: BTreeSet<u64> = ids.into_iter().collect();
        let (mut short_writes, mut classes) = (0, BTreeSet::new());
        let extra: Vec<u64> = (10..40).map(|i| id(i) - 7 * i).collect();
        for (step, &x) in extra.iter().chain(extra.iter()).enumerate() {
            let kind_before = p.kind();
            if step < extra.len() {
                assert!(p.insert(x) && model.insert(x));
            } else {
                assert!(p.remove(x) && model.remove(&x));
            }
            let want: Vec<u64> = model.iter().copied().collect();
            assert_eq!(p.view().to_vec(), want);
            let built = Packed::from_sorted(&want, Activity::default());
            assert_eq!(
                (p.kind(), p.body(), p.heap_bytes()),
                (built.kind(), built.body(), built.heap_bytes())
            );
            if kind_before == KIND_SHORT && p.kind() == KIND_SHORT {
                short_writes += 1;
                classes.insert(p.heap_bytes());
            }
        }
        assert!(short_writes >= 5 && classes.len() >= 3, "{short_writes} {classes:?}");
    }

    #[test]
    fn insert_remove_widen() {
        let mut p = Packed::from_sorted(&[5], Activity::default());
        assert!(p.insert(3));
        assert!(!p.insert(3));
        assert!(p.insert(70_000));
        assert_eq!(p.width(), Some(4));
        assert!(p.insert(1 << 40));
        // Three bits of 4 IDs spread over 2^40 code smaller than 8-byte elements.
        assert_eq!((p.width(), p.run().is_some()), (None, true));
        assert_eq!(p.view().to_vec(), vec![3, 5, 70_000, 1 << 40]);
        assert!(p.remove(5));
        assert!(!p.remove(5));
        assert_eq!(p.view().to_vec(), vec![3, 70_000, 1 << 40]);
        let c = p.clone();
        assert!(p.remove(3));
        assert_eq!(c.len(), 3);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn header_is_one_word_while_the_activity_fits_it() {
        let mut p = Packed::from_sorted(&[1, 2, 3], Activity::default());
        assert_eq!(p.heap_bytes(), allocated(8 + 3 * 2));
        let one_stripe = Activity::Inline { stripe: 180_000_000, count: COUNT_MAX };
        p.put_activity(one_stripe.clone());
        assert_eq!(p.heap_bytes(), allocated(8 + 3 * 2));
        assert_eq!(p.activity().to_owned(), one_stripe);
        // Past what the word holds: a second word, the IDs moved along.
        for wide in [
            Activity::Inline { stripe: 180_000_000, count: COUNT_MAX + 1 },
            Activity::Inline { stripe: STRIPE_MAX + 1, count: 1 },
        ] {
            p.put_activity(wide.clone());
            assert_eq!(p.heap_bytes(), allocated(16 + 3 * 2));
            assert_eq!(p.activity().to_owned(), wide);
            assert_eq!(p.clone().activity().to_owned(), wide);
            assert_eq!(p.view().to_vec(), vec![1, 2, 3]);
            p.put_activity(Activity::default());
            assert_eq!(p.heap_bytes(), allocated(8 + 3 * 2));
            assert_eq!(p.view().to_vec(), vec![1, 2, 3]);
        }
        assert!(p.insert(1 << 40));
        assert!(p.remove(2));
        assert_eq!(p.view().to_vec(), vec![1, 3, 1 << 40]);
        assert_eq!(p.heap_bytes(), allocated(8 + ef_run::encoded_len(&[1, 3, 1 << 40])));
    }

    #[test]
    fn the_smaller_body_wins_and_follows_the_writes() {
        // 10 IDs 3 apart take 15 code bytes against a 20-byte array.
        let dense: Vec<u64> = (100..130).step_by(3).collect();
        let mut p = Packed::from_sorted(&dense, Activity::default());
        assert!(p.run().is_some());
        assert_eq!(p.heap_bytes(), allocated(8 + ef_run::encoded_len(&dense)));
        // In-place writes into the code, and re-coding ones (a new first ID).
        let mut model = dense.clone();
        for id in [105, 50, 200, 107, 100, 300, 1 << 33] {
            let added = p.insert(id);
            assert_eq!(added, !model.contains(&id));
            if added {
                model.push(id);
                model.sort_unstable();
            }
            assert_eq!(p.view().to_vec(), model);
        }
        for id in [50, 51, 1 << 33, 105, 109] {
            let removed = p.remove(id);
            assert_eq!(removed, model.contains(&id));
            model.retain(|&x| x != id);
            assert_eq!(p.view().to_vec(), model);
            assert!(model.iter().all(|&x| p.view().contains(x)));
        }
        // A code with a page in the middle.
        let mut got = Vec::new();
        p.view().visit_from(104, |id| {
            got.push(id);
            if got.len() == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let want: Vec<u64> = model.iter().copied().filter(|&id| id >= 104).take(3).collect();
        assert_eq!(got, want);
        // Two spread IDs: an array is smaller.
        let q = Packed::from_sorted(&[7, 1 << 20], Activity::default());
        assert_eq!((q.run().is_some(), q.width()), (false, Some(4)));
    }

    #[test]
    fn a_tiny_dense_set_is_a_window_of_one_word() {
        // 0..9: a 16-byte block, where a 2-byte array or a code takes 32.
        let ids: Vec<u64> = (0..10).collect();
        let mut p = Packed::from_sorted(&ids, Activity::default());
        assert_eq!((p.kind(), p.heap_bytes(), p.len()), (KIND_WINDOW, 16, 10));
        assert_eq!(p.view().to_vec(), ids);
        assert!(!p.insert(9) && !p.remove(10) && !p.contains(23));
        // The first ID moves both ways; the window holds 23 IDs.
        assert!(p.insert(22));
        assert!(p.remove(0) && p.remove(1));
        assert_eq!(p.view().to_vec(), [2, 3, 4, 5, 6, 7, 8, 9, 22]);
        assert!(p.insert(24) && p.insert(0));
        assert_eq!(p.kind(), KIND_CODED, "0..24 no longer fits a window");
        assert!(p.remove(0));
        assert!(p.remove(24) && p.insert(1));
        assert_eq!(p.view().to_vec(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 22]);
        // Built again from the IDs, it is a window once more.
        let mut w = Packed::from_sorted(&p.view().to_vec(), Activity::default());
        assert_eq!(w.kind(), KIND_WINDOW);
        assert!(!w.toggle(1) && w.toggle(0));
        assert_eq!(w.view().to_vec(), [0, 2, 3, 4, 5, 6, 7, 8, 9, 22]);
        // Far below or above: rebuilt.
        assert!(w.insert(1 << 40));
        assert_eq!(w.view().to_vec(), [0, 2, 3, 4, 5, 6, 7, 8, 9, 22, 1 << 40]);
        // Emptied down to nothing, in place.
        let top = super::super::MAX_ID;
        let mut e = Packed::from_sorted(&[top - 22, top - 3, top], Activity::default());
        assert_eq!(e.kind(), KIND_WINDOW);
        assert!(e.remove(top - 22) && e.remove(top));
        assert_eq!((e.kind(), e.view().to_vec()), (KIND_WINDOW, vec![top - 3]));
        assert!(e.remove(top - 3));
        assert_eq!(e.len(), 0);
        // The activity stays in the one header word.
        let recent = Activity::Inline { stripe: 180_000_000, count: 10 };
        let mut a = Packed::from_sorted(&ids, recent.clone());
        assert_eq!((a.heap_bytes(), a.activity().to_owned()), (16, recent));
        // Rings move the window behind a two-word header, and back.
        let mut rings = Activity::default();
        rings.record(1_000_000_000, 1);
        rings.record(1_000_030_000, 1);
        a.put_activity(rings.clone());
        let ring_bytes = allocated(std::mem::size_of::<super::super::activity::Rings>());
        assert_eq!((a.kind(), a.heap_bytes()), (KIND_WINDOW, allocated(24) + ring_bytes));
        assert!(a.remove(0) && a.insert(20) && !a.insert(20));
        let want: Vec<u64> = (1..10).chain([20]).collect();
        assert_eq!((a.view().to_vec(), a.clone().view().to_vec()), (want.clone(), want.clone()));
        assert_eq!(a.activity().to_owned(), rings);
        a.put_activity(Activity::default());
        assert_eq!((a.kind(), a.heap_bytes(), a.view().to_vec()), (KIND_WINDOW, 16, want));
    }

    /// Ten Snowflake IDs (2024 timestamps, random low bits).
    fn snowflakes(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        let mut ids: Vec<u64> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let ts = 322_000_000_000 + (x >> 20) % 94_608_000_000;
                ts << 22 | (x >> 7) & ((1 << 22) - 1)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    #[test]
    fn a_short_sparse_set_is_a_short_code() {
        // 10 Snowflake IDs: a coded body takes a 96-byte block, a short code 80
        // (a SET of them is a 96-byte intset; the module value adds 16).
        for seed in 0..200 {
            let ids = snowflakes(10, seed);
            let mut p = Packed::from_sorted(&ids, Activity::default());
            let mut code = Vec::new();
            ef_run::encode(&ids, &mut code);
            assert_eq!(allocated(WORD + code.len()), 96, "seed {seed}");
            assert_eq!((p.kind(), p.heap_bytes(), p.len()), (KIND_SHORT, 80, 10), "seed {seed}");
            assert_eq!(p.view().to_vec(), ids);
            assert!(ids.iter().all(|&id| p.contains(id) && !p.contains(id + 1)));
            assert!(!p.contains(ids[0] - 1) && !p.contains(0) && !p.contains(u64::MAX));
            // It writes the run it holds, as the coded body would.
            let mut written = Vec::new();
            if let Some(run) = p.run() {
                run.write_code(&mut written);
            }
            assert_eq!(written, code);
            // Writes rebuild it: as from_sorted makes the new IDs.
            let extra = ids[4] + 1;
            assert!(p.insert(extra) && !p.insert(extra));
            let mut more = ids.clone();
            more.insert(5, extra);
            assert_eq!(p.view().to_vec(), more);
            assert_eq!(p.kind(), Packed::from_sorted(&more, Activity::default()).kind());
            assert!(p.toggle(ids[0] - 5) && !p.toggle(ids[0] - 5));
            assert!(p.remove(extra) && !p.remove(extra));
            assert_eq!(
                (p.kind(), p.heap_bytes(), p.view().to_vec()),
                (KIND_SHORT, 80, ids.clone())
            );
        }
        // Up to SHORT_MAX IDs; a write past it makes a coded body, and back.
        let ids = snowflakes(SHORT_MAX + 1, 7);
        let (last, short) = ids.split_last().unwrap();
        let mut p = Packed::from_sorted(short, Activity::default());
        let kind = p.kind();
        assert!(p.insert(*last));
        assert_eq!((p.kind(), p.view().to_vec()), (KIND_CODED, ids.clone()));
        assert!(p.remove(*last));
        assert_eq!((p.kind(), p.view().to_vec()), (kind, short.to_vec()));
        // The first ID's top bits: up to MAX_ID.
        let top = super::super::MAX_ID;
        let s = snowflakes(10, 3);
        let high: Vec<u64> = s.iter().rev().map(|id| top - (id - s[0])).collect();
        let p = Packed::from_sorted(&high, Activity::default());
        assert_eq!((p.kind(), p.view().to_vec()), (KIND_SHORT, high.clone()));
        assert!(p.contains(top) && p.contains(high[0]) && !p.contains(top - 1));
        // Rings move it behind a two-word header, and back.
        let ids = snowflakes(10, 11);
        let mut a = Packed::from_sorted(&ids, Activity::default());
        let mut rings = Activity::default();
        rings.record(1_000_000_000, 1);
        rings.record(1_000_030_000, 1);
        a.put_activity(rings.clone());
        let ring_bytes = allocated(std::mem::size_of::<super::super::activity::Rings>());
        assert_eq!((a.kind(), a.heap_bytes()), (KIND_SHORT, 96 + ring_bytes));
        assert!(a.insert(1) && a.remove(1));
        assert_eq!((a.view().to_vec(), a.clone().view().to_vec()), (ids.clone(), ids.clone()));
        assert_eq!(a.activity().to_owned(), rings);
        a.put_activity(Activity::default());
        assert_eq!((a.kind(), a.heap_bytes(), a.view().to_vec()), (KIND_SHORT, 80, ids));
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
            allocated(16 + 2 * 2) + allocated(std::mem::size_of::<super::super::activity::Rings>())
        );
        assert_eq!(p.take_activity(), rings);
        assert_eq!(p.heap_bytes(), allocated(16 + 2 * 2));
        assert_eq!(c.activity().to_owned(), rings);
    }
}
