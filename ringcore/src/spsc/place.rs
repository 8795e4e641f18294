//! The placement arithmetic of the ring, as pure functions of cursor positions: how many
//! bytes a record takes, where the producer may write without looking at the consumer,
//! where the next record goes (and whether it skips to the next lap), and which bytes the
//! consumer may read in one contiguous range. The handles only touch the bytes these
//! functions proved free or published.
//!
//! Positions grow without bound (wrapping at `usize::MAX`, which every capacity, a power
//! of two, divides); a buffer offset is `pos & (capacity - 1)`. A *lap* is the span of
//! positions between two multiples of the capacity.

use crate::frame::RECORD_ALIGN;

/// A framed record's header as it lies in the ring: 16 bytes, little-endian, length
/// first so the consumer finds the next record with one 4-byte load. It is not the log's
/// 24-byte [`FrameHeader`](crate::frame::FrameHeader): the sequence is not stored, both
/// handles count records instead (a byte of ring per byte of payload is what crosses
/// between the cores, so every header byte costs throughput).
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy)]
pub(super) struct RingHeader {
    /// Payload length in bytes.
    pub(super) len: u32,
    /// The caller's record kind.
    pub(super) kind: u16,
    /// The caller's flags.
    pub(super) flags: u16,
    /// Nanoseconds, as the producer set them (0 when unset).
    pub(super) timestamp_ns: u64,
}

/// Bytes of a framed record's in-ring header ([`RingHeader`]).
pub(super) const HEADER_LEN: usize = core::mem::size_of::<RingHeader>();
/// Byte offset of the payload length in a [`RingHeader`].
pub(super) const LEN_OFFSET: usize = 0;
const _: () = assert!(HEADER_LEN == 16 && core::mem::align_of::<RingHeader>() == RECORD_ALIGN);

impl RingHeader {
    /// The header with every field in little-endian byte order (its bytes in the ring).
    #[inline(always)]
    pub(super) fn to_le(self) -> Self {
        Self {
            len: self.len.to_le(),
            kind: self.kind.to_le(),
            flags: self.flags.to_le(),
            timestamp_ns: self.timestamp_ns.to_le(),
        }
    }

    /// The inverse of [`RingHeader::to_le`]: the header as read from the ring, in native byte order.
    #[inline(always)]
    pub(super) fn to_native(self) -> Self {
        Self {
            len: u32::from_le(self.len),
            kind: u16::from_le(self.kind),
            flags: u16::from_le(self.flags),
            timestamp_ns: u64::from_le(self.timestamp_ns),
        }
    }

    /// The full header of the record numbered `seq`.
    #[inline(always)]
    pub(super) fn with_seq(self, seq: u64) -> crate::frame::FrameHeader {
        crate::frame::FrameHeader {
            seq,
            timestamp_ns: self.timestamp_ns,
            len: self.len,
            kind: self.kind,
            flags: self.flags,
        }
    }
}

/// Rounds `len` up to [`RECORD_ALIGN`]; `len` is at most half a ring, so no overflow.
#[inline(always)]
pub(super) const fn align(len: usize) -> usize {
    (len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Bytes a framed record with a payload of `len` bytes takes (`len` at most half a ring).
#[inline(always)]
pub(super) const fn framed_len(len: usize) -> usize {
    align(len + HEADER_LEN)
}

/// The end of the lap `pos` is in (the next multiple of `capacity` above `pos`).
#[inline(always)]
pub(super) const fn lap_end(pos: usize, capacity: usize) -> usize {
    pos.wrapping_add(capacity - (pos & (capacity - 1)))
}

/// How far the producer at `write` may write without rereading the consumer's cursor,
/// given `read`, the consumer's released position it last loaded: the nearer of the end
/// of the free space and the end of the lap. A record that would reach this position goes
/// through [`place`] (strictly below it, it fits where it stands).
#[inline(always)]
pub(super) const fn stop(write: usize, read: usize, capacity: usize) -> usize {
    let free_end = read.wrapping_add(capacity);
    let lap = lap_end(write, capacity);
    if free_end.wrapping_sub(write) < lap.wrapping_sub(write) {
        free_end
    } else {
        lap
    }
}

/// Where a record of `rec` bytes goes when the producer stands at `write` and the consumer
/// has released up to `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// Not enough free space now.
    Full,
    /// At `write + skip`: `skip` is 0 when the record fits before the end of the lap,
    /// otherwise the bytes left in the lap (the wrap gap), and the record starts the next.
    At {
        /// Bytes skipped before the record.
        skip: usize,
        /// Whether the record (or the gap) reaches the end of the lap: the producer then
        /// records where this lap's data ends before publishing past it.
        crosses: bool,
    },
}

/// Places a record of `rec` bytes (`0 < rec <= capacity / 2`). Since the gap is shorter
/// than the record, gap plus record is less than the capacity: in an empty ring every
/// record fits, wherever the cursors stand (no dead zone).
#[inline]
pub(super) const fn place(write: usize, read: usize, capacity: usize, rec: usize) -> Placement {
    let contiguous = capacity - (write & (capacity - 1));
    let (skip, needed) = if rec <= contiguous {
        (0, rec)
    } else {
        (contiguous, contiguous + rec)
    };
    let used = write.wrapping_sub(read);
    if capacity - used < needed {
        return Placement::Full;
    }
    Placement::At {
        skip,
        crosses: rec >= contiguous,
    }
}

/// The contiguous range the consumer may read next, from `pos`, when the producer has
/// published up to `limit` (`pos != limit`) and, if the published range reaches the end of
/// `pos`'s lap, that lap's data ends at `data_end()` (read only then: it is an atomic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Readable {
    /// `pos` stands at this lap's wrap gap: the next data starts at the next lap.
    Gap {
        /// The next lap's start.
        next: usize,
    },
    /// `pos..end` holds whole records, contiguous in the buffer.
    Until {
        /// The end of the range.
        end: usize,
    },
}

/// See [`Readable`]. A `data_end` that is not in `pos..=lap end` (impossible while the
/// protocol holds) is clamped so the range never leaves the published bytes of this lap.
#[inline(always)]
pub(super) fn readable(
    pos: usize,
    limit: usize,
    capacity: usize,
    data_end: impl FnOnce() -> usize,
) -> Readable {
    let avail = limit.wrapping_sub(pos);
    let to_lap_end = capacity - (pos & (capacity - 1));
    if avail < to_lap_end {
        return Readable::Until { end: limit };
    }
    let in_lap = data_end().wrapping_sub(pos);
    if in_lap == 0 {
        return Readable::Gap {
            next: pos.wrapping_add(to_lap_end),
        };
    }
    let in_lap = if in_lap < to_lap_end {
        in_lap
    } else {
        to_lap_end
    };
    Readable::Until {
        end: pos.wrapping_add(in_lap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lengths_round_to_eight() {
        assert_eq!(
            [framed_len(0), framed_len(1), framed_len(8), framed_len(64)],
            [16, 24, 24, 80]
        );
        assert_eq!([align(0), align(1), align(8), align(9)], [0, 8, 8, 16]);
    }

    #[test]
    fn stop_is_the_nearer_of_free_end_and_lap_end() {
        // Empty ring at offset 16: the lap ends first.
        assert_eq!(stop(16, 16, 128), 128);
        // 100 bytes used from offset 0: free space ends at read + 128.
        assert_eq!(stop(100, 0, 128), 128);
        assert_eq!(stop(100, 40, 128), 128);
        assert_eq!(stop(140, 40, 128), 168);
        // Full ring: nothing may be written.
        assert_eq!(stop(168, 40, 128), 168);
        // Across the wrap of usize.
        let w = usize::MAX - 7;
        assert_eq!(stop(w, w, 128), 0);
    }

    #[test]
    fn placement_skips_the_tail_only_when_needed() {
        assert_eq!(
            place(0, 0, 128, 64),
            Placement::At {
                skip: 0,
                crosses: false
            }
        );
        assert_eq!(
            place(64, 0, 128, 64),
            Placement::At {
                skip: 0,
                crosses: true
            }
        );
        assert_eq!(place(64, 0, 128, 72), Placement::Full);
        assert_eq!(
            place(104, 40, 128, 40),
            Placement::At {
                skip: 24,
                crosses: true
            }
        );
        assert_eq!(place(104, 39, 128, 40), Placement::Full);
    }

    #[test]
    fn no_dead_zone_for_any_offset_and_size() {
        // In an empty ring, any record of at most half the capacity fits wherever the
        // cursors stand, and the gap plus the record stays inside one lap and the next.
        for cap in [64usize, 128, 1024] {
            for start in (0..3 * cap).step_by(8) {
                for rec in (8..=cap / 2).step_by(8) {
                    let Placement::At { skip, crosses } = place(start, start, cap, rec) else {
                        panic!("cap {cap} start {start} rec {rec}: full in an empty ring");
                    };
                    let off = (start + skip) % cap;
                    assert!(off + rec <= cap, "record leaves the buffer");
                    assert_eq!(crosses, off + rec == cap || skip > 0);
                    assert!(skip + rec < cap);
                }
            }
        }
    }

    #[test]
    fn data_end_is_the_lap_end_less_the_gap() {
        // The producer stores `lap_end - skip` as where a crossed lap's data ends: the
        // gap's start when the record skips to the next lap, the record's end (the lap's
        // end) when it ends exactly there.
        for cap in [64usize, 128, 1024] {
            for start in (0..3 * cap)
                .step_by(8)
                .chain([usize::MAX - 7, usize::MAX - 63])
            {
                for rec in (8..=cap / 2).step_by(8) {
                    let Placement::At {
                        skip,
                        crosses: true,
                    } = place(start, start, cap, rec)
                    else {
                        continue;
                    };
                    let expected = if skip > 0 {
                        start
                    } else {
                        start.wrapping_add(rec)
                    };
                    assert_eq!(lap_end(start, cap).wrapping_sub(skip), expected);
                }
            }
        }
    }

    #[test]
    fn readable_range_stops_at_the_gap_and_the_lap_end() {
        // Inside one lap: everything published.
        assert_eq!(
            readable(8, 40, 128, || unreachable!()),
            Readable::Until { end: 40 }
        );
        // Published past the lap end with a gap starting at 104.
        assert_eq!(readable(8, 160, 128, || 104), Readable::Until { end: 104 });
        assert_eq!(readable(104, 160, 128, || 104), Readable::Gap { next: 128 });
        // Exactly to the lap end, no gap.
        assert_eq!(readable(64, 128, 128, || 128), Readable::Until { end: 128 });
        // A nonsense data end never widens the range past the lap.
        assert_eq!(
            readable(64, 200, 128, || 5000),
            Readable::Until { end: 128 }
        );
        assert_eq!(readable(64, 200, 128, || 3), Readable::Until { end: 128 });
    }
}
