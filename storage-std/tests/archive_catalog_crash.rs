//! A crash at every step of the catalog's create, extend, truncate and purge, under
//! every power-cut mode: the whole catalog lives on a simulated disk (`common/simfs.rs`:
//! one step counter over directory steps, file creations, renames, writes and syncs),
//! the operation is cut before step N, the power cut keeps what the mode says survives,
//! and the catalog reopened on what is left must be consistent: a recording exists whole
//! or not at all, its log holds every record that was durable before the operation (and
//! a cut truncation or extension nothing else), the manifest agrees with the log or a
//! recovery brings it in line, the log verifies as clean or a named recoverable state,
//! and the operation, tried again, succeeds.

#[path = "common/recording.rs"]
mod recording;
#[path = "common/simfs.rs"]
mod simfs;

use recording::record;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use simfs::SimFs;
use storage_std::archive::{
    ArchiveError, Catalog, CatalogFs, Recorder, RecordingState, TRUNCATING_KEY,
};
use storage_std::backend::CrashMode;
use storage_std::{Durability, LogReader, Start, VerifyStatus, WriterOptions};

const MODES: [CrashMode; 3] = [
    CrashMode::DropUnsynced,
    CrashMode::KeepUnsynced,
    CrashMode::TornPages { seed: 5 },
];

const ROOT: &str = "/catalog";

fn opts() -> WriterOptions {
    WriterOptions::new(Durability::group()).with_segment_bytes(8 << 10)
}

fn catalog_on(fs: &SimFs) -> Catalog {
    Catalog::open_on(ROOT, Arc::new(fs.clone())).unwrap()
}

/// A disk whose catalog holds `r`, sealed, with records `0..count`.
fn sealed_recording(count: u64) -> SimFs {
    let fs = SimFs::new();
    let catalog = catalog_on(&fs);
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, count);
    rec.stop().unwrap();
    fs
}

/// The sequences of `name`'s log, each record checked (its payload and timestamp).
fn log_seqs(fs: &SimFs, name: &str, label: &str) -> Vec<u64> {
    let backend = fs
        .open_dir(&Path::new(ROOT).join(name).join("log"))
        .unwrap_or_else(|e| panic!("{label}: open log: {e}"));
    let reader = LogReader::new(backend);
    let mut cursor = reader
        .cursor(Start::Oldest)
        .unwrap_or_else(|e| panic!("{label}: cursor: {e}"));
    let mut seqs = Vec::new();
    while let Some(r) = cursor
        .next()
        .unwrap_or_else(|e| panic!("{label}: read: {e}"))
    {
        let seq = r.header.seq;
        assert_eq!(r.payload, seq.to_le_bytes(), "{label}: payload of {seq}");
        assert_eq!(
            r.header.timestamp_ns,
            seq * 10,
            "{label}: timestamp of {seq}"
        );
        seqs.push(seq);
    }
    seqs
}

/// The log verifies as clean or a state recovery repairs, never as corruption.
fn verifies(fs: &SimFs, name: &str, label: &str) -> VerifyStatus {
    let backend = fs
        .open_dir(&Path::new(ROOT).join(name).join("log"))
        .unwrap();
    let report = storage_std::verify(&backend).unwrap_or_else(|e| panic!("{label}: verify: {e}"));
    assert_ne!(
        report.status,
        VerifyStatus::Corrupt,
        "{label}: {:?}",
        report.findings
    );
    report.status
}

/// Runs `op` on a copy of `base` cut before each of its steps in turn, under every
/// mode, until it completes; `check` sees the catalog reopened after the power cut.
fn sweep(
    base: &SimFs,
    op: &dyn Fn(&Catalog) -> Result<Option<Recorder>, ArchiveError>,
    check: &dyn Fn(&Catalog, &SimFs, &str),
) -> u64 {
    let mut cuts = 0;
    for mode in MODES {
        let mut step = 0;
        loop {
            let fs = base.fork();
            let catalog = catalog_on(&fs);
            fs.set_crash_at(Some(fs.steps() + step));
            let result = op(&catalog);
            let completed = !fs.is_crashed();
            let label = format!("{mode:?} cut before step {step}");
            if completed && let Err(e) = &result {
                panic!("{label}: the uncut operation failed: {e}");
            }
            let trace = fs.trace();
            // The power goes before anything the operation returned is dropped: a
            // recorder's writer closing the log would be after the crash.
            fs.power_cut(mode);
            drop(result);
            drop(catalog);
            let catalog = Catalog::open_on(ROOT, Arc::new(fs.clone()))
                .unwrap_or_else(|e| panic!("{label}: reopen: {e}"));
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check(&catalog, &fs, &label)
            }));
            if let Err(p) = outcome {
                eprintln!("{label}: steps taken before the cut:");
                for t in trace.iter().rev().take(12).rev() {
                    eprintln!("  {t}");
                }
                std::panic::resume_unwind(p);
            }
            cuts += 1;
            if completed {
                break;
            }
            step += 1;
            assert!(step < 20_000, "an operation takes fewer steps");
        }
        assert!(step >= 4, "{mode:?}: the operation took {step} steps");
    }
    cuts
}

/// How often each outcome of a sweep was seen (each must be, or the sweep missed it).
struct Seen<const N: usize>([AtomicUsize; N]);

impl<const N: usize> Seen<N> {
    fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicUsize::new(0)))
    }
    fn saw(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }
    fn assert_all(&self) {
        let counts: Vec<usize> = self.0.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert!(counts.iter().all(|&c| c > 0), "outcomes seen: {counts:?}");
    }
}

/// `r` is listed without a problem (whole).
fn listed_whole(catalog: &Catalog, label: &str) {
    let list = catalog
        .list()
        .unwrap_or_else(|e| panic!("{label}: list: {e}"));
    assert_eq!(list.len(), 1, "{label}");
    assert_eq!(list[0].name, "r", "{label}");
    assert!(list[0].problem.is_none(), "{label}: {:?}", list[0].problem);
}

#[test]
fn a_crash_at_each_step_of_a_create_leaves_the_recording_whole_or_absent() {
    let base = SimFs::new();
    catalog_on(&base);
    let seen = Seen::<2>::new();
    let cuts = sweep(
        &base,
        &|c| c.create("r", opts(), BTreeMap::new()).map(Some),
        &|catalog, fs, label| {
            let list = catalog
                .list()
                .unwrap_or_else(|e| panic!("{label}: list: {e}"));
            match list.as_slice() {
                [] => {
                    seen.saw(0);
                    // Not created: the name is free, and the create goes through now.
                    let mut rec = catalog
                        .create("r", opts(), BTreeMap::new())
                        .unwrap_or_else(|e| panic!("{label}: create again: {e}"));
                    record(&mut rec, 3);
                    let m = rec.stop().unwrap();
                    assert_eq!((m.state, m.last_seq), (RecordingState::Sealed, Some(2)));
                }
                [info] => {
                    seen.saw(1);
                    // Created: a run that never stopped, which extend continues.
                    assert!(info.problem.is_none(), "{label}: {:?}", info.problem);
                    assert_eq!(info.state_label(), "interrupted", "{label}");
                    assert!(log_seqs(fs, "r", label).is_empty(), "{label}");
                    verifies(fs, "r", label);
                    assert!(matches!(
                        catalog.create("r", opts(), BTreeMap::new()),
                        Err(ArchiveError::Exists(_))
                    ));
                    let mut rec = catalog
                        .extend("r", opts(), BTreeMap::new())
                        .unwrap_or_else(|e| panic!("{label}: extend: {e}"));
                    assert_eq!(rec.next_seq(), 0, "{label}");
                    record(&mut rec, 3);
                    let m = rec.stop().unwrap();
                    assert_eq!((m.state, m.last_seq), (RecordingState::Sealed, Some(2)));
                }
                more => panic!("{label}: {} recordings", more.len()),
            }
        },
    );
    assert!(cuts > 12, "{cuts}");
    seen.assert_all();
}

#[test]
fn a_crash_at_each_step_of_an_extend_keeps_every_durable_record() {
    let base = sealed_recording(300);
    let seen = Seen::<2>::new();
    sweep(
        &base,
        &|c| c.extend("r", opts(), BTreeMap::new()).map(Some),
        &|catalog, fs, label| {
            listed_whole(catalog, label);
            assert_eq!(
                log_seqs(fs, "r", label),
                (0..300).collect::<Vec<_>>(),
                "{label}"
            );
            verifies(fs, "r", label);
            let info = catalog.describe("r").unwrap();
            let m = info.manifest.clone().unwrap();
            assert_eq!(m.last_seq, Some(299), "{label}");
            match (m.state, m.runs) {
                (RecordingState::Sealed, 1) => {
                    seen.saw(0);
                    assert_eq!(info.state_label(), "sealed")
                }
                (RecordingState::Running, 2) => {
                    seen.saw(1);
                    assert_eq!(info.state_label(), "interrupted")
                }
                other => panic!("{label}: {other:?}"),
            }
            let mut rec = catalog
                .extend("r", opts(), BTreeMap::new())
                .unwrap_or_else(|e| panic!("{label}: extend again: {e}"));
            assert_eq!(rec.next_seq(), 300, "{label}");
            record(&mut rec, 3);
            let m = rec.stop().unwrap();
            assert_eq!(
                (m.state, m.last_seq),
                (RecordingState::Sealed, Some(302)),
                "{label}"
            );
            assert_eq!(log_seqs(fs, "r", label).len(), 303, "{label}");
        },
    );
    seen.assert_all();
}

#[test]
fn a_crash_at_each_step_of_a_truncate_leaves_the_old_log_or_the_cut_one() {
    let base = sealed_recording(400);
    {
        let catalog = catalog_on(&base);
        catalog.store_anchor("r", 100, b"early").unwrap();
        catalog.store_anchor("r", 300, b"late").unwrap();
    }
    // The old log; the cut one with the manifest still at the old end; both cut.
    let seen = Seen::<3>::new();
    sweep(
        &base,
        &|c| c.truncate("r", 149).map(|_| None),
        &|catalog, fs, label| {
            listed_whole(catalog, label);
            let seqs = log_seqs(fs, "r", label);
            let last = seqs.last().copied();
            assert!(
                last == Some(149) || last == Some(399),
                "{label}: the log ends at {last:?}"
            );
            assert_eq!(
                seqs,
                (0..=last.unwrap()).collect::<Vec<_>>(),
                "{label}: every record up to the end"
            );
            verifies(fs, "r", label);
            let info = catalog.describe("r").unwrap();
            assert_eq!(info.last_seq, last, "{label}");
            let m = info.manifest.unwrap();
            // The manifest never claims a cut the log lacks, and when it still says the
            // old end of a cut log, it says why: the truncation it had started.
            assert!(
                m.last_seq == last || (m.last_seq == Some(399) && last == Some(149)),
                "{label}: manifest {:?}, log {last:?}",
                m.last_seq
            );
            seen.saw(match (last, m.last_seq) {
                (Some(399), _) => 0,
                (_, Some(399)) => 1,
                _ => 2,
            });
            if m.last_seq != last {
                assert_eq!(
                    m.config.get(TRUNCATING_KEY).map(String::as_str),
                    Some("149"),
                    "{label}: {:?}",
                    m.config
                );
                // A recovery settles it as a retry would.
                let m = catalog
                    .recover("r", false)
                    .unwrap_or_else(|e| panic!("{label}: recover: {e}"));
                assert_eq!(m.last_seq, Some(149), "{label}");
                assert!(!m.config.contains_key(TRUNCATING_KEY), "{label}");
                assert_eq!(
                    m.config.get("truncated_after").map(String::as_str),
                    Some("149"),
                    "{label}"
                );
            }
            // The anchor past the cut is gone before the log is cut.
            if last == Some(149) {
                let anchors = catalog.anchors("r").unwrap();
                assert!(
                    anchors.iter().all(|a| a.problem.is_none()),
                    "{label}: {anchors:?}"
                );
            }
            let m = catalog
                .truncate("r", 149)
                .unwrap_or_else(|e| panic!("{label}: truncate again: {e}"));
            assert_eq!(m.last_seq, Some(149), "{label}: the retry's manifest");
            let info = catalog.describe("r").unwrap();
            assert_eq!(info.last_seq, Some(149), "{label}");
            assert_eq!(info.manifest.unwrap().last_seq, Some(149), "{label}");
            let mut rec = catalog
                .extend("r", opts(), BTreeMap::new())
                .unwrap_or_else(|e| panic!("{label}: extend: {e}"));
            assert_eq!(rec.next_seq(), 150, "{label}");
            record(&mut rec, 2);
            rec.stop().unwrap();
            assert_eq!(
                log_seqs(fs, "r", label),
                (0..152).collect::<Vec<_>>(),
                "{label}"
            );
        },
    );
    seen.assert_all();
}

#[test]
fn a_crash_at_each_step_of_a_purge_leaves_the_recording_whole_or_gone() {
    let base = sealed_recording(300);
    let seen = Seen::<2>::new();
    sweep(
        &base,
        &|c| c.purge("r").map(|()| None),
        &|catalog, fs, label| {
            let list = catalog
                .list()
                .unwrap_or_else(|e| panic!("{label}: list: {e}"));
            seen.saw(list.len().min(1));
            if list.is_empty() {
                assert!(
                    matches!(catalog.purge("r"), Err(ArchiveError::NotFound(_))),
                    "{label}"
                );
            } else {
                listed_whole(catalog, label);
                assert_eq!(list[0].state_label(), "sealed", "{label}");
                assert_eq!(
                    log_seqs(fs, "r", label),
                    (0..300).collect::<Vec<_>>(),
                    "{label}"
                );
                catalog
                    .purge("r")
                    .unwrap_or_else(|e| panic!("{label}: purge again: {e}"));
            }
            assert!(catalog.list().unwrap().is_empty(), "{label}");
            let rec = catalog
                .create("r", opts(), BTreeMap::new())
                .unwrap_or_else(|e| panic!("{label}: create after purge: {e}"));
            rec.stop().unwrap();
        },
    );
    seen.assert_all();
}

/// An I/O error's text appears once in the chain a reporter prints (each error's
/// message, then its source's): `ArchiveError::Io` carries it in its message and does
/// not return it again as its source.
#[test]
fn an_io_error_prints_its_cause_once_in_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let e = Catalog::open(file.join("root")).unwrap_err();
    let os = e.io_error().expect("an I/O error").to_string();
    assert!(matches!(e, ArchiveError::Io { .. }), "{e:?}");
    let mut chain = vec![e.to_string()];
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    let joined = chain.join(": ");
    assert_eq!(joined.matches(&os).count(), 1, "{joined}");
    assert!(joined.starts_with("create catalog root: "), "{joined}");
}
