#!/usr/bin/env bash
# Idempotent setup: everything the tests and the demo need on a fresh Debian 12 machine.
# Installs only from the package registries (crates.io, PyPI, Debian, npm). Safe to run twice.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Keep in step with the exact `wasm-bindgen = "=X"` pin in Cargo.toml.
WASM_BINDGEN_VERSION="0.2.130"
GECKODRIVER_VERSION="0.37.1"
WASM_PACK_VERSION="0.15.1"
SYNAPSE_VERSION="1.163.2"

log() { printf '[setup] %s\n' "$*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

# --- Rust targets --------------------------------------------------------------------------
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

# --- Debian packages: browsers, drivers, virtual display ----------------------------------
need_apt=()
# gstreamer1.0-libav + gstreamer1.0-plugins-bad: WebKitGTK plays H.264 (mp4) through GStreamer (avdec_h264, h264parse).
for pkg in chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth ffmpeg gstreamer1.0-libav gstreamer1.0-plugins-bad; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# --- Cargo-installed tools (built from crates.io; no prebuilt downloads) --------------------
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes ~9 min on 2 cores)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
# (Version checks read the whole output first: `tool --version | grep -q` under pipefail fails at
# random when grep exits early and the tool gets SIGPIPE, which reinstalled the tool.)
if ! grep -q "$GECKODRIVER_VERSION" <<<"$(geckodriver --version 2>/dev/null)"; then
  log "cargo install geckodriver $GECKODRIVER_VERSION (takes ~7 min)"
  cargo install -q geckodriver --version "$GECKODRIVER_VERSION" --force
fi
if ! grep -q "$WASM_PACK_VERSION" <<<"$(wasm-pack --version 2>/dev/null)"; then
  log "cargo install wasm-pack $WASM_PACK_VERSION"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --force
fi

# --- Synapse in a project-local venv ------------------------------------------------------
VENV="$ROOT/.local/synapse-venv"
# (__version__ gains " (b=main,<commit>)" when the venv sits inside a git checkout, as here.)
if ! "$VENV/bin/python" -c "import synapse, sys; sys.exit(0 if synapse.__version__.split()[0] == '$SYNAPSE_VERSION' else 1)" 2>/dev/null; then
  log "pip install matrix-synapse==$SYNAPSE_VERSION"
  mkdir -p "$ROOT/.local"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION"
fi

# --- Node test drivers / tools (lockfile-pinned) -------------------------------------------
if [ -f "$ROOT/tests/package.json" ]; then
  if [ ! -d "$ROOT/tests/node_modules" ] || [ "$ROOT/tests/package-lock.json" -nt "$ROOT/tests/node_modules/.package-lock.json" ]; then
    log "npm ci (tests/)"
    (cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
log "setup complete"
