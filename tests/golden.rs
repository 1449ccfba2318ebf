//! Golden DUMP payloads: real payloads of every encoding the module has
//! written, frozen under `tests/fixtures/dump/` (see the README there). Each
//! is RESTOREd into a fresh key and checked ID by ID against the tiny recipe
//! in `MANIFEST.txt` that describes its content; then DEBUG RELOAD must keep
//! every key equal. A change to the decoder that breaks any payload ever
//! written fails here.
//!
//! Never regenerate a fixture to make this test pass: the files are the
//! compatibility promise. New encoding versions get new files.

use like_harness::dump;
use like_harness::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

const MAX_ID: u64 = 9_223_372_036_854_775_807;
/// The module's encodings, as LIKE.INFO names them.
const ENCODINGS: [&str; 4] = ["single", "packed", "roaring", "elias-fano"];
/// The fixture families (name prefixes), one test each.
const FAMILIES: [&str; 5] = ["single", "packed", "roaring", "eliasfano", "v1"];
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
    /// the value loads as). For version 1, informational only: the encoding
    /// the capturing build chose when loading it.
    pub encoding: String,
    pub recipe: String,
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
            ENCODINGS.contains(&fx.encoding.as_str()),
            "MANIFEST.txt line {}: unknown encoding {:?}",
            n + 1,
            fx.encoding
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

/// Checks the payload's framing: valid CRC, a `like-sets` module value of the
/// manifest's encoding version, as captured (RDB version of Redis 7.0.15).
fn check_payload(fx: &Fixture, payload: &[u8]) {
    let name = &fx.name;
    let (_, rdb) = dump::unframe(payload).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    assert_eq!(rdb, CAPTURED_RDB_VERSION, "fixture {name}: RDB version in the payload");
    let v = dump::parse(payload).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    assert_eq!(v.type_name(), "like-sets", "fixture {name}: module type name");
    assert_eq!(v.encver(), fx.encver, "fixture {name}: module encoding version vs MANIFEST.txt");
    assert!(
        matches!(v.fields.first(), Some(dump::Field::Uint(_))) && v.blob().is_some(),
        "fixture {name}: expected fields [count, blob], got {} fields",
        v.fields.len()
    );
    if fx.encver >= 2 {
        // The first byte of the blob is the kind the encoding was written as.
        let kind = match fx.encoding.as_str() {
            "single" | "packed" => 0,
            "roaring" => 1,
            "elias-fano" => 2,
            other => panic!("fixture {name}: no kind for encoding {other:?}"),
        };
        assert_eq!(v.blob().and_then(|b| b.first()).copied(), Some(kind), "fixture {name}: kind");
    }
}

/// RESTOREs every fixture of one family into its own key, checks each, then
/// checks them all again after DEBUG RELOAD.
fn run_family(family: &str) {
    let all = manifest();
    let fixtures: Vec<Fixture> = all.into_iter().filter(|f| family_of(&f.name) == family).collect();
    assert!(!fixtures.is_empty(), "no fixtures of family {family:?} in MANIFEST.txt");
    let srv = Server::start();
    let mut c = srv.conn();
    let mut loaded: Vec<(Fixture, String, Vec<u64>)> = Vec::new();
    for fx in fixtures {
        let payload = payload_of(&fx);
        check_payload(&fx, &payload);
        let ids = recipe_ids(&fx.recipe).unwrap_or_else(|e| panic!("fixture {}: {e}", fx.name));
        assert!(!ids.is_empty(), "fixture {}: empty recipe", fx.name);
        let key = format!("golden:{}", fx.name);
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&key).arg(0).arg(&payload);
        let r: redis::RedisResult<redis::Value> = cmd.query(&mut c);
        if let Err(e) = r {
            panic!("fixture {}: RESTORE failed: {}", fx.name, redis_error_text(&e));
        }
        check_key(&mut c, &fx, &key, &ids, "after RESTORE");
        loaded.push((fx, key, ids));
    }
    ok(&mut c, &["DEBUG", "RELOAD"]);
    for (fx, key, ids) in &loaded {
        check_key(&mut c, fx, key, ids, "after DEBUG RELOAD");
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
}
