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
use ringcore::spsc::{HeapRing, PushError, Ring};

/// Producer writes one record per entry of `lens` (retrying on Full); the consumer reads
/// them all, checking order, lengths and contents. The ring is 128 bytes, so records of up
/// to 48 payload bytes (64 with the 16-byte in-ring header) wrap within a few records.
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
    assert!(transfer_model(&[48, 48, 48], false) > 1);
}

#[test]
fn batched_records_with_wrap_marker() {
    // 40 + 64 bytes leave 24 before the end: the third record needs a wrap marker there
    // and lands at offset 0 once the first two are released.
    assert!(transfer_model(&[24, 48, 48], true) > 1);
}

#[test]
fn short_tail_skipped_without_marker() {
    // 64 + 56 bytes leave 8 (less than a header) before the end: skipped implicitly.
    assert!(transfer_model(&[48, 40, 8], false) > 1);
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

#[test]
fn grant_dropped_after_a_wrap_skip() {
    // 64 + 40 bytes leave 24 before the end; a 64-byte grant skips them (recording where
    // the lap's data ends), is dropped, and a 32-byte record follows at offset 0. The gap
    // is published first on its own, then with that record: the consumer must find the
    // lap's data end, skip the gap, find nothing, and later read the record, never the gap.
    let n = explore(|| {
        let (mut p, mut c) = leak_ring().try_split(0).unwrap();
        let producer = thread::spawn(move || {
            let lens = [48, 24];
            for (seq, len) in lens.into_iter().enumerate() {
                let mut g = p.grant(len).unwrap();
                fill_event(seq as u64, g.payload_mut());
                g.commit();
            }
            loop {
                match p.grant(48) {
                    Ok(g) => {
                        drop(g);
                        // The gap alone is published: the consumer steps over it and
                        // finds nothing yet.
                        p.publish();
                        break;
                    }
                    Err(PushError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            loop {
                match p.grant(16) {
                    Ok(mut g) => {
                        fill_event(2, g.payload_mut());
                        assert_eq!(g.commit(), 2);
                        break;
                    }
                    Err(PushError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let consumer = thread::spawn(move || {
            let lens = [48, 24, 16];
            let mut expect = 0;
            while expect < 3 {
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
            assert!(c.read().is_none());
        });
        producer.join().unwrap();
        consumer.join().unwrap();
    });
    assert!(n > 1);
}

#[test]
fn multi_record_batch_across_the_wrap() {
    // Two batches of two records (40 + 64, then 64 + 40 bytes): the second batch's first
    // record skips the last 24 bytes of the lap and reuses the first batch's bytes, so it
    // waits for the consumer's release; each batch publishes once.
    let lens: [usize; 4] = [24, 48, 48, 24];
    let n = explore(move || {
        let (mut p, mut c) = leak_ring().try_split(0).unwrap();
        let producer = thread::spawn(move || {
            let mut seq = 0usize;
            while seq < lens.len() {
                let mut batch = p.batch();
                let end = (seq + 2).min(lens.len());
                while seq < end {
                    match batch.grant(lens[seq]) {
                        Ok(mut g) => {
                            fill_event(seq as u64, g.payload_mut());
                            assert_eq!(g.commit(), seq as u64);
                            seq += 1;
                        }
                        Err(PushError::Full) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                drop(batch);
                if seq < end {
                    thread::yield_now();
                }
            }
        });
        let consumer = thread::spawn(move || {
            let mut expect = 0;
            while expect < lens.len() {
                let mut b = c.read_batch(usize::MAX);
                let mut got = 0;
                while let Some(r) = b.next() {
                    assert_eq!(r.header.seq, expect as u64);
                    assert_eq!(r.payload.len(), lens[expect]);
                    assert!(check_event(expect as u64, r.payload));
                    expect += 1;
                    got += 1;
                }
                drop(b);
                if got == 0 {
                    thread::yield_now();
                }
            }
        });
        producer.join().unwrap();
        consumer.join().unwrap();
    });
    assert!(n > 1);
}

#[test]
fn raw_ranges_held_then_released() {
    // Raw records of 48, 40 and 56 bytes in a 128-byte ring whose capacity is chosen at
    // run time (a HeapRing owned by its handles): the third skips the 40-byte tail. The
    // consumer holds up to two ranges before releasing both with one store, checks that
    // a range never contains the gap, and that every byte is what the producer wrote.
    const LENS: [usize; 3] = [48, 40, 56];
    let n = explore(|| {
        let (mut p, mut c) = HeapRing::split_owned(128, 0).unwrap();
        let producer = thread::spawn(move || {
            for (seq, len) in LENS.into_iter().enumerate() {
                loop {
                    match p.grant_raw(len) {
                        Ok(mut g) => {
                            fill_event(seq as u64, g.bytes_mut());
                            g.commit();
                            break;
                        }
                        Err(PushError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let consumer = thread::spawn(move || {
            let mut record = 0;
            let mut held = Vec::new();
            while record < LENS.len() {
                let Some(range) = c.take_raw() else {
                    if let Some(last) = held.last() {
                        assert!(c.release_raw(last));
                        held.clear();
                    }
                    thread::yield_now();
                    continue;
                };
                // A range holds whole records, never a gap.
                let mut rest = range;
                while !rest.is_empty() {
                    let (one, after) = rest.split_at(LENS[record]).expect("whole records");
                    assert!(check_event(record as u64, c.raw_bytes(&one).unwrap()));
                    record += 1;
                    rest = after;
                }
                held.push(range);
                if held.len() == 2 {
                    assert!(c.release_raw(&held[1]));
                    assert_eq!(c.raw_bytes(&held[0]), None);
                    held.clear();
                }
            }
        });
        producer.join().unwrap();
        consumer.join().unwrap();
    });
    assert!(n > 1);
}
