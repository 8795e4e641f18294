//! The ring's shared state (cursors and bytes), the [`Storage`] trait that lets the same
//! handles run over a compile-time-sized [`Ring`] or a run-time-sized `HeapRing`, and the
//! split into handles.

use core::marker::PhantomData;

#[cfg(ringcore_cas)]
use super::SplitError;
use super::consumer::{ConsumerOf, ReadCursor};
use super::place::HEADER_LEN;
use super::producer::{ProducerOf, WriteCursor};
use super::{Consumer, Producer};
use crate::sync::{
    AtomicBool, AtomicUsize, ByteBuffer, CachePadded, Ordering, atomic_bool, atomic_usize,
    const_unless_loom,
};

pub(super) mod private {
    use super::*;

    /// The producer's two published words: they change together and only the producer
    /// writes them, so they share a cache line.
    #[derive(Debug)]
    pub struct ProducerWords {
        /// The producer's published position (see the module's cursor invariants).
        pub(crate) write: AtomicUsize,
        /// Where the data of the lap the producer last crossed into ends: the start of its
        /// wrap gap, or the lap's end when the last record ended exactly there.
        pub(crate) data_end: AtomicUsize,
    }

    /// The atomics every ring has, whatever holds its bytes.
    #[derive(Debug)]
    pub struct Cursors {
        pub(crate) producer: CachePadded<ProducerWords>,
        /// The consumer's released position.
        pub(crate) read: CachePadded<AtomicUsize>,
        // Only try_split reads it, and try_split needs compare-and-swap.
        #[cfg_attr(not(ringcore_cas), allow(dead_code))]
        pub(crate) split: AtomicBool,
        /// Where async handles wait for each other (feature `async`).
        #[cfg(all(feature = "async", ringcore_cas))]
        pub(crate) tasks: crate::spsc::asynch::Tasks,
    }

    impl Cursors {
        const_unless_loom! {
            pub(crate) fn new() -> Self {
                Self {
                    producer: CachePadded::new(ProducerWords {
                        write: atomic_usize(0),
                        data_end: atomic_usize(0),
                    }),
                    read: CachePadded::new(atomic_usize(0)),
                    split: atomic_bool(false),
                    #[cfg(all(feature = "async", ringcore_cas))]
                    tasks: crate::spsc::asynch::Tasks::new(),
                }
            }
        }

        /// Claims the one split of a ring; `false` if it was claimed before.
        #[cfg(ringcore_cas)]
        pub(crate) fn claim_split(&self) -> bool {
            // Relaxed: the flag only decides who wins the claim (an RMW sees every earlier
            // one); it guards no data. The cursors' state reached this thread with the
            // reference that shared the ring.
            !self.split.swap(true, Ordering::Relaxed)
        }
    }

    /// What the handles need from a ring: its cursors, its capacity and its bytes. Only
    /// this crate implements it.
    pub trait RingStorage {
        /// The cursors.
        fn cursors(&self) -> &Cursors;
        /// Capacity in bytes: a power of two from 64 to 2^31.
        fn capacity(&self) -> usize;
        /// The first byte; 8-aligned, valid for `capacity()` bytes for as long as `self`
        /// lives, accessed only as the cursor protocol allows.
        fn base(&self) -> *mut u8;
        /// Tells loom that this thread reads `off..off + len` (no-op otherwise).
        fn track_read(&self, off: usize, len: usize);
        /// Tells loom that this thread writes `off..off + len` (no-op otherwise).
        fn track_write(&self, off: usize, len: usize);
    }

    /// What a handle holds to reach its ring: a reference or an owning pointer.
    pub trait RingPointer: Clone {
        /// The ring.
        type Ring: super::Storage;
        /// Borrows the ring.
        fn ring(&self) -> &Self::Ring;
    }
}

use private::{Cursors, RingPointer, RingStorage};

/// A ring the SPSC handles can work on: [`Ring`], whose capacity is fixed at compile time,
/// or (with the `alloc` feature) `HeapRing`, whose capacity is chosen at run time. Sealed.
pub trait Storage: RingStorage + Sync {}

/// What a handle holds to reach its ring: `&Ring<N>`, `&HeapRing`, or (with the `alloc`
/// feature) an `Arc` of either, which makes the handles own the ring. Sealed.
pub trait RingRef: RingPointer {}

impl<S: Storage> RingPointer for &S {
    type Ring = S;
    #[inline(always)]
    fn ring(&self) -> &S {
        self
    }
}
impl<S: Storage> RingRef for &S {}

/// A ring of `N` bytes holding framed records; `N` is a power of two from 64 to 2^31.
///
/// ```
/// use ringcore::spsc::Ring;
/// let ring = Ring::<4096>::new();
/// assert_eq!(Ring::<4096>::MAX_PAYLOAD, 2048 - 16);
/// let (p, c) = ring.try_split(0).unwrap();
/// # drop((p, c));
/// ```
///
/// # Size
///
/// `N` bytes of buffer plus three cursor words and a flag, each cursor padded to a cache
/// line where the target has caches shared between cores (see
/// [`CachePadded`](crate::sync::CachePadded)); on bare-metal targets a `Ring<1024>` is at
/// most 1040 bytes (checked when the crate is built for them).
///
/// # Large rings on the heap
///
/// With the `alloc` feature, `Ring::boxed` allocates a ring directly on the heap and
/// `Ring::split_owned` returns handles that own it, so no caller needs `unsafe`. In normal
/// (non-loom) builds all-zero bytes are also a valid empty, unsplit `Ring<N>` (atomics
/// holding `0`/`false` and a byte array); this remains a stable guarantee of this type.
///
/// A size that is not a power of two fails the build:
///
/// ```compile_fail
/// let ring = ringcore::spsc::Ring::<1000>::new();
/// ```
// `repr(C)`, cursors first: on bare metal (no cache padding) they then sit at small
// offsets from the ring's address, which Thumb loads and stores encode in the instruction,
// rather than past the buffer, where every access needs the offset built in a register.
// Where the cursors are cache-padded they fill whole lines, so the buffer still starts on
// a line of its own.
#[repr(C)]
pub struct Ring<const N: usize> {
    pub(super) cursors: Cursors,
    buf: ByteBuffer<N>,
}

// The RAM target of the embedded build: a 1 KiB ring costs at most 16 bytes more than its
// buffer where no cache padding applies (the `async` feature adds its two waker slots).
#[cfg(all(
    target_os = "none",
    target_pointer_width = "32",
    not(ringcore_loom),
    not(feature = "async")
))]
const _: () = assert!(core::mem::size_of::<Ring<1024>>() <= 1040);

// SAFETY: the buffer is shared, but the cursor protocol (module docs) gives each byte range
// to exactly one side at a time, with Release/Acquire edges at every hand-over.
unsafe impl<const N: usize> Sync for Ring<N> {}

impl<const N: usize> core::fmt::Debug for Ring<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        debug_cursors(f.debug_struct("Ring"), N, &self.cursors)
    }
}

pub(super) fn debug_cursors(
    mut d: core::fmt::DebugStruct<'_, '_>,
    capacity: usize,
    cursors: &Cursors,
) -> core::fmt::Result {
    d.field("capacity", &capacity)
        .field("write", &cursors.producer.write.load(Ordering::Relaxed))
        .field("read", &cursors.read.load(Ordering::Relaxed))
        .finish_non_exhaustive()
}

impl<const N: usize> private::RingStorage for Ring<N> {
    #[inline(always)]
    fn cursors(&self) -> &Cursors {
        &self.cursors
    }
    #[inline(always)]
    fn capacity(&self) -> usize {
        N
    }
    #[inline(always)]
    fn base(&self) -> *mut u8 {
        self.buf.as_ptr()
    }
    #[inline(always)]
    fn track_read(&self, off: usize, len: usize) {
        self.buf.track_read(off, len);
    }
    #[inline(always)]
    fn track_write(&self, off: usize, len: usize) {
        self.buf.track_write(off, len);
    }
}
impl<const N: usize> Storage for Ring<N> {}

/// The capacity rule of every ring: a power of two from 64 to 2^31 bytes.
pub(super) const fn capacity_ok(capacity: usize) -> bool {
    capacity.is_power_of_two() && capacity >= 64 && capacity <= (1 << 31)
}

impl<const N: usize> Ring<N> {
    pub(super) const SIZE_OK: () = assert!(
        capacity_ok(N),
        "ringcore::spsc::Ring<N>: N must be a power of two from 64 to 2^31 bytes"
    );

    /// The largest payload a record may carry: header plus payload at most `N / 2`.
    pub const MAX_PAYLOAD: usize = N / 2 - HEADER_LEN;

    const_unless_loom! {
        /// Creates an empty, unsplit ring. `const`, so a ring can be a `static`.
        ///
        /// ```
        /// static RING: ringcore::spsc::Ring<256> = ringcore::spsc::Ring::new();
        /// assert_eq!(RING.capacity(), 256);
        /// ```
        pub fn new() -> Self {
            let () = Self::SIZE_OK;
            Self {
                cursors: Cursors::new(),
                buf: ByteBuffer::new(),
            }
        }
    }

    /// Capacity in bytes.
    ///
    /// ```
    /// assert_eq!(ringcore::spsc::Ring::<128>::new().capacity(), 128);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Hands out the one producer and the one consumer of this ring. The producer numbers
    /// records from `first_seq` on, so a log can resume where it stopped. A second call
    /// returns [`SplitError::AlreadySplit`], even after the handles are dropped.
    ///
    /// Needs compare-and-swap: on targets without it (thumbv6m, riscv32imc) enable the
    /// `critical-section` or `unsafe-assume-single-core` feature, or use
    /// [`Ring::split_mut`].
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// assert!(ring.try_split(0).is_ok());
    /// assert!(ring.try_split(0).is_err());
    /// ```
    #[cfg(ringcore_cas)]
    pub fn try_split(
        &self,
        first_seq: u64,
    ) -> Result<(Producer<'_, N>, Consumer<'_, N>), SplitError> {
        if !self.cursors.claim_split() {
            return Err(SplitError::AlreadySplit);
        }
        Ok(handles(self, first_seq))
    }

    /// Splits a ring the caller holds exclusively; needs no compare-and-swap, so it works
    /// on every target. The borrow checker makes a second split while the handles live
    /// impossible; a split after they are dropped continues from where they stopped. The
    /// ring stores no sequence numbers: records the old handles left in it are numbered
    /// backwards from the new `first_seq` (pass the old producer's
    /// [`next_seq`](super::ProducerOf::next_seq) to keep the numbering).
    ///
    /// ```
    /// let mut ring = ringcore::spsc::Ring::<128>::new();
    /// {
    ///     let (mut p, _c) = ring.split_mut(0);
    ///     p.push(0, 0, b"a").unwrap();
    /// }
    /// let (_p, mut c) = ring.split_mut(1);
    /// let r = c.read().unwrap();
    /// assert_eq!((r.seq(), r.payload()), (0, &b"a"[..]));
    /// ```
    pub fn split_mut(&mut self, first_seq: u64) -> (Producer<'_, N>, Consumer<'_, N>) {
        handles(&*self, first_seq)
    }
}

#[cfg(test)]
impl<const N: usize> Ring<N> {
    /// The first byte of the buffer, for tests that check the bytes in place.
    pub(super) fn buf_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }
}

#[cfg(not(ringcore_loom))]
impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The two handles of a ring no other handle is using (split once, or held exclusively).
pub(super) fn handles<R: RingRef>(ring: R, first_seq: u64) -> (ProducerOf<R>, ConsumerOf<R>) {
    let cursors = ring.ring().cursors();
    // Relaxed: no handles of this ring run concurrently (split once, or exclusive access),
    // so whatever stored these cursors happened before this call.
    let write = cursors.producer.write.load(Ordering::Relaxed);
    let read = cursors.read.load(Ordering::Relaxed);
    // Records left by earlier handles are numbered backwards from `first_seq`, so the
    // consumer's count continues where the new producer's numbering starts.
    let mut cursor = ReadCursor::new(read, write, 0);
    let left = cursor.count_framed(ring.ring());
    #[cfg(all(feature = "async", ringcore_cas))]
    cursors.tasks.reopen();
    let consumer_ring = ring.clone();
    (
        ProducerOf {
            ring,
            cursor: WriteCursor {
                pos: write,
                // Nothing may be written before the consumer's cursor has been read.
                stop: write,
                seq: first_seq,
            },
            published: write,
            _not_sync: PhantomData,
        },
        ConsumerOf {
            ring: consumer_ring,
            cursor: ReadCursor::new(read, write, first_seq.wrapping_sub(left)),
            released: read,
            _not_sync: PhantomData,
        },
    )
}
