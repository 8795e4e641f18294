//! `ringcore`: `no_std`, heap-free, compile-time-sized lock-free rings of framed events.
//!
//! * [`frame`]: the 24-byte record header shared by rings and file formats.
//! * [`spsc`]: a single-producer single-consumer ring of variable-length records with
//!   zero-copy grants and reads.
//! * [`broadcast`]: one writer, many readers with their own cursors over fixed-size
//!   slots; *gated* (nothing lost) or *overwrite* (lapped readers told exactly how many
//!   events they lost), with backpressure metrics and wait strategies; its `merge`
//!   module brings a late reader from an archive (a replay source) into the live ring
//!   without a gap or a duplicate.
//! * [`pool`]: broadcast rings by size class (64 B to 16 KiB by default), an event routed
//!   to the smallest class that fits, a compile-time guard on the static footprint.
//! * [`dispatch`]: a consumer trait and a dispatcher that drains an SPSC consumer or a
//!   broadcast reader into several consumers, with per-consumer statistics.
//! * [`io`]: a sink that drains a ring into any `embedded_io::Write` as checksummed
//!   frames, and a source that reads them back, resynchronising after damage.
//! * [`wait`]: how a broadcast or pool handle waits for the other side (busy spin, spin
//!   then yield, blocking).
//! * `waker` (feature `async`): how an `async` task waits for an SPSC ring
//!   (`spsc::ConsumerOf::readable`, `spsc::ProducerOf::writable`) or a broadcast
//!   ring (`broadcast::Reader::ready`), with any executor.
//! * [`sync`]: the one facade for atomics (loom under `cfg(ringcore_loom)`,
//!   `portable-atomic` otherwise) and cache-line padding.
//!
//! # Features
//!
//! * `std`: the broadcast wait strategies that need a thread scheduler
//!   (`SpinThenYield`, `Blocking`). The crate stays `#![no_std]` without it.
//! * `async`: futures that wait for the other side of a ring (module `waker`): no
//!   runtime, no `std`, no dependency. Needs compare-and-swap (on thumbv6m and
//!   riscv32imc, with `critical-section` or `unsafe-assume-single-core`).
//! * `critical-section`, `unsafe-assume-single-core`: forwarded to `portable-atomic`, see
//!   below.
//!
//! # Targets without compare-and-swap
//!
//! `thumbv6m-none-eabi` and `riscv32imc-unknown-none-elf` have atomic loads and stores
//! but no compare-and-swap. Everything builds there; what needs compare-and-swap (such as
//! [`spsc::Ring::try_split`] on a `static`) appears when the `critical-section` feature
//! (bring your own `critical-section` implementation) or the `unsafe-assume-single-core`
//! feature is enabled; both are forwarded to `portable-atomic`. Without them, use
//! [`spsc::Ring::split_mut`].
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Feature badges on docs.rs; the loom build is a test configuration, not one to show.
#![cfg_attr(docsrs, doc(auto_cfg(hide(ringcore_loom))))]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(any(test, ringcore_loom, feature = "std"))]
extern crate std;

/// The README's Rust examples, compiled and run as doctests. `ringcore/README.md` links
/// to the workspace's README, and `cargo package` copies it into the package, so the
/// same path works in the workspace and in the published crate.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod broadcast;
pub mod dispatch;
pub mod frame;
pub mod io;
pub mod pool;
pub mod spsc;
pub mod sync;
pub mod wait;
#[cfg(all(feature = "async", ringcore_cas))]
pub mod waker;
