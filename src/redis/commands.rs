//! LIKE.* and REACT.* command handlers: parse, call the key's value (the
//! like-set, or the reaction table when the key holds other kinds), reply,
//! and replicate and notify only when something changed. Every argument is checked before
//! any write, so a bad argument changes nothing. The table in
//! `command_table` checks arity before a handler runs.

use super::api::{Arg, CmdError, CmdResult, CommandCtx, KeyMode, KeyValue};
use super::config;
use crate::likeset::{LikeSet, Rate};
use crate::parse::{parse_canonical, parse_user_id};
use crate::reactions::{Kind, Reactions, TooManyKinds, KINDS_MAX, LIKE};

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

/// Calls `f` with the user IDs of `users`, every one checked first (a bad
/// one is the error, and nothing is written): on the stack for up to
/// `STACK_IDS` of them, so a write of a few users allocates nothing.
fn with_user_ids<R>(users: &[Arg<'_>], f: impl FnOnce(&[u64]) -> R) -> Result<R, CmdError> {
    const STACK_IDS: usize = 16;
    if users.len() <= STACK_IDS {
        let mut ids = [0u64; STACK_IDS];
        for (slot, &user) in ids.iter_mut().zip(users) {
            *slot = user_id(user)?;
        }
        Ok(f(&ids[..users.len()]))
    } else {
        let ids = users.iter().map(|&user| user_id(user)).collect::<Result<Vec<_>, _>>()?;
        Ok(f(&ids))
    }
}

/// When to record adds as recent activity: not while replaying an AOF.
fn now_ms(ctx: &CommandCtx) -> Option<u64> {
    (!ctx.is_loading()).then(|| ctx.now_ms())
}

fn too_many_kinds(_: TooManyKinds) -> CmdError {
    CmdError::msg(format!(
        "ERR a key holds at most {KINDS_MAX} kinds of reaction; this would make one more"
    ))
}

fn kind_arg(arg: Arg<'_>) -> Result<Kind, CmdError> {
    let bytes = arg.bytes();
    Kind::parse(bytes).map_err(|e| {
        CmdError::msg(format!(
            "ERR invalid kind '{}': {e}; a kind is 1 to 32 bytes, none a space or control character",
            String::from_utf8_lossy(bytes)
        ))
    })
}

/// LIKE.ADD key user [user ...] — REACT.ADD of the kind `like`.
pub fn add(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, users @ ..] = args else { return Err(CmdError::WrongArity) };
    let policy = config::policy();
    let added = with_user_ids(users, |ids| {
        ctx.open_key(*key, KeyMode::Write).update(|value| {
            value.add(&Kind::LIKE, ids, now_ms(ctx), &policy).map_err(too_many_kinds)
        })
    })???;
    if added > 0 {
        ctx.wrote(c"like.add", *key, false);
    }
    ctx.reply_u64(added);
    Ok(())
}

/// LIKE.DEL key user [user ...] — removes `like` reactions only.
pub fn del(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, users @ ..] = args else { return Err(CmdError::WrongArity) };
    let policy = config::policy();
    // On an empty key nothing is removed and nothing is created.
    let (removed, gone) = with_user_ids(users, |ids| {
        ctx.open_key(*key, KeyMode::Write)
            .update(|value| (value.remove_kind(LIKE, ids, &policy), value.is_empty()))
    })??;
    if removed > 0 {
        ctx.wrote(c"like.del", *key, gone);
    }
    ctx.reply_u64(removed);
    Ok(())
}

/// LIKE.TOGGLE key user — adds the like, or removes it if there is one.
pub fn toggle(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    let policy = config::policy();
    let (liked, gone) = ctx.open_key(*key, KeyMode::Write).update(|value| {
        let liked = value.toggle_like(id, now_ms(ctx), &policy).map_err(too_many_kinds)?;
        Ok((liked, value.is_empty()))
    })??;
    // Replicated verbatim, as Redis does its own state-dependent but
    // deterministic writes (INCR, SMOVE, LMOVE): a replica or the AOF holds
    // the same state at that point of the stream, so the toggle replays to
    // the same change.
    if liked {
        ctx.wrote(c"like.add", *key, false);
    } else {
        ctx.wrote(c"like.del", *key, gone);
    }
    ctx.reply_bool(liked);
    Ok(())
}

/// The like-set of the kind `like` of a key's value, if it has likes.
fn likes(value: Option<&Reactions>) -> Option<&LikeSet> {
    value.and_then(Reactions::likes)
}

/// LIKE.COUNT key
pub fn count(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    let n = ctx.open_key(*key, KeyMode::Read).read(|v| likes(v).map_or(0, LikeSet::len))?;
    ctx.reply_u64(n);
    Ok(())
}

/// Replies an array of one element per key, which `reply_key` replies from
/// the key's value (None when missing). For read-only commands only.
///
/// WRONGTYPE on any key fails the whole command before anything is
/// replied. Keys are opened `BATCH` at a time and each value is asked of the
/// CPU (`prefetch`) as its key is looked up, before any is read: the misses
/// of one key's value overlap the lookups of the next. A list longer than
/// one batch is type-checked in a pass of its own first.
fn reply_per_key(
    ctx: &CommandCtx,
    keys: &[Arg<'_>],
    reply_key: impl Fn(Option<&Reactions>),
) -> CmdResult {
    const BATCH: usize = 128;
    if keys.len() > BATCH {
        keys.iter().try_for_each(|&k| ctx.open_key(k, KeyMode::Read).read(|_| ()))?;
    }
    // On the stack: a read allocates nothing. A slot's key closes when the
    // next batch takes the slot, or at the end.
    let mut batch: [Option<KeyValue<'_>>; BATCH] = [const { None }; BATCH];
    for (i, chunk) in keys.chunks(BATCH).enumerate() {
        for (slot, &k) in batch.iter_mut().zip(chunk) {
            // SAFETY: the callers are read-only commands: no key is written.
            let value = unsafe { ctx.open_key(k, KeyMode::Read).into_value() }?;
            value.prefetch();
            *slot = Some(value);
        }
        if i == 0 {
            ctx.reply_array(keys.len());
        }
        batch[..chunk.len()].iter().flatten().for_each(|value| value.read(&reply_key));
    }
    Ok(())
}

/// LIKE.MCOUNT key [key ...]
pub fn mcount(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, keys @ ..] = args else { return Err(CmdError::WrongArity) };
    reply_per_key(ctx, keys, |v| ctx.reply_u64(likes(v).map_or(0, LikeSet::len)))
}

/// LIKE.HAS key user
pub fn has(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    let liked =
        ctx.open_key(*key, KeyMode::Read).read(|v| likes(v).is_some_and(|s| s.contains(id)))?;
    ctx.reply_bool(liked);
    Ok(())
}

/// LIKE.STATUS user key [key ...] — `[count, liked]` per key, one round trip per feed page.
pub fn status(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, user, keys @ ..] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    reply_per_key(ctx, keys, |v| {
        let (n, liked) = likes(v).map_or((0, false), |s| (s.len(), s.contains(id)));
        ctx.reply_array(2);
        ctx.reply_u64(n);
        ctx.reply_bool(liked);
    })
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

/// Replies a page of `set`'s users (none for None).
fn reply_page(ctx: &CommandCtx, set: Option<&LikeSet>, after: Option<u64>, limit: usize) {
    ctx.reply_postponed_array();
    let mut n = 0;
    if let Some(set) = set {
        set.page(after, limit, |id| {
            ctx.reply_u64(id);
            n += 1;
        });
    }
    ctx.set_array_len(n);
}

/// LIKE.USERS key [AFTER user] [LIMIT n]
pub fn users(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, opts @ ..] = args else { return Err(CmdError::WrongArity) };
    let (after, limit) = page_options(opts)?;
    ctx.open_key(*key, KeyMode::Read).read(|v| reply_page(ctx, likes(v), after, limit))
}

fn rate_of(ctx: &CommandCtx, v: Option<&Reactions>) -> Rate {
    v.map_or_else(Rate::default, |v| v.rate(ctx.now_ms()))
}

fn reply_rate(ctx: &CommandCtx, r: Rate) {
    ctx.reply_array(2);
    ctx.reply_u64(r.minute);
    ctx.reply_u64(r.hour);
}

/// LIKE.RATE key — reactions of every kind, as REACT.RATE.
pub fn rate(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    let r = ctx.open_key(*key, KeyMode::Read).read(|v| rate_of(ctx, v))?;
    reply_rate(ctx, r);
    Ok(())
}

/// LIKE.INFO key — the `like` count; encoding, memory and rates of the key.
pub fn info(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    ctx.open_key(*key, KeyMode::Read).read(|v| {
        let Some(v) = v else { return Err(CmdError::msg("ERR no such key")) };
        let r = rate_of(ctx, Some(v));
        ctx.reply_map(5);
        ctx.reply_str("count");
        ctx.reply_u64(v.count(LIKE));
        ctx.reply_str("encoding");
        ctx.reply_str(v.encoding_name());
        ctx.reply_str("memory");
        ctx.reply_u64(v.heap_bytes() as u64);
        ctx.reply_str("rate-1m");
        ctx.reply_u64(r.minute);
        ctx.reply_str("rate-1h");
        ctx.reply_u64(r.hour);
        Ok(())
    })?
}

/// REACT.SET key user kind — replies the previous kind, or nil.
pub fn react_set(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user, kind] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    let kind = kind_arg(*kind)?;
    let policy = config::policy();
    let outcome = ctx
        .open_key(*key, KeyMode::Write)
        .update(|value| value.set(id, &kind, now_ms(ctx), &policy).map_err(too_many_kinds))??;
    if outcome.changed {
        ctx.wrote(c"react.set", *key, false);
    }
    ctx.reply_bulk_or_null(outcome.previous.as_ref().map(Kind::as_bytes));
    Ok(())
}

/// REACT.ADD key kind user [user ...] — how many now have the kind and did not.
pub fn react_add(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, kind, users @ ..] = args else { return Err(CmdError::WrongArity) };
    let kind = kind_arg(*kind)?;
    let policy = config::policy();
    let added = with_user_ids(users, |ids| {
        ctx.open_key(*key, KeyMode::Write)
            .update(|value| value.add(&kind, ids, now_ms(ctx), &policy).map_err(too_many_kinds))
    })???;
    if added > 0 {
        ctx.wrote(c"react.set", *key, false);
    }
    ctx.reply_u64(added);
    Ok(())
}

/// REACT.DEL key user [user ...] — removes reactions of any kind.
pub fn react_del(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, users @ ..] = args else { return Err(CmdError::WrongArity) };
    let policy = config::policy();
    let (removed, gone) = with_user_ids(users, |ids| {
        ctx.open_key(*key, KeyMode::Write)
            .update(|value| (value.remove_any(ids, &policy), value.is_empty()))
    })??;
    if removed > 0 {
        ctx.wrote(c"react.del", *key, gone);
    }
    ctx.reply_u64(removed);
    Ok(())
}

/// REACT.GET key user — the user's kind, or nil.
pub fn react_get(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, user] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    ctx.open_key(*key, KeyMode::Read).read(|v| ctx.reply_bulk_or_null(v.and_then(|v| v.get(id))))
}

/// REACT.COUNT key [kind]
pub fn react_count(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let (key, kind) = match args {
        [_, key] => (*key, None),
        [_, key, kind] => (*key, Some(kind_arg(*kind)?)),
        _ => return Err(CmdError::WrongArity),
    };
    let n = ctx.open_key(key, KeyMode::Read).read(|v| match (v, kind) {
        (None, _) => 0,
        (Some(v), None) => v.count_all(),
        (Some(v), Some(kind)) => v.count(kind.as_bytes()),
    })?;
    ctx.reply_u64(n);
    Ok(())
}

/// Replies every kind with its count, by count descending then kind: a map
/// under RESP3, a flat array under RESP2.
fn reply_counts(ctx: &CommandCtx, v: Option<&Reactions>) {
    ctx.reply_map(v.map_or(0, Reactions::kinds));
    if let Some(v) = v {
        v.for_each_count(|kind, n| {
            ctx.reply_bulk(kind);
            ctx.reply_u64(n);
        });
    }
}

/// REACT.COUNTS key
pub fn react_counts(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    ctx.open_key(*key, KeyMode::Read).read(|v| reply_counts(ctx, v))
}

/// REACT.STATUS user key [key ...] — `[total, mine, counts]` per key.
pub fn react_status(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, user, keys @ ..] = args else { return Err(CmdError::WrongArity) };
    let id = user_id(*user)?;
    reply_per_key(ctx, keys, |v| {
        ctx.reply_array(3);
        ctx.reply_u64(v.map_or(0, Reactions::count_all));
        ctx.reply_bulk_or_null(v.and_then(|v| v.get(id)));
        reply_counts(ctx, v);
    })
}

/// REACT.USERS key kind [AFTER user] [LIMIT n]
pub fn react_users(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key, kind, opts @ ..] = args else { return Err(CmdError::WrongArity) };
    let kind = kind_arg(*kind)?;
    let (after, limit) = page_options(opts)?;
    ctx.open_key(*key, KeyMode::Read)
        .read(|v| reply_page(ctx, v.and_then(|v| v.kind_set(kind.as_bytes())), after, limit))
}

/// REACT.RATE key
pub fn react_rate(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    rate(ctx, args)
}

/// REACT.INFO key
pub fn react_info(ctx: &CommandCtx, args: &[Arg<'_>]) -> CmdResult {
    let [_, key] = args else { return Err(CmdError::WrongArity) };
    ctx.open_key(*key, KeyMode::Read).read(|v| {
        let Some(v) = v else { return Err(CmdError::msg("ERR no such key")) };
        let r = rate_of(ctx, Some(v));
        ctx.reply_map(6);
        ctx.reply_str("count");
        ctx.reply_u64(v.count_all());
        ctx.reply_str("kinds");
        ctx.reply_u64(v.kinds() as u64);
        ctx.reply_str("encoding");
        ctx.reply_str(v.encoding_name());
        ctx.reply_str("memory");
        ctx.reply_u64(v.heap_bytes() as u64);
        ctx.reply_str("rate-1m");
        ctx.reply_u64(r.minute);
        ctx.reply_str("rate-1h");
        ctx.reply_u64(r.hour);
        Ok(())
    })?
}
