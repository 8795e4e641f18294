//! Run manifests: who wrote a recording, with what configuration, from when to when,
//! which sequences, and how it ended. A manifest is a small JSON document followed by a
//! CRC32C line, kept next to the recording's log directory (never inside it: recovery
//! moves files it does not know out of a log directory) and replaced atomically: a
//! temporary file is written and synced, renamed over the old one, and the directory is
//! synced. A power cut at any step leaves the old manifest or the new one, never a mix.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::backend::{Access, Backend, SyncKind, write_at};
use crate::recovery::RecoveryReport;
use crate::state::LogClass;

use super::ArchiveError;

/// The manifest's file name in a recording's directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The temporary file a manifest is written to before it is renamed into place.
pub const MANIFEST_TEMP: &str = "manifest.json.tmp";
/// The version of the manifest's JSON layout.
pub const MANIFEST_VERSION: u32 = 1;
/// The largest manifest file read (a larger one is damage, not a manifest).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// How a recording stands, as its manifest says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordingState {
    /// A recorder has it open (or had, and crashed before it could say otherwise: see
    /// [`super::RecordingInfo::live`]).
    Running,
    /// Stopped cleanly: every record appended was synced and the log closed.
    Sealed,
    /// A crash was recovered: a torn tail cut or derived files repaired, nothing that was
    /// synced lost.
    CrashedRecovered,
    /// Synced bytes are damaged and recovery refused to change them: readers should
    /// refuse the recording unless told to proceed (`recover --force` repairs it).
    Damaged,
    /// `recover --force` took damaged ranges out of the log; the manifest lists the lost
    /// ranges and the files moved to `quarantine/`.
    Repaired,
}

impl RecordingState {
    /// The state's name as the manifest and the CLI spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Sealed => "sealed",
            Self::CrashedRecovered => "crashed_recovered",
            Self::Damaged => "damaged",
            Self::Repaired => "repaired",
        }
    }

    /// The state a recovery report leaves a recording in: [`RecordingState::Repaired`]
    /// when ranges were taken out, [`RecordingState::CrashedRecovered`] when anything
    /// else was cut or repaired, `clean` otherwise (what the caller knew before).
    pub fn after_recovery(report: &RecoveryReport, clean: RecordingState) -> RecordingState {
        if !report.holes.is_empty() || !report.rebuilt_segments.is_empty() {
            return Self::Repaired;
        }
        let changed = report.cut_anything()
            || !report.removed.is_empty()
            || !report.rebuilt_indexes.is_empty()
            || !report.trimmed.is_empty()
            || report.sealed_on_open.is_some()
            || report.found != LogClass::Clean;
        if changed {
            Self::CrashedRecovered
        } else {
            clean
        }
    }
}

/// A recording's run manifest: provenance and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The recording's name in its catalog.
    pub name: String,
    /// How the recording stands.
    pub state: RecordingState,
    /// The version of `storage-std` that wrote the last run.
    pub writer_version: String,
    /// The host that wrote the last run.
    pub host: String,
    /// The configuration of the last run (durability, segment size, and what the
    /// application added).
    pub config: BTreeMap<String, String>,
    /// When the recording was created (ns since the Unix epoch).
    pub created_ns: u64,
    /// When the last run started.
    pub started_ns: u64,
    /// When the last run ended (`None` while running or after a crash).
    pub ended_ns: Option<u64>,
    /// The first sequence of the recording (when it has records).
    pub first_seq: Option<u64>,
    /// The last sequence of the recording when the last run ended.
    pub last_seq: Option<u64>,
    /// How many times the recording was extended (reopened after it stopped).
    pub runs: u32,
    /// Sequence ranges `[from, to]` recovery took out of the log.
    pub lost: Vec<(u64, u64)>,
    /// Files recovery moved to the log's `quarantine/`.
    pub quarantined: Vec<String>,
    /// Why the recording is damaged, when it is.
    pub damage: Option<String>,
    /// The digest chain's value at `last_seq` when the run was sealed (64 hex digits,
    /// see [`crate::format::chain`]); the verifier checks the log still ends with it.
    /// Absent in manifests written before the chain, or when the run had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_digest: Option<String>,
}

impl Manifest {
    /// A manifest for a recording starting now.
    pub fn new(name: &str, config: BTreeMap<String, String>, now_ns: u64) -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            name: name.to_owned(),
            state: RecordingState::Running,
            writer_version: env!("CARGO_PKG_VERSION").to_owned(),
            host: host_name(),
            config,
            created_ns: now_ns,
            started_ns: now_ns,
            ended_ns: None,
            first_seq: None,
            last_seq: None,
            runs: 1,
            lost: Vec::new(),
            quarantined: Vec::new(),
            damage: None,
            final_digest: None,
        }
    }

    /// Records what a recovery report says (lost ranges, quarantined files) and moves
    /// the state accordingly.
    pub fn apply_recovery(&mut self, report: &RecoveryReport, clean: RecordingState) {
        self.state = RecordingState::after_recovery(report, clean);
        for h in &report.holes {
            if !self.lost.contains(&(h.from, h.to)) {
                self.lost.push((h.from, h.to));
            }
        }
        for q in &report.quarantined {
            if !self.quarantined.contains(q) {
                self.quarantined.push(q.clone());
            }
        }
        if self.state != RecordingState::Damaged {
            self.damage = None;
        }
    }

    /// The bytes of the manifest file: the JSON document, then `crc32c:XXXXXXXX` of it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(format!("\ncrc32c:{crc:08x}\n").as_bytes());
        out
    }

    /// Parses a manifest file; damage (a bad checksum, truncation, garbage, an unknown
    /// version) is an error that says what is wrong, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .ok_or_else(|| "no checksum line (truncated?)".to_owned())?;
        let (body, tail) = text.split_at(body_end);
        let hex = tail
            .trim()
            .strip_prefix("crc32c:")
            .ok_or_else(|| "no checksum line (truncated?)".to_owned())?;
        let want = u32::from_str_radix(hex, 16).map_err(|_| format!("bad checksum {hex:?}"))?;
        let got = crc32c::crc32c(body.as_bytes());
        if got != want {
            return Err(format!(
                "checksum mismatch: file says {want:08x}, contents give {got:08x}"
            ));
        }
        let m: Manifest = serde_json::from_str(body).map_err(|e| format!("bad JSON: {e}"))?;
        if m.version != MANIFEST_VERSION {
            return Err(format!("unknown manifest version {}", m.version));
        }
        Ok(m)
    }
}

/// The host name (`/proc/sys/kernel/hostname`), or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Writes `manifest` into `dir` atomically: temporary file, sync, rename, directory sync.
pub fn write_manifest(dir: &dyn Backend, manifest: &Manifest) -> Result<(), ArchiveError> {
    let io = |step: &'static str| move |e: io::Error| ArchiveError::Io { step, error: e };
    let bytes = manifest.encode();
    {
        let mut f = dir.create(MANIFEST_TEMP).map_err(io("create manifest"))?;
        f.set_len(0).map_err(io("truncate manifest"))?;
        write_at(&mut *f, 0, &bytes).map_err(io("write manifest"))?;
        f.sync(SyncKind::All).map_err(io("sync manifest"))?;
    }
    dir.rename(MANIFEST_TEMP, MANIFEST_FILE)
        .map_err(io("rename manifest"))?;
    dir.sync_dir().map_err(io("sync manifest directory"))?;
    Ok(())
}

/// Reads the manifest in `dir`: `Ok(None)` when there is none, an error when it is
/// damaged. A leftover temporary file (a write cut short) is ignored.
pub fn read_manifest(dir: &dyn Backend, label: &str) -> Result<Option<Manifest>, ArchiveError> {
    let damaged = |detail: String| ArchiveError::DamagedManifest {
        recording: label.to_owned(),
        detail,
    };
    let len = match dir.open(MANIFEST_FILE, Access::Read).and_then(|f| f.len()) {
        Ok(len) => len,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ArchiveError::Io {
                step: "open manifest",
                error: e,
            });
        }
    };
    if len > MAX_MANIFEST_BYTES {
        return Err(damaged(format!(
            "{len} bytes, more than a manifest can hold ({MAX_MANIFEST_BYTES})"
        )));
    }
    let bytes = match dir.read_all(MANIFEST_FILE) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ArchiveError::Io {
                step: "read manifest",
                error: e,
            });
        }
    };
    Manifest::decode(&bytes).map(Some).map_err(damaged)
}
