//! Adversarial use of the `async` waits: many futures at once, futures dropped or
//! forgotten after registering, polls after completion, a forgotten stream (a stream
//! borrows its writer, so it cannot outlive a close).
#![cfg(feature = "async")]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use storage_std::{Durability, LogItem, ReadLimit, Start, Writer, WriterOptions};

struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn adv_many_futures_dropped_forgotten_and_polled_after_completion() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), WriterOptions::new(Durability::None)).unwrap();
    let seq = w.append(b"a").unwrap();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut futs: Vec<Pin<Box<_>>> = (0..1000).map(|_| Box::pin(w.durable(seq))).collect();
    for f in &mut futs {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    // A third dropped, a third forgotten after registering: neither disturbs the rest.
    let kept: Vec<_> = futs
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| match i % 3 {
            0 => None,
            1 => {
                std::mem::forget(f);
                None
            }
            _ => Some(f),
        })
        .collect();
    w.sync().unwrap();
    assert!(count.0.load(Ordering::SeqCst) >= kept.len());
    for mut f in kept {
        for _ in 0..3 {
            assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        }
    }
    // A future for a sequence never appended ends at close, polled after that too.
    let mut never = Box::pin(w.durable(seq + 10));
    assert!(never.as_mut().poll(&mut cx).is_pending());
    let w2 = &w;
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = w2.append(b"b");
        });
    });
    w.sync().unwrap();
    assert!(never.as_mut().poll(&mut cx).is_pending());
    drop(never);
    w.close().unwrap();
}

#[test]
fn adv_forgotten_stream_and_repeated_polls() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), WriterOptions::new(Durability::Sync)).unwrap();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let map = |item: LogItem<'_>| match item {
        LogItem::Record(r) => r.payload.to_vec(),
        LogItem::Lost(_) => Vec::new(),
    };
    {
        let mut s = Box::pin(w.follow(ReadLimit::Durable, Start::Oldest, map).unwrap());
        assert!(s.as_mut().poll_next(&mut cx).is_pending());
        std::mem::forget(s);
    }
    let mut s = Box::pin(w.follow(ReadLimit::Durable, Start::Oldest, map).unwrap());
    assert!(s.as_mut().poll_next(&mut cx).is_pending());
    for i in 0..100u8 {
        w.append(&[i]).unwrap();
    }
    for i in 0..100u8 {
        match s.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(p))) => assert_eq!(p, [i]),
            other => panic!("{i}: {:?}", other.map(|o| o.map(|r| r.is_ok()))),
        }
    }
    assert!(s.as_mut().poll_next(&mut cx).is_pending());
    assert!(s.as_mut().poll_next(&mut cx).is_pending());
    drop(s);
    w.close().unwrap();
}
