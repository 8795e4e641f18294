//! Two `extend`s of one stopped recording at once: exactly one wins, the other is told
//! the recording is live, and the manifest on disk is always the winner's. The forced
//! interleavings stop one extender at a chosen step (a catalog whose file system waits
//! there) while the other runs; the free race repeats both at once a few hundred times.
//!
//! An extend used to write its `Running` manifest before its writer's open took the
//! log's lock: the loser's manifest (its run count, its configuration) replaced the
//! winner's, or the winner's replaced the one of a run that came in between.

#[path = "common/recording.rs"]
mod recording;
use recording::record;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage_std::archive::{
    ArchiveError, Catalog, CatalogFs, MANIFEST_FILE, MANIFEST_TEMP, Manifest, RealFs, Recorder,
    RecordingState, read_manifest,
};
use storage_std::backend::{Access, Backend, BackendFile, DirLock, FileBackend, Mapped};
use storage_std::{Durability, WriterOptions};

fn opts() -> WriterOptions {
    WriterOptions::new(Durability::group()).with_segment_bytes(1 << 20)
}

fn config(who: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("extender".to_owned(), who.to_owned())])
}

/// Where the paused extender stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// Its `n`th opening of the log directory (the first is the lock of its deep
    /// recovery, the second the recovery itself, under that lock).
    OpenLog(u32),
    /// Its writer's open (the deep recovery done and its lock let go).
    WriterOpen,
    /// Its manifest write, the temporary file written, before the rename.
    ManifestRename,
}

/// A pause at one point: the paused thread says it arrived, then waits to be let go.
struct Gate {
    at: Point,
    seen: AtomicU32,
    arrived: Mutex<Sender<()>>,
    go: Mutex<Receiver<()>>,
}

impl Gate {
    fn hit(&self, p: Point) {
        let matches = match (self.at, p) {
            (Point::OpenLog(n), Point::OpenLog(_)) => {
                self.seen.fetch_add(1, Ordering::SeqCst) + 1 == n
            }
            (a, b) => a == b && self.seen.fetch_add(1, Ordering::SeqCst) == 0,
        };
        if matches {
            self.arrived.lock().unwrap().send(()).unwrap();
            self.go
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60))
                .expect("let go");
        }
    }
}

/// The real file system, pausing at its gate.
#[derive(Clone)]
struct GateFs(Arc<Gate>);

impl std::fmt::Debug for GateFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GateFs")
    }
}

fn is_log(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "log")
}

impl CatalogFs for GateFs {
    fn create_root(&self, root: &Path) -> io::Result<()> {
        RealFs.create_root(root)
    }
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dirs(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        RealFs.is_dir(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        RealFs.create_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        RealFs.sync_dir(path)
    }
    fn rename_dir(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename_dir(from, to)
    }
    fn exchange_dirs(&self, a: &Path, b: &Path) -> io::Result<()> {
        RealFs.exchange_dirs(a, b)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_dir_all(path)
    }
    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        if is_log(path) {
            self.0.hit(Point::OpenLog(0));
        }
        Ok(Arc::new(GateBackend {
            gate: self.0.clone(),
            inner: FileBackend::existing(path)?,
        }))
    }
    fn create_backend(&self, path: &Path) -> io::Result<Arc<dyn Backend>> {
        if is_log(path) {
            self.0.hit(Point::WriterOpen);
        }
        RealFs.create_backend(path)
    }
}

/// A directory's files, pausing before a manifest's rename.
#[derive(Debug)]
struct GateBackend {
    gate: Arc<Gate>,
    inner: FileBackend,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({:?})", self.at)
    }
}

impl Backend for GateBackend {
    fn kind(&self) -> String {
        self.inner.kind()
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        self.inner.create(name)
    }
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        self.inner.open(name, access)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        if from == MANIFEST_TEMP && to == MANIFEST_FILE {
            self.gate.hit(Point::ManifestRename);
        }
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn lock(&self) -> io::Result<DirLock> {
        self.inner.lock()
    }
    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.map(name)
    }
    fn lock_held(&self) -> io::Result<bool> {
        self.inner.lock_held()
    }
    fn link(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.link(from, to)
    }
    fn list_quarantine(&self) -> io::Result<Vec<String>> {
        self.inner.list_quarantine()
    }
    fn sync_quarantine(&self) -> io::Result<()> {
        self.inner.sync_quarantine()
    }
}

/// A stopped recording `x` with records `0..10` under `root`.
fn stopped(root: &Path) -> Catalog {
    let catalog = Catalog::open(root).unwrap();
    let mut rec = catalog.create("x", opts(), BTreeMap::new()).unwrap();
    record(&mut rec, 10);
    rec.stop().unwrap();
    catalog
}

fn on_disk(root: &Path) -> Manifest {
    let dir = FileBackend::existing(root.join("x")).unwrap();
    read_manifest(&dir, "x").unwrap().unwrap()
}

fn is_live(r: &Result<Recorder, ArchiveError>) -> bool {
    matches!(
        r,
        Err(ArchiveError::Live(_)) | Err(ArchiveError::Log(storage_std::Error::Locked(_)))
    )
}

/// Runs extender A (named "a") on a catalog that pauses it at `at`; while it waits,
/// `meanwhile` runs on a plain catalog of the same root; then A goes on. A's outcome.
fn paused_extend<T>(
    root: &Path,
    at: Point,
    meanwhile: impl FnOnce(&Catalog) -> T,
) -> (Result<Recorder, ArchiveError>, T) {
    let (arrived_tx, arrived) = channel();
    let (go, go_rx) = channel();
    let gate = Arc::new(Gate {
        at,
        seen: AtomicU32::new(0),
        arrived: Mutex::new(arrived_tx),
        go: Mutex::new(go_rx),
    });
    let paused = Catalog::open_on(root, Arc::new(GateFs(gate))).unwrap();
    let plain = Catalog::open(root).unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| paused.extend("x", opts(), config("a")));
        arrived
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("extender a never reached {at:?}"));
        let out = meanwhile(&plain);
        go.send(()).unwrap();
        (a.join().unwrap(), out)
    })
}

/// A paused where it has let its recovery's lock go and not yet opened its writer; B
/// extends meanwhile and wins. A is refused, and the manifest is B's.
#[test]
fn the_extender_that_opens_its_writer_first_wins() {
    let root = tempfile::tempdir().unwrap();
    stopped(root.path());
    let (a, b) = paused_extend(root.path(), Point::WriterOpen, |c| {
        c.extend("x", opts(), config("b")).unwrap()
    });
    assert!(is_live(&a), "{:?}", a.err());
    let mut b = b;
    let m = on_disk(root.path());
    assert_eq!(&m, b.manifest(), "the manifest is the winner's");
    assert_eq!((m.runs, m.config["extender"].as_str()), (2, "b"));
    assert_eq!(m.state, RecordingState::Running);
    record(&mut b, 5);
    let m = b.stop().unwrap();
    assert_eq!((m.runs, m.last_seq), (2, Some(14)));
    assert_eq!(on_disk(root.path()), m);
}

/// A paused at the same place while B extends, records and stops: A then opens the log
/// after B's run, and its manifest counts B's run and B's records.
#[test]
fn an_extend_after_a_whole_run_in_between_counts_that_run() {
    let root = tempfile::tempdir().unwrap();
    stopped(root.path());
    let (a, sealed) = paused_extend(root.path(), Point::WriterOpen, |c| {
        let mut b = c.extend("x", opts(), config("b")).unwrap();
        record(&mut b, 5);
        b.stop().unwrap()
    });
    assert_eq!((sealed.runs, sealed.last_seq), (2, Some(14)));
    let mut a = a.unwrap();
    assert_eq!(a.next_seq(), 15);
    let m = on_disk(root.path());
    assert_eq!(&m, a.manifest());
    assert_eq!((m.runs, m.config["extender"].as_str()), (3, "a"));
    assert_eq!(m.last_seq, Some(14));
    record(&mut a, 1);
    assert_eq!(a.stop().unwrap().last_seq, Some(15));
}

/// A paused while it holds the log: in its deep recovery, or with its writer open and
/// its manifest half written. B's extend (and a recovery) is refused at once as live,
/// and A's run goes on with its own manifest.
#[test]
fn an_extend_holding_the_log_refuses_the_other() {
    for at in [Point::OpenLog(2), Point::ManifestRename] {
        let root = tempfile::tempdir().unwrap();
        stopped(root.path());
        let (a, (b, recovered)) = paused_extend(root.path(), at, |c| {
            let b = c.extend("x", opts(), config("b"));
            let r = c.recover("x", false);
            (b, r)
        });
        assert!(is_live(&b), "{at:?}: {:?}", b.err());
        assert!(
            matches!(recovered, Err(ArchiveError::Live(_))),
            "{at:?}: {recovered:?}"
        );
        let a = a.unwrap_or_else(|e| panic!("{at:?}: a: {e}"));
        let m = on_disk(root.path());
        assert_eq!(&m, a.manifest(), "{at:?}");
        assert_eq!((m.runs, m.config["extender"].as_str()), (2, "a"), "{at:?}");
        assert_eq!(a.stop().unwrap().last_seq, Some(9), "{at:?}");
    }
}

/// Both at once, over and over: one wins, the other is refused as live, the manifest on
/// disk is the winner's, and the winner's run is counted once.
#[test]
fn free_racing_extends_always_leave_the_winners_manifest() {
    let root = tempfile::tempdir().unwrap();
    let catalog = stopped(root.path());
    let other = Catalog::open(root.path()).unwrap();
    let mut last = 9;
    for round in 0..300u32 {
        let barrier = std::sync::Barrier::new(2);
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                barrier.wait();
                catalog.extend("x", opts(), config("a"))
            });
            let b = s.spawn(|| {
                barrier.wait();
                other.extend("x", opts(), config("b"))
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        let (mut winner, loser) = match (a, b) {
            (Ok(w), l) | (l, Ok(w)) => (w, l),
            (Err(a), Err(b)) => panic!("round {round}: both refused: {a}; {b}"),
        };
        assert!(is_live(&loser), "round {round}: {:?}", loser.err());
        let m = on_disk(root.path());
        assert_eq!(&m, winner.manifest(), "round {round}");
        assert_eq!(m.runs, round + 2, "round {round}");
        assert_eq!(winner.next_seq(), last + 1, "round {round}");
        if round % 16 == 0 {
            record(&mut winner, 1);
            last += 1;
        }
        let m = winner.stop().unwrap();
        assert_eq!(
            (m.runs, m.last_seq),
            (round + 2, Some(last)),
            "round {round}"
        );
        assert_eq!(on_disk(root.path()), m, "round {round}");
    }
}
