//! loom models of the broadcast ring's protocols: gated hand-over, overwrite with a lap
//! (the seqlock copy), where a lapped reader resumes (half a ring behind the head), a
//! reader joining while the writer runs, a reader leaving, and batch publish.
//!
//! Run with `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release --test broadcast`.
//! Every participant is a spawned loom thread (the model's main closure only builds the
//! ring, spawns and joins); each model counts the interleavings it explored and asserts
//! there was more than one. Gated slots report every plain access to a loom `UnsafeCell`
//! (a missing happens-before edge is a detected race); overwrite slots are loom atomics
//! (a stale or torn word is a wrong value, caught by the content checks below).
#![cfg(ringcore_loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use loom_tests::{explore, explore_with_preemptions, fill_event, leak};
use ringcore::broadcast::{
    GatedRing, OverwriteRing, Policy, PublishError, ReadError, Reader, RecordView, Ring, Writer,
};

/// The 8-byte payload of event `seq` (see [`fill_event`]).
fn payload(seq: u64) -> [u8; 8] {
    let mut payload = [0; 8];
    fill_event(seq, &mut payload);
    payload
}

/// Publishes events `0..count`, retrying (with a yield) while a gated ring is full.
/// Events with an odd sequence go through a one-event claim, so both publish paths run.
fn publish_all<P: Policy, const N: usize, const R: usize>(
    mut w: Writer<'static, P, N, 8, R>,
    count: u64,
) {
    let mut seq = 0;
    while seq < count {
        let result = if seq % 2 == 0 {
            w.try_publish(seq as u16, seq * 3 + 1, &payload(seq))
        } else {
            w.try_claim(1)
                .and_then(|mut c| c.push(seq as u16, seq * 3 + 1, &payload(seq)))
        };
        match result {
            Ok(s) => {
                assert_eq!(s, seq);
                seq += 1;
            }
            Err(PublishError::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    // Dropping the writer closes the ring.
}

/// Checks that an event is exactly event `expect`: header fields and every payload byte
/// come from the same publication (a torn or stale copy fails here).
fn check(e: RecordView<'_>, expect: u64) {
    assert_eq!(e.header.seq, expect, "sequence");
    assert_eq!(e.header.kind, expect as u16, "kind");
    assert_eq!(e.header.timestamp_ns, expect * 3 + 1, "timestamp");
    assert_eq!(e.header.len, 8, "length");
    assert_eq!(e.payload, &payload(expect)[..], "payload");
}

/// Reads until the ring is closed; returns (first sequence seen, seen, lost). Every event
/// must be the next one, except after a `Lagged(n)` that skips exactly `n`.
fn read_all<P: Policy, const N: usize, const R: usize>(
    mut r: Reader<'static, P, N, 8, R>,
    batch: usize,
) -> (Option<u64>, u64, u64) {
    let (mut first, mut next, mut seen, mut lost) = (None, 0u64, 0u64, 0u64);
    let (seen_before, lost_before) = (r.seen() as u64, r.lost() as u64);
    loop {
        let result = r.read_batch(batch, |e| {
            if first.is_none() {
                first = Some(e.header.seq);
                next = e.header.seq;
            }
            check(e, next);
            next += 1;
            seen += 1;
        });
        match result {
            Ok(_) => {}
            Err(ReadError::Lagged(n)) => {
                assert!(!P::OVERWRITE || n > 0);
                assert!(P::OVERWRITE, "a gated reader never loses events");
                if first.is_none() {
                    // Lapped before the first read: the skipped events count from 0.
                    first = Some(0);
                }
                next += n as u64;
                lost += n as u64;
            }
            Err(ReadError::Empty) => thread::yield_now(),
            Err(ReadError::Closed) => break,
        }
    }
    assert_eq!(r.seen() as u64 - seen_before, seen);
    assert_eq!(r.lost() as u64 - lost_before, lost);
    (first, seen, lost)
}

#[test]
fn gated_hand_over_fills_and_reuses_slots() {
    // Two slots, three events: the third reuses the first one's slot, which needs the
    // reader's release (Release/Acquire) before the writer's plain stores.
    let n = explore(|| {
        let ring: &'static GatedRing<2, 8, 1> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let r = ring.join().unwrap();
        let writer = thread::spawn(move || publish_all(w, 3));
        let reader = thread::spawn(move || read_all(r, 1));
        writer.join().unwrap();
        let (first, seen, lost) = reader.join().unwrap();
        assert_eq!((first, seen, lost), (Some(0), 3, 0));
    });
    assert!(n > 1);
}

#[test]
fn batch_publish_and_batch_read() {
    // One claim publishes two events with one store; the reader takes them in one batch
    // and releases both with one store before the writer reuses a slot.
    let n = explore(|| {
        let ring: &'static GatedRing<2, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        let r = ring.join().unwrap();
        let writer = thread::spawn(move || {
            {
                let mut c = w.try_claim(2).unwrap();
                for seq in 0..2u64 {
                    c.push(seq as u16, seq * 3 + 1, &payload(seq)).unwrap();
                }
            }
            publish_all_from(w, 2, 3);
        });
        let reader = thread::spawn(move || read_all(r, 2));
        writer.join().unwrap();
        assert_eq!(reader.join().unwrap(), (Some(0), 3, 0));
    });
    assert!(n > 1);
}

/// Like `publish_all`, for events `from..to`.
fn publish_all_from<P: Policy, const N: usize, const R: usize>(
    mut w: Writer<'static, P, N, 8, R>,
    from: u64,
    to: u64,
) {
    let mut seq = from;
    while seq < to {
        match w.try_publish(seq as u16, seq * 3 + 1, &payload(seq)) {
            Ok(_) => seq += 1,
            Err(PublishError::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn overwrite_lap_is_detected_never_torn() {
    // One slot, two events: the writer laps the reader while it copies. Every event the
    // reader keeps must be intact and in order, and seen + lost must be exactly 2.
    const EVENTS: u64 = 2;
    static LAPPED: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static OverwriteRing<1, 8, 1> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let r = ring.join().unwrap();
        let writer = thread::spawn(move || publish_all(w, EVENTS));
        let reader = thread::spawn(move || read_all(r, 2));
        writer.join().unwrap();
        let (_, seen, lost) = reader.join().unwrap();
        assert_eq!(seen + lost, EVENTS, "seen {seen} lost {lost}");
        assert!(seen >= 1, "the last event is never lost");
        if lost > 0 {
            LAPPED.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    let lapped = LAPPED.load(Ordering::Relaxed);
    println!("interleavings where the reader was lapped: {lapped}");
    assert!(lapped > 0, "the model must explore a lap");
}

#[test]
fn reader_joins_while_writer_runs() {
    // The joiner must start at some event and then see every later one, intact: the
    // writer may not overwrite its start before it reads it (the join handshake).
    static STARTS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
    let n = explore(|| {
        let ring: &'static GatedRing<1, 8, 1> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let writer = thread::spawn(move || publish_all(w, 3));
        let reader = thread::spawn(move || {
            let r = ring.join().unwrap();
            read_all(r, 1)
        });
        writer.join().unwrap();
        let (first, seen, lost) = reader.join().unwrap();
        assert_eq!(lost, 0);
        match first {
            Some(first) => assert_eq!(first + seen, 3, "no gap after the start"),
            None => assert_eq!(seen, 0),
        }
        STARTS[first.unwrap_or(3) as usize].fetch_add(1, Ordering::Relaxed);
    });
    assert!(n > 1);
    let starts = STARTS.each_ref().map(|s| s.load(Ordering::Relaxed));
    println!("interleavings by first event seen (0, 1, 2, none): {starts:?}");
    assert!(
        starts[0] > 0 && starts[1] + starts[2] > 0,
        "joins before and during publishing"
    );
}

#[test]
fn reader_leaves_and_stops_gating() {
    // Two readers on one thread (loom's scheduler starves a third spinning thread): the
    // staying reader takes the first event, then the leaving one reads it and leaves.
    // The writer must then publish two more events into the single slot (the leaver no
    // longer gates it), and its reuse of the slot must come after the leaver's read: only
    // the Release when leaving orders them, since the stayer released before that read.
    let n = explore(|| {
        let ring: &'static GatedRing<1, 8, 2> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let mut leaver = ring.join().unwrap();
        let mut stayer = ring.join().unwrap();
        let writer = thread::spawn(move || publish_all(w, 3));
        let reader = thread::spawn(move || {
            loop {
                match stayer.try_read(|e| check(e, 0)) {
                    Ok(()) => break,
                    Err(ReadError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(leaver.try_read(|e| check(e, 0)), Ok(()));
            drop(leaver);
            let (first, seen, lost) = read_all(stayer, 1);
            assert_eq!((first, seen, lost), (Some(1), 2, 0));
        });
        writer.join().unwrap();
        reader.join().unwrap();
    });
    assert!(n > 1);
}

/// Joins once (a loop retrying a failed join would read a stale registration word
/// forever in some interleavings) and, if that worked, reads until the ring closes;
/// returns (joined, first sequence seen, seen, lost), as [`read_all`].
fn try_join_and_read_all<P: Policy, const N: usize, const R: usize>(
    ring: &'static Ring<P, N, 8, R>,
    batch: usize,
) -> Option<(Option<u64>, u64, u64)> {
    ring.join().ok().map(|r| read_all(r, batch))
}

#[test]
fn reader_leaves_then_another_thread_rejoins() {
    // Finding 1 of the soundness audit: a reader reads the first event and leaves on its
    // thread; a second thread takes the freed registration while the writer runs. The
    // writer reuses the leaver's slot after reading the *joiner's* registration word, so
    // the joiner must pass the leaver's release on (Acquire when taking the registration,
    // Release when storing its start): otherwise the reuse races with the leaver's read.
    static REJOINED: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static GatedRing<2, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        let mut leaver = ring.join().unwrap();
        // Event 0 is published before the threads start (fewer spinning paths).
        assert_eq!(w.try_publish(0, 1, &payload(0)), Ok(0));
        let writer = thread::spawn(move || publish_all_from(w, 1, 3));
        let leaving = thread::spawn(move || {
            assert_eq!(leaver.try_read(|e| check(e, 0)), Ok(()));
            // Leaves here, after reading event 0 in slot 0, which event 2 reuses.
        });
        let joining = thread::spawn(move || try_join_and_read_all(ring, 1));
        writer.join().unwrap();
        leaving.join().unwrap();
        // Not joined: the leaver had not left yet.
        if let Some((first, seen, lost)) = joining.join().unwrap() {
            REJOINED.fetch_add(1, Ordering::Relaxed);
            assert_eq!(lost, 0);
            if let Some(first) = first {
                assert_eq!(first + seen, 3, "no gap after the start");
            }
        }
    });
    assert!(n > 1);
    let rejoined = REJOINED.load(Ordering::Relaxed);
    println!("interleavings where the second thread rejoined: {rejoined}");
    assert!(rejoined > 0);
}

#[test]
fn forgotten_claim_then_join() {
    // Finding 2: the writer forgets two claims (events 0 and 1, then 2), so `next` runs
    // ahead of `published`; a reader joins meanwhile. The writer's horizon must come from
    // what a joiner can see (`published`), or it overwrites the joiner's first events
    // before they are read.
    let n = explore(|| {
        let ring: &'static GatedRing<2, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        let writer = thread::spawn(move || {
            let mut seq = 0u64;
            for pushes in [2, 1] {
                let mut c = loop {
                    match w.try_claim(pushes) {
                        Ok(c) => break c,
                        // The joiner gates the writer once the first claim is published.
                        Err(_) => thread::yield_now(),
                    }
                };
                for _ in 0..pushes {
                    assert_eq!(c.push(seq as u16, seq * 3 + 1, &payload(seq)), Ok(seq));
                    seq += 1;
                }
                std::mem::forget(c);
            }
            publish_all_from(w, 3, 4);
        });
        let reader = thread::spawn(move || try_join_and_read_all(ring, 1));
        writer.join().unwrap();
        let (first, seen, lost) = reader.join().unwrap().expect("the only reader");
        assert_eq!(lost, 0);
        if let Some(first) = first {
            assert_eq!(first + seen, 4, "no gap or repeat after the start");
        }
    });
    assert!(n > 1);
}

#[test]
fn joiners_race_for_one_registration() {
    // Two threads join a ring with one registration while the writer runs: the CAS gives
    // it to one of them at a time (the other gets `TooManyReaders`, unless the first
    // already left). A joiner that got it reads an event if there is one, checking it,
    // then leaves; the writer's reuse of the slot must come after the holder's read,
    // whichever joiner held it.
    use std::sync::atomic::AtomicBool;
    static TURNED_AWAY: AtomicUsize = AtomicUsize::new(0);
    static HOLDING: AtomicBool = AtomicBool::new(false);
    // Two preemptions: three threads of a dozen atomic steps each make a third one cost
    // a minute; a preemption is needed inside each joiner's join (turned away, or taking
    // the registration the other left) and one for the writer's reuse of the slot.
    let n = explore_with_preemptions(2, || {
        let ring: &'static GatedRing<1, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        // Event 0, then one attempt at event 1, which reuses event 0's slot if no holder
        // gates it (no retry loop: it would multiply the interleavings).
        let writer = thread::spawn(move || {
            assert_eq!(w.try_publish(0, 1, &payload(0)), Ok(0));
            match w.try_publish(1, 4, &payload(1)) {
                Ok(_) | Err(PublishError::Full) => {}
                Err(e) => panic!("{e}"),
            }
        });
        let joiners = [0, 1].map(|_| {
            thread::spawn(move || {
                let Ok(mut r) = ring.join() else {
                    return false;
                };
                // Not a loom atomic: the model's own bookkeeping, outside the protocol.
                assert!(!HOLDING.swap(true, Ordering::SeqCst), "two holders");
                let _ = r.try_read(|e| {
                    let seq = e.header.seq;
                    check(e, seq);
                });
                HOLDING.store(false, Ordering::SeqCst);
                true
            })
        });
        writer.join().unwrap();
        let joined = joiners.map(|j| j.join().unwrap());
        if joined.contains(&false) {
            TURNED_AWAY.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    let turned_away = TURNED_AWAY.load(Ordering::Relaxed);
    println!("interleavings where a joiner was turned away: {turned_away}");
    assert!(turned_away > 0);
}

/// Reads an overwrite ring until it closes, from wherever the reader started: every event
/// intact, each the one after the previous, except after `Lagged(n)`, which skips exactly
/// `n`. Returns (first sequence seen, lost before it, seen, lost in all).
fn read_from_anywhere<const N: usize, const R: usize>(
    mut r: Reader<'static, ringcore::broadcast::Overwrite, N, 8, R>,
) -> (Option<u64>, u64, u64, u64) {
    let (mut first, mut lost_before_first) = (None, 0u64);
    let (mut last, mut skipped, mut seen, mut lost) = (None::<u64>, 0u64, 0u64, 0u64);
    loop {
        match r.try_read(|e| e.header.seq) {
            Ok(seq) => {
                if let Some(last) = last {
                    assert_eq!(seq, last + 1 + skipped, "only a reported lap skips");
                } else {
                    first = Some(seq);
                    lost_before_first = skipped;
                }
                last = Some(seq);
                skipped = 0;
                seen += 1;
            }
            Err(ReadError::Lagged(n)) => {
                assert!(n > 0);
                skipped += n as u64;
                lost += n as u64;
            }
            Err(ReadError::Empty) => thread::yield_now(),
            Err(ReadError::Closed) => break,
        }
    }
    assert_eq!((r.seen() as u64, r.lost() as u64), (seen, lost));
    (first, lost_before_first, seen, lost)
}

#[test]
fn reader_joins_while_overwrite_writer_laps() {
    // One slot, two events: the joiner may start anywhere, be lapped before its first
    // read or after it; it reads intact events in order, to the last one, and the losses
    // it is told of account for every position it skipped.
    let n = explore(|| {
        let ring: &'static OverwriteRing<1, 8, 1> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let writer = thread::spawn(move || publish_all(w, 2));
        let reader = thread::spawn(move || ring.join().ok().map(read_from_anywhere));
        writer.join().unwrap();
        let (first, lost_before_first, seen, lost) = reader.join().unwrap().unwrap();
        if let Some(first) = first {
            assert!(first >= lost_before_first, "started at or after 0");
            assert_eq!(
                first + seen + (lost - lost_before_first),
                2,
                "read to the end"
            );
        } else {
            assert_eq!((seen, lost), (0, 0), "joined after the last event");
        }
    });
    assert!(n > 1);
}

#[test]
fn overwrite_peek_then_try_read() {
    // `peek_header` copies only the header and validates it like a read; the `try_read`
    // that follows returns the peeked event unless the writer lapped the reader in
    // between, which it then reports. Both paths copy with word atomics; a stale or torn
    // word fails the content checks.
    static PEEK_THEN_LAPPED: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static OverwriteRing<1, 8, 1> = leak(Ring::new());
        let w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let writer = thread::spawn(move || publish_all(w, 2));
        let reader = thread::spawn(move || {
            let (mut seen, mut lost, mut next) = (0u64, 0u64, 0u64);
            loop {
                let peeked = match r.peek_header() {
                    Ok(h) => h,
                    Err(ReadError::Lagged(n)) => {
                        lost += n as u64;
                        next += n as u64;
                        continue;
                    }
                    Err(ReadError::Empty) => {
                        thread::yield_now();
                        continue;
                    }
                    Err(ReadError::Closed) => break,
                };
                assert_eq!(peeked.seq, next, "peeked header");
                assert_eq!(peeked.timestamp_ns, next * 3 + 1, "peeked header");
                match r.try_read(|e| {
                    check(e, next);
                    e.header
                }) {
                    Ok(h) => {
                        assert_eq!(h, peeked);
                        seen += 1;
                        next += 1;
                    }
                    Err(ReadError::Lagged(n)) => {
                        PEEK_THEN_LAPPED.fetch_add(1, Ordering::Relaxed);
                        lost += n as u64;
                        next += n as u64;
                    }
                    Err(e) => panic!("{e} after a peek"),
                }
            }
            (seen, lost)
        });
        writer.join().unwrap();
        let (seen, lost) = reader.join().unwrap();
        assert_eq!(seen + lost, 2, "seen {seen} lost {lost}");
        assert!(seen >= 1, "the last event is never lost");
    });
    assert!(n > 1);
    let lapped = PEEK_THEN_LAPPED.load(Ordering::Relaxed);
    println!("interleavings lapped between peek and read: {lapped}");
    assert!(lapped > 0);
}

#[test]
fn overwrite_multi_slot_claims() {
    // A claim of two slots, then one event, into a two-slot ring: the claim word
    // announces both positions before either is written, so a reader copying a slot the
    // claim covers discards the copy; everything it keeps is intact and in order, and
    // the losses it is told of are exact.
    static LAPPED: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static OverwriteRing<2, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        let r = ring.join().unwrap();
        let writer = thread::spawn(move || {
            let mut c = w.try_claim(2).unwrap();
            assert_eq!(c.capacity(), 2);
            for seq in 0..2u64 {
                assert_eq!(c.push(seq as u16, seq * 3 + 1, &payload(seq)), Ok(seq));
            }
            drop(c);
            publish_all_from(w, 2, 3);
        });
        let reader = thread::spawn(move || read_all(r, 2));
        writer.join().unwrap();
        let (_, seen, lost) = reader.join().unwrap();
        assert_eq!(seen + lost, 3, "seen {seen} lost {lost}");
        assert!(seen >= 1, "the last event is never lost");
        if lost > 0 {
            LAPPED.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    assert!(
        LAPPED.load(Ordering::Relaxed) > 0,
        "the model must explore a lap"
    );
}

#[test]
fn lapped_reader_resumes_half_a_ring_behind() {
    // The lap-resume path (module docs, "Lap resume"): a two-slot ring, three events, the
    // second a claim of two slots of which only one is used, so `claim` (3) runs ahead of
    // what is published. A lapped reader moves to `published - 1` (half a ring behind
    // the head), or to `claim - 2` (the oldest intact slot) if that is later: with a
    // `published` of 1 or 2 that check is what moves it forward at all. The writer keeps
    // writing meanwhile (event 2 overwrites event 0's slot). Every event kept must be
    // intact and the next one, every lap must skip at least one position (a resume that
    // does not move forward, or moves back, reports `Lagged(0)` or repeats an event),
    // and the losses must add up exactly. (Four events, which also overwrite the resumed
    // slot, take minutes; the seqlock models above cover that check.)
    const EVENTS: u64 = 3;
    static LAPPED: AtomicUsize = AtomicUsize::new(0);
    static RESUMED_THEN_READ: AtomicUsize = AtomicUsize::new(0);
    let n = explore(|| {
        let ring: &'static OverwriteRing<2, 8, 1> = leak(Ring::new());
        let mut w = ring.try_writer().unwrap();
        let mut r = ring.join().unwrap();
        let writer = thread::spawn(move || {
            assert_eq!(w.try_publish(0, 1, &payload(0)), Ok(0));
            {
                let mut c = w.try_claim(2).unwrap();
                assert_eq!(c.push(1, 4, &payload(1)), Ok(1));
            } // publishes event 1; `claim` stays at 3
            publish_all_from(w, 2, EVENTS);
        });
        let reader = thread::spawn(move || {
            let (mut next, mut seen, mut lost) = (0u64, 0u64, 0u64);
            let mut after_lap = false;
            loop {
                match r.try_read(|e| check(e, next)) {
                    Ok(()) => {
                        next += 1;
                        seen += 1;
                        if after_lap {
                            RESUMED_THEN_READ.fetch_add(1, Ordering::Relaxed);
                            after_lap = false;
                        }
                    }
                    Err(ReadError::Lagged(n)) => {
                        assert!(n > 0, "a lap moves the reader forward");
                        next += n as u64;
                        lost += n as u64;
                        after_lap = true;
                    }
                    Err(ReadError::Empty) => thread::yield_now(),
                    Err(ReadError::Closed) => break,
                }
            }
            assert_eq!((r.seen() as u64, r.lost() as u64), (seen, lost));
            (seen, lost)
        });
        writer.join().unwrap();
        let (seen, lost) = reader.join().unwrap();
        assert_eq!(seen + lost, EVENTS, "seen {seen} lost {lost}");
        assert!(seen >= 1, "the last event is never lost");
        if lost > 0 {
            LAPPED.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert!(n > 1);
    let (lapped, resumed) = (
        LAPPED.load(Ordering::Relaxed),
        RESUMED_THEN_READ.load(Ordering::Relaxed),
    );
    println!("interleavings lapped: {lapped}; reads right after a resume: {resumed}");
    assert!(
        lapped > 0 && resumed > 0,
        "the model must explore a lap and a resume"
    );
}
