use std::time::Duration;

use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // One writer per directory: `append` queues a record and returns its sequence
    // number; the writer thread commits records in groups (one write, one fdatasync).
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    let mut last = 0;
    for i in 0..100u32 {
        last = writer.append(&i.to_le_bytes())?;
    }
    // Synced to disk once this returns: a power cut can no longer lose records 0..=last.
    writer.wait_durable(last, Some(Duration::from_secs(10)))?;
    writer.close()?;

    // Replay from sequence 90 (or from a time: `Start::Time(ns)`; or `Start::Oldest`).
    let mut cursor = LogReader::open(dir.path())?.cursor(Start::Seq(90))?;
    let mut replayed = Vec::new();
    while let Some(record) = cursor.next()? {
        replayed.push(u32::from_le_bytes(record.payload.try_into()?));
    }
    assert_eq!(replayed, (90..100).collect::<Vec<u32>>());
    Ok(())
}
