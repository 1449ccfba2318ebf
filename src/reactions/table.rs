//! The reaction table: a key holding kinds other than `like`. Per kind, the
//! exact set of its users as a `LikeSet` (count in O(1)); one activity for
//! the whole key. Kinds are distinct, each has at least one user, a user is
//! in at most one kind, and there are at most `KINDS_MAX` of them: every
//! write keeps this, and refuses (changing nothing) a write that would pass
//! the kind limit.
//!
//! Memory layout (one box; a like/dislike key must cost no more than two
//! like-only keys, each of which costs Redis's 32-byte wrapper, its name and
//! its dictionary entry):
//! - `activity` (16 bytes), as a like-set holds it, but once per key;
//! - `sets`: two sets in place (the common like/dislike, up/down key), or a
//!   boxed slice of one or 3..=16;
//! - `names`: the kind names joined by NUL (which no name holds), in place
//!   when they fit 15 bytes (`like`+`dislike` take 12), else boxed.
//!
//! So a two-kind table is one 64-byte block besides its sets' own heap.

use std::mem::size_of;
use std::num::NonZeroU8;

use super::kind::{Kind, LIKE};
use super::{SetOutcome, TooManyKinds, KINDS_MAX};
use crate::likeset::{allocated, Activity, LikeSet, Policy, MAX_ID};

/// See the module docs.
#[derive(Clone)]
pub struct ReactionTable {
    activity: Activity,
    sets: Sets,
    names: Names,
}

/// The kinds' sets, in the order of the names.
#[derive(Clone)]
enum Sets {
    /// Exactly two kinds: no allocation besides the table's.
    Pair([LikeSet; 2]),
    /// One kind, or three and more.
    Boxed(Box<[LikeSet]>),
}

impl Sets {
    fn from_vec(sets: Vec<LikeSet>) -> Sets {
        match <[LikeSet; 2]>::try_from(sets) {
            Ok(pair) => Sets::Pair(pair),
            Err(sets) => Sets::Boxed(sets.into_boxed_slice()),
        }
    }

    fn into_vec(self) -> Vec<LikeSet> {
        match self {
            Sets::Pair(pair) => Vec::from(pair),
            Sets::Boxed(sets) => sets.into_vec(),
        }
    }

    fn as_slice(&self) -> &[LikeSet] {
        match self {
            Sets::Pair(pair) => pair,
            Sets::Boxed(sets) => sets,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [LikeSet] {
        match self {
            Sets::Pair(pair) => pair,
            Sets::Boxed(sets) => sets,
        }
    }

    /// Heap bytes of the slice itself (not of the sets' own heap).
    fn heap_bytes(&self) -> usize {
        match self {
            Sets::Pair(_) => 0,
            Sets::Boxed(sets) => allocated(size_of::<LikeSet>() * sets.len()),
        }
    }
}

/// Bytes of names kept in place.
const NAMES_INLINE: usize = 15;

/// The kind names joined by NUL.
#[derive(Clone)]
enum Names {
    /// `len` (1..=15) bytes in place. `len` being non-zero gives the enum a
    /// spare value for its tag, so `Names` takes 16 bytes.
    Inline { bytes: [u8; NAMES_INLINE], len: NonZeroU8 },
    /// Longer (or no names): a thin pointer, so the tag still fits.
    Boxed(Box<Box<[u8]>>),
}

impl Names {
    fn new(joined: &[u8]) -> Names {
        match NonZeroU8::new(joined.len() as u8).filter(|_| joined.len() <= NAMES_INLINE) {
            Some(len) => {
                let mut bytes = [0u8; NAMES_INLINE];
                bytes[..joined.len()].copy_from_slice(joined);
                Names::Inline { bytes, len }
            }
            None => Names::Boxed(Box::new(Box::from(joined))),
        }
    }

    fn joined(&self) -> &[u8] {
        match self {
            Names::Inline { bytes, len } => &bytes[..usize::from(len.get()).min(NAMES_INLINE)],
            Names::Boxed(joined) => joined,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        names_in(self.joined())
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Names::Inline { .. } => 0,
            Names::Boxed(joined) => allocated(size_of::<Box<[u8]>>()) + allocated(joined.len()),
        }
    }
}

/// The names of `joined` (joined by NUL, none empty: no names join to no
/// bytes), one search per name.
fn names_in(joined: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = joined;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        rest = tail.get(1..).unwrap_or_default();
        Some(name)
    })
}

/// Each name of `joined` (as `Names` holds them) with its set, in order:
/// a table's kinds, or a like-set's one kind.
pub(super) fn named_sets<'a>(
    joined: &'a [u8],
    sets: &'a [LikeSet],
) -> impl Iterator<Item = (&'a [u8], &'a LikeSet)> + 'a {
    names_in(joined).zip(sets)
}

/// Joins names with NUL.
fn join<'a>(names: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut joined = Vec::new();
    for name in names {
        if !joined.is_empty() {
            joined.push(0);
        }
        joined.extend_from_slice(name);
    }
    joined
}

impl ReactionTable {
    /// A table of `kinds`: names valid and distinct, sets disjoint and
    /// holding no activity (empty sets are dropped). The caller checks.
    pub(crate) fn from_kinds(activity: Activity, kinds: Vec<(Kind, LikeSet)>) -> ReactionTable {
        let kinds: Vec<(Kind, LikeSet)> =
            kinds.into_iter().filter(|(_, s)| !s.is_empty()).collect();
        debug_assert!(kinds.len() <= KINDS_MAX);
        let names = Names::new(&join(kinds.iter().map(|(k, _)| k.as_bytes())));
        let sets = Sets::from_vec(kinds.into_iter().map(|(_, s)| s).collect());
        ReactionTable { activity, sets, names }
    }

    /// A table holding `likes` as the kind `like` (its activity becomes the
    /// key's), or no kind when it is empty.
    pub(crate) fn from_likes(mut likes: LikeSet) -> ReactionTable {
        let activity = take_activity(&mut likes);
        ReactionTable::from_kinds(activity, vec![(Kind::LIKE, likes)])
    }

    /// The parts, for normalization back to a like-set.
    pub(crate) fn into_kinds(self) -> (Activity, Vec<(Kind, LikeSet)>) {
        let names: Vec<Kind> = self.names.iter().map(Kind::copy_of).collect();
        (self.activity, names.into_iter().zip(self.sets.into_vec()).collect())
    }

    /// Kinds with at least one user.
    pub fn kinds(&self) -> usize {
        self.sets.as_slice().len()
    }

    /// Each kind's name and users, in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &LikeSet)> + '_ {
        let (names, sets) = self.parts();
        named_sets(names, sets)
    }

    /// The kind names joined by NUL, and their sets in the same order
    /// (`named_sets` walks them).
    pub(super) fn parts(&self) -> (&[u8], &[LikeSet]) {
        (self.names.joined(), self.sets.as_slice())
    }

    /// The place of `kind` in the table.
    fn find(&self, kind: &[u8]) -> Option<usize> {
        self.names.iter().position(|name| name == kind)
    }

    fn name(&self, at: usize) -> Option<&[u8]> {
        self.names.iter().nth(at)
    }

    /// The users of `kind`, when it has any.
    pub fn kind_set(&self, kind: &[u8]) -> Option<&LikeSet> {
        self.find(kind).and_then(|at| self.sets.as_slice().get(at))
    }

    /// The place of the kind `user` has. O(kinds × lookup).
    fn kind_of(&self, user: u64) -> Option<usize> {
        self.sets.as_slice().iter().position(|s| s.contains(user))
    }

    /// The name of the kind `user` has.
    pub fn get(&self, user: u64) -> Option<&[u8]> {
        self.kind_of(user).and_then(|at| self.name(at))
    }

    /// Reactions of every kind.
    pub fn count_all(&self) -> u64 {
        self.sets.as_slice().iter().map(LikeSet::len).sum()
    }

    /// The key's recent-activity stripes.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    fn len_at(&self, at: usize) -> u64 {
        self.sets.as_slice().get(at).map_or(0, LikeSet::len)
    }

    /// Adds a kind at the end (a rebuild: kinds come and go rarely).
    fn push_kind(&mut self, kind: &Kind, set: LikeSet) {
        let joined = join(self.names.iter().chain([kind.as_bytes()]));
        let mut sets = std::mem::replace(&mut self.sets, Sets::Boxed(Box::default())).into_vec();
        sets.push(set);
        self.sets = Sets::from_vec(sets);
        self.names = Names::new(&joined);
    }

    /// Drops the kinds left without users (after removals).
    fn drop_empty_kinds(&mut self) {
        if self.sets.as_slice().iter().all(|s| !s.is_empty()) {
            return;
        }
        let keep: Vec<bool> = self.sets.as_slice().iter().map(|s| !s.is_empty()).collect();
        let joined = join(self.names.iter().zip(&keep).filter(|(_, &k)| k).map(|(n, _)| n));
        let sets = std::mem::replace(&mut self.sets, Sets::Boxed(Box::default())).into_vec();
        self.sets = Sets::from_vec(sets.into_iter().filter(|s| !s.is_empty()).collect());
        self.names = Names::new(&joined);
    }

    /// Records `n` reactions set at `now_ms` (None: replayed, not recent activity).
    fn record(&mut self, now_ms: Option<u64>, n: usize) {
        if let Some(now) = now_ms {
            self.activity.record(now, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// Gives `user` the kind `kind`, moving it out of its old kind.
    pub(crate) fn set(
        &mut self,
        user: u64,
        kind: &Kind,
        now_ms: Option<u64>,
        policy: &Policy,
    ) -> Result<SetOutcome, TooManyKinds> {
        debug_assert!(user <= MAX_ID);
        let old = self.kind_of(user);
        let target = self.find(kind.as_bytes());
        if old.is_some() && old == target {
            return Ok(SetOutcome { previous: Some(*kind), changed: false });
        }
        // The old kind frees its slot when this user was its last.
        let frees = old.is_some_and(|at| self.len_at(at) == 1);
        let after = self.kinds() - usize::from(frees) + usize::from(target.is_none());
        if after > KINDS_MAX {
            return Err(TooManyKinds);
        }
        let previous = old.and_then(|at| self.name(at)).map(Kind::copy_of);
        if let Some(set) = old.and_then(|at| self.sets.as_mut_slice().get_mut(at)) {
            set.remove(user, policy);
        }
        match target.and_then(|at| self.sets.as_mut_slice().get_mut(at)) {
            Some(set) => {
                set.insert(user, None, policy);
            }
            None => {
                self.push_kind(kind, LikeSet::from_sorted(&[user], Activity::default(), policy))
            }
        }
        self.drop_empty_kinds();
        self.record(now_ms, 1);
        Ok(SetOutcome { previous, changed: true })
    }

    /// Gives each of `users` the kind `kind`: how many did not have it.
    pub(crate) fn add(
        &mut self,
        kind: &Kind,
        users: &[u64],
        now_ms: Option<u64>,
        policy: &Policy,
    ) -> Result<u64, TooManyKinds> {
        debug_assert!(users.iter().all(|&u| u <= MAX_ID));
        let mut users = users.to_vec();
        users.sort_unstable();
        users.dedup();
        let target = self.find(kind.as_bytes());
        // The users that change kind, with their old kind, and how many leave each kind.
        let mut leaving = vec![0u64; self.kinds()];
        let mut moving: Vec<(u64, Option<usize>)> = Vec::with_capacity(users.len());
        for user in users {
            let old = self.kind_of(user);
            if old.is_some() && old == target {
                continue;
            }
            if let Some(n) = old.and_then(|at| leaving.get_mut(at)) {
                *n += 1;
            }
            moving.push((user, old));
        }
        if moving.is_empty() {
            return Ok(0);
        }
        // A kind stays when a user stays in it (no user leaves the target).
        let staying = (0..self.kinds())
            .filter(|&at| self.len_at(at) > leaving.get(at).copied().unwrap_or(0))
            .count();
        if staying + usize::from(target.is_none()) > KINDS_MAX {
            return Err(TooManyKinds);
        }
        for &(user, old) in &moving {
            if let Some(set) = old.and_then(|at| self.sets.as_mut_slice().get_mut(at)) {
                set.remove(user, policy);
            }
        }
        match target.and_then(|at| self.sets.as_mut_slice().get_mut(at)) {
            Some(set) => {
                for &(user, _) in &moving {
                    set.insert(user, None, policy);
                }
            }
            None => {
                let ids: Vec<u64> = moving.iter().map(|&(user, _)| user).collect();
                self.push_kind(kind, LikeSet::from_sorted(&ids, Activity::default(), policy));
            }
        }
        self.drop_empty_kinds();
        self.record(now_ms, moving.len());
        Ok(moving.len() as u64)
    }

    /// Removes the reactions of `users`, whatever their kind: how many there were.
    pub(crate) fn remove_any(&mut self, users: &[u64], policy: &Policy) -> u64 {
        let mut removed = 0;
        for &user in users {
            // Kinds are disjoint: at most one set holds the user.
            if self.sets.as_mut_slice().iter_mut().any(|s| s.remove(user, policy)) {
                removed += 1;
            }
        }
        self.drop_empty_kinds();
        removed
    }

    /// Removes the reactions of kind `kind` of `users`: how many there were.
    pub(crate) fn remove_kind(&mut self, kind: &[u8], users: &[u64], policy: &Policy) -> u64 {
        let Some(set) = self.find(kind).and_then(|at| self.sets.as_mut_slice().get_mut(at)) else {
            return 0;
        };
        let removed = users.iter().filter(|&&user| set.remove(user, policy)).count() as u64;
        self.drop_empty_kinds();
        removed
    }

    /// Removes `user`'s like, if it has one.
    pub(crate) fn remove_like(&mut self, user: u64, policy: &Policy) -> bool {
        self.remove_kind(LIKE, &[user], policy) == 1
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        allocated(size_of::<ReactionTable>())
            + self.sets.heap_bytes()
            + self.names.heap_bytes()
            + self.activity.heap_bytes()
            + self.sets.as_slice().iter().map(LikeSet::heap_bytes).sum::<usize>()
    }

    pub(crate) fn free_effort(&self) -> usize {
        self.sets.as_slice().iter().map(LikeSet::free_effort).fold(1, usize::saturating_add)
    }

    pub(crate) fn settle(&mut self, policy: &Policy) {
        for set in self.sets.as_mut_slice() {
            set.settle(policy);
        }
    }
}

/// Moves a like-set's activity out, leaving none.
pub(crate) fn take_activity(set: &mut LikeSet) -> Activity {
    let activity = set.activity().to_owned();
    set.set_activity(Activity::default());
    activity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_one_block_of_64_bytes() {
        assert_eq!(size_of::<Names>(), 16);
        assert_eq!(size_of::<Sets>(), 2 * size_of::<LikeSet>());
        assert_eq!(size_of::<ReactionTable>(), 64);
    }

    #[test]
    fn names_in_place_and_boxed() {
        for joined in [&b"like\0dislike"[..], b"a", b"123456789012345"] {
            let names = Names::new(joined);
            assert!(matches!(names, Names::Inline { .. }));
            assert_eq!(names.joined(), joined);
            assert_eq!(names.heap_bytes(), 0);
        }
        let long = b"like\0love\0care\0haha";
        let names = Names::new(long);
        assert!(matches!(names, Names::Boxed(_)));
        assert_eq!(names.iter().collect::<Vec<_>>(), [&b"like"[..], b"love", b"care", b"haha"]);
        assert_eq!(Names::new(b"").iter().count(), 0);
    }
}
