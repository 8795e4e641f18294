//! Fault injection: EIO, ENOSPC and stalls stop the writer (fail-stop), every waiting
//! and later append gets an error naming the cause, and the durable watermark never
//! passes what reached the disk.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::{Backend, CrashMode, Fault, FaultyBackend, OpKind};
use storage_std::{Durability, Error, StopCause, Writer};

type W = Writer<8192>;

fn faulty(
    faults: Vec<Fault>,
) -> (
    storage_std::backend::MemBackend,
    FaultyBackend,
    Arc<dyn Backend>,
) {
    let (m, _) = mem();
    let f = FaultyBackend::new(m.clone(), faults);
    let b: Arc<dyn Backend> = Arc::new(f.clone());
    (m, f, b)
}

fn cause_of(e: &Error) -> StopCause {
    e.stop_cause()
        .unwrap_or_else(|| panic!("expected a fail-stop, got {e}"))
        .clone()
}

/// Appends with `Sync` until the writer stops; returns the last acknowledged sequence
/// and the error.
fn append_until_stopped(w: &W, from: u64) -> (Option<u64>, Error) {
    let mut last = None;
    for s in from..from + 10_000 {
        match w.append_with(&payload(s), meta(s)) {
            Ok(seq) => last = Some(seq),
            Err(e) => return (last, e),
        }
    }
    panic!("the writer never stopped");
}

#[test]
fn eio_on_a_group_sync_stops_the_writer_and_is_never_retried() {
    // Opening syncs a few times; the 10th sync is a group's.
    let (m, f, b) = faulty(vec![Fault::eio(OpKind::Sync, 10)]);
    let w = W::open_with(b.clone(), small_opts(Durability::Sync)).unwrap();
    let (last_ok, err) = append_until_stopped(&w, 0);
    let c = cause_of(&err);
    match &c {
        StopCause::Io { op, errno, .. } => {
            assert_eq!(*errno, Some(5));
            assert!(op.contains("sync"), "{op}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("Input/output error") || err.to_string().contains("os error 5"),
        "{err}"
    );
    // In Sync mode every acknowledged append is durable, and nothing more.
    let durable = w.durable_seq();
    assert_eq!(durable, last_ok);
    let syncs_at_failure = f.count(OpKind::Sync);
    // Later calls fail the same way, the watermark stays, and no sync is attempted again
    // (a failed fsync is never retried as if it had succeeded).
    for s in 0..5 {
        let e = w.append(b"after").unwrap_err();
        assert_eq!(cause_of(&e), c, "append {s}");
    }
    assert_eq!(
        w.wait_durable(durable.map_or(0, |d| d + 1), Some(Duration::from_secs(1)))
            .map_err(|e| cause_of(&e)),
        Err(c.clone())
    );
    let close = w.close().unwrap_err();
    assert_eq!(cause_of(&close), c);
    assert_eq!(f.count(OpKind::Sync), syncs_at_failure);
    // After a power cut the acknowledged records are there.
    m.power_cut(CrashMode::DropUnsynced);
    let b2: Arc<dyn Backend> = Arc::new(m.clone());
    let seqs = read_all_checked(&b2);
    if let Some(d) = durable {
        assert!(seqs.len() as u64 > d, "{} records, durable {d}", seqs.len());
    }
}

#[test]
fn enospc_on_write_reaches_every_waiting_appender() {
    // Several threads append in Sync mode and wait; the disk fills up.
    let (_m, _f, b) = faulty(vec![Fault::enospc(OpKind::Write, 20)]);
    let w = Arc::new(W::open_with(b, small_opts(Durability::Sync)).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    if let Err(e) = w.append(&[t as u8; 40]) {
                        return (i, e);
                    }
                }
                unreachable!()
            })
        })
        .collect();
    for t in threads {
        let (_n, e) = t.join().unwrap();
        match cause_of(&e) {
            StopCause::Io { op, errno, .. } => {
                assert_eq!(errno, Some(28), "ENOSPC");
                assert!(op.contains("write"), "{op}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(w.health(), Err(Error::Stopped(_))));
}

#[test]
fn group_mode_watermark_stops_at_the_last_good_sync() {
    let (m, f, b) = faulty(vec![]);
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    for s in 0..20 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.wait_durable(19, Some(Duration::from_secs(5))).unwrap();
    // From now on every sync fails.
    f.add_fault(Fault {
        op: OpKind::Sync,
        nth: f.count(OpKind::Sync),
        action: storage_std::backend::FaultAction::Errno(5),
        sticky: true,
    });
    let mut stopped = None;
    for s in 20..2000 {
        if let Err(e) = w.append_with(&payload(s), meta(s)) {
            stopped = Some(e);
            break;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let e = stopped.expect("the writer stops");
    assert!(matches!(cause_of(&e), StopCause::Io { errno: Some(5), .. }));
    assert_eq!(
        w.durable_seq(),
        Some(19),
        "no group after the failure counts"
    );
    assert!(w.wait_durable(20, Some(Duration::from_secs(1))).is_err());
    drop(w);
    m.power_cut(CrashMode::DropUnsynced);
    let seqs = read_all_checked(&(Arc::new(m.clone()) as Arc<dyn Backend>));
    assert!(seqs.len() >= 20);
}

#[test]
fn failures_while_rolling_segments_stop_the_writer() {
    for (op, nth) in [
        (OpKind::Create, 2),
        (OpKind::SyncDir, 2),
        (OpKind::Sync, 30),
        (OpKind::Write, 60),
    ] {
        let (m, f, b) = faulty(vec![Fault::eio(op, nth)]);
        let w = W::open_with(b.clone(), small_opts(Durability::Sync)).unwrap();
        let (last_ok, err) = append_until_stopped(&w, 0);
        assert!(
            f.fired().iter().any(|(o, n, _)| *o == op && *n == nth),
            "{op:?} fired"
        );
        let c = cause_of(&err);
        assert!(
            matches!(c, StopCause::Io { errno: Some(5), .. }),
            "{op:?}: {c:?}"
        );
        let durable = w.durable_seq();
        assert!(durable <= last_ok.or(durable));
        drop(w);
        m.power_cut(CrashMode::DropUnsynced);
        let b2: Arc<dyn Backend> = Arc::new(m.clone());
        let reopened = W::open_with(b2.clone(), small_opts(Durability::Sync)).unwrap();
        if let Some(d) = durable {
            assert!(reopened.next_seq() > d, "{op:?}: durable {d} lost");
        }
        reopened.close().unwrap();
        let n = read_all_checked(&b2).len() as u64;
        assert!(durable.is_none_or(|d| n > d));
    }
}

#[test]
fn a_stall_past_the_threshold_stops_the_writer() {
    let (_m, _f, b) = faulty(vec![Fault::stall(
        OpKind::Sync,
        8,
        Duration::from_millis(400),
    )]);
    let mut o = small_opts(Durability::Sync);
    o.stall_timeout = Some(Duration::from_millis(50));
    let w = W::open_with(b, o).unwrap();
    let t0 = std::time::Instant::now();
    let (last_ok, err) = append_until_stopped(&w, 0);
    let waited = t0.elapsed();
    match cause_of(&err) {
        StopCause::Stall {
            op, threshold_ms, ..
        } => {
            assert_eq!(threshold_ms, 50);
            assert!(op.contains("sync"), "{op}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        waited < Duration::from_millis(390),
        "detected before the call returned: {waited:?}"
    );
    let durable = w.durable_seq();
    assert_eq!(durable, last_ok);
    // Even once the stalled sync returns successfully, the watermark does not move.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.durable_seq(), durable);
    assert!(matches!(w.close(), Err(Error::Stopped(_))));
}

#[test]
fn io_errors_during_open_are_reported_not_hidden() {
    let (m, b) = mem();
    let w = W::open_with(b, small_opts(small_group())).unwrap();
    for s in 0..10 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.close().unwrap();
    let f = FaultyBackend::new(m.clone(), vec![Fault::eio(OpKind::Sync, 0)]);
    match W::open_with(Arc::new(f), small_opts(small_group())) {
        Err(Error::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(5)),
        other => panic!("{other:?}"),
    }
    // Nothing was lost by the failed open.
    assert_eq!(
        read_all_checked(&(Arc::new(m) as Arc<dyn Backend>)).len(),
        10
    );
}
