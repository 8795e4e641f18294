//! Attacks on the writer path: fill closures that panic (shared writer and appender, at
//! every ring position), appenders dropped on other threads, absurd queue sizes, payloads
//! one over the maximum.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::*;
use storage_std::backend::Backend;
use storage_std::{
    Durability, Error, LogReader, RecordMeta, Start, VerifyStatus, Writer, WriterOptions, verify,
};

type W = Writer<1024>;

fn read_all(b: &Arc<dyn Backend>) -> Vec<(u64, Vec<u8>)> {
    let r = LogReader::new(b.clone());
    let mut c = r.cursor(Start::Oldest).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = c.next().unwrap() {
        out.push((rec.seq(), rec.payload.to_vec()));
    }
    out
}

fn assert_verifies(b: &Arc<dyn Backend>) {
    let v = verify(b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
}

fn quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = f();
    std::panic::set_hook(hook);
    r
}

/// A fill closure that panics after scribbling over its slice publishes nothing: the
/// sequence is not used up, the writer keeps working (the producer mutex's poison is
/// ignored), and the scribbled bytes never reach a file. Sizes vary so that panics land
/// on every ring position, wrap reservations included.
#[test]
fn a_panicking_fill_publishes_nothing_through_the_shared_writer() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let mut want = Vec::new();
    quiet_panics(|| {
        for i in 0..600usize {
            let len = (i * 7) % 200;
            if i % 3 == 1 {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    w.append_in_place(len, RecordMeta::default(), |buf| {
                        buf.fill(0xEE);
                        panic!("fill fails");
                    })
                }));
                assert!(r.is_err(), "the panic reaches the caller");
            } else {
                let p = vec![(i % 251) as u8; len];
                let s = w.append(&p).unwrap();
                assert_eq!(s, want.len() as u64, "no sequence is used by a panic");
                want.push(p);
            }
        }
    });
    assert_eq!(w.next_seq(), want.len() as u64);
    assert!(w.health().is_ok());
    let report = w.close().unwrap();
    assert_eq!(report.durable_seq, Some(want.len() as u64 - 1));
    let got = read_all(&b);
    assert_eq!(got.len(), want.len());
    for (i, (s, p)) in got.iter().enumerate() {
        assert_eq!((*s, p), (i as u64, &want[i]));
    }
    assert_verifies(&b);
}

/// The same through an appender: the panic unwinds out of the appender's owner, which
/// drops it and so hands the producer back; an appender kept across a caught panic
/// goes on appending from the same sequence.
#[test]
fn a_panicking_fill_publishes_nothing_through_an_appender() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let mut want: Vec<Vec<u8>> = Vec::new();
    quiet_panics(|| {
        // Kept across caught panics.
        let mut a = w.appender().unwrap();
        for i in 0..400usize {
            let len = (i * 13) % 180;
            if i % 4 == 2 {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    a.append_in_place(len, RecordMeta::default(), |buf| {
                        buf.fill(0xAB);
                        panic!("fill fails");
                    })
                }));
                assert!(r.is_err());
                assert_eq!(a.next_seq(), want.len() as u64);
            } else {
                let p = vec![(i % 249) as u8; len];
                assert_eq!(a.append(&p).unwrap(), want.len() as u64);
                want.push(p);
            }
        }
        drop(a);
        // Dropped by the unwind: the shared writer gets the producer back.
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut a = w.appender().unwrap();
            a.append_in_place(9, RecordMeta::default(), |_| panic!("inside"))
                .unwrap();
        }));
        assert!(r.is_err());
    });
    let p = b"after the panics".to_vec();
    assert_eq!(w.append(&p).unwrap(), want.len() as u64);
    want.push(p);
    let report = w.close().unwrap();
    assert_eq!(report.next_seq, want.len() as u64);
    let got = read_all(&b);
    assert_eq!(got.len(), want.len());
    for (i, (s, p)) in got.iter().enumerate() {
        assert_eq!((*s, p), (i as u64, &want[i]));
    }
    assert_verifies(&b);
}

/// An appender moved to another thread and dropped there gives the producer back; while
/// it is out, shared appends and a second appender are refused as retryable.
#[test]
fn an_appender_dropped_on_another_thread_gives_the_producer_back() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let a = w.appender().unwrap();
    let e = w.append(b"busy").unwrap_err();
    assert!(
        matches!(e, Error::ProducerBusy) && e.is_retryable(),
        "{e:?}"
    );
    assert!(matches!(w.appender(), Err(Error::ProducerBusy)));
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut a = a;
            for i in 0..50u64 {
                assert_eq!(a.append(&i.to_le_bytes()).unwrap(), i);
            }
            // Dropped here, on this thread.
        });
    });
    assert_eq!(w.next_seq(), 50);
    assert_eq!(w.append(b"shared again").unwrap(), 50);
    assert_eq!(w.sync().unwrap(), Some(50));
    w.close().unwrap();
    assert_eq!(read_all(&b).len(), 51);
}

/// Queue sizes past the limit or not powers of two are refused, by the options check
/// and by the generic size alike, before anything is allocated.
#[test]
fn absurd_queue_sizes_are_refused_without_allocating() {
    for q in [1usize, 2, 32, (1 << 31) + 1, 1 << 32, usize::MAX, 1 << 63] {
        let (_m, b) = mem();
        match W::open_with(b, WriterOptions::default().with_queue_bytes(q)) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("queue"), "{q}: {m}"),
            other => panic!("{q}: {other:?}"),
        }
    }
    let (_m, b) = mem();
    match Writer::<48>::open_with(b, WriterOptions::default()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("queue"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// One byte over the largest payload is refused (not retryable) by the writer and by
/// an appender, and nothing is published; the largest goes through both.
#[test]
fn one_byte_over_the_largest_payload_is_refused_everywhere() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(Durability::None)).unwrap();
    let max = w.max_payload();
    assert_eq!(max, 1024 / 2 - 32);
    let big = vec![7u8; max + 1];
    let e = w.append(&big).unwrap_err();
    assert!(
        matches!(e, Error::TooLarge { len, max: m } if len == max + 1 && m == max)
            && !e.is_retryable(),
        "{e:?}"
    );
    assert!(matches!(
        w.append_in_place(max + 1, RecordMeta::default(), |_| unreachable!()),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        w.append_in_place(usize::MAX, RecordMeta::default(), |_| unreachable!()),
        Err(Error::TooLarge { .. })
    ));
    {
        let mut a = w.appender().unwrap();
        assert!(matches!(a.append(&big), Err(Error::TooLarge { .. })));
        assert!(matches!(
            a.try_append_with(&big, RecordMeta::default()),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(a.append(&big[..max]).unwrap(), 0);
    }
    assert_eq!(w.append(&big[..max]).unwrap(), 1);
    w.close().unwrap();
    let got = read_all(&b);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(_, p)| p.len() == max));
}

/// The smallest queue (64 bytes) takes only empty payloads, one record per half ring,
/// and still writes and reads back every one of them; a byte more is refused.
#[test]
fn the_smallest_queue_takes_empty_records_only_and_loses_none() {
    let (_m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group()).with_queue_bytes(64)).unwrap();
    assert_eq!(w.max_payload(), 0);
    assert!(matches!(
        w.append(b"x"),
        Err(Error::TooLarge { len: 1, max: 0 })
    ));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut a = w.appender().unwrap();
            for i in 0..300u64 {
                assert_eq!(a.append(b"").unwrap(), i);
            }
        });
    });
    assert_eq!(w.close().unwrap().durable_seq, Some(299));
    let got = read_all(&b);
    assert_eq!(got.len(), 300);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (s, p))| *s == i as u64 && p.is_empty())
    );
    assert_verifies(&b);
}
