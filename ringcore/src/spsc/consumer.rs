//! The consumer: framed records one at a time or in batches, and raw ranges.

use core::cell::Cell;
use core::marker::PhantomData;

use super::RecordView;
use super::place::{self, HEADER_LEN, LEN_OFFSET, Readable, RingHeader};
use super::ring::private::RingStorage;
use super::ring::{RingRef, Storage};
use crate::frame::FrameHeader;
use crate::sync::Ordering;

/// The consumer's private position. A [`ReadBatchOf`] works on a copy (so the hot loop
/// keeps it in registers) and writes it back when dropped.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadCursor {
    /// Next byte position to read (ahead of the released position inside a batch, or
    /// while raw ranges are held).
    pos: usize,
    /// End of the contiguous range known to be readable from `pos`: published, in one
    /// lap, no wrap gap inside.
    end: usize,
    /// Last value loaded from the ring's `write`.
    limit: usize,
    /// Payload length of the last framed record read, and its length in the ring
    /// (`framed_len(last_len)`, always): predicting the next record's length from it turns
    /// the header load into a branch the CPU can predict rather than a data dependency
    /// that serialises record after record.
    last_len: u32,
    last_rec: usize,
    /// The sequence of the framed record at `pos`: the ring does not store sequences, the
    /// consumer counts the records it steps over.
    seq: u64,
}

/// A framed record located by [`ReadCursor::next_framed`]: its buffer offset, payload
/// length and length in the ring.
struct Located {
    off: usize,
    len: u32,
    rec: usize,
}

impl ReadCursor {
    /// Next byte position to read.
    #[cfg(all(feature = "async", ringcore_cas))]
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn new(read: usize, write: usize, seq: u64) -> Self {
        Self {
            pos: read,
            end: read,
            limit: write,
            last_len: 0,
            last_rec: place::framed_len(0),
            seq,
        }
    }

    /// Counts the framed records published after `pos`, stepping over them (for a split
    /// that finds records left by earlier handles: they are numbered backwards from the
    /// new first sequence). Stops at anything that is not a whole framed record.
    pub(super) fn count_framed<S: Storage>(&mut self, ring: &S) -> u64 {
        let mut n = 0u64;
        while let Some(Located { rec, .. }) = self.next_framed(ring) {
            self.pos = self.pos.wrapping_add(rec);
            n += 1;
        }
        n
    }

    /// Makes `pos..end` the next non-empty readable range, skipping a wrap gap; `false`
    /// when nothing is published past `pos`.
    #[inline]
    fn refill<S: Storage>(&mut self, ring: &S) -> bool {
        let producer = &ring.cursors().producer;
        loop {
            if self.pos == self.limit {
                // Acquire: the producer's writes of the published bytes, and its store of
                // where a crossed lap's data ends, happen before our reads of them.
                self.limit = producer.write.load(Ordering::Acquire);
                if self.pos == self.limit {
                    // `pos` may have stepped over a gap: the known range is empty here.
                    self.end = self.pos;
                    return false;
                }
            }
            // Relaxed: read only when the range published with the Acquire above reaches
            // the lap's end, so the value of this lap is ordered before us; the producer
            // cannot store the next lap's before we release this lap's end.
            let data_end = || producer.data_end.load(Ordering::Relaxed);
            match place::readable(self.pos, self.limit, ring.capacity(), data_end) {
                Readable::Gap { next } => self.pos = next,
                Readable::Until { end } => {
                    self.end = end;
                    return true;
                }
            }
        }
    }

    /// Finds the next framed record at `pos` (after a wrap gap if one is there). `pos`
    /// moves past skipped bytes only; the caller steps over the record once it is done.
    #[inline(always)]
    fn next_framed<S: Storage>(&mut self, ring: &S) -> Option<Located> {
        let mut avail = self.end.wrapping_sub(self.pos);
        if avail < HEADER_LEN {
            // A range shorter than a header but not empty holds raw records (a ring
            // carries one kind): stop rather than read garbage as a header.
            if avail != 0 || !self.refill(ring) {
                return None;
            }
            avail = self.end.wrapping_sub(self.pos);
            if avail < HEADER_LEN {
                return None;
            }
        }
        let off = self.pos & (ring.capacity() - 1);
        ring.track_read(off, HEADER_LEN);
        // SAFETY: off..off + HEADER_LEN lies in pos..end, published bytes of one lap; the
        // length field is 4-aligned (records start at multiples of 8).
        let len = u32::from_le(unsafe { ring.base().add(off + LEN_OFFSET).cast::<u32>().read() });
        // Bare-metal cores execute in order, so the prediction buys nothing there and its
        // code is left out.
        // Every position is a multiple of 8 (records and gaps are), so `avail` is too.
        debug_assert_eq!(avail % place::align(1), 0);
        let rec = if cfg!(not(target_os = "none")) && len == self.last_len {
            if self.last_rec > avail {
                return None;
            }
            self.last_rec
        } else {
            if len as usize > avail - HEADER_LEN {
                // Unreachable while the ring carries framed records: the producer publishes
                // only whole records. Checked without a panic path, so a payload slice can
                // never leave the published range.
                return None;
            }
            // At most `avail`: header plus payload fit in it, and rounding up to 8 cannot
            // pass `avail`, a multiple of 8.
            let rec = place::framed_len(len as usize);
            if cfg!(not(target_os = "none")) {
                self.last_len = len;
                self.last_rec = rec;
            }
            rec
        };
        ring.track_read(off, rec);
        Some(Located { off, len, rec })
    }
}

/// # Safety
/// `off..off + len` is in bounds and inside the consumer's published, unreleased range,
/// and stays so while the returned slice lives.
#[inline(always)]
unsafe fn ring_bytes<S: Storage>(ring: &S, off: usize, len: usize) -> &[u8] {
    debug_assert!(off + len <= ring.capacity());
    // SAFETY: per the caller's contract the producer does not write these bytes until the
    // consumer releases them, which happens only after every borrow of them has ended.
    unsafe { core::slice::from_raw_parts(ring.base().add(off), len) }
}

/// The in-ring header of the framed record at `off`, in native byte order.
///
/// # Safety
/// As [`ring_bytes`] for `off..off + HEADER_LEN`, and `off` is 8-aligned.
#[inline(always)]
unsafe fn header_at<S: Storage>(ring: &S, off: usize) -> RingHeader {
    // SAFETY: aligned and published (the caller's contract); `RingHeader` is `repr(C)`
    // of integers without padding, so every bit pattern is a valid value.
    unsafe { ring.base().add(off).cast::<RingHeader>().read() }.to_native()
}

/// The reading half of a ring. `Send`, not `Sync`, and there is only one per ring.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<ringcore::spsc::Consumer<'static, 64>>();
/// ```
pub struct ConsumerOf<R: RingRef> {
    pub(super) ring: R,
    pub(super) cursor: ReadCursor,
    /// Last position stored to the ring's `read`.
    pub(super) released: usize,
    pub(super) _not_sync: PhantomData<Cell<()>>,
}

impl<R: RingRef> core::fmt::Debug for ConsumerOf<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("read", &self.cursor.pos)
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

impl<R: RingRef> ConsumerOf<R> {
    /// Gives everything before `pos` back to the producer.
    #[inline]
    fn release_to(&mut self, pos: usize) {
        self.released = pos;
        // Release: our reads of the released bytes happen before the producer reuses them.
        self.ring
            .ring()
            .cursors()
            .read
            .store(pos, Ordering::Release);
    }

    /// Reads the next framed record, if any. Its bytes go back to the producer when the
    /// record is dropped (with any raw ranges still held).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// assert!(c.read().is_none());
    /// p.push(0, 0, b"hi").unwrap();
    /// let r = c.read().unwrap();
    /// assert_eq!(r.payload(), b"hi");
    /// ```
    #[inline]
    pub fn read(&mut self) -> Option<RecordOf<'_, R>> {
        let Located { off, len, rec } = self.cursor.next_framed(self.ring.ring())?;
        Some(RecordOf {
            consumer: self,
            off,
            len,
            rec,
        })
    }

    /// Starts a batch read of at most `max` framed records: the batch yields records one at
    /// a time and releases all of them with one cursor store when dropped.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<1024>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// for i in 0..5u8 { p.push(0, 0, &[i]).unwrap(); }
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
    /// p.push(0, 0, b"x").unwrap();
    /// let mut batch = c.read_batch(1);
    /// let r = batch.next().unwrap();
    /// drop(batch);
    /// assert_eq!(r.payload, b"x");
    /// ```
    #[inline]
    pub fn read_batch(&mut self, max: usize) -> ReadBatchOf<'_, R> {
        ReadBatchOf {
            cursor: self.cursor,
            start: self.cursor.pos,
            pending: 0,
            remaining: max,
            consumer: self,
        }
    }

    /// Takes the next contiguous range of committed raw records (see
    /// [`ProducerOf::grant_raw`](super::ProducerOf::grant_raw)) without releasing it:
    /// everything published after the ranges already taken, up to the end of the lap or
    /// its wrap gap (never inside a range). Read it with [`ConsumerOf::raw_bytes`], give
    /// it back with [`ConsumerOf::release_raw`]; several ranges may be held at once (for
    /// example while writes of them are in flight).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<256>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// let first = c.take_raw().unwrap();
    /// p.grant_raw(16).unwrap().commit();
    /// let second = c.take_raw().unwrap();
    /// assert_eq!((first.len(), second.len()), (8, 16));
    /// assert_eq!(p.free_bytes(), 256 - 24);
    /// c.release_raw(&second); // releases everything up to the end of `second`
    /// assert_eq!(p.free_bytes(), 256);
    /// assert_eq!(c.raw_bytes(&first), None, "released");
    /// ```
    #[inline]
    pub fn take_raw(&mut self) -> Option<RawRange> {
        let c = &mut self.cursor;
        if c.pos == c.end && !c.refill(self.ring.ring()) {
            return None;
        }
        let range = RawRange {
            start: c.pos,
            len: c.end.wrapping_sub(c.pos),
        };
        c.pos = c.end;
        Some(range)
    }

    /// The bytes of `range`, if it is a range this consumer took and has not released
    /// (`None` otherwise: the producer may be overwriting them).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().bytes_mut().copy_from_slice(b"12345678");
    /// assert!(c.take_raw().is_none(), "a dropped grant writes nothing");
    /// let mut g = p.grant_raw(8).unwrap();
    /// g.bytes_mut().copy_from_slice(b"abcdefgh");
    /// g.commit();
    /// let r = c.take_raw().unwrap();
    /// assert_eq!(c.raw_bytes(&r), Some(&b"abcdefgh"[..]));
    /// ```
    #[inline]
    pub fn raw_bytes(&self, range: &RawRange) -> Option<&[u8]> {
        let ring = self.ring.ring();
        let held = self.cursor.pos.wrapping_sub(self.released);
        let from = range.start.wrapping_sub(self.released);
        let off = range.start & (ring.capacity() - 1);
        if from > held || range.len > held - from || range.len > ring.capacity() - off {
            return None;
        }
        ring.track_read(off, range.len);
        // SAFETY: `range` lies in released..pos, bytes the producer published and may not
        // reuse before this consumer stores a later `read` (which needs `&mut self`), and
        // it does not run past the end of the buffer.
        Some(unsafe { ring_bytes(ring, off, range.len) })
    }

    /// Gives the bytes up to the end of `range` back to the producer: `range` and every
    /// range taken before it. Returns `false` (and releases nothing) if `range` is not
    /// held, for example because it was released already.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// let r = c.take_raw().unwrap();
    /// assert!(c.release_raw(&r));
    /// assert!(!c.release_raw(&r));
    /// ```
    #[inline]
    pub fn release_raw(&mut self, range: &RawRange) -> bool {
        let held = self.cursor.pos.wrapping_sub(self.released);
        let end = range.start.wrapping_add(range.len);
        let upto = end.wrapping_sub(self.released);
        if upto == 0 || upto > held || range.start.wrapping_sub(self.released) > held {
            return false;
        }
        self.release_to(end);
        true
    }

    /// Bytes published and not yet released (includes padding and wrap gaps).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, &[0; 8]).unwrap();
    /// assert_eq!(c.pending_bytes(), 24);
    /// ```
    pub fn pending_bytes(&self) -> usize {
        // Relaxed: a figure for the caller; reads do their own Acquire.
        self.ring
            .ring()
            .cursors()
            .producer
            .write
            .load(Ordering::Relaxed)
            .wrapping_sub(self.released)
    }
}

/// A contiguous range of committed raw records taken by [`ConsumerOf::take_raw`]: stream
/// positions, not a borrow, so several can be held while the consumer goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRange {
    start: usize,
    len: usize,
}

impl RawRange {
    /// Length in bytes.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(40).unwrap().commit();
    /// assert_eq!(c.take_raw().unwrap().len(), 40);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty (only a [`RawRange::split_at`] half can be).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// assert!(!c.take_raw().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The range's first byte as a position in the stream of bytes this ring has carried
    /// (wrap gaps included), modulo `usize::MAX + 1`.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// p.grant_raw(8).unwrap().stage();
    /// assert_eq!(c.take_raw().unwrap().position(), 0);
    /// p.publish();
    /// assert_eq!(c.take_raw().unwrap().position(), 8);
    /// ```
    pub fn position(&self) -> usize {
        self.start
    }

    /// The first `at` bytes and the rest (for example at a group boundary the caller
    /// found by walking its own headers); `None` if `at > len`.
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.grant_raw(8).unwrap().commit();
    /// p.grant_raw(8).unwrap().commit();
    /// let both = c.take_raw().unwrap();
    /// let (first, _rest) = both.split_at(8).unwrap();
    /// assert!(c.release_raw(&first));
    /// assert_eq!(p.free_bytes(), 120);
    /// ```
    pub fn split_at(&self, at: usize) -> Option<(RawRange, RawRange)> {
        if at > self.len {
            return None;
        }
        Some((
            RawRange {
                start: self.start,
                len: at,
            },
            RawRange {
                start: self.start.wrapping_add(at),
                len: self.len - at,
            },
        ))
    }
}

/// One framed record read by [`ConsumerOf::read`]; releases its bytes when dropped. Its
/// header is not decoded: [`RecordOf::header`] reads it in place when asked.
pub struct RecordOf<'c, R: RingRef> {
    consumer: &'c mut ConsumerOf<R>,
    off: usize,
    len: u32,
    rec: usize,
}

impl<R: RingRef> core::fmt::Debug for RecordOf<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Record")
            .field("header", &self.header())
            .finish()
    }
}

impl<R: RingRef> RecordOf<'_, R> {
    /// The record's header: the sequence the consumer counted, the rest read from the
    /// ring's 16-byte in-ring header when asked (nothing is decoded before).
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(4, 5, b"abc").unwrap();
    /// let h = c.read().unwrap().header();
    /// assert_eq!((h.seq, h.len, h.kind, h.timestamp_ns), (0, 3, 4, 5));
    /// ```
    #[inline]
    pub fn header(&self) -> FrameHeader {
        // SAFETY: next_framed proved the record (header first) lies in the published
        // range at an 8-aligned offset; it stays unreleased while this Record lives.
        unsafe { header_at(self.consumer.ring.ring(), self.off) }.with_seq(self.seq())
    }

    /// The record's sequence number.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(3).unwrap();
    /// p.push(0, 0, b"").unwrap();
    /// assert_eq!(c.read().unwrap().seq(), 3);
    /// ```
    #[inline]
    pub fn seq(&self) -> u64 {
        self.consumer.cursor.seq
    }

    /// The payload, borrowed from the ring.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"zz").unwrap();
    /// assert_eq!(c.read().unwrap().payload(), b"zz");
    /// ```
    #[inline]
    pub fn payload(&self) -> &[u8] {
        // SAFETY: next_framed proved header plus payload lie in the published range; it
        // stays unreleased while this Record (which borrows the consumer) lives.
        unsafe {
            ring_bytes(
                self.consumer.ring.ring(),
                self.off + HEADER_LEN,
                self.len as usize,
            )
        }
    }

    /// The header and payload as a plain view.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"v").unwrap();
    /// let r = c.read().unwrap();
    /// assert_eq!(r.view().payload, b"v");
    /// ```
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            header: self.header(),
            payload: self.payload(),
        }
    }

    /// Ends this borrow without releasing the record: it stays in the ring and the next
    /// [`ConsumerOf::read`] returns it again (for a sink that could write only part of it).
    ///
    /// ```
    /// let ring = ringcore::spsc::Ring::<128>::new();
    /// let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"again").unwrap();
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

impl<R: RingRef> Drop for RecordOf<'_, R> {
    #[inline]
    fn drop(&mut self) {
        let c = &mut *self.consumer;
        // next_framed left the position at this record's start.
        let pos = c.cursor.pos.wrapping_add(self.rec);
        c.cursor.pos = pos;
        c.cursor.seq = c.cursor.seq.wrapping_add(1);
        c.release_to(pos);
    }
}

/// A batch of reads started by [`ConsumerOf::read_batch`]. Call [`ReadBatchOf::next`]
/// until it returns `None`; everything read is released with one store when the batch is
/// dropped.
pub struct ReadBatchOf<'c, R: RingRef> {
    consumer: &'c mut ConsumerOf<R>,
    /// A copy of the consumer's cursor, written back on drop.
    cursor: ReadCursor,
    /// Position when the batch started: nothing to release if it did not move.
    start: usize,
    /// Length in the ring of the record last handed out, not yet stepped over.
    pending: usize,
    remaining: usize,
}

impl<R: RingRef> core::fmt::Debug for ReadBatchOf<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadBatch")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl<R: RingRef> ReadBatchOf<'_, R> {
    /// The next record of the batch, valid until the next call or the batch's drop.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<128>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"q").unwrap();
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
        let ring = self.consumer.ring.ring();
        let Located { off, len, rec } = self.cursor.next_framed(ring)?;
        self.remaining -= 1;
        self.pending = rec;
        let seq = self.cursor.seq;
        self.cursor.seq = seq.wrapping_add(1);
        // SAFETY: as in RecordOf::header and RecordOf::payload; the view borrows the
        // batch, which releases only on drop.
        let (header, payload) = unsafe {
            (
                header_at(ring, off),
                ring_bytes(ring, off + HEADER_LEN, len as usize),
            )
        };
        Some(RecordView {
            header: header.with_seq(seq),
            payload,
        })
    }

    /// Reads the rest of the batch, returning how many records there were.
    ///
    /// ```
    /// # let ring = ringcore::spsc::Ring::<256>::new();
    /// # let (mut p, mut c) = ring.try_split(0).unwrap();
    /// p.push(0, 0, b"1").unwrap();
    /// p.push(0, 0, b"2").unwrap();
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

impl<R: RingRef> Drop for ReadBatchOf<'_, R> {
    #[inline]
    fn drop(&mut self) {
        self.cursor.pos = self.cursor.pos.wrapping_add(self.pending);
        self.consumer.cursor = self.cursor;
        if self.cursor.pos != self.start {
            self.consumer.release_to(self.cursor.pos);
        }
    }
}
