//! The writer: a ringcore SPSC ring as the submit queue, drained by one writer thread
//! that commits groups to the active segment, rolls segments, and reports a durable
//! high-watermark.
//!
//! # The ring's bytes are the file's bytes
//!
//! Each append builds the final on-disk record (frame header, CRC32C, payload, padding;
//! see [`crate::format::record`]) directly in the submit ring. The writer thread walks
//! the record headers only to find group, segment and index boundaries, and hands
//! contiguous ring ranges to the backend: no copy and no checksum per record on its side,
//! and a ring's wrap gap is never part of a range, so it never reaches a file.
//!
//! # Producers
//!
//! The ring has exactly one producer. [`Writer::appender`] hands it out as an
//! [`Appender`]: an owned, `Send` but not `Sync` handle whose appends take no lock (the
//! fast path for one appending thread). Otherwise [`Writer`] keeps it behind a `Mutex`:
//! any number of threads call [`Writer::append`] on a shared `&Writer` (or
//! `Arc<Writer>`), each append holding the mutex only while it reserves, fills and
//! publishes its record. Sequences are assigned by whoever holds the producer, so they
//! are gap-free and in queue order either way. While an appender is out, shared appends
//! (and a second `appender()`) return [`Error::ProducerBusy`]; dropping the appender
//! gives the producer back.
//!
//! # Timestamps
//!
//! A record appended without a timestamp is stamped by the log from a clock that costs a
//! few ns and no system call (see [`crate::coarse_now_ns`]): the later of the kernel's
//! coarse real-time clock and a reading the writer thread refreshes on each pass. It
//! is never ahead of the system clock and lags it by at most one kernel tick (1–4 ms).
//! Stamps the log assigns never decrease within a log, across reopens too (a reopened
//! writer starts from the largest timestamp recovered); timestamps a caller passes are
//! stored as given.
//!
//! # Durability
//!
//! See [`Durability`] for exactly what each mode promises.
//!
//! # Layout
//!
//! [`options`] holds the settings, [`queue`] the submit ring, [`thread`] the writer
//! thread (group commit, rolls, the stall watchdog); this module the handle producers
//! call and the state it shares with its thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{Builder, JoinHandle, Thread};
use std::time::Duration;

use crate::backend::{Backend, DirLock, FileBackend};
use crate::clock::{RecordClock, now_ns};
use crate::error::{Error, Result, StopCause};
use crate::format::MAX_PAYLOAD_LEN;
use crate::offsets::OffsetStore;
use crate::progress::{Progress, ProgressView, ReadLimit};
use crate::reader::LogReader;
use crate::recovery::{RecoverOpts, RecoveryReport, recover};
use crate::retention::{RetentionPolicy, RetentionReport, apply_retention};
use crate::segment::SegmentInfo;

mod options;
mod queue;
mod stats;
mod thread;

pub use options::{
    DEFAULT_QUEUE_BYTES, Durability, MAX_GROUP_BYTES, MAX_INDEX_INTERVAL, MAX_SEGMENT_BYTES,
    MIN_SEGMENT_BYTES, WriterOptions,
};
pub use queue::RecordMeta;
use queue::{QueueProducer, queue};
use stats::StatsCell;
pub use stats::{SyncLatency, WriterStats};
use thread::{InFlight, WriterThread, watchdog};

impl RecordMeta {
    /// This metadata with the record stamped `t` (instead of the log's clock).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use storage_std::RecordMeta;
    /// let t = UNIX_EPOCH + Duration::from_nanos(7);
    /// let m = RecordMeta { kind: 3, ..Default::default() }.with_timestamp(t);
    /// assert_eq!((m.timestamp_ns, m.timestamp()), (Some(7), Some(t)));
    /// ```
    pub fn with_timestamp(mut self, t: std::time::SystemTime) -> Self {
        self.timestamp_ns = Some(crate::time::to_ns(t));
        self
    }

    /// The stamp given, as a [`std::time::SystemTime`] (`None`: the log stamps the
    /// record).
    pub fn timestamp(&self) -> Option<std::time::SystemTime> {
        self.timestamp_ns.map(crate::time::from_ns)
    }
}

/// What [`Writer::close`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CloseReport {
    /// Every sequence up to and including this one is durable (`None`: nothing).
    pub durable_seq: Option<u64>,
    /// The sequence the next writer will continue from.
    pub next_seq: u64,
}

json_text_form!(CloseReport, "close report");

/// State shared by the writer handle, its thread and its watchdog. Live readers get
/// only [`Progress`], through a [`ProgressView`].
struct Shared {
    /// The watermarks and liveness that readers see.
    progress: Arc<Progress>,
    failure: Mutex<Option<Arc<StopCause>>>,
    closed: AtomicBool,
    shutdown: AtomicBool,
    space: Mutex<()>,
    space_cv: Condvar,
    space_waiters: AtomicUsize,
    writer_sleeping: AtomicBool,
    writer_thread: OnceLock<Thread>,
    watchdog_thread: OnceLock<Thread>,
    sync_request: AtomicU64,
    in_flight: Mutex<Option<InFlight>>,
    segments: Mutex<Vec<SegmentInfo>>,
    backend: Arc<dyn Backend>,
    /// Stamps records appended without a timestamp; the writer thread refreshes it.
    clock: RecordClock,
    /// The next sequence of an appender that is out (stored after each of its appends).
    appender_next: AtomicU64,
    stats: Mutex<StatsCell>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn failure(&self) -> Option<Arc<StopCause>> {
        if !self.progress.has_failed() {
            return None;
        }
        lock(&self.failure).clone()
    }

    /// Records the first failure and wakes everyone.
    fn fail(&self, cause: StopCause) {
        {
            let mut f = lock(&self.failure);
            if f.is_none() {
                trace_event!(tracing::Level::ERROR, cause = %cause, "writer fail-stop");
                *f = Some(Arc::new(cause));
            }
            self.progress.set_failed();
        }
        self.progress.notify();
        let _g = lock(&self.space);
        self.space_cv.notify_all();
    }

    fn wake_writer(&self) {
        if let Some(t) = self.writer_thread.get() {
            t.unpark();
        }
    }
}

/// The log writer. `Sync`: share it (`Arc<Writer>`) between appending threads.
///
/// ```
/// use storage_std::{Durability, Writer, WriterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
/// let seq = w.append(b"hello").unwrap();
/// w.wait_durable(seq, None).unwrap();
/// assert_eq!(w.durable_seq(), Some(seq));
/// w.close().unwrap();
/// ```
pub struct Writer<const N: usize = DEFAULT_QUEUE_BYTES> {
    /// `None` while an [`Appender`] holds it.
    producer: Mutex<Option<QueueProducer>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    watchdog: Option<JoinHandle<()>>,
    durability: Durability,
    max_payload: usize,
    report: RecoveryReport,
    close_result: Option<std::result::Result<CloseReport, Arc<StopCause>>>,
    // Dropped last: the lock is released only after the writer thread is gone.
    _lock: DirLock,
}

impl<const N: usize> std::fmt::Debug for Writer<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("backend", &self.shared.backend.kind())
            .field("durability", &self.durability)
            .field("durable_seq", &self.durable_seq())
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Writer<N> {
    /// Opens (creating if needed) the log in `dir` on real files, recovering it first.
    pub fn open(dir: impl AsRef<std::path::Path>, opts: WriterOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let backend = FileBackend::new(dir)
            .map_err(|e| Error::io("create_dir", dir.display().to_string(), e))?;
        Self::open_with(Arc::new(backend), opts)
    }

    /// Opens the log on any backend, recovering it first. The submit ring has
    /// [`WriterOptions::queue_bytes`] bytes, or `N` (a power of two from 64 to 2^31).
    pub fn open_with(backend: Arc<dyn Backend>, opts: WriterOptions) -> Result<Self> {
        opts.validate()?;
        let queue_bytes = opts.queue_bytes.unwrap_or(N);
        if !(queue_bytes.is_power_of_two() && (64..=1 << 31).contains(&queue_bytes)) {
            return Err(Error::InvalidArgument(format!(
                "queue size {queue_bytes} is not a power of two from 64 to 2^31"
            )));
        }
        let lock_guard = crate::backend::lock_patiently(&*backend)?;
        let max_payload = queue::max_payload(queue_bytes).min(MAX_PAYLOAD_LEN);
        let cap = opts.buffer_cap();
        // The torn window: what this writer can leave unsynced at once. One group is in
        // flight at a time, written at the end of the synced bytes (durable bytes are
        // never rewritten), and a group holds at most `cap` bytes of records or a single
        // larger record: every valid record a power cut leaves after damage ends within
        // `cap` bytes of it. `None` syncs only at rolls, `sync` and close: unbounded (0).
        let window = match opts.durability {
            Durability::None => 0,
            _ => cap as u64,
        };
        let rec = recover(
            &*backend,
            &RecoverOpts {
                force: opts.force,
                deep: opts.deep_check,
                first_seq: opts.first_seq,
                index_interval: opts.index_interval,
                window,
                preallocate: opts.preallocate.then_some(opts.segment_bytes),
            },
        )?;
        let next = rec.active.next_seq;
        // Assigned stamps continue from the largest one recovered: they never decrease
        // across a reopen either.
        let last_ts = rec
            .sealed
            .iter()
            .map(|s| s.max_ts)
            .chain([rec.active.stats.max_ts])
            .max()
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            progress: Arc::new(Progress::new(next)),
            failure: Mutex::new(None),
            closed: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            space: Mutex::new(()),
            space_cv: Condvar::new(),
            space_waiters: AtomicUsize::new(0),
            writer_sleeping: AtomicBool::new(false),
            writer_thread: OnceLock::new(),
            watchdog_thread: OnceLock::new(),
            sync_request: AtomicU64::new(0),
            in_flight: Mutex::new(None),
            segments: Mutex::new(rec.sealed),
            backend: backend.clone(),
            clock: RecordClock::new(),
            appender_next: AtomicU64::new(next),
            stats: Mutex::new(StatsCell::new()),
        });
        let (producer, consumer) = queue(queue_bytes, next, last_ts)
            .map_err(|e| Error::InvalidArgument(format!("queue size {}", e.capacity)))?;
        let mut wt = WriterThread::new(
            shared.clone(),
            opts.clone(),
            rec.active,
            cap,
            window,
            queue_bytes,
        );
        wt.open_durable_file();
        let thread = Builder::new()
            .name("storage-writer".into())
            .spawn(move || wt.run(consumer))
            .map_err(|e| Error::io("spawn", "writer thread", e))?;
        let _ = shared.writer_thread.set(thread.thread().clone());
        trace_event!(tracing::Level::INFO, backend = ?backend.kind(), next_seq = next, durability = ?opts.durability, "writer opened");
        let watchdog = match opts.stall_timeout {
            Some(t) => {
                let sh = shared.clone();
                let h = Builder::new()
                    .name("storage-watchdog".into())
                    .spawn(move || watchdog(sh, t))
                    .map_err(|e| Error::io("spawn", "watchdog thread", e))?;
                let _ = shared.watchdog_thread.set(h.thread().clone());
                Some(h)
            }
            None => None,
        };
        Ok(Self {
            producer: Mutex::new(Some(producer)),
            shared,
            thread: Some(thread),
            watchdog,
            durability: opts.durability,
            max_payload,
            report: rec.report,
            close_result: None,
            _lock: lock_guard,
        })
    }

    /// What recovery found and did when this writer opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The largest payload an append accepts.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.shared.backend
    }

    fn check_state(&self) -> Result<()> {
        if let Some(c) = self.shared.failure() {
            return Err(Error::Stopped(c));
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Whether the writer is still accepting appends; the fail-stop cause if not.
    pub fn health(&self) -> Result<()> {
        self.check_state()
    }

    /// Appends one record through `p`, waiting for room if `block`.
    #[inline]
    fn push_on(
        &self,
        p: &mut QueueProducer,
        len: usize,
        meta: RecordMeta,
        fill: &mut impl FnMut(&mut [u8]),
        block: bool,
    ) -> Result<u64> {
        if len > self.max_payload {
            return Err(Error::TooLarge {
                len,
                max: self.max_payload,
            });
        }
        loop {
            self.check_state()?;
            match p.push_with(len, meta, &self.shared.clock, &mut *fill) {
                Ok(seq) => return Ok(seq),
                Err(ringcore::spsc::PushError::Full) if block => {
                    self.shared.wake_writer();
                    self.shared.space_waiters.fetch_add(1, Ordering::SeqCst);
                    let g = lock(&self.shared.space);
                    let _ = self
                        .shared
                        .space_cv
                        .wait_timeout(g, Duration::from_millis(1));
                    self.shared.space_waiters.fetch_sub(1, Ordering::SeqCst);
                }
                Err(ringcore::spsc::PushError::Full) => return Err(Error::QueueFull),
                Err(ringcore::spsc::PushError::TooLarge { len, max }) => {
                    return Err(Error::TooLarge { len, max });
                }
            }
        }
    }

    /// After a record was published: wakes a sleeping writer thread, and with
    /// [`Durability::Sync`] waits until `seq` is durable.
    #[inline]
    fn after_push(&self, seq: u64) -> Result<u64> {
        // No full fence per append (it would cost every append a store-buffer drain):
        // a writer going to sleep looks at the queue twice, the second time after a
        // short park, by when a record published while we read a stale `false` here is
        // visible to it (see `WriterThread::idle`). `Sync` appends wait for the disk
        // anyway, so they pair with the writer's fence at once.
        if self.durability == Durability::Sync {
            fence(Ordering::SeqCst);
        }
        if self.shared.writer_sleeping.load(Ordering::Relaxed) {
            self.shared.wake_writer();
        }
        if self.durability == Durability::Sync {
            self.wait_durable(seq, None)?;
        }
        Ok(seq)
    }

    fn push(
        &self,
        len: usize,
        meta: RecordMeta,
        fill: &mut impl FnMut(&mut [u8]),
        block: bool,
    ) -> Result<u64> {
        let seq = {
            let mut slot = lock(&self.producer);
            let Some(p) = slot.as_mut() else {
                self.check_state()?;
                return Err(Error::ProducerBusy);
            };
            self.push_on(p, len, meta, fill, block)?
        };
        self.after_push(seq)
    }

    /// Takes the writer's single producer out as an [`Appender`]: appends through it take
    /// no lock. Until it is dropped, appends through the shared writer (and another
    /// `appender()`) return [`Error::ProducerBusy`]. An appender that is leaked
    /// (`mem::forget`) keeps the producer for good; the writer still syncs and closes
    /// what it appended.
    ///
    /// ```
    /// use storage_std::{Durability, Error, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::None)).unwrap();
    /// let mut a = w.appender().unwrap();
    /// assert!(matches!(w.append(b"shared"), Err(Error::ProducerBusy)));
    /// assert_eq!(a.append(b"fast").unwrap(), 0);
    /// drop(a);
    /// assert_eq!(w.append(b"shared").unwrap(), 1);
    /// assert_eq!(w.close().unwrap().durable_seq, Some(1));
    /// ```
    pub fn appender(&self) -> Result<Appender<'_, N>> {
        self.check_state()?;
        let p = lock(&self.producer).take().ok_or(Error::ProducerBusy)?;
        self.shared
            .appender_next
            .store(p.next_seq(), Ordering::Release);
        Ok(Appender {
            writer: self,
            producer: Some(p),
        })
    }

    /// Counters of what the writer thread did since open: records, bytes, groups and
    /// syncs written, sync latency percentiles, the submit queue's high-water mark.
    ///
    /// ```
    /// use storage_std::{Durability, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    /// let seq = w.append(b"counted").unwrap();
    /// w.wait_durable(seq, None).unwrap();
    /// let s = w.stats();
    /// assert_eq!((s.records, s.bytes), (1, 40));
    /// assert!(s.groups >= 1 && s.syncs >= 1);
    /// assert!(s.queue_high_water_bytes >= 40, "the record waited in the queue");
    /// assert!(s.sync_latency.unwrap().max_ns > 0);
    /// ```
    pub fn stats(&self) -> WriterStats {
        lock(&self.shared.stats).snapshot()
    }

    /// Appends a record (kind 0, flags 0, timestamp now); returns its sequence. Blocks
    /// while the queue is full. With [`Durability::Sync`] it returns once durable.
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        self.append_with(payload, RecordMeta::default())
    }

    /// Appends a record with its kind, flags and timestamp.
    pub fn append_with(&self, payload: &[u8], meta: RecordMeta) -> Result<u64> {
        self.push(
            payload.len(),
            meta,
            &mut |b| b.copy_from_slice(payload),
            true,
        )
    }

    /// Appends a record of `len` bytes written in place by `fill` (zero copy into the
    /// queue). `fill` must write all `len` bytes (the slice holds old queue bytes before)
    /// and runs while this thread holds the producer: keep it short, and do not call
    /// this writer's `append*`, `next_seq`, `sync` or `appender` from inside it (the
    /// producer's mutex is not reentrant: the thread would wait for itself). A `fill`
    /// that panics publishes nothing and uses up no sequence.
    pub fn append_in_place(
        &self,
        len: usize,
        meta: RecordMeta,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<u64> {
        let mut once = Some(fill);
        self.push(
            len,
            meta,
            &mut |b| {
                if let Some(f) = once.take() {
                    f(b)
                }
            },
            true,
        )
    }

    /// Like [`Writer::append_with`] but returns [`Error::QueueFull`] instead of blocking.
    pub fn try_append_with(&self, payload: &[u8], meta: RecordMeta) -> Result<u64> {
        self.push(
            payload.len(),
            meta,
            &mut |b| b.copy_from_slice(payload),
            false,
        )
    }

    /// The sequence the next append gets (while an [`Appender`] is out: as of its last
    /// append).
    pub fn next_seq(&self) -> u64 {
        match lock(&self.producer).as_ref() {
            Some(p) => p.next_seq(),
            None => self.shared.appender_next.load(Ordering::Acquire),
        }
    }

    /// Every sequence up to and including this one is durable (`None`: none yet).
    pub fn durable_seq(&self) -> Option<u64> {
        self.shared.progress.durable_end().checked_sub(1)
    }

    /// Every sequence up to and including this one was written to the backend (the page
    /// cache for real files), durable or not.
    pub fn written_seq(&self) -> Option<u64> {
        self.shared.progress.written_end().checked_sub(1)
    }

    /// Blocks until `seq` is durable, the writer stops (error naming the cause), or the
    /// timeout passes ([`Error::Timeout`], retryable). With [`Durability::None`] records
    /// become durable only at a segment roll, [`Writer::sync`] or close: call `sync`
    /// instead of waiting without a timeout.
    ///
    /// `Ok` means every sequence up to and including `seq` is durable (the watermark is
    /// a prefix, never a set). After a fail-stop, waiting for a sequence past the
    /// watermark returns [`Error::Stopped`] at once and forever: the writer never syncs
    /// again, so those records may or may not be on the disk.
    ///
    /// ```
    /// use std::time::Duration;
    /// use storage_std::{Durability, Error, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// // Page cache only: an append is acknowledged once queued, and nothing becomes
    /// // durable before a sync, a segment roll or close.
    /// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::None)).unwrap();
    /// let seq = w.append(b"order 1").unwrap();
    /// let e = w.wait_durable(seq, Some(Duration::from_millis(20))).unwrap_err();
    /// assert!(matches!(e, Error::Timeout { seq: s } if s == seq));
    /// assert!(e.is_retryable());
    /// assert_eq!(w.durable_seq(), None);
    /// assert_eq!(w.sync().unwrap(), Some(seq));
    /// w.wait_durable(seq, None).unwrap(); // at once: already durable
    /// let later = w.append(b"order 2").unwrap();
    /// let report = w.close().unwrap(); // a clean close syncs in every mode
    /// assert_eq!(report.durable_seq, Some(later));
    /// ```
    pub fn wait_durable(&self, seq: u64, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(crate::time::deadline_after);
        let sh = &self.shared;
        let p = &sh.progress;
        let ok = p.wait(deadline, || p.durable_end() > seq || p.is_done());
        if p.durable_end() > seq {
            return Ok(());
        }
        if let Some(c) = sh.failure() {
            return Err(Error::Stopped(c));
        }
        if ok && p.has_exited() {
            return Err(Error::Closed);
        }
        Err(Error::Timeout { seq })
    }

    /// The watermarks, for the `async` waits (crate::asynch).
    #[cfg(feature = "async")]
    pub(crate) fn progress(&self) -> &Progress {
        &self.shared.progress
    }

    /// How a wait for `seq` ends now: durable, the writer's fail-stop, closed; `None`
    /// while it may still become durable.
    #[cfg(feature = "async")]
    pub(crate) fn durable_outcome(&self, seq: u64) -> Option<Result<()>> {
        let p = &self.shared.progress;
        if p.durable_end() > seq {
            return Some(Ok(()));
        }
        if let Some(c) = self.shared.failure() {
            return Some(Err(Error::Stopped(c)));
        }
        p.has_exited().then_some(Err(Error::Closed))
    }

    /// Makes everything appended so far durable, whatever the mode, and waits for it;
    /// returns the durable watermark.
    pub fn sync(&self) -> Result<Option<u64>> {
        let end = self.next_seq();
        if end == 0 || self.shared.progress.durable_end() >= end {
            return Ok(self.durable_seq());
        }
        self.shared.sync_request.fetch_max(end, Ordering::AcqRel);
        self.shared.wake_writer();
        self.wait_durable(end - 1, None)?;
        Ok(self.durable_seq())
    }

    /// A reader of this log that reads the active segment up to `limit`.
    pub fn reader(&self, limit: ReadLimit) -> LogReader {
        LogReader::live(
            self.shared.backend.clone(),
            ProgressView::new(self.shared.progress.clone(), limit),
        )
    }

    /// The consumer offset store of this log.
    pub fn offsets(&self) -> OffsetStore {
        OffsetStore::new(self.shared.backend.clone())
    }

    /// The sealed segments, oldest first (the active one is not included; see
    /// [`LogReader::segments`] for all of them).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        lock(&self.shared.segments).clone()
    }

    /// Deletes whole sealed segments as `policy` says (see [`RetentionPolicy`]).
    pub fn apply_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        self.check_state()?;
        apply_retention(
            &*self.shared.backend,
            &self.shared.segments,
            policy,
            now_ns(),
        )
    }

    fn shutdown(&mut self) -> std::result::Result<CloseReport, Arc<StopCause>> {
        if let Some(r) = &self.close_result {
            return r.clone();
        }
        self.shared.closed.store(true, Ordering::Release);
        // Wait for an append in progress: appends check `closed` under this lock. (An
        // appender borrows the writer, so none is out here unless it was leaked; it
        // stored its next sequence after each append.)
        let next_seq = self.next_seq();
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake_writer();
        let stalled = matches!(
            self.shared.failure().as_deref(),
            Some(StopCause::Stall { .. })
        );
        if let Some(t) = self.thread.take() {
            if stalled {
                // The writer thread is stuck in a backend call; it stops when (if) the
                // call returns, and will not touch the watermark. Do not wait for it.
                drop(t);
            } else if t.join().is_err() {
                self.shared.fail(StopCause::Panic {
                    message: "writer thread panicked".into(),
                });
            }
        }
        if let Some(t) = self.shared.watchdog_thread.get() {
            t.unpark();
        }
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        let r = match self.shared.failure() {
            Some(c) => Err(c),
            None => Ok(CloseReport {
                durable_seq: self.durable_seq(),
                next_seq,
            }),
        };
        self.close_result = Some(r.clone());
        r
    }

    /// Stops accepting appends, writes and syncs everything queued (in every mode),
    /// stops the writer thread and releases the directory lock.
    pub fn close(mut self) -> Result<CloseReport> {
        self.shutdown().map_err(Error::Stopped)
    }
}

impl<const N: usize> Drop for Writer<N> {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The writer's single producer, taken out by [`Writer::appender`]: appends take no
/// lock. `Send` (move it to the appending thread) but not `Sync`; dropping it gives the
/// producer back to the writer. Appends behave as [`Writer`]'s do (blocking while the
/// queue is full, [`Durability::Sync`] waiting until durable, errors after a stop).
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<storage_std::Appender<'static>>(); // one producer: not `Sync`
/// ```
///
/// ```
/// fn movable<T: Send>() {}
/// movable::<storage_std::Appender<'static>>();
/// ```
pub struct Appender<'w, const N: usize = DEFAULT_QUEUE_BYTES> {
    writer: &'w Writer<N>,
    /// `Some` until dropped.
    producer: Option<QueueProducer>,
}

impl<const N: usize> std::fmt::Debug for Appender<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("next_seq", &self.next_seq())
            .finish_non_exhaustive()
    }
}

impl<'w, const N: usize> Appender<'w, N> {
    #[inline]
    fn push(
        &mut self,
        len: usize,
        meta: RecordMeta,
        fill: &mut impl FnMut(&mut [u8]),
        block: bool,
    ) -> Result<u64> {
        let w = self.writer;
        let p = self.producer.as_mut().expect("present until drop");
        let seq = w.push_on(p, len, meta, fill, block)?;
        w.shared
            .appender_next
            .store(seq.wrapping_add(1), Ordering::Release);
        w.after_push(seq)
    }

    /// The writer this appender appends to (for `wait_durable`, `sync`, readers...).
    pub fn writer(&self) -> &'w Writer<N> {
        self.writer
    }

    /// See [`Writer::append`].
    #[inline]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.append_with(payload, RecordMeta::default())
    }

    /// See [`Writer::append_with`].
    #[inline]
    pub fn append_with(&mut self, payload: &[u8], meta: RecordMeta) -> Result<u64> {
        self.push(
            payload.len(),
            meta,
            &mut |b| b.copy_from_slice(payload),
            true,
        )
    }

    /// See [`Writer::append_in_place`].
    #[inline]
    pub fn append_in_place(
        &mut self,
        len: usize,
        meta: RecordMeta,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<u64> {
        let mut once = Some(fill);
        self.push(
            len,
            meta,
            &mut |b| {
                if let Some(f) = once.take() {
                    f(b)
                }
            },
            true,
        )
    }

    /// See [`Writer::try_append_with`].
    pub fn try_append_with(&mut self, payload: &[u8], meta: RecordMeta) -> Result<u64> {
        self.push(
            payload.len(),
            meta,
            &mut |b| b.copy_from_slice(payload),
            false,
        )
    }

    /// The sequence the next append gets.
    pub fn next_seq(&self) -> u64 {
        self.producer.as_ref().map_or(0, QueueProducer::next_seq)
    }
}

impl<const N: usize> Drop for Appender<'_, N> {
    fn drop(&mut self) {
        *lock(&self.writer.producer) = self.producer.take();
    }
}
