//! File names: segments and indexes are named by the first sequence they hold (20
//! zero-padded digits, so names sort in sequence order), consumer offsets by the
//! consumer's name.

use super::offsets::valid_consumer_name;

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of index files.
pub const INDEX_SUFFIX: &str = ".idx";
/// Suffix of temporary files (removed by the writer on open).
pub const TMP_SUFFIX: &str = ".tmp";
/// Prefix of consumer offset files.
pub const OFFSET_PREFIX: &str = "consumer-";
/// Suffix of consumer offset files.
pub const OFFSET_SUFFIX: &str = ".off";
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the file where a running writer publishes its durable point
/// ([`super::DurablePoint`]) for readers in other processes.
pub const DURABLE_FILE: &str = "DURABLE";
/// Name of the file where retention and tiering record the digest chain's value at the
/// front they cut ([`super::chain::ChainFront`]).
pub const CHAIN_FRONT_FILE: &str = "CHAIN_FRONT";
/// Name of the directory where `recover --force` keeps what it takes out of the log.
pub const QUARANTINE_DIR: &str = "quarantine";

/// The segment file name for a base sequence: 20 zero-padded digits, so names sort.
///
/// ```
/// assert_eq!(storage_std::format::segment_name(42), "00000000000000000042.seg");
/// ```
pub fn segment_name(base_seq: u64) -> String {
    format!("{base_seq:020}{SEGMENT_SUFFIX}")
}

/// The index file name for a segment's base sequence.
///
/// ```
/// assert_eq!(storage_std::format::index_name(7), "00000000000000000007.idx");
/// ```
pub fn index_name(base_seq: u64) -> String {
    format!("{base_seq:020}{INDEX_SUFFIX}")
}

/// The offset file name of a consumer.
pub fn offset_name(consumer: &str) -> String {
    format!("{OFFSET_PREFIX}{consumer}{OFFSET_SUFFIX}")
}

fn parse_numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The base sequence of a segment file name, if `name` is one.
///
/// ```
/// use storage_std::format::parse_segment_name;
/// assert_eq!(parse_segment_name("00000000000000000042.seg"), Some(42));
/// assert_eq!(parse_segment_name("42.seg"), None);
/// ```
pub fn parse_segment_name(name: &str) -> Option<u64> {
    parse_numbered(name, SEGMENT_SUFFIX)
}

/// The base sequence of an index file name, if `name` is one.
pub fn parse_index_name(name: &str) -> Option<u64> {
    parse_numbered(name, INDEX_SUFFIX)
}

/// The consumer name of an offset file name, if `name` is one.
pub fn parse_offset_name(name: &str) -> Option<&str> {
    let n = name
        .strip_prefix(OFFSET_PREFIX)?
        .strip_suffix(OFFSET_SUFFIX)?;
    valid_consumer_name(n).then_some(n)
}
