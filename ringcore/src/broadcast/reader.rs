//! A reader's side of the protocol: [`Reader`] loads `published` (Acquire), reads slots in
//! place (gated) or as validated seqlock copies (overwrite), and releases what it read by
//! storing its registration word (Release). A reader stores only its own registration,
//! and never writes a slot.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ops::ControlFlow;

use super::error::ReadError;
use super::metrics::{Backpressure, ReaderStats};
use super::positions::{active_word, distance, lap_resume, left_word, slot_index};
use super::ring::{Policy, Ring};
use super::slots::SlotCopy;
use crate::frame::{FrameHeader, RecordView};
use crate::sync::{Ordering, fence};
use crate::wait::{WaitStrategy, Waiter};

/// One reader of a [`Ring`], with its own cursor. `Send`, not `Sync`. Dropping it leaves
/// the ring: its registration is freed and it no longer gates the writer.
pub struct Reader<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    ring: &'a Ring<P, N, PAYLOAD, R>,
    index: usize,
    /// Next position to read.
    position: usize,
    /// Last value loaded from `ring.head.published`.
    cached_end: usize,
    seen: usize,
    lost: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Reader<'_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("id", &self.index)
            .field("position", &self.position)
            .field("seen", &self.seen)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// What a validated overwrite copy says.
enum Copied {
    Valid(FrameHeader),
    /// The writer claimed up to this position: the copy may be torn.
    Overwritten(usize),
}

impl<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Reader<'a, P, N, PAYLOAD, R>
{
    /// The reader holding registration `index`, starting at position `start` (the
    /// registration word already says so).
    pub(super) fn new(ring: &'a Ring<P, N, PAYLOAD, R>, index: usize, start: usize) -> Self {
        Reader {
            ring,
            index,
            position: start,
            cached_end: start,
            seen: 0,
            lost: 0,
            _not_sync: PhantomData,
        }
    }

    /// Bytes of stack a read ([`Reader::try_read`], [`Reader::read_batch`] and the other
    /// reads that hand `f` an event) spends on its private copy of a slot: none for a
    /// gated ring, which hands out the slot in place, and a whole slot (24 + `PAYLOAD`
    /// bytes, plus 8 for the copy's length) for an overwrite ring, whose reader must copy
    /// the slot before it can validate it.
    /// [`Reader::peek_header`] copies only the 24-byte header in both cases.
    ///
    /// ```
    /// use ringcore::broadcast::{Gated, Overwrite, Reader};
    /// assert_eq!(Reader::<Gated, 4, 16384, 1>::COPY_BYTES, 0);
    /// assert_eq!(Reader::<Overwrite, 4, 16384, 1>::COPY_BYTES, 24 + 16384 + 8);
    /// ```
    pub const COPY_BYTES: usize = if P::OVERWRITE {
        core::mem::size_of::<SlotCopy<PAYLOAD>>()
    } else {
        0
    };

    /// An upper bound of the stack a read uses below its caller's frame, not counting
    /// what `f` itself uses: [`Reader::COPY_BYTES`] plus 4 KiB for everything else, in
    /// any build (measured: at most 2.3 KiB unoptimised on x86_64; optimised, 56 bytes on
    /// x86_64 and 112 to 136 bytes on thumbv7em). On a core without a stack guard, where an
    /// overflow silently overwrites `.bss` (and the rings in it), size the stack of a task
    /// that reads an overwrite ring of large slots with this. [`Reader::peek_header`]
    /// copies only a header: it needs at most the 4 KiB, whatever `PAYLOAD` is.
    ///
    /// ```
    /// use ringcore::broadcast::{Gated, Overwrite, Reader};
    /// assert_eq!(Reader::<Overwrite, 4, 16384, 1>::READ_STACK_BYTES, 24 + 16384 + 8 + 4096);
    /// assert_eq!(Reader::<Gated, 4, 16384, 1>::READ_STACK_BYTES, 4096);
    /// ```
    pub const READ_STACK_BYTES: usize = Self::COPY_BYTES + 4096;

    /// Events ready to read (at least 1), or why there are none.
    #[inline(always)]
    fn available(&mut self) -> Result<usize, ReadError> {
        let mut avail = distance(self.cached_end, self.position);
        if avail == 0 {
            // Acquire: the writer's stores to the published slots happen before our loads.
            self.cached_end = self.ring.head.published.load(Ordering::Acquire);
            avail = distance(self.cached_end, self.position);
            if avail == 0 {
                return Err(self.empty_or_closed());
            }
        }
        if P::OVERWRITE && avail > N {
            // Lapped before we even look: claim >= published > position + N.
            let claim = self.ring.head.claim.load(Ordering::Relaxed);
            return Err(self.skip_lost(claim));
        }
        Ok(avail)
    }

    #[cold]
    fn empty_or_closed(&mut self) -> ReadError {
        // Acquire: pairs with the writer's Release when it closed, so the load below sees
        // its final `published`.
        if !self.ring.settings.closed.load(Ordering::Acquire) {
            return ReadError::Empty;
        }
        self.cached_end = self.ring.head.published.load(Ordering::Relaxed);
        if distance(self.cached_end, self.position) == 0 {
            ReadError::Closed
        } else {
            // Published just before closing; the caller's next read gets it.
            ReadError::Empty
        }
    }

    /// After a lap (the writer claimed `claim`, so everything before `claim - N` is gone):
    /// moves to [`lap_resume`], half a ring behind the head, counting every position it
    /// skips as lost. Only this reader pays for it: the writer does nothing for a lapped
    /// reader.
    #[cold]
    fn skip_lost(&mut self, claim: usize) -> ReadError {
        // Acquire: the resumed position is read without another load of `published`
        // while it is below `cached_end`, so the writes of the slots below this value
        // must be visible (or a stale slot of an earlier lap passes the seqlock check).
        // A value at least as new as any loaded before (coherence): `cached_end` never
        // moves back. (loom-mutant: claim)
        self.cached_end = self.ring.head.published.load(Ordering::Acquire);
        let resume = lap_resume::<N>(claim, self.cached_end);
        let lost = resume.wrapping_sub(self.position);
        self.position = resume;
        self.lost = self.lost.wrapping_add(lost);
        let reg = &self.ring.readers[self.index];
        reg.lost.store(self.lost, Ordering::Relaxed);
        self.release();
        ReadError::Lagged(lost)
    }

    /// Overwrite rings: copies `position`'s slot into `copy` and checks that no later
    /// write to it had started (the seqlock check).
    #[inline(always)]
    fn copy_current(&self, copy: &mut SlotCopy<PAYLOAD>) -> Copied {
        let index = slot_index::<N>(self.position);
        // SAFETY: index < N; overwrite rings access slots only with word atomics.
        let header = unsafe { self.ring.slots.load_record(index, copy) };
        self.validate(header)
    }

    /// Overwrite rings: copies only `position`'s header (no slot-sized buffer) and checks
    /// it as [`Reader::copy_current`] does.
    #[inline(always)]
    fn copy_current_header(&self) -> Copied {
        let index = slot_index::<N>(self.position);
        // SAFETY: index < N; overwrite rings access slots only with word atomics.
        let header = unsafe { self.ring.slots.load_header(index) };
        self.validate(header)
    }

    /// The seqlock check of a copy of `position`'s slot just taken.
    #[inline(always)]
    fn validate(&self, header: FrameHeader) -> Copied {
        // Acquire fence: if any word copied above was stored by a write for a later lap,
        // the claim the writer stored before that write (and its Release fence) is
        // visible to the load below. (loom-mutant: claim)
        fence(Ordering::Acquire);
        let claim = self.ring.head.claim.load(Ordering::Relaxed);
        if claim.wrapping_sub(self.position) > N {
            Copied::Overwritten(claim)
        } else {
            Copied::Valid(header)
        }
    }

    /// Gated rings: the event at `position`, in place.
    ///
    /// # Safety
    /// `position` is below a value of `published` loaded with Acquire, and the view must
    /// be dropped before `release` stores a cursor past `position`.
    #[inline(always)]
    unsafe fn view_current<'s>(&'s self) -> RecordView<'s> {
        let index = slot_index::<N>(self.position);
        // SAFETY: index < N; the event is published to us (caller) and gated: the writer
        // does not rewrite this slot until our cursor passes it, which needs `&mut self`
        // after the view (borrowing `self`) is gone. Gated rings use plain copies only.
        let (header, payload) = unsafe { self.ring.slots.read_plain(index) };
        RecordView { header, payload }
    }

    #[inline(always)]
    fn release(&self) {
        let reg = &self.ring.readers[self.index];
        // Release: our reads of the slots before `position` happen before the writer,
        // which loads this word with Acquire, rewrites them.
        reg.word
            .store(active_word(self.position), Ordering::Release);
        // For `Ring::reader_stats` (metrics only).
        reg.seen.store(self.seen, Ordering::Relaxed);
    }

    /// Reads the next event: calls `f` with it (a view valid during the call) and returns
    /// what `f` returns. Errors: [`ReadError::Empty`], [`ReadError::Closed`], and for an
    /// overwrite ring [`ReadError::Lagged`] (after which the reader stands half a ring
    /// behind the head, as [`ReadError::Lagged`] says).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(5, 0, b"hi").unwrap();
    /// assert_eq!(r.try_read(|e| (e.header.kind, e.payload.to_vec())), Ok((5, b"hi".to_vec())));
    /// ```
    #[inline]
    pub fn try_read<T>(&mut self, f: impl FnOnce(RecordView<'_>) -> T) -> Result<T, ReadError> {
        self.available()?;
        let value = if P::OVERWRITE {
            let mut copy = SlotCopy::EMPTY;
            match self.copy_current(&mut copy) {
                Copied::Valid(header) => f(RecordView {
                    header,
                    payload: copy.payload(),
                }),
                Copied::Overwritten(claim) => return Err(self.skip_lost(claim)),
            }
        } else {
            // SAFETY: available() loaded `published` with Acquire and it is past
            // `position`; the view is dropped inside this block, before release().
            f(unsafe { self.view_current() })
        };
        self.position = self.position.wrapping_add(1);
        self.seen = self.seen.wrapping_add(1);
        self.release();
        Ok(value)
    }

    /// Reads up to `max` events, calling `f` for each in order, then releases them all with
    /// one cursor store; returns how many were read (at least 1). Errors as
    /// [`Reader::try_read`]; a lap detected after some events were read ends the batch
    /// early and is reported by the next call.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for i in 0..5u8 { w.try_publish(0, 0, &[i]).unwrap(); }
    /// let mut got = Vec::new();
    /// assert_eq!(r.read_batch(3, |e| got.push(e.payload[0])), Ok(3));
    /// assert_eq!(r.read_batch(3, |e| got.push(e.payload[0])), Ok(2));
    /// assert_eq!(got, [0, 1, 2, 3, 4]);
    /// ```
    #[inline]
    pub fn read_batch(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        self.read_batch_until(max, |e| {
            f(e);
            ControlFlow::Continue(())
        })
    }

    /// Like [`Reader::read_batch`], but `f` can end the batch early by returning
    /// [`ControlFlow::Break`]; the event for which it broke counts as read.
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for i in 0..5u8 { w.try_publish(0, 0, &[i]).unwrap(); }
    /// let until_2 = |e: ringcore::spsc::RecordView<'_>| {
    ///     if e.payload[0] == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// };
    /// assert_eq!(r.read_batch_until(8, until_2), Ok(3));
    /// assert_eq!(r.try_read(|e| e.payload[0]), Ok(3));
    /// ```
    #[inline]
    pub fn read_batch_until(
        &mut self,
        max: usize,
        mut f: impl FnMut(RecordView<'_>) -> ControlFlow<()>,
    ) -> Result<usize, ReadError> {
        let n = self.available()?.min(max.max(1));
        let mut done = 0;
        if P::OVERWRITE {
            let mut copy = SlotCopy::EMPTY;
            while done < n {
                let flow = match self.copy_current(&mut copy) {
                    Copied::Valid(header) => f(RecordView {
                        header,
                        payload: copy.payload(),
                    }),
                    Copied::Overwritten(claim) => {
                        if done == 0 {
                            return Err(self.skip_lost(claim));
                        }
                        break;
                    }
                };
                self.position = self.position.wrapping_add(1);
                done += 1;
                if flow.is_break() {
                    break;
                }
            }
        } else {
            while done < n {
                // SAFETY: position < cached_end (n <= available), loaded with Acquire;
                // the view is dropped at the end of this statement, before release().
                let flow = f(unsafe { self.view_current() });
                self.position = self.position.wrapping_add(1);
                done += 1;
                if flow.is_break() {
                    break;
                }
            }
        }
        self.seen = self.seen.wrapping_add(done);
        self.release();
        Ok(done)
    }

    /// Like [`Reader::try_read`], but waits with `wait` while the ring is empty; after
    /// reading from a gated ring it notifies `wait` (waking a writer blocked on `Full`).
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, ReadError, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// drop(w);
    /// assert_eq!(r.read_wait(&BusySpin, |e| e.payload[0]), Ok(b'x'));
    /// assert_eq!(r.read_wait(&BusySpin, |_| ()), Err(ReadError::Closed));
    /// ```
    pub fn read_wait<W: WaitStrategy, T>(
        &mut self,
        wait: &W,
        f: impl FnOnce(RecordView<'_>) -> T,
    ) -> Result<T, ReadError> {
        self.wait_for_events(wait)?;
        let result = self.try_read(f);
        if !P::OVERWRITE {
            wait.notify(&self.ring.writer.writable);
        }
        result
    }

    /// Like [`Reader::read_batch`], but waits with `wait` while the ring is empty; after
    /// reading from a gated ring it notifies `wait`.
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"x").unwrap();
    /// assert_eq!(r.read_batch_wait(&BusySpin, 8, |_| ()), Ok(1));
    /// ```
    pub fn read_batch_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        max: usize,
        f: impl FnMut(RecordView<'_>),
    ) -> Result<usize, ReadError> {
        self.wait_for_events(wait)?;
        let result = self.read_batch(max, f);
        if !P::OVERWRITE {
            wait.notify(&self.ring.writer.writable);
        }
        result
    }

    fn wait_for_events<W: WaitStrategy>(&mut self, wait: &W) -> Result<(), ReadError> {
        let mut waiter = wait.waiter(&self.ring.head.readable);
        loop {
            match self.available() {
                Ok(_) => return Ok(()),
                Err(ReadError::Empty) => waiter.idle(),
                Err(e) => return Err(e),
            }
        }
    }

    /// The header of the next event, without reading it (a later read returns the same
    /// event unless an overwrite ring lapped this reader in between). Errors as
    /// [`Reader::try_read`].
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(3, 0, b"x").unwrap();
    /// assert_eq!(r.peek_header().map(|h| h.kind), Ok(3));
    /// assert_eq!(r.try_read(|e| e.header.kind), Ok(3));
    /// ```
    #[inline]
    pub fn peek_header(&mut self) -> Result<FrameHeader, ReadError> {
        self.available()?;
        if P::OVERWRITE {
            match self.copy_current_header() {
                Copied::Valid(header) => Ok(header),
                Copied::Overwritten(claim) => Err(self.skip_lost(claim)),
            }
        } else {
            // SAFETY: available() loaded `published` with Acquire past `position`; only
            // the header is copied out of the view.
            Ok(unsafe { self.view_current() }.header)
        }
    }

    /// This reader's registration index, `0..R` (the `id` of [`Ring::reader_stats`]).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 2>::new();
    /// let a = ring.join().unwrap();
    /// let b = ring.join().unwrap();
    /// assert_eq!((a.id(), b.id()), (0, 1));
    /// ```
    pub fn id(&self) -> usize {
        self.index
    }

    /// Events published that this reader has not read yet.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(r.lag(), 1);
    /// ```
    pub fn lag(&self) -> usize {
        distance(
            self.ring.head.published.load(Ordering::Relaxed),
            self.position,
        )
    }

    /// This reader's lag against the ring's capacity and thresholds.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let r = ring.join().unwrap();
    /// for _ in 0..2 { w.try_publish(0, 0, b"").unwrap(); }
    /// let b = r.backpressure();
    /// assert_eq!(b.backpressure_ratio(), 0.5);
    /// assert!(b.is_under_pressure() && !b.should_throttle());
    /// ```
    pub fn backpressure(&self) -> Backpressure {
        self.ring.backpressure_of(self.lag())
    }

    /// Exact counters of this reader (see [`ReaderStats`]).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let r = ring.join().unwrap();
    /// assert_eq!(r.stats().seen, 0);
    /// ```
    pub fn stats(&self) -> ReaderStats {
        ReaderStats {
            id: self.index,
            lag: self.lag(),
            seen: self.seen,
            lost: self.lost,
        }
    }

    /// Events read since this reader joined.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// r.try_read(|_| ()).unwrap();
    /// assert_eq!(r.seen(), 1);
    /// ```
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Events lost to overwrite since this reader joined.
    ///
    /// ```
    /// let ring = ringcore::broadcast::OverwriteRing::<1, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// for _ in 0..3 { w.try_publish(0, 0, b"").unwrap(); }
    /// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Lagged(2)));
    /// assert_eq!(r.lost(), 2);
    /// ```
    pub fn lost(&self) -> usize {
        self.lost
    }

    /// The ring this reader reads (for its metrics).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let r = ring.join().unwrap();
    /// assert_eq!(r.ring().active_readers(), 1);
    /// ```
    pub fn ring(&self) -> &'a Ring<P, N, PAYLOAD, R> {
        self.ring
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Reader<'_, P, N, PAYLOAD, R>
{
    fn drop(&mut self) {
        // Release: our reads of every slot we read happen before the writer, which loads
        // this word with Acquire and then stops counting us, rewrites them (and before a
        // joiner's Acquire when it takes the registration). (loom-mutant: leave)
        self.ring.readers[self.index]
            .word
            .store(left_word(self.position), Ordering::Release);
        if !P::OVERWRITE {
            // A writer sleeping on a full ring wakes to find one reader fewer gating it.
            self.ring.writer.writable.notify();
        }
    }
}
