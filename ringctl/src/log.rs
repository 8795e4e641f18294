//! `ringctl stress --log DIR`: producer → storage-std writer (its submit queue is a
//! ringcore SPSC ring drained by the writer thread) → segments in DIR.
//!
//! Every payload is [`pattern::fill`] of its sequence, so `ringctl replay --check` can
//! verify any record of the log, whichever run wrote it. A new log starts at sequence 0;
//! an existing one is recovered and continued at its next sequence.
//!
//! Stdout reports the durable watermark (every sequence up to and including `S` is
//! durable), polled every 10 ms, then the summary, which counts events that became
//! durable (and were read back and checked), not events enqueued:
//!
//! * with `--json`, every advance the poll sees is `{"type":"durable","seq":S}` (never
//!   throttled), the summary `{"type":"summary",...}` last: JSON only, one object a line;
//! * in text mode, `durable S` lines, at most one per [`TEXT_DURABLE_GAP`] while the
//!   run appends, plus one at exit with the watermark the clean shutdown reached (the
//!   last line before the summary); `-q` silences them.
//!
//! Every line is flushed at once: a process killed at any moment has told its reader
//! only what was durable.
//!
//! `--events-per-sec N` offers events on a fixed schedule (event `i` at `i / N` seconds)
//! instead of as fast as the writer takes them. The summary's `commit_latency_us` gives
//! the time from just before an append to when a thread waiting on the writer
//! (`wait_durable`) saw it durable, in microseconds: `p50`, `p99`, `p99_9`, `max`,
//! `mean` and `samples` (every event with a rate, every 1024th without; `null` with
//! durability none, where records become durable only at rolls and exit). An append
//! that ran late because the writer pushed back is timed from when it ran, not from its
//! slot in the schedule. The samples go into an HDR histogram (3 significant digits).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use storage_std::{Durability, LogReader, RecordMeta, Start, Writer, WriterOptions};
use storage_uring::{BackendChoice, UringOptions, open_backend};

use crate::pattern::{self, PayloadSizes};
use crate::report::{Failure, Progress, Summary};
use crate::stress::Limit;

/// Default event count of a log stress run (the SPSC stress default would write GBs).
pub const DEFAULT_EVENTS: u64 = 1_000_000;

/// How often the durable watermark is polled (and the most often a JSON line is printed).
const DURABLE_POLL: Duration = Duration::from_millis(10);

/// The least time between two `durable S` lines in text mode (about 10 a second).
pub const TEXT_DURABLE_GAP: Duration = Duration::from_millis(100);

/// `--durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Page cache only; synced at segment rolls and on the clean shutdown.
    None,
    /// Group commit: one write and one fdatasync per group (1 MiB or an empty queue).
    #[default]
    Group,
    /// One fdatasync per append (appends arriving during a sync share the next one).
    Sync,
}

impl DurabilityArg {
    /// The storage-std setting.
    pub fn durability(self) -> Durability {
        match self {
            Self::None => Durability::None,
            Self::Group => Durability::group(),
            Self::Sync => Durability::Sync,
        }
    }
}

/// `--backend`: what the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendArg {
    /// io_uring where the kernel allows it, else the portable backend (with a warning).
    #[default]
    Auto,
    /// The portable backend of storage-std (pwritev + fdatasync on real files).
    Std,
    /// io_uring (storage-uring), or an error that says why it cannot run here.
    Uring,
}

impl BackendArg {
    fn choice(self) -> BackendChoice {
        match self {
            Self::Auto => BackendChoice::Auto,
            Self::Std => BackendChoice::Std,
            Self::Uring => BackendChoice::Uring,
        }
    }

    /// Opens (creating or recovering) the log in `dir` for writing with the chosen
    /// backend; returns the writer and the name of the backend that actually runs. With
    /// `auto`, a fallback to the portable backend is reported on stderr.
    pub fn open(
        self,
        dir: &Path,
        opts: WriterOptions,
        spares: Option<usize>,
    ) -> Result<(Writer, &'static str), Failure> {
        let mut opts = opts;
        let (backend, name): (std::sync::Arc<dyn storage_std::backend::Backend>, _) =
            if let Some(n) = spares {
                if self != Self::Std {
                    return Err("--spares needs --backend std (io_uring zero-fills its own)".into());
                }
                let b = storage_std::backend::FileBackend::new(dir)
                    .map_err(|e| format!("cannot use {}: {e}", dir.display()))?
                    .with_spares(storage_std::backend::SpareOptions::default().with_spares(n));
                // Spares take the size the writer preallocates.
                opts = opts.with_preallocate(true);
                (std::sync::Arc::new(b), "std")
            } else {
                let opened = open_backend(dir, self.choice(), &UringOptions::default())
                    .map_err(|e| format!("--backend {}: {e}", self.choice()))?;
                if let Some(w) = opened.warning() {
                    crate::warn!("ringctl stress: {w}");
                }
                // The io_uring backend preallocates (and recycles) segment files only
                // when the writer asks for it; measured faster there (storage-uring's
                // docs).
                opts = opts.with_preallocate(opened.uring.is_some());
                (opened.backend, opened.kind.name())
            };
        let writer = Writer::open_with(backend, opts).map_err(|e| Failure {
            code: match e {
                storage_std::Error::Locked(_) => crate::report::EXIT_LOCKED,
                _ => crate::report::EXIT_USAGE,
            },
            message: format!("cannot open the log in {}: {e}", dir.display()),
        })?;
        Ok((writer, name))
    }
}

/// Settings of a log stress run.
#[derive(Debug, Clone)]
pub struct LogStress {
    /// The log directory (created if missing).
    pub dir: PathBuf,
    /// `--durability` (default group).
    pub durability: Option<DurabilityArg>,
    /// `--segment-bytes` (default storage-std's, 64 MiB).
    pub segment_bytes: Option<u64>,
    /// `--group-bytes` (default 1 MiB).
    pub group_bytes: Option<usize>,
    /// `--backend` (default auto).
    pub backend: Option<BackendArg>,
    /// When to stop.
    pub limit: Limit,
    /// Payload lengths.
    pub sizes: PayloadSizes,
    /// `--json` (the summary of a fail-stopped run is printed here).
    pub json: bool,
    /// `-q`: no `durable S` lines in text mode.
    pub quiet: bool,
    /// `--events-per-sec`: the offered rate (`None`: as fast as possible).
    pub events_per_sec: Option<u64>,
    /// `--spares`: pre-written segment files kept ready (portable backend).
    pub spares: Option<usize>,
}

impl LogStress {
    /// Prints a durable watermark on stdout (`{"type":"durable","seq":S}` or `durable S`)
    /// and flushes. A closed stdout is not an error worth stopping the writer for.
    fn print_durable(&self, seq: u64) {
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(out, "{{\"type\":\"durable\",\"seq\":{seq}}}")
        } else {
            writeln!(out, "durable {seq}")
        };
        let _ = out.flush();
    }

    /// The least time between two watermark lines while the run appends; `None`: none
    /// are printed.
    fn durable_gap(&self) -> Option<Duration> {
        match (self.json, self.quiet) {
            (true, _) => Some(Duration::ZERO),
            (false, true) => None,
            (false, false) => Some(TEXT_DURABLE_GAP),
        }
    }
}

/// What the watermark printer has printed.
#[derive(Debug, Clone, Copy)]
struct Printed {
    last: Option<u64>,
    at: Option<Instant>,
}

/// Polls the durable watermark every [`DURABLE_POLL`] until `stop`, printing advances
/// (each one in JSON, at most one per [`TEXT_DURABLE_GAP`] in text, none with `-q`);
/// keeps `durable_events` (events of this run that are durable) current.
fn watch_durable(
    cfg: &LogStress,
    w: &Writer,
    first_seq: u64,
    stop: &AtomicBool,
    durable_events: &AtomicU64,
) -> Printed {
    // The watermark recovery left is not news: only advances are printed.
    let mut seen = w.durable_seq();
    let gap = cfg.durable_gap();
    let mut printed = Printed {
        last: None,
        at: None,
    };
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let d = w.durable_seq();
        if d > seen
            && let Some(s) = d
        {
            seen = d;
            durable_events.store((s + 1).saturating_sub(first_seq), Ordering::Relaxed);
            let due = match (gap, printed.at) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(g), Some(at)) => at.elapsed() >= g,
            };
            if due {
                cfg.print_durable(s);
                printed = Printed {
                    last: Some(s),
                    at: Some(Instant::now()),
                };
            }
        }
        if stopping {
            return printed;
        }
        std::thread::sleep(DURABLE_POLL);
    }
}

/// One event whose commit latency is measured: its sequence and when its append began.
type Sample = (u64, Instant);

/// Every how many events one is timed without `--events-per-sec`.
const UNTHROTTLED_SAMPLE_EVERY: u64 = 1024;

/// Waits until the offered schedule (`rate` events a second from `start`) reaches event
/// `n`: sleeps most of a long wait, spins the last part.
fn pace(start: Instant, rate: u64, n: u64) {
    let due_ns = u128::from(n) * 1_000_000_000 / u128::from(rate);
    let due = start + Duration::from_nanos(u64::try_from(due_ns).unwrap_or(u64::MAX));
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > Duration::from_micros(200) {
            std::thread::sleep(left - Duration::from_micros(100));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Times each sample from its append to the moment `wait_durable` returns for it.
fn measure_commits(
    w: &Writer,
    samples: std::sync::mpsc::Receiver<Sample>,
) -> hdrhistogram::Histogram<u64> {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("valid histogram bounds");
    for (seq, at) in samples {
        if w.wait_durable(seq, Some(Duration::from_secs(60))).is_ok() {
            h.saturating_record(u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    }
    h
}

/// The `commit_latency_us` object of the summary.
fn latency_json(h: &hdrhistogram::Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    serde_json::json!({
        "samples": h.len(),
        "p50": us(h.value_at_quantile(0.5)),
        "p99": us(h.value_at_quantile(0.99)),
        "p99_9": us(h.value_at_quantile(0.999)),
        "max": us(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

/// Appends until the limit (at the offered rate, if one is set), sending the events to
/// time to `samples`; returns how many were appended, and the error that stopped the
/// producer early, if any.
fn produce(
    w: &Writer,
    cfg: &LogStress,
    first_seq: u64,
    start: Instant,
    samples: Option<std::sync::mpsc::Sender<Sample>>,
) -> (u64, Option<String>) {
    let rate = cfg.events_per_sec;
    let sample_every = if rate.is_some() {
        1
    } else {
        UNTHROTTLED_SAMPLE_EVERY
    };
    let deadline = match cfg.limit {
        Limit::Time(d) => Some(start + d),
        Limit::Events(_) => None,
    };
    let max = match cfg.limit {
        Limit::Events(n) => n,
        Limit::Time(_) => u64::MAX,
    };
    let mut meta = RecordMeta::default();
    let mut n = 0u64;
    while n < max {
        if let Some(r) = rate {
            pace(start, r, n);
        }
        if n.is_multiple_of(16) || rate.is_some() {
            meta.timestamp_ns = Some(storage_std::now_ns());
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        let seq = first_seq + n;
        let len = cfg.sizes.len_for(seq);
        let timed = samples
            .as_ref()
            .filter(|_| n.is_multiple_of(sample_every))
            .map(|tx| (tx, Instant::now()));
        match w.append_in_place(len, meta, |b| pattern::fill(seq, b)) {
            Ok(got) if got == seq => {
                if let Some((tx, at)) = timed {
                    let _ = tx.send((seq, at));
                }
                n += 1
            }
            Ok(got) => {
                return (
                    n + 1,
                    Some(format!(
                        "the writer assigned sequence {got} where {seq} was expected"
                    )),
                );
            }
            Err(e) => return (n, Some(e.to_string())),
        }
    }
    (n, None)
}

/// What reading the run's durable records back found.
#[derive(Debug, Default)]
struct Readback {
    verified: u64,
    errors: u64,
    payload_bytes: u64,
    first_error: Option<String>,
}

impl Readback {
    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// Reads `first..=last` back from the files and checks sequence, length and pattern.
fn read_back(dir: &Path, sizes: PayloadSizes, first: u64, last: u64) -> Readback {
    let mut out = Readback::default();
    let mut cursor = match LogReader::open(dir).and_then(|r| r.cursor(Start::Seq(first))) {
        Ok(c) => c,
        Err(e) => {
            out.fail(format!("cannot read the log back: {e}"));
            return out;
        }
    };
    cursor.set_end(Some(last));
    let mut expect = first;
    loop {
        match cursor.next() {
            Ok(Some(r)) => {
                let seq = r.seq();
                if seq != expect {
                    out.fail(format!("expected sequence {expect}, read {seq}"));
                } else if r.header.len as usize != r.payload.len() {
                    out.fail(format!(
                        "sequence {seq}: header length {} != payload length {}",
                        r.header.len,
                        r.payload.len()
                    ));
                } else if let Some(problem) = pattern::payload_problem(&sizes, seq, r.payload) {
                    out.fail(problem);
                } else {
                    out.verified += 1;
                }
                out.payload_bytes += r.payload.len() as u64;
                expect = seq.wrapping_add(1);
            }
            Ok(None) => break,
            Err(e) => {
                out.fail(format!("reading sequence {expect} back: {e}"));
                break;
            }
        }
    }
    if expect != last.wrapping_add(1) && out.errors == 0 {
        out.fail(format!(
            "durable up to {last}, but the log ends before sequence {expect}"
        ));
    }
    out
}

/// Runs `ringctl stress --log`. `Err` is a usage or I/O error, or a fail-stop (whose
/// summary has been printed already): exit 2.
pub fn stress(cfg: &LogStress, progress: &Progress) -> Result<Summary, Failure> {
    let backend = cfg.backend.unwrap_or_default();
    let durability = match (cfg.durability.unwrap_or_default(), cfg.group_bytes) {
        (DurabilityArg::Group, Some(max_bytes)) => Durability::Group {
            max_bytes,
            max_delay: Duration::ZERO,
        },
        (_, Some(_)) => return Err("--group-bytes needs --durability group".into()),
        (d, None) => d.durability(),
    };
    let mut opts = WriterOptions::new(durability);
    if let Some(b) = cfg.segment_bytes {
        opts = opts.with_segment_bytes(b);
    }
    let dir = &cfg.dir;
    let (w, backend_name) = backend.open(dir, opts, cfg.spares)?;
    for c in &w.recovery().cuts {
        crate::warn!(
            "ringctl stress: recovery cut {} bytes of {} at offset {} ({:?}: {}){}",
            c.bytes_cut,
            c.file,
            c.offset,
            c.kind,
            c.reason,
            c.lost
                .map(|l| format!(", sequences {l} gone"))
                .unwrap_or_default()
        );
    }
    if cfg.sizes.max > w.max_payload() {
        return Err(format!(
            "payload of {} bytes exceeds the largest the log's queue accepts, {}",
            cfg.sizes.max,
            w.max_payload()
        )
        .into());
    }
    let first_seq = w.next_seq();
    let stop = AtomicBool::new(false);
    let durable_events = AtomicU64::new(0);
    let start = Instant::now();
    let timed = durability != Durability::None;
    let (appended, produce_error, printed, latency) = std::thread::scope(|s| {
        let watcher = s.spawn(|| watch_durable(cfg, &w, first_seq, &stop, &durable_events));
        let bar =
            s.spawn(|| progress.watch(&durable_events, cfg.limit, || stop.load(Ordering::Acquire)));
        let (tx, rx) = std::sync::mpsc::channel::<Sample>();
        let timer = timed.then(|| s.spawn(|| measure_commits(&w, rx)));
        let (appended, err) = produce(&w, cfg, first_seq, start, timed.then_some(tx));
        // The last events timed become durable with this sync (the channel is closed).
        if timed && err.is_none() {
            let _ = w.sync();
        }
        let latency = timer.and_then(|t| t.join().ok());
        stop.store(true, Ordering::Release);
        let printed = watcher.join().unwrap_or(Printed {
            last: None,
            at: None,
        });
        let _ = bar.join();
        (appended, err, printed, latency)
    });
    // The writer's own counters and per-group sync latencies (write+sync calls), taken
    // before close so that the close's final sync does not count.
    let writer_stats = w.stats();
    // Closing writes and syncs everything queued, in every mode.
    let before_close = w.durable_seq();
    let (durable_seq, stop_cause) = match w.close() {
        Ok(r) => (r.durable_seq, produce_error),
        Err(e) => (
            before_close,
            Some(produce_error.unwrap_or_else(|| e.to_string())),
        ),
    };
    let elapsed = start.elapsed();
    if durable_seq > printed.last
        && let Some(s) = durable_seq
        && cfg.durable_gap().is_some()
    {
        cfg.print_durable(s);
    }
    let events = durable_seq.map_or(0, |d| (d + 1).saturating_sub(first_seq));
    let rb = if events > 0 {
        read_back(dir, cfg.sizes, first_seq, first_seq + events - 1)
    } else {
        Readback::default()
    };
    let mut extra = serde_json::json!({
        "durability": durability.name(),
        "backend": backend_name,
        "durable_seq": durable_seq,
        "first_seq": first_seq,
        "appended": appended,
        "events_per_sec_offered": cfg.events_per_sec,
        "commit_latency_us": latency.as_ref().map_or(serde_json::Value::Null, latency_json),
        "writer": serde_json::to_value(writer_stats).unwrap_or_default(),
    });
    if let Some(c) = &stop_cause {
        extra["stopped"] = c.clone().into();
    }
    let summary = Summary {
        mode: "log",
        events,
        payload_bytes: rb.payload_bytes,
        elapsed,
        verified: rb.verified,
        errors: rb.errors,
        first_error: rb.first_error,
        extra,
    };
    match stop_cause {
        None => Ok(summary),
        Some(cause) => {
            if let Err(e) = summary.print(cfg.json) {
                crate::warn!("ringctl: cannot write the summary: {e}");
            }
            Err(cause.into())
        }
    }
}

// ------------------------------------------------------------------ replay --merge-live

/// `ringctl replay DIR --merge-live LIVE_DIR`.
#[derive(Debug, clap::Args)]
pub struct MergeLiveArgs {
    /// Replay DIR (a recording: e.g. ROOT/NAME/log of `ringctl recordings`, or a copy of
    /// the live log's past) and hand over to the live log in LIVE_DIR, following it:
    /// every sequence from the start once, in order, from DIR while it holds it and from
    /// LIVE_DIR after. Ends at --to-seq / --to-time or on Ctrl-C / SIGTERM (exit 0);
    /// sequences in neither log are exit 1. The summary names the hand-over point.
    #[arg(long, value_name = "LIVE_DIR", conflicts_with_all = ["quarantine", "store", "follow"])]
    pub merge_live: Option<PathBuf>,
}

/// Set by the Ctrl-C / SIGTERM handler of `replay --merge-live`.
static MERGE_INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What a merged replay does after a record.
enum Flow {
    Go,
    /// `--check` failed.
    Bad(String),
    /// Past `--to-time`.
    PastEnd,
}

/// How a merged replay ended: the summary's `end`, the exit code and the error.
struct MergeEnding {
    end: &'static str,
    code: u8,
    error: Option<String>,
}

/// Runs `ringctl replay DIR --merge-live LIVE_DIR` (see [`MergeLiveArgs`]).
pub fn replay_merge_live(
    a: &crate::logtools::ReplayArgs,
    live_dir: &Path,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    use storage_std::LogItem;
    use storage_std::archive::{ArchiveError, LiveMerge, MergedFrom};
    const CMD: &str = "replay";
    let fail = |code: u8, msg: String| crate::logtools::fail(CMD, code, msg);
    if let (Some(f), Some(t)) = (a.from_seq, a.to_seq)
        && f > t
    {
        return fail(
            crate::report::EXIT_USAGE,
            format!("--from-seq {f} is after --to-seq {t}: an empty range"),
        );
    }
    for dir in [&a.dir, &live_dir.to_path_buf()] {
        if let Err(c) = crate::logtools::log_dir(CMD, dir, false) {
            return c;
        }
    }
    if let Err(e) = ctrlc::set_handler(|| MERGE_INTERRUPTED.store(true, Ordering::Relaxed)) {
        return fail(
            crate::report::EXIT_USAGE,
            format!("cannot catch Ctrl-C for --merge-live: {e}"),
        );
    }
    let start = match (a.from_seq, a.from_time) {
        (Some(s), _) => Start::Seq(s),
        (None, Some(t)) => Start::Time(t),
        (None, None) => Start::Oldest,
    };
    let opened = LogReader::open(&a.dir).and_then(|r| Ok((r, LogReader::open(live_dir)?)));
    let mut merge = match opened
        .map_err(ArchiveError::from)
        .and_then(|(archive, live)| LiveMerge::new(archive, live, start))
    {
        Ok(m) => m,
        Err(ArchiveError::Log(e @ storage_std::Error::NotRetained { .. })) => {
            return fail(crate::report::EXIT_USAGE, e.to_string());
        }
        Err(e) => return fail(crate::report::EXIT_USAGE, e.to_string()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    let (mut count, mut first, mut last, mut lost) = (0u64, None, None, 0u64);
    let ending = loop {
        if MERGE_INTERRUPTED.load(Ordering::Relaxed) {
            break MergeEnding {
                end: "interrupted",
                code: 0,
                error: None,
            };
        }
        if a.to_seq
            .is_some_and(|e| merge.next_seq().is_some_and(|n| n > e))
        {
            break MergeEnding {
                end: "end",
                code: 0,
                error: None,
            };
        }
        let step = merge.next_wait(
            Duration::from_millis(100),
            |_from: MergedFrom, item| match item {
                LogItem::Lost(l) => {
                    lost += l.to - l.from + 1;
                    crate::logtools::print_lost(&mut out, a, l.from, l.to).map(|()| Flow::Go)
                }
                LogItem::Record(r) => {
                    if a.to_time.is_some_and(|t| r.header.timestamp_ns > t) {
                        return Ok(Flow::PastEnd);
                    }
                    let seq = r.seq();
                    count += 1;
                    first.get_or_insert(seq);
                    last = Some(seq);
                    let bad = crate::logtools::check_record(a, seq, &r);
                    crate::logtools::print_record(&mut out, a, &r.header, r.payload)
                        .map(|()| bad.map_or(Flow::Go, Flow::Bad))
                }
            },
        );
        match step {
            Ok(None) => {
                // Idle while following: show what we have.
                if let Err(e) = out.flush() {
                    break write_failure(e);
                }
            }
            Ok(Some(Ok(Flow::Go))) => {}
            Ok(Some(Ok(Flow::Bad(bad)))) => {
                break MergeEnding {
                    end: "failed",
                    code: crate::EXIT_CHECK_FAILED,
                    error: Some(bad),
                };
            }
            Ok(Some(Ok(Flow::PastEnd))) => {
                break MergeEnding {
                    end: "end",
                    code: 0,
                    error: None,
                };
            }
            Ok(Some(Err(e))) => break write_failure(e),
            Err(e @ ArchiveError::MergeGap { .. }) => {
                break MergeEnding {
                    end: "failed",
                    code: crate::EXIT_CHECK_FAILED,
                    error: Some(e.to_string()),
                };
            }
            Err(ArchiveError::Log(
                e @ (storage_std::Error::Corrupt { .. } | storage_std::Error::NeedsForce { .. }),
            )) => {
                break MergeEnding {
                    end: "failed",
                    code: crate::EXIT_CHECK_FAILED,
                    error: Some(e.to_string()),
                };
            }
            Err(e) => {
                break MergeEnding {
                    end: "error",
                    code: crate::report::EXIT_USAGE,
                    error: Some(e.to_string()),
                };
            }
        }
    };
    if ending.end == "closed" {
        return ExitCode::SUCCESS;
    }
    let stats = merge.stats();
    let summary = if a.json {
        let mut v = serde_json::json!({
            "type": "summary",
            "version": crate::report::VERSION,
            "records": count,
            "first_seq": first,
            "last_seq": last,
            "lost": lost,
            "checked": a.check,
            "end": ending.end,
            "merge": stats,
        });
        if let Some(e) = &ending.error {
            v["error"] = e.clone().into();
        }
        format!("{v}\n")
    } else {
        let s = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        format!(
            "records {} first_seq {} last_seq {}{} (handed over to the live log at {}: {} from the recording, {} live){}{}\n",
            count,
            s(first),
            s(last),
            if lost > 0 {
                format!(" lost {lost}")
            } else {
                String::new()
            },
            s(stats.handover_seq),
            stats.from_archive,
            stats.from_live,
            if ending.end == "interrupted" {
                " (interrupted)"
            } else {
                ""
            },
            if ending.error.is_some() {
                " FAILED"
            } else {
                ""
            },
        )
    };
    match out.write_all(summary.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return fail(crate::report::EXIT_USAGE, e.to_string()),
    }
    if let Some(e) = &ending.error {
        crate::warn!("ringctl replay: {e}");
    }
    ExitCode::from(ending.code)
}

fn write_failure(e: std::io::Error) -> MergeEnding {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        MergeEnding {
            end: "closed",
            code: 0,
            error: None,
        }
    } else {
        MergeEnding {
            end: "error",
            code: crate::report::EXIT_USAGE,
            error: Some(format!("cannot write the output: {e}")),
        }
    }
}
