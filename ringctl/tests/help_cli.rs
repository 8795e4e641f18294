//! Shell completions and the man page, generated from the same clap definition as the
//! parser.

use std::io::Write;
use std::process::{Command, Stdio};

fn ringctl(args: &[&str]) -> test_support::cli::Run {
    test_support::cli::run(env!("CARGO_BIN_EXE_ringctl"), args)
}

#[test]
fn completions_cover_every_subcommand_and_option() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = ringctl(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.err);
        for word in [
            "stress",
            "replay",
            "verify",
            "from-time",
            "payload",
            "segment-bytes",
        ] {
            assert!(r.out.contains(word), "{shell} completions lack {word}");
        }
    }
    // The bash script is valid bash.
    let script = ringctl(&["completions", "bash"]).out;
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .expect("bash");
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(bash.wait().unwrap().success(), "bash -n rejects the script");
    let r = ringctl(&["completions", "tcsh-9000"]);
    assert_eq!(r.code, 2);
}

#[test]
fn man_page_is_roff_naming_the_subcommands() {
    let r = ringctl(&["man"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains(".TH ringctl 1"), "{}", r.out);
    for sub in [
        "stress",
        "inspect",
        "verify",
        "recover",
        "replay",
        "completions",
    ] {
        assert!(r.out.contains(sub), "the man page lacks {sub}");
    }
}
