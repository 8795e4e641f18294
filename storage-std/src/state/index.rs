//! A segment's index against its records: where a scan of the active segment may start
//! (its last entry that checks out), and what is wrong with an index file. Indexes are
//! derived: damage to them is repairable, and in the active segment, whose index is
//! appended without syncs, a damaged tail of it is torn.

use crate::backend::Backend;
use crate::error::Error;
use crate::format::{self, DecodedIndex, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::scan::{self, IndexBuilder, Source, Stats};

use super::{Ctx, Place, Problem, SegScan, SegView, Severity, Verdict};

/// Where a scan of the active segment starts: an index entry's record.
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    pub pos: u64,
    pub seq: u64,
    pub stats: Stats,
    pub index: IndexBuilder,
}

/// The last index entry whose record checks out (and the segment's first record, for
/// its first timestamp), if the index belongs to the segment.
pub(super) fn resume_point(
    src: &mut dyn Source,
    base: u64,
    version: u32,
    idx: Option<&DecodedIndex>,
) -> Option<Resume> {
    let d = idx?;
    let (first_seq, first_ts) = match scan::record_at(src, SEGMENT_HEADER_LEN as u64, version) {
        Ok(Ok(it)) if it.header.seq == base && it.lost_to.is_none() => {
            (it.header.seq, it.header.timestamp_ns)
        }
        _ => return None,
    };
    for k in (0..d.entries.len()).rev() {
        let e = d.entries[k];
        if let Ok(Ok(it)) = scan::record_at(src, e.pos, version)
            && it.header.seq == e.seq
            && it.lost_to.is_none()
        {
            return Some(Resume {
                pos: e.pos,
                seq: e.seq,
                stats: Stats {
                    count: e.seq - base,
                    first_ts: (e.seq > first_seq).then_some(first_ts),
                    last_ts: 0,
                    max_ts: e.max_ts_before,
                    lost: 0,
                },
                index: IndexBuilder::resume(d.header.interval, d.entries[..=k].to_vec()),
            });
        }
    }
    None
}

/// Checks the index of a scanned segment; returns whether recovery must rewrite it.
pub(super) fn check(
    backend: &dyn Backend,
    view: &SegView,
    sc: &SegScan,
    idx: Option<&DecodedIndex>,
    at: &Place,
    cx: &mut Ctx,
) -> Result<bool, Error> {
    let name = format::index_name(view.base);
    let active = view.verdict.is_active();
    match &view.verdict {
        // The index goes with the segment (removed, quarantined or rebuilt with it), or
        // a live writer is appending to it.
        Verdict::TornCreation
        | Verdict::Stray { .. }
        | Verdict::Corrupt { .. }
        | Verdict::Live { .. } => return Ok(true),
        _ => {}
    }
    // What a crash can leave of the active segment's index (appended without syncs) is
    // a torn tail; anything else wrong with an index is repairable.
    let torn_or = |suffix: bool| {
        if active && suffix {
            Severity::TornTail
        } else {
            Severity::Repairable
        }
    };
    if !at.has_index {
        cx.add(
            torn_or(true),
            &name,
            None,
            Problem::MissingIndex,
            format!("{name} is missing (rebuilt from its segment on open)"),
        );
        return Ok(true);
    }
    let bytes = backend
        .read_all(&name)
        .map_err(|e| Error::io("read", &name, e))?;
    match (idx, format::decode_index(&bytes)) {
        (Some(_), _) => {}
        (None, Ok(d)) => {
            cx.add(
                Severity::Repairable,
                &name,
                Some(0),
                Problem::BadIndex {
                    detail: format!("base {} in the index of {}", d.header.base_seq, view.base),
                },
                format!("{name}: index belongs to segment {}", d.header.base_seq),
            );
            return Ok(true);
        }
        (None, Err(e)) => {
            // A header shorter than its length (or zeros) is a torn creation.
            let torn = bytes.len() < INDEX_HEADER_LEN || bytes.iter().all(|&b| b == 0);
            cx.add(
                torn_or(torn),
                &name,
                Some(0),
                Problem::BadIndex {
                    detail: format!("header: {e}"),
                },
                format!("{name}: index header damaged: {e}"),
            );
            return Ok(true);
        }
    }
    if !sc.full {
        // Only its last good entry was used; an active index is rewritten on open.
        return Ok(active);
    }
    let want = &sc.index.entries;
    // Every entry slot on its own (decoding stops at the first bad one; later ones tell
    // a torn tail from damage in the middle).
    let body = &bytes[INDEX_HEADER_LEN.min(bytes.len())..];
    let slots: Vec<Option<format::IndexEntry>> = body
        .chunks(INDEX_ENTRY_LEN)
        .map(|c| format::IndexEntry::decode(c).ok())
        .collect();
    let matches = |j: usize| slots[j].is_some() && slots[j].as_ref() == want.get(j);
    if let Some(k) = (0..slots.len()).find(|&j| !matches(j)) {
        let later_good = (k + 1..slots.len()).any(matches);
        let off = (INDEX_HEADER_LEN + k * INDEX_ENTRY_LEN) as u64;
        let what = match slots[k] {
            None => format!("entry at offset {off} damaged"),
            Some(_) => format!("entry {k} disagrees with the segment"),
        };
        cx.add(
            torn_or(!later_good),
            &name,
            Some(off),
            Problem::BadIndex {
                detail: what.clone(),
            },
            format!("{name}: index {what}"),
        );
        return Ok(true);
    }
    if !active && slots.len() != want.len() {
        cx.add(
            Severity::Repairable,
            &name,
            Some(bytes.len() as u64),
            Problem::BadIndex {
                detail: format!(
                    "{} entries, the sealed segment needs {}",
                    slots.len(),
                    want.len()
                ),
            },
            format!("{name}: index of a sealed segment is incomplete"),
        );
        return Ok(true);
    }
    // An active index holds entries only for synced records: a prefix. Recovery rewrites
    // it whenever the segment's end moves.
    Ok(active && (slots.len() != want.len() || matches!(view.verdict, Verdict::Torn { .. })))
}
