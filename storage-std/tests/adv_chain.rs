//! Adversarial checks of the digest chain: odd `--expect-digest` values, a forged
//! chain front, an empty log and a log whose only segment is active.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use storage_std::format::chain::{ChainFront, parse_hex, to_hex};
use storage_std::format::{self};
use storage_std::{
    Durability, ExpectDigest, VerifyOptions, VerifyReport, VerifyStatus, Writer, verify_dir,
    verify_dir_with,
};

fn write_log(dir: &Path, n: u64) -> Option<(u64, [u8; 32])> {
    let o = common::small_opts(Durability::Sync).with_digest_chain(true);
    let w: Writer = Writer::open(dir, o).unwrap();
    for s in 0..n {
        let mut p = vec![0u8; 40 + (s % 7) as usize * 8];
        common::fill(s, &mut p);
        w.append(&p).unwrap();
    }
    w.sync().unwrap();
    let c = w.stats().chain;
    w.close().unwrap();
    c
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

fn with_expect(dir: &Path, e: ExpectDigest) -> VerifyReport {
    let o = VerifyOptions::default().with_expect(Some(e));
    verify_dir_with(dir, &o).unwrap()
}

/// `u8::from_str_radix` takes a leading `+`: 64 characters of `+a` are not hex digits.
/// Before the fix `parse_hex("+a+a...")` returned `Ok([0x0a; 32])`.
#[test]
fn adv_hex_with_signs_is_refused() {
    assert!(parse_hex(&"+a".repeat(32)).is_err());
    assert!(parse_hex(&"+A".repeat(32)).is_err());
    assert!(
        format!("{}@3", "+0".repeat(32))
            .parse::<ExpectDigest>()
            .is_err()
    );
    // Odd lengths and whitespace inside.
    assert!(parse_hex(&"a".repeat(63)).is_err());
    assert!(parse_hex(&"a".repeat(65)).is_err());
    assert!(parse_hex(&format!("{} {}", "a".repeat(32), "a".repeat(31))).is_err());
    assert!("".parse::<ExpectDigest>().is_err());
    assert!(
        format!("{}@", "a".repeat(64))
            .parse::<ExpectDigest>()
            .is_err()
    );
    assert!(
        format!("{}@-1", "a".repeat(64))
            .parse::<ExpectDigest>()
            .is_err()
    );
    assert!(
        format!("{}@18446744073709551616", "a".repeat(64))
            .parse::<ExpectDigest>()
            .is_err()
    );
    assert_eq!(parse_hex(&"aB".repeat(32)), Ok([0xab; 32]));
}

/// An expected digest at a sequence the log does not hold (past its end, or in the
/// empty log) never passes; the right digest at the end does.
#[test]
fn adv_expect_digest_past_the_end_and_on_an_empty_log() {
    let d = tempfile::tempdir().unwrap();
    let (last, digest) = write_log(d.path(), 300).unwrap();
    let ok = with_expect(
        d.path(),
        ExpectDigest {
            digest,
            seq: Some(last),
        },
    );
    assert_eq!(ok.status, VerifyStatus::Clean, "{:#?}", ok.findings);
    for seq in [last + 1, u64::MAX] {
        let r = with_expect(
            d.path(),
            ExpectDigest {
                digest,
                seq: Some(seq),
            },
        );
        assert_eq!(r.status, VerifyStatus::Corrupt, "seq {seq}");
        assert_eq!(r.chain.expected_matched, Some(false));
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(write_log(empty.path(), 0).is_none_or(|_| true));
    for seq in [None, Some(0)] {
        let r = with_expect(
            empty.path(),
            ExpectDigest {
                digest: [0; 32],
                seq,
            },
        );
        assert_eq!(
            r.status,
            VerifyStatus::Corrupt,
            "{seq:?}: {:#?}",
            r.findings
        );
    }
}

/// A log whose only segment is active: its digest at the end and at every record
/// verifies, and a wrong one does not.
#[test]
fn adv_only_active_segment() {
    let d = tempfile::tempdir().unwrap();
    let (last, digest) = write_log(d.path(), 3).unwrap();
    assert_eq!(segments(d.path()).len(), 1);
    let r = with_expect(d.path(), ExpectDigest { digest, seq: None });
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert_eq!(r.chain.seq, Some(last));
    let mut wrong = digest;
    wrong[0] ^= 1;
    let r = with_expect(
        d.path(),
        ExpectDigest {
            digest: wrong,
            seq: None,
        },
    );
    assert_eq!(r.status, VerifyStatus::Corrupt);
}

/// A forged chain front whose sequence lies past every segment hid the removal of the
/// log's front segments: the first segment's start was not checked at all ("before a
/// recorded cut") and no segment started at the cut. Before the fix: `Clean`.
#[test]
fn adv_front_past_every_segment_does_not_hide_a_removal() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), 400);
    let segs = segments(d.path());
    assert!(segs.len() > 3);
    fs::remove_file(&segs[0]).unwrap();
    fs::remove_file(&segs[1]).unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Corrupt);
    for seq in [u64::MAX, 1 << 40] {
        let f = ChainFront {
            seq,
            digest: [0x5a; 32],
        };
        fs::write(d.path().join(format::CHAIN_FRONT_FILE), f.encode()).unwrap();
        let r = verify_dir(d.path()).unwrap();
        assert_eq!(
            r.status,
            VerifyStatus::Corrupt,
            "front at {seq}: {:#?}",
            r.findings
        );
    }
    // Garbage and a huge front file are findings, never a clean verdict or a panic.
    fs::write(
        d.path().join(format::CHAIN_FRONT_FILE),
        vec![0xffu8; 1 << 20],
    )
    .unwrap();
    assert_eq!(verify_dir(d.path()).unwrap().status, VerifyStatus::Corrupt);
    let _ = to_hex(&[0; 32]);
}
