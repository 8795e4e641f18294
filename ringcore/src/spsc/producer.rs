//! The producer: single-record grants, multi-record batches and raw grants.

use core::cell::Cell;
use core::marker::PhantomData;

use super::place::{self, HEADER_LEN, Placement, RingHeader};
use super::ring::private::RingStorage;
use super::ring::{RingRef, Storage};
use super::{Clock, PushError};
use crate::sync::Ordering;

/// The producer's private position; a [`BatchOf`] works on a copy (kept in registers) and
/// writes it back when dropped.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriteCursor {
    /// Next byte position to write (includes staged, unpublished records).
    pub(super) pos: usize,
    /// Positions below this may be written without rereading the consumer's cursor: the
    /// nearer of the end of the free space last seen and the end of the lap
    /// ([`place::stop`]).
    pub(super) stop: usize,
    /// The sequence of the next framed record.
    pub(super) seq: u64,
}

impl WriteCursor {
    /// Reserves `rec` bytes (`0 < rec <= capacity / 2`) and returns their buffer offset;
    /// the position moves past any wrap gap but not past the record (that is
    /// [`WriteCursor::advance`]'s job once the record is written).
    #[inline(always)]
    fn reserve<S: Storage>(&mut self, ring: &S, rec: usize) -> Result<usize, PushError> {
        // One comparison on the fast path: strictly below `stop` the record fits before
        // the end of the lap and inside the free space last seen.
        // Hosted: the slow path takes the cursor by value, so no pointer to the producer
        // escapes and a loop of grants keeps its position in registers. Each store to the
        // producer's memory would take a slot of the store buffer, and while the producer's
        // stores wait for lines the consumer holds, those slots bound its rate: this made
        // single grants 1.3x faster between two cores (`peers`, rtrb ÷ ringcore 1.8 → 1.35).
        #[cfg(not(target_os = "none"))]
        return self.reserve_local(ring, rec);
        #[cfg(target_os = "none")]
        {
            if rec >= self.stop.wrapping_sub(self.pos) && !self.place_slow(ring, rec) {
                return Err(PushError::Full);
            }
            Ok(self.offset(ring, rec))
        }
    }

    /// [`WriteCursor::reserve`] for a cursor copied into a loop (a batch): the slow path
    /// takes and returns it by value, so its address never escapes and it stays in
    /// registers.
    #[inline(always)]
    fn reserve_local<S: Storage>(&mut self, ring: &S, rec: usize) -> Result<usize, PushError> {
        if rec >= self.stop.wrapping_sub(self.pos) {
            let (cursor, placed) = Self::place_slow_by_value(*self, ring, rec);
            *self = cursor;
            if !placed {
                return Err(PushError::Full);
            }
        }
        Ok(self.offset(ring, rec))
    }

    /// The buffer offset of a record of `rec` bytes placed at `pos`.
    #[inline(always)]
    fn offset<S: Storage>(&self, ring: &S, rec: usize) -> usize {
        let off = self.pos & (ring.capacity() - 1);
        ring.track_write(off, rec);
        off
    }

    #[cold]
    #[inline(never)]
    fn place_slow_by_value<S: Storage>(mut cursor: Self, ring: &S, rec: usize) -> (Self, bool) {
        let placed = cursor.place_slow(ring, rec);
        (cursor, placed)
    }

    /// The rare cases of `reserve`: the cached free space is used up, or the record
    /// reaches the end of the lap (it ends exactly there, or it skips to the next lap).
    /// Rereads the consumer's cursor, moves `pos` past a wrap gap if the record skips
    /// to the next lap and refreshes `stop`; `false` if the record does not fit now.
    ///
    /// Out of line where the fast path's speed matters. On bare metal code size matters
    /// more: inlined, it shares the grant's registers and its offset computation instead
    /// of a call, a frame and a returned `Result` (on thumbv6m, 44 bytes less than the
    /// fast path plus the out-of-line function, as `firmware-size/size.py` measures).
    #[cfg_attr(not(target_os = "none"), cold, inline(never))]
    #[cfg_attr(target_os = "none", inline(always))]
    fn place_slow<S: Storage>(&mut self, ring: &S, rec: usize) -> bool {
        let cap = ring.capacity();
        let cursors = ring.cursors();
        // Acquire: the consumer's reads of the bytes it released happen before our
        // writes to them.
        let read = cursors.read.load(Ordering::Acquire);
        let mut pos = self.pos;
        let placed = place::place(pos, read, cap, rec);
        if let Placement::At { skip, crosses } = placed {
            if crosses {
                // Where this lap's data ends: the gap's start (the record skips the `skip`
                // bytes left in the lap), or the lap's end (`skip` is 0: the record ends
                // exactly there). Relaxed: the Release store of `write` that publishes
                // past the lap's end orders it for the consumer, which reads it only then.
                let data_end = place::lap_end(pos, cap).wrapping_sub(skip);
                cursors.producer.data_end.store(data_end, Ordering::Relaxed);
            }
            pos = pos.wrapping_add(skip);
        }
        self.pos = pos;
        self.stop = place::stop(pos, read, cap);
        placed != Placement::Full
    }

    #[inline(always)]
    fn advance(&mut self, rec: usize) {
        self.pos = self.pos.wrapping_add(rec);
    }
}

/// Writes a framed record's header in place at `off`.
///
/// # Safety
/// `off..off + HEADER_LEN` is inside the buffer, 8-aligned, and reserved by the producer.
#[inline(always)]
unsafe fn write_header<S: Storage>(ring: &S, off: usize, header: RingHeader) {
    // SAFETY: in bounds, aligned (the buffer is 8-aligned and records start at multiples
    // of 8) and reserved per the caller; `RingHeader` is `repr(C)` without padding, and
    // its fields hold little-endian values, so its bytes are the in-ring encoding.
    unsafe {
        ring.base()
            .add(off)
            .cast::<RingHeader>()
            .write(header.to_le())
    }
}

/// # Safety
/// `off..off + len` lies inside the buffer and inside the producer's reserved range, and no
/// other reference to those bytes is live while the slice is.
#[inline(always)]
#[allow(clippy::mut_from_ref)] // exclusivity comes from the reservation; callers tie the borrow to `&mut self`
unsafe fn bytes_mut<S: Storage>(ring: &S, off: usize, len: usize) -> &mut [u8] {
    debug_assert!(off + len <= ring.capacity());
    // SAFETY: in bounds per the caller's contract; the pointer comes from the ring's
    // UnsafeCell, so writing through it is allowed while the consumer reads other,
    // disjoint ranges.
    unsafe { core::slice::from_raw_parts_mut(ring.base().add(off), len) }
}

/// The writing half of a ring. `Send`, not `Sync`, and there is only one per ring.
///
/// `R` is how it reaches its ring: [`Producer<'a, N>`](super::Producer) borrows a
/// [`Ring<N>`](super::Ring); with the `alloc` feature, `HeapProducer` and
/// `BoxedProducer<N>` own theirs.
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
pub struct ProducerOf<R: RingRef> {
    pub(super) ring: R,
    pub(super) cursor: WriteCursor,
    /// Last position stored to the ring's `write`.
    pub(super) published: usize,
    pub(super) _not_sync: PhantomData<Cell<()>>,
}

impl<R: RingRef> core::fmt::Debug for ProducerOf<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("next_seq", &self.cursor.seq)
            .field("write", &self.cursor.pos)
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl<R: RingRef> ProducerOf<R> {
    /// The largest payload of a framed record: header plus payload at most half the
    /// capacity.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.max_payload(), 128 - 16);
    /// ```
    #[inline(always)]
    pub fn max_payload(&self) -> usize {
        self.ring.ring().capacity() / 2 - HEADER_LEN
    }

    /// Capacity of the ring in bytes.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// assert_eq!(ring.try_split(0).unwrap().0.capacity(), 256);
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.ring().capacity()
    }

    /// Reserves room for one record of `len` payload bytes and returns a grant whose
    /// payload slice the caller fills. Never blocks, never allocates: safe in an
    /// interrupt handler.
    ///
    /// ```
    /// use ringcore::spsc::{PushError, Ring};
    /// let ring = Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// p.grant(48).unwrap().commit();
    /// p.grant(48).unwrap().commit();
    /// assert_eq!(p.grant(0).err(), Some(PushError::Full));
    /// ```
    #[inline]
    pub fn grant(&mut self, len: usize) -> Result<GrantOf<'_, R::Ring>, PushError> {
        let max = self.max_payload();
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let ring = self.ring.ring();
        let rec = place::framed_len(len);
        let off = self.cursor.reserve(ring, rec)?;
        Ok(GrantOf {
            ring,
            cursor: &mut self.cursor,
            published: Some(&mut self.published),
            off,
            rec,
            header: RingHeader {
                len: len as u32,
                kind: 0,
                flags: 0,
                timestamp_ns: 0,
            },
        })
    }

    /// Starts a batch: records granted or pushed through it are published together, with
    /// one cursor store, when it is dropped (or at [`BatchOf::publish`]). The batch keeps
    /// the producer's position in registers and checks free space once per stretch of
    /// records that fits what it last saw, not once per record.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<1024>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut batch = p.batch();
    /// for i in 0..3u8 {
    ///     batch.push(0, 0, &[i]).unwrap();
    /// }
    /// assert!(c.read().is_none(), "not published yet");
    /// drop(batch);
    /// assert_eq!(c.read_batch(usize::MAX).count(), 3);
    /// ```
    #[inline]
    pub fn batch(&mut self) -> BatchOf<'_, R> {
        BatchOf {
            cursor: self.cursor,
            producer: self,
        }
    }

    /// Reserves `len` bytes for one *raw* record, whose layout the caller defines (its own
    /// header, payload and trailer, for example a log's on-disk record with its CRC). The
    /// ring adds nothing: the bytes the caller writes are the bytes the consumer's
    /// [`take_raw`](super::ConsumerOf::take_raw) ranges hold. `len` is rounded up to a
    /// multiple of 8 (the slice covers the rounded length: fill the padding too), and may
    /// be at most half the capacity. Raw records keep the framed records' guarantees: a
    /// record never wraps, the skipped tail of a lap is never part of a range, and any
    /// record fits in an empty ring wherever the cursors stand.
    ///
    /// A ring carries framed or raw records, not both: a framed read of raw bytes (or the
    /// reverse) is memory-safe but yields garbage or stops.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut g = p.grant_raw(12).unwrap();
    /// assert_eq!(g.bytes_mut().len(), 16);
    /// g.bytes_mut().copy_from_slice(b"my header+body!\n");
    /// g.commit();
    /// let range = c.take_raw().unwrap();
    /// assert_eq!(c.raw_bytes(&range), Some(&b"my header+body!\n"[..]));
    /// c.release_raw(&range);
    /// ```
    #[inline]
    pub fn grant_raw(&mut self, len: usize) -> Result<RawGrantOf<'_, R::Ring>, PushError> {
        let max = self.ring.ring().capacity() / 2;
        if len > max || len == 0 {
            return Err(PushError::TooLarge { len, max });
        }
        let ring = self.ring.ring();
        let rec = place::align(len);
        let off = self.cursor.reserve(ring, rec)?;
        Ok(RawGrantOf {
            ring,
            cursor: &mut self.cursor,
            published: &mut self.published,
            off,
            rec,
        })
    }

    /// Copies `payload` into a new record of `kind` stamped `timestamp_ns` and publishes it;
    /// returns its sequence. The argument order (kind, timestamp, payload) is the broadcast
    /// writer's `try_publish`'s.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(5).unwrap();
    /// assert_eq!(p.push(1, 99, b"abc"), Ok(5));
    /// assert_eq!(c.read().unwrap().payload(), b"abc");
    /// ```
    #[inline]
    pub fn push(&mut self, kind: u16, timestamp_ns: u64, payload: &[u8]) -> Result<u64, PushError> {
        let mut g = self.grant(payload.len())?;
        g.payload_mut().copy_from_slice(payload);
        g.set_kind(kind);
        g.set_timestamp_ns(timestamp_ns);
        Ok(g.commit())
    }

    /// Like [`ProducerOf::push`], with the timestamp taken from `clock`.
    ///
    /// ```
    /// # use ringcore::spsc::{Clock, Ring};
    /// struct Zero;
    /// impl Clock for Zero { fn now_ns(&self) -> u64 { 0 } }
    /// let ring = Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.push_now(0, &Zero, b"x"), Ok(0));
    /// ```
    pub fn push_now(
        &mut self,
        kind: u16,
        clock: &impl Clock,
        payload: &[u8],
    ) -> Result<u64, PushError> {
        self.push(kind, clock.now_ns(), payload)
    }

    /// Like [`ProducerOf::push`] but only stages the record: it becomes visible at the next
    /// [`ProducerOf::publish`], [`GrantOf::commit`], or when the producer is dropped.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push_staged(0, 0, b"a").unwrap();
    /// assert!(c.read().is_none());
    /// p.publish();
    /// assert!(c.read().is_some());
    /// ```
    #[inline]
    pub fn push_staged(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
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
        publish(self.ring.ring(), &mut self.published, self.cursor.pos);
    }

    /// The sequence the next framed record will get.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(9).unwrap();
    /// p.push(0, 0, b"").unwrap();
    /// assert_eq!(p.next_seq(), 10);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.cursor.seq
    }

    /// Bytes free for records right now (a lower bound: the consumer may free more).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.free_bytes(), 128);
    /// ```
    pub fn free_bytes(&self) -> usize {
        let ring = self.ring.ring();
        // Relaxed: a figure for the caller; a grant does its own Acquire before writing.
        let read = ring.cursors().read.load(Ordering::Relaxed);
        ring.capacity() - self.cursor.pos.wrapping_sub(read)
    }
}

/// Stores `pos` to the ring's `write` if it moved since the last store.
#[inline(always)]
fn publish<S: Storage>(ring: &S, published: &mut usize, pos: usize) {
    if *published != pos {
        publish_now(ring, published, pos);
    }
}

/// Stores `pos` to the ring's `write` (a commit has always moved it: a record takes at
/// least 8 bytes).
#[inline(always)]
fn publish_now<S: Storage>(ring: &S, published: &mut usize, pos: usize) {
    // Release: the records' bytes (and the data end of a lap they cross into) are written
    // before the consumer can see them.
    ring.cursors().producer.write.store(pos, Ordering::Release);
    *published = pos;
}

impl<R: RingRef> Drop for ProducerOf<R> {
    fn drop(&mut self) {
        self.publish();
        // A consumer task waiting for records wakes to find the ring closed.
        #[cfg(all(feature = "async", ringcore_cas))]
        self.ring.ring().cursors().tasks.producer_gone();
    }
}

/// Room for one framed record, reserved by [`ProducerOf::grant`] or [`BatchOf::grant`].
/// Fill [`GrantOf::payload_mut`] and call [`GrantOf::commit`]; a grant dropped without
/// commit or stage writes nothing.
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
pub struct GrantOf<'p, S: Storage> {
    ring: &'p S,
    cursor: &'p mut WriteCursor,
    /// The producer's published position; `None` in a batch (it publishes on drop).
    published: Option<&'p mut usize>,
    /// Buffer offset of the record's header.
    off: usize,
    /// Bytes the record takes in the ring: header plus padded payload.
    rec: usize,
    header: RingHeader,
}

impl<S: Storage> core::fmt::Debug for GrantOf<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Grant")
            .field("offset", &self.off)
            .field("header", &self.header)
            .finish()
    }
}

impl<S: Storage> GrantOf<'_, S> {
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
        // SAFETY: reserve() proved off..off + rec in bounds and free, and the payload lies
        // inside it; the borrow is tied to `&mut self`, which borrows the producer.
        unsafe { bytes_mut(self.ring, self.off + HEADER_LEN, self.header.len as usize) }
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
    /// record's sequence. See [`ProducerOf::publish`].
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.grant(1).unwrap().stage(), 0);
    /// assert!(c.read().is_none());
    /// ```
    #[inline]
    pub fn stage(self) -> u64 {
        self.write_header()
    }

    /// Writes the header and publishes this record (and any staged before it); returns its
    /// sequence. In a [`BatchOf`], the batch publishes when it ends.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.grant(1).unwrap().commit(), 0);
    /// assert!(c.read().is_some());
    /// ```
    #[inline]
    pub fn commit(self) -> u64 {
        let GrantOf {
            ring,
            cursor,
            published,
            off,
            rec,
            header,
        } = self;
        let seq = stage_record(ring, cursor, off, rec, header);
        if let Some(published) = published {
            publish_now(ring, published, cursor.pos);
        }
        seq
    }

    #[inline(always)]
    fn write_header(self) -> u64 {
        stage_record(self.ring, self.cursor, self.off, self.rec, self.header)
    }
}

/// Writes a framed record's header at `off`, numbers it and steps the cursor over it.
#[inline(always)]
fn stage_record<S: Storage>(
    ring: &S,
    cursor: &mut WriteCursor,
    off: usize,
    rec: usize,
    header: RingHeader,
) -> u64 {
    let seq = cursor.seq;
    // SAFETY: the header range is the 8-aligned start of the reserved record range.
    unsafe { write_header(ring, off, header) };
    cursor.advance(rec);
    cursor.seq = seq.wrapping_add(1);
    seq
}

/// A batch of framed records started by [`ProducerOf::batch`]: published together when
/// the batch is dropped.
pub struct BatchOf<'p, R: RingRef> {
    producer: &'p mut ProducerOf<R>,
    /// A copy of the producer's cursor, written back on drop.
    cursor: WriteCursor,
}

impl<R: RingRef> core::fmt::Debug for BatchOf<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batch")
            .field("next_seq", &self.cursor.seq)
            .finish_non_exhaustive()
    }
}

impl<R: RingRef> BatchOf<'_, R> {
    /// Reserves room for one more record of the batch; see [`ProducerOf::grant`]. Its
    /// [`GrantOf::commit`] only stages it: the batch publishes when it ends.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut batch = p.batch();
    /// let mut g = batch.grant(2).unwrap();
    /// g.payload_mut().copy_from_slice(b"ok");
    /// assert_eq!(g.commit(), 0);
    /// drop(batch);
    /// assert_eq!(c.read().unwrap().payload(), b"ok");
    /// ```
    #[inline]
    pub fn grant(&mut self, len: usize) -> Result<GrantOf<'_, R::Ring>, PushError> {
        let max = self.producer.max_payload();
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let ring = self.producer.ring.ring();
        let rec = place::framed_len(len);
        let off = self.cursor.reserve_local(ring, rec)?;
        Ok(GrantOf {
            ring,
            cursor: &mut self.cursor,
            published: None,
            off,
            rec,
            header: RingHeader {
                len: len as u32,
                kind: 0,
                flags: 0,
                timestamp_ns: 0,
            },
        })
    }

    /// Copies `payload` into one more record of the batch; returns its sequence.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(4).unwrap();
    /// let mut batch = p.batch();
    /// assert_eq!(batch.push(1, 2, b"a"), Ok(4));
    /// drop(batch);
    /// assert_eq!(c.read().unwrap().header().kind, 1);
    /// ```
    #[inline]
    pub fn push(&mut self, kind: u16, timestamp_ns: u64, payload: &[u8]) -> Result<u64, PushError> {
        let mut g = self.grant(payload.len())?;
        g.payload_mut().copy_from_slice(payload);
        g.set_kind(kind);
        g.set_timestamp_ns(timestamp_ns);
        Ok(g.commit())
    }

    /// Publishes the records of the batch so far (the batch goes on).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// let mut batch = p.batch();
    /// batch.push(0, 0, b"a").unwrap();
    /// batch.publish();
    /// assert!(c.read().is_some());
    /// ```
    #[inline]
    pub fn publish(&mut self) {
        let p = &mut *self.producer;
        publish(p.ring.ring(), &mut p.published, self.cursor.pos);
    }
}

impl<R: RingRef> Drop for BatchOf<'_, R> {
    #[inline]
    fn drop(&mut self) {
        self.producer.cursor = self.cursor;
        self.producer.publish();
    }
}

/// Room for one raw record, reserved by [`ProducerOf::grant_raw`]: fill
/// [`RawGrantOf::bytes_mut`] and commit; a grant dropped without commit writes nothing.
#[must_use = "a grant that is not committed writes nothing"]
pub struct RawGrantOf<'p, S: Storage> {
    ring: &'p S,
    cursor: &'p mut WriteCursor,
    published: &'p mut usize,
    off: usize,
    rec: usize,
}

impl<S: Storage> core::fmt::Debug for RawGrantOf<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawGrant")
            .field("offset", &self.off)
            .field("len", &self.rec)
            .finish()
    }
}

impl<S: Storage> RawGrantOf<'_, S> {
    /// The record's bytes: the granted length rounded up to 8. Their contents before the
    /// caller writes them are unspecified (old ring bytes).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, _c) = ring.try_split(0).unwrap();
    /// assert_eq!(p.grant_raw(17).unwrap().bytes_mut().len(), 24);
    /// ```
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: reserve() proved off..off + rec in bounds and free; the borrow is tied
        // to `&mut self`, which borrows the producer.
        unsafe { bytes_mut(self.ring, self.off, self.rec) }
    }

    /// Advances the producer past the record without publishing it (see
    /// [`ProducerOf::publish`]).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().stage();
    /// assert!(c.take_raw().is_none());
    /// p.publish();
    /// assert_eq!(c.take_raw().unwrap().len(), 8);
    /// ```
    #[inline]
    pub fn stage(self) {
        self.cursor.advance(self.rec);
    }

    /// Publishes the record (and any staged before it).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// assert_eq!(c.take_raw().unwrap().len(), 8);
    /// ```
    #[inline]
    pub fn commit(self) {
        self.cursor.advance(self.rec);
        publish_now(self.ring, self.published, self.cursor.pos);
    }
}
