//! Unit and property tests of reactions against a `BTreeMap<u64, kind>`
//! model: every reply (refusals included), the invariants after every step,
//! the codec's round trips and its refusal of corrupt payloads.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::codec::{self, CURRENT_VERSION};
use super::*;
use crate::likeset::codec as likeset_codec;
use crate::likeset::{allocated, Activity, ActivityRef};

const NOW: u64 = 1_789_999_800_000;

fn small() -> Policy {
    Policy { packed_max: 64 }
}

fn kind(name: &[u8]) -> Kind {
    Kind::parse(name).expect("test kinds are valid")
}

/// Kind names the property tests draw from: `like` first, short names that
/// fit the table in place, emoji, and long ones that do not.
const NAMES: [&str; 20] = [
    "like",
    "dislike",
    "up",
    "down",
    "👍",
    "👎",
    "love",
    "haha",
    "wow",
    "sad",
    "angry",
    "care",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    "👨‍👩‍👧‍👦",
    "k15",
    "k16",
    "k17",
    "k18",
    "k19",
];

type Model = BTreeMap<u64, Vec<u8>>;

/// A user ID shape: the i-th user's ID.
type IdOf = fn(u64) -> u64;

fn by_kind(model: &Model) -> BTreeMap<&[u8], Vec<u64>> {
    let mut kinds: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
    for (&user, kind) in model {
        kinds.entry(kind.as_slice()).or_default().push(user);
    }
    kinds
}

/// What must hold of any value, whatever made it (writes or a decoder).
fn check_invariants(r: &Reactions) {
    let kinds: Vec<(&[u8], &LikeSet)> = r.kind_sets().collect();
    assert_eq!(kinds.len(), r.kinds());
    assert!(kinds.len() <= KINDS_MAX, "{} kinds", kinds.len());
    let names: BTreeSet<&[u8]> = kinds.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), kinds.len(), "duplicate kinds");
    let mut all = BTreeSet::new();
    let mut total = 0;
    for (name, users) in &kinds {
        assert!(Kind::parse(name).is_ok(), "invalid kind {name:?}");
        assert!(!users.is_empty(), "empty kind {name:?}");
        let ids = users.to_vec();
        assert_eq!(ids.len() as u64, users.len());
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids.iter().all(|&id| id <= MAX_ID));
        total += users.len();
        all.extend(ids);
        assert_eq!(r.count(name), users.len());
    }
    assert_eq!(all.len() as u64, total, "a user in two kinds");
    assert_eq!(r.count_all(), total);
    match r {
        Reactions::Likes(likes) => assert!(likes.is_empty() || kinds == [(LIKE, likes)]),
        Reactions::Table(table) => {
            assert!(names.iter().any(|&n| n != LIKE), "a table of only likes");
            for (name, users) in table.iter() {
                let none = matches!(users.activity(), ActivityRef::Inline { count: 0, .. });
                assert!(none, "kind {name:?} holds activity");
            }
        }
    }
    assert_eq!(r.is_empty(), total == 0);
}

/// The value against the model, reads included.
fn check(r: &Reactions, model: &Model, pool: &[u64]) {
    check_invariants(r);
    let kinds = by_kind(model);
    assert_eq!(r.kinds(), kinds.len());
    assert_eq!(r.count_all(), model.len() as u64);
    assert_eq!(matches!(r, Reactions::Table(_)), kinds.keys().any(|&k| k != LIKE));
    for (&name, users) in &kinds {
        assert_eq!(r.count(name), users.len() as u64);
        assert_eq!(r.kind_set(name).map(LikeSet::to_vec).as_ref(), Some(users));
        assert_eq!(&page_all(r, name, 3), users);
    }
    let mut want: Vec<(&[u8], u64)> = kinds.iter().map(|(&k, v)| (k, v.len() as u64)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    assert_eq!(r.counts(), want);
    for user in pool {
        assert_eq!(r.get(*user), model.get(user).map(Vec::as_slice));
    }
    assert_eq!(r.count(b"nope"), 0);
    assert!(r.kind_set(b"nope").is_none());
}

fn page_all(r: &Reactions, kind: &[u8], limit: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    loop {
        let mut got = Vec::new();
        r.users(kind, out.last().copied(), limit, |id| got.push(id));
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

fn encoded(r: &Reactions) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(r, &mut out);
    out
}

fn round_trip(r: &Reactions, policy: &Policy) -> Reactions {
    let bytes = encoded(r);
    if let Reactions::Likes(likes) = r {
        let mut v3 = Vec::new();
        likeset_codec::encode(likes, &mut v3);
        assert_eq!(bytes, v3, "a like-only payload is the version-3 like-set payload");
    }
    let back = codec::decode(&bytes, CURRENT_VERSION, policy).expect("decodes");
    assert_eq!(&back, r);
    assert_eq!(back.rate(NOW), r.rate(NOW));
    assert_eq!(matches!(back, Reactions::Table(_)), matches!(r, Reactions::Table(_)));
    back
}

/// Distinct kinds of a model.
fn kinds_of(model: &Model) -> usize {
    model.values().collect::<BTreeSet<_>>().len()
}

#[derive(Debug, Clone)]
enum Op {
    Set(usize, usize),
    Add(usize, Vec<usize>),
    RemoveAny(Vec<usize>),
    RemoveKind(usize, Vec<usize>),
    ToggleLike(usize),
    /// Gives consecutive users each kind in turn (fills the table to its limit).
    Spread(usize),
    RoundTrip,
}

/// Users per test case: drawn by index from a pool of this size, so that
/// users come back, change kind and leave.
const POOL: usize = 40;

fn users_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..POOL, 0..6)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let kind = 0..NAMES.len();
    prop_oneof![
        8 => (0..POOL, kind.clone()).prop_map(|(u, k)| Op::Set(u, k)),
        4 => (kind.clone(), users_strategy()).prop_map(|(k, us)| Op::Add(k, us)),
        2 => users_strategy().prop_map(Op::RemoveAny),
        2 => (kind, users_strategy()).prop_map(|(k, us)| Op::RemoveKind(k, us)),
        3 => (0..POOL).prop_map(Op::ToggleLike),
        1 => (0..POOL).prop_map(Op::Spread),
        1 => Just(Op::RoundTrip),
    ]
}

/// The pool's user IDs in one shape.
fn pool_of(shape: usize) -> Vec<u64> {
    (0..POOL as u64)
        .map(|i| match shape {
            0 => i,
            // Across 2^32: `single` holds the IDs below, not those above.
            1 => (1 << 32) - POOL as u64 / 2 + i,
            2 => MAX_ID - i,
            // Snowflake-like: milliseconds << 22 | worker and sequence.
            _ => ((1_700_000_000_000 + i * 7_919) << 22) | (i % 5),
        })
        .collect()
}

/// What the value should be: the users' kinds, and its recent activity.
struct Expected {
    model: Model,
    activity: Activity,
    /// The clock of the next write.
    now: u64,
}

impl Expected {
    fn new() -> Expected {
        Expected { model: Model::new(), activity: Activity::default(), now: NOW }
    }

    /// `n` reactions set now.
    fn record(&mut self, n: u64) {
        self.activity.record(self.now, n as u32);
    }
}

/// Runs one op on the value and the expectation, checking the reply.
fn step(
    r: &mut Reactions,
    exp: &mut Expected,
    op: &Op,
    names: &[&[u8]],
    pool: &[u64],
    policy: &Policy,
) -> Result<(), TestCaseError> {
    let name = |k: usize| names[k % names.len()];
    let now = exp.now;
    let model = &mut exp.model;
    let before = model.clone();
    let mut set = 0;
    match op {
        Op::Set(u, k) => {
            let (user, kind_name) = (pool[*u], name(*k));
            let got = r.set(user, &kind(kind_name), Some(now), policy);
            let old = model.insert(user, kind_name.to_vec());
            if kinds_of(model) > KINDS_MAX {
                *model = before;
                prop_assert_eq!(got, Err(TooManyKinds));
            } else {
                let changed = old.as_deref() != Some(kind_name);
                set = u64::from(changed);
                let previous = old.map(|o| kind(&o));
                prop_assert_eq!(got, Ok(SetOutcome { previous, changed }));
            }
        }
        Op::Add(k, us) => {
            let kind_name = name(*k);
            let users: Vec<u64> = us.iter().map(|&u| pool[u]).collect();
            let got = r.add(&kind(kind_name), &users, Some(now), policy);
            let mut added = 0;
            for &user in users.iter().collect::<BTreeSet<_>>() {
                if model.insert(user, kind_name.to_vec()).as_deref() != Some(kind_name) {
                    added += 1;
                }
            }
            if kinds_of(model) > KINDS_MAX {
                *model = before;
                prop_assert_eq!(got, Err(TooManyKinds));
            } else {
                set = added;
                prop_assert_eq!(got, Ok(added));
            }
        }
        Op::RemoveAny(us) => {
            let users: Vec<u64> = us.iter().map(|&u| pool[u]).collect();
            let want = users.iter().filter(|u| model.remove(u).is_some()).count() as u64;
            prop_assert_eq!(r.remove_any(&users, policy), want);
        }
        Op::RemoveKind(k, us) => {
            // Sometimes a kind no key holds.
            let kind_name = if *k == NAMES.len() - 1 { &b"nope"[..] } else { name(*k) };
            let users: Vec<u64> = us.iter().map(|&u| pool[u]).collect();
            let mut want = 0;
            for user in &users {
                if model.get(user).is_some_and(|k| k == kind_name) {
                    model.remove(user);
                    want += 1;
                }
            }
            prop_assert_eq!(r.remove_kind(kind_name, &users, policy), want);
        }
        Op::ToggleLike(u) => {
            let user = pool[*u];
            let got = r.toggle_like(user, Some(now), policy);
            if model.get(&user).is_some_and(|k| k == LIKE) {
                model.remove(&user);
                prop_assert_eq!(got, Ok(false));
            } else {
                model.insert(user, LIKE.to_vec());
                if kinds_of(model) > KINDS_MAX {
                    *model = before;
                    prop_assert_eq!(got, Err(TooManyKinds));
                } else {
                    set = 1;
                    prop_assert_eq!(got, Ok(true));
                }
            }
        }
        Op::Spread(first) => {
            for k in 0..names.len() {
                step(r, exp, &Op::Set((first + k) % pool.len(), k), names, pool, policy)?;
                check(r, &exp.model, pool);
            }
        }
        Op::RoundTrip => {
            if !r.is_empty() {
                *r = round_trip(r, policy);
            }
        }
    }
    exp.record(set);
    // An emptied key is deleted: its activity goes with it.
    if exp.model.is_empty() {
        exp.activity = Activity::default();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random writes over 8 to 20 kind names (so the 16-kind limit is hit)
    /// and users of several shapes, against the model after every step.
    #[test]
    fn behaves_like_a_map_of_user_to_kind(
        kinds in 8usize..=NAMES.len(),
        shape in 0usize..4,
        ops in prop::collection::vec(op_strategy(), 0..300),
    ) {
        let policy = small();
        let names: Vec<&[u8]> = NAMES[..kinds].iter().map(|n| n.as_bytes()).collect();
        let pool = pool_of(shape);
        let mut r = Reactions::new();
        let mut exp = Expected::new();
        for (i, op) in ops.iter().enumerate() {
            let before = encoded(&r);
            let was = exp.model.clone();
            step(&mut r, &mut exp, op, &names, &pool, &policy)?;
            check(&r, &exp.model, &pool);
            // The activity moves between like-set and table intact.
            prop_assert_eq!(r.rate(exp.now), exp.activity.rate(exp.now));
            prop_assert_eq!(r.rate(exp.now + 45_000), exp.activity.rate(exp.now + 45_000));
            // Writes 7 s apart, sometimes hours: across stripes and windows.
            exp.now += if i % 97 == 96 { 2 * 3_600_000 } else { 7_000 };
            if exp.model == was && !matches!(op, Op::RoundTrip) {
                // Nothing to change (a refusal, a no-op): nothing changed.
                prop_assert_eq!(encoded(&r), before);
            }
        }
        if !r.is_empty() {
            let back = round_trip(&r, &policy);
            check(&back, &exp.model, &pool);
        }
    }

    /// Every truncation of a value's payload is refused; bit flips are
    /// refused or give a value that keeps the invariants.
    #[test]
    fn corrupt_payloads_never_panic(
        kinds in 2usize..=NAMES.len(),
        shape in 0usize..4,
        ops in prop::collection::vec(op_strategy(), 1..120),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let policy = small();
        let names: Vec<&[u8]> = NAMES[..kinds].iter().map(|n| n.as_bytes()).collect();
        let pool = pool_of(shape);
        let (mut r, mut exp) = (Reactions::new(), Expected::new());
        for op in &ops {
            step(&mut r, &mut exp, op, &names, &pool, &policy)?;
            exp.now += 7_000;
        }
        prop_assume!(!r.is_empty());
        let bytes = encoded(&r);
        for cut in 0..bytes.len() {
            prop_assert!(codec::decode(&bytes[..cut], CURRENT_VERSION, &policy).is_err(), "cut {}", cut);
        }
        let mut bad = bytes.clone();
        for (at, x) in &flips {
            let i = at.index(bad.len());
            bad[i] ^= x | 1;
        }
        for version in 1..=CURRENT_VERSION + 1 {
            if let Ok(d) = codec::decode(&bad, version, &policy) {
                check_invariants(&d);
            }
        }
    }
}

/// Bigger kinds (every like-set encoding) moved between kinds, with round
/// trips: the disjointness merge over chunks and the kind payloads.
#[test]
#[cfg_attr(miri, ignore = "30,000 users: too slow under Miri")]
fn big_kinds_round_trip() {
    let policy = Policy::default();
    for (shape, stride) in [(0u64, 1u64), (1 << 40, 65_537), (MAX_ID / 2, 1 << 40)] {
        let mut r = Reactions::new();
        let ids: Vec<u64> = (0..30_000).map(|i| shape + i * stride).collect();
        let (a, rest) = ids.split_at(12_000);
        let (b, c) = rest.split_at(9_000);
        assert_eq!(r.add(&Kind::LIKE, a, Some(NOW), &policy), Ok(a.len() as u64));
        assert_eq!(r.add(&kind(b"dislike"), b, Some(NOW), &policy), Ok(b.len() as u64));
        assert_eq!(r.add(&kind(b"up"), c, Some(NOW), &policy), Ok(c.len() as u64));
        // Every third like becomes a dislike, every fifth up a like.
        let moved: Vec<u64> = a.iter().step_by(3).copied().collect();
        assert_eq!(r.add(&kind(b"dislike"), &moved, Some(NOW), &policy), Ok(moved.len() as u64));
        let liked: Vec<u64> = c.iter().step_by(5).copied().collect();
        assert_eq!(r.add(&Kind::LIKE, &liked, Some(NOW), &policy), Ok(liked.len() as u64));
        check_invariants(&r);
        assert_eq!(r.count_all(), 30_000);
        assert_eq!(r.count(b"dislike"), (b.len() + moved.len()) as u64);
        assert_eq!(r.rate(NOW).hour, 30_000 + (moved.len() + liked.len()) as u64);
        let back = round_trip(&r, &policy);
        check_invariants(&back);
        let encodings: Vec<Encoding> = back.kind_sets().map(|(_, s)| s.encoding()).collect();
        assert!(encodings.iter().all(|e| *e != Encoding::Single), "{encodings:?}");
        // A user in two kinds, deep in big sets, is found: by the two-kind
        // merge and by the heap merge of more kinds, in any order.
        let payload_of = |name: &[u8]| set_payload(r.kind_set(name).expect("a kind"));
        let (likes, ups) = (payload_of(LIKE), payload_of(b"up"));
        let mut forged = r.kind_set(b"dislike").cloned().expect("dislikes");
        assert!(forged.insert(a[11_998], None, &policy));
        let forged = set_payload(&forged);
        let orders: [&[(&[u8], &Vec<u8>)]; 4] = [
            &[(LIKE, &likes), (b"dislike", &forged)],
            &[(b"dislike", &forged), (LIKE, &likes)],
            &[(LIKE, &likes), (b"up", &ups), (b"dislike", &forged)],
            &[(b"dislike", &forged), (b"up", &ups), (LIKE, &likes)],
        ];
        for kinds in orders {
            let kinds: Vec<(&[u8], Vec<u8>)> =
                kinds.iter().map(|(n, p)| (*n, (*p).clone())).collect();
            let payload = table_payload(&NO_ACTIVITY, &kinds);
            assert_eq!(
                codec::decode(&payload, 4, &policy).map(|_| ()),
                Err(codec::DecodeError("user in two kinds"))
            );
        }
    }
}

/// A kind's like-set payload, as version 3 writes it.
fn set_payload(users: &LikeSet) -> Vec<u8> {
    let mut out = Vec::new();
    likeset_codec::encode(users, &mut out);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A table payload from its parts (`activity`: as the like-set codec writes it).
fn table_payload(activity: &[u8], kinds: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![3];
    out.extend_from_slice(activity);
    varint(&mut out, kinds.len() as u64);
    for (name, payload) in kinds {
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        varint(&mut out, payload.len() as u64);
        out.extend_from_slice(payload);
    }
    out
}

fn set_of(ids: &[u64]) -> LikeSet {
    LikeSet::from_sorted(ids, Activity::default(), &Policy::default())
}

const NO_ACTIVITY: [u8; 9] = [0; 9];

#[test]
fn decode_refuses_bad_tables() {
    let p = Policy::default();
    let ok = |kinds: &[(&[u8], Vec<u8>)]| table_payload(&NO_ACTIVITY, kinds);
    let good =
        ok(&[(b"like", set_payload(&set_of(&[1, 2]))), (b"dislike", set_payload(&set_of(&[3])))]);
    let r = codec::decode(&good, 4, &p).expect("a good table");
    assert_eq!(r.get(3), Some(&b"dislike"[..]));
    assert_eq!(encoded(&r), good, "the encoder writes what the test builds");

    let refused = |payload: &[u8], why: &'static str| {
        assert_eq!(codec::decode(payload, 4, &p).map(|_| ()), Err(codec::DecodeError(why)));
    };
    let one = || set_payload(&set_of(&[1]));
    refused(&ok(&[(b"up", one()), (b"up", set_payload(&set_of(&[2])))]), "duplicate kind");
    refused(&ok(&[(b"up", one()), (b"down", set_payload(&set_of(&[0, 1])))]), "user in two kinds");
    let three = |a: &[u64], b: &[u64], c: &[u64]| {
        ok(&[
            (b"a", set_payload(&set_of(a))),
            (b"b", set_payload(&set_of(b))),
            (b"c", set_payload(&set_of(c))),
        ])
    };
    refused(&three(&[1, 5], &[2, 3], &[4, 5]), "user in two kinds");
    refused(&three(&[1, 9], &[2, 3, 9], &[4, 5]), "user in two kinds");
    refused(&three(&[7], &[2, 3, 9], &[7]), "user in two kinds");
    assert_eq!(
        codec::decode(&three(&[1, 9], &[2, 3, 8], &[4, 5]), 4, &p).map(|r| r.count_all()),
        Ok(7)
    );
    refused(&ok(&[(b"up", one()), (b"down", set_payload(&LikeSet::new()))]), "empty set");
    refused(&ok(&[]), "table without kinds");
    let names: Vec<Vec<u8>> = (0..17).map(|i| format!("k{i}").into_bytes()).collect();
    let seventeen: Vec<(&[u8], Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_slice(), set_payload(&set_of(&[i as u64]))))
        .collect();
    refused(&ok(&seventeen), "too many kinds");
    assert_eq!(codec::decode(&ok(&seventeen[..16]), 4, &p).map(|r| r.kinds()), Ok(16));
    for name in [&b""[..], b"a b", b"a\x00", b"\x7f", b"\t", &[b'x'; 33]] {
        refused(&ok(&[(name, one()), (b"down", set_payload(&set_of(&[2])))]), "bad kind name");
    }
    // A kind set with activity of its own.
    let mut active = set_of(&[5, 6]);
    active.record_adds(NOW, 1);
    refused(&ok(&[(b"up", one()), (b"down", set_payload(&active))]), "kind with its own activity");
    // Lengths: a payload running past the end, trailing bytes inside a kind
    // payload and after the table.
    let mut long = ok(&[(b"up", one())]);
    let at = long.len() - one().len() - 1;
    long[at] += 1;
    refused(&long, "count exceeds payload");
    let mut padded = one();
    padded.push(0);
    refused(&ok(&[(b"up", padded)]), "trailing bytes");
    let mut trailing = ok(&[(b"up", one())]);
    trailing.push(0);
    refused(&trailing, "trailing bytes");
    // A forged huge kinds count or payload length allocates nothing.
    let mut huge = vec![3];
    huge.extend_from_slice(&NO_ACTIVITY);
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    refused(&huge, "too many kinds");
    let mut huge = vec![3];
    huge.extend_from_slice(&NO_ACTIVITY);
    huge.extend_from_slice(&[1, 2, b'u', b'p', 0xff, 0xff, 0xff, 0xff, 0x0f]);
    refused(&huge, "count exceeds payload");
    refused(&[3], "truncated");
    assert!(codec::decode(&good, 0, &p).is_err());
    assert!(codec::decode(&good, 5, &p).is_err());
    // A table is no like-set payload: versions 1..=3 refuse it.
    for version in 1..=3 {
        assert!(codec::decode(&good, version, &p).is_err());
    }
}

#[test]
fn table_of_only_likes_loads_as_a_like_set() {
    let p = Policy::default();
    // Activity: inline, stripe of NOW, 7 reactions.
    let stripe = crate::likeset::activity::stripe_of(NOW);
    let mut activity = vec![0];
    activity.extend_from_slice(&stripe.to_le_bytes());
    activity.extend_from_slice(&7u32.to_le_bytes());
    let payload = table_payload(&activity, &[(b"like", set_payload(&set_of(&[4, 9])))]);
    let r = codec::decode(&payload, 4, &p).expect("decodes");
    assert!(matches!(r, Reactions::Likes(_)));
    assert_eq!(r.count(LIKE), 2);
    assert_eq!(r.rate(NOW), Rate { minute: 7, hour: 7 });
    // One other kind stays a table, with the key's activity.
    let payload = table_payload(&activity, &[(b"up", set_payload(&set_of(&[4, 9])))]);
    let r = codec::decode(&payload, 4, &p).expect("decodes");
    assert!(matches!(r, Reactions::Table(_)));
    assert_eq!(r.rate(NOW), Rate { minute: 7, hour: 7 });
    assert_eq!(encoded(&r), payload);
}

#[test]
fn like_set_payloads_of_every_version_load_as_likes() {
    let p = Policy::default();
    let ids = [3u64, 9, 40_000];
    let v1 = likeset_codec::encode_v1(&ids);
    let mut set = set_of(&ids);
    set.record_adds(NOW, 2);
    let v3 = set_payload(&set);
    // A list payload (kind 0) is the same in versions 2 and 3.
    assert_eq!(v3.first(), Some(&0));
    for (bytes, version) in [(&v1, 1), (&v3, 2), (&v3, 3), (&v3, 4)] {
        let r = codec::decode(bytes, version, &p).expect("decodes");
        let Reactions::Likes(likes) = &r else { panic!("version {version}: not a like-set") };
        assert_eq!(likes.to_vec(), ids);
        assert_eq!(r.rate(NOW).hour, if version == 1 { 0 } else { 2 });
        if version > 1 {
            assert_eq!(encoded(&r), v3, "version {version}");
        }
    }
}

/// A value with `kinds` (name, users), each set in one `add`.
fn value_of(kinds: &[(&[u8], &[u64])], policy: &Policy) -> Reactions {
    let mut r = Reactions::new();
    for (name, users) in kinds {
        r.add(&kind(name), users, Some(NOW), policy).expect("within the kind limit");
    }
    r
}

#[test]
fn like_only_keys_stay_like_sets() {
    let p = Policy::default();
    let mut r = Reactions::new();
    let mut plain = LikeSet::new();
    for user in [7u64, 1 << 33, 7, 12] {
        let outcome = r.set(user, &Kind::LIKE, Some(NOW), &p).expect("likes are never refused");
        let new = plain.insert(user, Some(NOW), &p);
        assert_eq!(outcome, SetOutcome { previous: (!new).then_some(Kind::LIKE), changed: new });
    }
    assert_eq!(r.add(&Kind::LIKE, &[12, 13, 13], Some(NOW), &p), Ok(1));
    plain.insert(13, Some(NOW), &p);
    assert_eq!(r.toggle_like(12, Some(NOW), &p), Ok(false));
    plain.remove(12, &p);
    // Removing another kind, or any kind, from a like-only key.
    assert_eq!(r.remove_kind(b"dislike", &[7], &p), 0);
    assert_eq!(r.remove_any(&[404], &p), 0);
    let Reactions::Likes(likes) = &r else { panic!("a like-only key became a table") };
    assert_eq!(likes, &plain);
    assert_eq!(r.heap_bytes(), plain.heap_bytes());
    assert_eq!(r.rate(NOW), plain.rate(NOW));
    assert_eq!(r.encoding(), Some(plain.encoding()));
    assert_eq!(r.counts(), [(LIKE, 3)]);
    assert_eq!(r.remove_kind(LIKE, &[7, 13, 1 << 33], &p), 3);
    assert!(r.is_empty());
    assert_eq!((r.kinds(), r.counts(), r.kind_set(LIKE)), (0, vec![], None));
}

#[test]
fn a_new_kind_moves_the_user_and_both_counts() {
    let p = Policy::default();
    let mut r = value_of(&[(LIKE, &[1, 2, 3])], &p);
    let dislike = kind(b"dislike");
    let moved = r.set(2, &dislike, Some(NOW), &p);
    assert_eq!(moved, Ok(SetOutcome { previous: Some(Kind::LIKE), changed: true }));
    assert!(matches!(r, Reactions::Table(_)));
    assert_eq!(r.counts(), [(LIKE, 2), (&b"dislike"[..], 1)]);
    assert_eq!(
        r.set(2, &dislike, Some(NOW), &p),
        Ok(SetOutcome { previous: Some(dislike), changed: false })
    );
    // LIKE.DEL leaves the dislike; REACT.DEL removes it.
    assert_eq!(r.remove_kind(LIKE, &[2], &p), 0);
    assert_eq!(r.get(2), Some(&b"dislike"[..]));
    // LIKE.TOGGLE on a disliked user: a like button on a disliked video.
    assert_eq!(r.toggle_like(2, Some(NOW), &p), Ok(true));
    assert!(matches!(r, Reactions::Likes(_)), "only likes left: a like-set again");
    assert_eq!(r.count(LIKE), 3);
    assert_eq!(r.set(3, &dislike, Some(NOW), &p).map(|o| o.changed), Ok(true));
    assert_eq!(r.remove_any(&[3, 3, 9], &p), 1);
    assert!(matches!(r, Reactions::Likes(_)));
    // Every like leaves: the one other kind stays a table.
    assert_eq!(r.add(&dislike, &[1, 2], Some(NOW), &p), Ok(2));
    assert!(matches!(r, Reactions::Table(_)));
    assert_eq!(r.counts(), [(&b"dislike"[..], 2)]);
    assert_eq!(r.remove_kind(b"dislike", &[1, 2], &p), 2);
    assert!(r.is_empty());
}

#[test]
fn rate_counts_reactions_set_of_every_kind() {
    let p = Policy::default();
    let mut r = Reactions::new();
    r.set(1, &Kind::LIKE, Some(NOW), &p).expect("set");
    r.set(1, &kind(b"dislike"), Some(NOW + 1), &p).expect("changed kind");
    r.set(1, &kind(b"dislike"), Some(NOW + 2), &p).expect("same kind: not counted");
    r.add(&kind(b"up"), &[1, 2, 2], Some(NOW + 3), &p).expect("two set");
    assert_eq!(r.rate(NOW + 3), Rate { minute: 3 + 1, hour: 4 });
    r.remove_any(&[2], &p);
    // Back to a like-set: the key's activity moves with it.
    r.set(1, &Kind::LIKE, Some(NOW + 4), &p).expect("set");
    assert!(matches!(r, Reactions::Likes(_)));
    assert_eq!(r.rate(NOW + 4), Rate { minute: 5, hour: 5 });
    assert_eq!(r.rate(NOW + 2 * 3_600_000), Rate::default());
}

/// 16 kinds: `k0` has one user (100), `k1` two (200, 201), the others one each.
fn sixteen_kinds(p: &Policy) -> Reactions {
    let names: Vec<Vec<u8>> = (0..16).map(|i| format!("k{i}").into_bytes()).collect();
    let mut r = Reactions::new();
    for (i, name) in names.iter().enumerate() {
        let users: &[u64] = match i {
            0 => &[100],
            1 => &[200, 201],
            _ => &[i as u64 * 1000],
        };
        r.add(&kind(name), users, Some(NOW), p).expect("16 kinds fit");
    }
    r
}

#[test]
fn the_kind_limit_counts_kinds_after_the_write() {
    let p = Policy::default();
    let r = sixteen_kinds(&p);
    assert_eq!(r.kinds(), KINDS_MAX);
    let refused = |write: &dyn Fn(&mut Reactions) -> bool| {
        let mut t = r.clone();
        assert!(write(&mut t), "refused");
        assert_eq!(encoded(&t), encoded(&r), "a refused write changed nothing");
    };
    // A 17th kind, for a new user or one of a kind that keeps users.
    refused(&|t| t.set(7, &kind(b"new"), Some(NOW), &p) == Err(TooManyKinds));
    refused(&|t| t.set(200, &kind(b"new"), Some(NOW), &p) == Err(TooManyKinds));
    refused(&|t| t.add(&kind(b"new"), &[200, 7], Some(NOW), &p) == Err(TooManyKinds));
    refused(&|t| t.toggle_like(200, Some(NOW), &p) == Err(TooManyKinds));
    refused(&|t| t.toggle_like(5, Some(NOW), &p) == Err(TooManyKinds));
    // The only user of k0 takes a 17th kind: k0 frees its place.
    let mut t = r.clone();
    let moved = t.set(100, &kind(b"new"), Some(NOW), &p);
    assert_eq!(moved, Ok(SetOutcome { previous: Some(kind(b"k0")), changed: true }));
    assert_eq!((t.kinds(), t.count(b"k0"), t.count(b"new")), (16, 0, 1));
    // Both users of k1 move to a new kind in one add.
    let mut t = r.clone();
    assert_eq!(t.add(&kind(b"new"), &[201, 200, 201], Some(NOW), &p), Ok(2));
    assert_eq!((t.kinds(), t.count(b"k1"), t.count(b"new")), (16, 0, 2));
    // ... and a like freed by a toggle.
    let mut t = r.clone();
    assert_eq!(t.toggle_like(100, Some(NOW), &p), Ok(true));
    assert_eq!(t.counts().first(), Some(&(&b"k1"[..], 2)));
    assert_eq!(t.count(LIKE), 1);
    // Moving between existing kinds is always allowed.
    let mut t = r.clone();
    assert_eq!(t.add(&kind(b"k1"), &[100, 5_000], Some(NOW), &p), Ok(2));
    assert_eq!(t.kinds(), 14);
}

#[test]
fn sizes() {
    use std::mem::size_of;
    let p = Policy::default();
    println!(
        "size_of: Kind {}, ReactionTable {}, Reactions {}, LikeSet {}",
        size_of::<Kind>(),
        size_of::<ReactionTable>(),
        size_of::<Reactions>(),
        size_of::<LikeSet>()
    );
    assert_eq!(size_of::<Kind>(), 33);
    assert_eq!(size_of::<ReactionTable>(), 64);
    // Two kinds of one user each (IDs below 2^32: `single`, in place): one block.
    let two = value_of(&[(LIKE, &[1]), (b"dislike", &[2])], &p);
    assert_eq!(two.heap_bytes(), 64);
    // One kind: the slice of one set is boxed.
    let one = value_of(&[(b"dislike", &[2])], &p);
    assert_eq!(one.heap_bytes(), 64 + 16);
    // Three kinds, names in place (like, up, down: 12 bytes).
    let three = value_of(&[(LIKE, &[1]), (b"up", &[2]), (b"down", &[3])], &p);
    assert_eq!(three.heap_bytes(), 64 + allocated(48));
    // Names past 15 bytes are boxed.
    let long = value_of(&[(LIKE, &[1]), (b"dislike", &[2]), (b"love", &[3])], &p);
    assert_eq!(long.heap_bytes(), 64 + allocated(48) + 16 + allocated(17));
    // Recent activity in rings: counted once, for the key.
    let (mut rings, mut inline) = (two.clone(), two.clone());
    rings.set(3, &kind(b"dislike"), Some(NOW + 30_000), &p).expect("set");
    inline.set(3, &kind(b"dislike"), Some(NOW), &p).expect("set");
    let rings_bytes = Activity::Rings(Box::default()).heap_bytes();
    assert_eq!(rings.heap_bytes(), inline.heap_bytes() + rings_bytes);
    for (name, r) in
        [("two", &two), ("one", &one), ("three", &three), ("long", &long), ("rings", &rings)]
    {
        println!("heap bytes of {name}: {} ({:?})", r.heap_bytes(), r);
    }
}

/// Redis's wrapper around a module value (the object and the module-value
/// pair), which MEMORY USAGE counts on top of `heap_bytes`.
const WRAPPER_BYTES: usize = 32;
/// The least a second key costs besides its value: a dictionary entry (24)
/// and the smallest key name (8).
const KEY_BYTES_MIN: usize = 32;

/// A like/dislike key costs at most two like-only keys holding the same
/// users: its table (64 bytes for two kinds) is no more than the second
/// key's wrapper, name and dictionary entry.
#[test]
#[cfg_attr(miri, ignore = "sets of 20,000 users: too slow under Miri")]
fn a_like_dislike_key_costs_at_most_two_like_only_keys() {
    let p = Policy::default();
    let shapes: [(&str, IdOf); 4] = [
        ("dense", |i| 1_000 + i),
        ("u2^32", |i| i.wrapping_mul(0x9E37_79B9) % (1 << 32)),
        ("u2^63", |i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % MAX_ID),
        ("snowflake", |i| ((1_700_000_000_000 + i * 7_919) << 22) | (i % 5)),
    ];
    for (shape, id_of) in shapes {
        for (likes, dislikes) in [(1u64, 1u64), (10, 3), (1_000, 50), (20_000, 2_000)] {
            let ids = |range: std::ops::Range<u64>| -> Vec<u64> {
                range.map(id_of).collect::<BTreeSet<u64>>().into_iter().collect()
            };
            let (l, d) = (ids(0..likes), ids(likes..likes + dislikes));
            let mut r = Reactions::new();
            let (mut like_key, mut dislike_key) = (LikeSet::new(), LikeSet::new());
            for &u in &l {
                r.set(u, &Kind::LIKE, Some(NOW), &p).expect("set");
                like_key.insert(u, Some(NOW), &p);
            }
            for &u in &d {
                r.set(u, &kind(b"dislike"), Some(NOW), &p).expect("set");
                dislike_key.insert(u, Some(NOW), &p);
            }
            let one_key = WRAPPER_BYTES + r.heap_bytes();
            let two_keys = 2 * WRAPPER_BYTES
                + KEY_BYTES_MIN
                + like_key.heap_bytes()
                + dislike_key.heap_bytes();
            println!("{shape:>9} {likes:>6} likes {dislikes:>5} dislikes: {one_key:>7} bytes, two like-only keys {two_keys:>7}");
            assert!(one_key <= two_keys, "{shape} {likes}/{dislikes}: {one_key} > {two_keys}");
        }
    }
}

#[test]
fn reads_and_housekeeping() {
    let p = small();
    let mut r = value_of(&[(LIKE, &[1, 5, 9]), (b"\xF0\x9F\x91\x8E", &[2, 4]), (b"up", &[3])], &p);
    assert_eq!(r.counts(), [(LIKE, 3), (&b"\xF0\x9F\x91\x8E"[..], 2), (&b"up"[..], 1)]);
    let mut page = Vec::new();
    r.users(LIKE, Some(1), 1, |id| page.push(id));
    assert_eq!(page, [5]);
    r.users(b"none", None, 10, |id| page.push(id));
    assert_eq!(page, [5]);
    assert_eq!(r.get(4), Some(&b"\xF0\x9F\x91\x8E"[..]));
    assert_eq!(r.get(6), None);
    assert_eq!(r.encoding(), None);
    assert!(r.free_effort() >= 4);
    let kinds: Vec<&[u8]> = r.kind_sets().map(|(k, _)| k).collect();
    assert_eq!(kinds, [LIKE, b"\xF0\x9F\x91\x8E", b"up"]);
    r.settle(&p);
    assert_eq!(r.count_all(), 6);
    // Equal counts order by kind bytewise.
    let r = value_of(&[(b"b", &[1]), (b"a", &[2]), (b"c", &[3, 4])], &p);
    assert_eq!(r.counts(), [(&b"c"[..], 2), (&b"a"[..], 1), (&b"b"[..], 1)]);
    assert!(format!("{r:?}").contains("Table"));
    assert_eq!(r.encoding_name(), "table");
    assert_eq!(value_of(&[(LIKE, &[1, 2])], &p).encoding_name(), "packed");
}

#[test]
fn values_move_between_threads() {
    // Redis frees big values in its lazy-free thread.
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Reactions>();
}

/// Decoding time of big tables against that of one of their kinds alone:
/// the rest is the other kind and the disjointness check (bitmap operations
/// for dense kinds, a merge for sparse ones).
/// `cargo test --lib measure_table_decode -- --ignored --nocapture`
#[test]
#[ignore = "measurement"]
fn measure_table_decode() {
    let p = Policy::default();
    let n: u64 =
        std::env::var("MEASURE_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let shapes: [(&str, IdOf); 2] =
        [("dense", |i| i), ("u2^32", |i| i.wrapping_mul(0x9E37_79B9) % (1 << 32))];
    for (shape, id_of) in shapes {
        let ids: Vec<u64> = (0..n).map(id_of).collect::<BTreeSet<u64>>().into_iter().collect();
        // Every third user dislikes, the others like: interleaved, no run to skip.
        let (likes, dislikes): (Vec<u64>, Vec<u64>) = ids.iter().partition(|&&id| id % 3 != 0);
        let mut r = Reactions::new();
        r.add(&Kind::LIKE, &likes, Some(NOW), &p).expect("add");
        r.add(&kind(b"dislike"), &dislikes, Some(NOW), &p).expect("add");
        let bytes = encoded(&r);
        let t0 = std::time::Instant::now();
        let back = codec::decode(&bytes, CURRENT_VERSION, &p).expect("decodes");
        let table = t0.elapsed();
        let likes_only = r.kind_set(LIKE).map(set_payload).expect("likes");
        let t0 = std::time::Instant::now();
        likeset_codec::decode(&likes_only, 3, &p).expect("decodes");
        let one = t0.elapsed();
        assert_eq!(back.count_all(), ids.len() as u64);
        println!(
            "{shape}: {} users in 2 kinds, {} payload bytes: table decode {table:?} (the like kind alone {one:?})",
            ids.len(),
            bytes.len()
        );
    }
}

/// A like-set payload of kind roaring (1): shard key to a bitmap of low bits.
fn roaring_payload(shards: &[(u64, roaring::RoaringBitmap)]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&NO_ACTIVITY);
    varint(&mut out, shards.iter().map(|(_, bits)| bits.len()).sum());
    varint(&mut out, shards.len() as u64);
    for (key, bits) in shards {
        varint(&mut out, *key);
        varint(&mut out, bits.serialized_size() as u64);
        bits.serialize_into(&mut out).expect("into a Vec");
    }
    out
}

fn full_shard() -> roaring::RoaringBitmap {
    let mut bits = roaring::RoaringBitmap::new();
    bits.insert_range(0..1 << 24);
    bits.optimize();
    bits
}

/// Sixteen kinds of 2^24 users each fit in a few kilobytes: checking them
/// disjoint takes bitmap operations, not a walk over 2^28 IDs.
#[test]
fn dense_kinds_are_checked_by_bitmaps() {
    let p = Policy::default();
    let names: Vec<Vec<u8>> = (0..16).map(|i| format!("k{i}").into_bytes()).collect();
    let kinds = |key_of: &dyn Fn(u64) -> u64| -> Vec<u8> {
        let kinds: Vec<(&[u8], Vec<u8>)> = (0..16u64)
            .map(|i| (names[i as usize].as_slice(), roaring_payload(&[(key_of(i), full_shard())])))
            .collect();
        table_payload(&NO_ACTIVITY, &kinds)
    };
    let disjoint = kinds(&|i| i);
    let t0 = std::time::Instant::now();
    let r = codec::decode(&disjoint, 4, &p).expect("disjoint dense kinds");
    assert_eq!(r.count_all(), 16 << 24);
    assert_eq!(r.get(5 << 24), Some(&b"k5"[..]));
    let overlapping = kinds(&|i| i.min(14));
    assert_eq!(
        codec::decode(&overlapping, 4, &p).map(|_| ()),
        Err(codec::DecodeError("user in two kinds"))
    );
    let took = t0.elapsed();
    println!("{} payload bytes, 2^28 users: decoded twice in {took:?}", disjoint.len());
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

/// Roaring kinds against kinds of other encodings, on both sides of a
/// shard boundary (which pins the shard split the check assumes).
#[test]
fn dense_and_sparse_kinds_overlap_anywhere() {
    let p = Policy { packed_max: 64 };
    for base in [0u64, (1 << 24) - 2_000, 5 << 24, MAX_ID - 9_999] {
        let dense: Vec<u64> = (base..base + 10_000).filter(|id| id % 1000 != 3).collect();
        let dense = set_of_with(&dense, &p);
        assert_eq!(dense.encoding(), Encoding::Roaring);
        let sparse = |ids: &[u64]| set_payload(&set_of_with(ids, &p));
        let holes: Vec<u64> = (base..base + 10_000).filter(|id| id % 1000 == 3).collect();
        let all_holes = sparse(&holes);
        let some_holes = sparse(&holes[..5]);
        let ok =
            |kinds: &[(&[u8], Vec<u8>)]| codec::decode(&table_payload(&NO_ACTIVITY, kinds), 4, &p);
        let dense_payload = set_payload(&dense);
        let r = ok(&[(b"a", dense_payload.clone()), (b"b", all_holes.clone())]).expect("disjoint");
        assert_eq!(r.count_all(), 10_000);
        let r = ok(&[
            (b"b", some_holes.clone()),
            (b"a", dense_payload.clone()),
            (b"c", sparse(&holes[5..])),
        ]);
        assert_eq!(r.map(|r| r.count_all()), Ok(10_000));
        for at in [0, 4_000, 9_999] {
            let clash = base + at + u64::from((base + at) % 1000 == 3);
            let mut ids = holes[..5].to_vec();
            ids.push(clash);
            ids.sort_unstable();
            ids.dedup();
            let overlaps = [
                vec![(&b"a"[..], dense_payload.clone()), (&b"b"[..], sparse(&ids))],
                vec![
                    (&b"b"[..], sparse(&ids)),
                    (&b"a"[..], dense_payload.clone()),
                    (&b"c"[..], sparse(&holes[5..])),
                ],
                vec![(&b"a"[..], dense_payload.clone()), (&b"d"[..], set_payload(&dense))],
            ];
            for kinds in overlaps {
                assert_eq!(
                    ok(&kinds).map(|_| ()),
                    Err(codec::DecodeError("user in two kinds")),
                    "{base} {at}"
                );
            }
        }
    }
}

fn set_of_with(ids: &[u64], p: &Policy) -> LikeSet {
    LikeSet::from_sorted(ids, Activity::default(), p)
}
