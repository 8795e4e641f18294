//! The durable-log comparison behind the `log_peers` binary: storage-std's [`Writer`]
//! in each durability mode on any [`Backend`], a raw `pwrite` + `fdatasync` baseline on
//! the same disk, and the crates users would pick instead (`okaywal`, `commitlog` made
//! durable by hand, `rivven-core`).
//!
//! * [`log`]: the storage-std variants. A backend is one [`log::LogBackend`] (a name and
//!   a function from a directory to an `Arc<dyn Backend>`), so another backend (the
//!   io_uring one of `storage-uring`) is one more entry in the list the binary runs.
//! * [`raw`]: the disk's limit: the same record bytes the log writes, written with
//!   `pwrite` and made durable with `fdatasync` per group, into a pre-written and into a
//!   growing file, and without any sync.
//! * [`peers`]: the peer crates, each behind [`GroupSink`].
//! * [`sys`]: peak RSS, anonymous memory and write-syscall bytes from `/proc`.
//! * [`counting`]: a backend wrapper that counts groups, syncs and bytes of the log rows.
//! * [`null`]: a backend that discards every byte, for the diagnostic rows (what the
//!   writer's own path costs without I/O).
//!
//! Every variant counts only events it knows to be persisted: for the log, events up to
//! the durable watermark; for a [`GroupSink`], events of groups whose commit returned.
//!
//! [`Writer`]: storage_std::Writer
//! [`Backend`]: storage_std::backend::Backend

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub mod counting;
pub mod log;
pub mod null;
pub mod peers;
pub mod raw;
pub mod sys;

/// Errors of a variant, as text (each crate has its own error type).
pub type BenchResult<T> = Result<T, String>;

/// Converts any displayable error into a [`BenchResult`] error with some context.
pub fn ctx<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// Commit latencies in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram from 1 ns to 10 minutes, 3 significant digits.
    pub fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, 600_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    /// Records one latency (clamped into the histogram's range).
    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(ns.max(1));
    }

    /// Records `count` events with the same latency.
    #[inline]
    pub fn record_n(&mut self, d: Duration, count: u64) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let v = ns.clamp(1, self.hist.high());
        let _ = self.hist.record_n(v, count);
    }

    /// Adds every value of `other` (merging runs of the same variant).
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.hist.add(&other.hist);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// p50, p99, p99.9 and max in microseconds (`None` when empty).
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.hist.is_empty() {
            return None;
        }
        let us = |q: f64| self.hist.value_at_quantile(q) as f64 / 1e3;
        Some(LatencySummary {
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.hist.max() as f64 / 1e3,
            count: self.hist.len(),
        })
    }
}

/// Quantiles of a [`Latency`], in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest value.
    pub max_us: f64,
    /// Number of values.
    pub count: u64,
}

/// A paced producer's timetable: event `i` is due at `start + i / rate`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time zero.
    pub start: Instant,
    /// Events per second.
    pub rate: f64,
}

impl Schedule {
    /// A timetable starting now.
    pub fn new(rate: f64) -> Self {
        Self {
            start: Instant::now(),
            rate,
        }
    }

    /// When event `i` is due.
    #[inline]
    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many events are due at `now` (events `0..n`).
    #[inline]
    pub fn due_count(&self, now: Instant) -> u64 {
        let t = now.saturating_duration_since(self.start).as_secs_f64();
        (t * self.rate).floor() as u64 + 1
    }

    /// Waits until `t` by sleeping (never by spinning: on a small machine the writer
    /// thread needs the core). Call [`Schedule::precise_sleeps`] once on the thread
    /// first, or sleeps overshoot by the default 50 µs timer slack.
    pub fn wait_until(t: Instant) {
        loop {
            let now = Instant::now();
            if now >= t {
                return;
            }
            std::thread::sleep(t - now);
        }
    }

    /// Sets this thread's timer slack to 1 ns (Linux), so short sleeps end on time.
    pub fn precise_sleeps() {
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    }
}

/// Something that makes whole groups of events durable, driven by the caller: the raw
/// baseline and every peer crate.
pub trait GroupSink {
    /// Writes events `first .. first + n` (each of the configured payload size, filled
    /// with [`ringlog_pattern::fill`]) and, for durable sinks, returns only once they are
    /// durable.
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()>;

    /// Ends the run outside the timed part (a final sync for non-durable sinks,
    /// shutdown); an error means the events cannot be counted.
    fn finish(&mut self) -> BenchResult<()>;
}

/// What a measured run of a variant reports.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Events known to be persisted at the end.
    pub events: u64,
    /// Events offered (appended or handed to the sink).
    pub offered: u64,
    /// Wall time of the timed part.
    pub elapsed: Duration,
    /// Append-to-durable latency (paced and sync rows) or `None`.
    pub latency: Option<Latency>,
    /// Time of each group commit (write + sync), where the driver sees groups.
    pub group_commit: Option<Latency>,
    /// Number of syncs that made events durable (group commits), where known.
    pub groups: Option<u64>,
    /// Backend calls of the timed part (writes, syncs, directory syncs), for backends
    /// behind [`counting::CountingBackend`].
    pub backend_calls: Option<u64>,
    /// Bytes passed to write system calls during the timed part ([`sys::wchar`]).
    pub written_bytes: Option<u64>,
    /// CPU time (user and system) of storage-std's writer thread and its hashing
    /// threads during the timed part (`WriterStats::writer_cpu_ns`).
    pub writer_cpu_ns: Option<u64>,
    /// User CPU time of storage-std's writer thread alone during the timed part
    /// ([`sys::threads_user_ns`]: 10 ms ticks).
    pub writer_user_ns: Option<u64>,
    /// CPU time (user and system) of the whole process, all threads, during the timed
    /// part ([`sys::process_cpu_ns`]): producers, writer, and the harness's own sampler.
    pub process_cpu_ns: Option<u64>,
}

/// [`sys::wchar`] now, to difference later with [`written_since`].
pub fn written_mark() -> Option<u64> {
    sys::wchar()
}

/// Bytes written through system calls since `mark`.
pub fn written_since(mark: Option<u64>) -> Option<u64> {
    Some(sys::wchar()?.saturating_sub(mark?))
}

/// Runs `sink` unpaced: groups of `group_events` back to back until `events` are
/// committed or `budget` has passed. Events count once their group's commit returned.
pub fn drive_unpaced(
    sink: &mut dyn GroupSink,
    events: u64,
    group_events: usize,
    budget: Duration,
) -> BenchResult<Outcome> {
    let group_events = group_events.max(1);
    let mut commits = Latency::new();
    let mark = written_mark();
    let cpu0 = sys::process_cpu_ns();
    let start = Instant::now();
    let mut next = 0u64;
    let mut groups = 0u64;
    while next < events && start.elapsed() < budget {
        let n = (events - next).min(group_events as u64) as usize;
        let t = Instant::now();
        sink.commit(next, n)?;
        commits.record(t.elapsed());
        next += n as u64;
        groups += 1;
    }
    let elapsed = start.elapsed();
    let process_cpu_ns = Some(sys::process_cpu_ns().saturating_sub(cpu0));
    let written_bytes = written_since(mark);
    sink.finish()?;
    Ok(Outcome {
        events: next,
        offered: next,
        elapsed,
        latency: None,
        group_commit: Some(commits),
        groups: Some(groups),
        backend_calls: None,
        written_bytes,
        process_cpu_ns,
        ..Outcome::default()
    })
}

/// Runs `sink` at an offered load of `rate` events/s for `events` events: whenever the
/// sink is free it commits every event that is due (up to `max_group` per commit), as a
/// user who batches by hand would. An event's latency runs from the moment it was due
/// (when a producer would have called append; the sink's caller may still be busy with
/// the previous commit) to the return of the commit that holds it.
pub fn drive_paced(
    sink: &mut dyn GroupSink,
    events: u64,
    rate: f64,
    max_group: usize,
    budget: Duration,
) -> BenchResult<Outcome> {
    let max_group = max_group.max(1) as u64;
    let mut lat = Latency::new();
    let mut commits = Latency::new();
    Schedule::precise_sleeps();
    let mark = written_mark();
    let sched = Schedule::new(rate);
    let mut next = 0u64;
    let mut groups = 0u64;
    while next < events && sched.start.elapsed() < budget {
        let due = sched.due_count(Instant::now()).min(events);
        if due <= next {
            Schedule::wait_until(sched.due(next));
            continue;
        }
        let n = (due - next).min(max_group);
        let t = Instant::now();
        sink.commit(next, n as usize)?;
        let done = Instant::now();
        commits.record(done - t);
        for s in next..next + n {
            lat.record(done.saturating_duration_since(sched.due(s)));
        }
        next += n;
        groups += 1;
    }
    let elapsed = sched.start.elapsed();
    let written_bytes = written_since(mark);
    sink.finish()?;
    Ok(Outcome {
        events: next,
        offered: next,
        elapsed,
        latency: Some(lat),
        group_commit: Some(commits),
        groups: Some(groups),
        backend_calls: None,
        written_bytes,
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::log::{LogBackend, replay, run_paced, run_sync, run_unpaced};
    use super::peers::{CommitLogSynced, OkayWal, RivvenLog, RivvenWal};
    use super::raw::{RawFile, RawSink, encode_group};
    use super::*;
    use storage_std::Durability;
    use storage_std::format::{decode_record, disk_record_len};

    /// Counts what it is asked to commit.
    #[derive(Default)]
    struct Counter {
        next: u64,
        commits: u64,
        finished: bool,
    }

    impl GroupSink for Counter {
        fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
            assert_eq!(first, self.next, "groups must be contiguous");
            self.next += n as u64;
            self.commits += 1;
            Ok(())
        }

        fn finish(&mut self) -> BenchResult<()> {
            self.finished = true;
            Ok(())
        }
    }

    #[test]
    fn raw_records_are_storage_std_records() {
        let mut buf = Vec::new();
        encode_group(&mut buf, 5, 3, 13);
        assert_eq!(buf.len(), 3 * disk_record_len(13));
        for (k, rec) in buf.chunks(disk_record_len(13)).enumerate() {
            let r = decode_record(rec).expect("a valid record");
            assert_eq!(r.seq(), 5 + k as u64);
            assert!(crate::payload_ok(r.payload, 5 + k as u64, 13));
        }
    }

    #[test]
    fn unpaced_driver_counts_whole_groups() {
        let mut c = Counter::default();
        let o = drive_unpaced(&mut c, 10, 4, Duration::from_secs(5)).unwrap();
        assert_eq!((o.events, c.commits, o.groups), (10, 3, Some(3)));
        assert!(c.finished);
    }

    #[test]
    fn paced_driver_offers_every_event_and_measures_each() {
        let mut c = Counter::default();
        let o = drive_paced(&mut c, 200, 20_000.0, 8, Duration::from_secs(5)).unwrap();
        assert_eq!(o.events, 200);
        assert_eq!(o.latency.unwrap().len(), 200);
        assert!(c.commits >= 25, "at most 8 events per commit");
    }

    #[test]
    fn schedule_counts_due_events() {
        let s = Schedule::new(1000.0);
        assert_eq!(s.due_count(s.start), 1);
        assert_eq!(s.due_count(s.start + Duration::from_millis(10)), 11);
        assert_eq!(s.due(10) - s.start, Duration::from_millis(10));
    }

    #[test]
    fn log_variants_count_durable_events_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let b = LogBackend::file();
        let g = Durability::Group {
            max_bytes: 8192,
            max_delay: Duration::ZERO,
        };
        let o = run_unpaced(
            &b,
            &dir.path().join("u"),
            g,
            20,
            500,
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(o.events, 500);
        assert!(o.groups.unwrap() >= 500 * 56 / 8192);
        let r = replay(&dir.path().join("u"), 20).unwrap();
        assert_eq!((r.records, r.bad), (500, 0));
        let o = run_paced(
            &b,
            &dir.path().join("p"),
            g,
            20,
            200,
            20_000.0,
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(o.events, 200);
        assert_eq!(o.latency.unwrap().len(), 200);
        let o = run_sync(&b, &dir.path().join("s"), 20, 5, Duration::from_secs(30)).unwrap();
        assert_eq!(o.events, 5);
        let o = run_unpaced(
            &LogBackend::null(),
            &dir.path().join("n"),
            Durability::None,
            20,
            300,
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(o.events, 300);
    }

    #[test]
    fn raw_and_peer_sinks_commit_groups() {
        let dir = tempfile::tempdir().unwrap();
        let d = |n: &str| {
            let p = dir.path().join(n);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let mut sinks: Vec<Box<dyn GroupSink>> = vec![
            Box::new(RawSink::new(&d("raw").join("f"), RawFile::PreWritten, 4096, 16).unwrap()),
            Box::new(OkayWal::open(&d("okaywal"), 16, 4096).unwrap()),
            Box::new(CommitLogSynced::open(&d("commitlog"), 16).unwrap()),
            Box::new(RivvenLog::open(&d("rivven-log"), 16).unwrap()),
            Box::new(RivvenWal::open(&d("rivven-wal"), 16, 10).unwrap()),
        ];
        for s in &mut sinks {
            let o = drive_unpaced(s.as_mut(), 25, 10, Duration::from_secs(30)).unwrap();
            assert_eq!((o.events, o.groups), (25, Some(3)));
        }
    }
}
