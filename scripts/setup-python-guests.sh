#!/usr/bin/env bash
# The tools of the Python guest SDK (guest-sdk-python/): componentize-py,
# which builds a Python module into a WebAssembly component, and pytest,
# which runs the SDK's native tests. Installed once, every package pinned by
# guest-sdk-python/requirements-tools.txt, into a virtual environment of its
# own in the tools cache outside the checkout,
# ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}, and reused from there (no network
# then). Needs CPython 3.11 or newer (`python3`, or $EDDY_PYTHON). Prints
# the virtual environment's bin directory on stdout.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

version=0.25.1   # componentize-py
tools=${EDDY_TOOLS:-$HOME/.cache/eddy-ci/tools}
root="$tools/python-guests-$version"
bin="$root/bin"
requirements="$repo/guest-sdk-python/requirements-tools.txt"
# Written last: a virtual environment without it is an interrupted install.
# It holds the requirements it was made from, so a changed pin reinstalls.
done_marker="$root/.installed"

if [[ ! -x $bin/componentize-py || ! -f $done_marker ]] || ! cmp -s "$requirements" "$done_marker"; then
    python=${EDDY_PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup-python-guests: the Python guest tools need Python 3.11 or newer; \`$python\` is $("$python" --version 2>/dev/null || echo "not found") (set EDDY_PYTHON)" >&2
        exit 1
    fi
    echo "==> installing componentize-py $version and pytest for the Python guest SDK (once; kept in $root)" >&2
    mkdir -p "$tools"
    # A virtual environment cannot be moved (its scripts name its path):
    # built in place, after removing what an interrupted install left.
    rm -rf "$root"
    "$python" -m venv "$root" >&2
    "$bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    "$bin/componentize-py" --version >&2
    cp "$requirements" "$done_marker"
fi
echo "$bin"
