//! Damaged files: the verifier tells a torn tail from corruption, open cuts only torn
//! tails, `force` cuts the rest and reports exactly what it lost, and readers never
//! return damaged records.

mod common;

use std::sync::Arc;

use common::*;
use storage_std::backend::{Backend, MemBackend};
use storage_std::format::segment::header::{CRC_OFFSET, VERSION_OFFSET};
use storage_std::format::{self, FORMAT_VERSION, SEGMENT_HEADER_LEN, encode_record};
use storage_std::{
    CutKind, Error, LogClass, LogReader, Problem, SeqRange, Severity, Start, VerifyStatus, Writer,
    verify,
};

type W = Writer<8192>;

/// A log of `n` records in small segments; returns the backend and the segment names.
fn log(n: u64) -> (MemBackend, Arc<dyn Backend>, Vec<String>) {
    let (m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    for s in 0..n {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.close().unwrap();
    let mut segs: Vec<String> = b
        .list()
        .unwrap()
        .into_iter()
        .filter(|x| x.ends_with(".seg"))
        .collect();
    segs.sort();
    (m, b, segs)
}

fn flip(m: &MemBackend, name: &str, offset: usize) {
    let mut bytes = m.file_bytes(name).unwrap();
    bytes[offset] ^= 0x10;
    m.put_file(name, bytes);
}

#[test]
fn torn_tail_is_reported_as_such_and_cut_on_open() {
    let (m, b, segs) = log(200);
    let last = segs.last().unwrap();
    let mut bytes = m.file_bytes(last).unwrap();
    // The active segment ends with its last record and a zeroed next header.
    let len = bytes.len();
    assert_eq!(bytes[len - 32..], [0u8; 32]);
    bytes.truncate(len - 32 - 7);
    m.put_file(last, bytes);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::TornTail, "{:#?}", v.findings);
    assert_eq!(v.status.exit_code(), 3);
    assert!(
        v.findings
            .iter()
            .all(|f| f.severity != Severity::Corruption)
    );
    assert_eq!(v.last_seq, Some(198));
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains("\"status\":\"torn_tail\""), "{json}");

    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let cuts = &w.recovery().cuts;
    assert_eq!(cuts.len(), 1);
    assert_eq!(cuts[0].kind, CutKind::TornTail);
    assert_eq!(&cuts[0].file, last);
    assert_eq!(w.next_seq(), 199);
    w.close().unwrap();
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    assert_eq!(read_all_checked(&b).len(), 199);
}

#[test]
fn damage_in_a_sealed_segment_is_corruption_never_silently_cut() {
    let (m, b, segs) = log(300);
    assert!(segs.len() >= 5);
    let victim = &segs[1];
    let base = format::parse_segment_name(victim).unwrap();
    // Inside the third record's payload.
    let bytes = m.file_bytes(victim).unwrap();
    let r0 = format::decode_record(&bytes[SEGMENT_HEADER_LEN..])
        .unwrap()
        .disk_len();
    let r1 = format::decode_record(&bytes[SEGMENT_HEADER_LEN + r0..])
        .unwrap()
        .disk_len();
    let off = SEGMENT_HEADER_LEN + r0 + r1 + 20;
    flip(&m, victim, off);

    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt);
    assert_eq!(v.status.exit_code(), 1);
    let f = v
        .findings
        .iter()
        .find(|f| f.severity == Severity::Corruption)
        .unwrap();
    assert_eq!(&f.file, victim);
    assert_eq!(f.offset, Some((SEGMENT_HEADER_LEN + r0 + r1) as u64));
    assert!(
        matches!(&f.problem, Problem::BadRecord { expected_seq, .. } if *expected_seq == base + 2)
    );

    // Readers stop with an error at the damaged record, after the good ones.
    let r = LogReader::new(b.clone());
    let mut c = r.cursor(Start::Seq(base)).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), base);
    assert_eq!(c.next().unwrap().unwrap().seq(), base + 1);
    assert!(matches!(c.next(), Err(Error::Corrupt { .. })));

    // A deep open refuses and names the file; nothing was changed.
    let mut o = small_opts(small_group());
    o = o.with_deep_check(true);
    match W::open_with(b.clone(), o.clone()) {
        Err(Error::Corrupt { file, .. }) => assert_eq!(&file, victim),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.file_bytes(victim).unwrap().len(), bytes.len());

    // Forced: only the damaged record is lost (recorded as a lost range); every other
    // record stays, and the original file is kept in quarantine/.
    o = o.with_force(true);
    let w = W::open_with(b.clone(), o).unwrap();
    let rep = w.recovery().clone();
    assert_eq!(w.next_seq(), 300);
    w.close().unwrap();
    assert_eq!(rep.found, LogClass::Corruption);
    assert_eq!(rep.cuts.len(), 1);
    assert_eq!(rep.cuts[0].kind, CutKind::Forced);
    let one = SeqRange {
        first: base + 2,
        last: base + 2,
    };
    assert_eq!(rep.lost(), Some(one));
    assert_eq!(
        rep.holes,
        vec![format::LostRange {
            from: base + 2,
            to: base + 2
        }]
    );
    assert_eq!(rep.rebuilt_segments, vec![victim.clone()]);
    assert_eq!(rep.quarantined.len(), 1);
    let (seqs, lost) = read_log_checked(&b);
    assert_eq!(seqs.len(), 299);
    assert_eq!(lost.len(), 1);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    // The quarantined original still holds the damaged bytes.
    let q = b.list_quarantine().unwrap();
    let orig = q.iter().find(|n| n.ends_with(victim.as_str())).unwrap();
    let kept = b.read_all(&storage_std::quarantine::path_of(orig)).unwrap();
    assert_eq!(kept, m.file_bytes(&format!("quarantine/{orig}")).unwrap());
    assert_eq!(kept[off], bytes[off] ^ 0x10);
}

#[test]
fn damaged_footer_of_a_sealed_segment_makes_open_refuse() {
    let (m, b, segs) = log(300);
    let victim = &segs[2];
    let len = m.file_bytes(victim).unwrap().len();
    flip(&m, victim, len - 40);
    match W::open_with(b.clone(), small_opts(small_group())) {
        Err(e @ Error::Corrupt { .. }) => {
            assert!(e.to_string().contains(victim.as_str()), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt);
    assert!(
        v.findings
            .iter()
            .any(|f| &f.file == victim && f.severity == Severity::Corruption)
    );
    // recover --force: the records of the victim are intact, only its footer is bad.
    let victim_last = {
        let mut bytes = m.file_bytes(victim).unwrap();
        bytes[len - 40] ^= 0x10;
        format::SegmentFooter::decode(&bytes[len - format::FOOTER_LEN..])
            .unwrap()
            .last_seq
    };
    let mut o = small_opts(small_group());
    o = o.with_force(true);
    o = o.with_deep_check(true);
    let w = W::open_with(b.clone(), o).unwrap();
    // A footer is rebuilt from the records: nothing is lost.
    assert_eq!(w.next_seq(), 300);
    assert!(victim_last < 299);
    assert_eq!(w.recovery().lost(), None);
    assert_eq!(w.recovery().rebuilt_segments, vec![victim.clone()]);
    w.close().unwrap();
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    assert_eq!(read_all_checked(&b).len(), 300);
}

#[test]
fn mid_log_damage_beyond_the_torn_window_needs_force() {
    // One large active segment: damage far from its end is not a torn tail.
    let (m, b) = mem();
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(1 << 20);
    let w = W::open_with(b.clone(), o.clone()).unwrap();
    for s in 0..500 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.close().unwrap();
    let seg = format::segment_name(0);
    let bytes = m.file_bytes(&seg).unwrap();
    // Find the position of record 100.
    let mut pos = SEGMENT_HEADER_LEN;
    for _ in 0..100 {
        pos += format::decode_record(&bytes[pos..]).unwrap().disk_len();
    }
    flip(&m, &seg, pos + 3);

    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt, "{:#?}", v.findings);
    assert!(v.findings.iter().any(|f| matches!(
        f.problem,
        Problem::RecordsAfterDamage {
            first_seq: 101,
            last_seq: 499,
            ..
        }
    )));

    // Open scans the active segment from its last index entry (records before it were
    // synced); a deep check scans it all, as does an open without the index.
    let mut deep = o.clone();
    deep = deep.with_deep_check(true);
    for (what, opts) in [("deep", deep), ("no index", o.clone())] {
        if what == "no index" {
            m.delete_file(&format::index_name(0));
        }
        match W::open_with(b.clone(), opts) {
            Err(e @ Error::NeedsForce { .. }) => {
                let Error::NeedsForce { offset, lost, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(*offset, pos as u64, "{what}");
                assert_eq!(
                    *lost,
                    SeqRange {
                        first: 100,
                        last: 499
                    },
                    "{what}"
                );
                assert!(e.to_string().contains("force"), "{e}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        m.file_bytes(&seg).unwrap(),
        {
            let mut x = bytes.clone();
            x[pos + 3] ^= 0x10;
            x
        },
        "a refused open changes nothing"
    );
    o = o.with_force(true);
    let w = W::open_with(b.clone(), o).unwrap();
    let cut = w.recovery().cuts[0].clone();
    assert_eq!(cut.kind, CutKind::Forced);
    assert_eq!(cut.offset, pos as u64);
    // Only the damaged record is lost: the records after it were synced and stay.
    assert_eq!(
        cut.lost,
        Some(SeqRange {
            first: 100,
            last: 100
        })
    );
    assert_eq!(w.next_seq(), 500);
    w.close().unwrap();
    let (seqs, lost) = read_log_checked(&b);
    assert_eq!(seqs.len(), 499);
    assert_eq!(lost, vec![format::LostRange { from: 100, to: 100 }]);
}

#[test]
fn damage_within_the_torn_window_is_a_torn_tail() {
    let (m, b, segs) = log(200);
    let last = segs.last().unwrap();
    let bytes = m.file_bytes(last).unwrap();
    // Damage the second-to-last record: one valid record follows, well within a group.
    let mut pos = SEGMENT_HEADER_LEN;
    let mut positions = vec![];
    while let Ok(r) = format::decode_record(&bytes[pos..]) {
        positions.push(pos);
        pos += r.disk_len();
    }
    assert_eq!(pos, bytes.len() - 32, "records, then a zeroed next header");
    let victim = positions[positions.len() - 2];
    flip(&m, last, victim + 30);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::TornTail, "{:#?}", v.findings);
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert_eq!(w.recovery().cuts[0].kind, CutKind::TornTail);
    assert_eq!(w.next_seq(), 198);
    w.close().unwrap();
}

#[test]
fn other_format_versions_are_refused_with_a_clear_error() {
    let (m, b, segs) = log(50);
    let first = &segs[0];
    let newer = FORMAT_VERSION + 1;
    let mut bytes = m.file_bytes(first).unwrap();
    bytes[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&newer.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..CRC_OFFSET]);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    m.put_file(first, bytes.clone());
    match W::open_with(b.clone(), small_opts(small_group())) {
        Err(e @ Error::UnsupportedVersion { found, .. }) if found == newer => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("unsupported format version {newer}")),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("reads version {FORMAT_VERSION}")),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Not a log this build reads: an error for the verifier too, never a guess.
    assert!(matches!(
        verify(&b),
        Err(Error::UnsupportedVersion { found, .. }) if found == newer
    ));
    // The same bytes with a bad checksum are damage, not a version.
    bytes[CRC_OFFSET] ^= 1;
    m.put_file(first, bytes);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt);
    assert!(v.findings.iter().any(|f| matches!(
        &f.problem,
        Problem::BadHeader {
            error: format::StructError::Crc { .. }
        }
    )));
}

#[test]
fn zero_filled_and_recycled_tails_are_clean_ends() {
    let (m, b, segs) = log(60);
    let last = segs.last().unwrap();
    let base = format::parse_segment_name(last).unwrap();
    let good = m.file_bytes(last).unwrap();
    // Preallocated: zeros after the records.
    let mut z = good.clone();
    z.resize(good.len() + 3000, 0);
    m.put_file(last, z);
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    // Recycled: records of an older life (lower sequences) after the records.
    let mut r = good.clone();
    for s in 0..base.min(20) {
        encode_record(
            &mut r,
            &ringcore::frame::FrameHeader {
                seq: s,
                ..Default::default()
            },
            b"old life",
        );
    }
    m.put_file(last, r);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    assert_eq!(read_all_checked(&b).len(), 60, "leftovers are not replayed");
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert!(w.recovery().cuts.is_empty());
    assert_eq!(w.append_with(&payload(60), meta(60)).unwrap(), 60);
    w.close().unwrap();
    assert_eq!(read_all_checked(&b).len(), 61);
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
}

#[test]
fn torn_segment_creation_is_removed_on_open() {
    let (m, b, segs) = log(100);
    // Replace the last (active) segment by a torn creation: half a header.
    let last = segs.last().unwrap().clone();
    let bytes = m.file_bytes(&last).unwrap();
    let base = format::parse_segment_name(&last).unwrap();
    m.put_file(&last, bytes[..30].to_vec());
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::TornTail, "{:#?}", v.findings);
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert!(w.recovery().removed.contains(&last));
    assert_eq!(w.next_seq(), base);
    w.close().unwrap();
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
}

#[test]
fn torn_index_creation_of_the_active_segment_is_a_torn_tail() {
    // kill -9 between creating the active segment's index file and writing its header
    // leaves it empty or short (the page cache keeps the directory entry).
    let (m, b, segs) = log(100);
    let idx = format::index_name(format::parse_segment_name(segs.last().unwrap()).unwrap());
    for len in [0usize, 17] {
        let bytes = m.file_bytes(&idx).unwrap();
        m.put_file(&idx, bytes[..len].to_vec());
        let v = verify(&b).unwrap();
        assert_eq!(v.status, VerifyStatus::TornTail, "{:#?}", v.findings);
        let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
        assert_eq!(w.next_seq(), 100);
        w.close().unwrap();
        assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    }
    // A sealed segment's index was synced before its footer: not torn, but an index
    // is derived: repairable (recovery rebuilds it).
    let sealed = format::index_name(format::parse_segment_name(&segs[0]).unwrap());
    m.put_file(&sealed, Vec::new());
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Repairable);
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    w.close().unwrap();
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
}

#[test]
fn damaged_index_and_offset_files_are_reported() {
    let (m, b, segs) = log(300);
    let idx = format::index_name(format::parse_segment_name(&segs[1]).unwrap());
    let len = m.file_bytes(&idx).unwrap().len();
    flip(&m, &idx, len - 10);
    let store = storage_std::OffsetStore::new(b.clone());
    store.commit("app", 42).unwrap();
    flip(&m, "consumer-app.off", 20);
    // Derived files: repairable, not corruption.
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Repairable, "{:#?}", v.findings);
    assert!(
        v.findings
            .iter()
            .any(|f| f.file == idx && matches!(f.problem, Problem::BadIndex { .. }))
    );
    assert!(v
        .findings
        .iter()
        .any(|f| f.file == "consumer-app.off" && matches!(f.problem, Problem::BadOffset { .. })));
    assert!(matches!(store.get("app"), Err(Error::Corrupt { .. })));
    // Readers do not trust index entries: they still find every record.
    let r = LogReader::new(b.clone());
    for s in [0u64, 77, 150, 299] {
        assert_eq!(
            r.cursor(Start::Seq(s))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .seq(),
            s
        );
    }
}

#[test]
fn verify_reports_a_gap_between_segments() {
    let (m, b, segs) = log(300);
    m.delete_file(&segs[2]);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt);
    assert!(
        v.findings
            .iter()
            .any(|f| matches!(f.problem, Problem::SequenceGap { .. }))
    );
    assert!(matches!(
        W::open_with(b.clone(), small_opts(small_group())),
        Err(Error::Corrupt { .. })
    ));
    let mut o = small_opts(small_group());
    o = o.with_force(true);
    let w = W::open_with(b.clone(), o).unwrap();
    let lost = w.recovery().lost().unwrap();
    let first_missing = format::parse_segment_name(&segs[2]).unwrap();
    let next_present = format::parse_segment_name(&segs[3]).unwrap();
    // The missing segment's range is recorded as lost; everything after it stays.
    assert_eq!(lost.first, first_missing);
    assert_eq!(lost.last, next_present - 1);
    assert_eq!(w.next_seq(), 300);
    w.close().unwrap();
    let (seqs, holes) = read_log_checked(&b);
    assert_eq!(seqs.len() as u64, 300 - (next_present - first_missing));
    assert_eq!(
        holes,
        vec![format::LostRange {
            from: first_missing,
            to: next_present - 1
        }]
    );
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
}

/// Item 4: the torn window is what the writer could have had in flight: one group of
/// at most `max_bytes` of records (4 KiB here), not the largest record the queue could
/// take (32 KiB here), so damage two groups before the end of the records, with valid
/// records reported durable after it, is corruption: open refuses it without `force`.
#[test]
fn damage_more_than_one_group_from_the_end_is_corruption() {
    let (m, b) = mem();
    let mut o = small_opts(group_of(4096));
    o = o.with_segment_bytes(1 << 20);
    let w = Writer::<65536>::open_with(b.clone(), o.clone()).unwrap();
    let last = write_n(&w, 0, 600);
    w.wait_durable(last, None).unwrap();
    w.close().unwrap();
    let seg = format::segment_name(0);
    let bytes = m.file_bytes(&seg).unwrap();
    let header = format::SegmentHeader::decode(&bytes).unwrap();
    assert_eq!(header.torn_window, 4096, "the window is one group");
    let mut pos = SEGMENT_HEADER_LEN;
    let mut starts = vec![];
    while let Ok(r) = format::decode_record(&bytes[pos..]) {
        starts.push(pos);
        pos += r.disk_len();
    }
    assert_eq!(starts.len(), 600);
    let victim = *starts.iter().rev().find(|&&p| pos - p > 10_000).unwrap();
    flip(&m, &seg, victim + 29);
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Corrupt, "{:#?}", v.findings);
    // A deep open (what `ringctl recover` runs) scans the whole active segment.
    o = o.with_deep_check(true);
    match Writer::<65536>::open_with(b.clone(), o) {
        Err(Error::NeedsForce { .. }) => {}
        Ok(w) => panic!(
            "open cut records reported durable: {:?}; next {}",
            w.recovery().cuts,
            w.next_seq()
        ),
        Err(e) => panic!("{e}"),
    }
}
