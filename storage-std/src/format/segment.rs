//! Segment files: the 64-byte header every segment starts with, and the 160-byte footer
//! that seals it (the file ends right after the footer). The field offsets are in the
//! [`header`] and [`footer`] modules, each defined from the previous field.

use ringcore::frame::RECORD_ALIGN;

use super::checks::{
    StructError, all_zero, check_struct, invalid, le_u32, le_u64, put_u32, put_u64,
};
use super::record;
use super::{FORMAT_VERSION, MIN_FORMAT_VERSION};

/// The largest segment size a writer takes (`WriterOptions::with_segment_bytes`): 1 GiB.
/// (A single record larger than the segment size still gets a segment of its own.)
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// The smallest segment size a writer takes (`WriterOptions::with_segment_bytes`): 4 KiB.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

/// Whether a writer takes `bytes` as its segment size (and so a spare file may have it).
pub(crate) fn valid_segment_bytes(bytes: u64) -> bool {
    (MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&bytes)
}

/// Field offsets of the segment header.
///
/// ```text
///  0       8       12      16        24          32            40          60      64
///  | magic |version| flags | base_seq| created_ns| torn_window | reserved  | crc32c|
/// ```
pub mod header {
    /// Magic bytes at the start of every segment file.
    pub const MAGIC: [u8; 8] = *b"RINGLSEG";
    /// Offset of the magic.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of the format version (u32).
    pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
    /// Offset of the flags (u32, zero in version 1).
    pub const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the base sequence (u64): the first sequence the segment holds.
    pub const BASE_SEQ_OFFSET: usize = FLAGS_OFFSET + 4;
    /// Offset of the creation time (u64, ns since the Unix epoch).
    pub const CREATED_OFFSET: usize = BASE_SEQ_OFFSET + 8;
    /// Offset of the torn window (u64): the most bytes the writer leaves unsynced at a
    /// time; 0 means unbounded (durability `None`).
    pub const TORN_WINDOW_OFFSET: usize = CREATED_OFFSET + 8;
    /// Offset of the reserved bytes (must be zero).
    pub const RESERVED_OFFSET: usize = TORN_WINDOW_OFFSET + 8;
    /// Offset of the header's CRC32C over all bytes before it.
    pub const CRC_OFFSET: usize = RESERVED_OFFSET + 20;
    /// Length of a segment header; records start here.
    pub const LEN: usize = CRC_OFFSET + 4;

    const _: () = assert!(LEN == 64);
}

/// Field offsets of the segment footer.
///
/// ```text
///  0      8    12    16    24     32     40     48     56     64      72     80    84   88       152  156   160
///  |magic |ver |flags|base |count |last  |first |last  |max   |records|sealed|dig. |zero|digest  |zero|crc32c|
///  |      |    |     |_seq |      |_seq  |_ts   |_ts   |_ts   |_end   |_ns   |kind |    |area    |    |      |
/// ```
pub mod footer {
    use ringcore::frame::RECORD_ALIGN;

    /// Magic bytes at the start of a segment footer.
    pub const MAGIC: [u8; 8] = *b"RINGLFTR";
    /// Offset of the footer magic.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of the format version (u32).
    pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
    /// Offset of the flags (u32, zero in version 1).
    pub const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the base sequence (u64), equal to the header's.
    pub const BASE_SEQ_OFFSET: usize = FLAGS_OFFSET + 4;
    /// Offset of the record count (u64, at least 1).
    pub const COUNT_OFFSET: usize = BASE_SEQ_OFFSET + 8;
    /// Offset of the last sequence (u64) = base + count - 1.
    pub const LAST_SEQ_OFFSET: usize = COUNT_OFFSET + 8;
    /// Offset of the first record's timestamp (u64).
    pub const FIRST_TS_OFFSET: usize = LAST_SEQ_OFFSET + 8;
    /// Offset of the last record's timestamp (u64).
    pub const LAST_TS_OFFSET: usize = FIRST_TS_OFFSET + 8;
    /// Offset of the largest record timestamp (u64).
    pub const MAX_TS_OFFSET: usize = LAST_TS_OFFSET + 8;
    /// Offset of the end of the records (u64) = the footer's own offset in the file.
    pub const RECORDS_END_OFFSET: usize = MAX_TS_OFFSET + 8;
    /// Offset of the sealing time (u64, ns since the Unix epoch; retention's age).
    pub const SEALED_OFFSET: usize = RECORDS_END_OFFSET + 8;
    /// Offset of the digest kind (u32; 0 = no digest, the digest area is zero).
    pub const DIGEST_KIND_OFFSET: usize = SEALED_OFFSET + 8;
    /// Offset of a reserved word (must be zero).
    pub const RESERVED1_OFFSET: usize = DIGEST_KIND_OFFSET + 4;
    /// Offset of the digest-chain area (64 bytes: previous segment's digest, this one's).
    pub const DIGEST_OFFSET: usize = RESERVED1_OFFSET + 4;
    /// Length of the digest-chain area.
    pub const DIGEST_LEN: usize = 64;
    /// Offset of reserved bytes (must be zero).
    pub const RESERVED2_OFFSET: usize = DIGEST_OFFSET + DIGEST_LEN;
    /// Offset of the footer's CRC32C over all bytes before it.
    pub const CRC_OFFSET: usize = RESERVED2_OFFSET + 4;
    /// Length of a footer; a sealed segment's file ends right after it.
    pub const LEN: usize = CRC_OFFSET + 4;

    const _: () = assert!(LEN == 160 && LEN.is_multiple_of(RECORD_ALIGN));
}

/// The fixed header at the start of every segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentHeader {
    /// First sequence the segment holds (also its file name).
    pub base_seq: u64,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// Most bytes the writer of this segment left unsynced at a time (0 = unbounded).
    pub torn_window: u64,
}

impl SegmentHeader {
    /// Encodes the header as 64 bytes.
    ///
    /// ```
    /// use storage_std::format::SegmentHeader;
    /// let h = SegmentHeader { base_seq: 5, created_ns: 1, torn_window: 4096 };
    /// assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
    /// ```
    pub fn encode(&self) -> [u8; header::LEN] {
        self.encode_version(FORMAT_VERSION)
    }

    /// Encodes the header as format `version` (an older version, for tests and for
    /// sealing a segment of an older version in its own format).
    pub fn encode_version(&self, version: u32) -> [u8; header::LEN] {
        let mut b = [0u8; header::LEN];
        b[..8].copy_from_slice(&header::MAGIC);
        put_u32(&mut b, header::VERSION_OFFSET, version);
        put_u64(&mut b, header::BASE_SEQ_OFFSET, self.base_seq);
        put_u64(&mut b, header::CREATED_OFFSET, self.created_ns);
        put_u64(&mut b, header::TORN_WINDOW_OFFSET, self.torn_window);
        let crc = crc32c::crc32c(&b[..header::CRC_OFFSET]);
        put_u32(&mut b, header::CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks a header from the first 64 bytes of `buf` (any version this
    /// build reads).
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        Self::decode_versioned(buf).map(|(h, _)| h)
    }

    /// Like [`SegmentHeader::decode`], with the segment's format version.
    pub fn decode_versioned(buf: &[u8]) -> Result<(Self, u32), StructError> {
        let (b, version) = check_struct(
            buf,
            header::LEN,
            &header::MAGIC,
            MIN_FORMAT_VERSION..=FORMAT_VERSION,
        )?;
        if le_u32(b, header::FLAGS_OFFSET) != 0
            || !all_zero(&b[header::RESERVED_OFFSET..header::CRC_OFFSET])
        {
            return Err(invalid("non-zero reserved header bytes"));
        }
        let h = Self {
            base_seq: le_u64(b, header::BASE_SEQ_OFFSET),
            created_ns: le_u64(b, header::CREATED_OFFSET),
            torn_window: le_u64(b, header::TORN_WINDOW_OFFSET),
        };
        Ok((h, version))
    }
}

/// The footer that seals a segment: the file ends right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentFooter {
    /// First sequence (equals the header's).
    pub base_seq: u64,
    /// Number of records (at least 1).
    pub record_count: u64,
    /// Last sequence, `base_seq + record_count - 1`.
    pub last_seq: u64,
    /// Timestamp of the first record.
    pub first_ts: u64,
    /// Timestamp of the last record.
    pub last_ts: u64,
    /// Largest record timestamp.
    pub max_ts: u64,
    /// Offset where the records end and the footer starts.
    pub records_end: u64,
    /// When the segment was sealed (ns since the Unix epoch).
    pub sealed_ns: u64,
    /// Digest kind: 0 = none, [`super::chain::DIGEST_KIND_CHAIN`] (version 3 on) = the
    /// BLAKE3 chain.
    pub digest_kind: u32,
    /// Digest-chain area: zero while `digest_kind` is 0, else the previous segment's
    /// digest then this one's ([`super::chain::split_area`]). Not in the serde form,
    /// which reads back as zero.
    #[serde(skip, default = "no_digest")]
    pub digest: [u8; footer::DIGEST_LEN],
}

fn no_digest() -> [u8; footer::DIGEST_LEN] {
    [0; footer::DIGEST_LEN]
}

impl SegmentFooter {
    /// Encodes the footer as 160 bytes.
    ///
    /// ```
    /// use storage_std::format::SegmentFooter;
    /// let f = SegmentFooter { base_seq: 10, record_count: 2, last_seq: 11, first_ts: 1,
    ///     last_ts: 2, max_ts: 2, records_end: 64 + 64, sealed_ns: 3, digest_kind: 0,
    ///     digest: [0; 64] };
    /// assert_eq!(SegmentFooter::decode(&f.encode()), Ok(f));
    /// ```
    pub fn encode(&self) -> [u8; footer::LEN] {
        self.encode_version(FORMAT_VERSION)
    }

    /// Encodes the footer as format `version` (a segment is sealed in its own version).
    pub fn encode_version(&self, version: u32) -> [u8; footer::LEN] {
        let mut b = [0u8; footer::LEN];
        b[..8].copy_from_slice(&footer::MAGIC);
        put_u32(&mut b, footer::VERSION_OFFSET, version);
        put_u64(&mut b, footer::BASE_SEQ_OFFSET, self.base_seq);
        put_u64(&mut b, footer::COUNT_OFFSET, self.record_count);
        put_u64(&mut b, footer::LAST_SEQ_OFFSET, self.last_seq);
        put_u64(&mut b, footer::FIRST_TS_OFFSET, self.first_ts);
        put_u64(&mut b, footer::LAST_TS_OFFSET, self.last_ts);
        put_u64(&mut b, footer::MAX_TS_OFFSET, self.max_ts);
        put_u64(&mut b, footer::RECORDS_END_OFFSET, self.records_end);
        put_u64(&mut b, footer::SEALED_OFFSET, self.sealed_ns);
        put_u32(&mut b, footer::DIGEST_KIND_OFFSET, self.digest_kind);
        b[footer::DIGEST_OFFSET..footer::DIGEST_OFFSET + footer::DIGEST_LEN]
            .copy_from_slice(&self.digest);
        let crc = crc32c::crc32c(&b[..footer::CRC_OFFSET]);
        put_u32(&mut b, footer::CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks a footer from the first 160 bytes of `buf`: magic, version,
    /// CRC, zero reserved bytes, a digest area that is zero while the digest kind is 0;
    /// in version 1 a non-zero count and `last_seq == base_seq + count - 1`; in version
    /// 2 (where lost ranges may take sequences) `last_seq >= base_seq + count - 1` and
    /// at least one sequence covered.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let (b, version) = check_struct(
            buf,
            footer::LEN,
            &footer::MAGIC,
            MIN_FORMAT_VERSION..=FORMAT_VERSION,
        )?;
        if le_u32(b, footer::FLAGS_OFFSET) != 0
            || le_u32(b, footer::RESERVED1_OFFSET) != 0
            || le_u32(b, footer::RESERVED2_OFFSET) != 0
        {
            return Err(invalid("non-zero reserved footer bytes"));
        }
        let mut digest = [0u8; footer::DIGEST_LEN];
        digest
            .copy_from_slice(&b[footer::DIGEST_OFFSET..footer::DIGEST_OFFSET + footer::DIGEST_LEN]);
        let f = Self {
            base_seq: le_u64(b, footer::BASE_SEQ_OFFSET),
            record_count: le_u64(b, footer::COUNT_OFFSET),
            last_seq: le_u64(b, footer::LAST_SEQ_OFFSET),
            first_ts: le_u64(b, footer::FIRST_TS_OFFSET),
            last_ts: le_u64(b, footer::LAST_TS_OFFSET),
            max_ts: le_u64(b, footer::MAX_TS_OFFSET),
            records_end: le_u64(b, footer::RECORDS_END_OFFSET),
            sealed_ns: le_u64(b, footer::SEALED_OFFSET),
            digest_kind: le_u32(b, footer::DIGEST_KIND_OFFSET),
            digest,
        };
        match f.digest_kind {
            0 if !all_zero(&f.digest) => {
                return Err(invalid("digest area not zero while digest kind is 0"));
            }
            0 => {}
            super::chain::DIGEST_KIND_CHAIN if version >= super::chain::CHAIN_MIN_VERSION => {}
            super::chain::DIGEST_KIND_CHAIN => {
                return Err(invalid(format!(
                    "digest kind {} in a version {version} footer (the chain needs version {})",
                    f.digest_kind,
                    super::chain::CHAIN_MIN_VERSION
                )));
            }
            k => return Err(invalid(format!("unknown digest kind {k}"))),
        }
        if version == 1 {
            if f.record_count == 0 {
                return Err(invalid("sealed segment with zero records"));
            }
            if f.base_seq.checked_add(f.record_count - 1) != Some(f.last_seq) {
                return Err(invalid(format!(
                    "last sequence {} is not base {} + count {} - 1",
                    f.last_seq, f.base_seq, f.record_count
                )));
            }
        } else {
            let least = f.base_seq.checked_add(f.record_count.saturating_sub(1));
            if f.last_seq < f.base_seq || least.is_none_or(|l| f.last_seq < l) {
                return Err(invalid(format!(
                    "last sequence {} cannot follow base {} and {} records",
                    f.last_seq, f.base_seq, f.record_count
                )));
            }
        }
        // Every record and lost range takes at least a record prefix.
        let min_end = (header::LEN as u64).saturating_add(
            f.record_count
                .max(1)
                .saturating_mul(record::PREFIX_LEN as u64),
        );
        if f.records_end < min_end || !f.records_end.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(invalid(format!(
                "records end {} impossible for {} records",
                f.records_end, f.record_count
            )));
        }
        if f.max_ts < f.first_ts || f.max_ts < f.last_ts {
            return Err(invalid("max timestamp below first or last"));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::checks::bits;

    #[test]
    fn header_version_and_every_bit() {
        let h = SegmentHeader {
            base_seq: 123,
            created_ns: 456,
            torn_window: 789,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode_versioned(&b), Ok((h, FORMAT_VERSION)));
        let v1 = h.encode_version(1);
        assert_eq!(SegmentHeader::decode_versioned(&v1), Ok((h, 1)));
        // A newer version (checksum intact) is named as such; the same bytes with a bad
        // checksum are damage.
        let newer = h.encode_version(FORMAT_VERSION + 1);
        assert_eq!(
            SegmentHeader::decode(&newer),
            Err(StructError::UnsupportedVersion {
                found: FORMAT_VERSION + 1,
                supported: FORMAT_VERSION
            })
        );
        let mut v3_flipped = b;
        v3_flipped[header::VERSION_OFFSET] ^= 1;
        assert!(matches!(
            SegmentHeader::decode(&v3_flipped),
            Err(StructError::Crc { .. })
        ));
        for bit in bits(b.len()) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&d).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn footer_consistency_checks() {
        let f = SegmentFooter {
            base_seq: 10,
            record_count: 3,
            last_seq: 12,
            first_ts: 5,
            last_ts: 6,
            max_ts: 9,
            records_end: 64 + 3 * 32,
            sealed_ns: 1,
            digest_kind: 0,
            digest: [0; 64],
        };
        assert_eq!(SegmentFooter::decode(&f.encode()), Ok(f));
        let bad = SegmentFooter { last_seq: 13, ..f };
        assert!(matches!(
            SegmentFooter::decode(&bad.encode_version(1)),
            Err(StructError::Invalid { .. })
        ));
        // Version 2 allows lost ranges after the records, never fewer sequences than
        // records.
        let short = SegmentFooter { last_seq: 11, ..f };
        assert!(matches!(
            SegmentFooter::decode(&short.encode()),
            Err(StructError::Invalid { .. })
        ));
        let empty = SegmentFooter {
            record_count: 0,
            last_seq: 9,
            ..f
        };
        assert!(SegmentFooter::decode(&empty.encode()).is_err());
        let b = f.encode();
        for bit in bits(b.len()) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentFooter::decode(&d).is_err(), "bit {bit}");
        }
        // Version 2: lost ranges may take sequences, so count 0 or last past base+count-1.
        let holes = SegmentFooter {
            record_count: 1,
            last_seq: 20,
            ..f
        };
        assert_eq!(SegmentFooter::decode(&holes.encode()), Ok(holes));
        assert!(SegmentFooter::decode(&holes.encode_version(1)).is_err());
        let only_lost = SegmentFooter {
            record_count: 0,
            ..f
        };
        assert_eq!(SegmentFooter::decode(&only_lost.encode()), Ok(only_lost));
        let before_base = SegmentFooter {
            record_count: 0,
            last_seq: 9,
            ..f
        };
        assert!(SegmentFooter::decode(&before_base.encode()).is_err());
        // The chain: version 3 on, any digest bytes; never in an older footer, never an
        // unknown kind, never digest bytes under kind 0.
        let chained = SegmentFooter {
            digest_kind: super::super::chain::DIGEST_KIND_CHAIN,
            digest: [0x5a; 64],
            ..f
        };
        assert_eq!(SegmentFooter::decode(&chained.encode()), Ok(chained));
        assert!(SegmentFooter::decode(&chained.encode_version(2)).is_err());
        let unknown = SegmentFooter {
            digest_kind: 2,
            ..chained
        };
        assert!(SegmentFooter::decode(&unknown.encode()).is_err());
        let stray = SegmentFooter {
            digest_kind: 0,
            ..chained
        };
        assert!(SegmentFooter::decode(&stray.encode()).is_err());
        let b = chained.encode();
        for bit in bits(b.len()) {
            let mut d = b;
            d[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(SegmentFooter::decode(&d), Ok(chained), "bit {bit}");
        }
    }
}
