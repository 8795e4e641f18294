//! An in-memory directory that models what survives a power cut.
//!
//! Every file keeps two versions: what reads return now (including unsynced writes) and
//! what the last sync of that file made durable. The directory keeps its entries now and
//! as of the last directory sync. [`MemBackend::power_cut`] replaces the present by what
//! a [`CrashMode`] says survives, and starts a new "boot": handles and locks from before
//! the cut stop working.
//!
//! To cut the power *at* a call, [`MemBackend::set_crash_at`] numbers the state-changing
//! steps (a write, a sync, a create, a rename, a remove, a directory sync, a truncate; a
//! write group is two steps: its writes, then its sync). The step with that number and
//! every later call fail with an I/O error, as if the machine had stopped there; a write
//! cut in this way has its first half applied (to the unsynced version), so a cut can
//! land in the middle of a record or a footer.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup};
use crate::format::QUARANTINE_DIR;

/// What survives a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only what was synced: file contents as of each file's last sync, directory entries
    /// as of the last directory sync. The worst case the durability contract allows.
    DropUnsynced,
    /// Everything written survives (what a killed process leaves in the page cache).
    KeepUnsynced,
    /// A random mix, seeded: each unsynced 4 KiB page, the file length and the directory
    /// independently either survive or not.
    TornPages {
        /// Seed of the page choices.
        seed: u64,
    },
}

#[derive(Debug, Default, Clone)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    dir: BTreeMap<String, u64>,
    synced_dir: BTreeMap<String, u64>,
    locked: bool,
    generation: u64,
    steps: u64,
    crash_at: Option<u64>,
    crashed: bool,
    trace: Vec<String>,
    tracing: bool,
}

enum Step {
    Go,
    Cut,
}

fn power_err() -> io::Error {
    io::Error::other("simulated power cut")
}

impl State {
    fn check(&self, generation: u64) -> io::Result<()> {
        if generation != self.generation {
            return Err(io::Error::other("handle from before a power cut"));
        }
        if self.crashed {
            return Err(power_err());
        }
        Ok(())
    }

    fn step(&mut self, generation: u64, what: impl FnOnce() -> String) -> io::Result<Step> {
        self.check(generation)?;
        let n = self.steps;
        self.steps += 1;
        if self.tracing {
            let w = what();
            self.trace.push(format!("{n}: {w}"));
        }
        if self.crash_at == Some(n) {
            self.crashed = true;
            return Ok(Step::Cut);
        }
        Ok(Step::Go)
    }

    fn ino(&self, name: &str) -> io::Result<u64> {
        self.dir
            .get(name)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{name} not found")))
    }
}

/// An in-memory log directory; clones share the same directory.
///
/// ```
/// use storage_std::backend::{Backend, CrashMode, MemBackend, write_at};
/// let b = MemBackend::new();
/// let mut f = b.create("a").unwrap();
/// write_at(&mut *f, 0, b"unsynced").unwrap();
/// b.sync_dir().unwrap();
/// b.power_cut(CrashMode::DropUnsynced);
/// assert_eq!(b.file_bytes("a").unwrap(), b"");
/// ```
#[derive(Clone, Default)]
pub struct MemBackend {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for MemBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock_state();
        f.debug_struct("MemBackend")
            .field("files", &s.dir.keys().collect::<Vec<_>>())
            .field("steps", &s.steps)
            .field("crashed", &s.crashed)
            .finish()
    }
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

impl MemBackend {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers of state-changing steps taken so far (see the module docs).
    pub fn steps(&self) -> u64 {
        self.lock_state().steps
    }

    /// Cuts the power at step `n` (counted from the start of this backend's life), or
    /// never with `None`.
    pub fn set_crash_at(&self, n: Option<u64>) {
        self.lock_state().crash_at = n;
    }

    /// Whether the power is off (a crash step was reached and no cut was applied yet).
    pub fn is_crashed(&self) -> bool {
        self.lock_state().crashed
    }

    /// Records a line per step, for debugging a failing crash test.
    pub fn set_tracing(&self, on: bool) {
        self.lock_state().tracing = on;
    }

    /// The trace recorded with [`MemBackend::set_tracing`].
    pub fn trace(&self) -> Vec<String> {
        self.lock_state().trace.clone()
    }

    /// Applies a power cut: keeps what `mode` says survives, forgets the rest, releases
    /// the lock and invalidates every open handle; the power is then back on.
    pub fn power_cut(&self, mode: CrashMode) {
        let mut s = self.lock_state();
        match mode {
            CrashMode::DropUnsynced => {
                s.dir = s.synced_dir.clone();
                for ino in s.inodes.values_mut() {
                    ino.data = ino.synced.clone();
                }
            }
            CrashMode::KeepUnsynced => {
                s.synced_dir = s.dir.clone();
                for ino in s.inodes.values_mut() {
                    ino.synced = ino.data.clone();
                }
            }
            CrashMode::TornPages { seed } => {
                let mut rng = Xorshift(seed | 1);
                if rng.coin() {
                    s.dir = s.synced_dir.clone();
                } else {
                    s.synced_dir = s.dir.clone();
                }
                let mut inos: Vec<u64> = s.inodes.keys().copied().collect();
                inos.sort_unstable();
                for i in inos {
                    let ino = s.inodes.get_mut(&i).expect("listed");
                    let len = if rng.coin() {
                        ino.data.len()
                    } else {
                        ino.synced.len()
                    };
                    let mut new = ino.synced.clone();
                    new.resize(len, 0);
                    let mut page = 0;
                    while page < len {
                        let end = (page + 4096).min(len);
                        let cur = ino.data.get(page..end.min(ino.data.len()));
                        if let Some(cur) = cur
                            && cur != &new[page..page + cur.len()]
                            && rng.coin()
                        {
                            new[page..page + cur.len()].copy_from_slice(cur);
                        }
                        page = end;
                    }
                    ino.data = new.clone();
                    ino.synced = new;
                }
            }
        }
        let live: std::collections::HashSet<u64> = s.dir.values().copied().collect();
        s.inodes.retain(|k, _| live.contains(k));
        s.synced_dir = s.dir.clone();
        s.generation += 1;
        s.locked = false;
        s.crashed = false;
        s.crash_at = None;
    }

    /// An independent copy of this directory (present and durable state, no lock, no
    /// crash point, step counter at zero): run many crash scenarios from one state.
    pub fn fork(&self) -> MemBackend {
        let s = self.lock_state();
        let copy = State {
            inodes: s.inodes.clone(),
            next_ino: s.next_ino,
            dir: s.dir.clone(),
            synced_dir: s.synced_dir.clone(),
            ..State::default()
        };
        MemBackend {
            state: Arc::new(Mutex::new(copy)),
        }
    }

    /// The current contents of a file (unsynced writes included).
    pub fn file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        let s = self.lock_state();
        let ino = s.dir.get(name)?;
        s.inodes.get(ino).map(|i| i.data.clone())
    }

    /// Replaces a file's contents (present and durable), creating it durably if needed:
    /// for tests that damage files.
    pub fn put_file(&self, name: &str, bytes: Vec<u8>) {
        let mut s = self.lock_state();
        let ino = match s.dir.get(name) {
            Some(&i) => i,
            None => {
                let i = s.next_ino;
                s.next_ino += 1;
                s.dir.insert(name.to_owned(), i);
                s.synced_dir.insert(name.to_owned(), i);
                i
            }
        };
        s.inodes.insert(
            ino,
            Inode {
                data: bytes.clone(),
                synced: bytes,
            },
        );
    }

    /// Removes a file at once, durably: for tests.
    pub fn delete_file(&self, name: &str) {
        let mut s = self.lock_state();
        s.dir.remove(name);
        s.synced_dir.remove(name);
    }
}

struct MemLock {
    state: Arc<Mutex<State>>,
    generation: u64,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.generation == self.generation {
            s.locked = false;
        }
    }
}

impl Backend for MemBackend {
    fn kind(&self) -> String {
        "memory".into()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let s = self.lock_state();
        s.check(s.generation)?;
        Ok(s.dir.keys().filter(|k| !k.contains('/')).cloned().collect())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        let mut s = self.lock_state();
        let g = s.generation;
        if s.dir.contains_key(name) {
            s.check(g)?;
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} exists"),
            ));
        }
        if let Step::Cut = s.step(g, || format!("create {name}"))? {
            return Err(power_err());
        }
        let ino = s.next_ino;
        s.next_ino += 1;
        s.inodes.insert(ino, Inode::default());
        s.dir.insert(name.to_owned(), ino);
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
            generation: g,
            writable: true,
            name: name.to_owned(),
        }))
    }

    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        let s = self.lock_state();
        s.check(s.generation)?;
        let ino = s.ino(name)?;
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            ino,
            generation: s.generation,
            writable: access == Access::ReadWrite,
            name: name.to_owned(),
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.lock_state();
        let g = s.generation;
        s.check(g)?;
        let ino = s.ino(from)?;
        if let Step::Cut = s.step(g, || format!("rename {from} {to}"))? {
            return Err(power_err());
        }
        s.dir.remove(from);
        s.dir.insert(to.to_owned(), ino);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut s = self.lock_state();
        let g = s.generation;
        s.check(g)?;
        s.ino(name)?;
        if let Step::Cut = s.step(g, || format!("remove {name}"))? {
            return Err(power_err());
        }
        s.dir.remove(name);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.lock_state();
        let g = s.generation;
        if let Step::Cut = s.step(g, || "sync_dir".into())? {
            return Err(power_err());
        }
        s.synced_dir = s.dir.clone();
        Ok(())
    }

    fn lock(&self) -> io::Result<DirLock> {
        let mut s = self.lock_state();
        s.check(s.generation)?;
        if s.locked {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "memory directory is locked by another writer",
            ));
        }
        s.locked = true;
        Ok(DirLock::new(Box::new(MemLock {
            state: self.state.clone(),
            generation: s.generation,
        })))
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        let s = self.lock_state();
        s.check(s.generation)?;
        let ino = s.ino(name)?;
        let data = s
            .inodes
            .get(&ino)
            .map(|i| i.data.clone())
            .unwrap_or_default();
        Ok(Mapped::new(Arc::new(data)))
    }

    fn lock_held(&self) -> io::Result<bool> {
        let s = self.lock_state();
        s.check(s.generation)?;
        Ok(s.locked)
    }

    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        let mut s = self.lock_state();
        let g = s.generation;
        s.check(g)?;
        let ino = s.ino(from)?;
        if s.dir.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{to} exists"),
            ));
        }
        if let Step::Cut = s.step(g, || format!("link {from} {to}"))? {
            return Err(power_err());
        }
        s.dir.insert(to.to_owned(), ino);
        Ok(())
    }

    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        let s = self.lock_state();
        s.check(s.generation)?;
        let prefix = format!("{QUARANTINE_DIR}/");
        Ok(s.dir
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    fn sync_quarantine(&self) -> io::Result<()> {
        let mut s = self.lock_state();
        let g = s.generation;
        if let Step::Cut = s.step(g, || "sync_quarantine".into())? {
            return Err(power_err());
        }
        let prefix = format!("{QUARANTINE_DIR}/");
        let q: Vec<(String, u64)> = s
            .dir
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, &v)| (k.clone(), v))
            .collect();
        s.synced_dir.retain(|k, _| !k.starts_with(&prefix));
        s.synced_dir.extend(q);
        Ok(())
    }
}

/// A file of a [`MemBackend`].
struct MemFile {
    state: Arc<Mutex<State>>,
    ino: u64,
    generation: u64,
    writable: bool,
    name: String,
}

impl fmt::Debug for MemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFile").field("name", &self.name).finish()
    }
}

impl MemFile {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ))
        }
    }
}

fn write_into(data: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    let end = offset + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[offset..end].copy_from_slice(bytes);
}

impl BackendFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        let s = self.lock_state();
        s.check(self.generation)?;
        Ok(s.inodes.get(&self.ino).map_or(0, |i| i.data.len() as u64))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let s = self.lock_state();
        s.check(self.generation)?;
        let data = s.inodes.get(&self.ino).map(|i| &i.data[..]).unwrap_or(&[]);
        let Ok(off) = usize::try_from(offset) else {
            return Ok(0);
        };
        if off >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - off);
        buf[..n].copy_from_slice(&data[off..off + n]);
        Ok(n)
    }

    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        self.writable()?;
        let mut s = self.lock_state();
        let total = group.len();
        let name = &self.name;
        let step = s.step(self.generation, || {
            format!("write {name} @{} +{total}", group.offset)
        })?;
        let offset = usize::try_from(group.offset).map_err(io::Error::other)?;
        let ino = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| io::Error::other("inode gone"))?;
        let limit = match step {
            Step::Go => total,
            Step::Cut => total / 2,
        };
        let mut at = offset;
        let mut left = limit as usize;
        for b in group.bufs {
            if left == 0 {
                break;
            }
            let n = b.len().min(left);
            write_into(&mut ino.data, at, &b[..n]);
            at += n;
            left -= n;
        }
        if let Step::Cut = step {
            return Err(power_err());
        }
        drop(s);
        let synced = match group.sync {
            SyncKind::None => false,
            k => {
                self.sync(k)?;
                true
            }
        };
        Ok(GroupDone {
            written: total,
            synced,
        })
    }

    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        if kind == SyncKind::None {
            return Ok(());
        }
        let mut s = self.lock_state();
        let name = &self.name;
        if let Step::Cut = s.step(self.generation, || format!("sync {name}"))? {
            return Err(power_err());
        }
        if let Some(i) = s.inodes.get_mut(&self.ino) {
            i.synced = i.data.clone();
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut s = self.lock_state();
        let name = &self.name;
        if let Step::Cut = s.step(self.generation, || format!("set_len {name} {len}"))? {
            return Err(power_err());
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if let Some(i) = s.inodes.get_mut(&self.ino) {
            i.data.resize(len, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::write_at;

    #[test]
    fn unsynced_data_and_entries_are_dropped() {
        let b = MemBackend::new();
        let mut f = b.create("a").unwrap();
        write_at(&mut *f, 0, b"hello").unwrap();
        f.sync(SyncKind::Data).unwrap();
        // File synced but its entry not: a power cut loses the file.
        b.power_cut(CrashMode::DropUnsynced);
        assert!(b.file_bytes("a").is_none());
        assert!(f.len().is_err(), "old handles are dead");

        let mut f = b.create("a").unwrap();
        b.sync_dir().unwrap();
        write_at(&mut *f, 0, b"hello").unwrap();
        f.sync(SyncKind::Data).unwrap();
        write_at(&mut *f, 5, b" world").unwrap();
        b.power_cut(CrashMode::DropUnsynced);
        assert_eq!(b.file_bytes("a").unwrap(), b"hello");
    }

    #[test]
    fn crash_at_a_write_applies_half_and_stops_everything() {
        let b = MemBackend::new();
        let mut f = b.create("a").unwrap(); // step 0
        b.set_crash_at(Some(1));
        assert!(write_at(&mut *f, 0, b"abcd").is_err());
        assert!(b.is_crashed());
        assert!(b.sync_dir().is_err());
        assert_eq!(b.steps(), 2);
        b.power_cut(CrashMode::KeepUnsynced);
        assert_eq!(b.file_bytes("a").unwrap(), b"ab");
        assert!(!b.is_crashed());
    }

    #[test]
    fn rename_replaces_and_lock_is_exclusive() {
        let b = MemBackend::new();
        b.put_file("x", b"old".to_vec());
        let mut t = b.create("x.tmp").unwrap();
        write_at(&mut *t, 0, b"new").unwrap();
        t.sync(SyncKind::All).unwrap();
        b.rename("x.tmp", "x").unwrap();
        assert_eq!(b.file_bytes("x").unwrap(), b"new");
        b.power_cut(CrashMode::DropUnsynced);
        assert_eq!(b.file_bytes("x").unwrap(), b"old", "rename not durable");
        let l = b.lock().unwrap();
        assert_eq!(b.lock().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(l);
        assert!(b.lock().is_ok());
    }

    #[test]
    fn torn_pages_keep_a_mix() {
        let mut saw_partial = false;
        for seed in 1..if cfg!(miri) { 6 } else { 40 } {
            let b = MemBackend::new();
            let mut f = b.create("a").unwrap();
            b.sync_dir().unwrap();
            write_at(&mut *f, 0, &[1u8; 4096 * 4]).unwrap();
            b.power_cut(CrashMode::TornPages { seed });
            let d = b.file_bytes("a").unwrap_or_default();
            let pages_kept = d.chunks(4096).filter(|p| p[0] == 1).count();
            if pages_kept > 0 && pages_kept < 4 {
                saw_partial = true;
            }
        }
        assert!(saw_partial);
    }
}
