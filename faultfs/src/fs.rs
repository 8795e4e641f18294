//! The FUSE side: requests from the kernel applied to the [`Model`] under one lock, with
//! the cut, the injected sync failures, the observer and the trace.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno as FuseErrno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};

use crate::model::{Attr, Errno, Kind, Model};

/// How long the kernel may cache attributes and entries. Every change goes through the
/// kernel, so the caches stay right until a cut, after which a remount drops them.
const TTL: Duration = Duration::from_secs(1);

/// What an O_DIRECT open gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectIo {
    /// Opened; direct writes reach the model as ordinary (unsynced) writes.
    #[default]
    Accept,
    /// EINVAL, as from a file system without O_DIRECT (callers fall back).
    Refuse,
}

/// A state-changing operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A file created (`path`).
    Create,
    /// A directory created.
    Mkdir,
    /// A file's entry removed.
    Unlink,
    /// A directory removed.
    Rmdir,
    /// `path` renamed to `target`.
    Rename,
    /// `len` bytes written at `offset`.
    Write,
    /// Truncated or extended to `offset`.
    SetLen,
    /// `fallocate` of `offset..offset + len` (`mode` in `target`'s place: see [`Op`]).
    Fallocate,
    /// `fsync` of a file.
    Fsync,
    /// `fdatasync` of a file.
    Fdatasync,
    /// `fsync` of a directory.
    FsyncDir,
}

impl OpKind {
    /// Whether this is a file sync (`fsync` or `fdatasync` of a file).
    pub fn is_file_sync(self) -> bool {
        matches!(self, Self::Fsync | Self::Fdatasync)
    }
}

/// An operation as the observer sees it, before it is applied.
#[derive(Debug, Clone, Copy)]
pub struct Op<'a> {
    /// 1 for the first state-changing operation of the mount's life (counts across
    /// restores).
    pub index: u64,
    /// What it does.
    pub kind: OpKind,
    /// The file or directory, from the mount's root (`"log/00000000000000000000.seg"`).
    pub path: &'a str,
    /// Rename: the new path; empty otherwise.
    pub target: &'a str,
    /// Write and fallocate: the offset; set_len: the new length.
    pub offset: u64,
    /// Write and fallocate: the length.
    pub len: u64,
    /// Fallocate: the mode.
    pub mode: i32,
    /// Write: the bytes.
    pub data: &'a [u8],
}

/// What the observer wants done with an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Apply it.
    #[default]
    Proceed,
    /// Cut the power instead: the operation fails with EIO and changes nothing.
    CutBefore,
    /// Apply it and answer it, then cut the power.
    CutAfter,
    /// Fail it with EIO. A file sync fails as [`crate::Handle::fail_next_sync`] makes
    /// it fail (the written bytes stay readable, never durable); anything else changes
    /// nothing.
    Fail,
    /// A sync answers success and makes nothing durable: a disk that acknowledges a
    /// flush it never did. For a file, the bytes it should have written are dropped
    /// like a failed sync's (readable, never durable unless rewritten), while a later
    /// honest sync still commits the length; a directory keeps its entries unsynced.
    /// Any other operation proceeds.
    Lie,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied.
    Ok,
    /// Refused with this error (EIO for a failed sync).
    Err(Errno),
    /// The power was cut before it: not applied.
    CutBefore,
    /// Applied, then the power was cut.
    CutAfter,
    /// A sync answered success without making anything durable ([`Verdict::Lie`]).
    Lied,
}

/// One traced operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// [`Op::index`].
    pub index: u64,
    /// [`Op::kind`].
    pub kind: OpKind,
    /// [`Op::path`].
    pub path: String,
    /// [`Op::target`].
    pub target: String,
    /// [`Op::offset`].
    pub offset: u64,
    /// [`Op::len`].
    pub len: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// What the file system did (across restores).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// State-changing operations seen (applied, failed or cut).
    pub ops: u64,
    /// Writes applied.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Reads answered.
    pub reads: u64,
    /// File syncs that succeeded.
    pub file_syncs: u64,
    /// File syncs failed on purpose.
    pub failed_syncs: u64,
    /// Directory syncs that succeeded.
    pub dir_syncs: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Requests refused with EIO because the power was off (or came from a mount
    /// before the last restore).
    pub refused_after_cut: u64,
}

/// An observer of state-changing operations.
pub(crate) type Observer = Box<dyn FnMut(&Op<'_>) -> Verdict + Send>;

/// Everything behind the lock.
pub(crate) struct State {
    pub model: Model,
    /// The mount currently served; requests from older mounts get EIO.
    pub epoch: u64,
    /// Power off: every request gets EIO.
    pub frozen: bool,
    pub fail_syncs: u32,
    pub direct_io: DirectIo,
    /// How long every sync takes (a disk's flush), slept before it is applied.
    pub sync_latency: Duration,
    pub counters: Counters,
    pub observer: Option<Observer>,
    pub trace: VecDeque<OpRecord>,
    pub trace_len: usize,
    /// Open handles per inode, in the current mount.
    pub open: HashMap<u64, u32>,
    next_fh: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("epoch", &self.epoch)
            .field("frozen", &self.frozen)
            .field("fail_syncs", &self.fail_syncs)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn new(trace_len: usize, direct_io: DirectIo) -> Self {
        Self {
            model: Model::new(),
            epoch: 0,
            frozen: false,
            fail_syncs: 0,
            direct_io,
            sync_latency: Duration::ZERO,
            counters: Counters::default(),
            observer: None,
            trace: VecDeque::new(),
            trace_len,
            open: HashMap::new(),
            next_fh: 1,
        }
    }

    /// The power cut: freeze, then drop everything unsynced. False if already off.
    pub(crate) fn cut(&mut self) -> bool {
        if self.frozen {
            return false;
        }
        self.frozen = true;
        self.model.cut();
        self.counters.cuts += 1;
        true
    }

    fn record(&mut self, op: &Op<'_>, outcome: Outcome) {
        if self.trace_len == 0 {
            return;
        }
        if self.trace.len() == self.trace_len {
            self.trace.pop_front();
        }
        self.trace.push_back(OpRecord {
            index: op.index,
            kind: op.kind,
            path: op.path.to_owned(),
            target: op.target.to_owned(),
            offset: op.offset,
            len: op.len,
            outcome,
        });
    }
}

/// The lock and the condition variable a cut signals.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub cut_cv: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The FUSE file system of one mount (one epoch).
#[derive(Debug)]
pub(crate) struct FaultFuse {
    pub shared: std::sync::Arc<Shared>,
    pub epoch: u64,
    /// Ask the kernel for asynchronous direct I/O (`FUSE_ASYNC_DIO`).
    pub async_dio: bool,
}

fn fuse_errno(e: Errno) -> FuseErrno {
    FuseErrno::from_i32(e.0)
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.allocated.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.ctime,
        kind: match a.kind {
            Kind::File => FileType::RegularFile,
            Kind::Dir => FileType::Directory,
        },
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn name_str(name: &OsStr) -> Result<&str, Errno> {
    name.to_str().ok_or(Errno::EINVAL)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

impl FaultFuse {
    /// The state, or EIO when the power is off or this mount is not the current one.
    fn live(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let mut st = self.shared.lock();
        if st.frozen || st.epoch != self.epoch {
            st.counters.refused_after_cut += 1;
            return Err(Errno::EIO);
        }
        Ok(st)
    }

    /// Runs a state-changing operation through the observer, the injected failures
    /// and the trace. `describe` names it from the model; `apply` does it.
    fn mutate<T>(
        &self,
        describe: impl FnOnce(&Model) -> Result<Described, Errno>,
        data: &[u8],
        apply: impl FnOnce(&mut Model, Effect) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let mut guard = self.live()?;
        let st = &mut *guard;
        let d = describe(&st.model)?;
        st.counters.ops += 1;
        let op = Op {
            index: st.counters.ops,
            kind: d.kind,
            path: &d.path,
            target: &d.target,
            offset: d.offset,
            len: d.len,
            mode: d.mode,
            data,
        };
        let mut verdict = match st.observer.as_mut() {
            Some(obs) => obs(&op),
            None => Verdict::Proceed,
        };
        if verdict == Verdict::Proceed && d.kind.is_file_sync() && st.fail_syncs > 0 {
            st.fail_syncs -= 1;
            verdict = Verdict::Fail;
        }
        let is_sync = d.kind.is_file_sync() || d.kind == OpKind::FsyncDir;
        if verdict == Verdict::Lie && !is_sync {
            verdict = Verdict::Proceed;
        }
        match verdict {
            Verdict::CutBefore => {
                st.record(&op, Outcome::CutBefore);
                st.cut();
                drop(guard);
                self.shared.cut_cv.notify_all();
                Err(Errno::EIO)
            }
            Verdict::Fail => {
                if d.kind.is_file_sync() {
                    st.counters.failed_syncs += 1;
                    // The model forgets the dirty ranges and answers EIO.
                    let _ = apply(&mut st.model, Effect::FailSync);
                }
                st.record(&op, Outcome::Err(Errno::EIO));
                Err(Errno::EIO)
            }
            Verdict::Lie => {
                let r = apply(&mut st.model, Effect::SkipSync);
                st.record(&op, Outcome::Lied);
                r
            }
            Verdict::Proceed | Verdict::CutAfter => {
                let r = apply(&mut st.model, Effect::Apply);
                match (&r, d.kind) {
                    (Ok(_), OpKind::Write) => {
                        st.counters.writes += 1;
                        st.counters.bytes_written += d.len;
                    }
                    (Ok(_), OpKind::Fsync | OpKind::Fdatasync) => st.counters.file_syncs += 1,
                    (Ok(_), OpKind::FsyncDir) => st.counters.dir_syncs += 1,
                    _ => {}
                }
                if verdict == Verdict::CutAfter {
                    st.record(&op, Outcome::CutAfter);
                    st.cut();
                    drop(guard);
                    self.shared.cut_cv.notify_all();
                } else {
                    let outcome = match &r {
                        Ok(_) => Outcome::Ok,
                        Err(e) => Outcome::Err(*e),
                    };
                    st.record(&op, outcome);
                }
                r
            }
        }
    }

    /// Sleeps for the configured sync latency (without holding the lock).
    fn sync_delay(&self) {
        let d = self.shared.lock().sync_latency;
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }

    fn open_handle(&self, st: &mut State, ino: u64) -> u64 {
        *st.open.entry(ino).or_insert(0) += 1;
        let fh = st.next_fh;
        st.next_fh += 1;
        fh
    }

    fn check_direct(st: &State, flags: i32) -> Result<(), Errno> {
        if flags & libc::O_DIRECT != 0 && st.direct_io == DirectIo::Refuse {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

/// How a state-changing operation is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// As asked.
    Apply,
    /// A file sync that fails (EIO; the dirty ranges are forgotten).
    FailSync,
    /// A sync that answers success and drops what it should have written.
    SkipSync,
}

/// A file or directory sync as the effect says.
fn sync_with(m: &mut Model, ino: u64, e: Effect) -> Result<(), Errno> {
    match e {
        Effect::Apply => m.fsync(ino, false),
        Effect::FailSync => m.fsync(ino, true),
        Effect::SkipSync => match m.fsync(ino, true) {
            // A file's sync "failed" silently; a directory's did nothing.
            Err(Errno::EIO) => Ok(()),
            r => r,
        },
    }
}

/// A described operation (see [`Op`]).
struct Described {
    kind: OpKind,
    path: String,
    target: String,
    offset: u64,
    len: u64,
    mode: i32,
}

impl Described {
    fn new(kind: OpKind, path: String) -> Self {
        Self {
            kind,
            path,
            target: String::new(),
            offset: 0,
            len: 0,
            mode: 0,
        }
    }
}

impl Filesystem for FaultFuse {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if self.async_dio {
            // A kernel without it serves direct I/O synchronously, which is fine too.
            let _ = config.add_capabilities(InitFlags::FUSE_ASYNC_DIO);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = (|| {
            let st = self.live()?;
            st.model.lookup(parent.0, name_str(name)?)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.live().and_then(|st| st.model.getattr(ino.0)) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = (|| {
            if let Some(len) = size {
                self.mutate(
                    |m| {
                        let mut d = Described::new(OpKind::SetLen, m.path(ino.0));
                        d.offset = len;
                        Ok(d)
                    },
                    &[],
                    |m, _| m.set_len(ino.0, len),
                )?;
            }
            let mut st = self.live()?;
            // Metadata other than the size is not modelled as durable or not.
            st.model.set_meta(
                ino.0,
                mode.map(|m| (m & 0o7777) as u16),
                uid,
                gid,
                mtime.is_some(),
            )?;
            st.model.getattr(ino.0)
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let name = name_str(name)?;
            let ino = self.mutate(
                |m| Ok(Described::new(OpKind::Mkdir, join(&m.path(parent.0), name))),
                &[],
                |m, _| {
                    m.mkdir(
                        parent.0,
                        name,
                        (mode & !umask & 0o7777) as u16,
                        req.uid(),
                        req.gid(),
                    )
                },
            )?;
            self.live()?.model.getattr(ino)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = name_str(name).and_then(|name| {
            self.mutate(
                |m| {
                    Ok(Described::new(
                        OpKind::Unlink,
                        join(&m.path(parent.0), name),
                    ))
                },
                &[],
                |m, _| m.unlink(parent.0, name),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = name_str(name).and_then(|name| {
            self.mutate(
                |m| Ok(Described::new(OpKind::Rmdir, join(&m.path(parent.0), name))),
                &[],
                |m, _| m.rmdir(parent.0, name),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            let (name, newname) = (name_str(name)?, name_str(newname)?);
            if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
                return Err(Errno::EINVAL);
            }
            let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
            self.mutate(
                |m| {
                    let mut d = Described::new(OpKind::Rename, join(&m.path(parent.0), name));
                    d.target = join(&m.path(newparent.0), newname);
                    Ok(d)
                },
                &[],
                |m, _| m.rename(parent.0, name, newparent.0, newname, no_replace),
            )
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = (|| {
            let mut st = self.live()?;
            Self::check_direct(&st, flags.0)?;
            st.model.getattr(ino.0)?;
            Ok(self.open_handle(&mut st, ino.0))
        })();
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = (|| {
            let name = name_str(name)?;
            Self::check_direct(&*self.live()?, flags)?;
            let ino = self.mutate(
                |m| {
                    Ok(Described::new(
                        OpKind::Create,
                        join(&m.path(parent.0), name),
                    ))
                },
                &[],
                |m, _| {
                    m.create(
                        parent.0,
                        name,
                        (mode & !umask & 0o7777) as u16,
                        req.uid(),
                        req.gid(),
                    )
                },
            )?;
            let mut st = self.live()?;
            let a = st.model.getattr(ino)?;
            Ok((a, self.open_handle(&mut st, ino)))
        })();
        match r {
            Ok((a, fh)) => reply.created(
                &TTL,
                &file_attr(&a),
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.live().and_then(|mut st| {
            st.counters.reads += 1;
            st.model.read(ino.0, offset, size as usize)
        });
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.mutate(
            |m| {
                let mut d = Described::new(OpKind::Write, m.path(ino.0));
                d.offset = offset;
                d.len = data.len() as u64;
                Ok(d)
            },
            data,
            |m, _| m.write(ino.0, offset, data),
        );
        match r {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.live() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.shared.lock();
        if st.epoch == self.epoch {
            let last = match st.open.get_mut(&ino.0) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    st.open.remove(&ino.0);
                    true
                }
                None => false,
            };
            if last && !st.frozen {
                let State { model, open, .. } = &mut *st;
                model.forget_unreachable(&|i| open.contains_key(&i));
            }
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.sync_delay();
        let r = self.mutate(
            |m| {
                let kind = if datasync {
                    OpKind::Fdatasync
                } else {
                    OpKind::Fsync
                };
                Ok(Described::new(kind, m.path(ino.0)))
            },
            &[],
            |m, e| sync_with(m, ino.0, e),
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self
            .live()
            .and_then(|st| st.model.readdir(ino.0).map(|_| ()))
        {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.live().and_then(|st| {
            let parent = st.model.parent(ino.0)?;
            let mut all = vec![
                (".".to_owned(), ino.0, Kind::Dir),
                ("..".to_owned(), parent, Kind::Dir),
            ];
            all.extend(st.model.readdir(ino.0)?);
            Ok(all)
        });
        match r {
            Ok(all) => {
                for (i, (name, child, kind)) in all.into_iter().enumerate().skip(offset as usize) {
                    let kind = match kind {
                        Kind::Dir => FileType::Directory,
                        Kind::File => FileType::RegularFile,
                    };
                    if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.sync_delay();
        let r = self.mutate(
            |m| Ok(Described::new(OpKind::FsyncDir, m.path(ino.0))),
            &[],
            |m, e| sync_with(m, ino.0, e),
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.live() {
            Ok(_) => reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        match self
            .live()
            .and_then(|st| st.model.getattr(ino.0).map(|_| ()))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self.mutate(
            |m| {
                let mut d = Described::new(OpKind::Fallocate, m.path(ino.0));
                d.offset = offset;
                d.len = length;
                d.mode = mode;
                Ok(d)
            },
            &[],
            |m, _| m.fallocate(ino.0, mode, offset, length),
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(fuse_errno(e)),
        }
    }
}
