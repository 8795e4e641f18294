//! Only retention's removals recycle: a segment file that recovery removes after linking
//! it into `quarantine/` must be deleted, not pooled, or the next segment would be
//! written over the quarantined bytes (one inode, two names).

mod common;

use common::*;
use storage_std::backend::{Access, SyncKind, WriteGroup, read_full_at};
use storage_uring::UringOptions;

#[test]
fn a_quarantined_segment_is_never_recycled() {
    if !uring("a_quarantined_segment_is_never_recycled") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (u, b) = uring_backend(dir.path(), UringOptions::default().recycle(4));
    let _lock = b.lock().unwrap();
    let old = "00000000000000000000.seg";
    let mut f = b.create(old).unwrap();
    let evidence = vec![0xabu8; 8192];
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&evidence],
        sync: SyncKind::Data,
    })
    .unwrap();
    drop(f);
    // What recovery does with a torn creation: link into quarantine, then remove.
    b.link(old, "quarantine/1-00000000000000000000.seg")
        .unwrap();
    b.remove(old).unwrap();
    assert!(u.pooled_files().is_empty(), "{:?}", u.pooled_files());
    let mut f = b.create("00000000000000000100.seg").unwrap();
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&[0x11u8; 4096]],
        sync: SyncKind::Data,
    })
    .unwrap();
    drop(f);
    let q = b
        .open("quarantine/1-00000000000000000000.seg", Access::Read)
        .unwrap();
    let mut got = vec![0u8; 8192];
    assert_eq!(read_full_at(&*q, 0, &mut got).unwrap(), 8192);
    assert_eq!(got, evidence, "the quarantined bytes were overwritten");
    // Retention's retirement still recycles.
    b.retire("00000000000000000100.seg").unwrap();
    assert_eq!(u.pooled_files().len(), 1);
}
