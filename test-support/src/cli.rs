//! Running a command-line binary (in the tests of `ringctl`: `env!("CARGO_BIN_EXE_ringctl")`)
//! and reading what it printed.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished run printed, and its exit code (-1 when killed by a signal).
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

impl Run {
    /// The last line of standard output as JSON (the summary of `--json` runs); panics
    /// with both outputs if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        let line = self.out.lines().last().unwrap_or("");
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "last line is not JSON ({e}): {}\nstderr: {}",
                self.out, self.err
            )
        })
    }
}

/// Runs `bin args` to completion.
pub fn run<S: AsRef<OsStr>>(bin: &str, args: &[S]) -> Run {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `bin args` to completion; a run that takes longer than `limit` is killed and
/// fails the test instead of hanging it.
pub fn run_within<S: AsRef<OsStr> + std::fmt::Debug>(
    bin: &str,
    args: &[S],
    limit: Duration,
) -> Run {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        err: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// The last line of `stdout` as JSON; panics if it is not.
pub fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().expect("a last line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
}

/// The `durable S` lines a log writer printed, in order.
pub fn durable_lines(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("durable "))
        .map(|x| x.parse().unwrap_or_else(|e| panic!("durable {x}: {e}")))
        .collect()
}

/// The number in environment variable `name`, if set; panics on anything else.
pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    )
}
