#!/usr/bin/env bash
# README's Quick start: set up on a fresh machine with only the Rust toolchain,
# build the example guests and eddy, and run the fraud-detection example on
# its sample data (no broker, embedded defaults). Prints the alerts.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/setup-system.sh
echo "==> building the example guests (wasm32-wasip2 components)" >&2
bash scripts/build-guests.sh >&2
echo "==> building eddy (the first build compiles wasmtime: several minutes)" >&2
cargo build --release --locked --bin eddy >&2
target_dir=${CARGO_TARGET_DIR:-$repo/target}
echo "==> eddy run examples-wasm/fraud-detection/job.toml" >&2
"$target_dir/release/eddy" run examples-wasm/fraud-detection/job.toml
