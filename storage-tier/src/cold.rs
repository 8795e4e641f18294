//! The synchronous cold-segment source: what a reader of the whole log (storage-std's
//! replay, `inspect` and `verify`) needs from the cold tier, without knowing how or
//! where it is stored. It is defined here for now, in the shape storage-std will adopt
//! (so storage-std never depends on `object_store`): it names only storage-std's
//! public types and its own small error.

use std::fmt;

use storage_std::Start;
use storage_std::format::RecordRef;

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
