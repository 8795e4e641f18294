//! The one payload pattern of the ringlog workspace.
//!
//! Byte `i` of the payload of the record with sequence `seq` is byte `i % 8`
//! (little-endian) of the 64-bit word `seq * 0x9E37_79B9_7F4A_7C15 + i / 8` (wrapping
//! arithmetic). The multiplier (the 64-bit golden ratio) spreads neighbouring sequences
//! apart, so a record delivered under the wrong sequence, shifted by a word, or torn
//! between two records fails [`check`].
//!
//! `ringctl` writes and checks this pattern in every subcommand, the benches fill their
//! payloads with it, and the tests of every crate use it, so a record produced by one
//! tool can be checked by any other.
//!
//! ```
//! let mut buf = [0u8; 19];
//! ringlog_pattern::fill(3, &mut buf);
//! assert!(ringlog_pattern::check(3, &buf));
//! assert!(!ringlog_pattern::check(4, &buf));
//! assert_eq!(buf[9], ringlog_pattern::byte(3, 9));
//! ```
#![no_std]
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]

/// Multiplier of the pattern (the 64-bit golden ratio).
pub const SEQ_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `j`-th 64-bit word of the payload of record `seq`.
///
/// ```
/// assert_eq!(ringlog_pattern::word(1, 2), 0x9E37_79B9_7F4A_7C17);
/// ```
#[inline(always)]
pub const fn word(seq: u64, j: usize) -> u64 {
    seq.wrapping_mul(SEQ_MULTIPLIER).wrapping_add(j as u64)
}

/// Byte `i` of the payload of record `seq`.
///
/// ```
/// assert_eq!(ringlog_pattern::byte(1, 0), 0x15);
/// ```
#[inline(always)]
pub const fn byte(seq: u64, i: usize) -> u8 {
    word(seq, i / 8).to_le_bytes()[i % 8]
}

/// Fills `payload` with the pattern of record `seq`.
///
/// ```
/// let mut buf = [0u8; 8];
/// ringlog_pattern::fill(0, &mut buf);
/// assert_eq!(buf, [0; 8]); // word 0 of sequence 0 is zero
/// ```
#[inline]
pub fn fill(seq: u64, payload: &mut [u8]) {
    let full = payload.len() / 8;
    let mut chunks = payload.chunks_exact_mut(8);
    for (j, c) in (&mut chunks).enumerate() {
        c.copy_from_slice(&word(seq, j).to_le_bytes());
    }
    let rem = chunks.into_remainder();
    if !rem.is_empty() {
        let w = word(seq, full).to_le_bytes();
        rem.copy_from_slice(&w[..rem.len()]);
    }
}

/// Whether every byte of `payload` is the pattern of record `seq`.
///
/// ```
/// let mut buf = [0u8; 12];
/// ringlog_pattern::fill(7, &mut buf);
/// buf[11] ^= 1;
/// assert!(!ringlog_pattern::check(7, &buf));
/// ```
#[inline]
pub fn check(seq: u64, payload: &[u8]) -> bool {
    let mut chunks = payload.chunks_exact(8);
    for (j, c) in (&mut chunks).enumerate() {
        if c != word(seq, j).to_le_bytes() {
            return false;
        }
    }
    let rem = chunks.remainder();
    rem.is_empty() || rem == &word(seq, payload.len() / 8).to_le_bytes()[..rem.len()]
}

/// A cheap partial check for throughput benchmarks: the first and the last byte of
/// `payload` are the pattern's. Two loads per record, enough that no queue can skip the
/// data; use [`check`] wherever the cost does not matter.
///
/// ```
/// let mut buf = [0u8; 64];
/// ringlog_pattern::fill(5, &mut buf);
/// assert!(ringlog_pattern::check_ends(5, &buf));
/// buf[63] ^= 1;
/// assert!(!ringlog_pattern::check_ends(5, &buf));
/// assert!(ringlog_pattern::check_ends(5, &[]));
/// ```
#[inline(always)]
pub fn check_ends(seq: u64, payload: &[u8]) -> bool {
    match payload {
        [] => true,
        [first, .., last] => *first == byte(seq, 0) && *last == byte(seq, payload.len() - 1),
        [only] => *only == byte(seq, 0),
    }
}

/// Payload lengths of a run: fixed, or spread over `min..=max` by sequence, so a reader
/// can check lengths without being told them.
///
/// ```
/// use ringlog_pattern::PayloadSizes;
/// let s = PayloadSizes { min: 0, max: 96 };
/// assert!((0..1000).all(|q| s.len_for(q) <= 96));
/// assert_eq!(PayloadSizes::fixed(64).len_for(12), 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadSizes {
    /// Smallest payload.
    pub min: usize,
    /// Largest payload.
    pub max: usize,
}

impl PayloadSizes {
    /// Every payload `len` bytes long.
    pub const fn fixed(len: usize) -> Self {
        Self { min: len, max: len }
    }

    /// The payload length of record `seq`: `min + mix(seq) % (max - min + 1)`, where `mix`
    /// is the splitmix64 finaliser. `min` when `max <= min`.
    #[inline]
    pub const fn len_for(&self, seq: u64) -> usize {
        if self.max <= self.min {
            return self.min;
        }
        let mut z = seq.wrapping_add(SEQ_MULTIPLIER);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // `max - min + 1` overflows only for the full range, where every value fits.
        match ((self.max - self.min) as u64).checked_add(1) {
            Some(span) => self.min + (z % span) as usize,
            None => self.min.wrapping_add(z as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_check_all_lengths() {
        for len in 0..40 {
            let mut buf = [0u8; 40];
            let buf = &mut buf[..len];
            fill(77, buf);
            assert!(check(77, buf), "len {len}");
            assert!(check_ends(77, buf), "len {len}");
            for (i, b) in buf.iter().enumerate() {
                assert_eq!(*b, byte(77, i), "len {len} byte {i}");
            }
            if len > 0 {
                assert!(!check(78, buf), "other seq, len {len}");
                buf[len - 1] ^= 1;
                assert!(!check(77, buf), "flip at end, len {len}");
                assert!(!check_ends(77, buf), "flip at end, len {len}");
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
    fn neighbouring_sequences_differ_in_every_word() {
        for seq in 0..1000u64 {
            for j in 0..4 {
                assert_ne!(word(seq, j), word(seq + 1, j));
                assert_ne!(word(seq, j + 1), word(seq + 1, j));
            }
        }
    }

    #[test]
    fn lengths_stay_in_range_and_vary() {
        let s = PayloadSizes { min: 16, max: 100 };
        let mut seen_min = false;
        let mut seen_max = false;
        for q in 0..1000 {
            let l = s.len_for(q);
            assert!((16..=100).contains(&l));
            seen_min |= l == 16;
            seen_max |= l == 100;
        }
        assert!(seen_min && seen_max);
        assert_eq!(PayloadSizes::fixed(5).len_for(9), 5);
        assert_eq!(PayloadSizes { min: 9, max: 3 }.len_for(1), 9);
        let wide = PayloadSizes {
            min: 0,
            max: usize::MAX,
        };
        let _ = wide.len_for(u64::MAX);
    }
}
