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

/// A lag read from another thread may be taken from a cursor newer than the head it is
/// compared with; such a (wrapped, enormous) lag is 0.
#[inline(always)]
pub(super) const fn snapshot_lag(lag: usize) -> usize {
    if lag > usize::MAX >> 3 { 0 } else { lag }
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
        assert!(ahead > usize::MAX >> 3);
        assert_eq!(snapshot_lag(ahead), 0);
        assert_eq!(snapshot_lag(6), 6);
    }

    #[test]
    fn distance_is_zero_unless_ahead() {
        assert_eq!(distance(9, 4), 5);
        assert_eq!(distance(4, 9), 0);
        assert_eq!(distance(2, usize::MAX - 1), 4);
        assert_eq!(distance(usize::MAX - 1, 2), 0);
    }

    #[test]
    fn slot_index_wraps_every_n_positions() {
        assert_eq!(slot_index::<8>(13), 5);
        assert_eq!(slot_index::<8>(usize::MAX), 7);
        assert_eq!(slot_index::<1>(12345), 0);
    }
}
