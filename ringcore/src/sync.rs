//! The one place atomics, `UnsafeCell`s and cache-line padding come from.
//!
//! Under `cfg(ringcore_loom)` the atomics and cells are loom's, so the model checker sees
//! every access; otherwise atomics come from `portable-atomic` (native instructions where
//! the target has them). No other module of `ringcore` names `core::sync::atomic` or
//! `loom`. This module chooses primitives and knows nothing about what the rings store in
//! them: the slot layout lives with the broadcast ring (`broadcast::slots`), the record
//! layout in [`frame`](crate::frame).
//!
//! Only loads, stores and (where the target or a forwarded feature provides it)
//! compare-and-swap of `usize`/`bool` are used: there is no `AtomicU64` in `ringcore`,
//! because the targets without native 64-bit atomics would fall back to a lock that an
//! interrupt handler can deadlock on.

#[cfg(not(ringcore_loom))]
pub(crate) use portable_atomic::{AtomicBool, AtomicUsize, Ordering, fence};

#[cfg(ringcore_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

// The lock and condition variable a blocking waiter sleeps on (`wait::Signal`, `std`
// only): loom's under `cfg(ringcore_loom)`, so the model sees sleeps and wake-ups and
// reports a lost wake-up as a deadlock.
#[cfg(all(any(test, feature = "std"), ringcore_loom))]
pub(crate) use loom::sync::{Condvar, Mutex};
#[cfg(all(any(test, feature = "std"), not(ringcore_loom)))]
pub(crate) use std::sync::{Condvar, Mutex};

/// Defines a constructor that is `const` in normal builds (so rings and pools can be
/// `static`s) and a plain `fn` under loom (loom's atomics and cells are not `const`); the
/// body is written once.
macro_rules! const_unless_loom {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident $(<$(const $g:ident: $gt:ty),*>)? ($($arg:ident: $ty:ty),*) -> $ret:ty
        $body:block
    ) => {
        $(#[$attr])*
        #[cfg(not(ringcore_loom))]
        $vis const fn $name $(<$(const $g: $gt),*>)? ($($arg: $ty),*) -> $ret $body

        $(#[$attr])*
        #[cfg(ringcore_loom)]
        $vis fn $name $(<$(const $g: $gt),*>)? ($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use const_unless_loom;

/// Pads and aligns a value to the cache line of the target, so two values written by
/// different cores never share a line.
///
/// * 128 bytes on x86_64, aarch64 and powerpc64: adjacent-line prefetch pairs 64-byte lines
///   on x86, and several Arm and POWER cores have 128-byte lines (crossbeam's `CachePadded`
///   makes the same choice);
/// * no padding at all on bare-metal targets (`target_os = "none"`, such as thumbv6m,
///   thumbv7em and riscv32imc): a single core has no line to share with another, so
///   padding would only cost RAM (a 1 KiB SPSC ring stays within 1040 bytes there);
/// * 64 bytes everywhere else.
///
/// ```
/// use ringcore::sync::CachePadded;
/// let padded = CachePadded::new(7_u32);
/// assert_eq!(*padded, 7);
/// # #[cfg(target_arch = "x86_64")]
/// assert_eq!(core::mem::align_of::<CachePadded<u32>>(), 128);
/// ```
#[derive(Debug, Default)]
#[cfg_attr(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64"
    ),
    repr(align(128))
)]
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_os = "none"
    )),
    repr(align(64))
)]
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

const_unless_loom! {
    /// A `usize` atomic, built `const` where the build allows it.
    pub(crate) fn atomic_usize(value: usize) -> AtomicUsize {
        AtomicUsize::new(value)
    }
}

const_unless_loom! {
    /// A `bool` atomic, built `const` where the build allows it.
    pub(crate) fn atomic_bool(value: bool) -> AtomicBool {
        AtomicBool::new(value)
    }
}

/// Spin-loop hint; under loom a yield so the model can schedule the other thread.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(ringcore_loom))]
    core::hint::spin_loop();
    #[cfg(ringcore_loom)]
    loom::thread::yield_now();
}

/// Reports reads and writes of numbered units of shared memory (the words of a buffer,
/// the slots of a ring) to loom, one loom `UnsafeCell` per unit, so that a missing
/// happens-before edge between one thread's release of a unit and another's reuse of it
/// is a detected race. Zero-sized, and every report a no-op, in normal builds.
pub(crate) struct AccessTracker {
    #[cfg(ringcore_loom)]
    cells: std::vec::Vec<loom::cell::UnsafeCell<()>>,
}

impl AccessTracker {
    const_unless_loom! {
        /// A tracker of `units` units.
        pub(crate) fn new(units: usize) -> Self {
            #[cfg(not(ringcore_loom))]
            let _ = units;
            Self {
                #[cfg(ringcore_loom)]
                cells: (0..units).map(|_| loom::cell::UnsafeCell::new(())).collect(),
            }
        }
    }

    /// Tells loom that this thread reads `units`.
    #[inline(always)]
    pub(crate) fn read(&self, units: core::ops::Range<usize>) {
        self.report(units, false);
    }

    /// Tells loom that this thread writes `units`.
    #[inline(always)]
    pub(crate) fn write(&self, units: core::ops::Range<usize>) {
        self.report(units, true);
    }

    #[inline(always)]
    fn report(&self, units: core::ops::Range<usize>, write: bool) {
        #[cfg(ringcore_loom)]
        for cell in &self.cells[units] {
            if write {
                cell.with_mut(|_| ());
            } else {
                cell.with(|_| ());
            }
        }
        #[cfg(not(ringcore_loom))]
        let _ = (units, write);
    }
}

/// Word-sized atomic access to memory that is otherwise plain bytes (the seqlock copies
/// of an overwrite ring). In normal builds a word *is* that memory, through
/// `AtomicUsize::from_ptr`; loom cannot follow pointers into plain memory, so under loom
/// every word is a loom atomic of its own, kept here, and the memory itself is unused.
pub(crate) struct AtomicWords {
    #[cfg(ringcore_loom)]
    words: std::vec::Vec<AtomicUsize>,
}

impl AtomicWords {
    const_unless_loom! {
        /// Room for `count` words (nothing in normal builds).
        pub(crate) fn new(count: usize) -> Self {
            #[cfg(not(ringcore_loom))]
            let _ = count;
            Self {
                #[cfg(ringcore_loom)]
                words: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            }
        }
    }

    /// The atomic word at `ptr`, which is word number `index` of the memory.
    ///
    /// # Safety
    /// `ptr` is aligned for `usize` and valid for as long as `self` is borrowed; the
    /// memory it points to is only ever accessed through atomics; `index < count` and is
    /// the same number every time the same `ptr` is passed.
    #[inline(always)]
    pub(crate) unsafe fn word(&self, ptr: *mut usize, index: usize) -> &AtomicUsize {
        #[cfg(not(ringcore_loom))]
        {
            let _ = index;
            // SAFETY: aligned, valid while `self` is borrowed, and accessed only
            // atomically (the caller's contract).
            unsafe { AtomicUsize::from_ptr(ptr) }
        }
        #[cfg(ringcore_loom)]
        {
            let _ = ptr;
            &self.words[index]
        }
    }
}

/// A byte buffer shared between threads that hand ranges of it to each other through
/// atomics.
///
/// In normal builds it is a `core::cell::UnsafeCell<[u8; N]>`. Under loom an
/// [`AccessTracker`] with one unit per 8-byte word reports every access to a range, so a
/// missing happens-before edge between a consumer's release of a range and the producer's
/// reuse of it is a detected race.
///
/// Zero bytes are a valid value of this type in normal builds (it is plain bytes), which
/// lets callers allocate large rings zeroed on the heap. The bytes start at an address
/// aligned to 8, so a ring can read an 8-aligned record header in place.
#[repr(C, align(8))]
pub(crate) struct ByteBuffer<const N: usize> {
    bytes: core::cell::UnsafeCell<[u8; N]>,
    tracker: AccessTracker,
}

impl<const N: usize> ByteBuffer<N> {
    const_unless_loom! {
        /// A zeroed buffer.
        pub(crate) fn new() -> Self {
            Self {
                bytes: core::cell::UnsafeCell::new([0; N]),
                tracker: AccessTracker::new(N.div_ceil(8)),
            }
        }
    }

    /// Tells loom that this thread reads `start..start + len`; a no-op in normal builds.
    #[inline(always)]
    pub(crate) fn track_read(&self, start: usize, len: usize) {
        self.tracker.read(start / 8..(start + len).div_ceil(8));
    }

    /// Tells loom that this thread writes `start..start + len`; a no-op in normal builds.
    #[inline(always)]
    pub(crate) fn track_write(&self, start: usize, len: usize) {
        self.tracker.write(start / 8..(start + len).div_ceil(8));
    }

    /// A raw pointer to the first byte. Dereferencing it is the caller's business: the
    /// ring protocols decide which ranges a thread may touch.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.bytes.get().cast::<u8>()
    }
}
