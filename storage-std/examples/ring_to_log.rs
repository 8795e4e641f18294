//! A ringcore ring drained straight into the durable log: a producer thread pushes
//! framed events into an SPSC ring (what a device loop or a capture thread does), and a
//! `LogSink` appends each one (kind, timestamp, payload) to the log; `wait_durable` on
//! the sink's last sequence says when all of them survive a power cut.
//!
//! Run with `cargo run -p storage-std --example ring_to_log`.

use ringcore::spsc::Ring;
use storage_std::dispatch::LogSink;
use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};

const EVENTS: u64 = 5_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    let ring = Ring::<4096>::new();
    let (mut producer, mut consumer) = ring.try_split(0).map_err(|_| "split")?;

    let mut sink = LogSink::new(&writer)?;
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        s.spawn(move || {
            for i in 0..EVENTS {
                let reading = format!("sensor reading {i}");
                // Kind 7, stamped by the producer; a full ring waits for the drain.
                while producer.push(7, 1_000_000 + i, reading.as_bytes()).is_err() {
                    std::thread::yield_now();
                }
            }
        });
        // The drain loop: up to 64 records a batch, appended in ring order.
        while sink.appended() < EVENTS {
            if sink.drain(&mut consumer, 64)? == 0 {
                std::thread::yield_now();
            }
        }
        Ok(())
    })?;
    let last = sink.last_seq().expect("appended");
    drop(sink); // gives the writer its producer back
    writer.wait_durable(last, None)?;
    writer.close()?;

    // Every event is in the log, in order, with its kind and timestamp.
    let mut cursor = LogReader::open(dir.path())?.cursor(Start::Oldest)?;
    let mut n = 0;
    while let Some(r) = cursor.next()? {
        assert_eq!(r.payload, format!("sensor reading {n}").as_bytes());
        assert_eq!((r.header.kind, r.header.timestamp_ns), (7, 1_000_000 + n));
        n += 1;
    }
    assert_eq!(n, EVENTS);
    println!("ring_to_log: {EVENTS} ring events appended in order and durable");
    Ok(())
}
