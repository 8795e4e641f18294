//! `async` waiting on an SPSC ring (feature `async`): a consumer task awaits
//! [`ConsumerOf::readable`], a producer task awaits [`ProducerOf::writable`], with any
//! executor (the handshake is in `ringcore::waker`).
//!
//! # Which calls wake a waiting task
//!
//! The fast paths (`grant`/`commit`, `push`, batches, `publish`, dropping a record or a
//! read batch) never notify: that would cost them a read-modify-write per call. After
//! publishing, a producer whose consumer may be waiting calls
//! [`ProducerOf::wake_consumer`] (or publishes with [`ProducerOf::push_async`], which
//! does); after releasing, a consumer whose producer may be waiting calls
//! [`ConsumerOf::wake_producer`]. Dropping either handle always wakes the other side,
//! which then finds the ring closed ([`Closed`], [`RoomError::Closed`]). A waiting task
//! that is woken re-checks its condition, so a wake-up too many is harmless; a missing
//! `wake_*` call is the only way to leave a task waiting.
//!
//! ```
//! use core::future::Future;
//! use core::pin::pin;
//! use core::task::{Context, Poll, Waker};
//! use ringcore::spsc::Ring;
//!
//! let ring = Ring::<256>::new();
//! let (mut p, mut c) = ring.try_split(0).unwrap();
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut readable = pin!(c.readable());
//! assert!(readable.as_mut().poll(&mut cx).is_pending());
//! p.push(0, 0, b"event").unwrap();
//! p.wake_consumer();
//! assert_eq!(readable.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
//! ```

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::consumer::ConsumerOf;
use super::place::{self, Placement};
use super::producer::ProducerOf;
use super::ring::RingRef;
use super::ring::private::RingStorage;
use crate::sync::{AtomicBool, Ordering, atomic_bool, const_unless_loom};
use crate::waker::{AsyncSignal, Registration};

/// The async state every SPSC ring carries with the feature on: one waker slot per side
/// and whether each side's handle is gone. All-zero bytes are its initial value.
#[derive(Debug)]
pub(crate) struct Tasks {
    /// The consumer waits here for records; the producer notifies.
    readable: AsyncSignal<1>,
    /// The producer waits here for room; the consumer notifies.
    writable: AsyncSignal<1>,
    producer_gone: AtomicBool,
    consumer_gone: AtomicBool,
}

impl Tasks {
    const_unless_loom! {
        pub(crate) fn new() -> Self {
            Self {
                readable: AsyncSignal::new(),
                writable: AsyncSignal::new(),
                producer_gone: atomic_bool(false),
                consumer_gone: atomic_bool(false),
            }
        }
    }

    /// New handles are being handed out (no handle of this ring is live).
    pub(crate) fn reopen(&self) {
        // Relaxed: no handle runs concurrently; whatever stored them happened before.
        self.producer_gone.store(false, Ordering::Relaxed);
        self.consumer_gone.store(false, Ordering::Relaxed);
        // A future forgotten with the previous handles keeps no slot.
        self.readable.reset();
        self.writable.reset();
    }

    /// The producer is dropped (after its last publication).
    pub(crate) fn producer_gone(&self) {
        // Release: a consumer that sees the flag also sees the last publication.
        self.producer_gone.store(true, Ordering::Release);
        self.readable.notify();
    }

    fn consumer_gone(&self) {
        // Release: for symmetry; the producer only stops on it.
        self.consumer_gone.store(true, Ordering::Release);
        self.writable.notify();
    }
}

/// The producer was dropped and every record it published was read (or taken): nothing
/// more will come.
///
/// ```
/// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
/// let ring = ringcore::spsc::Ring::<64>::new();
/// let (p, mut c) = ring.try_split(0).unwrap();
/// drop(p);
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(pin!(c.readable()).poll(&mut cx), Poll::Ready(Err(ringcore::spsc::Closed)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl core::fmt::Display for Closed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the other handle of the ring was dropped")
    }
}

impl core::error::Error for Closed {}

/// Why [`ProducerOf::writable`] (or [`ProducerOf::push_async`]) will never find room.
///
/// ```
/// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
/// use ringcore::spsc::{Ring, RoomError};
/// let ring = Ring::<64>::new();
/// let (mut p, c) = ring.try_split(0).unwrap();
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(
///     pin!(p.writable(17)).poll(&mut cx),
///     Poll::Ready(Err(RoomError::TooLarge { len: 17, max: 16 }))
/// );
/// drop(c);
/// assert_eq!(pin!(p.writable(1)).poll(&mut cx), Poll::Ready(Err(RoomError::Closed)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomError {
    /// The consumer was dropped: nobody will read what is written.
    Closed,
    /// The record exceeds half the ring (as [`PushError::TooLarge`](super::PushError)).
    TooLarge {
        /// The requested length.
        len: usize,
        /// The largest length this ring accepts.
        max: usize,
    },
}

impl core::fmt::Display for RoomError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Closed => f.write_str("the consumer was dropped"),
            Self::TooLarge { len, max } => {
                write!(f, "record of {len} bytes can never fit (largest is {max})")
            }
        }
    }
}

impl core::error::Error for RoomError {}

/// The future of [`ConsumerOf::readable`]: ready with `Ok(())` once a record (or a raw
/// range) can be read, with `Err(Closed)` once the producer is gone and everything was
/// read.
///
/// ```
/// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
/// let ring = ringcore::spsc::Ring::<64>::new();
/// let (_p, mut c) = ring.try_split(0).unwrap();
/// let readable: ringcore::spsc::Readable<'_, _> = c.readable();
/// assert!(pin!(readable).poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Readable<'c, R: RingRef> {
    consumer: &'c mut ConsumerOf<R>,
    registration: Registration,
}

impl<R: RingRef> core::fmt::Debug for Readable<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Readable").finish_non_exhaustive()
    }
}

impl<R: RingRef> Future for Readable<'_, R> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let ring = this.consumer.ring.ring();
        let cursors = ring.cursors();
        let pos = this.consumer.cursor.pos();
        // Acquire on every load: the loads after a registration must see what the
        // notification that registration acquired covers (the handshake).
        let published = || cursors.producer.write.load(Ordering::Acquire) != pos;
        cursors
            .tasks
            .readable
            .poll_until(&mut this.registration, cx, || {
                if published() {
                    Some(Ok(()))
                } else if cursors.tasks.producer_gone.load(Ordering::Acquire) {
                    // The flag is stored after the last publication: look once more.
                    Some(if published() { Ok(()) } else { Err(Closed) })
                } else {
                    None
                }
            })
    }
}

impl<R: RingRef> Drop for Readable<'_, R> {
    fn drop(&mut self) {
        let tasks = &self.consumer.ring.ring().cursors().tasks;
        tasks.readable.finish(&mut self.registration);
    }
}

/// The future of [`ProducerOf::writable`] and [`ProducerOf::writable_raw`]: ready with
/// `Ok(())` once the record fits (the next grant of that length succeeds), with an error
/// if it never will.
///
/// ```
/// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
/// let ring = ringcore::spsc::Ring::<64>::new();
/// let (mut p, _c) = ring.try_split(0).unwrap();
/// let room: ringcore::spsc::Writable<'_, _> = p.writable(8);
/// assert_eq!(pin!(room).poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(Ok(())));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Writable<'p, R: RingRef> {
    producer: &'p mut ProducerOf<R>,
    /// Bytes the record takes in the ring, or why it never fits.
    rec: Result<usize, RoomError>,
    registration: Registration,
}

impl<R: RingRef> core::fmt::Debug for Writable<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writable")
            .field("record", &self.rec)
            .finish_non_exhaustive()
    }
}

impl<R: RingRef> Future for Writable<'_, R> {
    type Output = Result<(), RoomError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rec = match this.rec {
            Ok(rec) => rec,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let ring = this.producer.ring.ring();
        let cursors = ring.cursors();
        let (pos, cap) = (this.producer.cursor.pos, ring.capacity());
        cursors
            .tasks
            .writable
            .poll_until(&mut this.registration, cx, || {
                // Acquire, as in `Readable`.
                if cursors.tasks.consumer_gone.load(Ordering::Acquire) {
                    return Some(Err(RoomError::Closed));
                }
                let read = cursors.read.load(Ordering::Acquire);
                (place::place(pos, read, cap, rec) != Placement::Full).then_some(Ok(()))
            })
    }
}

impl<R: RingRef> Drop for Writable<'_, R> {
    fn drop(&mut self) {
        let tasks = &self.producer.ring.ring().cursors().tasks;
        tasks.writable.finish(&mut self.registration);
    }
}

impl<R: RingRef> ConsumerOf<R> {
    /// Waits until something is published past what this consumer read (a framed record,
    /// or raw bytes for [`take_raw`](ConsumerOf::take_raw)), or the producer is gone with
    /// nothing left (`Err(Closed)`). Woken by [`ProducerOf::wake_consumer`],
    /// [`ProducerOf::push_async`] and the producer's drop, not by the fast paths (module
    /// docs of `spsc::asynch`, in the [`spsc`](super) docs' async section).
    ///
    /// ```
    /// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"ready").unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(pin!(c.readable()).poll(&mut cx), Poll::Ready(Ok(())));
    /// assert_eq!(c.read().unwrap().payload(), b"ready");
    /// ```
    pub fn readable(&mut self) -> Readable<'_, R> {
        Readable {
            consumer: self,
            registration: Registration::new(),
        }
    }

    /// Wakes the producer's task if it waits for room ([`ProducerOf::writable`]). Call it
    /// after releasing records (dropping them or a read batch, or
    /// [`release_raw`](ConsumerOf::release_raw)); one read-modify-write when nobody waits.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"x").unwrap();
    /// c.read_batch(usize::MAX).count();
    /// c.wake_producer();
    /// ```
    pub fn wake_producer(&self) {
        self.ring.ring().cursors().tasks.writable.notify();
    }
}

impl<R: RingRef> Drop for ConsumerOf<R> {
    fn drop(&mut self) {
        // A producer task waiting for room wakes to find the ring closed.
        self.ring.ring().cursors().tasks.consumer_gone();
    }
}

impl<R: RingRef> ProducerOf<R> {
    /// Waits until a framed record of `len` payload bytes fits: the next
    /// [`grant`](ProducerOf::grant)`(len)` (or `push`) succeeds. `Err` if it never will:
    /// the record is too large for the ring, or the consumer is gone. Woken by
    /// [`ConsumerOf::wake_producer`] and the consumer's drop, not by the consumer's fast
    /// paths. Publish staged records before waiting: the consumer cannot free room for
    /// records it cannot see.
    ///
    /// ```
    /// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// let ring = ringcore::spsc::Ring::<64>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, &[0; 8]).unwrap();
    /// p.push(0, 0, &[0; 8]).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut room = pin!(p.writable(8));
    /// assert!(room.as_mut().poll(&mut cx).is_pending());
    /// c.read().unwrap();
    /// c.wake_producer();
    /// assert_eq!(room.poll(&mut cx), Poll::Ready(Ok(())));
    /// ```
    pub fn writable(&mut self, len: usize) -> Writable<'_, R> {
        let max = self.max_payload();
        let rec = if len > max {
            Err(RoomError::TooLarge { len, max })
        } else {
            Ok(place::framed_len(len))
        };
        Writable {
            producer: self,
            rec,
            registration: Registration::new(),
        }
    }

    /// [`ProducerOf::writable`] for a raw record of `len` bytes (see
    /// [`grant_raw`](ProducerOf::grant_raw)).
    ///
    /// ```
    /// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// let ring = ringcore::spsc::Ring::<64>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(pin!(p.writable_raw(32)).poll(&mut cx), Poll::Ready(Ok(())));
    /// assert!(pin!(p.writable_raw(0)).poll(&mut cx).is_ready(), "never fits: an error");
    /// ```
    pub fn writable_raw(&mut self, len: usize) -> Writable<'_, R> {
        let max = self.capacity() / 2;
        let rec = if len > max || len == 0 {
            Err(RoomError::TooLarge { len, max })
        } else {
            Ok(place::align(len))
        };
        Writable {
            producer: self,
            rec,
            registration: Registration::new(),
        }
    }

    /// Wakes the consumer's task if it waits for records ([`ConsumerOf::readable`]). Call
    /// it after publishing (a commit, `push`, a batch's drop, [`ProducerOf::publish`]);
    /// one read-modify-write when nobody waits.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"x").unwrap();
    /// p.wake_consumer();
    /// ```
    pub fn wake_consumer(&self) {
        self.ring.ring().cursors().tasks.readable.notify();
    }

    /// Waits for room ([`ProducerOf::writable`]), pushes the record and wakes the
    /// consumer; returns the record's sequence.
    ///
    /// ```
    /// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(3).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(pin!(p.push_async(1, 0, b"abc")).poll(&mut cx), Poll::Ready(Ok(3)));
    /// assert_eq!(c.read().unwrap().payload(), b"abc");
    /// ```
    pub async fn push_async(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, RoomError> {
        loop {
            self.writable(payload.len()).await?;
            // Only the consumer moves the free space, and only up: after `writable` the
            // push fits. Loop anyway rather than trust it.
            if let Ok(seq) = self.push(kind, timestamp_ns, payload) {
                self.wake_consumer();
                return Ok(seq);
            }
        }
    }
}

#[cfg(test)]
mod tests;
