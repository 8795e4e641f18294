//! The segment a writer continues in: the surviving active one (its index rewritten to
//! match its records), sealed first if it was written with another torn window or an
//! older format version, or a new segment after the last sealed one.

use crate::backend::{Access, SyncKind};
use crate::clock::now_ns;
use crate::error::{Error, OpCtx};
use crate::format::{self, FORMAT_VERSION, SegmentFooter};
use crate::scan::Stop;
use crate::segment::{
    ActiveSeg, NewSegment, SegmentInfo, create_segment, remove_segment_files, write_index_file,
};
use crate::state::{self, LogClass, SegView, SurveyOpts, Verdict};

use super::{Recovery, refusal};

/// Where the segments that survive recovery end.
enum LogEnd {
    /// The last segment is active: the writer continues in it.
    Active(Box<ActiveSeg>),
    /// No active segment survives: a new one starts at `next_seq`.
    Sealed { next_seq: u64 },
}

impl Recovery<'_> {
    /// Phase 5, for a writer: the sealed segments and the segment it appends to.
    pub(super) fn open_writer(&mut self) -> Result<(Vec<SegmentInfo>, ActiveSeg), Error> {
        // What the phases before left, seen afresh (cheap: sealed segments with an index
        // are not scanned).
        let after = state::survey(
            self.backend,
            &SurveyOpts {
                deep: false,
                index_interval: self.opts.index_interval,
                live: None,
            },
        )?;
        if after.class() == LogClass::Corruption {
            return Err(refusal(&after));
        }
        let mut sealed = Vec::new();
        let mut end = LogEnd::Sealed {
            next_seq: self.opts.first_seq,
        };
        for v in &after.segs {
            if v.verdict.is_active() {
                let sc = v.scan.as_ref().expect("an active segment was scanned");
                self.report.scanned_from = Some((v.name.clone(), sc.from));
                end = LogEnd::Active(Box::new(self.continue_active(v)?));
                continue;
            }
            if let Some(info) = sealed_info(v) {
                end = LogEnd::Sealed {
                    next_seq: info.last_seq.map_or(info.base_seq, |l| l.wrapping_add(1)),
                };
                sealed.push(info);
            }
        }
        let end = self.fit_torn_window(end, &mut sealed)?;
        let active = self.open_active(end)?;
        Ok((sealed, active))
    }

    /// `ringctl recover`'s end: the active segment stays as it is, with its index
    /// rewritten if it was stale.
    pub(super) fn finish_active_in_place(&mut self) -> Result<(), Error> {
        for v in self.survey.segs.clone() {
            if v.verdict.is_active()
                && v.index_stale
                && let Some(sc) = &v.scan
                && sc.full
            {
                write_index_file(self.backend, v.base, v.interval, &sc.index.entries)?;
                self.report.rebuilt_indexes.push(format::index_name(v.base));
            }
        }
        Ok(())
    }

    /// The active segment as the writer continues it: synced, its index rewritten.
    fn continue_active(&mut self, v: &SegView) -> Result<ActiveSeg, Error> {
        let sc = v.scan.as_ref().expect("scanned");
        let header = v.header.expect("an active segment has a header");
        let mut file = self
            .backend
            .open(&v.name, Access::ReadWrite)
            .op("open", &v.name)?;
        // Whatever survived is synced now (a reopen in the same boot may find bytes in
        // the page cache only), then the index is rewritten to match.
        file.sync(SyncKind::All).op("sync", &v.name)?;
        write_index_file(self.backend, v.base, v.interval, &sc.index.entries)?;
        if v.index_stale {
            self.report.rebuilt_indexes.push(format::index_name(v.base));
        }
        let idx_name = format::index_name(v.base);
        let idx_file = self
            .backend
            .open(&idx_name, Access::ReadWrite)
            .op("open", &idx_name)?;
        Ok(ActiveSeg {
            header,
            version: v.version,
            name: v.name.clone(),
            idx_name,
            file,
            idx_file,
            pos: sc.end.pos,
            next_seq: sc.end.next_seq,
            stats: sc.stats,
            index: sc.index.clone(),
            idx_written: sc.index.entries.len(),
        })
    }

    /// The torn window is recorded per segment, so a writer continues the active segment
    /// only if its own window is the same: with a wider one, recovery of that segment
    /// would mistake its longer torn tails for damage; with a narrower one, it would call
    /// torn what the older writer had synced. A segment of a `None` writer (window 0:
    /// everything since its creation may be unsynced) is never continued either: what
    /// survived its writer is sealed, so no later writer's durable records share a
    /// segment with bytes that count as unsynced. A segment of an older format version
    /// is sealed in its version. The segment is sealed, or removed if it holds nothing.
    fn fit_torn_window(
        &mut self,
        end: LogEnd,
        sealed: &mut Vec<SegmentInfo>,
    ) -> Result<LogEnd, Error> {
        let LogEnd::Active(mut a) = end else {
            return Ok(end);
        };
        let old = a.header.torn_window;
        if old != 0 && old == self.opts.window && a.version == FORMAT_VERSION {
            return Ok(LogEnd::Active(a));
        }
        if a.stats.count > 0 {
            let chain = crate::chain_files::resume(self.backend, &a)
                .ok()
                .flatten()
                .map(|c| c.footer_area());
            let info = a.seal(now_ns(), chain)?;
            self.report.sealed_on_open = Some(info.name.clone());
            sealed.push(info);
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

    /// The segment the writer appends to: the surviving active one, or a new one.
    fn open_active(&mut self, end: LogEnd) -> Result<ActiveSeg, Error> {
        let next_seq = match end {
            LogEnd::Active(a) => return Ok(*a),
            LogEnd::Sealed { next_seq } => next_seq,
        };
        Ok(create_segment(
            self.backend,
            NewSegment {
                base_seq: next_seq,
                created_ns: now_ns(),
                torn_window: self.opts.window,
                index_interval: self.opts.index_interval,
                preallocate: self.opts.preallocate,
            },
        )?)
    }
}

/// A sealed segment's description, from its footer.
fn sealed_info(v: &SegView) -> Option<SegmentInfo> {
    let header = v.header?;
    let footer: SegmentFooter = match v.scan.as_ref().map(|s| &s.end.stop) {
        Some(Stop::Footer(f)) => *f,
        _ => v.footer_at_end?,
    };
    matches!(v.verdict, Verdict::Sealed).then(|| SegmentInfo::from_footer(&header, &footer))
}
