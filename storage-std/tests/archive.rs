//! The recordings catalog, the recorder and run manifests: list, describe (also while a
//! recording is written), extend, recover, truncate, purge; damaged manifests and logs;
//! a power cut at every step of a manifest write.

#[path = "common/recording.rs"]
mod recording;

use recording::{record_range, replay_all};
use std::collections::BTreeMap;

use ringcore::broadcast::merge::{MergeError, MergingReader};
use ringcore::broadcast::{GatedRing, OverwriteRing};
use storage_std::archive::{
    ArchiveError, Catalog, Drained, MANIFEST_FILE, Manifest, RecordingState, read_manifest,
    write_manifest,
};
use storage_std::backend::{CrashMode, MemBackend};
use storage_std::{Durability, WriterOptions};

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(64 << 10);
    o
}

type Ring = GatedRing<256, 32, 2>;

#[test]
fn create_list_describe_extend_purge() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut config = BTreeMap::new();
    config.insert("feed".to_owned(), "orders-eu".to_owned());
    let mut b = catalog.create("b-trades", opts(), config.clone()).unwrap();
    let mut a = catalog.create("a-orders", opts(), config).unwrap();
    assert!(matches!(
        catalog.create("a-orders", opts(), BTreeMap::new()),
        Err(ArchiveError::Exists(_))
    ));
    for bad in ["", ".hidden", "a/b", "../x", &"x".repeat(129)] {
        assert!(
            matches!(catalog.describe(bad), Err(ArchiveError::InvalidName(_))),
            "{bad:?}"
        );
    }
    record_range(&mut a, 0, 300);
    record_range(&mut b, 0, 10);

    // Queryable while being written: live, running, position.
    let live = catalog.describe("a-orders").unwrap();
    assert!(live.live);
    assert_eq!(live.state, Some(RecordingState::Running));
    assert_eq!(live.state_label(), "running");
    assert_eq!(a.status().appended_end(), 300);

    let sealed = a.stop().unwrap();
    assert_eq!(sealed.state, RecordingState::Sealed);
    assert_eq!((sealed.first_seq, sealed.last_seq), (Some(0), Some(299)));
    assert_eq!(sealed.config["feed"], "orders-eu");
    assert!(sealed.config.contains_key("durability"));
    assert!(sealed.ended_ns.unwrap() >= sealed.started_ns);
    b.stop().unwrap();

    let list = catalog.list().unwrap();
    let names: Vec<_> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a-orders", "b-trades"]);
    let info = &list[0];
    assert_eq!(
        (info.first_seq, info.last_seq, info.live),
        (Some(0), Some(299), false)
    );
    assert_eq!((info.first_ts, info.last_ts), (Some(0), Some(2990)));
    assert!(info.bytes > 300 * 32 && info.segments >= 1);

    // Extend: continues after the last record.
    let mut a = catalog.extend("a-orders", opts(), BTreeMap::new()).unwrap();
    assert_eq!(a.next_seq(), 300);
    assert_eq!(a.manifest().runs, 2);
    record_range(&mut a, 300, 350);
    let m = a.stop().unwrap();
    assert_eq!(
        (m.state, m.last_seq, m.runs),
        (RecordingState::Sealed, Some(349), 2)
    );
    assert_eq!(
        replay_all(&catalog, "a-orders", 0),
        (0..350).collect::<Vec<_>>()
    );
    assert_eq!(
        replay_all(&catalog, "a-orders", 340),
        (340..350).collect::<Vec<_>>()
    );
    // From a time: timestamps are seq * 10, so 1234 ns starts at sequence 124.
    let at = catalog.replay_at_time("a-orders", 1234, None).unwrap();
    assert_eq!(at.position(), 124);
    let ring = Ring::new();
    drop(ring.try_writer().unwrap());
    let mut m = MergingReader::new(&ring, at, 124);
    let mut seen = Vec::new();
    while let Ok(_) | Err(MergeError::Empty) = m.read_batch(64, |e| seen.push(e.header.seq)) {}
    assert_eq!(seen, (124..350).collect::<Vec<_>>());
    let past = catalog.replay_at_time("a-orders", u64::MAX, None).unwrap();
    assert_eq!(past.position(), 350);

    catalog.purge("b-trades").unwrap();
    assert!(matches!(
        catalog.describe("b-trades"),
        Err(ArchiveError::NotFound(_))
    ));
    assert_eq!(catalog.list().unwrap().len(), 1);
}

#[test]
fn a_ring_numbered_elsewhere_is_refused_not_recorded_with_other_sequences() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 5);
    let ring = Ring::new();
    let mut w = ring.try_writer().unwrap(); // numbers from 0, the recording expects 5
    let mut tap = ring.join().unwrap();
    w.try_publish(7, 0, b"x").unwrap();
    assert!(matches!(
        rec.drain_broadcast(&mut tap, 8),
        Err(ArchiveError::SeqMismatch {
            expected: 5,
            found: 0
        })
    ));
    assert_eq!(rec.stop().unwrap().last_seq, Some(4));
}

#[test]
fn a_lapped_overwrite_recorder_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    let ring = OverwriteRing::<4, 32, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut tap = ring.join().unwrap();
    for i in 0..10u64 {
        w.try_publish(0, 0, &i.to_le_bytes()).unwrap();
    }
    assert!(matches!(
        rec.drain_broadcast(&mut tap, 8),
        Err(ArchiveError::Lapped { at: 0, lost: 8 })
    ));
}

#[test]
fn spsc_consumer_is_recorded_too() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("s", opts(), BTreeMap::new()).unwrap();
    let ring = ringcore::spsc::Ring::<4096>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for seq in 0..20u64 {
        p.push(7, seq * 10, &seq.to_le_bytes()).unwrap();
    }
    assert_eq!(rec.drain_spsc(&mut c, 100).unwrap(), Drained::Records(20));
    assert_eq!(rec.drain_spsc(&mut c, 100).unwrap(), Drained::Empty);
    rec.stop().unwrap();
    assert_eq!(replay_all(&catalog, "s", 0), (0..20).collect::<Vec<_>>());
}

#[test]
fn interrupted_and_forgotten_recorders() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("crashy", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 40);
    drop(rec); // no stop: the manifest stays running, the log is closed
    let info = catalog.describe("crashy").unwrap();
    assert_eq!((info.state_label(), info.live), ("interrupted", false));
    let m = catalog.recover("crashy", false).unwrap();
    assert_eq!(m.state, RecordingState::CrashedRecovered);
    assert_eq!(m.last_seq, Some(39));
    assert!(m.ended_ns.is_some());

    // A forgotten recorder keeps its writer (and the log's lock): the catalog sees a
    // live recording and refuses to touch it.
    let mut rec = catalog.extend("crashy", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 40, 45);
    std::mem::forget(rec);
    let info = catalog.describe("crashy").unwrap();
    assert_eq!((info.state_label(), info.live), ("running", true));
    assert!(matches!(
        catalog.purge("crashy"),
        Err(ArchiveError::Live(_))
    ));
    assert!(matches!(
        catalog.truncate("crashy", 3),
        Err(ArchiveError::Live(_))
    ));
    assert!(matches!(
        catalog.recover("crashy", false),
        Err(ArchiveError::Live(_))
    ));
    assert!(catalog.extend("crashy", opts(), BTreeMap::new()).is_err());
}

#[test]
fn truncate_keeps_a_prefix_and_extend_continues_after_it() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("t", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 5000);
    assert!(matches!(
        catalog.truncate("t", 10),
        Err(ArchiveError::Live(_))
    ));
    rec.stop().unwrap();
    let info = catalog.describe("t").unwrap();
    assert!(info.segments > 1, "several segments: {}", info.segments);
    let m = catalog.truncate("t", 1234).unwrap();
    assert_eq!(m.last_seq, Some(1234));
    assert_eq!(catalog.describe("t").unwrap().last_seq, Some(1234));
    assert_eq!(replay_all(&catalog, "t", 0), (0..=1234).collect::<Vec<_>>());
    // Past the end: nothing to do.
    assert_eq!(catalog.truncate("t", 9999).unwrap().last_seq, Some(1234));
    let mut rec = catalog.extend("t", opts(), BTreeMap::new()).unwrap();
    assert_eq!(rec.next_seq(), 1235);
    record_range(&mut rec, 1235, 1240);
    rec.stop().unwrap();
    assert_eq!(
        replay_all(&catalog, "t", 1230),
        (1230..1240).collect::<Vec<_>>()
    );
    // A truncation cut short before its swap is dropped by the next open.
    std::fs::create_dir(root.path().join("t").join("log.truncating")).unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    assert!(!root.path().join("t").join("log.truncating").exists());
    assert_eq!(catalog.describe("t").unwrap().last_seq, Some(1239));
    // A purge cut short after its rename is finished by the next open.
    std::fs::create_dir(root.path().join(".purging-old")).unwrap();
    Catalog::open(root.path()).unwrap();
    assert!(!root.path().join(".purging-old").exists());
}

#[test]
fn damaged_log_is_refused_then_repaired_with_force() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("d", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 3000);
    rec.stop().unwrap();
    let log = catalog.log_dir("d").unwrap();
    let mut segs: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    assert!(segs.len() > 1);
    // Flip a byte in the middle of the first (sealed, synced) segment.
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&segs[0], &bytes).unwrap();

    let err = catalog.recover("d", false).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::State {
                state: "damaged",
                ..
            }
        ),
        "{err}"
    );
    let m = catalog.describe("d").unwrap().manifest.unwrap();
    assert_eq!(m.state, RecordingState::Damaged);
    assert!(m.damage.is_some());
    assert!(catalog.extend("d", opts(), BTreeMap::new()).is_err());
    assert!(matches!(
        catalog.truncate("d", 5),
        Err(ArchiveError::State { .. })
    ));

    let m = catalog.recover("d", true).unwrap();
    assert_eq!(m.state, RecordingState::Repaired);
    assert!(!m.lost.is_empty() && !m.quarantined.is_empty(), "{m:?}");
    assert!(m.damage.is_none());
    assert_eq!(catalog.describe("d").unwrap().state_label(), "repaired");
    // The lost range is a clear gap for a replay, not a silent skip.
    let ring = Ring::new();
    drop(ring.try_writer().unwrap());
    let mut merged = MergingReader::new(&ring, catalog.replay("d", 0).unwrap(), 0);
    let gap = loop {
        match merged.read_batch(512, |_| ()) {
            Ok(_) | Err(MergeError::Empty) => {}
            Err(e) => break e,
        }
    };
    let (from, _) = m.lost[0];
    assert!(
        matches!(gap, MergeError::Gap { expected, .. } if expected == from),
        "{gap:?}, lost {:?}",
        m.lost
    );
}

#[test]
fn damaged_manifests_are_clear_errors_and_still_listed() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let rec = catalog.create("m", opts(), BTreeMap::new()).unwrap();
    rec.stop().unwrap();
    let path = root.path().join("m").join(MANIFEST_FILE);
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 3] ^= 0x01;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (flipped, "checksum mismatch"),
        (good[..good.len() / 2].to_vec(), ""),
        (b"garbage".to_vec(), "no checksum line"),
        (vec![0xff; 64], "not UTF-8"),
        (Vec::new(), "no checksum line"),
        (vec![b' '; 2 << 20], "more than a manifest can hold"),
    ];
    for (bytes, want) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = catalog.describe("m").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ArchiveError::DamagedManifest { .. }),
            "{text}"
        );
        assert!(text.contains(want), "{text:?} lacks {want:?}");
        let list = catalog.list().unwrap();
        assert_eq!(list[0].state, None);
        assert!(
            list[0]
                .problem
                .as_deref()
                .unwrap()
                .contains("damaged manifest")
        );
        assert!(catalog.extend("m", opts(), BTreeMap::new()).is_err());
    }
    // A manifest that parses but is of an unknown version.
    let mut m = Manifest::new("m", BTreeMap::new(), 1);
    m.version = 99;
    std::fs::write(&path, m.encode()).unwrap();
    assert!(
        catalog
            .describe("m")
            .unwrap_err()
            .to_string()
            .contains("unknown manifest version 99")
    );
}

#[test]
fn power_cut_at_every_step_of_a_manifest_write_leaves_the_old_or_the_new() {
    let mut old = Manifest::new("p", BTreeMap::new(), 1);
    old.state = RecordingState::Sealed;
    old.last_seq = Some(9);
    let mut new = old.clone();
    new.state = RecordingState::Running;
    new.runs = 2;
    let modes = [
        CrashMode::DropUnsynced,
        CrashMode::KeepUnsynced,
        CrashMode::TornPages { seed: 1 },
        CrashMode::TornPages { seed: 7 },
    ];
    for mode in modes {
        let mut step = 0;
        loop {
            let b = MemBackend::new();
            write_manifest(&b, &old).unwrap();
            let base = b.steps();
            b.set_crash_at(Some(base + step));
            let result = write_manifest(&b, &new);
            let crashed = b.is_crashed();
            b.power_cut(mode);
            let found = read_manifest(&b, "p")
                .unwrap()
                .expect("a manifest survives");
            assert!(
                found == old || found == new,
                "{mode:?} step {step}: {found:?}"
            );
            if result.is_ok() && !crashed {
                // Completed without reaching the crash step: the new one is durable.
                assert_eq!(found, new, "{mode:?}: a completed write survives");
                break;
            }
            step += 1;
            assert!(step < 100, "a manifest write takes a handful of steps");
        }
        // The loop ends only on a completed write; it took several steps to get there.
        assert!(step >= 3, "{mode:?}: {step} steps");
    }
}

#[test]
fn anchors_resume_from_the_latest_valid_one() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("a", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 100);
    // Live: an anchor needs its sequence durable.
    assert!(matches!(
        rec.store_anchor(100, b"future"),
        Err(ArchiveError::AnchorAhead { seq: 100, .. })
    ));
    rec.stop().unwrap();
    catalog.store_anchor("a", 10, b"state@10").unwrap();
    catalog.store_anchor("a", 50, b"state@50").unwrap();
    catalog.store_anchor("a", 99, b"state@99").unwrap();
    assert!(matches!(
        catalog.store_anchor("a", 100, b"x"),
        Err(ArchiveError::AnchorAhead {
            seq: 100,
            durable_end: 100
        })
    ));
    let (anchor, rejected, _) = catalog.resume_from_anchor("a").unwrap();
    assert_eq!(anchor.unwrap().snapshot, b"state@99");
    assert!(rejected.is_empty());

    // Damage the newest: the one before it is used, the damage reported.
    let anchors = root.path().join("a").join("anchors");
    let newest = anchors.join(storage_std::archive::anchor_name(99));
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&newest, &bytes).unwrap();
    let (anchor, rejected, replay) = catalog.resume_from_anchor("a").unwrap();
    let anchor = anchor.unwrap();
    assert_eq!((anchor.seq, &anchor.snapshot[..]), (50, &b"state@50"[..]));
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].reason.contains("snapshot checksum"),
        "{rejected:?}"
    );
    assert_eq!(replay.position(), 51);

    // Truncating below an anchor removes it: once extended past 50 again, the old
    // snapshot must not come back.
    catalog.truncate("a", 30).unwrap();
    let mut rec = catalog.extend("a", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 31, 80);
    let live = rec.store_anchor(60, b"state@60 (new)").unwrap();
    assert_eq!(live.seq, 60);
    rec.stop().unwrap();
    let (anchor, rejected, _) = catalog.resume_from_anchor("a").unwrap();
    assert_eq!(anchor.unwrap().snapshot, b"state@60 (new)");
    assert!(
        rejected.iter().all(|r| !r.file.contains("50")),
        "{rejected:?}"
    );
    // Garbage, short and mislabelled files are skipped with a reason, never a panic.
    std::fs::write(anchors.join(storage_std::archive::anchor_name(70)), b"junk").unwrap();
    std::fs::write(
        anchors.join(storage_std::archive::anchor_name(71)),
        vec![0u8; 100],
    )
    .unwrap();
    std::fs::copy(
        anchors.join(storage_std::archive::anchor_name(60)),
        anchors.join(storage_std::archive::anchor_name(72)),
    )
    .unwrap();
    let (anchor, rejected, _) = catalog.resume_from_anchor("a").unwrap();
    assert_eq!(anchor.unwrap().seq, 60);
    let reasons: Vec<_> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(rejected.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("header says sequence 60"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("bad magic"), "{reasons:?}");
    assert!(
        reasons[2].contains("shorter than the header"),
        "{reasons:?}"
    );
}

#[test]
fn power_cut_at_every_step_of_an_anchor_write_leaves_no_half_anchor() {
    use storage_std::archive::{Anchor, latest_anchor, write_anchor};
    let old = Anchor {
        seq: 5,
        created_ns: 1,
        snapshot: vec![5; 5000],
    };
    let new = Anchor {
        seq: 9,
        created_ns: 2,
        snapshot: vec![9; 9000],
    };
    for mode in [
        CrashMode::DropUnsynced,
        CrashMode::KeepUnsynced,
        CrashMode::TornPages { seed: 3 },
    ] {
        let mut step = 0;
        loop {
            let b = MemBackend::new();
            write_anchor(&b, &old).unwrap();
            b.set_crash_at(Some(b.steps() + step));
            let result = write_anchor(&b, &new);
            let crashed = b.is_crashed();
            b.power_cut(mode);
            let (found, rejected) = latest_anchor(&b, 100).unwrap();
            let found = found.expect("the old anchor survives");
            assert!(found == old || found == new, "{mode:?} step {step}");
            assert!(rejected.is_empty(), "{mode:?} step {step}: {rejected:?}");
            if result.is_ok() && !crashed {
                assert_eq!(found, new);
                break;
            }
            step += 1;
            assert!(step < 100);
        }
        assert!(step >= 3, "{mode:?}: {step}");
        // Refused when newer than the durable log.
        let b = MemBackend::new();
        write_anchor(&b, &new).unwrap();
        let (found, rejected) = latest_anchor(&b, 9).unwrap();
        assert!(found.is_none());
        assert!(rejected[0].reason.contains("past the durable log"));
    }
}
