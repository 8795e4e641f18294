//! `--backend auto|std|uring`: parsing, what runs, and the fallback warning.

mod common;

use std::sync::Arc;

use common::*;
use storage_std::backend::FileBackend;
use storage_uring::{
    BackendChoice, BackendKind, OpenedBackend, ProbeError, UringOptions, open_backend,
};

#[test]
fn choices_parse_and_print() {
    for (s, c) in [
        ("auto", BackendChoice::Auto),
        ("std", BackendChoice::Std),
        ("uring", BackendChoice::Uring),
        ("io_uring", BackendChoice::Uring),
    ] {
        assert_eq!(s.parse::<BackendChoice>().unwrap(), c);
    }
    assert_eq!(BackendChoice::default(), BackendChoice::Auto);
    assert_eq!(BackendChoice::Uring.to_string(), "uring");
    let e = "aio".parse::<BackendChoice>().unwrap_err();
    assert!(e.to_string().contains("expected auto, std or uring"), "{e}");
}

#[test]
fn each_choice_opens_the_backend_it_names() {
    if !uring("each_choice_opens_the_backend_it_names") {
        return;
    }
    let o = UringOptions::default();
    for (choice, kind, backend_kind) in [
        (BackendChoice::Std, BackendKind::Std, "file"),
        (BackendChoice::Uring, BackendKind::Uring, "io_uring"),
        // io_uring works here, so auto picks it, without a warning.
        (BackendChoice::Auto, BackendKind::Uring, "io_uring"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let opened = open_backend(dir.path(), choice, &o).unwrap();
        assert_eq!(opened.kind, kind, "{choice}");
        assert_eq!(opened.backend.kind(), backend_kind);
        assert!(opened.warning().is_none());
        assert_eq!(opened.uring.is_some(), kind == BackendKind::Uring);
        let w = W::open_with(opened.backend.clone(), small_opts(small_group())).unwrap();
        write_n(&w, 0, 50);
        w.close().unwrap();
        assert_eq!(read_all_checked(&opened.backend).len(), 50);
    }
}

#[test]
fn the_fallback_warning_names_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let opened = OpenedBackend {
        backend: Arc::new(FileBackend::new(dir.path()).unwrap()),
        kind: BackendKind::Std,
        fallback: Some(ProbeError::Disabled { value: 2 }),
        uring: None,
    };
    let w = opened.warning().unwrap();
    assert!(w.contains("io_uring unavailable (disabled)"), "{w}");
    assert!(w.contains("io_uring_disabled = 2"), "{w}");
    assert!(w.contains("portable backend"), "{w}");
    assert_eq!(opened.kind.name(), "std");
}
