//! Verifying a log directory as a user meets it: a recording's log (`ROOT/NAME/log`, see
//! [`crate::archive`]) against its sealed run manifest as well as itself, and the
//! verifier run in a child process under time and memory limits ([`verify_isolated`]).
//! Above the archive, whose manifests it reads; the checks themselves are
//! [`crate::verify`]'s.

use std::sync::Arc;

use crate::backend::{Backend, FileBackend};
use crate::error::{Error, Result};
use crate::state::{self, Finding, Problem, Severity};
use crate::verify::{SealedRun, VerifyOptions, VerifyReport, VerifyStatus, verify_with};

mod isolated;
pub use isolated::{
    IsolatedOutcome, IsolatedVerify, IsolationLimits, REPORT_MARKER, VERIFY_CHILD_ENV,
    run_verify_child_if_requested, verify_isolated,
};

/// Verifies the log in `dir` (real files; nothing is created). A recording's log
/// (`ROOT/NAME/log`, see [`crate::archive`]) is checked against its sealed manifest
/// (`ROOT/NAME/manifest.json`) too: a damaged manifest, or a sealed run whose end the
/// log no longer reaches, is corruption.
pub fn verify_dir(dir: impl AsRef<std::path::Path>) -> Result<VerifyReport> {
    verify_dir_with(dir, &VerifyOptions::default())
}

/// [`verify_dir`] with a digest kept outside the log, or a sealed run given by the
/// caller (which replaces the one found next to a recording's log).
pub fn verify_dir_with(
    dir: impl AsRef<std::path::Path>,
    opts: &VerifyOptions,
) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let b =
        FileBackend::existing(dir).map_err(|e| Error::io("open", dir.display().to_string(), e))?;
    let mut opts = opts.clone();
    let mut damaged = None;
    if opts.sealed_run.is_none() {
        match sealed_run_next_to(dir) {
            Ok((run, kept)) => {
                opts.sealed_run = run;
                opts.truncating_after = opts.truncating_after.or(kept);
            }
            Err(f) => damaged = Some(f),
        }
    }
    let mut rep = verify_with(&(Arc::new(b) as Arc<dyn Backend>), &opts)?;
    if let Some(f) = damaged {
        rep.findings.push(f);
        rep.class = state::class_of(&rep.findings);
        rep.status = VerifyStatus::of(rep.class);
    }
    Ok(rep)
}

/// The sealed run of a recording whose log is `dir` (`None`: not a recording, or not
/// sealed) and the last sequence a truncation its manifest says is under way keeps; a
/// manifest that does not decode is a finding.
type NextTo = (Option<SealedRun>, Option<u64>);
fn sealed_run_next_to(dir: &std::path::Path) -> std::result::Result<NextTo, Finding> {
    use crate::archive::{MANIFEST_FILE, Manifest, RecordingState, TRUNCATING_KEY};
    if dir.file_name().is_none_or(|n| n != "log") {
        return Ok((None, None));
    }
    let Some(parent) = dir.parent() else {
        return Ok((None, None));
    };
    let path = parent.join(MANIFEST_FILE);
    let name = path.display().to_string();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(e) => {
            return Err(chain_finding(&name, format!("cannot read {name}: {e}")));
        }
    };
    let m = Manifest::decode(&bytes).map_err(|why| {
        chain_finding(&name, format!("the run manifest {name} is damaged: {why}"))
    })?;
    // Below the manifest's end, as every truncation writes it (see `Catalog::truncate`).
    let kept = m
        .config
        .get(TRUNCATING_KEY)
        .and_then(|k| k.parse::<u64>().ok())
        .filter(|&k| m.last_seq.is_none_or(|end| k < end));
    let run = (m.state == RecordingState::Sealed).then_some(SealedRun {
        file: name,
        last_seq: m.last_seq,
        final_digest: m.final_digest,
    });
    Ok((run, kept))
}

fn chain_finding(file: &str, detail: String) -> Finding {
    Finding {
        severity: Severity::Corruption,
        file: file.to_owned(),
        offset: None,
        problem: Problem::Chain {
            detail: detail.clone(),
        },
        message: detail,
    }
}
