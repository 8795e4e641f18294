//! A storage-std backend wrapper that counts what the writer asks of the backend:
//! write groups, syncs and bytes. It shows how large the log's groups really are (a
//! `Group { max_bytes, .. }` group closes early when the submit queue runs empty) and,
//! for a backend whose calls map to system calls one to one (the file backend: one
//! `pwritev` per write, one `fdatasync` per sync), the system calls per group.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use storage_std::backend::{
    Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup,
};

/// What a [`CountingBackend`] saw.
#[derive(Debug, Default)]
pub struct Counts {
    /// `write_group` calls with a sync (a committed group).
    pub synced_groups: AtomicU64,
    /// `write_group` calls without a sync.
    pub unsynced_writes: AtomicU64,
    /// Bytes handed to `write_group` (records, end marks, index entries, headers).
    pub bytes: AtomicU64,
    /// Bytes of the synced groups on segment files (`*.seg`).
    pub segment_group_bytes: AtomicU64,
    /// Separate `sync` calls on files.
    pub file_syncs: AtomicU64,
    /// Directory syncs.
    pub dir_syncs: AtomicU64,
}

impl Counts {
    /// A snapshot: (synced groups, unsynced writes, bytes, segment group bytes, file
    /// syncs, dir syncs).
    pub fn snapshot(&self) -> [u64; 6] {
        [
            self.synced_groups.load(Ordering::Relaxed),
            self.unsynced_writes.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.segment_group_bytes.load(Ordering::Relaxed),
            self.file_syncs.load(Ordering::Relaxed),
            self.dir_syncs.load(Ordering::Relaxed),
        ]
    }
}

/// Wraps a backend and counts its calls into shared [`Counts`].
#[derive(Debug)]
pub struct CountingBackend {
    inner: Arc<dyn Backend>,
    counts: Arc<Counts>,
}

impl CountingBackend {
    /// Counts the calls made to `inner` into `counts`.
    pub fn new(inner: Arc<dyn Backend>, counts: Arc<Counts>) -> Self {
        Self { inner, counts }
    }
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn BackendFile>,
    counts: Arc<Counts>,
    segment: bool,
}

impl CountingBackend {
    fn wrap(&self, name: &str, inner: Box<dyn BackendFile>) -> Box<dyn BackendFile> {
        Box::new(CountingFile {
            inner,
            counts: self.counts.clone(),
            segment: name.ends_with(".seg"),
        })
    }
}

impl Backend for CountingBackend {
    fn kind(&self) -> String {
        self.inner.kind()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        let f = self.inner.create(name)?;
        Ok(self.wrap(name, f))
    }

    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        let f = self.inner.open(name, access)?;
        Ok(self.wrap(name, f))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.counts.dir_syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_dir()
    }

    fn lock(&self) -> io::Result<DirLock> {
        self.inner.lock()
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.map(name)
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read_all(name)
    }
}

impl BackendFile for CountingFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }

    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        let len = group.len();
        let c = &self.counts;
        c.bytes.fetch_add(len, Ordering::Relaxed);
        if group.sync == SyncKind::None {
            c.unsynced_writes.fetch_add(1, Ordering::Relaxed);
        } else {
            c.synced_groups.fetch_add(1, Ordering::Relaxed);
            if self.segment {
                c.segment_group_bytes.fetch_add(len, Ordering::Relaxed);
            }
        }
        self.inner.write_group(group)
    }

    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        if kind != SyncKind::None {
            self.counts.file_syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.sync(kind)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }
}
