//! Feature `tracing`: the writer's open, recovery, segment seal and roll, retention and
//! fail-stop are `tracing` events, seen by whatever subscriber the application installs
//! (here a hand-written one that keeps every event; the writer thread's events too, so
//! it is the global default).
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex, OnceLock};

use storage_std::backend::{Fault, FaultyBackend, MemBackend, OpKind};
use storage_std::{Durability, Error, RetentionPolicy, Writer, WriterOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: level, target, and its fields as `name=value` (the message too).
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    text: String,
}

#[derive(Default)]
struct Capture(Mutex<Vec<Captured>>);

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for &'static Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            text: f.0,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::default());
        tracing::subscriber::set_global_default(c).unwrap();
        c
    })
}

/// The events whose text contains `marker` (each test's log has its own).
fn events_with(marker: &str) -> Vec<Captured> {
    let all = capture().0.lock().unwrap();
    all.iter()
        .filter(|e| e.text.contains(marker))
        .cloned()
        .collect()
}

fn count(events: &[Captured], message: &str) -> usize {
    events
        .iter()
        .filter(|e| e.text.contains(&format!("message={message}")))
        .count()
}

#[test]
#[cfg_attr(miri, ignore)]
fn open_recovery_roll_seal_and_retention_are_events() {
    let c = capture();
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions::new(Durability::group())
        .with_segment_bytes(4096)
        .with_retention(RetentionPolicy::default().with_max_segments(Some(2)));
    let before = c.0.lock().unwrap().len();
    let w: Writer = Writer::open(dir.path(), opts).unwrap();
    for i in 0..200u32 {
        w.append(&[i as u8; 100]).unwrap();
    }
    w.sync().unwrap();
    let sealed = w.segments().len();
    w.close().unwrap();
    let events: Vec<Captured> = c.0.lock().unwrap()[before..].to_vec();
    let mine = |m: &str| {
        events
            .iter()
            .filter(|e| e.text.contains(&format!("message={m}")))
            .filter(|e| e.target == "storage_std")
            .count()
    };
    assert!(mine("writer opened") >= 1, "{events:#?}");
    assert!(mine("log recovered") >= 1, "{events:#?}");
    // Every roll seals one segment and starts the next; retention kept 2 sealed ones.
    assert!(sealed <= 2 && mine("segment sealed") >= 3, "{events:#?}");
    assert!(
        mine("segment rolled") >= mine("segment sealed") - 1,
        "{events:#?}"
    );
    assert!(mine("retention deleted segments") >= 1, "{events:#?}");
    let rolled = events
        .iter()
        .find(|e| e.text.contains("message=segment rolled"))
        .unwrap();
    assert_eq!(rolled.level, Level::INFO);
    assert!(rolled.text.contains("base_seq="), "{rolled:?}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_fail_stop_is_an_error_event_with_its_cause() {
    capture();
    let f = Arc::new(FaultyBackend::new(MemBackend::new(), vec![]));
    let w: Writer = Writer::open_with(f.clone(), WriterOptions::new(Durability::Sync)).unwrap();
    w.append(b"ok").unwrap();
    f.add_fault(Fault::eio(OpKind::Sync, f.count(OpKind::Sync)));
    assert!(matches!(w.append(b"fails"), Err(Error::Stopped(_))));
    // Unique to this test's writer: the fault's EIO on its sync.
    let stops = events_with("writer fail-stop");
    assert_eq!(count(&stops, "writer fail-stop"), 1, "{stops:#?}");
    assert_eq!(stops[0].level, Level::ERROR);
    assert!(stops[0].text.contains("cause="), "{stops:?}");
    assert!(stops[0].text.to_lowercase().contains("sync"), "{stops:?}");
    drop(w);
}
