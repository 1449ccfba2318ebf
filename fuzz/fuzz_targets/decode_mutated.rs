//! Decoding near-valid payloads: a set is built from the input (IDs of one
//! shape, dense runs, recent activity), encoded at version 1 or the current
//! version, then damaged by a few edits (bit flips, overwrites, truncation,
//! inserted and deleted bytes). Reaches the deep checks of every payload kind
//! (roaring shards, elias-fano runs) that random bytes rarely get past.
//!
//! Undamaged, the payload must decode to the same set; damaged, it must be
//! refused or decode to a sane set (the `decode` target's checks).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

use like::likeset::{codec, Activity, LikeSet};
use redis_like_fuzz::{check_set, encode_v1, policy, round_trip, Shape};

#[derive(Arbitrary, Debug)]
enum Edit {
    Xor {
        at: u16,
        mask: u8,
    },
    Set {
        at: u16,
        byte: u8,
    },
    Truncate {
        len: u16,
    },
    Insert {
        at: u16,
        bytes: [u8; 3],
    },
    Delete {
        at: u16,
        n: u8,
    },
    /// Overwrite 8 little-endian bytes (a first ID, a roaring header word).
    Word {
        at: u16,
        value: u64,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    ids: Vec<u64>,
    /// Runs of consecutive IDs: (start, length % 4096).
    runs: Vec<(u64, u16)>,
    /// Recent adds recorded at these times (ms).
    adds: Vec<(u64, u8)>,
    build_policy: u8,
    load_policy: u8,
    v1: bool,
    /// Decode as version 2 when the payload is not elias-fano (same format).
    as_v2: bool,
    edits: Vec<Edit>,
}

fn apply(buf: &mut Vec<u8>, edit: &Edit) {
    let at = |i: u16, len: usize| usize::from(i) % len.max(1);
    match *edit {
        Edit::Xor { at: i, mask } if !buf.is_empty() => {
            let i = at(i, buf.len());
            buf[i] ^= mask.max(1);
        }
        Edit::Set { at: i, byte } if !buf.is_empty() => {
            let i = at(i, buf.len());
            buf[i] = byte;
        }
        Edit::Truncate { len } => buf.truncate(usize::from(len) % (buf.len() + 1)),
        Edit::Insert { at: i, bytes } => {
            let i = at(i, buf.len() + 1);
            buf.splice(i..i, bytes);
        }
        Edit::Delete { at: i, n } if !buf.is_empty() => {
            let i = at(i, buf.len());
            let end = (i + usize::from(n % 16) + 1).min(buf.len());
            buf.drain(i..end);
        }
        Edit::Word { at: i, value } if buf.len() >= 8 => {
            let i = at(i, buf.len() - 7);
            buf[i..i + 8].copy_from_slice(&value.to_le_bytes());
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let mut ids: Vec<u64> = input.ids.iter().take(4096).map(|&r| input.shape.id(r)).collect();
    for &(start, len) in input.runs.iter().take(8) {
        let start = input.shape.id(start);
        ids.extend(
            (0..u64::from(len % 4096))
                .map_while(|k| start.checked_add(k))
                .map(|id| id.min(like::likeset::MAX_ID)),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    let mut activity = Activity::default();
    for &(t, n) in input.adds.iter().take(16) {
        activity.record(t % (1 << 45), u32::from(n));
    }
    let build = policy(input.build_policy);
    let load = policy(input.load_policy);
    let set = LikeSet::from_sorted(&ids, activity, &build);
    if set.is_empty() {
        return;
    }
    let (mut buf, version) = if input.v1 {
        (encode_v1(&ids), 1)
    } else {
        let mut buf = Vec::new();
        codec::encode(&set, &mut buf);
        // Kind 2 (elias-fano) is version 3 only.
        let version = if input.as_v2 && buf[0] != 2 { 2 } else { codec::CURRENT_VERSION };
        (buf, version)
    };
    let undamaged = buf.clone();
    for edit in input.edits.iter().take(8) {
        apply(&mut buf, edit);
    }
    let decoded = codec::decode(&buf, version, &load);
    if buf == undamaged {
        let back =
            decoded.unwrap_or_else(|e| panic!("valid v{version} payload of {set:?} refused: {e}"));
        assert_eq!(back.to_vec(), ids, "v{version} payload decoded to other IDs");
        if version != 1 {
            let times = redis_like_fuzz::rate_times(set.activity());
            assert_eq!(
                redis_like_fuzz::rates(&back, &times),
                redis_like_fuzz::rates(&set, &times),
                "v{version} payload decoded to other activity"
            );
        }
        return;
    }
    let Ok(back) = decoded else { return };
    let got = check_set(&back);
    if !back.is_empty() {
        round_trip(&back, got.as_deref(), &load);
    }
});
