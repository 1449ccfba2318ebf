//! Reading a feed whose posts live in many hash slots of a Redis Cluster.
//!
//! `LIKE.STATUS user key...` answers a whole feed in one round trip on one server, but Redis
//! Cluster refuses a multi-key command whose keys are in different slots (`CROSSSLOT`). So:
//! group the feed's keys by hash slot, send one `LIKE.STATUS` per slot, put all the commands for
//! one node into one pipeline, ask the nodes in parallel, and merge the answers back in the
//! feed's order. A feed of 300 posts costs one round trip per primary, whatever its size.
//! The code is `feed_status` in `harness/src/cluster_client.rs` (the dev crate `like-harness`),
//! shared with the cluster tests.
//!
//! ```text
//! cargo run --release --example feed_status -- 127.0.0.1:7000 [user] [--demo]
//! ```
//! `--demo` first writes some likes on `post:0 .. post:999`.

use like_harness::cluster_client::{feed_status, key_slot, SlotRouter};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let seed = positional.first().map(|s| s.to_string()).unwrap_or_else(|| "127.0.0.1:7000".into());
    let user: u64 = positional.get(1).and_then(|s| s.parse().ok()).unwrap_or(42);
    let demo = args.iter().any(|a| a == "--demo");

    let mut router = SlotRouter::connect(&[seed.as_str()])?;
    println!("cluster primaries: {:?}", router.primaries());

    if demo {
        // post:i is liked by users 0..(i % 50), so user 42 likes the posts with i % 50 > 42.
        let cmds: Vec<(u16, redis::Cmd)> = (0..1000u64)
            .filter(|i| i % 50 > 0)
            .map(|i| {
                let key = format!("post:{i}");
                let mut c = redis::cmd("LIKE.ADD");
                c.arg(&key).arg((0..i % 50).collect::<Vec<u64>>());
                (key_slot(&key), c)
            })
            .collect();
        for r in router.exec(&cmds) {
            r?;
        }
        println!("demo likes written on post:0 .. post:999");
    }

    // A feed: 40 posts in (mostly) different slots, in the order the user will see them.
    let feed: Vec<String> = (0..40).map(|i| format!("post:{}", (i * 37 + 11) % 1000)).collect();
    let started = Instant::now();
    let statuses = feed_status(&mut router, user, &feed)?;
    let took = started.elapsed();

    for (key, s) in feed.iter().zip(&statuses) {
        println!(
            "{key:>10}  slot {:>5}  likes {:>4}  {}",
            key_slot(key),
            s.count,
            if s.liked { "liked by you" } else { "" }
        );
    }
    let slots: std::collections::HashSet<u16> = feed.iter().map(key_slot).collect();
    println!(
        "{} posts, {} slots, {} LIKE.STATUS commands in {} round trips to {} nodes (parallel), {:.2} ms",
        feed.len(),
        slots.len(),
        slots.len(),
        router.last.round_trips,
        router.last.nodes,
        took.as_secs_f64() * 1000.0
    );
    Ok(())
}
