//! loom model of the size-class pool's own protocol: the publisher's watermark (Release
//! after each class publish) and the reader's merge by sequence (Acquire on the watermark
//! before looking at the classes), which together deliver every event once and in
//! publication order across classes. The class rings' protocols are modelled in
//! `broadcast.rs`.
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test pool`.
#![cfg(ringcore_loom)]

use loom::thread;
use loom_tests::{explore, fill_event, leak};
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
