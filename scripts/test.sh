#!/usr/bin/env bash
# README's Tests: set up and run every test (host, end-to-end, guest SDK and
# example guests), then print the total. Builds eddy with every optional part
# (cargo features `rocksdb`, `redis` and `kafka`), so the tests cover every
# state backend and connector; installs redis-server for the Redis sink's
# tests and chromium and playwright-core for the dashboard's, and builds
# the Kafka-protocol broker of the Kafka tests (nisshi, once, into
# ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}), and installs schemathesis from
# PyPI (pinned, once, into the same tools cache) for the control API's
# fuzz test. Honours CARGO_TARGET_DIR, so a
# cache outside the checkout can be used.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

bash scripts/setup-system.sh rocksdb redis kafka browser python
# playwright-core (no browser download: the tests use Debian's chromium).
npm ci --prefix tests/dashboard --no-audit --no-fund --loglevel=error >&2
EDDY_NISSHI=$(bash scripts/setup-broker.sh)
export EDDY_NISSHI
EDDY_SCHEMATHESIS=$(bash scripts/setup-schemathesis.sh)
export EDDY_SCHEMATHESIS
bash scripts/build-guests.sh
cargo build --release --locked --bins --features rocksdb,redis,kafka
{
    cargo test --release --locked --workspace --features rocksdb,redis,kafka
    cargo test --release --locked --manifest-path guest-sdk/Cargo.toml
    host=$(rustc -vV | sed -n 's/^host: //p')
    (cd examples-wasm && cargo test --release --locked --target "$host")
} 2>&1 | tee "$log"

# One closing line for the whole run: the sum of every `test result:` line.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "eddy: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
