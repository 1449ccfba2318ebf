//! Decoding untrusted bytes (RESTORE payloads, RDB files): the first input
//! byte picks the encoding version (and the policy), the rest is the payload.
//! `codec::decode` must refuse it or return a sane set; it must never panic,
//! loop or allocate out of proportion to the payload.
//!
//! First byte: bits 0-1 = version 1, 2, 3, or (0) an unknown version chosen
//! by bits 5-6; bits 2-4 = the policy (`redis_like_fuzz::POLICIES`).

#![no_main]

use libfuzzer_sys::fuzz_target;

use like::likeset::codec;
use redis_like_fuzz::{check_set, policy, round_trip};

fuzz_target!(|data: &[u8]| {
    let Some((&head, payload)) = data.split_first() else { return };
    let version = match head & 3 {
        0 => [0, 4, 5, u32::MAX][usize::from(head >> 5) & 3],
        v => u32::from(v),
    };
    let policy = policy((head >> 2) & 7);
    let Ok(set) = codec::decode(payload, version, &policy) else { return };
    assert!((codec::OLDEST_VERSION..=codec::CURRENT_VERSION).contains(&version));
    let ids = check_set(&set);
    if set.is_empty() {
        // Versions 2 and 3 refuse an empty set; version 1 decodes a count of 0
        // to one (rdb_load then returns no value: refused there). An empty set
        // is never encoded (its key is deleted), and would not decode again.
        assert_eq!(version, 1, "empty set decoded from v{version}");
        return;
    }
    // Encoded again at the current version, it decodes to the same IDs and
    // activity, under this policy and under another one.
    let back = round_trip(&set, ids.as_deref(), &policy);
    check_set(&back);
    round_trip(&set, ids.as_deref(), &redis_like_fuzz::policy((head >> 2).wrapping_add(1) & 7));
    // Re-encoding a set that came from a canonical payload is stable: one more
    // round trip writes the same bytes.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    codec::encode(&back, &mut a);
    codec::encode(&round_trip(&back, ids.as_deref(), &policy), &mut b);
    assert!(a == b, "encoding of {back:?} not stable across a round trip");
});
