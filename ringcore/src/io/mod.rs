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
//! p.push(1, 1_000, b"hello").unwrap();
//! p.push(2, 2_000, b"world").unwrap();
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
//!
//! # Layout of this module
//!
//! `wire` (the format above, pure functions over one frame), `sink` ([`FrameSink`]) and
//! `source` ([`FrameSource`]): the sink and the source build on `wire` and on the
//! [`spsc`](crate::spsc) ring's handles, and on nothing else of the crate.
//!
//! [`Read`]: embedded_io::Read
//! [`ReadReady`]: embedded_io::ReadReady
//! [`Write`]: embedded_io::Write
//! [`WriteReady`]: embedded_io::WriteReady
//! [`FrameHeader`]: crate::frame::FrameHeader
//! [`spsc::Consumer`]: crate::spsc::Consumer
//! [`spsc::Producer`]: crate::spsc::Producer

mod sink;
mod source;
mod wire;

#[cfg(test)]
mod tests;

pub use self::sink::{Drained, FrameSink, PartialFrame, SinkError, SinkStats, Stopped};
pub use self::source::{FrameSource, Polled, Received, SourceError, SourceStats};
pub use self::wire::{
    FRAME_OVERHEAD, HEADER_CRC_OFFSET, HEADER_OFFSET, PAYLOAD_OFFSET, SYNC, SYNC_OFFSET, WireError,
    decode_frame, encode_frame, wire_len,
};
