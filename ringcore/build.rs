//! Declares `cfg(ringcore_cas)`: the build has compare-and-swap, natively or through a
//! feature forwarded to `portable-atomic`, or is a loom build. The handles that need it
//! (`spsc::Ring::try_split`, `broadcast::Ring::try_writer` and `join`, the pools') are
//! `#[cfg(ringcore_cas)]`; one name instead of the four-way condition at every use.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ringcore_cas)");
    println!("cargo::rerun-if-changed=build.rs");
    // Widths with compare-and-swap, e.g. "8,16,32,64,ptr"; absent on thumbv6m.
    let native = env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .is_ok_and(|widths| widths.split(',').any(|w| w == "8"));
    let forwarded = env::var_os("CARGO_FEATURE_CRITICAL_SECTION").is_some()
        || env::var_os("CARGO_FEATURE_UNSAFE_ASSUME_SINGLE_CORE").is_some();
    let loom = env::var_os("CARGO_CFG_RINGCORE_LOOM").is_some();
    if native || forwarded || loom {
        println!("cargo::rustc-cfg=ringcore_cas");
    }
}
