//! loom models of the wait strategies: a blocking waiter sleeps until the other side
//! notifies it, through the read-modify-write handshake of `ringcore::wait::Signal`, and
//! closing or leaving wakes it; a spinning waiter's loops end. A lost wake-up leaves a
//! thread asleep forever, which loom reports as a deadlock (its timed waits never time
//! out, so the blocking strategy's safety net does not exist in the model).
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test wait`.
#![cfg(ringcore_loom)]

use loom::thread;
use loom_tests::{explore, fill_event, leak};
use ringcore::broadcast::{GatedRing, ReadError, Ring};
use ringcore::wait::{Blocking, BusySpin, WaitStrategy};

/// The 8-byte payload of event `seq`.
fn payload(seq: u64) -> [u8; 8] {
    let mut payload = [0; 8];
    fill_event(seq, &mut payload);
    payload
}

/// A reader waits for two events the writer publishes with `publish_wait`; both keep
/// their handles until the reader is done, so only the publications' notifications can
/// wake a sleeping reader (not the writer closing the ring). The reader sleeps twice
/// across the run, so a wake-up that re-reads the epoch is modelled too.
fn reader_sleeps_until_published<W: WaitStrategy + Send + Sync + 'static>(wait: fn() -> W) {
    let n = explore(move || {
        let ring: &'static GatedRing<2, 8, 1> = leak(Ring::new());
        let wait: &'static W = leak(wait());
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let writer = thread::spawn(move || {
            for seq in 0..2 {
                assert_eq!(w.publish_wait(wait, 0, 0, &payload(seq)), Ok(seq));
            }
            w
        });
        let reader = thread::spawn(move || {
            for seq in 0..2 {
                assert_eq!(r.read_wait(wait, |e| e.header.seq), Ok(seq));
            }
            r
        });
        let r = reader.join().unwrap();
        let w = writer.join().unwrap();
        drop((r, w));
    });
    assert!(n > 1);
}

#[test]
fn blocking_reader_sleeps_until_published() {
    reader_sleeps_until_published(Blocking::new);
}

#[test]
fn busy_spin_reader_waits_until_published() {
    reader_sleeps_until_published(|| BusySpin);
}

#[test]
fn blocking_writer_sleeps_until_released() {
    // A full one-slot ring: the writer sleeps until the reader's `read_wait` releases the
    // slot and notifies it. The reader keeps its registration until the writer is done
    // (leaving would wake the writer too).
    let n = explore(|| {
        let ring: &'static GatedRing<1, 8, 1> = leak(Ring::new());
        let wait: &'static Blocking = leak(Blocking::new());
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        assert_eq!(w.try_publish(0, 0, &payload(0)), Ok(0));
        let writer = thread::spawn(move || {
            assert_eq!(w.publish_wait(wait, 0, 0, &payload(1)), Ok(1));
            w
        });
        let reader = thread::spawn(move || {
            assert_eq!(r.read_wait(wait, |e| e.header.seq), Ok(0));
            r
        });
        let w = writer.join().unwrap();
        let r = reader.join().unwrap();
        drop((r, w));
    });
    assert!(n > 1);
}

#[test]
fn closing_wakes_a_blocking_reader() {
    // Nothing is published: only the writer closing the ring can wake the reader.
    let n = explore(|| {
        let ring: &'static GatedRing<1, 8, 1> = leak(Ring::new());
        let wait: &'static Blocking = leak(Blocking::new());
        let w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let writer = thread::spawn(move || drop(w));
        let reader = thread::spawn(move || {
            assert_eq!(r.read_wait(wait, |_| ()), Err(ReadError::Closed));
        });
        writer.join().unwrap();
        reader.join().unwrap();
    });
    assert!(n > 1);
}

#[test]
fn leaving_wakes_a_blocking_writer() {
    // A full ring whose only reader leaves without reading: only the leave can wake the
    // writer.
    let n = explore(|| {
        let ring: &'static GatedRing<1, 8, 1> = leak(Ring::new());
        let wait: &'static Blocking = leak(Blocking::new());
        let mut w = ring.try_writer().unwrap();
        let r = ring.join().unwrap();
        assert_eq!(w.try_publish(0, 0, &payload(0)), Ok(0));
        let writer = thread::spawn(move || {
            assert_eq!(w.publish_wait(wait, 0, 0, &payload(1)), Ok(1));
        });
        let leaver = thread::spawn(move || drop(r));
        writer.join().unwrap();
        leaver.join().unwrap();
    });
    assert!(n > 1);
}
