//! The cursor: reads entries in sequence order, segment after segment, and judges where
//! the records of the last segment stop.
//!
//! Every loop of [`Cursor::advance`] either moves past an entry, finishes a segment
//! (after which only segments with a larger base are opened), or returns: it always ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringcore::frame::FrameHeader;

use crate::backend::{Access, Backend};
use crate::error::{Error, Result};
use crate::format::{
    self, DurablePoint, LostRange, RecordRef, SEGMENT_HEADER_LEN, index_floor_seq, index_floor_ts,
    record,
};
use crate::progress::ProgressView;
use crate::scan::{self, FileSource, Stop, TailJudgement, judge_tail};
use crate::segment::{self, SealCheck, check_sealed, read_durable};

use super::Start;
use super::cold::{ColdCursor, ColdSegmentSource, Plan, cold_error};
use super::record::{Chunk, Record, SharedSource, refill};

/// How often a cursor of another process asks whether a writer holds the log.
const LIVE_RECHECK: Duration = Duration::from_millis(50);

/// What a cursor returns: a record, or a range of sequences recorded as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogItem<'a> {
    /// A record.
    Record(RecordRef<'a>),
    /// Sequences `recover --force` took out of the log (damaged; their bytes are in
    /// `quarantine/`). The log goes on after them.
    Lost(LostRange),
}

/// Why a cursor returned `None` last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadEnd {
    /// It has not returned `None` yet.
    Reading,
    /// The end of the log: the records stop cleanly (or the cursor's end sequence was
    /// passed).
    End,
    /// A torn tail: the last segment's records stop at what a power cut left, and the
    /// log was not recovered since (the next writer's open, or `ringctl recover`, cuts
    /// it). Everything before it was returned.
    TornTail,
    /// A writer holds the log and has not made more durable yet: call again later.
    NotYetWritten,
}

/// A segment a cursor is reading.
struct OpenSeg {
    base: u64,
    name: String,
    version: u32,
    window: u64,
    src: SharedSource,
    pos: u64,
}

/// A cold segment a cursor is reading (through its source's cursor).
struct ColdOpen {
    base: u64,
    last_seq: u64,
    location: String,
    cursor: Box<dyn ColdCursor>,
}

/// Records to skip before the first one returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    ToSeq(u64),
    ToTime(u64),
}

/// What `advance` found.
enum Loc {
    Record {
        header: FrameHeader,
        start: usize,
    },
    /// A record of a cold segment, its payload copied into `cold_payload`.
    Cold {
        header: FrameHeader,
    },
    Lost(LostRange),
}

/// What this cursor knows of a writer in another process.
#[derive(Debug, Clone, Copy)]
struct Remote {
    checked: Instant,
    live: bool,
    durable: Option<DurablePoint>,
}

/// Iterates records in sequence order, two ways:
///
/// * [`Cursor::next`] (and `next_item`, `next_wait`) lends each record: it borrows the
///   cursor until the next call;
/// * as an [`Iterator`] of `Result<`[`Record`]`>` (`for r in cursor`, `.by_ref()`,
///   adapters), each record is owned: it shares the buffer it was read into, no payload
///   is copied. Method syntax (`cursor.next()`) finds the lending `next` first: call
///   `Iterator::next(&mut cursor)` for one owned record. The iterator ends (`None`) where `next` returns `Ok(None)`: at the
///   current end of the log, so it may yield more later (a live log). A lost range is an
///   [`Error::Lost`] item and the iteration goes on after it; after any other error the
///   iterator ends for good (the lending calls remain, to retry).
///
/// ```
/// use storage_std::{Durability, LogReader, Record, Start, Writer, WriterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::Sync)).unwrap();
/// for i in 0..5u8 { w.append(&[i]).unwrap(); }
/// w.close().unwrap();
/// let cursor = LogReader::open(dir.path()).unwrap().cursor(Start::Seq(1)).unwrap();
/// let records: Vec<Record> = cursor.collect::<Result<_, _>>().unwrap();
/// assert_eq!(records.iter().map(|r| r.payload()[0]).collect::<Vec<_>>(), [1, 2, 3, 4]);
/// assert_eq!(records[0].seq(), 1);
/// ```
pub struct Cursor {
    backend: Arc<dyn Backend>,
    live: Option<ProgressView>,
    next_seq: u64,
    seg: Option<OpenSeg>,
    /// The last segment read to its end: only later ones are opened next.
    done_base: Option<u64>,
    skip: Option<Skip>,
    end_seq: Option<u64>,
    ended: ReadEnd,
    remote: Option<Remote>,
    /// A tail already judged clean or torn: (segment, position, file length).
    judged: Option<(u64, u64, u64, ReadEnd)>,
    /// The last segment is a torn creation (no header, nothing of the log in it).
    torn_creation: Option<u64>,
    /// The cold tier: segments no local file holds are read from it.
    cold: Option<Arc<dyn ColdSegmentSource>>,
    cold_seg: Option<ColdOpen>,
    cold_payload: Chunk,
    /// The iterator met an error other than a lost range: it returns `None` from now on.
    iter_failed: bool,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("next_seq", &self.next_seq)
            .field("end_seq", &self.end_seq)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

fn corrupt(file: &str, offset: u64, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        file: file.to_owned(),
        offset,
        detail: detail.into(),
    }
}

impl Cursor {
    pub(super) fn open(
        backend: Arc<dyn Backend>,
        live: Option<ProgressView>,
        cold: Option<Arc<dyn ColdSegmentSource>>,
        start: Start,
    ) -> Result<Self> {
        let mut c = Cursor {
            backend,
            live,
            next_seq: 0,
            seg: None,
            done_base: None,
            skip: None,
            end_seq: None,
            ended: ReadEnd::Reading,
            remote: None,
            judged: None,
            torn_creation: None,
            cold,
            cold_seg: None,
            cold_payload: Chunk::default(),
            iter_failed: false,
        };
        c.start(start)?;
        Ok(c)
    }

    /// The sequence of the next record this cursor returns (once the start is reached).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Stops the cursor after the record with sequence `last` (inclusive).
    pub fn set_end(&mut self, last: Option<u64>) {
        self.end_seq = last;
    }

    /// Why the last call returned `None` (see [`ReadEnd`]).
    pub fn read_end(&self) -> ReadEnd {
        self.ended
    }

    /// The segments of the whole log: local, and cold ones no local file holds.
    fn plan(&self) -> Result<Plan> {
        let listing = segment::list(&*self.backend)?;
        Plan::new(&listing.segments, self.cold.as_deref())
    }

    fn start(&mut self, start: Start) -> Result<()> {
        let listing = self.plan()?;
        let Some(&first) = listing.bases.first() else {
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
                let base = listing.bases[listing.bases.partition_point(|&b| b <= s) - 1];
                self.open_any(&listing, base, Some(Skip::ToSeq(s)))
            }
            Start::Time(t) => {
                // The first segment whose largest timestamp reaches t holds the first
                // record at or after t; the last segment if none does yet.
                let mut chosen = *listing.bases.last().expect("non-empty");
                for &b in &listing.bases {
                    if let Some(c) = listing.cold_at(b) {
                        if c.max_ts < t {
                            continue;
                        }
                        chosen = b;
                        break;
                    }
                    match check_sealed(&*self.backend, b)? {
                        SealCheck::Sealed(info) if info.max_ts < t => continue,
                        _ => {
                            chosen = b;
                            break;
                        }
                    }
                }
                self.open_any(&listing, chosen, Some(Skip::ToTime(t)))
            }
        }
    }

    /// Opens segment `base` from where the plan says it is.
    fn open_any(&mut self, plan: &Plan, base: u64, skip: Option<Skip>) -> Result<()> {
        match plan.cold_at(base) {
            Some(c) => {
                let src = self.cold.as_ref().expect("a cold segment has a source");
                let (from, next) = match skip {
                    Some(Skip::ToSeq(s)) => (Start::Seq(s), s.max(base)),
                    Some(Skip::ToTime(t)) => (Start::Time(t), base),
                    None => (Start::Oldest, base),
                };
                let cursor = src
                    .open_cursor(base, from)
                    .map_err(|e| cold_error(&e, &c.location))?;
                self.cold_seg = Some(ColdOpen {
                    base,
                    last_seq: c.last_seq,
                    location: c.location.clone(),
                    cursor,
                });
                self.next_seq = next;
                self.skip = skip;
                Ok(())
            }
            None => self.open_segment(base, skip),
        }
    }

    /// The next record of the open cold segment; `None` once it is read to its end
    /// (the cursor then moves on).
    fn advance_cold(&mut self) -> Result<Option<Loc>> {
        let c = self.cold_seg.as_mut().expect("open");
        let got = c.cursor.next().map_err(|e| cold_error(&e, &c.location))?;
        let Some(r) = got else {
            if matches!(self.skip, Some(Skip::ToTime(_))) {
                // No record of this segment reaches the time: all of it is skipped.
                self.next_seq = c.last_seq.wrapping_add(1);
            }
            if self.next_seq != c.last_seq.wrapping_add(1) {
                return Err(corrupt(
                    &c.location,
                    0,
                    format!(
                        "cold segment ends before sequence {}, its last is {}",
                        self.next_seq, c.last_seq
                    ),
                ));
            }
            self.done_base = Some(c.base);
            self.cold_seg = None;
            return Ok(None);
        };
        let header = r.header;
        // After a time skip the source returns the first record at or after the time,
        // wherever it is; otherwise exactly the sequence expected.
        // Never past the segment's listed end: a source whose object holds more than
        // its listing names would serve another segment's sequences with its own bytes.
        let fits = header.seq <= c.last_seq
            && match self.skip {
                Some(Skip::ToTime(_)) => header.seq >= self.next_seq,
                _ => header.seq == self.next_seq,
            };
        if !fits {
            return Err(corrupt(
                &c.location,
                0,
                format!(
                    "cold segment gave sequence {} where {} was expected",
                    header.seq, self.next_seq
                ),
            ));
        }
        let payload = refill(&mut self.cold_payload);
        payload.clear();
        payload.extend_from_slice(r.payload);
        // Wrapping, as for local entries: a listing may end at u64::MAX.
        self.next_seq = header.seq.wrapping_add(1);
        self.skip = None;
        Ok(Some(Loc::Cold { header }))
    }

    /// Opens segment `base` and positions at the index entry that precedes the skip
    /// target (or the first record). A damaged header is corruption, unless the file is
    /// the last and holds nothing of the log (a torn creation): then the cursor ends
    /// there ([`ReadEnd::TornTail`]).
    fn open_segment(&mut self, base: u64, skip: Option<Skip>) -> Result<()> {
        let name = format::segment_name(base);
        let file = self
            .backend
            .open(&name, Access::Read)
            .map_err(|e| Error::io("open", &name, e))?;
        let len = file.len().map_err(|e| Error::io("stat", &name, e))?;
        let (header, version) =
            match segment::read_header(&*file).map_err(|e| Error::io("read", &name, e))? {
                Ok((h, v)) if h.base_seq == base => (h, v),
                Ok((h, _)) => {
                    return Err(corrupt(
                        &name,
                        0,
                        format!("header names base {}", h.base_seq),
                    ));
                }
                Err(format::StructError::UnsupportedVersion { found, supported }) => {
                    return Err(Error::UnsupportedVersion {
                        file: name,
                        found,
                        supported,
                    });
                }
                Err(e) => {
                    let last = segment::list(&*self.backend)?
                        .segments
                        .last()
                        .is_some_and(|&b| b == base);
                    let nothing = {
                        let mut src = FileSource::new(&*file, len);
                        scan::find_beyond(&mut src, SEGMENT_HEADER_LEN as u64 - 8, base, 2)
                            .map_err(|e| Error::io("read", &name, e))?
                            .is_none()
                    } && segment::read_footer(&*file, len, base)
                        .map_err(|e| Error::io("read", &name, e))?
                        .is_err();
                    if last && nothing {
                        self.torn_creation = Some(base);
                        self.seg = None;
                        self.done_base = Some(base);
                        self.next_seq = match skip {
                            Some(Skip::ToSeq(s)) => s.max(base),
                            _ => base,
                        };
                        return Ok(());
                    }
                    return Err(corrupt(&name, 0, format!("segment header damaged: {e}")));
                }
            };
        let mut src = SharedSource::new(file, len);
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
                if let Ok(Ok(it)) = scan::record_at(&mut src, e.pos, version)
                    && it.header.seq == e.seq
                    && it.lost_to.is_none()
                {
                    start_pos = e.pos;
                    start_seq = e.seq;
                }
            }
        }
        self.seg = Some(OpenSeg {
            base,
            name,
            version,
            window: header.torn_window,
            src,
            pos: start_pos,
        });
        self.next_seq = start_seq;
        self.skip = skip;
        Ok(())
    }

    /// Opens the segment after the last one read (or the one holding `next_seq`);
    /// false if there is none yet.
    fn open_next(&mut self) -> Result<bool> {
        let listing = self.plan()?;
        let s = self.next_seq;
        let Some(&first) = listing.bases.first() else {
            return Ok(false);
        };
        let base = match self.done_base {
            Some(done) => match listing.bases.iter().find(|&&b| b > done) {
                Some(&b) => b,
                None => return Ok(false),
            },
            None => {
                if s < first {
                    return Err(Error::NotRetained {
                        requested: s,
                        first,
                    });
                }
                listing.bases[listing.bases.partition_point(|&b| b <= s) - 1]
            }
        };
        let name = format::segment_name(base);
        if base > s {
            return Err(corrupt(
                &name,
                0,
                format!("sequence {s} expected, segment starts at {base}: records are missing"),
            ));
        }
        if self.done_base.is_some() && base < s {
            return Err(corrupt(
                &name,
                0,
                format!(
                    "sequence {s} expected, segment starts at {base}, inside what earlier segments hold"
                ),
            ));
        }
        let skip = self.skip.or(Some(Skip::ToSeq(s)));
        self.open_any(&listing, base, skip)?;
        Ok(self.seg.is_some() || self.cold_seg.is_some())
    }

    fn satisfies(skip: Option<Skip>, h: &FrameHeader) -> bool {
        match skip {
            None => true,
            Some(Skip::ToSeq(s)) => h.seq >= s,
            Some(Skip::ToTime(t)) => h.timestamp_ns >= t,
        }
    }

    /// The sequence a live writer has made durable (records at or past it are not
    /// returned yet): in the writer's process its watermark, in another process the
    /// point it publishes while it holds the lock. `None`: no writer.
    fn limit_end(&mut self, refresh: bool) -> Result<Option<u64>> {
        if let Some(v) = &self.live {
            return Ok(Some(v.end()));
        }
        let stale = self
            .remote
            .is_none_or(|r| refresh && r.checked.elapsed() >= LIVE_RECHECK / 10);
        if stale {
            let live = self
                .backend
                .lock_held()
                .map_err(|e| Error::io("lock", format::LOCK_FILE, e))?;
            let durable = if live {
                read_durable(&*self.backend)
            } else {
                None
            };
            self.remote = Some(Remote {
                checked: Instant::now(),
                live,
                durable,
            });
        }
        let r = self.remote.expect("set above");
        Ok(match (r.live, r.durable) {
            (true, Some(d)) => Some(d.next_seq),
            _ => None,
        })
    }

    /// [`Cursor::limit_end`] as last seen, without asking again (no system call).
    fn cached_limit(&self) -> Option<u64> {
        match (&self.live, &self.remote) {
            (Some(v), _) => Some(v.end()),
            (None, Some(r)) if r.live => r.durable.map(|d| d.next_seq),
            _ => None,
        }
    }

    /// Finds the next entry to return; leaves the segment's bytes in place for `view`.
    fn advance(&mut self) -> Result<Option<Loc>> {
        let mut refreshed = false;
        loop {
            if self.end_seq.is_some_and(|e| self.next_seq > e) {
                self.ended = ReadEnd::End;
                return Ok(None);
            }
            if self.seg.is_none() && self.cold_seg.is_none() && !self.open_next()? {
                self.ended = if self.limit_end(false)?.is_some() {
                    ReadEnd::NotYetWritten
                } else if self
                    .torn_creation
                    .is_some_and(|b| Some(b) == self.done_base)
                {
                    ReadEnd::TornTail
                } else {
                    ReadEnd::End
                };
                return Ok(None);
            }
            if self.cold_seg.is_some() {
                match self.advance_cold()? {
                    Some(loc) => return Ok(Some(loc)),
                    None => continue,
                }
            }
            if self.remote.is_none() && self.live.is_none() {
                self.limit_end(true)?;
            }
            if self.cached_limit().is_some_and(|l| self.next_seq >= l)
                && self.limit_end(true)?.is_some_and(|l| self.next_seq >= l)
            {
                self.ended = ReadEnd::NotYetWritten;
                return Ok(None);
            }
            let want = self.next_seq;
            let skip = self.skip;
            let seg = self.seg.as_mut().expect("opened above");
            let got = scan::record_at(&mut seg.src, seg.pos, seg.version)
                .map_err(|e| Error::io("read", &seg.name, e))?;
            match got {
                Ok(it) if it.header.seq == want => {
                    let start = (seg.pos - seg.src.buf_start) as usize;
                    seg.pos += it.len as u64;
                    self.next_seq = it.next_seq();
                    match it.lost_to {
                        Some(to) => {
                            let from = match skip {
                                Some(Skip::ToSeq(s)) if to < s => continue,
                                Some(Skip::ToSeq(s)) => s.max(it.header.seq),
                                _ => it.header.seq,
                            };
                            self.skip = None;
                            return Ok(Some(Loc::Lost(LostRange { from, to })));
                        }
                        None if Self::satisfies(skip, &it.header) => {
                            self.skip = None;
                            return Ok(Some(Loc::Record {
                                header: it.header,
                                start,
                            }));
                        }
                        None => continue,
                    }
                }
                other => {
                    if !refreshed {
                        // The file may have grown: read it again once.
                        let l = seg
                            .src
                            .file
                            .len()
                            .map_err(|e| Error::io("stat", &seg.name, e))?;
                        seg.src.set_len(l);
                        refreshed = true;
                        continue;
                    }
                    match self.at_stop(other.err())? {
                        Some(end) => {
                            self.ended = end;
                            return Ok(None);
                        }
                        None => {
                            refreshed = false;
                            continue;
                        }
                    }
                }
            }
        }
    }

    /// The records of the open segment stop at its position: `None` when it was sealed
    /// there (the cursor moves on), else why the cursor ends, or the damage.
    fn at_stop(&mut self, err: Option<format::RecordError>) -> Result<Option<ReadEnd>> {
        // The durable point first, then the listing, then the bytes again: a writer
        // publishes its point only after the bytes below it are written, and seals a
        // segment before it creates the next one, so what is read after them is at
        // least as new as what they say.
        let limit = self.limit_end(true)?;
        let later = {
            let base = self.seg.as_ref().expect("open").base;
            segment::list(&*self.backend)?
                .segments
                .iter()
                .any(|&b| b > base)
        };
        let want = self.next_seq;
        let seg = self.seg.as_mut().expect("open");
        let (base, pos) = (seg.base, seg.pos);
        if let Ok(l) = seg.src.file.len() {
            seg.src.set_len(l);
        }
        if let Ok(Ok(it)) = scan::record_at(&mut seg.src, pos, seg.version)
            && it.header.seq == want
        {
            // Written meanwhile: read it.
            return Ok(None);
        }
        let err = match scan::record_at(&mut seg.src, pos, seg.version) {
            Ok(Err(e)) => Some(e),
            _ => err,
        };
        if scan::footer_at(&mut seg.src, pos, base)
            .map_err(|e| Error::io("read", &seg.name, e))?
            .is_some()
        {
            self.done_base = Some(base);
            self.seg = None;
            return Ok(None);
        }
        let what = match err {
            Some(e) => e.to_string(),
            None => "a record that does not continue the sequence".to_owned(),
        };
        let len = seg.src.limit();
        let sealed_len = segment::read_footer(&*seg.src.file, len, base)
            .map_err(|e| Error::io("read", &seg.name, e))?;
        if sealed_len.is_ok() {
            return Err(corrupt(
                &seg.name,
                pos,
                format!(
                    "sealed segment damaged: {what} (sequence {want} expected) before its footer"
                ),
            ));
        }
        if later {
            return Err(corrupt(
                &seg.name,
                pos,
                format!(
                    "{what} (sequence {want} expected); a segment before the last must be sealed"
                ),
            ));
        }
        if let Some(limit) = limit {
            // A live writer: below its durable point every record must be there.
            if want < limit {
                return Err(corrupt(
                    &seg.name,
                    pos,
                    format!(
                        "{what} where sequence {want}, below the durable point {limit}, was expected"
                    ),
                ));
            }
            return Ok(Some(ReadEnd::NotYetWritten));
        }
        if let Some((b, p, l, end)) = self.judged
            && (b, p, l) == (base, pos, len)
        {
            return Ok(Some(end));
        }
        // No writer: what follows the records is judged as recovery would.
        let stop = match err {
            Some(format::RecordError::Zero) | None => Stop::Zero,
            Some(e) => Stop::Damage(scan::Damage::Record(e)),
        };
        let stop = if pos >= len { Stop::Eof } else { stop };
        let beyond = scan::find_beyond(&mut seg.src, pos, want, seg.version)
            .map_err(|e| Error::io("read", &seg.name, e))?;
        let end = match judge_tail(&stop, beyond.as_ref(), pos, seg.window) {
            TailJudgement::Clean => ReadEnd::End,
            TailJudgement::Torn => ReadEnd::TornTail,
            TailJudgement::BeyondWindow => {
                let b = beyond.expect("records beyond");
                return Err(corrupt(
                    &seg.name,
                    pos,
                    format!(
                        "{what} (sequence {want} expected), and valid records {}..={} follow beyond the torn window: corruption, not the end of the log",
                        b.min_seq, b.max_seq
                    ),
                ));
            }
        };
        self.judged = Some((base, pos, len, end));
        Ok(Some(end))
    }

    fn view_cold(&self, header: FrameHeader) -> RecordRef<'_> {
        RecordRef {
            header,
            payload: &self.cold_payload,
        }
    }

    /// The record `advance` found at `start` of the open segment's buffer, owned.
    #[inline]
    fn owned(&self, header: FrameHeader, start: usize) -> Record {
        let bytes = match &self.seg {
            Some(s) => &s.src.buf,
            None => &self.cold_payload,
        };
        Record::new(header, bytes, start + record::PAYLOAD_OFFSET)
    }

    fn view(&self, start: usize, header: FrameHeader) -> RecordRef<'_> {
        let bytes: &[u8] = match &self.seg {
            Some(s) => &s.src.buf,
            None => &[],
        };
        let p = start + record::PAYLOAD_OFFSET;
        let payload = bytes.get(p..p + header.len as usize).unwrap_or(&[]);
        RecordRef { header, payload }
    }

    /// The next record or lost range, or `None` at the current end of the log (see
    /// [`Cursor::read_end`]; call again later to follow it). Errors on damage below the
    /// end, and on a retention gap.
    pub fn next_item(&mut self) -> Result<Option<LogItem<'_>>> {
        Ok(match self.advance()? {
            Some(Loc::Record { header, start }) => Some(LogItem::Record(self.view(start, header))),
            Some(Loc::Cold { header }) => Some(LogItem::Record(self.view_cold(header))),
            Some(Loc::Lost(l)) => Some(LogItem::Lost(l)),
            None => None,
        })
    }

    /// The next record, or `None` at the current end of the log (call again later to
    /// follow it). Errors on damage below the end, on a retention gap, and with
    /// [`Error::Lost`] at a lost range (the cursor is then past it: call again).
    #[allow(clippy::should_implement_trait)] // lending: the record borrows the cursor
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>> {
        match self.advance()? {
            Some(Loc::Record { header, start }) => Ok(Some(self.view(start, header))),
            Some(Loc::Cold { header }) => Ok(Some(self.view_cold(header))),
            Some(Loc::Lost(l)) => Err(Error::Lost {
                from: l.from,
                to: l.to,
            }),
            None => Ok(None),
        }
    }

    /// Follow mode: the next record or lost range, waiting up to `timeout` for the
    /// writer to append one. `None` when the timeout passed or the end sequence was
    /// reached. At a torn tail it waits too: a writer's open cuts the tail and appends
    /// after it. Damage is an error, never a wait.
    pub fn next_item_wait(&mut self, timeout: Duration) -> Result<Option<LogItem<'_>>> {
        let deadline = crate::time::deadline_after(timeout);
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
        Ok(Some(match loc {
            Loc::Record { header, start } => LogItem::Record(self.view(start, header)),
            Loc::Cold { header } => LogItem::Record(self.view_cold(header)),
            Loc::Lost(l) => LogItem::Lost(l),
        }))
    }

    /// Follow mode: the next record, waiting up to `timeout` for the writer to append
    /// one. `None` when the timeout passed or the end sequence was reached; a lost
    /// range is [`Error::Lost`] (call again for the record after it).
    ///
    /// A reader from [`crate::Writer::reader`] sees a record only once it is below the
    /// reader's watermark ([`crate::ReadLimit::Durable`]: synced;
    /// [`crate::ReadLimit::Written`]: handed to the backend), and wakes as the writer
    /// moves it; once that writer has closed or stopped, the wait ends at its last
    /// watermark. A reader of a directory ([`super::LogReader::open`]) returns each
    /// record once it is below the durable point a writer publishes (every complete
    /// record when no writer holds the log), and polls every 2 ms while it waits.
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
        match self.next_item_wait(timeout)? {
            Some(LogItem::Record(r)) => Ok(Some(r)),
            Some(LogItem::Lost(l)) => Err(Error::Lost {
                from: l.from,
                to: l.to,
            }),
            None => Ok(None),
        }
    }
}

impl Iterator for Cursor {
    type Item = Result<Record>;

    /// The next record, owned; see [`Cursor`] for where the iteration ends.
    #[inline]
    fn next(&mut self) -> Option<Result<Record>> {
        if self.iter_failed {
            return None;
        }
        // The same step as the lending `next`, each kind of entry mapped straight to
        // the item: no intermediate `Result` to build and match again per record.
        Some(match self.advance() {
            Ok(Some(Loc::Record { header, start })) => Ok(self.owned(header, start)),
            Ok(Some(Loc::Cold { header })) => Ok(Record::new(header, &self.cold_payload, 0)),
            Ok(Some(Loc::Lost(l))) => Err(Error::Lost {
                from: l.from,
                to: l.to,
            }),
            Ok(None) => return None,
            Err(e) => {
                self.iter_failed = !matches!(e, Error::Lost { .. });
                Err(e)
            }
        })
    }
}
