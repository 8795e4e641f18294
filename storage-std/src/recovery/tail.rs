//! The last segment: a torn creation (no valid header, no records) is removed; a sealed
//! one is checked like the others; the active one is scanned from its last good index
//! entry, and whatever follows its good records is judged ([`judge_tail`]): a clean end
//! is kept, a torn tail is cut, damage beyond the torn window needs `force`, and a valid
//! footer right after the records finishes a seal a crash interrupted.

use crate::backend::{Access, BackendFile, SyncKind};
use crate::error::{Error, OpCtx, SeqRange};
use crate::format::{
    self, DecodedIndex, FOOTER_LEN, SEGMENT_HEADER_LEN, SegmentHeader, StructError,
};
use crate::scan::{
    self, Beyond, IndexBuilder, ScanEnd, SliceSource, Stats, Stop, TailJudgement, judge_tail,
};
use crate::segment::{
    ActiveSeg, SegmentInfo, read_footer, read_header, remove_segment_files, write_index_file,
};

use super::{Cut, CutKind, LogEnd, Recovery, lost};

/// Where the scan of the active segment starts.
struct ScanStart {
    pos: u64,
    seq: u64,
    stats: Stats,
    index: IndexBuilder,
}

/// What to do with the end of the active segment's good records.
enum TailAction {
    /// A clean end: keep everything.
    Keep,
    /// A valid footer follows the records: a crash came between writing it and trimming
    /// the file. Finish the seal.
    FinishSeal(format::SegmentFooter),
    /// Cut the file after the good records.
    Cut {
        reason: String,
        beyond: Option<Beyond>,
        forced: bool,
    },
}

impl Recovery<'_> {
    /// The last segment, `bases.last()`; `expected` is where the previous one ended.
    pub(super) fn recover_last(
        &mut self,
        bases: &[u64],
        expected: Option<u64>,
        has_index: bool,
    ) -> Result<LogEnd, Error> {
        let i = bases.len() - 1;
        let base = bases[i];
        let name = format::segment_name(base);
        let expected_base = expected.unwrap_or(base);
        let file = self
            .backend
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
            Ok(h) => h,
            Err(StructError::UnsupportedVersion { found, supported }) => {
                return Err(Error::UnsupportedVersion {
                    file: name,
                    found,
                    supported,
                });
            }
            Err(e) => {
                drop(file);
                return self.remove_torn_creation(base, len, expected_base, &e);
            }
        };
        if let Ok(f) = read_footer(&*file, len, base).map_err(|e| Error::io("read", &name, e))? {
            // Sealed last segment: the next one was never (durably) created.
            drop(file);
            let info = SegmentInfo::from_footer(&header, &f);
            if (self.opts.deep || !has_index)
                && let Some(prefix) = self.scan_and_index(base, has_index)?
            {
                self.forced_cut(bases, i, &prefix)?;
                return Ok(LogEnd::Sealed {
                    next_seq: prefix.next_seq,
                });
            }
            self.sealed.push(info);
            return Ok(LogEnd::Sealed {
                next_seq: expected_base,
            });
        }
        self.recover_active(file, header, len)
    }

    /// A last segment without a valid header: a torn creation holds no records and is
    /// removed; a damaged header over records is corruption (removed only with `force`).
    fn remove_torn_creation(
        &mut self,
        base: u64,
        len: u64,
        expected_base: u64,
        e: &StructError,
    ) -> Result<LogEnd, Error> {
        let name = format::segment_name(base);
        let map = self
            .backend
            .map(&name)
            .map_err(|e| Error::io("map", &name, e))?;
        let beyond = scan::find_beyond(
            &mut SliceSource(map.bytes()),
            SEGMENT_HEADER_LEN as u64 - 8,
            expected_base,
        )
        .map_err(|e| Error::io("read", &name, e))?;
        drop(map);
        if let Some(b) = beyond {
            if !self.opts.force {
                return Err(Error::Corrupt {
                    file: name,
                    offset: 0,
                    detail: format!(
                        "segment header damaged ({e}) but records {}..={} follow",
                        b.min_seq, b.max_seq
                    ),
                });
            }
            self.report.cuts.push(Cut {
                file: name.clone(),
                offset: 0,
                bytes_cut: len,
                kind: CutKind::Forced,
                reason: format!("segment header damaged: {e}"),
                lost: lost(expected_base, Some(b.max_seq)),
            });
        }
        remove_segment_files(self.backend, base)?;
        self.backend.sync_dir().op("sync_dir", "log directory")?;
        self.report.removed.push(name);
        Ok(LogEnd::Sealed {
            next_seq: expected_base,
        })
    }

    /// The active segment: scans its tail, cuts or seals it, rewrites its index.
    fn recover_active(
        &mut self,
        mut file: Box<dyn BackendFile>,
        header: SegmentHeader,
        len: u64,
    ) -> Result<LogEnd, Error> {
        let base = header.base_seq;
        let name = format::segment_name(base);
        let idx = crate::segment::load_index(self.backend, base);
        let map = self
            .backend
            .map(&name)
            .map_err(|e| Error::io("map", &name, e))?;
        let mut src = SliceSource(map.bytes());
        let start = choose_start(
            &mut src,
            base,
            idx.as_ref().filter(|_| !self.opts.deep),
            self.opts.index_interval,
        );
        self.report.scanned_from = Some((name.clone(), start.pos));
        let ScanStart {
            pos,
            seq,
            mut stats,
            index: mut ib,
        } = start;
        let end = scan::scan(&mut src, pos, seq, base, &mut stats, |pos, h| {
            ib.add(h.seq, pos, h.timestamp_ns)
        })
        .map_err(|e| Error::io("read", &name, e))?;
        let action = self.judge_active_tail(&mut src, &name, &header, &stats, &end)?;
        drop(map);
        match action {
            TailAction::FinishSeal(f) => {
                file.set_len(end.pos + FOOTER_LEN as u64)
                    .op("set_len", &name)?;
                file.sync(SyncKind::All).op("sync", &name)?;
                drop(file);
                write_index_file(self.backend, base, self.opts.index_interval, &ib.entries)?;
                self.report.rebuilt_indexes.push(format::index_name(base));
                self.sealed.push(SegmentInfo::from_footer(&header, &f));
                return Ok(LogEnd::Sealed { next_seq: base });
            }
            TailAction::Cut {
                reason,
                beyond,
                forced,
            } => {
                file.set_len(end.pos).op("set_len", &name)?;
                self.report.cuts.push(Cut {
                    file: name.clone(),
                    offset: end.pos,
                    bytes_cut: len - end.pos,
                    kind: if forced {
                        CutKind::Forced
                    } else {
                        CutKind::TornTail
                    },
                    reason,
                    lost: beyond.and_then(|b| lost(end.next_seq, Some(b.max_seq))),
                });
            }
            TailAction::Keep => {}
        }
        // Whatever survived is synced now, then the index is rewritten to match.
        file.sync(SyncKind::All).op("sync", &name)?;
        write_index_file(self.backend, base, self.opts.index_interval, &ib.entries)?;
        if idx.is_none() {
            self.report.rebuilt_indexes.push(format::index_name(base));
        }
        let idx_name = format::index_name(base);
        let idx_file = self
            .backend
            .open(&idx_name, Access::ReadWrite)
            .map_err(|e| Error::io("open", &idx_name, e))?;
        let idx_written = ib.entries.len();
        Ok(LogEnd::Active(Box::new(ActiveSeg {
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
        })))
    }

    /// Decides what to do with what follows the active segment's good records; refuses
    /// damage beyond the torn window unless forced.
    fn judge_active_tail(
        &self,
        src: &mut SliceSource<'_>,
        name: &str,
        header: &SegmentHeader,
        stats: &Stats,
        end: &ScanEnd,
    ) -> Result<TailAction, Error> {
        let stop = match &end.stop {
            Stop::Eof => return Ok(TailAction::Keep),
            Stop::Footer(f) if stats.footer_diffs(f, end.next_seq).is_empty() => {
                return Ok(TailAction::FinishSeal(*f));
            }
            stop => stop,
        };
        let beyond = scan::find_beyond(src, end.pos, end.next_seq)
            .map_err(|e| Error::io("read", name, e))?;
        let forced = match judge_tail(stop, beyond.as_ref(), end.pos, header.torn_window) {
            TailJudgement::Clean => return Ok(TailAction::Keep),
            TailJudgement::Torn => false,
            TailJudgement::BeyondWindow => true,
        };
        if forced
            && !self.opts.force
            && let Some(b) = beyond
        {
            return Err(Error::NeedsForce {
                file: name.to_owned(),
                offset: end.pos,
                detail: stop.describe(),
                distance: b.distance_from(end.pos),
                window: header.torn_window,
                lost: SeqRange {
                    first: end.next_seq,
                    last: b.max_seq,
                },
            });
        }
        Ok(TailAction::Cut {
            reason: stop.describe(),
            beyond,
            forced,
        })
    }
}

/// Picks where to start scanning the active segment: the last index entry whose record
/// checks out (and the first record, for the segment's first timestamp), else the start.
fn choose_start(
    src: &mut SliceSource<'_>,
    base: u64,
    idx: Option<&DecodedIndex>,
    interval: u32,
) -> ScanStart {
    let start = ScanStart {
        pos: SEGMENT_HEADER_LEN as u64,
        seq: base,
        stats: Stats::default(),
        index: IndexBuilder::new(interval),
    };
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
            return ScanStart {
                pos: e.pos,
                seq: e.seq,
                stats: Stats {
                    count: e.seq - base,
                    first_ts: (e.seq > base).then_some(first_ts),
                    last_ts: 0,
                    max_ts: e.max_ts_before,
                },
                index: IndexBuilder::resume(interval, d.entries[..=k].to_vec()),
            };
        }
    }
    start
}
