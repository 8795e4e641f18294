//! Restore from the bucket alone: a new directory gets the bucket's manifest (the source
//! of truth for cold segments), so its cold segments are readable through
//! [`crate::ColdReader`]; with `hydrate`, every cold segment is also downloaded,
//! checked and written back as a local segment file, byte for byte what was tiered.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use storage_std::{Durability, Writer, WriterOptions, format};

use crate::error::{Result, TierError};
use crate::manifest::{sync_dir, write_atomic};
use crate::reader::{CacheOptions, ColdReader};
use crate::store::StoreConfig;
use crate::tierer::{LOCAL_MANIFEST, ensure_tier_dir, lock_tier_dir, read_bucket_manifest};

/// How to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Also download every cold segment back into a local `.seg` file.
    pub hydrate: bool,
}

impl RestoreOptions {
    /// Restore the manifest only (cold segments are read on demand).
    pub fn manifest_only() -> Self {
        Self::default()
    }

    /// Restore and download every segment.
    pub fn hydrate() -> Self {
        Self { hydrate: true }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The log's id.
    pub log_id: String,
    /// Cold segments.
    pub segments: usize,
    /// Records in them.
    pub records: u64,
    /// First cold sequence.
    pub first_seq: Option<u64>,
    /// Last cold sequence.
    pub last_seq: Option<u64>,
    /// Segments written back as local files.
    pub hydrated: Vec<u64>,
    /// The manifest generation restored.
    pub manifest_generation: u64,
}

/// Restores the log whose cold tier is in `store` into `dir`, which must not exist or
/// be empty. Every byte is checked before it is written; a damaged object fails the
/// restore (nothing damaged is ever written as a segment).
pub fn restore(
    store: &StoreConfig,
    dir: impl AsRef<Path>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let dir = dir.as_ref();
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(TierError::Config(format!(
                    "{}: restore needs a new or empty directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| TierError::io("create", dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        Err(e) => return Err(TierError::io("list", dir, e)),
    }
    let tier_dir = ensure_tier_dir(dir)?;
    let _lock = lock_tier_dir(&tier_dir)?;
    let s = store.open()?;
    let m = read_bucket_manifest(&s)?
        .ok_or_else(|| TierError::NotFound(format!("no tier manifest in {}", s.url())))?;
    drop(s);
    write_atomic(&tier_dir, LOCAL_MANIFEST, &m.encode())?;
    let mut report = RestoreReport {
        log_id: m.log_id.clone(),
        segments: m.segments.len(),
        records: m.segments.iter().map(|e| e.record_count).sum(),
        first_seq: m.segments.first().map(|e| e.base_seq),
        last_seq: m.segments.last().map(|e| e.last_seq),
        hydrated: Vec::new(),
        manifest_generation: m.generation,
    };
    if opts.hydrate {
        let reader = ColdReader::open(dir, store, Some(CacheOptions::none()))?;
        for e in &m.segments {
            let bytes = reader.fetch_segment(e.base_seq)?;
            let name = format::segment_name(e.base_seq);
            let tmp = dir.join(format!("{name}{}", format::TMP_SUFFIX));
            let mut f = File::create(&tmp).map_err(|err| TierError::io("create", &tmp, err))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|err| TierError::io("write", &tmp, err))?;
            std::fs::rename(&tmp, dir.join(&name))
                .map_err(|err| TierError::io("rename", &tmp, err))?;
            report.hydrated.push(e.base_seq);
        }
        sync_dir(dir)?;
        // The chain of a log whose front cold retention cut starts at the cut: record
        // it as the log's own retention would have.
        if let (Some(cut), Some(first)) = (&m.front_cut, m.segments.first())
            && cut.first_seq == first.base_seq
            && let Some(digest) = cut
                .digest
                .as_deref()
                .and_then(|h| format::chain::parse_hex(h).ok())
        {
            let b = storage_std::backend::FileBackend::existing(dir)
                .map_err(|e| TierError::io("open", dir, e))?;
            let front = format::chain::ChainFront {
                seq: cut.first_seq,
                digest,
            };
            storage_std::write_chain_front(&b, front)
                .map_err(|e| TierError::io("write", dir.join(format::CHAIN_FRONT_FILE), e))?;
        }
        // Indexes are derived files the bucket does not hold: rebuild them, so that the
        // hydrated log verifies clean rather than repairable.
        if !m.segments.is_empty() {
            storage_std::recover(dir, false).map_err(|e| TierError::Corrupt {
                what: dir.display().to_string(),
                detail: format!("the hydrated log does not recover: {e}"),
            })?;
        }
    }
    if let Some(next) = m.next_seq().or(m.front_cut.as_ref().map(|c| c.first_seq)) {
        continue_sequence(dir, next)?;
    }
    Ok(report)
}

/// Makes sure a writer opened on `dir` later continues the log's sequence rather than
/// starting again at its first one: opens and closes a writer there, which creates the
/// active segment the next writer continues from: after the last local segment if
/// there is one (sealed: the next sequence after it), else at `next_seq` (the one after
/// the cold tier's last). An empty active segment is a state recovery already knows (a
/// writer that rolled and stopped), so no new marker format is needed. Returns `false`
/// when a writer holds the log (it keeps its own active segment going).
pub fn continue_sequence(dir: &Path, next_seq: u64) -> Result<bool> {
    let mut opts = WriterOptions::new(Durability::Sync);
    opts = opts.with_first_seq(next_seq);
    let log_err = |e: storage_std::Error| match e {
        storage_std::Error::Locked(what) => TierError::Locked(what),
        storage_std::Error::Corrupt { .. } => TierError::Corrupt {
            what: dir.display().to_string(),
            detail: e.to_string(),
        },
        e => TierError::io(
            "open a writer on",
            dir,
            std::io::Error::other(e.to_string()),
        ),
    };
    let w: Writer = match Writer::open(dir, opts) {
        Ok(w) => w,
        Err(storage_std::Error::Locked(_)) => return Ok(false),
        Err(e) => return Err(log_err(e)),
    };
    w.close().map_err(log_err)?;
    Ok(true)
}
