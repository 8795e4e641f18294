//! A small timing harness: the portable backend against the io_uring backend and its
//! options, 64 B events through `storage_std::Writer`, one appending thread as fast as
//! it goes for a fixed time, then `close` (which syncs); the time includes segment
//! creation, preallocation and zero-filling. Configurations run interleaved, round by
//! round, and the table reports medians. System calls on the write path are counted:
//! the io_uring backend's `io_uring_enter` calls (plus fallocate/ftruncate/reads), the
//! portable backend's `pwritev` + `fdatasync` (+ fallocate/ftruncate) through a
//! counting wrapper.
//!
//! ```text
//! cargo run --release -p storage-uring --example uring_bench -- \
//!     [--configs std,uring,...] [--modes 4k,16k,64k,1m,none] [--secs 1.5] [--rounds 3]
//!     [--retention] [--dir DIR]
//! ```
//! Configurations: `std`, or `uring` (the defaults) with `-option`s appended:
//! `direct`/`buffered`, `fixed`, `zerofill`/`fallocate`/`noprealloc`, `sqpoll`,
//! `norecycle` (e.g. `uring-buffered-fallocate`).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use storage_std::backend::{
    Access, Backend, BackendFile, DirLock, FileBackend, GroupDone, Mapped, SyncKind, WriteGroup,
};
use storage_std::{Durability, RetentionPolicy, Writer, WriterOptions};
use storage_uring::{Prealloc, UringBackend, UringOptions};

#[derive(Debug, Default)]
struct Counts {
    writes: AtomicU64,
    syncs: AtomicU64,
    other: AtomicU64,
    groups: AtomicU64,
    synced_groups: AtomicU64,
}

/// The portable backend with its write-path system calls counted.
#[derive(Debug, Clone)]
struct Counting {
    inner: FileBackend,
    c: Arc<Counts>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn BackendFile>,
    c: Arc<Counts>,
}

impl Backend for Counting {
    fn kind(&self) -> String {
        self.inner.kind()
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn BackendFile>> {
        Ok(Box::new(CountingFile {
            inner: self.inner.create(name)?,
            c: self.c.clone(),
        }))
    }
    fn open(&self, name: &str, access: Access) -> io::Result<Box<dyn BackendFile>> {
        Ok(Box::new(CountingFile {
            inner: self.inner.open(name, access)?,
            c: self.c.clone(),
        }))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
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
}

impl BackendFile for CountingFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn write_group(&mut self, g: &WriteGroup<'_>) -> io::Result<GroupDone> {
        // FileBackend: one pwritev per group (fewer than 512 slices, no short
        // writes here), then fdatasync if asked.
        self.c.groups.fetch_add(1, Ordering::Relaxed);
        self.c.writes.fetch_add(1, Ordering::Relaxed);
        if g.sync != SyncKind::None {
            self.c.synced_groups.fetch_add(1, Ordering::Relaxed);
            self.c.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.write_group(g)
    }
    fn sync(&mut self, kind: SyncKind) -> io::Result<()> {
        if kind != SyncKind::None {
            self.c.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.sync(kind)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.c.other.fetch_add(1, Ordering::Relaxed);
        self.inner.set_len(len)
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.c.other.fetch_add(1, Ordering::Relaxed);
        self.inner.preallocate(len)
    }
}

/// `uring` followed by `-option`s: `direct`, `fixed`, `zerofill`, `noprealloc`,
/// `sqpoll`, `norecycle`, `buffered` (no O_DIRECT), `fallocate` (no zero-fill).
fn uring_opts(name: &str) -> Option<UringOptions> {
    let mut parts = name.split('-');
    if parts.next() != Some("uring") {
        return None;
    }
    let mut o = UringOptions::default();
    for p in parts {
        o = match p {
            "direct" => o.direct(true),
            "buffered" => o.direct(false),
            "fixed" => o.fixed_buffers(true),
            "zerofill" => o.prealloc(Prealloc::ZeroFill),
            "fallocate" => o.prealloc(Prealloc::Fallocate),
            "noprealloc" => o.prealloc(Prealloc::Off),
            "sqpoll" => o.sqpoll(Some(Duration::from_millis(50))),
            "norecycle" => o.recycle(0),
            _ => return None,
        };
    }
    Some(o)
}

fn durability(mode: &str) -> Durability {
    let max_bytes = match mode {
        "none" => return Durability::None,
        "4k" => 4 << 10,
        "16k" => 16 << 10,
        "64k" => 64 << 10,
        "256k" => 256 << 10,
        "1m" => 1 << 20,
        other => panic!("unknown mode {other}"),
    };
    Durability::Group {
        max_bytes,
        max_delay: Duration::ZERO,
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    events_per_s: f64,
    mb_per_s: f64,
    syscalls_per_group: f64,
    groups: u64,
}

fn run(config: &str, mode: &str, secs: f64, retention: bool, base: &std::path::Path) -> Sample {
    let dir = tempfile::tempdir_in(base).unwrap();
    let mut o = WriterOptions::new(durability(mode));
    o = o.with_preallocate(true);
    o = o.with_segment_bytes(if retention { 8 << 20 } else { 64 << 20 });
    if retention {
        o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(2)));
    }
    let counts = Arc::new(Counts::default());
    let mut ub = None;
    let backend: Arc<dyn Backend> = if config == "std" {
        Arc::new(Counting {
            inner: FileBackend::new(dir.path()).unwrap(),
            c: counts.clone(),
        })
    } else {
        let b = UringBackend::new(
            dir.path(),
            uring_opts(config).unwrap_or_else(|| panic!("unknown config {config}")),
        )
        .unwrap();
        ub = Some(b.clone());
        Arc::new(b)
    };
    let payload = [0x5au8; 64];
    let t0 = Instant::now();
    let w: Writer = Writer::open_with(backend, o).unwrap();
    let before = ub.as_ref().map(|u| u.stats());
    let deadline = t0 + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..256 {
            w.append(&payload).unwrap();
        }
        n += 256;
    }
    w.close().unwrap();
    let dt = t0.elapsed().as_secs_f64();
    let (syscalls, groups) = match (ub, before) {
        (Some(u), Some(b)) => {
            let s = u.stats();
            let g = if mode == "none" {
                s.groups - b.groups
            } else {
                s.synced_groups - b.synced_groups
            };
            (
                (s.enters - b.enters) + (s.other_syscalls - b.other_syscalls),
                g,
            )
        }
        _ => {
            let c = &counts;
            let g = if mode == "none" {
                c.groups.load(Ordering::Relaxed)
            } else {
                c.synced_groups.load(Ordering::Relaxed)
            };
            (
                c.writes.load(Ordering::Relaxed)
                    + c.syncs.load(Ordering::Relaxed)
                    + c.other.load(Ordering::Relaxed),
                g,
            )
        }
    };
    Sample {
        events_per_s: n as f64 / dt,
        mb_per_s: n as f64 * 96.0 / dt / 1e6,
        syscalls_per_group: syscalls as f64 / groups.max(1) as f64,
        groups,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut configs = "std,uring".to_owned();
    let mut modes = "4k,16k,64k,1m,none".to_owned();
    let mut secs = 1.5;
    let mut rounds = 3;
    let mut retention = false;
    let mut base = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--configs" => configs = args.next().unwrap(),
            "--modes" => modes = args.next().unwrap(),
            "--secs" => secs = args.next().unwrap().parse().unwrap(),
            "--rounds" => rounds = args.next().unwrap().parse().unwrap(),
            "--retention" => retention = true,
            "--dir" => base = args.next().unwrap().into(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    if let Err(e) = storage_uring::probe() {
        eprintln!("io_uring unavailable ({}): {e}", e.kind());
        std::process::exit(2);
    }
    let configs: Vec<&str> = configs.split(',').collect();
    let modes: Vec<&str> = modes.split(',').collect();
    println!(
        "64 B events (96 B on disk), {secs} s per run, {rounds} interleaved rounds, medians; retention {retention}"
    );
    println!(
        "| config | durability | events/s | MB/s | write-path syscalls per group | groups | vs std |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for mode in &modes {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); configs.len()];
        for _ in 0..rounds {
            for (i, c) in configs.iter().enumerate() {
                samples[i].push(run(c, mode, secs, retention, &base));
            }
        }
        let std_eps = configs
            .iter()
            .position(|c| *c == "std")
            .map(|i| median(samples[i].iter().map(|s| s.events_per_s).collect()));
        for (i, c) in configs.iter().enumerate() {
            let s = &samples[i];
            let eps = median(s.iter().map(|x| x.events_per_s).collect());
            let mbs = median(s.iter().map(|x| x.mb_per_s).collect());
            let spg = median(s.iter().map(|x| x.syscalls_per_group).collect());
            let g = s.iter().map(|x| x.groups).sum::<u64>() / s.len() as u64;
            let ratio = std_eps.map_or(String::new(), |b| format!("{:.2}x", eps / b));
            let label = if *mode == "none" {
                "none".to_owned()
            } else {
                format!("group {mode}")
            };
            println!("| {c} | {label} | {eps:.0} | {mbs:.1} | {spg:.2} | {g} | {ratio} |");
        }
    }
}
