//! What the ring tells about itself while it runs: the writer's and each reader's
//! counters, their lag against the capacity, and the thresholds at which a lag counts as
//! pressure. Every value here is a snapshot taken with `Relaxed` loads: metrics never
//! order anything.

use super::positions::{is_active, lag_behind, snapshot_lag};
use super::ring::{Policy, Ring};
use crate::sync::Ordering;

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
    /// Publish attempts rejected with [`PublishError::Full`](super::PublishError::Full) (a waiting publish counts
    /// once).
    pub full_rejections: usize,
}

/// One reader's counters. From [`Reader::stats`](super::Reader::stats) they are exact; from
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
/// // Lapped, it resumed half a ring (1 slot) behind the head: it read only event 4.
/// assert_eq!((s.seen, s.lost, s.lag), (1, 4, 0));
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

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Ring<P, N, PAYLOAD, R> {
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
    /// `id` now. Callable from any thread while the ring runs. The lag is exact up to
    /// `usize::MAX / 4` events (the ring's range, 2^30 on 32-bit targets); `seen` and
    /// `lost` are the reader's own counters as of its last read.
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
        if !is_active(word) {
            return None;
        }
        Some(ReaderStats {
            id,
            lag: snapshot_lag(lag_behind(head, word)),
            seen: reg.seen.load(Ordering::Relaxed),
            lost: reg.lost.load(Ordering::Relaxed),
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
            .filter(|r| is_active(r.word.load(Ordering::Relaxed)))
            .count()
    }

    pub(super) fn backpressure_of(&self, lag: usize) -> Backpressure {
        Backpressure {
            lag,
            capacity: N,
            thresholds: self.thresholds(),
        }
    }
}
