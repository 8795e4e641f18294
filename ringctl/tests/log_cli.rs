//! End-to-end tests of the log subcommands through the real binary: `stress --log`,
//! `inspect`, `verify`, `recover`, `replay`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::cli::{Run, durable_lines, last_json};
use test_support::files::{flip_byte, segment_files};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    test_support::cli::run(BIN, args)
}

/// The backend `--backend auto` runs here: io_uring where the kernel allows it.
fn auto_backend() -> &'static str {
    if storage_uring::probe().is_ok() {
        "uring"
    } else {
        "std"
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `stress --log DIR --json` plus `extra`; asserts exit 0 and returns (summary, durable lines).
fn stress_log(dir: &Path, extra: &[&str]) -> (serde_json::Value, Vec<u64>) {
    let mut args = vec![
        "stress".to_string(),
        "--log".into(),
        s(dir),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|x| x.to_string()));
    let r = ringctl(&args);
    assert_eq!(r.code, 0, "{args:?}\nstdout: {}\nstderr: {}", r.out, r.err);
    let summary = last_json(&r.out);
    assert_eq!(summary["type"], "summary", "{summary}");
    (summary, json_durable(&r.out))
}

/// The `{"type":"durable","seq":S}` lines of a `stress --log --json` run, in order;
/// asserts stdout is JSON only, one object a line, durable lines then the summary.
fn json_durable(stdout: &str) -> Vec<u64> {
    let lines: Vec<&str> = stdout.lines().collect();
    let mut seqs = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        let want = if i + 1 == lines.len() {
            "summary"
        } else {
            "durable"
        };
        assert_eq!(v["type"], want, "line {i}: {l}");
        if want == "durable" {
            seqs.push(v["seq"].as_u64().expect("seq"));
        }
    }
    seqs
}

/// `replay DIR --check --json --quiet` plus `extra`: (exit code, summary, stderr).
fn replay_check(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec![
        "replay".to_string(),
        s(dir),
        "--check".into(),
        "--json".into(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().map(|x| x.to_string()));
    let r = ringctl(&args);
    (r.code, last_json(&r.out), r.err)
}

/// A JSON record's `ts_ns`: a decimal string (a JSON number would lose precision
/// above 2^53 in jq).
fn ts_ns(rec: &serde_json::Value) -> u64 {
    rec["ts_ns"]
        .as_str()
        .unwrap_or_else(|| panic!("ts_ns is a string: {rec}"))
        .parse()
        .unwrap()
}

fn verify_json(dir: &Path) -> (i32, serde_json::Value) {
    let r = ringctl(&["verify", &s(dir), "--json"]);
    (r.code, last_json(&r.out))
}

fn assert_strictly_increasing(lines: &[u64]) {
    for w in lines.windows(2) {
        assert!(w[0] < w[1], "durable lines not increasing: {lines:?}");
    }
}

/// Segment header (64) + record prefix (32): where the payload of a segment's first
/// record starts. Records are 32 + payload rounded up to 8 bytes.
const FIRST_PAYLOAD: u64 = 64 + 32;

#[test]
fn each_durability_mode_writes_a_log_that_verifies_and_replays() {
    for (mode, events) in [("none", 20_000u64), ("group", 20_000), ("sync", 600)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let n = events.to_string();
        let (v, durable) = stress_log(
            &dir,
            &[
                "--durability",
                mode,
                "--segment-bytes",
                "16384",
                "--events",
                &n,
                "--payload-size",
                "40",
            ],
        );
        assert_eq!(v["mode"], "log", "{mode}");
        assert_eq!(v["durability"], mode);
        assert_eq!(v["backend"], auto_backend());
        assert_eq!(v["first_seq"], 0);
        assert_eq!(v["events"], events, "{mode}: {v}");
        assert_eq!(v["verified"], events, "{mode}: {v}");
        assert_eq!(v["errors"], 0);
        assert_eq!(v["durable_seq"], events - 1);
        assert_eq!(v["payload_bytes"], events * 40);
        assert!(!durable.is_empty(), "{mode}: no durable lines");
        assert_strictly_increasing(&durable);
        assert_eq!(durable.last(), Some(&(events - 1)), "{mode}");

        let (code, rep) = verify_json(&dir);
        assert_eq!(code, 0, "{mode}: {rep}");
        assert_eq!(rep["status"], "clean");
        assert_eq!(rep["records"], events);

        let (code, sum, err) = replay_check(&dir, &[]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(sum["records"], events, "{mode}");
        assert_eq!(sum["first_seq"], 0);
        assert_eq!(sum["last_seq"], events - 1);

        // inspect: contiguous segments, all sealed but the last.
        let r = ringctl(&["inspect", &s(&dir), "--json"]);
        assert_eq!(r.code, 0, "{}", r.err);
        let ins = last_json(&r.out);
        let segs = ins["segments"].as_array().unwrap();
        assert!(segs.len() >= 2, "{mode}: segments should roll: {ins}");
        let mut next = 0u64;
        for (i, sg) in segs.iter().enumerate() {
            assert_eq!(sg["base_seq"], next, "{mode}: {ins}");
            // A `none` writer seals what its clean close made durable.
            let active = i + 1 == segs.len() && mode != "none";
            assert_eq!(sg["sealed"], !active, "{mode}: {sg}");
            assert_eq!(sg["state"], if active { "active" } else { "sealed" });
            assert!(sg["bytes"].as_u64().unwrap() <= 16384);
            next = sg["last_seq"].as_u64().unwrap() + 1;
        }
        assert_eq!(next, events);
        assert_eq!(ins["records"], events);
        assert_eq!(ins["last_seq"], events - 1);
    }
}

#[test]
fn a_second_run_continues_the_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (v, _) = stress_log(&dir, &["--events", "5000", "--payload-size", "24"]);
    assert_eq!(v["durable_seq"], 4999);
    // Another payload size: the pattern depends on the sequence only.
    let (v, durable) = stress_log(
        &dir,
        &[
            "--events",
            "3000",
            "--payload-size",
            "100",
            "--durability",
            "sync",
            "--segment-bytes",
            "32768",
        ],
    );
    assert_eq!(v["first_seq"], 5000);
    assert_eq!(v["events"], 3000);
    assert_eq!(v["verified"], 3000);
    assert_eq!(v["durable_seq"], 7999);
    assert!(durable.iter().all(|&d| d >= 5000), "{durable:?}");
    assert_eq!(durable.last(), Some(&7999));
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (sum["records"].as_u64(), sum["last_seq"].as_u64()),
        (Some(8000), Some(7999))
    );
    assert_eq!(verify_json(&dir).0, 0);
}

#[test]
fn durable_lines_are_monotonic_and_the_last_is_the_summarys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (v, durable) = stress_log(&dir, &["--seconds", "0.6", "--segment-bytes", "1048576"]);
    let d = v["durable_seq"].as_u64().unwrap();
    assert!(
        durable.len() >= 3,
        "a 0.6 s group run reports progress: {durable:?}"
    );
    assert_strictly_increasing(&durable);
    assert_eq!(durable.last(), Some(&d));
    assert_eq!(v["events"], d + 1);
    assert_eq!(v["verified"], d + 1);
    assert!(v["appended"].as_u64().unwrap() > d);
    // Text summary: durable lines first, the summary last.
    let r = ringctl(&["stress", "--log", &s(&dir), "--events", "100"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.out.lines().last(), Some("errors:      0"));
    assert!(r.out.contains("mode:        log"));
    assert!(
        r.out
            .contains(&format!("backend:     {}\n", auto_backend())),
        "{}",
        r.out
    );
    assert_eq!(durable_lines(&r.out), vec![d + 100]);
}

#[test]
fn a_damaged_sealed_segment_fails_verify_and_replay_until_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(
        &dir,
        &[
            "--events",
            "5000",
            "--segment-bytes",
            "16384",
            "--payload-size",
            "40",
        ],
    );
    let segs = segment_files(&dir);
    assert!(segs.len() > 3);
    let victim = &segs[1];
    let base: u64 = victim
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The payload of the segment's third record (records are 32 + 40 bytes).
    flip_byte(victim, FIRST_PAYLOAD + 2 * 72 + 5);

    let (code, rep) = verify_json(&dir);
    assert_eq!(code, 1, "{rep}");
    assert_eq!(rep["status"], "corrupt");
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(
        rep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["file"] == name && f["severity"] == "corruption"),
        "{rep}"
    );
    let r = ringctl(&["verify", &s(&dir)]);
    assert_eq!(r.code, 1);
    assert!(
        r.out.contains("CORRUPT") && r.out.contains(name),
        "{}",
        r.out
    );

    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 1, "{sum} {err}");
    assert_eq!(sum["records"], base + 2, "{sum}");
    assert!(sum["error"].as_str().unwrap().contains(name), "{sum}");
    // Without --check the CRC still catches it.
    let r = ringctl(&["replay", &s(&dir), "--quiet"]);
    assert_eq!(r.code, 1, "{}", r.out);

    // A sealed segment is never cut silently.
    let r = ringctl(&["recover", &s(&dir)]);
    assert_eq!(r.code, 1, "{}\n{}", r.out, r.err);
    assert!(r.err.contains("--force"), "{}", r.err);
    assert_eq!(
        verify_json(&dir).0,
        1,
        "recover without --force changed nothing"
    );

    // Forced: only the damaged record is lost (recorded as such); the rest stays, and
    // the damaged file is kept in quarantine/.
    let r = ringctl(&["recover", &s(&dir), "--force"]);
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    let lost = format!("lost sequences: {}", base + 2);
    assert!(r.out.contains(&lost), "{lost} in\n{}", r.out);
    assert!(r.out.contains("forced"), "{}", r.out);
    assert!(r.out.contains("found: corruption"), "{}", r.out);
    assert_eq!(verify_json(&dir).0, 0);
    let (code, sum, _) = replay_check(&dir, &[]);
    assert_eq!(code, 0);
    assert_eq!(sum["records"], 4999);
    assert_eq!(sum["lost"], 1);
    let (v, _) = stress_log(&dir, &["--events", "10"]);
    assert_eq!(v["first_seq"], 5000);
}

#[test]
fn a_truncated_tail_is_torn_and_recover_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "1000", "--payload-size", "40"]);
    let segs = segment_files(&dir);
    let last = segs.last().unwrap();
    // Cut into the last record (72 bytes, possibly followed by a zeroed end mark).
    let records_end = 64 + 1000 * 72;
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(records_end - 10).unwrap();
    drop(f);

    let (code, rep) = verify_json(&dir);
    assert_eq!(code, 3, "{rep}");
    assert_eq!(rep["status"], "torn_tail");
    // Replay reads the good prefix and says it stopped at a torn tail.
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(sum["records"], 999);
    assert_eq!(sum["end"], "torn_tail");

    let r = ringctl(&["recover", &s(&dir)]);
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    assert!(r.out.contains("torn tail"), "{}", r.out);
    assert!(
        r.out.contains("the next append gets sequence 999"),
        "{}",
        r.out
    );
    assert_eq!(verify_json(&dir).0, 0);
    // Recovering a clean log cuts nothing.
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    assert_eq!(r.code, 0);
    let v = last_json(&r.out);
    assert_eq!(v["cuts"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["next_seq"], 999);
    assert!(v["lost"].is_null());
    let (v, _) = stress_log(&dir, &["--events", "1"]);
    assert_eq!(v["first_seq"], 999);
}

#[test]
fn mid_log_damage_in_the_active_segment_needs_force_which_lists_lost_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    // ~4 MB in one active segment: far more than one 1 MiB group after the damage.
    stress_log(
        &dir,
        &[
            "--events",
            "4000",
            "--payload-size",
            "1000",
            "--segment-bytes",
            "16777216",
        ],
    );
    let segs = segment_files(&dir);
    assert_eq!(segs.len(), 1);
    flip_byte(&segs[0], FIRST_PAYLOAD + 10 * 1032 + 5);

    let (code, rep) = verify_json(&dir);
    assert_eq!(code, 1, "{rep}");
    let r = ringctl(&["recover", &s(&dir)]);
    assert_eq!(r.code, 1, "{}\n{}", r.out, r.err);
    assert!(
        r.err.contains("10..=3999") && r.err.contains("--force"),
        "{}",
        r.err
    );

    let r = ringctl(&["recover", &s(&dir), "--force", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    let v = last_json(&r.out);
    assert_eq!(v["found"], "corruption", "{v}");
    assert_eq!(v["lost"]["first"], 10, "{v}");
    assert_eq!(v["lost"]["last"], 10, "{v}");
    assert_eq!(v["cuts"][0]["kind"], "forced");
    assert_eq!(v["next_seq"], 4000);
    assert_eq!(verify_json(&dir).0, 0);
    let (code, sum, _) = replay_check(&dir, &[]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(3999)));
    assert_eq!(sum["lost"], 1);
}

#[test]
fn replay_streams_ranges_by_sequence_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(
        &dir,
        &[
            "--events",
            "3000",
            "--payload-size",
            "33",
            "--segment-bytes",
            "32768",
        ],
    );
    let r = ringctl(&["replay", &s(&dir), "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let all: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 3001);
    for (i, rec) in all[..3000].iter().enumerate() {
        assert_eq!(rec["seq"], i as u64);
        assert_eq!(rec["len"], 33);
        assert_eq!(rec["kind"], 0);
        assert_eq!(rec["flags"], 0);
        assert!(ts_ns(rec) > 1_600_000_000_000_000_000);
    }
    assert_eq!(all[3000]["records"], 3000);

    let r = ringctl(&[
        "replay",
        &s(&dir),
        "--from-seq",
        "100",
        "--to-seq",
        "199",
        "--check",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 101);
    let rec0: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        (&rec0["type"], &rec0["seq"]),
        (&"record".into(), &100.into()),
        "{rec0}"
    );
    let sum = last_json(&r.out);
    assert_eq!(
        (&sum["records"], &sum["first_seq"], &sum["last_seq"]),
        (&100.into(), &100.into(), &199.into())
    );

    // By time: the first record at or after T.
    let t = ts_ns(&all[1500]);
    let r = ringctl(&[
        "replay",
        &s(&dir),
        "--from-time",
        &t.to_string(),
        "--to-seq",
        "2000",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let sum = last_json(&r.out);
    let first = sum["first_seq"].as_u64().unwrap() as usize;
    assert!(first <= 1500);
    assert!(ts_ns(&all[first]) >= t);
    assert!(first == 0 || ts_ns(&all[first - 1]) < t);
    assert_eq!(sum["last_seq"], 2000);

    // Text lines and summary.
    let r = ringctl(&["replay", &s(&dir), "--from-seq", "2998"]);
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with("seq 2998 ts_ns ") && lines[0].ends_with(" kind 0 flags 0 len 33")
    );
    assert_eq!(lines[2], "records 2 first_seq 2998 last_seq 2999");
    // Past the end: nothing, and no error.
    let r = ringctl(&["replay", &s(&dir), "--from-seq", "5000", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(last_json(&r.out)["records"], 0);
}

#[test]
fn replay_check_stops_at_the_first_record_without_the_pattern() {
    use storage_std::{Durability, Writer, WriterOptions};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    // Well-formed records (good CRCs), one of them with the wrong payload.
    let w: Writer = Writer::open(&dir, WriterOptions::new(Durability::Sync)).unwrap();
    for seq in 0..20u64 {
        let mut p = vec![0u8; 24];
        test_support::fill(seq, &mut p); // the pattern `replay --check` expects
        if seq == 7 {
            p[23] ^= 1;
        }
        assert_eq!(w.append(&p).unwrap(), seq);
    }
    w.close().unwrap();
    assert_eq!(verify_json(&dir).0, 0, "the log itself is sound");
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 1);
    assert_eq!(sum["records"], 8);
    assert_eq!(sum["last_seq"], 7);
    assert!(
        err.contains("sequence 7") && err.contains("pattern"),
        "{err}"
    );
    let (code, sum, _) = replay_check(&dir, &["--to-seq", "6"]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(7)));
    let r = ringctl(&["replay", &s(&dir), "--check"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.out.lines().last(),
        Some("records 8 first_seq 0 last_seq 7 FAILED")
    );
}

#[test]
fn inspect_prints_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "2000", "--segment-bytes", "32768"]);
    let r = ringctl(&["inspect", &s(&dir)]);
    assert_eq!(r.code, 0, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(lines[0].starts_with("segment"), "{}", r.out);
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        first[..3],
        ["00000000000000000000.seg", "sealed", "0"],
        "{}",
        r.out
    );
    let active: Vec<&str> = lines[lines.len() - 2].split_whitespace().collect();
    assert_eq!(active[1], "active", "{}", r.out);
    assert_eq!(active[3], "1999", "{}", r.out);
    assert!(lines[1].contains("Z "), "timestamps: {}", lines[1]);
    assert!(
        lines
            .last()
            .unwrap()
            .contains("2000 records, sequences 0..=1999"),
        "{}",
        r.out
    );
    // Sizes for humans, with the exact count beside the total.
    assert!(
        r.out.lines().last().unwrap().contains(" KiB ("),
        "{}",
        r.out
    );
    assert!(lines[1].contains(" KiB "), "{}", lines[1]);
    let v = ringctl(&["verify", &s(&dir)]);
    assert!(
        v.out
            .lines()
            .any(|l| l.starts_with("bytes:") && l.contains(" KiB (")),
        "{}",
        v.out
    );
    // An empty directory is not a log to read; `recover` makes it an empty log.
    let empty = tempfile::tempdir().unwrap();
    let r = ringctl(&["inspect", &s(empty.path()), "--json"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("not a log directory"), "{}", r.err);
    assert_eq!(ringctl(&["recover", &s(empty.path())]).code, 0);
    let r = ringctl(&["inspect", &s(empty.path()), "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(last_json(&r.out)["records"], 0);
}

#[test]
fn usage_and_io_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "10"]);
    let missing = s(&tmp.path().join("missing"));
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let d = s(&dir);
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", &missing],
        vec!["inspect", &missing],
        vec!["recover", &missing],
        vec!["replay", &missing],
        vec!["verify"],
        vec!["replay", &d, "--from-seq", "1", "--from-time", "2"],
        vec!["replay", &d, "--from-seq", "x"],
        vec!["stress", "--log", &d, "--capacity", "4096"],
        vec!["stress", "--log", &d, "--batch", "4"],
        vec!["stress", "--durability", "sync"],
        vec!["stress", "--segment-bytes", "65536"],
        vec!["stress", "--log", &d, "--durability", "fast"],
        vec!["stress", "--log", &d, "--backend", "floppy"],
        vec!["stress", "--log", &d, "--segment-bytes", "100"],
        vec!["stress", "--log", &d, "--payload-size", "3000000"],
        vec!["stress", "--log", &d, "--seconds", "0"],
        vec!["frobnicate"],
    ];
    for args in &cases {
        let r = ringctl(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(!r.err.is_empty(), "{args:?} says why");
    }
    let f = s(&file);
    for args in [
        vec!["stress", "--log", f.as_str(), "--events", "1"],
        vec!["verify", f.as_str()],
    ] {
        let r = ringctl(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
    }
    // Nothing above touched the log.
    let (code, sum, _) = replay_check(&dir, &[]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(10)));
}

/// Kills the child if the test fails before it ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_with_deadline(c: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        assert!(t.elapsed() < limit, "child did not finish within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn follow_sees_records_appended_by_a_concurrent_stress_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "1000", "--segment-bytes", "16384"]);
    let mut follower = Reap(
        Command::new(BIN)
            .args([
                "replay",
                &s(&dir),
                "--follow",
                "--from-seq",
                "500",
                "--to-seq",
                "2999",
                "--check",
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = follower.0.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        follower.0.try_wait().unwrap().is_none(),
        "the follower waits for sequences the log does not have yet"
    );
    // A second writer process appends 2000 more while the follower reads.
    stress_log(&dir, &["--events", "2000", "--segment-bytes", "16384"]);
    let st = wait_with_deadline(&mut follower.0, Duration::from_secs(30));
    let lines = lines.join().unwrap();
    assert!(st.success(), "follower: {st:?}");
    assert_eq!(lines.len(), 2501);
    for (i, want) in [(0, 500), (2499, 2999)] {
        let rec: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        assert_eq!(
            (&rec["type"], &rec["seq"]),
            (&"record".into(), &want.into()),
            "{rec}"
        );
    }
    let sum: serde_json::Value = serde_json::from_str(&lines[2500]).unwrap();
    assert_eq!(
        (&sum["records"], &sum["first_seq"], &sum["last_seq"]),
        (&2500.into(), &500.into(), &2999.into())
    );
}

#[test]
fn a_second_writer_and_recover_are_refused_while_a_writer_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut writer = Reap(
        Command::new(BIN)
            .args(["stress", "--log", &s(&dir), "--seconds", "20", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(writer.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("{\"type\":\"durable\",\"seq\":"),
        "{first}"
    );
    // recover and a second writer's stress: 5, locked by a writer (retryable), not 2
    // as a usage error.
    for (args, code) in [
        (vec!["recover", dir.to_str().unwrap()], 5),
        (
            vec!["stress", "--log", dir.to_str().unwrap(), "--events", "1"],
            5,
        ),
    ] {
        let r = ringctl(&args);
        assert_eq!(r.code, code, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains("locked"), "{}", r.err);
    }
    // Readers need no lock: they read up to the writer's durable point.
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(sum["records"].as_u64().unwrap() > 0);
    // "live" while the writer holds the log; "end" if it closed meanwhile (`stress`
    // reads its records back after closing).
    assert!(sum["end"] == "live" || sum["end"] == "end", "{sum}");
}

#[test]
fn a_write_error_stops_the_writer_and_exits_2_with_the_cause() {
    // A file size limit makes writes past it fail with EFBIG (SIGXFSZ ignored, as an
    // ignored signal stays ignored across exec): a real I/O error from the kernel.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let script = format!(
        "trap '' XFSZ; ulimit -f 4096 && exec {BIN} stress --log {} --events 1000000 \
         --payload-size 1000 --segment-bytes 67108864 --json",
        s(&dir)
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(stderr.to_lowercase().contains("too large"), "{stderr}");
    let v = last_json(&stdout);
    let d = v["durable_seq"].as_u64().expect("something was durable");
    assert!(d > 100 && d < 1_000_000, "{v}");
    assert_eq!(v["events"], d + 1);
    assert_eq!(v["verified"], d + 1, "{v}");
    assert!(v["stopped"].as_str().unwrap().contains("too large"), "{v}");
    let lines = json_durable(&stdout);
    assert_strictly_increasing(&lines);
    assert_eq!(lines.last(), Some(&d));
    // Everything reported durable is there.
    let (code, _) = verify_json(&dir);
    assert!(code == 0 || code == 3, "verify: {code}");
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(sum["records"].as_u64().unwrap() > d);
}

#[test]
fn a_log_that_ends_at_a_sealed_segment_replays_to_its_end() {
    // What a writer killed between sealing a segment and creating the next one leaves.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "2000", "--segment-bytes", "16384"]);
    let last = segment_files(&dir).pop().unwrap();
    let base: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    std::fs::remove_file(&last).unwrap();
    std::fs::remove_file(last.with_extension("idx")).unwrap();
    assert_eq!(verify_json(&dir).0, 0);
    let (code, sum, err) = replay_check(&dir, &[]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(base)), "{err}");
    let (code, sum, _) = replay_check(&dir, &["--from-seq", &(base + 3).to_string()]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(0)));
    let (v, _) = stress_log(&dir, &["--events", "5"]);
    assert_eq!(v["first_seq"], base);
    let (code, sum, _) = replay_check(&dir, &[]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(base + 5)));
}

#[test]
fn every_backend_writes_the_same_log_that_the_other_reads() {
    // Write half the events with one backend and half with the other, into one log: the
    // second run recovers what the first wrote, and verify/replay read both halves.
    for (first, second) in [("std", "uring"), ("uring", "std")] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let (a, _) = stress_log(&dir, &["--backend", first, "--events", "3000"]);
        assert_eq!(a["backend"], first);
        let (b, _) = stress_log(&dir, &["--backend", second, "--events", "3000"]);
        assert_eq!(
            (b["backend"].as_str(), b["first_seq"].as_u64()),
            (Some(second), Some(3000))
        );
        assert_eq!(verify_json(&dir).0, 0);
        let (code, v, err) = replay_check(&dir, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            (v["records"].as_u64(), v["last_seq"].as_u64()),
            (Some(6000), Some(5999))
        );
    }
}

/// `inspect`, `verify`, `replay` on a folder that is not a log exit 2 "not a log
/// directory" (they used to say `clean`, exit 0); an empty folder is not a log to read,
/// though `recover` makes it an empty one (what a crash right after creating the
/// directory leaves); a fresh log with no records is a log.
#[test]
fn a_folder_that_is_not_a_log_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let txt = tmp.path().join("notes");
    std::fs::create_dir(&txt).unwrap();
    std::fs::write(txt.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(txt.join("b.txt"), b"world\n").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (dir, what) in [(&txt, "other files"), (&empty, "empty")] {
        for cmd in ["inspect", "verify", "replay"] {
            for json in [false, true] {
                let mut args = vec![cmd.to_string(), s(dir)];
                if json {
                    args.push("--json".into());
                }
                let r = ringctl(&args);
                assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
                assert!(r.err.contains("not a log directory"), "{args:?}: {}", r.err);
                assert!(r.err.contains(what), "{args:?}: {}", r.err);
            }
        }
    }
    // recover refuses the folder of notes and leaves it as it was.
    let r = ringctl(&["recover", &s(&txt)]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("not a log directory"), "{}", r.err);
    assert_eq!(std::fs::read_dir(&txt).unwrap().count(), 2);
    // recover makes the empty folder an empty log, which then verifies clean.
    let r = ringctl(&["recover", &s(&empty)]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(verify_json(&empty).0, 0);
    // A writer's fresh log without records is a log.
    let fresh = tmp.path().join("fresh");
    let (sum, _) = stress_log(&fresh, &["--events", "0"]);
    assert_eq!(sum["events"], 0);
    let (code, v) = verify_json(&fresh);
    assert_eq!((code, &v["records"]), (0, &0.into()), "{v}");
    assert_eq!(ringctl(&["inspect", &s(&fresh)]).code, 0);
    let (code, sum, err) = replay_check(&fresh, &[]);
    assert_eq!((code, &sum["records"]), (0, &0.into()), "{err} {sum}");
}

/// The stress pattern of `seq` in `len` bytes (what `stress --log` appended).
fn pattern(seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    ringlog_pattern::fill(seq, &mut v);
    v
}

#[test]
fn replay_prints_payloads_in_hex_base64_and_utf8() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "20", "--payload-size", "24"]);
    for (enc, decode) in [
        (
            "hex",
            (|p: &str| hex::decode(p).unwrap()) as fn(&str) -> Vec<u8>,
        ),
        ("base64", |p: &str| {
            base64::engine::general_purpose::STANDARD.decode(p).unwrap()
        }),
    ] {
        let r = ringctl(&["replay", &s(&dir), "--payload", enc, "--json"]);
        assert_eq!(r.code, 0, "{}", r.err);
        let lines: Vec<serde_json::Value> = r
            .out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 21);
        for (seq, rec) in lines[..20].iter().enumerate() {
            let p = rec["payload"].as_str().expect("payload");
            assert_eq!(decode(p), pattern(seq as u64, 24), "{enc} {rec}");
        }
        // Text: the same payload at the end of each record line.
        let r = ringctl(&["replay", &s(&dir), "--payload", enc, "--to-seq", "3"]);
        assert_eq!(r.code, 0, "{}", r.err);
        let line = r.out.lines().nth(3).unwrap();
        let (_, p) = line.split_once(" payload ").expect(line);
        assert_eq!(decode(p), pattern(3, 24), "{line}");
    }
    // utf8: lossy text, quoted in text mode so that a record stays on one line.
    let r = ringctl(&[
        "replay",
        &s(&dir),
        "--payload",
        "utf8",
        "--json",
        "--to-seq",
        "0",
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    let rec: serde_json::Value = serde_json::from_str(r.out.lines().next().unwrap()).unwrap();
    assert_eq!(
        rec["payload"].as_str().unwrap(),
        String::from_utf8_lossy(&pattern(0, 24))
    );
    let r = ringctl(&["replay", &s(&dir), "--payload", "utf8"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.out.lines().count(), 21, "{}", r.out);
    let r = ringctl(&["replay", &s(&dir), "--payload", "rot13"]);
    assert_eq!(r.code, 2);
}

#[test]
fn replay_times_are_rfc3339_or_ns_and_json_ts_ns_is_a_string() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "3000", "--segment-bytes", "32768"]);
    let r = ringctl(&["replay", &s(&dir), "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let all: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (sum, recs) = all.split_last().unwrap();
    assert_eq!(sum["type"], "summary");
    assert_eq!(sum["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(sum["records"], 3000);
    assert!(sum.get("count").is_none(), "one vocabulary: {sum}");
    for rec in recs {
        assert_eq!(rec["type"], "record");
        let ns = ts_ns(rec);
        let time = rec["time"].as_str().unwrap();
        // The RFC 3339 time is the same instant, to the nanosecond.
        let t = humantime::parse_rfc3339(time).unwrap();
        let back = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        assert_eq!(back, u128::from(ns), "{rec}");
    }
    // --from-time / --to-time take what `replay --json` and `inspect` print, or ns.
    let from = &recs[1000];
    let to = &recs[2000];
    let expect_first = recs.iter().position(|r| ts_ns(r) >= ts_ns(from)).unwrap();
    let expect_last = recs.iter().rposition(|r| ts_ns(r) <= ts_ns(to)).unwrap();
    for (f, t) in [
        (
            from["time"].as_str().unwrap().to_owned(),
            to["time"].as_str().unwrap().to_owned(),
        ),
        (ts_ns(from).to_string(), ts_ns(to).to_string()),
    ] {
        let r = ringctl(&[
            "replay",
            &s(&dir),
            "--json",
            "--quiet",
            "--from-time",
            &f,
            "--to-time",
            &t,
        ]);
        assert_eq!(r.code, 0, "{f} {t}: {}", r.err);
        let v = last_json(&r.out);
        assert_eq!(v["first_seq"], expect_first as u64, "{f}: {v}");
        assert_eq!(v["last_seq"], expect_last as u64, "{t}: {v}");
    }
    let ins = last_json(&ringctl(&["inspect", &s(&dir), "--json"]).out);
    let seg = &ins["segments"][1];
    let r = ringctl(&[
        "replay",
        &s(&dir),
        "--json",
        "--quiet",
        "--from-time",
        seg["first_time"].as_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(last_json(&r.out)["first_seq"].as_u64().unwrap() <= seg["base_seq"].as_u64().unwrap());
    // Empty ranges and unreadable times are usage errors.
    for args in [
        vec!["--from-seq", "5", "--to-seq", "2"],
        vec![
            "--from-time",
            "2024-05-02T00:00:00Z",
            "--to-time",
            "2024-05-01T00:00:00Z",
        ],
        vec!["--from-time", "yesterday"],
        vec!["--to-time", "2024-13-01T00:00:00Z"],
    ] {
        let mut full = vec!["replay".to_string(), s(&dir)];
        full.extend(args.iter().map(|x| x.to_string()));
        let r = ringctl(&full);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.out.is_empty(), "{args:?}: {}", r.out);
    }
}

#[test]
fn every_json_report_shares_one_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "100"]);
    for (cmd, kind) in [
        ("inspect", "inspect"),
        ("verify", "verify"),
        ("recover", "recover"),
    ] {
        let r = ringctl(&[cmd, &s(&dir), "--json"]);
        assert_eq!(r.code, 0, "{cmd}: {}", r.err);
        let v = last_json(&r.out);
        assert_eq!(v["type"], kind, "{v}");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v}");
        assert!(!r.out.contains("record_count"), "{cmd}: {}", r.out);
        for seg in v["segments"].as_array().into_iter().flatten() {
            assert_eq!(seg["records"], 100, "{cmd}: {seg}");
            assert!(seg["first_ts_ns"].is_string(), "{cmd}: {seg}");
            assert!(
                seg["first_time"].as_str().unwrap().ends_with('Z'),
                "{cmd}: {seg}"
            );
        }
    }
}

#[test]
fn ctrl_c_and_sigterm_end_follow_with_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress_log(&dir, &["--events", "50"]);
    for signal in ["INT", "TERM"] {
        let mut follower = Reap(
            Command::new(BIN)
                .args(["replay", &s(&dir), "--follow", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut out = BufReader::new(follower.0.stdout.take().unwrap());
        // All 50 records arrive; then it waits for more.
        for _ in 0..50 {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            assert!(l.contains("\"type\":\"record\""), "{l}");
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(follower.0.try_wait().unwrap().is_none(), "still following");
        let st = Command::new("kill")
            .args([format!("-{signal}"), follower.0.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let status = wait_with_deadline(&mut follower.0, Duration::from_secs(10));
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status:?} {rest}");
        let sum = last_json(&rest);
        assert_eq!(
            (&sum["type"], &sum["records"], &sum["end"]),
            (&"summary".into(), &50.into(), &"interrupted".into()),
            "SIG{signal}: {sum}"
        );
    }
}
