//! Readers: iteration over the segments through positioned reads into one reused buffer
//! per cursor, replay from a sequence or a timestamp, and a follow mode.
//!
//! Memory stays bounded whatever the log's size: a cursor reads one segment at a time
//! through a buffer of 1 MiB (or one record if larger), and loads a segment's sparse
//! index only while seeking in it. Nothing is mapped, so a file truncated or damaged
//! under a reader gives an error, never `SIGBUS`.
//!
//! A cursor never takes damage for the end of the log: where the records of the last
//! segment stop, it judges what follows by the rule recovery and the verifier apply
//! ([`crate::state`]): a clean end, a torn tail ([`ReadEnd::TornTail`], the log was not
//! recovered since a crash), or corruption (an error). On a live log (a writer holds the
//! lock) it reads up to the writer's durable point only: in the writer's process the
//! watermark it sees, in other processes the point the writer publishes in `DURABLE`.

use std::sync::Arc;
use std::time::SystemTime;

use crate::backend::{Backend, FileBackend};
use crate::error::{Error, Result};
use crate::format::{self, RecordRef};
use crate::offsets::OffsetStore;
use crate::progress::ProgressView;
use crate::segment::SegmentInfo;
use crate::state::{self, SurveyOpts, Verdict};
use crate::time;

mod cold;
mod cursor;
mod record;

pub use cold::{ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource};
pub use cursor::{Cursor, LogItem, ReadEnd};
pub use record::Record;

/// Where a cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest retained record.
    Oldest,
    /// The record with this sequence (or the next one to be written, if it is the end).
    Seq(u64),
    /// The first record (in sequence order) whose timestamp is at or after this (ns;
    /// [`Start::at_time`] takes a [`SystemTime`]).
    Time(u64),
}

impl Start {
    /// The first record (in sequence order) stamped at or after `t`: [`Start::Time`]
    /// in ns ([`crate::time::to_ns`]).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use storage_std::Start;
    /// let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// assert_eq!(Start::at_time(t), Start::Time(1_700_000_000_000_000_000));
    /// assert_eq!(Start::from(t), Start::at_time(t));
    /// ```
    pub fn at_time(t: SystemTime) -> Self {
        Self::Time(time::to_ns(t))
    }
}

impl From<SystemTime> for Start {
    fn from(t: SystemTime) -> Self {
        Self::at_time(t)
    }
}

impl RecordRef<'_> {
    /// The record's timestamp as a [`SystemTime`] (see [`RecordRef::timestamp_ns`]).
    pub fn timestamp(&self) -> SystemTime {
        time::from_ns(self.header.timestamp_ns)
    }
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
    cold: Option<Arc<dyn ColdSegmentSource>>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("backend", &self.backend)
            .field("live", &self.live.as_ref().map(|l| l.limit()))
            .field("cold", &self.cold)
            .finish()
    }
}

impl LogReader {
    /// A reader of the log in `dir` (real files; nothing is created).
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let b = FileBackend::existing(dir)
            .map_err(|e| Error::io("open", dir.display().to_string(), e))?;
        Ok(Self::new(Arc::new(b)))
    }

    /// A reader over any backend: it reads up to a live writer's published durable
    /// point, or (no writer) every record of the log.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            live: None,
            cold: None,
        }
    }

    /// This reader, also reading the cold tier `cold`: replay by sequence or time,
    /// cursors, follow mode and [`LogReader::segments`] see the whole log, cold
    /// segments first, then local ones. Where a segment is both local and cold, the
    /// local file is read. Cold reads fail as errors, never as data: damage is
    /// [`Error::Corrupt`], an unreachable store an I/O error.
    pub fn with_cold(mut self, cold: Arc<dyn ColdSegmentSource>) -> Self {
        self.cold = Some(cold);
        self
    }

    /// The cold tier this reader reads, if any.
    pub fn cold(&self) -> Option<&Arc<dyn ColdSegmentSource>> {
        self.cold.as_ref()
    }

    /// The cold segments this reader reads from the cold tier (those no local file
    /// holds), oldest first; empty without a cold tier.
    pub fn cold_segments(&self) -> Result<Vec<ColdSegment>> {
        let local = crate::segment::list(&*self.backend)?;
        Ok(cold::Plan::new(&local.segments, self.cold.as_deref())?.cold)
    }

    /// A reader in the writer's process: the active segment is read up to the
    /// watermark `progress` shows.
    pub(crate) fn live(backend: Arc<dyn Backend>, progress: ProgressView) -> Self {
        Self {
            backend,
            live: Some(progress),
            cold: None,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Every segment, oldest first: sealed ones from their footers, an unsealed one by
    /// scanning its valid records, cold ones (with a cold tier) from the tier's list.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        let mut out: Vec<SegmentInfo> = self
            .cold_segments()?
            .into_iter()
            .map(|c| SegmentInfo {
                name: format::segment_name(c.base_seq),
                base_seq: c.base_seq,
                sealed: true,
                record_count: c.record_count,
                last_seq: (c.record_count > 0).then_some(c.last_seq),
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                max_ts: c.max_ts,
                bytes: c.bytes,
                created_ns: c.created_ns,
                sealed_ns: Some(c.sealed_ns),
            })
            .collect();
        out.extend(self.local_segments()?);
        out.sort_by_key(|s| s.base_seq);
        Ok(out)
    }

    fn local_segments(&self) -> Result<Vec<SegmentInfo>> {
        let s = state::survey(
            &*self.backend,
            &SurveyOpts {
                deep: false,
                index_interval: 64 << 10,
                live: None,
            },
        )?;
        let mut out = Vec::with_capacity(s.segs.len());
        for v in &s.segs {
            let footer = match v.scan.as_ref().map(|x| &x.end.stop) {
                Some(crate::scan::Stop::Footer(f)) => Some(*f),
                _ => v.footer_at_end,
            };
            if let (Some(h), Some(f), Verdict::Sealed | Verdict::Trailing { .. }) =
                (v.header, footer, &v.verdict)
            {
                out.push(SegmentInfo::from_footer(&h, &f));
                continue;
            }
            let (count, next, first_ts, last_ts, max_ts, covers) = match &v.scan {
                Some(x) => (
                    x.stats.count,
                    x.end.next_seq,
                    x.stats.first_ts.unwrap_or(0),
                    x.stats.last_ts,
                    x.stats.max_ts,
                    x.stats.covers_any(),
                ),
                None => (0, v.base, 0, 0, 0, false),
            };
            out.push(SegmentInfo {
                name: format::segment_name(v.base),
                base_seq: v.base,
                sealed: false,
                record_count: count,
                last_seq: covers.then(|| next.wrapping_sub(1)),
                first_ts,
                last_ts,
                max_ts,
                bytes: v.len,
                created_ns: v.header.map_or(0, |h| h.created_ns),
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
        Cursor::open(
            self.backend.clone(),
            self.live.clone(),
            self.cold.clone(),
            start,
        )
    }
}
