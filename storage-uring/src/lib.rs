//! `storage-uring`: an io_uring backend for storage-std's durable log.
//!
//! [`UringBackend`] implements [`storage_std::backend::Backend`]: the log's writer hands
//! it whole groups (these slices at this offset, then `fdatasync`), and it submits each
//! group as one chain of linked operations, the writes (`write`/`writev`, at most 1024
//! slices each) then the sync, in a single `io_uring_enter` that also waits for the
//! completions. The group counts as synced (and the writer's durable watermark moves)
//! only when the sync completed successfully after every byte of the group was written.
//! Short writes and `-EAGAIN`/`-EINTR`/`-ECANCELED` completions are resubmitted; any
//! other error is returned, and the writer fail-stops exactly as with the portable
//! backend. At most one chain (no more than the submission queue holds) is in flight,
//! and the completion queue is twice that size, so it cannot overflow; a group too big
//! for one chain goes in several, and the sync rides in the last.
//!
//! The files are storage-std's format, byte for byte: the backend only changes how
//! bytes reach the disk. Segment files can be preallocated ([`Prealloc`]) and, when
//! retention removes them, recycled (kept under a name the log ignores and handed back,
//! allocated and written, by the next segment creation).
//!
//! [`probe`] tells whether io_uring works here and, if not, why ([`ProbeError`]);
//! [`open_backend`] picks io_uring or the portable backend for `--backend auto|std|uring`.
//!
//! ```no_run
//! use storage_std::{Durability, Writer, WriterOptions};
//! use storage_uring::{BackendChoice, UringOptions, open_backend};
//! let opened = open_backend("/var/log/events", BackendChoice::Auto, &UringOptions::default())?;
//! if let Some(w) = opened.warning() {
//!     eprintln!("warning: {w}");
//! }
//! let o = WriterOptions::new(Durability::group()).with_preallocate(true);
//! let w: Writer = Writer::open_with(opened.backend.clone(), o)?;
//! println!("backend: {}", opened.kind.name());
//! w.append(b"event")?;
//! w.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Measured options
//!
//! `cargo run --release -p storage-uring --example uring_bench`: 64 B events (96 B on
//! disk), one appending thread for 2 s then `close`, 64 MiB segments preallocated, time
//! including segment creation; 3 interleaved rounds, medians. Development machine:
//! ext4 on a virtio disk, 2 vCPUs shared with other builds, kernel 6.18. The disk's
//! `fdatasync` latency swung between about 0.1 ms and 2 ms with the host's load, and the
//! small-group ratios swing with it: two runs half an hour apart (busy: load 5-6;
//! quieter: load 3-4), io_uring default against the portable backend, and the default
//! with one option changed:
//!
//! | durability | portable (busy / quieter) | io_uring default | `direct: false` | + zero-fill | + fixed buffers | + SQPOLL (quieter) |
//! | --- | ---: | ---: | ---: | ---: | ---: | ---: |
//! | group 4 KiB | 28 k/s / 289 k/s | 2.66x / 0.95x | 0.97x / 0.84x | 7.07x / 1.28x | 2.31x / 0.90x | 0.22x |
//! | group 16 KiB | 305 k/s / 913 k/s | 1.96x / 0.87x | 0.88x / 0.32x | 1.45x / 0.78x | 2.52x / 0.78x | |
//! | group 64 KiB | 512 k/s / 2.9 M/s | 4.36x / 1.12x | 2.13x / 0.81x | 3.97x / 0.83x | 3.54x / 1.12x | 0.60x |
//! | group 1 MiB | 3.3 M/s / 5.7 M/s | 1.39x / 1.66x | 0.99x / 1.05x | 0.95x / 1.15x | 1.50x / 1.70x | 0.92x |
//! | none | 5.0 M/s / 5.4 M/s | 1.21x / 1.61x | 1.08x / 1.13x | 1.08x / 1.15x | 1.20x / 1.39x | 1.57x |
//!
//! Write-path system calls per synced group (counted, and checked with `strace -c`):
//! portable 2 (`pwritev`, `fdatasync`), io_uring 1 (`io_uring_enter`), plus one index
//! write per 64 KiB of records in both.
//!
//! * **Kept, on by default: O_DIRECT.** It is where the gain comes from: `fdatasync`
//!   has no dirty pages to write back, and large groups skip the page-cache copy. The
//!   one-syscall group alone (`direct: false`) does not beat two syscalls: io_uring
//!   runs the linked `fsync` on an io-wq worker thread, and that hand-off costs about
//!   what the saved syscall gains (more when the 2 cores are busy). With a fast
//!   `fdatasync` (quieter run) the default is at parity for 4-16 KiB groups.
//! * **Kept, on by default: `fallocate` and recycling.** With retention (8 MiB
//!   segments, 2 kept), reusing removed segment files measured 1.35-2x the same run
//!   without reuse (quieter run: 1.18x / 1.36x / 1.23x of the portable backend at
//!   4 KiB / 64 KiB / 1 MiB groups, against 0.86x / 0.66x / 0.91x without reuse).
//! * **Kept, off by default: zero-fill.** It removes the extent conversion and size
//!   update that each small group's `fdatasync` must otherwise commit (best of all at
//!   4 KiB groups), but it writes every new segment twice, which loses at 1 MiB groups
//!   and in `None`. Use it for small groups or with retention (recycled files are
//!   zero-filled once). `FALLOC_FL_WRITE_ZEROES` (tried first) would make it cheap;
//!   this disk refuses it.
//! * **Kept, on by default since the raw measurements below: registered buffers** (with
//!   O_DIRECT the group is copied into the staging buffer anyway; registering it saves
//!   the page pinning of every write). Through the whole writer it measured 0.7-1.4x
//!   across runs, within this disk's swing.
//!
//! ## Raw durable-write options
//!
//! `cargo run --release -p benches --bin uring_options -- DIR`: groups written back to
//! back into a pre-written 64 MiB file (so no write allocates), each made durable on
//! its own, 3 interleaved rounds, medians; MB/s over the sum of group times. Same
//! machine, ext4 on virtio, two runs a few minutes apart (run 1 / run 2), MB/s and p99:
//!
//! | group | linked fdatasync, direct | + registered | `RWF_DSYNC` direct + registered | `O_DSYNC` direct + registered | linked fdatasync, buffered |
//! | --- | ---: | ---: | ---: | ---: | ---: |
//! | 4 KiB | 9.2 / 9.1 MB/s, p99 8.0 / 4.0 ms | 13.4 / 11.2, 4.1 / 4.0 ms | 28.3 / 11.7, 0.55 / 4.0 ms | 21.1 / 24.7, 2.3 / 0.40 ms | 5.7 / 3.8, 4.4 / 7.0 ms |
//! | 16 KiB | 91 / 56, 0.66 / 4.0 ms | 89 / 91, 0.67 / 0.49 ms | 96 / 103, 0.86 / 1.3 ms | 87 / 88, 3.4 / 0.45 ms | 91 / 49, 0.41 / 3.7 ms |
//! | 256 KiB | 774 / 841, 1.1 / 0.68 ms | 806 / 949, 1.3 / 0.48 ms | 850 / 885, 0.87 / 0.46 ms | 851 / 743, 0.57 / 1.4 ms | 760 / 568, 0.93 / 1.1 ms |
//! | 1 MiB | 943 / 886, 3.2 / 7.5 ms | 1123 / 1265, 5.9 / 1.3 ms | 1108 / 1188, 3.4 / 2.7 ms | 1272 / 1018, 1.2 / 4.5 ms | 865 / 939, 2.7 / 1.5 ms |
//!
//! * Registered buffers with O_DIRECT were at or near the top at every group size and
//!   beat plain O_DIRECT in 7 of 8 pairs (0.97-1.62x): the default for every group size.
//! * `RWF_DSYNC` and `O_DSYNC` writes instead of a linked `fdatasync`: no consistent
//!   winner; the run-to-run swing (for example `RWF_DSYNC` at 4 KiB: 28.3 then 11.7
//!   MB/s) is larger than any difference between the methods. The backend keeps the
//!   linked `fdatasync` (one submission, the sync's own completion says durable);
//!   `O_DSYNC` would also make the unsynced groups of `None` synchronous.
//! * **Not kept (option, off): SQPOLL.** Worse here: every group still waits for its
//!   sync in `io_uring_enter`, and the polling thread takes a core from the writer.
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use storage_std::backend::{Backend, FileBackend};

pub mod faults;
mod options;
pub mod plan;
mod probe;

#[cfg(target_os = "linux")]
mod backend;
#[cfg(target_os = "linux")]
pub mod measure;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys;

#[cfg(target_os = "linux")]
pub use backend::{UringBackend, UringFile};
pub use options::{MAX_RECYCLE, MAX_STAGING_BYTES, Prealloc, UringOptions, UringStats};
pub use probe::{
    MIN_KERNEL, ProbeError, ProbeInfo, SetupContext, check_release, classify_setup_error,
    parse_release, parse_seccomp, probe,
};

/// Why a [`UringBackend`] could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UringError {
    /// io_uring cannot be used here (the probe says why).
    #[error("io_uring is unavailable: {0}")]
    Unavailable(#[from] ProbeError),
    /// An option outside its documented range (the message names it and the limit).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

#[cfg(not(target_os = "linux"))]
mod unsupported {
    use super::*;
    use storage_std::backend::{Access, BackendFile, DirLock, Mapped};

    #[derive(Debug, Clone, Copy)]
    enum Never {}

    /// The io_uring backend; on this target [`UringBackend::new`] always fails with
    /// [`ProbeError::Unsupported`].
    #[derive(Debug, Clone)]
    pub struct UringBackend(Never);

    impl UringBackend {
        /// Always fails here: io_uring is Linux-only.
        pub fn new(_dir: impl AsRef<Path>, _opts: UringOptions) -> Result<Self, UringError> {
            Err(ProbeError::Unsupported {
                os: std::env::consts::OS,
            }
            .into())
        }

        /// The directory.
        pub fn dir(&self) -> &Path {
            match self.0 {}
        }

        /// The options in use.
        pub fn options(&self) -> &UringOptions {
            match self.0 {}
        }

        /// Whether the staging buffer is registered with the ring.
        pub fn fixed_buffers_active(&self) -> bool {
            match self.0 {}
        }

        /// What the backend did so far.
        pub fn stats(&self) -> UringStats {
            match self.0 {}
        }

        /// Files waiting in the reuse pool.
        pub fn pooled_files(&self) -> Vec<String> {
            match self.0 {}
        }
    }

    impl Backend for UringBackend {
        fn kind(&self) -> String {
            match self.0 {}
        }
        fn list(&self) -> io::Result<Vec<String>> {
            match self.0 {}
        }
        fn create(&self, _: &str) -> io::Result<Box<dyn BackendFile>> {
            match self.0 {}
        }
        fn open(&self, _: &str, _: Access) -> io::Result<Box<dyn BackendFile>> {
            match self.0 {}
        }
        fn rename(&self, _: &str, _: &str) -> io::Result<()> {
            match self.0 {}
        }
        fn remove(&self, _: &str) -> io::Result<()> {
            match self.0 {}
        }
        fn sync_dir(&self) -> io::Result<()> {
            match self.0 {}
        }
        fn lock(&self) -> io::Result<DirLock> {
            match self.0 {}
        }
        fn map(&self, _: &str) -> io::Result<Mapped> {
            match self.0 {}
        }
    }
}
#[cfg(not(target_os = "linux"))]
pub use unsupported::UringBackend;

/// Which backend a user asked for (`--backend auto|std|uring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendChoice {
    /// io_uring where the probe passes, the portable backend otherwise (with a warning).
    #[default]
    Auto,
    /// The portable backend (`pwritev` + `fdatasync`).
    Std,
    /// io_uring, or an error saying why not.
    Uring,
}

impl BackendChoice {
    /// The CLI spelling: `auto`, `std`, `uring`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Std => "std",
            Self::Uring => "uring",
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--backend` value that is not `auto`, `std` or `uring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {0:?} (expected auto, std or uring)")]
pub struct UnknownBackend(pub String);

impl FromStr for BackendChoice {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "std" | "file" | "portable" => Ok(Self::Std),
            "uring" | "io_uring" | "io-uring" => Ok(Self::Uring),
            other => Err(UnknownBackend(other.to_owned())),
        }
    }
}

/// The backend that actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// storage-std's [`FileBackend`].
    Std,
    /// [`UringBackend`].
    Uring,
}

impl BackendKind {
    /// The name for summaries and JSON: `std` or `uring`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::Uring => "uring",
        }
    }
}

/// What [`open_backend`] chose.
pub struct OpenedBackend {
    /// The backend, ready for `Writer::open_with` or `LogReader::new`.
    pub backend: Arc<dyn Backend>,
    /// Which one it is.
    pub kind: BackendKind,
    /// With [`BackendChoice::Auto`]: why io_uring was not used.
    pub fallback: Option<ProbeError>,
    /// The io_uring backend itself (its statistics), when that is the one.
    pub uring: Option<UringBackend>,
}

impl fmt::Debug for OpenedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedBackend")
            .field("kind", &self.kind)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl OpenedBackend {
    /// The line to print on stderr when `auto` fell back to the portable backend.
    pub fn warning(&self) -> Option<String> {
        self.fallback.as_ref().map(|e| {
            format!(
                "io_uring unavailable ({}): {e}; using the portable backend",
                e.kind()
            )
        })
    }
}

/// Opens the log directory `dir` with the backend `choice` names: `Std` is storage-std's
/// [`FileBackend`]; `Uring` is a [`UringBackend`] or the error that says why not; `Auto`
/// is a `UringBackend` where io_uring works and otherwise a `FileBackend`, with the
/// reason in [`OpenedBackend::fallback`] (print [`OpenedBackend::warning`]).
pub fn open_backend(
    dir: impl AsRef<Path>,
    choice: BackendChoice,
    opts: &UringOptions,
) -> Result<OpenedBackend, UringError> {
    let dir = dir.as_ref();
    let std_backend = |fallback| -> Result<OpenedBackend, UringError> {
        let b = FileBackend::new(dir).map_err(|source| UringError::Io {
            op: "create_dir",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(OpenedBackend {
            backend: Arc::new(b),
            kind: BackendKind::Std,
            fallback,
            uring: None,
        })
    };
    match choice {
        BackendChoice::Std => std_backend(None),
        BackendChoice::Uring | BackendChoice::Auto => match UringBackend::new(dir, opts.clone()) {
            Ok(b) => Ok(OpenedBackend {
                backend: Arc::new(b.clone()),
                kind: BackendKind::Uring,
                fallback: None,
                uring: Some(b),
            }),
            Err(UringError::Unavailable(e)) if choice == BackendChoice::Auto => {
                std_backend(Some(e))
            }
            Err(e) => Err(e),
        },
    }
}

/// For tests of this crate and of its users: whether io_uring tests should run.
///
/// Returns `true` where io_uring works. Where it does not, the tests must fail, not
/// skip, unless the environment says this machine lacks io_uring on purpose: then,
/// with `STORAGE_URING_ALLOW_SKIP=1`, it prints why on stderr and returns `false`.
#[doc(hidden)]
pub fn io_uring_tests_enabled(test: &str) -> bool {
    match probe() {
        Ok(_) => true,
        Err(e) if std::env::var("STORAGE_URING_ALLOW_SKIP").as_deref() == Ok("1") => {
            eprintln!("SKIPPED {test}: io_uring unavailable ({}): {e}", e.kind());
            false
        }
        Err(e) => panic!(
            "{test}: io_uring unavailable ({}): {e}; set STORAGE_URING_ALLOW_SKIP=1 to skip on a machine without it",
            e.kind()
        ),
    }
}
