//! loom models of `async` waiting (feature `async`): a task registers its waker, checks
//! its condition once more, and returns `Pending`; the other side changes the condition
//! and notifies. The tasks here are loom threads polling by hand: their waker sets a flag
//! and unparks the thread, and a thread whose future is pending parks until woken. A lost
//! wake-up leaves a thread parked forever, which loom reports as a deadlock.
//!
//! Checked mutants (each must fail a model here): the re-check after registration removed
//! from `AsyncSignal::poll_until`, and each ordering marked `(loom-mutant: async)` in
//! `ringcore/src/waker.rs` weakened to `Relaxed` (`scripts/loom-mutants.sh --marked async`).
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test asynch`.
#![cfg(ringcore_loom)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use loom_tests::{explore, leak};
use ringcore::broadcast::{GatedRing, ReadError, Ring as BroadcastRing};
use ringcore::spsc::{Closed, Ring, RoomError};

/// Wakes a parked loom thread: sets its flag, then unparks it.
struct Unpark {
    woken: AtomicBool,
    thread: thread::Thread,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `future` on this loom thread until it is ready, parking while it is pending and
/// not woken since the last poll.
fn block_on<F: Future>(future: F) -> F::Output {
    let unpark = Arc::new(Unpark {
        woken: AtomicBool::new(false),
        thread: thread::current(),
    });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        while !unpark.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

/// A consumer task waits for two records that the producer pushes one at a time, each
/// followed by `wake_consumer`; the producer keeps its handle until the consumer is done,
/// so only the two notifications can wake it (not the close).
#[test]
fn spsc_consumer_task_wakes_for_each_record() {
    let n = explore(|| {
        let ring: &'static Ring<64> = leak(Ring::new());
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let producer = thread::spawn(move || {
            for seq in 0..2u64 {
                p.push(&[seq as u8], 0, 0).unwrap();
                p.wake_consumer();
            }
            p
        });
        for seq in 0..2u64 {
            assert_eq!(block_on(c.readable()), Ok(()));
            let r = c.read().unwrap();
            assert_eq!((r.seq(), r.payload()), (seq, &[seq as u8][..]));
        }
        drop(producer.join().unwrap());
    });
    assert!(n > 1);
}

/// The producer's drop alone wakes a waiting consumer, which reads the last record and
/// then finds the ring closed.
#[test]
fn spsc_producer_drop_wakes_the_consumer_task() {
    let n = explore(|| {
        let ring: &'static Ring<64> = leak(Ring::new());
        let (mut p, mut c) = ring.try_split(0).unwrap();
        let producer = thread::spawn(move || {
            p.push_staged(b"z", 0, 0).unwrap();
            drop(p);
        });
        assert_eq!(block_on(c.readable()), Ok(()));
        assert_eq!(c.read().unwrap().payload(), b"z");
        assert_eq!(block_on(c.readable()), Err(Closed));
        producer.join().unwrap();
    });
    assert!(n > 1);
}

/// A producer task waits for room in a full ring; the consumer reads two records, each
/// followed by `wake_producer`, then the producer's third push fits; the consumer's drop
/// then wakes the producer's last wait with `Closed`.
#[test]
fn spsc_producer_task_wakes_for_room_and_for_close() {
    let n = explore(|| {
        let ring: &'static Ring<64> = leak(Ring::new());
        let (mut p, mut c) = ring.try_split(0).unwrap();
        p.push(&[0; 8], 0, 0).unwrap();
        p.push(&[1; 8], 0, 0).unwrap();
        let consumer = thread::spawn(move || {
            for _ in 0..2 {
                drop(c.read().unwrap());
                c.wake_producer();
            }
        });
        assert_eq!(block_on(p.push_async(&[2; 8], 0, 0)), Ok(2));
        assert_eq!(block_on(p.push_async(&[3; 8], 0, 0)), Ok(3));
        consumer.join().unwrap();
        // The ring is full again and the consumer gone.
        assert_eq!(block_on(p.writable(8)), Err(RoomError::Closed));
    });
    assert!(n > 1);
}

/// A broadcast reader task waits for two events that the writer publishes with
/// `try_publish` and `wake_readers`, keeping its handle until the reader is done.
#[test]
fn broadcast_reader_task_wakes_for_each_event() {
    let n = explore(|| {
        let ring: &'static GatedRing<2, 8, 1> = leak(BroadcastRing::new());
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let writer = thread::spawn(move || {
            for seq in 0..2u64 {
                assert_eq!(w.try_publish(0, 0, &seq.to_le_bytes()), Ok(seq));
                w.wake_readers();
            }
            w
        });
        for seq in 0..2u64 {
            assert_eq!(block_on(r.ready()), Ok(()));
            assert_eq!(r.try_read(|e| e.header.seq), Ok(seq));
        }
        drop(writer.join().unwrap());
        assert_eq!(block_on(r.ready()), Err(ReadError::Closed));
    });
    assert!(n > 1);
}
