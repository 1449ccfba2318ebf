//! Safe wrappers over the raw Redis module API that the command handlers use:
//! the call's context and arguments, replies, key access, replication and
//! notifications. Raw calls (not redis-module's `Context`) keep the hot path
//! free of allocation: no `Vec<RedisString>` of arguments, no `RedisValue` trees.
//!
//! Lifetimes carry the API's rules: an [`Arg`] lives as long as the command
//! call, a [`Key`] no longer than the [`CommandCtx`] that opened it.

use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_long};
use std::ptr::NonNull;

use redis_module::raw;

use super::callbacks::like_type;
use super::{info, value};
use crate::reactions::Reactions;

/// A command's failure, replied as an error.
#[derive(Debug)]
pub enum CmdError {
    WrongType,
    WrongArity,
    Message(String),
}

impl CmdError {
    pub fn msg(s: impl Into<String>) -> CmdError {
        CmdError::Message(s.into())
    }
}

pub type CmdResult = Result<(), CmdError>;

/// A Redis 7.0 module API function. RedisModule_Init fills every one of them
/// before any command or callback runs, on every server this module loads
/// into (OnLoad refuses servers without them); newer functions are looked up
/// with `raw::RedisModule_X` and checked at the call site instead.
macro_rules! api {
    ($name:ident) => {{
        #[allow(unused_unsafe)]
        // SAFETY: the pointer is written once by RedisModule_Init, before any
        // call reaches this module, and never changes afterwards.
        let f = unsafe { raw::$name };
        match f {
            Some(f) => f,
            None => missing_api(stringify!($name)),
        }
    }};
}

#[cold]
fn missing_api(name: &str) -> ! {
    panic!("Redis module API {name} missing: this server is older than Redis 7.0")
}

/// One argument of the running command, valid for the whole call.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct Arg<'call> {
    string: NonNull<raw::RedisModuleString>,
    _call: PhantomData<&'call raw::RedisModuleString>,
}

impl<'call> Arg<'call> {
    /// The argument's bytes.
    pub fn bytes(self) -> &'call [u8] {
        let mut len = 0usize;
        // SAFETY: `string` is an argument of the running call (see
        // `Arg::slice`); Redis keeps it alive and unmodified until the call
        // returns, which bounds 'call.
        let p = unsafe { api!(RedisModule_StringPtrLen)(self.string.as_ptr(), &mut len) };
        if p.is_null() {
            return &[];
        }
        // SAFETY: StringPtrLen returns the string's buffer and its length;
        // the buffer lives as long as the string (see above).
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
    }

    fn raw(self) -> *mut raw::RedisModuleString {
        self.string.as_ptr()
    }

    /// The arguments of a command call.
    ///
    /// # Safety
    /// `argv` and `argc` must be what Redis passed to the running command,
    /// and the result must not outlive that call.
    pub unsafe fn slice(
        argv: *mut *mut raw::RedisModuleString,
        argc: c_int,
    ) -> &'call [Arg<'call>] {
        match usize::try_from(argc) {
            Ok(n) if n > 0 && !argv.is_null() => {
                // SAFETY: Redis passes `argc` non-null argument pointers;
                // `Arg` is a transparent wrapper of one such pointer.
                unsafe { std::slice::from_raw_parts(argv.cast::<Arg<'call>>(), n) }
            }
            _ => &[],
        }
    }
}

/// The context of one command call.
pub struct CommandCtx {
    ctx: NonNull<raw::RedisModuleCtx>,
}

impl CommandCtx {
    /// # Safety
    /// `ctx` must be the context Redis passed to the running command; the
    /// result must not outlive that call.
    pub unsafe fn new(ctx: *mut raw::RedisModuleCtx) -> Option<CommandCtx> {
        NonNull::new(ctx).map(|ctx| CommandCtx { ctx })
    }

    fn raw(&self) -> *mut raw::RedisModuleCtx {
        self.ctx.as_ptr()
    }

    pub fn reply_i64(&self, v: i64) {
        // SAFETY: a live command context (CommandCtx::new's contract).
        unsafe { api!(RedisModule_ReplyWithLongLong)(self.raw(), v) };
    }

    pub fn reply_u64(&self, v: u64) {
        self.reply_i64(i64::try_from(v).unwrap_or(i64::MAX));
    }

    pub fn reply_bool(&self, v: bool) {
        self.reply_i64(i64::from(v));
    }

    pub fn reply_array(&self, len: usize) {
        let len = c_long::try_from(len).unwrap_or(c_long::MAX);
        // SAFETY: a live command context; the caller replies `len` elements.
        unsafe { api!(RedisModule_ReplyWithArray)(self.raw(), len) };
    }

    /// An array whose length is set afterwards with `set_array_len`.
    pub fn reply_postponed_array(&self) {
        let postponed = raw::REDISMODULE_POSTPONED_ARRAY_LEN as c_long;
        // SAFETY: a live command context; the caller sets the length.
        unsafe { api!(RedisModule_ReplyWithArray)(self.raw(), postponed) };
    }

    pub fn set_array_len(&self, len: usize) {
        let len = c_long::try_from(len).unwrap_or(c_long::MAX);
        // SAFETY: a live command context with a postponed array open.
        unsafe { api!(RedisModule_ReplySetArrayLength)(self.raw(), len) };
    }

    /// A map of `pairs` field/value pairs: a RESP3 map, a flat array under RESP2.
    pub fn reply_map(&self, pairs: usize) {
        // SAFETY: reading a function pointer RedisModule_Init wrote once.
        match unsafe { raw::RedisModule_ReplyWithMap } {
            Some(reply_map) => {
                let pairs = c_long::try_from(pairs).unwrap_or(c_long::MAX);
                // SAFETY: a live command context; the caller replies the pairs.
                unsafe { reply_map(self.raw(), pairs) };
            }
            None => self.reply_array(pairs * 2),
        }
    }

    pub fn reply_str(&self, s: &str) {
        self.reply_bulk(s.as_bytes());
    }

    /// A bulk string of any bytes.
    pub fn reply_bulk(&self, bytes: &[u8]) {
        // SAFETY: a live command context; Redis copies `bytes.len()` bytes.
        unsafe {
            api!(RedisModule_ReplyWithStringBuffer)(
                self.raw(),
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            )
        };
    }

    /// A bulk string, or nil for None.
    pub fn reply_bulk_or_null(&self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.reply_bulk(bytes),
            // SAFETY: a live command context.
            None => unsafe {
                api!(RedisModule_ReplyWithNull)(self.raw());
            },
        }
    }

    pub fn reply_error(&self, e: &CmdError) {
        match e {
            CmdError::WrongArity => {
                // SAFETY: a live command context.
                unsafe { api!(RedisModule_WrongArity)(self.raw()) };
            }
            CmdError::WrongType => {
                let msg = raw::REDISMODULE_ERRORMSG_WRONGTYPE.as_ptr().cast::<c_char>();
                // SAFETY: a live command context; the message is a NUL-terminated constant.
                unsafe { api!(RedisModule_ReplyWithError)(self.raw(), msg) };
            }
            CmdError::Message(m) => {
                let msg = CString::new(m.replace('\0', "\\0")).unwrap_or_default();
                // SAFETY: a live command context; Redis copies the NUL-terminated message.
                unsafe { api!(RedisModule_ReplyWithError)(self.raw(), msg.as_ptr()) };
            }
        }
    }

    /// True while an AOF is replayed: replayed adds are not recent activity.
    pub fn is_loading(&self) -> bool {
        super::callbacks::is_loading()
    }

    /// The server's UNIX time in ms: the time it cached before this command
    /// where it has RM_CachedMicroseconds (7.2+; no clock read), else
    /// RM_Milliseconds. Recent activity needs no finer clock.
    pub fn now_ms(&self) -> u64 {
        // SAFETY: reading a function pointer RedisModule_Init wrote once.
        let micros = match unsafe { raw::RedisModule_CachedMicroseconds } {
            // SAFETY: takes no argument; callable from a command.
            Some(cached) => (unsafe { cached() }) / 1000,
            // SAFETY: as above.
            None => unsafe { api!(RedisModule_Milliseconds)() },
        };
        u64::try_from(micros).unwrap_or(0)
    }

    /// A write changed `key`, and replays as it was called: replicated
    /// verbatim, then `changed`.
    pub fn wrote(&self, event: &'static std::ffi::CStr, key: Arg<'_>, deleted: bool) {
        // SAFETY: a live command context.
        unsafe { api!(RedisModule_ReplicateVerbatim)(self.raw()) };
        self.changed(event, key, deleted);
    }

    /// A write changed `key`: keyspace event (generic class) `event`, then
    /// `del` if the key went away, and one WATCH / client-tracking signal.
    pub fn changed(&self, event: &'static std::ffi::CStr, key: Arg<'_>, deleted: bool) {
        let notify = |e: &'static std::ffi::CStr| {
            // SAFETY: a live command context; the event name is NUL-terminated
            // and `key` is an argument of this call.
            unsafe {
                api!(RedisModule_NotifyKeyspaceEvent)(
                    self.raw(),
                    raw::REDISMODULE_NOTIFY_GENERIC as c_int,
                    e.as_ptr(),
                    key.raw(),
                )
            };
        };
        notify(event);
        if deleted {
            notify(c"del");
        }
        // SAFETY: a live command context; `key` is an argument of this call.
        unsafe { api!(RedisModule_SignalModifiedKey)(self.raw(), key.raw()) };
    }

    /// Opens `name` for reading, or for reading and writing.
    pub fn open_key(&self, name: Arg<'_>, mode: KeyMode) -> Key<'_> {
        let mode = match mode {
            KeyMode::Read => raw::REDISMODULE_READ,
            KeyMode::Write => raw::REDISMODULE_READ | raw::REDISMODULE_WRITE,
        };
        // SAFETY: a live command context and a key name argument of this call;
        // the handle is closed by Key's Drop, within the call ('_ of &self).
        let key = unsafe { api!(RedisModule_OpenKey)(self.raw(), name.raw(), mode as c_int) };
        Key { key: NonNull::new(key.cast::<raw::RedisModuleKey>()), _ctx: PhantomData }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Read,
    Write,
}

/// Runs `f` on the value in `word`, or on None.
///
/// # Safety
/// `word` must be the value word of a key that is open, and stays unchanged
/// while `f` runs.
unsafe fn read_word<R>(word: Option<*mut c_void>, f: impl FnOnce(Option<&Reactions>) -> R) -> R {
    match word {
        None => f(None),
        // SAFETY: the caller's contract: a live value of our type, unchanged
        // while we borrow it.
        Some(word) => unsafe { value::with_value(word, |v| f(Some(v))) },
    }
}

/// A key open for reading, and its value word (`Key::into_value`).
pub struct KeyValue<'ctx> {
    word: Option<*mut c_void>,
    _key: Key<'ctx>,
}

impl KeyValue<'_> {
    /// Runs `f` on the key's value, or on None when the key is empty.
    pub fn read<R>(&self, f: impl FnOnce(Option<&Reactions>) -> R) -> R {
        // SAFETY: the word was read from the key, which stays open with
        // self, and no key is written meanwhile (`into_value`'s contract).
        unsafe { read_word(self.word, f) }
    }

    /// Asks the CPU for the memory a read of the value starts with.
    pub fn prefetch(&self) {
        self.read(|v| v.map(Reactions::prefetch));
    }
}

/// An open key, closed on drop; it cannot outlive the command's context.
pub struct Key<'ctx> {
    /// None: a missing key opened for reading.
    key: Option<NonNull<raw::RedisModuleKey>>,
    _ctx: PhantomData<&'ctx CommandCtx>,
}

impl<'ctx> Key<'ctx> {
    /// The value word the key holds, None for an empty key, or WRONGTYPE.
    fn value(&self) -> Result<Option<*mut c_void>, CmdError> {
        let Some(key) = self.key else { return Ok(None) };
        let key = key.as_ptr();
        // Our type first (the common case, one call): ModuleTypeGetType
        // gives null for an empty key and for any value not a module's.
        // SAFETY: an open key handle (closed only by Drop).
        let module_type = unsafe { api!(RedisModule_ModuleTypeGetType)(key) };
        if !module_type.is_null() && module_type == like_type() {
            // SAFETY: an open key holding a value of our type.
            return Ok(Some(unsafe { api!(RedisModule_ModuleTypeGetValue)(key) }));
        }
        // SAFETY: as above.
        match unsafe { api!(RedisModule_KeyType)(key) } {
            t if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int => Ok(None),
            _ => Err(CmdError::WrongType),
        }
    }

    /// Runs `f` on the key's value, or on None when the key is empty.
    pub fn read<R>(&self, f: impl FnOnce(Option<&Reactions>) -> R) -> Result<R, CmdError> {
        // SAFETY: the word is the open key's value (or None), which nothing
        // changes while we borrow it.
        Ok(unsafe { read_word(self.value()?, f) })
    }

    /// The key with its value word looked up once (WRONGTYPE here): for a
    /// read-only command that reads the key after it has looked up others.
    ///
    /// # Safety
    /// No key may be written while the result lives (the word would go
    /// stale): the caller is a read-only command.
    pub unsafe fn into_value(self) -> Result<KeyValue<'ctx>, CmdError> {
        Ok(KeyValue { word: self.value()?, _key: self })
    }

    /// Runs `f` on the key's value (a new empty one for an empty key) and
    /// stores the result: a new value, a replaced word, or the key deleted
    /// when empty. The key must be open for writing.
    pub fn update<R>(&self, f: impl FnOnce(&mut Reactions) -> R) -> Result<R, CmdError> {
        let old = self.value()?;
        let Some(key) = self.key else {
            return Err(CmdError::msg("ERR key not open for writing"));
        };
        let key = key.as_ptr();
        match old {
            None => {
                let mut set = Reactions::new();
                let r = f(&mut set);
                if !set.is_empty() {
                    info::added(&set);
                    let word = value::into_value(set);
                    // SAFETY: a key open for writing; Redis takes ownership of the word.
                    unsafe { api!(RedisModule_ModuleTypeSetValue)(key, like_type(), word) };
                }
                Ok(r)
            }
            Some(old) => {
                // SAFETY: the key owns the value; nothing else touches it
                // during the command, and the new word is stored below.
                let (r, new) = unsafe {
                    value::with_value_mut(old, |set| {
                        let before = info::Summary::of(set);
                        let r = f(set);
                        info::changed(before, info::Summary::of(set));
                        r
                    })
                };
                match new {
                    None => {
                        // SAFETY: a key open for writing whose value was
                        // consumed by with_value_mut: swap in a null value
                        // (freeing null is a no-op), then delete the key.
                        unsafe {
                            let mut prev = std::ptr::null_mut();
                            api!(RedisModule_ModuleTypeReplaceValue)(
                                key,
                                like_type(),
                                std::ptr::null_mut(),
                                &mut prev,
                            );
                            api!(RedisModule_DeleteKey)(key);
                        }
                    }
                    Some(new) if new != old => {
                        let mut prev = std::ptr::null_mut();
                        // SAFETY: a key open for writing; the old word was
                        // consumed by with_value_mut, so it is replaced
                        // without being freed.
                        unsafe {
                            api!(RedisModule_ModuleTypeReplaceValue)(
                                key,
                                like_type(),
                                new,
                                &mut prev,
                            )
                        };
                    }
                    Some(_) => {}
                }
                Ok(r)
            }
        }
    }
}

impl Drop for Key<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // SAFETY: an open key handle, closed exactly once, within the call.
            unsafe { api!(RedisModule_CloseKey)(key.as_ptr()) };
        }
    }
}
