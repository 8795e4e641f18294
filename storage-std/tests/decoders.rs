//! Property tests: random bit flips and truncations for every decoder (record, segment
//! header, footer, index, consumer offset) give an error every time, never a panic; the
//! verifier and recovery never panic on any segment bytes and detect a flipped bit
//! anywhere in a sealed segment. Decoding works on `&[u8]`, so this runs under Miri
//! (`MIRIFLAGS=-Zmiri-strict-provenance cargo +nightly miri test -p storage-std --test
//! decoders`) with fewer cases.

use std::sync::Arc;

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use ringcore::frame::FrameHeader;
use storage_std::backend::{Backend, MemBackend};
use storage_std::format::{
    self, ConsumerOffset, INDEX_ENTRY_LEN, INDEX_HEADER_LEN, IndexEntry, IndexHeader,
    SEGMENT_HEADER_LEN, SegmentFooter, SegmentHeader, decode_index, decode_record, encode_record,
};
use storage_std::{VerifyStatus, verify};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 6 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Flips distinct bits (the positions modulo the length, each once); returns them.
fn flip_bits(
    bytes: &mut [u8],
    bits: &std::collections::BTreeSet<usize>,
) -> std::collections::BTreeSet<usize> {
    let n = bytes.len() * 8;
    let set: std::collections::BTreeSet<usize> = bits.iter().map(|b| b % n).collect();
    for &b in &set {
        bytes[b / 8] ^= 1 << (b % 8);
    }
    set
}

fn header_strategy() -> impl Strategy<Value = FrameHeader> {
    (any::<u64>(), any::<u64>(), any::<u16>(), any::<u16>()).prop_map(|(seq, ts, kind, flags)| {
        FrameHeader {
            seq,
            timestamp_ns: ts,
            len: 0,
            kind,
            flags,
        }
    })
}

fn footer_strategy() -> impl Strategy<Value = SegmentFooter> {
    (
        any::<u32>(),
        1u64..1000,
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(base, count, a, b, sealed)| {
            let base = u64::from(base);
            SegmentFooter {
                base_seq: base,
                record_count: count,
                last_seq: base + count - 1,
                first_ts: a.min(b),
                last_ts: b.min(a),
                max_ts: a.max(b),
                records_end: 64 + count * 40,
                sealed_ns: sealed,
                digest_kind: 0,
                digest: [0; format::segment::footer::DIGEST_LEN],
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn record_bit_flips_are_detected(
        h in header_strategy(),
        payload in vec(any::<u8>(), 0..200),
        bits in btree_set(any::<usize>(), 1..5),
    ) {
        let mut v = Vec::new();
        encode_record(&mut v, &h, &payload);
        let ok = decode_record(&v).unwrap();
        prop_assert_eq!(ok.payload, &payload[..]);
        let flips = flip_bits(&mut v, &bits);
        prop_assert!(decode_record(&v).is_err(), "flips {:?} undetected", flips);
    }

    #[test]
    fn record_truncations_are_errors(
        h in header_strategy(),
        payload in vec(any::<u8>(), 0..200),
        cut in any::<usize>(),
    ) {
        let mut v = Vec::new();
        encode_record(&mut v, &h, &payload);
        let cut = cut % v.len();
        prop_assert!(decode_record(&v[..cut]).is_err());
    }

    #[test]
    fn record_decoder_never_panics_on_garbage(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_record(&bytes);
    }

    #[test]
    fn segment_header_flips_and_truncations(
        base in any::<u64>(), created in any::<u64>(), window in any::<u64>(),
        bits in btree_set(any::<usize>(), 1..5), cut in 0usize..64,
    ) {
        let h = SegmentHeader { base_seq: base, created_ns: created, torn_window: window };
        let b = h.encode();
        prop_assert_eq!(SegmentHeader::decode(&b), Ok(h));
        prop_assert!(SegmentHeader::decode(&b[..cut]).is_err());
        let mut d = b;
        flip_bits(&mut d, &bits);
        prop_assert!(SegmentHeader::decode(&d).is_err());
    }

    #[test]
    fn footer_flips_and_truncations(
        f in footer_strategy(),
        bits in btree_set(any::<usize>(), 1..5), cut in 0usize..160,
    ) {
        let b = f.encode();
        prop_assert_eq!(SegmentFooter::decode(&b), Ok(f));
        prop_assert!(SegmentFooter::decode(&b[..cut]).is_err());
        let mut d = b;
        flip_bits(&mut d, &bits);
        prop_assert!(SegmentFooter::decode(&d).is_err());
    }

    #[test]
    fn index_flips_and_truncations(
        base in any::<u32>(),
        steps in vec((1u64..100, 1u64..4000, 0u64..1000), 1..20),
        bits in btree_set(any::<usize>(), 1..5),
        cut in any::<usize>(),
    ) {
        let base = u64::from(base);
        let mut entries = vec![IndexEntry { seq: base, pos: 64, max_ts_before: 0 }];
        for (ds, dp, dt) in steps {
            let p = *entries.last().unwrap();
            entries.push(IndexEntry {
                seq: p.seq + ds,
                pos: p.pos + dp * 8,
                max_ts_before: p.max_ts_before + dt,
            });
        }
        let mut file = IndexHeader { base_seq: base, interval: 4096 }.encode().to_vec();
        for e in &entries {
            file.extend_from_slice(&e.encode());
        }
        let d = decode_index(&file).unwrap();
        prop_assert_eq!(&d.entries, &entries);
        prop_assert!(d.stopped.is_none());

        // A flip is an error: in the header, or an entry that stops the valid prefix.
        let mut flipped = file.clone();
        let flips = flip_bits(&mut flipped, &bits);
        let first_bad = flips.iter().min().unwrap() / 8;
        match decode_index(&flipped) {
            Err(_) => prop_assert!(first_bad < INDEX_HEADER_LEN),
            Ok(d) => {
                prop_assert!(first_bad >= INDEX_HEADER_LEN);
                let k = (first_bad - INDEX_HEADER_LEN) / INDEX_ENTRY_LEN;
                prop_assert!(d.stopped.is_some());
                prop_assert_eq!(&d.entries[..], &entries[..k]);
            }
        }
        // A cut inside the header or inside an entry is an error too.
        let cut = cut % file.len();
        let r = decode_index(&file[..cut]);
        if cut < INDEX_HEADER_LEN {
            prop_assert!(r.is_err());
        } else if !(cut - INDEX_HEADER_LEN).is_multiple_of(INDEX_ENTRY_LEN) {
            prop_assert!(r.unwrap().stopped.is_some());
        }
        for e in &entries {
            let mut eb = e.encode();
            flip_bits(&mut eb, &bits);
            prop_assert!(IndexEntry::decode(&eb).is_err());
        }
    }

    #[test]
    fn offset_flips_and_truncations(
        name in "[A-Za-z0-9_-]{1,64}", next in any::<u64>(), at in any::<u64>(),
        bits in btree_set(any::<usize>(), 1..5), cut in 0usize..104,
    ) {
        let o = ConsumerOffset { name, next_seq: next, committed_ns: at };
        let b = o.encode();
        prop_assert_eq!(ConsumerOffset::decode(&b), Ok(o));
        prop_assert!(ConsumerOffset::decode(&b[..cut]).is_err());
        let mut d = b;
        flip_bits(&mut d, &bits);
        prop_assert!(ConsumerOffset::decode(&d).is_err());
    }
}

/// Two segments built by hand (the first sealed), with their indexes.
fn two_segments(payloads: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let split = payloads.len() / 2;
    let mut files = Vec::new();
    let mut seq = 0u64;
    for (i, chunk) in [&payloads[..split], &payloads[split..]].iter().enumerate() {
        let base = seq;
        let mut seg = SegmentHeader {
            base_seq: base,
            created_ns: 1,
            torn_window: 1 << 20,
        }
        .encode()
        .to_vec();
        let mut idx = IndexHeader {
            base_seq: base,
            interval: 1 << 30,
        }
        .encode()
        .to_vec();
        idx.extend_from_slice(
            &IndexEntry {
                seq: base,
                pos: SEGMENT_HEADER_LEN as u64,
                max_ts_before: 0,
            }
            .encode(),
        );
        let (mut first_ts, mut last_ts, mut max_ts) = (0, 0, 0);
        for (k, p) in chunk.iter().enumerate() {
            let ts = 100 + seq * 3;
            if k == 0 {
                first_ts = ts;
            }
            last_ts = ts;
            max_ts = max_ts.max(ts);
            encode_record(
                &mut seg,
                &FrameHeader {
                    seq,
                    timestamp_ns: ts,
                    ..Default::default()
                },
                p,
            );
            seq += 1;
        }
        if i == 0 {
            let f = SegmentFooter {
                base_seq: base,
                record_count: chunk.len() as u64,
                last_seq: seq - 1,
                first_ts,
                last_ts,
                max_ts,
                records_end: seg.len() as u64,
                sealed_ns: 5,
                digest_kind: 0,
                digest: [0; format::segment::footer::DIGEST_LEN],
            };
            seg.extend_from_slice(&f.encode());
        }
        files.push((format::segment_name(base), seg));
        files.push((format::index_name(base), idx));
    }
    files
}

fn backend_with(files: &[(String, Vec<u8>)]) -> (MemBackend, Arc<dyn Backend>) {
    let m = MemBackend::new();
    for (n, b) in files {
        m.put_file(n, b.clone());
    }
    let b: Arc<dyn Backend> = Arc::new(m.clone());
    (m, b)
}

proptest! {
    #![proptest_config(config())]

    /// Every byte of a sealed segment is covered by a checksum or must be zero.
    #[test]
    fn any_flip_in_a_sealed_segment_is_corruption(
        payloads in vec(vec(any::<u8>(), 0..40), 4..12),
        bit in any::<usize>(),
    ) {
        let mut files = two_segments(&payloads);
        prop_assert_eq!(verify(&backend_with(&files).1).unwrap().status, VerifyStatus::Clean);
        let (name, seg) = &mut files[0];
        let name = name.clone();
        let b = bit % (seg.len() * 8);
        seg[b / 8] ^= 1 << (b % 8);
        let (_m, backend) = backend_with(&files);
        let v = verify(&backend).unwrap();
        prop_assert_eq!(v.status, VerifyStatus::Corrupt, "flip at byte {} of {}", b / 8, name);
    }

    /// A flip anywhere in the last segment is found (as a torn tail or corruption), and
    /// opening the log afterwards never panics.
    #[test]
    fn any_flip_in_the_last_segment_is_found(
        payloads in vec(vec(any::<u8>(), 0..40), 4..12),
        bit in any::<usize>(),
    ) {
        let mut files = two_segments(&payloads);
        let seg = &mut files[2].1;
        let b = bit % (seg.len() * 8);
        seg[b / 8] ^= 1 << (b % 8);
        let (_m, backend) = backend_with(&files);
        let v = verify(&backend).unwrap();
        prop_assert_ne!(v.status, VerifyStatus::Clean, "flip at byte {}", b / 8);
    }

    /// Garbage where segments should be: the verifier reports, never panics.
    #[test]
    fn verifier_never_panics_on_garbage(
        garbage in vec(any::<u8>(), 0..600),
        keep_header in any::<bool>(),
        cut in any::<usize>(),
    ) {
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; i as usize * 5]).collect();
        let mut files = two_segments(&payloads);
        let seg = &mut files[2].1;
        if keep_header {
            seg.truncate(SEGMENT_HEADER_LEN);
        } else {
            seg.clear();
        }
        seg.extend_from_slice(&garbage);
        let c = cut % files[0].1.len();
        files[0].1.truncate(c);
        let (_m, backend) = backend_with(&files);
        let v = verify(&backend).unwrap();
        prop_assert_eq!(v.status, VerifyStatus::Corrupt);
    }
}

#[test]
#[cfg_attr(miri, ignore)] // spawns the writer thread and many files: slow under Miri
fn recovery_never_panics_on_random_damage() {
    use storage_std::{Durability, Writer, WriterOptions};
    let mut rng = test_support::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next();
    let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; (i as usize * 7) % 50]).collect();
    let files = two_segments(&payloads);
    for round in 0..200 {
        let mut f = files.clone();
        let which = (next() % 2) as usize * 2;
        let seg = &mut f[which].1;
        match next() % 3 {
            0 => {
                let b = (next() as usize) % (seg.len() * 8);
                seg[b / 8] ^= 1 << (b % 8);
            }
            1 => {
                let c = (next() as usize) % seg.len();
                seg.truncate(c);
            }
            _ => {
                let at = (next() as usize) % seg.len();
                let n = ((next() % 64) as usize).min(seg.len() - at);
                for x in &mut seg[at..at + n] {
                    *x = next() as u8;
                }
            }
        }
        let (_m, backend) = backend_with(&f);
        let before = verify(&backend).unwrap();
        // A plain open checks sealed segments' headers and footers only: damage inside
        // a sealed segment's records stays for the verifier (and readers) to report.
        let sealed_damage = before
            .findings
            .iter()
            .any(|x| x.file == f[0].0 && x.severity == storage_std::Severity::Corruption);
        let opts = |force: bool| {
            let mut o = WriterOptions::new(Durability::Sync);
            o = o.with_force(force);
            o = o.with_deep_check(force);
            o = o.with_stall_timeout(None);
            o
        };
        if let Ok(w) = Writer::<4096>::open_with(backend.clone(), opts(false)) {
            w.close().unwrap();
            let after = verify(&backend).unwrap();
            if !sealed_damage {
                assert_eq!(
                    after.status,
                    VerifyStatus::Clean,
                    "round {round}: {:#?}",
                    after.findings
                );
            }
        }
        match Writer::<4096>::open_with(backend.clone(), opts(true)) {
            Ok(w) => w.close().unwrap(),
            // Files of another version are never cut, even by force.
            Err(storage_std::Error::UnsupportedVersion { .. }) => continue,
            Err(e) => panic!("round {round}: forced open failed: {e}"),
        };
        let after = verify(&backend).unwrap();
        assert_eq!(
            after.status,
            VerifyStatus::Clean,
            "round {round}: {:#?}\nbefore {:#?}",
            after.findings,
            before.findings
        );
    }
}
