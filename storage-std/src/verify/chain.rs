//! The digest chain's verifier pass: one segment at a time through a fixed 1 MiB
//! buffer, so memory does not grow with the log. Where a chain starts and how a running
//! segment's hash is rebuilt: [`crate::chain_files`].

use std::io;

use crate::backend::{Access, Backend, BackendFile, read_full_at};
use crate::chain_files::{CHUNK, hash_range, read_front};
use crate::format::chain::{
    CHAIN_START, ChainDigest, DIGEST_KIND_CHAIN, SegmentChain, split_area, to_hex,
};
use crate::format::{self, SEGMENT_HEADER_LEN, decode_entry};
use crate::segment::{read_footer, read_header};
use crate::state::{Finding, Problem, Severity};

use super::SegmentCheck;

/// A digest kept outside the log, to check the log against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectDigest {
    /// The digest.
    pub digest: ChainDigest,
    /// The last sequence it covers; `None`: the log's last record.
    pub seq: Option<u64>,
}

impl std::str::FromStr for ExpectDigest {
    type Err = String;

    /// `HEX` (the digest at the log's last record) or `HEX@SEQ`.
    ///
    /// ```
    /// use storage_std::ExpectDigest;
    /// let e: ExpectDigest = format!("{}@7", "ab".repeat(32)).parse().unwrap();
    /// assert_eq!((e.digest, e.seq), ([0xab; 32], Some(7)));
    /// assert!("xyz".parse::<ExpectDigest>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        let (hex, seq) = match s.split_once('@') {
            Some((h, q)) => (
                h,
                Some(
                    q.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("not a sequence after '@': {q:?}"))?,
                ),
            ),
            None => (s, None),
        };
        Ok(Self {
            digest: format::chain::parse_hex(hex)?,
            seq,
        })
    }
}

/// What a sealed run's manifest says the log must end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRun {
    /// Where the manifest is (for messages).
    pub file: String,
    /// The last sequence of the run.
    pub last_seq: Option<u64>,
    /// The chain digest at `last_seq`, hex as the manifest holds it (checked here, so a
    /// damaged field is a finding, not an error).
    pub final_digest: Option<String>,
}

/// What the chain check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ChainReport {
    /// Segments whose footer carries the chain and matched it.
    pub chained_segments: u64,
    /// Sealed segments without a digest (older formats, or the chain switched off).
    pub unchained_segments: u64,
    /// The digest at `seq`, hex: the log's digest at its last record, or the one asked
    /// for with [`ExpectDigest::seq`].
    pub digest: Option<String>,
    /// The last sequence `digest` covers.
    pub seq: Option<u64>,
    /// Where the chain starts: `start` (a new chain) or the hex digest recorded at a cut.
    pub start: Option<String>,
    /// Whether an expected digest (from outside the log) was given and matched.
    pub expected_matched: Option<bool>,
    /// Whether a sealed manifest's end (last sequence and final digest) was checked and
    /// matched.
    pub manifest_matched: Option<bool>,
}

fn finding(out: &mut Vec<Finding>, severity: Severity, file: &str, detail: String) {
    out.push(Finding {
        severity,
        file: file.to_owned(),
        offset: None,
        problem: Problem::Chain {
            detail: detail.clone(),
        },
        message: detail,
    });
}

/// Where entry `seq` ends in `[from, to)` of `file` (`None`: not in it).
fn end_of_seq(
    file: &dyn BackendFile,
    version: u32,
    from: u64,
    to: u64,
    seq: u64,
) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    while pos < to {
        let want = usize::try_from(to - pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = read_full_at(file, pos, &mut buf[..want])?;
        if n == 0 {
            return Ok(None);
        }
        let mut off = 0;
        while off < n {
            match decode_entry(&buf[off..n], version) {
                Ok(e) => {
                    off += e.disk_len();
                    if e.seq() <= seq && seq < e.next_seq() {
                        return Ok(Some(pos + off as u64));
                    }
                }
                Err(format::RecordError::Truncated { needed, .. }) => {
                    if off == 0 {
                        // One entry larger than the buffer: grow to it (never past the
                        // segment's records).
                        if needed <= n as u64 || needed > to - pos {
                            return Ok(None);
                        }
                        buf.resize(usize::try_from(needed).unwrap_or(usize::MAX), 0);
                    }
                    break;
                }
                Err(_) => return Ok(None),
            }
        }
        pos += off as u64;
    }
    Ok(None)
}

/// The verifier's chain pass over `segs` (in order, as the survey found them).
pub(crate) fn check(
    backend: &dyn Backend,
    segs: &[SegmentCheck],
    expect: Option<&ExpectDigest>,
    manifest: Option<&SealedRun>,
    truncating_after: Option<u64>,
    findings: &mut Vec<Finding>,
) -> crate::error::Result<ChainReport> {
    let read_err = |name: &str| {
        let name = name.to_owned();
        move |e: io::Error| crate::error::Error::io("read", name, e)
    };
    let mut rep = ChainReport::default();
    let front = match read_front(backend).map_err(read_err(format::CHAIN_FRONT_FILE))? {
        Some(Ok(f)) => Some(f),
        Some(Err(why)) => {
            finding(
                findings,
                Severity::Corruption,
                format::CHAIN_FRONT_FILE,
                format!(
                    "{} is damaged ({why}): where the chain starts is unknown",
                    format::CHAIN_FRONT_FILE
                ),
            );
            None
        }
        None => None,
    };
    // The digest the next segment must start from (`None`: the previous one is not
    // chained, so the next one starts a chain).
    let mut running: Option<ChainDigest> = None;
    let mut at_last_record: Option<ChainDigest> = None;
    // Whether the segment before was rebuilt by `recover --force` (its old digest,
    // which the next footer names, is gone with the bytes it took out).
    let mut prev_rebuilt = false;
    // Whether this segment's link was excused because the one before was rebuilt: then
    // recover --force may have rebuilt this one too (a segment that lost its first
    // records to a hole in front of it gets a new digest), so the next link is excused
    // as well.
    let mut excused;
    let mut at_seq: Option<(u64, ChainDigest)> = None;
    for (i, s) in segs.iter().enumerate() {
        excused = false;
        if s.records_end < SEGMENT_HEADER_LEN as u64 {
            running = None;
            continue;
        }
        let file = backend
            .open(&s.name, Access::Read)
            .map_err(read_err(&s.name))?;
        let version = match read_header(&*file).map_err(read_err(&s.name))? {
            Ok((_, v)) => v,
            Err(_) => {
                running = None;
                continue;
            }
        };
        let chained = if s.sealed {
            let len = file.len().map_err(read_err(&s.name))?;
            // A footer that does not end the records the survey checked is not this
            // check's to judge (the survey reports it; on a live log, it is a seal that
            // came after the survey): the segment counts as active.
            read_footer(&*file, len, s.base_seq)
                .map_err(read_err(&s.name))?
                .ok()
                .filter(|f| f.records_end == s.records_end)
                .map(|f| (f.digest_kind == DIGEST_KIND_CHAIN).then(|| split_area(&f.digest)))
        } else {
            None
        };
        let prev = match chained {
            // A sealed segment without a digest: the chain pauses here.
            Some(None) => {
                rep.unchained_segments += 1;
                if running.is_some() && version >= format::chain::CHAIN_MIN_VERSION {
                    finding(
                        findings,
                        Severity::Info,
                        &s.name,
                        format!(
                            "{} carries no digest: the chain is not checked across it",
                            s.name
                        ),
                    );
                }
                running = None;
                prev_rebuilt = s.lost > 0;
                continue;
            }
            Some(Some((prev, _))) => prev,
            // The active segment: it starts from what the writer would start it from.
            None => running.unwrap_or(match front {
                Some(f) if i == 0 && f.seq == s.base_seq => f.digest,
                _ => CHAIN_START,
            }),
        };
        if let Some(f) = front.filter(|f| i > 0 && f.seq == s.base_seq)
            && f.digest != prev
        {
            finding(
                findings,
                Severity::Corruption,
                &s.name,
                format!(
                    "{} starts from {}, but the cut recorded at {} says {}",
                    s.name,
                    to_hex(&prev),
                    f.seq,
                    to_hex(&f.digest)
                ),
            );
        }
        if i == 0 && front.is_some_and(|f| f.seq > s.base_seq) {
            // A cut was recorded but the segments in front of it are still here (a
            // removal cut short): where this one starts is checked at the cut, so a
            // segment must start there (or the log end just before it).
            rep.start = Some("before a recorded cut".to_owned());
            let cut = front.map_or(0, |f| f.seq);
            let next = segs
                .iter()
                .rev()
                .find_map(|s| s.last_seq)
                .and_then(|q| q.checked_add(1));
            if !segs.iter().any(|s| s.base_seq == cut) && next != Some(cut) {
                finding(
                    findings,
                    Severity::Corruption,
                    format::CHAIN_FRONT_FILE,
                    format!(
                        "{} records a cut at sequence {cut}, but no segment starts there: \
                         {} starts from {} unchecked",
                        format::CHAIN_FRONT_FILE,
                        s.name,
                        to_hex(&prev)
                    ),
                );
            }
        } else if i == 0 {
            let recorded = front.filter(|f| f.seq == s.base_seq);
            rep.start = Some(match recorded {
                Some(f) => to_hex(&f.digest),
                None => "start".to_owned(),
            });
            let ok = match recorded {
                Some(f) => f.digest == prev,
                None => prev == CHAIN_START,
            };
            if !ok {
                finding(
                    findings,
                    Severity::Corruption,
                    &s.name,
                    format!(
                        "{} continues a chain from {} but {}: segments in front of it were \
                         removed without a record of the cut, or it was replaced",
                        s.name,
                        to_hex(&prev),
                        match recorded {
                            Some(f) => format!("the cut was recorded as {}", to_hex(&f.digest)),
                            None => format!("no cut is recorded at {}", s.base_seq),
                        }
                    ),
                );
            }
        } else {
            let want = running.unwrap_or(CHAIN_START);
            if want != prev {
                let (severity, why) = if prev_rebuilt {
                    excused = true;
                    (
                        Severity::Info,
                        "the segment before it was rebuilt by recover --force".to_owned(),
                    )
                } else {
                    (
                        Severity::Corruption,
                        "a segment was dropped, reordered or replaced".to_owned(),
                    )
                };
                finding(
                    findings,
                    severity,
                    &s.name,
                    format!(
                        "{} does not follow the segment before it in the digest chain \
                         (it starts from {}, the chain stands at {}): {why}",
                        s.name,
                        to_hex(&prev),
                        to_hex(&want)
                    ),
                );
            }
        }
        let mut chain = SegmentChain::new(prev, s.base_seq);
        let target = expect
            .and_then(|e| e.seq)
            .filter(|&q| s.last_seq.is_some_and(|l| s.base_seq <= q && q <= l));
        if let Some(q) = target
            && let Some(cut) =
                end_of_seq(&*file, version, SEGMENT_HEADER_LEN as u64, s.records_end, q)
                    .map_err(read_err(&s.name))?
        {
            hash_range(&*file, &mut chain, SEGMENT_HEADER_LEN as u64, cut)
                .map_err(read_err(&s.name))?;
            at_seq = Some((q, chain.digest()));
            hash_range(&*file, &mut chain, cut, s.records_end).map_err(read_err(&s.name))?;
        } else {
            hash_range(&*file, &mut chain, SEGMENT_HEADER_LEN as u64, s.records_end)
                .map_err(read_err(&s.name))?;
        }
        let digest = chain.digest();
        if let Some(Some((_, stored))) = chained {
            rep.chained_segments += 1;
            if stored != digest {
                finding(
                    findings,
                    Severity::Corruption,
                    &s.name,
                    format!(
                        "{}'s records do not match its digest (footer {}, records give {}): \
                         the segment was altered",
                        s.name,
                        to_hex(&stored),
                        to_hex(&digest)
                    ),
                );
            }
        }
        running = Some(digest);
        if s.last_seq.is_some() {
            at_last_record = Some(digest);
        }
        prev_rebuilt = s.lost > 0 || excused;
    }
    let last_seq = segs.iter().rev().find_map(|s| s.last_seq);
    // The digest at the last sequence: a segment without records after it (the active
    // one a `None` writer's sync left behind, say) links the chain on but holds nothing
    // the digest names.
    let end = at_last_record.zip(last_seq).map(|(d, q)| (q, d));
    if let Some(e) = expect {
        let got = match e.seq {
            Some(q) if Some(q) != last_seq => at_seq.filter(|a| a.0 == q),
            _ => end,
        };
        let ok = got.is_some_and(|(_, d)| d == e.digest);
        rep.expected_matched = Some(ok);
        if !ok {
            finding(
                findings,
                Severity::Corruption,
                "log directory",
                match got {
                    Some((q, d)) => format!(
                        "the digest at sequence {q} is {}, not the expected {}",
                        to_hex(&d),
                        to_hex(&e.digest)
                    ),
                    None => format!(
                        "no chain digest at sequence {} to compare with the expected {} \
                         (the log does not hold it, or the chain does not reach it)",
                        e.seq.map_or_else(|| "(last)".to_owned(), |q| q.to_string()),
                        to_hex(&e.digest)
                    ),
                },
            );
        }
        if let Some((q, d)) = got {
            rep.seq = Some(q);
            rep.digest = Some(to_hex(&d));
        }
    } else if let Some((q, d)) = end {
        rep.seq = Some(q);
        rep.digest = Some(to_hex(&d));
    }
    let manifest = match pending_truncation(manifest, truncating_after, last_seq, findings) {
        Some(m) => m,
        None => {
            rep.manifest_matched = manifest.map(|_| false);
            None
        }
    };
    if let Some(m) = manifest {
        let mut ok = true;
        if m.last_seq != last_seq {
            ok = false;
            finding(
                findings,
                Severity::Corruption,
                &m.file,
                format!(
                    "the sealed run ended at sequence {}, the log ends at {}: segments were \
                     deleted from the end or the tail was cut",
                    m.last_seq
                        .map_or_else(|| "(none)".to_owned(), |q| q.to_string()),
                    last_seq.map_or_else(|| "(none)".to_owned(), |q| q.to_string()),
                ),
            );
        }
        if let Some(hex) = &m.final_digest {
            match format::chain::parse_hex(hex) {
                Err(why) => {
                    ok = false;
                    finding(
                        findings,
                        Severity::Corruption,
                        &m.file,
                        format!("the manifest's final digest is damaged: {why}"),
                    );
                }
                Ok(want) => {
                    if end.map(|e| e.1) != Some(want) {
                        ok = false;
                        finding(
                            findings,
                            Severity::Corruption,
                            &m.file,
                            format!(
                                "the sealed run's final digest is {hex}, the log gives {}",
                                end.map_or_else(|| "none".to_owned(), |e| to_hex(&e.1))
                            ),
                        );
                    }
                }
            }
        }
        rep.manifest_matched = Some(ok);
    }
    Ok(rep)
}

/// Reports a truncation the manifest says is under way (`truncating_after`): `None`
/// when its shortened log is in place already (the log ends at the last sequence it
/// keeps, or is empty), which a sealed run's end and digest (still the old ones) are then
/// not checked against; the sealed run to check otherwise. An intent at or past the
/// sealed run's end is no truncation's and explains nothing.
fn pending_truncation<'m>(
    manifest: Option<&'m SealedRun>,
    truncating_after: Option<u64>,
    last_seq: Option<u64>,
    findings: &mut Vec<Finding>,
) -> Option<Option<&'m SealedRun>> {
    let kept =
        truncating_after.filter(|&k| manifest.is_none_or(|m| m.last_seq.is_none_or(|end| k < end)));
    let Some(kept) = kept else {
        return Some(manifest);
    };
    let file = manifest.map_or("manifest", |m| m.file.as_str());
    let settle = "Catalog::recover (or the truncation run again) settles it";
    // A log that ends before the kept sequence lost more than any truncation cuts: the
    // sealed run's checks below say so.
    if last_seq.is_some_and(|l| l < kept) {
        return Some(manifest);
    }
    if last_seq.is_none_or(|l| l == kept) {
        finding(
            findings,
            Severity::Repairable,
            file,
            format!(
                "a truncation keeping sequences up to {kept} was cut short after it swapped \
                 the shortened log in: the manifest still names the end before the cut; \
                 {settle}"
            ),
        );
        return None;
    }
    finding(
        findings,
        Severity::Info,
        file,
        format!(
            "a truncation keeping sequences up to {kept} was cut short before it swapped \
             the shortened log in: the log is whole; {settle}"
        ),
    );
    Some(manifest)
}
