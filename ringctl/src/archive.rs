//! `ringctl recordings ROOT [--json]`: every recording of a catalog root, one line each
//! (state, sequences, times, size), or one JSON object a line.

use std::path::PathBuf;
use std::process::ExitCode;

use storage_std::archive::{Catalog, RecordingInfo};

use crate::report::EXIT_USAGE;

/// Exit code when a recording is damaged (its manifest, its log, or its state).
const EXIT_DAMAGED: u8 = 1;

/// Arguments of `ringctl recordings`.
#[derive(Debug, clap::Args)]
pub struct RecordingsArgs {
    /// The catalog root: one directory per recording (`ROOT/<name>/manifest.json`,
    /// `ROOT/<name>/log/`).
    pub root: PathBuf,
    /// One JSON object a line (`type: "recording"`) instead of text.
    #[arg(long)]
    pub json: bool,
}

fn time(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => humantime::format_rfc3339_nanos(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
        )
        .to_string(),
        None => "-".to_owned(),
    }
}

fn seq(s: Option<u64>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

fn line(i: &RecordingInfo) -> String {
    let mut out = format!(
        "{}  {}  seq {}..{}  time {} .. {}  {} in {} segment(s)",
        i.name,
        i.state_label(),
        seq(i.first_seq),
        seq(i.last_seq),
        time(i.first_ts),
        time(i.last_ts),
        bytesize::ByteSize::b(i.bytes),
        i.segments,
    );
    if let Some(m) = &i.manifest {
        out.push_str(&format!(
            "  runs {}  started {}  ended {}",
            m.runs,
            time(Some(m.started_ns)),
            time(m.ended_ns)
        ));
    }
    if let Some(p) = &i.problem {
        out.push_str(&format!("  PROBLEM: {p}"));
    }
    out
}

/// Runs `ringctl recordings`: exit 0 when every recording is readable and none is
/// damaged, 1 when one is damaged (manifest, log or state), 2 on usage or I/O errors
/// (the root is not a directory).
pub fn recordings(a: &RecordingsArgs) -> ExitCode {
    if !a.root.is_dir() {
        crate::warn!("ringctl recordings: {}: not a directory", a.root.display());
        return ExitCode::from(EXIT_USAGE);
    }
    let list = match Catalog::open(&a.root).and_then(|c| c.list()) {
        Ok(list) => list,
        Err(e) => {
            crate::warn!("ringctl recordings: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut damaged = false;
    let mut out = String::new();
    for i in &list {
        damaged |= i.problem.is_some() || i.state_label() == "damaged";
        if a.json {
            let mut v = serde_json::to_value(i).expect("recording info serializes");
            v["type"] = "recording".into();
            v["state_label"] = i.state_label().into();
            out.push_str(&v.to_string());
        } else {
            out.push_str(&line(i));
        }
        out.push('\n');
    }
    if !a.json && list.is_empty() {
        out.push_str("no recordings\n");
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        crate::warn!("ringctl recordings: cannot write the output: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    if damaged {
        ExitCode::from(EXIT_DAMAGED)
    } else {
        ExitCode::SUCCESS
    }
}

// --------------------------------------------------------------------- verify --isolated

/// Exit code of `verify --isolated` when the child verifier did not finish: killed at
/// the time limit, out of memory, SIGBUS, another crash, or no report.
pub const EXIT_NOT_VERIFIED: u8 = 6;

/// The flags of `ringctl verify` that run the verifier in a child process.
#[derive(Debug, clap::Args)]
pub struct IsolatedArgs {
    /// Run the verifier in a child process (a copy of ringctl) with time and memory
    /// limits: SIGBUS, a crash, running out of memory or the time limit there is a
    /// finding (exit 6), never ringctl's death or hang.
    #[arg(long, conflicts_with = "store")]
    pub isolated: bool,
    /// With --isolated: kill the child after this many seconds (default 300).
    #[arg(long, value_name = "S", requires = "isolated", value_parser = parse_seconds)]
    pub time_limit: Option<std::time::Duration>,
    /// With --isolated: the child's address space limit (`512MiB`, `4G`; default 4GiB).
    #[arg(long, value_name = "BYTES", requires = "isolated", value_parser = crate::report::parse_bytes)]
    pub memory_limit: Option<u64>,
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?}: not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!("{s}: must be a positive number of seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `ringctl verify --isolated`: exit as plain `verify` when the child finished its report
/// (0 clean, 3 torn tail, 4 repairable, 1 corruption), 2 when it could not read the log
/// (or could not be started), 6 when it did not finish ([`EXIT_NOT_VERIFIED`]).
pub fn verify_isolated(a: &crate::logtools::VerifyArgs, i: &IsolatedArgs) -> ExitCode {
    if let Err(c) = crate::logtools::log_dir("verify", &a.dir, false) {
        return c;
    }
    let mut limits = storage_std::IsolationLimits::default();
    if let Some(t) = i.time_limit {
        limits.time = t;
    }
    if let Some(m) = i.memory_limit {
        limits.memory_bytes = Some(m);
    }
    let result = match storage_std::verify_isolated(&a.dir, &limits) {
        Ok(r) => r,
        Err(e) => return crate::logtools::fail("verify", EXIT_USAGE, e),
    };
    let code = match &result.outcome {
        storage_std::IsolatedOutcome::Verified { report } => report.class.exit_code() as u8,
        storage_std::IsolatedOutcome::VerifyFailed { .. } => EXIT_USAGE,
        _ => EXIT_NOT_VERIFIED,
    };
    let printed = if a.json {
        let mut v = match &result.outcome {
            storage_std::IsolatedOutcome::Verified { report } => {
                serde_json::to_value(report).expect("a report serializes")
            }
            _ => serde_json::json!({}),
        };
        let mut iso = serde_json::to_value(&result).expect("an outcome serializes");
        if let Some(m) = iso.as_object_mut() {
            m.remove("report");
        }
        v["isolated"] = iso;
        crate::logtools::json_vocabulary(&mut v, "verify");
        crate::logtools::emit(|o| writeln!(o, "{v}"))
    } else {
        crate::logtools::emit(|o| {
            if let Some(r) = result.report() {
                crate::logtools::print_verify(o, r)?;
            }
            writeln!(
                o,
                "isolated: {} ({} ms)",
                match &result.outcome {
                    storage_std::IsolatedOutcome::Verified { .. } => "verified".to_owned(),
                    other => other.to_string(),
                },
                result.elapsed_ms
            )
        })
    };
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    if code == EXIT_NOT_VERIFIED || code == EXIT_USAGE {
        crate::warn!("ringctl verify: {}", result.outcome);
    }
    ExitCode::from(code)
}
