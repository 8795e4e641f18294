//! Slot memory of a broadcast ring: `N` fixed-size slots of a frame header plus `PAYLOAD`
//! payload bytes, and the two ways of touching them. Which positions a thread may touch is
//! the writer's and readers' business (see the module's cursor invariants); this module
//! only copies bytes in and out, through the primitives of [`crate::sync`].

use crate::frame::{FrameHeader, HEADER_LEN};
use crate::sync::{AccessTracker, AtomicUsize, AtomicWords, Ordering, const_unless_loom};

/// Bytes in one atomic word of slot memory: the width of `usize`, which every target with
/// atomic loads and stores has natively (no `AtomicU64` on 32-bit targets).
const WORD: usize = core::mem::size_of::<usize>();

/// The bytes of one fixed-size slot: a frame header followed by `PAYLOAD` payload bytes.
/// Aligned to 8 so that every word of it can be addressed by a word-sized atomic on both
/// 32- and 64-bit targets (callers keep `PAYLOAD` a multiple of 8).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(super) struct RawSlot<const PAYLOAD: usize> {
    header: [u8; HEADER_LEN],
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
/// Under loom every plain access reports a read or write of the slot to an
/// [`AccessTracker`], and the word atomics are loom atomics ([`AtomicWords`]), so the
/// model checker sees both a missing happens-before edge (a race) and a stale or torn
/// word (a wrong value).
pub(super) struct SlotArray<const N: usize, const PAYLOAD: usize> {
    slots: core::cell::UnsafeCell<[RawSlot<PAYLOAD>; N]>,
    /// One unit per slot, for the plain accesses.
    tracker: AccessTracker,
    /// Every word of every slot, for the atomic accesses.
    words: AtomicWords,
}

impl<const N: usize, const PAYLOAD: usize> SlotArray<N, PAYLOAD> {
    const SLOT_WORDS: usize = core::mem::size_of::<RawSlot<PAYLOAD>>() / WORD;
    const HEADER_WORDS: usize = HEADER_LEN / WORD;

    const_unless_loom! {
        /// An array of zeroed slots (`const` in normal builds, so it can live in a
        /// `static` and in `.bss`).
        pub(super) fn new() -> Self {
            Self {
                slots: core::cell::UnsafeCell::new(
                    [RawSlot {
                        header: [0; HEADER_LEN],
                        payload: [0; PAYLOAD],
                    }; N],
                ),
                tracker: AccessTracker::new(N),
                words: AtomicWords::new(N * Self::SLOT_WORDS),
            }
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
    pub(super) unsafe fn write_plain(
        &self,
        index: usize,
        header: &[u8; HEADER_LEN],
        payload: &[u8],
    ) {
        debug_assert!(payload.len() <= PAYLOAD);
        self.tracker.write(index..index + 1);
        let dst = self.slot_ptr(index);
        // SAFETY: header and payload fit the slot (HEADER_LEN + PAYLOAD bytes, checked
        // above); the caller guarantees that no other thread touches the slot now.
        unsafe {
            core::ptr::copy_nonoverlapping(header.as_ptr(), dst, HEADER_LEN);
            core::ptr::copy_nonoverlapping(payload.as_ptr(), dst.add(HEADER_LEN), payload.len());
        }
    }

    /// Borrows slot `index` and decodes it: its header, and as much of its payload as the
    /// header's length says (clamped to `PAYLOAD`; a slot never written reads as an empty
    /// event with a default header).
    ///
    /// # Safety
    /// `index < N`; the slot's last write happens before this call (a Release/Acquire
    /// hand-over), and no thread writes it while the returned borrow lives (the caller
    /// picks `'r` accordingly); this array is never accessed with word atomics.
    #[inline(always)]
    pub(super) unsafe fn read_plain<'r>(&self, index: usize) -> (FrameHeader, &'r [u8]) {
        self.tracker.read(index..index + 1);
        let slot = self.slot_ptr(index).cast::<RawSlot<PAYLOAD>>();
        // SAFETY: the slot is in bounds and initialised (zeroed at construction); per the
        // caller's contract nothing writes it while the borrows live.
        let (header_bytes, payload) = unsafe { (&(*slot).header, &(*slot).payload) };
        let header = FrameHeader::decode(header_bytes).unwrap_or_default();
        let len = (header.len as usize).min(PAYLOAD);
        (header, &payload[..len])
    }

    #[inline(always)]
    fn word(&self, index: usize, word: usize) -> &AtomicUsize {
        debug_assert!(index < N && word < Self::SLOT_WORDS);
        let number = index * Self::SLOT_WORDS + word;
        // SAFETY: the slot is 8-aligned and `word * WORD` is a multiple of the word size,
        // so the pointer is aligned for `usize`; it stays inside the slot, which lives as
        // long as `self`; the slots of an array used with word atomics are never accessed
        // otherwise (the contract of `store_record`/`load_record`), so all accesses are
        // atomic; `number` is the word's fixed index among all the array's words.
        unsafe {
            self.words.word(
                self.slot_ptr(index).add(word * WORD).cast::<usize>(),
                number,
            )
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
    pub(super) unsafe fn store_record(
        &self,
        index: usize,
        header: &[u8; HEADER_LEN],
        payload: &[u8],
    ) {
        debug_assert!(index < N && payload.len() <= PAYLOAD);
        self.store_bytes(index, 0, header);
        self.store_bytes(index, HEADER_LEN, payload);
    }

    /// Copies slot `index` into `copy` with `Relaxed` word atomics: the header first, then
    /// as many payload words as the copied header's length asks for (clamped to
    /// `PAYLOAD`, since a header copied while the writer stores it may be torn). Returns
    /// the decoded header; `copy` holds the payload. The result may be torn: the caller
    /// validates it before use (the seqlock pattern).
    ///
    /// # Safety
    /// `index < N`; this array is never accessed with plain copies.
    #[inline(always)]
    pub(super) unsafe fn load_record(
        &self,
        index: usize,
        copy: &mut SlotCopy<PAYLOAD>,
    ) -> FrameHeader {
        // SAFETY: forwarded contract.
        let header = unsafe { self.load_header(index) };
        let len = (header.len as usize).min(PAYLOAD);
        let dst = copy.raw.as_mut_ptr().cast::<usize>();
        for i in 0..len.div_ceil(WORD) {
            let value = self
                .word(index, Self::HEADER_WORDS + i)
                .load(Ordering::Relaxed);
            // SAFETY: `dst` points to a RawSlot-sized, 8-aligned buffer, and
            // HEADER_WORDS + i < size_of::<RawSlot<PAYLOAD>>() / WORD because
            // len <= PAYLOAD. `to_le` undoes `from_le_bytes` in `store_bytes`, so the
            // buffer holds the stored bytes in order on every target.
            unsafe { dst.add(Self::HEADER_WORDS + i).write(value.to_le()) };
        }
        copy.len = len;
        header
    }

    /// Copies only slot `index`'s header with `Relaxed` word atomics and decodes it
    /// (possibly torn: the caller validates, as for [`SlotArray::load_record`]). Needs
    /// 24 bytes of stack, whatever `PAYLOAD` is.
    ///
    /// # Safety
    /// `index < N`; this array is never accessed with plain copies.
    #[inline(always)]
    pub(super) unsafe fn load_header(&self, index: usize) -> FrameHeader {
        let mut bytes = [0u8; HEADER_LEN];
        for (i, chunk) in bytes.chunks_exact_mut(WORD).enumerate() {
            let value = self.word(index, i).load(Ordering::Relaxed);
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        FrameHeader::decode(&bytes).unwrap_or_default()
    }
}

/// A private copy of one slot's payload, filled by [`SlotArray::load_record`]; its bytes
/// are uninitialised until then (no zeroing cost for large slots). It is the one large
/// value an overwrite read puts on the stack (see the reader's `COPY_BYTES`).
pub(super) struct SlotCopy<const PAYLOAD: usize> {
    raw: core::mem::MaybeUninit<RawSlot<PAYLOAD>>,
    /// Payload bytes initialised by the last `load_record`.
    len: usize,
}

impl<const PAYLOAD: usize> SlotCopy<PAYLOAD> {
    /// An empty copy. A constant rather than a `new()`, so that even an unoptimised build
    /// creates it in place instead of building it in a callee's frame and copying it out
    /// (two slot-sized buffers on the stack).
    pub(super) const EMPTY: Self = Self {
        raw: core::mem::MaybeUninit::uninit(),
        len: 0,
    };

    /// The payload bytes copied by the last [`SlotArray::load_record`].
    #[inline(always)]
    pub(super) fn payload(&self) -> &[u8] {
        let base = self.raw.as_ptr().cast::<u8>();
        // SAFETY: load_record initialised the words covering the first `len` payload
        // bytes (len <= PAYLOAD, inside the buffer); `len` is 0 before any load.
        unsafe { core::slice::from_raw_parts(base.add(HEADER_LEN), self.len) }
    }
}
