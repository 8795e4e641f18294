//! A backend that injects errors and stalls into another backend at chosen calls.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Access, Backend, BackendFile, DirLock, GroupDone, Mapped, SyncKind, WriteGroup};

/// The kinds of calls a [`Fault`] can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// [`Backend::create`].
    Create,
    /// [`Backend::rename`].
    Rename,
    /// [`Backend::remove`].
    Remove,
    /// [`Backend::sync_dir`].
    SyncDir,
    /// The writes of [`BackendFile::write_group`].
    Write,
    /// [`BackendFile::sync`] and the sync part of a write group.
    Sync,
    /// [`BackendFile::set_len`].
    SetLen,
    /// [`BackendFile::read_at`].
    Read,
}

const KINDS: usize = 8;

impl OpKind {
    fn slot(self) -> usize {
        self as usize
    }
}

/// What happens at a faulty call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The call fails with this OS error (`libc` number, e.g. 5 = EIO, 28 = ENOSPC) and
    /// does nothing.
    Errno(i32),
    /// The call sleeps this long, then proceeds normally.
    Stall(Duration),
}

/// One injected fault: the `nth` call (from 0) of `op` does `action`; with `sticky`,
/// every later call of that kind does too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The kind of call.
    pub op: OpKind,
    /// Which call of that kind (0 = the first).
    pub nth: u64,
    /// What happens.
    pub action: FaultAction,
    /// Whether every later call of that kind fails too.
    pub sticky: bool,
}

/// EIO.
pub const EIO: i32 = 5;
/// ENOSPC.
pub const ENOSPC: i32 = 28;

impl Fault {
    /// The `nth` call of `op` fails with EIO, once.
    pub fn eio(op: OpKind, nth: u64) -> Self {
        Self {
            op,
            nth,
            action: FaultAction::Errno(EIO),
            sticky: false,
        }
    }

    /// The `nth` call of `op` fails with ENOSPC, and so does every later one.
    pub fn enospc(op: OpKind, nth: u64) -> Self {
        Self {
            op,
            nth,
            action: FaultAction::Errno(ENOSPC),
            sticky: true,
        }
    }

    /// The `nth` call of `op` sleeps for `d` first.
    pub fn stall(op: OpKind, nth: u64, d: Duration) -> Self {
        Self {
            op,
            nth,
            action: FaultAction::Stall(d),
            sticky: false,
        }
    }
}

#[derive(Debug, Default)]
struct Plan {
    faults: Vec<Fault>,
    counts: [u64; KINDS],
    fired: Vec<(OpKind, u64, FaultAction)>,
}

/// Wraps a backend and applies [`Fault`]s; clones share the plan and the counters.
///
/// ```
/// use storage_std::backend::{Backend, Fault, FaultyBackend, MemBackend, OpKind};
/// let b = FaultyBackend::new(MemBackend::new(), vec![Fault::eio(OpKind::SyncDir, 1)]);
/// assert!(b.sync_dir().is_ok());
/// assert_eq!(b.sync_dir().unwrap_err().raw_os_error(), Some(5));
/// assert!(b.sync_dir().is_ok());
/// ```
#[derive(Clone)]
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    plan: Arc<Mutex<Plan>>,
}

impl fmt::Debug for FaultyBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("inner", &self.inner)
            .field("faults", &self.lock_plan().faults)
            .finish()
    }
}

impl FaultyBackend {
    /// Wraps `inner` with the given faults.
    pub fn new(inner: impl Backend, faults: Vec<Fault>) -> Self {
        Self::wrap(Arc::new(inner), faults)
    }

    /// Wraps a shared backend.
    pub fn wrap(inner: Arc<dyn Backend>, faults: Vec<Fault>) -> Self {
        Self {
            inner,
            plan: Arc::new(Mutex::new(Plan {
                faults,
                ..Plan::default()
            })),
        }
    }

    fn lock_plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a fault (counting continues from the calls already made).
    pub fn add_fault(&self, fault: Fault) {
        self.lock_plan().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock_plan().faults.clear();
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: OpKind) -> u64 {
        self.lock_plan().counts[op.slot()]
    }

    /// The faults that fired: kind, call number, action.
    pub fn fired(&self) -> Vec<(OpKind, u64, FaultAction)> {
        self.lock_plan().fired.clone()
    }
}

fn apply(plan: &Mutex<Plan>, op: OpKind) -> io::Result<()> {
    let action = {
        let mut p = plan.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.counts[op.slot()];
        p.counts[op.slot()] += 1;
        let hit = p
            .faults
            .iter()
            .find(|f| f.op == op && (f.nth == n || (f.sticky && n > f.nth)))
            .map(|f| f.action);
        if let Some(a) = hit {
            p.fired.push((op, n, a));
        }
        hit
    };
    match action {
        None => Ok(()),
        Some(FaultAction::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
        Some(FaultAction::Stall(d)) => {
            std::thread::sleep(d);
            Ok(())
        }
    }
}

impl Backend for FaultyBackend {
    fn kind(&self) -> String {
        format!("faulty({})", self.inner.kind())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        apply(&self.plan, OpKind::Create)?;
        let inner = self.inner.create(name)?;
        Ok(Box::new(FaultyFile {
            inner,
            plan: self.plan.clone(),
        }))
    }

    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        let inner = self.inner.open(name, access)?;
        Ok(Box::new(FaultyFile {
            inner,
            plan: self.plan.clone(),
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        apply(&self.plan, OpKind::Rename)?;
        self.inner.rename(from, to)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        apply(&self.plan, OpKind::Remove)?;
        self.inner.remove(name)
    }

    fn sync_dir(&self) -> io::Result<()> {
        apply(&self.plan, OpKind::SyncDir)?;
        self.inner.sync_dir()
    }

    fn lock(&self) -> io::Result<DirLock> {
        self.inner.lock()
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.map(name)
    }
    fn lock_held(&self) -> io::Result<bool> {
        self.inner.lock_held()
    }

    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.link(from, to)
    }

    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.inner.list_quarantine()
    }

    fn sync_quarantine(&self) -> io::Result<()> {
        self.inner.sync_quarantine()
    }
}

struct FaultyFile {
    inner: Box<dyn BackendFile>,
    plan: Arc<Mutex<Plan>>,
}

impl fmt::Debug for FaultyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyFile")
            .field("inner", &self.inner)
            .finish()
    }
}

impl BackendFile for FaultyFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        apply(&self.plan, OpKind::Read)?;
        self.inner.read_at(offset, buf)
    }

    fn write_group(&mut self, group: &WriteGroup<'_>) -> io::Result<GroupDone> {
        apply(&self.plan, OpKind::Write)?;
        let done = self.inner.write_group(&WriteGroup {
            sync: SyncKind::None,
            ..*group
        })?;
        if group.sync == SyncKind::None {
            return Ok(done);
        }
        self.sync(group.sync)?;
        Ok(GroupDone {
            written: done.written,
            synced: true,
        })
    }

    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        if kind != SyncKind::None {
            apply(&self.plan, OpKind::Sync)?;
        }
        self.inner.sync(kind)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        apply(&self.plan, OpKind::SetLen)?;
        self.inner.set_len(len)
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }
}
