//! Real files in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup};
use crate::format::{LOCK_FILE, QUARANTINE_DIR};

/// A log directory on a real file system.
///
/// ```
/// use storage_std::backend::{Backend, FileBackend};
/// let dir = tempfile::tempdir().unwrap();
/// let b = FileBackend::new(dir.path()).unwrap();
/// let _lock = b.lock().unwrap();
/// assert_eq!(b.lock().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
/// ```
#[derive(Debug, Clone)]
pub struct FileBackend {
    dir: PathBuf,
    preallocate: bool,
    early_writeback: bool,
}

impl FileBackend {
    /// Uses `dir`, creating it (and its parents) if needed. Every directory it creates
    /// is made durable: the directory that holds it is synced, so a power cut cannot
    /// take a log's whole directory away after its first records were reported durable.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        create_dir_durably(&dir)?;
        Ok(Self {
            dir,
            preallocate: true,
            early_writeback: true,
        })
    }

    /// Uses an existing `dir` without creating anything (for read-only tools).
    pub fn existing(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self {
            dir,
            preallocate: true,
            early_writeback: true,
        })
    }

    /// Whether [`BackendFile::preallocate`] calls `fallocate` (default true).
    pub fn with_preallocate(mut self, on: bool) -> Self {
        self.preallocate = on;
        self
    }

    /// Whether a write without a sync starts writing its bytes back to the disk at once
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait; default true).
    ///
    /// A log's unsynced writes (`Durability::None`) are all synced later, at the latest
    /// when their segment is sealed. Started early, that writeback runs while the writer
    /// goes on, instead of the seal's sync waiting for a whole segment of dirty pages
    /// (`log_peers`, None, 64 MiB segments: 1.5-1.7x the events per second on a 2-vCPU
    /// host). Durability is unchanged: nothing counts as durable before its sync.
    pub fn with_early_writeback(mut self, on: bool) -> Self {
        self.early_writeback = on;
        self
    }

    /// This backend handing out pre-written (zeroed) segment files, kept ready in the
    /// background, and with `opts.recycle` reusing the files retention deletes: see
    /// [`SpareBackend`](super::SpareBackend). Spares follow the writer's preallocated
    /// segment size (`WriterOptions::preallocate`).
    pub fn with_spares(self, opts: super::SpareOptions) -> super::SpareBackend<Self> {
        super::SpareBackend::new(self, opts)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        let plain = |n: &str| !(n.is_empty() || n.contains('/') || n == "." || n == "..");
        let ok = match name.split_once('/') {
            None => plain(name),
            Some((dir, file)) => dir == QUARANTINE_DIR && plain(file),
        };
        if !ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad file name {name:?}"),
            ));
        }
        Ok(self.dir.join(name))
    }

    /// Creates the quarantine directory (durably) if `name` is in it.
    fn quarantine_dir_for(&self, name: &str) -> io::Result<()> {
        if name.starts_with(QUARANTINE_DIR) && name.contains('/') {
            create_dir_durably(&self.dir.join(QUARANTINE_DIR))?;
        }
        Ok(())
    }
}

/// Whether a lock on the file `path` appears in `/proc/locks` (Linux): the lock table
/// names each held lock by device and inode, so a reader learns that a writer holds the
/// log's lock without ever taking it.
#[cfg(target_os = "linux")]
fn flock_held(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let dev = meta.dev();
    let want = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let table = fs::read_to_string("/proc/locks")?;
    Ok(table.lines().any(|l| {
        // `1: FLOCK  ADVISORY  WRITE 4070 fd:01:1584393 0 EOF`; waiters carry `->`.
        !l.contains("->") && l.split_whitespace().any(|f| f == want)
    }))
}

/// Creates `dir` and any missing parents, syncing the directory that holds each one
/// created (outermost first), so each new entry is durable before anything goes in it.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if fs::metadata(d).is_ok() {
            break;
        }
        missing.push(d);
        cur = d.parent().filter(|p| !p.as_os_str().is_empty());
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            // Another process created it meanwhile: its creator syncs its parent.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    if !fs::metadata(dir)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", dir.display()),
        ));
    }
    Ok(())
}

/// One real file.
#[derive(Debug)]
pub struct RealFile {
    file: File,
    preallocate: bool,
    early_writeback: bool,
}

impl RealFile {
    /// The underlying file (an io_uring backend may submit on its descriptor).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Backend for FileBackend {
    fn kind(&self) -> String {
        "file".into()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            if let Ok(name) = e.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        self.quarantine_dir_for(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path(name)?)?;
        Ok(Box::new(RealFile {
            file,
            preallocate: self.preallocate,
            early_writeback: self.early_writeback,
        }))
    }

    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(access == Access::ReadWrite)
            .open(self.path(name)?)?;
        Ok(Box::new(RealFile {
            file,
            preallocate: self.preallocate,
            early_writeback: self.early_writeback,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from)?, self.path(to)?)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name)?)
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn lock(&self) -> io::Result<DirLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(LOCK_FILE)?)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DirLock::new(Box::new(file))),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another writer", self.dir.display()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        let file = File::open(self.path(name)?)?;
        super::mmap::map_file(&file)
    }

    #[cfg(target_os = "linux")]
    fn lock_held(&self) -> io::Result<bool> {
        flock_held(&self.path(LOCK_FILE)?)
    }

    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.quarantine_dir_for(to)?;
        fs::hard_link(self.path(from)?, self.path(to)?)
    }

    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(self.dir.join(QUARANTINE_DIR)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for e in rd {
            if let Ok(name) = e?.file_name().into_string() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn sync_quarantine(&self) -> io::Result<()> {
        let q = self.dir.join(QUARANTINE_DIR);
        if q.is_dir() {
            File::open(&q)?.sync_all()?;
        }
        Ok(())
    }
}

impl BackendFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        let total = group.len();
        let mut written: u64 = 0;
        // Skip slices (and parts of the first slice) already written; retry short writes.
        while written < total {
            let mut skip = written;
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(group.bufs.len());
            for b in group.bufs {
                let l = b.len() as u64;
                if skip >= l {
                    skip -= l;
                    continue;
                }
                slices.push(IoSlice::new(&b[skip as usize..]));
                skip = 0;
                if slices.len() == 512 {
                    break;
                }
            }
            match rustix::io::pwritev(&self.file, &slices, group.offset + written) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote 0")),
                Ok(n) => written += n as u64,
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let synced = match group.sync {
            SyncKind::None => {
                if self.early_writeback && written > 0 {
                    // A hint: an error here (EIO) is the sync's to report, which every
                    // caller that needs the bytes durable makes.
                    let _ = start_writeback(&self.file, group.offset, written);
                }
                false
            }
            kind => {
                self.sync(kind)?;
                true
            }
        };
        Ok(GroupDone { written, synced })
    }

    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        match kind {
            SyncKind::None => Ok(()),
            SyncKind::Data => self.file.sync_data(),
            SyncKind::All => self.file.sync_all(),
        }
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        if !self.preallocate {
            return Ok(());
        }
        match rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len) {
            Ok(()) => Ok(()),
            // File systems without fallocate (some FUSE, NFS): fall back to nothing.
            Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => Ok(()),
            Err(e) => {
                // A failed fallocate (ENOSPC) may keep the blocks it took: give them back.
                give_back_preallocation(&self.file, len);
                Err(e.into())
            }
        }
    }

    /// Other systems have no `fallocate` that keeps the size: nothing is reserved.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = (len, self.preallocate);
        Ok(())
    }
}

/// Frees the blocks a failed `fallocate(KEEP_SIZE, 0, len)` may have reserved past the
/// end of `file` (best effort: punching a hole past the end changes no byte).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn give_back_preallocation(file: &File, len: u64) {
    let Ok(size) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if len > size {
        let _ = rustix::fs::fallocate(
            file,
            rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
            size,
            len - size,
        );
    }
}

/// Starts writing `file`'s dirty pages in `offset..offset + len` back to the disk without
/// waiting for them (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Durability still needs a
/// sync: this only moves the writeback earlier.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: `sync_file_range` takes a descriptor and three integers and reads or writes
    // no memory of this process; `file` keeps the descriptor open for the call.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Without `sync_file_range` (other systems, Miri): nothing starts early; the sync that
/// makes the bytes durable writes them.
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let _ = (file, offset, len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "opens real files")]
    fn unsynced_group_writes_land_and_start_their_writeback() {
        let dir = tempfile::tempdir().unwrap();
        for early in [true, false] {
            let b = FileBackend::new(dir.path())
                .unwrap()
                .with_early_writeback(early);
            let name = format!("early-{early}");
            let mut f = b.create(&name).unwrap();
            let bytes = vec![7u8; 3 << 20];
            let done = f
                .write_group(&WriteGroup {
                    offset: 4096,
                    bufs: &[&bytes[..1 << 20], &bytes[1 << 20..]],
                    sync: SyncKind::None,
                })
                .unwrap();
            assert_eq!((done.written, done.synced), (3 << 20, false));
            let on_disk = fs::read(dir.path().join(&name)).unwrap();
            assert_eq!(on_disk.len(), 4096 + (3 << 20));
            assert!(on_disk[..4096].iter().all(|&x| x == 0));
            assert!(on_disk[4096..].iter().all(|&x| x == 7));
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    #[cfg_attr(miri, ignore = "calls sync_file_range")]
    fn writeback_is_started_on_files_and_refused_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[1u8; 8192], 0).unwrap();
        start_writeback(&file, 0, 8192).unwrap();
        // A pipe has no pages to write back: the call is made and refused (ESPIPE).
        let (read_end, _write_end) = std::io::pipe().unwrap();
        let pipe = File::from(std::os::fd::OwnedFd::from(read_end));
        assert_eq!(
            start_writeback(&pipe, 0, 8192).unwrap_err().raw_os_error(),
            Some(libc::ESPIPE)
        );
        assert_eq!(
            start_writeback(&file, u64::MAX, 1).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
