//! The SPSC ring's async waiting: hand-polled futures with counting wakers (these run
//! under Miri), threads driving futures with a parking executor, and producer and consumer
//! tasks on tokio's multi-thread runtime (not under Miri, which cannot run it).

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};

use super::super::{Ring, RoomError};
use super::Closed;
use crate::waker::testing::{block_on, counting};

#[test]
fn a_waiting_consumer_is_woken_by_wake_consumer_not_by_the_fast_path() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut readable = pin!(c.readable());
    assert!(readable.as_mut().poll(&mut cx).is_pending());
    p.push(0, 0, b"a").unwrap();
    assert_eq!(count.wakes(), 0, "push alone does not notify (documented)");
    p.wake_consumer();
    assert_eq!(count.wakes(), 1);
    assert_eq!(readable.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    // Done: the slot is free and the waker released, so nothing wakes it again.
    p.wake_consumer();
    assert_eq!(count.wakes(), 1);
}

#[test]
fn dropping_the_producer_wakes_the_consumer_with_closed_after_the_last_record() {
    let ring = Ring::<256>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    {
        let mut readable = pin!(c.readable());
        assert!(readable.as_mut().poll(&mut cx).is_pending());
        p.push_staged(0, 0, b"last").unwrap();
        drop(p); // publishes the staged record, then closes
        assert_eq!(count.wakes(), 1);
        assert_eq!(readable.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    assert_eq!(c.read().unwrap().payload(), b"last");
    assert_eq!(pin!(c.readable()).poll(&mut cx), Poll::Ready(Err(Closed)));
}

#[test]
fn a_waiting_producer_is_woken_by_wake_producer_and_by_the_consumers_drop() {
    let ring = Ring::<64>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    p.push(0, 0, &[1; 8]).unwrap();
    p.push(0, 0, &[2; 8]).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    {
        let mut room = pin!(p.writable(8));
        assert!(room.as_mut().poll(&mut cx).is_pending());
        drop(c.read().unwrap());
        assert_eq!(
            count.wakes(),
            0,
            "releasing alone does not notify (documented)"
        );
        c.wake_producer();
        assert_eq!(count.wakes(), 1);
        assert_eq!(room.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    p.push(0, 0, &[3; 8]).unwrap();
    let mut room = pin!(p.writable(8));
    assert!(room.as_mut().poll(&mut cx).is_pending());
    drop(c);
    assert_eq!(count.wakes(), 2);
    assert_eq!(room.poll(&mut cx), Poll::Ready(Err(RoomError::Closed)));
}

#[test]
fn a_dropped_future_gives_its_slot_and_waker_back() {
    let ring = Ring::<64>::new();
    let (p, mut c) = ring.try_split(0).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..3 {
        // Each future claims the one slot; a slot kept by a dropped future would leave the
        // next one spinning (woken at once) instead of waiting.
        assert!(pin!(c.readable()).poll(&mut cx).is_pending());
        assert_eq!(count.wakes(), 0);
    }
    // Only the test's own references are left: no waker is kept in the ring.
    assert_eq!(std::sync::Arc::strong_count(&count), 2);
    drop(p);
    assert_eq!(count.wakes(), 0, "no future waits any more");
}

#[test]
fn a_forgotten_future_leaks_nothing_into_unsoundness() {
    let ring = Ring::<64>::new();
    let (p, mut c) = ring.try_split(0).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    // Never dropped (as if forgotten), without leaking heap memory of its own.
    let mut fut = core::mem::ManuallyDrop::new(c.readable());
    assert!(core::pin::Pin::new(&mut *fut).poll(&mut cx).is_pending());
    // The ring still holds the waker and wakes it; dropping the ring drops it.
    drop(p);
    assert_eq!(count.wakes(), 1);
    drop(c);
    drop(ring);
    assert_eq!(std::sync::Arc::strong_count(&count), 2);
}

#[test]
fn too_large_and_empty_raw_records_are_errors_at_once() {
    let ring = Ring::<64>::new();
    let (mut p, _c) = ring.try_split(0).unwrap();
    let mut cx = Context::from_waker(core::task::Waker::noop());
    assert_eq!(
        pin!(p.writable(usize::MAX)).poll(&mut cx),
        Poll::Ready(Err(RoomError::TooLarge {
            len: usize::MAX,
            max: 16
        }))
    );
    assert_eq!(
        pin!(p.writable_raw(0)).poll(&mut cx),
        Poll::Ready(Err(RoomError::TooLarge { len: 0, max: 32 }))
    );
    assert_eq!(
        pin!(p.writable_raw(33)).poll(&mut cx),
        Poll::Ready(Err(RoomError::TooLarge { len: 33, max: 32 }))
    );
}

#[test]
fn a_resplit_ring_frees_the_slot_of_a_forgotten_future() {
    let mut ring = Ring::<64>::new();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    {
        let (_p, mut c) = ring.split_mut(0);
        let mut fut = core::mem::ManuallyDrop::new(c.readable());
        assert!(core::pin::Pin::new(&mut *fut).poll(&mut cx).is_pending());
    }
    // The producer's drop woke the forgotten future, which keeps its slot claimed.
    assert_eq!(count.wakes(), 1);
    let (mut p, mut c) = ring.split_mut(0);
    let mut readable = pin!(c.readable());
    assert!(readable.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        count.wakes(),
        1,
        "the slot was free again: no poll-again wake-up"
    );
    p.push(0, 0, b"x").unwrap();
    p.wake_consumer();
    assert_eq!(count.wakes(), 2);
    assert_eq!(readable.poll(&mut cx), Poll::Ready(Ok(())));
}

#[test]
fn a_resplit_ring_is_open_again() {
    let mut ring = Ring::<64>::new();
    {
        let (p, _c) = ring.split_mut(0);
        drop(p);
    }
    let (_p, mut c) = ring.split_mut(0);
    let mut cx = Context::from_waker(core::task::Waker::noop());
    assert!(pin!(c.readable()).poll(&mut cx).is_pending());
}

/// Producer and consumer threads, each driving its futures with a parking executor:
/// a lost wake-up parks one of them forever.
#[test]
fn threads_pass_every_record_through_awaited_waits() {
    const EVENTS: u64 = if cfg!(miri) { 300 } else { 20_000 };
    let ring = Ring::<128>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..EVENTS {
                let got = block_on(p.push_async(0, 0, &seq.to_le_bytes()));
                assert_eq!(got, Ok(seq));
            }
        });
        let mut next = 0u64;
        while block_on(c.readable()).is_ok() {
            let mut batch = c.read_batch(usize::MAX);
            while let Some(r) = batch.next() {
                assert_eq!(r.header.seq, next);
                assert_eq!(r.payload, next.to_le_bytes());
                next += 1;
            }
            drop(batch);
            c.wake_producer();
        }
        assert_eq!(next, EVENTS);
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Fails the test (rather than hanging it) if `future` does not finish in time.
fn within<F: Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), future)
            .await
            .expect("an awaiting task was never woken")
    })
}

#[test]
#[cfg_attr(miri, ignore)] // tokio's runtime needs system calls Miri lacks
fn tokio_producer_and_consumer_tasks_pass_100k_events() {
    const EVENTS: u64 = 100_000;
    let rt = runtime();
    let (mut p, mut c) = Ring::<1024>::split_owned(0);
    let producer = rt.spawn(async move {
        for seq in 0..EVENTS {
            assert_eq!(p.push_async(1, seq, &seq.to_le_bytes()).await, Ok(seq));
        }
    });
    let consumer = rt.spawn(async move {
        let mut next = 0u64;
        while c.readable().await.is_ok() {
            let mut batch = c.read_batch(64);
            while let Some(r) = batch.next() {
                assert_eq!((r.header.seq, r.payload), (next, &next.to_le_bytes()[..]));
                next += 1;
            }
            drop(batch);
            c.wake_producer();
        }
        next
    });
    within(&rt, async {
        producer.await.unwrap();
        assert_eq!(consumer.await.unwrap(), EVENTS);
    });
}

#[test]
#[cfg_attr(miri, ignore)] // tokio's runtime needs system calls Miri lacks
fn tokio_dropping_either_handle_wakes_the_awaiting_task() {
    let rt = runtime();
    let (p, mut c) = Ring::<1024>::split_owned(0);
    let consumer = rt.spawn(async move { c.readable().await });
    within(&rt, async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(p);
        assert_eq!(consumer.await.unwrap(), Err(Closed));
    });

    let (mut p, c) = Ring::<64>::split_owned(0);
    p.push(0, 0, &[0; 8]).unwrap();
    p.push(0, 0, &[0; 8]).unwrap();
    let producer = rt.spawn(async move { p.push_async(0, 0, &[0; 8]).await });
    within(&rt, async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(c);
        assert_eq!(producer.await.unwrap(), Err(RoomError::Closed));
    });
}
