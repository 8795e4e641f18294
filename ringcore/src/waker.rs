//! `async` waiting (feature `async`): a task registers its [`Waker`] the way a
//! [`Blocking`](crate::wait) thread registers as a sleeper, and the other side wakes it
//! where it would wake the sleeper.
//!
//! Two layers, both on the [`sync`](crate::sync) facade so loom models them:
//!
//! * `WakerSlot`: one waker, stored and taken without a lock (the protocol of
//!   `futures`' `AtomicWaker`: a registering and a waking bit on one word; whoever sets a
//!   bit while the other is set leaves the waking to the other). The waking side never
//!   waits, so it may run in an interrupt handler.
//! * `AsyncSignal`: the handshake of [`wait::Signal`](crate::wait::Signal) (module docs
//!   of [`wait`](crate::wait)), on a word of its own, with `K` waker slots instead of a
//!   condition variable. A waiting task claims a slot, stores its waker, then does an
//!   `AcqRel` read-modify-write on the word (counting itself the first time), then checks
//!   its condition once more; a notifier changes the condition, then bumps the word with
//!   an `AcqRel` read-modify-write, and wakes the claimed slots if the count it read is
//!   not zero. The two read-modify-writes are totally ordered: either the bump comes later
//!   and acquires the task's waker (and wakes it), or the task's comes later and its
//!   re-check acquires the change.
//!
//! Nothing here knows a runtime: a [`Waker`] is all it stores, so any executor (tokio,
//! embassy, a hand-written poll loop) drives the futures of
//! [`spsc`](crate::spsc::ConsumerOf::readable) and
//! [`broadcast`](crate::broadcast::Reader::ready).
//!
//! ```
//! # #[cfg(feature = "async")] {
//! use core::future::Future;
//! use core::pin::pin;
//! use core::task::{Context, Poll, Waker};
//! let ring = ringcore::spsc::Ring::<256>::new();
//! let (mut p, mut c) = ring.try_split(0).unwrap();
//! let mut cx = Context::from_waker(Waker::noop());
//! {
//!     let mut readable = pin!(c.readable());
//!     assert!(readable.as_mut().poll(&mut cx).is_pending());
//!     p.push(0, 0, b"x").unwrap();
//!     p.wake_consumer();
//!     assert_eq!(readable.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
//! }
//! assert_eq!(c.read().unwrap().payload(), b"x");
//! # }
//! ```

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::task::{Context, Poll, Waker};

use crate::sync::{
    AccessTracker, AtomicBool, AtomicUsize, Ordering, atomic_bool, atomic_usize, const_unless_loom,
};

/// Nobody is registering or waking.
const IDLE: usize = 0;
/// The slot's owner is storing a waker.
const REGISTERING: usize = 0b01;
/// A notifier (or the owner, taking its waker back) is taking the waker.
const WAKING: usize = 0b10;

/// The slot's contents. All-zero bytes are a valid empty slot (`full == false`), so rings
/// that may be allocated zeroed (`spsc::Ring::boxed`) stay valid with the feature on.
struct Held {
    full: bool,
    waker: MaybeUninit<Waker>,
}

/// One registered waker (see the module docs).
pub(crate) struct WakerSlot {
    state: AtomicUsize,
    /// Touched only by whoever moved `state` from [`IDLE`] to [`REGISTERING`] or set
    /// [`WAKING`] on an [`IDLE`] word, until it clears that bit.
    held: UnsafeCell<Held>,
    /// Reports every access to `held` to loom (nothing in normal builds).
    tracker: AccessTracker,
}

// SAFETY: `held` is accessed only by the one thread that holds the slot's registering or
// waking bit (see `held`); a `Waker` is `Send + Sync`.
unsafe impl Sync for WakerSlot {}
// SAFETY: as above; the slot owns at most one `Waker`, which is `Send`.
unsafe impl Send for WakerSlot {}

impl WakerSlot {
    const_unless_loom! {
        /// An empty slot.
        pub(crate) fn new() -> Self {
            Self {
                state: atomic_usize(IDLE),
                held: UnsafeCell::new(Held {
                    full: false,
                    waker: MaybeUninit::uninit(),
                }),
                tracker: AccessTracker::new(1),
            }
        }
    }

    /// Stores (a clone of) `waker`, replacing the previous one. Called by the slot's one
    /// owner; a concurrent [`WakerSlot::wake`] either takes the new waker or makes this
    /// call wake it.
    pub(crate) fn register(&self, waker: &Waker) {
        // Acquire: the previous holder's accesses to `held` happen before ours.
        // (loom-mutant: async)
        match self
            .state
            .compare_exchange(IDLE, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => {
                // SAFETY: we moved the word from IDLE to REGISTERING: `held` is ours.
                unsafe { self.store(waker) };
                // AcqRel: Release hands `held` (with the new waker) to the next holder;
                // Acquire, on failure, takes it back from a waker that set WAKING meanwhile.
                if self
                    .state
                    .compare_exchange(
                        IDLE | REGISTERING,
                        IDLE,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err()
                {
                    // A notifier came while we stored and left the waking to us.
                    // SAFETY: still ours: the notifier saw REGISTERING and did not touch it.
                    let taken = unsafe { self.take_held() };
                    // Release: hands `held` back with the slot empty.
                    self.state.swap(IDLE, Ordering::AcqRel);
                    if let Some(w) = taken {
                        w.wake();
                    }
                }
            }
            // A notifier is taking the previous waker right now: it may miss this one, so
            // ask for another poll (which re-checks the condition).
            Err(_) => waker.wake_by_ref(),
        }
    }

    /// Wakes the stored waker, if any, and empties the slot.
    pub(crate) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    /// Empties the slot and returns its waker; `None` if it was empty or someone else is
    /// registering or waking right now (they then wake it).
    pub(crate) fn take(&self) -> Option<Waker> {
        // AcqRel: Acquire takes `held` from the last registration; Release is for the
        // registrant that finds WAKING set. (loom-mutant: async)
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            IDLE => {
                // SAFETY: we set WAKING on an IDLE word: `held` is ours until we clear it.
                let taken = unsafe { self.take_held() };
                // Release: our accesses to `held` happen before the next holder's.
                self.state.fetch_and(!WAKING, Ordering::Release);
                taken
            }
            _ => None,
        }
    }

    /// # Safety
    /// The caller holds the slot (see `held`).
    unsafe fn store(&self, waker: &Waker) {
        self.tracker.write(0..1);
        // SAFETY: the caller holds the slot, so nobody else accesses `held`.
        let held = unsafe { &mut *self.held.get() };
        if held.full {
            // SAFETY: `full` says the waker is initialised.
            let old = unsafe { held.waker.assume_init_mut() };
            if !old.will_wake(waker) {
                old.clone_from(waker);
            }
        } else {
            held.waker.write(waker.clone());
            held.full = true;
        }
    }

    /// # Safety
    /// The caller holds the slot (see `held`).
    unsafe fn take_held(&self) -> Option<Waker> {
        self.tracker.write(0..1);
        // SAFETY: the caller holds the slot, so nobody else accesses `held`.
        let held = unsafe { &mut *self.held.get() };
        if !held.full {
            return None;
        }
        held.full = false;
        // SAFETY: `full` was set, so the waker is initialised; clearing it first means it is
        // read out exactly once.
        Some(unsafe { held.waker.assume_init_read() })
    }
}

impl Drop for WakerSlot {
    fn drop(&mut self) {
        // A waker left by a future that was forgotten rather than dropped.
        // SAFETY: `&mut self`: nobody else can hold the slot.
        drop(unsafe { self.take_held() });
    }
}

impl core::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakerSlot")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Where async tasks wait for one condition of a ring: the handshake word of
/// [`wait::Signal`](crate::wait::Signal) and `K` waker slots (module docs). More than `K`
/// tasks may wait at once: those that find every slot claimed ask to be polled again at
/// once (they spin through the executor rather than hang).
pub(crate) struct AsyncSignal<const K: usize> {
    /// The epoch (bumped by every notification) above [`COUNT_BITS`] bits of the number
    /// of registered tasks.
    state: AtomicUsize,
    claimed: [AtomicBool; K],
    slots: [WakerSlot; K],
}

const COUNT_BITS: u32 = 16;
const COUNT_MASK: usize = (1 << COUNT_BITS) - 1;
const EPOCH_ONE: usize = 1 << COUNT_BITS;

impl<const K: usize> core::fmt::Debug for AsyncSignal<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("AsyncSignal")
            .field("epoch", &(state >> COUNT_BITS))
            .field("tasks", &(state & COUNT_MASK))
            .finish_non_exhaustive()
    }
}

impl<const K: usize> AsyncSignal<K> {
    const_unless_loom! {
        /// A signal nobody waits on.
        pub(crate) fn new() -> Self {
            Self {
                state: atomic_usize(0),
                #[cfg(not(ringcore_loom))]
                claimed: [const { atomic_bool(false) }; K],
                #[cfg(ringcore_loom)]
                claimed: core::array::from_fn(|_| atomic_bool(false)),
                #[cfg(not(ringcore_loom))]
                slots: [const { WakerSlot::new() }; K],
                #[cfg(ringcore_loom)]
                slots: core::array::from_fn(|_| WakerSlot::new()),
            }
        }
    }

    /// Tells the waiting tasks that their condition may have changed: bumps the epoch and
    /// wakes them if there are any. Call it after the change.
    pub(crate) fn notify(&self) {
        // AcqRel: Release so that a task registering after this sees the change made
        // before; Acquire so that a registration earlier in the word's order (and the
        // waker stored before it) is seen here. (loom-mutant: async)
        let old = self.state.fetch_add(EPOCH_ONE, Ordering::AcqRel);
        if old & COUNT_MASK != 0 {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        for (claimed, slot) in self.claimed.iter().zip(&self.slots) {
            // Relaxed: a task claims its slot before the registration the bump acquired;
            // waking an unclaimed slot would only cost an empty take.
            if claimed.load(Ordering::Relaxed) {
                slot.wake();
            }
        }
    }

    /// One poll of a wait for `check`: `Ready` with what `check` returns once it returns
    /// `Some`; otherwise registers `cx`'s waker (claiming a slot into `wait` the first
    /// time), checks again, and returns `Pending`. Release the registration with
    /// [`AsyncSignal::finish`] when the wait ends (done, or the future dropped).
    pub(crate) fn poll_until<T>(
        &self,
        wait: &mut Registration,
        cx: &mut Context<'_>,
        mut check: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        if let Some(value) = check() {
            self.finish(wait);
            return Poll::Ready(value);
        }
        if wait.slot.is_none() {
            // Acquire: the previous owner's release of the slot happens before our use.
            wait.slot = self
                .claimed
                .iter()
                .position(|c| !c.swap(true, Ordering::Acquire));
        }
        let Some(slot) = wait.slot else {
            // Every slot is taken: poll again soon instead of waiting for a wake-up.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        self.slots[slot].register(cx.waker());
        // AcqRel: Acquire so that the check below sees any change whose notification
        // came earlier in the word's order; Release so that a later notification sees
        // the waker just stored. The first registration also counts the task.
        // (loom-mutant: async)
        let count = usize::from(!wait.counted);
        self.state.fetch_add(count, Ordering::AcqRel);
        wait.counted = true;
        if let Some(value) = check() {
            self.finish(wait);
            return Poll::Ready(value);
        }
        Poll::Pending
    }

    /// Forgets every registration: for a ring whose handles (and so every future that
    /// borrowed them) are gone, such as a future forgotten rather than dropped, so that
    /// new handles find their slots free.
    pub(crate) fn reset(&self) {
        for (claimed, slot) in self.claimed.iter().zip(&self.slots) {
            drop(slot.take());
            // Relaxed: no handle runs concurrently (the caller's contract).
            claimed.store(false, Ordering::Relaxed);
        }
        // Relaxed, as above.
        self.state.fetch_and(!COUNT_MASK, Ordering::Relaxed);
    }

    /// Ends a wait: uncounts it and gives its slot (and waker) back.
    pub(crate) fn finish(&self, wait: &mut Registration) {
        if core::mem::take(&mut wait.counted) {
            // Relaxed: a stale count only costs a notifier a wake-up nobody needed.
            self.state.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(slot) = wait.slot.take() {
            drop(self.slots[slot].take());
            // Release: our accesses to the slot happen before the next claimer's.
            self.claimed[slot].store(false, Ordering::Release);
        }
    }
}

/// One task's hold on an [`AsyncSignal`]: the slot it claimed and whether it is counted.
/// Its owner (a future) calls [`AsyncSignal::finish`] when it is done or dropped.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    slot: Option<usize>,
    counted: bool,
}

impl Registration {
    /// Nothing claimed, nothing counted.
    pub(crate) const fn new() -> Self {
        Self {
            slot: None,
            counted: false,
        }
    }
}

/// Executor-free helpers for the async tests (Miri runs them; it cannot run tokio's
/// runtime).
#[cfg(test)]
pub(crate) mod testing {
    use core::future::Future;
    use core::task::{Context, Poll, Waker};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    pub(crate) struct Counter(pub(crate) AtomicUsize);
    impl Counter {
        pub(crate) fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A counting waker and its counter.
    pub(crate) fn counting() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    /// Unparks the thread that polls.
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Runs `future` to completion on this thread, parking between polls: a task woken by
    /// nobody parks forever (the caller's test then times out), so a lost wake-up fails.
    pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = core::pin::pin!(future);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::counting;
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering as StdOrdering;

    #[test]
    fn slot_wakes_the_last_registered_waker_once() {
        let slot = WakerSlot::new();
        let (a, wa) = counting();
        let (b, wb) = counting();
        slot.register(&wa);
        slot.register(&wb);
        slot.wake();
        slot.wake();
        assert_eq!(a.0.load(StdOrdering::Relaxed), 0);
        assert_eq!(b.0.load(StdOrdering::Relaxed), 1);
        assert!(slot.take().is_none());
    }

    #[test]
    fn dropping_a_full_slot_drops_its_waker() {
        let (a, wa) = counting();
        let slot = WakerSlot::new();
        slot.register(&wa);
        assert_eq!(Arc::strong_count(&a), 3);
        drop(slot);
        assert_eq!(Arc::strong_count(&a), 2);
    }

    #[test]
    fn register_during_a_wake_asks_for_another_poll() {
        let slot = WakerSlot::new();
        let (a, wa) = counting();
        // A notifier holding the waking bit.
        slot.state.fetch_or(WAKING, Ordering::AcqRel);
        slot.register(&wa);
        assert_eq!(a.0.load(StdOrdering::Relaxed), 1);
        slot.state.fetch_and(!WAKING, Ordering::Release);
        assert!(slot.take().is_none(), "nothing was stored");
    }

    #[test]
    fn signal_wakes_registered_tasks_and_releases_slots() {
        let signal = AsyncSignal::<2>::new();
        let ready = core::cell::Cell::new(false);
        let (a, wa) = counting();
        let mut reg = Registration::new();
        let mut cx = Context::from_waker(&wa);
        assert!(
            signal
                .poll_until(&mut reg, &mut cx, || ready.get().then_some(()))
                .is_pending()
        );
        signal.notify(); // spurious: the condition did not change
        assert_eq!(a.0.load(StdOrdering::Relaxed), 1);
        assert!(
            signal
                .poll_until(&mut reg, &mut cx, || ready.get().then_some(()))
                .is_pending()
        );
        ready.set(true);
        signal.notify();
        assert_eq!(a.0.load(StdOrdering::Relaxed), 2);
        assert_eq!(
            signal.poll_until(&mut reg, &mut cx, || ready.get().then_some(7)),
            Poll::Ready(7)
        );
        assert_eq!(signal.state.load(Ordering::Relaxed) & COUNT_MASK, 0);
        assert!(signal.claimed.iter().all(|c| !c.load(Ordering::Relaxed)));
        // Only the waker held by a test-local clone and the counter remain.
        assert_eq!(Arc::strong_count(&a), 2);
    }

    #[test]
    fn tasks_beyond_the_slots_poll_again_instead_of_hanging() {
        let signal = AsyncSignal::<1>::new();
        let (a, wa) = counting();
        let (b, wb) = counting();
        let (mut ra, mut rb) = (Registration::new(), Registration::new());
        let never = || None::<()>;
        assert!(
            signal
                .poll_until(&mut ra, &mut Context::from_waker(&wa), never)
                .is_pending()
        );
        assert!(
            signal
                .poll_until(&mut rb, &mut Context::from_waker(&wb), never)
                .is_pending()
        );
        assert_eq!(a.0.load(StdOrdering::Relaxed), 0);
        assert_eq!(b.0.load(StdOrdering::Relaxed), 1, "no slot: woken at once");
        signal.finish(&mut ra);
        signal.finish(&mut rb);
        assert!(!signal.claimed[0].load(Ordering::Relaxed));
    }
}
