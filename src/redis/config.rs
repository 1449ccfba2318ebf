//! Module configuration (Redis 7 module configs: `CONFIG SET like.packed-max N`,
//! or `like.packed-max N` in redis.conf after `loadmodule`).

use std::sync::atomic::{AtomicI64, Ordering};

use redis_module::configuration::{register_i64_configuration, ConfigurationFlags};
use redis_module::Context;

use crate::likeset::{Policy, DEFAULT_PACKED_MAX};

/// Most IDs a set keeps in the packed encoding (see likeset::Policy).
static PACKED_MAX: AtomicI64 = AtomicI64::new(DEFAULT_PACKED_MAX as i64);
const PACKED_MAX_MIN: i64 = 16;
const PACKED_MAX_MAX: i64 = 1 << 20;

/// Registers every configuration parameter (from OnLoad).
pub fn register(ctx: &Context) {
    register_i64_configuration(
        ctx,
        "packed-max",
        &PACKED_MAX,
        DEFAULT_PACKED_MAX as i64,
        PACKED_MAX_MIN,
        PACKED_MAX_MAX,
        ConfigurationFlags::DEFAULT,
        None,
    );
}

/// The encoding thresholds now in force.
pub fn policy() -> Policy {
    let packed_max = PACKED_MAX.load(Ordering::Relaxed).clamp(PACKED_MAX_MIN, PACKED_MAX_MAX);
    Policy { packed_max: packed_max as usize }
}
