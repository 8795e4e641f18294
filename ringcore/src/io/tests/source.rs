//! `FrameSource`: round trips, garbage, every bit flip and truncation, huge lengths, a
//! full ring, errors, random streams.

use super::*;

#[test]
fn round_trip_live_with_short_reads_and_writes() {
    let total = scale(3000);
    let tx = Ring::<2048>::new();
    let (mut tp, mut tc) = tx.try_split(0).unwrap();
    let rx = Ring::<2048>::new();
    let (mut rp, mut rc) = rx.try_split(0).unwrap();
    let mut rng = Rng(77);
    let mut w = TestWriter::new(5, 33);
    w.not_ready_one_in = 4;
    w.transient_one_in = 9;
    let mut r = TestReader::new(Vec::new(), 6, 29);
    r.live = true;
    r.not_ready_one_in = 4;
    r.transient_one_in = 9;
    let mut sink = FrameSink::new();
    let mut source = FrameSource::<600>::new();
    let (mut pushed, mut arrived, mut received) = (0_u64, 0_u64, 0_u64);
    let mut guard = 0;
    while received < total {
        guard += 1;
        assert!(guard < 10_000_000, "no progress");
        if pushed < total {
            let len = if rng.below(4) == 0 {
                rng.below(565)
            } else {
                rng.below(40)
            };
            if push_record(&mut tp, len) {
                pushed += 1;
            }
        }
        match sink.drain_ready(&mut tc, &mut w, 1 + rng.below(4)) {
            Ok(_) | Err(SinkError::Write(ErrorKind::TimedOut)) => {}
            Err(e) => panic!("{e:?}"),
        }
        r.data.append(&mut w.out);
        for _ in 0..rng.below(4) {
            match source.poll_ready(&mut r, &mut rp) {
                Ok(Polled::Frame(got)) => {
                    assert_eq!(got.header.seq, arrived);
                    assert_eq!(got.ring_seq, arrived);
                    arrived += 1;
                }
                Ok(Polled::Pending | Polled::RingFull) => {}
                Ok(Polled::End) => panic!("a live reader never ends"),
                Err(SourceError::Read(ErrorKind::Interrupted)) => {}
                Err(e) => panic!("{e:?}"),
            }
            if rng.below(2) == 0 {
                while let Some(rec) = rc.read() {
                    assert_eq!(rec.seq(), received);
                    check_record(&rec.header(), rec.payload(), received);
                    received += 1;
                }
            }
        }
    }
    assert_eq!(source.stats().errors, 0);
    assert_eq!(source.stats().frames, total);
    assert_eq!(source.stats().skipped_bytes, 0);
    assert_eq!(sink.stats().frames, total);
}

#[test]
fn round_trip_one_byte_reads_to_end() {
    let lens = [0_usize, 1, 988, 5, 300, 0];
    let stream: Vec<u8> = lens
        .iter()
        .enumerate()
        .flat_map(|(i, l)| frame(i as u64, *l))
        .collect();
    let mut r = TestReader::new(stream, 1, 1);
    let (events, stats) = run_source(&mut r);
    assert_eq!(events, (0..6).map(Ev::Frame).collect::<Vec<_>>());
    assert_eq!(stats.frames, 6);
}

#[test]
fn garbage_between_frames_is_reported_once_per_run() {
    let mut rng = Rng(5);
    let mut stream = Vec::new();
    let mut runs = 0;
    let mut garbage = 0;
    let frames = scale(200);
    for seq in 0..frames {
        if rng.below(3) == 0 {
            let n = 1 + rng.below(80);
            runs += 1;
            garbage += n;
            for _ in 0..n {
                // Includes sync-word fragments to make resync work harder.
                let b = match rng.below(6) {
                    0 => 0xFE,
                    1 => b'R',
                    _ => rng.next() as u8,
                };
                stream.push(b);
            }
        }
        stream.extend_from_slice(&frame(seq, rng.below(100)));
    }
    for max_chunk in [1, 7, 1000] {
        let mut r = TestReader::new(stream.clone(), max_chunk as u64, max_chunk);
        r.transient_one_in = 10;
        let (events, stats) = run_source(&mut r);
        let seqs: Vec<u64> = events
            .iter()
            .filter_map(|e| if let Ev::Frame(s) = e { Some(*s) } else { None })
            .collect();
        assert_eq!(seqs, (0..frames).collect::<Vec<_>>());
        let errs: Vec<_> = events.iter().filter(|e| matches!(e, Ev::Err(_))).collect();
        assert_eq!(errs.len(), runs, "chunk {max_chunk}");
        assert!(
            errs.iter()
                .all(|e| matches!(e, Ev::Err(SourceError::Garbage { skipped }) if *skipped > 0))
        );
        assert_eq!(stats.skipped_bytes, garbage as u64);
        assert_eq!(stats.errors, runs as u64);
    }
    if cfg!(miri) {
        return;
    }
    // With the whole run in one read, the reported count is the run's length.
    let mut r = TestReader::new([&[1_u8, 2, 3][..], &frame(0, 4)].concat(), 1, 1000);
    let (events, _) = run_source(&mut r);
    assert_eq!(
        events,
        [Ev::Err(SourceError::Garbage { skipped: 3 }), Ev::Frame(0)]
    );
}

/// What a flipped bit at `byte` of a frame with a `len`-byte payload must report.
fn expected_flip_error(byte: usize, len: usize, seq: u64) -> SourceError<ErrorKind> {
    if byte < HEADER_OFFSET {
        SourceError::Garbage {
            skipped: usize::MAX, // checked separately: any count
        }
    } else if byte < PAYLOAD_OFFSET {
        SourceError::HeaderChecksum
    } else {
        assert!(byte < wire_len(len));
        SourceError::Checksum { seq }
    }
}

#[test]
fn every_bit_flip_is_reported_once_and_the_next_frame_recovered() {
    let (a, b, c) = (frame(0, 10), frame(1, 21), frame(2, 7));
    let step = if cfg!(miri) { 5 } else { 1 };
    for bit in (0..b.len() * 8).step_by(step) {
        let mut bad = b.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let stream = [&a[..], &bad, &c].concat();
        for max_chunk in [1000, 3] {
            let mut r = TestReader::new(stream.clone(), bit as u64, max_chunk);
            let (events, stats) = run_source(&mut r);
            assert_eq!(events.len(), 3, "bit {bit}: {events:?}");
            assert_eq!(events[0], Ev::Frame(0));
            assert_eq!(events[2], Ev::Frame(2));
            let want = expected_flip_error(bit / 8, 21, 1);
            match (&events[1], want) {
                (Ev::Err(SourceError::Garbage { skipped }), SourceError::Garbage { .. }) => {
                    assert!(*skipped > 0);
                }
                (Ev::Err(got), want) => assert_eq!(*got, want, "bit {bit}"),
                (other, _) => panic!("bit {bit}: {other:?}"),
            }
            assert_eq!(stats.skipped_bytes, b.len() as u64, "bit {bit}");
        }
    }
}

#[test]
fn truncation_at_every_length() {
    let (a, b, c) = (frame(0, 10), frame(1, 50), frame(2, 3));
    for cut in 0..b.len() {
        // The pure decoder says truncated, never panics.
        assert!(
            matches!(decode_frame(&b[..cut], 1024), Err(WireError::Truncated { available, .. }) if available == cut),
            "cut {cut}"
        );
        // At the end of the stream.
        let mut r = TestReader::new([&a[..], &b[..cut]].concat(), cut as u64, 1000);
        let (events, stats) = run_source(&mut r);
        let expect_err = if cut == 0 {
            None
        } else if cut < PAYLOAD_OFFSET {
            Some(SourceError::Truncated {
                needed: PAYLOAD_OFFSET,
                available: cut,
            })
        } else {
            Some(SourceError::Truncated {
                needed: b.len(),
                available: cut,
            })
        };
        let mut want = std::vec![Ev::Frame(0)];
        want.extend(expect_err.map(Ev::Err));
        assert_eq!(events, want, "cut {cut}");
        assert_eq!(stats.skipped_bytes, cut as u64);

        // In the middle of the stream: one error, then the next frame.
        let mut r = TestReader::new([&a[..], &b[..cut], &c].concat(), cut as u64, 1000);
        let (events, stats) = run_source(&mut r);
        assert_eq!(events.first(), Some(&Ev::Frame(0)));
        assert_eq!(events.last(), Some(&Ev::Frame(2)));
        assert_eq!(
            events.len(),
            if cut == 0 { 2 } else { 3 },
            "cut {cut}: {events:?}"
        );
        assert_eq!(stats.skipped_bytes, cut as u64);
    }
}

#[test]
fn huge_lengths_are_rejected_without_waiting() {
    let good = frame(1, 4);
    for len in [989_u32, 1 << 20, u32::MAX] {
        // A header that really says `len` (valid header checksum)...
        let mut h = header(0, 0);
        h.len = len;
        let mut bad = [0_u8; PAYLOAD_OFFSET];
        bad.copy_from_slice(&frame_prefix(&h));
        assert_eq!(
            decode_frame(&bad, 988).err(),
            Some(WireError::TooLong { len, max: 988 })
        );
        let mut r = TestReader::new([&bad[..], &good].concat(), 1, 1000);
        let (events, _) = run_source(&mut r);
        assert_eq!(
            events,
            [
                Ev::Err(SourceError::TooLong { len, max: 988 }),
                Ev::Frame(1)
            ]
        );
        // ...and one whose length bits were damaged (header checksum catches it).
        let mut flipped = frame(0, 4);
        flipped[HEADER_OFFSET + crate::frame::LEN_OFFSET + 3] = 0xFF;
        let mut r = TestReader::new([&flipped[..], &good].concat(), 1, 1000);
        let (events, _) = run_source(&mut r);
        assert_eq!(events, [Ev::Err(SourceError::HeaderChecksum), Ev::Frame(1)]);
    }
    // The largest payload the buffer takes is accepted.
    let mut r = TestReader::new(frame(0, 988), 1, 1000);
    assert_eq!(run_source(&mut r).0, [Ev::Frame(0)]);
}

#[test]
fn ring_limit_applies_when_smaller_than_the_buffer() {
    let ring = Ring::<128>::new(); // MAX_PAYLOAD 48
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<1024>::new();
    let mut input = &[frame(0, 49), frame(1, 48)].concat()[..];
    assert_eq!(
        source.poll(&mut input, &mut p),
        Err(SourceError::TooLong { len: 49, max: 48 })
    );
    assert!(matches!(
        source.poll(&mut input, &mut p),
        Ok(Polled::Frame(Received { ring_seq: 0, .. }))
    ));
    let rec = c.read().unwrap();
    assert_eq!(rec.seq(), 0);
    check_record(&rec.header(), rec.payload(), 1);
}

#[test]
fn ring_full_keeps_the_frame_for_later() {
    let ring = Ring::<256>::new(); // two 60-byte records fill it
    let (mut p, mut c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<256>::new();
    let stream = [frame(0, 80), frame(1, 80), frame(2, 80)].concat();
    let mut input = &stream[..];
    let mut got = Vec::new();
    let mut fulls = 0;
    loop {
        match source.poll(&mut input, &mut p).unwrap() {
            Polled::Frame(r) => got.push(r.header.seq),
            Polled::RingFull => {
                fulls += 1;
                let rec = c.read().unwrap();
                check_record(&rec.header(), rec.payload(), rec.seq());
            }
            Polled::End => break,
            Polled::Pending => unreachable!(),
        }
    }
    assert_eq!(got, [0, 1, 2]);
    assert!(fulls >= 1);
    assert_eq!(source.stats().errors, 0);
}

#[test]
fn source_reads_on_after_end_of_stream() {
    let ring = Ring::<1024>::new();
    let (mut p, _c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<256>::new();
    let mut r = TestReader::new(frame(0, 5), 1, 1000);
    assert!(matches!(source.poll(&mut r, &mut p), Ok(Polled::Frame(_))));
    assert_eq!(source.poll(&mut r, &mut p), Ok(Polled::End));
    r.data.extend_from_slice(&frame(1, 6));
    let Ok(Polled::Frame(got)) = source.poll(&mut r, &mut p) else {
        panic!()
    };
    assert_eq!((got.header.seq, got.header.len), (1, 6));
}

#[test]
fn read_errors_are_returned_and_lose_nothing() {
    let stream = [frame(0, 30), frame(1, 30)].concat();
    let mut r = TestReader::new(stream, 3, 4);
    r.transient_one_in = 2;
    let ring = Ring::<1024>::new();
    let (mut p, _c) = ring.try_split(0).unwrap();
    let mut source = FrameSource::<128>::new();
    let (mut frames, mut errors) = (0, 0);
    loop {
        match source.poll(&mut r, &mut p) {
            Ok(Polled::Frame(_)) => frames += 1,
            Ok(Polled::End) => break,
            Err(SourceError::Read(ErrorKind::Interrupted)) => errors += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(frames, 2);
    assert!(errors > 0);
}

#[test]
fn random_bytes_and_mangled_streams_never_panic() {
    let mut rng = Rng(1234);
    let rounds = if cfg!(miri) { 4 } else { 300 };
    for round in 0..rounds {
        let mut stream: Vec<u8> = Vec::new();
        for seq in 0..5 {
            stream.extend_from_slice(&frame(seq, rng.below(200)));
        }
        // Mangle: flips, cuts, inserted noise, duplicated ranges.
        for _ in 0..rng.below(6) {
            let at = rng.below(stream.len());
            match rng.below(4) {
                0 => stream[at] ^= 1 << rng.below(8),
                1 => stream.truncate(at),
                2 => {
                    for _ in 0..rng.below(20) {
                        stream.insert(at, rng.next() as u8);
                    }
                }
                _ => {
                    let end = (at + rng.below(64)).min(stream.len());
                    let dup = stream[at..end].to_vec();
                    stream.splice(at..at, dup);
                }
            }
            if stream.is_empty() {
                break;
            }
        }
        if round % 10 == 0 {
            stream = (0..rng.below(3000)).map(|_| rng.next() as u8).collect();
        }
        let mut r = TestReader::new(stream.clone(), round, 1 + rng.below(300));
        // Every frame that comes out passed both checksums and matches its pattern
        // (checked in run_source); the stream is fully consumed.
        let (_, stats) = run_source(&mut r);
        assert!(stats.skipped_bytes <= stream.len() as u64);
        assert_eq!(r.pos, stream.len());
    }
}

#[test]
fn next_sync_candidate_finds_prefixes() {
    assert_eq!(next_sync_candidate(b"abc"), 3);
    assert_eq!(next_sync_candidate(&[1, 0xFE]), 1);
    assert_eq!(
        next_sync_candidate(&[1, 0xFE, b'R', b'X', 0xFE, b'R', b'C', b'1']),
        4
    );
    assert_eq!(next_sync_candidate(&[0xFE, b'R', b'C', b'1']), 4, "never 0");
    assert_eq!(next_sync_candidate(&[]), 0);
}
