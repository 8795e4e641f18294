//! Shared support of the loom models in `tests/`: `explore` (and
//! `explore_with_preemptions`), which runs a model and counts its interleavings, `leak`,
//! which gives a model's threads `'static` handles, and `fill_event`/`check_event`, the
//! payloads the models publish and check. Everything here exists only under
//! `cfg(ringcore_loom)`, so the crate builds
//! (empty) in a normal workspace build.
//!
//! Run the models with
//! `RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release`.

#[cfg(ringcore_loom)]
pub use self::support::{check_event, explore, explore_with_preemptions, fill_event, leak};

#[cfg(ringcore_loom)]
mod support {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs `f` under loom (three preemptions unless `LOOM_MAX_PREEMPTIONS` says
    /// otherwise), prints and returns how many interleavings were explored. Every model
    /// asserts that it explored more than one: a model whose threads never interleave
    /// checks nothing.
    pub fn explore(f: impl Fn() + Sync + Send + 'static) -> usize {
        explore_with_preemptions(3, f)
    }

    /// [`explore`] with at most `max` preemptions (fewer if `LOOM_MAX_PREEMPTIONS` says
    /// so): for a model whose third thread makes three preemptions cost minutes; its docs
    /// say why the bound is enough.
    pub fn explore_with_preemptions(max: usize, f: impl Fn() + Sync + Send + 'static) -> usize {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(3).min(max));
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            f();
        });
        let n = runs.load(Ordering::Relaxed);
        println!("interleavings explored: {n}");
        n
    }

    /// Moves `value` to the heap for the rest of the process: ring handles borrow their
    /// ring, and loom threads need `'static` handles, so each iteration leaks its (small)
    /// ring. A model that explores very many iterations frees it instead (see
    /// `tests/pool.rs`).
    pub fn leak<T>(value: T) -> &'static T {
        Box::leak(Box::new(value))
    }

    /// Fills the payload of a model's event `seq`: the workspace's one pattern
    /// (`ringlog_pattern`) of `seq + 1`. Not of `seq`: the pattern of sequence 0 starts
    /// with a zero word, which is also what a never-written slot holds, and a model must
    /// tell a stale slot from event 0.
    pub fn fill_event(seq: u64, payload: &mut [u8]) {
        ringlog_pattern::fill(seq.wrapping_add(1), payload);
    }

    /// Whether `payload` is exactly what [`fill_event`] wrote for event `seq` (a torn or
    /// stale copy is not).
    pub fn check_event(seq: u64, payload: &[u8]) -> bool {
        ringlog_pattern::check(seq.wrapping_add(1), payload)
    }
}
