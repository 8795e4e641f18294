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

#[cfg(not(ringcore_loom))]
pub(crate) use portable_atomic::fence;

#[cfg(ringcore_loom)]
pub(crate) use loom::sync::atomic::fence;

/// Bytes in one atomic word of slot memory: the width of `usize`, which every target with
/// atomic loads and stores has natively (no `AtomicU64` on 32-bit targets).
const WORD: usize = core::mem::size_of::<usize>();

/// The bytes of one fixed-size slot: a frame header followed by `PAYLOAD` payload bytes.
/// Aligned to 8 so that every word of it can be addressed by a word-sized atomic on both
/// 32- and 64-bit targets (callers keep `PAYLOAD` a multiple of 8).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct RawSlot<const PAYLOAD: usize> {
    header: [u8; crate::frame::HEADER_LEN],
    payload: [u8; PAYLOAD],
}

/// `N` fixed-size slots shared between threads, accessed in one of two ways, chosen per
/// ring and never mixed on one ring:
///
/// * **plain** ([`SlotArray::write_plain`], [`SlotArray::read_plain`]): ordinary copies,
///   for protocols that hand a whole slot to one side at a time with Release/Acquire
///   edges (a gated broadcast ring);
/// * **word atomics** ([`SlotArray::store_record`], [`SlotArray::load_record`]): every
///   byte is stored and loaded with `Relaxed` word-sized atomic operations, for seqlock
///   protocols where a reader may copy a slot while the writer overwrites it (an
///   overwrite broadcast ring). The copy is validated by the caller afterwards; racing
///   word atomics are never undefined behaviour, unlike plain loads racing with stores.
///
/// Under loom every plain access reports a read or write of the slot to a loom
/// `UnsafeCell`, and the word atomics are loom atomics, so the model checker sees both a
/// missing happens-before edge (a race) and a stale or torn word (a wrong value).
pub(crate) struct SlotArray<const N: usize, const PAYLOAD: usize> {
    slots: core::cell::UnsafeCell<[RawSlot<PAYLOAD>; N]>,
    #[cfg(ringcore_loom)]
    cells: std::vec::Vec<loom::cell::UnsafeCell<()>>,
    #[cfg(ringcore_loom)]
    words: std::vec::Vec<AtomicUsize>,
}

impl<const N: usize, const PAYLOAD: usize> SlotArray<N, PAYLOAD> {
    #[cfg(ringcore_loom)]
    const SLOT_WORDS: usize = core::mem::size_of::<RawSlot<PAYLOAD>>() / WORD;

    /// An array of zeroed slots (`const`, so it can live in a `static` and in `.bss`).
    #[cfg(not(ringcore_loom))]
    pub(crate) const fn new() -> Self {
        Self {
            slots: core::cell::UnsafeCell::new(
                [RawSlot {
                    header: [0; crate::frame::HEADER_LEN],
                    payload: [0; PAYLOAD],
                }; N],
            ),
        }
    }

    /// An array of zeroed slots (loom build: not `const`).
    #[cfg(ringcore_loom)]
    pub(crate) fn new() -> Self {
        Self {
            slots: core::cell::UnsafeCell::new(
                [RawSlot {
                    header: [0; crate::frame::HEADER_LEN],
                    payload: [0; PAYLOAD],
                }; N],
            ),
            cells: (0..N).map(|_| loom::cell::UnsafeCell::new(())).collect(),
            words: (0..N * Self::SLOT_WORDS)
                .map(|_| AtomicUsize::new(0))
                .collect(),
        }
    }

    #[inline(always)]
    fn slot_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!(index < N);
        // SAFETY: callers pass `position & (N - 1)`, so `index < N` and the offset stays
        // inside the array; the pointer comes from the UnsafeCell, so writing through it
        // is allowed where the caller's protocol makes the slot exclusive.
        unsafe {
            self.slots
                .get()
                .cast::<RawSlot<PAYLOAD>>()
                .add(index)
                .cast::<u8>()
        }
    }

    /// Copies a header and a payload into slot `index` with plain stores.
    ///
    /// # Safety
    /// `index < N`, `payload.len() <= PAYLOAD`; no other thread accesses slot `index`
    /// until this thread hands it over with a Release store that the reader loads with
    /// Acquire; this array is never accessed with word atomics.
    #[inline(always)]
    pub(crate) unsafe fn write_plain(
        &self,
        index: usize,
        header: &[u8; crate::frame::HEADER_LEN],
        payload: &[u8],
    ) {
        debug_assert!(payload.len() <= PAYLOAD);
        #[cfg(ringcore_loom)]
        self.cells[index].with_mut(|_| ());
        let dst = self.slot_ptr(index);
        // SAFETY: header and payload fit the slot (HEADER_LEN + PAYLOAD bytes, checked
        // above); the caller guarantees that no other thread touches the slot now.
        unsafe {
            core::ptr::copy_nonoverlapping(header.as_ptr(), dst, crate::frame::HEADER_LEN);
            core::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                dst.add(crate::frame::HEADER_LEN),
                payload.len(),
            );
        }
    }

    /// Borrows slot `index`'s header bytes and its whole payload area for plain reads.
    ///
    /// # Safety
    /// `index < N`; the slot's last write happens before this call (a Release/Acquire
    /// hand-over), and no thread writes it while the returned borrows live (the caller
    /// picks `'r` accordingly); this array is never accessed with word atomics.
    #[inline(always)]
    pub(crate) unsafe fn read_plain<'r>(
        &self,
        index: usize,
    ) -> (&'r [u8; crate::frame::HEADER_LEN], &'r [u8; PAYLOAD]) {
        #[cfg(ringcore_loom)]
        self.cells[index].with(|_| ());
        let slot = self.slot_ptr(index).cast::<RawSlot<PAYLOAD>>();
        // SAFETY: the slot is in bounds and initialised (zeroed at construction); per the
        // caller's contract nothing writes it while the borrows live.
        unsafe { (&(*slot).header, &(*slot).payload) }
    }

    #[inline(always)]
    fn word(&self, index: usize, word: usize) -> &AtomicUsize {
        #[cfg(not(ringcore_loom))]
        {
            debug_assert!((word + 1) * WORD <= core::mem::size_of::<RawSlot<PAYLOAD>>());
            // SAFETY: the slot is 8-aligned and `word * WORD` is a multiple of the word
            // size, so the pointer is aligned for `usize`; it stays inside the slot; the
            // slots of an array used with word atomics are never accessed otherwise (the
            // contract of `store_record`/`load_record`), so all accesses are atomic.
            unsafe { AtomicUsize::from_ptr(self.slot_ptr(index).add(word * WORD).cast::<usize>()) }
        }
        #[cfg(ringcore_loom)]
        {
            &self.words[index * Self::SLOT_WORDS + word]
        }
    }

    /// Stores bytes from byte `offset` (a multiple of 8) of slot `index` with `Relaxed`
    /// word-sized atomic stores; the last word is zero-padded.
    #[inline(always)]
    fn store_bytes(&self, index: usize, offset: usize, src: &[u8]) {
        let mut word = offset / WORD;
        let mut chunks = src.chunks_exact(WORD);
        for chunk in &mut chunks {
            let mut bytes = [0u8; WORD];
            bytes.copy_from_slice(chunk);
            self.word(index, word)
                .store(usize::from_le_bytes(bytes), Ordering::Relaxed);
            word += 1;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut bytes = [0u8; WORD];
            bytes[..rest.len()].copy_from_slice(rest);
            self.word(index, word)
                .store(usize::from_le_bytes(bytes), Ordering::Relaxed);
        }
    }

    /// Stores a header and a payload into slot `index` with `Relaxed` word atomics.
    ///
    /// # Safety
    /// `index < N`, `payload.len() <= PAYLOAD`; this array is never accessed with plain
    /// copies ([`SlotArray::write_plain`], [`SlotArray::read_plain`]).
    #[inline(always)]
    pub(crate) unsafe fn store_record(
        &self,
        index: usize,
        header: &[u8; crate::frame::HEADER_LEN],
        payload: &[u8],
    ) {
        debug_assert!(index < N && payload.len() <= PAYLOAD);
        self.store_bytes(index, 0, header);
        self.store_bytes(index, crate::frame::HEADER_LEN, payload);
    }

    /// Copies slot `index` into `copy` with `Relaxed` word atomics: the header first, then
    /// as many payload words as the copied header's length asks for (clamped to
    /// `PAYLOAD`, since a header copied while the writer stores it may be torn). Returns
    /// the decoded header and the payload length that was copied. The result may be torn:
    /// the caller validates it before use (the seqlock pattern).
    ///
    /// # Safety
    /// `index < N`; this array is never accessed with plain copies.
    #[inline(always)]
    pub(crate) unsafe fn load_record(
        &self,
        index: usize,
        copy: &mut SlotCopy<PAYLOAD>,
    ) -> (crate::frame::FrameHeader, usize) {
        // SAFETY: forwarded contract.
        let header = unsafe { self.load_header(index, copy) };
        let len = (header.len as usize).min(PAYLOAD);
        let dst = copy.raw.as_mut_ptr().cast::<usize>();
        for i in 0..len.div_ceil(WORD) {
            let value = self
                .word(index, Self::HEADER_WORDS + i)
                .load(Ordering::Relaxed);
            // SAFETY: HEADER_WORDS + i < size_of::<RawSlot<PAYLOAD>>() / WORD because
            // len <= PAYLOAD; `to_le` as in load_header.
            unsafe { dst.add(Self::HEADER_WORDS + i).write(value.to_le()) };
        }
        copy.len = len;
        (header, len)
    }

    const HEADER_WORDS: usize = crate::frame::HEADER_LEN / WORD;

    /// Copies only slot `index`'s header into `copy` with `Relaxed` word atomics and
    /// decodes it (possibly torn: the caller validates, as for [`SlotArray::load_record`]).
    ///
    /// # Safety
    /// `index < N`; this array is never accessed with plain copies.
    #[inline(always)]
    pub(crate) unsafe fn load_header(
        &self,
        index: usize,
        copy: &mut SlotCopy<PAYLOAD>,
    ) -> crate::frame::FrameHeader {
        let dst = copy.raw.as_mut_ptr().cast::<usize>();
        for i in 0..Self::HEADER_WORDS {
            let value = self.word(index, i).load(Ordering::Relaxed);
            // SAFETY: `dst` points to a RawSlot-sized, 8-aligned buffer; word `i` of the
            // header lies inside it. `to_le` undoes `from_le_bytes` in `store_bytes`, so
            // the buffer holds the stored bytes in order on every target.
            unsafe { dst.add(i).write(value.to_le()) };
        }
        copy.len = 0;
        // SAFETY: the header words were all written just above.
        let header_bytes = unsafe { &(*copy.raw.as_ptr()).header };
        crate::frame::FrameHeader::decode(header_bytes).unwrap_or_default()
    }
}

/// A private copy of one slot, filled by [`SlotArray::load_record`]; its bytes are
/// uninitialised until then (no zeroing cost for large slots).
pub(crate) struct SlotCopy<const PAYLOAD: usize> {
    raw: core::mem::MaybeUninit<RawSlot<PAYLOAD>>,
    /// Payload bytes initialised by the last `load_record`.
    len: usize,
}

impl<const PAYLOAD: usize> SlotCopy<PAYLOAD> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self {
            raw: core::mem::MaybeUninit::uninit(),
            len: 0,
        }
    }

    /// The payload bytes copied by the last [`SlotArray::load_record`].
    #[inline(always)]
    pub(crate) fn payload(&self) -> &[u8] {
        let base = self.raw.as_ptr().cast::<u8>();
        // SAFETY: load_record initialised the words covering the first `len` payload
        // bytes (len <= PAYLOAD, inside the buffer); `len` is 0 before any load.
        unsafe { core::slice::from_raw_parts(base.add(crate::frame::HEADER_LEN), self.len) }
    }
}
