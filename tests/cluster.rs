//! The LIKE module on a real Redis Cluster: six redis-server processes on loopback
//! (3 primaries, 3 replicas), started once for all the tests of this file and killed at the end.
//!
//! Run: `cargo build --release && cargo test --release --test cluster -- --nocapture`
//! (the `MEASURED:` lines are the figures quoted in docs/cluster.md, "Measured figures").
//! The throughput measurement is `#[ignore]`d (a figure, not a pass/fail check; its exactness
//! checks run in every run, in `pipelined_likes_on_one_key_and_stripes_are_counted_exactly`):
//! add `--include-ignored` to run it too, or `--ignored` to run it alone.

use like_harness::cluster_client::{feed_status, key_slot, SlotRouter, Status, Striped};
use like_harness::{
    info_field, run_bounded, wait_until, Cluster, NodeLine, Shared, NODE_TIMEOUT_MS,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, RedisResult, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The number of #[test]s below that use the shared cluster in a default run (the `#[ignore]`d
/// measurement not counted): the last one to finish stops it.
static CLUSTER: Shared = Shared::new(7);

type Model = HashMap<String, BTreeSet<u64>>;

/// Runs `f` on the shared cluster after FLUSHALL, with the addresses of its nodes.
fn on_empty_cluster<R>(f: impl FnOnce(&mut Cluster, Vec<String>) -> R) -> R {
    CLUSTER.run(|cluster| {
        cluster.flushall();
        let seeds = cluster.seeds();
        f(cluster, seeds)
    })
}

fn cmd(name: &str) -> Cmd {
    redis::cmd(name)
}

fn err_code(r: &RedisResult<Value>) -> String {
    match r {
        Ok(v) => format!("no error (got {v:?})"),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

/// Routes a command to the primary of `slot` through the redis-rs cluster client. Needed for
/// LIKE.STATUS: generic cluster clients route an unknown command by its first argument, which
/// for LIKE.STATUS is the user id, not a key.
fn route_to_slot(
    cc: &mut redis::cluster::ClusterConnection,
    c: &Cmd,
    slot: u16,
) -> RedisResult<Value> {
    cc.route_command(
        c,
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        ))),
    )
}

/// Every member of `key`, paging LIKE.USERS.
fn users_of(router: &mut SlotRouter, key: &str) -> Vec<u64> {
    let mut all = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut c = cmd("LIKE.USERS");
        c.arg(key);
        if let Some(a) = after {
            c.arg("AFTER").arg(a);
        }
        c.arg("LIMIT").arg(10_000);
        let page: Vec<u64> =
            router.query_key(key, c).unwrap_or_else(|e| panic!("LIKE.USERS {key}: {e}"));
        let done = page.len() < 10_000;
        after = page.last().copied().or(after);
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// Checks every key of `model` against the cluster: LIKE.COUNT and the full LIKE.USERS list.
/// `maybe[key]` lists users whose write had an unknown outcome: they may be present or not.
fn verify_model(router: &mut SlotRouter, model: &Model, maybe: &Model) {
    let keys: Vec<&String> = model.keys().collect();
    let mut problems: Vec<String> = Vec::new();
    let empty = BTreeSet::new();
    for chunk in keys.chunks(4000) {
        let cmds: Vec<(u16, Cmd)> = chunk
            .iter()
            .flat_map(|k| {
                let mut count = cmd("LIKE.COUNT");
                count.arg(k.as_str());
                let mut users = cmd("LIKE.USERS");
                users.arg(k.as_str()).arg("LIMIT").arg(10_000);
                [(key_slot(k.as_str()), count), (key_slot(k.as_str()), users)]
            })
            .collect();
        let replies = router.exec(&cmds);
        for (i, k) in chunk.iter().enumerate() {
            let count: i64 = match &replies[2 * i] {
                Ok(v) => redis::from_redis_value(v.clone()).expect("count"),
                Err(e) => panic!("LIKE.COUNT {k}: {e}"),
            };
            let mut users: Vec<u64> = match &replies[2 * i + 1] {
                Ok(v) => redis::from_redis_value(v.clone()).expect("users"),
                Err(e) => panic!("LIKE.USERS {k}: {e}"),
            };
            if users.len() == 10_000 {
                users = users_of(router, k);
            }
            let want = &model[*k];
            let unsure = maybe.get(*k).unwrap_or(&empty);
            let got: BTreeSet<u64> = users.iter().copied().collect();
            if got.len() != users.len() || !users.windows(2).all(|w| w[0] < w[1]) {
                problems.push(format!("{k}: LIKE.USERS not strictly ascending"));
            }
            if count != users.len() as i64 {
                problems
                    .push(format!("{k}: LIKE.COUNT {count} but LIKE.USERS has {}", users.len()));
            }
            let missing: Vec<u64> =
                want.difference(&got).filter(|u| !unsure.contains(u)).copied().take(5).collect();
            let extra: Vec<u64> =
                got.difference(want).filter(|u| !unsure.contains(u)).copied().take(5).collect();
            if !missing.is_empty() || !extra.is_empty() {
                problems.push(format!(
                    "{k}: expected {} users, got {}; missing {missing:?}, unexpected {extra:?}",
                    want.len(),
                    got.len()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} keys differ from the model, first ones:\n{}",
        problems.len(),
        problems.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Writes `model` into the cluster (one LIKE.ADD per key and batch of users).
fn load_model(router: &mut SlotRouter, model: &Model) {
    let mut cmds: Vec<(u16, Cmd)> = Vec::new();
    for (k, users) in model {
        let users: Vec<u64> = users.iter().copied().collect();
        for batch in users.chunks(2000) {
            let mut c = cmd("LIKE.ADD");
            c.arg(k).arg(batch);
            cmds.push((key_slot(k), c));
        }
    }
    for chunk in cmds.chunks(4000) {
        for (i, r) in router.exec(chunk).into_iter().enumerate() {
            if let Err(e) = r {
                panic!("loading {:?}: {e}", chunk[i].1.args_iter().nth(1));
            }
        }
    }
}

fn node_of(cluster: &Cluster, addr: &str) -> NodeLine {
    let seen = cluster.nodes_seen_by(addr);
    seen.into_iter().find(|n| n.flags.iter().any(|f| f == "myself")).expect("myself line")
}

/// `CLUSTER SETSLOT slot state node_id` on one node (state: IMPORTING, MIGRATING or NODE).
fn setslot(c: &mut redis::Connection, slot: u16, state: &str, node_id: &str) {
    let _: () = cmd("CLUSTER").arg("SETSLOT").arg(slot).arg(state).arg(node_id).query(c).unwrap();
}

fn slot_owner_map(router: &SlotRouter) -> Vec<String> {
    (0..16384u16).map(|s| router.owner_of(s).unwrap_or("").to_string()).collect()
}

/// Sets the flag when dropped: stops a background writer even if the test panics first.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Routing: any node, hash tags, CROSSSLOT.
// ---------------------------------------------------------------------------------------------

#[test]
fn routing_from_any_node_hash_tags_and_crossslot() {
    on_empty_cluster(|cluster, seeds| {
        let mut router = SlotRouter::connect(&seeds).expect("router");
        let keys: Vec<String> = (0..48).map(|i| format!("route:post:{i}")).collect();
        let owners: HashSet<&str> =
            keys.iter().map(|k| router.owner_of(key_slot(k)).unwrap()).collect();
        assert_eq!(owners.len(), 3, "the test keys should span the three primaries");

        // Our CRC16 agrees with the server's CLUSTER KEYSLOT, hash tags included.
        {
            let mut c = cluster.nodes[0].conn();
            for k in
                keys.iter().map(String::as_str).chain(["{feed:7}:p1", "a{}b", "{}x{y}", "x{y}z{w}"])
            {
                let s: u16 = cmd("CLUSTER").arg("KEYSLOT").arg(k).query(&mut c).unwrap();
                assert_eq!(s, key_slot(k), "slot of {k}");
            }
        }

        // Every node, primary or replica, as the only seed of a cluster-aware client: every
        // single-key command reaches the owner of its key.
        for (n, seed) in seeds.iter().enumerate() {
            let mut cc = Cluster::client_for(std::slice::from_ref(seed));
            let users: Vec<u64> = (0..5).map(|j| (n * 1000 + j) as u64).collect();
            for k in &keys {
                let added: i64 = cmd("LIKE.ADD").arg(k).arg(&users).query(&mut cc).unwrap();
                assert_eq!(added, 5, "LIKE.ADD {k} via {seed}");
                let again: i64 = cmd("LIKE.ADD").arg(k).arg(&users).query(&mut cc).unwrap();
                assert_eq!(again, 0, "dedup of LIKE.ADD {k} via {seed}");
                let has: i64 = cmd("LIKE.HAS").arg(k).arg(users[0]).query(&mut cc).unwrap();
                assert_eq!(has, 1);
                for (want, what) in [(0, "toggle off"), (1, "toggle on")] {
                    let t: i64 = cmd("LIKE.TOGGLE").arg(k).arg(users[4]).query(&mut cc).unwrap();
                    assert_eq!(t, want, "{what}");
                }
                let d: i64 = cmd("LIKE.DEL").arg(k).arg(users[3]).query(&mut cc).unwrap();
                assert_eq!(d, 1);
                let a: i64 = cmd("LIKE.ADD").arg(k).arg(users[3]).query(&mut cc).unwrap();
                assert_eq!(a, 1);
            }
        }
        let expected: Vec<u64> =
            (0..seeds.len()).flat_map(|n| (0..5).map(move |j| (n * 1000 + j) as u64)).collect();
        for seed in &seeds {
            let mut cc = Cluster::client_for(std::slice::from_ref(seed));
            for k in &keys {
                let count: i64 = cmd("LIKE.COUNT").arg(k).query(&mut cc).unwrap();
                assert_eq!(count, expected.len() as i64, "LIKE.COUNT {k} via {seed}");
                let users: Vec<u64> =
                    cmd("LIKE.USERS").arg(k).arg("LIMIT").arg(100).query(&mut cc).unwrap();
                assert_eq!(users, expected, "LIKE.USERS {k} via {seed}");
                let rate: Vec<i64> = cmd("LIKE.RATE").arg(k).query(&mut cc).unwrap();
                assert_eq!(rate.len(), 2);
                assert!(
                    rate[0] >= expected.len() as i64 && rate[1] >= rate[0],
                    "LIKE.RATE {k}: {rate:?}"
                );
                let info: Vec<Value> = cmd("LIKE.INFO").arg(k).query(&mut cc).unwrap();
                let count_field = info
                    .chunks(2)
                    .find(|p| {
                        redis::from_redis_value::<String>(p[0].clone()).ok().as_deref()
                            == Some("count")
                    })
                    .map(|p| redis::from_redis_value::<i64>(p[1].clone()).unwrap());
                assert_eq!(count_field, Some(expected.len() as i64), "LIKE.INFO {k}: {info:?}");
            }
        }

        // A plain connection to a node that does not own the key gets MOVED to the owner.
        let primaries = cluster.primaries();
        for k in keys.iter().take(12) {
            let slot = key_slot(k);
            let owner = router.owner_of(slot).unwrap().to_string();
            for p in &primaries {
                let mut c = cluster.server(&p.addr).conn();
                let r: RedisResult<Value> = cmd("LIKE.COUNT").arg(k).query(&mut c);
                if p.addr == owner {
                    assert_eq!(r.unwrap(), Value::Int(expected.len() as i64));
                } else {
                    let e = r.expect_err("MOVED expected from a non-owner");
                    assert_eq!(e.code(), Some("MOVED"), "{k} on {}: {e}", p.addr);
                    assert_eq!(e.redirect_node(), Some((owner.as_str(), slot)), "{k}: {e}");
                }
            }
        }

        // Replicas redirect, and serve reads after READONLY.
        cluster.wait_replicas_caught_up(Duration::from_secs(20));
        let all_nodes = cluster.nodes_seen_by(&seeds[0]);
        for k in keys.iter().take(6) {
            let owner = router.owner_of(key_slot(k)).unwrap();
            let owner_id = &all_nodes.iter().find(|n| n.addr == owner).unwrap().id;
            let replica = all_nodes
                .iter()
                .find(|n| n.master_id.as_ref() == Some(owner_id))
                .expect("the owner has a replica");
            let mut c = cluster.server(&replica.addr).conn();
            let r: RedisResult<i64> = cmd("LIKE.COUNT").arg(k).query(&mut c);
            assert_eq!(r.expect_err("replica redirects").code(), Some("MOVED"));
            let w: RedisResult<i64> = cmd("LIKE.ADD").arg(k).arg(1).query(&mut c);
            assert_eq!(w.expect_err("replica redirects writes").code(), Some("MOVED"));
            let _: () = cmd("READONLY").query(&mut c).unwrap();
            let count: i64 = cmd("LIKE.COUNT").arg(k).query(&mut c).unwrap();
            assert_eq!(count, expected.len() as i64, "LIKE.COUNT {k} on replica {}", replica.addr);
            let w: RedisResult<i64> = cmd("LIKE.ADD").arg(k).arg(1).query(&mut c);
            assert_eq!(w.expect_err("replica refuses writes").code(), Some("MOVED"));
        }

        // Key specs: COMMAND GETKEYS names exactly the key arguments.
        {
            let mut c = cluster.nodes[0].conn();
            let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
                (vec!["LIKE.ADD", "k1", "1", "2"], vec!["k1"]),
                (vec!["LIKE.DEL", "k1", "1"], vec!["k1"]),
                (vec!["LIKE.TOGGLE", "k1", "1"], vec!["k1"]),
                (vec!["LIKE.COUNT", "k1"], vec!["k1"]),
                (vec!["LIKE.HAS", "k1", "7"], vec!["k1"]),
                (vec!["LIKE.MCOUNT", "k1", "k2", "k3"], vec!["k1", "k2", "k3"]),
                (vec!["LIKE.STATUS", "42", "k1", "k2", "k3"], vec!["k1", "k2", "k3"]),
                (vec!["LIKE.USERS", "k1", "AFTER", "5", "LIMIT", "10"], vec!["k1"]),
                (vec!["LIKE.RATE", "k1"], vec!["k1"]),
                (vec!["LIKE.INFO", "k1"], vec!["k1"]),
            ];
            for (args, want) in cases {
                let got: Vec<String> =
                    cmd("COMMAND").arg("GETKEYS").arg(&args).query(&mut c).unwrap();
                assert_eq!(got, want, "COMMAND GETKEYS {args:?}");
            }
        }

        // Hash tags: keys sharing {feed:7} live in one slot, so MCOUNT and STATUS work.
        let tagged: Vec<String> = (0..8).map(|i| format!("{{feed:7}}:post:{i}")).collect();
        let tag_slot = key_slot(&tagged[0]);
        assert!(tagged.iter().all(|k| key_slot(k) == tag_slot));
        let mut cc = cluster.client();
        for (i, k) in tagged.iter().enumerate() {
            let users: Vec<u64> = (0..=i as u64).map(|u| u * 10).collect();
            let _: i64 = cmd("LIKE.ADD").arg(k).arg(users).query(&mut cc).unwrap();
        }
        let counts: Vec<i64> = cmd("LIKE.MCOUNT").arg(&tagged).query(&mut cc).unwrap();
        assert_eq!(counts, (1..=8).collect::<Vec<i64>>());
        let mut status = cmd("LIKE.STATUS");
        status.arg(30).arg(&tagged);
        let v = route_to_slot(&mut cc, &status, tag_slot).expect("LIKE.STATUS on a hash tag");
        let pairs: Vec<(i64, i64)> = redis::from_redis_value(v).unwrap();
        let want: Vec<(i64, i64)> = (0..8).map(|i| (i as i64 + 1, (i >= 3) as i64)).collect();
        assert_eq!(pairs, want);
        let got = feed_status(&mut router, 30, &tagged).unwrap();
        assert_eq!(got.iter().map(|s| (s.count, s.liked as i64)).collect::<Vec<_>>(), want);
        assert_eq!(router.last.round_trips, 1, "one hash tag: one LIKE.STATUS, one round trip");

        // Different slots: CROSSSLOT, through the cluster client and on a plain connection
        // to the node owning the first key (even when the keys happen to share a node).
        let (a, b) = (&keys[0], &keys[1]);
        assert_ne!(key_slot(a), key_slot(b));
        let r: RedisResult<Value> = cmd("LIKE.MCOUNT").arg(a).arg(b).query(&mut cc);
        assert_eq!(err_code(&r), "CROSSSLOT", "LIKE.MCOUNT over two slots");
        let mut st = cmd("LIKE.STATUS");
        st.arg(1).arg(a).arg(b);
        let r = route_to_slot(&mut cc, &st, key_slot(a));
        assert_eq!(err_code(&r), "CROSSSLOT", "LIKE.STATUS over two slots");
        let same_node: Vec<&String> = keys
            .iter()
            .filter(|k| router.owner_of(key_slot(k)) == router.owner_of(key_slot(a)))
            .take(2)
            .collect();
        let mut c = cluster.server(router.owner_of(key_slot(a)).unwrap()).conn();
        for (name, user) in [("LIKE.MCOUNT", None), ("LIKE.STATUS", Some(1))] {
            let mut q = cmd(name);
            if let Some(u) = user {
                q.arg(u);
            }
            let r: RedisResult<Value> = q.arg(same_node[0]).arg(same_node[1]).query(&mut c);
            assert_eq!(err_code(&r), "CROSSSLOT", "{name} over two slots of one node");
        }
        let r: RedisResult<Value> =
            cmd("LIKE.MCOUNT").arg(same_node[0]).arg(&tagged[0]).query(&mut cc);
        assert_eq!(err_code(&r), "CROSSSLOT");
    });
}

// ---------------------------------------------------------------------------------------------
// 2. A feed spanning slots: one LIKE.STATUS per slot, one pipeline per node, nodes in parallel.
// ---------------------------------------------------------------------------------------------

#[test]
fn feed_spanning_slots_is_read_per_node_in_parallel() {
    on_empty_cluster(|cluster, seeds| {
        let mut rng = StdRng::seed_from_u64(11);
        let viewer: u64 = 42;
        let mut model: Model = HashMap::new();
        for i in 0..600 {
            let n = rng.gen_range(0..40);
            let mut users: BTreeSet<u64> = (0..n).map(|_| rng.gen_range(0..200)).collect();
            if i % 3 == 0 {
                users.insert(viewer);
            }
            if !users.is_empty() {
                model.insert(format!("post:{i}"), users);
            }
        }
        let mut router = SlotRouter::connect(&seeds).expect("router");
        load_model(&mut router, &model);

        let mut feed: Vec<String> =
            (0..300).map(|_| format!("post:{}", rng.gen_range(0..600))).collect();
        feed.extend((0..10).map(|i| format!("post:missing:{i}")));
        feed.shuffle(&mut rng);
        let expect = |keys: &[String]| -> Vec<Status> {
            keys.iter()
                .map(|k| match model.get(k) {
                    Some(s) => Status { count: s.len() as i64, liked: s.contains(&viewer) },
                    None => Status::default(),
                })
                .collect()
        };

        let mut fresh = SlotRouter::connect(&seeds).expect("router");
        let got = feed_status(&mut fresh, viewer, &feed).expect("feed_status");
        assert_eq!(got, expect(&feed));
        let slots: HashSet<u16> = feed.iter().map(key_slot).collect();
        let stats = fresh.last.clone();
        assert_eq!(stats.nodes, 3, "{stats:?}");
        assert_eq!(stats.round_trips, 3, "one pipeline per node: {stats:?}");
        assert_eq!(stats.redirects, 0, "{stats:?}");
        println!(
            "feed of {} posts over {} slots read in {} round trips (one per node, in parallel)",
            feed.len(),
            slots.len(),
            stats.round_trips
        );

        // The same answers key by key through the cluster client.
        let mut cc = cluster.client();
        for (k, s) in feed.iter().zip(&got).take(60) {
            let count: i64 = cmd("LIKE.COUNT").arg(k).query(&mut cc).unwrap();
            let has: i64 = cmd("LIKE.HAS").arg(k).arg(viewer).query(&mut cc).unwrap();
            assert_eq!((count, has == 1), (s.count, s.liked), "{k}");
        }

        // Move one slot holding feed keys by hand and read the feed with the stale router:
        // first while the slot is migrating (ASK), then once it moved (MOVED).
        let src_addr = router.owner_of(key_slot(&feed[0])).unwrap().to_string();
        let slot = key_slot(&feed[0]);
        let primaries = cluster.primaries();
        let src = primaries.iter().find(|p| p.addr == src_addr).unwrap().clone();
        let dst = primaries.iter().find(|p| p.addr != src_addr).unwrap().clone();
        let mut src_c = cluster.server(&src.addr).conn();
        let mut dst_c = cluster.server(&dst.addr).conn();
        setslot(&mut dst_c, slot, "IMPORTING", &src.id);
        setslot(&mut src_c, slot, "MIGRATING", &dst.id);
        let in_slot: Vec<String> =
            cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(1000).query(&mut src_c).unwrap();
        assert!(in_slot.contains(&feed[0]));
        let port = dst.addr.rsplit(':').next().unwrap();
        let _: () = cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&in_slot)
            .query(&mut src_c)
            .expect("MIGRATE (DUMP/RESTORE of like keys)");
        // The stale router still reads the right feed, through at least one redirect.
        let mut read_redirected = |when: &str, slot_state: &str, answer: &str| {
            let got = feed_status(&mut router, viewer, &feed)
                .unwrap_or_else(|e| panic!("feed_status {when}: {e:?}"));
            assert_eq!(got, expect(&feed), "feed {when} ({answer})");
            assert!(
                router.last.redirects >= 1,
                "the {slot_state} slot answers {answer}: {:?}",
                router.last
            );
        };
        read_redirected("during migration", "migrating", "ASK");
        for p in [&dst, &src]
            .into_iter()
            .chain(primaries.iter().filter(|p| p.id != src.id && p.id != dst.id))
        {
            let mut c = cluster.server(&p.addr).conn();
            setslot(&mut c, slot, "NODE", &dst.id);
        }
        read_redirected("after the move", "moved", "MOVED");
        assert!(router.last.refreshes >= 1);
        let again = feed_status(&mut router, viewer, &feed).unwrap();
        assert_eq!(again, expect(&feed));
        assert_eq!(router.last.redirects, 0, "the router learned the new owner");
        cluster.wait_healthy(Duration::from_secs(30));
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Resharding under writes (redis-cli --cluster reshard: MIGRATE = DUMP/RESTORE).
// ---------------------------------------------------------------------------------------------

struct WriterReport {
    model: Model,
    maybe: Model,
    ops: u64,
    errors: Vec<String>,
    mismatches: Vec<String>,
    elapsed: Duration,
}

/// Random LIKE.ADD/LIKE.DEL through the redis-rs cluster client until `stop`; every reply is
/// checked against the model (LIKE.ADD returns 1 only for a new user, LIKE.DEL 1 only for a
/// present one).
fn cluster_writer(
    seeds: Vec<String>,
    mut model: Model,
    keys: Vec<String>,
    hot: Vec<String>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> WriterReport {
    let mut cc = Cluster::client_for(&seeds);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = WriterReport {
        model: HashMap::new(),
        maybe: HashMap::new(),
        ops: 0,
        errors: Vec::new(),
        mismatches: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let key = if !hot.is_empty() && rng.gen_bool(0.7) {
            hot.choose(&mut rng).unwrap()
        } else {
            keys.choose(&mut rng).unwrap()
        };
        let set = model.entry(key.clone()).or_default();
        let big = set.len() > 1000;
        let (name, user) = if set.is_empty() || rng.gen_bool(0.8) {
            ("LIKE.ADD", rng.gen_range(0..100_000u64))
        } else if big {
            ("LIKE.DEL", rng.gen_range(0..100_000u64))
        } else {
            let i = rng.gen_range(0..set.len());
            ("LIKE.DEL", *set.iter().nth(i).unwrap())
        };
        let expected =
            if name == "LIKE.ADD" { !set.contains(&user) } else { set.contains(&user) } as i64;
        let r: RedisResult<i64> = cmd(name).arg(key).arg(user).query(&mut cc);
        report.ops += 1;
        match r {
            Ok(n) => {
                if n != expected {
                    report
                        .mismatches
                        .push(format!("{name} {key} {user}: replied {n}, expected {expected}"));
                }
                if name == "LIKE.ADD" {
                    set.insert(user);
                } else {
                    set.remove(&user);
                }
            }
            Err(e) => {
                report.errors.push(format!("{name} {key} {user}: {e}"));
                report.maybe.entry(key.clone()).or_default().insert(user);
            }
        }
    }
    report.elapsed = started.elapsed();
    report.model = model;
    report
}

#[test]
fn reshard_2000_slots_under_writes_keeps_every_like() {
    on_empty_cluster(|cluster, seeds| {
        let mut rng = StdRng::seed_from_u64(3);
        // 60,000 small like-sets (~97% of the 16,384 slots hold a key) and 12 big ones.
        let mut model: Model = HashMap::new();
        for i in 0..60_000 {
            let n = rng.gen_range(1..7);
            model.insert(format!("rs:{i}"), (0..n).map(|_| rng.gen_range(0..100_000u64)).collect());
        }
        for i in 0..12 {
            model.insert(
                format!("rs:big:{i}"),
                (0..30_000).map(|_| rng.gen_range(0..100_000u64)).collect(),
            );
        }
        let mut router = SlotRouter::connect(&seeds).expect("router");
        let t = Instant::now();
        load_model(&mut router, &model);
        println!("loaded {} keys in {:.1} s", model.len(), t.elapsed().as_secs_f64());

        let primaries = cluster.primaries();
        let src = primaries.iter().max_by_key(|p| p.slot_count()).unwrap().clone();
        let dst = primaries.iter().find(|p| p.id != src.id).unwrap().clone();
        let before = slot_owner_map(&router);
        let mut keys: Vec<String> = model.keys().cloned().collect();
        keys.sort();
        let hot: Vec<String> = keys
            .iter()
            .filter(|k| before[key_slot(k.as_str()) as usize] == src.addr)
            .cloned()
            .collect();

        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (seeds, model, keys, hot, stop) =
                (seeds.clone(), model.clone(), keys.clone(), hot, stop.clone());
            std::thread::spawn(move || cluster_writer(seeds, model, keys, hot, stop, 99))
        };
        // Stops the writer even if the reshard step panics.
        let stopper = StopOnDrop(stop.clone());
        std::thread::sleep(Duration::from_millis(300));

        const MOVE: usize = 2200;
        let mut reshard = Command::new("redis-cli");
        reshard
            .arg("--cluster")
            .arg("reshard")
            .arg(&src.addr)
            .arg("--cluster-from")
            .arg(&src.id)
            .arg("--cluster-to")
            .arg(&dst.id)
            .arg("--cluster-slots")
            .arg(MOVE.to_string())
            .arg("--cluster-pipeline")
            .arg("20")
            .arg("--cluster-yes");
        let t = Instant::now();
        let (ok, out) =
            run_bounded(reshard, &cluster.root().join("reshard.log"), Duration::from_secs(240));
        let reshard_time = t.elapsed();
        assert!(
            ok,
            "redis-cli --cluster reshard failed:\n{}",
            &out[out.len().saturating_sub(3000)..]
        );
        std::thread::sleep(Duration::from_millis(300));
        drop(stopper);
        let report = writer.join().expect("writer thread");
        cluster.wait_healthy(Duration::from_secs(30));

        router.refresh().unwrap();
        let after = slot_owner_map(&router);
        let moved: Vec<usize> = (0..16384).filter(|&s| before[s] != after[s]).collect();
        assert!(moved.iter().all(|&s| before[s] == src.addr && after[s] == dst.addr));
        let key_slots: HashMap<u16, usize> = report
            .model
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .fold(HashMap::new(), |mut m, (k, _)| {
                *m.entry(key_slot(k)).or_default() += 1;
                m
            });
        let moved_with_keys =
            moved.iter().filter(|&&s| key_slots.contains_key(&(s as u16))).count();
        let moved_keys: usize = moved.iter().filter_map(|&s| key_slots.get(&(s as u16))).sum();
        assert!(moved.len() >= MOVE, "only {} slots moved", moved.len());
        assert!(moved_with_keys >= 2000, "only {moved_with_keys} moved slots hold keys");

        assert!(
            report.errors.is_empty(),
            "writer errors: {:?}",
            &report.errors[..report.errors.len().min(10)]
        );
        assert!(
            report.mismatches.is_empty(),
            "replies that disagree with the model: {:?}",
            &report.mismatches[..report.mismatches.len().min(10)]
        );
        assert!(report.ops > 100, "the writer barely ran: {} ops", report.ops);
        verify_model(&mut router, &report.model, &report.maybe);

        // No key left behind or duplicated: the primaries hold exactly the non-empty keys.
        let mut total = 0i64;
        cluster.on_primaries(|c| total += cmd("DBSIZE").query::<i64>(c).unwrap());
        let nonempty = report.model.values().filter(|v| !v.is_empty()).count() as i64;
        assert_eq!(total, nonempty, "keys on the primaries vs non-empty keys in the model");

        // The replicas converge to the same data (RESTORE replicated as written).
        cluster.wait_replicas_caught_up(Duration::from_secs(30));
        let nodes = cluster.nodes_seen_by(&seeds[0]);
        for p in nodes.iter().filter(|n| n.is_master() && !n.slots.is_empty()) {
            let mut pc = cluster.server(&p.addr).conn();
            let pd: String = cmd("DEBUG").arg("DIGEST").query(&mut pc).unwrap();
            for r in nodes.iter().filter(|n| n.master_id.as_ref() == Some(&p.id)) {
                let mut rc = cluster.server(&r.addr).conn();
                let rd: String = cmd("DEBUG").arg("DIGEST").query(&mut rc).unwrap();
                assert_eq!(pd, rd, "DEBUG DIGEST of primary {} and its replica {}", p.addr, r.addr);
            }
        }

        println!(
            "MEASURED: reshard of {} slots ({} holding keys, {} keys) from one primary to another: {:.2} s \
             (redis-cli --cluster reshard --cluster-pipeline 20) while a writer ran {} LIKE.ADD/DEL ({:.0} ops/s), 0 lost",
            moved.len(),
            moved_with_keys,
            moved_keys,
            reshard_time.as_secs_f64(),
            report.ops,
            report.ops as f64 / report.elapsed.as_secs_f64()
        );
        assert!(reshard_time < Duration::from_secs(240));
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Striping: one post over N keys in different slots.
// ---------------------------------------------------------------------------------------------

#[test]
fn striped_post_keeps_exact_dedup_and_count() {
    on_empty_cluster(|_, seeds| {
        let post = Striped::new("post:viral", 4);
        let slots: HashSet<u16> = post.slots().iter().copied().collect();
        assert_eq!(slots.len(), 4, "stripes land in different slots: {:?}", post.slots());
        let router = SlotRouter::connect(&seeds).expect("router");
        let nodes: HashSet<&str> =
            post.slots().iter().map(|&s| router.owner_of(s).unwrap()).collect();
        println!(
            "post:viral stripes {:?} in slots {:?} on {} primaries",
            post.keys(),
            post.slots(),
            nodes.len()
        );
        drop(router);

        // Three writers with overlapping users, in batches and one like per command.
        let huge = [u64::MAX >> 1, (u64::MAX >> 1) - 1, (u64::MAX >> 1) - 7, 1 << 40];
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let (seeds, post) = (seeds.clone(), post.clone());
                std::thread::spawn(move || {
                    let mut router = SlotRouter::connect(&seeds).expect("router");
                    let mut new = 0i64;
                    let users: Vec<u64> = (t * 4000..t * 4000 + 8000).collect();
                    for (i, batch) in users.chunks(500).enumerate() {
                        new += if i % 2 == 0 {
                            post.add(&mut router, batch).expect("striped add")
                        } else {
                            post.add_each(&mut router, batch).expect("striped add_each")
                        };
                    }
                    new += post.add(&mut router, &huge).expect("huge ids");
                    new
                })
            })
            .collect();
        let new_total: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let mut union: BTreeSet<u64> = (0..16_000).collect();
        union.extend(huge);
        assert_eq!(new_total, union.len() as i64, "each user counted new exactly once");

        let mut router = SlotRouter::connect(&seeds).expect("router");
        assert_eq!(post.count(&mut router).unwrap(), union.len() as i64);
        assert!(router.last.round_trips <= 4, "count = N LIKE.COUNT, one pipeline per node");
        let per_stripe = post.stripe_counts(&mut router).unwrap();
        for (i, &c) in per_stripe.iter().enumerate() {
            let want = union.iter().filter(|&&u| u % 4 == i as u64).count() as i64;
            assert_eq!(c, want, "stripe {i}");
            let members = users_of(&mut router, &post.keys()[i]);
            assert!(
                members.iter().all(|u| u % 4 == i as u64),
                "stripe {i} holds only users = {i} mod 4"
            );
        }
        let all = post.all_users(&mut router, 1000).unwrap();
        assert_eq!(all, union.iter().copied().collect::<Vec<_>>());
        for u in [0u64, 1, 2, 3, 15_999, u64::MAX >> 1, 1 << 40] {
            assert!(post.has(&mut router, u).unwrap(), "has {u}");
        }
        for u in [16_000u64, 20_001, (u64::MAX >> 1) - 2, 5 << 40] {
            assert!(!post.has(&mut router, u).unwrap(), "has not {u}");
        }
        // Dedup across calls, removal, and the count following exactly.
        assert_eq!(post.add(&mut router, &[5, 6, 7, 8, 9]).unwrap(), 0);
        assert_eq!(post.add_each(&mut router, &[5, 6, 7, 8, 9]).unwrap(), 0);
        let gone: Vec<u64> = (100..1100).collect();
        assert_eq!(post.del(&mut router, &gone).unwrap(), 1000);
        assert_eq!(post.del(&mut router, &gone).unwrap(), 0);
        assert_eq!(post.count(&mut router).unwrap(), union.len() as i64 - 1000);
        assert!(!post.has(&mut router, 500).unwrap());
        // A feed can show a striped post: its stripe keys are ordinary keys.
        let st = feed_status(&mut router, 3, post.keys()).unwrap();
        assert_eq!(st.iter().map(|s| s.count).sum::<i64>(), union.len() as i64 - 1000);
        assert_eq!(st.iter().filter(|s| s.liked).count(), 1, "the user is in exactly one stripe");
        assert!(st[post.stripe_of(3)].liked);
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Throughput: one key on one primary, and a striped post over three primaries.
// ---------------------------------------------------------------------------------------------

/// One stream of a load test: `LIKE.ADD key user...` sent to the primary at `addr`, with
/// users `offset + stride * m` for m = 0, 1, 2, ... (unique across threads and rounds).
struct Target {
    addr: String,
    key: String,
    offset: u64,
    stride: u64,
}

/// A lean load generator: hand-encoded RESP, `depth` commands per round trip on one connection
/// per target per thread, replies checked byte for byte. It keeps the client's own CPU cost
/// low so that the server is what is measured. Returns likes applied and likes/s.
fn raw_pump(
    targets: &[Target],
    threads: u64,
    secs: f64,
    depth: u64,
    users_per_cmd: u64,
) -> (u64, f64) {
    use std::io::{Read, Write};
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut conns: Vec<std::net::TcpStream> = targets
                        .iter()
                        .map(|tg| {
                            let c = std::net::TcpStream::connect(&tg.addr).expect("connect");
                            c.set_nodelay(true).unwrap();
                            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                            c
                        })
                        .collect();
                    let expected: Vec<u8> =
                        format!(":{users_per_cmd}\r\n").into_bytes().repeat(depth as usize);
                    let mut buf = Vec::with_capacity(64 * 1024);
                    let mut reply = vec![0u8; expected.len()];
                    let mut likes = 0u64;
                    let mut round = 0u64;
                    while started.elapsed().as_secs_f64() < secs {
                        for (tg, conn) in targets.iter().zip(conns.iter_mut()) {
                            buf.clear();
                            for j in 0..depth {
                                write!(
                                    buf,
                                    "*{}\r\n$8\r\nLIKE.ADD\r\n${}\r\n{}\r\n",
                                    2 + users_per_cmd,
                                    tg.key.len(),
                                    tg.key
                                )
                                .unwrap();
                                for k in 0..users_per_cmd {
                                    let m = ((round * threads + t) * depth + j) * users_per_cmd + k;
                                    let u = (tg.offset + tg.stride * m).to_string();
                                    write!(buf, "${}\r\n{u}\r\n", u.len()).unwrap();
                                }
                            }
                            conn.write_all(&buf).expect("send");
                        }
                        for conn in conns.iter_mut() {
                            conn.read_exact(&mut reply).expect("replies");
                            assert!(
                                reply == expected,
                                "unexpected replies: {} to {:?}",
                                String::from_utf8_lossy(&reply[..reply.len().min(200)]),
                                String::from_utf8_lossy(&buf[..buf.len().min(200)])
                            );
                            likes += depth * users_per_cmd;
                        }
                        round += 1;
                    }
                    likes
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (total, total as f64 / started.elapsed().as_secs_f64())
}

/// CPU seconds (user + sys, all threads) the server at `addr` has used so far.
fn cpu_seconds(cluster: &Cluster, addr: &str) -> f64 {
    let info = cluster.server(addr).info("cpu");
    let f = |n: &str| info_field(&info, n).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    f("used_cpu_user") + f("used_cpu_sys")
}

/// Runs `work` and returns its result with the CPU each primary used per wall-clock second.
fn with_cpu<R>(cluster: &Cluster, primaries: &[String], work: impl FnOnce() -> R) -> (R, Vec<f64>) {
    let before: Vec<f64> = primaries.iter().map(|a| cpu_seconds(cluster, a)).collect();
    let t = Instant::now();
    let r = work();
    let secs = t.elapsed().as_secs_f64();
    let busy =
        primaries.iter().zip(before).map(|(a, b)| (cpu_seconds(cluster, a) - b) / secs).collect();
    (r, busy)
}

/// The first post `{prefix}:{i}` whose 3 stripes sit on 3 different primaries, and one load
/// stream per stripe (user u in stripe u mod 3).
fn striped_over_three_primaries(router: &SlotRouter, prefix: &str) -> (Striped, Vec<Target>) {
    let post = (0..10_000)
        .map(|i| Striped::new(&format!("{prefix}:{i}"), 3))
        .find(|p| {
            p.slots().iter().map(|&s| router.owner_of(s).unwrap()).collect::<HashSet<_>>().len()
                == 3
        })
        .expect("a post whose 3 stripes sit on 3 primaries");
    let stripes: Vec<Target> = (0..3)
        .map(|i| Target {
            addr: router.owner_of(post.slots()[i]).unwrap().to_string(),
            key: post.keys()[i].clone(),
            offset: i as u64,
            stride: 3,
        })
        .collect();
    (post, stripes)
}

/// `LIKE.COUNT key` through the router.
fn count_of(router: &mut SlotRouter, key: &str) -> u64 {
    let mut c = cmd("LIKE.COUNT");
    c.arg(key);
    router.query_key::<u64>(key, c).unwrap()
}

/// The exactness checks of the throughput measurement, short enough for every run: likes
/// pumped through deep pipelines, into one key (one user and 100 users per LIKE.ADD) and into a
/// post striped over three primaries, are each applied exactly once.
#[test]
fn pipelined_likes_on_one_key_and_stripes_are_counted_exactly() {
    on_empty_cluster(|_, seeds| {
        let mut router = SlotRouter::connect(&seeds).unwrap();

        let key = "exact:hot";
        let owner = router.owner_of(key_slot(key)).unwrap().to_string();
        let one = [Target { addr: owner.clone(), key: key.to_string(), offset: 0, stride: 1 }];
        let (n1, _) = raw_pump(&one, 2, 0.3, 64, 1);
        assert!(n1 > 0);
        assert_eq!(count_of(&mut router, key), n1, "every like applied exactly once");

        let bkey = "{exact:hot}:batched";
        let batched_key = [Target { addr: owner, key: bkey.into(), offset: 0, stride: 1 }];
        let (nb, _) = raw_pump(&batched_key, 2, 0.2, 16, 100);
        assert!(nb > 0);
        assert_eq!(count_of(&mut router, bkey), nb);

        let (post, stripes) = striped_over_three_primaries(&router, "exact:striped");
        let (n3, _) = raw_pump(&stripes, 3, 0.3, 64, 1);
        assert!(n3 > 0);
        assert_eq!(post.count(&mut router).unwrap() as u64, n3, "striped count is exact");
        let per_stripe = post.stripe_counts(&mut router).unwrap();
        assert!(
            per_stripe.iter().all(|&c| c as u64 == n3 / 3),
            "stripes evenly filled: {per_stripe:?}"
        );
    });
}

#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn throughput_one_key_and_striped_over_three_primaries() {
    on_empty_cluster(|cluster, seeds| {
        let mut router = SlotRouter::connect(&seeds).unwrap();
        let primaries: Vec<String> = cluster.primaries().into_iter().map(|p| p.addr).collect();
        const SECS: f64 = 3.0;
        const DEPTH: u64 = 256;

        // One key on one primary: single-user LIKE.ADD, 256 per round trip, 2 connections.
        let key = "bench:hot";
        let owner = router.owner_of(key_slot(key)).unwrap().to_string();
        let owner_idx = primaries.iter().position(|a| *a == owner).unwrap();
        let one = [Target { addr: owner.clone(), key: key.to_string(), offset: 0, stride: 1 }];
        let ((n1, one_key), busy1) =
            with_cpu(cluster, &primaries, || raw_pump(&one, 2, SECS, DEPTH, 1));
        assert_eq!(count_of(&mut router, key), n1, "every like applied exactly once");

        // The same key with 100 users per LIKE.ADD (a writer that batches).
        let bkey = "{bench:hot}:batched";
        let batched_key = [Target { addr: owner.clone(), key: bkey.into(), offset: 0, stride: 1 }];
        let (nb, batched) = raw_pump(&batched_key, 2, 1.5, 16, 100);
        assert_eq!(count_of(&mut router, bkey), nb);

        // Striped over three primaries: 3 stripes whose slots are owned by 3 different primaries,
        // user u in stripe u mod 3.
        let (post, stripes) = striped_over_three_primaries(&router, "bench:striped");
        let ((n3, striped), busy3) =
            with_cpu(cluster, &primaries, || raw_pump(&stripes, 3, SECS, DEPTH, 1));
        assert_eq!(post.count(&mut router).unwrap() as u64, n3, "striped count is exact");
        let per_stripe = post.stripe_counts(&mut router).unwrap();
        assert!(
            per_stripe.iter().all(|&c| c as u64 == n3 / 3),
            "stripes evenly filled: {per_stripe:?}"
        );

        let per_cpu1 = one_key / busy1[owner_idx].max(0.01);
        let busy_total3: f64 = busy3.iter().sum();
        println!(
            "MEASURED: one key on one primary: {one_key:.0} likes/s ({n1} single-user LIKE.ADD in {SECS} s, 2 connections, \
             pipeline {DEPTH}); the primary was busy {:.2} CPU-s/s -> {per_cpu1:.0} likes per CPU-second",
            busy1[owner_idx]
        );
        println!("MEASURED: one key on one primary, 100 users per LIKE.ADD: {batched:.0} likes/s");
        println!(
            "MEASURED: striped post over 3 primaries (3 stripes, user mod 3): {striped:.0} likes/s aggregate \
             ({:.2}x one key); primaries busy {} CPU-s/s ({busy_total3:.2} in all) -> {:.0} likes per CPU-second",
            striped / one_key,
            busy3.iter().map(|b| format!("{b:.2}")).collect::<Vec<_>>().join(" / "),
            striped / busy_total3.max(0.01)
        );
        assert!(one_key > 1000.0 && striped > 1000.0, "implausibly slow: {one_key} / {striped}");
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Failover: SIGKILL a primary while writes (each confirmed with WAIT) go on.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Outcome {
    /// LIKE.ADD replied 1 and WAIT 1 confirmed a replica has it.
    Acked,
    /// Applied by the primary, not (yet) confirmed by a replica.
    Applied,
    /// Sent, no reply (connection lost): may or may not have been applied.
    Unknown,
    /// Refused with an error reply, or never sent: not applied.
    Refused,
}

struct FoOp {
    key: usize,
    user: u64,
    slot: u16,
    outcome: Outcome,
    at: Instant,
}

fn failover_writer(seeds: Vec<String>, keys: Arc<Vec<String>>, stop: Arc<AtomicBool>) -> Vec<FoOp> {
    let mut router = SlotRouter::with_timeout(&seeds, Duration::from_secs(1)).expect("router");
    let mut conns: HashMap<String, redis::Connection> = HashMap::new();
    let mut ops = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut user: u64 = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        user += 1;
        let ki = (user as usize * 7919) % keys.len();
        let key = &keys[ki];
        let slot = key_slot(key);
        let mut op = FoOp { key: ki, user, slot, outcome: Outcome::Refused, at: Instant::now() };
        let Some(addr) = router.owner_of(slot).map(str::to_string) else {
            ops.push(op);
            let _ = router.refresh();
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        if !conns.contains_key(&addr) {
            let c = redis::Client::open(format!("redis://{addr}/"))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)));
            match c {
                Ok(c) => {
                    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                    conns.insert(addr.clone(), c);
                }
                Err(_) => {
                    ops.push(op);
                    let _ = router.refresh();
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
        }
        let conn = conns.get_mut(&addr).unwrap();
        let mut p = redis::pipe();
        p.ignore_errors();
        p.cmd("LIKE.ADD").arg(key).arg(user);
        p.cmd("WAIT").arg(1).arg(500);
        match p.query::<Vec<RedisResult<Value>>>(conn) {
            Ok(r) => {
                op.outcome = match (&r[0], &r[1]) {
                    (Ok(Value::Int(1)), Ok(Value::Int(n))) if *n >= 1 => Outcome::Acked,
                    (Ok(Value::Int(1)), _) => Outcome::Applied,
                    (Ok(v), _) => panic!("LIKE.ADD {key} {user} (a new user) replied {v:?}"),
                    (Err(_), _) => Outcome::Refused,
                };
                op.at = Instant::now();
                ops.push(op);
                if r[0].is_err() {
                    let _ = router.refresh();
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Err(_) => {
                op.outcome = Outcome::Unknown;
                op.at = Instant::now();
                ops.push(op);
                conns.remove(&addr);
                let _ = router.refresh();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    ops
}

#[test]
fn failover_keeps_every_acknowledged_like() {
    CLUSTER.run(|cluster| {
        cluster.flushall();
        cluster.wait_replicas_caught_up(Duration::from_secs(20));
        let seeds = cluster.seeds();
        let keys: Arc<Vec<String>> = Arc::new((0..3000).map(|i| format!("fo:{i}")).collect());
        let primaries = cluster.primaries();
        let victim = primaries[1].clone();
        let nodes = cluster.nodes_seen_by(&seeds[0]);
        let replica = nodes
            .iter()
            .find(|n| n.master_id.as_ref() == Some(&victim.id))
            .expect("the victim has a replica")
            .clone();
        let victim_slots: HashSet<u16> =
            victim.slots.iter().flat_map(|&(a, b)| a..=b).collect();

        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (seeds, keys, stop) = (seeds.clone(), keys.clone(), stop.clone());
            std::thread::spawn(move || failover_writer(seeds, keys, stop))
        };
        // Stops the writer even if the failover steps panic.
        let stopper = StopOnDrop(stop.clone());
        std::thread::sleep(Duration::from_millis(1500));

        let killed_at = Instant::now();
        cluster.server_mut(&victim.addr).kill9();
        // The replica is promoted and the survivors agree the cluster is whole again.
        let mut promoted_at = None;
        wait_until(Duration::from_secs(40), "the replica promoted and cluster_state:ok", || {
            let me = node_of(cluster, &replica.addr);
            if promoted_at.is_none() && me.is_master() && !me.slots.is_empty() {
                promoted_at = Some(Instant::now());
            }
            promoted_at.is_some() && cluster.is_healthy()
        });
        let ok_at = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        drop(stopper);
        let ops = writer.join().expect("writer");

        // Until the old primary rejoins, the promoted replica has no replica of its own, so
        // WAIT 1 cannot confirm: a write that the new primary applied counts as resumed.
        let first_write_after = ops
            .iter()
            .filter(|o| {
                o.at > killed_at
                    && victim_slots.contains(&o.slot)
                    && matches!(o.outcome, Outcome::Acked | Outcome::Applied)
            })
            .map(|o| o.at)
            .min()
            .expect("writes to the failed primary's slots resumed");
        let acked_before: usize = ops
            .iter()
            .filter(|o| o.at < killed_at && victim_slots.contains(&o.slot) && o.outcome == Outcome::Acked)
            .count();
        assert!(acked_before >= 50, "only {acked_before} acknowledged writes on the victim before the kill");

        let mut model: Model = HashMap::new();
        let mut maybe: Model = HashMap::new();
        for k in keys.iter() {
            model.insert(k.clone(), BTreeSet::new());
        }
        let mut counts: HashMap<Outcome, usize> = HashMap::new();
        for o in &ops {
            *counts.entry(o.outcome).or_default() += 1;
            match o.outcome {
                Outcome::Acked => {
                    model.get_mut(&keys[o.key]).unwrap().insert(o.user);
                }
                Outcome::Applied | Outcome::Unknown => {
                    maybe.entry(keys[o.key].clone()).or_default().insert(o.user);
                }
                Outcome::Refused => {}
            }
        }
        // Acked users must be there; Applied/Unknown ones may be; nothing else may appear.
        let mut router = SlotRouter::connect(&cluster.live_seeds()).unwrap();
        verify_model(&mut router, &model, &maybe);

        println!(
            "MEASURED: failover: SIGKILL of a primary -> replica promoted in {:.2} s, cluster_state:ok in {:.2} s, \
             first write applied on its slots after {:.2} s (cluster-node-timeout {} ms)",
            promoted_at.unwrap().duration_since(killed_at).as_secs_f64(),
            ok_at.duration_since(killed_at).as_secs_f64(),
            first_write_after.duration_since(killed_at).as_secs_f64(),
            NODE_TIMEOUT_MS
        );
        println!(
            "failover writer: {} acked ({} on the victim before the kill), {} applied-unconfirmed, {} unknown, {} refused",
            counts.get(&Outcome::Acked).unwrap_or(&0),
            acked_before,
            counts.get(&Outcome::Applied).unwrap_or(&0),
            counts.get(&Outcome::Unknown).unwrap_or(&0),
            counts.get(&Outcome::Refused).unwrap_or(&0)
        );

        // The old primary comes back as a replica of the promoted node.
        cluster.server_mut(&victim.addr).restart();
        cluster.wait_healthy(Duration::from_secs(60));
        let back = node_of(cluster, &victim.addr);
        assert_eq!(back.master_id.as_deref(), Some(replica.id.as_str()), "old primary rejoins as replica");
        cluster.wait_replicas_caught_up(Duration::from_secs(30));
        let mut rc = cluster.server(&victim.addr).conn();
        let _: () = cmd("READONLY").query(&mut rc).unwrap();
        for (k, users) in model.iter().filter(|(k, _)| victim_slots.contains(&key_slot(k.as_str()))).take(200) {
            let n: i64 = cmd("LIKE.COUNT").arg(k).query(&mut rc).unwrap();
            assert!(n >= users.len() as i64, "{k} on the rejoined replica: {n} < {}", users.len());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 7. Reaction keys (kinds besides like) moved to another node: MIGRATE (DUMP/RESTORE) of a slot.
// ---------------------------------------------------------------------------------------------

/// Every user of `kind` in `key`, paging REACT.USERS on a plain connection to its owner.
fn kind_users_on(c: &mut redis::Connection, key: &str, kind: &[u8]) -> Vec<u64> {
    let mut all: Vec<u64> = Vec::new();
    loop {
        let mut q = cmd("REACT.USERS");
        q.arg(key).arg(kind).arg("LIMIT").arg(10_000);
        if let Some(a) = all.last() {
            q.arg("AFTER").arg(*a);
        }
        let page: Vec<u64> = q.query(c).unwrap_or_else(|e| panic!("REACT.USERS {key}: {e}"));
        let done = page.len() < 10_000;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// What one reaction key reads back as on the node `c` is connected to.
#[derive(Debug, PartialEq)]
struct ReactionState {
    counts: Vec<(Vec<u8>, i64)>,
    users: Vec<Vec<u64>>,
    gets: Vec<Option<Vec<u8>>>,
    digest: String,
}

fn reaction_state(c: &mut redis::Connection, key: &str, samples: &[u64]) -> ReactionState {
    let counts: Vec<(Vec<u8>, i64)> = cmd("REACT.COUNTS").arg(key).query(c).unwrap();
    let users = counts.iter().map(|(k, _)| kind_users_on(c, key, k)).collect();
    let mut p = redis::pipe();
    for u in samples {
        p.cmd("REACT.GET").arg(key).arg(*u);
    }
    let gets: Vec<Option<Vec<u8>>> = p.query(c).unwrap();
    let digest: String =
        cmd("DEBUG").arg("DIGEST-VALUE").arg(key).query::<Vec<String>>(c).unwrap()[0].clone();
    ReactionState { counts, users, gets, digest }
}

#[test]
fn reaction_keys_moved_to_another_node_keep_every_reaction() {
    on_empty_cluster(|cluster, seeds| {
        let mut rng = StdRng::seed_from_u64(21);
        let router = SlotRouter::connect(&seeds).expect("router");
        // One slot (a hash tag) holding a big reaction key and a few small ones.
        let post = "{rx:7}:post".to_string();
        let slot = key_slot(&post);
        let keys: Vec<String> = std::iter::once(post.clone())
            .chain((0..6).map(|i| format!("{{rx:7}}:small:{i}")))
            .collect();
        assert!(keys.iter().all(|k| key_slot(k) == slot));
        let src_addr = router.owner_of(slot).unwrap().to_string();
        let mut src_c = cluster.server(&src_addr).conn();
        // model: key -> kind -> users (users moved with REACT.ADD semantics)
        let mut model: HashMap<String, HashMap<Vec<u8>, BTreeSet<u64>>> = HashMap::new();
        let mut add = |c: &mut redis::Connection, key: &str, kind: &str, ids: &[u64]| {
            let m = model.entry(key.to_string()).or_default();
            for s in m.values_mut() {
                for id in ids {
                    s.remove(id);
                }
            }
            m.entry(kind.as_bytes().to_vec()).or_default().extend(ids);
            m.retain(|_, s| !s.is_empty());
            for chunk in ids.chunks(10_000) {
                let _: i64 = cmd("REACT.ADD").arg(key).arg(kind).arg(chunk).query(c).unwrap();
            }
        };
        // like: 60k dense IDs (roaring); dislike: 5k random 63-bit IDs; and emoji kinds.
        add(&mut src_c, &post, "like", &(0..60_000).collect::<Vec<u64>>());
        let sparse: Vec<u64> = (0..5000).map(|_| rng.gen_range(0..=i64::MAX as u64)).collect();
        add(&mut src_c, &post, "dislike", &sparse);
        add(
            &mut src_c,
            &post,
            "love",
            &(0..300u64).map(|i| (1 << 32) + i * 7).collect::<Vec<u64>>(),
        );
        add(&mut src_c, &post, "👍", &[1]);
        add(&mut src_c, &post, "😂", &(0..40u64).map(|i| 90_000 + i).collect::<Vec<u64>>());
        add(&mut src_c, &post, "dislike", &(100..200).collect::<Vec<u64>>());
        let kinds = ["like", "dislike", "up", "down", "🔥", "wow"];
        for k in keys.iter().skip(1) {
            for _ in 0..rng.gen_range(2..5) {
                let kind = kinds[rng.gen_range(0..kinds.len())];
                let ids: Vec<u64> =
                    (0..rng.gen_range(1..20)).map(|_| rng.gen_range(0..50)).collect();
                add(&mut src_c, k, kind, &ids);
            }
        }
        let samples: Vec<u64> = (0..300)
            .map(|i| match i % 3 {
                0 => rng.gen_range(0..100_000),
                1 => sparse[rng.gen_range(0..sparse.len())],
                _ => rng.gen_range(0..=i64::MAX as u64),
            })
            .collect();
        let before: Vec<ReactionState> =
            keys.iter().map(|k| reaction_state(&mut src_c, k, &samples)).collect();
        for (k, st) in keys.iter().zip(&before) {
            let m = &model[k];
            let mut want: Vec<(Vec<u8>, i64)> =
                m.iter().map(|(k, s)| (k.clone(), s.len() as i64)).collect();
            want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            assert_eq!(st.counts, want, "REACT.COUNTS {k} as written");
            for ((kind, _), users) in st.counts.iter().zip(&st.users) {
                assert!(users.iter().eq(m[kind].iter()), "REACT.USERS {k} as written");
            }
            let gets: Vec<Option<Vec<u8>>> = samples
                .iter()
                .map(|u| m.iter().find(|(_, s)| s.contains(u)).map(|(k, _)| k.clone()))
                .collect();
            assert_eq!(st.gets, gets, "REACT.GET samples of {k} as written");
        }
        assert_eq!(before[0].counts.len(), 5);

        // Move the slot to another primary by hand: MIGRATE (DUMP/RESTORE) of its keys.
        let primaries = cluster.primaries();
        let src = primaries.iter().find(|p| p.addr == src_addr).unwrap().clone();
        let dst = primaries.iter().find(|p| p.addr != src_addr).unwrap().clone();
        let mut dst_c = cluster.server(&dst.addr).conn();
        setslot(&mut dst_c, slot, "IMPORTING", &src.id);
        setslot(&mut src_c, slot, "MIGRATING", &dst.id);
        let in_slot: Vec<String> =
            cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(1000).query(&mut src_c).unwrap();
        assert_eq!(in_slot.iter().collect::<BTreeSet<_>>(), keys.iter().collect::<BTreeSet<_>>());
        let port = dst.addr.rsplit(':').next().unwrap();
        let _: () = cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(port)
            .arg("")
            .arg(0)
            .arg(10_000)
            .arg("KEYS")
            .arg(&in_slot)
            .query(&mut src_c)
            .expect("MIGRATE of reaction keys");
        for p in [&dst, &src]
            .into_iter()
            .chain(primaries.iter().filter(|p| p.id != src.id && p.id != dst.id))
        {
            let mut c = cluster.server(&p.addr).conn();
            setslot(&mut c, slot, "NODE", &dst.id);
        }
        let left: i64 = cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query(&mut src_c).unwrap();
        assert_eq!(left, 0, "keys left on the old owner");
        for (k, st) in keys.iter().zip(&before) {
            let after = reaction_state(&mut dst_c, k, &samples);
            assert!(
                after == *st,
                "{k}: the moved key reads back differently (REACT.COUNTS {:?} -> {:?})",
                st.counts,
                after.counts
            );
        }
        // The new owner's replica has them too.
        cluster.wait_healthy(Duration::from_secs(30));
        cluster.wait_replicas_caught_up(Duration::from_secs(30));
        let replica = cluster
            .nodes_seen_by(&seeds[0])
            .into_iter()
            .find(|n| n.master_id.as_ref() == Some(&dst.id))
            .expect("the new owner has a replica");
        let mut rc = cluster.server(&replica.addr).conn();
        let _: () = cmd("READONLY").query(&mut rc).unwrap();
        for (k, st) in keys.iter().zip(&before) {
            let d: Vec<String> = cmd("DEBUG").arg("DIGEST-VALUE").arg(k).query(&mut rc).unwrap();
            assert_eq!(d[0], st.digest, "{k} on the new owner's replica");
        }
        // And the key keeps working through a cluster client (which follows the MOVED).
        let mut cc = cluster.client();
        let prev: Option<Vec<u8>> =
            cmd("REACT.SET").arg(&post).arg(5).arg("👍").query(&mut cc).unwrap();
        assert_eq!(prev.as_deref(), Some(&b"like"[..]));
        let n: i64 = cmd("REACT.COUNT").arg(&post).arg("👍").query(&mut cc).unwrap();
        assert_eq!(n, 2);
        let n: i64 = cmd("LIKE.COUNT").arg(&post).query(&mut cc).unwrap();
        assert_eq!(n, before[0].users[0].len() as i64 - 1, "LIKE.COUNT after one like moved to 👍");
    });
}
