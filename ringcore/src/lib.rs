//! `ringcore`: `no_std`, heap-free, compile-time-sized lock-free rings of framed events.
//!
//! * [`frame`]: the 24-byte record header shared by rings and file formats.
//! * [`spsc`]: a single-producer single-consumer ring of variable-length records with
//!   zero-copy grants and reads.
//! * [`sync`]: the one facade for atomics (loom under `cfg(ringcore_loom)`,
//!   `portable-atomic` otherwise) and cache-line padding.
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
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(any(test, ringcore_loom))]
extern crate std;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub mod broadcast;
pub mod dispatch;
pub mod frame;
pub mod io;
pub mod pool;
pub mod spsc;
pub mod sync;
