//! The kill -9 crash test: `ringctl stress --log` in a child process, killed with
//! SIGKILL at random moments, the log reopened and checked each time.
//!
//! Each iteration starts `ringctl stress --log DIR --seconds 30` (durability `group`
//! mostly, some `sync` and some `none`; small segments so that they roll; a random
//! payload size; a quarter of the runs with pre-written spare segment files,
//! `--backend std --spares 2`), reads the `durable S` lines it prints, kills it after a random delay
//! (2 to 150 ms: some kills land before the log is even open, most while it writes,
//! some during segment rolls), and then asserts through the binary:
//!
//! * `ringctl verify` exits 0 or 3 (clean, or only a torn tail) — never corruption;
//! * `ringctl recover` (when verify saw a torn tail, and every few iterations anyway)
//!   cuts only sequences above every one that had been reported durable;
//! * every sequence that had been reported durable is present and intact, and the log
//!   is contiguous from 0 (verify checks every CRC and the continuity; `replay --check`
//!   checks the payload pattern of the new records each time and of the whole log
//!   every few iterations): nothing after a gap was kept;
//! * the next run appends at the next sequence: its `durable S` lines are all at or
//!   above the sequence recovery left, and a clean run at the end of each directory's
//!   series starts exactly there.
//!
//! One directory is reused for several iterations, so the log grows and each restart
//! continues it (and recovers whatever the previous kill left); then a fresh directory
//! starts. `RINGCTL_KILL9_ITERATIONS` sets the number of kills (default 200),
//! `RINGCTL_KILL9_SEED` the random seed (printed, to reproduce a failure).
//!
//! CAVEAT: kill -9 ends the process but leaves the kernel's page cache intact, so what
//! the writer had handed to the kernel survives even if it was never synced. This test
//! proves recovery from *process death* (a crash in the middle of a write, a roll or a
//! segment creation), not from power loss: storage-std's in-memory backend tests cut
//! the power at every backend call and drop everything unsynced, which is what proves
//! the durability of acknowledged records.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::Rng;
use test_support::cli::{Run, env_u64, run_within};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

/// Runs `ringctl args` to completion; a command that hangs fails the test (after 60 s)
/// instead of hanging it.
fn ringctl(args: &[&str]) -> Run {
    run_within(BIN, args, Duration::from_secs(60))
}

fn last_json(r: &Run, what: &str) -> serde_json::Value {
    let line = r.out.lines().last().unwrap_or("");
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}\nstderr: {}", r.out, r.err))
}

/// What one killed run printed.
struct Killed {
    durable: Vec<u64>,
    stderr: String,
}

/// Starts a stress run that would go on for 30 s, kills it with SIGKILL after `delay`.
fn run_and_kill(
    dir: &Path,
    durability: &str,
    segment: u64,
    payload: u64,
    delay: Duration,
    spares: bool,
) -> Killed {
    let spare_args: &[&str] = if spares {
        &["--backend", "std", "--spares", "2"]
    } else {
        &[]
    };
    let mut child = Command::new(BIN)
        .args([
            "stress",
            "--log",
            dir.to_str().unwrap(),
            "--durability",
            durability,
            "--segment-bytes",
            &segment.to_string(),
            "--payload-size",
            &payload.to_string(),
            "--seconds",
            "30",
        ])
        .args(spare_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringctl stress");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut v = Vec::new();
        for l in BufReader::new(stdout).lines() {
            let l = l.expect("read stdout");
            let s = l
                .strip_prefix("durable ")
                .unwrap_or_else(|| panic!("unexpected line while running: {l}"));
            v.push(s.parse::<u64>().expect("durable S"));
        }
        v
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    std::thread::sleep(delay);
    let early = child.try_wait().expect("try_wait");
    // Child::kill sends SIGKILL on Unix.
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let durable = lines.join().expect("stdout reader");
    let stderr = errs.join().expect("stderr reader");
    assert!(
        early.is_none(),
        "the stress run ended by itself ({early:?}) before the kill: {stderr}"
    );
    assert_eq!(status.signal(), Some(9), "{status:?}: {stderr}");
    Killed { durable, stderr }
}

/// Tally of what the kills left.
#[derive(Debug, Default)]
struct Tally {
    iterations: u64,
    clean: u64,
    torn: u64,
    recovered_cuts: u64,
    before_open: u64,
    durable_reports: u64,
    dirs: u64,
    full_checks: u64,
}

/// `replay --check` of `from..next`; asserts it is exactly that range.
fn replay_check(dir: &str, from: u64, next: u64, ctx: &str) {
    let r = ringctl(&[
        "replay",
        dir,
        "--check",
        "--quiet",
        "--json",
        "--from-seq",
        &from.to_string(),
    ]);
    assert_eq!(
        r.code, 0,
        "{ctx}: replay --check from {from}: {}\n{}",
        r.out, r.err
    );
    let v = last_json(&r, "replay");
    assert_eq!(v["records"], next - from, "{ctx}: replay from {from}: {v}");
    if next > from {
        assert_eq!(v["first_seq"], from, "{ctx}: {v}");
        assert_eq!(v["last_seq"], next - 1, "{ctx}: {v}");
    }
}

/// A clean run at the end of a directory's series: it must continue at `next`.
fn finish_dir(dir: &str, next: u64, ctx: &str) -> u64 {
    let r = ringctl(&["stress", "--log", dir, "--events", "300", "--json"]);
    assert_eq!(r.code, 0, "{ctx}: final run: {}\n{}", r.out, r.err);
    let v = last_json(&r, "final stress");
    assert_eq!(
        v["first_seq"], next,
        "{ctx}: appends resume at the next sequence: {v}"
    );
    assert_eq!(v["durable_seq"], next + 299, "{ctx}: {v}");
    assert_eq!(v["verified"], 300);
    let end = next + 300;
    let r = ringctl(&["verify", dir, "--json"]);
    assert_eq!(r.code, 0, "{ctx}: verify after the final run: {}", r.out);
    replay_check(dir, 0, end, ctx);
    end
}

#[test]
fn kill_minus_9_at_random_moments_loses_nothing_durable() {
    let iterations = env_u64("RINGCTL_KILL9_ITERATIONS").unwrap_or(200);
    let seed = env_u64("RINGCTL_KILL9_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!(
        "kill9: {iterations} iterations, seed {seed} (RINGCTL_KILL9_SEED={seed} reproduces the choices)"
    );
    let mut rng = Rng::new(seed);
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut t = Tally::default();

    let mut dir_no = 0u64;
    let mut dir = root.path().join("log-0");
    let mut left_in_dir = rng.range(5, 12);
    // One past the last sequence the log held after the previous recovery.
    let mut next = 0u64;
    t.dirs = 1;

    for i in 0..iterations {
        let d = dir.to_str().unwrap().to_owned();
        let durability = match rng.range(0, 9) {
            0 | 1 => "sync",
            2 => "none",
            _ => "group",
        };
        let segment = [16u64 << 10, 64 << 10, 256 << 10, 1 << 20][rng.range(0, 3) as usize];
        let payload = rng.range(8, 96);
        let delay = Duration::from_millis(rng.range(2, 150));
        // Some runs keep pre-written spare segment files (kills land mid-preparation,
        // mid-take); the next open removes what a kill left half done.
        let spares = rng.below(4) == 0;
        let ctx = format!(
            "iteration {i} (dir {dir_no}, {durability}, segment {segment}, payload {payload}, \
             kill after {delay:?}, spares {spares}, seed {seed})"
        );
        let k = run_and_kill(&dir, durability, segment, payload, delay, spares);
        let ctx = format!("{ctx}\nstress stderr: {}", k.stderr);
        t.iterations += 1;
        t.durable_reports += k.durable.len() as u64;
        for w in k.durable.windows(2) {
            assert!(
                w[0] < w[1],
                "{ctx}: durable lines not increasing: {:?}",
                k.durable
            );
        }
        // The run continued the log: whatever it reports durable is new.
        if let Some(&first) = k.durable.first() {
            assert!(
                first >= next,
                "{ctx}: reported durable {first} but the log already held up to {next}"
            );
        }
        let max_durable = k.durable.last().copied();

        let empty = dir.exists() && std::fs::read_dir(&dir).unwrap().next().is_none();
        if !dir.exists() || empty {
            // Killed before it created the directory, or its first file (an empty
            // directory is not a log to verify).
            assert!(max_durable.is_none(), "{ctx}");
            t.before_open += 1;
            continue;
        }
        let r = ringctl(&["verify", &d, "--json"]);
        let v = last_json(&r, "verify");
        assert!(
            r.code == 0 || r.code == 3,
            "{ctx}: verify exit {} after kill -9 (only clean or a torn tail allowed): {v}",
            r.code
        );
        let torn = r.code == 3;
        if torn {
            t.torn += 1;
        } else {
            t.clean += 1;
        }
        let mut report = v;
        if torn || i % 5 == 0 {
            let r = ringctl(&["recover", &d, "--json"]);
            assert_eq!(r.code, 0, "{ctx}: recover: {}\n{}", r.out, r.err);
            let rec = last_json(&r, "recover");
            for c in rec["cuts"].as_array().unwrap() {
                t.recovered_cuts += 1;
                assert_eq!(c["kind"], "torn_tail", "{ctx}: {rec}");
                if let (Some(lost), Some(md)) = (c["lost"]["first"].as_u64(), max_durable) {
                    assert!(
                        lost > md,
                        "{ctx}: recovery cut durable sequence {lost} (durable up to {md}): {rec}"
                    );
                }
            }
            if !torn {
                assert!(rec["cuts"].as_array().unwrap().is_empty(), "{ctx}: {rec}");
            }
            let r = ringctl(&["verify", &d, "--json"]);
            assert_eq!(r.code, 0, "{ctx}: verify after recover: {}", r.out);
            report = last_json(&r, "verify");
            assert_eq!(
                report["last_seq"].as_u64().map_or(0, |l| l + 1),
                rec["next_seq"].as_u64().unwrap(),
                "{ctx}"
            );
        }
        // Contiguous from 0: as many good records as sequences up to the last.
        let end = report["last_seq"].as_u64().map_or(0, |l| l + 1);
        if end > 0 {
            assert_eq!(report["first_seq"], 0, "{ctx}: {report}");
        }
        assert_eq!(report["records"], end, "{ctx}: a gap: {report}");
        if let Some(md) = max_durable {
            assert!(
                md < end,
                "{ctx}: durable {md} reported, the log ends before it ({end})"
            );
        }
        // kill -9 keeps the page cache: nothing the log held before can be gone.
        assert!(end >= next, "{ctx}: the log shrank from {next} to {end}");
        left_in_dir -= 1;
        let full = left_in_dir == 0 || i % 10 == 9;
        if full {
            t.full_checks += 1;
        }
        replay_check(&d, if full { 0 } else { next }, end, &ctx);
        next = end;

        if left_in_dir == 0 {
            finish_dir(&d, next, &ctx);
            std::fs::remove_dir_all(&dir).unwrap();
            dir_no += 1;
            t.dirs += 1;
            dir = root.path().join(format!("log-{dir_no}"));
            left_in_dir = rng.range(5, 12);
            next = 0;
        }
    }
    if dir.exists() {
        finish_dir(dir.to_str().unwrap(), next, "last directory");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "kill9: {} iterations in {secs:.1} s over {} directories: {} clean, {} torn tails \
         ({} recovery cuts), {} killed before creating the log, {} durable reports, {} full replays",
        t.iterations,
        t.dirs,
        t.clean,
        t.torn,
        t.recovered_cuts,
        t.before_open,
        t.durable_reports,
        t.full_checks
    );
    assert_eq!(t.iterations, iterations);
}
