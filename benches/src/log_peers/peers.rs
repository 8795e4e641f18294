//! The crates users would pick instead, each behind [`GroupSink`]: a group of events is
//! one okaywal entry, one commitlog message set, one rivven-core batch; a commit returns
//! once the group is durable.
//!
//! * [`OkayWal`]: `okaywal` 0.3: `begin_entry`, one chunk per event, `commit` (which
//!   `fdatasync`s). 64 MiB files, checkpoint after 48 MiB, write buffer of one group.
//! * [`CommitLogSynced`]: `commitlog` 0.2, which never syncs its files (its `flush`
//!   only `msync`s whole pages of its index). Made durable by hand: after each group
//!   `fdatasync` of the segment file and of the index file (commitlog needs its index to
//!   read a record back, and writes it through a shared mapping), and a directory
//!   `fsync` when it starts a new segment.
//! * [`RivvenLog`]: rivven-core's storage engine (`storage::LogManager`, 64 MiB
//!   segments, `SegmentSyncPolicy::EveryNWrites(1)`): `append_batch` of the group, then
//!   the deferred `take_pending_sync()` + `sync_data()` that its broker runs.
//! * [`RivvenWal`]: rivven-core's `GroupCommitWal` with `SyncMode::FsyncData`: one
//!   `write_batch` of the group, its group size set to the group's event count.
//!
//! rivven-core is async: its calls run on a current-thread tokio runtime of their own.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{BenchResult, GroupSink, ctx};

/// Segment (file) size given to every peer that has one: the log's default, 64 MiB.
pub const PEER_SEGMENT_BYTES: u64 = 64 << 20;

/// `okaywal` 0.3.
#[derive(Debug)]
pub struct OkayWal {
    wal: Option<okaywal::WriteAheadLog>,
    buf: Vec<u8>,
}

impl OkayWal {
    /// Opens a new log in `dir` (nothing to recover: `LogVoid`).
    pub fn open(dir: &Path, payload: usize, group_bytes: usize) -> BenchResult<Self> {
        let wal = okaywal::Configuration::default_for(dir)
            .preallocate_bytes(PEER_SEGMENT_BYTES as u32)
            .checkpoint_after_bytes(PEER_SEGMENT_BYTES * 3 / 4)
            .buffer_bytes(group_bytes.max(16 << 10))
            .open(okaywal::LogVoid)
            .map_err(ctx("okaywal open"))?;
        Ok(Self {
            wal: Some(wal),
            buf: vec![0; payload],
        })
    }
}

impl GroupSink for OkayWal {
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
        let wal = self.wal.as_ref().ok_or("okaywal already shut down")?;
        let mut entry = wal.begin_entry().map_err(ctx("okaywal begin_entry"))?;
        for seq in first..first + n as u64 {
            ringlog_pattern::fill(seq, &mut self.buf);
            entry
                .write_chunk(&self.buf)
                .map_err(ctx("okaywal write_chunk"))?;
        }
        entry.commit().map_err(ctx("okaywal commit"))?;
        Ok(())
    }

    fn finish(&mut self) -> BenchResult<()> {
        match self.wal.take() {
            Some(w) => w.shutdown().map_err(ctx("okaywal shutdown")),
            None => Ok(()),
        }
    }
}

/// `commitlog` 0.2, made durable by hand (see the module docs).
pub struct CommitLogSynced {
    log: commitlog::CommitLog,
    dir: PathBuf,
    segment: File,
    index: File,
    /// Mirror of commitlog's write position in its active segment (starts after its
    /// 2-byte magic), to know when an append rolls to a new segment.
    write_pos: usize,
    buf: commitlog::message::MessageBuf,
    payload: Vec<u8>,
}

impl std::fmt::Debug for CommitLogSynced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLogSynced")
            .field("dir", &self.dir)
            .field("write_pos", &self.write_pos)
            .finish_non_exhaustive()
    }
}

fn sync_dir(dir: &Path) -> BenchResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ctx("fsync dir"))
}

impl CommitLogSynced {
    fn open_files(dir: &Path, base: u64) -> BenchResult<(File, File)> {
        let seg =
            File::open(dir.join(format!("{base:020}.log"))).map_err(ctx("commitlog segment"))?;
        let idx =
            File::open(dir.join(format!("{base:020}.index"))).map_err(ctx("commitlog index"))?;
        Ok((seg, idx))
    }

    /// Opens a new log in `dir`.
    pub fn open(dir: &Path, payload: usize) -> BenchResult<Self> {
        let mut opts = commitlog::LogOptions::new(dir);
        opts.segment_max_bytes(PEER_SEGMENT_BYTES as usize);
        opts.message_max_bytes(PEER_SEGMENT_BYTES as usize);
        let log = commitlog::CommitLog::new(opts).map_err(ctx("commitlog open"))?;
        let (segment, index) = Self::open_files(dir, 0)?;
        sync_dir(dir)?;
        Ok(Self {
            log,
            dir: dir.to_path_buf(),
            segment,
            index,
            write_pos: 2,
            buf: commitlog::message::MessageBuf::default(),
            payload: vec![0; payload],
        })
    }
}

impl GroupSink for CommitLogSynced {
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
        use commitlog::message::MessageSet as _;
        self.buf.clear();
        for seq in first..first + n as u64 {
            ringlog_pattern::fill(seq, &mut self.payload);
            self.buf
                .push(&self.payload)
                .map_err(|e| format!("commitlog push: {e:?}"))?;
        }
        let bytes = self.buf.bytes().len();
        let rolls = self.write_pos + bytes > PEER_SEGMENT_BYTES as usize;
        let range = self
            .log
            .append(&mut self.buf)
            .map_err(|e| format!("commitlog append: {e:?}"))?;
        if range.first() != first {
            return Err(format!(
                "commitlog gave offset {}, expected {first}",
                range.first()
            ));
        }
        if rolls {
            // The old segment and index were synced after the previous group and
            // commitlog wrote nothing more to the segment; sync the index it trimmed.
            self.index.sync_data().map_err(ctx("fdatasync index"))?;
            let (s, i) = Self::open_files(&self.dir, first)?;
            (self.segment, self.index) = (s, i);
            sync_dir(&self.dir)?;
            self.write_pos = 2 + bytes;
        } else {
            self.write_pos += bytes;
        }
        self.segment.sync_data().map_err(ctx("fdatasync segment"))?;
        self.index.sync_data().map_err(ctx("fdatasync index"))?;
        Ok(())
    }

    fn finish(&mut self) -> BenchResult<()> {
        self.log.flush().map_err(ctx("commitlog flush"))
    }
}

fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ctx("tokio runtime"))
}

/// rivven-core's storage engine, `storage::LogManager`.
pub struct RivvenLog {
    rt: tokio::runtime::Runtime,
    log: rivven_core::storage::LogManager,
    payload: Vec<u8>,
}

impl std::fmt::Debug for RivvenLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RivvenLog").finish_non_exhaustive()
    }
}

impl RivvenLog {
    /// Opens a new log (topic `bench`, partition 0) under `dir`.
    pub fn open(dir: &Path, payload: usize) -> BenchResult<Self> {
        let rt = runtime()?;
        let log = rt
            .block_on(rivven_core::storage::LogManager::with_sync_policy(
                dir.to_path_buf(),
                "bench",
                0,
                PEER_SEGMENT_BYTES,
                rivven_core::storage::SegmentSyncPolicy::EveryNWrites(1),
            ))
            .map_err(ctx("rivven LogManager"))?;
        Ok(Self {
            rt,
            log,
            payload: vec![0; payload],
        })
    }
}

impl GroupSink for RivvenLog {
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
        let batch: Vec<(u64, rivven_core::Message)> = (first..first + n as u64)
            .map(|seq| {
                ringlog_pattern::fill(seq, &mut self.payload);
                (
                    seq,
                    rivven_core::Message::new(Bytes::copy_from_slice(&self.payload)),
                )
            })
            .collect();
        let log = &mut self.log;
        self.rt
            .block_on(log.append_batch(batch))
            .map_err(ctx("rivven append_batch"))?;
        match self.log.take_pending_sync() {
            Some(f) => f.sync_data().map_err(ctx("rivven sync_data")),
            None => Err("rivven: no sync pending after a batch".into()),
        }
    }

    fn finish(&mut self) -> BenchResult<()> {
        self.rt
            .block_on(self.log.flush())
            .map_err(ctx("rivven flush"))
    }
}

/// rivven-core's `GroupCommitWal`.
pub struct RivvenWal {
    rt: tokio::runtime::Runtime,
    wal: Option<Arc<rivven_core::wal::GroupCommitWal>>,
    payload: Vec<u8>,
}

impl std::fmt::Debug for RivvenWal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RivvenWal").finish_non_exhaustive()
    }
}

impl RivvenWal {
    /// Opens a new WAL in `dir` whose groups close at `group_events` writes (or its
    /// default 200 µs window), `fdatasync` per group.
    pub fn open(dir: &Path, payload: usize, group_events: usize) -> BenchResult<Self> {
        let rt = runtime()?;
        let config = rivven_core::wal::WalConfig {
            dir: dir.to_path_buf(),
            max_pending_writes: group_events.max(1),
            sync_mode: rivven_core::wal::SyncMode::FsyncData,
            max_file_size: PEER_SEGMENT_BYTES,
            ..rivven_core::wal::WalConfig::default()
        };
        let wal = rt
            .block_on(rivven_core::wal::GroupCommitWal::new(config))
            .map_err(ctx("rivven GroupCommitWal"))?;
        Ok(Self {
            rt,
            wal: Some(wal),
            payload: vec![0; payload],
        })
    }
}

impl GroupSink for RivvenWal {
    fn commit(&mut self, first: u64, n: usize) -> BenchResult<()> {
        let wal = self.wal.as_ref().ok_or("rivven WAL shut down")?;
        let records: Vec<Bytes> = (first..first + n as u64)
            .map(|seq| {
                ringlog_pattern::fill(seq, &mut self.payload);
                Bytes::copy_from_slice(&self.payload)
            })
            .collect();
        let r = self
            .rt
            .block_on(wal.write_batch(records))
            .map_err(ctx("rivven write_batch"))?;
        if r.len() != n {
            return Err(format!(
                "rivven write_batch acknowledged {} of {n}",
                r.len()
            ));
        }
        Ok(())
    }

    fn finish(&mut self) -> BenchResult<()> {
        match self.wal.take() {
            Some(w) => self
                .rt
                .block_on(w.shutdown())
                .map_err(ctx("rivven WAL shutdown")),
            None => Ok(()),
        }
    }
}
