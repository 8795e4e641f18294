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
