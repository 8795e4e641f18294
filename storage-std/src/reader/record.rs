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
/// larger): the cursor reads on into a new buffer. (A record with an empty payload holds
/// nothing.) Copy out the payload (`payload().to_vec()`) to keep many records for long.
#[derive(Clone)]
pub struct Record {
    header: FrameHeader,
    payload: Payload,
}

/// Where a [`Record`]'s payload is.
///
/// Always shared, short payloads too: copying payloads of up to 64 bytes into the
/// record made it 96 bytes, and the compiler's moves of it (into the `Option<Result<_>>`
/// item, out of it, out of the `Result`) cost more than the two atomic reference-count
/// operations of sharing. Measured by `benches/src/bin/cursor_iter.rs` at 64-byte
/// payloads, thread CPU time on a shared 2-core machine: the iterator at 0.61-0.95x
/// (mostly 0.70-0.79x) the lending `next` with the copy, 0.76-0.94x (mostly 0.86-0.92x)
/// shared.
#[derive(Clone)]
enum Payload {
    /// No payload bytes: no buffer to hold.
    Empty,
    /// In the cursor's read buffer: `bytes[start..start + header.len]`.
    Shared { bytes: Chunk, start: usize },
}

impl Record {
    /// The record of `header` whose payload starts at `start` in `bytes`.
    #[inline]
    pub(super) fn new(header: FrameHeader, bytes: &Chunk, start: usize) -> Self {
        let len = header.len as usize;
        if len == 0 {
            return Self {
                header,
                payload: Payload::Empty,
            };
        }
        if start.checked_add(len).is_some_and(|end| end <= bytes.len()) {
            return Self {
                header,
                payload: Payload::Shared {
                    bytes: bytes.clone(),
                    start,
                },
            };
        }
        Self::outside(header)
    }

    /// [`Record::new`] for a payload outside the bytes read: as `RecordRef` views it,
    /// empty, and so is the length its header gives (the scan checked the record, so this
    /// does not happen).
    #[cold]
    #[inline(never)]
    fn outside(header: FrameHeader) -> Self {
        Self {
            header: FrameHeader { len: 0, ..header },
            payload: Payload::Empty,
        }
    }

    /// The record's frame header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The payload bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        match &self.payload {
            Payload::Empty => &[],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32) -> FrameHeader {
        FrameHeader {
            seq: 7,
            timestamp_ns: 1,
            len,
            kind: 2,
            flags: 3,
        }
    }

    #[test]
    fn a_shared_record_keeps_its_bytes_when_the_buffer_is_refilled() {
        let mut chunk: Chunk = Arc::new(b"..hello..".to_vec());
        let r = Record::new(header(5), &chunk, 2);
        // The record holds the buffer, so the cursor's next read goes to a new one.
        refill(&mut chunk).clear();
        assert_eq!(r.payload(), b"hello");
        assert_eq!(r.as_ref().header, header(5));
    }

    #[test]
    fn an_empty_payload_holds_no_buffer() {
        let mut chunk: Chunk = Arc::new(b"abc".to_vec());
        let r = Record::new(header(0), &chunk, 3);
        assert_eq!(r.payload(), b"");
        // Nothing shares the buffer: refilling reuses it.
        let before = Arc::as_ptr(&chunk);
        refill(&mut chunk);
        assert_eq!(Arc::as_ptr(&chunk), before);
    }

    #[test]
    fn a_payload_outside_the_bytes_read_is_empty_not_a_panic() {
        let chunk: Chunk = Arc::new(vec![1; 10]);
        for (len, start) in [(5, 8), (1, 11), (u32::MAX, 0), (1, usize::MAX)] {
            let r = Record::new(header(len), &chunk, start);
            assert_eq!(r.payload(), b"");
            assert_eq!(r.header().len, 0);
        }
    }
}
