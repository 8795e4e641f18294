//! `ringctl`: the command-line tool of the project.
//!
//! Exit codes, for every subcommand: 0 success, 1 a check failed or corruption, 2 usage
//! or I/O error. `verify`, `recover` and `replay` share one table (see `logtools`): also
//! 3 torn tail only, 4 repairable only, 5 locked by a writer.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod fanout;
mod log;
mod logtools;
mod pattern;
mod report;
mod stress;

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
    /// Producer thread → ring → consumer thread; the consumer checks every record.
    Stress(StressArgs),
    /// List a log's segments: sequence and time ranges, sizes, sealed or active.
    Inspect(logtools::InspectArgs),
    /// Check a log: exit 0 clean, 3 only a torn tail, 4 only repairable, 1 corruption, 2
    /// usage or I/O error.
    Verify(logtools::VerifyArgs),
    /// Recover a log: cut a torn tail, repair derived files; with --force take corruption
    /// out (lost ranges, quarantine/). Exit 0 clean after, 1 refused, 5 locked, 2 errors.
    Recover(logtools::RecoverArgs),
    /// Stream a log's records (or quarantine/'s); --check verifies the stress pattern.
    /// Exit 0 all delivered, 3 stopped at a torn tail, 1 corruption or a failed check.
    Replay(logtools::ReplayArgs),
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
    /// Fixed payload size in bytes.
    #[arg(long, conflicts_with_all = ["payload_min", "payload_max"])]
    payload_size: Option<usize>,
    /// Smallest payload size (with --payload-max: sizes vary by sequence).
    #[arg(long, requires = "payload_max")]
    payload_min: Option<usize>,
    /// Largest payload size.
    #[arg(long, requires = "payload_min")]
    payload_max: Option<usize>,
    /// Ring capacity in bytes: a power of two from 4 KiB to 64 MiB.
    #[arg(long, default_value_t = 1 << 20)]
    capacity: usize,
    /// Records per publish and per release (1 = publish every record).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Print the summary as one line of JSON.
    #[arg(long)]
    json: bool,
    /// What to stress: an SPSC ring, a broadcast ring (one writer, --readers readers), or a
    /// pool of broadcast rings by size class (mixed sizes, 16 B to 16 KiB by default).
    #[arg(long, value_enum, default_value_t = Mode::Spsc)]
    mode: Mode,
    /// Broadcast and pool modes: number of reader threads (1 to 16).
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Broadcast and pool modes: gated (nothing lost) or overwrite (lapped readers lose
    /// events and are told exactly how many).
    #[arg(long, value_enum, default_value_t = fanout::PolicyArg::Gated)]
    policy: fanout::PolicyArg,
    /// Testing aid: the producer damages the payload of every Nth event after filling
    /// it, to prove the consumer's checks catch it (exit 1).
    #[arg(long, hide = true)]
    corrupt_every: Option<u64>,
    /// Log mode: producer → storage-std writer → segments in DIR (created if needed;
    /// an existing log is recovered and continued). Prints `durable S` lines.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["capacity", "batch", "corrupt_every"])]
    log: Option<std::path::PathBuf>,
    /// With --log: none (page cache, synced at rolls and exit), group (default), sync.
    #[arg(long, requires = "log", value_enum)]
    durability: Option<log::DurabilityArg>,
    /// With --log: roll segments at this size (default 64 MiB, at least 4096).
    #[arg(long, requires = "log")]
    segment_bytes: Option<u64>,
    /// With --log: the writer backend (auto = the best available).
    #[arg(long, requires = "log", value_enum)]
    backend: Option<log::BackendArg>,
    /// With --log and group durability: close a group at this many bytes (default 1 MiB,
    /// at most 256 MiB); also the torn window of the segments it writes.
    #[arg(long, requires = "log")]
    group_bytes: Option<usize>,
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

fn stress(a: &StressArgs) -> Result<report::Summary, String> {
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
        };
        return log::stress(&cfg, &Progress::new(true));
    }
    if a.mode != Mode::Spsc {
        let sizes = match (a.mode, a.payload_size, a.payload_min) {
            (Mode::Pool, None, None) => PayloadSizes {
                min: 16,
                max: 16 << 10,
            },
            _ => payload_sizes(a)?,
        };
        let cfg = fanout::FanoutStress {
            limit: limit(a)?,
            sizes,
            readers: a.readers,
            policy: a.policy,
            batch: a.batch.max(1),
            corrupt_every: a.corrupt_every,
        };
        let progress = Progress::new(true);
        return match a.mode {
            Mode::Pool => fanout::run_pool(&cfg, &progress),
            _ => fanout::run_broadcast(&cfg, &progress),
        };
    }
    let cfg = SpscStress {
        limit: limit(a)?,
        sizes: payload_sizes(a)?,
        capacity: a.capacity,
        batch: a.batch,
        corrupt_every: a.corrupt_every,
    };
    stress::run_spsc(&cfg, &Progress::new(true))
}

fn main() -> ExitCode {
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
                crate::warn!("ringctl stress: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Inspect(a) => logtools::inspect(&a),
        Command::Verify(a) => logtools::verify(&a),
        Command::Recover(a) => logtools::recover(&a),
        Command::Replay(a) => logtools::replay(&a),
    }
}
