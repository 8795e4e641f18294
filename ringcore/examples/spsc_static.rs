//! A `static` SPSC ring driven from one polling loop, the way firmware without threads
//! uses it: each pass of the "main loop" lets a sensor task produce a reading and a
//! logger task consume what is there. No heap, no threads, no `std` needed by the ring.
//!
//! Run with `cargo run -p ringcore --example spsc_static`.

use ringcore::spsc::{PushError, Ring};

/// 1 KiB of ring in `.bss` (all zero bytes): the size must be a power of two, and a
/// record (24-byte header plus payload) may take at most half of it.
static RING: Ring<1024> = Ring::new();

/// What a real sensor would return: a 16-byte reading derived from the tick.
fn read_sensor(tick: u32) -> [u8; 16] {
    let mut reading = [0u8; 16];
    reading[..4].copy_from_slice(&tick.to_le_bytes());
    reading[4..8].copy_from_slice(&tick.wrapping_mul(7).to_le_bytes());
    reading
}

fn main() {
    // Split once at start-up (a second `try_split` would fail with `AlreadySplit`):
    // the producer and consumer handles can then live in different tasks or interrupt
    // handlers. Sequence numbers start at 0.
    let (mut producer, mut consumer) = RING.try_split(0).expect("split once");

    const TICKS: u32 = 1_000;
    let mut produced = 0u64;
    let mut consumed = 0u64;
    let mut full_retries = 0u32;
    let mut pending: Option<[u8; 16]> = None;

    for tick in 0..TICKS {
        // Producer task: one reading per tick. When the ring is full, keep the reading
        // and retry on the next pass instead of blocking (a polling loop never blocks).
        let reading = pending.take().unwrap_or_else(|| read_sensor(tick));
        match producer.push(1, u64::from(tick), &reading) {
            Ok(seq) => {
                assert_eq!(seq, produced, "sequences are gap-free");
                produced += 1;
            }
            Err(PushError::Full) => {
                full_retries += 1;
                pending = Some(reading);
            }
            Err(e) => panic!("a 16-byte record always fits: {e:?}"),
        }

        // Consumer task: drains at most 2 records every third tick, slower than the
        // producer in bursts, so the ring fills up and `Full` is exercised.
        if tick % 3 == 0 {
            for _ in 0..2 {
                let Some(record) = consumer.read() else { break };
                assert_eq!(record.seq(), consumed, "read in order, nothing lost");
                assert_eq!(record.payload().len(), 16);
                consumed += 1;
                // `record` is released (its bytes reusable) when it is dropped here.
            }
        }
    }

    // After the loop, drain what is left: every record produced is read exactly once.
    while let Some(record) = consumer.read() {
        assert_eq!(record.seq(), consumed);
        consumed += 1;
    }
    assert_eq!(consumed, produced);
    assert!(full_retries > 0, "the slow consumer made the ring fill up");
    println!(
        "spsc_static: {produced} readings through a 1 KiB static ring, {full_retries} full retries"
    );
}
