//! Module-wide counters for INFO (keys, likes, keys per encoding, bytes).
//! Atomics: values are also freed by Redis's lazy-free thread.

use std::ffi::CStr;
use std::sync::atomic::{AtomicI64, Ordering};

use super::alloc::MODULE_BYTES;
use crate::likeset::{Encoding, LikeSet};

/// Keys per encoding, indexed like `Encoding::ALL`.
static KEYS: [AtomicI64; 8] = [const { AtomicI64::new(0) }; 8];
const _: () = assert!(Encoding::ALL.len() <= KEYS.len(), "one key counter per encoding");
static LIKES: AtomicI64 = AtomicI64::new(0);

/// A value came to exist.
pub fn added(set: &LikeSet) {
    changed(Summary::NONE, Summary::of(set));
}

/// A value is going away.
pub fn removed(set: &LikeSet) {
    changed(Summary::of(set), Summary::NONE);
}

/// A value's encoding and size (0 likes: no value), to account by difference.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Summary(Encoding, u64);

impl Summary {
    const NONE: Summary = Summary(Encoding::Single, 0);

    pub fn of(set: &LikeSet) -> Summary {
        Summary(set.encoding(), set.len())
    }
}

fn keys_of(e: Encoding) -> &'static AtomicI64 {
    &KEYS[e as usize]
}

/// A value changed from `before` to `after` (no atomic write when nothing did).
pub fn changed(before: Summary, after: Summary) {
    if before == after {
        return;
    }
    LIKES.fetch_add(after.1 as i64 - before.1 as i64, Ordering::Relaxed);
    if before.0 != after.0 || before.1 == 0 || after.1 == 0 {
        if before.1 > 0 {
            keys_of(before.0).fetch_sub(1, Ordering::Relaxed);
        }
        if after.1 > 0 {
            keys_of(after.0).fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Calls `field` for each INFO field of section `like_stats`: `keys`,
/// `likes`, `keys_<encoding>` for every encoding, `memory_bytes`.
pub fn fields(mut field: impl FnMut(&CStr, i64)) {
    let per_encoding: Vec<(Encoding, i64)> =
        Encoding::ALL.iter().map(|&e| (e, keys_of(e).load(Ordering::Relaxed))).collect();
    field(c"keys", per_encoding.iter().map(|(_, n)| n).sum());
    field(c"likes", LIKES.load(Ordering::Relaxed));
    for (e, n) in per_encoding {
        // INFO field names take underscores: `keys_elias_fano`.
        let name = std::ffi::CString::new(format!("keys_{}", e.name().replace('-', "_")))
            .unwrap_or_default();
        field(&name, n);
    }
    field(c"memory_bytes", i64::try_from(MODULE_BYTES.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
}
