//! The sealed segments: every segment before the last must be sealed, contiguous with
//! the one before it, and (on a deep check or without an index) hold exactly the records
//! its footer promises. Damage here is corruption: open refuses it, and `force` cuts the
//! log at the last good record, dropping every later segment.

use crate::backend::{Backend, SyncKind, WriteGroup};
use crate::clock::now_ns;
use crate::error::{Error, OpCtx};
use crate::format::segment::footer;
use crate::format::{self, FOOTER_LEN, IndexEntry, SEGMENT_HEADER_LEN, SegmentFooter, StructError};
use crate::scan::{self, SliceSource, Stats, Stop};
use crate::segment::{
    SealCheck, SegmentInfo, check_sealed, remove_segment_files, write_index_file,
};

use super::{Cut, CutKind, LogEnd, Recovery, RecoveryReport, lost};

/// What checking one segment before the last decided.
pub(super) enum SealedStep {
    /// Sealed and intact: the walk goes on after it.
    Keep(SegmentInfo),
    /// A forced cut ended the log in or before this segment; the next segment starts
    /// at `next_seq` if no sealed segment is left.
    Cut { next_seq: u64 },
}

/// The good records at the start of a damaged sealed segment.
#[derive(Debug, Clone)]
pub(super) struct GoodPrefix {
    /// Where they end.
    pub end: u64,
    /// The sequence after the last of them (the base if there is none).
    pub next_seq: u64,
    /// Their statistics, for the footer of the rewritten segment.
    pub stats: Stats,
    /// What follows them.
    pub why: String,
}

/// What a full scan of a sealed segment found.
pub(super) enum SealedScan {
    /// Every record checks out and matches the footer: the segment's index entries.
    Intact(Vec<IndexEntry>),
    /// The records end early, or disagree with the footer.
    Damaged(GoodPrefix),
}

/// Scans every record of sealed segment `base` against its footer.
pub(super) fn scan_sealed(
    backend: &dyn Backend,
    base: u64,
    interval: u32,
) -> Result<SealedScan, Error> {
    let name = format::segment_name(base);
    let map = backend.map(&name).map_err(|e| Error::io("map", &name, e))?;
    let scan::Indexed {
        end,
        stats,
        index: ib,
    } = scan::scan_indexed(&mut SliceSource(map.bytes()), base, interval)
        .map_err(|e| Error::io("read", &name, e))?;
    let why = match end.stop {
        Stop::Footer(_) if end.pos + FOOTER_LEN as u64 != map.bytes().len() as u64 => {
            "bytes after the footer".to_owned()
        }
        Stop::Footer(f) if !stats.footer_diffs(&f, end.next_seq).is_empty() => {
            "footer disagrees with the records".to_owned()
        }
        Stop::Footer(_) => return Ok(SealedScan::Intact(ib.entries)),
        other => format!("records end with {} before the footer", other.describe()),
    };
    Ok(SealedScan::Damaged(GoodPrefix {
        end: end.pos,
        next_seq: end.next_seq,
        stats,
        why,
    }))
}

impl Recovery<'_> {
    /// Segment `bases[i]` does not start at `expected`: records are missing. Refused, or
    /// with `force` the log ends before it.
    pub(super) fn cut_at_gap(
        &mut self,
        bases: &[u64],
        i: usize,
        expected: u64,
    ) -> Result<LogEnd, Error> {
        let base = bases[i];
        let name = format::segment_name(base);
        let detail = format!("segment starts at sequence {base}, expected {expected}");
        if !self.opts.force {
            return Err(Error::Corrupt {
                file: name,
                offset: 0,
                detail,
            });
        }
        let max = max_seq_in(self.backend, &bases[i..], expected)?;
        drop_segments(self.backend, &bases[i..], &mut self.report)?;
        self.report.cuts.push(Cut {
            file: name,
            offset: 0,
            bytes_cut: 0,
            kind: CutKind::Forced,
            reason: detail,
            lost: lost(expected, max),
        });
        Ok(LogEnd::Sealed { next_seq: expected })
    }

    /// Checks segment `bases[i]`, which is not the last: its header and footer, and (on a
    /// deep check or when its index must be rebuilt) every record.
    pub(super) fn check_sealed_segment(
        &mut self,
        bases: &[u64],
        i: usize,
        has_index: bool,
    ) -> Result<SealedStep, Error> {
        let base = bases[i];
        let (offset, error) = match check_sealed(self.backend, base)? {
            SealCheck::Sealed(info) => {
                return self.check_records(bases, i, info, has_index);
            }
            SealCheck::NotSealed { offset, error } => (offset, error),
        };
        let name = format::segment_name(base);
        if let StructError::UnsupportedVersion { found, supported } = error {
            return Err(Error::UnsupportedVersion {
                file: name,
                found,
                supported,
            });
        }
        let why = format!("sealed segment damaged: {error}");
        if !self.opts.force {
            return Err(Error::Corrupt {
                file: name,
                offset,
                detail: why,
            });
        }
        // Keep the records before the damage, if they check out.
        let prefix = match scan_sealed(self.backend, base, self.opts.index_interval)? {
            SealedScan::Intact(_) => GoodPrefix {
                end: offset,
                next_seq: base,
                stats: Stats::default(),
                why,
            },
            SealedScan::Damaged(p) => GoodPrefix { why, ..p },
        };
        self.forced_cut(bases, i, &prefix)?;
        Ok(SealedStep::Cut {
            next_seq: prefix.next_seq,
        })
    }

    /// The records of a segment whose header and footer check out: scanned on a deep
    /// check or when the index is missing (and then rebuilt).
    fn check_records(
        &mut self,
        bases: &[u64],
        i: usize,
        info: SegmentInfo,
        has_index: bool,
    ) -> Result<SealedStep, Error> {
        if !self.opts.deep && has_index {
            return Ok(SealedStep::Keep(info));
        }
        match self.scan_and_index(bases[i], has_index)? {
            Some(prefix) => {
                self.forced_cut(bases, i, &prefix)?;
                Ok(SealedStep::Cut {
                    next_seq: prefix.next_seq,
                })
            }
            None => Ok(SealedStep::Keep(info)),
        }
    }

    /// Scans sealed segment `base`; rebuilds its index if it has none. Returns the good
    /// prefix if the records are damaged.
    pub(super) fn scan_and_index(
        &mut self,
        base: u64,
        has_index: bool,
    ) -> Result<Option<GoodPrefix>, Error> {
        let interval = self.opts.index_interval;
        match scan_sealed(self.backend, base, interval)? {
            SealedScan::Intact(entries) => {
                if !has_index {
                    write_index_file(self.backend, base, interval, &entries)?;
                    self.report.rebuilt_indexes.push(format::index_name(base));
                }
                Ok(None)
            }
            SealedScan::Damaged(prefix) => Ok(Some(prefix)),
        }
    }

    /// A cut inside sealed segment `bases[i]` after its good `prefix`: refused without
    /// `force`. With it, later segments are dropped, and this one keeps its good prefix
    /// (rewritten as a sealed segment) or is removed if it has none.
    pub(super) fn forced_cut(
        &mut self,
        bases: &[u64],
        i: usize,
        prefix: &GoodPrefix,
    ) -> Result<(), Error> {
        let base = bases[i];
        let name = format::segment_name(base);
        if !self.opts.force {
            return Err(Error::Corrupt {
                file: name,
                offset: prefix.end,
                detail: format!("sealed segment damaged: {}", prefix.why),
            });
        }
        let max = max_seq_in(self.backend, &bases[i..], prefix.next_seq)?;
        let len = self
            .backend
            .open(&name, crate::backend::Access::Read)
            .and_then(|f| f.len())
            .map_err(|e| Error::io("stat", &name, e))?;
        drop_segments(self.backend, &bases[i + 1..], &mut self.report)?;
        if prefix.next_seq == base {
            drop_segments(self.backend, &bases[i..=i], &mut self.report)?;
        } else {
            let info = rewrite_sealed_prefix(self.backend, base, prefix, self.opts.index_interval)?;
            self.sealed.push(info);
        }
        self.report.cuts.push(Cut {
            file: name,
            offset: prefix.end,
            bytes_cut: len.saturating_sub(prefix.end),
            kind: CutKind::Forced,
            reason: prefix.why.clone(),
            lost: lost(prefix.next_seq, max),
        });
        Ok(())
    }
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

/// Rewrites segment `base` as a sealed segment holding only its good `prefix`, through a
/// temporary file and a rename (so readers that mapped the old file keep it).
fn rewrite_sealed_prefix(
    backend: &dyn Backend,
    base: u64,
    prefix: &GoodPrefix,
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
    let records = bytes.get(..prefix.end as usize).unwrap_or(bytes);
    let kept = scan::scan_indexed(&mut SliceSource(records), base, interval)
        .map_err(|e| Error::io("read", &name, e))?;
    debug_assert_eq!(kept.stats, prefix.stats);
    let st = &prefix.stats;
    let footer = SegmentFooter {
        base_seq: base,
        record_count: st.count,
        last_seq: prefix.next_seq - 1,
        first_ts: st.first_ts.unwrap_or(0),
        last_ts: st.last_ts,
        max_ts: st.max_ts,
        records_end: prefix.end,
        sealed_ns: now_ns(),
        digest_kind: 0,
        digest: [0; footer::DIGEST_LEN],
    };
    let tmp = format!("{name}{}", format::TMP_SUFFIX);
    let _ = backend.remove(&tmp);
    let mut f = backend.create(&tmp).op("create", &tmp)?;
    let fb = footer.encode();
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[records, &fb],
        sync: SyncKind::All,
    })
    .op("write", &tmp)?;
    drop(map);
    backend.rename(&tmp, &name).op("rename", &tmp)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    write_index_file(backend, base, interval, &kept.index.entries)?;
    Ok(SegmentInfo::from_footer(&header, &footer))
}

/// Removes segments (newest first) and syncs the directory.
pub(super) fn drop_segments(
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
