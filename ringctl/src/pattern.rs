//! The payload pattern every `ringctl` subcommand writes and checks: the workspace's one
//! pattern, [`ringlog_pattern`], plus the two things only a stress run needs (a fill that
//! can damage records on purpose, and a check that says what is wrong in words).
//!
//! Byte `i` of the payload of the record with sequence `seq` is byte `i % 8` (little-endian)
//! of the 64-bit word `seq * 0x9E37_79B9_7F4A_7C15 + i / 8` (wrapping arithmetic). The
//! multiplier spreads neighbouring sequences apart, so a record delivered under the wrong
//! sequence, shifted by a word, or torn between two records fails the check.
//!
//! The payload length of a record in a `--payload-min..=--payload-max` run is a function
//! of its sequence too ([`PayloadSizes::len_for`]), so a reader can check lengths without
//! being told them.

pub use ringlog_pattern::{PayloadSizes, check, fill};

/// Fills `payload` with the pattern of record `seq`, then, if `seq` is every
/// `corrupt_every`-th record (the hidden `--corrupt-every` testing aid), flips a bit of its
/// last byte so the readers' checks must catch it.
#[inline]
pub fn fill_for_stress(seq: u64, payload: &mut [u8], corrupt_every: Option<u64>) {
    fill(seq, payload);
    if corrupt_every.is_some_and(|n| n > 0 && (seq + 1).is_multiple_of(n))
        && let Some(b) = payload.last_mut()
    {
        *b ^= 0x40;
    }
}

/// What is wrong with `payload` as record `seq` of a run with these sizes: its length
/// must be `sizes.len_for(seq)` and its bytes the pattern. `None` when it checks out.
#[inline]
pub fn payload_problem(sizes: &PayloadSizes, seq: u64, payload: &[u8]) -> Option<String> {
    let want = sizes.len_for(seq);
    if payload.len() != want {
        Some(format!(
            "sequence {seq}: length {} != {want}",
            payload.len()
        ))
    } else if !check(seq, payload) {
        Some(format!("sequence {seq}: payload pattern mismatch"))
    } else {
        None
    }
}

/// The pattern's own properties (every length, the documented formula, the spread of
/// lengths) are tested in `ringlog-pattern`; these tests cover what this module adds.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_fill_damages_exactly_every_nth_record() {
        let sizes = PayloadSizes { min: 16, max: 16 };
        for seq in 0..20u64 {
            let mut buf = [0u8; 16];
            fill_for_stress(seq, &mut buf, Some(5));
            let problem = payload_problem(&sizes, seq, &buf);
            assert_eq!(
                problem.is_some(),
                (seq + 1) % 5 == 0,
                "seq {seq}: {problem:?}"
            );
            fill_for_stress(seq, &mut buf, None);
            assert_eq!(payload_problem(&sizes, seq, &buf), None);
        }
        assert!(
            payload_problem(&sizes, 1, &[0; 15])
                .unwrap()
                .contains("length 15 != 16")
        );
    }

    #[test]
    fn payload_problem_checks_the_length_of_a_spread_run_then_the_pattern() {
        let sizes = PayloadSizes { min: 16, max: 100 };
        for seq in 0..200u64 {
            let mut buf = vec![0u8; sizes.len_for(seq)];
            fill(seq, &mut buf);
            assert_eq!(payload_problem(&sizes, seq, &buf), None, "seq {seq}");
            let problem = payload_problem(&sizes, seq + 1, &buf).unwrap();
            assert!(
                problem.contains("length") || problem.contains("pattern mismatch"),
                "seq {seq}: {problem}"
            );
            buf.push(0);
            let long = payload_problem(&sizes, seq, &buf).unwrap();
            assert!(long.contains(&format!("length {} != {}", buf.len(), buf.len() - 1)));
        }
    }
}
