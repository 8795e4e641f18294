//! loom models of the SPSC ring's cursor protocol.
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release`.
//! Every participant is a spawned loom thread; each model counts the interleavings it
//! explored and asserts there was more than one. The ring's byte buffer reports every
//! range access to loom (see `ringcore::sync::ByteBuffer`), so a missing happens-before
//! edge between a release and a reuse of the same bytes fails a model, as does a record
//! seen out of order or with wrong contents.
#![cfg(ringcore_loom)]

use loom::thread;
use loom_tests::{check_event, explore, fill_event, leak};
use ringcore::spsc::{PushError, Ring};

/// Producer writes one record per entry of `lens` (retrying on Full); the consumer reads
/// them all, checking order, lengths and contents. The ring is 128 bytes, so records of up
/// to 40 payload bytes (64 with the header) wrap within a few records.
fn transfer_model(lens: &'static [usize], batch: bool) -> usize {
    let count = lens.len() as u64;
    explore(move || {
        let (mut p, mut c) = leak_ring().try_split(0).unwrap();
        let producer = thread::spawn(move || {
            let mut seq = 0;
            while seq < count {
                match p.grant(lens[seq as usize]) {
                    Ok(mut g) => {
                        fill_event(seq, g.payload_mut());
                        if batch && seq + 1 < count {
                            g.stage();
                        } else {
                            g.commit();
                        }
                        seq += 1;
                    }
                    Err(PushError::Full) => {
                        p.publish();
                        thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let consumer = thread::spawn(move || {
            let mut expect = 0;
            while expect < count {
                if batch {
                    let mut b = c.read_batch(usize::MAX);
                    let mut got = 0;
                    while let Some(r) = b.next() {
                        assert_eq!(r.header.seq, expect);
                        assert_eq!(r.payload.len(), lens[expect as usize]);
                        assert!(check_event(expect, r.payload));
                        expect += 1;
                        got += 1;
                    }
                    drop(b);
                    if got == 0 {
                        thread::yield_now();
                    }
                } else {
                    match c.read() {
                        Some(r) => {
                            assert_eq!(r.seq(), expect);
                            assert_eq!(r.payload().len(), lens[expect as usize]);
                            assert!(check_event(expect, r.payload()));
                            expect += 1;
                        }
                        None => thread::yield_now(),
                    }
                }
            }
            assert!(c.read().is_none());
        });
        producer.join().unwrap();
        consumer.join().unwrap();
    })
}

/// A fresh 128-byte ring for one iteration.
fn leak_ring() -> &'static Ring<128> {
    leak(Ring::new())
}

#[test]
fn single_records_fill_and_reuse() {
    // 64-byte records: two fill the ring, the third reuses the first one's bytes.
    assert!(transfer_model(&[40, 40, 40], false) > 1);
}

#[test]
fn batched_records_with_wrap_marker() {
    // 40 + 64 bytes leave 24 before the end: the third record needs a wrap marker there
    // and lands at offset 0 once the first two are released.
    assert!(transfer_model(&[16, 40, 40], true) > 1);
}

#[test]
fn short_tail_skipped_without_marker() {
    // 64 + 48 bytes leave 16 (less than a header) before the end: skipped implicitly.
    assert!(transfer_model(&[40, 24, 8], false) > 1);
}

#[test]
fn second_split_never_aliases() {
    let n = explore(|| {
        let ring = leak_ring();
        let a = thread::spawn(move || ring.try_split(0).is_ok());
        let b = thread::spawn(move || ring.try_split(0).is_ok());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a ^ b, "exactly one split succeeds");
    });
    assert!(n > 1);
}
