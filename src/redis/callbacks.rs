//! Every `extern "C"` callback Redis calls, apart from the command entry
//! points (generated in `command_table`): the data type's (RDB
//! load/save, AOF rewrite, MEMORY USAGE, DEBUG DIGEST, COPY, free and free
//! effort for lazy free), the INFO section's and the loading event's. The value Redis stores is
//! the value word of `value`: Redis never looks inside it.
//!
//! Redis calls the type callbacks with values this module created; `free`
//! and `free_effort` may run in the lazy-free thread, so they touch nothing
//! but the value and the atomic INFO counters.

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use redis_module::native_types::RedisType;
use redis_module::raw;

use super::value::{from_value, into_value, with_value};
use super::{config, info};
use crate::reactions::codec::{self, CURRENT_VERSION, OLDEST_VERSION};
use crate::reactions::{Reactions, LIKE};

/// Type name: exactly 9 characters.
pub const TYPE_NAME: &str = "like-sets";
/// AOF rewrite emits one LIKE.ADD or REACT.ADD per this many IDs.
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

/// The registered type, read by every command: a plain load, where
/// `LIKE_TYPE`'s RefCell takes a borrow each time.
static LIKE_TYPE_RAW: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(std::ptr::null_mut());

/// Keeps the type `LIKE_TYPE` registered (from OnLoad, which creates the
/// data types before it calls `init`).
pub fn keep_like_type() {
    LIKE_TYPE_RAW.store(*LIKE_TYPE.raw_type.borrow(), Ordering::Relaxed);
}

pub fn like_type() -> *mut raw::RedisModuleType {
    LIKE_TYPE_RAW.load(Ordering::Relaxed)
}

fn log_warning(msg: &str) {
    redis_module::logging::log_warning(msg);
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    let Ok(version) = u32::try_from(encver) else { return std::ptr::null_mut() };
    if !(OLDEST_VERSION..=CURRENT_VERSION).contains(&version) {
        log_warning(&format!(
            "like: cannot load encoding version {version}; \
             this module reads {OLDEST_VERSION} to {CURRENT_VERSION}"
        ));
        return std::ptr::null_mut();
    }
    // HANDLE_IO_ERRORS is set: a failed read flags the IO instead of aborting.
    let Ok(count) = raw::load_unsigned(rdb) else { return std::ptr::null_mut() };
    let Ok(blob) = raw::load_string_buffer(rdb) else { return std::ptr::null_mut() };
    match codec::decode(blob.as_ref(), version, &config::policy()) {
        Ok(value) if value.count_all() == count => {
            info::added(&value);
            into_value(value)
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
    // SAFETY: Redis passes a live value of this type, unchanged during the call.
    unsafe { with_value(value, |set| rdb_save_set(rdb, set)) }
}

fn rdb_save_set(rdb: *mut raw::RedisModuleIO, value: &Reactions) {
    let save = |blob: &mut Vec<u8>| {
        blob.clear();
        codec::encode(value, blob);
        raw::save_unsigned(rdb, value.count_all());
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
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: reading function pointers RedisModule_Init wrote once.
    let (Some(emit), Some(create), Some(free_string)) = (unsafe {
        (
            raw::RedisModule_EmitAOF,
            raw::RedisModule_CreateStringFromLongLong,
            raw::RedisModule_FreeString,
        )
    }) else {
        return;
    };
    let mut argv: Vec<*mut raw::RedisModuleString> = Vec::with_capacity(AOF_CHUNK);
    // LIKE.ADD key id... for the kind `like`, REACT.ADD key kind id... for
    // the others (a user is in one kind: the order of kinds does not matter).
    let flush = |argv: &mut Vec<*mut raw::RedisModuleString>, kind: &[u8]| {
        // SAFETY: `aof` and `key` are what Redis passed; "sv" / "sbv" match
        // the key string, the kind's bytes and length, and the vector of
        // argv.len() strings created below, which are freed right after (a
        // NULL context: not auto-memory).
        unsafe {
            if kind == LIKE {
                emit(aof, c"LIKE.ADD".as_ptr(), c"sv".as_ptr(), key, argv.as_ptr(), argv.len());
            } else {
                emit(
                    aof,
                    c"REACT.ADD".as_ptr(),
                    c"sbv".as_ptr(),
                    key,
                    kind.as_ptr(),
                    kind.len(),
                    argv.as_ptr(),
                    argv.len(),
                );
            }
            for s in argv.drain(..) {
                free_string(std::ptr::null_mut(), s);
            }
        }
    };
    let rewrite = |value: &Reactions| {
        for (kind, set) in value.kind_sets() {
            set.for_each(|id| {
                // SAFETY: creating a string needs no context; IDs fit i64.
                argv.push(unsafe { create(std::ptr::null_mut(), id as i64) });
                if argv.len() == AOF_CHUNK {
                    flush(&mut argv, kind);
                }
            });
            if !argv.is_empty() {
                flush(&mut argv, kind);
            }
        }
    };
    // SAFETY: Redis passes a live value of this type, unchanged during the call.
    unsafe { with_value(value, rewrite) };
}

/// What Redis allocates around every module value and leaves out of MEMORY
/// USAGE: the object (16 bytes) and the module-value pair {type, value} (16),
/// where a native value's MEMORY USAGE counts its object.
const WRAPPER_BYTES: usize = 32;

/// MEMORY USAGE: the value's heap and Redis's wrapper around it (the key's
/// name and dictionary entry Redis adds itself), so that it compares with a
/// native value's and with `used_memory`.
unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: Redis passes a live value of this type.
    WRAPPER_BYTES + unsafe { with_value(value, Reactions::heap_bytes) }
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    // SAFETY: reading function pointers RedisModule_Init wrote once.
    let (Some(add), Some(end)) =
        (unsafe { (raw::RedisModule_DigestAddLongLong, raw::RedisModule_DigestEndSequence) })
    else {
        return;
    };
    // SAFETY: reading a function pointer RedisModule_Init wrote once.
    let Some(add_bytes) = (unsafe { raw::RedisModule_DigestAddStringBuffer }) else { return };
    // SAFETY: Redis passes a live digest and a live value of this type; the
    // kind's bytes are valid for the call.
    unsafe {
        with_value(value, |value| match value {
            // A like-only key digests as it always has: its IDs.
            Reactions::Likes(set) => set.for_each(|id| add(md, id as i64)),
            // Kinds by name, each its name then its IDs: the same reactions
            // give the same digest whatever order the kinds came in.
            Reactions::Table(_) => {
                let mut kinds: Vec<_> = value.kind_sets().collect();
                kinds.sort_unstable_by_key(|&(kind, _)| kind);
                for (kind, set) in kinds {
                    add_bytes(md, kind.as_ptr().cast_mut().cast(), kind.len());
                    set.for_each(|id| add(md, id as i64));
                    end(md);
                }
            }
        });
        end(md);
    }
}

unsafe extern "C" fn free(value: *mut c_void) {
    // SAFETY: Redis frees each value once; the value owns it from here on.
    let value = unsafe { from_value(value) };
    info::removed(&value);
    drop(value);
}

unsafe extern "C" fn free_effort(_key: *mut raw::RedisModuleString, value: *const c_void) -> usize {
    // SAFETY: Redis passes a live value of this type.
    unsafe { with_value(value, Reactions::free_effort) }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes a live value of this type.
    let copy = unsafe { with_value(value, Reactions::clone) };
    info::added(&copy);
    into_value(copy)
}

/// The INFO callback: section `like_stats`.
pub extern "C" fn info_section(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    // SAFETY: reading function pointers RedisModule_Init wrote once.
    let (Some(section), Some(field)) =
        (unsafe { (raw::RedisModule_InfoAddSection, raw::RedisModule_InfoAddFieldLongLong) })
    else {
        return;
    };
    // SAFETY: Redis passes a live INFO context; names are NUL-terminated and copied.
    unsafe { section(ctx, c"stats".as_ptr().cast_mut()) };
    info::fields(|name, v| {
        // SAFETY: as above.
        unsafe { field(ctx, name.as_ptr().cast::<c_char>(), v) };
    });
}

/// Whether Redis is replaying an AOF, the only loading that runs commands
/// (an RDB, or a replica's full sync, loads values): kept by the loading
/// event, so that a write reads it in one load (RedisModule_GetContextFlags
/// computes every flag: about 130 instructions). A replica's async load
/// (repl-diskless-load swapdb) keeps serving commands and leaves it false.
static LOADING_AOF: AtomicBool = AtomicBool::new(false);

pub fn is_loading() -> bool {
    LOADING_AOF.load(Ordering::Relaxed)
}

/// The server event `REDISMODULE_EVENT_LOADING`.
pub unsafe extern "C" fn loading_event(
    _ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    match subevent {
        raw::REDISMODULE_SUBEVENT_LOADING_AOF_START => LOADING_AOF.store(true, Ordering::Relaxed),
        raw::REDISMODULE_SUBEVENT_LOADING_ENDED | raw::REDISMODULE_SUBEVENT_LOADING_FAILED => {
            LOADING_AOF.store(false, Ordering::Relaxed)
        }
        _ => {}
    }
}
