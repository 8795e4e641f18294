//! The cold tier against a real S3 API on loopback (moto's server; see `common/s3.rs`
//! for `RINGLOG_MOTO`): moving and reading with ranged GETs counted from the server's
//! request log, restore from the bucket alone, a damaged object, a crash in the middle
//! of a multipart upload, and an outage in the middle of an upload.

mod common;

use std::time::Duration;

use common::s3::{Moto, Proxy};
use common::*;
use storage_std::{Start, VerifyStatus};
use storage_tier::{
    CRASH_ENV, CacheOptions, ColdErrorKind, ColdReader, ColdSegmentSource, CrashPoint,
    RestoreOptions, TierConfig, TierPolicy, Tierer, restore,
};

const P: Payload = Payload::Pattern(200);

/// Objects of the bucket: the manifest plus exactly the segments it names.
fn assert_bucket_matches_manifest(moto: &Moto, bucket: &str, prefix: &str, log: &std::path::Path) {
    let mut want: Vec<String> = manifest_keys(log)
        .into_iter()
        .map(|k| format!("{prefix}/{k}"))
        .collect();
    want.push(format!("{prefix}/manifest"));
    want.sort();
    assert_eq!(moto.list_objects(bucket), want);
    assert_eq!(
        moto.list_uploads(bucket),
        Vec::<String>::new(),
        "no incomplete upload"
    );
}

#[test]
fn s3_tier_read_from_the_middle_restore_and_damage() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("cold");
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("log");
    std::fs::create_dir(&log).unwrap();
    write_log(&log, 12_000, P, 1 << 20);
    let store = moto.store("cold", "logs/a", None);
    let r = tier_once(
        &log,
        TierConfig::new(store.clone()).frame_bytes(32 << 10),
        &TierPolicy::keep_local_segments(0),
    );
    assert!(r.moved.len() >= 2, "{r:?}");
    assert_bucket_matches_manifest(&moto, "cold", "logs/a", &log);
    check_whole_log(&log, &store, P, 12_000);

    // A read from the middle of a cold segment: one index GET and at most two frame
    // GETs, counted by the server.
    let reader = ColdReader::open(&log, &store, Some(CacheOptions::none())).unwrap();
    let s = reader.cold_segments().unwrap()[1].clone();
    let key = format!("logs/a/{}", s.location);
    let before = moto.logged_gets("cold", &key);
    let mid = s.base_seq + s.record_count / 2;
    let mut c = reader.open_cursor(s.base_seq, Start::Seq(mid)).unwrap();
    for i in 0..40 {
        assert_eq!(c.next().unwrap().unwrap().seq(), mid + i);
    }
    drop(c);
    let st = reader.read_stats();
    assert_eq!(st.index_fetches, 1);
    assert!(st.frame_fetches <= 2, "{st:?}");
    let fetched = (st.index_fetches + st.frame_fetches) as usize;
    let logged = moto.wait_logged_gets("cold", &key, before + fetched) - before;
    assert_eq!(logged, fetched, "{key} in\n{}", moto.log_text());

    // Restore from the bucket alone into a new directory, with and without hydrating.
    std::fs::remove_dir_all(&log).unwrap();
    let a = root.path().join("a");
    let rep = restore(&store, &a, &RestoreOptions::manifest_only()).unwrap();
    let last = rep.last_seq.unwrap();
    assert_eq!(check_cold(&cold_reader(&a, &store), P), Some((0, last)));
    let b = root.path().join("b");
    restore(&store, &b, &RestoreOptions::hydrate()).unwrap();
    assert_eq!(
        storage_std::verify_dir(&b).unwrap().status,
        VerifyStatus::Clean
    );
    assert_eq!(check_local(&b, P), Some((0, last)));

    // Flip a byte of a stored object: reported, never returned as data.
    let k0 = format!("logs/a/{}", reader.manifest().segments[0].key);
    let mut obj = moto.get_object("cold", &k0);
    let n = obj.len();
    obj[n / 2] ^= 0x01;
    moto.put_object("cold", &k0, &obj);
    let fresh = ColdReader::from_bucket(&store, &CacheOptions::none()).unwrap();
    let mut c = fresh.open_cursor(0, Start::Oldest).unwrap();
    let err = loop {
        match c.next() {
            Ok(Some(r)) => assert_eq!(r.payload, payload(P, r.seq())),
            Ok(None) => panic!("a damaged object read to its end"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind, ColdErrorKind::Corrupt, "{err}");
    assert_eq!(fresh.verify_all().len(), 1);
}

#[test]
fn s3_crash_mid_multipart_is_aborted_on_resume() {
    const NAME: &str = "s3_crash_mid_multipart_is_aborted_on_resume";
    let noise = Payload::Noise(4000);
    if is_child() {
        let store = Moto::store_for(&std::env::var("TIER_ENDPOINT").unwrap(), "cold", "p");
        let mut t = Tierer::open(
            env_path("TIER_LOG"),
            TierConfig::new(store).part_bytes(5 << 20),
        )
        .unwrap();
        t.run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
            .unwrap();
        panic!("the run did not crash");
    }
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("cold");
    let log = tempfile::tempdir().unwrap();
    // One sealed segment of about 11 MiB that does not compress: three parts.
    write_log(log.path(), 2900, noise, 11 << 20);
    assert_eq!(segment_files(log.path()).len(), 2);
    let st = run_child(
        NAME,
        &[
            ("TIER_LOG", log.path().display().to_string()),
            ("TIER_ENDPOINT", moto.endpoint()),
            (CRASH_ENV, CrashPoint::MidMultipart.name().to_owned()),
        ],
    );
    assert_aborted(st);
    let key = "p/segments/00000000000000000000.rlc";
    assert_eq!(
        moto.list_uploads("cold"),
        [key],
        "the incomplete upload is on the server"
    );
    let m = storage_tier::read_local_manifest(log.path())
        .unwrap()
        .unwrap();
    assert_eq!(
        m.pending_uploads.len(),
        1,
        "its id was recorded before the first part"
    );
    let store = moto.store("cold", "p", None);
    check_union(log.path(), &store, noise, 2900);

    let r = tier_once(
        log.path(),
        TierConfig::new(store.clone()).part_bytes(5 << 20),
        &TierPolicy::keep_local_segments(0),
    );
    assert_eq!(r.aborted_uploads, ["segments/00000000000000000000.rlc"]);
    assert!(r.moved[0].multipart, "{r:?}");
    assert_bucket_matches_manifest(&moto, "cold", "p", log.path());
    check_whole_log(log.path(), &store, noise, 2900);
}

#[test]
fn s3_outage_mid_upload_is_retried_and_loses_nothing() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("cold");
    let proxy = Proxy::start(moto.port);
    let noise = Payload::Noise(4000);
    let log = tempfile::tempdir().unwrap();
    // Three sealed segments of about 6 MiB: two parts each.
    write_log(log.path(), 4800, noise, 6 << 20);
    assert_eq!(segment_files(log.path()).len(), 4);
    let through_proxy = moto
        .store("cold", "q", Some(proxy.endpoint()))
        .request_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(1))
        .store_retries(0);
    let cfg = TierConfig::new(through_proxy).part_bytes(5 << 20).retries(
        8,
        Duration::from_millis(300),
        Duration::from_secs(2),
    );
    let mut t = Tierer::open(log.path(), cfg).unwrap();
    // Down for 3 s once 8 MiB have gone up: in the middle of the second segment.
    proxy.outage_after(8 << 20, Duration::from_secs(3));
    let r = t
        .run_once(&TierPolicy::keep_local_segments(0), &mut |_| {})
        .unwrap();
    assert_eq!(proxy.outages(), 1);
    assert!(
        !r.retries.is_empty(),
        "the outage was met and reported: {r:?}"
    );
    assert_eq!(r.moved.len(), 3);
    t.gc().unwrap();
    drop(t);
    assert_bucket_matches_manifest(&moto, "cold", "q", log.path());
    let direct = moto.store("cold", "q", None);
    check_whole_log(log.path(), &direct, noise, 4800);
}
