//! ACL: key patterns are enforced on every command, LIKE.* and REACT.* (key specs), the commands
//! carry the ACL categories this server lets a module give, and the README's
//! ACL recipes work on the server the suite runs against.

use like_harness::*;
use redis::Value;

/// Every command, once with keys a `~post:*` user may touch and once with a
/// key outside the pattern (multi-key commands: one key of several).
const CASES: &[(&[&str], &[&str])] = &[
    (&["LIKE.ADD", "post:1", "7"], &["LIKE.ADD", "other:1", "7"]),
    (&["LIKE.DEL", "post:1", "8"], &["LIKE.DEL", "other:1", "8"]),
    (&["LIKE.TOGGLE", "post:1", "9"], &["LIKE.TOGGLE", "other:1", "9"]),
    (&["LIKE.COUNT", "post:1"], &["LIKE.COUNT", "other:1"]),
    (&["LIKE.MCOUNT", "post:1", "post:2"], &["LIKE.MCOUNT", "post:1", "other:2"]),
    (&["LIKE.HAS", "post:1", "7"], &["LIKE.HAS", "other:1", "7"]),
    (&["LIKE.STATUS", "7", "post:1", "post:2"], &["LIKE.STATUS", "7", "post:1", "other:2"]),
    (&["LIKE.USERS", "post:1", "LIMIT", "10"], &["LIKE.USERS", "other:1", "LIMIT", "10"]),
    (&["LIKE.RATE", "post:1"], &["LIKE.RATE", "other:1"]),
    (&["LIKE.INFO", "post:1"], &["LIKE.INFO", "other:1"]),
    (&["REACT.SET", "post:1", "7", "dislike"], &["REACT.SET", "other:1", "7", "dislike"]),
    (&["REACT.ADD", "post:1", "up", "10", "12"], &["REACT.ADD", "other:1", "up", "10"]),
    (&["REACT.DEL", "post:1", "12"], &["REACT.DEL", "other:1", "1"]),
    (&["REACT.GET", "post:1", "7"], &["REACT.GET", "other:1", "7"]),
    (&["REACT.COUNT", "post:1"], &["REACT.COUNT", "other:1"]),
    (&["REACT.COUNT", "post:1", "up"], &["REACT.COUNT", "other:1", "up"]),
    (&["REACT.COUNTS", "post:1"], &["REACT.COUNTS", "other:1"]),
    (&["REACT.STATUS", "7", "post:1", "post:2"], &["REACT.STATUS", "7", "post:1", "other:2"]),
    (
        &["REACT.USERS", "post:1", "up", "LIMIT", "10"],
        &["REACT.USERS", "other:1", "up", "LIMIT", "10"],
    ),
    (&["REACT.RATE", "post:1"], &["REACT.RATE", "other:1"]),
    (&["REACT.INFO", "post:1"], &["REACT.INFO", "other:1"]),
];

const READS: &[&str] = &[
    "like.count",
    "like.mcount",
    "like.has",
    "like.status",
    "like.users",
    "like.rate",
    "like.info",
    "react.get",
    "react.count",
    "react.counts",
    "react.status",
    "react.users",
    "react.rate",
    "react.info",
];
const WRITES: &[&str] =
    &["like.add", "like.del", "like.toggle", "react.set", "react.add", "react.del"];

/// A connection authenticated as `user` (password `pw`).
fn conn_as(srv: &Server, user: &str) -> redis::Connection {
    let url = format!("redis://{user}:pw@127.0.0.1:{}/", srv.port());
    redis::Client::open(url)
        .unwrap()
        .get_connection()
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
}

/// An array-of-strings reply, lowercased.
fn strings(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    match ok(con, args) {
        Value::Array(a) | Value::Set(a) => {
            a.iter().map(|v| as_str(v).expect("string").to_lowercase()).collect()
        }
        other => panic!("{args:?}: {other:?}"),
    }
}

fn is_noperm(e: &str) -> bool {
    e.starts_with("NOPERM")
}

#[test]
fn key_patterns_are_enforced_on_every_command() {
    let srv = Server::start();
    let mut admin = srv.conn();
    ok(&mut admin, &["LIKE.ADD", "other:1", "1"]);
    ok(&mut admin, &["LIKE.ADD", "post:1", "1", "8"]);
    ok(&mut admin, &["ACL", "SETUSER", "scoped", "on", ">pw", "~post:*", "+@all"]);
    let mut scoped = conn_as(&srv, "scoped");
    for (allowed, refused) in CASES {
        if let Err(e) = q(&mut scoped, allowed) {
            panic!("{allowed:?} as a ~post:* user: {e}");
        }
        let e = err(&mut scoped, refused);
        assert!(is_noperm(&e), "{refused:?} as a ~post:* user: expected NOPERM, got {e}");
    }
    // Refused writes changed nothing: other:1 still holds exactly user 1, a like.
    assert_eq!(ints(&mut admin, &["LIKE.USERS", "other:1"]), vec![1]);
    assert_eq!(int(&mut admin, &["REACT.COUNT", "other:1"]), 1);
    assert_eq!(int(&mut admin, &["EXISTS", "other:2"]), 0);
    // The allowed writes ran: post:1 holds user 7 as a dislike and user 10 as `up`.
    assert_eq!(as_str(&ok(&mut admin, &["REACT.GET", "post:1", "7"])).as_deref(), Some("dislike"));
    assert_eq!(as_str(&ok(&mut admin, &["REACT.GET", "post:1", "10"])).as_deref(), Some("up"));
    srv.conn(); // the server is still up
}

/// The server line, from INFO server: (is Valkey, version) where version is
/// Valkey's own for Valkey (which also reports redis_version 7.2.4).
fn server_line(con: &mut redis::Connection) -> (bool, (u32, u32)) {
    let info = info(con, "server");
    let valkey = info.contains_key("valkey_version");
    let version = if valkey { &info["valkey_version"] } else { &info["redis_version"] };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (valkey, (parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
}

/// Whether the server has RedisModule_SetCommandACLCategories (Redis 7.2+, Valkey)
/// and RedisModule_AddACLCategory (Redis 7.4+, Valkey 8).
fn acl_features(con: &mut redis::Connection) -> (bool, bool) {
    let (valkey, version) = server_line(con);
    if valkey {
        (true, version >= (8, 0))
    } else {
        (version >= (7, 2), version >= (7, 4))
    }
}

/// The ACL categories COMMAND INFO gives a command (without the `@`), sorted.
fn categories(con: &mut redis::Connection, command: &str) -> Vec<String> {
    let v = ok(con, &["COMMAND", "INFO", command]);
    let Value::Array(outer) = v else { panic!("COMMAND INFO {command}: {v:?}") };
    let Some(Value::Array(info)) = outer.first() else {
        panic!("COMMAND INFO {command}: {outer:?}")
    };
    let (Value::Array(cats) | Value::Set(cats)) = &info[6] else {
        panic!("COMMAND INFO {command}: categories {:?}", info[6])
    };
    let mut out: Vec<String> = cats
        .iter()
        .map(|c| as_str(c).expect("category name").trim_start_matches('@').to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn commands_carry_the_acl_categories_the_server_allows() {
    let srv = Server::start();
    let mut c = srv.conn();
    let (has_categories, has_own_category) = acl_features(&mut c);
    let all_categories: Vec<String> = strings(&mut c, &["ACL", "CAT"]);
    assert_eq!(
        all_categories.iter().any(|c| c == "like"),
        has_own_category,
        "ACL CAT lists `like` exactly where the server has RedisModule_AddACLCategory"
    );
    for (commands, kind) in [(READS, "read"), (WRITES, "write")] {
        for &command in commands {
            let got = categories(&mut c, command);
            if !has_categories {
                // Redis 7.0 gives module commands no category at all.
                assert!(got.is_empty(), "{command}: {got:?}");
                continue;
            }
            assert!(got.iter().any(|g| g == kind), "{command}: {got:?} lacks {kind}");
            let other = if kind == "read" { "write" } else { "read" };
            assert!(!got.iter().any(|g| g == other), "{command}: {got:?} has {other}");
            // fast exactly where the command flags say fast (O(1) or O(arguments)).
            let flags = command_flags(&mut c, command);
            assert_eq!(
                got.iter().any(|g| g == "fast"),
                flags.iter().any(|f| f == "fast"),
                "{command}: {got:?} vs flags {flags:?}"
            );
            assert_eq!(got.iter().any(|g| g == "like"), has_own_category, "{command}: {got:?}");
        }
    }
    if has_categories {
        // What operators reach for first: `+@read` covers the LIKE reads, not the writes.
        ok(&mut c, &["ACL", "SETUSER", "ro", "on", ">pw", "~*", "+@read"]);
        let mut ro = conn_as(&srv, "ro");
        assert_eq!(int(&mut ro, &["LIKE.COUNT", "post:1"]), 0);
        assert!(is_noperm(&err(&mut ro, &["LIKE.ADD", "post:1", "1"])));
    }
    // `ACL CAT like` lists module commands only from Redis 8 on (redis#13489);
    // Redis 7.4 and Valkey 8 list none, though `+@like` grants them all (see
    // readme_acl_recipes_work_on_this_server).
    let (valkey, version) = server_line(&mut c);
    if has_own_category && !valkey && version >= (7, 9) {
        let mut listed: Vec<String> = strings(&mut c, &["ACL", "CAT", "like"]);
        listed.sort();
        let mut want: Vec<String> = READS.iter().chain(WRITES).map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(listed, want);
    }
}

fn command_flags(con: &mut redis::Connection, command: &str) -> Vec<String> {
    let v = ok(con, &["COMMAND", "INFO", command]);
    let Value::Array(outer) = v else { panic!() };
    let Some(Value::Array(info)) = outer.first() else { panic!() };
    let (Value::Array(flags) | Value::Set(flags)) = &info[2] else { panic!("{:?}", info[2]) };
    flags.iter().map(|f| as_str(f).unwrap()).collect()
}

/// The README's ACL rules for a read-only user and a writer on this server line.
fn readme_recipes(con: &mut redis::Connection) -> (Vec<String>, Vec<String>) {
    let (_, has_own_category) = acl_features(con);
    if has_own_category {
        return (vec!["+@like".into(), "-@write".into()], vec!["+@like".into()]);
    }
    let plus = |names: &[&str]| names.iter().map(|n| format!("+{n}")).collect::<Vec<_>>();
    let reader = plus(READS);
    let mut writer = reader.clone();
    writer.extend(plus(WRITES));
    (reader, writer)
}

#[test]
fn readme_acl_recipes_work_on_this_server() {
    let srv = Server::start();
    let mut admin = srv.conn();
    ok(&mut admin, &["LIKE.ADD", "post:1", "1"]);
    let (reader_rules, writer_rules) = readme_recipes(&mut admin);
    for (user, rules) in [("reader", &reader_rules), ("writer", &writer_rules)] {
        let mut args = vec!["ACL", "SETUSER", user, "on", ">pw", "~post:*"];
        args.extend(rules.iter().map(String::as_str));
        ok(&mut admin, &args);
    }
    let mut reader = conn_as(&srv, "reader");
    let mut writer = conn_as(&srv, "writer");
    for (allowed, _) in CASES {
        let write = WRITES.contains(&allowed[0].to_lowercase().as_str());
        if let Err(e) = q(&mut writer, allowed) {
            panic!("writer {allowed:?}: {e}");
        }
        match q(&mut reader, allowed) {
            Err(e) if write => assert!(is_noperm(&e), "reader {allowed:?}: {e}"),
            Ok(v) if write => panic!("reader ran the write {allowed:?}: {v:?}"),
            Err(e) => panic!("reader {allowed:?}: {e}"),
            Ok(_) => {}
        }
    }
    // Neither recipe grants native commands.
    for user in [&mut reader, &mut writer] {
        assert!(is_noperm(&err(user, &["GET", "post:1"])));
        assert!(is_noperm(&err(user, &["FLUSHALL"])));
    }
}
