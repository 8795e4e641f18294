//! The submit queue: a heap-allocated `ringcore::spsc::Ring<N>` whose producer is shared
//! by appending threads (behind the writer's mutex) and whose consumer is the writer
//! thread's.
//!
//! `ringcore`'s handles borrow their ring (`Producer<'a, N>`), and the writer thread
//! needs `'static` handles. This module owns the ring in an `Arc` and keeps the handles
//! next to a clone of that `Arc`, so the ring outlives both handles; the handles are
//! never handed out by value, so the `'static` lifetime cannot escape. It is the only
//! other module besides `mmap` that needs `unsafe`.
#![allow(unsafe_code)]

use std::mem::{ManuallyDrop, MaybeUninit};
use std::sync::Arc;

use ringcore::spsc::{Consumer, Producer, PushError, ReadBatch, Ring};

/// Metadata of an appended record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordMeta {
    /// Application-defined kind.
    pub kind: u16,
    /// Application-defined flags.
    pub flags: u16,
    /// Timestamp in ns since the Unix epoch; `None` takes the system clock's.
    pub timestamp_ns: Option<u64>,
}

/// Allocates an empty, unsplit ring directly on the heap (a large ring must not pass
/// through the stack).
fn zeroed_ring<const N: usize>() -> Arc<Ring<N>> {
    let mut uninit: Arc<MaybeUninit<Ring<N>>> = Arc::new_uninit();
    let slot = Arc::get_mut(&mut uninit).expect("a fresh Arc is unique");
    // SAFETY: `slot` points to memory for one `Ring<N>`, which we own exclusively; writing
    // zero bytes to all of it is in bounds.
    unsafe { std::ptr::write_bytes(slot.as_mut_ptr(), 0, 1) };
    // SAFETY: ringcore documents that all-zero bytes are a valid empty, unsplit `Ring<N>`
    // outside loom builds (its fields are plain atomics, whose zero is 0/false, and a
    // byte array); storage-std never builds ringcore with `cfg(ringcore_loom)`.
    unsafe { uninit.assume_init() }
}

/// The producing half; not `Sync` (wrap it in a mutex to share it).
pub(crate) struct QueueProducer<const N: usize> {
    // Dropped first (see Drop), while `_ring` still keeps the ring alive.
    handle: ManuallyDrop<Producer<'static, N>>,
    _ring: Arc<Ring<N>>,
}

/// The consuming half, owned by the writer thread.
pub(crate) struct QueueConsumer<const N: usize> {
    handle: ManuallyDrop<Consumer<'static, N>>,
    _ring: Arc<Ring<N>>,
}

impl<const N: usize> std::fmt::Debug for QueueProducer<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProducer")
            .field("capacity", &N)
            .field("next_seq", &self.handle.next_seq())
            .finish()
    }
}

impl<const N: usize> std::fmt::Debug for QueueConsumer<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConsumer")
            .field("capacity", &N)
            .finish()
    }
}

/// Creates a queue whose records are numbered from `first_seq`.
pub(crate) fn queue<const N: usize>(first_seq: u64) -> (QueueProducer<N>, QueueConsumer<N>) {
    let ring = zeroed_ring::<N>();
    // SAFETY: the ring lives in the Arc's heap allocation, which does not move and is
    // freed only when the last Arc clone drops. Each handle made from this reference is
    // stored next to an Arc clone and dropped before it (Drop impls below), and no
    // handle or reference with this lifetime is ever returned from this module, so the
    // reference never outlives the allocation.
    let r: &'static Ring<N> = unsafe { &*Arc::as_ptr(&ring) };
    let (p, c) = r
        .try_split(first_seq)
        .expect("a freshly allocated ring is unsplit");
    (
        QueueProducer {
            handle: ManuallyDrop::new(p),
            _ring: ring.clone(),
        },
        QueueConsumer {
            handle: ManuallyDrop::new(c),
            _ring: ring,
        },
    )
}

impl<const N: usize> Drop for QueueProducer<N> {
    fn drop(&mut self) {
        // SAFETY: the handle is dropped exactly once, here, before `_ring` (a field
        // dropped after this body runs) can free the ring it borrows.
        unsafe { ManuallyDrop::drop(&mut self.handle) }
    }
}

impl<const N: usize> Drop for QueueConsumer<N> {
    fn drop(&mut self) {
        // SAFETY: as for the producer.
        unsafe { ManuallyDrop::drop(&mut self.handle) }
    }
}

impl<const N: usize> QueueProducer<N> {
    /// Largest payload the queue takes.
    pub(crate) const MAX_PAYLOAD: usize = Ring::<N>::MAX_PAYLOAD;

    /// Reserves `len` bytes, lets `fill` write the payload, and publishes the record;
    /// returns its sequence. `fill` runs while the appending thread holds the producer.
    pub(crate) fn push_with(
        &mut self,
        len: usize,
        kind: u16,
        flags: u16,
        timestamp_ns: u64,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<u64, PushError> {
        let mut g = self.handle.grant(len)?;
        fill(g.payload_mut());
        g.set_kind(kind);
        g.set_flags(flags);
        g.set_timestamp_ns(timestamp_ns);
        Ok(g.commit())
    }

    /// The sequence the next record gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.handle.next_seq()
    }
}

impl<const N: usize> QueueConsumer<N> {
    /// Starts a batch read of up to `max` records.
    pub(crate) fn read_batch(&mut self, max: usize) -> ReadBatch<'_, 'static, N> {
        self.handle.read_batch(max)
    }

    /// Bytes published and not yet released.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.handle.pending_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_cross_threads_and_handles_drop_in_any_order() {
        for producer_first in [true, false] {
            let (mut p, mut c) = queue::<1024>(7);
            let n = if cfg!(miri) { 50 } else { 5000 };
            let t = std::thread::spawn(move || {
                let mut i = 0u64;
                while i < n {
                    match p.push_with((i % 40) as usize, 1, 2, i, |b| b.fill(i as u8)) {
                        Ok(seq) => {
                            assert_eq!(seq, 7 + i);
                            i += 1;
                        }
                        Err(PushError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
                p
            });
            let mut expect = 7u64;
            while expect < 7 + n {
                let mut b = c.read_batch(16);
                while let Some(r) = b.next() {
                    assert_eq!(r.header.seq, expect);
                    assert_eq!(
                        (r.header.kind, r.header.flags, r.header.timestamp_ns),
                        (1, 2, expect - 7)
                    );
                    assert!(r.payload.iter().all(|&x| x == (expect - 7) as u8));
                    expect += 1;
                }
                drop(b);
                std::thread::yield_now();
            }
            let p = t.join().unwrap();
            assert_eq!(p.next_seq(), 7 + n);
            assert_eq!(c.pending_bytes(), 0);
            if producer_first {
                drop(p);
                drop(c);
            } else {
                drop(c);
                drop(p);
            }
        }
    }

    #[test]
    fn large_ring_is_allocated_zeroed_on_the_heap() {
        // 16 MiB would overflow a test thread's 2 MiB stack if it passed through it
        // (Miri, which is slow to zero 16 MiB, checks the same code with 4 MiB).
        #[cfg(not(miri))]
        const N: usize = 1 << 24;
        #[cfg(miri)]
        const N: usize = 1 << 22;
        let (mut p, mut c) = queue::<N>(0);
        let big = if cfg!(miri) { 1000 } else { N / 2 - 24 };
        assert_eq!(p.push_with(big, 0, 0, 0, |b| b.fill(9)), Ok(0));
        let mut b = c.read_batch(1);
        let r = b.next().unwrap();
        assert_eq!(r.payload.len(), big);
        assert!(r.payload.iter().all(|&x| x == 9));
    }
}
