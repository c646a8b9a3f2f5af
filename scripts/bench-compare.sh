#!/usr/bin/env bash
# Before/after benchmark of two commits in one run on one machine: builds the npm package
# (scripts/build.sh: page SDK in npm/dist, worker in npm/sw) of <base-ref> in a temporary git
# worktree, and of <head-ref> the same way (or, without <head-ref>, of this checkout as it is),
# then runs bench/compare.mjs — gallery, cold start with its breakdown, worker thread CPU (kernel),
# fallback gallery with heap, URL building, sizes — with base / head / the minimal hand-written
# worker interleaved per round, and prints Markdown tables with paired ratios. Then
# scripts/wasm-weight.sh prints `twiggy top` of both builds.
#
#   scripts/bench-compare.sh <base-ref> [<head-ref>]
#   ROUNDS=2 N_GALLERY=200 ONLY=gallery,cold scripts/bench-compare.sh 6a26fc0      a quicker look
#   SKIP_BUILD=1 scripts/bench-compare.sh 6a26fc0      reuse this checkout's npm/ as head
#   REBUILD=1 …                                       rebuild a ref even if its package is there
#
# Each ref is built once into target/bench-compare/<sha>/npm and reused. Its cargo target dir is
# target/bench-compare/target-<base|head> (never this checkout's target/, so nothing here is
# rebuilt or overwritten; seeded from this checkout's wasm32 release deps on first use). Results:
# bench/results/compare.{md,json} (git-ignored). Timings never fail anything; the exit status is
# non-zero only when a build failed or a run could not be measured.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
unset CARGO_TARGET_DIR # scripts/build.sh reads the wasm from <tree>/target
BASE_REF="${1:?usage: scripts/bench-compare.sh <base-ref> [<head-ref>]}"
HEAD_REF="${2:-}"
WORK="$ROOT/target/bench-compare"
mkdir -p "$WORK"
log() { printf '[bench-compare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# build_ref <ref> <slot: base|head> → prints the npm directory of that ref's build
build_ref() {
  local ref="$1" slot="$2" sha out tree target
  sha="$(git rev-parse --short=10 "$ref^{commit}")"
  out="$WORK/$sha/npm"
  if [ "${REBUILD:-0}" != 1 ] && [ -f "$out/sw/authmedia-sw.js" ] && [ -f "$out/dist/authmedia_web_bg.wasm" ]; then
    log "$slot $ref = $sha: reusing $out"
    echo "$out"
    return
  fi
  tree="$WORK/tree-$slot"
  target="$WORK/target-$slot"
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  git worktree prune
  git worktree add --detach "$tree" "$sha" >&2
  # The same tools as this checkout: wasm-opt and npm from tests/node_modules, the Synapse venv.
  ln -s "$ROOT/tests/node_modules" "$tree/tests/node_modules"
  [ -e "$ROOT/.local" ] && ln -s "$(readlink -f "$ROOT/.local")" "$tree/.local"
  if [ ! -d "$target" ] && [ -d "$ROOT/target/wasm32-unknown-unknown/release/deps" ]; then
    # Seed: the registry crates' artifacts are reused as they are; the workspace crates build anew.
    log "seeding $target from this checkout's wasm32 release build"
    mkdir -p "$target/wasm32-unknown-unknown"
    cp -a --reflink=auto "$ROOT/target/wasm32-unknown-unknown/release" "$target/wasm32-unknown-unknown/"
    rm -rf "$target/wasm32-unknown-unknown/release/incremental"
  fi
  mkdir -p "$target"
  ln -s "$target" "$tree/target"
  log "$slot $ref = $sha: scripts/build.sh in $tree"
  (cd "$tree" && bash scripts/build.sh >&2)
  rm -rf "$WORK/$sha"
  mkdir -p "$WORK/$sha"
  cp -a "$tree/npm" "$out"
  # The release wasm before wasm-opt (names kept), for scripts/wasm-weight.sh.
  mkdir -p "$WORK/$sha/release"
  for w in "$target"/wasm32-unknown-unknown/release/authmedia_*.wasm; do cp "$w" "$WORK/$sha/release/"; done
  git worktree remove --force "$tree"
  git worktree prune
  echo "$out"
}

started=$(date +%s)
BASE_NPM="$(build_ref "$BASE_REF" base)"
BASE_SHA="$(git rev-parse --short "$BASE_REF^{commit}")"
if [ -n "$HEAD_REF" ]; then
  HEAD_NPM="$(build_ref "$HEAD_REF" head)"
  HEAD_SHA="$(git rev-parse --short "$HEAD_REF^{commit}")"
  HEAD_RELEASE="$(dirname "$HEAD_NPM")/release"
else
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "head = this checkout: scripts/build.sh"
    bash scripts/build.sh >&2
  fi
  HEAD_NPM="$ROOT/npm"
  HEAD_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates sw npm scripts Cargo.toml Cargo.lock || echo '+changes')"
  HEAD_RELEASE="$ROOT/target/wasm32-unknown-unknown/release"
fi
log "builds ready after $(( $(date +%s) - started )) s: base $BASE_NPM, head $HEAD_NPM"

echo "== twiggy: what the binaries are made of (scripts/wasm-weight.sh)"
WASM_DIR="$HEAD_RELEASE" NPM_DIR="$HEAD_NPM" BASE_WASM_DIR="$(dirname "$BASE_NPM")/release" BASE_NPM_DIR="$BASE_NPM" \
  LABEL="head $HEAD_SHA" BASE_LABEL="base $BASE_SHA" bash scripts/wasm-weight.sh || log "wasm-weight failed (reported, benchmarks continue)"

echo "== benchmarks (bench/compare.mjs)"
BASE_NPM="$BASE_NPM" HEAD_NPM="$HEAD_NPM" BASE_LABEL="$BASE_SHA" HEAD_LABEL="$HEAD_SHA" nice -n 10 node bench/compare.mjs
log "done in $(( $(date +%s) - started )) s"
