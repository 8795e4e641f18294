//! The README's storage-std quick start, tested as written: the block must be
//! `examples/quick_start.rs` byte for byte (CI's `examples` step runs that file), and
//! this test runs it too. ringcore's doctests include the README but skip the block
//! (`rust,ignore`), since storage-std is not one of ringcore's dependencies.

use std::path::Path;

/// The example itself, compiled into this test so that `cargo test` runs it.
mod quick_start {
    include!("../examples/quick_start.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

/// The line above the quick-start block in the README.
const MARKER: &str = "<!-- storage-std/tests/readme.rs checks";

/// The body of the fenced block right after the marker line, or why it is not there.
fn quick_start_block(readme: &str) -> Result<String, String> {
    let mut lines = readme.lines().skip_while(|l| !l.starts_with(MARKER));
    lines.next().ok_or("no marker line in the README")?;
    let fence = lines.next().ok_or("nothing after the marker")?;
    if fence != "```rust,ignore" {
        return Err(format!(
            "the marker is not followed by a ```rust,ignore fence: {fence:?}"
        ));
    }
    let mut body = String::new();
    for line in lines {
        if line == "```" {
            return Ok(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    Err("the quick-start block is not closed".into())
}

#[test]
fn readme_quick_start_is_the_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/quick_start.rs")).unwrap();
    let block = quick_start_block(&readme).unwrap();
    assert!(block.contains("wait_durable") && block.contains("Start::Seq"));
    assert_eq!(
        block, example,
        "README.md's storage-std quick start differs from examples/quick_start.rs"
    );
}

#[test]
fn readme_quick_start_runs() {
    quick_start::run().unwrap();
}

#[test]
fn extraction_rejects_what_is_not_the_block() {
    let ok = format!("text\n{MARKER} -->\n```rust,ignore\nfn main() {{}}\n```\nmore\n");
    assert_eq!(quick_start_block(&ok).unwrap(), "fn main() {}\n");
    assert!(quick_start_block("no marker here\n```rust,ignore\n```\n").is_err());
    let wrong_fence = format!("{MARKER} -->\n```rust\nfn main() {{}}\n```\n");
    assert!(quick_start_block(&wrong_fence).is_err());
    let unclosed = format!("{MARKER} -->\n```rust,ignore\nfn main() {{}}\n");
    assert!(quick_start_block(&unclosed).is_err());
}
