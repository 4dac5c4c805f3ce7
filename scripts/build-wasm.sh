#!/bin/sh
# Compile src/blake3/wasm/kernel.c to WebAssembly (SIMD) and regenerate
# src/blake3/wasm/kernel-wasm.ts, the module the project loads at run time
# (so users need no C toolchain).
#
# Needs clang and wasm-ld (Debian/Ubuntu: apt-get install clang lld).
# Deterministic: no timestamps, no debug info, no absolute paths in the output;
# the same compiler version yields the same bytes.
#
# Usage: scripts/build-wasm.sh            (from anywhere)
#        CLANG=clang-17 scripts/build-wasm.sh
set -eu

cd "$(dirname "$0")/.."
DIR=src/blake3/wasm
SRC="$DIR/kernel.c"
OUT_TS="$DIR/kernel-wasm.ts"
CLANG="${CLANG:-clang}"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

"$CLANG" --target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib -fno-builtin \
  -g0 -ffile-prefix-map="$PWD"=. \
  -Wall -Wextra -Werror \
  -Wl,--no-entry \
  -Wl,--strip-all \
  -Wl,--export=group_cvs \
  -Wl,--export=input_ptr \
  -Wl,--export=output_ptr \
  -Wl,--export=batch_groups \
  -o "$TMP/kernel.wasm" "$SRC"

SIZE=$(wc -c < "$TMP/kernel.wasm" | tr -d ' ')
if command -v sha256sum >/dev/null 2>&1; then
  SHA=$(sha256sum "$TMP/kernel.wasm" | cut -d' ' -f1)
else
  SHA=$(shasum -a 256 "$TMP/kernel.wasm" | cut -d' ' -f1)
fi
VERSION=$("$CLANG" --version | head -n 1)

{
  echo "// Generated from kernel.c by scripts/build-wasm.sh — do not edit."
  echo "// Compiler: $VERSION"
  echo "// kernel.wasm: $SIZE bytes, sha256 $SHA"
  echo ""
  echo "/** The BLAKE3 chunk-group kernel (WebAssembly with SIMD), base64. */"
  printf "export const KERNEL_WASM_BASE64 =\n  '"
  base64 < "$TMP/kernel.wasm" | tr -d '\n'
  echo "'"
  echo ""
  echo "/** sha256 of the decoded bytes, hex. */"
  echo "export const KERNEL_WASM_SHA256 = '$SHA'"
} > "$TMP/kernel-wasm.ts"

mv "$TMP/kernel-wasm.ts" "$OUT_TS"
echo "wrote $OUT_TS ($SIZE bytes of wasm, sha256 $SHA)"
