#!/usr/bin/env bash
# The README's demo command: setup (idempotent), build, then a local Synapse with seeded media and the
# demo page on http://127.0.0.1:8088/. Options (see `scripts/demo.sh --help`): --port N,
# --homeserver URL (no local Synapse), --user/--password, --data-dir DIR, --ready-file PATH.
# Ctrl-C (or SIGTERM) stops everything it started.
#
# The build is skipped when no build input changed since the last build this script ran
# (stamp: .local/demo-build.stamp); DEMO_REBUILD=1 forces it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then exec node demo/run.mjs --help; fi
done

echo "[demo] setup (scripts/setup.sh; quick when already done)" >&2
scripts/setup.sh

STAMP="$ROOT/.local/demo-build.stamp"
INPUTS=(Cargo.toml Cargo.lock crates sw/authmedia-sw.js npm/index.js npm/index.d.ts npm/package.json scripts/build.sh scripts/build-sw.sh)
OUTPUTS=(npm/dist/authmedia_web_bg.wasm npm/dist/authmedia_web.js npm/sw/authmedia-sw.js npm/sw/authmedia_sw_bg.wasm)
need_build=0
[ "${DEMO_REBUILD:-0}" = "1" ] && need_build=1
[ -f "$STAMP" ] || need_build=1
for out in "${OUTPUTS[@]}"; do [ -f "$out" ] || need_build=1; done
if [ "$need_build" = "0" ]; then
  existing=()
  for p in "${INPUTS[@]}"; do [ -e "$p" ] && existing+=("$p"); done
  if [ -n "$(find "${existing[@]}" -newer "$STAMP" -type f -print -quit 2>/dev/null)" ]; then need_build=1; fi
fi
if [ "$need_build" = "1" ]; then
  echo "[demo] build (scripts/build.sh)" >&2
  mkdir -p "$ROOT/.local"
  touch "$STAMP.new"
  if scripts/build.sh; then
    mv "$STAMP.new" "$STAMP"
  else
    missing=0
    for out in "${OUTPUTS[@]}"; do [ -f "$out" ] || missing=1; done
    if [ "$missing" = "1" ]; then
      echo "[demo] scripts/build.sh failed and there is no earlier build to serve" >&2
      exit 1
    fi
    echo "[demo] WARNING: scripts/build.sh failed; serving the previous build (the next run tries again)" >&2
  fi
else
  echo "[demo] build is up to date (no input newer than the last build; DEMO_REBUILD=1 forces it)" >&2
fi

# exec: node receives Ctrl-C / SIGTERM itself and stops the Synapse process group it started.
exec node demo/run.mjs "$@"
