//! The damage corpus: real logs written by `ringctl stress` with each backend, damaged
//! in every way issue 10 lists, and checked through the binary. For every case:
//!
//! * `verify` exits with the class the case is in (0 clean, 3 torn tail, 4 repairable,
//!   1 corruption, 2 an unreadable file) and says so in its JSON;
//! * `replay --check` exits 0, 3, 0 or 1 for those classes (2 unreadable);
//! * `recover` exits 0 and names the same class (`found`), or, on corruption, exits 1
//!   and changes no byte; `recover --force` then exits 0;
//! * afterwards `verify` exits 0 and `replay --check` exits 0;
//! * nothing intact is lost: every record of the pristine log whose bytes the damage did
//!   not touch is, byte for byte, in the log or in `quarantine/`;
//! * no command hangs (each runs under a time limit) or panics (no exit 101, no signal).
//!
//! And a segment truncated under a reader that is reading it gives an error, never
//! `SIGBUS`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use storage_std::backend::{Backend, FileBackend};
use storage_std::format::{self, SegmentHeader, decode_record, encode_record};
use storage_std::{LogItem, LogReader, OffsetStore, Start};
use test_support::cli::{Run, last_json, run_within};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");
const LIMIT: Duration = Duration::from_secs(60);

fn ringctl(args: &[&str]) -> Run {
    let r = run_within(BIN, args, LIMIT);
    assert!(
        r.code >= 0 && r.code != 101,
        "{args:?} crashed (exit {}): {}{}",
        r.code,
        r.out,
        r.err
    );
    r
}

/// A record of the pristine log: where it is and its bytes.
#[derive(Debug, Clone)]
struct Rec {
    file: String,
    offset: u64,
    bytes: Vec<u8>,
}

/// A segment of the pristine log.
#[derive(Debug, Clone)]
struct Seg {
    name: String,
    base: u64,
    len: u64,
    /// Indexes into [`Pristine::recs`].
    recs: Vec<usize>,
    sealed: bool,
}

impl Seg {
    fn idx(&self) -> String {
        format::index_name(self.base)
    }
    fn footer(&self) -> u64 {
        self.len - format::FOOTER_LEN as u64
    }
}

/// A log written with one backend, and everything about it the cases need.
struct Pristine {
    dir: tempfile::TempDir,
    recs: Vec<Rec>,
    segs: Vec<Seg>,
}

impl Pristine {
    fn build(backend: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let r = ringctl(&[
            "stress",
            "--log",
            log.to_str().unwrap(),
            "--backend",
            backend,
            "--segment-bytes",
            "65536",
            "--group-bytes",
            "4096",
            "--payload-min",
            "0",
            "--payload-max",
            "120",
            "--events",
            "3000",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.out, r.err);
        // A consumer offset, for the cases that damage it.
        let b: Arc<dyn Backend> = Arc::new(FileBackend::existing(&log).unwrap());
        OffsetStore::new(b).commit("app", 1234).unwrap();
        let mut recs = Vec::new();
        let mut segs = Vec::new();
        let mut names: Vec<String> = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".seg"))
            .collect();
        names.sort();
        for name in names {
            let bytes = std::fs::read(log.join(&name)).unwrap();
            let h = SegmentHeader::decode(&bytes).unwrap();
            let mut pos = format::SEGMENT_HEADER_LEN;
            let mut idx = Vec::new();
            while let Ok(r) = decode_record(&bytes[pos..]) {
                idx.push(recs.len());
                recs.push(Rec {
                    file: name.clone(),
                    offset: pos as u64,
                    bytes: bytes[pos..pos + r.disk_len()].to_vec(),
                });
                pos += r.disk_len();
            }
            let sealed = pos + format::FOOTER_LEN == bytes.len();
            segs.push(Seg {
                name,
                base: h.base_seq,
                len: bytes.len() as u64,
                recs: idx,
                sealed,
            });
        }
        assert!(
            segs.len() >= 4,
            "sealed segments and an active one: {segs:?}"
        );
        assert!(segs[..segs.len() - 1].iter().all(|s| s.sealed));
        assert!(!segs.last().unwrap().sealed);
        assert!(
            segs.last().unwrap().len > 16 << 10,
            "an active segment of several groups"
        );
        Pristine { dir, recs, segs }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }
}

/// How a case damages a copy of the log.
#[derive(Debug, Clone)]
enum Damage {
    /// Flips bit 0x10 of one byte.
    Flip(String, u64),
    /// Truncates the file.
    Truncate(String, u64),
    /// Appends bytes.
    Append(String, Vec<u8>),
    /// Removes the file.
    Remove(String),
    /// Copies a file to a new name.
    Copy(String, String),
    /// Renames a file.
    Rename(String, String),
    /// Creates a file with these bytes.
    Create(String, Vec<u8>),
    /// Replaces a file with a directory (reads fail, whoever runs the test).
    Unreadable(String),
}

impl Damage {
    fn apply(&self, dir: &Path) {
        let p = |n: &str| dir.join(n);
        match self {
            Self::Flip(f, off) => {
                let mut b = std::fs::read(p(f)).unwrap();
                b[*off as usize] ^= 0x10;
                std::fs::write(p(f), b).unwrap();
            }
            Self::Truncate(f, len) => {
                let h = std::fs::OpenOptions::new().write(true).open(p(f)).unwrap();
                h.set_len(*len).unwrap();
            }
            Self::Append(f, bytes) => {
                let mut b = std::fs::read(p(f)).unwrap();
                b.extend_from_slice(bytes);
                std::fs::write(p(f), b).unwrap();
            }
            Self::Remove(f) => std::fs::remove_file(p(f)).unwrap(),
            Self::Copy(a, b) => {
                std::fs::copy(p(a), p(b)).unwrap();
            }
            Self::Rename(a, b) => std::fs::rename(p(a), p(b)).unwrap(),
            Self::Create(f, bytes) => std::fs::write(p(f), bytes).unwrap(),
            Self::Unreadable(f) => {
                std::fs::remove_file(p(f)).unwrap();
                std::fs::create_dir(p(f)).unwrap();
            }
        }
    }

    /// Whether the damage touched the bytes of `r`.
    fn touches(&self, r: &Rec) -> bool {
        let end = r.offset + r.bytes.len() as u64;
        match self {
            Self::Flip(f, off) => *f == r.file && (r.offset..end).contains(off),
            Self::Truncate(f, len) => *f == r.file && end > *len,
            Self::Remove(f) | Self::Unreadable(f) => *f == r.file,
            Self::Append(..) | Self::Copy(..) | Self::Rename(..) | Self::Create(..) => false,
        }
    }
}

/// The class a case is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Clean,
    Torn,
    Repairable,
    Corrupt,
    /// A file cannot be read: an I/O error (exit 2) for every command.
    Unreadable,
}

impl Class {
    fn verify_code(self) -> i32 {
        match self {
            Self::Clean => 0,
            Self::Torn => 3,
            Self::Repairable => 4,
            Self::Corrupt => 1,
            Self::Unreadable => 2,
        }
    }
    fn replay_code(self) -> i32 {
        match self {
            Self::Clean | Self::Repairable => 0,
            Self::Torn => 3,
            Self::Corrupt => 1,
            Self::Unreadable => 2,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Torn => "torn_tail",
            Self::Repairable => "repairable",
            Self::Corrupt => "corruption",
            Self::Unreadable => "",
        }
    }
}

struct Case {
    what: String,
    /// More damage applied after `damage`.
    then: Option<Damage>,
    damage: Damage,
    class: Class,
    /// `replay`'s exit code, when it differs from the class's: damage only to derived
    /// files is not in what replay reads.
    replay: Option<i32>,
}

fn case(what: impl Into<String>, damage: Damage, class: Class) -> Case {
    Case {
        what: what.into(),
        then: None,
        damage,
        class,
        replay: None,
    }
}

/// A case whose damage is to an index only: `replay` reads every record and exits 0.
fn index_case(what: impl Into<String>, damage: Damage, class: Class) -> Case {
    Case {
        replay: Some(0),
        ..case(what, damage, class)
    }
}

/// Every case, on the segments of `p`.
fn cases(p: &Pristine) -> Vec<Case> {
    use Class::*;
    use Damage::*;
    let n = p.segs.len();
    let s1 = &p.segs[1];
    let a = &p.segs[n - 1];
    let rec = |s: &Seg, k: usize| &p.recs[s.recs[k]];
    let mid = s1.recs.len() / 2;
    let padded = s1
        .recs
        .iter()
        .map(|&i| &p.recs[i])
        .find(|r| {
            let len = u32::from_le_bytes(r.bytes[16..20].try_into().unwrap()) as usize;
            !len.is_multiple_of(8)
        })
        .expect("a record with padding");
    let s1_last = rec(s1, s1.recs.len() - 1);
    let a_last = rec(a, a.recs.len() - 1);
    let a_before_last = rec(a, a.recs.len() - 2);
    let a_end = a_last.offset + a_last.bytes.len() as u64;
    let a_far = a
        .recs
        .iter()
        .map(|&i| &p.recs[i])
        .find(|r| a_end - r.offset > 12 << 10)
        .expect("a record more than three groups before the end");
    let a_mid = rec(a, a.recs.len() / 2);
    let name_of = |base: u64| format::segment_name(base);
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
    vec![
        // A sealed segment (neither the first nor the last): every region.
        case("sealed: header base", Flip(s1.name.clone(), 17), Corrupt),
        case(
            "sealed: header checksum",
            Flip(s1.name.clone(), 61),
            Corrupt,
        ),
        case(
            "sealed: first record's prefix",
            Flip(s1.name.clone(), 64 + 3),
            Corrupt,
        ),
        case(
            "sealed: a record's payload",
            Flip(s1.name.clone(), rec(s1, mid).offset + 33),
            Corrupt,
        ),
        case(
            "sealed: a record's padding",
            Flip(
                s1.name.clone(),
                padded.offset + padded.bytes.len() as u64 - 1,
            ),
            Corrupt,
        ),
        case(
            "sealed: last record",
            Flip(s1.name.clone(), s1_last.offset + 8),
            Corrupt,
        ),
        case(
            "sealed: footer magic",
            Flip(s1.name.clone(), s1.footer() + 2),
            Corrupt,
        ),
        case(
            "sealed: footer count",
            Flip(s1.name.clone(), s1.footer() + 17),
            Corrupt,
        ),
        case(
            "sealed: footer checksum",
            Flip(s1.name.clone(), s1.footer() + 157),
            Corrupt,
        ),
        // Truncations at every boundary.
        case(
            "sealed: truncated to 0",
            Truncate(s1.name.clone(), 0),
            Corrupt,
        ),
        case(
            "sealed: truncated in the header",
            Truncate(s1.name.clone(), 30),
            Corrupt,
        ),
        case(
            "sealed: truncated after the header",
            Truncate(s1.name.clone(), 64),
            Corrupt,
        ),
        case(
            "sealed: truncated in a record",
            Truncate(s1.name.clone(), rec(s1, mid).offset + 10),
            Corrupt,
        ),
        case(
            "sealed: truncated at a record boundary",
            Truncate(s1.name.clone(), rec(s1, mid).offset),
            Corrupt,
        ),
        case(
            "sealed: truncated at the footer",
            Truncate(s1.name.clone(), s1.footer()),
            Corrupt,
        ),
        case(
            "sealed: truncated in the footer",
            Truncate(s1.name.clone(), s1.footer() + 80),
            Corrupt,
        ),
        // Tails after a footer: an unfinished trim.
        case(
            "sealed: zero tail",
            Append(s1.name.clone(), vec![0; 5000]),
            Repairable,
        ),
        case(
            "sealed: garbage tail",
            Append(s1.name.clone(), garbage.clone()),
            Repairable,
        ),
        // Files missing, duplicated, renamed, stray, unreadable.
        case("sealed: missing", Remove(s1.name.clone()), Corrupt),
        case(
            "sealed: duplicated",
            Copy(s1.name.clone(), name_of(s1.base + 5)),
            Corrupt,
        ),
        case(
            "sealed: renamed",
            Rename(s1.name.clone(), name_of(s1.base + 1)),
            Corrupt,
        ),
        case(
            "stray empty segment",
            Create(name_of(s1.base + 3), Vec::new()),
            Corrupt,
        ),
        case(
            "stray garbage segment",
            Create(name_of(s1.base + 3), garbage.clone()),
            Corrupt,
        ),
        case(
            "sealed: unreadable",
            Damage::Unreadable(s1.name.clone()),
            Class::Unreadable,
        ),
        // Indexes and offsets: derived.
        index_case("sealed index: missing", Remove(s1.idx()), Repairable),
        index_case("sealed index: entry", Flip(s1.idx(), 32 + 9), Repairable),
        index_case("sealed index: header", Flip(s1.idx(), 3), Repairable),
        index_case(
            "sealed index: truncated",
            Truncate(s1.idx(), 32 + 10),
            Repairable,
        ),
        index_case(
            "consumer offset",
            Flip("consumer-app.off".into(), 20),
            Repairable,
        ),
        // The active segment.
        case("active: header", Flip(a.name.clone(), 17), Corrupt),
        case(
            "active: record far from the end",
            Flip(a.name.clone(), a_far.offset + 35),
            Corrupt,
        ),
        case(
            "active: last record",
            Flip(a.name.clone(), a_last.offset + 35),
            Torn,
        ),
        case(
            "active: record before the last",
            Flip(a.name.clone(), a_before_last.offset + 35),
            Torn,
        ),
        case("active: end mark", Flip(a.name.clone(), a_end + 5), Torn),
        case(
            "active: truncated in the last record",
            Truncate(a.name.clone(), a_end - 9),
            Torn,
        ),
        case(
            "active: truncated at a record boundary",
            Truncate(a.name.clone(), a_mid.offset),
            Clean,
        ),
        case(
            "active: truncated in the header",
            Truncate(a.name.clone(), 30),
            Torn,
        ),
        case("active: truncated to 0", Truncate(a.name.clone(), 0), Torn),
        case(
            "active: zero tail",
            Append(a.name.clone(), vec![0; 5000]),
            Clean,
        ),
        // After the zeroed end mark: bytes of a recycled file's older life, a clean end.
        case(
            "active: garbage after the end mark",
            Append(a.name.clone(), garbage.clone()),
            Clean,
        ),
        Case {
            then: Some(Append(a.name.clone(), garbage)),
            ..case(
                "active: garbage over the end mark",
                Truncate(a.name.clone(), a_end),
                Torn,
            )
        },
        case("active: missing", Remove(a.name.clone()), Clean),
        case(
            "active: unreadable",
            Damage::Unreadable(a.name.clone()),
            Class::Unreadable,
        ),
        index_case("active index: missing", Remove(a.idx()), Torn),
        index_case(
            "active index: zeroed tail",
            Append(a.idx(), vec![0; 96]),
            Torn,
        ),
        index_case("active index: entry", Flip(a.idx(), 32 + 9), Torn),
    ]
}

/// Every record in the log and in its quarantine, as on-disk bytes.
fn present(dir: &Path) -> HashSet<Vec<u8>> {
    let mut out = HashSet::new();
    let r = LogReader::open(dir).unwrap();
    let mut c = r.cursor(Start::Oldest).unwrap();
    while let Some(item) = c.next_item().unwrap() {
        if let LogItem::Record(rec) = item {
            let mut v = Vec::new();
            encode_record(&mut v, &rec.header, rec.payload);
            out.insert(v);
        }
    }
    let b = FileBackend::existing(dir).unwrap();
    let (_, files) = storage_std::quarantine::contents(&b).unwrap();
    for f in files {
        storage_std::quarantine::read_records(&b, &storage_std::quarantine::path_of(&f), |rec| {
            let mut v = Vec::new();
            encode_record(&mut v, &rec.header, rec.payload);
            out.insert(v);
            true
        })
        .unwrap();
    }
    out
}

/// Every file's bytes (directories as absent).
fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut v: Vec<(String, Option<Vec<u8>>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).ok(),
            )
        })
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Runs one case; returns what went wrong.
fn run(p: &Pristine, c: &Case) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    copy_dir(&p.log(), &dir);
    c.damage.apply(&dir);
    if let Some(t) = &c.then {
        t.apply(&dir);
    }
    let d = dir.to_str().unwrap();
    let mut bad = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            bad.push(what);
        }
    };
    let v = ringctl(&["verify", d, "--json"]);
    expect(
        v.code == c.class.verify_code(),
        format!(
            "verify exit {} (want {}): {}",
            v.code,
            c.class.verify_code(),
            clip(&v.out)
        ),
    );
    let class = if v.code == 2 {
        String::new()
    } else {
        last_json(&v.out)["class"].as_str().unwrap_or("").to_owned()
    };
    expect(
        class == c.class.name(),
        format!("verify class {class:?}, want {:?}", c.class.name()),
    );
    let want = c.replay.unwrap_or(c.class.replay_code());
    let rp = ringctl(&["replay", d, "--check", "--json", "--quiet"]);
    expect(
        rp.code == want,
        format!(
            "replay exit {} (want {want}): {} {}",
            rp.code,
            clip(&rp.out),
            clip(&rp.err)
        ),
    );
    let before = snapshot(&dir);
    let r = ringctl(&["recover", d, "--json"]);
    match c.class {
        Class::Unreadable => {
            expect(
                r.code == 2,
                format!("recover exit {}: {}", r.code, clip(&r.err)),
            );
            return bad;
        }
        Class::Corrupt => {
            expect(
                r.code == 1,
                format!("recover exit {} (want 1): {}", r.code, clip(&r.err)),
            );
            expect(
                snapshot(&dir) == before,
                "a refused recover changed files".into(),
            );
            let f = ringctl(&["recover", d, "--force", "--json"]);
            expect(
                f.code == 0,
                format!("recover --force exit {}: {}", f.code, clip(&f.err)),
            );
            if f.code == 0 {
                let found = last_json(&f.out)["found"].clone();
                expect(
                    found == "corruption",
                    format!("recover --force found {found}"),
                );
            }
        }
        _ => {
            expect(
                r.code == 0,
                format!("recover exit {}: {}", r.code, clip(&r.err)),
            );
            if r.code == 0 {
                let found = last_json(&r.out)["found"].clone();
                expect(
                    found == class.as_str(),
                    format!("recover found {found}, verify said {class}"),
                );
            }
        }
    }
    let v = ringctl(&["verify", d, "--json"]);
    expect(
        v.code == 0,
        format!("verify after recovery exit {}: {}", v.code, clip(&v.out)),
    );
    let rp = ringctl(&["replay", d, "--check", "--json", "--quiet"]);
    expect(
        rp.code == 0,
        format!(
            "replay after recovery exit {}: {} {}",
            rp.code,
            clip(&rp.out),
            clip(&rp.err)
        ),
    );
    let have = present(&dir);
    let lost: Vec<u64> = p
        .recs
        .iter()
        .filter(|r| !c.damage.touches(r) && !have.contains(&r.bytes))
        .map(|r| u64::from_le_bytes(r.bytes[..8].try_into().unwrap()))
        .collect();
    expect(
        lost.is_empty(),
        format!(
            "{} intact records are in neither the log nor quarantine/: {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        ),
    );
    bad
}

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.len() > 600 {
        format!("{}…", &s[..600])
    } else {
        s.to_owned()
    }
}

fn corpus(backend: &str) {
    let p = Pristine::build(backend);
    let cases = cases(&p);
    let mut failures = Vec::new();
    for c in &cases {
        let bad = run(&p, c);
        println!(
            "[{backend}] {}: {:?} {}",
            c.what,
            c.class,
            if bad.is_empty() { "ok" } else { "FAILED" }
        );
        if !bad.is_empty() {
            failures.push(format!(
                "[{backend}] {} ({:?}):\n    {}",
                c.what,
                c.class,
                bad.join("\n    ")
            ));
        }
    }
    println!(
        "[{backend}] {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_damage_corpus_on_a_log_of_the_portable_backend() {
    corpus("std");
}

#[test]
fn the_damage_corpus_on_a_log_of_the_io_uring_backend() {
    match storage_uring::probe() {
        Ok(_) => corpus("uring"),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("io_uring unavailable under CI=true: {e}")
        }
        Err(e) => eprintln!("SKIPPED the io_uring corpus: io_uring unavailable: {e}"),
    }
}

/// A segment truncated while a cursor reads it: the cursor reports an error (the file
/// is read, never mapped, so there is no `SIGBUS`), and a cursor opened afterwards
/// reports the damage too.
#[test]
fn a_segment_truncated_under_a_reader_is_an_error_not_sigbus() {
    let p = Pristine::build("std");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    copy_dir(&p.log(), &dir);
    let s1 = &p.segs[1];
    let r = LogReader::open(&dir).unwrap();
    let mut c = r.cursor(Start::Seq(s1.base)).unwrap();
    for k in 0..5 {
        assert_eq!(c.next().unwrap().unwrap().seq(), s1.base + k);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(&s1.name))
        .unwrap()
        .set_len(s1.len / 3)
        .unwrap();
    let mut got = 5u64;
    let err = loop {
        match c.next() {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the truncation was taken for the end of the log after {got}"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, storage_std::Error::Corrupt { .. }),
        "{err} after {got} records"
    );
    let r = ringctl(&["replay", dir.to_str().unwrap(), "--quiet"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
}
