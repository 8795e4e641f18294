//! The durable log as a [`ReplaySource`]: a [`LogReplay`] replays a recording through a
//! [`Cursor`] so that a [`MergingReader`](ringcore::broadcast::merge::MergingReader) can
//! bring a late subscriber from the archive into the live ring.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringcore::broadcast::RecordView;
use ringcore::broadcast::merge::{HandOver, ReplaySource, hand_over};
use ringcore::frame::FrameHeader;

use crate::error::Error;
use crate::reader::{Cursor, LogItem, LogReader, ReadEnd, Start};

use super::ArchiveError;

use super::recorder::RecordingStatus;

/// Replays a recording's log from a sequence on, in order, following it while a
/// recorder appends. Each call continues where the last one stopped; a replay from
/// elsewhere reopens the cursor there.
pub struct LogReplay {
    reader: LogReader,
    cursor: Cursor,
    /// A record read ahead by [`ReplaySource::durable_end`] (the cursor lends records, so
    /// it is copied out).
    pending: Option<(FrameHeader, Vec<u8>)>,
    /// The recorder's status while one runs; `None`: the recording is stopped.
    status: Option<Arc<RecordingStatus>>,
    /// Where the cursor was opened (its `next_seq` says so only once it read a record).
    start: u64,
}

impl std::fmt::Debug for LogReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReplay")
            .field("cursor", &self.cursor)
            .field("pending", &self.pending.as_ref().map(|p| p.0.seq))
            .field("live", &self.status.is_some())
            .finish()
    }
}

impl LogReplay {
    /// Replays `reader`'s log from sequence `from`. With `status` (from
    /// [`super::Recorder::status`]), the replay is complete only once that recorder
    /// stopped; without, the log is taken as complete.
    pub fn new(
        reader: LogReader,
        from: u64,
        status: Option<Arc<RecordingStatus>>,
    ) -> crate::error::Result<Self> {
        let cursor = reader.cursor(Start::Seq(from))?;
        Ok(LogReplay {
            reader,
            cursor,
            pending: None,
            status,
            start: from,
        })
    }

    /// Replays `reader`'s log from the first record with a timestamp at or after
    /// `timestamp_ns`; [`LogReplay::position`] then says which sequence that is (start
    /// a merging reader there). See [`LogReplay::new`] for `status`.
    pub fn at_time(
        reader: LogReader,
        timestamp_ns: u64,
        status: Option<Arc<RecordingStatus>>,
    ) -> crate::error::Result<Self> {
        let cursor = reader.cursor(Start::Time(timestamp_ns))?;
        let mut replay = LogReplay {
            reader,
            cursor,
            pending: None,
            status,
            start: 0,
        };
        // Reads the first record ahead: it names the sequence the replay starts at.
        replay.durable_end()?;
        if replay.pending.is_none() {
            replay.start = replay.cursor.next_seq();
        }
        Ok(replay)
    }

    /// The sequence the next replayed record has.
    pub fn position(&self) -> u64 {
        match &self.pending {
            Some((h, _)) => h.seq,
            None => self.cursor.next_seq().max(self.start),
        }
    }

    fn seek(&mut self, from: u64) -> crate::error::Result<()> {
        if self.position() != from {
            self.cursor = self.reader.cursor(Start::Seq(from))?;
            self.pending = None;
            self.start = from;
        }
        Ok(())
    }
}

impl ReplaySource for LogReplay {
    type Error = Error;

    fn durable_end(&mut self) -> Result<u64, Error> {
        if self.pending.is_none() {
            self.cursor.set_end(None);
            match self.cursor.next() {
                Ok(Some(r)) => self.pending = Some((r.header, r.payload.to_vec())),
                Ok(None) => return Ok(self.position()),
                // A lost range: the next replay reports the gap.
                Err(Error::Lost { from, .. }) => return Ok(from.saturating_add(1)),
                Err(e) => return Err(e),
            }
        }
        Ok(self.pending.as_ref().map_or(0, |(h, _)| h.seq + 1))
    }

    fn is_complete(&mut self) -> Result<bool, Error> {
        Ok(self.status.as_ref().is_none_or(|s| s.is_stopped()))
    }

    fn replay(
        &mut self,
        from: u64,
        until: u64,
        max: usize,
        f: &mut dyn FnMut(RecordView<'_>) -> ControlFlow<()>,
    ) -> Result<usize, Error> {
        if until <= from {
            return Ok(0);
        }
        self.seek(from)?;
        let max = max.max(1);
        let mut n = 0;
        if let Some((header, payload)) = &self.pending {
            if header.seq >= until {
                return Ok(0);
            }
            n += 1;
            let flow = f(RecordView {
                header: *header,
                payload,
            });
            self.pending = None;
            if flow.is_break() {
                return Ok(n);
            }
        }
        // The cursor stops before `until` without consuming the record there.
        self.cursor.set_end(Some(until - 1));
        while n < max {
            match self.cursor.next() {
                Ok(Some(r)) => {
                    n += 1;
                    if f(RecordView {
                        header: r.header,
                        payload: r.payload,
                    })
                    .is_break()
                    {
                        break;
                    }
                }
                Ok(None) => break,
                // Sequences taken out by `recover --force`: the cursor is past them, and
                // the merging reader reports the gap when it sees the next record.
                Err(Error::Lost { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// Where a record of a [`LiveMerge`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergedFrom {
    /// The recording, before the hand-over.
    Archive,
    /// The live log's follow cursor, from the hand-over on.
    Live,
}

/// Counters of a [`LiveMerge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LiveMergeStats {
    /// Records delivered from the recording.
    pub from_archive: u64,
    /// Records delivered from the live log.
    pub from_live: u64,
    /// Records read twice (in both logs) and dropped by the hand-over check.
    pub dropped: u64,
    /// The first sequence delivered from the live log (`None`: not handed over yet).
    pub handover_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Archive,
    Live,
}

/// Replays a recording's log from a sequence or a time and hands over to a live log's
/// follow cursor (another directory, written by another process) exactly once: every
/// sequence from the start on is delivered once, in order, from the recording while it
/// has it and from the live log after. Both logs carry the same sequence numbers (the
/// recording is a copy of the live log's past, say before retention deleted it there).
///
/// The hand-over: the recording is read until it has nothing more now; the live log's
/// cursor is then opened at the next sequence due. If the live log no longer holds it
/// (its front was deleted), the recording must: while a writer still extends the
/// recording the merge waits for it, otherwise the sequences are in neither log
/// ([`ArchiveError::MergeGap`]). Every record, from either side, passes
/// [`ringcore::broadcast::merge::hand_over`]: one below the sequence due is dropped,
/// one above it is a gap, never skipped silently.
///
/// ```
/// use std::time::Duration;
/// use storage_std::archive::{LiveMerge, MergedFrom};
/// use storage_std::{Durability, LogItem, LogReader, Start, Writer, WriterOptions};
/// let (archive, live) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// let a: Writer = Writer::open(archive.path(), WriterOptions::new(Durability::Sync)).unwrap();
/// let l: Writer = Writer::open(live.path(), WriterOptions::new(Durability::Sync)).unwrap();
/// for i in 0..5u8 { a.append(&[i]).unwrap(); l.append(&[i]).unwrap(); }
/// a.close().unwrap();
/// l.append(&[5]).unwrap();
/// let mut m = LiveMerge::new(
///     LogReader::open(archive.path()).unwrap(),
///     LogReader::open(live.path()).unwrap(),
///     Start::Seq(2),
/// ).unwrap();
/// let mut seen = Vec::new();
/// while let Some((seq, from)) = m
///     .next_wait(Duration::from_millis(50), |from, item| match item {
///         LogItem::Record(r) => (r.seq(), from),
///         LogItem::Lost(_) => unreachable!(),
///     })
///     .unwrap()
/// {
///     seen.push((seq, from));
/// }
/// use MergedFrom::*;
/// assert_eq!(seen, [(2, Archive), (3, Archive), (4, Archive), (5, Live)]);
/// assert_eq!(m.stats().handover_seq, Some(5));
/// l.close().unwrap();
/// ```
pub struct LiveMerge {
    archive: Cursor,
    live_reader: LogReader,
    live: Option<Cursor>,
    start: Start,
    /// The sequence due (`None`: a time start before its first record).
    next: Option<u64>,
    /// The last record delivered from the recording: its sequence and payload CRC32C,
    /// compared at the hand-over with the live log's record there (payloads only: a
    /// writer may stamp its own times).
    last_archive: Option<(u64, u32)>,
    phase: Phase,
    stats: LiveMergeStats,
}

impl std::fmt::Debug for LiveMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveMerge")
            .field("next", &self.next)
            .field("phase", &self.phase)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What the hand-over check says of `seq`, moving `next` past a delivered record.
fn due(next: &mut Option<u64>, seq: u64) -> HandOver {
    let verdict = next.map_or(HandOver::Deliver, |n| hand_over(seq, n));
    if verdict == HandOver::Deliver {
        *next = Some(seq.wrapping_add(1));
    }
    verdict
}

/// A lost range against `next`: `true` when it is news (delivered), moving `next`.
fn lost_due(next: &mut Option<u64>, l: &crate::format::LostRange) -> bool {
    if next.is_some_and(|n| l.to < n) {
        return false;
    }
    *next = Some(l.to.wrapping_add(1));
    true
}

impl LiveMerge {
    /// A merge of the recording `archive` into the live log `live` from `start`
    /// ([`Start::Oldest`]: the recording's oldest record).
    pub fn new(archive: LogReader, live: LogReader, start: Start) -> Result<Self, ArchiveError> {
        let cursor = archive.cursor(start)?;
        Ok(LiveMerge {
            archive: cursor,
            live_reader: live,
            live: None,
            start,
            next: match start {
                Start::Seq(s) => Some(s),
                _ => None,
            },
            last_archive: None,
            phase: Phase::Archive,
            stats: LiveMergeStats::default(),
        })
    }

    /// At the hand-over: the live log, where it still holds the recording's last
    /// delivered record, must hold that same record (else it is another log).
    fn check_continuation(&self) -> Result<(), ArchiveError> {
        let Some((seq, crc)) = self.last_archive else {
            return Ok(());
        };
        let Ok(mut c) = self.live_reader.cursor(Start::Seq(seq)) else {
            return Ok(()); // no longer in the live log: nothing to compare
        };
        match c.next_item()? {
            Some(LogItem::Record(r)) if r.header.seq == seq && crc32c::crc32c(r.payload) != crc => {
                Err(ArchiveError::NotContinuation { seq })
            }
            _ => Ok(()),
        }
    }

    /// The sequence delivered next, once known.
    pub fn next_seq(&self) -> Option<u64> {
        self.next
    }

    /// What was delivered from where, and where the hand-over was.
    pub fn stats(&self) -> LiveMergeStats {
        self.stats
    }

    /// The next record (or lost range), handed to `f` with where it came from; waits up
    /// to `timeout` for the live log (or for a recording still being written). `None`:
    /// nothing new within the timeout.
    pub fn next_wait<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(MergedFrom, LogItem<'_>) -> R,
    ) -> Result<Option<R>, ArchiveError> {
        let deadline = crate::time::deadline_after(timeout);
        loop {
            if self.phase == Phase::Archive {
                match self.archive.next_item()? {
                    Some(LogItem::Record(r)) => match due(&mut self.next, r.header.seq) {
                        HandOver::Drop => self.stats.dropped += 1,
                        HandOver::Deliver => {
                            self.stats.from_archive += 1;
                            self.last_archive = Some((r.header.seq, crc32c::crc32c(r.payload)));
                            return Ok(Some(f(MergedFrom::Archive, LogItem::Record(r))));
                        }
                        HandOver::Behind => {
                            return Err(ArchiveError::MergeGap {
                                expected: self.next.unwrap_or(0),
                                found: r.header.seq,
                            });
                        }
                    },
                    Some(LogItem::Lost(l)) => {
                        if lost_due(&mut self.next, &l) {
                            return Ok(Some(f(MergedFrom::Archive, LogItem::Lost(l))));
                        }
                    }
                    None => {
                        let start = self.next.map_or(self.start, Start::Seq);
                        match self.live_reader.cursor(start) {
                            Ok(c) => {
                                self.check_continuation()?;
                                self.live = Some(c);
                                self.phase = Phase::Live;
                            }
                            Err(Error::NotRetained { requested, first }) => {
                                if self.archive.read_end() != ReadEnd::NotYetWritten {
                                    return Err(ArchiveError::MergeGap {
                                        expected: requested,
                                        found: first,
                                    });
                                }
                                // The recording is still written: the sequences due
                                // reach it later.
                                if Instant::now() >= deadline {
                                    return Ok(None);
                                }
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let live = self.live.as_mut().expect("opened at the hand-over");
            match live.next_item_wait(left)? {
                Some(LogItem::Record(r)) => match due(&mut self.next, r.header.seq) {
                    HandOver::Drop => self.stats.dropped += 1,
                    HandOver::Deliver => {
                        self.stats.from_live += 1;
                        self.stats.handover_seq.get_or_insert(r.header.seq);
                        return Ok(Some(f(MergedFrom::Live, LogItem::Record(r))));
                    }
                    HandOver::Behind => {
                        return Err(ArchiveError::MergeGap {
                            expected: self.next.unwrap_or(0),
                            found: r.header.seq,
                        });
                    }
                },
                Some(LogItem::Lost(l)) => {
                    if lost_due(&mut self.next, &l) {
                        return Ok(Some(f(MergedFrom::Live, LogItem::Lost(l))));
                    }
                }
                None => return Ok(None),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}
