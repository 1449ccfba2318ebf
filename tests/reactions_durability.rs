//! Reaction keys (kinds besides `like`) as Redis values: RDB (DEBUG RELOAD, SAVE + restart),
//! AOF (replay of the command stream, rewrite without RDB preamble), DUMP/RESTORE (same and
//! another server), COPY, DEBUG DIGEST-VALUE, a real replica, corrupt RESTORE payloads, and
//! MEMORY USAGE against `used_memory`.
//!
//! Every data set is built through a model (per key: kind -> users) that checks every write's
//! reply, and every state read back is compared with the model, not only with itself.

use like_harness::dump::{self, Field, ModuleValue};
use like_harness::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use redis::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

const MAX_ID: u64 = i64::MAX as u64;
const KINDS_MAX: usize = 16;

type Kind = Vec<u8>;
/// One key's reactions: kind -> its users (kinds disjoint, none empty).
type KeyModel = BTreeMap<Kind, BTreeSet<u64>>;
type Model = BTreeMap<String, KeyModel>;

fn show(kind: &[u8]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

// ------------------------------------------------------------------------------------------
// Client helpers
// ------------------------------------------------------------------------------------------

/// Runs a command: its reply, or the error text. Panics only when the connection is lost.
fn query(c: &mut redis::Connection, cmd: &redis::Cmd) -> Result<Value, String> {
    match cmd.query::<Value>(c) {
        Ok(Value::ServerError(e)) => Err(server_error_text(&e)),
        Ok(v) => Ok(v),
        Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() => {
            panic!("connection lost running {}: {e}", cmd_text(cmd))
        }
        Err(e) => Err(redis_error_text(&e)),
    }
}

fn must(c: &mut redis::Connection, cmd: &redis::Cmd) -> Value {
    query(c, cmd).unwrap_or_else(|e| panic!("{}: {e}", cmd_text(cmd)))
}

fn cmd_text(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            _ => "<cursor>".into(),
        })
        .take(8)
        .collect::<Vec<_>>()
        .join(" ")
}

fn bulk(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// A REACT.COUNTS reply (RESP2 flat array, or a RESP3 map) as (kind, count) pairs.
fn parse_counts(v: &Value) -> Option<Vec<(Kind, i64)>> {
    match v {
        Value::Array(a) if a.len() % 2 == 0 => {
            a.chunks(2).map(|p| Some((bulk(&p[0])?, as_int(&p[1])?))).collect()
        }
        Value::Map(m) => m.iter().map(|(k, n)| Some((bulk(k)?, as_int(n)?))).collect(),
        _ => None,
    }
}

fn react_counts(c: &mut redis::Connection, key: &str) -> Result<Vec<(Kind, i64)>, String> {
    let v = query(c, redis::cmd("REACT.COUNTS").arg(key))?;
    parse_counts(&v).ok_or_else(|| format!("REACT.COUNTS {key}: unexpected reply {v:?}"))
}

/// What REACT.COUNTS must reply for `m`: by count descending, then kind bytewise.
fn expected_counts(m: &KeyModel) -> Vec<(Kind, i64)> {
    let mut v: Vec<(Kind, i64)> =
        m.iter().filter(|(_, s)| !s.is_empty()).map(|(k, s)| (k.clone(), s.len() as i64)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Every user of `kind`, paging REACT.USERS with the largest page; checks they ascend.
fn kind_users(c: &mut redis::Connection, key: &str, kind: &[u8]) -> Result<Vec<u64>, String> {
    let mut out: Vec<u64> = Vec::new();
    loop {
        let mut cmd = redis::cmd("REACT.USERS");
        cmd.arg(key).arg(kind).arg("LIMIT").arg(10_000);
        if let Some(l) = out.last() {
            cmd.arg("AFTER").arg(*l);
        }
        let v = query(c, &cmd)?;
        let page = value_ints(&v).ok_or_else(|| format!("REACT.USERS gave {v:?}"))?;
        for x in &page {
            if *x < 0 {
                return Err(format!("REACT.USERS {key} {} listed {x}", show(kind)));
            }
            let x = *x as u64;
            if out.last().is_some_and(|&l| x <= l) {
                return Err(format!(
                    "REACT.USERS {key} {} not ascending: {} then {x}",
                    show(kind),
                    out.last().unwrap()
                ));
            }
            out.push(x);
        }
        if page.len() < 10_000 {
            return Ok(out);
        }
        if out.len() > 5_000_000 {
            return Err(format!("REACT.USERS {key} {}: paging does not end", show(kind)));
        }
    }
}

/// REACT.GET of each user, pipelined.
fn react_gets(c: &mut redis::Connection, key: &str, users: &[u64]) -> Vec<Option<Kind>> {
    let mut out = Vec::with_capacity(users.len());
    for chunk in users.chunks(500) {
        let mut p = redis::pipe();
        for u in chunk {
            p.cmd("REACT.GET").arg(key).arg(*u);
        }
        let r: Vec<Value> = p.query(c).unwrap_or_else(|e| panic!("REACT.GET {key}: {e}"));
        out.extend(r.iter().map(|v| match v {
            Value::Nil => None,
            other => Some(bulk(other).unwrap_or_else(|| panic!("REACT.GET {key}: {other:?}"))),
        }));
    }
    out
}

fn kind_of(m: &KeyModel, user: u64) -> Option<Kind> {
    m.iter().find(|(_, s)| s.contains(&user)).map(|(k, _)| k.clone())
}

fn dump_key(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    match ok(c, &["DUMP", key]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) -> Result<Value, String> {
    query(c, redis::cmd("RESTORE").arg(key).arg(0).arg(payload))
}

fn db_digest(c: &mut redis::Connection) -> String {
    as_str(&ok(c, &["DEBUG", "DIGEST"])).unwrap()
}

fn keys_of(c: &mut redis::Connection) -> BTreeSet<String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    keys.into_iter().collect()
}

// ------------------------------------------------------------------------------------------
// The version-4 table blob (documented in src/reactions/codec.rs): parsed only to name the
// encodings of a key's kinds and to build structured corruptions.
// ------------------------------------------------------------------------------------------

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

const TABLE_TAG: u8 = 3;

#[derive(Clone, Debug)]
struct TableBlob {
    activity: Vec<u8>,
    kinds: Vec<(Kind, Vec<u8>)>,
}

fn parse_table(blob: &[u8]) -> Option<TableBlob> {
    if blob.first() != Some(&TABLE_TAG) {
        return None;
    }
    let alen = match blob.get(1)? {
        0 => 9,
        1 => 61,
        _ => return None,
    };
    let activity = blob.get(1..1 + alen)?.to_vec();
    let mut pos = 1 + alen;
    let n = get_varint(blob, &mut pos)?;
    let mut kinds = Vec::new();
    for _ in 0..n {
        let nl = *blob.get(pos)? as usize;
        pos += 1;
        let name = blob.get(pos..pos + nl)?.to_vec();
        pos += nl;
        let pl = get_varint(blob, &mut pos)? as usize;
        let payload = blob.get(pos..pos.checked_add(pl)?)?.to_vec();
        pos += pl;
        kinds.push((name, payload));
    }
    (pos == blob.len()).then_some(TableBlob { activity, kinds })
}

/// A table blob declaring `declared` kinds and holding `kinds`.
fn encode_table(activity: &[u8], declared: u64, kinds: &[(Kind, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![TABLE_TAG];
    out.extend_from_slice(activity);
    put_varint(&mut out, declared);
    for (name, payload) in kinds {
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        put_varint(&mut out, payload.len() as u64);
        out.extend_from_slice(payload);
    }
    out
}

const INLINE_NO_ACTIVITY: [u8; 9] = [0; 9];

fn encoding_name(b: u8) -> &'static str {
    match b {
        0 => "list",
        1 => "roaring",
        2 => "elias-fano",
        _ => "?",
    }
}

/// (kind, first byte of its like-set payload: 0 list, 1 roaring, 2 elias-fano) of a key, from
/// its DUMP.
fn kind_encodings(c: &mut redis::Connection, key: &str) -> Vec<(Kind, u8)> {
    let mv = dump::parse(&dump_key(c, key)).expect("parse DUMP");
    let blob = mv.blob().expect("blob");
    match parse_table(blob) {
        Some(t) => t.kinds.iter().map(|(k, p)| (k.clone(), p[0])).collect(),
        None => vec![(b"like".to_vec(), blob[0])],
    }
}

// ------------------------------------------------------------------------------------------
// Writes through the model
// ------------------------------------------------------------------------------------------

/// REACT.ADD semantics on the model: how many users now have `kind` and did not.
fn model_add(m: &mut KeyModel, kind: &[u8], ids: &[u64]) -> i64 {
    let mut n = 0;
    for &id in ids {
        if m.get(kind).is_some_and(|s| s.contains(&id)) {
            continue;
        }
        for s in m.values_mut() {
            s.remove(&id);
        }
        m.entry(kind.to_vec()).or_default().insert(id);
        n += 1;
    }
    m.retain(|_, s| !s.is_empty());
    n
}

struct Writer<'a> {
    c: &'a mut redis::Connection,
    model: Model,
}

impl Writer<'_> {
    /// `REACT.ADD key kind ids...` (or `LIKE.ADD key ids...` when `via_like`), 10,000 IDs per
    /// command, pipelined; the replies must sum to the model's count.
    fn add_via(&mut self, key: &str, kind: &[u8], ids: &[u64], via_like: bool) {
        let want = model_add(self.model.entry(key.to_string()).or_default(), kind, ids);
        let mut got = 0;
        for group in ids.chunks(80_000) {
            let mut p = redis::pipe();
            for chunk in group.chunks(10_000) {
                if via_like {
                    p.cmd("LIKE.ADD").arg(key).arg(chunk);
                } else {
                    p.cmd("REACT.ADD").arg(key).arg(kind).arg(chunk);
                }
            }
            let r: Vec<i64> =
                p.query(self.c).unwrap_or_else(|e| panic!("REACT.ADD {key} {}: {e}", show(kind)));
            got += r.iter().sum::<i64>();
        }
        assert_eq!(
            got,
            want,
            "REACT.ADD {key} {} of {} ids: reply vs model",
            show(kind),
            ids.len()
        );
    }

    fn add(&mut self, key: &str, kind: &[u8], ids: &[u64]) {
        self.add_via(key, kind, ids, false)
    }

    fn set(&mut self, key: &str, user: u64, kind: &[u8]) {
        let m = self.model.entry(key.to_string()).or_default();
        let want = kind_of(m, user);
        model_add(m, kind, &[user]);
        let v = must(self.c, redis::cmd("REACT.SET").arg(key).arg(user).arg(kind));
        let got = match v {
            Value::Nil => None,
            other => Some(bulk(&other).expect("REACT.SET: bulk or nil")),
        };
        assert_eq!(got, want, "REACT.SET {key} {user} {}: previous kind", show(kind));
    }

    fn del(&mut self, key: &str, users: &[u64]) {
        let m = self.model.entry(key.to_string()).or_default();
        let mut want = 0;
        for u in users {
            for s in m.values_mut() {
                if s.remove(u) {
                    want += 1;
                }
            }
        }
        m.retain(|_, s| !s.is_empty());
        if m.is_empty() {
            self.model.remove(key);
        }
        let got = as_int(&must(self.c, redis::cmd("REACT.DEL").arg(key).arg(users))).unwrap();
        assert_eq!(got, want, "REACT.DEL {key} {users:?}");
    }

    /// A write that must be refused (and change nothing).
    fn refused(&mut self, cmd: &redis::Cmd) {
        if let Ok(v) = query(self.c, cmd) {
            panic!("{} should have been refused, got {v:?}", cmd_text(cmd));
        }
    }
}

const FB: [&str; 7] = ["like", "love", "care", "haha", "wow", "sad", "angry"];
const SIXTEEN: [&str; 16] = [
    "👍",
    "👎",
    "❤️",
    "😂",
    "😮",
    "😢",
    "😡",
    "🎉",
    "🔥",
    "up",
    "down",
    "x",
    "🚀🚀🚀🚀🚀🚀🚀🚀",
    "dislike",
    "like",
    "ünïcödé",
];

/// Keys with 2, 7 and 16 kinds (big kinds: 110k dense IDs, 100k random 63-bit IDs, 120k
/// dense IDs past 2^33), emoji and 32-byte kind names, small tables, a table that went back to
/// likes only, a like-only key. Users are moved between kinds along the way.
/// `big`: the big kinds hold 100k+ users (else a tenth of that, for the tests whose code
/// paths do not depend on the size).
fn build_dataset(c: &mut redis::Connection, big: bool) -> Model {
    let div: u64 = if big { 1 } else { 10 };
    let mut rng = StdRng::seed_from_u64(2024);
    let mut w = Writer { c, model: Model::new() };

    // 2 kinds: like (dense: roaring), dislike (sparse, 2^40..2^41); then moves both ways.
    let likes: Vec<u64> = (0..110_000 / div).collect();
    w.add_via("r:2", b"like", &likes, true);
    let dislikes: Vec<u64> = (0..4000).map(|_| rng.gen_range(1u64 << 40..1u64 << 41)).collect();
    w.add("r:2", b"dislike", &dislikes);
    for _ in 0..100 {
        w.set("r:2", rng.gen_range(0..110_000 / div), b"dislike");
    }
    for &u in dislikes.iter().take(50) {
        w.set("r:2", u, b"like");
    }

    // 7 kinds (Facebook): love holds 100k random 63-bit IDs (elias-fano).
    let love: Vec<u64> = (0..100_000 / div).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    w.add("r:7", b"love", &love);
    let like7: Vec<u64> = (0..20_000u64).map(|i| i * 3).collect();
    w.add("r:7", b"like", &like7);
    w.add("r:7", b"care", &[42]);
    w.add("r:7", b"haha", &[1, 2]);
    let wow: Vec<u64> = (0..300u64).map(|i| (1u64 << 32) - 150 + i).collect();
    w.add("r:7", b"wow", &wow);
    let sad: Vec<u64> = (0..17_000).map(|_| rng.gen_range(0..1u64 << 32)).collect();
    w.add("r:7", b"sad", &sad);
    w.add("r:7", b"angry", &[MAX_ID, MAX_ID - 1, MAX_ID - 2, MAX_ID - 1000, 1u64 << 62]);
    for _ in 0..200 {
        let u = love[rng.gen_range(0..love.len())];
        let k = FB[[0, 4, 5, 6][rng.gen_range(0..4)]];
        w.set("r:7", u, k.as_bytes());
    }

    // 16 kinds, emoji names (one of 32 bytes); 🔥 holds 120k dense IDs past 2^33 (roaring).
    let fire: Vec<u64> = (0..120_000 / div).map(|i| (1u64 << 33) + i).collect();
    w.add("r:16", "🔥".as_bytes(), &fire);
    for (i, k) in SIXTEEN.iter().enumerate() {
        if *k == "🔥" {
            continue;
        }
        let n = 2 + i * i * 7;
        let ids: Vec<u64> = (0..n).map(|_| rng.gen_range(0..10_000_000)).collect();
        w.add("r:16", k.as_bytes(), &ids);
    }
    let like16: Vec<u64> = (0..5000u64).map(|i| 20_000_000 + i * 3).collect();
    w.add("r:16", b"like", &like16);
    for _ in 0..150 {
        let u = fire[rng.gen_range(0..fire.len())];
        w.set("r:16", u, SIXTEEN[rng.gen_range(0..16)].as_bytes());
    }

    // Two kinds, none of them `like`.
    let up: Vec<u64> = (0..3000u64).map(|i| (1u64 << 32) + i * 2).collect();
    let down: Vec<u64> = (0..2000u64).map(|i| (1u64 << 32) + i * 2 + 1).collect();
    w.add("r:updown", b"up", &up);
    w.add("r:updown", b"down", &down);

    // Small tables of 2 to 5 kinds.
    let pool = ["like", "dislike", "up", "down", "😀", "👏", "wow", "sad", "+1", "-1"];
    for i in 0..24 {
        let key = format!("r:s:{i}");
        let n = rng.gen_range(2..=5);
        let mut kinds: Vec<&str> = pool.to_vec();
        kinds.shuffle(&mut rng);
        for k in &kinds[..n] {
            let ids: Vec<u64> = (0..rng.gen_range(1..20)).map(|_| rng.gen_range(0..100)).collect();
            w.add(&key, k.as_bytes(), &ids);
        }
        if w.model[&key].len() < 2 {
            w.add(&key, b"zzz", &[1000]);
        }
    }

    // A table whose other kind went away: likes only again.
    let back: Vec<u64> = (1..100).collect();
    w.add_via("r:back", b"like", &back, true);
    w.add("r:back", b"dislike", &[200, 201, 5]);
    w.del("r:back", &[200, 201]);
    w.set("r:back", 5, b"like");

    // Likes only.
    let only: Vec<u64> = (0..1000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    w.add_via("l:only", b"like", &only, true);

    assert_eq!(w.model["r:2"].len(), 2);
    assert_eq!(w.model["r:7"].len(), 7);
    assert_eq!(w.model["r:16"].len(), 16, "r:16 lost a kind: {:?}", w.model["r:16"].keys());
    // The 16-kind key refuses a 17th kind, and that changes nothing.
    w.refused(redis::cmd("REACT.SET").arg("r:16").arg(fire[0]).arg("seventeenth"));
    w.refused(redis::cmd("REACT.ADD").arg("r:16").arg("seventeenth").arg(1).arg(2));
    ok(w.c, &["SET", "plain:string", "unrelated"]);
    w.model
}

// ------------------------------------------------------------------------------------------
// Snapshots: what a key's reactions read back as
// ------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Snap {
    counts: Vec<(Kind, i64)>,
    total: i64,
    likes: i64,
    users: BTreeMap<Kind, Vec<u64>>,
    gets: Vec<Option<Kind>>,
    digest: String,
}

/// Users to REACT.GET for a key: a few of each kind (first, last, random) and absent ones.
fn samples_for(m: &KeyModel, rng: &mut StdRng) -> Vec<u64> {
    let mut out = vec![0, 1, MAX_ID, 1u64 << 32];
    for users in m.values() {
        let v: Vec<u64> = users.iter().copied().collect();
        out.extend(v.iter().take(3));
        out.extend(v.iter().rev().take(3));
        out.extend((0..25).map(|_| v[rng.gen_range(0..v.len())]));
        out.extend(v.iter().take(3).map(|x| x.wrapping_add(1) & MAX_ID));
    }
    out.extend((0..20).map(|_| rng.gen_range(0..=MAX_ID)));
    out
}

fn samples_of(model: &Model) -> BTreeMap<String, Vec<u64>> {
    let mut rng = StdRng::seed_from_u64(77);
    model.iter().map(|(k, m)| (k.clone(), samples_for(m, &mut rng))).collect()
}

fn snapshot(c: &mut redis::Connection, key: &str, samples: &[u64]) -> Snap {
    let counts = react_counts(c, key).unwrap_or_else(|e| panic!("{e}"));
    let mut users = BTreeMap::new();
    for (k, _) in &counts {
        users.insert(k.clone(), kind_users(c, key, k).unwrap_or_else(|e| panic!("{e}")));
    }
    Snap {
        total: int(c, &["REACT.COUNT", key]),
        likes: int(c, &["LIKE.COUNT", key]),
        gets: react_gets(c, key, samples),
        digest: digest_value(c, key),
        counts,
        users,
    }
}

fn snapshot_all(
    c: &mut redis::Connection,
    model: &Model,
    samples: &BTreeMap<String, Vec<u64>>,
) -> BTreeMap<String, Snap> {
    model.keys().map(|k| (k.clone(), snapshot(c, k, &samples[k]))).collect()
}

/// Panics unless `s` reads back exactly the model's reactions.
fn check_model(what: &str, key: &str, s: &Snap, m: &KeyModel, samples: &[u64]) {
    assert_eq!(s.counts, expected_counts(m), "{what}: REACT.COUNTS {key}");
    let total: usize = m.values().map(BTreeSet::len).sum();
    assert_eq!(s.total, total as i64, "{what}: REACT.COUNT {key}");
    assert_eq!(
        s.likes,
        m.get(&b"like"[..]).map_or(0, |l| l.len() as i64),
        "{what}: LIKE.COUNT {key}"
    );
    for (k, users) in m {
        let got = s.users.get(k).map(Vec::as_slice).unwrap_or_default();
        if !got.iter().eq(users.iter()) {
            panic!(
                "{what}: REACT.USERS {key} {}: {} users read, {} in the model (first difference \
                 near {:?})",
                show(k),
                got.len(),
                users.len(),
                got.iter().zip(users.iter()).find(|(a, b)| a != b)
            );
        }
    }
    let want: Vec<Option<Kind>> = samples.iter().map(|&u| kind_of(m, u)).collect();
    assert_eq!(s.gets, want, "{what}: REACT.GET of samples of {key}");
}

fn assert_same(what: &str, before: &BTreeMap<String, Snap>, after: &BTreeMap<String, Snap>) {
    assert_eq!(before.len(), after.len());
    for (k, a) in before {
        let b = &after[k];
        assert_eq!(a.counts, b.counts, "{what}: REACT.COUNTS {k}");
        assert_eq!((a.total, a.likes), (b.total, b.likes), "{what}: REACT.COUNT, LIKE.COUNT {k}");
        for (kind, users) in &a.users {
            assert!(
                b.users.get(kind) == Some(users),
                "{what}: REACT.USERS {k} {} differ ({} before, {:?} after)",
                show(kind),
                users.len(),
                b.users.get(kind).map(Vec::len)
            );
        }
        assert_eq!(a.gets, b.gets, "{what}: REACT.GET samples of {k}");
        assert_eq!(a.digest, b.digest, "{what}: DEBUG DIGEST-VALUE {k}");
    }
}

fn check_all(
    what: &str,
    snaps: &BTreeMap<String, Snap>,
    model: &Model,
    s: &BTreeMap<String, Vec<u64>>,
) {
    assert_eq!(snaps.len(), model.len());
    for (k, m) in model {
        check_model(what, k, &snaps[k], m, &s[k]);
    }
}

/// The big kinds are in a compressed encoding (not a list): else the test does not test them.
fn assert_big_kinds_compressed(c: &mut redis::Connection, what: &str) {
    let mut seen = Vec::new();
    for (key, kind) in [("r:2", "like"), ("r:7", "love"), ("r:16", "🔥")] {
        let enc = kind_encodings(c, key);
        let (_, e) = enc
            .iter()
            .find(|(k, _)| k == kind.as_bytes())
            .unwrap_or_else(|| panic!("{key} has no kind {kind}: {enc:?}"));
        seen.push(format!("{key} {kind}: {}", encoding_name(*e)));
        assert!(
            *e == 1 || *e == 2,
            "{what}: {key} {kind} (100k+ users) is encoded as {} (want roaring or elias-fano)",
            encoding_name(*e)
        );
    }
    println!("{what}: encodings of the big kinds: {}", seen.join(", "));
}

// ------------------------------------------------------------------------------------------
// 1. RDB: DEBUG RELOAD, SAVE + restart
// ------------------------------------------------------------------------------------------

#[test]
fn rdb_reload_and_restart_keep_every_reaction() {
    let t0 = Instant::now();
    let mut srv = Server::start();
    let mut c = srv.conn();
    let model = build_dataset(&mut c, true);
    let samples = samples_of(&model);
    let before = snapshot_all(&mut c, &model, &samples);
    check_all("as written", &before, &model, &samples);
    assert_big_kinds_compressed(&mut c, "as written");
    let d0 = db_digest(&mut c);
    let n0 = int(&mut c, &["DBSIZE"]);

    ok(&mut c, &["DEBUG", "RELOAD"]);
    let after = snapshot_all(&mut c, &model, &samples);
    assert_same("DEBUG RELOAD", &before, &after);
    check_all("DEBUG RELOAD", &after, &model, &samples);
    assert_eq!(db_digest(&mut c), d0, "DEBUG DIGEST across DEBUG RELOAD");
    assert_eq!(int(&mut c, &["DBSIZE"]), n0);
    assert_big_kinds_compressed(&mut c, "after DEBUG RELOAD");

    ok(&mut c, &["SAVE"]);
    drop(c);
    assert!(srv.dir().join("dump.rdb").exists(), "SAVE wrote no dump.rdb");
    srv.restart();
    let mut c = srv.conn();
    let after = snapshot_all(&mut c, &model, &samples);
    assert_same("SAVE + restart", &before, &after);
    check_all("SAVE + restart", &after, &model, &samples);
    assert_eq!(db_digest(&mut c), d0, "DEBUG DIGEST across SAVE + restart");
    assert_eq!(as_str(&ok(&mut c, &["GET", "plain:string"])).unwrap(), "unrelated");

    // Still a working value: the 16-kind key still refuses a 17th kind, and moves users.
    let e = err(&mut c, &["REACT.SET", "r:16", "3", "seventeenth"]);
    assert!(e.starts_with("ERR"), "{e}");
    let u = model["r:16"][&"🔥".as_bytes().to_vec()].iter().next().copied().unwrap();
    let prev = ok(&mut c, &["REACT.SET", "r:16", &u.to_string(), "x"]);
    assert_eq!(bulk(&prev).as_deref(), Some("🔥".as_bytes()));
    assert_eq!(
        int(&mut c, &["REACT.COUNT", "r:16", "🔥"]),
        before["r:16"].users["🔥".as_bytes()].len() as i64 - 1
    );
    println!("rdb_reload_and_restart_keep_every_reaction: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------------------------------
// 2. AOF: replay of the command stream, rewrite without RDB preamble
// ------------------------------------------------------------------------------------------

fn wait_rewrite_done(c: &mut redis::Connection) {
    wait_until(Duration::from_secs(60), "AOF rewrite to finish", || {
        let i = info(c, "persistence");
        i.get("aof_rewrite_in_progress").map(|s| s.as_str()) == Some("0")
            && i.get("aof_rewrite_scheduled").map(|s| s.as_str()) == Some("0")
    });
}

fn aof_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes that switch kinds many times, refused writes and no-op writes.
fn switching_stream(w: &mut Writer<'_>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    // One user switching kind 400 times, among 16 kinds, on a key with a few other users.
    w.add("r:switch", b"like", &[1, 2, 3]);
    for i in 0..400 {
        let k = SIXTEEN[rng.gen_range(0..14)];
        w.set("r:switch", 7, k.as_bytes());
        if i % 50 == 0 {
            w.set("r:switch", 8 + i, SIXTEEN[rng.gen_range(0..16)].as_bytes());
        }
    }
    // A like button pressed on a disliked post, twice; LIKE.DEL of a dislike removes nothing.
    w.add("r:2", b"dislike", &[123_456_789]);
    let t = int(w.c, &["LIKE.TOGGLE", "r:2", "123456789"]);
    assert_eq!(t, 1);
    model_add(w.model.get_mut("r:2").unwrap(), b"like", &[123_456_789]);
    let t = int(w.c, &["LIKE.TOGGLE", "r:2", "123456789"]);
    assert_eq!(t, 0);
    w.model.get_mut("r:2").unwrap().get_mut(&b"like"[..]).unwrap().remove(&123_456_789);
    w.add("r:2", b"dislike", &[123_456_789]);
    assert_eq!(int(w.c, &["LIKE.DEL", "r:2", "123456789"]), 0);
    // No-op writes.
    w.set("r:2", 0, b"like");
    w.add("r:7", b"care", &[42]);
    w.del("r:7", &[MAX_ID - 5]);
    assert_eq!(int(w.c, &["REACT.DEL", "nokey", "1"]), 0);
    // Refused writes.
    w.refused(redis::cmd("REACT.SET").arg("r:16").arg(5).arg("seventeenth"));
    w.refused(redis::cmd("REACT.ADD").arg("r:7").arg("bad kind").arg(5));
    w.refused(redis::cmd("REACT.ADD").arg("r:7").arg("wow").arg(5).arg("-1"));
    // A kind emptied by REACT.SET moves (the key stays a table of the others).
    w.add("r:empty", b"up", &[1, 2]);
    w.add("r:empty", b"down", &[3]);
    w.set("r:empty", 3, b"up");
    w.set("r:empty", 4, b"down");
    // A key deleted with its last reaction, then created again.
    w.add("r:gone", b"wow", &[9]);
    w.del("r:gone", &[9]);
    assert_eq!(int(w.c, &["EXISTS", "r:gone"]), 0);
    w.add("r:gone", "😀".as_bytes(), &[10, 11]);
}

#[test]
fn aof_replay_and_rewrite_keep_every_reaction() {
    let t0 = Instant::now();
    let mut srv = Server::start_with(&[
        ("appendonly", "yes"),
        ("aof-use-rdb-preamble", "no"),
        ("appendfsync", "no"),
    ]);
    let mut c = srv.conn();
    wait_rewrite_done(&mut c);
    let mut model = build_dataset(&mut c, false);
    {
        let mut w = Writer { c: &mut c, model };
        switching_stream(&mut w, 5);
        model = w.model;
    }
    let samples = samples_of(&model);
    let before = snapshot_all(&mut c, &model, &samples);
    check_all("as written", &before, &model, &samples);
    let d0 = db_digest(&mut c);
    drop(c);

    // 1. The command stream replays to the same state.
    srv.restart();
    let mut c = srv.conn();
    let after = snapshot_all(&mut c, &model, &samples);
    assert_same("AOF replay", &before, &after);
    check_all("AOF replay", &after, &model, &samples);
    assert_eq!(db_digest(&mut c), d0, "DEBUG DIGEST after AOF replay");
    assert_eq!(keys_of(&mut c).len(), model.len() + 1);

    // 2. BGREWRITEAOF (LIKE.ADD and REACT.ADD per kind), then restart from the rewritten file.
    let rewrites0: i64 = info(&mut c, "persistence")["aof_rewrites"].parse().unwrap();
    ok(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    let i = info(&mut c, "persistence");
    assert_eq!(i["aof_last_bgrewrite_status"], "ok", "{i:?}");
    assert!(i["aof_rewrites"].parse::<i64>().unwrap() > rewrites0, "no rewrite happened: {i:?}");
    let files = aof_files(srv.dir());
    let base = files
        .iter()
        .find(|p| p.to_string_lossy().contains(".base."))
        .unwrap_or_else(|| panic!("no base AOF file in {files:?}"));
    let text = std::fs::read(base).unwrap();
    assert!(text.starts_with(b"*"), "the base AOF is not in AOF (command) format");
    let lower = String::from_utf8_lossy(&text).to_lowercase();
    let (n_like, n_react) = (lower.matches("like.add").count(), lower.matches("react.add").count());
    let other_kinds: usize =
        model.values().map(|m| m.keys().filter(|k| k.as_slice() != b"like").count()).sum();
    let like_kinds = model.values().filter(|m| m.contains_key(&b"like"[..])).count();
    println!(
        "rewritten base AOF: {} bytes, {n_like} LIKE.ADD, {n_react} REACT.ADD ({like_kinds} keys \
         with likes, {other_kinds} other kinds)",
        text.len()
    );
    assert!(n_like >= like_kinds, "fewer LIKE.ADD than keys with likes");
    assert!(n_react >= other_kinds, "fewer REACT.ADD than kinds other than like");
    for k in SIXTEEN {
        assert!(
            text.windows(k.len()).any(|w| w == k.as_bytes()),
            "kind {k} does not appear in the rewritten AOF"
        );
    }
    // Writes after the rewrite go to the incremental file.
    {
        let mut w = Writer { c: &mut c, model };
        for i in 0..200u64 {
            w.set("r:16", 77_000_000 + i % 7, SIXTEEN[(i % 16) as usize].as_bytes());
        }
        w.del("r:7", &[42]);
        w.add("r:2", "👎".as_bytes(), &[1, 2, 3]);
        model = w.model;
    }
    let samples = samples_of(&model);
    let before = snapshot_all(&mut c, &model, &samples);
    let d1 = db_digest(&mut c);
    drop(c);
    srv.restart();
    let mut c = srv.conn();
    let after = snapshot_all(&mut c, &model, &samples);
    assert_same("AOF rewrite + restart", &before, &after);
    check_all("AOF rewrite + restart", &after, &model, &samples);
    assert_eq!(db_digest(&mut c), d1, "DEBUG DIGEST after AOF rewrite + restart");
    println!("aof_replay_and_rewrite_keep_every_reaction: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------------------------------
// 3. DUMP/RESTORE, COPY, DEBUG DIGEST-VALUE
// ------------------------------------------------------------------------------------------

#[test]
fn dump_restore_copy_and_digest_cover_kinds() {
    let t0 = Instant::now();
    let srv = Server::start();
    let other = Server::start();
    let mut c = srv.conn();
    let mut o = other.conn();
    let model = build_dataset(&mut c, false);
    let samples = samples_of(&model);
    let before = snapshot_all(&mut c, &model, &samples);

    // DUMP/RESTORE into another key, and into the same and another key on another server.
    let rdb_version = server_rdb_version(&mut c);
    for k in model.keys() {
        let payload = dump_key(&mut c, k);
        let mv = dump::parse(&payload).unwrap_or_else(|e| panic!("DUMP {k}: {e}"));
        assert_eq!(mv.rdb_version, rdb_version, "DUMP {k}: RDB version");
        assert_eq!(mv.type_name(), "like-sets", "DUMP {k}: module type");
        let is_table = model[k].keys().any(|kind| kind.as_slice() != b"like");
        assert_eq!(
            parse_table(mv.blob().unwrap()).is_some(),
            is_table,
            "DUMP {k}: a table blob exactly for keys with kinds other than like"
        );
        if is_table {
            assert_eq!(mv.encver(), 4, "DUMP {k}: a table is written in encoding version 4");
        }
        let copy = format!("copy:{k}");
        for (on_other, name) in [(false, copy.as_str()), (true, k.as_str()), (true, copy.as_str())]
        {
            let conn = if on_other { &mut o } else { &mut c };
            restore(conn, name, &payload).unwrap_or_else(|e| panic!("RESTORE {name}: {e}"));
            let s = snapshot(conn, name, &samples[k]);
            check_model(&format!("RESTORE {k} as {name}"), name, &s, &model[k], &samples[k]);
            assert_eq!(s.digest, before[k].digest, "RESTORE {k} as {name}: digest");
        }
        let e = restore(&mut c, &copy, &payload).unwrap_err();
        assert!(e.contains("BUSYKEY"), "RESTORE onto an existing key: {e}");
    }
    // RESTORE REPLACE over a key of another type.
    let payload = dump_key(&mut c, "r:7");
    must(&mut c, redis::cmd("RESTORE").arg("plain:string").arg(0).arg(&payload).arg("REPLACE"));
    assert_eq!(react_counts(&mut c, "plain:string").unwrap(), before["r:7"].counts);

    // COPY: the copy and the original are independent.
    for src in ["r:7", "r:2", "r:updown", "r:16"] {
        let dst = format!("{src}:copy");
        assert_eq!(int(&mut c, &["COPY", src, &dst]), 1);
        let s = snapshot(&mut c, &dst, &samples[src]);
        check_model(&format!("COPY {src}"), &dst, &s, &model[src], &samples[src]);
        assert_eq!(s.digest, before[src].digest);
        let mut w = Writer { c: &mut c, model: Model::new() };
        w.model.insert(dst.clone(), model[src].clone());
        // Change the copy: moves, removals, a new kind where there is room.
        let users: Vec<u64> = model[src].values().flat_map(|s| s.iter().take(3)).copied().collect();
        let kinds: Vec<Kind> = model[src].keys().cloned().collect();
        for (i, &u) in users.iter().enumerate() {
            w.set(&dst, u, &kinds[(i + 1) % kinds.len()]);
        }
        w.del(&dst, &users[..2]);
        if kinds.len() < KINDS_MAX {
            w.add(&dst, "🆕".as_bytes(), &[555, 556]);
        }
        let changed = w.model.remove(&dst).unwrap();
        let s = snapshot(&mut c, src, &samples[src]);
        assert_eq!(s, before[src], "changing the copy {dst} changed {src}");
        // Change the original: the copy keeps its state.
        let copy_before = snapshot(&mut c, &dst, &samples[src]);
        check_model("the changed copy", &dst, &copy_before, &changed, &samples[src]);
        let mut w = Writer { c: &mut c, model: Model::new() };
        w.model.insert(src.to_string(), model[src].clone());
        for (i, &u) in users.iter().enumerate().skip(2) {
            w.set(src, u, &kinds[(i + 2) % kinds.len()]);
        }
        w.del(src, &users[2..4]);
        let src_now = w.model.remove(src).unwrap();
        assert_eq!(
            snapshot(&mut c, &dst, &samples[src]),
            copy_before,
            "changing {src} changed {dst}"
        );
        // Put the original back (for the digest checks below): COPY REPLACE from copy:<src>.
        assert_eq!(int(&mut c, &["COPY", &format!("copy:{src}"), src, "REPLACE"]), 1);
        let s = snapshot(&mut c, src, &samples[src]);
        assert_eq!(s, before[src], "COPY REPLACE back");
        assert_ne!(src_now, model[src]);
    }

    // DEBUG DIGEST-VALUE covers the kinds: the same users with one in another kind digest
    // differently; the same reactions reached in another order digest the same.
    let mut w = Writer { c: &mut c, model: Model::new() };
    w.add("d:a", b"like", &[1, 2, 3]);
    w.add("d:a", b"dislike", &[4, 5]);
    w.add("d:b", b"like", &[1, 2]);
    w.add("d:b", b"dislike", &[3, 4, 5]);
    w.add("d:c", b"love", &[1, 2, 3]);
    w.add("d:c", b"dislike", &[4, 5]);
    // d:a again, in another order, through moves and a detour kind.
    w.add("d:a2", b"dislike", &[5, 3]);
    w.set("d:a2", 4, b"wow");
    w.add("d:a2", b"like", &[2, 1, 3]);
    w.set("d:a2", 4, b"dislike");
    // likes only, and a table that went back to likes only
    w.add("d:l", b"like", &[1, 2, 3]);
    w.add("d:l2", b"up", &[1, 2, 3, 9]);
    w.add("d:l2", b"like", &[3, 2, 1]);
    w.del("d:l2", &[9]);
    let d = |c: &mut redis::Connection, k: &str| digest_value(c, k);
    let (da, db, dc, da2) = (d(w.c, "d:a"), d(w.c, "d:b"), d(w.c, "d:c"), d(w.c, "d:a2"));
    assert_ne!(da, db, "user 3 liking vs disliking: same digest");
    assert_ne!(da, dc, "the same users under another kind name: same digest");
    assert_eq!(da, da2, "the same reactions in another order digest differently");
    assert_eq!(d(w.c, "d:l"), d(w.c, "d:l2"), "a table back to likes only vs likes only");
    assert_ne!(da, d(w.c, "d:l"));
    // Big keys: r:7 rebuilt kind by kind in reverse order, users shuffled, in other chunks.
    let mut rng = StdRng::seed_from_u64(9);
    for (kind, users) in model["r:7"].iter().rev() {
        let mut v: Vec<u64> = users.iter().copied().collect();
        v.shuffle(&mut rng);
        for chunk in v.chunks(3333) {
            w.add("d:r7", kind, chunk);
        }
    }
    assert_eq!(d(w.c, "d:r7"), before["r:7"].digest, "r:7 rebuilt in another order");
    let u = *model["r:7"][&b"love"[..]].iter().nth(500).unwrap();
    w.set("d:r7", u, b"like");
    assert_ne!(d(w.c, "d:r7"), before["r:7"].digest, "one user moved from love to like");
    w.set("d:r7", u, b"love");
    assert_eq!(d(w.c, "d:r7"), before["r:7"].digest, "and moved back");
    println!("dump_restore_copy_and_digest_cover_kinds: {:.1} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------------------------------
// 4. A real replica
// ------------------------------------------------------------------------------------------

fn assert_replica_equal(p: &mut redis::Connection, r: &mut redis::Connection, when: &str) -> usize {
    assert_eq!(int(p, &["WAIT", "1", "10000"]), 1, "{when}: WAIT 1: the replica did not ack");
    let (kp, kr) = (keys_of(p), keys_of(r));
    assert_eq!(kp, kr, "{when}: key sets differ between master and replica");
    for k in &kp {
        let cp = react_counts(p, k).unwrap();
        assert_eq!(cp, react_counts(r, k).unwrap(), "{when}: REACT.COUNTS {k}");
        assert!(!cp.is_empty(), "{when}: {k} exists with no reaction");
        assert_eq!(digest_value(p, k), digest_value(r, k), "{when}: DEBUG DIGEST-VALUE {k}");
        for (kind, n) in &cp {
            if *n <= 2000 {
                let up = kind_users(p, k, kind).unwrap();
                assert_eq!(
                    up.len() as i64,
                    *n,
                    "{when}: REACT.USERS {k} {} vs its count",
                    show(kind)
                );
                assert_eq!(
                    up,
                    kind_users(r, k, kind).unwrap(),
                    "{when}: REACT.USERS {k} {}",
                    show(kind)
                );
            }
        }
    }
    assert_eq!(db_digest(p), db_digest(r), "{when}: DEBUG DIGEST");
    kp.len()
}

fn repl_offset(c: &mut redis::Connection) -> i64 {
    info(c, "replication")["master_repl_offset"].parse().unwrap()
}

#[test]
fn replica_converges_after_random_reaction_writes() {
    let t0 = Instant::now();
    let seed = 4711u64;
    println!("replication: seed {seed}");
    let primary = Server::start_with(&[
        ("repl-diskless-sync-delay", "0"),
        ("repl-ping-replica-period", "3600"),
    ]);
    let mut p = primary.conn();
    let mut rng = StdRng::seed_from_u64(seed);
    let kinds: Vec<String> = ["like", "dislike", "up", "down", "❤️", "😂", "🔥"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..13).map(|i| format!("k{i}")))
        .collect();
    // Before the replica attaches (full sync: tables travel in the RDB).
    let mut w = Writer { c: &mut p, model: Model::new() };
    let dense: Vec<u64> = (0..50_000).collect();
    w.add("big", b"like", &dense);
    let sparse: Vec<u64> = (0..30_000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    w.add("big", b"dislike", &sparse);
    for (i, k) in kinds.iter().take(16).enumerate() {
        w.add("sixteen", k.as_bytes(), &[i as u64 * 10, i as u64 * 10 + 1]);
    }
    for i in 0..20 {
        for _ in 0..rng.gen_range(1..6) {
            let k = &kinds[rng.gen_range(0..kinds.len())];
            w.set(&format!("k:{i}"), rng.gen_range(0..30), k.as_bytes());
        }
    }
    drop(w);
    let replica = Server::start();
    let mut r = replica.conn();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &primary.port().to_string()]);
    wait_until(Duration::from_secs(20), "replica link up", || {
        info(&mut r, "replication").get("master_link_status").map(|s| s.as_str()) == Some("up")
    });
    assert_replica_equal(&mut p, &mut r, "after the full sync");

    // A random write stream, refused and no-op writes included.
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let gen_user = |rng: &mut StdRng| -> u64 {
        match rng.gen_range(0..10) {
            0..=6 => rng.gen_range(0..40),
            7 => rng.gen_range(MAX_ID - 3..=MAX_ID),
            8 => (1u64 << 32) + rng.gen_range(0..5),
            _ => rng.gen_range(0..=MAX_ID),
        }
    };
    for i in 0..4000 {
        let key = match rng.gen_range(0..10) {
            0 => "sixteen".to_string(),
            1 => "big".to_string(),
            _ => format!("k:{}", rng.gen_range(0..30)),
        };
        let kind = kinds[rng.gen_range(0..kinds.len())].clone();
        let u = gen_user(&mut rng);
        let cmd = match rng.gen_range(0..100) {
            0..=29 => {
                let mut c = redis::cmd("REACT.SET");
                c.arg(&key).arg(u).arg(&kind);
                c
            }
            30..=44 => {
                let mut c = redis::cmd("REACT.ADD");
                c.arg(&key).arg(&kind);
                for _ in 0..rng.gen_range(1..6) {
                    c.arg(gen_user(&mut rng));
                }
                c
            }
            45..=59 => {
                let mut c = redis::cmd("REACT.DEL");
                c.arg(&key);
                for _ in 0..rng.gen_range(1..4) {
                    c.arg(gen_user(&mut rng));
                }
                c
            }
            60..=69 => {
                let mut c = redis::cmd("LIKE.ADD");
                c.arg(&key).arg(u).arg(gen_user(&mut rng));
                c
            }
            70..=76 => {
                let mut c = redis::cmd("LIKE.DEL");
                c.arg(&key).arg(u);
                c
            }
            77..=86 => {
                let mut c = redis::cmd("LIKE.TOGGLE");
                c.arg(&key).arg(u);
                c
            }
            87..=89 => {
                // refused: bad kind name or bad user
                let mut c = redis::cmd("REACT.SET");
                c.arg(&key).arg(u).arg(["bad kind", "", "\x01"][rng.gen_range(0..3)]);
                c
            }
            90..=91 => {
                let mut c = redis::cmd("REACT.ADD");
                c.arg(&key).arg(&kind).arg(u).arg("007");
                c
            }
            _ => {
                // bulk: a range of users moved into a kind of "big", or out of it
                let base = rng.gen_range(0..60_000u64);
                let ids: Vec<u64> = (base..base + rng.gen_range(100..3000)).collect();
                let mut c;
                if rng.gen_bool(0.7) {
                    c = redis::cmd("REACT.ADD");
                    c.arg("big").arg(&kinds[rng.gen_range(0..4)]);
                } else {
                    c = redis::cmd("REACT.DEL");
                    c.arg("big");
                }
                c.arg(ids);
                c
            }
        };
        match query(&mut p, &cmd) {
            Ok(Value::Int(0)) => *tally.entry("no-op (0)").or_default() += 1,
            Ok(_) => *tally.entry("ok").or_default() += 1,
            Err(e) if e.contains("kinds") => *tally.entry("refused: 17th kind").or_default() += 1,
            Err(_) => *tally.entry("refused: bad argument").or_default() += 1,
        }
        if i % 1000 == 999 {
            assert_replica_equal(&mut p, &mut r, &format!("after {} writes", i + 1));
        }
    }
    println!("replication: write outcomes {tally:?}");
    assert!(
        tally.get("refused: 17th kind").copied().unwrap_or(0) > 0,
        "no write hit the kind limit"
    );
    let n = assert_replica_equal(&mut p, &mut r, "at the end");

    // Writes that change nothing, or are refused, are not propagated.
    ok(&mut p, &["REACT.ADD", "np", "dislike", "1", "2"]);
    ok(&mut p, &["REACT.SET", "np", "3", "like"]);
    // 16 kinds, `like` not among them: two users each (user 0 and 1 dislike, 10 and 11 up...)
    for (i, k) in kinds[1..17].iter().enumerate() {
        ok(&mut p, &["REACT.ADD", "np16", k, &(i * 10).to_string(), &(i * 10 + 1).to_string()]);
    }
    assert_replica_equal(&mut p, &mut r, "before the no-op writes");
    let cases: Vec<Vec<&str>> = vec![
        vec!["REACT.SET", "np", "1", "dislike"],
        vec!["REACT.ADD", "np", "dislike", "1", "2", "2"],
        vec!["REACT.ADD", "np", "like", "3"],
        vec!["LIKE.ADD", "np", "3"],
        vec!["REACT.DEL", "np", "99"],
        vec!["REACT.DEL", "missing", "1"],
        vec!["LIKE.DEL", "np", "1"],
        vec!["LIKE.DEL", "np", "4"],
        vec!["REACT.SET", "np16", "1", "k13"],
        vec!["REACT.ADD", "np16", "k13", "500"],
        vec!["LIKE.ADD", "np16", "21"],
        vec!["REACT.SET", "np", "1", "bad kind"],
        vec!["REACT.ADD", "np", "up", "5", "-1"],
        vec!["REACT.GET", "np", "1"],
        vec!["REACT.COUNTS", "np16"],
        vec!["REACT.STATUS", "1", "np", "np16"],
        vec!["REACT.USERS", "np16", "like"],
    ];
    for args in &cases {
        let before = repl_offset(&mut p);
        let _ = q(&mut p, args);
        let after = repl_offset(&mut p);
        assert_eq!(
            before,
            after,
            "{args:?} advanced master_repl_offset by {} bytes",
            after - before
        );
    }
    // A kind whose last user moves frees its place: the move into a 17th name is taken then.
    let before = repl_offset(&mut p);
    let prev = ok(&mut p, &["REACT.SET", "np16", "0", "up"]);
    assert_eq!(bulk(&prev).as_deref(), Some(&b"dislike"[..]));
    let prev = ok(&mut p, &["REACT.SET", "np16", "1", "k13"]);
    assert_eq!(bulk(&prev).as_deref(), Some(&b"dislike"[..]));
    assert!(repl_offset(&mut p) > before, "a real REACT.SET did not advance the offset");
    let counts = react_counts(&mut p, "np16").unwrap();
    assert_eq!(counts.len(), 16, "{counts:?}");
    assert!(counts.iter().any(|(k, n)| k == b"k13" && *n == 1), "{counts:?}");
    assert!(!counts.iter().any(|(k, _)| k == b"dislike"), "{counts:?}");
    // LIKE.TOGGLE on the full key: a like would be a 17th kind.
    let e = err(&mut p, &["LIKE.TOGGLE", "np16", "20"]);
    assert!(e.starts_with("ERR"), "{e}");
    assert_replica_equal(&mut p, &mut r, "after the no-op writes");
    let e = err(&mut r, &["REACT.SET", "np", "1", "up"]);
    assert!(e.starts_with("READONLY"), "{e}");
    println!(
        "replica_converges_after_random_reaction_writes: {n} keys, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------------------
// 5. Corrupt and truncated RESTORE payloads of reaction keys
// ------------------------------------------------------------------------------------------

fn valid_kind_name(k: &[u8]) -> bool {
    (1..=32).contains(&k.len()) && k.iter().all(|&b| b != b' ' && !b.is_ascii_control())
}

struct Fuzz {
    c: redis::Connection,
    n: usize,
    accepted: usize,
    refused: usize,
    errors: BTreeMap<String, usize>,
    failures: Vec<String>,
    digests: usize,
}

impl Fuzz {
    /// RESTOREs a payload: Some(key) when it loaded.
    fn load(&mut self, desc: &str, payload: &[u8]) -> Option<String> {
        self.n += 1;
        let key = format!("fz:{}", self.n);
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&key).arg(0).arg(payload);
        let res = match cmd.query::<Value>(&mut self.c) {
            Ok(Value::ServerError(e)) => Err(server_error_text(&e)),
            Ok(_) => Ok(()),
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                panic!(
                    "connection lost on RESTORE of {desc} ({} bytes, first 64: {:02x?}): {e}",
                    payload.len(),
                    &payload[..payload.len().min(64)]
                )
            }
            Err(e) => Err(redis_error_text(&e)),
        };
        if self.n.is_multiple_of(100) {
            assert_eq!(as_str(&ok(&mut self.c, &["PING"])).as_deref(), Some("PONG"));
        }
        match res {
            Ok(()) => {
                self.accepted += 1;
                Some(key)
            }
            Err(e) => {
                self.refused += 1;
                *self.errors.entry(e.chars().take(90).collect()).or_default() += 1;
                None
            }
        }
    }

    fn done(&mut self, key: &str) {
        let _ = q(&mut self.c, &["DEL", key, &format!("{key}:r")]);
    }

    /// Refused, or loaded as a sane value.
    fn try_payload(&mut self, desc: &str, payload: &[u8]) {
        if let Some(key) = self.load(desc, payload) {
            if let Err(why) = self.check_sane(&key) {
                self.failures.push(format!("{desc}: loaded a value that misbehaves: {why}"));
            }
            self.done(&key);
        }
    }

    /// Must be refused (a corrupt payload that the decoder can tell).
    fn expect_refused(&mut self, desc: &str, payload: &[u8]) {
        if let Some(key) = self.load(desc, payload) {
            let read = self.check_sane(&key);
            self.failures.push(format!(
                "{desc}: should have been refused, loaded as {}",
                match read {
                    Ok(m) => format!(
                        "{:?}",
                        m.iter().map(|(k, s)| (show(k), s.len())).collect::<Vec<_>>()
                    ),
                    Err(e) => format!("a value that misbehaves: {e}"),
                }
            ));
            self.done(&key);
        }
    }

    /// Must load, with exactly `want`.
    fn expect_loaded(&mut self, desc: &str, payload: &[u8], want: &KeyModel) {
        let Some(key) = self.load(desc, payload) else {
            self.failures.push(format!("{desc}: a valid payload was refused"));
            return;
        };
        match self.check_sane(&key) {
            Ok(m) if m == *want => {}
            Ok(m) => self.failures.push(format!(
                "{desc}: loaded {:?}, want {:?}",
                m.iter().map(|(k, s)| (show(k), s.len())).collect::<Vec<_>>(),
                want.iter().map(|(k, s)| (show(k), s.len())).collect::<Vec<_>>()
            )),
            Err(e) => self.failures.push(format!("{desc}: loaded a value that misbehaves: {e}")),
        }
        self.done(&key);
    }

    /// Reads a loaded key whole and checks it is a sane value; returns what it holds.
    fn check_sane(&mut self, key: &str) -> Result<KeyModel, String> {
        let c = &mut self.c;
        let counts = react_counts(c, key)?;
        if counts.is_empty() {
            return Err("an existing key with no reaction (REACT.COUNTS empty)".into());
        }
        if counts.len() > KINDS_MAX {
            return Err(format!("{} kinds", counts.len()));
        }
        let names: HashSet<&Kind> = counts.iter().map(|(k, _)| k).collect();
        if names.len() != counts.len() {
            return Err(format!("a kind listed twice in REACT.COUNTS {counts:?}"));
        }
        if let Some((k, _)) = counts.iter().find(|(k, _)| !valid_kind_name(k)) {
            return Err(format!("invalid kind name {k:02x?}"));
        }
        if counts.iter().any(|(_, n)| *n <= 0) {
            return Err(format!("a kind without users: {counts:?}"));
        }
        if !counts.windows(2).all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)) {
            return Err(format!("REACT.COUNTS not ordered: {counts:?}"));
        }
        let sum: i64 = counts.iter().map(|(_, n)| n).sum();
        if sum > 3_000_000 {
            return Err(format!("implausible count {sum}"));
        }
        let total = query(c, redis::cmd("REACT.COUNT").arg(key)).map(|v| as_int(&v));
        if total != Ok(Some(sum)) {
            return Err(format!("REACT.COUNT {total:?}, REACT.COUNTS sum to {sum}"));
        }
        let info = query(c, redis::cmd("REACT.INFO").arg(key))?;
        let m = info_value_to_map(&info);
        if m.get("count").and_then(field_int) != Some(sum)
            || m.get("kinds").and_then(field_int) != Some(counts.len() as i64)
        {
            return Err(format!("REACT.INFO {info:?} vs {} kinds, {sum} reactions", counts.len()));
        }
        let mut model = KeyModel::new();
        let mut owner: HashMap<u64, usize> = HashMap::new();
        for (i, (kind, n)) in counts.iter().enumerate() {
            let one = query(c, redis::cmd("REACT.COUNT").arg(key).arg(kind)).map(|v| as_int(&v));
            if one != Ok(Some(*n)) {
                return Err(format!(
                    "REACT.COUNT {key} {}: {one:?}, REACT.COUNTS says {n}",
                    show(kind)
                ));
            }
            let users = kind_users(c, key, kind)?;
            if users.len() as i64 != *n {
                return Err(format!(
                    "REACT.USERS {}: {} users, count {n}",
                    show(kind),
                    users.len()
                ));
            }
            if let Some(u) = users.iter().find(|&&u| u > MAX_ID) {
                return Err(format!("user {u} past 2^63-1"));
            }
            for &u in &users {
                if let Some(j) = owner.insert(u, i) {
                    return Err(format!(
                        "user {u} in two kinds: {} and {}",
                        show(&counts[j].0),
                        show(kind)
                    ));
                }
            }
            model.insert(kind.clone(), users.into_iter().collect());
        }
        let likes = model.get(&b"like"[..]).map_or(0, |s| s.len() as i64);
        if int(c, &["LIKE.COUNT", key]) != likes || ints(c, &["LIKE.MCOUNT", key]) != vec![likes] {
            return Err(format!("LIKE.COUNT/MCOUNT vs {likes} likes"));
        }
        // REACT.GET and LIKE.HAS of a sample of users, and of absent ones.
        let mut rng = StdRng::seed_from_u64(sum as u64);
        let all: Vec<u64> = owner.keys().copied().collect();
        let mut sample: Vec<u64> = if all.len() <= 300 {
            all.clone()
        } else {
            (0..300).map(|_| all[rng.gen_range(0..all.len())]).collect()
        };
        let absent: Vec<u64> = sample
            .iter()
            .take(50)
            .flat_map(|&u| [u.wrapping_add(1) & MAX_ID, u.wrapping_sub(1) & MAX_ID])
            .filter(|u| !owner.contains_key(u))
            .collect();
        sample.extend(&absent);
        let got = react_gets(c, key, &sample);
        for (u, g) in sample.iter().zip(&got) {
            let want = owner.get(u).map(|&i| counts[i].0.clone());
            if *g != want {
                return Err(format!("REACT.GET {u}: {g:?}, REACT.USERS says {want:?}"));
            }
        }
        let mut p = redis::pipe();
        for u in &sample {
            p.cmd("LIKE.HAS").arg(key).arg(*u);
        }
        let has: Vec<i64> = p.query(c).map_err(|e| format!("LIKE.HAS: {e}"))?;
        for (u, h) in sample.iter().zip(&has) {
            let want = owner.get(u).is_some_and(|&i| counts[i].0 == b"like") as i64;
            if *h != want {
                return Err(format!("LIKE.HAS {u}: {h}, want {want}"));
            }
        }
        let u = sample[0];
        let st = query(c, redis::cmd("REACT.STATUS").arg(u).arg(key))?;
        let want_st = Value::Array(vec![Value::Array(vec![
            Value::Int(sum),
            owner.get(&u).map_or(Value::Nil, |&i| Value::BulkString(counts[i].0.clone())),
            Value::Array(
                counts
                    .iter()
                    .flat_map(|(k, n)| [Value::BulkString(k.clone()), Value::Int(*n)])
                    .collect(),
            ),
        ])]);
        if st != want_st {
            return Err(format!("REACT.STATUS {u}: {st:?}, want {want_st:?}"));
        }
        let rate = query(c, redis::cmd("REACT.RATE").arg(key))?;
        match value_ints(&rate).as_deref() {
            Some([m, h]) if 0 <= *m && m <= h => {}
            _ => return Err(format!("REACT.RATE {rate:?}")),
        }
        query(c, redis::cmd("MEMORY").arg("USAGE").arg(key))?;
        // DUMP/RESTORE of it gives the same value.
        // DEBUG DIGEST-VALUE costs about a microsecond per user: big values only sometimes.
        self.digests += 1;
        let d1 = (sum <= 2000 || self.digests.is_multiple_of(16)).then(|| digest_value(c, key));
        let payload = match query(c, redis::cmd("DUMP").arg(key))? {
            Value::BulkString(b) => b,
            other => return Err(format!("DUMP: {other:?}")),
        };
        let k2 = format!("{key}:r");
        restore(c, &k2, &payload).map_err(|e| format!("re-RESTORE of its own DUMP: {e}"))?;
        if react_counts(c, &k2)? != counts {
            return Err("REACT.COUNTS differ after DUMP/RESTORE".into());
        }
        if let Some(d1) = d1 {
            if digest_value(c, &k2) != d1 {
                return Err("digest differs after DUMP/RESTORE".into());
            }
        }
        // Writes behave: a new user, moved, removed; a member removed.
        let fresh = (1..=MAX_ID).step_by(1 << 40).find(|u| !owner.contains_key(u)).unwrap();
        let (k0, n0) = &counts[0];
        let r = query(c, redis::cmd("REACT.SET").arg(key).arg(fresh).arg(k0))?;
        if r != Value::Nil {
            return Err(format!("REACT.SET of a new user: {r:?}"));
        }
        let n = query(c, redis::cmd("REACT.COUNT").arg(key).arg(k0)).map(|v| as_int(&v));
        if n != Ok(Some(n0 + 1)) {
            return Err(format!("REACT.COUNT after REACT.SET: {n:?}, want {}", n0 + 1));
        }
        if let Some((k1, _)) = counts.get(1) {
            let r = query(c, redis::cmd("REACT.SET").arg(key).arg(fresh).arg(k1))?;
            if bulk(&r).as_ref() != Some(k0) {
                return Err(format!("REACT.SET moving a user: {r:?}, want {}", show(k0)));
            }
        }
        let r = query(c, redis::cmd("REACT.DEL").arg(key).arg(fresh).arg(all[0]))?;
        if r != Value::Int(2) {
            return Err(format!("REACT.DEL of two users: {r:?}"));
        }
        let t = query(c, redis::cmd("REACT.COUNT").arg(key)).map(|v| as_int(&v));
        if t != Ok(Some(sum - 1)) {
            return Err(format!("REACT.COUNT after the writes: {t:?}, want {}", sum - 1));
        }
        Ok(model)
    }
}

/// A key holding only `users` in the kind `p` (a one-kind table): the payload of that set as a
/// table writes it (no activity).
fn kind_payload(c: &mut redis::Connection, name: &str, users: &[u64]) -> Vec<u8> {
    let key = format!("part:{name}");
    for chunk in users.chunks(10_000) {
        must(c, redis::cmd("REACT.ADD").arg(&key).arg("p").arg(chunk));
    }
    let mv = dump::parse(&dump_key(c, &key)).unwrap();
    let t = parse_table(mv.blob().unwrap())
        .unwrap_or_else(|| panic!("{key}: a one-kind table is not a table blob"));
    assert_eq!(t.kinds.len(), 1);
    ok(c, &["DEL", &key]);
    t.kinds[0].1.clone()
}

/// Disjoint random sets of several shapes (a few IDs, a packed run, a dense range, thousands of
/// sparse 63-bit IDs), as tables, and the same with one user put in two kinds: the disjoint
/// ones load exactly, every overlap is refused, wherever it lies (first, last, middle ID).
fn random_tables(fz: &mut Fuzz, c: &mut redis::Connection, tiny: &ModuleValue, rng: &mut StdRng) {
    let t0 = Instant::now();
    let (n0, a0) = (fz.n, fz.accepted);
    for case in 0..24 {
        let k = rng.gen_range(2..=5);
        let mut used: HashSet<u64> = HashSet::new();
        let mut sets: Vec<Vec<u64>> = Vec::new();
        for i in 0..k {
            let mut ids: Vec<u64> = match rng.gen_range(0..10) {
                0..=3 => (0..rng.gen_range(1..40)).map(|_| rng.gen_range(0..1000)).collect(),
                4..=5 => {
                    let base = rng.gen_range(0..1u64 << 40);
                    (0..rng.gen_range(50..3000)).map(|j| base + j * rng.gen_range(1..4)).collect()
                }
                6..=7 => {
                    let base = (i as u64 + 1) << 36;
                    (base..base + rng.gen_range(17_000..25_000)).collect()
                }
                _ => {
                    (0..rng.gen_range(17_000..20_000)).map(|_| rng.gen_range(0..=MAX_ID)).collect()
                }
            };
            ids.retain(|u| used.insert(*u));
            if ids.is_empty() {
                ids.push(MAX_ID - i as u64);
                used.insert(MAX_ID - i as u64);
            }
            ids.sort_unstable();
            sets.push(ids);
        }
        let names: Vec<Kind> = (0..k).map(|i| format!("k{i}").into_bytes()).collect();
        let pieces: Vec<Vec<u8>> = sets
            .iter()
            .enumerate()
            .map(|(i, s)| kind_payload(c, &format!("rt{case}:{i}"), s))
            .collect();
        let encs: Vec<&str> = pieces.iter().map(|p| encoding_name(p[0])).collect();
        let total: u64 = sets.iter().map(|s| s.len() as u64).sum();
        let payload = |pieces: &[Vec<u8>], total: u64| -> Vec<u8> {
            let kinds: Vec<(Kind, Vec<u8>)> =
                names.iter().cloned().zip(pieces.iter().cloned()).collect();
            let blob = encode_table(&INLINE_NO_ACTIVITY, k as u64, &kinds);
            ModuleValue { fields: vec![Field::Uint(total), Field::Str(blob)], ..tiny.clone() }
                .to_payload()
        };
        let want: KeyModel =
            names.iter().cloned().zip(sets.iter().map(|s| s.iter().copied().collect())).collect();
        fz.expect_loaded(&format!("random table {case} {encs:?}"), &payload(&pieces, total), &want);
        // One user of kind i also in kind j.
        let i = rng.gen_range(0..k);
        let j = (i + rng.gen_range(1..k)) % k;
        let from = &sets[i];
        let (at, u) = match rng.gen_range(0..3) {
            0 => ("first", from[0]),
            1 => ("last", *from.last().unwrap()),
            _ => ("a middle", from[rng.gen_range(0..from.len())]),
        };
        let mut bad = sets[j].clone();
        bad.push(u);
        let mut pieces2 = pieces.clone();
        pieces2[j] = kind_payload(c, &format!("rt{case}:bad"), &bad);
        fz.expect_refused(
            &format!("random table {case} {encs:?}: the {at} user of k{i} also in k{j}"),
            &payload(&pieces2, total + 1),
        );
    }
    println!(
        "random tables: {} payloads ({} loaded) in {:.2} s",
        fz.n - n0,
        fz.accepted - a0,
        t0.elapsed().as_secs_f64()
    );
}

/// Random corruptions of one payload: truncations, bit flips, byte changes, appended bytes,
/// the count field, the field layout and the encoding version, the framing.
fn variants_for(fz: &mut Fuzz, name: &str, payload: &[u8], rng: &mut StdRng, exhaustive: bool) {
    let mv = dump::parse(payload).unwrap();
    let blob = mv.blob().unwrap().clone();
    let body = mv.body();
    let bl = blob.len();
    let (n0, a0, t0) = (fz.n, fz.accepted, Instant::now());
    fz.try_payload(&format!("{name}: re-framed original"), &mv.to_payload());
    let cuts: Vec<usize> = if exhaustive {
        (0..bl).collect()
    } else {
        let mut v: Vec<usize> = (0..48).chain(bl.saturating_sub(48)..bl).collect();
        v.extend((0..60).map(|_| rng.gen_range(0..bl)));
        v
    };
    for n in cuts {
        fz.try_payload(
            &format!("{name}: blob truncated to {n}/{bl}"),
            &mv.with_blob(blob[..n].to_vec()).to_payload(),
        );
    }
    let flips: Vec<(usize, u8)> = if exhaustive {
        (0..bl).flat_map(|i| (0..8).map(move |b| (i, b))).collect()
    } else {
        let mut v: Vec<(usize, u8)> =
            (0..bl.min(24)).flat_map(|i| (0..8).map(move |b| (i, b))).collect();
        v.extend((0..150).map(|_| (rng.gen_range(0..bl), rng.gen_range(0..8))));
        v
    };
    for (i, bit) in flips {
        let mut b = blob.clone();
        b[i] ^= 1 << bit;
        fz.try_payload(
            &format!("{name}: blob bit {bit} of byte {i} flipped"),
            &mv.with_blob(b).to_payload(),
        );
    }
    let sets: Vec<(usize, u8)> = if exhaustive {
        (0..bl).flat_map(|i| [(i, 0u8), (i, 0xff), (i, 0x80), (i, 0x7f)]).collect()
    } else {
        (0..60)
            .map(|_| {
                (rng.gen_range(0..bl), [0u8, 0xff, 0x80, 3, 16, 17, rng.gen()][rng.gen_range(0..7)])
            })
            .collect()
    };
    for (i, v) in sets {
        let mut b = blob.clone();
        if b[i] == v {
            continue;
        }
        b[i] = v;
        fz.try_payload(
            &format!("{name}: blob byte {i} := {v:#04x}"),
            &mv.with_blob(b).to_payload(),
        );
    }
    for _ in 0..if exhaustive { 100 } else { 30 } {
        let mut b = blob.clone();
        let i = rng.gen_range(0..bl);
        let n = rng.gen_range(1..=16).min(bl - i);
        for x in &mut b[i..i + n] {
            *x = rng.gen();
        }
        fz.try_payload(
            &format!("{name}: blob bytes {i}..{} randomized", i + n),
            &mv.with_blob(b).to_payload(),
        );
    }
    for extra in [1usize, 2, 9, 100] {
        let mut b = blob.clone();
        b.extend((0..extra).map(|_| rng.gen::<u8>()));
        fz.expect_refused(
            &format!("{name}: blob + {extra} random bytes"),
            &mv.with_blob(b).to_payload(),
        );
        let mut b = blob.clone();
        b.extend(std::iter::repeat_n(0u8, extra));
        fz.expect_refused(
            &format!("{name}: blob + {extra} zero bytes"),
            &mv.with_blob(b).to_payload(),
        );
    }
    fz.expect_refused(
        &format!("{name}: blob doubled"),
        &mv.with_blob([blob.clone(), blob.clone()].concat()).to_payload(),
    );
    // The count field (reactions of every kind).
    let Some(Field::Uint(cnt)) = mv.fields.first().cloned() else { panic!("{name}: first field") };
    for bad in [0, cnt - 1, cnt + 1, cnt * 2, u64::MAX, 1 << 63] {
        let mut m2 = mv.clone();
        m2.fields[0] = Field::Uint(bad);
        fz.expect_refused(&format!("{name}: count {cnt} -> {bad}"), &m2.to_payload());
    }
    for (what, fields) in [
        ("no fields", vec![]),
        ("blob only", vec![Field::Str(blob.clone())]),
        ("count only", vec![Field::Uint(cnt)]),
        ("fields reversed", vec![Field::Str(blob.clone()), Field::Uint(cnt)]),
        ("count as SINT", vec![Field::Sint(cnt as i64), Field::Str(blob.clone())]),
        ("count as DOUBLE", vec![Field::Double(cnt as f64), Field::Str(blob.clone())]),
    ] {
        let m2 = ModuleValue { fields, ..mv.clone() };
        fz.try_payload(&format!("{name}: {what}"), &m2.to_payload());
    }
    // A table under the like-set codec's versions (v2 and v3 know no kind 3; v1 has no kind
    // byte, so a table might read as some v1 list), and unknown versions.
    fz.try_payload(&format!("{name}: encver 4 -> 1"), &mv.with_encver(1).to_payload());
    for ev in [0u64, 2, 3, 5, 1023] {
        fz.expect_refused(&format!("{name}: encver 4 -> {ev}"), &mv.with_encver(ev).to_payload());
    }
    // The framing: every truncation of a small body, bit flips in the head.
    let cuts: Vec<usize> = if exhaustive {
        (1..body.len()).collect()
    } else {
        (1..32).chain(body.len() - 32..body.len()).collect()
    };
    for n in cuts {
        fz.try_payload(
            &format!("{name}: body truncated to {n}/{}", body.len()),
            &dump::frame(&body[..n], mv.rdb_version),
        );
    }
    for i in 1..body.len().min(20) {
        for bit in 0..8 {
            let mut b = body.clone();
            b[i] ^= 1 << bit;
            fz.try_payload(
                &format!("{name}: body bit {bit} of byte {i} flipped"),
                &dump::frame(&b, mv.rdb_version),
            );
        }
    }
    println!(
        "{name}: {} variants, {} loaded (sane-checked), {:.2} s, blob {bl} bytes",
        fz.n - n0,
        fz.accepted - a0,
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn corrupt_reaction_payloads_are_refused_or_sane() {
    let t0 = Instant::now();
    let mut srv = Server::start();
    let mut c = srv.conn();
    let mut rng = StdRng::seed_from_u64(0xBADC0DE);
    let mut w = Writer { c: &mut c, model: Model::new() };
    // Sources: a tiny table (exhaustive), 7 kinds of every encoding, 16 emoji kinds, and
    // a table with a big elias-fano kind.
    w.add("tiny", b"like", &[1, 2]);
    w.add("tiny", b"dislike", &[3]);
    w.add("seven", b"like", &(0..6000).collect::<Vec<u64>>());
    w.add("seven", b"love", &(0..3000).map(|_| rng.gen_range(0..=MAX_ID)).collect::<Vec<u64>>());
    w.add("seven", b"care", &[MAX_ID]);
    w.add("seven", b"haha", &[1u64 << 40, 1u64 << 41]);
    w.add("seven", b"wow", &(0..300u64).map(|i| (1u64 << 32) - 150 + i).collect::<Vec<u64>>());
    w.add("seven", b"sad", &(0..500).map(|_| rng.gen_range(0..1u64 << 32)).collect::<Vec<u64>>());
    w.add("seven", b"angry", &[MAX_ID - 1, MAX_ID - 7, 5u64 << 50, 1u64 << 62, 3u64 << 61]);
    for (i, k) in SIXTEEN.iter().enumerate() {
        let ids: Vec<u64> = (0..1 + i as u64 * 2).map(|j| 1000 * i as u64 + j).collect();
        w.add("sixteen", k.as_bytes(), &ids);
    }
    w.add("ef", b"like", &(0..100).map(|_| rng.gen_range(0..=MAX_ID)).collect::<Vec<u64>>());
    w.add("ef", b"dislike", &(0..2000).map(|_| rng.gen_range(0..1u64 << 50)).collect::<Vec<u64>>());
    let sources = w.model.clone();
    drop(w);
    let mut payloads = Vec::new();
    for (name, m) in &sources {
        let p = dump_key(&mut c, name);
        let mv = dump::parse(&p).unwrap();
        let t = parse_table(mv.blob().unwrap()).expect("a table blob");
        let total: usize = m.values().map(BTreeSet::len).sum();
        assert_eq!(mv.fields.len(), 2, "{name}: [UINT count, STRING blob]");
        assert_eq!(mv.fields[0], Field::Uint(total as u64), "{name}: the count of every kind");
        println!(
            "{name}: {} kinds ({}), payload {} bytes",
            t.kinds.len(),
            t.kinds
                .iter()
                .map(|(k, p)| format!("{} {}", show(k), encoding_name(p[0])))
                .collect::<Vec<_>>()
                .join(", "),
            p.len()
        );
        payloads.push((name.clone(), p));
    }
    let mut fz = Fuzz {
        c: srv.conn(),
        n: 0,
        accepted: 0,
        refused: 0,
        errors: BTreeMap::new(),
        failures: Vec::new(),
        digests: 0,
    };
    for (name, p) in &payloads {
        variants_for(&mut fz, name, p, &mut rng, name == "tiny");
        srv.assert_alive();
    }

    // Structured corruptions, from the pieces of real payloads.
    let tiny = dump::parse(&payloads.iter().find(|(n, _)| n == "tiny").unwrap().1).unwrap();
    let table = |declared: u64, kinds: &[(&[u8], &Vec<u8>)], total: u64| -> Vec<u8> {
        let kinds: Vec<(Kind, Vec<u8>)> =
            kinds.iter().map(|(k, p)| (k.to_vec(), (*p).clone())).collect();
        let blob = encode_table(&INLINE_NO_ACTIVITY, declared, &kinds);
        ModuleValue { fields: vec![Field::Uint(total), Field::Str(blob)], ..tiny.clone() }
            .to_payload()
    };
    let ef_a: Vec<u64> = (0..20_000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    let mut ef_b: Vec<u64> = ef_a[..100].to_vec();
    ef_b.extend((0..100).map(|_| rng.gen_range(0..=MAX_ID)));
    let ef_c: Vec<u64> = (0..20_000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    let mut ef_d: Vec<u64> = (0..20_000).map(|_| rng.gen_range(0..=MAX_ID)).collect();
    ef_d.push(15);
    let sets: Vec<(&str, Vec<u64>)> = vec![
        ("dense", (0..20_000).collect()),
        ("dense2", (10_000..30_000).collect()),
        ("dense3", ((1u64 << 30)..(1u64 << 30) + 20_000).collect()),
        ("list_a", vec![5, 30_000_000, MAX_ID]),
        ("list_b", vec![6, 7]),
        ("list_c", vec![40_000_000_000]),
        ("ef_a", ef_a),
        ("ef_b", ef_b),
        ("ef_c", ef_c),
        ("ef_d", ef_d),
        ("single", vec![77]),
    ];
    let mut piece: HashMap<&str, (Vec<u8>, BTreeSet<u64>)> = HashMap::new();
    for (name, users) in &sets {
        piece.insert(name, (kind_payload(&mut c, name, users), users.iter().copied().collect()));
    }
    let encs: Vec<String> =
        sets.iter().map(|(n, _)| format!("{n} {}", encoding_name(piece[n].0[0]))).collect();
    println!("pieces: {}", encs.join(", "));
    let size = |names: &[&str]| -> u64 { names.iter().map(|n| piece[n].1.len() as u64).sum() };
    // Two kinds sharing a user: refused, whatever the encodings and order.
    for combo in [
        vec!["dense", "dense2"],
        vec!["dense", "list_a"],
        vec!["list_a", "dense"],
        vec!["list_b", "ef_a", "dense"],
        vec!["ef_a", "ef_b"],
        vec!["ef_b", "ef_a"],
        vec!["list_c", "ef_a", "ef_b"],
        vec!["dense", "ef_d"],
        vec!["ef_d", "list_c", "dense"],
        vec!["dense3", "single", "dense2", "dense"],
    ] {
        let names: Vec<Vec<u8>> = (0..combo.len()).map(|i| format!("k{i}").into_bytes()).collect();
        let kinds: Vec<(&[u8], &Vec<u8>)> =
            combo.iter().zip(&names).map(|(p, n)| (n.as_slice(), &piece[p].0)).collect();
        fz.expect_refused(
            &format!("overlapping kinds {combo:?}"),
            &table(combo.len() as u64, &kinds, size(&combo)),
        );
    }
    // Disjoint kinds: loaded, exactly.
    for combo in [
        vec!["dense", "dense3"],
        vec!["dense", "list_c", "ef_a"],
        vec!["ef_a", "ef_c", "single"],
        vec!["list_a", "list_b", "list_c", "single", "dense3"],
    ] {
        let names: Vec<Vec<u8>> = (0..combo.len()).map(|i| format!("k{i}").into_bytes()).collect();
        let kinds: Vec<(&[u8], &Vec<u8>)> =
            combo.iter().zip(&names).map(|(p, n)| (n.as_slice(), &piece[p].0)).collect();
        let want: KeyModel =
            combo.iter().zip(&names).map(|(p, n)| (n.clone(), piece[p].1.clone())).collect();
        fz.expect_loaded(
            &format!("disjoint kinds {combo:?}"),
            &table(combo.len() as u64, &kinds, size(&combo)),
            &want,
        );
    }
    // One kind `like` only: a like-only value.
    let want: KeyModel = [(b"like".to_vec(), piece["dense"].1.clone())].into();
    fz.expect_loaded(
        "a table of like only",
        &table(1, &[(b"like", &piece["dense"].0)], 20_000),
        &want,
    );
    let want: KeyModel = [(b"up".to_vec(), piece["list_a"].1.clone())].into();
    fz.expect_loaded("a table of one kind", &table(1, &[(b"up", &piece["list_a"].0)], 3), &want);
    // 16 kinds load, 17 are refused (disjoint one-user kinds).
    let singles: Vec<(Kind, Vec<u8>, u64)> = (0..17u64)
        .map(|i| {
            let name = format!("s{i}");
            (name.clone().into_bytes(), kind_payload(&mut c, &name, &[i * 1000 + 1]), i * 1000 + 1)
        })
        .collect();
    let kinds16: Vec<(&[u8], &Vec<u8>)> =
        singles[..16].iter().map(|(n, p, _)| (n.as_slice(), p)).collect();
    let want: KeyModel = singles[..16].iter().map(|(n, _, u)| (n.clone(), [*u].into())).collect();
    fz.expect_loaded("16 kinds", &table(16, &kinds16, 16), &want);
    let kinds17: Vec<(&[u8], &Vec<u8>)> =
        singles.iter().map(|(n, p, _)| (n.as_slice(), p)).collect();
    fz.expect_refused("17 kinds", &table(17, &kinds17, 17));
    fz.expect_refused("17 kinds declared 16", &table(16, &kinds17, 17));
    fz.expect_refused("16 kinds declared 17", &table(17, &kinds16, 16));
    fz.expect_refused("0 kinds", &table(0, &[], 0));
    fz.expect_refused("0 kinds, count 1", &table(0, &[], 1));
    fz.expect_refused("1 kind declared, none present", &table(1, &[], 1));
    // Duplicate names, bad names.
    fz.expect_refused(
        "a kind name twice",
        &table(2, &[(b"up", &piece["list_a"].0), (b"up", &piece["list_c"].0)], 4),
    );
    let long = vec![b'a'; 33];
    for (what, name) in [
        ("an empty kind name", &b""[..]),
        ("a kind name with a space", b"a b"),
        ("a kind name with a control byte", b"a\x01"),
        ("a kind name with DEL", b"\x7f"),
        ("a kind name with NUL", b"a\x00b"),
        ("a kind name of 33 bytes", &long),
    ] {
        fz.expect_refused(
            what,
            &table(2, &[(name, &piece["list_a"].0), (b"ok", &piece["list_c"].0)], 4),
        );
    }
    // A kind payload that holds its own activity (a like-only key's payload), or no user.
    ok(&mut c, &["LIKE.ADD", "lk", "5", "6"]);
    let lk = dump::parse(&dump_key(&mut c, "lk")).unwrap().blob().unwrap().clone();
    fz.expect_refused(
        "a kind with its own activity",
        &table(2, &[(b"up", &lk), (b"down", &piece["list_c"].0)], 3),
    );
    let empty_list = [vec![0u8], INLINE_NO_ACTIVITY.to_vec(), vec![0, 2]].concat();
    fz.expect_refused(
        "an empty kind",
        &table(2, &[(b"up", &empty_list), (b"down", &piece["list_c"].0)], 1),
    );
    // Lengths that do not match.
    let mut longer = piece["list_a"].0.clone();
    longer.push(0);
    fz.expect_refused(
        "a kind payload with a trailing byte",
        &table(2, &[(b"up", &longer), (b"down", &piece["list_c"].0)], 4),
    );
    let good = table(2, &[(b"up", &piece["list_a"].0), (b"down", &piece["list_c"].0)], 4);
    let want: KeyModel = [
        (b"up".to_vec(), piece["list_a"].1.clone()),
        (b"down".to_vec(), piece["list_c"].1.clone()),
    ]
    .into();
    fz.expect_loaded("a crafted valid table", &good, &want);
    // The same with the activity of a real table (recent reactions recorded).
    let real = parse_table(tiny.blob().unwrap()).unwrap();
    let blob = encode_table(
        &real.activity,
        2,
        &[
            (b"up".to_vec(), piece["list_a"].0.clone()),
            (b"down".to_vec(), piece["list_c"].0.clone()),
        ],
    );
    let m2 = ModuleValue { fields: vec![Field::Uint(4), Field::Str(blob)], ..tiny.clone() };
    fz.expect_loaded("a crafted valid table with recorded activity", &m2.to_payload(), &want);
    // The key's activity in its ring form: loads when the minute stripes lie within the hour's.
    let with_activity = |activity: &[u8]| -> Vec<u8> {
        let kinds = [
            (b"up".to_vec(), piece["list_a"].0.clone()),
            (b"down".to_vec(), piece["list_c"].0.clone()),
        ];
        let blob = encode_table(activity, 2, &kinds);
        ModuleValue { fields: vec![Field::Uint(4), Field::Str(blob)], ..tiny.clone() }.to_payload()
    };
    let rings = |last: u32, minute: [u32; 7], hour: [u32; 7]| -> Vec<u8> {
        let mut a = vec![1u8];
        a.extend_from_slice(&last.to_le_bytes());
        for v in minute.iter().chain(&hour) {
            a.extend_from_slice(&v.to_le_bytes());
        }
        a
    };
    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 10) as u32;
    for (what, a) in [
        ("rings", rings(now, [1, 2, 0, 0, 0, 0, 3], [6, 0, 0, 0, 0, 0, 9])),
        ("rings, all zero", rings(0, [0; 7], [0; 7])),
        ("rings from the future", rings(u32::MAX, [0; 7], [1; 7])),
    ] {
        fz.expect_loaded(&format!("a table with activity {what}"), &with_activity(&a), &want);
    }
    let minute_past_hour = rings(now, [5, 0, 0, 0, 0, 0, 0], [4, 0, 0, 0, 0, 0, 0]);
    fz.expect_refused(
        "activity: minute stripes past the hour's",
        &with_activity(&minute_past_hour),
    );
    let mut inline = vec![0u8];
    inline.extend_from_slice(&now.to_le_bytes());
    inline.extend_from_slice(&(1u32 << 31).to_le_bytes());
    fz.expect_refused("activity: an inline count past 2^31-1", &with_activity(&inline));
    fz.expect_refused("activity: an unknown form", &with_activity(&[2, 0, 0, 0, 0, 0, 0, 0, 0]));
    for total in [3u64, 5, 0] {
        fz.expect_refused(
            &format!("a count of {total} for 4 reactions"),
            &table(2, &[(b"up", &piece["list_a"].0), (b"down", &piece["list_c"].0)], total),
        );
    }
    // The like-set blob of a like-only key stays loadable under version 4.
    let lk_mv = dump::parse(&dump_key(&mut c, "lk")).unwrap();
    fz.expect_loaded(
        "a like-only payload",
        &lk_mv.to_payload(),
        &[(b"like".to_vec(), [5, 6].into())].into(),
    );
    random_tables(&mut fz, &mut c, &tiny, &mut rng);
    // Blobs of random bytes after a table header.
    for i in 0..300 {
        let mut b = vec![TABLE_TAG];
        if rng.gen_bool(0.7) {
            b.extend_from_slice(&INLINE_NO_ACTIVITY);
            b.push(rng.gen_range(0..20));
        }
        let len = rng.gen_range(0..60);
        b.extend((0..len).map(|_| rng.gen::<u8>()));
        let cnt = rng.gen_range(0..10);
        let m2 = ModuleValue { fields: vec![Field::Uint(cnt), Field::Str(b)], ..tiny.clone() };
        fz.try_payload(&format!("random table blob #{i}"), &m2.to_payload());
    }
    srv.assert_alive();
    // The sources are intact.
    for (name, m) in &sources {
        let s = snapshot(&mut c, name, &[]);
        check_model("after the fuzzing", name, &s, m, &[]);
    }
    println!(
        "corrupt reactions: {} variants: {} refused, {} loaded, {} failures; {:.1} s",
        fz.n,
        fz.refused,
        fz.accepted,
        fz.failures.len(),
        t0.elapsed().as_secs_f64()
    );
    for (e, n) in fz.errors.iter().take(20) {
        println!("  {n:5}  {e}");
    }
    assert!(
        fz.failures.is_empty(),
        "{} of {} corrupt payloads misbehave:\n{}",
        fz.failures.len(),
        fz.n,
        fz.failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// 6. MEMORY USAGE against used_memory
// ------------------------------------------------------------------------------------------

/// MEMORY USAGE of reaction keys sums to the growth of `used_memory` within 10%, for keys of
/// 2, 7 and 16 kinds. Each shape is written from its own connection, closed before measuring,
/// so that its buffers are not counted.
#[test]
fn memory_usage_of_reaction_keys_matches_used_memory() {
    let t0 = Instant::now();
    let srv = Server::start();
    let mut probe = srv.conn();
    let clients = |c: &mut redis::Connection| -> i64 {
        info(c, "clients")["connected_clients"].parse().unwrap()
    };
    let mut rng = StdRng::seed_from_u64(31);
    let shapes: [(&str, usize, &[&str], usize); 3] = [
        ("like/dislike keys of 1000 users (600/400)", 2000, &["like", "dislike"], 1000),
        ("7-kind keys of 1000 users", 300, &FB, 1000),
        ("16-kind keys (emoji) of 800 users", 200, &SIXTEEN, 800),
    ];
    let mut bad = Vec::new();
    for (si, (what, keys, kinds, users)) in shapes.iter().enumerate() {
        let u0 = used_memory(&mut probe);
        {
            let mut wc = srv.conn();
            for group in (0..*keys).collect::<Vec<_>>().chunks(20) {
                let mut p = redis::pipe();
                for &i in group {
                    let ids: Vec<u64> = (0..*users).map(|_| rng.gen_range(0..1u64 << 32)).collect();
                    // like/dislike 600/400; other shapes: users spread evenly over the kinds
                    let cuts: Vec<usize> = if kinds.len() == 2 {
                        vec![0, users * 6 / 10, *users]
                    } else {
                        (0..=kinds.len()).map(|k| k * users / kinds.len()).collect()
                    };
                    for (k, kind) in kinds.iter().enumerate() {
                        p.cmd("REACT.ADD")
                            .arg(format!("mem:{si}:{i}"))
                            .arg(*kind)
                            .arg(&ids[cuts[k]..cuts[k + 1]])
                            .ignore();
                    }
                }
                let () = p.query(&mut wc).unwrap();
            }
        }
        wait_until(Duration::from_secs(10), "the writing connection to close", || {
            clients(&mut probe) == 1
        });
        let u1 = used_memory(&mut probe);
        let mut mu = 0i64;
        for group in (0..*keys).collect::<Vec<_>>().chunks(500) {
            let mut p = redis::pipe();
            for i in group {
                p.cmd("MEMORY").arg("USAGE").arg(format!("mem:{si}:{i}"));
            }
            let r: Vec<i64> = p.query(&mut probe).unwrap();
            mu += r.iter().sum::<i64>();
        }
        let n = react_counts(&mut probe, &format!("mem:{si}:0")).unwrap().len();
        assert_eq!(n, kinds.len(), "{what}: kinds of mem:{si}:0");
        let delta = u1 - u0;
        let ratio = mu as f64 / delta as f64;
        println!(
            "MEMORY USAGE of {keys} {what}: sum {mu} bytes, used_memory grew {delta} bytes: \
             ratio {ratio:.3}"
        );
        if !(0.9..=1.1).contains(&ratio) {
            bad.push(format!(
                "{keys} {what}: MEMORY USAGE sums to {mu} bytes but used_memory grew {delta} \
                 bytes (ratio {ratio:.3})"
            ));
        }
    }
    println!(
        "memory_usage_of_reaction_keys_matches_used_memory: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(bad.is_empty(), "MEMORY USAGE is not within 10% of the real heap:\n{}", bad.join("\n"));
}
