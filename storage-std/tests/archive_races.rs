//! Catalog operations racing a recorder: a truncation or a purge under way holds the
//! recording's log, so a recorder opened meanwhile is refused (or waits), and no record it
//! was told is durable disappears.

#[path = "common/recording.rs"]
mod recording;

use recording::record_range;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use storage_std::archive::{ArchiveError, Catalog};
use storage_std::{Durability, WriterOptions};

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(1 << 20);
    o
}

/// Waits until `path` exists (the truncation's copy is under way), at most 60 s.
fn wait_for<T>(path: &std::path::Path, done: &std::thread::ScopedJoinHandle<'_, T>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !done.is_finished() {
        if path.exists() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// A recorder opened while a truncation copies the kept prefix: either it is refused,
/// or what it made durable is still in the log afterwards (the truncation did not swap
/// its log away), and the manifest agrees with the log. Before the truncation held the
/// log's lock, the extend succeeded and its ten durable records vanished with the swap.
#[test]
fn an_extend_during_a_truncation_loses_no_durable_record() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let total = 30_000;
    let keep = total - 2;
    let mut caught = false;
    for attempt in 0..5 {
        let name = format!("t{attempt}");
        let name = name.as_str();
        let mut rec = catalog.create(name, opts(), BTreeMap::new()).unwrap();
        record_range(&mut rec, 0, total);
        rec.stop().unwrap();
        let tmp = root.path().join(name).join("log.truncating");
        let outcome = std::thread::scope(|s| {
            let t = s.spawn(|| catalog.truncate(name, keep));
            if !wait_for(&tmp, &t) {
                let r = t.join().unwrap();
                return (false, None, r);
            }
            // The truncation passed its liveness check and is copying.
            let ext = match catalog.extend(name, opts(), BTreeMap::new()) {
                Ok(mut r) => {
                    let from = r.next_seq();
                    record_range(&mut r, from, from + 10);
                    let m = r.stop().unwrap();
                    Some(m.last_seq.unwrap())
                }
                Err(ArchiveError::Live(_))
                | Err(ArchiveError::Log(storage_std::Error::Locked(_))) => None,
                Err(e) => panic!("extend: {e}"),
            };
            (true, ext, t.join().unwrap())
        });
        let (raced, extended_to, truncated) = outcome;
        let info = catalog.describe(name).unwrap();
        let manifest = info.manifest.clone().unwrap();
        assert_eq!(
            manifest.last_seq, info.last_seq,
            "the manifest agrees with the log (raced {raced}, extend {extended_to:?}, truncate {truncated:?})"
        );
        if let Some(last) = extended_to {
            assert!(
                info.last_seq >= Some(last),
                "sequence {last} was durable, the log now ends at {:?} (truncate {truncated:?})",
                info.last_seq
            );
        }
        if raced {
            caught = true;
            break;
        }
    }
    assert!(caught, "the truncation was never caught while copying");
}

/// A purge holds the log while it renames the recording away: a recorder holding it
/// refuses the purge, and the lock is free again after a refused purge.
#[test]
fn a_purge_is_refused_while_a_recorder_holds_the_log_and_takes_the_lock_itself() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("p", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 100);
    assert!(matches!(catalog.purge("p"), Err(ArchiveError::Live(_))));
    assert!(matches!(
        catalog.truncate("p", 10),
        Err(ArchiveError::Live(_))
    ));
    rec.stop().unwrap();
    // The refused operations left no lock behind.
    let mut rec = catalog.extend("p", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 100, 110);
    rec.stop().unwrap();
    assert_eq!(catalog.truncate("p", 49).unwrap().last_seq, Some(49));
    // Nor did a finished truncation.
    let rec = catalog.extend("p", opts(), BTreeMap::new()).unwrap();
    assert_eq!(rec.next_seq(), 50);
    rec.stop().unwrap();
    catalog.purge("p").unwrap();
    assert!(matches!(
        catalog.describe("p"),
        Err(ArchiveError::NotFound(_))
    ));
}

/// Two extends of one stopped recording at once: one wins and records, the other is
/// refused, and the manifest on disk is the winner's all along. Before an extend took
/// the log's lock first, the loser recovered and wrote its own `Running` manifest (its
/// run count, its configuration) before its writer's open failed on the lock, so the
/// file described a run that never happened while the winner recorded.
#[test]
fn concurrent_extends_leave_the_winners_manifest() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("x", opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, 10);
    rec.stop().unwrap();
    let dir = storage_std::backend::FileBackend::existing(root.path().join("x")).unwrap();
    for round in 0..8u32 {
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let (catalog, barrier) = (&catalog, &barrier);
                    s.spawn(move || {
                        let mut config = BTreeMap::new();
                        config.insert("extender".to_owned(), i.to_string());
                        barrier.wait();
                        catalog.extend("x", opts(), config)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut winners = Vec::new();
        for r in results {
            match r {
                Ok(rec) => winners.push(rec),
                Err(ArchiveError::Live(_))
                | Err(ArchiveError::Log(storage_std::Error::Locked(_))) => {}
                Err(e) => panic!("round {round}: extend: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one extend wins");
        let mut rec = winners.pop().unwrap();
        let on_disk = storage_std::archive::read_manifest(&dir, "x")
            .unwrap()
            .unwrap();
        assert_eq!(
            &on_disk,
            rec.manifest(),
            "round {round}: the manifest on disk is the running recorder's"
        );
        assert_eq!(on_disk.runs, round + 2, "round {round}");
        let from = rec.next_seq();
        record_range(&mut rec, from, from + 5);
        let m = rec.stop().unwrap();
        assert_eq!(m.runs, round + 2);
        assert_eq!(m.last_seq, Some(from + 4));
    }
}

/// An extend that takes the log the moment a recorder's stop releases it: the manifest
/// on disk is the new run's, never the stopped run's `Sealed` written over it. Before
/// the stop sealed the manifest under the writer's lock, it closed the log first (the
/// lock went) and then wrote `Sealed`, over the manifest of the run that came in between.
#[test]
fn a_stop_never_writes_over_the_next_runs_manifest() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("s", opts(), BTreeMap::new()).unwrap();
    let dir = storage_std::backend::FileBackend::existing(root.path().join("s")).unwrap();
    for round in 0..12u32 {
        let from = rec.next_seq();
        record_range(&mut rec, from, from + 20);
        let go = std::sync::atomic::AtomicBool::new(false);
        let next = std::thread::scope(|s| {
            let taker = s.spawn(|| {
                while !go.load(std::sync::atomic::Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match catalog.extend("s", opts(), BTreeMap::new()) {
                        Ok(r) => return r,
                        Err(ArchiveError::Live(_))
                        | Err(ArchiveError::Log(storage_std::Error::Locked(_))) => {
                            assert!(Instant::now() < deadline, "round {round}: never extended");
                        }
                        Err(e) => panic!("round {round}: extend: {e}"),
                    }
                }
            });
            go.store(true, std::sync::atomic::Ordering::Release);
            let sealed = rec.stop().unwrap();
            assert_eq!(sealed.state, storage_std::archive::RecordingState::Sealed);
            taker.join().unwrap()
        });
        let on_disk = storage_std::archive::read_manifest(&dir, "s")
            .unwrap()
            .unwrap();
        assert_eq!(
            &on_disk,
            next.manifest(),
            "round {round}: the running recorder's manifest is on disk"
        );
        assert_eq!(
            on_disk.state,
            storage_std::archive::RecordingState::Running,
            "round {round}"
        );
        rec = next;
    }
    rec.stop().unwrap();
}
