//! Tests of the wire format, the sink and the source: every length, every short write
//! and readiness pattern, damage of every kind. This file holds what they share: test
//! writers and readers, frames and records of known contents, deterministic randomness.

use super::source::next_sync_candidate;
use super::wire::{CRC32C, frame_prefix};
use super::*;
use crate::frame::FrameHeader;
use crate::spsc::record_len;
use crate::spsc::{self, Ring};
use embedded_io::{ErrorKind, ErrorType};
use embedded_io::{Read, ReadReady, Write, WriteReady};
use std::vec::Vec;

mod sink;
mod source;
mod wire;

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
                check_record(&r.header(), r.payload(), got.header.seq);
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

/// Loop counts, scaled down under Miri.
fn scale(n: u64) -> u64 {
    if cfg!(miri) { (n / 40).max(10) } else { n }
}
