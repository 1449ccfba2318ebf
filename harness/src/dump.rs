//! Redis 7.0 DUMP payloads of module values: CRC64, framing, parser, builder.
//!
//! A DUMP payload is `<body><2-byte LE RDB version><8-byte LE CRC64 of all
//! bytes before it>`. For a module value the body is
//! `7 (RDB_TYPE_MODULE_2)`, the module type id as an RDB length (0x81 + 8
//! bytes big-endian; its low 10 bits are the type's encoding version), then
//! each saved field as `<opcode as RDB length><value>`, then opcode 0 (EOF).
//! Opcodes: 1 SINT, 2 UINT (RDB length), 3 FLOAT (4 bytes LE),
//! 4 DOUBLE (8 bytes LE), 5 STRING (RDB string). RDB strings may be stored
//! LZF-compressed (0xC3) or integer-encoded (0xC0..0xC2); the parser
//! understands both, the builder always writes plain strings.
pub const RDB_TYPE_MODULE_2: u8 = 7;
/// The oldest RDB version a supported server writes (Redis 7.0's); newer
/// servers write higher ones (Redis 7.4+ and Valkey 8 write 12).
pub const RDB_VERSION_MIN: u16 = 10;

pub const OP_EOF: u64 = 0;
pub const OP_SINT: u64 = 1;
pub const OP_UINT: u64 = 2;
pub const OP_FLOAT: u64 = 3;
pub const OP_DOUBLE: u64 = 4;
pub const OP_STRING: u64 = 5;

// ----------------------------------------------------------------- CRC64 --

const fn crc64_table() -> [u64; 256] {
    // Jones polynomial 0xad93d23594c935a9, reflected: 0x95ac9329ac4bc9b5
    let poly: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut j = 0;
        while j < 8 {
            if crc & 1 == 1 {
                crc = (crc >> 1) ^ poly;
            } else {
                crc >>= 1;
            }
            j += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC64_TABLE: [u64; 256] = crc64_table();

/// Redis's crc64 (Jones, reflected in and out, init 0, no xorout).
pub fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc = CRC64_TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

// --------------------------------------------------------------- framing --

/// Split a DUMP payload into (body, rdb version), checking the CRC.
pub fn unframe(payload: &[u8]) -> Result<(&[u8], u16), String> {
    if payload.len() < 10 {
        return Err(format!("payload too short ({} bytes)", payload.len()));
    }
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    let crc = u64::from_le_bytes(payload[n - 8..].try_into().unwrap());
    let want = crc64(&payload[..n - 8]);
    if crc != want {
        return Err(format!("bad CRC64: payload has {crc:#018x}, computed {want:#018x}"));
    }
    Ok((&payload[..n - 10], version))
}

/// Append the RDB version and the CRC64 to a body.
pub fn frame(body: &[u8], version: u16) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Recompute the trailing CRC64 of a (possibly mutated) payload in place.
pub fn fix_crc(payload: &mut [u8]) {
    let n = payload.len();
    assert!(n >= 8);
    let crc = crc64(&payload[..n - 8]);
    payload[n - 8..].copy_from_slice(&crc.to_le_bytes());
}

// ----------------------------------------------------- RDB length/string --

pub fn write_len(out: &mut Vec<u8>, v: u64) {
    if v < (1 << 6) {
        out.push(v as u8);
    } else if v < (1 << 14) {
        out.push(0x40 | (v >> 8) as u8);
        out.push((v & 0xff) as u8);
    } else if v <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!("short read: need {n} bytes at offset {}", self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// An RDB length; `Ok((value, true))` for a special encoding (11xxxxxx).
    pub fn len_or_enc(&mut self) -> Result<(u64, bool), String> {
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(((b & 0x3f) as u64, false)),
            1 => {
                let b2 = self.u8()?;
                Ok(((((b & 0x3f) as u64) << 8) | b2 as u64, false))
            }
            2 => match b {
                0x80 => Ok((u32::from_be_bytes(self.take(4)?.try_into().unwrap()) as u64, false)),
                0x81 => Ok((u64::from_be_bytes(self.take(8)?.try_into().unwrap()), false)),
                _ => Err(format!("bad length byte {b:#04x} at offset {}", self.pos - 1)),
            },
            _ => Ok(((b & 0x3f) as u64, true)),
        }
    }

    /// Reads an RDB length (not the reader's size, hence no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&mut self) -> Result<u64, String> {
        match self.len_or_enc()? {
            (v, false) => Ok(v),
            (_, true) => Err(format!("unexpected encoded length at offset {}", self.pos - 1)),
        }
    }

    pub fn string(&mut self) -> Result<Vec<u8>, String> {
        let (v, enc) = self.len_or_enc()?;
        if !enc {
            return Ok(self.take(v as usize)?.to_vec());
        }
        match v {
            0 => Ok((self.take(1)?[0] as i8).to_string().into_bytes()),
            1 => Ok(i16::from_le_bytes(self.take(2)?.try_into().unwrap()).to_string().into_bytes()),
            2 => Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()).to_string().into_bytes()),
            3 => {
                let clen = self.len()? as usize;
                let len = self.len()? as usize;
                let data = self.take(clen)?;
                lzf_decompress(data, len)
            }
            _ => Err(format!("unknown string encoding {v}")),
        }
    }
}

/// LZF decompression (liblzf format, as used by Redis for RDB strings).
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, String> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if ip + n > input.len() {
                return Err("lzf: literal run past input".into());
            }
            out.extend_from_slice(&input[ip..ip + n]);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or("lzf: truncated")? as usize;
                ip += 1;
            }
            let lo = *input.get(ip).ok_or("lzf: truncated")? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + lo + 1;
            if back > out.len() {
                return Err("lzf: back reference before start".into());
            }
            let start = out.len() - back;
            for i in 0..len + 2 {
                let b = out[start + i];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return Err("lzf: output longer than declared".into());
        }
    }
    if out.len() != out_len {
        return Err(format!("lzf: got {} bytes, declared {out_len}", out.len()));
    }
    Ok(out)
}

// ---------------------------------------------------------- module value --

#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Uint(u64),
    Sint(i64),
    Float(f32),
    Double(f64),
    Str(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModuleValue {
    /// The module type id: 9-character name and 10-bit encoding version.
    pub module_id: u64,
    pub fields: Vec<Field>,
    pub rdb_version: u16,
}

const NAME_CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl ModuleValue {
    pub fn encver(&self) -> u64 {
        self.module_id & 1023
    }

    pub fn with_encver(&self, encver: u64) -> ModuleValue {
        let mut v = self.clone();
        v.module_id = (self.module_id & !1023) | (encver & 1023);
        v
    }

    /// The module type's 9-character name.
    pub fn type_name(&self) -> String {
        let mut id = self.module_id >> 10;
        let mut name = vec![0u8; 9];
        for j in (0..9).rev() {
            name[j] = NAME_CHARSET[(id & 63) as usize];
            id >>= 6;
        }
        String::from_utf8(name).unwrap()
    }

    /// The body (everything before the RDB version and CRC).
    pub fn body(&self) -> Vec<u8> {
        let mut out = vec![RDB_TYPE_MODULE_2];
        write_len(&mut out, self.module_id);
        for f in &self.fields {
            match f {
                Field::Uint(v) => {
                    write_len(&mut out, OP_UINT);
                    write_len(&mut out, *v);
                }
                Field::Sint(v) => {
                    write_len(&mut out, OP_SINT);
                    write_len(&mut out, *v as u64);
                }
                Field::Float(v) => {
                    write_len(&mut out, OP_FLOAT);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Field::Double(v) => {
                    write_len(&mut out, OP_DOUBLE);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Field::Str(s) => {
                    write_len(&mut out, OP_STRING);
                    write_string(&mut out, s);
                }
            }
        }
        write_len(&mut out, OP_EOF);
        out
    }

    /// A complete RESTORE payload.
    pub fn to_payload(&self) -> Vec<u8> {
        frame(&self.body(), self.rdb_version)
    }

    /// The first STRING field (the module's blob).
    pub fn blob(&self) -> Option<&Vec<u8>> {
        self.fields.iter().find_map(|f| match f {
            Field::Str(s) => Some(s),
            _ => None,
        })
    }

    pub fn with_blob(&self, blob: Vec<u8>) -> ModuleValue {
        let mut v = self.clone();
        for f in v.fields.iter_mut() {
            if let Field::Str(s) = f {
                *s = blob;
                return v;
            }
        }
        panic!("no STRING field");
    }
}

/// Parse a DUMP payload of a module value (checks the CRC).
pub fn parse(payload: &[u8]) -> Result<ModuleValue, String> {
    let (body, rdb_version) = unframe(payload)?;
    let mut r = Reader::new(body);
    let t = r.u8()?;
    if t != RDB_TYPE_MODULE_2 {
        return Err(format!("type byte {t}, expected {RDB_TYPE_MODULE_2} (RDB_TYPE_MODULE_2)"));
    }
    let module_id = r.len()?;
    let mut fields = Vec::new();
    loop {
        let op = r.len()?;
        match op {
            OP_EOF => break,
            OP_UINT => fields.push(Field::Uint(r.len()?)),
            OP_SINT => fields.push(Field::Sint(r.len()? as i64)),
            OP_FLOAT => {
                let b = r.take(4)?;
                fields.push(Field::Float(f32::from_le_bytes(b.try_into().unwrap())))
            }
            OP_DOUBLE => {
                let b = r.take(8)?;
                fields.push(Field::Double(f64::from_le_bytes(b.try_into().unwrap())))
            }
            OP_STRING => fields.push(Field::Str(r.string()?)),
            other => return Err(format!("unknown module opcode {other} at offset {}", r.pos)),
        }
    }
    if r.pos != body.len() {
        return Err(format!("{} trailing bytes after EOF opcode", body.len() - r.pos));
    }
    Ok(ModuleValue { module_id, fields, rdb_version })
}
