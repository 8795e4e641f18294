//! `quarantine/`: where `recover --force` puts what it takes out of the log, so that
//! nothing is ever deleted. Each damaged or stray file is kept whole (a second name of
//! the same file, taken before the log stops naming it), and `quarantine/report.jsonl`
//! says, one JSON object per line, where each came from, why, which byte ranges were
//! damaged and which sequences the log lost with it. `ringctl replay --quarantine` reads
//! the records that are still whole in those files.

use serde::{Deserialize, Serialize};

use crate::backend::{Access, Backend, SyncKind, WriteGroup, read_full_at};
use crate::error::{Error, OpCtx};
use crate::format::{self, Entry, LostRange, QUARANTINE_DIR, RecordRef, decode_entry};

/// The report file in `quarantine/`.
pub const REPORT_FILE: &str = "report.jsonl";

/// A byte range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

/// One thing a recovery took out of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuarantineEntry {
    /// When (ns since the Unix epoch).
    pub recovered_ns: u64,
    /// The file of the log it came from.
    pub file: String,
    /// Its name in `quarantine/`.
    pub quarantined_as: String,
    /// Why it was taken out.
    pub reason: String,
    /// The byte ranges of the file that were damaged (empty: the whole file did not fit).
    pub damaged: Vec<ByteRange>,
    /// The sequences the log lost with it (recorded there as lost ranges).
    pub lost: Vec<LostRange>,
}

fn q(name: &str) -> String {
    format!("{QUARANTINE_DIR}/{name}")
}

/// Gives `file` a second name in `quarantine/` (`<recovered_ns>-<file>`) and makes it
/// durable; returns that name. The log's own name is untouched: the caller replaces or
/// removes it afterwards.
pub(crate) fn keep(backend: &dyn Backend, file: &str, recovered_ns: u64) -> Result<String, Error> {
    let mut name = format!("{recovered_ns}-{file}");
    let mut n = 1;
    while backend.open(&q(&name), Access::Read).is_ok() {
        name = format!("{recovered_ns}.{n}-{file}");
        n += 1;
    }
    backend.link(file, &q(&name)).op("link", file)?;
    backend.sync_quarantine().op("sync_dir", QUARANTINE_DIR)?;
    Ok(name)
}

/// Copies bytes `range` of `file` into a new file in `quarantine/`
/// (`<recovered_ns>-<file>.<start>`), synced; returns its name. For the tail a cut
/// removes from a file the log keeps.
pub(crate) fn keep_range(
    backend: &dyn Backend,
    file: &str,
    range: std::ops::Range<u64>,
    recovered_ns: u64,
) -> Result<String, Error> {
    let src = backend.open(file, Access::Read).op("open", file)?;
    let mut bytes = vec![0u8; (range.end.saturating_sub(range.start)) as usize];
    let n = read_full_at(&*src, range.start, &mut bytes).op("read", file)?;
    bytes.truncate(n);
    let name = format!("{recovered_ns}-{file}.{}", range.start);
    let path = q(&name);
    let _ = backend.remove(&path);
    let mut f = backend.create(&path).op("create", &path)?;
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&bytes],
        sync: SyncKind::All,
    })
    .op("write", &path)?;
    backend.sync_quarantine().op("sync_dir", QUARANTINE_DIR)?;
    Ok(name)
}

/// Appends `entry` to the report and syncs it.
pub(crate) fn report(backend: &dyn Backend, entry: &QuarantineEntry) -> Result<(), Error> {
    let name = q(REPORT_FILE);
    let mut line = serde_json::to_vec(entry)
        .map_err(|e| Error::InvalidArgument(format!("quarantine report: {e}")))?;
    line.push(b'\n');
    let mut f = match backend.open(&name, Access::ReadWrite) {
        Ok(f) => f,
        Err(_) => {
            let f = backend.create(&name).op("create", &name)?;
            backend.sync_quarantine().op("sync_dir", QUARANTINE_DIR)?;
            f
        }
    };
    let at = f.len().op("stat", &name)?;
    f.write_group(&WriteGroup {
        offset: at,
        bufs: &[&line],
        sync: SyncKind::Data,
    })
    .op("write", &name)?;
    Ok(())
}

/// What `quarantine/` holds: the report's entries (lines that do not parse, as a crash
/// while appending leaves, are skipped) and every file in it but the report.
pub fn contents(backend: &dyn Backend) -> Result<(Vec<QuarantineEntry>, Vec<String>), Error> {
    let files = backend
        .list_quarantine()
        .map_err(|e| Error::io("list", QUARANTINE_DIR, e))?;
    let entries = match backend.read_all(&q(REPORT_FILE)) {
        Ok(b) => b
            .split(|&c| c == b'\n')
            .filter_map(|l| serde_json::from_slice::<QuarantineEntry>(l).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    let files = files.into_iter().filter(|f| f != REPORT_FILE).collect();
    Ok((entries, files))
}

/// The name under which a quarantined file is opened through the log's backend.
pub fn path_of(quarantined_as: &str) -> String {
    q(quarantined_as)
}

/// The base sequence of the segment a quarantined file was (`<ns>-<segment name>`).
pub fn segment_base(quarantined_as: &str) -> Option<u64> {
    let (_, rest) = quarantined_as.split_once('-')?;
    format::parse_segment_name(rest)
}

/// Calls `f` with every record still whole in file `name` (any name the backend opens,
/// `quarantine/...` included), in file order: every 8-aligned position is tried, so
/// records after damage are found too. `f` returns false to stop. Bounded memory: the
/// file is read in chunks of 1 MiB (or one record).
pub fn read_records(
    backend: &dyn Backend,
    name: &str,
    mut f: impl FnMut(RecordRef<'_>) -> bool,
) -> Result<(), Error> {
    let file = backend.open(name, Access::Read).op("open", name)?;
    let len = file.len().op("stat", name)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_at = 0u64;
    let mut pos = 0u64;
    while pos + format::record::PREFIX_LEN as u64 <= len {
        // Enough bytes for the largest record that could start here (its length field,
        // once the prefix is in).
        let mut want = format::record::PREFIX_LEN;
        loop {
            let end = buf_at + buf.len() as u64;
            if pos < buf_at || pos + want as u64 > end {
                let n = ((len - pos) as usize).min(want.max(1 << 20));
                buf.resize(n, 0);
                let got = read_full_at(&*file, pos, &mut buf).op("read", name)?;
                buf.truncate(got);
                buf_at = pos;
            }
            let at = &buf[(pos - buf_at) as usize..];
            let l = at
                .get(16..20)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let need = format::disk_record_len(l.min(format::MAX_PAYLOAD_LEN));
            if need <= want || need as u64 > len - pos || at.len() >= need {
                break;
            }
            want = need;
        }
        let at = &buf[(pos - buf_at) as usize..];
        match decode_entry(at, format::FORMAT_VERSION) {
            Ok(Entry::Record(r)) => {
                let step = r.disk_len() as u64;
                if !f(r) {
                    return Ok(());
                }
                pos += step;
            }
            _ => pos += 8,
        }
    }
    Ok(())
}
