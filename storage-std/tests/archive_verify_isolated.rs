//! `verify_isolated`: the verifier in a child process. A normal log verifies the same
//! as in process; a child that crashes, takes SIGBUS, runs out of memory, prints no
//! report or hangs is a typed outcome, and a hung child is killed at the time limit.
//!
//! The child is this test binary, running only `isolated_child_entry`; the misbehaviours
//! are chosen by a `knob=...` argument that this file's entry reads (the library has no
//! test knob): libtest takes it as one more name filter, which matches no test.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use storage_std::{
    Durability, IsolatedOutcome, IsolationLimits, VERIFY_CHILD_ENV, VerifyStatus, Writer,
    WriterOptions, verify_dir, verify_isolated,
};

/// The entry of the child processes the tests below spawn (the test binary itself,
/// with [`VERIFY_CHILD_ENV`] set). Run as a plain test, the library's entry returns.
#[test]
fn isolated_child_entry() {
    if std::env::var_os(VERIFY_CHILD_ENV).is_some() {
        let knob = std::env::args().find_map(|a| a.strip_prefix("knob=").map(str::to_owned));
        match knob.as_deref() {
            None => {}
            Some("abort") => std::process::abort(),
            Some("panic") => panic!("the verifier panicked (test knob)"),
            Some("silent") => std::process::exit(0),
            Some("oom") => {
                // Far past the limit the test sets: the allocation is refused.
                let v = Vec::<u8>::with_capacity(8 << 30);
                std::hint::black_box(v);
            }
            Some("sleep") => {
                let pid_file = std::env::args()
                    .find_map(|a| a.strip_prefix("pidfile=").map(str::to_owned))
                    .expect("pidfile");
                std::fs::write(pid_file, std::process::id().to_string()).unwrap();
                std::thread::sleep(Duration::from_secs(600));
            }
            Some("sigbus") => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("shrinks");
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .unwrap();
                file.set_len(1 << 20).unwrap();
                // SAFETY: the file is truncated under the map below on purpose; the read
                // past its new end raises SIGBUS, which ends this child process before
                // the byte is used (what the parent must survive).
                let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
                file.set_len(0).unwrap();
                std::hint::black_box(map[512 << 10]);
                unreachable!("a read past the end of a mapped file raises SIGBUS");
            }
            Some(other) => panic!("unknown knob {other}"),
        }
    }
    storage_std::run_verify_child_if_requested();
    assert!(
        std::env::var_os(VERIFY_CHILD_ENV).is_none(),
        "a child exits in the call above"
    );
}

fn limits(knob: Option<&str>, extra: &[String]) -> IsolationLimits {
    let mut args: Vec<OsString> = ["isolated_child_entry", "--exact", "--nocapture"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push("--test-threads=1".into());
    if let Some(k) = knob {
        args.push(format!("knob={k}").into());
    }
    args.extend(extra.iter().map(OsString::from));
    IsolationLimits::default()
        .with_time(Duration::from_secs(60))
        .with_memory_bytes(None)
        .with_program(Some(std::env::current_exe().unwrap()))
        .with_args(args)
}

fn a_log(records: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(64 << 10);
    let w: Writer = Writer::open(dir.path(), o).unwrap();
    for i in 0..records {
        w.append(&i.to_le_bytes().repeat(8)).unwrap();
    }
    w.close().unwrap();
    dir
}

#[test]
fn a_log_verifies_the_same_isolated_as_in_process() {
    let dir = a_log(5000);
    let mut lim = limits(None, &[]);
    lim.memory_bytes = Some(4 << 30);
    let isolated = verify_isolated(dir.path(), &lim).unwrap();
    let in_process = verify_dir(dir.path()).unwrap();
    assert_eq!(in_process.status, VerifyStatus::Clean);
    assert!(in_process.segments.len() > 1);
    assert_eq!(isolated.report(), Some(&in_process));

    // A damaged log: the same findings, in the report, not as a child's death.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&seg, bytes).unwrap();
    let isolated = verify_isolated(dir.path(), &lim).unwrap();
    let in_process = verify_dir(dir.path()).unwrap();
    assert_eq!(in_process.status, VerifyStatus::Corrupt);
    assert_eq!(isolated.report(), Some(&in_process));

    // The outcome round-trips through JSON (what `ringctl verify --isolated` prints).
    let json = serde_json::to_string(&isolated).unwrap();
    let back: storage_std::IsolatedVerify = serde_json::from_str(&json).unwrap();
    assert_eq!(back, isolated);
}

#[test]
fn a_verifier_error_is_reported_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-log");
    let out = verify_isolated(&missing, &limits(None, &[])).unwrap();
    match out.outcome {
        IsolatedOutcome::VerifyFailed { error } => {
            assert!(error.contains("no-such-log"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn crashes_become_typed_outcomes() {
    let dir = a_log(10);
    let abort = verify_isolated(dir.path(), &limits(Some("abort"), &[])).unwrap();
    assert!(
        matches!(
            abort.outcome,
            IsolatedOutcome::Crashed {
                signal: Some(6),
                exit_code: None,
                ..
            }
        ),
        "{:?}",
        abort.outcome
    );
    let panic = verify_isolated(dir.path(), &limits(Some("panic"), &[])).unwrap();
    match panic.outcome {
        IsolatedOutcome::Crashed {
            signal: None,
            exit_code: Some(101),
            detail,
        } => assert!(detail.contains("test knob"), "{detail}"),
        other => panic!("{other:?}"),
    }
    let silent = verify_isolated(dir.path(), &limits(Some("silent"), &[])).unwrap();
    assert!(
        matches!(silent.outcome, IsolatedOutcome::BadOutput { .. }),
        "{:?}",
        silent.outcome
    );
}

#[test]
fn sigbus_becomes_a_bus_error() {
    let dir = a_log(10);
    let out = verify_isolated(dir.path(), &limits(Some("sigbus"), &[])).unwrap();
    assert!(
        matches!(out.outcome, IsolatedOutcome::BusError { .. }),
        "{:?}",
        out.outcome
    );
}

#[test]
fn an_allocation_past_the_memory_limit_is_out_of_memory() {
    let dir = a_log(10);
    let mut lim = limits(Some("oom"), &[]);
    lim.memory_bytes = Some(2 << 30);
    let out = verify_isolated(dir.path(), &lim).unwrap();
    match out.outcome {
        IsolatedOutcome::OutOfMemory {
            limit_bytes: Some(l),
            detail,
        } => {
            assert_eq!(l, 2 << 30);
            assert!(detail.contains("memory allocation of"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hung_child_is_killed_at_the_time_limit() {
    let dir = a_log(10);
    let pid_file = dir.path().join("child.pid");
    let mut lim = limits(Some("sleep"), &[format!("pidfile={}", pid_file.display())]);
    lim.time = Duration::from_millis(1500);
    let started = Instant::now();
    let out = verify_isolated(dir.path(), &lim).unwrap();
    let took = started.elapsed();
    assert_eq!(out.outcome, IsolatedOutcome::TimedOut { limit_ms: 1500 });
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    assert!(
        took < Duration::from_secs(30),
        "killed, not waited for: {took:?}"
    );
    // The child reached its sleep, and it is gone (killed and reaped).
    let pid = std::fs::read_to_string(&pid_file).expect("the child started");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} still exists"
    );
}

#[test]
fn a_missing_program_is_an_error_not_an_outcome() {
    let dir = a_log(1);
    let lim = IsolationLimits::default().with_program(Some(dir.path().join("no-such-program")));
    let err = verify_isolated(dir.path(), &lim).unwrap_err();
    assert!(err.to_string().contains("no-such-program"), "{err}");
}
