//! criterion benches of the ringcore broadcast ring (gated, 1024 slots of 64 B).
//!
//! * `broadcast_threads/{batch,single}/{1,2}`: one writer thread and 1 or 2 reader
//!   threads, throughput in events delivered to each reader; the same loops as the
//!   `broadcast_peers` binary (`claim_wait(64)` or `publish_wait` per event, readers
//!   `read_batch_wait(64)`, default `SpinThenYield`, every event checked).
//! * `broadcast_one_thread/claim_read/{1,2}`: one thread claims and fills 64 events, then
//!   each of 1 or 2 readers reads them with `read_batch(64)`: the cost of the calls and
//!   the copies without cross-core traffic or waiting.
//!
//! `cargo bench -p benches --bench broadcast` takes under a minute.

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::broadcast_peers::{BATCH, PAYLOAD, Publish, SLOTS, Wait, ringcore_gated};
use benches::{item, payload_ok};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ringcore::broadcast::GatedRing;

/// Longer than any run here: criterion asks for short runs.
const TIMEOUT: Duration = Duration::from_secs(60);

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast_threads");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for readers in [1, 2] {
        for (name, publish) in [("batch", Publish::Batch), ("single", Publish::Single)] {
            g.bench_function(BenchmarkId::new(name, readers), |b| {
                b.iter_custom(|iters| {
                    let o = ringcore_gated(readers, iters, TIMEOUT, publish, Wait::SpinThenYield);
                    assert_eq!(o.errors(), 0);
                    o.elapsed
                })
            });
        }
    }
    g.finish();
}

fn one_thread_for<const R: usize>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    c.bench_function(BenchmarkId::new("claim_read", R), |b| {
        b.iter_custom(|iters| {
            let ring: Box<GatedRing<SLOTS, PAYLOAD, R>> = Box::new(GatedRing::new());
            let mut writer = ring.try_writer().expect("a fresh ring has a writer");
            let mut readers: Vec<_> = (0..R)
                .map(|_| ring.join().expect("room for R readers"))
                .collect();
            let mut bad = 0u64;
            let start = Instant::now();
            let mut i = 0u64;
            while i < iters {
                let mut claim = writer
                    .try_claim((iters - i).min(BATCH as u64) as usize)
                    .expect("the readers emptied the ring");
                while claim.remaining() > 0 {
                    claim
                        .push(1, i, &item::<PAYLOAD>(black_box(i)))
                        .expect("a reserved slot");
                    i += 1;
                }
                drop(claim);
                for r in &mut readers {
                    while r
                        .read_batch(BATCH, |e| {
                            bad += u64::from(!payload_ok(e.payload, e.header.seq, PAYLOAD));
                        })
                        .is_ok()
                    {}
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(bad, 0);
            elapsed
        })
    });
}

fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast_one_thread");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    one_thread_for::<1>(&mut g);
    one_thread_for::<2>(&mut g);
    g.finish();
}

criterion_group!(benches, threads, one_thread);
criterion_main!(benches);
