//! Consumer offsets: a named consumer commits how far it has read, and after a restart
//! resumes from there. An offset is the *next* sequence to read; committing after
//! processing gives at-least-once delivery (a crash in between replays, never skips).
//!
//! Run with `cargo run -p storage-std --example offsets`.

use storage_std::{Durability, LogReader, OffsetStore, Writer, WriterOptions};

fn main() -> storage_std::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    for i in 0..10u8 {
        writer.append(&[i])?;
    }
    writer.close()?;

    // First run of the consumer "billing": it never committed, so it starts at the
    // oldest record. It processes 4 records, commits, and "crashes".
    {
        let reader = LogReader::open(dir.path())?;
        let offsets = OffsetStore::open(dir.path())?;
        let mut cursor = reader.resume("billing")?;
        for expected in 0..4u8 {
            let record = cursor.next()?.expect("a record");
            assert_eq!(record.payload, &[expected]); // "process" it
        }
        // Durable when it returns (temporary file, sync, rename, directory sync).
        offsets.commit("billing", cursor.next_seq())?;
    }

    // Second run, as after a restart: everything reopened from the directory.
    let reader = LogReader::open(dir.path())?;
    let offsets = OffsetStore::open(dir.path())?;
    assert_eq!(offsets.get("billing")?.expect("committed").next_seq, 4);
    let mut cursor = reader.resume("billing")?;
    let mut rest = Vec::new();
    while let Some(record) = cursor.next()? {
        rest.push(record.payload[0]);
    }
    assert_eq!(
        rest,
        [4, 5, 6, 7, 8, 9],
        "resumed right after what was committed"
    );
    offsets.commit("billing", cursor.next_seq())?;

    // Each consumer has its own offset; names are 1 to 64 of [A-Za-z0-9_-].
    assert!(offsets.get("audit")?.is_none());
    assert!(offsets.commit("not/a/name", 0).is_err());
    let names: Vec<_> = offsets
        .list()?
        .into_iter()
        .map(|o| (o.name, o.next_seq))
        .collect();
    assert_eq!(names, [("billing".to_string(), 10)]);
    println!("offsets: billing read 4, restarted, resumed at 4 and finished at 10");
    Ok(())
}
