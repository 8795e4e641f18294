//! The submit queue: a ringcore [`HeapRing`] in raw mode whose records are the log's
//! on-disk records, byte for byte (frame header, CRC32C, reserved word, payload, zero
//! padding: [`crate::format::record`]). The producer builds each record in ring memory
//! and computes its CRC there; the writer thread walks the headers and hands ring ranges
//! to the backend as they are, so persisting a record copies it only into the page cache
//! (or the backend's own stage).
//!
//! The ring's capacity is chosen at run time, and the two handles own the ring together
//! (`split_owned`): no `unsafe` here.

use ringcore::frame::{FrameHeader, HEADER_LEN, LEN_OFFSET, SEQ_OFFSET, TIMESTAMP_OFFSET};
use ringcore::spsc::{CapacityError, HeapConsumer, HeapProducer, HeapRing, PushError, RawRange};

use crate::clock::RecordClock;
use crate::format::record::{PAYLOAD_OFFSET, PREFIX_LEN};
use crate::format::{disk_record_len, finish_record};

/// Metadata of an appended record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordMeta {
    /// Application-defined kind.
    pub kind: u16,
    /// Application-defined flags.
    pub flags: u16,
    /// Timestamp in ns since the Unix epoch, stored as given; `None` lets the log stamp
    /// the record (never earlier than the stamps it assigned before, in this log).
    pub timestamp_ns: Option<u64>,
}

/// The producing half; not `Sync` (the writer keeps it behind a mutex, or an
/// [`Appender`](super::Appender) owns it).
pub(crate) struct QueueProducer {
    handle: HeapProducer,
    next_seq: u64,
    /// The latest stamp this log assigned (or recovered): assigned stamps never go below.
    last_ts: u64,
}

/// The consuming half, owned by the writer thread.
pub(crate) struct QueueConsumer {
    handle: HeapConsumer,
    capacity: usize,
}

impl std::fmt::Debug for QueueProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProducer")
            .field("next_seq", &self.next_seq)
            .field("last_ts", &self.last_ts)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for QueueConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConsumer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The largest payload a queue of `capacity` bytes takes: a record is at most half the
/// ring.
pub(crate) fn max_payload(capacity: usize) -> usize {
    (capacity / 2).saturating_sub(PREFIX_LEN)
}

/// Creates a queue of `capacity` bytes (a power of two, 64 to 2^31) whose records are
/// numbered from `first_seq` and stamped no earlier than `last_ts`.
pub(crate) fn queue(
    capacity: usize,
    first_seq: u64,
    last_ts: u64,
) -> Result<(QueueProducer, QueueConsumer), CapacityError> {
    let (p, c) = HeapRing::split_owned(capacity, first_seq)?;
    Ok((
        QueueProducer {
            handle: p,
            next_seq: first_seq,
            last_ts,
        },
        QueueConsumer {
            handle: c,
            capacity,
        },
    ))
}

impl QueueProducer {
    /// Reserves a record for a payload of `len` bytes, lets `fill` write the payload in
    /// place, stamps, checksums and publishes it; returns its sequence. `timestamp_ns`
    /// `None` stamps it with `clock` (never below an earlier assigned stamp).
    #[inline]
    pub(crate) fn push_with(
        &mut self,
        len: usize,
        meta: RecordMeta,
        clock: &RecordClock,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<u64, PushError> {
        let rec_len = disk_record_len(len);
        let max = max_payload(self.handle.capacity());
        let len32 = match u32::try_from(len) {
            Ok(l) if len <= max => l,
            _ => return Err(PushError::TooLarge { len, max }),
        };
        let mut g = self.handle.grant_raw(rec_len)?;
        let rec = g.bytes_mut();
        // `grant_raw` rounds to 8, as `disk_record_len` does: the slice is the record.
        debug_assert_eq!(rec.len(), rec_len);
        fill(&mut rec[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len]);
        let ts = match meta.timestamp_ns {
            Some(t) => t,
            None => {
                let t = clock.now().max(self.last_ts);
                self.last_ts = t;
                t
            }
        };
        let seq = self.next_seq;
        finish_record(
            rec,
            &FrameHeader {
                seq,
                timestamp_ns: ts,
                len: len32,
                kind: meta.kind,
                flags: meta.flags,
            },
        );
        g.commit();
        self.next_seq = seq.wrapping_add(1);
        Ok(seq)
    }

    /// The sequence the next record gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// What the writer thread needs of a record's header while walking a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walked {
    pub seq: u64,
    pub timestamp_ns: u64,
    /// Bytes of the whole record.
    pub rec_len: usize,
}

/// The header of the record at `off` in `bytes` (a taken range). The producer
/// published only whole records it built, so the header is well formed; a record that
/// would run past the range is a bug, and panics (the writer thread turns a panic into
/// a fail-stop).
#[inline]
pub(crate) fn header_at(bytes: &[u8], off: usize) -> Walked {
    let h: &[u8; HEADER_LEN] = bytes[off..off + HEADER_LEN]
        .try_into()
        .expect("a whole header");
    let u64_at = |i: usize| {
        u64::from_le_bytes([
            h[i],
            h[i + 1],
            h[i + 2],
            h[i + 3],
            h[i + 4],
            h[i + 5],
            h[i + 6],
            h[i + 7],
        ])
    };
    let len = u32::from_le_bytes([
        h[LEN_OFFSET],
        h[LEN_OFFSET + 1],
        h[LEN_OFFSET + 2],
        h[LEN_OFFSET + 3],
    ]) as usize;
    let rec_len = disk_record_len(len);
    assert!(
        rec_len <= bytes.len() - off,
        "a record runs past its ring range"
    );
    Walked {
        seq: u64_at(SEQ_OFFSET),
        timestamp_ns: u64_at(TIMESTAMP_OFFSET),
        rec_len,
    }
}

impl QueueConsumer {
    /// Takes the next contiguous range of published records (never a wrap gap).
    #[inline]
    pub(crate) fn take(&mut self) -> Option<RawRange> {
        self.handle.take_raw()
    }

    /// The bytes of a range taken and not released.
    #[inline]
    pub(crate) fn bytes(&self, range: &RawRange) -> &[u8] {
        self.handle
            .raw_bytes(range)
            .expect("the writer only asks for ranges it holds")
    }

    /// Gives back every byte up to the end of `range`.
    #[inline]
    pub(crate) fn release(&mut self, range: &RawRange) {
        let released = self.handle.release_raw(range);
        debug_assert!(released, "released a range not held");
    }

    /// Bytes published and not yet released (taken or not).
    pub(crate) fn pending_bytes(&self) -> usize {
        self.handle.pending_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::decode_record;

    #[test]
    fn ring_ranges_are_on_disk_records_across_threads() {
        let clock = RecordClock::starting_at(0);
        let (mut p, mut c) = queue(1024, 7, 0).unwrap();
        let n = if cfg!(miri) { 60 } else { 5000 };
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u64;
                while i < n {
                    let meta = RecordMeta {
                        kind: 1,
                        flags: 2,
                        // Miri's isolation refuses the system clock: there every
                        // record carries its caller's stamp.
                        timestamp_ns: (cfg!(miri) || !i.is_multiple_of(3)).then_some(i),
                    };
                    match p.push_with((i % 40) as usize, meta, &clock, |b| b.fill(i as u8)) {
                        Ok(seq) => {
                            assert_eq!(seq, 7 + i);
                            i += 1;
                        }
                        Err(PushError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            let mut expect = 7u64;
            let mut last_stamp = 0;
            while expect < 7 + n {
                let Some(r) = c.take() else {
                    std::thread::yield_now();
                    continue;
                };
                let mut off = 0;
                while off < r.len() {
                    let w = header_at(c.bytes(&r), off);
                    let rec = decode_record(&c.bytes(&r)[off..off + w.rec_len]).unwrap();
                    assert_eq!((rec.seq(), w.seq), (expect, expect));
                    assert_eq!((rec.header.kind, rec.header.flags), (1, 2));
                    let i = expect - 7;
                    if cfg!(miri) || !i.is_multiple_of(3) {
                        assert_eq!(rec.timestamp_ns(), i, "caller stamps are kept");
                    } else {
                        assert!(
                            rec.timestamp_ns() >= last_stamp,
                            "log stamps never decrease"
                        );
                        last_stamp = rec.timestamp_ns();
                    }
                    assert!(rec.payload.iter().all(|&x| x == i as u8));
                    off += w.rec_len;
                    expect += 1;
                }
                c.release(&r);
            }
        });
        assert_eq!(p.next_seq(), 7 + n);
        assert_eq!(c.pending_bytes(), 0);
    }

    #[test]
    fn largest_record_fills_half_the_ring_and_larger_is_refused() {
        let clock = RecordClock::starting_at(0);
        let cap = if cfg!(miri) { 1 << 12 } else { 1 << 22 };
        let (mut p, mut c) = queue(cap, 0, 0).unwrap();
        let max = max_payload(cap);
        assert_eq!(disk_record_len(max), cap / 2);
        let given = RecordMeta {
            timestamp_ns: Some(1),
            ..RecordMeta::default()
        };
        assert_eq!(
            p.push_with(max + 1, given, &clock, |_| {}),
            Err(PushError::TooLarge { len: max + 1, max })
        );
        assert_eq!(p.push_with(max, given, &clock, |b| b.fill(9)), Ok(0));
        let r = c.take().unwrap();
        let rec = decode_record(c.bytes(&r)).unwrap();
        assert_eq!(rec.payload.len(), max);
        assert!(rec.payload.iter().all(|&x| x == 9));
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "reads the system clock, which Miri's isolation refuses"
    )]
    fn assigned_stamps_start_at_the_seed() {
        let clock = RecordClock::new();
        let future = crate::clock::now_ns() + 3_600_000_000_000;
        let (mut p, mut c) = queue(256, 0, future).unwrap();
        p.push_with(1, RecordMeta::default(), &clock, |b| b[0] = 1)
            .unwrap();
        let r = c.take().unwrap();
        assert_eq!(header_at(c.bytes(&r), 0).timestamp_ns, future);
    }
}
