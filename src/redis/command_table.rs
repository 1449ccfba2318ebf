//! Every command's metadata, declared once: name, handler, flags, arity and
//! key specs. Registered with RedisModule_CreateCommand and (Redis 7.0+)
//! RedisModule_SetCommandInfo, so COMMAND INFO / COMMAND GETKEYS, cluster
//! routing, CROSSSLOT and client-side caching all see exactly the keys.

use std::ffi::CString;
use std::os::raw::c_int;

use redis_module::raw;

use crate::commands;
use crate::redis_api::{CmdResult, Ctx, RawString};

type Handler = fn(&Ctx, &[RawString]) -> CmdResult;

/// Where the keys are: one key at `first`, or every argument from `first` on.
#[derive(Clone, Copy)]
enum Keys {
    One(i32),
    AllFrom(i32),
}

struct Command {
    name: &'static str,
    handler: Handler,
    flags: &'static str,
    /// Redis arity: exact if positive, minimum if negative (counts the name).
    arity: i32,
    keys: Keys,
    key_flags: u32,
    summary: &'static str,
    complexity: &'static str,
}

const WRITE: &str = "write deny-oom fast";
const READ_FAST: &str = "readonly fast";
const INSERT: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT;
const DELETE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;
const UPDATE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;
const ACCESS: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;

const COMMANDS: &[Command] = &[
    Command { name: "like.add", handler: commands::add, flags: WRITE, arity: -3, keys: Keys::One(1), key_flags: INSERT,
        summary: "Adds likes of users; replies how many were new", complexity: "O(U log N) for U users" },
    Command { name: "like.del", handler: commands::del, flags: WRITE, arity: -3, keys: Keys::One(1), key_flags: DELETE,
        summary: "Removes likes of users; replies how many were removed", complexity: "O(U log N) for U users" },
    Command { name: "like.toggle", handler: commands::toggle, flags: WRITE, arity: 3, keys: Keys::One(1), key_flags: UPDATE,
        summary: "Likes or unlikes; replies 1 if the user likes it now", complexity: "O(log N)" },
    Command { name: "like.count", handler: commands::count, flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        summary: "Exact like count", complexity: "O(1)" },
    Command { name: "like.mcount", handler: commands::mcount, flags: READ_FAST, arity: -2, keys: Keys::AllFrom(1), key_flags: ACCESS,
        summary: "Like counts of many keys", complexity: "O(K) for K keys" },
    Command { name: "like.has", handler: commands::has, flags: READ_FAST, arity: 3, keys: Keys::One(1), key_flags: ACCESS,
        summary: "Whether a user likes it", complexity: "O(log N)" },
    Command { name: "like.status", handler: commands::status, flags: READ_FAST, arity: -3, keys: Keys::AllFrom(2), key_flags: ACCESS,
        summary: "[count, liked] for each key, for one user", complexity: "O(K log N) for K keys" },
    Command { name: "like.users", handler: commands::users, flags: "readonly", arity: -2, keys: Keys::One(1), key_flags: ACCESS,
        summary: "Page of user IDs in ascending order", complexity: "O(log N + n)" },
    Command { name: "like.rate", handler: commands::rate, flags: READ_FAST, arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        summary: "Likes added in the last minute and hour", complexity: "O(1)" },
    Command { name: "like.info", handler: commands::info, flags: "readonly", arity: 2, keys: Keys::One(1), key_flags: ACCESS,
        summary: "Count, encoding, memory and rates of a key", complexity: "O(1) (O(containers) for roaring memory)" },
];

/// Dispatches a raw call to the table entry `I` (one monomorphic C entry point per command).
extern "C" fn dispatch<const I: usize>(ctx: *mut raw::RedisModuleCtx, argv: *mut RawString, argc: c_int) -> c_int {
    let ctx = Ctx(ctx);
    let cmd = &COMMANDS[I];
    let args: &[RawString] = if argv.is_null() || argc <= 0 {
        &[]
    } else {
        // SAFETY: Redis passes argc valid argument pointers.
        unsafe { std::slice::from_raw_parts(argv, argc as usize) }
    };
    let arity_ok = if cmd.arity >= 0 { args.len() == cmd.arity as usize } else { args.len() >= cmd.arity.unsigned_abs() as usize };
    if !arity_ok {
        ctx.wrong_arity();
    } else if let Err(e) = (cmd.handler)(&ctx, args) {
        ctx.reply_error(&e);
    }
    raw::Status::Ok as c_int
}

const ENTRIES: [raw::RedisModuleCmdFunc; 10] = [
    Some(dispatch::<0>), Some(dispatch::<1>), Some(dispatch::<2>), Some(dispatch::<3>), Some(dispatch::<4>),
    Some(dispatch::<5>), Some(dispatch::<6>), Some(dispatch::<7>), Some(dispatch::<8>), Some(dispatch::<9>),
];
const _: () = assert!(ENTRIES.len() == COMMANDS.len());

/// The ACL category every command joins where the server lets modules add one.
const ACL_CATEGORY: &str = "like";

/// Registers every command; an error message on failure.
pub fn register(ctx: *mut raw::RedisModuleCtx) -> Result<(), String> {
    let create = unsafe { raw::RedisModule_CreateCommand }.ok_or("RedisModule_CreateCommand missing")?;
    let own_category = add_acl_category(ctx);
    for (cmd, entry) in COMMANDS.iter().zip(ENTRIES) {
        let name = CString::new(cmd.name).map_err(|e| e.to_string())?;
        let flags = CString::new(cmd.flags).map_err(|e| e.to_string())?;
        let (first, last) = match cmd.keys {
            Keys::One(i) => (i, i),
            Keys::AllFrom(i) => (i, -1),
        };
        if unsafe { create(ctx, name.as_ptr(), entry, flags.as_ptr(), first, last, 1) } != raw::Status::Ok as c_int {
            return Err(format!("cannot register {}", cmd.name));
        }
        // Command info and ACL categories need the command's handle (Redis 7.0+ API).
        let Some(get_command) = (unsafe { raw::RedisModule_GetCommand }) else {
            continue;
        };
        // SAFETY: called from OnLoad with the NUL-terminated name of a command this module just created.
        let command = unsafe { get_command(ctx, name.as_ptr()) };
        if command.is_null() {
            return Err(format!("cannot find {} after registering it", cmd.name));
        }
        set_info(command, cmd)?;
        set_acl_categories(command, cmd, own_category)?;
    }
    Ok(())
}

/// Adds the `like` ACL category (Redis 7.4+, Valkey 8); false where the
/// server has no RedisModule_AddACLCategory.
fn add_acl_category(ctx: *mut raw::RedisModuleCtx) -> bool {
    let Some(add_category) = (unsafe { raw::RedisModule_AddACLCategory }) else {
        return false;
    };
    let name = CString::new(ACL_CATEGORY).unwrap_or_default();
    // SAFETY: called from OnLoad (the only time the API allows it) with a NUL-terminated name.
    unsafe { add_category(ctx, name.as_ptr()) == raw::Status::Ok as c_int }
}

/// The ACL categories a Redis user expects of a command, from its flags:
/// `write` or `read`, `fast`, and the module's own category when it exists.
fn acl_categories(flags: &str, own_category: bool) -> String {
    let mut categories: Vec<&str> = flags
        .split(' ')
        .filter_map(|flag| match flag {
            "write" => Some("write"),
            "readonly" => Some("read"),
            "fast" => Some("fast"),
            _ => None,
        })
        .collect();
    if own_category {
        categories.push(ACL_CATEGORY);
    }
    categories.join(" ")
}

/// ACL categories (Redis 7.2+, Valkey; Redis 7.0 gives module commands none).
fn set_acl_categories(command: *mut raw::RedisModuleCommand, cmd: &Command, own_category: bool) -> Result<(), String> {
    let Some(set_categories) = (unsafe { raw::RedisModule_SetCommandACLCategories }) else {
        return Ok(());
    };
    let categories = CString::new(acl_categories(cmd.flags, own_category)).map_err(|e| e.to_string())?;
    // SAFETY: `command` is this module's command; the categories string is NUL-terminated.
    if unsafe { set_categories(command, categories.as_ptr()) } != raw::Status::Ok as c_int {
        return Err(format!("cannot set ACL categories {categories:?} of {}", cmd.name));
    }
    Ok(())
}

/// Arity and key specs (Redis 7.0 API; older servers keep the legacy key range).
fn set_info(command: *mut raw::RedisModuleCommand, cmd: &Command) -> Result<(), String> {
    let Some(set_command_info) = (unsafe { raw::RedisModule_SetCommandInfo }) else {
        return Ok(());
    };
    let (pos, lastkey) = match cmd.keys {
        Keys::One(i) => (i, 0),
        Keys::AllFrom(i) => (i, -1),
    };
    // SAFETY: plain C structs; zeroed is their documented "unset" state, and
    // the second key spec stays zeroed as the array terminator.
    let mut specs: [raw::RedisModuleCommandKeySpec; 2] = unsafe { std::mem::zeroed() };
    specs[0].flags = u64::from(cmd.key_flags);
    specs[0].begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    specs[0].bs.index.pos = pos;
    specs[0].find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    specs[0].fk.range.lastkey = lastkey;
    specs[0].fk.range.keystep = 1;
    specs[0].fk.range.limit = 0;
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let summary = CString::new(cmd.summary).map_err(|e| e.to_string())?;
    let complexity = CString::new(cmd.complexity).map_err(|e| e.to_string())?;
    let since = c"1.0.0";
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: summary.as_ptr(),
        complexity: complexity.as_ptr(),
        since: since.as_ptr(),
        history: std::ptr::null_mut(),
        tips: std::ptr::null(),
        arity: cmd.arity,
        key_specs: specs.as_mut_ptr(),
        args: std::ptr::null_mut(),
    };
    if unsafe { set_command_info(command, &info) } != raw::Status::Ok as c_int {
        return Err(format!("cannot set command info of {}", cmd.name));
    }
    Ok(())
}
