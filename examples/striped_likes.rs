//! One post hotter than one core: the striping recipe.
//!
//! A key lives on one primary, and a primary applies commands on one thread, so one key takes
//! at most what one core can apply. For a post that needs more, split its like-set over N keys
//! `post:X:s0 .. post:X:s{N-1}` that hash to different slots (so, on a cluster, to different
//! primaries). User `u` always goes to stripe `u mod N`:
//!
//! * deduplication stays exact: a user can only ever be in one stripe;
//! * the count is the sum of the N `LIKE.COUNT`s (asked in parallel, one round trip per node);
//! * "has this user liked it" is one `LIKE.HAS` on stripe `u mod N`;
//! * the likers are the N stripes' `LIKE.USERS` pages merged.
//!
//! The code is `Striped` in `harness/src/cluster_client.rs` (the dev crate `like-harness`),
//! shared with the cluster tests.
//!
//! ```text
//! cargo run --release --example striped_likes -- 127.0.0.1:7000 [post:launch] [stripes]
//! ```

use like_harness::cluster_client::{SlotRouter, Striped};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = args.first().cloned().unwrap_or_else(|| "127.0.0.1:7000".into());
    let base = args.get(1).cloned().unwrap_or_else(|| "post:launch".into());
    let stripes: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);

    let mut router = SlotRouter::connect(&[seed.as_str()])?;
    let post = Striped::new(&base, stripes);
    for (key, slot) in post.keys().iter().zip(post.slots()) {
        println!("stripe {key:<20} slot {slot:>5} on {}", router.owner_of(*slot).unwrap_or("?"));
    }

    // Likes in batches: one LIKE.ADD per stripe touched, stripes in parallel.
    let users: Vec<u64> = (0..50_000).collect();
    let mut new = 0;
    for batch in users.chunks(1000) {
        new += post.add(&mut router, batch)?;
    }
    // The same users again: deduplicated exactly, nothing new.
    let again = post.add(&mut router, &users[..10_000])?;
    println!("added {new} new likes, re-adding 10000 of them added {again}");

    println!(
        "count = {} (stripes: {:?})",
        post.count(&mut router)?,
        post.stripe_counts(&mut router)?
    );
    for u in [7u64, 49_999, 50_000] {
        println!("user {u} likes {base}: {}", post.has(&mut router, u)?);
    }

    // One like per command, as like buttons send them, for two seconds.
    let started = Instant::now();
    let mut next = 1_000_000u64;
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        let batch: Vec<u64> = (next..next + 3000).collect();
        next += 3000;
        sent += post.add_each(&mut router, &batch)? as u64;
    }
    println!(
        "{sent} single-user LIKE.ADDs in {:.1} s from this one client: {:.0} likes/s; count now {}",
        started.elapsed().as_secs_f64(),
        sent as f64 / started.elapsed().as_secs_f64(),
        post.count(&mut router)?
    );
    Ok(())
}
