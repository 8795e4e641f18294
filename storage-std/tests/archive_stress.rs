//! Full-speed replay-to-live merge against the durable log: a writer thread publishes
//! into a gated broadcast ring as fast as a `Recorder` lets it, a late subscriber joins
//! after a share of the stream is recorded and merges the replay into the live ring.
//! Every sequence is counted: zero gaps, zero duplicates. Prints the subscriber's
//! catch-up rate against the writer's rate (measured here, asserted nowhere).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringcore::broadcast::merge::{MergeError, MergingReader};
use ringcore::broadcast::{GatedRing, PublishError};
use storage_std::archive::{Catalog, RecordingState};
use storage_std::{Durability, WriterOptions};

/// Events published before the subscriber starts.
const HEAD_START: u64 = if cfg!(debug_assertions) {
    50_000
} else {
    500_000
};
/// Events the subscriber must read live before the writer stops.
const LIVE_EVENTS: u64 = 20_000;
/// The writer stops after this long even if the subscriber never went live (the test
/// then fails: the merge never handed over).
const DEADLINE: Duration = Duration::from_secs(60);
/// The writer's rate while the subscriber merges, as a share of its rate alone: the
/// issue's bar (half) in release builds, where the replay runs at about 2.7 times the
/// writer's rate alone; a quarter in debug builds, where replaying (unoptimised record
/// checks) is barely faster than recording, so that a loaded CI machine still hands
/// over. A subscriber slower than the writer never catches up, by any protocol.
const PACE: f64 = if cfg!(debug_assertions) { 0.25 } else { 0.5 };
const PAYLOAD: usize = 64;

fn payload(seq: u64) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    for (i, chunk) in p.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seq.wrapping_mul(31).wrapping_add(i as u64)).to_le_bytes());
    }
    p
}

#[test]
fn late_subscriber_merges_replay_into_live_without_gap_or_duplicate() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let ring: GatedRing<4096, PAYLOAD, 4> = GatedRing::new();
    let mut writer = ring.try_writer().unwrap();
    let mut tap = ring.join().unwrap();
    let mut recorder = catalog
        .create(
            "stress",
            WriterOptions::new(Durability::group()),
            Default::default(),
        )
        .unwrap();
    let status = recorder.status();
    let started = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let published = AtomicU64::new(0);
    let writer_done_ns = AtomicU64::new(0);
    let head_start_ns = AtomicU64::new(0);
    let t0 = Instant::now();
    let (counts, merge_stats, catch_up) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut seq = 0u64;
            let mut paced_from: Option<(Instant, f64)> = None;
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < DEADLINE {
                loop {
                    match writer.try_publish(1, seq, &payload(seq)) {
                        Ok(_) => break,
                        Err(PublishError::Full) => std::hint::spin_loop(),
                        Err(e) => panic!("{e}"),
                    }
                }
                seq += 1;
                if seq == HEAD_START {
                    let head = t0.elapsed();
                    head_start_ns.store(head.as_nanos() as u64, Ordering::Relaxed);
                    paced_from = Some((Instant::now(), HEAD_START as f64 / head.as_secs_f64()));
                    started.store(true, Ordering::Release);
                }
                // From the subscriber's start on, the writer runs at PACE of the rate it
                // reached alone (the bar: at least half its unthrottled rate).
                if let Some((from, alone)) = paced_from
                    && seq.is_multiple_of(256)
                {
                    let due =
                        from + Duration::from_secs_f64((seq - HEAD_START) as f64 / (alone * PACE));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            }
            published.store(seq, Ordering::Release);
            writer_done_ns.store(t0.elapsed().as_nanos() as u64, Ordering::Release);
            drop(writer);
        });
        // Readers joining and leaving from another thread all along (adversarial: the
        // merging reader's join races with them and with the writer).
        s.spawn(|| {
            let mut joins = 0u64;
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < DEADLINE {
                if let Ok(mut r) = ring.join() {
                    joins += 1;
                    let _ = r.read_batch(16, |_| ());
                }
                std::thread::yield_now();
            }
            assert!(joins > 0);
        });
        let rec = s.spawn(move || {
            recorder
                .record_until_closed(&mut tap, Duration::from_micros(50))
                .unwrap();
            recorder.stop().unwrap()
        });
        let subscriber = s.spawn(|| {
            while !started.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            let joined_at = Instant::now();
            let replay = catalog
                .replay_live("stress", 0, Some(status.clone()))
                .unwrap();
            let mut merged = MergingReader::new(&ring, replay, 0);
            let mut counts: Vec<u8> = Vec::new();
            let mut expect = 0u64;
            let mut catch_up = None;
            loop {
                match merged.read_batch(1024, |e| {
                    let seq = e.header.seq;
                    assert_eq!(e.payload, payload(seq), "payload of {seq}");
                    if counts.len() <= seq as usize {
                        counts.resize(seq as usize + 1, 0);
                    }
                    counts[seq as usize] += 1;
                    expect = expect.max(seq + 1);
                }) {
                    Ok(_) => {
                        if catch_up.is_none() && merged.is_live() {
                            catch_up = Some((joined_at.elapsed(), merged.stats().replayed));
                        }
                        if merged.stats().live >= LIVE_EVENTS {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(MergeError::Empty) => std::thread::yield_now(),
                    Err(MergeError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            (counts, merged.stats(), catch_up)
        });
        let manifest = rec.join().unwrap();
        let total = published.load(Ordering::Acquire);
        assert_eq!(manifest.state, RecordingState::Sealed);
        assert_eq!(manifest.last_seq, Some(total - 1));
        let (counts, stats, catch_up) = subscriber.join().unwrap();
        assert_eq!(
            counts.len() as u64,
            total,
            "the subscriber saw the last event"
        );
        (counts, stats, catch_up)
    });
    let total = counts.len() as u64;
    let gaps = counts.iter().filter(|&&c| c == 0).count();
    let dups = counts.iter().filter(|&&c| c > 1).count();
    assert_eq!((gaps, dups), (0, 0), "gaps and duplicates");
    assert_eq!(merge_stats.replayed + merge_stats.live, total);
    let writer_secs = writer_done_ns.load(Ordering::Acquire) as f64 / 1e9;
    let writer_rate = total as f64 / writer_secs;
    let head_secs = head_start_ns.load(Ordering::Relaxed) as f64 / 1e9;
    let head_rate = HEAD_START as f64 / head_secs;
    let merge_rate = (total - HEAD_START) as f64 / (writer_secs - head_secs);
    let (t, replayed) = catch_up.expect("the subscriber went live");
    assert!(merge_stats.live >= LIVE_EVENTS);
    println!(
        "writer alone (recorder-bound) {head_rate:.0} ev/s, while the subscriber merges \
         {merge_rate:.0} ev/s ({:.2}x); events {total}; writer overall {writer_rate:.0} ev/s; \
         subscriber replayed {replayed} in {:.3} s ({:.0} ev/s) before going live; \
         live {}; dropped {}; fallbacks {}",
        merge_rate / head_rate,
        t.as_secs_f64(),
        replayed as f64 / t.as_secs_f64(),
        merge_stats.live,
        merge_stats.dropped,
        merge_stats.fallbacks
    );
}
