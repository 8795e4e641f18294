//! Adversarial `ringctl` runs: `verify --expect-digest` with values that only look like
//! digests or name sequences the log does not hold, `verify --isolated` of a directory
//! that is not a log, and `replay --merge-live` into a live directory holding another log.

use std::path::Path;

use storage_std::format::chain::to_hex;
use storage_std::{Durability, Writer, WriterOptions};
use test_support::cli::{Run, run};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn ringctl(args: &[&str]) -> Run {
    run(BIN, args)
}

fn log(dir: &Path, n: u64, salt: u8) -> (u64, [u8; 32]) {
    let o = WriterOptions::new(Durability::Sync)
        .with_segment_bytes(4096)
        .with_digest_chain(true);
    let w: Writer = Writer::open(dir, o).unwrap();
    for s in 0..n {
        w.append(&[salt ^ s as u8; 60]).unwrap();
    }
    w.sync().unwrap();
    let c = w.stats().chain.unwrap();
    w.close().unwrap();
    c
}

/// Before the fix `+a` x 32 was taken as the digest `0a0a..0a` (exit 1 "does not
/// match", not a usage error); odd lengths, a missing or negative sequence are usage
/// errors; a sequence past the end or `u64::MAX` never matches.
#[test]
fn adv_expect_digest_values() {
    let d = tempfile::tempdir().unwrap();
    let (last, digest) = log(d.path(), 300, 0);
    let dir = d.path().to_str().unwrap();
    let hex = to_hex(&digest);
    let plus = "+a".repeat(32);
    let odd = "a".repeat(63);
    let trailing = format!("{hex}@");
    let negative = format!("{hex}@-1");
    let spaced = format!("{} {}", &hex[..32], &hex[33..]);
    for bad in [&plus, &odd, &trailing, &negative, &spaced] {
        let r = ringctl(&["verify", "--expect-digest", bad, dir]);
        assert_eq!(r.code, 2, "{bad:?}: {}{}", r.out, r.err);
    }
    for seq in [last + 1, u64::MAX] {
        let at = format!("{hex}@{seq}");
        let r = ringctl(&["verify", "--expect-digest", &at, dir]);
        assert_eq!(r.code, 1, "{at}: {}{}", r.out, r.err);
    }
    let r = ringctl(&["verify", "--expect-digest", &format!("{hex}@{last}"), dir]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
}

/// `verify --isolated` of a directory of garbage is not a clean verdict.
#[test]
fn adv_isolated_verify_of_garbage() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("00000000000000000000.seg"), b"garbage").unwrap();
    let r = ringctl(&["verify", "--isolated", d.path().to_str().unwrap()]);
    assert_ne!(r.code, 0, "{}{}", r.out, r.err);
}

/// A live directory holding another log numbered alike: the merge stops at the
/// hand-over with a clear error instead of splicing the two (it printed 10 records and
/// exited 0 before the fix).
#[test]
fn adv_merge_live_into_another_log() {
    let (a, l) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    log(a.path(), 5, 1);
    log(l.path(), 10, 2);
    let r = ringctl(&[
        "replay",
        a.path().to_str().unwrap(),
        "--merge-live",
        l.path().to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        r.err.contains("not the recording's continuation"),
        "{}",
        r.err
    );
}
