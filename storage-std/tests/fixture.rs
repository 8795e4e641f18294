//! A log written by `main` in format 1, before issue 10 changed the format
//! (`tests/fixtures/v1-log`, see its README): this build must keep reading and verifying
//! it clean, and a writer that continues it seals its format-1 active segment and goes on
//! in a new segment of the current format, in the same log.

use std::path::Path;
use std::sync::Arc;

use storage_std::backend::{Backend, FileBackend};
use storage_std::format::{self, FORMAT_VERSION, SegmentHeader};
use storage_std::{
    Durability, LogClass, LogItem, LogReader, Start, VerifyStatus, Writer, WriterOptions,
    verify_dir,
};
use test_support::PayloadSizes;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-log");
const RECORDS: u64 = 1500;
const SIZES: PayloadSizes = PayloadSizes { min: 0, max: 120 };

/// A copy of the fixture (it is never opened for writing in place).
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(FIXTURE).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

/// Reads the whole log; checks every record's length and pattern; returns the
/// sequences (contiguous from 0).
fn read_all(dir: &Path) -> Vec<u64> {
    let r = LogReader::open(dir).unwrap();
    let mut c = r.cursor(Start::Oldest).unwrap();
    let mut seqs = Vec::new();
    while let Some(item) = c.next_item().unwrap() {
        let LogItem::Record(rec) = item else {
            panic!("no lost range in this log: {item:?}");
        };
        let s = rec.seq();
        assert_eq!(s, seqs.len() as u64, "contiguous");
        assert_eq!(rec.payload.len(), SIZES.len_for(s), "length of {s}");
        assert!(test_support::check(s, rec.payload), "pattern of {s}");
        seqs.push(s);
    }
    seqs
}

fn versions(dir: &Path) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            let (_, ver) = SegmentHeader::decode_versioned(&b).unwrap();
            (p.file_name().unwrap().to_str().unwrap().to_owned(), ver)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_format_1_fixture_verifies_and_replays_clean() {
    let dir = copy();
    assert!(versions(dir.path()).iter().all(|(_, v)| *v == 1));
    let v = verify_dir(dir.path()).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    assert_eq!(v.class, LogClass::Clean);
    assert_eq!(v.records, RECORDS);
    assert_eq!(v.last_seq, Some(RECORDS - 1));
    assert_eq!(read_all(dir.path()), (0..RECORDS).collect::<Vec<_>>());
    // Seeks by sequence and by time use its indexes.
    let r = LogReader::open(dir.path()).unwrap();
    assert_eq!(
        r.cursor(Start::Seq(777))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .seq(),
        777
    );
    let segs = r.segments().unwrap();
    assert_eq!(segs.len(), 10);
    let t = segs[5].first_ts;
    let first_at_t = r
        .cursor(Start::Time(t))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .seq();
    assert!(first_at_t <= segs[5].base_seq);
    // Recovery finds nothing to do in it.
    let b: Arc<dyn Backend> = Arc::new(FileBackend::existing(dir.path()).unwrap());
    let rep = storage_std::recover_with(&*b, false).unwrap();
    assert_eq!(rep.found, LogClass::Clean, "{rep:?}");
    assert!(
        rep.cuts.is_empty() && rep.rebuilt_segments.is_empty(),
        "{rep:?}"
    );
}

#[test]
fn a_writer_continues_the_fixture_in_a_new_segment_of_the_current_format() {
    let dir = copy();
    let before = versions(dir.path());
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    let rep = w.recovery().clone();
    assert_eq!(rep.found, LogClass::Clean, "{rep:?}");
    assert_eq!(
        rep.sealed_on_open.as_deref(),
        Some(before.last().unwrap().0.as_str()),
        "the format-1 active segment is sealed in its own format"
    );
    assert_eq!(w.next_seq(), RECORDS);
    for s in RECORDS..RECORDS + 50 {
        let mut p = vec![0u8; SIZES.len_for(s)];
        test_support::fill(s, &mut p);
        assert_eq!(w.append(&p).unwrap(), s);
    }
    w.close().unwrap();
    let after = versions(dir.path());
    assert_eq!(after.len(), before.len() + 1);
    assert!(after[..before.len()].iter().all(|(_, v)| *v == 1));
    assert_eq!(
        after.last().unwrap(),
        &(format::segment_name(RECORDS), FORMAT_VERSION)
    );
    let v = verify_dir(dir.path()).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    assert_eq!(read_all(dir.path()).len() as u64, RECORDS + 50);
}
