//! Retention of whole sealed segments, and durable consumer offsets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::{Backend, CrashMode, MemBackend};
use storage_std::{
    Error, KeepUnread, LogReader, OffsetStore, RetentionPolicy, Start, VerifyStatus, Writer, verify,
};

type W = Writer<8192>;

fn filled(n: u64) -> (MemBackend, Arc<dyn Backend>, W) {
    let (m, b) = mem();
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    for s in 0..n {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.sync().unwrap();
    (m, b, w)
}

fn seg_count(b: &Arc<dyn Backend>) -> usize {
    b.list()
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .count()
}

#[test]
fn retention_by_count_keeps_the_newest_and_the_log_contiguous() {
    let (_m, b, w) = filled(400);
    let before = seg_count(&b);
    assert!(before > 6);
    let rep = w
        .apply_retention(&RetentionPolicy::default().with_max_segments(Some(3)))
        .unwrap();
    assert_eq!(rep.deleted.len(), before - 3);
    assert_eq!(seg_count(&b), 3);
    assert!(rep.bytes_freed > 0);
    let first = rep.deleted.last().unwrap().last_seq.unwrap() + 1;
    let r = LogReader::new(b.clone());
    match r.cursor(Start::Seq(0)) {
        Err(Error::NotRetained {
            requested: 0,
            first: f,
        }) => assert_eq!(f, first),
        other => panic!("{other:?}"),
    }
    let mut c = r.cursor(Start::Oldest).unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), first);
    w.close().unwrap();
    let v = verify(&b).unwrap();
    assert_eq!(v.status, VerifyStatus::Clean, "{:#?}", v.findings);
    assert_eq!(v.first_seq, Some(first));
    // Reopening a log whose start was deleted works and continues.
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    assert_eq!(w.next_seq(), 400);
    w.close().unwrap();
}

#[test]
fn retention_by_size_and_age() {
    let (_m, b, w) = filled(400);
    let total: u64 = LogReader::new(b.clone())
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.bytes)
        .sum();
    let rep = w
        .apply_retention(&RetentionPolicy::default().with_max_total_bytes(Some(total / 2)))
        .unwrap();
    let left: u64 = LogReader::new(b.clone())
        .segments()
        .unwrap()
        .iter()
        .map(|s| s.bytes)
        .sum();
    assert!(left <= total / 2, "{left} > {}", total / 2);
    assert!(!rep.deleted.is_empty());
    // Nothing is an hour old.
    let rep = w
        .apply_retention(&RetentionPolicy::default().with_max_age(Some(Duration::from_secs(3600))))
        .unwrap();
    assert!(rep.deleted.is_empty());
    // Everything sealed is older than zero: only the active segment stays.
    std::thread::sleep(Duration::from_millis(2));
    w.apply_retention(&RetentionPolicy::default().with_max_age(Some(Duration::ZERO)))
        .unwrap();
    assert_eq!(seg_count(&b), 1);
    w.close().unwrap();
}

#[test]
fn retention_keeps_what_a_named_consumer_has_not_read() {
    let (_m, b, w) = filled(400);
    let offsets = w.offsets();
    offsets.commit("slow", 100).unwrap();
    offsets.commit("fast", 390).unwrap();
    let keep_all = RetentionPolicy::default()
        .with_max_segments(Some(1))
        .with_keep_unread(KeepUnread::AllConsumers);
    let rep = w.apply_retention(&keep_all).unwrap();
    assert_eq!(rep.held_by.as_deref(), Some("slow"));
    assert!(rep.deleted.iter().all(|s| s.last_seq.unwrap() < 100));
    let r = LogReader::new(b.clone());
    let mut c = r.resume("slow").unwrap();
    assert_eq!(
        c.next().unwrap().unwrap().seq(),
        100,
        "the slow consumer resumes"
    );
    let mut c = r.resume("fast").unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), 390);
    // A consumer that never committed starts at the oldest retained record.
    let oldest = rep.deleted.last().map_or(0, |s| s.last_seq.unwrap() + 1);
    assert_eq!(
        r.resume("never").unwrap().next().unwrap().unwrap().seq(),
        oldest
    );
    drop(c);
    // A named consumer without an offset has read nothing: it keeps everything left.
    let n = seg_count(&b);
    let rep = w
        .apply_retention(
            &RetentionPolicy::default()
                .with_max_segments(Some(1))
                .with_keep_unread(KeepUnread::Consumers(vec!["new".into()])),
        )
        .unwrap();
    assert!(rep.deleted.is_empty());
    assert_eq!(seg_count(&b), n);
    // Once it catches up, retention proceeds.
    offsets.commit("slow", 400).unwrap();
    w.apply_retention(&keep_all).unwrap();
    assert_eq!(seg_count(&b), 1);
    w.close().unwrap();
}

#[test]
fn the_writer_applies_retention_as_it_rolls() {
    let (_m, b) = mem();
    let mut o = small_opts(small_group());
    o = o.with_retention(RetentionPolicy::default().with_max_segments(Some(2)));
    let w = W::open_with(b.clone(), o).unwrap();
    for s in 0..600 {
        w.append_with(&payload(s), meta(s)).unwrap();
    }
    w.close().unwrap();
    assert!(seg_count(&b) <= 2, "{}", seg_count(&b));
    assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
    let mut c = LogReader::new(b).cursor(Start::Oldest).unwrap();
    let mut last = None;
    while let Some(r) = c.next().unwrap() {
        last = Some(r.seq());
    }
    assert_eq!(last, Some(599));
}

#[test]
fn offsets_commit_durably_and_list() {
    let (m, b) = mem();
    let s = OffsetStore::new(b.clone());
    assert_eq!(s.get("a").unwrap(), None);
    s.commit("a", 5).unwrap();
    s.commit("b-2_x", 7).unwrap();
    s.commit("a", 9).unwrap();
    m.power_cut(CrashMode::DropUnsynced);
    let names: Vec<(String, u64)> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|o| (o.name, o.next_seq))
        .collect();
    assert_eq!(names, vec![("a".into(), 9), ("b-2_x".into(), 7)]);
    assert!(s.remove("a").unwrap());
    assert!(!s.remove("a").unwrap());
    assert!(matches!(
        s.commit("../x", 1),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(s.commit("", 1), Err(Error::InvalidArgument(_))));
}

#[test]
fn an_interrupted_commit_leaves_the_old_or_the_new_offset() {
    let base = MemBackend::new();
    OffsetStore::new(Arc::new(base.clone()))
        .commit("c", 10)
        .unwrap();
    let mut saw_new = false;
    let mut saw_old = false;
    for k in 0..10 {
        for mode in [CrashMode::DropUnsynced, CrashMode::KeepUnsynced] {
            let m = base.fork();
            m.set_crash_at(Some(k));
            let s = OffsetStore::new(Arc::new(m.clone()));
            let committed = s.commit("c", 20).is_ok();
            m.power_cut(mode);
            let got = s.get("c").unwrap().unwrap().next_seq;
            if committed {
                assert_eq!(got, 20, "a commit that returned is durable");
            }
            assert!(got == 10 || got == 20, "{got}");
            saw_new |= got == 20;
            saw_old |= got == 10;
        }
    }
    assert!(saw_new && saw_old);
}
