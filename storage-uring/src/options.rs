//! Settings of the io_uring backend and what it reports.

use std::time::Duration;

use crate::faults::CompletionFaults;

/// How [`BackendFile::preallocate`](storage_std::backend::BackendFile::preallocate)
/// (called for each new segment when `WriterOptions::preallocate` is set) reserves the
/// segment's space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prealloc {
    /// Nothing: the file grows as it is written.
    Off,
    /// `fallocate(FALLOC_FL_KEEP_SIZE)`: blocks reserved, the size unchanged. The
    /// extents stay *unwritten*, so the first write to each one costs a metadata update
    /// at the next `fdatasync`. File systems without `fallocate` (EOPNOTSUPP) get
    /// nothing, not an error.
    Fallocate,
    /// Reserved and written with zeros (the file's size becomes the segment size), so
    /// later writes overwrite written blocks and `fdatasync` has no metadata to update.
    /// Uses `FALLOC_FL_WRITE_ZEROES` where the kernel (6.17+) and the device offer it,
    /// zero writes through the ring otherwise. The zeros are a clean end of the log
    /// for storage-std. Cost: the segment is written twice.
    ZeroFill,
}

/// The largest [`UringOptions::staging_bytes`]: 256 MiB.
pub const MAX_STAGING_BYTES: usize = 256 << 20;
/// The most files [`UringOptions::recycle`] keeps: 1024.
pub const MAX_RECYCLE: usize = 1024;

/// Settings of a [`UringBackend`](crate::UringBackend).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UringOptions {
    /// Submission queue entries (rounded up to a power of two, 2 to 4096); the
    /// completion queue gets twice as many. One group's chain holds at most this many
    /// entries.
    pub sq_entries: u32,
    /// Open segment files with `O_DIRECT` as well and write each group's whole 4 KiB
    /// blocks through it from an aligned staging buffer; the group's partial first and
    /// last blocks go through the page cache in the same chain (no byte outside the
    /// group is written, none is read back, and bytes an earlier sync made durable are
    /// never rewritten). Files on file systems that refuse `O_DIRECT` (tmpfs) are
    /// written buffered.
    pub direct: bool,
    /// Register the staging buffer with the ring and write from it with
    /// `IORING_OP_WRITE_FIXED` (no page pinning per write). Without `direct`, this also
    /// copies each buffered group into the staging buffer first.
    pub fixed_buffers: bool,
    /// Size of the staging buffer used by `direct` and `fixed_buffers` (rounded up to
    /// 4 KiB); larger groups go through it in pieces.
    pub staging_bytes: usize,
    /// Run a kernel submission-queue polling thread (`IORING_SETUP_SQPOLL`) that idles
    /// after this long; the writer then spins briefly on completions before sleeping.
    pub sqpoll: Option<Duration>,
    /// How new segments are preallocated.
    pub prealloc: Prealloc,
    /// How many removed segment files (retention) are kept under a name the log
    /// ignores and handed back by the next segment creation, already allocated and
    /// written; 0 removes them.
    pub recycle: usize,
    /// Fault injection at the completion queue (tests).
    pub faults: Option<CompletionFaults>,
}

impl Default for UringOptions {
    /// What measured best on the development machine (see the crate docs): O_DIRECT
    /// segment writes from a registered staging buffer, each group's writes linked to
    /// one `fdatasync`, `fallocate` preallocation, recycling of up to 4 retired segment
    /// files, no SQPOLL.
    fn default() -> Self {
        Self {
            sq_entries: 64,
            direct: true,
            fixed_buffers: true,
            staging_bytes: 4 << 20,
            sqpoll: None,
            prealloc: Prealloc::Fallocate,
            recycle: 4,
            faults: None,
        }
    }
}

impl UringOptions {
    /// Checks the sizes against their limits; the error names the option and the limit.
    pub fn validate(&self) -> Result<(), String> {
        if self.staging_bytes > MAX_STAGING_BYTES {
            return Err(format!(
                "staging_bytes {} exceeds the maximum {MAX_STAGING_BYTES} (256 MiB)",
                self.staging_bytes
            ));
        }
        if self.recycle > MAX_RECYCLE {
            return Err(format!(
                "recycle {} exceeds the maximum {MAX_RECYCLE}",
                self.recycle
            ));
        }
        Ok(())
    }

    /// Sets `sq_entries`.
    #[must_use]
    pub fn sq_entries(mut self, n: u32) -> Self {
        self.sq_entries = n;
        self
    }

    /// Sets `staging_bytes` (checked by [`UringOptions::validate`]).
    #[must_use]
    pub fn staging_bytes(mut self, n: usize) -> Self {
        self.staging_bytes = n;
        self
    }

    /// Sets `direct`.
    pub fn direct(mut self, on: bool) -> Self {
        self.direct = on;
        self
    }

    /// Sets `fixed_buffers`.
    pub fn fixed_buffers(mut self, on: bool) -> Self {
        self.fixed_buffers = on;
        self
    }

    /// Sets `sqpoll`.
    pub fn sqpoll(mut self, idle: Option<Duration>) -> Self {
        self.sqpoll = idle;
        self
    }

    /// Sets `prealloc`.
    pub fn prealloc(mut self, p: Prealloc) -> Self {
        self.prealloc = p;
        self
    }

    /// Sets `recycle`.
    pub fn recycle(mut self, files: usize) -> Self {
        self.recycle = files;
        self
    }

    /// Sets the completion faults.
    pub fn faults(mut self, f: CompletionFaults) -> Self {
        self.faults = Some(f);
        self
    }
}

/// What a [`UringBackend`](crate::UringBackend) did so far (all files together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringStats {
    /// `io_uring_enter` system calls.
    pub enters: u64,
    /// Submission queue entries submitted.
    pub sqes: u64,
    /// Link chains submitted (one `io_uring_enter` each, unless SQPOLL).
    pub chains: u64,
    /// Chains the kernel took in more than one piece (their sync did not count).
    pub split_submits: u64,
    /// `write_group` calls.
    pub groups: u64,
    /// `write_group` calls that asked for a sync.
    pub synced_groups: u64,
    /// Extra rounds run for short, interrupted or cancelled operations.
    pub retry_rounds: u64,
    /// Other system calls on the write path: `fallocate`, `ftruncate`, block reads of
    /// the O_DIRECT mode.
    pub other_syscalls: u64,
    /// Segment files created by reusing a removed one.
    pub recycled: u64,
    /// Bytes zero-filled by preallocation.
    pub zero_filled: u64,
    /// Preallocations the file system did not support (EOPNOTSUPP), skipped.
    pub fallocate_unsupported: u64,
    /// Files opened with `O_DIRECT`.
    pub direct_files: u64,
    /// Segment files that could not be opened with `O_DIRECT` and are written buffered.
    pub direct_refused: u64,
}
