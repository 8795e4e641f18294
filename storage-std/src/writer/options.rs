//! What a writer is opened with: the durability mode and the other settings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::retention::RetentionPolicy;
use crate::time::{duration_ns, opt_duration_ns};

#[cfg(doc)]
use super::Writer;

/// Default size of the submit queue in bytes (4 MiB; payloads up to 2 MiB - 32).
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 22;

pub use crate::format::segment::{MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES};
/// The largest group ([`Durability::Group`]'s `max_bytes`) and write buffer
/// ([`WriterOptions::with_buffer_bytes`]): 256 MiB. The writer holds one group in memory, and
/// a group is what a power cut can tear.
pub const MAX_GROUP_BYTES: usize = 256 << 20;
/// The largest [`WriterOptions::with_index_interval`]: 1 GiB (one entry per segment).
pub const MAX_INDEX_INTERVAL: u32 = 1 << 30;

/// When appended records reach the disk, and when they count as durable.
///
/// In every mode: records are written in sequence order; the durable watermark
/// ([`Writer::durable_seq`]) only advances after a sync of the segment that holds them
/// succeeded (and, for a new segment, after its file and directory entry were synced);
/// a segment is synced before it is sealed; a clean [`Writer::close`] syncs everything
/// appended before it; an I/O error or stall stops the writer (fail-stop) and the
/// watermark never moves again.
///
/// Its text form (`Display`, `FromStr`) is the CLI's: `none`, `sync`, `group` (the
/// defaults of [`Durability::group`]), or `group:max_bytes=N,max_delay=D` with `D` in
/// `ns`, `us`, `ms` or `s`. Serde writes `{"mode":"group","max_bytes":N,"max_delay_ns":D}`.
///
/// ```
/// use std::time::Duration;
/// use storage_std::Durability;
/// let d: Durability = "group:max_bytes=65536,max_delay=2ms".parse().unwrap();
/// assert_eq!(d, Durability::Group { max_bytes: 65536, max_delay: Duration::from_millis(2) });
/// assert_eq!(d.to_string(), "group:max_bytes=65536,max_delay=2ms");
/// assert_eq!("group".parse::<Durability>().unwrap(), Durability::group());
/// assert!("fsync".parse::<Durability>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Durability {
    /// Records go to the page cache in writes of up to `buffer_bytes`, at most about
    /// 1 ms after the writer drained them; nothing is synced except when a segment is
    /// sealed, on [`Writer::sync`] and on a clean close. A power cut may lose everything
    /// since the last of those; a killed process loses what was still queued or
    /// buffered (not yet in [`Writer::written_seq`]). `append` returns once queued.
    None,
    /// Group commit: the writer collects records into a group and issues one write and
    /// one `fdatasync` per group. A group closes when it reaches `max_bytes` (or half
    /// the submit queue, if smaller), or when the queue is empty and its first record
    /// has waited `max_delay` (zero: as soon as the queue is empty), or when the queue is
    /// empty and an append waits for room (the group holds the queue's bytes until it
    /// is written). Records count as durable once their group's sync returned;
    /// `append` returns once queued, [`Writer::wait_durable`] blocks until durable. A
    /// power cut loses at most the unacknowledged groups.
    Group {
        /// Bytes (on disk) that close a group; also the most bytes ever left unsynced.
        max_bytes: usize,
        /// The longest a record waits for its group to fill once the queue is empty.
        #[serde(rename = "max_delay_ns", with = "duration_ns")]
        max_delay: Duration,
    },
    /// Like `Group` with no delay, and `append` itself returns only after the record is
    /// durable. With one appending thread that is one `fdatasync` per append; appends
    /// that arrive from other threads during a sync share the next one.
    Sync,
}

impl Durability {
    /// `Group` with 1 MiB groups and no added delay.
    pub const fn group() -> Self {
        Self::Group {
            max_bytes: 1 << 20,
            max_delay: Duration::ZERO,
        }
    }

    /// The name used by the CLI: `none`, `group`, `sync`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Group { .. } => "group",
            Self::Sync => "sync",
        }
    }
}

/// A duration in the largest of `s`, `ms`, `us`, `ns` that holds it exactly.
fn fmt_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ns = d.as_nanos();
    for (unit, per) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns != 0 && ns.is_multiple_of(per) {
            return write!(f, "{}{unit}", ns / per);
        }
    }
    write!(f, "{ns}ns")
}

/// `N` followed by `ns`, `us`, `ms` or `s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let per: u64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    Some(Duration::from_nanos(n.checked_mul(per)?))
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Group {
                max_bytes,
                max_delay,
            } if *self != Self::group() => {
                write!(f, "group:max_bytes={max_bytes},max_delay=")?;
                fmt_duration(max_delay, f)
            }
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for Durability {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "durability {s:?} is not none, sync, group or \
                 group:max_bytes=N,max_delay=D (D in ns, us, ms or s)"
            ))
        };
        match s {
            "none" => return Ok(Self::None),
            "sync" => return Ok(Self::Sync),
            "group" => return Ok(Self::group()),
            _ => {}
        }
        let params = s.strip_prefix("group:").ok_or_else(bad)?;
        let Self::Group {
            mut max_bytes,
            mut max_delay,
        } = Self::group()
        else {
            unreachable!("group() is a Group")
        };
        for kv in params.split(',') {
            match kv.split_once('=').ok_or_else(bad)? {
                ("max_bytes", v) => max_bytes = v.parse().map_err(|_| bad())?,
                ("max_delay", v) => max_delay = parse_duration(v).ok_or_else(bad)?,
                _ => return Err(bad()),
            }
        }
        Ok(Self::Group {
            max_bytes,
            max_delay,
        })
    }
}

/// Settings of a writer: built from [`WriterOptions::new`] (or `default`) with the
/// `with_*` methods, read back with the getters of the same names without `with_`.
///
/// Its text form (`Display`, `FromStr`) is its serde JSON: every field, durations in
/// ns; parsing takes the defaults for fields left out and rejects unknown ones.
///
/// ```
/// use std::time::Duration;
/// use storage_std::{Durability, WriterOptions};
/// let o = WriterOptions::new(Durability::Sync)
///     .with_segment_bytes(16 << 20)
///     .with_stall_timeout(None);
/// assert_eq!((o.segment_bytes(), o.stall_timeout()), (16 << 20, None));
/// let back: WriterOptions = o.to_string().parse().unwrap();
/// assert_eq!(back, o);
/// let p: WriterOptions = r#"{"durability":{"mode":"none"},"preallocate":true}"#.parse().unwrap();
/// assert_eq!(p, WriterOptions::new(Durability::None).with_preallocate(true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WriterOptions {
    pub(crate) durability: Durability,
    pub(crate) segment_bytes: u64,
    pub(crate) index_interval: u32,
    pub(crate) first_seq: u64,
    #[serde(rename = "stall_timeout_ns", with = "opt_duration_ns")]
    pub(crate) stall_timeout: Option<Duration>,
    pub(crate) preallocate: bool,
    pub(crate) retention: Option<RetentionPolicy>,
    pub(crate) force: bool,
    pub(crate) deep_check: bool,
    pub(crate) buffer_bytes: usize,
    pub(crate) queue_bytes: Option<usize>,
    pub(crate) digest_chain: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            durability: Durability::group(),
            segment_bytes: 64 << 20,
            index_interval: 64 << 10,
            first_seq: 0,
            stall_timeout: Some(Duration::from_secs(30)),
            preallocate: false,
            retention: None,
            force: false,
            deep_check: false,
            buffer_bytes: 1 << 20,
            queue_bytes: None,
            digest_chain: true,
        }
    }
}

json_text_form!(WriterOptions, "writer options");

impl WriterOptions {
    /// Defaults with this durability.
    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }

    /// Sets the durability mode (default [`Durability::group`]).
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Sets the segment size (default 64 MiB; [`MIN_SEGMENT_BYTES`] to
    /// [`MAX_SEGMENT_BYTES`]).
    pub fn with_segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// A segment is sealed and a new one started when the next record would make it
    /// larger than this (a single larger record gets a segment of its own).
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Sets the bytes between sparse index entries (default 64 KiB; 1 to
    /// [`MAX_INDEX_INTERVAL`]).
    pub fn with_index_interval(mut self, bytes: u32) -> Self {
        self.index_interval = bytes;
        self
    }

    /// Bytes between sparse index entries.
    pub fn index_interval(&self) -> u32 {
        self.index_interval
    }

    /// Sets the sequence of the first record of a new, empty log (default 0).
    pub fn with_first_seq(mut self, seq: u64) -> Self {
        self.first_seq = seq;
        self
    }

    /// Sequence of the first record of a new, empty log.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sets the stall threshold (default 30 s; `None`: never).
    pub fn with_stall_timeout(mut self, t: impl Into<Option<Duration>>) -> Self {
        self.stall_timeout = t.into();
        self
    }

    /// A backend call that takes longer than this stops the writer (`None`: never).
    pub fn stall_timeout(&self) -> Option<Duration> {
        self.stall_timeout
    }

    /// Sets whether each new segment's `segment_bytes` is preallocated (default off).
    pub fn with_preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Preallocate each new segment's `segment_bytes` (`fallocate`, keeping the size).
    pub fn preallocate(&self) -> bool {
        self.preallocate
    }

    /// Sets the retention policy applied after each roll (default none).
    pub fn with_retention(mut self, policy: impl Into<Option<RetentionPolicy>>) -> Self {
        self.retention = policy.into();
        self
    }

    /// Retention applied by the writer thread after each roll.
    pub fn retention(&self) -> Option<&RetentionPolicy> {
        self.retention.as_ref()
    }

    /// Sets `force` (default off).
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Recovery: cut damage that is not a torn tail instead of refusing to open.
    pub fn force(&self) -> bool {
        self.force
    }

    /// Sets the deep check of recovery (default off).
    pub fn with_deep_check(mut self, on: bool) -> Self {
        self.deep_check = on;
        self
    }

    /// Recovery: check every record of every sealed segment, not just headers, footers
    /// and the tail.
    pub fn deep_check(&self) -> bool {
        self.deep_check
    }

    /// Sets the write buffer of the `None` and `Sync` modes (default 1 MiB; at most
    /// [`MAX_GROUP_BYTES`]).
    pub fn with_buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Write buffer of the `None` and `Sync` modes (`Group` uses `max_bytes`).
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// Sets the submit ring's size in bytes (see [`WriterOptions::queue_bytes`]).
    pub fn with_queue_bytes(mut self, bytes: impl Into<Option<usize>>) -> Self {
        self.queue_bytes = bytes.into();
        self
    }

    /// Bytes of the submit ring (a power of two from 64 to 2^31; `None`: the writer's
    /// `N`, [`DEFAULT_QUEUE_BYTES`] unless named). Records are at most half of it: the
    /// largest payload is `queue_bytes / 2 - 32`. A group is written once it holds half
    /// the ring, even if `max_bytes` is larger, so producers never wait for a group that
    /// cannot fill.
    pub fn queue_bytes(&self) -> Option<usize> {
        self.queue_bytes
    }

    /// Keeps the BLAKE3 digest chain or not (see [`WriterOptions::digest_chain`]).
    pub fn with_digest_chain(mut self, on: bool) -> Self {
        self.digest_chain = on;
        self
    }

    /// Keep the BLAKE3 digest chain ([`crate::format::chain`]): each sealed footer
    /// carries it and [`WriterStats::chain`](crate::WriterStats::chain) publishes it at
    /// every durable point (on by default; a group of 128 KiB or more is hashed on a
    /// scoped thread while its write and sync are in flight, smaller ones on the writer
    /// thread).
    pub fn digest_chain(&self) -> bool {
        self.digest_chain
    }

    pub(super) fn buffer_cap(&self) -> usize {
        match self.durability {
            Durability::Group { max_bytes, .. } => max_bytes.max(4096),
            _ => self.buffer_bytes.max(4096),
        }
    }

    /// Checks every size against its limit; the error names the option, the value and
    /// the limit.
    pub(super) fn validate(&self) -> Result<()> {
        fn bad(what: String) -> Result<()> {
            Err(Error::InvalidArgument(what))
        }
        if !crate::format::segment::valid_segment_bytes(self.segment_bytes) {
            return bad(format!(
                "segment_bytes {} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES} \
                 (4 KiB to 1 GiB)",
                self.segment_bytes
            ));
        }
        if !(1..=MAX_INDEX_INTERVAL).contains(&self.index_interval) {
            return bad(format!(
                "index_interval {} is outside 1..={MAX_INDEX_INTERVAL}",
                self.index_interval
            ));
        }
        if self.buffer_bytes > MAX_GROUP_BYTES {
            return bad(format!(
                "buffer_bytes {} exceeds the maximum {MAX_GROUP_BYTES} (256 MiB)",
                self.buffer_bytes
            ));
        }
        if let Some(q) = self.queue_bytes
            && !(q.is_power_of_two() && (64..=1 << 31).contains(&q))
        {
            return bad(format!(
                "queue_bytes {q} is not a power of two from 64 to 2^31"
            ));
        }
        if let Durability::Group { max_bytes, .. } = self.durability
            && max_bytes > MAX_GROUP_BYTES
        {
            return bad(format!(
                "group max_bytes {max_bytes} exceeds the maximum {MAX_GROUP_BYTES} (256 MiB)"
            ));
        }
        Ok(())
    }
}
