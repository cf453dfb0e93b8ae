#!/usr/bin/env bash
# The Kafka-protocol broker the Kafka tests start: nisshi 0.6.0 from
# crates.io (no Apache Kafka or Redpanda package installs on these machines).
# Built once (about 16 minutes on 2 cores) into a tools cache outside the
# checkout, ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}, and reused from there.
# Prints the path of the `nisshi` binary on stdout.
#
# Its known limits, which decide what the tests can prove (README, Kafka):
# read_committed consumers still see records of aborted transactions, and a
# fenced producer gets a time-out rather than PRODUCER_FENCED.
set -euo pipefail

version=0.6.0
tools=${EDDY_TOOLS:-$HOME/.cache/eddy-ci/tools}
root="$tools/nisshi-$version"
binary="$root/bin/nisshi"

if [[ ! -x $binary ]]; then
    echo "==> building nisshi $version, the Kafka-protocol broker of the Kafka tests (once, about 16 minutes; kept in $root)" >&2
    mkdir -p "$tools"
    # A target folder of its own: the broker shares nothing with eddy's build.
    cargo install nisshi --version "$version" --locked \
        --no-default-features --features dynostore \
        --root "$root" --target-dir "$tools/nisshi-build" >&2
    rm -rf "$tools/nisshi-build"
fi
echo "$binary"
