//! `storage-std`: a durable, segmented event log built on `ringcore`.
//!
//! * [`Writer`]: producers append into a `ringcore` SPSC ring (the submit queue); one
//!   writer thread commits groups to the active segment with the chosen [`Durability`],
//!   rolls segments, and keeps a durable high-watermark that callers query or wait on.
//!   I/O errors and stalls stop it (fail-stop). Several producers share it: the writer
//!   is `Sync`, so threads share an `Arc<Writer>` and each `append` takes a mutex around
//!   the ring's single producer just long enough to reserve, fill and publish one record
//!   (sequences are assigned under that mutex: gap-free, in queue order).
//! * One definition of a log's state (the `state` module): every file judged clean, torn
//!   tail, repairable or corruption ([`LogClass`]) by the same rules for recovery, the
//!   verifier and the readers.
//! * Recovery on open cuts a torn tail and repairs derived files, refuses corruption
//!   unless forced (changing nothing), and with `force` takes it out without deleting
//!   anything: lost ranges in the log, the files in [`quarantine`]
//!   ([`RecoveryReport`], [`recover`]).
//! * [`LogReader`] and [`Cursor`]: replay from a sequence or a time and follow mode,
//!   through positioned reads (a truncated file is an error, never `SIGBUS`); lost ranges
//!   come back as [`LogItem::Lost`]; a live writer's durable point is the limit.
//! * [`verify`]: every checksum, continuity, footers, indexes; findings as data, in the
//!   four classes, checked up to a live writer's durable point.
//! * [`RetentionPolicy`] and [`OffsetStore`]: deleting old segments, durable consumer
//!   offsets.
//! * [`backend`]: the storage trait with real-file, in-memory (power cuts) and faulty
//!   implementations; an io_uring backend plugs in here.
//! * [`dispatch`]: a `ringcore` ring drained straight into the log
//!   ([`dispatch::LogSink`], a `ringcore::dispatch` consumer).
//! * Feature `async`: `Writer::durable` (a future for `wait_durable`) and
//!   `Writer::follow` (a `futures_core::Stream` of a live log), with any executor
//!   (module `asynch`).
//! * Feature `tracing`: `tracing` events (target `storage_std`) for open, recovery,
//!   segment seal and roll, retention and fail-stop; off, nothing is compiled in.
//!
//! The on-disk format is in [`format`](mod@format) and `docs/format.md`.
//!
//! ```
//! use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
//! let last = (0..100u32).map(|i| w.append(&i.to_le_bytes()).unwrap()).last().unwrap();
//! w.wait_durable(last, None).unwrap();
//! let mut c = w.reader(storage_std::ReadLimit::Durable).cursor(Start::Seq(10)).unwrap();
//! assert_eq!(c.next().unwrap().unwrap().payload, &10u32.to_le_bytes());
//! drop(c);
//! w.close().unwrap();
//! assert_eq!(storage_std::verify_dir(dir.path()).unwrap().status, storage_std::VerifyStatus::Clean);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// A `tracing` event with feature `tracing`; without it, nothing (the arguments are not
/// even evaluated).
macro_rules! trace_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::event!(target: "storage_std", $($arg)*);
    };
}

/// The text form of a serde type: `Display` writes its JSON (one line), `FromStr` reads
/// it back (an `InvalidArgument` error naming `$what` otherwise).
macro_rules! json_text_form {
    ($ty:ty, $what:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let json = ::serde_json::to_string(self).map_err(|_| ::std::fmt::Error)?;
                f.write_str(&json)
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = crate::error::Error;

            fn from_str(s: &str) -> crate::error::Result<Self> {
                ::serde_json::from_str(s).map_err(|e| {
                    crate::error::Error::InvalidArgument(format!(concat!($what, ": {}"), e))
                })
            }
        }
    };
}

// Layers, lowest first; a module imports only modules of lower layers
// (`scripts/check-layout.sh` checks it, `docs/architecture.md` draws it).
pub mod archive;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
mod audit;
pub mod backend;
mod chain_files;
mod clock;
pub mod dispatch;
mod error;
pub mod format;
mod offsets;
mod progress;
pub mod quarantine;
mod reader;
mod recovery;
mod retention;
mod scan;
mod segment;
mod state;
pub mod time;
mod verify;
mod writer;

pub use audit::{
    IsolatedOutcome, IsolatedVerify, IsolationLimits, REPORT_MARKER, VERIFY_CHILD_ENV,
    run_verify_child_if_requested, verify_dir, verify_dir_with, verify_isolated,
};
pub use clock::{coarse_now_ns, now_ns};
pub use error::{Error, ErrorClass, Result, SeqRange, StopCause};
pub use offsets::OffsetStore;
pub use progress::ReadLimit;
pub use reader::{
    ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource, Cursor, LogItem,
    LogReader, ReadEnd, Record, Start,
};
pub use recovery::{Cut, CutKind, RecoveryReport};
pub use retention::{KeepUnread, RetentionPolicy, RetentionReport};
pub use segment::SegmentInfo;
pub use verify::{
    ChainReport, ExpectDigest, Finding, LiveCheck, LogClass, Problem, SealedRun, SegmentCheck,
    Severity, VerifyOptions, VerifyReport, VerifyStatus, record_chain_front, verify, verify_with,
    write_chain_front,
};
pub use writer::{
    Appender, CloseReport, DEFAULT_QUEUE_BYTES, Durability, MAX_GROUP_BYTES, MAX_INDEX_INTERVAL,
    MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, RecordMeta, SyncLatency, Writer, WriterOptions,
    WriterStats,
};

/// Recovers the log in `dir` without continuing it (what `ringctl recover [--force]`
/// runs): takes the writer's lock ([`Error::Locked`] if a writer holds it), checks every
/// record of every segment, and does what a writer's open would do before appending:
/// cuts a torn tail, repairs derived files, and with `force` takes corruption out of the
/// log (rebuilding damaged segments around lost ranges, moving what it takes out to
/// `quarantine/`). Without `force`, corruption is refused and nothing is changed. Creates
/// nothing: a missing directory is an error.
pub fn recover(dir: impl AsRef<std::path::Path>, force: bool) -> Result<RecoveryReport> {
    let dir = dir.as_ref();
    let b = backend::FileBackend::existing(dir)
        .map_err(|e| Error::io("open", dir.display().to_string(), e))?;
    recover_with(&b, force)
}

/// [`recover`] on any backend.
pub fn recover_with(backend: &dyn backend::Backend, force: bool) -> Result<RecoveryReport> {
    recovery::repair_locked(backend, force)
}
