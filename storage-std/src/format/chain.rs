//! The BLAKE3 digest chain (digest kind [`DIGEST_KIND_CHAIN`], segment format 3).
//!
//! Each segment's digest covers the previous segment's digest, the segment's base
//! sequence and its record bytes exactly as they lie on disk (prefixes, payloads,
//! padding, lost-range markers), in order:
//!
//! ```text
//! digest(segment) = BLAKE3-derive-key(CONTEXT, prev digest (32) | base_seq (u64 LE) | records)
//! ```
//!
//! A sealed footer's digest area holds `prev | digest`. The log's digest at a sequence
//! `n` is the same hash taken over the records of `n`'s segment up to and including `n`
//! (BLAKE3 can finalize a running hash at any point), so it is defined at every record:
//! the writer publishes it at each durable point, a sealed segment's footer holds it at
//! its last record, and the verifier recomputes it in one streaming pass. The first
//! segment of a chain has an all-zero `prev` ([`CHAIN_START`]); a log whose front was
//! cut by retention or tiering keeps the digest at the cut in its
//! [`CHAIN_FRONT_FILE`](super::CHAIN_FRONT_FILE) ([`ChainFront`]).

use super::checks::{StructError, check_struct, invalid, le_u64, put_u32, put_u64};

/// The footer digest kind of the BLAKE3 chain.
pub const DIGEST_KIND_CHAIN: u32 = 1;
/// The oldest segment format version whose footer may carry the chain.
pub const CHAIN_MIN_VERSION: u32 = 3;
/// Length of one digest.
pub const DIGEST_BYTES: usize = 32;
/// A chain digest.
pub type ChainDigest = [u8; DIGEST_BYTES];
/// The `prev` of the first segment of a chain.
pub const CHAIN_START: ChainDigest = [0; DIGEST_BYTES];
/// The BLAKE3 key-derivation context of the chain (so its digests never equal a plain
/// BLAKE3 of the same bytes).
pub const CONTEXT: &str = "ringlog 2026-12 segment digest chain v1";

/// A segment's running digest: feed it the segment's record bytes in order.
///
/// ```
/// use storage_std::format::chain::{SegmentChain, CHAIN_START};
/// let mut a = SegmentChain::new(CHAIN_START, 0);
/// a.update(b"01234567");
/// let mut b = SegmentChain::new(CHAIN_START, 0);
/// b.update(b"0123");
/// b.update(b"4567");
/// assert_eq!(a.digest(), b.digest());
/// assert_ne!(a.digest(), SegmentChain::new(CHAIN_START, 1).digest());
/// ```
#[derive(Clone, Debug)]
pub struct SegmentChain {
    hasher: blake3::Hasher,
    prev: ChainDigest,
}

impl SegmentChain {
    /// A segment's chain state before its first record.
    pub fn new(prev: ChainDigest, base_seq: u64) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        hasher.update(&prev);
        hasher.update(&base_seq.to_le_bytes());
        Self { hasher, prev }
    }

    /// Adds record bytes (any split: the digest depends on the bytes only).
    pub fn update(&mut self, records: &[u8]) {
        self.hasher.update(records);
    }

    /// The digest over everything added so far (the hash goes on).
    pub fn digest(&self) -> ChainDigest {
        *self.hasher.finalize().as_bytes()
    }

    /// The previous segment's digest this one started from.
    pub fn prev(&self) -> ChainDigest {
        self.prev
    }

    /// The footer's digest area: `prev | digest`.
    pub fn footer_area(&self) -> [u8; 2 * DIGEST_BYTES] {
        area(&self.prev, &self.digest())
    }
}

/// A footer's digest area from `prev` and the segment's digest.
pub fn area(prev: &ChainDigest, digest: &ChainDigest) -> [u8; 2 * DIGEST_BYTES] {
    let mut a = [0u8; 2 * DIGEST_BYTES];
    a[..DIGEST_BYTES].copy_from_slice(prev);
    a[DIGEST_BYTES..].copy_from_slice(digest);
    a
}

/// Splits a footer's digest area into `(prev, digest)`.
pub fn split_area(a: &[u8; 2 * DIGEST_BYTES]) -> (ChainDigest, ChainDigest) {
    let mut prev = [0u8; DIGEST_BYTES];
    let mut this = [0u8; DIGEST_BYTES];
    prev.copy_from_slice(&a[..DIGEST_BYTES]);
    this.copy_from_slice(&a[DIGEST_BYTES..]);
    (prev, this)
}

/// A digest as 64 lowercase hex digits.
pub fn to_hex(d: &ChainDigest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits (either case); anything else is an error that says why.
///
/// ```
/// use storage_std::format::chain::{parse_hex, to_hex};
/// let d = [7u8; 32];
/// assert_eq!(parse_hex(&to_hex(&d)), Ok(d));
/// assert!(parse_hex("abc").is_err());
/// ```
pub fn parse_hex(s: &str) -> Result<ChainDigest, String> {
    let s = s.trim();
    // All hex digits: `from_str_radix` alone would take a leading `+` ("+a" is 10).
    if s.len() != 2 * DIGEST_BYTES || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "a digest is {} hex digits, got {:?}",
            2 * DIGEST_BYTES,
            s
        ));
    }
    let mut d = [0u8; DIGEST_BYTES];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("not a hex digest: {s:?}"))?;
    }
    Ok(d)
}

/// Field offsets of the chain-front file.
///
/// ```text
///  0       8       12      16        24             56     60      64
///  | magic |version| zero  | seq     | digest (32)  | zero | crc32c|
/// ```
pub mod front {
    /// Magic bytes of the chain-front file.
    pub const MAGIC: [u8; 8] = *b"RINGLCHF";
    /// Offset of the version (u32).
    pub const VERSION_OFFSET: usize = 8;
    /// Offset of a reserved word (zero).
    pub const RESERVED_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the sequence the chain continues at (u64).
    pub const SEQ_OFFSET: usize = RESERVED_OFFSET + 4;
    /// Offset of the digest of everything before that sequence.
    pub const DIGEST_OFFSET: usize = SEQ_OFFSET + 8;
    /// Offset of a reserved word (zero).
    pub const RESERVED2_OFFSET: usize = DIGEST_OFFSET + super::DIGEST_BYTES;
    /// Offset of the CRC32C over all bytes before it.
    pub const CRC_OFFSET: usize = RESERVED2_OFFSET + 4;
    /// Length of the file.
    pub const LEN: usize = CRC_OFFSET + 4;
    const _: () = assert!(LEN == 64);
}

/// Where retention or tiering cut the front of a chained log: the segment at `seq`
/// starts from `digest` (its footer's `prev`), which the verifier takes as the chain's
/// start instead of [`CHAIN_START`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFront {
    /// The base sequence of the first segment kept.
    pub seq: u64,
    /// The digest of everything before it.
    pub digest: ChainDigest,
}

impl ChainFront {
    /// Encodes the 64-byte file.
    ///
    /// ```
    /// use storage_std::format::chain::ChainFront;
    /// let f = ChainFront { seq: 9, digest: [3; 32] };
    /// assert_eq!(ChainFront::decode(&f.encode()), Ok(f));
    /// ```
    pub fn encode(&self) -> [u8; front::LEN] {
        let mut b = [0u8; front::LEN];
        b[..8].copy_from_slice(&front::MAGIC);
        put_u32(&mut b, front::VERSION_OFFSET, 1);
        put_u64(&mut b, front::SEQ_OFFSET, self.seq);
        b[front::DIGEST_OFFSET..front::DIGEST_OFFSET + DIGEST_BYTES].copy_from_slice(&self.digest);
        let crc = crc32c::crc32c(&b[..front::CRC_OFFSET]);
        put_u32(&mut b, front::CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks the file (magic, version, CRC, zero reserved words).
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let (b, _) = check_struct(buf, front::LEN, &front::MAGIC, 1..=1)?;
        if b[front::RESERVED_OFFSET..front::SEQ_OFFSET] != [0; 4]
            || b[front::RESERVED2_OFFSET..front::CRC_OFFSET] != [0; 4]
        {
            return Err(invalid("non-zero reserved chain-front bytes"));
        }
        let mut digest = [0u8; DIGEST_BYTES];
        digest.copy_from_slice(&b[front::DIGEST_OFFSET..front::DIGEST_OFFSET + DIGEST_BYTES]);
        Ok(Self {
            seq: le_u64(b, front::SEQ_OFFSET),
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::checks::bits;

    #[test]
    fn digest_depends_on_every_input() {
        let mut a = SegmentChain::new(CHAIN_START, 5);
        a.update(&[1; 4096]);
        let d = a.digest();
        let mut prev = CHAIN_START;
        prev[31] = 1;
        let mut b = SegmentChain::new(prev, 5);
        b.update(&[1; 4096]);
        assert_ne!(b.digest(), d);
        let mut c = SegmentChain::new(CHAIN_START, 5);
        let mut bytes = [1u8; 4096];
        bytes[4000] = 0;
        c.update(&bytes);
        assert_ne!(c.digest(), d);
        // Finalizing does not stop the hash.
        a.update(&[2]);
        assert_ne!(a.digest(), d);
        let (p, t) = split_area(&a.footer_area());
        assert_eq!((p, t), (CHAIN_START, a.digest()));
    }

    #[test]
    fn front_file_rejects_every_bit_flip_and_garbage() {
        let f = ChainFront {
            seq: 77,
            digest: [0xab; 32],
        };
        let b = f.encode();
        for bit in bits(b.len()) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(ChainFront::decode(&d).is_err(), "bit {bit}");
        }
        assert!(ChainFront::decode(&b[..40]).is_err());
        assert!(ChainFront::decode(&[0xff; 64]).is_err());
        assert!(parse_hex(&"g".repeat(64)).is_err());
        assert!(parse_hex(&"é".repeat(32)).is_err());
    }
}
