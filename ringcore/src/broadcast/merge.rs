//! Replay-to-live merge: a [`MergingReader`] delivers a recording's records from a
//! [`ReplaySource`] (an archive that a recorder fills from the same ring) and then from the
//! live [`Ring`], switching exactly at the hand-over point: no gap, no duplicate.
//!
//! # The hand-over
//!
//! The reader tracks `next`, the sequence it delivers next (everything below was
//! delivered once, in order). Every record, replayed or live, goes through one check,
//! [`hand_over`]: a record below `next` is dropped (already delivered), the record `next`
//! is delivered, and a live record above `next` means the live ring starts past what was
//! delivered, so the records in between must come from the archive first.
//!
//! 1. *Catch up*: while the archive holds records at or past `next`, replay them without
//!    joining the ring (a gated reader that joined would hold the writer back for the
//!    whole replay).
//! 2. *Join*: once the archive's durable end is reached, [`Ring::join`]. The first live
//!    record (peeked, not consumed) has sequence `L`.
//! 3. *Replay to the hand-over*: while `next < L`, replay `next..L` from the archive,
//!    waiting (returning [`MergeError::Empty`]) while the recorder has not made them
//!    durable yet. Every record the ring published before the join is in the archive or
//!    on its way there, and every later one is on the ring, so `next..L` arrives.
//! 4. *Live*: once `L <= next`, read the ring, dropping live records below `next`.
//!
//! An overwrite reader lapped during the hand-over or afterwards
//! ([`ReadError::Lagged`]) lost only records the archive has:
//! the merging reader falls back to step 3 with the ring's new first record and tries
//! again. A live record above `next` (a lap detected mid-batch, or a writer that skipped
//! sequences with [`Writer::set_next_seq`](super::Writer::set_next_seq)) does the same.
//!
//! The merge adds no atomic of its own: it composes [`Reader`]'s protocol (modelled in
//! `loom-tests/tests/broadcast.rs`) with the source's, and `loom-tests/tests/merge.rs`
//! models the hand-over with a writer, a recorder and a merging reader.
//!
//! # Example
//!
//! ```
//! use core::ops::ControlFlow;
//! use ringcore::broadcast::merge::{MergeError, MergingReader, ReplaySource};
//! use ringcore::broadcast::{GatedRing, RecordView};
//! use ringcore::frame::FrameHeader;
//!
//! /// An archive in memory: (sequence, payload), in order.
//! struct Archive(Vec<(u64, Vec<u8>)>);
//!
//! impl ReplaySource for Archive {
//!     type Error = core::convert::Infallible;
//!     fn durable_end(&mut self) -> Result<u64, Self::Error> {
//!         Ok(self.0.last().map_or(0, |(seq, _)| seq + 1))
//!     }
//!     fn is_complete(&mut self) -> Result<bool, Self::Error> {
//!         Ok(true)
//!     }
//!     fn replay(
//!         &mut self,
//!         from: u64,
//!         until: u64,
//!         max: usize,
//!         f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
//!     ) -> Result<usize, Self::Error> {
//!         let mut n = 0;
//!         for (seq, payload) in self.0.iter().filter(|(s, _)| *s >= from && *s < until).take(max) {
//!             let header = FrameHeader { seq: *seq, len: payload.len() as u32, ..Default::default() };
//!             n += 1;
//!             if f(RecordView { header, payload }).is_break() {
//!                 break;
//!             }
//!         }
//!         Ok(n)
//!     }
//! }
//!
//! let ring = GatedRing::<8, 8, 2>::new();
//! let mut writer = ring.try_writer().unwrap();
//! // Three records were published and recorded before the subscriber came.
//! let archive = Archive((0..3).map(|s| (s, vec![s as u8])).collect());
//! writer.set_next_seq(3);
//!
//! let mut merged = MergingReader::new(&ring, archive, 0);
//! let mut seen = Vec::new();
//! while merged.read_batch(8, |e| seen.push(e.header.seq)).is_ok() {}
//! assert!(merged.is_joined());
//! writer.try_publish(0, 0, b"live").unwrap();
//! assert_eq!(merged.read_batch(8, |e| seen.push(e.header.seq)), Ok(1));
//! assert_eq!(seen, [0, 1, 2, 3]);
//! assert!(merged.is_live());
//! drop(writer);
//! assert_eq!(merged.read_batch(8, |_| ()), Err(MergeError::Closed));
//! ```
#![cfg(ringcore_cas)]

use core::ops::ControlFlow;

use super::error::{JoinError, ReadError};
use super::reader::Reader;
use super::ring::{Policy, Ring};
use crate::frame::RecordView;

/// An archive of a recording that a [`MergingReader`] replays: records in sequence order,
/// each sequence once, as durable (or as far as the archive says it holds them).
///
/// ```
/// use core::ops::ControlFlow;
/// use ringcore::broadcast::RecordView;
/// use ringcore::broadcast::merge::ReplaySource;
///
/// /// An archive that holds nothing yet.
/// struct Nothing;
/// impl ReplaySource for Nothing {
///     type Error = ();
///     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
///     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
///     fn replay(
///         &mut self, _: u64, _: u64, _: usize,
///         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
///     ) -> Result<usize, ()> { Ok(0) }
/// }
/// assert_eq!(Nothing.durable_end(), Ok(0));
/// ```
pub trait ReplaySource {
    /// Why the archive could not be read.
    type Error;

    /// One past the sequence of the last record the archive holds durably (0 when it
    /// holds none): a replay from below this value returns at least one record.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// struct Counted(u64);
    /// impl ReplaySource for Counted {
    ///     type Error = ();
    ///     fn durable_end(&mut self) -> Result<u64, ()> { Ok(self.0) }
    ///     fn is_complete(&mut self) -> Result<bool, ()> { Ok(false) }
    ///     fn replay(&mut self, _: u64, _: u64, _: usize,
    ///         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// }
    /// assert_eq!(Counted(5).durable_end(), Ok(5));
    /// ```
    fn durable_end(&mut self) -> Result<u64, Self::Error>;

    /// Whether the archive is complete: its recorder stopped, and no record will be
    /// added after [`ReplaySource::durable_end`]. A merging reader whose ring was closed
    /// asks this before it reports [`MergeError::Closed`], since records published
    /// before it joined may still be on their way into the archive.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// struct Sealed;
    /// impl ReplaySource for Sealed {
    ///     type Error = ();
    ///     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    ///     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    ///     fn replay(&mut self, _: u64, _: u64, _: usize,
    ///         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// }
    /// assert_eq!(Sealed.is_complete(), Ok(true));
    /// ```
    fn is_complete(&mut self) -> Result<bool, Self::Error>;

    /// Calls `f` for the records with sequences in `from..until`, in order, starting at
    /// `from`, at most `max` of them (at least one when `max` is 0), stopping after the
    /// record for which `f` returns [`ControlFlow::Break`]; returns how many `f` was
    /// called for. Returns 0 when the archive holds no record at or past `from` yet (the
    /// recorder is behind). A record missing from the archive (a sequence skipped) is
    /// passed on as the next one there is: the merging reader reports the gap.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # use ringcore::frame::FrameHeader;
    /// struct Upto(u64);
    /// impl ReplaySource for Upto {
    ///     type Error = ();
    ///     fn durable_end(&mut self) -> Result<u64, ()> { Ok(self.0) }
    ///     fn is_complete(&mut self) -> Result<bool, ()> { Ok(false) }
    ///     fn replay(&mut self, from: u64, until: u64, max: usize,
    ///         f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> {
    ///         let mut n = 0;
    ///         for seq in (from..until.min(self.0)).take(max.max(1)) {
    ///             n += 1;
    ///             let header = FrameHeader { seq, ..Default::default() };
    ///             if f(RecordView { header, payload: &[] }).is_break() { break; }
    ///         }
    ///         Ok(n)
    ///     }
    /// }
    /// let mut got = Vec::new();
    /// let n = Upto(10).replay(4, 7, 8, &mut |e| { got.push(e.header.seq); ControlFlow::Continue(()) });
    /// assert_eq!((n, got), (Ok(3), vec![4, 5, 6]));
    /// ```
    fn replay(
        &mut self,
        from: u64,
        until: u64,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
    ) -> Result<usize, Self::Error>;
}

/// Why a [`MergingReader`] delivered nothing.
///
/// ```
/// use ringcore::broadcast::merge::MergeError;
/// let e: MergeError<core::fmt::Error> = MergeError::Gap { expected: 3, found: 5 };
/// assert_eq!(e.to_string(), "the archive skips from sequence 3 to 5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeError<E> {
    /// Nothing to deliver now: the ring has nothing new, or the hand-over waits for the
    /// recorder to make the records before the live ring's first one durable. Retry.
    Empty,
    /// The ring's writer closed it and every record up to its last one was delivered.
    Closed,
    /// The archive has no record `expected` but a later one, `found` (for instance the
    /// front of the recording was cut by retention): the records in between are lost.
    /// The reader stays at `expected`.
    Gap {
        /// The sequence that was due.
        expected: u64,
        /// The sequence the archive had instead.
        found: u64,
    },
    /// The ring had no free reader registration to join; retry after a reader leaves.
    Join(JoinError),
    /// The archive could not be read.
    Source(E),
}

impl<E: core::fmt::Display> core::fmt::Display for MergeError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("no record to deliver yet"),
            Self::Closed => f.write_str("the ring was closed and every record was delivered"),
            Self::Gap { expected, found } => {
                write!(f, "the archive skips from sequence {expected} to {found}")
            }
            Self::Join(e) => write!(f, "cannot join the live ring: {e}"),
            Self::Source(e) => write!(f, "cannot read the archive: {e}"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for MergeError<E> {}

/// What the hand-over check says about a record with sequence `seq` when the reader
/// delivers `next` next.
///
/// ```
/// use ringcore::broadcast::merge::{HandOver, hand_over};
/// assert_eq!(hand_over(4, 5), HandOver::Drop);
/// assert_eq!(hand_over(5, 5), HandOver::Deliver);
/// assert_eq!(hand_over(9, 5), HandOver::Behind);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOver {
    /// Already delivered: skip it.
    Drop,
    /// The record due: deliver it.
    Deliver,
    /// Past the record due: the ones in between must come from the archive first.
    Behind,
}

/// The hand-over check: every record, replayed or live, goes through it (see the module
/// docs).
///
/// ```
/// use ringcore::broadcast::merge::{HandOver, hand_over};
/// assert_eq!(hand_over(0, 0), HandOver::Deliver);
/// ```
#[inline]
pub fn hand_over(seq: u64, next: u64) -> HandOver {
    use core::cmp::Ordering::*;
    match seq.cmp(&next) {
        Less => HandOver::Drop,
        Equal => HandOver::Deliver,
        Greater => HandOver::Behind,
    }
}

/// Counters of a [`MergingReader`].
///
/// ```
/// let s = ringcore::broadcast::merge::MergeStats::default();
/// assert_eq!(s.replayed + s.live + s.dropped + s.fallbacks, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Records delivered from the archive.
    pub replayed: u64,
    /// Records delivered from the live ring.
    pub live: u64,
    /// Records skipped because they were already delivered (live records the archive
    /// delivered first, or duplicates in the archive).
    pub dropped: u64,
    /// Times the reader went back from live to replay (an overwrite reader lapped, or a
    /// live record past the one due).
    pub fallbacks: u64,
}

/// A reader that delivers a recording from sequence `from` on: first from a
/// [`ReplaySource`], then from the live ring, each sequence exactly once and in order (see
/// the module docs for the hand-over). `Send` when the source is; dropping it leaves the
/// ring. Forgetting it (`mem::forget`) keeps its registration, as forgetting a
/// [`Reader`] does: a gated writer then waits for it forever.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
/// # struct Nothing;
/// # impl ReplaySource for Nothing {
/// #     type Error = ();
/// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
/// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
/// #     fn replay(&mut self, _: u64, _: u64, _: usize,
/// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
/// # }
/// use ringcore::broadcast::{OverwriteRing, merge::MergingReader};
/// let ring = OverwriteRing::<4, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut m = MergingReader::new(&ring, Nothing, 0);
/// assert!(m.read_batch(4, |_| ()).is_err()); // joins: the archive is empty
/// w.try_publish(0, 0, b"a").unwrap();
/// assert_eq!(m.read_batch(4, |e| assert_eq!(e.payload, b"a")), Ok(1));
/// assert_eq!(m.next_seq(), 1);
/// ```
pub struct MergingReader<'a, S, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    ring: &'a Ring<P, N, PAYLOAD, R>,
    source: S,
    live: Option<Reader<'a, P, N, PAYLOAD, R>>,
    /// The sequence delivered next; every one below was delivered.
    next: u64,
    /// Whether the last check of the live ring's first record said it is due.
    on_live: bool,
    /// One past the highest sequence the live reader showed (peeked or read): a closed
    /// ring has nothing past it, and what is below it is in the archive or delivered.
    live_end: u64,
    stats: MergeStats,
}

impl<S, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for MergingReader<'_, S, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MergingReader")
            .field("next", &self.next)
            .field("joined", &self.live.is_some())
            .field("live", &self.on_live)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a, S: ReplaySource, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    MergingReader<'a, S, P, N, PAYLOAD, R>
{
    /// A reader of `ring`'s recording from sequence `from`, replaying from `source` first.
    /// It joins the ring on a later read, once it has caught up with the archive.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 7);
    /// assert_eq!((m.next_seq(), m.is_joined()), (7, false));
    /// ```
    pub fn new(ring: &'a Ring<P, N, PAYLOAD, R>, source: S, from: u64) -> Self {
        MergingReader {
            ring,
            source,
            live: None,
            next: from,
            on_live: false,
            live_end: 0,
            stats: MergeStats::default(),
        }
    }

    /// Delivers up to `max` records (at least one) in sequence order, calling `f` for each;
    /// returns how many. Errors: [`MergeError::Empty`] (retry), [`MergeError::Closed`]
    /// (the end), [`MergeError::Gap`], [`MergeError::Join`], [`MergeError::Source`].
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// use ringcore::broadcast::{GatedRing, merge::{MergeError, MergingReader}};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let w = ring.try_writer().unwrap();
    /// let mut m = MergingReader::new(&ring, Nothing, 0);
    /// assert_eq!(m.read_batch(4, |_| ()), Err(MergeError::Empty));
    /// drop(w);
    /// assert_eq!(m.read_batch(4, |_| ()), Err(MergeError::Closed));
    /// ```
    pub fn read_batch(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, MergeError<S::Error>> {
        let max = max.max(1);
        if self.live.is_none() {
            let end = self.source.durable_end().map_err(MergeError::Source)?;
            if self.next < end {
                // Catch up before joining: a gated reader would hold the writer back.
                return self.replay(u64::MAX, max, &mut f);
            }
            self.live = Some(self.ring.join().map_err(MergeError::Join)?);
        }
        if !self.on_live {
            return self.towards_hand_over(max, &mut f);
        }
        self.read_live(max, &mut f)
    }

    /// Like [`MergingReader::read_batch`] for one record, returning what `f` returns.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// use ringcore::broadcast::{GatedRing, merge::{MergeError, MergingReader}};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut m = MergingReader::new(&ring, Nothing, 0);
    /// assert_eq!(m.try_read(|e| e.header.seq), Err(MergeError::Empty));
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(m.try_read(|e| e.header.seq), Ok(0));
    /// ```
    pub fn try_read<T>(
        &mut self,
        f: impl FnOnce(RecordView<'_>) -> T,
    ) -> Result<T, MergeError<S::Error>> {
        let mut f = Some(f);
        let mut out = None;
        self.read_batch(1, |e| {
            if let Some(f) = f.take() {
                out = Some(f(e));
            }
        })?;
        // read_batch returned Ok: it delivered exactly one record (max 1).
        out.ok_or(MergeError::Empty)
    }

    /// Joined, not yet live: checks the live ring's first record against `next`.
    fn towards_hand_over(
        &mut self,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<usize, MergeError<S::Error>> {
        let Some(live) = self.live.as_mut() else {
            return Err(MergeError::Empty);
        };
        let first = live.peek_header();
        if let Ok(first) = first {
            self.live_end = self.live_end.max(first.seq.saturating_add(1));
        }
        match first {
            Ok(first) => match hand_over(first.seq, self.next) {
                HandOver::Drop | HandOver::Deliver => {
                    self.on_live = true;
                    self.read_live(max, f)
                }
                // The archive must deliver next..first.seq before the ring can.
                HandOver::Behind => self.replay(first.seq, max, f),
            },
            // The first live record is not published yet: what the archive has now is
            // below it, since every record it holds was published.
            Err(ReadError::Empty) => self.replay(u64::MAX, max, f),
            // Lapped before the hand-over: the reader moved on; check its new first record
            // on the next call.
            Err(ReadError::Lagged(_)) => {
                self.stats.fallbacks += 1;
                self.replay(u64::MAX, max, f)
            }
            // The rest is in the archive (or on its way): below `live_end` the live reader
            // showed it was published; past it, only a complete archive says it is all.
            Err(ReadError::Closed) => match self.replay(u64::MAX, max, f) {
                Err(MergeError::Empty) if self.next >= self.live_end => {
                    if !self.source.is_complete().map_err(MergeError::Source)? {
                        return Err(MergeError::Empty);
                    }
                    // The recorder may have appended its last records and then stopped
                    // since the replay above.
                    match self.replay(u64::MAX, max, f) {
                        Err(MergeError::Empty) => Err(MergeError::Closed),
                        other => other,
                    }
                }
                other => other,
            },
        }
    }

    /// Live: reads the ring, dropping what was delivered, falling back to replay after a
    /// lap or a live record past `next`.
    fn read_live(
        &mut self,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<usize, MergeError<S::Error>> {
        let Some(live) = self.live.as_mut() else {
            return Err(MergeError::Empty);
        };
        let (mut next, mut delivered, mut dropped, mut behind) = (self.next, 0, 0u64, false);
        let mut live_end = self.live_end;
        let result = live.read_batch_until(max, |e| {
            live_end = live_end.max(e.header.seq.saturating_add(1));
            match hand_over(e.header.seq, next) {
                HandOver::Drop => {
                    dropped += 1;
                    ControlFlow::Continue(())
                }
                HandOver::Deliver => {
                    f(e);
                    next += 1;
                    delivered += 1;
                    ControlFlow::Continue(())
                }
                HandOver::Behind => {
                    // Consumed but not delivered: the archive has it, and replay brings it.
                    behind = true;
                    ControlFlow::Break(())
                }
            }
        });
        self.live_end = live_end;
        self.next = next;
        self.stats.live += delivered as u64;
        self.stats.dropped += dropped;
        if behind {
            self.on_live = false;
            self.stats.fallbacks += 1;
        }
        match result {
            Ok(_) if delivered > 0 => Ok(delivered),
            Ok(_) => Err(MergeError::Empty),
            Err(ReadError::Lagged(_)) => {
                self.on_live = false;
                self.stats.fallbacks += 1;
                Err(MergeError::Empty)
            }
            Err(ReadError::Empty) => Err(MergeError::Empty),
            Err(ReadError::Closed) => Err(MergeError::Closed),
        }
    }

    /// Replays `next..until` (at most `max`) from the archive.
    fn replay(
        &mut self,
        until: u64,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>),
    ) -> Result<usize, MergeError<S::Error>> {
        let (mut next, mut delivered, mut dropped, mut gap) = (self.next, 0usize, 0u64, None);
        // The batch's bound is kept here, not trusted to the source: one that hands out
        // more would have `try_read` advance past records it never showed.
        let limit = max.max(1);
        let result =
            self.source.replay(
                self.next,
                until,
                max,
                &mut |e| match hand_over(e.header.seq, next) {
                    HandOver::Drop => {
                        dropped += 1;
                        ControlFlow::Continue(())
                    }
                    HandOver::Deliver if delivered >= limit => ControlFlow::Break(()),
                    HandOver::Deliver => {
                        f(e);
                        next += 1;
                        delivered += 1;
                        ControlFlow::Continue(())
                    }
                    HandOver::Behind => {
                        gap = Some(e.header.seq);
                        ControlFlow::Break(())
                    }
                },
            );
        self.next = next;
        self.stats.replayed += delivered as u64;
        self.stats.dropped += dropped;
        result.map_err(MergeError::Source)?;
        match gap {
            _ if delivered > 0 => Ok(delivered),
            Some(found) => Err(MergeError::Gap {
                expected: next,
                found,
            }),
            None => Err(MergeError::Empty),
        }
    }

    /// The sequence delivered next (every one below it was delivered).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 3);
    /// assert_eq!(m.next_seq(), 3);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Whether the reader has joined the live ring (it joins once it caught up with the
    /// archive).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 0);
    /// let _ = m.read_batch(1, |_| ());
    /// assert!(m.is_joined());
    /// assert_eq!(ring.active_readers(), 1);
    /// ```
    pub fn is_joined(&self) -> bool {
        self.live.is_some()
    }

    /// Whether the reader reads the live ring (past the hand-over and not fallen back).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 0);
    /// assert!(!m.is_live());
    /// let _ = m.read_batch(1, |_| ());
    /// w.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(m.read_batch(1, |_| ()), Ok(1));
    /// assert!(m.is_live());
    /// ```
    pub fn is_live(&self) -> bool {
        self.on_live
    }

    /// The reader's counters.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 0);
    /// assert_eq!(m.stats().live, 0);
    /// ```
    pub fn stats(&self) -> MergeStats {
        self.stats
    }

    /// The archive (to query it while merging).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 0);
    /// assert_eq!(m.source_mut().durable_end(), Ok(0));
    /// ```
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Leaves the live ring (if joined) and returns the archive; the reader stood at
    /// [`MergingReader::next_seq`].
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use ringcore::broadcast::{RecordView, merge::ReplaySource};
    /// # struct Nothing;
    /// # impl ReplaySource for Nothing {
    /// #     type Error = ();
    /// #     fn durable_end(&mut self) -> Result<u64, ()> { Ok(0) }
    /// #     fn is_complete(&mut self) -> Result<bool, ()> { Ok(true) }
    /// #     fn replay(&mut self, _: u64, _: u64, _: usize,
    /// #         _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>) -> Result<usize, ()> { Ok(0) }
    /// # }
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut m = ringcore::broadcast::merge::MergingReader::new(&ring, Nothing, 0);
    /// let _ = m.read_batch(1, |_| ());
    /// assert_eq!(ring.active_readers(), 1);
    /// let _archive: Nothing = m.into_source();
    /// assert_eq!(ring.active_readers(), 0);
    /// ```
    pub fn into_source(self) -> S {
        self.source
    }
}

#[cfg(all(test, not(ringcore_loom)))]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::vec::Vec;

    use super::*;
    use crate::broadcast::{GatedRing, JoinError, OverwriteRing, PublishError};
    use crate::frame::FrameHeader;

    /// An archive in memory shared between a recorder and replays: payload of event `i`
    /// at index `i`, and whether the recorder stopped.
    #[derive(Default)]
    struct Archive(Mutex<(Vec<u64>, bool)>);

    struct Replay(Arc<Archive>);

    impl ReplaySource for Replay {
        type Error = core::convert::Infallible;
        fn durable_end(&mut self) -> Result<u64, Self::Error> {
            Ok(self.0.0.lock().unwrap().0.len() as u64)
        }
        fn is_complete(&mut self) -> Result<bool, Self::Error> {
            Ok(self.0.0.lock().unwrap().1)
        }
        fn replay(
            &mut self,
            from: u64,
            until: u64,
            max: usize,
            f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
        ) -> Result<usize, Self::Error> {
            let batch: Vec<u64> = {
                let g = self.0.0.lock().unwrap();
                (from..until.min(g.0.len() as u64))
                    .take(max.max(1))
                    .map(|s| g.0[s as usize])
                    .collect()
            };
            let mut n = 0;
            for (i, value) in batch.iter().enumerate() {
                n += 1;
                let bytes = value.to_le_bytes();
                let header = FrameHeader {
                    seq: from + i as u64,
                    len: 8,
                    ..Default::default()
                };
                if f(RecordView {
                    header,
                    payload: &bytes,
                })
                .is_break()
                {
                    break;
                }
            }
            Ok(n)
        }
    }

    fn value(seq: u64) -> u64 {
        seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Reads every record until the end; checks each payload against its sequence.
    fn merge_all<S: ReplaySource, P: Policy, const N: usize, const R: usize>(
        m: &mut MergingReader<'_, S, P, N, 8, R>,
    ) -> Vec<u64>
    where
        S::Error: core::fmt::Debug,
    {
        let mut seen = Vec::new();
        loop {
            match m.read_batch(7, |e| {
                assert_eq!(e.payload, value(e.header.seq).to_le_bytes());
                seen.push(e.header.seq);
            }) {
                Ok(_) => {}
                Err(MergeError::Empty) => std::thread::yield_now(),
                Err(MergeError::Closed) => return seen,
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn gated_threads_no_gap_no_duplicate() {
        // Miri runs every ringcore test (CI's miri step): fewer rounds there.
        let rounds = if cfg!(miri) { 3 } else { 200 };
        for round in 0..rounds {
            let events = 50 + round % 13;
            let ring = GatedRing::<4, 8, 2>::new();
            let archive = Arc::new(Archive::default());
            let mut w = ring.try_writer().unwrap();
            let mut recorder = ring.join().unwrap();
            let seen = std::thread::scope(|s| {
                s.spawn(move || {
                    for seq in 0..events {
                        while let Err(PublishError::Full) =
                            w.try_publish(0, 0, &value(seq).to_le_bytes())
                        {
                            std::thread::yield_now();
                        }
                    }
                });
                let a = archive.clone();
                s.spawn(move || {
                    loop {
                        match recorder
                            .read_batch(3, |e| a.0.lock().unwrap().0.push(value(e.header.seq)))
                        {
                            Ok(_) => {}
                            Err(ReadError::Empty) => std::thread::yield_now(),
                            Err(_) => break,
                        }
                    }
                    a.0.lock().unwrap().1 = true;
                });
                let a = archive.clone();
                let ring = &ring;
                s.spawn(move || {
                    for _ in 0..round % 5 {
                        std::thread::yield_now();
                    }
                    let mut m = MergingReader::new(ring, Replay(a), 0);
                    merge_all(&mut m)
                })
                .join()
                .unwrap()
            });
            assert_eq!(seen, (0..events).collect::<Vec<_>>(), "round {round}");
        }
    }

    #[test]
    fn overwrite_reader_lapped_falls_back_and_sees_everything() {
        // The writer records each event before it publishes it; a slow merging reader on
        // a 2-slot overwrite ring is lapped again and again and must still see 0..n once.
        let events = if cfg!(miri) { 40 } else { 3_000u64 };
        let ring = OverwriteRing::<2, 8, 3>::new();
        let archive = Arc::new(Archive::default());
        let mut w = ring.try_writer().unwrap();
        let (seen, stats) = std::thread::scope(|s| {
            let a = archive.clone();
            s.spawn(move || {
                for seq in 0..events {
                    a.0.lock().unwrap().0.push(value(seq));
                    w.try_publish(0, 0, &value(seq).to_le_bytes()).unwrap();
                }
                a.0.lock().unwrap().1 = true;
            });
            // Readers joining and leaving from another thread while the writer runs.
            s.spawn(|| {
                for _ in 0..if cfg!(miri) { 5 } else { 200 } {
                    if let Ok(mut r) = ring.join() {
                        let _ = r.try_read(|_| ());
                    }
                }
            });
            let a = archive.clone();
            let ring = &ring;
            s.spawn(move || {
                let mut m = MergingReader::new(ring, Replay(a), 0);
                (merge_all(&mut m), m.stats())
            })
            .join()
            .unwrap()
        });
        assert_eq!(seen, (0..events).collect::<Vec<_>>());
        assert_eq!(stats.replayed + stats.live, events);
    }

    #[test]
    fn forgotten_merging_reader_keeps_gating_and_others_are_unaffected() {
        let ring = GatedRing::<2, 8, 2>::new();
        let archive = Arc::new(Archive::default());
        let mut w = ring.try_writer().unwrap();
        // A source that owns no heap memory: forgetting the reader leaks nothing Miri
        // would report, only the ring registration under test.
        struct NoArchive;
        impl ReplaySource for NoArchive {
            type Error = ();
            fn durable_end(&mut self) -> Result<u64, ()> {
                Ok(0)
            }
            fn is_complete(&mut self) -> Result<bool, ()> {
                Ok(false)
            }
            fn replay(
                &mut self,
                _: u64,
                _: u64,
                _: usize,
                _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
            ) -> Result<usize, ()> {
                Ok(0)
            }
        }
        let mut m = MergingReader::new(&ring, NoArchive, 0);
        assert_eq!(m.read_batch(1, |_| ()), Err(MergeError::Empty));
        assert!(m.is_joined());
        core::mem::forget(m);
        // Its registration stays: the writer fills the ring and then waits, as for a
        // forgotten Reader; nothing is torn or freed.
        w.try_publish(0, 0, &value(0).to_le_bytes()).unwrap();
        w.try_publish(0, 0, &value(1).to_le_bytes()).unwrap();
        assert_eq!(w.try_publish(0, 0, b"x"), Err(PublishError::Full));
        assert_eq!(ring.active_readers(), 1);
        // A second merging reader joins and reads from its join on.
        let mut second = MergingReader::new(&ring, Replay(archive), 2);
        assert_eq!(second.read_batch(1, |_| ()), Err(MergeError::Empty));
        assert_eq!(ring.active_readers(), 2);
        assert_eq!(
            MergingReader::new(&ring, Replay(Arc::default()), 0).read_batch(1, |_| ()),
            Err(MergeError::Join(JoinError::TooManyReaders { max: 2 }))
        );
    }

    #[test]
    fn archive_with_a_hole_is_a_gap_error_not_a_silent_skip() {
        struct Holey;
        impl ReplaySource for Holey {
            type Error = ();
            fn durable_end(&mut self) -> Result<u64, ()> {
                Ok(10)
            }
            fn is_complete(&mut self) -> Result<bool, ()> {
                Ok(true)
            }
            fn replay(
                &mut self,
                from: u64,
                _: u64,
                _: usize,
                f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
            ) -> Result<usize, ()> {
                // 0..3, then 7: sequences 3..7 were cut.
                let seq = if from < 3 { from } else { 7 };
                let header = FrameHeader {
                    seq,
                    ..Default::default()
                };
                let _ = f(RecordView {
                    header,
                    payload: &[],
                });
                Ok(1)
            }
        }
        let ring = GatedRing::<2, 8, 1>::new();
        let mut m = MergingReader::new(&ring, Holey, 0);
        for expect in 0..3 {
            assert_eq!(m.try_read(|e| e.header.seq), Ok(expect));
        }
        for _ in 0..2 {
            assert_eq!(
                m.read_batch(4, |_| panic!("nothing past the hole")),
                Err(MergeError::Gap {
                    expected: 3,
                    found: 7
                })
            );
        }
        assert_eq!(m.next_seq(), 3);
    }

    #[test]
    fn source_errors_and_replays_past_the_request_are_handled() {
        struct Failing;
        impl ReplaySource for Failing {
            type Error = &'static str;
            fn durable_end(&mut self) -> Result<u64, &'static str> {
                Err("disk on fire")
            }
            fn is_complete(&mut self) -> Result<bool, &'static str> {
                Err("disk on fire")
            }
            fn replay(
                &mut self,
                _: u64,
                _: u64,
                _: usize,
                _: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
            ) -> Result<usize, &'static str> {
                Err("disk on fire")
            }
        }
        let ring = GatedRing::<2, 8, 1>::new();
        let mut m = MergingReader::new(&ring, Failing, 0);
        assert_eq!(
            m.read_batch(1, |_| ()),
            Err(MergeError::Source("disk on fire"))
        );
        assert_eq!(
            std::format!("{}", MergeError::Source("disk on fire")),
            "cannot read the archive: disk on fire"
        );
    }

    #[test]
    fn a_source_that_ignores_max_and_repeats_itself_delivers_at_most_max_in_order() {
        /// Hands out 20 records per call whatever `max` says, each twice, starting two
        /// below `from`; its durable end goes up and down between calls.
        struct Liar(u64);
        impl ReplaySource for Liar {
            type Error = ();
            fn durable_end(&mut self) -> Result<u64, ()> {
                self.0 += 1;
                Ok(if self.0.is_multiple_of(2) { 100 } else { 3 })
            }
            fn is_complete(&mut self) -> Result<bool, ()> {
                Ok(true)
            }
            fn replay(
                &mut self,
                from: u64,
                _: u64,
                _: usize,
                f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
            ) -> Result<usize, ()> {
                let mut n = 0;
                for seq in from.saturating_sub(2)..from + 20 {
                    for _ in 0..2 {
                        n += 1;
                        let bytes = value(seq).to_le_bytes();
                        let header = FrameHeader {
                            seq,
                            len: 8,
                            ..Default::default()
                        };
                        if f(RecordView {
                            header,
                            payload: &bytes,
                        })
                        .is_break()
                        {
                            return Ok(n);
                        }
                    }
                }
                Ok(n)
            }
        }
        let ring = GatedRing::<2, 8, 1>::new();
        let mut m = MergingReader::new(&ring, Liar(0), 0);
        let mut seen = Vec::new();
        for max in [1usize, 3, 5, 2, 7] {
            let mut this_call = 0;
            match m.read_batch(max, |e| {
                assert_eq!(e.payload, value(e.header.seq).to_le_bytes());
                seen.push(e.header.seq);
                this_call += 1;
            }) {
                Ok(n) => assert_eq!(n, this_call),
                Err(e) => panic!("{e:?}"),
            }
            assert!(this_call <= max, "{this_call} records for a batch of {max}");
        }
        // One at a time: none of the extra records the source hands out is skipped.
        for _ in 0..30 {
            let seq = m.try_read(|e| e.header.seq).unwrap();
            seen.push(seq);
        }
        assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>());
        assert_eq!(m.next_seq(), seen.len() as u64);
    }
}
