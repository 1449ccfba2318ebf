//! Every command, declared once: name, handler, flags, arity, key specs,
//! arguments, summary and complexity. The `commands!` macro makes each
//! row's C entry point; `register` hands the table to Redis:
//! RedisModule_CreateCommand, RedisModule_SetCommandInfo (COMMAND INFO,
//! COMMAND DOCS and redis-cli hints, COMMAND GETKEYS, cluster routing,
//! CROSSSLOT, client-side caching) and, where the server has them, ACL
//! categories.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;

use redis_module::raw;

use super::api::{Arg, CmdError, CmdResult, CommandCtx};
use super::commands;

/// A command handler: parse, call the like-set, reply, replicate, notify.
pub type Handler = for<'call> fn(&CommandCtx, &[Arg<'call>]) -> CmdResult;

/// The C entry point Redis calls for a command.
type Entry =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

/// Where the keys are: one key at an index, or every argument from an index on.
#[derive(Clone, Copy)]
pub enum Keys {
    One(i32),
    AllFrom(i32),
}

#[derive(Clone, Copy)]
pub enum ArgType {
    Key,
    Integer,
    String,
}

/// One argument, as COMMAND DOCS shows it.
#[derive(Clone, Copy)]
pub struct ArgDoc {
    name: &'static CStr,
    arg_type: ArgType,
    /// The keyword before the value (`AFTER user`).
    token: Option<&'static CStr>,
    optional: bool,
    multiple: bool,
}

const fn arg(name: &'static CStr, arg_type: ArgType) -> ArgDoc {
    ArgDoc { name, arg_type, token: None, optional: false, multiple: false }
}

impl ArgDoc {
    const fn multiple(self) -> ArgDoc {
        ArgDoc { multiple: true, ..self }
    }

    const fn optional(self) -> ArgDoc {
        ArgDoc { optional: true, ..self }
    }

    const fn optional_token(self, token: &'static CStr) -> ArgDoc {
        ArgDoc { token: Some(token), optional: true, ..self }
    }
}

const KEY: ArgDoc = arg(c"key", ArgType::Key);
const KEYS: ArgDoc = KEY.multiple();
const USER: ArgDoc = arg(c"user", ArgType::Integer);
const USERS: ArgDoc = USER.multiple();
const KIND: ArgDoc = arg(c"kind", ArgType::String);
const AFTER: ArgDoc = arg(c"after", ArgType::Integer).optional_token(c"AFTER");
const LIMIT: ArgDoc = arg(c"limit", ArgType::Integer).optional_token(c"LIMIT");

pub struct Command {
    pub name: &'static CStr,
    entry: Entry,
    flags: &'static CStr,
    /// Redis arity: exact if positive, minimum if negative (counts the name).
    arity: i32,
    keys: Keys,
    key_flags: u32,
    args: &'static [ArgDoc],
    summary: &'static CStr,
    complexity: &'static CStr,
}

const WRITE: &CStr = c"write deny-oom fast";
const READ_FAST: &CStr = c"readonly fast";
const READ: &CStr = c"readonly";
const INSERT: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT;
const DELETE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;
const UPDATE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;
const ACCESS: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;

/// Declares the table: one row per command, its C entry point generated.
macro_rules! commands {
    ($($name:literal => $handler:path {
        flags: $flags:expr,
        arity: $arity:literal,
        keys: $keys:expr,
        key_flags: $key_flags:expr,
        args: [$($arg:expr),* $(,)?],
        summary: $summary:literal,
        complexity: $complexity:literal $(,)?
    }),+ $(,)?) => {
        pub const COMMANDS: &[Command] = &[$(
            Command {
                name: $name,
                entry: {
                    extern "C" fn entry(
                        ctx: *mut raw::RedisModuleCtx,
                        argv: *mut *mut raw::RedisModuleString,
                        argc: c_int,
                    ) -> c_int {
                        // SAFETY: Redis calls a command's entry point with the
                        // call's context and its argc arguments.
                        unsafe { run(ctx, argv, argc, $arity, $handler) }
                    }
                    entry
                },
                flags: $flags,
                arity: $arity,
                keys: $keys,
                key_flags: $key_flags,
                args: &[$($arg),*],
                summary: $summary,
                complexity: $complexity,
            }
        ),+];
    };
}

commands! {
    c"like.add" => commands::add {
        flags: WRITE, arity: -3, keys: Keys::One(1), key_flags: INSERT,
        args: [KEY, USERS],
        summary: c"Adds likes of users; replies how many were new",
        complexity: c"O(U log N) for U users",
    },
    c"like.del" => commands::del {
        flags: WRITE, arity: -3, keys: Keys::One(1), key_flags: DELETE,
        args: [KEY, USERS],
        summary: c"Removes likes of users; replies how many were removed",
        complexity: c"O(U log N) for U users",
    },
    c"like.toggle" => commands::toggle {
        flags: WRITE, arity: 3, keys: Keys::One(1), key_flags: UPDATE,
        args: [KEY, USER],
        summary: c"Likes or unlikes; replies 1 if the user likes it now",
        complexity: c"O(log N)",
    },
    c"like.count" => commands::count {
        flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Exact like count",
        complexity: c"O(1)",
    },
    c"like.mcount" => commands::mcount {
        flags: READ_FAST, arity: -2, keys: Keys::AllFrom(1), key_flags: ACCESS,
        args: [KEYS],
        summary: c"Like counts of many keys",
        complexity: c"O(K) for K keys",
    },
    c"like.has" => commands::has {
        flags: READ_FAST, arity: 3, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY, USER],
        summary: c"Whether a user likes it",
        complexity: c"O(log N)",
    },
    c"like.status" => commands::status {
        flags: READ_FAST, arity: -3, keys: Keys::AllFrom(2), key_flags: ACCESS,
        args: [USER, KEYS],
        summary: c"[count, liked] for each key, for one user",
        complexity: c"O(K log N) for K keys",
    },
    c"like.users" => commands::users {
        flags: READ, arity: -2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY, AFTER, LIMIT],
        summary: c"Page of user IDs in ascending order",
        complexity: c"O(log N + n)",
    },
    c"like.rate" => commands::rate {
        flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Reactions set in the last minute and hour",
        complexity: c"O(1)",
    },
    c"like.info" => commands::info {
        flags: READ, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Count, encoding, memory and rates of a key",
        complexity: c"O(1) (O(containers) for roaring memory)",
    },
    c"react.set" => commands::react_set {
        flags: WRITE, arity: 4, keys: Keys::One(1), key_flags: UPDATE,
        args: [KEY, USER, KIND],
        summary: c"Sets a user's reaction, moving it out of its old kind; replies the old kind",
        complexity: c"O(K log N) for K kinds",
    },
    c"react.add" => commands::react_add {
        flags: WRITE, arity: -4, keys: Keys::One(1), key_flags: INSERT,
        args: [KEY, KIND, USERS],
        summary: c"Sets one kind for many users; replies how many did not have it",
        complexity: c"O(U K log N) for U users and K kinds",
    },
    c"react.del" => commands::react_del {
        flags: WRITE, arity: -3, keys: Keys::One(1), key_flags: DELETE,
        args: [KEY, USERS],
        summary: c"Removes reactions of any kind; replies how many were removed",
        complexity: c"O(U K log N) for U users and K kinds",
    },
    c"react.get" => commands::react_get {
        flags: READ_FAST, arity: 3, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY, USER],
        summary: c"A user's kind of reaction, or nil",
        complexity: c"O(K log N) for K kinds",
    },
    c"react.count" => commands::react_count {
        flags: READ_FAST, arity: -2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY, KIND.optional()],
        summary: c"Reactions of every kind, or of one kind",
        complexity: c"O(K) for K kinds",
    },
    c"react.counts" => commands::react_counts {
        flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Every kind and its count, by count descending",
        complexity: c"O(K log K) for K kinds",
    },
    c"react.status" => commands::react_status {
        flags: READ_FAST, arity: -3, keys: Keys::AllFrom(2), key_flags: ACCESS,
        args: [USER, KEYS],
        summary: c"[total, the user's kind, counts] for each key, for one user",
        complexity: c"O(M K log N) for M keys and K kinds",
    },
    c"react.users" => commands::react_users {
        flags: READ, arity: -3, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY, KIND, AFTER, LIMIT],
        summary: c"Page of the user IDs of one kind in ascending order",
        complexity: c"O(log N + n)",
    },
    c"react.rate" => commands::react_rate {
        flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Reactions set in the last minute and hour",
        complexity: c"O(1)",
    },
    c"react.info" => commands::react_info {
        flags: READ, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        args: [KEY],
        summary: c"Count, kinds, encoding, memory and rates of a key",
        complexity: c"O(K) (O(containers) for roaring memory)",
    },
}

/// Runs one command call: arity check, handler, error reply. Inlined into
/// each entry point, which then calls its handler directly.
///
/// # Safety
/// `ctx`, `argv` and `argc` must be what Redis passed to the running command.
#[inline(always)]
unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    arity: i32,
    handler: Handler,
) -> c_int {
    // SAFETY: per this function's contract; both live only for this call.
    let (Some(ctx), args) = (unsafe { CommandCtx::new(ctx) }, unsafe { Arg::slice(argv, argc) })
    else {
        return raw::Status::Err as c_int;
    };
    let arity_ok = match usize::try_from(arity) {
        Ok(exact) => args.len() == exact,
        Err(_) => args.len() >= arity.unsigned_abs() as usize,
    };
    let result = if arity_ok { handler(&ctx, args) } else { Err(CmdError::WrongArity) };
    if let Err(e) = result {
        ctx.reply_error(&e);
    }
    raw::Status::Ok as c_int
}

/// The ACL category every command joins where the server lets modules add one.
const ACL_CATEGORY: &CStr = c"like";

/// Registers every command (called once, from OnLoad); an error message on failure.
pub fn register(ctx: *mut raw::RedisModuleCtx) -> Result<(), String> {
    // SAFETY: reading function pointers RedisModule_Init wrote once.
    let (create, get_command) =
        unsafe { (raw::RedisModule_CreateCommand, raw::RedisModule_GetCommand) };
    let create = create.ok_or("RedisModule_CreateCommand missing")?;
    let get_command = get_command.ok_or("RedisModule_GetCommand missing: Redis 7.0 or later")?;
    let own_category = add_acl_category(ctx);
    for cmd in COMMANDS {
        let (first, last) = match cmd.keys {
            Keys::One(i) => (i, i),
            Keys::AllFrom(i) => (i, -1),
        };
        // SAFETY: OnLoad's context; NUL-terminated name and flags; the entry
        // point follows the command calling convention.
        let created = unsafe {
            create(ctx, cmd.name.as_ptr(), Some(cmd.entry), cmd.flags.as_ptr(), first, last, 1)
        };
        if created != raw::Status::Ok as c_int {
            return Err(format!("cannot register {:?}", cmd.name));
        }
        // SAFETY: OnLoad's context and the name of a command just created.
        let command = unsafe { get_command(ctx, cmd.name.as_ptr()) };
        if command.is_null() {
            return Err(format!("cannot find {:?} after registering it", cmd.name));
        }
        set_info(command, cmd)?;
        set_acl_categories(command, cmd, own_category)?;
    }
    Ok(())
}

/// Adds the `like` ACL category (Redis 7.4+, Valkey 8); false where the
/// server has no RedisModule_AddACLCategory.
fn add_acl_category(ctx: *mut raw::RedisModuleCtx) -> bool {
    // SAFETY: reading a function pointer RedisModule_Init wrote once.
    let Some(add_category) = (unsafe { raw::RedisModule_AddACLCategory }) else {
        return false;
    };
    // SAFETY: called from OnLoad (the only time the API allows it) with a NUL-terminated name.
    unsafe { add_category(ctx, ACL_CATEGORY.as_ptr()) == raw::Status::Ok as c_int }
}

/// The ACL categories a Redis user expects of a command, from its flags:
/// `write` or `read`, `fast`, and the module's own category when it exists.
fn acl_categories(flags: &CStr, own_category: bool) -> CString {
    let mut categories: Vec<&str> = flags
        .to_str()
        .unwrap_or_default()
        .split(' ')
        .filter_map(|flag| match flag {
            "write" => Some("write"),
            "readonly" => Some("read"),
            "fast" => Some("fast"),
            _ => None,
        })
        .collect();
    if own_category {
        categories.push(ACL_CATEGORY.to_str().unwrap_or_default());
    }
    CString::new(categories.join(" ")).unwrap_or_default()
}

/// ACL categories (Redis 7.2+, Valkey; Redis 7.0 gives module commands none).
fn set_acl_categories(
    command: *mut raw::RedisModuleCommand,
    cmd: &Command,
    own_category: bool,
) -> Result<(), String> {
    // SAFETY: reading a function pointer RedisModule_Init wrote once.
    let Some(set_categories) = (unsafe { raw::RedisModule_SetCommandACLCategories }) else {
        return Ok(());
    };
    let categories = acl_categories(cmd.flags, own_category);
    // SAFETY: called from OnLoad with this module's command and a NUL-terminated string.
    if unsafe { set_categories(command, categories.as_ptr()) } != raw::Status::Ok as c_int {
        return Err(format!("cannot set ACL categories {categories:?} of {:?}", cmd.name));
    }
    Ok(())
}

/// Arity, key specs, arguments and docs (Redis 7.0 API).
fn set_info(command: *mut raw::RedisModuleCommand, cmd: &Command) -> Result<(), String> {
    // SAFETY: reading a function pointer RedisModule_Init wrote once.
    let Some(set_command_info) = (unsafe { raw::RedisModule_SetCommandInfo }) else {
        return Ok(());
    };
    let (pos, lastkey) = match cmd.keys {
        Keys::One(i) => (i, 0),
        Keys::AllFrom(i) => (i, -1),
    };
    // SAFETY: plain C structs of integers, pointers and unions of those;
    // all-zero is their documented "unset" state, and the second key spec
    // stays zeroed as the array terminator.
    let mut specs: [raw::RedisModuleCommandKeySpec; 2] = unsafe { std::mem::zeroed() };
    specs[0].flags = u64::from(cmd.key_flags);
    specs[0].begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    specs[0].bs.index.pos = pos;
    specs[0].find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    specs[0].fk.range.lastkey = lastkey;
    specs[0].fk.range.keystep = 1;
    specs[0].fk.range.limit = 0;
    let mut args: Vec<raw::RedisModuleCommandArg> = cmd.args.iter().map(arg_info).collect();
    // SAFETY: as above; a zeroed argument (null name) terminates the array.
    args.push(unsafe { std::mem::zeroed() });
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: cmd.summary.as_ptr(),
        complexity: cmd.complexity.as_ptr(),
        since: c"1.0.0".as_ptr(),
        history: std::ptr::null_mut(),
        tips: std::ptr::null(),
        arity: cmd.arity,
        key_specs: specs.as_mut_ptr(),
        args: args.as_mut_ptr(),
    };
    // SAFETY: this module's command, during OnLoad; every pointer in `info`
    // is valid for the call (Redis copies what it keeps), the arrays are
    // terminated by zeroed entries.
    if unsafe { set_command_info(command, &info) } != raw::Status::Ok as c_int {
        return Err(format!("cannot set command info of {:?}", cmd.name));
    }
    Ok(())
}

fn arg_info(doc: &ArgDoc) -> raw::RedisModuleCommandArg {
    let (arg_type, key_spec_index) = match doc.arg_type {
        ArgType::Key => (raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY, 0),
        ArgType::Integer => (raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER, -1),
        ArgType::String => (raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING, -1),
    };
    let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
    if doc.optional {
        flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
    }
    if doc.multiple {
        flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
    }
    raw::RedisModuleCommandArg {
        name: doc.name.as_ptr(),
        type_: arg_type,
        key_spec_index,
        token: doc.token.map_or(std::ptr::null(), CStr::as_ptr),
        summary: std::ptr::null(),
        since: std::ptr::null(),
        flags: flags as c_int,
        deprecated_since: std::ptr::null(),
        subargs: std::ptr::null_mut(),
        display_text: std::ptr::null(),
    }
}
