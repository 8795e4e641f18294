//! criterion benches of the ringcore SPSC ring.
//!
//! * `spsc_two_threads/{single,batched}/{8,64,512}`: producer and consumer on two threads,
//!   throughput in events (elements); the same loops as the `peers` binary (one
//!   grant/commit and one read per event, or records staged and published once per 64 and
//!   read with `read_batch(64)`), 64 KiB ring.
//! * `spsc_latency/push_pop/{8,64,512}`: one thread, one record granted, filled, committed,
//!   read and released per iteration (the cost of the calls without cross-core traffic).
//!
//! `cargo bench -p benches --bench spsc` takes about a minute.

use std::hint::black_box;
use std::time::Duration;

use benches::spsc_peers::{ringcore_batched, ringcore_single};
use benches::{boxed_ring, item};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};

const RING: usize = 64 * 1024;
const BATCH: usize = 64;

fn two_threads_for<const P: usize>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(BenchmarkId::new("single", P), |b| {
        b.iter_custom(|iters| {
            let s = ringcore_single::<P, RING>(iters, BATCH);
            assert_eq!(s.errors, 0);
            s.elapsed
        })
    });
    g.bench_function(BenchmarkId::new("batched", P), |b| {
        b.iter_custom(|iters| {
            let s = ringcore_batched::<P, RING>(iters, BATCH);
            assert_eq!(s.errors, 0);
            s.elapsed
        })
    });
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_two_threads");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    two_threads_for::<8>(&mut g);
    two_threads_for::<64>(&mut g);
    two_threads_for::<512>(&mut g);
    g.finish();
}

fn latency_for<const P: usize>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let ring = boxed_ring::<RING>();
    let (mut tx, mut rx) = ring.try_split(0).expect("a fresh ring splits");
    let mut i = 0u64;
    g.bench_function(BenchmarkId::new("push_pop", P), |b| {
        b.iter(|| {
            let mut grant = tx.grant(P).expect("the ring is empty");
            grant
                .payload_mut()
                .copy_from_slice(&item::<P>(black_box(i)));
            grant.commit();
            let r = rx.read().expect("one record was committed");
            let first = r.payload()[0];
            drop(r);
            i += 1;
            black_box(first)
        })
    });
}

fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_latency");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    latency_for::<8>(&mut g);
    latency_for::<64>(&mut g);
    latency_for::<512>(&mut g);
    g.finish();
}

criterion_group!(benches, two_threads, latency);
criterion_main!(benches);
