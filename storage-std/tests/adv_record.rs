//! Adversarial use of the owned `Record` iterator: every record held at once (the
//! cursor must never refill a buffer a record still shares), records held across a
//! live writer's appends, and a damaged segment: never read as all good records.

use storage_std::{Durability, LogReader, ReadLimit, Start, Writer, WriterOptions};

fn payload(s: u64) -> Vec<u8> {
    // Inline (<= 64 bytes) and shared sizes, up to past one read chunk.
    let len = match s % 5 {
        0 => 3,
        1 => 64,
        2 => 65,
        3 => 3000,
        _ => 70_000,
    };
    (0..len).map(|i| (s as usize * 31 + i) as u8).collect()
}

#[test]
fn adv_every_record_held_at_once_keeps_its_bytes() {
    let d = tempfile::tempdir().unwrap();
    let o = WriterOptions::new(Durability::None).with_segment_bytes(256 << 10);
    let w: Writer = Writer::open(d.path(), o).unwrap();
    for s in 0..600 {
        w.append(&payload(s)).unwrap();
    }
    w.sync().unwrap();
    // Held while the writer goes on appending (a live reader).
    let r = w.reader(ReadLimit::Written);
    let held: Vec<_> = r
        .cursor(Start::Oldest)
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    for s in 600..700 {
        w.append(&payload(s)).unwrap();
    }
    assert_eq!(held.len(), 600);
    for (i, rec) in held.iter().enumerate() {
        assert_eq!(rec.seq(), i as u64);
        assert_eq!(rec.payload(), payload(i as u64), "seq {i}");
    }
    w.close().unwrap();
    let all: Vec<_> = LogReader::open(d.path())
        .unwrap()
        .cursor(Start::Oldest)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 700);
    for (i, rec) in all.iter().enumerate().rev() {
        assert_eq!(rec.payload(), payload(i as u64), "seq {i}");
    }
    // Two cursors interleaved, records of both kept.
    let r = LogReader::open(d.path()).unwrap();
    let (mut a, mut b) = (
        r.cursor(Start::Oldest).unwrap(),
        r.cursor(Start::Seq(350)).unwrap(),
    );
    let mut kept = Vec::new();
    for _ in 0..300 {
        kept.push(Iterator::next(&mut a).unwrap().unwrap());
        kept.push(Iterator::next(&mut b).unwrap().unwrap());
    }
    for rec in &kept {
        assert_eq!(rec.payload(), payload(rec.seq()));
    }
}

#[test]
fn adv_damaged_segment_ends_the_iteration() {
    let d = tempfile::tempdir().unwrap();
    let w: Writer = Writer::open(d.path(), WriterOptions::new(Durability::Sync)).unwrap();
    for s in 0..50 {
        w.append(&payload(s % 3)).unwrap();
    }
    w.close().unwrap();
    let seg = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    let mid = b.len() / 2;
    b[mid..mid + 16].fill(0xa5);
    std::fs::write(&seg, &b).unwrap();
    let mut c = match LogReader::open(d.path()).and_then(|r| r.cursor(Start::Oldest)) {
        Ok(c) => c,
        Err(_) => return, // refused up front: also no silent loss
    };
    let mut ok = 0;
    let mut failed = false;
    for x in c.by_ref() {
        match x {
            Ok(rec) => {
                assert_eq!(rec.payload(), payload(rec.seq() % 3));
                ok += 1;
            }
            Err(_) => failed = true,
        }
    }
    let verdict = storage_std::verify_dir(d.path()).unwrap();
    // In the active segment the reader stops at the damage as at a torn tail (the
    // records after it are not read); the verifier must then not call the log clean.
    assert!(
        failed || verdict.status != storage_std::VerifyStatus::Clean,
        "the damage read as {ok} good records, then the end; verify: {:?} {:#?}",
        verdict.status,
        verdict.findings
    );
    assert!(ok < 50);
    assert!(
        Iterator::next(&mut c).is_none(),
        "the iteration is fused after an error"
    );
}
