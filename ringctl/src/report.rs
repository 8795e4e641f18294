//! Progress bars and run summaries shared by the subcommands.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stress::Limit;

/// Writes a line on stderr; a closed or full stderr is ignored (never a panic, as
/// `eprintln!` would).
pub fn warn(args: std::fmt::Arguments<'_>) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_fmt(args);
    let _ = e.write_all(b"\n");
    let _ = e.flush();
}

/// `warn!("...", args)`: [`warn`] with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::report::warn(format_args!($($arg)*))
    };
}

/// Why a stress run could not run or stopped early, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// 2 usage or I/O error, 5 the log is locked by another writer (retryable).
    pub code: u8,
    /// For humans, on stderr.
    pub message: String,
}

/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the log is locked by another writer (retryable).
pub const EXIT_LOCKED: u8 = 5;

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            code: EXIT_USAGE,
            message,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// The version every JSON summary and report carries (`"version"`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A byte count for humans: `1.0 MiB` (powers of 1024), or `512 B`.
pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

/// Parses a size given on the command line: a plain byte count or a number with a unit,
/// `64MiB`, `1M`, `1.5 GiB`, `4k`. K, M, G (with or without `B`) are powers of 1024,
/// as are KiB, MiB and GiB: ring capacities and segment sizes are powers of two.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s)
        .map_err(|e| format!("{s:?} is not a size ({e}); examples: 4096, 64KiB, 1M, 1.5GiB"))
}

/// [`parse_bytes`] into a `usize`.
pub fn parse_bytes_usize(s: &str) -> Result<usize, String> {
    let n = parse_bytes(s)?;
    usize::try_from(n).map_err(|_| format!("{s}: too large for this machine"))
}

/// Draws a progress bar on stderr when stderr is a terminal; otherwise does nothing.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// A progress reporter; drawn only when `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled: enabled && std::io::stderr().is_terminal(),
        }
    }

    /// Shows progress until `finished()` returns true: `counter` against the event
    /// count of an [`Limit::Events`] run, or, in a [`Limit::Time`] run (whose event count
    /// nobody knows in advance), the elapsed seconds against the run's seconds with the
    /// events counted so far as a message.
    pub fn watch(&self, counter: &AtomicU64, limit: Limit, finished: impl Fn() -> bool) {
        let bar = if self.enabled {
            let (len, template) = match limit {
                Limit::Events(n) => (
                    n,
                    "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events ({per_sec})",
                ),
                Limit::Time(d) => (
                    d.as_millis().max(1) as u64,
                    "{spinner} [{elapsed_precise}] {wide_bar} {msg}",
                ),
            };
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            Some(bar)
        } else {
            None
        };
        let start = Instant::now();
        while !finished() {
            std::thread::sleep(Duration::from_millis(50));
            if let Some(b) = &bar {
                let events = counter.load(Ordering::Relaxed);
                match limit {
                    Limit::Events(_) => b.set_position(events),
                    Limit::Time(d) => {
                        let t = start.elapsed().min(d);
                        b.set_position(t.as_millis() as u64);
                        b.set_message(format!(
                            "{:.1}/{:.1} s, {events} events",
                            t.as_secs_f64(),
                            d.as_secs_f64()
                        ));
                    }
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
}

/// Whether a summary field is a byte count (printed for humans in text mode).
fn is_size_field(key: &str) -> bool {
    key == "capacity" || key.ends_with("_bytes")
}

/// The result of a stress run, printed last on stdout.
#[derive(Debug)]
pub struct Summary {
    /// `spsc`, `broadcast`, `pool` or `log`.
    pub mode: &'static str,
    /// Events the producer sent (for a log: events that became durable).
    pub events: u64,
    /// Payload bytes the consumer saw.
    pub payload_bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Events that passed every check.
    pub verified: u64,
    /// Checks that failed.
    pub errors: u64,
    /// The first failed check, for humans.
    pub first_error: Option<String>,
    /// Mode-specific fields, merged into the JSON object.
    pub extra: serde_json::Value,
}

impl Summary {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.verified == self.events
    }

    fn rates(&self) -> (f64, f64, f64) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        (
            secs,
            self.events as f64 / secs,
            self.payload_bytes as f64 / secs / 1e6,
        )
    }

    /// One line of JSON with the documented fields plus the mode's extras.
    pub fn to_json(&self) -> serde_json::Value {
        let (secs, eps, mbps) = self.rates();
        let mut v = serde_json::json!({
            "type": "summary",
            "version": VERSION,
            "mode": self.mode,
            "events": self.events,
            "payload_bytes": self.payload_bytes,
            "elapsed_s": secs,
            "events_per_s": eps,
            "payload_mb_per_s": mbps,
            "verified": self.verified,
            "errors": self.errors,
        });
        if let Some(e) = &self.first_error {
            v["first_error"] = e.clone().into();
        }
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), &self.extra) {
            for (k, x) in extra {
                obj.insert(k.clone(), x.clone());
            }
        }
        v
    }

    /// Prints the summary on stdout: human-readable lines, or one JSON line.
    pub fn print(&self, json: bool) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", self.to_json())?;
        } else {
            let (secs, eps, mbps) = self.rates();
            writeln!(out, "mode:        {}", self.mode)?;
            if let serde_json::Value::Object(extra) = &self.extra {
                for (k, x) in extra {
                    match x {
                        serde_json::Value::Array(items) => {
                            writeln!(out, "{k}:")?;
                            for item in items {
                                writeln!(out, "  {item}")?;
                            }
                        }
                        serde_json::Value::Object(_) => {
                            writeln!(out, "{:<12} {x}", format!("{k}:"))?
                        }
                        serde_json::Value::String(text) => {
                            writeln!(out, "{:<12} {text}", format!("{k}:"))?
                        }
                        serde_json::Value::Number(n) if is_size_field(k) => writeln!(
                            out,
                            "{:<12} {}",
                            format!("{k}:"),
                            n.as_u64().map_or_else(|| n.to_string(), human_bytes)
                        )?,
                        other => writeln!(out, "{:<12} {other}", format!("{k}:"))?,
                    }
                }
            }
            writeln!(out, "events:      {}", self.events)?;
            writeln!(
                out,
                "bytes:       {} (payload, {} bytes)",
                human_bytes(self.payload_bytes),
                self.payload_bytes
            )?;
            writeln!(out, "elapsed:     {secs:.3} s")?;
            writeln!(out, "events/s:    {:.2} M", eps / 1e6)?;
            writeln!(out, "MB/s:        {mbps:.1} (payload, 10^6 bytes)")?;
            writeln!(out, "verified:    {}", self.verified)?;
            if let Some(e) = &self.first_error {
                writeln!(out, "first error: {e}")?;
            }
            writeln!(out, "errors:      {}", self.errors)?;
        }
        out.flush()
    }
}
