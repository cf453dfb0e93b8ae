#!/usr/bin/env bash
# README's Quick start: set up on a fresh machine with only the Rust toolchain,
# build the fraud-detection example's guest and eddy, and run the example on
# its sample data (no broker, embedded defaults). Prints the alerts.
#
# It builds only what that example needs: one guest, and eddy without the
# optional parts behind cargo features (the RocksDB state backend), so a
# first build takes minutes, not a quarter of an hour. `scripts/test.sh`
# builds everything.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/setup-system.sh
echo "==> building the example's guest (a wasm32-wasip2 component)" >&2
bash scripts/build-guests.sh fraud-detection >&2
echo "==> building eddy (the first build compiles wasmtime: a few minutes)" >&2
cargo build --release --locked --bin eddy >&2
target_dir=${CARGO_TARGET_DIR:-$repo/target}
echo "==> eddy run examples-wasm/fraud-detection/job.toml" >&2
"$target_dir/release/eddy" run examples-wasm/fraud-detection/job.toml
