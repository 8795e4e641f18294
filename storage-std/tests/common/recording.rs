//! Recording through a real ring, for the archive's tests (included with `#[path]`).

use std::time::Duration;

use ringcore::broadcast::GatedRing;
use storage_std::archive::{Drained, Recorder};

/// Records `count` records through a gated broadcast ring (payload: the sequence,
/// timestamp: ten times it, kind 7), draining as the ring fills, until its writer is
/// dropped.
pub fn record(recorder: &mut Recorder, count: u64) {
    let ring = GatedRing::<256, 32, 2>::new();
    let mut w = ring.try_writer().unwrap();
    let from = recorder.next_seq();
    w.set_next_seq(from);
    let mut tap = ring.join().unwrap();
    for seq in from..from + count {
        w.try_publish(7, seq * 10, &seq.to_le_bytes()).unwrap();
        if (seq + 1) % 128 == 0 {
            while let Ok(Drained::Records(_)) = recorder.drain_broadcast(&mut tap, 64) {}
        }
    }
    drop(w);
    recorder
        .record_until_closed(&mut tap, Duration::from_millis(1))
        .unwrap();
}
