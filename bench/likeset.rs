//! Criterion micro-benchmarks of the plain-Rust like-set (`like::likeset`).
//!
//! Operations: add, remove, contains, count, ordered page, serialize, deserialize;
//! sizes 1, 10, 100, 1k, 10k, 1M IDs; two ID distributions:
//! - sparse: random IDs from [0, 2^32)
//! - dense: consecutive IDs from a base (1_000_000)
//!
//! Run: `cargo bench --bench likeset` (about 3-4 minutes on 2 cores).
//! Filter like any criterion bench, e.g. `cargo bench --bench likeset -- add/sparse`.
//!
//! How each operation is timed, so that the set stays at the size named in the ID:
//! - add / remove at sizes <= 100: 64 copies of the set; one operation is timed on each copy
//!   in turn (64 per timed chunk), then undone outside the timed region;
//! - add / remove at sizes >= 1k: chunks of 64 operations are timed, then undone outside the
//!   timed region (the set never drifts more than 64 IDs from its nominal size);
//! - contains: half present IDs, half random IDs (mostly absent), cycled from a pool;
//! - page: `page(after = a random member, limit = 100)`, summing the IDs;
//! - serialize: `codec::encode` into a reused buffer; deserialize: `codec::decode` of that blob.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use like::likeset::{codec, LikeSet, Policy};

const SIZES: &[usize] = &[1, 10, 100, 1_000, 10_000, 1_000_000];
const DENSE_BASE: u64 = 1_000_000;
const NOW_MS: u64 = 1_700_000_000_000;
const CHUNK: usize = 64;
const POOL: usize = 4096;

#[derive(Clone, Copy)]
enum Dist {
    Sparse,
    Dense,
}

impl Dist {
    fn name(self) -> &'static str {
        match self {
            Dist::Sparse => "sparse",
            Dist::Dense => "dense",
        }
    }
}

struct Fixture {
    set: LikeSet,
    /// Every ID of the set, in insertion order.
    all: Vec<u64>,
    /// IDs in the set (a sample of up to POOL of them, in random order).
    members: Vec<u64>,
    /// IDs not in the set, in the order they should be added.
    fresh: Vec<u64>,
    /// Mix of members and random IDs for `contains`.
    probes: Vec<u64>,
}

fn fixture(dist: Dist, n: usize, policy: &Policy) -> Fixture {
    let mut rng = StdRng::seed_from_u64(0x0114_e5e7 ^ n as u64 ^ ((dist as u64) << 40));
    let mut set = LikeSet::new();
    let mut all: Vec<u64> = Vec::with_capacity(n);
    match dist {
        Dist::Sparse => {
            while all.len() < n {
                let id = rng.gen_range(0..(1u64 << 32));
                if set.insert(id, Some(NOW_MS), policy) {
                    all.push(id);
                }
            }
        }
        Dist::Dense => {
            for i in 0..n as u64 {
                let id = DENSE_BASE + i;
                set.insert(id, Some(NOW_MS), policy);
                all.push(id);
            }
        }
    }
    assert_eq!(set.len(), n as u64);
    let members: Vec<u64> =
        (0..POOL.min(n).max(1)).map(|_| all[rng.gen_range(0..all.len())]).collect();
    let fresh: Vec<u64> = match dist {
        Dist::Sparse => {
            let mut v = Vec::with_capacity(POOL);
            while v.len() < POOL {
                let id = rng.gen_range(0..(1u64 << 32));
                if !set.contains(id) && !v.contains(&id) {
                    v.push(id);
                }
            }
            v
        }
        // Dense likes keep coming at the end of the range.
        Dist::Dense => (0..POOL as u64).map(|i| DENSE_BASE + n as u64 + i).collect(),
    };
    let probes: Vec<u64> = (0..POOL)
        .map(|i| {
            if i % 2 == 0 {
                members[rng.gen_range(0..members.len())]
            } else {
                match dist {
                    Dist::Sparse => rng.gen_range(0..(1u64 << 32)),
                    Dist::Dense => DENSE_BASE + rng.gen_range(0..(2 * n as u64).max(2)),
                }
            }
        })
        .collect();
    Fixture { set, all, members, fresh, probes }
}

/// A new set with the same IDs as the fixture's (LikeSet is not Clone).
fn rebuild(fx: &Fixture, policy: &Policy) -> LikeSet {
    let mut s = LikeSet::new();
    for &id in &fx.all {
        s.insert(id, Some(NOW_MS), policy);
    }
    s
}

fn copies_of(fx: &Fixture, policy: &Policy) -> Vec<LikeSet> {
    (0..CHUNK).map(|_| rebuild(fx, policy)).collect()
}

fn config_for(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    if n >= 1_000_000 {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_millis(1500));
    } else {
        group.sample_size(30);
        group.warm_up_time(Duration::from_millis(200));
        group.measurement_time(Duration::from_millis(700));
    }
}

fn bench_all(c: &mut Criterion) {
    let policy = Policy::default();
    let mut sizes = vec!["dist\tn\tencoding\theap_bytes\tblob_bytes".to_string()];
    for &dist in &[Dist::Sparse, Dist::Dense] {
        for &n in SIZES {
            let fx = fixture(dist, n, &policy);
            let id = |op: &str| BenchmarkId::new(format!("{op}/{}", dist.name()), n);
            let mut g = c.benchmark_group("likeset");
            config_for(&mut g, n);

            // ---- add ----
            g.throughput(Throughput::Elements(1));
            if n <= 100 {
                let mut copies = copies_of(&fx, &policy);
                let mut k = 0usize;
                g.bench_function(id("add"), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        while left > 0 {
                            let m = left.min(CHUNK);
                            let t = Instant::now();
                            for (j, s) in copies.iter_mut().take(m).enumerate() {
                                black_box(s.insert(
                                    fx.fresh[(k + j) % POOL],
                                    Some(NOW_MS),
                                    &policy,
                                ));
                            }
                            total += t.elapsed();
                            for (j, s) in copies.iter_mut().take(m).enumerate() {
                                s.remove(fx.fresh[(k + j) % POOL], &policy);
                            }
                            k = (k + m) % POOL;
                            left -= m;
                        }
                        total
                    })
                });
            } else {
                let mut s = rebuild(&fx, &policy);
                let mut k = 0usize;
                g.bench_function(id("add"), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        while left > 0 {
                            let m = left.min(CHUNK);
                            let start = k;
                            let t = Instant::now();
                            for j in 0..m {
                                black_box(s.insert(
                                    fx.fresh[(start + j) % POOL],
                                    Some(NOW_MS),
                                    &policy,
                                ));
                            }
                            total += t.elapsed();
                            for j in 0..m {
                                s.remove(fx.fresh[(start + j) % POOL], &policy);
                            }
                            k = (start + m) % POOL;
                            left -= m;
                        }
                        total
                    })
                });
                debug_assert_eq!(s.len(), n as u64);
            }

            // ---- remove ----
            if n <= 100 {
                let mut copies = copies_of(&fx, &policy);
                let mut k = 0usize;
                g.bench_function(id("remove"), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        let len = fx.members.len();
                        while left > 0 {
                            let m = left.min(CHUNK);
                            let t = Instant::now();
                            for (j, s) in copies.iter_mut().take(m).enumerate() {
                                black_box(s.remove(fx.members[(k + j) % len], &policy));
                            }
                            total += t.elapsed();
                            for (j, s) in copies.iter_mut().take(m).enumerate() {
                                s.insert(fx.members[(k + j) % len], None, &policy);
                            }
                            k = (k + m) % len;
                            left -= m;
                        }
                        total
                    })
                });
            } else {
                // Distinct members for each chunk, so every timed remove really removes.
                let mut distinct = fx.members.clone();
                distinct.sort_unstable();
                distinct.dedup();
                let mut s = rebuild(&fx, &policy);
                let mut k = 0usize;
                g.bench_function(id("remove"), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut left = iters as usize;
                        let len = distinct.len();
                        while left > 0 {
                            let m = left.min(CHUNK).min(len);
                            let start = k;
                            let t = Instant::now();
                            for j in 0..m {
                                black_box(s.remove(distinct[(start + j) % len], &policy));
                            }
                            total += t.elapsed();
                            for j in 0..m {
                                s.insert(distinct[(start + j) % len], None, &policy);
                            }
                            k = (start + m) % len;
                            left -= m;
                        }
                        total
                    })
                });
            }

            // ---- contains ----
            {
                let mut k = 0usize;
                g.bench_function(id("contains"), |b| {
                    b.iter(|| {
                        k = (k + 1) % POOL;
                        black_box(fx.set.contains(black_box(fx.probes[k])))
                    })
                });
            }

            // ---- count ----
            g.bench_function(id("count"), |b| b.iter(|| black_box(black_box(&fx.set).len())));

            // ---- ordered page (100 IDs after a random member) ----
            {
                let mut k = 0usize;
                g.bench_function(id("page100"), |b| {
                    b.iter(|| {
                        k = (k + 1) % fx.members.len();
                        let mut sum = 0u64;
                        let mut cnt = 0usize;
                        fx.set.page(Some(fx.members[k]), 100, |x: u64| {
                            sum = sum.wrapping_add(x);
                            cnt += 1;
                        });
                        black_box((sum, cnt))
                    })
                });
            }

            // ---- serialize / deserialize ----
            let mut blob = Vec::new();
            codec::encode(&fx.set, &mut blob);
            g.throughput(Throughput::Elements(n as u64));
            {
                let mut buf: Vec<u8> = Vec::with_capacity(blob.len());
                g.bench_function(id("serialize"), |b| {
                    b.iter(|| {
                        buf.clear();
                        codec::encode(black_box(&fx.set), &mut buf);
                        black_box(buf.len())
                    })
                });
            }
            g.bench_function(id("deserialize"), |b| {
                b.iter(|| {
                    let s = codec::decode(black_box(&blob), codec::CURRENT_VERSION, &policy)
                        .expect("decode");
                    black_box(s.len())
                })
            });
            g.finish();

            eprintln!(
                "likeset {}/{}: encoding={} heap_bytes={} ({:.2} B/like) blob={} B ({:.2} B/like)",
                dist.name(),
                n,
                fx.set.encoding(),
                fx.set.heap_bytes(),
                fx.set.heap_bytes() as f64 / n as f64,
                blob.len(),
                blob.len() as f64 / n as f64
            );
            sizes.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                dist.name(),
                n,
                fx.set.encoding(),
                fx.set.heap_bytes(),
                blob.len()
            ));
        }
    }

    // Sizes of every fixture, for bench/criterion_table.py.
    if sizes.len() == 1 + 2 * SIZES.len() {
        let dir = std::path::Path::new("target/criterion");
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = std::fs::write(dir.join("likeset-sizes.tsv"), sizes.join("\n") + "\n");
        }
    }
}

criterion_group!(benches, bench_all);
criterion_main!(benches);
