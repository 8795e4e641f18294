//! The directory steps a catalog takes, behind a trait: the real file system by default,
//! a simulated disk in the crash tests (which cut a catalog operation at every step and
//! apply a power cut to what it left).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, DirLock, FileBackend};

/// The file system a [`super::Catalog`] works on: directories by path, each directory's
/// files through a [`Backend`]. Every step that changes a directory is its own call, so
/// a simulation can cut an operation between any two of them.
pub trait CatalogFs: Send + Sync + fmt::Debug + 'static {
    /// Creates `root` and its missing parents (the catalog's root).
    fn create_root(&self, root: &Path) -> io::Result<()>;
    /// The names of the directories directly inside `dir`, in any order.
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Creates the directory `path` (its parent exists); an error of kind
    /// [`io::ErrorKind::AlreadyExists`] if something has that name. Not durable until
    /// the parent is synced.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of the directory `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Renames the directory `from` to `to` (which must not exist), atomically.
    fn rename_dir(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Exchanges the names of the directories `a` and `b` in one atomic step.
    fn exchange_dirs(&self, a: &Path, b: &Path) -> io::Result<()>;
    /// Removes the directory `path` and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The files of the existing directory `path`.
    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Backend>>;
    /// The files of the directory `path`, created durably (its parent synced) if it
    /// does not exist.
    fn create_backend(&self, path: &Path) -> io::Result<Arc<dyn Backend>>;
    /// Takes a lock on the directory `path` itself (no file is made for it), shared or
    /// exclusive, without waiting: an error of kind [`io::ErrorKind::WouldBlock`] if a
    /// conflicting one is held, by this process or another. A catalog's creations hold
    /// the root's shared while their staging directory exists unlocked, and an
    /// [`super::Catalog::open`] sweeps staging directories only under the exclusive one.
    ///
    /// `Ok(None)` (the default): no such lock here. Sweeps then tell a creation of this
    /// process by its own records and one of another process only once it has locked
    /// its staged log; one swept before that starts again. A file system that several
    /// processes share should have it.
    fn try_lock_dir(&self, path: &Path, exclusive: bool) -> io::Result<Option<DirLock>> {
        let _ = (path, exclusive);
        Ok(None)
    }
}

/// The real file system ([`FileBackend`] for the files).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl CatalogFs for RealFs {
    fn create_root(&self, root: &Path) -> io::Result<()> {
        std::fs::create_dir_all(root)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.path().is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }

    fn rename_dir(&self, from: &Path, to: &Path) -> io::Result<()> {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            from,
            rustix::fs::CWD,
            to,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            // A file system without RENAME_NOREPLACE: a plain rename (which replaces only
            // an empty directory) after a check; the catalog's own names are not raced
            // by anything but catalogs, which check the same way.
            Err(rustix::io::Errno::INVAL) => {
                if std::fs::symlink_metadata(to).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists", to.display()),
                    ));
                }
                std::fs::rename(from, to)
            }
            r => r.map_err(io::Error::from),
        }
    }

    fn exchange_dirs(&self, a: &Path, b: &Path) -> io::Result<()> {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            a,
            rustix::fs::CWD,
            b,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(io::Error::from)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        Ok(Arc::new(FileBackend::existing(path)?))
    }

    fn create_backend(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        Ok(Arc::new(FileBackend::new(path)?))
    }

    /// `flock` on the directory itself: the lock table holds it, the directory holds no
    /// file for it.
    fn try_lock_dir(&self, path: &Path, exclusive: bool) -> io::Result<Option<DirLock>> {
        use rustix::fs::FlockOperation;
        let dir = std::fs::File::open(path)?;
        let op = if exclusive {
            FlockOperation::NonBlockingLockExclusive
        } else {
            FlockOperation::NonBlockingLockShared
        };
        match rustix::fs::flock(&dir, op) {
            Ok(()) => Ok(Some(DirLock::new(Box::new(dir)))),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked", path.display()),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
