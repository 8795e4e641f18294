//! The values broadcast handles return when they cannot do what was asked.

/// Why an event was not published.
///
/// ```
/// use ringcore::broadcast::{GatedRing, PublishError};
/// let ring = GatedRing::<2, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let _r = ring.join().unwrap();
/// assert_eq!(w.try_publish(0, 0, &[0; 9]), Err(PublishError::TooLarge { len: 9, max: 8 }));
/// w.try_publish(0, 0, b"1").unwrap();
/// w.try_publish(0, 0, b"2").unwrap();
/// assert_eq!(w.try_publish(0, 0, b"3"), Err(PublishError::Full));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    /// Gated ring: the slowest registered reader has not read the slot this event needs
    /// (or a [`Claim`](super::Claim) has used all its reserved slots). Retry after readers read.
    Full,
    /// The payload is longer than the ring's slots; it can never be published here.
    TooLarge {
        /// The payload length.
        len: usize,
        /// The largest payload a slot holds.
        max: usize,
    },
}

impl core::fmt::Display for PublishError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("broadcast ring is full (a gated reader is a lap behind)"),
            Self::TooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the slot size of {max}")
            }
        }
    }
}

impl core::error::Error for PublishError {}

/// Why no event was read.
///
/// ```
/// use ringcore::broadcast::{OverwriteRing, ReadError};
/// let ring = OverwriteRing::<4, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
/// for i in 0..10u8 { w.try_publish(0, 0, &[i]).unwrap(); }
/// // Lapped: it resumes half a ring (2 of 4 slots) behind the head, at event 8.
/// assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(8)));
/// assert_eq!(r.try_read(|e| e.payload[0]), Ok(8));
/// drop(w);
/// assert_eq!(r.read_batch(10, |_| ()), Ok(1));
/// assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// Nothing new has been published; retry later.
    Empty,
    /// Overwrite ring: the writer lapped this reader, which lost exactly this many events
    /// (every position it skipped) and now stands half a ring behind the head: at the
    /// newest published position minus `N.div_ceil(2)` (`N` slots), or at the oldest event
    /// still intact if that is later (a claim reserved ahead of what is published). Half
    /// a ring, not the oldest intact slot, because that slot is the next one the writer
    /// overwrites: a reader resuming there against a writer at full speed is lapped again
    /// at once, while from half a ring behind it reads a contiguous run first. The next
    /// read returns the event there (once it is published).
    Lagged(usize),
    /// The writer was dropped and every event it published has been read.
    Closed,
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("no event to read"),
            Self::Lagged(n) => write!(f, "reader was lapped and lost {n} events"),
            Self::Closed => f.write_str("writer closed the ring and every event was read"),
        }
    }
}

impl core::error::Error for ReadError {}

/// A second [`Ring::try_writer`](super::Ring::try_writer) on the same ring.
///
/// ```
/// use ringcore::broadcast::{GatedRing, WriterError};
/// let ring = GatedRing::<4, 8, 1>::new();
/// let _w = ring.try_writer().unwrap();
/// assert_eq!(ring.try_writer().err(), Some(WriterError::AlreadyTaken));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterError {
    /// The ring's one writer was already handed out (even if it was dropped since).
    AlreadyTaken,
}

impl core::fmt::Display for WriterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the ring's writer was already taken")
    }
}

impl core::error::Error for WriterError {}

/// A [`Ring::join`](super::Ring::join) when `R` readers are already registered.
///
/// ```
/// use ringcore::broadcast::{GatedRing, JoinError};
/// let ring = GatedRing::<4, 8, 1>::new();
/// let r = ring.join().unwrap();
/// assert_eq!(ring.join().err(), Some(JoinError::TooManyReaders { max: 1 }));
/// drop(r);
/// assert!(ring.join().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// Every one of the ring's `R` reader registrations is in use.
    TooManyReaders {
        /// `R`.
        max: usize,
    },
}

impl core::fmt::Display for JoinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooManyReaders { max } => {
                write!(f, "all {max} reader registrations are in use")
            }
        }
    }
}

impl core::error::Error for JoinError {}
