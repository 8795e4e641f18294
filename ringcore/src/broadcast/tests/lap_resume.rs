//! Where a lapped overwrite reader resumes (the module docs' "Lap resume"): half a ring
//! behind the head, or the oldest intact slot if that is later, with every skipped
//! position counted as lost.

use super::*;
use std::sync::atomic::AtomicUsize;

/// Reads until `Empty`; returns the sequences read and the losses reported on the way.
fn drain_counting<const N: usize, const R: usize>(
    r: &mut Reader<'_, Overwrite, N, 8, R>,
) -> (Vec<u64>, usize) {
    let (mut seqs, mut lost) = (Vec::new(), 0);
    loop {
        match r.read_batch(3, |e| seqs.push(check(e, 8))) {
            Ok(_) => {}
            Err(ReadError::Lagged(n)) => lost += n,
            Err(ReadError::Empty | ReadError::Closed) => return (seqs, lost),
        }
    }
}

#[test]
fn lapped_reader_resumes_half_a_ring_behind_the_head() {
    let ring = OverwriteRing::<8, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..20 {
        publish_checked(&mut w).unwrap();
    }
    // Found before copying (more than N published past the cursor): 20 - 8/2 = 16.
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(16)));
    assert_eq!(r.lag(), 4);
    assert_eq!(r.peek_header().map(|h| h.seq), Ok(16));
    assert_eq!(r.try_read(|e| check(e, 8)), Ok(16));
    for _ in 0..10 {
        publish_checked(&mut w).unwrap();
    }
    // Found by the seqlock check: the reader's cached end still says 3 events are there
    // (it does not load `published` again), but the writer lapped the cursor since. 30
    // published: it resumes at 26, having lost 17..=25.
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(9)));
    let (seqs, lost) = drain_counting(&mut r);
    assert_eq!((seqs, lost), ((26..30).collect::<Vec<_>>(), 0));
    assert_eq!((r.seen(), r.lost()), (5, 25));
    assert_eq!(r.seen() + r.lost(), ring.published());
}

#[test]
fn a_resumed_reader_has_half_a_ring_before_the_next_lap() {
    // The point of the rule: after a lap the writer can publish floor(N/2) more events
    // and the reader still reads every one of them. Resuming at the oldest intact slot
    // (the old rule), the first of those publications lapped it again.
    fn check_ring<const N: usize>() {
        let ring = OverwriteRing::<N, 8, 1>::new();
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        for _ in 0..3 * N {
            publish_checked(&mut w).unwrap();
        }
        let behind = N.div_ceil(2);
        assert_eq!(r.peek_header(), Err(ReadError::Lagged(3 * N - behind)));
        for _ in 0..N / 2 {
            publish_checked(&mut w).unwrap();
        }
        let (seqs, lost) = drain_counting(&mut r);
        assert_eq!(lost, 0, "N = {N}");
        let first = (3 * N - behind) as u64;
        let end = (3 * N + N / 2) as u64;
        assert_eq!(seqs, (first..end).collect::<Vec<_>>(), "N = {N}");
        assert_eq!(r.seen() + r.lost(), ring.published());
        // One more event than that would have lapped it again.
        for _ in 0..N + 1 {
            publish_checked(&mut w).unwrap();
        }
        assert!(matches!(r.try_read(|_| ()), Err(ReadError::Lagged(_))));
    }
    check_ring::<1>();
    check_ring::<2>();
    check_ring::<4>();
    check_ring::<8>();
    check_ring::<64>();
}

#[test]
fn a_claim_reserved_ahead_moves_the_resume_to_the_oldest_intact_slot() {
    // A claim of 8 slots with 1 event pushed leaves `claim` 7 past `published`: half a
    // ring behind the head is overwritten ground then, so the reader resumes at the
    // oldest intact slot, `claim - N`, which is still never past what is published.
    let ring = OverwriteRing::<8, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..10 {
        publish_checked(&mut w).unwrap();
    }
    {
        let mut c = w.try_claim(8).unwrap();
        let seq = c.writer.next_seq;
        c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 8)))
            .unwrap();
    } // published 11, claim 18: the oldest intact is 10.
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(10)));
    let (seqs, lost) = drain_counting(&mut r);
    assert_eq!((seqs, lost), (std::vec![10], 0));
    assert_eq!(r.seen() + r.lost(), ring.published());

    // A claim forgotten with one event in it: `published` stays at 10 while `claim` is
    // 18, so the reader resumes at 10, the head, and waits there for what the writer
    // publishes next.
    let ring = OverwriteRing::<8, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..10 {
        publish_checked(&mut w).unwrap();
    }
    let mut c = w.try_claim(8).unwrap();
    let seq = c.writer.next_seq;
    c.push(seq as u16, seq * 3, &fill(seq, len_for(seq, 8)))
        .unwrap();
    core::mem::forget(c);
    assert_eq!(ring.published(), 10);
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(10)));
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Empty));
    // The next publication publishes the forgotten event too.
    publish_checked(&mut w).unwrap();
    let (seqs, lost) = drain_counting(&mut r);
    assert_eq!((seqs, lost), (std::vec![10, 11], 0));
    drop(w);
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Closed));
    assert_eq!(r.seen() + r.lost(), ring.published());
}

#[test]
fn loss_is_exact_far_from_the_start_and_across_the_wrap() {
    // Rings moved far ahead by hand (a writer would need that many events), the last ones
    // so close to usize::MAX that the positions wrap during the test.
    for start in [
        usize::MAX >> 2,
        usize::MAX / 2,
        usize::MAX - 5,
        usize::MAX - 40,
    ] {
        let ring = OverwriteRing::<8, 8, 1>::new();
        ring.fast_forward_for_test(start);
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        w.set_next_seq(0);
        let (mut seen, mut lost) = (0usize, 0usize);
        let mut expect = 0u64;
        for burst in [30usize, 3, 9, 17, 1, 12, 8, 40] {
            for _ in 0..burst {
                publish_checked(&mut w).unwrap();
            }
            let published = ring.published().wrapping_sub(start);
            loop {
                match r.read_batch(2, |e| {
                    assert_eq!(check(e, 8), expect);
                    expect += 1;
                    seen += 1;
                }) {
                    Ok(_) => {}
                    Err(ReadError::Lagged(n)) => {
                        // Half a ring behind a head that did not move since.
                        assert_eq!(expect as usize + n, published - 4, "start {start}");
                        assert_eq!(r.lag(), 4);
                        expect += n as u64;
                        lost += n;
                    }
                    Err(ReadError::Empty) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(seen + lost, published, "start {start}");
        }
        assert_eq!((r.seen(), r.lost()), (seen, lost));
        let stats = ring.reader_stats(r.id()).unwrap();
        assert_eq!((stats.seen, stats.lost, stats.lag), (seen, lost, 0));
    }
}

#[test]
fn reader_lapped_by_a_writer_thread_reads_a_run_after_each_lap() {
    // The writer thread publishes bursts of 5N events. The reader waits until the burst
    // is 2N in (so its next read finds a lap), then reads as fast as it can while the
    // writer finishes the burst, and the writer pauses until the reader has caught up.
    // What cannot flake: every event read is intact and the next one, losses are exact
    // at every pause, and after the last lap of a burst the reader read at least half a
    // ring (it resumed at least that far behind a head that stopped).
    const N: usize = 64;
    let owned = boxed(OverwriteRing::<N, 8, 1>::new());
    let ring = &*owned;
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let bursts = if cfg!(miri) { 2 } else { 300 };
    let burst = 5 * N;
    let caught_up = AtomicUsize::new(0);
    let (seen, lost, laps) = std::thread::scope(|s| {
        let caught_up = &caught_up;
        s.spawn(move || {
            for b in 0..bursts {
                for _ in 0..burst {
                    publish_checked(&mut w).unwrap();
                }
                while caught_up.load(Ordering::Acquire) <= b {
                    std::thread::yield_now();
                }
            }
        });
        let (mut expect, mut seen, mut lost, mut laps) = (0u64, 0usize, 0usize, 0usize);
        for b in 0..bursts {
            let end = ((b + 1) * burst) as u64;
            while r.lag() <= 2 * N && ring.published() < end as usize {
                std::thread::yield_now();
            }
            let mut run = 0usize;
            let mut lapped = false;
            while expect < end {
                match r.read_batch(8, |e| {
                    assert_eq!(check(e, 8), expect);
                    expect += 1;
                    seen += 1;
                    run += 1;
                }) {
                    Ok(_) => {}
                    Err(ReadError::Lagged(n)) => {
                        assert!(n > 0);
                        expect += n as u64;
                        lost += n;
                        laps += 1;
                        lapped = true;
                        run = 0;
                    }
                    Err(ReadError::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(expect, end, "never past the head");
            assert!(lapped, "burst {b}: 2N behind must lap");
            assert!(run >= N / 2, "burst {b}: run of {run} after the last lap");
            assert_eq!(seen + lost, end as usize);
            caught_up.store(b + 1, Ordering::Release);
        }
        (seen, lost, laps)
    });
    assert_eq!((r.seen(), r.lost()), (seen, lost));
    assert_eq!(seen + lost, ring.published());
    // A measurement, not an assertion (performance is measured in benches).
    std::println!(
        "seen {seen} of {} ({:.1}%), {laps} laps",
        ring.published(),
        100.0 * seen as f64 / ring.published() as f64
    );
}
