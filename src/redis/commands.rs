//! LIKE.* command handlers: parse, call the like-set, reply, and replicate
//! and notify only when something changed. Every argument is checked before
//! any write, so a bad argument changes nothing.

use crate::config;
use crate::likeset::{LikeSet, Rate};
use crate::redis_api::{arg_bytes, CmdError, CmdResult, Ctx, Key, RawString};
use crate::userid::{parse_canonical, parse_user_id};

const MAX_LIMIT: u64 = 10_000;
const DEFAULT_LIMIT: usize = 100;

fn bad_user_id(arg: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "ERR invalid user ID '{}': must be an integer from 0 to 9223372036854775807",
        String::from_utf8_lossy(arg)
    ))
}

fn user_id(arg: RawString) -> Result<u64, CmdError> {
    let bytes = arg_bytes(arg);
    parse_user_id(bytes).ok_or_else(|| bad_user_id(bytes))
}

/// Checks every user argument up front (no allocation on success).
fn check_users(users: &[RawString]) -> CmdResult {
    users.iter().try_for_each(|&u| user_id(u).map(drop))
}

fn wall_clock_ms() -> Option<u64> {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64)
}

/// When to record adds as recent activity: not while replaying AOF/RDB.
fn now_ms(ctx: &Ctx) -> Option<u64> {
    if ctx.is_loading() {
        None
    } else {
        wall_clock_ms()
    }
}

/// Adds or removes every user; the number changed. Adds are recorded as
/// recent activity (once, and only when something was added).
fn apply(ctx: &Ctx, set: &mut LikeSet, users: &[RawString], add: bool) -> u64 {
    let policy = config::policy();
    let n = users
        .iter()
        .filter_map(|&u| parse_user_id(arg_bytes(u)))
        .filter(|&id| if add { set.insert(id, None, &policy) } else { set.remove(id, &policy) })
        .count() as u64;
    if add && n > 0 {
        if let Some(now) = now_ms(ctx) {
            set.record_adds(now, n);
        }
    }
    n
}

/// LIKE.ADD key user [user ...]
pub fn add(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let (key, users) = (args[1], &args[2..]);
    check_users(users)?;
    let added = Key::open(ctx, key, true).update(|s| apply(ctx, s, users, true))?;
    if added > 0 {
        ctx.replicate_verbatim();
        ctx.changed(b"like.add\0", key, false);
    }
    ctx.reply_u64(added);
    Ok(())
}

/// LIKE.DEL key user [user ...]
pub fn del(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let (key, users) = (args[1], &args[2..]);
    check_users(users)?;
    // On an empty key nothing is removed and nothing is created.
    let (removed, gone) = Key::open(ctx, key, true).update(|s| (apply(ctx, s, users, false), s.is_empty()))?;
    if removed > 0 {
        ctx.replicate_verbatim();
        ctx.changed(b"like.del\0", key, gone);
    }
    ctx.reply_u64(removed);
    Ok(())
}

/// LIKE.TOGGLE key user — replicated as the LIKE.ADD or LIKE.DEL it became.
pub fn toggle(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let (key, user) = (args[1], args[2]);
    let id = user_id(user)?;
    let policy = config::policy();
    let (liked, gone) = Key::open(ctx, key, true).update(|s| {
        if s.remove(id, &policy) {
            (false, s.is_empty())
        } else {
            s.insert(id, now_ms(ctx), &policy);
            (true, false)
        }
    })?;
    if liked {
        ctx.replicate_key_user(b"LIKE.ADD\0", key, user);
        ctx.changed(b"like.add\0", key, false);
    } else {
        ctx.replicate_key_user(b"LIKE.DEL\0", key, user);
        ctx.changed(b"like.del\0", key, gone);
    }
    ctx.reply_i64(i64::from(liked));
    Ok(())
}

fn count_of(ctx: &Ctx, key: RawString) -> Result<u64, CmdError> {
    Key::open(ctx, key, false).read(|s| s.map_or(0, LikeSet::len))
}

/// LIKE.COUNT key
pub fn count(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    ctx.reply_u64(count_of(ctx, args[1])?);
    Ok(())
}

/// Replies one array element per key, computed by `each` on the key's
/// like-set (None when missing). WRONGTYPE on any key fails the whole command
/// before anything is replied: up to `BATCH` keys are opened once and their
/// results kept on the stack; longer lists are type-checked in a first pass.
fn reply_per_key<T: Copy + Default>(
    ctx: &Ctx,
    keys: &[RawString],
    each: impl Fn(Option<&LikeSet>) -> T,
    reply: impl Fn(T),
) -> CmdResult {
    const BATCH: usize = 128;
    let read = |k: RawString| Key::open(ctx, k, false).read(&each);
    if keys.len() <= BATCH {
        let mut results = [T::default(); BATCH];
        for (slot, &k) in results.iter_mut().zip(keys) {
            *slot = read(k)?;
        }
        ctx.reply_array(keys.len());
        results[..keys.len()].iter().for_each(|&r| reply(r));
    } else {
        keys.iter().try_for_each(|&k| read(k).map(drop))?;
        ctx.reply_array(keys.len());
        for &k in keys {
            reply(read(k).unwrap_or_default());
        }
    }
    Ok(())
}

/// LIKE.MCOUNT key [key ...]
pub fn mcount(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    reply_per_key(ctx, &args[1..], |s| s.map_or(0, LikeSet::len), |n| ctx.reply_u64(n))
}

/// LIKE.HAS key user
pub fn has(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let id = user_id(args[2])?;
    let liked = Key::open(ctx, args[1], false).read(|s| s.is_some_and(|s| s.contains(id)))?;
    ctx.reply_i64(i64::from(liked));
    Ok(())
}

/// LIKE.STATUS user key [key ...] — `[count, liked]` per key, one round trip per feed page.
pub fn status(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let id = user_id(args[1])?;
    reply_per_key(
        ctx,
        &args[2..],
        |s| s.map_or((0, false), |s| (s.len(), s.contains(id))),
        |(n, liked)| {
            ctx.reply_array(2);
            ctx.reply_u64(n);
            ctx.reply_i64(i64::from(liked));
        },
    )
}

/// LIKE.USERS key [AFTER user] [LIMIT n]
pub fn users(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let mut after = None;
    let mut limit = DEFAULT_LIMIT;
    let mut opts = args[2..].iter();
    while let Some(&opt) = opts.next() {
        let name = arg_bytes(opt);
        let value = |opts: &mut std::slice::Iter<'_, RawString>| {
            opts.next().copied().ok_or_else(|| {
                CmdError::msg(format!("ERR syntax error: {} needs a value", String::from_utf8_lossy(name).to_uppercase()))
            })
        };
        if name.eq_ignore_ascii_case(b"AFTER") {
            after = Some(user_id(value(&mut opts)?)?);
        } else if name.eq_ignore_ascii_case(b"LIMIT") {
            let v = arg_bytes(value(&mut opts)?);
            limit = parse_canonical(v)
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    CmdError::msg(format!("ERR LIMIT must be an integer from 1 to {MAX_LIMIT}, got '{}'", String::from_utf8_lossy(v)))
                })? as usize;
        } else {
            return Err(CmdError::msg(format!("ERR syntax error: unknown option '{}'", String::from_utf8_lossy(name))));
        }
    }
    Key::open(ctx, args[1], false).read(|s| {
        ctx.reply_postponed_array();
        let mut n = 0;
        if let Some(s) = s {
            s.page(after, limit, |id| {
                ctx.reply_u64(id);
                n += 1;
            });
        }
        ctx.set_array_len(n);
    })
}

fn rate_of(s: Option<&LikeSet>) -> Rate {
    s.and_then(|s| wall_clock_ms().map(|now| s.rate(now))).unwrap_or_default()
}

/// LIKE.RATE key
pub fn rate(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    let r = Key::open(ctx, args[1], false).read(rate_of)?;
    ctx.reply_array(2);
    ctx.reply_u64(r.minute);
    ctx.reply_u64(r.hour);
    Ok(())
}

/// LIKE.INFO key
pub fn info(ctx: &Ctx, args: &[RawString]) -> CmdResult {
    Key::open(ctx, args[1], false).read(|s| match s {
        None => ctx.reply_error(&CmdError::msg("ERR no such key")),
        Some(s) => {
            let r = rate_of(Some(s));
            ctx.reply_map(5);
            ctx.reply_str("count");
            ctx.reply_u64(s.len());
            ctx.reply_str("encoding");
            ctx.reply_str(s.encoding().name());
            ctx.reply_str("memory");
            ctx.reply_u64(s.heap_bytes() as u64);
            ctx.reply_str("rate-1m");
            ctx.reply_u64(r.minute);
            ctx.reply_str("rate-1h");
            ctx.reply_u64(r.hour);
        }
    })
}
