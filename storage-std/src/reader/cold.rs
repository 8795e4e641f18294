//! The synchronous cold-segment source: what a reader of the whole log (replay,
//! `inspect` and `verify`) needs from a cold tier, without knowing how or where it is
//! stored. A tier crate (storage-tier) implements it; this crate never depends on an
//! object store or an async runtime. [`super::LogReader::with_cold`] takes one.

use std::fmt;

use crate::error::{Error, Result};
use crate::format::RecordRef;

use super::Start;

/// One cold segment, as a reader plans a replay with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColdSegment {
    /// First sequence.
    pub base_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Records.
    pub record_count: u64,
    /// First record's timestamp (ns).
    pub first_ts: u64,
    /// Last record's timestamp (ns).
    pub last_ts: u64,
    /// Largest timestamp (ns): replay by time starts in the first segment whose
    /// `max_ts` reaches the time asked.
    pub max_ts: u64,
    /// Creation time (ns).
    pub created_ns: u64,
    /// Sealing time (ns).
    pub sealed_ns: u64,
    /// The segment file's size.
    pub bytes: u64,
    /// Bytes it takes in the store (compressed).
    pub stored_bytes: u64,
    /// Codec (`zstd`, `lz4`).
    pub codec: String,
    /// Where it is (object key under the store's prefix).
    pub location: String,
}

/// What kind of failure a cold read met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColdErrorKind {
    /// The store could not be reached or failed; retrying later can succeed.
    Unavailable,
    /// Bytes that fail their checksum or structure: never returned as data.
    Corrupt,
    /// The segment or sequence is not in the cold tier.
    NotFound,
    /// Anything else (local I/O, configuration).
    Other,
}

/// A cold read that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdError {
    /// The kind.
    pub kind: ColdErrorKind,
    /// The message, with its causes.
    pub message: String,
}

impl fmt::Display for ColdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ColdError {}

impl ColdError {
    /// A cold read error of `kind` (for [`ColdSegmentSource`] implementations: the type is
    /// `#[non_exhaustive]`).
    pub fn new(kind: ColdErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == ColdErrorKind::Unavailable
    }
}

/// The cold tier as a reader sees it. Implementations are shared between threads;
/// each cursor is used by one.
pub trait ColdSegmentSource: Send + Sync + fmt::Debug {
    /// The cold segments, oldest first, contiguous.
    fn cold_segments(&self) -> Result<Vec<ColdSegment>, ColdError>;

    /// A cursor over the records of cold segment `base_seq`, from `start`:
    /// [`Start::Oldest`] its first record, [`Start::Seq`] the record with that sequence
    /// (or the segment's first, if lower; [`ColdErrorKind::NotFound`] if past its end),
    /// [`Start::Time`] the first record in sequence order with a timestamp at or after
    /// it (none if the segment has no such record). Fetches only what it reads.
    fn open_cursor(&self, base_seq: u64, start: Start) -> Result<Box<dyn ColdCursor>, ColdError>;
}

/// Records of one cold segment in sequence order; the same lending shape as
/// storage-std's `Cursor::next`.
pub trait ColdCursor: Send + fmt::Debug {
    /// The next record, or `None` after the segment's last one. A damaged frame is an
    /// error, and the cursor returns it again on every later call.
    fn next(&mut self) -> Result<Option<RecordRef<'_>>, ColdError>;
}

/// The segments of the whole log a cursor plans with: local bases, and the cold
/// segments no local file shadows (local wins where both exist), merged by base.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Every base, ascending.
    pub bases: Vec<u64>,
    /// The cold segments among them.
    pub cold: Vec<ColdSegment>,
}

impl Plan {
    /// The plan for `local` bases (ascending) and the source's cold segments.
    pub fn new(local: &[u64], cold: Option<&dyn ColdSegmentSource>) -> Result<Self> {
        let mut cold = match cold {
            Some(c) => c
                .cold_segments()
                .map_err(|e| cold_error(&e, "the cold tier"))?,
            None => Vec::new(),
        };
        cold.retain(|c| local.binary_search(&c.base_seq).is_err());
        let mut bases: Vec<u64> = local
            .iter()
            .copied()
            .chain(cold.iter().map(|c| c.base_seq))
            .collect();
        bases.sort_unstable();
        bases.dedup();
        Ok(Self { bases, cold })
    }

    /// The cold segment starting at `base`, if that one is read from the cold tier.
    pub fn cold_at(&self, base: u64) -> Option<&ColdSegment> {
        self.cold.iter().find(|c| c.base_seq == base)
    }
}

/// A cold read's failure as this crate's error: damage is [`crate::Error::Corrupt`]
/// (never data), anything else an I/O error naming where.
pub(super) fn cold_error(e: &ColdError, what: &str) -> Error {
    match e.kind {
        ColdErrorKind::Corrupt => Error::Corrupt {
            file: what.to_owned(),
            offset: 0,
            detail: e.message.clone(),
        },
        ColdErrorKind::NotFound => Error::io(
            "cold read",
            what,
            std::io::Error::new(std::io::ErrorKind::NotFound, e.message.clone()),
        ),
        ColdErrorKind::Unavailable | ColdErrorKind::Other => {
            Error::io("cold read", what, std::io::Error::other(e.message.clone()))
        }
    }
}
