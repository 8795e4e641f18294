//! The recordings catalog: list, describe, create, extend, recover, truncate, purge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::backend::{Access, Backend, DirLock};
use crate::clock::now_ns;
use crate::error::Error;
use crate::reader::{LogReader, Start};
use crate::recovery::{RecoverOpts, RecoveryReport, repair};
use crate::writer::{RecordMeta, Writer, WriterOptions};

use super::ArchiveError;
use super::anchor::{
    Anchor, AnchorEntry, RejectedAnchor, latest_anchor, list_anchors, write_anchor,
};
use super::fs::{CatalogFs, RealFs};
use super::manifest::{MANIFEST_TEMP, Manifest, RecordingState, read_manifest};
use super::recorder::{Recorder, RecordingStatus};
use super::replay::LogReplay;
use super::save_manifest;

mod staging;

/// The log directory's name inside a recording's directory.
const LOG_DIR: &str = "log";
/// Where a truncation builds the shortened log before it swaps it in.
const TRUNCATING_DIR: &str = "log.truncating";
/// Prefix of a recording directory being purged.
const PURGING_PREFIX: &str = ".purging-";
/// The manifest's configuration key a truncation sets (to the last sequence kept)
/// before it swaps the shortened log in, and clears once the manifest says the cut:
/// a manifest that still has it after a crash knows why its log may end earlier.
pub const TRUNCATING_KEY: &str = "truncating_after";
/// The configuration key naming the last sequence a finished truncation kept.
const TRUNCATED_KEY: &str = "truncated_after";
/// The snapshot anchors' directory inside a recording's directory.
const ANCHORS_DIR: &str = "anchors";

/// What the catalog knows of one recording.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RecordingInfo {
    /// The recording's name.
    pub name: String,
    /// Its state as the manifest says (`None`: no manifest, or a damaged one).
    pub state: Option<RecordingState>,
    /// Whether a writer holds the log now.
    pub live: bool,
    /// The first sequence in the log.
    pub first_seq: Option<u64>,
    /// The last sequence in the log (as far as a reader sees it now).
    pub last_seq: Option<u64>,
    /// Timestamp of the first record (ns since the Unix epoch).
    pub first_ts: Option<u64>,
    /// Timestamp of the last record.
    pub last_ts: Option<u64>,
    /// Bytes of segment files.
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// The manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// What is wrong, when something is (a damaged manifest, an unreadable log).
    pub problem: Option<String>,
}

impl RecordingInfo {
    /// The state as one word: the manifest's, or `interrupted` for a `running` manifest
    /// without a live writer (a crash not yet recovered), or `unknown`.
    pub fn state_label(&self) -> &'static str {
        match self.state {
            Some(RecordingState::Running) if !self.live => "interrupted",
            Some(s) => s.as_str(),
            None => "unknown",
        }
    }
}

/// Several named recordings under one root directory (see the module docs).
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    fs: Arc<dyn CatalogFs>,
}

fn io(step: &'static str) -> impl Fn(std::io::Error) -> ArchiveError {
    move |error| ArchiveError::Io { step, error }
}

fn check_name(name: &str) -> Result<(), ArchiveError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ArchiveError::InvalidName(name.to_owned()))
    }
}

impl Catalog {
    /// Opens (creating it if needed) the catalog at `root`, finishing what a crash cut
    /// short: a purge (the recording's directory was already renamed away), a creation
    /// that had not renamed its recording into place and a truncation that had not
    /// swapped its shortened log in (both are dropped).
    pub fn open(root: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        Self::open_on(root, Arc::new(RealFs))
    }

    /// [`Catalog::open`] on another file system than the real one (the crash tests'
    /// simulated disk).
    pub fn open_on(root: impl AsRef<Path>, fs: Arc<dyn CatalogFs>) -> Result<Self, ArchiveError> {
        let root = root.as_ref().to_path_buf();
        fs.create_root(&root).map_err(io("create catalog root"))?;
        let catalog = Catalog { root, fs };
        let fs = &catalog.fs;
        let mut unfinished = Vec::new();
        for name in fs.list_dirs(&catalog.root).map_err(io("list catalog"))? {
            let path = catalog.root.join(&name);
            if name.starts_with(PURGING_PREFIX) {
                // Another catalog (a purge, a sweep) may be removing it too.
                remove_gone(&**fs, &path).map_err(io("finish purge"))?;
            } else if name.starts_with(staging::CREATING_PREFIX) {
                unfinished.push(name);
            } else if fs.is_dir(&path.join(TRUNCATING_DIR)) {
                // Removed only under the log's lock: a truncation that starts meanwhile
                // builds its copy there, and once its swap is done the name holds the
                // old log while a removal begun earlier would empty the new one.
                let log = fs.open_dir(&path.join(LOG_DIR)).and_then(|b| b.lock());
                match log {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    held => {
                        remove_gone(&**fs, &path.join(TRUNCATING_DIR))
                            .map_err(io("drop unfinished truncation"))?;
                        drop(held);
                    }
                }
            }
        }
        catalog.sweep_staging(&unfinished)?;
        Ok(catalog)
    }

    fn sync_dir(&self, path: &Path) -> Result<(), ArchiveError> {
        self.fs.sync_dir(path).map_err(io("sync directory"))
    }

    /// The catalog's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_of(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Takes the writer lock of a recording's log (if it has one) for a catalog
    /// operation that must not run next to a recorder: [`ArchiveError::Live`] if one
    /// holds it.
    fn hold_log(&self, name: &str, dir: &Path) -> Result<Option<DirLock>, ArchiveError> {
        let log = dir.join(LOG_DIR);
        if !self.fs.is_dir(&log) {
            return Ok(None);
        }
        let backend = self.fs.open_dir(&log).map_err(io("open log"))?;
        match backend.lock() {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                Err(ArchiveError::Live(name.to_owned()))
            }
            Err(e) => Err(io("lock log")(e)),
        }
    }

    fn existing(&self, name: &str) -> Result<(PathBuf, Arc<dyn Backend>), ArchiveError> {
        let dir = self.dir_of(name)?;
        if !self.fs.is_dir(&dir) {
            return Err(ArchiveError::NotFound(name.to_owned()));
        }
        let b = self
            .fs
            .open_dir(&dir)
            .map_err(|e| self.vanished(name, io("open recording")(e)))?;
        Ok((dir, b))
    }

    /// The path of a recording's log directory (for `storage_std` tools).
    pub fn log_dir(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        Ok(self.dir_of(name)?.join(LOG_DIR))
    }

    /// Every recording, sorted by name. A recording whose manifest is damaged is listed
    /// with its [`RecordingInfo::problem`], not left out.
    pub fn list(&self) -> Result<Vec<RecordingInfo>, ArchiveError> {
        let mut names = self.fs.list_dirs(&self.root).map_err(io("list catalog"))?;
        names.retain(|n| check_name(n).is_ok());
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for n in &names {
            match self.info(n) {
                Ok(info) => out.push(info),
                // Purged since the listing.
                Err(ArchiveError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// One recording: manifest state, positions, times and size, also while it is
    /// written. A damaged manifest is an error ([`ArchiveError::DamagedManifest`]).
    pub fn describe(&self, name: &str) -> Result<RecordingInfo, ArchiveError> {
        let info = self.info(name)?;
        let (_, dir) = self.existing(name)?;
        read_manifest(&*dir, name).map_err(|e| self.vanished(name, e))?;
        Ok(info)
    }

    /// `e`, or [`ArchiveError::NotFound`] when the recording is gone (a purge ran in
    /// between): a file system error of a directory that is no longer there is no
    /// damage.
    fn vanished(&self, name: &str, e: ArchiveError) -> ArchiveError {
        match &e {
            ArchiveError::Io { .. } if !self.fs.is_dir(&self.root.join(name)) => {
                ArchiveError::NotFound(name.to_owned())
            }
            _ => e,
        }
    }

    fn info(&self, name: &str) -> Result<RecordingInfo, ArchiveError> {
        self.info_of(name).map_err(|e| self.vanished(name, e))
    }

    fn info_of(&self, name: &str) -> Result<RecordingInfo, ArchiveError> {
        let (dir, backend) = self.existing(name)?;
        let mut info = RecordingInfo {
            name: name.to_owned(),
            state: None,
            live: false,
            first_seq: None,
            last_seq: None,
            first_ts: None,
            last_ts: None,
            bytes: 0,
            segments: 0,
            manifest: None,
            problem: None,
        };
        match read_manifest(&*backend, name) {
            Ok(Some(m)) => {
                info.state = Some(m.state);
                info.manifest = Some(m);
            }
            Ok(None) if backend.open(MANIFEST_TEMP, Access::Read).is_ok() => {
                info.problem = Some(format!(
                    "no manifest (its first write was cut short: {MANIFEST_TEMP} is left; \
                     purge the recording)"
                ))
            }
            Ok(None) => info.problem = Some("no manifest".to_owned()),
            Err(e) => info.problem = Some(e.to_string()),
        }
        let log = dir.join(LOG_DIR);
        if !self.fs.is_dir(&log) {
            info.problem
                .get_or_insert_with(|| "no log directory".to_owned());
            return Ok(info);
        }
        let log_backend = self.fs.open_dir(&log).map_err(io("open log"))?;
        info.live = log_backend.lock_held().unwrap_or(false);
        match LogReader::new(log_backend).segments() {
            Ok(segs) => {
                info.segments = segs.len();
                info.bytes = segs.iter().map(|s| s.bytes).sum();
                for s in segs.iter().filter(|s| s.record_count > 0) {
                    if info.first_seq.is_none() {
                        info.first_seq = Some(s.base_seq);
                        info.first_ts = Some(s.first_ts);
                    }
                    if s.last_seq.is_some() {
                        info.last_seq = s.last_seq;
                        info.last_ts = Some(s.last_ts);
                    }
                }
            }
            Err(e) => {
                info.problem.get_or_insert_with(|| format!("log: {e}"));
            }
        }
        Ok(info)
    }

    fn manifest_of(&self, name: &str, dir: &dyn Backend) -> Result<Manifest, ArchiveError> {
        read_manifest(dir, name)?.ok_or_else(|| ArchiveError::DamagedManifest {
            recording: name.to_owned(),
            detail: "no manifest".to_owned(),
        })
    }

    /// Creates a recording and starts recording it. `config` goes into the manifest next
    /// to the writer's own settings. The recording's directory is built under a hidden
    /// name (manifest, log directory) and renamed into place: after a crash the catalog
    /// has the recording whole (an interrupted run, which [`Catalog::extend`] continues)
    /// or not at all (the name is free). A create whose writer refuses to open (invalid
    /// options) removes the recording it made again.
    pub fn create(
        &self,
        name: &str,
        opts: WriterOptions,
        config: BTreeMap<String, String>,
    ) -> Result<Recorder, ArchiveError> {
        let dir = self.dir_of(name)?;
        if self.fs.is_dir(&dir) {
            return Err(ArchiveError::Exists(name.to_owned()));
        }
        // Built under another name and renamed into place whole: a crash leaves either
        // no recording (the next `open` drops the staging directory) or one with its
        // manifest and log, never a directory a retry must purge first.
        let mut manifest = Manifest::new(name, with_settings(config, &opts), now_ns());
        manifest.first_seq = None;
        let mut attempts = 0;
        let staged_lock = loop {
            attempts += 1;
            match self.stage(name, &dir, &manifest) {
                Ok(lock) => break lock,
                // An `open` in another process claimed the staging directory before this
                // creation held its lock (only on a file system without directory locks,
                // or after a sweep held the root's too long: see `staging`): start again.
                Err(ArchiveError::Io { error, .. })
                    if attempts < 16 && error.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        };
        self.sync_dir(&self.root)?;
        let backend = self.fs.open_dir(&dir).map_err(io("open recording"))?;
        let first = opts.first_seq;
        let anchors = self.anchors_of(&dir)?;
        drop(staged_lock);
        let writer = match self.open_writer(&dir.join(LOG_DIR), opts) {
            Ok(w) => w,
            Err(Error::Locked(_)) => return Err(ArchiveError::Live(name.to_owned())),
            Err(e) => {
                // Refused (options the log does not take, most likely): the recording
                // this call made goes again, or a retry with good options would find
                // the name taken.
                self.undo_create(name, &dir, &manifest);
                return Err(e.into());
            }
        };
        Ok(Recorder::new(writer, backend, anchors, manifest, first))
    }

    /// Removes the recording a [`Catalog::create`] just made when its writer could not
    /// open, if it is still exactly that: nobody holds its log and its manifest is the
    /// one the create wrote (an extend in between would have changed it). Best effort:
    /// what is left is an empty interrupted recording.
    fn undo_create(&self, name: &str, dir: &Path, made: &Manifest) {
        let Ok(Some(_held)) = self.hold_log(name, dir) else {
            return;
        };
        let untouched = self
            .fs
            .open_dir(dir)
            .ok()
            .and_then(|b| read_manifest(&*b, name).ok().flatten())
            .is_some_and(|m| m == *made);
        if untouched {
            let _ = self.remove_held(name, dir);
        }
    }

    /// Recovers a stopped recording's log (see `storage_std::recover`) and records the
    /// outcome in its manifest: `Sealed` stays `Sealed` when nothing was found, an
    /// interrupted run or a repair becomes `CrashedRecovered`, corruption refused without
    /// `force` becomes `Damaged`, ranges taken out with `force` make it `Repaired`.
    pub fn recover(&self, name: &str, force: bool) -> Result<Manifest, ArchiveError> {
        let (dir, backend) = self.existing(name)?;
        // Held through the manifest write: a recorder opened between the repair and the
        // write would otherwise find its `Running` manifest replaced by this outcome.
        let _held = self.hold_log(name, &dir)?;
        let mut manifest = self.manifest_of(name, &*backend)?;
        check_intent(name, &manifest)?;
        let log = self
            .fs
            .open_dir(&dir.join(LOG_DIR))
            .map_err(io("open log"))?;
        let clean = match manifest.state {
            // A run that never sealed ended in a crash, even if nothing needed a repair.
            RecordingState::Running | RecordingState::Damaged => RecordingState::CrashedRecovered,
            other => other,
        };
        match repair_held(&*log, force) {
            Ok(report) => {
                manifest.apply_recovery(&report, clean);
                if manifest.state != RecordingState::Sealed && manifest.ended_ns.is_none() {
                    manifest.ended_ns = Some(now_ns());
                }
                manifest.last_seq = report.next_seq.checked_sub(1);
                settle_truncation(&mut manifest);
            }
            Err(e @ Error::NeedsForce { .. }) | Err(e @ Error::Corrupt { .. }) => {
                return Err(mark_damaged(name, &*backend, manifest, &e));
            }
            Err(e) => return Err(e.into()),
        }
        save_manifest(&*backend, &manifest)?;
        Ok(manifest)
    }

    /// Continues a stopped recording: recovers its log first (an interrupted run is
    /// recorded as `CrashedRecovered`; a `Damaged` one is refused), then starts a new run
    /// appending after its last record. A truncation a crash cut short is refused
    /// ([`ArchiveError::PendingTruncation`]): recover the recording first.
    pub fn extend(
        &self,
        name: &str,
        opts: WriterOptions,
        config: BTreeMap<String, String>,
    ) -> Result<Recorder, ArchiveError> {
        let (dir, backend) = self.existing(name)?;
        let config = with_settings(config, &opts);
        let first_seq = opts.first_seq;
        // A deep recovery first (the writer's open checks only the tail): it refuses
        // damage anywhere in the log, and its report goes into this run's manifest unless
        // another run came in between.
        let (before, deep) = {
            let _held = self.hold_log(name, &dir)?;
            let before = self.manifest_of(name, &*backend)?;
            refuse_pending(name, &before)?;
            let log = self
                .fs
                .open_dir(&dir.join(LOG_DIR))
                .map_err(io("open log"))?;
            match repair_held(&*log, false) {
                Ok(report) => (before, report),
                Err(e @ Error::NeedsForce { .. }) | Err(e @ Error::Corrupt { .. }) => {
                    return Err(mark_damaged(name, &*backend, before, &e));
                }
                Err(e) => return Err(e.into()),
            }
        };
        // The writer's open takes the log's lock again before it recovers the tail, and
        // the manifest is read and written only under that lock: a second extender (or a
        // recovery) cannot interleave its own manifest with this run's.
        let writer = match self.open_writer(&dir.join(LOG_DIR), opts) {
            Ok(w) => w,
            Err(Error::Locked(_)) => return Err(ArchiveError::Live(name.to_owned())),
            Err(e @ Error::NeedsForce { .. }) | Err(e @ Error::Corrupt { .. }) => {
                let _held = self.hold_log(name, &dir)?;
                let manifest = self.manifest_of(name, &*backend)?;
                return Err(mark_damaged(name, &*backend, manifest, &e));
            }
            Err(e) => return Err(e.into()),
        };
        let mut manifest = self.manifest_of(name, &*backend)?;
        // A truncation that ran (and was cut) between the check above and this lock.
        refuse_pending(name, &manifest)?;
        let clean = match manifest.state {
            // A run that never sealed ended in a crash, even if nothing needed a repair.
            RecordingState::Running | RecordingState::Damaged => RecordingState::CrashedRecovered,
            other => other,
        };
        if manifest.runs == before.runs && manifest.started_ns == before.started_ns {
            manifest.apply_recovery(&deep, clean);
            let clean = manifest.state;
            manifest.apply_recovery(writer.recovery(), clean);
        } else {
            manifest.apply_recovery(writer.recovery(), clean);
        }
        let next = writer.next_seq();
        if next > first_seq || manifest.last_seq.is_some() {
            manifest.last_seq = next.checked_sub(1);
        }
        let now = now_ns();
        manifest.state = RecordingState::Running;
        // Saturating: a damaged (or very long-lived) manifest at the limit is no panic.
        manifest.runs = manifest.runs.saturating_add(1);
        manifest.started_ns = now;
        manifest.ended_ns = None;
        manifest.config = config;
        manifest.writer_version = env!("CARGO_PKG_VERSION").to_owned();
        save_manifest(&*backend, &manifest)?;
        let anchors = self.anchors_of(&dir)?;
        Ok(Recorder::new(writer, backend, anchors, manifest, next))
    }

    /// A replay of a recording from sequence `from`. Pass the recorder's status when it is
    /// being recorded in this process to [`Catalog::replay_live`] instead (the replay is
    /// then complete only once it stops); this one takes the log as complete.
    pub fn replay(&self, name: &str, from: u64) -> Result<LogReplay, ArchiveError> {
        self.replay_live(name, from, None)
    }

    /// A replay of a recording from the first record at or after `timestamp_ns`
    /// ([`LogReplay::position`] names its sequence).
    pub fn replay_at_time(
        &self,
        name: &str,
        timestamp_ns: u64,
        status: Option<Arc<RecordingStatus>>,
    ) -> Result<LogReplay, ArchiveError> {
        let (dir, _) = self.existing(name)?;
        let reader = self.reader(&dir.join(LOG_DIR))?;
        Ok(LogReplay::at_time(reader, timestamp_ns, status)?)
    }

    /// [`Catalog::replay`] with a running recorder's status.
    pub fn replay_live(
        &self,
        name: &str,
        from: u64,
        status: Option<Arc<RecordingStatus>>,
    ) -> Result<LogReplay, ArchiveError> {
        let (dir, _) = self.existing(name)?;
        let reader = self.reader(&dir.join(LOG_DIR))?;
        Ok(LogReplay::new(reader, from, status)?)
    }

    /// Cuts a stopped recording after sequence `last_kept` (everything later is
    /// removed). The log is copied up to `last_kept` into a new log directory (whole
    /// records, with their sequences and timestamps), which is then swapped in with one
    /// atomic exchange of directory names; a crash before the exchange leaves the
    /// recording as it was (the copy is dropped on the next [`Catalog::open`]), a crash
    /// after it leaves the cut one, its manifest still naming the old end and the cut
    /// under way ([`TRUNCATING_KEY`]): a retry, or [`Catalog::recover`], settles it.
    /// Refused for a live, `Damaged` or `Repaired` recording
    /// (a repaired log has lost ranges a copy cannot reproduce).
    pub fn truncate(&self, name: &str, last_kept: u64) -> Result<Manifest, ArchiveError> {
        let (dir, backend) = self.existing(name)?;
        // Held until the shortened log is in place and the manifest says so: a recorder
        // opened meanwhile would append to the log about to be swapped away (its durable
        // records lost) and its manifest would be overwritten.
        let _held = self.hold_log(name, &dir)?;
        let mut manifest = self.manifest_of(name, &*backend)?;
        check_intent(name, &manifest)?;
        // `info.live` is this truncation's own lock now: the lock above was the check.
        let info = self.info(name)?;
        if matches!(
            manifest.state,
            RecordingState::Damaged | RecordingState::Repaired | RecordingState::Running
        ) {
            return Err(ArchiveError::State {
                recording: name.to_owned(),
                state: manifest.state.as_str(),
                detail: "truncate needs a sealed or recovered recording without lost ranges"
                    .to_owned(),
            });
        }
        if info.first_seq.is_none() || info.last_seq.is_none_or(|l| l <= last_kept) {
            // Nothing to cut; but a truncation a crash stopped after its swap left the
            // manifest saying the old end: it says the cut now.
            if manifest.config.contains_key(TRUNCATING_KEY) {
                manifest.last_seq = info.last_seq;
                settle_truncation(&mut manifest);
                save_manifest(&*backend, &manifest)?;
            }
            return Ok(manifest);
        }
        let first = info.first_seq.unwrap_or(0);
        // Anchors past the cut first: they reflect records about to go, and would look
        // valid again once an extend reaches their sequence. A crash after this step
        // only leaves fewer anchors (a replay from an earlier one).
        let anchors = self.anchors_of(&dir)?;
        for file in anchors.list().map_err(io("list anchors"))? {
            let seq = file
                .strip_suffix(".anchor")
                .and_then(|s| s.parse::<u64>().ok());
            if seq.is_some_and(|s| s > last_kept) {
                anchors.remove(&file).map_err(io("remove anchor"))?;
            }
        }
        anchors.sync_dir().map_err(io("sync anchors"))?;
        // The intent, before the log can change: after a crash past the swap, the
        // manifest's older end is explained (a retry or a recovery settles it), not taken
        // for lost records. The end beside it is the log's (held, so it is current): a
        // retry checks the intent against it.
        manifest.last_seq = info.last_seq;
        manifest
            .config
            .insert(TRUNCATING_KEY.to_owned(), last_kept.to_string());
        save_manifest(&*backend, &manifest)?;
        let tmp = dir.join(TRUNCATING_DIR);
        if self.fs.is_dir(&tmp) {
            self.fs
                .remove_dir_all(&tmp)
                .map_err(io("drop old truncation"))?;
        }
        // Group durability: the copy is written once and synced before the swap, whatever
        // mode the recording was made with.
        let mut opts = WriterOptions::new(crate::writer::Durability::group());
        opts.first_seq = first;
        let copy: Writer = self.open_writer(&tmp, opts)?;
        let reader = self.reader(&dir.join(LOG_DIR))?;
        let mut cursor = reader.cursor(Start::Seq(first))?;
        cursor.set_end(Some(last_kept));
        let mut last = None;
        while let Some(r) = cursor.next()? {
            let meta = RecordMeta {
                kind: r.header.kind,
                flags: r.header.flags,
                timestamp_ns: Some(r.header.timestamp_ns),
            };
            let seq = copy.append_with(r.payload, meta)?;
            if seq != r.header.seq {
                return Err(ArchiveError::SeqMismatch {
                    expected: seq,
                    found: r.header.seq,
                });
            }
            last = Some(seq);
        }
        // The sealed manifest's final digest names the old end: the verifier would take
        // the cut for lost records. The copy's chain (over the same records from the
        // same first sequence) gives the new end's.
        let synced = copy.sync()?;
        let digest = copy
            .stats()
            .chain
            .filter(|c| Some(c.0) == synced && synced == last)
            .map(|c| crate::format::chain::to_hex(&c.1));
        copy.close()?;
        // The shortened log's lock, taken before the swap puts it in place.
        let _held_new = self
            .fs
            .open_dir(&tmp)
            .and_then(|b| b.lock())
            .map_err(io("lock truncated log"))?;
        self.sync_dir(&dir)?;
        self.fs
            .exchange_dirs(&tmp, &dir.join(LOG_DIR))
            .map_err(io("swap truncated log"))?;
        self.sync_dir(&dir)?;
        self.fs.remove_dir_all(&tmp).map_err(io("remove old log"))?;
        manifest.last_seq = last;
        manifest.final_digest = digest;
        manifest.config.remove(TRUNCATING_KEY);
        manifest
            .config
            .insert(TRUNCATED_KEY.to_owned(), last_kept.to_string());
        save_manifest(&*backend, &manifest)?;
        Ok(manifest)
    }

    /// Removes a stopped recording entirely. Its directory is first renamed away (one
    /// atomic step: from then on the recording is gone), then deleted; a crash in
    /// between is finished by the next [`Catalog::open`].
    pub fn purge(&self, name: &str) -> Result<(), ArchiveError> {
        let (dir, _) = self.existing(name)?;
        // Held through the rename: a recorder cannot open the log in between.
        let _held = self.hold_log(name, &dir)?;
        self.remove_held(name, &dir)
    }

    /// Removes the recording `name` at `dir`, whose log's lock the caller holds.
    fn remove_held(&self, name: &str, dir: &Path) -> Result<(), ArchiveError> {
        let gone = self.root.join(format!("{PURGING_PREFIX}{name}"));
        // A purge of an earlier recording of this name that a crash cut short (a
        // concurrent `open` may be finishing it too).
        remove_gone(&*self.fs, &gone).map_err(io("finish earlier purge"))?;
        self.fs
            .rename_dir(dir, &gone)
            .map_err(io("rename recording for purge"))?;
        self.sync_dir(&self.root)?;
        // A concurrent `open` finishes purges it finds: gone already is done.
        remove_gone(&*self.fs, &gone).map_err(io("remove recording"))
    }
}

impl Catalog {
    /// One past the last sequence of a stopped recording's log (all of it durable).
    fn stopped_durable_end(&self, name: &str) -> Result<u64, ArchiveError> {
        let info = self.info(name)?;
        if info.live || info.state == Some(RecordingState::Running) {
            return Err(ArchiveError::State {
                recording: name.to_owned(),
                state: if info.live { "running" } else { "interrupted" },
                detail: "store anchors of a running recording through its Recorder; \
                         recover an interrupted one first"
                    .to_owned(),
            });
        }
        Ok(info.last_seq.map_or(0, |s| s + 1))
    }

    /// Stores a snapshot anchor for a stopped recording: `snapshot` reflects it up to
    /// `seq`, which must be in the log ([`ArchiveError::AnchorAhead`] otherwise).
    pub fn store_anchor(
        &self,
        name: &str,
        seq: u64,
        snapshot: &[u8],
    ) -> Result<Anchor, ArchiveError> {
        let durable_end = self.stopped_durable_end(name)?;
        if seq >= durable_end {
            return Err(ArchiveError::AnchorAhead { seq, durable_end });
        }
        let (dir, _) = self.existing(name)?;
        let anchor = Anchor {
            seq,
            created_ns: now_ns(),
            snapshot: snapshot.to_vec(),
        };
        write_anchor(&*self.anchors_of(&dir)?, &anchor)?;
        Ok(anchor)
    }

    /// Every anchor file of a recording, each checked: damaged ones and those past the
    /// log's end carry their problem.
    pub fn anchors(&self, name: &str) -> Result<Vec<AnchorEntry>, ArchiveError> {
        let info = self.info(name)?;
        let (dir, _) = self.existing(name)?;
        let durable_end = info.last_seq.map_or(0, |s| s + 1);
        list_anchors(&*self.anchors_of(&dir)?, durable_end)
    }

    /// The latest valid anchor of a recording (its checks pass and the log still holds
    /// the sequence it reflects), with every newer anchor skipped and why, and a replay
    /// from the record after it (from the start without an anchor).
    pub fn resume_from_anchor(
        &self,
        name: &str,
    ) -> Result<(Option<Anchor>, Vec<RejectedAnchor>, LogReplay), ArchiveError> {
        let info = self.info(name)?;
        let (dir, _) = self.existing(name)?;
        let durable_end = info.last_seq.map_or(0, |s| s + 1);
        let (anchor, rejected) = latest_anchor(&*self.anchors_of(&dir)?, durable_end)?;
        let from = anchor
            .as_ref()
            .map_or(info.first_seq.unwrap_or(0), |a| a.seq + 1);
        let replay = self.replay(name, from)?;
        Ok((anchor, rejected, replay))
    }
}

/// Recovers `log` (see `storage_std::recover`) whose lock the caller holds.
fn repair_held(log: &dyn Backend, force: bool) -> Result<RecoveryReport, Error> {
    repair(
        log,
        &RecoverOpts {
            force,
            deep: true,
            first_seq: 0,
            index_interval: 64 << 10,
            window: 0,
            preallocate: None,
        },
    )
}

/// `remove_dir_all`, done when `path` is gone already (another catalog removed it).
fn remove_gone(fs: &dyn CatalogFs, path: &Path) -> std::io::Result<()> {
    match fs.remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Refuses a manifest whose truncation intent no truncation could have written: one
/// is written only with a last kept sequence below the manifest's end (a retry or a
/// recovery settling a value that is not would record a cut that never happened).
fn check_intent(name: &str, manifest: &Manifest) -> Result<(), ArchiveError> {
    let Some(kept) = manifest.config.get(TRUNCATING_KEY) else {
        return Ok(());
    };
    let valid = match (kept.parse::<u64>(), manifest.last_seq) {
        (Ok(k), Some(end)) => k < end,
        (Ok(_), None) => true,
        (Err(_), _) => false,
    };
    if valid {
        return Ok(());
    }
    Err(ArchiveError::DamagedManifest {
        recording: name.to_owned(),
        detail: format!(
            "{TRUNCATING_KEY} is {kept:?}, which no truncation of a recording ending at {} \
             writes (a sequence below that end); the records are untouched: remove the key \
             or restore the manifest",
            manifest
                .last_seq
                .map_or_else(|| "(none)".to_owned(), |l| l.to_string())
        ),
    })
}

/// [`ArchiveError::PendingTruncation`] for a manifest with a truncation intent that
/// [`Catalog::recover`] would settle. One that no truncation wrote ([`check_intent`]
/// refuses it) is left to the new run's configuration to replace: recovery cannot
/// settle it, and an extend is how a run goes on past it.
fn refuse_pending(name: &str, manifest: &Manifest) -> Result<(), ArchiveError> {
    let kept = manifest.config.get(TRUNCATING_KEY);
    match kept.and_then(|k| k.parse::<u64>().ok()) {
        Some(kept) if check_intent(name, manifest).is_ok() => {
            Err(ArchiveError::PendingTruncation {
                recording: name.to_owned(),
                kept,
            })
        }
        _ => Ok(()),
    }
}

/// Settles the intent of a truncation a crash stopped (`manifest.last_seq` is the log's
/// end already): done if the log ends at or before the sequence it kept, abandoned (the
/// swap never happened) otherwise.
fn settle_truncation(manifest: &mut Manifest) {
    let Some(kept) = manifest.config.remove(TRUNCATING_KEY) else {
        return;
    };
    let done = match (kept.parse::<u64>(), manifest.last_seq) {
        (Ok(k), Some(l)) => l <= k,
        (Ok(_), None) => true,
        (Err(_), _) => false,
    };
    if done {
        // The digest named the end before the cut; the cut end's is not known here.
        manifest.final_digest = None;
        manifest.config.insert(TRUNCATED_KEY.to_owned(), kept);
    }
}

/// Records in the manifest that recovery refused the log's damage, and the error to
/// return for it.
fn mark_damaged(name: &str, dir: &dyn Backend, mut manifest: Manifest, e: &Error) -> ArchiveError {
    manifest.state = RecordingState::Damaged;
    manifest.damage = Some(e.to_string());
    if let Err(w) = save_manifest(dir, &manifest) {
        return w;
    }
    ArchiveError::State {
        recording: name.to_owned(),
        state: RecordingState::Damaged.as_str(),
        detail: e.to_string(),
    }
}

impl Catalog {
    fn anchors_of(&self, dir: &Path) -> Result<Arc<dyn Backend>, ArchiveError> {
        self.fs
            .create_backend(&dir.join(ANCHORS_DIR))
            .map_err(io("open anchors"))
    }

    /// `Writer::open` on the catalog's file system.
    fn open_writer(&self, log: &Path, opts: WriterOptions) -> Result<Writer, Error> {
        let backend = self
            .fs
            .create_backend(log)
            .map_err(|e| Error::io("create_dir", log.display().to_string(), e))?;
        Writer::open_with(backend, opts)
    }

    /// `LogReader::open` on the catalog's file system.
    fn reader(&self, log: &Path) -> Result<LogReader, Error> {
        let backend = self
            .fs
            .open_dir(log)
            .map_err(|e| Error::io("open", log.display().to_string(), e))?;
        Ok(LogReader::new(backend))
    }
}

/// `config` plus the writer settings worth knowing later.
fn with_settings(
    mut config: BTreeMap<String, String>,
    opts: &WriterOptions,
) -> BTreeMap<String, String> {
    config.insert("durability".to_owned(), format!("{:?}", opts.durability));
    config.insert("segment_bytes".to_owned(), opts.segment_bytes.to_string());
    config
}
