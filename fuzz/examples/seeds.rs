//! Writes a seed corpus for the `decode` target: valid payloads of every kind
//! and version (a version byte, then the payload), so that the fuzzer starts
//! past the headers. The corpus is not committed; regenerate it with
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus/decode
//!
//! from the repository root (the directory defaults to `corpus/decode`,
//! relative to the current one); see docs/testing.md.

use std::path::PathBuf;

use like::likeset::{codec, Activity, LikeSet, MAX_ID};
use redis_like_fuzz::{encode_v1, POLICIES};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus/decode".into()));
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let t0 = 1_789_999_800_000u64;
    let sets: Vec<(&str, Vec<u64>)> = vec![
        ("one", vec![7]),
        ("one-w8", vec![1 << 40]),
        ("max", vec![0, MAX_ID]),
        ("w2", (0..40).map(|i| i * 3).collect()),
        ("w4", (0..40).map(|i| i * 100_003).collect()),
        ("w8", (0..40).map(|i| (1 << 40) + i * 7919).collect()),
        ("dense", (1000..6000).collect()),
        ("sparse32", (0..1500u64).map(|i| i.wrapping_mul(2_654_435_761) % (1 << 32)).collect()),
        ("snowflake", (0..700u64).map(|i| (((1u64 << 40) + i * 13) << 22) | (i % 5)).collect()),
        ("shards", (0..300u64).map(|i| i << 24 | (i * 31 % 4096)).collect()),
    ];
    let mut n = 0;
    for (name, mut ids) in sets {
        ids.sort_unstable();
        ids.dedup();
        let mut write = |tag: String, version: u8, policy: u8, payload: &[u8]| {
            let mut bytes = vec![version | (policy << 2)];
            bytes.extend_from_slice(payload);
            std::fs::write(dir.join(tag), bytes).expect("write a seed");
            n += 1;
        };
        write(format!("{name}-v1"), 1, 4, &encode_v1(&ids));
        for (p, policy) in POLICIES.iter().enumerate() {
            for (a, activity) in [Activity::default(), rings(t0)].into_iter().enumerate() {
                let set = LikeSet::from_sorted(&ids, activity, policy);
                let mut buf = Vec::new();
                codec::encode(&set, &mut buf);
                let tag = format!("{name}-{}-p{p}-a{a}", set.encoding());
                // Kinds 0 and 1 are version 2 as well.
                if buf[0] != 2 {
                    write(format!("{tag}-v2"), 2, p as u8, &buf);
                }
                write(format!("{tag}-v3"), 3, p as u8, &buf);
            }
        }
    }
    println!("{n} seeds in {}", dir.display());
}

/// Recent adds over several stripes (the rings form of the activity).
fn rings(t0: u64) -> Activity {
    let mut a = Activity::default();
    for k in 0..5 {
        a.record(t0 + k * 40_000, 3);
    }
    a
}
