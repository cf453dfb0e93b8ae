#!/usr/bin/env bash
# Build the example guests as WebAssembly components (release) and copy the
# components to examples-wasm/wasm/<crate_name>.wasm.
#
#   build-guests.sh                    every example guest
#   build-guests.sh fraud-detection    only the named packages (the Quick start)
#
# Works from any directory and honours CARGO_TARGET_DIR. The target is passed
# explicitly because cargo reads examples-wasm/.cargo/config.toml only when it
# runs inside examples-wasm/, not when given --manifest-path from elsewhere.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest="$repo/examples-wasm/Cargo.toml"
target=wasm32-wasip2
out="$repo/examples-wasm/wasm"

# rustup prints nothing when the target is already installed.
rustup target add "$target" >/dev/null 2>&1 || rustup target list --installed | grep -qx "$target"

# SIMD makes byte loops in guests ~4x faster (shared/research/wasm-overhead.md);
# wasmtime enables the proposal by default. Only the wasm target gets the flag.
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="${CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS:--C target-feature=+simd128}"
packages=()
for package in "$@"; do
    packages+=(--package "$package")
done
cargo build --release --target "$target" --manifest-path "$manifest" "${packages[@]}"

target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
built="$target_dir/$target/release"

# The components just built: those of the named packages (crate names use
# `_` where package names have `-`), else every one in the target directory.
components=()
if [[ $# -gt 0 ]]; then
    for package in "$@"; do
        components+=("$built/${package//-/_}.wasm")
    done
else
    shopt -s nullglob
    components=("$built"/*.wasm)
fi
if [[ ${#components[@]} -eq 0 ]]; then
    echo "build-guests: no .wasm files found in $built" >&2
    exit 1
fi
mkdir -p "$out"
cp "${components[@]}" "$out/"
echo "build-guests: ${#components[@]} components in ${out#"$repo"/}/"
