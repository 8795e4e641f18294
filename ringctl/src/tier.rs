//! The cold tier on the command line: `ringctl tier` (move sealed segments to an object
//! store), `ringctl restore` (rebuild a log directory from the bucket alone), and the
//! `--store URL` of `inspect`, `verify` and `replay` (read cold segments transparently).
//!
//! Everything that needs `object_store` is behind the default-on cargo feature `tier`:
//! a build without it (`--no-default-features`) has no `tier`/`restore` subcommands and
//! refuses `--store` with exit 2.
//!
//! Exit codes follow the CLI's table: 0 done, 1 corruption or a conflict (a damaged
//! object, a foreign bucket), 2 usage, I/O or an unreachable store, 5 locked (another
//! `ringctl tier` runs on the directory).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use storage_std::ColdSegmentSource;

use crate::logtools::fail;

/// `--store URL [--endpoint URL]` of the read commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Also read the log's cold tier from this object store (`file:///path` or
    /// `s3://bucket[/prefix]`; credentials and region from the `AWS_*` variables), as
    /// DIR/tier/manifest names it; cold frames are cached in DIR/tier/cache.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The S3-compatible server (default: `AWS_ENDPOINT_URL`); plain `http://` only on
    /// loopback.
    #[arg(long, value_name = "URL", requires = "store")]
    pub endpoint: Option<String>,
}

/// The cold tier a read command was asked to read, opened.
#[derive(Debug, Clone)]
pub struct Cold {
    #[cfg(feature = "tier")]
    reader: storage_tier::ColdReader,
    /// The store's URL, for messages.
    pub url: String,
}

impl Cold {
    /// The cold tier of `dir` in the store `a` names; `None` without `--store`.
    pub fn open(cmd: &str, dir: &Path, a: &StoreArgs) -> Result<Option<Self>, ExitCode> {
        let Some(url) = &a.store else {
            return Ok(None);
        };
        #[cfg(feature = "tier")]
        {
            let store = store_config(cmd, url, a.endpoint.as_deref())?;
            match storage_tier::ColdReader::open(dir, &store, None) {
                Ok(reader) => Ok(Some(Self {
                    reader,
                    url: store.url(),
                })),
                Err(e) => Err(fail(cmd, e.exit_code() as u8, chain(&e))),
            }
        }
        #[cfg(not(feature = "tier"))]
        {
            let _ = dir;
            Err(fail(
                cmd,
                crate::logtools::EXIT_USAGE,
                format!("--store {url}: this ringctl was built without the `tier` feature"),
            ))
        }
    }

    /// The source a `LogReader` reads cold segments from.
    pub fn source(&self) -> Arc<dyn ColdSegmentSource> {
        #[cfg(feature = "tier")]
        {
            Arc::new(self.reader.clone())
        }
        #[cfg(not(feature = "tier"))]
        unreachable!("no cold tier is opened without the tier feature")
    }

    /// Downloads and checks every cold segment whole (object checksum, every frame and
    /// record); the damaged ones with why.
    pub fn verify(&self) -> Vec<(u64, String)> {
        #[cfg(feature = "tier")]
        {
            self.reader
                .verify_all()
                .into_iter()
                .map(|(b, e)| (b, chain(&e)))
                .collect()
        }
        #[cfg(not(feature = "tier"))]
        unreachable!("no cold tier is opened without the tier feature")
    }
}

/// Whether `dir` holds a tier manifest (a log whose segments may all be cold).
pub fn has_tier_manifest(dir: &Path) -> bool {
    dir.join("tier").join("manifest").is_file()
}

#[cfg(feature = "tier")]
pub use enabled::*;

#[cfg(feature = "tier")]
mod enabled {
    use std::io::IsTerminal;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use storage_tier::{
        Codec, ColdRetention, ColdRetentionReport, RestoreOptions, StoreConfig, TierConfig,
        TierError, TierEvent, TierPolicy, TierReport, Tierer,
    };

    use crate::logtools::{EXIT_USAGE, emit, fail, json_vocabulary};
    use crate::report::human_bytes;

    /// An error with its causes, one line.
    pub(super) fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(x) = src {
            s.push_str(": ");
            s.push_str(&x.to_string());
            src = x.source();
        }
        s
    }

    /// The store `url` names, at `endpoint` if given.
    pub(super) fn store_config(
        cmd: &str,
        url: &str,
        endpoint: Option<&str>,
    ) -> Result<StoreConfig, ExitCode> {
        let mut s = StoreConfig::parse(url).map_err(|e| fail(cmd, EXIT_USAGE, chain(&e)))?;
        if let Some(ep) = endpoint {
            s = s.endpoint(ep);
        }
        Ok(s)
    }

    /// `--codec`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
    pub enum CodecArg {
        /// zstd (level with --level, default 3).
        Zstd,
        /// lz4 (faster, larger).
        Lz4,
    }

    /// `ringctl tier DIR --store URL`.
    #[derive(Debug, clap::Args)]
    pub struct TierArgs {
        /// The log directory.
        dir: PathBuf,
        /// Where cold segments go: `file:///path` or `s3://bucket[/prefix]` (credentials
        /// and region from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`).
        #[arg(long, value_name = "URL")]
        store: String,
        /// The S3-compatible server (default: `AWS_ENDPOINT_URL`); plain `http://` only
        /// on loopback.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Keep this many sealed segments locally, move the older ones (0 moves every
        /// sealed segment; default 2 when no other policy is given).
        #[arg(long, value_name = "K")]
        keep_local_segments: Option<usize>,
        /// Move while the local segment files take more than this (`1GiB`).
        #[arg(long, value_name = "BYTES", value_parser = crate::report::parse_bytes)]
        max_local_bytes: Option<u64>,
        /// Move segments sealed longer ago than this (`1h`, `30m`).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        min_age: Option<Duration>,
        /// Also move the directory's last segment when it is sealed (a closed log moved
        /// whole; the directory keeps an empty active segment so a writer reopened on it
        /// continues the sequence).
        #[arg(long)]
        move_last_sealed: bool,
        /// Seal the active segment first (the log must be closed: a writer holding it
        /// exits 5), then move it too, as --move-last-sealed: the whole log goes to the
        /// store, and the directory keeps an empty active segment so a writer reopened on
        /// it continues the sequence.
        #[arg(long, conflicts_with = "watch")]
        seal_active: bool,
        /// Compression of the frames.
        #[arg(long, value_enum, default_value = "zstd")]
        codec: CodecArg,
        /// zstd level (1 to 19).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
        level: i32,
        /// One pass, then exit (the default).
        #[arg(long, conflicts_with = "watch")]
        once: bool,
        /// Pass after pass, every --interval, until Ctrl-C / SIGTERM; an unreachable store
        /// is reported and retried at the next pass.
        #[arg(long)]
        watch: bool,
        /// Seconds between --watch passes.
        #[arg(long, default_value_t = 10.0, requires = "watch")]
        interval: f64,
        /// Cold retention after each pass (the manifest first, then the objects):
        /// delete cold segments sealed longer ago than this (`30d`).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        cold_max_age: Option<Duration>,
        /// Cold retention: delete the oldest cold segments while they take more than this.
        #[arg(long, value_name = "BYTES", value_parser = crate::report::parse_bytes)]
        cold_max_bytes: Option<u64>,
        /// Cold retention: keep at most this many cold segments.
        #[arg(long, value_name = "N")]
        cold_max_segments: Option<usize>,
        /// Cold retention keeps what a consumer with a committed offset has not read.
        #[arg(long)]
        cold_keep_unread: bool,
        /// One JSON object a line: `retry` events and each pass's `tier` report (with
        /// `version`).
        #[arg(long)]
        json: bool,
    }

    fn cold_retention(a: &TierArgs) -> Option<ColdRetention> {
        let mut p = ColdRetention::default();
        p.max_age = a.cold_max_age;
        p.max_cold_bytes = a.cold_max_bytes;
        p.max_cold_segments = a.cold_max_segments;
        if a.cold_keep_unread {
            p.keep_unread = storage_std::KeepUnread::AllConsumers;
        }
        p.is_set().then_some(p)
    }

    /// One pass, then cold retention if asked for.
    fn pass(
        t: &mut Tierer,
        a: &TierArgs,
        progress: &mut Progress,
    ) -> Result<(TierReport, Option<ColdRetentionReport>), TierError> {
        let r = t.run_once(&policy(a), &mut |e| progress.on(e))?;
        let c = match cold_retention(a) {
            Some(p) => Some(t.apply_cold_retention(&p)?),
            None => None,
        };
        Ok((r, c))
    }

    fn policy(a: &TierArgs) -> TierPolicy {
        let any =
            a.keep_local_segments.is_some() || a.max_local_bytes.is_some() || a.min_age.is_some();
        let mut p = TierPolicy::default();
        p.keep_local_segments = a.keep_local_segments.or((!any).then_some(2));
        p.max_local_bytes = a.max_local_bytes;
        p.min_age = a.min_age;
        p.move_last_sealed = a.move_last_sealed || a.seal_active;
        p
    }

    /// Seals the active segment of the closed log in `dir` and starts an empty one: a
    /// writer that makes every record durable by sealing (`Durability::None` seals at
    /// sync), opened, synced and closed.
    fn seal_active(dir: &std::path::Path) -> Result<(), ExitCode> {
        use storage_std::{Durability, Writer, WriterOptions};
        let w: Writer = Writer::open(dir, WriterOptions::new(Durability::None)).map_err(|e| {
            let code = match e {
                storage_std::Error::Locked(_) => crate::report::EXIT_LOCKED,
                storage_std::Error::Corrupt { .. } | storage_std::Error::NeedsForce { .. } => 1,
                _ => EXIT_USAGE,
            };
            fail(
                "tier",
                code,
                format!("--seal-active: cannot open the log: {e}"),
            )
        })?;
        let synced = w.sync().map(|_| ());
        let closed = w.close().map(|_| ());
        synced
            .and(closed)
            .map_err(|e| fail("tier", EXIT_USAGE, format!("--seal-active: {e}")))
    }

    fn print_report(a: &TierArgs, r: &TierReport, cold: Option<&ColdRetentionReport>) -> ExitCode {
        if a.json {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            if let Some(c) = cold {
                v["cold_retention"] = serde_json::to_value(c).unwrap_or_default();
            }
            json_vocabulary(&mut v, "tier");
            return emit(|o| writeln!(o, "{v}"));
        }
        emit(|o| {
            for m in &r.moved {
                writeln!(
                    o,
                    "moved {}: {} records, {} -> {} ({:.2}x, {})",
                    storage_std::format::segment_name(m.base_seq),
                    m.records,
                    human_bytes(m.bytes),
                    human_bytes(m.stored_bytes),
                    m.bytes as f64 / m.stored_bytes.max(1) as f64,
                    m.key
                )?;
            }
            for k in &r.gc_deleted {
                writeln!(o, "gc: deleted {k} (no manifest named it)")?;
            }
            for k in &r.aborted_uploads {
                writeln!(o, "aborted the incomplete upload of {k}")?;
            }
            if let Some(why) = &r.stopped_at {
                writeln!(o, "stopped: {why}")?;
            }
            if let Some(c) = cold {
                writeln!(
                    o,
                    "cold retention: {} segments deleted, {} freed{}",
                    c.deleted.len(),
                    human_bytes(c.bytes_freed),
                    c.held_by
                        .as_ref()
                        .map(|h| format!(" (held by consumer {h})"))
                        .unwrap_or_default()
                )?;
            }
            writeln!(
                o,
                "{} moved; cold tier: {} segments, {} records, {}",
                r.moved.len(),
                r.cold_segments,
                r.cold_records,
                human_bytes(r.cold_stored_bytes)
            )
        })
    }

    /// Progress on a terminal, retries on stderr (or as JSON lines with --json).
    struct Progress {
        bar: Option<ProgressBar>,
        json: bool,
    }

    impl Progress {
        fn on(&mut self, e: &TierEvent) {
            match e {
                TierEvent::SegmentStarted { base_seq, bytes }
                    if std::io::stderr().is_terminal() =>
                {
                    let bar =
                        ProgressBar::with_draw_target(Some(*bytes), ProgressDrawTarget::stderr());
                    if let Ok(s) = ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    ) {
                        bar.set_style(s);
                    }
                    bar.set_message(storage_std::format::segment_name(*base_seq));
                    self.bar = Some(bar);
                }
                TierEvent::Uploaded { sent, total, .. } => {
                    if let Some(b) = &self.bar {
                        b.set_length(*total);
                        b.set_position(*sent);
                    }
                }
                TierEvent::Moved(_) => {
                    if let Some(b) = self.bar.take() {
                        b.finish_and_clear();
                    }
                }
                TierEvent::Retry(r) if self.json => {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    json_vocabulary(&mut v, "retry");
                    let _ = emit(|o| writeln!(o, "{v}"));
                }
                TierEvent::Retry(r) => eprintln!(
                    "tier: attempt {} failed ({}); retrying in {} ms",
                    r.attempt, r.error, r.backoff_ms
                ),
                _ => {}
            }
        }
    }

    static STOP: AtomicBool = AtomicBool::new(false);

    /// Moves sealed, verified segments past the policy to the store. Exit 0 done, 1
    /// corruption or conflict, 2 usage, I/O or store errors, 5 another tierer holds the
    /// directory.
    pub fn tier(a: &TierArgs) -> ExitCode {
        let store = match store_config("tier", &a.store, a.endpoint.as_deref()) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let codec = match a.codec {
            CodecArg::Zstd => Codec::Zstd { level: a.level },
            CodecArg::Lz4 => Codec::Lz4,
        };
        let mut t = match Tierer::open(&a.dir, TierConfig::new(store).codec(codec)) {
            Ok(t) => t,
            Err(e) => return fail("tier", e.exit_code() as u8, chain(&e)),
        };
        if a.seal_active
            && let Err(code) = seal_active(&a.dir)
        {
            return code;
        }
        let mut progress = Progress {
            bar: None,
            json: a.json,
        };
        if !a.watch {
            return match pass(&mut t, a, &mut progress) {
                Ok((r, c)) => print_report(a, &r, c.as_ref()),
                Err(e) => fail("tier", e.exit_code() as u8, chain(&e)),
            };
        }
        if let Err(e) = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed)) {
            return fail(
                "tier",
                EXIT_USAGE,
                format!("cannot catch Ctrl-C for --watch: {e}"),
            );
        }
        let interval = Duration::from_secs_f64(a.interval.max(0.1));
        let mut printed = ExitCode::SUCCESS;
        while !STOP.load(Ordering::Relaxed) {
            match pass(&mut t, a, &mut progress) {
                Ok((r, c)) => printed = print_report(a, &r, c.as_ref()),
                Err(e) if e.is_retryable() => {
                    eprintln!("tier: pass failed, retrying at the next one: {}", chain(&e));
                }
                Err(e) => return fail("tier", e.exit_code() as u8, chain(&e)),
            }
            let until = std::time::Instant::now() + interval;
            while !STOP.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100).min(interval));
            }
        }
        printed
    }

    /// `ringctl restore --store URL DIR`.
    #[derive(Debug, clap::Args)]
    pub struct RestoreArgs {
        /// The new log directory (must not exist, or be empty).
        dir: PathBuf,
        /// The store holding the log's cold tier (`file:///path` or `s3://bucket[/prefix]`).
        #[arg(long, value_name = "URL")]
        store: String,
        /// The S3-compatible server (default: `AWS_ENDPOINT_URL`).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// Also download every cold segment back into a local segment file (checked
        /// first); by default only the manifest is restored and `--store` reads the rest.
        #[arg(long)]
        hydrate: bool,
        /// The restore report as one line of JSON (`"type":"restore"`, with `version`).
        #[arg(long)]
        json: bool,
    }

    /// Rebuilds a log directory from the bucket alone. Exit 0 restored, 1 a damaged
    /// object or manifest (nothing damaged is written), 2 usage, I/O or store errors.
    pub fn restore(a: &RestoreArgs) -> ExitCode {
        let store = match store_config("restore", &a.store, a.endpoint.as_deref()) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let opts = if a.hydrate {
            RestoreOptions::hydrate()
        } else {
            RestoreOptions::manifest_only()
        };
        let r = match storage_tier::restore(&store, &a.dir, &opts) {
            Ok(r) => r,
            Err(e) => return fail("restore", e.exit_code() as u8, chain(&e)),
        };
        if a.json {
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            json_vocabulary(&mut v, "restore");
            return emit(|o| writeln!(o, "{v}"));
        }
        let range = match (r.first_seq, r.last_seq) {
            (Some(f), Some(l)) => format!("sequences {f}..={l}"),
            _ => "no records".into(),
        };
        emit(|o| {
            writeln!(
                o,
                "restored log {} into {}: {} cold segments, {} records, {range}{}",
                r.log_id,
                a.dir.display(),
                r.segments,
                r.records,
                if r.hydrated.is_empty() {
                    format!(" (read them with --store {})", a.store)
                } else {
                    format!(", {} written back locally", r.hydrated.len())
                }
            )
        })
    }
}
