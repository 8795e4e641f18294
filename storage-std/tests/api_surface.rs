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
