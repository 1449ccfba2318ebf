//! Module-wide counters for INFO (keys, likes, reactions, keys per encoding
//! and of reaction tables, bytes). Atomics: values are also freed by Redis's
//! lazy-free thread.

use std::ffi::CStr;
use std::sync::atomic::{AtomicI64, Ordering};

use super::alloc::MODULE_BYTES;
use crate::likeset::Encoding;
use crate::reactions::{Reactions, LIKE};

/// Keys per form: like-only keys per encoding, indexed like `Encoding::ALL`,
/// then keys with a reaction table at `TABLE`.
static KEYS: [AtomicI64; 8] = [const { AtomicI64::new(0) }; 8];
const TABLE: usize = Encoding::ALL.len();
const _: () = assert!(TABLE < KEYS.len(), "one key counter per encoding and one for tables");
static LIKES: AtomicI64 = AtomicI64::new(0);
static REACTIONS: AtomicI64 = AtomicI64::new(0);

/// A value came to exist.
pub fn added(value: &Reactions) {
    changed(Summary::NONE, Summary::of(value));
}

/// A value is going away.
pub fn removed(value: &Reactions) {
    changed(Summary::of(value), Summary::NONE);
}

/// A value's form, likes and reactions of every kind (0 reactions: no
/// value), to account by difference.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    form: usize,
    likes: u64,
    reactions: u64,
}

impl Summary {
    const NONE: Summary = Summary { form: 0, likes: 0, reactions: 0 };

    pub fn of(value: &Reactions) -> Summary {
        match value {
            Reactions::Likes(set) => {
                let likes = set.len();
                Summary { form: set.encoding() as usize, likes, reactions: likes }
            }
            // This runs twice per write: the counts in O(kinds), and only
            // the name `like` looked up (not every kind's name).
            Reactions::Table(_) => {
                Summary { form: TABLE, likes: value.count(LIKE), reactions: value.count_all() }
            }
        }
    }
}

fn delta(after: u64, before: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX)
}

/// A value changed from `before` to `after` (no atomic write when nothing did).
pub fn changed(before: Summary, after: Summary) {
    if before == after {
        return;
    }
    LIKES.fetch_add(delta(after.likes, before.likes), Ordering::Relaxed);
    REACTIONS.fetch_add(delta(after.reactions, before.reactions), Ordering::Relaxed);
    if before.form != after.form || before.reactions == 0 || after.reactions == 0 {
        if before.reactions > 0 {
            KEYS[before.form].fetch_sub(1, Ordering::Relaxed);
        }
        if after.reactions > 0 {
            KEYS[after.form].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Calls `field` for each INFO field of section `like_stats`: `keys`,
/// `likes`, `reactions` (of every kind), `keys_<encoding>` for every
/// encoding of like-only keys, `keys_table`, `memory_bytes`.
pub fn fields(mut field: impl FnMut(&CStr, i64)) {
    let keys: Vec<i64> = KEYS[..=TABLE].iter().map(|n| n.load(Ordering::Relaxed)).collect();
    field(c"keys", keys.iter().sum());
    field(c"likes", LIKES.load(Ordering::Relaxed));
    field(c"reactions", REACTIONS.load(Ordering::Relaxed));
    for (e, n) in Encoding::ALL.iter().zip(&keys) {
        // INFO field names take underscores: `keys_elias_fano`.
        let name = std::ffi::CString::new(format!("keys_{}", e.name().replace('-', "_")))
            .unwrap_or_default();
        field(&name, *n);
    }
    field(c"keys_table", keys[TABLE]);
    field(c"memory_bytes", i64::try_from(MODULE_BYTES.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
}
