//! A single-writer, multi-reader broadcast ring of fixed-size slots (LMAX-style).
//!
//! A [`Ring`] holds `N` slots of a 24-byte
//! [`FrameHeader`](crate::frame::FrameHeader) plus up to `PAYLOAD` payload
//! bytes. One [`Writer`] (handed out once by [`Ring::try_writer`]) publishes events; up to
//! `R` [`Reader`]s ([`Ring::join`]) each read every event at their own pace through their
//! own cursor. All sizes are const generics checked when the ring is built:
//!
//! ```compile_fail,E0080
//! // N must be a power of two.
//! let ring = ringcore::broadcast::GatedRing::<1000, 64, 2>::new();
//! ```
//!
//! ```compile_fail,E0080
//! // PAYLOAD must be a multiple of 8.
//! let ring = ringcore::broadcast::GatedRing::<1024, 60, 2>::new();
//! ```
//!
//! # Policies
//!
//! * [`Gated`]: the writer never overwrites a slot that a registered reader has not read;
//!   [`Writer::try_publish`] returns [`PublishError::Full`] instead. Nothing is lost, and
//!   readers read slots in place (zero-copy).
//! * [`Overwrite`]: the writer never waits. A reader that was lapped gets
//!   [`ReadError::Lagged`] with the exact number of events it lost and resumes half a
//!   ring behind the head (see "Cursor invariants"), so it reads a contiguous run before
//!   a writer at full speed can lap it again; it never sees a torn event. Readers copy each slot with
//!   word-sized atomic loads and validate the copy afterwards (a seqlock), so a copy that
//!   races with the writer is discarded, never returned, and no plain load ever races with
//!   a store.
//!
//! # Example
//!
//! ```
//! use ringcore::broadcast::{GatedRing, ReadError};
//!
//! static RING: GatedRing<1024, 64, 4> = GatedRing::new();
//!
//! let mut writer = RING.try_writer().unwrap();
//! let mut reader = RING.join().unwrap();
//!
//! assert_eq!(writer.try_publish(7, 1_000, b"hello"), Ok(0));
//! {
//!     let mut batch = writer.try_claim(2).unwrap();
//!     batch.push(8, 1_001, b"a").unwrap();
//!     batch.push(8, 1_002, b"b").unwrap();
//! } // one cursor store publishes both
//!
//! let first = reader.try_read(|e| (e.header.seq, e.header.kind, e.payload.to_vec())).unwrap();
//! assert_eq!(first, (0, 7, b"hello".to_vec()));
//! let mut seqs = Vec::new();
//! assert_eq!(reader.read_batch(64, |e| seqs.push(e.header.seq)), Ok(2));
//! assert_eq!(seqs, [1, 2]);
//! assert_eq!(reader.try_read(|_| ()), Err(ReadError::Empty));
//! ```
//!
//! # Cursor invariants
//!
//! Positions are wrapping `usize` counts of events; position `p` lives in slot
//! `p & (N - 1)`. There is no `AtomicU64`: lap counts are wrapping differences of
//! positions, exact as long as a reader is fewer than `usize::MAX / 4` events behind.
//!
//! * `published` (writer, Release store after writing the slots): events at positions
//!   `< published` are complete. A reader loads it with Acquire before reading a slot.
//! * Each reader's registration word holds its cursor `c` and an *active* bit:
//!   `(c << 1) | 1`. The reader has finished with positions `< c`; it stores the word
//!   with Release after its last access to them (and stores it with the bit cleared, also
//!   Release, when it leaves).
//! * *Gated*: the writer writes position `q` only when `q < c + N` for every active
//!   cursor `c` it has loaded with Acquire (`horizon`, refreshed only when the cached
//!   value says the ring is full: one pass over the registrations per lap at most), and
//!   only when `q < published + N` as of that refresh, the oldest start a reader joining
//!   then can get (a refresh publishes first what a forgotten [`Claim`] had pushed, so
//!   that the writer's next position and `published` agree).
//! * *Overwrite*: before writing positions `< e` the writer stores `claim = e` and issues
//!   a Release fence; a reader copies position `p`, issues an Acquire fence, loads
//!   `claim`, and keeps the copy only if `claim - p <= N` (no write to `p`'s slot for a
//!   later lap had started). Otherwise everything before `claim - N` is gone.
//! * *Lap resume* (overwrite): a lapped reader loads `published` with Acquire and moves to
//!   `published - ceil(N / 2)`, half a ring behind the head, or to `claim - N` if that is
//!   later (a claim reserved past what is published, or a stale `published`); it reports
//!   the exact distance moved as lost. Not to the oldest intact slot, `claim - N`: that is
//!   the next slot the writer overwrites, so against a writer at full speed a reader
//!   resuming there is lapped again before it reads anything (measured: 0.6% of the
//!   events read). From half a ring behind, the writer must write `N / 2` more events
//!   before it laps the reader again. The writer does nothing for this (no extra load or
//!   store); the resumed position is read like any other, through the seqlock check, so
//!   a resumed position that the writer overwrites meanwhile is only one more lap.
//!
//! # Joining and leaving while the ring runs
//!
//! A reader that joins starts at the first event published after [`Ring::join`]
//! returns. In a gated ring that start must be protected before the writer can overwrite
//! it, which is a store→load race (the reader stores its registration then loads
//! `published`; the writer stores `published` then loads registrations). Fences with
//! `SeqCst` would solve it on hardware, but loom cannot check them, so the ring uses a
//! compare-and-swap handshake instead: the joiner registers, then does an `AcqRel`
//! read-modify-write on a handshake word, then loads `published`; the writer does an
//! `AcqRel` read-modify-write on the same word every time it refreshes its horizon,
//! before loading the registrations. The two read-modify-writes are totally ordered:
//! either the writer's comes after the joiner's (and the writer sees the registration),
//! or the joiner's comes after (and the joiner starts at or after every position the
//! writer's stale horizon lets it write, minus `N`). A reader that leaves clears its
//! active bit; the next horizon refresh no longer counts it, so it stops gating the
//! writer.
//!
//! A registration is also the writer's permission to reuse the slots its previous
//! holder read: the leaver's Release store covers its reads, but the writer acquires
//! whatever word it finds, which may be the next holder's. So a joiner takes a free
//! registration with an Acquire compare-and-swap (it acquires the leaver's reads) and
//! stores its start with Release (it passes them on); the writer's Acquire load of either
//! word then orders its reuse after the leaver's reads.
//!
//! # Waiting
//!
//! The `*_wait` methods wait with a [`wait::WaitStrategy`] on one of the ring's two
//! [`wait::Signal`]s: readers for events (notified by the writer's `*_wait`
//! publications and when it closes the ring), the writer for room (notified by readers'
//! `*_wait` reads and when one leaves). The handshake is in the [`wait`] module. With the
//! `async` feature a reader task awaits `Reader::ready` on the same signal (see
//! `Reader::ready` for which writer calls wake it).
//!
//! # Targets and features
//!
//! | target                        | broadcast / pool build | [`Ring::try_writer`], [`Ring::join`] |
//! |-------------------------------|------------------------|--------------------------------------|
//! | x86_64, aarch64, thumbv7em    | no feature needed      | no feature needed                    |
//! | thumbv6m, riscv32imc (no CAS) | no feature needed      | `critical-section` or `unsafe-assume-single-core` |
//!
//! Without compare-and-swap, [`Ring::split_mut`] hands out a writer and a fixed set of
//! readers of a ring the caller holds exclusively; readers can leave but not join. The
//! optional `std` feature adds the [`wait`] strategies that need a thread scheduler
//! (`wait::SpinThenYield`, `wait::Blocking`); [`wait::BusySpin`] is always there.
//!
//! # Layout of this module
//!
//! * `ring`: the [`Ring`], its [`Policy`], and the handing out of handles (writer, join,
//!   `split_mut`);
//! * `positions`: the cursor arithmetic above, as pure functions;
//! * `slots`: slot memory and the two ways of touching it (plain copies, word atomics);
//! * `writer` ([`Writer`], [`Claim`]) and `reader` ([`Reader`]): the two sides of the
//!   protocol, each touching only the atomics and slots its side owns;
//! * `error` and `metrics`: the values the handles return.

#[cfg(all(feature = "async", ringcore_cas))]
mod asynch;
mod error;
pub mod merge;
mod metrics;
mod positions;
mod reader;
mod ring;
mod slots;
mod writer;

#[cfg(test)]
mod tests;

#[cfg(all(feature = "async", ringcore_cas))]
pub use self::asynch::Ready;
pub use self::error::{JoinError, PublishError, ReadError, WriterError};
pub use self::metrics::{Backpressure, ReaderStats, Thresholds, WriterStats};
pub use self::reader::Reader;
pub use self::ring::{Gated, GatedRing, Overwrite, OverwriteRing, Policy, Ring};
pub use self::writer::{Claim, Writer};
pub use crate::frame::RecordView;
pub use crate::wait;
