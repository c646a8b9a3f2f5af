#!/usr/bin/env bash
# What the shipped wasm binaries are made of: `twiggy top` of the release builds (before wasm-opt,
# which keeps the function names twiggy needs), and the shipped sizes (after wasm-opt -Oz) raw and
# gzipped. Installs twiggy with cargo when it is missing.
#
#   scripts/build.sh && scripts/wasm-weight.sh            this checkout
#   TOP=40 scripts/wasm-weight.sh                         more rows
#   TARGET_DIR=/other/checkout/target scripts/wasm-weight.sh   another build (e.g. an older commit)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
TOP="${TOP:-15}"
TARGET_DIR="${TARGET_DIR:-$ROOT/target}"
command -v twiggy >/dev/null || cargo install -q twiggy --version 0.8.0
for crate in sw web crypto; do
  wasm="$TARGET_DIR/wasm32-unknown-unknown/release/authmedia_${crate}.wasm"
  [ -f "$wasm" ] || { echo "wasm-weight: $wasm is missing (run scripts/build.sh)" >&2; exit 1; }
  echo "== authmedia_${crate}.wasm (release, before wasm-opt): top $TOP by shallow size (custom sections excluded)"
  twiggy top -n "$((TOP + 4))" "$wasm" | grep -v -E "custom section|\"function names\"" | head -n "$((TOP + 2))"
  # Families of code, summed over every item (raw bytes before wasm-opt).
  twiggy top -n 100000 "$wasm" | awk -F'┊' -v crate="$crate" '
    NR > 2 {
      bytes = $1 + 0; item = $3
      if (item ~ /custom section|function names/) next
      fam = "other"
      if (item ~ /aes::|sha2::|ctr::|cipher::|digest::/) fam = "software crypto (aes, sha2, ctr)"
      else if (item ~ /authmedia_core::/) fam = "authmedia_core"
      else if (item ~ /authmedia_(sw|web|js)::/) fam = "adapters (authmedia_" crate ", authmedia_js)"
      else if (item ~ /js_sys|wasm_bindgen|web_sys/) fam = "wasm-bindgen / js-sys / web-sys glue"
      else if (item ~ /dlmalloc|__rdl|__rust_(alloc|dealloc|realloc)/) fam = "allocator (dlmalloc)"
      else if (item ~ /core.*fmt|Formatter|Display|Debug|pad_integral|escape_debug|printable/) fam = "core::fmt"
      else if (item ~ /data segment/) fam = "data (.rodata)"
      sum[fam] += bytes
    }
    END { for (f in sum) if (f != "other") printf "   %8d B  %s\n", sum[f], f }' | sort -rn
  echo
done
echo "== shipped (after wasm-opt -Oz), gzip -9"
for f in "$ROOT/npm/sw/authmedia_sw_bg.wasm" "$ROOT/npm/dist/authmedia_web_bg.wasm" "$ROOT/npm/dist/authmedia_crypto_bg.wasm"; do
  [ -f "$f" ] && printf '   %-40s raw %7d B  gzip %7d B\n' "${f#"$ROOT"/}" "$(wc -c <"$f")" "$(gzip -9 -c "$f" | wc -c)"
done
