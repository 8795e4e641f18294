//! `async` waiting (feature `async`), with any executor: a future that resolves once a
//! sequence is durable ([`Writer::durable`]) and a [`Stream`](futures_core::Stream) of a
//! live log ([`Writer::follow`]).
//!
//! They wait the way ringcore's `async` feature does: a task registers its waker where
//! the writer thread wakes the threads blocked in [`Writer::wait_durable`] or
//! [`crate::Cursor::next_wait`] (each time the durable or written point moves, and at a
//! fail-stop or close), then checks its condition once more, so a watermark that moved
//! between the first check and the registration is never missed. No runtime, no thread
//! and no timer of their own: put a runtime's timeout around them to bound a wait.
//!
//! ```
//! # fn main() -> storage_std::Result<()> {
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//! use storage_std::{Durability, Writer, WriterOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::None))?;
//! let seq = w.append(b"hello")?;
//! let mut durable = pin!(w.durable(seq));
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(durable.as_mut().poll(&mut cx).is_pending()); // `None`: durable at a sync
//! w.sync()?;
//! assert!(matches!(durable.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Result};
use crate::progress::{Progress, ReadLimit};
use crate::reader::{Cursor, LogItem, Start};
use crate::writer::Writer;

/// Checks `ready`, registers the task's waker under `key`, and checks `ready` again:
/// whatever moved between the two checks woke nobody, whatever moves after the
/// registration wakes the task.
fn poll_ready<R>(
    progress: &Progress,
    key: &mut Option<u64>,
    cx: &mut Context<'_>,
    mut ready: impl FnMut() -> Option<R>,
) -> Poll<R> {
    if let Some(r) = ready() {
        return Poll::Ready(r);
    }
    progress.register(key, cx.waker());
    match ready() {
        Some(r) => Poll::Ready(r),
        None => Poll::Pending,
    }
}

/// A registration that is forgotten when its future is dropped.
#[derive(Debug)]
struct Registration<'a> {
    progress: &'a Progress,
    key: Option<u64>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.progress.unregister(k);
        }
    }
}

/// Resolves once a sequence is durable ([`Writer::durable`]).
#[derive(Debug)]
#[must_use = "a future does nothing unless polled"]
pub struct Durable<'w, const N: usize> {
    writer: &'w Writer<N>,
    seq: u64,
    reg: Registration<'w>,
}

impl<const N: usize> Future for Durable<'_, N> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let (w, seq) = (this.writer, this.seq);
        poll_ready(this.reg.progress, &mut this.reg.key, cx, || {
            w.durable_outcome(seq)
        })
    }
}

/// A live log as a [`Stream`](futures_core::Stream) ([`Writer::follow`]).
pub struct Follow<'w, const N: usize, F> {
    writer: &'w Writer<N>,
    cursor: Cursor,
    limit: ReadLimit,
    map: F,
    reg: Registration<'w>,
    finished: bool,
}

impl<const N: usize, F> std::fmt::Debug for Follow<'_, N, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("cursor", &self.cursor)
            .field("limit", &self.limit)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Writer<N> {
    /// A future that resolves once `seq` is durable: `Ok` when every sequence up to and
    /// including `seq` is ([`Writer::wait_durable`]'s meaning), [`Error::Stopped`] with
    /// the cause if the writer fail-stops first, [`Error::Closed`] if it closed without
    /// making `seq` durable (it was never appended). No timeout of its own: wrap it in
    /// the runtime's. With [`crate::Durability::None`] only a sync, a roll or close
    /// makes records durable.
    pub fn durable(&self, seq: u64) -> Durable<'_, N> {
        Durable {
            writer: self,
            seq,
            reg: Registration {
                progress: self.progress(),
                key: None,
            },
        }
    }

    /// Follows the log from `start` as a [`Stream`](futures_core::Stream): each record
    /// (or lost range) once it is below `limit`'s watermark, passed through `map` (the
    /// record borrows the cursor; `map` copies out what the caller keeps). Pending
    /// while the writer has nothing more (the stream borrows the writer, so it cannot
    /// close meanwhile); after a fail-stop it yields what was below the watermark, then
    /// [`Error::Stopped`] once, then ends. Damage is an error item.
    ///
    /// ```
    /// # fn main() -> storage_std::Result<()> {
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use futures_core::Stream;
    /// use storage_std::{Durability, LogItem, ReadLimit, Start, Writer, WriterOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::None))?;
    /// let mut s = pin!(w.follow(ReadLimit::Durable, Start::Oldest, |item| match item {
    ///     LogItem::Record(r) => r.payload.to_vec(),
    ///     LogItem::Lost(_) => Vec::new(),
    /// })?);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(s.as_mut().poll_next(&mut cx).is_pending());
    /// w.append(b"first")?;
    /// w.sync()?;
    /// assert!(matches!(s.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(p))) if p == b"first"));
    /// # Ok(()) }
    /// ```
    pub fn follow<T, F>(&self, limit: ReadLimit, start: Start, map: F) -> Result<Follow<'_, N, F>>
    where
        F: FnMut(LogItem<'_>) -> T,
    {
        Ok(Follow {
            writer: self,
            cursor: self.reader(limit).cursor(start)?,
            limit,
            map,
            reg: Registration {
                progress: self.progress(),
                key: None,
            },
            finished: false,
        })
    }
}

impl<const N: usize, T, F: FnMut(LogItem<'_>) -> T> Follow<'_, N, F> {
    /// The sequence of the next record this stream yields.
    pub fn next_seq(&self) -> u64 {
        self.cursor.next_seq()
    }

    /// The next item, as [`futures_core::Stream::poll_next`] gives it (for callers
    /// without a `StreamExt`).
    pub async fn next_item(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        // Twice at most: a watermark that moves while we register is read at once; more
        // than that yields to the executor (woken again at once) rather than spin in it.
        for _ in 0..2 {
            match self.cursor.next_item() {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(item)) => return Poll::Ready(Some(Ok((self.map)(item)))),
                Ok(None) => {}
            }
            let (p, limit, want) = (self.reg.progress, self.limit, self.cursor.next_seq());
            let moved = poll_ready(p, &mut self.reg.key, cx, || {
                (p.end(limit) > want || p.is_done()).then_some(())
            });
            if moved.is_pending() {
                return Poll::Pending;
            }
            if p.is_done() && p.end(limit) <= want {
                self.finished = true;
                return Poll::Ready(match self.writer.durable_outcome(want) {
                    Some(Err(e @ Error::Stopped(_))) => Some(Err(e)),
                    _ => None,
                });
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<const N: usize, T, F: FnMut(LogItem<'_>) -> T + Unpin> futures_core::Stream
    for Follow<'_, N, F>
{
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.get_mut().poll_item(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The lost wake-up: the watermark moves after the first check and before the
    /// registration. Its `notify` finds no waker, so only the second check can see it.
    #[test]
    fn a_watermark_moving_between_the_check_and_the_registration_is_not_missed() {
        let progress = Progress::new(0);
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut key = None;
        let mut checks = 0;
        let polled = poll_ready(&progress, &mut key, &mut cx, || {
            checks += 1;
            let durable = progress.durable_end() > 0;
            if checks == 1 {
                progress.set_durable(1); // the writer, just after this check
            }
            durable.then_some(())
        });
        assert!(
            polled.is_ready() || counter.0.load(Ordering::SeqCst) > 0,
            "pending with nobody left to wake it: a lost wake-up"
        );
        assert!(polled.is_ready());
    }

    #[test]
    fn a_registered_task_is_woken_once_per_change_and_forgotten_when_dropped() {
        let progress = Progress::new(0);
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut reg = Registration {
            progress: &progress,
            key: None,
        };
        let p: Poll<()> = poll_ready(&progress, &mut reg.key, &mut cx, || None);
        assert!(p.is_pending());
        // A second poll updates the registration: one waker, not two.
        let _ = poll_ready::<()>(&progress, &mut reg.key, &mut cx, || None);
        progress.set_durable(1);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        progress.set_durable(2); // not registered again: not woken again
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        let _ = poll_ready::<()>(&progress, &mut reg.key, &mut cx, || None);
        drop(reg);
        progress.set_durable(3);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "dropped: forgotten");
    }
}
