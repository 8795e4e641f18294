//! `ringctl inspect`, `verify`, `recover` and `replay`: the log subcommands that read
//! (or, for `recover`, repair) a log directory written by `ringctl stress --log` or any
//! storage-std writer.
//!
//! One exit-code table for `verify`, `recover` and `replay` (and `inspect`'s errors):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | clean (`recover`: clean after it ran; `replay`: delivered everything asked for) |
//! | 1 | corruption, or a failed check (`recover`: refused without `--force`, nothing changed) |
//! | 2 | usage, I/O error, a folder that is not a log directory, or a log this build does not read |
//! | 3 | torn tail only (`replay`: stopped at the torn tail of an unrecovered log) |
//! | 4 | repairable only (derived files, an unfinished trim) |
//! | 5 | locked by a writer (retryable) |

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use storage_std::backend::FileBackend;
use storage_std::{
    Error, LogClass, LogItem, LogReader, OffsetStore, ReadEnd, RecoveryReport, Start, VerifyReport,
};

use crate::pattern;
use crate::tier::{Cold, StoreArgs};

/// Exit code: corruption or a failed check.
const EXIT_FAILED: u8 = 1;
/// Exit code: usage or I/O error, or not a log.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: a torn tail only.
const EXIT_TORN: u8 = 3;
/// Exit code: locked by a writer (retryable).
const EXIT_LOCKED: u8 = 5;

pub(crate) fn fail(cmd: &str, code: u8, msg: impl std::fmt::Display) -> ExitCode {
    crate::warn!("ringctl {cmd}: {msg}");
    ExitCode::from(code)
}

/// The exit code of an error from the log: corruption 1, locked 5, anything else 2.
fn error_code(e: &Error) -> u8 {
    match e {
        Error::Corrupt { .. } | Error::NeedsForce { .. } => EXIT_FAILED,
        Error::Locked(_) => EXIT_LOCKED,
        _ => EXIT_USAGE,
    }
}

fn class_code(c: LogClass) -> u8 {
    c.exit_code() as u8
}

/// Whether `name` is one of the files (or the directory) a log is made of: a segment,
/// an index, a consumer offset, `LOCK`, `DURABLE`, `quarantine/`, or the temporary file
/// of one of them.
fn is_log_file_name(name: &str) -> bool {
    use storage_std::format::{
        DURABLE_FILE, LOCK_FILE, QUARANTINE_DIR, TMP_SUFFIX, parse_index_name, parse_offset_name,
        parse_segment_name,
    };
    let name = name.strip_suffix(TMP_SUFFIX).unwrap_or(name);
    name == LOCK_FILE
        || name == DURABLE_FILE
        || name == QUARANTINE_DIR
        || parse_segment_name(name).is_some()
        || parse_index_name(name).is_some()
        || parse_offset_name(name).is_some()
}

/// What a directory holds, as far as telling a log from anything else goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirKind {
    /// At least one file of a log: a log (a writer's open creates `LOCK` and the first
    /// segment at once, so a fresh log with no records is one).
    Log,
    /// Nothing at all: what a crash between creating a log's directory and its first
    /// file leaves. Not a log to read (`inspect`, `verify`, `replay` refuse it); `recover`
    /// makes it an empty log, as a writer's open would.
    Empty,
    /// Files, none of them a log's (a folder of `.txt` files): not a log.
    Other,
}

fn dir_kind(dir: &Path) -> io::Result<DirKind> {
    let mut any = false;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        any = true;
        if e.file_name().to_str().is_some_and(is_log_file_name) {
            return Ok(DirKind::Log);
        }
    }
    Ok(if any { DirKind::Other } else { DirKind::Empty })
}

/// [`log_dir`] for the read commands: with `--store`, a directory whose segments are
/// all cold (only `tier/` left, or what `ringctl restore` makes) is a log too.
fn read_dir_of_log(cmd: &str, dir: &Path, store: &StoreArgs) -> Result<(), ExitCode> {
    if store.store.is_some() && crate::tier::has_tier_manifest(dir) {
        return existing_dir(cmd, dir);
    }
    log_dir(cmd, dir, false)
}

/// A reader of the log in `dir`, reading its cold tier too with `--store`.
fn open_reader(
    cmd: &str,
    dir: &Path,
    store: &StoreArgs,
) -> Result<(LogReader, Option<Cold>), ExitCode> {
    let reader = LogReader::open(dir).map_err(|e| fail(cmd, EXIT_USAGE, e))?;
    let cold = Cold::open(cmd, dir, store)?;
    Ok(match cold {
        Some(c) => (reader.with_cold(c.source()), Some(c)),
        None => (reader, None),
    })
}

/// A log directory, or exit 2: a missing path, a file, a folder without any of a log's
/// files ("not a log directory"), and, unless `empty_ok` (for `recover`), an empty one.
pub(crate) fn log_dir(cmd: &str, dir: &Path, empty_ok: bool) -> Result<(), ExitCode> {
    existing_dir(cmd, dir)?;
    let not_a_log = |why: &str| {
        fail(
            cmd,
            EXIT_USAGE,
            format!(
                "{} is not a log directory ({why}: no segment, index, LOCK or DURABLE file)",
                dir.display()
            ),
        )
    };
    match dir_kind(dir) {
        Ok(DirKind::Log) => Ok(()),
        Ok(DirKind::Empty) if empty_ok => Ok(()),
        Ok(DirKind::Empty) => Err(not_a_log("empty")),
        Ok(DirKind::Other) => Err(not_a_log("it holds other files")),
        Err(e) => Err(fail(cmd, EXIT_USAGE, format!("{}: {e}", dir.display()))),
    }
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
pub(crate) fn emit(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> ExitCode {
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

/// Makes a report's JSON speak the vocabulary every `ringctl` JSON object shares: a
/// `type` and the `version`; `records` for a record count (never `record_count`);
/// every time as an RFC 3339 string (`X_time`) beside its ns as a decimal string
/// (`X_ts_ns` for a record time `X_ts`, `X_ns` kept as a string), since doubles (jq)
/// round integers above 2^53.
pub(crate) fn json_vocabulary(v: &mut serde_json::Value, kind: &str) {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => {
                if let Some(n) = map.remove("record_count") {
                    map.insert("records".into(), n);
                }
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let Some(ns) = map.get(&k).and_then(serde_json::Value::as_u64) else {
                        if let Some(x) = map.get_mut(&k) {
                            walk(x);
                        }
                        continue;
                    };
                    let (stem, ns_key) = if let Some(stem) = k.strip_suffix("_ts") {
                        (stem.to_owned(), format!("{stem}_ts_ns"))
                    } else if let Some(stem) = k.strip_suffix("_ns") {
                        (stem.to_owned(), k.clone())
                    } else {
                        continue;
                    };
                    map.remove(&k);
                    map.insert(format!("{stem}_time"), format_ts(ns).into());
                    map.insert(ns_key, ns.to_string().into());
                }
            }
            _ => {}
        }
    }
    walk(v);
    if let Some(map) = v.as_object_mut() {
        map.insert("type".into(), kind.into());
        map.insert("version".into(), crate::report::VERSION.into());
    }
}

// ---------------------------------------------------------------------------- inspect

/// `ringctl inspect DIR`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The log directory.
    dir: PathBuf,
    /// One JSON object instead of a table (`"type":"inspect"`, with `version`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Lists the segments of a log: sequence and time ranges, sizes, sealed or active; with
/// `--store` the cold ones too, with their tier, compressed size and ratio.
pub fn inspect(a: &InspectArgs) -> ExitCode {
    if let Err(c) = read_dir_of_log("inspect", &a.dir, &a.store) {
        return c;
    }
    let (reader, _cold) = match open_reader("inspect", &a.dir, &a.store) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let segments = match reader.segments() {
        Ok(s) => s,
        Err(e) => return fail("inspect", error_code(&e), e),
    };
    let cold: std::collections::HashMap<u64, storage_std::ColdSegment> =
        match reader.cold_segments() {
            Ok(c) => c.into_iter().map(|c| (c.base_seq, c)).collect(),
            Err(e) => return fail("inspect", error_code(&e), e),
        };
    // (tier, stored bytes, ratio) of a segment.
    let tier_of = |s: &storage_std::SegmentInfo| match cold.get(&s.base_seq) {
        Some(c) => (
            "cold",
            c.stored_bytes,
            s.bytes as f64 / c.stored_bytes.max(1) as f64,
        ),
        None => ("local", s.bytes, 1.0),
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
                let (tier, stored, ratio) = tier_of(s);
                v["tier"] = tier.into();
                v["stored_bytes"] = stored.into();
                v["ratio"] = ((ratio * 1000.0).round() / 1000.0).into();
                if let Some(c) = cold.get(&s.base_seq) {
                    v["codec"] = c.codec.clone().into();
                    v["location"] = c.location.clone().into();
                }
                v
            })
            .collect();
        let v = serde_json::json!({
            "dir": a.dir.display().to_string(),
            "segments": segs,
            "cold_segments": cold.len(),
            "records": records,
            "bytes": bytes,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "consumers": consumers,
        });
        let mut v = v;
        json_vocabulary(&mut v, "inspect");
        return emit(|o| writeln!(o, "{v}"));
    }
    emit(|o| {
        let tiers = a.store.store.is_some();
        write!(
            o,
            "{:<26} {:<6} {:>20} {:>20} {:>12} {:>14}  {:<30}  {:<30}",
            "segment", "state", "first_seq", "last_seq", "records", "bytes", "first_ts", "last_ts"
        )?;
        if tiers {
            write!(o, "  {:<5} {:>14} {:>7}", "tier", "stored", "ratio")?;
        }
        writeln!(o)?;
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
            write!(
                o,
                "{:<26} {:<6} {first:>20} {last:>20} {:>12} {:>14}  {t0:<30}  {t1:<30}",
                s.name,
                if s.sealed { "sealed" } else { "active" },
                s.record_count,
                crate::report::human_bytes(s.bytes)
            )?;
            if tiers {
                let (tier, stored, ratio) = tier_of(s);
                write!(
                    o,
                    "  {tier:<5} {:>14} {ratio:>6.2}x",
                    crate::report::human_bytes(stored)
                )?;
            }
            writeln!(o)?;
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
            "{} segments, {records} records, {range}, {} ({bytes} bytes)",
            segments.len(),
            crate::report::human_bytes(bytes)
        )
    })
}

// ----------------------------------------------------------------------------- verify

/// `ringctl verify DIR`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The log directory.
    pub(crate) dir: PathBuf,
    /// The verifier's report as one line of JSON (`"type":"verify"`, with `version`).
    #[arg(long)]
    pub(crate) json: bool,
    /// Check the digest chain against a digest kept outside the log: `HEX` (64 hex
    /// digits, the digest at the log's last record) or `HEX@SEQ` (the digest at
    /// sequence SEQ, as `WriterStats::chain` published it). A mismatch exits 1. The one
    /// check that catches someone who rewrote segments and manifest consistently.
    #[arg(long, value_name = "HEX[@SEQ]")]
    pub(crate) expect_digest: Option<storage_std::ExpectDigest>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

pub(crate) fn print_verify(o: &mut dyn Write, r: &VerifyReport) -> io::Result<()> {
    let status = match r.class {
        LogClass::Clean => "clean".to_owned(),
        LogClass::TornTail => "torn tail (the next open or `ringctl recover` cuts it)".into(),
        LogClass::Repairable => "repairable (the next open or `ringctl recover` repairs it)".into(),
        LogClass::Corruption => "CORRUPT (`ringctl recover --force` takes it out)".into(),
        other => format!("{other:?} (a class this ringctl does not know)"),
    };
    let live = match r.live {
        Some(l) => match l.durable_seq {
            Some(s) => format!(" (live, checked to {s})"),
            None => " (live, the writer published no durable point yet)".to_owned(),
        },
        None => String::new(),
    };
    writeln!(o, "status:   {status}{live}")?;
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
    let lost: u64 = r.segments.iter().map(|s| s.lost).sum();
    let lost = if lost > 0 {
        format!(", {lost} recorded as lost")
    } else {
        String::new()
    };
    writeln!(o, "records:  {} (sequences {range}{lost})", r.records)?;
    writeln!(
        o,
        "bytes:    {} ({} bytes)",
        crate::report::human_bytes(r.bytes),
        r.bytes
    )?;
    let c = &r.chain;
    if c.chained_segments > 0 || c.digest.is_some() {
        let at = match (&c.digest, c.seq) {
            (Some(d), Some(q)) => format!("digest {d} at {q}"),
            _ => "no digest".to_owned(),
        };
        let expected = match c.expected_matched {
            Some(true) => ", expected digest matches",
            Some(false) => ", expected digest DOES NOT match",
            None => "",
        };
        writeln!(
            o,
            "chain:    {at} ({} chained segments{expected})",
            c.chained_segments
        )?;
    }
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

/// Checks every CRC, sequence continuity, footers and indexes. Exits with the class it
/// finds: 0 clean, 3 only a torn tail, 4 only repairable, 1 corruption; 2 usage or I/O
/// error. On a live log it checks up to the writer's durable point.
pub fn verify(a: &VerifyArgs) -> ExitCode {
    if let Err(c) = read_dir_of_log("verify", &a.dir, &a.store) {
        return c;
    }
    let opts = storage_std::VerifyOptions::default().with_expect(a.expect_digest);
    let report = match storage_std::verify_dir_with(&a.dir, &opts) {
        Ok(r) => r,
        Err(e) => return fail("verify", EXIT_USAGE, e),
    };
    let cold = match open_reader("verify", &a.dir, &a.store) {
        Ok((reader, Some(c))) => Some(verify_cold(&reader, &c)),
        Ok((_, None)) => None,
        Err(c) => return c,
    };
    let class = match &cold {
        Some(c) if !c.findings.is_empty() => LogClass::Corruption,
        _ => report.class,
    };
    let printed = if a.json {
        match serde_json::to_value(&report) {
            Ok(mut v) => {
                if let Some(c) = &cold {
                    v["cold"] = serde_json::to_value(c).unwrap_or_default();
                    v["class"] = serde_json::to_value(class).unwrap_or_default();
                }
                json_vocabulary(&mut v, "verify");
                emit(|o| writeln!(o, "{v}"))
            }
            Err(e) => return fail("verify", EXIT_USAGE, e),
        }
    } else {
        emit(|o| {
            print_verify(o, &report)?;
            if let Some(c) = &cold {
                writeln!(
                    o,
                    "cold:     {} segments, {} records, {} stored in {}{}",
                    c.segments,
                    c.records,
                    crate::report::human_bytes(c.stored_bytes),
                    c.store,
                    if c.findings.is_empty() {
                        ", all clean"
                    } else {
                        ""
                    }
                )?;
                for f in &c.findings {
                    writeln!(o, "corruption: {f}")?;
                }
            }
            Ok(())
        })
    };
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    ExitCode::from(class_code(class))
}

/// What `verify --store` found in the cold tier.
#[derive(Debug, serde::Serialize)]
struct ColdCheck {
    store: String,
    segments: usize,
    records: u64,
    stored_bytes: u64,
    findings: Vec<String>,
}

/// Downloads and checks every cold segment, and that the cold tier and the local
/// segments make one contiguous log.
fn verify_cold(reader: &LogReader, cold: &Cold) -> ColdCheck {
    let mut findings: Vec<String> = cold
        .verify()
        .into_iter()
        .map(|(b, e)| format!("cold segment {b}: {e}"))
        .collect();
    let segs = reader.cold_segments().unwrap_or_default();
    match reader.segments() {
        Ok(all) => {
            let mut next: Option<u64> = None;
            for s in &all {
                if let Some(n) = next
                    && s.base_seq != n
                {
                    findings.push(format!(
                        "segment {} starts at {}, sequence {n} expected: records are missing between the tiers",
                        s.name, s.base_seq
                    ));
                }
                next = Some(s.last_seq.map_or(s.base_seq, |l| l + 1));
            }
        }
        Err(e) => findings.push(e.to_string()),
    }
    ColdCheck {
        store: cold.url.clone(),
        segments: segs.len(),
        records: segs.iter().map(|s| s.record_count).sum(),
        stored_bytes: segs.iter().map(|s| s.stored_bytes).sum(),
        findings,
    }
}

// ---------------------------------------------------------------------------- recover

/// `ringctl recover DIR`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The log directory.
    dir: PathBuf,
    /// Also take out damage that is not a torn tail: damaged segments are rebuilt
    /// around it (their good records kept, the damaged ones recorded as lost), stray
    /// files leave the log; nothing is deleted: everything taken out is kept in
    /// DIR/quarantine/ with a report (`ringctl replay DIR --quarantine` reads it).
    #[arg(long)]
    force: bool,
    /// What recovery did as one line of JSON (`"type":"recover"`, with `version`).
    #[arg(long)]
    json: bool,
}

/// Takes the log's lock, checks every record, and does what a writer's open would: cuts
/// a torn tail, repairs derived files, and with `--force` takes corruption out of the
/// log (lost ranges recorded, files kept in `quarantine/`). Its report names the class
/// it found (`found`, as `verify` would) and what it did. Exit 0 when the log is clean
/// after it ran; 1 corruption found and refused without `--force` (nothing changed); 5
/// locked by a running writer; 2 usage or I/O error, or not a log this build reads.
pub fn recover(a: &RecoverArgs) -> ExitCode {
    if let Err(c) = log_dir("recover", &a.dir, true) {
        return c;
    }
    let report = match storage_std::recover(&a.dir, a.force) {
        Ok(r) => r,
        Err(e) => {
            let code = error_code(&e);
            let found = (code == EXIT_FAILED).then_some(LogClass::Corruption);
            if a.json {
                let v = serde_json::json!({
                    "found": found,
                    "refused": code == EXIT_FAILED,
                    "locked": code == EXIT_LOCKED,
                    "error": e.to_string(),
                });
                let mut v = v;
                json_vocabulary(&mut v, "recover");
                let _ = emit(|o| writeln!(o, "{v}"));
            }
            let hint = match code {
                EXIT_FAILED => {
                    "\n(found: corruption; nothing was changed; `ringctl recover --force` takes the damage out of the log, keeping it in quarantine/)"
                }
                EXIT_LOCKED => "\n(a writer holds the log: try again once it has stopped)",
                _ => "",
            };
            return fail("recover", code, format!("{e}{hint}"));
        }
    };
    let printed = if a.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["lost"] = serde_json::to_value(report.lost()).unwrap_or_default();
        v["changed"] = report.changed_anything().into();
        json_vocabulary(&mut v, "recover");
        emit(|o| writeln!(o, "{v}"))
    } else {
        emit(|o| print_recovery(o, &report))
    };
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    ExitCode::SUCCESS
}

fn print_recovery(o: &mut dyn Write, report: &RecoveryReport) -> io::Result<()> {
    writeln!(o, "found: {}", report.found.name())?;
    for c in &report.cuts {
        let kind = match c.kind {
            storage_std::CutKind::TornTail => "torn tail",
            storage_std::CutKind::Forced => "forced",
            _ => "other",
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
    for f in &report.rebuilt_segments {
        writeln!(o, "rebuilt {f} around its damage")?;
    }
    for h in &report.holes {
        writeln!(o, "recorded as lost: {}..={}", h.from, h.to)?;
    }
    for f in &report.quarantined {
        writeln!(o, "kept in quarantine/: {f}")?;
    }
    for f in &report.removed {
        writeln!(o, "removed {f}")?;
    }
    for f in &report.trimmed {
        writeln!(o, "trimmed the bytes after the footer of {f}")?;
    }
    for f in &report.rebuilt_indexes {
        writeln!(o, "rebuilt index {f}")?;
    }
    if !report.changed_anything() {
        writeln!(o, "nothing to do")?;
    }
    if report.cuts.is_empty() {
        writeln!(o, "nothing cut")?;
    }
    if let Some(l) = report.lost() {
        writeln!(o, "lost sequences: {l}")?;
    }
    writeln!(
        o,
        "{} segments; the next append gets sequence {}",
        report.segments, report.next_seq
    )
}

// ----------------------------------------------------------------------------- replay

/// `ringctl replay DIR`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The log directory.
    pub(crate) dir: PathBuf,
    /// Start at this sequence (default: the oldest record).
    #[arg(long, conflicts_with = "from_time")]
    pub(crate) from_seq: Option<u64>,
    /// Start at the first record whose timestamp is at or after T: an RFC 3339 UTC time
    /// as `inspect` prints it (`2024-05-01T12:00:00.5Z`) or ns since the Unix epoch (as
    /// `ts_ns` prints it).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) from_time: Option<u64>,
    /// Stop after this sequence (inclusive); also ends `--follow`.
    #[arg(long, value_name = "E")]
    pub(crate) to_seq: Option<u64>,
    /// Stop at the first record whose timestamp is after T (RFC 3339 or ns, as
    /// --from-time); also ends `--follow`.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) to_time: Option<u64>,
    /// Keep reading as a writer appends, until Ctrl-C / SIGTERM (which end it with the
    /// summary) or `--to-seq` / `--to-time` is reached.
    #[arg(long, conflicts_with = "quarantine")]
    pub(crate) follow: bool,
    /// Check every record's payload against the stress pattern of its sequence (and its
    /// length against the header's); exit 1 at the first bad one.
    #[arg(long)]
    pub(crate) check: bool,
    /// Print each record's payload too: hex, base64, or utf8 (invalid bytes as U+FFFD;
    /// quoted and escaped in text mode so a record stays one line).
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub(crate) payload: Option<PayloadEncoding>,
    /// JSON only, one object a line, each with a `type`: `record` (`seq`, `time` as RFC
    /// 3339, `ts_ns` as a decimal string, `kind`, `flags`, `len`, and `payload` with
    /// --payload), `lost` (`from`, `to`: a range recorded as lost), `quarantined` (with
    /// --quarantine), and the `summary` last (`records`, `version`, ...).
    #[arg(long)]
    pub(crate) json: bool,
    /// Print only the summary line.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Read what `recover --force` put in DIR/quarantine/ instead of the log: every
    /// record still whole in each file kept there, in file order (same output), after a
    /// line per file naming where it came from, why, and what the log lost with it.
    #[arg(long, conflicts_with_all = ["from_seq", "from_time", "to_seq", "to_time"])]
    pub(crate) quarantine: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// `--payload`: how payloads are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadEncoding {
    /// Lower-case hex, two digits a byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// The bytes as UTF-8 text; invalid sequences become U+FFFD.
    Utf8,
}

impl PayloadEncoding {
    fn encode(self, payload: &[u8]) -> String {
        use base64::Engine as _;
        match self {
            Self::Hex => hex::encode(payload),
            Self::Base64 => base64::engine::general_purpose::STANDARD.encode(payload),
            Self::Utf8 => String::from_utf8_lossy(payload).into_owned(),
        }
    }
}

/// A time on the command line: ns since the Unix epoch, or an RFC 3339 UTC time.
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(ns) = s.parse::<u64>() {
        return Ok(ns);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("{s:?}: not a time ({e}); give ns since the Unix epoch or RFC 3339 UTC, e.g. 2024-05-01T12:00:00.5Z")
    })?;
    let ns = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{s}: before the Unix epoch"))?
        .as_nanos();
    u64::try_from(ns).map_err(|_| format!("{s}: past the year 2554"))
}

/// Set by the Ctrl-C / SIGTERM handler of `replay --follow`.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Records seen by a replay.
#[derive(Debug, Default)]
struct Replayed {
    count: u64,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    /// Sequences recorded as lost that the replay passed.
    lost: u64,
}

fn print_replay_summary(
    o: &mut dyn Write,
    a: &ReplayArgs,
    r: &Replayed,
    end: &str,
    error: Option<&str>,
) -> io::Result<()> {
    if a.json {
        let mut v = serde_json::json!({
            "type": "summary",
            "version": crate::report::VERSION,
            "records": r.count,
            "first_seq": r.first_seq,
            "last_seq": r.last_seq,
            "lost": r.lost,
            "checked": a.check,
            "end": end,
        });
        if let Some(e) = error {
            v["error"] = e.into();
        }
        writeln!(o, "{v}")
    } else {
        let s = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        let lost = if r.lost > 0 {
            format!(" lost {}", r.lost)
        } else {
            String::new()
        };
        let end = match end {
            "torn_tail" => " (ends in a torn tail)",
            "live" => " (live: up to the writer's durable point)",
            "interrupted" => " (interrupted)",
            _ => "",
        };
        writeln!(
            o,
            "records {} first_seq {} last_seq {}{lost}{end}{}",
            r.count,
            s(r.first_seq),
            s(r.last_seq),
            if error.is_some() { " FAILED" } else { "" }
        )
    }
}

/// How a replay ended.
enum Ending {
    /// Everything asked for was delivered (`what`: the end, or a live writer's durable
    /// point).
    Done(&'static str),
    /// Stopped at the torn tail of an unrecovered log: exit 3.
    Torn,
    /// A check failed or the log is damaged: exit 1.
    Bad(String),
    /// An error: its exit code (2, or 5 locked).
    Error(u8, String),
    /// Stdout was closed (`| head`): stop quietly.
    Closed,
}

fn write_error(e: io::Error) -> Ending {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ending::Closed
    } else {
        Ending::Error(EXIT_USAGE, format!("cannot write the output: {e}"))
    }
}

/// What `--check` says about a record.
pub(crate) fn check_record(
    a: &ReplayArgs,
    seq: u64,
    r: &storage_std::format::RecordRef<'_>,
) -> Option<String> {
    if !a.check {
        None
    } else if r.payload.len() != r.header.len as usize {
        Some(format!(
            "sequence {seq}: header says {} payload bytes, {} present",
            r.header.len,
            r.payload.len()
        ))
    } else if !pattern::check(seq, r.payload) {
        Some(format!(
            "sequence {seq}: payload ({} bytes) does not match the stress pattern",
            r.header.len
        ))
    } else {
        None
    }
}

pub(crate) fn print_record(
    out: &mut dyn Write,
    a: &ReplayArgs,
    h: &ringcore::frame::FrameHeader,
    payload: &[u8],
) -> io::Result<()> {
    if a.quiet {
        return Ok(());
    }
    let encoded = a.payload.map(|p| p.encode(payload));
    if a.json {
        let mut v = serde_json::json!({
            "type": "record",
            "seq": h.seq,
            "time": format_ts(h.timestamp_ns),
            "ts_ns": h.timestamp_ns.to_string(),
            "kind": h.kind,
            "flags": h.flags,
            "len": h.len,
        });
        if let Some(p) = encoded {
            v["payload"] = p.into();
        }
        writeln!(out, "{v}")
    } else {
        write!(
            out,
            "seq {} ts_ns {} kind {} flags {} len {}",
            h.seq, h.timestamp_ns, h.kind, h.flags, h.len
        )?;
        match (encoded, a.payload) {
            (Some(p), Some(PayloadEncoding::Utf8)) => writeln!(out, " payload {p:?}"),
            (Some(p), _) => writeln!(out, " payload {p}"),
            (None, _) => writeln!(out),
        }
    }
}

pub(crate) fn print_lost(
    out: &mut dyn Write,
    a: &ReplayArgs,
    from: u64,
    to: u64,
) -> io::Result<()> {
    if a.quiet {
        return Ok(());
    }
    if a.json {
        writeln!(out, "{{\"type\":\"lost\",\"from\":{from},\"to\":{to}}}")
    } else {
        writeln!(out, "lost {from}..={to}")
    }
}

/// Streams records in sequence order; with `--check` verifies each one. Exit 0 having
/// delivered everything asked for; 3 stopped at the torn tail of an unrecovered log
/// (after delivering everything before it); 1 corruption in what it read or a failed
/// check; 2 errors. Lost ranges recorded by `recover --force` are printed and counted,
/// and the replay goes on after them. `--follow` ends at `--to-seq` / `--to-time`, or on
/// Ctrl-C / SIGTERM / SIGHUP, with the summary (`end` "interrupted", exit 0).
pub fn replay(a: &ReplayArgs) -> ExitCode {
    if let (Some(f), Some(t)) = (a.from_seq, a.to_seq)
        && f > t
    {
        return fail(
            "replay",
            EXIT_USAGE,
            format!("--from-seq {f} is after --to-seq {t}: an empty range"),
        );
    }
    if let (Some(f), Some(t)) = (a.from_time, a.to_time)
        && f > t
    {
        return fail(
            "replay",
            EXIT_USAGE,
            format!(
                "--from-time {} is after --to-time {}: an empty range",
                format_ts(f),
                format_ts(t)
            ),
        );
    }
    if let Err(c) = read_dir_of_log("replay", &a.dir, &a.store) {
        return c;
    }
    if a.follow
        && let Err(e) = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed))
    {
        return fail(
            "replay",
            EXIT_USAGE,
            format!("cannot catch Ctrl-C for --follow: {e}"),
        );
    }
    if a.quarantine {
        return replay_quarantine(a);
    }
    let start = match (a.from_seq, a.from_time) {
        (Some(s), _) => Start::Seq(s),
        (None, Some(t)) => Start::Time(t),
        (None, None) => Start::Oldest,
    };
    let (reader, _cold) = match open_reader("replay", &a.dir, &a.store) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let mut cursor = match reader.cursor(start) {
        Ok(c) => c,
        Err(e) => return fail("replay", error_code(&e), e),
    };
    cursor.set_end(a.to_seq);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut seen = Replayed::default();
    let ending = loop {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break Ending::Done("interrupted");
        }
        let got = if a.follow {
            cursor.next_item_wait(Duration::from_millis(100))
        } else {
            cursor.next_item()
        };
        let item = match got {
            Ok(Some(i)) => i,
            Ok(None) => {
                if a.to_seq.is_some_and(|e| cursor.next_seq() > e) {
                    break Ending::Done("end");
                }
                if !a.follow {
                    break match cursor.read_end() {
                        ReadEnd::TornTail => Ending::Torn,
                        ReadEnd::NotYetWritten => Ending::Done("live"),
                        _ => Ending::Done("end"),
                    };
                }
                // Idle while following: show what we have.
                if let Err(e) = out.flush() {
                    break write_error(e);
                }
                continue;
            }
            Err(e) => {
                let code = error_code(&e);
                break if code == EXIT_FAILED {
                    Ending::Bad(e.to_string())
                } else {
                    Ending::Error(code, e.to_string())
                };
            }
        };
        match item {
            LogItem::Lost(l) => {
                seen.lost += l.to - l.from + 1;
                if let Err(e) = print_lost(&mut out, a, l.from, l.to) {
                    break write_error(e);
                }
            }
            LogItem::Record(r) => {
                if a.to_time.is_some_and(|t| r.header.timestamp_ns > t) {
                    break Ending::Done("end");
                }
                let seq = r.seq();
                seen.count += 1;
                seen.first_seq.get_or_insert(seq);
                seen.last_seq = Some(seq);
                let bad = check_record(a, seq, &r);
                if let Err(e) = print_record(&mut out, a, &r.header, r.payload) {
                    break write_error(e);
                }
                if let Some(b) = bad {
                    break Ending::Bad(b);
                }
            }
        }
    };
    finish_replay(a, &mut out, &seen, &ending)
}

/// Prints the summary and turns the ending into the exit code.
fn finish_replay(
    a: &ReplayArgs,
    out: &mut dyn Write,
    seen: &Replayed,
    ending: &Ending,
) -> ExitCode {
    let (code, end, msg) = match ending {
        Ending::Closed => return ExitCode::SUCCESS,
        Ending::Done(what) => (0, *what, None),
        Ending::Torn => (
            EXIT_TORN,
            "torn_tail",
            Some(
                "the log ends in a torn tail (not recovered since a crash): everything before it was delivered; `ringctl recover` cuts it",
            ),
        ),
        Ending::Bad(m) => (EXIT_FAILED, "failed", Some(m.as_str())),
        Ending::Error(c, m) => (*c, "error", Some(m.as_str())),
    };
    let failed = matches!(ending, Ending::Bad(_) | Ending::Error(..));
    match print_replay_summary(out, a, seen, end, msg.filter(|_| failed)).and_then(|()| out.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => return fail("replay", EXIT_USAGE, e),
    }
    if let Some(m) = msg {
        crate::warn!("ringctl replay: {m}");
    }
    ExitCode::from(code)
}

/// `replay --quarantine`: every record still whole in the files `recover --force` kept.
fn replay_quarantine(a: &ReplayArgs) -> ExitCode {
    let backend = match FileBackend::existing(&a.dir) {
        Ok(b) => b,
        Err(e) => return fail("replay", EXIT_USAGE, e),
    };
    let (entries, files) = match storage_std::quarantine::contents(&backend) {
        Ok(x) => x,
        Err(e) => return fail("replay", EXIT_USAGE, e),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut seen = Replayed::default();
    let mut ending = Ending::Done("end");
    'files: for f in &files {
        let entry = entries.iter().find(|e| &e.quarantined_as == f);
        if !a.quiet {
            let w = if a.json {
                let v = serde_json::json!({
                    "type": "quarantined",
                    "quarantined": f,
                    "from": entry.map(|e| e.file.clone()),
                    "reason": entry.map(|e| e.reason.clone()),
                    "damaged": entry.map(|e| e.damaged.clone()),
                    "lost": entry.map(|e| e.lost.clone()),
                });
                writeln!(out, "{v}")
            } else {
                writeln!(
                    out,
                    "quarantined {f}{}",
                    entry
                        .map(|e| format!(" (from {}: {})", e.file, e.reason))
                        .unwrap_or_default()
                )
            };
            if let Err(e) = w {
                ending = write_error(e);
                break;
            }
        }
        let name = storage_std::quarantine::path_of(f);
        let mut stop: Option<Ending> = None;
        let r = storage_std::quarantine::read_records(&backend, &name, |r| {
            let seq = r.seq();
            seen.count += 1;
            seen.first_seq.get_or_insert(seq);
            seen.last_seq = Some(seq);
            let bad = check_record(a, seq, &r);
            if let Err(e) = print_record(&mut out, a, &r.header, r.payload) {
                stop = Some(write_error(e));
                return false;
            }
            if let Some(b) = bad {
                stop = Some(Ending::Bad(b));
                return false;
            }
            true
        });
        if let Some(s) = stop {
            ending = s;
            break 'files;
        }
        if let Err(e) = r {
            ending = Ending::Error(EXIT_USAGE, e.to_string());
            break;
        }
    }
    finish_replay(a, &mut out, &seen, &ending)
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
