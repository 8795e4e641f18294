//! Tests of the SPSC ring: framed and raw records, batches, wraps and gaps, heap rings.
//! They run under Miri too (loop counts scaled down).

use std::vec::Vec;

use super::place::HEADER_LEN;
use super::*;
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
    assert_eq!(p.push(0, 0, &[1; 104]), Ok(0));
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
                p.push(0, 0, &payload).is_ok(),
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
    assert_eq!(p.push(0, 0, b"x"), Ok(0));
    assert_eq!(c.read().unwrap().seq(), 0);
}

#[test]
fn dropped_grant_after_wrap_skip_keeps_stream_intact() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    p.push(0, 0, &[1; 80]).unwrap(); // 104 bytes
    p.push(0, 0, &[2; 80]).unwrap(); // 208
    drop(c.read());
    drop(c.read());
    // 48 bytes left before the end: a 100-byte grant skips them, then is dropped.
    drop(p.grant(100).unwrap());
    p.push(0, 0, &[3; 16]).unwrap();
    let r = c.read().unwrap();
    assert_eq!((r.seq(), r.payload()), (2, &[3; 16][..]));
}

#[test]
fn small_tail_gap_is_skipped_without_marker() {
    let ring = Ring::<128>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    // 56 + 64 = 120, leaves 8 bytes (< header) before the end.
    p.push(0, 0, &[9; 40]).unwrap(); // 56
    p.push(0, 0, &[8; 48]).unwrap(); // 64 -> 120
    drop(c.read());
    drop(c.read());
    p.push(0, 0, &[7; 16]).unwrap();
    let r = c.read().unwrap();
    assert_eq!((r.seq(), r.payload()), (2, &[7; 16][..]));
}

#[test]
fn staged_records_publish_together_and_on_drop() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for i in 0..4u8 {
        p.push_staged(0, 0, &[i]).unwrap();
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
    while p.push(0, 0, &[0; 16]).is_ok() {}
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
    p.push(0, 0, b"zero").unwrap();
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

/// Fills a raw record of `seq` with the pattern: its length in the first 4 bytes, then
/// the payload pattern of `seq`.
fn fill_raw(seq: u64, bytes: &mut [u8]) {
    let len = bytes.len() as u32;
    bytes[..4].copy_from_slice(&len.to_le_bytes());
    ringlog_pattern::fill(seq, &mut bytes[4..]);
}

/// Walks the raw records of `bytes` (each starts with its length), checking each against
/// the pattern of the next expected sequence.
fn check_raw_records(bytes: &[u8], next: &mut u64) {
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert!(
            len >= 8 && at + len <= bytes.len(),
            "record {next} at {at}: length {len}"
        );
        assert!(
            ringlog_pattern::check(*next, &bytes[at + 4..at + len]),
            "record {next}"
        );
        *next += 1;
        at += len;
    }
}

#[test]
fn raw_records_cross_many_laps_in_whole_ranges() {
    // Raw records of 8 to 120 bytes through a 256-byte ring, many laps: every range holds
    // whole records (never a gap, never the bytes of a dropped grant), and every byte is
    // the producer's.
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let (mut written, mut read, mut grants) = (0u64, 0u64, 0u64);
    let rounds = if cfg!(miri) { 60 } else { 5_000 };
    for round in 0..rounds {
        let len = 8 + (round * 40) % 120;
        while let Ok(mut g) = p.grant_raw(len) {
            grants += 1;
            if grants % 7 == 3 {
                g.bytes_mut().fill(0xEE); // dropped: must never be seen
                drop(g);
                continue;
            }
            fill_raw(written, g.bytes_mut());
            g.commit();
            written += 1;
        }
        // Take everything there is, holding the ranges, then release the last.
        let mut last = None;
        while let Some(range) = c.take_raw() {
            check_raw_records(c.raw_bytes(&range).unwrap(), &mut read);
            last = Some(range);
        }
        if let Some(range) = last {
            assert!(c.release_raw(&range));
        }
    }
    assert_eq!(read, written);
    assert!(written > rounds as u64);
    assert_eq!(p.free_bytes(), 256 - c.pending_bytes());
}

#[test]
fn raw_grant_limits_and_rounding() {
    let ring = Ring::<128>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    assert_eq!(
        p.grant_raw(65).err(),
        Some(PushError::TooLarge { len: 65, max: 64 })
    );
    assert_eq!(
        p.grant_raw(0).err(),
        Some(PushError::TooLarge { len: 0, max: 64 })
    );
    let mut g = p.grant_raw(64).unwrap();
    assert_eq!(g.bytes_mut().len(), 64);
    g.commit();
    assert_eq!(p.grant_raw(3).unwrap().bytes_mut().len(), 8);
    let r = c.take_raw().unwrap();
    assert_eq!((r.position(), r.len()), (0, 64));
    // A range this consumer never took is refused, in bytes and in release.
    let (a, b) = r.split_at(24).unwrap();
    assert_eq!(r.split_at(65), None);
    assert_eq!(c.raw_bytes(&a).map(<[u8]>::len), Some(24));
    assert_eq!(c.raw_bytes(&b).map(<[u8]>::len), Some(40));
    assert!(c.release_raw(&a));
    assert_eq!(c.raw_bytes(&a), None, "released");
    assert_eq!(c.raw_bytes(&r), None, "partly released");
    assert!(!c.release_raw(&a));
    assert!(c.release_raw(&b));
    assert_eq!(p.free_bytes(), 128);
}

#[test]
fn foreign_raw_range_is_refused() {
    let (ring_a, ring_b) = (Ring::<128>::new(), Ring::<1024>::new());
    let (mut pa, mut ca) = ring_a.try_split(0).unwrap();
    let (mut pb, mut cb) = ring_b.try_split(0).unwrap();
    for _ in 0..3 {
        pb.grant_raw(200).unwrap().commit();
    }
    pa.grant_raw(8).unwrap().commit();
    let big = cb.take_raw().unwrap();
    let small = ca.take_raw().unwrap();
    assert_eq!(big.len(), 600);
    assert_eq!(ca.raw_bytes(&big), None);
    assert!(!ca.release_raw(&big));
    assert_eq!(ca.raw_bytes(&small).map(<[u8]>::len), Some(8));
}

#[test]
fn batch_checks_space_once_per_stretch_and_wraps_inside() {
    // Batches of up to 9 records of varying size through a 512-byte ring: records skip
    // the lap's tail inside a batch, a full ring ends the batch early, and everything
    // arrives in order with one publication per batch.
    let ring = Ring::<512>::new();
    let (mut p, mut c) = ring.try_split(10).unwrap();
    let (mut next_write, mut next_read) = (10u64, 10u64);
    let rounds = if cfg!(miri) { 40 } else { 3_000 };
    for round in 0..rounds {
        let mut batch = p.batch();
        for k in 0..9 {
            let len = (round * 13 + k * 29) % 120;
            let Ok(mut g) = batch.grant(len) else { break };
            ringlog_pattern::fill(next_write, g.payload_mut());
            g.set_kind(len as u16);
            assert_eq!(g.commit(), next_write);
            next_write += 1;
        }
        if round % 5 == 0 {
            // A dropped grant in a batch writes nothing.
            if let Ok(g) = batch.grant(16) {
                drop(g);
            }
        }
        drop(batch);
        let mut b = c.read_batch(if round % 2 == 0 { usize::MAX } else { 5 });
        while let Some(r) = b.next() {
            assert_eq!(r.header.seq, next_read);
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
    assert_eq!(p.next_seq(), next_write);
}

#[test]
fn exact_fit_at_the_lap_end_then_a_dropped_grant() {
    // Four 64-byte records end exactly at the end of a 256-byte ring (no gap); then a
    // grant that would end there again is dropped, and the stream goes on intact.
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for i in 0..4u8 {
        p.push(0, 0, &[i; 40]).unwrap();
    }
    for i in 0..4u8 {
        assert_eq!(c.read().unwrap().payload(), &[i; 40][..]);
    }
    for i in 4..8u8 {
        p.push(0, 0, &[i; 40]).unwrap();
    }
    drop(c.read());
    drop(p.grant(40));
    assert_eq!(p.push(0, 0, &[9; 8]), Ok(8));
    let seen: Vec<(u64, usize)> = {
        let mut v = Vec::new();
        while let Some(r) = c.read() {
            v.push((r.seq(), r.payload().len()));
        }
        v
    };
    assert_eq!(seen, [(5, 40), (6, 40), (7, 40), (8, 8)]);
}

#[test]
fn positions_wrap_around_usize() {
    // Cursors just below usize::MAX: the arithmetic wraps with them.
    let ring = Ring::<128>::new();
    let start = usize::MAX - 127 - 56;
    ring.cursors.producer.write.store(start, Ordering::Relaxed);
    ring.cursors.read.store(start, Ordering::Relaxed);
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for seq in 0..40u64 {
        let len = (seq as usize * 11) % 40;
        let mut g = p.grant(len).unwrap();
        ringlog_pattern::fill(seq, g.payload_mut());
        g.commit();
        let r = c.read().unwrap();
        assert_eq!(r.seq(), seq);
        assert!(ringlog_pattern::check(seq, r.payload()));
    }
}

#[test]
fn header_is_read_in_place_and_matches_the_encoding() {
    let ring = Ring::<128>::new();
    let (mut p, mut c) = ring.try_split(u64::MAX - 1).unwrap();
    let mut g = p.grant(3).unwrap();
    g.payload_mut().copy_from_slice(b"abc");
    g.set_kind(0xBEEF);
    g.set_flags(0x0102);
    g.set_timestamp_ns(0x1122_3344_5566_7788);
    assert_eq!(g.commit(), u64::MAX - 1);
    let r = c.read().unwrap();
    let expected = crate::frame::FrameHeader {
        seq: u64::MAX - 1,
        timestamp_ns: 0x1122_3344_5566_7788,
        len: 3,
        kind: 0xBEEF,
        flags: 0x0102,
    };
    assert_eq!(r.header(), expected);
    // SAFETY: the record is unreleased while `r` lives; reading its bytes is what the
    // consumer's own accessors do.
    let bytes = unsafe { core::slice::from_raw_parts(ring.buf_ptr(), 19) };
    // The in-ring header: length, kind, flags, timestamp, little-endian; no sequence.
    let mut in_ring = [0u8; 16];
    in_ring[..4].copy_from_slice(&3u32.to_le_bytes());
    in_ring[4..6].copy_from_slice(&0xBEEFu16.to_le_bytes());
    in_ring[6..8].copy_from_slice(&0x0102u16.to_le_bytes());
    in_ring[8..].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!((&bytes[..16], &bytes[16..]), (&in_ring[..], &b"abc"[..]));
    assert_eq!(r.view().payload, b"abc");
    drop(r);
    assert_eq!(p.push(0, 0, b""), Ok(u64::MAX), "sequence wraps");
}

mod heap {
    use super::*;

    #[test]
    fn runtime_capacity_rings_behave_like_const_ones() {
        let caps: &[usize] = if cfg!(miri) {
            &[64, 256]
        } else {
            &[64, 256, 4096]
        };
        for &cap in caps {
            let ring = HeapRing::new(cap).unwrap();
            let (mut p, mut c) = ring.try_split(0).unwrap();
            assert_eq!((p.capacity(), p.max_payload()), (cap, cap / 2 - 16));
            assert_eq!(
                p.grant(cap / 2 - 15).err(),
                Some(PushError::TooLarge {
                    len: cap / 2 - 15,
                    max: cap / 2 - 16
                })
            );
            let laps = if cfg!(miri) { 2 } else { 50 };
            let mut next = 0u64;
            for seq in 0..(laps * cap as u64 / 16) {
                let len = (seq as usize * 7) % (cap / 2 - 16);
                let mut g = match p.grant(len) {
                    Ok(g) => g,
                    Err(PushError::Full) => {
                        while let Some(r) = c.read() {
                            assert_eq!(r.seq(), next);
                            assert!(ringlog_pattern::check(next, r.payload()));
                            next += 1;
                        }
                        p.grant(len).unwrap()
                    }
                    Err(e) => panic!("{e}"),
                };
                ringlog_pattern::fill(seq, g.payload_mut());
                g.commit();
            }
        }
        for bad in [0, 32, 100, 1 << 32] {
            assert_eq!(
                HeapRing::new(bad).err(),
                Some(CapacityError { capacity: bad })
            );
        }
    }

    #[test]
    fn owned_handles_free_the_ring_in_either_order() {
        for producer_first in [true, false] {
            let (mut p, mut c) = HeapRing::split_owned(1024, 5).unwrap();
            let n = if cfg!(miri) { 50 } else { 5_000 };
            let t = std::thread::spawn(move || {
                let mut seq = 5;
                while seq < 5 + n {
                    match p.grant((seq % 50) as usize) {
                        Ok(mut g) => {
                            ringlog_pattern::fill(seq, g.payload_mut());
                            assert_eq!(g.commit(), seq);
                            seq += 1;
                        }
                        Err(PushError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
                p
            });
            let mut expect = 5;
            while expect < 5 + n {
                match c.read() {
                    Some(r) => {
                        assert_eq!(r.seq(), expect);
                        assert!(ringlog_pattern::check(expect, r.payload()));
                        expect += 1;
                    }
                    None => std::thread::yield_now(),
                }
            }
            let p = t.join().unwrap();
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
    fn boxed_rings_are_large_and_never_on_the_stack() {
        // 16 MiB would overflow a test thread's 2 MiB stack (Miri checks 1 MiB).
        #[cfg(not(miri))]
        const N: usize = 1 << 24;
        #[cfg(miri)]
        const N: usize = 1 << 20;
        let (mut p, mut c) = Ring::<N>::split_owned(0);
        let big = if cfg!(miri) { 1000 } else { N / 2 - 16 };
        let mut g = p.grant(big).unwrap();
        g.payload_mut().fill(9);
        g.commit();
        let r = c.read().unwrap();
        assert_eq!(r.payload().len(), big);
        assert!(r.payload().iter().all(|&x| x == 9));
        let boxed = Ring::<N>::boxed();
        assert_eq!(boxed.try_split(0).map(|(p, _)| p.free_bytes()), Ok(N));
    }
}

#[test]
fn sequences_are_counted_not_stored_and_continue_across_splits() {
    let mut ring = Ring::<256>::new();
    {
        let (mut p, mut c) = ring.split_mut(10);
        // Fill past a lap end so the count must step over a wrap gap too.
        for i in 0..5u8 {
            assert_eq!(p.push(i.into(), 0, &[i; 40]), Ok(10 + u64::from(i)));
            if i < 3 {
                assert_eq!(c.read().unwrap().seq(), 10 + u64::from(i));
            }
        }
        // One record read in a batch, one left in the ring with its neighbour.
        let mut b = c.read_batch(1);
        assert_eq!(b.next().unwrap().header.seq, 13);
    }
    // Records left by the old handles are numbered backwards from the new first sequence.
    let (mut p, mut c) = ring.split_mut(15);
    assert_eq!(p.push(9, 0, b"new"), Ok(15));
    let got: Vec<(u64, u16)> = core::iter::from_fn(|| {
        let r = c.read()?;
        Some((r.seq(), r.header().kind))
    })
    .collect();
    assert_eq!(got, [(14, 4), (15, 9)]);
}
