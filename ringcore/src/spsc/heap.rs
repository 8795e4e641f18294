//! Rings on the heap (`alloc` feature): [`HeapRing`], whose capacity is chosen at run
//! time, [`Ring::boxed`], and handles that own their ring ([`HeapProducer`],
//! [`BoxedProducer`] and their consumers), so no caller needs `unsafe` to put a large ring
//! on the heap or to give its handles to threads.

extern crate alloc;

use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use alloc::boxed::Box;
#[cfg(target_has_atomic = "ptr")]
use alloc::sync::Arc;
use core::ptr::NonNull;

#[cfg(ringcore_cas)]
use super::SplitError;
use super::place::HEADER_LEN;
#[cfg(target_has_atomic = "ptr")]
use super::ring::RingRef;
#[cfg(target_has_atomic = "ptr")]
use super::ring::private::RingPointer;
use super::ring::private::{Cursors, RingStorage};
use super::ring::{Storage, capacity_ok, debug_cursors, handles};
use super::{ConsumerOf, ProducerOf, Ring};
use crate::frame::RECORD_ALIGN;
use crate::sync::AccessTracker;

/// A capacity a ring cannot have: not a power of two from 64 to 2^31 bytes.
///
/// ```
/// use ringcore::spsc::{CapacityError, HeapRing};
/// assert_eq!(HeapRing::new(1000).err(), Some(CapacityError { capacity: 1000 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityError {
    /// The capacity asked for.
    pub capacity: usize,
}

impl core::fmt::Display for CapacityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "ring capacity {} is not a power of two from 64 to 2^31 bytes",
            self.capacity
        )
    }
}

impl core::error::Error for CapacityError {}

/// An SPSC ring whose capacity is chosen at run time, its bytes on the heap. The same
/// handles, records and guarantees as [`Ring<N>`], with the capacity read from the ring
/// instead of a constant.
///
/// ```
/// use ringcore::spsc::HeapRing;
/// let ring = HeapRing::new(1 << 20).unwrap();
/// let (mut p, mut c) = ring.try_split(0).unwrap();
/// p.push(0, 0, b"big").unwrap();
/// assert_eq!(c.read().unwrap().payload(), b"big");
/// ```
pub struct HeapRing {
    cursors: Cursors,
    bytes: NonNull<u8>,
    capacity: usize,
    tracker: AccessTracker,
}

// SAFETY: the ring owns its allocation (freed only in Drop); the bytes are shared between
// the two handles under the cursor protocol (module docs of `spsc`), which gives each byte
// range to one side at a time with Release/Acquire edges at every hand-over.
unsafe impl Send for HeapRing {}
// SAFETY: as for Send; every shared access goes through atomics or the protocol.
unsafe impl Sync for HeapRing {}

impl core::fmt::Debug for HeapRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        debug_cursors(f.debug_struct("HeapRing"), self.capacity, &self.cursors)
    }
}

impl HeapRing {
    fn layout(capacity: usize) -> Layout {
        match Layout::from_size_align(capacity, RECORD_ALIGN) {
            Ok(layout) => layout,
            // Unreachable: capacity_ok bounds the size far below isize::MAX.
            Err(_) => handle_alloc_error(Layout::new::<u64>()),
        }
    }

    /// An empty, unsplit ring of `capacity` bytes (a power of two from 64 to 2^31),
    /// zeroed on the heap.
    ///
    /// ```
    /// let ring = ringcore::spsc::HeapRing::new(4096).unwrap();
    /// assert_eq!((ring.capacity(), ring.max_payload()), (4096, 2048 - 16));
    /// ```
    pub fn new(capacity: usize) -> Result<Self, super::CapacityError> {
        if !capacity_ok(capacity) {
            return Err(CapacityError { capacity });
        }
        let layout = Self::layout(capacity);
        // SAFETY: the layout's size is at least 64, not zero. Zeroed: grants hand the
        // producer `&mut [u8]` of bytes it has not written yet, which must be initialised.
        let ptr = unsafe { alloc_zeroed(layout) };
        let Some(bytes) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        Ok(Self {
            cursors: Cursors::new(),
            bytes,
            capacity,
            tracker: AccessTracker::new(capacity.div_ceil(8)),
        })
    }

    /// Capacity in bytes.
    ///
    /// ```
    /// assert_eq!(ringcore::spsc::HeapRing::new(128).unwrap().capacity(), 128);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest payload of a framed record: header plus payload at most half the
    /// capacity.
    ///
    /// ```
    /// assert_eq!(ringcore::spsc::HeapRing::new(128).unwrap().max_payload(), 48);
    /// ```
    pub fn max_payload(&self) -> usize {
        self.capacity / 2 - HEADER_LEN
    }

    /// Hands out the one producer and the one consumer, borrowing the ring; see
    /// [`Ring::try_split`].
    ///
    /// ```
    /// let ring = ringcore::spsc::HeapRing::new(128).unwrap();
    /// assert!(ring.try_split(0).is_ok());
    /// assert!(ring.try_split(0).is_err());
    /// ```
    #[cfg(ringcore_cas)]
    #[allow(clippy::type_complexity)]
    pub fn try_split(
        &self,
        first_seq: u64,
    ) -> Result<(ProducerOf<&Self>, ConsumerOf<&Self>), SplitError> {
        if !self.cursors.claim_split() {
            return Err(SplitError::AlreadySplit);
        }
        Ok(handles(self, first_seq))
    }

    /// Splits a ring the caller holds exclusively; see [`Ring::split_mut`].
    ///
    /// ```
    /// let mut ring = ringcore::spsc::HeapRing::new(128).unwrap();
    /// let (mut p, mut c) = ring.split_mut(0);
    /// p.push(0, 0, b"m").unwrap();
    /// assert_eq!(c.read().unwrap().payload(), b"m");
    /// ```
    pub fn split_mut(&mut self, first_seq: u64) -> (ProducerOf<&Self>, ConsumerOf<&Self>) {
        handles(&*self, first_seq)
    }

    /// A new ring of `capacity` bytes and its two handles, which own it together: the ring
    /// is freed when both are dropped. The handles are `Send + 'static`, so each can move
    /// to its own thread.
    ///
    /// ```
    /// let (mut p, mut c) = ringcore::spsc::HeapRing::split_owned(1 << 16, 7).unwrap();
    /// let t = std::thread::spawn(move || p.push(0, 0, b"owned").unwrap());
    /// assert_eq!(t.join().unwrap(), 7);
    /// assert_eq!(c.read().unwrap().payload(), b"owned");
    /// ```
    #[cfg(target_has_atomic = "ptr")]
    pub fn split_owned(
        capacity: usize,
        first_seq: u64,
    ) -> Result<(HeapProducer, HeapConsumer), CapacityError> {
        Ok(handles(Arc::new(Self::new(capacity)?), first_seq))
    }
}

impl Drop for HeapRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed only here.
        unsafe { dealloc(self.bytes.as_ptr(), Self::layout(self.capacity)) }
    }
}

impl RingStorage for HeapRing {
    #[inline(always)]
    fn cursors(&self) -> &Cursors {
        &self.cursors
    }
    #[inline(always)]
    fn capacity(&self) -> usize {
        self.capacity
    }
    #[inline(always)]
    fn base(&self) -> *mut u8 {
        self.bytes.as_ptr()
    }
    #[inline(always)]
    fn track_read(&self, off: usize, len: usize) {
        self.tracker.read(off / 8..(off + len).div_ceil(8));
    }
    #[inline(always)]
    fn track_write(&self, off: usize, len: usize) {
        self.tracker.write(off / 8..(off + len).div_ceil(8));
    }
}
impl Storage for HeapRing {}

#[cfg(target_has_atomic = "ptr")]
impl<S: Storage> RingPointer for Arc<S> {
    type Ring = S;
    #[inline(always)]
    fn ring(&self) -> &S {
        self
    }
}
#[cfg(target_has_atomic = "ptr")]
impl<S: Storage> RingRef for Arc<S> {}

/// The producer of a [`HeapRing`] it owns together with its consumer.
#[cfg(target_has_atomic = "ptr")]
pub type HeapProducer = ProducerOf<Arc<HeapRing>>;
/// The consumer of a [`HeapRing`] it owns together with its producer.
#[cfg(target_has_atomic = "ptr")]
pub type HeapConsumer = ConsumerOf<Arc<HeapRing>>;
/// The producer of a boxed [`Ring<N>`] it owns together with its consumer.
#[cfg(target_has_atomic = "ptr")]
pub type BoxedProducer<const N: usize> = ProducerOf<Arc<Ring<N>>>;
/// The consumer of a boxed [`Ring<N>`] it owns together with its producer.
#[cfg(target_has_atomic = "ptr")]
pub type BoxedConsumer<const N: usize> = ConsumerOf<Arc<Ring<N>>>;

impl<const N: usize> Ring<N> {
    /// An empty, unsplit ring allocated directly on the heap (never built on the stack,
    /// so rings of megabytes are fine).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<{ 1 << 24 }>::boxed();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"16 MiB").unwrap();
    /// assert_eq!(c.read().unwrap().payload(), b"16 MiB");
    /// ```
    pub fn boxed() -> Box<Self> {
        #[cfg(not(ringcore_loom))]
        {
            let () = Self::SIZE_OK;
            // SAFETY: outside loom builds all-zero bytes are a valid empty, unsplit ring:
            // the same value `Ring::new()` builds (atomics holding 0/false, portable-atomic's
            // atomics having the layout of the plain integers, and a byte array; with the
            // `async` feature, waker slots whose all-zero value is empty).
            unsafe { Box::<Self>::new_zeroed().assume_init() }
        }
        #[cfg(ringcore_loom)]
        Box::new(Self::new())
    }

    /// A new ring on the heap and its two handles, which own it together: the ring is
    /// freed when both are dropped.
    ///
    /// ```
    /// let (mut p, mut c) = ringcore::spsc::Ring::<{ 1 << 20 }>::split_owned(0);
    /// let t = std::thread::spawn(move || p.push(0, 0, b"x").unwrap());
    /// t.join().unwrap();
    /// assert_eq!(c.read().unwrap().payload(), b"x");
    /// ```
    #[cfg(target_has_atomic = "ptr")]
    pub fn split_owned(first_seq: u64) -> (BoxedProducer<N>, BoxedConsumer<N>) {
        handles(Arc::from(Self::boxed()), first_seq)
    }
}
