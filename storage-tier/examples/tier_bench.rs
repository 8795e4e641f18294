//! Benchmarks of the cold tier (numbers, not tests) against the local-directory store:
//! for each payload (the stress pattern, and generated order-book updates) and codec
//! (zstd 1/3/9, lz4): compression ratio and speed of the codec alone on the log's
//! frames, tiering throughput (compress, upload, read back and check, delete), cold
//! replay throughput through storage-std's reader (cache off), and the time to the first
//! event of a cold replay from the middle of a segment.
//!
//! `cargo run --release -p storage-tier --example tier_bench -- [MiB per log, default 64]`
//!
//! With `TIER_BENCH_S3=http://127.0.0.1:PORT/BUCKET` the store is that S3-compatible
//! server's bucket instead (which must exist; credentials and region from `AWS_*`), each
//! run under its own prefix.
//!
//! Prints one Markdown table row per (payload, codec); each figure is the median of
//! three runs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_std::{Durability, LogReader, RecordMeta, Start, Writer, WriterOptions};
use storage_tier::{
    CacheOptions, Codec, ColdReader, StoreConfig, TierConfig, TierEvent, TierPolicy, Tierer,
};

const SEGMENT_BYTES: u64 = 16 << 20;
const FRAME_BYTES: usize = 256 << 10;

#[derive(Debug, Clone, Copy)]
enum Payload {
    Stress,
    OrderBook,
}

impl Payload {
    fn name(self) -> &'static str {
        match self {
            Self::Stress => "stress pattern (200 B)",
            Self::OrderBook => "order-book updates (48 B)",
        }
    }

    fn fill(self, seq: u64, state: &mut Book, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Self::Stress => {
                out.resize(200, 0);
                ringlog_pattern::fill(seq, out);
            }
            Self::OrderBook => state.next_update(seq, out),
        }
    }
}

/// A generated market: 64 instruments, each a mid price doing a random walk; every
/// update adds, changes or deletes one price level near the mid.
struct Book {
    rng: u64,
    mids: Vec<i64>,
}

impl Book {
    fn new() -> Self {
        Self {
            rng: 0x9E37_79B9_7F4A_7C15,
            mids: (0..64).map(|i| 10_000 + i * 137).collect(),
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// instrument u32, action u8, side u8, level u16, price i64, qty u64, order id u64,
    /// exchange ts u64, sequence in the feed u64: 48 bytes.
    fn next_update(&mut self, seq: u64, out: &mut Vec<u8>) {
        let r = self.rand();
        let inst = (r % 64) as usize;
        if r >> 60 == 0 {
            self.mids[inst] += ((r >> 20) % 5) as i64 - 2;
        }
        let side = ((r >> 8) & 1) as u8;
        let level = ((r >> 9) % 10) as u16;
        let tick = i64::from(level) + 1;
        let price = if side == 0 {
            self.mids[inst] - tick
        } else {
            self.mids[inst] + tick
        };
        let qty = ((r >> 16) % 50 + 1) * 100;
        out.extend_from_slice(&(inst as u32).to_le_bytes());
        out.push(((r >> 30) % 3) as u8);
        out.push(side);
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&price.to_le_bytes());
        out.extend_from_slice(&qty.to_le_bytes());
        out.extend_from_slice(&(seq * 7 + (r >> 40) % 7).to_le_bytes());
        out.extend_from_slice(&(1_700_000_000_000_000_000 + seq * 1_000).to_le_bytes());
        out.extend_from_slice(&(seq + 1_000_000).to_le_bytes());
    }
}

fn write_log(dir: &Path, p: Payload, bytes: u64) -> (u64, u64) {
    let opts = WriterOptions::new(Durability::group()).with_segment_bytes(SEGMENT_BYTES);
    let w: Writer = Writer::open(dir, opts).unwrap();
    let mut book = Book::new();
    let mut buf = Vec::new();
    let (mut n, mut payload) = (0u64, 0u64);
    while payload < bytes {
        p.fill(n, &mut book, &mut buf);
        w.append_with(
            &buf,
            RecordMeta {
                kind: 1,
                flags: 0,
                timestamp_ns: Some(1_700_000_000_000_000_000 + n * 1_000),
            },
        )
        .unwrap();
        payload += buf.len() as u64;
        n += 1;
    }
    w.close().unwrap();
    (n, payload)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The segment files' bytes (what the tier compresses).
fn segment_bytes(dir: &Path) -> Vec<Vec<u8>> {
    storage_tier::sealed::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|b| std::fs::read(dir.join(storage_std::format::segment_name(b))).unwrap())
        .collect()
}

/// Codec alone on FRAME_BYTES frames: (ratio, compress MB/s, decompress MB/s).
fn codec_alone(segs: &[Vec<u8>], codec: Codec) -> (f64, f64, f64) {
    let frames: Vec<&[u8]> = segs.iter().flat_map(|s| s.chunks(FRAME_BYTES)).collect();
    let raw: usize = frames.iter().map(|f| f.len()).sum();
    let t = Instant::now();
    let comp: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| match codec {
            Codec::Zstd { level } => zstd::bulk::compress(f, level).unwrap(),
            Codec::Lz4 => lz4_flex::block::compress(f),
        })
        .collect();
    let ct = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (c, f) in comp.iter().zip(&frames) {
        let d = match codec {
            Codec::Zstd { .. } => zstd::bulk::decompress(c, f.len()).unwrap(),
            Codec::Lz4 => lz4_flex::block::decompress(c, f.len()).unwrap(),
        };
        assert_eq!(d.len(), f.len());
    }
    let dt = t.elapsed().as_secs_f64();
    let stored: usize = comp.iter().map(Vec::len).sum();
    let mb = raw as f64 / 1e6;
    (raw as f64 / stored as f64, mb / ct, mb / dt)
}

struct Run {
    ratio: f64,
    upload_mbs: f64,
    replay_mbs: f64,
    first_event: Duration,
}

/// Numbers each run's prefix in an S3 bucket.
static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn one_run(p: Payload, codec: Codec, bytes: u64) -> Run {
    let log = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let (n, _) = write_log(log.path(), p, bytes);
    let seg_total: u64 = segment_bytes(log.path())
        .iter()
        .map(|s| s.len() as u64)
        .sum();
    let store = match std::env::var("TIER_BENCH_S3") {
        Ok(url) => {
            let (endpoint, bucket_name) = url.rsplit_once('/').expect("http://host:port/bucket");
            let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let prefix = format!("bench-{}-{run}", std::process::id());
            StoreConfig::parse(&format!("s3://{bucket_name}/{prefix}"))
                .unwrap()
                .endpoint(endpoint)
        }
        Err(_) => StoreConfig::parse(&format!("file://{}", bucket.path().display())).unwrap(),
    };
    let cfg = TierConfig::new(store.clone())
        .codec(codec)
        .frame_bytes(FRAME_BYTES);
    let mut t = Tierer::open(log.path(), cfg).unwrap();
    let t0 = Instant::now();
    let r = t
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_: &TierEvent| {})
        .unwrap();
    let up = t0.elapsed().as_secs_f64();
    drop(t);
    let moved: u64 = r.moved.iter().map(|m| m.bytes).sum();
    let stored: u64 = r.moved.iter().map(|m| m.stored_bytes).sum();
    assert!(moved * 2 > seg_total, "most of the log moved");

    let cold = ColdReader::open(log.path(), &store, Some(CacheOptions::none())).unwrap();
    let reader = LogReader::open(log.path())
        .unwrap()
        .with_cold(Arc::new(cold.clone()));
    let t0 = Instant::now();
    let mut c = reader.cursor(Start::Oldest).unwrap();
    let (mut got, mut pbytes) = (0u64, 0u64);
    while let Some(rec) = c.next().unwrap() {
        pbytes += rec.payload.len() as u64;
        got += 1;
    }
    let replay = t0.elapsed().as_secs_f64();
    assert_eq!(got, n);
    let _ = pbytes;

    // Time to the first event from the middle of the second cold segment, fresh reader.
    let second = &r.moved[1.min(r.moved.len() - 1)];
    let mid = second.base_seq + (second.last_seq - second.base_seq) / 2;
    let t0 = Instant::now();
    let cold = ColdReader::open(log.path(), &store, Some(CacheOptions::none())).unwrap();
    let reader = LogReader::open(log.path())
        .unwrap()
        .with_cold(Arc::new(cold));
    let mut c = reader.cursor(Start::Seq(mid)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), mid);
    let first_event = t0.elapsed();

    Run {
        ratio: moved as f64 / stored as f64,
        upload_mbs: moved as f64 / 1e6 / up,
        replay_mbs: seg_total as f64 / 1e6 / replay,
        first_event,
    }
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let bytes = mib << 20;
    println!(
        "log of {mib} MiB payload, {} MiB segments, {} KiB frames, {} store; medians of 3\n",
        SEGMENT_BYTES >> 20,
        FRAME_BYTES >> 10,
        if std::env::var_os("TIER_BENCH_S3").is_some() {
            "S3 server"
        } else {
            "local-directory"
        }
    );
    println!(
        "| payload | codec | ratio | compress MB/s | decompress MB/s | tier MB/s | cold replay MB/s | first event mid-segment |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in [Payload::Stress, Payload::OrderBook] {
        let sample = tempfile::tempdir().unwrap();
        write_log(sample.path(), p, bytes);
        let segs = segment_bytes(sample.path());
        for codec in [
            Codec::Zstd { level: 1 },
            Codec::Zstd { level: 3 },
            Codec::Zstd { level: 9 },
            Codec::Lz4,
        ] {
            let alone: Vec<(f64, f64, f64)> = (0..3).map(|_| codec_alone(&segs, codec)).collect();
            let runs: Vec<Run> = (0..3).map(|_| one_run(p, codec, bytes)).collect();
            println!(
                "| {} | {codec} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} ms |",
                p.name(),
                median(runs.iter().map(|r| r.ratio).collect()),
                median(alone.iter().map(|a| a.1).collect()),
                median(alone.iter().map(|a| a.2).collect()),
                median(runs.iter().map(|r| r.upload_mbs).collect()),
                median(runs.iter().map(|r| r.replay_mbs).collect()),
                median(
                    runs.iter()
                        .map(|r| r.first_event.as_secs_f64() * 1e3)
                        .collect()
                ),
            );
        }
    }
}
