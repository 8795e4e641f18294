//! Regression tests of the soundness audit (issue 11): each failed on the code before its
//! fix. The tests in `races` spawn threads and are undefined behaviour (a data race on slot
//! memory) when the protocol is wrong; CI runs them under Miri with 32 seeds
//! (`-Zmiri-many-seeds=0..32`), since one schedule proves little.

use super::*;

/// Reads everything available now; returns the sequences seen, checking each event.
fn drain<P: Policy, const N: usize, const R: usize>(r: &mut Reader<'_, P, N, 8, R>) -> Vec<u64> {
    let mut seqs = Vec::new();
    while r.try_read(|e| seqs.push(check(e, 8))).is_ok() {}
    seqs
}

/// Pushes event `seq` (checked contents) into a claim.
fn push_checked<P: Policy, const N: usize, const R: usize>(c: &mut Claim<'_, '_, P, N, 8, R>) {
    let seq = c.writer.next_seq;
    c.push(seq as u16, seq.wrapping_mul(3), &fill(seq, len_for(seq, 8)))
        .unwrap();
}

#[test]
fn forgotten_claim_then_join_sees_each_event_once() {
    // Finding 2: a forgotten claim leaves `next` ahead of `published`. The writer's
    // horizon must still come from what readers can see, so that a reader joining now
    // (at `published`) is never lapped by a writer that thinks the ring is empty.
    let ring = GatedRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut c = w.try_claim(4).unwrap();
    for _ in 0..4 {
        push_checked(&mut c);
    }
    core::mem::forget(c);
    let mut c = w.try_claim(1).unwrap();
    push_checked(&mut c);
    core::mem::forget(c);
    let mut r = ring.join().unwrap();
    for _ in 0..3 {
        publish_checked(&mut w).unwrap();
    }
    // Events 0..4 were published before the join returned; 4 (pushed before, published
    // after) and 5..8 were not.
    assert_eq!(drain(&mut r), [4, 5, 6, 7]);
    // A full ring: the reader gates the writer again.
    for _ in 0..4 {
        publish_checked(&mut w).unwrap();
    }
    assert_eq!(publish_checked(&mut w), Err(PublishError::Full));
    assert_eq!(drain(&mut r), [8, 9, 10, 11]);
}

#[test]
fn forgotten_claim_is_published_not_lost() {
    // Leaking a claim may leak, never lose or repeat: what was pushed into it is
    // published by the writer's next publication, in order.
    let ring = GatedRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let mut c = w.try_claim(2).unwrap();
    push_checked(&mut c);
    core::mem::forget(c);
    assert_eq!(drain(&mut r), Vec::<u64>::new());
    publish_checked(&mut w).unwrap();
    assert_eq!(drain(&mut r), [0, 1]);
}

#[test]
fn resplit_writer_keeps_its_sequence() {
    // Finding 3: a writer handed out again by `split_mut` continues the previous writer's
    // numbering (including `set_next_seq` and sequences above 2^32), not the published
    // count.
    let mut ring = GatedRing::<4, 8, 1>::new();
    {
        let (mut w, [mut r]) = ring.split_mut::<1>();
        w.set_next_seq((1 << 32) + 5);
        assert_eq!(w.try_publish(0, 0, b"a"), Ok((1 << 32) + 5));
        assert_eq!(r.try_read(|e| e.header.seq), Ok((1 << 32) + 5));
    }
    {
        let (mut w, [mut r]) = ring.split_mut::<1>();
        assert_eq!(w.next_seq(), (1 << 32) + 6);
        let header = FrameHeader {
            seq: 900,
            ..FrameHeader::default()
        };
        assert_eq!(w.try_publish_frame(header, b"b"), Ok(900));
        assert_eq!(r.try_read(|e| e.header.seq), Ok(900));
        // A claim that was forgotten publishes nothing, so the sequence stays with what
        // was published.
        let mut c = w.try_claim(1).unwrap();
        assert_eq!(c.push(0, 0, b"c"), Ok(901));
        core::mem::forget(c);
        core::mem::forget(w);
    }
    let (w, _) = ring.split_mut::<0>();
    assert_eq!(w.next_seq(), 901);
}

#[test]
fn reader_stats_stay_exact_far_from_the_start() {
    // Finding 5: the snapshot of another thread's reader zeroed lags above
    // `usize::MAX >> 3` (2^29 on 32-bit targets), so after that many events `seen` read
    // 0 and an idle overwrite reader showed no pressure. The ring is moved that far
    // ahead by hand (a writer would need 2^29 events).
    let far = (usize::MAX >> 3) + 7;
    let ring = OverwriteRing::<4, 8, 1>::new();
    let mut r = ring.join().unwrap();
    ring.head.published.store(far, Ordering::Relaxed);
    ring.head.claim.store(far, Ordering::Relaxed);
    let idle = ring.reader_stats(r.id()).unwrap();
    assert_eq!(idle.lag, far, "an idle reader far behind");
    assert!(ring.reader_backpressure(r.id()).unwrap().should_throttle());
    let mut w = ring.try_writer().unwrap();
    for _ in 0..4 {
        publish_checked(&mut w).unwrap();
    }
    // The lapped reader resumes half a ring (2 of 4 slots) behind the head.
    assert_eq!(r.try_read(|_| ()), Err(ReadError::Lagged(far + 2)));
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(ring.reader_stats(r.id()), Some(r.stats()));
    assert_eq!((r.seen(), r.lost(), r.lag()), (2, far + 2, 0));
}

/// The address of a local in a new frame: roughly the stack pointer of its caller.
#[inline(never)]
fn stack_here() -> usize {
    let local = 0u8;
    core::hint::black_box(&local) as *const u8 as usize
}

/// Runs `run` in a frame of its own (the read and what the optimiser inlines into it).
#[inline(never)]
fn run_outlined(run: impl FnOnce(&mut dyn FnMut(&[u8])), probe: &mut dyn FnMut(&[u8])) {
    run(probe)
}

/// How far the stack reaches below this function's frame when `run` calls the probe it
/// is given (from inside a read's callback): the read's frames and the callback's.
#[inline(never)]
fn stack_reached(run: impl FnOnce(&mut dyn FnMut(&[u8]))) -> usize {
    let top = stack_here();
    let mut deepest = usize::MAX;
    run_outlined(run, &mut |payload| {
        core::hint::black_box(payload);
        deepest = deepest.min(stack_here());
    });
    top - deepest
}

/// Checks the stack each read of `ring` reaches against the reader's published need.
fn reads_within_stack_need<P: Policy, const N: usize, const PAYLOAD: usize>(
    ring: &Ring<P, N, PAYLOAD, 1>,
) -> [usize; 4] {
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..4 {
        w.try_publish(1, 2, &std::vec![7; PAYLOAD]).unwrap();
    }
    let used = [
        stack_reached(|probe| r.try_read(|e| probe(e.payload)).unwrap()),
        stack_reached(|probe| assert_eq!(r.read_batch(1, |e| probe(e.payload)), Ok(1))),
        stack_reached(|probe| {
            let until = |e: RecordView<'_>| {
                probe(e.payload);
                core::ops::ControlFlow::Continue(())
            };
            assert_eq!(r.read_batch_until(1, until), Ok(1));
        }),
        stack_reached(|probe| r.read_wait(&BusySpin, |e| probe(e.payload)).unwrap()),
    ];
    let need = Reader::<P, N, PAYLOAD, 1>::READ_STACK_BYTES;
    for (read, used) in ["try_read", "read_batch", "read_batch_until", "read_wait"]
        .iter()
        .zip(used)
    {
        assert!(
            used <= need,
            "{read} reached {used} bytes below its caller, more than READ_STACK_BYTES = {need}"
        );
        // The probe really measures the read: an overwrite read's copy is in its frame.
        assert!(
            used >= Reader::<P, N, PAYLOAD, 1>::COPY_BYTES,
            "{read}: {used}"
        );
    }
    used
}

#[test]
#[cfg_attr(miri, ignore)] // Miri's locals are allocations anywhere, not on a stack.
fn reads_stay_within_their_published_stack_need() {
    // Finding 6: an overwrite read copies a whole slot onto the stack, 16 KiB for a
    // 16 KiB class; the need is published (`READ_STACK_BYTES`) and checked here.
    let overwrite = reads_within_stack_need(&*boxed(OverwriteRing::<4, 16384, 1>::new()));
    let gated = reads_within_stack_need(&*boxed(GatedRing::<4, 16384, 1>::new()));
    std::println!("stack reached by reads: overwrite {overwrite:?}, gated {gated:?}");
    assert_eq!(Reader::<Gated, 4, 16384, 1>::READ_STACK_BYTES, 4096);
}

/// Counts the idle calls of a [`Blocking`] strategy's waiters.
struct CountingWait {
    inner: Blocking,
    idles: std::sync::atomic::AtomicUsize,
}

impl CountingWait {
    fn new() -> Self {
        Self {
            inner: Blocking::new(),
            idles: std::sync::atomic::AtomicUsize::new(0),
        }
    }
    fn idles(&self) -> usize {
        self.idles.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl crate::wait::Notify for CountingWait {
    fn notify(&self, signal: &crate::wait::Signal) {
        self.inner.notify(signal)
    }
}

struct CountingWaiter<'s> {
    inner: crate::wait::Sleeping<'s>,
    idles: &'s std::sync::atomic::AtomicUsize,
}

impl crate::wait::Waiter for CountingWaiter<'_> {
    fn idle(&mut self) {
        self.idles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.idle()
    }
}

impl WaitStrategy for CountingWait {
    type Waiter<'s> = CountingWaiter<'s>;
    fn waiter<'s>(&'s self, signal: &'s crate::wait::Signal) -> CountingWaiter<'s> {
        CountingWaiter {
            inner: self.inner.waiter(signal),
            idles: &self.idles,
        }
    }
}

/// A wait of 200 ms on the other side: spins, one registration, one sleep. Before the
/// fix a sleep ended every millisecond.
const QUIET_IDLES: usize = 64 + 3;

#[test]
#[cfg_attr(miri, ignore)] // measures wake-ups over real time
fn an_idle_blocking_reader_sleeps_until_woken() {
    // Finding 8: an idle reader woke 1000 times a second (the timeout did the work of
    // the notifications); it now sleeps until the writer's publication wakes it.
    let ring = GatedRing::<4, 8, 1>::new();
    let wait = CountingWait::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(r.read_wait(&wait, |e| e.header.seq), Ok(0)));
        std::thread::sleep(std::time::Duration::from_millis(200));
        w.publish_wait(&wait, 0, 0, b"x").unwrap();
    });
    let idles = wait.idles();
    assert!(
        idles <= QUIET_IDLES,
        "an idle reader woke {idles} times in 200 ms"
    );
    assert_eq!(wait.inner.safety_net_wakeups(), 0);
}

#[test]
#[cfg_attr(miri, ignore)] // measures wake-ups over real time
fn closing_and_leaving_wake_blocking_sleepers() {
    // Nothing but the handshake may wake them: the writer closing wakes a sleeping reader,
    // a reader leaving wakes a writer sleeping on a full ring, each long before the
    // one-second safety net.
    let ring = GatedRing::<1, 8, 1>::new();
    let wait = CountingWait::new();
    let w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(r.read_wait(&wait, |_| ()), Err(ReadError::Closed)));
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(w);
    });
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    assert!(wait.idles() <= QUIET_IDLES, "{}", wait.idles());

    let ring = GatedRing::<1, 8, 1>::new();
    let wait = CountingWait::new();
    let mut w = ring.try_writer().unwrap();
    let r = ring.join().unwrap();
    w.try_publish(0, 0, b"full").unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(w.publish_wait(&wait, 0, 0, b"after"), Ok(1)));
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(r);
    });
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    assert!(wait.idles() <= QUIET_IDLES, "{}", wait.idles());
    assert_eq!(wait.inner.safety_net_wakeups(), 0);
}

/// Threads racing on registrations and slots: undefined behaviour (a data race on slot
/// memory, which Miri reports) when the protocol is wrong. Small enough for Miri with many
/// seeds.
mod races {
    use super::*;

    /// Rounds per test: each round is one chance for the bad schedule.
    const ROUNDS: usize = if cfg!(miri) { 3 } else { 300 };

    #[test]
    fn leave_then_rejoin_on_another_thread() {
        // Finding 1: a reader reads slots, then leaves on one thread; another thread takes
        // the freed registration while the writer runs. The writer's reuse of the slots
        // the leaver read must happen after those reads, through the joiner's
        // registration, which is the only word the writer looks at.
        for _ in 0..ROUNDS {
            let ring = GatedRing::<2, 8, 1>::new();
            let mut w = ring.try_writer().unwrap();
            let mut leaver = ring.join().unwrap();
            let total = 8;
            std::thread::scope(|s| {
                s.spawn(move || {
                    let mut read = 0;
                    while read < 3 {
                        match leaver.try_read(|e| check(e, 8)) {
                            Ok(_) => read += 1,
                            Err(ReadError::Empty) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    // Leaves here, on this thread.
                });
                s.spawn(|| {
                    let mut joiner = loop {
                        match ring.join() {
                            Ok(r) => break r,
                            Err(_) => std::thread::yield_now(),
                        }
                    };
                    let mut last = None;
                    loop {
                        match joiner.try_read(|e| check(e, 8)) {
                            Ok(seq) => {
                                assert!(last.is_none_or(|l| seq == l + 1), "in order");
                                last = Some(seq);
                            }
                            Err(ReadError::Empty) => std::thread::yield_now(),
                            Err(ReadError::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
                let mut seq = 0;
                while seq < total {
                    match publish_checked(&mut w) {
                        Ok(_) => seq += 1,
                        Err(PublishError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
                drop(w);
            });
        }
    }

    #[test]
    fn forgotten_claim_while_readers_join() {
        // Finding 2 with threads: the writer forgets claims (pushing two events, then one)
        // while a reader joins, reads a few events and leaves, again and again; the writer
        // must never overwrite a slot a reader that joined has yet to read.
        for _ in 0..ROUNDS {
            let ring = GatedRing::<2, 8, 1>::new();
            let mut w = ring.try_writer().unwrap();
            let total = 12;
            std::thread::scope(|s| {
                s.spawn(|| {
                    loop {
                        let Ok(mut r) = ring.join() else {
                            std::thread::yield_now();
                            continue;
                        };
                        let mut last = None;
                        for _ in 0..3 {
                            match r.try_read(|e| check(e, 8)) {
                                Ok(seq) => {
                                    assert!(last.is_none_or(|l| seq == l + 1), "in order");
                                    last = Some(seq);
                                }
                                Err(ReadError::Empty) => std::thread::yield_now(),
                                Err(ReadError::Closed) => return,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
                while w.next_seq() < total {
                    for pushes in [2, 1] {
                        if let Ok(mut c) = w.try_claim(pushes) {
                            for _ in 0..c.capacity() {
                                push_checked(&mut c);
                            }
                            core::mem::forget(c);
                        }
                    }
                    while publish_checked(&mut w).is_err() {
                        std::thread::yield_now();
                    }
                }
                drop(w);
            });
        }
    }
}
