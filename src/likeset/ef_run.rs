//! Elias-Fano coding of a short strictly ascending run of IDs: the building
//! block of the compressed encoding. n IDs spread over a range of u values
//! take about n * (2 + log2(u / n)) bits, within a bit or two per ID of the
//! information-theoretic minimum log2(C(u, n)), whatever the ID shape.
//!
//! Layout of one coded run (little-endian bit order throughout):
//! ```text
//! u16 n (1 ..= u16::MAX)   u8 l (low bits per ID, 0 ..= 62)   u64 first
//! (n-1) * l bits: the low l bits of each offset (id - first), IDs 1 .. n-1
//! unary high parts: for offset i (1 ..= n-1), a 1 at bit (offset >> l) + (i-1)
//! ```
//! The byte length is exactly what those bits need; a run with n = 1 is the
//! 11-byte header alone.

use std::cell::RefCell;
use std::thread::LocalKey;

use super::select;
#[cfg(target_arch = "x86_64")]
use super::select::Level;

/// Which bit `Run::select` looks for.
#[derive(Clone, Copy)]
enum Bit {
    One,
    Zero,
}

/// Header bytes of a coded run.
pub const HEADER: usize = 11;

thread_local! {
    /// A write's new code, reused from write to write (a packed block's code
    /// is copied into its own block, so the buffer needs no allocation of its own).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The IDs of a run being re-coded, reused from write to write.
    static IDS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the thread's buffer `key`, emptied.
fn with_reused<T: 'static, R>(
    key: &'static LocalKey<RefCell<Vec<T>>>,
    f: impl FnOnce(&mut Vec<T>) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf)
        }
        // Only a nested call finds it taken (none does today): a buffer of its own.
        Err(_) => f(&mut Vec::new()),
    })
}

/// Runs `f` with an empty buffer for a new code: the thread's reused one.
pub fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    with_reused(&SCRATCH, f)
}

/// Low bits per offset for `count` offsets spread up to `max_offset`.
fn low_bits(count: u64, max_offset: u64) -> u32 {
    if count == 0 || max_offset < count {
        0
    } else {
        (max_offset / count).ilog2()
    }
}

/// Bytes of the code of strictly ascending `ids` (at least one).
#[cfg(test)]
pub fn encoded_len(ids: &[u64]) -> usize {
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { return HEADER };
    let m = (ids.len() - 1) as u64;
    let l = low_bits(m, last - first);
    let bits = m * u64::from(l) + high_bits_len(m, last - first, l);
    HEADER + bits.div_ceil(8) as usize
}

/// Bits of the unary high parts.
fn high_bits_len(m: u64, max_offset: u64, l: u32) -> u64 {
    if m == 0 {
        0
    } else {
        (max_offset >> l) + m
    }
}

/// Appends the header of a run of `n` IDs.
fn push_header(out: &mut Vec<u8>, n: usize, l: u32, first: u64) {
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.push(l as u8);
    out.extend_from_slice(&first.to_le_bytes());
}

/// Appends the header of a run of `n` IDs and a zeroed body of `body_bits`
/// bits, reserving exactly that (so that a boxed slice of a fresh code needs
/// no shrink); where the body starts.
fn put_header(out: &mut Vec<u8>, n: usize, l: u32, first: u64, body_bits: u64) -> usize {
    let body_len = body_bits.div_ceil(8) as usize;
    out.reserve_exact(HEADER + body_len);
    push_header(out, n, l, first);
    let start = out.len();
    out.resize(start + body_len, 0);
    start
}

/// Appends the code of strictly ascending `ids` (1 ..= u16::MAX of them).
pub fn encode(ids: &[u64], out: &mut Vec<u8>) {
    debug_assert!(!ids.is_empty() && ids.len() <= usize::from(u16::MAX));
    debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let first = ids[0];
    let last = ids[ids.len() - 1];
    let m = (ids.len() - 1) as u64;
    let l = low_bits(m, last - first);
    let total_bits = m * u64::from(l) + high_bits_len(m, last - first, l);
    let start = put_header(out, ids.len(), l, first, total_bits);
    let body = &mut out[start..];
    // Two sequential passes with a word-sized accumulator: the low bits, then
    // the unary high parts (a 1 after `offset >> l` zeros in all, in order).
    let mut sink = BitSink::new(body);
    if l > 0 {
        for &id in &ids[1..] {
            sink.push((id - first) & low_mask(l), l);
        }
    }
    let mut high_at = 0u64;
    for &id in &ids[1..] {
        let high = (id - first) >> l;
        let gap = high - high_at;
        if gap < 62 {
            // The zeros and the one in a single push.
            sink.push(1 << gap, gap as u32 + 1);
        } else {
            sink.skip(gap);
            sink.push(1, 1);
        }
        high_at = high;
    }
    sink.finish();
}

/// Writes bits in order into zeroed bytes, a word at a time.
struct BitSink<'a> {
    bytes: &'a mut [u8],
    /// Bytes already written out.
    pos: usize,
    acc: u64,
    /// Bits held in `acc` (below 64).
    held: u32,
}

impl<'a> BitSink<'a> {
    fn new(bytes: &'a mut [u8]) -> BitSink<'a> {
        BitSink { bytes, pos: 0, acc: 0, held: 0 }
    }

    /// Appends the low `width` (1 ..= 62) bits of `value`.
    #[inline]
    fn push(&mut self, value: u64, width: u32) {
        self.acc |= value << self.held;
        let total = self.held + width;
        if total >= 64 {
            self.flush_word();
            // The bits of `value` that did not fit.
            self.acc = if self.held == 0 { 0 } else { value >> (64 - self.held) };
            self.held = total - 64;
        } else {
            self.held = total;
        }
    }

    /// Appends `n` zero bits.
    fn skip(&mut self, mut n: u64) {
        while n > 0 {
            let step = n.min(62) as u32;
            self.push(0, step);
            n -= u64::from(step);
        }
    }

    #[inline]
    fn flush_word(&mut self) {
        let word = self.acc.to_le_bytes();
        if let Some(dst) = self.bytes.get_mut(self.pos..self.pos + 8) {
            // A fixed-size copy: one store.
            dst.copy_from_slice(&word);
            self.pos += 8;
        } else {
            let end = self.bytes.len();
            self.bytes[self.pos..end].copy_from_slice(&word[..end - self.pos]);
            self.pos = end;
        }
    }

    fn finish(mut self) {
        if self.held > 0 {
            self.flush_word();
        }
    }
}

fn low_mask(l: u32) -> u64 {
    if l >= 64 {
        u64::MAX
    } else {
        (1u64 << l) - 1
    }
}

/// Fixed-width values read in order.
struct BitSource<'a> {
    bytes: &'a [u8],
    at: u64,
    width: u32,
}

impl BitSource<'_> {
    #[inline]
    fn next(&mut self) -> u64 {
        if self.width == 0 {
            return 0;
        }
        let v = read_word(self.bytes, self.at) & low_mask(self.width);
        self.at += u64::from(self.width);
        v
    }
}

/// Up to 64 bits starting at bit `at` of `bytes` (bits past the end read as 0).
#[inline]
fn read_word(bytes: &[u8], at: u64) -> u64 {
    let byte = (at / 8) as usize;
    let shift = at % 8;
    if let Some(chunk) = bytes.get(byte..byte + 9) {
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&chunk[..8]);
        let lo = u64::from_le_bytes(lo);
        // The 9th byte supplies the top `shift` bits (none when shift is 0).
        return (lo >> shift) | ((u64::from(chunk[8]) << 1) << (63 - shift));
    }
    // Near the end: the last eight bytes, shifted (what lies past them reads as 0).
    if let Some(last) = bytes.last_chunk::<8>() {
        let from = at - 8 * (bytes.len() as u64 - 8);
        return if from < 64 { u64::from_le_bytes(*last) >> from } else { 0 };
    }
    let mut buf = [0u8; 16];
    let end = bytes.len().min(byte + 9);
    if byte < end {
        buf[..end - byte].copy_from_slice(&bytes[byte..end]);
    }
    (u128::from_le_bytes(buf) >> shift) as u64
}

/// Why a coded run was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

/// A validated coded run, read in place.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    n: usize,
    l: u32,
    first: u64,
    body: &'a [u8],
}

impl<'a> Run<'a> {
    /// Reads the run at the start of `bytes`; returns it and its byte length.
    /// Checks everything a later read relies on: lengths, unary parts, that
    /// IDs ascend strictly and stay at most `max_id`.
    pub fn parse(bytes: &'a [u8], max_id: u64) -> Result<(Run<'a>, usize), Corrupt> {
        let header = bytes.get(..HEADER).ok_or(Corrupt("truncated run header"))?;
        let n = usize::from(u16::from_le_bytes([header[0], header[1]]));
        let l = u32::from(header[2]);
        let mut first_bytes = [0u8; 8];
        first_bytes.copy_from_slice(&header[3..11]);
        let first = u64::from_le_bytes(first_bytes);
        if n == 0 {
            return Err(Corrupt("empty run"));
        }
        if l > 62 {
            return Err(Corrupt("bad low-bit width"));
        }
        if first > max_id {
            return Err(Corrupt("id out of range"));
        }
        let m = (n - 1) as u64;
        let low_len = m * u64::from(l);
        // The high parts hold m ones; their zeros are at most (max_id - first) >> l.
        let rest = &bytes[HEADER..];
        let run = Run { n, l, first, body: rest };
        // Walk the high parts once: count the ones and find where they end.
        let mut seen = 0u64;
        let mut bit = low_len;
        let mut prev: Option<u64> = None;
        let total_bits = rest.len() as u64 * 8;
        while seen < m {
            if bit >= total_bits {
                return Err(Corrupt("truncated run"));
            }
            if run.bit(bit) {
                let high = bit - low_len - seen;
                let offset = (high << l) | run.low(seen);
                if high > (max_id - first) >> l || offset > max_id - first {
                    return Err(Corrupt("id out of range"));
                }
                if offset == 0 || prev.is_some_and(|p| p >= offset) {
                    return Err(Corrupt("ids not ascending"));
                }
                prev = Some(offset);
                seen += 1;
            }
            bit += 1;
        }
        let len = HEADER + bit.div_ceil(8) as usize;
        // The code is exactly as long as encode makes it: no stray bits.
        let last = prev.map_or(first, |p| first + p);
        let ids_len = encoded_len_of(n as u64, first, last);
        if len != ids_len || l != low_bits(m, last - first) {
            return Err(Corrupt("run not in canonical form"));
        }
        if (bit..(len - HEADER) as u64 * 8).any(|b| run.bit(b)) {
            return Err(Corrupt("stray bits after a run"));
        }
        Ok((Run { body: &rest[..len - HEADER], ..run }, len))
    }

    /// A run this module coded (a block of a live set): only the header is
    /// read. A malformed one (a bug) reads as the single ID 0.
    pub fn trusted(bytes: &'a [u8]) -> Run<'a> {
        debug_assert!(bytes.len() >= HEADER && u16::from_le_bytes([bytes[0], bytes[1]]) > 0);
        match bytes.get(..HEADER) {
            Some(h) => {
                let mut first = [0u8; 8];
                first.copy_from_slice(&h[3..11]);
                Run {
                    n: Run::trusted_len(bytes),
                    l: u32::from(h[2]).min(62),
                    first: u64::from_le_bytes(first),
                    body: &bytes[HEADER..],
                }
            }
            None => Run { n: 1, l: 0, first: 0, body: &[] },
        }
    }

    /// The IDs of the run `trusted` reads from `bytes`, from its header's
    /// count alone (a count read in O(1)).
    pub fn trusted_len(bytes: &[u8]) -> usize {
        bytes.first_chunk::<2>().map_or(1, |n| usize::from(u16::from_le_bytes(*n)).max(1))
    }

    /// A run this module coded, from its header's fields and its body (a
    /// `packed` short code keeps the header in its own).
    pub fn from_parts(n: usize, l: u32, first: u64, body: &'a [u8]) -> Run<'a> {
        debug_assert!(n >= 1 && l <= 62);
        Run { n: n.max(1), l: l.min(62), first, body }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn first(&self) -> u64 {
        self.first
    }

    /// Low bits per offset.
    pub fn low_width(&self) -> u32 {
        self.l
    }

    /// The bits after the header.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Bytes of the run's code, header and body (its body may be followed
    /// by zeros: a `packed` short code's block).
    pub fn code_len(&self) -> usize {
        let m = (self.n - 1) as u64;
        let bits = m * u64::from(self.l) + high_bits_len(m, self.last_offset(), self.l);
        HEADER + bits.div_ceil(8) as usize
    }

    /// Appends the run's code, header and body, as `encode` writes it.
    pub fn write_code(&self, out: &mut Vec<u8>) {
        let body = &self.body[..(self.code_len() - HEADER).min(self.body.len())];
        out.reserve(HEADER + body.len());
        push_header(out, self.n, self.l, self.first);
        out.extend_from_slice(body);
    }

    fn bit(&self, bit: u64) -> bool {
        self.body.get((bit / 8) as usize).is_some_and(|b| b >> (bit % 8) & 1 == 1)
    }

    /// The low bits of offset `i` (0-based among the n-1 offsets).
    #[inline]
    fn low(&self, i: u64) -> u64 {
        if self.l == 0 {
            return 0;
        }
        read_word(self.body, i * u64::from(self.l)) & low_mask(self.l)
    }

    /// Calls `f` on every ID in ascending order until it returns false.
    pub fn for_each(&self, mut f: impl FnMut(u64) -> bool) {
        if !f(self.first) {
            return;
        }
        let m = (self.n - 1) as u64;
        let low_len = m * u64::from(self.l);
        let mut seen = 0u64;
        // The low bits in order, through a word-sized window.
        let mut lows = BitSource { bytes: self.body, at: 0, width: self.l };
        // Scan the unary high parts 64 bits at a time: each set bit is one ID.
        let mut at = low_len;
        let end = self.body.len() as u64 * 8;
        while seen < m && at < end {
            let mut word = read_word(self.body, at);
            if word == 0 {
                at += 64;
                continue;
            }
            while word != 0 && seen < m {
                let bit = at + u64::from(word.trailing_zeros());
                let high = bit - low_len - seen;
                let id = self.first + ((high << self.l) | lows.next());
                seen += 1;
                if !f(id) {
                    return;
                }
                word &= word - 1;
            }
            at += 64;
        }
    }

    /// Every ID, ascending, appended to `out`.
    pub fn decode_into(&self, out: &mut Vec<u64>) {
        out.reserve(self.n);
        self.for_each(|id| {
            out.push(id);
            true
        });
    }

    /// Whether `id` is in the run.
    pub fn contains(&self, id: u64) -> bool {
        if id <= self.first {
            return id == self.first;
        }
        self.search(id - self.first).is_ok()
    }

    /// Where `offset` (> 0) is among the n-1 offsets: `Ok(index)`, or
    /// `Err(insertion index)`. Skips to its bucket of high parts (the offsets
    /// sharing `offset >> l`), then compares low bits there.
    #[inline]
    fn search(&self, offset: u64) -> Result<u64, u64> {
        #[cfg(target_arch = "x86_64")]
        match select::level() {
            // SAFETY: this CPU has POPCNT and a fast PDEP (detected), the
            // features `search_pdep` is compiled for.
            Level::Pdep => return unsafe { self.search_pdep(offset) },
            // SAFETY: this CPU has POPCNT (detected), the one feature
            // `search_popcnt` is compiled for.
            Level::Popcnt => return unsafe { self.search_popcnt(offset) },
            Level::Base => {}
        }
        // SAFETY: without PDEP, `search_in` asks nothing of the CPU.
        unsafe { self.search_in::<false>(offset) }
    }

    /// `search` compiled for POPCNT (in every x86-64 CPU since 2008; the
    /// baseline target lacks it, and counting a word's bits without it takes
    /// a dozen instructions, one per high-part word passed).
    ///
    /// # Safety
    /// The CPU must have POPCNT.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn search_popcnt(&self, offset: u64) -> Result<u64, u64> {
        // SAFETY: without PDEP, `search_in` asks nothing of the CPU.
        unsafe { self.search_in::<false>(offset) }
    }

    /// `search` compiled for POPCNT and BMI2, selecting by PDEP.
    ///
    /// # Safety
    /// The CPU must have POPCNT and BMI2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt,bmi2")]
    unsafe fn search_pdep(&self, offset: u64) -> Result<u64, u64> {
        // SAFETY: the caller's contract: this CPU has BMI2.
        unsafe { self.search_in::<true>(offset) }
    }

    /// The search, selecting by PDEP when `PDEP`.
    ///
    /// # Safety
    /// With `PDEP`, the CPU must have BMI2.
    #[inline(always)]
    unsafe fn search_in<const PDEP: bool>(&self, offset: u64) -> Result<u64, u64> {
        let (high, low) = (offset >> self.l, offset & low_mask(self.l));
        let m = (self.n - 1) as u64;
        let low_len = m * u64::from(self.l);
        // Zeros end buckets: the offsets with high part `high` are the ones
        // that follow the high-th zero; `index` counts the ones before it.
        // `bits`: the `valid` bits from `at` on (zeros past them).
        let (mut at, mut index, mut bits, mut valid) = if high == 0 {
            (low_len, 0, read_word(self.body, low_len), 64)
        } else {
            // SAFETY: the caller's contract, passed on.
            let found = unsafe { self.select::<PDEP>(low_len, high, Bit::Zero) };
            let Some((zero, word)) = found else { return Err(m) };
            // Before the zero lie high - 1 zeros and `index` ones; its word
            // holds the bits after it up to the word's end.
            let pos = zero % 64;
            (zero + 1, (zero - low_len).saturating_sub(high - 1), (word >> pos) >> 1, 63 - pos)
        };
        // The bucket: the ones from `at`, whose offsets `index`.. ascend
        // (bits past the body read as zeros and end it).
        loop {
            let ones = u64::from(bits.trailing_ones());
            for _ in 0..ones.min(m.saturating_sub(index)) {
                let l = self.low(index);
                if l >= low {
                    return if l == low { Ok(index) } else { Err(index) };
                }
                index += 1;
            }
            if ones < valid || index >= m {
                return Err(index.min(m));
            }
            at += ones;
            (bits, valid) = (read_word(self.body, at), 64);
        }
    }

    /// The body's bit position of the `rank`-th (1-based) `bit` at or past
    /// bit `from`, and the bits of its 8-byte word (those below `from` read
    /// as the other bit): counted over whole words of the body, one load and
    /// one count each. None past the body. Bits past the body read as
    /// zeros: a zero's rank past the code's own lands after all its ones.
    ///
    /// # Safety
    /// With `PDEP`, the CPU must have BMI2.
    #[inline(always)]
    unsafe fn select<const PDEP: bool>(
        &self,
        from: u64,
        rank: u64,
        bit: Bit,
    ) -> Option<(u64, u64)> {
        debug_assert!(rank > 0);
        // The wanted bits as ones.
        let flip = match bit {
            Bit::One => 0,
            Bit::Zero => u64::MAX,
        };
        let mut w = (from / 64) as usize;
        let mut found = (self.word(w)? ^ flip) & (u64::MAX << (from % 64));
        let mut need = rank;
        loop {
            let here = u64::from(found.count_ones());
            if here >= need {
                // SAFETY: the caller's contract, passed on.
                let pos =
                    u64::from(unsafe { select::select64_by::<PDEP>(found, (need - 1) as u32) });
                return Some((w as u64 * 64 + pos, found ^ flip));
            }
            need -= here;
            w += 1;
            found = self.word(w)? ^ flip;
        }
    }

    /// The body's `w`-th 8-byte word (its last, short one padded with
    /// zeros); None past the body.
    #[inline(always)]
    fn word(&self, w: usize) -> Option<u64> {
        let at = w * 8;
        match self.body.get(at..at + 8) {
            Some(chunk) => Some(word_of(chunk)),
            None if at < self.body.len() => Some(tail_word(self.body, self.body.len() - at)),
            None => None,
        }
    }

    /// Offset `i` (0-based among the n-1 offsets; i < n-1).
    fn offset(&self, i: u64) -> u64 {
        let low_len = (self.n - 1) as u64 * u64::from(self.l);
        // Its one among the high parts: the (i+1)-th, after `i` ones.
        // SAFETY: without PDEP, `select` asks nothing of the CPU.
        match unsafe { self.select::<false>(low_len, i + 1, Bit::One) } {
            Some((one, _)) => ((one - low_len - i) << self.l) | self.low(i),
            None => 0,
        }
    }

    /// The largest ID (found from the end of the code, without decoding).
    pub fn last(&self) -> u64 {
        self.first + self.last_offset()
    }

    /// The largest offset (0 for a run of one ID).
    fn last_offset(&self) -> u64 {
        let m = (self.n - 1) as u64;
        if m == 0 {
            return 0;
        }
        let low_len = m * u64::from(self.l);
        // The last set bit of the body is the last offset's unary one.
        let Some((byte, b)) = self.body.iter().enumerate().rev().find(|(_, b)| **b != 0) else {
            return 0;
        };
        let bit = byte as u64 * 8 + u64::from(7 - b.leading_zeros());
        let high = bit.saturating_sub(low_len + m - 1);
        (high << self.l) | self.low(m - 1)
    }
}

/// How an insert or a remove changes a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing to do: the ID is there (insert) or absent (remove).
    Unchanged,
    /// The run cannot take it: full (u16::MAX IDs, insert), or the ID is
    /// its only one (remove: a run holds at least one).
    Refused,
    /// Every offset moves (a new first ID) or the low-bit width changes:
    /// the run is re-coded from its IDs.
    Recode,
    /// The first ID and the width stay: the bits move around the ID, in
    /// place (`apply`).
    Shift(Shift),
}

/// An edit that moves the bits of a run around one ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    /// Inserting (or removing) the ID.
    pub insert: bool,
    /// The ID's index among the offsets, and its offset.
    k: u64,
    offset: u64,
    /// The run's largest offset before and after.
    max_old: u64,
    max_new: u64,
    /// Bytes of the new code, and its IDs.
    pub len: usize,
    pub n: usize,
}

impl Shift {
    /// The run's largest offset after the edit.
    pub fn max_offset(&self) -> u64 {
        self.max_new
    }
}

/// How inserting `id` changes `run`. An ID above the last needs no search.
pub fn plan_insert(run: &Run<'_>, id: u64) -> Edit {
    match plan_toggle(run, id) {
        (true, _) => Edit::Unchanged,
        (false, edit) => edit,
    }
}

/// How removing `id` changes `run`.
pub fn plan_remove(run: &Run<'_>, id: u64) -> Edit {
    match plan_toggle(run, id) {
        (true, edit) => edit,
        (false, _) => Edit::Unchanged,
    }
}

/// Whether `id` is in `run`, and how removing it (when it is) or
/// inserting it (when not) changes the run: one search for either edit
/// (LIKE.TOGGLE).
pub fn plan_toggle(run: &Run<'_>, id: u64) -> (bool, Edit) {
    let max_old = run.last_offset();
    if id == run.first {
        return (true, removal(run, id, None, max_old));
    }
    let m = (run.n - 1) as u64;
    let offset = id.wrapping_sub(run.first);
    let k = if id < run.first {
        0
    } else if offset > max_old {
        m
    } else {
        match run.search(offset) {
            Ok(k) => return (true, removal(run, id, Some(k), max_old)),
            Err(k) => k,
        }
    };
    if run.n >= usize::from(u16::MAX) {
        return (false, Edit::Refused);
    }
    let max_new = max_old.max(offset);
    if id < run.first || low_bits(m + 1, max_new) != run.l {
        return (false, Edit::Recode);
    }
    let bits = (m + 1) * u64::from(run.l) + high_bits_len(m + 1, max_new, run.l);
    let len = HEADER + bits.div_ceil(8) as usize;
    (false, Edit::Shift(Shift { insert: true, k, offset, max_old, max_new, len, n: run.n + 1 }))
}

/// How removing `id`, which the run holds at offset index `k` (None: its
/// first ID), changes it; `max_old` is the run's largest offset.
fn removal(run: &Run<'_>, id: u64, k: Option<u64>, max_old: u64) -> Edit {
    let m = (run.n - 1) as u64;
    let Some(k) = k else {
        return if m == 0 { Edit::Refused } else { Edit::Recode };
    };
    let offset = id - run.first;
    // Removing the last offset lowers the largest one to its predecessor's.
    let max_new = if k + 1 < m {
        max_old
    } else if k > 0 {
        run.offset(k - 1)
    } else {
        0
    };
    if low_bits(m - 1, max_new) != run.l {
        return Edit::Recode;
    }
    let bits = (m - 1) * u64::from(run.l) + high_bits_len(m - 1, max_new, run.l);
    let len = HEADER + bits.div_ceil(8) as usize;
    Edit::Shift(Shift { insert: false, k, offset, max_old, max_new, len, n: run.n - 1 })
}

/// Applies `shift`, planned on the code at the start of `buf`, in place.
/// `buf` holds the old code and the new one (both lengths), zeros past the
/// old code; after, its first `shift.len` bytes are the new code (a remove
/// leaves bytes past them, which are not the code's).
pub fn apply(buf: &mut [u8], shift: &Shift) {
    let l = u32::from(buf[2]);
    apply_to_body(&mut buf[HEADER..], l, shift);
    buf[..2].copy_from_slice(&(shift.n as u16).to_le_bytes());
}

/// Applies `shift`, planned on a run of low-bit width `l`, to the run's
/// body (the bits after its header) in place: `body` holds the old body and
/// the new one, zeros past the old one (and keeps zeros past the new one).
pub fn apply_to_body(body: &mut [u8], l: u32, shift: &Shift) {
    let Shift { insert, k, offset, max_old, n, len, .. } = *shift;
    let l = u64::from(l);
    // The old run's offsets: one ID fewer than now for an insert, one more for a remove.
    let m = if insert { n as u64 - 2 } else { n as u64 };
    let low_len = m * l;
    // Where the ID's one is (or goes) among the old high parts.
    let one = low_len + (offset >> l) + k;
    if insert {
        // The ID's low bits go in at index k; then its one, which the
        // low bits pushed up by l, goes in among the high parts.
        let body = &mut body[..len - HEADER];
        if l > 0 {
            insert_bits(body, k * l, l, offset & low_mask(l as u32));
        }
        insert_bits(body, one + l, 1, 1);
    } else {
        // The one goes first (it lies above the low bits), then the low bits.
        let old_bits = low_len + high_bits_len(m, max_old, l as u32);
        let body = &mut body[..old_bits.div_ceil(8) as usize];
        remove_bits(body, one, 1);
        if l > 0 {
            remove_bits(body, k * l, l);
        }
    }
}

/// An 8-byte chunk as a little-endian word.
#[inline(always)]
fn word_of(chunk: &[u8]) -> u64 {
    u64::from_le_bytes(chunk.try_into().unwrap_or_default())
}

/// The last `t` (0 ..= 7) bytes of `bytes`, as the low bytes of a word: one
/// load of its last eight bytes where it has them.
#[inline(always)]
fn tail_word(bytes: &[u8], t: usize) -> u64 {
    match bytes.last_chunk::<8>() {
        Some(last) if t > 0 => u64::from_le_bytes(*last) >> (64 - 8 * t),
        Some(_) => 0,
        None => bytes[bytes.len() - t..].iter().rev().fold(0, |word, &b| word << 8 | u64::from(b)),
    }
}

/// Sets the last `t` (0 ..= 7) bytes of `bytes` to the low bytes of `word`
/// (the rest of it must be zeros: bits past the code).
#[inline(always)]
fn set_tail_word(bytes: &mut [u8], t: usize, word: u64) {
    debug_assert!(t < 8 && word >> (8 * t) == 0, "set bits past the code");
    let len = bytes.len();
    match bytes.last_chunk_mut::<8>() {
        Some(last) if t > 0 => {
            let keep = low_mask(64 - 8 * t as u32);
            *last = ((u64::from_le_bytes(*last) & keep) | word << (64 - 8 * t)).to_le_bytes();
        }
        Some(_) => {}
        None => {
            for (i, b) in bytes[len - t..].iter_mut().enumerate() {
                *b = (word >> (8 * i)) as u8;
            }
        }
    }
}

/// Inserts the low `width` (1 ..= 63) bits of `value` at bit `at` of
/// `bytes`: every bit from `at` up moves up by `width`, and the top `width`
/// bits, which must be zeros, drop out. One pass up the 8-byte words from
/// `at`'s (a shorter one last), each read before it is written and its
/// top bits carried into the next.
fn insert_bits(bytes: &mut [u8], at: u64, width: u64, value: u64) {
    debug_assert!((1..64).contains(&width) && at < bytes.len() as u64 * 8);
    let from = (at / 64) as usize * 8;
    if from >= bytes.len() {
        return;
    }
    let t = (bytes.len() - from) % 8;
    let (s, keep) = (at % 64, low_mask((at % 64) as u32));
    // The first word: its bits below `at` stay, the value goes in at `at`.
    let first = |word: u64| {
        let moved =
            (u128::from(word & !keep) << width) | (u128::from(value & low_mask(width as u32)) << s);
        ((word & keep) | moved as u64, (moved >> 64) as u64)
    };
    let next = |word: u64, carry: u64| ((word << width) | carry, word >> (64 - width));
    let mut words = bytes[from..].chunks_exact_mut(8);
    let carry = match words.next() {
        Some(head) => {
            let (word, mut carry) = first(word_of(head));
            head.copy_from_slice(&word.to_le_bytes());
            for w in words {
                let (word, c) = next(word_of(w), carry);
                w.copy_from_slice(&word.to_le_bytes());
                carry = c;
            }
            if t > 0 {
                let (word, c) = next(tail_word(bytes, t), carry);
                set_tail_word(bytes, t, word);
                carry = c;
            }
            carry
        }
        None => {
            let (word, carry) = first(tail_word(bytes, t));
            set_tail_word(bytes, t, word & low_mask(8 * t as u32));
            carry | word >> (8 * t)
        }
    };
    debug_assert_eq!(carry, 0, "bits pushed past the code");
}

/// Removes bits [at, at + width) (width 1 ..= 63) of `bytes`: every bit
/// above moves down by `width`, and zeros fill the top. One pass down the
/// 8-byte words to `at`'s (a shorter one first), each read before it is
/// written and its low bits carried to the top of the one below.
fn remove_bits(bytes: &mut [u8], at: u64, width: u64) {
    debug_assert!((1..64).contains(&width) && at < bytes.len() as u64 * 8);
    let from = (at / 64) as usize * 8;
    if from >= bytes.len() {
        return;
    }
    let t = (bytes.len() - from) % 8;
    let keep = low_mask((at % 64) as u32);
    let next = |word: u64, carry: u64| ((word >> width) | carry, word << (64 - width));
    // The first word: its bits below `at` stay.
    let first = |word: u64, carry: u64| (word & keep) | (next(word, carry).0 & !keep);
    if bytes.len() - from < 8 {
        let word = first(tail_word(bytes, t), 0);
        set_tail_word(bytes, t, word);
        return;
    }
    let mut carry = 0;
    if t > 0 {
        let (word, c) = next(tail_word(bytes, t), 0);
        set_tail_word(bytes, t, word);
        carry = c;
    }
    let mut words = bytes[from..].chunks_exact_mut(8);
    if let Some(head) = words.next() {
        for w in words.rev() {
            let (word, c) = next(word_of(w), carry);
            w.copy_from_slice(&word.to_le_bytes());
            carry = c;
        }
        head.copy_from_slice(&first(word_of(head), carry).to_le_bytes());
    }
}

/// Inserts `id` into the run coded in `code`, writing the new code to `out`:
/// the bits moved around it when the width and the first ID stay, else
/// re-coded. `Some(true)` when added, `Some(false)` when present, `None`
/// when the run is full (u16::MAX IDs).
#[cfg(test)]
pub fn insert(code: &[u8], id: u64, out: &mut Vec<u8>) -> Option<bool> {
    let run = Run::trusted(code);
    write_edit(&run, id, false, plan_insert(&run, id), out)
}

/// Removes `id` from the run coded in `code`, writing the new code to
/// `out`, as `insert` does. `Some(true)` when removed, `Some(false)` when
/// absent, `None` when `id` is the run's only ID (a run holds at least one).
#[cfg(test)]
pub fn remove(code: &[u8], id: u64, out: &mut Vec<u8>) -> Option<bool> {
    let run = Run::trusted(code);
    write_edit(&run, id, true, plan_remove(&run, id), out)
}

/// Writes to `out` the code `edit` (planned for removing `id` when
/// `removing`, else for inserting it) makes of `run`.
pub fn write_edit(
    run: &Run<'_>,
    id: u64,
    removing: bool,
    edit: Edit,
    out: &mut Vec<u8>,
) -> Option<bool> {
    match edit {
        Edit::Unchanged => Some(false),
        Edit::Refused => None,
        Edit::Recode => {
            recode(run, out, |ids| {
                let k = ids.partition_point(|&x| x < id);
                if removing {
                    debug_assert_eq!(ids.get(k), Some(&id));
                    ids.remove(k);
                } else {
                    ids.insert(k, id);
                }
            });
            Some(true)
        }
        Edit::Shift(shift) => {
            apply_to_copy(run, &shift, out);
            Some(true)
        }
    }
}

/// Writes to `out` the code `shift` makes of `run`.
fn apply_to_copy(run: &Run<'_>, shift: &Shift, out: &mut Vec<u8>) {
    out.clear();
    run.write_code(out);
    out.resize(shift.len.max(out.len()), 0);
    apply(out, shift);
    out.truncate(shift.len);
}

/// Writes to `out` the code of the run's IDs changed by `edit` (which keeps
/// them strictly ascending and leaves at least one): for the edits that move
/// every offset or change the low-bit width.
fn recode(run: &Run<'_>, out: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<u64>)) {
    with_reused(&IDS, |ids| {
        run.decode_into(ids);
        edit(ids);
        out.clear();
        encode(ids, out);
    });
}

/// `encoded_len` from the count and the extremes alone.
pub fn encoded_len_of(n: u64, first: u64, last: u64) -> usize {
    let m = n - 1;
    let l = low_bits(m, last - first);
    HEADER + (m * u64::from(l) + high_bits_len(m, last - first, l)).div_ceil(8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: u64 = i64::MAX as u64;

    /// An ID of the edit tests: small (dense runs) or 40-bit (sparse).
    fn run_id() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..2000, 0u64..(1 << 40)]
    }

    /// Strictly ascending IDs of `run_id`, at least `min` and under 300.
    fn run_ids(min: usize) -> impl Strategy<Value = Vec<u64>> {
        prop::collection::btree_set(run_id(), min..300).prop_map(|ids| ids.into_iter().collect())
    }

    fn coded(ids: &[u64]) -> Vec<u8> {
        let mut code = Vec::new();
        encode(ids, &mut code);
        code
    }

    fn round_trip(ids: &[u64]) {
        let mut buf = Vec::new();
        encode(ids, &mut buf);
        assert_eq!(buf.len(), encoded_len(ids));
        let (run, len) = Run::parse(&buf, MAX).expect("valid run");
        assert_eq!(len, buf.len());
        let mut back = Vec::new();
        run.decode_into(&mut back);
        assert_eq!(back, ids);
        assert_eq!(run.last(), ids[ids.len() - 1]);
        for &id in ids {
            assert!(run.contains(id));
        }
    }

    #[test]
    fn shapes() {
        round_trip(&[0]);
        round_trip(&[MAX]);
        round_trip(&[0, MAX]);
        round_trip(&(0..1000).collect::<Vec<_>>());
        round_trip(&(0..1000).map(|i| i * 4_294_967).collect::<Vec<_>>());
        round_trip(&[5, 6, 7, 1 << 40, (1 << 40) + 1]);
    }

    #[test]
    fn size_is_near_the_bound() {
        // 256 IDs evenly over 2^32: about 2 + 24 bits each.
        let ids: Vec<u64> = (0..256).map(|i| i * (1 << 24) + 12345).collect();
        let bytes = encoded_len(&ids);
        assert!(bytes <= HEADER + 256 * 26 / 8 + 1, "{bytes}");
    }

    proptest! {
        #[test]
        fn round_trips(ids in prop::collection::btree_set(prop_oneof![0u64..1000, 0u64..(1 << 32), 0u64..=MAX], 1..300)) {
            let ids: Vec<u64> = ids.into_iter().collect();
            round_trip(&ids);
        }

        #[test]
        fn insert_in_place_equals_recoding(ids in run_ids(1), id in run_id()) {
            let code = coded(&ids);
            let mut out = Vec::new();
            match insert(&code, id, &mut out) {
                Some(false) => prop_assert!(ids.contains(&id)),
                Some(true) => {
                    prop_assert!(!ids.contains(&id));
                    let mut all = ids.clone();
                    all.push(id);
                    all.sort_unstable();
                    let mut want = Vec::new();
                    encode(&all, &mut want);
                    prop_assert_eq!(out, want);
                }
                None => prop_assert!(false, "only a full run refuses an insert"),
            }
        }

        #[test]
        fn every_search_finds_what_a_sorted_list_does(ids in run_ids(1), probes in prop::collection::vec(run_id(), 1..50)) {
            // Each build this CPU can run (the baseline's, POPCNT's, PDEP's)
            // places an offset where a binary search of the offsets does.
            let code = coded(&ids);
            let run = Run::trusted(&code);
            let offsets: Vec<u64> = ids[1..].iter().map(|&id| id - ids[0]).collect();
            let near = offsets.iter().flat_map(|&o| [o - 1, o, o.saturating_add(1)]);
            for offset in probes.into_iter().chain(near).filter(|&o| o > 0) {
                let want = offsets.binary_search(&offset).map(|i| i as u64).map_err(|i| i as u64);
                prop_assert_eq!(run.search(offset), want);
                // SAFETY: without PDEP, `search_in` asks nothing of the CPU.
                prop_assert_eq!(unsafe { run.search_in::<false>(offset) }, want);
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("popcnt") && std::arch::is_x86_feature_detected!("bmi2") {
                    // SAFETY: this CPU has POPCNT and BMI2 (just checked).
                    prop_assert_eq!(unsafe { run.search_pdep(offset) }, want);
                }
            }
        }

        #[test]
        fn offsets_read_back(ids in run_ids(2)) {
            let code = coded(&ids);
            let run = Run::trusted(&code);
            for (i, &id) in ids[1..].iter().enumerate() {
                prop_assert_eq!(run.first() + run.offset(i as u64), id);
            }
        }

        #[test]
        fn bits_go_in_and_out_exactly(
            bytes in prop::collection::vec(any::<u8>(), 1..48),
            at in any::<prop::sample::Index>(), width in 1u64..64, value in any::<u64>(),
        ) {
            let width = width.min(bytes.len() as u64 * 8 - 1).max(1);
            // The model: the bits as booleans, from bit 0 up.
            let bits = |b: &[u8]| -> Vec<bool> { (0..b.len() * 8).map(|i| b[i / 8] >> (i % 8) & 1 == 1).collect() };
            let total = bytes.len() * 8;
            let at = at.index(total - width as usize + 1);
            // The top `width` bits are zeros, as past a code.
            let mut start = bytes;
            for i in total - width as usize..total {
                start[i / 8] &= !(1 << (i % 8));
            }
            let mut want = bits(&start);
            for j in 0..width {
                want.insert(at + j as usize, value >> j & 1 == 1);
            }
            want.truncate(total);
            let mut got = start.clone();
            insert_bits(&mut got, at as u64, width, value);
            prop_assert_eq!(bits(&got), want);
            // Removing them gives the start back.
            remove_bits(&mut got, at as u64, width);
            prop_assert_eq!(&got, &start);
            // And removing from the start drops its bits there, zeros at the top.
            let mut want = bits(&start);
            want.drain(at..at + width as usize);
            want.resize(total, false);
            remove_bits(&mut start, at as u64, width);
            prop_assert_eq!(bits(&start), want);
        }

        #[test]
        fn toggle_plans_the_insert_or_the_remove(
            ids in run_ids(1), pick in any::<prop::sample::Index>(), absent in run_id(),
        ) {
            let code = coded(&ids);
            for id in [ids[pick.index(ids.len())], ids[0], absent] {
                let present = ids.contains(&id);
                let run = Run::trusted(&code);
                let want = if present { plan_remove(&run, id) } else { plan_insert(&run, id) };
                prop_assert_eq!(plan_toggle(&run, id), (present, want));
            }
        }

        #[test]
        fn remove_in_place_equals_recoding(
            ids in run_ids(1), pick in any::<prop::sample::Index>(), absent in run_id(),
        ) {
            let code = coded(&ids);
            let mut out = Vec::new();
            for id in [ids[pick.index(ids.len())], absent] {
                match remove(&code, id, &mut out) {
                    Some(false) => prop_assert!(!ids.contains(&id)),
                    Some(true) => {
                        let rest: Vec<u64> = ids.iter().copied().filter(|&x| x != id).collect();
                        prop_assert!(rest.len() + 1 == ids.len());
                        let mut want = Vec::new();
                        encode(&rest, &mut want);
                        prop_assert_eq!(&out, &want);
                    }
                    None => prop_assert!(ids == [id]),
                }
            }
        }

        #[test]
        fn corrupt_runs_are_refused_or_sane(
            ids in prop::collection::btree_set(0u64..(1 << 40), 1..100),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let ids: Vec<u64> = ids.into_iter().collect();
            let mut buf = Vec::new();
            encode(&ids, &mut buf);
            prop_assert!(Run::parse(&buf[..cut.index(buf.len())], MAX).is_err());
            for (at, x) in &flips {
                let i = at.index(buf.len());
                buf[i] ^= x | 1;
            }
            if let Ok((run, len)) = Run::parse(&buf, MAX) {
                prop_assert!(len <= buf.len());
                let mut back = Vec::new();
                run.decode_into(&mut back);
                prop_assert_eq!(back.len(), run.len());
                prop_assert!(back.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(back.iter().all(|&id| id <= MAX));
                // Canonical: re-encoding gives the same bytes.
                let mut again = Vec::new();
                encode(&back, &mut again);
                prop_assert_eq!(&again[..], &buf[..len]);
            }
        }
    }
}
