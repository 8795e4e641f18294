//! The io_uring implementation of storage-std's [`Backend`] and [`BackendFile`].

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use storage_std::backend::{
    Access, Backend, BackendFile, DirLock, FileBackend, GroupDone, Mapped, SyncKind, WriteGroup,
};

use crate::UringError;
use crate::faults::{CompletionFaults, Target};
use crate::options::{Prealloc, UringOptions, UringStats};
use crate::plan::{
    Failure, GroupRun, Layout, Limits, Span, direct_regions, fill_group, stage_chunks,
};
use crate::probe::{ProbeError, check_release, classify_setup_error, context, imp::check_ring};
use crate::sys::{BLOCK, Op, Ring, RingSetup};

/// Prefix and suffix of segment files kept for reuse (names the log ignores).
const POOL_PREFIX: &str = "recycle-";
const POOL_SUFFIX: &str = ".free";
/// `FALLOC_FL_WRITE_ZEROES` (Linux 6.17).
const FALLOC_FL_WRITE_ZEROES: u32 = 0x80;
/// Zero-filling goes through write groups of this size.
const ZERO_CHUNK: usize = 1 << 20;
static ZEROS: [u8; ZERO_CHUNK] = [0; ZERO_CHUNK];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A log directory written through io_uring.
///
/// Directory operations (`list`, `rename`, `sync_dir`, `lock`, `map`) are the portable
/// backend's; file writes and syncs go through one ring shared by the backend's files
/// (the writer has one thread, so the ring's mutex is not contended). Reads are plain
/// `pread`s.
///
/// ```no_run
/// use std::sync::Arc;
/// use storage_std::{Durability, Writer, WriterOptions};
/// use storage_uring::{UringBackend, UringOptions};
/// let b = UringBackend::new("/var/log/events", UringOptions::default()).unwrap();
/// let o = WriterOptions::new(Durability::group()).with_preallocate(true);
/// let w: Writer = Writer::open_with(Arc::new(b), o).unwrap();
/// w.append(b"hello").unwrap();
/// w.close().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UringBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    files: FileBackend,
    opts: UringOptions,
    ring: Mutex<Ring>,
    limits: Limits,
    pool: Mutex<Pool>,
    stats: Mutex<UringStats>,
}

#[derive(Debug, Default)]
struct Pool {
    names: Vec<String>,
    next: u64,
}

impl UringBackend {
    /// Uses `dir` (created if needed): probes io_uring (see [`crate::probe`]) and sets up
    /// the backend's ring.
    pub fn new(dir: impl AsRef<Path>, opts: UringOptions) -> Result<Self, UringError> {
        let dir = dir.as_ref();
        opts.validate().map_err(UringError::InvalidOption)?;
        let ctx = context();
        if ctx.disabled == Some(2) {
            return Err(ProbeError::Disabled { value: 2 }.into());
        }
        check_release(&ctx.release)?;
        let staged = opts.direct || opts.fixed_buffers;
        // The kernel takes up to 32768 entries; more would fail setup with EINVAL and
        // read as "io_uring unavailable".
        let sq_entries = opts.sq_entries.clamp(2, 4096).next_power_of_two();
        let mut ring = Ring::new(&RingSetup {
            sq_entries,
            sqpoll_idle: opts.sqpoll,
            stage_bytes: if staged {
                opts.staging_bytes.max(BLOCK)
            } else {
                0
            },
            register_stage: opts.fixed_buffers,
        })
        .map_err(|e| match e.raw_os_error() {
            Some(errno) => UringError::from(classify_setup_error(errno, &ctx)),
            None => UringError::Unavailable(ProbeError::Setup(e)),
        })?;
        let registered = ring.registered();
        check_ring(&mut ring, &ctx, registered)?;
        let files = FileBackend::new(dir).map_err(|source| UringError::Io {
            op: "create_dir",
            path: dir.to_path_buf(),
            source,
        })?;
        let (sq, _) = ring.sizes();
        let mut limits = Limits::new(sq as usize);
        if ring.is_sqpoll() {
            // A polling thread may take at most 8 entries at a time when it serves
            // several rings; keep every chain within that so no link is cut.
            limits.sq_entries = limits.sq_entries.min(8);
        }
        let b = Self {
            inner: Arc::new(Inner {
                files,
                opts,
                ring: Mutex::new(ring),
                limits,
                pool: Mutex::new(Pool::default()),
                stats: Mutex::new(UringStats::default()),
            }),
        };
        b.load_pool().map_err(|source| UringError::Io {
            op: "list",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(b)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.inner.files.dir()
    }

    /// The options in use.
    pub fn options(&self) -> &UringOptions {
        &self.inner.opts
    }

    /// Whether the staging buffer is registered with the ring (`WRITE_FIXED`).
    pub fn fixed_buffers_active(&self) -> bool {
        lock(&self.inner.ring).registered()
    }

    /// What the backend did so far.
    pub fn stats(&self) -> UringStats {
        let mut s = *lock(&self.inner.stats);
        let c = lock(&self.inner.ring).counters;
        s.enters = c.enters;
        s.sqes = c.sqes;
        s.chains = c.chains;
        s.split_submits = c.split_submits;
        s
    }

    /// Files waiting in the reuse pool.
    pub fn pooled_files(&self) -> Vec<String> {
        lock(&self.inner.pool).names.clone()
    }

    fn load_pool(&self) -> io::Result<()> {
        let mut names: Vec<String> = self
            .inner
            .files
            .list()?
            .into_iter()
            .filter(|n| n.starts_with(POOL_PREFIX) && n.ends_with(POOL_SUFFIX))
            .collect();
        names.sort();
        let mut pool = lock(&self.inner.pool);
        pool.next = names
            .iter()
            .filter_map(|n| {
                n[POOL_PREFIX.len()..n.len() - POOL_SUFFIX.len()]
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .map_or(0, |m| m + 1);
        while names.len() > self.inner.opts.recycle {
            let n = names.remove(0);
            std::fs::remove_file(self.inner.files.dir().join(&n))?;
        }
        pool.names = names;
        Ok(())
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad file name {name:?}"),
            ));
        }
        Ok(self.inner.files.dir().join(name))
    }

    fn wrap(&self, file: File, name: &str, write: bool) -> io::Result<UringFile> {
        let direct = if write && self.inner.opts.direct && name.ends_with(".seg") {
            match open_direct(&self.path(name)?) {
                Ok(f) => {
                    lock(&self.inner.stats).direct_files += 1;
                    Some(f)
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    lock(&self.inner.stats).direct_refused += 1;
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(UringFile {
            file,
            direct,
            inner: self.inner.clone(),
        })
    }

    /// Takes a pooled file and renames it to `name` (never replacing an existing file).
    fn take_pooled(&self, name: &str) -> io::Result<Option<File>> {
        let target = self.path(name)?;
        loop {
            let Some(p) = lock(&self.inner.pool).names.pop() else {
                return Ok(None);
            };
            let from = self.path(&p)?;
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &from,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {
                    lock(&self.inner.pool).names.push(p);
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{name} exists"),
                    ));
                }
                // Gone (removed by hand): try the next one.
                Err(rustix::io::Errno::NOENT) => continue,
                Err(rustix::io::Errno::INVAL) => {
                    // No RENAME_NOREPLACE on this file system: check, then rename (one
                    // writer holds the directory lock).
                    if target.exists() {
                        lock(&self.inner.pool).names.push(p);
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{name} exists"),
                        ));
                    }
                    std::fs::rename(&from, &target)?;
                }
                Err(e) => {
                    lock(&self.inner.pool).names.push(p);
                    return Err(e.into());
                }
            }
            lock(&self.inner.stats).recycled += 1;
            let f = OpenOptions::new().read(true).write(true).open(&target)?;
            return Ok(Some(f));
        }
    }
}

fn open_direct(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

impl Backend for UringBackend {
    fn kind(&self) -> String {
        "io_uring".into()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.files.list()
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        if name.contains('/') {
            // The quarantine directory: the portable backend's files.
            return self.inner.files.create(name);
        }
        if name.ends_with(".seg")
            && self.inner.opts.recycle > 0
            && let Some(f) = self.take_pooled(name)?
        {
            // storage-std's contract for a created segment file: bytes it never wrote
            // (a recycled file's old ones) lie past the log's end and mean nothing.
            return Ok(Box::new(self.wrap(f, name, true)?));
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path(name)?)?;
        Ok(Box::new(self.wrap(f, name, true)?))
    }

    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        if name.contains('/') {
            return self.inner.files.open(name, access);
        }
        let write = access == Access::ReadWrite;
        let f = OpenOptions::new()
            .read(true)
            .write(write)
            .open(self.path(name)?)?;
        Ok(Box::new(self.wrap(f, name, write)?))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.files.rename(from, to)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        if name.contains('/') {
            return self.inner.files.remove(name);
        }
        // Only retention's retirements recycle (`retire`): a segment removed otherwise
        // (recovery's) may be linked into quarantine/, and reusing its inode would
        // overwrite the kept bytes.
        std::fs::remove_file(self.path(name)?)
    }

    fn retire(&self, name: &str) -> io::Result<()> {
        if name.contains('/') {
            return self.inner.files.remove(name);
        }
        let path = self.path(name)?;
        if name.ends_with(".seg") {
            let mut pool = lock(&self.inner.pool);
            if pool.names.len() < self.inner.opts.recycle {
                let keep = format!("{POOL_PREFIX}{:020}{POOL_SUFFIX}", pool.next);
                std::fs::rename(&path, self.path(&keep)?)?;
                pool.next += 1;
                pool.names.insert(0, keep);
                return Ok(());
            }
        }
        std::fs::remove_file(path)
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.inner.files.sync_dir()
    }

    fn lock(&self) -> io::Result<DirLock> {
        self.inner.files.lock()
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.files.map(name)
    }

    fn lock_held(&self) -> io::Result<bool> {
        self.inner.files.lock_held()
    }

    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.files.link(from, to)
    }

    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.inner.files.list_quarantine()
    }

    fn sync_quarantine(&self) -> io::Result<()> {
        self.inner.files.sync_quarantine()
    }
}

/// One file of a [`UringBackend`].
#[derive(Debug)]
pub struct UringFile {
    /// Buffered descriptor: reads, size, truncation, buffered writes.
    file: File,
    /// O_DIRECT descriptor for the whole-block writes of a segment file in direct mode.
    direct: Option<File>,
    inner: Arc<Inner>,
}

/// Where a round's write operations take their bytes.
enum Source<'a> {
    /// The caller's buffers, written at `offset`.
    Bufs {
        bufs: &'a [&'a [u8]],
        layout: Layout,
        offset: u64,
    },
    /// The staging buffer's first `len` bytes, written at `offset`.
    Stage { len: u64, offset: u64 },
}

fn failure_error(f: Failure) -> io::Error {
    match f {
        Failure::Write(e) | Failure::Sync(e) => io::Error::from_raw_os_error(e),
        Failure::WriteZero => io::Error::new(io::ErrorKind::WriteZero, "write wrote 0 bytes"),
        Failure::NoProgress => {
            io::Error::other("io_uring kept answering EAGAIN/EINTR: no progress")
        }
    }
}

fn fault(faults: Option<&CompletionFaults>, t: Target, res: i32) -> i32 {
    faults.map_or(res, |f| f.apply(t, res))
}

/// The descriptors a file's operations use: buffered writes (and syncs of a file
/// without O_DIRECT), and O_DIRECT writes.
#[derive(Debug, Clone, Copy)]
struct Fds {
    buffered: RawFd,
    direct: Option<RawFd>,
}

impl Fds {
    fn write(&self, direct: bool) -> RawFd {
        match (direct, self.direct) {
            (true, Some(d)) => d,
            _ => self.buffered,
        }
    }

    /// A sync of either descriptor syncs the whole file (data, size, extents).
    fn sync(&self) -> RawFd {
        self.direct.unwrap_or(self.buffered)
    }
}

/// Runs a group's rounds until it is written (and synced) or fails.
fn drive(
    ring: &mut Ring,
    inner: &Inner,
    run: &mut GroupRun,
    src: &Source<'_>,
    fds: Fds,
    data_sync: bool,
) -> io::Result<u64> {
    let faults = inner.opts.faults.as_ref();
    let layout = match src {
        Source::Bufs { layout, .. } => layout.clone(),
        Source::Stage { len, .. } => Layout::new([*len as usize]),
    };
    let mut rounds = 0u64;
    while let Some(chains) = run.start_round(&layout, &inner.limits) {
        rounds += 1;
        let spans: Vec<Span> = run.ops().to_vec();
        let iovs: Vec<Vec<IoSlice<'_>>> = match src {
            Source::Bufs { bufs, .. } => spans
                .iter()
                .map(|s| {
                    layout
                        .pieces(*s)
                        .into_iter()
                        .map(|(i, r)| IoSlice::new(&bufs[i][r]))
                        .collect()
                })
                .collect(),
            Source::Stage { .. } => Vec::new(),
        };
        for (ci, c) in chains.iter().enumerate() {
            let mut ops = Vec::with_capacity(c.entries());
            for k in c.ops.clone() {
                let s = spans[k];
                let fd = fds.write(run.op_direct(k));
                ops.push(match src {
                    Source::Bufs { offset, .. } => match iovs[k].as_slice() {
                        [one] => Op::Write {
                            fd,
                            offset: offset + s.start,
                            buf: one,
                        },
                        many => Op::Writev {
                            fd,
                            offset: offset + s.start,
                            iov: many,
                        },
                    },
                    Source::Stage { offset, .. } => Op::Staged {
                        fd,
                        offset: offset + s.start,
                        range: s.start as usize..s.end as usize,
                    },
                });
            }
            if c.sync {
                ops.push(Op::Sync {
                    fd: fds.sync(),
                    data: data_sync,
                });
            }
            let mut res = vec![0i32; ops.len()];
            // An error here means the ring is unusable and nothing is in flight.
            if !ring.run_chain(&ops, &mut res)? {
                run.record_split_submit();
            }
            for (j, k) in c.ops.clone().enumerate() {
                run.record_write(k, fault(faults, Target::Write, res[j]));
            }
            if c.sync {
                run.record_sync(fault(faults, Target::Sync, res[ops.len() - 1]));
            }
            if run.failure().is_some() {
                run.record_unsubmitted(&chains[ci + 1..]);
                break;
            }
        }
        run.end_round();
    }
    if let Some(f) = run.failure() {
        return Err(failure_error(f));
    }
    Ok(rounds.saturating_sub(1))
}

impl UringFile {
    fn fds(&self) -> Fds {
        Fds {
            buffered: self.file.as_raw_fd(),
            direct: self.direct.as_ref().map(|d| d.as_raw_fd()),
        }
    }

    fn staged(&self) -> bool {
        self.direct.is_some()
            || (self.inner.opts.fixed_buffers && lock(&self.inner.ring).registered())
    }

    fn count_other(&self, n: u64) {
        lock(&self.inner.stats).other_syscalls += n;
    }

    /// Writes a group from the caller's buffers (`write`/`writev`, buffered).
    fn write_vectored(&mut self, g: &WriteGroup<'_>) -> io::Result<bool> {
        let total = g.len();
        let want_sync = g.sync != SyncKind::None;
        let mut run = GroupRun::new(total, want_sync, 1);
        let src = Source::Bufs {
            bufs: g.bufs,
            layout: Layout::new(g.bufs.iter().map(|b| b.len())),
            offset: g.offset,
        };
        let fds = Fds {
            direct: None,
            ..self.fds()
        };
        let mut ring = lock(&self.inner.ring);
        let retries = drive(
            &mut ring,
            &self.inner,
            &mut run,
            &src,
            fds,
            g.sync == SyncKind::Data,
        )?;
        drop(ring);
        lock(&self.inner.stats).retry_rounds += retries;
        Ok(run.synced())
    }

    /// Writes a group through the staging buffer: for O_DIRECT, its whole blocks direct
    /// and its partial first and last blocks buffered ([`direct_regions`]: no byte
    /// outside the group is written, none is read back); for registered buffers, as is.
    ///
    /// The stage holds the group at the same offset within a block as in the file, so
    /// every whole block is aligned in memory too; a group larger than the stage goes in
    /// chunks of whole blocks, the sync in the last.
    fn write_staged(&mut self, g: &WriteGroup<'_>) -> io::Result<bool> {
        let direct = self.direct.is_some();
        let block = if direct { BLOCK as u64 } else { 1 };
        let start = g.offset;
        let end = g.offset + g.len();
        let file_start = start / block * block;
        let fds = self.fds();
        let want_sync = g.sync != SyncKind::None;
        let mut ring = lock(&self.inner.ring);
        let cap = (ring.stage_mut().len() as u64 / BLOCK as u64) * BLOCK as u64;
        let chunks = stage_chunks(end - file_start, cap);
        let mut synced = false;
        let mut retries = 0;
        for (i, c) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let chunk_at = file_start + c.start;
            // The group's bytes in this chunk, counted from the chunk's first byte.
            let from = start.max(chunk_at) - chunk_at;
            let n = c.len();
            fill_group(
                &mut ring.stage_mut()[from as usize..n as usize],
                chunk_at + from - start,
                g.bufs,
            );
            let regions = direct_regions(from, n, block, direct);
            let mut run = GroupRun::with_regions(&regions, last && want_sync, block);
            let src = Source::Stage {
                len: n,
                offset: chunk_at,
            };
            retries += drive(
                &mut ring,
                &self.inner,
                &mut run,
                &src,
                fds,
                g.sync == SyncKind::Data,
            )?;
            if last {
                synced = run.synced();
            }
        }
        drop(ring);
        lock(&self.inner.stats).retry_rounds += retries;
        Ok(synced)
    }

    fn write_group_inner(&mut self, g: &WriteGroup<'_>) -> io::Result<GroupDone> {
        {
            let mut s = lock(&self.inner.stats);
            s.groups += 1;
            if g.sync != SyncKind::None {
                s.synced_groups += 1;
            }
        }
        let synced = if !g.is_empty() && self.staged() {
            self.write_staged(g)?
        } else {
            self.write_vectored(g)?
        };
        Ok(GroupDone {
            written: g.len(),
            synced: synced && g.sync != SyncKind::None,
        })
    }

    fn fallocate(&mut self, flags: u32, offset: u64, len: u64) -> io::Result<bool> {
        self.count_other(1);
        match rustix::fs::fallocate(
            &self.file,
            rustix::fs::FallocateFlags::from_bits_retain(flags),
            offset,
            len,
        ) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => {
                lock(&self.inner.stats).fallocate_unsupported += 1;
                Ok(false)
            }
            // WRITE_ZEROES unknown to an older kernel.
            Err(rustix::io::Errno::INVAL) if flags == FALLOC_FL_WRITE_ZEROES => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn zero_fill(&mut self, from: u64, to: u64) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        if !self.fallocate(FALLOC_FL_WRITE_ZEROES, from, to - from)? {
            let mut pos = from;
            while pos < to {
                let n = ((to - pos) as usize).min(ZERO_CHUNK);
                self.write_group_inner(&WriteGroup {
                    offset: pos,
                    bufs: &[&ZEROS[..n]],
                    sync: SyncKind::None,
                })?;
                pos += n as u64;
            }
        }
        lock(&self.inner.stats).zero_filled += to - from;
        Ok(())
    }
}

impl BackendFile for UringFile {
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
        self.write_group_inner(group)
    }

    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        if kind == SyncKind::None {
            return Ok(());
        }
        let mut run = GroupRun::new(0, true, 1);
        let src = Source::Bufs {
            bufs: &[],
            layout: Layout::new([]),
            offset: 0,
        };
        let fds = self.fds();
        let mut ring = lock(&self.inner.ring);
        drive(
            &mut ring,
            &self.inner,
            &mut run,
            &src,
            fds,
            kind == SyncKind::Data,
        )?;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.count_other(1);
        self.file.set_len(len)
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let r = match self.inner.opts.prealloc {
            Prealloc::Off => Ok(()),
            Prealloc::Fallocate => self
                .fallocate(rustix::fs::FallocateFlags::KEEP_SIZE.bits(), 0, len)
                .map(|_| ()),
            Prealloc::ZeroFill => {
                let cur = self.len()?;
                self.fallocate(rustix::fs::FallocateFlags::KEEP_SIZE.bits(), 0, len)
                    .and_then(|_| self.zero_fill(cur, len))
            }
        };
        if r.is_err() {
            // A failed fallocate (ENOSPC) may keep the blocks it took: give them back.
            storage_std::backend::give_back_preallocation(&self.file, len);
        }
        r
    }
}
