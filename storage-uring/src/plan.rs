//! The pure part of the backend: how a write group becomes submission-queue entries,
//! and what their completions mean. No system calls and no `unsafe` here, so all of it
//! runs under Miri.
//!
//! A group (`bufs` written back to back at `offset`, then a sync) is run in *rounds*.
//! A round covers the bytes not yet known to be written ([`GroupRun::pending`]), split
//! into write operations of at most `max_iovecs` slices and `max_op_bytes` bytes each
//! ([`split_ops`]); the operations and the sync are cut into *chains* of at most
//! `sq_entries` entries ([`chains`]), each chain linked with `IO_LINK` and submitted in
//! one `io_uring_enter`, so a link is never split across a submit boundary. The next
//! chain is only submitted once every completion of the previous one was reaped, so at
//! most `sq_entries` operations are ever in flight and the completion queue (at least as
//! large) cannot overflow.
//!
//! Completions are classified by [`classify_write`] and [`classify_sync`]: a short
//! write leaves its remainder pending, `-EAGAIN`, `-EINTR` and `-ECANCELED` (a link
//! broken by an earlier short write) leave the whole operation pending, anything else
//! is a hard error that ends the group. The sync counts only when it completed in a
//! round whose writes all completed in full and whose chains were each submitted whole
//! ([`GroupRun::end_round`]): then it was issued after every byte of the group was
//! written. Otherwise another round runs with what is left and a fresh sync.

use std::ops::Range;

/// `EINTR` (Linux).
pub const EINTR: i32 = 4;
/// `EAGAIN` (Linux).
pub const EAGAIN: i32 = 11;
/// `ECANCELED` (Linux).
pub const ECANCELED: i32 = 125;

/// A range of a group's bytes, counted from the group's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Span {
    /// Bytes in the span.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// What one submission may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries in one chain (at most the submission queue's size).
    pub sq_entries: usize,
    /// Slices in one `writev` (the kernel's `IOV_MAX` is 1024).
    pub max_iovecs: usize,
    /// Bytes in one write operation (the kernel caps a write at 2 GiB - 4 KiB).
    pub max_op_bytes: u64,
}

impl Limits {
    /// Limits for a queue of `sq_entries` entries.
    pub fn new(sq_entries: usize) -> Self {
        Self {
            sq_entries: sq_entries.max(2),
            max_iovecs: 1024,
            max_op_bytes: 1 << 30,
        }
    }
}

/// Where each buffer of a group starts, for finding the slices of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    starts: Vec<u64>,
    total: u64,
}

impl Layout {
    /// The layout of buffers of these lengths written back to back.
    pub fn new(lens: impl IntoIterator<Item = usize>) -> Self {
        let mut starts = Vec::new();
        let mut total = 0u64;
        for l in lens {
            starts.push(total);
            total += l as u64;
        }
        Self { starts, total }
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn buf_end(&self, i: usize) -> u64 {
        self.starts.get(i + 1).copied().unwrap_or(self.total)
    }

    /// Index of the buffer holding byte `pos` (`pos < total`), skipping empty buffers.
    fn buf_at(&self, pos: u64) -> usize {
        // The last buffer whose start is <= pos; empty buffers share their start with
        // the next one, and partition_point finds the last of them.
        self.starts.partition_point(|&s| s <= pos) - 1
    }

    /// The pieces of `span`: (buffer index, byte range inside that buffer), in order,
    /// never empty.
    pub fn pieces(&self, span: Span) -> Vec<(usize, Range<usize>)> {
        let mut out = Vec::new();
        let mut pos = span.start;
        while pos < span.end.min(self.total) {
            let i = self.buf_at(pos);
            let end = self.buf_end(i).min(span.end);
            let s = self.starts[i];
            out.push((i, (pos - s) as usize..(end - s) as usize));
            pos = end;
        }
        out
    }
}

/// Splits `pending` spans into write operations of at most `max_iovecs` pieces and
/// `max_op_bytes` bytes each. `align` (a power of two) keeps every cut inside a span at
/// a multiple of `align`, for O_DIRECT; `max_op_bytes` must then be a multiple of it.
pub fn split_ops(layout: &Layout, pending: &[Span], limits: &Limits, align: u64) -> Vec<Span> {
    let mut out = Vec::new();
    let max_bytes = (limits.max_op_bytes / align).max(1) * align;
    for span in pending.iter().filter(|s| !s.is_empty()) {
        let mut start = span.start;
        while start < span.end {
            // Cut at the byte limit first, then where the slice count runs out.
            let mut end = span.end.min(start + max_bytes);
            let pieces = layout.pieces(Span { start, end });
            if pieces.len() > limits.max_iovecs.max(1) {
                let (i, r) = &pieces[limits.max_iovecs.max(1)];
                let cut = layout.starts[*i] + r.start as u64;
                let aligned = cut / align * align;
                end = if aligned > start { aligned } else { cut };
            }
            out.push(Span { start, end });
            start = end;
        }
    }
    out
}

/// One submission: a range of a round's write operations and whether the group's sync
/// ends it. Every entry but the last carries `IO_LINK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Write operations (indexes into the round's operations).
    pub ops: Range<usize>,
    /// Whether the sync is the chain's last entry.
    pub sync: bool,
}

impl Chain {
    /// Entries in the chain.
    pub fn entries(&self) -> usize {
        self.ops.len() + usize::from(self.sync)
    }
}

/// Cuts `n_ops` operations (and the sync, if `sync`) into chains of at most
/// `sq_entries` entries; the sync is last and linked to the writes before it in its
/// chain (earlier chains completed before it was submitted).
pub fn chains(n_ops: usize, sync: bool, sq_entries: usize) -> Vec<Chain> {
    let cap = sq_entries.max(2);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n_ops {
        let end = (start + cap).min(n_ops);
        out.push(Chain {
            ops: start..end,
            sync: false,
        });
        start = end;
    }
    if sync {
        match out.last_mut() {
            Some(last) if last.entries() < cap => last.sync = true,
            Some(last) => {
                // Full: the last write moves to a chain of its own with the sync.
                let moved = last.ops.end - 1;
                last.ops.end = moved;
                out.push(Chain {
                    ops: moved..n_ops,
                    sync: true,
                });
            }
            None => out.push(Chain {
                ops: 0..0,
                sync: true,
            }),
        }
    }
    out
}

/// What a write completion means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    /// All bytes written.
    Done,
    /// Only this many bytes (more than zero, fewer than asked) were written.
    Short(u64),
    /// Nothing was written and the operation may be submitted again (`-EAGAIN`,
    /// `-EINTR`, or `-ECANCELED` because an earlier entry of its chain fell short).
    Retry,
    /// A zero-byte write for a non-empty request: the file cannot grow.
    Zero,
    /// A hard error (the positive errno).
    Failed(i32),
}

/// Classifies the result `res` of a write of `len` bytes.
pub fn classify_write(res: i32, len: u64) -> WriteResult {
    match res {
        r if r < 0 => match -r {
            EAGAIN | EINTR | ECANCELED => WriteResult::Retry,
            e => WriteResult::Failed(e),
        },
        0 if len > 0 => WriteResult::Zero,
        r if (r as u64) >= len => WriteResult::Done,
        r => WriteResult::Short(r as u64),
    }
}

/// What a sync completion means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncResult {
    /// The sync succeeded.
    Done,
    /// The sync did not run (`-EAGAIN`, `-EINTR`, `-ECANCELED`): issue it again.
    Retry,
    /// The sync failed (the positive errno); it is never retried.
    Failed(i32),
}

/// Classifies the result of a sync.
pub fn classify_sync(res: i32) -> SyncResult {
    match res {
        0.. => SyncResult::Done,
        r => match -r {
            EAGAIN | EINTR | ECANCELED => SyncResult::Retry,
            e => SyncResult::Failed(e),
        },
    }
}

/// Why a group failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A write failed with this errno.
    Write(i32),
    /// The sync failed with this errno.
    Sync(i32),
    /// A write wrote zero bytes.
    WriteZero,
    /// Rounds kept ending without progress (`-EAGAIN` forever).
    NoProgress,
}

/// Rounds in a row without any progress before a group gives up.
pub const MAX_IDLE_ROUNDS: u32 = 1000;

/// The bookkeeping of one group: what is still to be written, whether the sync counted,
/// and the first hard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRun {
    total: u64,
    pending: Vec<Span>,
    want_sync: bool,
    synced: bool,
    failure: Option<Failure>,
    align: u64,
    idle_rounds: u32,
    // State of the current round.
    round_ops: Vec<Span>,
    round_left: Vec<Span>,
    round_clean: bool,
    round_sync_ok: bool,
    round_progress: u64,
}

impl GroupRun {
    /// A group of `total` bytes, with a sync if `sync`; remainders of short writes are
    /// resubmitted from a multiple of `align` (1, or the O_DIRECT block size).
    pub fn new(total: u64, sync: bool, align: u64) -> Self {
        Self {
            total,
            pending: if total > 0 {
                vec![Span {
                    start: 0,
                    end: total,
                }]
            } else {
                Vec::new()
            },
            want_sync: sync,
            synced: false,
            failure: None,
            align: align.max(1),
            idle_rounds: 0,
            round_ops: Vec::new(),
            round_left: Vec::new(),
            round_clean: true,
            round_sync_ok: false,
            round_progress: 0,
        }
    }

    /// Bytes not yet known to be written.
    pub fn pending(&self) -> &[Span] {
        &self.pending
    }

    /// Whether nothing is left to do (all written and synced as asked, or failed).
    pub fn finished(&self) -> bool {
        self.failure.is_some() || (self.pending.is_empty() && (!self.want_sync || self.synced))
    }

    /// The first hard error.
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// Whether the requested sync completed after every byte was written.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Total bytes of the group.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Starts a round: the write operations to submit (indexes are the `op` numbers of
    /// [`GroupRun::record_write`]) and the chains to submit them in. `None` when the
    /// group is finished.
    pub fn start_round(&mut self, layout: &Layout, limits: &Limits) -> Option<Vec<Chain>> {
        if self.finished() {
            return None;
        }
        self.round_ops = split_ops(layout, &self.pending, limits, self.align);
        self.round_left.clear();
        self.round_clean = true;
        self.round_sync_ok = false;
        self.round_progress = 0;
        Some(chains(
            self.round_ops.len(),
            self.want_sync,
            limits.sq_entries,
        ))
    }

    /// The write operations of the current round.
    pub fn ops(&self) -> &[Span] {
        &self.round_ops
    }

    /// Records the completion of write operation `op` of the current round.
    pub fn record_write(&mut self, op: usize, res: i32) {
        let span = self.round_ops[op];
        match classify_write(res, span.len()) {
            WriteResult::Done => self.round_progress += span.len(),
            WriteResult::Short(n) => {
                self.round_clean = false;
                // Progress is what the next round need not write again: under
                // O_DIRECT a short write of less than a block makes none.
                let resume = ((span.start + n) / self.align * self.align).max(span.start);
                self.round_progress += resume - span.start;
                self.round_left.push(Span {
                    start: resume,
                    end: span.end,
                });
            }
            WriteResult::Retry => {
                self.round_clean = false;
                self.round_left.push(span);
            }
            WriteResult::Zero => {
                self.round_clean = false;
                self.fail(Failure::WriteZero);
            }
            WriteResult::Failed(e) => {
                self.round_clean = false;
                self.fail(Failure::Write(e));
            }
        }
    }

    /// Records the completion of the current round's sync.
    pub fn record_sync(&mut self, res: i32) {
        match classify_sync(res) {
            SyncResult::Done => self.round_sync_ok = true,
            SyncResult::Retry => {}
            SyncResult::Failed(e) => self.fail(Failure::Sync(e)),
        }
    }

    /// Records that a chain of the current round was not submitted in one piece (the
    /// kernel took fewer entries than offered): its sync may have run before its writes.
    pub fn record_split_submit(&mut self) {
        self.round_clean = false;
    }

    /// Records that chains `from..` of the current round were never submitted (a hard
    /// error stopped the round first).
    pub fn record_unsubmitted(&mut self, chains: &[Chain]) {
        for c in chains {
            self.round_left
                .extend_from_slice(&self.round_ops[c.ops.clone()]);
        }
        self.round_clean = false;
    }

    fn fail(&mut self, f: Failure) {
        if self.failure.is_none() {
            self.failure = Some(f);
        }
    }

    /// Ends the round once every submitted entry completed.
    pub fn end_round(&mut self) {
        let mut left = std::mem::take(&mut self.round_left);
        left.sort_by_key(|s| s.start);
        self.pending = left;
        if self.want_sync && self.round_sync_ok && self.round_clean && self.pending.is_empty() {
            self.synced = true;
        }
        if self.round_progress == 0 && !self.finished() {
            self.idle_rounds += 1;
            if self.idle_rounds >= MAX_IDLE_ROUNDS {
                self.fail(Failure::NoProgress);
            }
        } else {
            self.idle_rounds = 0;
        }
    }
}

/// The O_DIRECT view of a group: whole blocks from `file_start`, made of `head` bytes
/// already in the file before the group, the group's `len` bytes, and `tail` bytes that
/// follow it up to the end of its last block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staged {
    /// File offset of the first block.
    pub file_start: u64,
    /// Bytes before the group in its first block.
    pub head: u64,
    /// Bytes of the group.
    pub len: u64,
    /// Bytes after the group in its last block.
    pub tail: u64,
}

impl Staged {
    /// The blocks covering `len` bytes at `offset` (`block` a power of two; 1 for
    /// buffered writes, which need no padding).
    pub fn new(offset: u64, len: u64, block: u64) -> Self {
        let file_start = offset / block * block;
        let end = offset + len;
        let file_end = end.div_ceil(block) * block;
        Self {
            file_start,
            head: offset - file_start,
            len,
            tail: file_end - end,
        }
    }

    /// Bytes written in all.
    pub fn stream_len(&self) -> u64 {
        self.head + self.len + self.tail
    }

    /// File offset just past the group's bytes.
    pub fn group_end(&self) -> u64 {
        self.file_start + self.head + self.len
    }

    /// File offset of the last block (meaningful when `stream_len() > 0`).
    pub fn last_block(&self, block: u64) -> u64 {
        self.file_start + self.stream_len() - block
    }
}

/// Copies the stream bytes `[from, from + dst.len())` of `st` into `dst`: the head from
/// `head` (`st.head` bytes), the group from `bufs`, the tail from `tail` (`st.tail`
/// bytes).
pub fn fill_stage(
    dst: &mut [u8],
    from: u64,
    st: &Staged,
    head: &[u8],
    bufs: &[&[u8]],
    tail: &[u8],
) {
    let mut pos = from;
    let mut out = 0usize;
    let end = from + dst.len() as u64;
    // Head.
    while pos < end && pos < st.head {
        let n = ((st.head - pos).min(end - pos)) as usize;
        dst[out..out + n].copy_from_slice(&head[pos as usize..pos as usize + n]);
        pos += n as u64;
        out += n;
    }
    // Group.
    let group_end = st.head + st.len;
    if pos < end && pos < group_end {
        let mut skip = pos - st.head;
        for b in bufs {
            if pos >= end || pos >= group_end {
                break;
            }
            let l = b.len() as u64;
            if skip >= l {
                skip -= l;
                continue;
            }
            let n = (l - skip).min(end - pos) as usize;
            dst[out..out + n].copy_from_slice(&b[skip as usize..skip as usize + n]);
            skip = 0;
            pos += n as u64;
            out += n;
        }
    }
    // Tail.
    if pos < end {
        let t = (pos - group_end) as usize;
        let n = dst.len() - out;
        dst[out..].copy_from_slice(&tail[t..t + n]);
    }
}

/// The chunks of a staged stream of `len` bytes through a staging buffer of `cap`
/// bytes (a multiple of the block size).
pub fn stage_chunks(len: u64, cap: u64) -> Vec<Span> {
    let cap = cap.max(1);
    let mut out = Vec::new();
    let mut s = 0;
    while s < len {
        let e = (s + cap).min(len);
        out.push(Span { start: s, end: e });
        s = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(start: u64, end: u64) -> Span {
        Span { start, end }
    }

    #[test]
    fn pieces_skip_empty_buffers_and_cut_inside_buffers() {
        let l = Layout::new([3, 0, 5, 0, 0, 2]);
        assert_eq!(l.total(), 10);
        assert_eq!(l.pieces(sp(0, 10)), vec![(0, 0..3), (2, 0..5), (5, 0..2)]);
        assert_eq!(l.pieces(sp(2, 9)), vec![(0, 2..3), (2, 0..5), (5, 0..1)]);
        assert_eq!(l.pieces(sp(3, 3)), vec![]);
        assert_eq!(l.pieces(sp(4, 6)), vec![(2, 1..3)]);
        assert_eq!(Layout::new([]).pieces(sp(0, 0)), vec![]);
    }

    #[test]
    fn ops_respect_iovec_and_byte_limits() {
        let lens = [10usize; 10];
        let l = Layout::new(lens.iter().copied());
        let lim = Limits {
            sq_entries: 8,
            max_iovecs: 3,
            max_op_bytes: 1 << 20,
        };
        let ops = split_ops(&l, &[sp(0, 100)], &lim, 1);
        assert_eq!(ops, vec![sp(0, 30), sp(30, 60), sp(60, 90), sp(90, 100)]);
        for o in &ops {
            assert!(l.pieces(*o).len() <= 3);
        }
        let lim = Limits {
            max_op_bytes: 25,
            ..lim
        };
        let ops = split_ops(&l, &[sp(5, 100)], &lim, 1);
        assert_eq!(ops[0], sp(5, 30));
        assert_eq!(ops.iter().map(Span::len).sum::<u64>(), 95);
        assert!(ops.iter().all(|o| o.len() <= 25 && l.pieces(*o).len() <= 3));
        // Aligned cuts: every op but the last of a span is a multiple of the alignment.
        let one = Layout::new([100_000]);
        let lim = Limits {
            sq_entries: 4,
            max_iovecs: 1,
            max_op_bytes: 10_000,
        };
        let ops = split_ops(&one, &[sp(4096, 100_000)], &lim, 4096);
        assert!(ops.iter().all(|o| o.start % 4096 == 0));
        assert_eq!(ops[0], sp(4096, 4096 + 8192));
        assert_eq!(ops.last().unwrap().end, 100_000);
    }

    #[test]
    fn chains_fit_the_queue_and_end_with_the_sync() {
        assert_eq!(chains(0, false, 8), vec![]);
        assert_eq!(
            chains(0, true, 8),
            vec![Chain {
                ops: 0..0,
                sync: true
            }]
        );
        assert_eq!(
            chains(1, true, 8),
            vec![Chain {
                ops: 0..1,
                sync: true
            }]
        );
        assert_eq!(
            chains(8, true, 8),
            vec![
                Chain {
                    ops: 0..7,
                    sync: false
                },
                Chain {
                    ops: 7..8,
                    sync: true
                }
            ]
        );
        for n in 0..40 {
            for q in 2..10 {
                for sync in [false, true] {
                    let c = chains(n, sync, q);
                    assert!(c.iter().all(|c| c.entries() <= q && c.entries() > 0));
                    let ops: Vec<usize> = c.iter().flat_map(|c| c.ops.clone()).collect();
                    assert_eq!(ops, (0..n).collect::<Vec<_>>());
                    assert_eq!(c.iter().filter(|c| c.sync).count(), usize::from(sync));
                    if sync {
                        assert!(c.last().unwrap().sync);
                    }
                }
            }
        }
    }

    #[test]
    fn completion_results_are_classified() {
        assert_eq!(classify_write(10, 10), WriteResult::Done);
        assert_eq!(classify_write(4, 10), WriteResult::Short(4));
        assert_eq!(classify_write(0, 10), WriteResult::Zero);
        assert_eq!(classify_write(0, 0), WriteResult::Done);
        assert_eq!(classify_write(-EAGAIN, 10), WriteResult::Retry);
        assert_eq!(classify_write(-EINTR, 10), WriteResult::Retry);
        assert_eq!(classify_write(-ECANCELED, 10), WriteResult::Retry);
        assert_eq!(classify_write(-5, 10), WriteResult::Failed(5));
        assert_eq!(classify_write(-28, 10), WriteResult::Failed(28));
        assert_eq!(classify_sync(0), SyncResult::Done);
        assert_eq!(classify_sync(-EINTR), SyncResult::Retry);
        assert_eq!(classify_sync(-5), SyncResult::Failed(5));
    }

    /// Drives a group through rounds with scripted completions.
    fn drive(
        total: u64,
        sync: bool,
        mut script: impl FnMut(usize, Option<Span>) -> i32,
    ) -> GroupRun {
        let layout = Layout::new([total as usize]);
        let lim = Limits {
            sq_entries: 4,
            max_iovecs: 1,
            max_op_bytes: 10,
        };
        let mut g = GroupRun::new(total, sync, 1);
        let mut rounds = 0;
        while let Some(chains) = g.start_round(&layout, &lim) {
            rounds += 1;
            assert!(rounds < 100, "runs away");
            for c in &chains {
                for op in c.ops.clone() {
                    let span = g.ops()[op];
                    let r = script(rounds, Some(span));
                    g.record_write(op, r);
                }
                if c.sync {
                    let r = script(rounds, None);
                    g.record_sync(r);
                }
            }
            g.end_round();
        }
        g
    }

    #[test]
    fn a_clean_group_takes_one_round() {
        let mut rounds = 0;
        let g = drive(35, true, |r, s| {
            rounds = r;
            s.map_or(0, |s| s.len() as i32)
        });
        assert!(g.synced());
        assert_eq!(g.failure(), None);
        assert_eq!(
            rounds, 1,
            "4 ops + sync: two chains of at most 4, one round"
        );
    }

    #[test]
    fn short_writes_resubmit_the_remainder_and_the_sync_is_reissued() {
        let mut written = [0u32; 35];
        let mut syncs = Vec::new();
        let g = drive(35, true, |round, s| match s {
            Some(s) => {
                let n = if round == 1 && s.start == 10 {
                    3
                } else {
                    s.len()
                };
                for b in s.start..s.start + n {
                    written[b as usize] += 1;
                }
                n as i32
            }
            None => {
                syncs.push(round);
                0
            }
        });
        assert!(g.synced());
        assert!(written.iter().all(|&c| c >= 1));
        assert_eq!(
            written[13..20],
            [1; 7],
            "the remainder was written once more"
        );
        assert_eq!(syncs, vec![1, 2], "the first sync did not count");
    }

    #[test]
    fn eagain_eintr_and_cancelled_links_are_retried() {
        let mut n = 0;
        let g = drive(20, true, |_, s| {
            n += 1;
            match (n, s) {
                (1, Some(_)) => -EAGAIN,
                (2, Some(_)) => -ECANCELED,
                (3, None) => -ECANCELED,
                (4, Some(_)) => -EINTR,
                (_, Some(s)) => s.len() as i32,
                (_, None) => 0,
            }
        });
        assert!(g.synced());
        assert_eq!(g.failure(), None);
    }

    #[test]
    fn hard_errors_end_the_group_and_a_failed_sync_is_never_retried() {
        let g = drive(20, true, |_, s| match s {
            Some(s) if s.start == 10 => -28,
            Some(s) => s.len() as i32,
            None => -ECANCELED,
        });
        assert_eq!(g.failure(), Some(Failure::Write(28)));
        assert!(!g.synced());
        let mut syncs = 0;
        let g = drive(20, true, |_, s| match s {
            Some(s) => s.len() as i32,
            None => {
                syncs += 1;
                -5
            }
        });
        assert_eq!(g.failure(), Some(Failure::Sync(5)));
        assert!(!g.synced());
        assert_eq!(syncs, 1);
        let g = drive(20, false, |_, _| 0);
        assert_eq!(g.failure(), Some(Failure::WriteZero));
    }

    #[test]
    fn endless_eagain_gives_up() {
        let layout = Layout::new([5]);
        let lim = Limits::new(8);
        let mut g = GroupRun::new(5, true, 1);
        let mut rounds = 0;
        while let Some(chains) = g.start_round(&layout, &lim) {
            rounds += 1;
            for c in &chains {
                for op in c.ops.clone() {
                    g.record_write(op, -EAGAIN);
                }
                if c.sync {
                    g.record_sync(-ECANCELED);
                }
            }
            g.end_round();
        }
        assert_eq!(g.failure(), Some(Failure::NoProgress));
        assert_eq!(rounds, MAX_IDLE_ROUNDS);
    }

    #[test]
    fn a_split_submission_does_not_count_its_sync() {
        let layout = Layout::new([10]);
        let lim = Limits::new(8);
        let mut g = GroupRun::new(10, true, 1);
        let c = g.start_round(&layout, &lim).unwrap();
        assert_eq!(c.len(), 1);
        g.record_split_submit();
        g.record_write(0, 10);
        g.record_sync(0);
        g.end_round();
        assert!(!g.synced());
        assert!(g.pending().is_empty());
        let c = g.start_round(&layout, &lim).unwrap();
        assert_eq!(
            c,
            vec![Chain {
                ops: 0..0,
                sync: true
            }]
        );
        g.record_sync(0);
        g.end_round();
        assert!(g.synced());
        assert!(g.start_round(&layout, &lim).is_none());
    }

    #[test]
    fn short_direct_writes_resume_at_a_block() {
        let layout = Layout::new([16384]);
        let lim = Limits::new(8);
        let mut g = GroupRun::new(16384, false, 4096);
        g.start_round(&layout, &lim).unwrap();
        g.record_write(0, 5000);
        g.end_round();
        assert_eq!(g.pending(), &[sp(4096, 16384)]);
        // Short writes of less than a block forever: no progress, the group gives up.
        let mut rounds = 0;
        while g.start_round(&layout, &lim).is_some() {
            rounds += 1;
            g.record_write(0, 100);
            g.end_round();
        }
        assert_eq!(g.failure(), Some(Failure::NoProgress));
        assert_eq!(rounds, MAX_IDLE_ROUNDS);
    }

    #[test]
    fn staging_pads_to_blocks_and_copies_every_part() {
        let st = Staged::new(5000, 100, 4096);
        assert_eq!(st.file_start, 4096);
        assert_eq!(st.head, 904);
        assert_eq!(st.tail, 4096 - 904 - 100);
        assert_eq!(st.stream_len(), 4096);
        assert_eq!(st.group_end(), 5100);
        assert_eq!(Staged::new(8192, 8192, 4096).stream_len(), 8192);
        assert_eq!(Staged::new(7, 3, 1).stream_len(), 3);

        let head = vec![1u8; 904];
        let a = vec![2u8; 60];
        let b = vec![3u8; 40];
        let tail = vec![4u8; st.tail as usize];
        let mut whole = vec![0u8; 4096];
        fill_stage(&mut whole, 0, &st, &head, &[&a, &[], &b], &tail);
        assert!(whole[..904].iter().all(|&x| x == 1));
        assert!(whole[904..964].iter().all(|&x| x == 2));
        assert!(whole[964..1004].iter().all(|&x| x == 3));
        assert!(whole[1004..].iter().all(|&x| x == 4));
        // Any chunking gives the same bytes.
        for cap in [1u64, 7, 512, 1000, 4096] {
            let mut joined = Vec::new();
            for c in stage_chunks(st.stream_len(), cap) {
                let mut part = vec![0u8; c.len() as usize];
                fill_stage(&mut part, c.start, &st, &head, &[&a, &[], &b], &tail);
                joined.extend_from_slice(&part);
            }
            assert_eq!(joined, whole, "cap {cap}");
        }
    }
}
