//! Tests of the SPSC ring: framed and raw records, batches, wraps and gaps, heap rings.
//! They run under Miri too (loop counts scaled down).

use std::vec::Vec;

use super::*;
use crate::frame::HEADER_LEN;
use crate::sync::Ordering;


#[test]
fn too_large_exactly_past_half() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let max = 128 - HEADER_LEN;
    assert_eq!(Ring::<256>::MAX_PAYLOAD, max);
    assert_eq!(
        p.grant(max + 1).err(),
        Some(PushError::TooLarge { len: max + 1, max })
    );
    assert_eq!(
        p.grant(usize::MAX).err(),
        Some(PushError::TooLarge {
            len: usize::MAX,
            max
        })
    );
    assert_eq!(p.push(&[1; 104], 0, 0), Ok(0));
    assert_eq!(c.read().unwrap().payload(), &[1; 104][..]);
}

#[test]
fn no_dead_zone_at_any_offset() {
    // Wherever the cursors of an empty ring stand, a record of exactly N/2 bytes fits,
    // and so does a second one after the first is read.
    for start in (0..512).step_by(8) {
        let ring = Ring::<256>::new();
        ring.cursors.producer.write.store(start, Ordering::Relaxed);
        ring.cursors.read.store(start, Ordering::Relaxed);
        let (mut p, mut c) = ring.try_split(0).unwrap();
        for round in 0..3u8 {
            let payload = [round; 104];
            assert!(
                p.push(&payload, 0, 0).is_ok(),
                "start {start} round {round}"
            );
            let r = c.read().unwrap();
            assert_eq!(r.payload(), &payload[..]);
        }
    }
}

#[test]
fn full_then_drain_then_wrap_many_laps() {
    let ring = Ring::<512>::new();
    let (mut p, mut c) = ring.try_split(1000).unwrap();
    let mut next_write = 1000u64;
    let mut next_read = 1000u64;
    let laps = if cfg!(miri) { 200 } else { 20_000 };
    for round in 0..laps {
        let len = (round * 7) % 150;
        loop {
            let mut g = match p.grant(len) {
                Ok(g) => g,
                Err(PushError::Full) => break,
                Err(e) => panic!("{e}"),
            };
            ringlog_pattern::fill(next_write, g.payload_mut());
            g.set_kind(len as u16);
            assert_eq!(g.commit(), next_write);
            next_write += 1;
        }
        let take = if round % 3 == 0 { usize::MAX } else { 2 };
        let mut batch = c.read_batch(take);
        while let Some(r) = batch.next() {
            assert_eq!(r.header.seq, next_read);
            assert_eq!(r.header.len as usize, r.payload.len());
            assert_eq!(r.header.kind as usize, r.payload.len());
            assert!(ringlog_pattern::check(next_read, r.payload));
            next_read += 1;
        }
    }
    while let Some(r) = c.read() {
        assert_eq!(r.seq(), next_read);
        next_read += 1;
    }
    assert_eq!(next_read, next_write);
    assert!(next_write > 1000 + laps as u64);
}

#[test]
fn dropped_grant_writes_nothing() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    drop(p.grant(10).unwrap());
    assert!(c.read().is_none());
    assert_eq!(p.push(b"x", 0, 0), Ok(0));
    assert_eq!(c.read().unwrap().seq(), 0);
}

#[test]
fn dropped_grant_after_wrap_skip_keeps_stream_intact() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    p.push(&[1; 80], 0, 0).unwrap(); // 104 bytes
    p.push(&[2; 80], 0, 0).unwrap(); // 208
    drop(c.read());
    drop(c.read());
    // 48 bytes left before the end: a 100-byte grant skips them, then is dropped.
    drop(p.grant(100).unwrap());
    p.push(&[3; 16], 0, 0).unwrap();
    let r = c.read().unwrap();
    assert_eq!((r.seq(), r.payload()), (2, &[3; 16][..]));
}

#[test]
fn small_tail_gap_is_skipped_without_marker() {
    let ring = Ring::<128>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    // 24 + 88 = 112, leaves 16 bytes (< header) before the end.
    p.push(&[9; 40], 0, 0).unwrap(); // 64
    p.push(&[8; 24], 0, 0).unwrap(); // 48 -> 112
    drop(c.read());
    drop(c.read());
    p.push(&[7; 16], 0, 0).unwrap();
    let r = c.read().unwrap();
    assert_eq!((r.seq(), r.payload()), (2, &[7; 16][..]));
}

#[test]
fn staged_records_publish_together_and_on_drop() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for i in 0..4u8 {
        p.push_staged(&[i], 0, 0).unwrap();
    }
    assert!(c.read().is_none());
    drop(p);
    let got: Vec<u64> = {
        let mut v = Vec::new();
        let mut b = c.read_batch(usize::MAX);
        while let Some(r) = b.next() {
            v.push(r.header.seq);
        }
        v
    };
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn batch_release_frees_space_once() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    while p.push(&[0; 8], 0, 0).is_ok() {}
    assert_eq!(p.free_bytes(), 0);
    {
        let mut b = c.read_batch(2);
        assert!(b.next().is_some());
        assert!(b.next().is_some());
        assert_eq!(p.free_bytes(), 0, "nothing released before the batch ends");
        assert!(b.next().is_none(), "batch limit respected");
    }
    assert_eq!(p.free_bytes(), 64);
}

#[test]
fn zeroed_heap_ring_is_a_valid_empty_ring() {
    // SAFETY: the documented guarantee under test: all-zero bytes are a valid Ring.
    let ring: std::boxed::Box<Ring<1024>> =
        unsafe { std::boxed::Box::<Ring<1024>>::new_zeroed().assume_init() };
    let (mut p, mut c) = ring.try_split(3).unwrap();
    assert!(c.read().is_none());
    assert_eq!(p.free_bytes(), 1024);
    p.push(b"zero", 0, 0).unwrap();
    assert_eq!(
        (c.read().unwrap().seq(), ring.try_split(0).err()),
        (3, Some(SplitError::AlreadySplit))
    );
}

#[test]
fn second_split_fails() {
    let ring = Ring::<64>::new();
    let h = ring.try_split(0);
    assert!(h.is_ok());
    drop(h);
    assert_eq!(ring.try_split(0).err(), Some(SplitError::AlreadySplit));
}

#[test]
fn threads_transfer_every_record_in_order() {
    static RING: Ring<4096> = Ring::new();
    let (mut p, mut c) = RING.try_split(0).unwrap();
    let total: u64 = if cfg!(miri) { 300 } else { 200_000 };
    let producer = std::thread::spawn(move || {
        let mut seq = 0;
        while seq < total {
            let len = (seq % 97) as usize;
            match p.grant(len) {
                Ok(mut g) => {
                    ringlog_pattern::fill(seq, g.payload_mut());
                    if seq % 5 == 0 {
                        g.commit();
                    } else {
                        g.stage();
                    }
                    seq += 1;
                }
                Err(PushError::Full) => {
                    p.publish();
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    let mut expect = 0;
    while expect < total {
        let mut b = c.read_batch(16);
        let mut got = 0;
        while let Some(r) = b.next() {
            assert_eq!(r.header.seq, expect);
            assert_eq!(r.payload.len(), (expect % 97) as usize);
            assert!(ringlog_pattern::check(expect, r.payload));
            expect += 1;
            got += 1;
        }
        drop(b);
        if got == 0 {
            std::thread::yield_now();
        }
    }
    producer.join().unwrap();
    assert!(c.read().is_none());
}
