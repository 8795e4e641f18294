//! What the process can learn about itself from `/proc`: peak and anonymous resident
//! memory, bytes passed to write system calls, and the file system a directory is on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Peak resident set size of the process (`VmHWM`), in bytes.
pub fn vm_hwm() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// Resident anonymous memory now (`RssAnon`: heap, stacks; not mapped files), in bytes.
pub fn rss_anon() -> Option<u64> {
    status_kib("RssAnon:").map(|k| k * 1024)
}

/// Resets `VmHWM` to the current RSS (writes `5` to `/proc/self/clear_refs`, Linux 4.0+),
/// so the next [`vm_hwm`] is the peak since now. Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes this process has passed to `write`-family system calls so far (`wchar` in
/// `/proc/self/io`; all threads; not writes through `mmap`).
pub fn wchar() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time (user and system) of the whole process so far, all threads, in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// User CPU time of this process's threads named `name` (summed), in nanoseconds, from
/// `/proc/self/task/*/stat` (clock ticks: 10 ms each where `CLK_TCK` is 100, so only
/// long runs give a usable figure); `None` when no such thread runs or `/proc` is missing.
pub fn threads_user_ns(name: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: state is the 3rd field of
        // the line, utime the 14th.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if let Some(ticks) = rest
            .split_whitespace()
            .nth(11)
            .and_then(|v| v.parse::<u64>().ok())
        {
            *total.get_or_insert(0) += ticks * (1_000_000_000 / TICKS_PER_SECOND);
        }
    }
    total
}

/// `sysconf(_SC_CLK_TCK)` on every Linux architecture the benches run on.
const TICKS_PER_SECOND: u64 = 100;

/// The file system type of `path` (`ext4`, `xfs`, `tmpfs`, ...), from `statfs`.
pub fn fs_type(path: &Path) -> String {
    let Ok(st) = rustix::fs::statfs(path) else {
        return "unknown".into();
    };
    // Magic numbers from linux/magic.h.
    match st.f_type as u64 {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x6573_5546 => "fuse".into(),
        0x2FC1_2FC1 => "zfs".into(),
        0xF2F5_2010 => "f2fs".into(),
        0x6969 => "nfs".into(),
        other => format!("fs magic {other:#x}"),
    }
}

/// Samples `RssAnon` every few milliseconds on a thread of its own and keeps the largest
/// value: the peak anonymous memory of a variant (mapped file pages excluded).
#[derive(Debug)]
pub struct AnonSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl AnonSampler {
    /// Starts sampling every `period`.
    pub fn start(period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_anon().unwrap_or(0)));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(v) = rss_anon() {
                        p.fetch_max(v, Ordering::Relaxed);
                    }
                    std::thread::sleep(period);
                }
            })
            .ok();
        Self { stop, peak, handle }
    }

    /// Stops sampling and returns the peak in bytes (one last sample included).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Some(v) = rss_anon() {
            self.peak.fetch_max(v, Ordering::Relaxed);
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for AnonSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
