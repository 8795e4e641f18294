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
//!
//! # O_DIRECT without rewriting written bytes
//!
//! An O_DIRECT write must cover whole blocks from an aligned buffer. A group rarely
//! starts or ends on a block boundary, and padding it to whole blocks would rewrite the
//! bytes before it in its first block (records an earlier sync made durable: a power
//! cut during that rewrite can tear them) and write past its end (so the file grows
//! beyond the data and sealing must truncate it back). Instead [`direct_regions`] splits
//! the group into at most three [`Region`]s: the partial first block and the partial
//! last block go through the page cache (a buffered write of exactly those bytes), the
//! whole blocks between them go O_DIRECT. All of them are operations of the same chain,
//! linked before its sync, so a group is still one submission; no byte outside the group
//! is ever written, and no block is ever read back.

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

/// A part of a group's stream and how its bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The bytes, counted from the stream's first byte.
    pub span: Span,
    /// O_DIRECT (whole, aligned blocks; short writes resume at a block) or through the
    /// page cache (any offset and length).
    pub direct: bool,
}

/// The regions of the group bytes `[start, end)` of a stream whose first byte lies at
/// a file offset that is a multiple of `block`: whole blocks O_DIRECT, the partial
/// first and last blocks buffered (see the module docs). With `direct` false, one
/// buffered region.
///
/// ```
/// use storage_uring::plan::{Region, Span, direct_regions};
/// let r = direct_regions(100, 10_000, 4096, true);
/// assert_eq!(r, vec![
///     Region { span: Span { start: 100, end: 4096 }, direct: false },
///     Region { span: Span { start: 4096, end: 8192 }, direct: true },
///     Region { span: Span { start: 8192, end: 10_000 }, direct: false },
/// ]);
/// ```
pub fn direct_regions(start: u64, end: u64, block: u64, direct: bool) -> Vec<Region> {
    if start >= end {
        return Vec::new();
    }
    if !direct || block <= 1 {
        return vec![Region {
            span: Span { start, end },
            direct: false,
        }];
    }
    let first_whole = start.div_ceil(block) * block;
    let last_whole = end / block * block;
    if first_whole >= last_whole {
        // No whole block: one buffered write.
        return vec![Region {
            span: Span { start, end },
            direct: false,
        }];
    }
    let mut out = Vec::with_capacity(3);
    if start < first_whole {
        out.push(Region {
            span: Span {
                start,
                end: first_whole,
            },
            direct: false,
        });
    }
    out.push(Region {
        span: Span {
            start: first_whole,
            end: last_whole,
        },
        direct: true,
    });
    if last_whole < end {
        out.push(Region {
            span: Span {
                start: last_whole,
                end,
            },
            direct: false,
        });
    }
    out
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
    /// The regions of the stream: (span, alignment of cuts and resumes, O_DIRECT).
    regions: Vec<(Span, u64, bool)>,
    want_sync: bool,
    synced: bool,
    failure: Option<Failure>,
    idle_rounds: u32,
    // State of the current round.
    round_ops: Vec<Span>,
    round_direct: Vec<bool>,
    round_left: Vec<Span>,
    round_clean: bool,
    round_sync_ok: bool,
    round_progress: u64,
}

impl GroupRun {
    /// A group of `total` bytes, with a sync if `sync`, in one region: O_DIRECT when
    /// `align` (a power of two) is above 1, and then remainders of short writes are
    /// resubmitted from a multiple of `align`.
    pub fn new(total: u64, sync: bool, align: u64) -> Self {
        let align = align.max(1);
        Self::from_parts(
            vec![(
                Span {
                    start: 0,
                    end: total,
                },
                align,
                align > 1,
            )],
            sync,
        )
    }

    /// A group made of `regions` (see [`direct_regions`]); O_DIRECT regions are cut and
    /// resumed at multiples of `block`.
    pub fn with_regions(regions: &[Region], sync: bool, block: u64) -> Self {
        let parts = regions
            .iter()
            .map(|r| (r.span, if r.direct { block.max(1) } else { 1 }, r.direct))
            .collect();
        Self::from_parts(parts, sync)
    }

    fn from_parts(mut regions: Vec<(Span, u64, bool)>, sync: bool) -> Self {
        regions.retain(|(s, _, _)| !s.is_empty());
        regions.sort_by_key(|(s, _, _)| s.start);
        Self {
            total: regions.iter().map(|(s, _, _)| s.len()).sum(),
            pending: regions.iter().map(|(s, _, _)| *s).collect(),
            regions,
            want_sync: sync,
            synced: false,
            failure: None,
            idle_rounds: 0,
            round_ops: Vec::new(),
            round_direct: Vec::new(),
            round_left: Vec::new(),
            round_clean: true,
            round_sync_ok: false,
            round_progress: 0,
        }
    }

    /// The alignment of the region that holds byte `pos`.
    fn align_at(&self, pos: u64) -> u64 {
        self.regions
            .iter()
            .find(|(s, _, _)| s.start <= pos && pos < s.end)
            .map_or(1, |r| r.1)
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
        self.round_ops.clear();
        self.round_direct.clear();
        for &(region, align, direct) in &self.regions {
            let pieces: Vec<Span> = self
                .pending
                .iter()
                .map(|p| Span {
                    start: p.start.max(region.start),
                    end: p.end.min(region.end),
                })
                .filter(|p| !p.is_empty())
                .collect();
            let ops = split_ops(layout, &pieces, limits, align);
            self.round_direct.extend(ops.iter().map(|_| direct));
            self.round_ops.extend(ops);
        }
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

    /// Whether write operation `op` of the current round is an O_DIRECT write.
    pub fn op_direct(&self, op: usize) -> bool {
        self.round_direct.get(op).copied().unwrap_or(false)
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
                let align = self.align_at(span.start);
                let resume = ((span.start + n) / align * align).max(span.start);
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

/// Copies the group bytes `[from, from + dst.len())` (counted from the group's first
/// byte, `bufs` written back to back) into `dst`; bytes past the group are left as
/// they are.
pub fn fill_group(dst: &mut [u8], from: u64, bufs: &[&[u8]]) {
    let mut skip = from;
    let mut out = 0usize;
    for b in bufs {
        if out >= dst.len() {
            break;
        }
        let l = b.len() as u64;
        if skip >= l {
            skip -= l;
            continue;
        }
        let n = ((l - skip) as usize).min(dst.len() - out);
        dst[out..out + n].copy_from_slice(&b[skip as usize..skip as usize + n]);
        skip = 0;
        out += n;
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
    fn direct_regions_never_cover_a_byte_outside_the_group() {
        for (start, end) in [
            (0u64, 4096u64),
            (0, 100),
            (100, 200),
            (100, 4096),
            (4000, 4200),
            (4095, 12_289),
            (8192, 8192 * 3),
            (5, 4096 * 5 + 7),
        ] {
            let r = direct_regions(start, end, 4096, true);
            // Contiguous, exactly [start, end).
            assert_eq!(r.first().unwrap().span.start, start);
            assert_eq!(r.last().unwrap().span.end, end);
            assert!(r.windows(2).all(|w| w[0].span.end == w[1].span.start));
            for x in &r {
                if x.direct {
                    assert_eq!(x.span.start % 4096, 0, "{start}..{end}: {r:?}");
                    assert_eq!(x.span.end % 4096, 0, "{start}..{end}: {r:?}");
                } else {
                    // A buffered part never holds a whole aligned block of the group.
                    let whole = x.span.start.div_ceil(4096) * 4096 + 4096 <= x.span.end;
                    assert!(!whole, "{start}..{end}: {r:?}");
                }
            }
            assert!(r.len() <= 3);
        }
        assert_eq!(direct_regions(7, 7, 4096, true), vec![]);
        assert_eq!(
            direct_regions(7, 9000, 4096, false),
            vec![Region {
                span: sp(7, 9000),
                direct: false
            }]
        );
    }

    #[test]
    fn a_group_of_regions_writes_each_with_its_alignment() {
        let regions = direct_regions(100, 4096 * 3 + 50, 4096, true);
        let total = 4096 * 3 + 50;
        let layout = Layout::new([total as usize]);
        let lim = Limits::new(8);
        let mut g = GroupRun::with_regions(&regions, true, 4096);
        let c = g.start_round(&layout, &lim).unwrap();
        assert_eq!(c.len(), 1, "one chain: three writes and the sync");
        assert_eq!(g.ops(), &[sp(100, 4096), sp(4096, 12288), sp(12288, 12338)]);
        assert_eq!(
            (0..3).map(|k| g.op_direct(k)).collect::<Vec<_>>(),
            [false, true, false]
        );
        // A short direct write resumes at a block; a short buffered one where it stopped.
        g.record_write(0, 50);
        g.record_write(1, 5000);
        g.record_write(2, 12338 - 12288);
        g.record_sync(0);
        g.end_round();
        assert!(!g.synced());
        assert_eq!(g.pending(), &[sp(150, 4096), sp(8192, 12288)]);
        g.start_round(&layout, &lim).unwrap();
        assert_eq!(g.ops(), &[sp(150, 4096), sp(8192, 12288)]);
        assert!(!g.op_direct(0) && g.op_direct(1));
        g.record_write(0, 4096 - 150);
        g.record_write(1, 4096);
        g.record_sync(0);
        g.end_round();
        assert!(g.synced());
        assert_eq!(g.total(), total - 100);
    }

    #[test]
    fn group_bytes_fill_any_window() {
        let a = vec![2u8; 60];
        let b = vec![3u8; 40];
        let bufs: [&[u8]; 3] = [&a, &[], &b];
        let mut whole = [9u8; 120];
        fill_group(&mut whole[..100], 0, &bufs);
        assert!(whole[..60].iter().all(|&x| x == 2));
        assert!(whole[60..100].iter().all(|&x| x == 3));
        assert!(
            whole[100..].iter().all(|&x| x == 9),
            "past the group: untouched"
        );
        for cap in [1usize, 7, 33, 64, 100] {
            let mut joined = Vec::new();
            for c in stage_chunks(100, cap as u64) {
                let mut part = vec![0u8; c.len() as usize];
                fill_group(&mut part, c.start, &bufs);
                joined.extend_from_slice(&part);
            }
            assert_eq!(joined, whole[..100], "cap {cap}");
        }
    }
}
