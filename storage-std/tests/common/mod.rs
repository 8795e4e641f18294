//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use storage_std::backend::{Backend, MemBackend};
use storage_std::{Durability, LogReader, RecordMeta, Start, WriterOptions};

/// A small writer: 4 KiB segments, tiny index interval, no stall watchdog.
pub fn small_opts(d: Durability) -> WriterOptions {
    let mut o = WriterOptions::new(d);
    o.segment_bytes = 4096;
    o.index_interval = 256;
    o.stall_timeout = None;
    o.buffer_bytes = 4096;
    o
}

/// A group setting small enough for the tests' segments.
pub fn small_group() -> Durability {
    Durability::Group {
        max_bytes: 1024,
        max_delay: std::time::Duration::ZERO,
    }
}

/// The payload of sequence `seq`: its length and bytes derive from the sequence.
pub fn payload(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(37) % 97) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// Metadata of sequence `seq`: kind and timestamp derive from it.
pub fn meta(seq: u64) -> RecordMeta {
    RecordMeta {
        kind: (seq % 7) as u16,
        flags: 0,
        timestamp_ns: Some(1_000 + seq * 10),
    }
}

pub fn mem() -> (MemBackend, Arc<dyn Backend>) {
    let m = MemBackend::new();
    let b: Arc<dyn Backend> = Arc::new(m.clone());
    (m, b)
}

/// Reads the whole log and checks every record against the pattern; returns the
/// sequences read (contiguous by construction, or it panics).
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
