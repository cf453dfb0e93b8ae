#!/usr/bin/env bash
# Install the JavaScript guest toolchain: `npm ci` in guest-sdk-js/ (the SDK's
# pinned componentize-qjs and componentize-js, from package-lock.json).
# Skipped when node_modules already matches the lock file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/guest-sdk-js"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup-js-guests: node and npm are needed (Node 20 or later)" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "setup-js-guests: Node $(node --version) is too old, 20 or later is needed" >&2
  exit 1
fi

stamp="$sdk/node_modules/.eddy-lock-sha256"
want="$(sha256sum "$sdk/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup-js-guests: npm ci in guest-sdk-js/" >&2
(cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
