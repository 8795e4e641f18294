//! The writer's progress as readers see it: the durable and written watermarks, whether
//! the writer is still running, and a way to wait for either to change.
//!
//! The writer thread owns a [`Progress`] and is the only one that moves it; a live reader
//! ([`crate::LogReader`] from `Writer::reader`) holds a [`ProgressView`], which can only
//! read it and wait on it. This is all a reader needs from the writer, so the reader
//! layer sits below the writer and never sees its queue, options or failure details.
//!
//! The watermarks are "one past" ends (`durable_end = 5`: sequences 0..=4 are durable)
//! and only grow. Each is stored with `Release` after the bytes it covers were handed to
//! the backend (written) or synced (durable), and loaded with `Acquire`, so a reader that
//! sees a watermark also sees the file contents below it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How far a reader in the writer's process reads the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLimit {
    /// Up to the durable watermark: only records that survive a power cut.
    Durable,
    /// Up to the written watermark: everything the writer handed to the backend.
    Written,
}

/// The longest one wait on the condition variable lasts before the predicate is checked
/// again (a missed notification costs at most this much).
const RECHECK: Duration = Duration::from_millis(50);

/// The writer's watermarks and liveness.
#[derive(Debug)]
pub(crate) struct Progress {
    /// One past the last durable sequence.
    durable_end: AtomicU64,
    /// One past the last sequence written to the backend (page cache).
    written_end: AtomicU64,
    /// The writer stopped on a failure (fail-stop); the watermarks never move again.
    failed: AtomicBool,
    /// The writer thread has exited (closed, or after a failure).
    exited: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
    /// Tasks waiting (feature `async`), woken where the threads above are.
    #[cfg(feature = "async")]
    tasks: Mutex<Tasks>,
}

/// The wakers of waiting tasks, each under the key its future holds.
#[cfg(feature = "async")]
#[derive(Debug, Default)]
struct Tasks {
    next_key: u64,
    waiting: Vec<(u64, std::task::Waker)>,
}

impl Progress {
    /// A writer about to append `next_seq`, everything before it durable.
    pub(crate) fn new(next_seq: u64) -> Self {
        Self {
            durable_end: AtomicU64::new(next_seq),
            written_end: AtomicU64::new(next_seq),
            failed: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            #[cfg(feature = "async")]
            tasks: Mutex::new(Tasks::default()),
        }
    }

    /// One past the last durable sequence.
    pub(crate) fn durable_end(&self) -> u64 {
        self.durable_end.load(Ordering::Acquire)
    }

    /// One past the last sequence written to the backend.
    pub(crate) fn written_end(&self) -> u64 {
        self.written_end.load(Ordering::Acquire)
    }

    /// The watermark `limit` names.
    pub(crate) fn end(&self, limit: ReadLimit) -> u64 {
        match limit {
            ReadLimit::Durable => self.durable_end(),
            ReadLimit::Written => self.written_end(),
        }
    }

    /// Whether the writer stopped on a failure.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Whether the writer thread has exited.
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Whether the watermarks can no longer move (failed or exited).
    pub(crate) fn is_done(&self) -> bool {
        self.has_failed() || self.has_exited()
    }

    /// Waits until `pred` holds or `deadline` passes; returns whether it holds. `pred`
    /// is checked after every change the writer announces, and at least every 50 ms.
    pub(crate) fn wait(&self, deadline: Option<Instant>, pred: impl Fn() -> bool) -> bool {
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if pred() {
                return true;
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(w) if !w.is_zero() => w.min(RECHECK),
                    _ => return pred(),
                },
                None => RECHECK,
            };
            g = self
                .changed
                .wait_timeout(g, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Writer side: records up to `end` are written; wakes nobody (see [`Self::notify`]).
    pub(crate) fn set_written(&self, end: u64) {
        self.written_end.store(end, Ordering::Release);
    }

    /// Writer side: records up to `end` are durable; wakes the waiters.
    pub(crate) fn set_durable(&self, end: u64) {
        self.durable_end.store(end, Ordering::Release);
        self.notify();
    }

    /// Writer side: the writer failed; the caller wakes the waiters once the cause is
    /// recorded.
    pub(crate) fn set_failed(&self) {
        self.failed.store(true, Ordering::Release);
    }

    /// Writer side: the writer thread exited; wakes the waiters.
    pub(crate) fn set_exited(&self) {
        self.exited.store(true, Ordering::Release);
        self.notify();
    }

    /// Wakes everyone waiting in [`Self::wait`].
    pub(crate) fn notify(&self) {
        {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
        #[cfg(feature = "async")]
        self.wake_tasks();
    }

    /// Registers (or updates) a task's waker under `key`, which the first call sets; the
    /// next [`Self::notify`] wakes it once. A caller checks its condition again after
    /// this: a change before the registration was announced to nobody, a change after it
    /// wakes the task (the watermark is stored before `notify` takes this lock).
    #[cfg(feature = "async")]
    pub(crate) fn register(&self, key: &mut Option<u64>, waker: &std::task::Waker) {
        let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let k = *key.get_or_insert_with(|| {
            t.next_key += 1;
            t.next_key
        });
        match t.waiting.iter_mut().find(|(kk, _)| *kk == k) {
            Some((_, w)) => w.clone_from(waker),
            None => t.waiting.push((k, waker.clone())),
        }
    }

    /// Forgets the waker registered under `key` (a finished or dropped future).
    #[cfg(feature = "async")]
    pub(crate) fn unregister(&self, key: u64) {
        let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        t.waiting.retain(|(k, _)| *k != key);
    }

    #[cfg(feature = "async")]
    fn wake_tasks(&self) {
        let woken =
            std::mem::take(&mut self.tasks.lock().unwrap_or_else(|e| e.into_inner()).waiting);
        // Outside the lock: a waker may poll its task inline and register again.
        woken.into_iter().for_each(|(_, w)| w.wake());
    }
}

/// What a live reader sees of the writer: one watermark, read-only.
#[derive(Debug, Clone)]
pub(crate) struct ProgressView {
    progress: Arc<Progress>,
    limit: ReadLimit,
}

impl ProgressView {
    /// A view of `progress` up to `limit`.
    pub(crate) fn new(progress: Arc<Progress>, limit: ReadLimit) -> Self {
        Self { progress, limit }
    }

    /// The watermark this view reads up to.
    pub(crate) fn limit(&self) -> ReadLimit {
        self.limit
    }

    /// One past the last sequence a reader may return now.
    pub(crate) fn end(&self) -> u64 {
        self.progress.end(self.limit)
    }

    /// Whether the watermark can no longer move.
    pub(crate) fn is_done(&self) -> bool {
        self.progress.is_done()
    }

    /// Waits until the watermark passes `seq`, the writer is done, or `deadline` passes.
    pub(crate) fn wait_past(&self, seq: u64, deadline: Instant) {
        self.progress
            .wait(Some(deadline), || self.end() > seq || self.is_done());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_sees_its_watermark_and_wakes_when_it_passes() {
        let p = Arc::new(Progress::new(10));
        let durable = ProgressView::new(p.clone(), ReadLimit::Durable);
        let written = ProgressView::new(p.clone(), ReadLimit::Written);
        p.set_written(15);
        assert_eq!((durable.end(), written.end()), (10, 15));
        let t = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                p.set_durable(12);
            })
        };
        let t0 = Instant::now();
        durable.wait_past(11, t0 + Duration::from_secs(10));
        assert_eq!(durable.end(), 12);
        assert!(t0.elapsed() < Duration::from_secs(5), "woken by the writer");
        t.join().unwrap();
        assert!(!durable.is_done());
        p.set_failed();
        assert!(durable.is_done() && p.has_failed() && !p.has_exited());
        // A done writer ends the wait at once, whatever the watermark.
        let t0 = Instant::now();
        durable.wait_past(100, t0 + Duration::from_secs(10));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let p = Progress::new(0);
        let t0 = Instant::now();
        assert!(!p.wait(Some(t0 + Duration::from_millis(30)), || false));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(p.wait(None, || true));
    }
}
