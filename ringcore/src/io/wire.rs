//! The wire format of the module docs, for one frame in a byte slice: constants, the
//! two checksums, [`encode_frame`] and [`decode_frame`]. Pure functions over bytes; the
//! sink and the source build on them.

use core::fmt;

use crc::{CRC_32_ISCSI, Crc};

use crate::frame::{FrameHeader, HEADER_LEN, RecordView};

/// The sync word that starts every frame.
///
/// ```
/// assert_eq!(&ringcore::io::SYNC[1..], b"RC1");
/// ```
pub const SYNC: [u8; 4] = [0xFE, b'R', b'C', b'1'];
/// Byte offset of the sync word in a frame.
pub const SYNC_OFFSET: usize = 0;
/// Byte offset of the [`FrameHeader`] in a frame.
pub const HEADER_OFFSET: usize = SYNC_OFFSET + SYNC.len();
/// Byte offset of the header checksum in a frame.
pub const HEADER_CRC_OFFSET: usize = HEADER_OFFSET + HEADER_LEN;
/// Byte offset of the payload in a frame.
pub const PAYLOAD_OFFSET: usize = HEADER_CRC_OFFSET + 4;
/// Bytes of a frame that are not payload: sync, header, header checksum, checksum.
pub const FRAME_OVERHEAD: usize = PAYLOAD_OFFSET + 4;

const _: () = assert!(FRAME_OVERHEAD == 36);

/// The table-driven CRC32C (1 KiB table, in flash on embedded targets).
pub(super) static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Bytes a frame with `payload_len` payload bytes takes on the wire (saturating).
///
/// ```
/// assert_eq!(ringcore::io::wire_len(0), 36);
/// assert_eq!(ringcore::io::wire_len(100), 136);
/// ```
#[inline]
pub const fn wire_len(payload_len: usize) -> usize {
    FRAME_OVERHEAD.saturating_add(payload_len)
}

#[inline]
pub(super) fn header_crc(header: &[u8]) -> u32 {
    CRC32C.checksum(header)
}

#[inline]
pub(super) fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(header);
    d.update(payload);
    d.finalize()
}

/// The sync word, header and header checksum of a frame.
pub(super) fn frame_prefix(header: &FrameHeader) -> [u8; PAYLOAD_OFFSET] {
    let mut prefix = [0_u8; PAYLOAD_OFFSET];
    prefix[SYNC_OFFSET..HEADER_OFFSET].copy_from_slice(&SYNC);
    header.encode_into(&mut prefix[HEADER_OFFSET..HEADER_CRC_OFFSET]);
    let hcrc = header_crc(&prefix[HEADER_OFFSET..HEADER_CRC_OFFSET]);
    prefix[HEADER_CRC_OFFSET..PAYLOAD_OFFSET].copy_from_slice(&hcrc.to_le_bytes());
    prefix
}

pub(super) fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes one frame into `out` and returns its length, or `None` when `out` is too short
/// or the payload is longer than `u32::MAX`. The header's `len` is taken from `payload`.
///
/// ```
/// use ringcore::frame::FrameHeader;
/// use ringcore::io::{decode_frame, encode_frame};
/// let mut buf = [0_u8; 64];
/// let n = encode_frame(&FrameHeader { seq: 3, ..Default::default() }, b"abc", &mut buf).unwrap();
/// assert_eq!(n, 39);
/// let (view, used) = decode_frame(&buf[..n], 1024).unwrap();
/// assert_eq!((view.header.seq, view.payload, used), (3, &b"abc"[..], 39));
/// assert_eq!(encode_frame(&FrameHeader::default(), b"abc", &mut buf[..38]), None);
/// ```
pub fn encode_frame(header: &FrameHeader, payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let header = FrameHeader {
        len: u32::try_from(payload.len()).ok()?,
        ..*header
    };
    let total = wire_len(payload.len());
    let out = out.get_mut(..total)?;
    let prefix = frame_prefix(&header);
    out[..PAYLOAD_OFFSET].copy_from_slice(&prefix);
    out[PAYLOAD_OFFSET..total - 4].copy_from_slice(payload);
    let crc = record_crc(&prefix[HEADER_OFFSET..HEADER_CRC_OFFSET], payload);
    out[total - 4..].copy_from_slice(&crc.to_le_bytes());
    Some(total)
}

/// Why bytes are not a good frame.
///
/// ```
/// use ringcore::io::{decode_frame, WireError};
/// assert_eq!(decode_frame(b"garbage", 100).err(), Some(WireError::NoSync));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The bytes do not start with [`SYNC`].
    NoSync,
    /// The header checksum does not match the header.
    HeaderChecksum,
    /// The (checksummed) header announces a payload longer than the limit.
    TooLong {
        /// The announced payload length.
        len: u32,
        /// The limit.
        max: usize,
    },
    /// The bytes end inside the frame.
    Truncated {
        /// Bytes needed to know more (the whole frame once the header is known).
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The checksum does not match header and payload.
    Checksum {
        /// The sequence in the (checksummed) header.
        seq: u64,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSync => f.write_str("no sync word where a frame should start"),
            Self::HeaderChecksum => f.write_str("frame header checksum mismatch"),
            Self::TooLong { len, max } => {
                write!(f, "frame payload length {len} exceeds the limit {max}")
            }
            Self::Truncated { needed, available } => {
                write!(
                    f,
                    "truncated frame: {needed} bytes needed, {available} available"
                )
            }
            Self::Checksum { seq } => write!(f, "checksum mismatch in frame {seq}"),
        }
    }
}

impl core::error::Error for WireError {}

/// Decodes the frame at the start of `bytes`, checking the sync word, both checksums and
/// that the payload is at most `max_payload` bytes; returns the record and the frame's
/// length. Never panics, whatever the bytes.
///
/// ```
/// use ringcore::frame::FrameHeader;
/// use ringcore::io::{decode_frame, encode_frame, WireError};
/// let mut buf = [0_u8; 64];
/// let n = encode_frame(&FrameHeader::default(), b"payload", &mut buf).unwrap();
/// assert!(decode_frame(&buf[..n], 64).is_ok());
/// assert_eq!(decode_frame(&buf[..n], 3).err(), Some(WireError::TooLong { len: 7, max: 3 }));
/// assert_eq!(
///     decode_frame(&buf[..n - 1], 64).err(),
///     Some(WireError::Truncated { needed: n, available: n - 1 })
/// );
/// buf[40] ^= 1;
/// assert_eq!(decode_frame(&buf[..n], 64).err(), Some(WireError::Checksum { seq: 0 }));
/// ```
pub fn decode_frame(
    bytes: &[u8],
    max_payload: usize,
) -> Result<(RecordView<'_>, usize), WireError> {
    let sync_len = bytes.len().min(SYNC.len());
    if bytes[..sync_len] != SYNC[..sync_len] {
        return Err(WireError::NoSync);
    }
    let Some(prefix) = bytes.get(..PAYLOAD_OFFSET) else {
        return Err(WireError::Truncated {
            needed: PAYLOAD_OFFSET,
            available: bytes.len(),
        });
    };
    let header_bytes = &prefix[HEADER_OFFSET..HEADER_CRC_OFFSET];
    if header_crc(header_bytes) != le_u32(&prefix[HEADER_CRC_OFFSET..]) {
        return Err(WireError::HeaderChecksum);
    }
    let header = FrameHeader::decode(header_bytes).map_err(|_| WireError::HeaderChecksum)?;
    let len = header.len as usize;
    if len > max_payload {
        return Err(WireError::TooLong {
            len: header.len,
            max: max_payload,
        });
    }
    let total = wire_len(len);
    let Some(frame) = bytes.get(..total) else {
        return Err(WireError::Truncated {
            needed: total,
            available: bytes.len(),
        });
    };
    let payload = &frame[PAYLOAD_OFFSET..total - 4];
    if record_crc(header_bytes, payload) != le_u32(&frame[total - 4..]) {
        return Err(WireError::Checksum { seq: header.seq });
    }
    Ok((RecordView { header, payload }, total))
}
