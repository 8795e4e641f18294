//! A broadcast reader's async waiting: hand-polled (these run under Miri) and reader tasks
//! on tokio's multi-thread runtime against a writer thread that waits with `Blocking`.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};

use crate::broadcast::{GatedRing, OverwriteRing, ReadError};
use crate::wait::Blocking;
use crate::waker::testing::{block_on, counting};

#[test]
fn a_waiting_reader_is_woken_where_a_blocking_sleeper_is() {
    let ring = GatedRing::<4, 8, 2>::new();
    let blocking = Blocking::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    {
        let mut ready = pin!(r.ready());
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        w.try_publish(0, 0, b"a").unwrap();
        assert_eq!(count.wakes(), 0, "try_publish does not notify (documented)");
        w.publish_wait(&blocking, 0, 0, b"b").unwrap();
        assert_eq!(count.wakes(), 1, "publish_wait with Blocking notifies");
        assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    assert_eq!(r.read_batch(8, |_| ()), Ok(2));
    {
        let mut ready = pin!(r.ready());
        assert!(ready.as_mut().poll(&mut cx).is_pending());
        w.try_publish(0, 0, b"c").unwrap();
        w.wake_readers();
        assert_eq!(count.wakes(), 2);
        assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    assert_eq!(r.read_batch(8, |_| ()), Ok(1));
    let mut ready = pin!(r.ready());
    assert!(ready.as_mut().poll(&mut cx).is_pending());
    drop(w);
    assert_eq!(count.wakes(), 3, "closing notifies");
    assert_eq!(ready.poll(&mut cx), Poll::Ready(Err(ReadError::Closed)));
}

#[test]
fn every_waiting_reader_is_woken_and_more_than_the_slots_still_finish() {
    // Ten readers, eight waker slots: the two without a slot are polled again at once.
    let ring = GatedRing::<4, 8, 10>::new();
    let mut w = ring.try_writer().unwrap();
    let mut readers: std::vec::Vec<_> = (0..10).map(|_| ring.join().unwrap()).collect();
    let wakers: std::vec::Vec<_> = (0..10).map(|_| counting()).collect();
    let mut futures: std::vec::Vec<_> = readers
        .iter_mut()
        .map(|r| std::boxed::Box::pin(r.ready()))
        .collect();
    for (f, (_, waker)) in futures.iter_mut().zip(&wakers) {
        assert!(
            f.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
    }
    let spun = wakers.iter().filter(|(c, _)| c.wakes() == 1).count();
    assert_eq!(spun, 2, "readers beyond the slots ask to be polled again");
    w.try_publish(0, 0, b"x").unwrap();
    w.wake_readers();
    for (f, (count, waker)) in futures.iter_mut().zip(&wakers) {
        assert!(count.wakes() >= 1);
        let polled = f.as_mut().poll(&mut Context::from_waker(waker));
        assert_eq!(polled, Poll::Ready(Ok(())));
    }
}

#[test]
fn a_lapped_overwrite_reader_is_ready_to_report_its_loss() {
    let ring = OverwriteRing::<4, 8, 1>::new();
    let mut w = ring.try_writer().unwrap();
    let mut r = ring.join().unwrap();
    for _ in 0..9 {
        w.try_publish(0, 0, b"x").unwrap();
    }
    let mut cx = Context::from_waker(core::task::Waker::noop());
    assert_eq!(pin!(r.ready()).poll(&mut cx), Poll::Ready(Ok(())));
    assert!(matches!(r.try_read(|_| ()), Err(ReadError::Lagged(_))));
}

#[test]
fn reader_threads_await_every_event_of_a_blocking_writer() {
    const EVENTS: u64 = if cfg!(miri) { 200 } else { 20_000 };
    let ring = GatedRing::<8, 8, 2>::new();
    let blocking = Blocking::new();
    let mut w = ring.try_writer().unwrap();
    let readers = [ring.join().unwrap(), ring.join().unwrap()];
    std::thread::scope(|s| {
        for mut r in readers {
            s.spawn(move || {
                let mut next = 0;
                while block_on(r.ready()).is_ok() {
                    r.read_batch(8, |e| {
                        assert_eq!(e.header.seq, next);
                        next += 1;
                    })
                    .unwrap();
                    r.wake_writer();
                }
                assert_eq!(next, EVENTS);
            });
        }
        for seq in 0..EVENTS {
            assert_eq!(w.publish_wait(&blocking, 0, 0, &seq.to_le_bytes()), Ok(seq));
        }
        drop(w);
    });
    assert_eq!(blocking.safety_net_wakeups(), 0);
}

#[test]
#[cfg_attr(miri, ignore)] // tokio's runtime needs system calls Miri lacks
fn tokio_reader_tasks_await_100k_events() {
    const EVENTS: u64 = 100_000;
    static RING: GatedRing<64, 8, 2> = GatedRing::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let blocking: &'static Blocking = std::boxed::Box::leak(std::boxed::Box::new(Blocking::new()));
    let mut w = RING.try_writer().unwrap();
    let tasks: std::vec::Vec<_> = (0..2)
        .map(|_| {
            let mut r = RING.join().unwrap();
            rt.spawn(async move {
                let mut next = 0;
                loop {
                    match r.ready().await {
                        Ok(()) => {}
                        Err(ReadError::Closed) => return next,
                        Err(e) => panic!("{e}"),
                    }
                    r.read_batch(64, |e| {
                        assert_eq!(e.header.seq, next);
                        next += 1;
                    })
                    .unwrap();
                    r.wake_writer();
                }
            })
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for seq in 0..EVENTS {
            assert_eq!(w.publish_wait(blocking, 0, 0, &seq.to_le_bytes()), Ok(seq));
        }
    });
    rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            for t in tasks {
                assert_eq!(t.await.unwrap(), EVENTS);
            }
        })
        .await
        .expect("a reader task was never woken");
    });
    writer.join().unwrap();
    assert_eq!(blocking.safety_net_wakeups(), 0);
}
