//! loom models of the replay-to-live merge (`ringcore::broadcast::merge`): a writer
//! publishes events `0..n`, an archive receives them (from a gated recorder reader, or
//! from the writer itself before it publishes to an overwrite ring), and a
//! `MergingReader` that starts late must deliver `0..n` exactly once, in order, whatever
//! the interleaving of its join, its replay and the writer.
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test merge`.
//! Removing the hand-over check (making `merge::hand_over` always say `Deliver`) makes
//! both models fail with a duplicate or a gap.
#![cfg(ringcore_loom)]

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

use loom::sync::Mutex;
use loom::thread;
use loom_tests::{check_event, explore, explore_with_preemptions, fill_event, leak};
use ringcore::broadcast::merge::{MergeError, MergeStats, MergingReader, ReplaySource};
use ringcore::broadcast::{
    GatedRing, OverwriteRing, Policy, PublishError, ReadError, RecordView, Ring, Writer,
};
use ringcore::frame::FrameHeader;
use ringcore::wait::Blocking;

/// The archive: the payloads of events `0..len`, and whether its recorder stopped.
#[derive(Default)]
struct Archive {
    records: Mutex<(Vec<[u8; 8]>, bool)>,
}

impl Archive {
    fn append(&self, e: RecordView<'_>) {
        let mut guard = self.records.lock().unwrap();
        assert_eq!(
            e.header.seq,
            guard.0.len() as u64,
            "the recorder missed an event"
        );
        guard.0.push(e.payload.try_into().unwrap());
    }

    fn complete(&self) {
        self.records.lock().unwrap().1 = true;
    }
}

/// A replay of a shared [`Archive`].
struct Replay(&'static Archive);

impl ReplaySource for Replay {
    type Error = std::convert::Infallible;

    fn durable_end(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.records.lock().unwrap().0.len() as u64)
    }

    fn is_complete(&mut self) -> Result<bool, Self::Error> {
        Ok(self.0.records.lock().unwrap().1)
    }

    fn replay(
        &mut self,
        from: u64,
        until: u64,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
    ) -> Result<usize, Self::Error> {
        // Copy out under the lock, deliver outside it.
        let batch: Vec<(u64, [u8; 8])> = {
            let guard = self.0.records.lock().unwrap();
            (from..until.min(guard.0.len() as u64))
                .take(max.max(1))
                .map(|seq| (seq, guard.0[seq as usize]))
                .collect()
        };
        let mut n = 0;
        for (seq, payload) in &batch {
            n += 1;
            let header = FrameHeader {
                seq: *seq,
                len: 8,
                ..Default::default()
            };
            if f(RecordView { header, payload }).is_break() {
                break;
            }
        }
        Ok(n)
    }
}

fn payload(seq: u64) -> [u8; 8] {
    let mut payload = [0; 8];
    fill_event(seq, &mut payload);
    payload
}

/// Publishes `0..count`, retrying while a gated ring is full; with `archive`, appends each
/// event there first (the writer records before it publishes).
fn publish_all<P: Policy, const N: usize, const R: usize>(
    mut w: Writer<'static, P, N, 8, R>,
    count: u64,
    archive: Option<&Archive>,
) {
    let mut seq = 0;
    while seq < count {
        if let Some(archive) = archive {
            let header = FrameHeader {
                seq,
                len: 8,
                ..Default::default()
            };
            archive.append(RecordView {
                header,
                payload: &payload(seq),
            });
        }
        loop {
            match w.try_publish(0, 0, &payload(seq)) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    break;
                }
                Err(PublishError::Full) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        seq += 1;
    }
    if let Some(archive) = archive {
        archive.complete();
    }
}

/// Merges until the end; returns every sequence delivered, in delivery order, and the
/// reader's counters.
fn merge_all<P: Policy, const N: usize, const R: usize>(
    ring: &'static Ring<P, N, 8, R>,
    archive: &'static Archive,
) -> (Vec<u64>, MergeStats) {
    let mut merged = MergingReader::new(ring, Replay(archive), 0);
    let mut seen = Vec::new();
    loop {
        match merged.read_batch(2, |e| {
            assert!(check_event(e.header.seq, e.payload), "torn or stale event");
            seen.push(e.header.seq);
        }) {
            Ok(_) => {}
            Err(MergeError::Empty) => thread::yield_now(),
            Err(MergeError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    (seen, merged.stats())
}

#[test]
fn gated_recorder_and_late_merging_reader() {
    // The recorder joined before the writer started, so the archive gets every event;
    // the merging reader joins whenever it catches up with the archive, possibly while
    // the recorder is behind the ring, possibly after the writer closed.
    const EVENTS: u64 = 2;
    static HANDED_OVER: AtomicUsize = AtomicUsize::new(0);
    // Two preemptions: with three, this model ran over 9 minutes (stopped at 10). Every
    // hand-over case (join before, between and after the writer's events; recorder
    // ahead of or behind the join) needs at most two: the merging reader's join and its
    // replay each interrupted once. The overwrite model below runs with three.
    let n = explore_with_preemptions(2, || {
        let ring: &'static GatedRing<2, 8, 2> = leak(Ring::new());
        let archive: &'static Archive = leak(Archive::default());
        let w = ring.try_writer().unwrap();
        let mut recorder = ring.join().unwrap();
        // The writer and the recorder block instead of spinning (a model with three
        // spinning threads exceeds loom's branch limit); only the merging reader spins.
        let wait: &'static Blocking = leak(Blocking::new());
        let writer = thread::spawn(move || {
            let mut w = w;
            for seq in 0..EVENTS {
                assert_eq!(w.publish_wait(wait, 0, 0, &payload(seq)), Ok(seq));
            }
        });
        let recording = thread::spawn(move || {
            loop {
                match recorder.read_batch_wait(wait, 2, |e| archive.append(e)) {
                    Ok(_) => {}
                    Err(ReadError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            archive.complete();
        });
        let merging = thread::spawn(move || merge_all(ring, archive));
        writer.join().unwrap();
        recording.join().unwrap();
        let (seen, stats) = merging.join().unwrap();
        assert_eq!(seen, (0..EVENTS).collect::<Vec<_>>(), "gap or duplicate");
        if stats.replayed > 0 && stats.live > 0 {
            HANDED_OVER.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    let handed_over = HANDED_OVER.load(Ordering::Relaxed);
    println!("interleavings with a hand-over from replay to live: {handed_over}");
    assert!(handed_over > 0, "the model must explore a hand-over");
}

#[test]
fn overwrite_reader_lapped_during_hand_over_falls_back_to_replay() {
    // One slot: the writer laps the merging reader as soon as it publishes twice. Each
    // event is in the archive before it is published, so every lost one can be replayed.
    const EVENTS: u64 = 2;
    static FELL_BACK: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static OverwriteRing<1, 8, 1> = leak(Ring::new());
        let archive: &'static Archive = leak(Archive::default());
        let w = ring.try_writer().unwrap();
        let writer = thread::spawn(move || publish_all(w, EVENTS, Some(archive)));
        let merging = thread::spawn(move || merge_all(ring, archive));
        writer.join().unwrap();
        let (seen, stats) = merging.join().unwrap();
        assert_eq!(seen, (0..EVENTS).collect::<Vec<_>>(), "gap or duplicate");
        if stats.fallbacks > 0 {
            FELL_BACK.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    let fell_back = FELL_BACK.load(Ordering::Relaxed);
    println!("interleavings where the merging reader fell back to replay: {fell_back}");
    assert!(
        fell_back > 0,
        "the model must explore a lap during the hand-over"
    );
}
