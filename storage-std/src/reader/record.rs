//! The owned record a cursor's [`Iterator`] returns, and the shared read buffer that lets
//! it keep its payload without a copy.

use std::sync::Arc;

use ringcore::frame::FrameHeader;

use crate::backend::{BackendFile, read_full_at};
use crate::format::RecordRef;
use crate::scan::{CHUNK, Source};

/// A buffer of bytes a cursor read, shared with the [`Record`]s it returned: the
/// cursor writes into it again only while no record holds it, and reads into a new one
/// otherwise.
pub(super) type Chunk = Arc<Vec<u8>>;

/// The buffer of `chunk` to fill anew: itself when no record holds it, else a new one.
pub(super) fn refill(chunk: &mut Chunk) -> &mut Vec<u8> {
    if Arc::get_mut(chunk).is_none() {
        *chunk = Arc::new(Vec::new());
    }
    Arc::get_mut(chunk).expect("unique: just checked or just made")
}

/// A segment read through positioned reads into a shared buffer ([`Chunk`]): what
/// [`FileSource`] does, except that an owned [`Record`] can keep the bytes it came from.
pub(super) struct SharedSource {
    pub(super) file: Box<dyn BackendFile>,
    len: u64,
    pub(super) buf: Chunk,
    pub(super) buf_start: u64,
}

impl SharedSource {
    pub(super) fn new(file: Box<dyn BackendFile>, len: u64) -> Self {
        Self {
            file,
            len,
            buf: Chunk::default(),
            buf_start: 0,
        }
    }

    /// Sets a new length (the file grew) and drops the buffer's contents.
    pub(super) fn set_len(&mut self, len: u64) {
        self.len = len;
        refill(&mut self.buf).clear();
    }

    pub(super) fn limit(&self) -> u64 {
        self.len
    }
}

impl Source for SharedSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn bytes_at(&mut self, pos: u64, want: usize) -> std::io::Result<&[u8]> {
        if pos >= self.len {
            return Ok(&[]);
        }
        let avail_total = self.len - pos;
        let want = (want as u64).min(avail_total);
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos < self.buf_start || pos + want > buf_end {
            let n = (want.max(CHUNK as u64)).min(avail_total) as usize;
            let buf = refill(&mut self.buf);
            buf.resize(n, 0);
            let got = read_full_at(&*self.file, pos, buf)?;
            buf.truncate(got);
            self.buf_start = pos;
        }
        let off = (pos - self.buf_start) as usize;
        Ok(&self.buf[off..])
    }
}

/// An owned record: what the [`Iterator`] of a [`Cursor`](super::Cursor) returns. It keeps the buffer
/// its payload was read into alive (shared, not copied), so it may outlive the cursor's
/// next call and the cursor itself; [`Record::as_ref`] borrows it as a [`RecordRef`].
///
/// A record that is kept holds its cursor's read buffer (up to 1 MiB, or one record if
/// larger): the cursor reads on into a new buffer. (Payloads of up to 64 bytes are the
/// exception: they are copied into the record, which is cheaper than sharing.) Copy out the payload
/// (`payload().to_vec()`) to keep many records for long.
#[derive(Clone)]
pub struct Record {
    header: FrameHeader,
    payload: Payload,
}

/// Payloads up to this many bytes are copied into the record: cheaper than the two
/// atomic reference-count operations of sharing the buffer (measured by
/// `benches/src/bin/cursor_iter.rs`: sharing made 64-byte records 0.61x as fast as the
/// lending `next`).
const INLINE_PAYLOAD: usize = 64;

/// Where a [`Record`]'s payload is.
#[derive(Clone)]
enum Payload {
    /// Copied: `bytes[..len]`.
    Inline {
        len: u8,
        bytes: [u8; INLINE_PAYLOAD],
    },
    /// In the cursor's read buffer: `bytes[start..start + header.len]`.
    Shared { bytes: Chunk, start: usize },
}

impl Record {
    #[inline]
    pub(super) fn new(header: FrameHeader, bytes: &Chunk, start: usize) -> Self {
        // As `RecordRef` views: a payload outside the bytes read is empty (the scan
        // checked the record, so this does not happen).
        let len = header.len as usize;
        let start = match start.checked_add(len) {
            Some(end) if end <= bytes.len() => start,
            _ => bytes.len(),
        };
        let header = FrameHeader {
            len: u32::try_from(bytes.len() - start)
                .map_or(header.len, |avail| header.len.min(avail)),
            ..header
        };
        let len = header.len as usize;
        let payload = match u8::try_from(len) {
            Ok(short) if len <= INLINE_PAYLOAD => {
                let mut inline = [0; INLINE_PAYLOAD];
                // A fixed-size copy (a few vector moves, no `memcpy` call) where the
                // buffer holds 64 bytes from the payload on; the bytes past it are
                // never read.
                match bytes.get(start..start + INLINE_PAYLOAD) {
                    Some(whole) => inline.copy_from_slice(whole),
                    None => inline[..len].copy_from_slice(&bytes[start..start + len]),
                }
                Payload::Inline {
                    len: short,
                    bytes: inline,
                }
            }
            _ => Payload::Shared {
                bytes: bytes.clone(),
                start,
            },
        };
        Self { header, payload }
    }

    /// The record's frame header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The payload bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        match &self.payload {
            Payload::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Payload::Shared { bytes, start } => &bytes[*start..*start + self.header.len as usize],
        }
    }

    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// The record's kind.
    pub fn kind(&self) -> u16 {
        self.header.kind
    }

    /// The record's flags.
    pub fn flags(&self) -> u16 {
        self.header.flags
    }

    /// The record's timestamp in nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.header.timestamp_ns
    }

    /// The record's timestamp as a [`std::time::SystemTime`].
    pub fn timestamp(&self) -> std::time::SystemTime {
        crate::time::from_ns(self.header.timestamp_ns)
    }

    /// This record borrowed, as the lending [`Cursor::next`](super::Cursor::next) returns it.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            header: self.header,
            payload: self.payload(),
        }
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("header", &self.header)
            .field("payload_len", &self.header.len)
            .finish()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Record {}

impl PartialEq<RecordRef<'_>> for Record {
    fn eq(&self, other: &RecordRef<'_>) -> bool {
        self.as_ref() == *other
    }
}
