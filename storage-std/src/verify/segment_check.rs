//! The checks of one segment and its index: header, every record, continuity with the
//! previous segment, footer or tail, and the index against the records.

use crate::backend::{Access, Backend};
use crate::format::{
    self, FOOTER_LEN, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader,
    StructError, decode_index,
};
use crate::scan::{self, FileSource, IndexBuilder, Source, Stop, TailJudgement, judge_tail};

use super::{Ctx, Problem, SegmentCheck, Severity};

/// Checks segment `base` (the last one if `is_last`), continuing from the sequence
/// `expected` after the previous segment, which it updates.
pub(super) fn verify_segment(
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
            cx.unreadable(&name, None, &e);
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
            cx.unreadable(&name, Some(0), &e);
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
    let idx_interval = if has_index {
        backend
            .read_all(&format::index_name(base))
            .ok()
            .and_then(|b| format::IndexHeader::decode(&b).ok())
            .map(|h| h.interval)
    } else {
        None
    };
    let (end, st, ib) = match scan::scan_indexed(&mut src, base, idx_interval.unwrap_or(1)) {
        Ok(s) => (s.end, s.stats, s.index),
        Err(e) => {
            cx.unreadable(&name, None, &e);
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
            let diffs = st.footer_diffs(f, end.next_seq);
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
            } else if let judgement @ (TailJudgement::Torn | TailJudgement::BeyondWindow) =
                judge_tail(stop, beyond.as_ref(), end.pos, header.torn_window)
            {
                let w = header.torn_window;
                let far = beyond.map(|b| b.distance_from(end.pos));
                let corrupt = judgement == TailJudgement::BeyondWindow;
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
            cx.unreadable(&name, None, &e);
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
