//! storage-std's [`Writer`] in each durability mode, on any backend.
//!
//! A backend is a [`LogBackend`]: a name for the table and a function that turns a
//! directory into an `Arc<dyn Backend>`. [`LogBackend::file`] is the portable file
//! backend; an io_uring backend is added as `LogBackend::new("io_uring", |dir| ...)`
//! and gets every storage-std row of the comparison.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use storage_std::backend::{Backend, FileBackend};

use super::counting::{CountingBackend, Counts};
use storage_std::{
    Appender, Durability, Error, LogReader, RecordMeta, Start, Writer, WriterOptions,
};

use super::{BenchResult, Latency, Outcome, Schedule, ctx, written_mark, written_since};
use crate::payload_ok;

/// Opens a directory as a storage-std backend.
pub type OpenBackend = dyn Fn(&Path) -> std::io::Result<Arc<dyn Backend>> + Send + Sync;

/// A storage-std backend the comparison runs the log on.
#[derive(Clone)]
pub struct LogBackend {
    /// Short name for the table (`file`, `io_uring`).
    pub name: String,
    open: Arc<OpenBackend>,
    /// Whether the writer preallocates segment files on this backend.
    preallocate: bool,
    /// Whether the writer keeps the digest chain (`WriterOptions::digest_chain`).
    chain: bool,
}

impl std::fmt::Debug for LogBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LogBackend {
    /// A backend named `name`, opened by `open` for each run's directory.
    pub fn new(
        name: impl Into<String>,
        open: impl Fn(&Path) -> std::io::Result<Arc<dyn Backend>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            open: Arc::new(open),
            preallocate: false,
            chain: true,
        }
    }

    /// The same backend with the writer's digest chain off (its row against the
    /// default, chain on), named `NAME, chain off`.
    pub fn without_chain(mut self) -> Self {
        self.chain = false;
        self.name = format!("{}, chain off", self.name);
        self
    }

    /// The same backend with the writer's segment preallocation on (`WriterOptions::
    /// preallocate`), which the io_uring backend's preallocation and recycling need.
    pub fn preallocating(mut self) -> Self {
        self.preallocate = true;
        self
    }

    /// The portable file backend (`pwritev` + `fdatasync`).
    pub fn file() -> Self {
        Self::new("file", |dir| {
            Ok(Arc::new(FileBackend::new(dir)?) as Arc<dyn Backend>)
        })
    }

    /// The portable file backend whose first `spares` segments are pre-written (zeroed
    /// and synced) before the run starts, as the raw pre-written file is: the regime of a
    /// log after idle time ([`SpareBackend::fill`], refills only after 1 s without a
    /// write, so none competes with the run). Segments beyond them grow as usual.
    ///
    /// [`SpareBackend::fill`]: storage_std::backend::SpareBackend::fill
    pub fn file_with_ready_spares(spares: usize) -> Self {
        Self::new("file, spares ready", move |dir| {
            let b = FileBackend::new(dir)?.with_spares(
                storage_std::backend::SpareOptions::default()
                    .with_spares(spares)
                    .with_size(Some(options(Durability::None).segment_bytes()))
                    .with_quiet(std::time::Duration::from_secs(1)),
            );
            if !b.fill(std::time::Duration::from_secs(120))? {
                return Err(std::io::Error::other(format!(
                    "spares not ready: {:?}",
                    b.last_error()
                )));
            }
            Ok(Arc::new(b) as Arc<dyn Backend>)
        })
        .preallocating()
    }

    /// The null backend (every byte discarded): the writer's own cost, no I/O.
    pub fn null() -> Self {
        Self::new("null: writes discarded", |_| {
            Ok(Arc::new(super::null::NullBackend::new()) as Arc<dyn Backend>)
        })
    }

    /// The backend on `dir`.
    pub fn open(&self, dir: &Path) -> BenchResult<Arc<dyn Backend>> {
        (self.open)(dir).map_err(|e| format!("open {} backend: {e}", self.name))
    }
}

/// The writer settings of every storage-std row: the defaults (64 MiB segments, 4 MiB
/// submit queue, no preallocation) with the given durability.
pub fn options(durability: Durability) -> WriterOptions {
    WriterOptions::new(durability)
}

/// A writer on `b` behind a [`CountingBackend`], and its counts.
fn open_writer(
    b: &LogBackend,
    dir: &Path,
    durability: Durability,
) -> BenchResult<(Writer, Arc<Counts>)> {
    let counts = Arc::new(Counts::default());
    let backend = Arc::new(CountingBackend::new(b.open(dir)?, counts.clone()));
    let mut opts = options(durability);
    opts = opts
        .with_preallocate(b.preallocate)
        .with_digest_chain(b.chain);
    let w = Writer::open_with(backend, opts).map_err(ctx("open writer"))?;
    Ok((w, counts))
}

/// Syncs and backend calls between two [`Counts::snapshot`]s.
fn counted(before: [u64; 6], after: [u64; 6]) -> (u64, u64) {
    let d: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let syncs = d[0] + d[4];
    (syncs, d[0] + d[1] + d[4] + d[5])
}

/// Where each record's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The writer reads the system clock on every append (the default of `append`).
    Clock,
    /// The caller passes one (a constant here): what the clock read costs, by difference.
    Caller,
}

fn append(w: &mut Appender<'_>, payload: usize, i: u64) -> BenchResult<()> {
    append_stamped(w, payload, i, Stamp::Clock)
}

/// Appends event `i` through the writer's lock-free single-producer handle.
fn append_stamped(w: &mut Appender<'_>, payload: usize, i: u64, stamp: Stamp) -> BenchResult<()> {
    let meta = match stamp {
        Stamp::Clock => RecordMeta::default(),
        Stamp::Caller => RecordMeta {
            timestamp_ns: Some(1_700_000_000_000_000_000),
            ..RecordMeta::default()
        },
    };
    let seq = w
        .append_in_place(payload, meta, |buf| ringlog_pattern::fill(i, buf))
        .map_err(ctx("append"))?;
    if seq != i {
        return Err(format!("append returned sequence {seq}, expected {i}"));
    }
    Ok(())
}

/// One producer appends `events` (or until `budget`) as fast as it can. `None`: the
/// clock stops once everything is in the page cache (the written watermark), and the
/// close that syncs it runs outside the clock. `Group`: the clock stops once the last
/// event is durable. Either way only events at or below the durable watermark after
/// the close are counted.
pub fn run_unpaced(
    b: &LogBackend,
    dir: &Path,
    durability: Durability,
    payload: usize,
    events: u64,
    budget: Duration,
) -> BenchResult<Outcome> {
    run_unpaced_stamped(b, dir, durability, payload, events, budget, Stamp::Clock)
}

/// [`run_unpaced`] with a choice of timestamps.
pub fn run_unpaced_stamped(
    b: &LogBackend,
    dir: &Path,
    durability: Durability,
    payload: usize,
    events: u64,
    budget: Duration,
    stamp: Stamp,
) -> BenchResult<Outcome> {
    let (w, counts) = open_writer(b, dir, durability)?;
    let mut a = w.appender().map_err(ctx("appender"))?;
    let mark = written_mark();
    let c0 = counts.snapshot();
    let cpu0 = CpuMark::now(&w);
    let start = Instant::now();
    let mut n = 0u64;
    while n < events {
        if n.is_multiple_of(4096) && start.elapsed() > budget {
            break;
        }
        append_stamped(&mut a, payload, n, stamp)?;
        n += 1;
    }
    drop(a);
    finish_unpaced(w, &counts, durability, n, (start, cpu0), mark, c0)
}

/// The end of an unpaced row: waits until the `appended` events (sequences from 0) are
/// in the page cache (`None`) or durable, stops the clock, closes, and counts.
fn finish_unpaced(
    w: Writer,
    counts: &Counts,
    durability: Durability,
    appended: u64,
    (start, cpu0): (Instant, CpuMark),
    mark: Option<u64>,
    c0: [u64; 6],
) -> BenchResult<Outcome> {
    if appended > 0 {
        let last = appended - 1;
        match durability {
            Durability::None => {
                while w.written_seq().is_none_or(|s| s < last) {
                    w.health().map_err(ctx("writer"))?;
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            _ => w.wait_durable(last, None).map_err(ctx("wait_durable"))?,
        }
    }
    let elapsed = start.elapsed();
    let cpu = CpuMark::now(&w);
    let written_bytes = written_since(mark);
    let (syncs, calls) = counted(c0, counts.snapshot());
    let report = w.close().map_err(ctx("close"))?;
    let durable = report.durable_seq.map_or(0, |d| d + 1);
    Ok(Outcome {
        events: durable.min(appended),
        offered: appended,
        elapsed,
        written_bytes,
        groups: Some(syncs),
        backend_calls: Some(calls),
        writer_cpu_ns: Some(cpu.writer.saturating_sub(cpu0.writer)),
        // A writer thread just spawned may not carry its name yet: it has used no
        // measurable time then.
        writer_user_ns: cpu
            .writer_user
            .map(|b| b.saturating_sub(cpu0.writer_user.unwrap_or(0))),
        process_cpu_ns: Some(cpu.process.saturating_sub(cpu0.process)),
        ..Outcome::default()
    })
}

/// CPU clocks at one moment: the writer's (its statistics) and the whole process's.
#[derive(Clone, Copy)]
struct CpuMark {
    writer: u64,
    writer_user: Option<u64>,
    process: u64,
}

impl CpuMark {
    fn now(w: &Writer) -> Self {
        Self {
            writer: w.stats().writer_cpu_ns,
            writer_user: super::sys::threads_user_ns("storage-writer"),
            process: super::sys::process_cpu_ns(),
        }
    }
}

/// `producers` threads append `events` between them through the shared writer (its
/// mutex path, [`Writer::append_in_place`]), as fast as they can; counted as
/// [`run_unpaced`] counts. Payloads carry the pattern of the event's index within its
/// thread, not of its sequence (which the lock assigns): these rows are not replayed.
pub fn run_unpaced_shared(
    b: &LogBackend,
    dir: &Path,
    durability: Durability,
    payload: usize,
    events: u64,
    budget: Duration,
    producers: usize,
) -> BenchResult<Outcome> {
    let (w, counts) = open_writer(b, dir, durability)?;
    let mark = written_mark();
    let c0 = counts.snapshot();
    let cpu0 = CpuMark::now(&w);
    let start = Instant::now();
    let per = events / producers.max(1) as u64;
    let appended = std::thread::scope(|s| -> BenchResult<u64> {
        let hs: Vec<_> = (0..producers.max(1))
            .map(|_| {
                let w = &w;
                s.spawn(move || -> BenchResult<u64> {
                    let mut n = 0u64;
                    while n < per {
                        if n.is_multiple_of(4096) && start.elapsed() > budget {
                            break;
                        }
                        w.append_in_place(payload, RecordMeta::default(), |buf| {
                            ringlog_pattern::fill(n, buf)
                        })
                        .map_err(ctx("append"))?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in hs {
            total += h.join().map_err(|_| "producer panicked".to_string())??;
        }
        Ok(total)
    })?;
    finish_unpaced(w, &counts, durability, appended, (start, cpu0), mark, c0)
}

/// A paced producer thread appends at `rate` events/s while this thread waits on the
/// durable watermark; an event's latency runs from the moment it was due (the paced
/// producer appends then, unless it is late, and lateness counts) to the moment
/// [`Writer::wait_durable`] tells this thread it is durable.
pub fn run_paced(
    b: &LogBackend,
    dir: &Path,
    durability: Durability,
    payload: usize,
    events: u64,
    rate: f64,
    budget: Duration,
) -> BenchResult<Outcome> {
    let (w, counts) = open_writer(b, dir, durability)?;
    let mark = written_mark();
    let c0 = counts.snapshot();
    let sched = Schedule::new(rate);
    let appended = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let mut lat = Latency::new();
    let mut seen = 0u64;
    let producer_result = std::thread::scope(|s| -> BenchResult<BenchResult<()>> {
        let producer = s.spawn(|| -> BenchResult<()> {
            Schedule::precise_sleeps();
            let mut next = 0u64;
            let r = (|| {
                let mut a = w.appender().map_err(ctx("appender"))?;
                while next < events && sched.start.elapsed() < budget {
                    let due = sched.due_count(Instant::now()).min(events);
                    while next < due {
                        append(&mut a, payload, next)?;
                        next += 1;
                        appended.store(next, Ordering::Release);
                    }
                    if next < events {
                        Schedule::wait_until(sched.due(next));
                    }
                }
                Ok(())
            })();
            done.store(true, Ordering::Release);
            r
        });
        loop {
            let finished = done.load(Ordering::Acquire);
            let total = appended.load(Ordering::Acquire);
            if finished && seen >= total {
                break;
            }
            match w.wait_durable(seen, Some(Duration::from_millis(20))) {
                Ok(()) => {
                    let now = Instant::now();
                    let d = w.durable_seq().map_or(0, |d| d + 1);
                    for q in seen..d {
                        lat.record(now.saturating_duration_since(sched.due(q)));
                    }
                    seen = seen.max(d);
                }
                Err(Error::Timeout { .. }) => {}
                Err(e) => {
                    done.store(true, Ordering::Release);
                    let _ = producer.join();
                    return Err(format!("wait_durable: {e}"));
                }
            }
        }
        producer
            .join()
            .map_err(|_| "producer thread panicked".to_string())
    })?;
    producer_result?;
    let elapsed = sched.start.elapsed();
    let written_bytes = written_since(mark);
    let (syncs, calls) = counted(c0, counts.snapshot());
    let offered = appended.load(Ordering::Acquire);
    let report = w.close().map_err(ctx("close"))?;
    let durable = report.durable_seq.map_or(0, |d| d + 1);
    Ok(Outcome {
        events: durable.min(seen).min(offered),
        offered,
        elapsed,
        latency: Some(lat),
        groups: Some(syncs),
        backend_calls: Some(calls),
        written_bytes,
        ..Outcome::default()
    })
}

/// `Durability::Sync`: one thread, each append returns once its record is durable;
/// the latency of an event is the time its append took.
pub fn run_sync(
    b: &LogBackend,
    dir: &Path,
    payload: usize,
    events: u64,
    budget: Duration,
) -> BenchResult<Outcome> {
    let (w, counts) = open_writer(b, dir, Durability::Sync)?;
    let mut a = w.appender().map_err(ctx("appender"))?;
    let mut lat = Latency::new();
    let mark = written_mark();
    let c0 = counts.snapshot();
    let start = Instant::now();
    let mut n = 0u64;
    while n < events && start.elapsed() < budget {
        let t = Instant::now();
        append(&mut a, payload, n)?;
        lat.record(t.elapsed());
        n += 1;
    }
    drop(a);
    let elapsed = start.elapsed();
    let written_bytes = written_since(mark);
    let (syncs, calls) = counted(c0, counts.snapshot());
    let durable_in_time = w.durable_seq().map_or(0, |d| d + 1);
    let report = w.close().map_err(ctx("close"))?;
    let durable = report.durable_seq.map_or(0, |d| d + 1);
    Ok(Outcome {
        events: durable_in_time.min(durable),
        offered: n,
        elapsed,
        latency: Some(lat),
        groups: Some(syncs),
        backend_calls: Some(calls),
        written_bytes,
        ..Outcome::default()
    })
}

/// One replay of a whole log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replay {
    /// Records read.
    pub records: u64,
    /// Bytes of those records on disk (headers, CRCs and padding included).
    pub record_bytes: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// Records with a wrong sequence or payload.
    pub bad: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Replay {
    /// Record bytes per second, in GB/s (10^9).
    pub fn gb_per_s(&self) -> f64 {
        self.record_bytes as f64 / 1e9 / self.elapsed.as_secs_f64()
    }
}

/// Reads the closed log in `dir` from its oldest record through storage-std's
/// [`LogReader`] (mapped sealed segments, positioned reads of the active one; every
/// record's CRC checked by the decoder), and checks each sequence and payload pattern.
pub fn replay(dir: &Path, payload: usize) -> BenchResult<Replay> {
    let reader = LogReader::open(dir).map_err(ctx("open reader"))?;
    let start = Instant::now();
    let mut c = reader.cursor(Start::Oldest).map_err(ctx("cursor"))?;
    let mut r = Replay::default();
    while let Some(rec) = c.next().map_err(ctx("replay"))? {
        let i = r.records;
        if rec.seq() != i || !payload_ok(rec.payload, i, payload) {
            r.bad += 1;
        }
        r.records += 1;
        r.record_bytes += rec.disk_len() as u64;
        r.payload_bytes += rec.payload.len() as u64;
    }
    r.elapsed = start.elapsed();
    Ok(r)
}
