//! The cold tier against the local-directory store (`file:///path`): moving, reading
//! from the middle, damage, restore, GC, cold retention, crashes at each named step,
//! and tiering next to a live writer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use storage_std::{Start, VerifyStatus};
use storage_tier::{
    CRASH_ENV, CacheOptions, Codec, ColdErrorKind, ColdReader, ColdRetention, ColdSegmentSource,
    CrashPoint, RestoreOptions, TierConfig, TierError, TierEvent, TierPolicy, Tierer, restore,
};

const P: Payload = Payload::Pattern(100);

#[test]
fn sealed_segments_move_and_every_record_reads_back() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let files = write_log(log.path(), 5000, P, 64 << 10);
    assert!(files >= 8, "{files} segments");
    let store = file_store(bucket.path());
    let cfg = TierConfig::new(store.clone()).frame_bytes(8 << 10);

    let mut events = Vec::new();
    let mut t = Tierer::open(log.path(), cfg.clone()).unwrap();
    let r = t
        .run_once(&TierPolicy::keep_local_segments(2), &mut |e: &TierEvent| {
            events.push(e.clone())
        })
        .unwrap();
    drop(t);
    // files - 1 sealed segments, 2 kept.
    assert_eq!(r.moved.len(), files - 3);
    assert_eq!(segment_files(log.path()).len(), 3);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TierEvent::Moved(m) if m.base_seq == 0))
    );
    assert!(
        r.moved.iter().all(|m| m.stored_bytes < m.bytes / 2),
        "compressed: {:?}",
        r.moved
    );
    assert_eq!(r.cold_segments, files - 3);
    check_whole_log(log.path(), &store, P, 5000);
    // What remains locally is a valid log by itself.
    assert_eq!(
        storage_std::verify_dir(log.path()).unwrap().status,
        VerifyStatus::Clean
    );
    // The bucket's manifest is the local one; the store holds exactly what it names.
    let local = std::fs::read(log.path().join("tier/manifest")).unwrap();
    assert_eq!(
        std::fs::read(bucket.path().join("manifest")).unwrap(),
        local
    );
    assert_eq!(store_segment_keys(bucket.path()), manifest_keys(log.path()));

    // --keep-local-segments 0 moves every sealed segment; the active one stays.
    let r = tier_once(log.path(), cfg, &TierPolicy::keep_local_segments(0));
    assert_eq!(r.moved.len(), 2);
    assert_eq!(segment_files(log.path()).len(), 1);
    check_whole_log(log.path(), &store, P, 5000);
}

#[test]
fn a_read_from_the_middle_fetches_at_most_two_frames() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 12_000, Payload::Pattern(200), 1 << 20);
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(32 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let reader = ColdReader::open(
        log.path(),
        &store,
        Some(CacheOptions::in_dir(cache_dir.path())),
    )
    .unwrap();
    let segs = reader.cold_segments().unwrap();
    assert!(segs.len() >= 2);
    let s = &segs[1];
    assert_eq!(reader.read_stats().cache_bytes, 0, "the cache starts empty");
    let entry = reader.manifest().segments[1].clone();
    assert!(entry.frame_count >= 20, "{} frames", entry.frame_count);

    let mid = s.base_seq + s.record_count / 2;
    let mut c = reader.open_cursor(s.base_seq, Start::Seq(mid)).unwrap();
    for i in 0..50 {
        let r = c.next().unwrap().unwrap();
        assert_eq!(r.seq(), mid + i);
        assert_eq!(r.payload, payload(Payload::Pattern(200), mid + i));
    }
    drop(c);
    let st = reader.read_stats();
    assert_eq!(st.index_fetches, 1);
    assert!((1..=2).contains(&st.frame_fetches), "{st:?}");
    assert!(
        st.fetched_bytes < entry.object_bytes / 8,
        "{st:?} of {}",
        entry.object_bytes
    );
    // Counted at the store too: ranged GETs only, one per index or frame.
    let sc = reader.store_counters();
    assert_eq!(
        (sc.gets, sc.range_gets),
        (0, st.index_fetches + st.frame_fetches)
    );

    // The same read again comes from the cache.
    let mut c = reader.open_cursor(s.base_seq, Start::Seq(mid)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), mid);
    drop(c);
    assert_eq!(reader.read_stats().frame_fetches, st.frame_fetches);
    // A fresh reader over the same cache folder fetches nothing either.
    let again = ColdReader::open(
        log.path(),
        &store,
        Some(CacheOptions::in_dir(cache_dir.path())),
    )
    .unwrap();
    let mut c = again.open_cursor(s.base_seq, Start::Seq(mid + 3)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), mid + 3);
    drop(c);
    assert_eq!(
        again.read_stats().frame_fetches + again.read_stats().index_fetches,
        0
    );
    assert!(again.read_stats().cache_hits >= 2);

    // By time: the first record at or after the time asked.
    let mut c = reader
        .open_cursor(s.base_seq, Start::Time(ts_of(mid) - 1))
        .unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), mid);
    // Past the segment's end: nothing; past its last sequence: not found.
    let mut c = reader
        .open_cursor(s.base_seq, Start::Time(ts_of(s.last_seq) + 1))
        .unwrap();
    assert!(c.next().unwrap().is_none());
    let e = reader
        .open_cursor(s.base_seq, Start::Seq(s.last_seq + 1))
        .unwrap_err();
    assert_eq!(e.kind, ColdErrorKind::NotFound);
}

#[test]
fn the_cache_stays_within_its_budget() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 6000, P, 256 << 10);
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(16 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let budget = 40 << 10;
    let opts = CacheOptions::in_dir(cache_dir.path()).max_bytes(budget);
    let reader = ColdReader::open(log.path(), &store, Some(opts)).unwrap();
    check_cold(&reader, P);
    let st = reader.read_stats();
    assert!(st.cache_bytes <= budget && st.cache_bytes > 0, "{st:?}");
    let on_disk: u64 = std::fs::read_dir(cache_dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, st.cache_bytes);
}

#[test]
fn a_damaged_object_is_reported_never_returned() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 3000, P, 128 << 10);
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(8 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    let e = m.segments[0].clone();
    let obj_path = bucket.path().join(&e.key);
    let obj = std::fs::read(&obj_path).unwrap();
    let d = storage_tier::object::decode_object(&obj, e.object_crc32c).unwrap();
    let bad = d.frames[3];
    flip_byte(&obj_path, bad.comp_offset + u64::from(bad.comp_len) / 2);

    let reader = cold_reader(log.path(), &store);
    let mut c = reader.open_cursor(e.base_seq, Start::Oldest).unwrap();
    let mut seen = 0u64;
    let err = loop {
        match c.next() {
            Ok(Some(r)) => {
                assert_eq!(r.payload, payload(P, r.seq()));
                seen += 1;
            }
            Ok(None) => panic!("read past a damaged frame"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.kind, ColdErrorKind::Corrupt, "{err}");
    assert!(err.message.contains("checksum"), "{err}");
    assert_eq!(
        seen,
        bad.first_seq - e.base_seq,
        "every record before the damaged frame, none after"
    );
    assert_eq!(c.next().unwrap_err(), err, "the error sticks");
    // Starting inside the damaged frame: the error at once.
    let e2 = reader
        .open_cursor(e.base_seq, Start::Seq(bad.first_seq))
        .unwrap()
        .next()
        .unwrap_err();
    assert_eq!(e2.kind, ColdErrorKind::Corrupt);
    // The whole-object check finds it; restore refuses to write it as a segment.
    assert!(matches!(
        reader.fetch_segment(e.base_seq),
        Err(TierError::Corrupt { .. })
    ));
    assert_eq!(reader.verify_all().len(), 1);
    let target = tempfile::tempdir().unwrap();
    let restored = target.path().join("r");
    let err = restore(&store, &restored, &RestoreOptions::hydrate()).unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(segment_files(&restored).is_empty());

    // A damaged frame index: the segment cannot be opened.
    let e1 = m.segments[1].clone();
    flip_byte(&bucket.path().join(&e1.key), e1.index_offset + 5);
    let err = reader.open_cursor(e1.base_seq, Start::Oldest).unwrap_err();
    assert_eq!(err.kind, ColdErrorKind::Corrupt, "{err}");

    // A damaged manifest is refused, locally and in the bucket.
    flip_byte(&bucket.path().join("manifest"), 200);
    assert!(matches!(
        ColdReader::from_bucket(&store, &CacheOptions::none()),
        Err(TierError::Corrupt { .. })
    ));
    flip_byte(&log.path().join("tier/manifest"), 200);
    let err = Tierer::open(log.path(), TierConfig::new(store)).unwrap_err();
    assert!(matches!(err, TierError::Corrupt { .. }), "{err}");
}

#[test]
fn a_damaged_cache_file_is_fetched_again() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 2000, P, 128 << 10);
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(8 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    let cache = tempfile::tempdir().unwrap();
    let r1 =
        ColdReader::open(log.path(), &store, Some(CacheOptions::in_dir(cache.path()))).unwrap();
    check_cold(&r1, P);
    for f in std::fs::read_dir(cache.path()).unwrap() {
        let p = f.unwrap().path();
        flip_byte(&p, 0);
    }
    let r2 =
        ColdReader::open(log.path(), &store, Some(CacheOptions::in_dir(cache.path()))).unwrap();
    check_cold(&r2, P);
    let st = r2.read_stats();
    assert!(st.cache_rejects > 0 && st.cache_hits == 0, "{st:?}");
    assert_eq!(st.frame_fetches, r1.read_stats().frame_fetches);
}

#[test]
fn restore_from_the_bucket_alone() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("log");
    std::fs::create_dir(&log).unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(&log, 4000, P, 64 << 10);
    let originals: Vec<(u64, Vec<u8>)> = segment_files(&log)
        .into_iter()
        .map(|b| {
            (
                b,
                std::fs::read(log.join(storage_std::format::segment_name(b))).unwrap(),
            )
        })
        .collect();
    let store = file_store(bucket.path());
    tier_once(
        &log,
        TierConfig::new(store.clone()).codec(Codec::Lz4),
        &TierPolicy::keep_local_segments(0),
    );
    let active_base = segment_files(&log)[0];
    std::fs::remove_dir_all(&log).unwrap();

    // The manifest alone: cold segments read on demand.
    let a = root.path().join("a");
    let rep = restore(&store, &a, &RestoreOptions::manifest_only()).unwrap();
    assert_eq!(
        (rep.first_seq, rep.last_seq),
        (Some(0), Some(active_base - 1))
    );
    assert_eq!(
        check_cold(&cold_reader(&a, &store), P),
        Some((0, active_base - 1))
    );

    // Hydrated: byte for byte the segment files that were tiered, a clean log.
    let b = root.path().join("b");
    let rep = restore(&store, &b, &RestoreOptions::hydrate()).unwrap();
    assert_eq!(rep.hydrated.len(), originals.len() - 1);
    for (base, bytes) in &originals[..originals.len() - 1] {
        let got = std::fs::read(b.join(storage_std::format::segment_name(*base))).unwrap();
        assert!(got == *bytes, "segment {base} differs");
    }
    assert_eq!(
        storage_std::verify_dir(&b).unwrap().status,
        VerifyStatus::Clean
    );
    assert_eq!(check_local(&b, P), Some((0, active_base - 1)));

    // Only into a new or empty directory.
    let err = restore(&store, &b, &RestoreOptions::manifest_only()).unwrap_err();
    assert!(matches!(err, TierError::Config(_)), "{err}");
    // A bucket without a manifest has nothing to restore.
    let empty = tempfile::tempdir().unwrap();
    let err = restore(
        &file_store(empty.path()),
        root.path().join("c"),
        &RestoreOptions::manifest_only(),
    )
    .unwrap_err();
    assert!(matches!(err, TierError::NotFound(_)), "{err}");
}

#[test]
fn gc_removes_what_no_manifest_names_and_cold_retention_cuts_the_front() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 4000, P, 64 << 10);
    let store = file_store(bucket.path());
    let cfg = TierConfig::new(store.clone());
    let mut t = Tierer::open(log.path(), cfg.clone()).unwrap();
    t.run_once(&TierPolicy::keep_local_segments(1), &mut |_| {})
        .unwrap();
    let named = manifest_keys(log.path());
    std::fs::write(
        bucket.path().join("segments/99999999999999999999.rlc"),
        b"stray",
    )
    .unwrap();
    std::fs::write(
        bucket.path().join("segments/00000000000000000000.rlc#7"),
        b"staging",
    )
    .unwrap();
    let mut deleted = t.gc().unwrap();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "segments/00000000000000000000.rlc#7",
            "segments/99999999999999999999.rlc"
        ]
    );
    assert_eq!(store_segment_keys(bucket.path()), named);

    let before = t.manifest().segments.clone();
    let r = t
        .apply_cold_retention(&ColdRetention::max_cold_segments(2))
        .unwrap();
    let cut = before.len() - 2;
    assert_eq!(
        r.deleted,
        before[..cut].iter().map(|e| e.base_seq).collect::<Vec<_>>()
    );
    assert_eq!(r.first_seq, Some(before[cut].base_seq));
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    assert_eq!(m.segments, before[cut..].to_vec());
    assert_eq!(
        m.front_cut.as_ref().map(|c| c.first_seq),
        Some(before[cut].base_seq)
    );
    assert_eq!(store_segment_keys(bucket.path()), manifest_keys(log.path()));
    let reader = cold_reader(log.path(), &store);
    let gone = reader.open_cursor(0, Start::Oldest).unwrap_err();
    assert_eq!(gone.kind, ColdErrorKind::NotFound);
    // Tiering goes on after the cut.
    let r = t
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap();
    assert_eq!(r.moved.len(), 1);
    reader.refresh().unwrap();
    let (first, last) = check_cold(&reader, P).unwrap();
    assert_eq!(first, before[cut].base_seq);
    assert_eq!(check_local(log.path(), P).unwrap().0, last + 1);
    // Cutting everything keeps the front: the next segment must still follow it.
    let r = t
        .apply_cold_retention(&ColdRetention::before_seq(u64::MAX))
        .unwrap();
    assert_eq!(r.first_seq, Some(last + 1));
    assert!(store_segment_keys(bucket.path()).is_empty());
}

#[test]
fn a_second_tierer_is_locked_out_and_a_foreign_bucket_is_refused() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 2000, P, 64 << 10);
    let store = file_store(bucket.path());
    let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
    let err = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap_err();
    assert!(matches!(err, TierError::Locked(_)) && err.is_retryable() && err.exit_code() == 5);
    t.run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap();
    drop(t);
    let keys = store_segment_keys(bucket.path());

    // Another log (a different directory, its own records) aimed at the same bucket.
    let other = tempfile::tempdir().unwrap();
    write_log(other.path(), 2000, Payload::Pattern(60), 64 << 10);
    let mut t2 = Tierer::open(other.path(), TierConfig::new(store.clone())).unwrap();
    let err = t2
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, TierError::Conflict(_)), "{err}");
    assert_eq!(
        store_segment_keys(bucket.path()),
        keys,
        "the first log's objects are untouched"
    );
    assert_eq!(
        check_local(other.path(), Payload::Pattern(60)),
        Some((0, 1999)),
        "nothing of the other log was deleted"
    );
    // A log whose segments start elsewhere is refused at open.
    let third = tempfile::tempdir().unwrap();
    write_log(third.path(), 10, P, 64 << 10);
    std::fs::rename(
        third.path().join(storage_std::format::segment_name(0)),
        third
            .path()
            .join(storage_std::format::segment_name(777_777)),
    )
    .unwrap();
    let err = Tierer::open(third.path(), TierConfig::new(store)).unwrap_err();
    assert!(matches!(err, TierError::Conflict(_)), "{err}");
}

/// Crash at `step` during a run with `policy`; returns (log dir, bucket dir) after the
/// crash, with the child's abort checked.
fn crash_at(
    test: &str,
    step: CrashPoint,
    prepare: impl FnOnce(&std::path::Path, &std::path::Path),
) -> (tempfile::TempDir, tempfile::TempDir) {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    prepare(log.path(), bucket.path());
    let st = run_child(
        test,
        &[
            ("TIER_LOG", log.path().display().to_string()),
            ("TIER_BUCKET", bucket.path().display().to_string()),
            (CRASH_ENV, step.name().to_owned()),
        ],
    );
    assert_aborted(st);
    (log, bucket)
}

/// The child's part of a crash test: one run that must not return.
fn child_run(retention: bool) {
    let store = file_store(&env_path("TIER_BUCKET"));
    let mut t = Tierer::open(env_path("TIER_LOG"), TierConfig::new(store)).unwrap();
    if retention {
        t.apply_cold_retention(&ColdRetention::max_cold_segments(1))
            .unwrap();
    } else {
        t.run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
            .unwrap();
    }
    panic!("the run did not crash");
}

#[test]
fn crash_after_upload_leaves_an_orphan_that_gc_removes() {
    if is_child() {
        return child_run(false);
    }
    let (log, bucket) = crash_at(
        "crash_after_upload_leaves_an_orphan_that_gc_removes",
        CrashPoint::AfterUpload,
        |l, _| {
            write_log(l, 3000, P, 64 << 10);
        },
    );
    let store = file_store(bucket.path());
    // The object is there, no manifest names it, the segment is still local.
    assert_eq!(
        store_segment_keys(bucket.path()),
        ["segments/00000000000000000000.rlc"]
    );
    assert!(
        storage_tier::read_local_manifest(log.path())
            .unwrap()
            .is_none_or(|m| m.segments.is_empty())
    );
    check_union(log.path(), &store, P, 3000);
    let r = tier_once(
        log.path(),
        TierConfig::new(store.clone()),
        &TierPolicy::keep_local_segments(0),
    );
    assert_eq!(r.gc_deleted, ["segments/00000000000000000000.rlc"]);
    assert_eq!(r.moved[0].base_seq, 0);
    check_whole_log(log.path(), &store, P, 3000);
    assert_eq!(store_segment_keys(bucket.path()), manifest_keys(log.path()));
}

#[test]
fn crash_after_manifest_leaves_both_copies_and_resumes() {
    if is_child() {
        return child_run(false);
    }
    let (log, bucket) = crash_at(
        "crash_after_manifest_leaves_both_copies_and_resumes",
        CrashPoint::AfterManifest,
        |l, _| {
            write_log(l, 3000, P, 64 << 10);
        },
    );
    let store = file_store(bucket.path());
    assert_eq!(
        manifest_keys(log.path()),
        ["segments/00000000000000000000.rlc"]
    );
    assert!(
        log.path()
            .join(storage_std::format::segment_name(0))
            .exists()
    );
    // Restorable from the bucket alone already.
    let b = storage_tier::ColdReader::from_bucket(&store, &CacheOptions::none()).unwrap();
    assert_eq!(b.manifest().segments.len(), 1);
    check_union(log.path(), &store, P, 3000);
    let r = tier_once(
        log.path(),
        TierConfig::new(store.clone()),
        &TierPolicy::keep_local_segments(0),
    );
    assert_eq!(r.local_copies_removed, [0]);
    assert!(r.gc_deleted.is_empty());
    check_whole_log(log.path(), &store, P, 3000);
    assert_eq!(store_segment_keys(bucket.path()), manifest_keys(log.path()));
}

#[test]
fn crash_after_retention_manifest_leaves_orphans_that_gc_removes() {
    if is_child() {
        return child_run(true);
    }
    let (log, bucket) = crash_at(
        "crash_after_retention_manifest_leaves_orphans_that_gc_removes",
        CrashPoint::AfterRetentionManifest,
        |l, b| {
            write_log(l, 3000, P, 64 << 10);
            tier_once(
                l,
                TierConfig::new(file_store(b)),
                &TierPolicy::keep_local_segments(0),
            );
        },
    );
    let store = file_store(bucket.path());
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    assert_eq!(m.segments.len(), 1, "the manifest was cut first");
    assert!(
        store_segment_keys(bucket.path()).len() > 1,
        "objects not yet deleted"
    );
    let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
    let gone = t.gc().unwrap();
    assert!(!gone.is_empty());
    assert_eq!(store_segment_keys(bucket.path()), manifest_keys(log.path()));
    let (first, last) = check_cold(&cold_reader(log.path(), &store), P).unwrap();
    assert_eq!(first, m.segments[0].base_seq);
    assert_eq!(check_local(log.path(), P).unwrap(), (last + 1, 2999));
}

#[test]
fn tiering_next_to_a_live_writer_loses_nothing() {
    use storage_std::{Durability, RecordMeta, Writer, WriterOptions};
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let store = file_store(bucket.path());
    let w: Writer = Writer::open(
        log.path(),
        WriterOptions::new(Durability::None).with_segment_bytes(32 << 10),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (dir, cfg, stop2) = (
        log.path().to_path_buf(),
        TierConfig::new(store.clone()),
        stop.clone(),
    );
    let watcher = std::thread::spawn(move || {
        let mut t = Tierer::open(&dir, cfg).unwrap();
        let mut passes = 0;
        t.watch(
            &TierPolicy::keep_local_segments(1),
            Duration::from_millis(20),
            &stop2,
            &mut |_| {},
            &mut |r| {
                r.unwrap();
                passes += 1;
            },
        )
        .unwrap();
        passes
    });
    let n = 6000;
    for seq in 0..n {
        let meta = RecordMeta {
            kind: 1,
            flags: 0,
            timestamp_ns: Some(ts_of(seq)),
        };
        w.append_with(&payload(P, seq), meta).unwrap();
        if seq % 500 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    w.close().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 1);
    let r = tier_once(
        log.path(),
        TierConfig::new(store.clone()),
        &TierPolicy::keep_local_segments(1),
    );
    assert!(r.retries.is_empty());
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    assert!(m.segments.len() >= 5, "{} cold segments", m.segments.len());
    check_whole_log(log.path(), &store, P, n);
}

#[test]
fn a_damaged_local_segment_is_never_tiered() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 3000, P, 64 << 10);
    let segs = segment_files(log.path());
    assert!(segs.len() >= 5);
    let name = |b: u64| log.path().join(storage_std::format::segment_name(b));
    // A record of the second segment: its CRC fails.
    flip_byte(&name(segs[1]), 64 + 40);
    let store = file_store(bucket.path());
    let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
    let err = t
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(err, TierError::Corrupt { .. }) && err.exit_code() == 1,
        "{err}"
    );
    assert_eq!(manifest_keys(log.path()), [storage_tier::object_key(0)]);
    assert_eq!(
        store_segment_keys(bucket.path()),
        [storage_tier::object_key(0)]
    );
    assert!(
        name(segs[1]).exists(),
        "the damaged segment stays where it is"
    );
    drop(t);

    // A damaged footer: the segment is not sealed; tiering stops before it and says so.
    flip_byte(&name(segs[1]), 64 + 40); // repaired
    let len = std::fs::metadata(name(segs[2])).unwrap().len();
    flip_byte(&name(segs[2]), len - 10);
    let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
    let r = t
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap();
    assert_eq!(
        r.moved.iter().map(|m| m.base_seq).collect::<Vec<_>>(),
        [segs[1]]
    );
    let why = r.stopped_at.unwrap();
    assert!(why.contains("not sealed"), "{why}");
    assert_eq!(segment_files(log.path())[0], segs[2]);
    check_cold(&cold_reader(log.path(), &store), P);
}

/// Every record of `reader`'s whole log from `start`, checked; returns (first, count).
fn replay_whole(reader: &storage_std::LogReader, start: Start, p: Payload) -> (u64, u64) {
    let mut c = reader.cursor(start).unwrap();
    let mut first = None;
    let mut n = 0u64;
    while let Some(r) = c.next().unwrap() {
        let want = *first.get_or_insert(r.seq()) + n;
        assert_eq!(r.seq(), want);
        assert_eq!(r.timestamp_ns(), ts_of(want));
        assert_eq!(r.payload, payload(p, want), "payload of {want}");
        n += 1;
    }
    assert_eq!(c.read_end(), storage_std::ReadEnd::End);
    (first.unwrap_or(0), n)
}

#[test]
fn storage_std_reads_cold_and_local_as_one_log() {
    const N: u64 = 20_000;
    let p = Payload::Pattern(200);
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let files = write_log(log.path(), N, p, 1 << 20);
    assert!(files >= 4, "{files} segments");
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(32 << 10),
        &TierPolicy::keep_local_segments(1),
    );
    let local = segment_files(log.path());
    assert_eq!(
        local.len(),
        2,
        "one sealed segment kept, and the active one"
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let cold = ColdReader::open(
        log.path(),
        &store,
        Some(CacheOptions::in_dir(cache_dir.path())),
    )
    .unwrap();
    let segs = cold.cold_segments().unwrap();
    assert_eq!(segs.len(), files - 2);
    for s in &segs {
        assert!(
            !local.contains(&s.base_seq),
            "tiered {} is gone",
            s.base_seq
        );
    }
    assert_eq!(cold.read_stats().cache_bytes, 0, "the cache starts empty");
    let plain = storage_std::LogReader::open(log.path()).unwrap();
    let reader = plain.clone().with_cold(Arc::new(cold.clone()));

    // From the middle of a cold segment: its index and at most two frames.
    let s = &segs[1];
    let mid = s.base_seq + s.record_count / 2;
    let mut c = reader.cursor(Start::Seq(mid)).unwrap();
    for i in 0..50 {
        let r = c.next().unwrap().unwrap();
        assert_eq!((r.seq(), r.payload), (mid + i, &payload(p, mid + i)[..]));
    }
    drop(c);
    let st = cold.read_stats();
    assert_eq!(st.index_fetches, 1, "{st:?}");
    assert!((1..=2).contains(&st.frame_fetches), "{st:?}");
    let sc = cold.store_counters();
    assert_eq!(
        (sc.gets, sc.range_gets),
        (0, st.index_fetches + st.frame_fetches)
    );

    // Whole replays, by sequence and by time, across the cold and local segments.
    assert_eq!(replay_whole(&reader, Start::Oldest, p), (0, N));
    assert_eq!(replay_whole(&reader, Start::Seq(mid), p), (mid, N - mid));
    for at in [
        0,
        mid,
        s.last_seq,
        s.last_seq + 1,
        local[0],
        local[1] + 3,
        N - 1,
    ] {
        assert_eq!(
            replay_whole(&reader, Start::Time(ts_of(at)), p),
            (at, N - at)
        );
        assert_eq!(
            replay_whole(&reader, Start::Time(ts_of(at) - 500), p).0,
            at,
            "between records: the next one"
        );
    }
    let (_, none) = replay_whole(&reader, Start::Time(ts_of(N)), p);
    assert_eq!(none, 0, "past the end");
    // Without the cold tier the log starts at the first local segment.
    assert!(matches!(
        plain.cursor(Start::Seq(mid)).unwrap_err(),
        storage_std::Error::NotRetained { first, .. } if first == local[0]
    ));
    assert!(matches!(reader.cursor(Start::Seq(0)).map(|_| ()), Ok(())));

    // The segment list is the whole log, contiguous.
    let all = reader.segments().unwrap();
    assert_eq!(all.len(), files);
    assert_eq!(reader.cold_segments().unwrap().len(), files - 2);
    let mut next = 0;
    for seg in &all {
        assert_eq!(seg.base_seq, next);
        next = seg.last_seq.unwrap() + 1;
    }
    assert_eq!(next, N);

    // A cursor that follows sees records a writer appends after the cold ones.
    let mut c = reader.cursor(Start::Seq(N - 1)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), N - 1);
    assert!(c.next().unwrap().is_none());
}

#[test]
fn a_local_copy_wins_over_its_cold_copy_and_cold_damage_is_an_error() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 3000, P, 128 << 10);
    let first = segment_files(log.path())[0];
    let name = storage_std::format::segment_name(first);
    let saved = std::fs::read(log.path().join(&name)).unwrap();
    let store = file_store(bucket.path());
    tier_once(
        log.path(),
        TierConfig::new(store.clone()).frame_bytes(8 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    let e = m.segments[0].clone();
    assert_eq!(e.base_seq, first);
    let obj_path = bucket.path().join(&e.key);
    let obj = std::fs::read(&obj_path).unwrap();
    let d = storage_tier::object::decode_object(&obj, e.object_crc32c).unwrap();
    let bad = d.frames[1];
    flip_byte(&obj_path, bad.comp_offset + u64::from(bad.comp_len) / 2);

    let reader = storage_std::LogReader::open(log.path())
        .unwrap()
        .with_cold(Arc::new(cold_reader(log.path(), &store)));
    let mut c = reader.cursor(Start::Oldest).unwrap();
    let mut seen = 0;
    let err = loop {
        match c.next() {
            Ok(Some(r)) => {
                assert_eq!(r.payload, payload(P, r.seq()));
                seen += 1;
            }
            Ok(None) => panic!("read past a damaged cold frame"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, storage_std::Error::Corrupt { .. }), "{err}");
    assert!(seen < e.record_count, "stopped in the damaged segment");

    // The segment back on local disk: it is read from there, the damaged object is not.
    std::fs::write(log.path().join(&name), &saved).unwrap();
    let (first_seq, n) = replay_whole(&reader, Start::Oldest, P);
    assert_eq!((first_seq, n), (0, 3000));
    assert_eq!(
        reader
            .segments()
            .unwrap()
            .iter()
            .filter(|s| s.base_seq == first)
            .count(),
        1
    );
}

/// Appends one record with a writer reopened on `dir`; returns its sequence.
fn append_after_reopen(dir: &std::path::Path) -> u64 {
    let w: storage_std::Writer = storage_std::Writer::open(
        dir,
        storage_std::WriterOptions::new(storage_std::Durability::Sync),
    )
    .unwrap();
    let s = w.append(b"after").unwrap();
    w.close().unwrap();
    s
}

#[test]
fn a_writer_reopened_after_everything_moved_continues_the_sequence() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 3000, P, 128 << 10);
    // A closed log whose last segment is sealed: the active one removed, as a writer
    // that sealed a segment and stopped before creating the next would leave it.
    let segs = segment_files(log.path());
    let active = *segs.last().unwrap();
    for name in [
        storage_std::format::segment_name(active),
        storage_std::format::index_name(active),
    ] {
        let _ = std::fs::remove_file(log.path().join(name));
    }
    let store = file_store(bucket.path());
    let r = tier_once(
        log.path(),
        TierConfig::new(store.clone()),
        &TierPolicy::keep_local_segments(0).move_last_sealed(true),
    );
    assert_eq!(r.moved.len(), segs.len() - 1, "{r:?}");
    let cold_next = r.moved.last().unwrap().last_seq + 1;
    assert_eq!(cold_next, active);
    // What stays: one empty active segment where the sequence goes on.
    assert_eq!(segment_files(log.path()), vec![cold_next]);
    assert_eq!(
        append_after_reopen(log.path()),
        cold_next,
        "no sequence reused"
    );

    // A log restored from the bucket alone goes on after the cold tier too.
    let restored = tempfile::tempdir().unwrap();
    let dir = restored.path().join("log");
    restore(&store, &dir, &RestoreOptions::manifest_only()).unwrap();
    assert_eq!(append_after_reopen(&dir), cold_next);
    let reader = storage_std::LogReader::open(&dir)
        .unwrap()
        .with_cold(Arc::new(cold_reader(&dir, &store)));
    let mut c = reader.cursor(Start::Oldest).unwrap();
    let mut n = 0;
    while let Some(r) = c.next().unwrap() {
        assert_eq!(r.seq(), n);
        n += 1;
    }
    assert_eq!(
        n,
        cold_next + 1,
        "the cold records and the one appended after them"
    );
}

#[test]
fn cold_retention_keeps_what_a_consumer_has_not_read() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    write_log(log.path(), 3000, P, 64 << 10);
    let store = file_store(bucket.path());
    let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
    t.run_once(&TierPolicy::keep_local_segments(0), &mut |_: &TierEvent| {})
        .unwrap();
    let cold = t.manifest().segments.clone();
    assert!(cold.len() >= 4, "{} cold segments", cold.len());
    // "audit" has read into the third cold segment.
    let offsets = storage_std::OffsetStore::new(Arc::new(
        storage_std::backend::FileBackend::existing(log.path()).unwrap(),
    ));
    offsets.commit("audit", cold[2].base_seq + 1).unwrap();
    let all = storage_std::KeepUnread::AllConsumers;
    let r = t
        .apply_cold_retention(&ColdRetention::max_cold_segments(0).keep_unread(all.clone()))
        .unwrap();
    assert_eq!(r.deleted, vec![cold[0].base_seq, cold[1].base_seq]);
    assert_eq!(r.held_by.as_deref(), Some("audit"));
    assert_eq!(r.first_seq, Some(cold[2].base_seq));
    // A named consumer without an offset has read nothing: nothing more goes.
    let r = t
        .apply_cold_retention(
            &ColdRetention::max_cold_segments(0)
                .keep_unread(storage_std::KeepUnread::Consumers(vec!["new".into()])),
        )
        .unwrap();
    assert!(r.deleted.is_empty());
    assert_eq!(r.held_by.as_deref(), Some("new"));
    // Once "audit" has read everything cold, the limit wins; the objects are gone.
    offsets
        .commit("audit", cold.last().unwrap().last_seq + 1)
        .unwrap();
    let r = t
        .apply_cold_retention(&ColdRetention::max_cold_segments(0).keep_unread(all))
        .unwrap();
    assert_eq!(r.deleted.len(), cold.len() - 2);
    assert_eq!(r.held_by, None);
    assert!(store_segment_keys(bucket.path()).is_empty());
    assert!(t.manifest().segments.is_empty());
    drop(t);
    // The log still reads from where its cold tier now starts (its local part).
    check_local(log.path(), P);
}

#[test]
fn a_live_writer_with_retention_tolerates_segments_tiered_away() {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let mut opts = storage_std::WriterOptions::new(storage_std::Durability::group())
        .with_segment_bytes(32 << 10);
    // Retention deletes every sealed segment consumer "c" has read.
    opts = opts.with_retention(
        storage_std::RetentionPolicy::default()
            .with_max_age(Some(Duration::ZERO))
            .with_keep_unread(storage_std::KeepUnread::Consumers(vec!["c".into()])),
    );
    let w: storage_std::Writer = storage_std::Writer::open(log.path(), opts).unwrap();
    w.offsets().commit("c", 0).unwrap();
    let append = |seq: &mut u64, n: u64| {
        for _ in 0..n {
            assert_eq!(w.append(&payload(P, *seq)).unwrap(), *seq);
            *seq += 1;
        }
        w.sync().unwrap();
    };
    let mut seq = 0;
    append(&mut seq, 2000);
    assert!(segment_files(log.path()).len() >= 5);
    // Segments move to the cold tier next to the live writer, which still lists them.
    let r = tier_once(
        log.path(),
        TierConfig::new(file_store(bucket.path())),
        &TierPolicy::keep_local_segments(1),
    );
    assert!(r.moved.len() >= 3);
    // "c" has read everything: the next roll's retention deletes what is still local,
    // and must not stop the writer over the files that are already gone.
    w.offsets().commit("c", seq).unwrap();
    append(&mut seq, 1000);
    w.close().unwrap();
    let (first, last) = check_local(log.path(), P).unwrap();
    assert_eq!(last, 2999);
    assert!(
        first > r.moved.last().unwrap().last_seq,
        "retention ran: {first}"
    );
}
