//! A creation's staging directory: built under a hidden name and renamed into place
//! whole, and the sweep of the ones a crash left (by [`Catalog::open`]).
//!
//! A staging directory is safe from a sweep once its log is locked; before that (the
//! moments between its `mkdir` and the lock) its creation holds the catalog root's
//! shared lock ([`CatalogFs::try_lock_dir`]), and a sweep runs only under the exclusive
//! one, so it never takes a live creation's directory for a leftover, in this process
//! or another.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::DirLock;

use super::super::ArchiveError;
use super::super::fs::CatalogFs;
use super::super::manifest::Manifest;
use super::super::save_manifest;
use super::{Catalog, LOG_DIR, PURGING_PREFIX, io, remove_gone};

/// Prefix of a recording directory being created: it is built (manifest, log directory)
/// under this name (then the recording's name, the process id and a counter: one per
/// attempt) and renamed into place whole.
pub(super) const CREATING_PREFIX: &str = ".creating-";
/// The counter of staging directory names in this process.
static STAGING_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The staging directories this process's creations are building now (by name): an
/// `open` in this process leaves them alone even before their log is locked, also on a
/// file system without directory locks.
static STAGING_NOW: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
/// How long a creation waits for a sweep (which holds the root's exclusive lock for a
/// few renames) before it goes on without the shared one (and starts again if swept).
const SWEEP_PATIENCE: Duration = Duration::from_secs(5);

/// A name in [`STAGING_NOW`] while it lives.
struct Staging(String);

impl Staging {
    fn new(name: String) -> Self {
        staging_now().insert(name.clone());
        Staging(name)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        staging_now().remove(&self.0);
    }
}

fn staging_now() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    STAGING_NOW.lock().unwrap_or_else(|e| e.into_inner())
}

/// The root's lock, shared or exclusive; `Ok(None)` where the file system has none (or
/// refuses one on a directory): then as if there were none.
fn try_lock_root(fs: &dyn CatalogFs, root: &Path, exclusive: bool) -> Result<Option<DirLock>, ()> {
    match fs.try_lock_dir(root, exclusive) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(()),
        Err(_) => Ok(None),
    }
}

impl Catalog {
    /// Drops the staging directories `names` (in the root) of creations that did not
    /// finish, under the root's exclusive lock: none while a creation is between its
    /// staging directory's `mkdir` and its log's lock (the next `open` sweeps them).
    pub(super) fn sweep_staging(&self, names: &[String]) -> Result<(), ArchiveError> {
        if names.is_empty() {
            return Ok(());
        }
        let Ok(_sweeping) = try_lock_root(&*self.fs, &self.root, true) else {
            return Ok(());
        };
        for name in names {
            self.drop_staging(name)?;
        }
        Ok(())
    }

    /// Drops the staging directory `staging` (a name in the root) of a creation that
    /// did not finish, unless a creation holds its log's lock. It is claimed by a rename
    /// to a purge name first and removed there: a creation that takes its lock after the
    /// check (possible only without the root's lock) loses its directory whole (it
    /// notices and starts again) instead of having it emptied under it, before or after
    /// its own rename into place.
    fn drop_staging(&self, staging: &str) -> Result<(), ArchiveError> {
        let path = self.root.join(staging);
        let busy = staging_now().contains(staging)
            || self
                .fs
                .open_dir(&path.join(LOG_DIR))
                .and_then(|b| b.lock_held())
                .unwrap_or(false);
        if busy {
            return Ok(());
        }
        let claimed = self.root.join(format!("{PURGING_PREFIX}{staging}"));
        remove_gone(&*self.fs, &claimed).map_err(io("finish purge"))?;
        match self.fs.rename_dir(&path, &claimed) {
            Ok(()) => {}
            // Renamed into place, or claimed by another sweep, meanwhile.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(io("claim unfinished creation")(e)),
        }
        remove_gone(&*self.fs, &claimed).map_err(io("drop unfinished creation"))
    }

    /// The root's shared lock for a creation's staging window, waiting out a sweep
    /// (`None`: none to be had, see [`try_lock_root`], or a sweep held it too long).
    fn creation_window(&self) -> Option<DirLock> {
        let deadline = Instant::now() + SWEEP_PATIENCE;
        loop {
            match try_lock_root(&*self.fs, &self.root, false) {
                Ok(l) => return l,
                Err(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(()) => return None,
            }
        }
    }

    /// Builds a recording's directory under a staging name of its own (its log locked,
    /// its manifest written) and renames it to `dir`; returns the staged log's lock,
    /// held through the rename.
    pub(super) fn stage(
        &self,
        name: &str,
        dir: &Path,
        manifest: &Manifest,
    ) -> Result<DirLock, ArchiveError> {
        // Held from before the staging directory exists until its log is locked: a
        // sweep (under the exclusive lock) cannot run in between, in any process.
        let window = self.creation_window();
        // One staging directory per attempt, never shared: creates of one name racing
        // each other meet only at the final rename (which refuses to replace), and one
        // whose directory an `open` swept before it locked finds its path gone for good.
        let (staging, _building) = loop {
            if self.fs.is_dir(dir) {
                return Err(ArchiveError::Exists(name.to_owned()));
            }
            let n = STAGING_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let file = format!("{CREATING_PREFIX}{name}.{}.{n}", std::process::id());
            let path = self.root.join(&file);
            let building = Staging::new(file);
            match self.fs.create_dir(&path) {
                Ok(()) => break (path, building),
                // A leftover of an earlier process with this id.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create recording")(e)),
            }
        };
        // The staged log's lock first, held through the rename: a concurrent `open` leaves
        // the staging directory alone once the root's lock goes, and no extend takes the
        // recording before this create's writer does. Taken at once, its durability
        // after it (the manifest's write syncs the directory that holds the log).
        let staged_log = staging.join(LOG_DIR);
        let staged_lock = self
            .fs
            .create_dir(&staged_log)
            .and_then(|()| self.fs.open_dir(&staged_log))
            .and_then(|b| b.lock())
            .map_err(io("lock new log"))?;
        drop(window);
        let backend = self.fs.open_dir(&staging).map_err(io("open recording"))?;
        save_manifest(&*backend, manifest)?;
        match self.fs.rename_dir(&staging, dir) {
            Ok(()) => Ok(staged_lock),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(staged_lock);
                let _ = remove_gone(&*self.fs, &staging);
                Err(ArchiveError::Exists(name.to_owned()))
            }
            Err(e) => Err(io("rename new recording into place")(e)),
        }
    }
}
