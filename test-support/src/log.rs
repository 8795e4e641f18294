//! The records the storage tests write, and the checks of a whole log.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use ringlog_pattern::PayloadSizes;
use storage_std::backend::Backend;
use storage_std::format::LostRange;
use storage_std::{
    Durability, LogItem, LogReader, RecordMeta, Start, VerifyStatus, Writer, WriterOptions, verify,
};

/// Payload lengths of the tests' records: 0 to 96 bytes, by sequence, so records cross
/// every padding case and groups and segments end at varied offsets.
pub const PAYLOAD_SIZES: PayloadSizes = PayloadSizes { min: 0, max: 96 };

/// The payload of sequence `seq`: [`PAYLOAD_SIZES`] long, filled with the pattern.
///
/// ```
/// let p = test_support::payload(7);
/// assert_eq!(p.len(), test_support::PAYLOAD_SIZES.len_for(7));
/// assert!(test_support::check(7, &p));
/// ```
pub fn payload(seq: u64) -> Vec<u8> {
    let mut p = vec![0; PAYLOAD_SIZES.len_for(seq)];
    ringlog_pattern::fill(seq, &mut p);
    p
}

/// Metadata of sequence `seq`: kind and timestamp derive from it (timestamps increase).
pub fn meta(seq: u64) -> RecordMeta {
    RecordMeta {
        kind: (seq % 7) as u16,
        flags: 0,
        timestamp_ns: Some(1_000 + seq * 10),
    }
}

/// Writer options with small segments and indexes, so a few hundred records roll
/// several segments; no stall watchdog (tests on a loaded machine must not trip it).
pub fn small_opts(d: Durability, segment_bytes: u64, index_interval: u32) -> WriterOptions {
    let mut o = WriterOptions::new(d);
    o = o.with_segment_bytes(segment_bytes);
    o = o.with_index_interval(index_interval);
    o = o.with_stall_timeout(None);
    o = o.with_buffer_bytes(4096);
    o
}

/// Group commit closing a group every `max_bytes`, without delay.
pub fn group_of(max_bytes: usize) -> Durability {
    Durability::Group {
        max_bytes,
        max_delay: Duration::ZERO,
    }
}

/// Appends sequences `from..from + n` (payload and metadata of each), asserting each gets
/// its sequence; returns the last.
pub fn write_n<const N: usize>(w: &Writer<N>, from: u64, n: u64) -> u64 {
    let mut last = 0;
    for s in from..from + n {
        last = w.append_with(&payload(s), meta(s)).unwrap();
        assert_eq!(last, s);
    }
    last
}

/// Reads the whole log and checks every record against its sequence's payload and
/// metadata; returns the sequences read (contiguous, or it panics). A log with lost
/// ranges fails here: see [`read_log_checked`].
pub fn read_all_checked(backend: &Arc<dyn Backend>) -> Vec<u64> {
    let (seqs, lost) = read_log_checked(backend);
    assert!(lost.is_empty(), "lost ranges in the log: {lost:?}");
    seqs
}

/// Reads the whole log like [`read_all_checked`], with the lost ranges that an earlier
/// `recover --force` recorded: returns the records' sequences and the lost ranges; the
/// two together cover one contiguous run of sequences (or it panics).
pub fn read_log_checked(backend: &Arc<dyn Backend>) -> (Vec<u64>, Vec<LostRange>) {
    let r = LogReader::new(backend.clone());
    let mut c = r.cursor(Start::Oldest).expect("cursor");
    let mut seqs: Vec<u64> = Vec::new();
    let mut lost: Vec<LostRange> = Vec::new();
    let mut next: Option<u64> = None;
    while let Some(item) = c.next_item().expect("read") {
        let (first, after) = match item {
            LogItem::Record(rec) => {
                let s = rec.seq();
                assert_eq!(
                    rec.payload.len(),
                    PAYLOAD_SIZES.len_for(s),
                    "payload length of {s}"
                );
                assert!(
                    ringlog_pattern::check(s, rec.payload),
                    "payload of {s} is not its pattern"
                );
                assert_eq!(rec.header.kind, meta(s).kind, "kind of {s}");
                assert_eq!(Some(rec.header.timestamp_ns), meta(s).timestamp_ns);
                seqs.push(s);
                (s, s + 1)
            }
            LogItem::Lost(l) => {
                lost.push(l);
                (l.from, l.to + 1)
            }
        };
        if let Some(n) = next {
            assert_eq!(first, n, "gap before {first}");
        }
        next = Some(after);
    }
    (seqs, lost)
}

/// Asserts that the log verifies clean.
pub fn assert_clean(b: &Arc<dyn Backend>, what: &str) {
    let v = verify(b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{what}: {:#?}", v.findings);
}

/// Reopens the log on `b` with `opts` (recovering it) and checks that every sequence up
/// to `durable` survived: the next append comes after it, the log reads back contiguous
/// and intact up to there, and it verifies clean. Returns the sequences the log holds
/// (its first, and the next one to append).
pub fn check_durable_survives<const N: usize>(
    b: &Arc<dyn Backend>,
    opts: WriterOptions,
    durable: Option<u64>,
    what: &str,
) -> Range<u64> {
    let w = Writer::<N>::open_with(b.clone(), opts)
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let next = w.next_seq();
    if let Some(d) = durable {
        assert!(
            next > d,
            "{what}: durable watermark {d} was reported but the log ends before {next}"
        );
    }
    w.close().unwrap();
    let seqs = read_all_checked(b);
    assert_eq!(
        seqs.last().map_or(0, |l| l + 1),
        next,
        "{what}: contiguous up to the end"
    );
    assert_clean(b, what);
    seqs.first().copied().unwrap_or(next)..next
}
