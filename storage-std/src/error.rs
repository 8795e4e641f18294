//! Typed errors, split into retryable and fatal, and [`OpError`]: a failed backend call
//! with what and where, which every layer above the backend returns.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the writer stopped (fail-stop). Cloned into every error that waiting and later
/// appends return.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopCause {
    /// A backend call failed.
    Io {
        /// The operation (`write`, `sync`, `create`, `sync_dir`, ...).
        op: String,
        /// The file it was on.
        file: String,
        /// The OS error number, if any (5 = EIO, 28 = ENOSPC).
        errno: Option<i32>,
        /// The error's text.
        message: String,
    },
    /// A backend call did not return within the stall threshold.
    Stall {
        /// The operation.
        op: String,
        /// The file it was on.
        file: String,
        /// The threshold that was passed.
        threshold_ms: u64,
    },
    /// The writer thread panicked (a bug).
    Panic {
        /// The panic message.
        message: String,
    },
}

impl StopCause {
    pub(crate) fn io(op: &str, file: &str, e: &io::Error) -> Self {
        Self::Io {
            op: op.to_owned(),
            file: file.to_owned(),
            errno: e.raw_os_error(),
            message: e.to_string(),
        }
    }

    pub(crate) fn stall(op: &str, file: &str, threshold: Duration) -> Self {
        Self::Stall {
            op: op.to_owned(),
            file: file.to_owned(),
            threshold_ms: threshold.as_millis().try_into().unwrap_or(u64::MAX),
        }
    }
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                op, file, message, ..
            } => write!(f, "{op} on {file} failed: {message}"),
            Self::Stall {
                op,
                file,
                threshold_ms,
            } => write!(f, "{op} on {file} stalled for more than {threshold_ms} ms"),
            Self::Panic { message } => write!(f, "writer thread panicked: {message}"),
        }
    }
}

/// A range of sequences, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqRange {
    /// First sequence.
    pub first: u64,
    /// Last sequence (included).
    pub last: u64,
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..={}", self.first, self.last)
        }
    }
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another writer holds the directory's lock file. Retryable once it exits. The
    /// text is the whole message: which directory, and that another writer holds it
    /// (the backend's lock error, e.g. `/var/log/x is locked by another writer`).
    #[error("{0}")]
    Locked(String),
    /// An I/O error outside the writer thread (open, recovery, readers, offsets).
    ///
    /// The message includes the I/O error's text, so [`std::error::Error::source`] does
    /// not return it again (a chain printed cause after cause shows it once); reach it
    /// through the field or [`Error::io_error`].
    #[error("{op} on {file} failed: {error}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The file (or directory) it was on.
        file: String,
        /// The error.
        error: io::Error,
    },
    /// A file of another format version.
    #[error("{file}: unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Damage that is not a torn tail: a sealed segment, a segment before the last, or
    /// the sequence continuity between segments.
    #[error("corruption in {file} at offset {offset}: {detail}")]
    Corrupt {
        /// The file.
        file: String,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Damage in the last segment followed by valid records further than one group
    /// away: cutting would drop records that may have been acknowledged. Open with
    /// `force` to cut anyway.
    #[error(
        "mid-log damage in {file} at offset {offset} ({detail}): valid records follow \
         {distance} bytes later, beyond the {window}-byte torn window; open with force \
         to cut there, losing sequences {lost}"
    )]
    NeedsForce {
        /// The file.
        file: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        detail: String,
        /// Distance from the damage to the end of the furthest valid record.
        distance: u64,
        /// The segment's torn window.
        window: u64,
        /// The sequences a forced cut would lose.
        lost: SeqRange,
    },
    /// The writer stopped after an I/O error or a stall (fail-stop); nothing after the
    /// durable watermark is guaranteed.
    #[error("the writer stopped: {0}")]
    Stopped(Arc<StopCause>),
    /// The submit queue is full (`try_append`). Retryable.
    #[error("the submit queue is full")]
    QueueFull,
    /// `wait_durable` timed out. Retryable.
    #[error("timed out waiting for sequence {seq} to become durable")]
    Timeout {
        /// The sequence waited for.
        seq: u64,
    },
    /// A payload larger than the queue or the format accepts.
    #[error("payload of {len} bytes exceeds the largest accepted, {max}")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The writer was closed.
    #[error("the writer is closed")]
    Closed,
    /// Sequences an earlier `recover --force` recorded as lost (their bytes were
    /// damaged; what was there is in `quarantine/`). The cursor that returned it is past
    /// them: the next call returns the record after them.
    #[error("sequences {from}..={to} were lost (damaged, taken out by recover --force)")]
    Lost {
        /// First lost sequence.
        from: u64,
        /// Last lost sequence.
        to: u64,
    },
    /// A sequence older than the oldest retained segment.
    #[error("sequence {requested} is no longer in the log (the first retained is {first})")]
    NotRetained {
        /// The sequence asked for.
        requested: u64,
        /// The first sequence still in the log.
        first: u64,
    },
    /// A bad argument or option.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The writer's single producer is out with an `Appender`: appends through the
    /// shared writer, and a second `appender()`, wait until it is dropped. Retryable.
    #[error("the writer's producer is held by an Appender until it is dropped")]
    ProducerBusy,
}

/// Whether retrying the same call can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Retrying later can succeed (queue full, timeout, lock held, interrupted I/O).
    Retryable,
    /// Retrying will not help without a change (damage, fail-stop, bad input).
    Fatal,
}

impl Error {
    /// Retryable or fatal.
    ///
    /// ```
    /// use storage_std::{Error, ErrorClass};
    /// assert_eq!(Error::QueueFull.class(), ErrorClass::Retryable);
    /// assert_eq!(Error::Closed.class(), ErrorClass::Fatal);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::QueueFull | Self::Timeout { .. } | Self::Locked(_) | Self::ProducerBusy => {
                ErrorClass::Retryable
            }
            Self::Io { error, .. }
                if matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                ErrorClass::Retryable
            }
            _ => ErrorClass::Fatal,
        }
    }

    /// Whether [`Error::class`] is [`ErrorClass::Retryable`].
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The fail-stop cause, if this is [`Error::Stopped`].
    pub fn stop_cause(&self) -> Option<&StopCause> {
        match self {
            Self::Stopped(c) => Some(c),
            _ => None,
        }
    }

    /// The I/O error of an [`Error::Io`].
    ///
    /// ```
    /// let e = storage_std::LogReader::open("/nonexistent/ringlog").unwrap_err();
    /// assert_eq!(e.io_error().map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Self::Io { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, file: impl Into<String>, error: io::Error) -> Self {
        Self::Io {
            op,
            file: file.into(),
            error,
        }
    }
}

/// A failed backend call, with what and where.
#[derive(Debug)]
pub(crate) struct OpError {
    pub op: &'static str,
    pub file: String,
    pub source: io::Error,
}

impl OpError {
    pub(crate) fn new(op: &'static str, file: &str, source: io::Error) -> Self {
        Self {
            op,
            file: file.to_owned(),
            source,
        }
    }

    /// The fail-stop cause this error becomes when the writer thread meets it.
    pub(crate) fn cause(&self) -> StopCause {
        StopCause::io(self.op, &self.file, &self.source)
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        Error::io(e.op, e.file, e.source)
    }
}

/// Names the operation and file of an I/O result: `file.sync(..).op("sync", &name)?`.
pub(crate) trait OpCtx<T> {
    fn op(self, op: &'static str, file: &str) -> Result<T, OpError>;
}

impl<T> OpCtx<T> for io::Result<T> {
    fn op(self, op: &'static str, file: &str) -> Result<T, OpError> {
        self.map_err(|e| OpError::new(op, file, e))
    }
}
