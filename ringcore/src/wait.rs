//! How a thread waits when a broadcast ring or pool is full (writer) or empty (reader).
//!
//! The waiting half of [`broadcast::Writer::publish_wait`](crate::broadcast::Writer::publish_wait),
//! [`broadcast::Reader::read_wait`](crate::broadcast::Reader::read_wait) and the pool's
//! `*_wait` methods: a [`WaitStrategy`] hands out one [`Waiter`] per wait, on the
//! [`Signal`] of the condition waited for, and the other side [notifies](Notify) that
//! signal when the condition may have changed. This module knows nothing about rings: a
//! ring owns its signals and says when to notify them. It is also reachable as
//! `ringcore::broadcast::wait`.
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
//!
//! # Sleeping without losing a wake-up
//!
//! A sleeper must not sleep through the change it waits for: it checks the condition
//! (say, `published`), finds nothing, and sleeps; a notifier changes the condition and
//! wakes sleepers. If the sleeper's check misses the change and the notifier's look for
//! sleepers misses the sleeper (a store→load race on each side), the wake-up is lost.
//! [`Signal`] closes the race with read-modify-writes on one word, which are totally
//! ordered (fences with `SeqCst` would also do, but loom cannot check them):
//!
//! * a sleeper *registers* (an `AcqRel` read-modify-write that counts it and reads the
//!   signal's epoch), then checks the condition once more, and sleeps only while the
//!   epoch is still the one it read;
//! * a notifier changes the condition, then *bumps* the epoch (an `AcqRel`
//!   read-modify-write), and wakes the sleepers if the count it read is not zero.
//!
//! Either the bump comes after the registration in the word's order, and the notifier
//! sees the sleeper and wakes it (or the sleeper sees the new epoch and does not sleep),
//! or the registration comes after the bump and acquires it, so the sleeper's check sees
//! the change. A sleeper that wakes re-reads the epoch with another read-modify-write
//! before its next check, for the same reason. The sleeping itself (a mutex and a
//! condition variable next to the word, with `std`) only has to keep the epoch check and
//! the wait atomic, which a condition variable does. With the `async` feature a task
//! follows the same handshake with its waker (register, check, then wait for a wake-up);
//! see `ringcore::waker`.
use crate::sync::{AtomicUsize, Ordering, const_unless_loom};
#[cfg(any(test, feature = "std"))]
use crate::sync::{Condvar, Mutex};

/// Wakes threads that wait with a strategy (a no-op for spinning strategies).
pub trait Notify {
    /// Called after a writer published or a gated reader released slots, with the signal
    /// of the condition that changed.
    fn notify(&self, signal: &Signal);
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
/// use ringcore::wait::{BusySpin, Signal, WaitStrategy, Waiter};
/// let signal = Signal::new();
/// let mut w = BusySpin.waiter(&signal);
/// w.idle();
/// ```
pub trait WaitStrategy: Notify {
    /// The state of one wait.
    type Waiter<'s>: Waiter
    where
        Self: 's;
    /// Starts a wait for the condition that `signal` is notified about.
    fn waiter<'s>(&'s self, signal: &'s Signal) -> Self::Waiter<'s>;
}

/// Where sleepers wait for one condition of a ring (events to read, room to write) and
/// how the other side wakes them: the handshake of the module docs, on one word, plus
/// (with `std`) the lock and condition variable a sleeping thread parks on. Rings and
/// pools own their signals; a [`WaitStrategy`] gets the one to wait on.
///
/// ```
/// use ringcore::wait::Signal;
/// static SIGNAL: Signal = Signal::new();
/// SIGNAL.notify(); // nobody sleeps: one read-modify-write, nothing else
/// ```
pub struct Signal {
    /// The epoch (bumped by every notification) above [`Signal::COUNT_BITS`] bits of the
    /// number of registered sleepers.
    state: AtomicUsize,
    #[cfg(any(test, feature = "std"))]
    lock: Mutex<()>,
    #[cfg(any(test, feature = "std"))]
    wake: Condvar,
    /// Async tasks waiting on this signal (feature `async`): the same handshake, on a word
    /// of its own, with waker slots; [`Signal::notify`] wakes them too.
    #[cfg(all(feature = "async", ringcore_cas))]
    pub(crate) tasks: crate::waker::AsyncSignal<{ Signal::ASYNC_TASKS }>,
}

impl core::fmt::Debug for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("Signal")
            .field("epoch", &(state >> Self::COUNT_BITS))
            .field("sleepers", &(state & Self::COUNT_MASK))
            .finish()
    }
}

impl Signal {
    /// Bits of the state that count registered sleepers (at most `R + 1` per ring).
    const COUNT_BITS: u32 = 16;
    const COUNT_MASK: usize = (1 << Self::COUNT_BITS) - 1;
    #[cfg_attr(not(ringcore_cas), allow(dead_code))]
    const EPOCH_ONE: usize = 1 << Self::COUNT_BITS;
    /// Async tasks that can wait on one signal with a waker slot each; more poll again at
    /// once rather than hang.
    #[cfg(all(feature = "async", ringcore_cas))]
    const ASYNC_TASKS: usize = 8;

    const_unless_loom! {
        /// A signal nobody waits on (`const`, so that rings holding it can be `static`s).
        pub fn new() -> Self {
            Self {
                state: crate::sync::atomic_usize(0),
                #[cfg(any(test, feature = "std"))]
                lock: Mutex::new(()),
                #[cfg(any(test, feature = "std"))]
                wake: Condvar::new(),
                #[cfg(all(feature = "async", ringcore_cas))]
                tasks: crate::waker::AsyncSignal::new(),
            }
        }
    }

    /// Tells the sleepers that their condition may have changed: bumps the epoch and
    /// wakes them if there are any. Call it after the change (a publication, a release,
    /// closing, leaving).
    ///
    /// ```
    /// let signal = ringcore::wait::Signal::new();
    /// signal.notify();
    /// ```
    pub fn notify(&self) {
        // AcqRel: Release so that a sleeper registering after this sees the change made
        // before; Acquire (with the read-modify-write itself) so that a registration
        // earlier in the word's order is seen here. (loom-mutant: wait)
        #[cfg(ringcore_cas)]
        let old = self.state.fetch_add(Self::EPOCH_ONE, Ordering::AcqRel);
        // Without compare-and-swap (thumbv6m, riscv32imc without a forwarded feature)
        // there is no `std` and nothing registers on a signal, so nobody can be waiting:
        // the count read here is always zero.
        #[cfg(not(ringcore_cas))]
        let old = self.state.load(Ordering::Relaxed);
        if old & Self::COUNT_MASK != 0 {
            self.wake_sleepers();
        }
        #[cfg(all(feature = "async", ringcore_cas))]
        self.tasks.notify();
    }

    #[cfg(any(test, feature = "std"))]
    #[cold]
    fn wake_sleepers(&self) {
        // Under the lock: a sleeper checks the epoch and starts waiting while holding it,
        // so it either saw the bump or is waiting when this wakes it.
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.wake.notify_all();
    }

    #[cfg(not(any(test, feature = "std")))]
    #[cold]
    fn wake_sleepers(&self) {
        // Without `std` nothing sleeps on a signal.
    }

    /// Counts the caller as a sleeper and returns the current epoch; the caller checks
    /// its condition after this and before [`Signal::sleep`].
    #[cfg(any(test, feature = "std"))]
    fn register(&self) -> usize {
        // AcqRel: Acquire so that the check after this sees any change whose notification
        // came earlier in the word's order; Release so that a later notification sees
        // this registration. (loom-mutant: wait)
        let old = self.state.fetch_add(1, Ordering::AcqRel);
        debug_assert!(
            old & Self::COUNT_MASK < Self::COUNT_MASK,
            "too many sleepers"
        );
        old >> Self::COUNT_BITS
    }

    /// The current epoch, read with a read-modify-write for the reason of
    /// [`Signal::register`] (a registered sleeper re-checking after it woke).
    #[cfg(any(test, feature = "std"))]
    fn epoch_for_check(&self) -> usize {
        // AcqRel, as in `register`. (loom-mutant: wait)
        self.state.fetch_add(0, Ordering::AcqRel) >> Self::COUNT_BITS
    }

    /// Undoes [`Signal::register`].
    #[cfg(any(test, feature = "std"))]
    fn unregister(&self) {
        // Relaxed: a stale count only costs a notifier a wake-up nobody needed.
        self.state.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps while the epoch is `epoch` (returns at once if it moved already). Returns
    /// `false` if it gave up after `timeout` with the epoch unchanged.
    #[cfg(any(test, feature = "std"))]
    fn sleep(&self, epoch: usize, timeout: std::time::Duration) -> bool {
        let mut guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Relaxed: read under the lock, which a notifier takes after its bump.
        while self.state.load(Ordering::Relaxed) >> Self::COUNT_BITS == epoch {
            let (g, result) = self
                .wake
                .wait_timeout(guard, timeout)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            guard = g;
            if result.timed_out() {
                return self.state.load(Ordering::Relaxed) >> Self::COUNT_BITS != epoch;
            }
        }
        true
    }
}

#[cfg(not(ringcore_loom))]
impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

/// Spins with a CPU hint between attempts. Lowest latency when every thread has its
/// own core; collapses when threads outnumber cores (use
/// [`SpinThenYield`](crate::wait) there). `no_std`.
///
/// ```
/// use ringcore::wait::{BusySpin, Notify, Signal};
/// BusySpin.notify(&Signal::new());
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
    fn notify(&self, _: &Signal) {}
}

impl WaitStrategy for BusySpin {
    type Waiter<'s> = Spinning;
    fn waiter(&self, _: &Signal) -> Spinning {
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
    fn notify(&self, _: &Signal) {}
}

#[cfg(any(test, feature = "std"))]
impl WaitStrategy for SpinThenYield {
    type Waiter<'s> = Yielding;
    fn waiter(&self, _: &Signal) -> Yielding {
        Yielding { left: self.spins }
    }
}

/// Spins briefly, then sleeps until the other side notifies: no CPU use while idle,
/// microseconds of wake-up latency. Needs `std`.
///
/// A sleeping reader is woken by the writer's `*_wait` publications and by the writer
/// closing the ring; a sleeping writer (a full gated ring) by readers' `*_wait` reads and
/// by a reader leaving. So both sides of a ring should wait (and so notify) through a
/// `Blocking`: a writer that publishes with `try_publish` wakes nobody. The handshake is
/// in the module docs. As a safety net, a sleep also ends after a second without a
/// notification ([`Blocking::safety_net_wakeups`] counts those; the tests show that
/// with both sides waiting it stays 0).
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
/// assert_eq!(blocking.safety_net_wakeups(), 0);
/// ```
#[cfg(any(test, feature = "std"))]
#[derive(Debug)]
pub struct Blocking {
    /// Sleeps that ended by the safety-net timeout with no notification.
    safety_net_wakeups: AtomicUsize,
}

#[cfg(any(test, feature = "std"))]
impl Blocking {
    /// Spins this many times before sleeping (none under loom, where a spin is a yield
    /// that only multiplies the interleavings).
    const SPINS: u32 = if cfg!(ringcore_loom) { 0 } else { 64 };
    /// Longest sleep without a notification: a safety net, never the way a waiter learns
    /// of a change.
    const SAFETY_NET: std::time::Duration = std::time::Duration::from_secs(1);

    const_unless_loom! {
        /// A new blocking strategy (`const`, so it can be a `static`).
        ///
        /// ```
        /// static WAIT: ringcore::wait::Blocking = ringcore::wait::Blocking::new();
        /// # let _ = &WAIT;
        /// ```
        pub fn new() -> Self {
            Self {
                safety_net_wakeups: crate::sync::atomic_usize(0),
            }
        }
    }

    /// How many sleeps ended by the one-second safety net rather than a notification: 0
    /// unless a side of the ring changed it without notifying (such as a writer that
    /// publishes with `try_publish` while readers sleep).
    ///
    /// ```
    /// assert_eq!(ringcore::wait::Blocking::new().safety_net_wakeups(), 0);
    /// ```
    pub fn safety_net_wakeups(&self) -> usize {
        self.safety_net_wakeups.load(Ordering::Relaxed)
    }
}

#[cfg(all(any(test, feature = "std"), not(ringcore_loom)))]
impl Default for Blocking {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "std"))]
impl Notify for Blocking {
    #[inline]
    fn notify(&self, signal: &Signal) {
        signal.notify();
    }
}

/// [`Blocking`]'s waiter.
#[cfg(any(test, feature = "std"))]
#[derive(Debug)]
pub struct Sleeping<'s> {
    strategy: &'s Blocking,
    signal: &'s Signal,
    spins_left: u32,
    /// The epoch read by the last read-modify-write, once registered as a sleeper.
    epoch: Option<usize>,
}

#[cfg(any(test, feature = "std"))]
impl Waiter for Sleeping<'_> {
    fn idle(&mut self) {
        if self.spins_left > 0 {
            self.spins_left -= 1;
            crate::sync::spin_hint();
            return;
        }
        self.epoch = Some(match self.epoch {
            // Register; the caller checks once more before the next idle sleeps.
            None => self.signal.register(),
            Some(epoch) => {
                if !self.signal.sleep(epoch, Blocking::SAFETY_NET) {
                    // Relaxed: a statistic.
                    self.strategy
                        .safety_net_wakeups
                        .fetch_add(1, Ordering::Relaxed);
                }
                // Still registered; the caller checks again after this.
                self.signal.epoch_for_check()
            }
        });
    }
}

#[cfg(any(test, feature = "std"))]
impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        if self.epoch.is_some() {
            self.signal.unregister();
        }
    }
}

#[cfg(any(test, feature = "std"))]
impl WaitStrategy for Blocking {
    type Waiter<'s> = Sleeping<'s>;
    fn waiter<'s>(&'s self, signal: &'s Signal) -> Sleeping<'s> {
        Sleeping {
            strategy: self,
            signal,
            spins_left: Self::SPINS,
            epoch: None,
        }
    }
}
