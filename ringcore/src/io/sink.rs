//! [`FrameSink`]: a ring drained into an [`embedded_io::Write`] as frames, zero-copy,
//! resuming a frame cut short by a short write, a writer that is not ready, or an error.

use core::fmt;
use core::mem::ManuallyDrop;

use embedded_io::{Write, WriteReady};

use super::wire::{
    HEADER_CRC_OFFSET, HEADER_OFFSET, PAYLOAD_OFFSET, frame_prefix, record_crc, wire_len,
};
use crate::frame::FrameHeader;
use crate::spsc;

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
/// p.push(0, 0, b"abc").unwrap();
/// let mut buf = [0_u8; 20]; // room for half a frame
/// let mut sink = FrameSink::new();
/// let mut out: &mut [u8] = &mut buf;
/// // A full slice is a writer that fails with WriteZero: the frame stays in progress.
/// assert!(sink.drain(&mut c, &mut out, 1).is_err());
/// assert_eq!(sink.in_progress().map(|f| (f.written, f.total)), Some((20, 39)));
/// assert_eq!(c.pending_bytes(), 24, "the record is not released yet");
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
    /// p.push(0, 0, b"x").unwrap();
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
    /// p.push(0, 0, b"x").unwrap();
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
            // Released only by the explicit drop below, once the whole frame is out: a
            // `Write` impl that panics unwinds past a record that stays in the ring, and
            // the sink resumes its frame at the first unwritten byte.
            let record = ManuallyDrop::new(record);
            let view = record.view();
            let cur = match &mut self.current {
                Some(cur) if cur.header == view.header => cur,
                Some(cur) => {
                    let seq = cur.header.seq;
                    self.current = None;
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
                    // Not released: the next call resumes this frame.
                    return result.map(|stopped| Drained { stopped, ..done });
                }
            }
            self.current = None;
            // The whole frame is out: dropping the record releases its ring bytes.
            drop(ManuallyDrop::into_inner(record));
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
    /// p.push(0, 0, b"abc").unwrap();
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
