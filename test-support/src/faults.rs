//! Fault-injection scenarios written once for every backend that can be made to fail.
//!
//! A backend under test implements [`FaultRig`]: it says how to make its `n`-th write,
//! sync, create or directory sync fail (an errno or a stall), which faults fired, and
//! what the next writer finds after the failed one (after a power cut that drops every
//! unsynced byte, where the rig can cut the power). The scenarios then assert what must
//! hold on every backend: the writer stops (fail-stop) with a cause naming the call and
//! the error, every waiting and later call gets that cause, a failed sync is never
//! retried, the durable watermark never passes what reached the disk, and everything
//! reported durable survives into the next writer's log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_std::backend::{Backend, EIO, ENOSPC, Fault, FaultAction, FaultyBackend, OpKind};
use storage_std::{Durability, Error, StopCause, Writer, WriterOptions};

use crate::log::{check_durable_survives, meta, payload, read_all_checked};

/// The calls a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// A file write (or the writes of a write group).
    Write,
    /// A file sync (or the sync of a write group).
    Sync,
    /// Creating a file.
    Create,
    /// Syncing the directory.
    SyncDir,
}

impl Call {
    const ALL: [Call; 4] = [Call::Write, Call::Sync, Call::Create, Call::SyncDir];

    /// The [`FaultyBackend`] call kind.
    pub fn op_kind(self) -> OpKind {
        match self {
            Call::Write => OpKind::Write,
            Call::Sync => OpKind::Sync,
            Call::Create => OpKind::Create,
            Call::SyncDir => OpKind::SyncDir,
        }
    }
}

/// What a faulty call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It fails with this OS error.
    Errno(i32),
    /// It takes this long, then succeeds.
    Stall(Duration),
}

/// [`FaultRig::inject`] through storage-std's [`FaultyBackend`].
pub fn inject_faulty(f: &FaultyBackend, call: Call, nth: u64, failure: Failure, sticky: bool) {
    f.add_fault(Fault {
        op: call.op_kind(),
        nth,
        action: match failure {
            Failure::Errno(e) => FaultAction::Errno(e),
            Failure::Stall(d) => FaultAction::Stall(d),
        },
        sticky,
    });
}

/// [`FaultRig::fired`] of a [`FaultyBackend`] (faults of other call kinds left out).
pub fn fired_faulty(f: &FaultyBackend) -> Vec<(Call, u64)> {
    f.fired()
        .into_iter()
        .filter_map(|(op, n, _)| {
            let call = Call::ALL.into_iter().find(|c| c.op_kind() == op)?;
            Some((call, n))
        })
        .collect()
}

/// A backend that can be made to fail.
pub trait FaultRig {
    /// Writer options for this rig's tests with durability `d` (small segments).
    fn opts(&self, d: Durability) -> WriterOptions;
    /// The group-commit setting for this rig's tests.
    fn group(&self) -> Durability;
    /// The backend the writer under test runs on. A fault on a call the backend only
    /// routes through a wrapper (directory calls, for some rigs) must be injected before
    /// the first call of this.
    fn backend(&self) -> Arc<dyn Backend>;
    /// How many `call`s the backend has seen so far.
    fn count(&self, call: Call) -> u64;
    /// Makes the `nth` `call` (counted from the backend's start, 0 = the first) do
    /// `failure`; with `sticky`, every later one too.
    fn inject(&self, call: Call, nth: u64, failure: Failure, sticky: bool);
    /// The faults that fired so far: the call and its number, in order.
    fn fired(&self) -> Vec<(Call, u64)>;
    /// The log as the next writer finds it, once every writer on [`Self::backend`] is
    /// gone: after a power cut that drops unsynced data where the rig can cut the power,
    /// else the files as they are, read through the portable backend.
    fn survivor(&self) -> Arc<dyn Backend>;
}

/// The fail-stop cause of `e`; panics if `e` is not [`Error::Stopped`].
pub fn cause_of(e: &Error) -> StopCause {
    e.stop_cause()
        .unwrap_or_else(|| panic!("expected a fail-stop, got {e}"))
        .clone()
}

/// Appends (the records of [`payload`] and [`meta`]) from `from` until the writer stops;
/// returns the last acknowledged sequence and the error.
pub fn append_until_stopped<const N: usize>(w: &Writer<N>, from: u64) -> (Option<u64>, Error) {
    let mut last = None;
    for s in from..from + 20_000 {
        match w.append_with(&payload(s), meta(s)) {
            Ok(seq) => last = Some(seq),
            Err(e) => return (last, e),
        }
    }
    panic!("the writer never stopped");
}

fn assert_io(c: &StopCause, errno: i32, op: &str, what: &str) {
    match c {
        StopCause::Io {
            op: got, errno: e, ..
        } => {
            assert_eq!(*e, Some(errno), "{what}: {c:?}");
            assert!(got.contains(op), "{what}: {op} in {got}");
        }
        other => panic!("{what}: an I/O failure expected, got {other:?}"),
    }
}

/// The 10th sync after open fails with EIO in `Sync` mode: the writer stops, every
/// acknowledged append is durable and nothing more, later calls get the same cause, the
/// failed sync is never retried, and the durable records survive.
pub fn eio_on_a_sync_stops_the_writer_for_good<const N: usize>(rig: &impl FaultRig, what: &str) {
    let w = Writer::<N>::open_with(rig.backend(), rig.opts(Durability::Sync)).unwrap();
    let nth = rig.count(Call::Sync) + 10;
    rig.inject(Call::Sync, nth, Failure::Errno(EIO), false);
    let (last_ok, err) = append_until_stopped(&w, 0);
    let c = cause_of(&err);
    assert_io(&c, EIO, "sync", what);
    assert!(!err.is_retryable(), "{what}");
    assert!(
        err.to_string().contains("Input/output error") || err.to_string().contains("os error 5"),
        "{what}: {err}"
    );
    // In Sync mode every acknowledged append is durable, and nothing more.
    let durable = w.durable_seq();
    assert_eq!(durable, last_ok, "{what}");
    assert!(durable.is_some_and(|d| d >= 8), "{what}: {durable:?}");
    let syncs_at_failure = rig.count(Call::Sync);
    // Later calls fail the same way, the watermark stays, and no sync is attempted again
    // (a failed fsync is never retried as if it had succeeded).
    for s in 0..5 {
        let e = w.append(b"after").unwrap_err();
        assert_eq!(cause_of(&e), c, "{what}: append {s}");
    }
    assert_eq!(
        w.wait_durable(
            durable.map_or(0, |d| d + 1),
            Some(Duration::from_millis(300))
        )
        .map_err(|e| cause_of(&e)),
        Err(c.clone()),
        "{what}"
    );
    assert_eq!(cause_of(&w.close().unwrap_err()), c, "{what}");
    assert_eq!(
        rig.count(Call::Sync),
        syncs_at_failure,
        "{what}: a failed sync is never retried"
    );
    assert_eq!(rig.fired(), vec![(Call::Sync, nth)], "{what}");
    check_durable_survives::<N>(&rig.survivor(), rig.opts(rig.group()), durable, what);
}

/// The disk fills up under four threads appending in `Sync` mode: each of them gets
/// ENOSPC naming a write, the writer is stopped, and the durable records survive.
pub fn enospc_on_write_reaches_every_waiting_appender<const N: usize>(
    rig: &impl FaultRig,
    what: &str,
) {
    let w = Arc::new(Writer::<N>::open_with(rig.backend(), rig.opts(Durability::Sync)).unwrap());
    let nth = rig.count(Call::Write) + 20;
    rig.inject(Call::Write, nth, Failure::Errno(ENOSPC), true);
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
        assert_io(&cause_of(&e), ENOSPC, "write", what);
    }
    assert!(matches!(w.health(), Err(Error::Stopped(_))), "{what}");
    let durable = w.durable_seq();
    drop(w);
    // The other threads' records are not the pattern: only reopen and check the end.
    let b = rig.survivor();
    let r = Writer::<N>::open_with(b, rig.opts(Durability::Sync)).unwrap();
    assert!(durable.is_none_or(|d| r.next_seq() > d), "{what}");
    r.close().unwrap();
}

/// Every sync fails from some point on in group mode: the durable watermark stays at the
/// last good sync, waiting past it fails, and everything up to it survives.
pub fn group_watermark_stops_at_the_last_good_sync<const N: usize>(
    rig: &impl FaultRig,
    what: &str,
) {
    let w = Writer::<N>::open_with(rig.backend(), rig.opts(rig.group())).unwrap();
    for s in 0..20 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.wait_durable(19, Some(Duration::from_secs(5))).unwrap();
    rig.inject(Call::Sync, rig.count(Call::Sync), Failure::Errno(EIO), true);
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
        "{what}: {e}"
    );
    assert_eq!(
        w.durable_seq(),
        Some(19),
        "{what}: no group after the failure counts"
    );
    assert!(
        w.wait_durable(20, Some(Duration::from_millis(300)))
            .is_err(),
        "{what}"
    );
    drop(w);
    let b = rig.survivor();
    assert!(read_all_checked(&b).len() >= 20, "{what}");
    check_durable_survives::<N>(&b, rig.opts(rig.group()), Some(19), what);
}

/// A failure in each step of a segment roll (creating the next segment, syncing the
/// directory, a sync or a write among them) stops the writer with that cause; whatever
/// was reported durable survives. `rig` makes a fresh rig for each case.
pub fn failures_while_rolling_segments_stop_the_writer<const N: usize, R: FaultRig>(
    rig: impl Fn() -> R,
    what: &str,
) {
    // Creates at open: the segment, its index, the `DURABLE` file; the fourth is the
    // first roll's segment.
    for (call, nth) in [
        (Call::Create, 3),
        (Call::SyncDir, 2),
        (Call::Sync, 30),
        (Call::Write, 60),
    ] {
        let what = format!("{what}: {call:?} {nth}");
        let rig = rig();
        // A failed write of the advisory `DURABLE` file is ignored by design (readers
        // elsewhere stay behind, never ahead), and which write is the `nth` depends on the
        // backend: a write failure stays, so the next segment write fails too.
        let sticky = call == Call::Write;
        rig.inject(call, nth, Failure::Errno(EIO), sticky);
        let w = Writer::<N>::open_with(rig.backend(), rig.opts(Durability::Sync)).unwrap();
        let (last_ok, err) = append_until_stopped(&w, 0);
        assert!(rig.fired().contains(&(call, nth)), "{what}: fired");
        assert!(
            matches!(cause_of(&err), StopCause::Io { errno: Some(5), .. }),
            "{what}: {err}"
        );
        let durable = w.durable_seq();
        assert_eq!(durable, last_ok, "{what}");
        drop(w);
        check_durable_survives::<N>(&rig.survivor(), rig.opts(Durability::Sync), durable, &what);
    }
}

/// A sync that takes 400 ms with a 50 ms stall threshold: the watchdog stops the writer
/// before the call returns, and the watermark does not move even once it succeeds.
pub fn a_stall_past_the_threshold_stops_the_writer<const N: usize>(
    rig: &impl FaultRig,
    what: &str,
) {
    let mut o = rig.opts(Durability::Sync);
    o = o.with_stall_timeout(Duration::from_millis(50));
    let w = Writer::<N>::open_with(rig.backend(), o).unwrap();
    rig.inject(
        Call::Sync,
        rig.count(Call::Sync) + 8,
        Failure::Stall(Duration::from_millis(400)),
        false,
    );
    let t0 = Instant::now();
    let (last_ok, err) = append_until_stopped(&w, 0);
    let waited = t0.elapsed();
    match cause_of(&err) {
        StopCause::Stall {
            op, threshold_ms, ..
        } => {
            assert_eq!(threshold_ms, 50, "{what}");
            assert!(op.contains("sync"), "{what}: {op}");
        }
        other => panic!("{what}: {other:?}"),
    }
    assert!(
        waited < Duration::from_millis(390),
        "{what}: detected before the call returned: {waited:?}"
    );
    let durable = w.durable_seq();
    assert_eq!(durable, last_ok, "{what}");
    // Even once the stalled sync returns successfully, the watermark does not move.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.durable_seq(), durable, "{what}");
    assert!(matches!(w.close(), Err(Error::Stopped(_))), "{what}");
}
