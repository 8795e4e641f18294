//! The tier manifest: which segments are cold, where their objects are and what they
//! must check out as; multipart uploads in flight; where retention cut the front. One
//! copy in `DIR/tier/manifest` (replaced atomically: temporary file, fsync, rename,
//! directory fsync) and one in the bucket (`PREFIX/manifest`); the bucket's copy alone
//! is enough to restore.
//!
//! File format: one header line `ringlog-tier-manifest 1 crc32c=XXXXXXXX len=N`, then N
//! bytes of JSON whose CRC32C is XXXXXXXX (so `tail -n +2 FILE | jq` reads it).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TierError};

/// The manifest's file-format version.
pub const MANIFEST_VERSION: u32 = 1;
const MAGIC: &str = "ringlog-tier-manifest";
/// Key of the manifest in the bucket, under the prefix.
pub(crate) const MANIFEST_KEY: &str = "manifest";
/// Folder of the segment objects in the bucket, under the prefix.
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// The object key of a segment: `segments/BASE.rlc` (20 digits, so keys sort).
pub fn object_key(base_seq: u64) -> String {
    format!("{SEGMENTS_DIR}/{base_seq:020}.rlc")
}

/// One cold segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdEntry {
    /// First sequence.
    pub base_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Records.
    pub record_count: u64,
    /// First record's timestamp (ns).
    pub first_ts: u64,
    /// Last record's timestamp (ns).
    pub last_ts: u64,
    /// Largest record timestamp (ns).
    pub max_ts: u64,
    /// Segment creation time (ns).
    pub created_ns: u64,
    /// Segment sealing time (ns).
    pub sealed_ns: u64,
    /// When it was tiered (ns).
    pub tiered_ns: u64,
    /// The segment file's length.
    pub segment_bytes: u64,
    /// CRC32C of the whole segment file.
    pub segment_crc32c: u32,
    /// Where the records end in the segment file (its footer's offset).
    pub records_end: u64,
    /// Object key under the store's prefix.
    pub key: String,
    /// Codec (`zstd`, `lz4`).
    pub codec: String,
    /// Object length.
    pub object_bytes: u64,
    /// Whole-object CRC32C.
    pub object_crc32c: u32,
    /// Frame index position in the object.
    pub index_offset: u64,
    /// Frame index length.
    pub index_len: u64,
    /// Frame index CRC32C.
    pub index_crc32c: u32,
    /// Frames.
    pub frame_count: u32,
    /// The segment's digest-chain value, hex, once the format has one (the integrity
    /// issue's chain; `None` while footers carry no digest).
    pub digest: Option<String>,
}

/// A multipart upload in flight: recorded before its first part, aborted on resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    /// Object key.
    pub key: String,
    /// The store's upload id.
    pub upload_id: String,
    /// When it started (ns).
    pub started_ns: u64,
}

/// Where cold retention cut the front of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontCut {
    /// The first sequence still held (everything below it was deleted).
    pub first_seq: u64,
    /// The digest chain's value at the cut, hex (`None` until the format has a chain).
    pub digest: Option<String>,
    /// When (ns).
    pub cut_ns: u64,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierManifest {
    /// File-format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// A random id given to the log when its first segment was tiered: a bucket that
    /// holds another log's manifest is refused.
    pub log_id: String,
    /// Grows by one on every write; the newer of the local and bucket copies wins.
    pub generation: u64,
    /// Cold segments, oldest first, contiguous.
    pub segments: Vec<ColdEntry>,
    /// Multipart uploads that may be in flight.
    pub pending_uploads: Vec<PendingUpload>,
    /// The last cut of cold retention, if any.
    pub front_cut: Option<FrontCut>,
}

impl TierManifest {
    /// An empty manifest for a new log id.
    pub fn new(log_id: String) -> Self {
        Self {
            version: MANIFEST_VERSION,
            log_id,
            generation: 0,
            segments: Vec::new(),
            pending_uploads: Vec::new(),
            front_cut: None,
        }
    }

    /// The sequence after the last cold one, if any segment is cold.
    pub fn next_seq(&self) -> Option<u64> {
        self.segments.last().map(|e| e.last_seq + 1)
    }

    /// The entry of segment `base`.
    pub fn entry(&self, base: u64) -> Option<&ColdEntry> {
        self.segments
            .binary_search_by_key(&base, |e| e.base_seq)
            .ok()
            .map(|i| &self.segments[i])
    }

    /// Encodes: header line, then JSON.
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        let mut out = format!(
            "{MAGIC} {MANIFEST_VERSION} crc32c={:08x} len={}\n",
            crc32c::crc32c(&body),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Decodes and checks a manifest (`what` names it in errors).
    pub fn decode(bytes: &[u8], what: &str) -> Result<Self> {
        let bad = |d: String| TierError::corrupt(what, d);
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .filter(|&n| n <= 128)
            .ok_or_else(|| bad("no manifest header line".into()))?;
        let line = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad("header not UTF-8".into()))?;
        let f: Vec<&str> = line.split(' ').collect();
        let [magic, version, crc, len] = f.as_slice() else {
            return Err(bad(format!("bad header line {line:?}")));
        };
        if *magic != MAGIC {
            return Err(bad(format!("not a tier manifest ({line:?})")));
        }
        if *version != MANIFEST_VERSION.to_string() {
            return Err(TierError::Config(format!(
                "{what}: manifest version {version} (this build reads {MANIFEST_VERSION})"
            )));
        }
        let crc = crc
            .strip_prefix("crc32c=")
            .and_then(|c| u32::from_str_radix(c, 16).ok())
            .ok_or_else(|| bad(format!("bad checksum field {crc:?}")))?;
        let len = len
            .strip_prefix("len=")
            .and_then(|c| c.parse::<usize>().ok())
            .ok_or_else(|| bad(format!("bad length field {len:?}")))?;
        let body = &bytes[nl + 1..];
        if body.len() != len {
            return Err(bad(format!(
                "{} bytes of JSON, the header says {len}",
                body.len()
            )));
        }
        let computed = crc32c::crc32c(body);
        if computed != crc {
            return Err(bad(format!(
                "checksum mismatch: header {crc:08x}, computed {computed:08x}"
            )));
        }
        let m: Self = serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON: {e}")))?;
        m.check().map_err(bad)?;
        Ok(m)
    }

    /// Structural checks: contiguous, ordered, self-consistent entries.
    pub fn check(&self) -> Result<(), String> {
        if self.version != MANIFEST_VERSION {
            return Err(format!("version {} in the JSON", self.version));
        }
        let mut next: Option<u64> = None;
        for e in &self.segments {
            if e.record_count == 0 || e.base_seq.checked_add(e.record_count - 1) != Some(e.last_seq)
            {
                return Err(format!(
                    "segment {}: count and last sequence disagree",
                    e.base_seq
                ));
            }
            if next.is_some_and(|n| n != e.base_seq) {
                return Err(format!(
                    "segment {} does not follow the previous one (expected {})",
                    e.base_seq,
                    next.unwrap_or(0)
                ));
            }
            if e.key != object_key(e.base_seq) {
                return Err(format!(
                    "segment {}: unexpected key {:?}",
                    e.base_seq, e.key
                ));
            }
            // A segment ending at u64::MAX leaves no sequence after it (`next_seq`).
            next = Some(e.last_seq.checked_add(1).ok_or_else(|| {
                format!(
                    "segment {} ends at the largest sequence, {}",
                    e.base_seq, e.last_seq
                )
            })?);
        }
        Ok(())
    }
}

/// Writes `bytes` to `dir/name` durably and atomically: a temporary file, fsync, rename,
/// directory fsync. A crash leaves the old file or the new one.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| TierError::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| TierError::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| TierError::io("sync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(|e| TierError::io("rename", &tmp, e))?;
    sync_dir(dir)
}

/// fsyncs a directory (after creating, renaming or removing entries in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TierError::io("sync_dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(base: u64, count: u64) -> ColdEntry {
        ColdEntry {
            base_seq: base,
            // Wrapping: the tests below list segments at the top of the range.
            last_seq: base.wrapping_add(count).wrapping_sub(1),
            record_count: count,
            first_ts: 1,
            last_ts: 2,
            max_ts: u64::MAX,
            created_ns: 0,
            sealed_ns: 0,
            tiered_ns: 0,
            segment_bytes: 1000,
            segment_crc32c: 7,
            records_end: 840,
            key: object_key(base),
            codec: "zstd".into(),
            object_bytes: 500,
            object_crc32c: 9,
            index_offset: 400,
            index_len: 48,
            index_crc32c: 3,
            frame_count: 1,
            digest: None,
        }
    }

    /// A segment that ends at u64::MAX leaves no sequence for what follows it: refused
    /// (whether or not another segment is listed after it), so `next_seq` never
    /// overflows, even when the manifest's checksum holds.
    #[test]
    fn a_segment_ending_at_the_largest_sequence_is_refused() {
        let decode = |segments: Vec<ColdEntry>| {
            let mut m = TierManifest::new("log".into());
            m.segments = segments;
            TierManifest::decode(&m.encode(), "lying manifest")
        };
        for segs in [
            vec![entry(u64::MAX, 1)],
            vec![entry(u64::MAX - 4, 5), entry(0, 3)],
            vec![entry(0, 2), entry(2, u64::MAX - 1)],
        ] {
            let bases: Vec<u64> = segs.iter().map(|e| e.base_seq).collect();
            match decode(segs) {
                Err(e) => assert!(matches!(e, TierError::Corrupt { .. }), "{bases:?}: {e:?}"),
                Ok(m) => panic!("{bases:?} accepted; next_seq {:?}", m.next_seq()),
            }
        }
        // The largest representable end is fine.
        let m = decode(vec![entry(u64::MAX - 5, 5)]).unwrap();
        assert_eq!(m.next_seq(), Some(u64::MAX));
    }

    #[test]
    fn round_trip_and_every_damage_is_an_error() {
        let mut m = TierManifest::new("abc".into());
        m.segments = vec![entry(0, 10), entry(10, 5)];
        m.generation = 3;
        let b = m.encode();
        assert_eq!(TierManifest::decode(&b, "m").unwrap(), m);
        // u64 values above 2^53 survive the JSON.
        assert_eq!(
            TierManifest::decode(&b, "m").unwrap().segments[0].max_ts,
            u64::MAX
        );
        for i in (0..b.len()).step_by(7) {
            let mut d = b.clone();
            d[i] ^= 0x01;
            if d == b {
                continue;
            }
            assert!(TierManifest::decode(&d, "m").is_err(), "flip at {i}");
        }
        for cut in [0, 10, b.len() / 2, b.len() - 1] {
            assert!(
                TierManifest::decode(&b[..cut], "m").is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn gaps_and_bad_counts_are_refused() {
        let mut m = TierManifest::new("x".into());
        m.segments = vec![entry(0, 10), entry(11, 5)];
        assert!(m.check().is_err());
        m.segments = vec![entry(0, 10)];
        m.segments[0].last_seq = 3;
        assert!(m.check().is_err());
        let mut m2 = TierManifest::new("x".into());
        m2.segments = vec![entry(0, 1)];
        m2.segments[0].key = "segments/other".into();
        assert!(m2.check().is_err());
    }
}
