//! `ringctl replay DIR --merge-live LIVE_DIR`: a recording replayed and handed over to
//! the live log while `ringctl stress --log` appends to it: every sequence once, in
//! order, the hand-over where the recording ends; sequences in neither log are exit 1.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use storage_std::{Durability, RetentionPolicy, Writer, WriterOptions};
use test_support::cli::{Run, run, run_within};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

fn stress(log: &Path, events: u64) -> Run {
    run(
        BIN,
        &[
            "stress",
            "--log",
            log.to_str().unwrap(),
            "--events",
            &events.to_string(),
            "--segment-bytes",
            "16KiB",
            "-q",
        ],
    )
}

/// A copy of `from` (the recording of its past), then `from` keeps only its last
/// `keep` segments (retention deleted its front).
fn archive_and_trim(from: &Path, to: &Path, keep: usize) -> u64 {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(16 << 10);
    let w: Writer = Writer::open(from, o).unwrap();
    w.apply_retention(&RetentionPolicy::default().with_max_segments(Some(keep)))
        .unwrap();
    w.close().unwrap();
    storage_std::LogReader::open(from)
        .unwrap()
        .segments()
        .unwrap()[0]
        .base_seq
}

#[test]
fn every_sequence_once_while_the_live_log_grows() {
    let root = tempfile::tempdir().unwrap();
    let (live, archive) = (root.path().join("live"), root.path().join("archive"));
    assert_eq!(stress(&live, 5000).code, 0);
    let live_first = archive_and_trim(&live, &archive, 4);
    assert!(live_first > 0 && live_first < 5000, "{live_first}");
    let total = 17_000u64;
    // The writer appends 12 000 more at 20 000 a second while the merge replays.
    let mut writer = Command::new(BIN)
        .args([
            "stress",
            "--log",
            live.to_str().unwrap(),
            "--events",
            "12000",
            "--events-per-sec",
            "20000",
            "--segment-bytes",
            "16KiB",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let r = run_within(
        BIN,
        &[
            "replay",
            archive.to_str().unwrap(),
            "--merge-live",
            live.to_str().unwrap(),
            "--from-seq",
            "0",
            "--to-seq",
            &(total - 1).to_string(),
            "--check",
            "--json",
        ],
        Duration::from_secs(60),
    );
    let status = writer.wait().unwrap();
    assert!(status.success(), "the live writer failed");
    assert_eq!(r.code, 0, "{}", r.err);
    let mut count = vec![0u32; total as usize];
    let mut order = Vec::with_capacity(total as usize);
    for line in r.out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "record" {
            let seq = v["seq"].as_u64().unwrap();
            count[seq as usize] += 1;
            order.push(seq);
        }
    }
    assert!(
        count.iter().all(|&n| n == 1),
        "every sequence exactly once: missing {:?}, twice {:?}",
        count.iter().position(|&n| n == 0),
        count.iter().position(|&n| n > 1)
    );
    assert!(order.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    let summary = r.json();
    assert_eq!(
        (&summary["records"], &summary["end"], &summary["checked"]),
        (&total.into(), &"end".into(), &true.into())
    );
    let merge = &summary["merge"];
    assert_eq!(
        (
            &merge["handover_seq"],
            &merge["from_archive"],
            &merge["from_live"]
        ),
        (&5000.into(), &5000.into(), &12_000.into()),
        "{summary}"
    );
}

#[test]
fn sequences_in_neither_log_fail_and_usage_is_checked() {
    let root = tempfile::tempdir().unwrap();
    let (live, archive) = (root.path().join("live"), root.path().join("archive"));
    assert_eq!(stress(&live, 300).code, 0);
    archive_and_trim(&live, &archive, 100);
    // The live log goes on far past the recording, whose front it then loses.
    assert_eq!(stress(&live, 5000).code, 0);
    let mut o = WriterOptions::new(Durability::group());
    o = o.with_segment_bytes(16 << 10);
    let w: Writer = Writer::open(&live, o).unwrap();
    w.apply_retention(&RetentionPolicy::default().with_max_segments(Some(2)))
        .unwrap();
    w.close().unwrap();
    let r = run_within(
        BIN,
        &[
            "replay",
            archive.to_str().unwrap(),
            "--merge-live",
            live.to_str().unwrap(),
            "--to-seq",
            "5299",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 1, "{}\n{}", r.out, r.err);
    let summary = r.json();
    assert_eq!(summary["last_seq"], 299);
    assert_eq!(summary["end"], "failed");
    assert!(r.err.contains("in neither"), "{}", r.err);

    // Text mode names the hand-over.
    let r = run_within(
        BIN,
        &[
            "replay",
            archive.to_str().unwrap(),
            "--merge-live",
            archive.to_str().unwrap(),
            "--from-seq",
            "290",
            "--to-seq",
            "299",
            "-q",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .contains("records 10 first_seq 290 last_seq 299 (handed over to the live log at -: 10 from the recording, 0 live)"),
        "{}",
        r.out
    );
    for args in [
        &["replay", "x", "--merge-live", "y", "--follow"][..],
        &["replay", "x", "--merge-live", "y", "--quarantine"],
    ] {
        assert_eq!(run(BIN, args).code, 2, "{args:?}");
    }
    let empty = tempfile::tempdir().unwrap();
    let r = run(
        BIN,
        &[
            "replay",
            archive.to_str().unwrap(),
            "--merge-live",
            empty.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.err);
}
