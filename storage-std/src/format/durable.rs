//! The `DURABLE` file: where a running writer publishes how far its records are durable,
//! for readers and the verifier in other processes. It is rewritten in place (one 64-byte
//! write) each time the durable watermark moves and never synced: it only means
//! something while the writer that wrote it holds the directory's lock, and is ignored
//! otherwise. A reader that finds its checksum wrong (a read racing the write) reads it
//! again.
//!
//! ```text
//!  0       8       12      16        24            32        40    44     48          56     60
//!  | magic |version| flags | segment | records_end | next_seq| pid | rsvd | updated_ns | rsvd |crc32c|
//! ```

use super::checks::{StructError, check_struct, invalid, le_u32, le_u64, put_u32, put_u64};

/// Magic bytes of the `DURABLE` file.
pub const MAGIC: [u8; 8] = *b"RINGLDUR";
/// Version of the `DURABLE` file.
pub const VERSION: u32 = 1;
/// Offset of the magic.
pub const MAGIC_OFFSET: usize = 0;
/// Offset of the version (u32).
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
/// Offset of the flags (u32, zero).
pub const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
/// Offset of the active segment's base sequence (u64).
pub const SEGMENT_OFFSET: usize = FLAGS_OFFSET + 4;
/// Offset of the end of the durable records in that segment (u64).
pub const RECORDS_END_OFFSET: usize = SEGMENT_OFFSET + 8;
/// Offset of the sequence after the last durable one (u64).
pub const NEXT_SEQ_OFFSET: usize = RECORDS_END_OFFSET + 8;
/// Offset of the writer's process id (u32; for people, never trusted).
pub const PID_OFFSET: usize = NEXT_SEQ_OFFSET + 8;
/// Offset of a reserved word (zero).
pub const RESERVED1_OFFSET: usize = PID_OFFSET + 4;
/// Offset of the time of the update (u64, ns since the Unix epoch).
pub const UPDATED_OFFSET: usize = RESERVED1_OFFSET + 4;
/// Offset of a reserved word (zero).
pub const RESERVED2_OFFSET: usize = UPDATED_OFFSET + 8;
/// Offset of the CRC32C of every byte before it.
pub const CRC_OFFSET: usize = RESERVED2_OFFSET + 4;
/// Length of the file.
pub const LEN: usize = CRC_OFFSET + 4;

const _: () = assert!(LEN == 64);

/// A running writer's durable point: every record of segment `segment` before
/// `records_end`, and every sequence below `next_seq`, is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DurablePoint {
    /// Base sequence of the segment the writer appends to.
    pub segment: u64,
    /// End of the durable records in that segment.
    pub records_end: u64,
    /// One past the last durable sequence.
    pub next_seq: u64,
    /// The writer's process id.
    pub pid: u32,
    /// When it was published (ns since the Unix epoch).
    pub updated_ns: u64,
}

impl DurablePoint {
    /// Encodes the file.
    ///
    /// ```
    /// use storage_std::format::DurablePoint;
    /// let d = DurablePoint { segment: 100, records_end: 4096, next_seq: 150, pid: 7, updated_ns: 1 };
    /// assert_eq!(DurablePoint::decode(&d.encode()), Ok(d));
    /// ```
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(&MAGIC);
        put_u32(&mut b, VERSION_OFFSET, VERSION);
        put_u64(&mut b, SEGMENT_OFFSET, self.segment);
        put_u64(&mut b, RECORDS_END_OFFSET, self.records_end);
        put_u64(&mut b, NEXT_SEQ_OFFSET, self.next_seq);
        put_u32(&mut b, PID_OFFSET, self.pid);
        put_u64(&mut b, UPDATED_OFFSET, self.updated_ns);
        let crc = crc32c::crc32c(&b[..CRC_OFFSET]);
        put_u32(&mut b, CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks the file.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let (b, _) = check_struct(buf, LEN, &MAGIC, 1..=VERSION)?;
        if le_u32(b, FLAGS_OFFSET) != 0
            || le_u32(b, RESERVED1_OFFSET) != 0
            || le_u32(b, RESERVED2_OFFSET) != 0
        {
            return Err(invalid("non-zero reserved bytes"));
        }
        Ok(Self {
            segment: le_u64(b, SEGMENT_OFFSET),
            records_end: le_u64(b, RECORDS_END_OFFSET),
            next_seq: le_u64(b, NEXT_SEQ_OFFSET),
            pid: le_u32(b, PID_OFFSET),
            updated_ns: le_u64(b, UPDATED_OFFSET),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::checks::bits;

    #[test]
    fn every_bit_flip_is_detected() {
        let d = DurablePoint {
            segment: 5,
            records_end: 1000,
            next_seq: 9,
            pid: 42,
            updated_ns: 77,
        };
        let b = d.encode();
        assert_eq!(DurablePoint::decode(&b), Ok(d));
        for bit in bits(b.len()) {
            let mut x = b;
            x[bit / 8] ^= 1 << (bit % 8);
            assert!(DurablePoint::decode(&x).is_err(), "bit {bit}");
        }
        assert!(DurablePoint::decode(&b[..40]).is_err());
    }
}
