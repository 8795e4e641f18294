//! The BLAKE3 digest chain: every kind of tampering the issue names is detected by the
//! verifier (flip, reorder, drop, delete from the end of a sealed run, cut the tail,
//! edit the manifest, replace a segment with a valid one from another recording), a
//! log without the chain still verifies clean, damaged digest fields are findings (never
//! panics), and the digest the writer publishes is the one the verifier recomputes.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use storage_std::archive::{Manifest, RecordingState, write_manifest};
use storage_std::backend::FileBackend;
use storage_std::format::chain::{DIGEST_KIND_CHAIN, split_area, to_hex};
use storage_std::format::{self, FOOTER_LEN, SegmentFooter};
use storage_std::{
    Durability, ExpectDigest, Problem, RetentionPolicy, VerifyOptions, VerifyReport, VerifyStatus,
    Writer, WriterOptions, verify_dir, verify_dir_with,
};

const RECORDS: u64 = 400;

fn opts(chain: bool) -> WriterOptions {
    let mut o = common::small_opts(Durability::Sync);
    o = o.with_digest_chain(chain);
    o
}

fn payload(seq: u64, salt: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40 + (seq % 7) as usize * 8];
    common::fill(seq, &mut p);
    p[0] ^= salt;
    p
}

/// Writes `RECORDS` records into `dir`; returns the chain as the writer published it
/// at the end.
fn write_log(dir: &Path, chain: bool, salt: u8) -> Option<(u64, [u8; 32])> {
    let w: Writer = Writer::open(dir, opts(chain)).unwrap();
    for s in 0..RECORDS {
        assert_eq!(w.append(&payload(s, salt)).unwrap(), s);
    }
    assert_eq!(w.sync().unwrap(), Some(RECORDS - 1));
    let c = w.stats().chain;
    w.close().unwrap();
    c
}

/// A recording laid out as the catalog does (`ROOT/NAME/log` + `manifest.json`), sealed
/// with its final digest.
fn sealed_recording(root: &Path, salt: u8) -> (PathBuf, [u8; 32]) {
    let log = root.join("log");
    fs::create_dir_all(&log).unwrap();
    let (last, digest) = write_log(&log, true, salt).unwrap();
    let mut m = Manifest::new("rec", BTreeMap::new(), 1);
    m.state = RecordingState::Sealed;
    m.first_seq = Some(0);
    m.last_seq = Some(last);
    m.ended_ns = Some(2);
    m.final_digest = Some(to_hex(&digest));
    write_manifest(&FileBackend::existing(root).unwrap(), &m).unwrap();
    (log, digest)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| format::parse_segment_name(p.file_name().unwrap().to_str().unwrap()).is_some())
        .collect();
    v.sort();
    v
}

fn chain_findings(r: &VerifyReport) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| matches!(f.problem, Problem::Chain { .. }))
        .map(|f| f.message.clone())
        .collect()
}

fn assert_chain_corrupt(r: &VerifyReport) {
    assert_eq!(r.status, VerifyStatus::Corrupt, "{:#?}", r.findings);
    assert!(!chain_findings(r).is_empty(), "{:#?}", r.findings);
}

fn footer_of(seg: &Path) -> SegmentFooter {
    let b = fs::read(seg).unwrap();
    SegmentFooter::decode(&b[b.len() - FOOTER_LEN..]).unwrap()
}

#[test]
fn writer_digest_is_what_the_verifier_computes_and_every_footer_links() {
    let d = tempfile::tempdir().unwrap();
    let (last, digest) = write_log(d.path(), true, 0).unwrap();
    assert_eq!(last, RECORDS - 1);
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(r.chain.digest, Some(to_hex(&digest)));
    assert_eq!(r.chain.seq, Some(last));
    let segs = segments(d.path());
    assert!(segs.len() >= 5, "{}", segs.len());
    assert_eq!(r.chain.chained_segments as usize, segs.len() - 1);
    let mut prev = [0u8; 32];
    for s in &segs[..segs.len() - 1] {
        let f = footer_of(s);
        assert_eq!(f.digest_kind, DIGEST_KIND_CHAIN);
        let (p, this) = split_area(&f.digest);
        assert_eq!(p, prev, "{}", s.display());
        prev = this;
    }
    // A digest kept outside matches; a different one, or one at another sequence, not.
    let ok = |e: ExpectDigest| {
        let o = VerifyOptions::default().with_expect(Some(e));
        verify_dir_with(d.path(), &o).unwrap()
    };
    let r = ok(ExpectDigest { digest, seq: None });
    assert_eq!(
        (r.status, r.chain.expected_matched),
        (VerifyStatus::Clean, Some(true))
    );
    let mut other = digest;
    other[0] ^= 1;
    assert_chain_corrupt(&ok(ExpectDigest {
        digest: other,
        seq: None,
    }));
    assert_chain_corrupt(&ok(ExpectDigest {
        digest,
        seq: Some(last - 1),
    }));
    // Beyond the log: no digest there, a finding rather than a panic.
    assert_chain_corrupt(&ok(ExpectDigest {
        digest,
        seq: Some(last + 10),
    }));
}

#[test]
fn digest_at_every_durable_point_verifies_later() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), opts(true)).unwrap();
    let mut points = Vec::new();
    for s in 0..RECORDS {
        w.append(&payload(s, 0)).unwrap();
        if s % 37 == 0 {
            w.sync().unwrap();
            points.push(w.stats().chain.unwrap());
        }
    }
    w.close().unwrap();
    for (seq, digest) in points {
        let o = VerifyOptions::default().with_expect(Some(ExpectDigest {
            digest,
            seq: Some(seq),
        }));
        let r = verify_dir_with(d.path(), &o).unwrap();
        assert_eq!(
            r.chain.expected_matched,
            Some(true),
            "seq {seq}: {:#?}",
            r.findings
        );
        assert_eq!(r.status, VerifyStatus::Clean);
    }
}

#[test]
fn a_reopened_log_continues_the_chain() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let w: Writer = Writer::open(d.path(), opts(true)).unwrap();
    for s in RECORDS..RECORDS + 50 {
        w.append(&payload(s, 0)).unwrap();
    }
    w.sync().unwrap();
    let (seq, digest) = w.stats().chain.unwrap();
    w.close().unwrap();
    assert_eq!(seq, RECORDS + 49);
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(r.chain.digest, Some(to_hex(&digest)));
}

#[test]
fn flipped_record_byte_is_detected() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let segs = segments(d.path());
    let mut b = fs::read(&segs[2]).unwrap();
    b[200] ^= 0x10;
    fs::write(&segs[2], &b).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
}

#[test]
fn replaced_segment_from_another_recording_is_detected_by_the_chain_alone() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_log(a.path(), true, 0);
    write_log(b.path(), true, 0x55);
    let (sa, sb) = (segments(a.path()), segments(b.path()));
    // Same sizes, same sequences: every CRC and sequence check passes.
    assert_eq!(
        fs::metadata(&sa[2]).unwrap().len(),
        fs::metadata(&sb[2]).unwrap().len()
    );
    fs::copy(&sb[2], &sa[2]).unwrap();
    fs::copy(sb[2].with_extension("idx"), sa[2].with_extension("idx")).unwrap();
    let r = verify_dir(a.path()).unwrap();
    assert_chain_corrupt(&r);
    assert!(
        r.findings
            .iter()
            .all(|f| matches!(f.problem, Problem::Chain { .. })),
        "only the chain can tell: {:#?}",
        r.findings
    );
}

#[test]
fn reordered_and_dropped_segments_are_detected() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let segs = segments(d.path());
    let (x, y) = (fs::read(&segs[1]).unwrap(), fs::read(&segs[2]).unwrap());
    fs::write(&segs[1], &y).unwrap();
    fs::write(&segs[2], &x).unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Corrupt);

    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let segs = segments(d.path());
    fs::remove_file(&segs[2]).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
}

#[test]
fn front_segments_deleted_without_a_recorded_cut_are_detected() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let segs = segments(d.path());
    fs::remove_file(&segs[0]).unwrap();
    fs::remove_file(&segs[1]).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
}

#[test]
fn retention_records_the_cut_and_the_chain_starts_there() {
    let d = tempfile::tempdir().unwrap();
    let mut o = opts(true);
    o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(3)));
    let w: Writer = Writer::open(d.path(), o.clone()).unwrap();
    for s in 0..RECORDS {
        w.append(&payload(s, 0)).unwrap();
    }
    w.sync().unwrap();
    let (_, digest) = w.stats().chain.unwrap();
    w.close().unwrap();
    let segs = segments(d.path());
    assert!(segs.len() <= 4, "{}", segs.len());
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_ne!(r.chain.start.as_deref(), Some("start"));
    assert_eq!(r.chain.digest, Some(to_hex(&digest)));
    // A reopen whose active segment lost its predecessor starts from the recorded cut.
    let w: Writer = Writer::open(d.path(), o).unwrap();
    w.append(b"more").unwrap();
    w.close().unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Clean);
    // The record of the cut removed, or damaged: the front no longer checks.
    let front = d.path().join(format::CHAIN_FRONT_FILE);
    let bytes = fs::read(&front).unwrap();
    fs::remove_file(&front).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
    let mut bad = bytes.clone();
    bad[20] ^= 1;
    fs::write(&front, &bad).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
    fs::write(&front, &bytes[..10]).unwrap();
    assert_chain_corrupt(&verify_dir(d.path()).unwrap());
}

#[test]
fn sealed_run_detects_segments_deleted_from_the_end_and_a_cut_tail() {
    let root = tempfile::tempdir().unwrap();
    let (log, _) = sealed_recording(root.path(), 0);
    assert_eq!(verify_dir(&log).unwrap().status, VerifyStatus::Clean);
    let segs = segments(&log);
    // Whole segments deleted from the end: what is left is a clean log by itself...
    fs::remove_file(&segs[segs.len() - 1]).unwrap();
    fs::remove_file(format!("{}", segs[segs.len() - 1].display()).replace(".seg", ".idx")).ok();
    fs::remove_file(&segs[segs.len() - 2]).unwrap();
    fs::remove_file(format!("{}", segs[segs.len() - 2].display()).replace(".seg", ".idx")).ok();
    let alone = verify_dir_with(
        &log,
        &VerifyOptions::default().with_sealed_run(Some(storage_std::SealedRun {
            file: "none".into(),
            last_seq: None,
            final_digest: None,
        })),
    )
    .unwrap();
    assert!(
        chain_findings(&alone)
            .iter()
            .all(|m| m.contains("sealed run")),
        "{alone:#?}"
    );
    // ...but not the sealed run its manifest describes.
    assert_chain_corrupt(&verify_dir(&log).unwrap());

    let root = tempfile::tempdir().unwrap();
    let (log, _) = sealed_recording(root.path(), 0);
    let segs = segments(&log);
    let last = segs.last().unwrap();
    let len = fs::metadata(last).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    assert_ne!(verify_dir(&log).unwrap().status, VerifyStatus::Clean);
    assert_chain_corrupt(&verify_dir(&log).unwrap());
}

#[test]
fn edited_or_damaged_manifest_digest_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let (log, digest) = sealed_recording(root.path(), 0);
    let dirb = FileBackend::existing(root.path()).unwrap();
    let mut m = storage_std::archive::read_manifest(&dirb, "rec")
        .unwrap()
        .unwrap();
    // Edited with its checksum fixed: the digest no longer matches the log.
    let mut other = digest;
    other[5] ^= 0x80;
    m.final_digest = Some(to_hex(&other));
    write_manifest(&dirb, &m).unwrap();
    assert_chain_corrupt(&verify_dir(&log).unwrap());
    // Not a digest at all: a finding that says so.
    m.final_digest = Some("zz".into());
    write_manifest(&dirb, &m).unwrap();
    let r = verify_dir(&log).unwrap();
    assert_chain_corrupt(&r);
    assert!(
        chain_findings(&r).iter().any(|f| f.contains("damaged")),
        "{r:#?}"
    );
    // Edited by hand (checksum now wrong): the manifest itself is reported damaged.
    m.final_digest = Some(to_hex(&digest));
    write_manifest(&dirb, &m).unwrap();
    assert_eq!(verify_dir(&log).unwrap().status, VerifyStatus::Clean);
    let p = root.path().join(storage_std::archive::MANIFEST_FILE);
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replacen(&to_hex(&digest), &to_hex(&other), 1)).unwrap();
    assert_chain_corrupt(&verify_dir(&log).unwrap());
}

#[test]
fn damaged_footer_digest_fields_are_findings_not_panics() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), true, 0);
    let segs = segments(d.path());
    let b = fs::read(&segs[1]).unwrap();
    let foot = b.len() - FOOTER_LEN;
    let f = SegmentFooter::decode(&b[foot..]).unwrap();
    // A digest rewritten with a valid footer checksum: the chain says it does not match.
    for (half, byte) in [(0usize, 3usize), (32, 9)] {
        let mut g = f;
        g.digest[half + byte] ^= 0xff;
        let mut c = b.clone();
        c[foot..].copy_from_slice(&g.encode());
        fs::write(&segs[1], &c).unwrap();
        assert_chain_corrupt(&verify_dir(d.path()).unwrap());
    }
    // An unknown digest kind, or digest bytes under kind 0: the footer does not decode.
    for kind in [0u32, 7] {
        let mut raw = f.encode();
        raw[format::segment::footer::DIGEST_KIND_OFFSET..][..4]
            .copy_from_slice(&kind.to_le_bytes());
        let crc = crc32c::crc32c(&raw[..FOOTER_LEN - 4]);
        raw[FOOTER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        assert!(SegmentFooter::decode(&raw).is_err());
        let mut c = b.clone();
        c[foot..].copy_from_slice(&raw);
        fs::write(&segs[1], &c).unwrap();
        assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Corrupt);
    }
    // The chain in a version-2 footer is refused too.
    let mut raw = f.encode_version(2);
    let crc = crc32c::crc32c(&raw[..FOOTER_LEN - 4]);
    raw[FOOTER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
    assert!(SegmentFooter::decode(&raw).is_err());
    fs::write(&segs[1], &b).unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Clean);
}

#[test]
fn a_log_without_the_chain_verifies_clean() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(write_log(d.path(), false, 0), None);
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(r.chain.chained_segments, 0);
    assert!(r.chain.unchained_segments > 0);
    for s in &segments(d.path())[..2] {
        assert_eq!(footer_of(s).digest_kind, 0);
    }
    // Continued with the chain on: the chain starts at the new segments.
    let w: Writer = Writer::open(d.path(), opts(true)).unwrap();
    for s in RECORDS..RECORDS + 200 {
        w.append(&payload(s, 0)).unwrap();
    }
    w.sync().unwrap();
    let (_, digest) = w.stats().chain.unwrap();
    w.close().unwrap();
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert!(r.chain.chained_segments > 0);
    assert_eq!(r.chain.digest, Some(to_hex(&digest)));
}

#[test]
fn the_format_1_fixture_still_verifies_clean() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-log");
    let r = verify_dir(&fixture).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(r.chain.chained_segments, 0);
}

#[test]
fn a_recorder_seals_its_manifest_with_the_final_digest() {
    use ringcore::broadcast::GatedRing;
    use storage_std::archive::{Catalog, Drained};
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(16 << 10);
    let mut rec = catalog.create("feed", o, BTreeMap::new()).unwrap();
    let ring = GatedRing::<256, 32, 2>::new();
    let mut w = ring.try_writer().unwrap();
    w.set_next_seq(rec.next_seq());
    let mut tap = ring.join().unwrap();
    for seq in 0..3000u64 {
        w.try_publish(7, seq, &seq.to_le_bytes()).unwrap();
        if (seq + 1) % 128 == 0 {
            while let Ok(Drained::Records(_)) = rec.drain_broadcast(&mut tap, 64) {}
        }
    }
    drop(w);
    rec.record_until_closed(&mut tap, std::time::Duration::from_millis(1))
        .unwrap();
    let m = rec.stop().unwrap();
    assert_eq!(m.last_seq, Some(2999));
    let log = catalog.log_dir("feed").unwrap();
    let r = verify_dir(&log).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(m.final_digest, r.chain.digest);
    assert_eq!(r.chain.manifest_matched, Some(true));
    // The last segment deleted: the sealed run's end no longer matches.
    let last = segments(&log).pop().unwrap();
    fs::remove_file(&last).unwrap();
    fs::remove_file(last.with_extension("idx")).unwrap();
    let r = verify_dir(&log).unwrap();
    assert_chain_corrupt(&r);
    assert_eq!(r.chain.manifest_matched, Some(false));
}

#[test]
fn large_groups_hashed_while_their_write_is_in_flight_give_the_same_chain() {
    let d = tempfile::tempdir().unwrap();
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(4 << 20);
    let w: Writer = Writer::open(d.path(), o).unwrap();
    let payload = vec![0x3c; 1000];
    let mut points = Vec::new();
    for round in 0..12u64 {
        // 1000-byte records, 3000 a round: whole 1 MiB groups (hashed beside the write)
        // and a short one at the end of each round (hashed inline).
        for _ in 0..3000 {
            w.append(&payload).unwrap();
        }
        w.sync().unwrap();
        points.push(w.stats().chain.unwrap());
        assert_eq!(points[round as usize].0, (round + 1) * 3000 - 1);
    }
    assert!(w.stats().groups > 12 * 3, "{:?}", w.stats());
    w.close().unwrap();
    let r = verify_dir(d.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert!(r.chain.chained_segments >= 8, "{:?}", r.chain);
    assert_eq!(r.chain.digest, Some(to_hex(&points.last().unwrap().1)));
    for (seq, digest) in [points[0], points[5]] {
        let o = VerifyOptions::default().with_expect(Some(ExpectDigest {
            digest,
            seq: Some(seq),
        }));
        assert_eq!(
            verify_dir_with(d.path(), &o)
                .unwrap()
                .chain
                .expected_matched,
            Some(true)
        );
    }
}
