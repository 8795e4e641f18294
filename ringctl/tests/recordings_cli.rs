//! `ringctl recordings ROOT [--json]`: one line per recording, damage flagged (exit 1),
//! usage errors exit 2.

use std::collections::BTreeMap;
use std::time::Duration;

use ringcore::broadcast::GatedRing;
use storage_std::archive::Catalog;
use storage_std::{Durability, WriterOptions};

fn ringctl(args: &[&str]) -> test_support::cli::Run {
    test_support::cli::run(env!("CARGO_BIN_EXE_ringctl"), args)
}

fn make(catalog: &Catalog, name: &str, events: u64, stop: bool) {
    let ring = GatedRing::<64, 16, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut tap = ring.join().unwrap();
    let mut rec = catalog
        .create(
            name,
            WriterOptions::new(Durability::group()),
            BTreeMap::new(),
        )
        .unwrap();
    for i in 0..events {
        w.try_publish(0, 1_000_000_000 + i, &i.to_le_bytes())
            .unwrap();
    }
    drop(w);
    rec.record_until_closed(&mut tap, Duration::from_millis(1))
        .unwrap();
    if stop {
        rec.stop().unwrap();
    }
}

#[test]
fn lists_every_recording_with_state_sequences_and_size() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let r = ringctl(&["recordings", dir]);
    assert_eq!((r.code, r.out.trim()), (0, "no recordings"), "{}", r.err);

    let catalog = Catalog::open(root.path()).unwrap();
    make(&catalog, "alpha", 40, true);
    make(&catalog, "beta", 3, false); // dropped without stop: interrupted
    let r = ringctl(&["recordings", dir]);
    assert_eq!(r.code, 0, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.out);
    assert!(
        lines[0].starts_with("alpha  sealed  seq 0..39"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("1970-01-01T00:00:01"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("beta  interrupted  seq 0..2"),
        "{}",
        lines[1]
    );

    let r = ringctl(&["recordings", dir, "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let objs: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0]["type"], "recording");
    assert_eq!(objs[0]["name"], "alpha");
    assert_eq!(objs[0]["state"], "sealed");
    assert_eq!(objs[0]["last_seq"], 39);
    assert_eq!(objs[0]["manifest"]["runs"], 1);
    assert!(objs[0]["bytes"].as_u64().unwrap() > 40 * 16);
    assert_eq!(objs[1]["state_label"], "interrupted");
}

#[test]
fn damaged_manifest_exits_1_and_a_missing_root_exits_2() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    make(&catalog, "gamma", 5, true);
    std::fs::write(root.path().join("gamma").join("manifest.json"), b"{}\n").unwrap();
    let r = ringctl(&["recordings", root.path().to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("gamma  unknown"), "{}", r.out);
    assert!(
        r.out.contains("PROBLEM: recording gamma: damaged manifest"),
        "{}",
        r.out
    );

    let missing = root.path().join("nope");
    let r = ringctl(&["recordings", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("not a directory"), "{}", r.err);
}
