//! Pre-written spare segment files, and recycling of retired segments into them.
//!
//! `fallocate(KEEP_SIZE)` reserves a segment's blocks but leaves its extents
//! *unwritten*: the first write to each one changes extent metadata, so every
//! `fdatasync` of a group in new space also commits a journal transaction. A file whose
//! blocks were all written once (with zeros) and synced has none of that: a later
//! overwrite plus `fdatasync` flushes data only. [`SpareBackend`] keeps up to
//! [`SpareOptions::spares`] such files ready, prepared off the writer's path, and hands
//! one out when the log creates a segment.
//!
//! # Files and their life
//!
//! * `spare-<n>.prep`: being prepared (a fresh file being zero-filled, or a retired
//!   segment being overwritten with zeros). Never handed out; removed when the next
//!   writer takes the directory's lock.
//! * `spare-<n>.zero`: ready. Renamed to this name only after every byte was written
//!   with zeros and the file was synced, and the rename's directory sync came after.
//!   So a `.zero` name that survives a crash always names an all-zero file.
//! * [`Backend::create`] of a `*.seg` renames a ready spare to the segment's name,
//!   syncs the directory (so no crash can put the spare's name back on a file the log
//!   has written to) and opens it; the log then writes and syncs the segment header and a zero record
//!   header, and syncs the directory, as for a fresh file. A crash between the rename and
//!   the header leaves a `*.seg` of zeros: a torn creation, which recovery removes.
//! * [`Backend::retire`] of a `*.seg` (retention deleting a sealed segment) renames it
//!   to a `.prep` name when recycling is on and there is room, and the preparer
//!   overwrites all of it with zeros before it becomes ready. No old record can therefore
//!   ever be read from a recycled file, whatever the sequences in it: the format's
//!   "a lower sequence after the last record ends the log" rule is a second line of
//!   defence, not the one this relies on. Only retention retires; recovery's removals
//!   (whose files may be hard-linked into `quarantine/`) really delete.
//!
//! None of these names ends in `.seg`, `.idx`, `.off` or `.tmp`, so the log, the verifier
//! and recovery ignore them.
//!
//! # Size
//!
//! Spares have the size of the last [`BackendFile::preallocate`] call on a segment this
//! backend created (the writer passes `segment_bytes` there when
//! `WriterOptions::preallocate` is set); until the first such call no spare is prepared
//! (existing ready ones are still handed out: all-zero files of any size are a clean
//! segment start). Ready spares of another size are removed when the size changes.
//!
//! # Cost
//!
//! Disk: up to `spares × segment_bytes` more space, and every segment's bytes written
//! twice (zeros, then records), the zero pass in the background. A recycled file saves
//! the block allocation and free, not the zero pass.
//!
//! Measured (`ringctl stress --log D --backend std --durability group --group-bytes G
//! --segment-bytes 16MiB --seconds 3 --json`, with and without `--spares 1`, 3
//! interleaved rounds, medians; 2 vCPUs, ext4 on virtio): 256 KiB groups 1.56 M against
//! 1.89 M ev/s (0.82x), 1 MiB groups 2.22 M against 2.69 M (0.83x); at 100 k ev/s
//! offered, commit p99 46 ms against 25 ms. The zero pass competes with the log's own
//! writes for the disk, and that costs more than the metadata commits it saves on this
//! disk, so spares stay opt-in. They pay where the disk has idle time between bursts.
//!
//! With the spares prepared ahead ([`SpareBackend::fill`] before the writer opens, and
//! [`SpareOptions::quiet`] so that refills wait for idle time) the log writes only
//! pre-written files until the ready spares run out. Measured 2026-12-04 (`cargo run
//! --release -p benches --bin log_peers -- --group-bytes 1048576,262144 --runs 3 --only
//! "group 1 mib|group 256 kib"`, medians of 3, one run; 2 vCPUs, ext4 on virtio):
//! Group 1 MiB 11.95 M events/s with spares ready against 9.01 M without (1.33x), Group
//! 256 KiB 8.69 M against 6.53 M (1.33x); two producers on spares ready 19.2 M. The raw
//! baseline on that disk was 27.4 M (pre-written) and 12.3 M (growing) at 1 MiB: with
//! the disk's cost gone the rest is the writer path's own.
//!
//! A reader still reading a segment that retention recycled reads zeros where the
//! records were (deletion would let it finish the old file); it then sees the end of
//! that segment early. Recycling is off by default for that reason.
//!
//! ```
//! use std::sync::Arc;
//! use storage_std::backend::{Backend, FileBackend, SpareOptions};
//! use storage_std::{Durability, Writer, WriterOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let backend = FileBackend::new(dir.path()).unwrap().with_spares(SpareOptions::default());
//! let opts = WriterOptions::new(Durability::group())
//!     .with_segment_bytes(64 << 10)
//!     .with_preallocate(true); // spares follow the segment size preallocated
//! let w: Writer = Writer::open_with(Arc::new(backend), opts).unwrap();
//! for _ in 0..2000 {
//!     w.append(&[1; 100]).unwrap();
//! }
//! w.close().unwrap();
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::format::segment::valid_segment_bytes;

use super::{Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup};

/// The most ready spares a [`SpareBackend`] keeps.
pub const MAX_SPARES: usize = 8;

const PREFIX: &str = "spare-";
const READY: &str = ".zero";
const PREP: &str = ".prep";
/// Zeros written per call while preparing a spare.
const ZERO_CHUNK: usize = 1 << 20;
/// The largest spare id a lock's adoption takes for one of this backend's names.
const MAX_SPARE_ID: u64 = u64::MAX / 2;
/// `Shared::last_write` before any segment write: a log that never wrote is quiet.
const NEVER_WROTE: u64 = u64::MAX;

/// Settings of a [`SpareBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpareOptions {
    /// Ready spares to keep (1 to [`MAX_SPARES`]).
    pub spares: usize,
    /// Whether [`Backend::retire`] turns a retired segment into a spare (zeroed before
    /// use) instead of deleting it. New spares are then made only while none is ready;
    /// retired segments fill the others (so `spares` of at least 2 recycles).
    pub recycle: bool,
    /// Prepare spares on a background thread (the default). Off, they are prepared
    /// inline in the call that asked for one (deterministic: for tests that cut the
    /// power at every step).
    pub background: bool,
    /// The spare size, known before the log preallocates its first segment (`None`:
    /// learnt from that preallocation). With it, [`SpareBackend::fill`] can have spares
    /// ready before the log creates its first segment. A size no segment can have
    /// (outside [`crate::MIN_SEGMENT_BYTES`]..=[`crate::MAX_SEGMENT_BYTES`]) counts as
    /// `None`: a zero pass over `u64::MAX` bytes would only end with a full disk.
    pub size: Option<u64>,
    /// Prepare spares only while the log is quiet: a zero pass writes its next chunk
    /// only once no segment write has happened for this long (zero: at once). The zero
    /// pass then uses the disk's idle time instead of competing with the log's writes
    /// (which costs more than it saves: see the module docs), and a burst that outlasts
    /// the ready spares creates new files as without spares. Background preparation
    /// only. A log that has not written a segment yet through this backend is quiet
    /// (a [`SpareBackend::fill`] before the writer opens does not wait).
    pub quiet: Duration,
}

/// Builders: `SpareOptions` is `#[non_exhaustive]` (an option added later is not a breaking
/// change), so it is built from its default with these.
impl SpareOptions {
    /// Sets [`SpareOptions::spares`].
    #[must_use]
    pub fn with_spares(mut self, spares: usize) -> Self {
        self.spares = spares;
        self
    }

    /// Sets [`SpareOptions::recycle`].
    #[must_use]
    pub fn with_recycle(mut self, recycle: bool) -> Self {
        self.recycle = recycle;
        self
    }

    /// Sets [`SpareOptions::background`].
    #[must_use]
    pub fn with_background(mut self, background: bool) -> Self {
        self.background = background;
        self
    }

    /// Sets [`SpareOptions::size`].
    #[must_use]
    pub fn with_size(mut self, size: Option<u64>) -> Self {
        self.size = size;
        self
    }

    /// Sets [`SpareOptions::quiet`].
    #[must_use]
    pub fn with_quiet(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }
}

impl Default for SpareOptions {
    /// One spare, no recycling, prepared in the background.
    fn default() -> Self {
        Self {
            spares: 1,
            recycle: false,
            background: true,
            size: None,
            quiet: Duration::ZERO,
        }
    }
}

/// What a [`SpareBackend`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpareStats {
    /// Segments created from a ready spare.
    pub taken: u64,
    /// Segments created as new files (no spare was ready).
    pub missed: u64,
    /// Spares made ready.
    pub prepared: u64,
    /// Of those, made from a retired segment.
    pub recycled: u64,
    /// Zero bytes written.
    pub zero_bytes: u64,
    /// Stray or surplus spare files removed.
    pub removed: u64,
    /// Preparations that failed (the log is not affected; see `last_error`).
    pub failures: u64,
}

#[derive(Default)]
struct State {
    /// Spare size, learnt from the last segment preallocation.
    size: Option<u64>,
    /// Ready spares and their lengths, oldest first.
    ready: Vec<(String, u64)>,
    /// Retired segments renamed to `.prep` names, waiting for their zero pass.
    retired: VecDeque<String>,
    next_id: u64,
    /// Set once this backend holds the directory's lock and cleaned up strays.
    owned: bool,
    busy: bool,
    /// The `.prep` file the running job zero-fills (set with `busy`): an adoption while
    /// it runs (its writer closed, then a new lock) leaves it to the job.
    preparing: Option<String>,
    stop: bool,
    stats: SpareStats,
    last_error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    opts: SpareOptions,
    /// What `last_write` counts from.
    epoch: Instant,
    /// Nanoseconds from `epoch` to the end of the last segment write (with `quiet` only;
    /// [`NEVER_WROTE`] until the first).
    last_write: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Notes a segment write (only when preparations wait for quiet).
    fn wrote(&self) {
        if !self.opts.quiet.is_zero() {
            self.last_write.store(self.since_epoch(), Ordering::Relaxed);
        }
    }

    /// Waits until no segment write happened for `opts.quiet`; `Err` when stopped, or
    /// when a [`SpareBackend::fill`] is about to let the lock go (the job's work then
    /// needs a lock it no longer has).
    fn wait_quiet(&self) -> io::Result<()> {
        // Inline preparation runs in the log's own call: waiting there would stall it.
        if !self.opts.background {
            return Ok(());
        }
        let quiet = u64::try_from(self.opts.quiet.as_nanos()).unwrap_or(u64::MAX);
        loop {
            if self.lock().stopped() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
            }
            let last = self.last_write.load(Ordering::Relaxed);
            if last == NEVER_WROTE {
                return Ok(());
            }
            let idle = self.since_epoch().saturating_sub(last);
            if quiet == 0 || idle >= quiet {
                return Ok(());
            }
            // Short naps, so that a stop is seen promptly.
            let nap = (quiet - idle).min(50_000_000);
            std::thread::sleep(Duration::from_nanos(nap));
        }
    }
}

enum Job {
    /// Zero-fill this retired segment (already renamed to its `.prep` name).
    Recycle(String, u64),
    /// Create and zero-fill a new spare.
    Fresh(String, u64),
}

impl State {
    /// Whether a running job must stop: the backend is dropped, or the lock its work
    /// needs is let go (by a `fill`, which waits for the job before it does).
    fn stopped(&self) -> bool {
        self.stop || !self.owned
    }

    fn next_job(&mut self, opts: &SpareOptions) -> Option<Job> {
        if !self.owned || self.busy || self.stop {
            return None;
        }
        let size = self.size?;
        if let Some(p) = self.retired.pop_front() {
            return Some(Job::Recycle(p, size));
        }
        // With recycling, retired segments fill the spares beyond the first.
        let want = if opts.recycle { 1 } else { opts.spares };
        if self.ready.len() < want {
            let name = format!("{PREFIX}{:020}{PREP}", self.next_id);
            self.next_id += 1;
            return Some(Job::Fresh(name, size));
        }
        None
    }
}

/// A backend that hands out pre-written (zeroed) segment files: see the module docs.
///
/// Wraps any [`Backend`]; only `*.seg` creations and retirements change. Spares are
/// prepared only while this backend holds the directory's writer lock ([`Backend::lock`]
/// also removes stray and surplus spares).
pub struct SpareBackend<B: Backend> {
    inner: Arc<B>,
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl<B: Backend> fmt::Debug for SpareBackend<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.lock();
        f.debug_struct("SpareBackend")
            .field("inner", &self.inner)
            .field("opts", &self.shared.opts)
            .field("size", &s.size)
            .field("ready", &s.ready)
            .finish()
    }
}

impl<B: Backend> SpareBackend<B> {
    /// Wraps `inner`; `opts.spares` is clamped to 1..=[`MAX_SPARES`].
    pub fn new(inner: B, mut opts: SpareOptions) -> Self {
        opts.spares = opts.spares.clamp(1, MAX_SPARES);
        Self {
            inner: Arc::new(inner),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    size: opts.size.filter(|&n| valid_segment_bytes(n)),
                    ..State::default()
                }),
                wake: Condvar::new(),
                opts,
                epoch: Instant::now(),
                last_write: AtomicU64::new(NEVER_WROTE),
            }),
            worker: Mutex::new(None),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// What it did so far.
    pub fn stats(&self) -> SpareStats {
        self.shared.lock().stats
    }

    /// The last preparation error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// The names of the ready spares.
    pub fn ready(&self) -> Vec<String> {
        self.shared
            .lock()
            .ready
            .iter()
            .map(|r| r.0.clone())
            .collect()
    }

    /// Waits until no preparation is pending or running (or `timeout` passed); returns
    /// whether it is idle.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        let deadline = crate::time::deadline_after(timeout);
        let mut s = self.shared.lock();
        loop {
            let opts = self.shared.opts;
            let want = if opts.recycle { 1 } else { opts.spares };
            let pending = s.busy
                || !s.retired.is_empty()
                || (s.owned && s.size.is_some() && s.ready.len() < want && !s.stop);
            let failed_since = s.last_error.is_some() && !s.busy;
            if !pending || failed_since {
                return !pending;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            s = self
                .shared
                .wake
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Takes the directory's writer lock, prepares every spare the options ask for
    /// (waiting at most `timeout`, and for [`SpareOptions::quiet`] only if the log
    /// wrote recently), and lets the lock go; returns whether all are ready. A
    /// preparation the timeout cut short is stopped (at its next 1 MiB chunk) and its
    /// file removed before the lock goes: nothing is prepared without the lock. With
    /// [`SpareOptions::background`] off they are prepared in this call, whatever the
    /// timeout. Call it
    /// before opening the writer so that its first segments start pre-written (it needs
    /// [`SpareOptions::size`], or a size learnt from an earlier segment).
    ///
    /// # Errors
    /// The directory is locked by another writer, or listing it failed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use storage_std::backend::{FileBackend, SpareOptions};
    /// use storage_std::{Durability, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let seg = 64 << 10;
    /// let spares = SpareOptions::default().with_spares(2).with_size(Some(seg));
    /// let backend = FileBackend::new(dir.path()).unwrap().with_spares(spares);
    /// assert!(backend.fill(Duration::from_secs(10)).unwrap());
    /// assert_eq!(backend.ready().len(), 2);
    /// let backend = Arc::new(backend);
    /// let opts = WriterOptions::new(Durability::group())
    ///     .with_segment_bytes(seg)
    ///     .with_preallocate(true);
    /// let w: Writer = Writer::open_with(backend.clone(), opts).unwrap();
    /// w.append(&[7; 100]).unwrap();
    /// w.close().unwrap();
    /// assert_eq!(backend.stats().taken, 1); // the first segment was a spare
    /// ```
    pub fn fill(&self, timeout: Duration) -> io::Result<bool> {
        let lock = self.lock()?;
        let idle = self.wait_idle(timeout);
        // Preparing needs the lock: stop until the next `lock` adopts the files again. A
        // zero pass the timeout cut short stops at its next chunk (its file removed),
        // before the lock goes: whoever takes it next must not find a file of this
        // backend's changing (or renamed ready half-written) under it.
        let ready = {
            let mut s = self.shared.lock();
            s.owned = false;
            while s.busy {
                s = self.shared.wake.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            // Idle is not ready: without a size, or after a failed preparation, nothing
            // is pending and nothing was made.
            let opts = self.shared.opts;
            let want = if opts.recycle { 1 } else { opts.spares };
            idle && s.ready.len() >= want
        };
        drop(lock);
        Ok(ready)
    }

    /// Runs pending preparations now (inline mode), or wakes the preparer.
    fn kick(&self) {
        if self.shared.opts.background {
            self.shared.wake.notify_all();
        } else {
            run_jobs(&*self.inner, &self.shared, false);
        }
    }

    /// Removes `.prep` files and spares beyond the bound; loads the ready ones.
    fn adopt(&self) -> io::Result<()> {
        let mut ready = Vec::new();
        let mut removed = 0u64;
        let mut max_id = None::<u64>;
        // A job still running from before (a writer that closed while it ran, then this
        // lock) owns its file: removing it would fail the job for nothing.
        // No other job starts before this adoption sets `owned`.
        let (size, preparing) = {
            let s = self.shared.lock();
            (s.size, s.preparing.clone())
        };
        let mut names = self.inner.list()?;
        names.sort();
        for n in names {
            let Some(id) = spare_id(&n) else { continue };
            // Ids count up from 0 one spare at a time: one past this is no name this
            // backend made (hand-placed or damaged), and counting on from it would
            // overflow. Removed as a stray.
            let ours = id <= MAX_SPARE_ID;
            if ours {
                max_id = max_id.max(Some(id));
            }
            if preparing.as_deref() == Some(n.as_str()) {
                continue;
            }
            // Another size than the known one (a run with another segment size left
            // it): not a pre-written segment, replaced.
            if ours
                && n.ends_with(READY)
                && ready.len() < self.shared.opts.spares
                && let Ok(len) = self.inner.open(&n, Access::Read).and_then(|f| f.len())
                && size.is_none_or(|s| s == len)
            {
                ready.push((n, len));
                continue;
            }
            match self.inner.remove(&n) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if removed > 0 {
            self.inner.sync_dir()?;
        }
        let mut s = self.shared.lock();
        // The running job's spare, made ready since the listing above.
        if let Some(p) = &preparing {
            let made = format!("{}{READY}", &p[..p.len() - PREP.len()]);
            if let Some(r) = s.ready.iter().find(|r| r.0 == made).cloned()
                && !ready.contains(&r)
            {
                ready.insert(0, r);
            }
        }
        s.ready = ready;
        s.retired.clear();
        s.next_id = max_id.map_or(0, |m| m + 1).max(s.next_id);
        s.stats.removed += removed;
        s.owned = true;
        s.last_error = None;
        Ok(())
    }

    fn start_worker(&self) {
        if !self.shared.opts.background {
            return;
        }
        let mut w = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        if w.is_some() {
            return;
        }
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ringlog-spares".into())
            .spawn(move || run_jobs(&*inner, &shared, true));
        match spawned {
            Ok(h) => *w = Some(h),
            Err(e) => self.shared.lock().last_error = Some(format!("spawn: {e}")),
        }
    }

    /// Renames a ready spare to `name` and opens it; `None` when none is ready.
    fn take(&self, name: &str) -> io::Result<Option<Box<dyn BackendFile>>> {
        loop {
            let spare = {
                let mut s = self.shared.lock();
                if !s.owned {
                    return Ok(None);
                }
                match s.ready.pop() {
                    Some(r) => r,
                    None => return Ok(None),
                }
            };
            // One writer holds the lock: nothing creates `name` between the check and
            // the rename.
            if self.inner.open(name, Access::Read).is_ok() {
                self.shared.lock().ready.push(spare);
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{name} exists"),
                ));
            }
            match self.inner.rename(&spare.0, name) {
                Ok(()) => {}
                // Removed by hand: try the next one.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            // Durable before the first byte goes in: otherwise a crash could undo the
            // rename and leave the spare's name on a file with a segment header in it.
            self.inner.sync_dir()?;
            let f = self.inner.open(name, Access::ReadWrite)?;
            self.shared.lock().stats.taken += 1;
            return Ok(Some(f));
        }
    }
}

impl<B: Backend> Drop for SpareBackend<B> {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

/// The id of a spare file name (`.prep` or `.zero`).
fn spare_id(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits = rest
        .strip_suffix(READY)
        .or_else(|| rest.strip_suffix(PREP))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Runs jobs until there is none; `wait` keeps waiting for more until stopped.
fn run_jobs(inner: &dyn Backend, shared: &Shared, wait: bool) {
    loop {
        let job = {
            let mut s = shared.lock();
            loop {
                if s.stop {
                    return;
                }
                if let Some(j) = s.next_job(&shared.opts) {
                    s.busy = true;
                    s.preparing = Some(match &j {
                        Job::Recycle(p, _) | Job::Fresh(p, _) => p.clone(),
                    });
                    break j;
                }
                if !wait {
                    return;
                }
                s = shared.wake.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        let (prep, size, recycled) = match job {
            Job::Recycle(p, size) => (p, size, true),
            Job::Fresh(p, size) => (p, size, false),
        };
        let result = prepare(inner, shared, &prep, size, recycled);
        let mut s = shared.lock();
        s.busy = false;
        s.preparing = None;
        match result {
            Ok(ready) => {
                s.stats.prepared += 1;
                s.stats.recycled += u64::from(recycled);
                s.ready.insert(0, (ready, size));
            }
            // Stopped (a drop, or a `fill` letting the lock go): no failure, and the size
            // stays for the next lock's jobs.
            Err(e) if e.kind() == io::ErrorKind::Interrupted && s.stopped() => {
                let _ = inner.remove(&prep);
            }
            Err(e) => {
                s.stats.failures += 1;
                s.last_error = Some(format!("preparing {prep}: {e}"));
                let _ = inner.remove(&prep);
                // Stop preparing until the size changes or the lock is taken again
                // (a full disk would otherwise be retried in a loop).
                s.size = None;
            }
        }
        drop(s);
        shared.wake.notify_all();
    }
}

/// Writes zeros over all of `prep` (created first unless `recycled`), trims it to
/// `size`, syncs it, renames it to its ready name and syncs the directory.
fn prepare(
    inner: &dyn Backend,
    shared: &Shared,
    prep: &str,
    size: u64,
    recycled: bool,
) -> io::Result<String> {
    let mut f = if recycled {
        // The rename away from the segment's name must be durable before the first
        // zero: otherwise a crash could bring the segment's name back over a file whose
        // header is already zero and whose records still follow (damage, not a clean
        // retirement). After this, a crash leaves a `.prep` file, removed at open.
        inner.sync_dir()?;
        inner.open(prep, Access::ReadWrite)?
    } else {
        inner.create(prep)?
    };
    let old_len = f.len()?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut pos = 0u64;
    while pos < size {
        shared.wait_quiet()?;
        let n = (size - pos).min(ZERO_CHUNK as u64) as usize;
        f.write_group(&WriteGroup {
            offset: pos,
            bufs: &[&zeros[..n]],
            sync: SyncKind::None,
        })?;
        pos += n as u64;
        shared.lock().stats.zero_bytes += n as u64;
    }
    if old_len > size {
        f.set_len(size)?;
    }
    f.sync(SyncKind::All)?;
    drop(f);
    let ready = format!("{}{READY}", &prep[..prep.len() - PREP.len()]);
    inner.rename(prep, &ready)?;
    inner.sync_dir()?;
    Ok(ready)
}

/// A segment file this backend created: learns the spare size from `preallocate`.
struct SpareFile<B: Backend> {
    inner: Box<dyn BackendFile>,
    owner: Arc<SpareHook<B>>,
}

/// What a [`SpareFile`] needs of its backend (not the backend itself, so that files
/// outliving it keep no thread alive).
struct SpareHook<B: Backend> {
    inner: Arc<B>,
    shared: Arc<Shared>,
}

impl<B: Backend> fmt::Debug for SpareFile<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpareFile")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<B: Backend> BackendFile for SpareFile<B> {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        let r = self.inner.write_group(group);
        self.owner.shared.wrote();
        r
    }
    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        self.inner.sync(kind)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let r = self.inner.preallocate(len);
        if r.is_ok() && valid_segment_bytes(len) {
            let h = &self.owner;
            let stale: Vec<String> = {
                let mut s = h.shared.lock();
                if s.size != Some(len) {
                    s.size = Some(len);
                    let (keep, stale): (Vec<_>, Vec<_>) =
                        s.ready.drain(..).partition(|r| r.1 == len);
                    s.ready = keep;
                    stale.into_iter().map(|r| r.0).collect()
                } else {
                    Vec::new()
                }
            };
            for n in stale {
                if h.inner.remove(&n).is_ok() {
                    h.shared.lock().stats.removed += 1;
                }
            }
            if h.shared.opts.background {
                h.shared.wake.notify_all();
            } else {
                run_jobs(&*h.inner, &h.shared, false);
            }
        }
        r
    }
}

impl<B: Backend> SpareBackend<B> {
    fn hook(&self) -> Arc<SpareHook<B>> {
        Arc::new(SpareHook {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        })
    }
}

impl<B: Backend> Backend for SpareBackend<B> {
    fn kind(&self) -> String {
        self.inner.kind()
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        if !name.ends_with(crate::format::SEGMENT_SUFFIX) || name.contains('/') {
            return self.inner.create(name);
        }
        // A segment creation is the log at work: the quiet period starts again.
        self.shared.wrote();
        let file = match self.take(name)? {
            Some(f) => {
                self.kick();
                f
            }
            None => {
                let f = self.inner.create(name)?;
                self.shared.lock().stats.missed += 1;
                f
            }
        };
        Ok(Box::new(SpareFile {
            inner: file,
            owner: self.hook(),
        }))
    }
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        self.inner.open(name, access)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn retire(&self, name: &str) -> io::Result<()> {
        let prep = {
            let mut s = self.shared.lock();
            let room =
                s.ready.len() + s.retired.len() + usize::from(s.busy) < self.shared.opts.spares;
            if !(self.shared.opts.recycle
                && s.owned
                && s.size.is_some()
                && room
                && name.ends_with(crate::format::SEGMENT_SUFFIX)
                && !name.contains('/'))
            {
                None
            } else {
                let p = format!("{PREFIX}{:020}{PREP}", s.next_id);
                s.next_id += 1;
                Some(p)
            }
        };
        let Some(prep) = prep else {
            return self.inner.remove(name);
        };
        self.inner.rename(name, &prep)?;
        self.shared.lock().retired.push_back(prep);
        self.kick();
        Ok(())
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn lock(&self) -> io::Result<DirLock> {
        let l = self.inner.lock()?;
        self.adopt()?;
        self.start_worker();
        self.kick();
        Ok(l)
    }
    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.map(name)
    }
    fn lock_held(&self) -> io::Result<bool> {
        self.inner.lock_held()
    }
    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.link(from, to)
    }
    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.inner.list_quarantine()
    }
    fn sync_quarantine(&self) -> io::Result<()> {
        self.inner.sync_quarantine()
    }
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read_all(name)
    }
}
