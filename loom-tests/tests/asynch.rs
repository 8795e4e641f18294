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

use loom::sync::Notify;
use loom::thread;
use loom_tests::{explore, leak};
use ringcore::broadcast::{GatedRing, ReadError, Ring as BroadcastRing};
use ringcore::spsc::{Closed, Ring, RoomError};

/// Wakes a task's loom thread through a loom `Notify`, which keeps one permit for a
/// thread that is not waiting yet, so a wake-up between a poll and the wait is not lost.
/// (Not `unpark`: a late wake-up of a completed future would unpark a thread blocked in
/// `join`, which loom does not allow.)
struct NotifyWaker(Notify);

impl Wake for NotifyWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify();
    }
}

/// Polls `future` on this loom thread until it is ready, waiting for a wake-up after each
/// pending poll. A wait nobody ends is a deadlock loom reports; the yield lets the other
/// threads run when a future asked to be polled again at once (a waker slot busy).
fn block_on<F: Future>(future: F) -> F::Output {
    let wake = Arc::new(NotifyWaker(Notify::new()));
    let waker = Waker::from(wake.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        wake.0.wait();
        thread::yield_now();
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
                p.push(0, 0, &[seq as u8]).unwrap();
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
            p.push_staged(0, 0, b"z").unwrap();
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
/// followed by `wake_producer`, and keeps its handle, so only those wake-ups free it.
#[test]
fn spsc_producer_task_wakes_for_room() {
    let n = explore(|| {
        let ring: &'static Ring<64> = leak(Ring::new());
        let (mut p, mut c) = ring.try_split(0).unwrap();
        p.push(0, 0, &[0; 8]).unwrap();
        p.push(0, 0, &[1; 8]).unwrap();
        let consumer = thread::spawn(move || {
            for _ in 0..2 {
                drop(c.read().unwrap());
                c.wake_producer();
            }
            c
        });
        assert_eq!(block_on(p.push_async(0, 0, &[2; 8])), Ok(2));
        assert_eq!(block_on(p.push_async(0, 0, &[3; 8])), Ok(3));
        drop(consumer.join().unwrap());
    });
    assert!(n > 1);
}

/// The consumer's drop alone wakes a producer task waiting for room in a full ring.
#[test]
fn spsc_consumer_drop_wakes_the_producer_task() {
    let n = explore(|| {
        let ring: &'static Ring<64> = leak(Ring::new());
        let (mut p, c) = ring.try_split(0).unwrap();
        p.push(0, 0, &[0; 8]).unwrap();
        p.push(0, 0, &[1; 8]).unwrap();
        let consumer = thread::spawn(move || drop(c));
        assert_eq!(block_on(p.writable(8)), Err(RoomError::Closed));
        consumer.join().unwrap();
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
