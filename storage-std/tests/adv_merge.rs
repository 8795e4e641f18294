//! Adversarial `LiveMerge`: a live directory that is not the recording's continuation,
//! and a live log that starts after a gap.

use std::path::Path;
use std::time::Duration;

use storage_std::archive::{ArchiveError, LiveMerge, MergedFrom};
use storage_std::{Durability, LogItem, LogReader, Start, Writer, WriterOptions};

fn log(dir: &Path, n: u64, salt: u8) {
    let w: Writer = Writer::open(dir, WriterOptions::new(Durability::Sync)).unwrap();
    for s in 0..n {
        w.append(&[salt, s as u8]).unwrap();
    }
    w.close().unwrap();
}

fn drain(m: &mut LiveMerge) -> Result<Vec<(MergedFrom, u64)>, ArchiveError> {
    let mut v = Vec::new();
    while let Some(x) = m.next_wait(Duration::from_millis(30), |from, item| match item {
        LogItem::Record(r) => (from, r.seq()),
        LogItem::Lost(l) => panic!("lost {l:?}"),
    })? {
        v.push(x);
    }
    Ok(v)
}

/// Another log in the live directory, numbered alike: the records both hold at the
/// hand-over differ, so the merge refuses rather than splice two logs. Before the fix
/// it delivered the recording's 0..5 then the other log's 5..10 as one stream.
#[test]
fn adv_a_different_live_log_is_refused_at_the_hand_over() {
    let (a, l) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    log(a.path(), 5, 1);
    log(l.path(), 10, 2);
    let mut m = LiveMerge::new(
        LogReader::open(a.path()).unwrap(),
        LogReader::open(l.path()).unwrap(),
        Start::Oldest,
    )
    .unwrap();
    match drain(&mut m) {
        Err(ArchiveError::NotContinuation { seq: 4 }) => {}
        other => panic!("{other:?}"),
    }
    // The real continuation (same records, more after them) merges.
    let l2 = tempfile::tempdir().unwrap();
    log(l2.path(), 10, 1);
    let mut m = LiveMerge::new(
        LogReader::open(a.path()).unwrap(),
        LogReader::open(l2.path()).unwrap(),
        Start::Oldest,
    )
    .unwrap();
    let got = drain(&mut m).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[4], (MergedFrom::Archive, 4));
    assert_eq!(got[5], (MergedFrom::Live, 5));
}

/// A live log whose first record is past the recording's end is a gap, never skipped.
#[test]
fn adv_live_log_starting_after_a_gap() {
    let a = tempfile::tempdir().unwrap();
    log(a.path(), 5, 1);
    let l3 = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(
        l3.path(),
        WriterOptions::new(Durability::Sync).with_first_seq(8),
    )
    .unwrap();
    for s in 8..12u64 {
        assert_eq!(w.append(&[1, s as u8]).unwrap(), s);
    }
    w.close().unwrap();
    let mut m = LiveMerge::new(
        LogReader::open(a.path()).unwrap(),
        LogReader::open(l3.path()).unwrap(),
        Start::Oldest,
    )
    .unwrap();
    match drain(&mut m) {
        Err(ArchiveError::MergeGap {
            expected: 5,
            found: 8,
        }) => {}
        other => panic!("{other:?}"),
    }
}
