//! The synchronous cold-segment source is defined in storage-std (so storage-std never
//! depends on `object_store`); re-exported here for the tier's users.

pub use storage_std::{ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource};
