//! `ringctl anchor save|latest|list ROOT NAME`: snapshot anchors of a recording. A
//! snapshot newer than the log is refused (exit 1), a damaged anchor is skipped by
//! `latest` and flagged by `list` (exit 1), a running or missing recording is exit 2.

use std::collections::BTreeMap;
use std::time::Duration;

use ringcore::broadcast::GatedRing;
use storage_std::archive::{Catalog, Recorder};
use storage_std::{Durability, WriterOptions};

fn ringctl(args: &[&str]) -> test_support::cli::Run {
    test_support::cli::run(env!("CARGO_BIN_EXE_ringctl"), args)
}

fn make(catalog: &Catalog, name: &str, events: u64) -> Recorder {
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
    rec
}

#[test]
fn save_latest_and_list() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    make(&catalog, "orders", 40).stop().unwrap();
    let dir = root.path().to_str().unwrap();

    let r = ringctl(&["anchor", "list", dir, "orders"]);
    assert_eq!((r.code, r.out.trim()), (0, "no anchors"), "{}", r.err);
    let r = ringctl(&["anchor", "latest", dir, "orders"]);
    assert_eq!(r.code, 1, "no anchor yet: {}", r.out);
    assert!(r.out.contains("replay from 0"), "{}", r.out);

    let snaps = tempfile::tempdir().unwrap();
    let snap10 = snaps.path().join("s10");
    let snap30 = snaps.path().join("s30");
    std::fs::write(&snap10, b"state after 10").unwrap();
    std::fs::write(&snap30, vec![7u8; 5000]).unwrap();
    let r = ringctl(&[
        "anchor",
        "save",
        dir,
        "orders",
        "--seq",
        "10",
        "--file",
        snap10.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("resumes at 11"), "{}", r.out);
    let r = ringctl(&[
        "anchor",
        "save",
        dir,
        "orders",
        "--seq",
        "30",
        "--file",
        snap30.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v = r.json();
    assert_eq!(
        (&v["type"], &v["action"], &v["seq"], &v["snapshot_bytes"]),
        (&"anchor".into(), &"saved".into(), &30.into(), &5000.into())
    );
    // Newer than the log (it ends at 39): refused, nothing stored.
    let r = ringctl(&[
        "anchor",
        "save",
        dir,
        "orders",
        "--seq",
        "40",
        "--file",
        snap10.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.err.contains("newer than the durable log"), "{}", r.err);

    let out = snaps.path().join("restored");
    let r = ringctl(&[
        "anchor",
        "latest",
        dir,
        "orders",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("anchor 30 of orders (5000 bytes"),
        "{}",
        r.out
    );
    assert!(r.out.contains("replay from 31"), "{}", r.out);
    assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 5000]);
    let r = ringctl(&["anchor", "latest", dir, "orders", "--output", "-"]);
    assert_eq!((r.code, r.out.as_bytes()), (0, &[7u8; 5000][..]));

    let r = ringctl(&["anchor", "list", dir, "orders", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let seqs: Vec<u64> = r
        .out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["problem"].is_null(), "{l}");
            v["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs, [10, 30]);

    // Damage the newest: latest falls back to 10 and says why; list flags it.
    let newest = root
        .path()
        .join("orders/anchors")
        .join(storage_std::archive::anchor_name(30));
    test_support::files::flip_byte(&newest, 4000);
    let r = ringctl(&["anchor", "latest", dir, "orders", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v = r.json();
    assert_eq!((&v["seq"], &v["replay_from"]), (&10.into(), &11.into()));
    assert_eq!(v["rejected"].as_array().unwrap().len(), 1, "{v}");
    assert!(r.err.contains("snapshot checksum"), "{}", r.err);
    let r = ringctl(&["anchor", "list", dir, "orders"]);
    assert_eq!(r.code, 1, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.out);
    assert!(lines[0].ends_with("  ok"), "{}", lines[0]);
    assert!(
        lines[1].contains("REJECTED: snapshot checksum"),
        "{}",
        lines[1]
    );
}

#[test]
fn running_and_missing_recordings_are_errors() {
    let root = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(root.path()).unwrap();
    let rec = make(&catalog, "live", 5);
    let dir = root.path().to_str().unwrap();
    let snap = root.path().join("snap.bin");
    std::fs::write(&snap, b"x").unwrap();
    let save = |name: &str| {
        ringctl(&[
            "anchor",
            "save",
            dir,
            name,
            "--seq",
            "1",
            "--file",
            snap.to_str().unwrap(),
        ])
    };
    let r = save("live");
    assert_eq!(
        r.code, 2,
        "a running recording stores anchors through its recorder"
    );
    assert!(r.err.contains("running"), "{}", r.err);
    rec.stop().unwrap();
    assert_eq!(save("live").code, 0);
    let r = save("nope");
    assert_eq!(r.code, 2);
    assert!(r.err.contains("no recording named"), "{}", r.err);
    let r = ringctl(&["anchor", "list", "/nonexistent/root", "live"]);
    assert_eq!(r.code, 2);
    let r = ringctl(&[
        "anchor",
        "save",
        dir,
        "live",
        "--seq",
        "1",
        "--file",
        "/nonexistent/file",
    ]);
    assert_eq!(r.code, 2);
}
