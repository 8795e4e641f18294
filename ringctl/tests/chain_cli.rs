//! `ringctl verify` and the digest chain: exit 1 on tampering (a flipped byte, whole
//! segments deleted from the end of a sealed run, a digest kept outside the log that
//! does not match), 0 on an intact log, 2 on a malformed `--expect-digest`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use storage_std::archive::{Manifest, RecordingState, write_manifest};
use storage_std::backend::FileBackend;
use storage_std::format::chain::to_hex;
use storage_std::{Durability, Writer, WriterOptions};
use test_support::cli::{Run, run_within};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl(args: &[&str]) -> Run {
    run_within(BIN, args, Duration::from_secs(60))
}

/// A sealed recording (`ROOT/log` + `ROOT/manifest.json` with the final digest) of
/// several 4 KiB segments; returns the log directory, last sequence and digest.
fn sealed_recording(root: &Path) -> (PathBuf, u64, [u8; 32]) {
    let log = root.join("log");
    fs::create_dir_all(&log).unwrap();
    let mut o = WriterOptions::new(Durability::Sync);
    o = o.with_segment_bytes(4096);
    let w: Writer = Writer::open(&log, o).unwrap();
    for s in 0..300u64 {
        w.append(&[s as u8; 60]).unwrap();
    }
    w.sync().unwrap();
    let (last, digest) = w.stats().chain.unwrap();
    w.close().unwrap();
    let mut m = Manifest::new("rec", BTreeMap::new(), 1);
    m.state = RecordingState::Sealed;
    m.first_seq = Some(0);
    m.last_seq = Some(last);
    m.final_digest = Some(to_hex(&digest));
    write_manifest(&FileBackend::existing(root).unwrap(), &m).unwrap();
    (log, last, digest)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn verify_exits_1_when_segments_are_deleted_from_the_end_of_a_sealed_run() {
    let root = tempfile::tempdir().unwrap();
    let (log, last, digest) = sealed_recording(root.path());
    let log_s = log.to_str().unwrap();
    let r = ringctl(&["verify", log_s]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        r.out
            .contains(&format!("digest {} at {last}", to_hex(&digest))),
        "{}",
        r.out
    );
    let segs = segments(&log);
    assert!(segs.len() >= 4);
    for s in &segs[segs.len() - 2..] {
        fs::remove_file(s).unwrap();
        fs::remove_file(s.with_extension("idx")).unwrap();
    }
    let r = ringctl(&["verify", log_s]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("deleted from the end"), "{}", r.out);
    let r = ringctl(&["verify", "--json", log_s]);
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(r.out.lines().last().unwrap()).unwrap();
    assert_eq!(v["chain"]["manifest_matched"], false, "{v}");
}

#[test]
fn verify_exits_1_on_a_flipped_byte_and_a_wrong_expected_digest() {
    let root = tempfile::tempdir().unwrap();
    let (log, last, digest) = sealed_recording(root.path());
    let log_s = log.to_str().unwrap();
    let hex = to_hex(&digest);
    let r = ringctl(&["verify", "--expect-digest", &hex, log_s]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("expected digest matches"), "{}", r.out);
    let at = format!("{hex}@{last}");
    assert_eq!(ringctl(&["verify", "--expect-digest", &at, log_s]).code, 0);
    let mut other = digest;
    other[31] ^= 1;
    let r = ringctl(&["verify", "--expect-digest", &to_hex(&other), log_s]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("DOES NOT match"), "{}", r.out);
    let at = format!("{hex}@{}", last - 1);
    assert_eq!(ringctl(&["verify", "--expect-digest", &at, log_s]).code, 1);
    for bad in ["abc", "zz", &format!("{hex}@x")] {
        let r = ringctl(&["verify", "--expect-digest", bad, log_s]);
        assert_eq!(r.code, 2, "{bad}: {}{}", r.out, r.err);
    }
    let seg = &segments(&log)[1];
    let mut b = fs::read(seg).unwrap();
    b[150] ^= 4;
    fs::write(seg, &b).unwrap();
    let r = ringctl(&["verify", log_s]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
}
