//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use storage_std::backend::{Backend, FileBackend};
use storage_std::format;
use storage_std::{Durability, LogReader, RecordMeta, Start, VerifyStatus, WriterOptions, verify};
use storage_uring::{Prealloc, UringBackend, UringOptions};

pub type W = storage_std::Writer<65536>;

/// Whether io_uring tests run here (they fail where io_uring is missing, unless
/// `STORAGE_URING_ALLOW_SKIP=1`).
pub fn uring(test: &str) -> bool {
    storage_uring::io_uring_tests_enabled(test)
}

/// Small segments so runs cross rolls; no stall watchdog.
pub fn small_opts(d: Durability) -> WriterOptions {
    let mut o = WriterOptions::new(d);
    o.segment_bytes = 16 << 10;
    o.index_interval = 512;
    o.stall_timeout = None;
    o.buffer_bytes = 4096;
    o.preallocate = true;
    o
}

pub fn small_group() -> Durability {
    Durability::Group {
        max_bytes: 2048,
        max_delay: Duration::ZERO,
    }
}

/// The payload of sequence `seq`: its length and bytes derive from the sequence.
pub fn payload(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(37) % 97) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

pub fn meta(seq: u64) -> RecordMeta {
    RecordMeta {
        kind: (seq % 7) as u16,
        flags: 0,
        timestamp_ns: Some(1_000 + seq * 10),
    }
}

pub fn write_n(w: &W, from: u64, n: u64) -> u64 {
    let mut last = 0;
    for s in from..from + n {
        last = w.append_with(&payload(s), meta(s)).unwrap();
        assert_eq!(last, s);
    }
    last
}

/// Reads the whole log and checks every record against the pattern.
pub fn read_all_checked(backend: &Arc<dyn Backend>) -> Vec<u64> {
    let r = LogReader::new(backend.clone());
    let mut c = r.cursor(Start::Oldest).expect("cursor");
    let mut seqs = Vec::new();
    while let Some(rec) = c.next().expect("read") {
        let s = rec.seq();
        assert_eq!(rec.payload, &payload(s)[..], "payload of {s}");
        assert_eq!(rec.header.kind, meta(s).kind, "kind of {s}");
        assert_eq!(Some(rec.header.timestamp_ns), meta(s).timestamp_ns);
        if let Some(&p) = seqs.last() {
            assert_eq!(s, p + 1, "gap after {p}");
        }
        seqs.push(s);
    }
    seqs
}

pub fn file_backend(dir: &Path) -> Arc<dyn Backend> {
    Arc::new(FileBackend::new(dir).unwrap())
}

pub fn uring_backend(dir: &Path, o: UringOptions) -> (UringBackend, Arc<dyn Backend>) {
    let b = UringBackend::new(dir, o).expect("io_uring backend");
    let a: Arc<dyn Backend> = Arc::new(b.clone());
    (b, a)
}

pub fn assert_clean(b: &Arc<dyn Backend>, what: &str) {
    let v = verify(b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{what}: {:#?}", v.findings);
}

/// The option sets every format test runs with.
pub fn option_sets() -> Vec<(&'static str, UringOptions)> {
    let d = UringOptions::default();
    let b = d.clone().direct(false);
    vec![
        ("default (O_DIRECT)", d.clone()),
        ("direct+zero-fill", d.clone().prealloc(Prealloc::ZeroFill)),
        (
            "direct+fixed+zero-fill",
            d.clone().fixed_buffers(true).prealloc(Prealloc::ZeroFill),
        ),
        (
            "direct, tiny ring and stage",
            UringOptions {
                sq_entries: 2,
                staging_bytes: 4096,
                ..d.clone()
            },
        ),
        ("buffered", b.clone()),
        (
            "buffered, no prealloc",
            b.clone().prealloc(Prealloc::Off).recycle(0),
        ),
        ("buffered+zero-fill", b.clone().prealloc(Prealloc::ZeroFill)),
        ("buffered+fixed", b.clone().fixed_buffers(true)),
        (
            "buffered+sqpoll",
            b.clone().sqpoll(Some(Duration::from_millis(10))),
        ),
    ]
}

/// A segment file with the fields that record *when* it was written (creation and
/// sealing times, and the checksums over them) zeroed, cut at the end of its records
/// plus footer (sealed) or at the end of its records (active, whose tail beyond is
/// preallocation or zeroes).
pub fn normalized_segment(bytes: &[u8], records_end: u64, sealed: bool) -> Vec<u8> {
    let end = records_end as usize + if sealed { format::FOOTER_LEN } else { 0 };
    assert!(bytes.len() >= end, "file shorter than its records");
    let mut b = bytes[..end].to_vec();
    b[format::segment::header::CREATED_OFFSET..format::segment::header::CREATED_OFFSET + 8].fill(0);
    b[format::segment::header::CRC_OFFSET..format::segment::header::CRC_OFFSET + 4].fill(0);
    if sealed {
        let f = records_end as usize;
        b[f + format::segment::footer::SEALED_OFFSET
            ..f + format::segment::footer::SEALED_OFFSET + 8]
            .fill(0);
        b[f + format::segment::footer::CRC_OFFSET..f + format::segment::footer::CRC_OFFSET + 4]
            .fill(0);
    }
    b
}

/// Every segment and index file of the log in `dir`, normalized, by name.
pub fn log_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let b = file_backend(dir);
    let v = verify(&b).unwrap();
    let mut out = Vec::new();
    for s in &v.segments {
        let bytes = std::fs::read(dir.join(&s.name)).unwrap();
        if !s.sealed {
            // What follows the records: zeros (the end mark, preallocation) or nothing.
            let tail = &bytes[(s.records_end as usize).min(bytes.len())..];
            let mark = tail.len().min(format::record::PREFIX_LEN);
            assert!(
                tail[..mark].iter().all(|&x| x == 0),
                "{}: the records end at a zero header",
                s.name
            );
        }
        out.push((
            s.name.clone(),
            normalized_segment(&bytes, s.records_end, s.sealed),
        ));
        let idx = format::index_name(s.base_seq);
        if let Ok(i) = std::fs::read(dir.join(&idx)) {
            out.push((idx, i));
        }
    }
    out
}
