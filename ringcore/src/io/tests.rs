//! Tests of the wire format, the sink and the source: every length, every short write
//! and readiness pattern, damage of every kind.

use super::source::next_sync_candidate;
use super::wire::{CRC32C, frame_prefix};
use super::*;
use crate::frame::{FrameHeader, record_len};
use crate::spsc::{self, Ring};
use embedded_io::{ErrorKind, ErrorType};
use embedded_io::{Read, ReadReady, Write, WriteReady};
use std::vec::Vec;

/// xorshift64*: deterministic, Miri-friendly randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn header(seq: u64, len: usize) -> FrameHeader {
    FrameHeader {
        seq,
        timestamp_ns: seq.wrapping_mul(1_000_003),
        len: len as u32,
        kind: (seq % 7) as u16,
        flags: (seq % 3) as u16,
    }
}

fn frame(seq: u64, len: usize) -> Vec<u8> {
    let mut payload = std::vec![0_u8; len];
    ringlog_pattern::fill(seq, &mut payload);
    let mut out = std::vec![0_u8; wire_len(len)];
    assert_eq!(
        encode_frame(&header(seq, len), &payload, &mut out),
        Some(out.len())
    );
    out
}

fn push_record<const N: usize>(p: &mut spsc::Producer<'_, N>, len: usize) -> bool {
    let seq = p.next_seq();
    let Ok(mut g) = p.grant(len) else {
        return false;
    };
    ringlog_pattern::fill(seq, g.payload_mut());
    let h = header(seq, len);
    g.set_kind(h.kind);
    g.set_flags(h.flags);
    g.set_timestamp_ns(h.timestamp_ns);
    g.commit();
    true
}

/// Checks a record against what was sent as `seq`; its own `seq` is not compared
/// (a receiving ring numbers records itself).
fn check_record(h: &FrameHeader, payload: &[u8], seq: u64) {
    let h = FrameHeader { seq, ..*h };
    assert_eq!(h, header(seq, payload.len()), "header of {seq}");
    assert!(ringlog_pattern::check(seq, payload), "payload of {seq}");
}

/// Decodes a whole byte stream that must hold nothing but good frames.
fn decode_all(mut bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (view, used) = decode_frame(bytes, usize::MAX).unwrap();
        out.push((view.header, view.payload.to_vec()));
        bytes = &bytes[used..];
    }
    out
}

/// A writer that short-writes, is sometimes not ready, fails transiently, and can die
/// for good after `dead_after` bytes.
struct TestWriter {
    out: Vec<u8>,
    rng: Rng,
    max_chunk: usize,
    not_ready_one_in: usize,
    transient_one_in: usize,
    dead_after: Option<usize>,
    zero: bool,
    calls: usize,
}

impl TestWriter {
    fn new(seed: u64, max_chunk: usize) -> Self {
        Self {
            out: Vec::new(),
            rng: Rng(seed),
            max_chunk,
            not_ready_one_in: 0,
            transient_one_in: 0,
            dead_after: None,
            zero: false,
            calls: 0,
        }
    }
}

impl ErrorType for TestWriter {
    type Error = ErrorKind;
}

impl Write for TestWriter {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.calls += 1;
        if self.zero {
            return Ok(0);
        }
        let mut room = usize::MAX;
        if let Some(k) = self.dead_after {
            room = k.saturating_sub(self.out.len());
            if room == 0 {
                return Err(ErrorKind::BrokenPipe);
            }
        }
        if self.transient_one_in > 0 && self.rng.below(self.transient_one_in) == 0 {
            return Err(ErrorKind::TimedOut);
        }
        let n = (1 + self.rng.below(buf.len().min(self.max_chunk))).min(room);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl WriteReady for TestWriter {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(!(self.not_ready_one_in > 0 && self.rng.below(self.not_ready_one_in) == 0))
    }
}

/// A reader that returns random short reads, is sometimes not ready, fails
/// transiently, and is "not ready" (live) or at EOF (finished) when drained.
struct TestReader {
    data: Vec<u8>,
    pos: usize,
    rng: Rng,
    max_chunk: usize,
    not_ready_one_in: usize,
    transient_one_in: usize,
    live: bool,
}

impl TestReader {
    fn new(data: Vec<u8>, seed: u64, max_chunk: usize) -> Self {
        Self {
            data,
            pos: 0,
            rng: Rng(seed),
            max_chunk,
            not_ready_one_in: 0,
            transient_one_in: 0,
            live: false,
        }
    }
}

impl ErrorType for TestReader {
    type Error = ErrorKind;
}

impl Read for TestReader {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.transient_one_in > 0 && self.rng.below(self.transient_one_in) == 0 {
            return Err(ErrorKind::Interrupted);
        }
        let left = self.data.len() - self.pos;
        let n = if left == 0 {
            0
        } else {
            1 + self.rng.below(left.min(buf.len()).min(self.max_chunk))
        };
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl ReadReady for TestReader {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        if self.live && self.pos == self.data.len() {
            return Ok(false);
        }
        Ok(!(self.not_ready_one_in > 0 && self.rng.below(self.not_ready_one_in) == 0))
    }
}

/// Every event a source produces from `reader` until `End`.
#[derive(Debug, PartialEq)]
enum Ev {
    Frame(u64),
    Err(SourceError<ErrorKind>),
}

fn run_source<R: Read<Error = ErrorKind>>(reader: &mut R) -> (Vec<Ev>, SourceStats) {
    let ring = Ring::<4096>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<1024>::new();
    let mut events = Vec::new();
    for _ in 0..100_000 {
        match source.poll(reader, &mut p) {
            Ok(Polled::Frame(got)) => {
                let r = c.read().unwrap();
                check_record(r.header(), r.payload(), got.header.seq);
                assert_eq!(r.header().kind, got.header.kind);
                events.push(Ev::Frame(got.header.seq));
            }
            Ok(Polled::End) => return (events, source.stats()),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(SourceError::Read(ErrorKind::Interrupted)) => {}
            Err(e) => events.push(Ev::Err(e)),
        }
    }
    panic!("source never reached the end");
}

#[test]
fn crc_is_crc32c() {
    // The CRC32C check value, as in RFC 3720 and the `crc32c` crate.
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
}

#[test]
fn wire_layout_is_pinned() {
    let h = header(0x0102_0304_0506_0708, 3);
    let bytes = frame(h.seq, 3);
    assert_eq!(bytes.len(), 39);
    assert_eq!(&bytes[..4], &[0xFE, 0x52, 0x43, 0x31]);
    assert_eq!(&bytes[HEADER_OFFSET..HEADER_CRC_OFFSET], &h.encode());
    assert_eq!(bytes[HEADER_OFFSET], 0x08, "little-endian sequence");
    let hcrc = CRC32C.checksum(&h.encode());
    assert_eq!(&bytes[28..32], &hcrc.to_le_bytes());
    let mut payload = [0_u8; 3];
    ringlog_pattern::fill(h.seq, &mut payload);
    assert_eq!(&bytes[32..35], &payload[..]);
    let mut all = h.encode().to_vec();
    all.extend_from_slice(&payload);
    assert_eq!(&bytes[35..], &CRC32C.checksum(&all).to_le_bytes());
}

#[test]
fn encode_frame_refuses_short_buffers() {
    let mut out = [0_u8; 40];
    for n in 0..39 {
        assert_eq!(encode_frame(&header(0, 3), b"abc", &mut out[..n]), None);
    }
    assert_eq!(encode_frame(&header(0, 99), b"abc", &mut out), Some(39));
    assert_eq!(
        decode_frame(&out, 3).unwrap().0.header.len,
        3,
        "len from payload"
    );
}

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

fn scale(n: u64) -> u64 {
    if cfg!(miri) { (n / 40).max(10) } else { n }
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

#[test]
fn round_trip_live_with_short_reads_and_writes() {
    let total = scale(3000);
    let tx = Ring::<2048>::new();
    let (mut tp, mut tc) = tx.try_split(0).unwrap();
    let rx = Ring::<2048>::new();
    let (mut rp, mut rc) = rx.try_split(0).unwrap();
    let mut rng = Rng(77);
    let mut w = TestWriter::new(5, 33);
    w.not_ready_one_in = 4;
    w.transient_one_in = 9;
    let mut r = TestReader::new(Vec::new(), 6, 29);
    r.live = true;
    r.not_ready_one_in = 4;
    r.transient_one_in = 9;
    let mut sink = FrameSink::new();
    let mut source = FrameSource::<600>::new();
    let (mut pushed, mut arrived, mut received) = (0_u64, 0_u64, 0_u64);
    let mut guard = 0;
    while received < total {
        guard += 1;
        assert!(guard < 10_000_000, "no progress");
        if pushed < total {
            let len = if rng.below(4) == 0 {
                rng.below(565)
            } else {
                rng.below(40)
            };
            if push_record(&mut tp, len) {
                pushed += 1;
            }
        }
        match sink.drain_ready(&mut tc, &mut w, 1 + rng.below(4)) {
            Ok(_) | Err(SinkError::Write(ErrorKind::TimedOut)) => {}
            Err(e) => panic!("{e:?}"),
        }
        r.data.append(&mut w.out);
        for _ in 0..rng.below(4) {
            match source.poll_ready(&mut r, &mut rp) {
                Ok(Polled::Frame(got)) => {
                    assert_eq!(got.header.seq, arrived);
                    assert_eq!(got.ring_seq, arrived);
                    arrived += 1;
                }
                Ok(Polled::Pending | Polled::RingFull) => {}
                Ok(Polled::End) => panic!("a live reader never ends"),
                Err(SourceError::Read(ErrorKind::Interrupted)) => {}
                Err(e) => panic!("{e:?}"),
            }
            if rng.below(2) == 0 {
                while let Some(rec) = rc.read() {
                    assert_eq!(rec.seq(), received);
                    check_record(rec.header(), rec.payload(), received);
                    received += 1;
                }
            }
        }
    }
    assert_eq!(source.stats().errors, 0);
    assert_eq!(source.stats().frames, total);
    assert_eq!(source.stats().skipped_bytes, 0);
    assert_eq!(sink.stats().frames, total);
}

#[test]
fn round_trip_one_byte_reads_to_end() {
    let lens = [0_usize, 1, 988, 5, 300, 0];
    let stream: Vec<u8> = lens
        .iter()
        .enumerate()
        .flat_map(|(i, l)| frame(i as u64, *l))
        .collect();
    let mut r = TestReader::new(stream, 1, 1);
    let (events, stats) = run_source(&mut r);
    assert_eq!(events, (0..6).map(Ev::Frame).collect::<Vec<_>>());
    assert_eq!(stats.frames, 6);
}

#[test]
fn garbage_between_frames_is_reported_once_per_run() {
    let mut rng = Rng(5);
    let mut stream = Vec::new();
    let mut runs = 0;
    let mut garbage = 0;
    let frames = scale(200);
    for seq in 0..frames {
        if rng.below(3) == 0 {
            let n = 1 + rng.below(80);
            runs += 1;
            garbage += n;
            for _ in 0..n {
                // Includes sync-word fragments to make resync work harder.
                let b = match rng.below(6) {
                    0 => 0xFE,
                    1 => b'R',
                    _ => rng.next() as u8,
                };
                stream.push(b);
            }
        }
        stream.extend_from_slice(&frame(seq, rng.below(100)));
    }
    for max_chunk in [1, 7, 1000] {
        let mut r = TestReader::new(stream.clone(), max_chunk as u64, max_chunk);
        r.transient_one_in = 10;
        let (events, stats) = run_source(&mut r);
        let seqs: Vec<u64> = events
            .iter()
            .filter_map(|e| if let Ev::Frame(s) = e { Some(*s) } else { None })
            .collect();
        assert_eq!(seqs, (0..frames).collect::<Vec<_>>());
        let errs: Vec<_> = events.iter().filter(|e| matches!(e, Ev::Err(_))).collect();
        assert_eq!(errs.len(), runs, "chunk {max_chunk}");
        assert!(
            errs.iter()
                .all(|e| matches!(e, Ev::Err(SourceError::Garbage { skipped }) if *skipped > 0))
        );
        assert_eq!(stats.skipped_bytes, garbage as u64);
        assert_eq!(stats.errors, runs as u64);
    }
    if cfg!(miri) {
        return;
    }
    // With the whole run in one read, the reported count is the run's length.
    let mut r = TestReader::new([&[1_u8, 2, 3][..], &frame(0, 4)].concat(), 1, 1000);
    let (events, _) = run_source(&mut r);
    assert_eq!(
        events,
        [Ev::Err(SourceError::Garbage { skipped: 3 }), Ev::Frame(0)]
    );
}

/// What a flipped bit at `byte` of a frame with a `len`-byte payload must report.
fn expected_flip_error(byte: usize, len: usize, seq: u64) -> SourceError<ErrorKind> {
    if byte < HEADER_OFFSET {
        SourceError::Garbage {
            skipped: usize::MAX, // checked separately: any count
        }
    } else if byte < PAYLOAD_OFFSET {
        SourceError::HeaderChecksum
    } else {
        assert!(byte < wire_len(len));
        SourceError::Checksum { seq }
    }
}

#[test]
fn every_bit_flip_is_reported_once_and_the_next_frame_recovered() {
    let (a, b, c) = (frame(0, 10), frame(1, 21), frame(2, 7));
    let step = if cfg!(miri) { 5 } else { 1 };
    for bit in (0..b.len() * 8).step_by(step) {
        let mut bad = b.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let stream = [&a[..], &bad, &c].concat();
        for max_chunk in [1000, 3] {
            let mut r = TestReader::new(stream.clone(), bit as u64, max_chunk);
            let (events, stats) = run_source(&mut r);
            assert_eq!(events.len(), 3, "bit {bit}: {events:?}");
            assert_eq!(events[0], Ev::Frame(0));
            assert_eq!(events[2], Ev::Frame(2));
            let want = expected_flip_error(bit / 8, 21, 1);
            match (&events[1], want) {
                (Ev::Err(SourceError::Garbage { skipped }), SourceError::Garbage { .. }) => {
                    assert!(*skipped > 0);
                }
                (Ev::Err(got), want) => assert_eq!(*got, want, "bit {bit}"),
                (other, _) => panic!("bit {bit}: {other:?}"),
            }
            assert_eq!(stats.skipped_bytes, b.len() as u64, "bit {bit}");
        }
    }
}

#[test]
fn truncation_at_every_length() {
    let (a, b, c) = (frame(0, 10), frame(1, 50), frame(2, 3));
    for cut in 0..b.len() {
        // The pure decoder says truncated, never panics.
        assert!(
            matches!(decode_frame(&b[..cut], 1024), Err(WireError::Truncated { available, .. }) if available == cut),
            "cut {cut}"
        );
        // At the end of the stream.
        let mut r = TestReader::new([&a[..], &b[..cut]].concat(), cut as u64, 1000);
        let (events, stats) = run_source(&mut r);
        let expect_err = if cut == 0 {
            None
        } else if cut < PAYLOAD_OFFSET {
            Some(SourceError::Truncated {
                needed: PAYLOAD_OFFSET,
                available: cut,
            })
        } else {
            Some(SourceError::Truncated {
                needed: b.len(),
                available: cut,
            })
        };
        let mut want = std::vec![Ev::Frame(0)];
        want.extend(expect_err.map(Ev::Err));
        assert_eq!(events, want, "cut {cut}");
        assert_eq!(stats.skipped_bytes, cut as u64);

        // In the middle of the stream: one error, then the next frame.
        let mut r = TestReader::new([&a[..], &b[..cut], &c].concat(), cut as u64, 1000);
        let (events, stats) = run_source(&mut r);
        assert_eq!(events.first(), Some(&Ev::Frame(0)));
        assert_eq!(events.last(), Some(&Ev::Frame(2)));
        assert_eq!(
            events.len(),
            if cut == 0 { 2 } else { 3 },
            "cut {cut}: {events:?}"
        );
        assert_eq!(stats.skipped_bytes, cut as u64);
    }
}

#[test]
fn huge_lengths_are_rejected_without_waiting() {
    let good = frame(1, 4);
    for len in [989_u32, 1 << 20, u32::MAX] {
        // A header that really says `len` (valid header checksum)...
        let mut h = header(0, 0);
        h.len = len;
        let mut bad = [0_u8; PAYLOAD_OFFSET];
        bad.copy_from_slice(&frame_prefix(&h));
        assert_eq!(
            decode_frame(&bad, 988).err(),
            Some(WireError::TooLong { len, max: 988 })
        );
        let mut r = TestReader::new([&bad[..], &good].concat(), 1, 1000);
        let (events, _) = run_source(&mut r);
        assert_eq!(
            events,
            [
                Ev::Err(SourceError::TooLong { len, max: 988 }),
                Ev::Frame(1)
            ]
        );
        // ...and one whose length bits were damaged (header checksum catches it).
        let mut flipped = frame(0, 4);
        flipped[HEADER_OFFSET + crate::frame::LEN_OFFSET + 3] = 0xFF;
        let mut r = TestReader::new([&flipped[..], &good].concat(), 1, 1000);
        let (events, _) = run_source(&mut r);
        assert_eq!(events, [Ev::Err(SourceError::HeaderChecksum), Ev::Frame(1)]);
    }
    // The largest payload the buffer takes is accepted.
    let mut r = TestReader::new(frame(0, 988), 1, 1000);
    assert_eq!(run_source(&mut r).0, [Ev::Frame(0)]);
}

#[test]
fn ring_limit_applies_when_smaller_than_the_buffer() {
    let ring = Ring::<128>::new(); // MAX_PAYLOAD 40
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<1024>::new();
    let mut input = &[frame(0, 41), frame(1, 40)].concat()[..];
    assert_eq!(
        source.poll(&mut input, &mut p),
        Err(SourceError::TooLong { len: 41, max: 40 })
    );
    assert!(matches!(
        source.poll(&mut input, &mut p),
        Ok(Polled::Frame(Received { ring_seq: 0, .. }))
    ));
    let rec = c.read().unwrap();
    assert_eq!(rec.seq(), 0);
    check_record(rec.header(), rec.payload(), 1);
}

#[test]
fn ring_full_keeps_the_frame_for_later() {
    let ring = Ring::<256>::new(); // two 60-byte records fill it
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<256>::new();
    let stream = [frame(0, 80), frame(1, 80), frame(2, 80)].concat();
    let mut input = &stream[..];
    let mut got = Vec::new();
    let mut fulls = 0;
    loop {
        match source.poll(&mut input, &mut p).unwrap() {
            Polled::Frame(r) => got.push(r.header.seq),
            Polled::RingFull => {
                fulls += 1;
                let rec = c.read().unwrap();
                check_record(rec.header(), rec.payload(), rec.seq());
            }
            Polled::End => break,
            Polled::Pending => unreachable!(),
        }
    }
    assert_eq!(got, [0, 1, 2]);
    assert!(fulls >= 1);
    assert_eq!(source.stats().errors, 0);
}

#[test]
fn source_reads_on_after_end_of_stream() {
    let ring = Ring::<1024>::new();
    let (mut p, _c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<256>::new();
    let mut r = TestReader::new(frame(0, 5), 1, 1000);
    assert!(matches!(source.poll(&mut r, &mut p), Ok(Polled::Frame(_))));
    assert_eq!(source.poll(&mut r, &mut p), Ok(Polled::End));
    r.data.extend_from_slice(&frame(1, 6));
    let Ok(Polled::Frame(got)) = source.poll(&mut r, &mut p) else {
        panic!()
    };
    assert_eq!((got.header.seq, got.header.len), (1, 6));
}

#[test]
fn read_errors_are_returned_and_lose_nothing() {
    let stream = [frame(0, 30), frame(1, 30)].concat();
    let mut r = TestReader::new(stream, 3, 4);
    r.transient_one_in = 2;
    let ring = Ring::<1024>::new();
    let (mut p, _c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<128>::new();
    let (mut frames, mut errors) = (0, 0);
    loop {
        match source.poll(&mut r, &mut p) {
            Ok(Polled::Frame(_)) => frames += 1,
            Ok(Polled::End) => break,
            Err(SourceError::Read(ErrorKind::Interrupted)) => errors += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(frames, 2);
    assert!(errors > 0);
}

#[test]
fn random_bytes_and_mangled_streams_never_panic() {
    let mut rng = Rng(1234);
    let rounds = if cfg!(miri) { 4 } else { 300 };
    for round in 0..rounds {
        let mut stream: Vec<u8> = Vec::new();
        for seq in 0..5 {
            stream.extend_from_slice(&frame(seq, rng.below(200)));
        }
        // Mangle: flips, cuts, inserted noise, duplicated ranges.
        for _ in 0..rng.below(6) {
            let at = rng.below(stream.len());
            match rng.below(4) {
                0 => stream[at] ^= 1 << rng.below(8),
                1 => stream.truncate(at),
                2 => {
                    for _ in 0..rng.below(20) {
                        stream.insert(at, rng.next() as u8);
                    }
                }
                _ => {
                    let end = (at + rng.below(64)).min(stream.len());
                    let dup = stream[at..end].to_vec();
                    stream.splice(at..at, dup);
                }
            }
            if stream.is_empty() {
                break;
            }
        }
        if round % 10 == 0 {
            stream = (0..rng.below(3000)).map(|_| rng.next() as u8).collect();
        }
        let mut r = TestReader::new(stream.clone(), round, 1 + rng.below(300));
        // Every frame that comes out passed both checksums and matches its pattern
        // (checked in run_source); the stream is fully consumed.
        let (_, stats) = run_source(&mut r);
        assert!(stats.skipped_bytes <= stream.len() as u64);
        assert_eq!(r.pos, stream.len());
    }
}

#[test]
fn next_sync_candidate_finds_prefixes() {
    assert_eq!(next_sync_candidate(b"abc"), 3);
    assert_eq!(next_sync_candidate(&[1, 0xFE]), 1);
    assert_eq!(
        next_sync_candidate(&[1, 0xFE, b'R', b'X', 0xFE, b'R', b'C', b'1']),
        4
    );
    assert_eq!(next_sync_candidate(&[0xFE, b'R', b'C', b'1']), 4, "never 0");
    assert_eq!(next_sync_candidate(&[]), 0);
}
