//! The [`Recorder`]: drains a gated broadcast reader (or an SPSC consumer) into a named
//! recording's log, keeping the ring's sequence numbers, and keeps the run manifest.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ringcore::broadcast::{Policy, ReadError, Reader, RecordView};
use ringcore::frame::FrameHeader;
use ringcore::spsc::{ConsumerOf, RingRef};

use crate::backend::Backend;
use crate::clock::now_ns;
use crate::writer::{RecordMeta, Writer};

use super::ArchiveError;
use super::anchor::{Anchor, write_anchor};
use super::manifest::{Manifest, RecordingState};
use super::save_manifest;

/// The longest [`Recorder::store_anchor`] waits for its sequence to become durable.
const ANCHOR_WAIT: Duration = Duration::from_secs(5);

/// What a recorder publishes about its recording while it runs: positions and whether it
/// stopped. Shared (`Arc`) with replays and status queries in the same process.
#[derive(Debug)]
pub struct RecordingStatus {
    /// One past the last sequence appended.
    appended_end: AtomicU64,
    /// One past the last sequence known durable.
    durable_end: AtomicU64,
    stopped: AtomicBool,
}

impl RecordingStatus {
    fn new(next_seq: u64) -> Self {
        RecordingStatus {
            appended_end: AtomicU64::new(next_seq),
            durable_end: AtomicU64::new(next_seq),
            stopped: AtomicBool::new(false),
        }
    }

    /// One past the last sequence the recorder appended.
    pub fn appended_end(&self) -> u64 {
        self.appended_end.load(Ordering::Acquire)
    }

    /// One past the last sequence the recorder knows durable.
    pub fn durable_end(&self) -> u64 {
        self.durable_end.load(Ordering::Acquire)
    }

    /// Whether the recorder stopped (cleanly or not): nothing more will be appended.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// What one [`Recorder`] drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// This many records were appended.
    Records(usize),
    /// The ring had nothing new.
    Empty,
    /// The ring's writer closed it and everything was recorded.
    Closed,
}

/// Records a stream into a recording of a [`super::Catalog`]: each record keeps its
/// sequence number, so the ring's writer must number its records from
/// [`Recorder::next_seq`] (see `ringcore::broadcast::Writer::set_next_seq`). Stop it with
/// [`Recorder::stop`], which seals the manifest; a recorder dropped without `stop` closes
/// its log but leaves the manifest `Running`, which the catalog reports as interrupted and
/// recovers on the next extend.
pub struct Recorder {
    writer: Option<Writer>,
    dir: Arc<dyn Backend>,
    anchors: Arc<dyn Backend>,
    manifest: Manifest,
    status: Arc<RecordingStatus>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("recording", &self.manifest.name)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder appending to `writer`; `manifest` was written `Running` in `dir`.
    /// `next` is the sequence the log appends next (from its recovery).
    pub(super) fn new(
        writer: Writer,
        dir: Arc<dyn Backend>,
        anchors: Arc<dyn Backend>,
        manifest: Manifest,
        next: u64,
    ) -> Self {
        Recorder {
            writer: Some(writer),
            dir,
            anchors,
            manifest,
            status: Arc::new(RecordingStatus::new(next)),
        }
    }

    fn writer(&self) -> &Writer {
        self.writer
            .as_ref()
            .expect("a recorder's writer lives until stop")
    }

    /// The sequence the next recorded record must have.
    pub fn next_seq(&self) -> u64 {
        self.status.appended_end()
    }

    /// The recording's status, to share with replays ([`super::LogReplay::new`]) and
    /// queries while it is written.
    pub fn status(&self) -> Arc<RecordingStatus> {
        self.status.clone()
    }

    /// The recording's manifest as last written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Appends one record, checking that it has the sequence due.
    fn append(&mut self, header: &FrameHeader, payload: &[u8]) -> Result<(), ArchiveError> {
        let expected = self.status.appended_end();
        if header.seq != expected {
            return Err(ArchiveError::SeqMismatch {
                expected,
                found: header.seq,
            });
        }
        let meta = RecordMeta {
            kind: header.kind,
            flags: header.flags,
            timestamp_ns: Some(header.timestamp_ns),
        };
        let seq = self.writer().append_with(payload, meta)?;
        if seq != expected {
            return Err(ArchiveError::SeqMismatch {
                expected: seq,
                found: header.seq,
            });
        }
        if self.manifest.first_seq.is_none() {
            self.manifest.first_seq = Some(seq);
        }
        self.status.appended_end.store(seq + 1, Ordering::Release);
        Ok(())
    }

    /// Notes how far the log is durable, without waiting.
    fn note_durable(&self) {
        let end = self.status.appended_end();
        if end > self.status.durable_end()
            && self
                .writer()
                .wait_durable(end - 1, Some(Duration::ZERO))
                .is_ok()
        {
            self.status.durable_end.store(end, Ordering::Release);
        }
    }

    /// Drains up to `max` records of a broadcast reader into the recording. A lapped
    /// reader (an overwrite ring) is an error: the recording would have a gap.
    pub fn drain_broadcast<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
        &mut self,
        reader: &mut Reader<'_, P, N, PAYLOAD, R>,
        max: usize,
    ) -> Result<Drained, ArchiveError> {
        let mut failure = None;
        let result = reader.read_batch_until(max, |e: RecordView<'_>| {
            match self.append(&e.header, e.payload) {
                Ok(()) => ControlFlow::Continue(()),
                Err(err) => {
                    failure = Some(err);
                    ControlFlow::Break(())
                }
            }
        });
        if let Some(err) = failure {
            return Err(err);
        }
        let drained = match result {
            Ok(n) => Drained::Records(n),
            Err(ReadError::Empty) => Drained::Empty,
            Err(ReadError::Closed) => Drained::Closed,
            Err(ReadError::Lagged(lost)) => {
                return Err(ArchiveError::Lapped {
                    at: self.status.appended_end(),
                    lost: lost as u64,
                });
            }
        };
        self.note_durable();
        Ok(drained)
    }

    /// Drains up to `max` records of an SPSC consumer into the recording.
    pub fn drain_spsc<Q: RingRef>(
        &mut self,
        consumer: &mut ConsumerOf<Q>,
        max: usize,
    ) -> Result<Drained, ArchiveError> {
        let mut n = 0;
        while n < max.max(1) {
            let Some(record) = consumer.read() else { break };
            // A reference on little-endian targets, a value on big-endian ones.
            let header: FrameHeader =
                std::borrow::Borrow::<FrameHeader>::borrow(&record.header()).to_owned();
            self.append(&header, record.payload())?;
            n += 1;
        }
        self.note_durable();
        Ok(if n == 0 {
            Drained::Empty
        } else {
            Drained::Records(n)
        })
    }

    /// Records a broadcast reader until its ring is closed, sleeping `idle` while it is
    /// empty; returns how many records were recorded.
    pub fn record_until_closed<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
        &mut self,
        reader: &mut Reader<'_, P, N, PAYLOAD, R>,
        idle: Duration,
    ) -> Result<u64, ArchiveError> {
        let mut total = 0u64;
        loop {
            match self.drain_broadcast(reader, 4096)? {
                Drained::Records(n) => total += n as u64,
                Drained::Empty => std::thread::sleep(idle),
                Drained::Closed => return Ok(total),
            }
        }
    }

    /// Stores a snapshot anchor: `snapshot` reflects the recording up to `seq`, which
    /// must be durable (a snapshot newer than the durable log is refused: a power cut
    /// could take the records it reflects away). A sequence appended but not yet durable
    /// is waited for, at most `ANCHOR_WAIT`.
    pub fn store_anchor(&self, seq: u64, snapshot: &[u8]) -> Result<Anchor, ArchiveError> {
        if seq < self.status.appended_end()
            && self.writer().wait_durable(seq, Some(ANCHOR_WAIT)).is_ok()
        {
            self.status.durable_end.fetch_max(seq + 1, Ordering::AcqRel);
        }
        self.note_durable();
        let durable_end = self.status.durable_end();
        if seq >= durable_end {
            return Err(ArchiveError::AnchorAhead { seq, durable_end });
        }
        let anchor = Anchor {
            seq,
            created_ns: now_ns(),
            snapshot: snapshot.to_vec(),
        };
        write_anchor(&*self.anchors, &anchor)?;
        Ok(anchor)
    }

    /// Syncs everything appended, seals the manifest (state `Sealed`, end time, last
    /// sequence) and closes the log. The manifest is written while the writer still
    /// holds the log's lock: a recorder that extends the recording the moment the lock
    /// goes must find this run's manifest sealed, and nothing may be written over its
    /// own afterwards. Returns the sealed manifest.
    pub fn stop(mut self) -> Result<Manifest, ArchiveError> {
        let writer = self.writer.take().expect("stop runs once");
        let synced = match writer.sync() {
            Ok(s) => s,
            Err(e) => {
                // Nothing sealed: the manifest stays `Running` (an interrupted run).
                let _ = writer.close();
                self.status.stopped.store(true, Ordering::Release);
                return Err(e.into());
            }
        };
        let mut sealed = self.manifest.clone();
        sealed.state = RecordingState::Sealed;
        sealed.ended_ns = Some(now_ns());
        sealed.last_seq = synced;
        // Everything appended is durable now, so the chain's digest is the final one.
        sealed.final_digest = writer
            .stats()
            .chain
            .filter(|c| Some(c.0) == synced)
            .map(|c| crate::format::chain::to_hex(&c.1));
        let saved = save_manifest(&*self.dir, &sealed);
        let closed = writer.close();
        self.status.stopped.store(true, Ordering::Release);
        saved?;
        self.manifest = sealed;
        // A close that fails after the seal: everything appended was synced, which the
        // manifest names; a later recovery repairs what the close left unfinished.
        closed?;
        self.status
            .durable_end
            .store(self.status.appended_end(), Ordering::Release);
        Ok(self.manifest.clone())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Not stopped: the writer's drop closes the log; the manifest stays `Running`.
        drop(self.writer.take());
        self.status.stopped.store(true, Ordering::Release);
    }
}
