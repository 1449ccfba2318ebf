//! Keyspace notifications (`like.add`, `like.del`, `react.set`, `react.del`,
//! `del`) and client-side caching invalidation (CLIENT TRACKING) for LIKE.*
//! and REACT.* writes.

use like_harness::*;
use redis::Value;
use std::time::Duration;

/// Reads keyspace messages as (key, event) until `marker` shows up; the
/// marker write is issued by the caller right before. Returns the events
/// seen before the marker.
fn events_until_marker(ps: &mut redis::PubSub, marker: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let msg = ps.get_message().unwrap_or_else(|e| {
            panic!("no keyspace message (waiting for {marker}): {e}; got so far {out:?}")
        });
        let ch = msg.get_channel_name().to_string();
        let key = ch.split_once(':').map(|x| x.1).unwrap_or("").to_string();
        let ev: String = msg.get_payload().unwrap();
        if key == marker {
            return out;
        }
        out.push((key, ev));
    }
    panic!("marker {marker} never arrived; {out:?}");
}

fn marker(c: &mut redis::Connection, n: &mut u32) -> String {
    *n += 1;
    let m = format!("marker:{n}");
    ok(c, &["SET", &m, "1"]);
    m
}

#[test]
fn keyspace_events_for_changes_only() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = srv.conn();
    let mut ps = sub.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps.psubscribe("__keyspace@0__:*").unwrap();
    let mut n = 0;

    let ev = |ps: &mut redis::PubSub, c: &mut redis::Connection, n: &mut u32| {
        let m = marker(c, n);
        events_until_marker(ps, &m)
    };
    let e = |k: &str, x: &str| (k.to_string(), x.to_string());

    ok(&mut c, &["LIKE.ADD", "k", "1", "2", "3"]);
    let got = ev(&mut ps, &mut c, &mut n);
    assert_eq!(got, vec![e("k", "like.add")], "LIKE.ADD of 3 new ids: one like.add event");

    // no-op writes: no event at all
    ok(&mut c, &["LIKE.ADD", "k", "1", "2"]);
    ok(&mut c, &["LIKE.DEL", "k", "99"]);
    ok(&mut c, &["LIKE.DEL", "missing", "1"]);
    let _ = q(&mut c, &["LIKE.ADD", "k", "4", "bad"]);
    ok(&mut c, &["LIKE.COUNT", "k"]);
    ok(&mut c, &["LIKE.USERS", "k"]);
    let got = ev(&mut ps, &mut c, &mut n);
    assert_eq!(got, vec![], "no-op writes and reads must not notify");

    // partially new add: one like.add
    ok(&mut c, &["LIKE.ADD", "k", "3", "4"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "like.add")]);

    ok(&mut c, &["LIKE.DEL", "k", "1", "50"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "like.del")]);

    ok(&mut c, &["LIKE.TOGGLE", "k", "9"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "like.add")], "TOGGLE on");
    ok(&mut c, &["LIKE.TOGGLE", "k", "9"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "like.del")], "TOGGLE off");

    // removing the last likes: like.del and del
    ok(&mut c, &["LIKE.DEL", "k", "2", "3", "4"]);
    let got = ev(&mut ps, &mut c, &mut n);
    println!("events when the last likes go: {got:?}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, vec![e("k", "del"), e("k", "like.del")], "got {got:?}");
    assert_eq!(
        got[0],
        e("k", "like.del"),
        "like.del should come before del (as SREM then del): {got:?}"
    );
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0);

    ok(&mut c, &["LIKE.TOGGLE", "t", "1"]);
    ok(&mut c, &["LIKE.TOGGLE", "t", "1"]);
    let got = ev(&mut ps, &mut c, &mut n);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![e("t", "del"), e("t", "like.add"), e("t", "like.del")],
        "toggle on/off: {got:?}"
    );

    // a big write is still one event
    let ids: Vec<u64> = (0..20_000).collect();
    add_many(&mut c, "big", &ids, 20_000);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("big", "like.add")]);
}

#[test]
fn generic_class_and_keyevent_channel() {
    let srv = Server::start();
    let mut c = srv.conn();
    // 'g' (generic) only, keyevent channel
    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Eg"]);
    let mut sub = srv.conn();
    let mut ps = sub.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps.psubscribe("__keyevent@0__:*").unwrap();
    ok(&mut c, &["LIKE.ADD", "post:1", "5"]);
    ok(&mut c, &["LIKE.DEL", "post:1", "5"]);
    ok(&mut c, &["LIKE.ADD", "post:2", "5"]);
    // marker in the generic class: EXPIRE emits 'expire' (g)
    ok(&mut c, &["EXPIRE", "post:2", "1000"]);
    let mut got = Vec::new();
    loop {
        let msg =
            ps.get_message().unwrap_or_else(|e| panic!("no keyevent message: {e}; got {got:?}"));
        let ch = msg.get_channel_name().to_string();
        let key: String = msg.get_payload().unwrap();
        let evname = ch.trim_start_matches("__keyevent@0__:").to_string();
        if evname == "expire" {
            break;
        }
        got.push((evname, key));
    }
    let mut sorted = got.clone();
    sorted.sort();
    let e = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        sorted,
        vec![
            e("del", "post:1"),
            e("like.add", "post:1"),
            e("like.add", "post:2"),
            e("like.del", "post:1")
        ],
        "got {got:?}"
    );
    drop(ps);

    // Kg on the keyspace channel also receives them
    let srv2 = Server::start();
    let mut c2 = srv2.conn();
    ok(&mut c2, &["CONFIG", "SET", "notify-keyspace-events", "Kg"]);
    let mut sub2 = srv2.conn();
    let mut ps2 = sub2.as_pubsub();
    ps2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps2.psubscribe("__keyspace@0__:*").unwrap();
    ok(&mut c2, &["LIKE.ADD", "x", "1"]);
    let msg = ps2.get_message().expect("keyspace message with Kg");
    assert_eq!(msg.get_channel_name(), "__keyspace@0__:x");
    assert_eq!(msg.get_payload::<String>().unwrap(), "like.add");
}

#[test]
fn client_tracking_resp2_redirect() {
    let srv = Server::start();
    let mut inv = srv.conn();
    let inv_id = int(&mut inv, &["CLIENT", "ID"]);
    let mut ps = inv.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps.subscribe("__redis__:invalidate").unwrap();

    let mut reader = srv.conn();
    let mut writer = srv.conn();
    ok(&mut writer, &["LIKE.ADD", "k", "1"]);
    ok(&mut reader, &["CLIENT", "TRACKING", "ON", "REDIRECT", &inv_id.to_string()]);
    assert_eq!(int(&mut reader, &["LIKE.COUNT", "k"]), 1);
    assert_eq!(int(&mut reader, &["LIKE.HAS", "other", "1"]), 0);

    ok(&mut writer, &["LIKE.ADD", "k", "2"]);
    let msg = ps.get_message().expect("invalidation message for k");
    assert_eq!(msg.get_channel_name(), "__redis__:invalidate");
    let keys: Vec<String> = msg.get_payload().unwrap();
    assert_eq!(keys, vec!["k".to_string()]);

    // re-read (tracks again), then a LIKE.DEL that empties the key
    assert_eq!(int(&mut reader, &["LIKE.COUNT", "k"]), 2);
    ok(&mut writer, &["LIKE.DEL", "k", "1", "2"]);
    let msg = ps.get_message().expect("invalidation after LIKE.DEL");
    let keys: Vec<String> = msg.get_payload().unwrap();
    assert_eq!(keys, vec!["k".to_string()]);

    // tracked through LIKE.HAS on a missing key, then TOGGLE creates it
    ok(&mut writer, &["LIKE.TOGGLE", "other", "1"]);
    let msg = ps.get_message().expect("invalidation after LIKE.TOGGLE");
    let keys: Vec<String> = msg.get_payload().unwrap();
    assert_eq!(keys, vec!["other".to_string()]);
}

#[test]
fn client_tracking_resp3_push() {
    let srv = Server::start();
    let mut reader = srv.conn_resp3();
    reader.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = srv.conn();
    ok(&mut writer, &["LIKE.ADD", "a", "1"]);
    ok(&mut writer, &["LIKE.ADD", "b", "1"]);
    ok(&mut reader, &["CLIENT", "TRACKING", "ON"]);
    // LIKE.MCOUNT tracks both keys, LIKE.STATUS too
    let _ = ints(&mut reader, &["LIKE.MCOUNT", "a"]);
    let _ = ok(&mut reader, &["LIKE.STATUS", "1", "b"]);
    ok(&mut writer, &["LIKE.ADD", "b", "2"]);
    ok(&mut writer, &["LIKE.ADD", "a", "2"]);
    let mut invalidated = Vec::new();
    while invalidated.len() < 2 {
        let v = reader.recv_response().expect("invalidate push");
        match v {
            Value::Push { kind: redis::PushKind::Invalidate, data } => {
                for d in data {
                    if let Value::Array(keys) = d {
                        invalidated.extend(keys.iter().map(|k| as_str(k).unwrap()));
                    }
                }
            }
            other => panic!("expected an invalidate push, got {other:?}"),
        }
    }
    invalidated.sort();
    assert_eq!(invalidated, vec!["a", "b"]);
}

#[test]
fn react_keyspace_events_for_changes_only() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = srv.conn();
    let mut ps = sub.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps.psubscribe("__keyspace@0__:*").unwrap();
    let mut n = 0;
    let ev = |ps: &mut redis::PubSub, c: &mut redis::Connection, n: &mut u32| {
        let m = marker(c, n);
        events_until_marker(ps, &m)
    };
    let e = |k: &str, x: &str| (k.to_string(), x.to_string());

    // REACT.SET: a new reaction, a changed kind; the same kind again is no change.
    assert_eq!(ok(&mut c, &["REACT.SET", "k", "1", "dislike"]), Value::Nil);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "react.set")], "REACT.SET new");
    ok(&mut c, &["REACT.SET", "k", "1", "like"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "react.set")], "REACT.SET change");
    ok(&mut c, &["REACT.SET", "k", "1", "like"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![], "REACT.SET to the same kind");

    // REACT.ADD: one event for many users; none when all have the kind.
    assert_eq!(int(&mut c, &["REACT.ADD", "k", "up", "2", "3", "1"]), 3);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "react.set")], "REACT.ADD");
    assert_eq!(int(&mut c, &["REACT.ADD", "k", "up", "2", "3"]), 0);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![], "REACT.ADD of nothing new");

    // No-op and refused writes, and reads: no event.
    ok(&mut c, &["REACT.DEL", "k", "99"]);
    ok(&mut c, &["REACT.DEL", "missing", "1"]);
    let _ = err(&mut c, &["REACT.ADD", "k", "up", "4", "bad"]);
    let _ = err(&mut c, &["REACT.SET", "k", "4", "two words"]);
    let _ = err(&mut c, &["REACT.DEL", "k", "2", "-1"]);
    for i in 0..15 {
        ok(&mut c, &["REACT.SET", "full", &(i + 1).to_string(), &format!("kind{i}")]);
    }
    ok(&mut c, &["REACT.SET", "full", "100", "like"]);
    let got = ev(&mut ps, &mut c, &mut n);
    assert_eq!(got.len(), 16, "16 REACT.SET on `full`: {got:?}");
    assert!(got.iter().all(|x| *x == e("full", "react.set")), "{got:?}");
    let _ = err(&mut c, &["REACT.SET", "full", "200", "one-too-many"]);
    let _ = err(&mut c, &["REACT.ADD", "full", "one-too-many", "200"]);
    let _ = err(&mut c, &["LIKE.DEL", "full", "100", "x"]);
    for read in [
        vec!["REACT.GET", "k", "1"],
        vec!["REACT.COUNT", "k"],
        vec!["REACT.COUNT", "k", "up"],
        vec!["REACT.COUNTS", "k"],
        vec!["REACT.STATUS", "1", "k", "missing"],
        vec!["REACT.USERS", "k", "up"],
        vec!["REACT.RATE", "k"],
        vec!["REACT.INFO", "k"],
    ] {
        ok(&mut c, &read);
    }
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![], "no-op writes, refused writes, reads");

    // REACT.DEL: react.del; with the last reaction, then del.
    assert_eq!(int(&mut c, &["REACT.DEL", "k", "2", "50"]), 1);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("k", "react.del")]);
    assert_eq!(int(&mut c, &["REACT.DEL", "k", "1", "3"]), 2);
    let got = ev(&mut ps, &mut c, &mut n);
    assert_eq!(got, vec![e("k", "react.del"), e("k", "del")], "the last reactions go");
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0);

    // LIKE writes on a key holding other kinds keep their own events.
    ok(&mut c, &["REACT.SET", "d", "5", "dislike"]);
    ok(&mut c, &["REACT.SET", "d", "6", "dislike"]);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("d", "react.set"), e("d", "react.set")]);
    assert_eq!(int(&mut c, &["LIKE.ADD", "d", "5"]), 1, "a dislike becomes a like");
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("d", "like.add")], "LIKE.ADD over a dislike");
    assert_eq!(int(&mut c, &["LIKE.DEL", "d", "6"]), 0, "LIKE.DEL leaves a dislike");
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![], "LIKE.DEL of a dislike: no change");
    assert_eq!(int(&mut c, &["LIKE.TOGGLE", "d", "6"]), 1, "toggle on a disliked user likes");
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("d", "like.add")], "LIKE.TOGGLE over a dislike");
    assert_eq!(int(&mut c, &["LIKE.DEL", "d", "5", "6"]), 2);
    assert_eq!(ev(&mut ps, &mut c, &mut n), vec![e("d", "like.del"), e("d", "del")]);
    assert_eq!(int(&mut c, &["EXISTS", "d"]), 0);
}

#[test]
fn client_tracking_react_writes() {
    let srv = Server::start();
    let mut inv = srv.conn();
    let inv_id = int(&mut inv, &["CLIENT", "ID"]);
    let mut ps = inv.as_pubsub();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ps.subscribe("__redis__:invalidate").unwrap();
    let mut reader = srv.conn();
    let mut writer = srv.conn();
    ok(&mut reader, &["CLIENT", "TRACKING", "ON", "REDIRECT", &inv_id.to_string()]);
    let invalidated = |ps: &mut redis::PubSub, what: &str| -> Vec<String> {
        let msg = ps.get_message().unwrap_or_else(|e| panic!("invalidation after {what}: {e}"));
        msg.get_payload().unwrap()
    };
    // Tracked by REACT reads (a missing key too), invalidated by each REACT write.
    ok(&mut reader, &["REACT.COUNTS", "a"]);
    ok(&mut writer, &["REACT.SET", "a", "1", "dislike"]);
    assert_eq!(invalidated(&mut ps, "REACT.SET"), vec!["a"]);
    ok(&mut reader, &["REACT.STATUS", "1", "a", "b"]);
    ok(&mut writer, &["REACT.ADD", "b", "up", "1", "2"]);
    assert_eq!(invalidated(&mut ps, "REACT.ADD"), vec!["b"]);
    ok(&mut reader, &["REACT.GET", "a", "1"]);
    ok(&mut writer, &["REACT.DEL", "a", "1"]);
    assert_eq!(invalidated(&mut ps, "REACT.DEL"), vec!["a"]);
    assert_eq!(int(&mut writer, &["EXISTS", "a"]), 0);
}
