//! Raw io_uring write+sync options, timed: the measurements behind the defaults.
//!
//! [`time_groups`] writes `groups` groups of `group_bytes` back to back into an existing
//! file (written in full beforehand, so no write allocates or converts an extent), each
//! made durable one way ([`DurableWrite`]), through the page cache or `O_DIRECT`, from a
//! plain or a registered buffer, and returns each group's time from submission to the
//! completion that says it is durable. The `uring_options` bin of `benches` prints
//! MB/s and percentiles from it.
//!
//! ```no_run
//! use storage_uring::measure::{DurableWrite, GroupSpec, time_groups};
//! let path = std::path::Path::new("/var/tmp/prewritten");
//! std::fs::write(path, vec![0u8; 16 << 20])?;
//! let spec = GroupSpec {
//!     method: DurableWrite::LinkedFdatasync,
//!     direct: false,
//!     registered: false,
//!     group_bytes: 256 << 10,
//!     groups: 32,
//! };
//! let times = time_groups(path, &spec)?;
//! assert_eq!(times.len(), 32);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys::{BLOCK, Op, Ring, RingSetup};

/// How a group's write is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurableWrite {
    /// A write linked to an `fdatasync` (`IOSQE_IO_LINK`), one submission (the
    /// backend's way today).
    LinkedFdatasync,
    /// One write with `RWF_DSYNC`: it completes when its data is durable.
    RwfDsync,
    /// One write on a descriptor opened with `O_DSYNC`.
    ODsync,
}

impl DurableWrite {
    /// Every method.
    pub const ALL: [Self; 3] = [Self::LinkedFdatasync, Self::RwfDsync, Self::ODsync];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkedFdatasync => "write+fdatasync",
            Self::RwfDsync => "RWF_DSYNC",
            Self::ODsync => "O_DSYNC",
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSpec {
    /// How each group is made durable.
    pub method: DurableWrite,
    /// Write with `O_DIRECT` (group sizes and offsets are multiples of 4 KiB).
    pub direct: bool,
    /// Write from a buffer registered with the ring (`WRITE_FIXED`).
    pub registered: bool,
    /// Bytes per group (a multiple of 4 KiB, at most 64 MiB).
    pub group_bytes: usize,
    /// Groups to time.
    pub groups: usize,
}

/// Times `spec.groups` durable groups written back to back into `path` from offset 0,
/// wrapping at the file's end; the file must exist and be at least one group long.
/// Every completion is checked: a short write or a failed sync is an error.
pub fn time_groups(path: &Path, spec: &GroupSpec) -> io::Result<Vec<Duration>> {
    let g = spec.group_bytes;
    if g == 0 || !g.is_multiple_of(BLOCK) || g > 64 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "group_bytes must be a multiple of 4 KiB up to 64 MiB",
        ));
    }
    let len = std::fs::metadata(path)?.len();
    let slots = len / g as u64;
    if slots == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the file is shorter than one group",
        ));
    }
    let mut flags = 0;
    if spec.direct {
        flags |= libc::O_DIRECT;
    }
    if spec.method == DurableWrite::ODsync {
        flags |= libc::O_DSYNC;
    }
    let file: File = OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)?;
    let fd = file.as_raw_fd();
    // O_DIRECT needs an aligned buffer: the ring's staging buffer (registered or not).
    let staged = spec.direct || spec.registered;
    let mut ring = Ring::new(&RingSetup {
        sq_entries: 4,
        sqpoll_idle: None,
        stage_bytes: if staged { g } else { 0 },
        register_stage: spec.registered,
    })?;
    if spec.registered && !ring.registered() {
        return Err(io::Error::other(
            "registering the buffer failed (memlock limit?)",
        ));
    }
    let mut heap = Vec::new();
    if staged {
        ringlog_fill(ring.stage_mut());
    } else {
        heap = vec![0u8; g];
        ringlog_fill(&mut heap);
    }
    let mut times = Vec::with_capacity(spec.groups);
    let mut res = [0i32; 2];
    for i in 0..spec.groups {
        let offset = (i as u64 % slots) * g as u64;
        let write = match (staged, spec.method) {
            (true, DurableWrite::RwfDsync) => Op::StagedDsync {
                fd,
                offset,
                range: 0..g,
            },
            (true, _) => Op::Staged {
                fd,
                offset,
                range: 0..g,
            },
            (false, DurableWrite::RwfDsync) => Op::WriteDsync {
                fd,
                offset,
                buf: &heap,
            },
            (false, _) => Op::Write {
                fd,
                offset,
                buf: &heap,
            },
        };
        let t = Instant::now();
        let n = if spec.method == DurableWrite::LinkedFdatasync {
            let ops = [write, Op::Sync { fd, data: true }];
            ring.run_chain(&ops, &mut res)?;
            2
        } else {
            ring.run_chain(&[write], &mut res[..1])?;
            1
        };
        times.push(t.elapsed());
        if res[0] < 0 {
            return Err(io::Error::from_raw_os_error(-res[0]));
        }
        if res[0] as usize != g {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {} of {g} bytes", res[0]),
            ));
        }
        if n == 2 && res[1] < 0 {
            return Err(io::Error::from_raw_os_error(-res[1]));
        }
    }
    Ok(times)
}

/// Non-zero bytes (zeros could be special-cased by a device).
fn ringlog_fill(b: &mut [u8]) {
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method and mode writes the group's bytes where it says (on a file system
    /// that refuses O_DIRECT, such as tmpfs, the direct modes report that error).
    #[cfg_attr(miri, ignore)]
    #[test]
    fn every_option_writes_its_groups() {
        // Fails where io_uring is missing, unless the machine says so on purpose.
        if !crate::io_uring_tests_enabled("every_option_writes_its_groups") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![0u8; 64 << 10]).unwrap();
        for method in DurableWrite::ALL {
            for direct in [false, true] {
                for registered in [false, true] {
                    std::fs::write(&path, vec![0u8; 64 << 10]).unwrap();
                    let spec = GroupSpec {
                        method,
                        direct,
                        registered,
                        group_bytes: 16 << 10,
                        groups: 3,
                    };
                    match time_groups(&path, &spec) {
                        Ok(t) => assert_eq!(t.len(), 3),
                        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => continue,
                        Err(e) if registered && e.to_string().contains("memlock") => continue,
                        Err(e) => panic!("{spec:?}: {e}"),
                    }
                    let bytes = std::fs::read(&path).unwrap();
                    let mut want = vec![0u8; 16 << 10];
                    ringlog_fill(&mut want);
                    assert_eq!(&bytes[..48 << 10], want.repeat(3).as_slice(), "{spec:?}");
                    assert!(bytes[48 << 10..].iter().all(|&b| b == 0), "{spec:?}");
                }
            }
        }
        let bad = GroupSpec {
            method: DurableWrite::ODsync,
            direct: false,
            registered: false,
            group_bytes: 1000,
            groups: 1,
        };
        assert!(time_groups(&path, &bad).is_err());
    }
}
