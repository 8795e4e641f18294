//! A ring drained straight into the durable log: [`LogSink`] is a
//! [`ringcore::dispatch::EventConsumer`] that appends every record a dispatcher hands it
//! to a [`Writer`], with the record's kind, flags, timestamp and payload.
//!
//! The log numbers records itself: the log's sequences follow the order the sink saw
//! them in, gap-free, whatever the ring's sequences were. [`LogSink::last_seq`] is the
//! log sequence of the last record appended, to wait on ([`Writer::wait_durable`]).
//! Appends go through the writer's single producer (an [`Appender`], no lock per
//! record), so while a sink exists, other appends to the writer return
//! [`Error::ProducerBusy`].
//!
//! ```
//! use ringcore::dispatch::{Dispatcher, ErrorPolicy};
//! use ringcore::spsc::{Ring, RecordView};
//! use storage_std::dispatch::LogSink;
//! use storage_std::{Durability, Error, Writer, WriterOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
//! let ring = Ring::<1024>::new();
//! let (mut p, mut c) = ring.try_split(0).unwrap();
//! p.push(3, 1_000, b"sensor 1").unwrap();
//! p.push(3, 2_000, b"sensor 2").unwrap();
//!
//! // Alone: drain up to 64 records into the log.
//! let mut sink = LogSink::new(&w).unwrap();
//! assert_eq!(sink.drain(&mut c, 64).unwrap(), 2);
//!
//! // Or next to other consumers of the same ring, in one dispatcher.
//! p.push(3, 3_000, b"sensor 3").unwrap();
//! let mut seen = 0;
//! let mut count = |_: RecordView<'_>| -> Result<(), Error> { seen += 1; Ok(()) };
//! let mut d = Dispatcher::new([&mut sink, &mut count], ErrorPolicy::Stop);
//! assert!(d.dispatch(&mut c, 64).unwrap().is_clean());
//! drop(d);
//! let last = sink.last_seq().unwrap();
//! drop(sink);
//! w.wait_durable(last, None).unwrap();
//! assert_eq!((seen, last, w.durable_seq()), (1, 2, Some(2)));
//! ```

use ringcore::dispatch::{Dispatcher, ErrorPolicy, EventConsumer, EventSource};
use ringcore::spsc::RecordView;

use crate::error::{Error, Result};
use crate::writer::{Appender, DEFAULT_QUEUE_BYTES, RecordMeta, Writer};

/// Appends every record it is handed to a log (see the [module docs](self)).
#[derive(Debug)]
pub struct LogSink<'w, const N: usize = DEFAULT_QUEUE_BYTES> {
    appender: Appender<'w, N>,
    last_seq: Option<u64>,
    appended: u64,
}

/// Why [`LogSink::drain`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrainError<E> {
    /// The ring's error; no record was taken (see
    /// [`EventSource`]).
    #[error("the ring: {0:?}")]
    Source(E),
    /// The log refused a record: it is out of the ring and not in the log. After a
    /// fail-stop ([`Error::Stopped`]) every later append fails too.
    #[error("appending ring record {ring_seq} to the log")]
    Log {
        /// The ring's sequence of the record the log refused.
        ring_seq: u64,
        /// What the writer returned.
        #[source]
        error: Error,
    },
}

impl<'w, const N: usize> LogSink<'w, N> {
    /// A sink appending to `writer`, through its producer (taken until the sink is
    /// dropped; [`Error::ProducerBusy`] if an [`Appender`] is out).
    pub fn new(writer: &'w Writer<N>) -> Result<Self> {
        Ok(Self {
            appender: writer.appender()?,
            last_seq: None,
            appended: 0,
        })
    }

    /// The log sequence of the last record this sink appended.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// How many records this sink appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// The writer this sink appends to.
    pub fn writer(&self) -> &'w Writer<N> {
        self.appender.writer()
    }

    /// Takes up to `max` records from `source` and appends them, in order; returns how
    /// many. Stops at the first record the log refuses (the records before it are
    /// appended, those after it stay in the ring).
    pub fn drain<S: EventSource>(
        &mut self,
        source: &mut S,
        max: usize,
    ) -> std::result::Result<usize, DrainError<S::Error>> {
        let mut d = Dispatcher::new(
            [self as &mut dyn EventConsumer<Error = Error>],
            ErrorPolicy::Stop,
        );
        let outcome = d.dispatch(source, max).map_err(DrainError::Source)?;
        match outcome.first_fault {
            Some(f) => Err(DrainError::Log {
                ring_seq: f.seq,
                error: f.error,
            }),
            None => Ok(outcome.records),
        }
    }
}

impl<const N: usize> EventConsumer for LogSink<'_, N> {
    type Error = Error;

    fn consume(&mut self, view: RecordView<'_>) -> Result<()> {
        let meta = RecordMeta {
            kind: view.header.kind,
            flags: view.header.flags,
            timestamp_ns: Some(view.header.timestamp_ns),
        };
        let seq = self.appender.append_with(view.payload, meta)?;
        self.last_seq = Some(seq);
        self.appended += 1;
        Ok(())
    }
}
