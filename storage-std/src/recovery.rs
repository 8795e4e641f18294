//! Recovery on open: find the good prefix of the log, cut a torn tail, refuse (or, with
//! `force`, cut) damage that is not a torn tail, rebuild indexes, and hand the writer the
//! segment to continue in.

use crate::backend::{Access, Backend};
use crate::error::{Error, SeqRange};
use crate::format::{self, FOOTER_LEN, SEGMENT_HEADER_LEN, SegmentFooter, StructError};
use crate::scan::{self, IndexBuilder, SliceSource, Stats, Stop};
use crate::segment::{
    self, ActiveSeg, NewSegment, OpCtx, SegmentInfo, check_sealed, create_segment, read_footer,
    read_header, remove_segment_files, write_index_file,
};

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

pub(crate) struct Recovered {
    pub sealed: Vec<SegmentInfo>,
    pub active: ActiveSeg,
    pub report: RecoveryReport,
}

fn now_ns() -> u64 {
    crate::now_ns()
}

/// The largest sequence that any of `bases` holds as a valid record, at or after
/// `expected` (for reporting what a forced cut loses).
fn max_seq_in(backend: &dyn Backend, bases: &[u64], expected: u64) -> Result<Option<u64>, Error> {
    let mut max: Option<u64> = None;
    for &b in bases {
        let name = format::segment_name(b);
        let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
        let mut src = SliceSource(map.bytes());
        let mut st = Stats::default();
        let end = scan::scan(
            &mut src,
            SEGMENT_HEADER_LEN as u64,
            b,
            b,
            &mut st,
            |_, _| {},
        )
        .map_err(|e| Error::io("read", &name, e))?;
        if st.count > 0 && end.next_seq > expected {
            max = max.max(Some(end.next_seq - 1));
        }
        if let Some(bz) = scan::find_beyond(&mut src, end.pos, expected.max(end.next_seq))
            .map_err(|e| Error::io("read", &name, e))?
        {
            max = max.max(Some(bz.max_seq));
        }
    }
    Ok(max)
}

fn lost(first: u64, max: Option<u64>) -> Option<SeqRange> {
    max.filter(|&m| m >= first)
        .map(|last| SeqRange { first, last })
}

/// The index entries of a sealed segment whose records all check out, or the position,
/// next sequence, statistics and reason where its good records end.
type SealedScan = Result<Vec<format::IndexEntry>, (u64, u64, Stats, String)>;

/// Full scan of a sealed segment: its index entries if every record checks out and
/// matches the footer, else the position and sequence where the good records end.
fn scan_sealed(backend: &dyn Backend, base: u64, interval: u32) -> Result<SealedScan, Error> {
    let name = format::segment_name(base);
    let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
    let mut src = SliceSource(map.bytes());
    let mut st = Stats::default();
    let mut ib = IndexBuilder::new(interval);
    let end = scan::scan(
        &mut src,
        SEGMENT_HEADER_LEN as u64,
        base,
        base,
        &mut st,
        |pos, h| ib.add(h.seq, pos, h.timestamp_ns),
    )
    .map_err(|e| Error::io("read", &name, e))?;
    let bad = |why: String| Ok(Err((end.pos, end.next_seq, st, why)));
    match end.stop {
        Stop::Footer(f) => {
            if end.pos + FOOTER_LEN as u64 != map.bytes().len() as u64 {
                return bad("bytes after the footer".into());
            }
            if !footer_matches(&f, &st, end.next_seq) {
                return bad("footer disagrees with the records".into());
            }
            Ok(Ok(ib.entries))
        }
        other => bad(format!(
            "records end with {} before the footer",
            other.describe()
        )),
    }
}

fn footer_matches(f: &SegmentFooter, st: &Stats, next_seq: u64) -> bool {
    f.record_count == st.count
        && Some(f.last_seq) == next_seq.checked_sub(1)
        && f.first_ts == st.first_ts.unwrap_or(0)
        && f.last_ts == st.last_ts
        && f.max_ts == st.max_ts
}

/// Rewrites segment `base` as a sealed segment holding only its records before `pos`,
/// through a temporary file and a rename (so readers that mapped the old file keep it).
fn rewrite_sealed_prefix(
    backend: &dyn Backend,
    base: u64,
    pos: u64,
    next_seq: u64,
    st: &Stats,
    interval: u32,
) -> Result<SegmentInfo, Error> {
    let name = format::segment_name(base);
    let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
    let bytes = map.bytes();
    let header = format::SegmentHeader::decode(bytes).map_err(|e| Error::Corrupt {
        file: name.clone(),
        offset: 0,
        detail: format!("header: {e}"),
    })?;
    let prefix = bytes.get(..pos as usize).unwrap_or(bytes);
    let mut ib = IndexBuilder::new(interval);
    let mut chk = Stats::default();
    scan::scan(
        &mut SliceSource(prefix),
        SEGMENT_HEADER_LEN as u64,
        base,
        base,
        &mut chk,
        |p, h| ib.add(h.seq, p, h.timestamp_ns),
    )
    .map_err(|e| Error::io("read", &name, e))?;
    debug_assert_eq!(chk, *st);
    let footer = SegmentFooter {
        base_seq: base,
        record_count: st.count,
        last_seq: next_seq - 1,
        first_ts: st.first_ts.unwrap_or(0),
        last_ts: st.last_ts,
        max_ts: st.max_ts,
        records_end: pos,
        sealed_ns: now_ns(),
        digest_kind: 0,
        digest: [0; format::SF_DIGEST_LEN],
    };
    let tmp = format!("{name}{}", format::TMP_SUFFIX);
    let _ = backend.remove(&tmp);
    let mut f = backend.create(&tmp).op("create", &tmp)?;
    let fb = footer.encode();
    f.write_group(&crate::backend::WriteGroup {
        offset: 0,
        bufs: &[prefix, &fb],
        sync: crate::backend::SyncKind::All,
    })
    .op("write", &tmp)?;
    drop(map);
    backend.rename(&tmp, &name).op("rename", &tmp)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    write_index_file(backend, base, interval, &ib.entries)?;
    Ok(SegmentInfo::from_footer(&header, &footer))
}

/// Removes segments (newest first) and syncs the directory.
fn drop_segments(
    backend: &dyn Backend,
    bases: &[u64],
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    for &b in bases.iter().rev() {
        remove_segment_files(backend, b)?;
        report.removed.push(format::segment_name(b));
    }
    backend.sync_dir().op("sync_dir", "log directory")?;
    Ok(())
}

/// Runs recovery and returns the state the writer continues from.
pub(crate) fn recover(backend: &dyn Backend, o: &RecoverOpts) -> Result<Recovered, Error> {
    let mut report = RecoveryReport::default();
    let listing = segment::list(backend)?;
    let mut dir_dirty = false;
    for t in &listing.tmps {
        backend.remove(t).op("remove", t)?;
        report.removed.push(t.clone());
        dir_dirty = true;
    }
    for b in &listing.indexes {
        if listing.segments.binary_search(b).is_err() {
            let n = format::index_name(*b);
            backend.remove(&n).op("remove", &n)?;
            report.removed.push(n);
            dir_dirty = true;
        }
    }
    if dir_dirty {
        backend.sync_dir().op("sync_dir", "log directory")?;
    }

    let bases = listing.segments.clone();
    let mut sealed: Vec<SegmentInfo> = Vec::new();
    let mut expected: Option<u64> = None;
    let mut active: Option<ActiveSeg> = None;
    let mut next_if_empty = o.first_seq;

    let mut i = 0;
    while i < bases.len() {
        let base = bases[i];
        let name = format::segment_name(base);
        let is_last = i + 1 == bases.len();
        if let Some(e) = expected
            && base != e
        {
            let detail = format!("segment starts at sequence {base}, expected {e}");
            if !o.force {
                return Err(Error::Corrupt {
                    file: name,
                    offset: 0,
                    detail,
                });
            }
            let max = max_seq_in(backend, &bases[i..], e)?;
            drop_segments(backend, &bases[i..], &mut report)?;
            report.cuts.push(Cut {
                file: name,
                offset: 0,
                bytes_cut: 0,
                kind: CutKind::Forced,
                reason: detail,
                lost: lost(e, max),
            });
            next_if_empty = e;
            break;
        }
        let has_index = listing.indexes.binary_search(&base).is_ok()
            && segment::load_index(backend, base).is_some();

        if !is_last {
            let checked = check_sealed(backend, base)?;
            let info = match checked {
                Err((_, StructError::UnsupportedVersion { found, supported })) => {
                    return Err(Error::UnsupportedVersion {
                        file: name,
                        found,
                        supported,
                    });
                }
                Ok(info) if !o.deep && has_index => info,
                Ok(info) => match scan_sealed(backend, base, o.index_interval)? {
                    Ok(entries) => {
                        if !has_index {
                            write_index_file(backend, base, o.index_interval, &entries)?;
                            report.rebuilt_indexes.push(format::index_name(base));
                        }
                        info
                    }
                    Err((pos, next_seq, st, why)) => {
                        let sealed_info = forced_cut_sealed(
                            backend,
                            o,
                            &bases,
                            i,
                            pos,
                            next_seq,
                            &st,
                            &why,
                            &mut report,
                        )?;
                        if let Some(si) = sealed_info {
                            sealed.push(si);
                        }
                        next_if_empty = next_seq;
                        break;
                    }
                },
                Err((off, e)) => {
                    if !o.force {
                        return Err(Error::Corrupt {
                            file: name,
                            offset: off,
                            detail: format!("sealed segment damaged: {e}"),
                        });
                    }
                    let (pos, next_seq, st) = match scan_sealed(backend, base, o.index_interval)? {
                        Ok(_) => (off, base, Stats::default()),
                        Err((p, n, st, _)) => (p, n, st),
                    };
                    let si = forced_cut_sealed(
                        backend,
                        o,
                        &bases,
                        i,
                        pos,
                        next_seq,
                        &st,
                        &format!("sealed segment damaged: {e}"),
                        &mut report,
                    )?;
                    if let Some(si) = si {
                        sealed.push(si);
                    }
                    next_if_empty = next_seq;
                    break;
                }
            };
            expected = info.last_seq.map(|l| l.wrapping_add(1));
            sealed.push(info);
            i += 1;
            continue;
        }

        // The last segment.
        let expected_base = expected.unwrap_or(base);
        let mut file = backend
            .open(&name, Access::ReadWrite)
            .map_err(|e| Error::io("open", &name, e))?;
        let len = file.len().map_err(|e| Error::io("stat", &name, e))?;
        // A header naming another base is a recycled file whose new header never made
        // it to the disk: like a torn header, it holds none of this log's records.
        let header = read_header(&*file)
            .map_err(|e| Error::io("read", &name, e))?
            .and_then(|h| {
                if h.base_seq == base {
                    Ok(h)
                } else {
                    Err(StructError::Invalid {
                        what: format!("header names base {} (not rewritten)", h.base_seq),
                    })
                }
            });
        let header = match header {
            Err(StructError::UnsupportedVersion { found, supported }) => {
                return Err(Error::UnsupportedVersion {
                    file: name,
                    found,
                    supported,
                });
            }
            Err(e) => {
                // A torn creation holds no records; a damaged header over records is
                // corruption.
                let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
                let beyond = scan::find_beyond(
                    &mut SliceSource(map.bytes()),
                    SEGMENT_HEADER_LEN as u64 - 8,
                    expected_base,
                )
                .map_err(|e| Error::io("read", &name, e))?;
                drop(map);
                if let Some(b) = beyond {
                    if !o.force {
                        return Err(Error::Corrupt {
                            file: name,
                            offset: 0,
                            detail: format!(
                                "segment header damaged ({e}) but records {}..={} follow",
                                b.min_seq, b.max_seq
                            ),
                        });
                    }
                    report.cuts.push(Cut {
                        file: name.clone(),
                        offset: 0,
                        bytes_cut: len,
                        kind: CutKind::Forced,
                        reason: format!("segment header damaged: {e}"),
                        lost: lost(expected_base, Some(b.max_seq)),
                    });
                }
                drop(file);
                remove_segment_files(backend, base)?;
                backend.sync_dir().op("sync_dir", "log directory")?;
                report.removed.push(name);
                next_if_empty = expected_base;
                break;
            }
            Ok(h) => h,
        };
        if let Ok(f) = read_footer(&*file, len, base).map_err(|e| Error::io("read", &name, e))? {
            // Sealed last segment: the next one was never (durably) created.
            let info = SegmentInfo::from_footer(&header, &f);
            if o.deep || !has_index {
                match scan_sealed(backend, base, o.index_interval)? {
                    Ok(entries) => {
                        if !has_index {
                            write_index_file(backend, base, o.index_interval, &entries)?;
                            report.rebuilt_indexes.push(format::index_name(base));
                        }
                    }
                    Err((pos, next_seq, st, why)) => {
                        drop(file);
                        if let Some(si) = forced_cut_sealed(
                            backend,
                            o,
                            &bases,
                            i,
                            pos,
                            next_seq,
                            &st,
                            &why,
                            &mut report,
                        )? {
                            sealed.push(si);
                        }
                        next_if_empty = next_seq;
                        break;
                    }
                }
            }
            sealed.push(info);
            break;
        }

        // The active segment: scan from the last index entry that checks out.
        let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
        let mut src = SliceSource(map.bytes());
        let idx = segment::load_index(backend, base);
        let (start_pos, start_seq, mut stats, mut ib) = choose_start(
            &mut src,
            base,
            idx.as_ref().filter(|_| !o.deep),
            o.index_interval,
        );
        report.scanned_from = Some((name.clone(), start_pos));
        let end = scan::scan(
            &mut src,
            start_pos,
            start_seq,
            base,
            &mut stats,
            |pos, h| ib.add(h.seq, pos, h.timestamp_ns),
        )
        .map_err(|e| Error::io("read", &name, e))?;
        let mut cut_at: Option<(String, Option<scan::Beyond>, bool)> = None;
        let mut sealed_now: Option<SegmentFooter> = None;
        match &end.stop {
            Stop::Eof => {}
            Stop::Footer(f) if footer_matches(f, &stats, end.next_seq) => sealed_now = Some(*f),
            stop => {
                let beyond = scan::find_beyond(&mut src, end.pos, end.next_seq)
                    .map_err(|e| Error::io("read", &name, e))?;
                if !(stop.is_clean_end() && beyond.is_none()) {
                    let far = beyond.map(|b| b.last_end.saturating_sub(end.pos));
                    let w = header.torn_window;
                    let corrupt = matches!(far, Some(d) if w != 0 && d > w);
                    if corrupt && !o.force {
                        let b = beyond.expect("corrupt implies records beyond");
                        return Err(Error::NeedsForce {
                            file: name,
                            offset: end.pos,
                            detail: stop.describe(),
                            distance: b.last_end - end.pos,
                            window: w,
                            lost: SeqRange {
                                first: end.next_seq,
                                last: b.max_seq,
                            },
                        });
                    }
                    cut_at = Some((stop.describe(), beyond, corrupt));
                }
            }
        }
        drop(map);
        if let Some(f) = sealed_now {
            // Crash between writing the footer and trimming the file: finish the seal.
            file.set_len(end.pos + FOOTER_LEN as u64)
                .op("set_len", &name)?;
            file.sync(crate::backend::SyncKind::All).op("sync", &name)?;
            drop(file);
            write_index_file(backend, base, o.index_interval, &ib.entries)?;
            report.rebuilt_indexes.push(format::index_name(base));
            sealed.push(SegmentInfo::from_footer(&header, &f));
            break;
        }
        if let Some((reason, beyond, corrupt)) = cut_at {
            file.set_len(end.pos).op("set_len", &name)?;
            report.cuts.push(Cut {
                file: name.clone(),
                offset: end.pos,
                bytes_cut: len - end.pos,
                kind: if corrupt {
                    CutKind::Forced
                } else {
                    CutKind::TornTail
                },
                reason,
                lost: beyond.and_then(|b| lost(end.next_seq, Some(b.max_seq))),
            });
        }
        // Whatever survived is synced now, then the index is rewritten to match.
        file.sync(crate::backend::SyncKind::All).op("sync", &name)?;
        write_index_file(backend, base, o.index_interval, &ib.entries)?;
        if idx.is_none() {
            report.rebuilt_indexes.push(format::index_name(base));
        }
        let idx_name = format::index_name(base);
        let idx_file = backend
            .open(&idx_name, Access::ReadWrite)
            .map_err(|e| Error::io("open", &idx_name, e))?;
        let idx_written = ib.entries.len();
        active = Some(ActiveSeg {
            header,
            name,
            idx_name,
            file,
            idx_file,
            pos: end.pos,
            next_seq: end.next_seq,
            stats,
            index: ib,
            idx_written,
        });
        break;
    }

    // A writer whose torn window is wider than the active segment's must not continue
    // in it: recovery of that segment would mistake its longer torn tails for damage.
    if let Some(a) = active.take() {
        let old = a.header.torn_window;
        let widens = old != 0 && (o.window == 0 || o.window > old);
        if !widens {
            active = Some(a);
        } else if a.stats.count > 0 {
            let mut a = a;
            let info = a.seal(now_ns())?;
            report.sealed_on_open = Some(info.name.clone());
            next_if_empty = a.next_seq;
            sealed.push(info);
        } else {
            let base = a.base();
            drop(a);
            remove_segment_files(backend, base)?;
            backend.sync_dir().op("sync_dir", "log directory")?;
            report.removed.push(format::segment_name(base));
            next_if_empty = base;
        }
    }

    let active = match active {
        Some(a) => a,
        None => {
            let base = sealed
                .last()
                .and_then(|s| s.last_seq)
                .map_or(next_if_empty, |l| l.wrapping_add(1));
            create_segment(
                backend,
                NewSegment {
                    base_seq: base,
                    created_ns: now_ns(),
                    torn_window: o.window,
                    index_interval: o.index_interval,
                    preallocate: o.preallocate,
                },
            )?
        }
    };
    report.segments = sealed.len() + 1;
    report.next_seq = active.next_seq;
    Ok(Recovered {
        sealed,
        active,
        report,
    })
}

/// Picks where to start scanning the active segment: the last index entry whose record
/// checks out (and the first record, for the segment's first timestamp), else the start.
fn choose_start(
    src: &mut SliceSource<'_>,
    base: u64,
    idx: Option<&format::DecodedIndex>,
    interval: u32,
) -> (u64, u64, Stats, IndexBuilder) {
    let start = (
        SEGMENT_HEADER_LEN as u64,
        base,
        Stats::default(),
        IndexBuilder::new(interval),
    );
    let Some(d) = idx else { return start };
    if d.header.interval != interval {
        return start;
    }
    let first_ts = match scan::record_at(src, SEGMENT_HEADER_LEN as u64) {
        Ok(Ok((h, _))) if h.seq == base => h.timestamp_ns,
        _ => return start,
    };
    for k in (0..d.entries.len()).rev() {
        let e = d.entries[k];
        if let Ok(Ok((h, _))) = scan::record_at(src, e.pos)
            && h.seq == e.seq
        {
            let stats = Stats {
                count: e.seq - base,
                first_ts: (e.seq > base).then_some(first_ts),
                last_ts: 0,
                max_ts: e.max_ts_before,
            };
            return (
                e.pos,
                e.seq,
                stats,
                IndexBuilder::resume(interval, d.entries[..=k].to_vec()),
            );
        }
    }
    start
}

/// A forced cut inside segment `bases[i]` at `pos` (sequence `next_seq`): later segments
/// are dropped, this one keeps its good prefix (sealed) or is removed if it has none.
#[allow(clippy::too_many_arguments)]
fn forced_cut_sealed(
    backend: &dyn Backend,
    o: &RecoverOpts,
    bases: &[u64],
    i: usize,
    pos: u64,
    next_seq: u64,
    st: &Stats,
    why: &str,
    report: &mut RecoveryReport,
) -> Result<Option<SegmentInfo>, Error> {
    let base = bases[i];
    let name = format::segment_name(base);
    if !o.force {
        return Err(Error::Corrupt {
            file: name,
            offset: pos,
            detail: format!("sealed segment damaged: {why}"),
        });
    }
    let max = max_seq_in(backend, &bases[i..], next_seq)?;
    let len = backend
        .open(&name, Access::Read)
        .and_then(|f| f.len())
        .map_err(|e| Error::io("stat", &name, e))?;
    drop_segments(backend, &bases[i + 1..], report)?;
    let info = if next_seq == base {
        drop_segments(backend, &bases[i..=i], report)?;
        None
    } else {
        Some(rewrite_sealed_prefix(
            backend,
            base,
            pos,
            next_seq,
            st,
            o.index_interval,
        )?)
    };
    report.cuts.push(Cut {
        file: name,
        offset: pos,
        bytes_cut: len.saturating_sub(pos),
        kind: CutKind::Forced,
        reason: why.to_owned(),
        lost: lost(next_seq, max),
    });
    Ok(info)
}
