//! A ringcore ring drained straight into the durable log (`storage_std::dispatch`):
//! every event pushed ends up in the log, in order, durable after `wait_durable`; a
//! writer's fail-stop comes back from the dispatcher as an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringcore::dispatch::{Dispatcher, ErrorPolicy};
use ringcore::spsc::{RecordView, Ring};
use storage_std::backend::{Fault, FaultyBackend, MemBackend, OpKind};
use storage_std::dispatch::{DrainError, LogSink};
use storage_std::{Durability, Error, LogReader, Start, Writer, WriterOptions};

const EVENTS: u64 = 20_000;

fn payload(i: u64) -> Vec<u8> {
    i.to_le_bytes().repeat(1 + (i % 7) as usize)
}

#[test]
#[cfg_attr(miri, ignore)]
fn every_event_pushed_into_the_ring_is_in_the_log_in_order_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::group())).unwrap();
    let ring = Ring::<4096>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let done = AtomicBool::new(false);
    let mut sink = LogSink::new(&w).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..EVENTS {
                let data = payload(i);
                while p.push((i % 3) as u16, 1_000 + i, &data).is_err() {
                    std::thread::yield_now(); // full: the drain catches up
                }
            }
            done.store(true, Ordering::Release);
        });
        // Drained in batches, the way a device loop would, while the producer pushes.
        loop {
            let finished = done.load(Ordering::Acquire);
            let n = sink.drain(&mut c, 64).unwrap();
            if n == 0 {
                if finished {
                    break;
                }
                std::thread::yield_now();
            }
        }
    });
    assert_eq!(sink.appended(), EVENTS);
    let last = sink.last_seq().unwrap();
    assert_eq!(last, EVENTS - 1);
    drop(sink);
    w.wait_durable(last, None).unwrap();
    assert_eq!(w.durable_seq(), Some(EVENTS - 1));
    // What a power cut now leaves: reread the files as they are, with no close.
    let mut cur = LogReader::open(dir.path())
        .unwrap()
        .cursor(Start::Oldest)
        .unwrap();
    for i in 0..EVENTS {
        let r = cur
            .next()
            .unwrap()
            .unwrap_or_else(|| panic!("event {i} missing"));
        assert_eq!(r.seq(), i);
        assert_eq!(r.payload, payload(i), "event {i}");
        assert_eq!(
            (r.header.kind, r.header.timestamp_ns),
            ((i % 3) as u16, 1_000 + i)
        );
    }
    assert!(cur.next().unwrap().is_none());
    drop(cur);
    w.close().unwrap();
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_writer_fail_stop_is_an_error_from_the_dispatcher() {
    let f = Arc::new(FaultyBackend::new(MemBackend::new(), vec![]));
    let w: Writer = Writer::open_with(f.clone(), WriterOptions::new(Durability::Sync)).unwrap();
    let ring = Ring::<1024>::new();
    let (mut p, mut c) = ring.try_split(0).unwrap();
    for i in 0..4u64 {
        p.push(0, i, &payload(i)).unwrap();
    }
    let mut sink = LogSink::new(&w).unwrap();
    assert_eq!(sink.drain(&mut c, 2).unwrap(), 2);
    // The next sync fails: `Sync` appends wait for theirs, so the next append sees the
    // fail-stop.
    f.add_fault(Fault::eio(OpKind::Sync, f.count(OpKind::Sync)));
    match sink.drain(&mut c, 8) {
        Err(DrainError::Log {
            ring_seq: 2,
            error: Error::Stopped(cause),
        }) => assert!(cause.to_string().contains("sync"), "{cause}"),
        other => panic!("{other:?}"),
    }
    // The dispatcher (with another consumer) reports it too, and stops: the record
    // after it stays in the ring.
    let mut seen = 0;
    let mut count = |_: RecordView<'_>| -> Result<(), Error> {
        seen += 1;
        Ok(())
    };
    {
        let mut d = Dispatcher::new([&mut sink, &mut count], ErrorPolicy::Stop);
        let o = d.dispatch(&mut c, 8).unwrap();
        assert!(o.stopped);
        assert!(matches!(o.first_fault.unwrap().error, Error::Stopped(_)));
        assert_eq!(d.stats()[0].errors, 1);
    }
    assert_eq!(seen, 1);
    assert_eq!(
        sink.last_seq(),
        Some(1),
        "nothing after the fail-stop was appended"
    );
    drop(sink);
    assert_eq!(w.durable_seq(), Some(1));
    assert!(matches!(w.close(), Err(Error::Stopped(_))));
}
