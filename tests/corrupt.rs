//! Truncated and corrupted RESTORE payloads (with a valid CRC64, so that
//! they reach the module's loader): each must be refused with an error, or
//! load a value that behaves sanely. The server must survive all of them.

use like_harness::dump::{self, Field, ModuleValue};
use like_harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;
use std::collections::{BTreeMap, HashSet};

const MAX_ID: u64 = 9_223_372_036_854_775_807;

#[test]
fn crc64_check_value() {
    assert_eq!(dump::crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(dump::crc64(b""), 0);
}

#[test]
fn dump_framing_of_native_value_parses() {
    // Check the framing helpers against a payload Redis itself produced.
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, &["SET", "s", "hello"]);
    let Value::BulkString(p) = ok(&mut c, &["DUMP", "s"]) else { panic!() };
    let (body, ver) = dump::unframe(&p).expect("CRC of a real DUMP");
    assert!(
        ver >= dump::RDB_VERSION_MIN,
        "RDB version {ver} is older than any supported server writes"
    );
    assert_eq!(body[0], 0); // RDB_TYPE_STRING
    let mut r = dump::Reader::new(&body[1..]);
    assert_eq!(r.string().unwrap(), b"hello");
    // a compressible string goes through LZF
    let long = "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(4);
    ok(&mut c, &["SET", "l", &long]);
    let Value::BulkString(p) = ok(&mut c, &["DUMP", "l"]) else { panic!() };
    let (body, _) = dump::unframe(&p).unwrap();
    assert_eq!(body[1], 0xC3, "expected an LZF-compressed string");
    let mut r = dump::Reader::new(&body[1..]);
    assert_eq!(r.string().unwrap(), long.as_bytes());
    // re-framing a body gives back the same payload
    assert_eq!(dump::frame(body, ver), p);
}

fn dump_key(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    match ok(c, &["DUMP", key]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// Build the source keys; returns (name, members).
fn build_sources(c: &mut redis::Connection) -> Vec<(String, Vec<u64>)> {
    let mut rng = StdRng::seed_from_u64(1234);
    let mut out = Vec::new();
    let mut add = |c: &mut redis::Connection, name: &str, ids: Vec<u64>| {
        add_many(c, name, &ids, 10_000);
        let mut m = ids;
        m.sort_unstable();
        m.dedup();
        out.push((name.to_string(), m));
    };
    add(c, "one", vec![12345]);
    add(c, "sparse100", (0..100).map(|_| rng.gen_range(0..1u64 << 40)).collect());
    add(c, "sparse10k", (0..10_000).map(|_| rng.gen_range(0..=MAX_ID)).collect());
    add(c, "dense100k", (0..100_000).collect());
    add(
        c,
        "high",
        (0..300u64)
            .map(|i| (1u64 << 32) + i * 3)
            .chain((0..200u64).map(|i| MAX_ID - i * 1000))
            .chain((0..100u64).map(|i| (i + 5) << 33))
            .collect(),
    );
    add(c, "mid5k", (0..5000u64).map(|i| i * i % 1_000_003).collect());
    out
}

struct Fuzz {
    c: redis::Connection,
    n: usize,
    accepted: usize,
    refused: usize,
    errors: BTreeMap<String, usize>,
    failures: Vec<String>,
    slow: Vec<(std::time::Duration, String)>,
}

impl Fuzz {
    /// RESTORE one variant and check it.
    fn try_payload(&mut self, desc: &str, payload: &[u8]) {
        self.n += 1;
        let key = format!("fz:{}", self.n);
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&key).arg(0).arg(payload);
        let t0 = std::time::Instant::now();
        let res = cmd.query::<Value>(&mut self.c);
        let t_restore = t0.elapsed();
        match res {
            Ok(Value::ServerError(e)) => self.refused(server_error_text(&e)),
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                panic!(
                    "connection lost on RESTORE of variant {desc} ({} bytes, first 64: {:02x?}): {e}",
                    payload.len(),
                    &payload[..payload.len().min(64)]
                );
            }
            Err(e) => self.refused(redis_error_text(&e)),
            Ok(_) => {
                self.accepted += 1;
                if let Err(why) = self.check_sane(&key) {
                    self.failures.push(format!("{desc}: {why}"));
                }
                let _ = q(&mut self.c, &["DEL", &key, &format!("{key}:r")]);
            }
        }
        let total = t0.elapsed();
        if total > std::time::Duration::from_millis(20) {
            self.slow.push((total, format!("{desc} (RESTORE {t_restore:?})")));
        }
        if self.n.is_multiple_of(200) {
            // the server is still there
            assert_eq!(as_str(&ok(&mut self.c, &["PING"])).as_deref(), Some("PONG"));
        }
    }

    fn refused(&mut self, e: String) {
        self.refused += 1;
        let short: String = e.chars().take(90).collect();
        *self.errors.entry(short).or_default() += 1;
    }

    fn check_sane(&mut self, key: &str) -> Result<(), String> {
        let c = &mut self.c;
        let t = q(c, &["TYPE", key]).map_err(|e| format!("TYPE: {e}"))?;
        let t = as_str(&t).unwrap_or_default();
        let count = match q(c, &["LIKE.COUNT", key]) {
            Ok(Value::Int(n)) => n,
            other => return Err(format!("LIKE.COUNT gave {other:?} (TYPE {t})")),
        };
        if count <= 0 {
            return Err(format!("loaded a value with LIKE.COUNT {count} (an existing key must have at least one like)"));
        }
        if count > 2_000_000 {
            return Err(format!("implausible LIKE.COUNT {count}"));
        }
        // page through all members with the largest page
        let mut members: Vec<u64> = Vec::new();
        loop {
            let mut args = vec![s("LIKE.USERS"), s(key), s("LIMIT"), s(10_000)];
            if let Some(l) = members.last() {
                args.push(s("AFTER"));
                args.push(s(l));
            }
            let v = q(c, &args).map_err(|e| format!("LIKE.USERS: {e}"))?;
            let page = value_ints(&v).ok_or_else(|| format!("LIKE.USERS gave {v:?}"))?;
            for x in &page {
                if *x < 0 {
                    return Err(format!("LIKE.USERS listed a negative id {x}"));
                }
                let x = *x as u64;
                if let Some(&l) = members.last() {
                    if x <= l {
                        return Err(format!("LIKE.USERS not ascending: {l} then {x}"));
                    }
                }
                members.push(x);
            }
            if page.len() < 10_000 {
                break;
            }
            if members.len() as i64 > count {
                break;
            }
        }
        if members.len() as i64 != count {
            return Err(format!(
                "LIKE.COUNT {count} but LIKE.USERS pages through {} ids",
                members.len()
            ));
        }
        // LIKE.HAS on listed ids (all for small sets, a sample for big ones)
        let mut sample: Vec<u64> = if members.len() <= 2000 {
            members.clone()
        } else {
            let mut rng = StdRng::seed_from_u64(members.len() as u64);
            let mut v: Vec<u64> = members[..100].to_vec();
            v.extend_from_slice(&members[members.len() - 100..]);
            v.extend((0..300).map(|_| members[rng.gen_range(0..members.len())]));
            v
        };
        let set: HashSet<u64> = members.iter().copied().collect();
        let absent: Vec<u64> = sample
            .iter()
            .take(200)
            .flat_map(|&x| [x.wrapping_add(1), x.wrapping_sub(1)])
            .filter(|x| *x <= MAX_ID && !set.contains(x))
            .collect();
        let mut p = redis::pipe();
        for x in &sample {
            p.cmd("LIKE.HAS").arg(key).arg(*x);
        }
        for x in &absent {
            p.cmd("LIKE.HAS").arg(key).arg(*x);
        }
        let r: Vec<i64> = p.query(c).map_err(|e| format!("LIKE.HAS pipeline: {e}"))?;
        for (i, x) in sample.iter().enumerate() {
            if r[i] != 1 {
                return Err(format!("LIKE.HAS {x} = {} but LIKE.USERS lists it", r[i]));
            }
        }
        for (i, x) in absent.iter().enumerate() {
            if r[sample.len() + i] != 0 {
                return Err(format!("LIKE.HAS {x} = 1 but LIKE.USERS does not list it"));
            }
        }
        // AFTER from the middle
        let mid = members[members.len() / 2];
        let v = q(c, &["LIKE.USERS", key, "AFTER", &s(mid), "LIMIT", "5"])
            .map_err(|e| format!("USERS AFTER: {e}"))?;
        let want: Vec<i64> =
            members.iter().filter(|&&x| x > mid).take(5).map(|&x| x as i64).collect();
        if value_ints(&v) != Some(want.clone()) {
            return Err(format!("LIKE.USERS AFTER {mid} LIMIT 5 = {v:?}, want {want:?}"));
        }
        let v = q(c, &["LIKE.MCOUNT", key]).map_err(|e| format!("MCOUNT: {e}"))?;
        if value_ints(&v) != Some(vec![count]) {
            return Err(format!("LIKE.MCOUNT {v:?} vs count {count}"));
        }
        let info = q(c, &["LIKE.INFO", key]).map_err(|e| format!("LIKE.INFO: {e}"))?;
        let m = info_value_to_map(&info);
        if m.get("count").and_then(field_int) != Some(count) {
            return Err(format!("LIKE.INFO count {:?} vs {count}", m.get("count")));
        }
        let rate = q(c, &["LIKE.RATE", key]).map_err(|e| format!("LIKE.RATE: {e}"))?;
        match value_ints(&rate).as_deref() {
            Some([m, h]) if 0 <= *m && m <= h => {}
            _ => return Err(format!("LIKE.RATE {rate:?}: want [m, h] with 0 <= m <= h")),
        }
        q(c, &["MEMORY", "USAGE", key]).map_err(|e| format!("MEMORY USAGE: {e}"))?;
        // DEBUG DIGEST-VALUE costs a SHA1 step per id (~1 µs): on big values
        // only every 8th accepted variant is digested, to keep the test fast.
        let do_digest = count <= 20_000 || self.accepted.is_multiple_of(8);
        let d1 = if do_digest {
            Some(
                q(c, &["DEBUG", "DIGEST-VALUE", key])
                    .map_err(|e| format!("DEBUG DIGEST-VALUE: {e}"))?,
            )
        } else {
            None
        };
        // DUMP / RESTORE of it
        let p = match q(c, &["DUMP", key]) {
            Ok(Value::BulkString(b)) => b,
            other => return Err(format!("DUMP: {other:?}")),
        };
        let k2 = format!("{key}:r");
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&k2).arg(0).arg(&p);
        match cmd.query::<Value>(c) {
            Ok(Value::ServerError(e)) => {
                return Err(format!(
                    "re-RESTORE of its own DUMP refused: {}",
                    server_error_text(&e)
                ))
            }
            Err(e) => {
                return Err(format!("re-RESTORE of its own DUMP refused: {}", redis_error_text(&e)))
            }
            Ok(_) => {}
        }
        if let Some(d1) = d1 {
            let d2 = q(c, &["DEBUG", "DIGEST-VALUE", &k2])
                .map_err(|e| format!("digest of re-restored: {e}"))?;
            if d1 != d2 {
                return Err(format!("digest differs after DUMP/RESTORE: {d1:?} vs {d2:?}"));
            }
        }
        let v = q(c, &["LIKE.USERS", &k2, "AFTER", &s(mid), "LIMIT", "5"])
            .map_err(|e| format!("USERS on re-restored: {e}"))?;
        if value_ints(&v) != Some(want.clone()) {
            return Err(format!(
                "re-restored LIKE.USERS AFTER {mid} LIMIT 5 = {v:?}, want {want:?}"
            ));
        }
        let cnt2 = q(c, &["LIKE.COUNT", &k2]).map_err(|e| e.to_string())?;
        if as_int(&cnt2) != Some(count) {
            return Err(format!("re-restored count {cnt2:?} vs {count}"));
        }
        // writes behave
        let fresh = (0..=MAX_ID).step_by(1 << 20).find(|x| !set.contains(x)).unwrap();
        let r = q(c, &["LIKE.ADD", key, &s(fresh)]).map_err(|e| format!("LIKE.ADD: {e}"))?;
        if as_int(&r) != Some(1) {
            return Err(format!("LIKE.ADD of absent {fresh} gave {r:?}"));
        }
        let r = q(c, &["LIKE.COUNT", key]).map_err(|e| e.to_string())?;
        if as_int(&r) != Some(count + 1) {
            return Err(format!("count after add {r:?}, want {}", count + 1));
        }
        let rate = q(c, &["LIKE.RATE", key]).map_err(|e| format!("LIKE.RATE after add: {e}"))?;
        match value_ints(&rate).as_deref() {
            Some([m, h]) if 1 <= *m && m <= h => {}
            _ => {
                return Err(format!(
                    "LIKE.RATE right after a LIKE.ADD is {rate:?}: want [m, h] with 1 <= m <= h"
                ))
            }
        }
        let r = q(c, &["LIKE.DEL", key, &s(fresh), &s(members[0])])
            .map_err(|e| format!("LIKE.DEL: {e}"))?;
        if as_int(&r) != Some(2) {
            return Err(format!("LIKE.DEL of two members gave {r:?}"));
        }
        let r = q(c, &["LIKE.COUNT", key]).map_err(|e| e.to_string())?;
        if as_int(&r) != Some(count - 1) {
            return Err(format!("count after del {r:?}, want {}", count - 1));
        }
        sample.clear();
        Ok(())
    }
}

fn variants_for(name: &str, payload: &[u8], rng: &mut StdRng, fz: &mut Fuzz) {
    let mv = dump::parse(payload).unwrap_or_else(|e| panic!("parse DUMP of {name}: {e}"));
    let blob = mv.blob().expect("the module saves a STRING blob").clone();
    let body = mv.body();
    let (orig_body, ver) = dump::unframe(payload).unwrap();
    let before = fz.n;
    let acc0 = fz.accepted;
    let t0 = std::time::Instant::now();

    // sanity: the unmodified re-framed payload (plain, uncompressed string) loads
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(format!("fz:reframed:{name}")).arg(0).arg(mv.to_payload());
    if let Err(e) = cmd.query::<Value>(&mut fz.c) {
        panic!("{name}: the re-framed original payload was refused: {}", redis_error_text(&e));
    }
    fz.try_payload(&format!("{name}: re-framed original"), &mv.to_payload());

    // --- the blob -------------------------------------------------------
    let bl = blob.len();
    // big values are expensive to check once loaded: fewer random variants
    let big = bl > 5000 || matches!(mv.fields.first(), Some(Field::Uint(n)) if *n > 5000);
    let scale = |n: usize| if big { n / 3 } else { n };
    let cuts: Vec<usize> = if bl <= 1200 {
        (0..bl).collect()
    } else {
        let mut v: Vec<usize> = (0..64).chain(bl - 64..bl).collect();
        v.extend((0..scale(120)).map(|_| rng.gen_range(0..bl)));
        v
    };
    for n in cuts {
        fz.try_payload(
            &format!("{name}: blob truncated to {n}/{bl}"),
            &mv.with_blob(blob[..n].to_vec()).to_payload(),
        );
    }
    for _ in 0..scale(150) {
        let mut b = blob.clone();
        let i = rng.gen_range(0..bl);
        let bit = rng.gen_range(0..8);
        b[i] ^= 1 << bit;
        fz.try_payload(
            &format!("{name}: blob bit {bit} of byte {i} flipped"),
            &mv.with_blob(b).to_payload(),
        );
    }
    // header bytes of the blob are the most interesting: flip each bit of the first 16
    for i in 0..bl.min(16) {
        for bit in 0..8 {
            let mut b = blob.clone();
            b[i] ^= 1 << bit;
            fz.try_payload(
                &format!("{name}: blob header bit {bit} of byte {i} flipped"),
                &mv.with_blob(b).to_payload(),
            );
        }
    }
    for _ in 0..scale(60) {
        let mut b = blob.clone();
        let i = rng.gen_range(0..bl);
        let v: u8 = match rng.gen_range(0..4) {
            0 => 0,
            1 => 0xff,
            2 => 0x80,
            _ => rng.gen(),
        };
        b[i] = v;
        fz.try_payload(
            &format!("{name}: blob byte {i} := {v:#04x}"),
            &mv.with_blob(b).to_payload(),
        );
    }
    for _ in 0..scale(30) {
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
    for extra in [1usize, 3, 8, 100] {
        let mut b = blob.clone();
        b.extend((0..extra).map(|_| rng.gen::<u8>()));
        fz.try_payload(
            &format!("{name}: blob + {extra} random bytes"),
            &mv.with_blob(b).to_payload(),
        );
        let mut b = blob.clone();
        b.extend(std::iter::repeat_n(0u8, extra));
        fz.try_payload(
            &format!("{name}: blob + {extra} zero bytes"),
            &mv.with_blob(b).to_payload(),
        );
    }
    fz.try_payload(
        &format!("{name}: blob doubled"),
        &mv.with_blob([blob.clone(), blob.clone()].concat()).to_payload(),
    );

    // --- the count and the field layout -----------------------------------
    let count = mv.fields.iter().find_map(|f| if let Field::Uint(u) = f { Some(*u) } else { None });
    if let Some(cnt) = count {
        for bad in [0u64, cnt.wrapping_sub(1), cnt + 1, cnt * 2, u64::MAX, 1u64 << 63] {
            if bad == cnt {
                continue;
            }
            let mut m2 = mv.clone();
            for f in m2.fields.iter_mut() {
                if let Field::Uint(u) = f {
                    *u = bad;
                    break;
                }
            }
            fz.try_payload(&format!("{name}: count {cnt} -> {bad}"), &m2.to_payload());
        }
    }
    let layouts: Vec<(&str, Vec<Field>)> = vec![
        ("no fields", vec![]),
        ("blob only", vec![Field::Str(blob.clone())]),
        ("count only", mv.fields.iter().filter(|f| matches!(f, Field::Uint(_))).cloned().collect()),
        ("fields reversed", mv.fields.iter().rev().cloned().collect()),
        ("fields twice", [mv.fields.clone(), mv.fields.clone()].concat()),
        (
            "count as SINT",
            mv.fields
                .iter()
                .map(|f| if let Field::Uint(u) = f { Field::Sint(*u as i64) } else { f.clone() })
                .collect(),
        ),
        (
            "count as DOUBLE",
            mv.fields
                .iter()
                .map(|f| if let Field::Uint(u) = f { Field::Double(*u as f64) } else { f.clone() })
                .collect(),
        ),
        ("extra UINT", [mv.fields.clone(), vec![Field::Uint(7)]].concat()),
    ];
    for (what, fields) in layouts {
        let m2 = ModuleValue { fields, ..mv.clone() };
        fz.try_payload(&format!("{name}: {what}"), &m2.to_payload());
    }
    // encoding versions
    for ev in [0u64, 1, mv.encver() + 1, 7, 1023] {
        if ev == mv.encver() {
            continue;
        }
        fz.try_payload(
            &format!("{name}: encver {} -> {ev}", mv.encver()),
            &mv.with_encver(ev).to_payload(),
        );
    }

    // --- the framing (whole body) ------------------------------------------
    let body_cuts: Vec<usize> = if body.len() <= 1300 {
        (1..body.len()).collect()
    } else {
        let mut v: Vec<usize> = (1..48).chain(body.len() - 48..body.len()).collect();
        v.extend((0..scale(60)).map(|_| rng.gen_range(1..body.len())));
        v
    };
    for n in body_cuts {
        fz.try_payload(
            &format!("{name}: body truncated to {n}/{}", body.len()),
            &dump::frame(&body[..n], ver),
        );
    }
    // the same with Redis's own (possibly LZF-compressed) body
    for n in (1..orig_body.len()).step_by((orig_body.len() / 80).max(1)) {
        fz.try_payload(
            &format!("{name}: original body truncated to {n}/{}", orig_body.len()),
            &dump::frame(&orig_body[..n], ver),
        );
    }
    // bit flips in the framing: module id, opcodes, lengths (not byte 0, the RDB type)
    let head = body.len().min(24);
    for i in 1..head {
        for bit in 0..8 {
            let mut b = body.clone();
            b[i] ^= 1 << bit;
            fz.try_payload(
                &format!("{name}: body bit {bit} of byte {i} flipped"),
                &dump::frame(&b, ver),
            );
        }
    }
    for k in 1..=4usize {
        // the trailing EOF opcode and the bytes just before it
        if body.len() > k {
            let mut b = body.clone();
            let i = body.len() - k;
            for v in [0u8, 1, 2, 5, 0xff] {
                b[i] = v;
                fz.try_payload(&format!("{name}: body byte -{k} := {v}"), &dump::frame(&b, ver));
            }
        }
    }
    for _ in 0..scale(60) {
        let mut b = orig_body.to_vec();
        let i = rng.gen_range(1..b.len());
        b[i] ^= 1 << rng.gen_range(0..8);
        fz.try_payload(
            &format!("{name}: original body byte {i} bit-flipped"),
            &dump::frame(&b, ver),
        );
    }
    // trailing garbage after EOF
    fz.try_payload(
        &format!("{name}: body + garbage"),
        &dump::frame(&[body.clone(), vec![0, 0, 0]].concat(), ver),
    );
    // a CRC that does not match is refused before the module sees it
    let mut bad = payload.to_vec();
    let l = bad.len();
    bad[l - 1] ^= 1;
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("fz:badcrc").arg(0).arg(&bad);
    assert!(
        cmd.query::<Value>(&mut fz.c).is_err(),
        "{name}: a payload with a bad CRC was accepted"
    );
    println!(
        "{name}: {} variants ({} accepted) in {:?} (blob {} bytes)",
        fz.n - before,
        fz.accepted - acc0,
        t0.elapsed(),
        bl
    );
}

#[test]
fn corrupt_and_truncated_payloads_are_refused_or_sane() {
    let mut srv = Server::start();
    let mut c = srv.conn();
    let sources = build_sources(&mut c);
    let mut payloads = Vec::new();
    for (name, members) in &sources {
        let p = dump_key(&mut c, name);
        let mv = dump::parse(&p).unwrap_or_else(|e| panic!("cannot parse the DUMP of {name}: {e}"));
        println!(
            "{name}: {} likes, payload {} bytes, module type {:?} encver {}, fields {:?}",
            members.len(),
            p.len(),
            mv.type_name(),
            mv.encver(),
            mv.fields
                .iter()
                .map(|f| match f {
                    Field::Str(s) => format!("STRING({} bytes)", s.len()),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
        );
        // The module saves exactly: UINT count, STRING blob.
        assert_eq!(
            mv.fields.len(),
            2,
            "{name}: expected [UINT count, STRING blob], got {:?}",
            mv.fields.len()
        );
        assert_eq!(
            mv.fields[0],
            Field::Uint(members.len() as u64),
            "{name}: first field is the count"
        );
        assert!(matches!(mv.fields[1], Field::Str(_)), "{name}: second field is the blob");
        payloads.push((name.clone(), p));
    }
    let mut fz = Fuzz {
        c: srv.conn(),
        n: 0,
        accepted: 0,
        refused: 0,
        errors: BTreeMap::new(),
        failures: Vec::new(),
        slow: Vec::new(),
    };
    let mut rng = StdRng::seed_from_u64(0xC0FFEE);
    for (name, p) in &payloads {
        variants_for(name, p, &mut rng, &mut fz);
        srv.assert_alive();
    }
    // blobs of random bytes
    let mv = dump::parse(&payloads[0].1).unwrap();
    for i in 0..400 {
        let len = rng.gen_range(0..64);
        let b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let cnt = if rng.gen_bool(0.5) { rng.gen_range(0..8) } else { rng.gen() };
        let m2 = ModuleValue { fields: vec![Field::Uint(cnt), Field::Str(b)], ..mv.clone() };
        fz.try_payload(&format!("random blob #{i} ({len} bytes, count {cnt})"), &m2.to_payload());
    }
    // random blobs that keep the first bytes of real blobs (plausible headers)
    for (name, p) in &payloads {
        let real = dump::parse(p).unwrap();
        let blob = real.blob().unwrap().clone();
        for i in 0..60 {
            let keep = rng.gen_range(1..=blob.len().min(12));
            let len = rng.gen_range(keep..keep + 64);
            let mut b = blob[..keep].to_vec();
            b.extend((keep..len).map(|_| rng.gen::<u8>()));
            let m2 = real.with_blob(b);
            fz.try_payload(
                &format!("{name}: random tail #{i} after {keep} header bytes"),
                &m2.to_payload(),
            );
        }
    }
    // activity rings (documented v2 layout: kind, u8 1, u32 last, 7 u32
    // minute stripes, 7 u32 hour stripes): random ring contents and stamps
    {
        let real = dump::parse(&payloads[0].1).unwrap();
        let blob = real.blob().unwrap().clone();
        if blob.len() >= 10 && blob[1] == 0 {
            let now_stripe = u32::from_le_bytes(blob[2..6].try_into().unwrap());
            for i in 0..200 {
                let mut b = vec![blob[0], 1];
                let last = match i % 4 {
                    0 => now_stripe,
                    1 => now_stripe.saturating_sub(rng.gen_range(0..800)),
                    2 => now_stripe + rng.gen_range(0..800),
                    _ => rng.gen(),
                };
                b.extend_from_slice(&last.to_le_bytes());
                for _ in 0..14 {
                    let v: u32 = match rng.gen_range(0..4) {
                        0 => 0,
                        1 => rng.gen_range(0..10),
                        2 => u32::MAX - rng.gen_range(0..3),
                        _ => rng.gen(),
                    };
                    b.extend_from_slice(&v.to_le_bytes());
                }
                b.extend_from_slice(&blob[10..]);
                fz.try_payload(
                    &format!("one: activity rings #{i} (last {last}, now {now_stripe})"),
                    &real.with_blob(b).to_payload(),
                );
            }
        } else {
            println!("blob layout not as documented; skipping the activity-rings variants");
        }
    }
    srv.assert_alive();
    println!(
        "corrupt: {} variants: {} refused, {} accepted (sane-checked), {} insane",
        fz.n,
        fz.refused,
        fz.accepted,
        fz.failures.len()
    );
    fz.slow.sort();
    fz.slow.reverse();
    println!("slowest variants ({} over 20 ms):", fz.slow.len());
    for (d, what) in fz.slow.iter().take(15) {
        println!("  {d:?}  {what}");
    }
    println!("error replies seen (first 90 chars, count):");
    for (e, n) in fz.errors.iter().take(30) {
        println!("  {n:5}  {e}");
    }
    // the original keys are intact
    for (name, members) in &sources {
        assert_eq!(all_users(&mut c, name), *members, "{name} changed");
    }
    if !fz.failures.is_empty() {
        // Two kinds: the like-set itself (members/count/HAS/DUMP), or only
        // its recent-activity counters (LIKE.RATE).
        let (rate, set): (Vec<&String>, Vec<&String>) =
            fz.failures.iter().partition(|f| f.contains("LIKE.RATE"));
        let show = |v: &[&String]| {
            v.iter()
                .take(if std::env::var("LIKE_ALL_FAILURES").is_ok() { usize::MAX } else { 12 })
                .map(|s| format!("  - {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{} of {} loaded corrupt variants misbehave: {} in the like-set, {} only in LIKE.RATE\n\
             like-set failures:\n{}\nLIKE.RATE failures:\n{}",
            fz.failures.len(),
            fz.accepted,
            set.len(),
            rate.len(),
            show(&set),
            show(&rate)
        );
    }
}

/// A value DUMPed on a server whose clock is ahead (or with a corrupt
/// activity timestamp) must not stop LIKE.RATE from counting new likes.
/// Relies on the v2 blob layout documented in src/likeset/codec.rs
/// (`u8 kind, u8 0 (inline activity), u32 LE stripe, u32 LE count, ...`).
#[test]
fn restored_activity_from_the_future_keeps_counting() {
    let (_srv, mut c) = start_with_likes("src", &["1", "2", "3"]);
    let p = dump_key(&mut c, "src");
    let mv = dump::parse(&p).unwrap();
    let blob = mv.blob().unwrap().clone();
    let now_stripe =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            / 10_000) as u32;
    assert!(
        blob.len() >= 10 && blob[1] == 0,
        "unexpected blob layout {:02x?}",
        &blob[..blob.len().min(16)]
    );
    let stripe = u32::from_le_bytes(blob[2..6].try_into().unwrap());
    assert!(
        stripe.abs_diff(now_stripe) <= 1,
        "blob[2..6] = {stripe} is not the current 10 s stripe {now_stripe}"
    );
    for (ahead, what) in
        [(6u32, "60 s"), (360, "1 hour"), (u32::MAX - stripe, "corrupt: far future")]
    {
        let mut b = blob.clone();
        b[2..6].copy_from_slice(&(stripe + ahead).to_le_bytes());
        let key = format!("skew:{ahead}");
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(&key).arg(0).arg(mv.with_blob(b).to_payload());
        if let Err(e) = cmd.query::<Value>(&mut c) {
            println!("activity {what} ahead: refused ({})", redis_error_text(&e));
            continue;
        }
        let before = ints(&mut c, &["LIKE.RATE", &key]);
        assert_eq!(int(&mut c, &["LIKE.ADD", &key, "4", "5"]), 2);
        let after = ints(&mut c, &["LIKE.RATE", &key]);
        println!("activity {what} ahead: LIKE.RATE {before:?} -> after 2 new likes {after:?}");
        assert!(
            after[0] >= before[0] + 2 && after[1] >= before[1] + 2,
            "activity stamped {what} ahead: LIKE.RATE went {before:?} -> {after:?} after 2 new likes (want both +2)"
        );
    }
}
