//! Reports go out as JSON and come back equal (scripts and dashboards keep them).

use storage_std::{Durability, RecoveryReport, VerifyReport, Writer, WriterOptions};

fn round_trip<T>(v: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = serde_json::to_string(v).unwrap();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
#[cfg_attr(miri, ignore)] // real files
fn verify_and_recovery_reports_survive_json_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(tmp.path(), WriterOptions::new(Durability::group())).unwrap();
    for i in 0..100_u32 {
        w.append(&i.to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    let clean = storage_std::verify_dir(tmp.path()).unwrap();
    assert_eq!(round_trip(&clean), clean);
    // A damaged record: the report carries findings, segments, ranges.
    let seg = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let damaged: VerifyReport = storage_std::verify_dir(tmp.path()).unwrap();
    assert!(!damaged.findings.is_empty(), "{damaged:?}");
    assert_eq!(round_trip(&damaged), damaged);
    let recovered: RecoveryReport = storage_std::recover(tmp.path(), true).unwrap();
    assert!(
        !recovered.holes.is_empty() || recovered.cut_anything(),
        "{recovered:?}"
    );
    assert_eq!(round_trip(&recovered), recovered);
}
