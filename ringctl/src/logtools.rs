//! `ringctl inspect`, `verify`, `recover` and `replay`: the log subcommands that read
//! (or, for `recover`, repair) a log directory written by `ringctl stress --log` or any
//! storage-std writer.
//!
//! Exit codes: 0 success; 1 a check failed (corruption, a bad record, a log that
//! recovery refuses to cut without `--force`); 2 usage or I/O error; 3 (`verify` only)
//! nothing wrong but a torn tail, which the next open (or `recover`) cuts.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use storage_std::{Error, LogReader, OffsetStore, Start, VerifyReport, VerifyStatus};

use crate::pattern;

/// Exit code: a check failed.
const EXIT_FAILED: u8 = 1;
/// Exit code: usage or I/O error.
const EXIT_USAGE: u8 = 2;

fn fail(cmd: &str, code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("ringctl {cmd}: {msg}");
    ExitCode::from(code)
}

/// An existing directory, or exit 2 (the read-only commands must not create one).
fn existing_dir(cmd: &str, dir: &Path) -> Result<(), ExitCode> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(fail(
            cmd,
            EXIT_USAGE,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) => Err(fail(cmd, EXIT_USAGE, format!("{}: {e}", dir.display()))),
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends quietly.
fn emit(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> ExitCode {
    let mut out = io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail("output", EXIT_USAGE, e),
    }
}

/// `2024-05-01T12:00:00.123456789Z` for nanoseconds since the Unix epoch (UTC).
pub fn format_ts(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------- inspect

/// `ringctl inspect DIR`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The log directory.
    dir: PathBuf,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists the segments of a log: sequence and time ranges, sizes, sealed or active.
pub fn inspect(a: &InspectArgs) -> ExitCode {
    if let Err(c) = existing_dir("inspect", &a.dir) {
        return c;
    }
    let reader = match LogReader::open(&a.dir) {
        Ok(r) => r,
        Err(e) => return fail("inspect", EXIT_USAGE, e),
    };
    let segments = match reader.segments() {
        Ok(s) => s,
        Err(e) => return fail("inspect", EXIT_USAGE, e),
    };
    let consumers = OffsetStore::new(reader.backend().clone())
        .list()
        .unwrap_or_default();
    let records: u64 = segments.iter().map(|s| s.record_count).sum();
    let bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let first_seq = segments
        .iter()
        .find(|s| s.record_count > 0)
        .map(|s| s.base_seq);
    let last_seq = segments.iter().rev().find_map(|s| s.last_seq);
    if a.json {
        let segs: Vec<serde_json::Value> = segments
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["state"] = if s.sealed { "sealed" } else { "active" }.into();
                v
            })
            .collect();
        let v = serde_json::json!({
            "dir": a.dir.display().to_string(),
            "segments": segs,
            "records": records,
            "bytes": bytes,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "consumers": consumers,
        });
        return emit(|o| writeln!(o, "{v}"));
    }
    emit(|o| {
        writeln!(
            o,
            "{:<26} {:<6} {:>20} {:>20} {:>12} {:>14}  {:<30}  {:<30}",
            "segment", "state", "first_seq", "last_seq", "records", "bytes", "first_ts", "last_ts"
        )?;
        for s in &segments {
            let (first, last, t0, t1) = match s.last_seq {
                Some(l) if s.record_count > 0 => (
                    s.base_seq.to_string(),
                    l.to_string(),
                    format_ts(s.first_ts),
                    format_ts(s.last_ts),
                ),
                _ => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            writeln!(
                o,
                "{:<26} {:<6} {first:>20} {last:>20} {:>12} {:>14}  {t0:<30}  {t1:<30}",
                s.name,
                if s.sealed { "sealed" } else { "active" },
                s.record_count,
                s.bytes
            )?;
        }
        for c in &consumers {
            writeln!(
                o,
                "consumer {}: next_seq {} (committed {})",
                c.name,
                c.next_seq,
                format_ts(c.committed_ns)
            )?;
        }
        let range = match (first_seq, last_seq) {
            (Some(f), Some(l)) => format!("sequences {f}..={l}"),
            _ => "no records".into(),
        };
        writeln!(
            o,
            "{} segments, {records} records, {range}, {bytes} bytes",
            segments.len()
        )
    })
}

// ----------------------------------------------------------------------------- verify

/// `ringctl verify DIR`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The log directory.
    dir: PathBuf,
    /// The verifier's report as one line of JSON.
    #[arg(long)]
    json: bool,
}

fn print_verify(o: &mut dyn Write, r: &VerifyReport) -> io::Result<()> {
    let status = match r.status {
        VerifyStatus::Clean => "clean",
        VerifyStatus::TornTail => "torn tail (the next open or `ringctl recover` cuts it)",
        VerifyStatus::Corrupt => "CORRUPT",
    };
    writeln!(o, "status:   {status}")?;
    let range = match (r.first_seq, r.last_seq) {
        (Some(f), Some(l)) => format!("{f}..={l}"),
        _ => "none".into(),
    };
    writeln!(
        o,
        "segments: {} ({} sealed)",
        r.segments.len(),
        r.segments.iter().filter(|s| s.sealed).count()
    )?;
    writeln!(o, "records:  {} (sequences {range})", r.records)?;
    writeln!(o, "bytes:    {}", r.bytes)?;
    for f in &r.findings {
        let at = f.offset.map(|x| format!(" @{x}")).unwrap_or_default();
        let sev = serde_json::to_value(f.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        writeln!(o, "{sev}: {}{at}: {}", f.file, f.message)?;
    }
    Ok(())
}

/// Checks every CRC, sequence continuity, footers and indexes. Exit 0 clean, 3 only a
/// torn tail, 1 corruption, 2 usage or I/O error.
pub fn verify(a: &VerifyArgs) -> ExitCode {
    if let Err(c) = existing_dir("verify", &a.dir) {
        return c;
    }
    let report = match storage_std::verify_dir(&a.dir) {
        Ok(r) => r,
        Err(e) => return fail("verify", EXIT_USAGE, e),
    };
    let printed = if a.json {
        match serde_json::to_string(&report) {
            Ok(s) => emit(|o| writeln!(o, "{s}")),
            Err(e) => return fail("verify", EXIT_USAGE, e),
        }
    } else {
        emit(|o| print_verify(o, &report))
    };
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    ExitCode::from(report.status.exit_code() as u8)
}

// ---------------------------------------------------------------------------- recover

/// `ringctl recover DIR`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The log directory.
    dir: PathBuf,
    /// Also cut at damage that is not a torn tail (mid-log or in a sealed segment),
    /// losing the sequences after it; they are listed.
    #[arg(long)]
    force: bool,
    /// What recovery did as one line of JSON.
    #[arg(long)]
    json: bool,
}

/// Opens the log for writing (taking its lock), repairs a torn tail and reports what it
/// cut. Exit 0 repaired or nothing to do; 1 damage that needs `--force`, or files that
/// cannot be recovered (another format version); 2 usage or I/O error, or the log is
/// locked by a running writer.
pub fn recover(a: &RecoverArgs) -> ExitCode {
    if let Err(c) = existing_dir("recover", &a.dir) {
        return c;
    }
    let report = match storage_std::recover(&a.dir, a.force) {
        Ok(r) => r,
        Err(e @ Error::NeedsForce { .. }) | Err(e @ Error::Corrupt { .. }) => {
            return fail(
                "recover",
                EXIT_FAILED,
                format!("{e}\n(nothing was changed; `ringctl recover --force` cuts there)"),
            );
        }
        Err(e @ Error::UnsupportedVersion { .. }) => return fail("recover", EXIT_FAILED, e),
        Err(e) => return fail("recover", EXIT_USAGE, e),
    };
    let lost = report.lost();
    if a.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["lost"] = serde_json::to_value(lost).unwrap_or_default();
        return emit(|o| writeln!(o, "{v}"));
    }
    emit(|o| {
        for c in &report.cuts {
            let kind = match c.kind {
                storage_std::CutKind::TornTail => "torn tail",
                storage_std::CutKind::Forced => "forced",
            };
            write!(
                o,
                "cut {}: {} bytes at offset {} ({kind}: {})",
                c.file, c.bytes_cut, c.offset, c.reason
            )?;
            match c.lost {
                Some(l) => writeln!(o, "; sequences lost: {l}")?,
                None => writeln!(o)?,
            }
        }
        for f in &report.removed {
            writeln!(o, "removed {f}")?;
        }
        for f in &report.rebuilt_indexes {
            writeln!(o, "rebuilt index {f}")?;
        }
        if let Some(f) = &report.sealed_on_open {
            writeln!(o, "sealed {f}")?;
        }
        if report.cuts.is_empty() {
            writeln!(o, "nothing cut")?;
        }
        if let Some(l) = lost {
            writeln!(o, "lost sequences: {l}")?;
        }
        writeln!(
            o,
            "{} segments; the next append gets sequence {}",
            report.segments, report.next_seq
        )
    })
}

// ----------------------------------------------------------------------------- replay

/// `ringctl replay DIR`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The log directory.
    dir: PathBuf,
    /// Start at this sequence (default: the oldest record).
    #[arg(long, conflicts_with = "from_time")]
    from_seq: Option<u64>,
    /// Start at the first record whose timestamp is at or after T (ns since the Unix
    /// epoch, as `ts_ns` prints it).
    #[arg(long, value_name = "T")]
    from_time: Option<u64>,
    /// Stop after this sequence (inclusive); also ends `--follow`.
    #[arg(long, value_name = "E")]
    to_seq: Option<u64>,
    /// Keep reading as a writer appends, until interrupted or `--to-seq` is reached.
    #[arg(long)]
    follow: bool,
    /// Check every record's payload against the stress pattern of its sequence (and its
    /// length against the header's); exit 1 at the first bad one.
    #[arg(long)]
    check: bool,
    /// One JSON object per record (`seq`, `ts_ns`, `kind`, `flags`, `len`) and a JSON
    /// summary.
    #[arg(long)]
    json: bool,
    /// Print only the summary line.
    #[arg(long, short)]
    quiet: bool,
}

/// Records seen by a replay.
#[derive(Debug, Default)]
struct Replayed {
    count: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
}

fn print_replay_summary(
    o: &mut dyn Write,
    a: &ReplayArgs,
    r: &Replayed,
    error: Option<&str>,
) -> io::Result<()> {
    if a.json {
        let mut v = serde_json::json!({
            "count": r.count,
            "first_seq": r.first_seq,
            "last_seq": r.last_seq,
            "checked": a.check,
        });
        if let Some(e) = error {
            v["error"] = e.into();
        }
        writeln!(o, "{v}")
    } else {
        let s = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        writeln!(
            o,
            "count {} first_seq {} last_seq {}{}",
            r.count,
            s(r.first_seq),
            s(r.last_seq),
            if error.is_some() { " FAILED" } else { "" }
        )
    }
}

/// How a replay ended.
enum Ending {
    Done,
    /// A check failed or the log is damaged: exit 1.
    Bad(String),
    /// An I/O or usage error: exit 2.
    Error(String),
    /// Stdout was closed (`| head`): stop quietly.
    Closed,
}

fn write_error(e: io::Error) -> Ending {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ending::Closed
    } else {
        Ending::Error(format!("cannot write the output: {e}"))
    }
}

/// A segment with records that starts after `next` (records between are missing).
fn later_segment(reader: &LogReader, next: u64) -> Result<Option<String>, Error> {
    Ok(reader
        .segments()?
        .iter()
        .find(|s| s.base_seq > next && s.record_count > 0)
        .map(|s| {
            format!(
                "the log stops at sequence {next}, but {} starts at {}",
                s.name, s.base_seq
            )
        }))
}

/// Streams records in sequence order; with `--check` verifies each one.
pub fn replay(a: &ReplayArgs) -> ExitCode {
    if let Err(c) = existing_dir("replay", &a.dir) {
        return c;
    }
    let start = match (a.from_seq, a.from_time) {
        (Some(s), _) => Start::Seq(s),
        (None, Some(t)) => Start::Time(t),
        (None, None) => Start::Oldest,
    };
    let reader = match LogReader::open(&a.dir) {
        Ok(r) => r,
        Err(e) => return fail("replay", EXIT_USAGE, e),
    };
    let mut cursor = match reader.cursor(start) {
        Ok(c) => c,
        Err(e @ Error::Corrupt { .. }) => return fail("replay", EXIT_FAILED, e),
        Err(e) => return fail("replay", EXIT_USAGE, e),
    };
    cursor.set_end(a.to_seq);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut seen = Replayed::default();
    let reached_end = |next: u64| a.to_seq.is_some_and(|e| next > e);
    let mut looked_again = false;
    let ending = loop {
        let got = if a.follow {
            cursor.next_wait(Duration::from_millis(100))
        } else {
            cursor.next()
        };
        let r = match got {
            Ok(Some(r)) => r,
            Ok(None) => {
                if reached_end(cursor.next_seq()) {
                    break Ending::Done;
                }
                if !a.follow {
                    // The log must not go on past where the cursor stopped: a damaged
                    // segment end stops a cursor early, and a later segment means
                    // records were skipped. (A live writer may have rolled meanwhile:
                    // look again once before calling it damage.)
                    match later_segment(&reader, cursor.next_seq()) {
                        Ok(None) => break Ending::Done,
                        Ok(Some(_)) if !looked_again => {
                            looked_again = true;
                            continue;
                        }
                        Ok(Some(m)) => break Ending::Bad(m),
                        Err(e) => break Ending::Error(e.to_string()),
                    }
                }
                // Idle while following: show what we have.
                if let Err(e) = out.flush() {
                    break write_error(e);
                }
                continue;
            }
            Err(e @ Error::Corrupt { .. }) => break Ending::Bad(e.to_string()),
            Err(e) => break Ending::Error(e.to_string()),
        };
        let seq = r.seq();
        let h = r.header;
        if let Some(prev) = seen.last_seq
            && seq != prev.wrapping_add(1)
        {
            break Ending::Bad(format!("sequence {seq} follows {prev}"));
        }
        looked_again = false;
        seen.count += 1;
        seen.first_seq.get_or_insert(seq);
        seen.last_seq = Some(seq);
        let bad = if !a.check {
            None
        } else if r.payload.len() != h.len as usize {
            Some(format!(
                "sequence {seq}: header says {} payload bytes, {} present",
                h.len,
                r.payload.len()
            ))
        } else if !pattern::check(seq, r.payload) {
            Some(format!(
                "sequence {seq}: payload ({} bytes) does not match the stress pattern",
                h.len
            ))
        } else {
            None
        };
        if !a.quiet {
            let w = if a.json {
                writeln!(
                    out,
                    "{{\"seq\":{seq},\"ts_ns\":{},\"kind\":{},\"flags\":{},\"len\":{}}}",
                    h.timestamp_ns, h.kind, h.flags, h.len
                )
            } else {
                writeln!(
                    out,
                    "seq {seq} ts_ns {} kind {} flags {} len {}",
                    h.timestamp_ns, h.kind, h.flags, h.len
                )
            };
            if let Err(e) = w {
                break write_error(e);
            }
        }
        if let Some(b) = bad {
            break Ending::Bad(b);
        }
    };
    let (code, msg) = match &ending {
        Ending::Closed => return ExitCode::SUCCESS,
        Ending::Done => (ExitCode::SUCCESS, None),
        Ending::Bad(m) => (ExitCode::from(EXIT_FAILED), Some(m.as_str())),
        Ending::Error(m) => (ExitCode::from(EXIT_USAGE), Some(m.as_str())),
    };
    match print_replay_summary(&mut out, a, &seen, msg).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return fail("replay", EXIT_USAGE, e),
    }
    if let Some(m) = msg {
        eprintln!("ringctl replay: {m}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::format_ts;

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_ts(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            format_ts(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }
}
