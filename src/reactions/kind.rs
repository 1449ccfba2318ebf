//! Kind names: what an application calls a reaction (`like`, `dislike`,
//! `up`, an emoji). A name is 1 to 32 bytes, none of them a space or an ASCII
//! control byte; any other byte is fine, so UTF-8 emoji are names. Checked
//! once, when a command's argument or a payload's name is parsed.

use std::cmp::Ordering;
use std::fmt;

/// Longest kind name, in bytes.
pub const KIND_BYTES_MAX: usize = 32;

/// The kind every LIKE command works on.
pub const LIKE: &[u8] = b"like";

/// A valid kind name, held by value (33 bytes, `Copy`): what replies and
/// outcomes hand back. The table does not store these; it keeps its names
/// packed (see `table`).
#[derive(Clone, Copy)]
pub struct Kind {
    len: u8,
    bytes: [u8; KIND_BYTES_MAX],
}

/// Why a kind name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindError {
    Empty,
    /// Longer than `KIND_BYTES_MAX` bytes (the length given).
    TooLong(usize),
    /// A space or an ASCII control byte (the byte given).
    BadByte(u8),
}

impl fmt::Display for KindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindError::Empty => f.write_str("kind name is empty"),
            KindError::TooLong(n) => {
                write!(f, "kind name is {n} bytes, more than {KIND_BYTES_MAX}")
            }
            KindError::BadByte(b) => {
                write!(f, "kind name holds byte 0x{b:02x} (a space or a control character)")
            }
        }
    }
}

impl std::error::Error for KindError {}

/// True for the bytes a name may not hold: space, 0x00..=0x1F and 0x7F.
fn is_refused(b: u8) -> bool {
    b == b' ' || b.is_ascii_control()
}

impl Kind {
    /// The kind `like`.
    pub const LIKE: Kind = {
        let mut bytes = [0u8; KIND_BYTES_MAX];
        let mut i = 0;
        while i < LIKE.len() {
            bytes[i] = LIKE[i];
            i += 1;
        }
        Kind { len: LIKE.len() as u8, bytes }
    };

    /// Checks a name: 1..=32 bytes, no space, no ASCII control byte.
    pub fn parse(name: &[u8]) -> Result<Kind, KindError> {
        check(name)?;
        Ok(Kind::copy_of(name))
    }

    /// A kind from a name already checked (the table's own names). Copies at
    /// most 32 bytes, so a broken invariant cannot overrun.
    pub(crate) fn copy_of(name: &[u8]) -> Kind {
        debug_assert!(check(name).is_ok());
        let len = name.len().min(KIND_BYTES_MAX);
        let mut bytes = [0u8; KIND_BYTES_MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Kind { len: len as u8, bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn is_like(&self) -> bool {
        self.as_bytes() == LIKE
    }
}

/// Whether `name` is a valid kind name.
pub fn check(name: &[u8]) -> Result<(), KindError> {
    if name.is_empty() {
        return Err(KindError::Empty);
    }
    if name.len() > KIND_BYTES_MAX {
        return Err(KindError::TooLong(name.len()));
    }
    match name.iter().find(|&&b| is_refused(b)) {
        Some(&b) => Err(KindError::BadByte(b)),
        None => Ok(()),
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Kind {}

impl PartialEq<[u8]> for Kind {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Kind) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kind {
    /// Bytewise, as REACT.COUNTS orders equal counts.
    fn cmp(&self, other: &Kind) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl AsRef<[u8]> for Kind {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kind({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(Kind::parse(b""), Err(KindError::Empty));
        assert_eq!(Kind::parse(&[b'a'; 33]), Err(KindError::TooLong(33)));
        assert_eq!(Kind::parse(&[b'a'; 1000]), Err(KindError::TooLong(1000)));
        let k = Kind::parse(&[b'a'; 32]).expect("32 bytes is a name");
        assert_eq!(k.as_bytes(), &[b'a'; 32]);
        assert_eq!(Kind::parse(b"x").map(|k| k.as_bytes().to_vec()), Ok(b"x".to_vec()));
    }

    #[test]
    fn refused_bytes() {
        assert_eq!(Kind::parse(b"thumbs up"), Err(KindError::BadByte(b' ')));
        for b in (0u8..=0x1F).chain([0x7F]) {
            assert_eq!(Kind::parse(&[b'a', b, b'z']), Err(KindError::BadByte(b)), "{b:#x}");
            assert_eq!(Kind::parse(&[b]), Err(KindError::BadByte(b)), "{b:#x}");
        }
        // Every other byte, alone, is a name (not only valid UTF-8).
        for b in (0x21u8..=0x7E).chain(0x80..=0xFF) {
            assert!(Kind::parse(&[b]).is_ok(), "{b:#x}");
        }
    }

    #[test]
    fn emoji_and_like() {
        for name in ["👍", "👎", "❤️", "😂", "👨‍👩‍👧‍👦", "ok_hand", "投票"]
        {
            let k = Kind::parse(name.as_bytes()).expect("emoji are names");
            assert_eq!(k.as_bytes(), name.as_bytes());
            assert!(!k.is_like());
        }
        assert!(Kind::parse(b"like").expect("like").is_like());
        assert_eq!(Kind::LIKE, Kind::parse(LIKE).expect("like"));
        assert!(!Kind::parse(b"Like").expect("Like").is_like());
        assert!(Kind::parse(b"a").expect("a") < Kind::parse(b"ab").expect("ab"));
        assert!(Kind::parse(b"b").expect("b") > Kind::parse(b"ab").expect("ab"));
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(KindError::TooLong(40).to_string(), "kind name is 40 bytes, more than 32");
        assert!(KindError::BadByte(b' ').to_string().contains("0x20"));
    }
}
