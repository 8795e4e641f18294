//! How a thread waits when a broadcast ring or pool is full (writer) or empty (reader).
//!
//! The waiting half of [`broadcast::Writer::publish_wait`](crate::broadcast::Writer::publish_wait),
//! [`broadcast::Reader::read_wait`](crate::broadcast::Reader::read_wait) and the pool's
//! `*_wait` methods: a [`WaitStrategy`] hands out one [`Waiter`] per wait and is
//! [notified](Notify) by the other side. This module knows nothing about rings; it is
//! also reachable as `ringcore::broadcast::wait`.
//!
//! [`BusySpin`] is always available; `SpinThenYield` (the default to use:
//! it keeps throughput when there are more threads than cores) and `Blocking` need the
//! `std` feature.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use ringcore::broadcast::GatedRing;
//! use ringcore::wait::SpinThenYield;
//! static RING: GatedRing<1024, 64, 2> = GatedRing::new();
//! let wait = SpinThenYield::default();
//! let mut w = RING.try_writer().unwrap();
//! let mut r = RING.join().unwrap();
//! let consumer = std::thread::spawn(move || {
//!     let mut sum = 0u64;
//!     while let Ok(_) = r.read_batch_wait(&SpinThenYield::default(), 64, |e| sum += e.header.seq) {}
//!     sum
//! });
//! for _ in 0..1000 { w.publish_wait(&wait, 0, 0, b"x").unwrap(); }
//! drop(w);
//! assert_eq!(consumer.join().unwrap(), 999 * 1000 / 2);
//! # }
//! ```
#[cfg(all(feature = "std", not(test)))]
extern crate std;

/// Wakes threads that wait with a strategy (a no-op for spinning strategies).
pub trait Notify {
    /// Called after a writer published or a gated reader released slots.
    fn notify(&self);
}

/// The per-wait state of a [`WaitStrategy`].
pub trait Waiter {
    /// Called each time an attempt found nothing to do; waits a little (or until
    /// notified) before the next attempt.
    fn idle(&mut self);
}

/// A way to wait for the other side of a ring.
///
/// ```
/// use ringcore::wait::{BusySpin, WaitStrategy, Waiter};
/// let mut w = BusySpin.waiter();
/// w.idle();
/// ```
pub trait WaitStrategy: Notify {
    /// The state of one wait.
    type Waiter<'s>: Waiter
    where
        Self: 's;
    /// Starts a wait.
    fn waiter(&self) -> Self::Waiter<'_>;
}

/// Spins with a CPU hint between attempts. Lowest latency when every thread has its
/// own core; collapses when threads outnumber cores (use
/// [`SpinThenYield`](crate::wait) there). `no_std`.
///
/// ```
/// use ringcore::wait::{BusySpin, Notify};
/// BusySpin.notify();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BusySpin;

/// [`BusySpin`]'s waiter.
#[derive(Debug)]
pub struct Spinning;

impl Waiter for Spinning {
    #[inline]
    fn idle(&mut self) {
        crate::sync::spin_hint();
    }
}

impl Notify for BusySpin {
    #[inline]
    fn notify(&self) {}
}

impl WaitStrategy for BusySpin {
    type Waiter<'s> = Spinning;
    fn waiter(&self) -> Spinning {
        Spinning
    }
}

/// Spins `spins` times, then yields the thread to the scheduler at every further
/// attempt: near busy-spin latency when cores are free, and no collapse when threads
/// outnumber cores. The default strategy. Needs `std`.
///
/// ```
/// use ringcore::wait::SpinThenYield;
/// assert_eq!(SpinThenYield::default(), SpinThenYield::new(64));
/// ```
#[cfg(any(test, feature = "std"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpinThenYield {
    spins: u32,
}

#[cfg(any(test, feature = "std"))]
impl SpinThenYield {
    /// Spins `spins` times before yielding.
    ///
    /// ```
    /// let _ = ringcore::wait::SpinThenYield::new(0);
    /// ```
    pub const fn new(spins: u32) -> Self {
        Self { spins }
    }
}

#[cfg(any(test, feature = "std"))]
impl Default for SpinThenYield {
    fn default() -> Self {
        Self::new(64)
    }
}

/// [`SpinThenYield`]'s waiter.
#[cfg(any(test, feature = "std"))]
#[derive(Debug)]
pub struct Yielding {
    left: u32,
}

#[cfg(any(test, feature = "std"))]
impl Waiter for Yielding {
    #[inline]
    fn idle(&mut self) {
        if self.left > 0 {
            self.left -= 1;
            crate::sync::spin_hint();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(any(test, feature = "std"))]
impl Notify for SpinThenYield {
    #[inline]
    fn notify(&self) {}
}

#[cfg(any(test, feature = "std"))]
impl WaitStrategy for SpinThenYield {
    type Waiter<'s> = Yielding;
    fn waiter(&self) -> Yielding {
        Yielding { left: self.spins }
    }
}

/// Spins briefly, then sleeps on a condition variable until notified: no CPU use
/// while idle, microseconds of wake-up latency. Share one `Blocking` between the
/// writer and the readers (each side notifies it). A wait also ends after 1 ms
/// without a notification, so events that do not notify (a writer dropped, a reader
/// leaving) are noticed. Needs `std`.
///
/// ```
/// use ringcore::broadcast::{GatedRing, wait::Blocking};
/// let ring = GatedRing::<4, 8, 1>::new();
/// let blocking = Blocking::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| { for _ in 0..100 { w.publish_wait(&blocking, 0, 0, b"x").unwrap(); } drop(w); });
///     let mut n = 0;
///     while r.read_batch_wait(&blocking, 8, |_| n += 1).is_ok() {}
///     assert_eq!(n, 100);
/// });
/// ```
#[cfg(any(test, feature = "std"))]
#[derive(Debug, Default)]
pub struct Blocking {
    /// Bumped (under `lock`) by every notification that finds a sleeper.
    epoch: crate::sync::AtomicUsize,
    /// Waiters registered to be woken.
    sleepers: crate::sync::AtomicUsize,
    lock: std::sync::Mutex<()>,
    wake: std::sync::Condvar,
}

#[cfg(any(test, feature = "std"))]
impl Blocking {
    /// Spins this many times before sleeping.
    const SPINS: u32 = 64;
    /// Longest sleep without a notification.
    const TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1);

    /// A new blocking strategy (`const`, so it can be a `static`).
    ///
    /// ```
    /// static WAIT: ringcore::wait::Blocking = ringcore::wait::Blocking::new();
    /// # let _ = &WAIT;
    /// ```
    #[cfg(not(ringcore_loom))]
    pub const fn new() -> Self {
        Self {
            epoch: crate::sync::atomic_usize(0),
            sleepers: crate::sync::atomic_usize(0),
            lock: std::sync::Mutex::new(()),
            wake: std::sync::Condvar::new(),
        }
    }

    /// A new blocking strategy (loom build: not `const`).
    #[cfg(ringcore_loom)]
    pub fn new() -> Self {
        Self {
            epoch: crate::sync::atomic_usize(0),
            sleepers: crate::sync::atomic_usize(0),
            lock: std::sync::Mutex::new(()),
            wake: std::sync::Condvar::new(),
        }
    }
}

#[cfg(any(test, feature = "std"))]
impl Notify for Blocking {
    #[inline]
    fn notify(&self) {
        use crate::sync::Ordering::SeqCst;
        // SeqCst fence: either a sleeper's registration is visible below, or the
        // sleeper's own SeqCst fence comes later and its next attempt sees what we
        // published before this call (the eventcount pattern).
        crate::sync::fence(SeqCst);
        if self.sleepers.load(SeqCst) != 0 {
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.epoch.fetch_add(1, SeqCst);
            self.wake.notify_all();
        }
    }
}

/// [`Blocking`]'s waiter.
#[cfg(any(test, feature = "std"))]
#[derive(Debug)]
pub struct Sleeping<'s> {
    strategy: &'s Blocking,
    spins_left: u32,
    /// The epoch read after registering as a sleeper (before the next attempt).
    registered: Option<usize>,
}

#[cfg(any(test, feature = "std"))]
impl Waiter for Sleeping<'_> {
    fn idle(&mut self) {
        use crate::sync::Ordering::SeqCst;
        let b = self.strategy;
        if self.spins_left > 0 {
            self.spins_left -= 1;
            crate::sync::spin_hint();
            return;
        }
        match self.registered {
            None => {
                // Register, then let the caller try once more before sleeping.
                b.sleepers.fetch_add(1, SeqCst);
                crate::sync::fence(SeqCst);
                self.registered = Some(b.epoch.load(SeqCst));
            }
            Some(epoch) => {
                let mut guard = b
                    .lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                while b.epoch.load(SeqCst) == epoch {
                    let (g, timeout) = b
                        .wake
                        .wait_timeout(guard, Blocking::TIMEOUT)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    guard = g;
                    if timeout.timed_out() {
                        break;
                    }
                }
                drop(guard);
                self.registered = Some(b.epoch.load(SeqCst));
            }
        }
    }
}

#[cfg(any(test, feature = "std"))]
impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        if self.registered.is_some() {
            self.strategy
                .sleepers
                .fetch_sub(1, crate::sync::Ordering::SeqCst);
        }
    }
}

#[cfg(any(test, feature = "std"))]
impl WaitStrategy for Blocking {
    type Waiter<'s> = Sleeping<'s>;
    fn waiter(&self) -> Sleeping<'_> {
        Sleeping {
            strategy: self,
            spins_left: Self::SPINS,
            registered: None,
        }
    }
}
