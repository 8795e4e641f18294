//! faultfs through the kernel: what real system calls (and the log's two backends) see
//! on the mount, before and after cuts. Needs FUSE: under `CI=true` a machine without it
//! fails these tests; elsewhere they print `SKIPPED` and pass.
#![cfg(target_os = "linux")]

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use faultfs::{DirectIo, Handle, OpKind, Options, Outcome, Verdict, mount_for_test};
use storage_std::backend::{Access, Backend, FileBackend, SyncKind, WriteGroup};

fn mount(test: &str) -> Option<(tempfile::TempDir, Handle)> {
    mount_opts(test, Options::default())
}

fn mount_opts(test: &str, opts: Options) -> Option<(tempfile::TempDir, Handle)> {
    let dir = tempfile::tempdir().unwrap();
    let h = mount_for_test(dir.path(), opts, test)?;
    Some((dir, h))
}

fn sync_dir(p: &Path) {
    File::open(p).unwrap().sync_all().unwrap();
}

fn eio(e: std::io::Error) {
    assert_eq!(e.raw_os_error(), Some(libc_eio()), "{e}");
}

fn libc_eio() -> i32 {
    rustix::io::Errno::IO.raw_os_error()
}

#[test]
fn synced_data_and_entries_survive_a_cut_and_nothing_else_does() {
    let Some((_d, mut fs)) = mount("synced_data_and_entries_survive") else {
        return;
    };
    let root = fs.path().to_path_buf();
    fs::create_dir(root.join("log")).unwrap();
    sync_dir(&root);
    let log = root.join("log");
    // a: bytes and entry synced, then more bytes unsynced.
    let mut a = File::create(log.join("a")).unwrap();
    a.write_all(b"durable").unwrap();
    a.sync_data().unwrap();
    a.write_all(b" and volatile").unwrap();
    // b: bytes synced, entry not; c: entry synced, bytes not.
    sync_dir(&log);
    let mut c = File::create(log.join("c")).unwrap();
    sync_dir(&log);
    c.write_all(b"lost").unwrap();
    let mut b = File::create(log.join("b")).unwrap();
    b.write_all(b"orphan").unwrap();
    b.sync_all().unwrap();
    assert_eq!(fs::read(log.join("a")).unwrap(), b"durable and volatile");

    assert!(fs.cut());
    assert!(!fs.cut(), "the second cut finds the power off");
    eio(fs::read(log.join("a")).unwrap_err());
    eio(a.write_all(b"x").unwrap_err());
    eio(a.sync_all().unwrap_err());
    drop((a, b, c));
    fs.restore().unwrap();

    assert_eq!(fs::read(log.join("a")).unwrap(), b"durable");
    assert_eq!(fs::read(log.join("c")).unwrap(), b"");
    assert_eq!(
        fs::metadata(log.join("b")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let mut names: Vec<String> = fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "c"]);
    let c = fs.counters();
    assert_eq!(c.cuts, 1, "restore after a cut cuts nothing more: {c:?}");
    assert!(c.refused_after_cut >= 3, "{c:?}");
}

#[test]
fn a_log_directory_needs_its_parent_synced() {
    let Some((_d, mut fs)) = mount("a_log_directory_needs_its_parent_synced") else {
        return;
    };
    let log = fs.path().join("log");
    fs::create_dir(&log).unwrap();
    let mut f = File::create(log.join("x")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    sync_dir(&log);
    drop(f);
    fs.restore().unwrap();
    assert_eq!(fs::metadata(&log).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn rename_over_a_file_is_durable_only_after_the_directory_sync() {
    let Some((_d, mut fs)) = mount("rename_over_a_file") else {
        return;
    };
    let root = fs.path().to_path_buf();
    for (name, body) in [("idx", &b"old"[..]), ("idx.tmp", b"new")] {
        let mut f = File::create(root.join(name)).unwrap();
        f.write_all(body).unwrap();
        f.sync_all().unwrap();
    }
    sync_dir(&root);
    fs::rename(root.join("idx.tmp"), root.join("idx")).unwrap();
    assert_eq!(fs::read(root.join("idx")).unwrap(), b"new");
    fs.restore().unwrap();
    assert_eq!(fs::read(root.join("idx")).unwrap(), b"old");
    assert_eq!(fs::read(root.join("idx.tmp")).unwrap(), b"new");

    fs::rename(root.join("idx.tmp"), root.join("idx")).unwrap();
    fs::remove_file(root.join("idx")).ok();
    fs::write(root.join("other"), b"o").unwrap();
    sync_dir(&root);
    fs.restore().unwrap();
    assert!(!root.join("idx").exists() && !root.join("idx.tmp").exists());
    assert_eq!(
        fs::read(root.join("other")).unwrap(),
        b"",
        "bytes never synced"
    );
}

#[test]
fn truncation_extension_and_fallocate() {
    let Some((_d, mut fs)) = mount("truncation_extension_and_fallocate") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let p = root.join("seg");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)
        .unwrap();
    sync_dir(&root);
    rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::KEEP_SIZE, 0, 1 << 20).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 0, "KEEP_SIZE keeps the size");
    f.write_all_at(&[9u8; 8192], 0).unwrap();
    f.sync_data().unwrap();
    // Seal-like: write a tail, trim, sync.
    f.write_all_at(b"FOOTER", 100).unwrap();
    f.set_len(106).unwrap();
    assert_eq!(fs::read(&p).unwrap().len(), 106);
    fs.restore().unwrap();
    assert_eq!(
        fs::read(&p).unwrap(),
        vec![9u8; 8192],
        "the trim was not synced"
    );

    let f = OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(10).unwrap();
    rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, 4096).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 4096, "mode 0 extends");
    let e = rustix::fs::fallocate(
        &f,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        0,
        10,
    )
    .unwrap_err();
    assert_eq!(e, rustix::io::Errno::OPNOTSUPP);
    f.sync_all().unwrap();
    drop(f);
    fs.restore().unwrap();
    let got = fs::read(&p).unwrap();
    assert_eq!(got.len(), 4096);
    assert_eq!(&got[..10], &[9u8; 10]);
    assert!(
        got[10..].iter().all(|&b| b == 0),
        "re-extended bytes read zeros"
    );
}

#[test]
fn a_failed_sync_keeps_bytes_readable_but_not_durable() {
    let Some((_d, mut fs)) = mount("a_failed_sync_keeps_bytes_readable") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let p = root.join("f");
    let mut f = File::create(&p).unwrap();
    sync_dir(&root);
    f.write_all(b"good").unwrap();
    f.sync_data().unwrap();
    f.write_all(b"BAD!").unwrap();
    fs.fail_next_sync(1);
    eio(f.sync_data().unwrap_err());
    assert_eq!(fs.syncs_left_to_fail(), 0);
    // The cache still has them, and the next sync "succeeds".
    assert_eq!(fs::read(&p).unwrap(), b"goodBAD!");
    f.write_all(b"more").unwrap();
    f.sync_data().unwrap();
    assert_eq!(fs.counters().failed_syncs, 1);
    drop(f);
    fs.restore().unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"good\0\0\0\0more");
}

#[test]
fn o_direct_is_accepted_or_refused_with_einval() {
    let Some((_d, mut fs)) = mount("o_direct_is_accepted_or_refused") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let p = root.join("d");
    fs::write(&p, b"").unwrap();
    sync_dir(&root);
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(&p)
        .unwrap();
    let block = vec![7u8; 4096];
    // O_DIRECT needs an aligned buffer on most file systems; FUSE passes any.
    f.write_all_at(&block, 0).unwrap();
    assert_eq!(fs::read(&p).unwrap(), block, "a direct write reads back");
    f.sync_data().unwrap();
    drop(f);
    fs.restore().unwrap();
    assert_eq!(fs::read(&p).unwrap(), block);

    fs.set_direct_io(DirectIo::Refuse);
    let e = OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(&p)
        .unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(rustix::io::Errno::INVAL.raw_os_error())
    );
    OpenOptions::new().write(true).open(&p).unwrap();
}

#[test]
fn flock_excludes_a_second_writer_and_mmap_reads_fresh_data() {
    let Some((_d, mut fs)) = mount("flock_and_mmap") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let b = FileBackend::new(&root).unwrap();
    let lock = b.lock().unwrap();
    assert_eq!(b.lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    drop(lock);
    b.lock().unwrap();

    let mut f = b.create("m.seg").unwrap();
    b.sync_dir().unwrap();
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[b"synced-"],
        sync: SyncKind::Data,
    })
    .unwrap();
    f.write_group(&WriteGroup {
        offset: 7,
        bufs: &[b"unsynced"],
        sync: SyncKind::None,
    })
    .unwrap();
    assert_eq!(b.map("m.seg").unwrap().bytes(), b"synced-unsynced");
    drop(f);
    fs.restore().unwrap();
    let b = FileBackend::existing(&root).unwrap();
    assert_eq!(
        b.map("m.seg").unwrap().bytes(),
        b"synced-",
        "no stale page after the cut"
    );
    let f = b.open("m.seg", Access::Read).unwrap();
    assert_eq!(f.len().unwrap(), 7);
}

#[test]
fn the_observer_cuts_before_or_after_the_chosen_operation() {
    let Some((_d, mut fs)) = mount("the_observer_cuts") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let mut f = File::create(root.join("a")).unwrap();
    sync_dir(&root);
    f.write_all(b"1").unwrap();
    // Cut right after the sync that follows a write of "2": "12" is durable, "3" not.
    fs.set_observer(|op| {
        if op.kind == OpKind::Fdatasync && op.path == "a" {
            Verdict::CutAfter
        } else {
            Verdict::Proceed
        }
    });
    f.write_all(b"2").unwrap();
    f.sync_data().unwrap();
    assert!(fs.wait_cut(Duration::from_secs(5)));
    eio(f.write_all(b"3").unwrap_err());
    let t = fs.trace();
    let last = t.last().unwrap();
    assert_eq!(
        (last.kind, last.outcome),
        (OpKind::Fdatasync, Outcome::CutAfter)
    );
    drop(f);
    fs.restore().unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"12");

    // Cut before the second write of a file: the first is kept only if synced.
    let writes = Arc::new(AtomicU64::new(0));
    let w = writes.clone();
    fs.set_observer(move |op| {
        if op.kind == OpKind::Write && op.data == b"B" {
            w.fetch_add(1, Ordering::Relaxed);
            Verdict::CutBefore
        } else {
            Verdict::Proceed
        }
    });
    let mut f = OpenOptions::new()
        .append(true)
        .open(root.join("a"))
        .unwrap();
    f.write_all(b"A").unwrap();
    f.sync_all().unwrap();
    eio(f.write_all(b"B").unwrap_err());
    assert!(fs.is_cut());
    assert_eq!(writes.load(Ordering::Relaxed), 1);
    drop(f);
    fs.clear_observer();
    fs.restore().unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"12A");

    // Fail one sync through the observer.
    fs.set_observer(|op| {
        if op.kind.is_file_sync() {
            Verdict::Fail
        } else {
            Verdict::Proceed
        }
    });
    let f = OpenOptions::new().write(true).open(root.join("a")).unwrap();
    f.write_all_at(b"Z", 0).unwrap();
    eio(f.sync_all().unwrap_err());
    assert!(!fs.is_cut());

    // A lying disk: syncs succeed and keep nothing.
    fs.set_observer(|_| Verdict::Lie);
    f.write_all_at(b"L", 1).unwrap();
    f.sync_all().unwrap();
    fs::write(root.join("b"), b"b").unwrap();
    sync_dir(&root);
    assert_eq!(fs.trace().last().unwrap().outcome, Outcome::Lied);
    assert_eq!(fs::read(root.join("a")).unwrap(), b"ZLA");
    drop(f);
    fs.restore().unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"12A");
    assert!(!root.join("b").exists());
}

#[test]
fn a_file_open_across_a_restore_only_gets_eio() {
    let Some((_d, mut fs)) = mount("a_file_open_across_a_restore") else {
        return;
    };
    let root = fs.path().to_path_buf();
    let f = File::create(root.join("a")).unwrap();
    f.sync_all().unwrap();
    sync_dir(&root);
    fs.restore().unwrap();
    // The old descriptor belongs to the detached mount.
    eio(f.write_all_at(b"late", 0).unwrap_err());
    eio(f.sync_all().unwrap_err());
    drop(f);
    assert_eq!(fs::read(root.join("a")).unwrap(), b"");
    fs::write(root.join("a"), b"new").unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"new");
}

/// The io_uring backend on the mount: its writes (from io-wq workers), its linked
/// fdatasync, O_DIRECT (accepted) and the fallback when O_DIRECT is refused.
#[test]
fn the_io_uring_backend_writes_and_syncs_on_the_mount() {
    if !storage_uring::io_uring_tests_enabled("the_io_uring_backend_writes_and_syncs_on_the_mount")
    {
        return;
    }
    for direct in [DirectIo::Accept, DirectIo::Refuse] {
        let opts = Options {
            direct_io: direct,
            ..Options::default()
        };
        let Some((_d, mut fs)) = mount_opts("the_io_uring_backend_on_the_mount", opts) else {
            return;
        };
        let root = fs.path().to_path_buf();
        let b = storage_uring::UringBackend::new(&root, storage_uring::UringOptions::default())
            .unwrap();
        let mut f = b.create("u.seg").unwrap();
        b.sync_dir().unwrap();
        f.preallocate(1 << 20).unwrap();
        let synced = vec![1u8; 6000];
        let done = f
            .write_group(&WriteGroup {
                offset: 0,
                bufs: &[&synced],
                sync: SyncKind::Data,
            })
            .unwrap();
        assert!(done.synced);
        f.write_group(&WriteGroup {
            offset: 6000,
            bufs: &[&[2u8; 3000]],
            sync: SyncKind::None,
        })
        .unwrap();
        let stats = b.stats();
        match direct {
            DirectIo::Accept => assert_eq!((stats.direct_files, stats.direct_refused), (1, 0)),
            DirectIo::Refuse => assert_eq!((stats.direct_files, stats.direct_refused), (0, 1)),
        }
        let c = fs.counters();
        assert!(c.file_syncs >= 1 && c.bytes_written >= 9000, "{c:?}");
        drop((f, b));
        fs.restore().unwrap();
        let got = fs::read(root.join("u.seg")).unwrap();
        // O_DIRECT writes whole blocks: the synced group's second block carries zero
        // padding past byte 6000, and nothing after the sync survived.
        assert_eq!(&got[..6000], &synced[..], "{direct:?}");
        assert!(got[6000..].iter().all(|&x| x == 0), "{direct:?}");
        assert!(got.len() <= 8192, "{direct:?}: {}", got.len());
    }
}
