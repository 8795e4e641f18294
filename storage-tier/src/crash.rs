//! Named crash steps for the crash tests: with `RINGLOG_TIER_CRASH_AT=STEP` in the
//! environment, the tiering task aborts the process (SIGABRT, no unwinding, no cleanup)
//! when it reaches that step.

/// The environment variable that names the step.
pub const CRASH_ENV: &str = "RINGLOG_TIER_CRASH_AT";

/// A step at which the process can be made to abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The object is uploaded and verified; the manifest does not name it yet.
    AfterUpload,
    /// Both manifests name the segment; the local copy is not deleted yet.
    AfterManifest,
    /// A multipart upload has its first part; it is neither completed nor aborted.
    MidMultipart,
    /// Cold retention rewrote the manifests; the objects are not deleted yet.
    AfterRetentionManifest,
}

impl CrashPoint {
    /// Every step, for tests and help texts.
    pub const ALL: [CrashPoint; 4] = [
        Self::AfterUpload,
        Self::AfterManifest,
        Self::MidMultipart,
        Self::AfterRetentionManifest,
    ];

    /// The step's name, as the environment variable spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::AfterUpload => "after_upload",
            Self::AfterManifest => "after_manifest",
            Self::MidMultipart => "mid_multipart",
            Self::AfterRetentionManifest => "after_retention_manifest",
        }
    }

    /// The step named by [`CRASH_ENV`], if any.
    pub fn from_env() -> Option<Self> {
        let v = std::env::var(CRASH_ENV).ok()?;
        Self::ALL.into_iter().find(|c| c.name() == v)
    }
}

/// Aborts the process if `armed` is `at`.
pub(crate) fn crash_point(armed: Option<CrashPoint>, at: CrashPoint) {
    if armed == Some(at) {
        std::process::abort();
    }
}
