//! Reopen a log and replay it: from a sequence number, from a time, and over a bounded
//! range. A reader needs no lock: it may run next to a writer, in any process.
//!
//! Run with `cargo run -p storage-std --example replay`.

use storage_std::{Durability, LogReader, RecordMeta, Start, Writer, WriterOptions};

/// Record `i` is stamped one second after record `i - 1`, from this time (ns).
const T0: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn main() -> storage_std::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Write 100 records with timestamps we choose, then close the writer.
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    for i in 0..100u64 {
        let meta = RecordMeta {
            timestamp_ns: Some(T0 + i * SECOND),
            ..RecordMeta::default()
        };
        writer.append_with(&i.to_le_bytes(), meta)?;
    }
    writer.close()?;

    // Reopening a writer continues the log where it ended.
    let writer: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group()))?;
    assert_eq!(writer.next_seq(), 100);
    writer.close()?;

    let reader = LogReader::open(dir.path())?;

    // By sequence: the cursor starts at record 40 and reads to the end of the log.
    // `next` returns `Ok(None)` at the end (not an error: a follower would call again).
    let mut cursor = reader.cursor(Start::Seq(40))?;
    let mut expected = 40u64;
    while let Some(record) = cursor.next()? {
        assert_eq!(record.seq(), expected);
        assert_eq!(record.payload, &expected.to_le_bytes());
        expected += 1;
    }
    assert_eq!(expected, 100);

    // By time: the first record stamped at or after T0 + 72.5 s is record 73.
    let mut cursor = reader.cursor(Start::Time(T0 + 72 * SECOND + SECOND / 2))?;
    let record = cursor.next()?.expect("record 73");
    assert_eq!(
        (record.seq(), record.header.timestamp_ns),
        (73, T0 + 73 * SECOND)
    );

    // A bounded range: sequences 10 to 14 inclusive.
    let mut cursor = reader.cursor(Start::Seq(10))?;
    cursor.set_end(Some(14));
    let mut seqs = Vec::new();
    while let Some(record) = cursor.next()? {
        seqs.push(record.seq());
    }
    assert_eq!(seqs, [10, 11, 12, 13, 14]);

    println!("replay: read from seq 40, from a time (seq 73), and the range 10..=14");
    Ok(())
}
