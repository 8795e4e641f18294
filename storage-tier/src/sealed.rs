//! Checking one sealed segment file on top of `storage_std::format`: header, footer, and
//! every record (CRC, padding, sequence continuity), with the footer's count and
//! timestamps compared with what the records say. It streams (memory: one record), and
//! hands each record's bytes to the caller, which is how the tiering task compresses a
//! segment in the same pass that verifies it.
//!
//! Only clean sealed segments go to the cold tier. This helper belongs in storage-std
//! (its verifier has the same checks, crate-private); it lives here until storage-std
//! exports one.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use ringcore::frame::LEN_OFFSET;
use storage_std::format::{
    self, FOOTER_LEN, MAX_PAYLOAD_LEN, SEGMENT_HEADER_LEN, SegmentFooter, SegmentHeader,
    decode_record, disk_record_len, record,
};

use crate::error::{Result, TierError};

/// What the header and footer of a sealed segment say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedInfo {
    /// The decoded header.
    pub header: SegmentHeader,
    /// The decoded footer.
    pub footer: SegmentFooter,
    /// The header's 64 bytes as stored.
    pub header_bytes: [u8; SEGMENT_HEADER_LEN],
    /// The footer's 160 bytes as stored.
    pub footer_bytes: [u8; FOOTER_LEN],
    /// File length (= `footer.records_end + 160`).
    pub file_len: u64,
}

/// Reads the header and footer of the sealed segment file at `path`, whose name must be
/// `segment_name(base)`. `Ok(None)`: not sealed (no valid footer ends the file, or the
/// header is damaged): the active segment, or one recovery must look at.
pub fn read_sealed_info(path: &Path, base: u64) -> Result<Option<SealedInfo>> {
    let f = File::open(path).map_err(|e| TierError::io("open", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| TierError::io("stat", path, e))?
        .len();
    if len < (SEGMENT_HEADER_LEN + FOOTER_LEN) as u64 {
        return Ok(None);
    }
    let mut header_bytes = [0u8; SEGMENT_HEADER_LEN];
    read_exact_at(&f, 0, &mut header_bytes).map_err(|e| TierError::io("read", path, e))?;
    let mut footer_bytes = [0u8; FOOTER_LEN];
    read_exact_at(&f, len - FOOTER_LEN as u64, &mut footer_bytes)
        .map_err(|e| TierError::io("read", path, e))?;
    let (Ok(header), Ok(footer)) = (
        SegmentHeader::decode(&header_bytes),
        SegmentFooter::decode(&footer_bytes),
    ) else {
        return Ok(None);
    };
    if header.base_seq != base
        || footer.base_seq != base
        || footer.records_end != len - FOOTER_LEN as u64
    {
        return Ok(None);
    }
    Ok(Some(SealedInfo {
        header,
        footer,
        header_bytes,
        footer_bytes,
        file_len: len,
    }))
}

fn read_exact_at(f: &File, pos: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, pos)
}

/// One record of a scanned segment.
#[derive(Debug, Clone, Copy)]
pub struct ScannedRecord<'a> {
    /// Its on-disk bytes: prefix, payload, padding.
    pub bytes: &'a [u8],
    /// Its sequence.
    pub seq: u64,
    /// Its timestamp (ns).
    pub timestamp_ns: u64,
}

/// Streams the records of a sealed segment, checking each; see [`scan_sealed`].
#[derive(Debug)]
pub struct RecordScan {
    reader: BufReader<File>,
    path: String,
    pos: u64,
    end: u64,
    next_seq: u64,
    count: u64,
    first_ts: Option<u64>,
    last_ts: u64,
    max_ts: u64,
    crc: u32,
    buf: Vec<u8>,
    info: SealedInfo,
}

/// Opens the sealed segment `base` at `path` for a full check. Errors: not sealed
/// ([`TierError::Conflict`]: the caller asked for a sealed one), I/O.
pub fn scan_sealed(path: &Path, base: u64) -> Result<RecordScan> {
    let Some(info) = read_sealed_info(path, base)? else {
        return Err(TierError::Conflict(format!(
            "{} is not a sealed segment",
            path.display()
        )));
    };
    let f = File::open(path).map_err(|e| TierError::io("open", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let mut skip = [0u8; SEGMENT_HEADER_LEN];
    reader
        .read_exact(&mut skip)
        .map_err(|e| TierError::io("read", path, e))?;
    if skip != info.header_bytes {
        return Err(TierError::corrupt(
            path.display().to_string(),
            "segment header changed while reading",
        ));
    }
    Ok(RecordScan {
        reader,
        path: path.display().to_string(),
        pos: SEGMENT_HEADER_LEN as u64,
        end: info.footer.records_end,
        next_seq: base,
        count: 0,
        first_ts: None,
        last_ts: 0,
        max_ts: 0,
        crc: crc32c::crc32c(&info.header_bytes),
        buf: Vec::new(),
        info,
    })
}

impl RecordScan {
    /// The header and footer.
    pub fn info(&self) -> &SealedInfo {
        &self.info
    }

    fn corrupt(&self, detail: String) -> TierError {
        TierError::corrupt(format!("{} at offset {}", self.path, self.pos), detail)
    }

    /// The next record, checked; `None` after the last record. Damage is
    /// [`TierError::Corrupt`].
    pub fn next_record(&mut self) -> Result<Option<ScannedRecord<'_>>> {
        if self.pos == self.end {
            return Ok(None);
        }
        let left = self.end - self.pos;
        if left < record::PREFIX_LEN as u64 {
            return Err(self.corrupt(format!("{left} bytes before the footer, not a record")));
        }
        self.buf.resize(record::PREFIX_LEN, 0);
        self.reader
            .read_exact(&mut self.buf)
            .map_err(|e| TierError::io("read", &self.path, e))?;
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&self.buf[LEN_OFFSET..LEN_OFFSET + 4]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_PAYLOAD_LEN {
            return Err(self.corrupt(format!("record length {len} exceeds the format limit")));
        }
        let total = disk_record_len(len);
        if total as u64 > left {
            return Err(self.corrupt(format!(
                "record of {total} bytes runs past the footer ({left} left)"
            )));
        }
        self.buf.resize(total, 0);
        self.reader
            .read_exact(&mut self.buf[record::PREFIX_LEN..])
            .map_err(|e| TierError::io("read", &self.path, e))?;
        let r = match decode_record(&self.buf) {
            Ok(r) => r,
            Err(e) => return Err(self.corrupt(e.to_string())),
        };
        if r.seq() != self.next_seq {
            return Err(self.corrupt(format!(
                "record has sequence {}, expected {}",
                r.seq(),
                self.next_seq
            )));
        }
        let ts = r.timestamp_ns();
        self.first_ts.get_or_insert(ts);
        self.last_ts = ts;
        self.max_ts = self.max_ts.max(ts);
        self.next_seq += 1;
        self.count += 1;
        self.pos += total as u64;
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        Ok(Some(ScannedRecord {
            bytes: &self.buf,
            seq: self.next_seq - 1,
            timestamp_ns: ts,
        }))
    }

    /// After the last record: checks the footer against the records and that nothing
    /// follows it; returns the CRC32C of the whole file.
    pub fn finish(mut self) -> Result<u32> {
        if self.pos != self.end {
            return Err(self.corrupt("finish before the last record".into()));
        }
        let f = &self.info.footer;
        let want = (f.record_count, f.first_ts, f.last_ts, f.max_ts);
        let got = (
            self.count,
            self.first_ts.unwrap_or(0),
            self.last_ts,
            self.max_ts,
        );
        if want != got {
            return Err(self.corrupt(format!(
                "footer says (count, first_ts, last_ts, max_ts) = {want:?}, records say {got:?}"
            )));
        }
        let mut footer = [0u8; FOOTER_LEN];
        self.reader
            .read_exact(&mut footer)
            .map_err(|e| TierError::io("read", &self.path, e))?;
        if footer != self.info.footer_bytes {
            return Err(self.corrupt("footer changed while reading".into()));
        }
        let mut extra = [0u8; 1];
        if self
            .reader
            .read(&mut extra)
            .map_err(|e| TierError::io("read", &self.path, e))?
            != 0
        {
            return Err(self.corrupt("bytes after the footer".into()));
        }
        Ok(crc32c::crc32c_append(self.crc, &footer))
    }
}

/// The base sequences of the segment files in `dir`, sorted.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| TierError::io("list", dir, e))? {
        let e = e.map_err(|e| TierError::io("list", dir, e))?;
        if let Some(b) = e.file_name().to_str().and_then(format::parse_segment_name) {
            v.push(b);
        }
    }
    v.sort_unstable();
    Ok(v)
}
