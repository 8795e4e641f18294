//! `ringctl tier`, `ringctl restore` and `--store` through the real binary: against the
//! local-directory store always, and against a real S3 API (moto on loopback, as
//! storage-tier's tests start it) when `RINGLOG_MOTO` names its venv. Without it the S3
//! test prints why and skips; under `CI=true` it fails instead.
#![cfg(feature = "tier")]

#[allow(dead_code)]
#[path = "../../storage-tier/tests/common/s3.rs"]
mod s3;

use std::path::Path;
use std::process::Command;

use test_support::cli::{Run, last_json};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");
const EVENTS: u64 = 20_000;

/// Runs ringctl with moto's credentials in the environment.
fn ringctl(args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run ringctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(args: &[&str]) -> Run {
    let r = ringctl(args);
    assert_eq!(r.code, 0, "{args:?}\nstdout: {}\nstderr: {}", r.out, r.err);
    r
}

fn seg_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count()
}

/// A stress log of several 1 MiB segments.
fn stress_log(dir: &Path) {
    ok(&[
        "stress",
        "--log",
        dir.to_str().unwrap(),
        "--events",
        &EVENTS.to_string(),
        "--payload-size",
        "200",
        "--segment-bytes",
        "1MiB",
        "--json",
    ]);
    assert!(seg_files(dir) >= 4);
}

/// `replay --check --json` with `extra`: (records, first, last) of the summary.
fn replay_check(dir: &Path, extra: &[&str]) -> (u64, u64, u64) {
    let mut args = vec!["replay", dir.to_str().unwrap(), "--check", "--json", "-q"];
    args.extend_from_slice(extra);
    let r = ok(&args);
    let s = last_json(&r.out);
    assert_eq!(s["type"], "summary", "{s}");
    (
        s["records"].as_u64().unwrap(),
        s["first_seq"].as_u64().unwrap(),
        s["last_seq"].as_u64().unwrap(),
    )
}

/// Tier the whole log, then read it back through every read command, restore it, and
/// find a damaged object. `store` and `endpoint` name the store on the command line.
fn tier_and_read_back(store: &str, endpoint: Option<&str>, damage: &dyn Fn(&str)) {
    let log = tempfile::tempdir().unwrap();
    let dir = log.path().join("log");
    stress_log(&dir);
    let d = dir.to_str().unwrap();
    let mut at = vec!["--store", store];
    if let Some(e) = endpoint {
        at.extend(["--endpoint", e]);
    }
    let args = [
        &["tier", d, "--keep-local-segments", "0", "--json"],
        &at[..],
    ]
    .concat();
    let r = ok(&args);
    let t = last_json(&r.out);
    assert_eq!(t["type"], "tier", "{t}");
    let moved = t["moved"].as_array().unwrap();
    assert!(moved.len() >= 3, "{t}");
    assert_eq!(seg_files(&dir), 1, "only the active segment stays local");
    let cold_last = moved.last().unwrap()["last_seq"].as_u64().unwrap();

    // Without the store the log starts after the cold tier; with it, at 0.
    assert_eq!(replay_check(&dir, &[]).1, cold_last + 1);
    assert_eq!(replay_check(&dir, &at), (EVENTS, 0, EVENTS - 1));
    let mid = cold_last / 2 + 17;
    assert_eq!(
        replay_check(&dir, &[&["--from-seq", &mid.to_string()], &at[..]].concat()),
        (EVENTS - mid, mid, EVENTS - 1)
    );

    let r = ok(&[&["inspect", d, "--json"], &at[..]].concat());
    let v = last_json(&r.out);
    assert_eq!(v["records"].as_u64(), Some(EVENTS), "{v}");
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), moved.len() + 1);
    for s in &segs[..moved.len()] {
        assert_eq!(s["tier"], "cold", "{s}");
        assert!(
            s["ratio"].as_f64().unwrap() > 2.0,
            "the pattern compresses: {s}"
        );
        assert!(s["stored_bytes"].as_u64().unwrap() < s["bytes"].as_u64().unwrap());
    }
    assert_eq!(segs.last().unwrap()["tier"], "local");
    let r = ok(&[&["verify", d, "--json"], &at[..]].concat());
    let v = last_json(&r.out);
    assert_eq!(
        v["cold"]["segments"].as_u64(),
        Some(moved.len() as u64),
        "{v}"
    );

    // Restore from the bucket alone into a new directory.
    let new = log.path().join("restored");
    let n = new.to_str().unwrap();
    ok(&[&["restore", n, "--json"], &at[..]].concat());
    assert_eq!(replay_check(&new, &at), (cold_last + 1, 0, cold_last));

    // A damaged object is corruption (exit 1), never data.
    damage(moved[1]["key"].as_str().unwrap());
    let r = ringctl(&[&["verify", d], &at[..]].concat());
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.out, r.err);
    // Replay reads frames from the local cache first (checked, and good copies): with
    // the cache emptied it must fetch the damaged frames.
    std::fs::remove_dir_all(dir.join("tier/cache")).unwrap();
    let r = ringctl(&[&["replay", d, "--check", "-q"], &at[..]].concat());
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.out, r.err);
}

fn flip_middle(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[test]
fn tier_to_a_directory_store_and_read_back() {
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    tier_and_read_back(&url, None, &|key| flip_middle(&bucket.path().join(key)));
}

#[test]
fn tier_to_s3_and_replay_check_returns_every_event() {
    let Some(moto) = s3::Moto::start() else {
        return;
    };
    moto.create_bucket("ringlog");
    let ep = moto.endpoint();
    tier_and_read_back("s3://ringlog/logs", Some(&ep), &|key| {
        let k = format!("logs/{key}");
        let mut b = moto.get_object("ringlog", &k);
        let i = b.len() / 2;
        b[i] ^= 0x20;
        moto.put_object("ringlog", &k, &b);
    });
    let keys = moto.list_objects("ringlog");
    assert!(keys.iter().any(|k| k == "logs/manifest"), "{keys:?}");
    assert!(moto.list_uploads("ringlog").is_empty());
}

#[test]
fn store_usage_errors_exit_2() {
    let log = tempfile::tempdir().unwrap();
    let d = log.path().join("log");
    stress_log(&d);
    let d = d.to_str().unwrap();
    for args in [
        vec!["tier", d, "--store", "http://x"],
        vec!["tier", d, "--store", "file://relative"],
        vec!["replay", d, "--store", "ftp://x"],
        vec!["restore", d, "--store", "file:///nonexistent-ringlog-store"],
    ] {
        let r = ringctl(&args);
        assert_eq!(r.code, 2, "{args:?}\nstdout: {}\nstderr: {}", r.out, r.err);
        assert!(!r.err.is_empty());
    }
}

#[test]
fn cold_retention_cuts_the_front_of_the_whole_log() {
    let log = tempfile::tempdir().unwrap();
    let dir = log.path().join("log");
    stress_log(&dir);
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let d = dir.to_str().unwrap();
    let r = ok(&[
        "tier",
        d,
        "--store",
        &url,
        "--keep-local-segments",
        "0",
        "--cold-max-segments",
        "1",
        "--json",
    ]);
    let t = last_json(&r.out);
    let moved = t["moved"].as_array().unwrap();
    let deleted = t["cold_retention"]["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), moved.len() - 1, "{t}");
    let kept = moved.last().unwrap()["base_seq"].as_u64().unwrap();
    assert_eq!(t["cold_retention"]["first_seq"].as_u64(), Some(kept), "{t}");
    // The objects went with the manifest entries; the log now starts at the kept one.
    let objects = std::fs::read_dir(bucket.path().join("segments"))
        .unwrap()
        .count();
    assert_eq!(objects, 1);
    assert_eq!(
        replay_check(&dir, &["--store", &url]),
        (EVENTS - kept, kept, EVENTS - 1)
    );
    let r = ringctl(&["replay", d, "--from-seq", "0", "--store", &url, "-q"]);
    assert_eq!(r.code, 2, "not retained: {}", r.err);
}

#[test]
fn seal_active_moves_a_closed_log_whole_and_the_sequence_continues() {
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let log = tempfile::tempdir().unwrap();
    let dir = log.path().join("log");
    stress_log(&dir);
    let d = dir.to_str().unwrap();
    // Without --seal-active the active segment (group durability, unsealed) stays.
    let r = ok(&[
        "tier",
        d,
        "--keep-local-segments",
        "0",
        "--store",
        &url,
        "--json",
    ]);
    let kept_last = last_json(&r.out)["moved"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["last_seq"]
        .as_u64()
        .unwrap();
    assert!(
        kept_last < EVENTS - 1,
        "the active tail is not moved unsealed"
    );
    // A writer holds the log: refused as locked (exit 5), nothing sealed.
    {
        let w: storage_std::Writer = storage_std::Writer::open(
            &dir,
            storage_std::WriterOptions::new(storage_std::Durability::group()),
        )
        .unwrap();
        let r = ringctl(&["tier", d, "--seal-active", "--store", &url]);
        assert_eq!(r.code, 5, "stdout: {}\nstderr: {}", r.out, r.err);
        w.close().unwrap();
    }
    let r = ok(&[
        "tier",
        d,
        "--keep-local-segments",
        "0",
        "--seal-active",
        "--store",
        &url,
        "--json",
    ]);
    let t = last_json(&r.out);
    let moved = t["moved"].as_array().unwrap();
    assert_eq!(
        moved.last().unwrap()["last_seq"].as_u64(),
        Some(EVENTS - 1),
        "{t}"
    );
    assert_eq!(
        seg_files(&dir),
        1,
        "only an empty active segment stays local"
    );
    assert_eq!(
        replay_check(&dir, &["--store", &url]),
        (EVENTS, 0, EVENTS - 1)
    );
    // A writer reopened on the directory continues after the cold tier's last sequence.
    let r = ok(&["stress", "--log", d, "--events", "10", "--json"]);
    assert_eq!(last_json(&r.out)["first_seq"].as_u64(), Some(EVENTS));
}
