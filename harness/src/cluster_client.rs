//! Client-side helpers for running the LIKE module on Redis Cluster.
//!
//! Used by `examples/feed_status.rs`, `examples/striped_likes.rs` and the cluster tests
//! (`tests/cluster.rs`), so the code the tests prove is the code the examples ship.
//!
//! * [`key_slot`]: the Redis Cluster hash slot of a key (CRC16/XMODEM mod 16384, hash tags).
//! * [`SlotRouter`]: a small slot-aware executor. It reads `CLUSTER SLOTS`, sends every command
//!   to the primary that owns its slot, puts all the commands bound for one node in one
//!   pipeline (one round trip per node), talks to the nodes in parallel threads, and resends
//!   what the cluster redirected (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`): a redirected
//!   command did not run, so resending it is always safe. An I/O error is different (the
//!   command may or may not have run) and is handed back to the caller.
//! * [`feed_status`]: a feed whose posts span many slots, read with one `LIKE.STATUS` per slot,
//!   one pipeline per node, all nodes in parallel, merged back in the feed's order.
//! * [`Striped`]: the striping recipe for a post hotter than one core: the like-set of `post:X`
//!   is split over N keys `post:X:s0 .. post:X:s{N-1}` (in different slots, so on different
//!   primaries), user `u` always in stripe `u mod N`, so deduplication stays exact and the count
//!   is the sum of N `LIKE.COUNT`s.
use redis::{Cmd, Connection, ErrorKind, RedisError, RedisResult, Value};
use std::collections::{BTreeMap, HashMap};
use std::thread;
use std::time::Duration;

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: usize = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The part of a key that is hashed: the content of the first `{...}` if it is non-empty,
/// otherwise the whole key (the rule of `CLUSTER KEYSLOT`).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot (0..16384) of a key.
pub fn key_slot(key: impl AsRef<[u8]>) -> u16 {
    crc16(hash_tag(key.as_ref())) % SLOTS as u16
}

/// What one [`SlotRouter::exec`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Pipelines sent (one per node per attempt): the round trips the call cost.
    pub round_trips: usize,
    /// Distinct nodes that received a pipeline.
    pub nodes: usize,
    /// Commands that were redirected (MOVED/ASK/TRYAGAIN/CLUSTERDOWN) and resent.
    pub redirects: usize,
    /// Slot-map refreshes (CLUSTER SLOTS) the call needed.
    pub refreshes: usize,
}

/// Slot-aware command executor for a Redis Cluster (see the module docs).
pub struct SlotRouter {
    seeds: Vec<String>,
    nodes: Vec<String>,
    /// Index into `nodes` of the primary that owns each slot (`u16::MAX`: no owner).
    owner: Vec<u16>,
    conns: HashMap<String, Connection>,
    timeout: Duration,
    /// How many times a redirected command is resent before giving up.
    pub max_attempts: usize,
    /// Statistics of the last [`SlotRouter::exec`] call.
    pub last: ExecStats,
}

fn connect(addr: &str, timeout: Duration) -> RedisResult<Connection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let conn = client.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}

fn protocol_error(what: &str) -> RedisError {
    RedisError::from((ErrorKind::Parse, "unexpected reply", what.to_string()))
}

/// Parses a `CLUSTER SLOTS` reply into (first slot, last slot, primary address) triples.
/// `asked` is the address of the node that answered, used when a node reports an empty IP.
pub fn parse_cluster_slots(reply: &Value, asked: &str) -> RedisResult<Vec<(u16, u16, String)>> {
    let Value::Array(ranges) = reply else {
        return Err(protocol_error("CLUSTER SLOTS is not an array"));
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(items) = range else {
            return Err(protocol_error("CLUSTER SLOTS range is not an array"));
        };
        let (Some(first), Some(last)) = (items.first().and_then(int), items.get(1).and_then(int))
        else {
            return Err(protocol_error("CLUSTER SLOTS range bounds"));
        };
        let Some(Value::Array(primary)) = items.get(2) else {
            return Err(protocol_error("CLUSTER SLOTS range without primary"));
        };
        let ip = primary.first().and_then(text).unwrap_or_default();
        let port = primary.get(1).and_then(int).ok_or_else(|| protocol_error("port"))?;
        let host = if ip.is_empty() || ip == "?" { host_of(asked).to_string() } else { ip };
        out.push((first as u16, last as u16, format!("{host}:{port}")));
    }
    Ok(out)
}

/// One pipeline to send: the node's address, the commands as (index, `ASKING` first), and the
/// node's cached connection if there is one.
type Job = (String, Vec<(usize, bool)>, Option<Connection>);

impl SlotRouter {
    /// Connects to the cluster through any of `seeds` (`host:port`) and reads its slot map.
    pub fn connect<S: AsRef<str>>(seeds: &[S]) -> RedisResult<SlotRouter> {
        Self::with_timeout(seeds, Duration::from_secs(5))
    }

    /// Like [`SlotRouter::connect`], with the connect/read/write timeout of every connection.
    pub fn with_timeout<S: AsRef<str>>(seeds: &[S], timeout: Duration) -> RedisResult<SlotRouter> {
        let mut router = SlotRouter {
            seeds: seeds.iter().map(|s| s.as_ref().to_string()).collect(),
            nodes: Vec::new(),
            owner: vec![u16::MAX; SLOTS],
            conns: HashMap::new(),
            timeout,
            max_attempts: 6,
            last: ExecStats::default(),
        };
        router.refresh()?;
        Ok(router)
    }

    /// Re-reads the slot map (`CLUSTER SLOTS`) from the first node that answers: the known
    /// primaries first, then the seeds.
    pub fn refresh(&mut self) -> RedisResult<()> {
        let mut candidates: Vec<String> = self.nodes.clone();
        for s in &self.seeds {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let mut last_err = None;
        for addr in candidates {
            let reply = match self.conns.get_mut(&addr) {
                Some(conn) => redis::cmd("CLUSTER").arg("SLOTS").query::<Value>(conn),
                None => connect(&addr, self.timeout).and_then(|mut conn| {
                    let r = redis::cmd("CLUSTER").arg("SLOTS").query::<Value>(&mut conn);
                    if r.is_ok() {
                        self.conns.insert(addr.clone(), conn);
                    }
                    r
                }),
            };
            let ranges = match reply.and_then(|r| parse_cluster_slots(&r, &addr)) {
                Ok(ranges) if !ranges.is_empty() => ranges,
                Ok(_) => {
                    last_err = Some(protocol_error("empty CLUSTER SLOTS"));
                    continue;
                }
                Err(e) => {
                    self.conns.remove(&addr);
                    last_err = Some(e);
                    continue;
                }
            };
            let mut nodes: Vec<String> = Vec::new();
            let mut owner = vec![u16::MAX; SLOTS];
            for (first, last, node) in ranges {
                let idx = match nodes.iter().position(|n| *n == node) {
                    Some(i) => i,
                    None => {
                        nodes.push(node);
                        nodes.len() - 1
                    }
                };
                for slot in first..=last.min(SLOTS as u16 - 1) {
                    owner[slot as usize] = idx as u16;
                }
            }
            self.nodes = nodes;
            self.owner = owner;
            return Ok(());
        }
        Err(last_err.unwrap_or_else(|| protocol_error("no node to ask")))
    }

    /// The primaries that own at least one slot, as `host:port`.
    pub fn primaries(&self) -> Vec<String> {
        self.nodes.clone()
    }

    /// The primary that owns `slot` according to the last slot map read.
    pub fn owner_of(&self, slot: u16) -> Option<&str> {
        let idx = *self.owner.get(slot as usize)?;
        self.nodes.get(idx as usize).map(|s| s.as_str())
    }

    /// Drops every cached connection (they are reopened on demand).
    pub fn disconnect(&mut self) {
        self.conns.clear();
    }

    /// Runs each command on the primary owning its slot and returns the replies in input order.
    ///
    /// All commands bound for one node go in one pipeline; nodes are served in parallel threads.
    /// Commands redirected by the cluster are resent (after a slot-map refresh for MOVED, with
    /// `ASKING` for ASK, after a short pause for TRYAGAIN/CLUSTERDOWN), at most
    /// `max_attempts` times. A command whose pipeline hit an I/O error is returned as that
    /// error and not resent: it may or may not have run.
    pub fn exec(&mut self, cmds: &[(u16, Cmd)]) -> Vec<RedisResult<Value>> {
        let mut results: Vec<Option<RedisResult<Value>>> = vec![None; cmds.len()];
        let mut stats = ExecStats::default();
        let mut asking: HashMap<usize, String> = HashMap::new();
        let mut last_redirect: HashMap<usize, RedisError> = HashMap::new();
        let mut pending: Vec<usize> = (0..cmds.len()).collect();
        let mut contacted: Vec<String> = Vec::new();
        let timeout = self.timeout;

        for attempt in 0..self.max_attempts.max(1) {
            if pending.is_empty() {
                break;
            }
            // Group by target node; BTreeMap keeps the order of nodes stable.
            let mut groups: BTreeMap<String, Vec<(usize, bool)>> = BTreeMap::new();
            for &i in &pending {
                match asking.remove(&i) {
                    Some(addr) => groups.entry(addr).or_default().push((i, true)),
                    None => match self.owner_of(cmds[i].0) {
                        Some(addr) => groups.entry(addr.to_string()).or_default().push((i, false)),
                        None => {
                            results[i] = Some(Err(RedisError::from((
                                ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
                                "slot not served",
                                format!("slot {} has no primary", cmds[i].0),
                            ))))
                        }
                    },
                }
            }
            let jobs: Vec<Job> = groups
                .into_iter()
                .map(|(addr, items)| {
                    let conn = self.conns.remove(&addr);
                    (addr, items, conn)
                })
                .collect();
            stats.round_trips += jobs.len();
            for (addr, _, _) in &jobs {
                if !contacted.contains(addr) {
                    contacted.push(addr.clone());
                }
            }
            type Outcome = (
                String,
                Vec<(usize, bool)>,
                Option<Connection>,
                RedisResult<Vec<RedisResult<Value>>>,
            );
            let outcomes: Vec<Outcome> = thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|(addr, items, conn)| {
                        scope.spawn(move || {
                            let mut conn = match conn {
                                Some(c) => c,
                                None => match connect(&addr, timeout) {
                                    Ok(c) => c,
                                    Err(e) => return (addr, items, None, Err(e)),
                                },
                            };
                            let mut pipe = redis::pipe();
                            pipe.ignore_errors();
                            for &(i, ask) in &items {
                                if ask {
                                    pipe.cmd("ASKING").ignore();
                                }
                                pipe.add_command(cmds[i].1.clone());
                            }
                            let r = pipe.query::<Vec<RedisResult<Value>>>(&mut conn);
                            let keep = if r.is_ok() { Some(conn) } else { None };
                            (addr, items, keep, r)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("router thread panicked")).collect()
            });

            let mut need_refresh = false;
            let mut pause = false;
            let mut next = Vec::new();
            for (addr, items, conn, reply) in outcomes {
                if let Some(conn) = conn {
                    self.conns.insert(addr.clone(), conn);
                }
                match reply {
                    Ok(replies) if replies.len() == items.len() => {
                        for (&(i, _), r) in items.iter().zip(replies) {
                            match r {
                                Ok(v) => results[i] = Some(Ok(v)),
                                Err(e) => match e.kind() {
                                    ErrorKind::Server(redis::ServerErrorKind::Moved) => {
                                        need_refresh = true;
                                        stats.redirects += 1;
                                        last_redirect.insert(i, e);
                                        next.push(i);
                                    }
                                    ErrorKind::Server(redis::ServerErrorKind::Ask) => {
                                        stats.redirects += 1;
                                        if let Some((node, _)) = e.redirect_node() {
                                            asking.insert(i, node.to_string());
                                        }
                                        last_redirect.insert(i, e);
                                        next.push(i);
                                    }
                                    ErrorKind::Server(redis::ServerErrorKind::TryAgain)
                                    | ErrorKind::Server(redis::ServerErrorKind::ClusterDown) => {
                                        stats.redirects += 1;
                                        pause = true;
                                        need_refresh = true;
                                        last_redirect.insert(i, e);
                                        next.push(i);
                                    }
                                    _ => results[i] = Some(Err(e)),
                                },
                            }
                        }
                    }
                    Ok(replies) => {
                        let e = protocol_error(&format!(
                            "{} replies for {} commands from {addr}",
                            replies.len(),
                            items.len()
                        ));
                        for &(i, _) in &items {
                            results[i] = Some(Err(e.clone()));
                        }
                    }
                    Err(e) => {
                        // Connection-level failure: outcome unknown, never resent here.
                        need_refresh = true;
                        for &(i, _) in &items {
                            results[i] = Some(Err(e.clone()));
                        }
                    }
                }
            }
            if need_refresh {
                stats.refreshes += 1;
                let _ = self.refresh();
            }
            if pause && !next.is_empty() {
                thread::sleep(Duration::from_millis(20 * (attempt as u64 + 1)));
            }
            pending = next;
        }
        for i in pending {
            let e =
                last_redirect.remove(&i).unwrap_or_else(|| protocol_error("too many redirects"));
            results[i] = Some(Err(e));
        }
        stats.nodes = contacted.len();
        self.last = stats;
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(protocol_error("no reply")))).collect()
    }

    /// Runs one command on the primary owning `key`'s slot.
    pub fn query_key<T: redis::FromRedisValue>(&mut self, key: &str, cmd: Cmd) -> RedisResult<T> {
        let mut replies = self.exec(&[(key_slot(key), cmd)]);
        let v = replies.pop().expect("one reply")?;
        Ok(redis::from_redis_value(v)?)
    }
}

/// `[count, liked]` of one post for one user, as `LIKE.STATUS` returns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub count: i64,
    pub liked: bool,
}

/// Reads `[count, liked]` for every post of a feed whose keys span many slots.
///
/// Redis Cluster refuses a multi-key command over keys of different slots (`CROSSSLOT`), even
/// when one node owns them all. So the keys are grouped by slot, each group becomes one
/// `LIKE.STATUS user key...`, the groups of one node travel in one pipeline (one round trip per
/// node) and the nodes are asked in parallel. The replies are put back in the feed's order;
/// a key may appear more than once.
pub fn feed_status<K: AsRef<str>>(
    router: &mut SlotRouter,
    user: u64,
    keys: &[K],
) -> RedisResult<Vec<Status>> {
    let mut by_slot: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        by_slot.entry(key_slot(k.as_ref())).or_default().push(i);
    }
    let groups: Vec<(u16, Vec<usize>)> = by_slot.into_iter().collect();
    let cmds: Vec<(u16, Cmd)> = groups
        .iter()
        .map(|(slot, idx)| {
            let mut c = redis::cmd("LIKE.STATUS");
            c.arg(user);
            for &i in idx {
                c.arg(keys[i].as_ref());
            }
            (*slot, c)
        })
        .collect();
    let replies = router.exec(&cmds);
    let mut out = vec![Status::default(); keys.len()];
    for ((_, idx), reply) in groups.iter().zip(replies) {
        let pairs: Vec<(i64, i64)> = redis::from_redis_value(reply?)?;
        if pairs.len() != idx.len() {
            return Err(protocol_error("LIKE.STATUS returned a wrong number of elements"));
        }
        for (&i, (count, liked)) in idx.iter().zip(pairs) {
            out[i] = Status { count, liked: liked == 1 };
        }
    }
    Ok(out)
}

/// The striping recipe: one post's like-set split over N keys in different slots.
///
/// User `u` always lives in stripe `u mod N`, so a user can be in one stripe only:
/// deduplication stays exact, the count is the sum of the N stripe counts, and "has the user
/// liked" reads one stripe. Writes for different stripes go to different primaries, so a post
/// can take more likes per second than one core can apply.
#[derive(Clone, Debug)]
pub struct Striped {
    base: String,
    keys: Vec<String>,
    slots: Vec<u16>,
}

impl Striped {
    /// `base` is the post's logical key (`post:X`), `n` the number of stripes (>= 1).
    /// The stripe keys are `post:X:s0 .. post:X:s{n-1}`. `base` must not contain a `{`:
    /// a hash tag would put every stripe into one slot and defeat the recipe.
    pub fn new(base: &str, n: u32) -> Striped {
        assert!(n >= 1, "at least one stripe");
        assert!(!base.contains('{'), "a striped key must not carry a hash tag: {base}");
        let keys: Vec<String> = (0..n).map(|i| format!("{base}:s{i}")).collect();
        let slots = keys.iter().map(key_slot).collect();
        Striped { base: base.to_string(), keys, slots }
    }

    pub fn base(&self) -> &str {
        &self.base
    }
    pub fn stripes(&self) -> u32 {
        self.keys.len() as u32
    }
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
    pub fn slots(&self) -> &[u16] {
        &self.slots
    }
    /// The stripe that holds `user`.
    pub fn stripe_of(&self, user: u64) -> usize {
        (user % self.keys.len() as u64) as usize
    }
    /// The key of the stripe that holds `user`.
    pub fn key_for(&self, user: u64) -> &str {
        &self.keys[self.stripe_of(user)]
    }

    fn per_stripe(&self, name: &str, users: &[u64]) -> Vec<(u16, Cmd)> {
        let mut by_stripe: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for &u in users {
            by_stripe.entry(self.stripe_of(u)).or_default().push(u);
        }
        by_stripe
            .into_iter()
            .map(|(s, us)| {
                let mut c = redis::cmd(name);
                c.arg(&self.keys[s]).arg(us);
                (self.slots[s], c)
            })
            .collect()
    }

    fn sum(replies: Vec<RedisResult<Value>>) -> RedisResult<i64> {
        let mut total = 0;
        for r in replies {
            total += redis::from_redis_value::<i64>(r?)?;
        }
        Ok(total)
    }

    /// Adds likes: one `LIKE.ADD` per stripe touched, all stripes in parallel.
    /// Returns how many of the users were newly added (exact, like `LIKE.ADD`).
    pub fn add(&self, router: &mut SlotRouter, users: &[u64]) -> RedisResult<i64> {
        let cmds = self.per_stripe("LIKE.ADD", users);
        Self::sum(router.exec(&cmds))
    }

    /// Removes likes; returns how many were removed.
    pub fn del(&self, router: &mut SlotRouter, users: &[u64]) -> RedisResult<i64> {
        let cmds = self.per_stripe("LIKE.DEL", users);
        Self::sum(router.exec(&cmds))
    }

    /// One like per command (`LIKE.ADD stripe user`), as a like button sends them, pipelined per
    /// node. Returns the replies' sum (how many were new).
    pub fn add_each(&self, router: &mut SlotRouter, users: &[u64]) -> RedisResult<i64> {
        let cmds: Vec<(u16, Cmd)> = users
            .iter()
            .map(|&u| {
                let s = self.stripe_of(u);
                let mut c = redis::cmd("LIKE.ADD");
                c.arg(&self.keys[s]).arg(u);
                (self.slots[s], c)
            })
            .collect();
        Self::sum(router.exec(&cmds))
    }

    /// Whether `user` likes the post: `LIKE.HAS` on the user's stripe only.
    pub fn has(&self, router: &mut SlotRouter, user: u64) -> RedisResult<bool> {
        let mut c = redis::cmd("LIKE.HAS");
        c.arg(self.key_for(user)).arg(user);
        let v: i64 = router.query_key(self.key_for(user), c)?;
        Ok(v == 1)
    }

    /// The exact like count: the sum of the N stripes' `LIKE.COUNT`, asked in parallel.
    pub fn count(&self, router: &mut SlotRouter) -> RedisResult<i64> {
        Ok(self.stripe_counts(router)?.iter().sum())
    }

    /// `LIKE.COUNT` of every stripe, in stripe order.
    pub fn stripe_counts(&self, router: &mut SlotRouter) -> RedisResult<Vec<i64>> {
        let cmds: Vec<(u16, Cmd)> = self
            .keys
            .iter()
            .zip(&self.slots)
            .map(|(k, &slot)| {
                let mut c = redis::cmd("LIKE.COUNT");
                c.arg(k);
                (slot, c)
            })
            .collect();
        router.exec(&cmds).into_iter().map(|r| Ok(redis::from_redis_value::<i64>(r?)?)).collect()
    }

    /// Every user who likes the post, ascending: each stripe is paged with
    /// `LIKE.USERS key AFTER u LIMIT page`, then the N sorted lists are merged.
    pub fn all_users(&self, router: &mut SlotRouter, page: usize) -> RedisResult<Vec<u64>> {
        let mut all = Vec::new();
        for key in &self.keys {
            let mut after: Option<u64> = None;
            loop {
                let mut c = redis::cmd("LIKE.USERS");
                c.arg(key);
                if let Some(a) = after {
                    c.arg("AFTER").arg(a);
                }
                c.arg("LIMIT").arg(page);
                let batch: Vec<u64> = router.query_key(key, c)?;
                let done = batch.len() < page;
                after = batch.last().copied().or(after);
                all.extend(batch);
                if done {
                    break;
                }
            }
        }
        all.sort_unstable();
        Ok(all)
    }
}
