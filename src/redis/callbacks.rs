//! The `extern "C"` callbacks of the like-set Redis data type, all here:
//! RDB load/save, AOF rewrite, MEMORY USAGE, DEBUG DIGEST, COPY, free and
//! free effort (lazy free). The value Redis stores is the like-set's storage
//! word (`LikeSet::into_word`): Redis never looks inside it.

use std::ffi::c_void;
use std::os::raw::c_int;

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::config;
use crate::likeset::codec::{self, CURRENT_VERSION, OLDEST_VERSION};
use crate::likeset::LikeSet;
use crate::stats;

/// Type name: exactly 9 characters.
pub const TYPE_NAME: &str = "like-sets";
/// AOF rewrite emits one LIKE.ADD per this many IDs.
const AOF_CHUNK: usize = 1000;

pub static LIKE_TYPE: RedisType = RedisType::new(
    TYPE_NAME,
    CURRENT_VERSION as i32,
    raw::RedisModuleTypeMethods {
        // Version 4 is what Redis 7.0 knows; later servers read the same fields.
        version: 4,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
        free_effort: Some(free_effort),
        unlink: None,
        copy: Some(copy),
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: None,
    },
);

pub fn like_type() -> *mut raw::RedisModuleType {
    *LIKE_TYPE.raw_type.borrow()
}

fn word(value: *mut c_void) -> u64 {
    value as usize as u64
}

fn log_warning(msg: &str) {
    redis_module::logging::log_warning(msg);
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    let Ok(version) = u32::try_from(encver) else { return std::ptr::null_mut() };
    if !(OLDEST_VERSION..=CURRENT_VERSION).contains(&version) {
        log_warning(&format!("like: cannot load encoding version {version}; this module reads {OLDEST_VERSION} to {CURRENT_VERSION}"));
        return std::ptr::null_mut();
    }
    // HANDLE_IO_ERRORS is set: a failed read flags the IO instead of aborting.
    let Ok(count) = raw::load_unsigned(rdb) else { return std::ptr::null_mut() };
    let Ok(blob) = raw::load_string_buffer(rdb) else { return std::ptr::null_mut() };
    match codec::decode(blob.as_ref(), version, &config::policy()) {
        Ok(set) if set.len() == count => {
            stats::added(&set);
            set.into_word() as usize as *mut c_void
        }
        Ok(_) => {
            log_warning("like: refusing a payload whose count does not match its IDs");
            std::ptr::null_mut()
        }
        Err(e) => {
            log_warning(&format!("like: {e}"));
            std::ptr::null_mut()
        }
    }
}

thread_local! {
    /// Encoding buffer reused across the keys of one save (no allocation per key).
    static SAVE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest buffer kept between saves; a bigger one is freed after use.
const SAVE_BUFFER_KEEP: usize = 1 << 20;

unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    LikeSet::with_word(word(value), |set| {
        let save = |blob: &mut Vec<u8>| {
            blob.clear();
            codec::encode(set, blob);
            raw::save_unsigned(rdb, set.len());
            raw::save_slice(rdb, blob);
        };
        SAVE_BUFFER.with(|buf| match buf.try_borrow_mut() {
            Ok(mut blob) => {
                save(&mut blob);
                if blob.capacity() > SAVE_BUFFER_KEEP {
                    *blob = Vec::new();
                }
            }
            // Not reentrant in practice; never skip a value if it were.
            Err(_) => save(&mut Vec::new()),
        })
    });
}

unsafe extern "C" fn aof_rewrite(aof: *mut raw::RedisModuleIO, key: *mut raw::RedisModuleString, value: *mut c_void) {
    let (Some(emit), Some(create), Some(free_string)) =
        (raw::RedisModule_EmitAOF, raw::RedisModule_CreateStringFromLongLong, raw::RedisModule_FreeString)
    else {
        return;
    };
    LikeSet::with_word(word(value), |set| {
        let mut ids = set.iter().peekable();
        let mut argv: Vec<*mut raw::RedisModuleString> = Vec::with_capacity(AOF_CHUNK);
        while ids.peek().is_some() {
            argv.extend(ids.by_ref().take(AOF_CHUNK).map(|id| create(std::ptr::null_mut(), id as i64)));
            emit(aof, c"LIKE.ADD".as_ptr(), c"sv".as_ptr(), key, argv.as_ptr(), argv.len());
            for s in argv.drain(..) {
                free_string(std::ptr::null_mut(), s);
            }
        }
    });
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    LikeSet::with_word(value as usize as u64, |set| set.heap_bytes())
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    let (Some(add), Some(end)) = (raw::RedisModule_DigestAddLongLong, raw::RedisModule_DigestEndSequence) else { return };
    LikeSet::with_word(word(value), |set| {
        for id in set.iter() {
            add(md, id as i64);
        }
    });
    end(md);
}

unsafe extern "C" fn free(value: *mut c_void) {
    let set = LikeSet::from_word(word(value));
    stats::removed(&set);
    drop(set);
}

unsafe extern "C" fn free_effort(_key: *mut raw::RedisModuleString, value: *const c_void) -> usize {
    LikeSet::with_word(value as usize as u64, |set| set.free_effort())
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    let copy = LikeSet::with_word(value as usize as u64, LikeSet::clone);
    stats::added(&copy);
    copy.into_word() as usize as *mut c_void
}

