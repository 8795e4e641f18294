//! `ringctl`: the command-line tool of the project.
//!
//! Exit codes, for every subcommand: 0 success, 1 a check failed or corruption, 2 usage
//! or I/O error (an option that does not apply, a folder that is not a log), 5 the log is
//! locked by a writer (retryable: `stress --log`, `recover`). `verify`, `recover` and
//! `replay` share one table (see `logtools`): also 3 torn tail only, 4 repairable only.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

mod archive;
mod fanout;
mod import;
mod log;
mod logtools;
mod pattern;
mod report;
mod stress;
mod tier;

use pattern::PayloadSizes;
use report::Progress;
use stress::{Limit, SpscStress};

/// Exit code: a check failed.
const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: usage or I/O error.
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ringctl",
    version,
    about = "Stress, inspect and verify ringcore rings and logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Producer thread → ring → consumer thread; the consumer checks every record. Exit 0
    /// all checked, 1 a check failed, 2 usage or I/O error, 5 (--log) locked by a writer.
    Stress(StressArgs),
    /// List a log's segments: sequence and time ranges, sizes, sealed or active.
    Inspect(logtools::InspectArgs),
    /// Check a log: exit 0 clean, 3 only a torn tail, 4 only repairable, 1 corruption, 2
    /// usage or I/O error; with --isolated, 6 when the child verifier did not finish
    /// (time or memory limit, SIGBUS, a crash).
    Verify(VerifyCmd),
    /// Recover a log: cut a torn tail, repair derived files; with --force take corruption
    /// out (lost ranges, quarantine/). Exit 0 clean after, 1 refused, 5 locked, 2 errors.
    Recover(logtools::RecoverArgs),
    /// Stream a log's records (or quarantine/'s); --check verifies the stress pattern.
    /// Exit 0 all delivered (or --follow ended by Ctrl-C / SIGTERM), 3 stopped at a torn
    /// tail, 1 corruption or a failed check, 2 usage (an empty range, not a log directory).
    Replay(ReplayCmd),
    /// Append a capture of ringcore::io frames (e.g. saved from a device's UART) to a
    /// log, skipping damage. Exit 0 clean capture, 1 damage skipped (the good frames are
    /// imported and durable), 2 usage or I/O error, 5 locked.
    Import(import::ImportArgs),
    /// Move sealed, verified segments to an object store (`file:///path` or
    /// `s3://bucket[/prefix]`), compressed; `--store URL` on inspect, verify and replay
    /// reads them back. Exit 0 done, 1 corruption or conflict, 2 usage, I/O or store
    /// errors, 5 another `ringctl tier` holds the directory.
    #[cfg(feature = "tier")]
    Tier(tier::TierArgs),
    /// Rebuild a log directory from the bucket alone (its manifest; --hydrate downloads
    /// every segment too). Exit 0 done, 1 a damaged object, 2 usage, I/O or store errors.
    #[cfg(feature = "tier")]
    Restore(tier::RestoreArgs),
    /// List the recordings of a catalog root, one line each (state, sequences, times,
    /// size); --json: one object a line. Exit 0, 1 a recording is damaged, 2 errors.
    Recordings(archive::RecordingsArgs),
    /// Snapshot anchors of a recording: save one (tagged with the sequence it reflects),
    /// show the latest valid one and where to replay from, list them all, checked.
    Anchor(archive::AnchorArgs),
    /// Print a shell completion script on stdout (e.g. `ringctl completions bash >
    /// /etc/bash_completion.d/ringctl`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout (e.g. `ringctl man > ringctl.1`).
    Man,
}

/// `ringctl verify`: the verifier's flags and `--isolated`.
#[derive(Debug, clap::Args)]
struct VerifyCmd {
    #[command(flatten)]
    base: logtools::VerifyArgs,
    #[command(flatten)]
    isolated: archive::IsolatedArgs,
}

/// `ringctl replay`: the replay's flags and `--merge-live`.
#[derive(Debug, clap::Args)]
struct ReplayCmd {
    #[command(flatten)]
    base: logtools::ReplayArgs,
    #[command(flatten)]
    merge: log::MergeLiveArgs,
}

/// What `ringctl stress` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Producer → SPSC ring of framed records → consumer.
    Spsc,
    /// One writer → broadcast ring → several readers.
    Broadcast,
    /// One writer → pool of broadcast rings by size class → several readers.
    Pool,
}

#[derive(Debug, clap::Args)]
struct StressArgs {
    /// Number of events to send.
    #[arg(long, conflicts_with = "seconds")]
    events: Option<u64>,
    /// Send for this many seconds instead of a fixed count.
    #[arg(long)]
    seconds: Option<f64>,
    /// Fixed payload size in bytes (`64`, `1KiB`).
    #[arg(long, value_parser = report::parse_bytes_usize, conflicts_with_all = ["payload_min", "payload_max"])]
    payload_size: Option<usize>,
    /// Smallest payload size (with --payload-max: sizes vary by sequence).
    #[arg(long, value_parser = report::parse_bytes_usize, requires = "payload_max")]
    payload_min: Option<usize>,
    /// Largest payload size.
    #[arg(long, value_parser = report::parse_bytes_usize, requires = "payload_min")]
    payload_max: Option<usize>,
    /// SPSC mode: ring capacity, a power of two from 4KiB to 64MiB (default 1MiB; K, M
    /// and G are powers of 1024: `1M` = `1MiB`).
    #[arg(long, value_parser = report::parse_bytes_usize)]
    capacity: Option<usize>,
    /// SPSC, broadcast and pool modes: records per publish and per release, at least 1
    /// (1 = publish every record; default 32).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batch: Option<u64>,
    /// Stdout is JSON only, one object a line, each with a `type`: with --log every
    /// durable advance (`durable`), then the summary (`summary`, with `version`).
    #[arg(long)]
    json: bool,
    /// Text mode: no `durable S` lines, only the summary.
    #[arg(long, short, conflicts_with = "json")]
    quiet: bool,
    /// What to stress: an SPSC ring (default), a broadcast ring (one writer, --readers
    /// readers), or a pool of broadcast rings by size class (mixed sizes, 16 B to 16 KiB
    /// by default).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Broadcast and pool modes: number of reader threads (1 to 16, default 2).
    #[arg(long)]
    readers: Option<usize>,
    /// Broadcast and pool modes: gated (default; nothing lost) or overwrite (lapped
    /// readers lose events and are told exactly how many).
    #[arg(long, value_enum)]
    policy: Option<fanout::PolicyArg>,
    /// Testing aid: the producer damages the payload of every Nth event after filling
    /// it, to prove the consumer's checks catch it (exit 1).
    #[arg(long, hide = true)]
    corrupt_every: Option<u64>,
    /// Log mode: producer → storage-std writer → segments in DIR (created if needed;
    /// an existing log is recovered and continued). Prints `durable S` lines (at most
    /// about 10 a second, and the last one) or, with --json, every durable advance.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["capacity", "batch", "corrupt_every", "mode", "readers", "policy"])]
    log: Option<std::path::PathBuf>,
    /// With --log: none (page cache, synced at rolls and exit), group (default), sync.
    #[arg(long, requires = "log", value_enum)]
    durability: Option<log::DurabilityArg>,
    /// With --log: roll segments at this size (default 64MiB, at least 4KiB).
    #[arg(long, requires = "log", value_parser = report::parse_bytes)]
    segment_bytes: Option<u64>,
    /// With --log: the writer backend (auto = the best available).
    #[arg(long, requires = "log", value_enum)]
    backend: Option<log::BackendArg>,
    /// With --log and group durability: close a group at this size (default 1MiB, at
    /// most 256MiB); also the torn window of the segments it writes.
    #[arg(long, requires = "log", value_parser = report::parse_bytes_usize)]
    group_bytes: Option<usize>,
    /// With --log: offer events at this rate (events a second, at least 1) instead of as
    /// fast as the writer takes them; the summary's `commit_latency_us` then measures
    /// append → durable at that load.
    #[arg(long, requires = "log", value_parser = clap::value_parser!(u64).range(1..))]
    events_per_sec: Option<u64>,
    /// With --log: keep this many pre-written (zeroed) segment files ready, prepared in
    /// the background, so that new segments overwrite written blocks (1 to 8; the
    /// portable backend only; enables preallocation).
    #[arg(long, requires = "log", value_parser = clap::value_parser!(u64).range(1..=8))]
    spares: Option<u64>,
}

/// Default event count: a few seconds at worst on a small machine.
const DEFAULT_EVENTS: u64 = 50_000_000;
/// Default payload size.
const DEFAULT_PAYLOAD: usize = 64;

fn payload_sizes(a: &StressArgs) -> Result<PayloadSizes, String> {
    let sizes = match (a.payload_size, a.payload_min, a.payload_max) {
        (Some(s), _, _) => PayloadSizes { min: s, max: s },
        (None, Some(min), Some(max)) => PayloadSizes { min, max },
        _ => PayloadSizes {
            min: DEFAULT_PAYLOAD,
            max: DEFAULT_PAYLOAD,
        },
    };
    if sizes.min > sizes.max {
        return Err(format!(
            "--payload-min {} is larger than --payload-max {}",
            sizes.min, sizes.max
        ));
    }
    Ok(sizes)
}

fn limit(a: &StressArgs) -> Result<Limit, String> {
    match (a.events, a.seconds) {
        (_, Some(s)) if !(s.is_finite() && s > 0.0) => {
            Err(format!("--seconds {s}: must be a positive number"))
        }
        (_, Some(s)) => Ok(Limit::Time(Duration::from_secs_f64(s))),
        (Some(n), None) => Ok(Limit::Events(n)),
        (None, None) => Ok(Limit::Events(DEFAULT_EVENTS)),
    }
}

/// Default SPSC ring capacity.
const DEFAULT_CAPACITY: usize = 1 << 20;
/// Default records per publish.
const DEFAULT_BATCH: u64 = 32;
/// Default reader threads of the broadcast and pool modes.
const DEFAULT_READERS: usize = 2;

/// Options that clap cannot tell do not apply to the chosen mode: an error each, never
/// silently ignored. (`--log` against the ring options is clap's `conflicts_with`.)
fn check_applies(a: &StressArgs) -> Result<(), String> {
    if a.log.is_some() {
        return Ok(());
    }
    let mode = a.mode.unwrap_or(Mode::Spsc);
    let name = match mode {
        Mode::Spsc => "spsc",
        Mode::Broadcast => "broadcast",
        Mode::Pool => "pool",
    };
    if mode == Mode::Spsc {
        if a.readers.is_some() {
            return Err("--readers applies to --mode broadcast and pool, not spsc".into());
        }
        if a.policy.is_some() {
            return Err("--policy applies to --mode broadcast and pool, not spsc".into());
        }
    } else if a.capacity.is_some() {
        return Err(format!(
            "--capacity applies to --mode spsc, not {name} (its rings are fixed at build time)"
        ));
    }
    Ok(())
}

fn stress(a: &StressArgs) -> Result<report::Summary, report::Failure> {
    check_applies(a)?;
    let batch = a.batch.unwrap_or(DEFAULT_BATCH);
    let batch = usize::try_from(batch).map_err(|_| format!("--batch {batch}: too large"))?;
    if let Some(dir) = &a.log {
        let cfg = log::LogStress {
            dir: dir.clone(),
            durability: a.durability,
            segment_bytes: a.segment_bytes,
            group_bytes: a.group_bytes,
            backend: a.backend,
            limit: match (a.events, a.seconds) {
                (None, None) => Limit::Events(log::DEFAULT_EVENTS),
                _ => limit(a)?,
            },
            sizes: payload_sizes(a)?,
            json: a.json,
            quiet: a.quiet,
            events_per_sec: a.events_per_sec,
            spares: a.spares.map(|n| n as usize),
        };
        return log::stress(&cfg, &Progress::new(true));
    }
    let mode = a.mode.unwrap_or(Mode::Spsc);
    if mode != Mode::Spsc {
        let sizes = match (mode, a.payload_size, a.payload_min) {
            (Mode::Pool, None, None) => PayloadSizes {
                min: 16,
                max: 16 << 10,
            },
            _ => payload_sizes(a)?,
        };
        let cfg = fanout::FanoutStress {
            limit: limit(a)?,
            sizes,
            readers: a.readers.unwrap_or(DEFAULT_READERS),
            policy: a.policy.unwrap_or(fanout::PolicyArg::Gated),
            batch,
            corrupt_every: a.corrupt_every,
        };
        let progress = Progress::new(true);
        return match mode {
            Mode::Pool => fanout::run_pool(&cfg, &progress),
            _ => fanout::run_broadcast(&cfg, &progress),
        }
        .map_err(Into::into);
    }
    let cfg = SpscStress {
        limit: limit(a)?,
        sizes: payload_sizes(a)?,
        capacity: a.capacity.unwrap_or(DEFAULT_CAPACITY),
        batch,
        corrupt_every: a.corrupt_every,
    };
    Ok(stress::run_spsc(&cfg, &Progress::new(true))?)
}

/// Exit 0 once generated text is written; a closed pipe is fine, other errors exit 2.
fn finish_output(r: std::io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            crate::warn!("ringctl: cannot write the output: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn main() -> ExitCode {
    // A child of `verify --isolated` verifies and exits here.
    storage_std::run_verify_child_if_requested();
    let cli = Cli::parse();
    match cli.command {
        Command::Stress(a) => match stress(&a) {
            Ok(summary) => {
                if let Err(e) = summary.print(a.json) {
                    crate::warn!("ringctl: cannot write the summary: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
                if summary.ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_CHECK_FAILED)
                }
            }
            Err(e) => {
                crate::warn!("ringctl stress: {}", e.message);
                ExitCode::from(e.code)
            }
        },
        Command::Inspect(a) => logtools::inspect(&a),
        Command::Verify(a) if a.isolated.isolated => archive::verify_isolated(&a.base, &a.isolated),
        Command::Verify(a) => logtools::verify(&a.base),
        Command::Recover(a) => logtools::recover(&a),
        Command::Replay(ReplayCmd {
            base,
            merge: log::MergeLiveArgs {
                merge_live: Some(live),
            },
        }) => log::replay_merge_live(&base, &live),
        Command::Replay(a) => logtools::replay(&a.base),
        Command::Import(a) => import::import(&a),
        #[cfg(feature = "tier")]
        Command::Tier(a) => tier::tier(&a),
        #[cfg(feature = "tier")]
        Command::Restore(a) => tier::restore(&a),
        Command::Recordings(a) => archive::recordings(&a),
        Command::Anchor(a) => archive::anchor(&a),
        Command::Completions { shell } => {
            // Into memory first: `generate` panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ringctl", &mut script);
            let mut out = std::io::stdout().lock();
            finish_output(out.write_all(&script).and_then(|()| out.flush()))
        }
        Command::Man => {
            let mut page = Vec::new();
            let rendered = clap_mangen::Man::new(Cli::command()).render(&mut page);
            let mut out = std::io::stdout().lock();
            finish_output(
                rendered
                    .and_then(|()| out.write_all(&page))
                    .and_then(|()| out.flush()),
            )
        }
    }
}
