//! Module-wide counters for INFO (keys, likes, keys per encoding, bytes).
//! Atomics: values are also freed by Redis's lazy-free thread.

use std::os::raw::c_char;
use std::sync::atomic::{AtomicI64, Ordering};

use redis_module::raw;

use crate::alloc::MODULE_BYTES;
use crate::likeset::{Encoding, LikeSet};

static KEYS: [AtomicI64; 3] = [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)];
static LIKES: AtomicI64 = AtomicI64::new(0);

fn slot(e: Encoding) -> usize {
    match e {
        Encoding::Single => 0,
        Encoding::Packed => 1,
        Encoding::Roaring => 2,
    }
}

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

/// A value changed from `before` to `after` (no atomic write when nothing did).
pub fn changed(before: Summary, after: Summary) {
    if before == after {
        return;
    }
    LIKES.fetch_add(after.1 as i64 - before.1 as i64, Ordering::Relaxed);
    if before.0 != after.0 || before.1 == 0 || after.1 == 0 {
        if before.1 > 0 {
            KEYS[slot(before.0)].fetch_sub(1, Ordering::Relaxed);
        }
        if after.1 > 0 {
            KEYS[slot(after.0)].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The INFO callback: section `like_stats`.
pub extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: std::os::raw::c_int) {
    let (Some(section), Some(field)) = (unsafe { raw::RedisModule_InfoAddSection }, unsafe { raw::RedisModule_InfoAddFieldLongLong }) else {
        return;
    };
    let keys: Vec<i64> = KEYS.iter().map(|k| k.load(Ordering::Relaxed)).collect();
    let fields: [(&[u8], i64); 6] = [
        (b"keys\0", keys.iter().sum()),
        (b"likes\0", LIKES.load(Ordering::Relaxed)),
        (b"keys_single\0", keys[0]),
        (b"keys_packed\0", keys[1]),
        (b"keys_roaring\0", keys[2]),
        (b"memory_bytes\0", MODULE_BYTES.load(Ordering::Relaxed) as i64),
    ];
    unsafe {
        section(ctx, b"stats\0".as_ptr() as *mut c_char);
        for (name, v) in fields {
            field(ctx, name.as_ptr() as *const c_char, v as _);
        }
    }
}
