//! Recordings: named logs under one root, each with a run manifest, recorded from a ring
//! by a [`Recorder`], replayed (and merged into the live ring) through a [`LogReplay`].
//!
//! A catalog root holds one directory per recording:
//!
//! ```text
//! ROOT/<name>/manifest.json   run manifest (JSON + CRC32C line, replaced atomically)
//! ROOT/<name>/log/            the recording's log (a storage-std log directory)
//! ```
//!
//! The manifest sits beside the log directory, not in it: recovery moves files it does
//! not know out of a log directory.
//!
//! ```
//! use ringcore::broadcast::GatedRing;
//! use ringcore::broadcast::merge::{MergeError, MergingReader};
//! use storage_std::archive::{Catalog, RecordingState};
//! use storage_std::{Durability, WriterOptions};
//!
//! let root = tempfile::tempdir().unwrap();
//! let catalog = Catalog::open(root.path()).unwrap();
//! let ring = GatedRing::<64, 64, 2>::new();
//! let mut writer = ring.try_writer().unwrap();
//! let mut tap = ring.join().unwrap();
//! let mut recorder = catalog
//!     .create("orders", WriterOptions::new(Durability::group()), Default::default())
//!     .unwrap();
//! for i in 0..10u8 {
//!     writer.try_publish(1, 0, &[i]).unwrap();
//! }
//! drop(writer); // closes the ring
//! recorder.record_until_closed(&mut tap, std::time::Duration::from_millis(1)).unwrap();
//! let manifest = recorder.stop().unwrap();
//! assert_eq!((manifest.state, manifest.last_seq), (RecordingState::Sealed, Some(9)));
//!
//! // A late subscriber replays the archive (the ring is closed: nothing live).
//! let replay = catalog.replay("orders", 3).unwrap();
//! let mut merged = MergingReader::new(&ring, replay, 3);
//! let mut seen = Vec::new();
//! loop {
//!     match merged.read_batch(16, |e| seen.push(e.payload[0])) {
//!         Ok(_) | Err(MergeError::Empty) => {}
//!         Err(MergeError::Closed) => break,
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! assert_eq!(seen, (3..10).collect::<Vec<u8>>());
//! let info = catalog.describe("orders").unwrap();
//! assert_eq!((info.first_seq, info.last_seq, info.live), (Some(0), Some(9), false));
//! ```

mod anchor;
mod catalog;
mod fs;
mod manifest;
mod recorder;
mod replay;

pub use anchor::{
    Anchor, AnchorEntry, MAX_SNAPSHOT_BYTES, RejectedAnchor, anchor_name, latest_anchor,
    list_anchors, write_anchor,
};
pub use catalog::{Catalog, RecordingInfo, TRUNCATING_KEY};
pub use fs::{CatalogFs, RealFs};
pub use manifest::{
    MANIFEST_FILE, MANIFEST_TEMP, MANIFEST_VERSION, Manifest, RecordingState, read_manifest,
    write_manifest,
};
pub use recorder::{Drained, Recorder, RecordingStatus};
pub use replay::{LiveMerge, LiveMergeStats, LogReplay, MergedFrom};

/// [`write_manifest`] after removing the temporary file of a manifest write a crash cut
/// short (the backend's create refuses an existing file).
pub(crate) fn save_manifest(
    dir: &dyn crate::backend::Backend,
    manifest: &Manifest,
) -> Result<(), ArchiveError> {
    anchor::drop_leftover_temp(dir, MANIFEST_TEMP)?;
    write_manifest(dir, manifest)
}

impl ArchiveError {
    /// The I/O error of an [`ArchiveError::Io`] (not a [`std::error::Error::source`]:
    /// its text is in the message already), or of a log error that carries one.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Self::Io { error, .. } => Some(error),
            Self::Log(e) => e.io_error(),
            _ => None,
        }
    }
}

/// Why a catalog, recorder or manifest operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The log refused or failed.
    #[error(transparent)]
    Log(#[from] crate::error::Error),
    /// A file system step failed.
    ///
    /// The message includes the I/O error's text, so [`std::error::Error::source`] does
    /// not return it again (a chain printed cause after cause shows it once); reach it
    /// through the field or [`ArchiveError::io_error`].
    #[error("{step}: {error}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The manifest exists but cannot be trusted: what is wrong with it.
    #[error("recording {recording}: damaged manifest: {detail}")]
    DamagedManifest {
        /// The recording.
        recording: String,
        /// What is wrong.
        detail: String,
    },
    /// No recording of that name.
    #[error("no recording named {0:?}")]
    NotFound(String),
    /// A recording of that name exists already.
    #[error("a recording named {0:?} exists already")]
    Exists(String),
    /// Not a usable recording name.
    #[error("invalid recording name {0:?} (1 to 128 of A-Z a-z 0-9 . _ -, not starting with .)")]
    InvalidName(String),
    /// A recorder is writing the recording.
    #[error("recording {0:?} is being written")]
    Live(String),
    /// The recording's state does not allow it.
    #[error("recording {recording:?} is {state}: {detail}")]
    State {
        /// The recording.
        recording: String,
        /// Its state.
        state: &'static str,
        /// Why that stops the operation.
        detail: String,
    },
    /// A record does not carry the sequence the recording appends next (number the
    /// ring's records from `Recorder::next_seq`).
    #[error("record has sequence {found}, the recording expects {expected}")]
    SeqMismatch {
        /// The sequence due.
        expected: u64,
        /// The record's.
        found: u64,
    },
    /// The manifest records a truncation that a crash cut short
    /// ([`TRUNCATING_KEY`]): a new run would replace the manifest's configuration and
    /// lose what it says, so [`Catalog::extend`] leaves it to [`Catalog::recover`] (or
    /// the truncation run again), which settle whether the cut happened.
    #[error(
        "recording {recording:?} has an unfinished truncation (keeping sequences up to {kept}): recover it, or run the truncation again, before extending it"
    )]
    PendingTruncation {
        /// The recording.
        recording: String,
        /// The last sequence the truncation keeps.
        kept: u64,
    },
    /// A snapshot anchor for a sequence that is not durable yet.
    #[error(
        "an anchor at sequence {seq} is newer than the durable log (durable below {durable_end})"
    )]
    AnchorAhead {
        /// The anchor's sequence.
        seq: u64,
        /// One past the last durable sequence.
        durable_end: u64,
    },
    /// A replay merged into a live log found sequences in neither: the sequence due is
    /// not in the recording, and the live log (or the recording) goes on at `found`.
    #[error(
        "sequences {expected}..{found} are in neither the recording nor the live log (the live log's front was deleted past the recording's end?)"
    )]
    MergeGap {
        /// The sequence due.
        expected: u64,
        /// Where the log that has records goes on.
        found: u64,
    },
    /// The live log of a merge is not the recording's continuation: at a sequence both
    /// hold, its record differs from the recording's (another log, numbered alike).
    #[error(
        "the live log is not the recording's continuation: its record {seq} differs from the recording's"
    )]
    NotContinuation {
        /// The sequence both logs hold, with different records.
        seq: u64,
    },
    /// The recorder's reader was lapped (an overwrite ring): the recording would have a
    /// gap. Record from a gated reader.
    #[error("the recorder was lapped at sequence {at} and lost {lost} records")]
    Lapped {
        /// The sequence due when it was lapped.
        at: u64,
        /// Records lost.
        lost: u64,
    },
}
