//! A single-writer, multi-reader broadcast ring of fixed-size slots (LMAX-style).
//!
//! A [`Ring`] holds `N` slots of a 24-byte [`FrameHeader`] plus up to `PAYLOAD` payload
//! bytes. One [`Writer`] (handed out once by [`Ring::try_writer`]) publishes events; up to
//! `R` [`Reader`]s ([`Ring::join`]) each read every event at their own pace through their
//! own cursor. All sizes are const generics checked when the ring is built:
//!
//! ```compile_fail,E0080
//! // N must be a power of two.
//! let ring = ringcore::broadcast::GatedRing::<1000, 64, 2>::new();
//! ```
//!
//! ```compile_fail,E0080
//! // PAYLOAD must be a multiple of 8.
//! let ring = ringcore::broadcast::GatedRing::<1024, 60, 2>::new();
//! ```
//!
//! # Policies
//!
//! * [`Gated`]: the writer never overwrites a slot that a registered reader has not read;
//!   [`Writer::try_publish`] returns [`PublishError::Full`] instead. Nothing is lost, and
//!   readers read slots in place (zero-copy).
//! * [`Overwrite`]: the writer never waits. A reader that was lapped gets
//!   [`ReadError::Lagged`] with the exact number of events it lost and resumes at the
//!   oldest event still intact; it never sees a torn event. Readers copy each slot with
//!   word-sized atomic loads and validate the copy afterwards (a seqlock), so a copy that
//!   races with the writer is discarded, never returned, and no plain load ever races with
//!   a store.
//!
//! # Example
//!
//! ```
//! use ringcore::broadcast::{GatedRing, ReadError};
//!
//! static RING: GatedRing<1024, 64, 4> = GatedRing::new();
//!
//! let mut writer = RING.try_writer().unwrap();
//! let mut reader = RING.join().unwrap();
//!
//! assert_eq!(writer.try_publish(7, 1_000, b"hello"), Ok(0));
//! {
//!     let mut batch = writer.try_claim(2).unwrap();
//!     batch.push(8, 1_001, b"a").unwrap();
//!     batch.push(8, 1_002, b"b").unwrap();
//! } // one cursor store publishes both
//!
//! let first = reader.try_read(|e| (e.header.seq, e.header.kind, e.payload.to_vec())).unwrap();
//! assert_eq!(first, (0, 7, b"hello".to_vec()));
//! let mut seqs = Vec::new();
//! assert_eq!(reader.read_batch(64, |e| seqs.push(e.header.seq)), Ok(2));
//! assert_eq!(seqs, [1, 2]);
//! assert_eq!(reader.try_read(|_| ()), Err(ReadError::Empty));
//! ```
//!
//! # Cursor invariants
//!
//! Positions are wrapping `usize` counts of events; position `p` lives in slot
//! `p & (N - 1)`. There is no `AtomicU64`: lap counts are wrapping differences of
//! positions, exact as long as a reader is fewer than `usize::MAX / 4` events behind.
//!
//! * `published` (writer, Release store after writing the slots): events at positions
//!   `< published` are complete. A reader loads it with Acquire before reading a slot.
//! * Each reader's registration word holds its cursor `c` and an *active* bit:
//!   `(c << 1) | 1`. The reader has finished with positions `< c`; it stores the word
//!   with Release after its last access to them (and stores it with the bit cleared, also
//!   Release, when it leaves).
//! * *Gated*: the writer writes position `q` only when `q < c + N` for every active
//!   cursor `c` it has loaded with Acquire (`horizon`, refreshed only when the cached
//!   value says the ring is full: one pass over the registrations per lap at most).
//! * *Overwrite*: before writing positions `< e` the writer stores `claim = e` and issues
//!   a Release fence; a reader copies position `p`, issues an Acquire fence, loads
//!   `claim`, and keeps the copy only if `claim - p <= N` (no write to `p`'s slot for a
//!   later lap had started). Otherwise everything before `claim - N` is gone: the reader
//!   moves there and reports the exact difference as lost.
//!
//! # Joining and leaving while the ring runs
//!
//! A reader that joins starts at the first event published after [`Ring::join`]
//! returns. In a gated ring that start must be protected before the writer can overwrite
//! it, which is a store→load race (the reader stores its registration then loads
//! `published`; the writer stores `published` then loads registrations). Fences with
//! `SeqCst` would solve it on hardware, but loom cannot check them, so the ring uses a
//! compare-and-swap handshake instead: the joiner registers, then does an `AcqRel`
//! read-modify-write on a handshake word, then loads `published`; the writer does an
//! `AcqRel` read-modify-write on the same word every time it refreshes its horizon,
//! before loading the registrations. The two read-modify-writes are totally ordered:
//! either the writer's comes after the joiner's (and the writer sees the registration),
//! or the joiner's comes after (and the joiner starts at or after every position the
//! writer's stale horizon lets it write, minus `N`). A reader that leaves clears its
//! active bit; the next horizon refresh no longer counts it, so it stops gating the
//! writer.
//!
//! # Targets and features
//!
//! | target                        | broadcast / pool build | [`Ring::try_writer`], [`Ring::join`] |
//! |-------------------------------|------------------------|--------------------------------------|
//! | x86_64, aarch64, thumbv7em    | no feature needed      | no feature needed                    |
//! | thumbv6m, riscv32imc (no CAS) | no feature needed      | `critical-section` or `unsafe-assume-single-core` |
//!
//! Without compare-and-swap, [`Ring::split_mut`] hands out a writer and a fixed set of
//! readers of a ring the caller holds exclusively; readers can leave but not join. The
//! optional `std` feature adds the [`wait`] strategies that need a thread scheduler
//! (`wait::SpinThenYield`, `wait::Blocking`); [`wait::BusySpin`] is always there.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ops::ControlFlow;

use crate::frame::FrameHeader;
pub use crate::spsc::RecordView;
use crate::sync::{
    AtomicBool, AtomicUsize, CachePadded, Ordering, SlotArray, SlotCopy, atomic_bool, atomic_usize,
    fence,
};

use self::wait::{Notify, WaitStrategy, Waiter};

mod sealed {
    pub trait Sealed {}
}

/// What the writer does when the slowest reader is a whole ring behind: [`Gated`] or
/// [`Overwrite`].
pub trait Policy: sealed::Sealed + core::fmt::Debug + Send + Sync + 'static {
    /// `true` if the writer overwrites unread events instead of reporting `Full`.
    const OVERWRITE: bool;
}

/// The writer waits for (reports `Full` because of) the slowest registered reader; nothing
/// is ever lost.
///
/// ```
/// use ringcore::broadcast::{Gated, Policy};
/// assert!(!Gated::OVERWRITE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gated;

/// The writer never waits; lapped readers are told how many events they lost.
///
/// ```
/// use ringcore::broadcast::{Overwrite, Policy};
/// assert!(Overwrite::OVERWRITE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overwrite;

impl sealed::Sealed for Gated {}
impl sealed::Sealed for Overwrite {}
impl Policy for Gated {
    const OVERWRITE: bool = false;
}
impl Policy for Overwrite {
    const OVERWRITE: bool = true;
}

/// A [`Ring`] with the [`Gated`] policy.
///
/// ```
/// let ring = ringcore::broadcast::GatedRing::<16, 8, 1>::new();
/// assert_eq!(ring.capacity(), 16);
/// ```
pub type GatedRing<const N: usize, const PAYLOAD: usize, const R: usize> =
    Ring<Gated, N, PAYLOAD, R>;

/// A [`Ring`] with the [`Overwrite`] policy.
///
/// ```
/// let ring = ringcore::broadcast::OverwriteRing::<16, 8, 1>::new();
/// assert_eq!(ring.capacity(), 16);
/// ```
pub type OverwriteRing<const N: usize, const PAYLOAD: usize, const R: usize> =
    Ring<Overwrite, N, PAYLOAD, R>;

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
    /// (or a [`Claim`] has used all its reserved slots). Retry after readers read.
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
/// assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(6)));
/// assert_eq!(r.try_read(|e| e.payload[0]), Ok(6));
/// drop(w);
/// assert_eq!(r.read_batch(10, |_| ()), Ok(3));
/// assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// Nothing new has been published; retry later.
    Empty,
    /// Overwrite ring: the writer lapped this reader, which lost exactly this many events
    /// and now stands at the oldest event still intact. The next read returns it.
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

/// A second [`Ring::try_writer`] on the same ring.
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

/// A [`Ring::join`] when `R` readers are already registered.
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

/// Lag levels (in events) at which a reader counts as under pressure and at which the
/// writer should throttle. Stored in the ring; any thread may change them at any time.
///
/// ```
/// use ringcore::broadcast::{GatedRing, Thresholds};
/// let ring = GatedRing::<128, 8, 1>::new();
/// assert_eq!(ring.thresholds(), Thresholds::for_capacity(128));
/// ring.set_thresholds(Thresholds::from_percent(128, 25, 50));
/// assert_eq!(ring.thresholds(), Thresholds { pressure_lag: 32, throttle_lag: 64 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A reader whose lag is at least this is under pressure.
    pub pressure_lag: usize,
    /// A reader whose lag is at least this should make the writer throttle.
    pub throttle_lag: usize,
}

impl Thresholds {
    /// The defaults: pressure at half the capacity, throttle at three quarters (at least 1
    /// event each).
    ///
    /// ```
    /// use ringcore::broadcast::Thresholds;
    /// assert_eq!(Thresholds::for_capacity(1024), Thresholds { pressure_lag: 512, throttle_lag: 768 });
    /// ```
    pub const fn for_capacity(capacity: usize) -> Self {
        Self::from_percent(capacity, 50, 75)
    }

    /// Thresholds as percentages of `capacity` (rounded down, at least 1 event).
    ///
    /// ```
    /// use ringcore::broadcast::Thresholds;
    /// assert_eq!(Thresholds::from_percent(200, 10, 90), Thresholds { pressure_lag: 20, throttle_lag: 180 });
    /// ```
    pub const fn from_percent(capacity: usize, pressure: u8, throttle: u8) -> Self {
        const fn part(capacity: usize, percent: u8) -> usize {
            let v = capacity / 100 * percent as usize + capacity % 100 * percent as usize / 100;
            if v == 0 { 1 } else { v }
        }
        Self {
            pressure_lag: part(capacity, pressure),
            throttle_lag: part(capacity, throttle),
        }
    }
}

/// A snapshot of one reader's lag against the ring's capacity and [`Thresholds`].
///
/// ```
/// use ringcore::broadcast::{Backpressure, Thresholds};
/// let b = Backpressure { lag: 600, capacity: 1024, thresholds: Thresholds::for_capacity(1024) };
/// assert!((b.backpressure_ratio() - 0.5859375).abs() < 1e-12);
/// assert!(b.is_under_pressure());
/// assert!(!b.should_throttle());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backpressure {
    /// Events published that the reader has not read yet (more than `capacity` when an
    /// overwrite reader was lapped).
    pub lag: usize,
    /// The ring's slot count.
    pub capacity: usize,
    /// The thresholds in force when the snapshot was taken.
    pub thresholds: Thresholds,
}

impl Backpressure {
    /// `lag / capacity`: 0 when caught up, 1 when a full ring behind (above 1 for a
    /// lapped overwrite reader).
    ///
    /// ```
    /// # use ringcore::broadcast::{Backpressure, Thresholds};
    /// let b = Backpressure { lag: 8, capacity: 16, thresholds: Thresholds::for_capacity(16) };
    /// assert_eq!(b.backpressure_ratio(), 0.5);
    /// ```
    pub fn backpressure_ratio(&self) -> f64 {
        self.lag as f64 / self.capacity as f64
    }

    /// `lag >= thresholds.pressure_lag`.
    ///
    /// ```
    /// # use ringcore::broadcast::{Backpressure, Thresholds};
    /// let t = Thresholds { pressure_lag: 4, throttle_lag: 8 };
    /// assert!(Backpressure { lag: 4, capacity: 16, thresholds: t }.is_under_pressure());
    /// assert!(!Backpressure { lag: 3, capacity: 16, thresholds: t }.is_under_pressure());
    /// ```
    pub fn is_under_pressure(&self) -> bool {
        self.lag >= self.thresholds.pressure_lag
    }

    /// `lag >= thresholds.throttle_lag`.
    ///
    /// ```
    /// # use ringcore::broadcast::{Backpressure, Thresholds};
    /// let t = Thresholds { pressure_lag: 4, throttle_lag: 8 };
    /// assert!(Backpressure { lag: 9, capacity: 16, thresholds: t }.should_throttle());
    /// assert!(!Backpressure { lag: 7, capacity: 16, thresholds: t }.should_throttle());
    /// ```
    pub fn should_throttle(&self) -> bool {
        self.lag >= self.thresholds.throttle_lag
    }
}

/// Writer-side counters, readable from any thread while the ring runs.
///
/// ```
/// use ringcore::broadcast::{GatedRing, WriterStats};
/// let ring = GatedRing::<1, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let _r = ring.join().unwrap();
/// w.try_publish(0, 0, b"x").unwrap();
/// assert!(w.try_publish(0, 0, b"y").is_err());
/// assert_eq!(ring.writer_stats(), WriterStats { published: 1, full_rejections: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Events published since the ring was created (wrapping).
    pub published: usize,
    /// Publish attempts rejected with [`PublishError::Full`] (a waiting publish counts
    /// once).
    pub full_rejections: usize,
}

/// One reader's counters. From [`Reader::stats`] they are exact; from
/// [`Ring::reader_stats`] (another thread) they are a snapshot of values the reader
/// updates at each batch, possibly a batch old.
///
/// ```
/// use ringcore::broadcast::OverwriteRing;
/// let ring = OverwriteRing::<2, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// for _ in 0..5 { w.try_publish(0, 0, b"x").unwrap(); }
/// while r.try_read(|_| ()).is_ok() || r.lag() > 0 {}
/// let s = r.stats();
/// assert_eq!((s.seen, s.lost, s.lag), (2, 3, 0));
/// assert_eq!(ring.reader_stats(s.id), Some(s));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStats {
    /// The reader's registration index, `0..R`.
    pub id: usize,
    /// Events published that it has not read yet.
    pub lag: usize,
    /// Events it has read since it joined.
    pub seen: usize,
    /// Events it lost to overwrite since it joined (always 0 in a gated ring).
    pub lost: usize,
}

/// The registration word's active bit; the cursor is stored above it.
const ACTIVE: usize = 1;

#[inline(always)]
const fn active_word(position: usize) -> usize {
    (position << 1) | ACTIVE
}

#[inline(always)]
const fn left_word(position: usize) -> usize {
    position << 1
}

/// How far the cursor in `word` is behind position `head`, modulo `2^(usize::BITS - 1)`
/// (the word keeps one bit less of the position than a cursor).
#[inline(always)]
const fn lag_behind(head: usize, word: usize) -> usize {
    (head << 1).wrapping_sub(word & !ACTIVE) >> 1
}

/// `to - from` if `to` is ahead of `from` (wrapping), else 0.
#[inline(always)]
const fn distance(to: usize, from: usize) -> usize {
    let d = to.wrapping_sub(from);
    if (d as isize) < 0 { 0 } else { d }
}

/// A lag read from another thread may be taken from a cursor newer than the head it is
/// compared with; such a (wrapped, enormous) lag is 0.
#[inline(always)]
const fn snapshot_lag(lag: usize) -> usize {
    if lag > usize::MAX >> 3 { 0 } else { lag }
}

/// Written by the writer, read by every reader.
struct Head {
    /// Events at positions before this are complete (see the module's invariants).
    published: AtomicUsize,
    /// Overwrite rings: the writer may be writing any position before this.
    claim: AtomicUsize,
}

/// Written by the writer (and, rarely, by joiners); readers never touch it.
struct WriterLine {
    /// The join handshake word (see the module docs); its value carries nothing.
    #[cfg_attr(
        not(any(
            target_has_atomic = "8",
            feature = "critical-section",
            feature = "unsafe-assume-single-core",
            ringcore_loom
        )),
        allow(dead_code)
    )]
    handshake: AtomicUsize,
    full_rejections: AtomicUsize,
}

/// Read-mostly flags and settings.
struct Settings {
    #[cfg_attr(
        not(any(
            target_has_atomic = "8",
            feature = "critical-section",
            feature = "unsafe-assume-single-core",
            ringcore_loom
        )),
        allow(dead_code)
    )]
    writer_taken: AtomicBool,
    closed: AtomicBool,
    /// The thresholds XOR their defaults ([`Thresholds::for_capacity`]`(N)`), so a new
    /// ring is all zero bytes and a `static` one lands in `.bss`, not in flash.
    pressure_lag_delta: AtomicUsize,
    throttle_lag_delta: AtomicUsize,
}

/// One reader registration: its own cache line, written by its reader.
struct Registration {
    /// `(cursor << 1) | ACTIVE` while a reader holds it, `cursor << 1` when free.
    word: AtomicUsize,
    /// Position at which the current reader joined (metrics only).
    start: AtomicUsize,
    /// Events the current reader lost to overwrite (metrics only).
    lost: AtomicUsize,
}

impl Registration {
    #[cfg(not(ringcore_loom))]
    const fn new() -> Self {
        Self {
            word: atomic_usize(0),
            start: atomic_usize(0),
            lost: atomic_usize(0),
        }
    }

    #[cfg(ringcore_loom)]
    fn new() -> Self {
        Self {
            word: atomic_usize(0),
            start: atomic_usize(0),
            lost: atomic_usize(0),
        }
    }
}

/// A broadcast ring of `N` slots of up to `PAYLOAD` payload bytes for one writer and up to
/// `R` readers, with policy `P` ([`Gated`] or [`Overwrite`]). See the [module
/// docs](self) for the protocol.
///
/// `N` is a power of two from 1 to 2^30, `PAYLOAD` a multiple of 8 up to 2^30, `R` from 1
/// to 1024; anything else fails the build. The ring occupies
/// `N * (24 + PAYLOAD) + (R + 3) * 128` bytes (plus alignment), with no heap.
///
/// ```
/// use ringcore::broadcast::{OverwriteRing, ReadError};
/// static RING: OverwriteRing<8, 16, 2> = OverwriteRing::new();
/// let mut w = RING.try_writer().unwrap();
/// let mut r = RING.join().unwrap();
/// w.try_publish(1, 2, b"event").unwrap();
/// assert_eq!(r.try_read(|e| e.payload.len()), Ok(5));
/// ```
///
/// The writer is `Send` but not `Sync`, and so is a reader:
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::broadcast::Writer<'static, ringcore::broadcast::Gated, 8, 8, 1>>();
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::broadcast::Reader<'static, ringcore::broadcast::Gated, 8, 8, 1>>();
/// ```
pub struct Ring<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    head: CachePadded<Head>,
    writer: CachePadded<WriterLine>,
    settings: CachePadded<Settings>,
    readers: [CachePadded<Registration>; R],
    slots: SlotArray<N, PAYLOAD>,
    _policy: PhantomData<P>,
}

// SAFETY: slot memory is shared, but the protocol in the module docs gives each slot to the
// writer or to readers with Release/Acquire edges at every hand-over (gated), or accesses
// it only with word atomics whose copies are validated before use (overwrite); everything
// else is atomics.
unsafe impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Sync
    for Ring<P, N, PAYLOAD, R>
{
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Ring<P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("policy", &if P::OVERWRITE { "overwrite" } else { "gated" })
            .field("slots", &N)
            .field("payload", &PAYLOAD)
            .field("readers", &R)
            .field("published", &self.head.published.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Ring<P, N, PAYLOAD, R> {
    const CHECKS: () = {
        assert!(
            N.is_power_of_two() && N <= 1 << 30,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: N (the slot count) must be a power of two from 1 to 2^30"
        );
        assert!(
            PAYLOAD & 7 == 0 && PAYLOAD <= 1 << 30,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: PAYLOAD (bytes per slot) must be a multiple of 8 up to 2^30"
        );
        assert!(
            R >= 1 && R <= 1024,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: R (the most readers) must be from 1 to 1024"
        );
    };

    /// The largest payload one event may carry.
    pub const MAX_PAYLOAD: usize = PAYLOAD;

    /// Creates an empty ring with no writer and no readers. `const`, so a ring can be a
    /// `static` (zeroed: it lands in `.bss`).
    ///
    /// ```
    /// static RING: ringcore::broadcast::GatedRing<64, 64, 2> = ringcore::broadcast::GatedRing::new();
    /// assert_eq!(RING.capacity(), 64);
    /// ```
    #[cfg(not(ringcore_loom))]
    pub const fn new() -> Self {
        let () = Self::CHECKS;
        Self {
            head: CachePadded::new(Head {
                published: atomic_usize(0),
                claim: atomic_usize(0),
            }),
            writer: CachePadded::new(WriterLine {
                handshake: atomic_usize(0),
                full_rejections: atomic_usize(0),
            }),
            settings: CachePadded::new(Settings {
                writer_taken: atomic_bool(false),
                closed: atomic_bool(false),
                pressure_lag_delta: atomic_usize(0),
                throttle_lag_delta: atomic_usize(0),
            }),
            readers: [const { CachePadded::new(Registration::new()) }; R],
            slots: SlotArray::new(),
            _policy: PhantomData,
        }
    }

    /// Creates an empty ring (loom build: not `const`).
    #[cfg(ringcore_loom)]
    pub fn new() -> Self {
        let () = Self::CHECKS;
        Self {
            head: CachePadded::new(Head {
                published: atomic_usize(0),
                claim: atomic_usize(0),
            }),
            writer: CachePadded::new(WriterLine {
                handshake: atomic_usize(0),
                full_rejections: atomic_usize(0),
            }),
            settings: CachePadded::new(Settings {
                writer_taken: atomic_bool(false),
                closed: atomic_bool(false),
                pressure_lag_delta: atomic_usize(0),
                throttle_lag_delta: atomic_usize(0),
            }),
            readers: core::array::from_fn(|_| CachePadded::new(Registration::new())),
            slots: SlotArray::new(),
            _policy: PhantomData,
        }
    }

    /// The slot count `N`.
    ///
    /// ```
    /// assert_eq!(ringcore::broadcast::GatedRing::<8, 8, 1>::new().capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Hands out the ring's one writer. A second call returns
    /// [`WriterError::AlreadyTaken`], even after the first writer was dropped (a dropped
    /// writer closes the ring: readers get [`ReadError::Closed`] once they have read
    /// everything).
    ///
    /// Needs compare-and-swap: on thumbv6m and riscv32imc enable `critical-section` or
    /// `unsafe-assume-single-core`, or use [`Ring::split_mut`].
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// assert!(ring.try_writer().is_ok());
    /// assert!(ring.try_writer().is_err());
    /// ```
    #[cfg(any(
        target_has_atomic = "8",
        feature = "critical-section",
        feature = "unsafe-assume-single-core",
        ringcore_loom
    ))]
    pub fn try_writer(&self) -> Result<Writer<'_, P, N, PAYLOAD, R>, WriterError> {
        // Relaxed: no data is handed over; the writer's state starts from `published`,
        // which only a writer stores, and there was none before.
        if self.settings.writer_taken.swap(true, Ordering::Relaxed) {
            return Err(WriterError::AlreadyTaken);
        }
        Ok(self.writer_handle())
    }

    fn writer_handle(&self) -> Writer<'_, P, N, PAYLOAD, R> {
        let published = self.head.published.load(Ordering::Relaxed);
        Writer {
            ring: self,
            next: published,
            published,
            horizon: if P::OVERWRITE {
                self.head.claim.load(Ordering::Relaxed)
            } else {
                published
            },
            next_seq: published as u64,
            full_rejections: self.writer.full_rejections.load(Ordering::Relaxed),
            _not_sync: PhantomData,
        }
    }

    /// Registers a reader that starts at the first event published after `join` returns.
    /// Returns [`JoinError::TooManyReaders`] when `R` readers are registered; a dropped
    /// reader frees its registration (and stops gating the writer).
    ///
    /// Needs compare-and-swap, like [`Ring::try_writer`].
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, ReadError};
    /// let ring = GatedRing::<8, 8, 2>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.try_publish(0, 0, b"before").unwrap();
    /// let mut r = ring.join().unwrap();
    /// assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    /// w.try_publish(0, 0, b"after").unwrap();
    /// assert_eq!(r.try_read(|e| e.payload.to_vec()), Ok(b"after".to_vec()));
    /// ```
    #[cfg(any(
        target_has_atomic = "8",
        feature = "critical-section",
        feature = "unsafe-assume-single-core",
        ringcore_loom
    ))]
    pub fn join(&self) -> Result<Reader<'_, P, N, PAYLOAD, R>, JoinError> {
        // A conservative first cursor: published only grows, so the start found below is
        // at or after it. Relaxed: this thread reads no slot before loading `published`
        // again with Acquire.
        let first = self.head.published.load(Ordering::Relaxed);
        let mut found = None;
        'search: for (index, reg) in self.readers.iter().enumerate() {
            let mut word = reg.word.load(Ordering::Relaxed);
            while word & ACTIVE == 0 {
                // Relaxed: taking a free registration hands over no data; the CAS alone
                // keeps two joiners apart, and it is ordered after the previous reader's
                // last store to this word because it is a read-modify-write of it.
                match reg.word.compare_exchange_weak(
                    word,
                    active_word(first),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        found = Some(index);
                        break 'search;
                    }
                    Err(actual) => word = actual,
                }
            }
        }
        let Some(index) = found else {
            return Err(JoinError::TooManyReaders { max: R });
        };
        let reg = &self.readers[index];
        let start = if P::OVERWRITE {
            // Overwrite readers do not gate the writer: no handshake needed.
            first
        } else {
            // The handshake (module docs). Release: the registration above is visible to
            // a writer whose horizon refresh comes later. Acquire: if the writer's refresh
            // came first, `published` as of that refresh is visible to the load below.
            self.writer.handshake.fetch_add(1, Ordering::AcqRel);
            let start = self.head.published.load(Ordering::Relaxed);
            if start != first {
                reg.word.store(active_word(start), Ordering::Relaxed);
            }
            start
        };
        reg.start.store(start, Ordering::Relaxed);
        reg.lost.store(0, Ordering::Relaxed);
        Ok(Reader {
            ring: self,
            index,
            position: start,
            cached_end: start,
            seen: 0,
            lost: 0,
            _not_sync: PhantomData,
        })
    }

    /// Hands out a writer and `K` readers of a ring the caller holds exclusively. Needs no
    /// compare-and-swap, so it works on every target; readers may leave but no reader can
    /// join while the handles live (the borrow checker sees to that). A later `split_mut`
    /// reopens the ring and continues from where the previous handles stopped.
    ///
    /// ```
    /// use ringcore::broadcast::GatedRing;
    /// let mut ring = GatedRing::<8, 8, 2>::new();
    /// let (mut w, [mut a, mut b]) = ring.split_mut::<2>();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(a.try_read(|e| e.payload[0]), Ok(b'x'));
    /// assert_eq!(b.try_read(|e| e.payload[0]), Ok(b'x'));
    /// ```
    ///
    /// Asking for more readers than `R` fails the build:
    ///
    /// ```compile_fail,E0080
    /// let mut ring = ringcore::broadcast::GatedRing::<8, 8, 2>::new();
    /// let (_w, _readers) = ring.split_mut::<3>();
    /// ```
    pub fn split_mut<const K: usize>(
        &mut self,
    ) -> (
        Writer<'_, P, N, PAYLOAD, R>,
        [Reader<'_, P, N, PAYLOAD, R>; K],
    ) {
        const {
            assert!(
                K <= R,
                "ringcore::broadcast::Ring::split_mut::<K>: K must be at most R (the most readers)"
            )
        };
        let this: &Self = self;
        this.settings.closed.store(false, Ordering::Relaxed);
        let start = this.head.published.load(Ordering::Relaxed);
        for (index, reg) in this.readers.iter().enumerate() {
            // Exclusive access: no other handle exists, so plain atomic stores suffice.
            let word = if index < K {
                active_word(start)
            } else {
                left_word(start)
            };
            reg.word.store(word, Ordering::Relaxed);
            reg.start.store(start, Ordering::Relaxed);
            reg.lost.store(0, Ordering::Relaxed);
        }
        let readers = core::array::from_fn(|index| Reader {
            ring: this,
            index,
            position: start,
            cached_end: start,
            seen: 0,
            lost: 0,
            _not_sync: PhantomData,
        });
        (this.writer_handle(), readers)
    }

    /// Events published since the ring was created (wrapping at `usize::MAX`).
    ///
    /// ```
    /// let ring = ringcore::broadcast::OverwriteRing::<2, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// for _ in 0..5 { w.try_publish(0, 0, b"").unwrap(); }
    /// assert_eq!(ring.published(), 5);
    /// ```
    pub fn published(&self) -> usize {
        self.head.published.load(Ordering::Relaxed)
    }

    /// The writer's counters (see [`WriterStats`]).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<2, 8, 1>::new();
    /// assert_eq!(ring.writer_stats().published, 0);
    /// ```
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            published: self.published(),
            full_rejections: self.writer.full_rejections.load(Ordering::Relaxed),
        }
    }

    /// The thresholds used by [`Backpressure::is_under_pressure`] and
    /// [`Backpressure::should_throttle`]; by default [`Thresholds::for_capacity`]`(N)`.
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, Thresholds};
    /// assert_eq!(GatedRing::<64, 8, 1>::new().thresholds(), Thresholds::for_capacity(64));
    /// ```
    pub fn thresholds(&self) -> Thresholds {
        let default = Thresholds::for_capacity(N);
        Thresholds {
            pressure_lag: default.pressure_lag
                ^ self.settings.pressure_lag_delta.load(Ordering::Relaxed),
            throttle_lag: default.throttle_lag
                ^ self.settings.throttle_lag_delta.load(Ordering::Relaxed),
        }
    }

    /// Replaces the thresholds; takes effect for the next snapshot on any thread.
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, Thresholds};
    /// let ring = GatedRing::<64, 8, 1>::new();
    /// ring.set_thresholds(Thresholds { pressure_lag: 1, throttle_lag: 2 });
    /// assert_eq!(ring.thresholds().throttle_lag, 2);
    /// ```
    pub fn set_thresholds(&self, thresholds: Thresholds) {
        let default = Thresholds::for_capacity(N);
        self.settings.pressure_lag_delta.store(
            thresholds.pressure_lag ^ default.pressure_lag,
            Ordering::Relaxed,
        );
        self.settings.throttle_lag_delta.store(
            thresholds.throttle_lag ^ default.throttle_lag,
            Ordering::Relaxed,
        );
    }

    /// A snapshot of reader `id`'s counters, or `None` if no reader holds registration
    /// `id` now. Callable from any thread while the ring runs.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 2>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(ring.reader_stats(r.id()).unwrap().lag, 1);
    /// assert_eq!(ring.reader_stats(1), None);
    /// ```
    pub fn reader_stats(&self, id: usize) -> Option<ReaderStats> {
        let reg = self.readers.get(id)?;
        let head = self.head.published.load(Ordering::Relaxed);
        let word = reg.word.load(Ordering::Relaxed);
        if word & ACTIVE == 0 {
            return None;
        }
        let start = reg.start.load(Ordering::Relaxed);
        let lost = reg.lost.load(Ordering::Relaxed);
        let advanced = snapshot_lag(lag_behind(word >> 1, active_word(start)));
        Some(ReaderStats {
            id,
            lag: snapshot_lag(lag_behind(head, word)),
            seen: advanced.saturating_sub(lost),
            lost,
        })
    }

    /// Reader `id`'s lag against the capacity and thresholds, or `None` if no reader holds
    /// registration `id`.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// for _ in 0..3 { w.try_publish(0, 0, b"").unwrap(); }
    /// let b = ring.reader_backpressure(r.id()).unwrap();
    /// assert_eq!((b.lag, b.backpressure_ratio(), b.should_throttle()), (3, 0.75, true));
    /// ```
    pub fn reader_backpressure(&self, id: usize) -> Option<Backpressure> {
        let lag = self.reader_stats(id)?.lag;
        Some(self.backpressure_of(lag))
    }

    /// The backpressure of the slowest registered reader (lag 0 when there is none): what
    /// a writer consults to decide whether to throttle.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 2>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut fast = ring.join().unwrap();
    /// let _slow = ring.join().unwrap();
    /// for _ in 0..2 { w.try_publish(0, 0, b"").unwrap(); }
    /// fast.read_batch(8, |_| ()).unwrap();
    /// assert_eq!(ring.max_backpressure().lag, 2);
    /// assert!(ring.max_backpressure().is_under_pressure());
    /// ```
    pub fn max_backpressure(&self) -> Backpressure {
        let lag = (0..R)
            .filter_map(|id| self.reader_stats(id))
            .map(|s| s.lag)
            .max()
            .unwrap_or(0);
        self.backpressure_of(lag)
    }

    /// How many readers are registered now.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 3>::new();
    /// let a = ring.join().unwrap();
    /// let _b = ring.join().unwrap();
    /// drop(a);
    /// assert_eq!(ring.active_readers(), 1);
    /// ```
    pub fn active_readers(&self) -> usize {
        self.readers
            .iter()
            .filter(|r| r.word.load(Ordering::Relaxed) & ACTIVE != 0)
            .count()
    }

    fn backpressure_of(&self, lag: usize) -> Backpressure {
        Backpressure {
            lag,
            capacity: N,
            thresholds: self.thresholds(),
        }
    }
}

#[cfg(not(ringcore_loom))]
impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Default
    for Ring<P, N, PAYLOAD, R>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The one writer of a [`Ring`]. `Send`, not `Sync`. Dropping it publishes anything
/// pending and closes the ring.
pub struct Writer<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    ring: &'a Ring<P, N, PAYLOAD, R>,
    /// Next position to write (ahead of `published` inside a [`Claim`]).
    next: usize,
    /// Last value stored to `ring.head.published`.
    published: usize,
    /// Gated: positions before this are free to write (from the last registration scan).
    /// Overwrite: the last value stored to `ring.head.claim`.
    horizon: usize,
    next_seq: u64,
    full_rejections: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Writer<'_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("next", &self.next)
            .field("next_seq", &self.next_seq)
            .field("horizon", &self.horizon)
            .finish_non_exhaustive()
    }
}

impl<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Writer<'a, P, N, PAYLOAD, R>
{
    #[inline(always)]
    fn check_len(len: usize) -> Result<(), PublishError> {
        if len > PAYLOAD {
            Err(PublishError::TooLarge { len, max: PAYLOAD })
        } else {
            Ok(())
        }
    }

    /// Reserves up to `want` positions from `next` on and returns how many (0: full).
    #[inline(always)]
    fn reserve(&mut self, want: usize) -> usize {
        if P::OVERWRITE {
            let n = want.min(N);
            let end = self.next.wrapping_add(n);
            if distance(end, self.horizon) > 0 {
                self.ring.head.claim.store(end, Ordering::Relaxed);
                // Release fence: a reader whose Acquire fence follows a load of any slot
                // word stored below also sees this claim, and discards its copy.
                fence(Ordering::Release);
                self.horizon = end;
            }
            n
        } else {
            let mut free = self.horizon.wrapping_sub(self.next);
            if free < want {
                free = self.refresh_horizon();
            }
            want.min(free)
        }
    }

    /// Gated: rescans the registrations; returns how many positions are free.
    #[inline(never)]
    fn refresh_horizon(&mut self) -> usize {
        // The join handshake (module docs). Release: a joiner whose read-modify-write
        // comes later sees `published` as of now. Acquire: the registration of a joiner
        // whose read-modify-write came first is visible to the loads below.
        #[cfg(any(
            target_has_atomic = "8",
            feature = "critical-section",
            feature = "unsafe-assume-single-core",
            ringcore_loom
        ))]
        self.ring.writer.handshake.fetch_add(0, Ordering::AcqRel);
        let mut max_lag = 0;
        for reg in self.ring.readers.iter() {
            // Acquire: the reader's reads of the slots it released (or read before it
            // left) happen before our writes to them.
            let word = reg.word.load(Ordering::Acquire);
            if word & ACTIVE != 0 {
                max_lag = max_lag.max(lag_behind(self.next, word));
            }
        }
        let free = N.saturating_sub(max_lag);
        self.horizon = self.next.wrapping_add(free);
        free
    }

    #[inline(always)]
    fn write(&mut self, header: &FrameHeader, payload: &[u8]) {
        let index = self.next & (N - 1);
        let bytes = header.encode();
        if P::OVERWRITE {
            // SAFETY: index < N and payload.len() <= PAYLOAD (checked by every caller);
            // an overwrite ring touches slot memory only through word atomics.
            unsafe { self.ring.slots.store_record(index, &bytes, payload) };
        } else {
            // SAFETY: index < N, payload.len() <= PAYLOAD; `next` is below the horizon,
            // so every active reader released this slot's previous event (Acquire in
            // refresh_horizon) or joined after it; no reader reads it before the Release
            // store of `published` passes it. Gated rings use plain copies only.
            unsafe { self.ring.slots.write_plain(index, &bytes, payload) };
        }
        self.next = self.next.wrapping_add(1);
    }

    #[inline(always)]
    fn publish(&mut self) {
        if self.published != self.next {
            // Release: the slots' contents are written before a reader can see them.
            self.ring.head.published.store(self.next, Ordering::Release);
            self.published = self.next;
        }
    }

    #[cold]
    fn count_full(&mut self) {
        self.full_rejections = self.full_rejections.wrapping_add(1);
        self.ring
            .writer
            .full_rejections
            .store(self.full_rejections, Ordering::Relaxed);
    }

    /// Publishes one event numbered [`Writer::next_seq`] and returns its sequence. Never
    /// blocks: a gated ring whose slowest reader is a lap behind returns
    /// [`PublishError::Full`]; an overwrite ring never does.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 16, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// assert_eq!(w.try_publish(3, 99, b"abc"), Ok(0));
    /// let h = r.try_read(|e| e.header).unwrap();
    /// assert_eq!((h.seq, h.kind, h.timestamp_ns, h.len), (0, 3, 99, 3));
    /// ```
    #[inline]
    pub fn try_publish(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        let header = FrameHeader {
            seq: self.next_seq,
            timestamp_ns,
            len: 0,
            kind,
            flags: 0,
        };
        self.try_publish_frame(header, payload)
    }

    /// Publishes one event with the given header (its `len` is replaced by the payload's
    /// length). The sequence is taken as given, so a pool or a replay can number events
    /// itself; the ring does not check it, and [`Writer::next_seq`] becomes `seq + 1`.
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// let h = FrameHeader { seq: 500, timestamp_ns: 1, len: 0, kind: 2, flags: 0x10 };
    /// assert_eq!(w.try_publish_frame(h, b"xy"), Ok(500));
    /// assert_eq!(w.next_seq(), 501);
    /// assert_eq!(r.try_read(|e| e.header), Ok(FrameHeader { len: 2, ..h }));
    /// ```
    #[inline]
    pub fn try_publish_frame(
        &mut self,
        mut header: FrameHeader,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Self::check_len(payload.len())?;
        if self.reserve(1) == 0 {
            self.count_full();
            return Err(PublishError::Full);
        }
        header.len = payload.len() as u32;
        self.write(&header, payload);
        self.next_seq = header.seq.wrapping_add(1);
        self.publish();
        Ok(header.seq)
    }

    /// Reserves up to `max` slots (at least 1) for a batch: push events into the returned
    /// [`Claim`]; dropping it publishes all of them with one cursor store. A gated ring
    /// reserves what is free (at most `max`) and returns [`PublishError::Full`] if nothing
    /// is. An overwrite ring reserves `min(max, N)` at once: a reader more than
    /// `N - max` events behind may be told it lost slots the claim reserved but did not
    /// use, so claim about what you will push.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// let mut claim = w.try_claim(3).unwrap();
    /// assert_eq!(claim.capacity(), 3);
    /// for i in 0..3u8 { claim.push(0, 0, &[i]).unwrap(); }
    /// assert_eq!(claim.push(0, 0, b"no room"), Err(ringcore::broadcast::PublishError::Full));
    /// assert_eq!(claim.publish(), 3);
    /// assert_eq!(r.read_batch(10, |_| ()), Ok(3));
    /// ```
    #[inline]
    pub fn try_claim(
        &mut self,
        max: usize,
    ) -> Result<Claim<'_, 'a, P, N, PAYLOAD, R>, PublishError> {
        let reserved = self.reserve(max.max(1));
        if reserved == 0 {
            self.count_full();
            return Err(PublishError::Full);
        }
        Ok(Claim {
            writer: self,
            reserved,
            pushed: 0,
            notify: None,
        })
    }

    /// Like [`Writer::try_publish`], but waits with `wait` while a gated ring is full, and
    /// notifies `wait` afterwards (waking blocked readers). Fails only with
    /// [`PublishError::TooLarge`].
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.publish_wait(&BusySpin, 0, 0, b"x"), Ok(0));
    /// ```
    pub fn publish_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Self::check_len(payload.len())?;
        self.wait_for_room(wait, 1);
        let seq = self.try_publish(kind, timestamp_ns, payload)?;
        wait.notify();
        Ok(seq)
    }

    /// Like [`Writer::try_claim`], but waits with `wait` while a gated ring is full; the
    /// claim notifies `wait` when it publishes.
    ///
    /// ```
    /// use ringcore::broadcast::{OverwriteRing, wait::BusySpin};
    /// let ring = OverwriteRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.claim_wait(&BusySpin, 2);
    /// c.push(0, 0, b"a").unwrap();
    /// assert_eq!(c.publish(), 1);
    /// ```
    pub fn claim_wait<'w, W: WaitStrategy>(
        &'w mut self,
        wait: &'w W,
        max: usize,
    ) -> Claim<'w, 'a, P, N, PAYLOAD, R> {
        let reserved = self.wait_for_room(wait, max.max(1));
        Claim {
            writer: self,
            reserved,
            pushed: 0,
            notify: Some(wait),
        }
    }

    fn wait_for_room<W: WaitStrategy>(&mut self, wait: &W, want: usize) -> usize {
        let n = self.reserve(want);
        if n > 0 {
            return n;
        }
        self.count_full();
        let mut waiter = wait.waiter();
        loop {
            waiter.idle();
            let n = self.reserve(want);
            if n > 0 {
                return n;
            }
        }
    }

    /// The sequence the next [`Writer::try_publish`] gives its event.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(w.next_seq(), 1);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Makes the next event's sequence `seq` (to resume a log's numbering).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.set_next_seq(1000);
    /// assert_eq!(w.try_publish(0, 0, b""), Ok(1000));
    /// ```
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// The ring this writer publishes to (for its metrics).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let w = ring.try_writer().unwrap();
    /// assert_eq!(w.ring().capacity(), 4);
    /// ```
    pub fn ring(&self) -> &'a Ring<P, N, PAYLOAD, R> {
        self.ring
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Writer<'_, P, N, PAYLOAD, R>
{
    fn drop(&mut self) {
        self.publish();
        // Release: a reader that sees the ring closed also sees every event published.
        self.ring.settings.closed.store(true, Ordering::Release);
    }
}

/// Slots reserved by [`Writer::try_claim`]: push events into it; dropping it (or
/// [`Claim::publish`]) publishes them all with one cursor store. Pushed events are
/// invisible to readers until then.
///
/// ```
/// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// let mut c = w.try_claim(4).unwrap();
/// c.push(0, 0, b"a").unwrap();
/// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Empty));
/// drop(c);
/// assert!(r.try_read(|_| ()).is_ok());
/// ```
#[must_use = "dropping a claim publishes what was pushed; push events into it first"]
pub struct Claim<'w, 'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    writer: &'w mut Writer<'a, P, N, PAYLOAD, R>,
    reserved: usize,
    pushed: usize,
    notify: Option<&'w dyn Notify>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Claim<'_, '_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("reserved", &self.reserved)
            .field("pushed", &self.pushed)
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Claim<'_, '_, P, N, PAYLOAD, R>
{
    /// Slots reserved.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.try_claim(10).unwrap().capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.reserved
    }

    /// Events pushed so far.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(2).unwrap();
    /// c.push(0, 0, b"").unwrap();
    /// assert_eq!((c.len(), c.remaining(), c.is_empty()), (1, 1, false));
    /// ```
    pub fn len(&self) -> usize {
        self.pushed
    }

    /// `true` if nothing was pushed yet.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert!(w.try_claim(2).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Reserved slots not yet used.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.try_claim(3).unwrap().remaining(), 3);
    /// ```
    pub fn remaining(&self) -> usize {
        self.reserved - self.pushed
    }

    /// Writes one event numbered [`Writer::next_seq`] into the next reserved slot;
    /// [`PublishError::Full`] when every reserved slot is used.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(1).unwrap();
    /// assert_eq!(c.push(0, 0, b"x"), Ok(0));
    /// assert!(c.push(0, 0, b"y").is_err());
    /// ```
    #[inline]
    pub fn push(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        let header = FrameHeader {
            seq: self.writer.next_seq,
            timestamp_ns,
            len: 0,
            kind,
            flags: 0,
        };
        self.push_frame(header, payload)
    }

    /// Like [`Claim::push`] with a caller-given header (see [`Writer::try_publish_frame`]).
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(1).unwrap();
    /// assert_eq!(c.push_frame(FrameHeader { seq: 9, ..Default::default() }, b""), Ok(9));
    /// ```
    #[inline]
    pub fn push_frame(
        &mut self,
        mut header: FrameHeader,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Writer::<P, N, PAYLOAD, R>::check_len(payload.len())?;
        if self.pushed == self.reserved {
            return Err(PublishError::Full);
        }
        header.len = payload.len() as u32;
        self.writer.write(&header, payload);
        self.writer.next_seq = header.seq.wrapping_add(1);
        self.pushed += 1;
        Ok(header.seq)
    }

    /// Publishes the pushed events (one cursor store) and returns how many there were.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let c = w.try_claim(2).unwrap();
    /// assert_eq!(c.publish(), 0);
    /// ```
    pub fn publish(self) -> usize {
        self.pushed
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Claim<'_, '_, P, N, PAYLOAD, R>
{
    #[inline]
    fn drop(&mut self) {
        self.writer.publish();
        if let Some(n) = self.notify {
            n.notify();
        }
    }
}

/// One reader of a [`Ring`], with its own cursor. `Send`, not `Sync`. Dropping it leaves
/// the ring: its registration is freed and it no longer gates the writer.
pub struct Reader<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    ring: &'a Ring<P, N, PAYLOAD, R>,
    index: usize,
    /// Next position to read.
    position: usize,
    /// Last value loaded from `ring.head.published`.
    cached_end: usize,
    seen: usize,
    lost: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Reader<'_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("id", &self.index)
            .field("position", &self.position)
            .field("seen", &self.seen)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// What a validated overwrite copy says.
enum Copied {
    Valid(FrameHeader),
    /// The writer claimed up to this position: the copy may be torn.
    Overwritten(usize),
}

impl<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Reader<'a, P, N, PAYLOAD, R>
{
    /// Events ready to read (at least 1), or why there are none.
    #[inline(always)]
    fn available(&mut self) -> Result<usize, ReadError> {
        let mut avail = distance(self.cached_end, self.position);
        if avail == 0 {
            // Acquire: the writer's stores to the published slots happen before our loads.
            self.cached_end = self.ring.head.published.load(Ordering::Acquire);
            avail = distance(self.cached_end, self.position);
            if avail == 0 {
                return Err(self.empty_or_closed());
            }
        }
        if P::OVERWRITE && avail > N {
            // Lapped before we even look: claim >= published > position + N.
            let claim = self.ring.head.claim.load(Ordering::Relaxed);
            return Err(self.skip_lost(claim));
        }
        Ok(avail)
    }

    #[cold]
    fn empty_or_closed(&mut self) -> ReadError {
        // Acquire: pairs with the writer's Release when it closed, so the load below sees
        // its final `published`.
        if !self.ring.settings.closed.load(Ordering::Acquire) {
            return ReadError::Empty;
        }
        self.cached_end = self.ring.head.published.load(Ordering::Relaxed);
        if distance(self.cached_end, self.position) == 0 {
            ReadError::Closed
        } else {
            // Published just before closing; the caller's next read gets it.
            ReadError::Empty
        }
    }

    /// Moves past everything the writer overwrote (everything before `claim - N`).
    #[cold]
    fn skip_lost(&mut self, claim: usize) -> ReadError {
        let oldest = claim.wrapping_sub(N);
        let lost = oldest.wrapping_sub(self.position);
        self.position = oldest;
        self.lost = self.lost.wrapping_add(lost);
        let reg = &self.ring.readers[self.index];
        reg.lost.store(self.lost, Ordering::Relaxed);
        self.release();
        ReadError::Lagged(lost)
    }

    /// Overwrite rings: copies `position`'s slot and checks that no later write to it had
    /// started (the seqlock check).
    #[inline(always)]
    fn copy_current<const HEADER_ONLY: bool>(&self, copy: &mut SlotCopy<PAYLOAD>) -> Copied {
        let index = self.position & (N - 1);
        // SAFETY: index < N; overwrite rings access slots only with word atomics.
        let header = unsafe {
            if HEADER_ONLY {
                self.ring.slots.load_header(index, copy)
            } else {
                self.ring.slots.load_record(index, copy).0
            }
        };
        // Acquire fence: if any word copied above was stored by a write for a later lap,
        // the claim the writer stored before that write (and its Release fence) is
        // visible to the load below.
        fence(Ordering::Acquire);
        let claim = self.ring.head.claim.load(Ordering::Relaxed);
        if claim.wrapping_sub(self.position) > N {
            Copied::Overwritten(claim)
        } else {
            Copied::Valid(header)
        }
    }

    /// Gated rings: the event at `position`, in place.
    ///
    /// # Safety
    /// `position` is below a value of `published` loaded with Acquire, and the view must
    /// be dropped before `release` stores a cursor past `position`.
    #[inline(always)]
    unsafe fn view_current<'s>(&'s self) -> RecordView<'s> {
        let index = self.position & (N - 1);
        // SAFETY: index < N; the event is published to us (caller) and gated: the writer
        // does not rewrite this slot until our cursor passes it, which needs `&mut self`
        // after the view (borrowing `self`) is gone. Gated rings use plain copies only.
        let (header_bytes, payload) = unsafe { self.ring.slots.read_plain(index) };
        let header = FrameHeader::decode(header_bytes).unwrap_or_default();
        let len = (header.len as usize).min(PAYLOAD);
        RecordView {
            header,
            payload: &payload[..len],
        }
    }

    #[inline(always)]
    fn release(&self) {
        // Release: our reads of the slots before `position` happen before the writer,
        // which loads this word with Acquire, rewrites them.
        self.ring.readers[self.index]
            .word
            .store(active_word(self.position), Ordering::Release);
    }

    /// Reads the next event: calls `f` with it (a view valid during the call) and returns
    /// what `f` returns. Errors: [`ReadError::Empty`], [`ReadError::Closed`], and for an
    /// overwrite ring [`ReadError::Lagged`] (after which the reader stands at the oldest
    /// intact event).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(5, 0, b"hi").unwrap();
    /// assert_eq!(r.try_read(|e| (e.header.kind, e.payload.to_vec())), Ok((5, b"hi".to_vec())));
    /// ```
    #[inline]
    pub fn try_read<T>(&mut self, f: impl FnOnce(RecordView<'_>) -> T) -> Result<T, ReadError> {
        self.available()?;
        let value = if P::OVERWRITE {
            let mut copy = SlotCopy::new();
            match self.copy_current::<false>(&mut copy) {
                Copied::Valid(header) => f(RecordView {
                    header,
                    payload: copy.payload(),
                }),
                Copied::Overwritten(claim) => return Err(self.skip_lost(claim)),
            }
        } else {
            // SAFETY: available() loaded `published` with Acquire and it is past
            // `position`; the view is dropped inside this block, before release().
            f(unsafe { self.view_current() })
        };
        self.position = self.position.wrapping_add(1);
        self.seen = self.seen.wrapping_add(1);
        self.release();
        Ok(value)
    }

    /// Reads up to `max` events, calling `f` for each in order, then releases them all with
    /// one cursor store; returns how many were read (at least 1). Errors as
    /// [`Reader::try_read`]; a lap detected after some events were read ends the batch
    /// early and is reported by the next call.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for i in 0..5u8 { w.try_publish(0, 0, &[i]).unwrap(); }
    /// let mut got = Vec::new();
    /// assert_eq!(r.read_batch(3, |e| got.push(e.payload[0])), Ok(3));
    /// assert_eq!(r.read_batch(3, |e| got.push(e.payload[0])), Ok(2));
    /// assert_eq!(got, [0, 1, 2, 3, 4]);
    /// ```
    #[inline]
    pub fn read_batch(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        self.read_batch_until(max, |e| {
            f(e);
            ControlFlow::Continue(())
        })
    }

    /// Like [`Reader::read_batch`], but `f` can end the batch early by returning
    /// [`ControlFlow::Break`]; the event for which it broke counts as read.
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for i in 0..5u8 { w.try_publish(0, 0, &[i]).unwrap(); }
    /// let until_2 = |e: ringcore::spsc::RecordView<'_>| {
    ///     if e.payload[0] == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// };
    /// assert_eq!(r.read_batch_until(8, until_2), Ok(3));
    /// assert_eq!(r.try_read(|e| e.payload[0]), Ok(3));
    /// ```
    #[inline]
    pub fn read_batch_until(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>) -> ControlFlow<()>,
    ) -> Result<usize, ReadError> {
        let n = self.available()?.min(max.max(1));
        let mut done = 0;
        if P::OVERWRITE {
            let mut copy = SlotCopy::new();
            while done < n {
                let flow = match self.copy_current::<false>(&mut copy) {
                    Copied::Valid(header) => f(RecordView {
                        header,
                        payload: copy.payload(),
                    }),
                    Copied::Overwritten(claim) => {
                        if done == 0 {
                            return Err(self.skip_lost(claim));
                        }
                        break;
                    }
                };
                self.position = self.position.wrapping_add(1);
                done += 1;
                if flow.is_break() {
                    break;
                }
            }
        } else {
            while done < n {
                // SAFETY: position < cached_end (n <= available), loaded with Acquire;
                // the view is dropped at the end of this statement, before release().
                let flow = f(unsafe { self.view_current() });
                self.position = self.position.wrapping_add(1);
                done += 1;
                if flow.is_break() {
                    break;
                }
            }
        }
        self.seen = self.seen.wrapping_add(done);
        self.release();
        Ok(done)
    }

    /// Like [`Reader::try_read`], but waits with `wait` while the ring is empty; after
    /// reading from a gated ring it notifies `wait` (waking a writer blocked on `Full`).
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, ReadError, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// drop(w);
    /// assert_eq!(r.read_wait(&BusySpin, |e| e.payload[0]), Ok(b'x'));
    /// assert_eq!(r.read_wait(&BusySpin, |_| ()), Err(ReadError::Closed));
    /// ```
    pub fn read_wait<W: WaitStrategy, T>(
        &mut self,
        wait: &W,
        f: impl FnOnce(RecordView<'_>) -> T,
    ) -> Result<T, ReadError> {
        self.wait_for_events(wait)?;
        let result = self.try_read(f);
        if !P::OVERWRITE {
            wait.notify();
        }
        result
    }

    /// Like [`Reader::read_batch`], but waits with `wait` while the ring is empty; after
    /// reading from a gated ring it notifies `wait`.
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(r.read_batch_wait(&BusySpin, 8, |_| ()), Ok(1));
    /// ```
    pub fn read_batch_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        max: usize,
        f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        self.wait_for_events(wait)?;
        let result = self.read_batch(max, f);
        if !P::OVERWRITE {
            wait.notify();
        }
        result
    }

    fn wait_for_events<W: WaitStrategy>(&mut self, wait: &W) -> Result<(), ReadError> {
        let mut waiter = wait.waiter();
        loop {
            match self.available() {
                Ok(_) => return Ok(()),
                Err(ReadError::Empty) => waiter.idle(),
                Err(e) => return Err(e),
            }
        }
    }

    /// The header of the next event, without reading it (a later read returns the same
    /// event unless an overwrite ring lapped this reader in between). Errors as
    /// [`Reader::try_read`].
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(3, 0, b"x").unwrap();
    /// assert_eq!(r.peek_header().map(|h| h.kind), Ok(3));
    /// assert_eq!(r.try_read(|e| e.header.kind), Ok(3));
    /// ```
    #[inline]
    pub fn peek_header(&mut self) -> Result<FrameHeader, ReadError> {
        self.available()?;
        if P::OVERWRITE {
            let mut copy = SlotCopy::new();
            match self.copy_current::<true>(&mut copy) {
                Copied::Valid(header) => Ok(header),
                Copied::Overwritten(claim) => Err(self.skip_lost(claim)),
            }
        } else {
            // SAFETY: available() loaded `published` with Acquire past `position`; only
            // the header is copied out of the view.
            Ok(unsafe { self.view_current() }.header)
        }
    }

    /// This reader's registration index, `0..R` (the `id` of [`Ring::reader_stats`]).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 2>::new();
    /// let a = ring.join().unwrap();
    /// let b = ring.join().unwrap();
    /// assert_eq!((a.id(), b.id()), (0, 1));
    /// ```
    pub fn id(&self) -> usize {
        self.index
    }

    /// Events published that this reader has not read yet.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(r.lag(), 1);
    /// ```
    pub fn lag(&self) -> usize {
        distance(
            self.ring.head.published.load(Ordering::Relaxed),
            self.position,
        )
    }

    /// This reader's lag against the ring's capacity and thresholds.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// for _ in 0..2 { w.try_publish(0, 0, b"").unwrap(); }
    /// let b = r.backpressure();
    /// assert_eq!(b.backpressure_ratio(), 0.5);
    /// assert!(b.is_under_pressure() && !b.should_throttle());
    /// ```
    pub fn backpressure(&self) -> Backpressure {
        self.ring.backpressure_of(self.lag())
    }

    /// Exact counters of this reader (see [`ReaderStats`]).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let r = ring.join().unwrap();
    /// assert_eq!(r.stats().seen, 0);
    /// ```
    pub fn stats(&self) -> ReaderStats {
        ReaderStats {
            id: self.index,
            lag: self.lag(),
            seen: self.seen,
            lost: self.lost,
        }
    }

    /// Events read since this reader joined.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// r.try_read(|_| ()).unwrap();
    /// assert_eq!(r.seen(), 1);
    /// ```
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Events lost to overwrite since this reader joined.
    ///
    /// ```
    /// let ring = ringcore::broadcast::OverwriteRing::<1, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for _ in 0..3 { w.try_publish(0, 0, b"").unwrap(); }
    /// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Lagged(2)));
    /// assert_eq!(r.lost(), 2);
    /// ```
    pub fn lost(&self) -> usize {
        self.lost
    }

    /// The ring this reader reads (for its metrics).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let r = ring.join().unwrap();
    /// assert_eq!(r.ring().active_readers(), 1);
    /// ```
    pub fn ring(&self) -> &'a Ring<P, N, PAYLOAD, R> {
        self.ring
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Reader<'_, P, N, PAYLOAD, R>
{
    fn drop(&mut self) {
        // Release: our reads of every slot we read happen before the writer, which loads
        // this word with Acquire and then stops counting us, rewrites them.
        self.ring.readers[self.index]
            .word
            .store(left_word(self.position), Ordering::Release);
    }
}

/// How a thread waits when the ring is full (writer) or empty (reader).
///
/// [`BusySpin`](wait::BusySpin) is always available; `SpinThenYield` (the default to use:
/// it keeps throughput when there are more threads than cores) and `Blocking` need the
/// `std` feature.
///
/// ```
/// # #[cfg(feature = "std")] {
/// use ringcore::broadcast::{GatedRing, wait::SpinThenYield};
/// static RING: GatedRing<1024, 64, 2> = GatedRing::new();
/// let wait = SpinThenYield::default();
/// let mut w = RING.try_writer().unwrap();
/// let mut r = RING.join().unwrap();
/// let consumer = std::thread::spawn(move || {
///     let mut sum = 0u64;
///     while let Ok(_) = r.read_batch_wait(&SpinThenYield::default(), 64, |e| sum += e.header.seq) {}
///     sum
/// });
/// for _ in 0..1000 { w.publish_wait(&wait, 0, 0, b"x").unwrap(); }
/// drop(w);
/// assert_eq!(consumer.join().unwrap(), 999 * 1000 / 2);
/// # }
/// ```
pub mod wait {
    #[cfg(all(feature = "std", not(test)))]
    extern crate std;

    /// Wakes threads that wait with a strategy (a no-op for spinning strategies).
    pub trait Notify {
        /// Called after a writer published or a gated reader released slots.
        fn notify(&self);
    }

    /// The per-wait state of a [`WaitStrategy`].
    pub trait Waiter {
        /// Called each time an attempt found nothing to do; waits a little (or until
        /// notified) before the next attempt.
        fn idle(&mut self);
    }

    /// A way to wait for the other side of a ring.
    ///
    /// ```
    /// use ringcore::broadcast::wait::{BusySpin, WaitStrategy, Waiter};
    /// let mut w = BusySpin.waiter();
    /// w.idle();
    /// ```
    pub trait WaitStrategy: Notify {
        /// The state of one wait.
        type Waiter<'s>: Waiter
        where
            Self: 's;
        /// Starts a wait.
        fn waiter(&self) -> Self::Waiter<'_>;
    }

    /// Spins with a CPU hint between attempts. Lowest latency when every thread has its
    /// own core; collapses when threads outnumber cores (use
    /// [`SpinThenYield`](crate::broadcast::wait) there). `no_std`.
    ///
    /// ```
    /// use ringcore::broadcast::wait::{BusySpin, Notify};
    /// BusySpin.notify();
    /// ```
    #[derive(Debug, Clone, Copy, Default)]
    pub struct BusySpin;

    /// [`BusySpin`]'s waiter.
    #[derive(Debug)]
    pub struct Spinning;

    impl Waiter for Spinning {
        #[inline]
        fn idle(&mut self) {
            crate::sync::spin_hint();
        }
    }

    impl Notify for BusySpin {
        #[inline]
        fn notify(&self) {}
    }

    impl WaitStrategy for BusySpin {
        type Waiter<'s> = Spinning;
        fn waiter(&self) -> Spinning {
            Spinning
        }
    }

    /// Spins `spins` times, then yields the thread to the scheduler at every further
    /// attempt: near busy-spin latency when cores are free, and no collapse when threads
    /// outnumber cores. The default strategy. Needs `std`.
    ///
    /// ```
    /// use ringcore::broadcast::wait::SpinThenYield;
    /// assert_eq!(SpinThenYield::default(), SpinThenYield::new(64));
    /// ```
    #[cfg(any(test, feature = "std"))]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SpinThenYield {
        spins: u32,
    }

    #[cfg(any(test, feature = "std"))]
    impl SpinThenYield {
        /// Spins `spins` times before yielding.
        ///
        /// ```
        /// let _ = ringcore::broadcast::wait::SpinThenYield::new(0);
        /// ```
        pub const fn new(spins: u32) -> Self {
            Self { spins }
        }
    }

    #[cfg(any(test, feature = "std"))]
    impl Default for SpinThenYield {
        fn default() -> Self {
            Self::new(64)
        }
    }

    /// [`SpinThenYield`]'s waiter.
    #[cfg(any(test, feature = "std"))]
    #[derive(Debug)]
    pub struct Yielding {
        left: u32,
    }

    #[cfg(any(test, feature = "std"))]
    impl Waiter for Yielding {
        #[inline]
        fn idle(&mut self) {
            if self.left > 0 {
                self.left -= 1;
                crate::sync::spin_hint();
            } else {
                std::thread::yield_now();
            }
        }
    }

    #[cfg(any(test, feature = "std"))]
    impl Notify for SpinThenYield {
        #[inline]
        fn notify(&self) {}
    }

    #[cfg(any(test, feature = "std"))]
    impl WaitStrategy for SpinThenYield {
        type Waiter<'s> = Yielding;
        fn waiter(&self) -> Yielding {
            Yielding { left: self.spins }
        }
    }

    /// Spins briefly, then sleeps on a condition variable until notified: no CPU use
    /// while idle, microseconds of wake-up latency. Share one `Blocking` between the
    /// writer and the readers (each side notifies it). A wait also ends after 1 ms
    /// without a notification, so events that do not notify (a writer dropped, a reader
    /// leaving) are noticed. Needs `std`.
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, wait::Blocking};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let blocking = Blocking::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| { for _ in 0..100 { w.publish_wait(&blocking, 0, 0, b"x").unwrap(); } drop(w); });
    ///     let mut n = 0;
    ///     while r.read_batch_wait(&blocking, 8, |_| n += 1).is_ok() {}
    ///     assert_eq!(n, 100);
    /// });
    /// ```
    #[cfg(any(test, feature = "std"))]
    #[derive(Debug, Default)]
    pub struct Blocking {
        /// Bumped (under `lock`) by every notification that finds a sleeper.
        epoch: crate::sync::AtomicUsize,
        /// Waiters registered to be woken.
        sleepers: crate::sync::AtomicUsize,
        lock: std::sync::Mutex<()>,
        wake: std::sync::Condvar,
    }

    #[cfg(any(test, feature = "std"))]
    impl Blocking {
        /// Spins this many times before sleeping.
        const SPINS: u32 = 64;
        /// Longest sleep without a notification.
        const TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1);

        /// A new blocking strategy (`const`, so it can be a `static`).
        ///
        /// ```
        /// static WAIT: ringcore::broadcast::wait::Blocking = ringcore::broadcast::wait::Blocking::new();
        /// # let _ = &WAIT;
        /// ```
        #[cfg(not(ringcore_loom))]
        pub const fn new() -> Self {
            Self {
                epoch: crate::sync::atomic_usize(0),
                sleepers: crate::sync::atomic_usize(0),
                lock: std::sync::Mutex::new(()),
                wake: std::sync::Condvar::new(),
            }
        }

        /// A new blocking strategy (loom build: not `const`).
        #[cfg(ringcore_loom)]
        pub fn new() -> Self {
            Self {
                epoch: crate::sync::atomic_usize(0),
                sleepers: crate::sync::atomic_usize(0),
                lock: std::sync::Mutex::new(()),
                wake: std::sync::Condvar::new(),
            }
        }
    }

    #[cfg(any(test, feature = "std"))]
    impl Notify for Blocking {
        #[inline]
        fn notify(&self) {
            use crate::sync::Ordering::SeqCst;
            // SeqCst fence: either a sleeper's registration is visible below, or the
            // sleeper's own SeqCst fence comes later and its next attempt sees what we
            // published before this call (the eventcount pattern).
            crate::sync::fence(SeqCst);
            if self.sleepers.load(SeqCst) != 0 {
                let _guard = self
                    .lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.epoch.fetch_add(1, SeqCst);
                self.wake.notify_all();
            }
        }
    }

    /// [`Blocking`]'s waiter.
    #[cfg(any(test, feature = "std"))]
    #[derive(Debug)]
    pub struct Sleeping<'s> {
        strategy: &'s Blocking,
        spins_left: u32,
        /// The epoch read after registering as a sleeper (before the next attempt).
        registered: Option<usize>,
    }

    #[cfg(any(test, feature = "std"))]
    impl Waiter for Sleeping<'_> {
        fn idle(&mut self) {
            use crate::sync::Ordering::SeqCst;
            let b = self.strategy;
            if self.spins_left > 0 {
                self.spins_left -= 1;
                crate::sync::spin_hint();
                return;
            }
            match self.registered {
                None => {
                    // Register, then let the caller try once more before sleeping.
                    b.sleepers.fetch_add(1, SeqCst);
                    crate::sync::fence(SeqCst);
                    self.registered = Some(b.epoch.load(SeqCst));
                }
                Some(epoch) => {
                    let mut guard = b
                        .lock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    while b.epoch.load(SeqCst) == epoch {
                        let (g, timeout) = b
                            .wake
                            .wait_timeout(guard, Blocking::TIMEOUT)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        guard = g;
                        if timeout.timed_out() {
                            break;
                        }
                    }
                    drop(guard);
                    self.registered = Some(b.epoch.load(SeqCst));
                }
            }
        }
    }

    #[cfg(any(test, feature = "std"))]
    impl Drop for Sleeping<'_> {
        fn drop(&mut self) {
            if self.registered.is_some() {
                self.strategy
                    .sleepers
                    .fetch_sub(1, crate::sync::Ordering::SeqCst);
            }
        }
    }

    #[cfg(any(test, feature = "std"))]
    impl WaitStrategy for Blocking {
        type Waiter<'s> = Sleeping<'s>;
        fn waiter(&self) -> Sleeping<'_> {
            Sleeping {
                strategy: self,
                spins_left: Self::SPINS,
                registered: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wait::{Blocking, BusySpin, SpinThenYield};
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    /// Payload byte `i` of the event with sequence `seq`.
    fn pattern(seq: u64, i: usize) -> u8 {
        (seq as u8).wrapping_mul(31).wrapping_add(i as u8)
    }

    /// Length of the event with sequence `seq` in a ring of `max`-byte slots.
    fn len_for(seq: u64, max: usize) -> usize {
        (seq as usize * 7) % (max + 1)
    }

    fn fill(seq: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| pattern(seq, i)).collect()
    }

    /// Checks one event fully: header fields derived from the sequence and the payload
    /// pattern. Returns the sequence.
    fn check(e: RecordView<'_>, max: usize) -> u64 {
        let seq = e.header.seq;
        assert_eq!(e.header.len as usize, e.payload.len());
        assert_eq!(e.payload.len(), len_for(seq, max), "seq {seq}");
        assert_eq!(e.header.kind, seq as u16, "seq {seq}");
        assert_eq!(e.header.timestamp_ns, seq.wrapping_mul(3), "seq {seq}");
        for (i, b) in e.payload.iter().enumerate() {
            assert_eq!(*b, pattern(seq, i), "seq {seq} byte {i}");
        }
        seq
    }

    fn publish_checked<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
        w: &mut Writer<'_, P, N, PAYLOAD, R>,
    ) -> Result<u64, PublishError> {
        let seq = w.next_seq();
        let payload = fill(seq, len_for(seq, PAYLOAD));
        w.try_publish(seq as u16, seq.wrapping_mul(3), &payload)
    }

    /// Rings and pools too large for a test thread's stack live on the heap; threads
    /// borrow them inside `std::thread::scope`.
    fn boxed<T>(value: T) -> Box<T> {
        Box::new(value)
    }

    #[test]
    fn header_and_payload_round_trip_every_length() {
        let ring = GatedRing::<64, 64, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for len in 0..=64usize {
            let header = FrameHeader {
                seq: 1000 + len as u64,
                timestamp_ns: u64::MAX - len as u64,
                len: 0,
                kind: len as u16,
                flags: 0xA5A5,
            };
            let payload = fill(len as u64, len);
            assert_eq!(w.try_publish_frame(header, &payload), Ok(header.seq));
            let (h, p) = r.try_read(|e| (e.header, e.payload.to_vec())).unwrap();
            assert_eq!(
                h,
                FrameHeader {
                    len: len as u32,
                    ..header
                }
            );
            assert_eq!(p, payload);
        }
    }

    #[test]
    fn overwrite_round_trip_every_length() {
        let ring = OverwriteRing::<4, 40, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for seq in 0..200u64 {
            publish_checked(&mut w).unwrap();
            assert_eq!(r.try_read(|e| check(e, 40)), Ok(seq));
        }
    }

    #[test]
    fn full_gated_ring_loses_nothing() {
        let ring = GatedRing::<8, 16, 2>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for _ in 0..8 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
        assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
        assert!(w.try_claim(4).is_err());
        assert_eq!(
            ring.writer_stats(),
            WriterStats {
                published: 8,
                full_rejections: 3
            }
        );
        assert!(r.backpressure().should_throttle());
        assert_eq!(r.backpressure().backpressure_ratio(), 1.0);
        // Reading three frees exactly three slots.
        assert_eq!(
            r.read_batch(3, |e| assert_eq!(check(e, 16), e.header.seq)),
            Ok(3)
        );
        let claim = w.try_claim(10).unwrap();
        assert_eq!(claim.capacity(), 3);
        drop(claim);
        for _ in 0..3 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
        let mut seqs = Vec::new();
        while let Ok(n) = r.read_batch(4, |e| seqs.push(check(e, 16))) {
            assert!(n <= 4);
        }
        assert_eq!(seqs, (3..11).collect::<Vec<u64>>());
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn gated_ring_without_readers_never_fills() {
        let ring = GatedRing::<4, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        for _ in 0..100 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(ring.writer_stats().full_rejections, 0);
    }

    #[test]
    fn reader_leaving_no_longer_gates() {
        let ring = GatedRing::<4, 8, 2>::new();
        let mut w = ring.try_writer().unwrap();
        let mut fast = ring.join().unwrap();
        let slow = ring.join().unwrap();
        for _ in 0..4 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(fast.read_batch(10, |_| ()), Ok(4));
        assert_eq!(
            publish_checked(&mut w),
            Err(PublishError::Full),
            "slow gates"
        );
        assert_eq!(ring.max_backpressure().lag, 4);
        drop(slow);
        assert_eq!(ring.active_readers(), 1);
        for _ in 0..4 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(
            publish_checked(&mut w),
            Err(PublishError::Full),
            "fast gates"
        );
        assert_eq!(
            fast.read_batch(10, |e| {
                check(e, 8);
            }),
            Ok(4)
        );
        assert_eq!(fast.stats().seen, 8);
    }

    #[test]
    fn join_starts_after_join_returns() {
        let ring = GatedRing::<4, 8, 3>::new();
        let mut w = ring.try_writer().unwrap();
        for _ in 0..3 {
            publish_checked(&mut w).unwrap();
        }
        let mut late = ring.join().unwrap();
        assert_eq!(late.try_read(|_| ()), Err(ReadError::Empty));
        assert_eq!(late.lag(), 0);
        // The late reader gates from its start: the writer can fill a whole lap.
        for _ in 0..4 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
        assert_eq!(late.try_read(|e| check(e, 8)), Ok(3));
        // A registration freed by a leaver is reused and starts at the head.
        drop(late);
        let mut again = ring.join().unwrap();
        assert_eq!(again.id(), 0);
        assert_eq!(again.stats().seen, 0);
        publish_checked(&mut w).unwrap();
        assert_eq!(again.try_read(|e| e.header.seq), Ok(7));
        // Overwrite rings: the same start rule.
        let ring = OverwriteRing::<4, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        for _ in 0..9 {
            publish_checked(&mut w).unwrap();
        }
        let mut r = ring.join().unwrap();
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
        publish_checked(&mut w).unwrap();
        assert_eq!(r.try_read(|e| check(e, 8)), Ok(9));
    }

    #[test]
    fn too_many_readers_and_one_writer() {
        let ring = GatedRing::<4, 8, 2>::new();
        let a = ring.join().unwrap();
        let b = ring.join().unwrap();
        assert_eq!(
            ring.join().err(),
            Some(JoinError::TooManyReaders { max: 2 })
        );
        drop(a);
        let c = ring.join().unwrap();
        assert_eq!(c.id(), 0);
        drop((b, c));
        let w = ring.try_writer().unwrap();
        drop(w);
        assert_eq!(ring.try_writer().err(), Some(WriterError::AlreadyTaken));
    }

    #[test]
    fn too_large_is_an_error_value() {
        let ring = OverwriteRing::<4, 16, 1>::new();
        let mut w = ring.try_writer().unwrap();
        assert_eq!(
            w.try_publish(0, 0, &[0; 17]),
            Err(PublishError::TooLarge { len: 17, max: 16 })
        );
        let mut c = w.try_claim(2).unwrap();
        assert_eq!(
            c.push(0, 0, &[0; 1000]),
            Err(PublishError::TooLarge { len: 1000, max: 16 })
        );
        assert_eq!(c.push(0, 0, &[0; 16]), Ok(0));
        drop(c);
        assert_eq!(ring.published(), 1);
    }

    #[test]
    fn lapped_many_times_counts_exactly() {
        let ring = OverwriteRing::<8, 24, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let (mut seen, mut lost) = (0usize, 0usize);
        let mut expect = 0u64;
        let rounds = if cfg!(miri) { 20 } else { 2000 };
        for round in 0..rounds {
            // Between 0 and ~5 laps per round.
            for _ in 0..(round * 13) % 41 {
                publish_checked(&mut w).unwrap();
            }
            loop {
                match r.read_batch(3, |e| {
                    assert_eq!(check(e, 24), expect);
                    expect += 1;
                    seen += 1;
                }) {
                    Ok(_) => {}
                    Err(ReadError::Lagged(n)) => {
                        assert!(n > 0);
                        lost += n;
                        expect += n as u64;
                        // Resumed at the oldest intact event: exactly N behind the head.
                        assert_eq!(r.lag(), 8);
                    }
                    Err(ReadError::Empty) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert!(lost > 10 * 8, "lapped many times: lost {lost}");
        assert_eq!(seen + lost, ring.published());
        assert_eq!((r.seen(), r.lost()), (seen, lost));
        let stats = ring.reader_stats(r.id()).unwrap();
        assert_eq!((stats.seen, stats.lost, stats.lag), (seen, lost, 0));
    }

    #[test]
    fn closed_after_everything_read() {
        let ring = GatedRing::<4, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        publish_checked(&mut w).unwrap();
        assert_eq!(r.try_read(|_| ()), Ok(()));
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
        publish_checked(&mut w).unwrap();
        drop(w);
        assert_eq!(r.try_read(|e| e.header.seq), Ok(1));
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
        assert_eq!(r.read_batch(4, |_| ()), Err(ReadError::Closed));
    }

    #[test]
    fn claim_publishes_with_one_store_on_drop() {
        let ring = GatedRing::<16, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let mut c = w.try_claim(5).unwrap();
        for _ in 0..4 {
            let seq = c.writer.next_seq;
            c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 8)))
                .unwrap();
            assert_eq!(ring.published(), 0, "nothing visible before the claim ends");
            assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
        }
        assert_eq!(c.publish(), 4);
        assert_eq!(ring.published(), 4);
        let mut seqs = Vec::new();
        assert_eq!(r.read_batch(16, |e| seqs.push(check(e, 8))), Ok(4));
        assert_eq!(seqs, [0, 1, 2, 3]);
        // The unused reserved slot is simply the next one.
        assert_eq!(publish_checked(&mut w), Ok(4));
    }

    #[test]
    fn metrics_follow_lag_and_thresholds() {
        let ring = GatedRing::<16, 8, 2>::new();
        let mut w = ring.try_writer().unwrap();
        let mut a = ring.join().unwrap();
        let b = ring.join().unwrap();
        for _ in 0..6 {
            publish_checked(&mut w).unwrap();
        }
        a.read_batch(2, |_| ()).unwrap();
        assert_eq!(a.backpressure().lag, 4);
        assert_eq!(ring.reader_backpressure(b.id()).unwrap().lag, 6);
        assert!(!ring.max_backpressure().is_under_pressure());
        ring.set_thresholds(Thresholds {
            pressure_lag: 5,
            throttle_lag: 6,
        });
        assert!(ring.max_backpressure().should_throttle());
        assert!(!a.backpressure().is_under_pressure());
        assert_eq!(b.backpressure().backpressure_ratio(), 6.0 / 16.0);
        let s = ring.reader_stats(a.id()).unwrap();
        assert_eq!((s.lag, s.seen, s.lost), (4, 2, 0));
        drop(b);
        assert_eq!(ring.reader_stats(1), None);
        assert_eq!(ring.max_backpressure().lag, 4);
    }

    #[test]
    fn split_mut_without_compare_and_swap() {
        let mut ring = OverwriteRing::<4, 8, 3>::new();
        {
            let (mut w, [mut a, b]) = ring.split_mut::<2>();
            for _ in 0..6 {
                publish_checked(&mut w).unwrap();
            }
            assert_eq!(a.try_read(|_| ()), Err(ReadError::Lagged(2)));
            assert_eq!(b.lag(), 6);
            drop(w);
            assert_eq!(
                a.read_batch(10, |e| {
                    check(e, 8);
                }),
                Ok(4)
            );
            assert_eq!(a.try_read(|_| ()), Err(ReadError::Closed));
        }
        let (mut w, [mut r]) = ring.split_mut::<1>();
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty), "reopened");
        w.set_next_seq(6);
        publish_checked(&mut w).unwrap();
        assert_eq!(r.try_read(|e| check(e, 8)), Ok(6));
    }

    #[test]
    fn peek_does_not_consume() {
        let ring = OverwriteRing::<2, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        publish_checked(&mut w).unwrap();
        assert_eq!(r.peek_header().map(|h| h.seq), Ok(0));
        assert_eq!(r.peek_header().map(|h| h.seq), Ok(0));
        for _ in 0..3 {
            publish_checked(&mut w).unwrap();
        }
        assert_eq!(r.peek_header(), Err(ReadError::Lagged(2)));
        assert_eq!(r.try_read(|e| check(e, 8)), Ok(2));
    }

    #[test]
    fn wrapping_positions_keep_working() {
        // Start every cursor just below usize::MAX so positions wrap during the test.
        let start = usize::MAX - 5;
        for overwrite in [false, true] {
            let ring = OverwriteRing::<4, 8, 1>::new();
            let gated = GatedRing::<4, 8, 1>::new();
            ring.head.published.store(start, Ordering::Relaxed);
            ring.head.claim.store(start, Ordering::Relaxed);
            gated.head.published.store(start, Ordering::Relaxed);
            if overwrite {
                let mut w = ring.try_writer().unwrap();
                let mut r = ring.join().unwrap();
                w.set_next_seq(0);
                for _ in 0..20 {
                    publish_checked(&mut w).unwrap();
                }
                assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(16)));
                assert_eq!(
                    r.read_batch(8, |e| {
                        check(e, 8);
                    }),
                    Ok(4)
                );
            } else {
                let mut w = gated.try_writer().unwrap();
                let mut r = gated.join().unwrap();
                w.set_next_seq(0);
                for round in 0..5u64 {
                    for _ in 0..4 {
                        publish_checked(&mut w).unwrap();
                    }
                    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
                    let mut n = 0;
                    r.read_batch(8, |e| {
                        assert_eq!(check(e, 8), round * 4 + n);
                        n += 1;
                    })
                    .unwrap();
                    assert_eq!(n, 4);
                }
            }
        }
    }

    /// One writer and two readers on threads; every reader checks every event.
    fn gated_threads<W: WaitStrategy + Sync>(wait: &W, total: u64) {
        let owned = boxed(GatedRing::<64, 48, 2>::new());
        let ring = &*owned;
        let mut w = ring.try_writer().unwrap();
        let readers = [ring.join().unwrap(), ring.join().unwrap()];
        std::thread::scope(|s| {
            let handles = readers.map(|mut r| {
                s.spawn(move || {
                    let mut expect = 0u64;
                    loop {
                        match r.read_batch_wait(wait, 16, |e| {
                            assert_eq!(check(e, 48), expect);
                            expect += 1;
                        }) {
                            Ok(_) => {}
                            Err(ReadError::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    assert_eq!(r.lost(), 0);
                    expect
                })
            });
            let mut seq = 0u64;
            while seq < total {
                let mut c = w.claim_wait(wait, 1 + (seq % 23) as usize);
                while c.remaining() > 0 && seq < total {
                    c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 48)))
                        .unwrap();
                    seq += 1;
                }
            }
            drop(w);
            for h in handles {
                assert_eq!(h.join().unwrap(), total);
            }
        });
    }

    #[test]
    fn gated_threads_busy_spin() {
        // Busy-spinning threads that outnumber cores crawl (the collapse the default
        // strategy avoids), so this run is short.
        gated_threads(&BusySpin, if cfg!(miri) { 200 } else { 5_000 });
    }

    #[test]
    fn gated_threads_spin_then_yield() {
        gated_threads(
            &SpinThenYield::default(),
            if cfg!(miri) { 200 } else { 200_000 },
        );
    }

    #[test]
    fn gated_threads_blocking() {
        gated_threads(&Blocking::new(), if cfg!(miri) { 200 } else { 50_000 });
    }

    #[test]
    fn overwrite_threads_never_torn_and_exact() {
        let owned = boxed(OverwriteRing::<16, 64, 2>::new());
        let ring = &*owned;
        let mut w = ring.try_writer().unwrap();
        let readers = [ring.join().unwrap(), ring.join().unwrap()];
        let total: u64 = if cfg!(miri) { 500 } else { 300_000 };
        std::thread::scope(|s| {
            let handles = readers.map(|mut r| {
                s.spawn(move || {
                    let (mut expect, mut seen, mut lost) = (0u64, 0u64, 0u64);
                    loop {
                        match r.read_batch(4, |e| {
                            assert_eq!(check(e, 64), expect);
                            expect += 1;
                            seen += 1;
                        }) {
                            Ok(_) => {}
                            Err(ReadError::Lagged(n)) => {
                                lost += n as u64;
                                expect += n as u64;
                            }
                            Err(ReadError::Empty) => std::thread::yield_now(),
                            Err(ReadError::Closed) => break,
                        }
                    }
                    assert_eq!(r.seen() as u64, seen);
                    assert_eq!(r.lost() as u64, lost);
                    (seen, lost)
                })
            });
            for i in 0..total {
                if i % 4 == 0 {
                    publish_checked(&mut w).unwrap();
                } else if i % 4 == 1 {
                    let mut c = w.try_claim(3).unwrap();
                    for _ in 0..3 {
                        let seq = c.writer.next_seq;
                        c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 64)))
                            .unwrap();
                    }
                }
            }
            let published = ring.published() as u64;
            drop(w);
            for h in handles {
                let (seen, lost) = h.join().unwrap();
                assert_eq!(seen + lost, published, "seen {seen} lost {lost}");
            }
        });
    }

    #[test]
    fn readers_join_and_leave_while_running() {
        let owned = boxed(GatedRing::<8, 16, 2>::new());
        let ring = &*owned;
        let mut w = ring.try_writer().unwrap();
        let total: u64 = if cfg!(miri) { 300 } else { 100_000 };
        std::thread::scope(|s| {
            let churn = s.spawn(|| {
                let mut joins = 0;
                while ring.published() < total as usize - 50 {
                    // Join, read a contiguous run from the start, leave.
                    let Ok(mut r) = ring.join() else { continue };
                    joins += 1;
                    let mut last: Option<u64> = None;
                    for _ in 0..20 {
                        match r.try_read(|e| check(e, 16)) {
                            Ok(seq) => {
                                if let Some(prev) = last {
                                    assert_eq!(seq, prev + 1, "no gap while registered");
                                }
                                last = Some(seq);
                            }
                            Err(ReadError::Empty) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                joins
            });
            let mut seq = 0;
            let wait = SpinThenYield::default();
            while seq < total {
                w.publish_wait(&wait, seq as u16, seq * 3, &fill(seq, len_for(seq, 16)))
                    .unwrap();
                seq += 1;
            }
            assert!(churn.join().unwrap() > 0);
        });
    }
}
