//! Randomized differential test: every LIKE.* operation is mirrored on a
//! native Redis set in the same server (SADD/SREM/SISMEMBER/SCARD/SMEMBERS)
//! and the replies must agree. Fixed seeds (printed); set LIKE_SEED=<n> to
//! run one more seed.

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
