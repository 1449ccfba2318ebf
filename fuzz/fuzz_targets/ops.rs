//! A `LikeSet` against a `BTreeSet<u64>` model (and an `Activity` model of
//! its recent adds) over a sequence of operations: single and bulk inserts
//! and removes (block splits and merges, promotion and demotion between
//! single / packed / elias-fano / roaring), lookups, paging, settling under a
//! changed policy, clones, rebuilds and encode/decode round trips. Every
//! result is compared with the model after each op; the full contents every
//! few ops and at the end.
//!
//! Work per input is bounded (ops, run lengths, IDs touched) so that the
//! fuzzer keeps a useful number of executions per second.

#![no_main]

use std::collections::BTreeSet;
use std::ops::Bound;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use like::likeset::{codec, Activity, Encoding, LikeSet, Policy, MAX_ID};
use redis_like_fuzz::{check_set, encode_v1, page, page_all, policy, round_trip, Shape};

/// Most ops applied per input.
const MAX_OPS: usize = 256;
/// Most IDs inserted or removed per input, bulk ops included.
const BUDGET: usize = 6_000;
/// Longest run of one bulk op (past 4,096 IDs, a roaring container turns
/// from an array into a bitmap).
const MAX_RUN: u64 = 4500;
/// Full contents are compared every this many ops.
const FULL_EVERY: usize = 16;
/// A time in 2026 on an hour-stripe boundary.
const T0: u64 = 1_789_999_800_000;
/// Largest minute-stripe a single like records (`Single::STRIPE_MAX`, not public).
const SINGLE_STRIPE_MAX: u32 = (1 << 29) - 1;

#[derive(Arbitrary, Debug)]
enum Clock {
    Forward(u32),
    Back(u16),
    /// Anywhere up to 2^46 ms (past the year 3331, where stripes stop fitting u32).
    Jump(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        raw: u64,
        record: bool,
    },
    /// Inserts an ID already there (a no-op that must say so).
    InsertPresent {
        index: u16,
    },
    Remove {
        raw: u64,
    },
    RemovePresent {
        index: u16,
    },
    Contains {
        raw: u64,
    },
    ContainsPresent {
        index: u16,
    },
    Page {
        after: Option<u64>,
        limit: u16,
    },
    PageFromMember {
        index: u16,
        limit: u16,
    },
    /// `len` IDs from `raw`, `step` apart (step 0: consecutive).
    InsertRun {
        raw: u64,
        len: u16,
        step: u8,
        record: bool,
    },
    /// Removes `len` members from the `index`-th on, one in `every`.
    RemoveRun {
        index: u16,
        len: u16,
        every: u8,
    },
    /// Removes all but `keep % 4` members (down to single or nothing).
    RemoveAllBut {
        keep: u8,
    },
    Settle,
    /// Changes the thresholds (as `CONFIG SET like.packed-max` does: sets move
    /// on their next check or settle).
    SetPolicy(u8),
    RoundTrip {
        load_policy: u8,
        replace: bool,
    },
    RoundTripV1,
    Rebuild,
    Clone {
        raw: u64,
    },
    Clock(Clock),
    RecordAdds {
        n: u8,
    },
    Rate {
        ahead_ms: u32,
    },
    Check,
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    policy: u8,
    ops: Vec<Op>,
}

struct State {
    set: LikeSet,
    model: BTreeSet<u64>,
    activity: Activity,
    policy: Policy,
    shape: Shape,
    now: u64,
    budget: usize,
}

impl State {
    fn member(&self, index: u16) -> Option<u64> {
        let len = self.model.len();
        (len > 0).then(|| *self.model.iter().nth(usize::from(index) % len).unwrap())
    }

    fn insert(&mut self, id: u64, record: bool) {
        let now = record.then_some(self.now);
        let added = self.set.insert(id, now, &self.policy);
        assert_eq!(added, self.model.insert(id), "insert({id})");
        if added && record {
            self.activity.record(self.now, 1);
        }
        assert!(self.set.contains(id), "{id} missing after insert");
        self.after_insert();
    }

    fn after_insert(&self) {
        // packed_max is a hard cap on every write.
        if self.set.encoding() == Encoding::Packed {
            assert!(
                self.set.len() as usize <= self.policy.packed_max,
                "packed set of {} IDs over packed_max {}",
                self.set.len(),
                self.policy.packed_max
            );
        }
    }

    fn remove(&mut self, id: u64) {
        let removed = self.set.remove(id, &self.policy);
        assert_eq!(removed, self.model.remove(&id), "remove({id})");
        assert!(!self.set.contains(id), "{id} present after remove");
        if self.model.is_empty() {
            // An emptied set is dropped, its activity with it.
            self.activity = Activity::default();
        }
        if removed {
            self.check_one_like();
        }
    }

    /// A set of one like is `single` whenever that form can hold it.
    fn check_one_like(&self) {
        if self.model.len() != 1 {
            return;
        }
        let id = *self.model.first().unwrap();
        let fits = id <= u64::from(u32::MAX)
            && match self.activity {
                Activity::Inline { count: 0, .. } => true,
                Activity::Inline { stripe, count: 1 } => (1..=SINGLE_STRIPE_MAX).contains(&stripe),
                _ => false,
            };
        if fits {
            assert_eq!(self.set.encoding(), Encoding::Single, "one like {id} not single");
        }
    }

    fn check_quick(&self) {
        assert_eq!(self.set.len(), self.model.len() as u64, "len");
        assert_eq!(self.set.is_empty(), self.model.is_empty());
        if self.set.encoding() == Encoding::Single {
            assert!(self.set.len() <= 1);
        }
        let _ = self.set.heap_bytes();
    }

    fn check_rates(&self, at: &[u64]) {
        for &t in at {
            assert_eq!(self.set.rate(t), self.activity.rate(t), "rate at {t} (now {})", self.now);
        }
    }

    fn check_full(&self) {
        self.check_quick();
        let want: Vec<u64> = self.model.iter().copied().collect();
        let got = check_set(&self.set).expect("bounded sets are checked in full");
        assert_eq!(got, want, "contents");
        if want.len() <= 1024 {
            assert_eq!(page_all(&self.set, 1), want);
        }
        self.check_rates(&[
            self.now,
            self.now + 30_000,
            self.now + 1_800_000,
            self.now + 3_600_000,
        ]);
    }
}

fn model_page(model: &BTreeSet<u64>, after: Option<u64>, limit: usize) -> Vec<u64> {
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    model.range((from, Bound::Unbounded)).take(limit).copied().collect()
}

fn apply(s: &mut State, op: &Op) {
    match *op {
        Op::Insert { raw, record } => {
            s.budget = s.budget.saturating_sub(1);
            s.insert(s.shape.id(raw), record);
        }
        Op::InsertPresent { index } => {
            if let Some(id) = s.member(index) {
                assert!(!s.set.insert(id, Some(s.now), &s.policy), "re-insert of {id} said new");
            }
        }
        Op::Remove { raw } => {
            s.budget = s.budget.saturating_sub(1);
            s.remove(s.shape.id(raw));
        }
        Op::RemovePresent { index } => {
            if let Some(id) = s.member(index) {
                s.remove(id);
            }
        }
        Op::Contains { raw } => {
            let id = s.shape.id(raw);
            assert_eq!(s.set.contains(id), s.model.contains(&id), "contains({id})");
            // Its neighbours (where the forms' boundary conditions are).
            for id in [id.wrapping_sub(1), id + 1].into_iter().filter(|&i| i <= MAX_ID) {
                assert_eq!(s.set.contains(id), s.model.contains(&id), "contains({id})");
            }
        }
        Op::ContainsPresent { index } => {
            if let Some(id) = s.member(index) {
                assert!(s.set.contains(id), "member {id} not found");
            }
        }
        Op::Page { after, limit } => {
            // Mostly IDs of the shape; a quarter of raw values (top bits 11),
            // up to u64::MAX, past MAX_ID included.
            let after = after.map(|a| if a >> 62 == 3 { a } else { s.shape.id(a) });
            let limit = usize::from(limit % 300);
            assert_eq!(
                page(&s.set, after, limit),
                model_page(&s.model, after, limit),
                "page({after:?}, {limit})"
            );
        }
        Op::PageFromMember { index, limit } => {
            let Some(id) = s.member(index) else { return };
            let limit = usize::from(limit % 300);
            for after in [Some(id), id.checked_sub(1)] {
                assert_eq!(
                    page(&s.set, after, limit),
                    model_page(&s.model, after, limit),
                    "page({after:?}, {limit})"
                );
            }
        }
        Op::InsertRun { raw, len, step, record } => {
            let start = s.shape.id(raw);
            let len = (u64::from(len) % MAX_RUN).min(s.budget as u64);
            s.budget -= len as usize;
            let step = u64::from(step) + 1;
            for k in 0..len {
                let Some(id) =
                    k.checked_mul(step).and_then(|d| start.checked_add(d)).filter(|&i| i <= MAX_ID)
                else {
                    break;
                };
                s.insert(id, record);
            }
        }
        Op::RemoveRun { index, len, every } => {
            let Some(from) = s.member(index) else { return };
            let every = usize::from(every % 8) + 1;
            let len = usize::from(len).min(MAX_RUN as usize).min(s.budget);
            s.budget -= len;
            let ids: Vec<u64> = s.model.range(from..).step_by(every).take(len).copied().collect();
            for id in ids {
                s.remove(id);
            }
        }
        Op::RemoveAllBut { keep } => {
            let keep = usize::from(keep % 4);
            let n = s.model.len().saturating_sub(keep).min(s.budget);
            s.budget -= n;
            // From both ends towards the middle.
            for i in 0..n {
                let id =
                    if i % 2 == 0 { *s.model.first().unwrap() } else { *s.model.last().unwrap() };
                s.remove(id);
            }
        }
        Op::Settle => {
            s.set.settle(&s.policy);
            s.after_insert();
            s.check_one_like();
            // Settled, a set stays put: the policy's estimate of each form's
            // size agrees with what the form reports once it is there.
            let enc = s.set.encoding();
            s.set.settle(&s.policy);
            assert_eq!(s.set.encoding(), enc, "settle not idempotent ({} IDs)", s.set.len());
        }
        Op::SetPolicy(p) => s.policy = policy(p),
        Op::RoundTrip { load_policy, replace } => {
            let ids: Vec<u64> = s.model.iter().copied().collect();
            if ids.is_empty() {
                return;
            }
            let back = round_trip(&s.set, Some(&ids), &policy(load_policy));
            if replace {
                s.set = back;
                s.policy = policy(load_policy);
            }
        }
        Op::RoundTripV1 => {
            let ids: Vec<u64> = s.model.iter().copied().collect();
            let back = codec::decode(&encode_v1(&ids), 1, &s.policy).expect("v1 payload decodes");
            assert_eq!(back.to_vec(), ids, "v1 round trip");
        }
        Op::Rebuild => {
            let ids: Vec<u64> = s.model.iter().copied().collect();
            s.set = LikeSet::from_sorted(&ids, s.activity.clone(), &s.policy);
            s.after_insert();
            s.check_one_like();
        }
        Op::Clone { raw } => {
            let mut copy = s.set.clone();
            assert!(copy == s.set);
            let id = s.shape.id(raw);
            copy.insert(id, Some(s.now), &s.policy);
            copy.record_adds(s.now, 3);
            // The original is untouched.
            assert_eq!(s.set.contains(id), s.model.contains(&id));
            assert_eq!(s.set.len(), s.model.len() as u64);
            assert!(copy.contains(id));
            s.check_rates(&[s.now]);
        }
        Op::Clock(ref c) => {
            s.now = match *c {
                Clock::Forward(ms) => s.now.saturating_add(u64::from(ms)),
                Clock::Back(ms) => s.now.saturating_sub(u64::from(ms)),
                Clock::Jump(t) => t % (1 << 46),
            }
        }
        Op::RecordAdds { n } => {
            s.set.record_adds(s.now, u64::from(n));
            if !s.model.is_empty() {
                s.activity.record(s.now, u32::from(n));
            }
        }
        Op::Rate { ahead_ms } => {
            let now = s.now;
            s.check_rates(&[now, now.saturating_add(u64::from(ahead_ms))]);
        }
        Op::Check => s.check_full(),
    }
}

fuzz_target!(|input: Input| {
    let mut s = State {
        set: LikeSet::new(),
        model: BTreeSet::new(),
        activity: Activity::default(),
        policy: policy(input.policy),
        shape: input.shape,
        now: T0,
        budget: BUDGET,
    };
    assert!(s.set.is_empty());
    for (i, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        apply(&mut s, op);
        s.check_quick();
        if i % FULL_EVERY == FULL_EVERY - 1 {
            s.check_full();
        }
    }
    s.check_full();
});
