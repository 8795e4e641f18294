//! Backends for tests: in memory, real files, and one that recycles segment files.

use std::io;
use std::path::Path;
use std::sync::Arc;

use storage_std::backend::{
    Access, Backend, BackendFile, DirLock, FileBackend, Mapped, MemBackend,
};

/// An in-memory backend, as itself (to cut the power, inspect files) and as the log's.
pub fn mem() -> (MemBackend, Arc<dyn Backend>) {
    let m = MemBackend::new();
    let b: Arc<dyn Backend> = Arc::new(m.clone());
    (m, b)
}

/// Real files in `dir`.
pub fn file_backend(dir: &Path) -> Arc<dyn Backend> {
    Arc::new(FileBackend::new(dir).unwrap())
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
    fn list(&self) -> io::Result<Vec<String>> {
        self.0.list()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        if name.ends_with(".seg")
            && let Some(p) = self.pooled()
        {
            self.0.rename(&p, name)?;
            return self.0.open(name, Access::ReadWrite);
        }
        self.0.create(name)
    }
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        self.0.open(name, access)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        if name.ends_with(".seg") {
            self.0.rename(name, &format!("pool-{name}"))
        } else {
            self.0.remove(name)
        }
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.0.sync_dir()
    }
    fn lock(&self) -> io::Result<DirLock> {
        self.0.lock()
    }
    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.0.map(name)
    }
    fn lock_held(&self) -> io::Result<bool> {
        self.0.lock_held()
    }
    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.0.link(from, to)
    }
    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.0.list_quarantine()
    }
    fn sync_quarantine(&self) -> io::Result<()> {
        self.0.sync_quarantine()
    }
}
