//! Records: the ringcore frame header, a CRC32C over header and payload, a reserved
//! word, the payload, and zero padding to 8 bytes; and the end mark, an all-zero record
//! prefix written after the last record so a preallocated or recycled file ends cleanly.
//!
//! ```text
//! 0                 24      28      32                       32 + len   padded to 8
//! +-----------------+-------+-------+------------------------+----------+
//! | frame header    | crc32c| zero  | payload                | zeros    |
//! +-----------------+-------+-------+------------------------+----------+
//! ```

use ringcore::frame::{FrameHeader, HEADER_LEN, RECORD_ALIGN};

use super::checks::{all_zero, le_u32};
use super::{MAX_PAYLOAD_LEN, align_up};

/// Offset of the CRC32C in an on-disk record (right after the ringcore frame header).
pub const CRC_OFFSET: usize = HEADER_LEN;
/// Offset of the reserved word (must be zero).
pub const RESERVED_OFFSET: usize = CRC_OFFSET + 4;
/// Offset of the payload; also the length of the fixed record prefix.
pub const PAYLOAD_OFFSET: usize = RESERVED_OFFSET + 4;
/// Length of the fixed part of a record (frame header, CRC, reserved word).
pub const PREFIX_LEN: usize = PAYLOAD_OFFSET;

const _: () = assert!(PREFIX_LEN == 32 && PREFIX_LEN.is_multiple_of(RECORD_ALIGN));

/// Bytes a record with a payload of `payload_len` bytes occupies in a segment file:
/// the 32-byte prefix plus the payload rounded up to 8.
///
/// ```
/// assert_eq!(storage_std::format::disk_record_len(0), 32);
/// assert_eq!(storage_std::format::disk_record_len(64), 96);
/// assert_eq!(storage_std::format::disk_record_len(65), 104);
/// ```
pub const fn disk_record_len(payload_len: usize) -> usize {
    PREFIX_LEN.saturating_add(align_up(payload_len))
}

/// The CRC32C of a record: over the 24 frame-header bytes, then the payload.
pub fn record_crc(header: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header), payload)
}

/// Why bytes at a position are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
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
    let Some(prefix) = buf.get(..PREFIX_LEN) else {
        if !buf.is_empty() && all_zero(buf) {
            return Err(RecordError::Zero);
        }
        return Err(RecordError::Truncated {
            needed: PREFIX_LEN as u64,
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
                needed: PREFIX_LEN as u64,
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
    let payload = &rec[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len];
    if le_u32(rec, RESERVED_OFFSET) != 0 || !all_zero(&rec[PAYLOAD_OFFSET + len..]) {
        return Err(RecordError::NonZeroPadding);
    }
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&rec[..HEADER_LEN]);
    let stored = le_u32(rec, CRC_OFFSET);
    let computed = record_crc_inline(&hb, payload);
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

/// Completes a record whose payload is already in place: `rec` is exactly
/// [`disk_record_len`]`(header.len)` bytes with the payload at [`PAYLOAD_OFFSET`] (the
/// rest may hold anything); writes the frame header, the CRC32C, the reserved word and
/// the padding around it, so `rec` becomes the bytes [`encode_record`] would append.
/// This is how a writer builds records straight in its submit ring.
///
/// ```
/// use ringcore::frame::FrameHeader;
/// use storage_std::format::record::{PAYLOAD_OFFSET, disk_record_len, encode_record, finish_record};
/// let h = FrameHeader { seq: 4, timestamp_ns: 9, len: 3, kind: 1, flags: 2 };
/// let mut rec = vec![0xAA; disk_record_len(3)];
/// rec[PAYLOAD_OFFSET..PAYLOAD_OFFSET + 3].copy_from_slice(b"abc");
/// finish_record(&mut rec, &h);
/// let mut want = Vec::new();
/// encode_record(&mut want, &h, b"abc");
/// assert_eq!(rec, want);
/// ```
///
/// # Panics
/// If `rec.len()` is not `disk_record_len(header.len)`.
#[inline]
pub fn finish_record(rec: &mut [u8], header: &FrameHeader) {
    let len = header.len as usize;
    assert_eq!(rec.len(), disk_record_len(len), "record buffer length");
    let hb = header.encode();
    let (prefix, rest) = rec.split_at_mut(PAYLOAD_OFFSET);
    let (payload, padding) = rest.split_at_mut(len);
    padding.fill(0);
    let crc = record_crc_inline(&hb, payload);
    prefix[..HEADER_LEN].copy_from_slice(&hb);
    prefix[CRC_OFFSET..RESERVED_OFFSET].copy_from_slice(&crc.to_le_bytes());
    prefix[RESERVED_OFFSET..PAYLOAD_OFFSET].fill(0);
}

/// Payloads up to this many bytes take the inlined SSE 4.2 loop; longer ones the
/// `crc32c` crate, whose three interleaved streams beat one dependent chain of `crc32`
/// instructions once there are a few hundred bytes.
const INLINE_CRC_MAX: usize = 256;

/// [`record_crc`] for the hot paths (the producer building a record, every decode): the
/// same CRC32C, with the SSE 4.2 instruction inlined where the CPU has it and the payload
/// is short. For a 24-byte header and a payload of a few dozen bytes the `crc32c` crate's
/// entry points (feature check, alignment split, three-way streams) cost more than the
/// dozen `crc32` instructions themselves.
#[inline]
fn record_crc_inline(header: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if payload.len() <= INLINE_CRC_MAX && std::arch::is_x86_feature_detected!("sse4.2") {
        #[allow(unsafe_code)]
        // SAFETY: `sse42::crc` needs nothing but SSE 4.2, which the check above found.
        return unsafe { sse42::crc(header, payload) };
    }
    record_crc(header, payload)
}

#[cfg(target_arch = "x86_64")]
mod sse42 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};

    use super::HEADER_LEN;

    /// CRC32C of `header` then `payload`, eight bytes per instruction.
    #[target_feature(enable = "sse4.2")]
    pub(super) fn crc(header: &[u8; HEADER_LEN], payload: &[u8]) -> u32 {
        let mut c = u64::from(!0u32);
        for w in header.chunks_exact(8) {
            c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let mut words = payload.chunks_exact(8);
        for w in &mut words {
            c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let mut c = c as u32;
        for &b in words.remainder() {
            c = _mm_crc32_u8(c, b);
        }
        !c
    }
}

/// The reserved word of a lost-range marker (format 2): `LOST` in ASCII.
pub const LOST_MARK: u32 = u32::from_le_bytes(*b"LOST");

/// Bytes a lost-range marker occupies: a record prefix and its 8-byte payload.
pub const LOST_LEN: usize = PREFIX_LEN + 8;

/// A range of sequences that `recover --force` took out of the log (their bytes were
/// damaged; what was there is in `quarantine/`): readers return it instead of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LostRange {
    /// First lost sequence.
    pub from: u64,
    /// Last lost sequence (included).
    pub to: u64,
}

/// What a segment holds at a position: a record, or (format 2) a lost-range marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A record.
    Record(RecordRef<'a>),
    /// A lost-range marker.
    Lost(LostRange),
}

impl Entry<'_> {
    /// The first sequence the entry stands for.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Record(r) => r.seq(),
            Self::Lost(l) => l.from,
        }
    }

    /// The sequence after the entry.
    pub fn next_seq(&self) -> u64 {
        match self {
            Self::Record(r) => r.seq().wrapping_add(1),
            Self::Lost(l) => l.to.wrapping_add(1),
        }
    }

    /// Bytes the entry occupies on disk.
    pub fn disk_len(&self) -> usize {
        match self {
            Self::Record(r) => r.disk_len(),
            Self::Lost(_) => LOST_LEN,
        }
    }
}

fn lost_crc(prefix: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&prefix[..HEADER_LEN]);
    let c = crc32c::crc32c_append(c, &prefix[RESERVED_OFFSET..PAYLOAD_OFFSET]);
    crc32c::crc32c_append(c, payload)
}

/// Appends a lost-range marker for sequences `from..=to` (format 2 only). Its frame
/// header carries `from` as its sequence and an 8-byte payload (`to`); the reserved word
/// is [`LOST_MARK`]; its CRC covers the frame header, the reserved word and the payload,
/// so no flipped bit turns a record into a marker or back.
///
/// ```
/// use storage_std::format::{decode_entry, encode_lost, Entry, LostRange};
/// let mut v = Vec::new();
/// encode_lost(&mut v, 10, 12);
/// assert_eq!(decode_entry(&v, 2).unwrap(), Entry::Lost(LostRange { from: 10, to: 12 }));
/// assert!(decode_entry(&v, 1).is_err(), "format 1 has no markers");
/// ```
pub fn encode_lost(out: &mut Vec<u8>, from: u64, to: u64) {
    let h = FrameHeader {
        seq: from,
        timestamp_ns: 0,
        len: 8,
        kind: 0,
        flags: 0,
    };
    let mut prefix = [0u8; PREFIX_LEN];
    prefix[..HEADER_LEN].copy_from_slice(&h.encode());
    prefix[RESERVED_OFFSET..PAYLOAD_OFFSET].copy_from_slice(&LOST_MARK.to_le_bytes());
    let payload = to.to_le_bytes();
    let crc = lost_crc(&prefix, &payload);
    prefix[CRC_OFFSET..RESERVED_OFFSET].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&payload);
}

/// Decodes what starts at `buf[0]` in a segment of format `version`: a record, or in
/// format 2 also a lost-range marker. The sequence is the caller's to check.
pub fn decode_entry(buf: &[u8], version: u32) -> Result<Entry<'_>, RecordError> {
    if version >= 2
        && let Some(prefix) = buf.get(..PREFIX_LEN)
        && le_u32(prefix, RESERVED_OFFSET) == LOST_MARK
    {
        let Some(m) = buf.get(..LOST_LEN) else {
            return Err(RecordError::Truncated {
                needed: LOST_LEN as u64,
                available: buf.len() as u64,
            });
        };
        let len = le_u32(m, 16);
        let stored = le_u32(m, CRC_OFFSET);
        let computed = lost_crc(m, &m[PAYLOAD_OFFSET..]);
        if stored != computed {
            return Err(RecordError::Crc { stored, computed });
        }
        let from = u64::from_le_bytes(m[..8].try_into().unwrap_or([0; 8]));
        let to = u64::from_le_bytes(m[PAYLOAD_OFFSET..].try_into().unwrap_or([0; 8]));
        if len != 8 || to < from {
            return Err(RecordError::BadLength { len });
        }
        return Ok(Entry::Lost(LostRange { from, to }));
    }
    decode_record(buf).map(Entry::Record)
}

/// Written after every group: an all-zero record prefix where the next record will go.
/// A scan reads it as the clean end of the records ([`RecordError::Zero`]); the next
/// group overwrites it.
pub const END_MARK: [u8; PREFIX_LEN] = [0; PREFIX_LEN];

#[cfg(test)]
mod tests {

    #[test]
    fn inline_crc_is_the_crc32c_of_header_and_payload() {
        let mut payload = Vec::new();
        for len in 0..400usize {
            payload.push((len * 31 % 251) as u8);
            let mut header = [0u8; HEADER_LEN];
            for (i, b) in header.iter_mut().enumerate() {
                *b = (i * 7 + len) as u8;
            }
            assert_eq!(
                super::record_crc_inline(&header, &payload),
                record_crc(&header, &payload),
                "payload of {len} bytes"
            );
        }
    }

    use super::*;
    use crate::format::checks::bits;

    /// The SSE 4.2 path itself, where the CPU has it (under Miri: where the build enables
    /// `sse4.2`, e.g. `RUSTFLAGS="-C target-feature=+sse4.2" cargo +nightly miri test`),
    /// for every payload length around the 8-byte steps, and unaligned payloads.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn sse42_crc_matches_the_crate_where_detected() {
        if !std::arch::is_x86_feature_detected!("sse4.2") {
            // CI's Miri step sets this with `+sse4.2`: there, a skip would be a silent pass.
            assert!(
                std::env::var_os("RINGLOG_REQUIRE_SSE42").is_none(),
                "RINGLOG_REQUIRE_SSE42 is set but SSE 4.2 is not detected"
            );
            return;
        }
        let data: Vec<u8> = (0..80u32).map(|i| (i * 37 + 11) as u8).collect();
        let header: [u8; HEADER_LEN] = core::array::from_fn(|i| (i * 5 + 3) as u8);
        for start in 0..3 {
            for len in 0..(data.len() - start) {
                let payload = &data[start..start + len];
                #[allow(unsafe_code)]
                // SAFETY: SSE 4.2 was detected above.
                let got = unsafe { super::sse42::crc(&header, payload) };
                assert_eq!(got, record_crc(&header, payload), "start {start} len {len}");
            }
        }
    }

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
        assert_eq!(&v[PAYLOAD_OFFSET..PAYLOAD_OFFSET + 5], b"hello");
        assert_eq!(&v[37..40], &[0, 0, 0]);
        let r = decode_record(&v).unwrap();
        assert_eq!(r.header.seq, 0x0102_0304_0506_0708);
        assert_eq!(r.header.len, 5);
        assert_eq!(r.payload, b"hello");
        assert_eq!(r.disk_len(), 40);
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
    fn lost_markers_are_checked_like_records() {
        let mut v = Vec::new();
        encode_lost(&mut v, 77, 90);
        assert_eq!(v.len(), LOST_LEN);
        assert_eq!(
            decode_entry(&v, 2),
            Ok(Entry::Lost(LostRange { from: 77, to: 90 }))
        );
        assert!(decode_record(&v).is_err(), "never a record");
        for bit in bits(v.len()) {
            let mut d = v.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            match decode_entry(&d, 2) {
                Ok(e) => panic!("bit {bit} undetected: {e:?}"),
                Err(RecordError::Zero) => panic!("bit {bit}: zero?"),
                Err(_) => {}
            }
        }
        // A record whose reserved word is flipped to the mark is no marker either.
        let mut r = rec(5, b"abcdefgh");
        r[RESERVED_OFFSET..PAYLOAD_OFFSET].copy_from_slice(&LOST_MARK.to_le_bytes());
        assert!(decode_entry(&r, 2).is_err());
        let r = rec(5, b"abcdefgh");
        assert!(matches!(decode_entry(&r, 2), Ok(Entry::Record(x)) if x.seq() == 5));
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
}
