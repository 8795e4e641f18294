//! A single-producer single-consumer ring of variable-length framed records.
//!
//! The ring is a `[u8; N]` buffer and two cursors. Each record is a 24-byte
//! [`FrameHeader`] followed by its payload, padded to 8 bytes. Writing is a zero-copy
//! [`Grant`]: ask for `len` bytes, fill the slice, commit. Reading is a zero-copy
//! [`Record`] that borrows the payload and gives its bytes back to the producer when
//! dropped; a [`ReadBatch`] gives many back with one cursor store.
//!
//! # Cursor invariants
//!
//! `write` and `read` are byte positions that only grow (wrapping at `usize::MAX`, which
//! `N`, a power of two, divides). At every moment:
//!
//! * `read <= write <= read + N` (in wrapping arithmetic): the bytes at positions
//!   `read..write` are committed records that the consumer owns; the bytes at
//!   `write..read + N` belong to the producer.
//! * The producer writes a range only after loading `read` with `Acquire` and seeing that
//!   the consumer released it; it publishes a range with a `Release` store of `write`
//!   after writing it.
//! * The consumer reads a range only after loading `write` with `Acquire`; it releases a
//!   range with a `Release` store of `read` after its last access.
//! * A record never wraps: when the bytes left before the end of the buffer are too few,
//!   the producer skips them (writing a wrap marker, a header whose length is
//!   `u32::MAX`, when at least a header fits) and places the record at offset 0. Since a
//!   record is at most `N / 2` bytes, the skip plus the record is less than `N`, so any
//!   record that passes the [`PushError::TooLarge`] check fits in an empty ring wherever
//!   the cursors stand.
//!
//! Each side keeps a cached copy of the other side's cursor and rereads it only when the
//! cached value says the ring is full (producer) or empty (consumer).
//!
//! # Example
//!
//! ```
//! use ringcore::spsc::Ring;
//!
//! static RING: Ring<1024> = Ring::new();
//!
//! let (mut producer, mut consumer) = RING.try_split(100).unwrap();
//! let mut grant = producer.grant(5).unwrap();
//! grant.payload_mut().copy_from_slice(b"hello");
//! grant.set_kind(7);
//! assert_eq!(grant.commit(), 100);
//!
//! let record = consumer.read().unwrap();
//! assert_eq!((record.seq(), record.header().kind, record.payload()), (100, 7, &b"hello"[..]));
//! ```

use core::cell::Cell;
use core::marker::PhantomData;

pub use crate::frame::{Clock, RecordView};
use crate::frame::{FrameHeader, HEADER_LEN, RECORD_ALIGN, record_len};
use crate::sync::{
    AtomicBool, AtomicUsize, ByteBuffer, CachePadded, Ordering, atomic_bool, atomic_usize,
};

/// Payload length that marks the skipped tail of the buffer before a wrap.
const WRAP_MARKER: u32 = u32::MAX;

/// Why a record could not be written.
///
/// ```
/// use ringcore::spsc::{PushError, Ring};
/// let ring = Ring::<64>::new();
/// let (mut p, _c) = ring.try_split(0).unwrap();
/// assert_eq!(p.grant(9).err(), Some(PushError::TooLarge { len: 9, max: 8 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// There is no room now; retry after the consumer has read.
    Full,
    /// Header plus payload exceed `N / 2`: this record can never fit in this ring.
    TooLarge {
        /// The requested payload length.
        len: usize,
        /// The largest payload this ring accepts.
        max: usize,
    },
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("ring is full"),
            Self::TooLarge { len, max } => {
                write!(f, "payload of {len} bytes can never fit (largest is {max})")
            }
        }
    }
}

impl core::error::Error for PushError {}

/// A second split of a ring that was already split.
///
/// ```
/// use ringcore::spsc::{Ring, SplitError};
/// let ring = Ring::<64>::new();
/// let _handles = ring.try_split(0).unwrap();
/// assert_eq!(ring.try_split(0).err(), Some(SplitError::AlreadySplit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// `try_split` was already called on this ring.
    AlreadySplit,
}

impl core::fmt::Display for SplitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ring was already split")
    }
}

impl core::error::Error for SplitError {}

/// A ring of `N` bytes holding framed records; `N` is a power of two of at least 64.
///
/// ```
/// use ringcore::spsc::Ring;
/// let ring = Ring::<4096>::new();
/// assert_eq!(Ring::<4096>::MAX_PAYLOAD, 2048 - 24);
/// let (p, c) = ring.try_split(0).unwrap();
/// # drop((p, c));
/// ```
///
/// # Large rings on the heap
///
/// In normal (non-loom) builds all-zero bytes are a valid empty, unsplit `Ring<N>`: its
/// fields are atomics holding `0`/`false` and a byte array. A ring too large for the stack
/// can therefore be allocated zeroed, e.g. `Box::<Ring<N>>::new_zeroed()` followed by
/// `assume_init()`, without ever being built on the stack. This is a stable guarantee of
/// this type.
///
/// A size that is not a power of two fails the build:
///
/// ```compile_fail
/// let ring = ringcore::spsc::Ring::<1000>::new();
/// ```
pub struct Ring<const N: usize> {
    /// Producer's published position (see the module's cursor invariants).
    write: CachePadded<AtomicUsize>,
    /// Consumer's released position.
    read: CachePadded<AtomicUsize>,
    // Only try_split reads it, and try_split needs compare-and-swap.
    #[cfg_attr(not(ringcore_cas), allow(dead_code))]
    split: AtomicBool,
    buf: ByteBuffer<N>,
}

// SAFETY: the buffer is shared, but the cursor protocol (module docs) gives each byte range
// to exactly one side at a time, with Release/Acquire edges at every hand-over.
unsafe impl<const N: usize> Sync for Ring<N> {}

impl<const N: usize> core::fmt::Debug for Ring<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &N)
            .field("write", &self.write.load(Ordering::Relaxed))
            .field("read", &self.read.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Ring<N> {
    const SIZE_OK: () = assert!(
        N.is_power_of_two() && N >= 64 && N <= (1 << 31),
        "ringcore::spsc::Ring<N>: N must be a power of two from 64 to 2^31 bytes"
    );

    /// The largest payload a record may carry: header plus payload at most `N / 2`.
    pub const MAX_PAYLOAD: usize = N / 2 - HEADER_LEN;

    /// Creates an empty, unsplit ring. `const`, so a ring can be a `static`.
    ///
    /// ```
    /// static RING: ringcore::spsc::Ring<256> = ringcore::spsc::Ring::new();
    /// assert_eq!(RING.capacity(), 256);
    /// ```
    #[cfg(not(ringcore_loom))]
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            write: CachePadded::new(atomic_usize(0)),
            read: CachePadded::new(atomic_usize(0)),
            split: atomic_bool(false),
            buf: ByteBuffer::new(),
        }
    }

    /// Creates an empty, unsplit ring (loom build: not `const`).
    #[cfg(ringcore_loom)]
    pub fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            write: CachePadded::new(atomic_usize(0)),
            read: CachePadded::new(atomic_usize(0)),
            split: atomic_bool(false),
            buf: ByteBuffer::new(),
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
        // Relaxed: the flag only decides who wins the claim (an RMW sees every earlier one);
        // it guards no data. The cursors' state reached this thread with the `&self` that
        // shared the ring.
        if self.split.swap(true, Ordering::Relaxed) {
            return Err(SplitError::AlreadySplit);
        }
        Ok(self.handles(first_seq))
    }

    /// Splits a ring the caller holds exclusively; needs no compare-and-swap, so it works
    /// on every target. The borrow checker makes a second split while the handles live
    /// impossible; a split after they are dropped continues from where they stopped.
    ///
    /// ```
    /// let mut ring = ringcore::spsc::Ring::<128>::new();
    /// {
    ///     let (mut p, _c) = ring.split_mut(0);
    ///     p.push(b"a", 0, 0).unwrap();
    /// }
    /// let (_p, mut c) = ring.split_mut(1);
    /// assert_eq!(c.read().unwrap().payload(), b"a");
    /// ```
    pub fn split_mut(&mut self, first_seq: u64) -> (Producer<'_, N>, Consumer<'_, N>) {
        self.handles(first_seq)
    }

    fn handles(&self, first_seq: u64) -> (Producer<'_, N>, Consumer<'_, N>) {
        // Relaxed: no handles of this ring run concurrently (split once, or `&mut self`),
        // so whatever stored these cursors happened before this call.
        let write = self.write.load(Ordering::Relaxed);
        let read = self.read.load(Ordering::Relaxed);
        (
            Producer {
                ring: self,
                write_local: write,
                published: write,
                cached_read: read,
                next_seq: first_seq,
                _not_sync: PhantomData,
            },
            Consumer {
                ring: self,
                cursor: ReadCursor {
                    pos: read,
                    limit: write,
                    last_len: WRAP_MARKER,
                    last_rec: 0,
                },
                _not_sync: PhantomData,
            },
        )
    }
}

#[cfg(not(ringcore_loom))]
impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The writing half of a [`Ring`]. `Send`, not `Sync`, and there is only one.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::spsc::Producer<'static, 64>>();
/// ```
///
/// A producer cannot outlive its ring:
///
/// ```compile_fail
/// let producer = {
///     let ring = ringcore::spsc::Ring::<64>::new();
///     ring.try_split(0).unwrap().0
/// };
/// ```
pub struct Producer<'a, const N: usize> {
    ring: &'a Ring<N>,
    /// Next byte position to write (includes staged, unpublished records).
    write_local: usize,
    /// Last position stored to `ring.write`.
    published: usize,
    /// Last value loaded from `ring.read`.
    cached_read: usize,
    next_seq: u64,
    _not_sync: PhantomData<Cell<()>>,
}

impl<const N: usize> core::fmt::Debug for Producer<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("next_seq", &self.next_seq)
            .field("write", &self.write_local)
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl<'a, const N: usize> Producer<'a, N> {
    /// Reserves room for one record of `len` payload bytes and returns a grant whose
    /// payload slice the caller fills. Never blocks, never allocates: safe in an
    /// interrupt handler.
    ///
    /// ```
    /// use ringcore::spsc::{PushError, Ring};
    /// let ring = Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// p.grant(40).unwrap().commit();
    /// p.grant(40).unwrap().commit();
    /// assert_eq!(p.grant(0).err(), Some(PushError::Full));
    /// ```
    #[inline]
    pub fn grant(&mut self, len: usize) -> Result<Grant<'_, 'a, N>, PushError> {
        if len > Ring::<N>::MAX_PAYLOAD {
            return Err(PushError::TooLarge {
                len,
                max: Ring::<N>::MAX_PAYLOAD,
            });
        }
        // No overflow: len <= MAX_PAYLOAD < N / 2.
        let rec = (len + HEADER_LEN + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1);
        let off = self.write_local & (N - 1);
        let off = if rec <= N - off && self.has_room(rec) {
            off
        } else {
            self.grant_slow(rec)?
        };
        self.ring.buf.track_write(off, rec);
        Ok(Grant {
            producer: self,
            off,
            rec,
            header: FrameHeader {
                len: len as u32,
                ..FrameHeader::default()
            },
        })
    }

    /// Whether `needed` bytes are free, rereading the consumer's cursor only when the
    /// cached copy says they are not.
    #[inline(always)]
    fn has_room(&mut self, needed: usize) -> bool {
        if N - self.write_local.wrapping_sub(self.cached_read) >= needed {
            return true;
        }
        // Acquire: the consumer's reads of the bytes it released happen before our
        // writes to them.
        self.cached_read = self.ring.read.load(Ordering::Acquire);
        N - self.write_local.wrapping_sub(self.cached_read) >= needed
    }

    /// The rare cases of `grant`: the ring is full, or the record must wrap to offset 0
    /// (skipping the bytes before the end, with a wrap marker where a header fits).
    #[cold]
    #[inline(never)]
    fn grant_slow(&mut self, rec: usize) -> Result<usize, PushError> {
        let off = self.write_local & (N - 1);
        let contiguous = N - off;
        if rec <= contiguous {
            return if self.has_room(rec) {
                Ok(off)
            } else {
                Err(PushError::Full)
            };
        }
        if !self.has_room(contiguous + rec) {
            return Err(PushError::Full);
        }
        if contiguous >= HEADER_LEN {
            let marker = FrameHeader {
                len: WRAP_MARKER,
                ..FrameHeader::default()
            };
            self.ring.buf.track_write(off, HEADER_LEN);
            // SAFETY: off..off + HEADER_LEN lies inside the buffer (contiguous >=
            // HEADER_LEN) and inside the producer's free range (checked above).
            let dst = unsafe { self.bytes_mut(off, HEADER_LEN) };
            marker.encode_into(dst);
        }
        self.write_local = self.write_local.wrapping_add(contiguous);
        Ok(0)
    }

    /// Copies `payload` into a new record and publishes it; returns its sequence.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(5).unwrap();
    /// assert_eq!(p.push(b"abc", 1, 99), Ok(5));
    /// assert_eq!(c.read().unwrap().payload(), b"abc");
    /// ```
    #[inline]
    pub fn push(&mut self, payload: &[u8], kind: u16, timestamp_ns: u64) -> Result<u64, PushError> {
        let mut g = self.grant(payload.len())?;
        g.payload_mut().copy_from_slice(payload);
        g.set_kind(kind);
        g.set_timestamp_ns(timestamp_ns);
        Ok(g.commit())
    }

    /// Like [`Producer::push`], with the timestamp taken from `clock`.
    ///
    /// ```
    /// # use ringcore::spsc::{Clock, Ring};
    /// struct Zero;
    /// impl Clock for Zero { fn now_ns(&self) -> u64 { 0 } }
    /// let ring = Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.push_now(b"x", 0, &Zero), Ok(0));
    /// ```
    pub fn push_now(
        &mut self,
        payload: &[u8],
        kind: u16,
        clock: &impl Clock,
    ) -> Result<u64, PushError> {
        self.push(payload, kind, clock.now_ns())
    }

    /// Like [`Producer::push`] but only stages the record: it becomes visible at the next
    /// [`Producer::publish`], [`Grant::commit`], or when the producer is dropped.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push_staged(b"a", 0, 0).unwrap();
    /// assert!(c.read().is_none());
    /// p.publish();
    /// assert!(c.read().is_some());
    /// ```
    #[inline]
    pub fn push_staged(
        &mut self,
        payload: &[u8],
        kind: u16,
        timestamp_ns: u64,
    ) -> Result<u64, PushError> {
        let mut g = self.grant(payload.len())?;
        g.payload_mut().copy_from_slice(payload);
        g.set_kind(kind);
        g.set_timestamp_ns(timestamp_ns);
        Ok(g.stage())
    }

    /// Publishes every staged record with one cursor store.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// for _ in 0..3 { p.grant(8).unwrap().stage(); }
    /// p.publish();
    /// assert_eq!(c.read_batch(usize::MAX).count(), 3);
    /// ```
    #[inline]
    pub fn publish(&mut self) {
        if self.published != self.write_local {
            // Release: the records' bytes are written before the consumer can see them.
            self.ring.write.store(self.write_local, Ordering::Release);
            self.published = self.write_local;
        }
    }

    /// The sequence the next record will get.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(9).unwrap();
    /// p.push(b"", 0, 0).unwrap();
    /// assert_eq!(p.next_seq(), 10);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes free for records right now (a lower bound: the consumer may free more).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.free_bytes(), 128);
    /// ```
    pub fn free_bytes(&self) -> usize {
        // Relaxed: a figure for the caller; grant() does its own Acquire before writing.
        N - self
            .write_local
            .wrapping_sub(self.ring.read.load(Ordering::Relaxed))
    }

    /// # Safety
    /// `off..off + len` must lie inside the buffer and inside the producer's free range,
    /// and no other reference to those bytes may be live.
    #[inline(always)]
    unsafe fn bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        debug_assert!(off + len <= N);
        // SAFETY: in bounds per the caller's contract; the pointer comes from the
        // UnsafeCell, so writing through it is allowed while the consumer reads other,
        // disjoint ranges; `&mut self` keeps this the only reference the producer makes.
        unsafe { core::slice::from_raw_parts_mut(self.ring.buf.as_ptr().add(off), len) }
    }
}

impl<const N: usize> Drop for Producer<'_, N> {
    fn drop(&mut self) {
        self.publish();
    }
}

/// Room for one record, reserved by [`Producer::grant`]. Fill [`Grant::payload_mut`] and
/// call [`Grant::commit`]; a grant dropped without commit writes nothing.
///
/// Only one grant exists at a time:
///
/// ```compile_fail
/// let ring = ringcore::spsc::Ring::<256>::new();
/// let (mut p, _c) = ring.try_split(0).unwrap();
/// let a = p.grant(1).unwrap();
/// let b = p.grant(1).unwrap();
/// a.commit();
/// ```
#[must_use = "a grant that is not committed writes nothing"]
pub struct Grant<'p, 'a, const N: usize> {
    producer: &'p mut Producer<'a, N>,
    /// Buffer offset of the record's header.
    off: usize,
    /// Bytes the record takes in the ring: header plus padded payload.
    rec: usize,
    header: FrameHeader,
}

impl<const N: usize> core::fmt::Debug for Grant<'_, '_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Grant")
            .field("offset", &self.off)
            .field("header", &self.header)
            .finish()
    }
}

impl<const N: usize> Grant<'_, '_, N> {
    /// The payload bytes to fill; exactly the length that was granted. Their contents
    /// before the caller writes them are unspecified (old ring bytes).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// let mut g = p.grant(3).unwrap();
    /// assert_eq!(g.payload_mut().len(), 3);
    /// # g.commit();
    /// ```
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (off, len) = (self.off + HEADER_LEN, self.header.len as usize);
        // SAFETY: grant() checked that off..off + record_len(len) is in bounds and free;
        // the returned borrow is tied to `&mut self`, which borrows the producer.
        unsafe { self.producer.bytes_mut(off, len) }
    }

    /// Sets the record's kind.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut g = p.grant(0).unwrap();
    /// g.set_kind(3);
    /// g.commit();
    /// assert_eq!(c.read().unwrap().header().kind, 3);
    /// ```
    #[inline]
    pub fn set_kind(&mut self, kind: u16) {
        self.header.kind = kind;
    }

    /// Sets the record's flags.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut g = p.grant(0).unwrap();
    /// g.set_flags(0x8000);
    /// g.commit();
    /// assert_eq!(c.read().unwrap().header().flags, 0x8000);
    /// ```
    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        self.header.flags = flags;
    }

    /// Sets the record's timestamp in nanoseconds.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut g = p.grant(0).unwrap();
    /// g.set_timestamp_ns(1234);
    /// g.commit();
    /// assert_eq!(c.read().unwrap().header().timestamp_ns, 1234);
    /// ```
    #[inline]
    pub fn set_timestamp_ns(&mut self, timestamp_ns: u64) {
        self.header.timestamp_ns = timestamp_ns;
    }

    /// Writes the header and advances the producer without publishing; returns the
    /// record's sequence. See [`Producer::publish`].
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.grant(1).unwrap().stage(), 0);
    /// assert!(c.read().is_none());
    /// ```
    #[inline]
    pub fn stage(mut self) -> u64 {
        self.write_header()
    }

    /// Writes the header and publishes this record (and any staged before it); returns its
    /// sequence.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.grant(1).unwrap().commit(), 0);
    /// assert!(c.read().is_some());
    /// ```
    #[inline]
    pub fn commit(mut self) -> u64 {
        let seq = self.write_header();
        self.producer.publish();
        seq
    }

    #[inline]
    fn write_header(&mut self) -> u64 {
        let seq = self.producer.next_seq;
        self.header.seq = seq;
        let (off, header) = (self.off, self.header);
        // SAFETY: the header range is the start of the granted, free record range.
        header.encode_into(unsafe { self.producer.bytes_mut(off, HEADER_LEN) });
        let p = &mut *self.producer;
        p.ring.buf.track_write(off, self.rec);
        p.write_local = p.write_local.wrapping_add(self.rec);
        p.next_seq = seq.wrapping_add(1);
        seq
    }
}

/// The reading half of a [`Ring`]. `Send`, not `Sync`, and there is only one.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::spsc::Consumer<'static, 64>>();
/// ```
pub struct Consumer<'a, const N: usize> {
    ring: &'a Ring<N>,
    cursor: ReadCursor,
    _not_sync: PhantomData<Cell<()>>,
}

/// The consumer's private position. A [`ReadBatch`] works on a copy (so the hot loop keeps
/// it in registers) and writes it back when dropped.
#[derive(Debug, Clone, Copy)]
struct ReadCursor {
    /// Next byte position to read (may be ahead of the stored `read` inside a batch).
    pos: usize,
    /// Last value loaded from `ring.write`.
    limit: usize,
    /// Payload length of the last record read and its record length: predicting the next
    /// record's length from it turns the header load into a branch the CPU can predict
    /// rather than a data dependency that serialises record after record.
    last_len: u32,
    last_rec: usize,
}

/// A record located by [`ReadCursor::next`]: its buffer offset, header and length in the
/// ring (header plus padded payload).
struct Located {
    off: usize,
    header: FrameHeader,
    rec: usize,
}

impl ReadCursor {
    /// Finds the next committed record at or after `pos`, skipping a wrap. `pos` moves past
    /// skipped bytes only; the caller steps over the record once it is done with it.
    #[inline(always)]
    fn next<const N: usize>(&mut self, ring: &Ring<N>) -> Option<Located> {
        loop {
            let mut avail = self.limit.wrapping_sub(self.pos);
            if avail == 0 {
                // Acquire: the producer's writes of the published bytes happen before
                // our reads of them.
                self.limit = ring.write.load(Ordering::Acquire);
                avail = self.limit.wrapping_sub(self.pos);
                if avail == 0 {
                    return None;
                }
            }
            let off = self.pos & (N - 1);
            let contiguous = N - off;
            if contiguous < HEADER_LEN {
                // Too short for any record: the producer wrapped here.
                self.pos = self.pos.wrapping_add(contiguous);
                continue;
            }
            ring.buf.track_read(off, HEADER_LEN);
            // SAFETY: off..off + HEADER_LEN is in bounds (contiguous >= HEADER_LEN) and
            // inside the published range pos..limit (every published range that starts
            // with room for a header starts with a header or a wrap marker).
            let header_bytes = unsafe { ring_bytes(ring, off, HEADER_LEN) };
            let Ok(header) = FrameHeader::decode(header_bytes) else {
                unreachable!("a header slice is HEADER_LEN bytes")
            };
            if header.len == WRAP_MARKER {
                self.pos = self.pos.wrapping_add(contiguous);
                continue;
            }
            let rec = if header.len == self.last_len {
                self.last_rec
            } else {
                self.last_len = header.len;
                self.last_rec = record_len_cold(header.len);
                self.last_rec
            };
            if rec > avail || rec > contiguous {
                // Unreachable: the producer publishes only whole records that end before
                // the buffer does. Checked (without a panic path in the hot loop) so a
                // payload slice can never leave the published range.
                debug_assert!(false, "spsc ring invariant broken");
                return None;
            }
            ring.buf.track_read(off, rec);
            return Some(Located { off, header, rec });
        }
    }
}

#[cold]
#[inline(never)]
fn record_len_cold(len: u32) -> usize {
    record_len(len as usize)
}

/// # Safety
/// `off..off + len` must be in bounds and inside the consumer's published, unreleased
/// range, and stay so while the returned slice lives.
#[inline(always)]
unsafe fn ring_bytes<const N: usize>(ring: &Ring<N>, off: usize, len: usize) -> &[u8] {
    debug_assert!(off + len <= N);
    // SAFETY: per the caller's contract the producer does not write these bytes until the
    // consumer releases them, which happens only after every borrow of them has ended.
    unsafe { core::slice::from_raw_parts(ring.buf.as_ptr().add(off), len) }
}

impl<const N: usize> core::fmt::Debug for Consumer<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("read", &self.cursor.pos)
            .finish_non_exhaustive()
    }
}

impl<'a, const N: usize> Consumer<'a, N> {
    #[inline]
    fn release(&self) {
        // Release: our reads of the released bytes happen before the producer reuses them.
        self.ring.read.store(self.cursor.pos, Ordering::Release);
    }

    /// Reads the next record, if any. Its bytes go back to the producer when the record is
    /// dropped.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert!(c.read().is_none());
    /// p.push(b"hi", 0, 0).unwrap();
    /// let r = c.read().unwrap();
    /// assert_eq!(r.payload(), b"hi");
    /// ```
    #[inline]
    pub fn read(&mut self) -> Option<Record<'_, 'a, N>> {
        let Located { off, header, rec } = self.cursor.next(self.ring)?;
        Some(Record {
            consumer: self,
            off,
            header,
            rec,
        })
    }

    /// Starts a batch read of at most `max` records: the batch yields records one at a
    /// time and releases all of them with one cursor store when dropped.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<1024>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// for i in 0..5u8 { p.push(&[i], 0, 0).unwrap(); }
    /// let mut batch = c.read_batch(3);
    /// let mut seen = 0;
    /// while let Some(r) = batch.next() { assert_eq!(r.payload, &[seen as u8]); seen += 1; }
    /// assert_eq!(seen, 3);
    /// ```
    ///
    /// A record cannot outlive its batch:
    ///
    /// ```compile_fail
    /// let ring = ringcore::spsc::Ring::<1024>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"x", 0, 0).unwrap();
    /// let mut batch = c.read_batch(1);
    /// let r = batch.next().unwrap();
    /// drop(batch);
    /// assert_eq!(r.payload, b"x");
    /// ```
    #[inline]
    pub fn read_batch(&mut self, max: usize) -> ReadBatch<'_, 'a, N> {
        ReadBatch {
            ring: self.ring,
            cursor: self.cursor,
            start: self.cursor.pos,
            pending: 0,
            remaining: max,
            consumer: self,
        }
    }

    /// Bytes of published records not yet released (includes padding and wrap skips).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, c) = ring.try_split(0).unwrap();
    /// p.push(&[0; 8], 0, 0).unwrap();
    /// assert_eq!(c.pending_bytes(), 32);
    /// ```
    pub fn pending_bytes(&self) -> usize {
        // Relaxed: a figure for the caller; reads do their own Acquire.
        self.ring
            .write
            .load(Ordering::Relaxed)
            .wrapping_sub(self.cursor.pos)
    }
}

/// One record read by [`Consumer::read`]; releases its bytes when dropped.
pub struct Record<'c, 'a, const N: usize> {
    consumer: &'c mut Consumer<'a, N>,
    off: usize,
    header: FrameHeader,
    rec: usize,
}

impl<const N: usize> core::fmt::Debug for Record<'_, '_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Record")
            .field("header", &self.header)
            .finish()
    }
}

impl<const N: usize> Record<'_, '_, N> {
    /// The record's header.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"abc", 4, 5).unwrap();
    /// let h = *c.read().unwrap().header();
    /// assert_eq!((h.len, h.kind, h.timestamp_ns), (3, 4, 5));
    /// ```
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The record's sequence number.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(3).unwrap();
    /// p.push(b"", 0, 0).unwrap();
    /// assert_eq!(c.read().unwrap().seq(), 3);
    /// ```
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// The payload, borrowed from the ring.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"zz", 0, 0).unwrap();
    /// assert_eq!(c.read().unwrap().payload(), b"zz");
    /// ```
    pub fn payload(&self) -> &[u8] {
        // SAFETY: ReadCursor::next proved the record lies in the published range; it stays
        // unreleased while this Record (which borrows the consumer) lives.
        unsafe {
            ring_bytes(
                self.consumer.ring,
                self.off + HEADER_LEN,
                self.header.len as usize,
            )
        }
    }

    /// The header and payload as a plain view.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"v", 0, 0).unwrap();
    /// let r = c.read().unwrap();
    /// assert_eq!(r.view().payload, b"v");
    /// ```
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            header: self.header,
            payload: self.payload(),
        }
    }

    /// Ends this borrow without releasing the record: it stays in the ring and the next
    /// [`Consumer::read`] returns it again (for a sink that could write only part of it).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"again", 0, 0).unwrap();
    /// c.read().unwrap().keep();
    /// let r = c.read().unwrap();
    /// assert_eq!((r.seq(), r.payload()), (0, &b"again"[..]));
    /// ```
    pub fn keep(self) {
        // Reading leaves the consumer's position at this record's start and only Drop
        // moves it past; a Record owns nothing but borrows, so forgetting it leaks nothing.
        core::mem::forget(self);
    }
}

impl<const N: usize> Drop for Record<'_, '_, N> {
    #[inline]
    fn drop(&mut self) {
        let c = &mut *self.consumer;
        // ReadCursor::next left the position at this record's start.
        c.cursor.pos = c.cursor.pos.wrapping_add(self.rec);
        c.release();
    }
}

/// A batch of reads started by [`Consumer::read_batch`]. Call [`ReadBatch::next`] until it
/// returns `None`; everything read is released with one store when the batch is dropped.
pub struct ReadBatch<'c, 'a, const N: usize> {
    consumer: &'c mut Consumer<'a, N>,
    ring: &'a Ring<N>,
    /// A copy of the consumer's cursor, written back on drop.
    cursor: ReadCursor,
    /// Position when the batch started: nothing to release if it did not move.
    start: usize,
    /// Length in the ring of the record last handed out, not yet stepped over.
    pending: usize,
    remaining: usize,
}

impl<const N: usize> core::fmt::Debug for ReadBatch<'_, '_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadBatch")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> ReadBatch<'_, '_, N> {
    /// The next record of the batch, valid until the next call or the batch's drop.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"q", 0, 0).unwrap();
    /// let mut b = c.read_batch(10);
    /// assert_eq!(b.next().unwrap().payload, b"q");
    /// assert!(b.next().is_none());
    /// ```
    #[allow(clippy::should_implement_trait)] // a lending iterator: items borrow the batch
    #[inline]
    pub fn next(&mut self) -> Option<RecordView<'_>> {
        self.cursor.pos = self.cursor.pos.wrapping_add(self.pending);
        self.pending = 0;
        if self.remaining == 0 {
            return None;
        }
        let Located { off, header, rec } = self.cursor.next(self.ring)?;
        self.remaining -= 1;
        self.pending = rec;
        // SAFETY: as in Record::payload; the view borrows the batch, which releases only
        // on drop.
        let payload = unsafe { ring_bytes(self.ring, off + HEADER_LEN, header.len as usize) };
        Some(RecordView { header, payload })
    }

    /// Reads the rest of the batch, returning how many records there were.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<256>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(b"1", 0, 0).unwrap();
    /// p.push(b"2", 0, 0).unwrap();
    /// assert_eq!(c.read_batch(usize::MAX).count(), 2);
    /// ```
    pub fn count(mut self) -> usize {
        let mut n = 0;
        while self.next().is_some() {
            n += 1;
        }
        n
    }
}

impl<const N: usize> Drop for ReadBatch<'_, '_, N> {
    #[inline]
    fn drop(&mut self) {
        self.cursor.pos = self.cursor.pos.wrapping_add(self.pending);
        self.consumer.cursor = self.cursor;
        if self.cursor.pos != self.start {
            self.consumer.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn too_large_exactly_past_half() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let max = 128 - HEADER_LEN;
        assert_eq!(Ring::<256>::MAX_PAYLOAD, max);
        assert_eq!(
            p.grant(max + 1).err(),
            Some(PushError::TooLarge { len: max + 1, max })
        );
        assert_eq!(
            p.grant(usize::MAX).err(),
            Some(PushError::TooLarge {
                len: usize::MAX,
                max
            })
        );
        assert_eq!(p.push(&[1; 104], 0, 0), Ok(0));
        assert_eq!(c.read().unwrap().payload(), &[1; 104][..]);
    }

    #[test]
    fn no_dead_zone_at_any_offset() {
        // Wherever the cursors of an empty ring stand, a record of exactly N/2 bytes fits,
        // and so does a second one after the first is read.
        for start in (0..512).step_by(8) {
            let ring = Ring::<256>::new();
            ring.write.store(start, Ordering::Relaxed);
            ring.read.store(start, Ordering::Relaxed);
            let (mut p, mut c) = ring.try_split(0).unwrap();
            for round in 0..3u8 {
                let payload = [round; 104];
                assert!(
                    p.push(&payload, 0, 0).is_ok(),
                    "start {start} round {round}"
                );
                let r = c.read().unwrap();
                assert_eq!(r.payload(), &payload[..]);
            }
        }
    }

    #[test]
    fn full_then_drain_then_wrap_many_laps() {
        let ring = Ring::<512>::new();
        let (mut p, mut c) = ring.try_split(1000).unwrap();
        let mut next_write = 1000u64;
        let mut next_read = 1000u64;
        let laps = if cfg!(miri) { 200 } else { 20_000 };
        for round in 0..laps {
            let len = (round * 7) % 150;
            loop {
                let mut g = match p.grant(len) {
                    Ok(g) => g,
                    Err(PushError::Full) => break,
                    Err(e) => panic!("{e}"),
                };
                ringlog_pattern::fill(next_write, g.payload_mut());
                g.set_kind(len as u16);
                assert_eq!(g.commit(), next_write);
                next_write += 1;
            }
            let take = if round % 3 == 0 { usize::MAX } else { 2 };
            let mut batch = c.read_batch(take);
            while let Some(r) = batch.next() {
                assert_eq!(r.header.seq, next_read);
                assert_eq!(r.header.len as usize, r.payload.len());
                assert_eq!(r.header.kind as usize, r.payload.len());
                assert!(ringlog_pattern::check(next_read, r.payload));
                next_read += 1;
            }
        }
        while let Some(r) = c.read() {
            assert_eq!(r.seq(), next_read);
            next_read += 1;
        }
        assert_eq!(next_read, next_write);
        assert!(next_write > 1000 + laps as u64);
    }

    #[test]
    fn dropped_grant_writes_nothing() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        drop(p.grant(10).unwrap());
        assert!(c.read().is_none());
        assert_eq!(p.push(b"x", 0, 0), Ok(0));
        assert_eq!(c.read().unwrap().seq(), 0);
    }

    #[test]
    fn dropped_grant_after_wrap_skip_keeps_stream_intact() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        p.push(&[1; 80], 0, 0).unwrap(); // 104 bytes
        p.push(&[2; 80], 0, 0).unwrap(); // 208
        drop(c.read());
        drop(c.read());
        // 48 bytes left before the end: a 100-byte grant skips them, then is dropped.
        drop(p.grant(100).unwrap());
        p.push(&[3; 16], 0, 0).unwrap();
        let r = c.read().unwrap();
        assert_eq!((r.seq(), r.payload()), (2, &[3; 16][..]));
    }

    #[test]
    fn small_tail_gap_is_skipped_without_marker() {
        let ring = Ring::<128>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        // 24 + 88 = 112, leaves 16 bytes (< header) before the end.
        p.push(&[9; 40], 0, 0).unwrap(); // 64
        p.push(&[8; 24], 0, 0).unwrap(); // 48 -> 112
        drop(c.read());
        drop(c.read());
        p.push(&[7; 16], 0, 0).unwrap();
        let r = c.read().unwrap();
        assert_eq!((r.seq(), r.payload()), (2, &[7; 16][..]));
    }

    #[test]
    fn staged_records_publish_together_and_on_drop() {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        for i in 0..4u8 {
            p.push_staged(&[i], 0, 0).unwrap();
        }
        assert!(c.read().is_none());
        drop(p);
        let got: Vec<u64> = {
            let mut v = Vec::new();
            let mut b = c.read_batch(usize::MAX);
            while let Some(r) = b.next() {
                v.push(r.header.seq);
            }
            v
        };
        assert_eq!(got, [0, 1, 2, 3]);
    }

    #[test]
    fn batch_release_frees_space_once() {
        let ring = Ring::<256>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        while p.push(&[0; 8], 0, 0).is_ok() {}
        assert_eq!(p.free_bytes(), 0);
        {
            let mut b = c.read_batch(2);
            assert!(b.next().is_some());
            assert!(b.next().is_some());
            assert_eq!(p.free_bytes(), 0, "nothing released before the batch ends");
            assert!(b.next().is_none(), "batch limit respected");
        }
        assert_eq!(p.free_bytes(), 64);
    }

    #[test]
    fn zeroed_heap_ring_is_a_valid_empty_ring() {
        // SAFETY: the documented guarantee under test: all-zero bytes are a valid Ring.
        let ring: std::boxed::Box<Ring<1024>> =
            unsafe { std::boxed::Box::<Ring<1024>>::new_zeroed().assume_init() };
        let (mut p, mut c) = ring.try_split(3).unwrap();
        assert!(c.read().is_none());
        assert_eq!(p.free_bytes(), 1024);
        p.push(b"zero", 0, 0).unwrap();
        assert_eq!(
            (c.read().unwrap().seq(), ring.try_split(0).err()),
            (3, Some(SplitError::AlreadySplit))
        );
    }

    #[test]
    fn second_split_fails() {
        let ring = Ring::<64>::new();
        let h = ring.try_split(0);
        assert!(h.is_ok());
        drop(h);
        assert_eq!(ring.try_split(0).err(), Some(SplitError::AlreadySplit));
    }

    #[test]
    fn threads_transfer_every_record_in_order() {
        static RING: Ring<4096> = Ring::new();
        let (mut p, mut c) = RING.try_split(0).unwrap();
        let total: u64 = if cfg!(miri) { 300 } else { 200_000 };
        let producer = std::thread::spawn(move || {
            let mut seq = 0;
            while seq < total {
                let len = (seq % 97) as usize;
                match p.grant(len) {
                    Ok(mut g) => {
                        ringlog_pattern::fill(seq, g.payload_mut());
                        if seq % 5 == 0 {
                            g.commit();
                        } else {
                            g.stage();
                        }
                        seq += 1;
                    }
                    Err(PushError::Full) => {
                        p.publish();
                        std::thread::yield_now()
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut expect = 0;
        while expect < total {
            let mut b = c.read_batch(16);
            let mut got = 0;
            while let Some(r) = b.next() {
                assert_eq!(r.header.seq, expect);
                assert_eq!(r.payload.len(), (expect % 97) as usize);
                assert!(ringlog_pattern::check(expect, r.payload));
                expect += 1;
                got += 1;
            }
            drop(b);
            if got == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert!(c.read().is_none());
    }
}
