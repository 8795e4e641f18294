//! [`FrameSource`]: frames read from an [`embedded_io::Read`] into a ring through a
//! buffer of `B` bytes, every kind of damage an error value, resynchronising on the next
//! good frame.

use core::fmt;

use embedded_io::{Read, ReadReady};

use super::wire::{FRAME_OVERHEAD, SYNC, WireError, decode_frame};
use crate::frame::FrameHeader;
use crate::spsc::{self, PushError, Ring};

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
pub(super) fn next_sync_candidate(bytes: &[u8]) -> usize {
    (1..bytes.len())
        .find(|&i| {
            let tail = &bytes[i..];
            let n = tail.len().min(SYNC.len());
            tail[..n] == SYNC[..n]
        })
        .unwrap_or(bytes.len())
}
