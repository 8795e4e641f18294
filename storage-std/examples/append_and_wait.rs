//! Append records to a durable log and wait until they are on disk.
//!
//! `append` only queues a record (the writer thread commits groups of them with one
//! write and one `fdatasync`); `wait_durable` blocks until a sequence has been synced,
//! which is when a power cut can no longer lose it.
//!
//! Run with `cargo run -p storage-std --example append_and_wait`.

use std::time::Duration;

use storage_std::{Durability, RecordMeta, VerifyStatus, Writer, WriterOptions, verify_dir};

fn main() -> storage_std::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Group commit: records share syncs; nothing is durable before its group's sync.
    // (`Writer` with no `<N>` uses the default 1 MiB submit queue.)
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    assert_eq!(writer.durable_seq(), None, "a new log has nothing durable");

    // Each append returns the record's sequence number: gap-free, from 0.
    let mut last = 0;
    for i in 0..1_000u32 {
        last = writer.append(format!("order {i}").as_bytes())?;
    }
    assert_eq!(last, 999);

    // A kind and a timestamp of your own (default: kind 0, the system clock's time).
    let audit = RecordMeta {
        kind: 7,
        timestamp_ns: Some(1_700_000_000_000_000_000),
        ..RecordMeta::default()
    };
    let audit_seq = writer.append_with(b"audit: closed the day", audit)?;
    assert_eq!(audit_seq, 1_000);

    // Block until everything up to `audit_seq` has been synced (or 10 s passed: an
    // error, as is a writer that stopped on an I/O error).
    writer.wait_durable(audit_seq, Some(Duration::from_secs(10)))?;
    assert!(writer.durable_seq() >= Some(audit_seq));

    // A clean close syncs whatever is still queued and releases the directory lock.
    let report = writer.close()?;
    assert_eq!(report.next_seq, 1_001);
    assert_eq!(report.durable_seq, Some(1_000));

    // The verifier checks every checksum, the sequence continuity and the indexes.
    let check = verify_dir(dir.path())?;
    assert_eq!(check.status, VerifyStatus::Clean);
    println!("append_and_wait: 1001 records durable, log verified clean");
    Ok(())
}
