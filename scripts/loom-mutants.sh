#!/usr/bin/env bash
# Proves the loom models are strong enough: weakens one Acquire, Release or AcqRel to
# Relaxed at a time, in a scratch copy of the workspace, and runs the loom models; each
# such mutant must make a model fail.
#
#   ./scripts/loom-mutants.sh ringcore/src/spsc.rs ringcore/src/broadcast/*.rs
#       every ordering in the given files, each against every model
#   ./scripts/loom-mutants.sh --marked join,leave,claim [FILES...]
#       only the orderings marked `(loom-mutant: NAME)` with one of the given names (in
#       FILES, by default every ringcore source file), each against the models that
#       check that protocol (the table below): what CI runs
#   ./scripts/loom-mutants.sh --list join,leave,claim,wait
#       prints the marked lines and their models, runs nothing
#   ./scripts/loom-mutants.sh --no-baseline --marked ...
#       skips running the unweakened models first (the caller just ran them)
#
# A marker names the first ordering on its own line or on a line after it (within six
# lines): put it in the comment that justifies the ordering. Exits 1 if any mutant
# survives, 2 if one does not build. The working tree is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."

# Marker name -> `test-binary:filter` of the loom models that check that protocol, the
# quickest first: a mutant's models run one at a time and stop at the first failure.
models_for() {
    case "$1" in
        join) echo "broadcast:reader_joins_while_writer_runs broadcast:forgotten_claim_then_join broadcast:joiners_race_for_one_registration broadcast:reader_leaves_then_another_thread_rejoins" ;;
        leave) echo "broadcast:reader_leaves_and_stops_gating broadcast:reader_leaves_then_another_thread_rejoins" ;;
        claim) echo "broadcast:gated_hand_over_fills_and_reuses_slots broadcast:overwrite_lap_is_detected_never_torn broadcast:overwrite_multi_slot_claims broadcast:overwrite_peek_then_try_read" ;;
        wait) echo "wait:blocking_writer_sleeps_until_released wait:blocking_reader_sleeps_until_published" ;;
        async) echo "asynch:spsc_consumer_task_wakes_for_each_record asynch:spsc_producer_task_wakes_for_room asynch:broadcast_reader_task_wakes_for_each_event asynch:spsc_producer_drop_wakes_the_consumer_task asynch:spsc_consumer_drop_wakes_the_producer_task" ;;
        *) echo "no models for marker '$1'" >&2; return 1 ;;
    esac
}

mode=all
markers=""
baseline=yes
if [ "${1:-}" = --no-baseline ]; then
    baseline=no
    shift
fi
case "${1:-}" in
    --marked | --list)
        mode=${1#--}
        markers=$2
        shift 2
        ;;
esac
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    [ "$mode" = all ] && { echo "usage: see the top of $0" >&2; exit 2; }
    mapfile -t files < <(find ringcore/src -name '*.rs' | sort)
fi

# Lines to mutate, as `file:line:marker` (marker `*`: every model).
mutants=$(python3 - "$mode" "$markers" "${files[@]}" <<'PY'
import re, sys
mode, markers, files = sys.argv[1], set(filter(None, sys.argv[2].split(","))), sys.argv[3:]
ordering = re.compile(r"Ordering::(Acquire|Release|AcqRel)\b")
marker = re.compile(r"\(loom-mutant: ([a-z-]+)\)")
for path in files:
    lines = open(path).read().split("\n")
    for i, text in enumerate(lines):
        if mode == "all":
            if ordering.search(text):
                print(f"{path}:{i + 1}:*")
            continue
        m = marker.search(text)
        if not m or m.group(1) not in markers:
            continue
        for j in range(i, min(i + 7, len(lines))):
            if ordering.search(lines[j]):
                print(f"{path}:{j + 1}:{m.group(1)}")
                break
        else:
            sys.exit(f"{path}:{i + 1}: marker '{m.group(1)}' names no ordering in the next lines")
PY
)
[ -n "$mutants" ] || { echo "no orderings to mutate" >&2; exit 2; }

if [ "$mode" = list ]; then
    for m in $mutants; do
        IFS=: read -r file line name <<<"$m"
        echo "$file:$line [$name] $(sed -n "${line}p" "$file" | sed 's/^ *//')"
        echo "    models: $(models_for "$name")"
    done
    exit 0
fi

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
# The loom build of `scripts/ci.sh loom` (same target directory and profile), so that
# the dependencies it built are reused. A mutant rebuilds ringcore and the model
# binaries: no LTO, parallel codegen and incremental builds make that seconds instead of
# a minute; the models still run optimised.
export CARGO_TARGET_DIR="$root/target/loom" RUSTFLAGS="--cfg ringcore_loom" LOOM_MAX_PREEMPTIONS=3
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_INCREMENTAL=true

# The model binaries marker `$1` needs (`*`: all), as `--test NAME` arguments.
test_args() {
    [ "$1" = "*" ] && return
    local model
    for model in $(models_for "$1"); do
        echo "--test ${model%%:*}"
    done | sort -u
}

# Runs the models for marker `$1` (all of them for `*`), one at a time, stopping at the
# first that fails; succeeds if every one passes.
run_models() {
    if [ "$1" = "*" ]; then
        (cd "$scratch" && cargo test -q -p loom-tests --release >"$scratch/log" 2>&1)
        return
    fi
    local model
    for model in $(models_for "$1"); do
        (cd "$scratch" && cargo test -q -p loom-tests --release --test "${model%%:*}" -- \
            --exact "${model#*:}" >"$scratch/log" 2>&1) || return 1
    done
}

# The models must pass before anything is weakened, or a failure would prove nothing
# (`--no-baseline`: the caller just ran them, as CI's loom step does).
for name in $(for m in $mutants; do echo "${m##*:}"; done | sort -u); do
    [ "$baseline" = yes ] || break
    # shellcheck disable=SC2046 # one word per argument
    if ! (cd "$scratch" && cargo test -q -p loom-tests --release --no-run $(test_args "$name") \
        >"$scratch/log" 2>&1) || ! run_models "$name"; then
        cat "$scratch/log" >&2
        echo "the models for '$name' fail without any mutant" >&2
        exit 2
    fi
done

survivors=0
for m in $mutants; do
    IFS=: read -r file line name <<<"$m"
    orig="$scratch/$file.orig"
    [ -f "$orig" ] || cp "$scratch/$file" "$orig"
    cp "$orig" "$scratch/$file"
    sed -i "${line}s/Ordering::\(Acquire\|Release\|AcqRel\)/Ordering::Relaxed/" "$scratch/$file"
    what="$file:$line: $(sed -n "${line}p" "$orig" | sed 's/^ *//')"
    start=$(date +%s)
    # shellcheck disable=SC2046 # one word per argument
    if ! (cd "$scratch" && cargo test -q -p loom-tests --release --no-run $(test_args "$name") \
        >"$scratch/log" 2>&1); then
        cat "$scratch/log" >&2
        echo "mutant does not build: $what" >&2
        exit 2
    fi
    if run_models "$name"; then
        echo "SURVIVED  $what"
        survivors=$((survivors + 1))
    else
        echo "killed    $what ($(( $(date +%s) - start )) s)"
    fi
    cp "$orig" "$scratch/$file"
done
if [ "$survivors" -gt 0 ]; then
    echo "$survivors mutant(s) survived: the loom models miss a needed ordering" >&2
    exit 1
fi
echo "every weakened ordering was caught by a loom model"
