//! The record header shared by every ring and every file format.
//!
//! ```text
//!  0               8               16      20  22  24
//!  +---------------+---------------+-------+---+---+
//!  | sequence u64  | timestamp u64 | len   |knd|flg|
//!  +---------------+---------------+-------+---+---+
//! ```
//!
//! 24 bytes, little-endian, aligned to 8. `timestamp` is nanoseconds since the Unix epoch
//! where a [`Clock`] exists (0 where none was given); `len` is the payload length in
//! bytes, which follows the header; `kind` and `flags` belong to the application.
//!
//! A record read from any ring or wire is handed out as a [`RecordView`]: its header and
//! a borrow of its payload.

use static_assertions::const_assert_eq;

/// Byte offset of the sequence number in an encoded header.
pub const SEQ_OFFSET: usize = 0;
/// Byte offset of the timestamp in an encoded header.
pub const TIMESTAMP_OFFSET: usize = SEQ_OFFSET + 8;
/// Byte offset of the payload length in an encoded header.
pub const LEN_OFFSET: usize = TIMESTAMP_OFFSET + 8;
/// Byte offset of the kind in an encoded header.
pub const KIND_OFFSET: usize = LEN_OFFSET + 4;
/// Byte offset of the flags in an encoded header.
pub const FLAGS_OFFSET: usize = KIND_OFFSET + 2;
/// Size of an encoded header in bytes.
pub const HEADER_LEN: usize = FLAGS_OFFSET + 2;
/// Alignment of records in rings and files: every header starts at a multiple of this.
pub const RECORD_ALIGN: usize = 8;

/// The header of one framed record.
///
/// ```
/// use ringcore::frame::{FrameHeader, HEADER_LEN};
/// let h = FrameHeader { seq: 7, timestamp_ns: 1_700_000_000_000_000_000, len: 64, kind: 2, flags: 0 };
/// let bytes: [u8; HEADER_LEN] = h.encode();
/// assert_eq!(FrameHeader::decode(&bytes), Ok(h));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C, align(8))]
pub struct FrameHeader {
    /// Position of the record in its stream; gap-free, assigned by the ring or log.
    pub seq: u64,
    /// Nanoseconds since the Unix epoch, or 0 where no clock was available.
    pub timestamp_ns: u64,
    /// Payload length in bytes.
    pub len: u32,
    /// Application-defined record kind.
    pub kind: u16,
    /// Application-defined flags.
    pub flags: u16,
}

const_assert_eq!(core::mem::size_of::<FrameHeader>(), HEADER_LEN);
const_assert_eq!(core::mem::align_of::<FrameHeader>(), RECORD_ALIGN);
const_assert_eq!(HEADER_LEN, 24);

/// Why bytes could not be decoded as a frame.
///
/// ```
/// use ringcore::frame::{FrameError, FrameHeader};
/// assert_eq!(FrameHeader::decode(&[0; 10]), Err(FrameError::Truncated { needed: 24, available: 10 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or the payload it announces.
    Truncated {
        /// Bytes the header (and payload) need.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The payload length is larger than the caller's limit.
    TooLong {
        /// The length in the header.
        len: u32,
        /// The caller's limit.
        max: usize,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(
                    f,
                    "truncated frame: {needed} bytes needed, {available} available"
                )
            }
            Self::TooLong { len, max } => {
                write!(f, "frame payload length {len} exceeds the limit {max}")
            }
        }
    }
}

impl core::error::Error for FrameError {}

impl FrameHeader {
    /// Encodes the header as 24 little-endian bytes.
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let b = FrameHeader { seq: 1, ..Default::default() }.encode();
    /// assert_eq!(b[0], 1);
    /// ```
    #[inline]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.encode_into(&mut out);
        out
    }

    /// Encodes the header into the first 24 bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`HEADER_LEN`] (a caller bug, not a data error).
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let mut buf = [0u8; 32];
    /// FrameHeader { len: 5, ..Default::default() }.encode_into(&mut buf);
    /// assert_eq!(buf[16], 5);
    /// ```
    #[inline]
    pub fn encode_into(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out[SEQ_OFFSET..TIMESTAMP_OFFSET].copy_from_slice(&self.seq.to_le_bytes());
        out[TIMESTAMP_OFFSET..LEN_OFFSET].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        out[LEN_OFFSET..KIND_OFFSET].copy_from_slice(&self.len.to_le_bytes());
        out[KIND_OFFSET..FLAGS_OFFSET].copy_from_slice(&self.kind.to_le_bytes());
        out[FLAGS_OFFSET..HEADER_LEN].copy_from_slice(&self.flags.to_le_bytes());
    }

    /// Decodes a header from the first 24 bytes of `bytes`. The payload length is *not*
    /// checked against anything: use [`FrameHeader::decode_record`] to get the payload.
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// assert!(FrameHeader::decode(&[0; 24]).is_ok());
    /// ```
    #[inline]
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let Some(b) = bytes.get(..HEADER_LEN) else {
            return Err(FrameError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        };
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Self {
            seq: u64_at(SEQ_OFFSET),
            timestamp_ns: u64_at(TIMESTAMP_OFFSET),
            len: u32::from_le_bytes([
                b[LEN_OFFSET],
                b[LEN_OFFSET + 1],
                b[LEN_OFFSET + 2],
                b[LEN_OFFSET + 3],
            ]),
            kind: u16::from_le_bytes([b[KIND_OFFSET], b[KIND_OFFSET + 1]]),
            flags: u16::from_le_bytes([b[FLAGS_OFFSET], b[FLAGS_OFFSET + 1]]),
        })
    }

    /// Decodes a header and returns it with its payload, after checking that the payload
    /// length is at most `max_len` and that `bytes` holds the whole payload.
    ///
    /// ```
    /// use ringcore::frame::{FrameError, FrameHeader};
    /// let mut buf = [0u8; 40];
    /// FrameHeader { len: 3, ..Default::default() }.encode_into(&mut buf);
    /// let (h, payload) = FrameHeader::decode_record(&buf, 1024).unwrap();
    /// assert_eq!((h.len, payload.len()), (3, 3));
    ///
    /// FrameHeader { len: u32::MAX, ..Default::default() }.encode_into(&mut buf);
    /// assert!(matches!(FrameHeader::decode_record(&buf, 1024), Err(FrameError::TooLong { .. })));
    /// ```
    #[inline]
    pub fn decode_record(bytes: &[u8], max_len: usize) -> Result<(Self, &[u8]), FrameError> {
        let header = Self::decode(bytes)?;
        let len = header.len as usize;
        if len > max_len {
            return Err(FrameError::TooLong {
                len: header.len,
                max: max_len,
            });
        }
        let rest = &bytes[HEADER_LEN..];
        match rest.get(..len) {
            Some(payload) => Ok((header, payload)),
            None => Err(FrameError::Truncated {
                needed: HEADER_LEN.saturating_add(len),
                available: bytes.len(),
            }),
        }
    }

    /// The header of event `seq` of `kind` at `timestamp_ns`, without flags; its `len`
    /// (0 here) is set where the payload is placed.
    #[inline(always)]
    pub(crate) const fn event(seq: u64, timestamp_ns: u64, kind: u16) -> Self {
        Self {
            seq,
            timestamp_ns,
            len: 0,
            kind,
            flags: 0,
        }
    }

    /// The number of bytes a record with this header occupies in a ring or file: header
    /// plus payload, rounded up to [`RECORD_ALIGN`].
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// assert_eq!(FrameHeader { len: 1, ..Default::default() }.record_len(), 32);
    /// ```
    #[inline]
    pub const fn record_len(&self) -> usize {
        record_len(self.len as usize)
    }
}

/// Bytes a record with a payload of `payload_len` bytes occupies: header plus payload,
/// rounded up to [`RECORD_ALIGN`]. Saturates rather than overflowing.
///
/// ```
/// assert_eq!(ringcore::frame::record_len(0), 24);
/// assert_eq!(ringcore::frame::record_len(64), 88);
/// ```
#[inline]
pub const fn record_len(payload_len: usize) -> usize {
    let raw = HEADER_LEN.saturating_add(payload_len);
    let padded = raw.saturating_add(RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1);
    if padded < raw {
        usize::MAX & !(RECORD_ALIGN - 1)
    } else {
        padded
    }
}

/// A record's header and payload, borrowed from wherever the record lives: an SPSC ring,
/// a broadcast slot, a pool class, a decoded wire frame. Every reader of `ringcore` hands
/// records out as this one type, so a [consumer](crate::dispatch::EventConsumer) works on all
/// of them.
///
/// ```
/// use ringcore::frame::{FrameHeader, RecordView};
/// let header = FrameHeader { seq: 3, len: 2, ..Default::default() };
/// let view = RecordView { header, payload: b"hi" };
/// assert_eq!((view.header.seq, view.payload), (3, &b"hi"[..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'b> {
    /// The record's header.
    pub header: FrameHeader,
    /// The record's payload.
    pub payload: &'b [u8],
}

/// A source of timestamps for targets that have a clock; `no_std` has none built in.
///
/// ```
/// use ringcore::frame::Clock;
/// use ringcore::spsc::Ring;
/// struct Fixed;
/// impl Clock for Fixed { fn now_ns(&self) -> u64 { 42 } }
///
/// let ring = Ring::<256>::new();
/// let (mut p, mut c) = ring.try_split(0).unwrap();
/// p.push_now(0, &Fixed, b"x").unwrap();
/// assert_eq!(c.read().unwrap().header().timestamp_ns, 42);
/// ```
pub trait Clock {
    /// Nanoseconds since the Unix epoch (or any monotonic origin the application picks).
    fn now_ns(&self) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_extremes() {
        for h in [
            FrameHeader::default(),
            FrameHeader {
                seq: u64::MAX,
                timestamp_ns: u64::MAX,
                len: u32::MAX,
                kind: u16::MAX,
                flags: u16::MAX,
            },
            FrameHeader {
                seq: 0x0102_0304_0506_0708,
                timestamp_ns: 0x1112_1314_1516_1718,
                len: 0x2122_2324,
                kind: 0x3132,
                flags: 0x4142,
            },
        ] {
            assert_eq!(FrameHeader::decode(&h.encode()), Ok(h));
        }
    }

    #[test]
    fn encoding_is_little_endian_at_documented_offsets() {
        let h = FrameHeader {
            seq: 0x0102_0304_0506_0708,
            timestamp_ns: 0x1112_1314_1516_1718,
            len: 0x2122_2324,
            kind: 0x3132,
            flags: 0x4142,
        };
        let b = h.encode();
        assert_eq!(b[SEQ_OFFSET], 0x08);
        assert_eq!(b[TIMESTAMP_OFFSET], 0x18);
        assert_eq!(b[LEN_OFFSET], 0x24);
        assert_eq!(b[KIND_OFFSET], 0x32);
        assert_eq!(b[FLAGS_OFFSET + 1], 0x41);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut buf = [0u8; HEADER_LEN + 10];
        FrameHeader {
            len: 10,
            ..Default::default()
        }
        .encode_into(&mut buf);
        for cut in 0..buf.len() {
            let r = FrameHeader::decode_record(&buf[..cut], 1 << 20);
            assert!(
                matches!(r, Err(FrameError::Truncated { available, .. }) if available == cut),
                "cut {cut}: {r:?}"
            );
        }
        assert!(FrameHeader::decode_record(&buf, 1 << 20).is_ok());
    }

    #[test]
    fn huge_length_is_rejected_not_trusted() {
        let mut buf = [0u8; 64];
        FrameHeader {
            len: u32::MAX,
            ..Default::default()
        }
        .encode_into(&mut buf);
        assert_eq!(
            FrameHeader::decode_record(&buf, usize::MAX),
            Err(FrameError::Truncated {
                needed: HEADER_LEN + u32::MAX as usize,
                available: 64
            })
        );
        assert_eq!(
            FrameHeader::decode_record(&buf, 100),
            Err(FrameError::TooLong {
                len: u32::MAX,
                max: 100
            })
        );
    }

    #[test]
    fn record_len_rounds_to_alignment_and_saturates() {
        assert_eq!(record_len(0), 24);
        assert_eq!(record_len(1), 32);
        assert_eq!(record_len(8), 32);
        assert_eq!(record_len(9), 40);
        assert_eq!(record_len(usize::MAX) % RECORD_ALIGN, 0);
        assert!(record_len(usize::MAX) >= usize::MAX - 8);
    }
}
