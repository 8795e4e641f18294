//! Recording through a real ring, for the archive's tests (included with `#[path]`).
#![allow(dead_code)] // each test file uses one of the two

use std::time::Duration;

use ringcore::broadcast::GatedRing;
use ringcore::broadcast::merge::{MergeError, MergingReader};
use storage_std::archive::{Catalog, Drained, Recorder};

/// Records `count` records through a gated broadcast ring (payload: the sequence,
/// timestamp: ten times it, kind 7), draining as the ring fills, until its writer is
/// dropped.
pub fn record(recorder: &mut Recorder, count: u64) {
    let from = recorder.next_seq();
    record_range(recorder, from, from + count);
}

/// [`record`] of the sequences `from..to`, checking that the ring numbers them so
/// (`from` must be the recorder's next sequence).
pub fn record_range(recorder: &mut Recorder, from: u64, to: u64) {
    let ring = GatedRing::<256, 32, 2>::new();
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

/// Every sequence a replay of recording `name` from `from` returns, each record checked
/// against what [`record`] and [`record_range`] publish.
pub fn replay_all(catalog: &Catalog, name: &str, from: u64) -> Vec<u64> {
    let ring = GatedRing::<256, 32, 2>::new();
    drop(ring.try_writer().unwrap()); // closed: the replay is all there is
    let replay = catalog.replay(name, from).unwrap();
    let mut m = MergingReader::new(&ring, replay, from);
    let mut seen = Vec::new();
    loop {
        match m.read_batch(100, |e| {
            assert_eq!(e.payload, e.header.seq.to_le_bytes());
            assert_eq!(e.header.timestamp_ns, e.header.seq * 10);
            assert_eq!(e.header.kind, 7);
            seen.push(e.header.seq);
        }) {
            Ok(_) | Err(MergeError::Empty) => {}
            Err(MergeError::Closed) => return seen,
            Err(e) => panic!("{e}"),
        }
    }
}
