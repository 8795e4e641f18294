//! One writer, several reader threads, on a *gated* broadcast ring: every reader sees
//! every event, in order, and the writer waits (instead of overwriting) while the
//! slowest reader is a full ring behind. Needs the `std` feature for the `Blocking`
//! wait strategy (threads sleep instead of spinning while there is nothing to do).
//!
//! Run with `cargo run -p ringcore --example broadcast_fanout --features std`.

use ringcore::broadcast::{GatedRing, ReadError};
use ringcore::wait::Blocking;

/// 64 slots of up to 16 payload bytes, room for 4 readers.
static RING: GatedRing<64, 16, 4> = GatedRing::new();
/// One wait strategy shared by the writer and the readers: a publish wakes sleeping
/// readers, a read wakes a writer waiting for room.
static WAIT: Blocking = Blocking::new();

const EVENTS: u64 = 10_000;
const READERS: usize = 3;

fn main() {
    let mut writer = RING.try_writer().expect("one writer");
    // Join every reader before publishing: a reader sees the events published after it
    // joined, and a gated writer never overwrites what a joined reader has not read.
    let readers: Vec<_> = (0..READERS)
        .map(|_| RING.join().expect("room for a reader"))
        .collect();

    let sums = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .into_iter()
            .map(|mut reader| {
                s.spawn(move || {
                    let (mut count, mut sum, mut next) = (0u64, 0u64, 0u64);
                    loop {
                        // Waits while the ring is empty; `Closed` once the writer is gone
                        // and everything was read.
                        let got = reader.read_batch_wait(&WAIT, 32, |event| {
                            assert_eq!(event.header.seq, next, "in order, none skipped");
                            next += 1;
                            count += 1;
                            sum += u64::from_le_bytes(event.payload.try_into().unwrap());
                        });
                        match got {
                            Ok(_) => {}
                            Err(ReadError::Closed) => break,
                            Err(e) => panic!("a gated reader loses nothing: {e:?}"),
                        }
                    }
                    assert_eq!(reader.lost(), 0);
                    (count, sum)
                })
            })
            .collect();

        for i in 0..EVENTS {
            // Waits while the ring is full (a reader is 64 events behind), then wakes
            // the readers.
            writer
                .publish_wait(&WAIT, 1, i, &i.to_le_bytes())
                .expect("8 bytes fit a 16-byte slot");
        }
        drop(writer); // readers get `Closed` after the last event

        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });

    let expected_sum = EVENTS * (EVENTS - 1) / 2;
    for (count, sum) in &sums {
        assert_eq!(
            (*count, *sum),
            (EVENTS, expected_sum),
            "every reader saw every event"
        );
    }
    println!("broadcast_fanout: {READERS} readers each read all {EVENTS} events");
}
