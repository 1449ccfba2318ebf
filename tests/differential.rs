//! Randomized differential test: every LIKE.* operation is mirrored on a
//! native Redis set in the same server (SADD/SREM/SISMEMBER/SCARD/SMEMBERS)
//! and the replies must agree. Fixed seeds (printed); set LIKE_SEED=<n> to
//! run one more seed.
//!
//! Reactions (at the end): mixed REACT.* and LIKE.* calls, pipelined, against an
//! in-test model (per key: user -> kind), on 8 kinds and then on 20 (the 16-kind
//! limit); LIKE_REACT_SEED=<n> runs one more seed.

use like_harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

const MAX_ID: u64 = 9_223_372_036_854_775_807;
const NKEYS: usize = 20;
const NBIG: usize = 4; // keys 0..NBIG get bulk range adds

fn lk(k: usize) -> String {
    format!("l:{k}")
}
fn nk(k: usize) -> String {
    format!("n:{k}")
}

fn gen_id(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..100) {
        0..=39 => rng.gen_range(0..64),
        40..=59 => rng.gen_range(0..2000),
        60..=69 => rng.gen_range(4_294_967_290..4_294_967_302),
        70..=77 => rng.gen_range(MAX_ID - 20..=MAX_ID),
        78..=89 => rng.gen_range(0..=MAX_ID),
        _ => (1u64 << 40) + rng.gen_range(0..3000),
    }
}

/// `name key id...` (SADD or SREM) on the native set, in chunks of 1000 ids; the sum of the
/// replies.
fn native_many(c: &mut redis::Connection, name: &str, key: &str, ids: &[u64]) -> i64 {
    let mut total = 0;
    for chunk in ids.chunks(1000) {
        let mut cmd = redis::cmd(name);
        cmd.arg(key);
        for id in chunk {
            cmd.arg(*id);
        }
        total += cmd.query::<i64>(c).unwrap();
    }
    total
}

fn native_members(c: &mut redis::Connection, key: &str) -> Vec<u64> {
    let v: Vec<String> = redis::cmd("SMEMBERS").arg(key).query(c).unwrap();
    let mut out: Vec<u64> = v.iter().map(|x| x.parse().unwrap()).collect();
    out.sort_unstable();
    out
}

struct Diff {
    rng: StdRng,
    c: redis::Connection,
    seed: u64,
    op: usize,
    max_size: usize,
    encodings: BTreeSet<String>,
}

impl Diff {
    fn ctx(&self, what: &str) -> String {
        format!("seed {} op {}: {}", self.seed, self.op, what)
    }

    fn check_exists(&mut self, k: usize) {
        let a = int(&mut self.c, &["EXISTS", &lk(k)]);
        let b = int(&mut self.c, &["EXISTS", &nk(k)]);
        assert_eq!(a, b, "{}", self.ctx(&format!("EXISTS l:{k} vs n:{k}")));
    }

    fn full_compare(&mut self, k: usize) {
        let want = native_members(&mut self.c, &nk(k));
        let got = all_users(&mut self.c, &lk(k));
        if got != want {
            let gs: BTreeSet<_> = got.iter().collect();
            let ws: BTreeSet<_> = want.iter().collect();
            let extra: Vec<_> = gs.difference(&ws).take(10).collect();
            let missing: Vec<_> = ws.difference(&gs).take(10).collect();
            panic!(
                "{}",
                self.ctx(&format!(
                    "members of l:{k} differ: {} vs {} (extra {extra:?}, missing {missing:?})",
                    got.len(),
                    want.len()
                ))
            );
        }
        let cnt = int(&mut self.c, &["LIKE.COUNT", &lk(k)]);
        assert_eq!(cnt as usize, want.len(), "{}", self.ctx(&format!("LIKE.COUNT l:{k}")));
        self.check_exists(k);
        if !want.is_empty() {
            let m = like_info(&mut self.c, &lk(k));
            assert_eq!(
                field_int(&m["count"]),
                Some(want.len() as i64),
                "{}",
                self.ctx("LIKE.INFO count")
            );
            self.encodings.insert(as_str(&m["encoding"]).unwrap());
        }
        self.max_size = self.max_size.max(want.len());
    }

    fn full_compare_all(&mut self) {
        for k in 0..NKEYS {
            self.full_compare(k);
        }
    }

    /// `like_cmd l:k ids...` and `native_cmd n:k ids...` must reply the same; then l:k and n:k
    /// must agree on existence.
    fn mirrored(&mut self, k: usize, like_cmd: &str, native_cmd: &str, ids: &[u64]) {
        let mut a = vec![s(like_cmd), lk(k)];
        a.extend(ids.iter().map(s));
        let got = int(&mut self.c, &a);
        a[0] = s(native_cmd);
        a[1] = nk(k);
        let want = int(&mut self.c, &a);
        assert_eq!(got, want, "{}", self.ctx(&format!("{a:?}")));
        self.check_exists(k);
    }

    fn ids(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| gen_id(&mut self.rng)).collect()
    }

    fn step(&mut self) {
        let k = if self.rng.gen_bool(0.3) {
            self.rng.gen_range(0..NBIG)
        } else {
            self.rng.gen_range(0..NKEYS)
        };
        let r = self.rng.gen_range(0..100);
        match r {
            0..=24 => {
                let n = self.rng.gen_range(1..=5);
                let ids = self.ids(n);
                self.mirrored(k, "LIKE.ADD", "SADD", &ids);
            }
            25..=39 => {
                let n = self.rng.gen_range(1..=5);
                let mut ids = self.ids(n);
                // bias towards existing members
                let mem: Vec<u64> = redis::cmd("SRANDMEMBER")
                    .arg(nk(k))
                    .arg(5)
                    .query::<Vec<String>>(&mut self.c)
                    .unwrap()
                    .iter()
                    .map(|x| x.parse().unwrap())
                    .collect();
                if !mem.is_empty() {
                    for id in ids.iter_mut() {
                        if self.rng.gen_bool(0.6) {
                            *id = mem[self.rng.gen_range(0..mem.len())];
                        }
                    }
                }
                self.mirrored(k, "LIKE.DEL", "SREM", &ids);
            }
            40..=49 => {
                let id = gen_id(&mut self.rng);
                let got = int(&mut self.c, &["LIKE.TOGGLE", &lk(k), &s(id)]);
                let was = int(&mut self.c, &["SISMEMBER", &nk(k), &s(id)]);
                if was == 1 {
                    int(&mut self.c, &["SREM", &nk(k), &s(id)]);
                } else {
                    int(&mut self.c, &["SADD", &nk(k), &s(id)]);
                }
                assert_eq!(got, 1 - was, "{}", self.ctx(&format!("LIKE.TOGGLE l:{k} {id}")));
                self.check_exists(k);
            }
            50..=59 => {
                let id = gen_id(&mut self.rng);
                let got = int(&mut self.c, &["LIKE.HAS", &lk(k), &s(id)]);
                let want = int(&mut self.c, &["SISMEMBER", &nk(k), &s(id)]);
                assert_eq!(got, want, "{}", self.ctx(&format!("LIKE.HAS l:{k} {id}")));
            }
            60..=66 => {
                let got = int(&mut self.c, &["LIKE.COUNT", &lk(k)]);
                let want = int(&mut self.c, &["SCARD", &nk(k)]);
                assert_eq!(got, want, "{}", self.ctx(&format!("LIKE.COUNT l:{k}")));
            }
            67..=71 => {
                let n = self.rng.gen_range(1..=6);
                let ks: Vec<usize> = (0..n).map(|_| self.rng.gen_range(0..NKEYS)).collect();
                let mut a = vec![s("LIKE.MCOUNT")];
                a.extend(ks.iter().map(|&k| lk(k)));
                let got = ints(&mut self.c, &a);
                let want: Vec<i64> =
                    ks.iter().map(|&k| int(&mut self.c, &["SCARD", &nk(k)])).collect();
                assert_eq!(got, want, "{}", self.ctx(&format!("{a:?}")));
            }
            72..=76 => {
                let n = self.rng.gen_range(1..=6);
                let ks: Vec<usize> = (0..n).map(|_| self.rng.gen_range(0..NKEYS)).collect();
                let id = gen_id(&mut self.rng);
                let mut a = vec![s("LIKE.STATUS"), s(id)];
                a.extend(ks.iter().map(|&k| lk(k)));
                let v = ok(&mut self.c, &a);
                let redis::Value::Array(items) = v else {
                    panic!("{}", self.ctx("STATUS not an array"))
                };
                let got: Vec<Vec<i64>> = items.iter().map(|x| value_ints(x).unwrap()).collect();
                let want: Vec<Vec<i64>> = ks
                    .iter()
                    .map(|&k| {
                        vec![
                            int(&mut self.c, &["SCARD", &nk(k)]),
                            int(&mut self.c, &["SISMEMBER", &nk(k), &s(id)]),
                        ]
                    })
                    .collect();
                assert_eq!(got, want, "{}", self.ctx(&format!("{a:?}")));
            }
            77..=87 => {
                let mem = native_members(&mut self.c, &nk(k));
                let after: Option<u64> = match self.rng.gen_range(0..4) {
                    0 => None,
                    1 if !mem.is_empty() => Some(mem[self.rng.gen_range(0..mem.len())]),
                    _ => Some(gen_id(&mut self.rng)),
                };
                let limit: Option<usize> = match self.rng.gen_range(0..4) {
                    0 => None,
                    1 => Some(self.rng.gen_range(1..=5)),
                    2 => Some(self.rng.gen_range(1..=300)),
                    _ => Some(self.rng.gen_range(1..=10_000)),
                };
                let mut a = vec![s("LIKE.USERS"), lk(k)];
                if let Some(x) = after {
                    a.push(s("AFTER"));
                    a.push(s(x));
                }
                if let Some(l) = limit {
                    a.push(s("LIMIT"));
                    a.push(s(l));
                }
                let got: Vec<u64> = ints(&mut self.c, &a).into_iter().map(|x| x as u64).collect();
                let want: Vec<u64> = mem
                    .iter()
                    .copied()
                    .filter(|&x| after.is_none_or(|a| x > a))
                    .take(limit.unwrap_or(100))
                    .collect();
                assert_eq!(got, want, "{}", self.ctx(&format!("{a:?}")));
            }
            88..=94 => self.bulk_add(),
            _ => self.bulk_del(),
        }
    }

    fn bulk_add(&mut self) {
        let k = self.rng.gen_range(0..NBIG);
        let size = int(&mut self.c, &["SCARD", &nk(k)]) as usize;
        if size > 40_000 {
            return self.bulk_del_key(k);
        }
        let n = self.rng.gen_range(500..=4000);
        let base: u64 = match self.rng.gen_range(0..4) {
            0 => self.rng.gen_range(0..100_000),
            1 => (1u64 << 32) - self.rng.gen_range(0..3000),
            2 => (1u64 << 40) + self.rng.gen_range(0..100_000),
            _ => self.rng.gen_range(0..MAX_ID - 100_000),
        };
        let stride = self.rng.gen_range(1..=7u64);
        let ids: Vec<u64> = (0..n as u64).map(|i| base + i * stride).collect();
        let got = add_many(&mut self.c, &lk(k), &ids, 1000);
        let want = native_many(&mut self.c, "SADD", &nk(k), &ids);
        assert_eq!(
            got,
            want,
            "{}",
            self.ctx(&format!("bulk add of {n} ids from {base} stride {stride} to l:{k}"))
        );
        self.full_compare(k);
    }

    fn bulk_del(&mut self) {
        let k = self.rng.gen_range(0..NBIG);
        self.bulk_del_key(k)
    }

    fn bulk_del_key(&mut self, k: usize) {
        let mem = native_members(&mut self.c, &nk(k));
        if mem.is_empty() {
            return;
        }
        // remove a random fraction; sometimes all but a handful (demotion)
        let keep = match self.rng.gen_range(0..3) {
            0 => self.rng.gen_range(0..=5).min(mem.len()),
            1 => mem.len() / 2,
            _ => self.rng.gen_range(0..=mem.len()),
        };
        let mut victims = mem.clone();
        use rand::seq::SliceRandom;
        victims.shuffle(&mut self.rng);
        victims.truncate(mem.len() - keep);
        // plus some absent ids
        for _ in 0..10 {
            victims.push(gen_id(&mut self.rng));
        }
        let got = del_many(&mut self.c, &lk(k), &victims, 1000);
        let want = native_many(&mut self.c, "SREM", &nk(k), &victims);
        assert_eq!(
            got,
            want,
            "{}",
            self.ctx(&format!("bulk del of {} ids from l:{k}", victims.len()))
        );
        self.full_compare(k);
    }
}

fn run(seed: u64, ops: usize) {
    println!("differential: seed {seed}, {ops} operations");
    let srv = Server::start();
    let c = srv.conn();
    let mut d = Diff {
        rng: StdRng::seed_from_u64(seed),
        c,
        seed,
        op: 0,
        max_size: 0,
        encodings: BTreeSet::new(),
    };
    for i in 0..ops {
        d.op = i;
        if i == ops / 3 && d.max_size < 6000 {
            // make sure at least one key crosses thousands of members
            let base = d.rng.gen_range(0..1_000_000u64);
            let ids: Vec<u64> = (0..7000).map(|j| base + j * 3).collect();
            add_many(&mut d.c, &lk(0), &ids, 1000);
            native_many(&mut d.c, "SADD", &nk(0), &ids);
            d.full_compare(0);
        }
        d.step();
        if i % 500 == 499 {
            d.full_compare_all();
        }
    }
    d.full_compare_all();
    // finally empty the big keys almost completely (demotion), then compare
    for k in 0..NBIG {
        let mem = native_members(&mut d.c, &nk(k));
        if mem.len() > 3 {
            let victims = &mem[..mem.len() - 3];
            let got = del_many(&mut d.c, &lk(k), victims, 1000);
            let want = native_many(&mut d.c, "SREM", &nk(k), victims);
            assert_eq!(got, want);
        }
        d.full_compare(k);
    }
    println!("seed {seed}: largest set {} members; encodings seen {:?}", d.max_size, d.encodings);
    assert!(d.max_size >= 5000, "seed {seed}: no key reached 5000 members");
    assert!(
        d.encodings.contains("roaring"),
        "seed {seed}: never saw a roaring encoding: {:?}",
        d.encodings
    );
    assert!(d.encodings.len() >= 2, "seed {seed}: only one encoding seen: {:?}", d.encodings);
}

#[test]
fn differential_seed_1() {
    run(1, 5000);
}

#[test]
fn differential_seed_20240601() {
    run(20_240_601, 5000);
}

#[test]
fn differential_env_seed() {
    if let Ok(seed) = std::env::var("LIKE_SEED") {
        let seed: u64 = seed.parse().expect("LIKE_SEED must be an integer");
        let ops = std::env::var("LIKE_OPS").ok().and_then(|x| x.parse().ok()).unwrap_or(5000);
        run(seed, ops);
    }
}

/// Many adds, then remove nearly everything (forces demotion from the
/// roaring form), checking along the way; then grow again.
#[test]
fn demotion_after_mass_removal() {
    let seed = 7;
    println!("demotion: seed {seed}");
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<u64> = (0..30_000u64).collect();
    ids.extend((0..10_000u64).map(|i| (1u64 << 33) + i * 5));
    ids.extend((0..10_000).map(|_| rng.gen_range(0..=MAX_ID)));
    let mut model: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(add_many(&mut c, "k", &ids, 2000) as usize, model.len());
    let enc_full = as_str(&like_info(&mut c, "k")["encoding"]).unwrap();

    use rand::seq::SliceRandom;
    let mut order: Vec<u64> = model.iter().copied().collect();
    order.shuffle(&mut rng);
    let keep = 5;
    let victims: Vec<u64> = order[..order.len() - keep].to_vec();
    let mut removed = 0usize;
    for (i, chunk) in victims.chunks(997).enumerate() {
        let got = del_many(&mut c, "k", chunk, 997);
        assert_eq!(got as usize, chunk.len());
        for x in chunk {
            model.remove(x);
        }
        removed += chunk.len();
        assert_eq!(
            int(&mut c, &["LIKE.COUNT", "k"]) as usize,
            model.len(),
            "after removing {removed}"
        );
        if i % 10 == 0 {
            assert_eq!(all_users(&mut c, "k"), model.iter().copied().collect::<Vec<_>>());
            for &x in chunk.iter().take(20) {
                assert_eq!(int(&mut c, &["LIKE.HAS", "k", &s(x)]), 0);
            }
        }
    }
    let want: Vec<u64> = model.iter().copied().collect();
    assert_eq!(want.len(), keep);
    assert_eq!(all_users(&mut c, "k"), want);
    for &x in &want {
        assert_eq!(int(&mut c, &["LIKE.HAS", "k", &s(x)]), 1);
    }
    let enc_small = as_str(&like_info(&mut c, "k")["encoding"]).unwrap();
    println!(
        "demotion: encoding with {} likes: {enc_full}; after removing all but {keep}: {enc_small}",
        ids.len()
    );
    // grow again and compare
    let more: Vec<u64> = (0..8000u64).map(|i| i * 2 + 1).collect();
    add_many(&mut c, "k", &more, 1000);
    model.extend(more.iter().copied());
    assert_eq!(all_users(&mut c, "k"), model.iter().copied().collect::<Vec<_>>());
    assert_eq!(int(&mut c, &["LIKE.COUNT", "k"]) as usize, model.len());
    // and down to nothing: key deleted
    let all: Vec<u64> = model.iter().copied().collect();
    assert_eq!(del_many(&mut c, "k", &all, 1000) as usize, all.len());
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0);
}

// -------------------------------------------------------------------------------------------
// Reactions: thousands of mixed REACT.* and LIKE.* calls, pipelined, against an in-test model
// (per key: user -> kind). Every reply is checked. Fixed seeds (printed on failure); set
// LIKE_REACT_SEED=<n> to run one more seed.
// -------------------------------------------------------------------------------------------

/// The 8 kinds of the main phase: the 16-kind limit is not reached there.
const RKINDS8: [&str; 8] =
    ["like", "dislike", "love", "haha", "😂", "up", "down", "a-kind-name-of-exactly-32-bytes!"];
const RKINDS_MAX: usize = 16;

/// What a command must reply.
#[derive(Clone, Debug)]
enum Want {
    V(redis::Value),
    /// Any error reply (a bad argument, or a 17th kind); the model is unchanged.
    Err,
}

fn vi(n: impl TryInto<i64>) -> redis::Value {
    redis::Value::Int(n.try_into().unwrap_or_else(|_| panic!("not an i64")))
}

struct RDiff {
    rng: StdRng,
    c: redis::Connection,
    seed: u64,
    op: usize,
    kinds: Vec<Vec<u8>>,
    /// key -> user -> kind (index into `kinds`); a key with no user is absent.
    model: std::collections::HashMap<String, std::collections::BTreeMap<u64, usize>>,
    /// key -> users per kind (kept with `model`).
    counts: std::collections::HashMap<String, Vec<u64>>,
    keys: Vec<String>,
    big_keys: Vec<String>,
    /// Users drawn from 0..small_users most of the time (collisions, moves).
    small_users: u64,
    pending: Vec<(usize, String, redis::Cmd, Want)>,
    stats: std::collections::BTreeMap<&'static str, usize>,
}

impl RDiff {
    fn ctx(&self, op: usize, what: &str) -> String {
        format!(
            "reactions differential, seed {} (LIKE_REACT_SEED={}), op {op}: {what}",
            self.seed, self.seed
        )
    }

    fn user(&mut self) -> u64 {
        match self.rng.gen_range(0..100) {
            0..=69 => self.rng.gen_range(0..self.small_users),
            70..=79 => self.rng.gen_range(0..2000),
            80..=84 => self.rng.gen_range(4_294_967_293..4_294_967_299),
            85..=89 => self.rng.gen_range(MAX_ID - 5..=MAX_ID),
            _ => self.rng.gen_range(0..=MAX_ID),
        }
    }

    fn key(&mut self) -> String {
        if !self.big_keys.is_empty() && self.rng.gen_bool(0.15) {
            self.big_keys[self.rng.gen_range(0..self.big_keys.len())].clone()
        } else {
            self.keys[self.rng.gen_range(0..self.keys.len())].clone()
        }
    }

    fn kind(&mut self) -> usize {
        self.rng.gen_range(0..self.kinds.len())
    }

    fn kind_of(&self, key: &str, user: u64) -> Option<usize> {
        self.model.get(key).and_then(|m| m.get(&user).copied())
    }

    fn bulk_or_nil(&self, k: Option<usize>) -> redis::Value {
        k.map_or(redis::Value::Nil, |k| redis::Value::BulkString(self.kinds[k].clone()))
    }

    fn count(&self, key: &str, k: usize) -> u64 {
        self.counts.get(key).map_or(0, |c| c[k])
    }

    fn total(&self, key: &str) -> u64 {
        self.counts.get(key).map_or(0, |c| c.iter().sum())
    }

    /// REACT.COUNTS as the model has it (flat RESP2 array): count descending, kind bytewise.
    fn counts_value(&self, key: &str) -> redis::Value {
        let mut v: Vec<(&[u8], u64)> = match self.counts.get(key) {
            Some(c) => {
                (0..c.len()).filter(|&k| c[k] > 0).map(|k| (&self.kinds[k][..], c[k])).collect()
            }
            None => Vec::new(),
        };
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        redis::Value::Array(
            v.into_iter()
                .flat_map(|(k, n)| [redis::Value::BulkString(k.to_vec()), vi(n)])
                .collect(),
        )
    }

    /// Gives each of `users` the kind `k` (REACT.ADD semantics): how many changed, or None when
    /// the key would hold more than 16 kinds (then nothing changes).
    fn model_add(&mut self, key: &str, k: usize, users: &[u64]) -> Option<u64> {
        let n = self.kinds.len();
        let mut moving: Vec<(u64, Option<usize>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &u in users {
            if !seen.insert(u) {
                continue;
            }
            let old = self.kind_of(key, u);
            if old != Some(k) {
                moving.push((u, old));
            }
        }
        if moving.is_empty() {
            return Some(0);
        }
        let mut after = self.counts.get(key).cloned().unwrap_or_else(|| vec![0; n]);
        for &(_, old) in &moving {
            if let Some(o) = old {
                after[o] -= 1;
            }
        }
        after[k] += moving.len() as u64;
        if after.iter().filter(|&&c| c > 0).count() > RKINDS_MAX {
            *self.stats.entry("refused: a 17th kind").or_default() += 1;
            return None;
        }
        let m = self.model.entry(key.to_string()).or_default();
        for &(u, _) in &moving {
            m.insert(u, k);
        }
        self.counts.insert(key.to_string(), after);
        Some(moving.len() as u64)
    }

    /// Removes `users` whose kind is `only` (or any kind): how many there were.
    fn model_del(&mut self, key: &str, users: &[u64], only: Option<usize>) -> u64 {
        let Some(m) = self.model.get_mut(key) else { return 0 };
        let c = self.counts.get_mut(key).unwrap();
        let mut removed = 0;
        for u in users {
            if let Some(&k) = m.get(u) {
                if only.is_none_or(|o| o == k) {
                    m.remove(u);
                    c[k] -= 1;
                    removed += 1;
                }
            }
        }
        if m.is_empty() {
            self.model.remove(key);
            self.counts.remove(key);
        }
        removed
    }

    fn users_of(&self, key: &str, k: usize, after: Option<u64>, limit: usize) -> Vec<u64> {
        let Some(m) = self.model.get(key) else { return Vec::new() };
        let from = after.map_or(0, |a| a.saturating_add(1));
        if after == Some(u64::MAX) {
            return Vec::new();
        }
        m.range(from..).filter(|(_, &kk)| kk == k).map(|(&u, _)| u).take(limit).collect()
    }

    fn push(&mut self, what: &'static str, cmd: redis::Cmd, want: Want) {
        *self.stats.entry(what).or_default() += 1;
        let text: Vec<String> = cmd
            .args_iter()
            .take(12)
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "?".into(),
            })
            .collect();
        self.pending.push((self.op, text.join(" "), cmd, want));
        if self.pending.len() >= 100 {
            self.flush();
        }
    }

    /// Sends the pending commands in one pipeline and checks every reply.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut p = redis::pipe();
        p.ignore_errors();
        for (_, _, cmd, _) in &self.pending {
            p.add_command(cmd.clone());
        }
        let got: Vec<redis::Value> =
            p.query(&mut self.c).unwrap_or_else(|e| panic!("pipeline: {e}"));
        let pending = std::mem::take(&mut self.pending);
        assert_eq!(got.len(), pending.len());
        for ((op, text, _, want), got) in pending.into_iter().zip(got) {
            let good = match (&want, &got) {
                (Want::Err, redis::Value::ServerError(_)) => true,
                (Want::V(w), g) => w == g,
                _ => false,
            };
            assert!(good, "{}", self.ctx(op, &format!("{text}\n  got  {got:?}\n  want {want:?}")));
        }
    }

    fn users_arg(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.user()).collect()
    }

    /// One random command, its reply predicted by the model.
    fn step(&mut self) {
        let key = self.key();
        let r = self.rng.gen_range(0..100);
        match r {
            0..=19 => {
                let (u, k) = (self.user(), self.kind());
                let prev = self.kind_of(&key, u);
                let want = match self.model_add(&key, k, &[u]) {
                    Some(_) => Want::V(self.bulk_or_nil(prev)),
                    None => Want::Err,
                };
                let mut c = redis::cmd("REACT.SET");
                c.arg(&key).arg(u).arg(&self.kinds[k]);
                self.push("REACT.SET", c, want);
            }
            20..=29 => {
                let k = self.kind();
                let n = self.rng.gen_range(1..=6);
                let mut users = self.users_arg(n);
                if self.rng.gen_bool(0.2) {
                    users.push(users[0]);
                }
                let want = self.model_add(&key, k, &users).map_or(Want::Err, |n| Want::V(vi(n)));
                let mut c = redis::cmd("REACT.ADD");
                c.arg(&key).arg(&self.kinds[k]).arg(&users);
                self.push("REACT.ADD", c, want);
            }
            30..=37 => {
                let n = self.rng.gen_range(1..=5);
                let mut users = self.users_arg(n);
                if let Some(m) = self.model.get(&key) {
                    // mostly users that have a reaction
                    let have: Vec<u64> = m.keys().take(64).copied().collect();
                    for u in users.iter_mut() {
                        if self.rng.gen_bool(0.6) {
                            *u = have[self.rng.gen_range(0..have.len())];
                        }
                    }
                }
                let want = Want::V(vi(self.model_del(&key, &users, None)));
                let mut c = redis::cmd("REACT.DEL");
                c.arg(&key).arg(&users);
                self.push("REACT.DEL", c, want);
            }
            38..=46 => {
                let u = if self.rng.gen_bool(0.5) {
                    self.model.get(&key).and_then(|m| m.keys().next().copied()).unwrap_or(7)
                } else {
                    self.user()
                };
                let want = Want::V(self.bulk_or_nil(self.kind_of(&key, u)));
                let mut c = redis::cmd("REACT.GET");
                c.arg(&key).arg(u);
                self.push("REACT.GET", c, want);
            }
            47..=51 => {
                let mut c = redis::cmd("REACT.COUNT");
                c.arg(&key);
                let want = if self.rng.gen_bool(0.6) {
                    let k = self.kind();
                    c.arg(&self.kinds[k]);
                    self.count(&key, k)
                } else {
                    self.total(&key)
                };
                self.push("REACT.COUNT", c, Want::V(vi(want)));
            }
            52..=57 => {
                let want = Want::V(self.counts_value(&key));
                let mut c = redis::cmd("REACT.COUNTS");
                c.arg(&key);
                self.push("REACT.COUNTS", c, want);
            }
            58..=61 => {
                let u = self.user();
                let n = self.rng.gen_range(1..=4);
                let ks: Vec<String> = (0..n).map(|_| self.key()).collect();
                let want = redis::Value::Array(
                    ks.iter()
                        .map(|k| {
                            redis::Value::Array(vec![
                                vi(self.total(k)),
                                self.bulk_or_nil(self.kind_of(k, u)),
                                self.counts_value(k),
                            ])
                        })
                        .collect(),
                );
                let mut c = redis::cmd("REACT.STATUS");
                c.arg(u).arg(&ks);
                self.push("REACT.STATUS", c, Want::V(want));
            }
            62..=67 => {
                let k = self.kind();
                self.users_cmd(&key, Some(k));
            }
            68..=73 => {
                let n = self.rng.gen_range(1..=4);
                let users = self.users_arg(n);
                let want = self.model_add(&key, 0, &users).map_or(Want::Err, |n| Want::V(vi(n)));
                let mut c = redis::cmd("LIKE.ADD");
                c.arg(&key).arg(&users);
                self.push("LIKE.ADD", c, want);
            }
            74..=78 => {
                let n = self.rng.gen_range(1..=4);
                let mut users = self.users_arg(n);
                if let Some(m) = self.model.get(&key) {
                    let have: Vec<u64> = m.keys().take(64).copied().collect();
                    users[0] = have[self.rng.gen_range(0..have.len())];
                }
                let want = Want::V(vi(self.model_del(&key, &users, Some(0))));
                let mut c = redis::cmd("LIKE.DEL");
                c.arg(&key).arg(&users);
                self.push("LIKE.DEL", c, want);
            }
            79..=84 => {
                let u = self.user();
                let want = if self.kind_of(&key, u) == Some(0) {
                    self.model_del(&key, &[u], Some(0));
                    Want::V(vi(0))
                } else {
                    self.model_add(&key, 0, &[u]).map_or(Want::Err, |_| Want::V(vi(1)))
                };
                let mut c = redis::cmd("LIKE.TOGGLE");
                c.arg(&key).arg(u);
                self.push("LIKE.TOGGLE", c, want);
            }
            85..=86 => {
                let want = Want::V(vi(self.count(&key, 0)));
                let mut c = redis::cmd("LIKE.COUNT");
                c.arg(&key);
                self.push("LIKE.COUNT", c, want);
            }
            87..=88 => {
                let u = self.user();
                let want = Want::V(vi((self.kind_of(&key, u) == Some(0)) as i64));
                let mut c = redis::cmd("LIKE.HAS");
                c.arg(&key).arg(u);
                self.push("LIKE.HAS", c, want);
            }
            89..=90 => {
                let u = self.user();
                let n = self.rng.gen_range(1..=4);
                let ks: Vec<String> = (0..n).map(|_| self.key()).collect();
                let want = redis::Value::Array(
                    ks.iter()
                        .map(|k| {
                            redis::Value::Array(vec![
                                vi(self.count(k, 0)),
                                vi((self.kind_of(k, u) == Some(0)) as i64),
                            ])
                        })
                        .collect(),
                );
                let mut c = redis::cmd("LIKE.STATUS");
                c.arg(u).arg(&ks);
                self.push("LIKE.STATUS", c, Want::V(want));
            }
            91..=92 => self.users_cmd(&key, None),
            93..=94 => {
                let n = self.rng.gen_range(1..=6);
                let ks: Vec<String> = (0..n).map(|_| self.key()).collect();
                let want = redis::Value::Array(ks.iter().map(|k| vi(self.count(k, 0))).collect());
                let mut c = redis::cmd("LIKE.MCOUNT");
                c.arg(&ks);
                self.push("LIKE.MCOUNT", c, Want::V(want));
            }
            95..=97 => {
                // a bad argument: refused, nothing changes
                let bad_user = ["-1", "007", "+1", "", "9223372036854775808", "1.5", "x"];
                let bad_kind =
                    ["", "a b", "\x01", "\x7f", "thirty-three-bytes-kind-name-xxxx", "tab\t"];
                let mut c;
                match self.rng.gen_range(0..4) {
                    0 => {
                        c = redis::cmd("REACT.SET");
                        let k = self.kind();
                        c.arg(&key)
                            .arg(bad_user[self.rng.gen_range(0..bad_user.len())])
                            .arg(&self.kinds[k]);
                    }
                    1 => {
                        c = redis::cmd("REACT.SET");
                        c.arg(&key)
                            .arg(self.user())
                            .arg(bad_kind[self.rng.gen_range(0..bad_kind.len())]);
                    }
                    2 => {
                        c = redis::cmd("REACT.ADD");
                        let k = self.kind();
                        c.arg(&key).arg(&self.kinds[k]).arg(self.user());
                        c.arg(bad_user[self.rng.gen_range(0..bad_user.len())]);
                    }
                    _ => {
                        c = redis::cmd("REACT.DEL");
                        c.arg(&key)
                            .arg(self.user())
                            .arg(bad_user[self.rng.gen_range(0..bad_user.len())]);
                    }
                }
                self.push("refused: bad argument", c, Want::Err);
            }
            _ => self.bulk(),
        }
    }

    /// REACT.USERS key kind (Some) or LIKE.USERS key (None), with random AFTER and LIMIT.
    fn users_cmd(&mut self, key: &str, kind: Option<usize>) {
        let k = kind.unwrap_or(0);
        let after = match self.rng.gen_range(0..4) {
            0 => None,
            1 => self.model.get(key).and_then(|m| {
                let v: Vec<u64> = m.keys().copied().take(200).collect();
                (!v.is_empty()).then(|| v[self.rng.gen_range(0..v.len())])
            }),
            _ => Some(self.user()),
        };
        let limit = match self.rng.gen_range(0..4) {
            0 => None,
            1 => Some(self.rng.gen_range(1..=3)),
            2 => Some(self.rng.gen_range(1..=300)),
            _ => Some(10_000),
        };
        let mut c = redis::cmd(if kind.is_some() { "REACT.USERS" } else { "LIKE.USERS" });
        c.arg(key);
        if kind.is_some() {
            c.arg(&self.kinds[k]);
        }
        if let Some(a) = after {
            c.arg("AFTER").arg(a);
        }
        if let Some(l) = limit {
            c.arg("LIMIT").arg(l);
        }
        let users = self.users_of(key, k, after, limit.unwrap_or(100));
        let want = redis::Value::Array(users.into_iter().map(vi).collect());
        self.push(if kind.is_some() { "REACT.USERS" } else { "LIKE.USERS" }, c, Want::V(want));
    }

    /// A range of users moved into a kind of a big key, or removed from it.
    fn bulk(&mut self) {
        if self.big_keys.is_empty() {
            return;
        }
        let key = self.big_keys[self.rng.gen_range(0..self.big_keys.len())].clone();
        let total = self.total(&key);
        let base = self.rng.gen_range(0..60_000u64);
        let stride = self.rng.gen_range(1..=3u64);
        let ids: Vec<u64> =
            (0..self.rng.gen_range(500..3000u64)).map(|i| base + i * stride).collect();
        if total > 30_000 || self.rng.gen_bool(0.25) {
            let want = Want::V(vi(self.model_del(&key, &ids, None)));
            let mut c = redis::cmd("REACT.DEL");
            c.arg(&key).arg(&ids);
            self.push("bulk REACT.DEL", c, want);
        } else {
            let k = self.kind();
            let want = self.model_add(&key, k, &ids).map_or(Want::Err, |n| Want::V(vi(n)));
            let mut c = redis::cmd("REACT.ADD");
            c.arg(&key).arg(&self.kinds[k]).arg(&ids);
            self.push("bulk REACT.ADD", c, want);
        }
    }

    /// Reads every key whole (REACT.COUNTS, every kind's users, EXISTS, LIKE.COUNT) and
    /// compares it with the model.
    fn full_compare(&mut self) {
        self.flush();
        let all: Vec<String> = self.keys.iter().chain(&self.big_keys).cloned().collect();
        for key in all {
            let exists = int(&mut self.c, &["EXISTS", &key]);
            let ctx = self.ctx(self.op, &format!("full compare of {key}"));
            assert_eq!(exists == 1, self.model.contains_key(&key), "{ctx}: EXISTS");
            let counts = ok(&mut self.c, &["REACT.COUNTS", &key]);
            assert_eq!(counts, self.counts_value(&key), "{ctx}: REACT.COUNTS");
            assert_eq!(
                int(&mut self.c, &["LIKE.COUNT", &key]) as u64,
                self.count(&key, 0),
                "{ctx}"
            );
            for k in 0..self.kinds.len() {
                let mut got: Vec<u64> = Vec::new();
                loop {
                    let mut c = redis::cmd("REACT.USERS");
                    c.arg(&key).arg(&self.kinds[k]).arg("LIMIT").arg(10_000);
                    if let Some(l) = got.last() {
                        c.arg("AFTER").arg(*l);
                    }
                    let page: Vec<u64> = c.query(&mut self.c).unwrap();
                    let done = page.len() < 10_000;
                    got.extend(page);
                    if done {
                        break;
                    }
                }
                let want = self.users_of(&key, k, None, usize::MAX);
                assert!(
                    got == want,
                    "{ctx}: REACT.USERS {}: {} users, model {} (first difference near {:?})",
                    String::from_utf8_lossy(&self.kinds[k]),
                    got.len(),
                    want.len(),
                    got.iter().zip(&want).find(|(a, b)| a != b)
                );
            }
        }
    }
}

fn run_reactions(seed: u64, ops: usize, ops_20_kinds: usize) {
    println!(
        "reactions differential: seed {seed}, {ops} operations on 8 kinds, {ops_20_kinds} on 20"
    );
    let t0 = std::time::Instant::now();
    assert_eq!(RKINDS8[7].len(), 32);
    let srv = Server::start();
    let mut d = RDiff {
        rng: StdRng::seed_from_u64(seed),
        c: srv.conn(),
        seed,
        op: 0,
        kinds: RKINDS8.iter().map(|k| k.as_bytes().to_vec()).collect(),
        model: Default::default(),
        counts: Default::default(),
        keys: (0..24).map(|i| format!("rx:{i}")).collect(),
        big_keys: (0..2).map(|i| format!("rx:big:{i}")).collect(),
        small_users: 40,
        pending: Vec::new(),
        stats: Default::default(),
    };
    for i in 0..ops {
        d.op = i;
        d.step();
        if i % 1000 == 999 {
            d.full_compare();
        }
    }
    d.full_compare();
    let biggest = d.big_keys.iter().map(|k| d.total(k)).max().unwrap_or(0);
    // The 16-kind limit: 20 kinds on a few keys, few users (many moves, kinds come and go).
    d.kinds = (0..20)
        .map(|i| match i {
            0 => b"like".to_vec(),
            1 => "👍".as_bytes().to_vec(),
            _ => format!("k{i}").into_bytes(),
        })
        .collect();
    d.keys = (0..4).map(|i| format!("rx20:{i}")).collect();
    d.big_keys.clear();
    d.small_users = 24;
    for i in 0..ops_20_kinds {
        d.op = ops + i;
        d.step();
        if i % 500 == 499 {
            d.full_compare();
        }
    }
    d.full_compare();
    println!(
        "reactions differential: seed {seed}: {:.1} s; largest big key {biggest} users; commands {:?}",
        t0.elapsed().as_secs_f64(),
        d.stats
    );
    if ops_20_kinds >= 500 {
        assert!(
            d.stats.get("refused: a 17th kind").copied().unwrap_or(0) > 0,
            "seed {seed}: no write reached the 16-kind limit"
        );
    }
    assert!(biggest >= 3000, "seed {seed}: the big keys stayed small ({biggest})");
}

#[test]
fn reactions_differential_seed_7() {
    run_reactions(7, 6000, 2000);
}

#[test]
fn reactions_differential_seed_20240601() {
    run_reactions(20_240_601, 6000, 2000);
}

#[test]
fn reactions_differential_env_seed() {
    if let Ok(seed) = std::env::var("LIKE_REACT_SEED") {
        let seed: u64 = seed.parse().expect("LIKE_REACT_SEED must be an integer");
        let ops = std::env::var("LIKE_OPS").ok().and_then(|x| x.parse().ok()).unwrap_or(4000);
        run_reactions(seed, ops, ops / 3);
    }
}
