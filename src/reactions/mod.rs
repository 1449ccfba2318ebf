//! Reactions: the whole value of one key, likes and any other kinds of
//! reaction (dislikes, votes, emoji), each user holding at most one kind.
//! Plain Rust, no Redis types.
//!
//! A key that holds only the kind `like` is exactly a `LikeSet` (so like-only
//! keys cost nothing more and run no slower); a key with any other kind is a
//! `ReactionTable` (`table`). Every write leaves the value normalized: a table
//! whose only kind is `like` becomes a like-set, and a like-set that gets
//! another kind becomes a table, the recent activity moving with it. Kind
//! names are checked in `kind`; `codec` serializes the value.
//!
//! Recent activity is per key: a "reaction set" is a user getting a new or a
//! changed kind, recorded once per command with the number of such users.

pub mod codec;
pub mod kind;
mod table;

use std::fmt;

pub use kind::{Kind, KindError, KIND_BYTES_MAX, LIKE};
pub use table::ReactionTable;

use crate::likeset::{prefetch, Encoding, LikeSet, Policy, Rate, MAX_ID};

/// Most kinds a key holds (kinds with at least one user).
pub const KINDS_MAX: usize = 16;

/// The value of a key. See the module docs.
#[derive(Clone)]
pub enum Reactions {
    /// Only the kind `like` (or nothing yet).
    Likes(LikeSet),
    /// At least one kind other than `like`.
    Table(Box<ReactionTable>),
}

/// A write refused because the key would hold more than `KINDS_MAX` kinds;
/// it changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyKinds;

impl fmt::Display for TooManyKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key holds at most {KINDS_MAX} kinds of reaction")
    }
}

impl std::error::Error for TooManyKinds {}

/// What `Reactions::set` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// The user's kind before (REACT.SET's reply).
    pub previous: Option<Kind>,
    /// False when the user already had that kind.
    pub changed: bool,
}

impl Default for Reactions {
    fn default() -> Reactions {
        Reactions::Likes(LikeSet::new())
    }
}

impl From<LikeSet> for Reactions {
    fn from(likes: LikeSet) -> Reactions {
        Reactions::Likes(likes)
    }
}

impl Reactions {
    pub fn new() -> Reactions {
        Reactions::default()
    }

    /// Asks the CPU for the memory a read of the value starts with
    /// (`LikeSet::prefetch`; a table's own block).
    pub fn prefetch(&self) {
        match self {
            Reactions::Likes(likes) => likes.prefetch(),
            Reactions::Table(table) => prefetch(std::ptr::from_ref::<ReactionTable>(table).cast()),
        }
    }

    /// No reaction at all (the Redis layer then deletes the key).
    pub fn is_empty(&self) -> bool {
        match self {
            Reactions::Likes(likes) => likes.is_empty(),
            Reactions::Table(table) => table.kinds() == 0,
        }
    }

    /// Gives `user` (at most `MAX_ID`) the kind `kind`, moving it out of its
    /// old kind (REACT.SET).
    pub fn set(
        &mut self,
        user: u64,
        kind: &Kind,
        now_ms: Option<u64>,
        policy: &Policy,
    ) -> Result<SetOutcome, TooManyKinds> {
        debug_assert!(user <= MAX_ID);
        if let (Reactions::Likes(likes), true) = (&mut *self, kind.is_like()) {
            let changed = likes.insert(user, now_ms, policy);
            return Ok(SetOutcome { previous: (!changed).then_some(Kind::LIKE), changed });
        }
        self.with_table(|table| table.set(user, kind, now_ms, policy))
    }

    /// Gives each of `users` (at most `MAX_ID` each) the kind `kind`, moving
    /// them out of their old kinds: how many now have it and did not before
    /// (duplicates count once). REACT.ADD, and LIKE.ADD with `like`.
    pub fn add(
        &mut self,
        kind: &Kind,
        users: &[u64],
        now_ms: Option<u64>,
        policy: &Policy,
    ) -> Result<u64, TooManyKinds> {
        debug_assert!(users.iter().all(|&u| u <= MAX_ID));
        if users.is_empty() {
            return Ok(0);
        }
        if let (Reactions::Likes(likes), true) = (&mut *self, kind.is_like()) {
            let added = users.iter().filter(|&&user| likes.insert(user, None, policy)).count();
            if let Some(now) = now_ms {
                likes.record_adds(now, added as u64);
            }
            return Ok(added as u64);
        }
        self.with_table(|table| table.add(kind, users, now_ms, policy))
    }

    /// Removes the reactions of `users`, of any kind: how many there were (REACT.DEL).
    pub fn remove_any(&mut self, users: &[u64], policy: &Policy) -> u64 {
        match self {
            Reactions::Likes(likes) => remove_all(likes, users, policy),
            Reactions::Table(_) => self.with_table(|table| table.remove_any(users, policy)),
        }
    }

    /// Removes the reactions of kind `kind` of `users`, leaving other kinds:
    /// how many there were (LIKE.DEL with `like`). An unknown kind removes nothing.
    pub fn remove_kind(&mut self, kind: &[u8], users: &[u64], policy: &Policy) -> u64 {
        match self {
            Reactions::Likes(likes) if kind == LIKE => remove_all(likes, users, policy),
            Reactions::Likes(_) => 0,
            Reactions::Table(_) => self.with_table(|table| table.remove_kind(kind, users, policy)),
        }
    }

    /// LIKE.TOGGLE: removes `user`'s like (false), or else sets `like`,
    /// moving the user out of any other kind (true).
    pub fn toggle_like(
        &mut self,
        user: u64,
        now_ms: Option<u64>,
        policy: &Policy,
    ) -> Result<bool, TooManyKinds> {
        debug_assert!(user <= MAX_ID);
        match self {
            Reactions::Likes(likes) => Ok(likes.toggle(user, now_ms, policy)),
            Reactions::Table(_) => self.with_table(|table| {
                if table.remove_like(user, policy) {
                    return Ok(false);
                }
                table.set(user, &Kind::LIKE, now_ms, policy).map(|_| true)
            }),
        }
    }

    /// The kind `user` has.
    pub fn get(&self, user: u64) -> Option<&[u8]> {
        match self {
            Reactions::Likes(likes) => likes.contains(user).then_some(LIKE),
            Reactions::Table(table) => table.get(user),
        }
    }

    /// Reactions of every kind.
    pub fn count_all(&self) -> u64 {
        match self {
            Reactions::Likes(likes) => likes.len(),
            Reactions::Table(table) => table.count_all(),
        }
    }

    /// Reactions of kind `kind` (0 for a kind the key does not hold).
    pub fn count(&self, kind: &[u8]) -> u64 {
        self.kind_set(kind).map_or(0, LikeSet::len)
    }

    /// Every kind with at least one user and its count, by count descending,
    /// then kind bytewise ascending (REACT.COUNTS).
    pub fn counts(&self) -> Vec<(&[u8], u64)> {
        let mut counts = Vec::with_capacity(self.kinds());
        self.for_each_count(|kind, n| counts.push((kind, n)));
        counts
    }

    /// Calls `f` on each kind and its count in `counts`' order, with no
    /// allocation (REACT.STATUS replies them for every key of a feed).
    pub fn for_each_count<'a>(&'a self, mut f: impl FnMut(&'a [u8], u64)) {
        let mut counts: [(&[u8], u64); KINDS_MAX] = [(&[], 0); KINDS_MAX];
        let mut len = 0;
        for (slot, (kind, users)) in counts.iter_mut().zip(self.kind_sets()) {
            *slot = (kind, users.len());
            len += 1;
        }
        let counts = &mut counts[..len];
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for &(kind, n) in counts.iter() {
            f(kind, n);
        }
    }

    /// Kinds with at least one user.
    pub fn kinds(&self) -> usize {
        match self {
            Reactions::Likes(likes) => usize::from(!likes.is_empty()),
            Reactions::Table(table) => table.kinds(),
        }
    }

    /// Calls `f` for the users of kind `kind` greater than `after`, ascending,
    /// at most `limit` of them (REACT.USERS; as `LikeSet::page`).
    pub fn users(&self, kind: &[u8], after: Option<u64>, limit: usize, f: impl FnMut(u64)) {
        if let Some(users) = self.kind_set(kind) {
            users.page(after, limit, f);
        }
    }

    /// The users of kind `kind`, when it has any: LIKE.HAS, LIKE.COUNT and
    /// LIKE.USERS read the kind `like` here, as on a like-only key.
    pub fn kind_set(&self, kind: &[u8]) -> Option<&LikeSet> {
        match self {
            Reactions::Likes(_) => (kind == LIKE).then(|| self.likes()).flatten(),
            Reactions::Table(table) => table.kind_set(kind),
        }
    }

    /// The users of the kind `like`, when it has any (LIKE.HAS and
    /// LIKE.COUNT read it with no name compare on a like-only key).
    pub fn likes(&self) -> Option<&LikeSet> {
        match self {
            Reactions::Likes(likes) => Some(likes).filter(|l| !l.is_empty()),
            Reactions::Table(table) => table.kind_set(LIKE),
        }
    }

    /// Each kind with at least one user and its users (AOF rewrite, digest,
    /// INFO), in storage order.
    /// A like-set is walked as a table of one kind (none when empty): one
    /// iterator for both, with no chain of iterators in a feed's read
    /// (REACT.STATUS counts every item's kinds here).
    pub fn kind_sets(&self) -> impl Iterator<Item = (&[u8], &LikeSet)> + '_ {
        let (names, sets) = match self {
            Reactions::Likes(likes) if likes.is_empty() => (&[][..], &[][..]),
            Reactions::Likes(likes) => (LIKE, std::slice::from_ref(likes)),
            Reactions::Table(table) => table.parts(),
        };
        table::named_sets(names, sets)
    }

    /// Reactions set (new or changed kind) in the last minute and hour.
    pub fn rate(&self, now_ms: u64) -> Rate {
        match self {
            Reactions::Likes(likes) => likes.rate(now_ms),
            Reactions::Table(table) => table.activity().rate(now_ms),
        }
    }

    /// Heap bytes this value owns: the table, its names, sets and activity
    /// (what MEMORY USAGE counts besides Redis's wrapper).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Reactions::Likes(likes) => likes.heap_bytes(),
            Reactions::Table(table) => table.heap_bytes(),
        }
    }

    /// How much work freeing it takes, in O(kinds).
    pub fn free_effort(&self) -> usize {
        match self {
            Reactions::Likes(likes) => likes.free_effort(),
            Reactions::Table(table) => table.free_effort(),
        }
    }

    /// Picks the best encoding of every set (after loading, or when the
    /// thresholds change).
    pub fn settle(&mut self, policy: &Policy) {
        match self {
            Reactions::Likes(likes) => likes.settle(policy),
            Reactions::Table(table) => table.settle(policy),
        }
    }

    /// The like-set's encoding for a like-only key; None for a table (whose
    /// sets' encodings `kind_sets` gives). What INFO counts keys by.
    pub fn encoding(&self) -> Option<Encoding> {
        match self {
            Reactions::Likes(likes) => Some(likes.encoding()),
            Reactions::Table(_) => None,
        }
    }

    /// The encoding's name (LIKE.INFO, REACT.INFO): the like-set's, or `table`.
    pub fn encoding_name(&self) -> &'static str {
        self.encoding().map_or("table", Encoding::name)
    }

    /// Runs a table write, making a table of a like-set first, and
    /// normalizes the result.
    fn with_table<R>(&mut self, write: impl FnOnce(&mut ReactionTable) -> R) -> R {
        let mut table = match std::mem::take(self) {
            Reactions::Likes(likes) => Box::new(ReactionTable::from_likes(likes)),
            Reactions::Table(table) => table,
        };
        let result = write(&mut table);
        *self = Reactions::Table(table);
        self.normalize();
        result
    }

    /// A table whose only kind is `like` (or that has no kind) becomes a
    /// like-set, the key's activity moving into it.
    fn normalize(&mut self) {
        let only_like = match self {
            Reactions::Table(table) => match table.kinds() {
                0 => true,
                1 => table.kind_set(LIKE).is_some(),
                _ => false,
            },
            Reactions::Likes(_) => false,
        };
        if !only_like {
            return;
        }
        *self = match std::mem::take(self) {
            Reactions::Table(table) => {
                let (activity, kinds) = table.into_kinds();
                let mut likes = kinds.into_iter().next().map(|(_, set)| set).unwrap_or_default();
                likes.set_activity(activity);
                Reactions::Likes(likes)
            }
            likes => likes,
        };
    }
}

/// Removes `users` from a like-set: how many were there.
fn remove_all(likes: &mut LikeSet, users: &[u64], policy: &Policy) -> u64 {
    users.iter().filter(|&&user| likes.remove(user, policy)).count() as u64
}

impl fmt::Debug for Reactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if matches!(self, Reactions::Table(_)) { "Table" } else { "Likes" };
        let mut map = f.debug_map();
        for (name, users) in self.kind_sets() {
            map.entry(&String::from_utf8_lossy(name), users);
        }
        map.finish()?;
        write!(f, " ({kind})")
    }
}

impl PartialEq for Reactions {
    /// The same users with the same kinds (activity, kind order and
    /// encodings are not part of equality).
    fn eq(&self, other: &Reactions) -> bool {
        self.kinds() == other.kinds()
            && self.kind_sets().all(|(kind, users)| other.kind_set(kind) == Some(users))
    }
}

#[cfg(test)]
mod tests;
