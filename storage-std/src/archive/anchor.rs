//! Snapshot anchors: an application snapshot tagged with the durable sequence it
//! reflects, so that recovery can load the latest valid snapshot and replay the log from
//! the record after it instead of from the start.
//!
//! Anchors live in `ROOT/<name>/anchors/`, one file each, `<seq, 20 digits>.anchor`:
//! a 40-byte header (magic `RLANCHR1`, sequence, creation time, snapshot length, CRC32C
//! of the snapshot, CRC32C of the header) and the snapshot. Each is written atomically
//! (temporary file, sync, rename, directory sync), so a power cut leaves either no anchor
//! or a whole one; an anchor that fails its checks is skipped (and reported), never
//! returned.

use std::io;

use crate::backend::{Access, Backend, SyncKind, read_full_at, write_at};

use super::ArchiveError;

const MAGIC: &[u8; 8] = b"RLANCHR1";
const HEADER_LEN: usize = 40;
const SUFFIX: &str = ".anchor";
const TEMP: &str = "anchor.tmp";
/// The largest snapshot an anchor holds (a larger length in a header is damage).
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

/// A snapshot and the last sequence it reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The last sequence the snapshot reflects: replay from `seq + 1`.
    pub seq: u64,
    /// When it was stored (ns since the Unix epoch).
    pub created_ns: u64,
    /// The application's snapshot bytes.
    pub snapshot: Vec<u8>,
}

/// An anchor file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedAnchor {
    /// The file.
    pub file: String,
    /// Why it was not used.
    pub reason: String,
}

/// The file name of the anchor at `seq`.
pub fn anchor_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

fn header(seq: u64, created_ns: u64, snapshot: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&created_ns.to_le_bytes());
    h[24..32].copy_from_slice(&(snapshot.len() as u64).to_le_bytes());
    h[32..36].copy_from_slice(&crc32c::crc32c(snapshot).to_le_bytes());
    let hcrc = crc32c::crc32c(&h[..36]);
    h[36..40].copy_from_slice(&hcrc.to_le_bytes());
    h
}

/// Writes an anchor into `dir` atomically. The caller checked that `seq` is durable.
pub fn write_anchor(dir: &dyn Backend, anchor: &Anchor) -> Result<(), ArchiveError> {
    let io = |step: &'static str| move |e: io::Error| ArchiveError::Io { step, error: e };
    if anchor.snapshot.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(ArchiveError::State {
            recording: String::new(),
            state: "anchor",
            detail: format!(
                "a snapshot of {} bytes exceeds {MAX_SNAPSHOT_BYTES}",
                anchor.snapshot.len()
            ),
        });
    }
    drop_leftover_temp(dir, TEMP)?;
    {
        let mut f = dir.create(TEMP).map_err(io("create anchor"))?;
        f.set_len(0).map_err(io("truncate anchor"))?;
        let h = header(anchor.seq, anchor.created_ns, &anchor.snapshot);
        write_at(&mut *f, 0, &h).map_err(io("write anchor"))?;
        write_at(&mut *f, HEADER_LEN as u64, &anchor.snapshot).map_err(io("write anchor"))?;
        f.sync(SyncKind::All).map_err(io("sync anchor"))?;
    }
    dir.rename(TEMP, &anchor_name(anchor.seq))
        .map_err(io("rename anchor"))?;
    dir.sync_dir().map_err(io("sync anchor directory"))?;
    Ok(())
}

/// Removes the temporary file of a write a crash cut short (never renamed, so never
/// read): creating a file refuses one that exists, which would stop every later write.
pub(super) fn drop_leftover_temp(dir: &dyn Backend, temp: &str) -> Result<(), ArchiveError> {
    match dir.remove(temp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ArchiveError::Io {
            step: "remove a leftover temporary file",
            error: e,
        }),
    }
}

/// Reads and checks one anchor file.
fn read_one(dir: &dyn Backend, file: &str, seq: u64) -> Result<Anchor, String> {
    let f = dir.open(file, Access::Read).map_err(|e| e.to_string())?;
    let len = f.len().map_err(|e| e.to_string())?;
    let mut h = [0u8; HEADER_LEN];
    if read_full_at(&*f, 0, &mut h).map_err(|e| e.to_string())? < HEADER_LEN {
        return Err(format!("{len} bytes: shorter than the header"));
    }
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    if &h[..8] != MAGIC {
        return Err("bad magic".to_owned());
    }
    if crc32c::crc32c(&h[..36]) != u32_at(36) {
        return Err("header checksum mismatch".to_owned());
    }
    if u64_at(8) != seq {
        return Err(format!(
            "header says sequence {}, name says {seq}",
            u64_at(8)
        ));
    }
    let snap_len = u64_at(24);
    if snap_len > MAX_SNAPSHOT_BYTES || snap_len + HEADER_LEN as u64 != len {
        return Err(format!(
            "snapshot length {snap_len} does not match the file's {len} bytes"
        ));
    }
    let mut snapshot = vec![0u8; snap_len as usize];
    if read_full_at(&*f, HEADER_LEN as u64, &mut snapshot).map_err(|e| e.to_string())?
        < snapshot.len()
    {
        return Err("snapshot cut short".to_owned());
    }
    if crc32c::crc32c(&snapshot) != u32_at(32) {
        return Err("snapshot checksum mismatch".to_owned());
    }
    Ok(Anchor {
        seq,
        created_ns: u64_at(16),
        snapshot,
    })
}

/// One anchor file as [`list_anchors`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AnchorEntry {
    /// The file.
    pub file: String,
    /// The sequence its name gives.
    pub seq: u64,
    /// When it was stored (ns since the Unix epoch), when its header could be read.
    pub created_ns: Option<u64>,
    /// Snapshot bytes, when it passed its checks.
    pub snapshot_bytes: Option<u64>,
    /// Why it would not be used (damaged, or newer than the durable log); `None`: valid.
    pub problem: Option<String>,
}

/// Every anchor file in `dir`, oldest sequence first, each checked as
/// [`latest_anchor`] checks it (`durable_end`: one past the last durable sequence).
pub fn list_anchors(dir: &dyn Backend, durable_end: u64) -> Result<Vec<AnchorEntry>, ArchiveError> {
    let mut names = anchor_files(dir)?;
    names.sort();
    Ok(names
        .into_iter()
        .map(|(seq, file)| match read_one(dir, &file, seq) {
            Ok(a) => AnchorEntry {
                file,
                seq,
                created_ns: Some(a.created_ns),
                snapshot_bytes: Some(a.snapshot.len() as u64),
                problem: (seq >= durable_end).then(|| {
                    format!("reflects sequence {seq}, past the durable log (which ends before {durable_end})")
                }),
            },
            Err(reason) => AnchorEntry {
                file,
                seq,
                created_ns: None,
                snapshot_bytes: None,
                problem: Some(reason),
            },
        })
        .collect())
}

fn anchor_files(dir: &dyn Backend) -> Result<Vec<(u64, String)>, ArchiveError> {
    Ok(dir
        .list()
        .map_err(|e| ArchiveError::Io {
            step: "list anchors",
            error: e,
        })?
        .into_iter()
        .filter_map(|n| {
            let seq = n.strip_suffix(SUFFIX)?.parse::<u64>().ok()?;
            Some((seq, n))
        })
        .collect())
}

/// The latest anchor in `dir` that passes its checks and whose sequence is below
/// `durable_end` (a snapshot newer than the durable log is refused: after a crash cut
/// the log's tail, it reflects records that are gone), and every anchor skipped on the
/// way with the reason.
pub fn latest_anchor(
    dir: &dyn Backend,
    durable_end: u64,
) -> Result<(Option<Anchor>, Vec<RejectedAnchor>), ArchiveError> {
    let mut names = anchor_files(dir)?;
    names.sort();
    let mut rejected = Vec::new();
    for (seq, file) in names.into_iter().rev() {
        if seq >= durable_end {
            rejected.push(RejectedAnchor {
                file,
                reason: format!(
                    "reflects sequence {seq}, past the durable log (which ends before {durable_end})"
                ),
            });
            continue;
        }
        match read_one(dir, &file, seq) {
            Ok(a) => return Ok((Some(a), rejected)),
            Err(reason) => rejected.push(RejectedAnchor { file, reason }),
        }
    }
    Ok((None, rejected))
}
