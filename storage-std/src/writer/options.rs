//! What a writer is opened with: the durability mode and the other settings.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::retention::RetentionPolicy;

#[cfg(doc)]
use super::Writer;

/// Default size of the submit queue in bytes (4 MiB; payloads up to 2 MiB - 32).
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 22;

/// The largest [`WriterOptions::segment_bytes`]: 1 GiB. (A single record larger than
/// the segment size still gets a segment of its own.)
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// The smallest [`WriterOptions::segment_bytes`]: 4 KiB.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// The largest group ([`Durability::Group`]'s `max_bytes`) and write buffer
/// ([`WriterOptions::buffer_bytes`]): 256 MiB. The writer holds one group in memory, and
/// a group is what a power cut can tear.
pub const MAX_GROUP_BYTES: usize = 256 << 20;
/// The largest [`WriterOptions::index_interval`]: 1 GiB (one entry per segment).
pub const MAX_INDEX_INTERVAL: u32 = 1 << 30;

/// When appended records reach the disk, and when they count as durable.
///
/// In every mode: records are written in sequence order; the durable watermark
/// ([`Writer::durable_seq`]) only advances after a sync of the segment that holds them
/// succeeded (and, for a new segment, after its file and directory entry were synced);
/// a segment is synced before it is sealed; a clean [`Writer::close`] syncs everything
/// appended before it; an I/O error or stall stops the writer (fail-stop) and the
/// watermark never moves again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Settings of a writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The durability mode.
    pub durability: Durability,
    /// A segment is sealed and a new one started when the next record would make it
    /// larger than this (a single larger record gets a segment of its own).
    pub segment_bytes: u64,
    /// Bytes between sparse index entries.
    pub index_interval: u32,
    /// Sequence of the first record of a new, empty log.
    pub first_seq: u64,
    /// A backend call that takes longer than this stops the writer (`None`: never).
    pub stall_timeout: Option<Duration>,
    /// Preallocate each new segment's `segment_bytes` (`fallocate`, keeping the size).
    pub preallocate: bool,
    /// Retention applied by the writer thread after each roll.
    pub retention: Option<RetentionPolicy>,
    /// Recovery: cut damage that is not a torn tail instead of refusing to open.
    pub force: bool,
    /// Recovery: check every record of every sealed segment, not just headers, footers
    /// and the tail.
    pub deep_check: bool,
    /// Write buffer of the `None` and `Sync` modes (`Group` uses `max_bytes`).
    pub buffer_bytes: usize,
    /// Bytes of the submit ring (a power of two from 64 to 2^31; `None`: the writer's
    /// `N`, [`DEFAULT_QUEUE_BYTES`] unless named). Records are at most half of it: the
    /// largest payload is `queue_bytes / 2 - 32`. A group is written once it holds half
    /// the ring, even if `max_bytes` is larger, so producers never wait for a group that
    /// cannot fill.
    pub queue_bytes: Option<usize>,
    /// Keep the BLAKE3 digest chain ([`crate::format::chain`]): each sealed footer
    /// carries it and [`WriterStats::chain`](crate::WriterStats::chain) publishes it at
    /// every durable point (on by default; hashed on the writer thread).
    pub digest_chain: bool,
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

impl WriterOptions {
    /// Defaults with this durability.
    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }

    /// Sets the segment size.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the stall threshold.
    pub fn stall_timeout(mut self, t: Option<Duration>) -> Self {
        self.stall_timeout = t;
        self
    }

    /// Sets `force` (cut mid-log damage on open).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets the retention policy applied after each roll.
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.retention = Some(policy);
        self
    }

    /// Sets the submit ring's size in bytes (see [`WriterOptions::queue_bytes`]).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = Some(bytes);
        self
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
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
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
