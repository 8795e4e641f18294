//! The tiering task: sealed, verified segments past a policy are compressed, uploaded,
//! verified by reading back, recorded in the manifest (local, then bucket), and only
//! then deleted locally.
//!
//! Order of the steps for one segment, and what a crash after each leaves:
//!
//! | after | state | the next run |
//! | --- | --- | --- |
//! | multipart id recorded | local copy; id in the manifest | aborts the upload |
//! | some parts uploaded | local copy; incomplete upload | aborts the upload |
//! | upload + verify | local copy; object no manifest names | GC deletes it, re-uploads |
//! | local manifest | local copy; bucket manifest behind | rewrites the bucket manifest |
//! | bucket manifest | local copy and cold copy | deletes the local copy |
//! | local delete | cold copy | nothing to do |
//!
//! Every segment is readable from somewhere at every point.

use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use storage_std::format;

use crate::codec::Codec;
use crate::crash::{CrashPoint, crash_point};
use crate::error::{Result, TierError};
use crate::manifest::{
    ColdEntry, FrontCut, MANIFEST_KEY, PendingUpload, SEGMENTS_DIR, TierManifest, object_key,
    sync_dir, write_atomic,
};
use crate::object::{ObjectSummary, ObjectWriter};
use crate::policy::{self, ColdRetention, ColdSeg, LocalSeg, TierPolicy};
use crate::sealed::{list_segments, read_sealed_info, scan_sealed};
use crate::store::{Store, StoreConfig, StoreCounters};

/// Name of the tier folder inside a log directory.
pub const TIER_DIR: &str = "tier";
/// Name of the local manifest inside the tier folder.
pub const LOCAL_MANIFEST: &str = "manifest";
const LOCK: &str = "LOCK";
const STAGING: &str = "staging";
/// The smallest part S3 accepts (except the last).
pub const MIN_PART_BYTES: usize = 5 << 20;

/// Settings of the tiering task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TierConfig {
    /// The store.
    pub store: StoreConfig,
    /// Frame compression (zstd level 3 by default).
    pub codec: Codec,
    /// Uncompressed bytes per frame (default 1 MiB): a read from the middle of a cold
    /// segment fetches about this much.
    pub frame_bytes: usize,
    /// Part size of multipart uploads (default 8 MiB, at least 5 MiB); an object larger
    /// than one part goes up in parts where the store supports it.
    pub part_bytes: usize,
    /// Attempts per segment upload before the run fails (default 5).
    pub upload_attempts: u32,
    /// Wait before the second attempt; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl TierConfig {
    /// Defaults for this store.
    pub fn new(store: StoreConfig) -> Self {
        Self {
            store,
            codec: Codec::default(),
            frame_bytes: 1 << 20,
            part_bytes: 8 << 20,
            upload_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }

    /// Sets the codec.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Sets the frame size.
    pub fn frame_bytes(mut self, n: usize) -> Self {
        self.frame_bytes = n;
        self
    }

    /// Sets the multipart part size (raised to 5 MiB if lower).
    pub fn part_bytes(mut self, n: usize) -> Self {
        self.part_bytes = n.max(MIN_PART_BYTES);
        self
    }

    /// Sets the upload attempts and the backoff between them.
    pub fn retries(mut self, attempts: u32, initial: Duration, max: Duration) -> Self {
        self.upload_attempts = attempts.max(1);
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }
}

/// One segment moved to the cold tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedSegment {
    /// First sequence.
    pub base_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Records.
    pub records: u64,
    /// Object key.
    pub key: String,
    /// Segment file bytes.
    pub bytes: u64,
    /// Object bytes.
    pub stored_bytes: u64,
    /// Upload attempts it took.
    pub attempts: u32,
    /// Whether it went up in parts.
    pub multipart: bool,
}

/// A failed attempt that was retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryNote {
    /// The segment.
    pub base_seq: u64,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Why.
    pub error: String,
    /// Wait before the next attempt.
    pub backoff_ms: u64,
}

/// What happened during a run, as it happens (progress bars, logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TierEvent {
    /// A segment is being compressed and uploaded.
    SegmentStarted {
        /// The segment.
        base_seq: u64,
        /// Its file bytes.
        bytes: u64,
    },
    /// Bytes of the current object sent so far.
    Uploaded {
        /// The segment.
        base_seq: u64,
        /// Sent.
        sent: u64,
        /// Object bytes.
        total: u64,
    },
    /// An attempt failed and will be retried.
    Retry(RetryNote),
    /// A segment moved.
    Moved(MovedSegment),
    /// A local copy of a segment that was already cold was removed.
    LocalCopyRemoved {
        /// The segment.
        base_seq: u64,
    },
    /// An object no manifest names was deleted.
    GcDeleted {
        /// Its key.
        key: String,
    },
    /// A multipart upload left by a crash was aborted.
    UploadAborted {
        /// Its key.
        key: String,
    },
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TierReport {
    /// Segments moved, oldest first.
    pub moved: Vec<MovedSegment>,
    /// Local copies of already-cold segments removed (after a crash, or a restore).
    pub local_copies_removed: Vec<u64>,
    /// Failed attempts that were retried.
    pub retries: Vec<RetryNote>,
    /// Objects GC deleted.
    pub gc_deleted: Vec<String>,
    /// Multipart uploads aborted.
    pub aborted_uploads: Vec<String>,
    /// Why tiering stopped before the policy was met, if it did (a segment that is not
    /// sealed, for instance).
    pub stopped_at: Option<String>,
    /// Cold segments after the run.
    pub cold_segments: usize,
    /// Cold records after the run.
    pub cold_records: u64,
    /// Object bytes after the run.
    pub cold_stored_bytes: u64,
    /// The manifest's generation after the run.
    pub manifest_generation: u64,
}

/// What cold retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColdRetentionReport {
    /// Segments deleted (their base sequences).
    pub deleted: Vec<u64>,
    /// Object bytes freed.
    pub bytes_freed: u64,
    /// The first sequence the cold tier still holds (or would hold next).
    pub first_seq: Option<u64>,
    /// The consumer whose unread records stopped retention, if one did.
    pub held_by: Option<String>,
}

/// The tiering task of one log directory. Holds `DIR/tier/LOCK` while it lives.
#[derive(Debug)]
pub struct Tierer {
    dir: PathBuf,
    tier_dir: PathBuf,
    _lock: File,
    store: Store,
    cfg: TierConfig,
    manifest: TierManifest,
    crash: Option<CrashPoint>,
    /// Multipart uploads aborted and not reported yet.
    aborted: Vec<String>,
    /// The bucket's manifest is behind the local one (a put failed).
    bucket_dirty: bool,
    /// GC runs on the first pass and after a pass that failed (listing the store on
    /// every pass of `--watch` would cost a LIST per interval).
    gc_due: bool,
}

/// One attempt's failure and whether another attempt can help.
type Attempt = std::result::Result<(), (TierError, bool)>;

/// One attempt of a retried step, given the task and the event sink.
type AttemptFn<'a> = dyn FnMut(&mut Tierer, &mut dyn FnMut(&TierEvent)) -> Attempt + 'a;

fn retryable(e: TierError) -> (TierError, bool) {
    let again = e.is_retryable();
    (e, again)
}

fn now_ns() -> u64 {
    storage_std::now_ns()
}

fn new_log_id() -> String {
    let t = now_ns();
    let salt = crc32c::crc32c(format!("{t}:{}:{:p}", std::process::id(), &t).as_bytes());
    format!("{t:016x}{salt:08x}")
}

/// Takes `DIR/tier/LOCK` (created if missing) without waiting.
pub(crate) fn lock_tier_dir(tier_dir: &Path) -> Result<File> {
    let p = tier_dir.join(LOCK);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| TierError::io("open", &p, e))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => {
            Err(TierError::Locked(tier_dir.display().to_string()))
        }
        Err(e) => Err(TierError::io("flock", &p, e.into())),
    }
}

/// Creates `DIR/tier` (and syncs `DIR`) if missing.
pub(crate) fn ensure_tier_dir(dir: &Path) -> Result<PathBuf> {
    let t = dir.join(TIER_DIR);
    if !t.is_dir() {
        std::fs::create_dir_all(&t).map_err(|e| TierError::io("create", &t, e))?;
        sync_dir(dir)?;
    }
    Ok(t)
}

/// Reads the local manifest of a log directory, if it has one.
pub fn read_local_manifest(dir: &Path) -> Result<Option<TierManifest>> {
    let p = dir.join(TIER_DIR).join(LOCAL_MANIFEST);
    match std::fs::read(&p) {
        Ok(b) => TierManifest::decode(&b, &p.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TierError::io("read", &p, e)),
    }
}

/// Reads the bucket's manifest, if it has one.
pub(crate) fn read_bucket_manifest(store: &Store) -> Result<Option<TierManifest>> {
    match store.get(MANIFEST_KEY) {
        Ok(b) => TierManifest::decode(&b, &format!("{}/{MANIFEST_KEY}", store.url())).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Streams an object back and checks its length and whole-object CRC.
pub(crate) fn verify_uploaded(store: &Store, key: &str, len: u64, crc: u32) -> Result<()> {
    let mut t = TailCrc::default();
    let n = store.get_stream(key, &mut |c| t.feed(c))?;
    let (computed, stored) = t.finish();
    if n != len || computed != crc || stored != Some(crc) {
        return Err(TierError::corrupt(
            format!("{}/{key}", store.url()),
            format!(
                "read back {n} bytes (expected {len}), checksum {computed:#010x}, stored \
                 {stored:?}, expected {crc:#010x}"
            ),
        ));
    }
    Ok(())
}

/// CRC32C of a stream except its last 4 bytes, and those 4 bytes.
#[derive(Debug, Default)]
struct TailCrc {
    crc: u32,
    tail: Vec<u8>,
}

impl TailCrc {
    fn feed(&mut self, chunk: &[u8]) {
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 4 {
            let cut = self.tail.len() - 4;
            self.crc = crc32c::crc32c_append(self.crc, &self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    fn finish(self) -> (u32, Option<u32>) {
        let stored = <[u8; 4]>::try_from(self.tail.as_slice())
            .ok()
            .map(u32::from_le_bytes);
        (self.crc, stored)
    }
}

impl Tierer {
    /// Opens the tiering task of the log in `dir`: takes the tier lock, loads the local
    /// and bucket manifests and reconciles them (the newer generation wins; a bucket
    /// that holds another log is refused), aborts multipart uploads a crash left, and
    /// clears the staging folder.
    pub fn open(dir: impl AsRef<Path>, cfg: TierConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(TierError::Config(format!(
                "{}: not a directory",
                dir.display()
            )));
        }
        let tier_dir = ensure_tier_dir(&dir)?;
        let lock = lock_tier_dir(&tier_dir)?;
        let store = cfg.store.open()?;
        let local = read_local_manifest(&dir)?;
        let bucket = read_bucket_manifest(&store)?;
        let (manifest, write_local, write_bucket) = match (local, bucket) {
            (None, None) => (TierManifest::new(new_log_id()), false, false),
            (Some(l), None) => (l, false, true),
            (None, Some(b)) => {
                // Adopt the bucket's manifest only for a directory that continues it (or
                // holds no segment): another log's bucket is refused.
                let first_local = list_segments(&dir)?.first().copied();
                let next = b.next_seq().or(b.front_cut.as_ref().map(|c| c.first_seq));
                let continues = match (first_local, next) {
                    (None, _) | (_, None) => true,
                    (Some(f), Some(n)) => b.entry(f).is_some() || f == n,
                };
                if !continues {
                    return Err(TierError::Conflict(format!(
                        "{} holds the manifest of log {} whose cold tier ends before                          sequence {}, and this directory starts at {}: another log?",
                        store.url(),
                        b.log_id,
                        next.unwrap_or(0),
                        first_local.unwrap_or(0)
                    )));
                }
                (b, true, false)
            }
            (Some(l), Some(b)) => {
                if l.log_id != b.log_id {
                    return Err(TierError::Conflict(format!(
                        "{} holds the manifest of log {}, this directory is log {}",
                        store.url(),
                        b.log_id,
                        l.log_id
                    )));
                }
                if l.generation >= b.generation {
                    let behind = l != b;
                    (l, false, behind)
                } else {
                    let mut b = b;
                    for p in l.pending_uploads {
                        if !b.pending_uploads.contains(&p) {
                            b.pending_uploads.push(p);
                        }
                    }
                    (b, true, false)
                }
            }
        };
        let mut t = Self {
            dir,
            tier_dir,
            _lock: lock,
            store,
            cfg,
            manifest,
            crash: CrashPoint::from_env(),
            aborted: Vec::new(),
            bucket_dirty: write_bucket,
            gc_due: true,
        };
        if write_local {
            write_atomic(&t.tier_dir, LOCAL_MANIFEST, &t.manifest.encode())?;
        }
        t.sync_bucket()?;
        t.abort_pending()?;
        t.clear_staging()?;
        Ok(t)
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &TierManifest {
        &self.manifest
    }

    /// Requests and bytes sent to the store so far.
    pub fn store_counters(&self) -> StoreCounters {
        self.store.counters()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the manifest locally (a new generation; durable, atomic) and marks the
    /// bucket's copy behind.
    fn save_local(&mut self) -> Result<()> {
        self.manifest.generation += 1;
        write_atomic(&self.tier_dir, LOCAL_MANIFEST, &self.manifest.encode())?;
        self.bucket_dirty = true;
        Ok(())
    }

    /// Brings the bucket's manifest up to the local one. Nothing is deleted locally
    /// while it is behind.
    fn sync_bucket(&mut self) -> Result<()> {
        if self.bucket_dirty {
            self.store
                .put(MANIFEST_KEY, Bytes::from(self.manifest.encode()))?;
            self.bucket_dirty = false;
        }
        Ok(())
    }

    /// Writes the manifest locally, then to the bucket.
    fn save(&mut self) -> Result<()> {
        self.save_local()?;
        self.sync_bucket()
    }

    /// Runs `f` until it succeeds, fails for good, or the attempts are used up, waiting
    /// with exponential backoff between attempts and reporting each failure. Returns the
    /// attempts it took.
    fn retrying(
        &mut self,
        base: u64,
        report: &mut TierReport,
        on_event: &mut dyn FnMut(&TierEvent),
        f: &mut AttemptFn<'_>,
    ) -> Result<u32> {
        let mut attempt = 1u32;
        loop {
            match f(self, on_event) {
                Ok(()) => return Ok(attempt),
                Err((e, true)) if attempt < self.cfg.upload_attempts => {
                    let backoff = self
                        .cfg
                        .initial_backoff
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(self.cfg.max_backoff);
                    let note = RetryNote {
                        base_seq: base,
                        attempt,
                        error: error_chain(&e),
                        backoff_ms: backoff.as_millis() as u64,
                    };
                    on_event(&TierEvent::Retry(note.clone()));
                    report.retries.push(note);
                    std::thread::sleep(backoff);
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Aborts every multipart upload the manifest records (a crash or a failed abort
    /// left them), then records that they are gone.
    fn abort_pending(&mut self) -> Result<()> {
        if self.manifest.pending_uploads.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.manifest.pending_uploads);
        for (i, p) in pending.iter().enumerate() {
            if let Err(e) = self.store.abort_multipart(&p.key, &p.upload_id) {
                self.manifest.pending_uploads = pending[i..].to_vec();
                return Err(e);
            }
            self.aborted.push(p.key.clone());
        }
        self.save_local()
    }

    fn staging(&self) -> PathBuf {
        self.tier_dir.join(STAGING)
    }

    fn clear_staging(&self) -> Result<()> {
        let s = self.staging();
        match std::fs::remove_dir_all(&s) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(TierError::io("remove", &s, e)),
        }
        std::fs::create_dir_all(&s).map_err(|e| TierError::io("create", &s, e))
    }

    /// Aborts the multipart uploads the manifest records, then deletes the objects
    /// under `segments/` that no manifest names (a crash between upload and manifest,
    /// or between cold retention's manifest and its deletes) and a local-directory
    /// store's interrupted staging files. Returns the deleted keys.
    pub fn gc(&mut self) -> Result<Vec<String>> {
        self.abort_pending()?;
        self.sync_bucket()?;
        let named: std::collections::HashSet<&str> = self
            .manifest
            .segments
            .iter()
            .map(|e| e.key.as_str())
            .chain(self.manifest.pending_uploads.iter().map(|p| p.key.as_str()))
            .collect();
        let mut deleted = Vec::new();
        for (key, _) in self.store.list(SEGMENTS_DIR)? {
            if !named.contains(key.as_str()) {
                self.store.delete(&key)?;
                deleted.push(key);
            }
        }
        deleted.extend(self.store.remove_dir_staging(SEGMENTS_DIR)?);
        Ok(deleted)
    }

    /// The sequence the next cold segment must start at, if the cold tier has begun.
    fn expected_next(&self) -> Option<u64> {
        self.manifest
            .next_seq()
            .or(self.manifest.front_cut.as_ref().map(|c| c.first_seq))
    }

    fn local_segments(&self) -> Result<Vec<LocalSeg>> {
        let mut v = Vec::new();
        for base in list_segments(&self.dir)? {
            let path = self.dir.join(format::segment_name(base));
            let bytes = std::fs::metadata(&path)
                .map_err(|e| TierError::io("stat", &path, e))?
                .len();
            let sealed_ns = read_sealed_info(&path, base)?.map(|i| i.footer.sealed_ns);
            v.push(LocalSeg {
                base_seq: base,
                bytes,
                sealed_ns,
            });
        }
        Ok(v)
    }

    /// One pass: GC (on the first pass and after a failed one), then every segment the
    /// policy selects, oldest first. Progress goes to `on_event`. A damaged segment
    /// stops the run with [`TierError::Corrupt`] (nothing after it moves); a store that
    /// keeps failing, after the configured attempts, with the last error.
    pub fn run_once(
        &mut self,
        policy: &TierPolicy,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<TierReport> {
        let r = self.pass(policy, on_event);
        self.gc_due |= r.is_err();
        r
    }

    fn pass(
        &mut self,
        policy: &TierPolicy,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<TierReport> {
        let mut report = TierReport::default();
        let gc = if self.gc_due {
            self.gc()
        } else {
            self.abort_pending()
                .and_then(|()| self.sync_bucket())
                .map(|()| Vec::new())
        };
        report.aborted_uploads = std::mem::take(&mut self.aborted);
        for k in &report.aborted_uploads {
            on_event(&TierEvent::UploadAborted { key: k.clone() });
        }
        report.gc_deleted = gc?;
        self.gc_due = false;
        for k in &report.gc_deleted {
            on_event(&TierEvent::GcDeleted { key: k.clone() });
        }
        let segs = self.local_segments()?;
        let moves = policy::select_moves(&segs, policy, now_ns());
        if let Some(next) = segs.get(moves.len()).filter(|s| s.sealed_ns.is_none())
            && moves.len() + 1 < segs.len()
        {
            report.stopped_at = Some(format!(
                "segment {} is not sealed: tiering stops before it",
                format::segment_name(next.base_seq)
            ));
        }
        let mut moves = moves;
        if !moves.is_empty() && moves.len() == segs.len() {
            // Every local segment moves: first let a writer's open create the (empty)
            // active segment after the last one, so the directory never lacks a segment
            // to continue the sequence from, even after a crash mid-pass.
            let next = segs.last().map_or(0, |s| s.base_seq);
            if !crate::restore::continue_sequence(&self.dir, next)? {
                let last = moves.pop().expect("non-empty");
                report.stopped_at = Some(format!(
                    "segment {} is the last and a writer holds the log: it stays",
                    format::segment_name(last)
                ));
            }
        }
        for base in moves {
            self.move_segment(base, &mut report, on_event)?;
        }
        self.fill_totals(&mut report);
        Ok(report)
    }

    fn fill_totals(&self, r: &mut TierReport) {
        let s = &self.manifest.segments;
        r.cold_segments = s.len();
        r.cold_records = s.iter().map(|e| e.record_count).sum();
        r.cold_stored_bytes = s.iter().map(|e| e.object_bytes).sum();
        r.manifest_generation = self.manifest.generation;
    }

    fn remove_local(&self, base: u64) -> Result<()> {
        // The local log's chain now starts after this segment: record where.
        let seg = self.dir.join(format::segment_name(base));
        if seg.exists() {
            let b = storage_std::backend::FileBackend::existing(&self.dir)
                .map_err(|e| TierError::io("open", &self.dir, e))?;
            storage_std::record_chain_front(&b, base)
                .map_err(|e| TierError::io("write", self.dir.join(format::CHAIN_FRONT_FILE), e))?;
        }
        for name in [format::segment_name(base), format::index_name(base)] {
            let p = self.dir.join(name);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(TierError::io("remove", &p, e)),
            }
        }
        sync_dir(&self.dir)
    }

    /// Compresses segment `base` into a staging file while checking every record;
    /// returns the summary, the entry (without the object fields' final values) and the
    /// staging path.
    fn stage(&self, base: u64) -> Result<(ObjectSummary, ColdEntry, PathBuf)> {
        let path = self.dir.join(format::segment_name(base));
        let mut scan = scan_sealed(&path, base)?;
        let info = scan.info().clone();
        let staged = self.staging().join(format!("{base:020}.rlc.tmp"));
        let f = File::create(&staged).map_err(|e| TierError::io("create", &staged, e))?;
        let io = |e| TierError::io("write", &staged, e);
        let mut w = ObjectWriter::new(
            BufWriter::with_capacity(1 << 20, f),
            self.cfg.codec,
            self.cfg.frame_bytes,
            &info.header_bytes,
            &info.footer_bytes,
        )
        .map_err(io)?;
        while let Some(r) = scan.next_record()? {
            w.push_record(r.bytes, r.seq, r.timestamp_ns).map_err(io)?;
        }
        let segment_crc = scan.finish()?;
        let (sum, _) = w.finish(segment_crc, info.file_len).map_err(io)?;
        let f = &info.footer;
        let entry = ColdEntry {
            base_seq: base,
            last_seq: f.last_seq,
            record_count: f.record_count,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            max_ts: f.max_ts,
            created_ns: info.header.created_ns,
            sealed_ns: f.sealed_ns,
            tiered_ns: 0,
            segment_bytes: info.file_len,
            segment_crc32c: segment_crc,
            records_end: f.records_end,
            key: object_key(base),
            codec: self.cfg.codec.name().to_owned(),
            object_bytes: sum.object_len,
            object_crc32c: sum.object_crc,
            index_offset: sum.index_offset,
            index_len: sum.index_len,
            index_crc32c: sum.index_crc,
            frame_count: sum.frame_count,
            digest: (f.digest_kind != 0)
                .then(|| hex(&f.digest[format::segment::footer::DIGEST_LEN / 2..])),
        };
        Ok((sum, entry, staged))
    }

    fn move_segment(
        &mut self,
        base: u64,
        report: &mut TierReport,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<()> {
        let bytes = std::fs::metadata(self.dir.join(format::segment_name(base)))
            .map(|m| m.len())
            .unwrap_or(0);
        on_event(&TierEvent::SegmentStarted {
            base_seq: base,
            bytes,
        });
        if let Some(have) = self.manifest.entry(base) {
            // Already cold (a crash before the local delete, or a hydrated restore): the
            // local copy goes if it is the same segment, byte for byte.
            let path = self.dir.join(format::segment_name(base));
            let mut scan = scan_sealed(&path, base)?;
            while scan.next_record()?.is_some() {}
            let crc = scan.finish()?;
            if have.segment_crc32c != crc {
                return Err(TierError::Conflict(format!(
                    "segment {base} differs from its cold copy (checksum {crc:#010x} vs {:#010x})",
                    have.segment_crc32c
                )));
            }
            self.retrying(base, report, on_event, &mut |t, _| {
                t.sync_bucket().map_err(retryable)
            })?;
            self.remove_local(base)?;
            report.local_copies_removed.push(base);
            on_event(&TierEvent::LocalCopyRemoved { base_seq: base });
            return Ok(());
        }
        if let Some(next) = self.expected_next()
            && next != base
        {
            return Err(TierError::Conflict(format!(
                "the cold tier ends before sequence {next}, the next local segment starts \
                 at {base}: tiering it would leave a gap or an overlap"
            )));
        }
        let (sum, mut entry, staged) = self.stage(base)?;
        let multipart =
            self.store.supports_multipart() && sum.object_len > self.cfg.part_bytes as u64;
        let key = entry.key.clone();
        let attempts = self.retrying(base, report, on_event, &mut |t, ev| {
            let up = if multipart {
                t.upload_multipart(base, &key, &staged, &sum, ev)
            } else {
                t.upload_single(base, &key, &staged, &sum, ev)
            };
            // A read-back that does not match is retried too: the next attempt uploads
            // again.
            match up {
                Ok(()) => {
                    verify_uploaded(&t.store, &key, sum.object_len, sum.object_crc).map_err(|e| {
                        let again = e.is_retryable() || matches!(e, TierError::Corrupt { .. });
                        (e, again)
                    })
                }
                Err(e) => Err(retryable(e)),
            }
        })?;
        let _ = std::fs::remove_file(&staged);
        crash_point(self.crash, CrashPoint::AfterUpload);
        entry.tiered_ns = now_ns();
        self.manifest.segments.push(entry.clone());
        self.save_local()?;
        self.retrying(base, report, on_event, &mut |t, _| {
            t.sync_bucket().map_err(retryable)
        })?;
        crash_point(self.crash, CrashPoint::AfterManifest);
        self.remove_local(base)?;
        let moved = MovedSegment {
            base_seq: base,
            last_seq: entry.last_seq,
            records: entry.record_count,
            key: entry.key,
            bytes: entry.segment_bytes,
            stored_bytes: entry.object_bytes,
            attempts,
            multipart,
        };
        on_event(&TierEvent::Moved(moved.clone()));
        report.moved.push(moved);
        Ok(())
    }

    fn upload_single(
        &self,
        base: u64,
        key: &str,
        staged: &Path,
        sum: &ObjectSummary,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<()> {
        let data = std::fs::read(staged).map_err(|e| TierError::io("read", staged, e))?;
        self.store.put(key, Bytes::from(data))?;
        on_event(&TierEvent::Uploaded {
            base_seq: base,
            sent: sum.object_len,
            total: sum.object_len,
        });
        Ok(())
    }

    fn upload_multipart(
        &mut self,
        base: u64,
        key: &str,
        staged: &Path,
        sum: &ObjectSummary,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<()> {
        let id = self.store.create_multipart(key)?;
        // The id is durable before the first part: a crash from here on is undone by
        // the next run's abort.
        self.manifest.pending_uploads.push(PendingUpload {
            key: key.to_owned(),
            upload_id: id.clone(),
            started_ns: now_ns(),
        });
        self.save_local()?;
        let r = self.send_parts(base, key, &id, staged, sum, on_event);
        let finished = match r {
            Ok(()) => Ok(()),
            Err(e) => match self.store.abort_multipart(key, &id) {
                Ok(()) => Err(e),
                // Still recorded: the next GC aborts it.
                Err(_) => return Err(e),
            },
        };
        self.manifest.pending_uploads.retain(|p| p.upload_id != id);
        self.save_local()?;
        finished
    }

    fn send_parts(
        &self,
        base: u64,
        key: &str,
        id: &str,
        staged: &Path,
        sum: &ObjectSummary,
        on_event: &mut dyn FnMut(&TierEvent),
    ) -> Result<()> {
        let f = File::open(staged).map_err(|e| TierError::io("open", staged, e))?;
        let part = self.cfg.part_bytes.max(MIN_PART_BYTES) as u64;
        let mut parts = Vec::new();
        let mut off = 0u64;
        while off < sum.object_len {
            let n = part.min(sum.object_len - off);
            let mut buf = vec![0u8; n as usize];
            f.read_exact_at(&mut buf, off)
                .map_err(|e| TierError::io("read", staged, e))?;
            parts.push(
                self.store
                    .put_part(key, id, parts.len(), Bytes::from(buf))?,
            );
            off += n;
            on_event(&TierEvent::Uploaded {
                base_seq: base,
                sent: off,
                total: sum.object_len,
            });
            if parts.len() == 1 {
                crash_point(self.crash, CrashPoint::MidMultipart);
            }
        }
        self.store.complete_multipart(key, id, parts)
    }

    /// Deletes cold segments from the front while `policy` says so: the manifests are
    /// rewritten first (recording where the front now is), then the objects are
    /// deleted. A local copy of such a segment (after a restore) is left to the log's
    /// own retention.
    pub fn apply_cold_retention(&mut self, policy: &ColdRetention) -> Result<ColdRetentionReport> {
        let cold: Vec<ColdSeg> = self
            .manifest
            .segments
            .iter()
            .map(|e| ColdSeg {
                last_seq: e.last_seq,
                object_bytes: e.object_bytes,
                sealed_ns: e.sealed_ns,
            })
            .collect();
        let mut n = policy::select_cold_cut(&cold, policy, now_ns());
        let mut report = ColdRetentionReport::default();
        if let Some((name, next)) = self.unread_hold(&policy.keep_unread)? {
            let readable = cold.iter().take_while(|c| c.last_seq < next).count();
            if readable < n {
                n = readable;
                report.held_by = Some(name);
            }
        }
        if n > 0 {
            let gone: Vec<ColdEntry> = self.manifest.segments.drain(..n).collect();
            let first_seq = gone.last().map_or(0, |e| e.last_seq + 1);
            self.manifest.front_cut = Some(FrontCut {
                first_seq,
                digest: gone.last().and_then(|e| e.digest.clone()),
                cut_ns: now_ns(),
            });
            self.save()?;
            crash_point(self.crash, CrashPoint::AfterRetentionManifest);
            for e in &gone {
                self.store.delete(&e.key)?;
                report.deleted.push(e.base_seq);
                report.bytes_freed += e.object_bytes;
            }
        }
        report.first_seq = self
            .manifest
            .segments
            .first()
            .map(|e| e.base_seq)
            .or(self.expected_next());
        Ok(report)
    }

    /// The consumer (and its next sequence) that holds the oldest unread record among
    /// those `keep` names, from the log directory's committed offsets.
    fn unread_hold(&self, keep: &storage_std::KeepUnread) -> Result<Option<(String, u64)>> {
        use storage_std::KeepUnread;
        if *keep == KeepUnread::No {
            return Ok(None);
        }
        let backend = storage_std::backend::FileBackend::existing(&self.dir)
            .map_err(|e| TierError::io("open", &self.dir, e))?;
        let store = storage_std::OffsetStore::new(std::sync::Arc::new(backend));
        let err = |e: storage_std::Error| {
            TierError::io(
                "read offsets in",
                &self.dir,
                std::io::Error::other(e.to_string()),
            )
        };
        Ok(match keep {
            KeepUnread::No => None,
            KeepUnread::AllConsumers => store
                .list()
                .map_err(err)?
                .into_iter()
                .map(|o| (o.name, o.next_seq))
                .min_by_key(|o| o.1),
            KeepUnread::Consumers(names) => {
                let mut min: Option<(String, u64)> = None;
                for n in names {
                    let off = store.get(n).map_err(err)?.map_or(0, |o| o.next_seq);
                    if min.as_ref().is_none_or(|m| off < m.1) {
                        min = Some((n.clone(), off));
                    }
                }
                min
            }
            // A policy this build does not know: hold every segment (keeping too much is
            // safe; moving what a consumer still needs is not).
            _ => Some((format!("{keep:?}"), 0)),
        })
    }

    /// Runs [`Tierer::run_once`] every `interval` until `stop` is set (checked every
    /// 100 ms). A retryable error (the store unreachable) is handed to `on_error` and the
    /// next pass retries; a fatal one ends the loop.
    pub fn watch(
        &mut self,
        policy: &TierPolicy,
        interval: Duration,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(&TierEvent),
        on_pass: &mut dyn FnMut(std::result::Result<&TierReport, &TierError>),
    ) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            match self.run_once(policy, on_event) {
                Ok(r) => on_pass(Ok(&r)),
                Err(e) if e.is_retryable() => on_pass(Err(&e)),
                Err(e) => return Err(e),
            }
            let until = Instant::now() + interval;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100).min(interval));
            }
        }
        Ok(())
    }
}

/// An error with its sources, one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
