#!/usr/bin/env bash
# Builds everything a site needs: the service worker (scripts/build-sw.sh → sw/dist/), the page SDK
# (crates/web → npm/dist/) and the npm package `matrix-authmedia` in npm/ (worker files in npm/sw/).
# Then packs it into target/npm/ and prints the tarball and gzipped wasm sizes.
#
#   scripts/build.sh              full build
#   SKIP_SW=1 scripts/build.sh    page SDK and package only (reuses sw/dist/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf '[build] %s\n' "$*" >&2; }

# --- the service worker (owned by scripts/build-sw.sh) ------------------------------------
if [ "${SKIP_SW:-0}" != "1" ]; then
  if [ -f scripts/build-sw.sh ]; then
    log "scripts/build-sw.sh"
    bash scripts/build-sw.sh
  else
    log "scripts/build-sw.sh is missing: the package will ship without the worker"
  fi
fi

# --- the page SDK: cargo → wasm-bindgen (--target web) → wasm-opt -Oz ----------------------
WB_PIN=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
WB_HAVE=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$WB_HAVE" != "$WB_PIN" ]; then
  echo "wasm-bindgen CLI $WB_PIN is needed (found '${WB_HAVE:-none}'); run scripts/setup.sh" >&2
  exit 1
fi
log "cargo build --release --target wasm32-unknown-unknown -p authmedia-web -p authmedia-crypto"
cargo build --release --target wasm32-unknown-unknown -p authmedia-web -p authmedia-crypto
DIST="$ROOT/npm/dist"
# Build into a staging dir, then move each file into place (an atomic rename per file), so a
# page or test served from npm/ meanwhile never sees the package half-written.
STAGE="$ROOT/target/npm-stage"
rm -rf "$STAGE"
mkdir -p "$STAGE" "$DIST"
# The page wasm, and the decryption module the loader imports on demand (the fallback's encrypted
# attachments only: see crates/crypto).
for name in authmedia_web authmedia_crypto; do
  wasm-bindgen --target web --out-dir "$STAGE" --out-name "$name" \
    "target/wasm32-unknown-unknown/release/$name.wasm"
done
WASM_OPT="$ROOT/tests/node_modules/.bin/wasm-opt"
if [ -x "$WASM_OPT" ]; then
  for name in authmedia_web authmedia_crypto; do
    log "wasm-opt -Oz --converge $name"
    # --converge repeats -Oz until the binary stops shrinking; the producers and target-features
    # sections are metadata no engine reads; --low-memory-unused: see scripts/build-sw.sh.
    # No `--flatten --rereloop` pass: it made the page wasm ~0.3 KB gzipped smaller and its
    # `httpUrl()` of a new request ~1.6x slower (BENCHMARKS.md, sixth round).
    "$WASM_OPT" -Oz --converge --low-memory-unused --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$STAGE/${name}_bg.wasm" -o "$STAGE/${name}_bg.wasm.opt"
    mv "$STAGE/${name}_bg.wasm.opt" "$STAGE/${name}_bg.wasm"
    # One- and two-letter import/export names instead of wasm-bindgen's hashed ones, the glue
    # rewritten to match (and checked by instantiating the pair in Node).
    log "minify-wasm-names $name"
    node scripts/minify-wasm-names.mjs "$WASM_OPT" "$STAGE/${name}_bg.wasm" "$STAGE/${name}.js" \
      --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue
  done
else
  log "wasm-opt not found at $WASM_OPT (npm ci in tests/): shipping unoptimised wasm"
fi
# Minify the glue (terser from tests/node_modules): generated code, mostly doc comments and long
# names; bundlers minify again, but a page using the files as they are (an import map, no
# bundler) downloads them as shipped. Types stay in the .d.ts files; the `@ts-self-types` pointer
# is kept.
TERSER="$ROOT/tests/node_modules/terser"
if [ -d "$TERSER" ]; then
  log "terser: the glue of authmedia_web and authmedia_crypto"
  node - "$TERSER" "$STAGE/authmedia_web.js" "$STAGE/authmedia_crypto.js" <<'JS'
const fs = require('fs');
const [terserDir, ...files] = process.argv.slice(2);
const { minify } = require(terserDir);
(async () => {
  for (const file of files) {
    const r = await minify(fs.readFileSync(file, 'utf8'), {
      module: true,
      compress: true,
      mangle: true,
      format: { comments: /@ts-self-types/ },
    });
    fs.writeFileSync(file, r.code);
  }
})().catch((e) => { console.error(`build: minifying the glue: ${e.message}`); process.exit(1); });
JS
else
  log "terser not found at $TERSER (npm ci in tests/): the glue ships unminified"
fi
for f in "$STAGE"/*; do
  cp "$f" "$DIST/.$(basename "$f").tmp"
  mv -f "$DIST/.$(basename "$f").tmp" "$DIST/$(basename "$f")"
done

# --- the worker files, shipped as matrix-authmedia/sw/* -----------------------------------
SWOUT="$ROOT/npm/sw"
mkdir -p "$SWOUT"
if [ -f sw/dist/authmedia-sw.js ]; then
  for f in sw/dist/*.js sw/dist/*.wasm; do
    [ -f "$f" ] || continue
    cp "$f" "$SWOUT/.$(basename "$f").tmp"
    mv -f "$SWOUT/.$(basename "$f").tmp" "$SWOUT/$(basename "$f")"
  done
else
  log "sw/dist/authmedia-sw.js is missing: the package ships without the worker"
fi

# --- pack ------------------------------------------------------------------------------------
PACKDIR="$ROOT/target/npm"
mkdir -p "$PACKDIR"
rm -f "$PACKDIR"/matrix-authmedia-*.tgz
TARBALL_NAME=$(cd npm && npm pack --silent --pack-destination "$PACKDIR" | tail -n 1)
TARBALL="$PACKDIR/$TARBALL_NAME"
cp "$TARBALL" "$PACKDIR/matrix-authmedia.tgz"
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
WASM="$DIST/authmedia_web_bg.wasm"
{
  echo "package:   $TARBALL ($(size "$TARBALL") bytes)"
  echo "page wasm: $(size "$WASM") bytes, $(gz "$WASM") gzipped (npm/dist/authmedia_web_bg.wasm)"
  echo "page js:   $(size "$DIST/authmedia_web.js") bytes, $(gz "$DIST/authmedia_web.js") gzipped (wasm-bindgen glue)"
  CRYPTO="$DIST/authmedia_crypto_bg.wasm"
  echo "crypto:    $(size "$CRYPTO") bytes, $(gz "$CRYPTO") gzipped wasm + $(gz "$DIST/authmedia_crypto.js") gzipped js (on demand: the fallback's encrypted attachments)"
  if [ -f "$SWOUT/authmedia_sw_bg.wasm" ]; then
    echo "sw wasm:   $(size "$SWOUT/authmedia_sw_bg.wasm") bytes, $(gz "$SWOUT/authmedia_sw_bg.wasm") gzipped"
    echo "sw crypto: $(size "$SWOUT/authmedia_sw_crypto_bg.wasm") bytes, $(gz "$SWOUT/authmedia_sw_crypto_bg.wasm") gzipped (on demand: the worker's encrypted attachments)"
  fi
  echo "files:"
  tar tzf "$TARBALL" | sed 's/^/  /'
} | tee "$PACKDIR/sizes.txt"
