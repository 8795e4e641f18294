//! Writer/reader loops for the broadcast comparison: ringcore's broadcast ring against the
//! `disruptor` crate, `crossbeam-channel` and `tokio::sync::broadcast`, one writer thread
//! and `readers` reader threads, every reader receiving every event (or being told what it
//! lost).
//!
//! The rules every variant follows, so the numbers compare like with like:
//!
//! * events are 64-byte payloads with a 24-byte header's worth of fields (sequence,
//!   timestamp, length, kind, flags): ringcore slots of `PAYLOAD = 64` hold a
//!   [`FrameHeader`](ringcore::frame::FrameHeader) and the payload, the peers carry an
//!   [`Event`] of the same 88 bytes; every queue holds [`SLOTS`] events;
//! * the writer builds event `i`'s payload with [`item`] (the workspace's one pattern of
//!   `i`) and numbers it `i`; every reader checks
//!   every event it gets: the sequence is the previous one plus one (plus what the queue
//!   said was lost), and the payload's length, first and last byte match the sequence
//!   ([`payload_ok`]);
//! * lossless variants must deliver exactly every published event to every reader;
//!   lossy ones (ringcore's overwrite policy, tokio's broadcast) must account for each
//!   event: `seen + lost == published` for every reader;
//! * the writer looks at the clock every [`DEADLINE_EVERY`] events and stops publishing
//!   past its deadline, so a variant that collapses ends its run and is reported as timed
//!   out instead of hanging the benchmark (its rate is still what it delivered in that
//!   time);
//! * the time of a run is from the first thread's start (after a barrier, or the writer's
//!   first publish for the disruptor, whose reader threads it starts itself) to the last
//!   reader's end.
//!
//! Waiting: ringcore uses its default [`SpinThenYield`] on both sides; the disruptor its
//! `BusySpinWithSpinLoopHint` for readers (its producer always spins); crossbeam's
//! `send`/`recv` and tokio's `blocking_recv` block in their own ways.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use ringcore::broadcast::{Gated, Overwrite, Policy, ReadError, Ring};
use ringcore::wait::{BusySpin, SpinThenYield, WaitStrategy};

use crate::{item, payload_ok};

/// Slots (events) every queue holds.
pub const SLOTS: usize = 1024;
/// Payload bytes of every event.
pub const PAYLOAD: usize = 64;
/// Events per batch on each side where a queue batches.
pub const BATCH: usize = 64;
/// The most readers a run may have (ringcore's `R` is a const generic up to this).
pub const MAX_READERS: usize = 16;
/// The writer looks at its deadline once per this many events.
pub const DEADLINE_EVERY: u64 = 1024;
/// The `kind` of every event.
const KIND: u16 = 1;

/// One event as the peers carry it: the fields of a ringcore frame header and the payload,
/// 88 bytes like a ringcore slot of 64-byte payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Sequence number.
    pub seq: u64,
    /// Timestamp (the benches put the sequence here).
    pub timestamp_ns: u64,
    /// Payload bytes used.
    pub len: u32,
    /// Event kind.
    pub kind: u16,
    /// Flags.
    pub flags: u16,
    /// Payload.
    pub payload: [u8; PAYLOAD],
}

impl Event {
    /// An all-zero event (what the disruptor's ring is filled with before the run).
    pub const EMPTY: Self = Self {
        seq: 0,
        timestamp_ns: 0,
        len: 0,
        kind: 0,
        flags: 0,
        payload: [0; PAYLOAD],
    };

    /// Event `i`, as every writer builds it.
    ///
    /// ```
    /// let e = benches::broadcast_peers::Event::new(5);
    /// assert_eq!((e.seq, e.len), (5, 64));
    /// assert!(benches::payload_ok(e.payload(), 5, 64));
    /// ```
    #[inline(always)]
    pub fn new(i: u64) -> Self {
        Self {
            seq: i,
            timestamp_ns: i,
            len: PAYLOAD as u32,
            kind: KIND,
            flags: 0,
            payload: item::<PAYLOAD>(i),
        }
    }

    /// The used part of the payload.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.payload[..(self.len as usize).min(PAYLOAD)]
    }
}

/// What one reader got in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderTally {
    /// Events it received.
    pub seen: u64,
    /// Events the queue told it were lost (overwritten before it read them).
    pub lost: u64,
    /// Events that failed their check (wrong sequence, length or payload).
    pub bad: u64,
}

/// One timed run of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Events the writer was asked to publish.
    pub expected: u64,
    /// Events it published (fewer only when it hit its deadline).
    pub published: u64,
    /// One tally per reader.
    pub readers: Vec<ReaderTally>,
    /// From the first thread's start to the last one's end.
    pub elapsed: Duration,
    /// The writer stopped at its deadline.
    pub timed_out: bool,
    /// Every reader must see every published event (no loss allowed).
    pub lossless: bool,
}

impl Outcome {
    /// Events delivered to each reader per second: the readers' mean `seen` over the time.
    pub fn per_reader_eps(&self) -> f64 {
        if self.readers.is_empty() {
            return 0.0;
        }
        let seen: u64 = self.readers.iter().map(|r| r.seen).sum();
        seen as f64 / self.readers.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Events delivered to all readers together per second.
    pub fn aggregate_eps(&self) -> f64 {
        let seen: u64 = self.readers.iter().map(|r| r.seen).sum();
        seen as f64 / self.elapsed.as_secs_f64()
    }

    /// Mean events lost per reader.
    pub fn mean_lost(&self) -> f64 {
        if self.readers.is_empty() {
            return 0.0;
        }
        self.readers.iter().map(|r| r.lost).sum::<u64>() as f64 / self.readers.len() as f64
    }

    /// Events that failed a check, plus every event missing from a reader's account: a
    /// lossless reader must have seen exactly what was published, a lossy one must have
    /// `seen + lost == published`; a writer that was not stopped by its deadline must have
    /// published every event.
    pub fn errors(&self) -> u64 {
        let mut errors = if self.timed_out {
            0
        } else {
            self.expected.abs_diff(self.published)
        };
        for r in &self.readers {
            errors += r.bad;
            errors += if self.lossless {
                r.lost + r.seen.abs_diff(self.published)
            } else {
                (r.seen + r.lost).abs_diff(self.published)
            };
        }
        errors
    }
}

/// A reader's running check.
#[derive(Debug, Default)]
struct Check {
    next: u64,
    tally: ReaderTally,
}

impl Check {
    #[inline(always)]
    fn event(&mut self, seq: u64, payload: &[u8]) {
        let ok = seq == self.next && payload_ok(payload, seq, PAYLOAD);
        self.tally.bad += u64::from(!ok);
        // Resynchronise on what arrived, so one bad event counts once.
        self.next = seq.wrapping_add(1);
        self.tally.seen += 1;
    }

    #[inline]
    fn lagged(&mut self, lost: u64) {
        self.tally.lost += lost;
        self.next = self.next.wrapping_add(lost);
    }
}

/// The writer's deadline, looked at every [`DEADLINE_EVERY`] events.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    next_check: u64,
}

impl Deadline {
    fn new(start: Instant, timeout: Duration) -> Self {
        Self {
            at: start + timeout,
            next_check: DEADLINE_EVERY,
        }
    }

    /// Whether to stop before publishing event `i`.
    #[inline(always)]
    fn passed(&mut self, i: u64) -> bool {
        if i < self.next_check {
            return false;
        }
        self.next_check = i + DEADLINE_EVERY;
        Instant::now() >= self.at
    }
}

/// Ends the process if a run is still going `limit` after it started: a variant that does
/// not even stop at its deadline (a writer stuck inside one publish) must not hang the
/// benchmark.
struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(limit: Duration, what: String) -> Self {
        let (done, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                eprintln!(
                    "\nbroadcast_peers: {what} still running {limit:?} after it started \
                     (hung past its deadline); giving up"
                );
                std::process::exit(3);
            }
        });
        Self {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(d) = self.done.take() {
            let _ = d.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long past its deadline a run may go before the watchdog ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(30);

/// Runs `writer` and `readers` on their own threads, started together by a barrier.
/// The writer gets its deadline and returns (published, timed out). Returns the writer's
/// result, the readers' tallies and the time from the first start to the last end.
fn run_threads<W, Rd>(
    timeout: Duration,
    writer: W,
    readers: Vec<Rd>,
) -> ((u64, bool), Vec<ReaderTally>, Duration)
where
    W: FnOnce(Deadline) -> (u64, bool) + Send,
    Rd: FnOnce() -> ReaderTally + Send,
{
    let barrier = Barrier::new(readers.len() + 1);
    std::thread::scope(|s| {
        let barrier = &barrier;
        let hw = s.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let result = writer(Deadline::new(start, timeout));
            (start, Instant::now(), result)
        });
        let hrs: Vec<_> = readers
            .into_iter()
            .map(|reader| {
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let tally = reader();
                    (start, Instant::now(), tally)
                })
            })
            .collect();
        let (w_start, w_end, result) = hw.join().expect("writer thread panicked");
        let (mut first, mut last) = (w_start, w_end);
        let mut tallies = Vec::with_capacity(hrs.len());
        for h in hrs {
            let (start, end, tally) = h.join().expect("reader thread panicked");
            first = first.min(start);
            last = last.max(end);
            tallies.push(tally);
        }
        (result, tallies, last - first)
    })
}

/// How the writer publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Claims of up to [`BATCH`] events, one cursor store each.
    Batch,
    /// One event per publish call.
    Single,
}

/// How ringcore's writer and readers wait for room or for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `SpinThenYield::default()`: ringcore's default (64 spins, then yield).
    SpinThenYield,
    /// `BusySpin`: spin-loop hints only, like the disruptor's `BusySpinWithSpinLoopHint`.
    BusySpin,
}

/// A ringcore broadcast ring of policy `P` with `R` readers, waiting with `W`.
fn ringcore_run<P: Policy, W: WaitStrategy + Default + Copy + Send, const R: usize>(
    events: u64,
    timeout: Duration,
    publish: Publish,
) -> Outcome {
    let ring: Box<Ring<P, SLOTS, PAYLOAD, R>> = Box::new(Ring::new());
    let mut writer = ring.try_writer().expect("a fresh ring has a writer");
    let readers: Vec<_> = (0..R)
        .map(|_| ring.join().expect("the ring has room for R readers"))
        .collect();
    let reader_loops: Vec<_> = readers
        .into_iter()
        .map(|mut r| {
            move || {
                let wait = W::default();
                let mut check = Check::default();
                loop {
                    match r.read_batch_wait(&wait, BATCH, |e| check.event(e.header.seq, e.payload))
                    {
                        Ok(_) | Err(ReadError::Empty) => {}
                        Err(ReadError::Lagged(n)) => check.lagged(n as u64),
                        Err(ReadError::Closed) => break,
                    }
                }
                check.tally
            }
        })
        .collect();
    let ((published, timed_out), tallies, elapsed) = run_threads(
        timeout,
        move |mut deadline| {
            let wait = W::default();
            let mut i = 0u64;
            let mut timed_out = false;
            while i < events {
                if deadline.passed(i) {
                    timed_out = true;
                    break;
                }
                match publish {
                    Publish::Batch => {
                        let want = (events - i).min(BATCH as u64) as usize;
                        let mut claim = writer.claim_wait(&wait, want);
                        while claim.remaining() > 0 {
                            claim
                                .push(KIND, i, &item::<PAYLOAD>(i))
                                .expect("a 64-byte payload fits a reserved slot");
                            i += 1;
                        }
                    }
                    Publish::Single => {
                        let end = (i + BATCH as u64).min(events);
                        while i < end {
                            writer
                                .publish_wait(&wait, KIND, i, &item::<PAYLOAD>(i))
                                .expect("a 64-byte payload fits a slot");
                            i += 1;
                        }
                    }
                }
            }
            // Dropping the writer closes the ring: readers end once they have read all.
            drop(writer);
            (i, timed_out)
        },
        reader_loops,
    );
    Outcome {
        expected: events,
        published,
        readers: tallies,
        elapsed,
        timed_out,
        lossless: !P::OVERWRITE,
    }
}

macro_rules! by_readers {
    ($readers:expr, $policy:ty, $wait:ty, $events:expr, $timeout:expr, $publish:expr, [$($n:literal)*]) => {
        match $readers {
            $($n => ringcore_run::<$policy, $wait, $n>($events, $timeout, $publish),)*
            r => panic!("ringcore variants take 1 to {MAX_READERS} readers, not {r}"),
        }
    };
}

/// ringcore's gated ring (1024 slots of 64 B), `readers` readers.
///
/// ```
/// use benches::broadcast_peers::{Publish, Wait, ringcore_gated};
/// let timeout = std::time::Duration::from_secs(10);
/// let o = ringcore_gated(2, 10_000, timeout, Publish::Batch, Wait::SpinThenYield);
/// assert_eq!((o.published, o.errors()), (10_000, 0));
/// assert!(o.readers.iter().all(|r| r.seen == 10_000));
/// ```
pub fn ringcore_gated(
    readers: usize,
    events: u64,
    timeout: Duration,
    publish: Publish,
    wait: Wait,
) -> Outcome {
    match wait {
        Wait::SpinThenYield => {
            by_readers!(readers, Gated, SpinThenYield, events, timeout, publish, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16])
        }
        Wait::BusySpin => {
            by_readers!(readers, Gated, BusySpin, events, timeout, publish, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16])
        }
    }
}

/// ringcore's overwrite ring (1024 slots of 64 B), `readers` readers.
///
/// ```
/// use benches::broadcast_peers::{Publish, ringcore_overwrite};
/// let o = ringcore_overwrite(1, 10_000, std::time::Duration::from_secs(10), Publish::Single);
/// assert_eq!(o.errors(), 0);
/// assert_eq!(o.readers[0].seen + o.readers[0].lost, 10_000);
/// ```
pub fn ringcore_overwrite(
    readers: usize,
    events: u64,
    timeout: Duration,
    publish: Publish,
) -> Outcome {
    by_readers!(readers, Overwrite, SpinThenYield, events, timeout, publish, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16])
}

/// A disruptor reader's tally, shared with the thread the disruptor runs it on.
#[derive(Debug, Default)]
struct SharedTally {
    seen: AtomicU64,
    bad: AtomicU64,
}

impl SharedTally {
    fn get(&self) -> ReaderTally {
        ReaderTally {
            seen: self.seen.load(Ordering::Relaxed),
            lost: 0,
            bad: self.bad.load(Ordering::Relaxed),
        }
    }
}

/// Publishes `events` events through a disruptor producer, then drops it (which waits for
/// the readers to read everything and joins their threads).
fn disruptor_drive<P: disruptor::Producer<Event> + Send>(
    mut producer: P,
    events: u64,
    timeout: Duration,
    publish: Publish,
) -> ((u64, bool), Duration) {
    let (result, _, elapsed) = run_threads(
        timeout,
        move |mut deadline| {
            let mut i = 0u64;
            let mut timed_out = false;
            while i < events {
                if deadline.passed(i) {
                    timed_out = true;
                    break;
                }
                let n = (events - i).min(BATCH as u64);
                match publish {
                    Publish::Batch => {
                        producer.batch_publish(n as usize, |slots| {
                            for (k, e) in (i..).zip(slots) {
                                *e = Event::new(k);
                            }
                        });
                    }
                    Publish::Single => {
                        for k in i..i + n {
                            producer.publish(|e| *e = Event::new(k));
                        }
                    }
                }
                i += n;
            }
            drop(producer);
            (i, timed_out)
        },
        Vec::<fn() -> ReaderTally>::new(),
    );
    (result, elapsed)
}

/// The `disruptor` crate (single producer, `readers` parallel handlers, 1024 slots,
/// `BusySpinWithSpinLoopHint`).
///
/// ```
/// use benches::broadcast_peers::{Publish, disruptor};
/// let o = disruptor(2, 10_000, std::time::Duration::from_secs(10), Publish::Batch);
/// assert_eq!(o.errors(), 0);
/// ```
pub fn disruptor(readers: usize, events: u64, timeout: Duration, publish: Publish) -> Outcome {
    use disruptor::{BusySpinWithSpinLoopHint, Sequence, build_single_producer};
    assert!(readers >= 1, "at least one reader");
    let tallies: Vec<Arc<SharedTally>> = (0..readers).map(|_| Arc::default()).collect();
    let handler = |k: usize| {
        let shared = Arc::clone(&tallies[k]);
        let mut check = Check::default();
        move |e: &Event, _seq: Sequence, end_of_batch: bool| {
            check.event(e.seq, e.payload());
            if end_of_batch {
                shared.seen.store(check.tally.seen, Ordering::Relaxed);
                shared.bad.store(check.tally.bad, Ordering::Relaxed);
            }
        }
    };
    // The handler threads start here and spin until events come.
    let builder = build_single_producer(SLOTS, || Event::EMPTY, BusySpinWithSpinLoopHint)
        .handle_events_with(handler(0));
    let ((published, timed_out), elapsed) = if readers == 1 {
        disruptor_drive(builder.build(), events, timeout, publish)
    } else {
        let mut builder = builder.handle_events_with(handler(1));
        for k in 2..readers {
            builder = builder.handle_events_with(handler(k));
        }
        disruptor_drive(builder.build(), events, timeout, publish)
    };
    Outcome {
        expected: events,
        published,
        readers: tallies.iter().map(|t| t.get()).collect(),
        elapsed,
        timed_out,
        lossless: true,
    }
}

/// `crossbeam-channel`: one bounded channel of 1024 events per reader, the writer sending
/// every event to each (a channel delivers each message to one receiver, so this is how
/// it broadcasts); blocking `send` / `recv`.
///
/// ```
/// use benches::broadcast_peers::crossbeam_channel;
/// let o = crossbeam_channel(2, 10_000, std::time::Duration::from_secs(10));
/// assert_eq!(o.errors(), 0);
/// ```
pub fn crossbeam_channel(readers: usize, events: u64, timeout: Duration) -> Outcome {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..readers)
        .map(|_| crossbeam_channel::bounded::<Event>(SLOTS))
        .unzip();
    let reader_loops: Vec<_> = receivers
        .into_iter()
        .map(|rx| {
            move || {
                let mut check = Check::default();
                while let Ok(e) = rx.recv() {
                    check.event(e.seq, e.payload());
                }
                check.tally
            }
        })
        .collect();
    let ((published, timed_out), tallies, elapsed) = run_threads(
        timeout,
        move |mut deadline| {
            let mut i = 0u64;
            while i < events {
                if deadline.passed(i) {
                    return (i, true);
                }
                let e = Event::new(i);
                for tx in &senders {
                    tx.send(e).expect("receivers outlive the writer");
                }
                i += 1;
            }
            (i, false)
        },
        reader_loops,
    );
    Outcome {
        expected: events,
        published,
        readers: tallies,
        elapsed,
        timed_out,
        lossless: true,
    }
}

/// `tokio::sync::broadcast` with capacity 1024: `send` never waits (a slow receiver is
/// lapped and told with `Lagged(n)`), receivers on plain threads call `blocking_recv`.
///
/// ```
/// use benches::broadcast_peers::tokio_broadcast;
/// let o = tokio_broadcast(2, 10_000, std::time::Duration::from_secs(10));
/// assert_eq!(o.errors(), 0);
/// ```
pub fn tokio_broadcast(readers: usize, events: u64, timeout: Duration) -> Outcome {
    use tokio::sync::broadcast::{self, error::RecvError};
    let (tx, first) = broadcast::channel::<Event>(SLOTS);
    let mut receivers = vec![first];
    receivers.extend((1..readers).map(|_| tx.subscribe()));
    let reader_loops: Vec<_> = receivers
        .into_iter()
        .map(|mut rx| {
            move || {
                let mut check = Check::default();
                loop {
                    match rx.blocking_recv() {
                        Ok(e) => check.event(e.seq, e.payload()),
                        Err(RecvError::Lagged(n)) => check.lagged(n),
                        Err(RecvError::Closed) => break,
                    }
                }
                check.tally
            }
        })
        .collect();
    let ((published, timed_out), tallies, elapsed) = run_threads(
        timeout,
        move |mut deadline| {
            let mut i = 0u64;
            while i < events {
                if deadline.passed(i) {
                    return (i, true);
                }
                tx.send(Event::new(i))
                    .expect("receivers outlive the writer");
                i += 1;
            }
            (i, false)
        },
        reader_loops,
    );
    Outcome {
        expected: events,
        published,
        readers: tallies,
        elapsed,
        timed_out,
        lossless: false,
    }
}

/// One queue and API under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// ringcore gated, `claim_wait(64)` / `read_batch_wait(64)`: the headline.
    RingcoreGatedBatch,
    /// The same with `BusySpin` instead of the default wait (only with `--busy-spin`): the
    /// disruptor's way of waiting on ringcore's ring.
    RingcoreGatedBatchBusySpin,
    /// ringcore gated, `publish_wait` per event / `read_batch_wait(64)`.
    RingcoreGatedSingle,
    /// ringcore overwrite, `publish_wait` per event (never waits) / `read_batch_wait(64)`.
    RingcoreOverwrite,
    /// disruptor, `batch_publish(64)` / handler.
    DisruptorBatch,
    /// disruptor, `publish` per event / handler.
    DisruptorSingle,
    /// crossbeam-channel, one channel per reader, `send` / `recv`.
    CrossbeamChannel,
    /// tokio broadcast, `send` / `blocking_recv`.
    TokioBroadcast,
}

impl Impl {
    /// Every variant, in table order ([`Impl::RingcoreGatedBatchBusySpin`] runs only when
    /// asked for).
    pub const ALL: [Impl; 8] = [
        Impl::RingcoreGatedBatch,
        Impl::RingcoreGatedBatchBusySpin,
        Impl::DisruptorBatch,
        Impl::RingcoreGatedSingle,
        Impl::DisruptorSingle,
        Impl::CrossbeamChannel,
        Impl::RingcoreOverwrite,
        Impl::TokioBroadcast,
    ];

    /// The queue's name.
    pub fn queue(self) -> &'static str {
        match self {
            Self::RingcoreGatedBatch
            | Self::RingcoreGatedSingle
            | Self::RingcoreGatedBatchBusySpin => "ringcore gated",
            Self::RingcoreOverwrite => "ringcore overwrite",
            Self::DisruptorBatch | Self::DisruptorSingle => "disruptor",
            Self::CrossbeamChannel => "crossbeam-channel",
            Self::TokioBroadcast => "tokio broadcast",
        }
    }

    /// The calls used on each side.
    pub fn api(self) -> &'static str {
        match self {
            Self::RingcoreGatedBatch => "claim_wait(64) / read_batch_wait(64)",
            Self::RingcoreGatedBatchBusySpin => "claim_wait(64) / read_batch_wait(64), BusySpin",
            Self::RingcoreGatedSingle | Self::RingcoreOverwrite => {
                "publish_wait / read_batch_wait(64)"
            }
            Self::DisruptorBatch => "batch_publish(64) / handler",
            Self::DisruptorSingle => "publish / handler",
            Self::CrossbeamChannel => "send ×R / recv",
            Self::TokioBroadcast => "send / blocking_recv",
        }
    }

    /// Whether this is one of ringcore's own variants.
    pub fn is_ringcore(self) -> bool {
        matches!(
            self,
            Self::RingcoreGatedBatch
                | Self::RingcoreGatedBatchBusySpin
                | Self::RingcoreGatedSingle
                | Self::RingcoreOverwrite
        )
    }

    /// The ringcore variant a peer is compared with (same reader count, same round):
    /// batch with batch, per-event lossless with per-event gated, lossy with overwrite.
    pub fn baseline(self) -> Impl {
        match self {
            Self::RingcoreGatedBatch | Self::RingcoreGatedBatchBusySpin | Self::DisruptorBatch => {
                Self::RingcoreGatedBatch
            }
            Self::RingcoreGatedSingle | Self::DisruptorSingle | Self::CrossbeamChannel => {
                Self::RingcoreGatedSingle
            }
            Self::RingcoreOverwrite | Self::TokioBroadcast => Self::RingcoreOverwrite,
        }
    }

    /// Whether the variant runs with `readers` readers (the disruptor's single-event
    /// publish only with one: the comparison asks for it there, and with more threads than
    /// cores every busy-spinning run would just sit out its deadline).
    pub fn runs_with(self, readers: usize) -> bool {
        match self {
            Self::DisruptorSingle => readers == 1,
            _ => (1..=MAX_READERS).contains(&readers),
        }
    }

    /// One timed run.
    pub fn run(self, readers: usize, events: u64, timeout: Duration) -> Outcome {
        let _watchdog = Watchdog::start(
            timeout + WATCHDOG_GRACE,
            format!("{} ({}) with {readers} readers", self.queue(), self.api()),
        );
        match self {
            Self::RingcoreGatedBatch => ringcore_gated(
                readers,
                events,
                timeout,
                Publish::Batch,
                Wait::SpinThenYield,
            ),
            Self::RingcoreGatedBatchBusySpin => {
                ringcore_gated(readers, events, timeout, Publish::Batch, Wait::BusySpin)
            }
            Self::RingcoreGatedSingle => ringcore_gated(
                readers,
                events,
                timeout,
                Publish::Single,
                Wait::SpinThenYield,
            ),
            Self::RingcoreOverwrite => {
                ringcore_overwrite(readers, events, timeout, Publish::Single)
            }
            Self::DisruptorBatch => disruptor(readers, events, timeout, Publish::Batch),
            Self::DisruptorSingle => disruptor(readers, events, timeout, Publish::Single),
            Self::CrossbeamChannel => crossbeam_channel(readers, events, timeout),
            Self::TokioBroadcast => tokio_broadcast(readers, events, timeout),
        }
    }
}
