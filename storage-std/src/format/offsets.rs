//! Consumer offset files: one small file per named consumer, holding the next sequence it
//! will read, replaced atomically (temporary file, sync, rename) on every commit.
//!
//! ```text
//!  0       8       12       16         24            32          96        100     104
//!  | magic |version| name_len| next_seq | committed_ns| name (64) | reserved| crc32c|
//! ```

use super::OFFSET_VERSION;
use super::checks::{
    StructError, all_zero, check_struct, invalid, le_u32, le_u64, put_u32, put_u64,
};

/// Magic bytes at the start of a consumer offset file.
pub const MAGIC: [u8; 8] = *b"RINGLOFF";
/// Offset of the magic.
pub const MAGIC_OFFSET: usize = 0;
/// Offset of the format version (u32).
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
/// Offset of the name length (u32, 1..=64).
pub const NAME_LEN_OFFSET: usize = VERSION_OFFSET + 4;
/// Offset of the committed next sequence (u64): every sequence below it is consumed.
pub const NEXT_SEQ_OFFSET: usize = NAME_LEN_OFFSET + 4;
/// Offset of the commit time (u64, ns since the Unix epoch).
pub const COMMITTED_OFFSET: usize = NEXT_SEQ_OFFSET + 8;
/// Offset of the name bytes (64, zero padded).
pub const NAME_OFFSET: usize = COMMITTED_OFFSET + 8;
/// Longest consumer name.
pub const MAX_CONSUMER_NAME: usize = 64;
/// Offset of a reserved word (must be zero).
pub const RESERVED_OFFSET: usize = NAME_OFFSET + MAX_CONSUMER_NAME;
/// Offset of the CRC32C.
pub const CRC_OFFSET: usize = RESERVED_OFFSET + 4;
/// Length of an offset file.
pub const FILE_LEN: usize = CRC_OFFSET + 4;

/// A committed consumer offset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsumerOffset {
    /// The consumer's name (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// The next sequence the consumer will read; everything below is consumed.
    pub next_seq: u64,
    /// When it was committed (ns since the Unix epoch).
    pub committed_ns: u64,
}

/// Whether `name` is a valid consumer name: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn valid_consumer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CONSUMER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ConsumerOffset {
    /// Encodes the offset file. The name must be valid (see [`valid_consumer_name`]).
    ///
    /// ```
    /// use storage_std::format::ConsumerOffset;
    /// let o = ConsumerOffset { name: "billing".into(), next_seq: 42, committed_ns: 7 };
    /// assert_eq!(ConsumerOffset::decode(&o.encode()), Ok(o));
    /// ```
    pub fn encode(&self) -> [u8; FILE_LEN] {
        let mut b = [0u8; FILE_LEN];
        b[..8].copy_from_slice(&MAGIC);
        put_u32(&mut b, VERSION_OFFSET, OFFSET_VERSION);
        let name = &self.name.as_bytes()[..self.name.len().min(MAX_CONSUMER_NAME)];
        put_u32(&mut b, NAME_LEN_OFFSET, name.len() as u32);
        put_u64(&mut b, NEXT_SEQ_OFFSET, self.next_seq);
        put_u64(&mut b, COMMITTED_OFFSET, self.committed_ns);
        b[NAME_OFFSET..NAME_OFFSET + name.len()].copy_from_slice(name);
        let crc = crc32c::crc32c(&b[..CRC_OFFSET]);
        put_u32(&mut b, CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks an offset file (exactly [`FILE_LEN`] bytes).
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let (b, _) = check_struct(buf, FILE_LEN, &MAGIC, 1..=OFFSET_VERSION)?;
        if buf.len() != FILE_LEN {
            return Err(invalid("offset file has trailing bytes"));
        }
        let name_len = le_u32(b, NAME_LEN_OFFSET) as usize;
        if name_len == 0 || name_len > MAX_CONSUMER_NAME {
            return Err(invalid("bad consumer name length"));
        }
        let name_bytes = &b[NAME_OFFSET..NAME_OFFSET + name_len];
        if !all_zero(&b[NAME_OFFSET + name_len..CRC_OFFSET]) {
            return Err(invalid("non-zero bytes after the consumer name"));
        }
        let name = match std::str::from_utf8(name_bytes) {
            Ok(n) if valid_consumer_name(n) => n.to_owned(),
            _ => return Err(invalid("bad consumer name")),
        };
        Ok(Self {
            name,
            next_seq: le_u64(b, NEXT_SEQ_OFFSET),
            committed_ns: le_u64(b, COMMITTED_OFFSET),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::checks::bits;
    use crate::format::names::{
        index_name, parse_index_name, parse_offset_name, parse_segment_name, segment_name,
    };

    #[test]
    fn offsets_and_names() {
        let o = ConsumerOffset {
            name: "a-b_C9".into(),
            next_seq: u64::MAX,
            committed_ns: 1,
        };
        let b = o.encode();
        assert_eq!(ConsumerOffset::decode(&b), Ok(o));
        for bit in bits(b.len()) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(ConsumerOffset::decode(&d).is_err(), "bit {bit}");
        }
        assert!(!valid_consumer_name("a/b"));
        assert!(!valid_consumer_name(""));
        assert!(!valid_consumer_name(&"x".repeat(65)));
        assert_eq!(parse_offset_name("consumer-x.off"), Some("x"));
        assert_eq!(parse_offset_name("consumer-.off"), None);
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_index_name(&index_name(5)), Some(5));
        assert_eq!(parse_segment_name("0000000000000000000a.seg"), None);
    }
}
