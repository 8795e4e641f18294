//! The raw baseline: the disk's limit for the bytes the log writes.
//!
//! Records are real storage-std records (24-byte frame header, CRC32C, zero word,
//! payload padded to 8: [`disk_record_len`] bytes each), written back to back with
//! `pwrite` at increasing offsets, a group at a time, each group followed by
//! `fdatasync` (or by nothing, for the page-cache baseline). Two kinds of file:
//! pre-written (zeros written and synced before the clock starts, then overwritten, so
//! no write changes the file's size or allocates blocks) and growing (new and empty,
//! so every group extends it and its sync carries a metadata update).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringcore::frame::FrameHeader;
use storage_std::format::{disk_record_len, encode_record};

use super::{BenchResult, GroupSink, Latency, Outcome, ctx, written_mark, written_since};

/// Which file the raw baseline writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFile {
    /// Zero-filled and synced beforehand, then overwritten.
    PreWritten,
    /// New and empty; every write extends it.
    Growing,
}

impl RawFile {
    /// Name for the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::PreWritten => "pre-written",
            Self::Growing => "growing",
        }
    }
}

/// Creates the file; a pre-written one gets `bytes` zeros (rounded up to 1 MiB) and a
/// `fdatasync`, before any clock starts.
pub fn create(path: &Path, kind: RawFile, bytes: u64) -> BenchResult<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(ctx("create raw file"))?;
    if kind == RawFile::PreWritten {
        let zeros = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            f.write_all(&zeros).map_err(ctx("pre-write zeros"))?;
            left = left.saturating_sub(zeros.len() as u64);
        }
        f.sync_all().map_err(ctx("sync pre-written file"))?;
    }
    Ok(f)
}

/// Appends the records of events `first .. first + n` to `out`.
pub fn encode_group(out: &mut Vec<u8>, first: u64, n: usize, payload: usize) {
    let mut p = vec![0u8; payload];
    let ts = storage_std::now_ns();
    for seq in first..first + n as u64 {
        ringlog_pattern::fill(seq, &mut p);
        let h = FrameHeader {
            seq,
            timestamp_ns: ts,
            len: payload as u32,
            kind: 0,
            flags: 0,
        };
        encode_record(out, &h, &p);
    }
}

/// A raw file as a [`GroupSink`] (records encoded inline; used for the paced and
/// per-event rows, where encoding is small next to a sync).
#[derive(Debug)]
pub struct RawSink {
    file: File,
    pos: u64,
    buf: Vec<u8>,
    payload: usize,
    sync: bool,
}

impl RawSink {
    /// A sink on `path`; see [`create`].
    pub fn new(path: &Path, kind: RawFile, prewrite: u64, payload: usize) -> BenchResult<Self> {
        Ok(Self {
            file: create(path, kind, prewrite)?,
            pos: 0,
            buf: Vec::new(),
            payload,
            sync: true,
        })
    }
}

impl GroupSink for RawSink {
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
        self.buf.clear();
        encode_group(&mut self.buf, first, n, self.payload);
        self.file
            .write_all_at(&self.buf, self.pos)
            .map_err(ctx("pwrite"))?;
        if self.sync {
            self.file.sync_data().map_err(ctx("fdatasync"))?;
        }
        self.pos += self.buf.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> BenchResult<()> {
        self.file.sync_data().map_err(ctx("fdatasync"))
    }
}

/// Unpaced raw writes: a feeder thread encodes groups of `group_events` records ahead
/// (three buffers in flight) so this thread does nothing but `pwrite` and, with `sync`,
/// `fdatasync`. Without `sync` the file is synced once after the clock stops, before the
/// events are counted.
pub fn run_unpaced(
    path: &Path,
    kind: RawFile,
    payload: usize,
    events: u64,
    group_events: usize,
    sync: bool,
    budget: Duration,
) -> BenchResult<Outcome> {
    let group_events = group_events.max(1);
    let rec = disk_record_len(payload) as u64;
    let file = create(
        path,
        kind,
        if kind == RawFile::PreWritten {
            events * rec
        } else {
            0
        },
    )?;
    let (tx, rx) = mpsc::sync_channel::<(u64, usize, Vec<u8>)>(3);
    let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..3 {
        let _ = back_tx.send(Vec::with_capacity(group_events * rec as usize));
    }
    let mut commits = Latency::new();
    let mark = written_mark();
    let cpu0 = super::sys::process_cpu_ns();
    let start = Instant::now();
    let (written, groups) = std::thread::scope(|s| -> BenchResult<(u64, u64)> {
        s.spawn(move || {
            let mut next = 0u64;
            while next < events {
                let Ok(mut buf) = back_rx.recv() else { return };
                let n = (events - next).min(group_events as u64) as usize;
                buf.clear();
                encode_group(&mut buf, next, n, payload);
                if tx.send((next, n, buf)).is_err() {
                    return;
                }
                next += n as u64;
            }
        });
        // Owned here, so an early return drops them and the feeder stops.
        let (rx, back_tx) = (rx, back_tx);
        let mut pos = 0u64;
        let mut done = 0u64;
        let mut groups = 0u64;
        while let Ok((first, n, buf)) = rx.recv() {
            debug_assert_eq!(first, done);
            let t = Instant::now();
            file.write_all_at(&buf, pos).map_err(ctx("pwrite"))?;
            if sync {
                file.sync_data().map_err(ctx("fdatasync"))?;
            }
            commits.record(t.elapsed());
            pos += buf.len() as u64;
            done += n as u64;
            groups += 1;
            let _ = back_tx.send(buf);
            if start.elapsed() > budget {
                break;
            }
        }
        drop(rx);
        Ok((done, groups))
    })?;
    let elapsed = start.elapsed();
    let process_cpu_ns = Some(super::sys::process_cpu_ns().saturating_sub(cpu0));
    let written_bytes = written_since(mark);
    file.sync_data().map_err(ctx("fdatasync"))?;
    Ok(Outcome {
        events: written,
        offered: written,
        elapsed,
        latency: None,
        group_commit: sync.then_some(commits),
        // Syncs: one per group, or none.
        groups: Some(if sync { groups } else { 0 }),
        backend_calls: None,
        written_bytes,
        process_cpu_ns,
        writer_cpu_ns: None,
        writer_user_ns: None,
    })
}
