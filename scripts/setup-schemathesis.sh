#!/usr/bin/env bash
# The API fuzzer of tests/tests/api_fuzz.rs: schemathesis from PyPI, which
# generates requests from docs/control-api.openapi.json and checks the
# answers of `eddy serve` against it. Installed once, with every package
# pinned by scripts/schemathesis-constraints.txt, into a virtual environment
# of its own in the tools cache outside the checkout,
# ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}, and reused from there (no network
# then). Needs CPython 3.11 or newer (`python3`, or $EDDY_PYTHON). Prints
# the path of the `schemathesis` executable on stdout.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

version=4.32.5
tools=${EDDY_TOOLS:-$HOME/.cache/eddy-ci/tools}
root="$tools/schemathesis-$version"
binary="$root/bin/schemathesis"
# Written last: a virtual environment without it is an interrupted install.
done_marker="$root/.installed"

if [[ ! -x $binary || ! -f $done_marker ]]; then
    python=${EDDY_PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup-schemathesis: schemathesis $version needs Python 3.11 or newer; \`$python\` is $("$python" --version 2>/dev/null || echo "not found") (set EDDY_PYTHON)" >&2
        exit 1
    fi
    echo "==> installing schemathesis $version, the API fuzzer of tests/tests/api_fuzz.rs (once; kept in $root)" >&2
    mkdir -p "$tools"
    # A virtual environment cannot be moved (its scripts name its path):
    # built in place, after removing what an interrupted install left.
    rm -rf "$root"
    "$python" -m venv "$root" >&2
    "$root/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$repo/scripts/schemathesis-constraints.txt" "schemathesis==$version" >&2
    "$binary" --version >&2
    touch "$done_marker"
fi
echo "$binary"
