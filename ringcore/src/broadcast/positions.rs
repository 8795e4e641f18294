//! Cursor arithmetic of the broadcast ring (the module's "Cursor invariants"), as pure
//! functions: positions are wrapping `usize` event counts, and a reader's registration
//! word packs its cursor with an active bit. Nothing here touches memory.

/// The registration word's active bit; the cursor is stored above it.
const ACTIVE: usize = 1;

/// The registration word of a reader that holds its registration, at `position`.
#[inline(always)]
pub(super) const fn active_word(position: usize) -> usize {
    (position << 1) | ACTIVE
}

/// The registration word of a reader that left at `position` (a free registration).
#[inline(always)]
pub(super) const fn left_word(position: usize) -> usize {
    position << 1
}

/// Whether a registration word belongs to a reader that holds it.
#[inline(always)]
pub(super) const fn is_active(word: usize) -> bool {
    word & ACTIVE != 0
}

/// The cursor stored in a registration word (one bit shorter than a position).
#[cfg(test)]
#[inline(always)]
pub(super) const fn cursor_of(word: usize) -> usize {
    word >> 1
}

/// The slot of position `position` in a ring of `N` slots (`N` a power of two).
#[inline(always)]
pub(super) const fn slot_index<const N: usize>(position: usize) -> usize {
    position & (N - 1)
}

/// How far the cursor in `word` is behind position `head`, modulo `2^(usize::BITS - 1)`
/// (the word keeps one bit less of the position than a cursor).
#[inline(always)]
pub(super) const fn lag_behind(head: usize, word: usize) -> usize {
    (head << 1).wrapping_sub(word & !ACTIVE) >> 1
}

/// `to - from` if `to` is ahead of `from` (wrapping), else 0.
#[inline(always)]
pub(super) const fn distance(to: usize, from: usize) -> usize {
    let d = to.wrapping_sub(from);
    if (d as isize) < 0 { 0 } else { d }
}

/// How far behind the head (the end of what is published) a lapped overwrite reader
/// resumes: half the ring, rounded up (1 for a ring of 1 or 2 slots).
#[inline(always)]
pub(super) const fn resume_behind<const N: usize>() -> usize {
    N.div_ceil(2)
}

/// Where an overwrite reader that was lapped resumes, given the writer's `claim` (every
/// position before `claim - N` is gone) and a value of `published` loaded after it: half a
/// ring behind `published` ([`resume_behind`]), so that the writer, at full speed, must
/// write another half ring before it laps the reader again, but never before the oldest
/// slot still intact, `claim - N` (which a reserved but unused claim, or a `published`
/// loaded stale, can put ahead of the half-way point). The result is ahead of `published`
/// only when it is `claim - N`, a position the writer has already claimed (as the old
/// rule, "resume at the oldest intact slot", did), and it is always ahead of a lapped
/// reader's position `p` (`claim - p > N`), so its distance from `p` is exactly the loss.
#[inline(always)]
pub(super) const fn lap_resume<const N: usize>(claim: usize, published: usize) -> usize {
    let oldest_intact = claim.wrapping_sub(N);
    let half_behind = published.wrapping_sub(resume_behind::<N>());
    // The check that keeps the resumed position valid: a position before `oldest_intact`
    // is overwritten, or may be a position the reader already passed.
    if distance(half_behind, oldest_intact) > 0 {
        half_behind
    } else {
        oldest_intact
    }
}

/// A lag read from another thread may be taken from a cursor newer than the head it is
/// compared with, which [`lag_behind`] wraps to a value in the upper half of its range
/// (`2^(usize::BITS - 2)` and above); such a lag is 0. Every lag below that is exact: a
/// reader up to `usize::MAX / 4` events behind, the bound of the module's invariants.
#[inline(always)]
pub(super) const fn snapshot_lag(lag: usize) -> usize {
    if lag > usize::MAX >> 2 { 0 } else { lag }
}

/// `usize` words that hold a `u64` sequence: 1 on 64-bit targets, 2 on 32-bit ones.
pub(super) const SEQ_WORDS: usize = 8usize.div_ceil(core::mem::size_of::<usize>());

/// `seq` split into [`SEQ_WORDS`] words, least significant first.
#[inline(always)]
pub(super) const fn seq_to_words(seq: u64) -> [usize; SEQ_WORDS] {
    let mut words = [0; SEQ_WORDS];
    let mut i = 0;
    while i < SEQ_WORDS {
        words[i] = (seq >> (i * usize::BITS as usize)) as usize;
        i += 1;
    }
    words
}

/// The sequence [`seq_to_words`] split.
#[inline(always)]
pub(super) const fn seq_from_words(words: [usize; SEQ_WORDS]) -> u64 {
    let mut seq = 0;
    let mut i = 0;
    while i < SEQ_WORDS {
        seq |= (words[i] as u64) << (i * usize::BITS as usize);
        i += 1;
    }
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_words_keep_cursor_and_active_bit_apart() {
        for position in [0, 1, 7, usize::MAX >> 1, usize::MAX - 3, usize::MAX] {
            let word = active_word(position);
            assert!(is_active(word));
            assert!(!is_active(left_word(position)));
            // The word keeps all but the top bit of the position.
            assert_eq!(cursor_of(word), position & (usize::MAX >> 1));
            assert_eq!(cursor_of(left_word(position)), cursor_of(word));
        }
    }

    #[test]
    fn lag_wraps_with_the_positions() {
        assert_eq!(lag_behind(10, active_word(4)), 6);
        assert_eq!(lag_behind(10, left_word(10)), 0);
        // The head wrapped past usize::MAX while the cursor did not.
        assert_eq!(lag_behind(3, active_word(usize::MAX - 2)), 6);
        // A cursor newer than the head is a (wrapped) huge lag, which a snapshot zeroes.
        let ahead = lag_behind(5, active_word(6));
        assert!(ahead > usize::MAX >> 2);
        assert_eq!(snapshot_lag(ahead), 0);
        assert_eq!(snapshot_lag(6), 6);
        // Every lag up to a quarter of the position space is exact (finding 5: lags above
        // `usize::MAX >> 3`, 2^29 on 32-bit targets, read 0).
        for lag in [usize::MAX >> 3, (usize::MAX >> 3) + 1, usize::MAX >> 2] {
            assert_eq!(
                snapshot_lag(lag_behind(lag.wrapping_add(9), active_word(9))),
                lag
            );
        }
    }

    #[test]
    fn sequences_survive_the_split_into_words() {
        for seq in [0, 1, u32::MAX as u64, (1 << 32) + 5, u64::MAX - 1, u64::MAX] {
            assert_eq!(seq_from_words(seq_to_words(seq)), seq);
        }
        assert_eq!(SEQ_WORDS * core::mem::size_of::<usize>(), 8);
    }

    #[test]
    fn distance_is_zero_unless_ahead() {
        assert_eq!(distance(9, 4), 5);
        assert_eq!(distance(4, 9), 0);
        assert_eq!(distance(2, usize::MAX - 1), 4);
        assert_eq!(distance(usize::MAX - 1, 2), 0);
    }

    #[test]
    fn lapped_reader_resumes_half_a_ring_behind_the_head() {
        assert_eq!(resume_behind::<1>(), 1);
        assert_eq!(resume_behind::<2>(), 1);
        assert_eq!(resume_behind::<1024>(), 512);
        // Writer at full speed: claim one ahead of published, or equal.
        assert_eq!(lap_resume::<1024>(10_001, 10_000), 10_000 - 512);
        assert_eq!(lap_resume::<1024>(10_000, 10_000), 10_000 - 512);
        // A ring of one slot: the only intact event, as before.
        assert_eq!(lap_resume::<1>(7, 7), 6);
        // A claim reserved far ahead of `published` (or a stale `published`): the oldest
        // intact slot, not half a ring behind a head that slot is already past.
        assert_eq!(lap_resume::<8>(20, 13), 12);
        assert_eq!(lap_resume::<8>(20, 3), 12);
        assert_eq!(lap_resume::<8>(20, 17), 13);
        // `published` loaded after a newer publication than `claim` says.
        assert_eq!(lap_resume::<8>(20, 22), 18);
        // Across the wrap of the position counter.
        assert_eq!(lap_resume::<8>(2, 2), usize::MAX - 1);
        assert_eq!(lap_resume::<8>(2, usize::MAX - 2), usize::MAX - 5);
        for (claim, published) in [(5usize, 4usize), (1, 0), (usize::MAX, usize::MAX - 9)] {
            let resume = lap_resume::<16>(claim, published);
            // Never before the oldest intact position, never past the head.
            assert!(claim.wrapping_sub(resume) <= 16);
            assert_eq!(distance(resume, published), 0);
        }
    }

    #[test]
    fn slot_index_wraps_every_n_positions() {
        assert_eq!(slot_index::<8>(13), 5);
        assert_eq!(slot_index::<8>(usize::MAX), 7);
        assert_eq!(slot_index::<1>(12345), 0);
    }
}
