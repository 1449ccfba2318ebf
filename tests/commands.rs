//! Every command of SPEC.md against a real redis-server: replies, user ID
//! validation, option parsing, WRONGTYPE, arity, key specs, command flags,
//! RESP2 and RESP3 reply shapes.

use like_harness::*;
use redis::Value;

const MAX_ID: u64 = 9_223_372_036_854_775_807;

fn exists(con: &mut redis::Connection, key: &str) -> i64 {
    int(con, &["EXISTS", key])
}

fn count(con: &mut redis::Connection, key: &str) -> i64 {
    int(con, &["LIKE.COUNT", key])
}

// --------------------------------------------------------------- module --

/// The server runs the module of this test binary's own build: `target/<profile>/liblike.so`
/// next to `target/<profile>/deps/<this test>` (or `$LIKE_MODULE`), never another profile's.
#[test]
fn server_loads_the_module_of_this_build() {
    let srv = Server::start();
    let path = module_path();
    println!("module: {}", path.display());
    let line = format!("Module 'like' loaded from {}", path.display());
    assert!(srv.log().contains(&line), "no {line:?} in the server log:\n{}", tail(&srv.log(), 40));
    if std::env::var("LIKE_MODULE").unwrap_or_default().is_empty() {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        assert_eq!(path, deps.join("liblike.so"), "test binary {}", exe.display());
    }
}

// ------------------------------------------------------------------ ADD --

#[test]
fn add_counts_new_users_and_deduplicates() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(int(&mut c, &["LIKE.ADD", "post:1", "1", "2", "3"]), 3);
    assert_eq!(int(&mut c, &["LIKE.ADD", "post:1", "3", "4"]), 1, "only 4 is new");
    assert_eq!(int(&mut c, &["LIKE.ADD", "post:1", "1", "2", "3", "4"]), 0, "all liked already");
    assert_eq!(int(&mut c, &["LIKE.ADD", "post:1", "9", "9", "9"]), 1, "repeated id counts once");
    assert_eq!(count(&mut c, "post:1"), 5);
    assert_eq!(exists(&mut c, "post:1"), 1);
    // a single big command
    let mut args = vec![s("LIKE.ADD"), s("big")];
    args.extend((0..20_000u64).map(|i| s(i * 3)));
    assert_eq!(int(&mut c, &args), 20_000);
    assert_eq!(int(&mut c, &args), 0);
    assert_eq!(count(&mut c, "big"), 20_000);
}

// ------------------------------------------------------------------ DEL --

#[test]
fn del_counts_removed_and_deletes_key_when_empty() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(int(&mut c, &["LIKE.DEL", "missing", "1", "2"]), 0);
    assert_eq!(exists(&mut c, "missing"), 0, "LIKE.DEL must not create a key");

    assert_eq!(int(&mut c, &["LIKE.ADD", "k", "1", "2", "3", "4"]), 4);
    assert_eq!(int(&mut c, &["LIKE.DEL", "k", "1", "99"]), 1);
    assert_eq!(int(&mut c, &["LIKE.DEL", "k", "1"]), 0, "already removed");
    assert_eq!(int(&mut c, &["LIKE.DEL", "k", "2", "2", "2"]), 1, "repeated id counts once");
    assert_eq!(count(&mut c, "k"), 2);
    assert_eq!(exists(&mut c, "k"), 1);
    assert_eq!(int(&mut c, &["LIKE.DEL", "k", "3", "4", "5"]), 2);
    assert_eq!(exists(&mut c, "k"), 0, "key must be deleted with its last like");
    assert_eq!(as_str(&ok(&mut c, &["TYPE", "k"])).unwrap(), "none");
    assert_eq!(count(&mut c, "k"), 0);

    // emptying a large (roaring) set also deletes the key
    let ids: Vec<u64> = (0..50_000).collect();
    assert_eq!(add_many(&mut c, "big", &ids, 5000), 50_000);
    assert_eq!(del_many(&mut c, "big", &ids[..49_999], 5000), 49_999);
    assert_eq!(exists(&mut c, "big"), 1);
    assert_eq!(all_users(&mut c, "big"), vec![49_999]);
    assert_eq!(int(&mut c, &["LIKE.DEL", "big", "49999"]), 1);
    assert_eq!(exists(&mut c, "big"), 0);
}

// --------------------------------------------------------------- TOGGLE --

#[test]
fn toggle_flips_and_deletes_empty_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", "5"]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "5"]), 1);
    assert_eq!(count(&mut c, "k"), 1);
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", "6"]), 1);
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", "5"]), 0);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "5"]), 0);
    assert_eq!(count(&mut c, "k"), 1);
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", "6"]), 0);
    assert_eq!(exists(&mut c, "k"), 0, "toggling off the last like deletes the key");
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", "6"]), 1);
    assert_eq!(count(&mut c, "k"), 1);
}

// ---------------------------------------------------------- COUNT/MCOUNT --

#[test]
fn count_and_mcount_with_missing_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(count(&mut c, "nope"), 0);
    assert_eq!(int(&mut c, &["LIKE.ADD", "a", "1", "2", "3"]), 3);
    assert_eq!(int(&mut c, &["LIKE.ADD", "b", "10"]), 1);
    assert_eq!(count(&mut c, "a"), 3);
    assert_eq!(ints(&mut c, &["LIKE.MCOUNT", "a", "nope", "b", "a"]), vec![3, 0, 1, 3]);
    assert_eq!(ints(&mut c, &["LIKE.MCOUNT", "nope"]), vec![0]);
    assert_eq!(exists(&mut c, "nope"), 0, "reads must not create keys");
}

// ------------------------------------------------------------------ HAS --

#[test]
fn has_reports_membership() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "1"]), 0);
    assert_eq!(exists(&mut c, "k"), 0);
    ok(&mut c, &["LIKE.ADD", "k", "1", "4294967296", &MAX_ID.to_string()]);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "1"]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "2"]), 0);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "4294967296"]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "4294967297"]), 0);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", &MAX_ID.to_string()]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "0"]), 0);
}

// --------------------------------------------------------------- STATUS --

#[test]
fn status_gives_count_and_liked_per_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["LIKE.ADD", "p1", "7", "8"]);
    ok(&mut c, &["LIKE.ADD", "p2", "8"]);
    ok(&mut c, &["LIKE.ADD", "p3", "7", "1", "2", "3"]);
    let v = ok(&mut c, &["LIKE.STATUS", "7", "p1", "p2", "missing", "p3"]);
    let Value::Array(items) = &v else { panic!("LIKE.STATUS: expected array, got {v:?}") };
    let got: Vec<Vec<i64>> = items
        .iter()
        .map(|x| value_ints(x).unwrap_or_else(|| panic!("element not an int array: {x:?}")))
        .collect();
    assert_eq!(got, vec![vec![2, 1], vec![1, 0], vec![0, 0], vec![4, 1]]);
    assert_eq!(exists(&mut c, "missing"), 0);
    let v = ok(&mut c, &["LIKE.STATUS", "8", "p2"]);
    let Value::Array(items) = &v else { panic!("{v:?}") };
    assert_eq!(items.len(), 1);
    assert_eq!(value_ints(&items[0]).unwrap(), vec![1, 1]);
}

/// LIKE.STATUS and LIKE.MCOUNT over more keys than one batch of keys opened together (128),
/// each of every form (one like, a few, a big sparse set, a dense run, a key with a dislike
/// too, a missing one): every element as the one-key commands answer it, and WRONGTYPE from a
/// key in any batch fails the whole command with the connection in step.
#[test]
fn status_and_mcount_over_many_keys_of_every_form() {
    let srv = Server::start();
    let mut c = srv.conn();
    let user = 1_700_000_000_123_456_789u64;
    ok(&mut c, &["LIKE.ADD", "one", "42"]);
    ok(&mut c, &["LIKE.ADD", "few", "3", "5", "8", &user.to_string()]);
    let mut sparse: Vec<u64> =
        (0..20_000u64).map(|i| user - 7_000_000 * 10_000 + i * 7_000_003).collect();
    sparse.push(user);
    add_many(&mut c, "sparse", &sparse, 5000);
    let dense: Vec<u64> = (1..=70_000).collect();
    add_many(&mut c, "dense", &dense, 5000);
    ok(&mut c, &["REACT.SET", "mixed", &user.to_string(), "dislike"]);
    ok(&mut c, &["LIKE.ADD", "mixed", "9", "10"]);
    let keys = ["one", "few", "sparse", "dense", "mixed", "missing"];
    let want: Vec<Vec<i64>> = keys
        .iter()
        .map(|k| vec![count(&mut c, k), int(&mut c, &["LIKE.HAS", k, &user.to_string()])])
        .collect();
    assert_eq!(want, [[1, 0], [4, 1], [20_001, 1], [70_000, 0], [2, 0], [0, 0]]);
    let forms: Vec<String> =
        keys[..4].iter().map(|k| as_str(&like_info(&mut c, k)["encoding"]).unwrap()).collect();
    assert_eq!(forms, ["single", "packed", "elias-fano", "roaring"]);
    for n in [1, 127, 128, 129, 300] {
        let picked: Vec<&str> = (0..n).map(|i| keys[i % keys.len()]).collect();
        let mut args = vec![s("LIKE.STATUS"), s(user)];
        args.extend(picked.iter().map(s));
        let v = ok(&mut c, &args);
        let Value::Array(items) = &v else { panic!("LIKE.STATUS: {v:?}") };
        assert_eq!(items.len(), n);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(value_ints(item).as_ref(), Some(&want[i % keys.len()]), "{n} keys, key {i}");
        }
        let mut args = vec![s("LIKE.MCOUNT")];
        args.extend(picked.iter().map(s));
        let counts: Vec<i64> = (0..n).map(|i| want[i % keys.len()][0]).collect();
        assert_eq!(ints(&mut c, &args), counts, "LIKE.MCOUNT of {n} keys");
    }
    ok(&mut c, &["SET", "str", "x"]);
    for at in [0, 127, 128, 200, 299] {
        let mut keys_with_str: Vec<String> = (0..300).map(|i| s(keys[i % keys.len()])).collect();
        keys_with_str[at] = s("str");
        for head in [vec![s("LIKE.STATUS"), s(user)], vec![s("LIKE.MCOUNT")]] {
            let args: Vec<String> = head.into_iter().chain(keys_with_str.iter().cloned()).collect();
            let e = err(&mut c, &args);
            assert!(e.starts_with(WRONGTYPE), "str at {at}: {e}");
            assert_eq!(count(&mut c, "few"), 4, "in step after the error");
        }
    }
}

// ---------------------------------------------------------------- USERS --

#[test]
fn users_ascending_after_and_limit() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(ints(&mut c, &["LIKE.USERS", "missing"]), Vec::<i64>::new());
    assert_eq!(exists(&mut c, "missing"), 0);

    ok(
        &mut c,
        &["LIKE.ADD", "k", "50", "3", "4294967296", "0", "17", &MAX_ID.to_string(), "4294967295"],
    );
    let all = vec![0, 3, 17, 50, 4294967295, 4294967296, MAX_ID as i64];
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k"]), all);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", "0"]), all[1..].to_vec());
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", "3"]), all[2..].to_vec());
    assert_eq!(
        ints(&mut c, &["LIKE.USERS", "k", "AFTER", "4"]),
        all[2..].to_vec(),
        "AFTER a non-member"
    );
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", "4294967295"]), all[5..].to_vec());
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", &MAX_ID.to_string()]), Vec::<i64>::new());
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "LIMIT", "2"]), all[..2].to_vec());
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", "3", "LIMIT", "2"]), vec![17, 50]);
    assert_eq!(
        ints(&mut c, &["LIKE.USERS", "k", "LIMIT", "2", "AFTER", "3"]),
        vec![17, 50],
        "options in any order"
    );
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "LIMIT", "1"]), vec![0]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "LIMIT", "10000"]), all);
}

#[test]
fn users_default_limit_is_100_and_max_is_10000() {
    let srv = Server::start();
    let mut c = srv.conn();
    let ids: Vec<u64> = (0..25_000u64).map(|i| i * 11 + 5).collect();
    add_many(&mut c, "k", &ids, 5000);
    let first = ints(&mut c, &["LIKE.USERS", "k"]);
    assert_eq!(first.len(), 100, "default LIMIT is 100");
    assert_eq!(first, ids[..100].iter().map(|&x| x as i64).collect::<Vec<_>>());
    let big = ints(&mut c, &["LIKE.USERS", "k", "LIMIT", "10000"]);
    assert_eq!(big.len(), 10_000);
    assert_eq!(big, ids[..10_000].iter().map(|&x| x as i64).collect::<Vec<_>>());
    let after = ids[12_344].to_string();
    let mid = ints(&mut c, &["LIKE.USERS", "k", "AFTER", &after, "LIMIT", "10000"]);
    assert_eq!(mid, ids[12_345..22_345].iter().map(|&x| x as i64).collect::<Vec<_>>());
}

#[test]
fn users_pagination_through_1000_users_equals_full_set() {
    let srv = Server::start();
    let mut c = srv.conn();
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut want = std::collections::BTreeSet::new();
    while want.len() < 1000 {
        let id: u64 = match rng.gen_range(0..3) {
            0 => rng.gen_range(0..5000),
            1 => rng.gen_range(0..=MAX_ID),
            _ => rng.gen_range(4_294_967_000..4_294_968_000),
        };
        want.insert(id);
    }
    let v: Vec<u64> = want.iter().copied().collect();
    // add in random order, a few at a time
    let mut shuffled = v.clone();
    use rand::seq::SliceRandom;
    shuffled.shuffle(&mut rng);
    for chunk in shuffled.chunks(7) {
        let mut args = vec![s("LIKE.ADD"), s("k")];
        args.extend(chunk.iter().map(s));
        ok(&mut c, &args);
    }
    assert_eq!(count(&mut c, "k"), 1000);
    for page in [1usize, 7, 100, 999, 1000, 10_000] {
        assert_eq!(all_users_paged(&mut c, "k", page), v, "paging with LIMIT {page}");
    }
    // default limit paging
    let mut got: Vec<u64> = Vec::new();
    loop {
        let mut args = vec![s("LIKE.USERS"), s("k")];
        if let Some(l) = got.last() {
            args.push(s("AFTER"));
            args.push(s(l));
        }
        let page = ints(&mut c, &args);
        got.extend(page.iter().map(|&x| x as u64));
        if page.len() < 100 {
            break;
        }
    }
    assert_eq!(got, v);
}

#[test]
fn users_bad_options_are_refused() {
    let (_srv, mut c) = start_with_likes("k", &["1", "2", "3"]);
    for bad in ["0", "10001", "-1", "abc", "", "1.5", "99999999999999999999"] {
        let e = err(&mut c, &["LIKE.USERS", "k", "LIMIT", bad]);
        assert!(e.starts_with("ERR "), "LIMIT {bad:?}: {e}");
        assert!(e.contains("LIMIT"), "LIMIT {bad:?}: error should mention LIMIT: {e}");
        // also on a missing key: the arguments are still checked
        let e = err(&mut c, &["LIKE.USERS", "missing", "LIMIT", bad]);
        assert!(e.starts_with("ERR ") && e.contains("LIMIT"), "missing key, LIMIT {bad:?}: {e}");
    }
    for bad in ["-1", "abc", "", "007", "9223372036854775808"] {
        let e = err(&mut c, &["LIKE.USERS", "k", "AFTER", bad]);
        assert!(e.starts_with("ERR invalid user ID"), "AFTER {bad:?}: {e}");
    }
    let e = err(&mut c, &["LIKE.USERS", "k", "FOO", "1"]);
    assert!(e.starts_with("ERR syntax error"), "unknown option: {e}");
    let e = err(&mut c, &["LIKE.USERS", "k", "AFTER"]);
    assert!(e.starts_with("ERR"), "AFTER without value: {e}");
    let e = err(&mut c, &["LIKE.USERS", "k", "LIMIT"]);
    assert!(e.starts_with("ERR"), "LIMIT without value: {e}");
    let e = err(&mut c, &["LIKE.USERS", "k", "1"]);
    assert!(e.starts_with("ERR syntax error"), "stray argument: {e}");
}

#[test]
fn users_options_are_case_insensitive() {
    // Redis convention (SSCAN's MATCH/COUNT, SET's NX...): option names are
    // case-insensitive.
    let (_srv, mut c) = start_with_likes("k", &["1", "2", "3"]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "after", "1", "limit", "1"]), vec![2]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "After", "1", "Limit", "5"]), vec![2, 3]);
}

// ----------------------------------------------------------------- RATE --

#[test]
fn rate_counts_recent_adds() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(ints(&mut c, &["LIKE.RATE", "missing"]), vec![0, 0]);
    assert_eq!(exists(&mut c, "missing"), 0);
    let n = 37;
    for i in 0..n {
        assert_eq!(int(&mut c, &["LIKE.ADD", "k", &i.to_string()]), 1);
    }
    assert_eq!(ints(&mut c, &["LIKE.RATE", "k"]), vec![n, n]);
    // one multi-id command counts each new like
    assert_eq!(int(&mut c, &["LIKE.ADD", "k2", "1", "2", "3", "4", "5"]), 5);
    assert_eq!(ints(&mut c, &["LIKE.RATE", "k2"]), vec![5, 5]);
}

// ----------------------------------------------------------------- INFO --

#[test]
fn info_fields() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["LIKE.ADD", "small", "42"]);
    let m = like_info(&mut c, "small");
    for f in ["count", "encoding", "memory", "rate-1m", "rate-1h"] {
        assert!(m.contains_key(f), "LIKE.INFO lacks {f}: {m:?}");
    }
    assert_eq!(field_int(&m["count"]), Some(1));
    let enc = as_str(&m["encoding"]).expect("encoding is a string");
    assert!(["single", "packed", "roaring"].contains(&enc.as_str()), "encoding {enc}");
    assert!(field_int(&m["memory"]).unwrap() >= 0, "memory {:?}", m["memory"]);
    assert_eq!(field_int(&m["rate-1m"]), Some(1));
    assert_eq!(field_int(&m["rate-1h"]), Some(1));

    let ids: Vec<u64> = (0..100_000).collect();
    add_many(&mut c, "big", &ids, 10_000);
    let m = like_info(&mut c, "big");
    assert_eq!(field_int(&m["count"]), Some(100_000));
    let enc = as_str(&m["encoding"]).unwrap();
    assert_eq!(enc, "roaring", "100,000 dense ids should be a roaring bitmap");
    let mem_big = field_int(&m["memory"]).unwrap();
    let mem_small = field_int(&like_info(&mut c, "small")["memory"]).unwrap();
    assert!(mem_big > mem_small, "memory: big {mem_big} <= small {mem_small}");
    assert_eq!(field_int(&m["rate-1m"]), Some(100_000));
    assert_eq!(field_int(&m["rate-1h"]), Some(100_000));

    let mut seen = std::collections::BTreeSet::new();
    for n in [1u64, 2, 10, 100, 1000, 5000, 20_000] {
        let key = format!("n{n}");
        let ids: Vec<u64> = (0..n).map(|i| i * 1_000_003).collect();
        add_many(&mut c, &key, &ids, 5000);
        let m = like_info(&mut c, &key);
        assert_eq!(field_int(&m["count"]), Some(n as i64));
        let enc = as_str(&m["encoding"]).unwrap();
        assert!(
            ["single", "packed", "roaring", "elias-fano"].contains(&enc.as_str()),
            "encoding {enc}"
        );
        seen.insert(enc);
    }
    println!("encodings seen for sparse sets of 1..20000: {seen:?}");
}

// ---------------------------------------------------------------- bad IDs --

const BAD_IDS: &[&str] = &[
    "-1",
    "+1",
    "007",
    "00",
    "1.5",
    "abc",
    "0x10",
    " 1",
    "1 ",
    "",
    "1e3",
    "9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999",
    "-0",
];

fn assert_bad_id(e: &str, arg: &str, what: &str) {
    let want = format!("ERR invalid user ID '{arg}'");
    assert!(e.starts_with(&want), "{what}: expected an error starting with {want:?}, got {e:?}");
}

#[test]
fn bad_user_ids_are_refused_and_change_nothing() {
    let (_srv, mut c) = start_with_likes("k", &["1", "2", "3"]);
    let digest0 = digest_value(&mut c, "k");
    for &bad in BAD_IDS {
        // ADD: bad among good, in every position
        for args in [
            vec!["LIKE.ADD", "k", bad],
            vec!["LIKE.ADD", "k", "10", bad],
            vec!["LIKE.ADD", "k", bad, "11"],
            vec!["LIKE.ADD", "k", "12", bad, "13"],
        ] {
            let e = err(&mut c, &args);
            assert_bad_id(&e, bad, &format!("{args:?}"));
        }
        let e = err(&mut c, &["LIKE.ADD", "fresh", "10", bad]);
        assert_bad_id(&e, bad, "LIKE.ADD fresh");
        assert_eq!(exists(&mut c, "fresh"), 0, "a refused LIKE.ADD created the key (bad {bad:?})");

        for args in [
            vec!["LIKE.DEL", "k", bad],
            vec!["LIKE.DEL", "k", "1", bad],
            vec!["LIKE.DEL", "k", bad, "2"],
        ] {
            let e = err(&mut c, &args);
            assert_bad_id(&e, bad, &format!("{args:?}"));
        }
        // a DEL that would empty the key: must not delete it
        ok(&mut c, &["LIKE.ADD", "one", "5"]);
        let e = err(&mut c, &["LIKE.DEL", "one", "5", bad]);
        assert_bad_id(&e, bad, "LIKE.DEL one 5 <bad>");
        assert_eq!(exists(&mut c, "one"), 1);
        assert_eq!(count(&mut c, "one"), 1);

        let e = err(&mut c, &["LIKE.TOGGLE", "k", bad]);
        assert_bad_id(&e, bad, "LIKE.TOGGLE");
        let e = err(&mut c, &["LIKE.TOGGLE", "fresh", bad]);
        assert_bad_id(&e, bad, "LIKE.TOGGLE fresh");
        let e = err(&mut c, &["LIKE.HAS", "k", bad]);
        assert_bad_id(&e, bad, "LIKE.HAS");
        let e = err(&mut c, &["LIKE.HAS", "fresh", bad]);
        assert_bad_id(&e, bad, "LIKE.HAS fresh");
        let e = err(&mut c, &["LIKE.STATUS", bad, "k"]);
        assert_bad_id(&e, bad, "LIKE.STATUS");
        let e = err(&mut c, &["LIKE.STATUS", bad, "fresh", "k"]);
        assert_bad_id(&e, bad, "LIKE.STATUS fresh");
        let e = err(&mut c, &["LIKE.USERS", "k", "AFTER", bad]);
        assert!(e.starts_with("ERR invalid user ID"), "LIKE.USERS AFTER {bad:?}: {e}");

        assert_eq!(count(&mut c, "k"), 3, "bad id {bad:?} changed the count");
        assert_eq!(ints(&mut c, &["LIKE.USERS", "k"]), vec![1, 2, 3]);
        assert_eq!(exists(&mut c, "fresh"), 0, "bad id {bad:?} created a key");
    }
    assert_eq!(digest_value(&mut c, "k"), digest0);
    assert_eq!(ints(&mut c, &["LIKE.RATE", "fresh"]), vec![0, 0]);
    assert_eq!(
        ints(&mut c, &["LIKE.RATE", "k"]),
        vec![3, 3],
        "refused adds must not count as activity"
    );
}

#[test]
fn bad_id_error_continues_with_range_explanation() {
    let srv = Server::start();
    let mut c = srv.conn();
    let e = err(&mut c, &["LIKE.ADD", "k", "abc"]);
    assert!(e.starts_with("ERR invalid user ID 'abc'"), "{e}");
    println!("bad ID message: {e}");
}

#[test]
fn boundary_ids_are_accepted() {
    let srv = Server::start();
    let mut c = srv.conn();
    let max = MAX_ID.to_string();
    assert_eq!(int(&mut c, &["LIKE.ADD", "k", "0", &max]), 2);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", "0"]), 1);
    assert_eq!(int(&mut c, &["LIKE.HAS", "k", &max]), 1);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k"]), vec![0, MAX_ID as i64]);
    assert_eq!(ints(&mut c, &["LIKE.USERS", "k", "AFTER", "0"]), vec![MAX_ID as i64]);
    let v = ok(&mut c, &["LIKE.STATUS", &max, "k"]);
    let Value::Array(items) = &v else { panic!("{v:?}") };
    assert_eq!(value_ints(&items[0]).unwrap(), vec![2, 1]);
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "k", &max]), 0);
    assert_eq!(int(&mut c, &["LIKE.DEL", "k", "0"]), 1);
    assert_eq!(exists(&mut c, "k"), 0);
}

// ------------------------------------------------------------- WRONGTYPE --

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn wrongtype_for_every_command() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["SET", "str", "hello"]);
    ok(&mut c, &["SADD", "set", "1", "2"]);
    ok(&mut c, &["LIKE.ADD", "good", "1"]);
    for key in ["str", "set"] {
        let cmds: Vec<Vec<&str>> = vec![
            vec!["LIKE.ADD", key, "1"],
            vec!["LIKE.DEL", key, "1"],
            vec!["LIKE.TOGGLE", key, "1"],
            vec!["LIKE.COUNT", key],
            vec!["LIKE.MCOUNT", key],
            vec!["LIKE.MCOUNT", "good", key],
            vec!["LIKE.MCOUNT", key, "good", "missing"],
            vec!["LIKE.HAS", key, "1"],
            vec!["LIKE.STATUS", "1", key],
            vec!["LIKE.STATUS", "1", "good", key],
            vec!["LIKE.USERS", key],
            vec!["LIKE.USERS", key, "AFTER", "1", "LIMIT", "5"],
            vec!["LIKE.RATE", key],
            vec!["LIKE.INFO", key],
        ];
        for args in cmds {
            let e = err(&mut c, &args);
            assert!(e.starts_with(WRONGTYPE), "{args:?}: {e}");
        }
    }
    assert_eq!(as_str(&ok(&mut c, &["GET", "str"])).unwrap(), "hello");
    assert_eq!(int(&mut c, &["SCARD", "set"]), 2);
    assert_eq!(count(&mut c, "good"), 1);
    // and the native commands refuse a like key
    let e = err(&mut c, &["SADD", "good", "1"]);
    assert!(e.starts_with("WRONGTYPE"), "{e}");
}

// ----------------------------------------------------------------- arity --

#[test]
fn arity_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: Vec<Vec<&str>> = vec![
        vec!["LIKE.ADD"],
        vec!["LIKE.ADD", "k"],
        vec!["LIKE.DEL"],
        vec!["LIKE.DEL", "k"],
        vec!["LIKE.TOGGLE"],
        vec!["LIKE.TOGGLE", "k"],
        vec!["LIKE.TOGGLE", "k", "1", "2"],
        vec!["LIKE.COUNT"],
        vec!["LIKE.COUNT", "a", "b"],
        vec!["LIKE.MCOUNT"],
        vec!["LIKE.HAS"],
        vec!["LIKE.HAS", "k"],
        vec!["LIKE.HAS", "k", "1", "2"],
        vec!["LIKE.STATUS"],
        vec!["LIKE.STATUS", "1"],
        vec!["LIKE.USERS"],
        vec!["LIKE.RATE"],
        vec!["LIKE.RATE", "a", "b"],
        vec!["LIKE.INFO"],
        vec!["LIKE.INFO", "a", "b"],
    ];
    for args in cases {
        let e = err(&mut c, &args);
        assert!(e.contains("wrong number of arguments"), "{args:?}: {e}");
        let lname = args[0].to_lowercase();
        assert!(e.contains(&lname), "{args:?}: error should name '{lname}': {e}");
    }
    assert_eq!(exists(&mut c, "k"), 0);
}

// -------------------------------------------------------- COMMAND GETKEYS --

fn getkeys(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut full = vec!["COMMAND", "GETKEYS"];
    full.extend_from_slice(args);
    let v = ok(c, &full);
    let Value::Array(a) = v else { panic!("COMMAND GETKEYS {args:?}: {v:?}") };
    a.iter().map(|x| as_str(x).unwrap()).collect()
}

#[test]
fn command_getkeys_returns_exactly_the_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(getkeys(&mut c, &["LIKE.STATUS", "7", "a", "b"]), vec!["a", "b"]);
    assert_eq!(getkeys(&mut c, &["LIKE.MCOUNT", "a", "b", "c"]), vec!["a", "b", "c"]);
    assert_eq!(getkeys(&mut c, &["LIKE.ADD", "k", "1", "2"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.DEL", "k", "1", "2"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.TOGGLE", "k", "1"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.COUNT", "k"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.HAS", "k", "1"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.USERS", "k", "AFTER", "5", "LIMIT", "3"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.RATE", "k"]), vec!["k"]);
    assert_eq!(getkeys(&mut c, &["LIKE.INFO", "k"]), vec!["k"]);
}

// ------------------------------------------------------------ COMMAND INFO --

fn command_flags(c: &mut redis::Connection, name: &str) -> Vec<String> {
    let v = ok(c, &["COMMAND", "INFO", name]);
    let Value::Array(outer) = &v else { panic!("COMMAND INFO {name}: {v:?}") };
    let Value::Array(info) = &outer[0] else {
        panic!("COMMAND INFO {name}: unknown command? {v:?}")
    };
    assert_eq!(as_str(&info[0]).unwrap().to_lowercase(), name);
    match &info[2] {
        Value::Array(f) | Value::Set(f) => f.iter().map(|x| as_str(x).unwrap()).collect(),
        other => panic!("flags: {other:?}"),
    }
}

#[test]
fn command_info_flags() {
    let srv = Server::start();
    let mut c = srv.conn();
    for w in ["like.add", "like.del", "like.toggle"] {
        let f = command_flags(&mut c, w);
        for want in ["write", "denyoom", "fast"] {
            assert!(f.iter().any(|x| x == want), "{w} flags {f:?} lack {want}");
        }
        assert!(!f.iter().any(|x| x == "readonly"), "{w} flags {f:?}");
    }
    // like.users (O(log N + n)) and like.info (memory is O(containers)) need not be fast.
    for r in ["like.count", "like.mcount", "like.has", "like.status", "like.rate"] {
        let f = command_flags(&mut c, r);
        for want in ["readonly", "fast"] {
            assert!(f.iter().any(|x| x == want), "{r} flags {f:?} lack {want}");
        }
        assert!(!f.iter().any(|x| x == "write"), "{r} flags {f:?}");
    }
    for r in ["like.users", "like.info"] {
        let f = command_flags(&mut c, r);
        assert!(f.iter().any(|x| x == "readonly"), "{r} flags {f:?}");
        assert!(!f.iter().any(|x| x == "write"), "{r} flags {f:?}");
    }
}

#[test]
fn write_commands_refused_under_maxmemory() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["LIKE.ADD", "k", "1"]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let e = err(&mut c, &["LIKE.ADD", "k", "2"]);
    assert!(e.starts_with("OOM"), "LIKE.ADD under maxmemory: {e}");
    assert_eq!(count(&mut c, "k"), 1);
    ok(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(int(&mut c, &["LIKE.ADD", "k", "2"]), 1);
}

// ----------------------------------------------------------------- RESP3 --

#[test]
fn resp3_reply_shapes() {
    let srv = Server::start();
    let mut c = srv.conn_resp3();
    assert!(matches!(ok(&mut c, &["LIKE.ADD", "k", "1", "2", "3"]), Value::Int(3)));
    assert!(matches!(ok(&mut c, &["LIKE.DEL", "k", "3"]), Value::Int(1)));
    assert!(matches!(ok(&mut c, &["LIKE.TOGGLE", "k", "9"]), Value::Int(1)));
    assert!(matches!(ok(&mut c, &["LIKE.COUNT", "k"]), Value::Int(3)));
    assert!(matches!(ok(&mut c, &["LIKE.HAS", "k", "9"]), Value::Int(1)));
    assert_eq!(value_ints(&ok(&mut c, &["LIKE.MCOUNT", "k", "x"])), Some(vec![3, 0]));
    assert_eq!(value_ints(&ok(&mut c, &["LIKE.USERS", "k"])), Some(vec![1, 2, 9]));
    assert_eq!(value_ints(&ok(&mut c, &["LIKE.RATE", "k"])).map(|v| v.len()), Some(2));
    let st = ok(&mut c, &["LIKE.STATUS", "9", "k", "x"]);
    let Value::Array(items) = &st else { panic!("STATUS under RESP3: {st:?}") };
    assert_eq!(value_ints(&items[0]), Some(vec![3, 1]));
    assert_eq!(value_ints(&items[1]), Some(vec![0, 0]));

    let inf = ok(&mut c, &["LIKE.INFO", "k"]);
    assert!(matches!(inf, Value::Map(_)), "LIKE.INFO under RESP3 should be a map, got {inf:?}");
    let m = info_value_to_map(&inf);
    for f in ["count", "encoding", "memory", "rate-1m", "rate-1h"] {
        assert!(m.contains_key(f), "LIKE.INFO lacks {f}: {m:?}");
    }
    assert!(matches!(m["count"], Value::Int(3)), "{:?}", m["count"]);

    // Under RESP2 the same command is a flat array.
    let mut c2 = srv.conn();
    let inf2 = ok(&mut c2, &["LIKE.INFO", "k"]);
    let Value::Array(flat) = &inf2 else { panic!("LIKE.INFO under RESP2: {inf2:?}") };
    assert_eq!(flat.len() % 2, 0);
    assert!(flat.len() >= 10);
}

#[test]
fn transactions_and_scripts() {
    // A Redis user expects the commands to work inside MULTI and Lua.
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["LIKE.ADD", "k", "1", "2"]);
    ok(&mut c, &["LIKE.COUNT", "k"]);
    let v = ok(&mut c, &["EXEC"]);
    assert_eq!(value_ints(&v), Some(vec![2, 2]));
    let v = ok(
        &mut c,
        &[
            "EVAL",
            "return redis.call('LIKE.ADD', KEYS[1], '3') + redis.call('LIKE.COUNT', KEYS[1])",
            "1",
            "k",
        ],
    );
    assert_eq!(as_int(&v), Some(4));
}

/// `COMMAND DOCS`: every command has a summary and its arguments (what
/// redis-cli shows as hints), keys typed as keys, options with their tokens.
#[test]
fn command_docs_describe_every_argument() {
    let srv = Server::start();
    let mut c = srv.conn();
    // (command, [(argument name, type, token, flags)])
    type ArgDoc = (&'static str, &'static str, Option<&'static str>, &'static [&'static str]);
    let want: &[(&str, &[ArgDoc])] = &[
        ("like.add", &[("key", "key", None, &[]), ("user", "integer", None, &["multiple"])]),
        ("like.del", &[("key", "key", None, &[]), ("user", "integer", None, &["multiple"])]),
        ("like.toggle", &[("key", "key", None, &[]), ("user", "integer", None, &[])]),
        ("like.count", &[("key", "key", None, &[])]),
        ("like.mcount", &[("key", "key", None, &["multiple"])]),
        ("like.has", &[("key", "key", None, &[]), ("user", "integer", None, &[])]),
        ("like.status", &[("user", "integer", None, &[]), ("key", "key", None, &["multiple"])]),
        (
            "like.users",
            &[
                ("key", "key", None, &[]),
                ("after", "integer", Some("AFTER"), &["optional"]),
                ("limit", "integer", Some("LIMIT"), &["optional"]),
            ],
        ),
        ("like.rate", &[("key", "key", None, &[])]),
        ("like.info", &[("key", "key", None, &[])]),
    ];
    for (command, args) in want {
        let docs = ok(&mut c, &["COMMAND", "DOCS", command]);
        let doc = match &docs {
            Value::Array(a) if a.len() == 2 => info_value_to_map(&a[1]),
            Value::Map(m) if m.len() == 1 => info_value_to_map(&m[0].1),
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
            assert_eq!(arg.get("type").and_then(as_str).as_deref(), Some(*kind), "{command}");
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
}
