//! Contract tests of the broadcast ring: single-threaded edge cases, then threads.

use super::*;
use crate::frame::FrameHeader;
use crate::sync::Ordering;
use crate::wait::{Blocking, BusySpin, SpinThenYield, WaitStrategy};
use std::boxed::Box;
use std::vec::Vec;

mod lap_resume;
mod soundness;

/// Length of the event with sequence `seq` in a ring of `max`-byte slots.
fn len_for(seq: u64, max: usize) -> usize {
    ringlog_pattern::PayloadSizes { min: 0, max }.len_for(seq)
}

/// The payload of the event with sequence `seq`: the workspace's one pattern.
fn fill(seq: u64, len: usize) -> Vec<u8> {
    let mut payload = std::vec![0; len];
    ringlog_pattern::fill(seq, &mut payload);
    payload
}

/// Checks one event fully: header fields derived from the sequence and the payload
/// pattern. Returns the sequence.
fn check(e: RecordView<'_>, max: usize) -> u64 {
    let seq = e.header.seq;
    assert_eq!(e.header.len as usize, e.payload.len());
    assert_eq!(e.payload.len(), len_for(seq, max), "seq {seq}");
    assert_eq!(e.header.kind, seq as u16, "seq {seq}");
    assert_eq!(e.header.timestamp_ns, seq.wrapping_mul(3), "seq {seq}");
    assert!(ringlog_pattern::check(seq, e.payload), "seq {seq}: payload");
    seq
}

fn publish_checked<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize>(
    w: &mut Writer<'_, P, N, PAYLOAD, R>,
) -> Result<u64, PublishError> {
    let seq = w.next_seq();
    let payload = fill(seq, len_for(seq, PAYLOAD));
    w.try_publish(seq as u16, seq.wrapping_mul(3), &payload)
}

/// Rings and pools too large for a test thread's stack live on the heap; threads
/// borrow them inside `std::thread::scope`.
fn boxed<T>(value: T) -> Box<T> {
    Box::new(value)
}

#[test]
fn header_and_payload_round_trip_every_length() {
    let ring = GatedRing::<64, 64, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for len in 0..=64usize {
        let header = FrameHeader {
            seq: 1000 + len as u64,
            timestamp_ns: u64::MAX - len as u64,
            len: 0,
            kind: len as u16,
            flags: 0xA5A5,
        };
        let payload = fill(len as u64, len);
        assert_eq!(w.try_publish_frame(header, &payload), Ok(header.seq));
        let (h, p) = r.try_read(|e| (e.header, e.payload.to_vec())).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                len: len as u32,
                ..header
            }
        );
        assert_eq!(p, payload);
    }
}

#[test]
fn overwrite_round_trip_every_length() {
    let ring = OverwriteRing::<4, 40, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for seq in 0..200u64 {
        publish_checked(&mut w).unwrap();
        assert_eq!(r.try_read(|e| check(e, 40)), Ok(seq));
    }
}

#[test]
fn full_gated_ring_loses_nothing() {
    let ring = GatedRing::<8, 16, 2>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..8 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
    assert!(w.try_claim(4).is_err());
    assert_eq!(
        ring.writer_stats(),
        WriterStats {
            published: 8,
            full_rejections: 3
        }
    );
    assert!(r.backpressure().should_throttle());
    assert_eq!(r.backpressure().backpressure_ratio(), 1.0);
    // Reading three frees exactly three slots.
    assert_eq!(
        r.read_batch(3, |e| assert_eq!(check(e, 16), e.header.seq)),
        Ok(3)
    );
    let claim = w.try_claim(10).unwrap();
    assert_eq!(claim.capacity(), 3);
    drop(claim);
    for _ in 0..3 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
    let mut seqs = Vec::new();
    while let Ok(n) = r.read_batch(4, |e| seqs.push(check(e, 16))) {
        assert!(n <= 4);
    }
    assert_eq!(seqs, (3..11).collect::<Vec<u64>>());
    assert_eq!(r.stats().lost, 0);
}

#[test]
fn gated_ring_without_readers_never_fills() {
    let ring = GatedRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    for _ in 0..100 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(ring.writer_stats().full_rejections, 0);
}

#[test]
fn reader_leaving_no_longer_gates() {
    let ring = GatedRing::<4, 8, 2>::new();
    let mut w = ring.try_writer().unwrap();
    let mut fast = ring.join().unwrap();
    let slow = ring.join().unwrap();
    for _ in 0..4 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(fast.read_batch(10, |_| ()), Ok(4));
    assert_eq!(
        publish_checked(&mut w),
        Err(PublishError::Full),
        "slow gates"
    );
    assert_eq!(ring.max_backpressure().lag, 4);
    drop(slow);
    assert_eq!(ring.active_readers(), 1);
    for _ in 0..4 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(
        publish_checked(&mut w),
        Err(PublishError::Full),
        "fast gates"
    );
    assert_eq!(
        fast.read_batch(10, |e| {
            check(e, 8);
        }),
        Ok(4)
    );
    assert_eq!(fast.stats().seen, 8);
}

#[test]
fn join_starts_after_join_returns() {
    let ring = GatedRing::<4, 8, 3>::new();
    let mut w = ring.try_writer().unwrap();
    for _ in 0..3 {
        publish_checked(&mut w).unwrap();
    }
    let mut late = ring.join().unwrap();
    assert_eq!(late.try_read(|_| ()), Err(ReadError::Empty));
    assert_eq!(late.lag(), 0);
    // The late reader gates from its start: the writer can fill a whole lap.
    for _ in 0..4 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
    assert_eq!(late.try_read(|e| check(e, 8)), Ok(3));
    // A registration freed by a leaver is reused and starts at the head.
    drop(late);
    let mut again = ring.join().unwrap();
    assert_eq!(again.id(), 0);
    assert_eq!(again.stats().seen, 0);
    publish_checked(&mut w).unwrap();
    assert_eq!(again.try_read(|e| e.header.seq), Ok(7));
    // Overwrite rings: the same start rule.
    let ring = OverwriteRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    for _ in 0..9 {
        publish_checked(&mut w).unwrap();
    }
    let mut r = ring.join().unwrap();
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    publish_checked(&mut w).unwrap();
    assert_eq!(r.try_read(|e| check(e, 8)), Ok(9));
}

#[test]
fn too_many_readers_and_one_writer() {
    let ring = GatedRing::<4, 8, 2>::new();
    let a = ring.join().unwrap();
    let b = ring.join().unwrap();
    assert_eq!(
        ring.join().err(),
        Some(JoinError::TooManyReaders { max: 2 })
    );
    drop(a);
    let c = ring.join().unwrap();
    assert_eq!(c.id(), 0);
    drop((b, c));
    let w = ring.try_writer().unwrap();
    drop(w);
    assert_eq!(ring.try_writer().err(), Some(WriterError::AlreadyTaken));
}

#[test]
fn too_large_is_an_error_value() {
    let ring = OverwriteRing::<4, 16, 1>::new();
    let mut w = ring.try_writer().unwrap();
    assert_eq!(
        w.try_publish(0, 0, &[0; 17]),
        Err(PublishError::TooLarge { len: 17, max: 16 })
    );
    let mut c = w.try_claim(2).unwrap();
    assert_eq!(
        c.push(0, 0, &[0; 1000]),
        Err(PublishError::TooLarge { len: 1000, max: 16 })
    );
    assert_eq!(c.push(0, 0, &[0; 16]), Ok(0));
    drop(c);
    assert_eq!(ring.published(), 1);
}

#[test]
fn lapped_many_times_counts_exactly() {
    let ring = OverwriteRing::<8, 24, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let (mut seen, mut lost) = (0usize, 0usize);
    let mut expect = 0u64;
    let rounds = if cfg!(miri) { 20 } else { 2000 };
    for round in 0..rounds {
        // Between 0 and ~5 laps per round.
        for _ in 0..(round * 13) % 41 {
            publish_checked(&mut w).unwrap();
        }
        loop {
            match r.read_batch(3, |e| {
                assert_eq!(check(e, 24), expect);
                expect += 1;
                seen += 1;
            }) {
                Ok(_) => {}
                Err(ReadError::Lagged(n)) => {
                    assert!(n > 0);
                    lost += n;
                    expect += n as u64;
                    // Resumed half a ring behind the head (the writer is idle here, so
                    // `claim` is `published`): 4 of the 8 slots.
                    assert_eq!(r.lag(), 4);
                }
                Err(ReadError::Empty) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert!(lost > 10 * 8, "lapped many times: lost {lost}");
    assert_eq!(seen + lost, ring.published());
    assert_eq!((r.seen(), r.lost()), (seen, lost));
    let stats = ring.reader_stats(r.id()).unwrap();
    assert_eq!((stats.seen, stats.lost, stats.lag), (seen, lost, 0));
}

#[test]
fn closed_after_everything_read() {
    let ring = GatedRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    publish_checked(&mut w).unwrap();
    assert_eq!(r.try_read(|_| ()), Ok(()));
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    publish_checked(&mut w).unwrap();
    drop(w);
    assert_eq!(r.try_read(|e| e.header.seq), Ok(1));
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
    assert_eq!(r.read_batch(4, |_| ()), Err(ReadError::Closed));
}

#[test]
fn claim_publishes_with_one_store_on_drop() {
    let ring = GatedRing::<16, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let mut c = w.try_claim(5).unwrap();
    for _ in 0..4 {
        let seq = c.writer.next_seq;
        c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 8)))
            .unwrap();
        assert_eq!(ring.published(), 0, "nothing visible before the claim ends");
        assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    }
    assert_eq!(c.publish(), 4);
    assert_eq!(ring.published(), 4);
    let mut seqs = Vec::new();
    assert_eq!(r.read_batch(16, |e| seqs.push(check(e, 8))), Ok(4));
    assert_eq!(seqs, [0, 1, 2, 3]);
    // The unused reserved slot is simply the next one.
    assert_eq!(publish_checked(&mut w), Ok(4));
}

#[test]
fn metrics_follow_lag_and_thresholds() {
    let ring = GatedRing::<16, 8, 2>::new();
    let mut w = ring.try_writer().unwrap();
    let mut a = ring.join().unwrap();
    let b = ring.join().unwrap();
    for _ in 0..6 {
        publish_checked(&mut w).unwrap();
    }
    a.read_batch(2, |_| ()).unwrap();
    assert_eq!(a.backpressure().lag, 4);
    assert_eq!(ring.reader_backpressure(b.id()).unwrap().lag, 6);
    assert!(!ring.max_backpressure().is_under_pressure());
    ring.set_thresholds(Thresholds {
        pressure_lag: 5,
        throttle_lag: 6,
    });
    assert!(ring.max_backpressure().should_throttle());
    assert!(!a.backpressure().is_under_pressure());
    assert_eq!(b.backpressure().backpressure_ratio(), 6.0 / 16.0);
    let s = ring.reader_stats(a.id()).unwrap();
    assert_eq!((s.lag, s.seen, s.lost), (4, 2, 0));
    drop(b);
    assert_eq!(ring.reader_stats(1), None);
    assert_eq!(ring.max_backpressure().lag, 4);
}

#[test]
fn split_mut_without_compare_and_swap() {
    let mut ring = OverwriteRing::<4, 8, 3>::new();
    {
        let (mut w, [mut a, b]) = ring.split_mut::<2>();
        for _ in 0..6 {
            publish_checked(&mut w).unwrap();
        }
        // Resumes half a ring (2 slots) behind the head: events 4 and 5.
        assert_eq!(a.try_read(|_| ()), Err(ReadError::Lagged(4)));
        assert_eq!(b.lag(), 6);
        drop(w);
        assert_eq!(
            a.read_batch(10, |e| {
                check(e, 8);
            }),
            Ok(2)
        );
        assert_eq!(a.try_read(|_| ()), Err(ReadError::Closed));
    }
    let (mut w, [mut r]) = ring.split_mut::<1>();
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty), "reopened");
    w.set_next_seq(6);
    publish_checked(&mut w).unwrap();
    assert_eq!(r.try_read(|e| check(e, 8)), Ok(6));
}

#[test]
fn peek_does_not_consume() {
    let ring = OverwriteRing::<2, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    publish_checked(&mut w).unwrap();
    assert_eq!(r.peek_header().map(|h| h.seq), Ok(0));
    assert_eq!(r.peek_header().map(|h| h.seq), Ok(0));
    for _ in 0..3 {
        publish_checked(&mut w).unwrap();
    }
    // Half a ring of 2 slots: 1 behind the head, at event 3.
    assert_eq!(r.peek_header(), Err(ReadError::Lagged(3)));
    assert_eq!(r.try_read(|e| check(e, 8)), Ok(3));
}

#[test]
fn wrapping_positions_keep_working() {
    // Start every cursor just below usize::MAX so positions wrap during the test.
    let start = usize::MAX - 5;
    for overwrite in [false, true] {
        let ring = OverwriteRing::<4, 8, 1>::new();
        let gated = GatedRing::<4, 8, 1>::new();
        ring.head.published.store(start, Ordering::Relaxed);
        ring.head.claim.store(start, Ordering::Relaxed);
        gated.head.published.store(start, Ordering::Relaxed);
        if overwrite {
            let mut w = ring.try_writer().unwrap();
            let mut r = ring.join().unwrap();
            w.set_next_seq(0);
            for _ in 0..20 {
                publish_checked(&mut w).unwrap();
            }
            // Resumes 2 behind the head, across the wrap of the positions.
            assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(18)));
            let mut seqs = Vec::new();
            assert_eq!(
                r.read_batch(8, |e| {
                    seqs.push(check(e, 8));
                }),
                Ok(2)
            );
            assert_eq!(seqs, [18, 19]);
        } else {
            let mut w = gated.try_writer().unwrap();
            let mut r = gated.join().unwrap();
            w.set_next_seq(0);
            for round in 0..5u64 {
                for _ in 0..4 {
                    publish_checked(&mut w).unwrap();
                }
                assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
                let mut n = 0;
                r.read_batch(8, |e| {
                    assert_eq!(check(e, 8), round * 4 + n);
                    n += 1;
                })
                .unwrap();
                assert_eq!(n, 4);
            }
        }
    }
}

/// One writer and two readers on threads; every reader checks every event.
fn gated_threads<W: WaitStrategy + Sync>(wait: &W, total: u64) {
    let owned = boxed(GatedRing::<64, 48, 2>::new());
    let ring = &*owned;
    let mut w = ring.try_writer().unwrap();
    let readers = [ring.join().unwrap(), ring.join().unwrap()];
    std::thread::scope(|s| {
        let handles = readers.map(|mut r| {
            s.spawn(move || {
                let mut expect = 0u64;
                loop {
                    match r.read_batch_wait(wait, 16, |e| {
                        assert_eq!(check(e, 48), expect);
                        expect += 1;
                    }) {
                        Ok(_) => {}
                        Err(ReadError::Closed) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                assert_eq!(r.lost(), 0);
                expect
            })
        });
        let mut seq = 0u64;
        while seq < total {
            let mut c = w.claim_wait(wait, 1 + (seq % 23) as usize);
            while c.remaining() > 0 && seq < total {
                c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 48)))
                    .unwrap();
                seq += 1;
            }
        }
        drop(w);
        for h in handles {
            assert_eq!(h.join().unwrap(), total);
        }
    });
}

#[test]
fn gated_threads_busy_spin() {
    // Busy-spinning threads that outnumber cores crawl (the collapse the default
    // strategy avoids), so this run is short.
    gated_threads(&BusySpin, if cfg!(miri) { 200 } else { 5_000 });
}

#[test]
fn gated_threads_spin_then_yield() {
    gated_threads(
        &SpinThenYield::default(),
        if cfg!(miri) { 200 } else { 200_000 },
    );
}

#[test]
fn gated_threads_blocking() {
    let blocking = Blocking::new();
    gated_threads(&blocking, if cfg!(miri) { 200 } else { 50_000 });
    // Every sleep ended by a notification: the safety net was never needed.
    assert_eq!(blocking.safety_net_wakeups(), 0);
}

#[test]
fn overwrite_threads_never_torn_and_exact() {
    let owned = boxed(OverwriteRing::<16, 64, 2>::new());
    let ring = &*owned;
    let mut w = ring.try_writer().unwrap();
    let readers = [ring.join().unwrap(), ring.join().unwrap()];
    let total: u64 = if cfg!(miri) { 500 } else { 300_000 };
    std::thread::scope(|s| {
        let handles = readers.map(|mut r| {
            s.spawn(move || {
                let (mut expect, mut seen, mut lost) = (0u64, 0u64, 0u64);
                loop {
                    match r.read_batch(4, |e| {
                        assert_eq!(check(e, 64), expect);
                        expect += 1;
                        seen += 1;
                    }) {
                        Ok(_) => {}
                        Err(ReadError::Lagged(n)) => {
                            lost += n as u64;
                            expect += n as u64;
                        }
                        Err(ReadError::Empty) => std::thread::yield_now(),
                        Err(ReadError::Closed) => break,
                    }
                }
                assert_eq!(r.seen() as u64, seen);
                assert_eq!(r.lost() as u64, lost);
                (seen, lost)
            })
        });
        for i in 0..total {
            if i % 4 == 0 {
                publish_checked(&mut w).unwrap();
            } else if i % 4 == 1 {
                let mut c = w.try_claim(3).unwrap();
                for _ in 0..3 {
                    let seq = c.writer.next_seq;
                    c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 64)))
                        .unwrap();
                }
            }
        }
        let published = ring.published() as u64;
        drop(w);
        for h in handles {
            let (seen, lost) = h.join().unwrap();
            assert_eq!(seen + lost, published, "seen {seen} lost {lost}");
        }
    });
}

#[test]
fn readers_join_and_leave_while_running() {
    let owned = boxed(GatedRing::<8, 16, 2>::new());
    let ring = &*owned;
    let mut w = ring.try_writer().unwrap();
    let total: u64 = if cfg!(miri) { 300 } else { 100_000 };
    std::thread::scope(|s| {
        let churn = s.spawn(|| {
            let mut joins = 0;
            while ring.published() < total as usize - 50 {
                // Join, read a contiguous run from the start, leave.
                let Ok(mut r) = ring.join() else { continue };
                joins += 1;
                let mut last: Option<u64> = None;
                for _ in 0..20 {
                    match r.try_read(|e| check(e, 16)) {
                        Ok(seq) => {
                            if let Some(prev) = last {
                                assert_eq!(seq, prev + 1, "no gap while registered");
                            }
                            last = Some(seq);
                        }
                        Err(ReadError::Empty) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            joins
        });
        let mut seq = 0;
        let wait = SpinThenYield::default();
        while seq < total {
            w.publish_wait(&wait, seq as u16, seq * 3, &fill(seq, len_for(seq, 16)))
                .unwrap();
            seq += 1;
        }
        assert!(churn.join().unwrap() > 0);
    });
}
