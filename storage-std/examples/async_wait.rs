//! `async` (feature `async`, any executor; tokio here): await durability with
//! `Writer::durable` and follow a live log as a `Stream` with `Writer::follow`, without
//! blocking a runtime thread.
//!
//! Run with `cargo run -p storage-std --features async --example async_wait`.

use std::sync::Arc;

use storage_std::{Durability, LogItem, ReadLimit, Start, Writer, WriterOptions};

const RECORDS: u64 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let writer: Arc<Writer> = Arc::new(Writer::open(
        dir.path(),
        WriterOptions::new(Durability::group()),
    )?);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;

    rt.block_on(async {
        // Append, then await the sync that makes the record durable.
        let seq = writer.append(b"order 1")?;
        writer.durable(seq).await?;
        assert!(writer.durable_seq() >= Some(seq));

        // Follow: a thread appends, the task awaits each record once it is durable.
        let appender = {
            let writer = writer.clone();
            std::thread::spawn(move || -> storage_std::Result<()> {
                for i in 1..RECORDS {
                    writer.append(format!("order {}", i + 1).as_bytes())?;
                }
                Ok(())
            })
        };
        let mut stream = writer.follow(ReadLimit::Durable, Start::Oldest, |item| match item {
            LogItem::Record(r) => (r.seq(), r.payload.to_vec()),
            LogItem::Lost(l) => panic!("lost {l:?} in a new log"),
        })?;
        for want in 0..RECORDS {
            let (seq, payload) = stream.next_item().await.expect("the writer is open")?;
            assert_eq!(seq, want);
            assert_eq!(payload, format!("order {}", want + 1).as_bytes());
        }
        appender.join().expect("the appending thread")?;
        Ok::<_, storage_std::Error>(())
    })?;

    Arc::into_inner(writer).expect("the last handle").close()?;
    println!("async_wait: awaited durability and followed {RECORDS} records");
    Ok(())
}
