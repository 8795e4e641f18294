//! Issue 10's numbered findings, one test each, through the real binary: every one of
//! them failed on the commit the issue was filed against (the closing note shows how).
//! Items 1 and 11 need a file system that drops unsynced data: they are in
//! `powercut.rs`; the whole damage corpus is in `corpus.rs`.
//!
//! Exit codes (one table for `verify`, `recover`, `replay`): 0 clean, 1 corruption or a
//! failed check, 2 usage, I/O error or not a log, 3 torn tail only, 4 repairable only,
//! 5 locked by a writer.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::cli::{Run, durable_lines, last_json, run_within};
use test_support::files::{flip_byte, segment_files};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

/// No call may take longer (a hang fails the test instead of stalling it).
const LIMIT: Duration = Duration::from_secs(60);

fn ringctl<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Run {
    run_within(BIN, args, LIMIT)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `stress --log DIR --backend std` plus `extra`; asserts exit 0; the durable lines.
fn stress(dir: &Path, extra: &[&str]) -> Vec<u64> {
    let mut args = vec![
        "stress".to_string(),
        "--log".into(),
        s(dir),
        "--backend".into(),
        "std".into(),
    ];
    args.extend(extra.iter().map(|x| x.to_string()));
    let r = ringctl(&args);
    assert_eq!(r.code, 0, "{args:?}\nstdout: {}\nstderr: {}", r.out, r.err);
    durable_lines(&r.out)
}

fn verify(dir: &Path) -> (i32, serde_json::Value) {
    let r = ringctl(&["verify", &s(dir), "--json"]);
    (r.code, last_json(&r.out))
}

/// `replay DIR --check --json --quiet` plus `extra`: (exit code, summary, stderr).
fn replay(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
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

fn base_of(p: &Path) -> u64 {
    p.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn index_of(seg: &Path) -> PathBuf {
    seg.with_extension("idx")
}

/// Where the payload of record `k` of a segment starts, for fixed-size payloads of
/// `payload` bytes (header 64, record prefix 32).
fn payload_at(k: u64, payload: u64) -> u64 {
    64 + k * (32 + payload.next_multiple_of(8)) + 32
}

/// A log of `n` records of 40 bytes in 16 KiB segments whose last segment is sealed:
/// the active one (and its index) removed, as a log whose writer died between sealing a
/// segment and creating the next. Returns the segments and the sealed last one's last
/// sequence.
fn log_ending_sealed(dir: &Path, n: u64) -> (Vec<PathBuf>, u64) {
    stress(
        dir,
        &[
            "--events",
            &n.to_string(),
            "--segment-bytes",
            "16384",
            "--payload-size",
            "40",
        ],
    );
    let mut segs = segment_files(dir);
    let active = segs.pop().unwrap();
    let next = base_of(&active);
    std::fs::remove_file(&active).unwrap();
    let _ = std::fs::remove_file(index_of(&active));
    (segs, next - 1)
}

/// Item 2: `replay` never ended (100% CPU) when the last segment had a valid footer but
/// failed the sealed check: bytes after the footer (a `kill -9` between the footer write
/// and the trim), or a damaged header.
#[test]
fn item_2_replay_ends_on_a_sealed_last_segment_that_fails_the_sealed_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (segs, last) = log_ending_sealed(&dir, 1200);
    let victim = segs.last().unwrap();
    // An unfinished trim: block padding after the footer.
    let mut bytes = std::fs::read(victim).unwrap();
    let good = bytes.clone();
    bytes.extend_from_slice(&[0u8; 3000]);
    std::fs::write(victim, &bytes).unwrap();
    let (code, sum, err) = replay(&dir, &[]);
    assert_eq!(code, 0, "every record was delivered: {sum} {err}");
    assert_eq!(sum["records"].as_u64(), Some(last + 1), "{sum}");
    let (code, v) = verify(&dir);
    assert_eq!((code, &v["class"]), (4, &"repairable".into()), "{v}");
    // Following stops at --to-seq without spinning on the segment.
    let (code, sum, err) = replay(&dir, &["--follow", "--to-seq", &last.to_string()]);
    assert_eq!(
        (code, sum["records"].as_u64()),
        (0, Some(last + 1)),
        "{err}"
    );

    // A damaged header: reported, never a loop.
    let mut bytes = good;
    bytes[20] ^= 0x01;
    std::fs::write(victim, &bytes).unwrap();
    let (code, sum, err) = replay(&dir, &[]);
    assert_eq!(code, 1, "{sum} {err}");
    assert!(sum["records"].as_u64().unwrap() <= last, "{sum}");
    let (code, v) = verify(&dir);
    assert_eq!(code, 1, "{v}");
}

/// Item 3: after a power cut the active index's tail can read back as zeros over many
/// entries (appended without a sync, its length committed by a later `fdatasync` of
/// another file's journal); `verify` called that corruption.
#[test]
fn item_3_a_zeroed_tail_of_the_active_index_is_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress(&dir, &["--events", "3000", "--payload-size", "200"]);
    let segs = segment_files(&dir);
    let idx = index_of(segs.last().unwrap());
    let mut bytes = std::fs::read(&idx).unwrap();
    bytes.extend_from_slice(&[0u8; 5 * 32]);
    std::fs::write(&idx, &bytes).unwrap();
    let (code, v) = verify(&dir);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["class"], "torn_tail", "{v}");
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(last_json(&r.out)["found"], "torn_tail", "{}", r.out);
    assert_eq!(verify(&dir).0, 0);
    let (code, sum, _) = replay(&dir, &[]);
    assert_eq!((code, sum["records"].as_u64()), (0, Some(3000)));
}

/// Item 4: a segment started by a `--durability none` writer kept an unbounded torn
/// window, a later group writer appended to it, and one flipped bit near its start made
/// `recover` cut every record the group writer had reported durable.
#[test]
fn item_4_recover_never_cuts_what_a_later_writer_reported_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let big = ["--segment-bytes", "67108864", "--payload-size", "56"];
    stress(
        &dir,
        &[&["--durability", "none", "--events", "100"][..], &big].concat(),
    );
    let durable = stress(
        &dir,
        &[&["--durability", "group", "--events", "20000"][..], &big].concat(),
    );
    let max = *durable.last().unwrap();
    assert_eq!(max, 20_099);
    let first = segment_files(&dir)[0].clone();
    flip_byte(&first, payload_at(5, 56) + 3);
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    let (code, sum, err) = replay(&dir, &[]);
    // Either recover refused (corruption: nothing changed) or nothing durable is gone.
    if r.code == 0 {
        assert!(
            sum["last_seq"].as_u64() >= Some(max),
            "recover cut records reported durable: recover {} {}; replay {sum} {err}",
            r.out,
            r.err
        );
    } else {
        assert_eq!(r.code, 1, "{}{}", r.out, r.err);
        assert_eq!(code, 1, "{sum}");
        assert_eq!(last_json(&r.out)["found"], "corruption", "{}", r.out);
    }
}

/// Item 5: `replay --check` exited 0 with a short count on mid-log damage in the active
/// segment (it took the damage for the end of the log), and `--follow` waited there
/// forever.
#[test]
fn item_5_replay_reports_mid_log_damage_in_the_active_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress(
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
    flip_byte(&segs[0], payload_at(10, 1000) + 5);
    let (code, sum, err) = replay(&dir, &[]);
    assert_eq!(code, 1, "damage is not the end of the log: {sum} {err}");
    assert_eq!(sum["records"].as_u64(), Some(10), "{sum}");
    let (code, sum, err) = replay(&dir, &["--follow"]);
    assert_eq!(code, 1, "{sum} {err}");
}

/// Item 6: a damaged record in a sealed last segment: `verify` called it a torn tail
/// (exit 3) while `recover` refused (exit 1), and a writer's open buried it (it started
/// a new segment after it).
#[test]
fn item_6_a_damaged_record_in_a_sealed_last_segment_is_corruption_for_everyone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let (segs, _) = log_ending_sealed(&dir, 1200);
    let victim = segs.last().unwrap().clone();
    flip_byte(&victim, payload_at(3, 40) + 1);
    let before = std::fs::read(&victim).unwrap();
    let (code, v) = verify(&dir);
    assert_eq!((code, &v["class"]), (1, &"corruption".into()), "{v}");
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    let r = ringctl(&[
        "stress",
        "--log",
        &s(&dir),
        "--backend",
        "std",
        "--events",
        "10",
    ]);
    assert_ne!(
        r.code, 0,
        "a writer must not open over it: {}{}",
        r.out, r.err
    );
    assert_eq!(segment_files(&dir).len(), segs.len(), "no segment added");
    assert_eq!(std::fs::read(&victim).unwrap(), before, "nothing changed");
}

/// Item 7: `recover --force` destroyed intact data: after a footer bit flip it dropped
/// every later segment, a header bit flip dropped the whole segment, a stray empty
/// `.seg` between sealed segments deleted everything after it. Now nothing is deleted:
/// what can be rebuilt is (headers from footers and records, footers from records), a
/// damaged record becomes a recorded hole, and whatever is taken out of the log goes to
/// `quarantine/`.
#[test]
fn item_7_recover_force_keeps_every_intact_record() {
    let n = 3000u64;
    let setup = |name: &str| {
        let dir = tempfile::tempdir().unwrap().keep().join(name);
        stress(
            &dir,
            &[
                "--events",
                &n.to_string(),
                "--segment-bytes",
                "16384",
                "--payload-size",
                "40",
            ],
        );
        let segs = segment_files(&dir);
        assert!(segs.len() > 6);
        (dir, segs)
    };
    let check_whole = |dir: &Path, what: &str| {
        let (code, v) = verify(dir);
        assert_eq!(code, 0, "{what}: verify after recover --force: {v}");
        let (code, sum, err) = replay(dir, &[]);
        assert_eq!(code, 0, "{what}: {sum} {err}");
        assert_eq!(
            sum["records"].as_u64(),
            Some(n),
            "{what}: every record kept: {sum}"
        );
    };
    // A footer bit flip.
    let (dir, segs) = setup("footer");
    let len = std::fs::metadata(&segs[2]).unwrap().len();
    flip_byte(&segs[2], len - 100);
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    let r = ringctl(&["recover", &s(&dir), "--force", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    check_whole(&dir, "footer");
    // A header bit flip.
    let (dir, segs) = setup("header");
    flip_byte(&segs[3], 17);
    let r = ringctl(&["recover", &s(&dir), "--force", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    check_whole(&dir, "header");
    // A stray empty segment file between sealed segments.
    let (dir, segs) = setup("stray");
    let stray = dir.join(format!("{:020}.seg", base_of(&segs[3]) + 7));
    std::fs::write(&stray, b"").unwrap();
    let r = ringctl(&["recover", &s(&dir), "--force", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    check_whole(&dir, "stray");
    assert!(
        dir.join("quarantine").is_dir(),
        "the stray file is kept aside"
    );
    // A damaged record in the middle of a sealed segment: one hole, the rest stays.
    let (dir, segs) = setup("record");
    let base = base_of(&segs[2]);
    flip_byte(&segs[2], payload_at(4, 40) + 2);
    let r = ringctl(&["recover", &s(&dir), "--force", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(verify(&dir).0, 0);
    let (code, sum, err) = replay(&dir, &[]);
    assert_eq!(code, 0, "{sum} {err}");
    assert_eq!(
        sum["records"].as_u64(),
        Some(n - 1),
        "one record lost: {sum}"
    );
    assert_eq!(sum["lost"].as_u64(), Some(1), "{sum}");
    let r = ringctl(&[
        "replay",
        &s(&dir),
        "--json",
        "--from-seq",
        &(base + 3).to_string(),
        "--to-seq",
        &(base + 5).to_string(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(
        lines[1].contains(&format!(
            "{{\"type\":\"lost\",\"from\":{},\"to\":{}}}",
            base + 4,
            base + 4
        )),
        "{}",
        r.out
    );
    let r = ringctl(&["replay", &s(&dir), "--quarantine", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
}

/// Item 8: damaged entries of a sealed index were never rebuilt: `verify` stayed at
/// exit 1 until the `.idx` file was deleted by hand.
#[test]
fn item_8_a_damaged_sealed_index_is_repairable_and_recover_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress(
        &dir,
        &[
            "--events",
            "3000",
            "--segment-bytes",
            "65536",
            "--payload-size",
            "40",
        ],
    );
    let segs = segment_files(&dir);
    let idx = index_of(&segs[1]);
    let len = std::fs::metadata(&idx).unwrap().len();
    assert!(len > 32, "the index has entries");
    flip_byte(&idx, 32 + 9);
    let (code, v) = verify(&dir);
    assert_eq!((code, &v["class"]), (4, &"repairable".into()), "{v}");
    let r = ringctl(&["recover", &s(&dir), "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(last_json(&r.out)["found"], "repairable", "{}", r.out);
    assert_eq!(verify(&dir).0, 0);
}

/// Item 9: `--segment-bytes` had no upper bound (io_uring preallocated it: 1 TiB filled
/// the file system).
#[test]
fn item_9_segment_size_has_a_hard_limit_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    for size in ["1099511627776", "1073741825"] {
        let r = ringctl(&[
            "stress",
            "--log",
            &s(&dir),
            "--backend",
            "std",
            "--segment-bytes",
            size,
            "--events",
            "10",
        ]);
        assert_eq!(r.code, 2, "{size}: {}{}", r.out, r.err);
        assert!(r.err.contains("1073741824"), "{}", r.err);
    }
    stress(&dir, &["--segment-bytes", "1073741824", "--events", "10"]);
}

/// Item 10: an unreadable segment gave exit 1 (corruption) and a false gap instead of
/// exit 2; `eprintln!` panicked when stderr was closed.
#[test]
fn item_10_io_errors_exit_2_and_a_closed_stderr_is_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    stress(
        &dir,
        &[
            "--events",
            "2000",
            "--segment-bytes",
            "16384",
            "--payload-size",
            "40",
        ],
    );
    let segs = segment_files(&dir);
    // Unreadable: a directory where a segment file should be (reads fail with EISDIR,
    // whoever runs the test, root included).
    let victim = &segs[2];
    let saved = std::fs::read(victim).unwrap();
    std::fs::remove_file(victim).unwrap();
    std::fs::create_dir(victim).unwrap();
    let r = ringctl(&["verify", &s(&dir), "--json"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(!r.out.contains("sequence_gap"), "no false gap: {}", r.out);
    let (code, sum, err) = replay(&dir, &[]);
    assert_eq!(code, 2, "{sum} {err}");
    std::fs::remove_dir(victim).unwrap();
    std::fs::write(victim, &saved).unwrap();

    // Damage, so recover reports on stderr; stderr is a pipe nobody reads.
    flip_byte(&segs[1], payload_at(2, 40));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(["recover", &s(&dir)])
        .stdout(Stdio::null())
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no panic: {out:?}");
}

/// Item 10: `verify` on a live log (a writer holds the lock) reported the group in
/// flight as a torn tail (about 9% of runs with io_uring). The writer publishes its
/// durable point; `verify` checks up to it, says "live, checked to S", and calls
/// nothing past it torn.
#[test]
fn item_10_verify_on_a_live_log_checks_up_to_the_durable_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut writer = Command::new(BIN)
        .args([
            "stress",
            "--log",
            &s(&dir),
            "--seconds",
            "8",
            "--segment-bytes",
            "1048576",
            "--payload-size",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first durable line.
    let mut stdout = std::io::BufReader::new(writer.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("durable "), "{line}");
    let drain = std::thread::spawn(move || std::io::read_to_string(stdout));
    let mut live_seen = 0;
    for _ in 0..25 {
        let r = ringctl(&["verify", &s(&dir), "--json"]);
        let v = last_json(&r.out);
        if writer.try_wait().unwrap().is_some() {
            break;
        }
        assert_eq!(
            r.code, 0,
            "a live log verifies clean up to its durable point: {v}"
        );
        if v["live"]["durable_seq"].is_u64() {
            live_seen += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = writer.kill();
    let _ = writer.wait();
    let _ = drain.join();
    assert!(live_seen > 0, "verify said the log was live");
}
