//! Adversarial checks of `SpareBackend::fill` and `SpareOptions`: absurd sizes, spare
//! counts and quiet periods, a zero timeout, a second fill, a drop while the zero pass
//! waits, and a ready spare of another size left in the directory.
#![cfg(not(miri))]

mod common;

use common::spare_files;

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_std::backend::{FileBackend, MAX_SPARES, SpareBackend, SpareOptions};
use storage_std::{Durability, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, Writer, WriterOptions};

const SEG: u64 = 64 << 10;

fn backend(dir: &std::path::Path, opts: SpareOptions) -> SpareBackend<FileBackend> {
    FileBackend::new(dir).unwrap().with_spares(opts)
}

/// A size no segment can have is not a spare size: nothing is zero-filled for it (a
/// `u64::MAX` one would otherwise write zeros until the disk is full), and `fill` says
/// no spare is ready.
#[test]
fn absurd_sizes_are_not_written_and_fill_says_so() {
    for size in [
        Some(0),
        Some(1),
        Some(MIN_SEGMENT_BYTES - 1),
        Some(MAX_SEGMENT_BYTES + 1),
        Some(u64::MAX),
        None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sb = backend(dir.path(), SpareOptions::default().with_size(size));
        let started = Instant::now();
        let ready = sb.fill(Duration::from_millis(300)).unwrap();
        assert!(!ready, "{size:?}: no spare can be ready");
        assert!(sb.ready().is_empty(), "{size:?}");
        assert_eq!(sb.stats().zero_bytes, 0, "{size:?}");
        drop(sb);
        assert!(started.elapsed() < Duration::from_secs(5), "{size:?}");
        assert!(spare_files(dir.path()).is_empty(), "{size:?}");
    }
    // The bounds themselves are sizes.
    let dir = tempfile::tempdir().unwrap();
    let sb = backend(
        dir.path(),
        SpareOptions::default().with_size(Some(MIN_SEGMENT_BYTES)),
    );
    assert!(sb.fill(Duration::from_secs(10)).unwrap());
    assert_eq!(
        spare_files(dir.path())
            .iter()
            .map(|f| f.1)
            .collect::<Vec<_>>(),
        vec![MIN_SEGMENT_BYTES]
    );
}

/// `quiet` waits for a pause after the log's writes; a log that never wrote is quiet,
/// so `fill` does not wait for it (its documented promise), however long it is.
#[test]
fn fill_does_not_wait_for_quiet_when_the_log_never_wrote() {
    for quiet in [Duration::from_secs(30), Duration::MAX] {
        let dir = tempfile::tempdir().unwrap();
        let sb = backend(
            dir.path(),
            SpareOptions::default()
                .with_spares(2)
                .with_size(Some(SEG))
                .with_quiet(quiet),
        );
        let started = Instant::now();
        assert!(sb.fill(Duration::from_secs(10)).unwrap(), "{quiet:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(sb.ready().len(), 2);
    }
}

/// A drop while the zero pass waits for a quiet period (the log just wrote) returns
/// promptly and stops the thread; the half-made spare is not left as a ready one.
#[test]
fn drop_while_the_zero_pass_waits_for_quiet_returns_promptly() {
    for quiet in [Duration::from_secs(600), Duration::MAX] {
        let dir = tempfile::tempdir().unwrap();
        let sb = Arc::new(backend(
            dir.path(),
            SpareOptions::default()
                .with_spares(1)
                .with_size(Some(SEG))
                .with_quiet(quiet),
        ));
        let opts = WriterOptions::new(Durability::group())
            .with_segment_bytes(SEG)
            .with_preallocate(true);
        let w: Writer = Writer::open_with(sb.clone(), opts).unwrap();
        for _ in 0..2000 {
            w.append(&[1; 100]).unwrap(); // several segments: the log wrote just now
        }
        w.close().unwrap();
        assert!(
            !sb.wait_idle(Duration::from_millis(200)),
            "waiting for quiet"
        );
        let started = Instant::now();
        drop(sb);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{quiet:?}: drop took {:?}",
            started.elapsed()
        );
        assert!(
            spare_files(dir.path())
                .iter()
                .all(|(n, len)| !n.ends_with(".zero") || *len == SEG),
            "{:?}",
            spare_files(dir.path())
        );
    }
}

/// `fill` with no time to wait returns at once; a writer opened right after it (the
/// zero pass still running) neither fails nor makes the preparation fail.
#[test]
fn fill_with_a_zero_timeout_then_a_writer_at_once() {
    let seg = 4 << 20;
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let sb = Arc::new(backend(
            dir.path(),
            SpareOptions::default().with_spares(2).with_size(Some(seg)),
        ));
        let _ = sb.fill(Duration::ZERO).unwrap();
        let opts = WriterOptions::new(Durability::group())
            .with_segment_bytes(seg)
            .with_preallocate(true);
        let w: Writer = Writer::open_with(sb.clone(), opts).unwrap();
        w.append(&[1; 100]).unwrap();
        assert!(sb.wait_idle(Duration::from_secs(60)));
        let st = sb.stats();
        assert_eq!(
            (st.failures, sb.last_error()),
            (0, None),
            "round {round}: {st:?}"
        );
        w.close().unwrap();
        assert_eq!(sb.ready().len(), 2, "round {round}");
    }
}

/// A second `fill` adopts the spares of the first and prepares nothing more; spare
/// counts beyond the bound are clamped.
#[test]
fn fill_twice_and_spare_counts_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    for spares in [0, 1, MAX_SPARES, MAX_SPARES + 1, usize::MAX] {
        for f in spare_files(dir.path()) {
            std::fs::remove_file(dir.path().join(f.0)).unwrap();
        }
        let opts = SpareOptions::default()
            .with_spares(spares)
            .with_size(Some(MIN_SEGMENT_BYTES));
        let want = spares.clamp(1, MAX_SPARES);
        let sb = backend(dir.path(), opts);
        assert!(sb.fill(Duration::from_secs(20)).unwrap(), "{spares}");
        assert!(sb.fill(Duration::from_secs(20)).unwrap(), "{spares}");
        assert_eq!(sb.ready().len(), want, "{spares}");
        assert_eq!(sb.stats().prepared, want as u64, "{spares}: prepared once");
        drop(sb);
        let sb = backend(dir.path(), opts);
        assert!(sb.fill(Duration::from_secs(20)).unwrap());
        assert_eq!(
            sb.stats().prepared,
            0,
            "{spares}: a new backend adopts them"
        );
        assert_eq!(spare_files(dir.path()).len(), want);
    }
}

/// A ready spare of another size than the one configured (left by a run with another
/// segment size) is not counted as ready: `fill` replaces it with one of the size.
#[test]
fn a_ready_spare_of_another_size_is_replaced() {
    for other in [0u64, 1, 4096, SEG * 4] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("spare-00000000000000000000.zero"),
            vec![0u8; other as usize],
        )
        .unwrap();
        let sb = backend(dir.path(), SpareOptions::default().with_size(Some(SEG)));
        assert!(sb.fill(Duration::from_secs(20)).unwrap(), "{other}");
        let files = spare_files(dir.path());
        assert_eq!(files.len(), 1, "{other}: {files:?}");
        assert_eq!(files[0].1, SEG, "{other}: {files:?}");
        // The writer's first segment is that pre-written spare.
        let sb = Arc::new(sb);
        let opts = WriterOptions::new(Durability::group())
            .with_segment_bytes(SEG)
            .with_preallocate(true);
        let w: Writer = Writer::open_with(sb.clone(), opts).unwrap();
        w.append(&[1; 100]).unwrap();
        w.close().unwrap();
        assert_eq!(sb.stats().taken, 1);
    }
}

/// Spare names with the largest ids (hand-placed or damaged) are not a reason to
/// panic: the next id must not overflow.
#[test]
fn spare_names_with_the_largest_ids() {
    for id in [u64::MAX, u64::MAX - 1] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(format!("spare-{id:020}.zero")),
            vec![0u8; SEG as usize],
        )
        .unwrap();
        std::fs::write(dir.path().join(format!("spare-{id:020}.prep")), b"x").unwrap();
        let sb = Arc::new(backend(
            dir.path(),
            SpareOptions::default().with_spares(3).with_size(Some(SEG)),
        ));
        assert!(sb.fill(Duration::from_secs(20)).unwrap(), "{id}");
        assert_eq!(sb.ready().len(), 3);
        let opts = WriterOptions::new(Durability::group())
            .with_segment_bytes(SEG)
            .with_preallocate(true);
        let w: Writer = Writer::open_with(sb.clone(), opts).unwrap();
        for _ in 0..3000 {
            w.append(&[1; 100]).unwrap();
        }
        w.close().unwrap();
        assert!(sb.wait_idle(Duration::from_secs(20)));
        assert_eq!(sb.stats().failures, 0, "{:?}", sb.last_error());
        assert!(sb.stats().taken >= 3);
    }
}

/// `fill` on the backend a writer holds: refused, the writer's spares untouched.
#[test]
fn fill_on_the_backend_its_writer_holds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Arc::new(backend(
        dir.path(),
        SpareOptions::default().with_spares(2).with_size(Some(SEG)),
    ));
    let opts = WriterOptions::new(Durability::group())
        .with_segment_bytes(SEG)
        .with_preallocate(true);
    let w: Writer = Writer::open_with(sb.clone(), opts).unwrap();
    assert!(sb.wait_idle(Duration::from_secs(20)));
    let before = sb.ready();
    let err = sb.fill(Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    for _ in 0..2000 {
        w.append(&[1; 100]).unwrap();
    }
    w.close().unwrap();
    assert!(
        sb.stats().taken >= 1,
        "still handing out spares: {:?}",
        sb.stats()
    );
    assert_eq!(before.len(), 2);
}
