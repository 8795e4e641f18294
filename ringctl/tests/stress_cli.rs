//! End-to-end tests of `ringctl stress` through the real binary.

use test_support::cli::last_json;

fn ringctl(args: &[&str]) -> (i32, String, String) {
    let r = test_support::cli::run(env!("CARGO_BIN_EXE_ringctl"), args);
    (r.code, r.out, r.err)
}

#[test]
fn json_summary_verifies_every_event() {
    let (code, out, err) = ringctl(&[
        "stress",
        "--events",
        "200000",
        "--json",
        "--capacity",
        "4096",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let v = last_json(&out);
    assert_eq!(v["mode"], "spsc");
    assert_eq!(v["events"], 200_000);
    assert_eq!(v["verified"], 200_000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["payload_bytes"], 200_000 * 64);
    for key in ["elapsed_s", "events_per_s", "payload_mb_per_s"] {
        assert!(
            v[key].as_f64().is_some_and(|x| x > 0.0),
            "{key}: {}",
            v[key]
        );
    }
}

#[test]
fn variable_sizes_and_single_publishes_verify() {
    let (code, out, err) = ringctl(&[
        "stress",
        "--events",
        "50000",
        "--payload-min",
        "0",
        "--payload-max",
        "1900",
        "--capacity",
        "4096",
        "--batch",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let v = last_json(&out);
    assert_eq!(
        (v["verified"].as_u64(), v["errors"].as_u64()),
        (Some(50_000), Some(0))
    );
    let bytes = v["payload_bytes"].as_u64().unwrap();
    assert!(
        bytes > 50_000 * 500 && bytes < 50_000 * 1500,
        "mean length off: {bytes}"
    );
}

#[test]
fn timed_run_stops_and_verifies() {
    let (code, out, err) = ringctl(&["stress", "--seconds", "0.3", "--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    let v = last_json(&out);
    assert!(v["events"].as_u64().unwrap() > 0);
    assert_eq!(v["verified"], v["events"]);
    assert!(v["elapsed_s"].as_f64().unwrap() < 5.0);
}

#[test]
fn damaged_payloads_fail_the_check_with_exit_1() {
    let (code, out, _) = ringctl(&[
        "stress",
        "--events",
        "10000",
        "--corrupt-every",
        "1000",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v = last_json(&out);
    assert_eq!(v["errors"], 10);
    assert_eq!(v["verified"], 9_990);
    assert!(v["first_error"].as_str().unwrap().contains("pattern"));
}

#[test]
fn text_summary_ends_with_errors_line() {
    let (code, out, _) = ringctl(&["stress", "--events", "1000"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().last(), Some("errors:      0"));
    assert!(out.contains("verified:    1000"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["stress", "--capacity", "1000"][..],
        &["stress", "--capacity", "1024"],
        &["stress", "--payload-size", "5000", "--capacity", "4096"],
        &["stress", "--payload-min", "9", "--payload-max", "3"],
        &["stress", "--seconds", "-1"],
        &["stress", "--no-such-flag"],
    ] {
        let (code, _, err) = ringctl(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?} says why");
    }
}
