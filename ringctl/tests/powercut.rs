//! Power-cut tests: `ringctl stress --log` on faultfs (a FUSE file system that keeps
//! unsynced bytes and unsynced directory entries in memory only), the power cut at a
//! chosen operation, the writer killed, the file system rebooted in its durable state,
//! and the log checked through the binary.
//!
//! Each cut: `ringctl stress --log MNT/sK --durability group|sync|none --backend
//! std|uring --segment-bytes S --payload-size P --events N` with S of 16, 32 or 64 KiB
//! and N worth 6 MiB (the producer is still appending when the power goes: `ringctl
//! stress` prints `durable S` lines only while it appends). The file system's observer
//! sees every operation, with its bytes, and cuts the power before a chosen one: when
//! the segments' bytes reach a random point between the 5th and the 8th segment (plus
//! 0-3 operations); at a seal's first step (the index's fdatasync) of the 5th to 7th
//! seal (plus 0-4 operations); a few operations (0-9) after the 5th to 7th footer
//! write; or, for one cut in ten, anywhere before the 5th segment (the log's open and
//! recovery included). Each sync takes 0.2-2 ms (0-0.2 ms in sync mode), so groups form
//! as on a disk. Then SIGKILL, reboot (a remount in the durable state), and:
//!
//! * `ringctl recover` exits 0;
//! * `ringctl verify` then exits 0;
//! * `ringctl replay --check` exits 0 and holds exactly sequences 0..=last (no gap)
//!   with last at or above every `durable S` the stress run (or any earlier run on that
//!   log) printed. Every printed line counts, even one read after the cut: after the
//!   cut every sync fails, so a line can only stand for a sync that completed before.
//!
//! Three runs continue each log (the second and third recover what the previous cut
//! left); each log uses one durability and one backend: `std`, `uring` with O_DIRECT
//! accepted by the file system (the backend's default path) or refused with EINVAL
//! (its buffered fallback). A cut lands "during a seal" when it falls from a seal's
//! index fdatasync through its footer write and trim to its segment's fdatasync; "during
//! a roll" when it falls after that and before the next segment's directory sync.
//!
//! `POWERCUT_SPARES=1` adds `std` with pre-written spare segment files (`--spares 2`).
//! Not by default: a cut after a spare's rename into a segment and before the segment's
//! header is synced leaves a durable all-zero segment (a torn creation), which recovery
//! keeps in `quarantine/` through a hard link, and faultfs has no `link` (EPERM); real
//! file systems have it, and storage-std's in-memory power cuts cover that state.
//!
//! `POWERCUT_CUTS` (default 81: nine per durability × backend) sets the number of cuts,
//! `POWERCUT_SEED` the seed (printed; it reproduces every choice, though not the
//! writer's timing), `POWERCUT_ONLY=group-uring-direct` (a substring of the
//! combination's name) keeps some combinations. Failures are collected and reported
//! together at the end with their seed, series and run.
//!
//! Needs FUSE and io_uring: under `CI=true` their absence fails the tests; elsewhere the
//! tests (or their io_uring part) print `SKIPPED` with the reason.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultfs::{DirectIo, Handle, Op, OpKind, Options, Verdict, mount_for_test};

const BIN: &str = env!("CARGO_BIN_EXE_ringctl");

/// A segment footer starts with this (storage-std's `FOOTER_MAGIC`).
const FOOTER_MAGIC: &[u8] = b"RINGLFTR";

/// No ringctl call may take longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// splitmix64: a small, seedable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    )
}

fn seed() -> u64 {
    env_u64("POWERCUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    })
}

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether io_uring works here; where it does not, fails under `CI=true` and otherwise
/// prints why.
fn io_uring_usable(test: &str) -> bool {
    match storage_uring::probe() {
        Ok(_) => true,
        Err(e) if in_ci() => panic!("{test}: io_uring unavailable under CI=true: {e}"),
        Err(e) => {
            eprintln!("SKIPPED the io_uring runs of {test}: io_uring unavailable: {e}");
            false
        }
    }
}

// ------------------------------------------------------------------- the combinations

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Backend {
    Std,
    /// The portable backend with pre-written spare segment files (`--spares 2`): cuts
    /// land in a spare's zero pass, its rename into a segment, and a segment's writes
    /// over zeros.
    StdSpares,
    /// io_uring with O_DIRECT accepted by the file system.
    UringDirect,
    /// io_uring with O_DIRECT refused (EINVAL): the backend's buffered fallback.
    UringBuffered,
}

impl Backend {
    fn arg(self) -> &'static str {
        match self {
            Self::Std | Self::StdSpares => "std",
            Self::UringDirect | Self::UringBuffered => "uring",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::StdSpares => "std-spares",
            Self::UringDirect => "uring-direct",
            Self::UringBuffered => "uring-buffered",
        }
    }

    fn direct_io(self) -> DirectIo {
        match self {
            Self::UringBuffered => DirectIo::Refuse,
            _ => DirectIo::Accept,
        }
    }

    fn is_uring(self) -> bool {
        !matches!(self, Self::Std | Self::StdSpares)
    }

    /// Options after `--backend`.
    fn extra_args(self) -> &'static [&'static str] {
        match self {
            Self::StdSpares => &["--spares", "2"],
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Combo {
    durability: &'static str,
    backend: Backend,
}

impl Combo {
    fn name(&self) -> String {
        format!("{}-{}", self.durability, self.backend.name())
    }
}

fn combos(uring: bool) -> Vec<Combo> {
    let only = std::env::var("POWERCUT_ONLY").unwrap_or_default();
    let mut out = Vec::new();
    for durability in ["group", "sync", "none"] {
        let spares = std::env::var("POWERCUT_SPARES").is_ok_and(|v| v == "1");
        for backend in [
            Backend::Std,
            Backend::StdSpares,
            Backend::UringDirect,
            Backend::UringBuffered,
        ] {
            if backend == Backend::StdSpares && !spares {
                continue;
            }
            let c = Combo {
                durability,
                backend,
            };
            if (uring || !backend.is_uring()) && c.name().contains(only.as_str()) {
                out.push(c);
            }
        }
    }
    assert!(
        !out.is_empty(),
        "POWERCUT_ONLY={only} matches no combination"
    );
    out
}

// ------------------------------------------------------------- watching the file system

/// When the observer cuts the power.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// When the segments' high-water marks reach `at` bytes, then `then` more operations.
    Bytes { at: u64, then: u32 },
    /// At the `nth` footer write (1-based), then `then` more operations.
    Footer { nth: u64, then: u32 },
    /// At the `nth` seal's first step (the index's fdatasync), then `then` more.
    SealStart { nth: u64, then: u32 },
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes { at, then } => write!(f, "segment bytes {at} +{then} ops"),
            Self::Footer { nth, then } => write!(f, "footer #{nth} +{then} ops"),
            Self::SealStart { nth, then } => write!(f, "seal #{nth} start +{then} ops"),
        }
    }
}

/// Where a cut fell.
#[derive(Debug, Clone)]
struct CutPoint {
    /// The operation it fell before.
    kind: OpKind,
    path: String,
    offset: u64,
    len: u64,
    /// Footers written before it (segments sealed or being sealed).
    footers: u64,
    in_seal: bool,
    in_roll: bool,
}

impl std::fmt::Display for CutPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = if self.in_seal {
            " (during a seal)"
        } else if self.in_roll {
            " (during a roll)"
        } else {
            ""
        };
        write!(
            f,
            "before {:?} {} @{}+{} after {} footers{phase}",
            self.kind, self.path, self.offset, self.len, self.footers
        )
    }
}

/// Which segment sync the item 11 test fails.
#[derive(Debug, Clone, Copy)]
enum FailSync {
    /// The first group's fdatasync (records) once this many footers were written.
    Group { after_footers: u64 },
    /// The `nth` seal's fdatasync of its segment (the footer and the trim).
    Seal { nth: u64 },
}

/// The observer's state: progress, the seal in progress, the trigger.
#[derive(Debug)]
struct Watch {
    trigger: Option<Trigger>,
    /// Operations still to let through once the trigger's condition held.
    countdown: Option<u32>,
    /// High-water mark of every `.seg` file written.
    seg_ends: HashMap<String, u64>,
    footers: u64,
    /// Seals started (index fdatasyncs).
    seals: u64,
    /// A seal started (its index synced) and its segment's sync not yet done.
    seal_started: bool,
    /// A `.seg` whose footer was written and not yet synced.
    sealing: Option<String>,
    /// Between a seal's sync and the next directory sync.
    rolling: bool,
    /// The segment sync to fail (item 11 test).
    fail_sync: Option<FailSync>,
    failed_sync: bool,
    cut: Option<CutPoint>,
}

impl Watch {
    fn new(trigger: Option<Trigger>) -> Self {
        Self {
            trigger,
            countdown: None,
            seg_ends: HashMap::new(),
            footers: 0,
            seals: 0,
            seal_started: false,
            sealing: None,
            rolling: false,
            fail_sync: None,
            failed_sync: false,
            cut: None,
        }
    }

    fn seg_bytes(&self) -> u64 {
        self.seg_ends.values().sum()
    }

    /// A seal's first step: only a seal syncs an index with `fdatasync` (index files
    /// written whole are synced with `fsync`).
    fn is_seal_start(op: &Op<'_>) -> bool {
        op.kind == OpKind::Fdatasync && op.path.ends_with(".idx")
    }

    fn is_footer(op: &Op<'_>) -> bool {
        op.kind == OpKind::Write
            && op.path.ends_with(".seg")
            && op
                .data
                .windows(FOOTER_MAGIC.len())
                .any(|w| w == FOOTER_MAGIC)
    }

    /// Decides about `op`, then (if it goes ahead) accounts for it.
    fn observe(&mut self, op: &Op<'_>) -> Verdict {
        let footer = Self::is_footer(op);
        let seal_start = Self::is_seal_start(op);
        // The trigger's condition, judged as if this operation were done.
        if self.countdown.is_none() {
            let hit = match self.trigger {
                Some(Trigger::Bytes { at, then }) => {
                    let mut bytes = self.seg_bytes();
                    if op.kind == OpKind::Write && op.path.ends_with(".seg") {
                        let end = op.offset + op.len;
                        let old = self.seg_ends.get(op.path).copied().unwrap_or(0);
                        bytes += end.saturating_sub(old);
                    }
                    (bytes >= at).then_some(then)
                }
                Some(Trigger::Footer { nth, then }) => {
                    (footer && self.footers + 1 == nth).then_some(then)
                }
                Some(Trigger::SealStart { nth, then }) => {
                    (seal_start && self.seals + 1 == nth).then_some(then)
                }
                None => None,
            };
            self.countdown = hit;
        }
        if let Some(left) = self.countdown {
            if left == 0 {
                let in_seal = seal_start || footer || self.seal_started || self.sealing.is_some();
                self.cut = Some(CutPoint {
                    kind: op.kind,
                    path: op.path.to_owned(),
                    offset: op.offset,
                    len: op.len,
                    footers: self.footers,
                    in_seal,
                    in_roll: !in_seal && self.rolling,
                });
                self.trigger = None;
                self.countdown = None;
                return Verdict::CutBefore;
            }
            self.countdown = Some(left - 1);
        }
        if op.kind == OpKind::Fdatasync && op.path.ends_with(".seg") {
            let seal = self.sealing.as_deref() == Some(op.path);
            let hit = match self.fail_sync {
                Some(FailSync::Group { after_footers }) => !seal && self.footers >= after_footers,
                Some(FailSync::Seal { nth }) => seal && self.footers == nth,
                None => false,
            };
            if hit {
                self.fail_sync = None;
                self.failed_sync = true;
                return Verdict::Fail;
            }
        }
        // Account for it.
        if op.kind == OpKind::Write && op.path.ends_with(".seg") {
            let e = self.seg_ends.entry(op.path.to_owned()).or_insert(0);
            *e = (*e).max(op.offset + op.len);
        }
        if seal_start {
            self.seals += 1;
            self.seal_started = true;
            self.rolling = false;
        } else if footer {
            self.footers += 1;
            self.sealing = Some(op.path.to_owned());
            self.rolling = false;
        } else if op.kind.is_file_sync() && self.sealing.as_deref() == Some(op.path) {
            self.sealing = None;
            self.seal_started = false;
            self.rolling = true;
        } else if op.kind == OpKind::FsyncDir && self.sealing.is_none() {
            self.rolling = false;
        }
        Verdict::Proceed
    }
}

fn watch(fs: &Handle, trigger: Option<Trigger>) -> Arc<Mutex<Watch>> {
    let w = Arc::new(Mutex::new(Watch::new(trigger)));
    let w2 = w.clone();
    fs.set_observer(move |op| w2.lock().unwrap().observe(op));
    w
}

// ------------------------------------------------------------------ running ringctl

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        let line = self.out.lines().last().unwrap_or("");
        serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
    }

    fn brief(&self) -> String {
        let mut s = format!("exit {}", self.code);
        // A verify report lists every segment: keep its verdict and findings.
        let mut v = self.json();
        if let Some(segs) = v.get("segments").and_then(|x| x.as_array()).map(Vec::len) {
            v["segments"] = segs.into();
        }
        let trimmed = v.to_string();
        let out = if v.is_null() {
            self.out.trim()
        } else {
            trimmed.as_str()
        };
        if !out.is_empty() {
            let _ = write!(s, "; stdout: {}", clip(out, 700));
        }
        let err = self.err.trim();
        if !err.is_empty() {
            let _ = write!(s, "; stderr: {}", clip(err, 700));
        }
        s
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    })
}

/// Waits for `child`, killing it after [`CALL_TIMEOUT`]; `None` on a timeout.
fn wait_or_kill(child: &mut Child) -> Option<i32> {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st.code().unwrap_or(-1));
        }
        if t.elapsed() > CALL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `ringctl args` to completion (a hang is reported as exit -2).
fn ringctl(args: &[&str]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ringctl");
    let out = read_all(child.stdout.take().unwrap());
    let err = read_all(child.stderr.take().unwrap());
    let code = wait_or_kill(&mut child);
    let mut err = err.join().unwrap();
    if code.is_none() {
        let _ = write!(
            err,
            "\n[ringctl {args:?} did not finish within {CALL_TIMEOUT:?}]"
        );
    }
    Run {
        code: code.unwrap_or(-2),
        out: out.join().unwrap(),
        err,
    }
}

/// The shape of one stress run.
#[derive(Debug, Clone, Copy)]
struct Sizing {
    segment: u64,
    payload: u64,
    events: u64,
}

impl Sizing {
    fn pick(rng: &mut Rng) -> Self {
        let segment = [16u64 << 10, 32 << 10, 64 << 10][rng.range(0, 2) as usize];
        let payload = rng.range(16, 128);
        let record = (32 + payload + 7) & !7;
        // Far more than the cut lets through (it falls within the first nine segments):
        // the producer must still be appending at the cut, since `ringctl stress` prints
        // `durable S` lines only while it appends (then once more after its close).
        // More than the writer's 4 MiB submit queue plus nine segments.
        let events = (6 << 20) / record;
        Self {
            segment,
            payload,
            events,
        }
    }
}

/// What a stress run printed and how it ended.
struct Stressed {
    durable: Vec<u64>,
    /// Some(code) when it exited by itself (before any cut); None when killed.
    exited: Option<i32>,
    other_stdout: Vec<String>,
    stderr: String,
}

/// Starts a stress run and returns when it exits, or when the power is cut (then it
/// is killed with SIGKILL at once).
fn stress_until_cut(fs: &Handle, dir: &Path, combo: Combo, s: Sizing) -> Stressed {
    let mut child = Command::new(BIN)
        .args([
            "stress",
            "--log",
            dir.to_str().unwrap(),
            "--durability",
            combo.durability,
            "--backend",
            combo.backend.arg(),
            "--segment-bytes",
            &s.segment.to_string(),
            "--payload-size",
            &s.payload.to_string(),
            "--events",
            &s.events.to_string(),
        ])
        .args(combo.backend.extra_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringctl stress");
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        let mut durable = Vec::new();
        let mut other = Vec::new();
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            match l.strip_prefix("durable ").map(str::parse::<u64>) {
                Some(Ok(s)) => durable.push(s),
                _ => other.push(l),
            }
        }
        (durable, other)
    });
    let err = read_all(child.stderr.take().unwrap());
    let t = Instant::now();
    let exited = loop {
        if fs.wait_cut(Duration::from_millis(2)) {
            // Child::kill is SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st.code().unwrap_or(-1));
        }
        if t.elapsed() > CALL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break Some(-2);
        }
    };
    let (durable, other_stdout) = lines.join().unwrap();
    Stressed {
        durable,
        exited,
        other_stdout,
        stderr: err.join().unwrap(),
    }
}

/// The checks after a reboot: recover exits 0, verify exits 0, replay --check holds
/// exactly 0..=last with last >= `durable`. Returns the next sequence or what failed.
fn check_after_reboot(dir: &Path, durable: Option<u64>) -> Result<u64, String> {
    let d = dir.to_str().unwrap();
    if !dir.exists() {
        // `ringctl stress` creates the directory and syncs its parent before it writes
        // anything: only a cut before that can leave no directory.
        return match durable {
            None => Ok(0),
            Some(md) => Err(format!(
                "durable {md} was reported but the log directory is gone after the cut"
            )),
        };
    }
    let pre = ringctl(&["verify", d, "--json"]);
    let rec = ringctl(&["recover", d, "--json"]);
    let ver = ringctl(&["verify", d, "--json"]);
    let rep = ringctl(&["replay", d, "--check", "--quiet", "--json"]);
    let mut problems = Vec::new();
    if rec.code != 0 {
        problems.push(format!("recover: {}", rec.brief()));
    }
    if ver.code != 0 {
        problems.push(format!("verify after recover: {}", ver.brief()));
    }
    let v = rep.json();
    let count = v["records"].as_u64();
    let next = v["last_seq"].as_u64().map_or(0, |l| l + 1);
    if rep.code != 0 {
        problems.push(format!("replay --check: {}", rep.brief()));
    } else if count != Some(next) || (next > 0 && v["first_seq"] != 0) {
        problems.push(format!("replay is not contiguous from 0: {v}"));
    }
    if let Some(md) = durable
        && rep.code == 0
        && next <= md
    {
        problems.push(format!(
            "durable {md} was reported but the log ends before it (next sequence {next}): \
             replay {v}; recover {}",
            rec.brief()
        ));
    }
    if problems.is_empty() {
        Ok(next)
    } else {
        problems.push(format!("(verify before recover: {})", pre.brief()));
        Err(problems.join("\n    "))
    }
}

// --------------------------------------------------------------------- the sweep

#[derive(Debug, Default, Clone)]
struct Tally {
    cuts: u64,
    landed: u64,
    in_seal: u64,
    in_roll: u64,
    failed: u64,
    durable_lines: u64,
    footers_before_cut: Vec<u64>,
}

impl Tally {
    fn rolled_five(&self) -> usize {
        self.footers_before_cut.iter().filter(|&&f| f >= 5).count()
    }
}

struct Failure {
    combo: String,
    series: u64,
    run: u64,
    what: String,
}

#[test]
fn power_cuts_lose_nothing_reported_durable() {
    let test = "power_cuts_lose_nothing_reported_durable";
    let mnt = tempfile::tempdir().unwrap();
    let Some(mut fs) = mount_for_test(mnt.path(), Options::default(), test) else {
        return;
    };
    let uring = io_uring_usable(test);
    let cuts = env_u64("POWERCUT_CUTS").unwrap_or(81);
    let seed = seed();
    println!("powercut: {cuts} cuts, seed {seed} (POWERCUT_SEED={seed} reproduces the choices)");
    let combos = combos(uring);
    const RUNS_PER_SERIES: u64 = 3;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut tally: HashMap<String, Tally> = HashMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut done = 0u64;
    let mut series = 0u64;
    while done < cuts {
        let combo = combos[(series % combos.len() as u64) as usize];
        fs.set_direct_io(combo.backend.direct_io());
        // A disk's flush takes time; so groups form as they would on one.
        // (In sync mode every append waits for its own sync: keep those quick.)
        let latencies = if combo.durability == "sync" {
            [0, 50, 200]
        } else {
            [200, 1000, 2000]
        };
        let latency = Duration::from_micros(latencies[rng.range(0, 2) as usize]);
        fs.set_sync_latency(latency);
        // ringctl creates the directory (and makes its entry durable) itself.
        let dir = fs.path().join(format!("s{series}"));
        let mut max_durable: Option<u64> = None;
        for run in 0..RUNS_PER_SERIES.min(cuts - done) {
            done += 1;
            let sizing = Sizing::pick(&mut rng);
            let seg = sizing.segment;
            let trigger = match rng.range(0, 19) {
                0 | 1 => Trigger::Bytes {
                    at: rng.range(1, 5 * seg),
                    then: rng.range(0, 3) as u32,
                },
                2..=9 => Trigger::Bytes {
                    at: rng.range(5 * seg, 8 * seg),
                    then: rng.range(0, 3) as u32,
                },
                10..=14 => Trigger::SealStart {
                    nth: rng.range(5, 7),
                    then: rng.range(0, 4) as u32,
                },
                _ => Trigger::Footer {
                    nth: rng.range(5, 7),
                    then: rng.range(0, 10) as u32,
                },
            };
            let ctx = format!(
                "cut {done} [{}] series {series} run {run}: segment {seg}, payload {}, \
                 {} events, sync latency {latency:?}, trigger {trigger}",
                combo.name(),
                sizing.payload,
                sizing.events
            );
            let w = watch(&fs, Some(trigger));
            let s = stress_until_cut(&fs, &dir, combo, sizing);
            fs.clear_observer();
            let landed = w.lock().unwrap().cut.clone();
            if landed.is_none() {
                // The run ended first: cut now, after its clean exit.
                fs.cut();
            }
            let trace = fs.trace();
            fs.restore().expect("reboot the file system");
            let t = tally.entry(combo.name()).or_default();
            t.cuts += 1;
            t.durable_lines += s.durable.len() as u64;
            if let Some(c) = &landed {
                t.landed += 1;
                t.in_seal += u64::from(c.in_seal);
                t.in_roll += u64::from(c.in_roll);
                t.footers_before_cut.push(c.footers);
            }
            let mut problems = Vec::new();
            if s.durable.windows(2).any(|w| w[0] >= w[1]) {
                problems.push(format!("durable lines not increasing: {:?}", s.durable));
            }
            if let Some(code) = s.exited
                && code != 0
            {
                problems.push(format!(
                    "the stress run exited {code} before any cut: {} {}",
                    s.other_stdout.join(" | "),
                    clip(&s.stderr, 800)
                ));
            }
            if let Some(&d) = s.durable.last() {
                max_durable = Some(max_durable.map_or(d, |m| m.max(d)));
            }
            let result = check_after_reboot(&dir, max_durable);
            let cut_text = landed
                .as_ref()
                .map_or("after the run's clean exit".to_owned(), |c| c.to_string());
            match &result {
                Ok(next) => println!(
                    "{ctx}: cut {cut_text}; durable max {max_durable:?}; log holds 0..{next}"
                ),
                Err(e) => problems.push(e.clone()),
            }
            if !problems.is_empty() {
                let tail: Vec<String> = trace
                    .iter()
                    .rev()
                    .take(12)
                    .rev()
                    .map(|r| {
                        format!(
                            "#{} {:?} {}{} @{}+{} {:?}",
                            r.index,
                            r.kind,
                            r.path,
                            if r.target.is_empty() {
                                String::new()
                            } else {
                                format!(" -> {}", r.target)
                            },
                            r.offset,
                            r.len,
                            r.outcome
                        )
                    })
                    .collect();
                let what = format!(
                    "{ctx}\n  cut {cut_text}; durable max {max_durable:?}; stress stderr: {}\n  \
                     {}\n  last operations before the cut:\n    {}",
                    clip(s.stderr.trim(), 400),
                    problems.join("\n  "),
                    tail.join("\n    ")
                );
                println!("FAILED {what}");
                t.failed += 1;
                failures.push(Failure {
                    combo: combo.name(),
                    series,
                    run,
                    what,
                });
                // This log is damaged; the next run starts a new one.
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        series += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let c = fs.counters();
    let mut names: Vec<&String> = tally.keys().collect();
    names.sort();
    println!("\npowercut summary: {done} cuts in {secs:.1} s, seed {seed}");
    println!(
        "{:<22} {:>5} {:>7} {:>5} {:>5} {:>7} {:>9} {:>8}",
        "combination", "cuts", "landed", "seal", "roll", "failed", "rolled>=5", "durable"
    );
    let mut total = Tally::default();
    for n in names {
        let t = &tally[n];
        println!(
            "{n:<22} {:>5} {:>7} {:>5} {:>5} {:>7} {:>9} {:>8}",
            t.cuts,
            t.landed,
            t.in_seal,
            t.in_roll,
            t.failed,
            t.rolled_five(),
            t.durable_lines
        );
        total.footers_before_cut.extend(&t.footers_before_cut);
        total.durable_lines += t.durable_lines;
        total.cuts += t.cuts;
        total.landed += t.landed;
        total.in_seal += t.in_seal;
        total.in_roll += t.in_roll;
        total.failed += t.failed;
    }
    println!(
        "total: {} cuts, {} landed while writing ({} during a seal, {} during a roll, {} after \
         at least 5 segments were sealed), {} failed, {} durable lines checked; \
         file system: {} ops, {} MB written, {} file syncs, {} dir syncs",
        total.cuts,
        total.landed,
        total.in_seal,
        total.in_roll,
        total.rolled_five(),
        total.failed,
        total.durable_lines,
        c.ops,
        c.bytes_written >> 20,
        c.file_syncs,
        c.dir_syncs
    );
    assert!(
        total.landed * 10 >= total.cuts * 8 || total.failed > 0,
        "too few cuts landed while the writer ran: {} of {}",
        total.landed,
        total.cuts
    );
    if !failures.is_empty() {
        let mut by_combo: HashMap<&str, Vec<String>> = HashMap::new();
        for f in &failures {
            by_combo
                .entry(f.combo.as_str())
                .or_default()
                .push(format!("series {} run {}", f.series, f.run));
        }
        panic!(
            "{} of {done} power cuts lost data or left a log that does not recover clean \
             (seed {seed}): {by_combo:?}\n\nfirst failure:\n{}",
            failures.len(),
            failures[0].what
        );
    }
}

// ------------------------------------------------------------ a failed sync, reopened

/// Item 11: a sync fails (EIO) during a group run, so the writer fail-stops; in the same
/// boot the log is reopened (`recover`, `replay --check`) and continued; then the power
/// is cut. Records whose sync failed never reached the disk, so the reopen must not
/// have counted them durable: after the cut `verify` exits 0 without any repair, and
/// the log holds every sequence any run reported durable, contiguously.
#[test]
fn a_failed_sync_is_not_trusted_after_reopen() {
    let test = "a_failed_sync_is_not_trusted_after_reopen";
    let mnt = tempfile::tempdir().unwrap();
    let Some(mut fs) = mount_for_test(mnt.path(), Options::default(), test) else {
        return;
    };
    let mut backends = vec![Backend::Std];
    if io_uring_usable(test) {
        backends.push(Backend::UringDirect);
    }
    let mut failures = Vec::new();
    let cases = backends.iter().flat_map(|&b| {
        [
            FailSync::Group { after_footers: 3 },
            FailSync::Seal { nth: 4 },
        ]
        .map(move |f| (b, f))
    });
    for (backend, fail) in cases {
        let combo = Combo {
            durability: "group",
            backend,
        };
        fs.set_direct_io(backend.direct_io());
        let which = match fail {
            FailSync::Group { .. } => "group",
            FailSync::Seal { .. } => "seal",
        };
        let dir = fs
            .path()
            .join(format!("failed-{which}-sync-{}", backend.name()));
        let d = dir.to_str().unwrap().to_owned();
        let sizing = Sizing {
            segment: 32 << 10,
            payload: 64,
            events: 4000,
        };
        let w = watch(&fs, None);
        w.lock().unwrap().fail_sync = Some(fail);
        let s = stress_until_cut(&fs, &dir, combo, sizing);
        fs.clear_observer();
        let failed = w.lock().unwrap().failed_sync;
        let ctx = format!("[{}, {fail:?} fails]", combo.name());
        assert!(
            failed,
            "{ctx}: no segment sync was failed: the run was too short"
        );
        assert_eq!(
            s.exited,
            Some(2),
            "{ctx}: the writer must fail-stop (exit 2) after a failed sync: {} {}",
            s.other_stdout.join(" | "),
            s.stderr
        );
        let first_durable = s.durable.last().copied();
        println!(
            "{ctx}: fail-stop after a failed fdatasync; durable up to {first_durable:?}; stderr: {}",
            clip(s.stderr.trim(), 300)
        );
        // Same boot: reopen and read back (from the page cache).
        let rec = ringctl(&["recover", &d, "--json"]);
        let rep = ringctl(&["replay", &d, "--check", "--quiet", "--json"]);
        println!(
            "{ctx}: same boot: recover {}; replay {}",
            rec.brief(),
            rep.brief()
        );
        let mut problems = Vec::new();
        if rec.code != 0 {
            problems.push(format!("recover in the same boot: {}", rec.brief()));
        }
        // Continue the log in the same boot.
        let cont = ringctl(&[
            "stress",
            "--log",
            &d,
            "--durability",
            "group",
            "--backend",
            backend.arg(),
            "--segment-bytes",
            &sizing.segment.to_string(),
            "--payload-size",
            &sizing.payload.to_string(),
            "--events",
            "500",
        ]);
        let cont_durable = cont
            .out
            .lines()
            .filter_map(|l| l.strip_prefix("durable ")?.parse::<u64>().ok())
            .max();
        if cont.code != 0 {
            problems.push(format!("continuing in the same boot: {}", cont.brief()));
        }
        println!("{ctx}: continued in the same boot; durable up to {cont_durable:?}");
        // The power cut.
        fs.cut();
        fs.restore().expect("reboot");
        let ver = ringctl(&["verify", &d, "--json"]);
        if ver.code != 0 {
            problems.push(format!(
                "verify after the cut (the reopen counted records whose sync failed as \
                 durable?): {}",
                ver.brief()
            ));
        }
        let max_durable = first_durable.max(cont_durable);
        if let Err(e) = check_after_reboot(&dir, max_durable) {
            problems.push(e);
        }
        if !problems.is_empty() {
            let what = format!(
                "{ctx} durable before the failed sync {first_durable:?}, by the continuation \
                 {cont_durable:?}:\n  {}",
                problems.join("\n  ")
            );
            println!("FAILED {what}");
            failures.push(what);
        }
    }
    assert!(
        failures.is_empty(),
        "a failed sync was trusted after reopen:\n{}",
        failures.join("\n")
    );
}

/// The harness can fail. On a disk that acknowledges the segments' `fdatasync` without
/// keeping anything, a clean run's `durable S` lines are lost at the cut; on one that
/// drops every group's bytes but keeps each seal (its footer and trim), the sealed
/// segments hold zeros before their footers, which is the state issue 10 item 1
/// describes for the io_uring backend. The checks must flag both.
#[test]
fn the_checks_catch_a_disk_that_lies_about_syncs() {
    let test = "the_checks_catch_a_disk_that_lies_about_syncs";
    let mnt = tempfile::tempdir().unwrap();
    let Some(mut fs) = mount_for_test(mnt.path(), Options::default(), test) else {
        return;
    };
    for keep_seals in [false, true] {
        let dir = fs.path().join(format!("lying-{keep_seals}"));
        let mut footer_written = false;
        fs.set_observer(move |op| {
            if Watch::is_footer(op) {
                footer_written = true;
            }
            if op.kind == OpKind::Fdatasync && op.path.ends_with(".seg") {
                if keep_seals && std::mem::take(&mut footer_written) {
                    return Verdict::Proceed;
                }
                return Verdict::Lie;
            }
            Verdict::Proceed
        });
        let combo = Combo {
            durability: "group",
            backend: Backend::Std,
        };
        let s = stress_until_cut(
            &fs,
            &dir,
            combo,
            Sizing {
                segment: 16 << 10,
                payload: 64,
                events: 1000,
            },
        );
        fs.clear_observer();
        assert_eq!(s.exited, Some(0), "{}", s.stderr);
        let durable = s.durable.last().copied();
        assert_eq!(durable, Some(999), "a clean run reports all durable");
        fs.cut();
        fs.restore().unwrap();
        let e = check_after_reboot(&dir, durable)
            .expect_err("records acknowledged by a lying disk must be found missing");
        println!("keep seals {keep_seals}: caught, as it should be: {e}");
        assert!(e.contains("recover: exit 1"), "{e}");
        if keep_seals {
            assert!(e.contains("sealed segment damaged"), "{e}");
        }
    }
}

/// `ringctl stress` creates its log directory and syncs the directory that holds it
/// before it writes a record: a power cut right after the run keeps the directory and
/// every record reported durable (the finding (c): it used to fsync nothing
/// above the log, so a strict file system lost the whole log).
#[test]
fn a_new_log_directory_survives_a_power_cut() {
    let test = "a_new_log_directory_survives_a_power_cut";
    let mnt = tempfile::tempdir().unwrap();
    let Some(mut fs) = mount_for_test(mnt.path(), Options::default(), test) else {
        return;
    };
    let mut backends = vec![Backend::Std];
    if io_uring_usable(test) {
        backends.push(Backend::UringDirect);
    }
    for backend in backends {
        fs.set_direct_io(backend.direct_io());
        // Two levels that do not exist yet: both entries must be made durable.
        let dir = fs
            .path()
            .join(format!("new-{}", backend.name()))
            .join("log");
        let s = stress_until_cut(
            &fs,
            &dir,
            Combo {
                durability: "group",
                backend,
            },
            Sizing {
                segment: 32 << 10,
                payload: 64,
                events: 300,
            },
        );
        assert_eq!(s.exited, Some(0), "{}", s.stderr);
        let durable = s.durable.last().copied();
        assert_eq!(durable, Some(299), "{}", s.other_stdout.join("\n"));
        fs.cut();
        fs.restore().unwrap();
        assert!(
            dir.is_dir(),
            "[{}] the log directory is gone after a power cut, with sequence 299 \
             reported durable",
            backend.name()
        );
        if let Err(e) = check_after_reboot(&dir, durable) {
            panic!("[{}] {e}", backend.name());
        }
    }
}

/// What the observer of [`io_uring_never_rewrites_synced_bytes`] knows of one file.
#[derive(Debug, Default, Clone, Copy)]
struct Synced {
    /// The furthest byte any write reached.
    written: u64,
    /// What the last successful sync covered (`written` when it ran).
    durable: u64,
    /// A footer was written (the file is being sealed).
    footer: bool,
}

/// Item 1: the io_uring backend's O_DIRECT mode wrote whole 4 KiB blocks, so every group
/// and every footer that started mid-block rewrote the records before it in that block,
/// bytes an earlier sync had made durable (a power cut during that rewrite tears them:
/// a sealed segment whose records end in zeros or a bad CRC before its footer), and it
/// wrote past the group, so each seal had to truncate the file after writing the footer.
/// Watched on faultfs: no write to a segment may start before the end of its last
/// synced bytes (the 32-byte end mark after them excepted, which each group replaces),
/// and no segment is truncated after its footer was written. Then power cuts right
/// after footer writes and right after group writes, each followed by the usual checks.
#[test]
fn io_uring_never_rewrites_synced_bytes() {
    let test = "io_uring_never_rewrites_synced_bytes";
    let mnt = tempfile::tempdir().unwrap();
    let Some(mut fs) = mount_for_test(mnt.path(), Options::default(), test) else {
        return;
    };
    if !io_uring_usable(test) {
        return;
    }
    let mut failures = Vec::new();
    for backend in [Backend::UringDirect, Backend::UringBuffered, Backend::Std] {
        fs.set_direct_io(backend.direct_io());
        fs.set_sync_latency(Duration::from_micros(200));
        let combo = Combo {
            durability: "group",
            backend,
        };
        // 1. The trace property over a whole run (12 segments).
        let dir = fs.path().join(format!("rewrite-{}", backend.name()));
        let files: Arc<Mutex<HashMap<String, Synced>>> = Arc::default();
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        {
            let (files, problems) = (files.clone(), problems.clone());
            fs.set_observer(move |op| {
                if !op.path.ends_with(".seg") && op.kind != OpKind::Rename {
                    return Verdict::Proceed;
                }
                let mut files = files.lock().unwrap();
                match op.kind {
                    OpKind::Write => {
                        let f = files.entry(op.path.to_owned()).or_default();
                        let floor = f.durable.saturating_sub(32);
                        if op.offset < floor {
                            problems.lock().unwrap().push(format!(
                                "write {}@{}+{} rewrites bytes synced up to {}",
                                op.path, op.offset, op.len, f.durable
                            ));
                        }
                        f.written = f.written.max(op.offset + op.len);
                        f.footer |= Watch::is_footer(op);
                    }
                    OpKind::SetLen => {
                        let f = files.entry(op.path.to_owned()).or_default();
                        if f.footer {
                            problems.lock().unwrap().push(format!(
                                "{} truncated to {} after its footer was written",
                                op.path, op.offset
                            ));
                        }
                        f.written = f.written.min(op.offset);
                        f.durable = f.durable.min(op.offset);
                    }
                    OpKind::Fsync | OpKind::Fdatasync => {
                        let f = files.entry(op.path.to_owned()).or_default();
                        f.durable = f.written;
                    }
                    OpKind::Rename => {
                        // A recycled file starts a new life under its new name.
                        files.remove(op.target);
                        files.remove(op.path);
                    }
                    _ => {}
                }
                Verdict::Proceed
            });
        }
        let s = stress_until_cut(
            &fs,
            &dir,
            combo,
            Sizing {
                segment: 16 << 10,
                payload: 100,
                events: 1400,
            },
        );
        fs.clear_observer();
        assert_eq!(s.exited, Some(0), "{}", s.stderr);
        let seen = problems.lock().unwrap().clone();
        if !seen.is_empty() {
            failures.push(format!(
                "[{}] {} writes broke the rule; the first: {}",
                backend.name(),
                seen.len(),
                seen[..seen.len().min(4)].join("; ")
            ));
        }
        // 2. Cuts right after a footer write and right after a group write.
        for (k, trigger) in [
            Trigger::Footer { nth: 3, then: 0 },
            Trigger::Footer { nth: 5, then: 1 },
            Trigger::Bytes {
                at: 5 * (16 << 10) + 3000,
                then: 0,
            },
        ]
        .into_iter()
        .enumerate()
        {
            let dir = fs.path().join(format!("cut-{}-{k}", backend.name()));
            let w = watch(&fs, Some(trigger));
            // Cut after the chosen operation completed, not before it.
            let s = stress_until_cut_after(&fs, &dir, combo, &w);
            let landed = w.lock().unwrap().cut.clone();
            fs.restore().unwrap();
            let durable = s.durable.last().copied();
            if let Err(e) = check_after_reboot(&dir, durable) {
                failures.push(format!(
                    "[{}] cut after {trigger} ({landed:?}): {e}",
                    backend.name()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// [`stress_until_cut`] with the observer's cut moved after the chosen operation: the
/// operation completes (its bytes reach the page cache), then the power goes.
fn stress_until_cut_after(
    fs: &Handle,
    dir: &Path,
    combo: Combo,
    w: &Arc<Mutex<Watch>>,
) -> Stressed {
    let w2 = w.clone();
    fs.set_observer(move |op| match w2.lock().unwrap().observe(op) {
        Verdict::CutBefore => Verdict::CutAfter,
        v => v,
    });
    let s = stress_until_cut(
        fs,
        dir,
        combo,
        Sizing {
            segment: 16 << 10,
            payload: 100,
            events: 3000,
        },
    );
    fs.clear_observer();
    if !fs.is_cut() {
        fs.cut();
    }
    s
}
