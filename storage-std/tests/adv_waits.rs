//! Adversarial timeouts: "wait as long as it takes" written as `Duration::MAX` is a
//! wait, not a panic. Before the fix each of these panicked computing its deadline
//! (`Instant + Duration`: "overflow when adding duration to instant").

use std::time::Duration;

use storage_std::archive::{LiveMerge, MergedFrom};
use storage_std::{Durability, LogItem, LogReader, Start, Writer, WriterOptions};

#[test]
fn adv_wait_durable_with_max_timeout() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), WriterOptions::new(Durability::Sync)).unwrap();
    let seq = w.append(b"x").unwrap();
    w.wait_durable(seq, Some(Duration::MAX)).unwrap();
    w.close().unwrap();
}

#[test]
fn adv_cursor_next_item_wait_with_max_timeout() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), WriterOptions::new(Durability::Sync)).unwrap();
    w.append(b"x").unwrap();
    w.close().unwrap();
    let r = LogReader::open(d.path()).unwrap();
    let mut c = r.cursor(Start::Oldest).unwrap();
    match c.next_item_wait(Duration::MAX).unwrap() {
        Some(LogItem::Record(rec)) => assert_eq!(rec.payload, b"x"),
        other => panic!("{:?}", other.is_some()),
    }
}

#[test]
fn adv_live_merge_next_wait_with_max_timeout() {
    let (a, l) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [a.path(), l.path()] {
        let w: Writer = Writer::open(dir, WriterOptions::new(Durability::Sync)).unwrap();
        w.append(b"x").unwrap();
        w.close().unwrap();
    }
    let mut m = LiveMerge::new(
        LogReader::open(a.path()).unwrap(),
        LogReader::open(l.path()).unwrap(),
        Start::Oldest,
    )
    .unwrap();
    let got = m
        .next_wait(Duration::MAX, |from, item| match item {
            LogItem::Record(r) => (from, r.seq()),
            LogItem::Lost(_) => panic!("lost"),
        })
        .unwrap();
    assert_eq!(got, Some((MergedFrom::Archive, 0)));
}
