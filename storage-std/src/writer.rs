//! The writer: a ringcore SPSC ring as the submit queue, drained by one writer thread
//! that commits groups to the active segment, rolls segments, and reports a durable
//! high-watermark.
//!
//! # Several producers
//!
//! The ring has exactly one producer. [`Writer`] keeps it behind a `Mutex`: any number of
//! threads call [`Writer::append`] on a shared `&Writer` (or `Arc<Writer>`), each append
//! holding the mutex only while it reserves, fills and publishes its record. Sequences
//! are assigned under that mutex, so they are gap-free and in queue order.
//!
//! # Durability
//!
//! See [`Durability`] for exactly what each mode promises.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::backend::{Backend, FileBackend, SyncKind, WriteGroup};
use crate::error::{Error, Result, StopCause};
use crate::format::{self, FOOTER_LEN, MAX_PAYLOAD_LEN, disk_record_len, encode_framed};
use crate::offsets::OffsetStore;
pub use crate::queue::RecordMeta;
use crate::queue::{QueueConsumer, QueueProducer, queue};
use crate::reader::{LogReader, ReadLimit};
use crate::recovery::{RecoverOpts, RecoveryReport, recover};
use crate::retention::{RetentionPolicy, RetentionReport, apply_retention};
use crate::segment::{ActiveSeg, NewSegment, OpCtx, OpError, SegmentInfo, create_segment};

/// Default size of the submit queue in bytes (4 MiB; payloads up to 2 MiB - 24).
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 22;

/// When appended records reach the disk, and when they count as durable.
///
/// In every mode: records are written in sequence order; the durable watermark
/// ([`Writer::durable_seq`]) only advances after a sync of the segment that holds them
/// succeeded (and, for a new segment, after its file and directory entry were synced);
/// a segment is synced before it is sealed; a clean [`Writer::close`] syncs everything
/// appended before it; an I/O error or stall stops the writer (fail-stop) and the
/// watermark never moves again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Records go to the page cache in writes of up to `buffer_bytes`, at most about
    /// 1 ms after the writer drained them; nothing is synced except when a segment is
    /// sealed, on [`Writer::sync`] and on a clean close. A power cut may lose everything
    /// since the last of those; a killed process loses what was still queued or
    /// buffered (not yet in [`Writer::written_seq`]). `append` returns once queued.
    None,
    /// Group commit: the writer collects records into a group and issues one write and
    /// one `fdatasync` per group. A group closes when it reaches `max_bytes`, or when the
    /// queue is empty and its first record has waited `max_delay` (zero: as soon as the
    /// queue is empty). Records count as durable once their group's sync returned;
    /// `append` returns once queued, [`Writer::wait_durable`] blocks until durable. A
    /// power cut loses at most the unacknowledged groups.
    Group {
        /// Bytes (on disk) that close a group; also the most bytes ever left unsynced.
        max_bytes: usize,
        /// The longest a record waits for its group to fill once the queue is empty.
        max_delay: Duration,
    },
    /// Like `Group` with no delay, and `append` itself returns only after the record is
    /// durable. With one appending thread that is one `fdatasync` per append; appends
    /// that arrive from other threads during a sync share the next one.
    Sync,
}

impl Durability {
    /// `Group` with 1 MiB groups and no added delay.
    pub const fn group() -> Self {
        Self::Group {
            max_bytes: 1 << 20,
            max_delay: Duration::ZERO,
        }
    }

    /// The name used by the CLI: `none`, `group`, `sync`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Group { .. } => "group",
            Self::Sync => "sync",
        }
    }
}

/// Settings of a writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The durability mode.
    pub durability: Durability,
    /// A segment is sealed and a new one started when the next record would make it
    /// larger than this (a single larger record gets a segment of its own).
    pub segment_bytes: u64,
    /// Bytes between sparse index entries.
    pub index_interval: u32,
    /// Sequence of the first record of a new, empty log.
    pub first_seq: u64,
    /// A backend call that takes longer than this stops the writer (`None`: never).
    pub stall_timeout: Option<Duration>,
    /// Preallocate each new segment's `segment_bytes` (`fallocate`, keeping the size).
    pub preallocate: bool,
    /// Retention applied by the writer thread after each roll.
    pub retention: Option<RetentionPolicy>,
    /// Recovery: cut damage that is not a torn tail instead of refusing to open.
    pub force: bool,
    /// Recovery: check every record of every sealed segment, not just headers, footers
    /// and the tail.
    pub deep_check: bool,
    /// Write buffer of the `None` and `Sync` modes (`Group` uses `max_bytes`).
    pub buffer_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            durability: Durability::group(),
            segment_bytes: 64 << 20,
            index_interval: 64 << 10,
            first_seq: 0,
            stall_timeout: Some(Duration::from_secs(30)),
            preallocate: false,
            retention: None,
            force: false,
            deep_check: false,
            buffer_bytes: 1 << 20,
        }
    }
}

impl WriterOptions {
    /// Defaults with this durability.
    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }

    /// Sets the segment size.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the stall threshold.
    pub fn stall_timeout(mut self, t: Option<Duration>) -> Self {
        self.stall_timeout = t;
        self
    }

    /// Sets `force` (cut mid-log damage on open).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets the retention policy applied after each roll.
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.retention = Some(policy);
        self
    }

    fn buffer_cap(&self) -> usize {
        match self.durability {
            Durability::Group { max_bytes, .. } => max_bytes.max(4096),
            _ => self.buffer_bytes.max(4096),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.segment_bytes < 4096 {
            return Err(Error::InvalidArgument(
                "segment_bytes must be at least 4096".into(),
            ));
        }
        if self.index_interval == 0 {
            return Err(Error::InvalidArgument(
                "index_interval must not be zero".into(),
            ));
        }
        Ok(())
    }
}

/// What [`Writer::close`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CloseReport {
    /// Every sequence up to and including this one is durable (`None`: nothing).
    pub durable_seq: Option<u64>,
    /// The sequence the next writer will continue from.
    pub next_seq: u64,
}

pub(crate) struct InFlight {
    since: Instant,
    op: &'static str,
    file: String,
}

/// State shared by the writer handle, its thread, its watchdog and live readers.
pub(crate) struct Shared {
    /// One past the last durable sequence.
    pub durable_end: AtomicU64,
    /// One past the last sequence written to the backend (page cache).
    pub written_end: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<Arc<StopCause>>>,
    closed: AtomicBool,
    shutdown: AtomicBool,
    exited: AtomicBool,
    progress: Mutex<()>,
    progress_cv: Condvar,
    space: Mutex<()>,
    space_cv: Condvar,
    space_waiters: AtomicUsize,
    writer_sleeping: AtomicBool,
    writer_thread: OnceLock<Thread>,
    watchdog_thread: OnceLock<Thread>,
    sync_request: AtomicU64,
    in_flight: Mutex<Option<InFlight>>,
    pub segments: Mutex<Vec<SegmentInfo>>,
    pub backend: Arc<dyn Backend>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn failure(&self) -> Option<Arc<StopCause>> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.failure).clone()
    }

    /// Records the first failure and wakes everyone.
    fn fail(&self, cause: StopCause) {
        {
            let mut f = lock(&self.failure);
            if f.is_none() {
                *f = Some(Arc::new(cause));
            }
            self.failed.store(true, Ordering::Release);
        }
        self.notify_progress();
        let _g = lock(&self.space);
        self.space_cv.notify_all();
    }

    fn notify_progress(&self) {
        let _g = lock(&self.progress);
        self.progress_cv.notify_all();
    }

    fn wake_writer(&self) {
        if let Some(t) = self.writer_thread.get() {
            t.unpark();
        }
    }

    /// Waits until `pred` holds or `deadline` passes; returns whether it holds.
    pub(crate) fn wait_progress(&self, deadline: Option<Instant>, pred: impl Fn() -> bool) -> bool {
        let mut g = lock(&self.progress);
        loop {
            if pred() {
                return true;
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(w) if !w.is_zero() => w.min(Duration::from_millis(50)),
                    _ => return pred(),
                },
                None => Duration::from_millis(50),
            };
            g = self
                .progress_cv
                .wait_timeout(g, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.failed.load(Ordering::Acquire) || self.exited.load(Ordering::Acquire)
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
    producer: Mutex<QueueProducer<N>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    watchdog: Option<JoinHandle<()>>,
    durability: Durability,
    max_payload: usize,
    report: RecoveryReport,
    close_result: Option<std::result::Result<CloseReport, Arc<StopCause>>>,
    // Dropped last: the lock is released only after the writer thread is gone.
    _lock: crate::backend::DirLock,
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

/// Nanoseconds since the Unix epoch from the system clock.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().try_into().unwrap_or(u64::MAX))
}

impl<const N: usize> Writer<N> {
    /// Opens (creating if needed) the log in `dir` on real files, recovering it first.
    pub fn open(dir: impl AsRef<std::path::Path>, opts: WriterOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let backend = FileBackend::new(dir)
            .map_err(|e| Error::io("create_dir", dir.display().to_string(), e))?;
        Self::open_with(Arc::new(backend), opts)
    }

    /// Opens the log on any backend, recovering it first.
    pub fn open_with(backend: Arc<dyn Backend>, opts: WriterOptions) -> Result<Self> {
        opts.validate()?;
        let lock_guard = match backend.lock() {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Locked(e.to_string()));
            }
            Err(e) => return Err(Error::io("lock", format::LOCK_FILE, e)),
        };
        let max_payload = QueueProducer::<N>::MAX_PAYLOAD.min(MAX_PAYLOAD_LEN);
        let cap = opts.buffer_cap();
        let window = match opts.durability {
            Durability::None => 0,
            _ => (cap.max(disk_record_len(max_payload)) + END_MARK.len()) as u64,
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
        let shared = Arc::new(Shared {
            durable_end: AtomicU64::new(next),
            written_end: AtomicU64::new(next),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            closed: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            progress: Mutex::new(()),
            progress_cv: Condvar::new(),
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
        });
        let (producer, consumer) = queue::<N>(next);
        let mut wt = WriterThread {
            shared: shared.clone(),
            opts: opts.clone(),
            active: rec.active,
            buf: Vec::with_capacity(cap + disk_record_len(0)),
            cap,
            window,
            pending_since: None,
            synced_end: next,
            written_end: next,
        };
        let thread = thread::Builder::new()
            .name("storage-writer".into())
            .spawn(move || wt.run(consumer))
            .map_err(|e| Error::io("spawn", "writer thread", e))?;
        let _ = shared.writer_thread.set(thread.thread().clone());
        let watchdog = match opts.stall_timeout {
            Some(t) => {
                let sh = shared.clone();
                let h = thread::Builder::new()
                    .name("storage-watchdog".into())
                    .spawn(move || watchdog(sh, t))
                    .map_err(|e| Error::io("spawn", "watchdog thread", e))?;
                let _ = shared.watchdog_thread.set(h.thread().clone());
                Some(h)
            }
            None => None,
        };
        Ok(Self {
            producer: Mutex::new(producer),
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

    fn push(
        &self,
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
        let ts = meta.timestamp_ns.unwrap_or_else(now_ns);
        let seq = {
            let mut p = lock(&self.producer);
            loop {
                self.check_state()?;
                match p.push_with(len, meta.kind, meta.flags, ts, &mut *fill) {
                    Ok(seq) => break seq,
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
        };
        // Pairs with the writer's fence between setting `writer_sleeping` and checking
        // the queue: either it sees our record or we see it sleeping.
        fence(Ordering::SeqCst);
        if self.shared.writer_sleeping.load(Ordering::Relaxed) {
            self.shared.wake_writer();
        }
        if self.durability == Durability::Sync {
            self.wait_durable(seq, None)?;
        }
        Ok(seq)
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
    /// and runs while this thread holds the producer: keep it short.
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

    /// The sequence the next append gets.
    pub fn next_seq(&self) -> u64 {
        lock(&self.producer).next_seq()
    }

    /// Every sequence up to and including this one is durable (`None`: none yet).
    pub fn durable_seq(&self) -> Option<u64> {
        self.shared
            .durable_end
            .load(Ordering::Acquire)
            .checked_sub(1)
    }

    /// Every sequence up to and including this one was written to the backend (the page
    /// cache for real files), durable or not.
    pub fn written_seq(&self) -> Option<u64> {
        self.shared
            .written_end
            .load(Ordering::Acquire)
            .checked_sub(1)
    }

    /// Blocks until `seq` is durable, the writer stops (error naming the cause), or the
    /// timeout passes ([`Error::Timeout`], retryable). With [`Durability::None`] records
    /// become durable only at a segment roll, [`Writer::sync`] or close: call `sync`
    /// instead of waiting without a timeout.
    pub fn wait_durable(&self, seq: u64, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let sh = &self.shared;
        let ok = sh.wait_progress(deadline, || {
            sh.durable_end.load(Ordering::Acquire) > seq || sh.is_done()
        });
        if sh.durable_end.load(Ordering::Acquire) > seq {
            return Ok(());
        }
        if let Some(c) = sh.failure() {
            return Err(Error::Stopped(c));
        }
        if ok && sh.exited.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Err(Error::Timeout { seq })
    }

    /// Makes everything appended so far durable, whatever the mode, and waits for it;
    /// returns the durable watermark.
    pub fn sync(&self) -> Result<Option<u64>> {
        let end = self.next_seq();
        if end == 0 || self.shared.durable_end.load(Ordering::Acquire) >= end {
            return Ok(self.durable_seq());
        }
        self.shared.sync_request.fetch_max(end, Ordering::AcqRel);
        self.shared.wake_writer();
        self.wait_durable(end - 1, None)?;
        Ok(self.durable_seq())
    }

    /// A reader of this log that reads the active segment up to `limit`.
    pub fn reader(&self, limit: ReadLimit) -> LogReader {
        LogReader::live(self.shared.clone(), limit)
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
        // Wait for an append in progress: appends check `closed` under this lock.
        let next_seq = lock(&self.producer).next_seq();
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

fn watchdog(shared: Arc<Shared>, threshold: Duration) {
    let tick = (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
    loop {
        if shared.exited.load(Ordering::Acquire) || shared.failed.load(Ordering::Acquire) {
            return;
        }
        thread::park_timeout(tick);
        let stalled = lock(&shared.in_flight)
            .as_ref()
            .filter(|f| f.since.elapsed() > threshold)
            .map(|f| StopCause::stall(f.op, &f.file, threshold));
        if let Some(c) = stalled {
            shared.fail(c);
            return;
        }
    }
}

/// Why the writer thread stopped early.
enum Halt {
    Op(OpError),
    /// The watchdog already declared a failure.
    Failed,
}

impl From<OpError> for Halt {
    fn from(e: OpError) -> Self {
        Self::Op(e)
    }
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { op, file, source } => Self::Op(OpError { op, file, source }),
            other => Self::Op(OpError::new(
                "retention",
                "log directory",
                std::io::Error::other(other.to_string()),
            )),
        }
    }
}

struct WriterThread {
    shared: Arc<Shared>,
    opts: WriterOptions,
    active: ActiveSeg,
    /// Encoded records not yet written; they start at `active.pos`.
    buf: Vec<u8>,
    cap: usize,
    window: u64,
    pending_since: Option<Instant>,
    synced_end: u64,
    written_end: u64,
}

const MAX_BATCH: usize = 1024;

/// Written after every group: an all-zero record header where the next record will go.
pub(crate) const END_MARK: [u8; format::REC_PREFIX_LEN] = [0; format::REC_PREFIX_LEN];

/// In `Durability::None`, the longest a drained record waits in the write buffer before
/// it is written to the page cache (when no more records arrive).
const NONE_WRITE_DELAY: Duration = Duration::from_millis(1);

impl WriterThread {
    fn run<const N: usize>(&mut self, mut consumer: QueueConsumer<N>) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_inner(&mut consumer)
        }));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(Halt::Op(e))) => self.shared.fail(e.cause()),
            Ok(Err(Halt::Failed)) => {}
            Err(p) => {
                let message = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.shared.fail(StopCause::Panic { message });
            }
        }
        self.shared.exited.store(true, Ordering::Release);
        self.shared.notify_progress();
        if let Some(t) = self.shared.watchdog_thread.get() {
            t.unpark();
        }
    }

    /// Runs one backend operation under the stall watchdog.
    fn guarded<T>(
        shared: &Shared,
        op: &'static str,
        file: &str,
        f: impl FnOnce() -> std::result::Result<T, OpError>,
    ) -> std::result::Result<T, Halt> {
        *lock(&shared.in_flight) = Some(InFlight {
            since: Instant::now(),
            op,
            file: file.to_owned(),
        });
        let r = f();
        *lock(&shared.in_flight) = None;
        let v = r?;
        if shared.failed.load(Ordering::Acquire) {
            return Err(Halt::Failed);
        }
        Ok(v)
    }

    fn run_inner<const N: usize>(
        &mut self,
        consumer: &mut QueueConsumer<N>,
    ) -> std::result::Result<(), Halt> {
        let _ = self.publish_segments();
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                return Err(Halt::Failed);
            }
            let shutdown = self.shared.shutdown.load(Ordering::Acquire);
            let drained = self.drain(consumer)?;
            let queue_empty = consumer.pending_bytes() == 0;
            match self.opts.durability {
                Durability::None => {
                    // Page cache only: write in large pieces, but leave no record
                    // unwritten for longer than NONE_WRITE_DELAY once the queue is empty.
                    let aged = self
                        .pending_since
                        .is_some_and(|t| t.elapsed() >= NONE_WRITE_DELAY);
                    if self.buf.len() >= self.cap
                        || (!self.buf.is_empty() && queue_empty && (aged || shutdown))
                    {
                        self.flush(false)?;
                    }
                }
                Durability::Group {
                    max_bytes,
                    max_delay,
                } => {
                    let aged = self.pending_since.is_some_and(|t| t.elapsed() >= max_delay);
                    if self.buf.len() >= max_bytes
                        || (!self.buf.is_empty() && queue_empty && (aged || shutdown))
                    {
                        self.flush(true)?;
                    }
                }
                Durability::Sync => {
                    if !self.buf.is_empty() && queue_empty {
                        self.flush(true)?;
                    }
                }
            }
            let requested = self.shared.sync_request.load(Ordering::Acquire);
            if requested > self.synced_end && queue_empty {
                self.flush(true)?;
                self.sync_written()?;
            }
            if shutdown && queue_empty {
                self.flush(true)?;
                self.sync_written()?;
                let durable = self.synced_end;
                let name = self.active.idx_name.clone();
                let a = &mut self.active;
                Self::guarded(&self.shared, "write", &name, || a.persist_index(durable))?;
                Self::guarded(&self.shared, "sync", &name, || {
                    a.idx_file.sync(SyncKind::Data).op("sync", &name)
                })?;
                return Ok(());
            }
            if drained == 0 {
                self.idle(consumer);
            }
        }
    }

    fn idle<const N: usize>(&mut self, consumer: &QueueConsumer<N>) {
        let delay = match self.opts.durability {
            Durability::Group { max_delay, .. } => Some(max_delay),
            Durability::None => Some(NONE_WRITE_DELAY),
            Durability::Sync => None,
        };
        if let (Some(since), Some(max_delay)) = (self.pending_since, delay) {
            // A group is open and waits for more records or its delay.
            let left = max_delay.saturating_sub(since.elapsed());
            if !left.is_zero() {
                thread::park_timeout(left.min(Duration::from_micros(200)));
            }
            return;
        }
        self.shared.writer_sleeping.store(true, Ordering::Relaxed);
        // Pairs with the appender's fence: see `Writer::push`.
        fence(Ordering::SeqCst);
        if consumer.pending_bytes() == 0
            && !self.shared.shutdown.load(Ordering::Acquire)
            && self.shared.sync_request.load(Ordering::Acquire) <= self.synced_end
        {
            thread::park_timeout(Duration::from_millis(20));
        }
        self.shared.writer_sleeping.store(false, Ordering::Relaxed);
    }

    /// Moves records from the queue into the group buffer, flushing and rolling as
    /// needed; returns how many.
    fn drain<const N: usize>(
        &mut self,
        consumer: &mut QueueConsumer<N>,
    ) -> std::result::Result<usize, Halt> {
        let mut n = 0;
        let mut batch = consumer.read_batch(MAX_BATCH);
        while let Some(r) = batch.next() {
            let rec_len = disk_record_len(r.payload.len());
            let end = self.active.pos + self.buf.len() as u64;
            if self.active.stats.count > 0
                && end + (rec_len + FOOTER_LEN) as u64 > self.opts.segment_bytes
            {
                self.roll()?;
            }
            if !self.buf.is_empty() && self.buf.len() + rec_len > self.cap {
                let sync = self.opts.durability != Durability::None;
                self.flush(sync)?;
            }
            debug_assert_eq!(r.header.seq, self.active.next_seq);
            let pos = self.active.pos + self.buf.len() as u64;
            encode_framed(&mut self.buf, &r.header.encode(), r.payload);
            let ts = r.header.timestamp_ns;
            self.active.index.add(r.header.seq, pos, ts);
            self.active.stats.add(ts);
            self.active.next_seq = r.header.seq.wrapping_add(1);
            if self.pending_since.is_none() {
                self.pending_since = Some(Instant::now());
            }
            n += 1;
        }
        drop(batch);
        if n > 0 && self.shared.space_waiters.load(Ordering::SeqCst) > 0 {
            let _g = lock(&self.shared.space);
            self.shared.space_cv.notify_all();
        }
        Ok(n)
    }

    /// Writes the buffered group, with a sync if `sync`.
    fn flush(&mut self, sync: bool) -> std::result::Result<(), Halt> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let kind = if sync { SyncKind::Data } else { SyncKind::None };
        let name = self.active.name.clone();
        let (buf, a) = (&self.buf, &mut self.active);
        let done = Self::guarded(
            &self.shared,
            if sync { "write+sync" } else { "write" },
            &name,
            || {
                a.file
                    .write_group(&WriteGroup {
                        offset: a.pos,
                        // The zeroed next header keeps the end clean in a recycled or
                        // preallocated file; the next group overwrites it.
                        bufs: &[buf, &END_MARK],
                        sync: kind,
                    })
                    .op(if sync { "write+sync" } else { "write" }, &name)
            },
        )?;
        self.active.pos += self.buf.len() as u64;
        self.buf.clear();
        self.pending_since = None;
        let end = self.active.next_seq;
        self.written_end = end;
        self.shared.written_end.store(end, Ordering::Release);
        if sync && done.synced {
            self.publish_durable(end)?;
        } else {
            self.shared.notify_progress();
        }
        Ok(())
    }

    /// Syncs what was written without a sync (the `None` mode's writes).
    fn sync_written(&mut self) -> std::result::Result<(), Halt> {
        if self.written_end <= self.synced_end {
            return Ok(());
        }
        let name = self.active.name.clone();
        let a = &mut self.active;
        Self::guarded(&self.shared, "sync", &name, || {
            a.file.sync(SyncKind::Data).op("sync", &name)
        })?;
        self.publish_durable(self.written_end)
    }

    fn publish_durable(&mut self, end: u64) -> std::result::Result<(), Halt> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(Halt::Failed);
        }
        self.synced_end = end;
        self.shared.durable_end.store(end, Ordering::Release);
        self.shared.notify_progress();
        let name = self.active.idx_name.clone();
        let a = &mut self.active;
        Self::guarded(&self.shared, "write", &name, || a.persist_index(end))?;
        Ok(())
    }

    fn publish_segments(&self) -> std::result::Result<(), Halt> {
        Ok(())
    }

    /// Seals the active segment and starts the next one.
    fn roll(&mut self) -> std::result::Result<(), Halt> {
        self.flush(true)?;
        self.sync_written()?;
        let name = self.active.name.clone();
        let a = &mut self.active;
        let info = Self::guarded(&self.shared, "seal", &name, || a.seal(now_ns()))?;
        lock(&self.shared.segments).push(info);
        let next = self.active.next_seq;
        let backend = self.shared.backend.clone();
        let seg = NewSegment {
            base_seq: next,
            created_ns: now_ns(),
            torn_window: self.window,
            index_interval: self.opts.index_interval,
            preallocate: self.opts.preallocate.then_some(self.opts.segment_bytes),
        };
        let new_name = format::segment_name(next);
        self.active = Self::guarded(&self.shared, "create", &new_name, || {
            create_segment(&*backend, seg)
        })?;
        if let Some(policy) = &self.opts.retention {
            let sh = &self.shared;
            Self::guarded(sh, "retention", "log directory", || {
                apply_retention(&*sh.backend, &sh.segments, policy, now_ns())
                    .map(|_| ())
                    .map_err(|e| match Halt::from(e) {
                        Halt::Op(o) => o,
                        Halt::Failed => OpError::new(
                            "retention",
                            "log directory",
                            std::io::Error::other("failed"),
                        ),
                    })
            })?;
        }
        Ok(())
    }
}
