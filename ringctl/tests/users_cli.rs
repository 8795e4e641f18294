//! Issue 14's "scripts can trust the CLI": `ringctl CMD ... --json | jq` works for every
//! command (stdout is JSON only, one object a line, each with a string `type`, the
//! summary or report with the `version`), and `stress --json` carries the writer's
//! statistics, the queue's high-water mark included.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringcore::broadcast::GatedRing;
use ringcore::frame::FrameHeader;
use ringcore::io::encode_frame;
use storage_std::archive::Catalog;
use storage_std::{Durability, WriterOptions};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl(args: &[&str]) -> test_support::cli::Run {
    test_support::cli::run(BIN, args)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// What `| jq` needs of stdout: every line one JSON object with a string `type`, and at
/// least one line. Returns the objects.
fn json_lines(what: &str, stdout: &str) -> Vec<serde_json::Value> {
    assert!(!stdout.trim().is_empty(), "{what}: nothing on stdout");
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {l:?}"));
            assert!(v.is_object(), "{what}: not an object: {l}");
            assert!(v["type"].is_string(), "{what}: no `type`: {l}");
            v
        })
        .collect()
}

/// The same stdout through the real `jq -e .type` (every object has a truthy `type`).
fn through_jq(what: &str, stdout: &str) {
    let mut jq = match Command::new("jq")
        .args(["-e", ".type"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        // The JSON-lines check above is the contract; jq is the tool users pipe into.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("jq: {e}"),
    };
    jq.stdin
        .take()
        .unwrap()
        .write_all(stdout.as_bytes())
        .unwrap();
    assert!(jq.wait().unwrap().success(), "{what}: jq -e .type failed");
}

fn check(what: &str, args: &[&str], want_code: i32) -> Vec<serde_json::Value> {
    let r = ringctl(args);
    assert_eq!(r.code, want_code, "{what}: {}{}", r.out, r.err);
    let v = json_lines(what, &r.out);
    through_jq(what, &r.out);
    v
}

fn capture(path: &Path, frames: u64) {
    let mut out = Vec::new();
    for seq in 0..frames {
        let payload = format!("event {seq}").into_bytes();
        let h = FrameHeader {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            len: payload.len() as u32,
            kind: 1,
            flags: 0,
        };
        let mut buf = vec![0; payload.len() + 64];
        let n = encode_frame(&h, &payload, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    std::fs::write(path, out).unwrap();
}

fn recording(root: &Path) {
    let catalog = Catalog::open(root).unwrap();
    let ring = GatedRing::<64, 16, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut tap = ring.join().unwrap();
    let mut rec = catalog
        .create(
            "alpha",
            WriterOptions::new(Durability::group()),
            BTreeMap::new(),
        )
        .unwrap();
    for i in 0..10u64 {
        w.try_publish(0, 1_000_000_000 + i, &i.to_le_bytes())
            .unwrap();
    }
    drop(w);
    rec.record_until_closed(&mut tap, Duration::from_millis(1))
        .unwrap();
    rec.stop().unwrap();
}

#[test]
fn every_command_with_json_pipes_into_jq() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = s(&dir);

    for mode in ["spsc", "broadcast", "pool"] {
        let v = check(
            mode,
            &["stress", "--mode", mode, "--events", "2000", "--json"],
            0,
        );
        assert_eq!(v.last().unwrap()["type"], "summary");
    }
    let v = check(
        "stress --log",
        &[
            "stress",
            "--log",
            &d,
            "--events",
            "3000",
            "--segment-bytes",
            "16KiB",
            "--json",
        ],
        0,
    );
    let (summary, durable) = v.split_last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert!(durable.iter().all(|l| l["type"] == "durable"), "{v:?}");

    for cmd in ["inspect", "verify", "recover"] {
        let v = check(cmd, &[cmd, &d, "--json"], 0);
        assert_eq!(v.last().unwrap()["version"], env!("CARGO_PKG_VERSION"));
    }
    let v = check(
        "replay",
        &["replay", &d, "--from-seq", "10", "--to-seq", "12", "--json"],
        0,
    );
    assert_eq!(
        v.iter().filter(|l| l["type"] == "record").count(),
        3,
        "{v:?}"
    );

    let cap = tmp.path().join("capture.bin");
    capture(&cap, 50);
    let imported = tmp.path().join("imported");
    let v = check(
        "import",
        &["import", &s(&cap), "--log", &s(&imported), "--json"],
        0,
    );
    assert_eq!(v.last().unwrap()["type"], "import");

    let root = tmp.path().join("recordings");
    recording(&root);
    let v = check("recordings", &["recordings", &s(&root), "--json"], 0);
    assert_eq!(v[0]["type"], "recording");

    #[cfg(feature = "tier")]
    {
        let store = tmp.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let url = format!("file://{}", store.display());
        let v = check(
            "tier",
            &[
                "tier",
                &d,
                "--store",
                &url,
                "--keep-local-segments",
                "0",
                "--json",
            ],
            0,
        );
        assert_eq!(v.last().unwrap()["type"], "tier");
        let restored = tmp.path().join("restored");
        let v = check(
            "restore",
            &["restore", &s(&restored), "--store", &url, "--json"],
            0,
        );
        assert_eq!(v.last().unwrap()["type"], "restore");
    }
}

#[test]
fn stress_json_reports_the_writers_queue_high_water_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let v = check(
        "stress --log",
        &["stress", "--log", &s(&dir), "--events", "5000", "--json"],
        0,
    );
    let w = &v.last().unwrap()["writer"];
    let high = w["queue_high_water_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no queue_high_water_bytes: {w}"));
    // At least one record (a 64-byte payload and its header) waited in the queue, and
    // never more than the queue holds (1 MiB by default).
    assert!((64..=1 << 20).contains(&high), "{w}");
    assert_eq!(w["records"], 5000, "{w}");
}
