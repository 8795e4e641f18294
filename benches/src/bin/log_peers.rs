//! The durable-log comparison: storage-std's writer in every durability mode, a raw
//! `pwrite` + `fdatasync` baseline on the same disk, and the crates users would pick
//! instead (okaywal, commitlog made durable by hand, rivven-core), in one process and
//! one run.
//!
//! ```text
//! cargo run --release -p benches --bin log_peers -- [--events N] [--payload 64]
//!     [--group-bytes 262144,1048576] [--rate 100000] [--paced-seconds S]
//!     [--sync-events N] [--max-seconds S] [--runs K] [--dir D] [--only TEXT] [--json]
//! ```
//!
//! Rows, for `--payload`-byte events (on disk each storage-std record takes
//! 32 + round_up(payload, 8) bytes):
//!
//! * unpaced: one producer as fast as it can, `--events` events (or `--max-seconds`);
//!   `None` against raw `pwrite` without sync; `Group` at each `--group-bytes` against
//!   the raw baseline (pre-written and growing file) and the peers, each committing
//!   groups of the same number of events; every storage-std row keeps the BLAKE3
//!   digest chain (the default), and each `Group` size has a `file, chain off` row too;
//! * paced: `--rate` events/s offered for `--paced-seconds`, latency from the moment an
//!   event was due to the moment it was known durable;
//! * `Sync`: `--sync-events` appends, each durable before the next, against raw
//!   `pwrite` + `fdatasync` per event (also the "raw fdatasync" latency of the targets);
//! * replay of the `Group` log through storage-std's reader, CRCs checked.
//!
//! `--runs K` repeats the whole list K times, interleaved (round 1 of every variant,
//! then round 2, ...); the table shows medians of rates and latencies over all runs
//! (histograms merged). `--only TEXT` keeps the variants whose "system mode load"
//! contains TEXT (alternatives separated by `|`).
//!
//! A row counts only events known to be persisted when it ends. Files go in a temporary
//! directory under `--dir` (default `$CARGO_TARGET_DIR` or `target`): put it on the disk
//! you mean to measure, never on tmpfs. With `--json` stdout is one line of JSON and the
//! tables go to stderr. Exit code 0 when every row ran and every replayed record was
//! intact, 1 otherwise, 2 for a usage error.
//!
//! Another storage-std backend (the io_uring one) is one more entry in [`backends`].

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use benches::log_peers::log::{self as slog, LogBackend, Replay, Stamp};
use benches::log_peers::peers::{CommitLogSynced, OkayWal, RivvenLog, RivvenWal};
use benches::log_peers::raw::{self, RawFile, RawSink};
use benches::log_peers::{
    BenchResult, GroupSink, Latency, LatencySummary, Outcome, drive_paced, drive_unpaced, sys,
};
use benches::{Align, Args, Json, Table, machine_description, median};
use storage_std::Durability;
use storage_std::format::disk_record_len;

const USAGE: &str = "usage: log_peers [--events N] [--payload B] [--group-bytes B1,B2,..] \
[--rate EVENTS_PER_S] [--paced-seconds S] [--sync-events N] [--max-seconds S] [--runs K] \
[--dir D] [--only TEXT] [--json]";

/// The storage-std backends the log rows run on. The io_uring backend of
/// `storage-uring` goes here as one more `LogBackend::new("io_uring", |dir| ...)`.
fn backends(events: u64, payload: usize) -> Vec<LogBackend> {
    // Enough pre-written segments for the whole run (at most the pool's bound).
    let seg = slog::options(Durability::None).segment_bytes();
    let bytes = events.saturating_mul(disk_record_len(payload) as u64);
    let spares = usize::try_from(bytes.div_ceil(seg) + 1)
        .unwrap_or(usize::MAX)
        .min(storage_std::backend::MAX_SPARES);
    let mut v = vec![
        LogBackend::file(),
        LogBackend::file_with_ready_spares(spares),
    ];
    // The io_uring backend (storage-uring) with its measured defaults; the time it spends
    // preallocating and zero-filling segment files counts inside each run.
    match storage_uring::probe() {
        Ok(_) => v.push(
            LogBackend::new("io_uring", |dir| {
                storage_uring::UringBackend::new(dir, storage_uring::UringOptions::default())
                    .map(|b| {
                        std::sync::Arc::new(b) as std::sync::Arc<dyn storage_std::backend::Backend>
                    })
                    .map_err(std::io::Error::other)
            })
            .preallocating(),
        ),
        Err(e) => eprintln!("io_uring rows skipped: io_uring unavailable here ({e})"),
    }
    v
}

struct Config {
    events: u64,
    payload: usize,
    group_bytes: Vec<usize>,
    rate: f64,
    paced_seconds: f64,
    sync_events: u64,
    max_seconds: f64,
    runs: usize,
    /// The backend of the diagnostic rows that measure the writer without I/O.
    null_backend: LogBackend,
    dir: Option<PathBuf>,
    only: Option<String>,
    json: bool,
}

fn parse() -> Result<Config, String> {
    let mut a = Args::from_env();
    if a.flag("--help") || a.flag("-h") {
        return Err(String::new());
    }
    let groups: Option<String> = a.value("--group-bytes")?;
    let c = Config {
        events: a.value("--events")?.unwrap_or(1_000_000),
        payload: a.value("--payload")?.unwrap_or(64),
        group_bytes: match groups {
            None => vec![256 << 10, 1 << 20],
            Some(s) => s
                .split(',')
                .map(|g| g.trim().parse::<usize>())
                .collect::<Result<_, _>>()
                .map_err(|_| format!("--group-bytes: cannot parse {s:?}"))?,
        },
        rate: a.value("--rate")?.unwrap_or(100_000.0),
        paced_seconds: a.value("--paced-seconds")?.unwrap_or(2.0),
        sync_events: a.value("--sync-events")?.unwrap_or(2_000),
        max_seconds: a.value("--max-seconds")?.unwrap_or(10.0),
        runs: a.value("--runs")?.unwrap_or(1),
        null_backend: LogBackend::null(),
        dir: a.value::<String>("--dir")?.map(PathBuf::from),
        only: a.value("--only")?,
        json: a.flag("--json"),
    };
    a.finish()?;
    if c.events == 0 || c.payload == 0 || c.sync_events == 0 || c.runs == 0 {
        return Err("--events, --payload, --sync-events and --runs must be at least 1".into());
    }
    if c.group_bytes.is_empty() || c.group_bytes.iter().any(|&g| g < 4096) {
        return Err("--group-bytes: each group must be at least 4096 bytes".into());
    }
    if c.rate <= 0.0 || c.paced_seconds <= 0.0 || c.max_seconds <= 0.0 {
        return Err("--rate, --paced-seconds and --max-seconds must be positive".into());
    }
    if c.payload > 1 << 20 {
        return Err("--payload: at most 1 MiB".into());
    }
    Ok(c)
}

/// What a row is, for the ratios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LogNone,
    LogGroup,
    LogSync,
    /// Two producers through the shared writer (its mutex path).
    LogShared,
    RawNoSync,
    RawGroup,
    RawPerEvent,
    Peer,
    /// Diagnostic rows: a separate table, no target.
    Diag,
}

/// Offered load of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    Unpaced,
    Paced(f64),
}

fn load_name(l: Load) -> String {
    match l {
        Load::Unpaced => "unpaced".into(),
        Load::Paced(r) => rate_name(r),
    }
}

/// What a variant is.
#[derive(Debug, Clone)]
struct Spec {
    system: String,
    mode: String,
    kind: Kind,
    load: Load,
    group: Option<usize>,
    /// The backend, for storage-std rows.
    backend: Option<String>,
}

/// Runs a variant in the fresh directory it is given.
type RunFn<'a> = Box<dyn Fn(&Path) -> BenchResult<Outcome> + 'a>;

/// A variant: what it is and how to run it in a fresh directory.
struct Variant<'a> {
    spec: Spec,
    /// Keep the directory after the run for the replay.
    replay: bool,
    run: RunFn<'a>,
}

/// One run of a variant.
struct Measured {
    result: BenchResult<Outcome>,
    /// VmHWM of the process during the run (reset before it).
    peak_rss: Option<u64>,
    /// Peak RssAnon during the run minus RssAnon before it.
    peak_anon: u64,
}

/// A variant's runs, summarised for the table.
struct Row {
    spec: Spec,
    payload: usize,
    runs: Vec<Measured>,
}

impl Row {
    fn error(&self) -> Option<&str> {
        self.runs
            .iter()
            .find_map(|m| m.result.as_ref().err().map(String::as_str))
    }

    fn oks(&self) -> Vec<&Outcome> {
        if self.error().is_some() {
            return Vec::new();
        }
        self.runs
            .iter()
            .filter_map(|m| m.result.as_ref().ok())
            .collect()
    }

    fn median_of(&self, f: impl Fn(&Outcome) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.oks().into_iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    /// Median over runs of events counted per second.
    fn events_per_s(&self) -> Option<f64> {
        self.median_of(|o| Some(o.events as f64 / o.elapsed.as_secs_f64()))
    }

    /// storage-std record bytes of the counted events per second (the log's and the
    /// raw baseline's on-disk bytes; for a peer, what its events would take in the log).
    fn record_bytes_per_s(&self) -> Option<f64> {
        self.events_per_s()
            .map(|e| e * disk_record_len(self.payload) as f64)
    }

    fn written_mb_per_s(&self) -> Option<f64> {
        self.median_of(|o| Some(o.written_bytes? as f64 / 1e6 / o.elapsed.as_secs_f64()))
    }

    /// Median over runs of a CPU time (`cpu`) divided by the events counted.
    fn cpu_ns_per_event(&self, cpu: impl Fn(&Outcome) -> Option<u64>) -> Option<f64> {
        self.median_of(|o| Some(cpu(o)? as f64 / o.events.max(1) as f64))
    }

    /// Events made durable per sync (median over runs), where the syncs are known.
    fn events_per_sync(&self) -> Option<f64> {
        self.median_of(|o| {
            let g = o.groups?;
            (g > 0).then(|| o.events as f64 / g as f64)
        })
    }

    /// Backend calls (writes, syncs, directory syncs) per sync, for storage-std rows.
    fn calls_per_sync(&self) -> Option<f64> {
        self.median_of(|o| {
            let (g, c) = (o.groups?, o.backend_calls?);
            (g > 0).then(|| c as f64 / g as f64)
        })
    }

    fn events(&self) -> Option<u64> {
        self.median_of(|o| Some(o.events as f64)).map(|e| e as u64)
    }

    /// Latency over all runs (histograms merged).
    fn latency(&self) -> Option<LatencySummary> {
        let mut all: Option<Latency> = None;
        for o in self.oks() {
            if let Some(l) = &o.latency {
                all.get_or_insert_with(Latency::new).merge(l);
            }
        }
        all?.summary()
    }

    fn group_commit(&self) -> Option<LatencySummary> {
        let mut all: Option<Latency> = None;
        for o in self.oks() {
            if let Some(l) = &o.group_commit {
                all.get_or_insert_with(Latency::new).merge(l);
            }
        }
        all?.summary()
    }

    fn peak_rss(&self) -> Option<u64> {
        self.runs.iter().filter_map(|m| m.peak_rss).max()
    }

    fn peak_anon(&self) -> u64 {
        self.runs.iter().map(|m| m.peak_anon).max().unwrap_or(0)
    }
}

fn fmt_f(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("–".into(), |b| {
        format!("{:.1}", b as f64 / (1 << 20) as f64)
    })
}

fn size_name(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn rate_name(rate: f64) -> String {
    if rate >= 1000.0 && (rate / 1000.0).fract() == 0.0 {
        format!("{} k/s", rate / 1000.0)
    } else {
        format!("{rate} /s")
    }
}

fn log_system(b: &LogBackend) -> String {
    format!("storage-std ({})", b.name)
}

/// Opens a peer on a directory for groups of `n` events (`g` bytes in the log's
/// format) of `p`-byte payloads: `(dir, p, n, g)`.
type OpenPeer = fn(&Path, usize, usize, usize) -> BenchResult<Box<dyn GroupSink>>;

fn peers() -> Vec<(&'static str, OpenPeer)> {
    vec![
        ("okaywal", |d, p, _n, g| {
            Ok(Box::new(OkayWal::open(d, p, g)?) as Box<dyn GroupSink>)
        }),
        ("commitlog + fdatasync by hand", |d, p, _n, _g| {
            Ok(Box::new(CommitLogSynced::open(d, p)?) as Box<dyn GroupSink>)
        }),
        ("rivven-core LogManager", |d, p, _n, _g| {
            Ok(Box::new(RivvenLog::open(d, p)?) as Box<dyn GroupSink>)
        }),
        ("rivven-core GroupCommitWal", |d, p, n, _g| {
            Ok(Box::new(RivvenWal::open(d, p, n)?) as Box<dyn GroupSink>)
        }),
    ]
}

/// Every variant, in run order: rows that a target compares run next to each other,
/// so a change in the disk's load hits both.
fn variants<'a>(
    cfg: &'a Config,
    backends: &'a [LogBackend],
    unchained: &'a LogBackend,
) -> Vec<Variant<'a>> {
    let p = cfg.payload;
    let rec = disk_record_len(p);
    let budget = Duration::from_secs_f64(cfg.max_seconds);
    let paced_events = (cfg.rate * cfg.paced_seconds).ceil() as u64;
    let paced_budget = Duration::from_secs_f64(cfg.paced_seconds * 2.0 + 5.0);
    let max_group = *cfg.group_bytes.iter().max().unwrap_or(&(1 << 20));
    let group = |g: usize| Durability::Group {
        max_bytes: g,
        max_delay: Duration::ZERO,
    };
    let mut v: Vec<Variant<'a>> = Vec::new();

    // 1. Page cache only.
    for b in backends {
        v.push(Variant {
            spec: Spec {
                system: log_system(b),
                mode: "None".into(),
                kind: Kind::LogNone,
                load: Load::Unpaced,
                group: None,
                backend: Some(b.name.clone()),
            },
            replay: false,
            run: Box::new(move |d| {
                slog::run_unpaced(b, d, Durability::None, p, cfg.events, budget)
            }),
        });
    }
    let piece = slog::options(Durability::None).buffer_bytes();
    v.push(Variant {
        spec: Spec {
            system: "raw pwrite, growing file".into(),
            mode: format!("no sync, {} writes", size_name(piece)),
            kind: Kind::RawNoSync,
            load: Load::Unpaced,
            group: None,
            backend: None,
        },
        replay: false,
        run: Box::new(move |d| {
            raw::run_unpaced(
                &d.join("raw"),
                RawFile::Growing,
                p,
                cfg.events,
                piece / rec,
                false,
                budget,
            )
        }),
    });

    // 2. Group commit, unpaced.
    for &g in &cfg.group_bytes {
        let n = (g / rec).max(1);
        let mode = format!("Group {}", size_name(g));
        for (i, b) in backends.iter().enumerate() {
            v.push(Variant {
                spec: Spec {
                    system: log_system(b),
                    mode: mode.clone(),
                    kind: Kind::LogGroup,
                    load: Load::Unpaced,
                    group: Some(g),
                    backend: Some(b.name.clone()),
                },
                replay: i == 0 && g == max_group,
                run: Box::new(move |d| slog::run_unpaced(b, d, group(g), p, cfg.events, budget)),
            });
            if i == 0 {
                // The same row with the digest chain off: the chain's cost is the ratio
                // of the two, in the same run.
                let b = unchained;
                v.push(Variant {
                    spec: Spec {
                        system: log_system(b),
                        mode: mode.clone(),
                        kind: Kind::LogGroup,
                        load: Load::Unpaced,
                        group: Some(g),
                        backend: Some(b.name.clone()),
                    },
                    replay: false,
                    run: Box::new(move |d| {
                        slog::run_unpaced(b, d, group(g), p, cfg.events, budget)
                    }),
                });
            }
            if g == max_group {
                v.push(Variant {
                    spec: Spec {
                        system: log_system(b),
                        mode: format!("{mode}, 2 producers (shared writer)"),
                        kind: Kind::LogShared,
                        load: Load::Unpaced,
                        group: Some(g),
                        backend: Some(b.name.clone()),
                    },
                    replay: false,
                    run: Box::new(move |d| {
                        slog::run_unpaced_shared(b, d, group(g), p, cfg.events, budget, 2)
                    }),
                });
            }
        }
        for kind in [RawFile::PreWritten, RawFile::Growing] {
            v.push(Variant {
                spec: Spec {
                    system: format!("raw pwrite + fdatasync, {} file", kind.name()),
                    mode: mode.clone(),
                    kind: Kind::RawGroup,
                    load: Load::Unpaced,
                    group: Some(g),
                    backend: None,
                },
                replay: false,
                run: Box::new(move |d| {
                    raw::run_unpaced(&d.join("raw"), kind, p, cfg.events, n, true, budget)
                }),
            });
        }
        for (name, open) in peers() {
            v.push(Variant {
                spec: Spec {
                    system: name.into(),
                    mode: format!("{mode} ({n} events)"),
                    kind: Kind::Peer,
                    load: Load::Unpaced,
                    group: Some(g),
                    backend: None,
                },
                replay: false,
                run: Box::new(move |d| {
                    let mut sink = open(d, p, n, g)?;
                    drive_unpaced(sink.as_mut(), cfg.events, n, budget)
                }),
            });
        }
    }

    // 3. One sync per event: the raw fdatasync latency, then the log's Sync mode.
    v.push(Variant {
        spec: Spec {
            system: "raw pwrite + fdatasync, pre-written file".into(),
            mode: "per event".into(),
            kind: Kind::RawPerEvent,
            load: Load::Unpaced,
            group: None,
            backend: None,
        },
        replay: false,
        run: Box::new(move |d| {
            let file = d.join("raw");
            let mut sink =
                RawSink::new(&file, RawFile::PreWritten, cfg.sync_events * rec as u64, p)?;
            let mut o = drive_unpaced(&mut sink, cfg.sync_events, 1, budget)?;
            // One event per commit: the commit time is the event's latency.
            o.latency = o.group_commit.clone();
            Ok(o)
        }),
    });
    for b in backends {
        v.push(Variant {
            spec: Spec {
                system: log_system(b),
                mode: "Sync".into(),
                kind: Kind::LogSync,
                load: Load::Unpaced,
                group: None,
                backend: Some(b.name.clone()),
            },
            replay: false,
            run: Box::new(move |d| slog::run_sync(b, d, p, cfg.sync_events, budget)),
        });
    }

    // 4. Group commit at an offered load.
    let load = Load::Paced(cfg.rate);
    for &g in &cfg.group_bytes {
        let n = (g / rec).max(1);
        let mode = format!("Group {}", size_name(g));
        for b in backends {
            v.push(Variant {
                spec: Spec {
                    system: log_system(b),
                    mode: mode.clone(),
                    kind: Kind::LogGroup,
                    load,
                    group: Some(g),
                    backend: Some(b.name.clone()),
                },
                replay: false,
                run: Box::new(move |d| {
                    slog::run_paced(b, d, group(g), p, paced_events, cfg.rate, paced_budget)
                }),
            });
        }
        v.push(Variant {
            spec: Spec {
                system: "raw pwrite + fdatasync, pre-written file".into(),
                mode: format!("{mode} (due events, at most {n})"),
                kind: Kind::RawGroup,
                load,
                group: Some(g),
                backend: None,
            },
            replay: false,
            run: Box::new(move |d| {
                let file = d.join("raw");
                let mut sink =
                    RawSink::new(&file, RawFile::PreWritten, paced_events * rec as u64, p)?;
                drive_paced(&mut sink, paced_events, cfg.rate, n, paced_budget)
            }),
        });
        for (name, open) in peers() {
            v.push(Variant {
                spec: Spec {
                    system: name.into(),
                    mode: format!("{mode} (due events, at most {n})"),
                    kind: Kind::Peer,
                    load,
                    group: Some(g),
                    backend: None,
                },
                replay: false,
                run: Box::new(move |d| {
                    let mut sink = open(d, p, n, g)?;
                    drive_paced(sink.as_mut(), paced_events, cfg.rate, n, paced_budget)
                }),
            });
        }
    }

    // 5. Diagnostics: where storage-std's time goes (no target compares these).
    let diag = |system: String, mode: String| Spec {
        system,
        mode,
        kind: Kind::Diag,
        load: Load::Unpaced,
        group: None,
        backend: None,
    };
    let null = &cfg.null_backend;
    v.push(Variant {
        spec: diag(log_system(null), "None".into()),
        replay: false,
        run: Box::new(move |d| slog::run_unpaced(null, d, Durability::None, p, cfg.events, budget)),
    });
    v.push(Variant {
        spec: diag(log_system(null), format!("Group {}", size_name(max_group))),
        replay: false,
        run: Box::new(move |d| slog::run_unpaced(null, d, group(max_group), p, cfg.events, budget)),
    });
    if let Some(b) = backends.first() {
        for (mode, dur) in [
            ("None".to_string(), Durability::None),
            (format!("Group {}", size_name(max_group)), group(max_group)),
        ] {
            v.push(Variant {
                spec: diag(log_system(b), format!("{mode}, timestamps from the caller")),
                replay: false,
                run: Box::new(move |d| {
                    slog::run_unpaced_stamped(b, d, dur, p, cfg.events, budget, Stamp::Caller)
                }),
            });
        }
    }
    v
}

/// `--only` matches "system mode load", case-insensitively; `|` separates
/// alternatives (`--only "none unpaced|no sync"`).
fn wanted(cfg: &Config, spec: &Spec) -> bool {
    let all = format!("{} {} {}", spec.system, spec.mode, load_name(spec.load)).to_lowercase();
    cfg.only.as_ref().is_none_or(|o| {
        o.to_lowercase()
            .split('|')
            .any(|alt| !alt.is_empty() && all.contains(alt))
    })
}

/// Runs `v` in the fresh directory `dir`, measuring its memory; removes the directory
/// unless `keep`.
fn measure(v: &Variant<'_>, dir: &Path, keep: bool, quiet: bool) -> Measured {
    if !quiet {
        eprint!(
            "  {} / {} / {} ... ",
            v.spec.system,
            v.spec.mode,
            load_name(v.spec.load)
        );
        let _ = std::io::stderr().flush();
    }
    let have_hwm = sys::reset_peak_rss();
    let anon_before = sys::rss_anon().unwrap_or(0);
    let sampler = sys::AnonSampler::start(Duration::from_millis(5));
    let result = std::fs::create_dir_all(dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))
        .and_then(|()| (v.run)(dir));
    let peak_anon = sampler.finish().saturating_sub(anon_before);
    let peak_rss = if have_hwm { sys::vm_hwm() } else { None };
    if !quiet {
        match &result {
            Ok(o) => eprintln!(
                "{} events, {:.0} k/s",
                o.events,
                o.events as f64 / o.elapsed.as_secs_f64() / 1e3
            ),
            Err(e) => eprintln!("FAILED: {e}"),
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(dir);
    }
    Measured {
        result,
        peak_rss,
        peak_anon,
    }
}

/// The replay passes (5 per round) and the memory they took.
struct ReplayRuns {
    passes: BenchResult<Vec<Replay>>,
    peak_anon: u64,
    peak_rss: Option<u64>,
}

fn run_all(cfg: &Config, root: &Path) -> (Vec<Row>, Option<ReplayRuns>) {
    let backends = backends(cfg.events, cfg.payload);
    let unchained = LogBackend::file().without_chain();
    let all = variants(cfg, &backends, &unchained);
    let chosen: Vec<&Variant<'_>> = all.iter().filter(|v| wanted(cfg, &v.spec)).collect();
    let mut counter = 0usize;
    let mut fresh = || {
        counter += 1;
        root.join(format!("v{counter:04}"))
    };

    // Warm-up, not reported: page cache, allocator, disk queue.
    let warm = (cfg.events / 20).clamp(1, 50_000);
    for b in &backends {
        let w = Variant {
            spec: Spec {
                system: log_system(b),
                mode: "warm-up".into(),
                kind: Kind::LogGroup,
                load: Load::Unpaced,
                group: None,
                backend: None,
            },
            replay: false,
            run: Box::new(move |d| {
                slog::run_unpaced(
                    b,
                    d,
                    Durability::group(),
                    cfg.payload,
                    warm,
                    Duration::from_secs(5),
                )
            }),
        };
        let _ = measure(&w, &fresh(), false, true);
    }

    let mut rows: Vec<Row> = chosen
        .iter()
        .map(|v| Row {
            spec: v.spec.clone(),
            payload: cfg.payload,
            runs: Vec::new(),
        })
        .collect();
    let mut replay: Option<ReplayRuns> = None;
    for round in 0..cfg.runs {
        eprintln!(
            "round {} of {} (files under {}):",
            round + 1,
            cfg.runs,
            root.display()
        );
        for (i, v) in chosen.iter().enumerate() {
            let dir = fresh();
            let m = measure(v, &dir, v.replay, false);
            let ok = m.result.is_ok();
            rows[i].runs.push(m);
            if !v.replay {
                continue;
            }
            if ok {
                eprint!("  replay of that log (5 passes) ... ");
                let _ = std::io::stderr().flush();
                let have_hwm = sys::reset_peak_rss();
                let anon_before = sys::rss_anon().unwrap_or(0);
                let sampler = sys::AnonSampler::start(Duration::from_millis(2));
                let passes: BenchResult<Vec<Replay>> =
                    (0..5).map(|_| slog::replay(&dir, cfg.payload)).collect();
                let anon = sampler.finish().saturating_sub(anon_before);
                let hwm = if have_hwm { sys::vm_hwm() } else { None };
                match &passes {
                    Ok(p) => eprintln!(
                        "{:.2} GB/s",
                        median(&p.iter().map(Replay::gb_per_s).collect::<Vec<_>>())
                    ),
                    Err(e) => eprintln!("FAILED: {e}"),
                }
                let r = replay.get_or_insert(ReplayRuns {
                    passes: Ok(Vec::new()),
                    peak_anon: 0,
                    peak_rss: None,
                });
                r.peak_anon = r.peak_anon.max(anon);
                r.peak_rss = r.peak_rss.max(hwm);
                match (&mut r.passes, passes) {
                    (Ok(all), Ok(p)) => all.extend(p),
                    (Ok(_), Err(e)) => r.passes = Err(e),
                    (Err(_), _) => {}
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    (rows, replay)
}

struct Target {
    name: String,
    value: Option<f64>,
    goal: &'static str,
    met: Option<bool>,
    detail: String,
}

impl Target {
    fn at_least(name: String, value: Option<f64>, goal: f64, detail: String) -> Self {
        Self {
            name,
            value,
            goal: if goal == 0.7 {
                ">= 0.70"
            } else if goal == 2.0 {
                ">= 2.0"
            } else if goal == 3.0 {
                ">= 3.0"
            } else {
                ">= 0.80"
            },
            met: value.map(|v| v >= goal),
            detail,
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

fn targets(rows: &[Row], cfg: &Config, replay_gbs: Option<f64>) -> Vec<Target> {
    let mut out = Vec::new();
    let find = |pred: &dyn Fn(&Spec) -> bool| {
        rows.iter()
            .find(|r| pred(&r.spec) && r.error().is_none() && !r.runs.is_empty())
    };
    let missing = || "a row is missing or failed".to_string();
    let kev = |x: Option<f64>| fmt_f(x.map(|e| e / 1e3), 0);
    let mbs = |x: Option<f64>| fmt_f(x.map(|e| e / 1e6), 1);
    let raw_sync = find(&|s| s.kind == Kind::RawPerEvent).and_then(Row::latency);
    for b in backends(cfg.events, cfg.payload) {
        let bname = Some(b.name.clone());
        let sys_name = log_system(&b);
        for &g in &cfg.group_bytes {
            let log = find(&|s| {
                s.kind == Kind::LogGroup
                    && s.load == Load::Unpaced
                    && s.group == Some(g)
                    && s.backend == bname
            });
            for file in [RawFile::PreWritten, RawFile::Growing] {
                let raw = find(&|s| {
                    s.kind == Kind::RawGroup
                        && s.load == Load::Unpaced
                        && s.group == Some(g)
                        && s.system.contains(file.name())
                });
                let (a, c) = (
                    log.and_then(Row::record_bytes_per_s),
                    raw.and_then(Row::record_bytes_per_s),
                );
                out.push(Target::at_least(
                    format!(
                        "{sys_name} Group {} vs raw, {} file, bytes/s",
                        size_name(g),
                        file.name()
                    ),
                    ratio(a, c),
                    0.8,
                    if log.is_some() && raw.is_some() {
                        format!("{} vs {} MB/s of records", mbs(a), mbs(c))
                    } else {
                        missing()
                    },
                ));
            }
            let best_peer = rows
                .iter()
                .filter(|r| {
                    r.spec.kind == Kind::Peer
                        && r.spec.load == Load::Unpaced
                        && r.spec.group == Some(g)
                })
                .filter_map(|r| Some((r.events_per_s()?, r)))
                .max_by(|x, y| x.0.total_cmp(&y.0));
            let a = log.and_then(Row::events_per_s);
            out.push(Target::at_least(
                format!("{sys_name} Group {} vs best peer, events/s", size_name(g)),
                ratio(a, best_peer.map(|p| p.0)),
                2.0,
                match (log, best_peer) {
                    (Some(_), Some((e, p))) => {
                        format!(
                            "{} vs {} k events/s ({})",
                            kev(a),
                            kev(Some(e)),
                            p.spec.system
                        )
                    }
                    _ => missing(),
                },
            ));
        }
        for &g in &cfg.group_bytes {
            let paced = |kind: Kind, backend: &Option<String>| {
                find(&|s| {
                    s.kind == kind
                        && s.load == Load::Paced(cfg.rate)
                        && s.group == Some(g)
                        && &s.backend == backend
                })
                .and_then(Row::latency)
            };
            let p99 = paced(Kind::LogGroup, &bname).map(|l| l.p99_us);
            let raw_group = paced(Kind::RawGroup, &None).map(|l| l.p99_us);
            let v = ratio(p99, raw_sync.map(|l| l.p99_us));
            out.push(Target {
                name: format!(
                    "{sys_name} Group {} commit p99 at {} vs raw fdatasync p99",
                    size_name(g),
                    rate_name(cfg.rate)
                ),
                value: v,
                goal: "<= 2.0",
                met: v.map(|v| v <= 2.0),
                detail: format!(
                    "{} vs {} µs (pwrite of one record + fdatasync, pre-written file); raw group commit at the same load: p99 {} µs",
                    fmt_f(p99, 0),
                    fmt_f(raw_sync.map(|l| l.p99_us), 0),
                    fmt_f(raw_group, 0)
                ),
            });
        }
        let max_group = cfg.group_bytes.iter().max().copied();
        let one = find(&|s| {
            s.kind == Kind::LogGroup
                && s.load == Load::Unpaced
                && s.group == max_group
                && s.backend == bname
        });
        let two = find(&|s| s.kind == Kind::LogShared && s.backend == bname);
        let (a, c) = (
            two.and_then(Row::events_per_s),
            one.and_then(Row::events_per_s),
        );
        out.push(Target::at_least(
            format!(
                "{sys_name} Group {}, 2 producers vs 1, events/s",
                size_name(max_group.unwrap_or(0))
            ),
            ratio(a, c),
            0.7,
            if one.is_some() && two.is_some() {
                format!("{} vs {} k events/s", kev(a), kev(c))
            } else {
                missing()
            },
        ));
        let none = find(&|s| s.kind == Kind::LogNone && s.backend == bname);
        let raw_none = find(&|s| s.kind == Kind::RawNoSync);
        let (a, c) = (
            none.and_then(Row::events_per_s),
            raw_none.and_then(Row::events_per_s),
        );
        out.push(Target::at_least(
            format!("{sys_name} None vs raw pwrite without sync, events/s"),
            ratio(a, c),
            0.8,
            if none.is_some() && raw_none.is_some() {
                format!("{} vs {} k events/s", kev(a), kev(c))
            } else {
                missing()
            },
        ));
        let user_ns = none.and_then(|r| r.cpu_ns_per_event(|o| o.writer_user_ns));
        out.push(Target {
            name: format!("{sys_name} None writer thread user CPU per event, ns"),
            value: user_ns,
            goal: "<= 5",
            met: user_ns.map(|v| v <= 5.0),
            detail: match none {
                Some(r) => format!(
                    "/proc utime, 10 ms ticks, the writer thread only; with system time and the threads it spawns to hash large groups (`WriterStats::writer_cpu_ns`): {} ns; whole process, all threads: {} ns per event (raw pwrite row: {})",
                    fmt_f(r.cpu_ns_per_event(|o| o.writer_cpu_ns), 1),
                    fmt_f(r.cpu_ns_per_event(|o| o.process_cpu_ns), 1),
                    fmt_f(raw_none.and_then(|r| r.cpu_ns_per_event(|o| o.process_cpu_ns)), 1)
                ),
                None => missing(),
            },
        });
    }
    out.push(Target::at_least(
        "replay with CRC checks from the page cache, GB/s of records".into(),
        replay_gbs,
        3.0,
        "median of the passes through storage-std's LogReader".into(),
    ));
    out
}

fn row_json(r: &Row) -> Json {
    let lat = r.latency();
    let gc = r.group_commit();
    let num = |x: Option<f64>| x.map_or(Json::Null, Json::Num);
    let oks = r.oks();
    let per_run =
        |f: &dyn Fn(&Outcome) -> f64| Json::nums(&oks.iter().map(|o| f(o)).collect::<Vec<_>>());
    Json::obj([
        ("system", Json::str(r.spec.system.clone())),
        ("mode", Json::str(r.spec.mode.clone())),
        ("load", Json::str(load_name(r.spec.load))),
        (
            "offered_per_s",
            match r.spec.load {
                Load::Paced(x) => Json::Num(x),
                Load::Unpaced => Json::Null,
            },
        ),
        (
            "group_bytes",
            r.spec.group.map_or(Json::Null, |g| Json::Int(g as u64)),
        ),
        (
            "backend",
            r.spec.backend.clone().map_or(Json::Null, Json::Str),
        ),
        ("error", r.error().map_or(Json::Null, Json::str)),
        ("runs", Json::Int(r.runs.len() as u64)),
        ("events", r.events().map_or(Json::Null, Json::Int)),
        ("events_per_s", num(r.events_per_s())),
        (
            "events_per_s_runs",
            per_run(&|o| o.events as f64 / o.elapsed.as_secs_f64()),
        ),
        (
            "payload_mb_per_s",
            num(r.events_per_s().map(|e| e * r.payload as f64 / 1e6)),
        ),
        (
            "record_mb_per_s",
            num(r.record_bytes_per_s().map(|e| e / 1e6)),
        ),
        ("written_mb_per_s", num(r.written_mb_per_s())),
        (
            "syncs_runs",
            per_run(&|o| o.groups.map_or(f64::NAN, |g| g as f64)),
        ),
        ("events_per_sync", num(r.events_per_sync())),
        ("backend_calls_per_sync", num(r.calls_per_sync())),
        ("p50_us", num(lat.map(|l| l.p50_us))),
        ("p99_us", num(lat.map(|l| l.p99_us))),
        ("p999_us", num(lat.map(|l| l.p999_us))),
        ("max_us", num(lat.map(|l| l.max_us))),
        ("group_commit_p50_us", num(gc.map(|l| l.p50_us))),
        ("group_commit_p99_us", num(gc.map(|l| l.p99_us))),
        ("peak_rss_bytes", r.peak_rss().map_or(Json::Null, Json::Int)),
        ("peak_rss_anon_delta_bytes", Json::Int(r.peak_anon())),
    ])
}

fn notes(cfg: &Config) -> String {
    let rec = disk_record_len(cfg.payload);
    format!(
        "Notes:\n\
- Numbers are from one machine at one time; on a shared or busy machine the disk's sync time moves by 10x within a minute, so compare rows of the same run (pairs that a target compares run next to each other), and prefer `--runs 3`.\n\
- Every row counts only events known to be persisted when it ends: storage-std, events up to the durable watermark after `wait_durable`/`close` (`None`: the clock stops when everything is in the page cache; the close that syncs it runs after); raw and peers, events of groups whose write + sync returned (raw without sync: synced once after the clock).\n\
- storage-std: default `WriterOptions` (64 MiB segments, 4 MiB submit queue, no preallocation, so its files grow), `Group {{ max_bytes, max_delay: 0 }}`, one producer thread holding an `Appender` (no mutex) and calling `append_in_place`, which builds the on-disk record (CRC32C included) in the submit ring and stamps it with the log's coarse clock; the writer thread walks headers and writes ring ranges; `2 producers` rows share the writer (`Writer::append_in_place` behind its mutex).\n\
- raw: storage-std records (24-byte frame + CRC32C + zero word + payload padded to 8: {rec} B each), encoded ahead by a second thread, one `pwrite` per group then `fdatasync`; pre-written = zeros written and synced before the clock, then overwritten; growing = a new empty file.\n\
- peers commit groups of the same number of events as the log's group of that size (shown in the mode) and use 64 MiB files: okaywal, one entry per group (one chunk per event; `commit` fdatasyncs; write buffer of one group); commitlog never syncs, so by hand after each group: fdatasync of its segment file and of its mmap'd index file (it needs the index to read records back), directory fsync when it starts a segment; rivven-core 0.0.22 without default features: LogManager = `append_batch` then its deferred `take_pending_sync()` + `sync_data()` (`EveryNWrites(1)`, which also fsyncs its index), GroupCommitWal = `write_batch` with `SyncMode::FsyncData`, group size = the event count, default 200 µs window, on a current-thread tokio runtime.\n\
- paced rows: {rate} offered for {secs} s. Latency runs from the moment an event was due to the moment it is known durable: storage-std's paced producer appends when due (it sleeps between events, so it can be late by a sleep's overshoot, and lateness counts), another thread records when `wait_durable` returns; a raw or peer caller commits every due event whenever it is free (so an event that arrives during a commit waits for it). Unpaced rows have no latency (unbounded offered load). `Sync`: the time each `append` took; raw per event: the time of each pwrite + fdatasync.\n\
- CPU ns/event: CPU time (user + system) of the whole process, every thread, during the timed part, per event counted (unpaced rows; the harness's 5 ms memory sampler included). For storage-std's None rows the targets list the writer thread's own share (`WriterStats::writer_cpu_ns`: the writer thread and the threads it spawns to hash large groups).\n\
- events/sync: events made durable per sync (storage-std: syncs counted by a wrapper around its backend, every file sync included; raw and peers: one per commit; not shown for `None` rows, which sync only at a segment roll).\n\
- written MB/s: bytes passed to write system calls during the timed part (`wchar` of /proc/self/io), each system's own format and metadata included, mmap'd writes not counted. Payload MB/s: 10^6 payload bytes per second.\n\
- peak RSS: VmHWM, reset before each row (/proc/self/clear_refs), of the whole process (the harness and freed-but-kept allocator memory of earlier rows included), mapped file pages included; peak anon Δ: the row's own anonymous memory, peak RssAnon (sampled every 5 ms) minus RssAnon before the row.\n\
- diagnostics: the null backend discards every byte (no system call), so its rows are the writer's own ceiling: one producer building records (CRC32C included) in the submit ring, the writer thread walking their headers and handing ring ranges to the backend.\n",
        rate = rate_name(cfg.rate),
        secs = cfg.paced_seconds
    )
}

/// The digest chain's cost: BLAKE3 chain hashing alone (one thread, from memory), and
/// each `Group` size's median events/s with the chain on (the default) against off,
/// same run.
fn chain_summary(rows: &[Row]) -> String {
    use storage_std::format::chain::{CHAIN_START, SegmentChain};
    let buf = vec![0x5au8; 64 << 20];
    let rates: Vec<f64> = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            let mut c = SegmentChain::new(CHAIN_START, 0);
            for piece in buf.chunks(1 << 20) {
                c.update(piece);
            }
            std::hint::black_box(c.digest());
            buf.len() as f64 / t.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    let gbs = median(&rates);
    let mut out = format!(
        "\nDigest chain: BLAKE3 chain hashing alone {gbs:.2} GB/s on one thread ({:.0} ms of CPU per GB; median of 5 passes over 64 MiB in memory).",
        1e3 / gbs
    );
    for on in rows.iter().filter(|r| {
        r.spec.system == "storage-std (file)"
            && r.spec.mode.starts_with("Group")
            && matches!(r.spec.load, Load::Unpaced)
    }) {
        let off = rows.iter().find(|r| {
            r.spec.system == "storage-std (file, chain off)" && r.spec.mode == on.spec.mode
        });
        if let (Some(a), Some(b)) = (on.events_per_s(), off.and_then(Row::events_per_s)) {
            out.push_str(&format!(
                " {}: chain on {:.0} k events/s, off {:.0} k events/s, ratio {:.2}.",
                on.spec.mode,
                a / 1e3,
                b / 1e3,
                a / b
            ));
        }
    }
    out.push('\n');
    out
}

fn main() -> ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("log_peers: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let base = cfg.dir.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
    });
    if let Err(e) = std::fs::create_dir_all(&base) {
        eprintln!("log_peers: cannot create {}: {e}", base.display());
        return ExitCode::from(2);
    }
    let tmp = match tempfile::Builder::new()
        .prefix("log_peers-")
        .tempdir_in(&base)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "log_peers: cannot create a temporary directory in {}: {e}",
                base.display()
            );
            return ExitCode::from(2);
        }
    };
    let fs = sys::fs_type(tmp.path());
    if fs == "tmpfs" {
        eprintln!(
            "log_peers: warning: {} is on tmpfs, where fdatasync does nothing; use --dir on a real disk",
            tmp.path().display()
        );
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loadavg: String = loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");

    let (rows, replay) = run_all(&cfg, tmp.path());
    let replay_ok = replay
        .as_ref()
        .and_then(|r| r.passes.as_ref().ok().filter(|p| !p.is_empty()));
    let replay_gbs = replay_ok.map(|p| median(&p.iter().map(Replay::gb_per_s).collect::<Vec<_>>()));
    let replay_bad: u64 = replay_ok.map_or(0, |p| p.iter().map(|r| r.bad).sum());
    let tg = targets(&rows, &cfg, replay_gbs);

    let rec = disk_record_len(cfg.payload);
    let mut out = String::new();
    out.push_str(&format!(
        "\n### Durable log: storage-std, the raw disk and the peers ({} B events, {} B records)\n\n",
        cfg.payload, rec
    ));
    out.push_str(&format!(
        "{}; files on {} under {}; load average before the run {}; {} run(s) per row.\n\n",
        machine_description(),
        fs,
        base.display(),
        loadavg,
        cfg.runs
    ));
    let mut t = Table::new(&[
        ("system", Align::Left),
        ("mode", Align::Left),
        ("load", Align::Left),
        ("events", Align::Right),
        ("k events/s", Align::Right),
        ("payload MB/s", Align::Right),
        ("written MB/s", Align::Right),
        ("events/sync", Align::Right),
        ("CPU ns/event", Align::Right),
        ("p50 µs", Align::Right),
        ("p99 µs", Align::Right),
        ("p99.9 µs", Align::Right),
        ("peak RSS MiB", Align::Right),
        ("peak anon Δ MiB", Align::Right),
    ]);
    let render_row = |t: &mut Table, r: &Row| {
        let head = [
            r.spec.system.clone(),
            r.spec.mode.clone(),
            load_name(r.spec.load),
        ];
        if let Some(e) = r.error() {
            t.row(head.into_iter().chain([format!("FAILED: {e}")]));
            return;
        }
        let lat = r.latency();
        t.row(
            head.into_iter().chain([
                r.events().map_or("–".into(), |e| e.to_string()),
                fmt_f(r.events_per_s().map(|e| e / 1e3), 0),
                fmt_f(r.events_per_s().map(|e| e * cfg.payload as f64 / 1e6), 1),
                fmt_f(r.written_mb_per_s(), 1),
                // `None` rows sync only at a segment roll: no per-group figure.
                fmt_f(
                    r.events_per_sync()
                        .filter(|_| !r.spec.mode.starts_with("None")),
                    0,
                ),
                fmt_f(r.cpu_ns_per_event(|o| o.process_cpu_ns), 1),
                fmt_f(lat.map(|l| l.p50_us), 0),
                fmt_f(lat.map(|l| l.p99_us), 0),
                fmt_f(lat.map(|l| l.p999_us), 0),
                mib(r.peak_rss()),
                mib(Some(r.peak_anon())),
            ]),
        );
    };
    let mut diag = t.clone();
    for r in rows.iter().filter(|r| r.spec.kind != Kind::Diag) {
        render_row(&mut t, r);
    }
    let max_group = cfg.group_bytes.iter().copied().max();
    for r in rows.iter().filter(|r| {
        r.spec.kind == Kind::Diag
            || (r.spec.load == Load::Unpaced
                && r.spec.backend.as_deref() == Some("file")
                && (r.spec.kind == Kind::LogNone || r.spec.group == max_group))
            || r.spec.kind == Kind::RawNoSync
            || (r.spec.kind == Kind::RawGroup
                && r.spec.load == Load::Unpaced
                && r.spec.group == max_group)
    }) {
        render_row(&mut diag, r);
    }
    out.push_str(&t.render());
    match (&replay, replay_ok) {
        (Some(r), Some(p)) => out.push_str(&format!(
            "\nReplay of the Group {} log (storage-std `LogReader` from the oldest record, every CRC, sequence and payload checked, from the page cache): {} records, {:.1} MB of records, median {:.2} GB/s of records ({:.2} GB/s of payload) over {} passes, {} bad records; peak RSS {} MiB (whole process, mapped segment pages included), peak anon Δ {} MiB.\n",
            size_name(*cfg.group_bytes.iter().max().unwrap_or(&0)),
            p[0].records,
            p[0].record_bytes as f64 / 1e6,
            replay_gbs.unwrap_or(f64::NAN),
            replay_gbs.unwrap_or(f64::NAN) * p[0].payload_bytes as f64 / p[0].record_bytes.max(1) as f64,
            p.len(),
            replay_bad,
            mib(r.peak_rss),
            mib(Some(r.peak_anon)),
        )),
        (Some(ReplayRuns { passes: Err(e), .. }), _) => {
            out.push_str(&format!("\nReplay FAILED: {e}\n"));
        }
        _ => {}
    }
    out.push_str(&chain_summary(&rows));
    out.push_str("\nTargets (benchmark, not test; same run):\n\n");
    let mut tt = Table::new(&[
        ("target", Align::Left),
        ("measured", Align::Right),
        ("goal", Align::Left),
        ("", Align::Left),
        ("numbers", Align::Left),
    ]);
    for x in &tg {
        tt.row([
            x.name.clone(),
            fmt_f(x.value, 3),
            x.goal.to_string(),
            match x.met {
                Some(true) => "met".into(),
                Some(false) => "MISSED".into(),
                None => "n/a".into(),
            },
            x.detail.clone(),
        ]);
    }
    out.push_str(&tt.render());
    if rows.iter().any(|r| r.spec.kind == Kind::Diag) {
        out.push_str(
            "\nWhere storage-std's time goes (diagnostics next to the rows they explain; same run):\n\n",
        );
        out.push_str(&diag.render());
    }
    out.push('\n');
    out.push_str(&notes(&cfg));

    let failed = rows.iter().any(|r| r.error().is_some())
        || replay.as_ref().is_some_and(|r| r.passes.is_err())
        || replay_bad > 0;

    if cfg.json {
        eprint!("{out}");
        let j = Json::obj([
            ("bench", Json::str("log_peers")),
            ("machine", Json::str(machine_description())),
            ("fs", Json::str(fs)),
            ("loadavg", Json::str(loadavg)),
            ("payload", Json::Int(cfg.payload as u64)),
            ("record_bytes", Json::Int(rec as u64)),
            ("events", Json::Int(cfg.events)),
            ("rate", Json::Num(cfg.rate)),
            ("runs", Json::Int(cfg.runs as u64)),
            ("rows", Json::Arr(rows.iter().map(row_json).collect())),
            (
                "replay",
                match (&replay, replay_ok) {
                    (Some(r), Some(p)) => Json::obj([
                        ("records", Json::Int(p[0].records)),
                        ("record_bytes", Json::Int(p[0].record_bytes)),
                        ("gb_per_s", replay_gbs.map_or(Json::Null, Json::Num)),
                        ("passes", Json::Int(p.len() as u64)),
                        ("bad", Json::Int(replay_bad)),
                        ("peak_rss_bytes", r.peak_rss.map_or(Json::Null, Json::Int)),
                        ("peak_rss_anon_delta_bytes", Json::Int(r.peak_anon)),
                    ]),
                    _ => Json::Null,
                },
            ),
            (
                "targets",
                Json::Arr(
                    tg.iter()
                        .map(|x| {
                            Json::obj([
                                ("target", Json::str(x.name.clone())),
                                ("value", x.value.map_or(Json::Null, Json::Num)),
                                ("goal", Json::str(x.goal)),
                                ("met", x.met.map_or(Json::Null, Json::Bool)),
                                ("detail", Json::str(x.detail.clone())),
                            ])
                        })
                        .collect(),
                ),
            ),
        ]);
        println!("{j}");
    } else {
        print!("{out}");
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
