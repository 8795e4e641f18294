//! The library's surface as a user meets it: error chains, iterator cursors, time at the
//! edge, option builders, text and serde forms.

use storage_std::{Durability, Error, LogReader, Writer, WriterOptions};

/// Every cause of `e`, outermost first, each as its `Display` prints it.
fn chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut src = e.source();
    while let Some(x) = src {
        out.push(x.to_string());
        src = x.source();
    }
    out
}

/// The chain printed as a log line would: causes joined by ": ".
fn chain_line(e: &dyn std::error::Error) -> String {
    chain(e).join(": ")
}

#[test]
fn an_io_error_chain_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-log");
    let e = LogReader::open(&missing).unwrap_err();
    // ENOENT's text, as the OS words it.
    let cause = std::io::Error::from_raw_os_error(2).to_string();
    let line = chain_line(&e);
    assert_eq!(line.matches(&cause).count(), 1, "{line}");
    assert!(line.contains(&missing.display().to_string()), "{line}");
}

#[test]
fn a_locked_error_says_locked_once() {
    let dir = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::Sync)).unwrap();
    let second: storage_std::Result<Writer> =
        Writer::open(dir.path(), WriterOptions::new(Durability::Sync));
    let e = match second {
        Err(e) => e,
        Ok(_) => panic!("a second writer opened a locked log"),
    };
    assert!(matches!(e, Error::Locked(_)), "{e}");
    let line = chain_line(&e);
    assert_eq!(line.matches("locked").count(), 1, "{line}");
    assert!(line.contains(&dir.path().display().to_string()), "{line}");
    w.close().unwrap();
}

#[test]
fn options_are_built_and_read_back_field_by_field() {
    use std::time::Duration;
    use storage_std::{KeepUnread, RetentionPolicy};
    let policy = RetentionPolicy::default()
        .with_max_age(Some(Duration::from_secs(3600)))
        .with_keep_unread(KeepUnread::Consumers(vec!["audit".into()]));
    let group = Durability::Group {
        max_bytes: 64 << 10,
        max_delay: Duration::from_micros(250),
    };
    let o = WriterOptions::default()
        .with_durability(group)
        .with_segment_bytes(8 << 20)
        .with_index_interval(4096)
        .with_first_seq(1000)
        .with_stall_timeout(Duration::from_secs(5))
        .with_preallocate(true)
        .with_retention(policy.clone())
        .with_force(true)
        .with_deep_check(true)
        .with_buffer_bytes(256 << 10)
        .with_queue_bytes(1 << 16);
    assert_eq!(o.durability(), group);
    assert_eq!(o.segment_bytes(), 8 << 20);
    assert_eq!(o.index_interval(), 4096);
    assert_eq!(o.first_seq(), 1000);
    assert_eq!(o.stall_timeout(), Some(Duration::from_secs(5)));
    assert!(o.preallocate() && o.force() && o.deep_check());
    assert_eq!(o.retention(), Some(&policy));
    assert_eq!(o.buffer_bytes(), 256 << 10);
    assert_eq!(o.queue_bytes(), Some(1 << 16));
    let cleared = o
        .clone()
        .with_retention(None)
        .with_stall_timeout(None)
        .with_queue_bytes(None);
    assert_eq!(
        (
            cleared.retention(),
            cleared.stall_timeout(),
            cleared.queue_bytes()
        ),
        (None, None, None)
    );

    // The text form and serde both ways give back the same options.
    let text = o.to_string();
    assert_eq!(text.parse::<WriterOptions>().unwrap(), o, "{text}");
    let json = serde_json::to_value(&o).unwrap();
    assert_eq!(json["durability"]["max_delay_ns"], 250_000, "{json}");
    assert_eq!(json["stall_timeout_ns"], 5_000_000_000u64, "{json}");
    assert_eq!(serde_json::from_value::<WriterOptions>(json).unwrap(), o);
    // Fields left out take their defaults; an unknown or mistyped field is an error.
    assert_eq!(
        "{}".parse::<WriterOptions>().unwrap(),
        WriterOptions::default()
    );
    for bad in [
        r#"{"segment_byte":1}"#,
        r#"{"segment_bytes":"big"}"#,
        "segment_bytes=1",
    ] {
        let e = bad.parse::<WriterOptions>().unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
    }
}

#[test]
fn durability_text_and_serde_round_trip() {
    use std::time::Duration;
    let modes = [
        Durability::None,
        Durability::Sync,
        Durability::group(),
        Durability::Group {
            max_bytes: 4096,
            max_delay: Duration::from_nanos(1500),
        },
        Durability::Group {
            max_bytes: 1 << 20,
            max_delay: Duration::from_secs(2),
        },
        Durability::Group {
            max_bytes: 0,
            max_delay: Duration::ZERO,
        },
    ];
    for d in modes {
        let text = d.to_string();
        assert_eq!(text.parse::<Durability>().unwrap(), d, "{text}");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            serde_json::from_str::<Durability>(&json).unwrap(),
            d,
            "{json}"
        );
    }
    assert_eq!(Durability::group().to_string(), "group");
    assert_eq!(
        serde_json::to_string(&Durability::Sync).unwrap(),
        r#"{"mode":"sync"}"#
    );
    assert_eq!(
        "group:max_delay=3ms".parse::<Durability>().unwrap(),
        Durability::Group {
            max_bytes: 1 << 20,
            max_delay: Duration::from_millis(3)
        }
    );
    for bad in [
        "",
        "Group",
        "group:",
        "group:max_bytes=",
        "group:max_delay=3",
        "group:max_delay=3h",
        "group:max_delay=99999999999999999999s",
        "group:max_bytes=1,colour=blue",
        "sync:max_bytes=1",
    ] {
        assert!(bad.parse::<Durability>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn reports_deserialize_what_they_serialize() {
    use storage_std::{CloseReport, RecoveryReport, RetentionPolicy, VerifyReport, WriterStats};
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions::new(Durability::Sync).with_segment_bytes(4096);
    let w: Writer = Writer::open(dir.path(), opts).unwrap();
    for _ in 0..100 {
        w.append(&[5; 100]).unwrap();
    }
    let stats: WriterStats = w.stats();
    let back: WriterStats = serde_json::from_str(&serde_json::to_string(&stats).unwrap()).unwrap();
    assert_eq!(back, stats);
    let retained = w
        .apply_retention(&RetentionPolicy::default().with_max_segments(Some(1)))
        .unwrap();
    assert!(!retained.deleted.is_empty());
    let json = serde_json::to_string(&retained).unwrap();
    assert_eq!(
        serde_json::from_str::<storage_std::RetentionReport>(&json).unwrap(),
        retained
    );
    let closed: CloseReport = w.close().unwrap();
    let json = serde_json::to_string(&closed).unwrap();
    assert_eq!(serde_json::from_str::<CloseReport>(&json).unwrap(), closed);
    let recovered: RecoveryReport = storage_std::recover(dir.path(), false).unwrap();
    let json = serde_json::to_string(&recovered).unwrap();
    assert_eq!(
        serde_json::from_str::<RecoveryReport>(&json).unwrap(),
        recovered
    );
    let verified: VerifyReport = storage_std::verify_dir(dir.path()).unwrap();
    let json = serde_json::to_string(&verified).unwrap();
    assert_eq!(
        serde_json::from_str::<VerifyReport>(&json).unwrap(),
        verified
    );
}

/// Reports have a text form too (`Display` writes their JSON, `FromStr` reads it back),
/// and a text that is not one is an `InvalidArgument` naming the report.
#[test]
fn reports_have_a_text_form_that_reads_back() {
    use storage_std::{CloseReport, RecoveryReport, RetentionPolicy, VerifyReport, WriterStats};
    fn round_trip<T>(value: &T, what: &str)
    where
        T: std::fmt::Display + std::str::FromStr<Err = Error> + PartialEq + std::fmt::Debug,
    {
        let text = value.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        assert_eq!(&text.parse::<T>().unwrap(), value);
        match "{not json".parse::<T>() {
            Err(Error::InvalidArgument(m)) => assert!(m.starts_with(what), "{m}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions::new(Durability::Sync).with_segment_bytes(4096);
    let w: Writer = Writer::open(dir.path(), opts).unwrap();
    for _ in 0..100 {
        w.append(&[5; 100]).unwrap();
    }
    round_trip::<WriterStats>(&w.stats(), "writer statistics");
    let retained = w
        .apply_retention(&RetentionPolicy::default().with_max_segments(Some(1)))
        .unwrap();
    round_trip(&retained, "retention report");
    round_trip::<CloseReport>(&w.close().unwrap(), "close report");
    round_trip::<RecoveryReport>(
        &storage_std::recover(dir.path(), false).unwrap(),
        "recovery report",
    );
    round_trip::<VerifyReport>(
        &storage_std::verify_dir(dir.path()).unwrap(),
        "verify report",
    );
}

/// The payload of record `seq`: its length and bytes both follow from it.
fn payload_of(seq: u64) -> Vec<u8> {
    let len = match seq % 7 {
        0 => 0,
        3 => 700_000, // several per 1 MiB read buffer, straddling its end
        _ => (seq as usize * 37) % 3000,
    };
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

#[test]
fn a_cursor_iterates_owned_records_that_outlive_its_buffer() {
    use storage_std::{Record, RecordMeta, Start};
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions::new(Durability::group()).with_segment_bytes(4 << 20);
    let w: Writer = Writer::open(dir.path(), opts).unwrap();
    let n = 60u64;
    for seq in 0..n {
        let meta = RecordMeta {
            kind: (seq % 5) as u16,
            flags: 1,
            timestamp_ns: Some(1_000 + seq),
        };
        w.append_with(&payload_of(seq), meta).unwrap();
    }
    w.close().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    assert!(reader.segments().unwrap().len() > 1, "spans segments");

    // Every record kept until the end: the cursor refilled its buffer many times
    // meanwhile, and dropped it.
    let kept: Vec<Record> = reader
        .cursor(Start::Oldest)
        .unwrap()
        .collect::<storage_std::Result<_>>()
        .unwrap();
    assert_eq!(kept.len() as u64, n);
    let mut lending = reader.cursor(Start::Oldest).unwrap();
    for (seq, r) in (0..n).zip(&kept) {
        assert_eq!((r.seq(), r.kind(), r.flags()), (seq, (seq % 5) as u16, 1));
        assert_eq!(r.timestamp_ns(), 1_000 + seq);
        assert_eq!(r.timestamp(), storage_std::time::from_ns(1_000 + seq));
        assert!(r.payload() == payload_of(seq), "record {seq}'s payload");
        let borrowed = lending.next().unwrap().expect("as many records");
        assert_eq!(*r, borrowed, "iterator and lending next agree at {seq}");
    }
    assert!(lending.next().unwrap().is_none());

    // Interleaved: an owned record from `Iterator::next` (method syntax finds the
    // lending `next` first), lending calls, then adapters on one cursor.
    let mut c = reader.cursor(Start::Seq(10)).unwrap();
    let a = Iterator::next(&mut c).unwrap().unwrap();
    let b = c.next().unwrap().unwrap().seq();
    let rest: Vec<u64> = c.map(|r| r.unwrap().seq()).collect();
    assert_eq!((a.seq(), b), (10, 11));
    assert_eq!(rest, (12..n).collect::<Vec<_>>());
    assert!(a.payload() == payload_of(10));
}

#[test]
fn a_cursor_iterator_stops_after_damage_and_lending_next_still_reports_it() {
    use storage_std::Start;
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions::new(Durability::Sync).with_segment_bytes(4096);
    let w: Writer = Writer::open(dir.path(), opts).unwrap();
    for i in 0..200u32 {
        w.append(&i.to_le_bytes().repeat(10)).unwrap();
    }
    w.close().unwrap();
    // Damage a payload byte in the middle of the first (sealed) segment.
    let first = LogReader::open(dir.path()).unwrap().segments().unwrap()[0].clone();
    let path = dir.path().join(&first.name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();

    let reader = LogReader::open(dir.path()).unwrap();
    let mut c = reader.cursor(Start::Oldest).unwrap();
    let mut ok = 0;
    let err = loop {
        match Iterator::next(&mut c) {
            Some(Ok(_)) => ok += 1,
            Some(Err(e)) => break e,
            None => panic!("damage was not reported after {ok} records"),
        }
    };
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(ok > 0 && ok < 200, "{ok} records before the damage");
    assert!(
        Iterator::next(&mut c).is_none(),
        "the iterator ends after an error"
    );
    assert!(
        c.next().is_err(),
        "the lending next still reports the damage"
    );
}

#[test]
fn time_at_the_edge_replays_from_a_system_time() {
    use std::time::{Duration, UNIX_EPOCH};
    use storage_std::{RecordMeta, Start};
    let dir = tempfile::tempdir().unwrap();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::Sync)).unwrap();
    for i in 0..10u64 {
        let at = t0 + Duration::from_millis(100 * i);
        w.append_with(&[i as u8], RecordMeta::default().with_timestamp(at))
            .unwrap();
    }
    w.close().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let from = t0 + Duration::from_millis(250);
    let mut c = reader.cursor(Start::at_time(from)).unwrap();
    let r = c.next().unwrap().unwrap();
    assert_eq!(r.seq(), 3);
    assert_eq!(r.timestamp(), t0 + Duration::from_millis(300));
    assert_eq!(storage_std::time::to_ns(r.timestamp()), r.timestamp_ns());
    let owned: Vec<_> = reader
        .cursor(Start::from(t0 + Duration::from_millis(800)))
        .unwrap()
        .map(|r| r.unwrap().timestamp())
        .collect();
    assert_eq!(
        owned,
        [
            t0 + Duration::from_millis(800),
            t0 + Duration::from_millis(900)
        ]
    );
}
