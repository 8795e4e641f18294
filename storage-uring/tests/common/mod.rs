//! Helpers of the integration tests: the shared ones of `test-support` (the payload
//! pattern, whole-log checks, backends), with this crate's sizes and io_uring setups.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use test_support::*;

use storage_std::backend::Backend;
use storage_std::format;
use storage_std::{Durability, WriterOptions, verify};
use storage_uring::{Prealloc, UringBackend, UringOptions};

/// The writers' queue size in these tests.
pub const N: usize = 65536;
pub type W = storage_std::Writer<N>;

/// Whether io_uring tests run here (they fail where io_uring is missing, unless
/// `STORAGE_URING_ALLOW_SKIP=1`).
pub fn uring(test: &str) -> bool {
    storage_uring::io_uring_tests_enabled(test)
}

/// Small segments so runs cross rolls; no stall watchdog; preallocated segments.
pub fn small_opts(d: Durability) -> WriterOptions {
    let mut o = test_support::small_opts(d, 16 << 10, 512);
    o = o.with_preallocate(true);
    o
}

pub fn small_group() -> Durability {
    group_of(2048)
}

pub fn uring_backend(dir: &Path, o: UringOptions) -> (UringBackend, Arc<dyn Backend>) {
    let b = UringBackend::new(dir, o).expect("io_uring backend");
    let a: Arc<dyn Backend> = Arc::new(b.clone());
    (b, a)
}

/// The option sets every format test runs with.
pub fn option_sets() -> Vec<(&'static str, UringOptions)> {
    let d = UringOptions::default();
    let b = d.clone().direct(false).fixed_buffers(false);
    vec![
        ("default (O_DIRECT, registered stage)", d.clone()),
        ("direct, unregistered stage", d.clone().fixed_buffers(false)),
        ("direct+zero-fill", d.clone().prealloc(Prealloc::ZeroFill)),
        (
            "direct+fixed+zero-fill",
            d.clone().fixed_buffers(true).prealloc(Prealloc::ZeroFill),
        ),
        (
            "direct, tiny ring and stage",
            d.clone().sq_entries(2).staging_bytes(4096),
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
