//! `force`: corruption taken out of the log without deleting anything. A damaged
//! segment is rebuilt around the damage ([`salvage`]): its records that still check out
//! are copied byte for byte, each damaged range between them becomes a lost-range marker
//! (format 2), and a new header and footer are computed from what was kept; the original
//! file is kept in `quarantine/` before the rebuilt one replaces it. A file that holds
//! nothing of the log where it lies goes to `quarantine/` whole. Sequences missing
//! between segments are recorded in a segment that holds only their lost range.
//!
//! Rule for what follows a lost range: the log goes on. Readers return the range
//! (`Lost { from, to }`) and continue with the next record; sequences are never reused.

use crate::backend::{Access, Backend, BackendFile};
use crate::error::{Error, OpCtx, SeqRange};
use crate::format::{
    self, LostRange, SEGMENT_HEADER_LEN, SegmentFooter, SegmentHeader, encode_lost, segment::footer,
};
use crate::quarantine::{self, ByteRange, QuarantineEntry};
use crate::scan::{self, FileSource, IndexBuilder, Source, Stats};
use crate::segment::{remove_segment_files, write_index_file, write_whole_segment};
use crate::state::{SegView, Verdict};

use super::{Cut, CutKind, Recovery};

/// What a salvage of a damaged segment kept.
#[derive(Debug, Default)]
pub(super) struct Salvaged {
    /// The entries of the rebuilt segment, from its first record on.
    pub bytes: Vec<u8>,
    /// Their index (positions in the rebuilt segment).
    pub index: Vec<format::IndexEntry>,
    pub stats: Stats,
    /// The sequence after the last one the rebuilt segment covers.
    pub next_seq: u64,
    /// Ranges recorded as lost.
    pub lost: Vec<LostRange>,
    /// Byte ranges of the original that were damaged.
    pub damaged: Vec<ByteRange>,
}

/// Walks segment `base` from its first record, keeping every entry that checks out and
/// continues the sequence, and recording a lost range wherever damage sits between
/// them; the segment ends at its footer or the end of the file, and covers at least up
/// to `end_hint` (a lost range to there if needed).
pub(super) fn salvage(
    src: &mut dyn Source,
    base: u64,
    interval: u32,
    end_hint: Option<u64>,
) -> std::io::Result<Salvaged> {
    let version = format::FORMAT_VERSION;
    let mut out = Salvaged {
        next_seq: base,
        ..Salvaged::default()
    };
    let mut ib = IndexBuilder::new(interval);
    let mut pos = SEGMENT_HEADER_LEN as u64;
    let len = src.len();
    let lost = |out: &mut Salvaged, to: u64| {
        if to >= out.next_seq && to < u64::MAX {
            encode_lost(&mut out.bytes, out.next_seq, to);
            out.lost.push(LostRange {
                from: out.next_seq,
                to,
            });
            out.stats.lost = out
                .stats
                .lost
                .saturating_add((to - out.next_seq).saturating_add(1));
            out.next_seq = to + 1;
        }
    };
    while pos < len {
        let it = scan::record_at(src, pos, version)?;
        if let Ok(it) = it
            && it.header.seq == out.next_seq
        {
            let new_pos = (SEGMENT_HEADER_LEN + out.bytes.len()) as u64;
            let b = src.bytes_at(pos, it.len)?;
            out.bytes.extend_from_slice(&b[..it.len]);
            match it.lost_to {
                None => {
                    ib.add(it.header.seq, new_pos, it.header.timestamp_ns);
                    out.stats.add(it.header.timestamp_ns);
                }
                Some(to) => {
                    out.lost.push(LostRange {
                        from: it.header.seq,
                        to,
                    });
                    out.stats.lost = out
                        .stats
                        .lost
                        .saturating_add((to - it.header.seq).saturating_add(1));
                }
            }
            out.next_seq = it.next_seq();
            pos += it.len as u64;
            continue;
        }
        let clean = matches!(it, Err(format::RecordError::Zero))
            || matches!(it, Ok(x) if x.header.seq < out.next_seq);
        let footer_here = scan::footer_at(src, pos, base)?.is_some();
        match scan::next_valid(src, pos + 8, out.next_seq, version)? {
            Some((p2, it2)) if !footer_here => {
                out.damaged.push(ByteRange {
                    offset: pos,
                    len: p2 - pos,
                });
                if it2.header.seq > out.next_seq {
                    lost(&mut out, it2.header.seq - 1);
                }
                pos = p2;
            }
            _ => {
                if !clean && !footer_here {
                    let end = footer_start(src, len, base)?.unwrap_or(len);
                    if end > pos {
                        out.damaged.push(ByteRange {
                            offset: pos,
                            len: end - pos,
                        });
                    }
                }
                break;
            }
        }
    }
    if let Some(end) = end_hint.filter(|&e| e > out.next_seq) {
        lost(&mut out, end - 1);
    }
    out.index = ib.entries;
    Ok(out)
}

/// Where a valid footer of segment `base` ending the file starts, if there is one.
fn footer_start(src: &mut dyn Source, len: u64, base: u64) -> std::io::Result<Option<u64>> {
    if len < (SEGMENT_HEADER_LEN + format::FOOTER_LEN) as u64 {
        return Ok(None);
    }
    let at = len - format::FOOTER_LEN as u64;
    Ok(scan::footer_at(src, at, base)?.map(|_| at))
}

/// The index of a segment, rebuilt by a full scan.
pub(super) fn index_of(
    backend: &dyn Backend,
    v: &SegView,
) -> Result<Vec<format::IndexEntry>, Error> {
    let f = backend.open(&v.name, Access::Read).op("open", &v.name)?;
    let len = f.len().op("stat", &v.name)?;
    let mut src = FileSource::new(&*f as &dyn BackendFile, len);
    let got = scan::scan_indexed(&mut src, v.base, v.version, v.interval)
        .map_err(|e| Error::io("read", &v.name, e))?;
    Ok(got.index.entries)
}

impl Recovery<'_> {
    /// Phase 2 (with `force`): stray files out, damaged segments rebuilt, gaps recorded.
    pub(super) fn take_out_corruption(&mut self) -> Result<(), Error> {
        for i in 0..self.survey.segs.len() {
            let v = self.survey.segs[i].clone();
            match &v.verdict {
                Verdict::Stray { why } => self.quarantine_whole(&v, why)?,
                Verdict::Corrupt { at, why, .. } => self.rebuild(&v, *at, why)?,
                _ => {}
            }
        }
        for g in self.survey.gaps.clone() {
            self.record_gap(g.from, g.to)?;
        }
        Ok(())
    }

    /// Moves a segment file that holds nothing of the log to `quarantine/`.
    fn quarantine_whole(&mut self, v: &SegView, why: &str) -> Result<(), Error> {
        let kept = quarantine::keep(self.backend, &v.name, self.now)?;
        quarantine::report(
            self.backend,
            &QuarantineEntry {
                recovered_ns: self.now,
                file: v.name.clone(),
                quarantined_as: kept.clone(),
                reason: why.to_owned(),
                damaged: Vec::new(),
                lost: Vec::new(),
            },
        )?;
        remove_segment_files(self.backend, v.base)?;
        self.backend.sync_dir().op("sync_dir", "log directory")?;
        self.report.quarantined.push(kept);
        self.report.removed.push(v.name.clone());
        Ok(())
    }

    /// Rebuilds a damaged segment around its damage; the original goes to quarantine.
    fn rebuild(&mut self, v: &SegView, at: u64, why: &str) -> Result<(), Error> {
        let f = self
            .backend
            .open(&v.name, Access::Read)
            .op("open", &v.name)?;
        let len = f.len().op("stat", &v.name)?;
        let mut src = FileSource::new(&*f as &dyn BackendFile, len);
        let sal = salvage(&mut src, v.base, v.interval, v.next_seq)
            .map_err(|e| Error::io("read", &v.name, e))?;
        drop(src);
        drop(f);
        if sal.next_seq == v.base {
            // Nothing of the log in it after all.
            return self.quarantine_whole(v, why);
        }
        let kept = quarantine::keep(self.backend, &v.name, self.now)?;
        quarantine::report(
            self.backend,
            &QuarantineEntry {
                recovered_ns: self.now,
                file: v.name.clone(),
                quarantined_as: kept.clone(),
                reason: why.to_owned(),
                damaged: sal.damaged.clone(),
                lost: sal.lost.clone(),
            },
        )?;
        let header = SegmentHeader {
            base_seq: v.base,
            created_ns: v.header.map_or(self.now, |h| h.created_ns),
            torn_window: 0,
        };
        let footer = SegmentFooter {
            base_seq: v.base,
            record_count: sal.stats.count,
            last_seq: sal.next_seq - 1,
            first_ts: sal.stats.first_ts.unwrap_or(0),
            last_ts: sal.stats.last_ts,
            max_ts: sal.stats.max_ts,
            records_end: (SEGMENT_HEADER_LEN + sal.bytes.len()) as u64,
            sealed_ns: self.now,
            digest_kind: 0,
            digest: [0; footer::DIGEST_LEN],
        };
        let footer = self.chained(footer, &sal.bytes);
        write_whole_segment(self.backend, &header, &sal.bytes, &footer)?;
        write_index_file(self.backend, v.base, v.interval, &sal.index)?;
        let lost = sal
            .lost
            .iter()
            .map(|l| SeqRange {
                first: l.from,
                last: l.to,
            })
            .reduce(|a, b| SeqRange {
                first: a.first.min(b.first),
                last: a.last.max(b.last),
            });
        self.report.cuts.push(Cut {
            file: v.name.clone(),
            offset: at,
            bytes_cut: sal.damaged.iter().map(|d| d.len).sum(),
            kind: CutKind::Forced,
            reason: why.to_owned(),
            lost,
        });
        self.report.holes.extend(sal.lost.iter().copied());
        self.report.quarantined.push(kept);
        self.report.rebuilt_segments.push(v.name.clone());
        self.report.rebuilt_indexes.push(format::index_name(v.base));
        Ok(())
    }

    /// `footer` with the digest chain over `records`, continuing from the segment
    /// before (a segment whose records are intact keeps the digest it had, so the chain
    /// still links; one that lost records starts a new link, which the verifier reports
    /// as information next to the lost range).
    fn chained(&self, footer: SegmentFooter, records: &[u8]) -> SegmentFooter {
        let Ok(prev) = crate::chain_files::prev_for(self.backend, footer.base_seq) else {
            return footer;
        };
        let mut c = crate::format::chain::SegmentChain::new(prev, footer.base_seq);
        c.update(records);
        SegmentFooter {
            digest_kind: crate::format::chain::DIGEST_KIND_CHAIN,
            digest: c.footer_area(),
            ..footer
        }
    }

    /// Records sequences `from..=to`, missing between two segments, in a segment that
    /// holds only their lost range.
    fn record_gap(&mut self, from: u64, to: u64) -> Result<(), Error> {
        let mut bytes = Vec::new();
        encode_lost(&mut bytes, from, to);
        let header = SegmentHeader {
            base_seq: from,
            created_ns: self.now,
            torn_window: 0,
        };
        let footer = SegmentFooter {
            base_seq: from,
            record_count: 0,
            last_seq: to,
            first_ts: 0,
            last_ts: 0,
            max_ts: 0,
            records_end: (SEGMENT_HEADER_LEN + bytes.len()) as u64,
            sealed_ns: self.now,
            digest_kind: 0,
            digest: [0; footer::DIGEST_LEN],
        };
        let footer = self.chained(footer, &bytes);
        write_whole_segment(self.backend, &header, &bytes, &footer)?;
        write_index_file(self.backend, from, self.opts.index_interval, &[])?;
        let name = format::segment_name(from);
        self.report.cuts.push(Cut {
            file: name,
            offset: 0,
            bytes_cut: 0,
            kind: CutKind::Forced,
            reason: format!("sequences {from}..={to} are missing between segments"),
            lost: Some(SeqRange {
                first: from,
                last: to,
            }),
        });
        self.report.holes.push(LostRange { from, to });
        Ok(())
    }
}
