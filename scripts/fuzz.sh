#!/usr/bin/env bash
# README's Tests: mutation fuzzing of the readers of untrusted files (job
# file, checkpoint manifest, operator state file), SECONDS_PER_TARGET each
# (default 60), one target after the other. Prints, per target, the inputs
# tried and the failures (panic, hang, allocation out of proportion to the
# input); failing inputs are kept in fuzz/failures/<target>/ for
# `eddy-fuzz --replay`. Exits non-zero if any target failed. Honours
# CARGO_TARGET_DIR and FUZZ_SEED (to repeat a run).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
seconds=${1:-60}

cargo build --release --locked -p eddy-fuzz
bin=${CARGO_TARGET_DIR:-$repo/target}/release/eddy-fuzz
seed_args=()
if [[ -n ${FUZZ_SEED:-} ]]; then
    seed_args=(--seed "$FUZZ_SEED")
fi

failed=0
for target in $("$bin" --list); do
    # One process per target: a hang or an abort ends only its own run.
    status=0
    "$bin" --seconds "$seconds" --failures fuzz/failures "${seed_args[@]}" "$target" || status=$?
    if [[ $status -ne 0 ]]; then
        failed=$((failed + 1))
        if [[ $status -gt 1 ]]; then
            echo "$target: FAILURE the run ended with status $status; its last input is fuzz/failures/$target/last-input"
        fi
    fi
done
echo "fuzz: $failed of $("$bin" --list | wc -l) targets failed"
[[ $failed -eq 0 ]]
