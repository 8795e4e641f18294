//! Catalog operations racing a recorder: a truncation or a purge under way holds the
//! recording's log, so a recorder opened meanwhile is refused (or waits), and no record it
//! was told is durable disappears.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ringcore::broadcast::GatedRing;
use storage_std::archive::{ArchiveError, Catalog, Drained, Recorder};
use storage_std::{Durability, WriterOptions};

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(1 << 20);
    o
}

type Ring = GatedRing<256, 32, 2>;

fn record(recorder: &mut Recorder, from: u64, to: u64) {
    let ring = Ring::new();
    let mut w = ring.try_writer().unwrap();
    w.set_next_seq(recorder.next_seq());
    let mut tap = ring.join().unwrap();
    for seq in from..to {
        assert_eq!(w.try_publish(7, seq * 10, &seq.to_le_bytes()).unwrap(), seq);
        if (seq + 1) % 128 == 0 {
            while let Ok(Drained::Records(_)) = recorder.drain_broadcast(&mut tap, 64) {}
        }
    }
    drop(w);
    recorder
        .record_until_closed(&mut tap, Duration::from_millis(1))
        .unwrap();
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
        record(&mut rec, 0, total);
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
                    record(&mut r, from, from + 10);
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
    record(&mut rec, 0, 100);
    assert!(matches!(catalog.purge("p"), Err(ArchiveError::Live(_))));
    assert!(matches!(
        catalog.truncate("p", 10),
        Err(ArchiveError::Live(_))
    ));
    rec.stop().unwrap();
    // The refused operations left no lock behind.
    let mut rec = catalog.extend("p", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 100, 110);
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
