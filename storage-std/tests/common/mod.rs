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

/// A log of `seed` records (sequences `0..seed`, the test-support payload and meta) on a
/// fresh memory backend, written through `wrap` (the backend as the scenario sees it).
pub fn seeded_log<const N: usize>(
    wrap: impl Fn(
        &storage_std::backend::MemBackend,
    ) -> std::sync::Arc<dyn storage_std::backend::Backend>,
    opts: WriterOptions,
    seed: u64,
) -> storage_std::backend::MemBackend {
    let m = storage_std::backend::MemBackend::new();
    let w = storage_std::Writer::<N>::open_with(wrap(&m), opts).unwrap();
    for s in 0..seed {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.close().unwrap();
    m
}

/// The power-cut workload: opens a writer on `backend` (whose power may fail at any
/// step), appends sequences `from..from + run` until the writer stops, waiting for
/// durability every 4th append, and returns the highest durable watermark it reported
/// (`from - 1` if the open itself fails). Every error must be a stop or `Closed`; a clean
/// close must report every sequence durable.
pub fn cut_workload<const N: usize>(
    backend: std::sync::Arc<dyn storage_std::backend::Backend>,
    opts: WriterOptions,
    from: u64,
    run: u64,
) -> Option<u64> {
    let d = opts.durability();
    let mut reported = from.checked_sub(1);
    let Ok(w) = storage_std::Writer::<N>::open_with(backend, opts) else {
        return reported;
    };
    for s in from..from + run {
        match w.append_with(&payload(s), meta(s)) {
            Ok(seq) => assert_eq!(seq, s),
            Err(e) => {
                assert!(
                    e.stop_cause().is_some() || matches!(e, storage_std::Error::Closed),
                    "{e}"
                );
                break;
            }
        }
        if s % 4 == 0 && d != Durability::None {
            let _ = w.wait_durable(s, Some(std::time::Duration::from_secs(5)));
        }
        reported = reported.max(w.durable_seq());
    }
    reported = reported.max(w.durable_seq());
    if let Ok(r) = w.close() {
        reported = reported.max(r.durable_seq);
        assert_eq!(
            r.durable_seq,
            Some(from + run - 1),
            "a clean close syncs all"
        );
    }
    reported
}

/// The spare files (`spare-*`) in `dir` with their lengths, sorted by name.
pub fn spare_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("spare-"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().unwrap().len())
        })
        .collect();
    out.sort();
    out
}
