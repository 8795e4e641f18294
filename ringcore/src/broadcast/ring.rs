//! The ring itself: its [`Policy`], its memory (head, writer line, settings, reader
//! registrations, slots), and the handing out of handles. What a handle does with the
//! ring lives in `writer` and `reader`; the metrics that read it in `metrics`.

use core::marker::PhantomData;

#[cfg(ringcore_cas)]
use super::error::{JoinError, WriterError};
#[cfg(ringcore_cas)]
use super::positions::is_active;
use super::positions::{SEQ_WORDS, active_word, left_word};
use super::reader::Reader;
use super::slots::SlotArray;
use super::writer::Writer;
use crate::sync::{
    AtomicBool, AtomicUsize, CachePadded, Ordering, atomic_bool, atomic_usize, const_unless_loom,
};
use crate::wait::Signal;

mod sealed {
    pub trait Sealed {}
}

/// What the writer does when the slowest reader is a whole ring behind: [`Gated`] or
/// [`Overwrite`].
pub trait Policy: sealed::Sealed + core::fmt::Debug + Send + Sync + 'static {
    /// `true` if the writer overwrites unread events instead of reporting `Full`.
    const OVERWRITE: bool;
}

/// The writer waits for (reports `Full` because of) the slowest registered reader; nothing
/// is ever lost.
///
/// ```
/// use ringcore::broadcast::{Gated, Policy};
/// assert!(!Gated::OVERWRITE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gated;

/// The writer never waits; lapped readers are told how many events they lost and resume
/// half a ring behind the head (see [`ReadError::Lagged`](super::ReadError::Lagged)), so
/// that they read a run of events before the writer can lap them again.
///
/// ```
/// use ringcore::broadcast::{Overwrite, Policy};
/// assert!(Overwrite::OVERWRITE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overwrite;

impl sealed::Sealed for Gated {}
impl sealed::Sealed for Overwrite {}
impl Policy for Gated {
    const OVERWRITE: bool = false;
}
impl Policy for Overwrite {
    const OVERWRITE: bool = true;
}

/// A [`Ring`] with the [`Gated`] policy.
///
/// ```
/// let ring = ringcore::broadcast::GatedRing::<16, 8, 1>::new();
/// assert_eq!(ring.capacity(), 16);
/// ```
pub type GatedRing<const N: usize, const PAYLOAD: usize, const R: usize> =
    Ring<Gated, N, PAYLOAD, R>;

/// A [`Ring`] with the [`Overwrite`] policy.
///
/// ```
/// let ring = ringcore::broadcast::OverwriteRing::<16, 8, 1>::new();
/// assert_eq!(ring.capacity(), 16);
/// ```
pub type OverwriteRing<const N: usize, const PAYLOAD: usize, const R: usize> =
    Ring<Overwrite, N, PAYLOAD, R>;

/// Written by the writer, read by every reader.
pub(super) struct Head {
    /// Events at positions before this are complete (see the module's invariants).
    pub(super) published: AtomicUsize,
    /// Overwrite rings: the writer may be writing any position before this.
    pub(super) claim: AtomicUsize,
    /// Where readers wait for events ([`wait`](crate::wait)); notified by the writer's
    /// `*_wait` publications and when it closes the ring.
    pub(super) readable: Signal,
}

/// Written by the writer (and, rarely, by joiners); readers never touch it.
pub(super) struct WriterLine {
    /// The join handshake word (see the module docs); its value carries nothing.
    #[cfg_attr(not(ringcore_cas), allow(dead_code))]
    pub(super) handshake: AtomicUsize,
    pub(super) full_rejections: AtomicUsize,
    /// The sequence the next event gets, as of the last publication (split into words:
    /// no `AtomicU64`), so that a writer handed out again continues the numbering.
    pub(super) next_seq: [AtomicUsize; SEQ_WORDS],
    /// Gated rings: where the writer waits for room; notified by readers' `*_wait` reads
    /// and when a reader leaves.
    pub(super) writable: Signal,
}

/// Read-mostly flags and settings.
pub(super) struct Settings {
    #[cfg_attr(not(ringcore_cas), allow(dead_code))]
    pub(super) writer_taken: AtomicBool,
    pub(super) closed: AtomicBool,
    /// The thresholds XOR their defaults
    /// ([`Thresholds::for_capacity`](super::Thresholds::for_capacity)`(N)`), so a new ring
    /// is all zero bytes and a `static` one lands in `.bss`, not in flash.
    pub(super) pressure_lag_delta: AtomicUsize,
    pub(super) throttle_lag_delta: AtomicUsize,
}

/// One reader registration: its own cache line, written by its reader.
pub(super) struct Registration {
    /// [`active_word`] of its cursor while a reader holds it, [`left_word`] when free.
    pub(super) word: AtomicUsize,
    /// Events the current reader has read, as of its last release (metrics only).
    pub(super) seen: AtomicUsize,
    /// Events the current reader lost to overwrite (metrics only).
    pub(super) lost: AtomicUsize,
}

impl Registration {
    const_unless_loom! {
        fn new() -> Self {
            Self {
                word: atomic_usize(0),
                seen: atomic_usize(0),
                lost: atomic_usize(0),
            }
        }
    }
}

const_unless_loom! {
    /// The words of sequence 0.
    fn seq_words() -> [AtomicUsize; SEQ_WORDS] {
        #[cfg(not(ringcore_loom))]
        let words = [const { atomic_usize(0) }; SEQ_WORDS];
        #[cfg(ringcore_loom)]
        let words = core::array::from_fn(|_| atomic_usize(0));
        words
    }
}

const_unless_loom! {
    /// `R` free registrations.
    fn registrations<const R: usize>() -> [CachePadded<Registration>; R] {
        #[cfg(not(ringcore_loom))]
        let registrations = [const { CachePadded::new(Registration::new()) }; R];
        #[cfg(ringcore_loom)]
        let registrations = core::array::from_fn(|_| CachePadded::new(Registration::new()));
        registrations
    }
}

/// A broadcast ring of `N` slots of up to `PAYLOAD` payload bytes for one writer and up to
/// `R` readers, with policy `P` ([`Gated`] or [`Overwrite`]). See the [module
/// docs](crate::broadcast) for the protocol.
///
/// `N` is a power of two from 1 to 2^30, `PAYLOAD` a multiple of 8 up to 2^30, `R` from 1
/// to 1024; anything else fails the build. The ring occupies
/// `N * (24 + PAYLOAD) + (R + 3) * 128` bytes (plus alignment), with no heap.
///
/// ```
/// use ringcore::broadcast::{OverwriteRing, ReadError};
/// static RING: OverwriteRing<8, 16, 2> = OverwriteRing::new();
/// let mut w = RING.try_writer().unwrap();
/// let mut r = RING.join().unwrap();
/// w.try_publish(1, 2, b"event").unwrap();
/// assert_eq!(r.try_read(|e| e.payload.len()), Ok(5));
/// ```
///
/// The writer is `Send` but not `Sync`, and so is a reader:
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::broadcast::Writer<'static, ringcore::broadcast::Gated, 8, 8, 1>>();
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::broadcast::Reader<'static, ringcore::broadcast::Gated, 8, 8, 1>>();
/// ```
pub struct Ring<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    pub(super) head: CachePadded<Head>,
    pub(super) writer: CachePadded<WriterLine>,
    pub(super) settings: CachePadded<Settings>,
    pub(super) readers: [CachePadded<Registration>; R],
    pub(super) slots: SlotArray<N, PAYLOAD>,
    _policy: PhantomData<P>,
}

// SAFETY: slot memory is shared, but the protocol in the module docs gives each slot to the
// writer or to readers with Release/Acquire edges at every hand-over (gated), or accesses
// it only with word atomics whose copies are validated before use (overwrite); everything
// else is atomics.
unsafe impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Sync
    for Ring<P, N, PAYLOAD, R>
{
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Ring<P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("policy", &if P::OVERWRITE { "overwrite" } else { "gated" })
            .field("slots", &N)
            .field("payload", &PAYLOAD)
            .field("readers", &R)
            .field("published", &self.head.published.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Ring<P, N, PAYLOAD, R> {
    const CHECKS: () = {
        assert!(
            N.is_power_of_two() && N <= 1 << 30,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: N (the slot count) must be a power of two from 1 to 2^30"
        );
        assert!(
            PAYLOAD & 7 == 0 && PAYLOAD <= 1 << 30,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: PAYLOAD (bytes per slot) must be a multiple of 8 up to 2^30"
        );
        assert!(
            R >= 1 && R <= 1024,
            "ringcore::broadcast::Ring<P, N, PAYLOAD, R>: R (the most readers) must be from 1 to 1024"
        );
    };

    /// The largest payload one event may carry.
    pub const MAX_PAYLOAD: usize = PAYLOAD;

    const_unless_loom! {
        /// Creates an empty ring with no writer and no readers. `const`, so a ring can be
        /// a `static` (zeroed: it lands in `.bss`; not `const` in loom builds).
        ///
        /// ```
        /// static RING: ringcore::broadcast::GatedRing<64, 64, 2> = ringcore::broadcast::GatedRing::new();
        /// assert_eq!(RING.capacity(), 64);
        /// ```
        pub fn new() -> Self {
            let () = Self::CHECKS;
            Self {
                head: CachePadded::new(Head {
                    published: atomic_usize(0),
                    claim: atomic_usize(0),
                    readable: Signal::new(),
                }),
                writer: CachePadded::new(WriterLine {
                    handshake: atomic_usize(0),
                    full_rejections: atomic_usize(0),
                    next_seq: seq_words(),
                    writable: Signal::new(),
                }),
                settings: CachePadded::new(Settings {
                    writer_taken: atomic_bool(false),
                    closed: atomic_bool(false),
                    pressure_lag_delta: atomic_usize(0),
                    throttle_lag_delta: atomic_usize(0),
                }),
                readers: registrations(),
                slots: SlotArray::new(),
                _policy: PhantomData,
            }
        }
    }

    /// The slot count `N`.
    ///
    /// ```
    /// assert_eq!(ringcore::broadcast::GatedRing::<8, 8, 1>::new().capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Hands out the ring's one writer. A second call returns
    /// [`WriterError::AlreadyTaken`], even after the first writer was dropped (a dropped
    /// writer closes the ring: readers get [`ReadError::Closed`](super::ReadError::Closed) once they have read
    /// everything).
    ///
    /// Needs compare-and-swap: on thumbv6m and riscv32imc enable `critical-section` or
    /// `unsafe-assume-single-core`, or use [`Ring::split_mut`].
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// assert!(ring.try_writer().is_ok());
    /// assert!(ring.try_writer().is_err());
    /// ```
    #[cfg(ringcore_cas)]
    pub fn try_writer(&self) -> Result<Writer<'_, P, N, PAYLOAD, R>, WriterError> {
        // Relaxed: no data is handed over; the writer's state starts from `published`,
        // which only a writer stores, and there was none before.
        if self.settings.writer_taken.swap(true, Ordering::Relaxed) {
            return Err(WriterError::AlreadyTaken);
        }
        Ok(Writer::new(self))
    }

    /// Registers a reader that starts at the first event published after `join` returns.
    /// Returns [`JoinError::TooManyReaders`] when `R` readers are registered; a dropped
    /// reader frees its registration (and stops gating the writer).
    ///
    /// Needs compare-and-swap, like [`Ring::try_writer`].
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, ReadError};
    /// let ring = GatedRing::<8, 8, 2>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.try_publish(0, 0, b"before").unwrap();
    /// let mut r = ring.join().unwrap();
    /// assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    /// w.try_publish(0, 0, b"after").unwrap();
    /// assert_eq!(r.try_read(|e| e.payload.to_vec()), Ok(b"after".to_vec()));
    /// ```
    #[cfg(ringcore_cas)]
    pub fn join(&self) -> Result<Reader<'_, P, N, PAYLOAD, R>, JoinError> {
        // A conservative first cursor: published only grows, so the start found below is
        // at or after it. Relaxed: this thread reads no slot before loading `published`
        // again with Acquire.
        let first = self.head.published.load(Ordering::Relaxed);
        let mut found = None;
        'search: for (index, reg) in self.readers.iter().enumerate() {
            let mut word = reg.word.load(Ordering::Relaxed);
            while !is_active(word) {
                // Acquire: the registration is the writer's permission to reuse the slots
                // the previous holder read. It released them with its leaving store; the
                // writer will acquire whatever this joiner stores here, so this joiner
                // must first acquire the leaver's reads to pass them on (the Release
                // stores below). The CAS keeps two joiners apart. (loom-mutant: join)
                match reg.word.compare_exchange_weak(
                    word,
                    active_word(first),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        found = Some(index);
                        break 'search;
                    }
                    Err(actual) => word = actual,
                }
            }
        }
        let Some(index) = found else {
            return Err(JoinError::TooManyReaders { max: R });
        };
        let reg = &self.readers[index];
        let start = if P::OVERWRITE {
            // Overwrite readers do not gate the writer: no handshake needed.
            first
        } else {
            // The handshake (module docs). Release: the registration above is visible to
            // a writer whose horizon refresh comes later. Acquire: if the writer's refresh
            // came first, `published` as of that refresh is visible to the load below.
            // (loom-mutant: join)
            self.writer.handshake.fetch_add(1, Ordering::AcqRel);
            let start = self.head.published.load(Ordering::Relaxed);
            if start != first {
                // Release: a writer that loads this word with Acquire instead of the one
                // the CAS wrote still sees the leaver's reads (acquired by the CAS).
                // (loom-mutant: join)
                reg.word.store(active_word(start), Ordering::Release);
            }
            start
        };
        reg.seen.store(0, Ordering::Relaxed);
        reg.lost.store(0, Ordering::Relaxed);
        Ok(Reader::new(self, index, start))
    }

    /// Hands out a writer and `K` readers of a ring the caller holds exclusively. Needs no
    /// compare-and-swap, so it works on every target; readers may leave but no reader can
    /// join while the handles live (the borrow checker sees to that). A later `split_mut`
    /// reopens the ring and continues from where the previous handles stopped.
    ///
    /// ```
    /// use ringcore::broadcast::GatedRing;
    /// let mut ring = GatedRing::<8, 8, 2>::new();
    /// let (mut w, [mut a, mut b]) = ring.split_mut::<2>();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(a.try_read(|e| e.payload[0]), Ok(b'x'));
    /// assert_eq!(b.try_read(|e| e.payload[0]), Ok(b'x'));
    /// ```
    ///
    /// Asking for more readers than `R` fails the build:
    ///
    /// ```compile_fail,E0080
    /// let mut ring = ringcore::broadcast::GatedRing::<8, 8, 2>::new();
    /// let (_w, _readers) = ring.split_mut::<3>();
    /// ```
    pub fn split_mut<const K: usize>(
        &mut self,
    ) -> (
        Writer<'_, P, N, PAYLOAD, R>,
        [Reader<'_, P, N, PAYLOAD, R>; K],
    ) {
        const {
            assert!(
                K <= R,
                "ringcore::broadcast::Ring::split_mut::<K>: K must be at most R (the most readers)"
            )
        };
        let this: &Self = self;
        this.settings.closed.store(false, Ordering::Relaxed);
        let start = this.head.published.load(Ordering::Relaxed);
        for (index, reg) in this.readers.iter().enumerate() {
            // Exclusive access: no other handle exists, so plain atomic stores suffice.
            let word = if index < K {
                active_word(start)
            } else {
                left_word(start)
            };
            reg.word.store(word, Ordering::Relaxed);
            reg.seen.store(0, Ordering::Relaxed);
            reg.lost.store(0, Ordering::Relaxed);
        }
        let readers = core::array::from_fn(|index| Reader::new(this, index, start));
        (Writer::new(this), readers)
    }
}

/// Test support: what would take a writer billions of events.
#[cfg(test)]
impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Ring<P, N, PAYLOAD, R> {
    /// Moves the head of a ring that has no writer to `position`, as if a writer had
    /// published that many events (a writer taken later continues from there). Readers
    /// already registered stay where they are, far behind.
    pub(crate) fn fast_forward_for_test(&self, position: usize) {
        self.head.published.store(position, Ordering::Relaxed);
        self.head.claim.store(position, Ordering::Relaxed);
    }
}

#[cfg(not(ringcore_loom))]
impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Default
    for Ring<P, N, PAYLOAD, R>
{
    fn default() -> Self {
        Self::new()
    }
}
