//! The on-disk format: records, segment headers and footers, index files, consumer
//! offsets, and file names, one module each. Everything here works on `&[u8]`, never
//! panics on any input, and is documented with pictures in `docs/format.md`. It is the
//! lowest layer of the crate: it knows no files, no backend and no writer.
//!
//! All integers are little-endian. Every field offset is defined from the previous one,
//! in the module of its structure ([`segment::header`], [`segment::footer`],
//! [`index::header`], [`index::entry`], [`offsets`], [`record`]).
//!
//! ```text
//! segment file 00000000000000000100.seg
//! +----------------+----------+----------+-----+----------+----------------+
//! | segment header | record   | record   | ... | record   | footer         |
//! | 64 bytes       | 8-aligned| 8-aligned|     |          | 160 bytes,     |
//! |                |          |          |     |          | sealed only    |
//! +----------------+----------+----------+-----+----------+----------------+
//! ```

use ringcore::frame::RECORD_ALIGN;

pub mod chain;
mod checks;
pub mod durable;
pub mod index;
pub mod names;
pub mod offsets;
pub mod record;
pub mod segment;

pub use checks::StructError;
pub use durable::DurablePoint;
pub use index::{
    DecodedIndex, IndexEntry, IndexHeader, decode_index, index_floor_seq, index_floor_ts,
};
pub use names::{
    CHAIN_FRONT_FILE, DURABLE_FILE, INDEX_SUFFIX, LOCK_FILE, OFFSET_PREFIX, OFFSET_SUFFIX,
    QUARANTINE_DIR, SEGMENT_SUFFIX, TMP_SUFFIX, index_name, offset_name, parse_index_name,
    parse_offset_name, parse_segment_name, segment_name,
};
pub use offsets::{ConsumerOffset, MAX_CONSUMER_NAME, valid_consumer_name};
pub use record::{
    END_MARK, Entry, LostRange, RecordError, RecordRef, decode_entry, decode_record,
    disk_record_len, encode_lost, encode_record, finish_record, record_crc,
};
pub use segment::{SegmentFooter, SegmentHeader};

/// Segment format version written by this build (segment headers and footers).
///
/// * 1: the first format.
/// * 2: a segment may hold lost-range markers ([`record::LostRange`]), which
///   `recover --force` writes where damaged records were taken out; a footer's
///   `last_seq` covers them, its `record_count` counts data records only (0 allowed).
/// * 3: a footer may carry the BLAKE3 digest chain (digest kind
///   [`chain::DIGEST_KIND_CHAIN`], see [`chain`]); kind 0 (no digest) stays valid.
///
/// Every version from [`MIN_FORMAT_VERSION`] on is read, in one log; a writer that
/// continues a log whose active segment has an older version seals it and starts a new
/// segment in this one.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest segment format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Version of index files (unchanged since the first format).
pub const INDEX_VERSION: u32 = 1;
/// Version of consumer offset files (unchanged since the first format).
pub const OFFSET_VERSION: u32 = 1;

/// Largest payload the format accepts (1 GiB); a larger length field is damage.
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

/// Length of a segment header; records start here ([`segment::header::LEN`]).
pub const SEGMENT_HEADER_LEN: usize = segment::header::LEN;
/// Length of a segment footer ([`segment::footer::LEN`]).
pub const FOOTER_LEN: usize = segment::footer::LEN;
/// Length of an index file header ([`index::header::LEN`]).
pub const INDEX_HEADER_LEN: usize = index::header::LEN;
/// Length of an index entry ([`index::entry::LEN`]).
pub const INDEX_ENTRY_LEN: usize = index::entry::LEN;
/// Length of a consumer offset file ([`offsets::FILE_LEN`]).
pub const OFFSET_FILE_LEN: usize = offsets::FILE_LEN;

/// Magic bytes at the start of every segment file ([`segment::header::MAGIC`]).
pub const SEGMENT_MAGIC: [u8; 8] = segment::header::MAGIC;
/// Magic bytes at the start of a segment footer ([`segment::footer::MAGIC`]).
pub const FOOTER_MAGIC: [u8; 8] = segment::footer::MAGIC;
/// Magic bytes at the start of an index file ([`index::header::MAGIC`]).
pub const INDEX_MAGIC: [u8; 8] = index::header::MAGIC;
/// Magic bytes at the start of a consumer offset file ([`offsets::MAGIC`]).
pub const OFFSET_MAGIC: [u8; 8] = offsets::MAGIC;

/// Rounds `n` up to [`RECORD_ALIGN`], saturating.
pub const fn align_up(n: usize) -> usize {
    match n.checked_add(RECORD_ALIGN - 1) {
        Some(v) => v & !(RECORD_ALIGN - 1),
        None => usize::MAX & !(RECORD_ALIGN - 1),
    }
}
