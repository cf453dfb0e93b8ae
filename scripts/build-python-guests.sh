#!/usr/bin/env bash
# Build every Python example guest (examples-wasm/*/python/*.py) into
# examples-wasm/wasm/<name>_py.wasm with guest-sdk-python/eddy-py-build,
# using the pinned componentize-py of scripts/setup-python-guests.sh.
# ~5 s and ~20 MB per component; builds run in parallel ($EDDY_JOBS, default 4).
# Usage: scripts/build-python-guests.sh [NAME...]   (e.g. word_count; default: all)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$("$repo/scripts/setup-python-guests.sh")
export PATH="$bin:$PATH"
out="$repo/examples-wasm/wasm"
mkdir -p "$out"

sources=()
for source in "$repo"/examples-wasm/*/python/*.py; do
    name=$(basename "$source" .py)
    if [[ $# -gt 0 ]]; then
        wanted=0
        for arg in "$@"; do [[ $arg == "$name" ]] && wanted=1; done
        [[ $wanted == 1 ]] || continue
    fi
    sources+=("$source")
done
if [[ ${#sources[@]} -eq 0 ]]; then
    echo "build-python-guests: nothing to build (${*:-no examples-wasm/*/python/*.py})" >&2
    exit 1
fi

build_one() {
    local source=$1 name
    name=$(basename "$source" .py)
    if "$repo/guest-sdk-python/eddy-py-build" -q "$source" -o "$out/${name}_py.wasm" >"$out/.${name}_py.log" 2>&1; then
        echo "==> built examples-wasm/wasm/${name}_py.wasm ($(du -h "$out/${name}_py.wasm" | cut -f1))" >&2
        rm -f "$out/.${name}_py.log"
    else
        echo "build-python-guests: building $source failed:" >&2
        cat "$out/.${name}_py.log" >&2
        rm -f "$out/.${name}_py.log"
        return 1
    fi
}
export -f build_one
export repo out
printf '%s\0' "${sources[@]}" | xargs -0 -n1 -P "${EDDY_JOBS:-4}" bash -c 'build_one "$0"'
