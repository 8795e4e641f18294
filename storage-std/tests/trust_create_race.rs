//! `Catalog::open` in another process racing `Catalog::create`: the open's sweep of
//! unfinished creations never takes a live creation's staging directory, even in the
//! moments between its `mkdir` and its log's lock (the second process is this test
//! binary again, running the opener's side of the same test).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_std::archive::{Catalog, CatalogFs, RealFs, RecordingState};
use storage_std::backend::{Backend, DirLock};
use storage_std::{Durability, WriterOptions};

/// Set in the opener process: the catalog root it opens in a loop.
const OPENER_ROOT: &str = "TRUST_CREATE_RACE_OPENER_ROOT";
/// The file whose appearance stops the opener.
const OPENER_STOP: &str = "TRUST_CREATE_RACE_OPENER_STOP";
/// The file the opener writes once its first open went through.
const OPENER_READY: &str = "TRUST_CREATE_RACE_OPENER_READY";
/// A leftover of a creation that crashed before it locked its log: any sweep drops it.
const GHOST: &str = ".creating-ghost.4000000000.0";

fn opts() -> WriterOptions {
    WriterOptions::new(Durability::group()).with_segment_bytes(64 << 10)
}

/// In the opener process: opens the catalog until told to stop, then prints how often.
/// `false` in the test's own process.
fn run_opener_if_asked() -> bool {
    let Ok(root) = std::env::var(OPENER_ROOT) else {
        return false;
    };
    let stop = PathBuf::from(std::env::var(OPENER_STOP).unwrap());
    let ready = PathBuf::from(std::env::var(OPENER_READY).unwrap());
    let mut opens = 0u64;
    loop {
        Catalog::open(&root).unwrap_or_else(|e| panic!("open {opens}: {e}"));
        opens += 1;
        if opens == 1 {
            std::fs::write(&ready, b"ready").unwrap();
        }
        if stop.exists() {
            break;
        }
    }
    println!("opens={opens}");
    true
}

/// The opener process of the test `test` (this binary, that test only).
struct Opener {
    child: Option<Child>,
    stop: PathBuf,
}

impl Opener {
    fn spawn(test: &str, root: &Path, scratch: &Path) -> Self {
        let stop = scratch.join("stop");
        let ready = scratch.join("ready");
        let child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(OPENER_ROOT, root)
            .env(OPENER_STOP, &stop)
            .env(OPENER_READY, &ready)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut opener = Opener {
            child: Some(child),
            stop,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            let child = opener.child.as_mut().unwrap();
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let out = opener.finish_output();
                panic!("the opener did not start: {out}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        opener
    }

    /// Waits for it to exit: its status and output.
    fn finish_output(&mut self) -> String {
        let child = self.child.take().expect("not finished yet");
        let out = child.wait_with_output().unwrap();
        format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Stops it; the opens it made (it must have exited cleanly).
    fn stop(mut self) -> u64 {
        std::fs::write(&self.stop, b"stop").unwrap();
        let out = self.finish_output();
        assert!(
            out.starts_with("exit status: 0"),
            "the opener failed: {out}"
        );
        let opens = out
            .split("opens=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        opens.unwrap_or_else(|| panic!("no count from the opener: {out}"))
    }
}

impl Drop for Opener {
    /// A test that failed midway still stops its opener.
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = std::fs::write(&self.stop, b"stop");
            let _ = self.finish_output();
        }
    }
}

/// Plants [`GHOST`]: a staging directory with an unlocked log, as a crash leaves it.
fn plant_ghost(root: &Path) {
    std::fs::create_dir_all(root.join(GHOST).join("log")).unwrap();
}

/// Waits (while the opener runs) for a sweep to drop [`GHOST`].
fn ghost_swept(root: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while root.join(GHOST).exists() {
        assert!(Instant::now() < deadline, "the opener never swept {GHOST}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Creates and seals `names`, then checks the catalog holds each of them whole and
/// nothing else (once the opener has stopped).
fn create_all(catalog: &Catalog, names: &[String]) {
    for name in names {
        let rec = catalog
            .create(name, opts(), BTreeMap::new())
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        rec.stop().unwrap();
    }
}

fn check_all(root: &Path, names: &[String]) {
    let catalog = Catalog::open(root).unwrap();
    let listed = catalog.list().unwrap();
    let got: Vec<_> = listed.iter().map(|i| i.name.clone()).collect();
    assert_eq!(got, names);
    for info in &listed {
        assert_eq!(info.state, Some(RecordingState::Sealed), "{info:?}");
        assert!(info.problem.is_none(), "{info:?}");
    }
    let mut hidden: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    hidden.sort();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}

/// The real file system, with every staging directory's creation followed by a pause
/// (before the creation can lock its log: the window a sweep must leave alone).
#[derive(Debug)]
struct SlowStaging(RealFs, Duration);

impl CatalogFs for SlowStaging {
    fn create_root(&self, root: &Path) -> io::Result<()> {
        self.0.create_root(root)
    }
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.list_dirs(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.is_dir(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.0.create_dir(path)?;
        let staging = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".creating-"));
        if staging {
            std::thread::sleep(self.1);
        }
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.0.sync_dir(path)
    }
    fn rename_dir(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.rename_dir(from, to)
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> io::Result<()> {
        self.0.exchange_dirs(a, b)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.0.remove_dir_all(path)
    }
    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        self.0.open_dir(path)
    }
    fn create_backend(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        self.0.create_backend(path)
    }
    fn try_lock_dir(&self, path: &Path, exclusive: bool) -> io::Result<Option<DirLock>> {
        self.0.try_lock_dir(path, exclusive)
    }
}

/// Each creation pauses between its staging directory's `mkdir` and its log's lock far
/// longer than the other process takes for an open: a sweep that cannot tell it from a
/// crash's leftover takes it every time (and the create gives up after its retries).
#[test]
fn creates_paused_before_their_lock_survive_opens_in_another_process() {
    if run_opener_if_asked() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("catalog");
    let slow = Arc::new(SlowStaging(RealFs, Duration::from_millis(30)));
    let catalog = Catalog::open_on(&root, slow).unwrap();
    plant_ghost(&root);
    let opener = Opener::spawn(
        "creates_paused_before_their_lock_survive_opens_in_another_process",
        &root,
        scratch.path(),
    );
    let names: Vec<String> = (0..8).map(|i| format!("slow-{i}")).collect();
    create_all(&catalog, &names);
    ghost_swept(&root);
    let opens = opener.stop();
    assert!(opens > 8, "the opener hardly ran: {opens}");
    check_all(&root, &names);
}

/// Many plain creates against a second process that does nothing but open the catalog:
/// every one goes through, whole.
#[test]
fn many_creates_race_opens_in_another_process() {
    if run_opener_if_asked() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("catalog");
    let catalog = Catalog::open(&root).unwrap();
    plant_ghost(&root);
    let opener = Opener::spawn(
        "many_creates_race_opens_in_another_process",
        &root,
        scratch.path(),
    );
    let names: Vec<String> = (0..150).map(|i| format!("r{i:03}")).collect();
    create_all(&catalog, &names);
    ghost_swept(&root);
    let opens = opener.stop();
    assert!(opens > 1, "the opener hardly ran: {opens}");
    check_all(&root, &names);
}
