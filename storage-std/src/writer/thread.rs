//! The writer thread: drains the submit queue into groups, writes them with the
//! durability the options ask for, seals and rolls segments, applies retention after a
//! roll, and publishes the watermarks. A backend error or a stall (seen by the watchdog)
//! stops it for good (fail-stop).

use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::thread;
use std::time::{Duration, Instant};

use crate::backend::{Access, BackendFile, SyncKind, WriteGroup, write_at};
use crate::clock::now_ns;
use crate::error::{Error, OpCtx, OpError, StopCause};
use crate::format::chain::{CHAIN_START, SegmentChain};
use crate::format::{self, END_MARK, FOOTER_LEN, SEGMENT_HEADER_LEN};
use crate::retention::apply_retention;
use crate::segment::{ActiveSeg, NewSegment, create_segment};

use ringcore::spsc::RawRange;

use super::queue::{QueueConsumer, header_at};

/// Where a walk through ring records stopped.
enum Boundary {
    /// The next record goes into a new segment.
    Segment,
    /// The next record would make the open group larger than its cap.
    Group,
}
use super::{Durability, Shared, WriterOptions, lock};

/// The backend call the writer thread is in, for the stall watchdog.
pub(super) struct InFlight {
    since: Instant,
    op: &'static str,
    file: String,
}

/// Declares a stall when one backend call takes longer than `threshold`.
pub(super) fn watchdog(shared: Arc<Shared>, threshold: Duration) {
    let tick = (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
    loop {
        if shared.progress.is_done() {
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
            Error::Io { op, file, error } => Self::Op(OpError {
                op,
                file,
                source: error,
            }),
            other => Self::Op(OpError::new(
                "retention",
                "log directory",
                std::io::Error::other(other.to_string()),
            )),
        }
    }
}

/// The writer thread: drains the queue into groups, writes and syncs them, rolls
/// segments, and moves the watermarks.
pub(super) struct WriterThread {
    shared: Arc<Shared>,
    opts: WriterOptions,
    active: ActiveSeg,
    /// Ring ranges of records not yet written, in order; they start at `active.pos`.
    /// Held (not released) until the backend call that writes them returned.
    pieces: Vec<RawRange>,
    /// Bytes in `pieces`.
    group_len: usize,
    /// Records in `pieces`.
    group_records: u64,
    /// The most bytes a group holds: the buffer size, or half the ring if smaller (a
    /// group larger than the ring could never fill).
    group_cap: usize,
    /// When the writer thread last refreshed the record clock.
    clock_refreshed: Option<Instant>,
    window: u64,
    pending_since: Option<Instant>,
    /// CPU time of the threads that hashed groups for the chain, added up.
    helper_cpu_ns: u64,
    synced_end: u64,
    written_end: u64,
    /// Where the active segment's synced bytes end: everything before it reached the
    /// disk (a sync of the file succeeded after it was written).
    synced_pos: u64,
    /// The `DURABLE` file, where the durable point is published for other processes.
    durable_file: Option<Box<dyn BackendFile>>,
    /// What was published last (segment, records end).
    published: (u64, u64),
    /// The active segment's running digest ([`format::chain`]) over every record
    /// written to it: at a durable point, exactly the synced records. `None` with the
    /// chain off.
    chain: Option<SegmentChain>,
}

/// How long a writer going to sleep waits before it looks at the queue a second time
/// (see `WriterThread::idle`).
const SLEEP_RECHECK: Duration = Duration::from_micros(50);

/// Ring ranges taken per pass of the writer loop (each up to half the ring), so it
/// checks for shutdown and sync requests between them.
const MAX_RANGES: usize = 64;

/// CPU time (user and system) the calling thread has used, in nanoseconds (0 where the
/// clock is unavailable).
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// Groups from this size on that sync are hashed for the digest chain on a scoped thread
/// while their write and sync are in flight; smaller ones, and groups written without a
/// sync, inline before the write.
const OVERLAP_HASH_BYTES: usize = 128 << 10;

/// In `Durability::None`, the longest a drained record waits in the write buffer before
/// it is written to the page cache (when no more records arrive).
const NONE_WRITE_DELAY: Duration = Duration::from_millis(1);

impl WriterThread {
    pub(super) fn new(
        shared: Arc<Shared>,
        opts: WriterOptions,
        active: ActiveSeg,
        cap: usize,
        window: u64,
        ring_capacity: usize,
    ) -> Self {
        let next = active.next_seq;
        let active_pos = active.pos;
        Self {
            shared,
            opts,
            active,
            pieces: Vec::new(),
            group_len: 0,
            group_records: 0,
            group_cap: cap.min(ring_capacity / 2),
            clock_refreshed: None,
            window,
            pending_since: None,
            helper_cpu_ns: 0,
            synced_end: next,
            written_end: next,
            synced_pos: active_pos,
            durable_file: None,
            published: (u64::MAX, 0),
            chain: None,
        }
    }

    /// Starts the digest chain where the active segment stands: its `prev` from the
    /// segment before it (or the recorded front cut), and its records so far hashed
    /// again (at most one segment, read once at open).
    fn start_chain(&mut self) -> std::result::Result<(), Halt> {
        if !self.opts.digest_chain {
            return Ok(());
        }
        let name = self.active.name.clone();
        let backend = self.shared.backend.clone();
        let a = &self.active;
        let resumed = Self::guarded(&self.shared, "read", &name, || {
            crate::chain_files::resume(&*backend, a).op("read", &name)
        })?;
        self.chain =
            Some(resumed.unwrap_or_else(|| SegmentChain::new(CHAIN_START, self.active.base())));
        self.publish_chain(self.synced_end);
        Ok(())
    }

    /// Publishes the chain's digest at the durable point `end` (the records before it).
    fn publish_chain(&mut self, end: u64) {
        let Some(c) = &self.chain else {
            return;
        };
        let Some(last) = end.checked_sub(1) else {
            return;
        };
        let digest = if self.synced_pos > SEGMENT_HEADER_LEN as u64 {
            c.digest()
        } else if c.prev() != CHAIN_START {
            // Nothing in the active segment yet: the chain stands at the segment before.
            c.prev()
        } else {
            return;
        };
        lock(&self.shared.stats).chained(last, digest);
    }

    /// Opens (creating it if needed) the `DURABLE` file and publishes the point recovery
    /// left. A backend that cannot hold it simply publishes nothing: readers in other
    /// processes then read up to the last complete record, as before this file existed.
    pub(super) fn open_durable_file(&mut self) {
        let b = &self.shared.backend;
        self.durable_file = match b.open(format::DURABLE_FILE, Access::ReadWrite) {
            Ok(f) => Some(f),
            Err(_) => b.create(format::DURABLE_FILE).ok(),
        };
        self.publish_point();
    }

    /// Rewrites the `DURABLE` file with the current durable point (not synced: it only
    /// matters while this writer lives).
    fn publish_point(&mut self) {
        let point = (self.active.base(), self.synced_pos);
        if point == self.published {
            return;
        }
        let Some(f) = self.durable_file.as_mut() else {
            return;
        };
        let bytes = format::DurablePoint {
            segment: point.0,
            records_end: point.1,
            next_seq: self.synced_end,
            pid: std::process::id(),
            updated_ns: now_ns(),
        }
        .encode();
        // Advisory: a failed update leaves readers elsewhere behind, never ahead.
        let _ = write_at(&mut **f, 0, &bytes);
        self.published = point;
    }

    pub(super) fn run(&mut self, mut consumer: QueueConsumer) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_inner(&mut consumer)
        }));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(Halt::Op(e))) => {
                let mut cause = e.cause();
                if e.file == self.active.name
                    && let Err(cut) = self.cut_unsynced()
                    && let StopCause::Io { message, .. } = &mut cause
                {
                    message.push_str(&format!(
                        "; cutting the segment back to its last sync at {} also failed ({cut}): \
                         until the next boot, a reader may see bytes whose sync failed",
                        self.synced_pos
                    ));
                }
                self.shared.fail(cause)
            }
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
        self.shared.progress.set_exited();
        if let Some(t) = self.shared.watchdog_thread.get() {
            t.unpark();
        }
    }

    /// After a failed call on the active segment: cuts the file back to where its last
    /// successful sync ended. A failed sync leaves the bytes it should have written
    /// readable in the page cache but not on the disk (Linux marks them clean: no later
    /// sync writes them), so a reopen in the same boot would otherwise judge them
    /// written. The cut needs no sync: it changes what every reader sees now, and after
    /// a power cut the disk holds at most what was synced anyway.
    fn cut_unsynced(&mut self) -> std::io::Result<()> {
        let f = &mut self.active.file;
        if f.len()? > self.synced_pos {
            f.set_len(self.synced_pos)?;
        }
        Ok(())
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
        if shared.progress.has_failed() {
            return Err(Halt::Failed);
        }
        Ok(v)
    }

    fn run_inner(&mut self, consumer: &mut QueueConsumer) -> std::result::Result<(), Halt> {
        let _ = self.publish_segments();
        self.start_chain()?;
        loop {
            if self.shared.progress.has_failed() {
                return Err(Halt::Failed);
            }
            self.refresh_clock();
            let shutdown = self.shared.shutdown.load(Ordering::Acquire);
            let (drained, queue_empty) = self.drain(consumer)?;
            // Producers waiting for room wait for this group: write it now.
            let starved = queue_empty && self.shared.space_waiters.load(Ordering::SeqCst) > 0;
            let open = !self.pieces.is_empty();
            match self.opts.durability {
                Durability::None => {
                    // Page cache only: write in large pieces, but leave no record
                    // unwritten for longer than NONE_WRITE_DELAY once the queue is empty.
                    let aged = self
                        .pending_since
                        .is_some_and(|t| t.elapsed() >= NONE_WRITE_DELAY);
                    if self.group_len >= self.group_cap
                        || (open && queue_empty && (aged || shutdown || starved))
                    {
                        self.flush(consumer, false)?;
                    }
                }
                Durability::Group { max_delay, .. } => {
                    let aged = self.pending_since.is_some_and(|t| t.elapsed() >= max_delay);
                    if self.group_len >= self.group_cap
                        || (open && queue_empty && (aged || shutdown || starved))
                    {
                        self.flush(consumer, true)?;
                    }
                }
                Durability::Sync => {
                    if open && queue_empty {
                        self.flush(consumer, true)?;
                    }
                }
            }
            let requested = self.shared.sync_request.load(Ordering::Acquire);
            if requested > self.synced_end && queue_empty {
                if self.opts.durability == Durability::None && self.active.stats.count > 0 {
                    // `None`'s torn window is its whole active segment: records made
                    // durable on request go into a sealed segment (a roll), so no later
                    // crash can count them as an unsynced tail.
                    self.roll(consumer)?;
                } else {
                    self.flush(consumer, true)?;
                    self.sync_written()?;
                }
            }
            if shutdown && queue_empty {
                self.flush(consumer, true)?;
                self.sync_written()?;
                if self.opts.durability == Durability::None && self.active.stats.count > 0 {
                    // As for a sync: what a clean close made durable is sealed.
                    let name = self.active.name.clone();
                    let a = &mut self.active;
                    let area = self.chain.as_ref().map(SegmentChain::footer_area);
                    let info =
                        Self::guarded(&self.shared, "seal", &name, || a.seal(now_ns(), area))?;
                    self.synced_pos = self.active.pos + FOOTER_LEN as u64;
                    lock(&self.shared.segments).push(info);
                    return Ok(());
                }
                let durable = self.synced_end;
                let name = self.active.idx_name.clone();
                let a = &mut self.active;
                Self::guarded(&self.shared, "write", &name, || a.persist_index(durable))?;
                Self::guarded(&self.shared, "sync", &name, || {
                    a.idx_file.sync(SyncKind::Data).op("sync", &name)
                })?;
                self.publish_point();
                return Ok(());
            }
            if drained == 0 {
                self.idle(consumer);
            }
        }
    }

    /// Refreshes the record clock's fine reading, storing it only when it moved by 10 µs
    /// or more (each store costs the appending threads a cache miss).
    fn refresh_clock(&mut self) {
        let due = self
            .clock_refreshed
            .is_none_or(|t| t.elapsed() >= Duration::from_micros(10));
        if due {
            self.shared.clock.refresh();
            self.clock_refreshed = Some(Instant::now());
        }
    }

    fn idle(&mut self, consumer: &QueueConsumer) {
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
        self.publish_point();
        self.shared.writer_sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence of a `Sync` append (see `Writer::after_push`): either it
        // sees us sleeping or we see its record.
        fence(Ordering::SeqCst);
        let quiet = |sh: &Shared, synced_end: u64| {
            consumer.pending_bytes() == 0
                && !sh.shutdown.load(Ordering::Acquire)
                && sh.sync_request.load(Ordering::Acquire) <= synced_end
        };
        if quiet(&self.shared, self.synced_end) {
            // Other appends take no fence: one that published while it read a stale
            // `false` did not wake us, and its record may not be visible yet. It is by
            // the end of this short park (a store leaves the store buffer in far less),
            // so look again before the long one.
            thread::park_timeout(SLEEP_RECHECK);
            if quiet(&self.shared, self.synced_end) {
                thread::park_timeout(Duration::from_millis(20));
            }
        }
        self.shared.writer_sleeping.store(false, Ordering::Relaxed);
    }

    /// Takes published ring ranges into the open group, walking their record headers
    /// for segment rolls, group boundaries and index entries, and writing groups as they
    /// fill; returns how many records, and whether the queue was found empty.
    fn drain(&mut self, consumer: &mut QueueConsumer) -> std::result::Result<(usize, bool), Halt> {
        let mut n = 0;
        for _ in 0..MAX_RANGES {
            let Some(mut range) = consumer.take() else {
                return Ok((n, true));
            };
            loop {
                let (off, records, stop) = self.walk(consumer.bytes(&range));
                n += records;
                let (head, tail) = range.split_at(off).expect("walked bytes are in the range");
                if off > 0 {
                    self.group_len += off;
                    self.pieces.push(head);
                }
                range = tail;
                match stop {
                    None => break,
                    Some(Boundary::Segment) => self.roll(consumer)?,
                    Some(Boundary::Group) => {
                        let sync = self.opts.durability != Durability::None;
                        self.flush(consumer, sync)?;
                    }
                }
            }
        }
        Ok((n, false))
    }

    /// Walks whole records from the start of `bytes` into the open group (index,
    /// statistics, sequence) until the next one belongs in another segment or group;
    /// returns the bytes and records walked, and the boundary that stopped the walk.
    #[inline]
    fn walk(&mut self, bytes: &[u8]) -> (usize, usize, Option<Boundary>) {
        let mut off = 0;
        let mut n = 0;
        let mut stop = None;
        let seg_limit = self.opts.segment_bytes;
        while off < bytes.len() {
            let w = header_at(bytes, off);
            debug_assert_eq!(w.seq, self.active.next_seq);
            let pending = self.group_len + off;
            let pos = self.active.pos + pending as u64;
            if self.active.stats.count > 0 && pos + (w.rec_len + FOOTER_LEN) as u64 > seg_limit {
                stop = Some(Boundary::Segment);
                break;
            }
            if pending > 0 && pending + w.rec_len > self.group_cap {
                stop = Some(Boundary::Group);
                break;
            }
            self.active.index.add(w.seq, pos, w.timestamp_ns);
            self.active.stats.add(w.timestamp_ns);
            self.active.next_seq = w.seq.wrapping_add(1);
            off += w.rec_len;
            n += 1;
        }
        self.group_records += n as u64;
        if n > 0 && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        (off, n, stop)
    }

    /// Writes the open group straight from ring memory (with a sync if `sync`), then
    /// gives its bytes back to the producers.
    fn flush(&mut self, consumer: &mut QueueConsumer, sync: bool) -> std::result::Result<(), Halt> {
        let Some(&last) = self.pieces.last() else {
            return Ok(());
        };
        let kind = if sync { SyncKind::Data } else { SyncKind::None };
        let op = if sync { "write+sync" } else { "write" };
        let name = self.active.name.clone();
        let started = Instant::now();
        let done = {
            let mut bufs: Vec<&[u8]> = Vec::with_capacity(self.pieces.len() + 1);
            bufs.extend(self.pieces.iter().map(|r| consumer.bytes(r)));
            let records = bufs.len();
            // The zeroed next header keeps the end clean in a recycled or preallocated
            // file; the next group overwrites it.
            bufs.push(&END_MARK);
            let a = &mut self.active;
            let shared = &self.shared;
            let mut write = || {
                Self::guarded(shared, op, &name, || {
                    a.file
                        .write_group(&WriteGroup {
                            offset: a.pos,
                            bufs: &bufs,
                            sync: kind,
                        })
                        .op(op, &name)
                })
            };
            match &mut self.chain {
                // The chain hashes a large group on a scoped thread while the writer
                // thread is in the group's write and sync (the records stay in the ring
                // until both are done); a small one right here, where a thread would
                // cost more than the hash. A write without a sync (`None`) is a page-cache
                // copy that keeps this thread's core busy: a second thread then competes
                // with the producers instead of filling a wait (log_peers, 2 vCPUs, five
                // alternating runs: None 9-14% faster by the medians hashing here, and
                // 5-15 ns less CPU per event; Group 1 MiB 8-30% slower hashing inline).
                Some(c) if sync && self.group_len >= OVERLAP_HASH_BYTES => {
                    let records = &bufs[..records];
                    let helper_cpu = &mut self.helper_cpu_ns;
                    std::thread::scope(|scope| {
                        let hashing = scope.spawn(move || {
                            for b in records {
                                c.update(b);
                            }
                            // A fresh thread: its whole CPU time is this hash.
                            thread_cpu_ns()
                        });
                        let r = write();
                        match hashing.join() {
                            Ok(ns) => *helper_cpu += ns,
                            Err(p) => std::panic::resume_unwind(p),
                        }
                        r
                    })?
                }
                Some(c) => {
                    for b in &bufs[..records] {
                        c.update(b);
                    }
                    write()?
                }
                None => write()?,
            }
        };
        let took = started.elapsed();
        let queued = consumer.pending_bytes() as u64; // this group and what waits behind it
        consumer.release(&last);
        self.pieces.clear();
        {
            let cpu = thread_cpu_ns().saturating_add(self.helper_cpu_ns);
            let mut st = lock(&self.shared.stats);
            st.wrote(self.group_records, self.group_len as u64);
            st.cpu(cpu);
            st.queued(queued);
            if sync && done.synced {
                st.synced(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
            }
        }
        if self.shared.space_waiters.load(Ordering::SeqCst) > 0 {
            let _g = lock(&self.shared.space);
            self.shared.space_cv.notify_all();
        }
        self.active.pos += self.group_len as u64;
        self.group_len = 0;
        self.group_records = 0;
        self.pending_since = None;
        let end = self.active.next_seq;
        self.written_end = end;
        self.shared.progress.set_written(end);
        if sync && done.synced {
            self.publish_durable(end)?;
        } else {
            self.shared.progress.notify();
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
        let started = Instant::now();
        Self::guarded(&self.shared, "sync", &name, || {
            a.file.sync(SyncKind::Data).op("sync", &name)
        })?;
        lock(&self.shared.stats)
            .synced(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        self.publish_durable(self.written_end)
    }

    fn publish_durable(&mut self, end: u64) -> std::result::Result<(), Halt> {
        if self.shared.progress.has_failed() {
            return Err(Halt::Failed);
        }
        self.synced_end = end;
        self.synced_pos = self.active.pos;
        self.publish_chain(end);
        // Published for other processes before anyone here learns it: a reader that
        // heard of a durable record finds it below the published point.
        self.publish_point();
        self.shared.progress.set_durable(end);
        let name = self.active.idx_name.clone();
        let a = &mut self.active;
        Self::guarded(&self.shared, "write", &name, || a.persist_index(end))?;
        Ok(())
    }

    fn publish_segments(&self) -> std::result::Result<(), Halt> {
        Ok(())
    }

    /// Seals the active segment and starts the next one.
    fn roll(&mut self, consumer: &mut QueueConsumer) -> std::result::Result<(), Halt> {
        self.flush(consumer, true)?;
        self.sync_written()?;
        let name = self.active.name.clone();
        let a = &mut self.active;
        let area = self.chain.as_ref().map(SegmentChain::footer_area);
        let info = Self::guarded(&self.shared, "seal", &name, || a.seal(now_ns(), area))?;
        // The seal synced the footer too: nothing of this file may be cut any more.
        self.synced_pos = self.active.pos + FOOTER_LEN as u64;
        trace_event!(tracing::Level::INFO, segment = %name, records = info.record_count, bytes = info.bytes, "segment sealed");
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
        self.synced_pos = self.active.pos;
        self.chain = self
            .chain
            .as_ref()
            .map(|c| SegmentChain::new(c.digest(), next));
        self.publish_point();
        trace_event!(tracing::Level::INFO, segment = %new_name, base_seq = next, "segment rolled");
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
