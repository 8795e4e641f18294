//! Adversarial checks of the recordings catalog: names at the limits, hand-edited
//! truncation intents, absurd truncation points, catalog operations next to a live
//! recorder, and `Catalog::open` racing creations and purges.

#[path = "common/recording.rs"]
mod recording;

use recording::{record_range, replay_all};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringcore::broadcast::GatedRing;
use ringcore::broadcast::merge::{MergeError, MergingReader};
use storage_std::archive::{
    ArchiveError, Catalog, MANIFEST_FILE, Manifest, RecordingState, TRUNCATING_KEY,
};
use storage_std::{Durability, WriterOptions};

fn opts() -> WriterOptions {
    WriterOptions::new(Durability::group()).with_segment_bytes(64 << 10)
}

type Ring = GatedRing<256, 32, 2>;

/// A sealed recording `name` holding `0..n`.
fn sealed(catalog: &Catalog, name: &str, n: u64) {
    let mut rec = catalog.create(name, opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, n);
    rec.stop().unwrap();
}

fn edit_manifest(root: &Path, name: &str, f: impl FnOnce(&mut Manifest)) {
    let path = root.join(name).join(MANIFEST_FILE);
    let mut m = Manifest::decode(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&path, m.encode()).unwrap();
}

#[test]
fn a_truncated_sealed_recording_still_verifies_against_its_manifest() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "t", 3000);
    let before = storage_std::verify_dir(catalog.log_dir("t").unwrap()).unwrap();
    assert_eq!(before.chain.manifest_matched, Some(true), "{before:?}");
    let m = catalog.truncate("t", 1000).unwrap();
    assert_eq!(m.last_seq, Some(1000));
    let after = storage_std::verify_dir(catalog.log_dir("t").unwrap()).unwrap();
    assert!(
        after.findings.is_empty(),
        "a truncation is not corruption: {:?}",
        after.findings
    );
    assert_eq!(after.chain.manifest_matched, Some(true));
}

#[test]
fn names_at_the_limits_and_names_of_internal_files() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let long = "n".repeat(128);
    let names = [
        long.as_str(),
        "log",
        "anchors",
        "manifest.json",
        "manifest.json.tmp",
        "log.truncating",
        "creating-x",
        "purging-x",
        "-",
        "_",
        "a.",
    ];
    for (i, name) in names.iter().enumerate() {
        sealed(&catalog, name, i as u64 + 1);
    }
    for bad in [
        ".creating-x",
        ".purging-x",
        ".",
        "..",
        &"n".repeat(129),
        "a b",
        "a\0b",
        "é",
    ] {
        assert!(
            matches!(
                catalog.create(bad, opts(), BTreeMap::new()),
                Err(ArchiveError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    // A reopen sweeps nothing of theirs, and each is its own recording.
    let catalog = Catalog::open(root.path()).unwrap();
    let listed: Vec<String> = catalog
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            replay_all(&catalog, name, 0),
            (0..=i as u64).collect::<Vec<_>>()
        );
    }
    catalog.purge(&long).unwrap();
    assert!(matches!(
        catalog.describe(&long),
        Err(ArchiveError::NotFound(_))
    ));
    sealed(&catalog, &long, 2);
    assert_eq!(replay_all(&catalog, &long, 0), vec![0, 1]);
}

#[test]
fn bogus_truncation_intents_are_clear_errors_and_never_lose_records() {
    let bogus = [
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "not a number",
        "",
        "99999",
        "499",
        " 12",
    ];
    for value in bogus {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(root.path()).unwrap();
        sealed(&catalog, "r", 500);
        edit_manifest(root.path(), "r", |m| {
            m.config.insert(TRUNCATING_KEY.to_owned(), value.to_owned());
        });
        // Reading it is fine; the operations that would settle it refuse, saying why.
        assert_eq!(catalog.describe("r").unwrap().last_seq, Some(499));
        assert!(catalog.list().unwrap()[0].problem.is_none());
        for (op, r) in [
            ("recover", catalog.recover("r", false)),
            ("recover --force", catalog.recover("r", true)),
            ("truncate past the end", catalog.truncate("r", u64::MAX)),
            ("truncate", catalog.truncate("r", 10)),
        ] {
            let err = r.unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, ArchiveError::DamagedManifest { .. })
                    && text.contains(TRUNCATING_KEY),
                "{value:?} {op}: {text}"
            );
        }
        assert_eq!(replay_all(&catalog, "r", 0), (0..500).collect::<Vec<_>>());
        // An extend starts a new run with its own configuration: the bogus key goes.
        let rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
        let m = rec.stop().unwrap();
        assert!(!m.config.contains_key(TRUNCATING_KEY));
        assert_eq!(m.last_seq, Some(499));
        assert_eq!(catalog.truncate("r", 99).unwrap().last_seq, Some(99));
        assert_eq!(replay_all(&catalog, "r", 0), (0..100).collect::<Vec<_>>());
    }
    // A real intent below the end whose swap never happened: abandoned, no cut recorded.
    for (i, value) in ["0", "498"].into_iter().enumerate() {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(root.path()).unwrap();
        sealed(&catalog, "r", 500);
        edit_manifest(root.path(), "r", |m| {
            m.config.insert(TRUNCATING_KEY.to_owned(), value.to_owned());
        });
        let m = if i == 0 {
            catalog.recover("r", false).unwrap()
        } else {
            catalog.truncate("r", u64::MAX).unwrap()
        };
        assert_eq!(m.last_seq, Some(499));
        assert!(!m.config.contains_key(TRUNCATING_KEY));
        assert!(!m.config.contains_key("truncated_after"));
        assert_eq!(replay_all(&catalog, "r", 0), (0..500).collect::<Vec<_>>());
    }
}

#[test]
fn truncation_to_absurd_positions() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "r", 300);
    // Past the end: nothing to do, no intent left behind.
    for at in [u64::MAX, u64::MAX - 1, 299, 300] {
        let m = catalog.truncate("r", at).unwrap();
        assert_eq!(m.last_seq, Some(299));
        assert!(!m.config.contains_key(TRUNCATING_KEY));
    }
    assert_eq!(catalog.truncate("r", 0).unwrap().last_seq, Some(0));
    assert_eq!(replay_all(&catalog, "r", 0), vec![0]);
    let mut rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
    assert_eq!(rec.next_seq(), 1);
    record_range(&mut rec, 1, 10);
    rec.stop().unwrap();
    assert_eq!(replay_all(&catalog, "r", 0), (0..10).collect::<Vec<_>>());

    // A recording that starts at 1000, cut before its first record: it is empty, and
    // an extend still continues at its first sequence, not at 0.
    let first = opts().with_first_seq(1000);
    let mut rec = catalog
        .create("late", first.clone(), BTreeMap::new())
        .unwrap();
    record_range(&mut rec, 1000, 1100);
    rec.stop().unwrap();
    let m = catalog.truncate("late", 5).unwrap();
    assert_eq!(m.last_seq, None);
    let info = catalog.describe("late").unwrap();
    assert_eq!((info.first_seq, info.last_seq), (None, None));
    let rec = catalog.extend("late", first, BTreeMap::new()).unwrap();
    assert_eq!(rec.next_seq(), 1000);
    rec.stop().unwrap();
    // An extend that does not say where to start continues where the log is numbered.
    let mut rec = catalog.extend("late", opts(), BTreeMap::new()).unwrap();
    assert_eq!(rec.next_seq(), 1000);
    record_range(&mut rec, 1000, 1003);
    let m = rec.stop().unwrap();
    assert_eq!(m.last_seq, Some(1002));
    assert_eq!(replay_all(&catalog, "late", 1000), vec![1000, 1001, 1002]);
    assert_eq!(catalog.describe("late").unwrap().first_seq, Some(1000));
}

#[test]
fn catalog_operations_next_to_a_live_recorder_in_another_thread() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "r", 200);
    let mut rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut next = 200;
            while !stop.load(Ordering::Relaxed) {
                record_range(&mut rec, next, next + 500);
                next += 500;
            }
            (rec.stop().unwrap(), next)
        })
    };
    for _ in 0..20 {
        assert!(matches!(catalog.purge("r"), Err(ArchiveError::Live(_))));
        assert!(matches!(
            catalog.truncate("r", 10),
            Err(ArchiveError::Live(_))
        ));
        assert!(matches!(
            catalog.extend("r", opts(), BTreeMap::new()),
            Err(ArchiveError::Live(_))
        ));
        assert!(matches!(
            catalog.recover("r", true),
            Err(ArchiveError::Live(_))
        ));
        assert!(matches!(
            catalog.create("r", opts(), BTreeMap::new()),
            Err(ArchiveError::Exists(_))
        ));
        let info = catalog.describe("r").unwrap();
        assert!(info.live);
        assert_eq!(info.state_label(), "running");
        Catalog::open(root.path()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let (m, next) = writer.join().unwrap();
    assert_eq!(m.state, RecordingState::Sealed);
    assert_eq!(m.last_seq, Some(next - 1));
    assert_eq!(replay_all(&catalog, "r", 0), (0..next).collect::<Vec<_>>());
}
#[test]
fn open_races_creations_and_purges_without_errors_or_losses() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let opener = {
        let stop = stop.clone();
        let root = root.path().to_path_buf();
        std::thread::spawn(move || {
            let mut opened = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = Catalog::open(&root) {
                    return Err(format!("open #{opened}: {e}"));
                }
                opened += 1;
            }
            Ok(opened)
        })
    };
    let mut failures = Vec::new();
    for i in 0..120u64 {
        let name = format!("r{}", i % 4);
        match catalog.create(&name, opts(), BTreeMap::new()) {
            Ok(mut rec) => {
                record_range(&mut rec, 0, 3);
                match rec.stop() {
                    Ok(m) => assert_eq!(m.last_seq, Some(2)),
                    Err(e) => failures.push(format!("stop {i}: {e}")),
                }
                match catalog.describe(&name) {
                    Ok(info) => assert_eq!(info.last_seq, Some(2), "{i}"),
                    Err(e) => failures.push(format!("describe {i}: {e}")),
                }
                if let Err(e) = catalog.purge(&name) {
                    failures.push(format!("purge {i}: {e}"));
                }
            }
            Err(e) => failures.push(format!("create {i}: {e}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let opened = opener.join().unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(opened.is_ok(), "{opened:?}");
}

#[test]
fn list_and_describe_race_purges_without_errors() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "stays", 3);
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let catalog = catalog.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("churn{}", i % 3);
                let rec = catalog.create(&name, opts(), BTreeMap::new()).unwrap();
                rec.stop().unwrap();
                catalog.purge(&name).unwrap();
                i += 1;
            }
            i
        })
    };
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match catalog.list() {
            Ok(list) => assert!(list.iter().any(|i| i.name == "stays")),
            Err(e) => failures.push(format!("list: {e}")),
        }
        for n in ["churn0", "churn1", "churn2"] {
            match catalog.describe(n) {
                Ok(_) | Err(ArchiveError::NotFound(_)) => {}
                Err(e) => failures.push(format!("describe {n}: {e}")),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churn.join().unwrap();
    assert!(rounds > 0);
    failures.truncate(5);
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn concurrent_creates_of_one_name_give_one_recording_and_clear_refusals() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    for round in 0..30 {
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let catalog = catalog.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    match catalog.create("same", opts(), BTreeMap::new()) {
                        Ok(rec) => Ok(rec.stop().unwrap()),
                        Err(e) => Err(e),
                    }
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let made = results.iter().filter(|r| r.is_ok()).count();
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, ArchiveError::Exists(_)), "round {round}: {e}");
            }
        }
        assert_eq!(made, 1, "round {round}: {results:?}");
        assert_eq!(
            catalog.describe("same").unwrap().state,
            Some(RecordingState::Sealed)
        );
        catalog.purge("same").unwrap();
    }
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing left behind"
    );
}

#[test]
fn a_manifest_at_the_limits_of_its_counters_is_extended_without_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "r", 10);
    edit_manifest(root.path(), "r", |m| {
        m.runs = u32::MAX;
        m.created_ns = u64::MAX;
        m.started_ns = u64::MAX;
        m.ended_ns = Some(u64::MAX);
        m.lost = vec![(u64::MAX, 0)];
    });
    let info = catalog.describe("r").unwrap();
    assert_eq!(info.last_seq, Some(9));
    let mut rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
    assert_eq!(rec.manifest().runs, u32::MAX);
    record_range(&mut rec, 10, 12);
    let m = rec.stop().unwrap();
    assert_eq!(m.last_seq, Some(11));
    assert_eq!(catalog.truncate("r", 10).unwrap().last_seq, Some(10));
    assert_eq!(replay_all(&catalog, "r", 0), (0..=10).collect::<Vec<_>>());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// What a crash right after a truncation's swap leaves: the cut log, the manifest
/// still naming the old end and its final digest, and the intent. A recovery settles
/// it, and the recording then verifies clean (the old digest is not kept).
#[test]
fn a_truncation_cut_after_its_swap_is_settled_and_verifies_clean() {
    for settle_by_retry in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(root.path()).unwrap();
        sealed(&catalog, "r", 300);
        sealed(&catalog, "cut", 300);
        catalog.truncate("cut", 100).unwrap();
        let log = catalog.log_dir("r").unwrap();
        std::fs::remove_dir_all(&log).unwrap();
        copy_dir(&catalog.log_dir("cut").unwrap(), &log);
        edit_manifest(root.path(), "r", |m| {
            assert!(m.final_digest.is_some());
            m.config.insert(TRUNCATING_KEY.to_owned(), "100".to_owned());
        });
        let m = if settle_by_retry {
            catalog.truncate("r", 100).unwrap()
        } else {
            catalog.recover("r", false).unwrap()
        };
        assert_eq!(m.last_seq, Some(100));
        assert!(!m.config.contains_key(TRUNCATING_KEY));
        assert_eq!(
            m.config.get("truncated_after").map(String::as_str),
            Some("100")
        );
        let rep = storage_std::verify_dir(&log).unwrap();
        assert!(rep.findings.is_empty(), "{:?}", rep.findings);
        assert_eq!(replay_all(&catalog, "r", 0), (0..=100).collect::<Vec<_>>());
    }
}

/// A create whose writer options the log refuses fails without leaving a recording
/// behind: the name stays free for a create with good options.
#[test]
fn a_create_refused_for_its_options_leaves_no_recording() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    for bad in [
        opts().with_segment_bytes(0),
        opts().with_segment_bytes(u64::MAX),
    ] {
        assert!(catalog.create("x", bad, BTreeMap::new()).is_err());
        assert!(
            matches!(catalog.describe("x"), Err(ArchiveError::NotFound(_))),
            "{:?}",
            catalog.list().unwrap()
        );
    }
    sealed(&catalog, "x", 3);
    assert_eq!(replay_all(&catalog, "x", 0), vec![0, 1, 2]);
}

/// Replays from absurd positions and times: an error or an empty replay, no panic.
#[test]
fn replays_from_absurd_positions() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "r", 50);
    for from in [50, 51, u64::MAX - 1, u64::MAX] {
        if let Ok(r) = catalog.replay("r", from) {
            let ring = Ring::new();
            drop(ring.try_writer().unwrap());
            let mut m = MergingReader::new(&ring, r, from);
            let mut n = 0;
            for _ in 0..100 {
                match m.read_batch(16, |_| n += 1) {
                    Ok(_) | Err(MergeError::Empty) => {}
                    Err(_) => break,
                }
            }
            assert_eq!(n, 0, "{from}");
        }
    }
    for ts in [0, 10 * 49, 10 * 49 + 1, u64::MAX] {
        let r = catalog.replay_at_time("r", ts, None).unwrap();
        let want = if ts == 0 { 0 } else { ts.div_ceil(10).min(50) };
        assert_eq!(r.position(), want, "{ts}");
    }
    let (anchor, rejected, _) = catalog.resume_from_anchor("r").unwrap();
    assert!(anchor.is_none() && rejected.is_empty());
    assert!(matches!(
        catalog.store_anchor("r", u64::MAX, b"s"),
        Err(ArchiveError::AnchorAhead { .. })
    ));
    catalog.store_anchor("r", 49, b"s").unwrap();
    assert_eq!(catalog.resume_from_anchor("r").unwrap().0.unwrap().seq, 49);
}

/// `Catalog::open` looping next to truncations: the truncation's copy is never swept
/// from under it, and the kept records are all there after each cut.
#[test]
fn open_races_truncations_without_errors_or_losses() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    sealed(&catalog, "r", 2000);
    let stop = Arc::new(AtomicBool::new(false));
    let opener = {
        let stop = stop.clone();
        let root = root.path().to_path_buf();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = Catalog::open(&root) {
                    return Err(e.to_string());
                }
            }
            Ok(())
        })
    };
    let mut end = 2000u64;
    let mut failures = Vec::new();
    for round in 0..15 {
        let keep = end - 100;
        match catalog.truncate("r", keep - 1) {
            Ok(m) => assert_eq!(m.last_seq, Some(keep - 1)),
            Err(e) => failures.push(format!("truncate {round}: {e}")),
        }
        end = catalog.describe("r").unwrap().last_seq.unwrap() + 1;
        let mut rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
        record_range(&mut rec, end, end + 50);
        rec.stop().unwrap();
        end += 50;
        assert_eq!(replay_all(&catalog, "r", 0), (0..end).collect::<Vec<_>>());
    }
    stop.store(true, Ordering::Relaxed);
    let opened = opener.join().unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(opened.is_ok(), "{opened:?}");
}

/// An intent below a recording's first sequence (what a cut before its first record
/// writes) whose swap never happened: abandoned, nothing lost.
#[test]
fn a_truncation_intent_below_the_first_sequence_is_abandoned_without_loss() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let first = opts().with_first_seq(1000);
    let mut rec = catalog.create("late", first, BTreeMap::new()).unwrap();
    record_range(&mut rec, 1000, 1100);
    rec.stop().unwrap();
    edit_manifest(root.path(), "late", |m| {
        m.config.insert(TRUNCATING_KEY.to_owned(), "5".to_owned());
    });
    let m = catalog.recover("late", false).unwrap();
    assert_eq!(m.last_seq, Some(1099));
    assert!(!m.config.contains_key(TRUNCATING_KEY));
    assert!(!m.config.contains_key("truncated_after"));
    assert_eq!(
        replay_all(&catalog, "late", 1000),
        (1000..1100).collect::<Vec<_>>()
    );
}
