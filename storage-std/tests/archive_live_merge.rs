//! `LiveMerge`: a recording replayed into a live log's follow cursor. With a writer
//! appending to the live log meanwhile, every sequence is delivered exactly once, from
//! the recording up to the hand-over and from the live log after; sequences in neither
//! log are a `MergeGap`, never skipped.

use std::path::Path;
use std::time::Duration;

use storage_std::archive::{ArchiveError, LiveMerge, MergedFrom};
use storage_std::{
    Durability, LogItem, LogReader, RecordMeta, RetentionPolicy, Start, Writer, WriterOptions,
};

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(16 << 10);
    o
}

fn payload(seq: u64) -> Vec<u8> {
    seq.to_le_bytes().repeat(4)
}

fn append(w: &Writer, from: u64, to: u64) {
    for seq in from..to {
        let meta = RecordMeta {
            timestamp_ns: Some(1_000 + seq * 10),
            ..Default::default()
        };
        assert_eq!(w.append_with(&payload(seq), meta).unwrap(), seq);
    }
}

/// A live log holding `0..end` whose segments before `keep_from` or so were deleted by
/// retention, and a recording holding `0..recorded`.
fn logs(root: &Path, recorded: u64, end: u64, keep_segments: usize) -> (Writer, u64) {
    let archive: Writer = Writer::open(root.join("archive"), opts()).unwrap();
    append(&archive, 0, recorded);
    archive.close().unwrap();
    let live: Writer = Writer::open(root.join("live"), opts()).unwrap();
    append(&live, 0, end);
    live.sync().unwrap();
    live.apply_retention(&RetentionPolicy::default().with_max_segments(Some(keep_segments)))
        .unwrap();
    let first = LogReader::open(root.join("live"))
        .unwrap()
        .segments()
        .unwrap()[0]
        .base_seq;
    (live, first)
}

#[test]
fn a_replay_hands_over_to_the_live_log_exactly_once_while_it_grows() {
    let root = tempfile::tempdir().unwrap();
    let (recorded, end, total) = (3000, 3000, 40_000);
    let (live, live_first) = logs(root.path(), recorded, end, 3);
    assert!(live_first > 0 && live_first < recorded, "{live_first}");
    let mut merge = LiveMerge::new(
        LogReader::open(root.path().join("archive")).unwrap(),
        LogReader::open(root.path().join("live")).unwrap(),
        Start::Seq(0),
    )
    .unwrap();
    let mut seen = vec![0u8; total as usize];
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            // Appends in bursts while the merge reads, syncing so that it follows.
            for chunk in (end..total).step_by(1000) {
                append(&live, chunk, (chunk + 1000).min(total));
                live.sync().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let mut delivered = 0u64;
        while delivered < total {
            let got = merge
                .next_wait(Duration::from_secs(30), |from, item| match item {
                    LogItem::Record(r) => {
                        assert_eq!(r.payload, payload(r.seq()), "seq {}", r.seq());
                        (r.seq(), from)
                    }
                    LogItem::Lost(l) => panic!("lost {l:?}"),
                })
                .unwrap()
                .expect("the writer appends everything within the timeout");
            let (seq, from) = got;
            seen[seq as usize] += 1;
            assert_eq!(seq, delivered, "in order, no gap");
            let want = if seq < recorded {
                MergedFrom::Archive
            } else {
                MergedFrom::Live
            };
            assert_eq!(from, want, "seq {seq}");
            delivered += 1;
        }
        writer.join().unwrap();
    });
    assert!(seen.iter().all(|&n| n == 1), "every sequence exactly once");
    let stats = merge.stats();
    assert_eq!(
        (stats.from_archive, stats.from_live, stats.handover_seq),
        (recorded, total - recorded, Some(recorded))
    );
    // Nothing more: the next call waits and returns None.
    assert!(
        merge
            .next_wait(Duration::from_millis(20), |_, _| ())
            .unwrap()
            .is_none()
    );
    live.close().unwrap();
}

#[test]
fn sequences_in_neither_log_are_a_gap() {
    let root = tempfile::tempdir().unwrap();
    // The recording stops at 199; the live log kept only its last segment, far later.
    let (live, live_first) = logs(root.path(), 200, 3000, 1);
    assert!(live_first > 200);
    let mut merge = LiveMerge::new(
        LogReader::open(root.path().join("archive")).unwrap(),
        LogReader::open(root.path().join("live")).unwrap(),
        Start::Seq(150),
    )
    .unwrap();
    for want in 150..200 {
        let seq = merge
            .next_wait(Duration::from_secs(5), |_, item| match item {
                LogItem::Record(r) => r.seq(),
                LogItem::Lost(_) => unreachable!(),
            })
            .unwrap();
        assert_eq!(seq, Some(want));
    }
    match merge.next_wait(Duration::from_secs(5), |_, _| ()) {
        Err(ArchiveError::MergeGap { expected, found }) => {
            assert_eq!((expected, found), (200, live_first))
        }
        other => panic!("{other:?}"),
    }
    live.close().unwrap();
}

#[test]
fn a_time_start_and_a_start_past_the_recording() {
    let root = tempfile::tempdir().unwrap();
    let (live, _) = logs(root.path(), 1000, 1500, 100);
    let open = |start| {
        LiveMerge::new(
            LogReader::open(root.path().join("archive")).unwrap(),
            LogReader::open(root.path().join("live")).unwrap(),
            start,
        )
        .unwrap()
    };
    let first = |m: &mut LiveMerge| {
        m.next_wait(Duration::from_secs(5), |from, item| match item {
            LogItem::Record(r) => (r.seq(), from),
            LogItem::Lost(_) => unreachable!(),
        })
        .unwrap()
        .unwrap()
    };
    // Timestamps are 1000 + 10 * seq: 5_005 ns is first reached by sequence 401.
    let mut m = open(Start::Time(5_005));
    assert_eq!(first(&mut m), (401, MergedFrom::Archive));
    // Past the recording's end: straight from the live log.
    let mut m = open(Start::Time(1_000 + 1200 * 10));
    assert_eq!(first(&mut m), (1200, MergedFrom::Live));
    let mut m = open(Start::Seq(1400));
    assert_eq!(first(&mut m), (1400, MergedFrom::Live));
    assert_eq!(m.stats().handover_seq, Some(1400));
    live.close().unwrap();
}
