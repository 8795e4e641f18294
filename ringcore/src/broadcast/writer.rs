//! The writer's side of the protocol: [`Writer`] reserves positions (gated: below the
//! horizon its readers allow; overwrite: after announcing the claim), writes slots and
//! publishes them with one Release store; [`Claim`] batches several events into one
//! publication. The writer stores only `published`, `claim`, the handshake word and its
//! counters, and writes only slots it reserved.

use core::cell::Cell;
use core::marker::PhantomData;

use super::error::PublishError;
use super::positions::{
    SEQ_WORDS, distance, is_active, lag_behind, seq_from_words, seq_to_words, slot_index,
};
use super::ring::{Policy, Ring};
use crate::frame::FrameHeader;
use crate::sync::{Ordering, fence};
use crate::wait::{Notify, WaitStrategy, Waiter};

/// Gated: publishes what `next` is ahead of `published`, rescans the registrations and
/// returns how many positions from `next` on are free. Takes the writer's words by value
/// (see [`Writer::reserve`]); the caller sets `published = next` and the horizon.
#[inline(never)]
fn refresh_horizon<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
    ring: &Ring<P, N, PAYLOAD, R>,
    next: usize,
    published: usize,
    next_seq: u64,
) -> usize {
    // A claim that was forgotten (`mem::forget`) left `next` ahead of `published`. A
    // reader joining now starts at `published`, and the horizon below is counted from
    // `next`: publish first, so that the two agree. (Its events were pushed whole;
    // publishing them is what dropping the claim would have done.)
    if published != next {
        publish(ring, next, next_seq);
    }
    // The join handshake (module docs). Release: a joiner whose read-modify-write
    // comes later sees `published` as of now. Acquire: the registration of a joiner
    // whose read-modify-write came first is visible to the loads below.
    // (loom-mutant: join)
    #[cfg(ringcore_cas)]
    ring.writer.handshake.fetch_add(0, Ordering::AcqRel);
    let mut max_lag = 0;
    for reg in ring.readers.iter() {
        // Acquire: the reader's reads of the slots it released (or read before it
        // left) happen before our writes to them. (loom-mutant: leave)
        let word = reg.word.load(Ordering::Acquire);
        if is_active(word) {
            max_lag = max_lag.max(lag_behind(next, word));
        }
    }
    N.saturating_sub(max_lag)
}

/// Publishes every position before `next`, and keeps the numbering (`next_seq`) in the
/// ring for a writer handed out later.
#[inline(always)]
fn publish<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
    ring: &Ring<P, N, PAYLOAD, R>,
    next: usize,
    next_seq: u64,
) {
    // Release: the slots' contents are written before a reader can see them (one store
    // for a whole claim). (loom-mutant: claim)
    ring.head.published.store(next, Ordering::Release);
    store_next_seq(ring, next_seq);
}

/// Keeps the numbering in the ring for a writer handed out later. Relaxed: the next
/// writer comes after this one (`split_mut` borrows the ring exclusively).
#[inline(always)]
fn store_next_seq<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
    ring: &Ring<P, N, PAYLOAD, R>,
    next_seq: u64,
) {
    let words: [usize; SEQ_WORDS] = seq_to_words(next_seq);
    for (word, value) in ring.writer.next_seq.iter().zip(words) {
        word.store(value, Ordering::Relaxed);
    }
}

/// The one writer of a [`Ring`]. `Send`, not `Sync`. Dropping it publishes anything
/// pending and closes the ring.
pub struct Writer<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    ring: &'a Ring<P, N, PAYLOAD, R>,
    /// Next position to write (ahead of `published` inside a [`Claim`]).
    next: usize,
    /// Last value stored to `ring.head.published`.
    published: usize,
    /// Gated: positions before this are free to write (from the last registration scan).
    /// Overwrite: the last value stored to `ring.head.claim`.
    horizon: usize,
    pub(super) next_seq: u64,
    full_rejections: usize,
    _not_sync: PhantomData<Cell<()>>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Writer<'_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("next", &self.next)
            .field("next_seq", &self.next_seq)
            .field("horizon", &self.horizon)
            .finish_non_exhaustive()
    }
}

impl<'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Writer<'a, P, N, PAYLOAD, R>
{
    /// The writer of `ring`, continuing from what the ring has published (a later
    /// [`Ring::split_mut`] reopens a ring where the previous handles stopped).
    pub(super) fn new(ring: &'a Ring<P, N, PAYLOAD, R>) -> Self {
        let published = ring.head.published.load(Ordering::Relaxed);
        Writer {
            ring,
            next: published,
            published,
            horizon: if P::OVERWRITE {
                ring.head.claim.load(Ordering::Relaxed)
            } else {
                published
            },
            next_seq: seq_from_words(
                ring.writer
                    .next_seq
                    .each_ref()
                    .map(|word| word.load(Ordering::Relaxed)),
            ),
            full_rejections: ring.writer.full_rejections.load(Ordering::Relaxed),
            _not_sync: PhantomData,
        }
    }

    #[inline(always)]
    fn check_len(len: usize) -> Result<(), PublishError> {
        if len > PAYLOAD {
            Err(PublishError::TooLarge { len, max: PAYLOAD })
        } else {
            Ok(())
        }
    }

    /// Reserves up to `want` positions from `next` on and returns how many (0: full).
    #[inline(always)]
    fn reserve(&mut self, want: usize) -> usize {
        if P::OVERWRITE {
            let n = want.min(N);
            let end = self.next.wrapping_add(n);
            if distance(end, self.horizon) > 0 {
                self.ring.head.claim.store(end, Ordering::Relaxed);
                // Release fence: a reader whose Acquire fence follows a load of any slot
                // word stored below also sees this claim, and discards its copy.
                // (loom-mutant: claim)
                fence(Ordering::Release);
                self.horizon = end;
            }
            n
        } else {
            let mut free = self.horizon.wrapping_sub(self.next);
            if free < want {
                // By value, so that no pointer to the writer escapes and a loop of
                // publishes keeps its position in registers rather than storing it each
                // time (those stores would wait in the store buffer behind the slot
                // writes, as in the SPSC producer).
                free = refresh_horizon(self.ring, self.next, self.published, self.next_seq);
                self.published = self.next;
                self.horizon = self.next.wrapping_add(free);
            }
            want.min(free)
        }
    }

    #[inline(always)]
    fn write(&mut self, header: &FrameHeader, payload: &[u8]) {
        let index = slot_index::<N>(self.next);
        let bytes = header.encode();
        if P::OVERWRITE {
            // SAFETY: index < N and payload.len() <= PAYLOAD (checked by every caller);
            // an overwrite ring touches slot memory only through word atomics.
            unsafe { self.ring.slots.store_record(index, &bytes, payload) };
        } else {
            // SAFETY: index < N, payload.len() <= PAYLOAD; `next` is below the horizon,
            // so every active reader released this slot's previous event (Acquire in
            // refresh_horizon) or joined after it; no reader reads it before the Release
            // store of `published` passes it. Gated rings use plain copies only.
            unsafe { self.ring.slots.write_plain(index, &bytes, payload) };
        }
        self.next = self.next.wrapping_add(1);
    }

    #[inline(always)]
    fn publish(&mut self) {
        if self.published != self.next {
            publish(self.ring, self.next, self.next_seq);
            self.published = self.next;
        }
    }

    /// Gives the writer back unused: the ring is not closed and [`Ring::try_writer`] can
    /// hand it out again. For a pool whose other class writers were taken elsewhere.
    #[cfg(ringcore_cas)]
    pub(crate) fn give_back(self) {
        debug_assert_eq!(
            self.next, self.published,
            "a given-back writer wrote nothing"
        );
        // Relaxed: this writer stored nothing, so there is nothing to hand over.
        self.ring
            .settings
            .writer_taken
            .store(false, Ordering::Relaxed);
        // Not dropped: dropping closes the ring.
        core::mem::forget(self);
    }

    #[cold]
    fn count_full(&mut self) {
        self.full_rejections = self.full_rejections.wrapping_add(1);
        self.ring
            .writer
            .full_rejections
            .store(self.full_rejections, Ordering::Relaxed);
    }

    /// Publishes one event numbered [`Writer::next_seq`] and returns its sequence. Never
    /// blocks: a gated ring whose slowest reader is a lap behind returns
    /// [`PublishError::Full`]; an overwrite ring never does.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 16, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// assert_eq!(w.try_publish(3, 99, b"abc"), Ok(0));
    /// let h = r.try_read(|e| e.header).unwrap();
    /// assert_eq!((h.seq, h.kind, h.timestamp_ns, h.len), (0, 3, 99, 3));
    /// ```
    #[inline]
    pub fn try_publish(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        let header = FrameHeader::event(self.next_seq, timestamp_ns, kind);
        self.try_publish_frame(header, payload)
    }

    /// Publishes one event with the given header (its `len` is replaced by the payload's
    /// length). The sequence is taken as given, so a pool or a replay can number events
    /// itself; the ring does not check it, and [`Writer::next_seq`] becomes `seq + 1`.
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// let h = FrameHeader { seq: 500, timestamp_ns: 1, len: 0, kind: 2, flags: 0x10 };
    /// assert_eq!(w.try_publish_frame(h, b"xy"), Ok(500));
    /// assert_eq!(w.next_seq(), 501);
    /// assert_eq!(r.try_read(|e| e.header), Ok(FrameHeader { len: 2, ..h }));
    /// ```
    #[inline]
    pub fn try_publish_frame(
        &mut self,
        mut header: FrameHeader,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Self::check_len(payload.len())?;
        if self.reserve(1) == 0 {
            self.count_full();
            return Err(PublishError::Full);
        }
        header.len = payload.len() as u32;
        self.write(&header, payload);
        self.next_seq = header.seq.wrapping_add(1);
        self.publish();
        Ok(header.seq)
    }

    /// Reserves up to `max` slots (at least 1) for a batch: push events into the returned
    /// [`Claim`]; dropping it publishes all of them with one cursor store. A gated ring
    /// reserves what is free (at most `max`) and returns [`PublishError::Full`] if nothing
    /// is. An overwrite ring reserves `min(max, N)` at once: a reader more than
    /// `N - max` events behind may be told it lost slots the claim reserved but did not
    /// use, so claim about what you will push.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut r = ring.join().unwrap();
    /// let mut claim = w.try_claim(3).unwrap();
    /// assert_eq!(claim.capacity(), 3);
    /// for i in 0..3u8 { claim.push(0, 0, &[i]).unwrap(); }
    /// assert_eq!(claim.push(0, 0, b"no room"), Err(ringcore::broadcast::PublishError::Full));
    /// assert_eq!(claim.publish(), 3);
    /// assert_eq!(r.read_batch(10, |_| ()), Ok(3));
    /// ```
    #[inline]
    pub fn try_claim(
        &mut self,
        max: usize,
    ) -> Result<Claim<'_, 'a, P, N, PAYLOAD, R>, PublishError> {
        let reserved = self.reserve(max.max(1));
        if reserved == 0 {
            self.count_full();
            return Err(PublishError::Full);
        }
        Ok(Claim {
            writer: self,
            reserved,
            pushed: 0,
            notify: None,
        })
    }

    /// Like [`Writer::try_publish`], but waits with `wait` while a gated ring is full, and
    /// notifies `wait` afterwards (waking blocked readers). Fails only with
    /// [`PublishError::TooLarge`].
    ///
    /// ```
    /// use ringcore::broadcast::{GatedRing, wait::BusySpin};
    /// let ring = GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.publish_wait(&BusySpin, 0, 0, b"x"), Ok(0));
    /// ```
    pub fn publish_wait<W: WaitStrategy>(
        &mut self,
        wait: &W,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Self::check_len(payload.len())?;
        self.wait_for_room(wait, 1);
        let seq = self.try_publish(kind, timestamp_ns, payload)?;
        wait.notify(&self.ring.head.readable);
        Ok(seq)
    }

    /// Like [`Writer::try_claim`], but waits with `wait` while a gated ring is full; the
    /// claim notifies `wait` when it publishes.
    ///
    /// ```
    /// use ringcore::broadcast::{OverwriteRing, wait::BusySpin};
    /// let ring = OverwriteRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.claim_wait(&BusySpin, 2);
    /// c.push(0, 0, b"a").unwrap();
    /// assert_eq!(c.publish(), 1);
    /// ```
    pub fn claim_wait<'w, W: WaitStrategy>(
        &'w mut self,
        wait: &'w W,
        max: usize,
    ) -> Claim<'w, 'a, P, N, PAYLOAD, R> {
        let reserved = self.wait_for_room(wait, max.max(1));
        Claim {
            writer: self,
            reserved,
            pushed: 0,
            notify: Some(wait),
        }
    }

    fn wait_for_room<W: WaitStrategy>(&mut self, wait: &W, want: usize) -> usize {
        let n = self.reserve(want);
        if n > 0 {
            return n;
        }
        self.count_full();
        let mut waiter = wait.waiter(&self.ring.writer.writable);
        loop {
            waiter.idle();
            let n = self.reserve(want);
            if n > 0 {
                return n;
            }
        }
    }

    /// The sequence the next [`Writer::try_publish`] gives its event.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.try_publish(0, 0, b"").unwrap();
    /// assert_eq!(w.next_seq(), 1);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Makes the next event's sequence `seq` (to resume a log's numbering).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// w.set_next_seq(1000);
    /// assert_eq!(w.try_publish(0, 0, b""), Ok(1000));
    /// ```
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// The ring this writer publishes to (for its metrics).
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let w = ring.try_writer().unwrap();
    /// assert_eq!(w.ring().capacity(), 4);
    /// ```
    pub fn ring(&self) -> &'a Ring<P, N, PAYLOAD, R> {
        self.ring
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Writer<'_, P, N, PAYLOAD, R>
{
    fn drop(&mut self) {
        self.publish();
        // Also a `set_next_seq` with nothing published since.
        store_next_seq(self.ring, self.next_seq);
        // Release: a reader that sees the ring closed also sees every event published.
        self.ring.settings.closed.store(true, Ordering::Release);
        // Readers sleeping for events wake to find the ring closed, whatever strategy
        // they wait with.
        self.ring.head.readable.notify();
    }
}

/// Slots reserved by [`Writer::try_claim`]: push events into it; dropping it (or
/// [`Claim::publish`]) publishes them all with one cursor store. Pushed events are
/// invisible to readers until then.
///
/// ```
/// let ring = ringcore::broadcast::GatedRing::<8, 8, 1>::new();
/// let mut w = ring.try_writer().unwrap();
/// let mut r = ring.join().unwrap();
/// let mut c = w.try_claim(4).unwrap();
/// c.push(0, 0, b"a").unwrap();
/// assert_eq!(r.try_read(|_| ()), Err(ringcore::broadcast::ReadError::Empty));
/// drop(c);
/// assert!(r.try_read(|_| ()).is_ok());
/// ```
#[must_use = "dropping a claim publishes what was pushed; push events into it first"]
pub struct Claim<'w, 'a, P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> {
    pub(super) writer: &'w mut Writer<'a, P, N, PAYLOAD, R>,
    reserved: usize,
    pushed: usize,
    notify: Option<&'w dyn Notify>,
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> core::fmt::Debug
    for Claim<'_, '_, P, N, PAYLOAD, R>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Claim")
            .field("reserved", &self.reserved)
            .field("pushed", &self.pushed)
            .finish_non_exhaustive()
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>
    Claim<'_, '_, P, N, PAYLOAD, R>
{
    /// Slots reserved.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.try_claim(10).unwrap().capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.reserved
    }

    /// Events pushed so far.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(2).unwrap();
    /// c.push(0, 0, b"").unwrap();
    /// assert_eq!((c.len(), c.remaining(), c.is_empty()), (1, 1, false));
    /// ```
    pub fn len(&self) -> usize {
        self.pushed
    }

    /// `true` if nothing was pushed yet.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert!(w.try_claim(2).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Reserved slots not yet used.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// assert_eq!(w.try_claim(3).unwrap().remaining(), 3);
    /// ```
    pub fn remaining(&self) -> usize {
        self.reserved - self.pushed
    }

    /// Writes one event numbered [`Writer::next_seq`] into the next reserved slot;
    /// [`PublishError::Full`] when every reserved slot is used.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(1).unwrap();
    /// assert_eq!(c.push(0, 0, b"x"), Ok(0));
    /// assert!(c.push(0, 0, b"y").is_err());
    /// ```
    #[inline]
    pub fn push(
        &mut self,
        kind: u16,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        let header = FrameHeader::event(self.writer.next_seq, timestamp_ns, kind);
        self.push_frame(header, payload)
    }

    /// Like [`Claim::push`] with a caller-given header (see [`Writer::try_publish_frame`]).
    ///
    /// ```
    /// use ringcore::frame::FrameHeader;
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let mut c = w.try_claim(1).unwrap();
    /// assert_eq!(c.push_frame(FrameHeader { seq: 9, ..Default::default() }, b""), Ok(9));
    /// ```
    #[inline]
    pub fn push_frame(
        &mut self,
        mut header: FrameHeader,
        payload: &[u8],
    ) -> Result<u64, PublishError> {
        Writer::<P, N, PAYLOAD, R>::check_len(payload.len())?;
        if self.pushed == self.reserved {
            return Err(PublishError::Full);
        }
        header.len = payload.len() as u32;
        self.writer.write(&header, payload);
        self.writer.next_seq = header.seq.wrapping_add(1);
        self.pushed += 1;
        Ok(header.seq)
    }

    /// Publishes the pushed events (one cursor store) and returns how many there were.
    ///
    /// ```
    /// let ring = ringcore::broadcast::GatedRing::<4, 8, 1>::new();
    /// let mut w = ring.try_writer().unwrap();
    /// let c = w.try_claim(2).unwrap();
    /// assert_eq!(c.publish(), 0);
    /// ```
    pub fn publish(self) -> usize {
        self.pushed
    }
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> Drop
    for Claim<'_, '_, P, N, PAYLOAD, R>
{
    #[inline]
    fn drop(&mut self) {
        self.writer.publish();
        if let Some(n) = self.notify {
            n.notify(&self.writer.ring.head.readable);
        }
    }
}
