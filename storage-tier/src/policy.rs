//! Which sealed segments go to the cold tier, and which cold segments retention deletes.
//! Both decisions are pure functions of what is there, tested on their own.

use std::time::Duration;

/// When a sealed local segment moves to the cold tier (oldest first; a segment moves
/// while any set limit is exceeded, and tiering stops at the first segment it keeps, so
/// the local log stays a contiguous tail). With no limit set nothing moves.
///
/// The last segment file of the directory never moves unless `move_last_sealed` is set
/// and it is sealed; then the pass first lets a writer's open create the empty active
/// segment after it ([`crate::continue_sequence`]), so a writer reopened later goes on
/// from the next sequence instead of starting again.
///
/// ```
/// use storage_tier::TierPolicy;
/// let p = TierPolicy::keep_local_segments(2);
/// assert_eq!(p.keep_local_segments, Some(2));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierPolicy {
    /// Keep at most this many sealed segments locally (0 moves every sealed segment).
    pub keep_local_segments: Option<usize>,
    /// Move while the local segment files (the active one included) take more bytes.
    pub max_local_bytes: Option<u64>,
    /// Move segments sealed longer ago than this.
    pub min_age: Option<Duration>,
    /// Also move the directory's last segment when it is sealed (a closed, sealed log).
    pub move_last_sealed: bool,
}

impl TierPolicy {
    /// Keep `k` sealed segments locally, move the rest (`ringctl tier
    /// --keep-local-segments K`).
    pub fn keep_local_segments(k: usize) -> Self {
        Self {
            keep_local_segments: Some(k),
            ..Self::default()
        }
    }

    /// Sets the local byte budget.
    pub fn max_local_bytes(mut self, bytes: u64) -> Self {
        self.max_local_bytes = Some(bytes);
        self
    }

    /// Sets the age after sealing at which segments move.
    pub fn min_age(mut self, age: Duration) -> Self {
        self.min_age = Some(age);
        self
    }

    /// Sets whether a sealed last segment moves too.
    pub fn move_last_sealed(mut self, on: bool) -> Self {
        self.move_last_sealed = on;
        self
    }
}

/// A local segment as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalSeg {
    pub base_seq: u64,
    pub bytes: u64,
    /// `Some` when sealed (with its sealing time).
    pub sealed_ns: Option<u64>,
}

/// The base sequences to move, oldest first, from the directory's segments (sorted).
pub(crate) fn select_moves(segs: &[LocalSeg], p: &TierPolicy, now_ns: u64) -> Vec<u64> {
    let movable_end = match segs.last() {
        Some(last) if p.move_last_sealed && last.sealed_ns.is_some() => segs.len(),
        Some(_) => segs.len() - 1,
        None => 0,
    };
    let mut sealed_left = segs.iter().filter(|s| s.sealed_ns.is_some()).count();
    let mut bytes_left: u64 = segs.iter().map(|s| s.bytes).sum();
    let mut out = Vec::new();
    for s in &segs[..movable_end] {
        let Some(sealed_ns) = s.sealed_ns else { break };
        let over_count = p.keep_local_segments.is_some_and(|k| sealed_left > k);
        let over_bytes = p.max_local_bytes.is_some_and(|b| bytes_left > b);
        let too_old = p
            .min_age
            .is_some_and(|a| u128::from(now_ns.saturating_sub(sealed_ns)) > a.as_nanos());
        if !(over_count || over_bytes || too_old) {
            break;
        }
        out.push(s.base_seq);
        sealed_left -= 1;
        bytes_left -= s.bytes;
    }
    out
}

/// When cold segments are deleted (oldest first, while any set limit is exceeded). The
/// manifest is rewritten first, then the objects go; a crash between leaves objects
/// that no manifest names, which the next GC removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdRetention {
    /// Delete cold segments sealed longer ago than this.
    pub max_age: Option<Duration>,
    /// Delete while the cold objects take more bytes than this.
    pub max_cold_bytes: Option<u64>,
    /// Delete while there are more cold segments than this.
    pub max_cold_segments: Option<usize>,
    /// Delete segments whose records all lie below this sequence.
    pub before_seq: Option<u64>,
    /// Keep cold segments these consumers (their committed offsets in the log
    /// directory) have not read completely, whatever the limits say, as the log's own
    /// retention does.
    pub keep_unread: storage_std::KeepUnread,
}

impl ColdRetention {
    /// Keep at most `n` cold segments.
    pub fn max_cold_segments(n: usize) -> Self {
        Self {
            max_cold_segments: Some(n),
            ..Self::default()
        }
    }

    /// Delete every cold segment that lies wholly below `seq`.
    pub fn before_seq(seq: u64) -> Self {
        Self {
            before_seq: Some(seq),
            ..Self::default()
        }
    }

    /// Sets the age limit.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Sets the cold byte budget.
    pub fn max_cold_bytes(mut self, bytes: u64) -> Self {
        self.max_cold_bytes = Some(bytes);
        self
    }

    /// Sets which consumers' unread records are kept.
    pub fn keep_unread(mut self, k: storage_std::KeepUnread) -> Self {
        self.keep_unread = k;
        self
    }

    /// Whether any limit is set (with none, nothing is deleted).
    pub fn is_set(&self) -> bool {
        self.max_age.is_some()
            || self.max_cold_bytes.is_some()
            || self.max_cold_segments.is_some()
            || self.before_seq.is_some()
    }
}

/// A cold segment as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColdSeg {
    pub last_seq: u64,
    pub object_bytes: u64,
    pub sealed_ns: u64,
}

/// How many cold segments (from the front) retention deletes.
pub(crate) fn select_cold_cut(segs: &[ColdSeg], p: &ColdRetention, now_ns: u64) -> usize {
    let mut count = segs.len();
    let mut bytes: u64 = segs.iter().map(|s| s.object_bytes).sum();
    let mut n = 0;
    for s in segs {
        let over_count = p.max_cold_segments.is_some_and(|m| count > m);
        let over_bytes = p.max_cold_bytes.is_some_and(|m| bytes > m);
        let too_old = p
            .max_age
            .is_some_and(|a| u128::from(now_ns.saturating_sub(s.sealed_ns)) > a.as_nanos());
        let below = p.before_seq.is_some_and(|b| s.last_seq < b);
        if !(over_count || over_bytes || too_old || below) {
            break;
        }
        n += 1;
        count -= 1;
        bytes -= s.object_bytes;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(n: u64, active: bool) -> Vec<LocalSeg> {
        (0..n)
            .map(|i| LocalSeg {
                base_seq: i * 10,
                bytes: 100,
                sealed_ns: if active && i == n - 1 {
                    None
                } else {
                    Some(i * 1000)
                },
            })
            .collect()
    }

    #[test]
    fn keep_count_moves_the_oldest_and_never_the_last_file() {
        let s = segs(5, true); // 4 sealed + active
        assert_eq!(
            select_moves(&s, &TierPolicy::keep_local_segments(1), 0),
            vec![0, 10, 20]
        );
        assert_eq!(
            select_moves(&s, &TierPolicy::keep_local_segments(0), 0),
            vec![0, 10, 20, 30]
        );
        assert_eq!(
            select_moves(&s, &TierPolicy::keep_local_segments(4), 0),
            Vec::<u64>::new()
        );
        assert_eq!(
            select_moves(&s, &TierPolicy::default(), 0),
            Vec::<u64>::new()
        );
        // A sealed last file stays unless asked.
        let closed = segs(3, false);
        let p = TierPolicy::keep_local_segments(0);
        assert_eq!(select_moves(&closed, &p, 0), vec![0, 10]);
        assert_eq!(
            select_moves(&closed, &p.move_last_sealed(true), 0),
            vec![0, 10, 20]
        );
        assert!(select_moves(&[], &TierPolicy::keep_local_segments(0), 0).is_empty());
    }

    #[test]
    fn bytes_and_age_limits_and_a_stop_at_an_unsealed_segment() {
        let s = segs(5, true); // 500 bytes
        let p = TierPolicy::default().max_local_bytes(250);
        assert_eq!(select_moves(&s, &p, 0), vec![0, 10, 20]);
        let p = TierPolicy::default().min_age(Duration::from_nanos(1500));
        assert_eq!(select_moves(&s, &p, 3000), vec![0, 10]);
        let mut holey = segs(5, true);
        holey[1].sealed_ns = None;
        assert_eq!(
            select_moves(&holey, &TierPolicy::keep_local_segments(0), 0),
            vec![0]
        );
    }

    #[test]
    fn cold_retention_cuts_from_the_front() {
        let c: Vec<ColdSeg> = (0..4)
            .map(|i| ColdSeg {
                last_seq: i * 10 + 9,
                object_bytes: 10,
                sealed_ns: i * 100,
            })
            .collect();
        assert_eq!(
            select_cold_cut(&c, &ColdRetention::max_cold_segments(1), 0),
            3
        );
        assert_eq!(select_cold_cut(&c, &ColdRetention::before_seq(20), 0), 2);
        assert_eq!(select_cold_cut(&c, &ColdRetention::before_seq(19), 0), 1);
        assert_eq!(
            select_cold_cut(&c, &ColdRetention::default().max_cold_bytes(25), 0),
            2
        );
        let age = ColdRetention::default().max_age(Duration::from_nanos(150));
        assert_eq!(select_cold_cut(&c, &age, 300), 2);
        assert_eq!(select_cold_cut(&c, &ColdRetention::default(), 0), 0);
    }
}
