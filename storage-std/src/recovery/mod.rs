//! Recovery on open (and `ringctl recover`): survey the log ([`crate::state`]), refuse
//! corruption unless forced (changing nothing), then act, in this order:
//!
//! 1. leftovers: temporary files and indexes without a segment are removed;
//! 2. with `force`, corruption: each damaged segment is rebuilt around the damage (its
//!    good records copied byte for byte, each damaged range recorded as a lost range, a
//!    header and footer from the records), stray files leave the log, gaps between
//!    segments are recorded as lost ranges; every file taken out or replaced is kept in
//!    `quarantine/` first, with a report ([`force`]);
//! 3. torn tails: a torn segment creation is removed, the active segment is cut after
//!    its last good record;
//! 4. repairs: bytes after a footer are trimmed, damaged consumer offsets go to
//!    `quarantine/`, indexes are rebuilt;
//! 5. for a writer: the active segment is continued only by a writer with the same torn
//!    window and format version, else sealed ([`active`]); a new one is created if none
//!    is left.
//!
//! The class of what it found ([`RecoveryReport::found`]) is the verifier's class of the
//! same directory, by construction: both come from one survey.

use crate::backend::{Backend, SyncKind};
use crate::clock::now_ns;
use crate::error::{Error, OpCtx, SeqRange};
use crate::format::{self, LostRange};
use crate::segment::{ActiveSeg, SegmentInfo, remove_segment_files, write_index_file};
use crate::state::{self, LogClass, Severity, Survey, SurveyOpts, Verdict};

mod active;
mod force;

/// Why bytes were cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CutKind {
    /// The unsynced end of the last segment (what a crash leaves).
    TornTail,
    /// Damage that is not a torn tail, taken out because `force` was given.
    Forced,
}

/// One cut made by recovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cut {
    /// The segment file.
    pub file: String,
    /// Where the good records end (the file now ends here), or where the damage starts
    /// (forced).
    pub offset: u64,
    /// Bytes removed from this file.
    pub bytes_cut: u64,
    /// Torn tail or forced.
    pub kind: CutKind,
    /// What was found at the cut.
    pub reason: String,
    /// Sequences that were present as valid records and are gone from the log now. For a
    /// torn tail these were never synced by this log's writer; for a forced cut they are
    /// recorded as lost ranges, and their bytes are in `quarantine/`.
    pub lost: Option<SeqRange>,
}

/// What recovery found and did.
///
/// A clean open cuts nothing. A crash leaves at most a torn tail: the unsynced end of the
/// last segment, cut on open ([`CutKind::TornTail`]); its `lost` range (if any) holds
/// only sequences that were never reported durable. Damage to synced bytes makes open
/// refuse ([`Error::Corrupt`], [`Error::NeedsForce`]) unless `force` is set; then nothing
/// is deleted: damaged ranges become lost ranges in the log ([`RecoveryReport::holes`])
/// and the files taken out are in `quarantine/`.
///
/// ```
/// use storage_std::backend::{Backend, MemBackend};
/// use storage_std::format::{END_MARK, segment_name};
/// use storage_std::{CutKind, Durability, LogClass, Writer, WriterOptions};
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
/// assert_eq!(report.found, LogClass::TornTail);
/// assert_eq!(report.cuts.len(), 1);
/// assert_eq!(report.cuts[0].kind, CutKind::TornTail);
/// assert_eq!(report.cuts[0].bytes_cut, 40);
/// assert_eq!(report.lost(), None, "no valid record was cut: nothing durable is lost");
/// assert_eq!(report.next_seq, 10);
/// assert_eq!(w.next_seq(), 10);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The class of what recovery found: the verifier's class of the same directory.
    pub found: LogClass,
    /// Segment files after recovery.
    pub segments: usize,
    /// The sequence the next append gets.
    pub next_seq: u64,
    /// Cuts made (empty on a clean open).
    pub cuts: Vec<Cut>,
    /// Files removed: temporary files, orphan indexes, segments whose creation was torn,
    /// stray files (kept in `quarantine/`).
    pub removed: Vec<String>,
    /// Index files rebuilt from their segments.
    pub rebuilt_indexes: Vec<String>,
    /// Segment files rewritten by `force` around damage (the originals are in
    /// `quarantine/`).
    pub rebuilt_segments: Vec<String>,
    /// Segments whose trailing bytes after the footer were trimmed.
    pub trimmed: Vec<String>,
    /// Ranges recorded as lost by `force` (damaged records, missing segments).
    pub holes: Vec<LostRange>,
    /// Names of the files put in `quarantine/`.
    pub quarantined: Vec<String>,
    /// A segment sealed at open (a writer with another torn window or an older format
    /// had written it).
    pub sealed_on_open: Option<String>,
    /// Where the tail scan started: the segment and the record position of the last good
    /// index entry (the segment's first record if none).
    pub scanned_from: Option<(String, u64)>,
}

json_text_form!(RecoveryReport, "recovery report");

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

    /// Whether recovery changed anything.
    pub fn changed_anything(&self) -> bool {
        !(self.cuts.is_empty()
            && self.removed.is_empty()
            && self.rebuilt_indexes.is_empty()
            && self.rebuilt_segments.is_empty()
            && self.trimmed.is_empty()
            && self.holes.is_empty()
            && self.quarantined.is_empty()
            && self.sealed_on_open.is_none())
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

/// One run of recovery.
pub(crate) struct Recovery<'a> {
    backend: &'a dyn Backend,
    opts: &'a RecoverOpts,
    report: RecoveryReport,
    survey: Survey,
    now: u64,
}

/// Recovers the log for a writer and returns the state it continues from.
pub(crate) fn recover(backend: &dyn Backend, opts: &RecoverOpts) -> Result<Recovered, Error> {
    let mut run = Recovery::start(backend, opts)?;
    run.act()?;
    let (sealed, active) = run.open_writer()?;
    run.report.segments = sealed.len() + 1;
    run.report.next_seq = active.next_seq;
    trace_event!(tracing::Level::INFO, found = ?run.report.found, segments = run.report.segments, next_seq = run.report.next_seq, cuts = run.report.cuts.len(), holes = run.report.holes.len(), "log recovered");
    Ok(Recovered {
        sealed,
        active,
        report: run.report,
    })
}

/// [`repair`] under the writer's lock, with the settings of `ringctl recover`: every
/// record checked.
pub(crate) fn repair_locked(backend: &dyn Backend, force: bool) -> Result<RecoveryReport, Error> {
    let _lock = crate::backend::lock_patiently(backend)?;
    repair(
        backend,
        &RecoverOpts {
            force,
            deep: true,
            first_seq: 0,
            index_interval: 64 << 10,
            window: 0,
            preallocate: None,
        },
    )
}

/// Recovers the log without continuing it (`ringctl recover`): what a writer's open
/// does up to (not including) sealing or creating a segment.
pub(crate) fn repair(backend: &dyn Backend, opts: &RecoverOpts) -> Result<RecoveryReport, Error> {
    let mut run = Recovery::start(backend, opts)?;
    run.act()?;
    run.finish_active_in_place()?;
    let after = state::survey(
        backend,
        &SurveyOpts {
            deep: false,
            index_interval: opts.index_interval,
            live: None,
        },
    )?;
    run.report.segments = after.segs.len();
    run.report.next_seq = after.next_seq(opts.first_seq);
    Ok(run.report)
}

impl<'a> Recovery<'a> {
    /// Surveys the log; refuses corruption without `force` (nothing changed then).
    fn start(backend: &'a dyn Backend, opts: &'a RecoverOpts) -> Result<Self, Error> {
        let survey = state::survey(
            backend,
            &SurveyOpts {
                deep: opts.deep,
                index_interval: opts.index_interval,
                live: None,
            },
        )?;
        let found = survey.class();
        if found == LogClass::Corruption && !opts.force {
            return Err(refusal(&survey));
        }
        Ok(Self {
            backend,
            opts,
            report: RecoveryReport {
                found,
                ..RecoveryReport::default()
            },
            survey,
            now: now_ns(),
        })
    }

    /// Phases 1 to 4 (see the module docs).
    fn act(&mut self) -> Result<(), Error> {
        self.remove_leftovers()?;
        if self.opts.force {
            self.take_out_corruption()?;
        }
        self.cut_torn()?;
        self.repair_derived()?;
        Ok(())
    }

    /// Phase 1.
    fn remove_leftovers(&mut self) -> Result<(), Error> {
        let mut names: Vec<String> = self.survey.listing.tmps.clone();
        names.extend(
            self.survey
                .orphan_indexes
                .iter()
                .map(|&b| format::index_name(b)),
        );
        for n in &names {
            self.backend.remove(n).op("remove", n)?;
            self.report.removed.push(n.clone());
        }
        if !names.is_empty() {
            self.backend.sync_dir().op("sync_dir", "log directory")?;
        }
        Ok(())
    }

    /// Phase 3: torn creations removed, the torn tail of the active segment cut. What
    /// goes is kept in `quarantine/` first (a torn creation whole, a cut tail's bytes up
    /// to the last valid record after it): bytes a crash left unsynced are junk, but a
    /// flipped bit inside the last group looks the same, and nothing is ever deleted.
    fn cut_torn(&mut self) -> Result<(), Error> {
        for i in 0..self.survey.segs.len() {
            let v = self.survey.segs[i].clone();
            match &v.verdict {
                Verdict::TornCreation => {
                    let kept = crate::quarantine::keep(self.backend, &v.name, self.now)?;
                    crate::quarantine::report(
                        self.backend,
                        &crate::quarantine::QuarantineEntry {
                            recovered_ns: self.now,
                            file: v.name.clone(),
                            quarantined_as: kept.clone(),
                            reason: "torn segment creation (no header, no record)".into(),
                            damaged: Vec::new(),
                            lost: Vec::new(),
                        },
                    )?;
                    remove_segment_files(self.backend, v.base)?;
                    self.backend.sync_dir().op("sync_dir", "log directory")?;
                    self.report.quarantined.push(kept);
                    self.report.removed.push(v.name.clone());
                }
                Verdict::Torn { at, reason, lost } => {
                    let beyond_end = v
                        .scan
                        .as_ref()
                        .and_then(|sc| sc.beyond)
                        .map_or(0, |b| b.last_end);
                    let end = beyond_end.max((at + 4096).min(v.len)).min(v.len);
                    let kept =
                        crate::quarantine::keep_range(self.backend, &v.name, *at..end, self.now)?;
                    crate::quarantine::report(
                        self.backend,
                        &crate::quarantine::QuarantineEntry {
                            recovered_ns: self.now,
                            file: v.name.clone(),
                            quarantined_as: kept.clone(),
                            reason: format!("torn tail: {reason}"),
                            damaged: vec![crate::quarantine::ByteRange {
                                offset: *at,
                                len: end - at,
                            }],
                            lost: Vec::new(),
                        },
                    )?;
                    self.report.quarantined.push(kept);
                    let mut f = self
                        .backend
                        .open(&v.name, crate::backend::Access::ReadWrite)
                        .op("open", &v.name)?;
                    f.set_len(*at).op("set_len", &v.name)?;
                    f.sync(SyncKind::All).op("sync", &v.name)?;
                    self.report.cuts.push(Cut {
                        file: v.name.clone(),
                        offset: *at,
                        bytes_cut: v.len - at,
                        kind: CutKind::TornTail,
                        reason: reason.clone(),
                        lost: *lost,
                    });
                    self.survey.segs[i].len = *at;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Phase 4: trims, damaged offsets, stale indexes of sealed segments.
    fn repair_derived(&mut self) -> Result<(), Error> {
        for i in 0..self.survey.segs.len() {
            let v = self.survey.segs[i].clone();
            if let Verdict::Trailing { footer_end } = v.verdict {
                let mut f = self
                    .backend
                    .open(&v.name, crate::backend::Access::ReadWrite)
                    .op("open", &v.name)?;
                f.set_len(footer_end).op("set_len", &v.name)?;
                f.sync(SyncKind::All).op("sync", &v.name)?;
                self.report.trimmed.push(v.name.clone());
                self.survey.segs[i].len = footer_end;
                self.survey.segs[i].verdict = Verdict::Sealed;
            }
            let sealed = matches!(self.survey.segs[i].verdict, Verdict::Sealed);
            if sealed && v.index_stale {
                self.rebuild_index(i)?;
            }
        }
        let bad: Vec<String> = self.survey.bad_offsets.clone();
        for o in bad {
            let kept = crate::quarantine::keep(self.backend, &o, self.now)?;
            crate::quarantine::report(
                self.backend,
                &crate::quarantine::QuarantineEntry {
                    recovered_ns: self.now,
                    file: o.clone(),
                    quarantined_as: kept.clone(),
                    reason: "consumer offset damaged".into(),
                    damaged: Vec::new(),
                    lost: Vec::new(),
                },
            )?;
            self.backend.remove(&o).op("remove", &o)?;
            self.backend.sync_dir().op("sync_dir", "log directory")?;
            self.report.quarantined.push(kept);
            self.report.removed.push(o);
        }
        Ok(())
    }

    /// Rewrites the index of segment `segs[i]` from its records.
    fn rebuild_index(&mut self, i: usize) -> Result<(), Error> {
        let v = &self.survey.segs[i];
        let entries = match &v.scan {
            Some(sc) if sc.full => sc.index.entries.clone(),
            _ => force::index_of(self.backend, v)?,
        };
        write_index_file(self.backend, v.base, v.interval, &entries)?;
        self.report.rebuilt_indexes.push(format::index_name(v.base));
        Ok(())
    }
}

/// The error that refuses corruption without `force`: the first corruption found.
fn refusal(survey: &Survey) -> Error {
    for v in &survey.segs {
        if let Verdict::Corrupt {
            at,
            why,
            beyond_window: Some(lost),
        } = &v.verdict
        {
            let (window, distance) = v
                .scan
                .as_ref()
                .and_then(|s| s.beyond.map(|b| (b.distance_from(*at), v.header)))
                .map_or((0, 0), |(d, h)| (h.map_or(0, |h| h.torn_window), d));
            return Error::NeedsForce {
                file: v.name.clone(),
                offset: *at,
                detail: why.clone(),
                distance,
                window,
                lost: *lost,
            };
        }
    }
    let f = survey
        .findings
        .iter()
        .find(|f| f.severity == Severity::Corruption);
    match f {
        Some(f) => Error::Corrupt {
            file: f.file.clone(),
            offset: f.offset.unwrap_or(0),
            detail: f.message.clone(),
        },
        None => Error::Corrupt {
            file: "log directory".into(),
            offset: 0,
            detail: "corruption".into(),
        },
    }
}
