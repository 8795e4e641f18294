//! `ringctl verify --isolated [--time-limit S] [--memory-limit BYTES]`: the verifier in
//! a child ringctl. A log verifies the same (report and exit code) as in process; a
//! segment that hangs every read (a FIFO standing in for a stuck network file) or a
//! memory limit the child cannot live in is exit 6 with the outcome, never a hang.

use std::time::{Duration, Instant};

use test_support::cli::{Run, run, run_within};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl(args: &[&str]) -> Run {
    run_within(BIN, args, Duration::from_secs(60))
}

fn a_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let r = run(
        BIN,
        &[
            "stress",
            "--log",
            log.to_str().unwrap(),
            "--events",
            "20000",
            "--segment-bytes",
            "64KiB",
            "-q",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    dir
}

/// The `verify --json` object without the `isolated` part.
fn report_of(r: &Run) -> (serde_json::Value, serde_json::Value) {
    let mut v = r.json();
    let iso = v
        .as_object_mut()
        .unwrap()
        .remove("isolated")
        .unwrap_or_default();
    (v, iso)
}

#[test]
fn a_log_verifies_the_same_isolated() {
    let dir = a_log();
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    let plain = ringctl(&["verify", "--json", log]);
    let isolated = ringctl(&["verify", "--isolated", "--json", log]);
    assert_eq!((plain.code, isolated.code), (0, 0), "{}", isolated.err);
    let (report, iso) = report_of(&isolated);
    assert_eq!(report, plain.json());
    assert_eq!(iso["outcome"], "verified");

    // Corruption: the same report and exit 1, through the child.
    let segs = test_support::files::segment_files(std::path::Path::new(log));
    test_support::files::flip_byte(&segs[2], 3000);
    let plain = ringctl(&["verify", "--json", log]);
    let isolated = ringctl(&["verify", "--isolated", "--json", log]);
    assert_eq!((plain.code, isolated.code), (1, 1), "{}", isolated.err);
    assert_eq!(report_of(&isolated).0, plain.json());
    let text = ringctl(&["verify", "--isolated", "--time-limit", "30", log]);
    assert_eq!(text.code, 1);
    assert!(text.out.contains("CORRUPT"), "{}", text.out);
    assert!(text.out.contains("isolated: verified"), "{}", text.out);
}

#[test]
fn a_hanging_read_is_killed_at_the_time_limit() {
    let dir = a_log();
    let log = dir.path().join("log");
    // A segment whose reads never return.
    let fifo = log.join("00000000000000099999.seg");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Instant::now();
    let r = ringctl(&[
        "verify",
        "--isolated",
        "--time-limit",
        "1",
        "--json",
        log.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(r.code, 6, "{}\n{}", r.out, r.err);
    let (_, iso) = report_of(&r);
    assert_eq!(iso["outcome"], "timed_out", "{}", r.out);
    assert_eq!(iso["limit_ms"], 1000);
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(r.err.contains("timed out"), "{}", r.err);
}

#[test]
fn a_memory_limit_the_child_cannot_live_in_is_a_finding() {
    let dir = a_log();
    let log = dir.path().join("log");
    let r = ringctl(&[
        "verify",
        "--isolated",
        "--memory-limit",
        "1MiB",
        "--json",
        log.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 6, "{}\n{}", r.out, r.err);
    let (_, iso) = report_of(&r);
    // Under 1 MiB of address space the child dies at its first allocation or stack
    // growth: a refused allocation, or SIGSEGV from a stack that cannot grow.
    let outcome = iso["outcome"].as_str().unwrap();
    assert!(
        outcome == "out_of_memory" || outcome == "crashed",
        "{}",
        r.out
    );
}

#[test]
fn isolated_flags_are_checked() {
    let dir = a_log();
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    for args in [
        &["verify", "--time-limit", "5", log][..],
        &["verify", "--memory-limit", "1GiB", log],
        &["verify", "--isolated", "--time-limit", "0", log],
        &["verify", "--isolated", "--time-limit", "soon", log],
        &["verify", "--isolated", "--store", "file:///nowhere", log],
    ] {
        let r = ringctl(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
    }
    let empty = tempfile::tempdir().unwrap();
    let r = ringctl(&["verify", "--isolated", empty.path().to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.err);
}
