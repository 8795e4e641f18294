//! A cold source that lies: segments that hand out records past the end their listing
//! names, sequences at the top of the range, overlaps and gaps. The reader returns
//! `Error::Corrupt` (or the records that truly belong where they are read), never a
//! record from the wrong segment, never a panic.

mod common;

use std::sync::Arc;

use common::*;
use ringcore::frame::FrameHeader;
use storage_std::format::RecordRef;
use storage_std::{
    ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource, Error, LogReader, Start,
};

/// One listed segment and the records its cursor hands out (whatever the listing says).
#[derive(Debug, Clone)]
struct FakeSeg {
    base: u64,
    last: u64,
    records: Vec<(u64, Vec<u8>)>,
}

#[derive(Debug)]
struct Liar(Vec<FakeSeg>);

#[derive(Debug)]
struct FakeCursor {
    records: Vec<(FrameHeader, Vec<u8>)>,
    at: usize,
}

impl ColdCursor for FakeCursor {
    fn next(&mut self) -> Result<Option<RecordRef<'_>>, ColdError> {
        let Some((h, p)) = self.records.get(self.at) else {
            return Ok(None);
        };
        self.at += 1;
        Ok(Some(RecordRef {
            header: *h,
            payload: p,
        }))
    }
}

impl ColdSegmentSource for Liar {
    fn cold_segments(&self) -> Result<Vec<ColdSegment>, ColdError> {
        Ok(self
            .0
            .iter()
            .map(|s| ColdSegment {
                base_seq: s.base,
                last_seq: s.last,
                record_count: s.last.wrapping_sub(s.base).wrapping_add(1),
                first_ts: 0,
                last_ts: 0,
                max_ts: u64::MAX,
                created_ns: 0,
                sealed_ns: 0,
                bytes: 0,
                stored_bytes: 0,
                codec: "zstd".into(),
                location: format!("seg-{}", s.base),
            })
            .collect())
    }

    fn open_cursor(&self, base_seq: u64, start: Start) -> Result<Box<dyn ColdCursor>, ColdError> {
        let seg = self.0.iter().find(|s| s.base == base_seq).ok_or_else(|| {
            ColdError::new(ColdErrorKind::NotFound, format!("no segment {base_seq}"))
        })?;
        let records = seg
            .records
            .iter()
            .filter(|(s, _)| match start {
                Start::Seq(want) => *s >= want,
                _ => true,
            })
            .map(|(s, p)| {
                (
                    FrameHeader {
                        seq: *s,
                        timestamp_ns: *s,
                        len: p.len() as u32,
                        kind: 0,
                        flags: 0,
                    },
                    p.clone(),
                )
            })
            .collect();
        Ok(Box::new(FakeCursor { records, at: 0 }))
    }
}

fn seg(base: u64, last: u64, seqs: std::ops::RangeInclusive<u64>, tag: u8) -> FakeSeg {
    FakeSeg {
        base,
        last,
        records: seqs.map(|s| (s, vec![tag; 3])).collect(),
    }
}

/// Reads from `start` until the end or an error: the (sequence, payload tag) pairs
/// returned, and the error.
fn read(src: Liar, start: Start) -> (Vec<(u64, u8)>, Option<Error>) {
    let (_m, b) = mem();
    let r = LogReader::new(b).with_cold(Arc::new(src));
    let mut c = match r.cursor(start) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut got = Vec::new();
    loop {
        match c.next() {
            Ok(Some(rec)) => got.push((rec.seq(), rec.payload[0])),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e)),
        }
        assert!(got.len() < 1000, "runs on forever");
    }
}

/// A segment listed as 0..=4 whose object holds 0..=7: records 5..=7 belong to the next
/// segment (which holds other bytes for them). None of them may come from the first.
#[test]
fn records_past_a_cold_segments_listed_end_are_corrupt_not_data() {
    let src = Liar(vec![seg(0, 4, 0..=7, b'A'), seg(5, 9, 5..=9, b'B')]);
    let (got, err) = read(src, Start::Oldest);
    for &(s, tag) in &got {
        assert!(
            (s <= 4 && tag == b'A') || (s >= 5 && tag == b'B'),
            "sequence {s} came from the wrong segment ({}): {got:?}",
            tag as char
        );
    }
    assert!(
        matches!(err, Some(Error::Corrupt { .. })),
        "{got:?} {err:?}"
    );
    assert_eq!(got.len(), 5, "records before the lie are served: {got:?}");
}

/// The same lie found after a time skip.
#[test]
fn records_past_the_listed_end_after_a_time_skip_are_corrupt() {
    let src = Liar(vec![seg(0, 4, 0..=7, b'A'), seg(5, 9, 5..=9, b'B')]);
    let (got, err) = read(src, Start::Time(3));
    assert!(got.iter().all(|&(s, t)| (s <= 4) == (t == b'A')), "{got:?}");
    assert!(
        matches!(err, Some(Error::Corrupt { .. })),
        "{got:?} {err:?}"
    );
}

/// Sequences at the top of the range: a listing that claims the last sequence is
/// u64::MAX must not overflow the reader.
#[test]
fn a_cold_segment_ending_at_the_largest_sequence_does_not_panic() {
    let top = u64::MAX;
    for start in [
        Start::Seq(top - 1),
        Start::Seq(top),
        Start::Time(0),
        Start::Oldest,
    ] {
        let src = Liar(vec![seg(top - 2, top, top - 2..=top, b'A')]);
        let (got, err) = read(src, start);
        assert!(got.iter().all(|&(_, t)| t == b'A'));
        if err.is_none() {
            assert_eq!(got.last().map(|g| g.0), Some(top), "{start:?}: {got:?}");
        }
    }
}

/// Overlapping and gapped listings, and a segment that hands out its records out of
/// order or twice: corrupt, with every record served in sequence order.
#[test]
fn overlaps_gaps_and_disorder_are_corrupt() {
    let cases = vec![
        vec![seg(0, 9, 0..=9, b'A'), seg(5, 14, 5..=14, b'B')],
        vec![seg(0, 4, 0..=4, b'A'), seg(10, 14, 10..=14, b'B')],
        vec![FakeSeg {
            base: 0,
            last: 4,
            records: [0u64, 2, 1, 3, 4]
                .iter()
                .map(|&s| (s, vec![b'A']))
                .collect(),
        }],
        vec![FakeSeg {
            base: 0,
            last: 4,
            records: [0u64, 1, 1, 2, 3, 4]
                .iter()
                .map(|&s| (s, vec![b'A']))
                .collect(),
        }],
        vec![seg(0, 9, 0..=4, b'A')],
    ];
    for (i, segs) in cases.into_iter().enumerate() {
        let (got, err) = read(Liar(segs), Start::Oldest);
        assert!(
            matches!(err, Some(Error::Corrupt { .. })),
            "case {i}: {got:?} {err:?}"
        );
        for (k, &(s, _)) in got.iter().enumerate() {
            assert_eq!(s, k as u64, "case {i}: served out of order: {got:?}");
        }
    }
}
