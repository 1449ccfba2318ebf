//! Thin wrappers over the raw Redis module API used by the command layer:
//! replies, argument bytes, key access, replication and notifications.
//! Raw calls (not redis-module's `Context`) keep the hot path free of
//! allocation: no `Vec<RedisString>` of arguments, no `RedisValue` trees.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};

use redis_module::raw;

use crate::likeset::LikeSet;
use crate::stats;
use crate::type_callbacks::like_type;

pub type RawCtx = *mut raw::RedisModuleCtx;
pub type RawString = *mut raw::RedisModuleString;

/// A command's failure, replied as an error.
#[derive(Debug)]
pub enum CmdError {
    WrongType,
    Message(String),
}

impl CmdError {
    pub fn msg(s: impl Into<String>) -> CmdError {
        CmdError::Message(s.into())
    }
}

pub type CmdResult = Result<(), CmdError>;

// The API function pointers are filled by RedisModule_Init before any command
// runs; a missing one means a server without the 7.0 API (see unreachable_api).
macro_rules! api {
    ($name:ident) => {
        {
            #[allow(unused_unsafe)]
            let f = unsafe { raw::$name };
            match f {
                Some(f) => f,
                None => unreachable_api(stringify!($name)),
            }
        }
    };
}

#[cold]
fn unreachable_api(name: &str) -> ! {
    // Only reachable on a server without the Redis 7.0 module API, where
    // loading already failed; aborting beats undefined behaviour.
    eprintln!("like module: Redis module API {name} missing");
    std::process::abort()
}

pub struct Ctx(pub RawCtx);

impl Ctx {
    pub fn reply_i64(&self, v: i64) {
        unsafe { api!(RedisModule_ReplyWithLongLong)(self.0, v) };
    }

    pub fn reply_u64(&self, v: u64) {
        self.reply_i64(i64::try_from(v).unwrap_or(i64::MAX));
    }

    pub fn reply_array(&self, len: usize) {
        unsafe { api!(RedisModule_ReplyWithArray)(self.0, len as std::os::raw::c_long) };
    }

    pub fn reply_postponed_array(&self) {
        unsafe { api!(RedisModule_ReplyWithArray)(self.0, raw::REDISMODULE_POSTPONED_ARRAY_LEN as std::os::raw::c_long) };
    }

    pub fn set_array_len(&self, len: usize) {
        unsafe { api!(RedisModule_ReplySetArrayLength)(self.0, len as std::os::raw::c_long) };
    }

    /// A map of `pairs` field/value pairs: a RESP3 map, a flat array under RESP2.
    pub fn reply_map(&self, pairs: usize) {
        match unsafe { raw::RedisModule_ReplyWithMap } {
            Some(f) => {
                unsafe { f(self.0, pairs as std::os::raw::c_long) };
            }
            None => self.reply_array(pairs * 2),
        }
    }

    pub fn reply_str(&self, s: &str) {
        unsafe { api!(RedisModule_ReplyWithStringBuffer)(self.0, s.as_ptr() as *const c_char, s.len()) };
    }

    pub fn reply_error(&self, e: &CmdError) {
        match e {
            CmdError::WrongType => unsafe { api!(RedisModule_ReplyWithError)(self.0, raw::REDISMODULE_ERRORMSG_WRONGTYPE.as_ptr() as *const c_char) },
            CmdError::Message(m) => {
                let c = CString::new(m.replace('\0', "\\0")).unwrap_or_default();
                unsafe { api!(RedisModule_ReplyWithError)(self.0, c.as_ptr()) }
            }
        };
    }

    pub fn wrong_arity(&self) {
        unsafe { api!(RedisModule_WrongArity)(self.0) };
    }

    /// True while loading AOF/RDB: replayed adds are not recent activity.
    pub fn is_loading(&self) -> bool {
        let flags = unsafe { api!(RedisModule_GetContextFlags)(self.0) };
        flags & raw::REDISMODULE_CTX_FLAGS_LOADING as c_int != 0
    }

    pub fn replicate_verbatim(&self) {
        unsafe { api!(RedisModule_ReplicateVerbatim)(self.0) };
    }

    /// Replicates `cmd key user` (a C-string command name).
    pub fn replicate_key_user(&self, cmd: &'static [u8], key: RawString, user: RawString) {
        unsafe { api!(RedisModule_Replicate)(self.0, cmd.as_ptr() as *const c_char, c"ss".as_ptr(), key, user) };
    }

    /// A write changed `key`: keyspace event (generic class) `event`, then
    /// `del` if the key went away, and one WATCH / client-tracking signal.
    pub fn changed(&self, event: &'static [u8], key: RawString, deleted: bool) {
        let notify = |e: &'static [u8]| unsafe {
            api!(RedisModule_NotifyKeyspaceEvent)(self.0, raw::REDISMODULE_NOTIFY_GENERIC, e.as_ptr() as *const c_char, key);
        };
        notify(event);
        if deleted {
            notify(b"del\0");
        }
        unsafe { api!(RedisModule_SignalModifiedKey)(self.0, key) };
    }
}

/// The bytes of a command argument.
pub fn arg_bytes<'a>(s: RawString) -> &'a [u8] {
    let mut len = 0usize;
    let p = unsafe { api!(RedisModule_StringPtrLen)(s, &mut len) };
    if p.is_null() {
        return &[];
    }
    unsafe { std::slice::from_raw_parts(p as *const u8, len) }
}

/// What a key holds.
pub enum Held {
    Nothing,
    /// The like-set's storage word.
    Likes(u64),
}

/// An open key, closed on drop.
pub struct Key {
    key: *mut raw::RedisModuleKey,
}

impl Key {
    pub fn open(ctx: &Ctx, name: RawString, write: bool) -> Key {
        let mode = if write { raw::REDISMODULE_READ | raw::REDISMODULE_WRITE } else { raw::REDISMODULE_READ };
        let key = unsafe { api!(RedisModule_OpenKey)(ctx.0, name, mode as c_int) } as *mut raw::RedisModuleKey;
        Key { key }
    }

    /// What the key holds, or WRONGTYPE.
    pub fn held(&self) -> Result<Held, CmdError> {
        if self.key.is_null() {
            return Ok(Held::Nothing);
        }
        let t = unsafe { api!(RedisModule_KeyType)(self.key) };
        if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int {
            return Ok(Held::Nothing);
        }
        if t == raw::REDISMODULE_KEYTYPE_MODULE as c_int && unsafe { api!(RedisModule_ModuleTypeGetType)(self.key) } == like_type() {
            let word = unsafe { api!(RedisModule_ModuleTypeGetValue)(self.key) } as usize as u64;
            return Ok(Held::Likes(word));
        }
        Err(CmdError::WrongType)
    }

    /// Runs `f` on the like-set, or on None when the key is empty.
    pub fn read<R>(&self, f: impl FnOnce(Option<&LikeSet>) -> R) -> Result<R, CmdError> {
        Ok(match self.held()? {
            Held::Nothing => f(None),
            Held::Likes(w) => unsafe { LikeSet::with_word(w, |s| f(Some(s))) },
        })
    }

    /// Runs `f` on the like-set (a new empty one for an empty key) and stores
    /// the result: a new value, a replaced word, or the key deleted when empty.
    pub fn update<R>(&self, f: impl FnOnce(&mut LikeSet) -> R) -> Result<R, CmdError> {
        match self.held()? {
            Held::Nothing => {
                let mut set = LikeSet::new();
                let r = f(&mut set);
                if !set.is_empty() {
                    stats::added(&set);
                    let word = set.into_word();
                    unsafe { api!(RedisModule_ModuleTypeSetValue)(self.key, like_type(), word as usize as *mut _) };
                }
                Ok(r)
            }
            Held::Likes(old) => {
                let mut word = old;
                let r = unsafe {
                    LikeSet::with_word_mut(&mut word, |s| {
                        let before = stats::Summary::of(s);
                        let r = f(s);
                        stats::changed(before, stats::Summary::of(s));
                        r
                    })
                };
                if word != old {
                    let mut prev = std::ptr::null_mut();
                    // The old word was consumed by with_word_mut: replace without freeing it.
                    unsafe { api!(RedisModule_ModuleTypeReplaceValue)(self.key, like_type(), word as usize as *mut _, &mut prev) };
                }
                if word == 0 {
                    // The value is now the empty word (0): freeing it is a no-op.
                    unsafe { api!(RedisModule_DeleteKey)(self.key) };
                }
                Ok(r)
            }
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.key.is_null() {
            unsafe { api!(RedisModule_CloseKey)(self.key) };
        }
    }
}
