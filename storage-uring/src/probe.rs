//! Whether io_uring can be used here, and if not, why: the kernel is too old, io_uring
//! is disabled by the administrator, a seccomp filter blocks it, an opcode is missing.

use std::io;

/// Oldest kernel this backend runs on: 5.6 brought `IORING_REGISTER_PROBE` and
/// `IORING_OP_WRITE`; linked `writev` + `fsync` and fixed buffers are older.
pub const MIN_KERNEL: (u32, u32) = (5, 6);

/// Why io_uring cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Not Linux: io_uring does not exist here.
    #[error("io_uring is Linux-only; this build targets {os}")]
    Unsupported {
        /// The target OS.
        os: &'static str,
    },
    /// The kernel predates what this backend needs, or was built without io_uring.
    #[error(
        "kernel {release} is too old for io_uring here (needs {need_major}.{need_minor}): {detail}"
    )]
    KernelTooOld {
        /// `uname -r`.
        release: String,
        /// Oldest major version supported.
        need_major: u32,
        /// Oldest minor version supported.
        need_minor: u32,
        /// What gave it away.
        detail: String,
    },
    /// `/proc/sys/kernel/io_uring_disabled` forbids it (1: only for members of
    /// `io_uring_group` or CAP_SYS_ADMIN, 2: for everyone).
    #[error(
        "io_uring is disabled by the administrator: /proc/sys/kernel/io_uring_disabled = {value}"
    )]
    Disabled {
        /// The sysctl's value.
        value: u32,
    },
    /// A seccomp filter (a container runtime's default profile, a sandbox) refused
    /// `io_uring_setup`.
    #[error("io_uring_setup is blocked by a seccomp filter (errno {errno}: {})", io::Error::from_raw_os_error(*errno))]
    Seccomp {
        /// The errno the filter returned (EPERM or ENOSYS).
        errno: i32,
    },
    /// `io_uring_setup` failed with EPERM without a seccomp filter or the sysctl (an
    /// LSM policy such as SELinux or AppArmor).
    #[error(
        "io_uring_setup was denied (EPERM) although io_uring_disabled = 0 and no seccomp filter is active; a security module may forbid it"
    )]
    PermissionDenied,
    /// The kernel lacks an operation the backend uses.
    #[error("kernel {release} does not support the io_uring opcode {opcode}")]
    MissingOpcode {
        /// The operation, e.g. `IORING_OP_WRITEV`.
        opcode: &'static str,
        /// `uname -r`.
        release: String,
    },
    /// `io_uring_setup` ran out of locked memory (RLIMIT_MEMLOCK on kernels before
    /// 5.12) or memory.
    #[error("io_uring_setup hit a memory limit (ENOMEM; RLIMIT_MEMLOCK on kernels before 5.12)")]
    ResourceLimit,
    /// Anything else, with the OS error.
    #[error("io_uring setup failed: {0}")]
    Setup(#[source] io::Error),
}

impl ProbeError {
    /// A short stable name for reports: `unsupported`, `kernel_too_old`, `disabled`,
    /// `seccomp`, `permission_denied`, `missing_opcode`, `resource_limit`, `setup`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => "unsupported",
            Self::KernelTooOld { .. } => "kernel_too_old",
            Self::Disabled { .. } => "disabled",
            Self::Seccomp { .. } => "seccomp",
            Self::PermissionDenied => "permission_denied",
            Self::MissingOpcode { .. } => "missing_opcode",
            Self::ResourceLimit => "resource_limit",
            Self::Setup(_) => "setup",
        }
    }
}

/// What the probe found on a working system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeInfo {
    /// `uname -r`.
    pub kernel: String,
    /// Submission and completion queue sizes of the probe ring.
    pub queue_sizes: (u32, u32),
    /// Whether `IORING_OP_WRITE_FIXED` (registered buffers) is available.
    pub write_fixed: bool,
}

/// `major.minor` from a `uname -r` string such as `6.8.0-45-generic`.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The `Seccomp:` mode from `/proc/self/status` (0 off, 1 strict, 2 filter).
pub fn parse_seccomp(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What the system looks like around a failed `io_uring_setup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupContext {
    /// `uname -r`.
    pub release: String,
    /// `/proc/sys/kernel/io_uring_disabled` (absent before 6.6).
    pub disabled: Option<u32>,
    /// Seccomp mode of this process.
    pub seccomp: Option<u32>,
}

/// Names the reason for an `io_uring_setup` failure with `errno`.
pub fn classify_setup_error(errno: i32, ctx: &SetupContext) -> ProbeError {
    const EPERM: i32 = 1;
    const ENOMEM: i32 = 12;
    const ENOSYS: i32 = 38;
    let filtered = ctx.seccomp.is_some_and(|m| m != 0);
    match errno {
        EPERM if ctx.disabled.is_some_and(|v| v >= 1) => ProbeError::Disabled {
            value: ctx.disabled.unwrap_or(1),
        },
        EPERM | ENOSYS if filtered => ProbeError::Seccomp { errno },
        EPERM => ProbeError::PermissionDenied,
        ENOSYS => ProbeError::KernelTooOld {
            release: ctx.release.clone(),
            need_major: MIN_KERNEL.0,
            need_minor: MIN_KERNEL.1,
            detail: "io_uring_setup is not implemented (ENOSYS: before 5.1, or built without CONFIG_IO_URING)".into(),
        },
        ENOMEM => ProbeError::ResourceLimit,
        e => ProbeError::Setup(io::Error::from_raw_os_error(e)),
    }
}

/// Checks the kernel release against [`MIN_KERNEL`].
pub fn check_release(release: &str) -> Result<(), ProbeError> {
    match parse_release(release) {
        Some(v) if v < MIN_KERNEL => Err(ProbeError::KernelTooOld {
            release: release.to_owned(),
            need_major: MIN_KERNEL.0,
            need_minor: MIN_KERNEL.1,
            detail: format!("running {}.{}", v.0, v.1),
        }),
        _ => Ok(()),
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn context() -> SetupContext {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    SetupContext {
        release: rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
        disabled: read("/proc/sys/kernel/io_uring_disabled").and_then(|s| s.trim().parse().ok()),
        seccomp: read("/proc/self/status").as_deref().and_then(parse_seccomp),
    }
}

/// Checks that io_uring works here: the administrator's switch, the kernel version, a
/// ring set up for real, every opcode the backend uses, and a no-op round trip.
///
/// ```
/// match storage_uring::probe() {
///     Ok(info) => println!("io_uring on {}", info.kernel),
///     Err(e) => println!("no io_uring ({}): {e}", e.kind()),
/// }
/// ```
pub fn probe() -> Result<ProbeInfo, ProbeError> {
    imp::probe(false).map(|(info, _)| info)
}

#[cfg(target_os = "linux")]
pub(crate) mod imp {
    use super::*;
    use crate::sys::{Op, Ring, RingSetup};
    use io_uring::opcode;

    /// Probes with a throwaway ring; `fixed` also requires `WRITE_FIXED`.
    pub(crate) fn probe(fixed: bool) -> Result<(ProbeInfo, SetupContext), ProbeError> {
        let ctx = context();
        if ctx.disabled == Some(2) {
            return Err(ProbeError::Disabled { value: 2 });
        }
        check_release(&ctx.release)?;
        let mut ring = Ring::new(&RingSetup {
            sq_entries: 4,
            sqpoll_idle: None,
            stage_bytes: 0,
            register_stage: false,
        })
        .map_err(|e| match e.raw_os_error() {
            Some(errno) => classify_setup_error(errno, &ctx),
            None => ProbeError::Setup(e),
        })?;
        let info = check_ring(&mut ring, &ctx, fixed)?;
        Ok((info, ctx))
    }

    /// Checks the opcodes of a ring and runs a no-op through it.
    pub(crate) fn check_ring(
        ring: &mut Ring,
        ctx: &SetupContext,
        fixed: bool,
    ) -> Result<ProbeInfo, ProbeError> {
        let p = match ring.probe() {
            Ok(p) => p,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(ProbeError::KernelTooOld {
                    release: ctx.release.clone(),
                    need_major: MIN_KERNEL.0,
                    need_minor: MIN_KERNEL.1,
                    detail: "IORING_REGISTER_PROBE is not supported".into(),
                });
            }
            Err(e) => return Err(ProbeError::Setup(e)),
        };
        let mut needed = vec![
            (opcode::Nop::CODE, "IORING_OP_NOP"),
            (opcode::Write::CODE, "IORING_OP_WRITE"),
            (opcode::Writev::CODE, "IORING_OP_WRITEV"),
            (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
        ];
        if fixed {
            needed.push((opcode::WriteFixed::CODE, "IORING_OP_WRITE_FIXED"));
        }
        for (code, name) in needed {
            if !p.is_supported(code) {
                return Err(ProbeError::MissingOpcode {
                    opcode: name,
                    release: ctx.release.clone(),
                });
            }
        }
        let mut res = [1];
        match ring.run_chain(&[Op::Nop], &mut res) {
            Ok(_) if res[0] == 0 => {}
            Ok(_) => {
                return Err(ProbeError::Setup(io::Error::other(format!(
                    "a no-op completed with {}",
                    res[0]
                ))));
            }
            Err(e) => return Err(ProbeError::Setup(e)),
        }
        Ok(ProbeInfo {
            kernel: ctx.release.clone(),
            queue_sizes: ring.sizes(),
            write_fixed: p.is_supported(opcode::WriteFixed::CODE),
        })
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) mod imp {
    use super::*;

    pub(crate) fn probe(_fixed: bool) -> Result<(ProbeInfo, SetupContext), ProbeError> {
        Err(ProbeError::Unsupported {
            os: std::env::consts::OS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(disabled: Option<u32>, seccomp: Option<u32>) -> SetupContext {
        SetupContext {
            release: "6.1.0".into(),
            disabled,
            seccomp,
        }
    }

    #[test]
    fn releases_and_seccomp_modes_parse() {
        assert_eq!(parse_release("6.18.44-fc-v857"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_release("4.19"), Some((4, 19)));
        assert_eq!(parse_release("weird"), None);
        assert_eq!(
            parse_seccomp("Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n"),
            Some(2)
        );
        assert_eq!(parse_seccomp("Name:\tx\n"), None);
        assert!(check_release("6.1.0").is_ok());
        assert!(check_release("5.6.0").is_ok());
        let e = check_release("5.4.0-150-generic").unwrap_err();
        assert_eq!(e.kind(), "kernel_too_old");
        assert!(e.to_string().contains("5.4.0-150-generic"), "{e}");
        assert!(e.to_string().contains("needs 5.6"), "{e}");
    }

    #[test]
    fn setup_errors_name_their_cause() {
        assert_eq!(
            classify_setup_error(1, &ctx(Some(1), None)).kind(),
            "disabled"
        );
        assert_eq!(
            classify_setup_error(1, &ctx(Some(0), Some(2))).kind(),
            "seccomp"
        );
        assert_eq!(
            classify_setup_error(38, &ctx(None, Some(2))).kind(),
            "seccomp"
        );
        assert_eq!(
            classify_setup_error(1, &ctx(Some(0), Some(0))).kind(),
            "permission_denied"
        );
        assert_eq!(
            classify_setup_error(38, &ctx(None, Some(0))).kind(),
            "kernel_too_old"
        );
        assert_eq!(
            classify_setup_error(12, &ctx(None, None)).kind(),
            "resource_limit"
        );
        assert_eq!(classify_setup_error(22, &ctx(None, None)).kind(), "setup");
        let e = classify_setup_error(1, &ctx(Some(0), Some(2)));
        assert!(e.to_string().contains("seccomp"), "{e}");
        let e = classify_setup_error(1, &ctx(Some(1), None));
        assert!(e.to_string().contains("io_uring_disabled = 1"), "{e}");
    }

    #[test]
    #[cfg_attr(miri, ignore)] // io_uring syscalls
    #[cfg(target_os = "linux")]
    fn this_machine_has_io_uring() {
        if !crate::io_uring_tests_enabled("this_machine_has_io_uring") {
            return;
        }
        let info = probe().expect("io_uring works on this machine and on CI");
        assert!(info.queue_sizes.1 >= 2 * info.queue_sizes.0);
        assert!(parse_release(&info.kernel).is_some());
    }
}
