//! Retention: deleting whole sealed segments by age, total size or count, optionally
//! keeping those a named consumer has not read yet.

use std::sync::Mutex;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::{Error, OpCtx, Result};
use crate::format;
use crate::offsets::OffsetStore;
use crate::segment::{self, SegmentInfo, retire_segment_files};

/// Which consumers' unread records retention keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeepUnread {
    /// None: retention ignores consumer offsets.
    #[default]
    No,
    /// Every consumer with a committed offset.
    AllConsumers,
    /// These consumers (one without a committed offset has read nothing, so it keeps
    /// everything).
    Consumers(Vec<String>),
}

/// When sealed segments are deleted (oldest first; the active segment never is). A
/// segment goes while any limit is exceeded, unless a kept consumer has not read all of
/// it; retention stops at the first segment it must keep, so the log stays contiguous.
///
/// Retention deletes whole segments only: a limit is met to within one segment, and a
/// reader that asks for a deleted sequence gets [`crate::Error::NotRetained`].
///
/// ```
/// use storage_std::{Durability, KeepUnread, RetentionPolicy, Writer, WriterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let opts = WriterOptions::new(Durability::group()).with_segment_bytes(4096);
/// let w: Writer = Writer::open(dir.path(), opts).unwrap();
/// for _ in 0..200 {
///     w.append(&[7; 100]).unwrap(); // 28 records fill a 4 KiB segment
/// }
/// w.sync().unwrap();
/// let sealed = w.segments();
/// assert!(sealed.len() >= 5);
/// // Consumer "audit" has read into the third segment.
/// w.offsets().commit("audit", sealed[2].base_seq + 1).unwrap();
/// let keep_audit = RetentionPolicy::default()
///     .with_max_segments(Some(1))
///     .with_keep_unread(KeepUnread::Consumers(vec!["audit".into()]));
/// let r = w.apply_retention(&keep_audit).unwrap();
/// // Only what "audit" has read completely went, although the limit asks for more.
/// assert_eq!(r.deleted.len(), 2);
/// assert_eq!(r.held_by.as_deref(), Some("audit"));
/// // Without a consumer to keep, the limit wins; the active segment always stays.
/// let all = RetentionPolicy::default().with_max_segments(Some(1));
/// w.apply_retention(&all).unwrap();
/// assert!(w.segments().is_empty());
/// assert_eq!(w.reader(storage_std::ReadLimit::Durable).segments().unwrap().len(), 1);
/// w.close().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Delete segments sealed longer ago than this.
    #[serde(rename = "max_age_ns", with = "crate::time::opt_duration_ns")]
    pub max_age: Option<Duration>,
    /// Delete while all segments together are larger than this.
    pub max_total_bytes: Option<u64>,
    /// Delete while there are more segments than this (the active one counts).
    pub max_segments: Option<usize>,
    /// Keep segments these consumers have not read.
    pub keep_unread: KeepUnread,
}

/// Builders: the policy is `#[non_exhaustive]` (a limit added later is not a breaking
/// change), so it is built from [`RetentionPolicy::default`] (no limit, keeps nothing
/// unread) with these; a struct literal does not compile outside this crate:
///
/// ```compile_fail
/// let p = storage_std::RetentionPolicy { max_segments: Some(2), ..Default::default() };
/// ```
///
/// ```compile_fail
/// // An exhaustive match would break when a way to keep is added.
/// fn name(k: &storage_std::KeepUnread) -> &str {
///     match k {
///         storage_std::KeepUnread::No => "no",
///         storage_std::KeepUnread::AllConsumers => "all",
///         storage_std::KeepUnread::Consumers(_) => "some",
///     }
/// }
/// ```
impl RetentionPolicy {
    /// Sets [`RetentionPolicy::max_age`].
    #[must_use]
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`RetentionPolicy::max_total_bytes`].
    #[must_use]
    pub fn with_max_total_bytes(mut self, max_total_bytes: Option<u64>) -> Self {
        self.max_total_bytes = max_total_bytes;
        self
    }

    /// Sets [`RetentionPolicy::max_segments`].
    #[must_use]
    pub fn with_max_segments(mut self, max_segments: Option<usize>) -> Self {
        self.max_segments = max_segments;
        self
    }

    /// Sets [`RetentionPolicy::keep_unread`].
    #[must_use]
    pub fn with_keep_unread(mut self, keep_unread: KeepUnread) -> Self {
        self.keep_unread = keep_unread;
        self
    }
}

/// What retention deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RetentionReport {
    /// The deleted segments, oldest first.
    pub deleted: Vec<SegmentInfo>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// The consumer whose unread records stopped retention, if one did.
    pub held_by: Option<String>,
}

json_text_form!(RetentionReport, "retention report");

pub(crate) fn apply_retention(
    backend: &dyn Backend,
    catalog: &Mutex<Vec<SegmentInfo>>,
    policy: &RetentionPolicy,
    now_ns: u64,
) -> Result<RetentionReport> {
    let mut sealed = catalog.lock().unwrap_or_else(|e| e.into_inner());
    let listing = segment::list(backend)?;
    // Segments moved away meanwhile (a cold tier's mover) are gone already, not errors.
    sealed.retain(|s| listing.segments.binary_search(&s.base_seq).is_ok());
    let mut count = listing.segments.len();
    let mut total: u64 = 0;
    for &b in &listing.segments {
        match sealed.iter().find(|s| s.base_seq == b) {
            Some(s) => total += s.bytes,
            None => {
                let name = format::segment_name(b);
                let len = backend
                    .open(&name, crate::backend::Access::Read)
                    .and_then(|f| f.len())
                    .map_err(|e| Error::io("stat", &name, e))?;
                total += len;
            }
        }
    }
    let hold: Option<(String, u64)> = match &policy.keep_unread {
        KeepUnread::No => None,
        KeepUnread::AllConsumers => OffsetStore::new_dyn(backend)
            .list()?
            .into_iter()
            .map(|o| (o.name, o.next_seq))
            .min_by_key(|o| o.1),
        KeepUnread::Consumers(names) => {
            let store = OffsetStore::new_dyn(backend);
            let mut min: Option<(String, u64)> = None;
            for n in names {
                let off = store.get(n)?.map_or(0, |o| o.next_seq);
                if min.as_ref().is_none_or(|m| off < m.1) {
                    min = Some((n.clone(), off));
                }
            }
            min
        }
    };
    let mut report = RetentionReport::default();
    while let Some(oldest) = sealed.first() {
        let over_count = policy.max_segments.is_some_and(|m| count > m);
        let over_bytes = policy.max_total_bytes.is_some_and(|m| total > m);
        let too_old = policy.max_age.is_some_and(|a| {
            let age = now_ns.saturating_sub(oldest.sealed_ns.unwrap_or(now_ns));
            u128::from(age) > a.as_nanos()
        });
        if !(over_count || over_bytes || too_old) {
            break;
        }
        if let Some((name, next)) = &hold
            && oldest.last_seq.is_some_and(|l| l >= *next)
        {
            report.held_by = Some(name.clone());
            break;
        }
        // The chain's front moves past it first, so a crash between the two leaves
        // a front the verifier can start from.
        crate::chain_files::record_chain_front(backend, oldest.base_seq)
            .op("write", format::CHAIN_FRONT_FILE)?;
        retire_segment_files(backend, oldest.base_seq)?;
        count -= 1;
        total = total.saturating_sub(oldest.bytes);
        report.bytes_freed += oldest.bytes;
        report.deleted.push(sealed.remove(0));
    }
    if !report.deleted.is_empty() {
        backend.sync_dir().op("sync_dir", "log directory")?;
        trace_event!(tracing::Level::INFO, deleted = report.deleted.len(), bytes_freed = report.bytes_freed, held_by = ?report.held_by, "retention deleted segments");
    }
    Ok(report)
}
