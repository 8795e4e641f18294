//! Scanning the records of a segment: from a byte slice (mapped or in memory, so it runs
//! under Miri) or from a file through positioned reads in bounded chunks.

use std::io;

use crate::backend::{BackendFile, read_full_at};
use crate::format::record::PREFIX_LEN;
use crate::format::segment::footer;
use crate::format::{
    Entry, FOOTER_LEN, IndexEntry, MAX_PAYLOAD_LEN, RecordError, SEGMENT_HEADER_LEN, SegmentFooter,
    decode_entry, disk_record_len,
};

/// Bytes read at a time by [`FileSource`].
pub(crate) const CHUNK: usize = 1 << 20;

/// Random access to a segment's bytes.
pub(crate) trait Source {
    /// Length of the segment.
    fn len(&self) -> u64;
    /// The bytes from `pos` on: at least `want` of them unless the segment ends first.
    fn bytes_at(&mut self, pos: u64, want: usize) -> io::Result<&[u8]>;
}

/// A segment held in memory.
#[cfg(test)]
pub(crate) struct SliceSource<'a>(pub &'a [u8]);

#[cfg(test)]
impl Source for SliceSource<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn bytes_at(&mut self, pos: u64, _want: usize) -> io::Result<&[u8]> {
        let p = usize::try_from(pos).unwrap_or(usize::MAX);
        Ok(self.0.get(p..).unwrap_or(&[]))
    }
}

/// A segment read through positioned reads into one reused buffer.
pub(crate) struct FileSource<F> {
    pub(crate) file: F,
    len: u64,
    pub(crate) buf: Vec<u8>,
    pub(crate) buf_start: u64,
}

impl<F: std::ops::Deref<Target = dyn BackendFile>> FileSource<F> {
    /// Reads `file`, whose length is taken as `len` (bytes past it are not read).
    pub(crate) fn new(file: F, len: u64) -> Self {
        Self {
            file,
            len,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// Sets a new length (the file grew) and drops the buffer.
    pub(crate) fn set_len(&mut self, len: u64) {
        self.len = len;
        self.buf.clear();
    }
}

impl<F: std::ops::Deref<Target = dyn BackendFile>> Source for FileSource<F> {
    fn len(&self) -> u64 {
        self.len
    }

    fn bytes_at(&mut self, pos: u64, want: usize) -> io::Result<&[u8]> {
        if pos >= self.len {
            return Ok(&[]);
        }
        let avail_total = self.len - pos;
        let want = (want as u64).min(avail_total);
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos < self.buf_start || pos + want > buf_end {
            let n = (want.max(CHUNK as u64)).min(avail_total) as usize;
            self.buf.resize(n, 0);
            let got = read_full_at(&*self.file, pos, &mut self.buf)?;
            self.buf.truncate(got);
            self.buf_start = pos;
        }
        let off = (pos - self.buf_start) as usize;
        Ok(&self.buf[off..])
    }
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The segment ends exactly after the last record.
    Eof,
    /// An all-zero record prefix: the clean end of a preallocated file.
    Zero,
    /// A valid record with a sequence below the expected one: a leftover from a recycled
    /// file, which ends the log like a zero header.
    Leftover {
        /// The sequence found.
        found: u64,
    },
    /// A valid footer whose records end is this position.
    Footer(SegmentFooter),
    /// Bytes that are neither a record, a clean end, nor this segment's footer.
    Damage(Damage),
}

/// Damage found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Damage {
    /// The record does not decode.
    Record(RecordError),
    /// A valid record with a sequence after the expected one (records are missing).
    Gap {
        /// The sequence found.
        found: u64,
        /// The sequence expected.
        expected: u64,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Record(e) => write!(f, "{e}"),
            Self::Gap { found, expected } => {
                write!(f, "sequence {found} where {expected} was expected")
            }
        }
    }
}

impl Stop {
    /// Whether this stop is a clean end of records (not damage, not a footer).
    pub(crate) fn is_clean_end(&self) -> bool {
        matches!(self, Self::Eof | Self::Zero | Self::Leftover { .. })
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Eof => "end of file".into(),
            Self::Zero => "zero header".into(),
            Self::Leftover { found } => format!("leftover record {found}"),
            Self::Footer(_) => "footer".into(),
            Self::Damage(d) => d.to_string(),
        }
    }
}

/// Statistics of the records a scan passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Data records.
    pub count: u64,
    pub first_ts: Option<u64>,
    pub last_ts: u64,
    pub max_ts: u64,
    /// Sequences covered by lost-range markers (format 2).
    pub lost: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, ts: u64) {
        self.count += 1;
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = ts;
        self.max_ts = self.max_ts.max(ts);
    }

    /// Whether the records passed cover any sequence (records or lost ranges).
    pub(crate) fn covers_any(&self) -> bool {
        self.count > 0 || self.lost > 0
    }
}

impl Stats {
    /// How `footer` disagrees with the records a scan counted up to `next_seq` (empty when
    /// it matches them). Recovery and the verifier judge a footer by this one rule.
    pub(crate) fn footer_diffs(&self, footer: &SegmentFooter, next_seq: u64) -> Vec<String> {
        let last_seq = self.covers_any().then(|| next_seq.wrapping_sub(1));
        let mut diffs = Vec::new();
        if footer.record_count != self.count {
            diffs.push(format!(
                "count {} vs {} records",
                footer.record_count, self.count
            ));
        }
        if Some(footer.last_seq) != last_seq {
            diffs.push(format!("last sequence {} vs {last_seq:?}", footer.last_seq));
        }
        if footer.first_ts != self.first_ts.unwrap_or(0)
            || footer.last_ts != self.last_ts
            || footer.max_ts != self.max_ts
        {
            diffs.push("timestamps differ".into());
        }
        diffs
    }
}

/// Where a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanEnd {
    /// Position of the first byte not part of a good record.
    pub pos: u64,
    /// The sequence the next record must have.
    pub next_seq: u64,
    /// Why it stopped.
    pub stop: Stop,
}

/// Tries a footer at `pos`.
pub(crate) fn footer_at(
    src: &mut dyn Source,
    pos: u64,
    base_seq: u64,
) -> io::Result<Option<SegmentFooter>> {
    let b = src.bytes_at(pos, FOOTER_LEN)?;
    if b.len() < FOOTER_LEN || b[..8] != footer::MAGIC {
        return Ok(None);
    }
    Ok(SegmentFooter::decode(b)
        .ok()
        .filter(|f| f.records_end == pos && f.base_seq == base_seq))
}

/// What a scan found at a position: a record's frame header, or a lost-range marker
/// (its header's sequence is the range's first; `lost_to` its last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub header: ringcore::frame::FrameHeader,
    pub len: usize,
    pub lost_to: Option<u64>,
}

impl Item {
    /// The sequence after this item.
    pub(crate) fn next_seq(&self) -> u64 {
        self.lost_to.unwrap_or(self.header.seq).wrapping_add(1)
    }
}

/// Decodes the entry at `pos` of `src` in a segment of format `version` (no sequence
/// check). `Ok(Err(_))` is damage.
pub(crate) fn record_at(
    src: &mut dyn Source,
    pos: u64,
    version: u32,
) -> io::Result<Result<Item, RecordError>> {
    let prefix = src.bytes_at(pos, PREFIX_LEN)?;
    let need = if prefix.len() >= PREFIX_LEN {
        let len = u32::from_le_bytes([prefix[16], prefix[17], prefix[18], prefix[19]]) as usize;
        if len > MAX_PAYLOAD_LEN {
            PREFIX_LEN
        } else {
            disk_record_len(len)
        }
    } else {
        PREFIX_LEN
    };
    let b = src.bytes_at(pos, need)?;
    Ok(decode_entry(b, version).map(|e| match e {
        Entry::Record(r) => Item {
            header: r.header,
            len: r.disk_len(),
            lost_to: None,
        },
        Entry::Lost(l) => Item {
            header: ringcore::frame::FrameHeader {
                seq: l.from,
                timestamp_ns: 0,
                len: 8,
                kind: 0,
                flags: 0,
            },
            len: e.disk_len(),
            lost_to: Some(l.to),
        },
    }))
}

/// Scans entries from `pos`, expecting `next_seq`, until something else is found.
/// `on_item` sees each good entry's position: data records (`lost_to` is `None`) and
/// lost-range markers, which move `next_seq` past their range and count in
/// `stats.lost`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan(
    src: &mut dyn Source,
    mut pos: u64,
    mut next_seq: u64,
    base_seq: u64,
    version: u32,
    stats: &mut Stats,
    mut on_item: impl FnMut(u64, &Item),
) -> io::Result<ScanEnd> {
    loop {
        if pos >= src.len() {
            return Ok(ScanEnd {
                pos,
                next_seq,
                stop: Stop::Eof,
            });
        }
        let stop = match record_at(src, pos, version)? {
            Ok(it) if it.header.seq == next_seq => {
                on_item(pos, &it);
                match it.lost_to {
                    None => stats.add(it.header.timestamp_ns),
                    Some(to) => {
                        stats.lost = stats
                            .lost
                            .saturating_add((to - it.header.seq).saturating_add(1))
                    }
                }
                pos += it.len as u64;
                next_seq = it.next_seq();
                continue;
            }
            Ok(it) if it.header.seq < next_seq => Stop::Leftover {
                found: it.header.seq,
            },
            Ok(it) => Stop::Damage(Damage::Gap {
                found: it.header.seq,
                expected: next_seq,
            }),
            Err(RecordError::Zero) => Stop::Zero,
            Err(e) => Stop::Damage(Damage::Record(e)),
        };
        let stop = match (&stop, footer_at(src, pos, base_seq)?) {
            (Stop::Leftover { .. } | Stop::Zero, _) | (_, None) => stop,
            (_, Some(f)) => Stop::Footer(f),
        };
        return Ok(ScanEnd {
            pos,
            next_seq,
            stop,
        });
    }
}

/// What a scan of a whole segment found: its index.
#[derive(Debug, Clone)]
pub(crate) struct Indexed {
    /// The sparse index of its records.
    pub index: IndexBuilder,
}

/// Scans segment `base` (format `version`) from its first record, building its index
/// with `interval`.
pub(crate) fn scan_indexed(
    src: &mut dyn Source,
    base: u64,
    version: u32,
    interval: u32,
) -> io::Result<Indexed> {
    let mut stats = Stats::default();
    let mut index = IndexBuilder::new(interval);
    scan(
        src,
        SEGMENT_HEADER_LEN as u64,
        base,
        base,
        version,
        &mut stats,
        |pos, it| {
            if it.lost_to.is_none() {
                index.add(it.header.seq, pos, it.header.timestamp_ns)
            }
        },
    )?;
    Ok(Indexed { index })
}

/// Valid records found after damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Beyond {
    /// Position of the first one.
    pub first_pos: u64,
    /// End of the furthest one.
    pub last_end: u64,
    /// Smallest sequence found.
    pub min_seq: u64,
    /// Largest sequence found.
    pub max_seq: u64,
    /// How many.
    pub count: u64,
}

impl Beyond {
    /// How far past `pos` (where the good records end) the furthest valid record ends.
    pub(crate) fn distance_from(&self, pos: u64) -> u64 {
        self.last_end.saturating_sub(pos)
    }
}

/// How the good records of the last segment end, given what follows them. Recovery and
/// the verifier judge a tail by this one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TailJudgement {
    /// A clean end and nothing of this log after it.
    Clean,
    /// Damage, or valid records no further than the torn window past it: what a crash
    /// leaves. Recovery cuts it.
    Torn,
    /// Valid records end further than the segment's torn window past the damage: bytes
    /// that were synced are damaged. Recovery cuts only with `force`.
    BeyondWindow,
}

/// Judges the end of the last segment's records: `stop` at `pos`, `beyond` the valid
/// records found after it, `window` the segment's torn window (0 = unbounded).
pub(crate) fn judge_tail(
    stop: &Stop,
    beyond: Option<&Beyond>,
    pos: u64,
    window: u64,
) -> TailJudgement {
    if stop.is_clean_end() && beyond.is_none() {
        return TailJudgement::Clean;
    }
    match beyond {
        Some(b) if window != 0 && b.distance_from(pos) > window => TailJudgement::BeyondWindow,
        _ => TailJudgement::Torn,
    }
}

/// The next valid entry (record or, in format 2, lost-range marker) with a sequence at
/// or after `expected` at an 8-aligned position from `from` on; leftovers of a recycled
/// file (lower sequences) and zero or junk bytes are skipped.
pub(crate) fn next_valid(
    src: &mut dyn Source,
    from: u64,
    expected: u64,
    version: u32,
) -> io::Result<Option<(u64, Item)>> {
    let mut pos = (from + 7) & !7;
    let len = src.len();
    while pos + PREFIX_LEN as u64 <= len {
        let b = src.bytes_at(pos, PREFIX_LEN)?;
        if b.len() < PREFIX_LEN {
            break;
        }
        // Cheap filters before a CRC: a plausible sequence and a zero reserved word (or
        // a marker's).
        let seq = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let word = u32::from_le_bytes([b[28], b[29], b[30], b[31]]);
        let plausible = seq >= expected
            && seq - expected < (1 << 40)
            && (word == 0 || (version >= 2 && word == crate::format::record::LOST_MARK))
            && b[..24].iter().any(|&x| x != 0);
        if plausible && let Ok(it) = record_at(src, pos, version)? {
            return Ok(Some((pos, it)));
        }
        pos += 8;
    }
    Ok(None)
}

/// Looks for valid entries with a sequence at or after `expected` anywhere after `from`
/// (at every 8-aligned position past it).
pub(crate) fn find_beyond(
    src: &mut dyn Source,
    from: u64,
    expected: u64,
    version: u32,
) -> io::Result<Option<Beyond>> {
    let mut pos = (from + 8) & !7;
    let mut found: Option<Beyond> = None;
    while let Some((p, it)) = next_valid(src, pos, expected, version)? {
        let end = p + it.len as u64;
        let last = it.next_seq().wrapping_sub(1);
        found = Some(match found {
            None => Beyond {
                first_pos: p,
                last_end: end,
                min_seq: it.header.seq,
                max_seq: last,
                count: 1,
            },
            Some(f) => Beyond {
                last_end: end,
                min_seq: f.min_seq.min(it.header.seq),
                max_seq: f.max_seq.max(last),
                count: f.count + 1,
                ..f
            },
        });
        pos = end;
    }
    Ok(found)
}

/// Builds the sparse index of records as a scan passes them.
#[derive(Debug, Clone)]
pub(crate) struct IndexBuilder {
    pub interval: u64,
    pub entries: Vec<IndexEntry>,
    max_ts: u64,
    last_pos: Option<u64>,
}

impl IndexBuilder {
    pub(crate) fn new(interval: u32) -> Self {
        Self {
            interval: u64::from(interval.max(1)),
            entries: Vec::new(),
            max_ts: 0,
            last_pos: None,
        }
    }

    /// Continues from a known entry (the scan restarts at that entry's record) with the
    /// earlier entries kept.
    pub(crate) fn resume(interval: u32, entries: Vec<IndexEntry>) -> Self {
        let mut b = Self::new(interval);
        if let Some(last) = entries.last() {
            b.max_ts = last.max_ts_before;
            b.last_pos = None;
            b.entries = entries;
            b.entries.pop();
        }
        b
    }

    /// Sees the record at `pos` with timestamp `ts`.
    pub(crate) fn add(&mut self, seq: u64, pos: u64, ts: u64) {
        let due = match self.last_pos {
            None => true,
            Some(p) => pos >= p + self.interval,
        };
        let due = due
            && self
                .entries
                .last()
                .is_none_or(|e| e.seq < seq && e.pos < pos);
        if due {
            self.entries.push(IndexEntry {
                seq,
                pos,
                max_ts_before: self.max_ts,
            });
            self.last_pos = Some(pos);
        }
        self.max_ts = self.max_ts.max(ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{SEGMENT_HEADER_LEN, SegmentHeader, encode_record};
    use ringcore::frame::FrameHeader;

    fn segment(base: u64, n: u64) -> Vec<u8> {
        let mut v = SegmentHeader {
            base_seq: base,
            created_ns: 0,
            torn_window: 0,
        }
        .encode()
        .to_vec();
        for s in base..base + n {
            encode_record(
                &mut v,
                &FrameHeader {
                    seq: s,
                    timestamp_ns: s,
                    ..Default::default()
                },
                &vec![s as u8; (s % 13) as usize],
            );
        }
        v
    }

    #[test]
    fn scan_to_eof_zero_and_damage() {
        let seg = segment(10, 20);
        let mut st = Stats::default();
        let end = scan(
            &mut SliceSource(&seg),
            SEGMENT_HEADER_LEN as u64,
            10,
            10,
            1,
            &mut st,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(
            (end.pos, end.next_seq, end.stop.clone()),
            (seg.len() as u64, 30, Stop::Eof)
        );
        assert_eq!(st.count, 20);

        let mut z = seg.clone();
        z.extend_from_slice(&[0u8; 100]);
        let end = scan(
            &mut SliceSource(&z),
            64,
            10,
            10,
            1,
            &mut Stats::default(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!((end.pos, end.stop), (seg.len() as u64, Stop::Zero));

        let mut d = seg.clone();
        let mid = 64 + 32 * 3 + 10;
        d[mid] ^= 0x40;
        let end = scan(
            &mut SliceSource(&d),
            64,
            10,
            10,
            1,
            &mut Stats::default(),
            |_, _| {},
        )
        .unwrap();
        assert!(matches!(end.stop, Stop::Damage(_)), "{end:?}");
        assert!(end.next_seq < 30);
        let b = find_beyond(&mut SliceSource(&d), end.pos, end.next_seq, 1)
            .unwrap()
            .unwrap();
        assert_eq!(b.max_seq, 29);
        assert_eq!(b.last_end, seg.len() as u64);
        assert_eq!(b.min_seq, end.next_seq + 1);
    }

    #[test]
    fn file_source_matches_slice_source() {
        let n = if cfg!(miri) { 40 } else { 500 };
        let seg = segment(0, n);
        let mem = crate::backend::MemBackend::new();
        mem.put_file("s", seg.clone());
        use crate::backend::Backend;
        let f = mem.open("s", crate::backend::Access::Read).unwrap();
        let mut fs = FileSource::new(&*f, seg.len() as u64);
        let a = scan(&mut fs, 64, 0, 0, 1, &mut Stats::default(), |_, _| {}).unwrap();
        let b = scan(
            &mut SliceSource(&seg),
            64,
            0,
            0,
            1,
            &mut Stats::default(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.next_seq, n);
    }

    #[test]
    fn leftovers_of_a_recycled_file_end_the_log() {
        let mut seg = segment(100, 3);
        let old = segment(5, 10);
        seg.extend_from_slice(&old[64..]);
        let end = scan(
            &mut SliceSource(&seg),
            64,
            100,
            100,
            1,
            &mut Stats::default(),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(end.next_seq, 103);
        assert_eq!(end.stop, Stop::Leftover { found: 5 });
        assert_eq!(
            find_beyond(&mut SliceSource(&seg), end.pos, 103, 1).unwrap(),
            None
        );
    }

    #[test]
    fn index_builder_is_sparse_and_deterministic() {
        let mut b = IndexBuilder::new(100);
        for i in 0..50u64 {
            b.add(i, 64 + i * 40, 1000 - i);
        }
        assert_eq!(b.entries[0].pos, 64);
        assert!(b.entries.windows(2).all(|w| w[1].pos >= w[0].pos + 100));
        assert_eq!(b.entries.len(), 17);
        assert_eq!(b.entries[1].max_ts_before, 1000);
        let resumed = IndexBuilder::resume(100, b.entries[..5].to_vec());
        let mut r = resumed;
        for i in b.entries[4].seq..50 {
            r.add(i, 64 + i * 40, 1000 - i);
        }
        assert_eq!(r.entries, b.entries);
    }
}
