//! [`verify_isolated`]: the verifier in a child process with a time and a memory limit,
//! so that whatever the files do to it (a `SIGBUS` from a file truncated under a
//! mapping or a failing disk, a crash, an allocation the limit refuses, the kernel's
//! OOM killer, a read that never returns) becomes an [`IsolatedOutcome`], never the
//! caller's death or hang.
//!
//! The child is a program that calls [`run_verify_child_if_requested`] early in `main`
//! (by default the caller's own executable, [`std::env::current_exe`]): spawned with
//! [`VERIFY_CHILD_ENV`] set, that call reads the log directory from stdin, verifies it,
//! writes the report as one JSON line after [`REPORT_MARKER`] on stdout and exits;
//! without the variable it returns at once and costs nothing. The parent sets the
//! child's limits with `prlimit(2)` (address space, and CPU time as a backstop) before
//! it sends the request, so the verification never runs without them, and kills the
//! child with `SIGKILL` when the wall-clock limit passes.
//!
//! ```no_run
//! use std::time::Duration;
//! use storage_std::{IsolatedOutcome, IsolationLimits, verify_isolated};
//!
//! fn main() {
//!     // First thing: a child spawned by `verify_isolated` verifies and exits here.
//!     storage_std::run_verify_child_if_requested();
//!     let limits = IsolationLimits::default()
//!         .with_time(Duration::from_secs(30))
//!         .with_memory_bytes(Some(1 << 30));
//!     match verify_isolated("/var/log/app", &limits).unwrap().outcome {
//!         IsolatedOutcome::Verified { report } => println!("{:?}", report.status),
//!         other => eprintln!("not verified: {other}"),
//!     }
//! }
//! ```

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, Signal, prlimit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::verify::VerifyReport;

/// The environment variable that makes [`run_verify_child_if_requested`] act. Set by
/// [`verify_isolated`] on the child only, to the parent's process id: the child acts
/// only when that is its parent, so the variable exported in a shell, or inherited by a
/// process the child's parent did not spawn itself, makes nobody read stdin as a request.
pub const VERIFY_CHILD_ENV: &str = "STORAGE_STD_VERIFY_CHILD";

/// What starts the child's report line on its stdout (anything else there, such as a
/// test harness's own lines, is ignored).
pub const REPORT_MARKER: &str = "storage-std-verify-child-v1:";

/// The longest log directory path a child reads from its stdin.
const MAX_REQUEST: u64 = 64 << 10;
/// The most of the child's stdout kept (a report of a huge, badly damaged log).
const MAX_STDOUT: u64 = 1 << 30;
/// The most of the child's stderr kept (its tail names a panic or a failed allocation).
const MAX_STDERR: usize = 16 << 10;
/// How often the parent looks whether the child ended.
const POLL: Duration = Duration::from_millis(2);

/// The limits of an isolated verification and the child to run it in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IsolationLimits {
    /// Wall-clock time: the child is killed ([`IsolatedOutcome::TimedOut`]) after it. Its
    /// CPU time is limited to this plus one second too, a backstop should the parent die.
    pub time: Duration,
    /// The child's address space (`RLIMIT_AS`), in bytes; `None`: unlimited. It counts
    /// every mapping, code and thread stacks included, so leave room above what the
    /// verifier allocates (a few MiB plus one record).
    pub memory_bytes: Option<u64>,
    /// The program to run as the child; `None`: [`std::env::current_exe`]. It must call
    /// [`run_verify_child_if_requested`] before it writes anything to stdout.
    pub program: Option<PathBuf>,
    /// Arguments for the child program (the request itself goes through stdin).
    pub args: Vec<OsString>,
}

/// Builders: `IsolationLimits` is `#[non_exhaustive]` (an option added later is not a breaking
/// change), so it is built from its default with these.
impl IsolationLimits {
    /// Sets [`IsolationLimits::time`].
    #[must_use]
    pub fn with_time(mut self, time: Duration) -> Self {
        self.time = time;
        self
    }

    /// Sets [`IsolationLimits::memory_bytes`].
    #[must_use]
    pub fn with_memory_bytes(mut self, memory_bytes: Option<u64>) -> Self {
        self.memory_bytes = memory_bytes;
        self
    }

    /// Sets [`IsolationLimits::program`].
    #[must_use]
    pub fn with_program(mut self, program: Option<PathBuf>) -> Self {
        self.program = program;
        self
    }

    /// Sets [`IsolationLimits::args`].
    #[must_use]
    pub fn with_args(mut self, args: Vec<OsString>) -> Self {
        self.args = args;
        self
    }
}

impl Default for IsolationLimits {
    /// Five minutes and 4 GiB, in a copy of the current executable.
    fn default() -> Self {
        IsolationLimits {
            time: Duration::from_secs(300),
            memory_bytes: Some(4 << 30),
            program: None,
            args: Vec::new(),
        }
    }
}

/// Why the child did not produce a report, or the report it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one per verify run, never held in bulk
#[non_exhaustive]
pub enum IsolatedOutcome {
    /// The verifier ran to its end: its report (which may itself find corruption).
    Verified {
        /// The child's report.
        report: VerifyReport,
    },
    /// The verifier returned an error (a file it could not read, a format this build
    /// does not read): [`crate::verify_dir`]'s error, as text.
    VerifyFailed {
        /// The error.
        error: String,
    },
    /// The wall-clock limit passed (the child was killed) or the CPU limit did
    /// (`SIGXCPU`).
    TimedOut {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The child ran out of memory: an allocation refused under the memory limit (Rust
    /// aborts on it) or `SIGKILL` from someone other than the parent (the kernel's OOM
    /// killer).
    OutOfMemory {
        /// The memory limit, if one was set.
        limit_bytes: Option<u64>,
        /// What showed it.
        detail: String,
    },
    /// `SIGBUS`: a mapped file shrank under the reader, or the device failed a read of
    /// mapped memory.
    BusError {
        /// The tail of the child's stderr.
        detail: String,
    },
    /// Any other death: another signal, a panic (exit code 101), another exit code.
    Crashed {
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        /// Its exit code, if it exited.
        exit_code: Option<i32>,
        /// The tail of the child's stderr.
        detail: String,
    },
    /// The child exited 0 without a readable report (a program that does not call
    /// [`run_verify_child_if_requested`] first, or a report cut short).
    BadOutput {
        /// What was wrong.
        detail: String,
    },
}

impl IsolatedOutcome {
    /// The outcome's name as the JSON `outcome` field spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Verified { .. } => "verified",
            Self::VerifyFailed { .. } => "verify_failed",
            Self::TimedOut { .. } => "timed_out",
            Self::OutOfMemory { .. } => "out_of_memory",
            Self::BusError { .. } => "bus_error",
            Self::Crashed { .. } => "crashed",
            Self::BadOutput { .. } => "bad_output",
        }
    }
}

impl std::fmt::Display for IsolatedOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Verified { report } => write!(f, "verified: {:?}", report.status),
            Self::VerifyFailed { error } => write!(f, "the verifier failed: {error}"),
            Self::TimedOut { limit_ms } => {
                write!(f, "timed out: killed after the {limit_ms} ms limit")
            }
            Self::OutOfMemory {
                limit_bytes,
                detail,
            } => match limit_bytes {
                Some(l) => write!(f, "out of memory (limit {l} bytes): {detail}"),
                None => write!(f, "out of memory: {detail}"),
            },
            Self::BusError { detail } => write!(f, "SIGBUS (a mapped file shrank?): {detail}"),
            Self::Crashed {
                signal,
                exit_code,
                detail,
            } => match (signal, exit_code) {
                (Some(s), _) => write!(f, "crashed: signal {s}: {detail}"),
                (None, Some(c)) => write!(f, "crashed: exit code {c}: {detail}"),
                (None, None) => write!(f, "crashed: {detail}"),
            },
            Self::BadOutput { detail } => write!(f, "no report from the child: {detail}"),
        }
    }
}

/// What [`verify_isolated`] learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IsolatedVerify {
    /// The report, or why there is none.
    #[serde(flatten)]
    pub outcome: IsolatedOutcome,
    /// How long the child ran, in milliseconds.
    pub elapsed_ms: u64,
}

impl IsolatedVerify {
    /// The child's report, when it finished one.
    pub fn report(&self) -> Option<&VerifyReport> {
        match &self.outcome {
            IsolatedOutcome::Verified { report } => Some(report),
            _ => None,
        }
    }
}

/// What the child writes after [`REPORT_MARKER`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one per child, never held in bulk
enum ChildReply {
    Report(VerifyReport),
    Error(String),
}

/// Runs [`crate::verify_dir`] on `dir` in a child process under `limits` (see the
/// module docs). `Err` only when the child cannot be started or limited (the program is
/// missing, `prlimit` refused); everything the child does is an [`IsolatedOutcome`].
pub fn verify_isolated(dir: impl AsRef<Path>, limits: &IsolationLimits) -> Result<IsolatedVerify> {
    let dir = dir.as_ref();
    let program = match &limits.program {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| Error::io("current_exe", "", e))?,
    };
    let spawn_err =
        |what: &'static str, e: std::io::Error| Error::io(what, program.display().to_string(), e);
    let started = Instant::now();
    let mut child = Command::new(&program)
        .args(&limits.args)
        .env(
            VERIFY_CHILD_ENV,
            rustix::process::getpid().as_raw_pid().to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_err("spawn verifier", e))?;
    let pid = Pid::from_child(&child);
    let cpu_secs = limits.time.as_secs().saturating_add(1);
    let limited = prlimit(
        Some(pid),
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_secs),
            maximum: Some(cpu_secs.saturating_add(1)),
        },
    )
    .and_then(|_| match limits.memory_bytes {
        Some(m) => prlimit(
            Some(pid),
            Resource::As,
            Rlimit {
                current: Some(m),
                maximum: Some(m),
            },
        )
        .map(drop),
        None => Ok(()),
    });
    if let Err(e) = limited {
        let _ = child.kill();
        let _ = child.wait();
        return Err(spawn_err("limit verifier", e.into()));
    }
    // The request goes only now: the limits are in place before the child verifies.
    let mut stdin = child.stdin.take().expect("piped");
    let sent = stdin.write_all(dir.as_os_str().as_bytes());
    drop(stdin);
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(MAX_STDOUT).read_to_end(&mut buf);
        // Drained past the cap so that the child never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        let from = buf.len().saturating_sub(MAX_STDERR);
        String::from_utf8_lossy(&buf[from..]).into_owned()
    });
    // A limit past what an `Instant` can hold is no wall-clock limit (the CPU one stays).
    let deadline = started.checked_add(limits.time);
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                killed = true;
                break child
                    .wait()
                    .map_err(|e| spawn_err("wait for verifier", e))?;
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_err("wait for verifier", e));
            }
        }
    };
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let out = out_reader.join().unwrap_or_default();
    let err_tail = err_reader.join().unwrap_or_default();
    let detail = || err_tail.trim().to_owned();
    let limit_ms = u64::try_from(limits.time.as_millis()).unwrap_or(u64::MAX);
    let outcome = if killed {
        IsolatedOutcome::TimedOut { limit_ms }
    } else if let Some(sig) = status.signal() {
        if sig == Signal::XCPU.as_raw() {
            IsolatedOutcome::TimedOut { limit_ms }
        } else if sig == Signal::BUS.as_raw() {
            IsolatedOutcome::BusError { detail: detail() }
        } else if sig == Signal::KILL.as_raw() {
            IsolatedOutcome::OutOfMemory {
                limit_bytes: limits.memory_bytes,
                detail: "killed by SIGKILL, not by the caller (the kernel's OOM killer)".to_owned(),
            }
        } else if sig == Signal::ABORT.as_raw() && err_tail.contains("memory allocation of") {
            IsolatedOutcome::OutOfMemory {
                limit_bytes: limits.memory_bytes,
                detail: detail(),
            }
        } else {
            let mut detail = detail();
            if sig == Signal::SEGV.as_raw()
                && let Some(l) = limits.memory_bytes
            {
                // Under an address-space limit a stack that cannot grow is SIGSEGV too.
                detail =
                    format!("{detail} (a stack that could not grow under the {l}-byte limit?)");
            }
            IsolatedOutcome::Crashed {
                signal: Some(sig),
                exit_code: None,
                detail,
            }
        }
    } else if status.code() != Some(0) {
        IsolatedOutcome::Crashed {
            signal: None,
            exit_code: status.code(),
            detail: detail(),
        }
    } else {
        match parse_reply(&out) {
            Ok(ChildReply::Report(report)) => IsolatedOutcome::Verified { report },
            Ok(ChildReply::Error(error)) => IsolatedOutcome::VerifyFailed { error },
            Err(detail) => IsolatedOutcome::BadOutput {
                detail: match sent {
                    Ok(()) => detail,
                    Err(e) => format!("{detail} (sending the request failed: {e})"),
                },
            },
        }
    };
    Ok(IsolatedVerify {
        outcome,
        elapsed_ms,
    })
}

/// The reply on the child's stdout: the last line that starts with [`REPORT_MARKER`].
fn parse_reply(out: &[u8]) -> std::result::Result<ChildReply, String> {
    let marker = REPORT_MARKER.as_bytes();
    let line = out
        .split(|&b| b == b'\n')
        .rev()
        .find_map(|l| l.strip_prefix(marker))
        .ok_or_else(|| {
            format!(
                "no line starting {REPORT_MARKER:?} in {} bytes of output",
                out.len()
            )
        })?;
    serde_json::from_slice(line).map_err(|e| format!("a report line that does not parse: {e}"))
}

/// Whether `env` (the value of [`VERIFY_CHILD_ENV`]) names `parent`: only a process
/// that [`verify_isolated`] spawned acts as a verify child.
fn is_requested_child(env: Option<&std::ffi::OsStr>, parent: Option<Pid>) -> bool {
    let named = env
        .and_then(|v| v.to_str())
        .and_then(|v| v.parse::<i32>().ok());
    matches!((named, parent), (Some(n), Some(p)) if n == p.as_raw_pid())
}

/// The child's side of [`verify_isolated`]: when [`VERIFY_CHILD_ENV`] is set, reads the
/// log directory from stdin, verifies it, prints the reply line and exits the process
/// (code 0, also when the verifier returned an error: the reply says so); otherwise
/// returns at once. Call it first in `main`, before anything writes to stdout.
pub fn run_verify_child_if_requested() {
    if !is_requested_child(
        std::env::var_os(VERIFY_CHILD_ENV).as_deref(),
        rustix::process::getppid(),
    ) {
        return;
    }
    let mut request = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_REQUEST)
        .read_to_end(&mut request)
    {
        eprintln!("storage-std verify child: cannot read the request: {e}");
        std::process::exit(2);
    }
    let dir = PathBuf::from(OsString::from_vec(request));
    let reply = match super::verify_dir(&dir) {
        Ok(r) => ChildReply::Report(r),
        Err(e) => ChildReply::Error(e.to_string()),
    };
    let json = serde_json::to_string(&reply).expect("a report always serializes");
    let mut out = std::io::stdout().lock();
    // On a line of its own, whatever the program printed before (a test harness).
    let written = writeln!(out, "\n{REPORT_MARKER}{json}").and_then(|()| out.flush());
    std::process::exit(if written.is_ok() { 0 } else { 3 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn only_the_named_parent_makes_a_verify_child() {
        let parent = Pid::from_raw(4242);
        assert!(is_requested_child(Some(OsStr::new("4242")), parent));
        // What a shell export or an older parent would set.
        assert!(!is_requested_child(Some(OsStr::new("1")), parent));
        assert!(!is_requested_child(Some(OsStr::new("")), parent));
        assert!(!is_requested_child(Some(OsStr::new("4242x")), parent));
        assert!(!is_requested_child(None, parent));
        // Reparented to no parent at all (or one outside this namespace).
        assert!(!is_requested_child(Some(OsStr::new("4242")), None));
    }
}
