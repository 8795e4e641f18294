//! The clocks the log stamps records, segments and offsets with.
//!
//! [`now_ns`] reads the system clock (`clock_gettime(CLOCK_REALTIME)`, 40–50 ns on a VM
//! whose clock goes through the hypervisor). Appends cannot afford that per record, so a
//! writer stamps records with a [`RecordClock`]: the later of a coarse kernel clock
//! (`CLOCK_REALTIME_COARSE`, read through the vDSO with no system call, a few ns, one
//! kernel tick of resolution) and a fine reading its writer thread refreshes on every
//! pass of its loop. Both are readings of the system's real-time clock, so a stamp is
//! never later than the time it was taken; it lags by at most the coarser of the
//! writer's pass and the kernel tick (1–4 ms with `CONFIG_HZ` 1000–250), and has no drift
//! of its own (it follows the system clock, NTP slewing included). A backwards step of
//! the system clock shows as a run of equal stamps: the writer never lets the stamps it
//! assigns decrease (see `Writer`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds since the Unix epoch from the system clock (0 before 1970, saturating
/// after 2554).
///
/// ```
/// let t = storage_std::now_ns();
/// assert!(t > 1_600_000_000_000_000_000, "after September 2020");
/// ```
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().try_into().unwrap_or(u64::MAX))
}

/// Nanoseconds since the Unix epoch from the kernel's coarse real-time clock: no system
/// call (vDSO), resolution one kernel tick. Falls back to [`now_ns`] where the coarse
/// clock is missing.
///
/// ```
/// let fine = storage_std::now_ns();
/// let coarse = storage_std::coarse_now_ns();
/// // At most a few kernel ticks behind (and never ahead by more than rounding).
/// assert!(coarse <= storage_std::now_ns());
/// assert!(fine.abs_diff(coarse) < 1_000_000_000);
/// ```
pub fn coarse_now_ns() -> u64 {
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
    {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }
    #[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
    {
        now_ns()
    }
}

/// The clock a writer stamps records with: see the module docs for its resolution and
/// why it never runs ahead of the system clock.
#[derive(Debug)]
pub(crate) struct RecordClock {
    fine: AtomicU64,
}

impl RecordClock {
    pub(crate) fn new() -> Self {
        Self::starting_at(now_ns())
    }

    /// A clock whose fine reading starts at `ns` (no system clock read until used).
    pub(crate) fn starting_at(ns: u64) -> Self {
        Self {
            fine: AtomicU64::new(ns),
        }
    }

    /// Reads the system clock into the fine reading (the writer thread, once per pass).
    pub(crate) fn refresh(&self) {
        self.fine.fetch_max(now_ns(), Ordering::Relaxed);
    }

    /// The current stamp: the later of the fine reading and the coarse clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.fine.load(Ordering::Relaxed).max(coarse_now_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "reads the system clock, which Miri's isolation refuses"
    )]
    fn record_clock_is_never_ahead_of_the_system_clock_and_follows_it() {
        let c = RecordClock::new();
        let before = now_ns();
        for _ in 0..1000 {
            let t = c.now();
            assert!(t <= now_ns(), "a stamp is never in the future");
        }
        // The coarse clock moves on its own, without refreshes, within a few ticks.
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(c.now() > before, "the coarse clock advances by itself");
        c.refresh();
        let after = c.now();
        assert!(after >= before && after <= now_ns());
    }
}
