//! The `async` feature on tokio (multi-thread and current-thread runtimes): the
//! `wait_durable` future and the follow stream, their wake-ups and the writer's
//! fail-stop reaching them.
#![cfg(feature = "async")]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::Stream;

use storage_std::backend::{Fault, FaultyBackend, MemBackend, OpKind};
use storage_std::{Durability, Error, LogItem, ReadLimit, Start, Writer, WriterOptions};
use tokio::runtime::{Builder, Runtime};
use tokio::time::timeout;

/// Long enough that only a lost wake-up (nobody left to wake the task) reaches it.
const LOST: Duration = Duration::from_secs(10);

/// Awaits `f`, failing if it needed `LOST` to end: a task whose wake-up was lost is
/// polled again only when a timer fires, and may find its condition true by then (so
/// a plain `timeout(..).await.is_ok()` would not see the loss).
async fn woken<F: std::future::Future>(what: impl std::fmt::Display, f: F) -> F::Output {
    let start = std::time::Instant::now();
    let out = timeout(LOST, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: woken by nobody"));
    assert!(
        start.elapsed() < LOST,
        "{what}: woken only by the timer, a lost wake-up"
    );
    out
}

#[test]
fn the_future_and_the_stream_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    send(&w.durable(0));
    send(
        &w.follow(ReadLimit::Durable, Start::Oldest, record_payload)
            .unwrap(),
    );
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_time().build().unwrap()
}

fn payload(i: u64) -> Vec<u8> {
    i.to_le_bytes().repeat(1 + (i % 5) as usize)
}

fn record_payload(item: LogItem<'_>) -> Vec<u8> {
    match item {
        LogItem::Record(r) => r.payload.to_vec(),
        LogItem::Lost(l) => panic!("lost range {l:?} in a fresh log"),
    }
}

/// Every wait on a durable future ends once its sequence is durable, never before, on
/// both runtimes, while another thread keeps appending (the durable point moves while
/// tasks check and register: a lost wake-up hangs one of them until `LOST`).
fn waits_end_once_durable(rt: Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let w: Arc<Writer> =
        Arc::new(Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap());
    const N: u64 = 2_000;
    let appender = {
        let w = w.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                w.append(&payload(i)).unwrap();
            }
        })
    };
    rt.block_on(async {
        let mut tasks = Vec::new();
        for seq in (0..N).step_by(7).chain([N - 1]) {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                woken(seq, w.durable(seq)).await.unwrap();
                assert!(
                    w.durable_seq() >= Some(seq),
                    "{seq} resolved before durable"
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    appender.join().unwrap();
    Arc::into_inner(w).unwrap().close().unwrap();
}

#[test]
#[cfg_attr(miri, ignore)]
fn durable_future_on_a_multi_thread_runtime() {
    waits_end_once_durable(multi_thread());
}

#[test]
#[cfg_attr(miri, ignore)]
fn durable_future_on_a_current_thread_runtime() {
    waits_end_once_durable(current_thread());
}

/// One record at a time, each waited for by a fresh future that registers while the
/// writer thread is syncing it: many chances for the durable point to move between the
/// future's check and its registration.
#[test]
#[cfg_attr(miri, ignore)]
fn no_wake_up_is_lost_between_check_and_registration() {
    let dir = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    for rt in [multi_thread(), current_thread()] {
        rt.block_on(async {
            for i in 0..300 {
                let seq = w.append(&payload(i)).unwrap();
                woken(seq, w.durable(seq)).await.unwrap();
            }
        });
    }
    w.close().unwrap();
}

fn faulty_writer() -> (Arc<FaultyBackend>, Writer) {
    let f = Arc::new(FaultyBackend::new(MemBackend::new(), vec![]));
    let w = Writer::open_with(f.clone(), WriterOptions::new(Durability::None)).unwrap();
    (f, w)
}

/// A task waiting for a record that never becomes durable is woken by the writer's
/// fail-stop, with the cause; later futures fail at once.
#[test]
#[cfg_attr(miri, ignore)]
fn a_fail_stop_wakes_the_durable_future_with_its_cause() {
    for rt in [multi_thread(), current_thread()] {
        let (f, w) = faulty_writer();
        let w = Arc::new(w);
        let seq = w.append(b"never durable").unwrap();
        f.add_fault(Fault::eio(OpKind::Sync, f.count(OpKind::Sync)));
        rt.block_on(async {
            let waiting = {
                let w = w.clone();
                tokio::spawn(async move { woken("fail-stop", w.durable(seq)).await })
            };
            // `None`: nothing syncs until asked; the task is parked by now or soon.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let w2 = w.clone();
            let sync = tokio::task::spawn_blocking(move || w2.sync());
            match waiting.await.unwrap() {
                Err(Error::Stopped(cause)) => assert!(cause.to_string().contains("sync")),
                other => panic!("{other:?}"),
            }
            assert!(matches!(sync.await.unwrap(), Err(Error::Stopped(_))));
            assert!(matches!(w.durable(seq).await, Err(Error::Stopped(_))));
        });
    }
}

/// The stream yields every record in order as it becomes durable.
#[test]
#[cfg_attr(miri, ignore)]
fn the_follow_stream_yields_every_record_in_order_on_both_runtimes() {
    for rt in [multi_thread(), current_thread()] {
        let dir = tempfile::tempdir().unwrap();
        let w: Arc<Writer> =
            Arc::new(Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap());
        const N: u64 = 1_500;
        let appender = {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    w.append(&payload(i)).unwrap();
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        rt.block_on(async {
            let mut s = w
                .follow(ReadLimit::Durable, Start::Oldest, record_payload)
                .unwrap();
            for i in 0..N {
                let p = woken(i, s.next_item())
                    .await
                    .expect("the writer is open: no end")
                    .unwrap();
                assert_eq!(p, payload(i), "record {i}");
                assert!(w.durable_seq() >= Some(i), "yielded before durable");
            }
            assert_eq!(s.next_seq(), N);
        });
        appender.join().unwrap();
        // A stream of the written point sees the last records without a sync.
        let last = w.append(b"written").unwrap();
        rt.block_on(async {
            let mut s = w
                .follow(ReadLimit::Written, Start::Seq(last), record_payload)
                .unwrap();
            let p = woken("written", s.next_item()).await;
            assert_eq!(p.unwrap().unwrap(), b"written");
        });
        Arc::into_inner(w).unwrap().close().unwrap();
    }
}

struct CountWakes(AtomicUsize);
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream waiting for more (registered, pending) is woken by the fail-stop and yields
/// its cause once, then ends.
#[test]
#[cfg_attr(miri, ignore)]
fn the_follow_stream_is_woken_by_a_fail_stop_and_reports_it_then_ends() {
    let (f, w) = faulty_writer();
    w.append(b"a").unwrap();
    w.sync().unwrap();
    let mut s = w
        .follow(ReadLimit::Durable, Start::Oldest, record_payload)
        .unwrap();
    let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut poll = || Pin::new(&mut s).poll_next(&mut cx);
    assert!(matches!(poll(), Poll::Ready(Some(Ok(p))) if p == b"a"));
    f.add_fault(Fault::eio(OpKind::Sync, f.count(OpKind::Sync)));
    w.append(b"b").unwrap();
    assert!(poll().is_pending(), "b is not durable: nothing to yield");
    let before = wakes.0.load(Ordering::SeqCst);
    assert!(matches!(w.sync(), Err(Error::Stopped(_))));
    // The writer thread wakes tasks right after the blocked threads (`sync` here).
    let deadline = std::time::Instant::now() + LOST;
    while wakes.0.load(Ordering::SeqCst) == before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        wakes.0.load(Ordering::SeqCst) > before,
        "the fail-stop woke the stream"
    );
    assert!(matches!(poll(), Poll::Ready(Some(Err(Error::Stopped(_))))));
    assert!(matches!(poll(), Poll::Ready(None)), "then the stream ends");
    assert!(matches!(poll(), Poll::Ready(None)));
    // A tokio task sees the same end.
    let rt = current_thread();
    assert!(rt.block_on(woken("ended", s.next_item())).is_none());
}
