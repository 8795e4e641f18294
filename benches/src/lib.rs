//! Shared helpers for the benches: fixed-size items of the workspace's one payload
//! pattern and their cheap check, a back-off for
//! spinning threads, a two-thread timing harness, heap allocation of large rings, medians,
//! a Markdown table printer, a tiny JSON writer and a command-line flag reader.
//!
//! [`spsc_peers`] holds the producer/consumer loops of the SPSC comparison (ringcore and
//! its peers), used by the `peers` binary and by the criterion benches. Later peer benches
//! (broadcast, storage) reuse the rest.
//!
//! [`log_peers`] holds the durable-log comparison of the `log_peers` binary: storage-std's
//! writer on any backend, the raw `pwrite` + `fdatasync` baseline, and the peer crates.
//!
//! [`broadcast_peers`] holds the writer/reader loops of the broadcast comparison (ringcore's
//! broadcast ring against the `disruptor` crate, crossbeam-channel and tokio's broadcast),
//! used by the `broadcast_peers` binary.

use std::fmt::Write as _;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ringcore::spsc::Ring;

pub mod broadcast_peers;
pub mod log_peers;
pub mod spsc_peers;

/// The fixed-size item of event `i`: `P` bytes of the workspace's one payload pattern
/// ([`ringlog_pattern::fill`]), which changes from one event to the next, so a consumer
/// that reads a stale or wrong slot notices.
///
/// ```
/// let item = benches::item::<16>(3);
/// assert!(ringlog_pattern::check(3, &item));
/// ```
#[inline(always)]
pub fn item<const P: usize>(i: u64) -> [u8; P] {
    let mut item = [0; P];
    ringlog_pattern::fill(i, &mut item);
    item
}

/// Checks the payload of event `i`: its length is `expected_len` and its first and last
/// bytes are the pattern's ([`ringlog_pattern::check_ends`]). Two loads per event: enough
/// that no queue can skip the data, cheap enough not to dominate the measurement.
///
/// ```
/// let item = benches::item::<16>(3);
/// assert!(benches::payload_ok(&item, 3, 16));
/// assert!(!benches::payload_ok(&item, 4, 16));
/// assert!(!benches::payload_ok(&item[..8], 3, 16));
/// ```
#[inline(always)]
pub fn payload_ok(payload: &[u8], i: u64, expected_len: usize) -> bool {
    payload.len() == expected_len && ringlog_pattern::check_ends(i, payload)
}

/// Spin, then yield: what every spinning producer and consumer in these benches does when
/// its queue is full or empty, so no queue gets a better waiting strategy than another.
#[derive(Debug, Default)]
pub struct Backoff {
    spins: u32,
}

impl Backoff {
    /// Spins this many times before it starts yielding the CPU.
    pub const SPIN_LIMIT: u32 = 64;

    /// A fresh back-off.
    pub const fn new() -> Self {
        Self { spins: 0 }
    }

    /// Waits a little: a spin-loop hint for the first [`Backoff::SPIN_LIMIT`] calls, then
    /// a yield to the scheduler (on a machine with fewer free cores than threads, spinning
    /// alone would burn the other side's time slice).
    #[inline]
    pub fn snooze(&mut self) {
        if self.spins < Self::SPIN_LIMIT {
            self.spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }

    /// Progress was made: spin again next time.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.spins = 0;
    }
}

/// One timed transfer: how many events and payload bytes went through, and how long it
/// took from the first thread's start to the last thread's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Events the consumer received.
    pub events: u64,
    /// Payload bytes the consumer received (headers and padding not counted).
    pub payload_bytes: u64,
    /// Wall-clock time of the transfer.
    pub elapsed: Duration,
    /// Events whose payload or count check failed (0 when all is well).
    pub errors: u64,
}

impl Sample {
    /// Events per second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    /// Payload megabytes (10^6 bytes) per second.
    pub fn payload_mb_per_s(&self) -> f64 {
        self.payload_bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// What a consumer loop reports: events received and how many failed their check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Events received.
    pub events: u64,
    /// Events whose payload check failed.
    pub bad: u64,
}

/// Runs `producer` and `consumer` on two new threads that start together (a barrier) and
/// returns the time from the earlier start to the later end, with the consumer's count.
/// Thread creation and joining are outside the timed span. The closures may borrow from
/// the caller (scoped threads), e.g. a ring both halves point into.
///
/// `expected` is the number of events the producer sends, each of `payload_len` bytes;
/// a shortfall counts as errors.
///
/// ```
/// use benches::{Received, run_pair};
/// let s = run_pair(10, 8, || (), || Received { events: 10, bad: 0 });
/// assert_eq!((s.events, s.payload_bytes, s.errors), (10, 80, 0));
/// ```
pub fn run_pair<P, C>(expected: u64, payload_len: usize, producer: P, consumer: C) -> Sample
where
    P: FnOnce() + Send,
    C: FnOnce() -> Received + Send,
{
    let barrier = Barrier::new(2);
    let ((p_start, p_end), (c_start, c_end, got)) = std::thread::scope(|s| {
        let barrier = &barrier;
        let hp = s.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            producer();
            (start, Instant::now())
        });
        let hc = s.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let got = consumer();
            (start, Instant::now(), got)
        });
        (
            hp.join().expect("producer thread panicked"),
            hc.join().expect("consumer thread panicked"),
        )
    });
    let elapsed = p_end.max(c_end) - p_start.min(c_start);
    Sample {
        events: got.events,
        payload_bytes: got.events * payload_len as u64,
        elapsed,
        errors: got.bad + expected.abs_diff(got.events),
    }
}

/// A ringcore ring on the heap, so rings of megabytes never pass through the stack
/// (ringcore's own [`Ring::boxed`]).
///
/// ```
/// let ring = benches::boxed_ring::<{ 1 << 20 }>();
/// assert_eq!(ring.capacity(), 1 << 20);
/// assert!(ring.try_split(0).is_ok());
/// ```
pub fn boxed_ring<const N: usize>() -> Box<Ring<N>> {
    Ring::boxed()
}

/// The median of `values` (the mean of the two middle values for an even count); NaN for
/// an empty slice.
///
/// ```
/// assert_eq!(benches::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(benches::median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
/// assert!(benches::median(&[]).is_nan());
/// ```
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Smallest and largest of `values` (NaN, NaN for an empty slice).
///
/// ```
/// assert_eq!(benches::min_max(&[3.0, 1.0, 2.0]), (1.0, 3.0));
/// ```
pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::NAN, f64::NAN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Column alignment in a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

/// A Markdown table with padded columns, ready to paste into a README.
///
/// ```
/// use benches::{Align, Table};
/// let mut t = Table::new(&[("queue", Align::Left), ("M ev/s", Align::Right)]);
/// t.row(["ringcore".to_string(), "123.4".to_string()]);
/// assert_eq!(t.render(), "\
/// | queue    | M ev/s |
/// |:---------|-------:|
/// | ringcore |  123.4 |
/// ");
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(headers: &[(&str, Align)]) -> Self {
        Self {
            headers: headers.iter().map(|&(h, a)| (h.to_string(), a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<I: IntoIterator<Item = String>>(&mut self, cells: I) {
        let mut row: Vec<String> = cells.into_iter().take(self.headers.len()).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// The table as Markdown, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([self.headers[i].0.chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for ((cell, (_, align)), w) in cells.iter().zip(&self.headers).zip(&widths) {
                let _ = match align {
                    Align::Left => write!(out, " {cell:<w$} |"),
                    Align::Right => write!(out, " {cell:>w$} |"),
                };
            }
            out.push('\n');
        };
        let names: Vec<String> = self.headers.iter().map(|(h, _)| h.clone()).collect();
        line(&mut out, &names);
        out.push('|');
        for ((_, align), w) in self.headers.iter().zip(&widths) {
            let dashes = "-".repeat(*w + 1);
            let _ = match align {
                Align::Left => write!(out, ":{dashes}|"),
                Align::Right => write!(out, "{dashes}:|"),
            };
        }
        out.push('\n');
        for r in &self.rows {
            line(&mut out, r);
        }
        out
    }
}

/// A JSON value, enough to print one line of results without a serialisation crate.
///
/// ```
/// use benches::Json;
/// let j = Json::obj([("name", Json::str("a\"b")), ("n", Json::Int(3)), ("x", Json::Num(f64::NAN))]);
/// assert_eq!(j.to_string(), r#"{"name":"a\"b","n":3,"x":null}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(u64),
    /// A number; non-finite values print as `null`.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// An object from key/value pairs.
    pub fn obj<'k, I: IntoIterator<Item = (&'k str, Json)>>(pairs: I) -> Self {
        Self::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// An array of numbers.
    pub fn nums(values: &[f64]) -> Self {
        Self::Arr(values.iter().map(|&v| Self::Num(v)).collect())
    }
}

fn write_json_str(f: &mut std::fmt::Formatter<'_>, s: &str) -> std::fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(n) => write!(f, "{n}"),
            Self::Num(x) if x.is_finite() => write!(f, "{x}"),
            Self::Num(_) => f.write_str("null"),
            Self::Str(s) => write_json_str(f, s),
            Self::Arr(items) => {
                f.write_char('[')?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Self::Obj(pairs) => {
                f.write_char('{')?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_json_str(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// A few words about the machine, for the header of a results table: CPU model, logical
/// CPUs, OS.
pub fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cpus} logical CPUs, {}", std::env::consts::OS)
}

/// Command-line flags of the form `--name value`, `--name=value` and `--flag`.
///
/// ```
/// let mut a = benches::Args::new(["--events", "10", "--json", "--payload=64"].map(String::from));
/// assert_eq!(a.value::<u64>("--events"), Ok(Some(10)));
/// assert_eq!(a.value::<usize>("--payload"), Ok(Some(64)));
/// assert!(a.flag("--json"));
/// assert_eq!(a.value::<u64>("--runs"), Ok(None));
/// assert!(a.finish().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Wraps the arguments (without the program name).
    pub fn new<I: IntoIterator<Item = String>>(args: I) -> Self {
        Self {
            rest: args.into_iter().collect(),
        }
    }

    /// The process's arguments.
    pub fn from_env() -> Self {
        Self::new(std::env::args().skip(1))
    }

    /// Removes `--flag` and says whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// Removes `--name value` or `--name=value` and parses the value (the last one wins).
    pub fn value<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        let mut found = None;
        let mut i = 0;
        while i < self.rest.len() {
            if self.rest[i] == name {
                if i + 1 >= self.rest.len() {
                    return Err(format!("{name} needs a value"));
                }
                found = Some(self.rest.remove(i + 1));
                self.rest.remove(i);
            } else if let Some(v) = self.rest[i]
                .strip_prefix(name)
                .and_then(|s| s.strip_prefix('='))
            {
                found = Some(v.to_string());
                self.rest.remove(i);
            } else {
                i += 1;
            }
        }
        match found {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: cannot parse {v:?}")),
        }
    }

    /// Fails if any argument was not taken.
    pub fn finish(self) -> Result<(), String> {
        match self.rest.first() {
            None => Ok(()),
            Some(a) => Err(format!("unexpected argument {a:?}")),
        }
    }
}
