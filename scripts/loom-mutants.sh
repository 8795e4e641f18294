#!/usr/bin/env bash
# Proves the loom models are strong enough: for every Acquire, Release or AcqRel in the
# given ringcore source files, weakens that one ordering to Relaxed in a scratch copy of
# the workspace and runs the loom models; each such mutant must make a model fail.
#
#   ./scripts/loom-mutants.sh ringcore/src/spsc.rs ringcore/src/broadcast/*.rs
#
# Exits 1 if any mutant survives. The working tree is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Only what the loom build needs: ringcore, ringlog-pattern, loom-tests and the workspace manifest.
cp -r ringcore ringlog-pattern loom-tests Cargo.lock "$scratch"/
python3 - "$root/Cargo.toml" "$scratch/Cargo.toml" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r'members = \[[^\]]*\]', 'members = ["ringcore", "ringlog-pattern", "loom-tests"]', src)
open(sys.argv[2], 'w').write(src)
PY
export CARGO_TARGET_DIR="$root/target/loom-mutants" RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3
survivors=0
for file in "$@"; do
    orig="$scratch/$file.orig"
    cp "$scratch/$file" "$orig"
    for line in $(grep -n 'Ordering::\(Acquire\|Release\|AcqRel\)' "$orig" | cut -d: -f1); do
        cp "$orig" "$scratch/$file"
        sed -i "${line}s/Ordering::\(Acquire\|Release\|AcqRel\)/Ordering::Relaxed/" "$scratch/$file"
        what="$file:$line: $(sed -n "${line}p" "$orig" | sed 's/^ *//')"
        if ! (cd "$scratch" && cargo test -q -p loom-tests --release --no-run >"$scratch/log" 2>&1); then
            cat "$scratch/log" >&2
            echo "mutant does not build: $what" >&2
            exit 2
        fi
        if (cd "$scratch" && cargo test -q -p loom-tests --release >"$scratch/log" 2>&1); then
            echo "SURVIVED  $what"
            survivors=$((survivors + 1))
        else
            echo "killed    $what"
        fi
    done
    cp "$orig" "$scratch/$file"
done
if [ "$survivors" -gt 0 ]; then
    echo "$survivors mutant(s) survived: the loom models miss a needed ordering" >&2
    exit 1
fi
echo "every weakened ordering was caught by a loom model"
