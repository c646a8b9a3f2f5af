#!/usr/bin/env bash
# Builds the drop-in service worker into sw/dist/:
#   sw/dist/authmedia-sw.js        the entry script (sw/authmedia-sw.js) with the wasm-bindgen glue,
#                                  embedded in a factory function (a trapped instance is replaced
#                                  by a fresh one from the same compiled module), minified by terser
#   sw/dist/authmedia_sw_bg.wasm   the wasm, found next to the worker script by default
#   sw/dist/authmedia_sw_crypto_bg.wasm
#                                  the decryption module (crates/sw-crypto), fetched by the entry
#                                  script on the first encrypted-attachment request only (found
#                                  next to the worker's wasm by default); its glue is embedded in
#                                  the entry script like the worker's
# and prints their raw and gzipped sizes. Needs: the wasm32 target and wasm-bindgen-cli (both from
# scripts/setup.sh); wasm-opt from tests/node_modules (binaryen) is used when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

OUT="$ROOT/sw/dist"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cargo build --quiet --release --target wasm32-unknown-unknown -p authmedia-sw -p authmedia-sw-crypto
for name in authmedia_sw authmedia_sw_crypto; do
  wasm-bindgen --target no-modules --no-typescript --out-dir "$TMP" --out-name "$name" \
    "${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-unknown-unknown/release/$name.wasm"
done

WASM_OPT="$ROOT/tests/node_modules/.bin/wasm-opt"
mkdir -p "$OUT"
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
for name in authmedia_sw authmedia_sw_crypto; do
  if [ -x "$WASM_OPT" ]; then
    # --converge repeats -Oz until the binary stops shrinking; the producers and target-features
    # sections are metadata no engine reads. --low-memory-unused lets a small constant added to a
    # pointer become the load/store's offset: the two differ only when the sum wraps past 4 GiB
    # into the first KiB, which no Rust object can do (an object never spans the top of memory).
    "$WASM_OPT" -Oz --converge --low-memory-unused --strip-producers --strip-target-features "${FEATURES[@]}" \
      "$TMP/${name}_bg.wasm" -o "$OUT/${name}_bg.wasm"
    # Short import/export names (wasm-bindgen's carry 16-hex-digit hashes that do not compress),
    # the glue rewritten to match and checked by instantiating the pair (scripts/minify-wasm-names.mjs).
    node "$ROOT/scripts/minify-wasm-names.mjs" "$WASM_OPT" "$OUT/${name}_bg.wasm" "$TMP/${name}.js" "${FEATURES[@]}"
  else
    echo "build-sw: warning: $WASM_OPT not found (run scripts/setup.sh); wasm left unoptimised" >&2
    cp "$TMP/${name}_bg.wasm" "$OUT/${name}_bg.wasm"
  fi
done

# Embed the glues: factory functions, so each call yields a fresh, independent module state.
node - "$ROOT/sw/authmedia-sw.js" "$TMP/authmedia_sw.js" "$TMP/authmedia_sw_crypto.js" "$OUT/authmedia-sw.js" <<'JS'
const fs = require('fs');
const [entryPath, gluePath, cryptoGluePath, outPath] = process.argv.slice(2);
let entry = fs.readFileSync(entryPath, 'utf8');
for (const [marker, file, factory] of [
  ['/* @@AUTHMEDIA_GLUE@@ */', gluePath, 'createAuthmediaGlue'],
  ['/* @@AUTHMEDIA_CRYPTO_GLUE@@ */', cryptoGluePath, 'createAuthmediaCryptoGlue'],
]) {
  const glue = fs.readFileSync(file, 'utf8');
  if (!entry.includes(marker)) throw new Error(`${entryPath}: marker ${marker} missing`);
  if (!/\bwasm_bindgen\b/.test(glue)) throw new Error(`${file}: no wasm_bindgen global in the glue`);
  const code = `function ${factory}() {\n${glue}\nreturn wasm_bindgen;\n}`;
  entry = entry.replace(marker, () => code);
}
fs.writeFileSync(outPath, entry);
JS

# Minify the shipped script (terser from tests/node_modules): the glue is mostly long generated
# names and comments; the source stays readable in sw/authmedia-sw.js.
TERSER="$ROOT/tests/node_modules/terser"
if [ -d "$TERSER" ]; then
  node - "$TERSER" "$OUT/authmedia-sw.js" <<'JS'
const fs = require('fs');
const [terserDir, file] = process.argv.slice(2);
const { minify } = require(terserDir);
minify(fs.readFileSync(file, 'utf8'), { compress: true, mangle: true, format: { comments: false } })
  .then((r) => fs.writeFileSync(file, r.code))
  .catch((e) => { console.error(`build-sw: minifying ${file}: ${e.message}`); process.exit(1); });
JS
else
  echo "build-sw: warning: $TERSER not found (npm ci in tests/); authmedia-sw.js left unminified" >&2
fi

size() { printf '%-28s %8d bytes raw %8d bytes gzip\n' "$(basename "$1")" "$(wc -c <"$1")" "$(gzip -9c "$1" | wc -c)"; }
size "$OUT/authmedia_sw_bg.wasm"
size "$OUT/authmedia-sw.js"
size "$OUT/authmedia_sw_crypto_bg.wasm"
