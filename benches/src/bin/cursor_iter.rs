//! Replay speed of a storage-std cursor: the lending `Cursor::next` against the
//! `Iterator` of owned `Record`s (which share the cursor's read buffer instead of
//! copying payloads). Issue 14 asks the iterator for at least 0.9x the lending speed.
//!
//! Writes `--records` records of `--payload` bytes (default 1 000 000 of 64 B) with
//! `Durability::None` into a temporary log (page cache), then replays the whole log
//! `--rounds` times each way, alternating, and prints the median of each and their ratio.
//! Each replay reads every payload (a sum of bytes), so neither path is optimised away.
//! On Linux it also prints the medians of the replaying thread's CPU time, and their
//! ratio: steadier than the wall clock where other work shares the machine.
//!
//! `cargo run --release -p benches --bin cursor_iter [-- --records N --payload B --rounds R]`
//!
//! `--only lending` or `--only iterator` replays one way only (no ratio): for a profiler
//! or `perf stat`, whose counts then belong to that path alone.

use std::time::{Duration, Instant};

use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// This thread's time on a CPU so far (Linux `/proc/thread-self/schedstat`), `None`
/// elsewhere. On a shared machine it leaves out the time other processes took the core,
/// which the wall-clock medians count.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// `f`'s wall-clock time and this thread's CPU time (zero where unknown).
fn timed<T>(f: impl FnOnce() -> T) -> (Duration, Duration, T) {
    let (t, c) = (Instant::now(), thread_cpu());
    let out = f();
    let cpu = match (c, thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    (t.elapsed(), cpu, out)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let records = arg("--records", 1_000_000);
    let payload = arg("--payload", 64) as usize;
    let rounds = arg("--rounds", 9);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let w: Writer =
        Writer::open(dir.path(), WriterOptions::new(Durability::None)).expect("open the log");
    let body: Vec<u8> = (0..payload).map(|i| i as u8).collect();
    for _ in 0..records {
        w.append(&body).expect("append");
    }
    w.close().expect("close");
    let reader = LogReader::open(dir.path()).expect("reader");

    let lending = || {
        let mut c = reader.cursor(Start::Oldest).expect("cursor");
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(r) = c.next().expect("read") {
            n += 1;
            sum += r.payload.iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        (n, std::hint::black_box(sum))
    };
    let iterator = || {
        let c = reader.cursor(Start::Oldest).expect("cursor");
        let (mut n, mut sum) = (0u64, 0u64);
        for r in c {
            let r = r.expect("read");
            n += 1;
            sum += r.payload().iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        (n, std::hint::black_box(sum))
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    if let Some(which) = only {
        let run: &dyn Fn() -> (u64, u64) = match which.as_str() {
            "lending" => &lending,
            "iterator" => &iterator,
            other => panic!("--only lending or --only iterator, not {other}"),
        };
        run(); // warm the page cache
        let (wall, cpu): (Vec<_>, Vec<_>) = (0..rounds)
            .map(|_| {
                let (wall, cpu, _) = timed(run);
                (wall, cpu)
            })
            .unzip();
        println!(
            "records {records} x {payload} B, {rounds} rounds, {which} only: median {:.1} ms \
             (CPU {:.1} ms)",
            ms(median(wall)),
            ms(median(cpu))
        );
        return;
    }
    let (mut tl, mut ti, mut cl, mut ci) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    lending(); // warm the page cache
    for _ in 0..rounds {
        let (d, c, (n, s1)) = timed(lending);
        assert_eq!(n, records);
        tl.push(d);
        cl.push(c);
        let (d, c, (n, s2)) = timed(iterator);
        assert_eq!((n, s2), (records, s1), "both paths read the same bytes");
        ti.push(d);
        ci.push(c);
    }
    let (ml, mi) = (median(tl), median(ti));
    let rate = |d: Duration| records as f64 / d.as_secs_f64() / 1e6;
    println!(
        "records {records} x {payload} B, {rounds} rounds, medians: lending next {:.1} ms \
         ({:.2} M rec/s), iterator {:.1} ms ({:.2} M rec/s), iterator/lending speed {:.3}",
        ms(ml),
        rate(ml),
        ms(mi),
        rate(mi),
        ml.as_secs_f64() / mi.as_secs_f64()
    );
    let (cl, ci) = (median(cl), median(ci));
    if !ci.is_zero() {
        // The CPU ratio is the steadier one where other work shares the cores.
        println!(
            "  thread CPU time medians: lending next {:.1} ms, iterator {:.1} ms, \
             iterator/lending speed {:.3}",
            ms(cl),
            ms(ci),
            cl.as_secs_f64() / ci.as_secs_f64()
        );
    }
}
