//! Adversarial checks of `verify_isolated`: absurd limits and odd paths.

use std::ffi::OsString;
use std::time::Duration;

use storage_std::{
    Durability, IsolatedOutcome, IsolationLimits, VERIFY_CHILD_ENV, VerifyStatus, Writer,
    WriterOptions, verify_isolated,
};

/// The child entry (this test binary with the env var set); a plain run returns.
#[test]
fn adv_child_entry() {
    storage_std::run_verify_child_if_requested();
}

fn child_limits(time: Duration, memory_bytes: Option<u64>) -> IsolationLimits {
    IsolationLimits::default()
        .with_time(time)
        .with_memory_bytes(memory_bytes)
        .with_program(Some(std::env::current_exe().unwrap()))
        .with_args(vec![
            OsString::from("adv_child_entry"),
            OsString::from("--exact"),
            OsString::from("--test-threads=1"),
        ])
}

fn small_log(dir: &std::path::Path) {
    let w: Writer = Writer::open(dir, WriterOptions::new(Durability::Sync)).unwrap();
    for i in 0..50u32 {
        w.append(&i.to_le_bytes()).unwrap();
    }
    w.close().unwrap();
}

/// A time limit as large as `Duration` goes means "no wall-clock limit", not a panic
/// in the parent (which left the spawned child running, never waited for). Before the
/// fix: `started + limits.time` panicked with "overflow when adding duration to instant".
#[test]
#[cfg_attr(miri, ignore)]
fn adv_time_limit_max_does_not_panic() {
    let _ = VERIFY_CHILD_ENV;
    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path());
    for time in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        let r = verify_isolated(dir.path(), &child_limits(time, Some(u64::MAX))).unwrap();
        match r.outcome {
            IsolatedOutcome::Verified { report } => assert_eq!(report.status, VerifyStatus::Clean),
            other => panic!("{other:?}"),
        }
    }
}

/// A zero time limit kills the child (or it was too quick): never a panic or a hang.
#[test]
#[cfg_attr(miri, ignore)]
fn adv_zero_limits_are_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path());
    let r = verify_isolated(dir.path(), &child_limits(Duration::ZERO, None)).unwrap();
    assert!(
        matches!(
            r.outcome,
            IsolatedOutcome::TimedOut { limit_ms: 0 } | IsolatedOutcome::Verified { .. }
        ),
        "{:?}",
        r.outcome
    );
    let r = verify_isolated(dir.path(), &child_limits(Duration::from_secs(60), Some(0))).unwrap();
    assert!(
        !matches!(r.outcome, IsolatedOutcome::Verified { .. }),
        "a zero address space verified: {:?}",
        r.outcome
    );
}

/// A directory whose name holds a newline reaches the child whole; a directory that is
/// not a log is a report or an error, never a clean verdict of a log.
#[test]
#[cfg_attr(miri, ignore)]
fn adv_newline_path_and_not_a_log() {
    let root = tempfile::tempdir().unwrap();
    let odd = root.path().join("a\nb");
    std::fs::create_dir(&odd).unwrap();
    small_log(&odd);
    let r = verify_isolated(&odd, &child_limits(Duration::from_secs(60), None)).unwrap();
    match r.outcome {
        IsolatedOutcome::Verified { report } => {
            assert_eq!(report.status, VerifyStatus::Clean);
            assert_eq!(report.records, 50);
        }
        other => panic!("{other:?}"),
    }
    let not_log = root.path().join("junk");
    std::fs::create_dir(&not_log).unwrap();
    std::fs::write(not_log.join("hello.txt"), b"not a segment").unwrap();
    std::fs::write(not_log.join("00000000000000000000.seg"), b"garbage").unwrap();
    let r = verify_isolated(&not_log, &child_limits(Duration::from_secs(60), None)).unwrap();
    match r.outcome {
        IsolatedOutcome::Verified { report } => {
            assert_ne!(report.status, VerifyStatus::Clean, "{report:?}")
        }
        IsolatedOutcome::VerifyFailed { .. } => {}
        other => panic!("{other:?}"),
    }
}

/// A huge (sparse) chain-front file is a finding, not a read of the whole file into
/// memory. Before the fix the verifier read all of it (`Backend::read_all`): under a
/// 1 GiB limit the child ran out of memory on a 4 GiB file.
#[test]
#[cfg_attr(miri, ignore)]
fn adv_huge_chain_front_is_a_finding_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let o = WriterOptions::new(Durability::Sync).with_digest_chain(true);
    let w: Writer = Writer::open(dir.path(), o).unwrap();
    w.append(b"one").unwrap();
    w.close().unwrap();
    let front =
        std::fs::File::create(dir.path().join(storage_std::format::CHAIN_FRONT_FILE)).unwrap();
    front.set_len(4 << 30).unwrap();
    drop(front);
    let r = verify_isolated(
        dir.path(),
        &child_limits(Duration::from_secs(120), Some(1 << 30)),
    )
    .unwrap();
    match r.outcome {
        IsolatedOutcome::Verified { report } => {
            assert_eq!(
                report.status,
                VerifyStatus::Corrupt,
                "{:#?}",
                report.findings
            )
        }
        other => panic!("{other:?}"),
    }
}

/// The variable set by anyone but the spawning parent (exported in a shell, say) does
/// not turn a program into a verify child: it runs as itself and never reads stdin as
/// a request. Before the fix any value did: this binary printed a report of the log
/// named on stdin instead of running its tests.
#[test]
#[cfg_attr(miri, ignore)]
fn adv_a_stray_child_variable_is_ignored() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    small_log(dir.path());
    for value in ["1", "0", &u32::MAX.to_string()] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["adv_child_entry", "--exact", "--test-threads=1"])
            .env(VERIFY_CHILD_ENV, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The child may exit before reading: a broken pipe is fine.
        let _ = stdin.write_all(dir.path().as_os_str().as_encoded_bytes());
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value}: {out:?}");
        assert!(
            !stdout.contains(storage_std::REPORT_MARKER),
            "{value}: acted as a verify child: {stdout}"
        );
        assert!(stdout.contains("1 passed"), "{value}: {stdout}");
    }
}
