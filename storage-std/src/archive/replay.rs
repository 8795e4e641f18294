//! The durable log as a [`ReplaySource`]: a [`LogReplay`] replays a recording through a
//! [`Cursor`] so that a [`MergingReader`](ringcore::broadcast::merge::MergingReader) can
//! bring a late subscriber from the archive into the live ring.

use std::ops::ControlFlow;
use std::sync::Arc;

use ringcore::broadcast::RecordView;
use ringcore::broadcast::merge::ReplaySource;
use ringcore::frame::FrameHeader;

use crate::error::Error;
use crate::reader::{Cursor, LogReader, Start};

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
