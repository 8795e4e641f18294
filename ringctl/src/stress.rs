//! `ringctl stress`: producer thread → ring → consumer thread, every record checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringcore::spsc::{PushError, Ring};

use crate::pattern::{self, PayloadSizes};
use crate::report::{Progress, Summary};

/// How long a stress run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// Exactly this many events.
    Events(u64),
    /// As many events as fit in this time.
    Time(Duration),
}

/// Settings of an SPSC stress run.
#[derive(Debug, Clone, Copy)]
pub struct SpscStress {
    /// When to stop.
    pub limit: Limit,
    /// Payload lengths.
    pub sizes: PayloadSizes,
    /// Ring capacity in bytes (a power of two from 4 KiB to 64 MiB).
    pub capacity: usize,
    /// Records per publish / per release.
    pub batch: usize,
    /// Testing aid: flip a payload bit of every Nth event after filling it.
    pub corrupt_every: Option<u64>,
}

/// Events between two updates of the progress counter.
pub const PROGRESS_EVERY: u64 = 4096;

/// Ring capacities `ringctl` offers: 4 KiB to 64 MiB.
pub const MIN_CAPACITY: usize = 4 << 10;
/// See [`MIN_CAPACITY`].
pub const MAX_CAPACITY: usize = 64 << 20;

/// Runs the SPSC stress with a ring of the configured capacity.
pub fn run_spsc(cfg: &SpscStress, progress: &Progress) -> Result<Summary, String> {
    macro_rules! by_capacity {
        ($($shift:literal)*) => {
            match cfg.capacity {
                $(c if c == 1 << $shift => run_with::<{ 1 << $shift }>(cfg, progress),)*
                c => Err(format!(
                    "--capacity {} ({c} bytes): must be a power of two from {} to {}",
                    crate::report::human_bytes(c as u64),
                    crate::report::human_bytes(MIN_CAPACITY as u64),
                    crate::report::human_bytes(MAX_CAPACITY as u64),
                )),
            }
        };
    }
    by_capacity!(12 13 14 15 16 17 18 19 20 21 22 23 24 25 26)
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

struct Outcome {
    verified: u64,
    errors: u64,
    payload_bytes: u64,
    first_error: Option<String>,
}

fn run_with<const N: usize>(cfg: &SpscStress, progress: &Progress) -> Result<Summary, String> {
    if cfg.sizes.max > Ring::<N>::MAX_PAYLOAD {
        return Err(format!(
            "payload of {} bytes can never fit a {N}-byte ring (largest {}); raise --capacity",
            cfg.sizes.max,
            Ring::<N>::MAX_PAYLOAD
        ));
    }
    // On the heap (a 64 MiB ring would overflow a thread's stack), owned by the two
    // handles and freed when both are gone.
    let (mut producer, mut consumer) = Ring::<N>::split_owned(0);
    let done = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let batch = cfg.batch.max(1);
    let (sizes, limit, corrupt_every) = (cfg.sizes, cfg.limit, cfg.corrupt_every);

    let start = Instant::now();
    let producer_done = done.clone();
    let producer = std::thread::spawn(move || {
        let deadline = match limit {
            Limit::Time(d) => Some(start + d),
            Limit::Events(_) => None,
        };
        let max_events = match limit {
            Limit::Events(n) => n,
            Limit::Time(_) => u64::MAX,
        };
        let mut seq = 0u64;
        let mut ts = now_ns();
        'outer: while seq < max_events {
            if seq.is_multiple_of(1024) {
                ts = now_ns();
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
            let len = sizes.len_for(seq);
            let mut grant = loop {
                match producer.grant(len) {
                    Ok(g) => break g,
                    Err(PushError::Full) => {
                        producer.publish();
                        std::hint::spin_loop();
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            break 'outer;
                        }
                    }
                    Err(e @ PushError::TooLarge { .. }) => unreachable!("checked above: {e}"),
                }
            };
            pattern::fill_for_stress(seq, grant.payload_mut(), corrupt_every);
            grant.set_timestamp_ns(ts);
            if (seq + 1).is_multiple_of(batch as u64) {
                grant.commit();
            } else {
                grant.stage();
            }
            seq += 1;
        }
        producer.publish();
        producer_done.store(true, Ordering::Release);
        seq
    });

    let consumer_count = consumed.clone();
    let consumer = std::thread::spawn(move || {
        let mut out = Outcome {
            verified: 0,
            errors: 0,
            payload_bytes: 0,
            first_error: None,
        };
        let mut expect = 0u64;
        let mut reported = 0u64;
        loop {
            // Read `done` before looking for records, so an empty ring after `done` means
            // everything was consumed.
            let finished = done.load(Ordering::Acquire);
            let mut got = 0;
            let mut b = consumer.read_batch(batch);
            while let Some(r) = b.next() {
                got += 1;
                let seq = r.header.seq;
                let problem = if seq != expect {
                    Some(format!("expected sequence {expect}, got {seq}"))
                } else {
                    pattern::payload_problem(&sizes, seq, r.payload)
                };
                match problem {
                    None => out.verified += 1,
                    Some(p) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(p);
                    }
                }
                out.payload_bytes += r.payload.len() as u64;
                expect = seq.wrapping_add(1);
            }
            drop(b);
            if got == 0 {
                if finished {
                    break;
                }
                std::hint::spin_loop();
            } else if out.verified + out.errors >= reported + PROGRESS_EVERY {
                // A plain store every few thousand events: a read-modify-write per batch
                // would cost the consumer a locked instruction per event at --batch 1.
                reported = out.verified + out.errors;
                consumer_count.store(reported, Ordering::Relaxed);
            }
        }
        out
    });

    progress.watch(&consumed, cfg.limit, || {
        producer.is_finished() && consumer.is_finished()
    });
    let sent = producer
        .join()
        .map_err(|_| "producer thread panicked".to_string())?;
    let out = consumer
        .join()
        .map_err(|_| "consumer thread panicked".to_string())?;
    let elapsed = start.elapsed();
    let mut errors = out.errors;
    let mut first_error = out.first_error;
    if out.verified + out.errors != sent {
        errors += 1;
        first_error.get_or_insert(format!(
            "sent {sent} events, consumer saw {}",
            out.verified + out.errors
        ));
    }
    Ok(Summary {
        mode: "spsc",
        events: sent,
        payload_bytes: out.payload_bytes,
        elapsed,
        verified: out.verified,
        errors,
        first_error,
        extra: serde_json::json!({ "capacity": N, "batch": batch }),
    })
}
