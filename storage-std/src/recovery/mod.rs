//! Recovery on open: find the good prefix of the log, cut a torn tail, refuse (or, with
//! `force`, cut) damage that is not a torn tail, rebuild indexes, and hand the writer the
//! segment to continue in.
//!
//! [`recover`] runs in named phases, each a function with its own result type:
//!
//! 1. [`Recovery::remove_leftovers`]: temporary files and indexes without a segment;
//! 2. [`Recovery::walk`]: every segment in order: the ones before the last must be sealed
//!    and contiguous ([`sealed`]), the last one is sealed, a torn creation, or the active
//!    segment whose tail is scanned and cut ([`tail`]); the walk ends in a [`LogEnd`];
//! 3. [`Recovery::fit_torn_window`]: an active segment written with a smaller torn window
//!    than the new writer's is sealed (or removed if empty);
//! 4. [`Recovery::open_active`]: the segment the writer appends to, created if needed.
//!
//! Every decision about a damaged tail uses [`crate::scan::judge_tail`], the rule the
//! verifier applies too.

use crate::backend::Backend;
use crate::clock::now_ns;
use crate::error::{Error, OpCtx, SeqRange};
use crate::format;
use crate::segment::{
    self, ActiveSeg, Listing, NewSegment, SegmentInfo, create_segment, remove_segment_files,
};

mod sealed;
mod tail;

/// Why bytes were cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutKind {
    /// The unsynced end of the last segment (what a crash leaves).
    TornTail,
    /// Damage that is not a torn tail, cut because `force` was given.
    Forced,
}

/// One cut made by recovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cut {
    /// The segment file.
    pub file: String,
    /// Where the good records end (the file now ends here, or was removed if 0).
    pub offset: u64,
    /// Bytes removed from this file.
    pub bytes_cut: u64,
    /// Torn tail or forced.
    pub kind: CutKind,
    /// What was found at the cut.
    pub reason: String,
    /// Sequences that were present as valid records (or in later segments) and are gone
    /// now. For a torn tail these were never synced by this log's writer.
    pub lost: Option<SeqRange>,
}

/// What recovery found and did.
///
/// A clean open cuts nothing. A crash leaves at most a torn tail: the unsynced end of the
/// last segment, cut on open ([`CutKind::TornTail`]); its `lost` range (if any) holds
/// only sequences that were never reported durable. Damage to synced bytes makes open
/// refuse ([`Error::Corrupt`], [`Error::NeedsForce`]) unless `force` is set, in which case
/// the cut is [`CutKind::Forced`] and `lost` says exactly which sequences went.
///
/// ```
/// use storage_std::backend::{Backend, MemBackend};
/// use storage_std::format::{END_MARK, segment_name};
/// use storage_std::{CutKind, Durability, Writer, WriterOptions};
/// use std::sync::Arc;
/// let mem = MemBackend::new();
/// let b: Arc<dyn Backend> = Arc::new(mem.clone());
/// let w: Writer = Writer::open_with(b.clone(), WriterOptions::new(Durability::Sync)).unwrap();
/// let last = (0..10u8).map(|i| w.append(&[i; 100]).unwrap()).last().unwrap();
/// assert_eq!(w.durable_seq(), Some(last));
/// w.close().unwrap();
/// // A crash while the next record was written: 40 of its bytes, garbage, replace the
/// // zeroed end mark after the last record.
/// let mut bytes = mem.file_bytes(&segment_name(0)).unwrap();
/// bytes.truncate(bytes.len() - END_MARK.len());
/// bytes.extend_from_slice(&[0xAB; 40]);
/// mem.put_file(&segment_name(0), bytes);
///
/// let w: Writer = Writer::open_with(b.clone(), WriterOptions::new(Durability::Sync)).unwrap();
/// let report = w.recovery();
/// assert_eq!(report.cuts.len(), 1);
/// assert_eq!(report.cuts[0].kind, CutKind::TornTail);
/// assert_eq!(report.cuts[0].bytes_cut, 40);
/// assert_eq!(report.lost(), None, "no valid record was cut: nothing durable is lost");
/// assert_eq!(report.next_seq, 10);
/// assert_eq!(w.next_seq(), 10);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Segment files after recovery.
    pub segments: usize,
    /// The sequence the next append gets.
    pub next_seq: u64,
    /// Cuts made (empty on a clean open).
    pub cuts: Vec<Cut>,
    /// Files removed: temporary files, orphan indexes, segments whose creation was torn,
    /// segments dropped by a forced cut.
    pub removed: Vec<String>,
    /// Index files rebuilt from their segments.
    pub rebuilt_indexes: Vec<String>,
    /// A segment sealed at open (the durability setting grew the torn window).
    pub sealed_on_open: Option<String>,
    /// Where the tail scan started: the segment and the record position of the last good
    /// index entry (the segment's first record if none).
    pub scanned_from: Option<(String, u64)>,
}

impl RecoveryReport {
    /// Whether any cut was made.
    pub fn cut_anything(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// The union of all lost sequence ranges.
    pub fn lost(&self) -> Option<SeqRange> {
        self.cuts
            .iter()
            .filter_map(|c| c.lost)
            .reduce(|a, b| SeqRange {
                first: a.first.min(b.first),
                last: a.last.max(b.last),
            })
    }
}

/// Recovery settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecoverOpts {
    pub force: bool,
    pub deep: bool,
    pub first_seq: u64,
    pub index_interval: u32,
    /// The torn window of the writer that will continue (0 = unbounded).
    pub window: u64,
    pub preallocate: Option<u64>,
}

/// The state the writer continues from.
pub(crate) struct Recovered {
    pub sealed: Vec<SegmentInfo>,
    pub active: ActiveSeg,
    pub report: RecoveryReport,
}

/// Where the segments that survive recovery end.
enum LogEnd {
    /// The last segment is active: the writer continues in it (boxed: the other variant
    /// is one word, and a log end is made once per open).
    Active(Box<ActiveSeg>),
    /// No active segment survives: the log ends after the sealed segments kept so far; a
    /// new segment follows the last of them, or starts at `next_seq` if none is left.
    Sealed { next_seq: u64 },
}

/// One run of recovery: what it keeps and reports as the phases go.
struct Recovery<'a> {
    backend: &'a dyn Backend,
    opts: &'a RecoverOpts,
    report: RecoveryReport,
    /// Sealed segments kept, oldest first.
    sealed: Vec<SegmentInfo>,
}

/// Runs recovery and returns the state the writer continues from.
pub(crate) fn recover(backend: &dyn Backend, opts: &RecoverOpts) -> Result<Recovered, Error> {
    let mut run = Recovery {
        backend,
        opts,
        report: RecoveryReport::default(),
        sealed: Vec::new(),
    };
    let listing = segment::list(backend)?;
    run.remove_leftovers(&listing)?;
    let end = run.walk(&listing)?;
    let end = run.fit_torn_window(end)?;
    let active = run.open_active(end)?;
    run.report.segments = run.sealed.len() + 1;
    run.report.next_seq = active.next_seq;
    Ok(Recovered {
        sealed: run.sealed,
        active,
        report: run.report,
    })
}

/// The sequences from `first` to `max`, if any.
fn lost(first: u64, max: Option<u64>) -> Option<SeqRange> {
    max.filter(|&m| m >= first)
        .map(|last| SeqRange { first, last })
}

impl Recovery<'_> {
    /// Phase 1: removes temporary files and indexes whose segment is gone.
    fn remove_leftovers(&mut self, listing: &Listing) -> Result<(), Error> {
        let mut dir_dirty = false;
        for t in &listing.tmps {
            self.backend.remove(t).op("remove", t)?;
            self.report.removed.push(t.clone());
            dir_dirty = true;
        }
        for b in &listing.indexes {
            if listing.segments.binary_search(b).is_err() {
                let n = format::index_name(*b);
                self.backend.remove(&n).op("remove", &n)?;
                self.report.removed.push(n);
                dir_dirty = true;
            }
        }
        if dir_dirty {
            self.backend.sync_dir().op("sync_dir", "log directory")?;
        }
        Ok(())
    }

    /// Phase 2: checks every segment in order and ends where the log ends.
    fn walk(&mut self, listing: &Listing) -> Result<LogEnd, Error> {
        let bases = &listing.segments;
        let mut expected: Option<u64> = None;
        for (i, &base) in bases.iter().enumerate() {
            if let Some(e) = expected
                && base != e
            {
                return self.cut_at_gap(bases, i, e);
            }
            let has_index = listing.indexes.binary_search(&base).is_ok()
                && segment::load_index(self.backend, base).is_some();
            if i + 1 == bases.len() {
                return self.recover_last(bases, expected, has_index);
            }
            match self.check_sealed_segment(bases, i, has_index)? {
                sealed::SealedStep::Keep(info) => {
                    expected = info.last_seq.map(|l| l.wrapping_add(1));
                    self.sealed.push(info);
                }
                sealed::SealedStep::Cut { next_seq } => return Ok(LogEnd::Sealed { next_seq }),
            }
        }
        Ok(LogEnd::Sealed {
            next_seq: self.opts.first_seq,
        })
    }

    /// Phase 3: the torn window is recorded per segment, so a writer continues the
    /// active segment only if its own window is the same: with a wider one, recovery of
    /// that segment would mistake its longer torn tails for damage; with a narrower one,
    /// it would call torn what the older writer had synced. A segment of a `None` writer
    /// (window 0: everything since its creation may be unsynced) is never continued
    /// either: what survived its writer is sealed, so no later writer's durable records
    /// share a segment with bytes that count as unsynced. The segment is sealed, or
    /// removed if it holds no record.
    fn fit_torn_window(&mut self, end: LogEnd) -> Result<LogEnd, Error> {
        let LogEnd::Active(mut a) = end else {
            return Ok(end);
        };
        let old = a.header.torn_window;
        if old != 0 && old == self.opts.window {
            return Ok(LogEnd::Active(a));
        }
        if a.stats.count > 0 {
            let info = a.seal(now_ns())?;
            self.report.sealed_on_open = Some(info.name.clone());
            self.sealed.push(info);
            return Ok(LogEnd::Sealed {
                next_seq: a.next_seq,
            });
        }
        let base = a.base();
        drop(a);
        remove_segment_files(self.backend, base)?;
        self.backend.sync_dir().op("sync_dir", "log directory")?;
        self.report.removed.push(format::segment_name(base));
        Ok(LogEnd::Sealed { next_seq: base })
    }

    /// Phase 4: the segment the writer appends to: the surviving active one, or a new one
    /// after the last sealed segment.
    fn open_active(&mut self, end: LogEnd) -> Result<ActiveSeg, Error> {
        let next_seq = match end {
            LogEnd::Active(a) => return Ok(*a),
            LogEnd::Sealed { next_seq } => next_seq,
        };
        let base = self
            .sealed
            .last()
            .and_then(|s| s.last_seq)
            .map_or(next_seq, |l| l.wrapping_add(1));
        Ok(create_segment(
            self.backend,
            NewSegment {
                base_seq: base,
                created_ns: now_ns(),
                torn_window: self.opts.window,
                index_interval: self.opts.index_interval,
                preallocate: self.opts.preallocate,
            },
        )?)
    }
}
