//! Mounting, the power cut and the reboot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, Config, MountOption};

use crate::fs::{Counters, DirectIo, FaultFuse, Op, OpRecord, Shared, State, Verdict};
use crate::model::Model;

/// Settings of a mount.
#[derive(Debug, Clone)]
pub struct Options {
    /// What an O_DIRECT open gets (default: accepted).
    pub direct_io: DirectIo,
    /// How many of the last operations [`Handle::trace`] keeps (default 256).
    pub trace_len: usize,
    /// How long each sync takes, like a disk's cache flush (default zero).
    pub sync_latency: Duration,
    /// Threads serving requests (default 2): requests the kernel has outstanding at
    /// once (an io_uring chain's operations, writes from several io-wq workers) may be
    /// applied in either order, as by a multi-threaded libfuse file system. Each one is
    /// applied atomically.
    pub threads: usize,
    /// Ask for asynchronous direct I/O (`FUSE_ASYNC_DIO`, libfuse 3's default; default
    /// true): the kernel may split an O_DIRECT request into several in flight at once.
    pub async_dio: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            direct_io: DirectIo::Accept,
            trace_len: 256,
            sync_latency: Duration::ZERO,
            threads: 2,
            async_dio: true,
        }
    }
}

/// Mounts fault-injecting file systems.
///
/// ```no_run
/// use faultfs::FaultFs;
/// let dir = std::env::temp_dir().join("faultfs-doc");
/// std::fs::create_dir_all(&dir)?;
/// let mut fs = FaultFs::mount(&dir)?;
/// let f = dir.join("data");
/// std::fs::write(&f, b"synced")?;
/// std::fs::File::open(&f)?.sync_all()?;
/// std::fs::File::open(&dir)?.sync_all()?; // the entry
/// std::fs::write(&f, b"not synced")?;
/// fs.cut();
/// assert!(std::fs::read(&f).is_err()); // EIO while the power is off
/// fs.restore()?;
/// assert_eq!(std::fs::read(&f)?, b"synced");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FaultFs;

impl FaultFs {
    /// Mounts an empty file system on the existing directory `path`.
    pub fn mount(path: impl AsRef<Path>) -> io::Result<Handle> {
        Self::mount_with(path, Options::default())
    }

    /// Mounts an empty file system with `opts`.
    pub fn mount_with(path: impl AsRef<Path>, opts: Options) -> io::Result<Handle> {
        let path = path.as_ref().canonicalize()?;
        let mut state = State::new(opts.trace_len, opts.direct_io);
        state.sync_latency = opts.sync_latency;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            cut_cv: std::sync::Condvar::new(),
        });
        let mut h = Handle {
            path,
            shared,
            session: None,
            threads: opts.threads.max(1),
            async_dio: opts.async_dio,
        };
        h.session = Some(h.spawn(0)?);
        Ok(h)
    }
}

/// A mounted fault-injecting file system. Dropping it unmounts it (lazily).
pub struct Handle {
    path: PathBuf,
    shared: Arc<Shared>,
    session: Option<BackgroundSession>,
    threads: usize,
    async_dio: bool,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("path", &self.path)
            .field("state", &*self.shared.lock())
            .finish()
    }
}

impl Handle {
    fn spawn(&self, epoch: u64) -> io::Result<BackgroundSession> {
        let fs = FaultFuse {
            shared: self.shared.clone(),
            epoch,
            async_dio: self.async_dio,
        };
        let mut config = Config::default();
        config.n_threads = Some(self.threads);
        config.mount_options = vec![
            MountOption::FSName("faultfs".into()),
            MountOption::Subtype("faultfs".into()),
        ];
        fuser::spawn_mount(fs, &self.path, &config)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cuts the power: from now on every operation fails with EIO and changes nothing,
    /// and everything unsynced is gone. Returns false if the power was already off.
    pub fn cut(&self) -> bool {
        let did = self.shared.lock().cut();
        self.shared.cut_cv.notify_all();
        did
    }

    /// Whether the power is off.
    pub fn is_cut(&self) -> bool {
        self.shared.lock().frozen
    }

    /// Waits until the power is off (cut by [`Handle::cut`] or by the observer), at most
    /// `timeout`; returns whether it is.
    pub fn wait_cut(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !st.frozen {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            st = match self.shared.cut_cv.wait_timeout(st, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    /// The reboot: cuts the power if it is on, detaches the old mount (processes that
    /// still hold its files only ever get EIO) and mounts the durable state afresh, so
    /// nothing the kernel cached before the cut can be read.
    pub fn restore(&mut self) -> io::Result<()> {
        self.cut();
        let epoch = {
            let mut st = self.shared.lock();
            st.epoch += 1;
            st.open.clear();
            st.epoch
        };
        self.detach()?;
        let session = self.spawn(epoch)?;
        self.shared.lock().frozen = false;
        self.session = Some(session);
        Ok(())
    }

    /// Detaches the mount and lets its session end when the kernel lets go of it.
    fn detach(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let r = match rustix::mount::unmount(&self.path, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::PERM) => fusermount_detach(&self.path),
            Err(e) => Err(io::Error::from(e)),
        };
        // fuser's own unmount on drop finds nothing mounted here any more (or a session
        // already gone) and only logs; its thread ends with the old connection.
        drop(session);
        r
    }

    /// Unmounts.
    pub fn unmount(mut self) -> io::Result<()> {
        self.detach()
    }

    /// Makes the next `n` file syncs (`fsync`/`fdatasync` of files) fail with EIO: what
    /// they would have made durable stays readable but is never made durable (see
    /// [`crate::model`]).
    pub fn fail_next_sync(&self, n: u32) {
        self.shared.lock().fail_syncs = n;
    }

    /// File syncs still to fail.
    pub fn syncs_left_to_fail(&self) -> u32 {
        self.shared.lock().fail_syncs
    }

    /// Installs the observer: it sees every state-changing operation before it is
    /// applied, under the file system's lock (keep it quick, and do not touch the mount
    /// from it), and says what to do with it.
    pub fn set_observer(&self, f: impl FnMut(&Op<'_>) -> Verdict + Send + 'static) {
        self.shared.lock().observer = Some(Box::new(f));
    }

    /// Removes the observer.
    pub fn clear_observer(&self) {
        self.shared.lock().observer = None;
    }

    /// What the file system did so far.
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters
    }

    /// The last operations (oldest first), up to [`Options::trace_len`].
    pub fn trace(&self) -> Vec<OpRecord> {
        self.shared.lock().trace.iter().cloned().collect()
    }

    /// Changes how long each later sync takes.
    pub fn set_sync_latency(&self, d: Duration) {
        self.shared.lock().sync_latency = d;
    }

    /// Changes what later O_DIRECT opens get.
    pub fn set_direct_io(&self, d: DirectIo) {
        self.shared.lock().direct_io = d;
    }

    /// Runs `f` on the model (under the lock: keep it short).
    pub fn with_model<R>(&self, f: impl FnOnce(&Model) -> R) -> R {
        f(&self.shared.lock().model)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}

/// `fusermount3 -u -z PATH` (or `fusermount`), for a user who may not unmount.
fn fusermount_detach(path: &Path) -> io::Result<()> {
    let mut last = io::Error::other("no fusermount3 or fusermount found");
    for bin in ["fusermount3", "fusermount"] {
        match std::process::Command::new(bin)
            .args(["-u", "-q", "-z", "--"])
            .arg(path)
            .output()
        {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                last = io::Error::other(format!(
                    "{bin} -u -z {}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// For tests: mounts on `path`, or, where FUSE cannot be mounted (no `/dev/fuse`, no
/// permission, no `fusermount3`), fails the test when the environment says `CI=true`
/// and otherwise prints why on stderr (`SKIPPED test: ...`) and returns `None`.
pub fn mount_for_test(path: impl AsRef<Path>, opts: Options, test: &str) -> Option<Handle> {
    let why = match FaultFs::mount_with(path, opts) {
        Ok(h) => return Some(h),
        Err(e) if !Path::new("/dev/fuse").exists() => format!("no /dev/fuse ({e})"),
        Err(e) => format!("cannot mount FUSE: {e}"),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: {why}; CI must provide FUSE (/dev/fuse and, for a user other than \
             root, fusermount3 from the fuse3 package)"
        );
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}
