//! `ringctl stress --mode broadcast|pool`: one writer thread, several reader threads, every
//! reader checking every event it sees.
//!
//! The rings are `static`s, as they would be in firmware: one per payload class and
//! policy, so a process runs one broadcast stress (which is all `ringctl` does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ringcore::broadcast::{self, Gated, Overwrite, Policy, ReadError};
use ringcore::frame::RecordView;
use ringcore::pool::{self, PoolError};
use ringcore::wait::SpinThenYield;

use crate::pattern::{self, PayloadSizes};
use crate::report::{Progress, Summary};
use crate::stress::{Limit, PROGRESS_EVERY, now_ns};

/// Most readers a broadcast or pool stress can have.
pub const MAX_READERS: usize = 16;

/// Which writer policy the rings use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// The writer waits for the slowest reader; nothing is lost.
    Gated,
    /// The writer never waits; a lapped reader is told exactly how many events it lost.
    Overwrite,
}

/// Settings of a broadcast or pool stress run.
#[derive(Debug, Clone, Copy)]
pub struct FanoutStress {
    /// When to stop.
    pub limit: Limit,
    /// Payload lengths.
    pub sizes: PayloadSizes,
    /// Reader threads.
    pub readers: usize,
    /// Writer policy.
    pub policy: PolicyArg,
    /// Events per claim and per reader batch.
    pub batch: usize,
    /// Testing aid: flip a payload bit of every Nth event after filling it.
    pub corrupt_every: Option<u64>,
}

/// What one reader thread saw.
#[derive(Debug, Default, Clone)]
struct ReaderOutcome {
    id: usize,
    seen: u64,
    lost: u64,
    verified: u64,
    errors: u64,
    max_lag: usize,
    max_ratio: f64,
    first_error: Option<String>,
}

/// Checks each event a reader sees: sequence order, length and payload pattern. In a
/// gated ring sequences must follow one another exactly; after a reported lap they resume
/// exactly `lost` further on (broadcast) or, in a pool whose classes lap independently,
/// anywhere later.
struct Checker {
    sizes: PayloadSizes,
    exact: bool,
    expect: u64,
    out: ReaderOutcome,
}

impl Checker {
    fn check(&mut self, e: RecordView<'_>) {
        let seq = e.header.seq;
        let in_order = if self.exact {
            seq == self.expect
        } else {
            seq >= self.expect
        };
        let problem = if !in_order {
            Some(format!(
                "expected sequence {}{}, got {seq}",
                if self.exact { "" } else { ">= " },
                self.expect
            ))
        } else {
            pattern::payload_problem(&self.sizes, seq, e.payload)
        }
        .map(|p| format!("reader {}: {p}", self.out.id));
        self.out.seen += 1;
        match problem {
            None => self.out.verified += 1,
            Some(p) => {
                self.out.errors += 1;
                self.out.first_error.get_or_insert(p);
            }
        }
        self.expect = seq.wrapping_add(1);
    }

    fn lapped(&mut self, lost: usize) {
        self.out.lost += lost as u64;
        if self.exact {
            self.expect = self.expect.wrapping_add(lost as u64);
        }
    }
}

/// The reader half, over a broadcast ring or a pool.
trait FanoutReader: Send {
    fn read(
        &mut self,
        wait: &SpinThenYield,
        max: usize,
        c: &mut Checker,
    ) -> Result<usize, ReadError>;
    /// Current lag in events and backpressure ratio.
    fn pressure(&self) -> (usize, f64);
}

impl<P: Policy, const N: usize, const PAYLOAD: usize, const R: usize> FanoutReader
    for broadcast::Reader<'static, P, N, PAYLOAD, R>
{
    fn read(
        &mut self,
        wait: &SpinThenYield,
        max: usize,
        c: &mut Checker,
    ) -> Result<usize, ReadError> {
        self.read_batch_wait(wait, max, |e| c.check(e))
    }
    fn pressure(&self) -> (usize, f64) {
        let b = self.backpressure();
        (b.lag, b.backpressure_ratio())
    }
}

impl<P: Policy, const R: usize> FanoutReader for pool::PoolReader<'static, P, R> {
    fn read(
        &mut self,
        wait: &SpinThenYield,
        max: usize,
        c: &mut Checker,
    ) -> Result<usize, ReadError> {
        self.read_batch_wait(wait, max, |e| c.check(e))
    }
    fn pressure(&self) -> (usize, f64) {
        let (_, b) = self.backpressure();
        (b.lag, b.backpressure_ratio())
    }
}

fn run_reader(
    mut r: impl FanoutReader,
    id: usize,
    cfg: FanoutStress,
    exact: bool,
    progress: &AtomicU64,
) -> ReaderOutcome {
    let wait = SpinThenYield::default();
    let mut c = Checker {
        sizes: cfg.sizes,
        exact,
        expect: 0,
        out: ReaderOutcome {
            id,
            ..ReaderOutcome::default()
        },
    };
    let mut reported = 0u64;
    loop {
        match r.read(&wait, cfg.batch, &mut c) {
            Ok(_) => {
                if id == 0 && c.out.seen >= reported + PROGRESS_EVERY {
                    reported = c.out.seen;
                    progress.store(reported, Ordering::Relaxed);
                }
            }
            Err(ReadError::Lagged(n)) => c.lapped(n),
            Err(ReadError::Closed) => break,
            Err(ReadError::Empty) => {}
        }
        let (lag, ratio) = r.pressure();
        c.out.max_lag = c.out.max_lag.max(lag);
        c.out.max_ratio = c.out.max_ratio.max(ratio);
    }
    c.out
}

/// Calls `publish(seq, payload)` for each event until the limit; returns events and bytes.
fn drive_writer(
    cfg: &FanoutStress,
    start: Instant,
    mut publish_batch: impl FnMut(u64, usize) -> u64,
) -> (u64, u64) {
    let (max_events, deadline) = match cfg.limit {
        Limit::Events(n) => (n, None),
        Limit::Time(d) => (u64::MAX, Some(start + d)),
    };
    let mut seq = 0u64;
    let mut bytes = 0u64;
    while seq < max_events && deadline.is_none_or(|d| Instant::now() < d) {
        let want = (cfg.batch as u64).min(max_events - seq) as usize;
        let before = seq;
        seq = publish_batch(seq, want);
        bytes += (before..seq)
            .map(|s| cfg.sizes.len_for(s) as u64)
            .sum::<u64>();
    }
    (seq, bytes)
}

/// Runs writer and readers on scoped threads and builds the summary.
fn run_threads<R: FanoutReader>(
    cfg: &FanoutStress,
    mode: &'static str,
    readers: Vec<R>,
    exact: bool,
    writer: impl FnOnce(Instant) -> (u64, u64) + Send,
    full_rejections: impl Fn() -> usize,
    progress: &Progress,
) -> Summary {
    let counter = AtomicU64::new(0);
    let start = Instant::now();
    let ((published, bytes), outcomes) = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(id, r)| {
                let counter = &counter;
                let cfg = *cfg;
                s.spawn(move || run_reader(r, id, cfg, exact, counter))
            })
            .collect();
        let w = s.spawn(move || writer(start));
        progress.watch(&counter, cfg.limit, || {
            w.is_finished() && handles.iter().all(|h| h.is_finished())
        });
        let w = w.join().expect("writer thread panicked");
        let outs: Vec<ReaderOutcome> = handles
            .into_iter()
            .map(|h| h.join().expect("reader thread panicked"))
            .collect();
        (w, outs)
    });
    let elapsed = start.elapsed();
    let mut errors = 0;
    let mut first_error = None;
    for o in &outcomes {
        errors += o.errors;
        if first_error.is_none() {
            first_error.clone_from(&o.first_error);
        }
        if o.seen + o.lost != published {
            errors += 1;
            first_error.get_or_insert(format!(
                "reader {}: seen {} + lost {} != published {published}",
                o.id, o.seen, o.lost
            ));
        }
        if cfg.policy == PolicyArg::Gated && o.lost != 0 {
            errors += 1;
            first_error.get_or_insert(format!(
                "reader {}: lost {} events in a gated ring",
                o.id, o.lost
            ));
        }
    }
    // Every reader must account for every published event: checked, or reported lost by
    // an exact lap count.
    let verified = outcomes
        .iter()
        .map(|o| o.verified + o.lost)
        .min()
        .unwrap_or(0);
    let readers_json: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "id": o.id, "seen": o.seen, "lost": o.lost, "errors": o.errors,
                "max_lag": o.max_lag, "backpressure_ratio": o.max_ratio,
            })
        })
        .collect();
    Summary {
        mode,
        events: published,
        payload_bytes: bytes,
        elapsed,
        verified,
        errors,
        first_error,
        extra: serde_json::json!({
            "policy": match cfg.policy { PolicyArg::Gated => "gated", PolicyArg::Overwrite => "overwrite" },
            "published": published,
            "full_rejections": full_rejections(),
            "readers": readers_json,
        }),
    }
}

macro_rules! broadcast_statics {
    ($($name:ident: $policy:ty, $slots:literal, $payload:literal;)*) => {
        $(static $name: broadcast::Ring<$policy, $slots, $payload, MAX_READERS> = broadcast::Ring::new();)*
    };
}

broadcast_statics! {
    GATED_64: Gated, 1024, 64;
    GATED_256: Gated, 1024, 256;
    GATED_1K: Gated, 1024, 1024;
    GATED_4K: Gated, 256, 4096;
    GATED_16K: Gated, 64, 16384;
    OVER_64: Overwrite, 1024, 64;
    OVER_256: Overwrite, 1024, 256;
    OVER_1K: Overwrite, 1024, 1024;
    OVER_4K: Overwrite, 256, 4096;
    OVER_16K: Overwrite, 64, 16384;
}

static GATED_POOL: pool::GatedPool<MAX_READERS> = pool::GatedPool::new();
static OVER_POOL: pool::OverwritePool<MAX_READERS> = pool::OverwritePool::new();

fn check_readers(cfg: &FanoutStress) -> Result<(), String> {
    if cfg.readers == 0 || cfg.readers > MAX_READERS {
        return Err(format!(
            "--readers {}: must be 1 to {MAX_READERS}",
            cfg.readers
        ));
    }
    Ok(())
}

/// Runs a broadcast stress on the smallest static ring whose slots fit the payloads.
pub fn run_broadcast(cfg: &FanoutStress, progress: &Progress) -> Result<Summary, String> {
    check_readers(cfg)?;
    macro_rules! pick {
        ($($payload:literal => $gated:ident, $over:ident;)*) => {
            $(if cfg.sizes.max <= $payload {
                return match cfg.policy {
                    PolicyArg::Gated => broadcast_on(&$gated, cfg, progress),
                    PolicyArg::Overwrite => broadcast_on(&$over, cfg, progress),
                };
            })*
        };
    }
    pick! {
        64 => GATED_64, OVER_64;
        256 => GATED_256, OVER_256;
        1024 => GATED_1K, OVER_1K;
        4096 => GATED_4K, OVER_4K;
        16384 => GATED_16K, OVER_16K;
    }
    Err(format!(
        "payload of {} bytes: broadcast slots hold at most 16384",
        cfg.sizes.max
    ))
}

fn broadcast_on<P: Policy, const N: usize, const PAYLOAD: usize>(
    ring: &'static broadcast::Ring<P, N, PAYLOAD, MAX_READERS>,
    cfg: &FanoutStress,
    progress: &Progress,
) -> Result<Summary, String> {
    let mut writer = ring.try_writer().map_err(|e| e.to_string())?;
    // Readers join before the first publish, so each starts at sequence 0.
    let readers = (0..cfg.readers)
        .map(|_| ring.join().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let c = *cfg;
    let write = move |start: Instant| {
        let wait = SpinThenYield::default();
        let mut buf = vec![0u8; PAYLOAD];
        let out = drive_writer(&c, start, |mut seq, want| {
            let ts = now_ns();
            let mut claim = writer.claim_wait(&wait, want);
            while claim.remaining() > 0 {
                let p = &mut buf[..c.sizes.len_for(seq)];
                pattern::fill_for_stress(seq, p, c.corrupt_every);
                if claim.push(0, ts, p).is_err() {
                    break;
                }
                seq += 1;
            }
            seq
        });
        drop(writer); // closes the ring: readers drain, then see Closed
        out
    };
    let exact = true;
    Ok(run_threads(
        cfg,
        "broadcast",
        readers,
        exact,
        write,
        || ring.writer_stats().full_rejections,
        progress,
    ))
}

/// Runs a pool stress: events routed to the smallest size class that fits.
pub fn run_pool(cfg: &FanoutStress, progress: &Progress) -> Result<Summary, String> {
    check_readers(cfg)?;
    match cfg.policy {
        PolicyArg::Gated => pool_on(&GATED_POOL, cfg, progress),
        PolicyArg::Overwrite => pool_on(&OVER_POOL, cfg, progress),
    }
}

fn pool_on<P: Policy>(
    pool: &'static pool::Pool<P, MAX_READERS>,
    cfg: &FanoutStress,
    progress: &Progress,
) -> Result<Summary, String> {
    if cfg.sizes.max > pool::Pool::<P, MAX_READERS>::CLASS_SIZES[4] {
        return Err(format!(
            "payload of {} bytes: the largest pool class holds {}",
            cfg.sizes.max,
            pool::Pool::<P, MAX_READERS>::CLASS_SIZES[4]
        ));
    }
    let mut publisher = pool.try_publisher().map_err(|e| e.to_string())?;
    let readers = (0..cfg.readers)
        .map(|_| pool.join().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let c = *cfg;
    let write = move |start: Instant| {
        let wait = SpinThenYield::default();
        let mut buf = vec![0u8; c.sizes.max];
        let out = drive_writer(&c, start, |mut seq, want| {
            let ts = now_ns();
            for _ in 0..want {
                let p = &mut buf[..c.sizes.len_for(seq)];
                pattern::fill_for_stress(seq, p, c.corrupt_every);
                match publisher.publish_wait(&wait, 0, ts, p) {
                    Ok(_) => seq += 1,
                    Err(PoolError::TooLarge { .. } | PoolError::Full { .. }) => break,
                }
            }
            seq
        });
        drop(publisher);
        out
    };
    let full = || {
        pool::SizeClass::ALL
            .iter()
            .map(|c| pool.class_stats(*c).full_rejections)
            .sum()
    };
    // Classes lap independently in an overwrite pool, so after a loss the next sequence a
    // reader sees can be anywhere later.
    let exact = matches!(cfg.policy, PolicyArg::Gated);
    Ok(run_threads(
        cfg, "pool", readers, exact, write, full, progress,
    ))
}
