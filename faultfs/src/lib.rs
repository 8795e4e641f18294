//! `faultfs`: a fault-injecting FUSE file system for power-cut tests.
//!
//! It keeps every file and directory in memory twice: as they are now (what the page
//! cache would serve) and as they are durably (what a disk would hold after a power
//! cut). Writes, truncations, creations, renames and removals change only the current
//! state; `fsync`/`fdatasync` of a file make its bytes and its length durable, `fsync`
//! of a directory makes its entries durable. The rules are in [`model`], a pure module
//! with its own tests.
//!
//! On Linux, [`FaultFs::mount`] serves a [`model::Model`] through FUSE (the `fuser`
//! crate, pure-Rust mount: as root it calls `mount(2)`, otherwise `fusermount3`).
//! The [`Handle`] it returns controls it:
//!
//! * [`Handle::cut`]: the power cut. Atomically (under the one lock every operation
//!   takes) the file system freezes: every later operation fails with EIO and changes
//!   nothing; and everything unsynced is dropped. [`Handle::restore`] is the reboot:
//!   the old mount is detached (lazily: a killed process's files may close later, and
//!   they only ever get EIO) and a fresh mount serves the durable state, so no kernel
//!   cache (pages, attributes, entries) from before the cut can be read.
//! * [`Handle::set_observer`]: a callback that sees every state-changing operation,
//!   with its bytes, before it is applied, and may cut the power before or after it or
//!   fail it; this is how a test cuts at a chosen operation (say, a segment's footer
//!   write) deterministically.
//! * [`Handle::fail_next_sync`]: the next `n` file syncs fail with EIO; the bytes stay
//!   readable (a page cache keeps them) but are never made durable by a later sync.
//!   The observer can also fail one chosen sync ([`Verdict::Fail`]) or make one lie
//!   ([`Verdict::Lie`]: success, nothing kept), which is how a test proves its checks
//!   catch lost data.
//! * [`Handle::set_sync_latency`]: each sync takes this long, like a disk's flush, so
//!   a writer's groups form as they would on a disk.
//! * [`Handle::counters`] and [`Handle::trace`] (the last operations, for reports).
//! * [`mount_for_test`]: mounts, or skips with a printed reason where FUSE is missing,
//!   except under `CI=true`, where that fails the test.
//!
//! # Kernel interplay
//!
//! * **Write-through.** The writeback cache is not enabled, so every `write` reaches
//!   the model when the system call (or the io_uring request, which FUSE serves from an
//!   io-wq worker) completes; the kernel page cache only ever holds copies for reads and
//!   `mmap`. A sync is FUSE `FSYNC`/`FSYNCDIR`, answered by the model.
//! * **Concurrency.** Two threads serve requests by default and asynchronous direct I/O
//!   is on (as in libfuse 3): requests the kernel has in flight together may be applied
//!   in either order, each atomically under the model's lock. A request is applied
//!   before it is answered, so whatever a caller waited for is in the model.
//! * **O_DIRECT** is accepted by default ([`DirectIo::Accept`]): FUSE turns direct
//!   writes into ordinary `WRITE` requests, which the model treats like any write (not
//!   durable before a sync, as on a disk with a volatile cache). This exercises the
//!   io_uring backend's default (O_DIRECT) path. [`DirectIo::Refuse`] answers an
//!   O_DIRECT open with EINVAL, which is how the backend detects a file system without
//!   O_DIRECT and falls back to buffered writes; a test can switch between the two with
//!   [`Handle::set_direct_io`].
//! * **Locks.** `flock` and POSIX locks are not implemented by the file system: fuser
//!   does not ask for `FUSE_FLOCK_LOCKS`/`FUSE_POSIX_LOCKS`, so the kernel keeps them
//!   locally, which is exact for processes on one machine (and a killed process's lock
//!   goes with it).
//! * **Caches.** Files are opened without `FOPEN_KEEP_CACHE`, so each open drops stale
//!   pages; attributes and entries are cached for a second, which is coherent because
//!   every change goes through the kernel. A cut changes the state behind the kernel's
//!   back, hence the remount in [`Handle::restore`].
//! * **fallocate**: mode 0 and `FALLOC_FL_KEEP_SIZE`; any other mode (punch hole,
//!   zero range, `FALLOC_FL_WRITE_ZEROES`) is EOPNOTSUPP, which callers treat as "not
//!   supported here".
//!
//! On other systems the crate holds only [`model`].

#![deny(missing_docs, missing_debug_implementations)]
#![deny(unsafe_code)]

pub mod model;

#[cfg(target_os = "linux")]
mod fs;
#[cfg(target_os = "linux")]
mod mount;

#[cfg(target_os = "linux")]
pub use fs::{Counters, DirectIo, Op, OpKind, OpRecord, Outcome, Verdict};
#[cfg(target_os = "linux")]
pub use mount::{FaultFs, Handle, Options, mount_for_test};
