//! End-to-end tests of `ringctl stress --mode broadcast|pool` through the real binary.

/// Runs ringctl: exit code, the last line of stdout as JSON (null if it is not), stderr.
fn ringctl(args: &[&str]) -> (i32, serde_json::Value, String) {
    let r = test_support::cli::run(env!("CARGO_BIN_EXE_ringctl"), args);
    let json = r
        .out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    (r.code, json, r.err)
}

fn readers(v: &serde_json::Value) -> Vec<(u64, u64, u64)> {
    v["readers"]
        .as_array()
        .expect("readers list")
        .iter()
        .map(|r| {
            (
                r["seen"].as_u64().unwrap(),
                r["lost"].as_u64().unwrap(),
                r["errors"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn gated_broadcast_every_reader_sees_every_event() {
    let (code, v, err) = ringctl(&[
        "stress",
        "--mode",
        "broadcast",
        "--readers",
        "3",
        "--events",
        "300000",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (v["mode"].as_str(), v["policy"].as_str()),
        (Some("broadcast"), Some("gated"))
    );
    assert_eq!(v["published"], 300_000);
    assert_eq!(v["errors"], 0);
    assert_eq!(readers(&v), vec![(300_000, 0, 0); 3]);
    for r in v["readers"].as_array().unwrap() {
        let ratio = r["backpressure_ratio"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&ratio),
            "gated lag never exceeds capacity: {ratio}"
        );
        assert!(r["max_lag"].as_u64().unwrap() <= 1024);
    }
}

#[test]
fn overwrite_broadcast_accounts_for_every_event_exactly() {
    let (code, v, err) = ringctl(&[
        "stress",
        "--mode",
        "broadcast",
        "--policy",
        "overwrite",
        "--readers",
        "2",
        "--events",
        "400000",
        "--payload-size",
        "200",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["errors"], 0);
    for (seen, lost, errors) in readers(&v) {
        assert_eq!(seen + lost, 400_000);
        assert_eq!(errors, 0);
        assert!(seen > 0);
    }
}

#[test]
fn pool_routes_mixed_sizes_and_checks_them() {
    for policy in ["gated", "overwrite"] {
        let (code, v, err) = ringctl(&[
            "stress",
            "--mode",
            "pool",
            "--policy",
            policy,
            "--readers",
            "2",
            "--events",
            "20000",
            "--json",
        ]);
        assert_eq!(code, 0, "{policy}: {err}");
        assert_eq!(v["mode"], "pool");
        let bytes = v["payload_bytes"].as_u64().unwrap();
        // Sizes from 16 B to 16 KiB: the mean is near 8 KiB.
        assert!(bytes > 20_000 * 6_000 && bytes < 20_000 * 10_500, "{bytes}");
        for (seen, lost, errors) in readers(&v) {
            assert_eq!((seen + lost, errors), (20_000, 0), "{policy}");
            if policy == "gated" {
                assert_eq!(lost, 0);
            }
        }
    }
}

#[test]
fn damaged_events_fail_every_reader_check() {
    let (code, v, _) = ringctl(&[
        "stress",
        "--mode",
        "broadcast",
        "--readers",
        "2",
        "--events",
        "5000",
        "--corrupt-every",
        "500",
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(readers(&v), vec![(5_000, 0, 10); 2]);
    assert_eq!(v["errors"], 20);
}

#[test]
fn fanout_usage_errors_exit_2() {
    for args in [
        &["stress", "--mode", "broadcast", "--readers", "0"][..],
        &["stress", "--mode", "broadcast", "--readers", "17"],
        &["stress", "--mode", "broadcast", "--payload-size", "20000"],
        &["stress", "--mode", "pool", "--payload-size", "16385"],
        &["stress", "--mode", "nope"],
        &["stress", "--mode", "pool", "--policy", "sometimes"],
    ] {
        let (code, _, err) = ringctl(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
