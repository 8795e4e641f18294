//! io_uring durable-write options, measured: write + linked `fdatasync`, `RWF_DSYNC`
//! writes and `O_DSYNC` writes; through the page cache or `O_DIRECT`; from a plain or a
//! registered buffer. Groups of 4 KiB, 16 KiB, 256 KiB and 1 MiB (64 B events: 42, 170,
//! 2730 and 10922 of them at 96 B on disk) are written back to back into a pre-written
//! file (zeros, synced), so no write allocates; each prints MB/s (bytes over the sum of
//! group times) and the group latency p50/p99/p99.9 in microseconds.
//!
//! ```text
//! cargo run --release -p benches --bin uring_options -- [DIR] [--rounds N] [--quick]
//! ```
//!
//! DIR (default: the system's temporary directory) must be on the file system to
//! measure (tmpfs has no O_DIRECT). Options run interleaved, `--rounds` times (default
//! 3); the table shows the medians of the rounds' figures. Exit 1 when io_uring is
//! unavailable (the reason is printed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hdrhistogram::Histogram;
use storage_uring::measure::{DurableWrite, GroupSpec, time_groups};

const GROUPS: [usize; 4] = [4 << 10, 16 << 10, 256 << 10, 1 << 20];
/// Bytes written per option and group size in one round.
const BYTES_PER_RUN: usize = 32 << 20;
const FILE_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Copy)]
struct Variant {
    method: DurableWrite,
    direct: bool,
    registered: bool,
}

impl Variant {
    fn name(&self) -> String {
        format!(
            "{} {}{}",
            self.method.name(),
            if self.direct { "direct" } else { "buffered" },
            if self.registered { " +fixed" } else { "" }
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    mb_s: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let mut dir = std::env::temp_dir();
    let mut rounds = 3usize;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(3).max(1),
            "--quick" => quick = true,
            _ => dir = PathBuf::from(a),
        }
    }
    match storage_uring::probe() {
        Ok(info) => println!("io_uring: {info:?}"),
        Err(e) => {
            eprintln!("io_uring unavailable: {e}");
            return ExitCode::FAILURE;
        }
    }
    let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");
    let path = tmp.path().join("prewritten");
    // Pre-written: every block written once and synced.
    std::fs::write(&path, vec![0u8; FILE_BYTES as usize]).expect("pre-write");
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .expect("sync");
    let mut variants = Vec::new();
    for method in DurableWrite::ALL {
        for direct in [false, true] {
            for registered in [false, true] {
                variants.push(Variant {
                    method,
                    direct,
                    registered,
                });
            }
        }
    }
    let per_run = if quick {
        BYTES_PER_RUN / 8
    } else {
        BYTES_PER_RUN
    };
    // results[group][variant] = figures of each round
    let mut results = vec![vec![Vec::<Figures>::new(); variants.len()]; GROUPS.len()];
    let mut skipped = vec![vec![None::<String>; variants.len()]; GROUPS.len()];
    for _ in 0..rounds {
        for (gi, &g) in GROUPS.iter().enumerate() {
            for (vi, v) in variants.iter().enumerate() {
                let groups = (per_run / g).clamp(64, 4096);
                let spec = GroupSpec {
                    method: v.method,
                    direct: v.direct,
                    registered: v.registered,
                    group_bytes: g,
                    groups,
                };
                match time_groups(&path, &spec) {
                    Ok(times) => {
                        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
                            .expect("histogram");
                        for t in &times {
                            h.saturating_record(t.as_nanos() as u64);
                        }
                        let total: Duration = times.iter().sum();
                        let us = |q| h.value_at_quantile(q) as f64 / 1000.0;
                        results[gi][vi].push(Figures {
                            mb_s: (g * groups) as f64 / total.as_secs_f64() / 1e6,
                            p50: us(0.5),
                            p99: us(0.99),
                            p999: us(0.999),
                        });
                    }
                    Err(e) => skipped[gi][vi] = Some(e.to_string()),
                }
            }
        }
    }
    println!(
        "pre-written {} MiB file in {}; {rounds} round(s), medians",
        FILE_BYTES >> 20,
        dir.display()
    );
    for (gi, &g) in GROUPS.iter().enumerate() {
        println!("\ngroup {} KiB ({} events of 64 B)", g >> 10, g / 96);
        println!(
            "| option | MB/s | p50 us | p99 us | p99.9 us |\n| --- | ---: | ---: | ---: | ---: |"
        );
        let mut best: Option<(f64, String)> = None;
        for (vi, v) in variants.iter().enumerate() {
            let r = &results[gi][vi];
            if r.is_empty() {
                println!(
                    "| {} | skipped: {} | | | |",
                    v.name(),
                    skipped[gi][vi].as_deref().unwrap_or("?")
                );
                continue;
            }
            let f = Figures {
                mb_s: median(r.iter().map(|f| f.mb_s).collect()),
                p50: median(r.iter().map(|f| f.p50).collect()),
                p99: median(r.iter().map(|f| f.p99).collect()),
                p999: median(r.iter().map(|f| f.p999).collect()),
            };
            println!(
                "| {} | {:.1} | {:.0} | {:.0} | {:.0} |",
                v.name(),
                f.mb_s,
                f.p50,
                f.p99,
                f.p999
            );
            if best.as_ref().is_none_or(|b| f.mb_s > b.0) {
                best = Some((f.mb_s, v.name()));
            }
        }
        if let Some((mb, name)) = best {
            println!("fastest: {name} ({mb:.1} MB/s)");
        }
    }
    ExitCode::SUCCESS
}
