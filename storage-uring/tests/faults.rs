//! Fault injection at the io_uring completion queue (storage-std's `tests/faults.rs`,
//! against this backend): EIO and ENOSPC stop the writer (fail-stop), every waiting and
//! later append gets the cause, the durable watermark freezes at the last good sync, a
//! failed sync is never retried; short, interrupted, `EAGAIN` and cancelled completions
//! are resubmitted and change nothing on disk.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use storage_std::backend::{Backend, Fault, FaultyBackend, OpKind};
use storage_std::{Durability, Error, StopCause};
use storage_uring::faults::{Action, CompletionFault, CompletionFaults, Target};
use storage_uring::{UringBackend, UringOptions};

fn cause_of(e: &Error) -> StopCause {
    e.stop_cause()
        .unwrap_or_else(|| panic!("expected a fail-stop, got {e}"))
        .clone()
}

/// Appends until the writer stops; returns the last acknowledged sequence and the
/// error.
fn append_until_stopped(w: &W, from: u64) -> (Option<u64>, Error) {
    let mut last = None;
    for s in from..from + 20_000 {
        match w.append_with(&payload(s), meta(s)) {
            Ok(seq) => last = Some(seq),
            Err(e) => return (last, e),
        }
    }
    panic!("the writer never stopped");
}

fn faulty_uring(
    dir: &std::path::Path,
    o: UringOptions,
) -> (UringBackend, CompletionFaults, Arc<dyn Backend>) {
    let f = CompletionFaults::default();
    let (u, b) = uring_backend(dir, o.faults(f.clone()));
    (u, f, b)
}

/// What the log holds after the writer stopped, read back by the portable backend
/// after a fresh open (recovery): every durable sequence must be there.
fn check_durable_survives(dir: &std::path::Path, durable: Option<u64>, what: &str) {
    let fb = file_backend(dir);
    let w = W::open_with(fb.clone(), small_opts(small_group())).unwrap();
    if let Some(d) = durable {
        assert!(w.next_seq() > d, "{what}: durable {d} lost");
    }
    w.close().unwrap();
    let n = read_all_checked(&fb).len() as u64;
    assert!(durable.is_none_or(|d| n > d), "{what}");
    assert_clean(&fb, what);
}

#[test]
fn eio_on_a_group_sync_stops_the_writer_and_is_never_retried() {
    if !uring("eio_on_a_group_sync_stops_the_writer_and_is_never_retried") {
        return;
    }
    for (name, o) in option_sets() {
        let dir = tempfile::tempdir().unwrap();
        let (_u, f, b) = faulty_uring(dir.path(), o);
        let w = W::open_with(b.clone(), small_opts(Durability::Sync)).unwrap();
        f.add(CompletionFault::errno(
            Target::Sync,
            f.count(Target::Sync) + 10,
            5,
        ));
        let (last_ok, err) = append_until_stopped(&w, 0);
        let c = cause_of(&err);
        match &c {
            StopCause::Io { op, errno, .. } => {
                assert_eq!(*errno, Some(5), "{name}");
                assert!(op.contains("sync"), "{name}: {op}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(!err.is_retryable());
        // In Sync mode every acknowledged append is durable, and nothing more.
        let durable = w.durable_seq();
        assert_eq!(durable, last_ok, "{name}");
        assert!(durable.is_some_and(|d| d >= 8), "{name}: {durable:?}");
        let syncs_at_failure = f.count(Target::Sync);
        for _ in 0..5 {
            assert_eq!(cause_of(&w.append(b"after").unwrap_err()), c, "{name}");
        }
        assert!(
            w.wait_durable(
                durable.map_or(0, |d| d + 1),
                Some(Duration::from_millis(300))
            )
            .is_err()
        );
        assert_eq!(cause_of(&w.close().unwrap_err()), c, "{name}");
        assert_eq!(
            f.count(Target::Sync),
            syncs_at_failure,
            "{name}: a failed sync is never retried"
        );
        assert_eq!(f.fired().len(), 1, "{name}");
        check_durable_survives(dir.path(), durable, name);
    }
}

#[test]
fn enospc_on_write_reaches_every_waiting_appender() {
    if !uring("enospc_on_write_reaches_every_waiting_appender") {
        return;
    }
    for direct in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (_u, f, b) = faulty_uring(dir.path(), UringOptions::default().direct(direct));
        let w = Arc::new(W::open_with(b, small_opts(Durability::Sync)).unwrap());
        f.add(CompletionFault::errno(Target::Write, f.count(Target::Write) + 20, 28).sticky());
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
        let durable = w.durable_seq();
        drop(w);
        let fb = file_backend(dir.path());
        let r = W::open_with(fb, small_opts(Durability::Sync)).unwrap();
        assert!(durable.is_none_or(|d| r.next_seq() > d));
        r.close().unwrap();
    }
}

#[test]
fn group_mode_watermark_stops_at_the_last_good_sync() {
    if !uring("group_mode_watermark_stops_at_the_last_good_sync") {
        return;
    }
    for (name, o) in option_sets() {
        let dir = tempfile::tempdir().unwrap();
        let (_u, f, b) = faulty_uring(dir.path(), o);
        let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
        for s in 0..20 {
            w.append_with(&payload(s), meta(s)).unwrap();
        }
        w.wait_durable(19, Some(Duration::from_secs(5))).unwrap();
        // From now on every sync fails.
        f.add(CompletionFault::errno(Target::Sync, f.count(Target::Sync), 5).sticky());
        let mut stopped = None;
        for s in 20..5000 {
            if let Err(e) = w.append_with(&payload(s), meta(s)) {
                stopped = Some(e);
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        let e = stopped.expect("the writer stops");
        assert!(
            matches!(cause_of(&e), StopCause::Io { errno: Some(5), .. }),
            "{name}"
        );
        assert_eq!(
            w.durable_seq(),
            Some(19),
            "{name}: no group after the failure counts"
        );
        assert!(
            w.wait_durable(20, Some(Duration::from_millis(300)))
                .is_err()
        );
        drop(w);
        check_durable_survives(dir.path(), Some(19), name);
    }
}

/// Short writes, `-EAGAIN`, `-EINTR` and `-ECANCELED` completions: everything is
/// resubmitted, the writer never stops, and the files are byte for byte the portable
/// backend's.
#[test]
fn short_interrupted_and_cancelled_completions_are_resubmitted() {
    if !uring("short_interrupted_and_cancelled_completions_are_resubmitted") {
        return;
    }
    let reference = tempfile::tempdir().unwrap();
    {
        let w = W::open_with(file_backend(reference.path()), small_opts(small_group())).unwrap();
        write_n(&w, 0, 600);
        w.close().unwrap();
    }
    let want = log_files(reference.path());
    for (name, o) in option_sets() {
        let dir = tempfile::tempdir().unwrap();
        let (u, f, b) = faulty_uring(dir.path(), o.clone());
        // Every 3rd write short (under O_DIRECT more than a block, else nothing is
        // gained), and a sprinkle of EAGAIN, EINTR and cancelled links.
        let short = if o.direct { 5000 } else { 7 };
        let mut faults: Vec<CompletionFault> = (0..2000)
            .step_by(3)
            .map(|n| CompletionFault {
                target: Target::Write,
                nth: n,
                action: Action::Short(short),
                sticky: false,
            })
            .collect();
        for n in (1..2000).step_by(11) {
            faults.push(CompletionFault::errno(Target::Write, n, 11));
        }
        for n in (2..2000).step_by(13) {
            faults.push(CompletionFault::errno(Target::Write, n, 4));
        }
        for n in (0..500).step_by(5) {
            faults.push(CompletionFault::errno(Target::Sync, n, 125));
        }
        for n in (1..500).step_by(7) {
            faults.push(CompletionFault::errno(Target::Sync, n, 4));
        }
        for ft in faults {
            f.add(ft);
        }
        let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
        let last = write_n(&w, 0, 600);
        w.wait_durable(last, Some(Duration::from_secs(20))).unwrap();
        w.close().unwrap();
        let s = u.stats();
        assert!(s.retry_rounds > 10, "{name}: {s:?}");
        assert!(f.fired().len() > 30, "{name}: {:?}", f.fired().len());
        let got = log_files(dir.path());
        assert_eq!(got.len(), want.len(), "{name}");
        for ((gn, gb), (wn, wb)) in got.iter().zip(&want) {
            assert_eq!(gn, wn);
            assert!(gb == wb, "{name}: {gn} differs");
        }
        assert_eq!(read_all_checked(&b).len(), 600);
    }
}

#[test]
fn a_stall_past_the_threshold_stops_the_writer() {
    if !uring("a_stall_past_the_threshold_stops_the_writer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_u, f, b) = faulty_uring(dir.path(), UringOptions::default());
    let mut o = small_opts(Durability::Sync);
    o.stall_timeout = Some(Duration::from_millis(50));
    let w = W::open_with(b, o).unwrap();
    f.add(CompletionFault {
        target: Target::Sync,
        nth: f.count(Target::Sync) + 8,
        action: Action::Stall(Duration::from_millis(400)),
        sticky: false,
    });
    let t0 = Instant::now();
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
        "detected early: {waited:?}"
    );
    let durable = w.durable_seq();
    assert_eq!(durable, last_ok);
    // Even once the stalled sync completes successfully, the watermark does not move.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.durable_seq(), durable);
    assert!(matches!(w.close(), Err(Error::Stopped(_))));
}

#[test]
fn failures_while_rolling_segments_stop_the_writer() {
    if !uring("failures_while_rolling_segments_stop_the_writer") {
        return;
    }
    // Directory operations through storage-std's FaultyBackend around the io_uring
    // backend; file writes and syncs at the completion queue.
    enum At {
        Dir(OpKind, u64),
        Cqe(Target, u64),
    }
    for at in [
        At::Dir(OpKind::Create, 2),
        At::Dir(OpKind::SyncDir, 2),
        At::Cqe(Target::Sync, 30),
        At::Cqe(Target::Write, 60),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_u, f, ub) = faulty_uring(dir.path(), UringOptions::default());
        let (b, what): (Arc<dyn Backend>, String) = match at {
            At::Dir(op, nth) => (
                Arc::new(FaultyBackend::wrap(ub, vec![Fault::eio(op, nth)])),
                format!("{op:?} {nth}"),
            ),
            At::Cqe(t, nth) => {
                f.add(CompletionFault::errno(t, nth, 5));
                (ub, format!("{t:?} completion {nth}"))
            }
        };
        let w = W::open_with(b, small_opts(Durability::Sync)).unwrap();
        let (last_ok, err) = append_until_stopped(&w, 0);
        assert!(
            matches!(cause_of(&err), StopCause::Io { errno: Some(5), .. }),
            "{what}: {err}"
        );
        let durable = w.durable_seq();
        assert_eq!(durable, last_ok, "{what}");
        drop(w);
        check_durable_survives(dir.path(), durable, &what);
    }
}

#[test]
fn the_backend_keeps_working_after_a_writer_failed() {
    if !uring("the_backend_keeps_working_after_a_writer_failed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_u, f, b) = faulty_uring(dir.path(), UringOptions::default().direct(true));
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    write_n(&w, 0, 100);
    w.wait_durable(99, Some(Duration::from_secs(5))).unwrap();
    f.add(CompletionFault::errno(
        Target::Write,
        f.count(Target::Write),
        5,
    ));
    let (_, e) = append_until_stopped(&w, 100);
    assert!(matches!(cause_of(&e), StopCause::Io { errno: Some(5), .. }));
    let durable = w.durable_seq().unwrap();
    drop(w);
    // Same backend, same ring: a new writer recovers and goes on.
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let next = w.next_seq();
    assert!(next > durable);
    write_n(&w, next, 200);
    w.close().unwrap();
    assert_eq!(read_all_checked(&b).len() as u64, next + 200);
    assert_clean(&file_backend(dir.path()), "after failure");
}
