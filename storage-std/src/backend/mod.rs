//! Storage backends: where the log's bytes go.
//!
//! The log talks to one directory through [`Backend`] and to each file through
//! [`BackendFile`]. Three implementations ship here:
//!
//! * [`FileBackend`]: real files (`pwritev`, `fdatasync`, `fallocate`, `flock`, `mmap`);
//! * [`MemBackend`]: an in-memory directory that keeps unsynced writes and unsynced
//!   directory entries apart from synced ones, so a test can cut the power at any call
//!   and drop (or keep, or tear) everything unsynced;
//! * [`FaultyBackend`]: wraps another backend and injects errors (EIO, ENOSPC) or stalls
//!   at chosen calls.
//!
//! An io_uring backend implements the same traits: [`BackendFile::write_group`] hands it
//! a whole group (these slices at this offset, then this sync), which it can submit as
//! linked operations in one `io_uring_enter`; the call returns once the completions are
//! reaped, with [`GroupDone`] or the first error. The writer advances its durable
//! watermark only from a successful `GroupDone { synced: true, .. }` or
//! [`BackendFile::sync`].
//!
//! # Contract
//!
//! * Names are plain file names inside the one directory (no `/`), or names inside its
//!   quarantine directory written `quarantine/NAME` (what `recover --force` takes out of
//!   the log), which [`Backend::list`] does not show.
//! * [`Backend::create`] creates a file (failing if the name exists); its directory
//!   entry is durable only after [`Backend::sync_dir`]. Index, offset and temporary
//!   files must start empty. A segment file (`*.seg`) may instead be a recycled one
//!   (a removed segment renamed and reused) with old bytes still in it: the log writes
//!   and syncs the header first, and the format treats an all-zero record header or a
//!   record with an older sequence after the last record as the end of the log.
//! * [`Backend::remove`] of a segment may keep the file for such reuse under a name the
//!   log ignores (one not ending in `.seg`, `.idx`, `.off` or `.tmp`, and not `LOCK`).
//! * [`Backend::rename`] atomically replaces the target; durable after `sync_dir`.
//! * Writes are durable only after a sync of that file (`SyncKind::Data` or `All`).
//! * An error from any call is reported as is; the writer never retries a failed sync
//!   as if it had succeeded.
//! * [`Backend::map`] is only called for files no writer will shrink (sealed segments,
//!   or the active segment while the caller holds the directory lock).

use std::fmt;
use std::io;
use std::sync::Arc;

mod faulty;
mod file;
mod mem;
mod mmap;
mod spare;

pub use faulty::{EIO, ENOSPC, Fault, FaultAction, FaultyBackend, OpKind};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use file::give_back_preallocation;
pub use file::{FileBackend, RealFile};
pub use mem::{CrashMode, MemBackend};
pub use spare::{MAX_SPARES, SpareBackend, SpareOptions, SpareStats};

/// What a sync makes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncKind {
    /// No sync: the writes go to the page cache only.
    None,
    /// `fdatasync`: the data and the metadata needed to read it (the size).
    Data,
    /// `fsync`: data and all metadata.
    All,
}

/// One group of writes: `bufs` written back to back starting at `offset`, then `sync`.
#[derive(Debug, Clone, Copy)]
pub struct WriteGroup<'a> {
    /// File offset of the first byte.
    pub offset: u64,
    /// The slices, written contiguously in order.
    pub bufs: &'a [&'a [u8]],
    /// The sync to issue after all writes completed.
    pub sync: SyncKind,
}

impl WriteGroup<'_> {
    /// Total bytes in the group.
    pub fn len(&self) -> u64 {
        self.bufs.iter().map(|b| b.len() as u64).sum()
    }

    /// Whether the group writes nothing.
    pub fn is_empty(&self) -> bool {
        self.bufs.iter().all(|b| b.is_empty())
    }
}

/// The completion of a [`WriteGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDone {
    /// Bytes written (all of them: a short write is retried or reported as an error).
    pub written: u64,
    /// Whether the requested sync completed successfully.
    pub synced: bool,
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

/// A read-only view of a whole file: an `mmap` for real files, a copy for memory.
#[derive(Clone)]
pub struct Mapped(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl Mapped {
    /// Wraps any byte container.
    pub fn new(bytes: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapped")
            .field("len", &self.bytes().len())
            .finish()
    }
}

/// Held while a writer owns a directory; dropping it releases the lock.
pub struct DirLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl DirLock {
    /// Wraps whatever keeps the lock held (a locked file, a flag reset on drop).
    pub fn new(guard: Box<dyn Send + Sync>) -> Self {
        Self(guard)
    }
}

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

/// One directory holding a log.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// A short name for reports: `"file"`, `"memory"`, `"io_uring"`.
    fn kind(&self) -> String;
    /// The names of the files in the directory, in any order.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Creates a new empty file opened for reading and writing; fails if it exists.
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>>;
    /// Opens an existing file.
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>>;
    /// Renames `from` to `to`, atomically replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Removes a sealed segment file that retention deleted: its records all have
    /// sequences below every later segment's, and nothing else (no `quarantine/` link)
    /// refers to it, so a backend may keep the file for reuse under a name the log
    /// ignores (see [`SpareBackend`]). The default removes it.
    fn retire(&self, name: &str) -> io::Result<()> {
        self.remove(name)
    }
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Takes the exclusive writer lock of the directory without blocking; an error of
    /// kind [`io::ErrorKind::WouldBlock`] means another writer holds it.
    fn lock(&self) -> io::Result<DirLock>;
    /// A read-only view of a whole file (see the module's contract).
    fn map(&self, name: &str) -> io::Result<Mapped>;
    /// Whether a writer holds the directory's lock now, found out without taking it (a
    /// writer that starts meanwhile is never refused). Readers and the verifier call it
    /// to tell a live log from a stopped one. Backends that cannot tell say `false`.
    fn lock_held(&self) -> io::Result<bool> {
        Ok(false)
    }
    /// Gives file `from` a second name `to` (a hard link); `to` may be in the quarantine
    /// directory (`quarantine/NAME`, created if needed). Durable after
    /// [`Backend::sync_dir`] (for names in the directory) or
    /// [`Backend::sync_quarantine`] (for names in quarantine).
    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this backend cannot link files",
        ))
    }
    /// The names in the quarantine directory (without its `quarantine/` prefix); empty
    /// if there is none.
    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Makes the quarantine directory's entries (and its own entry) durable.
    fn sync_quarantine(&self) -> io::Result<()> {
        Ok(())
    }
    /// Reads a whole (small) file.
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        let f = self.open(name, Access::Read)?;
        let len = usize::try_from(f.len()?).map_err(|_| io::Error::other("file too large"))?;
        let mut buf = vec![0u8; len];
        let n = read_full_at(&*f, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// One open file.
#[allow(clippy::len_without_is_empty)] // a file's length, not a collection's
pub trait BackendFile: Send + Sync + fmt::Debug {
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Reads at `offset` into `buf`; returns the bytes read (0 at the end of the file).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes a whole group and issues its sync; returns when every operation completed.
    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone>;
    /// Syncs the file.
    fn sync(&mut self, kind: SyncKind) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len`.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Reserves space for `len` bytes without changing what reads return; a backend that
    /// cannot preallocate does nothing.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(f: &dyn BackendFile, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = f.read_at(offset + done as u64, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Writes a single buffer at `offset` without syncing (a one-slice group).
pub fn write_at(f: &mut dyn BackendFile, offset: u64, buf: &[u8]) -> io::Result<()> {
    f.write_group(&WriteGroup {
        offset,
        bufs: &[buf],
        sync: SyncKind::None,
    })
    .map(|_| ())
}

/// How long [`lock_patiently`] retries a lock that is held.
pub const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes the directory's writer lock, retrying for up to [`LOCK_PATIENCE`] while it is
/// held, so that a reader that probes the lock at the same moment never turns a writer
/// away; [`crate::Error::Locked`] when a writer really holds it.
pub fn lock_patiently(backend: &dyn Backend) -> crate::error::Result<DirLock> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match backend.lock() {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return Err(crate::error::Error::Locked(e.to_string()));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(crate::error::Error::io("lock", crate::format::LOCK_FILE, e));
            }
        }
    }
}
