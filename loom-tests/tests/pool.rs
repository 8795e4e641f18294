//! loom model of the size-class pool's own protocol: the publisher's watermark (Release
//! after each class publish) and the reader's merge by sequence (Acquire on the watermark
//! before looking at the classes), which together deliver every event once and in
//! publication order across classes. The class rings' protocols are modelled in
//! `broadcast.rs`.
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test pool`.
#![cfg(ringcore_loom)]

use loom::thread;
use loom_tests::{check_event, explore, explore_with_preemptions, fill_event, leak};
use ringcore::broadcast::{Gated, Overwrite, Policy, ReadError};
use ringcore::pool::{Pool, PoolError, SizeClass};

ringcore::pool_classes! {
    /// Five tiny classes (8..40 bytes), one slot each, so events of 8 and 16 bytes land
    /// in different rings and the XS ring fills after one event.
    struct TinyClasses {
        footprint_limit: 1 << 20,
        xs: { size: 8, slots: 1 },
        s: { size: 16, slots: 1 },
        m: { size: 24, slots: 1 },
        l: { size: 32, slots: 1 },
        xl: { size: 40, slots: 1 },
    }
}

type Tiny<P> = Pool<P, 1, TinyClasses>;

/// Event `seq`'s payload: XS, S, XS, ... sized (see [`fill_event`]).
fn payload(seq: u64) -> Vec<u8> {
    let mut payload = vec![0; if seq % 2 == 0 { 8 } else { 16 }];
    fill_event(seq, &mut payload);
    payload
}

fn merge_model<P: Policy>(events: u64) -> usize {
    explore(move || {
        let pool: &'static Tiny<P> = leak(Tiny::<P>::new());
        let mut publisher = pool.try_publisher().unwrap();
        let mut reader = pool.join().unwrap();
        let writer = thread::spawn(move || {
            let mut seq = 0;
            while seq < events {
                match publisher.try_publish(seq as u16, 0, &payload(seq)) {
                    Ok((s, class)) => {
                        assert_eq!(s, seq);
                        let expect = if seq % 2 == 0 {
                            SizeClass::XS
                        } else {
                            SizeClass::S
                        };
                        assert_eq!(class, expect);
                        seq += 1;
                    }
                    Err(PoolError::Full { .. }) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            // Closing (dropping the publisher) is left to the main thread after both
            // participants finish: it is not part of the protocol under test.
            publisher
        });
        let reading = thread::spawn(move || {
            let mut next = 0u64;
            while next < events {
                match reader.try_read(|e| {
                    // In publication order across classes, and intact.
                    assert_eq!(e.header.seq, next, "merge order");
                    assert_eq!(e.header.kind, next as u16);
                    assert_eq!(e.payload, &payload(next)[..]);
                }) {
                    Ok(()) => next += 1,
                    Err(ReadError::Empty) => thread::yield_now(),
                    Err(e) => panic!("nothing laps in this model: {e}"),
                }
            }
            assert_eq!((reader.seen(), reader.lost()), (events as usize, 0));
        });
        let publisher = writer.join().unwrap();
        reading.join().unwrap();
        drop(publisher);
        // SAFETY: every handle borrowing the pool (the publisher just dropped, the reader
        // dropped when its thread ended) is gone, so the leaked box can be freed; loom
        // explores so many iterations that leaking every pool would exhaust memory.
        unsafe { drop(Box::from_raw(pool as *const Tiny<P> as *mut Tiny<P>)) };
    })
}

#[test]
fn gated_merge_is_in_publication_order() {
    // Three events: XS, S, XS. The third waits for the reader to free the XS slot.
    assert!(merge_model::<Gated>(3) > 1);
}

#[test]
fn overwrite_merge_is_in_publication_order() {
    // Two events in two classes; one slot per class, so nothing laps: both must arrive,
    // in order.
    assert!(merge_model::<Overwrite>(2) > 1);
}

/// Makes up to `attempts` reads of the pool (no waiting loop: the model stays small):
/// events intact, in strictly increasing sequence order across classes (a lap skips
/// events, never reorders or repeats them). Returns (seen, lost, last sequence seen,
/// whether the pool said `Closed`).
fn read_attempts<P: Policy>(
    mut reader: ringcore::pool::PoolReader<'static, P, 1, TinyClasses>,
    attempts: usize,
) -> (u64, u64, Option<u64>, bool) {
    let (mut last, mut seen, mut lost) = (None::<u64>, 0u64, 0u64);
    for _ in 0..attempts {
        match reader.try_read(|e| {
            assert_eq!(e.header.kind, e.header.seq as u16);
            assert!(check_event(e.header.seq, e.payload), "intact");
            e.header.seq
        }) {
            Ok(seq) => {
                assert!(last.is_none_or(|l| seq > l), "merge order");
                last = Some(seq);
                seen += 1;
            }
            Err(ReadError::Lagged(n)) => {
                assert!(P::OVERWRITE && n > 0);
                lost += n as u64;
            }
            Err(ReadError::Empty) => {}
            Err(ReadError::Closed) => {
                assert_eq!((reader.seen() as u64, reader.lost() as u64), (seen, lost));
                return (seen, lost, last, true);
            }
        }
    }
    (seen, lost, last, false)
}

/// Publishes one event of each length in `lens` (8: class XS, 16: class S; never full:
/// one slot per class, and a gated pool gets at most one event per class): the first
/// `before` on the main thread before the reader starts, the rest on the publisher's
/// thread, which then drops the publisher (closing every class) if `close`. The reader
/// makes one attempt more than there are events meanwhile. Two preemptions: with five
/// classes per read and five ring closes, a third costs minutes, and a class seen closed
/// too early or a lap misreported needs one preemption in each thread.
fn close_model<P: Policy>(lens: &'static [usize], before: usize, close: bool) -> usize {
    let events = lens.len() as u64;
    explore_with_preemptions(2, move || {
        let pool: &'static Tiny<P> = leak(Tiny::<P>::new());
        let mut publisher = pool.try_publisher().unwrap();
        let reader = pool.join().unwrap();
        let publish =
            |publisher: &mut ringcore::pool::PoolPublisher<'static, P, 1, TinyClasses>,
             seq: usize| {
                let mut payload = vec![0; lens[seq]];
                fill_event(seq as u64, &mut payload);
                let published = publisher.try_publish(seq as u16, 0, &payload);
                assert_eq!(published.map(|(s, _)| s), Ok(seq as u64));
            };
        for seq in 0..before {
            publish(&mut publisher, seq);
        }
        let writer = thread::spawn(move || {
            for seq in before..lens.len() {
                publish(&mut publisher, seq);
            }
            // Dropped here (closing every class), or by the main thread after the reader.
            (!close).then_some(publisher)
        });
        let reading = thread::spawn(move || read_attempts(reader, events as usize + 1));
        let publisher = writer.join().unwrap();
        let (seen, lost, last, closed) = reading.join().unwrap();
        drop(publisher);
        if last == Some(events - 1) {
            // The last event read: every earlier one was read or reported lost.
            assert_eq!(seen + lost, events, "seen {seen} lost {lost}");
        }
        if closed {
            // Never closed before the last event: every one was read, or (overwrite) lost
            // to a lap that was reported, and the last one is never lost.
            assert_eq!(seen + lost, events, "closed early: seen {seen} lost {lost}");
            assert_eq!(last, Some(events - 1), "the last event is never lost");
            CLOSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if lost > 0 {
            LAPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // SAFETY: every handle borrowing the pool is gone (both threads ended, and with
        // them the publisher and the reader), so the leaked box can be freed.
        unsafe { drop(Box::from_raw(pool as *const Tiny<P> as *mut Tiny<P>)) };
    })
}

/// Interleavings of the close models in which the reader saw the pool closed, and in
/// which it was lapped.
static CLOSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LAPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn gated_pool_close_after_the_last_event() {
    // One event in class S, then the publisher is dropped, closing XS before S: a reader
    // that sees `Closed` has read the event (a class closing must not hide another
    // class's event).
    assert!(close_model::<Gated>(&[16], 0, true) > 1);
    assert!(
        CLOSED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "a close was seen"
    );
}

#[test]
fn overwrite_merge_with_laps() {
    // XS, S (published before the reader starts), then XS into one-slot classes: the
    // second XS event may lap the first before the reader gets to it. The merge across
    // the two classes stays in sequence order, and the loss is reported exactly (once
    // the last event is read, seen + lost is all).
    assert!(close_model::<Overwrite>(&[8, 16, 8], 2, false) > 1);
    assert!(
        LAPPED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "a lap was explored"
    );
}
