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

/// A backend that recycles segment files the way a preallocating backend does: removing
/// a segment renames it into a pool (`pool-NAME`, a name the log ignores), and creating
/// a segment renames a pooled file to the new name, old bytes and all.
#[derive(Debug, Clone)]
pub struct Recycling(pub MemBackend);

impl Recycling {
    fn pooled(&self) -> Option<String> {
        self.0
            .list()
            .ok()?
            .into_iter()
            .filter(|n| n.starts_with("pool-"))
            .min()
    }
}

impl Backend for Recycling {
    fn kind(&self) -> String {
        "recycling".into()
    }
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.0.list()
    }
    fn create(&self, name: &str) -> std::io::Result<Box<dyn storage_std::backend::BackendFile>> {
        if name.ends_with(".seg")
            && let Some(p) = self.pooled()
        {
            self.0.rename(&p, name)?;
            return self.0.open(name, storage_std::backend::Access::ReadWrite);
        }
        self.0.create(name)
    }
    fn open(
        &self,
        name: &str,
        access: storage_std::backend::Access,
    ) -> std::io::Result<Box<dyn storage_std::backend::BackendFile>> {
        self.0.open(name, access)
    }
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        if name.ends_with(".seg") {
            self.0.rename(name, &format!("pool-{name}"))
        } else {
            self.0.remove(name)
        }
    }
    fn sync_dir(&self) -> std::io::Result<()> {
        self.0.sync_dir()
    }
    fn lock(&self) -> std::io::Result<storage_std::backend::DirLock> {
        self.0.lock()
    }
    fn map(&self, name: &str) -> std::io::Result<storage_std::backend::Mapped> {
        self.0.map(name)
    }
}
