//! A storage-std backend that discards every byte: what the writer's own path (append,
//! submit queue, writer thread, encoding, CRC) costs with no I/O at all. A diagnostic
//! for the log rows, never a row a target compares.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use storage_std::backend::{
    Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup,
};

/// A directory whose files keep only their length.
#[derive(Debug, Default)]
pub struct NullBackend {
    files: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl NullBackend {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicU64>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A file of a [`NullBackend`]: writes only move its length.
#[derive(Debug)]
pub struct NullFile {
    len: Arc<AtomicU64>,
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Backend for NullBackend {
    fn kind(&self) -> String {
        "null".into()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        let mut f = self.files();
        if f.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        let len = Arc::new(AtomicU64::new(0));
        f.insert(name.to_string(), len.clone());
        Ok(Box::new(NullFile { len }))
    }

    fn open(&self, name: &str, _access: Access) -> io::Result<Box<dyn BackendFile>> {
        let len = self
            .files()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok(Box::new(NullFile { len }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut f = self.files();
        let len = f.remove(from).ok_or_else(|| not_found(from))?;
        f.insert(to.to_string(), len);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self) -> io::Result<DirLock> {
        Ok(DirLock::new(Box::new(())))
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{name}: the null backend keeps no bytes"),
        ))
    }
}

impl BackendFile for NullFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len.load(Ordering::Relaxed))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        // Every byte reads as zero: the format's clean end.
        let len = self.len.load(Ordering::Relaxed);
        let n = len.saturating_sub(offset).min(buf.len() as u64) as usize;
        buf[..n].fill(0);
        Ok(n)
    }

    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        let written = group.len();
        self.len
            .fetch_max(group.offset + written, Ordering::Relaxed);
        Ok(GroupDone {
            written,
            synced: group.sync != SyncKind::None,
        })
    }

    fn sync(&mut self, _kind: SyncKind) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.len.store(len, Ordering::Relaxed);
        Ok(())
    }
}
