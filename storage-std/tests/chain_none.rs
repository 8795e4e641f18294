//! The digest chain under `Durability::None`: what `WriterStats::chain` reports after a
//! sync (a roll: `None` makes records durable by sealing their segment) or a close is
//! what the files hold.

#[path = "common/recording.rs"]
mod recording;

use recording::record;
use storage_std::archive::Catalog;
use storage_std::{
    Durability, ExpectDigest, VerifyOptions, VerifyStatus, Writer, WriterOptions, verify_dir,
    verify_dir_with,
};

fn check(dir: &std::path::Path, (seq, digest): (u64, [u8; 32])) {
    let plain = verify_dir(dir).unwrap();
    assert_eq!(plain.status, VerifyStatus::Clean, "{:#?}", plain.findings);
    let o = VerifyOptions::default().with_expect(Some(ExpectDigest {
        digest,
        seq: Some(seq),
    }));
    let r = verify_dir_with(dir, &o).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "at {seq}: {:#?}", r.findings);
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_none_writer_reports_the_digest_its_files_hold() {
    for (syncs, first) in [(0usize, 0u64), (1, 0), (3, 0), (1, 100), (3, 7)] {
        let dir = tempfile::tempdir().unwrap();
        let o = WriterOptions::new(Durability::None).with_first_seq(first);
        let w: Writer = Writer::open(dir.path(), o).unwrap();
        let mut points = Vec::new();
        for round in 0..=syncs {
            for i in 0..500u32 {
                w.append(&(round as u32 * 1000 + i).to_le_bytes().repeat(4))
                    .unwrap();
            }
            if round < syncs {
                w.sync().unwrap();
                points.push(w.stats().chain.expect("a durable point after a sync"));
            }
        }
        w.close().unwrap();
        for p in points {
            check(dir.path(), p);
        }
        let reopened: Writer =
            Writer::open(dir.path(), WriterOptions::new(Durability::None)).unwrap();
        let end = reopened.stats().chain;
        reopened.close().unwrap();
        if let Some(p) = end {
            check(dir.path(), p);
        }
    }
}

/// The last durable point of a `None` writer that synced and closed: the sync sealed the
/// records' segment and left an empty active one behind. The digest at the last
/// sequence is the sealed segment's: the empty segment must not move it (the verifier
/// took the empty segment's own chain link as the log's end and called the log corrupt
/// against the writer's published digest, and an archive recording made with `None`
/// failed verification for the same reason).
#[test]
#[cfg_attr(miri, ignore)]
fn an_empty_segment_after_a_sync_does_not_move_the_final_digest() {
    for records in [1u32, 10, 2000] {
        let dir = tempfile::tempdir().unwrap();
        let o = WriterOptions::new(Durability::None).with_segment_bytes(8 << 10);
        let w: Writer = Writer::open(dir.path(), o).unwrap();
        for i in 0..records {
            w.append(&i.to_le_bytes()).unwrap();
        }
        w.sync().unwrap();
        let point = w.stats().chain.expect("a durable point");
        assert_eq!(point.0, u64::from(records) - 1);
        w.close().unwrap();
        check(dir.path(), point);
        // The same with the expectation naming no sequence: the log's end.
        let o = VerifyOptions::default().with_expect(Some(ExpectDigest {
            digest: point.1,
            seq: None,
        }));
        let r = verify_dir_with(dir.path(), &o).unwrap();
        assert_eq!(
            r.status,
            VerifyStatus::Clean,
            "{records}: {:#?}",
            r.findings
        );
    }
}

/// A recording made with `Durability::None` verifies clean after it stops (its sealed
/// manifest's final digest is the writer's published one). Failed before the verifier
/// fix above.
#[test]
#[cfg_attr(miri, ignore)]
fn a_recording_with_none_durability_verifies_clean() {
    for (seg, n) in [(8u64 << 10, 10u64), (8 << 10, 1000), (64 << 20, 1000)] {
        let root = tempfile::tempdir().unwrap();
        let cat = Catalog::open(root.path()).unwrap();
        let opts = WriterOptions::new(Durability::None).with_segment_bytes(seg);
        let mut rec = cat.create("x", opts, Default::default()).unwrap();
        record(&mut rec, n);
        rec.stop().unwrap();
        let r = verify_dir(root.path().join("x").join("log")).unwrap();
        assert_eq!(
            r.status,
            VerifyStatus::Clean,
            "seg {seg} n {n}: {:#?}",
            r.findings
        );
    }
}
