//! The writer path where the ring's bytes are the file's bytes: wrap gaps, records at
//! segment rolls, the lock-free appender (leaked, on another thread), the largest
//! payload, timestamps across reopens, and the writer's counters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::Backend;
use storage_std::format::disk_record_len;
use storage_std::{
    Durability, Error, LogReader, RecordMeta, Start, VerifyStatus, Writer, WriterOptions, verify,
};

type W = Writer<8192>;

/// Every record of the log, in order: (sequence, timestamp, payload).
fn read_all(b: &Arc<dyn Backend>) -> Vec<(u64, u64, Vec<u8>)> {
    let r = LogReader::new(b.clone());
    let mut c = r.cursor(Start::Oldest).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = c.next().unwrap() {
        out.push((rec.seq(), rec.timestamp_ns(), rec.payload.to_vec()));
    }
    out
}

fn assert_verifies(b: &Arc<dyn Backend>, what: &str) {
    let v = verify(b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{what}: {:#?}", v.findings);
}

/// A ring of 1 KiB wraps every few records; sizes that do not divide it leave a gap at
/// almost every wrap. Whatever the producer leaves in a gap must never reach a file: the
/// log reads back exactly the records appended, and every segment verifies (a gap's
/// bytes inside a segment would be garbage where a record header must be).
#[test]
fn wrap_gaps_never_reach_the_file() {
    for d in [Durability::None, group_of(700), Durability::Sync] {
        let (_m, b) = mem();
        let mut o = small_opts(d).with_queue_bytes(1024);
        o = o.with_segment_bytes(64 << 10);
        let w = W::open_with(b.clone(), o).unwrap();
        assert_eq!(w.max_payload(), 512 - 32);
        let n = 600u64;
        {
            let mut a = w.appender().unwrap();
            for s in 0..n {
                // 0..=300 bytes: records of 32..=336 bytes against a 1024-byte ring.
                let len = ((s * 37) % 301) as usize;
                let mut p = vec![0u8; len];
                pattern::fill(s, &mut p);
                assert_eq!(a.append(&p).unwrap(), s);
            }
        }
        w.close().unwrap();
        let recs = read_all(&b);
        assert_eq!(recs.len() as u64, n, "{d:?}");
        for (i, (s, _, p)) in recs.iter().enumerate() {
            assert_eq!(*s, i as u64);
            assert_eq!(p.len(), ((s * 37) % 301) as usize);
            assert!(pattern::check(*s, p), "{d:?}: payload of {s}");
        }
        assert_verifies(&b, &format!("{d:?}"));
    }
}

/// The same on real files, where the segment's bytes are checked directly: every
/// segment is a header, then exactly the records, back to back, then the footer.
#[test]
fn segment_bytes_are_the_records_back_to_back_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let b = file_backend(dir.path());
    let mut o = small_opts(group_of(2048)).with_queue_bytes(2048);
    o = o.with_segment_bytes(16 << 10);
    let w = W::open_with(b.clone(), o).unwrap();
    let mut a = w.appender().unwrap();
    let n = 400u64;
    let mut total = 0usize;
    for s in 0..n {
        let len = ((s * 53) % 200) as usize;
        total += disk_record_len(len);
        let mut p = vec![0u8; len];
        pattern::fill(s, &mut p);
        a.append(&p).unwrap();
    }
    drop(a);
    w.close().unwrap();
    let segs = LogReader::new(b.clone()).segments().unwrap();
    assert!(segs.len() > 3, "rolled: {}", segs.len());
    let header = storage_std::format::SEGMENT_HEADER_LEN as u64;
    let footer = storage_std::format::FOOTER_LEN as u64;
    let end_mark = storage_std::format::END_MARK.len() as u64;
    let in_files: u64 = segs
        .iter()
        // A sealed segment ends with its footer, the active one with the end mark.
        .map(|s| s.bytes - header - if s.sealed { footer } else { end_mark })
        .sum();
    assert_eq!(in_files, total as u64, "records only, no gap bytes");
    assert_eq!(read_all(&b).len() as u64, n);
    assert_verifies(&b, "files");
}

/// Records whose sizes make them land exactly at, just before and just past a segment's
/// end: each goes whole into one segment, and sealed segments hold what their footers
/// say.
#[test]
fn records_at_a_segment_roll_go_whole_into_one_segment() {
    use storage_std::format::{FOOTER_LEN, SEGMENT_HEADER_LEN};
    let room = 4096 - SEGMENT_HEADER_LEN - FOOTER_LEN;
    for d in [Durability::None, group_of(4096), Durability::Sync] {
        let (_m, b) = mem();
        let mut o = small_opts(d);
        o = o.with_segment_bytes(4096);
        let w = W::open_with(b.clone(), o).unwrap();
        let max = w.max_payload();
        let mut a = w.appender().unwrap();
        // Payload lengths: two records filling a segment exactly; one record that fits
        // exactly after a small one does not (it rolls); one larger than any segment
        // (a segment of its own); then small ones.
        let sizes = [
            room / 2 - 32,
            room / 2 - 32,
            0,
            room - 32,
            max,
            1,
            room - 64 - 32,
            8,
            9,
        ];
        for (s, &len) in sizes.iter().enumerate() {
            let mut p = vec![0u8; len];
            pattern::fill(s as u64, &mut p);
            assert_eq!(a.append(&p).unwrap(), s as u64);
        }
        drop(a);
        w.close().unwrap();
        let recs = read_all(&b);
        assert_eq!(recs.len(), sizes.len(), "{d:?}");
        for (s, _, p) in &recs {
            assert_eq!(p.len(), sizes[*s as usize]);
            assert!(pattern::check(*s, p));
        }
        let segs = LogReader::new(b.clone()).segments().unwrap();
        let counts: Vec<u64> = segs.iter().map(|s| s.record_count).collect();
        // [0, 1] fill one segment exactly; 2 and 3 cannot share one; 4 is alone.
        assert_eq!(&counts[..4], &[2, 1, 1, 1], "{d:?}: {segs:#?}");
        assert_eq!(counts.iter().sum::<u64>(), sizes.len() as u64);
        assert_eq!(segs[0].bytes, 4096, "filled exactly");
        for s in &segs {
            assert!(s.bytes <= 4096 || s.record_count == 1, "{s:?}");
        }
        assert_verifies(&b, &format!("{d:?}"));
    }
}

/// A leaked appender keeps the producer for good: shared appends and a second appender
/// say so (never UB, never a hang), and close still syncs what it appended.
#[test]
fn a_leaked_appender_keeps_the_producer_and_close_still_syncs() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert_eq!(w.append(&payload(0)).unwrap(), 0);
    let mut a = w.appender().unwrap();
    assert!(matches!(w.appender(), Err(Error::ProducerBusy)));
    for s in 1..50 {
        assert_eq!(a.append_with(&payload(s), meta(s)).unwrap(), s);
    }
    std::mem::forget(a);
    assert!(matches!(w.append(&payload(50)), Err(Error::ProducerBusy)));
    assert!(Error::ProducerBusy.is_retryable());
    assert!(matches!(w.appender(), Err(Error::ProducerBusy)));
    assert_eq!(w.next_seq(), 50);
    assert_eq!(w.sync().unwrap(), Some(49));
    let rep = w.close().unwrap();
    assert_eq!((rep.durable_seq, rep.next_seq), (Some(49), 50));
    let recs = read_all(&b);
    assert_eq!(recs.len(), 50);
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert_eq!(w.append(&payload(50)).unwrap(), 50);
    w.close().unwrap();
}

/// An appender moved to another thread appends while other threads use the shared
/// writer: the shared appends are refused while it is out and work again once it is
/// dropped; sequences stay gap-free and every record is whoever appended it.
#[test]
fn appender_on_another_thread_while_shared_appends_run() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let per = 300u32;
    let (mine, shared) = std::thread::scope(|s| {
        let shared: Vec<_> = (0..2u32)
            .map(|t| {
                let w = &w;
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut i = 0u32;
                    let mut busy = 0u64;
                    while i < per {
                        let mut p = [0u8; 8];
                        p[..4].copy_from_slice(&t.to_le_bytes());
                        p[4..].copy_from_slice(&i.to_le_bytes());
                        match w.append(&p) {
                            Ok(seq) => {
                                got.push((seq, p));
                                i += 1;
                            }
                            Err(Error::ProducerBusy) => {
                                busy += 1;
                                std::thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (got, busy)
                })
            })
            .collect();
        let a = loop {
            match w.appender() {
                Ok(a) => break a,
                Err(Error::ProducerBusy) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        let mine = s
            .spawn(move || {
                let mut a = a;
                let mut got = Vec::new();
                for i in 0..per {
                    let mut p = [0u8; 8];
                    p[..4].copy_from_slice(&9u32.to_le_bytes());
                    p[4..].copy_from_slice(&i.to_le_bytes());
                    got.push((a.append(&p).unwrap(), p));
                }
                got
            })
            .join()
            .unwrap();
        let shared: Vec<_> = shared.into_iter().map(|h| h.join().unwrap()).collect();
        (mine, shared)
    });
    let mut all: Vec<(u64, [u8; 8])> = mine;
    for (got, _busy) in shared {
        all.extend(got);
    }
    all.sort();
    let total = 3 * u64::from(per);
    assert_eq!(
        all.iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    w.close().unwrap();
    let recs = read_all(&b);
    assert_eq!(recs.len() as u64, total);
    for ((s, p), (rs, _, rp)) in all.iter().zip(&recs) {
        assert_eq!((s, &p[..]), (rs, &rp[..]));
    }
}

/// The largest payload goes through both paths and reads back whole; one more byte is
/// refused with the limit, and the writer goes on.
#[test]
fn a_payload_at_the_maximum_size_round_trips() {
    let (_m, b) = mem();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(1 << 20);
    let w = W::open_with(b.clone(), o).unwrap();
    let max = w.max_payload();
    assert_eq!(max, 8192 / 2 - 32);
    let big = |s: u64| {
        let mut p = vec![0u8; max];
        pattern::fill(s, &mut p);
        p
    };
    assert_eq!(w.append(&big(0)).unwrap(), 0);
    {
        let mut a = w.appender().unwrap();
        assert_eq!(a.append(&big(1)).unwrap(), 1);
        match a.append(&vec![0; max + 1]) {
            Err(Error::TooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.append(&big(2)).unwrap(), 2);
    }
    assert_eq!(w.append(&big(3)).unwrap(), 3);
    w.close().unwrap();
    let recs = read_all(&b);
    assert_eq!(recs.len(), 4);
    for (s, _, p) in &recs {
        assert_eq!(p.len(), max);
        assert!(pattern::check(*s, p));
    }
    assert_verifies(&b, "max payload");
}

/// Stamps the log assigns never decrease, within a log and across reopens (a reopen
/// starts from the largest recovered timestamp, even one a caller set in the future,
/// since recovery cannot tell them apart); stamps a caller passes are stored as given.
#[test]
fn log_timestamps_never_decrease_across_reopens() {
    let (_m, b) = mem();
    let future = storage_std::now_ns() + 3_600_000_000_000;
    let mut expect_given = Vec::new();
    for round in 0..3u64 {
        let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
        let mut a = w.appender().unwrap();
        for i in 0..100u64 {
            if i == 50 {
                let ts = if round == 1 { future } else { 5 + round };
                let s = a
                    .append_with(
                        b"given",
                        RecordMeta {
                            timestamp_ns: Some(ts),
                            ..RecordMeta::default()
                        },
                    )
                    .unwrap();
                expect_given.push((s, ts));
            } else {
                a.append(b"stamped").unwrap();
            }
        }
        drop(a);
        w.close().unwrap();
    }
    let recs = read_all(&b);
    assert_eq!(recs.len(), 300);
    let mut last = 0u64;
    let now = storage_std::now_ns();
    for (s, ts, p) in &recs {
        if let Some(&(_, given)) = expect_given.iter().find(|g| g.0 == *s) {
            assert_eq!(*ts, given, "caller stamps are stored as given");
            continue;
        }
        assert_eq!(p, b"stamped");
        assert!(*ts >= last, "log stamp of {s} went back: {ts} < {last}");
        last = *ts;
        if *s < 200 {
            // Within one writer, a caller's stamp does not move the log's clock.
            assert!(*ts <= now, "before the reopen, stamps are real time");
        } else {
            assert!(
                *ts >= future,
                "after reopening, stamps start at the largest recovered"
            );
        }
    }
}

/// The counters follow what was written and synced.
#[test]
fn stats_count_records_bytes_groups_and_syncs() {
    let (_m, b) = mem();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(1 << 20);
    let w = W::open_with(b, o).unwrap();
    assert_eq!(w.stats(), storage_std::WriterStats::default());
    let mut bytes = 0u64;
    for s in 0..100 {
        let p = payload(s);
        bytes += disk_record_len(p.len()) as u64;
        w.append(&p).unwrap();
    }
    w.wait_durable(99, Some(Duration::from_secs(30))).unwrap();
    let st = w.stats();
    assert_eq!((st.records, st.bytes), (100, bytes));
    assert!(
        st.groups >= 1 && st.syncs >= 1 && st.syncs <= st.groups + 1,
        "{st:?}"
    );
    let l = st.sync_latency.unwrap();
    assert_eq!(l.count, st.syncs);
    assert!(l.p50_ns <= l.p99_ns && l.p99_ns <= l.p999_ns && l.p999_ns <= l.max_ns);
    w.close().unwrap();
}

/// A queue size that is not a power of two is refused with the option's name.
#[test]
fn bad_queue_sizes_are_refused() {
    for q in [0usize, 63, 1000, 3 << 20] {
        let (_m, b) = mem();
        match W::open_with(b, WriterOptions::default().with_queue_bytes(q)) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("queue_bytes"), "{m}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

/// The writer's CPU time is reported, grows with the work, and stays below the wall time
/// of the threads that could have used it (the writer plus one hashing thread at most).
#[test]
#[cfg_attr(miri, ignore)]
fn writer_stats_report_the_writer_threads_cpu_time() {
    let dir = tempfile::tempdir().unwrap();
    let opts = storage_std::WriterOptions::new(storage_std::Durability::group())
        .with_segment_bytes(8 << 20);
    let started = std::time::Instant::now();
    let w: storage_std::Writer = storage_std::Writer::open(dir.path(), opts).unwrap();
    let mut last = None;
    let mut readings = Vec::new();
    for round in 0..3 {
        for i in 0..40_000u32 {
            last = Some(w.append(&i.to_le_bytes().repeat(16)).unwrap());
        }
        w.wait_durable(last.unwrap(), None).unwrap();
        readings.push(w.stats().writer_cpu_ns);
        assert!(readings[round] > 0, "{:?}", w.stats());
    }
    let wall = u64::try_from(started.elapsed().as_nanos()).unwrap();
    assert!(
        readings.windows(2).all(|p| p[0] <= p[1]),
        "never decreases: {readings:?}"
    );
    assert!(readings[2] <= 2 * wall, "{readings:?} vs wall {wall} ns");
    w.close().unwrap();
}
