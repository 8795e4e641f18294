//! A truncation a crash cut short (its intent, `TRUNCATING_KEY`, still in the manifest):
//! the verifier says so instead of calling the shortened log corrupt, and an extend
//! refuses to start a run over it (which would drop the intent) until a recovery settles
//! it.

#[path = "common/recording.rs"]
mod recording;

use recording::{record_range, replay_all};
use std::collections::BTreeMap;
use std::path::Path;

use storage_std::archive::{ArchiveError, Catalog, MANIFEST_FILE, Manifest, TRUNCATING_KEY};
use storage_std::{Durability, LogClass, Severity, VerifyStatus, WriterOptions, verify_dir};

fn opts() -> WriterOptions {
    WriterOptions::new(Durability::group()).with_segment_bytes(64 << 10)
}

fn sealed(catalog: &Catalog, name: &str, n: u64) -> Manifest {
    let mut rec = catalog.create(name, opts(), BTreeMap::new()).unwrap();
    record_range(&mut rec, 0, n);
    rec.stop().unwrap()
}

fn manifest(root: &Path, name: &str) -> Manifest {
    let path = root.join(name).join(MANIFEST_FILE);
    Manifest::decode(&std::fs::read(path).unwrap()).unwrap()
}

fn write_manifest(root: &Path, name: &str, m: &Manifest) {
    std::fs::write(root.join(name).join(MANIFEST_FILE), m.encode()).unwrap();
}

/// What a truncation keeping `0..=kept` of a sealed recording of `n` records leaves when
/// a crash stops it between the swap of the shortened log and the manifest's last write:
/// the log is cut, the manifest is the sealed one plus the intent.
fn cut_after_swap(root: &Path, catalog: &Catalog, name: &str, n: u64, kept: u64) -> Manifest {
    let before = sealed(catalog, name, n);
    catalog.truncate(name, kept).unwrap();
    let mut m = before;
    m.config.insert(TRUNCATING_KEY.to_owned(), kept.to_string());
    write_manifest(root, name, &m);
    m
}

/// ... and when it stops before the swap: the log whole, the intent written.
fn cut_before_swap(root: &Path, catalog: &Catalog, name: &str, n: u64, kept: u64) -> Manifest {
    let mut m = sealed(catalog, name, n);
    m.config.insert(TRUNCATING_KEY.to_owned(), kept.to_string());
    write_manifest(root, name, &m);
    m
}

#[test]
fn verify_reports_a_truncation_cut_after_its_swap_as_pending_not_corrupt() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    cut_after_swap(root.path(), &catalog, "r", 3000, 999);
    let rep = verify_dir(catalog.log_dir("r").unwrap()).unwrap();
    assert_eq!(rep.status, VerifyStatus::Repairable, "{:?}", rep.findings);
    assert_eq!(rep.class, LogClass::Repairable);
    assert_eq!(rep.last_seq, Some(999));
    assert!(
        rep.findings
            .iter()
            .all(|f| f.severity != Severity::Corruption),
        "{:?}",
        rep.findings
    );
    let pending: Vec<_> = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Repairable)
        .collect();
    assert_eq!(pending.len(), 1, "{:?}", rep.findings);
    let text = &pending[0].message;
    assert!(
        text.contains("truncation") && text.contains("999") && text.contains("recover"),
        "{text}"
    );
    assert!(pending[0].file.ends_with(MANIFEST_FILE), "{:?}", pending[0]);
    assert_eq!(rep.chain.manifest_matched, Some(false));
    // Settled, it verifies clean against its manifest again.
    let m = catalog.recover("r", false).unwrap();
    assert!(!m.config.contains_key(TRUNCATING_KEY));
    let rep = verify_dir(catalog.log_dir("r").unwrap()).unwrap();
    assert_eq!(rep.status, VerifyStatus::Clean, "{:?}", rep.findings);
    assert!(rep.findings.is_empty(), "{:?}", rep.findings);
    assert_eq!(rep.chain.manifest_matched, Some(true));
}

#[test]
fn verify_notes_a_truncation_cut_before_its_swap_and_checks_the_whole_log() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    cut_before_swap(root.path(), &catalog, "r", 3000, 999);
    let rep = verify_dir(catalog.log_dir("r").unwrap()).unwrap();
    assert_eq!(rep.status, VerifyStatus::Clean, "{:?}", rep.findings);
    assert_eq!(rep.chain.manifest_matched, Some(true));
    assert_eq!(rep.findings.len(), 1, "{:?}", rep.findings);
    let f = &rep.findings[0];
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("999") && f.message.contains("before it swapped"),
        "{}",
        f.message
    );
}

/// The intent explains only a log that ends where the truncation cuts: segments deleted
/// from the end beyond that (or an intent no truncation writes) stay corruption.
#[test]
fn a_pending_truncation_does_not_hide_a_log_that_ends_elsewhere() {
    // (where the log ends, the intent): the log ends at 1999, neither the manifest's end
    // (2999) nor the intent's (999); it ends at 999, before the intent's 1999 (more is
    // gone than a truncation cuts); an intent at the end (2999) is no truncation's.
    for (cut_to, intent) in [(1999, "999"), (999, "1999"), (999, "2999")] {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(root.path()).unwrap();
        let mut m = sealed(&catalog, "r", 3000);
        catalog.truncate("r", cut_to).unwrap();
        m.config
            .insert(TRUNCATING_KEY.to_owned(), intent.to_owned());
        write_manifest(root.path(), "r", &m);
        let rep = verify_dir(catalog.log_dir("r").unwrap()).unwrap();
        assert_eq!(
            rep.status,
            VerifyStatus::Corrupt,
            "log to {cut_to}, intent {intent}: {:?}",
            rep.findings
        );
    }
}

#[test]
fn extend_refuses_a_pending_truncation_and_keeps_it_for_recover() {
    for swapped in [true, false] {
        let root = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(root.path()).unwrap();
        let written = if swapped {
            cut_after_swap(root.path(), &catalog, "r", 500, 99)
        } else {
            cut_before_swap(root.path(), &catalog, "r", 500, 99)
        };
        let err = catalog.extend("r", opts(), BTreeMap::new()).unwrap_err();
        assert!(
            matches!(
                &err,
                ArchiveError::PendingTruncation { recording, kept: 99 } if recording == "r"
            ),
            "swapped {swapped}: {err}"
        );
        assert!(err.to_string().contains("recover"), "{err}");
        // Nothing changed: the intent is there for the recovery to settle.
        assert_eq!(manifest(root.path(), "r"), written, "swapped {swapped}");
        let m = catalog.recover("r", false).unwrap();
        assert!(!m.config.contains_key(TRUNCATING_KEY));
        let end = if swapped { 100 } else { 500 };
        assert_eq!(m.last_seq, Some(end - 1), "swapped {swapped}");
        assert_eq!(
            m.config.get("truncated_after").map(String::as_str),
            swapped.then_some("99"),
        );
        let mut rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
        record_range(&mut rec, end, end + 10);
        rec.stop().unwrap();
        assert_eq!(
            replay_all(&catalog, "r", 0),
            (0..end + 10).collect::<Vec<_>>()
        );
    }
}
