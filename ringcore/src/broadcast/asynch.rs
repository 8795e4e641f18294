//! `async` waiting for a broadcast reader (feature `async`): [`Reader::ready`] resolves
//! once the reader has an event to read (or a loss to report), or the ring is closed.
//!
//! # Which calls wake a waiting reader
//!
//! A reader task waits on the ring's readers' [`Signal`](crate::wait::Signal), with a
//! waker where a [`Blocking`](crate::wait) thread would sleep, so it is woken exactly
//! where such a thread is: by [`Writer::publish_wait`] and [`Writer::claim_wait`] with a
//! strategy that notifies (`Blocking`; `BusySpin` and `SpinThenYield` notify nobody), by
//! [`Writer::wake_readers`] (call it after [`Writer::try_publish`] or
//! [`Writer::try_claim`], which never notify), and by the writer's drop, which closes the
//! ring. Up to 8 reader tasks per ring wait with a waker slot each; more are polled again
//! at once by their executor instead (they spin, they do not hang).
//!
//! In a gated ring, a writer that sleeps for room with `Blocking` is woken by readers'
//! `*_wait` reads, by a reader leaving, and by [`Reader::wake_writer`] (call it after
//! reading with `try_read` or `read_batch`).
//!
//! ```
//! use core::future::Future;
//! use core::pin::pin;
//! use core::task::{Context, Poll, Waker};
//! use ringcore::broadcast::GatedRing;
//!
//! let ring = GatedRing::<8, 8, 2>::new();
//! let mut w = ring.try_writer().unwrap();
//! let mut r = ring.join().unwrap();
//! let mut cx = Context::from_waker(Waker::noop());
//! {
//!     let mut ready = pin!(r.ready());
//!     assert!(ready.as_mut().poll(&mut cx).is_pending());
//!     w.try_publish(0, 0, b"event").unwrap();
//!     w.wake_readers();
//!     assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
//! }
//! assert_eq!(r.try_read(|e| e.payload.to_vec()).unwrap(), b"event");
//! ```

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{Policy, ReadError, Reader, Writer};
use crate::sync::Ordering;
use crate::waker::Registration;

/// The future of [`Reader::ready`]: ready with `Ok(())` once the reader has an event (or
/// a loss) to read, with `Err(ReadError::Closed)` once the writer is gone and every event
/// was read.
///
/// ```
/// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
/// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
/// let _w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// let ready: ringcore::broadcast::Ready<'_, '_, _, 4, 8, 1> = r.ready();
/// assert!(pin!(ready).poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Ready<'r, 'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    reader: &'r mut Reader<'a, P, N, PAYLOAD, R>,
    registration: Registration,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Ready<'_, '_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ready")
            .field("reader", &self.reader.id())
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Future
    for Ready<'_, '_, P, N, PAYLOAD, R>
{
    type Output = Result<(), ReadError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = &*this.reader;
        let ring = reader.ring();
        ring.head
            .readable
            .tasks
            .poll_until(&mut this.registration, cx, || {
                // `lag` loads `published` Relaxed: after the registration's read-modify-write
                // acquired a notification, coherence makes the load see the publication
                // the notification followed.
                if reader.lag() != 0 {
                    Some(Ok(()))
                } else if ring.settings.closed.load(Ordering::Acquire) {
                    // Acquire: pairs with the writer's Release when it closed; everything
                    // it published is visible below.
                    Some(if reader.lag() != 0 {
                        Ok(())
                    } else {
                        Err(ReadError::Closed)
                    })
                } else {
                    None
                }
            })
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Ready<'_, '_, P, N, PAYLOAD, R>
{
    fn drop(&mut self) {
        let signal = &self.reader.ring().head.readable;
        signal.tasks.finish(&mut self.registration);
    }
}

impl<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Reader<'a, P, N, PAYLOAD, R>
{
    /// Waits until this reader has something to read: an event, or (overwrite rings) a
    /// loss to report, which the next read returns as [`ReadError::Lagged`]. Resolves to
    /// `Err(ReadError::Closed)` once the writer is gone and every event was read.
    ///
    /// The task registers its waker on the readers' signal where a `Blocking` thread
    /// would sleep, so it is woken exactly where such a thread is: by
    /// [`Writer::publish_wait`] and [`Writer::claim_wait`] with a strategy that notifies
    /// (`Blocking`; `BusySpin` and `SpinThenYield` notify nobody), by
    /// [`Writer::wake_readers`] (call it after `try_publish` or `try_claim`, which never
    /// notify), and by the writer's drop, which closes the ring. Up to 8 reader tasks per
    /// ring wait with a waker slot each; more are polled again at once by their executor
    /// instead (they spin, they do not hang).
    ///
    /// ```
    /// # use core::{future::Future, pin::pin, task::{Context, Poll, Waker}};
    /// use ringcore::broadcast::{GatedRing, ReadError};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// drop(w);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(pin!(r.ready()).poll(&mut cx), Poll::Ready(Err(ReadError::Closed)));
    /// ```
    pub fn ready(&mut self) -> Ready<'_, 'a, P, N, PAYLOAD, R> {
        Ready {
            reader: self,
            registration: Registration::new(),
        }
    }

    /// Wakes a writer sleeping for room in a gated ring (`publish_wait` with `Blocking`):
    /// call it after reading with `try_read` or `read_batch`, which do not notify.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// r.try_read(|_| ()).unwrap();
    /// r.wake_writer();
    /// ```
    pub fn wake_writer(&self) {
        self.ring().writer.writable.notify();
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Writer<'_, P, N, PAYLOAD, R> {
    /// Wakes the readers waiting for events (tasks awaiting [`Reader::ready`] and threads
    /// sleeping in a `Blocking` wait): call it after publishing with `try_publish` or
    /// `try_claim`, which do not notify.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// w.wake_readers();
    /// ```
    pub fn wake_readers(&self) {
        self.ring().head.readable.notify();
    }
}

#[cfg(test)]
mod tests;
