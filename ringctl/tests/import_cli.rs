//! `ringctl import`: a capture of ringcore::io frames into a log, through the real binary.

use std::path::Path;

use ringcore::frame::FrameHeader;
use ringcore::io::encode_frame;
use test_support::cli::{Run, last_json};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    test_support::cli::run(BIN, args)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        seq,
        timestamp_ns: 1_700_000_000_000_000_000 + seq,
        len: payload.len() as u32,
        kind: (seq % 5) as u16,
        flags: 3,
    };
    let mut out = vec![0; payload.len() + 64];
    let n = encode_frame(&h, payload, &mut out).unwrap();
    out.truncate(n);
    out
}

fn payload(seq: u64) -> Vec<u8> {
    format!("event {seq} {}", "x".repeat((seq % 97) as usize)).into_bytes()
}

/// Every record `replay --json --payload hex` prints: (kind, ts_ns, payload).
fn replayed(dir: &Path) -> Vec<(u64, String, Vec<u8>)> {
    let r = ringctl(&["replay", &s(dir), "--json", "--payload", "hex"]);
    assert_eq!(r.code, 0, "{}", r.err);
    r.out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "record")
        .map(|v| {
            (
                v["kind"].as_u64().unwrap(),
                v["ts_ns"].as_str().unwrap().to_owned(),
                hex::decode(v["payload"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_clean_capture_is_imported_whole_with_kinds_and_times_as_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("uart.bin");
    let bytes: Vec<u8> = (0..500).flat_map(|i| frame(i, &payload(i))).collect();
    std::fs::write(&cap, &bytes).unwrap();
    let log = tmp.path().join("log");
    let r = ringctl(&["import", &s(&cap), "--log", &s(&log), "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    let v = last_json(&r.out);
    assert_eq!(v["type"], "import");
    assert_eq!(v["imported"], 500);
    assert_eq!(v["frames"], 500);
    assert_eq!(v["skips"], 0);
    assert_eq!(v["clean"], true);
    assert_eq!(v["durable_seq"], 499);
    assert_eq!(v["frame_bytes"], bytes.len() as u64);
    let got = replayed(&log);
    assert_eq!(got.len(), 500);
    for (i, (kind, ts, p)) in got.iter().enumerate() {
        let i = i as u64;
        assert_eq!(*kind, i % 5);
        assert_eq!(*ts, (1_700_000_000_000_000_000 + i).to_string());
        assert_eq!(*p, payload(i));
    }
    // A second import appends after what is there.
    let r = ringctl(&["import", &s(&cap), "--log", &s(&log), "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v = last_json(&r.out);
    assert_eq!(
        (v["first_seq"].as_u64(), v["last_seq"].as_u64()),
        (Some(500), Some(999))
    );
    assert_eq!(replayed(&log).len(), 1000);
}

#[test]
fn damage_is_skipped_reported_and_exits_1_while_good_frames_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("uart.bin");
    let mut bytes = b"\x00\x00garbage at power-on".to_vec();
    let mut kept = Vec::new();
    for i in 0..100_u64 {
        let mut f = frame(i, &payload(i));
        match i {
            // A flipped payload byte (record checksum), a flipped length (header
            // checksum), a frame the UART dropped (a wire-sequence gap).
            10 => f[40] ^= 0x20,
            20 => f[4 + 16] ^= 0x01,
            30 => continue,
            _ => kept.push(i),
        }
        bytes.extend(f);
        if i == 50 {
            bytes.extend(b"\xfe\xfe noise between frames");
        }
    }
    let tail = frame(100, &payload(100));
    bytes.extend(&tail[..tail.len() / 2]);
    std::fs::write(&cap, &bytes).unwrap();
    let log = tmp.path().join("log");
    let r = ringctl(&["import", &s(&cap), "--log", &s(&log), "--json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.out, r.err);
    let v = last_json(&r.out);
    assert_eq!(v["imported"], kept.len() as u64);
    assert_eq!(v["clean"], false);
    let by = &v["skips_by_reason"];
    assert_eq!(by["checksum"], 1, "{v}");
    assert_eq!(by["header_checksum"], 1, "{v}");
    assert_eq!(by["truncated"], 1, "{v}");
    assert!(by["no_sync"].as_u64().unwrap() >= 2, "{v}");
    // Frames 10, 20 and 30 are not in the log: 3 wire sequences missing.
    assert_eq!(v["missing_wire_seqs"], 3, "{v}");
    assert_eq!(
        v["skipped_bytes"].as_u64().unwrap() + v["frame_bytes"].as_u64().unwrap(),
        bytes.len() as u64
    );
    let got = replayed(&log);
    let want: Vec<Vec<u8>> = kept.iter().map(|&i| payload(i)).collect();
    assert_eq!(got.into_iter().map(|g| g.2).collect::<Vec<_>>(), want);
    // Text mode names the damage for people, and the exit code is the same.
    let log2 = tmp.path().join("log2");
    let r = ringctl(&["import", &s(&cap), "--log", &s(&log2)]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.out.contains("skipped") && r.out.contains("(checksum)"),
        "{}",
        r.out
    );
}

#[test]
fn absurd_limits_and_missing_files_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let r = ringctl(&["import", &s(&tmp.path().join("nope")), "--log", &s(&log)]);
    assert_eq!(r.code, 2, "{}", r.err);
    let cap = tmp.path().join("cap");
    std::fs::write(&cap, frame(0, b"x")).unwrap();
    let r = ringctl(&[
        "import",
        &s(&cap),
        "--log",
        &s(&log),
        "--max-payload",
        "1TiB",
    ]);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("--max-payload"), "{}", r.err);
    // A frame longer than a small limit is damage, not a wait for 4 GiB.
    let big = frame(0, &[7; 300]);
    std::fs::write(&cap, &big).unwrap();
    let r = ringctl(&[
        "import",
        &s(&cap),
        "--log",
        &s(&log),
        "--max-payload",
        "100",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}", r.err);
    let v = last_json(&r.out);
    assert_eq!(v["skips_by_reason"]["too_long"], 1, "{v}");
    assert_eq!(v["imported"], 0);
}
