//! Segment files: listing a directory, checking sealed segments, creating and sealing
//! the active one, and their index files. Above the format, the backend and the scan;
//! below recovery, the verifier and everything that reads or writes a log.

use std::io;

use crate::backend::{Access, Backend, BackendFile, SyncKind, WriteGroup, read_full_at};
use crate::error::{Error, OpCtx, OpError};
use crate::format::segment::footer;
use crate::format::{
    self, END_MARK, FOOTER_LEN, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, IndexEntry, IndexHeader,
    SEGMENT_HEADER_LEN, SegmentFooter, SegmentHeader, StructError,
};
use crate::scan::{IndexBuilder, Stats};

/// What a directory holds, by file kind.
#[derive(Debug, Default, Clone)]
pub(crate) struct Listing {
    /// Base sequences of segment files, sorted.
    pub segments: Vec<u64>,
    /// Base sequences of index files, sorted.
    pub indexes: Vec<u64>,
    /// Temporary files.
    pub tmps: Vec<String>,
    /// Consumer offset files.
    pub offsets: Vec<String>,
    /// Anything else (the lock file included).
    pub other: Vec<String>,
}

pub(crate) fn list(backend: &dyn Backend) -> Result<Listing, Error> {
    let names = backend
        .list()
        .map_err(|e| Error::io("list", "log directory", e))?;
    let mut l = Listing::default();
    for n in names {
        if let Some(b) = format::parse_segment_name(&n) {
            l.segments.push(b);
        } else if let Some(b) = format::parse_index_name(&n) {
            l.indexes.push(b);
        } else if n.ends_with(format::TMP_SUFFIX) {
            l.tmps.push(n);
        } else if format::parse_offset_name(&n).is_some() {
            l.offsets.push(n);
        } else {
            l.other.push(n);
        }
    }
    l.segments.sort_unstable();
    l.indexes.sort_unstable();
    l.tmps.sort();
    l.offsets.sort();
    Ok(l)
}

/// A segment as the log sees it (sealed ones from their footer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// File name.
    pub name: String,
    /// First sequence.
    pub base_seq: u64,
    /// Whether it has a valid footer (sealed segments are immutable).
    pub sealed: bool,
    /// Records it holds (for the active segment: as far as known).
    pub record_count: u64,
    /// Last sequence, if it holds any record.
    pub last_seq: Option<u64>,
    /// Timestamp of the first record (0 if none).
    pub first_ts: u64,
    /// Timestamp of the last record (0 if none).
    pub last_ts: u64,
    /// Largest record timestamp (0 if none).
    pub max_ts: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Creation time from the header (ns since the Unix epoch).
    pub created_ns: u64,
    /// Sealing time from the footer, if sealed.
    pub sealed_ns: Option<u64>,
}

impl SegmentInfo {
    pub(crate) fn from_footer(h: &SegmentHeader, f: &SegmentFooter) -> Self {
        Self {
            name: format::segment_name(h.base_seq),
            base_seq: h.base_seq,
            sealed: true,
            record_count: f.record_count,
            last_seq: Some(f.last_seq),
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            max_ts: f.max_ts,
            bytes: f.records_end + FOOTER_LEN as u64,
            created_ns: h.created_ns,
            sealed_ns: Some(f.sealed_ns),
        }
    }
}

/// Reads and decodes the header of a segment file with its format version
/// (`Ok(Err(_))`: damaged).
pub(crate) fn read_header(
    file: &dyn BackendFile,
) -> io::Result<Result<(SegmentHeader, u32), StructError>> {
    let mut b = [0u8; SEGMENT_HEADER_LEN];
    let n = read_full_at(file, 0, &mut b)?;
    Ok(SegmentHeader::decode_versioned(&b[..n]))
}

/// Reads the footer at the end of a file of length `len`, if it is a valid footer of
/// segment `base` ending exactly there.
pub(crate) fn read_footer(
    file: &dyn BackendFile,
    len: u64,
    base: u64,
) -> io::Result<Result<SegmentFooter, StructError>> {
    let min = (SEGMENT_HEADER_LEN + FOOTER_LEN) as u64;
    if len < min {
        return Ok(Err(StructError::Truncated {
            needed: min,
            available: len,
        }));
    }
    let mut b = [0u8; FOOTER_LEN];
    let pos = len - FOOTER_LEN as u64;
    let n = read_full_at(file, pos, &mut b)?;
    Ok(SegmentFooter::decode(&b[..n]).and_then(|f| {
        if f.records_end != pos {
            Err(StructError::Invalid {
                what: format!(
                    "footer says records end at {}, found at {pos}",
                    f.records_end
                ),
            })
        } else if f.base_seq != base {
            Err(StructError::Invalid {
                what: format!("footer base {} in segment {base}", f.base_seq),
            })
        } else {
            Ok(f)
        }
    }))
}

/// What the header and footer of a segment say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SealCheck {
    /// A valid header naming this segment, and a valid footer ending the file.
    Sealed(SegmentInfo),
    /// No valid header or footer: `error` at `offset` (an active segment has no footer).
    NotSealed { offset: u64, error: StructError },
}

/// Checks the header and footer of segment `base` (not its records).
pub(crate) fn check_sealed(backend: &dyn Backend, base: u64) -> Result<SealCheck, Error> {
    let name = format::segment_name(base);
    let f = backend
        .open(&name, Access::Read)
        .map_err(|e| Error::io("open", &name, e))?;
    let len = f.len().map_err(|e| Error::io("stat", &name, e))?;
    let h = match read_header(&*f).map_err(|e| Error::io("read", &name, e))? {
        Ok((h, _)) => h,
        Err(error) => return Ok(SealCheck::NotSealed { offset: 0, error }),
    };
    if h.base_seq != base {
        return Ok(SealCheck::NotSealed {
            offset: 0,
            error: StructError::Invalid {
                what: format!("header base {} in file {name}", h.base_seq),
            },
        });
    }
    Ok(
        match read_footer(&*f, len, base).map_err(|e| Error::io("read", &name, e))? {
            Ok(ft) => SealCheck::Sealed(SegmentInfo::from_footer(&h, &ft)),
            Err(error) => SealCheck::NotSealed {
                offset: len.saturating_sub(FOOTER_LEN as u64),
                error,
            },
        },
    )
}

/// Reads a segment's index file: `None` if missing or its header is damaged or belongs to
/// another segment.
pub(crate) fn load_index(backend: &dyn Backend, base: u64) -> Option<format::DecodedIndex> {
    let bytes = backend.read_all(&format::index_name(base)).ok()?;
    let d = format::decode_index(&bytes).ok()?;
    (d.header.base_seq == base).then_some(d)
}

/// Writes a complete index file through a temporary file and a rename, then syncs the
/// directory.
pub(crate) fn write_index_file(
    backend: &dyn Backend,
    base: u64,
    interval: u32,
    entries: &[IndexEntry],
) -> Result<(), OpError> {
    let name = format::index_name(base);
    let tmp = format!("{name}{}", format::TMP_SUFFIX);
    let _ = backend.remove(&tmp);
    let mut f = backend.create(&tmp).op("create", &tmp)?;
    let mut bytes = IndexHeader {
        base_seq: base,
        interval,
    }
    .encode()
    .to_vec();
    for e in entries {
        bytes.extend_from_slice(&e.encode());
    }
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&bytes],
        sync: SyncKind::All,
    })
    .op("write", &tmp)?;
    backend.rename(&tmp, &name).op("rename", &tmp)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    Ok(())
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct ActiveSeg {
    pub header: SegmentHeader,
    /// Its format version (it is sealed in it).
    pub version: u32,
    pub name: String,
    pub idx_name: String,
    pub file: Box<dyn BackendFile>,
    pub idx_file: Box<dyn BackendFile>,
    /// End of the records written so far.
    pub pos: u64,
    /// Sequence of the next record.
    pub next_seq: u64,
    /// Statistics of every record in the segment.
    pub stats: Stats,
    /// Sparse index of every record written.
    pub index: IndexBuilder,
    /// Entries already written to the index file.
    pub idx_written: usize,
}

impl ActiveSeg {
    pub(crate) fn base(&self) -> u64 {
        self.header.base_seq
    }

    /// Writes the index entries of records below `durable_end` that are not in the index
    /// file yet (no sync: the index is a hint, checked before use).
    pub(crate) fn persist_index(&mut self, durable_end: u64) -> Result<(), OpError> {
        let k = self.index.entries.partition_point(|e| e.seq < durable_end);
        if k <= self.idx_written {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity((k - self.idx_written) * INDEX_ENTRY_LEN);
        for e in &self.index.entries[self.idx_written..k] {
            bytes.extend_from_slice(&e.encode());
        }
        let off = (INDEX_HEADER_LEN + self.idx_written * INDEX_ENTRY_LEN) as u64;
        self.idx_file
            .write_group(&WriteGroup {
                offset: off,
                bufs: &[&bytes],
                sync: SyncKind::None,
            })
            .op("write", &self.idx_name)?;
        self.idx_written = k;
        Ok(())
    }

    /// Seals the segment: syncs every index entry, writes the footer right after the
    /// records, trims the file there and syncs it. The records must already be synced
    /// (the caller flushes its group first), so a valid footer always means synced
    /// records.
    ///
    /// `chain` is the footer's digest area (`prev | digest`, see
    /// [`format::chain`]); `None` seals without a digest (kind 0). A chain goes only
    /// into a footer of a version that carries one.
    pub(crate) fn seal(
        &mut self,
        sealed_ns: u64,
        chain: Option<[u8; footer::DIGEST_LEN]>,
    ) -> Result<SegmentInfo, OpError> {
        let chain = chain.filter(|_| self.version >= format::chain::CHAIN_MIN_VERSION);
        debug_assert!(self.stats.count > 0);
        self.persist_index(u64::MAX)?;
        self.idx_file
            .sync(SyncKind::Data)
            .op("sync", &self.idx_name)?;
        let footer = SegmentFooter {
            base_seq: self.base(),
            record_count: self.stats.count,
            last_seq: self.next_seq.wrapping_sub(1),
            first_ts: self.stats.first_ts.unwrap_or(0),
            last_ts: self.stats.last_ts,
            max_ts: self.stats.max_ts,
            records_end: self.pos,
            sealed_ns,
            digest_kind: if chain.is_some() {
                format::chain::DIGEST_KIND_CHAIN
            } else {
                0
            },
            digest: chain.unwrap_or([0; footer::DIGEST_LEN]),
        };
        let bytes = footer.encode_version(self.version);
        self.file
            .write_group(&WriteGroup {
                offset: self.pos,
                bufs: &[&bytes],
                sync: SyncKind::None,
            })
            .op("write", &self.name)?;
        // Backends write nothing past a group, but a preallocated (zero-filled) or
        // recycled file may be longer: the footer must end the file.
        let end = self.pos + FOOTER_LEN as u64;
        if self.file.len().op("stat", &self.name)? != end {
            self.file.set_len(end).op("set_len", &self.name)?;
        }
        self.file.sync(SyncKind::Data).op("sync", &self.name)?;
        Ok(SegmentInfo::from_footer(&self.header, &footer))
    }
}

/// Settings for a new segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewSegment {
    pub base_seq: u64,
    pub created_ns: u64,
    pub torn_window: u64,
    pub index_interval: u32,
    pub preallocate: Option<u64>,
}

/// Creates a segment and its index: header written and synced, index header written and
/// synced, then the directory synced. Only after this may records go in.
pub(crate) fn create_segment(backend: &dyn Backend, s: NewSegment) -> Result<ActiveSeg, OpError> {
    let name = format::segment_name(s.base_seq);
    let idx_name = format::index_name(s.base_seq);
    // An index without its segment is an orphan from an interrupted deletion.
    if backend.open(&idx_name, Access::Read).is_ok() {
        backend.remove(&idx_name).op("remove", &idx_name)?;
    }
    let header = SegmentHeader {
        base_seq: s.base_seq,
        created_ns: s.created_ns,
        torn_window: s.torn_window,
    };
    let mut file = backend.create(&name).op("create", &name)?;
    if let Some(len) = s.preallocate {
        file.preallocate(len).op("preallocate", &name)?;
    }
    // The header and a zeroed first record header: a recycled file ends cleanly here.
    let written = file.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&header.encode(), &END_MARK],
        sync: SyncKind::All,
    });
    if let Err(e) = written {
        // A header whose sync failed may still be readable (the page cache keeps it):
        // empty the file, so that a reopen in the same boot sees a torn creation and
        // never appends behind a header the disk may not hold.
        let _ = file.set_len(0);
        return Err(OpError::new("write", &name, e));
    }
    let mut idx_file = backend.create(&idx_name).op("create", &idx_name)?;
    idx_file
        .write_group(&WriteGroup {
            offset: 0,
            bufs: &[&IndexHeader {
                base_seq: s.base_seq,
                interval: s.index_interval,
            }
            .encode()],
            sync: SyncKind::All,
        })
        .op("write", &idx_name)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    Ok(ActiveSeg {
        header,
        version: format::FORMAT_VERSION,
        name,
        idx_name,
        file,
        idx_file,
        pos: SEGMENT_HEADER_LEN as u64,
        next_seq: s.base_seq,
        stats: Stats::default(),
        index: IndexBuilder::new(s.index_interval),
        idx_written: 0,
    })
}

/// Removes a segment and its index (index errors other than "not found" count), without
/// syncing the directory.
pub(crate) fn remove_segment_files(backend: &dyn Backend, base: u64) -> Result<(), OpError> {
    let name = format::segment_name(base);
    backend.remove(&name).op("remove", &name)?;
    remove_index_file(backend, base)
}

/// Retention's removal of a sealed segment and its index: the segment goes through
/// [`Backend::retire`], which may keep the file for reuse (zeroed before it is).
pub(crate) fn retire_segment_files(backend: &dyn Backend, base: u64) -> Result<(), OpError> {
    let name = format::segment_name(base);
    backend.retire(&name).op("remove", &name)?;
    remove_index_file(backend, base)
}

fn remove_index_file(backend: &dyn Backend, base: u64) -> Result<(), OpError> {
    let idx = format::index_name(base);
    match backend.remove(&idx) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OpError::new("remove", &idx, e)),
    }
}

/// Reads the writer's published durable point, if the `DURABLE` file is there and
/// checks out (a read racing the writer's update is retried).
pub(crate) fn read_durable(backend: &dyn Backend) -> Option<format::DurablePoint> {
    for _ in 0..8 {
        match backend.read_all(format::DURABLE_FILE) {
            Ok(b) => match format::DurablePoint::decode(&b) {
                Ok(d) => return Some(d),
                Err(_) => std::thread::yield_now(),
            },
            Err(_) => return None,
        }
    }
    None
}

/// A segment written whole by recovery: the header, the entries (records copied byte
/// for byte, lost-range markers), the footer; through a temporary file that is synced,
/// then renamed over `name`, then the directory synced. Readers that opened the old
/// file keep it.
pub(crate) fn write_whole_segment(
    backend: &dyn Backend,
    header: &SegmentHeader,
    entries: &[u8],
    footer: &SegmentFooter,
) -> Result<(), OpError> {
    let name = format::segment_name(header.base_seq);
    let tmp = format!("{name}{}", format::TMP_SUFFIX);
    let _ = backend.remove(&tmp);
    let mut f = backend.create(&tmp).op("create", &tmp)?;
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&header.encode(), entries, &footer.encode()],
        sync: SyncKind::All,
    })
    .op("write", &tmp)?;
    drop(f);
    backend.rename(&tmp, &name).op("rename", &tmp)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    Ok(())
}
