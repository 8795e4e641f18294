//! Drain a ring into several consumers, with per-consumer statistics.
//!
//! Three pieces:
//!
//! * [`EventSource`]: anything that hands out records in batches and releases each batch
//!   with one cursor store. Implemented here for [`spsc::Consumer`]; a broadcast reader
//!   implements it the same way (see the trait's docs for the contract).
//! * [`EventConsumer`]: what receives the records. Closures
//!   `FnMut(RecordView<'_>) -> Result<(), E>` are consumers too.
//! * [`Dispatcher`]: a fixed set of `K` consumers (an array of `&mut dyn EventConsumer`, no
//!   heap) that every record of a batch is handed to, in array order, with
//!   [`ConsumerStats`] per consumer and an [`ErrorPolicy`] that says whether a consumer's
//!   error stops the dispatch or is counted and passed over.
//!
//! # Example
//!
//! ```
//! use ringcore::dispatch::{Dispatcher, ErrorPolicy, EventConsumer};
//! use ringcore::spsc::{Ring, RecordView};
//!
//! /// Sums payload bytes.
//! struct Sum(u64);
//! impl EventConsumer for Sum {
//!     type Error = &'static str;
//!     fn consume(&mut self, view: RecordView<'_>) -> Result<(), Self::Error> {
//!         self.0 += view.payload.iter().map(|b| u64::from(*b)).sum::<u64>();
//!         Ok(())
//!     }
//! }
//!
//! let ring = Ring::<1024>::new();
//! let (mut producer, mut consumer) = ring.try_split(0).unwrap();
//! producer.push(0, 0, &[1, 2, 3]).unwrap();
//! producer.push(0, 0, &[4]).unwrap();
//!
//! let mut sum = Sum(0);
//! let mut kinds = 0_u32;
//! let mut count_kinds = |v: RecordView<'_>| -> Result<(), &'static str> {
//!     kinds += u32::from(v.header.kind);
//!     Ok(())
//! };
//! let mut dispatcher = Dispatcher::new([&mut sum, &mut count_kinds], ErrorPolicy::Continue);
//! let outcome = dispatcher.dispatch(&mut consumer, 64).unwrap();
//! assert_eq!((outcome.records, outcome.errors), (2, 0));
//! assert_eq!(dispatcher.stats()[0].bytes, 4);
//! drop(dispatcher);
//! assert_eq!(sum.0, 10);
//! ```

use core::convert::Infallible;
use core::ops::ControlFlow;

use crate::broadcast;
use crate::spsc::{self, RecordView};

/// A ring (or reader of a ring) that hands out records in batches.
///
/// # Contract for implementers
///
/// [`EventSource::drain`] hands at most `max` records, oldest first, to `f`, one at a
/// time, then releases every record it handed out (with one cursor store where the ring
/// allows it) and returns how many it handed out. It stops early when the source has no
/// more records or when `f` returns [`ControlFlow::Break`]; the record for which `f`
/// broke counts as handed out and is released. A record is never handed out twice.
///
/// An `Err` means that *no* record was handed to `f` in that call (for example, a
/// broadcast reader that was lapped reports how many events it lost, and the next call
/// resumes half a ring behind the head, see [`broadcast::ReadError::Lagged`]). A source that discovers a problem in the middle of
/// a batch ends the batch with `Ok` and reports the problem on the next call.
///
/// ```
/// use core::ops::ControlFlow;
/// use ringcore::dispatch::EventSource;
/// use ringcore::spsc::Ring;
///
/// let ring = Ring::<1024>::new();
/// let (mut p, mut c) = ring.try_split(0).unwrap();
/// for i in 0..5_u8 {
///     p.push(0, 0, &[i]).unwrap();
/// }
/// let mut seen = [0_u8; 5];
/// let mut n = 0;
/// let handed = c
///     .drain(10, |v| {
///         seen[n] = v.payload[0];
///         n += 1;
///         if n == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
///     })
///     .unwrap();
/// assert_eq!((handed, &seen[..3]), (3, &[0, 1, 2][..]));
/// assert_eq!(c.read().unwrap().payload(), &[3]);
/// ```
pub trait EventSource {
    /// Why a drain handed out nothing (use [`Infallible`] when it cannot fail).
    type Error;

    /// Hands up to `max` records to `f` and releases them; returns how many were handed
    /// out. See the trait's contract.
    ///
    /// ```
    /// use ringcore::dispatch::EventSource;
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"a").unwrap();
    /// assert_eq!(c.drain(8, |_| core::ops::ControlFlow::Continue(())), Ok(1));
    /// assert_eq!(c.drain(8, |_| core::ops::ControlFlow::Continue(())), Ok(0));
    /// ```
    fn drain<F>(&mut self, max: usize, f: F) -> Result<usize, Self::Error>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>;
}

impl<P: broadcast::Policy, const N: usize, const PAYLOAD: usize, const R: usize> EventSource
    for broadcast::Reader<'_, P, N, PAYLOAD, R>
{
    type Error = broadcast::ReadError;

    /// Drains through [`broadcast::Reader::read_batch_until`]: one cursor store per batch.
    /// An empty ring is `Ok(0)`; a lap is `Err(Lagged(n))` with nothing handed out, and the
    /// next call starts half a ring behind the head; `Err(Closed)` once the writer is gone
    /// and everything was read.
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// use ringcore::broadcast::{OverwriteRing, ReadError};
    /// use ringcore::dispatch::EventSource;
    ///
    /// let ring = OverwriteRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// assert_eq!(r.drain(8, |_| ControlFlow::Continue(())), Ok(0));
    /// for i in 0..6u8 { w.try_publish(0, 0, &[i]).unwrap(); }
    /// assert_eq!(r.drain(8, |_| ControlFlow::Continue(())), Err(ReadError::Lagged(4)));
    /// assert_eq!(r.drain(8, |_| ControlFlow::Continue(())), Ok(2));
    /// ```
    #[inline]
    fn drain<F>(&mut self, max: usize, f: F) -> Result<usize, broadcast::ReadError>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        if max == 0 {
            return Ok(0);
        }
        match self.read_batch_until(max, f) {
            Err(broadcast::ReadError::Empty) => Ok(0),
            other => other,
        }
    }
}

impl<const N: usize> EventSource for spsc::Consumer<'_, N> {
    type Error = Infallible;

    /// Drains through [`spsc::Consumer::read_batch`]: the whole batch is released with one
    /// store when it ends.
    #[inline]
    fn drain<F>(&mut self, max: usize, mut f: F) -> Result<usize, Infallible>
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        let mut batch = self.read_batch(max);
        let mut handed = 0;
        while let Some(view) = batch.next() {
            handed += 1;
            if f(view).is_break() {
                break;
            }
        }
        Ok(handed)
    }
}

/// Receives the records a [`Dispatcher`] hands out.
///
/// `begin_batch` and `end_batch` bracket every non-empty batch (a consumer that writes to
/// flash can commit in `end_batch`); both do nothing by default.
///
/// ```
/// use ringcore::dispatch::EventConsumer;
/// use ringcore::spsc::RecordView;
///
/// #[derive(Default)]
/// struct Last { seq: Option<u64>, batches: usize }
/// impl EventConsumer for Last {
///     type Error = core::convert::Infallible;
///     fn consume(&mut self, view: RecordView<'_>) -> Result<(), Self::Error> {
///         self.seq = Some(view.header.seq);
///         Ok(())
///     }
///     fn end_batch(&mut self, _records: usize) { self.batches += 1; }
/// }
///
/// let mut last = Last::default();
/// let header = ringcore::frame::FrameHeader { seq: 9, ..Default::default() };
/// last.consume(RecordView { header, payload: &[] }).unwrap();
/// assert_eq!(last.seq, Some(9));
/// ```
pub trait EventConsumer {
    /// What `consume` returns when it rejects a record.
    type Error;

    /// Handles one record. An error is counted in the consumer's [`ConsumerStats`] and
    /// handled by the dispatcher's [`ErrorPolicy`].
    ///
    /// ```
    /// use ringcore::dispatch::EventConsumer;
    /// use ringcore::spsc::RecordView;
    /// let mut reject_empty = |v: RecordView<'_>| if v.payload.is_empty() { Err("empty") } else { Ok(()) };
    /// let header = ringcore::frame::FrameHeader::default();
    /// assert_eq!(reject_empty.consume(RecordView { header, payload: &[] }), Err("empty"));
    /// ```
    fn consume(&mut self, view: RecordView<'_>) -> Result<(), Self::Error>;

    /// Called before the first record of a non-empty batch.
    ///
    /// ```
    /// use ringcore::dispatch::EventConsumer;
    /// let mut c = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// c.begin_batch(); // the default does nothing
    /// ```
    fn begin_batch(&mut self) {}

    /// Called after the last record of a non-empty batch, with the batch's size.
    ///
    /// ```
    /// use ringcore::dispatch::EventConsumer;
    /// let mut c = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// c.end_batch(3); // the default does nothing
    /// ```
    fn end_batch(&mut self, records: usize) {
        let _ = records;
    }
}

impl<E, F> EventConsumer for F
where
    F: FnMut(RecordView<'_>) -> Result<(), E>,
{
    type Error = E;

    #[inline]
    fn consume(&mut self, view: RecordView<'_>) -> Result<(), E> {
        self(view)
    }
}

/// What a [`Dispatcher`] does when a consumer returns an error.
///
/// ```
/// use ringcore::dispatch::ErrorPolicy;
/// assert_ne!(ErrorPolicy::Continue, ErrorPolicy::Stop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorPolicy {
    /// Count the error, remember the first one of the call, and go on with the next
    /// consumer and the next record.
    Continue,
    /// Finish handing the failing record to the remaining consumers (so every consumer
    /// has seen the same records), then end the call; later records stay in the ring.
    Stop,
}

/// Counters of one consumer, kept by its [`Dispatcher`].
///
/// ```
/// let s = ringcore::dispatch::ConsumerStats::default();
/// assert_eq!((s.events, s.bytes, s.errors, s.largest_batch), (0, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerStats {
    /// Records handed to the consumer (including those it rejected).
    pub events: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// Records the consumer rejected with an error.
    pub errors: u64,
    /// Non-empty batches the consumer took part in.
    pub batches: u64,
    /// The most records the consumer got in one batch.
    pub largest_batch: usize,
    /// Sequence of the last record the consumer rejected.
    pub last_error_seq: Option<u64>,
}

/// One consumer's error, with where it happened.
///
/// ```
/// use ringcore::dispatch::ConsumerFault;
/// let f = ConsumerFault { consumer: 1, seq: 7, error: "disk full" };
/// assert_eq!(f.to_string(), "consumer 1 rejected record 7: disk full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerFault<E> {
    /// Index of the consumer in the dispatcher's array.
    pub consumer: usize,
    /// Sequence of the record it rejected.
    pub seq: u64,
    /// What it returned.
    pub error: E,
}

impl<E: core::fmt::Display> core::fmt::Display for ConsumerFault<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "consumer {} rejected record {}: {}",
            self.consumer, self.seq, self.error
        )
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for ConsumerFault<E> {}

/// What one [`Dispatcher::dispatch`] call did.
///
/// ```
/// use ringcore::dispatch::DispatchOutcome;
/// let o: DispatchOutcome<()> = DispatchOutcome { records: 0, errors: 0, first_fault: None, stopped: false };
/// assert!(o.is_clean());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchOutcome<E> {
    /// Records taken from the source and released.
    pub records: usize,
    /// Consumer errors during the call (one record rejected by two consumers counts 2).
    pub errors: usize,
    /// The first consumer error of the call.
    pub first_fault: Option<ConsumerFault<E>>,
    /// The call ended early because a consumer failed under [`ErrorPolicy::Stop`].
    pub stopped: bool,
}

impl<E> DispatchOutcome<E> {
    /// `true` when no consumer returned an error.
    ///
    /// ```
    /// use ringcore::dispatch::{ConsumerFault, DispatchOutcome};
    /// let o = DispatchOutcome {
    ///     records: 1,
    ///     errors: 1,
    ///     first_fault: Some(ConsumerFault { consumer: 0, seq: 0, error: () }),
    ///     stopped: false,
    /// };
    /// assert!(!o.is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.errors == 0
    }
}

/// Hands every record of a source to a fixed set of `K` consumers, in array order.
///
/// All consumers share one error type `E`; consumers of different types fit in one
/// dispatcher as `&mut dyn EventConsumer<Error = E>`. No heap: the consumers are borrowed
/// and the statistics are an array.
///
/// ```
/// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
/// use ringcore::spsc::{Ring, RecordView};
///
/// let ring = Ring::<1024>::new();
/// let (mut p, mut c) = ring.try_split(0).unwrap();
/// for i in 0..4_u8 {
///     p.push(0, 0, &[i]).unwrap();
/// }
/// let mut odd = |v: RecordView<'_>| if v.payload[0] % 2 == 1 { Err("odd") } else { Ok(()) };
/// let mut all = |_: RecordView<'_>| Ok(());
/// let mut d = Dispatcher::new([&mut odd, &mut all], ErrorPolicy::Stop);
///
/// let first = d.dispatch(&mut c, 10).unwrap();
/// assert_eq!((first.records, first.stopped), (2, true));
/// assert_eq!(first.first_fault.unwrap().seq, 1);
/// assert_eq!(d.stats()[1].events, 2, "the second consumer saw the failing record too");
/// assert_eq!(d.dispatch(&mut c, 10).unwrap().records, 2);
/// ```
///
/// A dispatcher needs at least one consumer:
///
/// ```compile_fail
/// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
/// let d = Dispatcher::<(), 0>::new([], ErrorPolicy::Continue);
/// ```
pub struct Dispatcher<'c, E, const K: usize> {
    consumers: [&'c mut dyn EventConsumer<Error = E>; K],
    stats: [ConsumerStats; K],
    policy: ErrorPolicy,
}

impl<E, const K: usize> core::fmt::Debug for Dispatcher<'_, E, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("consumers", &K)
            .field("policy", &self.policy)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<'c, E, const K: usize> Dispatcher<'c, E, K> {
    const SIZE_OK: () = assert!(
        K > 0,
        "ringcore::dispatch::Dispatcher<E, K>: K must be at least 1 consumer"
    );

    /// A dispatcher over `consumers` with zeroed statistics.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let mut a = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// let d = Dispatcher::new([&mut a], ErrorPolicy::Continue);
    /// assert_eq!(d.policy(), ErrorPolicy::Continue);
    /// ```
    pub fn new(consumers: [&'c mut dyn EventConsumer<Error = E>; K], policy: ErrorPolicy) -> Self {
        let () = Self::SIZE_OK;
        Self {
            consumers,
            stats: [ConsumerStats::default(); K],
            policy,
        }
    }

    /// Takes up to `max` records from `source` and hands each to every consumer.
    ///
    /// Returns what happened, or the source's error (in which case no record was taken).
    /// Consumer errors never make this return `Err`: they are in the outcome and in
    /// [`Dispatcher::stats`].
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// use ringcore::spsc::{Ring, RecordView};
    /// let ring = Ring::<1024>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// for _ in 0..3 { p.push(0, 0, b"xy").unwrap(); }
    /// let mut fail = |_: RecordView<'_>| Err("no");
    /// let mut d = Dispatcher::new([&mut fail], ErrorPolicy::Continue);
    /// let o = d.dispatch(&mut c, 2).unwrap();
    /// assert_eq!((o.records, o.errors, o.stopped), (2, 2, false));
    /// ```
    pub fn dispatch<S>(
        &mut self,
        source: &mut S,
        max: usize,
    ) -> Result<DispatchOutcome<E>, S::Error>
    where
        S: EventSource + ?Sized,
    {
        let consumers = &mut self.consumers;
        let stats = &mut self.stats;
        let policy = self.policy;
        let mut errors = 0_usize;
        let mut first_fault = None;
        let mut stopped = false;
        let mut started = false;
        let records = source.drain(max, |view| {
            if !started {
                started = true;
                for c in consumers.iter_mut() {
                    c.begin_batch();
                }
            }
            let len = view.payload.len() as u64;
            let mut failed = false;
            for (i, (c, st)) in consumers.iter_mut().zip(stats.iter_mut()).enumerate() {
                st.events = st.events.saturating_add(1);
                st.bytes = st.bytes.saturating_add(len);
                if let Err(error) = c.consume(view) {
                    failed = true;
                    errors += 1;
                    st.errors = st.errors.saturating_add(1);
                    st.last_error_seq = Some(view.header.seq);
                    if first_fault.is_none() {
                        first_fault = Some(ConsumerFault {
                            consumer: i,
                            seq: view.header.seq,
                            error,
                        });
                    }
                }
            }
            if failed && policy == ErrorPolicy::Stop {
                stopped = true;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if started {
            for (c, st) in self.consumers.iter_mut().zip(self.stats.iter_mut()) {
                c.end_batch(records);
                st.batches = st.batches.saturating_add(1);
                st.largest_batch = st.largest_batch.max(records);
            }
        }
        Ok(DispatchOutcome {
            records,
            errors,
            first_fault,
            stopped,
        })
    }

    /// The statistics of every consumer, in array order.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let mut a = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// let d = Dispatcher::new([&mut a], ErrorPolicy::Continue);
    /// assert_eq!(d.stats()[0].events, 0);
    /// ```
    pub fn stats(&self) -> &[ConsumerStats; K] {
        &self.stats
    }

    /// Zeroes every consumer's statistics.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"a").unwrap();
    /// let mut a = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// let mut d = Dispatcher::new([&mut a], ErrorPolicy::Continue);
    /// d.dispatch(&mut c, 1).unwrap();
    /// d.reset_stats();
    /// assert_eq!(d.stats()[0], Default::default());
    /// ```
    pub fn reset_stats(&mut self) {
        self.stats = [ConsumerStats::default(); K];
    }

    /// The error policy.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let mut a = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// assert_eq!(Dispatcher::new([&mut a], ErrorPolicy::Stop).policy(), ErrorPolicy::Stop);
    /// ```
    pub fn policy(&self) -> ErrorPolicy {
        self.policy
    }

    /// Changes the error policy for later calls.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let mut a = |_: ringcore::spsc::RecordView<'_>| Ok::<(), ()>(());
    /// let mut d = Dispatcher::new([&mut a], ErrorPolicy::Stop);
    /// d.set_policy(ErrorPolicy::Continue);
    /// assert_eq!(d.policy(), ErrorPolicy::Continue);
    /// ```
    pub fn set_policy(&mut self, policy: ErrorPolicy) {
        self.policy = policy;
    }

    /// Gives the consumers back, with the final statistics.
    ///
    /// ```
    /// use ringcore::dispatch::{Dispatcher, ErrorPolicy};
    /// let mut n = 0;
    /// let mut count = |_: ringcore::spsc::RecordView<'_>| { n += 1; Ok::<(), ()>(()) };
    /// let d = Dispatcher::new([&mut count], ErrorPolicy::Continue);
    /// let ([_count], stats) = d.into_parts();
    /// assert_eq!(stats[0].events, 0);
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn into_parts(
        self,
    ) -> (
        [&'c mut dyn EventConsumer<Error = E>; K],
        [ConsumerStats; K],
    ) {
        (self.consumers, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spsc::Ring;
    use std::vec::Vec;

    /// Records what it sees; rejects the sequences in `reject`.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<(u64, usize)>,
        reject: Vec<u64>,
        batches: Vec<usize>,
        open: bool,
    }

    impl EventConsumer for Recorder {
        type Error = u64;
        fn consume(&mut self, view: RecordView<'_>) -> Result<(), u64> {
            assert!(self.open, "consume outside begin/end");
            self.seen.push((view.header.seq, view.payload.len()));
            if self.reject.contains(&view.header.seq) {
                Err(view.header.seq)
            } else {
                Ok(())
            }
        }
        fn begin_batch(&mut self) {
            assert!(!self.open);
            self.open = true;
        }
        fn end_batch(&mut self, records: usize) {
            assert!(self.open);
            self.open = false;
            self.batches.push(records);
        }
    }

    fn fill<const N: usize>(p: &mut spsc::Producer<'_, N>, lens: &[usize]) {
        for (i, len) in lens.iter().enumerate() {
            let payload = [i as u8; 64];
            p.push(0, 0, &payload[..*len]).unwrap();
        }
    }

    #[test]
    fn dispatcher_drains_a_gated_broadcast_reader_and_stops_on_break() {
        let ring = crate::broadcast::GatedRing::<16, 8, 2>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for i in 0..10u8 {
            w.try_publish(0, 0, &[i; 3]).unwrap();
        }
        let mut rec = Recorder {
            reject: std::vec![4],
            ..Recorder::default()
        };
        let mut d = Dispatcher::new([&mut rec], ErrorPolicy::Stop);
        let first = d.dispatch(&mut r, 16).unwrap();
        assert_eq!((first.records, first.errors, first.stopped), (5, 1, true));
        let rest = d.dispatch(&mut r, 16).unwrap();
        assert_eq!((rest.records, rest.errors), (5, 0));
        assert_eq!(d.stats()[0].events, 10);
        let seqs: Vec<u64> = rec.seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..10).collect::<Vec<u64>>());
        assert_eq!(ring.reader_stats(r.id()).unwrap().lag, 0);
    }

    #[test]
    fn broadcast_source_reports_a_lap_then_resumes_half_a_ring_behind() {
        let ring = crate::broadcast::OverwriteRing::<4, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for i in 0..11u8 {
            w.try_publish(0, 0, &[i]).unwrap();
        }
        let mut got = Vec::new();
        let mut take = |v: RecordView<'_>| {
            got.push(v.header.seq);
            ControlFlow::Continue(())
        };
        assert_eq!(
            r.drain(16, &mut take),
            Err(crate::broadcast::ReadError::Lagged(9))
        );
        assert_eq!(r.drain(16, &mut take), Ok(2));
        assert_eq!(r.drain(16, &mut take), Ok(0));
        assert_eq!(got, [9, 10]);
    }

    #[test]
    fn stats_are_exact_across_batches() {
        let ring = Ring::<4096>::new();
        let (mut p, mut c) = ring.try_split(10).unwrap();
        let lens = [0, 1, 7, 8, 9, 63, 64, 3, 5, 2];
        fill(&mut p, &lens);
        let (mut a, mut b) = (Recorder::default(), Recorder::default());
        let mut d = Dispatcher::new([&mut a, &mut b], ErrorPolicy::Continue);
        let mut sizes = Vec::new();
        loop {
            let o = d.dispatch(&mut c, 4).unwrap();
            assert!(o.is_clean());
            assert!(!o.stopped);
            if o.records == 0 {
                break;
            }
            sizes.push(o.records);
        }
        assert_eq!(sizes, [4, 4, 2]);
        let total: u64 = lens.iter().map(|l| *l as u64).sum();
        for st in d.stats() {
            assert_eq!(
                *st,
                ConsumerStats {
                    events: 10,
                    bytes: total,
                    errors: 0,
                    batches: 3,
                    largest_batch: 4,
                    last_error_seq: None,
                }
            );
        }
        let expect: Vec<(u64, usize)> = lens
            .iter()
            .enumerate()
            .map(|(i, l)| (10 + i as u64, *l))
            .collect();
        assert_eq!(a.seen, expect);
        assert_eq!(b.seen, expect);
        assert_eq!(a.batches, [4, 4, 2]);
        assert_eq!(b.batches, [4, 4, 2]);
    }

    #[test]
    fn continue_policy_counts_every_error_and_delivers_everything() {
        let ring = Ring::<4096>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        fill(&mut p, &[1; 8]);
        let mut a = Recorder {
            reject: std::vec![1, 5],
            ..Default::default()
        };
        let mut b = Recorder {
            reject: std::vec![5, 6],
            ..Default::default()
        };
        let mut d = Dispatcher::new([&mut a, &mut b], ErrorPolicy::Continue);
        let o = d.dispatch(&mut c, 100).unwrap();
        assert_eq!(
            o,
            DispatchOutcome {
                records: 8,
                errors: 4,
                first_fault: Some(ConsumerFault {
                    consumer: 0,
                    seq: 1,
                    error: 1
                }),
                stopped: false,
            }
        );
        assert_eq!(
            (d.stats()[0].errors, d.stats()[0].last_error_seq),
            (2, Some(5))
        );
        assert_eq!(
            (d.stats()[1].errors, d.stats()[1].last_error_seq),
            (2, Some(6))
        );
        assert_eq!(d.stats()[0].events, 8);
        assert_eq!(d.dispatch(&mut c, 100).unwrap().records, 0);
        assert_eq!(a.seen.len(), 8);
        assert_eq!(b.seen.len(), 8);
    }

    #[test]
    fn stop_policy_stops_after_the_failing_record_and_resumes_later() {
        let ring = Ring::<4096>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        fill(&mut p, &[2; 6]);
        let mut a = Recorder::default();
        let mut b = Recorder {
            reject: std::vec![2, 3],
            ..Default::default()
        };
        let mut z = Recorder::default();
        let mut d = Dispatcher::new([&mut a, &mut b, &mut z], ErrorPolicy::Stop);
        let o = d.dispatch(&mut c, 100).unwrap();
        assert_eq!(
            o,
            DispatchOutcome {
                records: 3,
                errors: 1,
                first_fault: Some(ConsumerFault {
                    consumer: 1,
                    seq: 2,
                    error: 2
                }),
                stopped: true,
            }
        );
        let o = d.dispatch(&mut c, 100).unwrap();
        assert_eq!((o.records, o.errors, o.stopped), (1, 1, true));
        assert_eq!(o.first_fault.map(|f| f.seq), Some(3));
        let o = d.dispatch(&mut c, 100).unwrap();
        assert_eq!((o.records, o.errors, o.stopped), (2, 0, false));
        assert_eq!(d.stats()[0].errors, 0);
        assert_eq!(d.stats()[1].errors, 2);
        assert_eq!(d.stats()[1].largest_batch, 3);
        assert_eq!(d.stats()[1].batches, 3);
        assert_eq!(d.stats()[2].events, 6);
        let seqs = |r: &Recorder| r.seen.iter().map(|s| s.0).collect::<Vec<_>>();
        assert_eq!(seqs(&a), [0, 1, 2, 3, 4, 5], "nothing lost or repeated");
        assert_eq!(seqs(&b), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            seqs(&z),
            [0, 1, 2, 3, 4, 5],
            "consumers after the failing one too"
        );
        assert_eq!(a.batches, [3, 1, 2]);
    }

    #[test]
    fn stop_policy_releases_what_it_took() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        while p.push(0, 0, &[0; 16]).is_ok() {}
        assert_eq!(p.free_bytes(), 0);
        let mut fail = |_: RecordView<'_>| Err(());
        let mut d = Dispatcher::new([&mut fail], ErrorPolicy::Stop);
        assert_eq!(d.dispatch(&mut c, 10).unwrap().records, 1);
        assert_eq!(
            p.free_bytes(),
            32,
            "exactly the failing record was released"
        );
    }

    #[test]
    fn empty_source_calls_no_hooks() {
        let ring = Ring::<256>::new();
        let (_p, mut c) = ring.try_split(0).unwrap();
        let mut a = Recorder::default();
        let mut d = Dispatcher::new([&mut a], ErrorPolicy::Continue);
        let o = d.dispatch(&mut c, 10).unwrap();
        assert_eq!((o.records, o.errors), (0, 0));
        assert_eq!(d.stats()[0], ConsumerStats::default());
        assert!(a.batches.is_empty());
    }

    /// A source that fails on its first call and hands out records afterwards, as a
    /// lapped broadcast reader would.
    struct Lagging<'r, 'a, const N: usize> {
        inner: &'r mut spsc::Consumer<'a, N>,
        lag: Option<u64>,
    }

    impl<const N: usize> EventSource for Lagging<'_, '_, N> {
        type Error = u64;
        fn drain<F>(&mut self, max: usize, f: F) -> Result<usize, u64>
        where
            F: FnMut(RecordView<'_>) -> ControlFlow<()>,
        {
            if let Some(n) = self.lag.take() {
                return Err(n);
            }
            Ok(self.inner.drain(max, f).unwrap_or_else(|e| match e {}))
        }
    }

    #[test]
    fn source_errors_pass_through_without_touching_stats() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        p.push(0, 0, b"abc").unwrap();
        let mut src = Lagging {
            inner: &mut c,
            lag: Some(42),
        };
        let mut a = Recorder::default();
        let mut d = Dispatcher::new([&mut a], ErrorPolicy::Continue);
        assert_eq!(d.dispatch(&mut src, 10).map(|o| o.records), Err(42));
        assert_eq!(d.stats()[0], ConsumerStats::default());
        assert_eq!(d.dispatch(&mut src, 10).map(|o| o.records), Ok(1));
        assert_eq!(d.stats()[0].bytes, 3);
    }

    #[test]
    fn dispatches_while_a_thread_produces() {
        static RING: Ring<2048> = Ring::new();
        let (mut p, mut c) = RING.try_split(0).unwrap();
        let total: u64 = if cfg!(miri) { 200 } else { 50_000 };
        let producer = std::thread::spawn(move || {
            let mut seq = 0;
            while seq < total {
                let len = (seq % 33) as usize;
                match p.grant(len) {
                    Ok(mut g) => {
                        g.payload_mut().fill(seq as u8);
                        g.commit();
                        seq += 1;
                    }
                    Err(_) => std::thread::yield_now(),
                }
            }
        });
        let mut next = 0_u64;
        let mut bytes = 0_u64;
        let mut check = |v: RecordView<'_>| {
            let ok = v.header.seq == next
                && v.payload.len() == (next % 33) as usize
                && v.payload.iter().all(|b| *b == next as u8);
            next += 1;
            bytes += v.payload.len() as u64;
            if ok { Ok(()) } else { Err(v.header.seq) }
        };
        let mut d = Dispatcher::new([&mut check], ErrorPolicy::Stop);
        let mut taken = 0;
        while taken < total {
            let o = d.dispatch(&mut c, 32).unwrap();
            assert_eq!(o.first_fault, None);
            assert!(o.records <= 32);
            taken += o.records as u64;
            if o.records == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        let st = d.stats()[0];
        assert_eq!((st.events, st.errors), (total, 0));
        assert!(st.largest_batch <= 32 && st.largest_batch >= 1);
        assert_eq!(next, total);
        assert_eq!(bytes, (0..total).map(|s| s % 33).sum::<u64>());
    }
}
