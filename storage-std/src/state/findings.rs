//! Findings: what the survey found, each in one of the four classes, as data.

use crate::format::StructError;

/// The class of a finding, or of a whole log (the worst of its findings): what a
/// power cut or damage did, and what recovery may do about it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogClass {
    /// Nothing wrong.
    #[default]
    Clean,
    /// Only bytes that were never synced can be damaged: the end of the last segment
    /// within its torn window, a torn segment creation, the unsynced tail of the active
    /// index. Recovery cuts it without being asked.
    TornTail,
    /// Only derived files or an unfinished step are damaged: indexes, consumer offsets,
    /// a seal whose trim was interrupted. Recovery repairs them without being asked.
    Repairable,
    /// Bytes that were synced are damaged. Recovery refuses to change anything without
    /// `force`; with it, it rebuilds what can be rebuilt, records lost ranges, and moves
    /// what it takes out to `quarantine/`.
    Corruption,
}

impl LogClass {
    /// The exit code of `ringctl verify` (and of `recover` and `replay` where they find
    /// this): 0 clean, 3 torn tail only, 4 repairable only, 1 corruption.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Clean => 0,
            Self::TornTail => 3,
            Self::Repairable => 4,
            Self::Corruption => 1,
        }
    }

    /// The name in reports: `clean`, `torn_tail`, `repairable`, `corruption`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::TornTail => "torn_tail",
            Self::Repairable => "repairable",
            Self::Corruption => "corruption",
        }
    }
}

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing, harmless (a leftover temporary file, a lost range recorded by an
    /// earlier `recover --force`).
    Info,
    /// The unsynced end of the log: recovery cuts it on the next open.
    TornTail,
    /// A derived file or an unfinished step: recovery repairs it on the next open.
    Repairable,
    /// Damage to synced bytes: open refuses without `force`.
    Corruption,
}

impl Severity {
    /// The class of the log a finding of this severity puts it in (at least).
    pub fn class(&self) -> LogClass {
        match self {
            Self::Info => LogClass::Clean,
            Self::TornTail => LogClass::TornTail,
            Self::Repairable => LogClass::Repairable,
            Self::Corruption => LogClass::Corruption,
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// A segment header that does not decode.
    BadHeader {
        /// Why.
        error: StructError,
    },
    /// A segment whose header names another base sequence than its file name.
    HeaderMismatch {
        /// Base sequence in the header.
        header_base: u64,
    },
    /// Records that do not decode, or a sequence that is not the expected one.
    BadRecord {
        /// What was found.
        error: String,
        /// The sequence expected there.
        expected_seq: u64,
    },
    /// Valid records found after damage.
    RecordsAfterDamage {
        /// Smallest sequence found.
        first_seq: u64,
        /// Largest sequence found.
        last_seq: u64,
        /// How far after the damage the last one ends.
        distance: u64,
        /// The segment's torn window (0 = unbounded).
        window: u64,
    },
    /// A segment before the last without a valid footer, or a sealed segment whose
    /// records end before its footer.
    MissingFooter {
        /// Why the end is not a footer.
        found: String,
    },
    /// A footer that does not match the records.
    FooterMismatch {
        /// What differs.
        detail: String,
    },
    /// Bytes after a footer (a seal whose trim was interrupted).
    TrailingBytes {
        /// How many.
        bytes: u64,
    },
    /// A segment that does not start where the previous one ended.
    SequenceGap {
        /// The sequence expected.
        expected: u64,
        /// The segment's base.
        found: u64,
    },
    /// A segment file that starts inside what earlier segments hold, or holds nothing of
    /// this log (a stray, duplicated or renamed file).
    StrayFile {
        /// Why it does not fit.
        why: String,
    },
    /// An index file that does not decode or disagrees with its segment.
    BadIndex {
        /// What is wrong.
        detail: String,
    },
    /// A segment without an index.
    MissingIndex,
    /// An index without its segment.
    OrphanIndex,
    /// A consumer offset file that does not decode.
    BadOffset {
        /// Why.
        error: StructError,
    },
    /// A leftover temporary file.
    TempFile,
    /// Sequences an earlier `recover --force` took out of the log (their bytes are in
    /// `quarantine/`).
    Lost {
        /// First lost sequence.
        from: u64,
        /// Last lost sequence.
        to: u64,
    },
    /// The digest chain does not hold (checked by the verifier only: see
    /// `verify::chain`).
    Chain {
        /// What does not match.
        detail: String,
    },
    /// What `quarantine/` holds.
    Quarantine {
        /// Files in it.
        files: u64,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// The file.
    pub file: String,
    /// Byte offset in the file, where it applies.
    pub offset: Option<u64>,
    /// The problem.
    pub problem: Problem,
    /// A sentence for humans.
    pub message: String,
}

/// The class of a log with these findings: the worst of them.
pub fn class_of(findings: &[Finding]) -> LogClass {
    findings
        .iter()
        .map(|f| f.severity.class())
        .max()
        .unwrap_or(LogClass::Clean)
}
