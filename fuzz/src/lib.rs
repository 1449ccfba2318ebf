//! Checks shared by the fuzz targets in `fuzz_targets/` (see docs/testing.md).
//!
//! Everything here goes through the like-set's public API only
//! (`like::likeset`): the fuzz crate is a separate workspace that depends on
//! the main crate as a library.

use like::likeset::{
    codec, ActivityRef, Encoding, LikeSet, Policy, Rate, DEFAULT_PACKED_MAX, MAX_ID,
};

/// Encoding thresholds the targets pick from: the smallest values the module
/// accepts (`like.packed-max` is clamped to 16 ..= 2^20), so that sets move
/// between forms after a few writes, up to the default.
pub const POLICIES: [Policy; 5] = [
    Policy { packed_max: 16 },
    Policy { packed_max: 17 },
    Policy { packed_max: 64 },
    Policy { packed_max: 1000 },
    Policy { packed_max: DEFAULT_PACKED_MAX },
];

pub fn policy(i: u8) -> Policy {
    POLICIES[usize::from(i) % POLICIES.len()]
}

/// Sets up to this size are checked exhaustively (every member looked up,
/// paged in full, round-tripped ID for ID); larger ones (a few bytes of
/// roaring runs decode to millions of IDs) are checked by sampling, so that
/// one input stays fast and the harness itself never runs out of memory.
pub const FULL_CHECK_MAX: u64 = 1 << 16;

/// Length of a page when paging through a whole set.
const PAGE: usize = 61;

/// Every ID from `after` on, by pages of `limit` (what LIKE.USERS does).
pub fn page_all(set: &LikeSet, limit: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let mut got = Vec::new();
        set.page(after, limit, |id| got.push(id));
        assert!(got.len() <= limit, "page returned {} > limit {limit}", got.len());
        let Some(&last) = got.last() else { return out };
        out.extend(got);
        after = Some(last);
    }
}

/// The first `n` IDs after `after` (through `page`).
pub fn page(set: &LikeSet, after: Option<u64>, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    set.page(after, n, |id| got.push(id));
    got
}

fn assert_ascending(ids: &[u64]) {
    for w in ids.windows(2) {
        assert!(w[0] < w[1], "IDs not strictly ascending: {} then {}", w[0], w[1]);
    }
    if let Some(&last) = ids.last() {
        assert!(last <= MAX_ID, "ID {last} above MAX_ID");
    }
}

/// Checks what a set says about itself: length, order, membership, paging,
/// the encoding it reports, and that sizing it does not panic. Returns its
/// IDs when it is small enough to be checked in full.
pub fn check_set(set: &LikeSet) -> Option<Vec<u64>> {
    let len = set.len();
    assert_eq!(set.is_empty(), len == 0);
    let _ = set.heap_bytes();
    let _ = set.free_effort();
    let enc = set.encoding();
    assert!(Encoding::ALL.contains(&enc));
    if enc == Encoding::Single {
        assert!(len <= 1, "encoding single with {len} IDs");
    }
    if len == 0 {
        assert_eq!(set.to_vec(), Vec::<u64>::new());
        assert!(page(set, None, 10).is_empty());
        assert!(!set.contains(0));
        return Some(Vec::new());
    }
    if len > FULL_CHECK_MAX {
        check_sampled(set);
        return None;
    }
    let ids = set.to_vec();
    assert_eq!(ids.len() as u64, len, "to_vec length != len()");
    assert_ascending(&ids);
    let mut each = Vec::with_capacity(ids.len());
    set.for_each(|id| each.push(id));
    assert_eq!(each, ids, "for_each != to_vec");
    assert_eq!(page_all(set, PAGE), ids, "paging != to_vec");
    for (i, &id) in ids.iter().enumerate() {
        assert!(set.contains(id), "member {id} not found");
        // The gaps: the ID after a member, unless it is the next member.
        if id < MAX_ID && ids.get(i + 1) != Some(&(id + 1)) {
            assert!(!set.contains(id + 1), "non-member {} found", id + 1);
        }
    }
    if ids[0] > 0 {
        assert!(!set.contains(ids[0] - 1));
        assert!(!set.contains(0));
    }
    // After the largest ID, nothing.
    assert!(page(set, Some(ids[ids.len() - 1]), 5).is_empty());
    assert!(page(set, Some(MAX_ID), 5).is_empty());
    assert!(page(set, Some(u64::MAX), 5).is_empty());
    assert!(page(set, None, 0).is_empty());
    Some(ids)
}

/// A large set: walk it a page at a time from a few starting points and check
/// that the pages ascend, agree with each other and with `contains`.
fn check_sampled(set: &LikeSet) {
    let head = page(set, None, 1000);
    assert_eq!(head.len(), 1000);
    assert_ascending(&head);
    for &id in &head {
        assert!(set.contains(id));
    }
    for w in head.windows(2) {
        // Paging from any member continues with the next.
        assert_eq!(page(set, Some(w[0]), 1), vec![w[1]]);
    }
    let mut after = head.last().copied();
    // Jump ahead through the ID space and page from there.
    for _ in 0..20 {
        let Some(a) = after else { break };
        let from = a.saturating_add(a / 2 + 1).min(MAX_ID);
        let got = page(set, Some(from), 100);
        assert_ascending(&got);
        assert!(got.first().is_none_or(|&f| f > from));
        for &id in &got {
            assert!(set.contains(id));
        }
        after = got.last().copied();
    }
}

/// Times (ms) worth comparing rates at for an activity state: around its
/// newest stripe, and before and after the minute and hour windows.
pub fn rate_times(a: ActivityRef<'_>) -> Vec<u64> {
    let newest = match a {
        ActivityRef::Inline { stripe, .. } => u64::from(stripe),
        ActivityRef::Rings(r) => u64::from(r.last),
    } * 10_000;
    [0, 1, 5_000, 9_999, 10_000, 59_999, 60_000, 600_000, 3_599_999, 3_600_000, 7_200_000]
        .iter()
        .map(|d| newest + d)
        .chain([0, newest.saturating_sub(1), u64::MAX / 2])
        .collect()
}

/// Rates of `set` at `times`.
pub fn rates(set: &LikeSet, times: &[u64]) -> Vec<Rate> {
    times.iter().map(|&t| set.rate(t)).collect()
}

/// Encodes `set`, decodes it back with `policy` and checks it is the same
/// set: same IDs, same recent activity.
pub fn round_trip(set: &LikeSet, ids: Option<&[u64]>, policy: &Policy) -> LikeSet {
    let mut buf = Vec::new();
    codec::encode(set, &mut buf);
    let back = match codec::decode(&buf, codec::CURRENT_VERSION, policy) {
        Ok(back) => back,
        Err(e) => panic!("re-encoded set ({set:?}, {} bytes) does not decode: {e}", buf.len()),
    };
    assert_eq!(back.len(), set.len(), "round trip changed the length");
    match ids {
        Some(ids) => assert_eq!(back.to_vec(), ids, "round trip changed the IDs"),
        None => {
            // Large: compare the first pages and some pages further on.
            let head = page(set, None, 2000);
            assert_eq!(page(&back, None, 2000), head);
            for &a in head.iter().step_by(97) {
                assert_eq!(page(&back, Some(a), 50), page(set, Some(a), 50));
            }
        }
    }
    // Known, left out: an inline activity count above i32::MAX (only a forged
    // payload has one) is clamped to i32::MAX where a packed set holds it
    // (`ActivityWord::new`), not where elias-fano or roaring does, so it
    // changes when a round trip moves the set to or from packed.
    let huge =
        matches!(set.activity(), ActivityRef::Inline { count, .. } if count > i32::MAX as u32);
    if !huge {
        let times = rate_times(set.activity());
        assert_eq!(rates(&back, &times), rates(set, &times), "round trip changed the activity");
    }
    back
}

/// How the IDs of one input are spread: each op's raw `u64` goes through the
/// shape, so one input keeps to one region of the ID space (where the forms
/// differ: widths 2/4/8 of packed, roaring containers and shards, elias-fano
/// low-bit widths).
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum Shape {
    /// 0 .. 64: every ID collides.
    Tiny,
    /// Below 2^10.
    Small10,
    /// Below 2^20.
    Small20,
    /// Around 2^16 (the packed 2- to 4-byte width boundary).
    U16Edge,
    /// Any 32-bit ID.
    U32,
    /// Around 2^32 (4- to 8-byte width; single holds IDs below 2^32 only).
    U32Edge,
    /// Any ID up to MAX_ID (hashed IDs).
    U64,
    /// Snowflake-like: a 41-bit millisecond timestamp high, so the IDs share
    /// their top bits and spread over the low 34.
    Snowflake { epoch_ms: u32 },
    /// A window of 8,192 IDs from `base`: dense runs and full containers.
    Dense { base: u64 },
    /// The last 2^16 IDs up to MAX_ID.
    NearMax,
    /// Each ID in a shape picked by its top bits.
    Mixed,
}

impl Shape {
    pub fn id(self, raw: u64) -> u64 {
        let id = match self {
            Shape::Tiny => raw % 64,
            Shape::Small10 => raw % (1 << 10),
            Shape::Small20 => raw % (1 << 20),
            Shape::U16Edge => (1 << 16) - 2048 + raw % 4096,
            Shape::U32 => raw & u64::from(u32::MAX),
            Shape::U32Edge => (1 << 32) - 4096 + raw % 8192,
            Shape::U64 => raw & MAX_ID,
            Shape::Snowflake { epoch_ms } => {
                let ts = (1u64 << 40) | u64::from(epoch_ms);
                (ts << 22).wrapping_add(raw % (1 << 34)) & MAX_ID
            }
            Shape::Dense { base } => (base & MAX_ID).min(MAX_ID - 8191) + raw % 8192,
            Shape::NearMax => MAX_ID - raw % (1 << 16),
            Shape::Mixed => {
                let pick = [
                    Shape::Tiny,
                    Shape::Small20,
                    Shape::U16Edge,
                    Shape::U32,
                    Shape::U32Edge,
                    Shape::U64,
                    Shape::Snowflake { epoch_ms: 0x1234_5678 },
                    Shape::NearMax,
                ][(raw >> 61) as usize];
                pick.id(raw & ((1 << 61) - 1))
            }
        };
        debug_assert!(id <= MAX_ID);
        id
    }
}

/// The version-1 encoding (varint count, then varint deltas, the first
/// absolute); the library's own `encode_v1` is test-only.
pub fn encode_v1(ids: &[u64]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    put(&mut out, ids.len() as u64);
    let mut prev = 0;
    for (i, &id) in ids.iter().enumerate() {
        put(&mut out, if i == 0 { id } else { id - prev });
        prev = id;
    }
    out
}
