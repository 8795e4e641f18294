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

// ------------------------------------------------------------------------------- anchor

/// `ringctl anchor`: snapshot anchors of a recording.
#[derive(Debug, clap::Args)]
pub struct AnchorArgs {
    #[command(subcommand)]
    pub command: AnchorCommand,
}

/// What `ringctl anchor` does.
#[derive(Debug, clap::Subcommand)]
pub enum AnchorCommand {
    /// Store a snapshot reflecting the recording up to --seq (which must be in its log;
    /// the recording must be stopped). Exit 0 stored, 1 refused (newer than the log), 2
    /// errors (a running recording, no such recording).
    Save {
        #[command(flatten)]
        target: AnchorTarget,
        /// The last sequence the snapshot reflects (a replay resumes after it).
        #[arg(long)]
        seq: u64,
        /// The snapshot's bytes: a file, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// The latest valid anchor (newer damaged ones, or ones past the log's end, are
    /// named and skipped) and the sequence to replay from. Exit 0 found, 1 none valid.
    Latest {
        #[command(flatten)]
        target: AnchorTarget,
        /// Write the snapshot's bytes to this file (`-`: stdout, in place of the text).
        #[arg(long, value_name = "FILE", conflicts_with = "json")]
        output: Option<PathBuf>,
    },
    /// Every anchor file, checked: one line each. Exit 0 all valid, 1 one is not.
    List {
        #[command(flatten)]
        target: AnchorTarget,
    },
}

/// The recording an anchor command works on.
#[derive(Debug, clap::Args)]
pub struct AnchorTarget {
    /// The catalog root.
    pub root: PathBuf,
    /// The recording's name.
    pub name: String,
    /// One JSON object a line (`type: "anchor"`), with `version`.
    #[arg(long)]
    pub json: bool,
}

fn catalog_of(cmd: &str, root: &std::path::Path) -> Result<Catalog, ExitCode> {
    if !root.is_dir() {
        return Err(crate::logtools::fail(
            cmd,
            EXIT_USAGE,
            format!("{}: not a directory", root.display()),
        ));
    }
    Catalog::open(root).map_err(|e| crate::logtools::fail(cmd, EXIT_USAGE, e))
}

fn anchor_json(name: &str, fields: serde_json::Value) -> String {
    let mut v = fields;
    v["recording"] = name.into();
    crate::logtools::json_vocabulary(&mut v, "anchor");
    v.to_string()
}

fn print_lines(lines: &str) -> ExitCode {
    crate::logtools::emit(|o| o.write_all(lines.as_bytes()))
}

/// Runs `ringctl anchor`.
pub fn anchor(a: &AnchorArgs) -> ExitCode {
    use storage_std::archive::ArchiveError;
    const CMD: &str = "anchor";
    match &a.command {
        AnchorCommand::Save { target, seq, file } => {
            let catalog = match catalog_of(CMD, &target.root) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let snapshot = if file.as_os_str() == "-" {
                use std::io::Read;
                let mut b = Vec::new();
                std::io::stdin().lock().read_to_end(&mut b).map(|_| b)
            } else {
                std::fs::read(file)
            };
            let snapshot = match snapshot {
                Ok(s) => s,
                Err(e) => {
                    return crate::logtools::fail(
                        CMD,
                        EXIT_USAGE,
                        format!("cannot read {}: {e}", file.display()),
                    );
                }
            };
            let stored = match catalog.store_anchor(&target.name, *seq, &snapshot) {
                Ok(s) => s,
                Err(e @ ArchiveError::AnchorAhead { .. }) => {
                    return crate::logtools::fail(CMD, EXIT_DAMAGED, e);
                }
                Err(e) => return crate::logtools::fail(CMD, EXIT_USAGE, e),
            };
            print_lines(&if target.json {
                anchor_json(
                    &target.name,
                    serde_json::json!({
                        "action": "saved",
                        "seq": stored.seq,
                        "snapshot_bytes": stored.snapshot.len(),
                        "created_ns": stored.created_ns,
                        "replay_from": stored.seq + 1,
                    }),
                ) + "\n"
            } else {
                format!(
                    "saved anchor {} of {} ({} bytes): a replay resumes at {}\n",
                    stored.seq,
                    target.name,
                    stored.snapshot.len(),
                    stored.seq + 1
                )
            })
        }
        AnchorCommand::Latest { target, output } => {
            let catalog = match catalog_of(CMD, &target.root) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let (anchor, rejected, replay) = match catalog.resume_from_anchor(&target.name) {
                Ok(x) => x,
                Err(e) => return crate::logtools::fail(CMD, EXIT_USAGE, e),
            };
            let replay_from = replay.position();
            for r in &rejected {
                crate::warn!("ringctl anchor: skipped {}: {}", r.file, r.reason);
            }
            let Some(anchor) = anchor else {
                let text = if target.json {
                    anchor_json(
                        &target.name,
                        serde_json::json!({
                            "action": "latest",
                            "seq": null,
                            "replay_from": replay_from,
                            "rejected": rejected.iter().map(|r| serde_json::json!({"file": r.file, "reason": r.reason})).collect::<Vec<_>>(),
                        }),
                    ) + "\n"
                } else {
                    format!(
                        "no valid anchor for {}: replay from {replay_from}\n",
                        target.name
                    )
                };
                let printed = print_lines(&text);
                return if printed == ExitCode::SUCCESS {
                    ExitCode::from(EXIT_DAMAGED)
                } else {
                    printed
                };
            };
            if let Some(out) = output {
                if out.as_os_str() == "-" {
                    return crate::logtools::emit(|o| o.write_all(&anchor.snapshot));
                }
                if let Err(e) = std::fs::write(out, &anchor.snapshot) {
                    return crate::logtools::fail(
                        CMD,
                        EXIT_USAGE,
                        format!("cannot write {}: {e}", out.display()),
                    );
                }
            }
            print_lines(&if target.json {
                anchor_json(
                    &target.name,
                    serde_json::json!({
                        "action": "latest",
                        "seq": anchor.seq,
                        "snapshot_bytes": anchor.snapshot.len(),
                        "created_ns": anchor.created_ns,
                        "replay_from": replay_from,
                        "rejected": rejected.iter().map(|r| serde_json::json!({"file": r.file, "reason": r.reason})).collect::<Vec<_>>(),
                    }),
                ) + "\n"
            } else {
                format!(
                    "anchor {} of {} ({} bytes, stored {}): replay from {replay_from}\n",
                    anchor.seq,
                    target.name,
                    anchor.snapshot.len(),
                    time(Some(anchor.created_ns)),
                )
            })
        }
        AnchorCommand::List { target } => {
            let catalog = match catalog_of(CMD, &target.root) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let list = match catalog.anchors(&target.name) {
                Ok(l) => l,
                Err(e) => return crate::logtools::fail(CMD, EXIT_USAGE, e),
            };
            let mut out = String::new();
            for e in &list {
                if target.json {
                    let mut v = serde_json::to_value(e).expect("an entry serializes");
                    v["action"] = "list".into();
                    out.push_str(&anchor_json(&target.name, v));
                } else {
                    out.push_str(&format!(
                        "{}  seq {}  {}  {}",
                        e.file,
                        e.seq,
                        e.snapshot_bytes
                            .map_or_else(|| "-".to_owned(), |b| format!("{b} bytes")),
                        time(e.created_ns)
                    ));
                    match &e.problem {
                        Some(p) => out.push_str(&format!("  REJECTED: {p}")),
                        None => out.push_str("  ok"),
                    }
                }
                out.push('\n');
            }
            if !target.json && list.is_empty() {
                out.push_str("no anchors\n");
            }
            let printed = print_lines(&out);
            if printed != ExitCode::SUCCESS {
                return printed;
            }
            if list.iter().any(|e| e.problem.is_some()) {
                ExitCode::from(EXIT_DAMAGED)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
