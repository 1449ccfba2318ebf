//! Golden DUMP payloads: real payloads of every encoding the module has
//! written, frozen under `tests/fixtures/dump/` (see the README there). Each
//! is RESTOREd into a fresh key and checked ID by ID against the tiny recipe
//! in `MANIFEST.txt` that describes its content (through the LIKE commands
//! and, kind by kind, the REACT commands); then DEBUG RELOAD must keep every
//! key equal. A change to the decoder that breaks any payload ever written
//! fails here.
//!
//! Never regenerate a fixture to make this test pass: the files are the
//! compatibility promise. New encoding versions get new files.

use like_harness::dump;
use like_harness::*;
use redis::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const MAX_ID: u64 = 9_223_372_036_854_775_807;
/// The module's encodings, as LIKE.INFO names them.
const ENCODINGS: [&str; 4] = ["single", "packed", "roaring", "elias-fano"];
/// The manifest's `encoding` of a reaction table (and LIKE.INFO's / REACT.INFO's for such a key).
const TABLE: &str = "table";
/// The fixture families (name prefixes), one test each.
const FAMILIES: [&str; 6] = ["single", "packed", "roaring", "eliasfano", "v1", "table"];
/// The first encoding version with reaction tables.
const TABLE_ENCVER: u64 = 4;
/// Most kinds a key holds (SPEC.md).
const KINDS_MAX: usize = 16;
/// The RDB version the fixtures were captured with (Redis 7.0.15).
const CAPTURED_RDB_VERSION: u16 = 10;

// ---------------------------------------------------------------- recipes --

/// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference `splitmix64.c`).
/// Implemented here, not taken from a crate, so the streams never change.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Evaluates a recipe: the sorted, deduplicated union of its parts.
///
/// ```text
/// recipe := part ('+' part)*
/// part   := 'range:' START ':' COUNT          START, START+1, ..., START+COUNT-1
///         | 'step:' START ':' STEP ':' COUNT  START, START+STEP, ..., COUNT terms
///         | 'splitmix:' SEED ':' COUNT ':' BITS
///               COUNT distinct IDs below 2^BITS (1 <= BITS <= 63): SplitMix64
///               seeded with SEED, each output's top BITS bits (x >> (64-BITS)),
///               duplicates skipped, until COUNT distinct IDs are drawn
///         | 'list:' ID (',' ID)*
/// ```
/// Numbers are decimal u64. Every ID must be at most 2^63-1.
pub fn recipe_ids(recipe: &str) -> Result<Vec<u64>, String> {
    let mut set = BTreeSet::new();
    for part in recipe.split('+') {
        let (kind, rest) =
            part.split_once(':').ok_or_else(|| format!("recipe part {part:?}: no ':'"))?;
        let nums = |n: usize| -> Result<Vec<u64>, String> {
            let v: Vec<u64> = rest
                .split(':')
                .map(|x| x.parse::<u64>().map_err(|e| format!("recipe part {part:?}: {x:?}: {e}")))
                .collect::<Result<_, _>>()?;
            if v.len() != n {
                return Err(format!("recipe part {part:?}: expected {n} numbers, got {}", v.len()));
            }
            Ok(v)
        };
        match kind {
            "range" => {
                let v = nums(2)?;
                for i in 0..v[1] {
                    set.insert(v[0].checked_add(i).ok_or_else(|| format!("{part:?}: overflow"))?);
                }
            }
            "step" => {
                let v = nums(3)?;
                for i in 0..v[2] {
                    let id = i.checked_mul(v[1]).and_then(|d| d.checked_add(v[0]));
                    set.insert(id.ok_or_else(|| format!("{part:?}: overflow"))?);
                }
            }
            "splitmix" => {
                let v = nums(3)?;
                let (seed, count, bits) = (v[0], v[1], v[2]);
                if !(1..=63).contains(&bits) {
                    return Err(format!("{part:?}: BITS must be 1..=63"));
                }
                if bits < 63 && count > (1u64 << bits) / 2 {
                    return Err(format!("{part:?}: COUNT too large for BITS"));
                }
                let mut rng = SplitMix64(seed);
                let mut drawn = BTreeSet::new();
                while (drawn.len() as u64) < count {
                    drawn.insert(rng.next_u64() >> (64 - bits));
                }
                set.extend(drawn);
            }
            "list" => {
                for x in rest.split(',') {
                    set.insert(x.parse::<u64>().map_err(|e| format!("{part:?}: {x:?}: {e}"))?);
                }
            }
            other => return Err(format!("unknown recipe kind {other:?} in {part:?}")),
        }
    }
    if let Some(&m) = set.iter().next_back() {
        if m > MAX_ID {
            return Err(format!("recipe {recipe:?}: id {m} above 2^63-1"));
        }
    }
    Ok(set.into_iter().collect())
}

// --------------------------------------------------------------- manifest --

#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: String,
    pub encver: u64,
    /// For encoding version 2 and later, the encoding the payload holds (and
    /// the value loads as), or `table` for a reaction table. For version 1,
    /// informational only: the encoding the capturing build chose when loading it.
    pub encoding: String,
    /// The IDs (a like-only payload), or the table's kinds (see [`table_kinds`]).
    pub recipe: String,
}

/// One kind of a fixture: its name, the encoding its set is written in, its recipe.
#[derive(Clone, Debug)]
pub struct KindRecipe {
    pub name: Vec<u8>,
    pub encoding: String,
    pub recipe: String,
}

impl Fixture {
    pub fn is_table(&self) -> bool {
        self.encoding == TABLE
    }

    /// The fixture's kinds, in the payload's order: a like-only payload is the one kind `like`.
    pub fn kinds(&self) -> Vec<KindRecipe> {
        if self.is_table() {
            table_kinds(&self.recipe)
                .unwrap_or_else(|e| panic!("fixture {}: table recipe: {e}", self.name))
        } else {
            vec![KindRecipe {
                name: b"like".to_vec(),
                encoding: self.encoding.clone(),
                recipe: self.recipe.clone(),
            }]
        }
    }
}

/// Parses a table's recipe: `KIND=ENCODING=RECIPE` parts joined by `/` (names with no
/// `=` or `/`), in the payload's order.
pub fn table_kinds(recipe: &str) -> Result<Vec<KindRecipe>, String> {
    let mut out: Vec<KindRecipe> = Vec::new();
    for part in recipe.split('/') {
        let mut fields = part.splitn(3, '=');
        let (Some(name), Some(encoding), Some(recipe)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("kind {part:?}: expected KIND=ENCODING=RECIPE"));
        };
        if name.is_empty()
            || name.len() > 32
            || name.bytes().any(|b| b == b' ' || b.is_ascii_control())
        {
            return Err(format!("kind {part:?}: not a valid kind name"));
        }
        if !ENCODINGS.contains(&encoding) {
            return Err(format!("kind {part:?}: unknown encoding {encoding:?}"));
        }
        if out.iter().any(|k| k.name == name.as_bytes()) {
            return Err(format!("kind {name:?} twice"));
        }
        out.push(KindRecipe {
            name: name.as_bytes().to_vec(),
            encoding: encoding.to_string(),
            recipe: recipe.to_string(),
        });
    }
    if out.len() < 2 && out.iter().all(|k| k.name == b"like") {
        return Err("a table holds a kind other than `like`".into());
    }
    if out.len() > KINDS_MAX {
        return Err(format!("{} kinds, more than {KINDS_MAX}", out.len()));
    }
    Ok(out)
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join("dump")
}

pub fn manifest() -> Vec<Fixture> {
    let path = fixtures_dir().join("MANIFEST.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<Fixture> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f.len(),
            4,
            "MANIFEST.txt line {}: expected `name encver encoding recipe`: {line:?}",
            n + 1
        );
        let fx = Fixture {
            name: f[0].to_string(),
            encver: f[1]
                .parse()
                .unwrap_or_else(|e| panic!("MANIFEST.txt line {}: encver: {e}", n + 1)),
            encoding: f[2].to_string(),
            recipe: f[3].to_string(),
        };
        assert!(
            ENCODINGS.contains(&fx.encoding.as_str())
                || (fx.encoding == TABLE && fx.encver >= TABLE_ENCVER),
            "MANIFEST.txt line {}: unknown encoding {:?} (encver {})",
            n + 1,
            fx.encoding,
            fx.encver
        );
        assert!(
            !out.iter().any(|o| o.name == fx.name),
            "MANIFEST.txt line {}: duplicate fixture name {:?}",
            n + 1,
            fx.name
        );
        out.push(fx);
    }
    out
}

fn family_of(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

fn payload_of(fx: &Fixture) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{}.bin", fx.name));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {}: {e}", fx.name, path.display()))
}

// ------------------------------------------------------------------ checks --

/// Members and non-members to probe with LIKE.HAS: the ends, evenly spaced
/// members, and neighbours / random IDs that are not in the set.
fn has_probes(name: &str, ids: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let mut members: BTreeSet<u64> = BTreeSet::new();
    let n = ids.len();
    let samples = n.min(300);
    for k in 0..samples {
        members.insert(ids[k * n / samples]);
    }
    members.insert(ids[n - 1]);
    let mut rng = SplitMix64(0x0060_1de4 ^ n as u64);
    for _ in 0..100 {
        members.insert(ids[(rng.next_u64() % n as u64) as usize]);
    }
    let is_member = |x: u64| ids.binary_search(&x).is_ok();
    let mut candidates: Vec<u64> =
        vec![0, 1, 65_535, 65_536, 4_294_967_295, 4_294_967_296, MAX_ID - 1, MAX_ID];
    for &m in members.iter().take(200) {
        candidates.push(m.wrapping_sub(1));
        candidates.push(m + 1);
    }
    for _ in 0..200 {
        candidates.push(rng.next_u64() >> 1);
        candidates.push(rng.next_u64() >> 32);
        candidates.push(rng.next_u64() >> 48);
    }
    let non: BTreeSet<u64> =
        candidates.into_iter().filter(|&x| x <= MAX_ID && !is_member(x)).collect();
    assert!(!non.is_empty(), "fixture {name}: no non-member probes");
    (members.into_iter().collect(), non.into_iter().collect())
}

/// Checks that `key` holds exactly `ids` (count, every ID in order, LIKE.HAS
/// probes) and, for encoding version 2 and later, the recorded encoding.
fn check_key(c: &mut redis::Connection, fx: &Fixture, key: &str, ids: &[u64], when: &str) {
    let name = &fx.name;
    assert_eq!(
        int(c, &["LIKE.COUNT", key]) as usize,
        ids.len(),
        "fixture {name} ({when}): LIKE.COUNT differs from the recipe's {} IDs",
        ids.len()
    );
    let users = all_users(c, key);
    if users != ids {
        let first =
            users.iter().zip(ids).position(|(a, b)| a != b).unwrap_or(users.len().min(ids.len()));
        panic!(
            "fixture {name} ({when}): LIKE.USERS differs from the recipe: {} vs {} IDs, first difference at \
             index {first}: got {:?}, expected {:?}",
            users.len(),
            ids.len(),
            users.get(first),
            ids.get(first)
        );
    }
    let (members, non) = has_probes(name, ids);
    let mut p = redis::pipe();
    for id in members.iter().chain(&non) {
        p.cmd("LIKE.HAS").arg(key).arg(*id);
    }
    let replies: Vec<i64> =
        p.query(c).unwrap_or_else(|e| panic!("fixture {name} ({when}): LIKE.HAS: {e}"));
    for (i, id) in members.iter().chain(&non).enumerate() {
        let want = i64::from(i < members.len());
        assert_eq!(replies[i], want, "fixture {name} ({when}): LIKE.HAS {id} should be {want}");
    }
    let info = like_info(c, key);
    let enc = info
        .get("encoding")
        .and_then(as_str)
        .unwrap_or_else(|| panic!("fixture {name} ({when}): LIKE.INFO has no encoding: {info:?}"));
    // The form a value loads into is the current policy's choice (which the
    // payload's kind does not bind); check_payload checks the kind itself.
    assert!(ENCODINGS.contains(&enc.as_str()), "fixture {name} ({when}): unknown encoding {enc:?}");
    let count = info.get("count").and_then(field_int);
    assert_eq!(count, Some(ids.len() as i64), "fixture {name} ({when}): LIKE.INFO count");
}

/// The first byte of a like-set payload of `encoding` (the like-set codec's kind table).
fn kind_byte(name: &str, encoding: &str) -> u8 {
    match encoding {
        "single" | "packed" => 0,
        "roaring" => 1,
        "elias-fano" => 2,
        other => panic!("fixture {name}: no kind for encoding {other:?}"),
    }
}
/// The first byte of a reaction table's payload (encoding version 4).
const KIND_TABLE: u8 = 3;

/// Recent activity as a payload holds it (encoding version 2 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activity {
    Inline { stripe: u32, count: u32 },
    Rings,
}

/// A reader of a module blob (the format is documented in `src/likeset/codec.rs` and
/// `src/reactions/codec.rs`), just enough to check a payload's structure.
struct Blob<'a> {
    name: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Blob<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.pos + n;
        assert!(end <= self.bytes.len(), "fixture {}: blob truncated at {}", self.name, self.pos);
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        s
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
        }
        panic!("fixture {}: varint too long", self.name)
    }

    /// `u8 0, u32 stripe, u32 count` or `u8 1, u32 last, 14 u32`.
    fn activity(&mut self) -> Activity {
        match self.u8() {
            0 => Activity::Inline { stripe: self.u32(), count: self.u32() },
            1 => {
                self.take(4 * 15);
                Activity::Rings
            }
            other => panic!("fixture {}: activity tag {other}", self.name),
        }
    }
}

/// Checks the payload's framing: valid CRC, a `like-sets` module value of the
/// manifest's encoding version, as captured (RDB version of Redis 7.0.15), its
/// count field, and (version 2 and later) its kind byte; for a table, every
/// kind's name, order, encoding and count, and that no kind has activity of its
/// own. Returns the payload's activity (None for version 1, which has none).
fn check_payload(
    fx: &Fixture,
    payload: &[u8],
    kinds: &[(KindRecipe, Vec<u64>)],
) -> Option<Activity> {
    let name = &fx.name;
    let (_, rdb) = dump::unframe(payload).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    assert_eq!(rdb, CAPTURED_RDB_VERSION, "fixture {name}: RDB version in the payload");
    let v = dump::parse(payload).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    assert_eq!(v.type_name(), "like-sets", "fixture {name}: module type name");
    assert_eq!(v.encver(), fx.encver, "fixture {name}: module encoding version vs MANIFEST.txt");
    let total: usize = kinds.iter().map(|(_, ids)| ids.len()).sum();
    assert!(
        matches!(v.fields.first(), Some(dump::Field::Uint(n)) if *n == total as u64)
            && v.blob().is_some(),
        "fixture {name}: expected fields [count {total}, blob], got {} fields ({:?})",
        v.fields.len(),
        v.fields.first()
    );
    if fx.encver < 2 {
        return None;
    }
    let blob = v.blob().expect("blob");
    let mut r = Blob { name, bytes: blob, pos: 0 };
    if !fx.is_table() {
        // The first byte of the blob is the kind the encoding was written as.
        assert_eq!(r.u8(), kind_byte(name, &fx.encoding), "fixture {name}: kind");
        return Some(r.activity());
    }
    assert_eq!(r.u8(), KIND_TABLE, "fixture {name}: a table's kind byte");
    let activity = r.activity();
    assert_eq!(r.varint(), kinds.len() as u64, "fixture {name}: number of kinds");
    for (k, ids) in kinds {
        let kind = String::from_utf8_lossy(&k.name);
        let len = usize::from(r.u8());
        assert_eq!(r.take(len), &k.name[..], "fixture {name}: kind names in the payload's order");
        let payload_len = r.varint() as usize;
        let mut set = Blob { name, bytes: r.take(payload_len), pos: 0 };
        assert_eq!(set.u8(), kind_byte(name, &k.encoding), "fixture {name}: kind {kind}: encoding");
        assert_eq!(
            set.activity(),
            Activity::Inline { stripe: 0, count: 0 },
            "fixture {name}: kind {kind}: the activity is the key's, not a kind's"
        );
        assert_eq!(set.varint(), ids.len() as u64, "fixture {name}: kind {kind}: count");
    }
    assert_eq!(r.pos, blob.len(), "fixture {name}: trailing bytes after the last kind");
    Some(activity)
}

/// REACT.COUNTS as (kind, count) pairs, from a RESP2 flat array or a RESP3 map.
fn counts_of(v: &Value) -> Vec<(Vec<u8>, i64)> {
    let bytes = |k: &Value| match k {
        Value::BulkString(b) => b.clone(),
        other => panic!("REACT.COUNTS: kind {other:?}"),
    };
    match v {
        Value::Array(flat) => {
            assert!(flat.len() % 2 == 0, "REACT.COUNTS: odd length {v:?}");
            flat.chunks(2).map(|p| (bytes(&p[0]), as_int(&p[1]).expect("count"))).collect()
        }
        Value::Map(pairs) => {
            pairs.iter().map(|(k, n)| (bytes(k), as_int(n).expect("count"))).collect()
        }
        other => panic!("REACT.COUNTS: {other:?}"),
    }
}

/// Every user of `kind` through REACT.USERS pages of `page`, checking the order.
fn react_users_all(c: &mut redis::Connection, key: &str, kind: &[u8], page: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    loop {
        let mut cmd = redis::cmd("REACT.USERS");
        cmd.arg(key).arg(kind);
        if let Some(last) = out.last() {
            cmd.arg("AFTER").arg(*last);
        }
        cmd.arg("LIMIT").arg(page);
        let got: Vec<u64> = cmd.query(c).unwrap_or_else(|e| panic!("REACT.USERS {key}: {e}"));
        assert!(
            got.windows(2).all(|w| w[0] < w[1])
                && out.last().is_none_or(|&l| got.first().is_none_or(|&f| f > l)),
            "REACT.USERS {key}: not ascending past AFTER"
        );
        let done = got.len() < page;
        out.extend(got);
        if done {
            return out;
        }
    }
}

/// Checks that `key` holds exactly `kinds` through the REACT commands (REACT.COUNT,
/// REACT.COUNTS, every page of REACT.USERS, REACT.GET on members of every kind and on
/// non-members, REACT.INFO) and the LIKE commands' view of it (only the kind `like`).
fn check_reactions(
    c: &mut redis::Connection,
    fx: &Fixture,
    key: &str,
    kinds: &[(KindRecipe, Vec<u64>)],
    activity: Option<Activity>,
    when: &str,
) {
    let name = &fx.name;
    let total: usize = kinds.iter().map(|(_, ids)| ids.len()).sum();
    assert_eq!(
        int(c, &["REACT.COUNT", key]) as usize,
        total,
        "fixture {name} ({when}): REACT.COUNT"
    );
    for (k, ids) in kinds {
        let kind = String::from_utf8_lossy(&k.name);
        let n = as_int(&ok(c, &[&b"REACT.COUNT"[..], key.as_bytes(), &k.name]));
        assert_eq!(n, Some(ids.len() as i64), "fixture {name} ({when}): REACT.COUNT {kind}");
        let users = react_users_all(c, key, &k.name, 10_000);
        assert!(
            users == *ids,
            "fixture {name} ({when}): REACT.USERS {kind} differs from the recipe"
        );
    }
    let mut want: Vec<(Vec<u8>, i64)> =
        kinds.iter().map(|(k, ids)| (k.name.clone(), ids.len() as i64)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(
        counts_of(&ok(c, &["REACT.COUNTS", key])),
        want,
        "fixture {name} ({when}): REACT.COUNTS"
    );

    // REACT.GET and LIKE.HAS on members of every kind and on IDs around them.
    let kind_of =
        |id: u64| kinds.iter().find(|(_, ids)| ids.binary_search(&id).is_ok()).map(|(k, _)| k);
    let mut probes: BTreeSet<u64> = BTreeSet::new();
    for (_, ids) in kinds {
        let (members, non) = has_probes(name, ids);
        probes.extend(members);
        probes.extend(non.into_iter().take(300));
    }
    let probes: Vec<u64> = probes.into_iter().collect();
    for chunk in probes.chunks(2000) {
        let mut p = redis::pipe();
        for id in chunk {
            p.cmd("REACT.GET").arg(key).arg(*id);
            p.cmd("LIKE.HAS").arg(key).arg(*id);
        }
        let replies: Vec<Value> =
            p.query(c).unwrap_or_else(|e| panic!("fixture {name} ({when}): REACT.GET: {e}"));
        for (id, pair) in chunk.iter().zip(replies.chunks(2)) {
            let want = kind_of(*id);
            match (&pair[0], want) {
                (Value::Nil, None) => {}
                (Value::BulkString(got), Some(k)) if *got == k.name => {}
                (got, want) => panic!(
                    "fixture {name} ({when}): REACT.GET {id}: got {got:?}, expected {:?}",
                    want.map(|k| String::from_utf8_lossy(&k.name).into_owned())
                ),
            }
            let liked = i64::from(want.is_some_and(|k| k.name == b"like"));
            assert_eq!(as_int(&pair[1]), Some(liked), "fixture {name} ({when}): LIKE.HAS {id}");
        }
    }

    let like = kinds.iter().find(|(k, _)| k.name == b"like").map_or(0, |(_, ids)| ids.len());
    assert_eq!(int(c, &["LIKE.COUNT", key]) as usize, like, "fixture {name} ({when}): LIKE.COUNT");
    let info = info_value_to_map(&ok(c, &["REACT.INFO", key]));
    assert_eq!(
        info.get("count").and_then(field_int),
        Some(total as i64),
        "fixture {name}: REACT.INFO count"
    );
    assert_eq!(
        info.get("kinds").and_then(field_int),
        Some(kinds.len() as i64),
        "fixture {name} ({when}): REACT.INFO kinds"
    );
    for (command, counted) in [("REACT.INFO", total), ("LIKE.INFO", like)] {
        let info = info_value_to_map(&ok(c, &[command, key]));
        let enc = info.get("encoding").and_then(as_str).unwrap_or_default();
        if fx.is_table() {
            assert_eq!(enc, TABLE, "fixture {name} ({when}): {command} encoding");
        } else {
            assert!(
                ENCODINGS.contains(&enc.as_str()),
                "fixture {name} ({when}): {command} encoding {enc:?}"
            );
        }
        assert_eq!(
            info.get("count").and_then(field_int),
            Some(counted as i64),
            "fixture {name}: {command} count"
        );
    }
    // A payload without recent activity restores with none, whatever the clock.
    if matches!(activity, Some(Activity::Inline { count: 0, .. })) {
        assert_eq!(
            ints(c, &["REACT.RATE", key]),
            vec![0, 0],
            "fixture {name} ({when}): REACT.RATE"
        );
        assert_eq!(ints(c, &["LIKE.RATE", key]), vec![0, 0], "fixture {name} ({when}): LIKE.RATE");
    }
}

/// Writes `kinds` into a fresh `key` with pipelined REACT.ADD (1000 IDs a command).
fn build_with_react_add(c: &mut redis::Connection, key: &str, kinds: &[(KindRecipe, Vec<u64>)]) {
    for (k, ids) in kinds {
        let mut p = redis::pipe();
        for chunk in ids.chunks(1000) {
            p.cmd("REACT.ADD").arg(key).arg(&k.name[..]).arg(chunk);
        }
        let added: Vec<u64> = p.query(c).unwrap_or_else(|e| panic!("REACT.ADD {key}: {e}"));
        assert_eq!(added.iter().sum::<u64>(), ids.len() as u64, "REACT.ADD {key}");
    }
}

fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) -> Result<(), String> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(0).arg(payload);
    cmd.query::<Value>(c).map(drop).map_err(|e| redis_error_text(&e))
}

/// RESTOREs every fixture of one family into its own key, checks each, then
/// checks them all again after DEBUG RELOAD. For encoding version 4 and later,
/// also: the key equals one written with REACT.ADD from the recipe (DEBUG
/// DIGEST-VALUE), and a DUMP of the restored key restores equal; a like-only
/// payload is a version-3 payload (it restores the same when relabelled 3) and
/// a table is not (refused when relabelled 3).
fn run_family(family: &str) {
    let all = manifest();
    let fixtures: Vec<Fixture> = all.into_iter().filter(|f| family_of(&f.name) == family).collect();
    assert!(!fixtures.is_empty(), "no fixtures of family {family:?} in MANIFEST.txt");
    let srv = Server::start();
    let mut c = srv.conn();
    type Loaded = (Fixture, String, Vec<(KindRecipe, Vec<u64>)>, Option<Activity>, Vec<String>);
    let mut loaded: Vec<Loaded> = Vec::new();
    for fx in fixtures {
        let payload = payload_of(&fx);
        let kinds: Vec<(KindRecipe, Vec<u64>)> = fx
            .kinds()
            .into_iter()
            .map(|k| {
                let ids =
                    recipe_ids(&k.recipe).unwrap_or_else(|e| panic!("fixture {}: {e}", fx.name));
                assert!(!ids.is_empty(), "fixture {}: empty recipe", fx.name);
                (k, ids)
            })
            .collect();
        let activity = check_payload(&fx, &payload, &kinds);
        let key = format!("golden:{}", fx.name);
        if let Err(e) = restore(&mut c, &key, &payload) {
            panic!("fixture {}: RESTORE failed: {e}", fx.name);
        }
        if !fx.is_table() {
            check_key(&mut c, &fx, &key, &kinds[0].1, "after RESTORE");
        }
        check_reactions(&mut c, &fx, &key, &kinds, activity, "after RESTORE");
        let mut same = Vec::new();
        if fx.encver >= TABLE_ENCVER {
            let digest = digest_value(&mut c, &key);
            let built = format!("built:{}", fx.name);
            build_with_react_add(&mut c, &built, &kinds);
            assert_eq!(digest_value(&mut c, &built), digest, "fixture {}: vs REACT.ADD", fx.name);
            let again = format!("again:{}", fx.name);
            let Value::BulkString(dumped) = ok(&mut c, &["DUMP", &key]) else { panic!("DUMP") };
            restore(&mut c, &again, &dumped)
                .unwrap_or_else(|e| panic!("fixture {}: RESTORE of its DUMP: {e}", fx.name));
            assert_eq!(digest_value(&mut c, &again), digest, "fixture {}: DUMP/RESTORE", fx.name);
            let v3 = dump::parse(&payload).expect("payload").with_encver(3).to_payload();
            let as_v3 = format!("v3:{}", fx.name);
            match (restore(&mut c, &as_v3, &v3), fx.is_table()) {
                (Ok(()), false) => {
                    assert_eq!(digest_value(&mut c, &as_v3), digest, "fixture {} as v3", fx.name);
                    same.push(as_v3);
                }
                (Err(e), false) => panic!("fixture {}: its blob as version 3: {e}", fx.name),
                (Ok(()), true) => panic!("fixture {}: a table loaded as version 3", fx.name),
                (Err(_), true) => assert_eq!(int(&mut c, &["EXISTS", &as_v3]), 0),
            }
            same.extend([built, again]);
        }
        loaded.push((fx, key, kinds, activity, same));
    }
    ok(&mut c, &["DEBUG", "RELOAD"]);
    for (fx, key, kinds, activity, same) in &loaded {
        if !fx.is_table() {
            check_key(&mut c, fx, key, &kinds[0].1, "after DEBUG RELOAD");
        }
        check_reactions(&mut c, fx, key, kinds, *activity, "after DEBUG RELOAD");
        let digest = digest_value(&mut c, key);
        for other in same {
            assert_eq!(
                digest_value(&mut c, other),
                digest,
                "fixture {}: {other} after DEBUG RELOAD",
                fx.name
            );
        }
    }
}

#[test]
fn golden_single() {
    run_family("single");
}

#[test]
fn golden_packed() {
    run_family("packed");
}

#[test]
fn golden_roaring() {
    run_family("roaring");
}

#[test]
fn golden_elias_fano() {
    run_family("eliasfano");
}

#[test]
fn golden_v1() {
    run_family("v1");
}

#[test]
fn golden_table() {
    run_family("table");
}

/// Every manifest line has its file, every file its manifest line, every
/// fixture a family tested above, and the v2 fixtures cover every encoding.
#[test]
fn manifest_matches_files() {
    let fixtures = manifest();
    let listed: BTreeSet<String> = fixtures.iter().map(|f| format!("{}.bin", f.name)).collect();
    let mut present = BTreeSet::new();
    for e in std::fs::read_dir(fixtures_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".bin") {
            present.insert(name);
        }
    }
    assert_eq!(
        listed,
        present,
        "MANIFEST.txt and the .bin files in {} differ",
        fixtures_dir().display()
    );
    for f in &fixtures {
        assert!(
            FAMILIES.contains(&family_of(&f.name)),
            "fixture {}: family not tested by golden.rs",
            f.name
        );
        if family_of(&f.name) == "v1" {
            assert_eq!(f.encver, 1, "fixture {}: v1 family with encver {}", f.name, f.encver);
        } else {
            // Family names drop the encoding's hyphen (`eliasfano-*` for `elias-fano`).
            assert_eq!(
                family_of(&f.name),
                f.encoding.replace('-', ""),
                "fixture {}: family and encoding differ",
                f.name
            );
        }
    }
    for enc in ENCODINGS {
        assert!(
            fixtures.iter().any(|f| f.encver >= 2 && f.encoding == enc),
            "no current-version fixture of encoding {enc}"
        );
    }
    // Encoding version 4: a like-only payload of every encoding, and tables whose kinds
    // are written in every encoding, with the key's activity inline, as rings and none.
    let tables: Vec<&Fixture> = fixtures.iter().filter(|f| f.is_table()).collect();
    for f in &tables {
        assert!(f.encver >= TABLE_ENCVER, "fixture {}: a table of encver {}", f.name, f.encver);
    }
    for enc in ENCODINGS {
        assert!(
            fixtures.iter().any(|f| f.encver >= TABLE_ENCVER && f.encoding == enc),
            "no version-{TABLE_ENCVER} like-only fixture of encoding {enc}"
        );
        assert!(
            tables.iter().any(|f| f.kinds().iter().any(|k| k.encoding == enc)),
            "no table fixture with a kind written as {enc}"
        );
    }
    let mut activities = BTreeSet::new();
    for f in &tables {
        let kinds: Vec<(KindRecipe, Vec<u64>)> =
            f.kinds().into_iter().map(|k| (k.clone(), recipe_ids(&k.recipe).unwrap())).collect();
        activities.insert(match check_payload(f, &payload_of(f), &kinds) {
            Some(Activity::Inline { count: 0, .. }) => "none",
            Some(Activity::Inline { .. }) => "inline",
            Some(Activity::Rings) => "rings",
            None => panic!("fixture {}: a table without activity field", f.name),
        });
    }
    assert_eq!(activities, BTreeSet::from(["inline", "none", "rings"]), "table fixtures' activity");
    assert!(
        tables.iter().any(|f| f.kinds().iter().any(|k| k.name.len() == 32))
            && tables.iter().any(|f| f
                .kinds()
                .iter()
                .any(|k| std::str::from_utf8(&k.name).is_ok_and(|n| !n.is_ascii())))
            && tables.iter().any(|f| f.kinds().len() == 2)
            && tables.iter().any(|f| f.kinds().len() > 3),
        "table fixtures: two kinds, more than three, a 32-byte name and an emoji name"
    );
}

/// The generator and recipe language are part of the fixtures: pin them.
#[test]
fn recipes_are_stable() {
    // Reference outputs of splitmix64.c seeded with 1234567.
    let mut r = SplitMix64(1_234_567);
    let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
    assert_eq!(
        got,
        [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821
        ]
    );
    assert_eq!(SplitMix64(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(recipe_ids("range:5:3+list:1,6,100").unwrap(), [1, 5, 6, 7, 100]);
    assert_eq!(recipe_ids("step:10:7:4").unwrap(), [10, 17, 24, 31]);
    let s = recipe_ids("splitmix:1:50:16").unwrap();
    assert_eq!(s.len(), 50);
    assert!(s.windows(2).all(|w| w[0] < w[1]) && s.iter().all(|&x| x < 1 << 16));
    assert!(recipe_ids("list:9223372036854775808").is_err());
    assert!(recipe_ids("bogus:1").is_err());
    let kinds = table_kinds("like=packed=list:1/👎=roaring=range:5:3+list:9").unwrap();
    assert_eq!(kinds.len(), 2);
    assert_eq!((&kinds[1].name[..], kinds[1].encoding.as_str()), ("👎".as_bytes(), "roaring"));
    assert_eq!(recipe_ids(&kinds[1].recipe).unwrap(), [5, 6, 7, 9]);
    for bad in
        ["like=packed=list:1", "a b=packed=list:1/c=packed=list:2", "a=foo=list:1/b=packed=list:2"]
    {
        assert!(table_kinds(bad).is_err(), "{bad}");
    }
}
