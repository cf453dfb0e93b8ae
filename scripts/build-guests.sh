#!/usr/bin/env bash
# Build every example guest as a WebAssembly component (release) and copy the
# components to examples-wasm/wasm/<crate_name>.wasm.
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
cargo build --release --target "$target" --manifest-path "$manifest"

target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
built="$target_dir/$target/release"

mkdir -p "$out"
count=0
for wasm in "$built"/*.wasm; do
    [[ -e "$wasm" ]] || continue
    cp "$wasm" "$out/"
    count=$((count + 1))
done
if [[ $count -eq 0 ]]; then
    echo "build-guests: no .wasm files found in $built" >&2
    exit 1
fi
echo "build-guests: $count components in ${out#"$repo"/}/"
