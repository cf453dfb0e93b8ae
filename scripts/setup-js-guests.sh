#!/usr/bin/env bash
# Install the JavaScript guest toolchain: `npm ci` in guest-sdk-js/ (the SDK's
# pinned componentize-qjs and componentize-js, from package-lock.json).
# Skipped when node_modules already matches the lock file.
#
# The SDK needs Node 20 or later. Debian 12's `nodejs` is 18, so where the
# `node` on PATH is older, Node 20 is taken from the npm registry
# (`node-linux-<arch>`, the official binary as an npm package, pinned below)
# into ${EDDY_TOOLS:-~/.cache/eddy-ci/tools}, once.
#
# Prints the folder of the `node` to use on stdout: callers put it first on
# PATH (`PATH="$(scripts/setup-js-guests.sh):$PATH"`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/guest-sdk-js"
node_version=20.20.2

if ! command -v npm >/dev/null; then
  echo "setup-js-guests: npm is needed (apt-get install nodejs npm, or scripts/setup-system.sh browser)" >&2
  exit 1
fi
node_bin="$(dirname "$(command -v node 2>/dev/null || echo /nonexistent/node)")"
major="$("$node_bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 20 ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "setup-js-guests: Node 20 or later is needed, and there is no prebuilt one for $(uname -m)" >&2; exit 1 ;;
  esac
  tools="${EDDY_TOOLS:-$HOME/.cache/eddy-ci/tools}"
  node_bin="$tools/node-$node_version/package/bin"
  if [ ! -x "$node_bin/node" ]; then
    echo "setup-js-guests: the node on PATH is $(node --version 2>/dev/null || echo missing); installing Node $node_version from the npm registry into $tools (once)" >&2
    mkdir -p "$tools"
    scratch="$(mktemp -d "$tools/node-$node_version.XXXXXX")"
    (cd "$scratch" && npm pack "node-linux-$arch@$node_version" --silent >/dev/null && tar xzf node-linux-*.tgz && rm node-linux-*.tgz)
    rm -rf "$tools/node-$node_version"
    mv "$scratch" "$tools/node-$node_version"
  fi
fi
export PATH="$node_bin:$PATH"

stamp="$sdk/node_modules/.eddy-lock-sha256"
want="$(sha256sum "$sdk/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup-js-guests: npm ci in guest-sdk-js/" >&2
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
fi
echo "$node_bin"
