//! Typed errors with a retryable/fatal split and the exit code `ringctl` maps each to
//! (the reliability issue's table: 1 corruption or a failed check, 2 usage, I/O or not a
//! log, 5 locked).

use std::io;

/// Result with this crate's [`TierError`].
pub type Result<T, E = TierError> = std::result::Result<T, E>;

/// Everything that can go wrong while tiering, reading or restoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TierError {
    /// A bad store URL or option.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Local file-system I/O failed.
    #[error("{op} on {path} failed")]
    Io {
        /// The operation (`open`, `read`, `rename`, `sync_dir`, ...).
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The object store failed (network, server, permission). Retryable unless the
    /// store said the object is missing or the request is refused for good.
    #[error("object store: {op} {key} failed")]
    Store {
        /// The operation (`put`, `get`, `list`, ...).
        op: &'static str,
        /// The object key.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Bytes whose checksum or structure is wrong: a damaged object, cache file,
    /// manifest or local segment. Never returned as data.
    #[error("corruption in {what}: {detail}")]
    Corrupt {
        /// The object key or file.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// Another tiering task holds `DIR/tier/LOCK`. Retryable once it exits.
    #[error("tiering of {0} is locked by another process")]
    Locked(String),
    /// Local segments and the tier manifest disagree (a gap, two different copies of one
    /// segment, a bucket that holds another log).
    #[error("tier state conflict: {0}")]
    Conflict(String),
    /// A sequence or segment the cold tier does not hold.
    #[error("not in the cold tier: {0}")]
    NotFound(String),
}

/// Whether retrying the same call can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying later can succeed (the store was unreachable, the lock was held).
    Retryable,
    /// Retrying will not help without a change (damage, conflict, bad input).
    Fatal,
}

impl TierError {
    /// Retryable or fatal.
    ///
    /// ```
    /// use storage_tier::{ErrorClass, TierError};
    /// assert_eq!(TierError::Locked("d".into()).class(), ErrorClass::Retryable);
    /// assert_eq!(TierError::Config("x".into()).class(), ErrorClass::Fatal);
    /// ```
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Locked(_) => ErrorClass::Retryable,
            Self::Store { source, .. } => match source {
                object_store::Error::NotFound { .. }
                | object_store::Error::NotSupported { .. }
                | object_store::Error::NotImplemented { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
                | object_store::Error::InvalidPath { .. } => ErrorClass::Fatal,
                _ => ErrorClass::Retryable,
            },
            Self::Io { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                ErrorClass::Retryable
            }
            _ => ErrorClass::Fatal,
        }
    }

    /// Whether [`TierError::class`] is [`ErrorClass::Retryable`].
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The exit code `ringctl tier` and `ringctl restore` return for this error: 1
    /// corruption or conflict, 5 locked, 2 everything else (usage, I/O, store).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Corrupt { .. } | Self::Conflict(_) => 1,
            Self::Locked(_) => 5,
            _ => 2,
        }
    }

    /// Whether the store reported that the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Store {
                source: object_store::Error::NotFound { .. },
                ..
            } | Self::NotFound(_)
        )
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl AsRef<std::path::Path>,
        source: io::Error,
    ) -> Self {
        Self::Io {
            op,
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
