//! A simulated disk for a whole catalog: a tree of directories, each one's files in a
//! [`MemBackend`], with one step counter over everything (directory steps, file
//! creations, renames, removals, writes, syncs), so a catalog operation can be cut at
//! any step; then [`SimFs::power_cut`] keeps what a [`CrashMode`] says survives, in the
//! files (each `MemBackend`'s own power cut) and in the directory tree (subdirectory
//! entries are durable once their directory is synced, as file entries are).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};

use storage_std::archive::CatalogFs;
use storage_std::backend::{
    Access, Backend, BackendFile, CrashMode, DirLock, GroupDone, Mapped, MemBackend, SyncKind,
    WriteGroup,
};

#[derive(Debug)]
struct Node {
    mem: MemBackend,
    subdirs: BTreeMap<String, u64>,
    synced: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Sim {
    nodes: HashMap<u64, Node>,
    next: u64,
    steps: u64,
    crash_at: Option<u64>,
    crashed: bool,
    epoch: u64,
    trace: Vec<String>,
}

fn cut_err() -> io::Error {
    io::Error::other("simulated power cut")
}

fn not_found(p: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", p.display()),
    )
}

impl Sim {
    fn new_node(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        self.nodes.insert(
            id,
            Node {
                mem: MemBackend::new(),
                subdirs: BTreeMap::new(),
                synced: BTreeMap::new(),
            },
        );
        id
    }

    fn alive(&self, epoch: u64) -> io::Result<()> {
        if self.crashed || epoch != self.epoch {
            Err(cut_err())
        } else {
            Ok(())
        }
    }

    /// One step that changes the disk: refused (and everything after it) at the cut.
    fn step(&mut self, epoch: u64, what: impl FnOnce() -> String) -> io::Result<()> {
        self.alive(epoch)?;
        if self.crash_at == Some(self.steps) {
            self.crashed = true;
            return Err(cut_err());
        }
        self.steps += 1;
        self.trace.push(what());
        Ok(())
    }

    fn resolve(&self, path: &Path) -> io::Result<u64> {
        let mut cur = 0;
        for c in path.components() {
            match c {
                Component::RootDir => cur = 0,
                Component::Normal(n) => {
                    let n = n.to_string_lossy();
                    cur = *self.nodes[&cur]
                        .subdirs
                        .get(n.as_ref())
                        .ok_or_else(|| not_found(path))?;
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("unsupported path {}", path.display()),
                    ));
                }
            }
        }
        Ok(cur)
    }

    fn parent_and_name(&self, path: &Path) -> io::Result<(u64, String)> {
        let parent = path.parent().ok_or_else(|| not_found(path))?;
        let name = path
            .file_name()
            .ok_or_else(|| not_found(path))?
            .to_string_lossy()
            .into_owned();
        Ok((self.resolve(parent)?, name))
    }

    fn exists(&self, parent: u64, name: &str) -> bool {
        let n = &self.nodes[&parent];
        n.subdirs.contains_key(name) || n.mem.file_bytes(name).is_some()
    }

    fn remove_tree(&mut self, epoch: u64, id: u64) -> io::Result<()> {
        let files = self.nodes[&id].mem.list()?;
        for f in files {
            self.step(epoch, || format!("unlink {f}"))?;
            self.nodes[&id].mem.remove(&f)?;
        }
        let subs: Vec<(String, u64)> = self.nodes[&id]
            .subdirs
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (name, sub) in subs {
            self.remove_tree(epoch, sub)?;
            self.step(epoch, || format!("rmdir {name}"))?;
            self.nodes.get_mut(&id).expect("node").subdirs.remove(&name);
        }
        Ok(())
    }
}

/// The simulated disk (clones share it).
#[derive(Clone)]
pub struct SimFs {
    sim: Arc<Mutex<Sim>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimFs")
    }
}

impl Default for SimFs {
    fn default() -> Self {
        Self::new()
    }
}

impl SimFs {
    /// An empty disk (just `/`).
    pub fn new() -> Self {
        let mut sim = Sim::default();
        sim.new_node();
        Self {
            sim: Arc::new(Mutex::new(sim)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.lock().steps
    }

    /// Cuts the power before step `n` (counted from the start): that step and every
    /// later one fail.
    pub fn set_crash_at(&self, n: Option<u64>) {
        self.lock().crash_at = n;
    }

    /// Whether the cut was reached.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// The steps taken, described (for failure messages).
    pub fn trace(&self) -> Vec<String> {
        self.lock().trace.clone()
    }

    /// The power cut: every directory keeps what `mode` says survives. Handles from
    /// before it fail from now on (that process is gone); locks are released.
    pub fn power_cut(&self, mode: CrashMode) {
        let mut s = self.lock();
        let mut ids: Vec<u64> = s.nodes.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let n = s.nodes.get_mut(&id).expect("listed");
            match mode {
                CrashMode::DropUnsynced => n.subdirs = n.synced.clone(),
                CrashMode::KeepUnsynced => n.synced = n.subdirs.clone(),
                CrashMode::TornPages { seed } => {
                    if (seed ^ id.wrapping_mul(0x9e37_79b9)).count_ones() % 2 == 0 {
                        n.subdirs = n.synced.clone();
                    } else {
                        n.synced = n.subdirs.clone();
                    }
                }
            }
            let m = match mode {
                CrashMode::TornPages { seed } => CrashMode::TornPages {
                    seed: seed.wrapping_add(id),
                },
                m => m,
            };
            n.mem.power_cut(m);
        }
        s.crashed = false;
        s.crash_at = None;
        s.epoch += 1;
    }

    /// An independent copy of the disk's present and durable state (no locks, no cut,
    /// step counter at zero).
    pub fn fork(&self) -> SimFs {
        let s = self.lock();
        let nodes = s
            .nodes
            .iter()
            .map(|(&id, n)| {
                (
                    id,
                    Node {
                        mem: n.mem.fork(),
                        subdirs: n.subdirs.clone(),
                        synced: n.synced.clone(),
                    },
                )
            })
            .collect();
        SimFs {
            sim: Arc::new(Mutex::new(Sim {
                nodes,
                next: s.next,
                ..Sim::default()
            })),
        }
    }

    fn backend(&self, id: u64, epoch: u64) -> Arc<dyn Backend> {
        Arc::new(SimBackend {
            fs: self.clone(),
            id,
            epoch,
        })
    }
}

impl CatalogFs for SimFs {
    fn create_root(&self, root: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let epoch = s.epoch;
        s.alive(epoch)?;
        let mut cur = 0;
        for c in root.components() {
            if let Component::Normal(n) = c {
                let n = n.to_string_lossy().into_owned();
                cur = match s.nodes[&cur].subdirs.get(&n) {
                    Some(&id) => id,
                    None => {
                        // Set up durably: the tests cut catalog operations, not this.
                        let id = s.new_node();
                        let p = s.nodes.get_mut(&cur).expect("node");
                        p.subdirs.insert(n.clone(), id);
                        p.synced.insert(n, id);
                        id
                    }
                };
            }
        }
        Ok(())
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.lock();
        s.alive(s.epoch)?;
        let id = s.resolve(dir)?;
        Ok(s.nodes[&id].subdirs.keys().cloned().collect())
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.lock().resolve(path).is_ok()
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let epoch = s.epoch;
        s.alive(epoch)?;
        let (parent, name) = s.parent_and_name(path)?;
        if s.exists(parent, &name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        s.step(epoch, || format!("mkdir {}", path.display()))?;
        let id = s.new_node();
        s.nodes
            .get_mut(&parent)
            .expect("node")
            .subdirs
            .insert(name, id);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let id = self.lock().resolve(path)?;
        let epoch = self.lock().epoch;
        self.backend(id, epoch).sync_dir()
    }

    fn rename_dir(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let epoch = s.epoch;
        s.alive(epoch)?;
        let (fp, fname) = s.parent_and_name(from)?;
        let (tp, tname) = s.parent_and_name(to)?;
        let id = *s.nodes[&fp]
            .subdirs
            .get(&fname)
            .ok_or_else(|| not_found(from))?;
        if s.exists(tp, &tname) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        s.step(epoch, || {
            format!("rename {} {}", from.display(), to.display())
        })?;
        s.nodes.get_mut(&fp).expect("node").subdirs.remove(&fname);
        s.nodes
            .get_mut(&tp)
            .expect("node")
            .subdirs
            .insert(tname, id);
        Ok(())
    }

    fn exchange_dirs(&self, a: &Path, b: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let epoch = s.epoch;
        s.alive(epoch)?;
        let (ap, an) = s.parent_and_name(a)?;
        let (bp, bn) = s.parent_and_name(b)?;
        let ai = *s.nodes[&ap].subdirs.get(&an).ok_or_else(|| not_found(a))?;
        let bi = *s.nodes[&bp].subdirs.get(&bn).ok_or_else(|| not_found(b))?;
        s.step(epoch, || {
            format!("exchange {} {}", a.display(), b.display())
        })?;
        s.nodes.get_mut(&ap).expect("node").subdirs.insert(an, bi);
        s.nodes.get_mut(&bp).expect("node").subdirs.insert(bn, ai);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let epoch = s.epoch;
        s.alive(epoch)?;
        let (parent, name) = s.parent_and_name(path)?;
        let id = s.resolve(path)?;
        s.remove_tree(epoch, id)?;
        s.step(epoch, || format!("rmdir {}", path.display()))?;
        s.nodes
            .get_mut(&parent)
            .expect("node")
            .subdirs
            .remove(&name);
        Ok(())
    }

    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        let s = self.lock();
        s.alive(s.epoch)?;
        let id = s.resolve(path)?;
        Ok(self.backend(id, s.epoch))
    }

    fn create_backend(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        if let Ok(b) = self.open_dir(path) {
            return Ok(b);
        }
        self.create_dir(path)?;
        let parent = path.parent().ok_or_else(|| not_found(path))?;
        self.sync_dir(parent)?;
        self.open_dir(path)
    }
}

/// One directory's files: its `MemBackend`, each change a step of the disk.
#[derive(Debug)]
struct SimBackend {
    fs: SimFs,
    id: u64,
    epoch: u64,
}

impl SimBackend {
    fn mem(&self) -> io::Result<MemBackend> {
        let s = self.fs.lock();
        s.alive(self.epoch)?;
        Ok(s.nodes[&self.id].mem.clone())
    }

    fn step(&self, what: impl FnOnce() -> String) -> io::Result<MemBackend> {
        let mut s = self.fs.lock();
        s.step(self.epoch, what)?;
        Ok(s.nodes[&self.id].mem.clone())
    }

    fn file(&self, f: Box<dyn BackendFile>) -> Box<dyn BackendFile> {
        Box::new(SimFile {
            fs: self.fs.clone(),
            epoch: self.epoch,
            inner: f,
        })
    }
}

impl Backend for SimBackend {
    fn kind(&self) -> String {
        "simulated".into()
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.mem()?.list()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        let f = self.step(|| format!("create {name}"))?.create(name)?;
        Ok(self.file(f))
    }
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        let f = self.mem()?.open(name, access)?;
        Ok(self.file(f))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.step(|| format!("rename {from} {to}"))?
            .rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.step(|| format!("remove {name}"))?.remove(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        let mut s = self.fs.lock();
        s.step(self.epoch, || "sync_dir".into())?;
        let n = s.nodes.get_mut(&self.id).expect("node");
        n.synced = n.subdirs.clone();
        n.mem.sync_dir()
    }
    fn lock(&self) -> io::Result<DirLock> {
        self.mem()?.lock()
    }
    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.mem()?.map(name)
    }
    fn lock_held(&self) -> io::Result<bool> {
        self.mem()?.lock_held()
    }
    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.step(|| format!("link {from} {to}"))?.link(from, to)
    }
    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.mem()?.list_quarantine()
    }
    fn sync_quarantine(&self) -> io::Result<()> {
        self.step(|| "sync_quarantine".into())?.sync_quarantine()
    }
}

#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    epoch: u64,
    inner: Box<dyn BackendFile>,
}

impl SimFile {
    fn step(&self, what: impl FnOnce() -> String) -> io::Result<()> {
        self.fs.lock().step(self.epoch, what)
    }
}

impl BackendFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        self.step(|| format!("write {} bytes at {}", group.len(), group.offset))?;
        self.inner.write_group(group)
    }
    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        self.step(|| format!("sync {kind:?}"))?;
        self.inner.sync(kind)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.step(|| format!("set_len {len}"))?;
        self.inner.set_len(len)
    }
}
