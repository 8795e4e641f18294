//! `SpareBackend::fill` prepares spares only while it holds the directory's lock: a zero
//! pass its timeout cut short stops before `fill` lets the lock go, so a writer that
//! takes the lock next (another process, another backend) never has spare files change
//! under it.
#![cfg(not(miri))]

mod common;

use common::spare_files;

use std::time::Duration;

use storage_std::backend::{
    Backend, Fault, FaultyBackend, FileBackend, OpKind, SpareBackend, SpareOptions,
};

/// Each zero chunk (1 MiB) takes this long: a 16 MiB spare takes a third of a second.
const CHUNK_STALL: Duration = Duration::from_millis(20);
const SEG: u64 = 16 << 20;

fn slow_spares(dir: &std::path::Path) -> SpareBackend<FaultyBackend> {
    let stall = Fault {
        sticky: true,
        ..Fault::stall(OpKind::Write, 0, CHUNK_STALL)
    };
    let inner = FaultyBackend::new(FileBackend::new(dir).unwrap(), vec![stall]);
    SpareBackend::new(
        inner,
        SpareOptions::default().with_spares(1).with_size(Some(SEG)),
    )
}

#[test]
fn a_timed_out_fill_stops_its_zero_pass_before_it_lets_the_lock_go() {
    let dir = tempfile::tempdir().unwrap();
    let sb = slow_spares(dir.path());
    assert!(
        !sb.fill(Duration::from_millis(100)).unwrap(),
        "not ready yet"
    );
    // The lock is free once `fill` returns: a writer elsewhere takes it...
    let other = FileBackend::existing(dir.path()).unwrap();
    let held = other.lock().expect("fill let the lock go");
    let (written, files) = (sb.stats().zero_bytes, spare_files(dir.path()));
    // ... and from then on nothing of the spare's is written or renamed.
    std::thread::sleep(CHUNK_STALL * 20);
    assert_eq!(
        sb.stats().zero_bytes,
        written,
        "zeros written without the lock"
    );
    assert_eq!(
        spare_files(dir.path()),
        files,
        "spare files changed under a writer"
    );
    // The half-made spare went with the pass (never a `.zero` that is not all zeros),
    // and stopping it is no failure.
    assert!(files.is_empty(), "{files:?}");
    assert!(sb.ready().is_empty());
    assert_eq!((sb.stats().failures, sb.last_error()), (0, None));
    assert!(written < SEG, "the pass was cut short: {written}");
    drop(held);
    // With time enough the next fill makes it whole.
    assert!(sb.fill(Duration::from_secs(60)).unwrap());
    assert_eq!(spare_files(dir.path()).len(), 1);
    assert_eq!(spare_files(dir.path())[0].1, SEG);
    assert_eq!(sb.ready().len(), 1);
}

/// A zero pass waiting for the log's quiet period when `fill` times out stops too.
#[test]
fn a_fill_that_times_out_while_the_pass_waits_for_quiet_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SpareOptions::default()
        .with_spares(1)
        .with_size(Some(SEG))
        .with_quiet(Duration::from_secs(600));
    let sb = std::sync::Arc::new(FileBackend::new(dir.path()).unwrap().with_spares(opts));
    // A segment write through the backend: the log is not quiet for ten minutes.
    {
        let wopts = storage_std::WriterOptions::new(storage_std::Durability::group())
            .with_segment_bytes(64 << 10);
        let w: storage_std::Writer = storage_std::Writer::open_with(sb.clone(), wopts).unwrap();
        w.append(&[1; 100]).unwrap();
        w.close().unwrap();
    }
    let started = std::time::Instant::now();
    assert!(!sb.fill(Duration::from_millis(100)).unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let other = FileBackend::existing(dir.path()).unwrap();
    let _held = other.lock().expect("fill let the lock go");
    let files = spare_files(dir.path());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(spare_files(dir.path()), files);
    assert!(
        files.iter().all(|(n, _)| !n.ends_with(".prep")),
        "{files:?}"
    );
}
