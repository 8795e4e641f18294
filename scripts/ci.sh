#!/usr/bin/env bash
# The project's one test command: installs what it needs on a fresh machine (rustup
# targets, the nightly Miri and rust-src components) and runs every check. Each step
# prints its time; a step that fails stops the run with a non-zero exit.
#
#   ./scripts/ci.sh            all steps
#   ./scripts/ci.sh fmt test   only the named steps
set -euo pipefail
cd "$(dirname "$0")/.."

EMBEDDED_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# storage-tier's S3 tests start moto from here (under CI=true they fail when it is absent).
export RINGLOG_MOTO="$PWD/.venv-moto"

step_setup() {
    rustup target add "${EMBEDDED_TARGETS[@]}"
    # The power-cut tests mount faultfs (FUSE): /dev/fuse is needed; fusermount3 (Debian's
    # fuse3) only when the tests do not run as root.
    if ! command -v fusermount3 >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3
        else
            sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3
        fi
    fi
    # Miri runs on the nightly the machine already has; never install another toolchain.
    if ! rustup toolchain list | grep -q '^nightly'; then
        echo "no nightly toolchain on this machine: Miri cannot run" >&2
        return 1
    fi
    # The storage-tier tests run against moto's S3 server on loopback, from a venv here.
    if [ ! -x .venv-moto/bin/moto_server ]; then
        python3 -m venv .venv-moto && .venv-moto/bin/pip install -q 'moto[server]'
    fi
    rustup component add --toolchain nightly miri rust-src
    cargo +nightly miri setup
}

# The toolchain building is not older than the workspace's `rust-version`.
step_toolchain() {
    local want have
    want=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
    have=$(rustc --version | cut -d' ' -f2 | cut -d- -f1)
    echo "rustc $have, rust-version $want"
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$want" ] ||
        { echo "rustc $have is older than rust-version $want" >&2; return 1; }
}

step_fmt() { cargo fmt --all -- --check; }

# The house layout: storage-std's layers and the size limit per file (docs/architecture.md).
step_layout() { ./scripts/check-layout.sh; }

step_clippy() {
    cargo clippy --workspace --all-targets -- -D warnings
    # The feature-gated code (async waiting, tracing events) as well.
    cargo clippy -p storage-std -p storage-uring --all-targets --all-features -- -D warnings
}

step_test() {
    cargo test --workspace
    # storage-std's feature-gated tests: the async future and stream, the tracing events.
    cargo test -p storage-std --features async,tracing --lib --test async_wait --test tracing_events
}

# Every example of ringcore and storage-std, run as a user runs it (`cargo run
# --example`); each asserts what it shows, so a failing one fails the step. ringcore's
# run with `std` (broadcast_fanout's reader threads block), storage-std's with `async`.
step_examples() {
    cargo build -q -p ringcore --examples # those without required-features need none
    cargo build -q -p ringcore --examples --features std
    cargo build -q -p storage-std --examples --features async
    local crate example features
    for crate in ringcore storage-std; do
        features="async"
        [ "$crate" = ringcore ] && features="std"
        for example in "$crate"/examples/*.rs; do
            example=$(basename "$example" .rs)
            echo "--- $crate example $example"
            cargo run -q -p "$crate" --example "$example" ${features:+--features "$features"}
        done
    done
}

step_doc() { RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps; }

step_nostd() {
    for t in "${EMBEDDED_TARGETS[@]}"; do
        for features in "" "critical-section" "unsafe-assume-single-core" "async" "async critical-section"; do
            echo "--- ringcore for $t, features: ${features:-none}"
            cargo build -p ringcore --target "$t" --no-default-features ${features:+--features "$features"}
        done
    done
}

step_miri() {
    export MIRIFLAGS="-Zmiri-strict-provenance"
    cargo +nightly miri test -p ringcore
    # The `async` feature's wakers (its tokio tests carry cfg_attr(miri, ignore)).
    cargo +nightly miri test -p ringcore --features async --lib -- asynch waker
    # The soundness regression tests that race threads on slot memory: a data race shows
    # on some schedules only (issue 11's leave-then-rejoin race on 8 of 32 seeds), so
    # they run under 32 seeds.
    MIRIFLAGS="$MIRIFLAGS -Zmiri-many-seeds=0..32" \
        cargo +nightly miri test -p ringcore --lib broadcast::tests::soundness::races
    # storage-std: the pure decoders and the unsafe modules (mmap, queue); tests that need
    # syscalls Miri lacks carry cfg_attr(miri, ignore).
    cargo +nightly miri test -p storage-std --lib --test decoders
    # The producer's inline SSE 4.2 CRC32C (unsafe intrinsics) runs only where the build
    # enables the feature: under Miri `is_x86_feature_detected!` sees compile-time features.
    # Own target dir, so the flag does not rebuild the step's other crates.
    RUSTFLAGS="-C target-feature=+sse4.2" CARGO_TARGET_DIR=target/miri-sse42 RINGLOG_REQUIRE_SSE42=1 \
        MIRIFLAGS="$MIRIFLAGS -Zmiri-env-forward=RINGLOG_REQUIRE_SSE42" \
        cargo +nightly miri test -p storage-std --lib format::record
    # storage-uring: the pure planning, bookkeeping and probe classification (tests that
    # need a real ring carry cfg_attr(miri, ignore) and run in the test step).
    cargo +nightly miri test -p storage-uring --lib
}

# A subshell: its exports must not reach the steps after it.
step_loom() (
    # Own target dir: the cfg changes every crate's build. Optimised, but without LTO and
    # with parallel codegen, so that the mutants below rebuild in seconds.
    export RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_INCREMENTAL=true
    cargo test -p loom-tests --release -- --nocapture --test-threads=1
    # Each ordering of the join, leave and claim protocols, of the blocking wait's
    # handshake and of the async wakers, weakened to Relaxed, must make one of the models just run fail.
    ./scripts/loom-mutants.sh --no-baseline --marked join,leave,claim,wait,async
)

# The bench targets compile and link (in the dev profile, on the test step's build: an
# optimised LTO build of every peer took 5 minutes of CI for the same check). Numbers come
# from `cargo bench` / `cargo run --release -p benches --bin ...` by hand.
step_benches() { cargo build -p benches --benches --bins; }

# Publishing ringcore (with ringlog-pattern, its dev-dependency, packaged beside it), and
# the packaged crate's doctests, which include the README it ships.
step_package() {
    cargo package -p ringlog-pattern -p ringcore
    cargo publish --dry-run -p ringlog-pattern -p ringcore
    local t; t=$(mktemp -d)
    tar xzf target/package/ringcore-*.crate -C "$t" && tar xzf target/package/ringlog-pattern-*.crate -C "$t"
    (cd "$t"/ringcore-* && CARGO_TARGET_DIR="$t/target" cargo test --doc --features std,alloc \
        --config "patch.crates-io.ringlog-pattern.path=\"$(echo "$t"/ringlog-pattern-*)\"")
    rm -rf "$t"
}

# The firmware harness (firmware-size/, its own workspace): ringcore with `alloc` for each
# embedded target, then SPSC push+pop of 64 B built for each target with a panic handler
# that does not link, so a panic path left in them fails the step; prints the code size
# and RAM against bbqueue's framed grants (reported, not asserted).
step_firmware() {
    for t in "${EMBEDDED_TARGETS[@]}"; do
        cargo build -p ringcore --target "$t" --no-default-features --features alloc
    done
    if ! command -v llvm-nm >/dev/null && ! ls /usr/bin/llvm-nm-* >/dev/null 2>&1; then
        # llvm-nm and llvm-objdump for the size count: rustup's llvm-tools component
        # (size.py looks in the toolchains), else Debian's llvm.
        rustup component add llvm-tools ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm; }
    fi
    ./firmware-size/size.py
}

ALL_STEPS=(setup toolchain fmt layout clippy test examples doc package nostd firmware miri loom benches)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")

total_start=$(date +%s)
for s in "${steps[@]}"; do
    echo "=== step $s"
    start=$(date +%s)
    "step_$s"
    echo "=== step $s: ok in $(( $(date +%s) - start )) s"
done
echo "=== all steps passed in $(( $(date +%s) - total_start )) s: ${steps[*]}"
