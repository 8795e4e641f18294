//! The one place atomics, `UnsafeCell` and cache-line padding come from.
//!
//! Under `cfg(ringcore_loom)` the atomics and cells are loom's, so the model checker sees
//! every access; otherwise atomics come from `portable-atomic` (native instructions where
//! the target has them). No other module of `ringcore` names `core::sync::atomic` or
//! `loom`.
//!
//! Only loads, stores and (where the target or a forwarded feature provides it)
//! compare-and-swap of `usize`/`bool` are used: there is no `AtomicU64` in `ringcore`,
//! because the targets without native 64-bit atomics would fall back to a lock that an
//! interrupt handler can deadlock on.

#[cfg(not(ringcore_loom))]
pub(crate) use portable_atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(ringcore_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Pads and aligns a value to 128 bytes, so two values written by different cores never
/// share a cache line (128 rather than 64 because adjacent-line prefetch pairs lines on
/// x86, as crossbeam's `CachePadded` notes).
///
/// ```
/// use ringcore::sync::CachePadded;
/// let padded = CachePadded::new(7_u32);
/// assert_eq!(*padded, 7);
/// assert_eq!(core::mem::align_of::<CachePadded<u32>>(), 128);
/// ```
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Wraps `value` in its own cache line.
    ///
    /// ```
    /// let p = ringcore::sync::CachePadded::new(1_u8);
    /// assert_eq!(p.into_inner(), 1);
    /// ```
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Returns the wrapped value.
    ///
    /// ```
    /// let p = ringcore::sync::CachePadded::new("x");
    /// assert_eq!(p.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> core::ops::DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// A `usize` atomic whose constructor is `const` in normal builds (so rings can be
/// `static`) and plain in loom builds (loom's atomics are not `const`).
#[cfg(not(ringcore_loom))]
pub(crate) const fn atomic_usize(value: usize) -> AtomicUsize {
    AtomicUsize::new(value)
}

#[cfg(ringcore_loom)]
pub(crate) fn atomic_usize(value: usize) -> AtomicUsize {
    AtomicUsize::new(value)
}

/// See [`atomic_usize`].
#[cfg(not(ringcore_loom))]
pub(crate) const fn atomic_bool(value: bool) -> AtomicBool {
    AtomicBool::new(value)
}

#[cfg(ringcore_loom)]
pub(crate) fn atomic_bool(value: bool) -> AtomicBool {
    AtomicBool::new(value)
}

/// Spin-loop hint; under loom a yield so the model can schedule the other thread.
#[allow(dead_code)] // used by the broadcast ring's wait strategies
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(ringcore_loom))]
    core::hint::spin_loop();
    #[cfg(ringcore_loom)]
    loom::thread::yield_now();
}

/// A byte buffer shared between threads that hand ranges of it to each other through
/// atomics.
///
/// In normal builds it is a `core::cell::UnsafeCell<[u8; N]>`. Under loom it also holds one
/// loom `UnsafeCell<()>` per 8-byte word, and every access to a range reports a read or a
/// write of those words to loom, so a missing happens-before edge between a consumer's
/// release of a range and the producer's reuse of it is a detected race.
///
/// Zero bytes are a valid value of this type in normal builds (it is plain bytes), which
/// lets callers allocate large rings zeroed on the heap.
pub(crate) struct ByteBuffer<const N: usize> {
    bytes: core::cell::UnsafeCell<[u8; N]>,
    #[cfg(ringcore_loom)]
    words: std::vec::Vec<loom::cell::UnsafeCell<()>>,
}

impl<const N: usize> ByteBuffer<N> {
    #[cfg(not(ringcore_loom))]
    pub(crate) const fn new() -> Self {
        Self {
            bytes: core::cell::UnsafeCell::new([0; N]),
        }
    }

    #[cfg(ringcore_loom)]
    pub(crate) fn new() -> Self {
        Self {
            bytes: core::cell::UnsafeCell::new([0; N]),
            words: (0..N.div_ceil(8))
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        }
    }

    /// Tells loom that this thread reads `start..start + len`; a no-op in normal builds.
    #[inline(always)]
    pub(crate) fn track_read(&self, start: usize, len: usize) {
        #[cfg(ringcore_loom)]
        for w in start / 8..(start + len).div_ceil(8) {
            self.words[w].with(|_| ());
        }
        #[cfg(not(ringcore_loom))]
        let _ = (start, len);
    }

    /// Tells loom that this thread writes `start..start + len`; a no-op in normal builds.
    #[inline(always)]
    pub(crate) fn track_write(&self, start: usize, len: usize) {
        #[cfg(ringcore_loom)]
        for w in start / 8..(start + len).div_ceil(8) {
            self.words[w].with_mut(|_| ());
        }
        #[cfg(not(ringcore_loom))]
        let _ = (start, len);
    }

    /// A raw pointer to the first byte. Dereferencing it is the caller's business: the
    /// ring protocols decide which ranges a thread may touch.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.bytes.get().cast::<u8>()
    }
}
