//! The one definition of a log's state, shared by open and recovery, the verifier and
//! the readers: [`survey`] walks a directory and says, for every file, what it holds and
//! what is wrong with it, each finding in one of four classes ([`LogClass`]): clean;
//! torn tail (only bytes that were never synced can be damaged); repairable (derived
//! files, an unfinished trim); corruption (damage to synced bytes).
//!
//! The rules, in one place:
//!
//! * A segment is **sealed** when a valid footer of its own ends its records; it must
//!   then hold exactly what the footer says. Every segment but the last must be sealed.
//!   Damage in a sealed segment is corruption, wherever it lies (the last one included:
//!   its records were synced before its footer was written). Bytes after the footer are
//!   an unfinished trim: repairable.
//! * The last segment without a footer is the **active** one. Its records end at the end
//!   of the file, at an all-zero record header, or at a leftover of a recycled file; any
//!   other end is judged by [`judge_tail`]: damage with valid records no further than the
//!   segment's torn window after it (or none) is a torn tail, anything else corruption.
//!   A last segment whose header never reached the disk and that holds nothing of the
//!   log is a torn creation (torn tail); a damaged header with records after it is
//!   corruption.
//! * On a **live** log (a writer holds the lock and has published its durable point),
//!   bytes past that point are not written yet: they are not judged at all; bad bytes
//!   before it are corruption.
//! * Consecutive segments are contiguous. A gap is corruption (records are missing);
//!   a file that starts inside what earlier segments hold, or holds nothing of the log,
//!   is a stray file (corruption, which `recover --force` moves to `quarantine/`).
//! * Index files are derived: a missing, damaged or disagreeing index is repairable; in
//!   the active segment (appended without syncs) a damaged or missing tail of it is torn.
//!   Damaged consumer offsets are repairable (moved to `quarantine/`; the consumer
//!   starts over). Temporary files and orphan indexes are leftovers (clean).
//! * A file that cannot be read is an I/O error, never a finding: the caller fails
//!   (exit 2) instead of guessing.

use std::io;

use crate::backend::{Access, Backend, BackendFile};
use crate::error::{Error, SeqRange};
use crate::format::{
    self, ConsumerOffset, DurablePoint, FOOTER_LEN, FORMAT_VERSION, SEGMENT_HEADER_LEN,
    SegmentFooter, SegmentHeader, StructError,
};
use crate::scan::{
    self, Beyond, FileSource, IndexBuilder, ScanEnd, Source, Stats, Stop, TailJudgement, judge_tail,
};
use crate::segment::{self, Listing};

mod findings;
mod index;

pub use findings::{Finding, LogClass, Problem, Severity, class_of};

/// How deep a survey looks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SurveyOpts {
    /// Scan every record of every segment and compare every index with its rebuild; a
    /// shallow survey (a writer's open) trusts sealed segments whose header, footer and
    /// index check out, and scans the active one from its last good index entry.
    pub deep: bool,
    /// Bytes between index entries, for indexes that must be rebuilt.
    pub index_interval: u32,
    /// A writer holds the lock and published this durable point: judge nothing past it.
    pub live: Option<DurablePoint>,
}

/// What the survey decided about one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Sealed and intact (or, shallow, its header, footer and index check out).
    Sealed,
    /// Sealed, with bytes after its footer: trim them (repairable).
    Trailing { footer_end: u64 },
    /// The active segment, ending cleanly.
    Active,
    /// The active segment of a live log, checked up to `checked_to`.
    Live { checked_to: u64 },
    /// The active segment with a torn tail: cut at `at`.
    Torn {
        at: u64,
        reason: String,
        lost: Option<SeqRange>,
    },
    /// A last segment whose creation was torn: it holds nothing; remove it.
    TornCreation,
    /// Damage to synced bytes: only `recover --force` changes it (rebuilds the segment
    /// around the damage, recording lost ranges).
    Corrupt {
        at: u64,
        why: String,
        /// For the active segment judged beyond its torn window: the records at risk.
        beyond_window: Option<SeqRange>,
    },
    /// A file that holds nothing of the log where it lies: `recover --force` moves it to
    /// `quarantine/`.
    Stray { why: String },
}

impl Verdict {
    /// Whether the file stays the log's active segment.
    pub(crate) fn is_active(&self) -> bool {
        matches!(self, Self::Active | Self::Live { .. } | Self::Torn { .. })
    }
}

/// The scan of a segment's records.
#[derive(Debug, Clone)]
pub(crate) struct SegScan {
    /// Where the scan started, and whether that was the first record.
    pub from: u64,
    pub full: bool,
    pub end: ScanEnd,
    pub stats: Stats,
    pub index: IndexBuilder,
    pub beyond: Option<Beyond>,
    /// Lost ranges the scan passed (format 2).
    pub lost: Vec<SeqRange>,
}

/// One segment file as the survey sees it.
#[derive(Debug, Clone)]
pub(crate) struct SegView {
    pub base: u64,
    pub name: String,
    pub len: u64,
    pub header: Option<SegmentHeader>,
    /// The header's format version (the newest when the header is damaged).
    pub version: u32,
    /// A valid footer of this segment that ends the file.
    pub footer_at_end: Option<SegmentFooter>,
    pub scan: Option<SegScan>,
    pub verdict: Verdict,
    /// The interval its index uses (or will).
    pub interval: u32,
    /// Whether recovery must rewrite its index (missing, damaged or stale).
    pub index_stale: bool,
    /// The sequence after it, when known.
    pub next_seq: Option<u64>,
}

/// Sequences missing between two segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub from: u64,
    pub to: u64,
    /// The segment (index into [`Survey::segs`]) that starts after the gap.
    pub before: usize,
}

/// What a survey found.
#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub listing: Listing,
    pub segs: Vec<SegView>,
    pub gaps: Vec<Gap>,
    pub findings: Vec<Finding>,
    pub orphan_indexes: Vec<u64>,
    pub bad_offsets: Vec<String>,
}

impl Survey {
    /// The log's class: the worst finding's.
    pub(crate) fn class(&self) -> LogClass {
        class_of(&self.findings)
    }

    /// The sequence after the last one the log holds (or `first` for an empty log).
    pub(crate) fn next_seq(&self, first: u64) -> u64 {
        self.segs
            .iter()
            .rev()
            .find_map(|s| s.next_seq)
            .unwrap_or(first)
    }
}

pub(crate) struct Ctx {
    pub findings: Vec<Finding>,
}

impl Ctx {
    pub(crate) fn add(
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

fn read_err<'a>(op: &'static str, file: &'a str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(op, file, e)
}

/// Surveys the log on `backend`. Fails only on I/O errors (a file that cannot be read)
/// and on files of a format version this build does not read; everything else is a
/// finding.
pub(crate) fn survey(backend: &dyn Backend, opts: &SurveyOpts) -> Result<Survey, Error> {
    let listing = segment::list(backend)?;
    let mut cx = Ctx {
        findings: Vec::new(),
    };
    let mut segs: Vec<SegView> = Vec::with_capacity(listing.segments.len());
    let mut gaps = Vec::new();
    let mut expected: Option<u64> = None;
    let n = listing.segments.len();
    for (i, &base) in listing.segments.iter().enumerate() {
        if let Some(live) = opts.live
            && base > live.segment
        {
            // Created after the published point: in flight, not judged.
            segs.push(in_flight(backend, base)?);
            continue;
        }
        let is_last = i + 1 == n;
        let name = format::segment_name(base);
        if let Some(e) = expected {
            if base > e {
                cx.add(
                    Severity::Corruption,
                    &name,
                    Some(0),
                    Problem::SequenceGap {
                        expected: e,
                        found: base,
                    },
                    format!(
                        "{name} starts at sequence {base}, but {e} follows the previous \
                         segment: sequences {e}..={} are missing",
                        base - 1
                    ),
                );
                gaps.push(Gap {
                    from: e,
                    to: base - 1,
                    before: segs.len(),
                });
            } else if base < e {
                let why = format!(
                    "starts at sequence {base}, inside what the segments before it hold \
                     (up to {})",
                    e - 1
                );
                segs.push(stray(backend, base, &why, &mut cx)?);
                continue;
            }
        }
        let has_index = listing.indexes.binary_search(&base).is_ok();
        let view = survey_segment(backend, base, &Place { is_last, has_index }, opts, &mut cx)?;
        if !matches!(view.verdict, Verdict::Stray { .. } | Verdict::TornCreation) {
            expected = view.next_seq.or(expected);
        }
        segs.push(view);
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
    let bad_offsets = check_offsets(backend, &listing, &mut cx)?;
    let quarantined = backend
        .list_quarantine()
        .map_err(read_err("list", format::QUARANTINE_DIR))?;
    if !quarantined.is_empty() {
        cx.add(
            Severity::Info,
            format::QUARANTINE_DIR,
            None,
            Problem::Quarantine {
                files: quarantined.len() as u64,
            },
            format!(
                "{}/ holds {} files that earlier recoveries took out of the log \
                 (`ringctl replay --quarantine`)",
                format::QUARANTINE_DIR,
                quarantined.len()
            ),
        );
    }
    let orphan_indexes = listing
        .indexes
        .iter()
        .copied()
        .filter(|b| listing.segments.binary_search(b).is_err())
        .collect();
    Ok(Survey {
        listing,
        segs,
        gaps,
        findings: cx.findings,
        orphan_indexes,
        bad_offsets,
    })
}

/// Damaged consumer offset files (repairable: recovery moves them to quarantine).
fn check_offsets(
    backend: &dyn Backend,
    listing: &Listing,
    cx: &mut Ctx,
) -> Result<Vec<String>, Error> {
    let mut bad = Vec::new();
    for o in &listing.offsets {
        let bytes = backend.read_all(o).map_err(read_err("read", o))?;
        let want = format::parse_offset_name(o).unwrap_or_default();
        let error = match ConsumerOffset::decode(&bytes) {
            Ok(off) if off.name == want => continue,
            Ok(off) => StructError::Invalid {
                what: format!("holds the offset of {:?}", off.name),
            },
            Err(e) => e,
        };
        cx.add(
            Severity::Repairable,
            o,
            Some(0),
            Problem::BadOffset {
                error: error.clone(),
            },
            format!(
                "{o}: consumer offset damaged ({error}); recovery moves it to {}/ and the \
                 consumer starts over",
                format::QUARANTINE_DIR
            ),
        );
        bad.push(o.clone());
    }
    Ok(bad)
}

/// A segment created after a live writer's published point: not judged.
fn in_flight(backend: &dyn Backend, base: u64) -> Result<SegView, Error> {
    let name = format::segment_name(base);
    let f = backend
        .open(&name, Access::Read)
        .map_err(read_err("open", &name))?;
    let len = f.len().map_err(read_err("stat", &name))?;
    Ok(SegView {
        base,
        name,
        len,
        header: None,
        version: FORMAT_VERSION,
        footer_at_end: None,
        scan: None,
        verdict: Verdict::Live { checked_to: 0 },
        interval: 1,
        index_stale: false,
        next_seq: None,
    })
}

/// A file that starts inside what earlier segments hold.
fn stray(backend: &dyn Backend, base: u64, why: &str, cx: &mut Ctx) -> Result<SegView, Error> {
    let name = format::segment_name(base);
    let f = backend
        .open(&name, Access::Read)
        .map_err(read_err("open", &name))?;
    let len = f.len().map_err(read_err("stat", &name))?;
    cx.add(
        Severity::Corruption,
        &name,
        Some(0),
        Problem::StrayFile {
            why: why.to_owned(),
        },
        format!("{name} {why}: a stray, duplicated or renamed file"),
    );
    Ok(SegView {
        base,
        name,
        len,
        header: None,
        version: FORMAT_VERSION,
        footer_at_end: None,
        scan: None,
        verdict: Verdict::Stray {
            why: why.to_owned(),
        },
        interval: 1,
        index_stale: false,
        next_seq: None,
    })
}

/// Where a segment lies in the log.
pub(crate) struct Place {
    pub is_last: bool,
    pub has_index: bool,
}

/// A valid footer of segment `base` that ends a file of `len` bytes.
fn footer_ending(src: &mut dyn Source, len: u64, base: u64) -> io::Result<Option<SegmentFooter>> {
    let min = (SEGMENT_HEADER_LEN + FOOTER_LEN) as u64;
    if len < min {
        return Ok(None);
    }
    scan::footer_at(src, len - FOOTER_LEN as u64, base)
}

/// Surveys one segment file.
fn survey_segment(
    backend: &dyn Backend,
    base: u64,
    at: &Place,
    opts: &SurveyOpts,
    cx: &mut Ctx,
) -> Result<SegView, Error> {
    let name = format::segment_name(base);
    let file = backend
        .open(&name, Access::Read)
        .map_err(read_err("open", &name))?;
    let len = file.len().map_err(read_err("stat", &name))?;
    let live = opts.live.filter(|l| l.segment == base);
    // On a live log, bytes past the published point are not written yet.
    let limit = live.map_or(len, |l| l.records_end.min(len));
    let mut src = FileSource::new(&*file as &dyn BackendFile, len);
    let header = src
        .bytes_at(0, SEGMENT_HEADER_LEN)
        .map_err(read_err("read", &name))
        .map(SegmentHeader::decode_versioned)?
        .and_then(|(h, v)| {
            if h.base_seq == base {
                Ok((h, v))
            } else {
                Err(StructError::Invalid {
                    what: format!("header names base {}", h.base_seq),
                })
            }
        });
    if let Err(StructError::UnsupportedVersion { found, supported }) = header {
        return Err(Error::UnsupportedVersion {
            file: name,
            found,
            supported,
        });
    }
    let footer_at_end = footer_ending(&mut src, len, base).map_err(read_err("read", &name))?;
    let (hdr, version) = match &header {
        Ok((h, v)) => (Some(*h), *v),
        Err(_) => (None, FORMAT_VERSION),
    };
    let idx = at
        .has_index
        .then(|| segment::load_index(backend, base))
        .flatten();
    let interval = idx
        .as_ref()
        .map_or(opts.index_interval, |d| d.header.interval);
    let mut view = SegView {
        base,
        name: name.clone(),
        len,
        header: hdr,
        version,
        footer_at_end,
        scan: None,
        verdict: Verdict::Sealed,
        interval,
        index_stale: false,
        next_seq: None,
    };
    // A shallow survey trusts a sealed segment before the last whose header, footer and
    // index check out.
    if !opts.deep
        && !at.is_last
        && hdr.is_some()
        && let (Some(f), Some(_)) = (footer_at_end, &idx)
    {
        view.next_seq = Some(f.last_seq.wrapping_add(1));
        return Ok(view);
    }
    src.set_len(limit);
    let start = if !opts.deep && at.is_last && footer_at_end.is_none() && hdr.is_some() {
        index::resume_point(&mut src, base, version, idx.as_ref())
    } else {
        None
    };
    let sc =
        scan_from(&mut src, base, version, interval, start).map_err(read_err("read", &name))?;
    src.set_len(len);
    let sc = SegScan {
        beyond: match sc.end.stop {
            Stop::Footer(_) => None,
            _ => scan::find_beyond(&mut src, sc.end.pos, sc.end.next_seq, version)
                .map_err(read_err("read", &name))?
                .filter(|b| live.is_none() || b.first_pos < limit),
        },
        ..sc
    };
    for l in &sc.lost {
        cx.add(
            Severity::Info,
            &name,
            None,
            Problem::Lost {
                from: l.first,
                to: l.last,
            },
            format!(
                "{name}: sequences {l} were lost (damaged; taken out of the log by recover \
                 --force, their bytes are in {}/)",
                format::QUARANTINE_DIR
            ),
        );
    }
    view.verdict = judge_segment(&view, &sc, &header, at, live, cx);
    view.next_seq = match &view.verdict {
        Verdict::Sealed | Verdict::Trailing { .. } => match sc.end.stop {
            Stop::Footer(f) => Some(f.last_seq.wrapping_add(1)),
            _ => Some(sc.end.next_seq),
        },
        Verdict::Active | Verdict::Live { .. } | Verdict::Torn { .. } => Some(sc.end.next_seq),
        Verdict::Corrupt { .. } => {
            let beyond = sc.beyond.map(|b| b.max_seq.saturating_add(1));
            let footer = footer_at_end.map(|f| f.last_seq.saturating_add(1));
            Some(
                [Some(sc.end.next_seq), beyond, footer]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(base),
            )
        }
        Verdict::TornCreation | Verdict::Stray { .. } => None,
    };
    view.index_stale = index::check(backend, &view, &sc, idx.as_ref(), at, cx)?;
    view.scan = Some(sc);
    Ok(view)
}

/// Scans a segment's records from `start` (an index entry's record and the state
/// before it) or from the first record.
fn scan_from(
    src: &mut dyn Source,
    base: u64,
    version: u32,
    interval: u32,
    start: Option<index::Resume>,
) -> io::Result<SegScan> {
    let (from, seq, mut stats, mut ib, full) = match start {
        Some(r) => (r.pos, r.seq, r.stats, r.index, false),
        None => (
            SEGMENT_HEADER_LEN as u64,
            base,
            Stats::default(),
            IndexBuilder::new(interval),
            true,
        ),
    };
    let mut lost = Vec::new();
    let end = scan::scan(
        src,
        from,
        seq,
        base,
        version,
        &mut stats,
        |pos, it| match it.lost_to {
            None => ib.add(it.header.seq, pos, it.header.timestamp_ns),
            Some(to) => lost.push(SeqRange {
                first: it.header.seq,
                last: to,
            }),
        },
    )?;
    Ok(SegScan {
        from,
        full,
        end,
        stats,
        index: ib,
        beyond: None,
        lost,
    })
}

/// The verdict on a segment whose records were scanned, with its findings.
fn judge_segment(
    view: &SegView,
    sc: &SegScan,
    header: &Result<(SegmentHeader, u32), StructError>,
    at: &Place,
    live: Option<DurablePoint>,
    cx: &mut Ctx,
) -> Verdict {
    let name = &view.name;
    let end = &sc.end;
    let corrupt = |cx: &mut Ctx, off: u64, problem: Problem, msg: String| {
        cx.add(Severity::Corruption, name, Some(off), problem, msg);
    };
    // The header first: without it, what follows decides between a torn creation, a
    // stray file and a damaged header over records.
    if let Err(e) = header {
        let holds = sc.stats.covers_any() || sc.beyond.is_some() || view.footer_at_end.is_some();
        let problem = Problem::BadHeader { error: e.clone() };
        if !holds {
            if at.is_last {
                cx.add(
                    Severity::TornTail,
                    name,
                    Some(0),
                    problem,
                    format!("{name}: header damaged ({e}) and nothing after it: a torn segment creation (removed on open)"),
                );
                return Verdict::TornCreation;
            }
            let why = format!("holds no record (header: {e})");
            corrupt(
                cx,
                0,
                Problem::StrayFile { why: why.clone() },
                format!("{name} {why}: a stray or emptied file between sealed segments"),
            );
            return Verdict::Stray { why };
        }
        corrupt(
            cx,
            0,
            problem,
            format!("{name}: header damaged ({e}) but records follow"),
        );
        return Verdict::Corrupt {
            at: 0,
            why: format!("header damaged: {e}"),
            beyond_window: None,
        };
    }
    let window = view.header.map_or(0, |h| h.torn_window);
    match &end.stop {
        Stop::Footer(f) => {
            let diffs = sc.stats.footer_diffs(f, end.next_seq);
            if !diffs.is_empty() && sc.full {
                let detail = diffs.join(", ");
                corrupt(
                    cx,
                    end.pos,
                    Problem::FooterMismatch {
                        detail: detail.clone(),
                    },
                    format!("{name}: footer disagrees with the records: {detail}"),
                );
                return Verdict::Corrupt {
                    at: end.pos,
                    why: format!("footer disagrees with the records: {detail}"),
                    beyond_window: None,
                };
            }
            let footer_end = end.pos + FOOTER_LEN as u64;
            if footer_end < view.len {
                cx.add(
                    Severity::Repairable,
                    name,
                    Some(footer_end),
                    Problem::TrailingBytes {
                        bytes: view.len - footer_end,
                    },
                    format!(
                        "{name}: {} bytes after the footer: a seal whose trim was interrupted (trimmed on open)",
                        view.len - footer_end
                    ),
                );
                return Verdict::Trailing { footer_end };
            }
            Verdict::Sealed
        }
        stop => {
            if let Some(l) = live {
                // Past the writer's durable point nothing is written yet; before it the
                // records must all be there.
                let limit = l.records_end.min(view.len);
                if end.pos < limit {
                    let why = format!(
                        "{} at offset {}, before the writer's durable point {} (live log)",
                        stop.describe(),
                        end.pos,
                        l.records_end
                    );
                    corrupt(
                        cx,
                        end.pos,
                        Problem::BadRecord {
                            error: stop.describe(),
                            expected_seq: end.next_seq,
                        },
                        format!("{name}: {why}"),
                    );
                    return Verdict::Corrupt {
                        at: end.pos,
                        why,
                        beyond_window: None,
                    };
                }
                return Verdict::Live {
                    checked_to: end.pos,
                };
            }
            let found = match &sc.beyond {
                Some(b) => format!(
                    "{}, then records {}..={}",
                    stop.describe(),
                    b.min_seq,
                    b.max_seq
                ),
                None => stop.describe(),
            };
            let bad_record = |stop: &Stop| match stop {
                scan::Stop::Damage(d) => Problem::BadRecord {
                    error: d.to_string(),
                    expected_seq: end.next_seq,
                },
                _ => Problem::MissingFooter {
                    found: found.clone(),
                },
            };
            if let Some(f) = view.footer_at_end {
                // Sealed (its footer ends the file), yet the records end before it.
                let why = format!(
                    "records end at offset {} with {found}, before the footer at {}",
                    end.pos, f.records_end
                );
                corrupt(
                    cx,
                    end.pos,
                    bad_record(stop),
                    format!("{name}: sealed segment damaged: {why}"),
                );
                return Verdict::Corrupt {
                    at: end.pos,
                    why: format!("sealed segment damaged: {why}"),
                    beyond_window: None,
                };
            }
            if !at.is_last {
                let why = format!(
                    "records end at offset {} with {found}; a segment before the last must be sealed",
                    end.pos
                );
                corrupt(cx, end.pos, bad_record(stop), format!("{name}: {why}"));
                return Verdict::Corrupt {
                    at: end.pos,
                    why,
                    beyond_window: None,
                };
            }
            match judge_tail(stop, sc.beyond.as_ref(), end.pos, window) {
                TailJudgement::Clean => Verdict::Active,
                TailJudgement::Torn => {
                    let lost = sc.beyond.map(|b| SeqRange {
                        first: end.next_seq,
                        last: b.max_seq,
                    });
                    if let Stop::Damage(d) = stop {
                        cx.add(
                            Severity::TornTail,
                            name,
                            Some(end.pos),
                            Problem::BadRecord {
                                error: d.to_string(),
                                expected_seq: end.next_seq,
                            },
                            format!(
                                "{name}: {d} at offset {} (sequence {} expected): torn tail",
                                end.pos, end.next_seq
                            ),
                        );
                    }
                    if let Some(b) = sc.beyond {
                        cx.add(
                            Severity::TornTail,
                            name,
                            Some(b.first_pos),
                            Problem::RecordsAfterDamage {
                                first_seq: b.min_seq,
                                last_seq: b.max_seq,
                                distance: b.distance_from(end.pos),
                                window,
                            },
                            format!(
                                "{name}: records {}..={} after the end of the good records lie within the torn window (unsynced tail)",
                                b.min_seq, b.max_seq
                            ),
                        );
                    }
                    Verdict::Torn {
                        at: end.pos,
                        reason: stop.describe(),
                        lost,
                    }
                }
                TailJudgement::BeyondWindow => {
                    let b = sc.beyond.expect("beyond the window means records beyond");
                    let far = b.distance_from(end.pos);
                    if let Stop::Damage(d) = stop {
                        corrupt(
                            cx,
                            end.pos,
                            Problem::BadRecord {
                                error: d.to_string(),
                                expected_seq: end.next_seq,
                            },
                            format!(
                                "{name}: {d} at offset {} (sequence {} expected)",
                                end.pos, end.next_seq
                            ),
                        );
                    }
                    corrupt(
                        cx,
                        b.first_pos,
                        Problem::RecordsAfterDamage {
                            first_seq: b.min_seq,
                            last_seq: b.max_seq,
                            distance: far,
                            window,
                        },
                        format!(
                            "{name}: valid records {}..={} end {far} bytes after the damage at {}, beyond the {window}-byte torn window: corruption, not a torn tail",
                            b.min_seq, b.max_seq, end.pos
                        ),
                    );
                    Verdict::Corrupt {
                        at: end.pos,
                        why: stop.describe(),
                        beyond_window: Some(SeqRange {
                            first: end.next_seq,
                            last: b.max_seq,
                        }),
                    }
                }
            }
        }
    }
}
