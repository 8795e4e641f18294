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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_check_all_lengths() {
        for len in 0..40 {
            let mut buf = vec![0u8; len];
            fill(77, &mut buf);
            assert!(check(77, &buf), "len {len}");
            if len > 0 {
                assert!(!check(78, &buf), "other seq, len {len}");
                let mut bad = buf.clone();
                bad[len - 1] ^= 1;
                assert!(!check(77, &bad), "flip at end, len {len}");
            }
        }
    }

    #[test]
    fn pattern_matches_documented_formula() {
        let mut buf = [0u8; 19];
        fill(3, &mut buf);
        for (i, b) in buf.iter().enumerate() {
            let w = 3u64
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((i / 8) as u64);
            assert_eq!(*b, w.to_le_bytes()[i % 8]);
        }
    }

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
    fn lengths_stay_in_range_and_vary() {
        let s = PayloadSizes { min: 16, max: 100 };
        let lens: Vec<usize> = (0..1000).map(|q| s.len_for(q)).collect();
        assert!(lens.iter().all(|l| (16..=100).contains(l)));
        assert!(lens.contains(&16) && lens.contains(&100));
        assert_eq!(PayloadSizes { min: 5, max: 5 }.len_for(9), 5);
    }
}
