//! Writing, reading, replaying, following, reopening, locking.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::{Backend, CrashMode, FileBackend};
use storage_std::{
    Durability, Error, LogClass, LogReader, ReadLimit, RecordMeta, Start, VerifyStatus, Writer,
    WriterOptions, verify,
};

type W = Writer<8192>;

#[test]
fn every_mode_round_trips_across_segment_rolls() {
    for d in [Durability::None, small_group(), Durability::Sync] {
        let (_m, b) = mem();
        let w = W::open_with(b.clone(), small_opts(d)).unwrap();
        let last = write_n(&w, 0, 300);
        if d == Durability::None {
            // Nothing is synced before a roll or an explicit sync.
            assert!(
                w.wait_durable(last, Some(Duration::from_millis(1)))
                    .is_err()
            );
            assert_eq!(w.sync().unwrap(), Some(last));
        } else {
            w.wait_durable(last, Some(Duration::from_secs(10))).unwrap();
        }
        let rep = w.close().unwrap();
        assert_eq!(rep.durable_seq, Some(299));
        assert_eq!(rep.next_seq, 300);
        let seqs = read_all_checked(&b);
        assert_eq!(seqs, (0..300).collect::<Vec<_>>(), "{d:?}");
        let v = verify(&b).unwrap();
        assert_eq!(v.status, VerifyStatus::Clean, "{d:?}: {:#?}", v.findings);
        assert!(v.segments.len() > 5, "crossed rolls: {}", v.segments.len());
        assert!(v.segments[..v.segments.len() - 1].iter().all(|s| s.sealed));
    }
}

#[test]
fn reopen_continues_the_sequence_and_keeps_everything() {
    let (_m, b) = mem();
    for round in 0..4u64 {
        let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
        assert_eq!(w.next_seq(), round * 50);
        assert!(w.recovery().cuts.is_empty());
        write_n(&w, round * 50, 50);
        w.close().unwrap();
    }
    assert_eq!(read_all_checked(&b), (0..200).collect::<Vec<_>>());
}

#[test]
fn clean_close_syncs_in_none_mode() {
    let (m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(Durability::None)).unwrap();
    write_n(&w, 0, 120);
    w.close().unwrap();
    m.power_cut(CrashMode::DropUnsynced);
    assert_eq!(read_all_checked(&b), (0..120).collect::<Vec<_>>());
}

#[test]
fn explicit_sync_in_none_mode_advances_the_watermark() {
    let (m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(Durability::None)).unwrap();
    // A single segment's worth: no roll syncs for us.
    write_n(&w, 0, 10);
    assert_eq!(w.sync().unwrap(), Some(9));
    write_n(&w, 10, 5);
    m.power_cut(CrashMode::DropUnsynced);
    drop(w);
    let seqs = read_all_checked(&b);
    assert!(seqs.len() >= 10, "{seqs:?}");
}

#[test]
fn replay_from_sequence_and_time_and_to_an_end() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    write_n(&w, 0, 400);
    w.close().unwrap();
    let r = LogReader::new(b.clone());
    for start in [0u64, 1, 57, 123, 200, 399] {
        let mut c = r.cursor(Start::Seq(start)).unwrap();
        let rec = c.next().unwrap().unwrap();
        assert_eq!(rec.seq(), start);
        assert_eq!(rec.payload, &payload(start)[..]);
    }
    // Timestamps are 1000 + 10 * seq: time 1995 starts at seq 100.
    let mut c = r.cursor(Start::Time(1_995)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), 100);
    let mut c = r.cursor(Start::Time(0)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), 0);
    let mut c = r.cursor(Start::Time(u64::MAX)).unwrap();
    assert!(c.next().unwrap().is_none());
    let mut c = r.cursor(Start::Seq(10)).unwrap();
    c.set_end(Some(19));
    let mut n = 0;
    while let Some(rec) = c.next().unwrap() {
        assert_eq!(rec.seq(), 10 + n);
        n += 1;
    }
    assert_eq!(n, 10);
    assert!(r.cursor(Start::Seq(400)).unwrap().next().unwrap().is_none());
}

#[test]
fn time_search_with_unordered_timestamps() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    // Timestamps go up and down; the first record at or after T is found anyway.
    let ts = |s: u64| (s * 7919) % 1000;
    for s in 0..300u64 {
        w.append_with(
            b"x",
            RecordMeta {
                timestamp_ns: Some(ts(s)),
                ..Default::default()
            },
        )
        .unwrap();
    }
    w.close().unwrap();
    let r = LogReader::new(b);
    for t in [0u64, 1, 500, 998, 999] {
        let want = (0..300).find(|&s| ts(s) >= t);
        let got = r
            .cursor(Start::Time(t))
            .unwrap()
            .next()
            .unwrap()
            .map(|x| x.seq());
        assert_eq!(got, want, "time {t}");
    }
}

#[test]
fn follow_mode_sees_appends_live_and_respects_the_durable_limit() {
    let (_m, b) = mem();
    let w = Arc::new(W::open_with(b.clone(), small_opts(small_group())).unwrap());
    let reader = w.reader(ReadLimit::Durable);
    let mut c = reader.cursor(Start::Seq(0)).unwrap();
    assert!(c.next_wait(Duration::from_millis(10)).unwrap().is_none());
    let w2 = w.clone();
    let t = std::thread::spawn(move || {
        for s in 0..200 {
            w2.append_with(&payload(s), meta(s)).unwrap();
            if s % 50 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    for s in 0..200u64 {
        let rec = c
            .next_wait(Duration::from_secs(10))
            .unwrap()
            .expect("record within the timeout");
        assert_eq!(rec.seq(), s);
        assert_eq!(rec.payload, &payload(s)[..]);
        assert!(
            w.durable_seq().unwrap() >= s,
            "read past the durable watermark"
        );
    }
    t.join().unwrap();
    // An external reader (no watermark) follows the same log.
    let ext = LogReader::new(b.clone());
    let mut e = ext.cursor(Start::Seq(150)).unwrap();
    assert_eq!(e.next().unwrap().unwrap().seq(), 150);
}

#[test]
fn second_writer_is_locked_out_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let w: Writer<8192> = Writer::open(dir.path(), WriterOptions::default()).unwrap();
    match Writer::<8192>::open(dir.path(), WriterOptions::default()) {
        Err(e @ Error::Locked(_)) => assert!(e.is_retryable()),
        other => panic!("expected Locked, got {other:?}"),
    }
    w.close().unwrap();
    let w2: Writer<8192> = Writer::open(dir.path(), WriterOptions::default()).unwrap();
    w2.close().unwrap();
}

#[test]
fn real_files_round_trip_with_preallocation_and_mapped_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(16 << 10);
    o = o.with_preallocate(true);
    let w: Writer<8192> = Writer::open(dir.path(), o.clone()).unwrap();
    write_n(&w, 0, 1000);
    w.close().unwrap();
    let b: Arc<dyn Backend> = Arc::new(FileBackend::new(dir.path()).unwrap());
    assert_eq!(read_all_checked(&b), (0..1000).collect::<Vec<_>>());
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    let w: Writer<8192> = Writer::open(dir.path(), o).unwrap();
    assert_eq!(w.next_seq(), 1000);
    w.close().unwrap();
}

#[test]
fn deleted_indexes_are_rebuilt_and_the_log_still_reads() {
    let (m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    write_n(&w, 0, 300);
    w.close().unwrap();
    let idx: Vec<String> = b
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".idx"))
        .collect();
    assert!(idx.len() > 3);
    for n in &idx {
        m.delete_file(n);
    }
    // Readers work without indexes.
    let r = LogReader::new(b.clone());
    assert_eq!(
        r.cursor(Start::Seq(222))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .seq(),
        222
    );
    assert_eq!(read_all_checked(&b).len(), 300);
    // The writer rebuilds them.
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert_eq!(w.recovery().rebuilt_indexes.len(), idx.len());
    w.close().unwrap();
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

#[test]
fn too_large_and_closed_are_reported() {
    let (_m, b) = mem();
    let w = W::open_with(b, small_opts(small_group())).unwrap();
    let max = w.max_payload();
    // A ring record is the on-disk record (32-byte prefix), at most half the ring.
    assert_eq!(max, 8192 / 2 - 32);
    match w.append(&vec![0; max + 1]) {
        Err(Error::TooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.append(&vec![1; max]).unwrap(), 0);
    w.close().unwrap();
}

#[test]
fn many_producers_share_the_queue_without_gaps() {
    let (_m, b) = mem();
    let w = Arc::new(W::open_with(b.clone(), small_opts(small_group())).unwrap());
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..200u32 {
                    let mut p = [0u8; 8];
                    p[..4].copy_from_slice(&t.to_le_bytes());
                    p[4..].copy_from_slice(&i.to_le_bytes());
                    mine.push(w.append(&p).unwrap());
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..800).collect::<Vec<_>>());
    let w = Arc::try_unwrap(w).unwrap();
    w.close().unwrap();
    let r = LogReader::new(b);
    let mut c = r.cursor(Start::Oldest).unwrap();
    let mut per_thread = [0u32; 4];
    let mut n = 0;
    while let Some(rec) = c.next().unwrap() {
        let t = u32::from_le_bytes(rec.payload[..4].try_into().unwrap()) as usize;
        let i = u32::from_le_bytes(rec.payload[4..].try_into().unwrap());
        assert_eq!(i, per_thread[t], "each producer's records stay in order");
        per_thread[t] += 1;
        n += 1;
    }
    assert_eq!(n, 800);
}

#[test]
fn recycled_segment_files_end_cleanly() {
    // Segments reuse the files of deleted ones, old records and all: the zeroed next
    // header after every group keeps the end of the log clean.
    let (m, _) = mem();
    let b: Arc<dyn Backend> = Arc::new(Recycling(m.clone()));
    let mut o = small_opts(small_group());
    o = o.with_retention(storage_std::RetentionPolicy::default().with_max_segments(Some(2)));
    for round in 0..3u64 {
        let w = W::open_with(b.clone(), o.clone()).unwrap();
        assert!(w.recovery().cuts.is_empty(), "{:?}", w.recovery());
        write_n(&w, round * 300, 300);
        w.close().unwrap();
        let v = verify(&b).unwrap();
        assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    }
    // The active file is a recycled one: old bytes follow its zeroed next header.
    let v = verify(&b).unwrap();
    let active = v.segments.last().unwrap();
    assert!(!active.sealed);
    assert!(
        active.bytes > active.records_end + 32,
        "{} bytes, records end at {}",
        active.bytes,
        active.records_end
    );
    let last = read_all_checked(&b);
    assert_eq!(last.last().copied(), Some(899));
    let reused = b
        .list()
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("pool-"))
        .count();
    assert!(reused <= 1, "pooled files get reused: {reused} waiting");
}

#[test]
fn second_writer_is_locked_out_in_memory_too_and_readers_are_not() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    write_n(&w, 0, 5);
    let e = W::open_with(b.clone(), small_opts(small_group())).unwrap_err();
    assert!(matches!(e, Error::Locked(_)), "{e}");
    assert!(e.to_string().contains("locked by another writer"), "{e}");
    // Readers and the verifier need no lock.
    w.sync().unwrap();
    assert_eq!(
        LogReader::new(b.clone())
            .cursor(Start::Seq(4))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .seq(),
        4
    );
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    w.close().unwrap();
    W::open_with(b, small_opts(small_group()))
        .unwrap()
        .close()
        .unwrap();
}

/// A log whose last segment is sealed (a writer killed between sealing a segment and
/// creating the next): cursors end there instead of re-reading it forever, follow it
/// into the next segment once one is written, and report a missing middle segment.
#[test]
fn a_log_ending_at_a_sealed_segment_ends_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(16 << 10);
    let w: Writer<8192> = Writer::open(dir.path(), o.clone()).unwrap();
    write_n(&w, 0, 1000);
    w.close().unwrap();
    let b = FileBackend::new(dir.path()).unwrap();
    let segs: Vec<u64> = {
        let mut v: Vec<u64> = b
            .list()
            .unwrap()
            .iter()
            .filter_map(|n| n.strip_suffix(".seg")?.parse().ok())
            .collect();
        v.sort();
        v
    };
    assert!(segs.len() > 3);
    let last = *segs.last().unwrap();
    b.remove(&format!("{last:020}.seg")).unwrap();
    b.remove(&format!("{last:020}.idx")).unwrap();
    // Runs on a thread so that a regression fails instead of hanging the suite.
    let d = dir.path().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = LogReader::open(&d).unwrap();
        let mut c = r.cursor(Start::Oldest).unwrap();
        let mut n = 0u64;
        while let Some(rec) = c.next().unwrap() {
            assert_eq!(rec.seq(), n);
            n += 1;
        }
        let past = r
            .cursor(Start::Seq(n + 5))
            .unwrap()
            .next()
            .unwrap()
            .is_none();
        let _ = tx.send((n, past));
    });
    let (n, past) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("cursor ended");
    assert_eq!((n, past), (last, true));
    // The next writer continues in a new segment, and a cursor at the end follows it.
    let r = LogReader::open(dir.path()).unwrap();
    let mut c = r.cursor(Start::Seq(last)).unwrap();
    assert!(c.next().unwrap().is_none());
    let w: Writer<8192> = Writer::open(dir.path(), o).unwrap();
    assert_eq!(w.next_seq(), last);
    write_n(&w, last, 10);
    w.close().unwrap();
    assert_eq!(c.next().unwrap().map(|r| r.seq()), Some(last));
    // A missing middle segment is damage, not an endless loop.
    b.remove(&format!("{:020}.seg", segs[1])).unwrap();
    let mut c = r.cursor(Start::Oldest).unwrap();
    let err = loop {
        match c.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("ended at a gap"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn an_interrupted_trim_after_a_seal_is_repairable_and_recovery_finishes_it() {
    // A crash after a block-writing backend wrote the footer (padded to the block) and
    // before it trimmed the file leaves bytes after the last segment's footer.
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(16 << 10);
    let w: Writer<8192> = Writer::open(dir.path(), o.clone()).unwrap();
    write_n(&w, 0, 1000);
    w.close().unwrap();
    let b = FileBackend::new(dir.path()).unwrap();
    let mut segs: Vec<u64> = b
        .list()
        .unwrap()
        .iter()
        .filter_map(|n| n.strip_suffix(".seg")?.parse().ok())
        .collect();
    segs.sort();
    let last = *segs.last().unwrap();
    b.remove(&format!("{last:020}.seg")).unwrap();
    b.remove(&format!("{last:020}.idx")).unwrap();
    let sealed_last = dir.path().join(format!("{:020}.seg", segs[segs.len() - 2]));
    let len = std::fs::metadata(&sealed_last).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed_last)
        .unwrap();
    f.set_len(len.div_ceil(4096) * 4096 + 4096).unwrap();
    drop(f);

    // The footer seals the records; what follows it is not the log's: an unfinished
    // step, repairable (exit 4), and the readers read every record.
    let report = storage_std::verify_dir(dir.path()).unwrap();
    assert_eq!(report.status.exit_code(), 4, "{report:?}");
    assert_eq!(report.class, LogClass::Repairable);
    assert_eq!(report.last_seq, Some(segs[segs.len() - 1] - 1));
    // The same bytes after a segment that is not the last: repairable too, trimmed.
    let not_last = dir.path().join(format!("{:020}.seg", segs[0]));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&not_last)
        .unwrap();
    let l0 = f.metadata().unwrap().len();
    f.set_len(l0 + 8).unwrap();
    drop(f);
    assert_eq!(
        storage_std::verify_dir(dir.path())
            .unwrap()
            .status
            .exit_code(),
        4
    );

    // Opening for write finishes the seals; the log then verifies clean and continues.
    let w: Writer<8192> = Writer::open(dir.path(), o).unwrap();
    assert_eq!(w.recovery().found, LogClass::Repairable);
    assert_eq!(w.recovery().trimmed.len(), 2);
    assert_eq!(std::fs::metadata(&sealed_last).unwrap().len(), len);
    assert_eq!(std::fs::metadata(&not_last).unwrap().len(), l0);
    let next = w.append(b"after").unwrap();
    w.close().unwrap();
    assert_eq!(next, segs[segs.len() - 1]);
    assert_eq!(
        storage_std::verify_dir(dir.path())
            .unwrap()
            .status
            .exit_code(),
        0
    );
}
