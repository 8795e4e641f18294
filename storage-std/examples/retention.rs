//! Retention: the log is a series of segment files; retention deletes whole old
//! (sealed) segments by count, total size or age, optionally keeping what a named
//! consumer has not read yet. The active segment is never deleted.
//!
//! Run with `cargo run -p storage-std --example retention`.

use storage_std::{
    Durability, Error, KeepUnread, LogReader, RetentionPolicy, Start, Writer, WriterOptions,
};

fn main() -> storage_std::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Tiny 4 KiB segments (the minimum) so that a few hundred records make several.
    let opts = WriterOptions::new(Durability::group()).with_segment_bytes(4096);
    let writer: Writer = Writer::open(dir.path(), opts)?;
    for _ in 0..300 {
        writer.append(&[7; 100])?; // about 28 such records fill a 4 KiB segment
    }
    writer.sync()?;
    let sealed = writer.segments(); // the sealed segments, oldest first
    assert!(sealed.len() >= 8, "{} sealed segments", sealed.len());

    // Consumer "audit" has read up to the middle of the fourth segment.
    writer.offsets().commit("audit", sealed[3].base_seq + 1)?;

    // Keep at most 2 segments, but not what "audit" still has to read: only the three
    // segments it has read completely may go.
    let keep_audit = RetentionPolicy::default()
        .with_max_segments(Some(2))
        .with_keep_unread(KeepUnread::Consumers(vec!["audit".into()]));
    let report = writer.apply_retention(&keep_audit)?;
    assert_eq!(report.deleted.len(), 3);
    assert_eq!(report.held_by.as_deref(), Some("audit"));
    assert!(report.bytes_freed > 0);
    let first_kept = sealed[3].base_seq;

    // A reader asking for a deleted sequence gets a clear error, never wrong data.
    let reader = LogReader::open(dir.path())?;
    let gone = reader
        .cursor(Start::Seq(0))
        .and_then(|mut c| c.next().map(|_| ()));
    assert!(
        matches!(gone, Err(Error::NotRetained { requested: 0, first }) if first == first_kept),
        "{gone:?}"
    );
    // The oldest retained record is the first of the segment "audit" is reading.
    let oldest = reader
        .cursor(Start::Oldest)?
        .next()?
        .expect("a record")
        .seq();
    assert_eq!(oldest, first_kept);

    // Without a consumer to keep, the limit wins. A policy can also be set in the
    // options (`WriterOptions::retention`), and the writer applies it after each roll.
    let two_segments = RetentionPolicy::default().with_max_segments(Some(2));
    writer.apply_retention(&two_segments)?;
    let left = LogReader::open(dir.path())?.segments()?.len();
    assert_eq!(left, 2, "one sealed segment and the active one");
    writer.close()?;
    println!("retention: deleted old segments, kept what \"audit\" had not read");
    Ok(())
}
