//! The REACT.* commands of SPEC.md ("Reactions: likes, dislikes, votes and emoji on the same
//! key") against a real redis-server: every reply (RESP2 and RESP3), kind-name validation, the
//! 16-kind limit, user ID validation, WRONGTYPE, arity, key specs and COMMAND DOCS, the LIKE.*
//! commands on keys that hold several kinds, MEMORY USAGE, and a random walk checked against a
//! model (user -> kind).

use std::collections::{BTreeMap, BTreeSet};

use like_harness::dump;
use like_harness::*;
use redis::Value;

const MAX_ID: u64 = 9_223_372_036_854_775_807;
/// Most kinds a key holds.
const KINDS_MAX: usize = 16;
/// The like-set encodings (LIKE.INFO of a like-only key); a key with other kinds is `table`.
const LIKE_SET_ENCODINGS: [&str; 4] = ["single", "packed", "roaring", "elias-fano"];
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

// ---------------------------------------------------------------- helpers --

fn exists(c: &mut redis::Connection, key: &str) -> i64 {
    int(c, &["EXISTS", key])
}

/// A bulk string or nil reply (REACT.SET, REACT.GET).
fn bulk_or_nil(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8(b.clone()).expect("UTF-8 kind")),
        other => panic!("expected a bulk string or nil, got {other:?}"),
    }
}

/// REACT.SET key user kind: the previous kind.
fn set(c: &mut redis::Connection, key: &str, user: u64, kind: &str) -> Option<String> {
    bulk_or_nil(&ok(c, &["REACT.SET", key, &user.to_string(), kind]))
}

/// REACT.GET key user.
fn get(c: &mut redis::Connection, key: &str, user: u64) -> Option<String> {
    bulk_or_nil(&ok(c, &["REACT.GET", key, &user.to_string()]))
}

/// REACT.ADD key kind users...
fn add(c: &mut redis::Connection, key: &str, kind: &str, users: &[u64]) -> i64 {
    let mut args = vec![s("REACT.ADD"), s(key), s(kind)];
    args.extend(users.iter().map(s));
    int(c, &args)
}

/// REACT.DEL key users...
fn del(c: &mut redis::Connection, key: &str, users: &[u64]) -> i64 {
    let mut args = vec![s("REACT.DEL"), s(key)];
    args.extend(users.iter().map(s));
    int(c, &args)
}

/// REACT.ADD of many users, pipelined, `chunk` users a command; the sum of the replies.
fn add_many_kind(c: &mut redis::Connection, key: &str, kind: &str, ids: &[u64]) -> i64 {
    let mut p = redis::pipe();
    for chunk in ids.chunks(1000) {
        p.cmd("REACT.ADD").arg(key).arg(kind).arg(chunk);
    }
    let r: Vec<i64> = p.query(c).unwrap_or_else(|e| panic!("REACT.ADD {key} {kind}: {e}"));
    r.iter().sum()
}

fn count(c: &mut redis::Connection, key: &str, kind: Option<&str>) -> i64 {
    match kind {
        Some(kind) => int(c, &["REACT.COUNT", key, kind]),
        None => int(c, &["REACT.COUNT", key]),
    }
}

/// (kind, count) pairs of a REACT.COUNTS reply, in reply order: a flat array (RESP2) or a
/// map (RESP3). Panics on any other shape.
fn counts_of(v: &Value) -> Vec<(String, i64)> {
    let kind = |k: &Value| match k {
        Value::BulkString(b) => String::from_utf8(b.clone()).expect("UTF-8 kind"),
        other => panic!("REACT.COUNTS: a kind as {other:?}"),
    };
    let n = |x: &Value| as_int(x).unwrap_or_else(|| panic!("REACT.COUNTS: a count as {x:?}"));
    match v {
        Value::Array(flat) => {
            assert!(flat.len() % 2 == 0, "REACT.COUNTS: odd flat array {v:?}");
            flat.chunks(2).map(|p| (kind(&p[0]), n(&p[1]))).collect()
        }
        Value::Map(pairs) => pairs.iter().map(|(k, x)| (kind(k), n(x))).collect(),
        other => panic!("REACT.COUNTS: expected an array or a map, got {other:?}"),
    }
}

/// REACT.COUNTS key, checking its RESP2 shape (a flat array).
fn counts(c: &mut redis::Connection, key: &str) -> Vec<(String, i64)> {
    let v = ok(c, &["REACT.COUNTS", key]);
    assert!(matches!(v, Value::Array(_)), "REACT.COUNTS under RESP2 is a flat array: {v:?}");
    counts_of(&v)
}

/// (kind, count) pairs in REACT.COUNTS order: count descending, then kind bytewise ascending.
fn ordered(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = pairs.iter().map(|&(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.as_bytes().cmp(b.0.as_bytes())));
    v
}

/// REACT.USERS key kind [args...] as integers.
fn users(c: &mut redis::Connection, key: &str, kind: &str, opts: &[&str]) -> Vec<i64> {
    let mut args = vec!["REACT.USERS", key, kind];
    args.extend_from_slice(opts);
    ints(c, &args)
}

/// Every user of `kind` through REACT.USERS pages of 10000.
fn all_of_kind(c: &mut redis::Connection, key: &str, kind: &str) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    loop {
        let after = out.last().map(|l| l.to_string());
        let mut opts = vec!["LIMIT", "10000"];
        if let Some(a) = &after {
            opts.extend(["AFTER", a.as_str()]);
        }
        let page = users(c, key, kind, &opts);
        assert!(page.windows(2).all(|w| w[0] < w[1]), "REACT.USERS not ascending");
        out.extend(page.iter().map(|&x| x as u64));
        if page.len() < 10_000 {
            return out;
        }
    }
}

fn react_info(c: &mut redis::Connection, key: &str) -> std::collections::HashMap<String, Value> {
    info_value_to_map(&ok(c, &["REACT.INFO", key]))
}

fn info_int(m: &std::collections::HashMap<String, Value>, field: &str) -> i64 {
    m.get(field).and_then(field_int).unwrap_or_else(|| panic!("no integer {field} in {m:?}"))
}

fn encoding(c: &mut redis::Connection, key: &str) -> String {
    like_info(c, key).get("encoding").and_then(as_str).expect("LIKE.INFO encoding")
}

/// REACT.STATUS as (total, mine, counts) per key.
type Status = (i64, Option<String>, Vec<(String, i64)>);

fn status_of(v: &Value) -> Vec<Status> {
    let Value::Array(items) = v else { panic!("REACT.STATUS: expected an array, got {v:?}") };
    items
        .iter()
        .map(|item| {
            let Value::Array(t) = item else { panic!("REACT.STATUS element: {item:?}") };
            assert_eq!(t.len(), 3, "REACT.STATUS element of 3: {item:?}");
            (as_int(&t[0]).expect("total"), bulk_or_nil(&t[1]), counts_of(&t[2]))
        })
        .collect()
}

fn rate(c: &mut redis::Connection, command: &str, key: &str) -> Vec<i64> {
    ints(c, &[command, key])
}

// ------------------------------------------------------------- REACT.SET --

#[test]
fn set_replies_the_previous_kind_and_moves_the_user() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(set(&mut c, "v", 1, "like"), None, "no previous reaction: nil");
    assert_eq!(exists(&mut c, "v"), 1);
    assert_eq!(set(&mut c, "v", 2, "like"), None);
    assert_eq!(set(&mut c, "v", 3, "dislike"), None);
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 2), ("dislike", 1)]));
    // A new kind moves the user: both counts change in the same step.
    assert_eq!(set(&mut c, "v", 1, "dislike").as_deref(), Some("like"));
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 1), ("dislike", 2)]));
    assert_eq!(get(&mut c, "v", 1).as_deref(), Some("dislike"));
    assert_eq!(count(&mut c, "v", None), 3, "still one reaction per user");
    // The same kind again replies that kind and changes nothing.
    let digest = digest_value(&mut c, "v");
    let rate0 = rate(&mut c, "REACT.RATE", "v");
    assert_eq!(set(&mut c, "v", 1, "dislike").as_deref(), Some("dislike"));
    assert_eq!(set(&mut c, "v", 2, "like").as_deref(), Some("like"));
    assert_eq!(digest_value(&mut c, "v"), digest);
    assert_eq!(rate(&mut c, "REACT.RATE", "v"), rate0, "a no-op REACT.SET is no activity");
    // On a like-only key too: same kind replies `like`, a new kind makes a table.
    assert_eq!(set(&mut c, "l", 7, "like"), None);
    assert_eq!(set(&mut c, "l", 7, "like").as_deref(), Some("like"));
    assert!(LIKE_SET_ENCODINGS.contains(&encoding(&mut c, "l").as_str()));
    assert_eq!(set(&mut c, "l", 7, "👍"), Some("like".into()));
    assert_eq!(encoding(&mut c, "l"), "table");
    assert_eq!(int(&mut c, &["LIKE.COUNT", "l"]), 0);
    assert_eq!(get(&mut c, "l", 7).as_deref(), Some("👍"));
    assert_eq!(set(&mut c, "l", 7, "like").as_deref(), Some("👍"));
    assert!(LIKE_SET_ENCODINGS.contains(&encoding(&mut c, "l").as_str()), "back to likes only");
    // Extreme IDs.
    assert_eq!(set(&mut c, "x", 0, "up"), None);
    assert_eq!(set(&mut c, "x", MAX_ID, "down"), None);
    assert_eq!(get(&mut c, "x", 0).as_deref(), Some("up"));
    assert_eq!(get(&mut c, "x", MAX_ID).as_deref(), Some("down"));
    assert_eq!(set(&mut c, "x", MAX_ID, "up").as_deref(), Some("down"));
    assert_eq!(counts(&mut c, "x"), vec![("up".to_string(), 2)]);
}

// ------------------------------------------------------------- REACT.ADD --

#[test]
fn add_counts_users_that_now_have_the_kind() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(add(&mut c, "k", "up", &[1, 2, 3]), 3, "a new key");
    assert_eq!(add(&mut c, "k", "up", &[3, 4]), 1, "only 4 did not have it");
    assert_eq!(add(&mut c, "k", "up", &[1, 2, 3, 4]), 0, "all had it");
    assert_eq!(add(&mut c, "k", "up", &[9, 9, 9]), 1, "a repeated user counts once");
    assert_eq!(add(&mut c, "k", "down", &[1, 2, 10, 10]), 3, "two moved, one new");
    assert_eq!(counts(&mut c, "k"), ordered(&[("up", 3), ("down", 3)]));
    assert_eq!(get(&mut c, "k", 1).as_deref(), Some("down"));
    assert_eq!(get(&mut c, "k", 3).as_deref(), Some("up"));
    assert_eq!(add(&mut c, "k", "like", &[3, 4, 9, 1, 2, 10, 11]), 7, "every one now likes");
    assert_eq!(counts(&mut c, "k"), vec![("like".to_string(), 7)]);
    assert!(LIKE_SET_ENCODINGS.contains(&encoding(&mut c, "k").as_str()));
    // One big command: a kind of 10,000 users over a like-only key of 10,000, half of them.
    let likes: Vec<u64> = (0..10_000u64).map(|i| i * 2).collect();
    assert_eq!(add_many_kind(&mut c, "big", "like", &likes), 10_000);
    let mut args = vec![s("REACT.ADD"), s("big"), s("😂")];
    args.extend((0..10_000u64).map(s));
    assert_eq!(int(&mut c, &args), 10_000, "5,000 moved from like, 5,000 new");
    assert_eq!(int(&mut c, &args), 0);
    assert_eq!(
        counts(&mut c, "big"),
        vec![("😂".to_string(), 10_000), ("like".to_string(), 5_000)]
    );
    assert_eq!(int(&mut c, &["LIKE.COUNT", "big"]), 5_000);
    assert_eq!(
        all_of_kind(&mut c, "big", "like"),
        (10_000..20_000u64).filter(|i| i % 2 == 0).collect::<Vec<_>>()
    );
    assert_eq!(all_of_kind(&mut c, "big", "😂"), (0..10_000u64).collect::<Vec<_>>());
}

// ------------------------------------------------------------- REACT.DEL --

#[test]
fn del_removes_any_kind_and_deletes_the_key_with_its_last_reaction() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(del(&mut c, "missing", &[1, 2]), 0);
    assert_eq!(exists(&mut c, "missing"), 0, "REACT.DEL must not create a key");
    add(&mut c, "k", "like", &[1, 2]);
    add(&mut c, "k", "dislike", &[3]);
    add(&mut c, "k", "❤️", &[4, 5]);
    assert_eq!(del(&mut c, "k", &[1, 3, 4, 99]), 3, "one of each kind, 99 had none");
    assert_eq!(del(&mut c, "k", &[1, 3]), 0, "already removed");
    assert_eq!(del(&mut c, "k", &[5, 5, 5]), 1, "a repeated user counts once");
    assert_eq!(counts(&mut c, "k"), vec![("like".to_string(), 1)]);
    assert_eq!(exists(&mut c, "k"), 1);
    assert_eq!(del(&mut c, "k", &[2]), 1);
    assert_eq!(exists(&mut c, "k"), 0, "the key goes with its last reaction");
    assert_eq!(as_str(&ok(&mut c, &["TYPE", "k"])).as_deref(), Some("none"));
    assert_eq!(count(&mut c, "k", None), 0);
    // The last reactions of a table (no like at all) and of a big key.
    add(&mut c, "t", "up", &[1]);
    add(&mut c, "t", "down", &[2]);
    assert_eq!(del(&mut c, "t", &[2, 1]), 2);
    assert_eq!(exists(&mut c, "t"), 0);
    let ids: Vec<u64> = (0..30_000).collect();
    assert_eq!(add_many_kind(&mut c, "big", "up", &ids[..20_000]), 20_000);
    assert_eq!(add_many_kind(&mut c, "big", "down", &ids[20_000..]), 10_000);
    let mut args = vec![s("REACT.DEL"), s("big")];
    args.extend(ids[1..].iter().map(s));
    assert_eq!(int(&mut c, &args), 29_999);
    assert_eq!(counts(&mut c, "big"), vec![("up".to_string(), 1)]);
    assert_eq!(del(&mut c, "big", &[0]), 1);
    assert_eq!(exists(&mut c, "big"), 0);
}

// ----------------------------------------------------- REACT.GET / COUNT --

#[test]
fn get_and_count() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(get(&mut c, "missing", 1), None);
    assert_eq!(count(&mut c, "missing", None), 0);
    assert_eq!(count(&mut c, "missing", Some("like")), 0);
    assert_eq!(exists(&mut c, "missing"), 0, "reads must not create keys");
    add(&mut c, "k", "like", &[1, 2, 3]);
    assert_eq!(get(&mut c, "k", 2).as_deref(), Some("like"), "a like-only key");
    assert_eq!(get(&mut c, "k", 4), None);
    add(&mut c, "k", "wow", &[4, 5]);
    add(&mut c, "k", "Like", &[6]);
    assert_eq!(get(&mut c, "k", 4).as_deref(), Some("wow"));
    assert_eq!(get(&mut c, "k", 6).as_deref(), Some("Like"), "kinds are case-sensitive");
    assert_eq!(get(&mut c, "k", 7), None);
    assert_eq!(count(&mut c, "k", None), 6, "every kind");
    assert_eq!(count(&mut c, "k", Some("like")), 3);
    assert_eq!(count(&mut c, "k", Some("wow")), 2);
    assert_eq!(count(&mut c, "k", Some("Like")), 1);
    assert_eq!(count(&mut c, "k", Some("sad")), 0, "an unknown kind");
    assert_eq!(int(&mut c, &["LIKE.COUNT", "k"]), 3, "LIKE.COUNT sees only `like`");
    del(&mut c, "k", &[4, 5]);
    assert_eq!(count(&mut c, "k", Some("wow")), 0, "a kind whose last user went");
    // A bad kind argument is an error, as everywhere.
    let e = err(&mut c, &["REACT.COUNT", "k", ""]);
    assert!(e.starts_with("ERR invalid kind"), "{e}");
}

// ---------------------------------------------------------- REACT.COUNTS --

#[test]
fn counts_order_and_shapes() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(ok(&mut c, &["REACT.COUNTS", "missing"]), Value::Array(vec![]));
    // Ties in bytewise order: uppercase before lowercase, a prefix first, ASCII before
    // UTF-8; ❤️ (E2 ..) < 👍 (F0 9F 91 ..) < 😂 (F0 9F 98 ..).
    let kinds: &[(&str, u64)] = &[
        ("b", 3),
        ("a", 3),
        ("ab", 3),
        ("B", 3),
        ("😂", 2),
        ("👍", 2),
        ("❤️", 2),
        ("~", 2),
        ("like", 5),
        ("z", 9),
        ("one", 1),
    ];
    let mut next = 0u64;
    for &(kind, n) in kinds {
        let users: Vec<u64> = (next..next + n).collect();
        next += n;
        assert_eq!(add(&mut c, "k", kind, &users), n as i64);
    }
    let want: Vec<(String, i64)> = [
        ("z", 9),
        ("like", 5),
        ("B", 3),
        ("a", 3),
        ("ab", 3),
        ("b", 3),
        ("~", 2),
        ("❤️", 2),
        ("👍", 2),
        ("😂", 2),
        ("one", 1),
    ]
    .iter()
    .map(|&(k, n)| (k.to_string(), n))
    .collect();
    let pairs: Vec<(&str, i64)> = kinds.iter().map(|&(k, n)| (k, n as i64)).collect();
    assert_eq!(ordered(&pairs), want, "the test's own ordering");
    assert_eq!(counts(&mut c, "k"), want, "RESP2");
    let mut c3 = srv.conn_resp3();
    let v = ok(&mut c3, &["REACT.COUNTS", "k"]);
    assert!(matches!(v, Value::Map(_)), "REACT.COUNTS under RESP3 is a map: {v:?}");
    assert_eq!(counts_of(&v), want, "RESP3, in the same order");
    let v = ok(&mut c3, &["REACT.COUNTS", "missing"]);
    assert_eq!(v, Value::Map(vec![]), "RESP3, a missing key: an empty map");
    // Counts move: the order follows.
    add(&mut c, "k", "one", &[100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    assert_eq!(counts(&mut c, "k")[0], ("one".to_string(), 11));
    // A like-only key.
    add(&mut c, "l", "like", &[1, 2]);
    assert_eq!(counts(&mut c, "l"), vec![("like".to_string(), 2)]);
}

// ---------------------------------------------------------- REACT.STATUS --

#[test]
fn status_per_key_in_order() {
    let srv = Server::start();
    let mut c = srv.conn();
    add(&mut c, "p1", "like", &[7, 8]);
    add(&mut c, "p1", "dislike", &[9]);
    add(&mut c, "p2", "like", &[8]);
    add(&mut c, "p3", "😂", &[7, 1, 2]);
    add(&mut c, "p3", "wow", &[3]);
    let v = ok(&mut c, &["REACT.STATUS", "7", "p1", "p2", "missing", "p3", "p1"]);
    let p1: Status = (3, Some("like".into()), ordered(&[("like", 2), ("dislike", 1)]));
    let want: Vec<Status> = vec![
        p1.clone(),
        (1, None, ordered(&[("like", 1)])),
        (0, None, vec![]),
        (4, Some("😂".into()), ordered(&[("😂", 3), ("wow", 1)])),
        p1,
    ];
    assert_eq!(status_of(&v), want);
    // RESP2: the counts are a flat array.
    let Value::Array(items) = &v else { unreachable!() };
    let Value::Array(first) = &items[0] else { unreachable!() };
    assert!(matches!(first[2], Value::Array(_)), "{:?}", first[2]);
    assert_eq!(exists(&mut c, "missing"), 0);
    let v = ok(&mut c, &["REACT.STATUS", "9", "p1"]);
    assert_eq!(status_of(&v)[0].1.as_deref(), Some("dislike"));
    // RESP3: an array of [total, mine, map].
    let mut c3 = srv.conn_resp3();
    let v3 = ok(&mut c3, &["REACT.STATUS", "7", "p1", "p2", "missing", "p3", "p1"]);
    assert_eq!(status_of(&v3), want);
    let Value::Array(items) = &v3 else { panic!("RESP3 REACT.STATUS: {v3:?}") };
    for item in items {
        let Value::Array(t) = item else { panic!("{item:?}") };
        assert!(matches!(t[0], Value::Int(_)), "{t:?}");
        assert!(matches!(t[1], Value::BulkString(_) | Value::Nil), "{t:?}");
        assert!(matches!(t[2], Value::Map(_)), "counts under RESP3 are a map: {t:?}");
    }
    // WRONGTYPE on any key fails the whole command, and the connection stays in step.
    ok(&mut c, &["SET", "str", "x"]);
    for args in [
        vec!["REACT.STATUS", "7", "str"],
        vec!["REACT.STATUS", "7", "p1", "str"],
        vec!["REACT.STATUS", "7", "p1", "missing", "str", "p2"],
    ] {
        let e = err(&mut c, &args);
        assert!(e.starts_with(WRONGTYPE), "{args:?}: {e}");
        assert_eq!(int(&mut c, &["REACT.COUNT", "p1"]), 3);
        let e = err(&mut c3, &args);
        assert!(e.starts_with(WRONGTYPE), "RESP3 {args:?}: {e}");
        assert_eq!(int(&mut c3, &["REACT.COUNT", "p1"]), 3);
    }
    // Many keys (past any batch size) in one round trip.
    let mut args = vec![s("REACT.STATUS"), s("8")];
    let keys = ["p1", "p2", "missing", "p3"];
    args.extend((0..400).map(|i| s(keys[i % 4])));
    let all = status_of(&ok(&mut c, &args));
    assert_eq!(all.len(), 400);
    for (i, st) in all.iter().enumerate() {
        let want_mine = if i % 4 < 2 { Some("like") } else { None };
        assert_eq!(st.1.as_deref(), want_mine, "key {i}");
    }
    args.push(s("str"));
    assert!(err(&mut c, &args).starts_with(WRONGTYPE));
}

// ----------------------------------------------------------- REACT.USERS --

#[test]
fn users_of_one_kind_after_and_limit() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(users(&mut c, "missing", "like", &[]), Vec::<i64>::new());
    assert_eq!(exists(&mut c, "missing"), 0);
    add(&mut c, "k", "up", &[50, 3, 4_294_967_296, 0, 17, MAX_ID, 4_294_967_295]);
    add(&mut c, "k", "down", &[1, 2, 18, 51]);
    add(&mut c, "k", "like", &[4]);
    let all = vec![0, 3, 17, 50, 4_294_967_295, 4_294_967_296, MAX_ID as i64];
    assert_eq!(users(&mut c, "k", "up", &[]), all);
    assert_eq!(users(&mut c, "k", "down", &[]), vec![1, 2, 18, 51]);
    assert_eq!(users(&mut c, "k", "like", &[]), vec![4]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k"]), vec![4], "LIKE.USERS: only `like`");
    assert_eq!(users(&mut c, "k", "sad", &[]), Vec::<i64>::new(), "an unknown kind");
    assert_eq!(users(&mut c, "k", "up", &["AFTER", "0"]), all[1..].to_vec());
    assert_eq!(users(&mut c, "k", "up", &["AFTER", "4"]), all[2..].to_vec(), "AFTER a non-member");
    assert_eq!(users(&mut c, "k", "up", &["AFTER", "1"]), all[1..].to_vec(), "AFTER a `down`");
    assert_eq!(users(&mut c, "k", "up", &["AFTER", &MAX_ID.to_string()]), Vec::<i64>::new());
    assert_eq!(users(&mut c, "k", "up", &["LIMIT", "2"]), all[..2].to_vec());
    assert_eq!(users(&mut c, "k", "up", &["AFTER", "3", "LIMIT", "2"]), vec![17, 50]);
    assert_eq!(users(&mut c, "k", "up", &["limit", "2", "after", "3"]), vec![17, 50]);
    assert_eq!(users(&mut c, "k", "up", &["LIMIT", "10000"]), all);

    // Default 100, at most 10000, pages of a big kind among others.
    let up: Vec<u64> = (0..25_000u64).map(|i| i * 3 + 1_000).collect();
    let down: Vec<u64> = (0..25_000u64).map(|i| i * 3 + 1_001).collect();
    add_many_kind(&mut c, "big", "up", &up);
    add_many_kind(&mut c, "big", "down", &down);
    let as_i64 = |v: &[u64]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
    assert_eq!(users(&mut c, "big", "up", &[]), as_i64(&up[..100]), "default LIMIT 100");
    assert_eq!(users(&mut c, "big", "down", &["LIMIT", "10000"]), as_i64(&down[..10_000]));
    let after = up[12_344].to_string();
    assert_eq!(
        users(&mut c, "big", "up", &["AFTER", &after, "LIMIT", "10000"]),
        as_i64(&up[12_345..22_345])
    );
    assert_eq!(all_of_kind(&mut c, "big", "up"), up);
    assert_eq!(all_of_kind(&mut c, "big", "down"), down);

    // Bad options, on a present and on a missing key.
    for key in ["k", "missing"] {
        for bad in ["0", "10001", "-1", "abc", "", "1.5", "99999999999999999999"] {
            let e = err(&mut c, &["REACT.USERS", key, "up", "LIMIT", bad]);
            assert!(e.starts_with("ERR ") && e.contains("LIMIT"), "{key} LIMIT {bad:?}: {e}");
        }
        for bad in ["-1", "abc", "", "007", "9223372036854775808"] {
            let e = err(&mut c, &["REACT.USERS", key, "up", "AFTER", bad]);
            assert!(e.starts_with(&format!("ERR invalid user ID '{bad}'")), "AFTER {bad:?}: {e}");
        }
        let e = err(&mut c, &["REACT.USERS", key, "up", "FOO", "1"]);
        assert!(e.starts_with("ERR syntax error"), "unknown option: {e}");
        for args in [
            vec!["REACT.USERS", key, "up", "AFTER"],
            vec!["REACT.USERS", key, "up", "LIMIT"],
            vec!["REACT.USERS", key, "up", "1"],
        ] {
            assert!(err(&mut c, &args).starts_with("ERR"), "{args:?}");
        }
        let e = err(&mut c, &["REACT.USERS", key, "bad kind"]);
        assert!(e.starts_with("ERR invalid kind 'bad kind'"), "{e}");
    }
}

// ------------------------------------------------------ REACT.RATE / INFO --

#[test]
fn rate_counts_reactions_of_every_kind() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(rate(&mut c, "REACT.RATE", "missing"), vec![0, 0]);
    assert_eq!(exists(&mut c, "missing"), 0);
    set(&mut c, "k", 1, "like"); // 1: new
    set(&mut c, "k", 1, "dislike"); // 2: changed
    set(&mut c, "k", 1, "dislike"); // no change
    add(&mut c, "k", "up", &[2, 3, 1]); // 5: two new, one changed
    add(&mut c, "k", "up", &[2, 3]); // no change
    del(&mut c, "k", &[2]); // a removal is not a reaction set
    int(&mut c, &["LIKE.ADD", "k", "3", "4"]); // 7: one changed, one new
    int(&mut c, &["LIKE.DEL", "k", "4"]); // a removal
    int(&mut c, &["LIKE.TOGGLE", "k", "1"]); // 8: up -> like
    let _ = err(&mut c, &["REACT.ADD", "k", "up", "5", "x"]); // refused
    assert_eq!(rate(&mut c, "REACT.RATE", "k"), vec![8, 8]);
    assert_eq!(rate(&mut c, "LIKE.RATE", "k"), vec![8, 8], "LIKE.RATE counts every kind too");
    let info = react_info(&mut c, "k");
    assert_eq!((info_int(&info, "rate-1m"), info_int(&info, "rate-1h")), (8, 8));
    let info = like_info(&mut c, "k");
    assert_eq!((info_int(&info, "rate-1m"), info_int(&info, "rate-1h")), (8, 8));
    // A key that goes back to likes keeps its activity.
    del(&mut c, "k", &[3]);
    assert_eq!(counts(&mut c, "k"), vec![("like".to_string(), 1)]);
    assert_eq!(rate(&mut c, "LIKE.RATE", "k"), vec![8, 8]);
}

#[test]
fn info_fields() {
    let srv = Server::start();
    let mut c = srv.conn();
    let e = err(&mut c, &["REACT.INFO", "missing"]);
    assert!(e.starts_with("ERR"), "REACT.INFO of a missing key: {e}");
    assert_eq!(exists(&mut c, "missing"), 0);
    add(&mut c, "l", "like", &[42]);
    let m = react_info(&mut c, "l");
    for f in ["count", "kinds", "memory", "rate-1m", "rate-1h"] {
        assert!(m.contains_key(f), "REACT.INFO lacks {f}: {m:?}");
    }
    assert_eq!(info_int(&m, "count"), 1);
    assert_eq!(info_int(&m, "kinds"), 1);
    assert!(info_int(&m, "memory") >= 0);
    add(&mut c, "k", "like", &[1, 2, 3]);
    add(&mut c, "k", "dislike", &[4, 5]);
    add(&mut c, "k", "😂", &[6]);
    let m = react_info(&mut c, "k");
    assert_eq!(info_int(&m, "count"), 6, "every kind");
    assert_eq!(info_int(&m, "kinds"), 3);
    assert_eq!(info_int(&m, "rate-1m"), 6);
    assert_eq!(info_int(&m, "rate-1h"), 6);
    assert_eq!(info_int(&like_info(&mut c, "k"), "count"), 3, "LIKE.INFO counts `like`");
    let small = info_int(&m, "memory");
    let big: Vec<u64> = (0..50_000u64).map(|i| i * 7).collect();
    add_many_kind(&mut c, "k", "dislike", &big);
    let m = react_info(&mut c, "k");
    assert_eq!(info_int(&m, "count"), 50_006, "50,000 new dislikes (0 and 7 were no one's)");
    assert_eq!(info_int(&m, "kinds"), 3);
    assert!(info_int(&m, "memory") > small, "memory grows with the sets: {m:?}");
    // A kind that empties no longer counts.
    let mut args = vec![s("REACT.DEL"), s("k"), s("6")];
    args.extend(big.iter().map(s));
    int(&mut c, &args);
    let m = react_info(&mut c, "k");
    assert_eq!((info_int(&m, "count"), info_int(&m, "kinds")), (5, 2), "{m:?}");
    // RESP3: a map; RESP2: a flat array.
    let mut c3 = srv.conn_resp3();
    let v = ok(&mut c3, &["REACT.INFO", "k"]);
    assert!(matches!(v, Value::Map(_)), "REACT.INFO under RESP3: {v:?}");
    assert!(matches!(info_value_to_map(&v)["count"], Value::Int(5)));
    let v = ok(&mut c, &["REACT.INFO", "k"]);
    let Value::Array(flat) = &v else { panic!("REACT.INFO under RESP2: {v:?}") };
    assert!(flat.len() % 2 == 0 && flat.len() >= 10, "{v:?}");
}

// ------------------------------------------------------------ kind names --

#[test]
fn kind_names_are_checked_and_a_bad_one_changes_nothing() {
    let srv = Server::start();
    let mut c = srv.conn();
    add(&mut c, "k", "like", &[1, 2]);
    add(&mut c, "k", "dislike", &[3]);
    let digest = digest_value(&mut c, "k");
    let thirty_three = "a".repeat(33);
    let emoji_33 = format!("{}x", "👍".repeat(8));
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        thirty_three.clone().into_bytes(),
        emoji_33.clone().into_bytes(),
        b"thumbs up".to_vec(),
        b" like".to_vec(),
        b"like ".to_vec(),
        b"\x00".to_vec(),
        b"a\x00b".to_vec(),
        b"\x01".to_vec(),
        b"up\x1f".to_vec(),
        b"\x7f".to_vec(),
        b"a\tb".to_vec(),
        b"a\nb".to_vec(),
        b"a\r\nb".to_vec(),
    ];
    for kind in &bad {
        let shown = String::from_utf8_lossy(kind).into_owned();
        let printable = !kind.iter().any(|&b| b.is_ascii_control());
        let commands: Vec<Vec<&[u8]>> = vec![
            vec![b"REACT.SET", b"k", b"9", kind],
            vec![b"REACT.SET", b"k", b"1", kind],
            vec![b"REACT.SET", b"fresh", b"1", kind],
            vec![b"REACT.ADD", b"k", kind, b"9"],
            vec![b"REACT.ADD", b"k", kind, b"1", b"3"],
            vec![b"REACT.ADD", b"fresh", kind, b"1"],
            vec![b"REACT.COUNT", b"k", kind],
            vec![b"REACT.USERS", b"k", kind],
            vec![b"REACT.USERS", b"fresh", kind, b"LIMIT", b"5"],
        ];
        for args in commands {
            let e = err(&mut c, &args);
            assert!(e.starts_with("ERR invalid kind"), "kind {shown:?}: {e}");
            if printable {
                assert!(e.contains(&format!("'{shown}'")), "the error names {shown:?}: {e}");
            }
            // The connection is still in step (no broken error line).
            assert_eq!(int(&mut c, &["REACT.COUNT", "k"]), 3, "after kind {shown:?}");
        }
    }
    assert_eq!(digest_value(&mut c, "k"), digest, "refused kinds changed the key");
    assert_eq!(exists(&mut c, "fresh"), 0, "a refused write created the key");
    assert_eq!(rate(&mut c, "REACT.RATE", "k"), vec![3, 3], "refused writes are no activity");

    // Accepted: 32 bytes, emoji (with variation selectors and ZWJ sequences), any script.
    let good = [
        "a".repeat(32),
        "👍".repeat(8),
        "❤️".to_string(),
        "👨‍👩‍👧‍👦".to_string(),
        "投票".to_string(),
        "Like".to_string(),
        "~".to_string(),
        "up-vote_2:x".to_string(),
    ];
    for (i, kind) in good.iter().enumerate() {
        let user = 100 + i as u64;
        assert_eq!(set(&mut c, "k", user, kind), None, "kind {kind:?}");
        assert_eq!(get(&mut c, "k", user).as_deref(), Some(kind.as_str()));
        assert_eq!(count(&mut c, "k", Some(kind)), 1);
        assert_eq!(users(&mut c, "k", kind, &[]), vec![user as i64]);
        assert_eq!(add(&mut c, "k", kind, &[200 + i as u64]), 1);
    }
    let all = counts(&mut c, "k");
    for kind in &good {
        assert!(all.contains(&(kind.clone(), 2)), "{kind:?} in {all:?}");
    }
    assert_eq!(int(&mut c, &["LIKE.COUNT", "k"]), 2, "`Like` is not `like`");
}

// -------------------------------------------------------- the kind limit --

/// A key of 16 kinds `k0`..`k15` (none `like`): kind `k<i>` holds users `i` (its only user)
/// and, for i >= 8, also user `100 + i`.
fn sixteen_kinds(c: &mut redis::Connection, key: &str) {
    for i in 0..KINDS_MAX as u64 {
        let kind = format!("k{i}");
        assert_eq!(set(c, key, i, &kind), None);
        if i >= 8 {
            assert_eq!(set(c, key, 100 + i, &kind), None);
        }
    }
    assert_eq!(info_int(&react_info(c, key), "kinds"), KINDS_MAX as i64);
}

fn assert_too_many(e: &str, what: &str) {
    assert!(
        e.starts_with("ERR") && e.contains("16"),
        "{what}: expected the kind-limit error, got {e}"
    );
}

#[test]
fn a_key_holds_at_most_16_kinds() {
    let srv = Server::start();
    let mut c = srv.conn();
    sixteen_kinds(&mut c, "k");
    let digest = digest_value(&mut c, "k");
    let before = counts(&mut c, "k");
    let rate0 = rate(&mut c, "REACT.RATE", "k");
    // Each would make a 17th kind: k8..k15 keep a user when 8..15 leave, 50 is new.
    let refused: &[&[&str]] = &[
        &["REACT.SET", "k", "50", "k16"],
        &["REACT.SET", "k", "8", "k16"],
        &["REACT.ADD", "k", "k16", "50"],
        &["REACT.ADD", "k", "k16", "50", "51"],
        &["REACT.ADD", "k", "k16", "8", "9"],
        &["LIKE.ADD", "k", "50"],
        &["LIKE.ADD", "k", "8", "50"],
        &["LIKE.TOGGLE", "k", "50"],
        &["LIKE.TOGGLE", "k", "108"],
    ];
    for args in refused {
        let e = err(&mut c, args);
        assert_too_many(&e, &format!("{args:?}"));
        assert_eq!(counts(&mut c, "k"), before, "{args:?} changed the counts");
        assert_eq!(digest_value(&mut c, "k"), digest, "{args:?} changed the key");
    }
    assert_eq!(rate(&mut c, "REACT.RATE", "k"), rate0, "refused writes are no activity");
    assert_eq!(get(&mut c, "k", 50), None);
    assert_eq!(get(&mut c, "k", 8).as_deref(), Some("k8"));
    // Existing kinds still take users.
    assert_eq!(set(&mut c, "k", 50, "k3"), None);
    assert_eq!(add(&mut c, "k", "k15", &[51, 52]), 2);
    assert_eq!(set(&mut c, "k", 50, "k15").as_deref(), Some("k3"));

    // The same REACT.SET moves the last user of k0 into a 17th kind: still 16, allowed.
    assert_eq!(set(&mut c, "k", 0, "k16").as_deref(), Some("k0"));
    assert_eq!(info_int(&react_info(&mut c, "k"), "kinds"), 16);
    let names: BTreeSet<String> = counts(&mut c, "k").into_iter().map(|(k, _)| k).collect();
    assert!(names.contains("k16") && !names.contains("k0"), "{names:?}");
    // REACT.ADD moving the last users of k1 and k2 and a new user into k17: 16 - 2 + 1.
    assert_eq!(add(&mut c, "k", "k17", &[1, 2, 60]), 3);
    assert_eq!(info_int(&react_info(&mut c, "k"), "kinds"), 15);
    assert_eq!(get(&mut c, "k", 1).as_deref(), Some("k17"));

    // A kind whose last user goes frees its slot.
    sixteen_kinds(&mut c, "f");
    assert_too_many(&err(&mut c, &["REACT.SET", "f", "70", "new"]), "17th kind");
    assert_eq!(del(&mut c, "f", &[3]), 1, "k3's only user");
    assert_eq!(count(&mut c, "f", Some("k3")), 0);
    assert_eq!(set(&mut c, "f", 70, "new"), None, "a freed slot takes a new kind");
    assert_too_many(&err(&mut c, &["REACT.SET", "f", "71", "newer"]), "16 kinds again");
    assert_too_many(&err(&mut c, &["REACT.ADD", "f", "newer", "71"]), "16 kinds again");
    // LIKE.DEL on a key without likes removes nothing and frees nothing.
    assert_eq!(int(&mut c, &["LIKE.DEL", "f", "70", "4"]), 0);
    let digest = digest_value(&mut c, "f");
    assert_too_many(&err(&mut c, &["LIKE.ADD", "f", "71"]), "LIKE.ADD, 16 other kinds");
    assert_too_many(&err(&mut c, &["LIKE.TOGGLE", "f", "71"]), "LIKE.TOGGLE, 16 other kinds");
    assert_too_many(&err(&mut c, &["LIKE.ADD", "f", "8", "71"]), "LIKE.ADD, k8 keeps 108");
    assert_eq!(digest_value(&mut c, "f"), digest, "refused LIKE writes changed the key");
    // k4's only user likes: k4 goes, `like` comes, 16 kinds.
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "f", "4"]), 1);
    assert_eq!(get(&mut c, "f", 4).as_deref(), Some("like"));
    assert_eq!(info_int(&react_info(&mut c, "f"), "kinds"), 16);
    assert_eq!(int(&mut c, &["LIKE.ADD", "f", "5", "6", "71"]), 3, "k5, k6 empty into `like`");
    assert_eq!(info_int(&react_info(&mut c, "f"), "kinds"), 14);
    assert_eq!(int(&mut c, &["LIKE.COUNT", "f"]), 4);
    // REACT.ADD freeing one kind for a new one: 14 -> 15 -> 16 -> (k7 empties) 16.
    assert_eq!(add(&mut c, "f", "x1", &[200]), 1);
    assert_eq!(add(&mut c, "f", "x2", &[201]), 1);
    assert_too_many(&err(&mut c, &["REACT.ADD", "f", "x3", "202"]), "17th kind");
    assert_eq!(add(&mut c, "f", "x3", &[7, 202]), 2, "k7's only user and a new one");
    assert_eq!(info_int(&react_info(&mut c, "f"), "kinds"), 16);
}

// ------------------------------------------------ WRONGTYPE, arity, IDs --

#[test]
fn wrongtype_for_every_command() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["SET", "str", "hello"]);
    ok(&mut c, &["SADD", "set", "1", "2"]);
    add(&mut c, "good", "up", &[1]);
    for key in ["str", "set"] {
        let cmds: Vec<Vec<&str>> = vec![
            vec!["REACT.SET", key, "1", "up"],
            vec!["REACT.ADD", key, "up", "1"],
            vec!["REACT.DEL", key, "1"],
            vec!["REACT.GET", key, "1"],
            vec!["REACT.COUNT", key],
            vec!["REACT.COUNT", key, "up"],
            vec!["REACT.COUNTS", key],
            vec!["REACT.STATUS", "1", key],
            vec!["REACT.STATUS", "1", "good", key],
            vec!["REACT.STATUS", "1", key, "good", "missing"],
            vec!["REACT.USERS", key, "up"],
            vec!["REACT.USERS", key, "up", "AFTER", "1", "LIMIT", "5"],
            vec!["REACT.RATE", key],
            vec!["REACT.INFO", key],
        ];
        for args in cmds {
            let e = err(&mut c, &args);
            assert!(e.starts_with(WRONGTYPE), "{args:?}: {e}");
        }
    }
    assert_eq!(as_str(&ok(&mut c, &["GET", "str"])).as_deref(), Some("hello"));
    assert_eq!(int(&mut c, &["SCARD", "set"]), 2);
    assert_eq!(counts(&mut c, "good"), vec![("up".to_string(), 1)]);
    assert!(err(&mut c, &["SADD", "good", "1"]).starts_with("WRONGTYPE"));
}

#[test]
fn arity_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: Vec<Vec<&str>> = vec![
        vec!["REACT.SET"],
        vec!["REACT.SET", "k"],
        vec!["REACT.SET", "k", "1"],
        vec!["REACT.SET", "k", "1", "up", "down"],
        vec!["REACT.ADD"],
        vec!["REACT.ADD", "k"],
        vec!["REACT.ADD", "k", "up"],
        vec!["REACT.DEL"],
        vec!["REACT.DEL", "k"],
        vec!["REACT.GET"],
        vec!["REACT.GET", "k"],
        vec!["REACT.GET", "k", "1", "2"],
        vec!["REACT.COUNT"],
        vec!["REACT.COUNT", "k", "up", "down"],
        vec!["REACT.COUNTS"],
        vec!["REACT.COUNTS", "a", "b"],
        vec!["REACT.STATUS"],
        vec!["REACT.STATUS", "1"],
        vec!["REACT.USERS"],
        vec!["REACT.USERS", "k"],
        vec!["REACT.RATE"],
        vec!["REACT.RATE", "a", "b"],
        vec!["REACT.INFO"],
        vec!["REACT.INFO", "a", "b"],
    ];
    for args in cases {
        let e = err(&mut c, &args);
        assert!(e.contains("wrong number of arguments"), "{args:?}: {e}");
        let lname = args[0].to_lowercase();
        assert!(e.contains(&lname), "{args:?}: the error names '{lname}': {e}");
    }
    assert_eq!(exists(&mut c, "k"), 0);
}

const BAD_IDS: &[&str] = &[
    "-1",
    "+1",
    "007",
    "00",
    "1.5",
    "abc",
    "0x10",
    " 1",
    "",
    "9223372036854775808",
    "18446744073709551616",
    "-0",
];

#[test]
fn bad_user_ids_are_refused_and_change_nothing() {
    let srv = Server::start();
    let mut c = srv.conn();
    add(&mut c, "k", "like", &[1, 2]);
    add(&mut c, "k", "dislike", &[3]);
    add(&mut c, "one", "up", &[5]);
    let digest = digest_value(&mut c, "k");
    let digest_one = digest_value(&mut c, "one");
    let rate0 = rate(&mut c, "REACT.RATE", "k");
    for &bad in BAD_IDS {
        let cmds: Vec<Vec<&str>> = vec![
            vec!["REACT.SET", "k", bad, "up"],
            vec!["REACT.SET", "fresh", bad, "up"],
            vec!["REACT.ADD", "k", "up", bad],
            vec!["REACT.ADD", "k", "up", "10", bad],
            vec!["REACT.ADD", "k", "dislike", bad, "1"],
            vec!["REACT.ADD", "k", "like", "3", bad, "11"],
            vec!["REACT.ADD", "fresh", "up", "10", bad],
            vec!["REACT.DEL", "k", bad],
            vec!["REACT.DEL", "k", "1", "2", "3", bad],
            vec!["REACT.DEL", "one", "5", bad],
            vec!["REACT.GET", "k", bad],
            vec!["REACT.GET", "fresh", bad],
            vec!["REACT.STATUS", bad, "k"],
            vec!["REACT.STATUS", bad, "fresh", "k"],
            vec!["REACT.USERS", "k", "like", "AFTER", bad],
        ];
        for args in cmds {
            let e = err(&mut c, &args);
            let want = format!("ERR invalid user ID '{bad}'");
            assert!(e.starts_with(&want), "{args:?}: expected {want:?}, got {e:?}");
        }
        assert_eq!(exists(&mut c, "fresh"), 0, "bad id {bad:?} created a key");
        assert_eq!(exists(&mut c, "one"), 1, "bad id {bad:?}: REACT.DEL removed the last user");
    }
    assert_eq!(digest_value(&mut c, "k"), digest);
    assert_eq!(digest_value(&mut c, "one"), digest_one);
    assert_eq!(counts(&mut c, "k"), ordered(&[("like", 2), ("dislike", 1)]));
    assert_eq!(rate(&mut c, "REACT.RATE", "k"), rate0, "refused writes are no activity");
    // The boundaries are IDs.
    assert_eq!(add(&mut c, "k", "up", &[0, MAX_ID]), 2);
    assert_eq!(users(&mut c, "k", "up", &[]), vec![0, MAX_ID as i64]);
}

// ------------------------------------------- LIKE.* on keys of several kinds --

#[test]
fn like_commands_see_only_likes_and_move_users() {
    let srv = Server::start();
    let mut c = srv.conn();
    add(&mut c, "v", "like", &[1, 2]);
    add(&mut c, "v", "dislike", &[3, 4, 5]);
    add(&mut c, "other", "dislike", &[1]);
    // LIKE.ADD moves a user out of another kind: both counts move.
    assert_eq!(int(&mut c, &["LIKE.ADD", "v", "3", "1", "9"]), 2, "3 moved, 9 new, 1 liked");
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 4), ("dislike", 2)]));
    assert_eq!(get(&mut c, "v", 3).as_deref(), Some("like"));
    // LIKE.DEL removes only likes.
    assert_eq!(int(&mut c, &["LIKE.DEL", "v", "4", "5"]), 0, "dislikes stay");
    assert_eq!(int(&mut c, &["LIKE.DEL", "v", "9", "4"]), 1);
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 3), ("dislike", 2)]));
    assert_eq!(int(&mut c, &["LIKE.DEL", "other", "1"]), 0);
    assert_eq!(exists(&mut c, "other"), 1, "LIKE.DEL leaves a key of dislikes");
    // LIKE.TOGGLE: a disliked user gets `like` (the dislike goes); a liked user loses it.
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "v", "4"]), 1);
    assert_eq!(get(&mut c, "v", 4).as_deref(), Some("like"));
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 4), ("dislike", 1)]));
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "v", "4"]), 0);
    assert_eq!(get(&mut c, "v", 4), None, "toggled off: no reaction, not the old dislike");
    assert_eq!(counts(&mut c, "v"), ordered(&[("like", 3), ("dislike", 1)]));
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "other", "1"]), 1);
    assert_eq!(counts(&mut c, "other"), vec![("like".to_string(), 1)]);

    // The LIKE reads see only `like`: v = like {1, 2, 3}, dislike {5}; d = dislikes only.
    add(&mut c, "d", "dislike", &[1, 5]);
    assert_eq!(int(&mut c, &["LIKE.COUNT", "v"]), 3);
    assert_eq!(int(&mut c, &["LIKE.COUNT", "d"]), 0);
    assert_eq!(int(&mut c, &["LIKE.HAS", "v", "1"]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "v", "5"]), 0, "a dislike is not a like");
    assert_eq!(int(&mut c, &["LIKE.HAS", "d", "1"]), 0);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "v"]), vec![1, 2, 3]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "v", "AFTER", "1", "LIMIT", "1"]), vec![2]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "d"]), Vec::<i64>::new());
    assert_eq!(ints(&mut c, &["LIKE.MCOUNT", "v", "d", "missing"]), vec![3, 0, 0]);
    let v = ok(&mut c, &["LIKE.STATUS", "5", "v", "d"]);
    let Value::Array(items) = &v else { panic!("{v:?}") };
    let got: Vec<Vec<i64>> = items.iter().map(|x| value_ints(x).unwrap()).collect();
    assert_eq!(got, vec![vec![3, 0], vec![0, 0]], "LIKE.STATUS: like count, liked");
    let info = like_info(&mut c, "d");
    assert_eq!(info_int(&info, "count"), 0, "LIKE.INFO of a key of dislikes");
    assert_eq!(info.get("encoding").and_then(as_str).as_deref(), Some("table"));
    // LIKE.RATE and REACT.RATE count every kind: v saw 5 + 2 + 1 (TOGGLE on) reactions set,
    // other 1 + 1, d 2.
    for (key, n) in [("v", 8), ("other", 2), ("d", 2)] {
        assert_eq!(rate(&mut c, "LIKE.RATE", key), vec![n, n], "LIKE.RATE {key}");
        assert_eq!(rate(&mut c, "REACT.RATE", key), vec![n, n], "REACT.RATE {key}");
    }

    // Back to only likes: a like-only key again (a like-set encoding, a like-only payload,
    // the digest of a key that only ever held those likes).
    assert_eq!(encoding(&mut c, "v"), "table");
    assert_eq!(del(&mut c, "v", &[5]), 1);
    let enc = encoding(&mut c, "v");
    assert!(LIKE_SET_ENCODINGS.contains(&enc.as_str()), "LIKE.INFO encoding {enc}");
    assert_eq!(info_int(&react_info(&mut c, "v"), "kinds"), 1);
    int(&mut c, &["LIKE.ADD", "plain", "1", "2", "3"]);
    assert_eq!(digest_value(&mut c, "v"), digest_value(&mut c, "plain"));
    let Value::BulkString(payload) = ok(&mut c, &["DUMP", "v"]) else { panic!("DUMP") };
    let parsed = dump::parse(&payload).expect("DUMP payload");
    let blob = parsed.blob().expect("blob");
    assert!(blob.first().is_some_and(|&k| k != 3), "a like-only payload, not a table (kind 3)");
    // A like-only payload is a version-3 payload, whatever version it is labelled.
    let v3 = parsed.with_encver(3).to_payload();
    let mut restore = redis::cmd("RESTORE");
    restore.arg("v-as-3").arg(0).arg(&v3);
    restore.query::<Value>(&mut c).expect("RESTORE as version 3");
    assert_eq!(digest_value(&mut c, "v-as-3"), digest_value(&mut c, "plain"));
    // And a big like-only key that went through a table comes back to a like-set encoding.
    let ids: Vec<u64> = (0..70_000).collect();
    add_many(&mut c, "big", &ids, 5_000);
    let enc0 = encoding(&mut c, "big");
    assert_eq!(set(&mut c, "big", 5, "dislike").as_deref(), Some("like"));
    assert_eq!(encoding(&mut c, "big"), "table");
    assert_eq!(int(&mut c, &["LIKE.COUNT", "big"]), 69_999);
    assert_eq!(set(&mut c, "big", 5, "like").as_deref(), Some("dislike"));
    assert_eq!(encoding(&mut c, "big"), enc0);
    assert_eq!(all_users(&mut c, "big"), ids);
}

// --------------------------------------------------------- key specs, docs --

fn getkeys(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut full = vec!["COMMAND", "GETKEYS"];
    full.extend_from_slice(args);
    let v = ok(c, &full);
    let Value::Array(a) = v else { panic!("COMMAND GETKEYS {args:?}: {v:?}") };
    a.iter().map(|x| as_str(x).unwrap()).collect()
}

/// (name, arity, first key, last key, is a write)
const REACT_COMMANDS: &[(&str, i64, i64, i64, bool)] = &[
    ("react.set", 4, 1, 1, true),
    ("react.add", -4, 1, 1, true),
    ("react.del", -3, 1, 1, true),
    ("react.get", 3, 1, 1, false),
    ("react.count", -2, 1, 1, false),
    ("react.counts", 2, 1, 1, false),
    ("react.status", -3, 2, -1, false),
    ("react.users", -3, 1, 1, false),
    ("react.rate", 2, 1, 1, false),
    ("react.info", 2, 1, 1, false),
];

#[test]
fn key_specs_getkeys_flags_and_docs() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: &[(&[&str], &[&str])] = &[
        (&["REACT.SET", "k", "1", "up"], &["k"]),
        (&["REACT.ADD", "k", "up", "1", "2"], &["k"]),
        (&["REACT.DEL", "k", "1", "2"], &["k"]),
        (&["REACT.GET", "k", "1"], &["k"]),
        (&["REACT.COUNT", "k"], &["k"]),
        (&["REACT.COUNT", "k", "up"], &["k"]),
        (&["REACT.COUNTS", "k"], &["k"]),
        (&["REACT.STATUS", "7", "a", "b", "c"], &["a", "b", "c"]),
        (&["REACT.STATUS", "7", "a"], &["a"]),
        (&["REACT.USERS", "k", "up", "AFTER", "5", "LIMIT", "3"], &["k"]),
        (&["REACT.RATE", "k"], &["k"]),
        (&["REACT.INFO", "k"], &["k"]),
    ];
    for (args, keys) in cases {
        assert_eq!(getkeys(&mut c, args), *keys, "COMMAND GETKEYS {args:?}");
    }
    for &(name, arity, first, last, write) in REACT_COMMANDS {
        let v = ok(&mut c, &["COMMAND", "INFO", name]);
        let Value::Array(outer) = &v else { panic!("COMMAND INFO {name}: {v:?}") };
        let Some(Value::Array(info)) = outer.first() else { panic!("{name} unknown: {v:?}") };
        assert_eq!(as_str(&info[0]).map(|n| n.to_lowercase()).as_deref(), Some(name));
        assert_eq!(as_int(&info[1]), Some(arity), "{name} arity");
        let flags: Vec<String> = match &info[2] {
            Value::Array(f) | Value::Set(f) => f.iter().filter_map(as_str).collect(),
            other => panic!("{name} flags {other:?}"),
        };
        let has = |f: &str| flags.iter().any(|x| x == f);
        if write {
            assert!(has("write") && has("denyoom") && !has("readonly"), "{name}: {flags:?}");
        } else {
            assert!(has("readonly") && !has("write"), "{name}: {flags:?}");
        }
        assert_eq!(
            (as_int(&info[3]), as_int(&info[4]), as_int(&info[5])),
            (Some(first), Some(last), Some(1)),
            "{name}: first key, last key, step"
        );
        let Value::Array(specs) = &info[8] else { panic!("{name} key specs {:?}", info[8]) };
        assert_eq!(specs.len(), 1, "{name}: one key spec");
        let spec = info_value_to_map(&specs[0]);
        let spec_flags: Vec<String> = match &spec["flags"] {
            Value::Array(f) | Value::Set(f) => f.iter().filter_map(as_str).collect(),
            other => panic!("{name} key spec flags {other:?}"),
        };
        let access = if write { "RW" } else { "RO" };
        assert!(spec_flags.iter().any(|f| f == access), "{name}: key spec flags {spec_flags:?}");
        let begin = info_value_to_map(&spec["begin_search"]);
        assert_eq!(begin.get("type").and_then(as_str).as_deref(), Some("index"), "{name}");
        let begin_spec = info_value_to_map(&begin["spec"]);
        assert_eq!(begin_spec.get("index").and_then(as_int), Some(first), "{name}: first key");
        let find = info_value_to_map(&spec["find_keys"]);
        assert_eq!(find.get("type").and_then(as_str).as_deref(), Some("range"), "{name}");
        let range = info_value_to_map(&find["spec"]);
        let lastkey = if last == -1 { -1 } else { 0 };
        assert_eq!(range.get("lastkey").and_then(as_int), Some(lastkey), "{name}: lastkey");
        assert_eq!(range.get("keystep").and_then(as_int), Some(1), "{name}: keystep");
    }

    // COMMAND DOCS: a summary and every argument.
    type ArgDoc = (&'static str, &'static str, Option<&'static str>, &'static [&'static str]);
    const KEY: ArgDoc = ("key", "key", None, &[]);
    const USER: ArgDoc = ("user", "integer", None, &[]);
    const USERS: ArgDoc = ("user", "integer", None, &["multiple"]);
    const KIND: ArgDoc = ("kind", "string", None, &[]);
    let want: &[(&str, &[ArgDoc])] = &[
        ("react.set", &[KEY, USER, KIND]),
        ("react.add", &[KEY, KIND, USERS]),
        ("react.del", &[KEY, USERS]),
        ("react.get", &[KEY, USER]),
        ("react.count", &[KEY, ("kind", "string", None, &["optional"])]),
        ("react.counts", &[KEY]),
        ("react.status", &[USER, ("key", "key", None, &["multiple"])]),
        (
            "react.users",
            &[
                KEY,
                KIND,
                ("after", "integer", Some("AFTER"), &["optional"]),
                ("limit", "integer", Some("LIMIT"), &["optional"]),
            ],
        ),
        ("react.rate", &[KEY]),
        ("react.info", &[KEY]),
    ];
    assert_eq!(want.len(), REACT_COMMANDS.len());
    for (command, args) in want {
        let docs = ok(&mut c, &["COMMAND", "DOCS", command]);
        let doc = match &docs {
            Value::Array(a) if a.len() == 2 => info_value_to_map(&a[1]),
            other => panic!("COMMAND DOCS {command}: {other:?}"),
        };
        let summary = doc.get("summary").and_then(as_str).unwrap_or_default();
        assert!(!summary.is_empty(), "{command}: no summary");
        let got = match doc.get("arguments") {
            Some(Value::Array(list)) => list.iter().map(info_value_to_map).collect::<Vec<_>>(),
            other => panic!("{command}: arguments {other:?}"),
        };
        assert_eq!(got.len(), args.len(), "{command}: {got:?}");
        for (arg, (name, kind, token, flags)) in got.iter().zip(args.iter()) {
            assert_eq!(arg.get("name").and_then(as_str).as_deref(), Some(*name), "{command}");
            assert_eq!(
                arg.get("type").and_then(as_str).as_deref(),
                Some(*kind),
                "{command} {name}"
            );
            assert_eq!(arg.get("token").and_then(as_str).as_deref(), *token, "{command} {name}");
            let got_flags: Vec<String> = match arg.get("flags") {
                Some(Value::Array(f)) | Some(Value::Set(f)) => {
                    f.iter().filter_map(as_str).collect()
                }
                None => vec![],
                other => panic!("{command} {name}: flags {other:?}"),
            };
            assert_eq!(got_flags, flags.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        }
    }
    // COMMAND LIST has them all.
    let listed: BTreeSet<String> = match ok(&mut c, &["COMMAND", "LIST"]) {
        Value::Array(a) | Value::Set(a) => a.iter().filter_map(as_str).collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    };
    for &(name, ..) in REACT_COMMANDS {
        assert!(listed.contains(name), "COMMAND LIST lacks {name}");
    }
}

#[test]
fn writes_are_refused_under_maxmemory() {
    let srv = Server::start();
    let mut c = srv.conn();
    add(&mut c, "k", "up", &[1, 2]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    for args in [
        vec!["REACT.SET", "k", "3", "down"],
        vec!["REACT.ADD", "k", "down", "3"],
        vec!["REACT.DEL", "k", "1"],
    ] {
        let e = err(&mut c, &args);
        assert!(e.starts_with("OOM"), "{args:?} under maxmemory: {e}");
    }
    assert_eq!(get(&mut c, "k", 1).as_deref(), Some("up"), "reads still run");
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(set(&mut c, "k", 3, "down"), None);
    assert_eq!(counts(&mut c, "k"), ordered(&[("up", 2), ("down", 1)]));
}

// --------------------------------------------------------------- memory --

/// A like/dislike key costs at most what two like-only keys of the same users cost
/// (MEMORY USAGE, which counts each key's value, name and dictionary entry: names of equal
/// length on both sides).
#[test]
fn a_like_dislike_key_costs_at_most_two_like_only_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = like_harness_free_rng(7);
    // (likes, dislikes, id shape)
    let shapes: &[(u64, u64, &str)] = &[
        (1, 1, "small"),
        (2, 1, "small"),
        (10, 10, "small"),
        (100, 3, "small"),
        (1_000, 1_000, "interleaved"),
        (5_000, 50, "random"),
        (20_000, 20_000, "interleaved"),
        (100_000, 100_000, "interleaved"),
        (70_000, 2_000, "random"),
        (300, 300, "random63"),
    ];
    for (i, &(nl, nd, shape)) in shapes.iter().enumerate() {
        let (likes, dislikes): (Vec<u64>, Vec<u64>) = match shape {
            "small" => ((0..nl).collect(), (1000..1000 + nd).collect()),
            "interleaved" => {
                ((0..nl).map(|i| 2 * i).collect(), (0..nd).map(|i| 2 * i + 1).collect())
            }
            _ => {
                let bits = if shape == "random63" { 63 } else { 24 };
                let mut all = BTreeSet::new();
                while all.len() < (nl + nd) as usize {
                    all.insert(rng() >> (64 - bits));
                }
                let mut all: Vec<u64> = all.into_iter().collect();
                // A fixed shuffle: every third ID goes to the dislikes first.
                let d: Vec<u64> = all.iter().copied().step_by(3).take(nd as usize).collect();
                let ds: BTreeSet<u64> = d.iter().copied().collect();
                all.retain(|x| !ds.contains(x));
                all.truncate(nl as usize);
                (all, d)
            }
        };
        // The keys' recent activity is one inline word while their writes fall in one
        // 10-second stripe, and rings after that: write all three within one stripe (retry
        // in the rare case the writes straddle a stripe boundary).
        let stripe = || {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.expect("clock").as_millis() / 10_000
        };
        let mut compared = false;
        for attempt in 0..5 {
            let (a, b, p) = (
                format!("a:{i:03}:{attempt}"),
                format!("b:{i:03}:{attempt}"),
                format!("p:{i:03}:{attempt}"),
            );
            let before = stripe();
            assert_eq!(add_many(&mut c, &a, &likes, 1000), likes.len() as i64);
            assert_eq!(add_many_kind(&mut c, &b, "like", &dislikes), dislikes.len() as i64);
            assert_eq!(add_many_kind(&mut c, &p, "like", &likes), likes.len() as i64);
            assert_eq!(add_many_kind(&mut c, &p, "dislike", &dislikes), dislikes.len() as i64);
            if stripe() != before {
                continue;
            }
            let usage = |c: &mut redis::Connection, k: &str| int(c, &["MEMORY", "USAGE", k]);
            let (ma, mb, mp) = (usage(&mut c, &a), usage(&mut c, &b), usage(&mut c, &p));
            println!(
                "{nl} likes + {nd} dislikes ({shape}): like-only {ma} + {mb}, like/dislike {mp}"
            );
            assert!(
                mp <= ma + mb,
                "{nl} likes + {nd} dislikes ({shape}): MEMORY USAGE {mp} > {ma} + {mb} of two \
                 like-only keys (encodings {} / {})",
                encoding(&mut c, &a),
                encoding(&mut c, &b)
            );
            compared = true;
            break;
        }
        assert!(compared, "{nl} + {nd} ({shape}): the writes never fit one 10-second stripe");
    }
}

/// SplitMix64, for test data only.
fn like_harness_free_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

// ------------------------------------------------------------ RESP3 --

#[test]
fn resp3_reply_shapes() {
    let srv = Server::start();
    let mut c = srv.conn_resp3();
    assert_eq!(ok(&mut c, &["REACT.SET", "k", "1", "up"]), Value::Nil);
    assert_eq!(ok(&mut c, &["REACT.SET", "k", "1", "down"]), Value::BulkString(b"up".to_vec()));
    assert_eq!(ok(&mut c, &["REACT.ADD", "k", "up", "2", "3"]), Value::Int(2));
    assert_eq!(ok(&mut c, &["REACT.DEL", "k", "3"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["REACT.GET", "k", "2"]), Value::BulkString(b"up".to_vec()));
    assert_eq!(ok(&mut c, &["REACT.GET", "k", "3"]), Value::Nil);
    assert_eq!(ok(&mut c, &["REACT.COUNT", "k"]), Value::Int(2));
    assert_eq!(ok(&mut c, &["REACT.COUNT", "k", "down"]), Value::Int(1));
    assert_eq!(value_ints(&ok(&mut c, &["REACT.USERS", "k", "up"])), Some(vec![2]));
    assert_eq!(value_ints(&ok(&mut c, &["REACT.RATE", "k"])), Some(vec![4, 4]));
    let v = ok(&mut c, &["REACT.COUNTS", "k"]);
    assert_eq!(counts_of(&v), ordered(&[("up", 1), ("down", 1)]));
    assert!(matches!(v, Value::Map(_)));
    let v = ok(&mut c, &["REACT.INFO", "k"]);
    assert!(matches!(v, Value::Map(_)), "{v:?}");
    let m = info_value_to_map(&v);
    assert!(matches!(m["count"], Value::Int(2)) && matches!(m["kinds"], Value::Int(2)), "{m:?}");
    let st = status_of(&ok(&mut c, &["REACT.STATUS", "1", "k"]));
    assert_eq!(st, vec![(2, Some("down".to_string()), ordered(&[("up", 1), ("down", 1)]))]);
}

// ------------------------------------------------------- a random walk --

/// The model: user -> kind. Applies a write as SPEC.md says, or refuses it (changing
/// nothing) when the key would hold more than 16 kinds.
#[derive(Clone, Default)]
struct Model(BTreeMap<u64, String>);

impl Model {
    fn kinds(&self) -> usize {
        self.0.values().collect::<BTreeSet<_>>().len()
    }

    fn counts(&self) -> Vec<(String, i64)> {
        let mut m: BTreeMap<&str, i64> = BTreeMap::new();
        for k in self.0.values() {
            *m.entry(k).or_default() += 1;
        }
        let pairs: Vec<(&str, i64)> = m.into_iter().collect();
        ordered(&pairs)
    }

    /// Applies `change` to a copy; keeps it unless it makes more than 16 kinds.
    fn try_write<R>(&mut self, change: impl FnOnce(&mut Model) -> R) -> Option<R> {
        let mut next = self.clone();
        let r = change(&mut next);
        if next.kinds() > KINDS_MAX {
            return None;
        }
        *self = next;
        Some(r)
    }
}

#[test]
fn random_operations_match_a_model() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = like_harness_free_rng(0x5eed);
    let mut model = Model::default();
    // 24 kinds for 60 users: the limit is hit often.
    let kinds: Vec<String> =
        (0..24).map(|i| if i == 0 { "like".to_string() } else { format!("r{i}") }).collect();
    let pool: Vec<u64> =
        (0..60u64).map(|i| if i % 7 == 0 { MAX_ID - i } else { i * 1_000 }).collect();
    let key = "walk";
    let (mut refused, mut steps) = (0, 0);
    for step in 0..3_000 {
        steps = step;
        let user = pool[(rng() % pool.len() as u64) as usize];
        let kind = kinds[(rng() % if rng().is_multiple_of(4) { 24 } else { 18 }) as usize].clone();
        let some_users = |rng: &mut dyn FnMut() -> u64| -> Vec<u64> {
            (0..1 + rng() % 5).map(|_| pool[(rng() % pool.len() as u64) as usize]).collect()
        };
        let what;
        match rng() % 7 {
            0 | 1 => {
                what = format!("REACT.SET {user} {kind}");
                let got = q(&mut c, &["REACT.SET", key, &user.to_string(), &kind]);
                let want = model.try_write(|m| m.0.insert(user, kind.clone()));
                match (got, want) {
                    (Ok(v), Some(prev)) => assert_eq!(bulk_or_nil(&v), prev, "{what}"),
                    (Err(e), None) => {
                        assert_too_many(&e, &what);
                        refused += 1;
                    }
                    (got, want) => panic!("step {step}: {what}: got {got:?}, model {want:?}"),
                }
            }
            2 => {
                let us = some_users(&mut rng);
                what = format!("REACT.ADD {kind} {us:?}");
                let mut args = vec![s("REACT.ADD"), s(key), kind.clone()];
                args.extend(us.iter().map(s));
                let want = model.try_write(|m| {
                    let distinct: BTreeSet<u64> = us.iter().copied().collect();
                    distinct
                        .into_iter()
                        .filter(|u| m.0.insert(*u, kind.clone()).as_ref() != Some(&kind))
                        .count() as i64
                });
                match (q(&mut c, &args), want) {
                    (Ok(v), Some(n)) => assert_eq!(as_int(&v), Some(n), "{what}"),
                    (Err(e), None) => {
                        assert_too_many(&e, &what);
                        refused += 1;
                    }
                    (got, want) => panic!("step {step}: {what}: got {got:?}, model {want:?}"),
                }
            }
            3 => {
                let us = some_users(&mut rng);
                what = format!("REACT.DEL {us:?}");
                let distinct: BTreeSet<u64> = us.iter().copied().collect();
                let n = distinct.iter().filter(|u| model.0.remove(u).is_some()).count() as i64;
                assert_eq!(del(&mut c, key, &us), n, "step {step}: {what}");
            }
            4 => {
                let us = some_users(&mut rng);
                what = format!("LIKE.ADD {us:?}");
                let mut args = vec![s("LIKE.ADD"), s(key)];
                args.extend(us.iter().map(s));
                let want = model.try_write(|m| {
                    let distinct: BTreeSet<u64> = us.iter().copied().collect();
                    distinct
                        .into_iter()
                        .filter(|u| m.0.insert(*u, "like".into()).as_deref() != Some("like"))
                        .count() as i64
                });
                match (q(&mut c, &args), want) {
                    (Ok(v), Some(n)) => assert_eq!(as_int(&v), Some(n), "{what}"),
                    (Err(e), None) => {
                        assert_too_many(&e, &what);
                        refused += 1;
                    }
                    (got, want) => panic!("step {step}: {what}: got {got:?}, model {want:?}"),
                }
            }
            5 => {
                let us = some_users(&mut rng);
                what = format!("LIKE.DEL {us:?}");
                let distinct: BTreeSet<u64> = us.iter().copied().collect();
                let n = distinct
                    .iter()
                    .filter(|u| model.0.get(u).map(String::as_str) == Some("like"))
                    .count() as i64;
                distinct.iter().for_each(|u| {
                    if model.0.get(u).map(String::as_str) == Some("like") {
                        model.0.remove(u);
                    }
                });
                let mut args = vec![s("LIKE.DEL"), s(key)];
                args.extend(us.iter().map(s));
                assert_eq!(int(&mut c, &args), n, "step {step}: {what}");
            }
            _ => {
                what = format!("LIKE.TOGGLE {user}");
                let want = model.try_write(|m| {
                    if m.0.get(&user).map(String::as_str) == Some("like") {
                        m.0.remove(&user);
                        0
                    } else {
                        m.0.insert(user, "like".into());
                        1
                    }
                });
                match (q(&mut c, &["LIKE.TOGGLE", key, &user.to_string()]), want) {
                    (Ok(v), Some(n)) => assert_eq!(as_int(&v), Some(n), "{what}"),
                    (Err(e), None) => {
                        assert_too_many(&e, &what);
                        refused += 1;
                    }
                    (got, want) => panic!("step {step}: {what}: got {got:?}, model {want:?}"),
                }
            }
        }
        assert_eq!(counts(&mut c, key), model.counts(), "step {step} after {what}");
        assert_eq!(exists(&mut c, key), i64::from(!model.0.is_empty()), "step {step}: {what}");
        assert_eq!(get(&mut c, key, user), model.0.get(&user).cloned(), "step {step}: {what}");
        if step % 50 == 0 {
            check_against_model(&mut c, key, &model, &pool, &format!("step {step}"));
        }
    }
    println!("{} steps, {refused} refused by the kind limit", steps + 1);
    assert!(refused > 0, "the walk never reached the kind limit");
    check_against_model(&mut c, key, &model, &pool, "the end");
    ok(&mut c, &["DEBUG", "RELOAD"]);
    check_against_model(&mut c, key, &model, &pool, "after DEBUG RELOAD");
}

fn check_against_model(
    c: &mut redis::Connection,
    key: &str,
    model: &Model,
    pool: &[u64],
    when: &str,
) {
    let by_kind: BTreeMap<&str, Vec<u64>> =
        model.0.iter().fold(BTreeMap::new(), |mut m, (u, k)| {
            m.entry(k.as_str()).or_insert_with(Vec::new).push(*u);
            m
        });
    for (kind, ids) in &by_kind {
        assert_eq!(all_of_kind(c, key, kind), *ids, "{when}: REACT.USERS {kind}");
    }
    for &u in pool {
        assert_eq!(get(c, key, u), model.0.get(&u).cloned(), "{when}: REACT.GET {u}");
    }
    let likes = by_kind.get("like").cloned().unwrap_or_default();
    assert_eq!(int(c, &["LIKE.COUNT", key]), likes.len() as i64, "{when}: LIKE.COUNT");
    if !model.0.is_empty() {
        let info = react_info(c, key);
        assert_eq!(info_int(&info, "count"), model.0.len() as i64, "{when}");
        assert_eq!(info_int(&info, "kinds"), by_kind.len() as i64, "{when}");
        let only_likes = by_kind.keys().all(|&k| k == "like");
        let enc = encoding(c, key);
        assert_eq!(enc == "table", !only_likes, "{when}: LIKE.INFO encoding {enc}");
    }
}
