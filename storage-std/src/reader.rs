//! Readers: zero-copy iteration over mapped sealed segments, positioned reads of the
//! active one, replay from a sequence or a timestamp, and a follow mode.
//!
//! Memory stays bounded whatever the log's size: a cursor maps one sealed segment at a
//! time, reads the active segment through one reused buffer (1 MiB, or one record if
//! larger), and loads a segment's sparse index only while seeking in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringcore::frame::FrameHeader;

use crate::backend::{Access, Backend, BackendFile, FileBackend, Mapped};
use crate::error::{Error, Result};
use crate::format::{
    self, RecordRef, SEGMENT_HEADER_LEN, decode_record, index_floor_seq, index_floor_ts, record,
};
use crate::offsets::OffsetStore;
use crate::progress::ProgressView;
use crate::scan::{self, FileSource, Stats};
use crate::segment::{self, SealCheck, SegmentInfo, check_sealed};

/// Where a cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest retained record.
    Oldest,
    /// The record with this sequence (or the next one to be written, if it is the end).
    Seq(u64),
    /// The first record (in sequence order) whose timestamp is at or after this (ns).
    Time(u64),
}

/// Opens cursors over a log directory. Needs no lock: any number of readers may run
/// next to the writer, in its process or in others.
///
/// ```
/// use storage_std::{Durability, LogReader, Start, Writer, WriterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::Sync)).unwrap();
/// for i in 0..3u8 { w.append(&[i]).unwrap(); }
/// w.close().unwrap();
/// let r = LogReader::open(dir.path()).unwrap();
/// let mut c = r.cursor(Start::Seq(1)).unwrap();
/// assert_eq!(c.next().unwrap().unwrap().payload, &[1]);
/// assert_eq!(c.next().unwrap().unwrap().seq(), 2);
/// assert!(c.next().unwrap().is_none());
/// ```
#[derive(Clone)]
pub struct LogReader {
    backend: Arc<dyn Backend>,
    live: Option<ProgressView>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("backend", &self.backend)
            .field("live", &self.live.as_ref().map(|l| l.limit()))
            .finish()
    }
}

impl LogReader {
    /// A reader of the log in `dir` (real files).
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let b = FileBackend::existing(dir)
            .map_err(|e| Error::io("open", dir.display().to_string(), e))?;
        Ok(Self::new(Arc::new(b)))
    }

    /// A reader over any backend; the active segment is read up to its last valid record.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            live: None,
        }
    }

    /// A reader in the writer's process: the active segment is read up to the
    /// watermark `progress` shows.
    pub(crate) fn live(backend: Arc<dyn Backend>, progress: ProgressView) -> Self {
        Self {
            backend,
            live: Some(progress),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Every segment, oldest first: sealed ones from their footers, an unsealed one by
    /// scanning its valid records.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        let listing = segment::list(&*self.backend)?;
        let mut out = Vec::with_capacity(listing.segments.len());
        for &b in &listing.segments {
            if let SealCheck::Sealed(info) = check_sealed(&*self.backend, b)? {
                out.push(info);
                continue;
            }
            let name = format::segment_name(b);
            let f = self
                .backend
                .open(&name, Access::Read)
                .map_err(|e| Error::io("open", &name, e))?;
            let len = f.len().map_err(|e| Error::io("stat", &name, e))?;
            let header = segment::read_header(&*f).map_err(|e| Error::io("read", &name, e))?;
            let created_ns = header.as_ref().map_or(0, |h| h.created_ns);
            let mut st = Stats::default();
            let end = if header.is_ok() {
                let mut src = FileSource::new(&*f, len);
                scan::scan(
                    &mut src,
                    SEGMENT_HEADER_LEN as u64,
                    b,
                    b,
                    &mut st,
                    |_, _| {},
                )
                .map_err(|e| Error::io("read", &name, e))?
                .next_seq
            } else {
                b
            };
            out.push(SegmentInfo {
                name,
                base_seq: b,
                sealed: false,
                record_count: st.count,
                last_seq: end.checked_sub(1).filter(|_| st.count > 0),
                first_ts: st.first_ts.unwrap_or(0),
                last_ts: st.last_ts,
                max_ts: st.max_ts,
                bytes: len,
                created_ns,
                sealed_ns: None,
            });
        }
        Ok(out)
    }

    /// Opens a cursor where consumer `name` left off (its committed offset), or at the
    /// oldest record if it never committed one. Commit progress with
    /// [`crate::OffsetStore::commit`]`(name, cursor.next_seq())`.
    pub fn resume(&self, consumer: &str) -> Result<Cursor> {
        let start = match OffsetStore::new(self.backend.clone()).get(consumer)? {
            Some(o) => Start::Seq(o.next_seq),
            None => Start::Oldest,
        };
        self.cursor(start)
    }

    /// Opens a cursor at `start`.
    pub fn cursor(&self, start: Start) -> Result<Cursor> {
        let mut c = Cursor {
            backend: self.backend.clone(),
            live: self.live.clone(),
            next_seq: 0,
            seg: None,
            skip: None,
            end_seq: None,
        };
        c.start(start)?;
        Ok(c)
    }
}

/// A segment a cursor is reading.
enum OpenSeg {
    Sealed {
        name: String,
        map: Mapped,
        pos: usize,
        records_end: usize,
    },
    Active {
        base: u64,
        name: String,
        src: FileSource<Box<dyn BackendFile>>,
        pos: u64,
    },
}

/// Records to skip before the first one returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    ToSeq(u64),
    ToTime(u64),
}

/// Where the record returned by `advance` lies in the open segment's bytes.
struct Loc {
    header: FrameHeader,
    start: usize,
}

/// Iterates records in sequence order. A lending iterator: each record borrows the
/// cursor until the next call.
pub struct Cursor {
    backend: Arc<dyn Backend>,
    live: Option<ProgressView>,
    next_seq: u64,
    seg: Option<OpenSeg>,
    skip: Option<Skip>,
    end_seq: Option<u64>,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("next_seq", &self.next_seq)
            .field("end_seq", &self.end_seq)
            .finish_non_exhaustive()
    }
}

impl Cursor {
    /// The sequence of the next record this cursor returns (once the start is reached).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Stops the cursor after the record with sequence `last` (inclusive).
    pub fn set_end(&mut self, last: Option<u64>) {
        self.end_seq = last;
    }

    fn limit_end(&self) -> Option<u64> {
        self.live.as_ref().map(ProgressView::end)
    }

    fn start(&mut self, start: Start) -> Result<()> {
        let listing = segment::list(&*self.backend)?;
        let Some(&first) = listing.segments.first() else {
            self.next_seq = match start {
                Start::Seq(s) => s,
                _ => 0,
            };
            if let Start::Time(t) = start {
                self.skip = Some(Skip::ToTime(t));
            }
            return Ok(());
        };
        match start {
            Start::Oldest => {
                self.next_seq = first;
                Ok(())
            }
            Start::Seq(s) => {
                if s < first {
                    return Err(Error::NotRetained {
                        requested: s,
                        first,
                    });
                }
                let base = listing.segments[listing.segments.partition_point(|&b| b <= s) - 1];
                self.open_segment(base, Some(Skip::ToSeq(s)))?;
                Ok(())
            }
            Start::Time(t) => {
                // The first segment whose largest timestamp reaches t holds the first
                // record at or after t; the last segment if none does yet.
                let mut chosen = *listing.segments.last().expect("non-empty");
                for &b in &listing.segments {
                    match check_sealed(&*self.backend, b)? {
                        SealCheck::Sealed(info) if info.max_ts < t => continue,
                        _ => {
                            chosen = b;
                            break;
                        }
                    }
                }
                self.open_segment(chosen, Some(Skip::ToTime(t)))?;
                Ok(())
            }
        }
    }

    /// Opens segment `base` and positions at the index entry that precedes the skip
    /// target (or the first record).
    fn open_segment(&mut self, base: u64, skip: Option<Skip>) -> Result<()> {
        let name = format::segment_name(base);
        let file = self
            .backend
            .open(&name, Access::Read)
            .map_err(|e| Error::io("open", &name, e))?;
        let len = file.len().map_err(|e| Error::io("stat", &name, e))?;
        let sealed = segment::read_footer(&*file, len, base)
            .map_err(|e| Error::io("read", &name, e))?
            .ok();
        let mut start_pos = SEGMENT_HEADER_LEN as u64;
        let mut start_seq = base;
        if let Some(sk) = skip
            && let Some(idx) = segment::load_index(&*self.backend, base)
        {
            let k = match sk {
                Skip::ToSeq(s) => index_floor_seq(&idx.entries, s),
                Skip::ToTime(t) => index_floor_ts(&idx.entries, t),
            };
            if let Some(k) = k {
                let e = idx.entries[k];
                let mut src = FileSource::new(&*file, len);
                if let Ok(Ok((h, _))) = scan::record_at(&mut src, e.pos)
                    && h.seq == e.seq
                {
                    start_pos = e.pos;
                    start_seq = e.seq;
                }
            }
        }
        self.seg = Some(match sealed {
            Some(f) => {
                drop(file);
                let map = self
                    .backend
                    .map(&name)
                    .map_err(|e| Error::io("map", &name, e))?;
                OpenSeg::Sealed {
                    name,
                    map,
                    pos: start_pos as usize,
                    records_end: f.records_end as usize,
                }
            }
            None => OpenSeg::Active {
                base,
                name,
                src: FileSource::new(file, len),
                pos: start_pos,
            },
        });
        self.next_seq = start_seq;
        self.skip = skip;
        Ok(())
    }

    /// Opens the segment holding `self.next_seq`; false if there is none yet.
    fn open_next(&mut self) -> Result<bool> {
        let listing = segment::list(&*self.backend)?;
        let s = self.next_seq;
        let Some(&first) = listing.segments.first() else {
            return Ok(false);
        };
        if s < first {
            return Err(Error::NotRetained {
                requested: s,
                first,
            });
        }
        let k = listing.segments.partition_point(|&b| b <= s) - 1;
        let base = listing.segments[k];
        if base < s
            && let SealCheck::Sealed(info) = check_sealed(&*self.backend, base)?
            && info.last_seq.is_some_and(|l| l < s)
        {
            // A sealed segment that ends before `s`: the log ends there for now (killed
            // between sealing and creating the next segment), or records are missing
            // before the next one. Re-reading it would never reach `s`.
            return match listing.segments.get(k + 1) {
                None => Ok(false),
                Some(&next) => Err(Error::Corrupt {
                    file: format::segment_name(next),
                    offset: 0,
                    detail: format!("sequence {s} expected, segment starts at {next}"),
                }),
            };
        }
        let skip = self.skip.or(Some(Skip::ToSeq(s)));
        self.open_segment(base, skip)?;
        if self.next_seq > s {
            // The segment starts after the position: records are missing.
            return Err(Error::Corrupt {
                file: format::segment_name(base),
                offset: 0,
                detail: format!("sequence {s} expected, segment starts later"),
            });
        }
        Ok(true)
    }

    fn satisfies(skip: Option<Skip>, h: &FrameHeader) -> bool {
        match skip {
            None => true,
            Some(Skip::ToSeq(s)) => h.seq >= s,
            Some(Skip::ToTime(t)) => h.timestamp_ns >= t,
        }
    }

    /// Finds the next record to return; leaves the segment's bytes in place for `view`.
    fn advance(&mut self) -> Result<Option<Loc>> {
        let mut refreshed = false;
        loop {
            if self.end_seq.is_some_and(|e| self.next_seq > e) {
                return Ok(None);
            }
            if let Some(limit) = self.limit_end()
                && self.next_seq >= limit
            {
                return Ok(None);
            }
            if self.seg.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let want = self.next_seq;
            let limited = self.limit_end().is_some();
            let skip = self.skip;
            let seg = self.seg.as_mut().expect("opened above");
            match seg {
                OpenSeg::Sealed {
                    map,
                    pos,
                    records_end,
                    name,
                    ..
                } => {
                    if *pos >= *records_end {
                        self.seg = None;
                        continue;
                    }
                    let bytes = map.bytes().get(*pos..*records_end).unwrap_or(&[]);
                    let r = decode_record(bytes).map_err(|e| Error::Corrupt {
                        file: name.clone(),
                        offset: *pos as u64,
                        detail: e.to_string(),
                    })?;
                    if r.seq() != want {
                        return Err(Error::Corrupt {
                            file: name.clone(),
                            offset: *pos as u64,
                            detail: format!("sequence {} where {want} was expected", r.seq()),
                        });
                    }
                    let header = r.header;
                    let start = *pos;
                    *pos += r.disk_len();
                    self.next_seq = self.next_seq.wrapping_add(1);
                    if Self::satisfies(skip, &header) {
                        self.skip = None;
                        return Ok(Some(Loc { header, start }));
                    }
                }
                OpenSeg::Active {
                    src,
                    pos,
                    base,
                    name,
                } => {
                    let got =
                        scan::record_at(src, *pos).map_err(|e| Error::io("read", &*name, e))?;
                    match got {
                        Ok((h, len)) if h.seq == want => {
                            let start = (*pos - src.buf_start) as usize;
                            *pos += len as u64;
                            self.next_seq = self.next_seq.wrapping_add(1);
                            if Self::satisfies(skip, &h) {
                                self.skip = None;
                                return Ok(Some(Loc { header: h, start }));
                            }
                        }
                        other => {
                            if !refreshed {
                                // The file may have grown: re-read from the disk once.
                                let l = src.file.len().map_err(|e| Error::io("stat", &*name, e))?;
                                src.set_len(l);
                                refreshed = true;
                                continue;
                            }
                            if scan::footer_at(src, *pos, *base)
                                .map_err(|e| Error::io("read", &*name, e))?
                                .is_some()
                            {
                                // Sealed since we opened it: go on with the next segment.
                                self.seg = None;
                                refreshed = false;
                                continue;
                            }
                            if limited {
                                // Below the watermark the record must be there.
                                return Err(Error::Corrupt {
                                    file: name.clone(),
                                    offset: *pos,
                                    detail: match other {
                                        Ok((h, _)) => {
                                            format!("sequence {} where {want} was expected", h.seq)
                                        }
                                        Err(e) => e.to_string(),
                                    },
                                });
                            }
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    fn view(&self, loc: &Loc) -> RecordRef<'_> {
        let bytes: &[u8] = match &self.seg {
            Some(OpenSeg::Sealed { map, .. }) => map.bytes(),
            Some(OpenSeg::Active { src, .. }) => &src.buf,
            None => &[],
        };
        let p = loc.start + record::PAYLOAD_OFFSET;
        let payload = bytes.get(p..p + loc.header.len as usize).unwrap_or(&[]);
        RecordRef {
            header: loc.header,
            payload,
        }
    }

    /// The next record, or `None` at the current end of the log (call again later to
    /// follow it). Errors on damage below the end, or on a retention gap.
    #[allow(clippy::should_implement_trait)] // lending: the record borrows the cursor
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>> {
        match self.advance()? {
            Some(loc) => Ok(Some(self.view(&loc))),
            None => Ok(None),
        }
    }

    /// Follow mode: the next record, waiting up to `timeout` for the writer to append
    /// one. `None` when the timeout passed or the end sequence was reached.
    ///
    /// A reader from [`crate::Writer::reader`] sees a record only once it is below the
    /// reader's watermark ([`crate::ReadLimit::Durable`]: synced;
    /// [`crate::ReadLimit::Written`]: handed to the backend), and wakes as the writer
    /// moves it; once that writer has closed or stopped, the wait ends at its last
    /// watermark. A reader of a directory
    /// ([`LogReader::open`]) has no watermark: it returns each record once it is complete
    /// in the file and polls the file every 2 ms while it waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use storage_std::{Durability, ReadLimit, Start, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    /// let mut c = w.reader(ReadLimit::Durable).cursor(Start::Seq(0)).unwrap();
    /// // At the end of the log `next` returns None: not an error, call again later.
    /// assert!(c.next().unwrap().is_none());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| (0..3u8).for_each(|i| { w.append(&[i]).unwrap(); }));
    ///     for i in 0..3u8 {
    ///         let r = c.next_wait(Duration::from_secs(10)).unwrap().expect("appended");
    ///         assert_eq!((r.seq(), r.payload), (u64::from(i), &[i][..]));
    ///     }
    /// });
    /// assert!(w.durable_seq() >= Some(2), "returned records are durable");
    /// assert!(c.next_wait(Duration::from_millis(10)).unwrap().is_none());
    /// c.set_end(Some(2)); // a bounded replay: past its end, None without waiting
    /// w.append(b"more").unwrap();
    /// assert!(c.next_wait(Duration::from_secs(10)).unwrap().is_none());
    /// drop(c);
    /// w.close().unwrap();
    /// ```
    pub fn next_wait(&mut self, timeout: Duration) -> Result<Option<RecordRef<'_>>> {
        let deadline = Instant::now() + timeout;
        let loc = loop {
            if let Some(loc) = self.advance()? {
                break loc;
            }
            if self.end_seq.is_some_and(|e| self.next_seq > e) {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            match &self.live {
                Some(view) => {
                    let want = self.next_seq;
                    view.wait_past(want, deadline);
                    if view.is_done() && view.end() <= want {
                        return Ok(None);
                    }
                }
                None => std::thread::sleep((deadline - now).min(Duration::from_millis(2))),
            }
        };
        Ok(Some(self.view(&loc)))
    }
}
