//! The cold object format (`docs/tier-format.md`): one sealed segment as an object
//! header, independently compressed frames of whole records, a frame index and a
//! trailer. Pure code on bytes and `Write`rs; nothing here knows a store.
//!
//! ```text
//! +---------------+---------+---------+-----+---------+-------------+---------+
//! | object header | frame 0 | frame 1 | ... | frame n | frame index | trailer |
//! | 256 bytes     |         |         |     |         | 48 B/frame  | 56 bytes|
//! +---------------+---------+---------+-----+---------+-------------+---------+
//! ```
//!
//! All integers little-endian; checksums CRC32C. Every field offset is defined from the
//! previous one.

use std::io::{self, Write};

use storage_std::format::{FOOTER_LEN, SEGMENT_HEADER_LEN, decode_record};

use crate::codec::{self, Codec};

/// Format version of cold objects written by this build (the only one it reads).
pub const OBJECT_VERSION: u32 = 1;

/// The object header.
pub mod header {
    /// Magic bytes.
    pub const MAGIC: [u8; 8] = *b"RINGLCLD";
    /// Offset of the version (u32).
    pub const VERSION_OFFSET: usize = 8;
    /// Offset of the codec id (u32: 1 zstd, 2 lz4).
    pub const CODEC_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the frame size target the writer used (u32, informational).
    pub const FRAME_TARGET_OFFSET: usize = CODEC_OFFSET + 4;
    /// Offset of a reserved word (zero).
    pub const RESERVED0_OFFSET: usize = FRAME_TARGET_OFFSET + 4;
    /// Offset of the segment's 64-byte header, as stored in the segment file.
    pub const SEGMENT_HEADER_OFFSET: usize = RESERVED0_OFFSET + 4;
    /// Offset of the segment's 160-byte footer, as stored in the segment file.
    pub const SEGMENT_FOOTER_OFFSET: usize =
        SEGMENT_HEADER_OFFSET + storage_std::format::SEGMENT_HEADER_LEN;
    /// Offset of a reserved word (zero).
    pub const RESERVED1_OFFSET: usize = SEGMENT_FOOTER_OFFSET + storage_std::format::FOOTER_LEN;
    /// Offset of the header's CRC32C over the bytes before it.
    pub const CRC_OFFSET: usize = RESERVED1_OFFSET + 4;
    /// Length of the object header; frame 0 starts here.
    pub const LEN: usize = CRC_OFFSET + 4;
    const _: () = assert!(LEN == 256);
}

/// One frame index entry.
pub mod entry {
    /// Offset of the frame's first sequence (u64).
    pub const FIRST_SEQ_OFFSET: usize = 0;
    /// Offset of the frame's first record's position in the segment file (u64).
    pub const RAW_OFFSET_OFFSET: usize = FIRST_SEQ_OFFSET + 8;
    /// Offset of the frame's position in the object (u64).
    pub const COMP_OFFSET_OFFSET: usize = RAW_OFFSET_OFFSET + 8;
    /// Offset of the largest record timestamp in the frame (u64).
    pub const MAX_TS_OFFSET: usize = COMP_OFFSET_OFFSET + 8;
    /// Offset of the frame's record count (u32, at least 1).
    pub const RECORD_COUNT_OFFSET: usize = MAX_TS_OFFSET + 8;
    /// Offset of the frame's uncompressed length (u32).
    pub const RAW_LEN_OFFSET: usize = RECORD_COUNT_OFFSET + 4;
    /// Offset of the frame's compressed length (u32).
    pub const COMP_LEN_OFFSET: usize = RAW_LEN_OFFSET + 4;
    /// Offset of the CRC32C of the compressed frame bytes (u32).
    pub const CRC_OFFSET: usize = COMP_LEN_OFFSET + 4;
    /// Length of an entry.
    pub const LEN: usize = CRC_OFFSET + 4;
    const _: () = assert!(LEN == 48);
}

/// The trailer that ends every object.
pub mod trailer {
    /// Magic bytes.
    pub const MAGIC: [u8; 8] = *b"RINGLCTR";
    /// Offset of the version (u32).
    pub const VERSION_OFFSET: usize = 8;
    /// Offset of the frame count (u32).
    pub const FRAME_COUNT_OFFSET: usize = VERSION_OFFSET + 4;
    /// Offset of the frame index's position in the object (u64).
    pub const INDEX_OFFSET_OFFSET: usize = FRAME_COUNT_OFFSET + 4;
    /// Offset of the frame index's length (u64).
    pub const INDEX_LEN_OFFSET: usize = INDEX_OFFSET_OFFSET + 8;
    /// Offset of the frame index's CRC32C (u32).
    pub const INDEX_CRC_OFFSET: usize = INDEX_LEN_OFFSET + 8;
    /// Offset of the CRC32C of the whole original segment file (u32).
    pub const SEGMENT_CRC_OFFSET: usize = INDEX_CRC_OFFSET + 4;
    /// Offset of the original segment file's length (u64).
    pub const SEGMENT_LEN_OFFSET: usize = SEGMENT_CRC_OFFSET + 4;
    /// Offset of a reserved word (zero).
    pub const RESERVED_OFFSET: usize = SEGMENT_LEN_OFFSET + 8;
    /// Offset of the CRC32C of every object byte before it (header, frames, index,
    /// trailer): the whole-object checksum.
    pub const OBJECT_CRC_OFFSET: usize = RESERVED_OFFSET + 4;
    /// Length of the trailer.
    pub const LEN: usize = OBJECT_CRC_OFFSET + 4;
    const _: () = assert!(LEN == 56);
}

/// Largest uncompressed frame a reader accepts: a 64 MiB frame target or one record of
/// the format's largest payload, whichever is larger.
pub const MAX_FRAME_RAW: u64 = (storage_std::format::MAX_PAYLOAD_LEN as u64) + (64 << 20);

/// Largest frame size target a writer accepts.
pub const MAX_FRAME_TARGET: usize = 64 << 20;

/// One frame as the index describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// Sequence of the frame's first record.
    pub first_seq: u64,
    /// Position of the frame's first record in the segment file.
    pub raw_offset: u64,
    /// Position of the compressed frame in the object.
    pub comp_offset: u64,
    /// Largest record timestamp in the frame.
    pub max_ts: u64,
    /// Records in the frame.
    pub record_count: u32,
    /// Uncompressed length (whole records).
    pub raw_len: u32,
    /// Compressed length.
    pub comp_len: u32,
    /// CRC32C of the compressed bytes.
    pub crc: u32,
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

impl FrameEntry {
    fn encode(&self) -> [u8; entry::LEN] {
        let mut b = [0u8; entry::LEN];
        b[entry::FIRST_SEQ_OFFSET..][..8].copy_from_slice(&self.first_seq.to_le_bytes());
        b[entry::RAW_OFFSET_OFFSET..][..8].copy_from_slice(&self.raw_offset.to_le_bytes());
        b[entry::COMP_OFFSET_OFFSET..][..8].copy_from_slice(&self.comp_offset.to_le_bytes());
        b[entry::MAX_TS_OFFSET..][..8].copy_from_slice(&self.max_ts.to_le_bytes());
        b[entry::RECORD_COUNT_OFFSET..][..4].copy_from_slice(&self.record_count.to_le_bytes());
        b[entry::RAW_LEN_OFFSET..][..4].copy_from_slice(&self.raw_len.to_le_bytes());
        b[entry::COMP_LEN_OFFSET..][..4].copy_from_slice(&self.comp_len.to_le_bytes());
        b[entry::CRC_OFFSET..][..4].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Self {
        Self {
            first_seq: le_u64(b, entry::FIRST_SEQ_OFFSET),
            raw_offset: le_u64(b, entry::RAW_OFFSET_OFFSET),
            comp_offset: le_u64(b, entry::COMP_OFFSET_OFFSET),
            max_ts: le_u64(b, entry::MAX_TS_OFFSET),
            record_count: le_u32(b, entry::RECORD_COUNT_OFFSET),
            raw_len: le_u32(b, entry::RAW_LEN_OFFSET),
            comp_len: le_u32(b, entry::COMP_LEN_OFFSET),
            crc: le_u32(b, entry::CRC_OFFSET),
        }
    }

    /// The byte range of the compressed frame in the object.
    pub fn comp_range(&self) -> std::ops::Range<u64> {
        self.comp_offset..self.comp_offset + u64::from(self.comp_len)
    }

    /// The last sequence in the frame.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.record_count) - 1
    }
}

/// What the object writer produced: everything the manifest records about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Object length.
    pub object_len: u64,
    /// Whole-object CRC32C (the trailer's last field).
    pub object_crc: u32,
    /// Frame index position.
    pub index_offset: u64,
    /// Frame index length.
    pub index_len: u64,
    /// Frame index CRC32C.
    pub index_crc: u32,
    /// Number of frames.
    pub frame_count: u32,
    /// CRC32C of the original segment file.
    pub segment_crc: u32,
    /// Length of the original segment file.
    pub segment_len: u64,
}

/// Writes an object: the header at once, then frames as records are pushed, then the
/// index and trailer on [`ObjectWriter::finish`]. Memory: one frame.
#[derive(Debug)]
pub struct ObjectWriter<W: Write> {
    out: W,
    codec: Codec,
    frame_target: usize,
    written: u64,
    crc: u32,
    frame: Vec<u8>,
    frame_first_seq: u64,
    frame_raw_offset: u64,
    frame_records: u32,
    frame_max_ts: u64,
    raw_pos: u64,
    index: Vec<FrameEntry>,
}

impl<W: Write> ObjectWriter<W> {
    /// Starts an object for a segment whose header and footer bytes are given.
    pub fn new(
        mut out: W,
        codec: Codec,
        frame_target: usize,
        segment_header: &[u8; SEGMENT_HEADER_LEN],
        segment_footer: &[u8; FOOTER_LEN],
    ) -> io::Result<Self> {
        let frame_target = frame_target.clamp(1, MAX_FRAME_TARGET);
        let mut h = [0u8; header::LEN];
        h[..8].copy_from_slice(&header::MAGIC);
        h[header::VERSION_OFFSET..][..4].copy_from_slice(&OBJECT_VERSION.to_le_bytes());
        h[header::CODEC_OFFSET..][..4].copy_from_slice(&codec.id().to_le_bytes());
        h[header::FRAME_TARGET_OFFSET..][..4].copy_from_slice(&(frame_target as u32).to_le_bytes());
        h[header::SEGMENT_HEADER_OFFSET..][..SEGMENT_HEADER_LEN].copy_from_slice(segment_header);
        h[header::SEGMENT_FOOTER_OFFSET..][..FOOTER_LEN].copy_from_slice(segment_footer);
        let hcrc = crc32c::crc32c(&h[..header::CRC_OFFSET]);
        h[header::CRC_OFFSET..][..4].copy_from_slice(&hcrc.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            codec,
            frame_target,
            written: header::LEN as u64,
            crc: crc32c::crc32c(&h),
            frame: Vec::with_capacity(frame_target),
            frame_first_seq: 0,
            frame_raw_offset: SEGMENT_HEADER_LEN as u64,
            frame_records: 0,
            frame_max_ts: 0,
            raw_pos: SEGMENT_HEADER_LEN as u64,
            index: Vec::new(),
        })
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn flush_frame(&mut self) -> io::Result<()> {
        if self.frame_records == 0 {
            return Ok(());
        }
        let comp = self.codec.compress(&self.frame)?;
        let e = FrameEntry {
            first_seq: self.frame_first_seq,
            raw_offset: self.frame_raw_offset,
            comp_offset: self.written,
            max_ts: self.frame_max_ts,
            record_count: self.frame_records,
            raw_len: u32::try_from(self.frame.len()).map_err(io::Error::other)?,
            comp_len: u32::try_from(comp.len()).map_err(io::Error::other)?,
            crc: crc32c::crc32c(&comp),
        };
        self.emit(&comp)?;
        self.index.push(e);
        self.frame.clear();
        self.frame_records = 0;
        self.frame_max_ts = 0;
        self.frame_raw_offset = self.raw_pos;
        Ok(())
    }

    /// Adds one record (its on-disk bytes, already checked). A frame ends before a
    /// record that would take it past the target, so frames hold whole records and a
    /// record larger than the target gets a frame of its own.
    pub fn push_record(&mut self, rec: &[u8], seq: u64, ts: u64) -> io::Result<()> {
        if self.frame_records > 0 && self.frame.len() + rec.len() > self.frame_target {
            self.flush_frame()?;
        }
        if self.frame_records == 0 {
            self.frame_first_seq = seq;
        }
        self.frame.extend_from_slice(rec);
        self.frame_records += 1;
        self.frame_max_ts = self.frame_max_ts.max(ts);
        self.raw_pos += rec.len() as u64;
        Ok(())
    }

    /// Writes the last frame, the index and the trailer; returns the summary and the
    /// writer.
    pub fn finish(mut self, segment_crc: u32, segment_len: u64) -> io::Result<(ObjectSummary, W)> {
        self.flush_frame()?;
        let index_offset = self.written;
        let mut idx = Vec::with_capacity(self.index.len() * entry::LEN);
        for e in &self.index {
            idx.extend_from_slice(&e.encode());
        }
        let index_crc = crc32c::crc32c(&idx);
        self.emit(&idx)?;
        let frame_count = u32::try_from(self.index.len()).map_err(io::Error::other)?;
        let mut t = [0u8; trailer::LEN];
        t[..8].copy_from_slice(&trailer::MAGIC);
        t[trailer::VERSION_OFFSET..][..4].copy_from_slice(&OBJECT_VERSION.to_le_bytes());
        t[trailer::FRAME_COUNT_OFFSET..][..4].copy_from_slice(&frame_count.to_le_bytes());
        t[trailer::INDEX_OFFSET_OFFSET..][..8].copy_from_slice(&index_offset.to_le_bytes());
        t[trailer::INDEX_LEN_OFFSET..][..8].copy_from_slice(&(idx.len() as u64).to_le_bytes());
        t[trailer::INDEX_CRC_OFFSET..][..4].copy_from_slice(&index_crc.to_le_bytes());
        t[trailer::SEGMENT_CRC_OFFSET..][..4].copy_from_slice(&segment_crc.to_le_bytes());
        t[trailer::SEGMENT_LEN_OFFSET..][..8].copy_from_slice(&segment_len.to_le_bytes());
        self.emit(&t[..trailer::OBJECT_CRC_OFFSET])?;
        let object_crc = self.crc;
        self.out.write_all(&object_crc.to_le_bytes())?;
        self.written += 4;
        self.out.flush()?;
        Ok((
            ObjectSummary {
                object_len: self.written,
                object_crc,
                index_offset,
                index_len: idx.len() as u64,
                index_crc,
                frame_count,
                segment_crc,
                segment_len,
            },
            self.out,
        ))
    }
}

/// What a frame index must agree with: the segment's and object's shape as the manifest
/// records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexExpect {
    /// The segment's base sequence.
    pub base_seq: u64,
    /// Records in the segment.
    pub record_count: u64,
    /// Where the segment's records end (its footer's offset).
    pub records_end: u64,
    /// Frame count.
    pub frame_count: u32,
    /// Where the index starts in the object (the frames end there).
    pub index_offset: u64,
    /// CRC32C of the index bytes.
    pub index_crc: u32,
}

/// Decodes and checks a frame index: its CRC, then that frames tile the object's frame
/// area and the segment's records exactly, with sequences contiguous from the base and
/// every length within bounds. Returns a reason on any mismatch.
pub fn decode_index(bytes: &[u8], x: &IndexExpect) -> Result<Vec<FrameEntry>, String> {
    let computed = crc32c::crc32c(bytes);
    if computed != x.index_crc {
        return Err(format!(
            "frame index checksum mismatch: expected {:#010x}, computed {computed:#010x}",
            x.index_crc
        ));
    }
    if bytes.len() != x.frame_count as usize * entry::LEN {
        return Err(format!(
            "frame index of {} bytes for {} frames",
            bytes.len(),
            x.frame_count
        ));
    }
    let mut v = Vec::with_capacity(x.frame_count as usize);
    let (mut seq, mut raw, mut comp) = (x.base_seq, SEGMENT_HEADER_LEN as u64, header::LEN as u64);
    for chunk in bytes.chunks_exact(entry::LEN) {
        let e = FrameEntry::decode(chunk);
        let ok = e.first_seq == seq
            && e.raw_offset == raw
            && e.comp_offset == comp
            && e.record_count > 0
            && u64::from(e.raw_len) >= 32 * u64::from(e.record_count)
            && u64::from(e.raw_len) <= MAX_FRAME_RAW
            && e.comp_len > 0;
        if !ok {
            return Err(format!(
                "frame {} of the index is inconsistent: {e:?}",
                v.len()
            ));
        }
        let next = (
            seq.checked_add(u64::from(e.record_count)),
            raw.checked_add(u64::from(e.raw_len)),
            comp.checked_add(u64::from(e.comp_len)),
        );
        let (Some(s), Some(r), Some(c)) = next else {
            return Err(format!("frame {} of the index overflows: {e:?}", v.len()));
        };
        (seq, raw, comp) = (s, r, c);
        v.push(e);
    }
    if seq - x.base_seq != x.record_count || raw != x.records_end || comp != x.index_offset {
        return Err(format!(
            "frames cover {} records to offset {raw} (object {comp}); the segment has {} \
             records to {} (index at {})",
            seq - x.base_seq,
            x.record_count,
            x.records_end,
            x.index_offset
        ));
    }
    Ok(v)
}

/// Checks a fetched compressed frame and decompresses it: CRC of the compressed bytes,
/// decompression to exactly `raw_len`, then every record (CRC, sequences contiguous from
/// `first_seq`, `record_count` of them ending exactly at the frame's end).
pub fn decode_frame(codec_id: u32, e: &FrameEntry, comp: &[u8]) -> Result<Vec<u8>, String> {
    if comp.len() != e.comp_len as usize {
        return Err(format!(
            "frame of {} bytes, the index says {}",
            comp.len(),
            e.comp_len
        ));
    }
    let computed = crc32c::crc32c(comp);
    if computed != e.crc {
        return Err(format!(
            "frame checksum mismatch: index {:#010x}, computed {computed:#010x}",
            e.crc
        ));
    }
    let raw = codec::decompress(codec_id, comp, e.raw_len as usize)?;
    let (mut pos, mut seq) = (0usize, e.first_seq);
    while pos < raw.len() {
        let r = decode_record(&raw[pos..]).map_err(|err| format!("record {seq}: {err}"))?;
        if r.seq() != seq {
            return Err(format!("record has sequence {}, expected {seq}", r.seq()));
        }
        pos += r.disk_len();
        seq += 1;
    }
    if seq - e.first_seq != u64::from(e.record_count) {
        return Err(format!(
            "frame holds {} records, the index says {}",
            seq - e.first_seq,
            e.record_count
        ));
    }
    Ok(raw)
}

/// A whole object, checked: what [`decode_object`] returns.
#[derive(Debug)]
pub struct DecodedObject {
    /// The codec id.
    pub codec_id: u32,
    /// The frames.
    pub frames: Vec<FrameEntry>,
    /// The original segment file, rebuilt byte for byte and checked against its CRC.
    pub segment: Vec<u8>,
}

/// Checks a whole object (its CRC, header, trailer, index and every frame) against the
/// manifest's `object_crc`, and rebuilds the segment file from it.
pub fn decode_object(obj: &[u8], object_crc: u32) -> Result<DecodedObject, String> {
    let min = header::LEN + trailer::LEN;
    if obj.len() < min {
        return Err(format!(
            "object of {} bytes is shorter than {min}",
            obj.len()
        ));
    }
    let body = obj.len() - 4;
    let computed = crc32c::crc32c(&obj[..body]);
    let stored = le_u32(obj, body);
    if computed != object_crc || stored != object_crc {
        return Err(format!(
            "object checksum mismatch: manifest {object_crc:#010x}, stored {stored:#010x}, \
             computed {computed:#010x}"
        ));
    }
    let h = &obj[..header::LEN];
    if h[..8] != header::MAGIC || le_u32(h, header::VERSION_OFFSET) != OBJECT_VERSION {
        return Err("bad object header magic or version".into());
    }
    if le_u32(h, header::CRC_OFFSET) != crc32c::crc32c(&h[..header::CRC_OFFSET]) {
        return Err("object header checksum mismatch".into());
    }
    let t = &obj[obj.len() - trailer::LEN..];
    if t[..8] != trailer::MAGIC || le_u32(t, trailer::VERSION_OFFSET) != OBJECT_VERSION {
        return Err("bad trailer magic or version".into());
    }
    let codec_id = le_u32(h, header::CODEC_OFFSET);
    let seg_header = &h[header::SEGMENT_HEADER_OFFSET..][..SEGMENT_HEADER_LEN];
    let seg_footer = &h[header::SEGMENT_FOOTER_OFFSET..][..FOOTER_LEN];
    let sh = storage_std::format::SegmentHeader::decode(seg_header).map_err(|e| e.to_string())?;
    let sf = storage_std::format::SegmentFooter::decode(seg_footer).map_err(|e| e.to_string())?;
    let index_offset = le_u64(t, trailer::INDEX_OFFSET_OFFSET);
    let index_len = le_u64(t, trailer::INDEX_LEN_OFFSET);
    let trailer_at = (obj.len() - trailer::LEN) as u64;
    if index_offset.checked_add(index_len) != Some(trailer_at) {
        return Err("frame index does not end at the trailer".into());
    }
    let x = IndexExpect {
        base_seq: sh.base_seq,
        record_count: sf.record_count,
        records_end: sf.records_end,
        frame_count: le_u32(t, trailer::FRAME_COUNT_OFFSET),
        index_offset,
        index_crc: le_u32(t, trailer::INDEX_CRC_OFFSET),
    };
    let frames = decode_index(&obj[index_offset as usize..trailer_at as usize], &x)?;
    let segment_len = le_u64(t, trailer::SEGMENT_LEN_OFFSET);
    if segment_len != sf.records_end + FOOTER_LEN as u64 || sh.base_seq != sf.base_seq {
        return Err("segment header, footer and length disagree".into());
    }
    let mut segment = Vec::with_capacity(segment_len as usize);
    segment.extend_from_slice(seg_header);
    for e in &frames {
        let r = e.comp_range();
        segment.extend_from_slice(&decode_frame(
            codec_id,
            e,
            &obj[r.start as usize..r.end as usize],
        )?);
    }
    segment.extend_from_slice(seg_footer);
    let seg_crc = crc32c::crc32c(&segment);
    if seg_crc != le_u32(t, trailer::SEGMENT_CRC_OFFSET) {
        return Err("rebuilt segment does not match its checksum".into());
    }
    Ok(DecodedObject {
        codec_id,
        frames,
        segment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringcore::frame::FrameHeader;
    use storage_std::format::{SegmentFooter, SegmentHeader, encode_record, segment::footer};

    /// (seq, ts, on-disk bytes) of a record.
    type Rec = (u64, u64, Vec<u8>);

    /// A sealed segment of `n` records from `base` with payloads of varying size; also
    /// returns each record's (seq, ts, bytes).
    fn segment(base: u64, n: u64) -> (Vec<u8>, Vec<Rec>) {
        let h = SegmentHeader {
            base_seq: base,
            created_ns: 1,
            torn_window: 4096,
        };
        let mut seg = h.encode().to_vec();
        let mut recs = Vec::new();
        let mut max_ts = 0;
        for i in 0..n {
            let seq = base + i;
            let ts = 1000 + (i * 7919) % 500; // not monotonic
            max_ts = max_ts.max(ts);
            let payload: Vec<u8> = (0..(i % 300) as usize)
                .map(|j| (j as u64 ^ seq) as u8)
                .collect();
            let mut r = Vec::new();
            let fh = FrameHeader {
                seq,
                timestamp_ns: ts,
                ..Default::default()
            };
            encode_record(&mut r, &fh, &payload);
            seg.extend_from_slice(&r);
            recs.push((seq, ts, r));
        }
        let f = SegmentFooter {
            base_seq: base,
            record_count: n,
            last_seq: base + n - 1,
            first_ts: recs[0].1,
            last_ts: recs[n as usize - 1].1,
            max_ts,
            records_end: seg.len() as u64,
            sealed_ns: 2,
            digest_kind: 0,
            digest: [0; footer::DIGEST_LEN],
        };
        seg.extend_from_slice(&f.encode());
        (seg, recs)
    }

    fn object(base: u64, n: u64, codec: Codec, target: usize) -> (Vec<u8>, ObjectSummary, Vec<u8>) {
        let (seg, recs) = segment(base, n);
        let mut w = ObjectWriter::new(
            Vec::new(),
            codec,
            target,
            seg[..SEGMENT_HEADER_LEN].try_into().unwrap(),
            seg[seg.len() - FOOTER_LEN..].try_into().unwrap(),
        )
        .unwrap();
        for (seq, ts, r) in &recs {
            w.push_record(r, *seq, *ts).unwrap();
        }
        let (sum, obj) = w.finish(crc32c::crc32c(&seg), seg.len() as u64).unwrap();
        (obj, sum, seg)
    }

    #[test]
    fn object_rebuilds_the_segment_and_frames_hold_whole_records() {
        for codec in [Codec::default(), Codec::Lz4] {
            let (obj, sum, seg) = object(500, 1000, codec, 4096);
            assert_eq!(sum.object_len, obj.len() as u64);
            let d = decode_object(&obj, sum.object_crc).unwrap();
            assert_eq!(d.segment, seg, "{codec}");
            assert_eq!(d.frames.len() as u32, sum.frame_count);
            assert!(d.frames.len() > 10, "{} frames", d.frames.len());
            for (i, f) in d.frames.iter().enumerate() {
                // Whole records: each frame's bytes are exactly its records in the segment.
                let raw = &seg[f.raw_offset as usize..][..f.raw_len as usize];
                let comp = &obj[f.comp_range().start as usize..f.comp_range().end as usize];
                assert_eq!(decode_frame(codec.id(), f, comp).unwrap(), raw);
                assert!(f.raw_len as usize <= 4096, "frame {i}: {}", f.raw_len);
            }
            // The index alone, as a reader fetches it.
            let x = IndexExpect {
                base_seq: 500,
                record_count: 1000,
                records_end: (seg.len() - FOOTER_LEN) as u64,
                frame_count: sum.frame_count,
                index_offset: sum.index_offset,
                index_crc: sum.index_crc,
            };
            let idx = &obj[sum.index_offset as usize..][..sum.index_len as usize];
            assert_eq!(decode_index(idx, &x).unwrap(), d.frames);
        }
    }

    #[test]
    fn a_record_larger_than_the_frame_target_gets_its_own_frame() {
        let (obj, sum, seg) = object(0, 300, Codec::Lz4, 64);
        let d = decode_object(&obj, sum.object_crc).unwrap();
        assert_eq!(d.segment, seg);
        assert!(
            d.frames
                .iter()
                .all(|f| f.record_count == 1 || f.raw_len <= 64)
        );
        assert_eq!(
            d.frames
                .iter()
                .map(|f| u64::from(f.record_count))
                .sum::<u64>(),
            300
        );
    }

    #[test]
    fn every_damaged_byte_is_an_error() {
        let (obj, sum, _) = object(9, 200, Codec::default(), 2048);
        let step = if cfg!(miri) { 97 } else { 1 };
        for i in (0..obj.len()).step_by(step) {
            let mut d = obj.clone();
            d[i] ^= 0x10;
            assert!(decode_object(&d, sum.object_crc).is_err(), "byte {i}");
        }
        for cut in [0, 10, obj.len() / 2, obj.len() - 1] {
            assert!(
                decode_object(&obj[..cut], sum.object_crc).is_err(),
                "cut {cut}"
            );
        }
        // A damaged frame fails its own check, found without reading the rest.
        let d = decode_object(&obj, sum.object_crc).unwrap();
        let f = d.frames[1];
        let mut comp = obj[f.comp_range().start as usize..f.comp_range().end as usize].to_vec();
        comp[0] ^= 1;
        assert!(
            decode_frame(CODEC_ZSTD_ID, &f, &comp)
                .unwrap_err()
                .contains("checksum")
        );
        assert!(decode_frame(CODEC_ZSTD_ID, &f, &comp[1..]).is_err());
    }

    #[test]
    fn absurd_index_entries_are_refused_before_any_allocation() {
        let (obj, sum, seg) = object(0, 50, Codec::Lz4, 512);
        let x = IndexExpect {
            base_seq: 0,
            record_count: 50,
            records_end: (seg.len() - FOOTER_LEN) as u64,
            frame_count: sum.frame_count,
            index_offset: sum.index_offset,
            index_crc: 0,
        };
        let mut idx = obj[sum.index_offset as usize..][..sum.index_len as usize].to_vec();
        // Huge lengths with a matching checksum (a consistent forgery).
        idx[entry::RAW_LEN_OFFSET..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let x = IndexExpect {
            index_crc: crc32c::crc32c(&idx),
            ..x
        };
        assert!(decode_index(&idx, &x).is_err());
        let mut idx2 = obj[sum.index_offset as usize..][..sum.index_len as usize].to_vec();
        idx2[entry::FIRST_SEQ_OFFSET..][..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let x2 = IndexExpect {
            index_crc: crc32c::crc32c(&idx2),
            ..x
        };
        assert!(decode_index(&idx2, &x2).is_err());
    }

    const CODEC_ZSTD_ID: u32 = crate::codec::CODEC_ZSTD;
}
