//! What the writer thread has done: counters and sync latencies, for observability.

use hdrhistogram::Histogram;

/// Counters of a writer since it opened; see [`Writer::stats`](super::Writer::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct WriterStats {
    /// Records written to the backend (the page cache for real files).
    pub records: u64,
    /// Record bytes written (on-disk form: headers, payloads, padding).
    pub bytes: u64,
    /// Groups written: one backend write call (`write_group`) each.
    pub groups: u64,
    /// Syncs that succeeded: a group's sync, or a sync of what was written without one.
    pub syncs: u64,
    /// The submit queue's high-water mark: the most record bytes waiting in it (the
    /// group being written included) seen at a group's write. Near the queue's size:
    /// appends were blocking on a full queue.
    pub queue_high_water_bytes: u64,
    /// How long each syncing backend call took (write and sync together for a group),
    /// in nanoseconds; `None` before the first.
    pub sync_latency: Option<SyncLatency>,
    /// The digest chain at the durable point: the last durable sequence and the chain's
    /// digest there ([`crate::format::chain`]); `None` with the chain off or before the
    /// first durable record. Compare it later with `ringctl verify --expect-digest
    /// HEX@SEQ` (or [`crate::ExpectDigest`]).
    pub chain: Option<(u64, [u8; 32])>,
    /// CPU time (user and system) the writer thread and the threads it spawned to hash
    /// large groups have used, in nanoseconds, as of the last group written (0 where
    /// the thread CPU clock is unavailable). Divided by `records`: the writer's CPU cost
    /// per record; the appending threads' cost is not in it.
    #[serde(default)]
    pub writer_cpu_ns: u64,
}

json_text_form!(WriterStats, "writer statistics");

/// Percentiles of sync latencies, in nanoseconds (2 significant digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SyncLatency {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Slowest.
    pub max_ns: u64,
}

/// The writer thread's side: updated once per group, read by [`Writer::stats`](super::Writer::stats).
#[derive(Debug)]
pub(super) struct StatsCell {
    counts: WriterStats,
    sync_ns: Histogram<u64>,
}

/// Latencies above this (an hour) are recorded as this.
const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

impl StatsCell {
    pub(super) fn new() -> Self {
        Self {
            counts: WriterStats::default(),
            sync_ns: Histogram::new_with_bounds(1, MAX_TRACKED_NS, 2)
                .expect("valid histogram bounds"),
        }
    }

    pub(super) fn wrote(&mut self, records: u64, bytes: u64) {
        self.counts.records += records;
        self.counts.bytes += bytes;
        self.counts.groups += 1;
    }

    pub(super) fn cpu(&mut self, ns: u64) {
        self.counts.writer_cpu_ns = ns;
    }

    pub(super) fn chained(&mut self, seq: u64, digest: [u8; 32]) {
        self.counts.chain = Some((seq, digest));
    }

    pub(super) fn queued(&mut self, bytes: u64) {
        self.counts.queue_high_water_bytes = self.counts.queue_high_water_bytes.max(bytes);
    }

    pub(super) fn synced(&mut self, took_ns: u64) {
        self.counts.syncs += 1;
        self.sync_ns
            .saturating_record(took_ns.clamp(1, MAX_TRACKED_NS));
    }

    pub(super) fn snapshot(&self) -> WriterStats {
        let h = &self.sync_ns;
        WriterStats {
            sync_latency: (!h.is_empty()).then(|| SyncLatency {
                count: h.len(),
                p50_ns: h.value_at_quantile(0.5),
                p99_ns: h.value_at_quantile(0.99),
                p999_ns: h.value_at_quantile(0.999),
                max_ns: h.max(),
            }),
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recorded_latencies() {
        let mut s = StatsCell::new();
        assert_eq!(s.snapshot().sync_latency, None);
        for i in 1..=1000u64 {
            s.synced(i * 1000);
        }
        s.wrote(10, 960);
        s.queued(4096);
        s.queued(1024);
        s.cpu(5);
        s.cpu(7);
        let snap = s.snapshot();
        assert_eq!(snap.writer_cpu_ns, 7, "the last reading, not a sum");
        assert_eq!(snap.queue_high_water_bytes, 4096, "the most, not the last");
        assert_eq!(
            (snap.records, snap.bytes, snap.groups, snap.syncs),
            (10, 960, 1, 1000)
        );
        let l = snap.sync_latency.unwrap();
        assert_eq!(l.count, 1000);
        // 2 significant digits: within 1% of the exact values.
        assert!(l.p50_ns.abs_diff(500_000) <= 5_000, "{l:?}");
        assert!(l.p99_ns.abs_diff(990_000) <= 10_000, "{l:?}");
        assert!(l.p999_ns.abs_diff(999_000) <= 10_000, "{l:?}");
        assert!(l.max_ns.abs_diff(1_000_000) <= 10_000, "{l:?}");
        s.synced(u64::MAX);
        assert!(s.snapshot().sync_latency.unwrap().max_ns >= MAX_TRACKED_NS);
    }
}
