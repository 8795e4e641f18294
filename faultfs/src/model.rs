//! The file system as data: what every file and directory holds now, and what of it is
//! durable. Pure (no FUSE, no system calls), so its rules are unit-tested everywhere.
//!
//! # Durability rules
//!
//! * A file keeps its current bytes and its durable bytes. A write changes the current
//!   bytes and marks its range dirty. `fsync` and `fdatasync` alike ([`Model::fsync`])
//!   make the dirty ranges and the current length durable (the size counts as data, as
//!   it must for a log that appends: `fdatasync` commits the size needed to read what was
//!   written).
//! * A truncation is remembered as the lowest length since the last sync: the next sync
//!   first cuts the durable bytes there, so bytes truncated and re-extended read back as
//!   zeros, never as the old durable ones.
//! * A directory keeps its current entries and its durable entries. Creations, renames,
//!   removals and `mkdir` change the current entries only; `fsync` of the directory makes
//!   all of its entries durable at once. A file's contents and its entry are independent:
//!   a file synced but never entered durably vanishes at a cut, and an entry synced for a
//!   file whose bytes were not is an empty (or shorter) file.
//! * A sync that fails ([`Model::fsync`] with `fail`) makes nothing durable and, like
//!   Linux's page cache after a writeback error, forgets that the written ranges were
//!   dirty: the bytes stay readable but no later sync writes them; only a rewrite does.
//!   The pending size change is kept and committed by the next successful sync, so the
//!   bytes whose sync failed come back as zeros after a cut.
//! * [`Model::cut`] is the power cut: every current state becomes its durable state, and
//!   every inode no durable entry reaches is gone.
//!
//! Inode numbers never repeat within a model, so a kernel that still caches an old
//! number after a cut can never reach a new file through it.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// An error number (Linux values), as a FUSE reply carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// No such file or directory.
    pub const ENOENT: Errno = Errno(2);
    /// I/O error: every operation after a cut, and a sync told to fail.
    pub const EIO: Errno = Errno(5);
    /// Bad file descriptor (an inode that is not open for this).
    pub const EBADF: Errno = Errno(9);
    /// File exists.
    pub const EEXIST: Errno = Errno(17);
    /// Not a directory.
    pub const ENOTDIR: Errno = Errno(20);
    /// Is a directory.
    pub const EISDIR: Errno = Errno(21);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// File too large (an offset past [`MAX_FILE_LEN`]).
    pub const EFBIG: Errno = Errno(27);
    /// Directory not empty.
    pub const ENOTEMPTY: Errno = Errno(39);
    /// Operation not supported (an unsupported `fallocate` mode, a rename flag).
    pub const EOPNOTSUPP: Errno = Errno(95);
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

/// The result of a model operation.
pub type Result<T> = std::result::Result<T, Errno>;

/// The root directory's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT: u64 = 1;

/// The largest file the model holds (it keeps every byte in memory): 1 GiB.
pub const MAX_FILE_LEN: u64 = 1 << 30;

/// `fallocate` mode: keep the size (reserve only).
pub const FALLOC_FL_KEEP_SIZE: i32 = 0x01;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What `stat` says about an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// Inode number.
    pub ino: u64,
    /// File or directory.
    pub kind: Kind,
    /// Current length in bytes (a directory: its entry count).
    pub size: u64,
    /// Bytes reserved (at least the length; more after `fallocate`).
    pub allocated: u64,
    /// Permission bits.
    pub perm: u16,
    /// Current links (entries naming it, plus `.` and the parent's for a directory).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last change of contents.
    pub mtime: SystemTime,
    /// Last change of contents or metadata.
    pub ctime: SystemTime,
}

/// Half-open byte ranges, merged, keyed by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ranges(BTreeMap<u64, u64>);

impl Ranges {
    fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        // Merge with every range that overlaps or touches [start, end).
        let touching: Vec<(u64, u64)> = self
            .0
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.0.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&s, &e)| (s, e))
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
struct FileState {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Ranges written since the last sync (successful or not).
    dirty: Ranges,
    /// The lowest length since the last successful sync.
    low_len: u64,
    /// Bytes reserved by `fallocate` (reads are unaffected).
    reserved: u64,
}

#[derive(Debug, Clone, Default)]
struct DirState {
    entries: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
enum Body {
    File(FileState),
    Dir(DirState),
}

#[derive(Debug, Clone)]
struct Node {
    body: Body,
    perm: u16,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
    ctime: SystemTime,
    /// The directory that names it now (its last name, for paths in reports).
    parent: u64,
    name: String,
}

/// The whole file system: every inode, current and durable.
///
/// ```
/// use faultfs::model::{Model, ROOT};
/// let mut m = Model::new();
/// let f = m.create(ROOT, "a.seg", 0o644, 0, 0).unwrap();
/// m.write(f, 0, b"synced").unwrap();
/// m.fsync(f, false).unwrap();
/// m.fsync(ROOT, false).unwrap(); // the entry
/// m.write(f, 6, b" and not").unwrap();
/// m.cut();
/// let f = m.lookup(ROOT, "a.seg").unwrap().ino;
/// assert_eq!(m.read(f, 0, 100).unwrap(), b"synced");
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    nodes: BTreeMap<u64, Node>,
    next_ino: u64,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Model {
    /// An empty file system: the root directory, durable.
    pub fn new() -> Self {
        let now = SystemTime::now();
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node {
                body: Body::Dir(DirState::default()),
                perm: 0o755,
                uid: 0,
                gid: 0,
                mtime: now,
                ctime: now,
                parent: ROOT,
                name: String::new(),
            },
        );
        Self {
            nodes,
            next_ino: ROOT + 1,
        }
    }

    fn node(&self, ino: u64) -> Result<&Node> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: u64) -> Result<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: u64) -> Result<&DirState> {
        match &self.node(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirState> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn file(&self, ino: u64) -> Result<&FileState> {
        match &self.node(ino)?.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileState> {
        let n = self.node_mut(ino)?;
        let now = SystemTime::now();
        n.mtime = now;
        n.ctime = now;
        match &mut n.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    /// Whether `ino` exists (is reachable now, or still open).
    pub fn exists(&self, ino: u64) -> bool {
        self.nodes.contains_key(&ino)
    }

    /// The attributes of `ino`.
    pub fn getattr(&self, ino: u64) -> Result<Attr> {
        let n = self.node(ino)?;
        let (kind, size, allocated) = match &n.body {
            Body::File(f) => {
                let len = f.data.len() as u64;
                (Kind::File, len, len.max(f.reserved))
            }
            Body::Dir(d) => (Kind::Dir, d.entries.len() as u64, 4096),
        };
        let nlink = match &n.body {
            Body::Dir(d) => {
                2 + d
                    .entries
                    .values()
                    .filter(|i| matches!(self.nodes.get(i).map(|n| &n.body), Some(Body::Dir(_))))
                    .count() as u32
            }
            Body::File(_) => {
                let named = self
                    .dir(n.parent)
                    .map(|d| d.entries.values().filter(|&&i| i == ino).count())
                    .unwrap_or(0);
                named as u32
            }
        };
        Ok(Attr {
            ino,
            kind,
            size,
            allocated,
            perm: n.perm,
            nlink,
            uid: n.uid,
            gid: n.gid,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    /// Changes permissions and owners, and with `touch` the modification time (metadata
    /// the model does not split into current and durable).
    pub fn set_meta(
        &mut self,
        ino: u64,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
        touch: bool,
    ) -> Result<()> {
        let n = self.node_mut(ino)?;
        let now = SystemTime::now();
        if let Some(p) = perm {
            n.perm = p & 0o7777;
        }
        if let Some(u) = uid {
            n.uid = u;
        }
        if let Some(g) = gid {
            n.gid = g;
        }
        if touch {
            n.mtime = now;
        }
        n.ctime = now;
        Ok(())
    }

    /// The inode `name` names in directory `parent` now.
    pub fn lookup(&self, parent: u64, name: &str) -> Result<Attr> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        self.getattr(ino)
    }

    /// The current entries of a directory, sorted by name.
    pub fn readdir(&self, dir: u64) -> Result<Vec<(String, u64, Kind)>> {
        let d = self.dir(dir)?;
        Ok(d.entries
            .iter()
            .map(|(n, &i)| {
                let kind = match self.nodes.get(&i).map(|n| &n.body) {
                    Some(Body::Dir(_)) => Kind::Dir,
                    _ => Kind::File,
                };
                (n.clone(), i, kind)
            })
            .collect())
    }

    /// The parent directory of a directory (the root is its own).
    pub fn parent(&self, ino: u64) -> Result<u64> {
        Ok(self.node(ino)?.parent)
    }

    /// The path of `ino` from the root as last named (`"log/00.seg"`), for reports.
    pub fn path(&self, ino: u64) -> String {
        let mut parts = Vec::new();
        let mut cur = ino;
        for _ in 0..64 {
            if cur == ROOT {
                break;
            }
            match self.nodes.get(&cur) {
                Some(n) => {
                    parts.push(n.name.clone());
                    cur = n.parent;
                }
                None => {
                    parts.push(format!("<gone inode {cur}>"));
                    break;
                }
            }
        }
        parts.reverse();
        parts.join("/")
    }

    fn new_node(
        &mut self,
        parent: u64,
        name: &str,
        body: Body,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> Result<u64> {
        check_name(name)?;
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = SystemTime::now();
        self.nodes.insert(
            ino,
            Node {
                body,
                perm: perm & 0o7777,
                uid,
                gid,
                mtime: now,
                ctime: now,
                parent,
                name: name.to_owned(),
            },
        );
        self.dir_mut(parent)?.entries.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Creates an empty file `name` in `parent` (not durable until `parent` is synced).
    pub fn create(
        &mut self,
        parent: u64,
        name: &str,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> Result<u64> {
        self.new_node(
            parent,
            name,
            Body::File(FileState::default()),
            perm,
            uid,
            gid,
        )
    }

    /// Creates a directory (its entry durable once `parent` is synced).
    pub fn mkdir(&mut self, parent: u64, name: &str, perm: u16, uid: u32, gid: u32) -> Result<u64> {
        self.new_node(parent, name, Body::Dir(DirState::default()), perm, uid, gid)
    }

    /// Removes the file entry `name` (the inode lives on while open or durably named).
    pub fn unlink(&mut self, parent: u64, name: &str) -> Result<()> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        if matches!(self.node(ino)?.body, Body::Dir(_)) {
            return Err(Errno::EISDIR);
        }
        self.dir_mut(parent)?.entries.remove(name);
        Ok(())
    }

    /// Removes the empty directory `name`.
    pub fn rmdir(&mut self, parent: u64, name: &str) -> Result<()> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        if !self.dir(ino)?.entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.dir_mut(parent)?.entries.remove(name);
        Ok(())
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing a file there (a
    /// directory there only if empty). With `no_replace`, an existing target is EEXIST.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &str,
        new_parent: u64,
        new_name: &str,
        no_replace: bool,
    ) -> Result<()> {
        check_name(new_name)?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        self.dir(new_parent)?;
        if let Some(&old) = self.dir(new_parent)?.entries.get(new_name) {
            if old == ino {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::EEXIST);
            }
            let moving_dir = matches!(self.node(ino)?.body, Body::Dir(_));
            match &self.node(old)?.body {
                Body::Dir(d) if !moving_dir => {
                    let _ = d;
                    return Err(Errno::EISDIR);
                }
                Body::Dir(d) if !d.entries.is_empty() => return Err(Errno::ENOTEMPTY),
                Body::File(_) if moving_dir => return Err(Errno::ENOTDIR),
                _ => {}
            }
        }
        if matches!(self.node(ino)?.body, Body::Dir(_)) {
            // A directory may not move into itself or below itself.
            let mut cur = new_parent;
            for _ in 0..4096 {
                if cur == ino {
                    return Err(Errno::EINVAL);
                }
                if cur == ROOT {
                    break;
                }
                cur = self.node(cur)?.parent;
            }
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.dir_mut(new_parent)?
            .entries
            .insert(new_name.to_owned(), ino);
        let n = self.node_mut(ino)?;
        n.parent = new_parent;
        n.name = new_name.to_owned();
        n.ctime = SystemTime::now();
        Ok(())
    }

    /// Reads up to `size` bytes at `offset` (fewer at the end of the file).
    pub fn read(&self, ino: u64, offset: u64, size: usize) -> Result<Vec<u8>> {
        let f = self.file(ino)?;
        let len = f.data.len() as u64;
        if offset >= len {
            return Ok(Vec::new());
        }
        let end = len.min(offset.saturating_add(size as u64));
        Ok(f.data[offset as usize..end as usize].to_vec())
    }

    /// Writes `data` at `offset` (extending with zeros); not durable until synced.
    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_LEN)
            .ok_or(Errno::EFBIG)?;
        let f = self.file_mut(ino)?;
        if f.data.len() < end as usize {
            f.data.resize(end as usize, 0);
        }
        f.data[offset as usize..end as usize].copy_from_slice(data);
        f.dirty.insert(offset, end);
        Ok(data.len())
    }

    /// Truncates or extends (with zeros) to `len`; not durable until synced.
    pub fn set_len(&mut self, ino: u64, len: u64) -> Result<()> {
        if len > MAX_FILE_LEN {
            return Err(Errno::EFBIG);
        }
        let f = self.file_mut(ino)?;
        f.data.resize(len as usize, 0);
        f.low_len = f.low_len.min(len);
        Ok(())
    }

    /// `fallocate`: mode 0 extends the length to `offset + len` if shorter (zeros);
    /// [`FALLOC_FL_KEEP_SIZE`] only reserves. Reserved space reads as zeros once the
    /// length covers it. Other modes are EOPNOTSUPP.
    pub fn fallocate(&mut self, ino: u64, mode: i32, offset: u64, len: u64) -> Result<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= MAX_FILE_LEN)
            .ok_or(Errno::EFBIG)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        match mode {
            0 => {
                let f = self.file_mut(ino)?;
                f.reserved = f.reserved.max(end);
                if (f.data.len() as u64) < end {
                    f.data.resize(end as usize, 0);
                }
                Ok(())
            }
            FALLOC_FL_KEEP_SIZE => {
                let f = self.file_mut(ino)?;
                f.reserved = f.reserved.max(end);
                Ok(())
            }
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// `fsync`/`fdatasync` of a file (its dirty bytes and its length become durable) or
    /// of a directory (its entries become durable). With `fail`, the sync fails with EIO
    /// and a file's dirty ranges are forgotten, not made durable (see the module docs).
    pub fn fsync(&mut self, ino: u64, fail: bool) -> Result<()> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir(d) => {
                if fail {
                    return Err(Errno::EIO);
                }
                d.durable = d.entries.clone();
                Ok(())
            }
            Body::File(f) => {
                if fail {
                    f.dirty.clear();
                    return Err(Errno::EIO);
                }
                let keep = (f.low_len as usize).min(f.durable.len());
                f.durable.truncate(keep);
                f.durable.resize(f.data.len(), 0);
                let len = f.data.len() as u64;
                for (s, e) in f.dirty.iter() {
                    let e = e.min(len);
                    if s < e {
                        f.durable[s as usize..e as usize]
                            .copy_from_slice(&f.data[s as usize..e as usize]);
                    }
                }
                f.dirty.clear();
                f.low_len = len;
                Ok(())
            }
        }
    }

    /// Whether a file has bytes or a length that are not durable, or a directory has
    /// entries that are not.
    pub fn is_dirty(&self, ino: u64) -> Result<bool> {
        Ok(match &self.node(ino)?.body {
            Body::Dir(d) => d.entries != d.durable,
            Body::File(f) => !f.dirty.is_empty() || f.data != f.durable,
        })
    }

    /// The durable bytes of a file (what a cut now would leave).
    pub fn durable_bytes(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.file(ino)?.durable.clone())
    }

    /// Resolves a `/`-separated path from the root (`""` is the root).
    pub fn resolve(&self, path: &str) -> Result<u64> {
        let mut cur = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = *self.dir(cur)?.entries.get(part).ok_or(Errno::ENOENT)?;
        }
        Ok(cur)
    }

    /// The power cut: everything becomes what was durable; inodes that no durable entry
    /// reaches from the root are gone.
    pub fn cut(&mut self) {
        for n in self.nodes.values_mut() {
            match &mut n.body {
                Body::File(f) => {
                    f.data = f.durable.clone();
                    f.dirty.clear();
                    f.low_len = f.data.len() as u64;
                    f.reserved = f.reserved.max(f.data.len() as u64);
                }
                Body::Dir(d) => d.entries = d.durable.clone(),
            }
        }
        // Keep what the root reaches; fix every kept node's parent and name.
        let mut kept: BTreeMap<u64, (u64, String)> = BTreeMap::new();
        kept.insert(ROOT, (ROOT, String::new()));
        let mut stack = vec![ROOT];
        while let Some(d) = stack.pop() {
            let Some(Node {
                body: Body::Dir(dir),
                ..
            }) = self.nodes.get(&d)
            else {
                continue;
            };
            for (name, &child) in &dir.entries {
                if kept.contains_key(&child) || !self.nodes.contains_key(&child) {
                    continue;
                }
                kept.insert(child, (d, name.clone()));
                stack.push(child);
            }
        }
        self.nodes.retain(|ino, _| kept.contains_key(ino));
        // Entries whose inode is gone (a directory entry durable for a file that a
        // later rename moved elsewhere and whose other name won) cannot exist: every
        // entry's inode is kept by the walk above. Fix names and parents.
        for (ino, (parent, name)) in kept {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.parent = parent;
                n.name = name;
            }
        }
    }

    /// Drops inodes that no current entry names and that are not `open` (their bytes
    /// can never be read again) unless a durable entry still names them.
    pub fn forget_unreachable(&mut self, open: &dyn Fn(u64) -> bool) {
        let mut named: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
        named.insert(ROOT);
        for n in self.nodes.values() {
            if let Body::Dir(d) = &n.body {
                named.extend(d.entries.values().copied());
                named.extend(d.durable.values().copied());
            }
        }
        self.nodes
            .retain(|ino, _| named.contains(ino) || open(*ino));
    }

    /// Number of inodes held (files and directories, named or open).
    pub fn inode_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(m: &mut Model, name: &str) -> u64 {
        m.create(ROOT, name, 0o644, 0, 0).unwrap()
    }

    fn content(m: &Model, path: &str) -> Option<Vec<u8>> {
        let ino = m.resolve(path).ok()?;
        Some(m.read(ino, 0, usize::MAX).unwrap())
    }

    #[test]
    fn ranges_merge_overlapping_and_touching() {
        let mut r = Ranges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(20, 25);
        r.insert(5, 6);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(5, 6), (10, 25), (30, 40)]);
        r.insert(0, 100);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(0, 100)]);
        r.insert(100, 100);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(0, 100)]);
    }

    #[test]
    fn unsynced_writes_vanish_and_synced_ones_stay() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.fsync(ROOT, false).unwrap();
        m.write(f, 0, b"hello").unwrap();
        m.fsync(f, true).unwrap_err();
        m.write(f, 0, b"HELLO").unwrap();
        m.fsync(f, false).unwrap();
        m.write(f, 5, b" world").unwrap();
        m.write(f, 0, b"j").unwrap();
        assert_eq!(content(&m, "a").unwrap(), b"jELLO world");
        assert!(m.is_dirty(f).unwrap());
        m.cut();
        assert_eq!(content(&m, "a").unwrap(), b"HELLO");
        assert!(!m.is_dirty(f).unwrap());
    }

    #[test]
    fn a_file_synced_but_not_its_entry_is_gone() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.write(f, 0, b"data").unwrap();
        m.fsync(f, false).unwrap();
        m.cut();
        assert_eq!(m.lookup(ROOT, "a"), Err(Errno::ENOENT));
        assert!(!m.exists(f), "the inode is gone too");
        assert_eq!(m.inode_count(), 1);
    }

    #[test]
    fn an_entry_synced_but_not_its_bytes_is_an_empty_file() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.write(f, 0, b"data").unwrap();
        m.fsync(ROOT, false).unwrap();
        m.cut();
        assert_eq!(content(&m, "a").unwrap(), b"");
    }

    #[test]
    fn size_is_durable_with_data_and_truncation_is_remembered() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.fsync(ROOT, false).unwrap();
        m.write(f, 0, &[7u8; 100]).unwrap();
        m.fsync(f, false).unwrap();
        // Truncate to 10, extend to 50 with zeros, write 2 bytes at 40: the durable
        // bytes 10..40 must be zeros, not the old sevens.
        m.set_len(f, 10).unwrap();
        m.set_len(f, 50).unwrap();
        m.write(f, 40, b"xy").unwrap();
        m.fsync(f, false).unwrap();
        m.cut();
        let c = content(&m, "a").unwrap();
        assert_eq!(c.len(), 50);
        assert_eq!(&c[..10], &[7u8; 10]);
        assert!(c[10..40].iter().all(|&b| b == 0), "{c:?}");
        assert_eq!(&c[40..42], b"xy");
        assert!(c[42..].iter().all(|&b| b == 0));
    }

    #[test]
    fn an_unsynced_truncation_is_undone_by_a_cut() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.fsync(ROOT, false).unwrap();
        m.write(f, 0, b"0123456789").unwrap();
        m.fsync(f, false).unwrap();
        m.set_len(f, 4).unwrap();
        m.write(f, 4, b"ab").unwrap();
        assert_eq!(content(&m, "a").unwrap(), b"0123ab");
        m.cut();
        assert_eq!(content(&m, "a").unwrap(), b"0123456789");
    }

    #[test]
    fn a_failed_sync_leaves_bytes_readable_but_never_durable() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.fsync(ROOT, false).unwrap();
        m.write(f, 0, b"good").unwrap();
        m.fsync(f, false).unwrap();
        m.write(f, 4, b"LOST").unwrap();
        assert_eq!(m.fsync(f, true), Err(Errno::EIO));
        // The page cache still serves them...
        assert_eq!(content(&m, "a").unwrap(), b"goodLOST");
        // ...a later sync succeeds (as on Linux, the error was reported once)...
        m.write(f, 8, b"new").unwrap();
        m.fsync(f, false).unwrap();
        assert_eq!(content(&m, "a").unwrap(), b"goodLOSTnew");
        // ...but the bytes whose sync failed were never written: zeros after a cut,
        // while the length and the later bytes are durable.
        m.cut();
        assert_eq!(content(&m, "a").unwrap(), b"good\0\0\0\0new");
    }

    #[test]
    fn a_failed_sync_of_a_directory_keeps_its_entries_unsynced() {
        let mut m = Model::new();
        file(&mut m, "a");
        assert_eq!(m.fsync(ROOT, true), Err(Errno::EIO));
        m.cut();
        assert_eq!(m.lookup(ROOT, "a"), Err(Errno::ENOENT));
    }

    #[test]
    fn renames_and_unlinks_are_durable_only_with_the_directory() {
        let mut m = Model::new();
        let a = file(&mut m, "a.tmp");
        m.write(a, 0, b"new").unwrap();
        m.fsync(a, false).unwrap();
        let b = file(&mut m, "b");
        m.write(b, 0, b"old").unwrap();
        m.fsync(b, false).unwrap();
        let c = file(&mut m, "c");
        m.fsync(ROOT, false).unwrap();
        // Rename a.tmp over b and remove c, without syncing the directory.
        m.rename(ROOT, "a.tmp", ROOT, "b", false).unwrap();
        m.unlink(ROOT, "c").unwrap();
        assert_eq!(content(&m, "b").unwrap(), b"new");
        assert_eq!(m.lookup(ROOT, "c"), Err(Errno::ENOENT));
        let mut before = m.clone();
        m.cut();
        assert_eq!(content(&m, "a.tmp").unwrap(), b"new");
        assert_eq!(content(&m, "b").unwrap(), b"old");
        assert_eq!(m.lookup(ROOT, "c").unwrap().ino, c);
        // The same with the directory synced: the rename and the removal stay.
        before.fsync(ROOT, false).unwrap();
        before.cut();
        assert_eq!(content(&before, "b").unwrap(), b"new");
        assert_eq!(before.lookup(ROOT, "a.tmp"), Err(Errno::ENOENT));
        assert_eq!(before.lookup(ROOT, "c"), Err(Errno::ENOENT));
        assert!(!before.exists(c) && !before.exists(b));
        assert_eq!(before.lookup(ROOT, "b").unwrap().ino, a);
    }

    #[test]
    fn rename_rules() {
        let mut m = Model::new();
        file(&mut m, "a");
        file(&mut m, "b");
        let d = m.mkdir(ROOT, "d", 0o755, 0, 0).unwrap();
        let e = m.mkdir(d, "e", 0o755, 0, 0).unwrap();
        assert_eq!(m.rename(ROOT, "a", ROOT, "b", true), Err(Errno::EEXIST));
        assert_eq!(m.rename(ROOT, "a", ROOT, "d", false), Err(Errno::EISDIR));
        assert_eq!(m.rename(ROOT, "d", ROOT, "a", false), Err(Errno::ENOTDIR));
        assert_eq!(m.rename(ROOT, "d", e, "x", false), Err(Errno::EINVAL));
        assert_eq!(m.rename(ROOT, "zz", ROOT, "y", false), Err(Errno::ENOENT));
        assert_eq!(m.rmdir(ROOT, "d"), Err(Errno::ENOTEMPTY));
        m.rename(ROOT, "a", e, "a2", false).unwrap();
        assert_eq!(m.path(m.resolve("d/e/a2").unwrap()), "d/e/a2");
        assert_eq!(m.unlink(ROOT, "d"), Err(Errno::EISDIR));
        assert_eq!(m.create(ROOT, "b", 0o644, 0, 0), Err(Errno::EEXIST));
        assert_eq!(m.create(ROOT, "x/y", 0o644, 0, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn subdirectories_need_their_parent_synced() {
        let mut m = Model::new();
        let d = m.mkdir(ROOT, "log", 0o755, 0, 0).unwrap();
        let f = m.create(d, "0.seg", 0o644, 0, 0).unwrap();
        m.write(f, 0, b"x").unwrap();
        m.fsync(f, false).unwrap();
        m.fsync(d, false).unwrap();
        let mut unsynced_parent = m.clone();
        unsynced_parent.cut();
        assert_eq!(unsynced_parent.resolve("log"), Err(Errno::ENOENT));
        m.fsync(ROOT, false).unwrap();
        m.cut();
        assert_eq!(content(&m, "log/0.seg").unwrap(), b"x");
    }

    #[test]
    fn fallocate_modes() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.write(f, 0, b"abc").unwrap();
        m.fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 1 << 20).unwrap();
        let a = m.getattr(f).unwrap();
        assert_eq!((a.size, a.allocated), (3, 1 << 20));
        // Extending into reserved space reads zeros.
        m.set_len(f, 10).unwrap();
        assert_eq!(content(&m, "a").unwrap(), b"abc\0\0\0\0\0\0\0");
        m.fallocate(f, 0, 0, 20).unwrap();
        assert_eq!(m.getattr(f).unwrap().size, 20);
        assert_eq!(m.fallocate(f, 0x02 | 0x01, 0, 4), Err(Errno::EOPNOTSUPP));
        assert_eq!(m.fallocate(f, 0, 0, 0), Err(Errno::EINVAL));
        assert_eq!(m.fallocate(f, 0, u64::MAX, 2), Err(Errno::EFBIG));
        // A mode-0 extension is a size change like any other: lost unless synced.
        m.fsync(ROOT, false).unwrap();
        m.cut();
        assert_eq!(content(&m, "a").unwrap(), b"");
    }

    #[test]
    fn reads_past_the_end_and_huge_offsets() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.write(f, 0, b"abc").unwrap();
        assert_eq!(m.read(f, 2, 100).unwrap(), b"c");
        assert_eq!(m.read(f, 3, 100).unwrap(), b"");
        assert_eq!(m.read(f, u64::MAX, 100).unwrap(), b"");
        assert_eq!(m.write(f, u64::MAX - 1, b"xy"), Err(Errno::EFBIG));
        assert_eq!(m.set_len(f, MAX_FILE_LEN + 1), Err(Errno::EFBIG));
        assert_eq!(m.read(ROOT, 0, 1), Err(Errno::EISDIR));
        assert_eq!(m.readdir(f), Err(Errno::ENOTDIR));
        assert_eq!(m.getattr(999), Err(Errno::ENOENT));
    }

    #[test]
    fn open_unlinked_files_live_until_forgotten() {
        let mut m = Model::new();
        let f = file(&mut m, "a");
        m.unlink(ROOT, "a").unwrap();
        m.write(f, 0, b"still").unwrap();
        assert_eq!(m.read(f, 0, 10).unwrap(), b"still");
        assert_eq!(m.getattr(f).unwrap().nlink, 0);
        m.forget_unreachable(&|i| i == f);
        assert!(m.exists(f));
        m.forget_unreachable(&|_| false);
        assert!(!m.exists(f));
    }

    #[test]
    fn inode_numbers_never_repeat_after_a_cut() {
        let mut m = Model::new();
        let a = file(&mut m, "a");
        m.cut();
        let b = file(&mut m, "a");
        assert_ne!(a, b);
    }

    #[test]
    fn readdir_lists_current_entries_sorted() {
        let mut m = Model::new();
        file(&mut m, "b");
        m.mkdir(ROOT, "a", 0o755, 0, 0).unwrap();
        let names: Vec<(String, Kind)> = m
            .readdir(ROOT)
            .unwrap()
            .into_iter()
            .map(|(n, _, k)| (n, k))
            .collect();
        assert_eq!(names, [("a".into(), Kind::Dir), ("b".into(), Kind::File)]);
        assert_eq!(m.getattr(ROOT).unwrap().nlink, 3);
    }
}
