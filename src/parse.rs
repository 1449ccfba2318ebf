//! Strict parsing of user IDs and small integer options, as Redis writes
//! integers: decimal digits only, no sign, no leading zeros, no spaces.

use crate::likeset::MAX_ID;

/// A user ID from 0 to 2^63-1, or None.
pub fn parse_user_id(arg: &[u8]) -> Option<u64> {
    parse_canonical(arg).filter(|&v| v <= MAX_ID)
}

/// Eight ASCII '0's, as a word.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// A canonical decimal integer that fits u64.
pub fn parse_canonical(arg: &[u8]) -> Option<u64> {
    match arg {
        [] => None,
        [b'0'] => Some(0),
        [b'0', ..] => None,
        // Up to 19 digits cannot overflow u64: no checked arithmetic per digit.
        _ if arg.len() < 20 => {
            // Eight digits at a time (SWAR), the leading len % 8 of them first.
            let (head, eights) = arg.split_at(arg.len() % 8);
            let mut value = 0u64;
            if let (1..=7, Some(word)) = (head.len(), arg.first_chunk::<8>()) {
                // The first eight bytes hold the head in their low bytes:
                // shift it up and pad below with '0's (leading zeros).
                let pad = 8 * (8 - head.len() as u32);
                value = eight_digits((u64::from_le_bytes(*word) << pad) | (ZEROS >> (64 - pad)))?;
            } else {
                for &c in head {
                    let digit = c.wrapping_sub(b'0');
                    if digit > 9 {
                        return None;
                    }
                    value = value * 10 + u64::from(digit);
                }
            }
            for chunk in eights.chunks_exact(8) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(chunk);
                value = value * 100_000_000 + eight_digits(u64::from_le_bytes(bytes))?;
            }
            Some(value)
        }
        _ => arg.iter().try_fold(0u64, |acc, &c| {
            if c.is_ascii_digit() {
                acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            } else {
                None
            }
        }),
    }
}

/// The value of eight ASCII digits read as a little-endian word (the first
/// digit in the low byte), or None if any byte is not a digit: each step
/// combines neighbouring groups with one multiply (SWAR).
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // Each byte is 0x30..=0x39: high nibble 3, and adding 6 does not carry out of it.
    if word & HIGH_NIBBLES != ZEROS || (word + 0x0606_0606_0606_0606) & HIGH_NIBBLES != ZEROS {
        return None;
    }
    let digits = word - ZEROS;
    let pairs = (digits * 10 + (digits >> 8)) & 0x00FF_00FF_00FF_00FF;
    let quads = (pairs * 100 + (pairs >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((quads * 10_000 + (quads >> 32)) & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_standard_library() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..200_000 {
            let len = (next() % 22) as usize;
            let arg: Vec<u8> = (0..len)
                .map(|_| match next() % 16 {
                    0 => b"/:a +-"[(next() % 6) as usize],
                    _ => b'0' + (next() % 10) as u8,
                })
                .collect();
            let text = std::str::from_utf8(&arg).unwrap_or_default();
            let canonical = text.bytes().all(|c| c.is_ascii_digit())
                && !text.is_empty()
                && (text == "0" || !text.starts_with('0'));
            let want = if canonical { text.parse::<u64>().ok() } else { None };
            assert_eq!(parse_canonical(&arg), want, "{text:?}");
        }
    }

    #[test]
    fn accepts_canonical_ids_only() {
        assert_eq!(parse_user_id(b"0"), Some(0));
        assert_eq!(parse_user_id(b"42"), Some(42));
        assert_eq!(parse_user_id(b"9223372036854775807"), Some(MAX_ID));
        assert_eq!(parse_canonical(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_canonical(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse_canonical(b"18446744073709551616"), None);
        for bad in [
            &b"-1"[..],
            b"+1",
            b"007",
            b"1.5",
            b"abc",
            b"0x10",
            b" 1",
            b"1 ",
            b"",
            b"00",
            b"9223372036854775808",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"1/",
            b"1:",
            b"9999999999999999999",
        ] {
            assert_eq!(parse_user_id(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
