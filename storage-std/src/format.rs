//! The on-disk format: records, segment headers and footers, index files, consumer
//! offsets, and file names. Everything here works on `&[u8]`, never panics on any input,
//! and is documented with pictures in `docs/format.md`.
//!
//! All integers are little-endian. Every field offset is defined from the previous one.
//!
//! ```text
//! segment file 00000000000000000100.seg
//! +----------------+----------+----------+-----+----------+----------------+
//! | segment header | record   | record   | ... | record   | footer         |
//! | 64 bytes       | 8-aligned| 8-aligned|     |          | 160 bytes,     |
//! |                |          |          |     |          | sealed only    |
//! +----------------+----------+----------+-----+----------+----------------+
//! ```

use ringcore::frame::{FrameHeader, HEADER_LEN, RECORD_ALIGN};

/// Format version written by this build and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Largest payload the format accepts (1 GiB); a larger length field is damage.
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

// ---------------------------------------------------------------------------------------
// Checked little-endian field access (never panics).
// ---------------------------------------------------------------------------------------

fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Rounds `n` up to [`RECORD_ALIGN`], saturating.
pub const fn align_up(n: usize) -> usize {
    match n.checked_add(RECORD_ALIGN - 1) {
        Some(v) => v & !(RECORD_ALIGN - 1),
        None => usize::MAX & !(RECORD_ALIGN - 1),
    }
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// Offset of the CRC32C in an on-disk record (right after the ringcore frame header).
pub const REC_CRC_OFFSET: usize = HEADER_LEN;
/// Offset of the reserved word (must be zero).
pub const REC_RESERVED_OFFSET: usize = REC_CRC_OFFSET + 4;
/// Offset of the payload; also the length of the fixed record prefix.
pub const REC_PAYLOAD_OFFSET: usize = REC_RESERVED_OFFSET + 4;
/// Length of the fixed part of a record (frame header, CRC, reserved word).
pub const REC_PREFIX_LEN: usize = REC_PAYLOAD_OFFSET;

const _: () = assert!(REC_PREFIX_LEN == 32 && REC_PREFIX_LEN.is_multiple_of(RECORD_ALIGN));

/// Bytes a record with a payload of `payload_len` bytes occupies in a segment file:
/// the 32-byte prefix plus the payload rounded up to 8.
///
/// ```
/// assert_eq!(storage_std::format::disk_record_len(0), 32);
/// assert_eq!(storage_std::format::disk_record_len(64), 96);
/// assert_eq!(storage_std::format::disk_record_len(65), 104);
/// ```
pub const fn disk_record_len(payload_len: usize) -> usize {
    REC_PREFIX_LEN.saturating_add(align_up(payload_len))
}

/// The CRC32C of a record: over the 24 frame-header bytes, then the payload.
pub fn record_crc(header: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header), payload)
}

/// Why bytes at a position are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordError {
    /// Fewer bytes than the record prefix or the record its length field announces.
    Truncated {
        /// Bytes the record needs.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The 32-byte prefix is all zero: the clean end of a preallocated or recycled file.
    Zero,
    /// The length field exceeds [`MAX_PAYLOAD_LEN`].
    BadLength {
        /// The length field.
        len: u32,
    },
    /// The reserved word or the padding after the payload is not zero.
    NonZeroPadding,
    /// The stored CRC32C does not match the header and payload.
    Crc {
        /// CRC stored in the record.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => write!(
                f,
                "truncated record: {needed} bytes needed, {available} available"
            ),
            Self::Zero => f.write_str("all-zero record header (end of records)"),
            Self::BadLength { len } => write!(f, "record length {len} exceeds the format limit"),
            Self::NonZeroPadding => f.write_str("non-zero reserved word or padding"),
            Self::Crc { stored, computed } => write!(
                f,
                "record CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// A record decoded from a segment, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's frame header.
    pub header: FrameHeader,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        self.header.seq
    }
    /// The record's timestamp in nanoseconds.
    pub fn timestamp_ns(&self) -> u64 {
        self.header.timestamp_ns
    }
    /// Bytes the record occupies on disk.
    pub fn disk_len(&self) -> usize {
        disk_record_len(self.payload.len())
    }
}

/// Decodes the record that starts at `buf[0]`. Checks, in this order: enough bytes for
/// the prefix, the all-zero clean end, the length bound, enough bytes for the payload,
/// zero reserved word and padding, and the CRC. The sequence is the caller's to check.
///
/// ```
/// use storage_std::format::{decode_record, encode_record, RecordError};
/// use ringcore::frame::FrameHeader;
/// let mut buf = Vec::new();
/// encode_record(&mut buf, &FrameHeader { seq: 9, len: 3, ..Default::default() }, b"abc");
/// let r = decode_record(&buf).unwrap();
/// assert_eq!((r.seq(), r.payload), (9, &b"abc"[..]));
/// buf[33] ^= 1;
/// assert!(matches!(decode_record(&buf), Err(RecordError::Crc { .. })));
/// ```
pub fn decode_record(buf: &[u8]) -> Result<RecordRef<'_>, RecordError> {
    let Some(prefix) = buf.get(..REC_PREFIX_LEN) else {
        if !buf.is_empty() && all_zero(buf) {
            return Err(RecordError::Zero);
        }
        return Err(RecordError::Truncated {
            needed: REC_PREFIX_LEN as u64,
            available: buf.len() as u64,
        });
    };
    if all_zero(prefix) {
        return Err(RecordError::Zero);
    }
    let header = match FrameHeader::decode(prefix) {
        Ok(h) => h,
        Err(_) => {
            return Err(RecordError::Truncated {
                needed: REC_PREFIX_LEN as u64,
                available: buf.len() as u64,
            });
        }
    };
    let len = header.len as usize;
    if len > MAX_PAYLOAD_LEN {
        return Err(RecordError::BadLength { len: header.len });
    }
    let total = disk_record_len(len);
    let Some(rec) = buf.get(..total) else {
        return Err(RecordError::Truncated {
            needed: total as u64,
            available: buf.len() as u64,
        });
    };
    let payload = &rec[REC_PAYLOAD_OFFSET..REC_PAYLOAD_OFFSET + len];
    if le_u32(rec, REC_RESERVED_OFFSET) != 0 || !all_zero(&rec[REC_PAYLOAD_OFFSET + len..]) {
        return Err(RecordError::NonZeroPadding);
    }
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&rec[..HEADER_LEN]);
    let stored = le_u32(rec, REC_CRC_OFFSET);
    let computed = record_crc(&hb, payload);
    if stored != computed {
        return Err(RecordError::Crc { stored, computed });
    }
    Ok(RecordRef { header, payload })
}

/// Appends the on-disk form of a record to `out`. `header.len` must equal
/// `payload.len()` (it is overwritten with it).
///
/// ```
/// use storage_std::format::{encode_record, disk_record_len};
/// let mut v = Vec::new();
/// encode_record(&mut v, &Default::default(), b"12345");
/// assert_eq!(v.len(), disk_record_len(5));
/// ```
pub fn encode_record(out: &mut Vec<u8>, header: &FrameHeader, payload: &[u8]) {
    let mut h = *header;
    h.len = payload.len() as u32;
    let hb = h.encode();
    let start = out.len();
    out.extend_from_slice(&hb);
    out.extend_from_slice(&record_crc(&hb, payload).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(payload);
    out.resize(start + disk_record_len(payload.len()), 0);
}

/// Appends the on-disk form of a record given its 24 encoded frame-header bytes
/// followed by the payload, as a ring holds them (`frame.len() >= 24 + len`).
pub(crate) fn encode_framed(out: &mut Vec<u8>, header_bytes: &[u8; HEADER_LEN], payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(header_bytes);
    out.extend_from_slice(&record_crc(header_bytes, payload).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(payload);
    out.resize(start + disk_record_len(payload.len()), 0);
}

// ---------------------------------------------------------------------------------------
// Segment header
// ---------------------------------------------------------------------------------------

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RINGLSEG";
/// Offset of the magic.
pub const SH_MAGIC_OFFSET: usize = 0;
/// Offset of the format version (u32).
pub const SH_VERSION_OFFSET: usize = SH_MAGIC_OFFSET + 8;
/// Offset of the flags (u32, zero in version 1).
pub const SH_FLAGS_OFFSET: usize = SH_VERSION_OFFSET + 4;
/// Offset of the base sequence (u64): the first sequence the segment holds.
pub const SH_BASE_SEQ_OFFSET: usize = SH_FLAGS_OFFSET + 4;
/// Offset of the creation time (u64, ns since the Unix epoch).
pub const SH_CREATED_OFFSET: usize = SH_BASE_SEQ_OFFSET + 8;
/// Offset of the torn window (u64): the most bytes the writer leaves unsynced at a time;
/// 0 means unbounded (durability `None`).
pub const SH_TORN_WINDOW_OFFSET: usize = SH_CREATED_OFFSET + 8;
/// Offset of the reserved bytes (must be zero).
pub const SH_RESERVED_OFFSET: usize = SH_TORN_WINDOW_OFFSET + 8;
/// Offset of the header's CRC32C over all bytes before it.
pub const SH_CRC_OFFSET: usize = SH_RESERVED_OFFSET + 20;
/// Length of a segment header; records start here.
pub const SEGMENT_HEADER_LEN: usize = SH_CRC_OFFSET + 4;

const _: () = assert!(SEGMENT_HEADER_LEN == 64);

/// The fixed header at the start of every segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SegmentHeader {
    /// First sequence the segment holds (also its file name).
    pub base_seq: u64,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// Most bytes the writer of this segment left unsynced at a time (0 = unbounded).
    pub torn_window: u64,
}

/// Why bytes are not a valid header, footer, index or offset record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StructError {
    /// Fewer bytes than the structure.
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// All bytes are zero (a preallocated or never-written region).
    Zero,
    /// The magic bytes are wrong.
    BadMagic,
    /// The magic is right but the version is not one this build reads.
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The structure's own CRC does not match.
    Crc {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// The CRC matches but a field is inconsistent.
    Invalid {
        /// What is wrong.
        what: String,
    },
}

impl core::fmt::Display for StructError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: {needed} bytes needed, {available} available")
            }
            Self::Zero => f.write_str("all zero"),
            Self::BadMagic => f.write_str("bad magic"),
            Self::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported format version {found} (this build reads version {supported})"
            ),
            Self::Crc { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Self::Invalid { what } => write!(f, "invalid: {what}"),
        }
    }
}

impl std::error::Error for StructError {}

/// Versions above this with a bad checksum are treated as damage, not as a version.
const MAX_PLAUSIBLE_VERSION: u32 = 1024;

/// Common checks for a fixed-size structure with magic, version at +8 and a trailing CRC.
fn check_struct<'a>(buf: &'a [u8], len: usize, magic: &[u8; 8]) -> Result<&'a [u8], StructError> {
    let Some(b) = buf.get(..len) else {
        if !buf.is_empty() && all_zero(buf) {
            return Err(StructError::Zero);
        }
        return Err(StructError::Truncated {
            needed: len as u64,
            available: buf.len() as u64,
        });
    };
    if all_zero(b) {
        return Err(StructError::Zero);
    }
    if &b[..8] != magic {
        return Err(StructError::BadMagic);
    }
    let version = le_u32(b, 8);
    let stored = le_u32(b, len - 4);
    let computed = crc32c::crc32c(&b[..len - 4]);
    // Another version: a structure whose checksum holds, or a small version number
    // (a newer layout). A huge number with a bad checksum is damage, not a version.
    if version != FORMAT_VERSION
        && (stored == computed || (2..=MAX_PLAUSIBLE_VERSION).contains(&version))
    {
        return Err(StructError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if stored != computed {
        return Err(StructError::Crc { stored, computed });
    }
    Ok(b)
}

fn invalid(what: impl Into<String>) -> StructError {
    StructError::Invalid { what: what.into() }
}

impl SegmentHeader {
    /// Encodes the header as 64 bytes.
    ///
    /// ```
    /// use storage_std::format::SegmentHeader;
    /// let h = SegmentHeader { base_seq: 5, created_ns: 1, torn_window: 4096 };
    /// assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
    /// ```
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[..8].copy_from_slice(&SEGMENT_MAGIC);
        put_u32(&mut b, SH_VERSION_OFFSET, FORMAT_VERSION);
        put_u64(&mut b, SH_BASE_SEQ_OFFSET, self.base_seq);
        put_u64(&mut b, SH_CREATED_OFFSET, self.created_ns);
        put_u64(&mut b, SH_TORN_WINDOW_OFFSET, self.torn_window);
        let crc = crc32c::crc32c(&b[..SH_CRC_OFFSET]);
        put_u32(&mut b, SH_CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks a header from the first 64 bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let b = check_struct(buf, SEGMENT_HEADER_LEN, &SEGMENT_MAGIC)?;
        if le_u32(b, SH_FLAGS_OFFSET) != 0 || !all_zero(&b[SH_RESERVED_OFFSET..SH_CRC_OFFSET]) {
            return Err(invalid("non-zero reserved header bytes"));
        }
        Ok(Self {
            base_seq: le_u64(b, SH_BASE_SEQ_OFFSET),
            created_ns: le_u64(b, SH_CREATED_OFFSET),
            torn_window: le_u64(b, SH_TORN_WINDOW_OFFSET),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Segment footer
// ---------------------------------------------------------------------------------------

/// Magic bytes at the start of a segment footer.
pub const FOOTER_MAGIC: [u8; 8] = *b"RINGLFTR";
/// Offset of the footer magic.
pub const SF_MAGIC_OFFSET: usize = 0;
/// Offset of the format version (u32).
pub const SF_VERSION_OFFSET: usize = SF_MAGIC_OFFSET + 8;
/// Offset of the flags (u32, zero in version 1).
pub const SF_FLAGS_OFFSET: usize = SF_VERSION_OFFSET + 4;
/// Offset of the base sequence (u64), equal to the header's.
pub const SF_BASE_SEQ_OFFSET: usize = SF_FLAGS_OFFSET + 4;
/// Offset of the record count (u64, at least 1).
pub const SF_COUNT_OFFSET: usize = SF_BASE_SEQ_OFFSET + 8;
/// Offset of the last sequence (u64) = base + count - 1.
pub const SF_LAST_SEQ_OFFSET: usize = SF_COUNT_OFFSET + 8;
/// Offset of the first record's timestamp (u64).
pub const SF_FIRST_TS_OFFSET: usize = SF_LAST_SEQ_OFFSET + 8;
/// Offset of the last record's timestamp (u64).
pub const SF_LAST_TS_OFFSET: usize = SF_FIRST_TS_OFFSET + 8;
/// Offset of the largest record timestamp (u64).
pub const SF_MAX_TS_OFFSET: usize = SF_LAST_TS_OFFSET + 8;
/// Offset of the end of the records (u64) = the footer's own offset in the file.
pub const SF_RECORDS_END_OFFSET: usize = SF_MAX_TS_OFFSET + 8;
/// Offset of the sealing time (u64, ns since the Unix epoch; retention's age).
pub const SF_SEALED_OFFSET: usize = SF_RECORDS_END_OFFSET + 8;
/// Offset of the digest kind (u32; 0 = no digest, the digest area is zero).
pub const SF_DIGEST_KIND_OFFSET: usize = SF_SEALED_OFFSET + 8;
/// Offset of a reserved word (must be zero).
pub const SF_RESERVED1_OFFSET: usize = SF_DIGEST_KIND_OFFSET + 4;
/// Offset of the digest-chain area (64 bytes: previous segment's digest, this one's).
pub const SF_DIGEST_OFFSET: usize = SF_RESERVED1_OFFSET + 4;
/// Length of the digest-chain area.
pub const SF_DIGEST_LEN: usize = 64;
/// Offset of reserved bytes (must be zero).
pub const SF_RESERVED2_OFFSET: usize = SF_DIGEST_OFFSET + SF_DIGEST_LEN;
/// Offset of the footer's CRC32C over all bytes before it.
pub const SF_CRC_OFFSET: usize = SF_RESERVED2_OFFSET + 4;
/// Length of a footer; a sealed segment's file ends right after it.
pub const FOOTER_LEN: usize = SF_CRC_OFFSET + 4;

const _: () = assert!(FOOTER_LEN == 160 && FOOTER_LEN.is_multiple_of(RECORD_ALIGN));

/// The footer that seals a segment: the file ends right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
    /// Digest kind (0 = none in version 1).
    pub digest_kind: u32,
    /// Digest-chain area (zero while `digest_kind` is 0).
    #[serde(skip)]
    pub digest: [u8; SF_DIGEST_LEN],
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
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[..8].copy_from_slice(&FOOTER_MAGIC);
        put_u32(&mut b, SF_VERSION_OFFSET, FORMAT_VERSION);
        put_u64(&mut b, SF_BASE_SEQ_OFFSET, self.base_seq);
        put_u64(&mut b, SF_COUNT_OFFSET, self.record_count);
        put_u64(&mut b, SF_LAST_SEQ_OFFSET, self.last_seq);
        put_u64(&mut b, SF_FIRST_TS_OFFSET, self.first_ts);
        put_u64(&mut b, SF_LAST_TS_OFFSET, self.last_ts);
        put_u64(&mut b, SF_MAX_TS_OFFSET, self.max_ts);
        put_u64(&mut b, SF_RECORDS_END_OFFSET, self.records_end);
        put_u64(&mut b, SF_SEALED_OFFSET, self.sealed_ns);
        put_u32(&mut b, SF_DIGEST_KIND_OFFSET, self.digest_kind);
        b[SF_DIGEST_OFFSET..SF_DIGEST_OFFSET + SF_DIGEST_LEN].copy_from_slice(&self.digest);
        let crc = crc32c::crc32c(&b[..SF_CRC_OFFSET]);
        put_u32(&mut b, SF_CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks a footer from the first 160 bytes of `buf`: magic, version,
    /// CRC, zero reserved bytes, a digest area that is zero while the digest kind is 0,
    /// a non-zero count and `last_seq == base_seq + count - 1`.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let b = check_struct(buf, FOOTER_LEN, &FOOTER_MAGIC)?;
        if le_u32(b, SF_FLAGS_OFFSET) != 0
            || le_u32(b, SF_RESERVED1_OFFSET) != 0
            || le_u32(b, SF_RESERVED2_OFFSET) != 0
        {
            return Err(invalid("non-zero reserved footer bytes"));
        }
        let mut digest = [0u8; SF_DIGEST_LEN];
        digest.copy_from_slice(&b[SF_DIGEST_OFFSET..SF_DIGEST_OFFSET + SF_DIGEST_LEN]);
        let f = Self {
            base_seq: le_u64(b, SF_BASE_SEQ_OFFSET),
            record_count: le_u64(b, SF_COUNT_OFFSET),
            last_seq: le_u64(b, SF_LAST_SEQ_OFFSET),
            first_ts: le_u64(b, SF_FIRST_TS_OFFSET),
            last_ts: le_u64(b, SF_LAST_TS_OFFSET),
            max_ts: le_u64(b, SF_MAX_TS_OFFSET),
            records_end: le_u64(b, SF_RECORDS_END_OFFSET),
            sealed_ns: le_u64(b, SF_SEALED_OFFSET),
            digest_kind: le_u32(b, SF_DIGEST_KIND_OFFSET),
            digest,
        };
        if f.digest_kind == 0 && !all_zero(&f.digest) {
            return Err(invalid("digest area not zero while digest kind is 0"));
        }
        if f.digest_kind != 0 {
            return Err(invalid(format!("unknown digest kind {}", f.digest_kind)));
        }
        if f.record_count == 0 {
            return Err(invalid("sealed segment with zero records"));
        }
        if f.base_seq.checked_add(f.record_count - 1) != Some(f.last_seq) {
            return Err(invalid(format!(
                "last sequence {} is not base {} + count {} - 1",
                f.last_seq, f.base_seq, f.record_count
            )));
        }
        let min_end = (SEGMENT_HEADER_LEN as u64)
            .saturating_add(f.record_count.saturating_mul(REC_PREFIX_LEN as u64));
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

// ---------------------------------------------------------------------------------------
// Index files
// ---------------------------------------------------------------------------------------

/// Magic bytes at the start of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"RINGLIDX";
/// Offset of the index header magic.
pub const IH_MAGIC_OFFSET: usize = 0;
/// Offset of the format version (u32).
pub const IH_VERSION_OFFSET: usize = IH_MAGIC_OFFSET + 8;
/// Offset of the entry interval in bytes (u32).
pub const IH_INTERVAL_OFFSET: usize = IH_VERSION_OFFSET + 4;
/// Offset of the segment's base sequence (u64).
pub const IH_BASE_SEQ_OFFSET: usize = IH_INTERVAL_OFFSET + 4;
/// Offset of a reserved word (must be zero).
pub const IH_RESERVED_OFFSET: usize = IH_BASE_SEQ_OFFSET + 8;
/// Offset of the index header's CRC32C.
pub const IH_CRC_OFFSET: usize = IH_RESERVED_OFFSET + 4;
/// Length of the index file header; entries follow.
pub const INDEX_HEADER_LEN: usize = IH_CRC_OFFSET + 4;

/// Offset of an entry's sequence (u64).
pub const IE_SEQ_OFFSET: usize = 0;
/// Offset of an entry's record position in the segment file (u64).
pub const IE_POS_OFFSET: usize = IE_SEQ_OFFSET + 8;
/// Offset of the largest timestamp of the records before this entry's (u64).
pub const IE_MAX_TS_BEFORE_OFFSET: usize = IE_POS_OFFSET + 8;
/// Offset of a reserved word (must be zero).
pub const IE_RESERVED_OFFSET: usize = IE_MAX_TS_BEFORE_OFFSET + 8;
/// Offset of the entry's CRC32C.
pub const IE_CRC_OFFSET: usize = IE_RESERVED_OFFSET + 4;
/// Length of an index entry.
pub const INDEX_ENTRY_LEN: usize = IE_CRC_OFFSET + 4;

const _: () = assert!(INDEX_HEADER_LEN == 32 && INDEX_ENTRY_LEN == 32);

/// The header of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IndexHeader {
    /// Base sequence of the segment the index belongs to.
    pub base_seq: u64,
    /// Bytes between entries: a record gets an entry when it starts at least this far
    /// past the previous entry's record (the first record always gets one).
    pub interval: u32,
}

impl IndexHeader {
    /// Encodes the index header.
    ///
    /// ```
    /// use storage_std::format::IndexHeader;
    /// let h = IndexHeader { base_seq: 3, interval: 4096 };
    /// assert_eq!(IndexHeader::decode(&h.encode()), Ok(h));
    /// ```
    pub fn encode(&self) -> [u8; INDEX_HEADER_LEN] {
        let mut b = [0u8; INDEX_HEADER_LEN];
        b[..8].copy_from_slice(&INDEX_MAGIC);
        put_u32(&mut b, IH_VERSION_OFFSET, FORMAT_VERSION);
        put_u32(&mut b, IH_INTERVAL_OFFSET, self.interval);
        put_u64(&mut b, IH_BASE_SEQ_OFFSET, self.base_seq);
        let crc = crc32c::crc32c(&b[..IH_CRC_OFFSET]);
        put_u32(&mut b, IH_CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks an index header.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let b = check_struct(buf, INDEX_HEADER_LEN, &INDEX_MAGIC)?;
        if le_u32(b, IH_RESERVED_OFFSET) != 0 {
            return Err(invalid("non-zero reserved index header bytes"));
        }
        let interval = le_u32(b, IH_INTERVAL_OFFSET);
        if interval == 0 {
            return Err(invalid("zero index interval"));
        }
        Ok(Self {
            base_seq: le_u64(b, IH_BASE_SEQ_OFFSET),
            interval,
        })
    }
}

/// One sparse index entry: a record's sequence, its position in the segment file, and
/// the largest timestamp of the segment's records before it (so a search by time is a
/// binary search even when timestamps are not monotonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IndexEntry {
    /// Sequence of the record.
    pub seq: u64,
    /// Offset of the record in the segment file.
    pub pos: u64,
    /// Largest timestamp among the segment's records before this one (0 if none).
    pub max_ts_before: u64,
}

impl IndexEntry {
    /// Encodes the entry as 32 bytes.
    ///
    /// ```
    /// use storage_std::format::IndexEntry;
    /// let e = IndexEntry { seq: 1, pos: 64, max_ts_before: 0 };
    /// assert_eq!(IndexEntry::decode(&e.encode()), Ok(e));
    /// ```
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        put_u64(&mut b, IE_SEQ_OFFSET, self.seq);
        put_u64(&mut b, IE_POS_OFFSET, self.pos);
        put_u64(&mut b, IE_MAX_TS_BEFORE_OFFSET, self.max_ts_before);
        let crc = crc32c::crc32c(&b[..IE_CRC_OFFSET]);
        put_u32(&mut b, IE_CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks one entry.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let Some(b) = buf.get(..INDEX_ENTRY_LEN) else {
            return Err(StructError::Truncated {
                needed: INDEX_ENTRY_LEN as u64,
                available: buf.len() as u64,
            });
        };
        if all_zero(b) {
            return Err(StructError::Zero);
        }
        let stored = le_u32(b, IE_CRC_OFFSET);
        let computed = crc32c::crc32c(&b[..IE_CRC_OFFSET]);
        if stored != computed {
            return Err(StructError::Crc { stored, computed });
        }
        if le_u32(b, IE_RESERVED_OFFSET) != 0 {
            return Err(invalid("non-zero reserved index entry bytes"));
        }
        Ok(Self {
            seq: le_u64(b, IE_SEQ_OFFSET),
            pos: le_u64(b, IE_POS_OFFSET),
            max_ts_before: le_u64(b, IE_MAX_TS_BEFORE_OFFSET),
        })
    }
}

/// A decoded index file: its header, the entries of its valid prefix, and the error that
/// ended it early (if the file does not end exactly after the last entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedIndex {
    /// The index header.
    pub header: IndexHeader,
    /// Entries of the valid prefix, strictly increasing in sequence and position.
    pub entries: Vec<IndexEntry>,
    /// Why decoding stopped before the end of the file, with the entry's offset.
    pub stopped: Option<(u64, StructError)>,
}

/// Decodes an index file. The header must be valid; entries are taken while each one
/// checks out and is strictly after the previous one (sequence and position), lies past
/// the segment header, and belongs to the segment (`seq >= base_seq`).
///
/// ```
/// use storage_std::format::{decode_index, IndexEntry, IndexHeader};
/// let mut f = IndexHeader { base_seq: 0, interval: 64 }.encode().to_vec();
/// f.extend_from_slice(&IndexEntry { seq: 0, pos: 64, max_ts_before: 0 }.encode());
/// f.extend_from_slice(&[1, 2, 3]);
/// let d = decode_index(&f).unwrap();
/// assert_eq!(d.entries.len(), 1);
/// assert!(d.stopped.is_some());
/// ```
pub fn decode_index(buf: &[u8]) -> Result<DecodedIndex, StructError> {
    let header = IndexHeader::decode(buf)?;
    let mut entries: Vec<IndexEntry> = Vec::new();
    let mut off = INDEX_HEADER_LEN;
    let mut stopped = None;
    while off < buf.len() {
        let e = match IndexEntry::decode(&buf[off..]) {
            Ok(e) => e,
            Err(err) => {
                stopped = Some((off as u64, err));
                break;
            }
        };
        let ordered = match entries.last() {
            Some(p) => e.seq > p.seq && e.pos > p.pos && e.max_ts_before >= p.max_ts_before,
            None => e.seq == header.base_seq && e.pos == SEGMENT_HEADER_LEN as u64,
        };
        if !ordered || e.pos % RECORD_ALIGN as u64 != 0 {
            stopped = Some((off as u64, invalid("index entry out of order")));
            break;
        }
        entries.push(e);
        off += INDEX_ENTRY_LEN;
    }
    Ok(DecodedIndex {
        header,
        entries,
        stopped,
    })
}

/// Index of the last entry whose sequence is at most `seq` (binary search).
pub fn index_floor_seq(entries: &[IndexEntry], seq: u64) -> Option<usize> {
    let n = entries.partition_point(|e| e.seq <= seq);
    n.checked_sub(1)
}

/// Index of the last entry before which every record's timestamp is below `ts`: the
/// first record with a timestamp at or above `ts` is at or after that entry's record.
pub fn index_floor_ts(entries: &[IndexEntry], ts: u64) -> Option<usize> {
    let n = entries.partition_point(|e| e.max_ts_before < ts);
    n.checked_sub(1)
}

// ---------------------------------------------------------------------------------------
// Consumer offsets
// ---------------------------------------------------------------------------------------

/// Magic bytes at the start of a consumer offset file.
pub const OFFSET_MAGIC: [u8; 8] = *b"RINGLOFF";
/// Offset of the format version (u32).
pub const OF_VERSION_OFFSET: usize = 8;
/// Offset of the name length (u32, 1..=64).
pub const OF_NAME_LEN_OFFSET: usize = OF_VERSION_OFFSET + 4;
/// Offset of the committed next sequence (u64): every sequence below it is consumed.
pub const OF_NEXT_SEQ_OFFSET: usize = OF_NAME_LEN_OFFSET + 4;
/// Offset of the commit time (u64, ns since the Unix epoch).
pub const OF_COMMITTED_OFFSET: usize = OF_NEXT_SEQ_OFFSET + 8;
/// Offset of the name bytes (64, zero padded).
pub const OF_NAME_OFFSET: usize = OF_COMMITTED_OFFSET + 8;
/// Longest consumer name.
pub const MAX_CONSUMER_NAME: usize = 64;
/// Offset of a reserved word (must be zero).
pub const OF_RESERVED_OFFSET: usize = OF_NAME_OFFSET + MAX_CONSUMER_NAME;
/// Offset of the CRC32C.
pub const OF_CRC_OFFSET: usize = OF_RESERVED_OFFSET + 4;
/// Length of an offset file.
pub const OFFSET_FILE_LEN: usize = OF_CRC_OFFSET + 4;

/// A committed consumer offset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    pub fn encode(&self) -> [u8; OFFSET_FILE_LEN] {
        let mut b = [0u8; OFFSET_FILE_LEN];
        b[..8].copy_from_slice(&OFFSET_MAGIC);
        put_u32(&mut b, OF_VERSION_OFFSET, FORMAT_VERSION);
        let name = &self.name.as_bytes()[..self.name.len().min(MAX_CONSUMER_NAME)];
        put_u32(&mut b, OF_NAME_LEN_OFFSET, name.len() as u32);
        put_u64(&mut b, OF_NEXT_SEQ_OFFSET, self.next_seq);
        put_u64(&mut b, OF_COMMITTED_OFFSET, self.committed_ns);
        b[OF_NAME_OFFSET..OF_NAME_OFFSET + name.len()].copy_from_slice(name);
        let crc = crc32c::crc32c(&b[..OF_CRC_OFFSET]);
        put_u32(&mut b, OF_CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks an offset file (exactly [`OFFSET_FILE_LEN`] bytes).
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let b = check_struct(buf, OFFSET_FILE_LEN, &OFFSET_MAGIC)?;
        if buf.len() != OFFSET_FILE_LEN {
            return Err(invalid("offset file has trailing bytes"));
        }
        let name_len = le_u32(b, OF_NAME_LEN_OFFSET) as usize;
        if name_len == 0 || name_len > MAX_CONSUMER_NAME {
            return Err(invalid("bad consumer name length"));
        }
        let name_bytes = &b[OF_NAME_OFFSET..OF_NAME_OFFSET + name_len];
        if !all_zero(&b[OF_NAME_OFFSET + name_len..OF_CRC_OFFSET]) {
            return Err(invalid("non-zero bytes after the consumer name"));
        }
        let name = match std::str::from_utf8(name_bytes) {
            Ok(n) if valid_consumer_name(n) => n.to_owned(),
            _ => return Err(invalid("bad consumer name")),
        };
        Ok(Self {
            name,
            next_seq: le_u64(b, OF_NEXT_SEQ_OFFSET),
            committed_ns: le_u64(b, OF_COMMITTED_OFFSET),
        })
    }
}

// ---------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of index files.
pub const INDEX_SUFFIX: &str = ".idx";
/// Suffix of temporary files (removed by the writer on open).
pub const TMP_SUFFIX: &str = ".tmp";
/// Prefix of consumer offset files.
pub const OFFSET_PREFIX: &str = "consumer-";
/// Suffix of consumer offset files.
pub const OFFSET_SUFFIX: &str = ".off";
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";

/// The segment file name for a base sequence: 20 zero-padded digits, so names sort.
///
/// ```
/// assert_eq!(storage_std::format::segment_name(42), "00000000000000000042.seg");
/// ```
pub fn segment_name(base_seq: u64) -> String {
    format!("{base_seq:020}{SEGMENT_SUFFIX}")
}

/// The index file name for a segment's base sequence.
///
/// ```
/// assert_eq!(storage_std::format::index_name(7), "00000000000000000007.idx");
/// ```
pub fn index_name(base_seq: u64) -> String {
    format!("{base_seq:020}{INDEX_SUFFIX}")
}

/// The offset file name of a consumer.
pub fn offset_name(consumer: &str) -> String {
    format!("{OFFSET_PREFIX}{consumer}{OFFSET_SUFFIX}")
}

fn parse_numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The base sequence of a segment file name, if `name` is one.
///
/// ```
/// use storage_std::format::parse_segment_name;
/// assert_eq!(parse_segment_name("00000000000000000042.seg"), Some(42));
/// assert_eq!(parse_segment_name("42.seg"), None);
/// ```
pub fn parse_segment_name(name: &str) -> Option<u64> {
    parse_numbered(name, SEGMENT_SUFFIX)
}

/// The base sequence of an index file name, if `name` is one.
pub fn parse_index_name(name: &str) -> Option<u64> {
    parse_numbered(name, INDEX_SUFFIX)
}

/// The consumer name of an offset file name, if `name` is one.
pub fn parse_offset_name(name: &str) -> Option<&str> {
    let n = name
        .strip_prefix(OFFSET_PREFIX)?
        .strip_suffix(OFFSET_SUFFIX)?;
    valid_consumer_name(n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(
            &mut v,
            &FrameHeader {
                seq,
                timestamp_ns: seq * 10,
                kind: 3,
                flags: 1,
                len: 0,
            },
            payload,
        );
        v
    }

    #[test]
    fn record_round_trip_and_layout() {
        let v = rec(0x0102_0304_0506_0708, b"hello");
        assert_eq!(v.len(), 40);
        assert_eq!(v[0], 0x08, "little-endian sequence first");
        assert_eq!(&v[REC_PAYLOAD_OFFSET..REC_PAYLOAD_OFFSET + 5], b"hello");
        assert_eq!(&v[37..40], &[0, 0, 0]);
        let r = decode_record(&v).unwrap();
        assert_eq!(r.header.seq, 0x0102_0304_0506_0708);
        assert_eq!(r.header.len, 5);
        assert_eq!(r.payload, b"hello");
        assert_eq!(r.disk_len(), 40);
    }

    /// Bits to try: all of them, or a spread under Miri.
    fn bits(len: usize) -> impl Iterator<Item = usize> {
        (0..len * 8).step_by(if cfg!(miri) { 13 } else { 1 })
    }

    #[test]
    fn every_single_bit_flip_in_a_record_is_detected() {
        let v = rec(77, b"some payload!");
        for bit in bits(v.len()) {
            let mut d = v.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            match decode_record(&d) {
                Ok(r) => panic!("bit {bit} undetected: {r:?}"),
                Err(RecordError::Zero) => panic!("bit {bit}: zero?"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn zero_prefix_is_clean_end_and_empty_record_is_not_zero() {
        assert_eq!(decode_record(&[0u8; 64]), Err(RecordError::Zero));
        assert_eq!(decode_record(&[0u8; 8]), Err(RecordError::Zero));
        assert_eq!(
            decode_record(&[]),
            Err(RecordError::Truncated {
                needed: 32,
                available: 0
            })
        );
        // seq 0, ts 0, empty payload: the header bytes are zero but the CRC is not.
        let mut v = Vec::new();
        encode_record(&mut v, &FrameHeader::default(), b"");
        assert_eq!(decode_record(&v).unwrap().seq(), 0);
    }

    #[test]
    fn huge_length_is_rejected() {
        let mut v = rec(1, b"x");
        v[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_record(&v),
            Err(RecordError::BadLength { len: u32::MAX })
        );
    }

    #[test]
    fn header_version_and_every_bit() {
        let h = SegmentHeader {
            base_seq: 123,
            created_ns: 456,
            torn_window: 789,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        let mut v2 = b;
        v2[SH_VERSION_OFFSET] = 2;
        assert_eq!(
            SegmentHeader::decode(&v2),
            Err(StructError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        );
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
            SegmentFooter::decode(&bad.encode()),
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
    }

    #[test]
    fn index_prefix_stops_at_damage_and_disorder() {
        let mut f = IndexHeader {
            base_seq: 100,
            interval: 128,
        }
        .encode()
        .to_vec();
        let es = [
            IndexEntry {
                seq: 100,
                pos: 64,
                max_ts_before: 0,
            },
            IndexEntry {
                seq: 104,
                pos: 200,
                max_ts_before: 50,
            },
            IndexEntry {
                seq: 103,
                pos: 400,
                max_ts_before: 60,
            },
        ];
        for e in &es {
            f.extend_from_slice(&e.encode());
        }
        let d = decode_index(&f).unwrap();
        assert_eq!(d.entries, es[..2]);
        assert_eq!(d.stopped.as_ref().unwrap().0, 96);
        assert_eq!(index_floor_seq(&d.entries, 99), None);
        assert_eq!(index_floor_seq(&d.entries, 103), Some(0));
        assert_eq!(index_floor_seq(&d.entries, 1000), Some(1));
        assert_eq!(index_floor_ts(&d.entries, 50), Some(0));
        assert_eq!(index_floor_ts(&d.entries, 51), Some(1));
    }

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
