//! The verifier: every record's CRC, sequence continuity within and across segments,
//! headers, footers, indexes and consumer offsets, reported as findings in the classes
//! of [`crate::state`] (the rules recovery applies too, so `verify` and `recover` never
//! disagree on a directory). It reads through positioned reads (never maps), takes no
//! lock, never writes, and never panics on any input. A file it cannot read is an
//! error, not a finding.
//!
//! On a live log (a writer holds the lock) it checks up to the durable point the writer
//! published and calls nothing past it torn: that part is still being written.
//!
//! It also walks the BLAKE3 digest chain ([`crate::format::chain`]) in one streaming
//! pass: every chained footer's digest against its records, every footer's `prev`
//! against the segment before it (or the recorded front cut), and, when given, the end
//! against a sealed run's manifest and a digest kept outside the log
//! ([`VerifyOptions`]). Chain findings are corruption for `verify` only: recovery does
//! not read the chain (a tampered log is not damage it could repair).

use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::format::{self, DurablePoint};
use crate::segment::read_durable;
use crate::state::{self, SurveyOpts, Verdict};

pub(crate) mod chain;

pub use crate::chain_files::{record_chain_front, write_chain_front};
pub use chain::{ChainReport, ExpectDigest, SealedRun};

pub use crate::state::{Finding, LogClass, Problem, Severity};

/// The overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerifyStatus {
    /// No damage (info findings may exist).
    Clean,
    /// Only a torn tail.
    TornTail,
    /// Only derived files or an unfinished trim (recovery repairs them).
    Repairable,
    /// Corruption somewhere.
    Corrupt,
}

impl VerifyStatus {
    /// The exit code of `ringctl verify`: 0 clean, 3 torn tail only, 4 repairable only,
    /// 1 corruption.
    pub fn exit_code(&self) -> i32 {
        self.class().exit_code()
    }

    /// The class this status stands for.
    pub fn class(&self) -> LogClass {
        match self {
            Self::Clean => LogClass::Clean,
            Self::TornTail => LogClass::TornTail,
            Self::Repairable => LogClass::Repairable,
            Self::Corrupt => LogClass::Corruption,
        }
    }

    pub(crate) fn of(class: LogClass) -> Self {
        match class {
            LogClass::Clean => Self::Clean,
            LogClass::TornTail => Self::TornTail,
            LogClass::Repairable => Self::Repairable,
            LogClass::Corruption => Self::Corrupt,
        }
    }
}

/// What the verifier found in one segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SegmentCheck {
    /// File name.
    pub name: String,
    /// Base sequence from the name.
    pub base_seq: u64,
    /// Whether it ends with a valid footer.
    pub sealed: bool,
    /// Good records (the valid prefix).
    pub records: u64,
    /// Last good sequence.
    pub last_seq: Option<u64>,
    /// First good record's timestamp.
    pub first_ts: Option<u64>,
    /// Last good record's timestamp.
    pub last_ts: Option<u64>,
    /// File size.
    pub bytes: u64,
    /// Where the good records end.
    pub records_end: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Sequences recorded as lost in it (by an earlier `recover --force`).
    pub lost: u64,
}

/// A live log: a writer held the lock while the verifier ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct LiveCheck {
    /// The writer's published durable point (absent if it published none yet).
    pub durable: Option<DurablePoint>,
    /// Every sequence up to and including this one was checked and is durable.
    pub durable_seq: Option<u64>,
}

/// The verifier's report; serialize it for JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Clean, torn tail, repairable or corrupt.
    pub status: VerifyStatus,
    /// The same as a class: what `ringctl recover` reports as `found`.
    pub class: LogClass,
    /// Present when a writer holds the log: checked up to its durable point.
    pub live: Option<LiveCheck>,
    /// Per segment.
    pub segments: Vec<SegmentCheck>,
    /// Everything found, in file order.
    pub findings: Vec<Finding>,
    /// First sequence of the log.
    pub first_seq: Option<u64>,
    /// Last good sequence of the log.
    pub last_seq: Option<u64>,
    /// Good records in all segments.
    pub records: u64,
    /// Bytes in all segment files.
    pub bytes: u64,
    /// The digest chain's check.
    #[serde(default)]
    pub chain: ChainReport,
}

json_text_form!(VerifyReport, "verify report");

/// What to check the log against besides itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// A digest kept outside the log (`ringctl verify --expect-digest`): the only check
    /// that catches someone who rewrote segments and manifest consistently.
    pub expect: Option<ExpectDigest>,
    /// A sealed run's end: the log must end at its last sequence with its final digest
    /// (catches segments deleted from the end).
    pub sealed_run: Option<SealedRun>,
    /// A recording's manifest records a truncation under way that keeps the sequences
    /// up to this one (`truncating_after`, which a crash left): a log that ends there
    /// (or before) is the cut already swapped in, not segments deleted from the end.
    /// Reported as repairable (the manifest's end is settled by a recovery or the
    /// truncation run again) instead of checked against the sealed run's end.
    pub truncating_after: Option<u64>,
}

/// Builders: `VerifyOptions` is `#[non_exhaustive]` (an option added later is not a breaking
/// change), so it is built from its default with these.
impl VerifyOptions {
    /// Sets [`VerifyOptions::expect`].
    #[must_use]
    pub fn with_expect(mut self, expect: Option<ExpectDigest>) -> Self {
        self.expect = expect;
        self
    }

    /// Sets [`VerifyOptions::sealed_run`].
    #[must_use]
    pub fn with_sealed_run(mut self, sealed_run: Option<SealedRun>) -> Self {
        self.sealed_run = sealed_run;
        self
    }

    /// Sets [`VerifyOptions::truncating_after`].
    #[must_use]
    pub fn with_truncating_after(mut self, kept: Option<u64>) -> Self {
        self.truncating_after = kept;
        self
    }
}

/// Verifies a log on any backend. Errors when a file cannot be read (or is of a format
/// version this build does not read); everything else is a finding.
///
/// ```
/// use storage_std::{verify, Durability, VerifyStatus, Writer, WriterOptions};
/// use storage_std::backend::{Backend, MemBackend};
/// use std::sync::Arc;
/// let b: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// let w: Writer = Writer::open_with(b.clone(), WriterOptions::new(Durability::Sync)).unwrap();
/// w.append(b"x").unwrap();
/// w.close().unwrap();
/// assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
/// ```
pub fn verify(backend: &Arc<dyn Backend>) -> Result<VerifyReport> {
    verify_with(backend, &VerifyOptions::default())
}

/// [`verify`] against a digest kept outside the log and/or a sealed run's end.
///
/// ```
/// use storage_std::{verify_with, Durability, ExpectDigest, VerifyOptions, VerifyStatus,
///     Writer, WriterOptions};
/// use storage_std::backend::{Backend, MemBackend};
/// use std::sync::Arc;
/// let b: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// let w: Writer = Writer::open_with(b.clone(), WriterOptions::new(Durability::Sync)).unwrap();
/// w.append(b"x").unwrap();
/// let (seq, digest) = w.stats().chain.unwrap();
/// w.close().unwrap();
/// let opts = VerifyOptions::default().with_expect(Some(ExpectDigest { digest, seq: Some(seq) }));
/// assert_eq!(verify_with(&b, &opts).unwrap().status, VerifyStatus::Clean);
/// let wrong =
///     VerifyOptions::default().with_expect(Some(ExpectDigest { digest: [0; 32], seq: None }));
/// assert_eq!(verify_with(&b, &wrong).unwrap().status, VerifyStatus::Corrupt);
/// ```
pub fn verify_with(backend: &Arc<dyn Backend>, opts: &VerifyOptions) -> Result<VerifyReport> {
    let backend = &**backend;
    let live = live_point(backend)?;
    let s = state::survey(
        backend,
        &SurveyOpts {
            deep: true,
            index_interval: 64 << 10,
            live: live.map(|l| l.unwrap_or(unknown_point(backend))),
        },
    )?;
    let class = s.class();
    let mut segments = Vec::with_capacity(s.segs.len());
    for v in &s.segs {
        let sc = v.scan.as_ref();
        let records = sc.map_or(0, |x| x.stats.count);
        let covers = sc.is_some_and(|x| x.stats.covers_any());
        segments.push(SegmentCheck {
            name: v.name.clone(),
            base_seq: v.base,
            sealed: matches!(v.verdict, Verdict::Sealed | Verdict::Trailing { .. })
                || v.footer_at_end.is_some(),
            records,
            last_seq: sc
                .filter(|_| covers)
                .map(|x| x.end.next_seq.wrapping_sub(1)),
            first_ts: sc.and_then(|x| x.stats.first_ts),
            last_ts: sc.filter(|x| x.stats.count > 0).map(|x| x.stats.last_ts),
            bytes: v.len,
            records_end: sc.map_or(0, |x| x.end.pos),
            index_entries: sc.map_or(0, |x| x.index.entries.len() as u64),
            lost: sc.map_or(0, |x| x.stats.lost),
        });
    }
    let first_seq = segments.first().map(|s| s.base_seq);
    let last_seq = segments.iter().rev().find_map(|s| s.last_seq);
    let mut findings = s.findings;
    let chain = chain::check(
        backend,
        &segments,
        opts.expect.as_ref(),
        opts.sealed_run.as_ref(),
        opts.truncating_after,
        &mut findings,
    )?;
    let class = class.max(state::class_of(&findings));
    Ok(VerifyReport {
        status: VerifyStatus::of(class),
        class,
        live: live.map(|durable| LiveCheck {
            durable,
            durable_seq: durable.and_then(|d| d.next_seq.checked_sub(1)),
        }),
        records: segments.iter().map(|s| s.records).sum(),
        bytes: segments.iter().map(|s| s.bytes).sum(),
        segments,
        findings,
        first_seq,
        last_seq,
        chain,
    })
}

/// `Some` when a writer holds the lock, with its published durable point if any.
pub(crate) fn live_point(backend: &dyn Backend) -> Result<Option<Option<DurablePoint>>> {
    let held = backend
        .lock_held()
        .map_err(|e| Error::io("lock", format::LOCK_FILE, e))?;
    Ok(held.then(|| read_durable(backend)))
}

/// A durable point that checks nothing of the last segment: a writer holds the lock
/// but published none yet.
fn unknown_point(backend: &dyn Backend) -> DurablePoint {
    let last = crate::segment::list(backend)
        .ok()
        .and_then(|l| l.segments.last().copied())
        .unwrap_or(0);
    DurablePoint {
        segment: last,
        records_end: 0,
        next_seq: 0,
        pid: 0,
        updated_ns: 0,
    }
}
