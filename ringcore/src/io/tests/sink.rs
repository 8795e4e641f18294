//! `FrameSink`: exact output, limits, short writes, readiness, errors, abandoned frames.

use super::*;

#[test]
fn sink_writes_exactly_encode_frame() {
    let ring = Ring::<4096>::new();
    let (mut p, mut c) = ring.try_split(5).unwrap();
    let mut expect = Vec::new();
    for (i, len) in [0, 1, 2, 100, 0, 333].into_iter().enumerate() {
        assert!(push_record(&mut p, len));
        expect.extend_from_slice(&frame(5 + i as u64, len));
    }
    let mut w = TestWriter::new(1, usize::MAX);
    let mut sink = FrameSink::new();
    let d = sink.drain(&mut c, &mut w, usize::MAX).unwrap();
    assert_eq!(
        d,
        Drained {
            frames: 6,
            bytes: expect.len(),
            stopped: Stopped::Empty
        }
    );
    assert_eq!(w.out, expect);
    assert_eq!(c.pending_bytes(), 0);
    assert_eq!(sink.stats().frames, 6);
    assert_eq!(sink.stats().bytes, expect.len() as u64);
}

#[test]
fn sink_respects_max() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for _ in 0..5 {
        assert!(push_record(&mut p, 4));
    }
    let mut w = TestWriter::new(1, usize::MAX);
    let mut sink = FrameSink::new();
    let d = sink.drain(&mut c, &mut w, 2).unwrap();
    assert_eq!((d.frames, d.stopped), (2, Stopped::Limit));
    assert_eq!(c.pending_bytes(), 3 * record_len(4));
    assert_eq!(decode_all(&w.out).len(), 2);
}

/// Pushes `total` records of random sizes and drains them through `w`, which may
/// short-write, be not ready, or fail transiently. Checks the output.
fn drain_through(w: &mut TestWriter, total: u64, seed: u64, ready: bool) -> u64 {
    let ring = Ring::<2048>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut rng = Rng(seed);
    let mut sink = FrameSink::new();
    let mut pushed = 0_u64;
    let mut interruptions = 0_u64;
    let mut guard = 0;
    while pushed < total || c.pending_bytes() > 0 {
        guard += 1;
        assert!(guard < 10_000_000, "no progress");
        while pushed < total {
            let len = match rng.below(10) {
                0 => 0,
                1 => rng.below(Ring::<2048>::MAX_PAYLOAD + 1),
                _ => rng.below(64),
            };
            if !push_record(&mut p, len) {
                break;
            }
            pushed += 1;
        }
        let free_before = p.free_bytes();
        let frames_before = sink.stats().frames;
        let r = if ready {
            sink.drain_ready(&mut c, w, 1 + rng.below(8))
        } else {
            sink.drain(&mut c, w, 1 + rng.below(8))
        };
        match r {
            Ok(_) | Err(SinkError::Write(ErrorKind::TimedOut)) => {}
            Err(e) => panic!("{e:?}"),
        }
        if let Some(partial) = sink.in_progress() {
            interruptions += 1;
            assert!(partial.written > 0 && partial.written < partial.total);
            // The partial record is still in the ring: nothing of it was released.
            let completed = sink.stats().frames - frames_before;
            assert!(c.pending_bytes() >= record_len(0));
            if completed == 0 {
                assert_eq!(p.free_bytes(), free_before);
            }
        }
    }
    assert_eq!(sink.in_progress(), None);
    let got = decode_all(&w.out);
    assert_eq!(got.len() as u64, total);
    for (i, (h, payload)) in got.iter().enumerate() {
        assert_eq!(h.seq, i as u64);
        check_record(h, payload, i as u64);
    }
    assert_eq!(sink.stats().frames, total);
    assert_eq!(sink.stats().bytes, w.out.len() as u64);
    interruptions
}

#[test]
fn sink_one_byte_at_a_time() {
    let mut w = TestWriter::new(7, 1);
    drain_through(&mut w, scale(300), 1, false);
    assert_eq!(w.calls, w.out.len());
}

#[test]
fn sink_random_short_writes() {
    let mut w = TestWriter::new(11, 50);
    drain_through(&mut w, scale(2000), 2, false);
    let frames = scale(2000) as usize;
    assert!(
        w.calls > 2 * frames,
        "short writes happened: {} calls",
        w.calls
    );
}

#[test]
fn sink_not_ready_and_transient_errors() {
    let mut w = TestWriter::new(13, 40);
    w.not_ready_one_in = 3;
    w.transient_one_in = 5;
    assert!(drain_through(&mut w, scale(2000), 3, true) > 0);
}

#[test]
fn sink_stops_when_never_ready_without_writing() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    assert!(push_record(&mut p, 10));
    let mut w = TestWriter::new(1, 100);
    w.not_ready_one_in = 1;
    let mut sink = FrameSink::new();
    let d = sink.drain_ready(&mut c, &mut w, 10).unwrap();
    assert_eq!(
        d,
        Drained {
            frames: 0,
            bytes: 0,
            stopped: Stopped::NotReady
        }
    );
    assert!(w.out.is_empty());
    assert_eq!(sink.in_progress(), None, "no byte of a frame is out");
    assert_eq!(c.pending_bytes(), record_len(10));
}

#[test]
fn sink_writer_dying_after_every_byte_count() {
    let lens = [3_usize, 0, 40, 9];
    let stream: Vec<u8> = lens
        .iter()
        .enumerate()
        .flat_map(|(i, l)| frame(i as u64, *l))
        .collect();
    let step = if cfg!(miri) { 7 } else { 1 };
    for k in (0..stream.len()).step_by(step) {
        let ring = Ring::<1024>::new();
        let (mut p, mut c) = ring.try_split(0).unwrap();
        for l in lens {
            assert!(push_record(&mut p, l));
        }
        let mut w = TestWriter::new(k as u64 + 1, 16);
        w.dead_after = Some(k);
        let mut sink = FrameSink::new();
        assert_eq!(
            sink.drain(&mut c, &mut w, usize::MAX),
            Err(SinkError::Write(ErrorKind::BrokenPipe))
        );
        assert_eq!(w.out, &stream[..k], "k {k}");
        // Frames wholly inside the k bytes are done and released; the next is partial.
        let mut done = 0;
        let mut at = 0;
        while at + wire_len(lens[done]) <= k {
            at += wire_len(lens[done]);
            done += 1;
        }
        assert_eq!(sink.stats().frames, done as u64);
        let partial = sink.in_progress().map(|f| (f.seq, f.written));
        if k == at {
            assert_eq!(partial, None, "k {k}: stopped at a frame boundary");
        } else {
            assert_eq!(partial, Some((done as u64, k - at)));
        }
        let left: usize = lens[done..].iter().map(|l| record_len(*l)).sum();
        assert_eq!(c.pending_bytes(), left, "k {k}");

        // A new stream: the partial frame is written again from its first byte.
        sink.restart_frame();
        let mut w2 = TestWriter::new(99, 5);
        let d = sink.drain(&mut c, &mut w2, usize::MAX).unwrap();
        assert_eq!(d.frames, lens.len() - done);
        assert_eq!(w2.out, &stream[at..]);
        assert_eq!(c.pending_bytes(), 0);
    }
}

#[test]
fn sink_resumes_the_same_writer_after_an_error() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for l in [10, 20, 30] {
        assert!(push_record(&mut p, l));
    }
    let mut w = TestWriter::new(3, 7);
    w.dead_after = Some(50);
    let mut sink = FrameSink::new();
    assert!(sink.drain(&mut c, &mut w, usize::MAX).is_err());
    w.dead_after = None; // the link recovers: continue where it stopped
    sink.drain(&mut c, &mut w, usize::MAX).unwrap();
    let got = decode_all(&w.out);
    assert_eq!(got.len(), 3);
    for (i, (h, payload)) in got.iter().enumerate() {
        assert_eq!(h.seq, i as u64);
        check_record(h, payload, i as u64);
    }
}

#[test]
fn sink_write_zero_is_an_error_value() {
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    assert!(push_record(&mut p, 5));
    let mut w = TestWriter::new(3, 7);
    w.zero = true;
    let mut sink = FrameSink::new();
    assert_eq!(sink.drain(&mut c, &mut w, 1), Err(SinkError::WriteZero));
    assert_eq!(c.pending_bytes(), record_len(5));
    w.zero = false;
    assert_eq!(sink.drain(&mut c, &mut w, 1).unwrap().frames, 1);
    assert_eq!(decode_all(&w.out).len(), 1);
}

#[test]
fn sink_abandons_a_frame_whose_record_is_gone() {
    let ring_a = Ring::<1024>::new();
    let (mut pa, mut ca) = ring_a.try_split(0).unwrap();
    let ring_b = Ring::<1024>::new();
    let (mut pb, mut cb) = ring_b.try_split(100).unwrap();
    assert!(push_record(&mut pa, 30));
    assert!(push_record(&mut pb, 30));
    let mut sink = FrameSink::new();
    let mut w = TestWriter::new(3, 7);
    w.dead_after = Some(10);
    assert!(sink.drain(&mut ca, &mut w, 1).is_err());
    let mut w2 = TestWriter::new(3, 7);
    assert_eq!(
        sink.drain(&mut cb, &mut w2, 1),
        Err(SinkError::Abandoned { seq: 0 })
    );
    assert_eq!(
        cb.pending_bytes(),
        record_len(30),
        "B's record not released"
    );
    assert!(w2.out.is_empty());
    assert_eq!(sink.drain(&mut cb, &mut w2, 1).unwrap().frames, 1);
    assert_eq!(decode_all(&w2.out)[0].0.seq, 100);
    // An empty ring under a started frame is the same mistake.
    let mut w3 = TestWriter::new(3, 7);
    w3.dead_after = Some(10);
    assert!(push_record(&mut pb, 30));
    assert!(sink.drain(&mut cb, &mut w3, 1).is_err());
    let mut ring_c = Ring::<1024>::new();
    let (_pc, mut cc) = ring_c.split_mut(0);
    assert_eq!(
        sink.drain(&mut cc, &mut w3, 1),
        Err(SinkError::Abandoned { seq: 101 })
    );
    assert_eq!(sink.in_progress(), None);
}

/// A writer that accepts `budget` bytes (up to 7 per call), then panics in `write`.
struct PanicsAfter {
    out: Vec<u8>,
    budget: usize,
}

impl ErrorType for PanicsAfter {
    type Error = ErrorKind;
}

impl Write for PanicsAfter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        assert!(self.budget > 0, "the writer panics mid-frame");
        let n = buf.len().min(self.budget).min(7);
        self.out.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

#[test]
fn sink_keeps_the_record_when_the_writer_panics() {
    // Finding 7: a `Write` impl that panics mid-frame must not cost the record: unwinding
    // leaves it unreleased, and the sink resumes the frame at its first unwritten byte.
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    assert!(push_record(&mut p, 40));
    assert!(push_record(&mut p, 3));
    let pending = c.pending_bytes();
    for (round, budget) in [1, 20, 40, 75].into_iter().enumerate() {
        let first = 2 * round as u64;
        let expect = [frame(first, 40), frame(first + 1, 3)].concat();
        let mut sink = FrameSink::new();
        let mut w = PanicsAfter {
            out: Vec::new(),
            budget,
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.drain(&mut c, &mut w, usize::MAX)
        }));
        assert!(result.is_err(), "budget {budget}: the writer panicked");
        assert_eq!(
            c.pending_bytes(),
            pending,
            "budget {budget}: nothing released"
        );
        assert_eq!(
            sink.in_progress(),
            Some(PartialFrame {
                seq: first,
                written: budget,
                total: wire_len(40)
            })
        );
        let mut rest = TestWriter::new(budget as u64, 5);
        let d = sink.drain(&mut c, &mut rest, usize::MAX).unwrap();
        assert_eq!((d.frames, d.stopped), (2, Stopped::Empty));
        assert_eq!([w.out, rest.out].concat(), expect, "budget {budget}");
        assert_eq!(c.pending_bytes(), 0);
        assert!(push_record(&mut p, 40));
        assert!(push_record(&mut p, 3));
    }
}
