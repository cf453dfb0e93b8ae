#!/usr/bin/env bash
# Build every JavaScript example guest into examples-wasm/wasm/<name>_js.wasm.
#
#   scripts/build-js-guests.sh [--engine quickjs|starlingmonkey] [NAME...]
#
# Runs scripts/setup-js-guests.sh first (npm ci in guest-sdk-js/, reused when
# up to date). NAMEs (e.g. fraud_detection) restrict the build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
engine=()
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine=(--engine "$2"); shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) names+=("$1"); shift ;;
  esac
done

PATH="$("$root/scripts/setup-js-guests.sh"):$PATH"

# name, source, kind
guests=(
  "fraud_detection examples-wasm/fraud-detection/js/fraud-detection.js keyed-process"
  "word_split examples-wasm/word-count/js/word-split.js flat-map"
  "word_count examples-wasm/word-count/js/word-count.js keyed-process"
  "top_k examples-wasm/top-k/js/top-k.js window-process"
  "faulty examples-wasm/faulty/js/faulty.js map"
  "swap_count_v2 examples-wasm/swap-count-v2/js/swap-count-v2.js keyed-process"
  "bench_map examples-wasm/bench-map/js/bench-map.js map"
  "bench_count examples-wasm/bench-count/js/bench-count.js keyed-process"
  "bench_filter examples-wasm/bench-filter/js/bench-filter.js filter"
  "bench_window_count examples-wasm/bench-window-count/js/bench-window-count.js aggregate"
)

mkdir -p "$root/examples-wasm/wasm"
built=0
for entry in "${guests[@]}"; do
  read -r name source kind <<<"$entry"
  if [ ${#names[@]} -gt 0 ] && [[ ! " ${names[*]} " =~ " $name " ]]; then
    continue
  fi
  node "$root/guest-sdk-js/bin/eddy-js-build.mjs" "$root/$source" --kind "$kind" \
    ${engine[@]+"${engine[@]}"} -o "$root/examples-wasm/wasm/${name}_js.wasm"
  built=$((built + 1))
done
if [ "$built" -eq 0 ]; then
  echo "build-js-guests: no guest named ${names[*]}" >&2
  exit 1
fi
