#!/usr/bin/env bash
# README's Tests: set up and run every test (host, end-to-end, guest SDK and
# example guests). Honours CARGO_TARGET_DIR, so a cache outside the checkout
# can be used.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/build-guests.sh
cargo build --release --locked --bins
cargo test --release --locked --workspace
cargo test --release --locked --manifest-path guest-sdk/Cargo.toml
host=$(rustc -vV | sed -n 's/^host: //p')
(cd examples-wasm && cargo test --release --locked --target "$host")
