//! Follow a live log: a cursor that waits for new records while a writer thread
//! appends, like `tail -f`. The cursor returns a record only once it is durable.
//!
//! Run with `cargo run -p storage-std --example follow`.

use std::time::Duration;

use storage_std::{Durability, ReadLimit, Start, Writer, WriterOptions};

const RECORDS: u64 = 2_000;

fn main() -> storage_std::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;

    // A reader from the writer itself wakes as soon as the durable point moves.
    // (`LogReader::open(dir)` works too, from any process: it polls every 2 ms.)
    let mut cursor = writer.reader(ReadLimit::Durable).cursor(Start::Oldest)?;

    std::thread::scope(|s| -> storage_std::Result<()> {
        // The writer is `Sync`: threads share it by reference (or an `Arc<Writer>`).
        let producer = s.spawn(|| -> storage_std::Result<()> {
            for i in 0..RECORDS {
                writer.append(&i.to_le_bytes())?;
                if i % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(5)); // bursts, with pauses
                }
            }
            Ok(())
        });

        // Follow: wait up to 10 s for each next record.
        for expected in 0..RECORDS {
            let record = cursor
                .next_wait(Duration::from_secs(10))?
                .expect("the writer appends it within 10 s");
            assert_eq!(record.seq(), expected);
            assert_eq!(record.payload, &expected.to_le_bytes());
        }
        producer.join().expect("the producer thread")?;
        Ok(())
    })?;

    // Nothing more is coming: after the timeout `next_wait` returns `None`.
    assert!(cursor.next_wait(Duration::from_millis(20))?.is_none());
    assert!(
        writer.durable_seq() >= Some(RECORDS - 1),
        "what the cursor returned is durable"
    );
    drop(cursor);
    writer.close()?;
    println!("follow: followed {RECORDS} records as a writer thread appended them");
    Ok(())
}
