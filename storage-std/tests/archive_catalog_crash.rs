//! Catalog operations and their errors.

use storage_std::archive::{ArchiveError, Catalog};

/// An I/O error's text appears once in the chain a reporter prints (each error's
/// message, then its source's): `ArchiveError::Io` carries it in its message and does
/// not return it again as its source.
#[test]
fn an_io_error_prints_its_cause_once_in_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let e = Catalog::open(file.join("root")).unwrap_err();
    let os = e.io_error().expect("an I/O error").to_string();
    assert!(matches!(e, ArchiveError::Io { .. }), "{e:?}");
    let mut chain = vec![e.to_string()];
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    let joined = chain.join(": ");
    assert_eq!(joined.matches(&os).count(), 1, "{joined}");
    assert!(joined.starts_with("create catalog root: "), "{joined}");
}
