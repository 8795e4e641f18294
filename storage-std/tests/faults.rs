//! Fault injection on the in-memory backend: EIO, ENOSPC and stalls stop the writer
//! (fail-stop), every waiting and later append gets an error naming the cause, and the
//! durable watermark never passes what reached the disk. The scenarios are
//! `test_support::faults`, which storage-uring runs on its io_uring backend too; after
//! each one the power is cut (everything unsynced dropped) and the durable records must
//! be there.

mod common;

use std::sync::Arc;

use common::*;
use storage_std::backend::{Backend, CrashMode, Fault, FaultyBackend, MemBackend, OpKind};
use storage_std::{Durability, Error, Writer, WriterOptions};
use test_support::faults::{self, Call, Failure, FaultRig};

/// The writers' queue size in these tests.
const N: usize = 8192;
type W = Writer<N>;

/// A [`FaultyBackend`] over a [`MemBackend`]; the next writer finds what a power cut
/// that drops every unsynced byte leaves.
struct MemRig {
    mem: MemBackend,
    faulty: FaultyBackend,
}

impl MemRig {
    fn new() -> Self {
        let mem = MemBackend::new();
        let faulty = FaultyBackend::new(mem.clone(), vec![]);
        Self { mem, faulty }
    }
}

impl FaultRig for MemRig {
    fn opts(&self, d: Durability) -> WriterOptions {
        small_opts(d)
    }
    fn group(&self) -> Durability {
        small_group()
    }
    fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(self.faulty.clone())
    }
    fn count(&self, call: Call) -> u64 {
        self.faulty.count(call.op_kind())
    }
    fn inject(&self, call: Call, nth: u64, failure: Failure, sticky: bool) {
        faults::inject_faulty(&self.faulty, call, nth, failure, sticky);
    }
    fn fired(&self) -> Vec<(Call, u64)> {
        faults::fired_faulty(&self.faulty)
    }
    fn survivor(&self) -> Arc<dyn Backend> {
        self.mem.power_cut(CrashMode::DropUnsynced);
        Arc::new(self.mem.clone())
    }
}

#[test]
fn eio_on_a_group_sync_stops_the_writer_and_is_never_retried() {
    faults::eio_on_a_sync_stops_the_writer_for_good::<N>(&MemRig::new(), "memory");
}

#[test]
fn enospc_on_write_reaches_every_waiting_appender() {
    faults::enospc_on_write_reaches_every_waiting_appender::<N>(&MemRig::new(), "memory");
}

#[test]
fn group_mode_watermark_stops_at_the_last_good_sync() {
    faults::group_watermark_stops_at_the_last_good_sync::<N>(&MemRig::new(), "memory");
}

#[test]
fn failures_while_rolling_segments_stop_the_writer() {
    faults::failures_while_rolling_segments_stop_the_writer::<N, _>(MemRig::new, "memory");
}

#[test]
fn a_stall_past_the_threshold_stops_the_writer() {
    faults::a_stall_past_the_threshold_stops_the_writer::<N>(&MemRig::new(), "memory");
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
        Err(Error::Io { error, .. }) => assert_eq!(error.raw_os_error(), Some(5)),
        other => panic!("{other:?}"),
    }
    // Nothing was lost by the failed open.
    assert_eq!(
        read_all_checked(&(Arc::new(m) as Arc<dyn Backend>)).len(),
        10
    );
}
