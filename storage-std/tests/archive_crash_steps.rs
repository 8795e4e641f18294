//! A crash at each step of the manifest writes the catalog and the recorder make
//! (create, stop, recover, extend, truncate) and of an anchor save: every step of the
//! atomic write (temporary file created, written, synced, renamed, directory synced) is
//! cut on the in-memory backend under every power-cut mode, what survives is put into
//! the real recording directory, and the catalog must explain it: `list` never fails and
//! names the state or the problem, `recover` brings the manifest in line with the log,
//! and the recording can be extended (or, cut at its creation, purged and created anew).

#[path = "common/recording.rs"]
mod recording;
use recording::record;
use std::collections::BTreeMap;
use std::path::Path;

use storage_std::archive::{
    Anchor, Catalog, MANIFEST_FILE, MANIFEST_TEMP, Manifest, RecordingState, write_anchor,
    write_manifest,
};
use storage_std::backend::{Backend, CrashMode, MemBackend, SyncKind, write_at};
use storage_std::{Durability, WriterOptions};

const MODES: [CrashMode; 3] = [
    CrashMode::DropUnsynced,
    CrashMode::KeepUnsynced,
    CrashMode::TornPages { seed: 5 },
];

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(64 << 10);
    o
}

type Files = Vec<(String, Vec<u8>)>;

/// The files of `dir` named in `names` (those present).
fn files_of(dir: &Path, names: &[&str]) -> Files {
    names
        .iter()
        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect()
}

/// Every state a crash during `write` can leave, starting from `old` (synced): one per
/// step and power-cut mode, until the write completes without reaching the crash step.
fn crash_states(old: &Files, write: &dyn Fn(&MemBackend)) -> Vec<(String, Files)> {
    let mut states = Vec::new();
    for mode in MODES {
        let mut step = 0;
        loop {
            let b = MemBackend::new();
            for (name, bytes) in old {
                let mut f = b.create(name).unwrap();
                write_at(&mut *f, 0, bytes).unwrap();
                f.sync(SyncKind::All).unwrap();
            }
            b.sync_dir().unwrap();
            b.set_crash_at(Some(b.steps() + step));
            write(&b);
            let completed = !b.is_crashed();
            b.power_cut(mode);
            let mut left = Files::new();
            for name in b.list().unwrap() {
                left.push((name.clone(), b.read_all(&name).unwrap()));
            }
            states.push((format!("{mode:?} step {step}"), left));
            if completed {
                break;
            }
            step += 1;
            assert!(step < 100, "a write takes a handful of steps");
        }
        assert!(step >= 4, "{mode:?}: the write took {step} steps");
    }
    states
}

/// Replaces the files `names` in `dir` with `files`.
fn put(dir: &Path, names: &[&str], files: &Files) {
    for n in names {
        let _ = std::fs::remove_file(dir.join(n));
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn manifest_of(files: &Files) -> Option<Manifest> {
    files
        .iter()
        .find(|(n, _)| n == MANIFEST_FILE)
        .map(|(_, b)| Manifest::decode(b).expect("a renamed manifest is whole"))
}

const MANIFEST_FILES: [&str; 2] = [MANIFEST_FILE, MANIFEST_TEMP];

/// Sweeps the manifest write an operation made: `before` and `after` are the
/// recording's files around it; `check` sees each crash state in place (in a copy of
/// the catalog made from `after`'s log) with the manifest found, if any.
fn sweep_manifest_write(
    name: &str,
    root: &Path,
    before: &Files,
    after_manifest: &Manifest,
    check: &dyn Fn(&Catalog, &str, Option<&Manifest>),
) {
    let dir = root.join(name);
    let states = crash_states(before, &|b| {
        let _ = write_manifest(b, after_manifest);
    });
    for (label, files) in states {
        let found = manifest_of(&files);
        assert!(
            found.is_none()
                || found.as_ref() == manifest_of(before).as_ref()
                || found.as_ref() == Some(after_manifest),
            "{label}: the old manifest or the new one, never a mix"
        );
        // Each state on a copy of the recording, so that the sweep starts afresh.
        let copy_root = tempfile::tempdir().unwrap();
        copy_dir(&dir, &copy_root.path().join(name));
        put(&copy_root.path().join(name), &MANIFEST_FILES, &files);
        let catalog = Catalog::open(copy_root.path()).unwrap();
        let list = catalog
            .list()
            .unwrap_or_else(|e| panic!("{label}: list: {e}"));
        assert_eq!(list.len(), 1, "{label}");
        check(&catalog, &label, found.as_ref());
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// After any crash in a manifest write of a recording whose log holds `0..=last`:
/// recovery says where the log ends and the recording continues after it.
fn recovers_and_continues(catalog: &Catalog, label: &str, last: u64) {
    let m = catalog
        .recover("r", false)
        .unwrap_or_else(|e| panic!("{label}: recover: {e}"));
    assert_eq!(m.last_seq, Some(last), "{label}");
    assert!(
        matches!(
            m.state,
            RecordingState::Sealed | RecordingState::CrashedRecovered
        ),
        "{label}: {:?}",
        m.state
    );
    let info = catalog.describe("r").unwrap();
    assert!(info.problem.is_none(), "{label}: {:?}", info.problem);
    let mut rec = catalog
        .extend("r", opts(), BTreeMap::new())
        .unwrap_or_else(|e| panic!("{label}: extend: {e}"));
    assert_eq!(rec.next_seq(), last + 1, "{label}");
    record(&mut rec, 3);
    let m = rec.stop().unwrap();
    assert_eq!(
        (m.state, m.last_seq),
        (RecordingState::Sealed, Some(last + 3)),
        "{label}"
    );
}

#[test]
fn a_crash_in_the_manifest_write_of_a_stop_is_an_interrupted_run() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 300);
    let dir = root.path().join("r");
    let before = files_of(&dir, &MANIFEST_FILES);
    assert_eq!(manifest_of(&before).unwrap().state, RecordingState::Running);
    let sealed = rec.stop().unwrap();
    sweep_manifest_write(
        "r",
        root.path(),
        &before,
        &sealed,
        &|catalog, label, found| {
            let info = &catalog.list().unwrap()[0];
            match found.map(|m| m.state) {
                // The old manifest: a run that never said it ended, which is what a crash
                // during stop is.
                Some(RecordingState::Running) => {
                    assert_eq!(info.state_label(), "interrupted", "{label}")
                }
                Some(RecordingState::Sealed) => assert_eq!(info.state_label(), "sealed", "{label}"),
                other => panic!("{label}: {other:?}"),
            }
            assert_eq!(info.last_seq, Some(299), "{label}: the log is whole");
            recovers_and_continues(catalog, label, 299);
        },
    );
}

#[test]
fn a_crash_in_the_manifest_write_of_an_extend_or_a_recover_is_explained() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 200);
    drop(rec); // interrupted
    let dir = root.path().join("r");
    let before = files_of(&dir, &MANIFEST_FILES);
    let recovered = catalog.recover("r", false).unwrap();
    assert_eq!(recovered.state, RecordingState::CrashedRecovered);
    sweep_manifest_write(
        "r",
        root.path(),
        &before,
        &recovered,
        &|catalog, label, found| {
            let info = &catalog.list().unwrap()[0];
            let want = match found.map(|m| m.state) {
                Some(RecordingState::Running) => "interrupted",
                Some(RecordingState::CrashedRecovered) => "crashed_recovered",
                other => panic!("{label}: {other:?}"),
            };
            assert_eq!(info.state_label(), want, "{label}");
            recovers_and_continues(catalog, label, 199);
        },
    );

    // An extend's manifest write, cut: the old manifest (recovered) or the new run's
    // (running; its writer died with the crash, which closes nothing: the log is as
    // the writer's open left it).
    let before = files_of(&dir, &MANIFEST_FILES);
    let rec = catalog.extend("r", opts(), BTreeMap::new()).unwrap();
    let running = rec.manifest().clone();
    assert_eq!(running.runs, 2);
    drop(rec);
    sweep_manifest_write(
        "r",
        root.path(),
        &before,
        &running,
        &|catalog, label, found| {
            let info = &catalog.list().unwrap()[0];
            let want = match found.map(|m| (m.state, m.runs)) {
                Some((RecordingState::CrashedRecovered, 1)) => "crashed_recovered",
                Some((RecordingState::Running, 2)) => "interrupted",
                other => panic!("{label}: {other:?}"),
            };
            assert_eq!(info.state_label(), want, "{label}");
            recovers_and_continues(catalog, label, 199);
        },
    );
}

#[test]
fn a_crash_in_the_manifest_write_of_a_truncate_is_recovered_to_the_log() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 400);
    rec.stop().unwrap();
    let dir = root.path().join("r");
    let before = files_of(&dir, &MANIFEST_FILES);
    let cut = catalog.truncate("r", 149).unwrap();
    assert_eq!(cut.last_seq, Some(149));
    sweep_manifest_write("r", root.path(), &before, &cut, &|catalog, label, found| {
        let info = &catalog.list().unwrap()[0];
        // The log was swapped before the manifest write: it ends at 149 either way,
        // and the old manifest's last sequence is stale until a recovery.
        assert_eq!(info.last_seq, Some(149), "{label}");
        let last = found.and_then(|m| m.last_seq);
        assert!(last == Some(399) || last == Some(149), "{label}: {last:?}");
        recovers_and_continues(catalog, label, 149);
    });
}

#[test]
fn a_crash_in_the_first_manifest_write_leaves_a_recording_to_purge() {
    let root = tempfile::tempdir().unwrap();
    let manifest = {
        let catalog = Catalog::open(root.path()).unwrap();
        let rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
        let m = rec.manifest().clone();
        rec.stop().unwrap();
        m
    };
    let states = crash_states(&Files::new(), &|b| {
        let _ = write_manifest(b, &manifest);
    });
    for (label, files) in states {
        // The creation stopped at its manifest write: the directory, no log yet.
        let copy = tempfile::tempdir().unwrap();
        let dir = copy.path().join("r");
        std::fs::create_dir(&dir).unwrap();
        put(&dir, &MANIFEST_FILES, &files);
        let catalog = Catalog::open(copy.path()).unwrap();
        let info = &catalog.list().unwrap()[0];
        let problem = info.problem.as_deref().unwrap_or_default();
        match manifest_of(&files) {
            Some(m) => {
                assert_eq!(m, manifest, "{label}");
                assert!(problem.contains("no log directory"), "{label}: {problem}");
            }
            None => {
                assert!(problem.contains("no manifest"), "{label}: {problem}");
                if files.iter().any(|(n, _)| n == MANIFEST_TEMP) {
                    assert!(problem.contains("cut short"), "{label}: {problem}");
                }
            }
        }
        // What to do about it: purge, then the name is free again.
        catalog.purge("r").unwrap();
        let rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
        rec.stop().unwrap();
        assert_eq!(catalog.list().unwrap()[0].state_label(), "sealed");
    }
}

#[test]
fn a_crash_at_each_step_of_an_anchor_save_leaves_the_old_anchor_or_the_new() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut rec = catalog.create("r", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 100);
    rec.stop().unwrap();
    let old = catalog.store_anchor("r", 40, &[4; 3000]).unwrap();
    let anchors = root.path().join("r").join("anchors");
    let names: Vec<String> = std::fs::read_dir(&anchors)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let before: Files = names
        .iter()
        .map(|n| (n.clone(), std::fs::read(anchors.join(n)).unwrap()))
        .collect();
    let new = Anchor {
        seq: 90,
        created_ns: 2,
        snapshot: vec![9; 5000],
    };
    for (label, files) in crash_states(&before, &|b| {
        let _ = write_anchor(b, &new);
    }) {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&root.path().join("r"), &copy.path().join("r"));
        let dir = copy.path().join("r").join("anchors");
        for e in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let catalog = Catalog::open(copy.path()).unwrap();
        let (anchor, rejected, replay) = catalog.resume_from_anchor("r").unwrap();
        let anchor = anchor.unwrap_or_else(|| panic!("{label}: the old anchor survives"));
        assert!(anchor == old || anchor == new, "{label}: {}", anchor.seq);
        assert!(rejected.is_empty(), "{label}: {rejected:?}");
        assert_eq!(replay.position(), anchor.seq + 1, "{label}");
        // A leftover temporary file does not stop the next save.
        let again = catalog.store_anchor("r", 95, b"after the crash").unwrap();
        let (latest, _, _) = catalog.resume_from_anchor("r").unwrap();
        assert_eq!(latest, Some(again), "{label}");
    }
}
