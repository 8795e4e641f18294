//! Rings to and from byte streams over `embedded-io`: UARTs, flash, sockets, no `std`.
//!
//! * [`FrameSink`] drains an [`spsc::Consumer`] into any [`Write`] as checksummed frames.
//!   It copes with short writes, and with a writer that is not ready
//!   ([`FrameSink::drain_ready`] asks [`WriteReady`] first) or that fails: the frame in
//!   progress is remembered, the next call resumes at the first unwritten byte, and the
//!   record's ring bytes are released only once its whole frame is written. No record is
//!   lost or written twice.
//! * [`FrameSource`] reads such frames from any [`Read`] into an [`spsc::Producer`]. Garbage,
//!   a bad checksum, a length over the limit and a stream that ends inside a frame are
//!   error values ([`SourceError`]); the source then resynchronises on the next good frame.
//!   Its buffer is `B` bytes, a const generic: no heap.
//! * [`encode_frame`] and [`decode_frame`] do the same for one frame in a byte slice.
//!
//! `embedded-io` 0.7 has no `WouldBlock`: its `Read` and `Write` block. Non-blocking use
//! goes through [`ReadReady`]/[`WriteReady`], which [`FrameSource::poll_ready`] and
//! [`FrameSink::drain_ready`] consult before every call that could block.
//!
//! # Wire format
//!
//! ```text
//!  0        4                          28         32                 32+len     36+len
//!  +--------+--------------------------+----------+------------------+----------+
//!  |  SYNC  | FrameHeader, 24 bytes LE | HDR_CRC  | payload, len B   |   CRC    |
//!  +--------+--------------------------+----------+------------------+----------+
//!   FE 52 43 31  seq u64 | timestamp u64 | len u32 | kind u16 | flags u16
//! ```
//!
//! * `SYNC` ([`SYNC`]): `0xFE` then ASCII `RC1`. `0xFE` never occurs in UTF-8 text.
//! * The header is [`FrameHeader`], encoded exactly as in rings and segment files.
//! * `HDR_CRC`: CRC32C of the 24 header bytes, little-endian. A receiver checks it before
//!   believing `len`, so a damaged length is caught at once instead of making the
//!   receiver wait for bytes that will never come, and a sync word that happens to occur
//!   inside a payload is not mistaken for a frame.
//! * `CRC`: CRC32C (Castagnoli, the `CRC_32_ISCSI` of the `crc` crate, the same as the
//!   `crc32c` crate) of header and payload, little-endian: the record checksum the storage
//!   crates use.
//!
//! No padding: a frame is [`FRAME_OVERHEAD`] (36) bytes plus the payload.
//!
//! # Example
//!
//! ```
//! use ringcore::io::{FrameSink, FrameSource, Polled, Stopped};
//! use ringcore::spsc::Ring;
//!
//! // Sender: a ring drained to a byte buffer (any embedded_io::Write).
//! let tx = Ring::<1024>::new();
//! let (mut p, mut c) = tx.try_split(0).unwrap();
//! p.push(b"hello", 1, 1_000).unwrap();
//! p.push(b"world", 2, 2_000).unwrap();
//! let mut wire = [0_u8; 128];
//! let mut sink = FrameSink::new();
//! let mut out: &mut [u8] = &mut wire;
//! let drained = sink.drain(&mut c, &mut out, usize::MAX).unwrap();
//! assert_eq!((drained.frames, drained.stopped), (2, Stopped::Empty));
//! let written = 128 - out.len();
//! assert_eq!(written, 2 * (36 + 5));
//!
//! // Receiver: the bytes read back into another ring (any embedded_io::Read).
//! let rx = Ring::<1024>::new();
//! let (mut p2, mut c2) = rx.try_split(0).unwrap();
//! let mut source = FrameSource::<256>::new();
//! let mut input: &[u8] = &wire[..written];
//! assert!(matches!(source.poll(&mut input, &mut p2), Ok(Polled::Frame(_))));
//! assert!(matches!(source.poll(&mut input, &mut p2), Ok(Polled::Frame(_))));
//! assert_eq!(source.poll(&mut input, &mut p2), Ok(Polled::End));
//! let r = c2.read().unwrap();
//! assert_eq!((r.payload(), r.header().kind, r.header().timestamp_ns), (&b"hello"[..], 1, 1_000));
//! ```

use core::fmt;

use crc::{CRC_32_ISCSI, Crc};
use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::frame::{FrameHeader, HEADER_LEN};
use crate::spsc::{self, PushError, RecordView, Ring};

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
static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

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
fn header_crc(header: &[u8]) -> u32 {
    CRC32C.checksum(header)
}

#[inline]
fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(header);
    d.update(payload);
    d.finalize()
}

/// The sync word, header and header checksum of a frame.
fn frame_prefix(header: &FrameHeader) -> [u8; PAYLOAD_OFFSET] {
    let mut prefix = [0_u8; PAYLOAD_OFFSET];
    prefix[SYNC_OFFSET..HEADER_OFFSET].copy_from_slice(&SYNC);
    header.encode_into(&mut prefix[HEADER_OFFSET..HEADER_CRC_OFFSET]);
    let hcrc = header_crc(&prefix[HEADER_OFFSET..HEADER_CRC_OFFSET]);
    prefix[HEADER_CRC_OFFSET..PAYLOAD_OFFSET].copy_from_slice(&hcrc.to_le_bytes());
    prefix
}

fn le_u32(b: &[u8]) -> u32 {
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

/// Where a [`FrameSink`] stands in the frame it has started but not finished.
///
/// ```
/// let p = ringcore::io::PartialFrame { seq: 4, written: 10, total: 40 };
/// assert_eq!(p.total - p.written, 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialFrame {
    /// Sequence of the record being written.
    pub seq: u64,
    /// Bytes of its frame already written.
    pub written: usize,
    /// Bytes of its whole frame.
    pub total: usize,
}

/// Why a [`FrameSink`] call returned.
///
/// ```
/// assert_ne!(ringcore::io::Stopped::Empty, ringcore::io::Stopped::Limit);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The ring has no more records.
    Empty,
    /// The call wrote as many frames as it was asked to.
    Limit,
    /// The writer said it is not ready ([`WriteReady`]); a frame may be in progress.
    NotReady,
}

/// What a [`FrameSink`] call did.
///
/// ```
/// use ringcore::io::{Drained, Stopped};
/// let d = Drained { frames: 2, bytes: 80, stopped: Stopped::Empty };
/// assert_eq!(d.frames, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Frames completed by this call (their records were released).
    pub frames: usize,
    /// Bytes written by this call.
    pub bytes: usize,
    /// Why the call returned.
    pub stopped: Stopped,
}

/// Why a [`FrameSink`] call failed. The frame in progress is kept: call again to resume,
/// or [`FrameSink::restart_frame`] first if the writer is a new stream.
///
/// ```
/// use ringcore::io::SinkError;
/// let e: SinkError<core::convert::Infallible> = SinkError::WriteZero;
/// assert_eq!(e.to_string(), "writer accepted no bytes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError<E> {
    /// The writer (or its `write_ready`) failed.
    Write(E),
    /// The writer returned `Ok(0)` for a non-empty buffer, breaking `embedded-io`'s
    /// contract (it should return an error of kind `WriteZero`).
    WriteZero,
    /// The ring's next record is not the one whose frame was in progress (the sink was
    /// given another ring): that frame cannot be completed, and the stream holds a partial
    /// frame a receiver will report. The sink starts afresh on the next call.
    Abandoned {
        /// The record whose frame was cut short.
        seq: u64,
    },
}

impl<E: fmt::Display> fmt::Display for SinkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write(e) => write!(f, "write failed: {e}"),
            Self::WriteZero => f.write_str("writer accepted no bytes"),
            Self::Abandoned { seq } => {
                write!(
                    f,
                    "frame of record {seq} abandoned: it is no longer in the ring"
                )
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for SinkError<E> {}

/// Cumulative counters of a [`FrameSink`].
///
/// ```
/// assert_eq!(ringcore::io::SinkStats::default().frames, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Frames written completely.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Calls that stopped in the middle of a frame (not ready, or an error, after some of
    /// its bytes were written).
    pub interrupted: u64,
}

/// Frame in progress: its header (to check it is still the ring's next record), its
/// prefix and trailer, and how far it got. Between calls, `written > 0`.
#[derive(Debug, Clone, Copy)]
struct InProgress {
    header: FrameHeader,
    prefix: [u8; PAYLOAD_OFFSET],
    crc: [u8; 4],
    written: usize,
}

/// Drains a ring into an [`embedded_io::Write`] as frames (see the module's wire format).
///
/// Writes come straight from the ring (zero-copy): the sink holds only the 32-byte prefix
/// and 4-byte checksum of the frame in progress. A record is released only after the last
/// byte of its frame is written, so a writer that fails or is not ready never costs a
/// record, and a resumed frame continues at its first unwritten byte.
///
/// ```
/// use ringcore::io::{FrameSink, Stopped};
/// use ringcore::spsc::Ring;
///
/// let ring = Ring::<512>::new();
/// let (mut p, mut c) = ring.try_split(0).unwrap();
/// p.push(b"abc", 0, 0).unwrap();
/// let mut buf = [0_u8; 20]; // room for half a frame
/// let mut sink = FrameSink::new();
/// let mut out: &mut [u8] = &mut buf;
/// // A full slice is a writer that fails with WriteZero: the frame stays in progress.
/// assert!(sink.drain(&mut c, &mut out, 1).is_err());
/// assert_eq!(sink.in_progress().map(|f| (f.written, f.total)), Some((20, 39)));
/// assert_eq!(c.pending_bytes(), 32, "the record is not released yet");
/// let mut rest = [0_u8; 19];
/// let mut out: &mut [u8] = &mut rest;
/// let d = sink.drain(&mut c, &mut out, 1).unwrap();
/// assert_eq!((d.frames, d.bytes, c.pending_bytes()), (1, 19, 0));
/// ```
#[derive(Debug, Default)]
pub struct FrameSink {
    current: Option<InProgress>,
    stats: SinkStats,
}

impl FrameSink {
    /// A sink with no frame in progress.
    ///
    /// ```
    /// assert!(ringcore::io::FrameSink::new().in_progress().is_none());
    /// ```
    pub const fn new() -> Self {
        Self {
            current: None,
            stats: SinkStats {
                frames: 0,
                bytes: 0,
                interrupted: 0,
            },
        }
    }

    /// Writes up to `max` frames (a resumed one included) of `consumer`'s records to
    /// `writer`, whose `write` may block. Short writes are continued; an error returns
    /// at once with the frame in progress kept.
    ///
    /// ```
    /// use ringcore::io::FrameSink;
    /// let ring = ringcore::spsc::Ring::<512>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"x", 0, 0).unwrap();
    /// let mut buf = [0_u8; 64];
    /// let mut out: &mut [u8] = &mut buf;
    /// let d = FrameSink::new().drain(&mut c, &mut out, 10).unwrap();
    /// assert_eq!((d.frames, d.bytes), (1, 37));
    /// ```
    pub fn drain<W: Write, const N: usize>(
        &mut self,
        consumer: &mut spsc::Consumer<'_, N>,
        writer: &mut W,
        max: usize,
    ) -> Result<Drained, SinkError<W::Error>> {
        self.drain_with(consumer, writer, max, |_| Ok(true))
    }

    /// Like [`FrameSink::drain`], but asks [`WriteReady::write_ready`] before every
    /// write and returns [`Stopped::NotReady`] instead of blocking.
    ///
    /// ```
    /// use embedded_io::{ErrorType, Write, WriteReady};
    /// use ringcore::io::{FrameSink, Stopped};
    ///
    /// /// A transmitter whose FIFO is full.
    /// struct Busy;
    /// impl ErrorType for Busy { type Error = core::convert::Infallible; }
    /// impl Write for Busy {
    ///     fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> { unreachable!() }
    ///     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// impl WriteReady for Busy {
    ///     fn write_ready(&mut self) -> Result<bool, Self::Error> { Ok(false) }
    /// }
    ///
    /// let ring = ringcore::spsc::Ring::<512>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"x", 0, 0).unwrap();
    /// let d = FrameSink::new().drain_ready(&mut c, &mut Busy, 10).unwrap();
    /// assert_eq!((d.frames, d.stopped), (0, Stopped::NotReady));
    /// ```
    pub fn drain_ready<W: Write + WriteReady, const N: usize>(
        &mut self,
        consumer: &mut spsc::Consumer<'_, N>,
        writer: &mut W,
        max: usize,
    ) -> Result<Drained, SinkError<W::Error>> {
        self.drain_with(consumer, writer, max, |w| w.write_ready())
    }

    fn drain_with<W: Write, const N: usize>(
        &mut self,
        consumer: &mut spsc::Consumer<'_, N>,
        writer: &mut W,
        max: usize,
        mut ready: impl FnMut(&mut W) -> Result<bool, W::Error>,
    ) -> Result<Drained, SinkError<W::Error>> {
        let mut done = Drained {
            frames: 0,
            bytes: 0,
            stopped: Stopped::Limit,
        };
        while done.frames < max {
            let Some(record) = consumer.read() else {
                if let Some(cur) = self.current.take() {
                    // Only another ring can be empty under a started frame.
                    return Err(SinkError::Abandoned {
                        seq: cur.header.seq,
                    });
                }
                done.stopped = Stopped::Empty;
                return Ok(done);
            };
            let view = record.view();
            let cur = match &mut self.current {
                Some(cur) if cur.header == view.header => cur,
                Some(cur) => {
                    let seq = cur.header.seq;
                    self.current = None;
                    keep_unreleased(record);
                    return Err(SinkError::Abandoned { seq });
                }
                slot @ None => {
                    let prefix = frame_prefix(&view.header);
                    let crc = record_crc(&prefix[HEADER_OFFSET..HEADER_CRC_OFFSET], view.payload);
                    slot.insert(InProgress {
                        header: view.header,
                        prefix,
                        crc: crc.to_le_bytes(),
                        written: 0,
                    })
                }
            };
            let total = wire_len(view.payload.len());
            while cur.written < total {
                let stop = match ready(writer) {
                    Ok(true) => {
                        let at = cur.written;
                        let chunk = if at < PAYLOAD_OFFSET {
                            &cur.prefix[at..]
                        } else if at < total - 4 {
                            &view.payload[at - PAYLOAD_OFFSET..]
                        } else {
                            &cur.crc[at - (total - 4)..]
                        };
                        match writer.write(chunk) {
                            Ok(0) => Some(Err(SinkError::WriteZero)),
                            Ok(n) => {
                                let n = n.min(chunk.len());
                                cur.written += n;
                                done.bytes += n;
                                self.stats.bytes = self.stats.bytes.saturating_add(n as u64);
                                None
                            }
                            Err(e) => Some(Err(SinkError::Write(e))),
                        }
                    }
                    Ok(false) => Some(Ok(Stopped::NotReady)),
                    Err(e) => Some(Err(SinkError::Write(e))),
                };
                if let Some(result) = stop {
                    if cur.written == 0 {
                        // Nothing of this frame is out: no frame is in progress.
                        self.current = None;
                    } else {
                        self.stats.interrupted = self.stats.interrupted.saturating_add(1);
                    }
                    keep_unreleased(record);
                    return result.map(|stopped| Drained { stopped, ..done });
                }
            }
            self.current = None;
            // The whole frame is out: dropping the record releases its ring bytes.
            drop(record);
            done.frames += 1;
            self.stats.frames = self.stats.frames.saturating_add(1);
        }
        Ok(done)
    }

    /// The frame started but not finished, if any.
    ///
    /// ```
    /// assert_eq!(ringcore::io::FrameSink::new().in_progress(), None);
    /// ```
    pub fn in_progress(&self) -> Option<PartialFrame> {
        self.current.as_ref().map(|cur| PartialFrame {
            seq: cur.header.seq,
            written: cur.written,
            total: wire_len(cur.header.len as usize),
        })
    }

    /// Forgets how much of the frame in progress was written, so the next call writes it
    /// again from its first byte. Use it when the writer is a new stream (a reconnected
    /// socket, a reopened file); the old stream ends with a partial frame that its reader
    /// reports as truncated.
    ///
    /// ```
    /// use ringcore::io::FrameSink;
    /// let ring = ringcore::spsc::Ring::<512>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"abc", 0, 0).unwrap();
    /// let mut sink = FrameSink::new();
    /// let mut small = [0_u8; 10];
    /// assert!(sink.drain(&mut c, &mut &mut small[..], 1).is_err());
    /// sink.restart_frame();
    /// let mut big = [0_u8; 64];
    /// let d = sink.drain(&mut c, &mut &mut big[..], 1).unwrap();
    /// assert_eq!(d.bytes, 39);
    /// assert_eq!(&big[..4], &ringcore::io::SYNC);
    /// ```
    pub fn restart_frame(&mut self) {
        if let Some(cur) = &mut self.current {
            cur.written = 0;
        }
    }

    /// Counters since the sink was made.
    ///
    /// ```
    /// assert_eq!(ringcore::io::FrameSink::new().stats().bytes, 0);
    /// ```
    pub fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// Ends the borrow of a record without releasing it: the consumer's next `read` returns
/// the same record.
fn keep_unreleased<const N: usize>(record: spsc::Record<'_, '_, N>) {
    record.keep();
}

/// What one [`FrameSource::poll`] produced.
///
/// ```
/// assert_ne!(ringcore::io::Polled::Pending, ringcore::io::Polled::End);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// A good frame went into the ring.
    Frame(Received),
    /// The reader is not ready ([`ReadReady`]); poll again later.
    Pending,
    /// The next frame is good but the ring is full; it stays buffered. Poll again after
    /// the ring's consumer has read.
    RingFull,
    /// The reader is at end of stream and every buffered byte has been handled.
    End,
}

/// A frame that [`FrameSource::poll`] put into the ring.
///
/// ```
/// use ringcore::frame::FrameHeader;
/// let r = ringcore::io::Received { header: FrameHeader::default(), ring_seq: 0 };
/// assert_eq!(r.header.seq, r.ring_seq);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The header as sent (its `seq` is the sender's sequence).
    pub header: FrameHeader,
    /// The sequence the receiving ring gave the record. It equals `header.seq` while
    /// nothing is lost if the ring was split with the sender's first sequence; compare the
    /// two to see gaps.
    pub ring_seq: u64,
}

/// Why a [`FrameSource::poll`] produced no frame. Except for `Read`, each is a piece of
/// damaged input that was skipped; the next poll goes on with the bytes after it. While
/// the source is resynchronising, further damage before the next good frame is counted in
/// [`SourceStats::skipped_bytes`] but not reported again.
///
/// ```
/// use ringcore::io::SourceError;
/// let e: SourceError<core::convert::Infallible> = SourceError::Garbage { skipped: 3 };
/// assert_eq!(e.to_string(), "3 bytes of garbage skipped");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceError<E> {
    /// The reader (or its `read_ready`) failed; buffered bytes are kept.
    Read(E),
    /// Bytes that do not start a frame, where a frame should start.
    Garbage {
        /// Bytes skipped by this report (more may follow silently).
        skipped: usize,
    },
    /// A frame's header checksum did not match.
    HeaderChecksum,
    /// A frame announced a payload longer than the source's buffer or the ring accept.
    TooLong {
        /// The announced payload length.
        len: u32,
        /// The largest accepted.
        max: usize,
    },
    /// A frame's checksum did not match.
    Checksum {
        /// The sequence in its (checksummed) header.
        seq: u64,
    },
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes the frame needed (the header's part while the header was incomplete).
        needed: usize,
        /// Bytes of it that arrived.
        available: usize,
    },
}

impl<E: fmt::Display> fmt::Display for SourceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "read failed: {e}"),
            Self::Garbage { skipped } => write!(f, "{skipped} bytes of garbage skipped"),
            Self::HeaderChecksum => WireError::HeaderChecksum.fmt(f),
            Self::TooLong { len, max } => WireError::TooLong {
                len: *len,
                max: *max,
            }
            .fmt(f),
            Self::Checksum { seq } => WireError::Checksum { seq: *seq }.fmt(f),
            Self::Truncated { needed, available } => WireError::Truncated {
                needed: *needed,
                available: *available,
            }
            .fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for SourceError<E> {}

/// Cumulative counters of a [`FrameSource`].
///
/// ```
/// assert_eq!(ringcore::io::SourceStats::default().frames, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceStats {
    /// Good frames put into the ring.
    pub frames: u64,
    /// Damage reports returned (one per loss of synchronisation).
    pub errors: u64,
    /// Bytes thrown away while resynchronising.
    pub skipped_bytes: u64,
}

/// One step of parsing the buffered bytes.
enum Step<E> {
    /// Return this from `poll`.
    Done(Result<Polled, SourceError<E>>),
    /// The buffer holds the beginning of a frame (or nothing): read more.
    NeedMore,
}

/// Reads frames from an [`embedded_io::Read`] into a ring, through a `B`-byte buffer.
///
/// The largest payload it accepts is `B - 36` bytes (and at most the ring's
/// [`Ring::MAX_PAYLOAD`]); a frame announcing more is reported as
/// [`SourceError::TooLong`] and skipped. `B` must be at least [`FRAME_OVERHEAD`].
///
/// ```
/// use ringcore::frame::FrameHeader;
/// use ringcore::io::{encode_frame, FrameSource, Polled, SourceError};
/// use ringcore::spsc::Ring;
///
/// let mut wire = [0_u8; 128];
/// wire[..5].copy_from_slice(b"noise");
/// let n = encode_frame(&FrameHeader { seq: 8, kind: 3, ..Default::default() }, b"ok", &mut wire[5..]).unwrap();
///
/// let ring = Ring::<256>::new();
/// let (mut p, mut c) = ring.try_split(8).unwrap();
/// let mut source = FrameSource::<64>::new();
/// let mut input = &wire[..5 + n];
/// assert_eq!(source.poll(&mut input, &mut p), Err(SourceError::Garbage { skipped: 5 }));
/// let Ok(Polled::Frame(got)) = source.poll(&mut input, &mut p) else { panic!() };
/// assert_eq!((got.header.seq, got.ring_seq), (8, 8));
/// assert_eq!(c.read().unwrap().payload(), b"ok");
/// ```
///
/// A buffer too small for an empty frame fails the build:
///
/// ```compile_fail
/// let s = ringcore::io::FrameSource::<35>::new();
/// ```
#[derive(Debug)]
pub struct FrameSource<const B: usize> {
    buf: [u8; B],
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Damage was reported and no good frame has come since: report nothing new.
    resyncing: bool,
    stats: SourceStats,
}

impl<const B: usize> Default for FrameSource<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const B: usize> FrameSource<B> {
    const SIZE_OK: () = assert!(
        B >= FRAME_OVERHEAD,
        "ringcore::io::FrameSource<B>: B must be at least FRAME_OVERHEAD (36) bytes"
    );

    /// The largest payload the buffer holds.
    pub const MAX_PAYLOAD: usize = B.saturating_sub(FRAME_OVERHEAD);

    /// An empty source. `const`, so it can live in a `static` cell.
    ///
    /// ```
    /// let s = ringcore::io::FrameSource::<1024>::new();
    /// assert_eq!(s.buffered(), 0);
    /// assert_eq!(ringcore::io::FrameSource::<1024>::MAX_PAYLOAD, 988);
    /// ```
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            buf: [0; B],
            start: 0,
            end: 0,
            resyncing: false,
            stats: SourceStats {
                frames: 0,
                errors: 0,
                skipped_bytes: 0,
            },
        }
    }

    /// Puts the next good frame into `producer`'s ring, reading from `reader` (whose
    /// `read` may block) only when the buffer holds no complete frame. Returns one event
    /// per call: a frame, [`Polled::RingFull`], [`Polled::End`], or an error for a piece
    /// of damaged input (call again to go on).
    ///
    /// At end of stream (`read` returns 0) a partial frame is reported as
    /// [`SourceError::Truncated`]; the bytes after its start are searched for frames
    /// before [`Polled::End`]. A later call reads again, in case the stream grew.
    ///
    /// ```
    /// use ringcore::io::{FrameSource, Polled, SourceError};
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// let mut s = FrameSource::<128>::new();
    /// let mut cut: &[u8] = &[0xFE, b'R', b'C'];
    /// assert_eq!(s.poll(&mut cut, &mut p), Err(SourceError::Truncated { needed: 32, available: 3 }));
    /// assert_eq!(s.poll(&mut cut, &mut p), Ok(Polled::End));
    /// ```
    pub fn poll<R: Read, const N: usize>(
        &mut self,
        reader: &mut R,
        producer: &mut spsc::Producer<'_, N>,
    ) -> Result<Polled, SourceError<R::Error>> {
        self.poll_with(reader, producer, |_| Ok(true))
    }

    /// Like [`FrameSource::poll`], but asks [`ReadReady::read_ready`] before every read
    /// and returns [`Polled::Pending`] instead of blocking.
    ///
    /// ```
    /// use embedded_io::{ErrorType, Read, ReadReady};
    /// use ringcore::io::{FrameSource, Polled};
    ///
    /// /// A receiver with nothing in its FIFO.
    /// struct Quiet;
    /// impl ErrorType for Quiet { type Error = core::convert::Infallible; }
    /// impl Read for Quiet {
    ///     fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { unreachable!() }
    /// }
    /// impl ReadReady for Quiet {
    ///     fn read_ready(&mut self) -> Result<bool, Self::Error> { Ok(false) }
    /// }
    ///
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// let mut s = FrameSource::<128>::new();
    /// assert_eq!(s.poll_ready(&mut Quiet, &mut p), Ok(Polled::Pending));
    /// ```
    pub fn poll_ready<R: Read + ReadReady, const N: usize>(
        &mut self,
        reader: &mut R,
        producer: &mut spsc::Producer<'_, N>,
    ) -> Result<Polled, SourceError<R::Error>> {
        self.poll_with(reader, producer, |r| r.read_ready())
    }

    /// Bytes buffered but not yet turned into records or skipped.
    ///
    /// ```
    /// assert_eq!(ringcore::io::FrameSource::<64>::new().buffered(), 0);
    /// ```
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Counters since the source was made.
    ///
    /// ```
    /// assert_eq!(ringcore::io::FrameSource::<64>::new().stats().errors, 0);
    /// ```
    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    fn poll_with<R: Read, const N: usize>(
        &mut self,
        reader: &mut R,
        producer: &mut spsc::Producer<'_, N>,
        mut ready: impl FnMut(&mut R) -> Result<bool, R::Error>,
    ) -> Result<Polled, SourceError<R::Error>> {
        let max = Self::MAX_PAYLOAD.min(Ring::<N>::MAX_PAYLOAD);
        loop {
            if let Step::Done(result) = self.step(producer, max, false) {
                return result;
            }
            if !ready(reader).map_err(SourceError::Read)? {
                return Ok(Polled::Pending);
            }
            self.make_room();
            let room = &mut self.buf[self.end..];
            if room.is_empty() {
                // Cannot happen (a frame that passes the length check fits in the
                // buffer); skip a byte rather than spin if it ever did.
                if let Step::Done(result) = self.damaged(1, SourceError::HeaderChecksum) {
                    return result;
                }
                continue;
            }
            let n = reader.read(room).map_err(SourceError::Read)?;
            if n == 0 {
                return match self.step(producer, max, true) {
                    Step::Done(result) => result,
                    Step::NeedMore => Ok(Polled::End),
                };
            }
            self.end += n.min(room.len());
        }
    }

    /// Moves the unparsed bytes to the front when the buffer's tail is full.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == B {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Skips `n` bytes of damaged input and reports `error` unless already resyncing.
    fn damaged<E>(&mut self, n: usize, error: SourceError<E>) -> Step<E> {
        self.start += n;
        self.stats.skipped_bytes = self.stats.skipped_bytes.saturating_add(n as u64);
        if self.resyncing {
            Step::NeedMore
        } else {
            self.resyncing = true;
            self.stats.errors = self.stats.errors.saturating_add(1);
            Step::Done(Err(error))
        }
    }

    /// Parses buffered bytes until there is something to return or more bytes are
    /// needed. With `eof`, a partial frame is damage, and an empty buffer is the end.
    fn step<E, const N: usize>(
        &mut self,
        producer: &mut spsc::Producer<'_, N>,
        max: usize,
        eof: bool,
    ) -> Step<E> {
        loop {
            let bytes = &self.buf[self.start..self.end];
            if bytes.is_empty() {
                return if eof {
                    Step::Done(Ok(Polled::End))
                } else {
                    Step::NeedMore
                };
            }
            let reported = match decode_frame(bytes, max) {
                Ok((view, used)) => {
                    let mut grant = match producer.grant(view.payload.len()) {
                        Ok(g) => g,
                        Err(PushError::Full) => return Step::Done(Ok(Polled::RingFull)),
                        Err(PushError::TooLarge { len, max }) => {
                            // Excluded by `max`; treat as damage rather than panic.
                            let error = SourceError::TooLong {
                                len: len as u32,
                                max,
                            };
                            match self.damaged(1, error) {
                                Step::Done(r) => return Step::Done(r),
                                Step::NeedMore => continue,
                            }
                        }
                    };
                    grant.payload_mut().copy_from_slice(view.payload);
                    grant.set_kind(view.header.kind);
                    grant.set_flags(view.header.flags);
                    grant.set_timestamp_ns(view.header.timestamp_ns);
                    let header = view.header;
                    let ring_seq = grant.commit();
                    self.start += used;
                    self.resyncing = false;
                    self.stats.frames = self.stats.frames.saturating_add(1);
                    return Step::Done(Ok(Polled::Frame(Received { header, ring_seq })));
                }
                Err(WireError::NoSync) => {
                    let skip = next_sync_candidate(bytes);
                    self.damaged(skip, SourceError::Garbage { skipped: skip })
                }
                Err(WireError::Truncated { needed, available }) => {
                    if !eof {
                        return Step::NeedMore;
                    }
                    self.damaged(1, SourceError::Truncated { needed, available })
                }
                Err(WireError::HeaderChecksum) => self.damaged(1, SourceError::HeaderChecksum),
                Err(WireError::TooLong { len, max }) => {
                    self.damaged(1, SourceError::TooLong { len, max })
                }
                Err(WireError::Checksum { seq }) => self.damaged(1, SourceError::Checksum { seq }),
            };
            if let Step::Done(r) = reported {
                return Step::Done(r);
            }
        }
    }
}

/// The offset of the first place after the start of `bytes` where a sync word starts or
/// could start (a prefix of it runs to the end), or `bytes.len()`.
fn next_sync_candidate(bytes: &[u8]) -> usize {
    (1..bytes.len())
        .find(|&i| {
            let tail = &bytes[i..];
            let n = tail.len().min(SYNC.len());
            tail[..n] == SYNC[..n]
        })
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::record_len;
    use embedded_io::{ErrorKind, ErrorType};
    use std::vec::Vec;

    /// xorshift64*: deterministic, Miri-friendly randomness.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn pattern(seq: u64, i: usize) -> u8 {
        (seq as u8)
            .wrapping_mul(131)
            .wrapping_add((i as u8).wrapping_mul(7))
            ^ 0x5A
    }

    fn header(seq: u64, len: usize) -> FrameHeader {
        FrameHeader {
            seq,
            timestamp_ns: seq.wrapping_mul(1_000_003),
            len: len as u32,
            kind: (seq % 7) as u16,
            flags: (seq % 3) as u16,
        }
    }

    fn frame(seq: u64, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| pattern(seq, i)).collect();
        let mut out = std::vec![0_u8; wire_len(len)];
        assert_eq!(
            encode_frame(&header(seq, len), &payload, &mut out),
            Some(out.len())
        );
        out
    }

    fn push_record<const N: usize>(p: &mut spsc::Producer<'_, N>, len: usize) -> bool {
        let seq = p.next_seq();
        let Ok(mut g) = p.grant(len) else {
            return false;
        };
        for (i, b) in g.payload_mut().iter_mut().enumerate() {
            *b = pattern(seq, i);
        }
        let h = header(seq, len);
        g.set_kind(h.kind);
        g.set_flags(h.flags);
        g.set_timestamp_ns(h.timestamp_ns);
        g.commit();
        true
    }

    /// Checks a record against what was sent as `seq`; its own `seq` is not compared
    /// (a receiving ring numbers records itself).
    fn check_record(h: &FrameHeader, payload: &[u8], seq: u64) {
        let h = FrameHeader { seq, ..*h };
        assert_eq!(h, header(seq, payload.len()), "header of {seq}");
        for (i, b) in payload.iter().enumerate() {
            assert_eq!(*b, pattern(seq, i), "byte {i} of {seq}");
        }
    }

    /// Decodes a whole byte stream that must hold nothing but good frames.
    fn decode_all(mut bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (view, used) = decode_frame(bytes, usize::MAX).unwrap();
            out.push((view.header, view.payload.to_vec()));
            bytes = &bytes[used..];
        }
        out
    }

    /// A writer that short-writes, is sometimes not ready, fails transiently, and can die
    /// for good after `dead_after` bytes.
    struct TestWriter {
        out: Vec<u8>,
        rng: Rng,
        max_chunk: usize,
        not_ready_one_in: usize,
        transient_one_in: usize,
        dead_after: Option<usize>,
        zero: bool,
        calls: usize,
    }

    impl TestWriter {
        fn new(seed: u64, max_chunk: usize) -> Self {
            Self {
                out: Vec::new(),
                rng: Rng(seed),
                max_chunk,
                not_ready_one_in: 0,
                transient_one_in: 0,
                dead_after: None,
                zero: false,
                calls: 0,
            }
        }
    }

    impl ErrorType for TestWriter {
        type Error = ErrorKind;
    }

    impl Write for TestWriter {
        fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            if buf.is_empty() {
                return Ok(0);
            }
            self.calls += 1;
            if self.zero {
                return Ok(0);
            }
            let mut room = usize::MAX;
            if let Some(k) = self.dead_after {
                room = k.saturating_sub(self.out.len());
                if room == 0 {
                    return Err(ErrorKind::BrokenPipe);
                }
            }
            if self.transient_one_in > 0 && self.rng.below(self.transient_one_in) == 0 {
                return Err(ErrorKind::TimedOut);
            }
            let n = (1 + self.rng.below(buf.len().min(self.max_chunk))).min(room);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    impl WriteReady for TestWriter {
        fn write_ready(&mut self) -> Result<bool, ErrorKind> {
            Ok(!(self.not_ready_one_in > 0 && self.rng.below(self.not_ready_one_in) == 0))
        }
    }

    /// A reader that returns random short reads, is sometimes not ready, fails
    /// transiently, and is "not ready" (live) or at EOF (finished) when drained.
    struct TestReader {
        data: Vec<u8>,
        pos: usize,
        rng: Rng,
        max_chunk: usize,
        not_ready_one_in: usize,
        transient_one_in: usize,
        live: bool,
    }

    impl TestReader {
        fn new(data: Vec<u8>, seed: u64, max_chunk: usize) -> Self {
            Self {
                data,
                pos: 0,
                rng: Rng(seed),
                max_chunk,
                not_ready_one_in: 0,
                transient_one_in: 0,
                live: false,
            }
        }
    }

    impl ErrorType for TestReader {
        type Error = ErrorKind;
    }

    impl Read for TestReader {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            if buf.is_empty() {
                return Ok(0);
            }
            if self.transient_one_in > 0 && self.rng.below(self.transient_one_in) == 0 {
                return Err(ErrorKind::Interrupted);
            }
            let left = self.data.len() - self.pos;
            let n = if left == 0 {
                0
            } else {
                1 + self.rng.below(left.min(buf.len()).min(self.max_chunk))
            };
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl ReadReady for TestReader {
        fn read_ready(&mut self) -> Result<bool, ErrorKind> {
            if self.live && self.pos == self.data.len() {
                return Ok(false);
            }
            Ok(!(self.not_ready_one_in > 0 && self.rng.below(self.not_ready_one_in) == 0))
        }
    }

    /// Every event a source produces from `reader` until `End`.
    #[derive(Debug, PartialEq)]
    enum Ev {
        Frame(u64),
        Err(SourceError<ErrorKind>),
    }

    fn run_source<R: Read<Error = ErrorKind>>(reader: &mut R) -> (Vec<Ev>, SourceStats) {
        let ring = Ring::<4096>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let mut source = FrameSource::<1024>::new();
        let mut events = Vec::new();
        for _ in 0..100_000 {
            match source.poll(reader, &mut p) {
                Ok(Polled::Frame(got)) => {
                    let r = c.read().unwrap();
                    check_record(r.header(), r.payload(), got.header.seq);
                    assert_eq!(r.header().kind, got.header.kind);
                    events.push(Ev::Frame(got.header.seq));
                }
                Ok(Polled::End) => return (events, source.stats()),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(SourceError::Read(ErrorKind::Interrupted)) => {}
                Err(e) => events.push(Ev::Err(e)),
            }
        }
        panic!("source never reached the end");
    }

    #[test]
    fn crc_is_crc32c() {
        // The CRC32C check value, as in RFC 3720 and the `crc32c` crate.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn wire_layout_is_pinned() {
        let h = header(0x0102_0304_0506_0708, 3);
        let bytes = frame(h.seq, 3);
        assert_eq!(bytes.len(), 39);
        assert_eq!(&bytes[..4], &[0xFE, 0x52, 0x43, 0x31]);
        assert_eq!(&bytes[HEADER_OFFSET..HEADER_CRC_OFFSET], &h.encode());
        assert_eq!(bytes[HEADER_OFFSET], 0x08, "little-endian sequence");
        let hcrc = CRC32C.checksum(&h.encode());
        assert_eq!(&bytes[28..32], &hcrc.to_le_bytes());
        let payload: Vec<u8> = (0..3).map(|i| pattern(h.seq, i)).collect();
        assert_eq!(&bytes[32..35], &payload[..]);
        let mut all = h.encode().to_vec();
        all.extend_from_slice(&payload);
        assert_eq!(&bytes[35..], &CRC32C.checksum(&all).to_le_bytes());
    }

    #[test]
    fn encode_frame_refuses_short_buffers() {
        let mut out = [0_u8; 40];
        for n in 0..39 {
            assert_eq!(encode_frame(&header(0, 3), b"abc", &mut out[..n]), None);
        }
        assert_eq!(encode_frame(&header(0, 99), b"abc", &mut out), Some(39));
        assert_eq!(
            decode_frame(&out, 3).unwrap().0.header.len,
            3,
            "len from payload"
        );
    }

    #[test]
    fn sink_writes_exactly_encode_frame() {
        let ring = Ring::<4096>::new();
        let (mut p, mut c) = ring.try_split(5).unwrap();
        let mut expect = Vec::new();
        for (i, len) in [0, 1, 2, 100, 0, 333].into_iter().enumerate() {
            assert!(push_record(&mut p, len));
            expect.extend_from_slice(&frame(5 + i as u64, len));
        }
        let mut w = TestWriter::new(1, usize::MAX);
        let mut sink = FrameSink::new();
        let d = sink.drain(&mut c, &mut w, usize::MAX).unwrap();
        assert_eq!(
            d,
            Drained {
                frames: 6,
                bytes: expect.len(),
                stopped: Stopped::Empty
            }
        );
        assert_eq!(w.out, expect);
        assert_eq!(c.pending_bytes(), 0);
        assert_eq!(sink.stats().frames, 6);
        assert_eq!(sink.stats().bytes, expect.len() as u64);
    }

    #[test]
    fn sink_respects_max() {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        for _ in 0..5 {
            assert!(push_record(&mut p, 4));
        }
        let mut w = TestWriter::new(1, usize::MAX);
        let mut sink = FrameSink::new();
        let d = sink.drain(&mut c, &mut w, 2).unwrap();
        assert_eq!((d.frames, d.stopped), (2, Stopped::Limit));
        assert_eq!(c.pending_bytes(), 3 * record_len(4));
        assert_eq!(decode_all(&w.out).len(), 2);
    }

    /// Pushes `total` records of random sizes and drains them through `w`, which may
    /// short-write, be not ready, or fail transiently. Checks the output.
    fn drain_through(w: &mut TestWriter, total: u64, seed: u64, ready: bool) -> u64 {
        let ring = Ring::<2048>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let mut rng = Rng(seed);
        let mut sink = FrameSink::new();
        let mut pushed = 0_u64;
        let mut interruptions = 0_u64;
        let mut guard = 0;
        while pushed < total || c.pending_bytes() > 0 {
            guard += 1;
            assert!(guard < 10_000_000, "no progress");
            while pushed < total {
                let len = match rng.below(10) {
                    0 => 0,
                    1 => rng.below(Ring::<2048>::MAX_PAYLOAD + 1),
                    _ => rng.below(64),
                };
                if !push_record(&mut p, len) {
                    break;
                }
                pushed += 1;
            }
            let free_before = p.free_bytes();
            let frames_before = sink.stats().frames;
            let r = if ready {
                sink.drain_ready(&mut c, w, 1 + rng.below(8))
            } else {
                sink.drain(&mut c, w, 1 + rng.below(8))
            };
            match r {
                Ok(_) | Err(SinkError::Write(ErrorKind::TimedOut)) => {}
                Err(e) => panic!("{e:?}"),
            }
            if let Some(partial) = sink.in_progress() {
                interruptions += 1;
                assert!(partial.written > 0 && partial.written < partial.total);
                // The partial record is still in the ring: nothing of it was released.
                let completed = sink.stats().frames - frames_before;
                assert!(c.pending_bytes() >= record_len(0));
                if completed == 0 {
                    assert_eq!(p.free_bytes(), free_before);
                }
            }
        }
        assert_eq!(sink.in_progress(), None);
        let got = decode_all(&w.out);
        assert_eq!(got.len() as u64, total);
        for (i, (h, payload)) in got.iter().enumerate() {
            assert_eq!(h.seq, i as u64);
            check_record(h, payload, i as u64);
        }
        assert_eq!(sink.stats().frames, total);
        assert_eq!(sink.stats().bytes, w.out.len() as u64);
        interruptions
    }

    fn scale(n: u64) -> u64 {
        if cfg!(miri) { (n / 40).max(10) } else { n }
    }

    #[test]
    fn sink_one_byte_at_a_time() {
        let mut w = TestWriter::new(7, 1);
        drain_through(&mut w, scale(300), 1, false);
        assert_eq!(w.calls, w.out.len());
    }

    #[test]
    fn sink_random_short_writes() {
        let mut w = TestWriter::new(11, 50);
        drain_through(&mut w, scale(2000), 2, false);
        let frames = scale(2000) as usize;
        assert!(
            w.calls > 2 * frames,
            "short writes happened: {} calls",
            w.calls
        );
    }

    #[test]
    fn sink_not_ready_and_transient_errors() {
        let mut w = TestWriter::new(13, 40);
        w.not_ready_one_in = 3;
        w.transient_one_in = 5;
        assert!(drain_through(&mut w, scale(2000), 3, true) > 0);
    }

    #[test]
    fn sink_stops_when_never_ready_without_writing() {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        assert!(push_record(&mut p, 10));
        let mut w = TestWriter::new(1, 100);
        w.not_ready_one_in = 1;
        let mut sink = FrameSink::new();
        let d = sink.drain_ready(&mut c, &mut w, 10).unwrap();
        assert_eq!(
            d,
            Drained {
                frames: 0,
                bytes: 0,
                stopped: Stopped::NotReady
            }
        );
        assert!(w.out.is_empty());
        assert_eq!(sink.in_progress(), None, "no byte of a frame is out");
        assert_eq!(c.pending_bytes(), record_len(10));
    }

    #[test]
    fn sink_writer_dying_after_every_byte_count() {
        let lens = [3_usize, 0, 40, 9];
        let stream: Vec<u8> = lens
            .iter()
            .enumerate()
            .flat_map(|(i, l)| frame(i as u64, *l))
            .collect();
        let step = if cfg!(miri) { 7 } else { 1 };
        for k in (0..stream.len()).step_by(step) {
            let ring = Ring::<1024>::new();
            let (mut p, mut c) = ring.try_split(0).unwrap();
            for l in lens {
                assert!(push_record(&mut p, l));
            }
            let mut w = TestWriter::new(k as u64 + 1, 16);
            w.dead_after = Some(k);
            let mut sink = FrameSink::new();
            assert_eq!(
                sink.drain(&mut c, &mut w, usize::MAX),
                Err(SinkError::Write(ErrorKind::BrokenPipe))
            );
            assert_eq!(w.out, &stream[..k], "k {k}");
            // Frames wholly inside the k bytes are done and released; the next is partial.
            let mut done = 0;
            let mut at = 0;
            while at + wire_len(lens[done]) <= k {
                at += wire_len(lens[done]);
                done += 1;
            }
            assert_eq!(sink.stats().frames, done as u64);
            let partial = sink.in_progress().map(|f| (f.seq, f.written));
            if k == at {
                assert_eq!(partial, None, "k {k}: stopped at a frame boundary");
            } else {
                assert_eq!(partial, Some((done as u64, k - at)));
            }
            let left: usize = lens[done..].iter().map(|l| record_len(*l)).sum();
            assert_eq!(c.pending_bytes(), left, "k {k}");

            // A new stream: the partial frame is written again from its first byte.
            sink.restart_frame();
            let mut w2 = TestWriter::new(99, 5);
            let d = sink.drain(&mut c, &mut w2, usize::MAX).unwrap();
            assert_eq!(d.frames, lens.len() - done);
            assert_eq!(w2.out, &stream[at..]);
            assert_eq!(c.pending_bytes(), 0);
        }
    }

    #[test]
    fn sink_resumes_the_same_writer_after_an_error() {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        for l in [10, 20, 30] {
            assert!(push_record(&mut p, l));
        }
        let mut w = TestWriter::new(3, 7);
        w.dead_after = Some(50);
        let mut sink = FrameSink::new();
        assert!(sink.drain(&mut c, &mut w, usize::MAX).is_err());
        w.dead_after = None; // the link recovers: continue where it stopped
        sink.drain(&mut c, &mut w, usize::MAX).unwrap();
        let got = decode_all(&w.out);
        assert_eq!(got.len(), 3);
        for (i, (h, payload)) in got.iter().enumerate() {
            assert_eq!(h.seq, i as u64);
            check_record(h, payload, i as u64);
        }
    }

    #[test]
    fn sink_write_zero_is_an_error_value() {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        assert!(push_record(&mut p, 5));
        let mut w = TestWriter::new(3, 7);
        w.zero = true;
        let mut sink = FrameSink::new();
        assert_eq!(sink.drain(&mut c, &mut w, 1), Err(SinkError::WriteZero));
        assert_eq!(c.pending_bytes(), record_len(5));
        w.zero = false;
        assert_eq!(sink.drain(&mut c, &mut w, 1).unwrap().frames, 1);
        assert_eq!(decode_all(&w.out).len(), 1);
    }

    #[test]
    fn sink_abandons_a_frame_whose_record_is_gone() {
        let ring_a = Ring::<1024>::new();
        let (mut pa, mut ca) = ring_a.try_split(0).unwrap();
        let ring_b = Ring::<1024>::new();
        let (mut pb, mut cb) = ring_b.try_split(100).unwrap();
        assert!(push_record(&mut pa, 30));
        assert!(push_record(&mut pb, 30));
        let mut sink = FrameSink::new();
        let mut w = TestWriter::new(3, 7);
        w.dead_after = Some(10);
        assert!(sink.drain(&mut ca, &mut w, 1).is_err());
        let mut w2 = TestWriter::new(3, 7);
        assert_eq!(
            sink.drain(&mut cb, &mut w2, 1),
            Err(SinkError::Abandoned { seq: 0 })
        );
        assert_eq!(
            cb.pending_bytes(),
            record_len(30),
            "B's record not released"
        );
        assert!(w2.out.is_empty());
        assert_eq!(sink.drain(&mut cb, &mut w2, 1).unwrap().frames, 1);
        assert_eq!(decode_all(&w2.out)[0].0.seq, 100);
        // An empty ring under a started frame is the same mistake.
        let mut w3 = TestWriter::new(3, 7);
        w3.dead_after = Some(10);
        assert!(push_record(&mut pb, 30));
        assert!(sink.drain(&mut cb, &mut w3, 1).is_err());
        let mut ring_c = Ring::<1024>::new();
        let (_pc, mut cc) = ring_c.split_mut(0);
        assert_eq!(
            sink.drain(&mut cc, &mut w3, 1),
            Err(SinkError::Abandoned { seq: 101 })
        );
        assert_eq!(sink.in_progress(), None);
    }

    #[test]
    fn round_trip_live_with_short_reads_and_writes() {
        let total = scale(3000);
        let tx = Ring::<2048>::new();
        let (mut tp, mut tc) = tx.try_split(0).unwrap();
        let rx = Ring::<2048>::new();
        let (mut rp, mut rc) = rx.try_split(0).unwrap();
        let mut rng = Rng(77);
        let mut w = TestWriter::new(5, 33);
        w.not_ready_one_in = 4;
        w.transient_one_in = 9;
        let mut r = TestReader::new(Vec::new(), 6, 29);
        r.live = true;
        r.not_ready_one_in = 4;
        r.transient_one_in = 9;
        let mut sink = FrameSink::new();
        let mut source = FrameSource::<600>::new();
        let (mut pushed, mut arrived, mut received) = (0_u64, 0_u64, 0_u64);
        let mut guard = 0;
        while received < total {
            guard += 1;
            assert!(guard < 10_000_000, "no progress");
            if pushed < total {
                let len = if rng.below(4) == 0 {
                    rng.below(565)
                } else {
                    rng.below(40)
                };
                if push_record(&mut tp, len) {
                    pushed += 1;
                }
            }
            match sink.drain_ready(&mut tc, &mut w, 1 + rng.below(4)) {
                Ok(_) | Err(SinkError::Write(ErrorKind::TimedOut)) => {}
                Err(e) => panic!("{e:?}"),
            }
            r.data.append(&mut w.out);
            for _ in 0..rng.below(4) {
                match source.poll_ready(&mut r, &mut rp) {
                    Ok(Polled::Frame(got)) => {
                        assert_eq!(got.header.seq, arrived);
                        assert_eq!(got.ring_seq, arrived);
                        arrived += 1;
                    }
                    Ok(Polled::Pending | Polled::RingFull) => {}
                    Ok(Polled::End) => panic!("a live reader never ends"),
                    Err(SourceError::Read(ErrorKind::Interrupted)) => {}
                    Err(e) => panic!("{e:?}"),
                }
                if rng.below(2) == 0 {
                    while let Some(rec) = rc.read() {
                        assert_eq!(rec.seq(), received);
                        check_record(rec.header(), rec.payload(), received);
                        received += 1;
                    }
                }
            }
        }
        assert_eq!(source.stats().errors, 0);
        assert_eq!(source.stats().frames, total);
        assert_eq!(source.stats().skipped_bytes, 0);
        assert_eq!(sink.stats().frames, total);
    }

    #[test]
    fn round_trip_one_byte_reads_to_end() {
        let lens = [0_usize, 1, 988, 5, 300, 0];
        let stream: Vec<u8> = lens
            .iter()
            .enumerate()
            .flat_map(|(i, l)| frame(i as u64, *l))
            .collect();
        let mut r = TestReader::new(stream, 1, 1);
        let (events, stats) = run_source(&mut r);
        assert_eq!(events, (0..6).map(Ev::Frame).collect::<Vec<_>>());
        assert_eq!(stats.frames, 6);
    }

    #[test]
    fn garbage_between_frames_is_reported_once_per_run() {
        let mut rng = Rng(5);
        let mut stream = Vec::new();
        let mut runs = 0;
        let mut garbage = 0;
        let frames = scale(200);
        for seq in 0..frames {
            if rng.below(3) == 0 {
                let n = 1 + rng.below(80);
                runs += 1;
                garbage += n;
                for _ in 0..n {
                    // Includes sync-word fragments to make resync work harder.
                    let b = match rng.below(6) {
                        0 => 0xFE,
                        1 => b'R',
                        _ => rng.next() as u8,
                    };
                    stream.push(b);
                }
            }
            stream.extend_from_slice(&frame(seq, rng.below(100)));
        }
        for max_chunk in [1, 7, 1000] {
            let mut r = TestReader::new(stream.clone(), max_chunk as u64, max_chunk);
            r.transient_one_in = 10;
            let (events, stats) = run_source(&mut r);
            let seqs: Vec<u64> = events
                .iter()
                .filter_map(|e| if let Ev::Frame(s) = e { Some(*s) } else { None })
                .collect();
            assert_eq!(seqs, (0..frames).collect::<Vec<_>>());
            let errs: Vec<_> = events.iter().filter(|e| matches!(e, Ev::Err(_))).collect();
            assert_eq!(errs.len(), runs, "chunk {max_chunk}");
            assert!(
                errs.iter().all(
                    |e| matches!(e, Ev::Err(SourceError::Garbage { skipped }) if *skipped > 0)
                )
            );
            assert_eq!(stats.skipped_bytes, garbage as u64);
            assert_eq!(stats.errors, runs as u64);
        }
        if cfg!(miri) {
            return;
        }
        // With the whole run in one read, the reported count is the run's length.
        let mut r = TestReader::new([&[1_u8, 2, 3][..], &frame(0, 4)].concat(), 1, 1000);
        let (events, _) = run_source(&mut r);
        assert_eq!(
            events,
            [Ev::Err(SourceError::Garbage { skipped: 3 }), Ev::Frame(0)]
        );
    }

    /// What a flipped bit at `byte` of a frame with a `len`-byte payload must report.
    fn expected_flip_error(byte: usize, len: usize, seq: u64) -> SourceError<ErrorKind> {
        if byte < HEADER_OFFSET {
            SourceError::Garbage {
                skipped: usize::MAX, // checked separately: any count
            }
        } else if byte < PAYLOAD_OFFSET {
            SourceError::HeaderChecksum
        } else {
            assert!(byte < wire_len(len));
            SourceError::Checksum { seq }
        }
    }

    #[test]
    fn every_bit_flip_is_reported_once_and_the_next_frame_recovered() {
        let (a, b, c) = (frame(0, 10), frame(1, 21), frame(2, 7));
        let step = if cfg!(miri) { 5 } else { 1 };
        for bit in (0..b.len() * 8).step_by(step) {
            let mut bad = b.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let stream = [&a[..], &bad, &c].concat();
            for max_chunk in [1000, 3] {
                let mut r = TestReader::new(stream.clone(), bit as u64, max_chunk);
                let (events, stats) = run_source(&mut r);
                assert_eq!(events.len(), 3, "bit {bit}: {events:?}");
                assert_eq!(events[0], Ev::Frame(0));
                assert_eq!(events[2], Ev::Frame(2));
                let want = expected_flip_error(bit / 8, 21, 1);
                match (&events[1], want) {
                    (Ev::Err(SourceError::Garbage { skipped }), SourceError::Garbage { .. }) => {
                        assert!(*skipped > 0);
                    }
                    (Ev::Err(got), want) => assert_eq!(*got, want, "bit {bit}"),
                    (other, _) => panic!("bit {bit}: {other:?}"),
                }
                assert_eq!(stats.skipped_bytes, b.len() as u64, "bit {bit}");
            }
        }
    }

    #[test]
    fn truncation_at_every_length() {
        let (a, b, c) = (frame(0, 10), frame(1, 50), frame(2, 3));
        for cut in 0..b.len() {
            // The pure decoder says truncated, never panics.
            assert!(
                matches!(decode_frame(&b[..cut], 1024), Err(WireError::Truncated { available, .. }) if available == cut),
                "cut {cut}"
            );
            // At the end of the stream.
            let mut r = TestReader::new([&a[..], &b[..cut]].concat(), cut as u64, 1000);
            let (events, stats) = run_source(&mut r);
            let expect_err = if cut == 0 {
                None
            } else if cut < PAYLOAD_OFFSET {
                Some(SourceError::Truncated {
                    needed: PAYLOAD_OFFSET,
                    available: cut,
                })
            } else {
                Some(SourceError::Truncated {
                    needed: b.len(),
                    available: cut,
                })
            };
            let mut want = std::vec![Ev::Frame(0)];
            want.extend(expect_err.map(Ev::Err));
            assert_eq!(events, want, "cut {cut}");
            assert_eq!(stats.skipped_bytes, cut as u64);

            // In the middle of the stream: one error, then the next frame.
            let mut r = TestReader::new([&a[..], &b[..cut], &c].concat(), cut as u64, 1000);
            let (events, stats) = run_source(&mut r);
            assert_eq!(events.first(), Some(&Ev::Frame(0)));
            assert_eq!(events.last(), Some(&Ev::Frame(2)));
            assert_eq!(
                events.len(),
                if cut == 0 { 2 } else { 3 },
                "cut {cut}: {events:?}"
            );
            assert_eq!(stats.skipped_bytes, cut as u64);
        }
    }

    #[test]
    fn huge_lengths_are_rejected_without_waiting() {
        let good = frame(1, 4);
        for len in [989_u32, 1 << 20, u32::MAX] {
            // A header that really says `len` (valid header checksum)...
            let mut h = header(0, 0);
            h.len = len;
            let mut bad = [0_u8; PAYLOAD_OFFSET];
            bad.copy_from_slice(&frame_prefix(&h));
            assert_eq!(
                decode_frame(&bad, 988).err(),
                Some(WireError::TooLong { len, max: 988 })
            );
            let mut r = TestReader::new([&bad[..], &good].concat(), 1, 1000);
            let (events, _) = run_source(&mut r);
            assert_eq!(
                events,
                [
                    Ev::Err(SourceError::TooLong { len, max: 988 }),
                    Ev::Frame(1)
                ]
            );
            // ...and one whose length bits were damaged (header checksum catches it).
            let mut flipped = frame(0, 4);
            flipped[HEADER_OFFSET + crate::frame::LEN_OFFSET + 3] = 0xFF;
            let mut r = TestReader::new([&flipped[..], &good].concat(), 1, 1000);
            let (events, _) = run_source(&mut r);
            assert_eq!(events, [Ev::Err(SourceError::HeaderChecksum), Ev::Frame(1)]);
        }
        // The largest payload the buffer takes is accepted.
        let mut r = TestReader::new(frame(0, 988), 1, 1000);
        assert_eq!(run_source(&mut r).0, [Ev::Frame(0)]);
    }

    #[test]
    fn ring_limit_applies_when_smaller_than_the_buffer() {
        let ring = Ring::<128>::new(); // MAX_PAYLOAD 40
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let mut source = FrameSource::<1024>::new();
        let mut input = &[frame(0, 41), frame(1, 40)].concat()[..];
        assert_eq!(
            source.poll(&mut input, &mut p),
            Err(SourceError::TooLong { len: 41, max: 40 })
        );
        assert!(matches!(
            source.poll(&mut input, &mut p),
            Ok(Polled::Frame(Received { ring_seq: 0, .. }))
        ));
        let rec = c.read().unwrap();
        assert_eq!(rec.seq(), 0);
        check_record(rec.header(), rec.payload(), 1);
    }

    #[test]
    fn ring_full_keeps_the_frame_for_later() {
        let ring = Ring::<256>::new(); // two 60-byte records fill it
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let mut source = FrameSource::<256>::new();
        let stream = [frame(0, 80), frame(1, 80), frame(2, 80)].concat();
        let mut input = &stream[..];
        let mut got = Vec::new();
        let mut fulls = 0;
        loop {
            match source.poll(&mut input, &mut p).unwrap() {
                Polled::Frame(r) => got.push(r.header.seq),
                Polled::RingFull => {
                    fulls += 1;
                    let rec = c.read().unwrap();
                    check_record(rec.header(), rec.payload(), rec.seq());
                }
                Polled::End => break,
                Polled::Pending => unreachable!(),
            }
        }
        assert_eq!(got, [0, 1, 2]);
        assert!(fulls >= 1);
        assert_eq!(source.stats().errors, 0);
    }

    #[test]
    fn source_reads_on_after_end_of_stream() {
        let ring = Ring::<1024>::new();
        let (mut p, _c) = ring.try_split(0).unwrap();
        let mut source = FrameSource::<256>::new();
        let mut r = TestReader::new(frame(0, 5), 1, 1000);
        assert!(matches!(source.poll(&mut r, &mut p), Ok(Polled::Frame(_))));
        assert_eq!(source.poll(&mut r, &mut p), Ok(Polled::End));
        r.data.extend_from_slice(&frame(1, 6));
        let Ok(Polled::Frame(got)) = source.poll(&mut r, &mut p) else {
            panic!()
        };
        assert_eq!((got.header.seq, got.header.len), (1, 6));
    }

    #[test]
    fn read_errors_are_returned_and_lose_nothing() {
        let stream = [frame(0, 30), frame(1, 30)].concat();
        let mut r = TestReader::new(stream, 3, 4);
        r.transient_one_in = 2;
        let ring = Ring::<1024>::new();
        let (mut p, _c) = ring.try_split(0).unwrap();
        let mut source = FrameSource::<128>::new();
        let (mut frames, mut errors) = (0, 0);
        loop {
            match source.poll(&mut r, &mut p) {
                Ok(Polled::Frame(_)) => frames += 1,
                Ok(Polled::End) => break,
                Err(SourceError::Read(ErrorKind::Interrupted)) => errors += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(frames, 2);
        assert!(errors > 0);
    }

    #[test]
    fn random_bytes_and_mangled_streams_never_panic() {
        let mut rng = Rng(1234);
        let rounds = if cfg!(miri) { 4 } else { 300 };
        for round in 0..rounds {
            let mut stream: Vec<u8> = Vec::new();
            for seq in 0..5 {
                stream.extend_from_slice(&frame(seq, rng.below(200)));
            }
            // Mangle: flips, cuts, inserted noise, duplicated ranges.
            for _ in 0..rng.below(6) {
                let at = rng.below(stream.len());
                match rng.below(4) {
                    0 => stream[at] ^= 1 << rng.below(8),
                    1 => stream.truncate(at),
                    2 => {
                        for _ in 0..rng.below(20) {
                            stream.insert(at, rng.next() as u8);
                        }
                    }
                    _ => {
                        let end = (at + rng.below(64)).min(stream.len());
                        let dup = stream[at..end].to_vec();
                        stream.splice(at..at, dup);
                    }
                }
                if stream.is_empty() {
                    break;
                }
            }
            if round % 10 == 0 {
                stream = (0..rng.below(3000)).map(|_| rng.next() as u8).collect();
            }
            let mut r = TestReader::new(stream.clone(), round, 1 + rng.below(300));
            // Every frame that comes out passed both checksums and matches its pattern
            // (checked in run_source); the stream is fully consumed.
            let (_, stats) = run_source(&mut r);
            assert!(stats.skipped_bytes <= stream.len() as u64);
            assert_eq!(r.pos, stream.len());
        }
    }

    #[test]
    fn next_sync_candidate_finds_prefixes() {
        assert_eq!(next_sync_candidate(b"abc"), 3);
        assert_eq!(next_sync_candidate(&[1, 0xFE]), 1);
        assert_eq!(
            next_sync_candidate(&[1, 0xFE, b'R', b'X', 0xFE, b'R', b'C', b'1']),
            4
        );
        assert_eq!(next_sync_candidate(&[0xFE, b'R', b'C', b'1']), 4, "never 0");
        assert_eq!(next_sync_candidate(&[]), 0);
    }
}
