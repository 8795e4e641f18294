//! The verifier: checks every record's CRC, sequence continuity within and across
//! segments, headers, footers, indexes and consumer offsets, and reports findings as
//! data. It reads through positioned reads (never maps), takes no lock, never writes,
//! and never panics on any input.
//!
//! It tells a *torn tail* — damage at the end of the last segment no further than that
//! segment's torn window from its end, what a crash leaves and recovery repairs — from
//! *corruption* anywhere else.

use std::sync::Arc;

use crate::backend::{Backend, FileBackend};
use crate::error::{Error, Result};
use crate::format::{self, ConsumerOffset, StructError};
use crate::segment;

mod segment_check;

use segment_check::verify_segment;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, harmless (a missing index, a leftover temporary file).
    Info,
    /// The unsynced end of the last segment: recovery cuts it on the next open.
    TornTail,
    /// Damage that is not a torn tail: data may be lost, open may refuse.
    Corruption,
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A segment header that does not decode.
    BadHeader {
        /// Why.
        error: StructError,
    },
    /// A segment whose header names another base sequence than its file name.
    HeaderMismatch {
        /// Base sequence in the header.
        header_base: u64,
    },
    /// Records that do not decode, or a sequence that is not the expected one.
    BadRecord {
        /// What was found.
        error: String,
        /// The sequence expected there.
        expected_seq: u64,
    },
    /// Valid records found after damage.
    RecordsAfterDamage {
        /// Smallest sequence found.
        first_seq: u64,
        /// Largest sequence found.
        last_seq: u64,
        /// How far after the damage the last one ends.
        distance: u64,
        /// The segment's torn window (0 = unbounded).
        window: u64,
    },
    /// A segment before the last without a valid footer.
    MissingFooter {
        /// Why the end is not a footer.
        found: String,
    },
    /// A footer that does not match the records.
    FooterMismatch {
        /// What differs.
        detail: String,
    },
    /// Bytes after a footer.
    TrailingBytes {
        /// How many.
        bytes: u64,
    },
    /// A segment that does not start where the previous one ended.
    SequenceGap {
        /// The sequence expected.
        expected: u64,
        /// The segment's base.
        found: u64,
    },
    /// An index file that does not decode or disagrees with its segment.
    BadIndex {
        /// What is wrong.
        detail: String,
    },
    /// A segment without an index (rebuilt on open).
    MissingIndex,
    /// An index without its segment.
    OrphanIndex,
    /// A consumer offset file that does not decode.
    BadOffset {
        /// Why.
        error: StructError,
    },
    /// A leftover temporary file.
    TempFile,
    /// A file could not be read.
    Unreadable {
        /// The I/O error.
        error: String,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// The file.
    pub file: String,
    /// Byte offset in the file, where it applies.
    pub offset: Option<u64>,
    /// The problem.
    pub problem: Problem,
    /// A sentence for humans.
    pub message: String,
}

/// The overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    /// No damage (info findings may exist).
    Clean,
    /// Only a torn tail.
    TornTail,
    /// Corruption somewhere.
    Corrupt,
}

impl VerifyStatus {
    /// The exit code of `ringctl verify`: 0 clean, 3 torn tail only, 1 corruption.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Clean => 0,
            Self::TornTail => 3,
            Self::Corrupt => 1,
        }
    }
}

/// What the verifier found in one segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SegmentCheck {
    /// File name.
    pub name: String,
    /// Base sequence from the name.
    pub base_seq: u64,
    /// Whether it ends with a valid footer.
    pub sealed: bool,
    /// Good records (the valid prefix).
    pub records: u64,
    /// Last good sequence.
    pub last_seq: Option<u64>,
    /// First good record's timestamp.
    pub first_ts: Option<u64>,
    /// Last good record's timestamp.
    pub last_ts: Option<u64>,
    /// File size.
    pub bytes: u64,
    /// Where the good records end.
    pub records_end: u64,
    /// Index entries checked.
    pub index_entries: u64,
}

/// The verifier's report; serialize it for JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Clean, torn tail, or corrupt.
    pub status: VerifyStatus,
    /// Per segment.
    pub segments: Vec<SegmentCheck>,
    /// Everything found, in file order.
    pub findings: Vec<Finding>,
    /// First sequence of the log.
    pub first_seq: Option<u64>,
    /// Last good sequence of the log.
    pub last_seq: Option<u64>,
    /// Good records in all segments.
    pub records: u64,
    /// Bytes in all segment files.
    pub bytes: u64,
}

/// Verifies the log in `dir` (real files). Errors only if the directory cannot be
/// listed; everything else is a finding.
pub fn verify_dir(dir: impl AsRef<std::path::Path>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let b =
        FileBackend::existing(dir).map_err(|e| Error::io("open", dir.display().to_string(), e))?;
    verify(&(Arc::new(b) as Arc<dyn Backend>))
}

struct Ctx {
    findings: Vec<Finding>,
}

impl Ctx {
    /// A file, or part of one, that could not be read: corruption (its bytes are not
    /// there to check).
    fn unreadable(&mut self, file: &str, offset: Option<u64>, e: &dyn std::fmt::Display) {
        self.add(
            Severity::Corruption,
            file,
            offset,
            Problem::Unreadable {
                error: e.to_string(),
            },
            format!("{file}: {e}"),
        );
    }

    fn add(
        &mut self,
        severity: Severity,
        file: &str,
        offset: Option<u64>,
        problem: Problem,
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            file: file.to_owned(),
            offset,
            problem,
            message,
        });
    }
}

/// Verifies a log on any backend.
///
/// ```
/// use storage_std::{verify, Durability, VerifyStatus, Writer, WriterOptions};
/// use storage_std::backend::{Backend, MemBackend};
/// use std::sync::Arc;
/// let b: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// let w: Writer = Writer::open_with(b.clone(), WriterOptions::new(Durability::Sync)).unwrap();
/// w.append(b"x").unwrap();
/// w.close().unwrap();
/// assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
/// ```
pub fn verify(backend: &Arc<dyn Backend>) -> Result<VerifyReport> {
    let backend = &**backend;
    let listing = segment::list(backend)?;
    let mut cx = Ctx {
        findings: Vec::new(),
    };
    let mut segments = Vec::new();
    let mut expected: Option<u64> = None;
    let n = listing.segments.len();
    for (i, &base) in listing.segments.iter().enumerate() {
        let is_last = i + 1 == n;
        let has_index = listing.indexes.binary_search(&base).is_ok();
        let chk = verify_segment(backend, base, is_last, has_index, &mut expected, &mut cx);
        segments.push(chk);
    }
    for &b in &listing.indexes {
        if listing.segments.binary_search(&b).is_err() {
            let name = format::index_name(b);
            cx.add(
                Severity::Info,
                &name,
                None,
                Problem::OrphanIndex,
                format!("{name} has no segment (removed on open)"),
            );
        }
    }
    for t in &listing.tmps {
        cx.add(
            Severity::Info,
            t,
            None,
            Problem::TempFile,
            format!("{t} is a leftover temporary file (removed on open)"),
        );
    }
    for o in &listing.offsets {
        match backend.read_all(o) {
            Ok(bytes) => {
                let want = format::parse_offset_name(o).unwrap_or_default();
                match ConsumerOffset::decode(&bytes) {
                    Ok(off) if off.name == want => {}
                    Ok(off) => cx.add(
                        Severity::Corruption,
                        o,
                        Some(0),
                        Problem::BadOffset {
                            error: StructError::Invalid {
                                what: format!("holds the offset of {:?}", off.name),
                            },
                        },
                        format!("{o} holds the offset of another consumer"),
                    ),
                    Err(e) => cx.add(
                        Severity::Corruption,
                        o,
                        Some(0),
                        Problem::BadOffset { error: e.clone() },
                        format!("{o}: consumer offset damaged: {e}"),
                    ),
                }
            }
            Err(e) => cx.unreadable(o, None, &e),
        }
    }
    let status = if cx
        .findings
        .iter()
        .any(|f| f.severity == Severity::Corruption)
    {
        VerifyStatus::Corrupt
    } else if cx.findings.iter().any(|f| f.severity == Severity::TornTail) {
        VerifyStatus::TornTail
    } else {
        VerifyStatus::Clean
    };
    let first_seq = segments.first().map(|s: &SegmentCheck| s.base_seq);
    let last_seq = segments.iter().rev().find_map(|s| s.last_seq);
    Ok(VerifyReport {
        status,
        records: segments.iter().map(|s| s.records).sum(),
        bytes: segments.iter().map(|s| s.bytes).sum(),
        segments,
        findings: cx.findings,
        first_seq,
        last_seq,
    })
}
