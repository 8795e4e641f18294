//! Pre-written and recycled segment files ([`SpareBackend`]).
//!
//! The power is cut at every backend step of a run that rolls segments, takes spares,
//! retires old segments into spares (recycling) and zero-fills them, with every crash
//! mode; after each cut the reopened log must hold every durable record, intact and
//! contiguous, verify clean, and never show a record of a recycled file. Then the files
//! themselves: stray and surplus spares at open, the zero pass, sizes, and a real
//! directory with the background preparer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::{
    Access, Backend, CrashMode, FileBackend, MemBackend, SpareBackend, SpareOptions,
};
use storage_std::{Durability, RetentionPolicy, VerifyStatus, Writer, WriterOptions, verify};

type W = Writer<8192>;

const SEED: u64 = 30;
const RUN: u64 = 150;
const SEG: u64 = 4096;

fn inline(recycle: bool) -> SpareOptions {
    SpareOptions::default()
        .with_spares(2)
        .with_recycle(recycle)
        .with_background(false)
}

fn spares(m: &MemBackend) -> Arc<dyn Backend> {
    Arc::new(SpareBackend::new(m.clone(), inline(true)))
}

fn opts(d: Durability) -> WriterOptions {
    let mut o = small_opts(d);
    o = o.with_preallocate(true);
    o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(2)));
    o
}

fn seeded(d: Durability) -> MemBackend {
    seeded_log::<8192>(spares, opts(d), SEED)
}

/// Appends until the run ends or the power fails; the highest durable watermark seen.
fn workload(m: &MemBackend, d: Durability) -> Option<u64> {
    cut_workload::<8192>(spares(m), opts(d), SEED, RUN)
}

fn check_after_cut(m: &MemBackend, reported: Option<u64>, what: &str) {
    // Reopened through spares (strays cleaned, spares taken) and checked through both.
    let b = spares(m);
    let w = match W::open_with(b.clone(), opts(small_group())) {
        Ok(w) => w,
        Err(e) => panic!("{what}: reopen failed: {e}\n{:#?}", m.trace()),
    };
    let next = w.next_seq();
    w.close().unwrap();
    // Every record read back has the payload of its sequence (a recycled file's record
    // would carry another one), and they are contiguous.
    let seqs = read_all_checked(&b);
    let first = seqs.first().copied().unwrap_or(next);
    assert_eq!(
        seqs.len() as u64,
        next - first,
        "{what}: contiguous to {next}"
    );
    if let Some(r) = reported {
        assert!(next > r, "{what}: durable {r} reported, log ends at {next}");
        // Retention keeps two segments: the durable records of the last one survive.
        assert!(
            first <= r,
            "{what}: the durable records {first}..={r} are gone"
        );
    }
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{what}: {:#?}", v.findings);
    let plain: Arc<dyn Backend> = Arc::new(m.clone());
    assert_eq!(
        read_all_checked(&plain),
        seqs,
        "{what}: without the wrapper"
    );
    // Appending resumes at the next sequence.
    let w = W::open_with(b.clone(), opts(small_group())).unwrap();
    assert_eq!(w.append_with(&payload(next), meta(next)).unwrap(), next);
    w.close().unwrap();
    assert_eq!(read_all_checked(&b).last().copied(), Some(next), "{what}");
    // Every spare left is all zeros; none is half prepared.
    for n in m.list().unwrap() {
        if n.starts_with("spare-") {
            assert!(n.ends_with(".zero"), "{what}: {n} left after an open");
            let bytes = m.file_bytes(&n).unwrap();
            assert!(
                bytes.iter().all(|&b| b == 0),
                "{what}: {n} is not all zeros"
            );
        }
    }
}

fn sweep(d: Durability) {
    let seed = seeded(d);
    let probe = seed.fork();
    let sb = SpareBackend::new(probe.clone(), inline(true));
    {
        let w = W::open_with(Arc::new(sb), opts(d)).unwrap();
        for s in SEED..SEED + RUN {
            w.append_with(&payload(s), meta(s)).unwrap();
        }
        w.close().unwrap();
    }
    // The uncut run used spares and recycled retired segments.
    let probe2 = seed.fork();
    let counted = Arc::new(SpareBackend::new(probe2.clone(), inline(true)));
    {
        let b: Arc<dyn Backend> = counted.clone();
        let w = W::open_with(b, opts(d)).unwrap();
        for s in SEED..SEED + RUN {
            w.append_with(&payload(s), meta(s)).unwrap();
        }
        w.close().unwrap();
    }
    let st = counted.stats();
    assert!(st.taken >= 3, "{st:?}");
    assert!(st.recycled >= 2, "{st:?}");
    let total = probe2.steps();
    let mut cut_seen = 0u64;
    let modes: [fn(u64) -> CrashMode; 3] = [
        |_| CrashMode::DropUnsynced,
        |_| CrashMode::KeepUnsynced,
        |k| CrashMode::TornPages { seed: k * 7 + 1 },
    ];
    for k in 0..total + 2 {
        for (mi, mode) in modes.iter().enumerate() {
            let m = seed.fork();
            m.set_crash_at(Some(k));
            let reported = workload(&m, d);
            cut_seen += u64::from(m.is_crashed());
            let mode = mode(k);
            m.power_cut(mode);
            check_after_cut(
                &m,
                reported,
                &format!("{d:?} cut at step {k} ({mi}: {mode:?})"),
            );
        }
    }
    assert!(cut_seen >= total * 3 / 2, "{cut_seen} of {total}");
}

#[test]
fn power_cut_at_every_step_with_spares_and_recycling_group() {
    sweep(small_group());
}

#[test]
fn power_cut_at_every_step_with_spares_and_recycling_sync() {
    sweep(Durability::Sync);
}

/// A file whose name looks like a spare but that was never finished, extra ready spares
/// and a ready spare of another size: the writer's open removes the unfinished and the
/// surplus ones.
#[test]
fn open_removes_stray_and_surplus_spares() {
    let m = MemBackend::new();
    m.put_file("spare-00000000000000000003.prep", vec![7; 100]);
    for i in 4..8 {
        m.put_file(&format!("spare-{i:020}.zero"), vec![0; SEG as usize]);
    }
    m.put_file("spare-x.zero", vec![1; 10]); // not a spare name: left alone
    let sb = Arc::new(SpareBackend::new(m.clone(), inline(false)));
    let b: Arc<dyn Backend> = sb.clone();
    let w = W::open_with(b, opts(small_group())).unwrap();
    let names = m.list().unwrap();
    assert!(!names.iter().any(|n| n.ends_with(".prep")), "{names:?}");
    // The writer's first segment took one of the two kept.
    assert_eq!(sb.stats().taken, 1);
    assert_eq!(sb.stats().removed, 3);
    assert!(names.contains(&"spare-x.zero".to_string()));
    w.close().unwrap();
    assert!(sb.ready().len() <= 2);
}

/// Retention's recycling renames the segment, overwrites all of it with zeros and only
/// then makes it a ready spare; creating a segment takes it. A removal that is not a
/// retirement (recovery's, whose file may be linked into quarantine) deletes.
#[test]
fn recycled_segments_are_zeroed_before_reuse_and_plain_removals_delete() {
    let m = MemBackend::new();
    let sb = Arc::new(SpareBackend::new(m.clone(), inline(true)));
    let b: Arc<dyn Backend> = sb.clone();
    let mut o = opts(small_group());
    o = o.with_retention(None);
    let w = W::open_with(b.clone(), o).unwrap();
    for s in 0..200 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.sync().unwrap();
    let sealed = w.segments();
    assert!(sealed.len() >= 4);
    // With recycling, one fresh spare is kept ready; retired segments fill the rest.
    assert_eq!(sb.ready().len(), 1);
    // Plain removal: never recycled.
    let victim = sealed[0].name.clone();
    let before = sb.stats();
    b.link(&victim, "quarantine/kept.seg").unwrap();
    b.remove(&victim).unwrap();
    assert_eq!(sb.stats().recycled, before.recycled);
    let kept = m.file_bytes("quarantine/kept.seg").unwrap();
    assert!(
        kept.iter().any(|&x| x != 0),
        "the quarantined copy is intact"
    );
    w.close().unwrap();
    // Take both ready spares so that retirement has room, then retire one segment.
    let g = b.lock().unwrap();
    let _f1 = b
        .create(&storage_std::format::segment_name(1 << 40))
        .unwrap();
    let _f2 = b
        .create(&storage_std::format::segment_name(1 << 41))
        .unwrap();
    drop((_f1, _f2));
    b.remove(&storage_std::format::segment_name(1 << 40))
        .unwrap();
    b.remove(&storage_std::format::segment_name(1 << 41))
        .unwrap();
    let retired = sealed[1].name.clone();
    let old = m.file_bytes(&retired).unwrap();
    assert!(old.iter().any(|&x| x != 0));
    let st = sb.stats();
    b.retire(&retired).unwrap();
    assert!(b.open(&retired, Access::Read).is_err(), "renamed away");
    // Inline mode: zeroed and ready now (the size is still known from the writer).
    assert_eq!(
        sb.stats().recycled,
        st.recycled + 1,
        "{:?}",
        sb.last_error()
    );
    for n in sb.ready() {
        let bytes = m.file_bytes(&n).unwrap();
        assert_eq!(bytes.len() as u64, SEG, "{n}");
        assert!(bytes.iter().all(|&x| x == 0), "{n}");
    }
    drop(g);
}

/// A real directory, the background preparer: spares appear, have the segment size and
/// hold only zeros; rolls take them; a full run reads back intact and verifies clean.
#[cfg_attr(miri, ignore)]
#[test]
fn file_backend_prepares_spares_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let seg = 64 << 10;
    let sb = Arc::new(
        FileBackend::new(dir.path()).unwrap().with_spares(
            SpareOptions::default()
                .with_spares(2)
                .with_recycle(true)
                .with_background(true),
        ),
    );
    let b: Arc<dyn Backend> = sb.clone();
    let mut o = WriterOptions::new(small_group()).with_segment_bytes(seg);
    o = o.with_preallocate(true);
    o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(3)));
    let w = W::open_with(b.clone(), o).unwrap();
    let mut s = 0;
    for round in 0..8 {
        for _ in 0..600 {
            w.append_with(&payload(s), meta(s)).unwrap();
            s += 1;
        }
        w.sync().unwrap();
        assert!(
            sb.wait_idle(Duration::from_secs(20)),
            "round {round}: {:?}",
            sb.last_error()
        );
    }
    // Idle now: a timeout no deadline can hold returns at once (it panicked computing
    // `Instant::now() + Duration::MAX`).
    assert!(sb.wait_idle(Duration::MAX));
    w.close().unwrap();
    let st = sb.stats();
    assert!(st.taken >= 3, "{st:?}");
    assert!(st.recycled >= 1, "{st:?}");
    assert_eq!(st.failures, 0, "{:?}", sb.last_error());
    let ready = sb.ready();
    assert!(!ready.is_empty() && ready.len() <= 2, "{ready:?}");
    for n in &ready {
        let bytes = std::fs::read(dir.path().join(n)).unwrap();
        assert_eq!(bytes.len() as u64, seg, "{n}");
        assert!(bytes.iter().all(|&x| x == 0), "{n}");
    }
    let seqs = read_all_checked(&b);
    assert_eq!(seqs.last().copied(), Some(s - 1));
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    drop(b);
    drop(sb);
    // A plain backend reads the same log; spare files are not part of it.
    let plain: Arc<dyn Backend> = Arc::new(FileBackend::new(dir.path()).unwrap());
    assert_eq!(read_all_checked(&plain).last().copied(), Some(s - 1));
}

/// `fill` before the writer opens: the first segments start pre-written, and with a
/// quiet period no zero pass runs while the log keeps writing; once it stops, the pool
/// refills, and not before the quiet period has passed.
#[cfg_attr(miri, ignore)]
#[test]
fn fill_readies_spares_before_the_first_segment_and_refills_only_when_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let seg = 64 << 10;
    let quiet = Duration::from_millis(300);
    let sb = Arc::new(
        FileBackend::new(dir.path()).unwrap().with_spares(
            SpareOptions::default()
                .with_spares(2)
                .with_size(Some(seg))
                .with_quiet(quiet),
        ),
    );
    assert!(
        sb.fill(Duration::from_secs(20)).unwrap(),
        "{:?}",
        sb.last_error()
    );
    assert_eq!(sb.ready().len(), 2);
    assert_eq!(sb.stats().zero_bytes, 2 * seg);
    let b: Arc<dyn Backend> = sb.clone();
    let o = WriterOptions::new(small_group())
        .with_segment_bytes(seg)
        .with_preallocate(true);
    let w = W::open_with(b.clone(), o).unwrap();
    // Three segments' worth, written without a pause as long as the quiet period.
    let mut s = 0;
    let mut last = std::time::Instant::now();
    while sb.stats().taken + sb.stats().missed < 3 {
        w.append_with(&payload(s), meta(s)).unwrap();
        s += 1;
        if s % 64 == 0 {
            w.sync().unwrap();
            assert!(last.elapsed() < quiet / 2, "the test itself paused");
            last = std::time::Instant::now();
        }
    }
    w.sync().unwrap();
    let stopped = std::time::Instant::now();
    let st = sb.stats();
    assert_eq!(
        st.taken, 2,
        "the first two segments are the filled spares: {st:?}"
    );
    assert_eq!(st.missed, 1, "the third finds none ready: {st:?}");
    assert_eq!(
        st.zero_bytes,
        2 * seg,
        "no zero pass while the log writes: {st:?}"
    );
    // Quiet now: the pool refills, after the quiet period.
    assert!(
        sb.wait_idle(Duration::from_secs(20)),
        "{:?}",
        sb.last_error()
    );
    assert!(
        stopped.elapsed() >= quiet * 9 / 10,
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(sb.ready().len(), 2);
    assert_eq!(sb.stats().zero_bytes, 4 * seg);
    w.close().unwrap();
    assert_eq!(read_all_checked(&b).last().copied(), Some(s - 1));
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
}

/// `fill` needs the directory's lock: with a writer open it fails and prepares nothing.
#[cfg_attr(miri, ignore)]
#[test]
fn fill_refuses_a_locked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let w = W::open(dir.path(), WriterOptions::new(small_group())).unwrap();
    let sb = FileBackend::new(dir.path())
        .unwrap()
        .with_spares(SpareOptions::default().with_size(Some(64 << 10)));
    assert!(sb.fill(Duration::from_secs(5)).is_err());
    assert!(sb.ready().is_empty());
    assert_eq!(sb.stats().zero_bytes, 0);
    w.close().unwrap();
}
