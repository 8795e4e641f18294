//! kill -9 crash test of the io_uring backend (its own `main`: `harness = false`).
//!
//! The parent re-executes this binary as a child (`KILL9_CHILD_DIR` set) that writes
//! through a `UringBackend` as fast as it can and prints every durable watermark it is
//! told (`durable N`, flushed per line). The parent kills it with SIGKILL at a random
//! moment (during open and recovery, mid-group, mid-roll, mid-recycle), reopens the log
//! with the portable or the io_uring backend (alternating), and checks that every
//! sequence the child reported durable is there, that the log is one contiguous run of
//! intact records, and that it verifies clean. The next child continues the same log.
//!
//! A killed process leaves the page cache behind, so this checks the process-level
//! guarantees (nothing acknowledged is lost or torn by recovery, a recycled or
//! preallocated file ends cleanly); storage-std's power-cut sweeps cover unsynced data.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use storage_std::backend::Backend;
use storage_std::{Durability, RetentionPolicy, WriterOptions};
use storage_uring::{Prealloc, UringOptions};

const ITERATIONS_PER_CONFIG: u64 = 15;

struct Config {
    name: &'static str,
    uring: fn() -> UringOptions,
    writer: fn() -> WriterOptions,
    retention: bool,
}

fn configs() -> Vec<Config> {
    vec![
        Config {
            name: "group, buffered writev",
            uring: || UringOptions::default().direct(false).fixed_buffers(false),
            writer: || small_opts(small_group()),
            retention: false,
        },
        Config {
            name: "group, O_DIRECT + fixed buffers + zero-fill",
            uring: || {
                UringOptions::default()
                    .direct(true)
                    .fixed_buffers(true)
                    .prealloc(Prealloc::ZeroFill)
            },
            writer: || {
                small_opts(Durability::Group {
                    max_bytes: 4096,
                    max_delay: Duration::from_micros(200),
                })
            },
            retention: false,
        },
        Config {
            name: "group, O_DIRECT, retention recycling segment files",
            uring: || UringOptions::default().recycle(2),
            writer: || {
                let mut o = small_opts(small_group());
                o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(3)));
                o
            },
            retention: true,
        },
        Config {
            name: "sync, default options (O_DIRECT)",
            uring: UringOptions::default,
            writer: || small_opts(Durability::Sync),
            retention: false,
        },
    ]
}

fn child(dir: &Path, config: usize) {
    let c = &configs()[config];
    let (_u, b) = uring_backend(dir, (c.uring)());
    let w = Arc::new(W::open_with(b, (c.writer)()).expect("child open"));
    let out = std::io::stdout();
    let start = w.next_seq();
    writeln!(out.lock(), "start {start}").unwrap();
    let reporter = {
        let w = w.clone();
        std::thread::spawn(move || {
            let mut last = None;
            loop {
                let d = w.durable_seq();
                if d != last
                    && let Some(d) = d
                {
                    let mut o = out.lock();
                    writeln!(o, "durable {d}").unwrap();
                    o.flush().unwrap();
                    last = Some(d);
                }
                std::thread::sleep(Duration::from_micros(300));
            }
        })
    };
    for s in start.. {
        let seq = w.append_with(&payload(s), meta(s)).expect("append");
        assert_eq!(seq, s);
    }
    reporter.join().unwrap();
}

/// One child run killed after `delay`; returns the highest durable watermark it
/// printed and where it started.
fn run_child(dir: &Path, config: usize, delay: Duration) -> (Option<u64>, Option<u64>) {
    let mut ch = Command::new(std::env::current_exe().unwrap())
        .env("KILL9_CHILD_DIR", dir)
        .env("KILL9_CONFIG", config.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = ch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut max = None;
        let mut start = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(v) = line.strip_prefix("durable ") {
                max = max.max(Some(v.parse::<u64>().unwrap()));
            } else if let Some(v) = line.strip_prefix("start ") {
                start = Some(v.parse::<u64>().unwrap());
            }
        }
        (max, start)
    });
    std::thread::sleep(delay);
    let early_exit = ch.try_wait().unwrap();
    assert!(
        early_exit.is_none(),
        "the child died by itself: {early_exit:?}"
    );
    ch.kill().unwrap(); // SIGKILL
    let status = ch.wait().unwrap();
    assert!(!status.success());
    reader.join().unwrap()
}

fn check(dir: &Path, c: &Config, with_uring: bool, durable: Option<u64>, what: &str) -> u64 {
    let b: Arc<dyn Backend> = if with_uring {
        uring_backend(dir, (c.uring)()).1
    } else {
        file_backend(dir)
    };
    let held = check_durable_survives::<N>(&b, (c.writer)(), durable, what);
    if !c.retention {
        assert_eq!(held.start, 0, "{what}");
    }
    held.end
}

fn main() {
    if let Ok(dir) = std::env::var("KILL9_CHILD_DIR") {
        let config = std::env::var("KILL9_CONFIG").unwrap().parse().unwrap();
        child(Path::new(&dir), config);
        return;
    }
    // `cargo test -p storage-uring some_filter` passes the filter here too.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "kill9".contains(f.as_str())) {
        println!("kill9: filtered out");
        return;
    }
    if !uring("kill9") {
        return;
    }
    let seed = std::env::var("KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| storage_std::now_ns() | 1);
    println!("kill9: seed {seed} (KILL9_SEED to repeat)");
    let mut rng = Rng::new(seed);
    let t0 = Instant::now();
    let mut total = 0;
    for (ci, c) in configs().iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut reported = None;
        let mut killed_before_start = 0;
        for i in 0..ITERATIONS_PER_CONFIG {
            // Mostly mid-run, sometimes during the child's startup and recovery.
            let delay = if rng.next().is_multiple_of(5) {
                Duration::from_millis(1 + rng.next() % 15)
            } else {
                Duration::from_millis(20 + rng.next() % 180)
            };
            let (durable, start) = run_child(dir.path(), ci, delay);
            if start.is_none() {
                killed_before_start += 1;
            }
            reported = reported.max(durable);
            let what = format!("{} iteration {i} (killed after {delay:?})", c.name);
            let next = check(dir.path(), c, i % 2 == 1, reported, &what);
            if let Some(s) = start {
                assert!(s <= next, "{what}: went backwards");
            }
            total += 1;
        }
        println!(
            "kill9: {}: {ITERATIONS_PER_CONFIG} kills, highest durable reported {reported:?}, {killed_before_start} during startup",
            c.name
        );
        assert!(reported.is_some(), "{}: the children made progress", c.name);
    }
    println!("kill9: {total} SIGKILLs survived in {:.1?}", t0.elapsed());
}
