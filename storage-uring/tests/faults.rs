//! Fault injection at the io_uring completion queue: the scenarios of
//! `test_support::faults` (storage-std runs them on its in-memory backend) on a real
//! ring, for every option set: EIO and ENOSPC stop the writer (fail-stop), every waiting
//! and later append gets the cause, the durable watermark freezes at the last good sync,
//! a failed sync is never retried; and what only io_uring has: short, interrupted,
//! `EAGAIN` and cancelled completions are resubmitted and change nothing on disk.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use storage_std::backend::{Backend, FaultyBackend};
use storage_std::{Durability, StopCause, WriterOptions};
use storage_uring::faults::{Action, CompletionFault, CompletionFaults, Target};
use storage_uring::{UringBackend, UringOptions};
use test_support::faults::{self, Call, Failure, FaultRig, append_until_stopped, cause_of};

/// An io_uring backend in a fresh directory: writes and syncs fail at its completion
/// queue; creates and directory syncs through storage-std's [`FaultyBackend`] around it
/// (only when such a fault is injected, before the first [`FaultRig::backend`]). The next
/// writer reads the directory with the portable backend.
struct UringRig {
    dir: tempfile::TempDir,
    uring: UringBackend,
    completions: CompletionFaults,
    around: FaultyBackend,
    wrapped: AtomicBool,
}

impl UringRig {
    fn new(o: UringOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let completions = CompletionFaults::default();
        let (uring, b) = uring_backend(dir.path(), o.faults(completions.clone()));
        Self {
            dir,
            uring,
            completions,
            around: FaultyBackend::wrap(b, vec![]),
            wrapped: AtomicBool::new(false),
        }
    }
}

fn target(call: Call) -> Option<Target> {
    match call {
        Call::Write => Some(Target::Write),
        Call::Sync => Some(Target::Sync),
        Call::Create | Call::SyncDir => None,
    }
}

impl FaultRig for UringRig {
    fn opts(&self, d: Durability) -> WriterOptions {
        small_opts(d)
    }
    fn group(&self) -> Durability {
        small_group()
    }
    fn backend(&self) -> Arc<dyn Backend> {
        if self.wrapped.load(Ordering::Relaxed) {
            Arc::new(self.around.clone())
        } else {
            Arc::new(self.uring.clone())
        }
    }
    fn count(&self, call: Call) -> u64 {
        match target(call) {
            Some(t) => self.completions.count(t),
            None => self.around.count(call.op_kind()),
        }
    }
    fn inject(&self, call: Call, nth: u64, failure: Failure, sticky: bool) {
        let Some(target) = target(call) else {
            self.wrapped.store(true, Ordering::Relaxed);
            return faults::inject_faulty(&self.around, call, nth, failure, sticky);
        };
        let action = match failure {
            Failure::Errno(e) => Action::Errno(e),
            Failure::Stall(d) => Action::Stall(d),
        };
        self.completions.add(CompletionFault {
            target,
            nth,
            action,
            sticky,
        });
    }
    fn fired(&self) -> Vec<(Call, u64)> {
        let ring = self.completions.fired().into_iter().map(|(t, n, _)| {
            let call = if t == Target::Write {
                Call::Write
            } else {
                Call::Sync
            };
            (call, n)
        });
        // Only directory calls go through the wrapper's faults.
        ring.chain(faults::fired_faulty(&self.around)).collect()
    }
    fn survivor(&self) -> Arc<dyn Backend> {
        file_backend(self.dir.path())
    }
}

#[test]
fn eio_on_a_group_sync_stops_the_writer_and_is_never_retried() {
    if !uring("eio_on_a_group_sync_stops_the_writer_and_is_never_retried") {
        return;
    }
    for (name, o) in option_sets() {
        faults::eio_on_a_sync_stops_the_writer_for_good::<N>(&UringRig::new(o), name);
    }
}

#[test]
fn enospc_on_write_reaches_every_waiting_appender() {
    if !uring("enospc_on_write_reaches_every_waiting_appender") {
        return;
    }
    for direct in [false, true] {
        let rig = UringRig::new(UringOptions::default().direct(direct));
        faults::enospc_on_write_reaches_every_waiting_appender::<N>(
            &rig,
            &format!("direct {direct}"),
        );
    }
}

#[test]
fn group_mode_watermark_stops_at_the_last_good_sync() {
    if !uring("group_mode_watermark_stops_at_the_last_good_sync") {
        return;
    }
    for (name, o) in option_sets() {
        faults::group_watermark_stops_at_the_last_good_sync::<N>(&UringRig::new(o), name);
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
        let rig = UringRig::new(o.clone());
        let (u, f, b) = (&rig.uring, &rig.completions, rig.backend());
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
        let got = log_files(rig.dir.path());
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
    let rig = UringRig::new(UringOptions::default());
    faults::a_stall_past_the_threshold_stops_the_writer::<N>(&rig, "io_uring");
}

#[test]
fn failures_while_rolling_segments_stop_the_writer() {
    if !uring("failures_while_rolling_segments_stop_the_writer") {
        return;
    }
    faults::failures_while_rolling_segments_stop_the_writer::<N, _>(
        || UringRig::new(UringOptions::default()),
        "io_uring",
    );
}

#[test]
fn the_backend_keeps_working_after_a_writer_failed() {
    if !uring("the_backend_keeps_working_after_a_writer_failed") {
        return;
    }
    let rig = UringRig::new(UringOptions::default().direct(true));
    let (f, b) = (&rig.completions, rig.backend());
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
    assert_clean(&rig.survivor(), "after failure");
}
