//! A writer killed with SIGKILL mid-run leaves a log whose digest chain verifies to its
//! last durable record: the child (this test binary, re-run with
//! `RINGLOG_CHAIN_CHILD=DIR`) appends, syncs and prints `durable SEQ HEX` from
//! `WriterStats::chain` after each sync; the parent kills it at a random moment and
//! checks the log against the last line it read, before and after recovery, several
//! times on one growing log (each run continues the chain the killed one left).
//!
//! As in ringctl's kill -9 test, the page cache survives the kill: this proves process
//! death, not power loss.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use storage_std::format::chain::{parse_hex, to_hex};
use storage_std::{
    Durability, ExpectDigest, VerifyOptions, VerifyStatus, Writer, WriterOptions, verify_dir,
    verify_dir_with,
};

const CHILD_ENV: &str = "RINGLOG_CHAIN_CHILD";

fn opts() -> WriterOptions {
    let mut o = WriterOptions::new(Durability::Group {
        max_bytes: 16 << 10,
        max_delay: Duration::ZERO,
    });
    o = o.with_segment_bytes(64 << 10);
    o = o.with_stall_timeout(None);
    o
}

/// The child's body (returns at once unless started by the parent below).
#[test]
fn chain_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let w: Writer = Writer::open(&dir, opts()).unwrap();
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    loop {
        for _ in 0..50 {
            let len = 16 + (n % 13) as usize * 8;
            w.append(&vec![(n % 251) as u8; len]).unwrap();
            n += 1;
        }
        w.sync().unwrap();
        if let Some((seq, d)) = w.stats().chain {
            writeln!(out, "durable {seq} {}", to_hex(&d)).unwrap();
            out.flush().unwrap();
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_writer_leaves_a_chain_that_verifies_to_its_last_durable_record() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut checked = 0;
    for (i, delay_ms) in [40u64, 90, 15, 150, 60, 120].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "chain_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("durable ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Wait for at least one durable point, then kill mid-run.
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let last = rx.try_iter().last().unwrap_or(first);
        let (seq, hex) = last.split_once(' ').unwrap();
        let expect = ExpectDigest {
            digest: parse_hex(hex).unwrap(),
            seq: Some(seq.parse().unwrap()),
        };
        let o = VerifyOptions::default().with_expect(Some(expect));
        let r = verify_dir_with(dir.path(), &o).unwrap();
        assert!(
            matches!(r.status, VerifyStatus::Clean | VerifyStatus::TornTail),
            "run {i}: {:#?}",
            r.findings
        );
        assert_eq!(
            r.chain.expected_matched,
            Some(true),
            "run {i}: {:#?}",
            r.findings
        );
        // Recovery keeps every durable record, so the digest still holds after it.
        Writer::<4096>::open(dir.path(), opts())
            .unwrap()
            .close()
            .unwrap();
        let r = verify_dir_with(dir.path(), &o).unwrap();
        assert_eq!(r.status, VerifyStatus::Clean, "run {i}: {:#?}", r.findings);
        assert_eq!(r.chain.expected_matched, Some(true), "run {i}");
        checked += 1;
    }
    assert_eq!(checked, 6);
    let r = verify_dir(dir.path()).unwrap();
    assert_eq!(r.status, VerifyStatus::Clean, "{:#?}", r.findings);
    assert!(r.chain.chained_segments > 1, "{:?}", r.chain);
}
