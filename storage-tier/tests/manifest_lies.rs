//! A tier manifest whose checksum holds but whose entries lie about sequences at the top
//! of the range: an error, never an overflow.

use storage_tier::{ColdEntry, TierManifest, object_key};

fn entry(base: u64, count: u64) -> ColdEntry {
    ColdEntry {
        base_seq: base,
        last_seq: base.wrapping_add(count).wrapping_sub(1),
        record_count: count,
        first_ts: 1,
        last_ts: 2,
        max_ts: 2,
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

fn decode(segments: Vec<ColdEntry>) -> Result<TierManifest, storage_tier::TierError> {
    let mut m = TierManifest::new("log".into());
    m.segments = segments;
    TierManifest::decode(&m.encode(), "lying manifest")
}

/// A segment that ends at u64::MAX leaves no sequence for what follows it: refused
/// (whether or not another segment is listed after it), so `next_seq` never overflows.
#[test]
fn a_segment_ending_at_the_largest_sequence_is_refused() {
    for segs in [
        vec![entry(u64::MAX, 1)],
        vec![entry(u64::MAX - 4, 5), entry(0, 3)],
        vec![entry(0, 2), entry(2, u64::MAX - 1)],
    ] {
        let bases: Vec<u64> = segs.iter().map(|e| e.base_seq).collect();
        match decode(segs) {
            Err(e) => assert!(
                matches!(e, storage_tier::TierError::Corrupt { .. }),
                "{bases:?}: {e:?}"
            ),
            Ok(m) => panic!("{bases:?} accepted; next_seq {:?}", m.next_seq()),
        }
    }
    // The largest representable end is fine.
    let m = decode(vec![entry(u64::MAX - 5, 5)]).unwrap();
    assert_eq!(m.next_seq(), Some(u64::MAX));
}
