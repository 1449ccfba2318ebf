//! A primary and a real replica: a random write stream replicates to the
//! same state; writes that change nothing are not propagated.

use like_harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::time::Duration;

const MAX_ID: u64 = 9_223_372_036_854_775_807;

fn start_pair() -> (Server, Server) {
    let primary = Server::start_with(&[
        ("repl-ping-replica-period", "3600"),
        ("repl-diskless-sync-delay", "0"),
    ]);
    let replicaof = format!("127.0.0.1 {}", primary.port());
    let replica = Server::start_with(&[("replicaof", &replicaof)]);
    let mut r = replica.conn();
    wait_until(Duration::from_secs(20), "replica link up", || {
        info(&mut r, "replication").get("master_link_status").map(|s| s.as_str()) == Some("up")
    });
    (primary, replica)
}

fn like_keys(c: &mut redis::Connection) -> BTreeSet<String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    keys.into_iter().collect()
}

fn wait_replica(p: &mut redis::Connection) {
    let n = int(p, &["WAIT", "1", "5000"]);
    assert_eq!(n, 1, "WAIT 1 5000: the replica did not acknowledge");
}

fn assert_equal_datasets(p: &mut redis::Connection, r: &mut redis::Connection) {
    let kp = like_keys(p);
    let kr = like_keys(r);
    assert_eq!(kp, kr, "key sets differ between primary and replica");
    for k in &kp {
        let ap = all_users(p, k);
        let ar = all_users(r, k);
        assert!(
            ap == ar,
            "{k}: members differ ({} on the primary, {} on the replica)",
            ap.len(),
            ar.len()
        );
        assert_eq!(int(p, &["LIKE.COUNT", k]), int(r, &["LIKE.COUNT", k]), "{k}: count");
        assert_eq!(int(p, &["LIKE.COUNT", k]) as usize, ap.len());
        assert_eq!(digest_value(p, k), digest_value(r, k), "{k}: DEBUG DIGEST-VALUE");
    }
    let dp = as_str(&ok(p, &["DEBUG", "DIGEST"])).unwrap();
    let dr = as_str(&ok(r, &["DEBUG", "DIGEST"])).unwrap();
    assert_eq!(dp, dr, "DEBUG DIGEST differs");
}

#[test]
fn random_write_stream_replicates_exactly() {
    let (primary, replica) = start_pair();
    let mut p = primary.conn();
    let mut r = replica.conn();
    let seed = 4242u64;
    println!("replication: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let gen = |rng: &mut StdRng| -> u64 {
        match rng.gen_range(0..10) {
            0..=5 => rng.gen_range(0..200),
            6 => rng.gen_range(0..=MAX_ID),
            7 => rng.gen_range(MAX_ID - 10..=MAX_ID),
            _ => (1u64 << 32) + rng.gen_range(0..200),
        }
    };
    for i in 0..4000 {
        let k = format!("k:{}", rng.gen_range(0..40));
        match rng.gen_range(0..10) {
            0..=3 => {
                let n = rng.gen_range(1..=6);
                let mut a = vec![s("LIKE.ADD"), k];
                a.extend((0..n).map(|_| s(gen(&mut rng))));
                ok(&mut p, &a);
            }
            4..=6 => {
                let n = rng.gen_range(1..=6);
                let mut a = vec![s("LIKE.DEL"), k];
                a.extend((0..n).map(|_| s(gen(&mut rng))));
                ok(&mut p, &a);
            }
            7..=8 => {
                ok(&mut p, &["LIKE.TOGGLE", &k, &s(gen(&mut rng))]);
            }
            _ => {
                // bulk: range adds and removals on a few big keys
                let k = format!("big:{}", rng.gen_range(0..3));
                let base = rng.gen_range(0..1_000_000u64);
                let ids: Vec<u64> = (0..rng.gen_range(100..3000u64))
                    .map(|j| base + j * rng.gen_range(1..4))
                    .collect();
                if rng.gen_bool(0.7) {
                    add_many(&mut p, &k, &ids, 1000);
                } else {
                    del_many(&mut p, &k, &ids, 1000);
                }
            }
        }
        if i % 1000 == 999 {
            wait_replica(&mut p);
            assert_equal_datasets(&mut p, &mut r);
        }
    }
    // no-op writes in the stream too
    ok(&mut p, &["LIKE.ADD", "noop", "1", "2"]);
    for _ in 0..50 {
        ok(&mut p, &["LIKE.ADD", "noop", "1", "2"]);
        ok(&mut p, &["LIKE.DEL", "noop", "3"]);
        ok(&mut p, &["LIKE.DEL", "absent", "3"]);
    }
    wait_replica(&mut p);
    assert_equal_datasets(&mut p, &mut r);
    assert_eq!(int(&mut r, &["EXISTS", "absent"]), 0);
    // the replica refuses writes
    let e = err(&mut r, &["LIKE.ADD", "k:0", "1"]);
    assert!(e.starts_with("READONLY"), "{e}");
    // a replica answers reads
    let _ = ints(&mut r, &["LIKE.MCOUNT", "k:0", "k:1"]);
}

fn repl_offset(c: &mut redis::Connection) -> i64 {
    info(c, "replication")["master_repl_offset"].parse().unwrap()
}

#[test]
fn noop_writes_are_not_propagated() {
    let (primary, replica) = start_pair();
    let mut p = primary.conn();
    let mut r = replica.conn();
    ok(&mut p, &["LIKE.ADD", "k", "1", "2", "3"]);
    let big: Vec<u64> = (0..20_000).collect();
    add_many(&mut p, "big", &big, 5000);
    wait_replica(&mut p);
    let cases: Vec<Vec<&str>> = vec![
        vec!["LIKE.ADD", "k", "1"],
        vec!["LIKE.ADD", "k", "1", "2", "3", "3"],
        vec!["LIKE.DEL", "k", "99"],
        vec!["LIKE.DEL", "k", "99", "100"],
        vec!["LIKE.DEL", "missing", "1"],
        vec!["LIKE.ADD", "big", "0", "19999"],
        vec!["LIKE.DEL", "big", "20000"],
        // refused commands are not propagated either
        vec!["LIKE.ADD", "k", "4", "bad"],
        vec!["LIKE.DEL", "k", "1", "-1"],
        // reads
        vec!["LIKE.COUNT", "k"],
        vec!["LIKE.USERS", "big", "LIMIT", "10"],
    ];
    for args in &cases {
        let before = repl_offset(&mut p);
        let _ = q(&mut p, args);
        let after = repl_offset(&mut p);
        assert_eq!(
            before,
            after,
            "{args:?} advanced master_repl_offset by {} bytes",
            after - before
        );
    }
    assert_eq!(int(&mut p, &["EXISTS", "missing"]), 0);
    // a real write does advance it
    let before = repl_offset(&mut p);
    assert_eq!(int(&mut p, &["LIKE.ADD", "k", "1", "4"]), 1);
    let after = repl_offset(&mut p);
    assert!(after > before, "a real LIKE.ADD did not advance master_repl_offset");
    // a partially effective write replicates to the same state
    assert_eq!(int(&mut p, &["LIKE.DEL", "k", "1", "77"]), 1);
    wait_replica(&mut p);
    assert_eq!(all_users(&mut r, "k"), vec![2, 3, 4]);
    assert_eq!(all_users(&mut r, "big"), big);
    // deleting the last like deletes the key on the replica too
    ok(&mut p, &["LIKE.DEL", "k", "2", "3", "4"]);
    wait_replica(&mut p);
    assert_eq!(int(&mut r, &["EXISTS", "k"]), 0);
}

#[test]
fn full_resync_transfers_module_values() {
    // values that exist before the replica attaches travel in the RDB
    let primary = Server::start_with(&[("repl-diskless-sync-delay", "0")]);
    let mut p = primary.conn();
    let mut rng = StdRng::seed_from_u64(8);
    for i in 0..30 {
        let ids: Vec<u64> =
            (0..rng.gen_range(1..3000)).map(|_| rng.gen_range(0..=MAX_ID)).collect();
        add_many(&mut p, &format!("pre:{i}"), &ids, 1000);
    }
    let dense: Vec<u64> = (0..200_000).collect();
    add_many(&mut p, "pre:dense", &dense, 10_000);
    let replica = Server::start();
    let mut r = replica.conn();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &primary.port().to_string()]);
    wait_until(Duration::from_secs(20), "replica link up", || {
        info(&mut r, "replication").get("master_link_status").map(|s| s.as_str()) == Some("up")
    });
    ok(&mut p, &["LIKE.ADD", "pre:0", "5"]);
    wait_replica(&mut p);
    assert_equal_datasets(&mut p, &mut r);
}
