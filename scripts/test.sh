#!/usr/bin/env bash
# README's Tests: set up and run every test (host, end-to-end, the guest
# SDKs in Rust, Python and JavaScript, and the example guests), then print
# the total. Builds eddy with every optional part
# (cargo features `rocksdb`, `redis` and `kafka`), so the tests cover every
# state backend and connector; installs redis-server for the Redis sink's
# tests and chromium and playwright-core for the dashboard's, and builds
# the Kafka-protocol broker of the Kafka tests (nisshi, once, into
# ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}), and installs schemathesis from
# PyPI (pinned, once, into the same tools cache) for the control API's
# fuzz test, and the Python and JavaScript guest toolchains (componentize-py
# in a venv in the same tools cache; `npm ci` in guest-sdk-js/), which build
# the examples' Python and JavaScript components. Honours CARGO_TARGET_DIR, so a
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
bash scripts/build-python-guests.sh
bash scripts/build-js-guests.sh
python_tools=$(bash scripts/setup-python-guests.sh)
# Node 20 or later for the JavaScript SDK (taken from the npm registry where
# the system's is older, as Debian 12's is).
node_bin=$(bash scripts/setup-js-guests.sh)
cargo build --release --locked --bins --features rocksdb,redis,kafka
eddy_bin="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/eddy"

# The Python and JavaScript SDKs' test runners, summed up as cargo's
# `test result:` lines so that the closing line counts them too.
python_sdk_tests() {
    (cd guest-sdk-python && EDDY_BIN="$eddy_bin" "$python_tools/python" -m pytest -q -p no:cacheprovider) |
        awk '{ print }
            / passed| failed| skipped/ && /in [0-9.]+s/ {
                for (i = 1; i < NF; i++) {
                    if ($(i + 1) ~ /^passed/) passed = $i
                    if ($(i + 1) ~ /^failed/) failed = $i
                    if ($(i + 1) ~ /^skipped/) skipped = $i
                }
            }
            END { printf "test result: python-sdk. %d passed; %d failed; %d ignored\n", passed, failed, skipped }'
}
js_sdk_tests() {
    (cd guest-sdk-js && EDDY="$eddy_bin" "$node_bin/node" --test test/) | awk '{ print }
        /^# pass / { passed = $3 } /^# fail / { failed = $3 } /^# skipped / { skipped = $3 }
        END { printf "test result: js-sdk. %d passed; %d failed; %d ignored\n", passed, failed, skipped }'
}

{
    cargo test --release --locked --workspace --features rocksdb,redis,kafka
    cargo test --release --locked --manifest-path guest-sdk/Cargo.toml
    host=$(rustc -vV | sed -n 's/^host: //p')
    (cd examples-wasm && cargo test --release --locked --target "$host")
    python_sdk_tests
    js_sdk_tests
} 2>&1 | tee "$log"

# One closing line for the whole run: the sum of every `test result:` line.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "eddy: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
