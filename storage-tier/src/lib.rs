//! `storage-tier`: the cold tier of a `storage-std` log on object storage, through the
//! `object_store` crate: a local directory by default (`file:///path`, no set-up), any
//! S3-compatible service by configuration (`s3://bucket/prefix`, an endpoint, the
//! `AWS_*` environment variables).
//!
//! * [`Tierer`]: moves sealed, verified segments past a [`TierPolicy`] to the store:
//!   compressed into independently decompressible frames ([`Codec`]: zstd by default,
//!   lz4), uploaded (in parts above a size), read back and checked, recorded in a
//!   durable [`TierManifest`] (locally and in the bucket), and only then deleted
//!   locally. Every step survives a crash; GC removes objects no manifest names; cold
//!   retention ([`ColdRetention`]) cuts the front, manifest first.
//! * [`ColdReader`]: reads cold segments through the [`ColdSegmentSource`] trait,
//!   fetching only the frames a read needs (ranged GETs) through a local cache with a
//!   byte budget. Damaged bytes are an error, never data.
//! * [`restore`]: rebuilds a log directory from the bucket alone.
//!
//! The crate's API is synchronous: it owns a single-threaded tokio runtime, so neither
//! async nor `object_store` reaches `storage-std` or `ringcore`. The object format is in
//! `docs/tier-format.md`.
//!
//! ```
//! use storage_std::{Durability, Start, Writer, WriterOptions};
//! use storage_tier::{ColdReader, ColdSegmentSource, StoreConfig, TierConfig, TierPolicy, Tierer};
//!
//! let log = tempfile::tempdir().unwrap();
//! let bucket = tempfile::tempdir().unwrap();
//! let w: Writer = Writer::open(log.path(), WriterOptions::new(Durability::Sync).with_segment_bytes(4096)).unwrap();
//! for i in 0..200u32 {
//!     w.append(&i.to_le_bytes()).unwrap();
//! }
//! w.close().unwrap();
//!
//! let store = StoreConfig::parse(&format!("file://{}", bucket.path().display())).unwrap();
//! let mut t = Tierer::open(log.path(), TierConfig::new(store.clone())).unwrap();
//! let report = t.run_once(&TierPolicy::keep_local_segments(0), &mut |_| {}).unwrap();
//! assert!(!report.moved.is_empty());
//! drop(t);
//!
//! let cold = ColdReader::open(log.path(), &store, None).unwrap();
//! let first = cold.cold_segments().unwrap()[0].clone();
//! let mut c = cold.open_cursor(first.base_seq, Start::Seq(7)).unwrap();
//! assert_eq!(c.next().unwrap().unwrap().payload, &7u32.to_le_bytes());
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod cache;
mod codec;
mod cold;
mod crash;
mod error;
pub mod manifest;
pub mod object;
mod policy;
mod reader;
mod restore;
pub mod sealed;
mod store;
mod tierer;

pub use codec::Codec;
pub use cold::{ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource};
pub use crash::{CRASH_ENV, CrashPoint};
pub use error::{ErrorClass, Result, TierError};
pub use manifest::{ColdEntry, FrontCut, PendingUpload, TierManifest, object_key};
pub use policy::{ColdRetention, TierPolicy};
pub use reader::{CacheOptions, ColdReader, ReadStats};
pub use restore::{RestoreOptions, RestoreReport, continue_sequence, restore};
pub use store::{StoreConfig, StoreCounters, StoreLocation};
pub use tierer::{
    ColdRetentionReport, LOCAL_MANIFEST, MIN_PART_BYTES, MovedSegment, RetryNote, TIER_DIR,
    TierConfig, TierEvent, TierReport, Tierer, read_local_manifest,
};
