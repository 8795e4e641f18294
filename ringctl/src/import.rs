//! `ringctl import`: a capture of `ringcore::io` frames (what a device sends over a UART,
//! saved to a file) appended to a durable log.
//!
//! The capture is read in pieces, so its size does not bound memory (one frame at most
//! plus a read buffer is held). Every good frame becomes one record with the frame's kind,
//! flags and timestamp as sent; the log assigns its own sequences. Damage is skipped and
//! reported: bytes with no sync word, a header checksum that fails, a length over the
//! limit, a record checksum that fails, a frame cut off at the end of the capture. After
//! damage the reader resynchronises on the next sync word whose header checksum holds, so
//! one bad byte costs one frame. Frames whose wire sequence skips ahead are imported and
//! the missing sequences are counted.
//!
//! Exit 0: every byte of the capture was a good frame; 1: damage was skipped (the good
//! frames are imported and durable); 2: usage or I/O error; 5: the log is locked.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use ringcore::frame::RecordView;
use ringcore::io::{SYNC, WireError, decode_frame};
use serde_json::json;
use storage_std::RecordMeta;

use crate::log::{BackendArg, DurabilityArg};
use crate::report::{EXIT_LOCKED, EXIT_USAGE, VERSION, human_bytes};

/// Exit code: damage was skipped.
const EXIT_DAMAGE: u8 = 1;
/// How many skips the report lists one by one (all are counted).
const LISTED_SKIPS: usize = 20;
/// Bytes read from the capture at a time.
const READ_CHUNK: usize = 64 * 1024;

/// `ringctl import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The capture: a file of ringcore::io frames, or `-` for standard input.
    pub capture: PathBuf,
    /// The log directory (created if missing; a log already there is appended to).
    #[arg(long, value_name = "DIR")]
    pub log: PathBuf,
    /// How the log makes records durable (default group). The import waits until every
    /// imported record is durable before it reports, whatever the mode.
    #[arg(long, value_enum)]
    pub durability: Option<DurabilityArg>,
    /// The log's I/O backend.
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendArg,
    /// The largest payload a frame may announce (default and maximum: the largest the
    /// log accepts); longer frames are skipped as damage.
    #[arg(long, value_name = "BYTES", value_parser = crate::report::parse_bytes_usize)]
    pub max_payload: Option<usize>,
    /// One line of JSON (`"type":"import"`, with `version`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Why bytes of the capture were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipReason {
    /// Bytes where no sync word starts.
    NoSync,
    /// A sync word whose header checksum fails.
    HeaderChecksum,
    /// A checksummed header announcing a payload over the limit.
    TooLong,
    /// Header and payload do not match the record checksum.
    Checksum,
    /// The capture ends inside a frame.
    Truncated,
}

impl SkipReason {
    fn name(self) -> &'static str {
        match self {
            Self::NoSync => "no_sync",
            Self::HeaderChecksum => "header_checksum",
            Self::TooLong => "too_long",
            Self::Checksum => "checksum",
            Self::Truncated => "truncated",
        }
    }
}

/// One run of skipped bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Skip {
    /// Offset of the first skipped byte in the capture.
    offset: u64,
    bytes: u64,
    reason: SkipReason,
}

/// What a scan of the capture found.
#[derive(Debug, Default)]
struct ScanReport {
    frames: u64,
    frame_bytes: u64,
    skipped_bytes: u64,
    skip_count: u64,
    /// Per reason, in [`SkipReason`] order.
    by_reason: [u64; 5],
    skips: Vec<Skip>,
    /// The latest skip, listed or not (to merge the next one into).
    last_skip: Option<Skip>,
    /// Wire sequences that a frame skipped over (a later frame's sequence ran ahead).
    missing_wire_seqs: u64,
    last_wire_seq: Option<u64>,
}

impl ScanReport {
    fn skip(&mut self, offset: u64, bytes: u64, reason: SkipReason) {
        if bytes == 0 {
            return;
        }
        self.skipped_bytes += bytes;
        // Consecutive bytes skipped for the same reason are one skip.
        if let Some(last) = self.last_skip.as_mut()
            && last.reason == reason
            && last.offset + last.bytes == offset
        {
            last.bytes += bytes;
            if self.skip_count as usize <= LISTED_SKIPS
                && let Some(listed) = self.skips.last_mut()
            {
                listed.bytes = last.bytes;
            }
            return;
        }
        let skip = Skip {
            offset,
            bytes,
            reason,
        };
        self.last_skip = Some(skip);
        self.skip_count += 1;
        self.by_reason[reason as usize] += 1;
        if self.skips.len() < LISTED_SKIPS {
            self.skips.push(skip);
        }
    }

    fn frame(&mut self, seq: u64, len: usize) {
        if let Some(prev) = self.last_wire_seq
            && seq > prev.wrapping_add(1)
            && prev != u64::MAX
        {
            self.missing_wire_seqs += seq - prev - 1;
        }
        self.last_wire_seq = Some(seq);
        self.frames += 1;
        self.frame_bytes += len as u64;
    }
}

/// Reads frames from a byte stream, resynchronising past damage. Holds at most one frame
/// plus one read chunk.
struct FrameScanner<R> {
    input: R,
    buf: Vec<u8>,
    /// Where unread bytes start in `buf`.
    start: usize,
    /// Where the bytes read so far end in `buf` (the rest is room for the next read).
    end: usize,
    /// Capture offset of `buf[0]`.
    base: u64,
    eof: bool,
    max_payload: usize,
}

impl<R: Read> FrameScanner<R> {
    fn new(input: R, max_payload: usize) -> Self {
        Self {
            input,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            max_payload,
        }
    }

    /// Reads until at least `want` unread bytes are buffered or the input ends.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        // Grows to the largest frame seen, once: no zeroing per read.
        let room = want.max(READ_CHUNK);
        if self.buf.len() < room {
            self.buf.resize(room, 0);
        }
        while !self.eof && self.end < want {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Skips to the next position (after the current one) where a sync word could start,
    /// counting what it passed over.
    fn resync(&mut self, report: &mut ScanReport, reason: SkipReason) {
        let from = self.start + 1;
        let rest = &self.buf[from.min(self.end)..self.end];
        // A sync word starts at a 0xFE; one cut off at the buffer's end is found after the
        // next fill, since the scan then starts at that byte.
        let next = rest
            .iter()
            .position(|&b| b == SYNC[0])
            .map_or(self.end, |p| from + p);
        report.skip(self.offset(), (next - self.start) as u64, reason);
        self.start = next;
    }

    /// Hands every good frame to `each`, in capture order; stops at the first error
    /// `each` returns.
    fn scan<E>(
        &mut self,
        report: &mut ScanReport,
        mut each: impl FnMut(RecordView<'_>) -> Result<(), E>,
    ) -> Result<Result<(), E>, std::io::Error> {
        loop {
            if self.start == self.end {
                if self.eof {
                    return Ok(Ok(()));
                }
                self.fill(READ_CHUNK)?;
                continue;
            }
            match decode_frame(&self.buf[self.start..self.end], self.max_payload) {
                Ok((rec, len)) => {
                    report.frame(rec.header.seq, len);
                    if let Err(e) = each(rec) {
                        return Ok(Err(e));
                    }
                    self.start += len;
                }
                // Compacts once per buffer's worth of frames, not once per frame.
                Err(WireError::Truncated { needed, .. }) if !self.eof => {
                    self.fill(needed.max(READ_CHUNK))?
                }
                // The capture ends inside what this header announces. Good frames may
                // still follow a frame cut short (a device reset while it was sending):
                // the cut frame ends where the next whole frame starts, or at the end.
                // Every byte left is in the buffer now.
                Err(WireError::Truncated { .. }) => {
                    let next = (self.start + 1..self.end)
                        .find(|&p| {
                            self.buf[p] == SYNC[0]
                                && decode_frame(&self.buf[p..self.end], self.max_payload).is_ok()
                        })
                        .unwrap_or(self.end);
                    report.skip(
                        self.offset(),
                        (next - self.start) as u64,
                        SkipReason::Truncated,
                    );
                    self.start = next;
                }
                Err(WireError::NoSync) => self.resync(report, SkipReason::NoSync),
                Err(WireError::HeaderChecksum) => self.resync(report, SkipReason::HeaderChecksum),
                Err(WireError::TooLong { .. }) => self.resync(report, SkipReason::TooLong),
                Err(WireError::Checksum { .. }) => self.resync(report, SkipReason::Checksum),
            }
        }
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    crate::warn!("ringctl import: {msg}");
    ExitCode::from(code)
}

/// Runs `ringctl import`.
pub fn import(a: &ImportArgs) -> ExitCode {
    let input: Box<dyn Read> = if a.capture.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match File::open(&a.capture) {
            Ok(f) => Box::new(f),
            Err(e) => return fail(EXIT_USAGE, format!("{}: {e}", a.capture.display())),
        }
    };
    let durability = a.durability.unwrap_or_default().durability();
    let opts = storage_std::WriterOptions::new(durability);
    let writer = match a.backend.open(&a.log, opts, None) {
        Ok((w, _)) => w,
        Err(e) => return fail(e.code, e.message),
    };
    let limit = writer.max_payload();
    let max_payload = match a.max_payload {
        Some(m) if m > limit => {
            return fail(
                EXIT_USAGE,
                format!("--max-payload {m} exceeds the largest payload the log accepts, {limit}"),
            );
        }
        Some(m) => m,
        None => limit,
    };
    let first_seq = writer.next_seq();
    let mut report = ScanReport::default();
    let mut scanner = FrameScanner::new(input, max_payload);
    let scanned = scanner.scan(&mut report, |rec| {
        let meta = RecordMeta {
            kind: rec.header.kind,
            flags: rec.header.flags,
            timestamp_ns: Some(rec.header.timestamp_ns),
        };
        writer.append_with(rec.payload, meta).map(|_| ())
    });
    let append_error = match scanned {
        Err(e) => Some((EXIT_USAGE, format!("reading {}: {e}", a.capture.display()))),
        Ok(Err(e)) => Some((EXIT_USAGE, format!("appending to the log: {e}"))),
        Ok(Ok(())) => None,
    };
    let closed = writer.close();
    if let Some((code, msg)) = append_error {
        return fail(code, msg);
    }
    let closed = match closed {
        Ok(c) => c,
        Err(e) => {
            let code = match e {
                storage_std::Error::Locked(_) => EXIT_LOCKED,
                _ => EXIT_USAGE,
            };
            return fail(code, format!("closing the log: {e}"));
        }
    };
    let imported = closed.next_seq - first_seq;
    let code = if report.skip_count > 0 {
        EXIT_DAMAGE
    } else {
        0
    };
    let printed = if a.json {
        print_json(a, &report, first_seq, imported, closed.durable_seq)
    } else {
        print_text(a, &report, first_seq, imported)
    };
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return fail(EXIT_USAGE, format!("cannot write the report: {e}"));
    }
    ExitCode::from(code)
}

fn print_json(
    a: &ImportArgs,
    r: &ScanReport,
    first_seq: u64,
    imported: u64,
    durable_seq: Option<u64>,
) -> std::io::Result<()> {
    use std::io::Write;
    let reasons = [
        SkipReason::NoSync,
        SkipReason::HeaderChecksum,
        SkipReason::TooLong,
        SkipReason::Checksum,
        SkipReason::Truncated,
    ];
    let by_reason: serde_json::Map<_, _> = reasons
        .iter()
        .map(|&s| (s.name().to_owned(), r.by_reason[s as usize].into()))
        .collect();
    let skips: Vec<_> = r
        .skips
        .iter()
        .map(|s| json!({"offset": s.offset, "bytes": s.bytes, "reason": s.reason.name()}))
        .collect();
    let line = json!({
        "type": "import",
        "version": VERSION,
        "capture": a.capture.display().to_string(),
        "log": a.log.display().to_string(),
        "frames": r.frames,
        "frame_bytes": r.frame_bytes,
        "imported": imported,
        "first_seq": (imported > 0).then_some(first_seq),
        "last_seq": (imported > 0).then(|| first_seq + imported - 1),
        "durable_seq": durable_seq,
        "skipped_bytes": r.skipped_bytes,
        "skips": r.skip_count,
        "skips_by_reason": by_reason,
        "first_skips": skips,
        "missing_wire_seqs": r.missing_wire_seqs,
        "clean": r.skip_count == 0,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

fn print_text(
    a: &ImportArgs,
    r: &ScanReport,
    first_seq: u64,
    imported: u64,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let range = if imported > 0 {
        format!(" as sequences {first_seq}..={}", first_seq + imported - 1)
    } else {
        String::new()
    };
    writeln!(
        out,
        "imported {imported} frames ({}){range} into {}, durable",
        human_bytes(r.frame_bytes),
        a.log.display()
    )?;
    if r.skip_count > 0 {
        writeln!(
            out,
            "skipped {} of damage in {} places:",
            human_bytes(r.skipped_bytes),
            r.skip_count
        )?;
        for s in &r.skips {
            writeln!(
                out,
                "  offset {}: {} bytes ({})",
                s.offset,
                s.bytes,
                s.reason.name()
            )?;
        }
        if r.skip_count as usize > r.skips.len() {
            writeln!(out, "  ... {} more", r.skip_count as usize - r.skips.len())?;
        }
    }
    if r.missing_wire_seqs > 0 {
        writeln!(
            out,
            "{} wire sequences missing (the sender numbered frames that are not in the capture)",
            r.missing_wire_seqs
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringcore::frame::FrameHeader;
    use ringcore::io::encode_frame;

    fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let h = FrameHeader {
            seq,
            timestamp_ns: 1000 + seq,
            len: payload.len() as u32,
            kind: 7,
            flags: 1,
        };
        let mut out = vec![0; payload.len() + 64];
        let n = encode_frame(&h, payload, &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// Reads in tiny pieces, so frames straddle every read boundary.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn scan(bytes: &[u8], piece: usize, max: usize) -> (Vec<(u64, Vec<u8>)>, ScanReport) {
        let mut got = Vec::new();
        let mut report = ScanReport::default();
        FrameScanner::new(Trickle(bytes, piece), max)
            .scan::<()>(&mut report, |r| {
                got.push((r.header.seq, r.payload.to_vec()));
                Ok(())
            })
            .unwrap()
            .unwrap();
        (got, report)
    }

    #[test]
    fn clean_capture_yields_every_frame_in_any_read_size() {
        let mut cap = Vec::new();
        for i in 0..50_u64 {
            cap.extend(frame(i, &vec![i as u8; (i * 7 % 300) as usize]));
        }
        for piece in [1, 3, 36, 4096, 1 << 20] {
            let (got, r) = scan(&cap, piece, 1024);
            assert_eq!(got.len(), 50, "piece {piece}");
            assert!(got.iter().enumerate().all(|(i, (s, p))| *s == i as u64
                && p.len() == i * 7 % 300
                && p.iter().all(|&b| b == i as u8)));
            assert_eq!(
                (r.skip_count, r.skipped_bytes, r.missing_wire_seqs),
                (0, 0, 0)
            );
            assert_eq!(r.frame_bytes, cap.len() as u64);
        }
    }

    #[test]
    fn every_single_byte_flip_costs_at_most_the_frame_it_hits() {
        let frames: Vec<Vec<u8>> = (0..6_u64).map(|i| frame(i, &[i as u8; 40])).collect();
        let cap: Vec<u8> = frames.concat();
        let flen = frames[0].len();
        for at in 0..cap.len() {
            for bit in [0x01_u8, 0x80] {
                let mut bad = cap.clone();
                bad[at] ^= bit;
                let (got, r) = scan(&bad, 17, 1024);
                let hit = (at / flen) as u64;
                let seqs: Vec<u64> = got.iter().map(|g| g.0).collect();
                let want: Vec<u64> = (0..6).filter(|&s| s != hit).collect();
                assert_eq!(seqs, want, "flip {bit:#x} at {at}");
                assert!(r.skip_count >= 1, "flip at {at} reported no damage");
                assert_eq!(r.skipped_bytes + r.frame_bytes, cap.len() as u64);
                assert_eq!(r.missing_wire_seqs, u64::from(hit != 0 && hit != 5));
            }
        }
    }

    #[test]
    fn garbage_truncation_and_huge_lengths_are_skipped_and_named() {
        let mut cap = b"boot banner: hello\r\n".to_vec();
        cap.extend(frame(0, b"first"));
        // A sync word and a header announcing 4 GiB, checksummed: a limit, not a wait.
        let mut huge = frame(1, b"x");
        let h = FrameHeader {
            seq: 1,
            timestamp_ns: 0,
            len: u32::MAX,
            kind: 0,
            flags: 0,
        };
        let mut hdr = [0_u8; 24];
        h.encode_into(&mut hdr);
        huge[4..28].copy_from_slice(&hdr);
        let crc = crc32c_of(&hdr);
        huge[28..32].copy_from_slice(&crc.to_le_bytes());
        cap.extend(&huge);
        cap.extend(frame(2, b"second"));
        let tail = frame(3, b"cut off");
        cap.extend(&tail[..tail.len() - 3]);
        let (got, r) = scan(&cap, 5, 1024);
        assert_eq!(got, vec![(0, b"first".to_vec()), (2, b"second".to_vec())]);
        assert_eq!(r.by_reason[SkipReason::NoSync as usize], 1);
        assert_eq!(r.by_reason[SkipReason::TooLong as usize], 1);
        assert_eq!(r.by_reason[SkipReason::Truncated as usize], 1);
        assert_eq!(
            r.skips[0],
            Skip {
                offset: 0,
                bytes: 20,
                reason: SkipReason::NoSync
            }
        );
        assert_eq!(r.skipped_bytes + r.frame_bytes, cap.len() as u64);
    }

    /// A frame cut short mid-payload (a device reset while sending) whose header
    /// announces more bytes than the rest of the capture holds: the good frames after it
    /// are imported, and only the cut frame is skipped, as truncated.
    #[test]
    fn frames_after_a_cut_frame_near_the_end_are_not_lost() {
        let mut cap = frame(0, b"first");
        let cut_len = 100;
        let cut = frame(1, &[0xAB; 600]);
        cap.extend(&cut[..cut_len]);
        for i in 2..6_u64 {
            cap.extend(frame(i, &[i as u8; 20]));
        }
        for piece in [1, 7, 4096] {
            let (got, r) = scan(&cap, piece, 1024);
            let seqs: Vec<u64> = got.iter().map(|g| g.0).collect();
            assert_eq!(seqs, vec![0, 2, 3, 4, 5], "piece {piece}");
            assert_eq!(r.skip_count, 1, "piece {piece}");
            assert_eq!(
                r.skips[0],
                Skip {
                    offset: frame(0, b"first").len() as u64,
                    bytes: cut_len as u64,
                    reason: SkipReason::Truncated
                }
            );
            assert_eq!(r.skipped_bytes + r.frame_bytes, cap.len() as u64);
        }
        // A flood of sync bytes after the cut frame: skipped in one pass, no frame made up.
        let mut flood = frame(0, b"first");
        flood.extend(&cut[..cut_len]);
        flood.extend(vec![0xFE; 100_000]);
        let (got, r) = scan(&flood, 4096, 1024);
        assert_eq!(got.len(), 1);
        assert_eq!(r.skipped_bytes + r.frame_bytes, flood.len() as u64);
    }

    fn crc32c_of(bytes: &[u8]) -> u32 {
        crc32c::crc32c(bytes)
    }
}
