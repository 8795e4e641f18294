//! The thin unsafe layer over `io_uring`: one ring, an optional aligned staging buffer
//! (registered with the ring when asked), and [`Ring::run_chain`], which submits one
//! link chain and returns only once every entry of it has completed.
//!
//! # Invariants
//!
//! * **Nothing is in flight between calls.** [`Ring::run_chain`] pushes a chain, submits
//!   it and reaps completions until every pushed entry has completed. It never returns
//!   while the kernel may still read a buffer, an iovec array or the staging buffer that
//!   an entry names. If the kernel ever refused to let it wait for entries it already
//!   took, it aborts the process rather than return (see `wait_failed`).
//! * **Buffers outlive their submissions.** An [`Op`] borrows its buffer (or iovec
//!   array) for the `'a` of the call; staged operations name a range of the staging
//!   buffer, which the ring owns and frees only after the ring fd is closed.
//! * **The completion queue cannot overflow.** At most `sq_entries` entries are in flight
//!   (one chain; the queue is empty when a call starts), and the completion queue has
//!   twice as many slots. The kernel's overflow counter is checked after every reap
//!   anyway; a non-zero value poisons the ring and fails the call.
//! * **The submission queue is empty between calls.** With SQPOLL the polling thread
//!   posts completions before it publishes the queue head that consumes their entries;
//!   `run_chain` waits for that head before it returns (`wait_sq_consumed`), so the
//!   next call never mistakes a consumed chain for one still queued.
//! * **A link is never split on our side**: the chain is pushed with one
//!   `push_multiple` and published with one tail store, so the kernel sees it whole. If
//!   the kernel takes fewer entries than offered (memory pressure), the call reports
//!   it and the caller does not count that chain's sync.

use std::alloc::{self, Layout};
use std::io::{self, IoSlice};
use std::ops::Range;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use io_uring::{IoUring, Probe, opcode, squeue, types};

/// O_DIRECT block size and staging alignment.
pub(crate) const BLOCK: usize = 4096;

/// The longest [`Ring::run_chain`] waits, with SQPOLL, for the polling thread to publish
/// the queue head past a chain whose completions it already posted.
const SQ_HEAD_WAIT: Duration = Duration::from_secs(5);

/// One operation of a chain.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    /// `pwrite` of one buffer.
    Write {
        fd: RawFd,
        offset: u64,
        buf: &'a [u8],
    },
    /// `pwritev` of several buffers.
    Writev {
        fd: RawFd,
        offset: u64,
        iov: &'a [IoSlice<'a>],
    },
    /// `pwrite` of a range of the staging buffer (`WRITE_FIXED` when it is registered).
    Staged {
        fd: RawFd,
        offset: u64,
        range: Range<usize>,
    },
    /// `pwrite` of one buffer with `RWF_DSYNC`: completes once its data is durable.
    WriteDsync {
        fd: RawFd,
        offset: u64,
        buf: &'a [u8],
    },
    /// [`Op::Staged`] with `RWF_DSYNC`.
    StagedDsync {
        fd: RawFd,
        offset: u64,
        range: Range<usize>,
    },
    /// `fdatasync` (`data`) or `fsync`.
    Sync { fd: RawFd, data: bool },
    /// No operation (the probe's round trip).
    Nop,
}

/// A zeroed, [`BLOCK`]-aligned heap buffer owned by the ring.
struct Stage {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the stage is a plain heap allocation owned by one `Ring`; the ring is used
// behind a mutex, so the buffer is only touched by one thread at a time.
unsafe impl Send for Stage {}

impl Stage {
    fn new(len: usize) -> io::Result<Self> {
        let len = len.div_ceil(BLOCK).max(1) * BLOCK;
        let layout = Layout::from_size_align(len, BLOCK)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `layout` has a non-zero size (at least one block).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Self { ptr, len })
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `len` initialized (zeroed at allocation) bytes
        // owned by the stage; `&mut self` excludes every other access from this side,
        // and no operation is in flight between calls (module invariants), so the
        // kernel does not read it either.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    fn layout(&self) -> Layout {
        // Checked in `new`.
        Layout::from_size_align(self.len, BLOCK).expect("stage layout")
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this layout and is freed once. The
        // ring that may have registered it was closed first (field order of `Ring`), and
        // no operation is in flight between calls (module invariants).
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout()) }
    }
}

/// Counters of what the ring did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RingCounters {
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Entries submitted.
    pub sqes: u64,
    /// Chains submitted.
    pub chains: u64,
    /// Chains the kernel took in more than one piece.
    pub split_submits: u64,
}

/// How to set up a ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingSetup {
    pub sq_entries: u32,
    pub sqpoll_idle: Option<Duration>,
    pub stage_bytes: usize,
    pub register_stage: bool,
}

/// An io_uring instance with its staging buffer.
pub(crate) struct Ring {
    // Declared first so it is dropped (its fd closed, its registrations released)
    // before the staging buffer is freed.
    ring: IoUring,
    stage: Option<Stage>,
    registered: bool,
    sqpoll: bool,
    poisoned: Option<String>,
    pub counters: RingCounters,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("sq_entries", &self.ring.params().sq_entries())
            .field("cq_entries", &self.ring.params().cq_entries())
            .field("stage", &self.stage.as_ref().map(|s| s.len))
            .field("registered", &self.registered)
            .field("sqpoll", &self.sqpoll)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

fn build(setup: &RingSetup, coop: bool) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    // Twice the submission queue: one chain in flight can never fill it.
    b.setup_cqsize(setup.sq_entries.saturating_mul(2));
    if let Some(idle) = setup.sqpoll_idle {
        b.setup_sqpoll(u32::try_from(idle.as_millis()).unwrap_or(u32::MAX));
    }
    if coop {
        b.setup_coop_taskrun();
    }
    b.build(setup.sq_entries)
}

impl Ring {
    /// Sets up a ring (and its staging buffer, when `stage_bytes > 0`).
    pub(crate) fn new(setup: &RingSetup) -> io::Result<Self> {
        // COOP_TASKRUN (5.19) saves an interrupt per completion; older kernels refuse
        // the flag with EINVAL and get a plain ring.
        let ring = match build(setup, setup.sqpoll_idle.is_none()) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => build(setup, false)?,
            r => r?,
        };
        let mut r = Self {
            sqpoll: ring.params().is_setup_sqpoll(),
            ring,
            stage: None,
            registered: false,
            poisoned: None,
            counters: RingCounters::default(),
        };
        if setup.stage_bytes > 0 {
            let stage = Stage::new(setup.stage_bytes)?;
            if setup.register_stage {
                let iov = [libc::iovec {
                    iov_base: stage.ptr.as_ptr().cast(),
                    iov_len: stage.len,
                }];
                // SAFETY: the iovec names the stage's whole allocation, which stays
                // allocated until after the ring is closed (field order), and which the
                // kernel only accesses through operations that `run_chain` reaps before
                // returning.
                let reg = unsafe { r.ring.submitter().register_buffers(&iov) };
                // A memlock limit (ENOMEM) or an old kernel: plain writes from the stage.
                r.registered = reg.is_ok();
            }
            r.stage = Some(stage);
        }
        Ok(r)
    }

    /// Queue sizes: submission, completion.
    pub(crate) fn sizes(&self) -> (u32, u32) {
        (
            self.ring.params().sq_entries(),
            self.ring.params().cq_entries(),
        )
    }

    /// Whether the staging buffer is registered (writes from it are `WRITE_FIXED`).
    pub(crate) fn registered(&self) -> bool {
        self.registered
    }

    /// Whether the ring has a submission-queue polling thread.
    pub(crate) fn is_sqpoll(&self) -> bool {
        self.sqpoll
    }

    /// Which opcodes the kernel supports (`None`: the probe itself is not supported,
    /// kernels before 5.6).
    pub(crate) fn probe(&self) -> io::Result<Probe> {
        let mut p = Probe::new();
        self.ring.submitter().register_probe(&mut p)?;
        Ok(p)
    }

    /// The staging buffer, for filling between calls (empty without one).
    pub(crate) fn stage_mut(&mut self) -> &mut [u8] {
        match &mut self.stage {
            Some(s) => s.as_mut_slice(),
            None => &mut [],
        }
    }

    /// A write of a range of the staging buffer (`WRITE_FIXED` when it is registered)
    /// with these `RWF_*` flags.
    fn staged_entry(
        &self,
        fd: RawFd,
        offset: u64,
        range: &Range<usize>,
        rw_flags: i32,
    ) -> io::Result<squeue::Entry> {
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "operation over 4 GiB");
        let stage = self
            .stage
            .as_ref()
            .filter(|s| range.start <= range.end && range.end <= s.len)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "range outside the stage")
            })?;
        let len = u32::try_from(range.len()).map_err(|_| too_big())?;
        // In bounds: checked just above.
        let ptr = stage.ptr.as_ptr().wrapping_add(range.start).cast_const();
        Ok(if self.registered {
            opcode::WriteFixed::new(types::Fd(fd), ptr, len, 0)
                .offset(offset)
                .rw_flags(rw_flags)
                .build()
        } else {
            opcode::Write::new(types::Fd(fd), ptr, len)
                .offset(offset)
                .rw_flags(rw_flags)
                .build()
        })
    }

    fn entry(&self, op: &Op<'_>) -> io::Result<squeue::Entry> {
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "operation over 4 GiB");
        Ok(match op {
            Op::Write { fd, offset, buf } => {
                let len = u32::try_from(buf.len()).map_err(|_| too_big())?;
                opcode::Write::new(types::Fd(*fd), buf.as_ptr(), len)
                    .offset(*offset)
                    .build()
            }
            Op::Writev { fd, offset, iov } => {
                let n = u32::try_from(iov.len()).map_err(|_| too_big())?;
                // `IoSlice` is ABI-compatible with `struct iovec` on Unix.
                opcode::Writev::new(types::Fd(*fd), iov.as_ptr().cast::<libc::iovec>(), n)
                    .offset(*offset)
                    .build()
            }
            Op::WriteDsync { fd, offset, buf } => {
                let len = u32::try_from(buf.len()).map_err(|_| too_big())?;
                opcode::Write::new(types::Fd(*fd), buf.as_ptr(), len)
                    .offset(*offset)
                    .rw_flags(libc::RWF_DSYNC)
                    .build()
            }
            Op::StagedDsync { fd, offset, range } => {
                self.staged_entry(*fd, *offset, range, libc::RWF_DSYNC)?
            }
            Op::Staged { fd, offset, range } => self.staged_entry(*fd, *offset, range, 0)?,
            Op::Sync { fd, data } => {
                let flags = if *data {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                opcode::Fsync::new(types::Fd(*fd)).flags(flags).build()
            }
            Op::Nop => opcode::Nop::new().build(),
        })
    }

    /// Submits `ops` as one chain (every entry but the last with `IO_LINK`) in one
    /// `io_uring_enter`, waits until every entry completed, and stores each result in
    /// `results` (same order). Returns whether the kernel took the chain in one piece.
    ///
    /// An `Err` means the ring cannot be used (it is poisoned); nothing is in flight then.
    pub(crate) fn run_chain(&mut self, ops: &[Op<'_>], results: &mut [i32]) -> io::Result<bool> {
        if let Some(why) = &self.poisoned {
            return Err(io::Error::other(format!("io_uring unusable: {why}")));
        }
        let n = ops.len();
        assert_eq!(results.len(), n, "one result per operation");
        if n == 0 {
            return Ok(true);
        }
        let (sq_entries, _) = self.sizes();
        if n > sq_entries as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("chain of {n} entries does not fit a queue of {sq_entries}"),
            ));
        }
        let mut entries = Vec::with_capacity(n);
        for (i, op) in ops.iter().enumerate() {
            let mut e = self.entry(op)?.user_data(i as u64);
            if i + 1 < n {
                e = e.flags(squeue::Flags::IO_LINK);
            }
            entries.push(e);
        }
        let pushed = {
            let mut sq = self.ring.submission();
            if !sq.is_empty() {
                Err("submission queue not empty between calls")
            } else {
                // SAFETY: every entry's buffer, iovec array or staging range is borrowed
                // for this call or owned by the ring (module invariants), and this
                // function returns only after every entry pushed here has completed (the
                // loop below), or aborts the process.
                unsafe { sq.push_multiple(&entries) }
                    .map_err(|_| "chain does not fit the submission queue")
            }
            // Dropping `sq` publishes the new tail: the whole chain at once.
        };
        if let Err(why) = pushed {
            return Err(self.poison(why));
        }
        self.counters.chains += 1;
        self.counters.sqes += n as u64;
        let mut done = vec![false; n];
        let mut completed = 0usize;
        let mut whole = true;
        let mut first = true;
        let spin_until = self
            .sqpoll
            .then(|| Instant::now() + Duration::from_micros(50));
        loop {
            completed += self.reap(&mut done, results)?;
            if completed == n {
                break;
            }
            // With SQPOLL the kernel thread submits; spin briefly on the completion
            // queue before sleeping in the kernel.
            if let Some(until) = spin_until
                && !first
                && Instant::now() < until
            {
                std::hint::spin_loop();
                continue;
            }
            let want = n - completed;
            let r = if self.sqpoll && first {
                // Submission only (no syscall while the thread is awake).
                if self.ring.submission().need_wakeup() {
                    self.counters.enters += 1;
                }
                self.ring.submit()
            } else {
                self.counters.enters += 1;
                self.ring.submit_and_wait(want)
            };
            let unconsumed = self.ring.submission().len();
            if !self.sqpoll && whole && unconsumed > 0 && unconsumed < n {
                // The kernel took the front of the chain only: its link was cut.
                whole = false;
                self.counters.split_submits += 1;
            }
            first = false;
            match r {
                Ok(_) => {}
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    // Entries the kernel never took cannot run later if we never enter
                    // again (no SQPOLL thread): poisoning the ring is then safe.
                    if !self.sqpoll && unconsumed == n {
                        return Err(self.poison(&format!("io_uring_enter failed: {e}")));
                    }
                    wait_failed(&e);
                }
            }
        }
        if self.sqpoll {
            self.wait_sq_consumed()?;
        }
        Ok(whole)
    }

    /// With SQPOLL, waits until the polling thread has moved the submission queue's
    /// head past the entries of the chain that just completed. The thread posts each
    /// entry's completion as it issues it and publishes the new head only after its
    /// whole batch (`io_submit_sqes`, then `io_commit_sqring`), so every completion can
    /// be visible while the head still shows the entries as queued; the next call would
    /// then see a queue that is not empty. Bounded: a head that never moves poisons the
    /// ring (nothing of ours is in flight any more, every entry completed).
    fn wait_sq_consumed(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + SQ_HEAD_WAIT;
        let mut spins = 0u32;
        while !self.ring.submission().is_empty() {
            if Instant::now() > deadline {
                return Err(self.poison("the polling thread never consumed a completed chain"));
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Reaps available completions; returns how many.
    fn reap(&mut self, done: &mut [bool], results: &mut [i32]) -> io::Result<usize> {
        let mut got = 0;
        let mut bad = None;
        {
            let mut cq = self.ring.completion();
            cq.sync();
            if cq.overflow() > 0 {
                bad = Some("completion queue overflowed".to_owned());
            }
            for cqe in &mut cq {
                let i = cqe.user_data() as usize;
                match done.get_mut(i) {
                    Some(d) if !*d => {
                        *d = true;
                        results[i] = cqe.result();
                        got += 1;
                    }
                    _ => bad = Some(format!("unexpected completion {i}")),
                }
            }
        }
        if let Some(why) = bad {
            // Still waits for the rest: the caller's loop continues only on Ok, so
            // count what is outstanding and drain it before failing.
            self.drain_after_error(done, results);
            return Err(self.poison(&why));
        }
        Ok(got)
    }

    fn drain_after_error(&mut self, done: &mut [bool], results: &mut [i32]) {
        while done.iter().any(|d| !d) {
            let want = done.iter().filter(|d| !**d).count();
            self.counters.enters += 1;
            if let Err(e) = self.ring.submit_and_wait(want)
                && !is_transient(&e)
            {
                wait_failed(&e);
            }
            let mut cq = self.ring.completion();
            cq.sync();
            for cqe in &mut cq {
                if let Some(d) = done.get_mut(cqe.user_data() as usize) {
                    *d = true;
                    results[cqe.user_data() as usize] = cqe.result();
                }
            }
        }
    }

    fn poison(&mut self, why: &str) -> io::Error {
        self.poisoned = Some(why.to_owned());
        io::Error::other(format!("io_uring unusable: {why}"))
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
    )
}

/// The kernel took entries that still run and refuses to let us wait for them: their
/// buffers must not be freed, and returning would free them. Nothing sound is left: the
/// one place this crate aborts, after an `error` event (feature `tracing`) and a line on
/// stderr.
fn wait_failed(e: &io::Error) -> ! {
    use std::io::Write as _;
    #[cfg(feature = "tracing")]
    tracing::error!(target: "storage_uring", error = %e, "cannot wait for io_uring operations in flight; aborting");
    // Not `eprintln!`: a closed stderr must not turn the abort into a panic.
    let _ = writeln!(
        io::stderr(),
        "storage-uring: cannot wait for io_uring operations in flight ({e}); aborting"
    );
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(stage: usize, register: bool) -> Ring {
        Ring::new(&RingSetup {
            sq_entries: 8,
            sqpoll_idle: None,
            stage_bytes: stage,
            register_stage: register,
        })
        .expect("io_uring must work on this machine")
    }

    /// The staging buffer's allocation, slice view and release (runs under Miri).
    #[test]
    fn stages_are_aligned_zeroed_and_whole_blocks() {
        for want in [1, BLOCK - 1, BLOCK, 3 * BLOCK + 5] {
            let mut s = Stage::new(want).unwrap();
            assert_eq!(s.len % BLOCK, 0);
            assert!(s.len >= want);
            assert_eq!(s.ptr.as_ptr().addr() % BLOCK, 0, "aligned for O_DIRECT");
            let v = s.as_mut_slice();
            assert!(v.iter().all(|&b| b == 0));
            v.fill(0xa5);
            let n = v.len();
            v[n - 1] = 1;
            assert_eq!(s.as_mut_slice()[n - 1], 1);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // io_uring syscalls
    fn nop_chain_round_trips() {
        if !crate::io_uring_tests_enabled("nop_chain_round_trips") {
            return;
        }
        let mut r = ring(0, false);
        let mut res = [1; 3];
        assert!(r.run_chain(&[Op::Nop, Op::Nop, Op::Nop], &mut res).unwrap());
        assert_eq!(res, [0, 0, 0]);
        assert_eq!(r.counters.enters, 1, "one enter submits and waits");
        let (sq, cq) = r.sizes();
        assert!(cq >= 2 * sq);
    }

    /// With SQPOLL the polling thread posts completions before it publishes the queue
    /// head; a call right after the previous one completed must not find the queue
    /// "not empty" (that poisoned the ring about once in a few thousand chains).
    #[test]
    #[cfg_attr(miri, ignore)] // io_uring syscalls
    fn sqpoll_chains_back_to_back_never_find_a_stale_queue() {
        if !crate::io_uring_tests_enabled("sqpoll_chains_back_to_back_never_find_a_stale_queue") {
            return;
        }
        let mut r = Ring::new(&RingSetup {
            sq_entries: 8,
            sqpoll_idle: Some(Duration::from_millis(50)),
            stage_bytes: 0,
            register_stage: false,
        })
        .expect("an SQPOLL ring");
        assert!(r.is_sqpoll());
        // Buffered writes complete inline in the polling thread: the completion is
        // posted while it still holds the head back. Nops too.
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        let fd = f.as_raw_fd();
        let chains = 20_000;
        for i in 0..chains {
            let data = [i as u8; 64];
            let ops = [
                Op::Write {
                    fd,
                    offset: (i % 64) * 128,
                    buf: &data,
                },
                Op::Write {
                    fd,
                    offset: (i % 64) * 128 + 64,
                    buf: &data,
                },
                Op::Nop,
            ];
            let mut res = [1; 3];
            match r.run_chain(&ops, &mut res) {
                Ok(_) => assert_eq!(res, [64, 64, 0], "chain {i}"),
                Err(e) => panic!("chain {i} of {chains}: {e}"),
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // io_uring syscalls
    fn chains_larger_than_the_queue_are_refused() {
        if !crate::io_uring_tests_enabled("chains_larger_than_the_queue_are_refused") {
            return;
        }
        let mut r = ring(0, false);
        let ops: Vec<Op<'_>> = (0..9).map(|_| Op::Nop).collect();
        let mut res = vec![0; 9];
        assert_eq!(
            r.run_chain(&ops, &mut res).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // Still usable.
        assert!(r.run_chain(&[Op::Nop], &mut [0]).unwrap());
    }

    #[test]
    #[cfg_attr(miri, ignore)] // io_uring syscalls
    fn linked_writes_then_sync_land_in_order() {
        if !crate::io_uring_tests_enabled("linked_writes_then_sync_land_in_order") {
            return;
        }
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .unwrap();
        let fd = f.as_raw_fd();
        for register in [false, true] {
            let mut r = ring(2 * BLOCK, register);
            r.stage_mut()[..4].copy_from_slice(b"fix!");
            let a = b"hello ".to_vec();
            let b = b"world".to_vec();
            let iov = [IoSlice::new(&a), IoSlice::new(&b)];
            let ops = [
                Op::Writev {
                    fd,
                    offset: 0,
                    iov: &iov,
                },
                Op::Write {
                    fd,
                    offset: 11,
                    buf: b"!",
                },
                Op::Staged {
                    fd,
                    offset: 12,
                    range: 0..4,
                },
                Op::Sync { fd, data: true },
            ];
            let mut res = [0; 4];
            assert!(r.run_chain(&ops, &mut res).unwrap());
            assert_eq!(res, [11, 1, 4, 0]);
            assert_eq!(
                std::fs::read(dir.path().join("f")).unwrap(),
                b"hello world!fix!"
            );
        }
        // A range outside the stage is refused before anything is submitted.
        let mut r = ring(BLOCK, false);
        let bad = [Op::Staged {
            fd,
            offset: 0,
            range: 0..BLOCK + 1,
        }];
        assert!(r.run_chain(&bad, &mut [0]).is_err());
    }
}
