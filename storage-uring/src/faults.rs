//! Fault injection at the completion queue: a [`CompletionFaults`] plan rewrites the
//! result of chosen write or sync completions (an errno, a short write) or delays them,
//! after the kernel really ran the operation. This is how the tests drive the backend's
//! error paths on a real ring: the writer must fail-stop on the injected error exactly
//! as on a real one, and the durable watermark must not move.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Which completions a fault targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Completions of write operations (`write`, `writev`, `write_fixed`).
    Write,
    /// Completions of `fsync`/`fdatasync` operations.
    Sync,
}

/// What happens to a targeted completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The completion reports `-errno` (e.g. 5 = EIO, 28 = ENOSPC).
    Errno(i32),
    /// A write completion reports at most this many bytes (a short write; the backend
    /// must write the rest). No effect on syncs or failed writes.
    Short(u32),
    /// The completion is delivered this much later.
    Stall(Duration),
}

/// One fault: the `nth` completion (from 0) of `target` does `action`; with `sticky`,
/// every later one too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionFault {
    /// The completions counted.
    pub target: Target,
    /// Which one (0 = the first).
    pub nth: u64,
    /// What happens.
    pub action: Action,
    /// Whether every later completion of that kind is hit too.
    pub sticky: bool,
}

impl CompletionFault {
    /// The `nth` completion of `target` fails with `errno`, once.
    pub fn errno(target: Target, nth: u64, errno: i32) -> Self {
        Self {
            target,
            nth,
            action: Action::Errno(errno),
            sticky: false,
        }
    }

    /// Makes the fault hit every later completion too.
    pub fn sticky(mut self) -> Self {
        self.sticky = true;
        self
    }
}

#[derive(Debug, Default)]
struct Plan {
    faults: Vec<CompletionFault>,
    counts: [u64; 2],
    fired: Vec<(Target, u64, Action)>,
}

/// A shared plan of completion faults; clones share the plan and its counters.
///
/// ```
/// use storage_uring::faults::{Action, CompletionFault, CompletionFaults, Target};
/// let f = CompletionFaults::new(vec![CompletionFault::errno(Target::Sync, 1, 5)]);
/// assert_eq!(f.apply(Target::Sync, 0), 0);
/// assert_eq!(f.apply(Target::Sync, 0), -5);
/// assert_eq!(f.apply(Target::Write, 4096), 4096);
/// assert_eq!(f.count(Target::Sync), 2);
/// assert_eq!(f.fired(), vec![(Target::Sync, 1, Action::Errno(5))]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CompletionFaults {
    plan: Arc<Mutex<Plan>>,
}

impl CompletionFaults {
    /// A plan with these faults.
    pub fn new(faults: Vec<CompletionFault>) -> Self {
        Self {
            plan: Arc::new(Mutex::new(Plan {
                faults,
                ..Plan::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a fault (counting goes on from the completions already seen).
    pub fn add(&self, fault: CompletionFault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    /// Completions of `target` seen so far.
    pub fn count(&self, target: Target) -> u64 {
        self.lock().counts[target as usize]
    }

    /// The faults that fired: target, completion number, action.
    pub fn fired(&self) -> Vec<(Target, u64, Action)> {
        self.lock().fired.clone()
    }

    /// Counts one completion of `target` whose real result is `res` and returns the
    /// result the backend sees (sleeping first for a stall).
    pub fn apply(&self, target: Target, res: i32) -> i32 {
        let action = {
            let mut p = self.lock();
            let n = p.counts[target as usize];
            p.counts[target as usize] += 1;
            let hit = p
                .faults
                .iter()
                .find(|f| f.target == target && (f.nth == n || (f.sticky && n > f.nth)))
                .map(|f| f.action);
            if let Some(a) = hit {
                p.fired.push((target, n, a));
            }
            hit
        };
        match action {
            None => res,
            Some(Action::Errno(e)) => -e,
            Some(Action::Short(n)) => {
                if target == Target::Write && res > 0 {
                    res.min(i32::try_from(n).unwrap_or(i32::MAX))
                } else {
                    res
                }
            }
            Some(Action::Stall(d)) => {
                std::thread::sleep(d);
                res
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_hit_the_nth_completion_and_sticky_ones_stay() {
        let f = CompletionFaults::new(vec![
            CompletionFault::errno(Target::Write, 2, 28).sticky(),
            CompletionFault {
                target: Target::Sync,
                nth: 0,
                action: Action::Short(1),
                sticky: false,
            },
        ]);
        let w: Vec<i32> = (0..5).map(|_| f.apply(Target::Write, 100)).collect();
        assert_eq!(w, vec![100, 100, -28, -28, -28]);
        assert_eq!(f.apply(Target::Sync, 0), 0, "Short does not touch syncs");
        assert_eq!(f.count(Target::Write), 5);
        assert_eq!(f.count(Target::Sync), 1);
        assert_eq!(f.fired().len(), 4);
        f.clear();
        assert_eq!(f.apply(Target::Write, 100), 100);
    }

    #[test]
    fn short_writes_only_shorten() {
        let f = CompletionFaults::new(vec![CompletionFault {
            target: Target::Write,
            nth: 0,
            action: Action::Short(10),
            sticky: true,
        }]);
        assert_eq!(f.apply(Target::Write, 100), 10);
        assert_eq!(f.apply(Target::Write, 4), 4);
        assert_eq!(f.apply(Target::Write, -5), -5);
        let clone = f.clone();
        clone.add(CompletionFault::errno(Target::Sync, 0, 5));
        assert_eq!(f.apply(Target::Sync, 0), -5, "clones share the plan");
    }
}
