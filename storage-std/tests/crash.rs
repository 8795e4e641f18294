//! Simulated power cuts at every backend step of a run that crosses segment rolls.
//!
//! Each scenario starts from the same log (a seeded prefix), opens a writer on a fork of
//! it with the power set to fail at step `k`, appends until the writer stops, cuts the
//! power (dropping, keeping, or tearing what was not synced), reopens, and checks:
//!
//! * every sequence at or below the highest durable watermark the run saw is present
//!   and intact, and so is the seeded prefix;
//! * the log is one contiguous run of intact records: nothing after a gap is kept;
//! * the reopened log verifies clean and appending resumes at the next sequence.
//!
//! The steps include the write and the sync of each group separately, every file
//! creation and directory sync, the index writes, and the footer write (a cut on a write
//! step applies half of it: a torn record or a torn footer).

mod common;

use std::sync::Arc;

use common::*;
use storage_std::backend::{Backend, CrashMode, MemBackend};

use storage_std::{Durability, VerifyStatus, Writer, verify};

type W = Writer<8192>;

const SEED: u64 = 30;
const RUN: u64 = 150;

/// How a scenario sees its memory backend: directly, or through segment recycling with
/// retention (so new segments reuse old files, old records and all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Plain,
    Recycled,
}

fn backend(m: &MemBackend, setup: Setup) -> Arc<dyn Backend> {
    match setup {
        Setup::Plain => Arc::new(m.clone()),
        Setup::Recycled => Arc::new(Recycling(m.clone())),
    }
}

fn opts(d: Durability, setup: Setup) -> storage_std::WriterOptions {
    let mut o = small_opts(d);
    if setup == Setup::Recycled {
        o = o.with_retention(storage_std::RetentionPolicy::default().with_max_segments(Some(2)));
    }
    o
}

fn seeded(d: Durability, setup: Setup) -> MemBackend {
    seeded_log::<8192>(|m| backend(m, setup), opts(d, setup), SEED)
}

/// Runs the workload until it ends or the power fails; returns the highest durable
/// watermark the writer reported.
fn workload(m: &MemBackend, d: Durability, setup: Setup) -> Option<u64> {
    cut_workload::<8192>(backend(m, setup), opts(d, setup), SEED, RUN)
}

fn check_after_cut(m: &MemBackend, setup: Setup, reported: Option<u64>, what: &str) {
    let b = backend(m, setup);
    let w = match W::open_with(b.clone(), opts(small_group(), setup)) {
        Ok(w) => w,
        Err(e) => panic!("{what}: reopen failed: {e}\n{:#?}", m.trace()),
    };
    let next = w.next_seq();
    w.close().unwrap();
    let seqs = read_all_checked(&b);
    let first = match setup {
        Setup::Plain => 0,
        Setup::Recycled => seqs.first().copied().unwrap_or(next),
    };
    assert_eq!(seqs.first().copied().unwrap_or(next), first, "{what}");
    assert_eq!(
        seqs.len() as u64,
        next - first,
        "{what}: contiguous up to {next}"
    );
    if let Some(r) = reported {
        assert!(
            next > r,
            "{what}: durable watermark {r} was reported but the log ends at {next}"
        );
    }
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{what}: {:#?}", v.findings);
    // Appending resumes at the next sequence.
    let w = W::open_with(b.clone(), opts(small_group(), setup)).unwrap();
    assert_eq!(w.append_with(&payload(next), meta(next)).unwrap(), next);
    w.close().unwrap();
    assert_eq!(read_all_checked(&b).last().copied(), Some(next), "{what}");
}

fn sweep(d: Durability, setup: Setup, modes: &[fn(u64) -> CrashMode]) {
    let seed = seeded(d, setup);
    // An uncut run counts the steps.
    let probe = seed.fork();
    workload(&probe, d, setup);
    let total = probe.steps();
    assert!(total > 40, "too few steps to be interesting: {total}");
    let segs = probe
        .list()
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .count();
    assert!(
        segs >= 3,
        "the run must cross segment rolls: {segs} segments"
    );
    let mut cut_seen = 0;
    for k in 0..total + 2 {
        for (mi, mode) in modes.iter().enumerate() {
            let m = seed.fork();
            m.set_tracing(true);
            m.set_crash_at(Some(k));
            let reported = workload(&m, d, setup);
            if m.is_crashed() {
                cut_seen += 1;
            }
            let mode = mode(k);
            m.power_cut(mode);
            check_after_cut(
                &m,
                setup,
                reported,
                &format!("{d:?} {setup:?} cut at step {k} ({mi}: {mode:?})"),
            );
        }
    }
    assert!(cut_seen as u64 >= total * modes.len() as u64 / 2);
}

const ALL_MODES: [fn(u64) -> CrashMode; 3] = [
    |_| CrashMode::DropUnsynced,
    |_| CrashMode::KeepUnsynced,
    |k| CrashMode::TornPages { seed: k * 7 + 1 },
];

#[test]
fn power_cut_at_every_step_sync_mode() {
    sweep(Durability::Sync, Setup::Plain, &ALL_MODES);
}

#[test]
fn power_cut_at_every_step_group_mode() {
    sweep(small_group(), Setup::Plain, &ALL_MODES);
}

#[test]
fn power_cut_at_every_step_none_mode() {
    sweep(Durability::None, Setup::Plain, &ALL_MODES);
}

#[test]
fn power_cut_at_every_step_with_recycled_segment_files() {
    sweep(small_group(), Setup::Recycled, &ALL_MODES);
}

#[test]
fn recovery_itself_survives_power_cuts() {
    // A log with a torn tail: recovery's own truncate, syncs, index rewrite and new
    // segment creation are cut at every step.
    let seed = seeded(small_group(), Setup::Plain);
    {
        let b: Arc<dyn Backend> = Arc::new(seed.clone());
        let w = W::open_with(b, small_opts(small_group())).unwrap();
        for s in SEED..SEED + 40 {
            w.append_with(&payload(s), meta(s)).unwrap();
        }
        w.close().unwrap();
    }
    // Tear the active segment's end.
    let names = seed.file_bytes("x").map(|_| ()).map_or_else(
        || {
            let b: Arc<dyn Backend> = Arc::new(seed.clone());
            b.list().unwrap()
        },
        |_| vec![],
    );
    let last = names
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .max()
        .unwrap()
        .clone();
    let mut bytes = seed.file_bytes(&last).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0xff;
    seed.put_file(&last, bytes);
    let probe = seed.fork();
    check_after_cut(&probe, Setup::Plain, None, "probe");
    for k in 0..40 {
        let m = seed.fork();
        m.set_crash_at(Some(k));
        let b: Arc<dyn Backend> = Arc::new(m.clone());
        let _ = W::open_with(b, small_opts(small_group())).map(|w| w.close());
        m.power_cut(CrashMode::DropUnsynced);
        check_after_cut(
            &m,
            Setup::Plain,
            Some(SEED - 1),
            &format!("recovery cut at step {k}"),
        );
    }
}
