//! Replay speed of a storage-std cursor: the lending `Cursor::next` against the
//! `Iterator` of owned `Record`s (which share the cursor's read buffer instead of
//! copying payloads). Issue 14 asks the iterator for at least 0.9x the lending speed.
//!
//! Writes `--records` records of `--payload` bytes (default 1 000 000 of 64 B) with
//! `Durability::None` into a temporary log (page cache), then replays the whole log
//! `--rounds` times each way, alternating, and prints the median of each and their ratio.
//! Each replay reads every payload (a sum of bytes), so neither path is optimised away.
//!
//! `cargo run --release -p benches --bin cursor_iter [-- --records N --payload B --rounds R]`

use std::time::{Duration, Instant};

use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
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
        let t = Instant::now();
        let mut c = reader.cursor(Start::Oldest).expect("cursor");
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(r) = c.next().expect("read") {
            n += 1;
            sum += r.payload.iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        (t.elapsed(), n, std::hint::black_box(sum))
    };
    let iterator = || {
        let t = Instant::now();
        let c = reader.cursor(Start::Oldest).expect("cursor");
        let (mut n, mut sum) = (0u64, 0u64);
        for r in c {
            let r = r.expect("read");
            n += 1;
            sum += r.payload().iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        (t.elapsed(), n, std::hint::black_box(sum))
    };
    let (mut tl, mut ti) = (Vec::new(), Vec::new());
    lending(); // warm the page cache
    for _ in 0..rounds {
        let (d, n, s1) = lending();
        assert_eq!(n, records);
        tl.push(d);
        let (d, n, s2) = iterator();
        assert_eq!((n, s2), (records, s1), "both paths read the same bytes");
        ti.push(d);
    }
    let (ml, mi) = (median(tl), median(ti));
    let rate = |d: Duration| records as f64 / d.as_secs_f64() / 1e6;
    println!(
        "records {records} x {payload} B, {rounds} rounds, medians: lending next {:.1} ms \
         ({:.2} M rec/s), iterator {:.1} ms ({:.2} M rec/s), iterator/lending speed {:.3}",
        ml.as_secs_f64() * 1e3,
        rate(ml),
        mi.as_secs_f64() * 1e3,
        rate(mi),
        ml.as_secs_f64() / mi.as_secs_f64()
    );
}
