#!/usr/bin/env bash
# What the shipped wasm binaries are made of: `twiggy top` of the release builds (before wasm-opt,
# which keeps the function names twiggy needs), byte totals per family of code, and the shipped
# sizes (after wasm-opt -Oz) raw and gzipped; then the shipped binaries of this build by family
# (rebuilt through wasm-bindgen and wasm-opt with names kept). With a second (base) build given, prints both side
# by side: families as a table base | now | change, then each build's top items. Installs twiggy
# with cargo when it is missing.
#
#   scripts/build.sh && scripts/wasm-weight.sh            this checkout
#   TOP=40 scripts/wasm-weight.sh                         more rows
#   TARGET_DIR=/other/checkout/target scripts/wasm-weight.sh   another build (e.g. an older commit)
#   BASE_WASM_DIR=target/bench-compare/<sha>/release BASE_NPM_DIR=target/bench-compare/<sha>/npm \
#     scripts/wasm-weight.sh                              this build beside a base build
#                                                        (scripts/bench-compare.sh keeps them there)
# WASM_DIR / NPM_DIR name the current build's release wasm directory and npm/ (defaults: this
# checkout); LABEL / BASE_LABEL name the two builds in the output; CRATES the binaries
# (authmedia_<crate>.wasm; default: every one in either build). Beside a base build, a binary only
# one side has is listed against an empty column.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
TOP="${TOP:-15}"
TARGET_DIR="${TARGET_DIR:-$ROOT/target}"
WASM_DIR="${WASM_DIR:-$TARGET_DIR/wasm32-unknown-unknown/release}"
NPM_DIR="${NPM_DIR:-$ROOT/npm}"
BASE_WASM_DIR="${BASE_WASM_DIR:-}"
BASE_NPM_DIR="${BASE_NPM_DIR:-}"
LABEL="${LABEL:-now}"
BASE_LABEL="${BASE_LABEL:-base}"
if [ -z "${CRATES:-}" ]; then
  # Every authmedia_<crate>.wasm of either build (a build may add or drop a binary).
  CRATES="$(for d in "$WASM_DIR" ${BASE_WASM_DIR:+"$BASE_WASM_DIR"}; do ls "$d" 2>/dev/null; done |
    sed -n 's/^authmedia_\(.*\)\.wasm$/\1/p' | sort -u | tr '\n' ' ')"
fi
[ -n "$CRATES" ] || { echo "wasm-weight: no authmedia_*.wasm in $WASM_DIR (run scripts/build.sh)" >&2; exit 1; }
command -v twiggy >/dev/null || cargo install -q twiggy --version 0.8.0

# families <wasm> <crate>: "<family>\t<bytes>" lines, raw bytes before wasm-opt summed over every item.
families() {
  [ -f "$1" ] || return 0
  twiggy top -n 100000 "$1" | awk -F'┊' -v crate="$2" '
    NR > 2 {
      bytes = $1 + 0; item = $3
      if (item ~ /custom section|function names|Total Rows|more\.$/) next
      fam = "other"
      if (item ~ /__wbindgen_describe/) fam = "wasm-bindgen descriptors (dropped by the wasm-bindgen CLI)"
      else if (item ~ /aes::|sha2::|ctr::|cipher::|digest::/) fam = "software crypto (aes, sha2, ctr)"
      else if (item ~ /authmedia_core::/) fam = "authmedia_core"
      else if (item ~ /authmedia_(sw|web|js)::/) fam = "adapters (authmedia_" crate ", authmedia_js)"
      else if (item ~ /js_sys|wasm_bindgen|web_sys/) fam = "wasm-bindgen / js-sys / web-sys glue"
      else if (item ~ /dlmalloc|talc|lock_api|__rdl|__rust_(alloc|dealloc|realloc)/) fam = "allocator (dlmalloc or talc)"
      else if (item ~ /core.*fmt|Formatter|Display|Debug|pad_integral|escape_debug|printable/) fam = "core::fmt"
      else if (item ~ /data segment/) fam = "data (.rodata)"
      else if (item ~ /^ *<?(alloc|core|std)(\[[0-9a-f]+\])?::/) fam = "std (alloc, core; not fmt)"
      else if (item ~ /serde/) fam = "serde"
      else if (item ~ /^ *(import|export) /) fam = "imports / exports"
      sum[fam] += bytes; total += bytes
    }
    END { for (f in sum) printf "%s\t%d\n", f, sum[f]; printf "total (code + data, before wasm-opt)\t%d\n", total }'
}
top_items() {
  [ -f "$1" ] || { echo "(not in this build)"; return 0; }
  twiggy top -n "$((TOP + 4))" "$1" | grep -v -E "custom section|\"function names\"" | head -n "$((TOP + 2))"
}

for crate in $CRATES; do
  wasm="$WASM_DIR/authmedia_${crate}.wasm"
  if [ -z "$BASE_WASM_DIR" ]; then
    [ -f "$wasm" ] || { echo "wasm-weight: $wasm is missing (run scripts/build.sh)" >&2; exit 1; }
    echo "== authmedia_${crate}.wasm (release, before wasm-opt): top $TOP by shallow size (custom sections excluded)"
    top_items "$wasm"
    families "$wasm" "$crate" | sort -t$'\t' -k2 -rn | awk -F'\t' '{ printf "   %8d B  %s\n", $2, $1 }'
    echo
    continue
  fi
  base="$BASE_WASM_DIR/authmedia_${crate}.wasm"
  echo "== authmedia_${crate}.wasm (release, before wasm-opt): families of code, bytes"
  echo
  echo "| family | $BASE_LABEL | $LABEL | change |"
  echo "|---|---|---|---|"
  join -t$'\t' -a1 -a2 -e0 -o '0,1.2,2.2' <(families "$base" "$crate" | sort) <(families "$wasm" "$crate" | sort) |
    sort -t$'\t' -k3 -rn | awk -F'\t' '{ printf "| %s | %d | %d | %+d |\n", $1, $2, $3, $3 - $2 }'
  echo
  echo "top $TOP by shallow size, $BASE_LABEL:"
  echo '```'
  top_items "$base"
  echo '```'
  echo "top $TOP by shallow size, $LABEL:"
  echo '```'
  top_items "$wasm"
  echo '```'
  echo
done
# What the shipped binary is made of: the release wasm through wasm-bindgen and `wasm-opt -Oz` as
# the build does, but keeping the function names (`--keep-debug`, `-g`), so twiggy can attribute
# the shipped bytes (code and data; the name section itself is excluded). Families by shallow size.
WASM_OPT="${WASM_OPT:-$ROOT/tests/node_modules/.bin/wasm-opt}"
shipped_families() {
  local wasm="$1" crate="$2" tmp
  [ -f "$wasm" ] && [ -x "$WASM_OPT" ] && command -v wasm-bindgen >/dev/null || return 0
  tmp="$(mktemp -d)"
  local target=web; [ "$crate" = sw ] && target=no-modules
  wasm-bindgen --target "$target" --keep-debug --no-typescript --out-dir "$tmp" --out-name x "$wasm"
  "$WASM_OPT" -Oz -g --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$tmp/x_bg.wasm" -o "$tmp/o.wasm"
  twiggy top -n 100000 "$tmp/o.wasm" | awk -F'┊' '
    NR > 2 {
      bytes = $1 + 0; item = $3
      if (item ~ /custom section|function names|Total Rows|more\.$/) next
      fam = "other (unnamed, std internals)"
      if (item ~ /js_sys::futures|wasm_bindgen_futures/) fam = "async entry points (future_to_promise / spawn_local, callee futures inlined)"
      else if (item ~ /authmedia_(sw|web|crypto)::/) fam = "adapter crate"
      else if (item ~ /authmedia_js::/) fam = "authmedia_js"
      else if (item ~ /authmedia_core::/) fam = "authmedia_core"
      else if (item ~ /aes::|sha2::|ctr::|cipher::|digest::/) fam = "software crypto"
      else if (item ~ /shim|__wbg_|__wbindgen|__externref|wasm_bindgen::|js_sys::|web_sys::/) fam = "wasm-bindgen shims, js-sys / web-sys"
      else if (item ~ /dlmalloc|talc|lock_api|__rdl|__rust_(alloc|dealloc|realloc)/) fam = "allocator (dlmalloc or talc)"
      else if (item ~ /fmt|Formatter|Display|Debug|pad_integral/) fam = "core::fmt"
      else if (item ~ /data segment/) fam = "data (.rodata: texts, tables)"
      else if (item ~ /^ *(import|export) /) fam = "imports / exports"
      else if (item ~ /(alloc|core|std)(\[[0-9a-f]+\])?::/) fam = "std (alloc, core; not fmt)"
      sum[fam] += bytes; total += bytes
    }
    END { for (f in sum) printf "%s\t%d\t%.1f\n", f, sum[f], 100 * sum[f] / total; printf "total shipped code + data (names excluded)\t%d\t100.0\n", total }' |
    sort -t$'\t' -k2 -rn | awk -F'\t' '{ printf "   %8d B  %5s %%  %s\n", $2, $3, $1 }'
  rm -rf "$tmp"
}
for crate in $CRATES; do
  wasm="$WASM_DIR/authmedia_${crate}.wasm"
  [ -f "$wasm" ] || continue
  echo "== authmedia_${crate}: the shipped binary (wasm-bindgen, wasm-opt -Oz, names kept), families by bytes"
  shipped_families "$wasm" "$crate"
  echo
done

echo "== shipped (after wasm-opt -Oz), gzip -9"
for dir in ${BASE_NPM_DIR:+"$BASE_NPM_DIR"} "$NPM_DIR"; do
  label="$LABEL"; [ "$dir" = "$BASE_NPM_DIR" ] && label="$BASE_LABEL"
  for f in "$dir"/sw/*.wasm "$dir"/dist/*.wasm; do
    [ -f "$f" ] && printf '   %-12s %-28s raw %7d B  gzip %7d B\n' "$label" "${f#"$dir"/}" "$(wc -c <"$f")" "$(gzip -9 -c <"$f" | wc -c)"
  done
done
