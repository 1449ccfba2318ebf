//! Lazy free of big like keys: UNLINK and FLUSHALL ASYNC return at once,
//! the memory is released in the background, the server stays responsive.

use like_harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const MAX_ID: u64 = 9_223_372_036_854_775_807;
const FAST: Duration = Duration::from_millis(50);

fn stat(c: &mut redis::Connection, section: &str, field: &str) -> Option<i64> {
    info(c, section).get(field).and_then(|v| v.parse().ok())
}

/// `lazyfreed_objects` (INFO memory in Redis 7.0; looked up in stats too).
fn lazyfreed(c: &mut redis::Connection) -> Option<i64> {
    stat(c, "memory", "lazyfreed_objects").or_else(|| stat(c, "stats", "lazyfreed_objects"))
}

/// Waits until no lazy free is pending and `lazyfreed_objects` has moved past
/// `before` (Redis drops the pending count before it counts the free, so a
/// read in between sees neither); gives up after 30 s and returns what it saw
/// then, for the caller's assertions: `lazyfreed_objects` and `used_memory`.
fn wait_lazyfree_done(c: &mut redis::Connection, before: Option<i64>) -> (Option<i64>, i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = stat(c, "memory", "lazyfree_pending_objects").unwrap_or(0);
        let lazy = lazyfreed(c);
        let counted = match (before, lazy) {
            (Some(a), Some(b)) => b > a,
            _ => true,
        };
        if (pending == 0 && counted) || Instant::now() > deadline {
            return (lazy, used_memory(c));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 3,000,000 likes: 2,000,000 in dense blocks spread over 0..10,000,000,
/// and 1,000,000 random 63-bit ids. LIKE.ADD calls of 100,000 ids each.
fn build_big(c: &mut redis::Connection, key: &str) -> i64 {
    let mut rng = StdRng::seed_from_u64(77);
    let t = Instant::now();
    let mut total = 0;
    let mut p = redis::pipe();
    for i in 0..20u64 {
        let mut cmd = redis::cmd("LIKE.ADD");
        cmd.arg(key);
        for id in i * 500_000..i * 500_000 + 100_000 {
            cmd.arg(id);
        }
        p.add_command(cmd);
    }
    let r: Vec<i64> = p.query(c).unwrap();
    total += r.iter().sum::<i64>();
    for _ in 0..10 {
        let mut cmd = redis::cmd("LIKE.ADD");
        cmd.arg(key);
        for _ in 0..100_000 {
            cmd.arg(rng.gen_range(0..=MAX_ID));
        }
        total += cmd.query::<i64>(c).unwrap();
    }
    println!("built {key}: {total} likes in {:?}", t.elapsed());
    total
}

#[test]
fn unlink_of_a_huge_key_is_fast() {
    let mut srv = Server::start();
    let mut c = srv.conn();
    let n = build_big(&mut c, "huge");
    assert!(n >= 2_999_000, "only {n} likes added");
    assert_eq!(int(&mut c, &["LIKE.COUNT", "huge"]), n);
    let mem = int(&mut c, &["MEMORY", "USAGE", "huge"]);
    let used0 = used_memory(&mut c);
    println!("MEMORY USAGE huge = {mem} bytes; used_memory = {used0}");
    ok(&mut c, &["LIKE.ADD", "small", "1"]);
    let lazy0 = lazyfreed(&mut c);
    println!("lazyfreed_objects before: {lazy0:?}");

    let t = Instant::now();
    let r = int(&mut c, &["UNLINK", "huge"]);
    let took = t.elapsed();
    println!("UNLINK of a key with {n} likes took {took:?}");
    assert_eq!(r, 1);
    assert_eq!(int(&mut c, &["EXISTS", "huge"]), 0);
    assert_eq!(int(&mut c, &["LIKE.COUNT", "huge"]), 0);
    // responsive at once
    let t2 = Instant::now();
    assert_eq!(int(&mut c, &["LIKE.COUNT", "small"]), 1);
    println!("next command answered in {:?}", t2.elapsed());
    srv.assert_alive();

    let (lazy1, used1) = wait_lazyfree_done(&mut c, lazy0);
    println!("lazyfreed_objects after: {lazy1:?}; used_memory {used0} -> {used1}");
    assert!(used1 < used0, "memory was not released: {used0} -> {used1}");
    if let (Some(a), Some(b)) = (lazy0, lazy1) {
        assert!(
            b > a,
            "UNLINK of a 3M-like key was not freed lazily (lazyfreed_objects {a} -> {b})"
        );
    }
    assert!(took < FAST, "UNLINK took {took:?} (>= {FAST:?})");
}

#[test]
fn flushall_async_of_many_keys() {
    let mut srv = Server::start();
    let mut c = srv.conn();
    let mut rng = StdRng::seed_from_u64(5);
    let t = Instant::now();
    // 3,000 keys of 1..2,000 likes each, pipelined
    let mut total = 0usize;
    for batch in 0..30 {
        let mut p = redis::pipe();
        for i in 0..100 {
            let k = format!("post:{}", batch * 100 + i);
            let n = rng.gen_range(1..2000);
            let mut cmd = redis::cmd("LIKE.ADD");
            cmd.arg(k);
            for _ in 0..n {
                cmd.arg(rng.gen_range(0..=MAX_ID));
            }
            total += n;
            p.add_command(cmd);
        }
        let _: Vec<i64> = p.query(&mut c).unwrap();
    }
    // and some big dense ones
    for i in 0..5 {
        let ids: Vec<u64> = (0..300_000).map(|x| x * 2 + i).collect();
        add_many(&mut c, &format!("big:{i}"), &ids, 100_000);
    }
    println!("built 3005 keys (~{total} sparse likes + 1.5M dense) in {:?}", t.elapsed());
    assert_eq!(int(&mut c, &["DBSIZE"]), 3005);
    let lazy0 = lazyfreed(&mut c);
    let used0 = used_memory(&mut c);

    let t = Instant::now();
    ok(&mut c, &["FLUSHALL", "ASYNC"]);
    let took = t.elapsed();
    println!("FLUSHALL ASYNC took {took:?}");
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
    assert_eq!(int(&mut c, &["LIKE.ADD", "post:1", "1"]), 1, "writable right after FLUSHALL ASYNC");
    assert_eq!(int(&mut c, &["LIKE.COUNT", "post:1"]), 1);
    srv.assert_alive();
    let (lazy1, used1) = wait_lazyfree_done(&mut c, lazy0);
    println!("lazyfreed_objects {lazy0:?} -> {lazy1:?}; used_memory {used0} -> {used1}");
    assert!(used1 < used0 / 2, "memory not released: {used0} -> {used1}");
    if let (Some(a), Some(b)) = (lazy0, lazy1) {
        assert!(b > a, "FLUSHALL ASYNC freed nothing lazily (lazyfreed_objects {a} -> {b})");
    }
    assert!(took < FAST, "FLUSHALL ASYNC took {took:?} (>= {FAST:?})");
}

#[test]
fn unlink_of_mid_sized_keys_and_lazyfree_user_del() {
    // With lazyfree-lazy-user-del, DEL behaves like UNLINK.
    let mut srv = Server::start_with(&[("lazyfree-lazy-user-del", "yes")]);
    let mut c = srv.conn();
    let ids: Vec<u64> = (0..1_000_000).map(|x| x * 3).collect();
    add_many(&mut c, "k", &ids, 100_000);
    let t = Instant::now();
    assert_eq!(int(&mut c, &["DEL", "k"]), 1);
    let took = t.elapsed();
    println!("DEL (lazyfree-lazy-user-del yes) of 1M likes took {took:?}");
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0);
    srv.assert_alive();
    assert!(took < FAST, "DEL took {took:?}");
}

/// Pinpoints the cost of UNLINK for 1,000,000 sparse ids alone (one roaring bitmap per
/// 2^32 range when ids are random 63-bit numbers) versus dense ids alone.
#[test]
fn unlink_time_sparse_vs_dense() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = StdRng::seed_from_u64(9);
    let sparse: Vec<u64> = (0..1_000_000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    add_many(&mut c, "sparse", &sparse, 100_000);
    let dense: Vec<u64> = (0..3_000_000).collect();
    add_many(&mut c, "dense", &dense, 100_000);
    let mut times = Vec::new();
    for k in ["dense", "sparse"] {
        let t = Instant::now();
        assert_eq!(int(&mut c, &["UNLINK", k]), 1);
        let took = t.elapsed();
        println!("UNLINK {k} took {took:?}");
        times.push((k, took));
    }
    for (k, took) in times {
        assert!(took < FAST, "UNLINK {k} took {took:?} (>= {FAST:?})");
    }
}
