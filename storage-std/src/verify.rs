//! The verifier: checks every record's CRC, sequence continuity within and across
//! segments, headers, footers, indexes and consumer offsets, and reports findings as
//! data. It reads through positioned reads (never maps), takes no lock, never writes,
//! and never panics on any input.
//!
//! It tells a *torn tail* — damage at the end of the last segment no further than that
//! segment's torn window from its end, what a crash leaves and recovery repairs — from
//! *corruption* anywhere else.

use std::sync::Arc;

use crate::backend::{Access, Backend, FileBackend};
use crate::error::{Error, Result};
use crate::format::{
    self, ConsumerOffset, FOOTER_LEN, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, SEGMENT_HEADER_LEN,
    SegmentHeader, StructError, decode_index,
};
use crate::scan::{self, FileSource, IndexBuilder, Source, Stats, Stop};

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
    let listing = crate::segment::list(backend)?;
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
            Err(e) => cx.add(
                Severity::Corruption,
                o,
                None,
                Problem::Unreadable {
                    error: e.to_string(),
                },
                format!("{o}: {e}"),
            ),
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

fn verify_segment(
    backend: &dyn Backend,
    base: u64,
    is_last: bool,
    has_index: bool,
    expected: &mut Option<u64>,
    cx: &mut Ctx,
) -> SegmentCheck {
    let name = format::segment_name(base);
    let mut chk = SegmentCheck {
        name: name.clone(),
        base_seq: base,
        sealed: false,
        records: 0,
        last_seq: None,
        first_ts: None,
        last_ts: None,
        bytes: 0,
        records_end: 0,
        index_entries: 0,
    };
    if let Some(e) = *expected
        && e != base
    {
        cx.add(
            Severity::Corruption,
            &name,
            Some(0),
            Problem::SequenceGap {
                expected: e,
                found: base,
            },
            format!("{name} starts at sequence {base}, but {e} follows the previous segment"),
        );
    }
    let file = match backend.open(&name, Access::Read) {
        Ok(f) => f,
        Err(e) => {
            cx.add(
                Severity::Corruption,
                &name,
                None,
                Problem::Unreadable {
                    error: e.to_string(),
                },
                format!("{name}: {e}"),
            );
            return chk;
        }
    };
    let len = file.len().unwrap_or(0);
    chk.bytes = len;
    let mut src = FileSource::new(&*file, len);
    let header = match src.bytes_at(0, SEGMENT_HEADER_LEN) {
        // In the last segment, a header naming another base is a recycled file whose
        // new header was never written: a torn creation if no record of ours follows.
        Ok(b) => SegmentHeader::decode(b).and_then(|h| {
            if is_last && h.base_seq != base {
                Err(StructError::Invalid {
                    what: format!("header names base {} (not rewritten)", h.base_seq),
                })
            } else {
                Ok(h)
            }
        }),
        Err(e) => {
            cx.add(
                Severity::Corruption,
                &name,
                Some(0),
                Problem::Unreadable {
                    error: e.to_string(),
                },
                format!("{name}: {e}"),
            );
            return chk;
        }
    };
    let header = match header {
        Ok(h) => h,
        Err(e) => {
            // A torn creation of the last segment holds no records; anything else is
            // corruption.
            let beyond = scan::find_beyond(
                &mut src,
                SEGMENT_HEADER_LEN as u64 - 8,
                expected.unwrap_or(base),
            )
            .ok()
            .flatten();
            let version = matches!(e, StructError::UnsupportedVersion { .. });
            let sev = if is_last && beyond.is_none() && !version {
                Severity::TornTail
            } else {
                Severity::Corruption
            };
            let msg = match beyond {
                Some(b) => format!(
                    "{name}: header damaged ({e}); records {}..={} follow",
                    b.min_seq, b.max_seq
                ),
                None => format!("{name}: header damaged ({e})"),
            };
            cx.add(sev, &name, Some(0), Problem::BadHeader { error: e }, msg);
            *expected = None;
            return chk;
        }
    };
    if header.base_seq != base {
        cx.add(
            Severity::Corruption,
            &name,
            Some(0),
            Problem::HeaderMismatch {
                header_base: header.base_seq,
            },
            format!("{name}: header says base {}", header.base_seq),
        );
    }
    let mut st = Stats::default();
    let idx_interval = if has_index {
        backend
            .read_all(&format::index_name(base))
            .ok()
            .and_then(|b| format::IndexHeader::decode(&b).ok())
            .map(|h| h.interval)
    } else {
        None
    };
    let mut ib = IndexBuilder::new(idx_interval.unwrap_or(1));
    let end = match scan::scan(
        &mut src,
        SEGMENT_HEADER_LEN as u64,
        base,
        base,
        &mut st,
        |pos, h| ib.add(h.seq, pos, h.timestamp_ns),
    ) {
        Ok(e) => e,
        Err(e) => {
            cx.add(
                Severity::Corruption,
                &name,
                None,
                Problem::Unreadable {
                    error: e.to_string(),
                },
                format!("{name}: {e}"),
            );
            return chk;
        }
    };
    chk.records = st.count;
    chk.records_end = end.pos;
    chk.last_seq = (st.count > 0).then(|| end.next_seq.wrapping_sub(1));
    chk.first_ts = st.first_ts;
    chk.last_ts = (st.count > 0).then_some(st.last_ts);
    *expected = Some(end.next_seq);

    match &end.stop {
        Stop::Footer(f) => {
            chk.sealed = true;
            let footer_end = end.pos + FOOTER_LEN as u64;
            if footer_end != len {
                // In the last segment, bytes after a valid footer are a seal that a crash
                // interrupted between writing the footer and trimming the file (a backend
                // that writes whole blocks, O_DIRECT, leaves the block's padding there);
                // recovery finishes the seal. Anywhere else they are damage.
                let severity = if is_last && footer_end < len {
                    Severity::TornTail
                } else {
                    Severity::Corruption
                };
                cx.add(
                    severity,
                    &name,
                    Some(footer_end),
                    Problem::TrailingBytes {
                        bytes: len.saturating_sub(footer_end),
                    },
                    format!(
                        "{name}: {} bytes after the footer",
                        len.saturating_sub(footer_end)
                    ),
                );
            }
            let mut diffs = Vec::new();
            if f.record_count != st.count {
                diffs.push(format!("count {} vs {} records", f.record_count, st.count));
            }
            if Some(f.last_seq) != chk.last_seq {
                diffs.push(format!(
                    "last sequence {} vs {:?}",
                    f.last_seq, chk.last_seq
                ));
            }
            if f.first_ts != st.first_ts.unwrap_or(0)
                || f.last_ts != st.last_ts
                || f.max_ts != st.max_ts
            {
                diffs.push("timestamps differ".into());
            }
            if !diffs.is_empty() {
                let detail = diffs.join(", ");
                cx.add(
                    Severity::Corruption,
                    &name,
                    Some(end.pos),
                    Problem::FooterMismatch {
                        detail: detail.clone(),
                    },
                    format!("{name}: footer disagrees with the records: {detail}"),
                );
            }
        }
        stop => {
            let beyond = scan::find_beyond(&mut src, end.pos, end.next_seq)
                .ok()
                .flatten();
            if !is_last {
                let mut found = stop.describe();
                if let Some(b) = beyond {
                    found = format!("{found}, then records {}..={}", b.min_seq, b.max_seq);
                }
                let problem = match stop {
                    Stop::Damage(d) => Problem::BadRecord {
                        error: d.to_string(),
                        expected_seq: end.next_seq,
                    },
                    _ => Problem::MissingFooter {
                        found: found.clone(),
                    },
                };
                cx.add(
                    Severity::Corruption,
                    &name,
                    Some(end.pos),
                    problem,
                    format!(
                        "{name}: records end at offset {} with {found}; a segment before the last must be sealed",
                        end.pos
                    ),
                );
            } else if !(stop.is_clean_end() && beyond.is_none()) {
                let w = header.torn_window;
                let far = beyond.map(|b| b.last_end.saturating_sub(end.pos));
                let corrupt = matches!(far, Some(d) if w != 0 && d > w);
                let sev = if corrupt {
                    Severity::Corruption
                } else {
                    Severity::TornTail
                };
                if let Stop::Damage(d) = stop {
                    cx.add(
                        sev,
                        &name,
                        Some(end.pos),
                        Problem::BadRecord {
                            error: d.to_string(),
                            expected_seq: end.next_seq,
                        },
                        format!(
                            "{name}: {} at offset {} (sequence {} expected){}",
                            d,
                            end.pos,
                            end.next_seq,
                            if corrupt { "" } else { ": torn tail" }
                        ),
                    );
                }
                if let Some(b) = beyond {
                    cx.add(
                        sev,
                        &name,
                        Some(b.first_pos),
                        Problem::RecordsAfterDamage {
                            first_seq: b.min_seq,
                            last_seq: b.max_seq,
                            distance: far.unwrap_or(0),
                            window: w,
                        },
                        if corrupt {
                            format!(
                                "{name}: valid records {}..={} end {} bytes after the damage at {}, beyond the {w}-byte torn window: corruption, not a torn tail",
                                b.min_seq,
                                b.max_seq,
                                far.unwrap_or(0),
                                end.pos
                            )
                        } else {
                            format!(
                                "{name}: records {}..={} after the end of the good records lie within the torn window (unsynced tail)",
                                b.min_seq, b.max_seq
                            )
                        },
                    );
                }
            }
        }
    }
    chk.index_entries = check_index(backend, base, is_last, chk.sealed, has_index, &ib, &end, cx);
    chk
}

#[allow(clippy::too_many_arguments)]
fn check_index(
    backend: &dyn Backend,
    base: u64,
    is_last: bool,
    sealed: bool,
    has_index: bool,
    rebuilt: &IndexBuilder,
    end: &scan::ScanEnd,
    cx: &mut Ctx,
) -> u64 {
    let name = format::index_name(base);
    if !has_index {
        cx.add(
            Severity::Info,
            &name,
            None,
            Problem::MissingIndex,
            format!("{name} is missing (rebuilt from its segment on open)"),
        );
        return 0;
    }
    let bytes = match backend.read_all(&name) {
        Ok(b) => b,
        Err(e) => {
            cx.add(
                Severity::Corruption,
                &name,
                None,
                Problem::Unreadable {
                    error: e.to_string(),
                },
                format!("{name}: {e}"),
            );
            return 0;
        }
    };
    // The active segment's index is appended without syncs: its end may be torn.
    let tail_sev = if is_last && !sealed {
        Severity::TornTail
    } else {
        Severity::Corruption
    };
    let d = match decode_index(&bytes) {
        Ok(d) => d,
        Err(e) => {
            // A header shorter than its length is a torn creation (killed between
            // creating the file and syncing its header): a torn tail in the active
            // segment, whose index recovery rewrites.
            let sev = if bytes.len() < INDEX_HEADER_LEN {
                tail_sev
            } else {
                Severity::Corruption
            };
            cx.add(
                sev,
                &name,
                Some(0),
                Problem::BadIndex {
                    detail: format!("header: {e}"),
                },
                format!("{name}: index header damaged: {e}"),
            );
            return 0;
        }
    };
    if d.header.base_seq != base {
        cx.add(
            Severity::Corruption,
            &name,
            Some(0),
            Problem::BadIndex {
                detail: format!("base {} in the index of {base}", d.header.base_seq),
            },
            format!("{name}: index belongs to segment {}", d.header.base_seq),
        );
        return 0;
    }
    if let Some((off, e)) = &d.stopped {
        let rest = (bytes.len() as u64).saturating_sub(*off);
        let sev = if rest <= INDEX_ENTRY_LEN as u64 {
            tail_sev
        } else {
            Severity::Corruption
        };
        cx.add(
            sev,
            &name,
            Some(*off),
            Problem::BadIndex {
                detail: format!("entry: {e}"),
            },
            format!("{name}: index entry at offset {off} damaged: {e}"),
        );
    }
    // Entries must be exactly the rebuilt ones (sealed) or a prefix of them (active:
    // entries are written only once their records are synced).
    let want = &rebuilt.entries;
    let agree = d.entries.len() <= want.len() && d.entries[..] == want[..d.entries.len()];
    if !agree {
        let k = d
            .entries
            .iter()
            .zip(want.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(d.entries.len()));
        let off = (INDEX_HEADER_LEN + k * INDEX_ENTRY_LEN) as u64;
        // Entries past the good records of a torn last segment are part of the tail.
        let past_end = is_last && !sealed && d.entries[k..].iter().all(|e| e.pos >= end.pos);
        cx.add(
            if past_end {
                Severity::TornTail
            } else {
                Severity::Corruption
            },
            &name,
            Some(off),
            Problem::BadIndex {
                detail: format!("entry {k} disagrees with the segment"),
            },
            format!("{name}: index entry {k} does not match the record it points to"),
        );
    } else if sealed && d.entries.len() != want.len() {
        cx.add(
            Severity::Corruption,
            &name,
            Some(bytes.len() as u64),
            Problem::BadIndex {
                detail: format!(
                    "{} entries, the sealed segment needs {}",
                    d.entries.len(),
                    want.len()
                ),
            },
            format!("{name}: index of a sealed segment is incomplete"),
        );
    }
    d.entries.len() as u64
}
