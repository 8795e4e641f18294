//! Same format: logs written through io_uring open, recover, replay and verify with
//! storage-std's code, byte for byte the layout the portable backend writes; logs
//! move between the two backends in both directions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use storage_std::backend::{Access, Backend, SyncKind, WriteGroup, read_full_at};
use storage_std::{Durability, LogReader, ReadLimit, RetentionPolicy, Start, verify};
use storage_uring::{Prealloc, UringOptions};

const N: u64 = 1500;

fn write_log(b: Arc<dyn Backend>, d: Durability, from: u64, n: u64) {
    let w = W::open_with(b, small_opts(d)).unwrap();
    assert_eq!(w.next_seq(), from);
    let last = write_n(&w, from, n);
    if d != Durability::None {
        w.wait_durable(last, Some(Duration::from_secs(20))).unwrap();
    }
    let r = w.close().unwrap();
    assert_eq!(r.durable_seq, Some(from + n - 1));
}

#[test]
fn io_uring_logs_are_byte_for_byte_the_portable_ones() {
    if !uring("io_uring_logs_are_byte_for_byte_the_portable_ones") {
        return;
    }
    for d in [small_group(), Durability::Sync, Durability::None] {
        let reference = tempfile::tempdir().unwrap();
        write_log(file_backend(reference.path()), d, 0, N);
        let want = log_files(reference.path());
        assert!(want.len() > 10, "crossed rolls: {} files", want.len());
        for (name, o) in option_sets() {
            let what = format!("{d:?} {name}");
            let dir = tempfile::tempdir().unwrap();
            let (u, b) = uring_backend(dir.path(), o);
            write_log(b.clone(), d, 0, N);
            let got = log_files(dir.path());
            assert_eq!(got.len(), want.len(), "{what}: files");
            for ((gn, gb), (wn, wb)) in got.iter().zip(&want) {
                assert_eq!(gn, wn, "{what}");
                assert!(gb == wb, "{what}: {gn} differs from the portable backend's");
            }
            // Read back by storage-std through either backend.
            let seqs = read_all_checked(&b);
            assert_eq!(seqs, (0..N).collect::<Vec<_>>(), "{what}");
            let fb = file_backend(dir.path());
            assert_eq!(read_all_checked(&fb).len() as u64, N, "{what}");
            assert_clean(&fb, &what);
            let s = u.stats();
            assert!(s.groups > 0 && s.enters > 0, "{what}: {s:?}");
        }
    }
}

#[test]
fn logs_move_between_backends_in_both_directions() {
    if !uring("logs_move_between_backends_in_both_directions") {
        return;
    }
    for (name, o) in option_sets() {
        let dir = tempfile::tempdir().unwrap();
        let mut next = 0;
        for round in 0..6u64 {
            let b = if round % 2 == 0 {
                file_backend(dir.path())
            } else {
                uring_backend(dir.path(), o.clone()).1
            };
            let n = 100 + round * 37;
            write_log(b, small_group(), next, n);
            next += n;
        }
        for b in [file_backend(dir.path()), uring_backend(dir.path(), o).1] {
            assert_eq!(
                read_all_checked(&b),
                (0..next).collect::<Vec<_>>(),
                "{name}"
            );
            assert_clean(&b, name);
        }
    }
}

#[test]
fn replay_by_sequence_and_time_and_follow_on_an_io_uring_log() {
    if !uring("replay_by_sequence_and_time_and_follow_on_an_io_uring_log") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_u, b) = uring_backend(dir.path(), UringOptions::default());
    let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
    let last = write_n(&w, 0, 800);
    w.wait_durable(last, Some(Duration::from_secs(10))).unwrap();
    // Live readers through the writer see durable records while it runs.
    let mut c = w
        .reader(ReadLimit::Durable)
        .cursor(Start::Seq(500))
        .unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), 500);
    drop(c);
    let mut c = w
        .reader(ReadLimit::Durable)
        .cursor(Start::Time(1_000 + 650 * 10))
        .unwrap();
    assert_eq!(c.next().unwrap().unwrap().seq(), 650);
    drop(c);
    w.close().unwrap();
    // And the portable backend's reader replays it too.
    let fb = file_backend(dir.path());
    let mut c = LogReader::new(fb).cursor(Start::Seq(799)).unwrap();
    let r = c.next().unwrap().unwrap();
    assert_eq!(r.seq(), 799);
    assert_eq!(r.payload, &payload(799)[..]);
    assert!(c.next().unwrap().is_none());
}

#[test]
fn a_torn_tail_written_by_io_uring_is_recovered_by_either_backend() {
    if !uring("a_torn_tail_written_by_io_uring_is_recovered_by_either_backend") {
        return;
    }
    for (name, o) in option_sets() {
        for reopen_with_uring in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_log(
                uring_backend(dir.path(), o.clone()).1,
                small_group(),
                0,
                400,
            );
            // Tear the last record: flip a byte of its payload.
            let v = verify(&file_backend(dir.path())).unwrap();
            let last = v.segments.last().unwrap().clone();
            let path = dir.path().join(&last.name);
            let mut bytes = std::fs::read(&path).unwrap();
            let at = last.records_end as usize - 3;
            bytes[at] ^= 0x5a;
            std::fs::write(&path, &bytes).unwrap();
            let b = if reopen_with_uring {
                uring_backend(dir.path(), o.clone()).1
            } else {
                file_backend(dir.path())
            };
            let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
            assert_eq!(w.next_seq(), 399, "{name}: the torn record is cut");
            assert_eq!(w.recovery().cuts.len(), 1, "{name}");
            write_n(&w, 399, 50);
            w.close().unwrap();
            for b in [
                file_backend(dir.path()),
                uring_backend(dir.path(), o.clone()).1,
            ] {
                assert_eq!(read_all_checked(&b), (0..449).collect::<Vec<_>>(), "{name}");
                assert_clean(&b, name);
            }
        }
    }
}

#[test]
fn retention_recycles_segment_files_and_the_log_stays_clean() {
    if !uring("retention_recycles_segment_files_and_the_log_stays_clean") {
        return;
    }
    for prealloc in [Prealloc::Fallocate, Prealloc::ZeroFill] {
        for direct in [false, true] {
            let what = format!("{prealloc:?} direct={direct}");
            let dir = tempfile::tempdir().unwrap();
            let o = UringOptions::default()
                .prealloc(prealloc)
                .direct(direct)
                .recycle(3);
            let mut wo = small_opts(small_group());
            wo = wo.with_retention(RetentionPolicy::default().with_max_segments(Some(3)));
            let mut next = 0;
            for _round in 0..3 {
                let (u, b) = uring_backend(dir.path(), o.clone());
                let w = W::open_with(b.clone(), wo.clone()).unwrap();
                assert!(w.recovery().cuts.is_empty(), "{what}: {:?}", w.recovery());
                assert_eq!(w.next_seq(), next);
                write_n(&w, next, 900);
                next += 900;
                w.close().unwrap();
                assert!(u.stats().recycled > 0, "{what}: {:?}", u.stats());
                assert!(u.pooled_files().len() <= 3);
                let seqs = read_all_checked(&b);
                assert_eq!(seqs.last().copied(), Some(next - 1), "{what}");
                assert_clean(&b, &what);
                assert_clean(&file_backend(dir.path()), &what);
            }
            // The pooled files are ignored by storage-std and survive a reopen.
            let names = file_backend(dir.path()).list().unwrap();
            assert!(
                names.iter().any(|n| n.starts_with("recycle-")),
                "{what}: {names:?}"
            );
            // The active file is a recycled one in its second life or later, old bytes
            // past its end and all, and still ends cleanly.
            let v = verify(&file_backend(dir.path())).unwrap();
            assert!(!v.segments.last().unwrap().sealed);
            let fb = file_backend(dir.path());
            let w = W::open_with(fb.clone(), wo.clone()).unwrap();
            assert_eq!(w.next_seq(), next, "{what}");
            w.close().unwrap();
        }
    }
}

#[test]
fn preallocated_files_keep_their_size_or_are_zero_filled() {
    if !uring("preallocated_files_keep_their_size_or_are_zero_filled") {
        return;
    }
    for prealloc in [Prealloc::Fallocate, Prealloc::ZeroFill] {
        for direct in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let o = UringOptions::default().prealloc(prealloc).direct(direct);
            let (u, b) = uring_backend(dir.path(), o);
            let w = W::open_with(b.clone(), small_opts(small_group())).unwrap();
            write_n(&w, 0, 10);
            w.sync().unwrap();
            let v = verify(&file_backend(dir.path())).unwrap();
            let active = v.segments.last().unwrap();
            let len = std::fs::metadata(dir.path().join(&active.name))
                .unwrap()
                .len();
            let end = active.records_end + 32;
            match (prealloc, direct) {
                (Prealloc::ZeroFill, _) => {
                    assert_eq!(len, 16 << 10, "zero-filled to the segment size");
                    assert!(u.stats().zero_filled >= 16 << 10);
                }
                // O_DIRECT or not, nothing is written past the group (its partial last
                // block goes through the page cache): the file ends at the end mark.
                (_, _) => assert_eq!(len, end, "fallocate keeps the size"),
            }
            w.close().unwrap();
            assert_eq!(read_all_checked(&file_backend(dir.path())).len(), 10);
        }
    }
}

/// O_DIRECT writes at every alignment, against a model of the file.
#[test]
fn direct_writes_at_any_offset_match_a_model() {
    if !uring("direct_writes_at_any_offset_match_a_model") {
        return;
    }
    for fixed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let o = UringOptions::default()
            .direct(true)
            .fixed_buffers(fixed)
            .staging_bytes(3 * 4096);
        let (u, b) = uring_backend(dir.path(), o);
        // Old bytes in the file, as in a recycled one.
        let junk: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(dir.path().join("a.seg"), &junk).unwrap();
        let mut model = junk.clone();
        let mut f = b.open("a.seg", Access::ReadWrite).unwrap();
        let mut rng = test_support::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        let mut pos = 100u64;
        for i in 0..200 {
            let len = (next() % 9000) as usize;
            let split = (next() as usize) % (len + 1);
            let data: Vec<u8> = (0..len).map(|k| (k as u8) ^ (i as u8)).collect();
            // Mostly appends (each group overwrites the previous one's end mark), now
            // and then a jump back or forward.
            let offset = match next() % 10 {
                0 => next() % 60_000,
                _ => pos,
            };
            let sync = if i % 3 == 0 {
                SyncKind::Data
            } else {
                SyncKind::None
            };
            let done = f
                .write_group(&WriteGroup {
                    offset,
                    bufs: &[&data[..split], &data[split..], &[0u8; 32]],
                    sync,
                })
                .unwrap();
            assert_eq!(done.written, len as u64 + 32);
            assert_eq!(done.synced, sync != SyncKind::None);
            let end = offset as usize + len + 32;
            if model.len() < end {
                model.resize(end, 0);
            }
            model[offset as usize..offset as usize + len].copy_from_slice(&data);
            model[offset as usize + len..end].fill(0);
            pos = offset + len as u64;
            if i % 50 == 49 {
                let cut = (next() % 50_000) as usize;
                f.set_len(cut as u64).unwrap();
                model.truncate(cut);
                pos = pos.min(cut as u64);
            }
            // The file is exactly the model: no byte outside a group is ever written
            // (not even the rest of its first or last block), none is lost.
            let flen = f.len().unwrap() as usize;
            assert_eq!(flen, model.len(), "fixed={fixed} step {i}: length");
            let mut disk = vec![0u8; flen];
            assert_eq!(read_full_at(&*f, 0, &mut disk).unwrap(), flen);
            assert!(disk == model, "fixed={fixed} step {i}: content");
        }
        let s = u.stats();
        assert_eq!(s.direct_files, 1, "{s:?}");
        assert_eq!(u.fixed_buffers_active(), fixed);
    }
}

/// A group with more slices than one `writev` takes and more operations than the
/// queue holds: several chains, the sync linked in the last, all bytes in order.
#[test]
fn huge_groups_split_into_chains_within_the_queue() {
    if !uring("huge_groups_split_into_chains_within_the_queue") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The vectored path: a registered stage would copy the group into it instead.
    let o = UringOptions::default().fixed_buffers(false).sq_entries(4);
    let (u, b) = uring_backend(dir.path(), o);
    let mut f = b.create("big.tmp").unwrap();
    let pieces: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| vec![(i % 251) as u8; (i % 5) as usize])
        .collect();
    let bufs: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
    let before = u.stats();
    let done = f
        .write_group(&WriteGroup {
            offset: 7,
            bufs: &bufs,
            sync: SyncKind::Data,
        })
        .unwrap();
    let total: usize = pieces.iter().map(Vec::len).sum();
    assert_eq!(done.written, total as u64);
    assert!(done.synced);
    let s = u.stats();
    // 10 000 slices, 8 000 non-empty: 8 writevs of 1024 at most, 4 entries a chain.
    assert_eq!(s.sqes - before.sqes, 8 + 1);
    assert_eq!(s.chains - before.chains, 3);
    assert_eq!(s.enters - before.enters, 3, "one enter per chain");
    let disk = std::fs::read(dir.path().join("big.tmp")).unwrap();
    assert_eq!(&disk[..7], &[0; 7]);
    assert_eq!(disk[7..], pieces.concat()[..]);
}

/// One `io_uring_enter` per group: the writes and the `fdatasync` travel together.
#[test]
fn each_group_is_one_enter() {
    if !uring("each_group_is_one_enter") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (u, b) = uring_backend(dir.path(), UringOptions::default());
    let mut o = small_opts(small_group());
    o = o.with_segment_bytes(64 << 20);
    o = o.with_index_interval(1 << 30);
    let w = W::open_with(b, o).unwrap();
    let before = u.stats();
    for s in 0..200 {
        let seq = w.append_with(&payload(s), meta(s)).unwrap();
        w.wait_durable(seq, Some(Duration::from_secs(10))).unwrap();
    }
    let s = u.stats();
    let synced = s.synced_groups - before.synced_groups;
    let all = s.groups - before.groups;
    assert!(synced >= 200, "{s:?}");
    // The only unsynced groups are index writes (one entry per segment here) and the
    // advisory `DURABLE` point, rewritten after each sync.
    assert!(all - synced <= 2 + synced, "{s:?}");
    assert_eq!(s.enters - before.enters, all, "one enter per group: {s:?}");
    // O_DIRECT: up to three writes (the partial first block buffered, the whole blocks
    // direct, the partial last block buffered) and the sync, in one chain.
    let sqes = s.sqes - before.sqes;
    assert!(
        sqes >= 2 * synced && sqes <= 4 * synced + 3 * (all - synced),
        "writes and a sync per group: {s:?}"
    );
    w.close().unwrap();
}

/// tmpfs (and other file systems) may refuse `O_DIRECT`: those segment files are
/// written buffered, nothing fails.
#[test]
fn file_systems_without_o_direct_fall_back_to_buffered_writes() {
    if !uring("file_systems_without_o_direct_fall_back_to_buffered_writes") {
        return;
    }
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let (u, b) = uring_backend(dir.path(), UringOptions::default());
    write_log(b.clone(), small_group(), 0, 500);
    let s = u.stats();
    assert!(s.direct_files + s.direct_refused > 0, "{s:?}");
    println!(
        "{}: {} files O_DIRECT, {} refused",
        dir.path().display(),
        s.direct_files,
        s.direct_refused
    );
    assert_eq!(read_all_checked(&file_backend(dir.path())).len(), 500);
    assert_clean(&b, "tmpfs");
}
