//! LIKE.* command handlers: parse, call the like-set, reply, and replicate
//! and notify only when something changed. Every argument is checked before
//! any write, so a bad argument changes nothing. The table in
//! `command_table` checks arity before a handler runs.

use super::api::{Arg, CmdError, CmdResult, CommandCtx, KeyMode};
use super::config;
use crate::likeset::{LikeSet, Rate};
use crate::parse::{parse_canonical, parse_user_id};

const MAX_LIMIT: u64 = 10_000;
const DEFAULT_LIMIT: usize = 100;

fn bad_user_id(arg: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "ERR invalid user ID '{}': must be an integer from 0 to 9223372036854775807",
        String::from_utf8_lossy(arg)
    ))
}

fn user_id(arg: Arg<'_>) -> Result<u64, CmdError> {
    let bytes = arg.bytes();
    parse_user_id(bytes).ok_or_else(|| bad_user_id(bytes))
}

/// Checks every user argument up front (no allocation on success).
fn check_users(users: &[Arg<'_>]) -> CmdResult {
    users.iter().try_for_each(|&u| user_id(u).map(drop))
}

fn wall_clock_ms() -> Option<u64> {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since_epoch.as_millis()).ok()
}

/// When to record adds as recent activity: not while replaying AOF/RDB.
fn now_ms(ctx: &CommandCtx) -> Option<u64> {
    if ctx.is_loading() {
        None
    } else {
        wall_clock_ms()
    }
}

/// Adds or removes every user; the number changed. Adds are recorded as
/// recent activity (once, and only when something was added).
fn apply(ctx: &CommandCtx, set: &mut LikeSet, users: &[Arg<'_>], add: bool) -> u64 {
    let policy = config::policy();
    let n = users
        .iter()
        .filter_map(|&u| parse_user_id(u.bytes()))
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
pub fn add(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, users @ ..] = args else { return Err(CmdError::WrongArity) };
    check_users(users)?;
    let added = ctx.open_key(*key, KeyMode::Write).update(|s| apply(ctx, s, users, true))?;
    if added > 0 {
        ctx.replicate_verbatim();
        ctx.changed(c"like.add", *key, false);
    }
    ctx.reply_u64(added);
    Ok(())
}

/// LIKE.DEL key user [user ...]
pub fn del(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, users @ ..] = args else { return Err(CmdError::WrongArity) };
    check_users(users)?;
    // On an empty key nothing is removed and nothing is created.
    let (removed, gone) = ctx
        .open_key(*key, KeyMode::Write)
        .update(|s| (apply(ctx, s, users, false), s.is_empty()))?;
    if removed > 0 {
        ctx.replicate_verbatim();
        ctx.changed(c"like.del", *key, gone);
    }
    ctx.reply_u64(removed);
    Ok(())
}

/// LIKE.TOGGLE key user — replicated as the LIKE.ADD or LIKE.DEL it became.
pub fn toggle(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    let policy = config::policy();
    let (liked, gone) = ctx.open_key(*key, KeyMode::Write).update(|s| {
        if s.remove(id, &policy) {
            (false, s.is_empty())
        } else {
            s.insert(id, now_ms(ctx), &policy);
            (true, false)
        }
    })?;
    if liked {
        ctx.replicate_key_user(c"LIKE.ADD", *key, *user);
        ctx.changed(c"like.add", *key, false);
    } else {
        ctx.replicate_key_user(c"LIKE.DEL", *key, *user);
        ctx.changed(c"like.del", *key, gone);
    }
    ctx.reply_bool(liked);
    Ok(())
}

/// LIKE.COUNT key
pub fn count(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    let n = ctx.open_key(*key, KeyMode::Read).read(|s| s.map_or(0, LikeSet::len))?;
    ctx.reply_u64(n);
    Ok(())
}

/// Replies one array element per key, computed by `each` on the key's
/// like-set (None when missing). WRONGTYPE on any key fails the whole command
/// before anything is replied: up to `BATCH` keys are opened once and their
/// results kept on the stack; longer lists are type-checked in a first pass.
fn reply_per_key<T: Copy + Default>(
    ctx: &CommandCtx,
    keys: &[Arg<'_>],
    each: impl Fn(Option<&LikeSet>) -> T,
    reply: impl Fn(T),
) -> CmdResult {
    const BATCH: usize = 128;
    let read = |k: Arg<'_>| ctx.open_key(k, KeyMode::Read).read(&each);
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
pub fn mcount(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, keys @ ..] = args else { return Err(CmdError::WrongArity) };
    reply_per_key(ctx, keys, |s| s.map_or(0, LikeSet::len), |n| ctx.reply_u64(n))
}

/// LIKE.HAS key user
pub fn has(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    let liked = ctx.open_key(*key, KeyMode::Read).read(|s| s.is_some_and(|s| s.contains(id)))?;
    ctx.reply_bool(liked);
    Ok(())
}

/// LIKE.STATUS user key [key ...] — `[count, liked]` per key, one round trip per feed page.
pub fn status(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, user, keys @ ..] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    reply_per_key(
        ctx,
        keys,
        |s| s.map_or((0, false), |s| (s.len(), s.contains(id))),
        |(n, liked)| {
            ctx.reply_array(2);
            ctx.reply_u64(n);
            ctx.reply_bool(liked);
        },
    )
}

/// The options of LIKE.USERS: `[AFTER user] [LIMIT n]`, in any order.
fn page_options(opts: &[Arg<'_>]) -> Result<(Option<u64>, usize), CmdError> {
    let (mut after, mut limit) = (None, DEFAULT_LIMIT);
    let mut opts = opts.iter();
    while let Some(&opt) = opts.next() {
        let name = opt.bytes();
        let value = opts.next().copied().ok_or_else(|| {
            CmdError::msg(format!(
                "ERR syntax error: {} needs a value",
                String::from_utf8_lossy(name).to_uppercase()
            ))
        });
        if name.eq_ignore_ascii_case(b"AFTER") {
            after = Some(user_id(value?)?);
        } else if name.eq_ignore_ascii_case(b"LIMIT") {
            let v = value?.bytes();
            let n =
                parse_canonical(v).filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    CmdError::msg(format!(
                        "ERR LIMIT must be an integer from 1 to {MAX_LIMIT}, got '{}'",
                        String::from_utf8_lossy(v)
                    ))
                })?;
            limit = usize::try_from(n).unwrap_or(DEFAULT_LIMIT);
        } else {
            return Err(CmdError::msg(format!(
                "ERR syntax error: unknown option '{}'",
                String::from_utf8_lossy(name)
            )));
        }
    }
    Ok((after, limit))
}

/// LIKE.USERS key [AFTER user] [LIMIT n]
pub fn users(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, opts @ ..] = args else { return Err(CmdError::WrongArity) };
    let (after, limit) = page_options(opts)?;
    ctx.open_key(*key, KeyMode::Read).read(|s| {
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
pub fn rate(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    let r = ctx.open_key(*key, KeyMode::Read).read(rate_of)?;
    ctx.reply_array(2);
    ctx.reply_u64(r.minute);
    ctx.reply_u64(r.hour);
    Ok(())
}

/// LIKE.INFO key
pub fn info(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    ctx.open_key(*key, KeyMode::Read).read(|s| {
        let Some(s) = s else { return Err(CmdError::msg("ERR no such key")) };
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
        Ok(())
    })?
}
