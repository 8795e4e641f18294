//! Helpers of the integration tests: the shared ones of `test-support` (the payload
//! pattern, whole-log checks, backends), with this crate's small sizes.
#![allow(dead_code, unused_imports)]

pub use test_support::*;

use storage_std::{Durability, WriterOptions};

/// A small writer: 4 KiB segments, tiny index interval, no stall watchdog.
pub fn small_opts(d: Durability) -> WriterOptions {
    test_support::small_opts(d, 4096, 256)
}

/// A group setting small enough for the tests' segments.
pub fn small_group() -> Durability {
    test_support::group_of(1024)
}
