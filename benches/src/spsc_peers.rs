//! Producer/consumer loops for the SPSC comparison: ringcore and its peers, each moving
//! `events` payloads of `P` bytes from one thread to another.
//!
//! The rules every loop follows, so the numbers compare like with like:
//!
//! * each event is its own record or item, never several events packed into one;
//! * the producer builds event `i`'s payload with [`item`] (the workspace's one pattern
//!   of `i`), the consumer checks length, first and last byte with [`payload_ok`] and
//!   counts; a failed check or a short count is reported as errors;
//! * a full or empty queue is waited on with the same [`Backoff`] (spin, then yield),
//!   except `std::sync::mpsc`, whose blocking `send`/`recv` is its own waiting strategy;
//! * batched variants move up to `batch` events per cursor publication, and take fewer
//!   when fewer fit or are available (they never wait for a full batch);
//! * ringcore rings are `N` bytes (a 64 B payload takes 80 bytes with its 16-byte in-ring header
//!   and padding, so a 64 KiB ring holds 819 such records); the fixed-size queues hold
//!   [`QUEUE_SLOTS`] items of `[u8; P]` (heapless: one fewer, it keeps a slot empty).

use std::sync::mpsc::sync_channel;

use crossbeam_queue::ArrayQueue;
use ringbuf::HeapRb;
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
use ringcore::spsc::PushError;
use ringcore::spsc::record_len;

use crate::{Backoff, Received, Sample, boxed_ring, item, payload_ok, run_pair};

/// Slots of the fixed-size peer queues (items of `[u8; P]`).
pub const QUEUE_SLOTS: usize = 1024;

/// One event per operation, or many per cursor publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One event per push and per pop.
    Single,
    /// Up to `batch` events per publication on each side.
    Batched,
}

impl Mode {
    /// `"single"` or `"batched"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Batched => "batched",
        }
    }
}

/// A runner: moves `events` events with batches of at most `batch`.
pub type RunFn = fn(events: u64, batch: usize) -> Sample;

/// One queue and API under test.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The crate and type.
    pub queue: &'static str,
    /// The calls used on each side.
    pub api: &'static str,
    /// Single or batched.
    pub mode: Mode,
    /// What the queue holds, in words.
    pub capacity: String,
    /// Runs one transfer.
    pub run: RunFn,
}

impl Variant {
    /// Whether this is one of ringcore's own variants.
    pub fn is_ringcore(&self) -> bool {
        self.queue == "ringcore"
    }
}

/// Every variant for payloads of `P` bytes and a ringcore ring of `N` bytes, ringcore
/// first in each mode.
pub fn variants<const P: usize, const N: usize>() -> Vec<Variant> {
    let ring = format!(
        "{} KiB ring ({} records)",
        N / 1024,
        ringcore_records::<N>(P)
    );
    let slots = format!("{QUEUE_SLOTS} items");
    vec![
        Variant {
            queue: "ringcore",
            api: "grant+commit / read",
            mode: Mode::Single,
            capacity: ring.clone(),
            run: ringcore_single::<P, N>,
        },
        Variant {
            queue: "rtrb",
            api: "push / pop",
            mode: Mode::Single,
            capacity: slots.clone(),
            run: rtrb_single::<P>,
        },
        Variant {
            queue: "ringbuf",
            api: "try_push / try_pop",
            mode: Mode::Single,
            capacity: slots.clone(),
            run: ringbuf_single::<P>,
        },
        Variant {
            queue: "heapless::spsc",
            api: "enqueue / dequeue",
            mode: Mode::Single,
            capacity: format!("{} items", QUEUE_SLOTS - 1),
            run: heapless_single::<P>,
        },
        Variant {
            queue: "crossbeam ArrayQueue",
            api: "push / pop",
            mode: Mode::Single,
            capacity: slots.clone(),
            run: crossbeam_single::<P>,
        },
        Variant {
            queue: "std mpsc sync_channel",
            api: "send / recv (blocking)",
            mode: Mode::Single,
            capacity: slots.clone(),
            run: mpsc_single::<P>,
        },
        Variant {
            queue: "bbqueue framed",
            api: "grant+commit / read+release",
            mode: Mode::Single,
            capacity: format!("{} KiB buffer", N / 1024),
            run: bbqueue_framed::<P, N>,
        },
        Variant {
            queue: "ringcore",
            api: "batch grant+commit / read_batch",
            mode: Mode::Batched,
            capacity: ring,
            run: ringcore_batched::<P, N>,
        },
        Variant {
            queue: "rtrb",
            api: "write_chunk_uninit / read_chunk",
            mode: Mode::Batched,
            capacity: slots.clone(),
            run: rtrb_batched::<P>,
        },
        Variant {
            queue: "ringbuf",
            api: "push_slice / pop_slice",
            mode: Mode::Batched,
            capacity: slots,
            run: ringbuf_batched::<P>,
        },
    ]
}

/// rtrb again, with `SLOTS` items of `R` bytes: the size of ringcore's record for the
/// payload under test (header and padding included, `R = record_len(P)`), as many as
/// ringcore's ring holds (`SLOTS = N / R`), single and batched. Between two cores these
/// queues move cache lines, not events: these rows show what the same bytes per event
/// cost a peer, which is the part of ringcore's gap that is its 16-byte header rather
/// than its code.
pub fn record_sized_rtrb<const R: usize, const SLOTS: usize>() -> Vec<Variant> {
    let capacity = format!("{SLOTS} items of {R} B");
    vec![
        Variant {
            queue: "rtrb, record-sized items",
            api: "push / pop",
            mode: Mode::Single,
            capacity: capacity.clone(),
            run: rtrb_single_in::<R, SLOTS>,
        },
        Variant {
            queue: "rtrb, record-sized items",
            api: "write_chunk_uninit / read_chunk",
            mode: Mode::Batched,
            capacity,
            run: rtrb_batched_in::<R, SLOTS>,
        },
    ]
}

/// How many records of `payload` bytes a ringcore ring of `N` bytes holds at most.
pub fn ringcore_records<const N: usize>(payload: usize) -> usize {
    N / record_len(payload)
}

/// ringcore, one grant/commit per event and one `read` (released on drop) per event.
pub fn ringcore_single<const P: usize, const N: usize>(events: u64, _batch: usize) -> Sample {
    let ring = boxed_ring::<N>();
    let (mut tx, mut rx) = ring.try_split(0).expect("a fresh ring splits");
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                match tx.grant(P) {
                    Ok(mut g) => {
                        put::<P>(g.payload_mut(), i);
                        g.commit();
                        i += 1;
                        backoff.reset();
                    }
                    Err(PushError::Full) => backoff.snooze(),
                    Err(e) => panic!("ringcore grant: {e}"),
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.read() {
                    Some(r) => {
                        got.bad += u64::from(!payload_ok(r.payload(), got.events, P));
                        got.events += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// Writes event `i`'s item into a granted payload of `P` bytes (a fixed-size copy, as
/// the fixed-size queues get).
#[inline(always)]
fn put<const P: usize>(payload: &mut [u8], i: u64) {
    if let Ok(dst) = <&mut [u8; P]>::try_from(payload) {
        *dst = item::<P>(i);
    }
}

/// ringcore, up to `batch` records per multi-record grant (`Producer::batch`: the free
/// space is checked once per stretch that fits, one cursor store when the batch ends);
/// read with `read_batch(batch)`, released with one store.
pub fn ringcore_batched<const P: usize, const N: usize>(events: u64, batch: usize) -> Sample {
    let ring = boxed_ring::<N>();
    let (mut tx, mut rx) = ring.try_split(0).expect("a fresh ring splits");
    let batch = batch.max(1) as u64;
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                let end = events.min(i + batch);
                let mut records = tx.batch();
                while i < end {
                    match records.grant(P) {
                        Ok(mut g) => {
                            put::<P>(g.payload_mut(), i);
                            g.commit();
                            i += 1;
                        }
                        Err(PushError::Full) => break,
                        Err(e) => panic!("ringcore grant: {e}"),
                    }
                }
                drop(records);
                if i < end {
                    backoff.snooze();
                } else {
                    backoff.reset();
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                let before = got.events;
                let mut records = rx.read_batch(batch as usize);
                while let Some(r) = records.next() {
                    got.bad += u64::from(!payload_ok(r.payload, got.events, P));
                    got.events += 1;
                }
                drop(records);
                if got.events == before {
                    backoff.snooze();
                } else {
                    backoff.reset();
                }
            }
            got
        },
    )
}

/// bbqueue 0.7 framed grants (heap buffer of `N` bytes, atomics, polling): `grant(P)`,
/// fill, `commit(P)`; `read()`, check, `release()`. Each frame carries bbqueue's 2-byte
/// length header.
pub fn bbqueue_framed<const P: usize, const N: usize>(events: u64, _batch: usize) -> Sample {
    use bbqueue::nicknames::GogiGui;
    use bbqueue::traits::storage::BoxedSlice;
    let queue = GogiGui::new_with_storage(BoxedSlice::new(N));
    let (tx, rx) = (queue.framed_producer(), queue.framed_consumer());
    let len = u16::try_from(P).expect("payloads are at most 64 KiB");
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                match tx.grant(len) {
                    Ok(mut g) => {
                        put::<P>(&mut g[..P], i);
                        g.commit(len);
                        i += 1;
                        backoff.reset();
                    }
                    Err(_) => backoff.snooze(),
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.read() {
                    Ok(r) => {
                        got.bad += u64::from(!payload_ok(&r, got.events, P));
                        got.events += 1;
                        r.release();
                        backoff.reset();
                    }
                    Err(_) => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// rtrb `push` / `pop` of `[u8; P]` items.
pub fn rtrb_single<const P: usize>(events: u64, batch: usize) -> Sample {
    rtrb_single_in::<P, QUEUE_SLOTS>(events, batch)
}

/// [`rtrb_single`] with `SLOTS` items.
pub fn rtrb_single_in<const P: usize, const SLOTS: usize>(events: u64, _batch: usize) -> Sample {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; P]>::new(SLOTS);
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                if tx.push(item::<P>(i)).is_ok() {
                    i += 1;
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.pop() {
                    Ok(v) => {
                        got.bad += u64::from(!payload_ok(&v, got.events, P));
                        got.events += 1;
                        backoff.reset();
                    }
                    Err(_) => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// rtrb chunks: `write_chunk_uninit` filled with `fill_from_iter` (which commits), and
/// `read_chunk` + `commit_all`, up to `batch` items each.
pub fn rtrb_batched<const P: usize>(events: u64, batch: usize) -> Sample {
    rtrb_batched_in::<P, QUEUE_SLOTS>(events, batch)
}

/// [`rtrb_batched`] with `SLOTS` items.
pub fn rtrb_batched_in<const P: usize, const SLOTS: usize>(events: u64, batch: usize) -> Sample {
    use rtrb::chunks::ChunkError;
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; P]>::new(SLOTS);
    let batch = batch.max(1);
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                let want = (events - i).min(batch as u64) as usize;
                let chunk = match tx.write_chunk_uninit(want) {
                    Ok(c) => c,
                    Err(ChunkError::TooFewSlots(0)) => {
                        backoff.snooze();
                        continue;
                    }
                    Err(ChunkError::TooFewSlots(n)) => {
                        tx.write_chunk_uninit(n).expect("slots only grow")
                    }
                };
                let start = i;
                i += chunk.fill_from_iter((start..).map(item::<P>)) as u64;
                backoff.reset();
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                let chunk = match rx.read_chunk(batch) {
                    Ok(c) => c,
                    Err(ChunkError::TooFewSlots(0)) => {
                        backoff.snooze();
                        continue;
                    }
                    Err(ChunkError::TooFewSlots(n)) => rx.read_chunk(n).expect("items only grow"),
                };
                let (a, b) = chunk.as_slices();
                for v in a.iter().chain(b) {
                    got.bad += u64::from(!payload_ok(v, got.events, P));
                    got.events += 1;
                }
                chunk.commit_all();
                backoff.reset();
            }
            got
        },
    )
}

/// ringbuf (`HeapRb`, its default caching halves) `try_push` / `try_pop`.
pub fn ringbuf_single<const P: usize>(events: u64, _batch: usize) -> Sample {
    let (mut tx, mut rx) = HeapRb::<[u8; P]>::new(QUEUE_SLOTS).split();
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                if tx.try_push(item::<P>(i)).is_ok() {
                    i += 1;
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.try_pop() {
                    Some(v) => {
                        got.bad += u64::from(!payload_ok(&v, got.events, P));
                        got.events += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// ringbuf `push_slice` / `pop_slice` through a local array of `batch` items on each
/// side (the slice API copies; each item is still one event).
pub fn ringbuf_batched<const P: usize>(events: u64, batch: usize) -> Sample {
    let (mut tx, mut rx) = HeapRb::<[u8; P]>::new(QUEUE_SLOTS).split();
    let batch = batch.max(1);
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut local = vec![[0u8; P]; batch];
            let mut i = 0;
            while i < events {
                let want = (events - i).min(batch as u64) as usize;
                for (k, slot) in local[..want].iter_mut().enumerate() {
                    *slot = item::<P>(i + k as u64);
                }
                let mut sent = 0;
                while sent < want {
                    let n = tx.push_slice(&local[sent..want]);
                    if n == 0 {
                        backoff.snooze();
                    } else {
                        sent += n;
                        backoff.reset();
                    }
                }
                i += want as u64;
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut local = vec![[0u8; P]; batch];
            let mut got = Received::default();
            while got.events < events {
                let n = rx.pop_slice(&mut local);
                if n == 0 {
                    backoff.snooze();
                    continue;
                }
                for v in &local[..n] {
                    got.bad += u64::from(!payload_ok(v, got.events, P));
                    got.events += 1;
                }
                backoff.reset();
            }
            got
        },
    )
}

/// `heapless::spsc::Queue<[u8; P], QUEUE_SLOTS>` `enqueue` / `dequeue`.
pub fn heapless_single<const P: usize>(events: u64, _batch: usize) -> Sample {
    let mut queue = Box::new(heapless::spsc::Queue::<[u8; P], QUEUE_SLOTS>::new());
    let (mut tx, mut rx) = queue.split();
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                if tx.enqueue(item::<P>(i)).is_ok() {
                    i += 1;
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.dequeue() {
                    Some(v) => {
                        got.bad += u64::from(!payload_ok(&v, got.events, P));
                        got.events += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// `crossbeam_queue::ArrayQueue<[u8; P]>` (MPMC, used here by one thread on each side)
/// `push` / `pop`.
pub fn crossbeam_single<const P: usize>(events: u64, _batch: usize) -> Sample {
    let queue = ArrayQueue::<[u8; P]>::new(QUEUE_SLOTS);
    let (tx, rx) = (&queue, &queue);
    run_pair(
        events,
        P,
        move || {
            let mut backoff = Backoff::new();
            let mut i = 0;
            while i < events {
                if tx.push(item::<P>(i)).is_ok() {
                    i += 1;
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
        },
        move || {
            let mut backoff = Backoff::new();
            let mut got = Received::default();
            while got.events < events {
                match rx.pop() {
                    Some(v) => {
                        got.bad += u64::from(!payload_ok(&v, got.events, P));
                        got.events += 1;
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            got
        },
    )
}

/// `std::sync::mpsc::sync_channel::<[u8; P]>(QUEUE_SLOTS)`, blocking `send` / `recv`.
pub fn mpsc_single<const P: usize>(events: u64, _batch: usize) -> Sample {
    let (tx, rx) = sync_channel::<[u8; P]>(QUEUE_SLOTS);
    run_pair(
        events,
        P,
        move || {
            for i in 0..events {
                tx.send(item::<P>(i)).expect("receiver lives until the end");
            }
        },
        move || {
            let mut got = Received::default();
            while got.events < events {
                match rx.recv() {
                    Ok(v) => {
                        got.bad += u64::from(!payload_ok(&v, got.events, P));
                        got.events += 1;
                    }
                    Err(_) => break,
                }
            }
            got
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_delivers_every_event_intact() {
        // Small rings and odd batch sizes so wrap-around and partial batches happen.
        for v in variants::<64, 4096>()
            .into_iter()
            .chain(variants::<8, 1024>())
            .chain(variants::<512, { 1 << 14 }>())
        {
            for batch in [1, 7, 64] {
                let s = (v.run)(20_000, batch);
                assert_eq!(
                    (s.events, s.errors),
                    (20_000, 0),
                    "{} {} batch {batch}",
                    v.queue,
                    v.api
                );
            }
        }
    }

    #[test]
    fn record_sized_items_are_ringcore_records() {
        for v in record_sized_rtrb::<80, { 4096 / 80 }>() {
            assert!(v.capacity.starts_with("51 items"));
            assert!(v.capacity.ends_with(&format!("{} B", record_len(64))));
            let s = (v.run)(5_000, 7);
            assert_eq!((s.events, s.errors), (5_000, 0), "{}", v.api);
        }
    }

    #[test]
    fn capacities_are_as_documented() {
        assert_eq!(ringcore_records::<65536>(64), 819);
        assert_eq!(
            variants::<64, 65536>()[0].capacity,
            "64 KiB ring (819 records)"
        );
    }
}
