//! Shared test support: logs written by storage-std's writer, checks of every record
//! read back, a child-process runner for crash tests, and (in `s3`) a moto S3 server
//! and a TCP proxy that can cut the connection to it.

#![allow(dead_code)]

pub mod s3;

use std::path::{Path, PathBuf};
use std::process::Command;

use storage_std::{Durability, LogReader, RecordMeta, Start, Writer, WriterOptions};
use storage_tier::{
    CacheOptions, ColdReader, ColdSegmentSource, StoreConfig, TierConfig, TierEvent, TierPolicy,
    TierReport, Tierer,
};

/// Timestamp of record `seq` in test logs: increasing, 1 µs apart.
pub fn ts_of(seq: u64) -> u64 {
    1_700_000_000_000_000_000 + seq * 1000
}

/// Payload kinds for test logs.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// ringlog-pattern, `len` bytes (compresses well).
    Pattern(usize),
    /// xorshift noise, `len` bytes (does not compress).
    Noise(usize),
}

/// The payload of record `seq`.
pub fn payload(p: Payload, seq: u64) -> Vec<u8> {
    match p {
        Payload::Pattern(len) => {
            let mut v = vec![0u8; len + (seq % 7) as usize];
            ringlog_pattern::fill(seq, &mut v);
            v
        }
        Payload::Noise(len) => {
            let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }
    }
}

/// Writes `n` records into a new log in `dir` with segments of about `segment_bytes`;
/// returns the number of segment files.
pub fn write_log(dir: &Path, n: u64, p: Payload, segment_bytes: u64) -> usize {
    let opts = WriterOptions::new(Durability::group()).with_segment_bytes(segment_bytes);
    let w: Writer = Writer::open(dir, opts).unwrap();
    for seq in 0..n {
        let s = w
            .append_with(
                &payload(p, seq),
                RecordMeta {
                    kind: 1,
                    flags: 0,
                    timestamp_ns: Some(ts_of(seq)),
                },
            )
            .unwrap();
        assert_eq!(s, seq);
    }
    w.close().unwrap();
    segment_files(dir).len()
}

/// The segment files of a directory, sorted by base sequence.
pub fn segment_files(dir: &Path) -> Vec<u64> {
    storage_tier::sealed::list_segments(dir).unwrap()
}

/// A file store in `dir`.
pub fn file_store(dir: &Path) -> StoreConfig {
    StoreConfig::parse(&format!("file://{}", dir.display())).unwrap()
}

/// Tiers the log in `dir` once with `policy`; returns the report.
pub fn tier_once(dir: &Path, cfg: TierConfig, policy: &TierPolicy) -> TierReport {
    let mut t = Tierer::open(dir, cfg).unwrap();
    t.run_once(policy, &mut |_: &TierEvent| {}).unwrap()
}

/// Reads every cold record in order through `reader` and checks sequence, timestamp and
/// payload; returns (first, last) sequence, or `None` if the cold tier is empty.
pub fn check_cold(reader: &ColdReader, p: Payload) -> Option<(u64, u64)> {
    let segs = reader.cold_segments().unwrap();
    let mut expect = segs.first()?.base_seq;
    for s in &segs {
        assert_eq!(s.base_seq, expect, "cold segments are contiguous");
        let mut c = reader.open_cursor(s.base_seq, Start::Oldest).unwrap();
        while let Some(r) = c.next().unwrap() {
            assert_eq!(r.seq(), expect);
            assert_eq!(r.timestamp_ns(), ts_of(expect));
            assert_eq!(r.payload, payload(p, expect), "payload of {expect}");
            expect += 1;
        }
        assert_eq!(expect, s.last_seq + 1, "segment {} read whole", s.base_seq);
    }
    Some((segs[0].base_seq, expect - 1))
}

/// Reads every local record with storage-std's reader and checks them; returns the
/// (first, last) sequence, or `None` for a log without records.
pub fn check_local(dir: &Path, p: Payload) -> Option<(u64, u64)> {
    let r = LogReader::open(dir).unwrap();
    let mut c = r.cursor(Start::Oldest).unwrap();
    let mut first = None;
    let mut last = None;
    while let Some(rec) = c.next().unwrap() {
        let seq = rec.seq();
        if let Some(l) = last {
            assert_eq!(seq, l + 1);
        }
        assert_eq!(rec.payload, payload(p, seq), "payload of {seq}");
        first.get_or_insert(seq);
        last = Some(seq);
    }
    Some((first?, last?))
}

/// A reader of the log in `dir` without a cache.
pub fn cold_reader(dir: &Path, store: &StoreConfig) -> ColdReader {
    ColdReader::open(dir, store, Some(CacheOptions::none())).unwrap()
}

/// Every record of the log, cold then local, is there exactly once: `0..n`.
pub fn check_whole_log(dir: &Path, store: &StoreConfig, p: Payload, n: u64) {
    let cold = check_cold(&cold_reader(dir, store), p);
    let local = check_local(dir, p);
    let next = match cold {
        Some((first, last)) => {
            assert_eq!(first, 0);
            last + 1
        }
        None => 0,
    };
    match local {
        Some((first, last)) => {
            assert_eq!(first, next, "local log continues the cold tier");
            assert_eq!(last, n - 1);
        }
        None => assert_eq!(next, n),
    }
}

/// Runs the current test binary's test `name` again in a child process with `env`;
/// returns its exit status. The child sees `TIER_TEST_CHILD=1`.
pub fn run_child(name: &str, env: &[(&str, String)]) -> std::process::ExitStatus {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("TIER_TEST_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.status().unwrap()
}

/// Whether this process is a crash test's child.
pub fn is_child() -> bool {
    std::env::var_os("TIER_TEST_CHILD").is_some()
}

/// A path from the child's environment.
pub fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap())
}

/// Asserts that a child died of SIGABRT (the crash step), not of anything else.
pub fn assert_aborted(st: std::process::ExitStatus) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(6),
        "the child must abort at the crash step: {st:?}"
    );
}

/// Flips one bit of the file at `path` at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[offset as usize] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

/// Every record `0..n` is readable from somewhere: the cold tier from 0 (if it has
/// begun) and the local log after it, overlapping or not (a crash between the manifest
/// and the local delete leaves a segment in both).
pub fn check_union(dir: &Path, store: &StoreConfig, p: Payload, n: u64) {
    let cold = check_cold(&cold_reader(dir, store), p);
    let local = check_local(dir, p).expect("a local log");
    match cold {
        Some((first, last)) => {
            assert_eq!(first, 0);
            assert!(
                local.0 <= last + 1,
                "gap between cold {last} and local {}",
                local.0
            );
        }
        None => assert_eq!(local.0, 0),
    }
    assert_eq!(local.1, n - 1);
}

/// The keys under `segments/` of a file store, sorted.
pub fn store_segment_keys(store_dir: &Path) -> Vec<String> {
    let d = store_dir.join("segments");
    let mut v: Vec<String> = match std::fs::read_dir(&d) {
        Ok(rd) => rd
            .map(|e| format!("segments/{}", e.unwrap().file_name().to_string_lossy()))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The keys the local manifest of `dir` names, sorted.
pub fn manifest_keys(dir: &Path) -> Vec<String> {
    let m = storage_tier::read_local_manifest(dir).unwrap().unwrap();
    let mut v: Vec<String> = m.segments.iter().map(|e| e.key.clone()).collect();
    v.sort();
    v
}
