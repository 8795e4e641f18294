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

#[test]
fn options_that_do_not_apply_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("log");
    let d = d.to_str().unwrap();
    for (args, says) in [
        (
            &[
                "stress",
                "--log",
                d,
                "--mode",
                "broadcast",
                "--readers",
                "4",
            ][..],
            "--mode",
        ),
        (&["stress", "--log", d, "--policy", "overwrite"], "--policy"),
        (&["stress", "--readers", "4", "--events", "10"], "--readers"),
        (
            &[
                "stress", "--mode", "spsc", "--policy", "gated", "--events", "10",
            ],
            "--policy",
        ),
        (
            &[
                "stress",
                "--mode",
                "pool",
                "--capacity",
                "4K",
                "--events",
                "10",
            ],
            "--capacity",
        ),
        (&["stress", "--batch", "0", "--events", "10"], "--batch"),
        (
            &[
                "stress",
                "--mode",
                "broadcast",
                "--batch",
                "0",
                "--events",
                "10",
            ],
            "--batch",
        ),
        (
            &["stress", "--segment-bytes", "1M", "--events", "10"],
            "--log",
        ),
        (&["stress", "--json", "-q", "--events", "10"], "--quiet"),
        (&["stress", "--log", d, "--segment-bytes", "lots"], "lots"),
    ] {
        let (code, out, err) = ringctl(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?} names {says}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing ran: {out}");
    }
    assert!(!tmp.path().join("log").exists(), "no log was created");
}

#[test]
fn sizes_are_human_in_and_out() {
    // K/M/G are powers of 1024: a ring capacity is a power of two.
    let (code, out, err) = ringctl(&["stress", "--capacity", "1M", "--events", "1000", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(last_json(&out)["capacity"], 1 << 20);
    let (code, out, err) = ringctl(&["stress", "--capacity", "64KiB", "--events", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("capacity:    64.0 KiB\n"), "{out}");
    assert!(
        out.contains("bytes:       62.5 KiB (payload, 64000 bytes)\n"),
        "{out}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("log");
    let d = d.to_str().unwrap();
    let (code, out, err) = ringctl(&[
        "stress",
        "--log",
        d,
        "--segment-bytes",
        "64KiB",
        "--group-bytes",
        "16 KiB",
        "--payload-size",
        "1k",
        "--events",
        "200",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(last_json(&out)["payload_bytes"], 200 * 1024);
    // 200 KiB of records in 64 KiB segments: the segment size was taken as given.
    let segments = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count();
    assert!(segments >= 4, "{segments} segments");
}

/// `stress --log` output with `--json`: JSON only, one object a line, each with a
/// `type`; every durable advance, then the summary (with `version`) last.
#[test]
fn log_stress_json_is_json_only_with_the_summary_last() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("log");
    let d = d.to_str().unwrap();
    let (code, out, err) = ringctl(&["stress", "--log", d, "--events", "100000", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let (summary, durable) = lines.split_last().expect("a summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["events"], 100_000);
    assert_eq!(summary["version"], env!("CARGO_PKG_VERSION"));
    assert!(!durable.is_empty());
    let mut last = None;
    for v in durable {
        assert_eq!(v["type"], "durable", "{v}");
        let s = v["seq"].as_u64().expect("seq");
        assert!(last < Some(s), "increasing: {last:?} then {s}");
        last = Some(s);
    }
    assert_eq!(last, Some(99_999));
    // The other modes' summaries carry the same fields.
    let (_, out, _) = ringctl(&["stress", "--events", "100", "--json"]);
    let v = last_json(&out);
    assert_eq!(
        (&v["type"], &v["version"]),
        (&"summary".into(), &env!("CARGO_PKG_VERSION").into())
    );
}

/// Text mode throttles `durable S` lines to about 10 a second (plus the last); `-q`
/// silences them.
#[test]
fn text_durable_lines_are_throttled_and_quiet_silences_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("log");
    let d = d.to_str().unwrap();
    let args = [
        "stress",
        "--log",
        d,
        "--durability",
        "sync",
        "--seconds",
        "1.5",
    ];
    let (code, out, err) = ringctl(&args);
    assert_eq!(code, 0, "{err}");
    let durable = test_support::cli::durable_lines(&out);
    // 1.5 s at one line per 100 ms, the final one, and slack for a slow close.
    assert!(
        (2..=20).contains(&durable.len()),
        "{} durable lines in 1.5 s: {durable:?}",
        durable.len()
    );
    let summary_seq = out
        .lines()
        .find_map(|l| l.strip_prefix("durable_seq:"))
        .map(|x| x.trim().parse::<u64>().unwrap());
    assert_eq!(durable.last().copied(), summary_seq, "{out}");
    let mut q = args.to_vec();
    q.push("-q");
    let (code, out, err) = ringctl(&q);
    assert_eq!(code, 0, "{err}");
    assert!(test_support::cli::durable_lines(&out).is_empty(), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("durable ")), "{out}");
    assert_eq!(out.lines().last(), Some("errors:      0"));
}

/// On a terminal, a `--seconds` run's progress bar counts seconds against the run's
/// seconds (with the events so far), not events against a made-up total. `script`
/// (util-linux, essential on Debian) gives the run a terminal.
#[test]
fn seconds_progress_counts_seconds_on_a_terminal() {
    let cmd = format!(
        "{} stress --seconds 0.5 >/dev/null",
        env!("CARGO_BIN_EXE_ringctl")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script(1) runs the stress on a terminal");
    assert!(out.status.success(), "{out:?}");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("/0.5 s, "), "progress: {tty}");
    assert!(!tty.contains("/0 events"), "progress: {tty}");
    // An event-count run still counts events against the count.
    let cmd = format!(
        "{} stress --events 1000000 >/dev/null",
        env!("CARGO_BIN_EXE_ringctl")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("/1,000,000 events"), "progress: {tty}");
}

/// `--events-per-sec` paces the producer, and the JSON summary carries the commit
/// latency percentiles, ordered, one sample per event; with durability none there is
/// nothing to time.
#[test]
fn offered_rate_paces_the_run_and_reports_commit_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("log");
    let d = d.to_str().unwrap();
    let started = std::time::Instant::now();
    let (code, out, err) = ringctl(&[
        "stress",
        "--log",
        d,
        "--events",
        "4000",
        "--events-per-sec",
        "10000",
        "--backend",
        "std",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    // 4000 events at 10 k/s take at least 0.4 s.
    assert!(started.elapsed() >= std::time::Duration::from_millis(390));
    let v = last_json(&out);
    assert_eq!(v["verified"], 4000);
    assert_eq!(v["events_per_sec_offered"], 10_000);
    let l = &v["commit_latency_us"];
    assert_eq!(l["samples"], 4000, "{l}");
    let get = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("commit_latency_us.{k}: {l}"))
    };
    let (p50, p99, p999, max) = (get("p50"), get("p99"), get("p99_9"), get("max"));
    assert!(p50 > 0.0, "{l}");
    assert!(p50 <= p99 && p99 <= p999 && p999 <= max, "{l}");
    assert!(get("mean") <= max, "{l}");
    // The writer's own view: every event written, per-group sync latencies in order.
    let ws = &v["writer"];
    assert!(ws["records"].as_u64().unwrap() >= 4000, "{ws}");
    assert!(ws["syncs"].as_u64().unwrap() >= 1, "{ws}");
    let sl = &ws["sync_latency"];
    let ns = |k: &str| {
        sl[k]
            .as_u64()
            .unwrap_or_else(|| panic!("writer.sync_latency.{k}: {ws}"))
    };
    assert!(ns("count") >= 1 && ns("p50_ns") > 0, "{ws}");
    assert!(
        ns("p50_ns") <= ns("p99_ns") && ns("p99_ns") <= ns("p999_ns"),
        "{ws}"
    );
    assert!(ns("p999_ns") <= ns("max_ns"), "{ws}");
    // Pre-written spares change nothing in what is reported.
    let d2 = tmp.path().join("log2");
    let (code, out, err) = ringctl(&[
        "stress",
        "--log",
        d2.to_str().unwrap(),
        "--events",
        "3000",
        "--segment-bytes",
        "64KiB",
        "--backend",
        "std",
        "--spares",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = last_json(&out);
    assert_eq!(v["verified"], 3000);
    assert!(v["commit_latency_us"]["samples"].as_u64().unwrap() >= 2);
    // Durability none: no commit to time.
    let (code, out, err) = ringctl(&[
        "stress",
        "--log",
        d,
        "--events",
        "1000",
        "--durability",
        "none",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(last_json(&out)["commit_latency_us"].is_null());
    // A rate of 0 and spares with io_uring are usage errors.
    let (code, _, _) = ringctl(&["stress", "--log", d, "--events-per-sec", "0"]);
    assert_eq!(code, 2);
    let (code, _, err) = ringctl(&[
        "stress",
        "--log",
        d,
        "--events",
        "10",
        "--spares",
        "1",
        "--backend",
        "uring",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--spares"), "{err}");
}
