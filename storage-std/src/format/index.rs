//! Index files: a sparse sequence-to-position index of one segment, with the largest
//! timestamp before each entry so a search by time is a binary search. An index file is
//! a 32-byte header followed by 32-byte entries; it is a hint, always rebuildable from
//! its segment, and checked against the segment before use.

use ringcore::frame::RECORD_ALIGN;

use super::INDEX_VERSION;
use super::checks::{
    StructError, all_zero, check_struct, invalid, le_u32, le_u64, put_u32, put_u64,
};
use super::segment;

/// Field offsets of the index file header.
///
/// ```text
///  0       8       12        16         24        28      32
///  | magic |version| interval| base_seq | reserved| crc32c|
/// ```
pub mod header {
    /// Magic bytes at the start of an index file.
    pub const MAGIC: [u8; 8] = *b"RINGLIDX";
    /// Offset of the index header magic.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of the format version (u32).
    pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
    /// Offset of the entry interval in bytes (u32).
    pub const INTERVAL_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the segment's base sequence (u64).
    pub const BASE_SEQ_OFFSET: usize = INTERVAL_OFFSET + 4;
    /// Offset of a reserved word (must be zero).
    pub const RESERVED_OFFSET: usize = BASE_SEQ_OFFSET + 8;
    /// Offset of the index header's CRC32C.
    pub const CRC_OFFSET: usize = RESERVED_OFFSET + 4;
    /// Length of the index file header; entries follow.
    pub const LEN: usize = CRC_OFFSET + 4;

    const _: () = assert!(LEN == 32);
}

/// Field offsets of one index entry.
///
/// ```text
///  0     8     16              24        28      32
///  | seq | pos | max_ts_before | reserved| crc32c|
/// ```
pub mod entry {
    /// Offset of an entry's sequence (u64).
    pub const SEQ_OFFSET: usize = 0;
    /// Offset of an entry's record position in the segment file (u64).
    pub const POS_OFFSET: usize = SEQ_OFFSET + 8;
    /// Offset of the largest timestamp of the records before this entry's (u64).
    pub const MAX_TS_BEFORE_OFFSET: usize = POS_OFFSET + 8;
    /// Offset of a reserved word (must be zero).
    pub const RESERVED_OFFSET: usize = MAX_TS_BEFORE_OFFSET + 8;
    /// Offset of the entry's CRC32C.
    pub const CRC_OFFSET: usize = RESERVED_OFFSET + 4;
    /// Length of an index entry.
    pub const LEN: usize = CRC_OFFSET + 4;

    const _: () = assert!(LEN == 32);
}

/// The header of an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexHeader {
    /// Base sequence of the segment the index belongs to.
    pub base_seq: u64,
    /// Bytes between entries: a record gets an entry when it starts at least this far
    /// past the previous entry's record (the first record always gets one).
    pub interval: u32,
}

impl IndexHeader {
    /// Encodes the index header.
    ///
    /// ```
    /// use storage_std::format::IndexHeader;
    /// let h = IndexHeader { base_seq: 3, interval: 4096 };
    /// assert_eq!(IndexHeader::decode(&h.encode()), Ok(h));
    /// ```
    pub fn encode(&self) -> [u8; header::LEN] {
        let mut b = [0u8; header::LEN];
        b[..8].copy_from_slice(&header::MAGIC);
        put_u32(&mut b, header::VERSION_OFFSET, INDEX_VERSION);
        put_u32(&mut b, header::INTERVAL_OFFSET, self.interval);
        put_u64(&mut b, header::BASE_SEQ_OFFSET, self.base_seq);
        let crc = crc32c::crc32c(&b[..header::CRC_OFFSET]);
        put_u32(&mut b, header::CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks an index header.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let (b, _) = check_struct(buf, header::LEN, &header::MAGIC, 1..=INDEX_VERSION)?;
        if le_u32(b, header::RESERVED_OFFSET) != 0 {
            return Err(invalid("non-zero reserved index header bytes"));
        }
        let interval = le_u32(b, header::INTERVAL_OFFSET);
        if interval == 0 {
            return Err(invalid("zero index interval"));
        }
        Ok(Self {
            base_seq: le_u64(b, header::BASE_SEQ_OFFSET),
            interval,
        })
    }
}

/// One sparse index entry: a record's sequence, its position in the segment file, and
/// the largest timestamp of the segment's records before it (so a search by time is a
/// binary search even when timestamps are not monotonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexEntry {
    /// Sequence of the record.
    pub seq: u64,
    /// Offset of the record in the segment file.
    pub pos: u64,
    /// Largest timestamp among the segment's records before this one (0 if none).
    pub max_ts_before: u64,
}

impl IndexEntry {
    /// Encodes the entry as 32 bytes.
    ///
    /// ```
    /// use storage_std::format::IndexEntry;
    /// let e = IndexEntry { seq: 1, pos: 64, max_ts_before: 0 };
    /// assert_eq!(IndexEntry::decode(&e.encode()), Ok(e));
    /// ```
    pub fn encode(&self) -> [u8; entry::LEN] {
        let mut b = [0u8; entry::LEN];
        put_u64(&mut b, entry::SEQ_OFFSET, self.seq);
        put_u64(&mut b, entry::POS_OFFSET, self.pos);
        put_u64(&mut b, entry::MAX_TS_BEFORE_OFFSET, self.max_ts_before);
        let crc = crc32c::crc32c(&b[..entry::CRC_OFFSET]);
        put_u32(&mut b, entry::CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks one entry.
    pub fn decode(buf: &[u8]) -> Result<Self, StructError> {
        let Some(b) = buf.get(..entry::LEN) else {
            return Err(StructError::Truncated {
                needed: entry::LEN as u64,
                available: buf.len() as u64,
            });
        };
        if all_zero(b) {
            return Err(StructError::Zero);
        }
        let stored = le_u32(b, entry::CRC_OFFSET);
        let computed = crc32c::crc32c(&b[..entry::CRC_OFFSET]);
        if stored != computed {
            return Err(StructError::Crc { stored, computed });
        }
        if le_u32(b, entry::RESERVED_OFFSET) != 0 {
            return Err(invalid("non-zero reserved index entry bytes"));
        }
        Ok(Self {
            seq: le_u64(b, entry::SEQ_OFFSET),
            pos: le_u64(b, entry::POS_OFFSET),
            max_ts_before: le_u64(b, entry::MAX_TS_BEFORE_OFFSET),
        })
    }
}

/// A decoded index file: its header, the entries of its valid prefix, and the error that
/// ended it early (if the file does not end exactly after the last entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedIndex {
    /// The index header.
    pub header: IndexHeader,
    /// Entries of the valid prefix, strictly increasing in sequence and position.
    pub entries: Vec<IndexEntry>,
    /// Why decoding stopped before the end of the file, with the entry's offset.
    pub stopped: Option<(u64, StructError)>,
}

/// Decodes an index file. The header must be valid; entries are taken while each one
/// checks out and is strictly after the previous one (sequence and position), lies past
/// the segment header, and belongs to the segment (`seq >= base_seq`).
///
/// ```
/// use storage_std::format::{decode_index, IndexEntry, IndexHeader};
/// let mut f = IndexHeader { base_seq: 0, interval: 64 }.encode().to_vec();
/// f.extend_from_slice(&IndexEntry { seq: 0, pos: 64, max_ts_before: 0 }.encode());
/// f.extend_from_slice(&[1, 2, 3]);
/// let d = decode_index(&f).unwrap();
/// assert_eq!(d.entries.len(), 1);
/// assert!(d.stopped.is_some());
/// ```
pub fn decode_index(buf: &[u8]) -> Result<DecodedIndex, StructError> {
    let header = IndexHeader::decode(buf)?;
    let mut entries: Vec<IndexEntry> = Vec::new();
    let mut off = header::LEN;
    let mut stopped = None;
    while off < buf.len() {
        let e = match IndexEntry::decode(&buf[off..]) {
            Ok(e) => e,
            Err(err) => {
                stopped = Some((off as u64, err));
                break;
            }
        };
        // The first entry is the segment's first data record: at its start, or (format
        // 2) after a lost range that opens the segment.
        let ordered = match entries.last() {
            Some(p) => e.seq > p.seq && e.pos > p.pos && e.max_ts_before >= p.max_ts_before,
            None => e.seq >= header.base_seq && e.pos >= segment::header::LEN as u64,
        };
        if !ordered || e.pos % RECORD_ALIGN as u64 != 0 {
            stopped = Some((off as u64, invalid("index entry out of order")));
            break;
        }
        entries.push(e);
        off += entry::LEN;
    }
    Ok(DecodedIndex {
        header,
        entries,
        stopped,
    })
}

/// Index of the last entry whose sequence is at most `seq` (binary search).
pub fn index_floor_seq(entries: &[IndexEntry], seq: u64) -> Option<usize> {
    let n = entries.partition_point(|e| e.seq <= seq);
    n.checked_sub(1)
}

/// Index of the last entry before which every record's timestamp is below `ts`: the
/// first record with a timestamp at or above `ts` is at or after that entry's record.
pub fn index_floor_ts(entries: &[IndexEntry], ts: u64) -> Option<usize> {
    let n = entries.partition_point(|e| e.max_ts_before < ts);
    n.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_prefix_stops_at_damage_and_disorder() {
        let mut f = IndexHeader {
            base_seq: 100,
            interval: 128,
        }
        .encode()
        .to_vec();
        let es = [
            IndexEntry {
                seq: 100,
                pos: 64,
                max_ts_before: 0,
            },
            IndexEntry {
                seq: 104,
                pos: 200,
                max_ts_before: 50,
            },
            IndexEntry {
                seq: 103,
                pos: 400,
                max_ts_before: 60,
            },
        ];
        for e in &es {
            f.extend_from_slice(&e.encode());
        }
        let d = decode_index(&f).unwrap();
        assert_eq!(d.entries, es[..2]);
        assert_eq!(d.stopped.as_ref().unwrap().0, 96);
        assert_eq!(index_floor_seq(&d.entries, 99), None);
        assert_eq!(index_floor_seq(&d.entries, 103), Some(0));
        assert_eq!(index_floor_seq(&d.entries, 1000), Some(1));
        assert_eq!(index_floor_ts(&d.entries, 50), Some(0));
        assert_eq!(index_floor_ts(&d.entries, 51), Some(1));
    }
}
