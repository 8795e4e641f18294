//! A single-producer single-consumer ring of variable-length records.
//!
//! The ring is a buffer of `capacity` bytes (a power of two) and two cursors. Records come
//! in two kinds, one kind per ring:
//!
//! * *framed*: a 16-byte in-ring header (payload length, kind, flags, timestamp; the
//!   sequence is counted by each handle, not stored) followed by the payload, padded to
//!   8; a read presents it as a [`FrameHeader`]. Writing is
//!   a zero-copy [`Grant`]: ask for `len` bytes, fill the slice, commit; a [`Batch`]
//!   stages many records and publishes them with one cursor store. Reading is a zero-copy
//!   [`Record`] that borrows the payload and gives its bytes back when dropped; a
//!   [`ReadBatch`] gives many back with one cursor store.
//! * *raw*: bytes whose layout the caller defines ([`ProducerOf::grant_raw`]), read back as
//!   contiguous ranges of whole records ([`ConsumerOf::take_raw`]) that stay held until
//!   released, so a log can hand ring memory straight to the disk.
//!
//! The ring's capacity is a const generic ([`Ring<N>`], `static`-friendly) or, with the
//! `alloc` feature, chosen at run time (`HeapRing`); the handles are the same types,
//! generic over how they reach their ring ([`ProducerOf<R>`], [`ConsumerOf<R>`]).
//!
//! # Cursor invariants
//!
//! `write` and `read` are byte positions that only grow (wrapping at `usize::MAX`, which
//! the capacity `C`, a power of two, divides); a *lap* is the span between two multiples
//! of `C`. At every moment:
//!
//! * `read <= write <= read + C` (in wrapping arithmetic): the bytes at positions
//!   `read..write` are committed records that the consumer owns; the bytes at
//!   `write..read + C` belong to the producer.
//! * The producer writes a range only after loading `read` with `Acquire` and seeing that
//!   the consumer released it; it publishes a range with a `Release` store of `write`
//!   after writing it.
//! * The consumer reads a range only after loading `write` with `Acquire`; it releases a
//!   range with a `Release` store of `read` after its last access.
//! * A record never wraps: when the bytes left in the lap are too few, the producer skips
//!   them (the *wrap gap*) and places the record at the start of the next lap. Since a
//!   record is at most `C / 2` bytes, the gap plus the record is less than `C`, so any
//!   record that passes the [`PushError::TooLarge`] check fits in an empty ring wherever
//!   the cursors stand (no dead zone).
//! * Before publishing past the end of a lap, the producer stores where that lap's data
//!   ends (`data_end`: the gap's start, or the lap's end) with `Relaxed`; the consumer
//!   loads it only when the range it loaded with `Acquire` reaches the lap's end. The
//!   producer cannot reach the next lap's end before the consumer has released this one's,
//!   so the value the consumer sees is this lap's. Gaps live only in this word, never in
//!   the ring's bytes, so raw records need no marker of the ring's own.
//!
//! The producer keeps `stop`, the nearer of the free space's end (as last seen) and the
//! lap's end: a record that ends strictly before it needs one comparison and no atomic.
//! The consumer keeps the end of the contiguous range it may read: one comparison per
//! record until it is used up.
//!
//! # Async waiting (feature `async`)
//!
//! A consumer task awaits `ConsumerOf::readable`, a producer task
//! `ProducerOf::writable` (or pushes with `ProducerOf::push_async`), with any executor.
//! The fast paths (`grant`/`commit`, `push`, batches, `publish`, dropping a record or a
//! read batch) never notify: that would cost them a read-modify-write per call. After
//! publishing, a producer whose consumer may be waiting calls
//! `ProducerOf::wake_consumer` (`push_async` does); after releasing, a consumer whose
//! producer may be waiting calls `ConsumerOf::wake_producer`. Dropping either handle
//! always wakes the other side, which then finds the ring closed. A woken task re-checks
//! its condition, so a wake-up too many is harmless; a missing `wake_*` call is the only
//! way to leave a task waiting.
//!
//! # Example
//!
//! ```
//! use ringcore::spsc::Ring;
//!
//! static RING: Ring<1024> = Ring::new();
//!
//! let (mut producer, mut consumer) = RING.try_split(100).unwrap();
//! let mut grant = producer.grant(5).unwrap();
//! grant.payload_mut().copy_from_slice(b"hello");
//! grant.set_kind(7);
//! assert_eq!(grant.commit(), 100);
//!
//! let record = consumer.read().unwrap();
//! assert_eq!((record.seq(), record.header().kind, record.payload()), (100, 7, &b"hello"[..]));
//! ```

#[cfg(all(feature = "async", ringcore_cas))]
mod asynch;
mod consumer;
// Always in test builds, so the default `cargo test` and Miri runs cover it.
#[cfg(any(feature = "alloc", test))]
mod heap;
mod place;
mod producer;
mod ring;
#[cfg(test)]
mod tests;

#[cfg(all(feature = "async", ringcore_cas))]
pub use self::asynch::{Closed, Readable, RoomError, Writable};
pub use self::consumer::{ConsumerOf, RawRange, ReadBatchOf, RecordOf};
#[cfg(all(any(feature = "alloc", test), target_has_atomic = "ptr"))]
pub use self::heap::{BoxedConsumer, BoxedProducer, HeapConsumer, HeapProducer};
#[cfg(any(feature = "alloc", test))]
pub use self::heap::{CapacityError, HeapRing};
pub use self::producer::{BatchOf, GrantOf, ProducerOf, RawGrantOf};
pub use self::ring::{Ring, RingRef, Storage};
#[allow(unused_imports)] // used in docs
use crate::frame::FrameHeader;
pub use crate::frame::{Clock, RecordView};

/// The producer of a [`Ring<N>`] it borrows.
pub type Producer<'a, const N: usize> = ProducerOf<&'a Ring<N>>;
/// The consumer of a [`Ring<N>`] it borrows.
pub type Consumer<'a, const N: usize> = ConsumerOf<&'a Ring<N>>;
/// A framed record read from a [`Ring<N>`] through a [`Consumer<'a, N>`].
pub type Record<'c, 'a, const N: usize> = RecordOf<'c, &'a Ring<N>>;
/// A batch of framed reads from a [`Ring<N>`] through a [`Consumer<'a, N>`].
pub type ReadBatch<'c, 'a, const N: usize> = ReadBatchOf<'c, &'a Ring<N>>;
/// A grant of one framed record in a [`Ring<N>`].
pub type Grant<'p, const N: usize> = GrantOf<'p, Ring<N>>;
/// A batch of framed records written to a [`Ring<N>`] through a [`Producer<'a, N>`].
pub type Batch<'p, 'a, const N: usize> = BatchOf<'p, &'a Ring<N>>;
/// A grant of one raw record in a [`Ring<N>`].
pub type RawGrant<'p, const N: usize> = RawGrantOf<'p, Ring<N>>;

/// Bytes a framed record with `payload_len` bytes of payload takes in an SPSC ring: its
/// 16-byte in-ring header plus the payload, rounded up to 8. (The log's and the wire's
/// frames carry the 24-byte [`FrameHeader`]; the ring does not store the sequence.)
///
/// ```
/// assert_eq!(ringcore::spsc::record_len(64), 80);
/// assert_eq!(ringcore::spsc::record_len(0), 16);
/// ```
pub const fn record_len(payload_len: usize) -> usize {
    place::framed_len(payload_len)
}

/// Why a record could not be written.
///
/// ```
/// use ringcore::spsc::{PushError, Ring};
/// let ring = Ring::<64>::new();
/// let (mut p, _c) = ring.try_split(0).unwrap();
/// assert_eq!(p.grant(17).err(), Some(PushError::TooLarge { len: 17, max: 16 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// There is no room now; retry after the consumer has read.
    Full,
    /// The record exceeds half the ring (header included for a framed record; a raw
    /// record must also not be empty): it can never fit in this ring.
    TooLarge {
        /// The requested length.
        len: usize,
        /// The largest length this ring accepts.
        max: usize,
    },
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("ring is full"),
            Self::TooLarge { len, max } => {
                write!(f, "record of {len} bytes can never fit (largest is {max})")
            }
        }
    }
}

impl core::error::Error for PushError {}

/// A second split of a ring that was already split.
///
/// ```
/// use ringcore::spsc::{Ring, SplitError};
/// let ring = Ring::<64>::new();
/// let _handles = ring.try_split(0).unwrap();
/// assert_eq!(ring.try_split(0).err(), Some(SplitError::AlreadySplit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// `try_split` was already called on this ring.
    AlreadySplit,
}

impl core::fmt::Display for SplitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ring was already split")
    }
}

impl core::error::Error for SplitError {}
