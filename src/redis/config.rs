//! Module configuration (Redis 7 module configs: `CONFIG SET like.packed-max N`,
//! or `loadmodule liblike.so packed-max N`).

use std::sync::atomic::{AtomicI64, Ordering};

use crate::likeset::{Policy, DEFAULT_PACKED_MAX};

/// Most IDs a set keeps in the packed encoding (see likeset::Policy).
pub static PACKED_MAX: AtomicI64 = AtomicI64::new(DEFAULT_PACKED_MAX as i64);
pub const PACKED_MAX_MIN: i64 = 16;
pub const PACKED_MAX_MAX: i64 = 1 << 20;

pub fn policy() -> Policy {
    Policy { packed_max: PACKED_MAX.load(Ordering::Relaxed).clamp(PACKED_MAX_MIN, PACKED_MAX_MAX) as usize }
}
