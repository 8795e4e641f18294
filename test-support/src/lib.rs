//! Helpers the storage tests of `storage-std`, `storage-uring` and `ringctl` share, so a
//! log written by one crate's test is checked the same way by every other:
//!
//! * [`log`]: the records a test writes (the payload pattern of `ringlog-pattern` with
//!   lengths from [`PAYLOAD_SIZES`], and metadata derived from the sequence), writer
//!   options with small segments, and readers that check a whole log;
//! * [`backends`]: in-memory and real-file backends, and one that recycles segment files;
//! * [`faults`]: fault-injection scenarios written once for every backend that can be
//!   made to fail ([`faults::FaultRig`]);
//! * [`cli`]: running a command-line binary and reading its output;
//! * [`files`]: the files of a log directory on disk;
//! * [`rng`]: a small seedable generator.
//!
//! It re-exports the `ringlog-pattern` crate: a payload written with [`fill`] in one
//! test is checked with [`check`] in another, or by `ringctl replay --check`.
#![deny(missing_docs, missing_debug_implementations)]

pub mod backends;
pub mod cli;
pub mod faults;
pub mod files;
pub mod log;
pub mod rng;

pub use backends::{Recycling, file_backend, mem};
pub use log::{
    PAYLOAD_SIZES, assert_clean, check_durable_survives, group_of, meta, payload, read_all_checked,
    read_log_checked, small_opts, write_n,
};
pub use ringlog_pattern::{self as pattern, PayloadSizes, byte, check, check_ends, fill};
pub use rng::Rng;
