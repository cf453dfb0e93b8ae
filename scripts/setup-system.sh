#!/usr/bin/env bash
# System packages the build needs beyond the Rust toolchain. Installs them
# with apt when they are missing (as root, or through sudo); does nothing
# when they are present.
#
#   setup-system.sh            what the Quick start's build needs: a C
#                              compiler (rustc links with it, and wasmtime
#                              compiles a small C helper)
#   setup-system.sh rocksdb    also a C++ compiler and libclang, with which
#                              the `rocksdb` crate compiles and binds the
#                              embedded RocksDB (cargo feature `rocksdb`,
#                              which the tests build)
#   setup-system.sh redis      also redis-server, which the Redis sink's
#                              tests start (Debian's package; no service
#                              is started by installing it)
#   setup-system.sh kafka      also make, with which the `rdkafka` crate
#                              builds the librdkafka it bundles (cargo
#                              feature `kafka`)
#   setup-system.sh browser    also Debian's chromium, and Node.js with npm
#                              if missing: the dashboard's tests drive the
#                              browser with playwright-core
#   setup-system.sh python     also Python 3 with venv if missing, in
#                              which scripts/setup-schemathesis.sh installs
#                              the API fuzzer
set -euo pipefail

with_rocksdb=false
with_redis=false
with_kafka=false
with_browser=false
with_python=false
for part in "$@"; do
    case "$part" in
        rocksdb) with_rocksdb=true ;;
        redis) with_redis=true ;;
        kafka) with_kafka=true ;;
        browser) with_browser=true ;;
        python) with_python=true ;;
        *)
            echo "setup-system: unknown part \`$part\` (known: rocksdb, redis, kafka, browser, python)" >&2
            exit 2
            ;;
    esac
done

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
if $with_rocksdb; then
    command -v c++ >/dev/null 2>&1 || missing+=(g++)
    # bindgen loads libclang at build time.
    if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
        missing+=(libclang-dev)
    fi
    command -v clang >/dev/null 2>&1 || missing+=(clang)
fi
if $with_redis; then
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
fi
if $with_kafka; then
    command -v make >/dev/null 2>&1 || missing+=(make)
fi
if $with_browser; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if $with_python; then
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    # Debian splits venv (and the pip it bootstraps) off python3.
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "==> installing ${missing[*]} (needed to build and test eddy)" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "setup-system: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
"${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2
