//! Strict parsing of user IDs and small integer options, as Redis writes
//! integers: decimal digits only, no sign, no leading zeros, no spaces.

use crate::likeset::MAX_ID;

/// A user ID from 0 to 2^63-1, or None.
pub fn parse_user_id(arg: &[u8]) -> Option<u64> {
    parse_canonical(arg).filter(|&v| v <= MAX_ID)
}

/// A canonical decimal integer that fits u64.
pub fn parse_canonical(arg: &[u8]) -> Option<u64> {
    match arg {
        [] => None,
        [b'0'] => Some(0),
        [b'0', ..] => None,
        // Up to 19 digits cannot overflow u64: no checked arithmetic per digit.
        _ if arg.len() < 20 => arg.iter().try_fold(0u64, |acc, &c| {
            let digit = c.wrapping_sub(b'0');
            (digit <= 9).then_some(acc * 10 + u64::from(digit))
        }),
        _ => arg.iter().try_fold(0u64, |acc, &c| {
            if c.is_ascii_digit() {
                acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            } else {
                None
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
