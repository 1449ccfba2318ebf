//! Small helpers around redis-rs for the tests: run a command and get its reply or its error
//! text ([`q`], [`ok`], [`err`], [`int`], [`ints`]), read replies ([`as_int`], [`as_str`],
//! [`value_ints`]), page through a like-set ([`all_users`]), write many likes pipelined
//! ([`add_many`], [`del_many`]), read `INFO`, `LIKE.INFO`, `DEBUG DIGEST-VALUE` and the server's
//! RDB version, and poll until a condition holds ([`wait_until`]).

use std::time::{Duration, Instant};

use redis::Value;

use crate::dump;
use crate::server::Server;

/// A fresh server (default configuration) and a connection to it, with `key` holding the
/// likes `ids`.
pub fn start_with_likes(key: &str, ids: &[&str]) -> (Server, redis::Connection) {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut args = vec!["LIKE.ADD", key];
    args.extend_from_slice(ids);
    ok(&mut c, &args);
    (srv, c)
}

/// Build a command from string-ish args.
pub fn cmd_of<S: AsRef<[u8]>>(args: &[S]) -> redis::Cmd {
    let mut c = redis::cmd(std::str::from_utf8(args[0].as_ref()).unwrap());
    for a in &args[1..] {
        c.arg(a.as_ref());
    }
    c
}

/// Run a command, returning the raw value or the server error text
/// (`"<CODE> <detail>"`, as the server sent it).
pub fn q<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Result<Value, String> {
    match cmd_of(args).query::<Value>(con) {
        Ok(Value::ServerError(e)) => Err(server_error_text(&e)),
        Ok(v) => Ok(v),
        Err(e) => {
            if e.is_io_error() || e.is_connection_dropped() {
                panic!("connection error running {:?}: {e}", show_args(args));
            }
            Err(redis_error_text(&e))
        }
    }
}

fn show_args<S: AsRef<[u8]>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).collect()
}

pub fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {}", e.code(), d),
        None => e.code().to_string(),
    }
}

pub fn redis_error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(c), Some(d)) => format!("{c} {d}"),
        (Some(c), None) => c.to_string(),
        _ => e.to_string(),
    }
}

/// Run a command that must succeed.
pub fn ok<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Value {
    match q(con, args) {
        Ok(v) => v,
        Err(e) => panic!("{:?} failed: {e}", show_args(args)),
    }
}

/// Run a command that must fail; returns the error text.
pub fn err<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> String {
    match q(con, args) {
        Ok(v) => panic!("{:?} should have failed, got {v:?}", show_args(args)),
        Err(e) => e,
    }
}

/// Integer reply.
pub fn int<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> i64 {
    let v = ok(con, args);
    as_int(&v).unwrap_or_else(|| panic!("{:?}: expected an integer, got {v:?}", show_args(args)))
}

pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

pub fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// An array of integers reply.
pub fn ints<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Vec<i64> {
    let v = ok(con, args);
    value_ints(&v).unwrap_or_else(|| {
        panic!("{:?}: expected an array of integers, got {v:?}", show_args(args))
    })
}

pub fn value_ints(v: &Value) -> Option<Vec<i64>> {
    match v {
        Value::Array(a) | Value::Set(a) => a.iter().map(as_int).collect(),
        _ => None,
    }
}

pub fn s(x: impl ToString) -> String {
    x.to_string()
}

/// All members of a like-set via LIKE.USERS paging (LIMIT `page`),
/// checking they are strictly ascending.
pub fn all_users_paged(con: &mut redis::Connection, key: &str, page: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut args = vec![s("LIKE.USERS"), s(key)];
        if let Some(a) = after {
            args.push(s("AFTER"));
            args.push(s(a));
        }
        args.push(s("LIMIT"));
        args.push(s(page));
        let v = ints(con, &args);
        for &x in &v {
            assert!(x >= 0, "LIKE.USERS {key} returned a negative id {x}");
            let x = x as u64;
            if let Some(&last) = out.last() {
                assert!(x > last, "LIKE.USERS {key} not strictly ascending: {last} then {x}");
            }
            if let Some(a) = after {
                assert!(x > a, "LIKE.USERS {key} AFTER {a} returned {x}");
            }
            out.push(x);
        }
        if v.len() < page {
            break;
        }
        after = out.last().copied();
        assert!(out.len() <= 50_000_000, "LIKE.USERS {key}: paging does not terminate");
    }
    out
}

/// All members via paging with the maximum page size.
pub fn all_users(con: &mut redis::Connection, key: &str) -> Vec<u64> {
    all_users_paged(con, key, 10_000)
}

/// Add many ids, in chunks of `chunk` ids per LIKE.ADD, pipelined. Returns
/// the sum of the replies.
pub fn add_many(con: &mut redis::Connection, key: &str, ids: &[u64], chunk: usize) -> i64 {
    pipelined_users(con, "LIKE.ADD", key, ids, chunk)
}

/// Delete many ids, in chunks, pipelined. Returns the sum of the replies.
pub fn del_many(con: &mut redis::Connection, key: &str, ids: &[u64], chunk: usize) -> i64 {
    pipelined_users(con, "LIKE.DEL", key, ids, chunk)
}

/// `command key id...` for every `chunk` ids, 16 commands per round trip; the
/// sum of the integer replies.
fn pipelined_users(
    con: &mut redis::Connection,
    command: &str,
    key: &str,
    ids: &[u64],
    chunk: usize,
) -> i64 {
    let mut total = 0i64;
    for group in ids.chunks(chunk * 16) {
        let mut p = redis::pipe();
        for c in group.chunks(chunk) {
            p.add_command(redis::cmd(command).arg(key).arg(c).clone());
        }
        let r: Vec<i64> = p.query(con).unwrap_or_else(|e| panic!("pipelined {command}: {e}"));
        total += r.iter().sum::<i64>();
    }
    total
}

/// The RDB version the server writes into DUMP payloads, read from a DUMP of
/// a native string (so the tests hold on every server version).
pub fn server_rdb_version(con: &mut redis::Connection) -> u16 {
    let probe = "__like_test_rdb_version_probe";
    ok(con, &["SET", probe, "x"]);
    let payload = ok(con, &["DUMP", probe]);
    ok(con, &["DEL", probe]);
    let Value::BulkString(payload) = payload else {
        panic!("DUMP of a string: unexpected {payload:?}")
    };
    let (_, version) = dump::unframe(&payload).expect("CRC of a native DUMP");
    version
}

/// DEBUG DIGEST-VALUE of one key, as a string.
pub fn digest_value(con: &mut redis::Connection, key: &str) -> String {
    let v = ok(con, &["DEBUG", "DIGEST-VALUE", key]);
    match &v {
        Value::Array(a) if a.len() == 1 => as_str(&a[0]).expect("digest string"),
        other => {
            as_str(other).unwrap_or_else(|| panic!("DEBUG DIGEST-VALUE: unexpected {other:?}"))
        }
    }
}

/// `INFO <section>` as a map of field -> value.
pub fn info(
    con: &mut redis::Connection,
    section: &str,
) -> std::collections::HashMap<String, String> {
    let v = ok(con, &["INFO", section]);
    let text = as_str(&v).expect("INFO text");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

/// `used_memory` from `INFO memory`: the server's allocated bytes.
pub fn used_memory(con: &mut redis::Connection) -> i64 {
    info(con, "memory")["used_memory"].parse().expect("used_memory is an integer")
}

/// Poll `f` until it returns true or `timeout` passes; panics with `what`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// LIKE.INFO as a field -> value map (works for RESP2 flat arrays and RESP3 maps).
pub fn like_info(
    con: &mut redis::Connection,
    key: &str,
) -> std::collections::HashMap<String, Value> {
    let v = ok(con, &["LIKE.INFO", key]);
    info_value_to_map(&v)
}

pub fn info_value_to_map(v: &Value) -> std::collections::HashMap<String, Value> {
    let mut m = std::collections::HashMap::new();
    match v {
        Value::Array(a) => {
            assert!(a.len() % 2 == 0, "LIKE.INFO flat array of odd length: {v:?}");
            for pair in a.chunks(2) {
                let k = as_str(&pair[0]).unwrap_or_else(|| panic!("LIKE.INFO field name: {v:?}"));
                m.insert(k, pair[1].clone());
            }
        }
        Value::Map(pairs) => {
            for (k, val) in pairs {
                let k = as_str(k).unwrap_or_else(|| panic!("LIKE.INFO field name: {v:?}"));
                m.insert(k, val.clone());
            }
        }
        other => panic!("LIKE.INFO: expected array or map, got {other:?}"),
    }
    m
}

/// Integer value of a field that may be sent as integer or as a string.
pub fn field_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => as_str(other).and_then(|s| s.parse().ok()),
    }
}
