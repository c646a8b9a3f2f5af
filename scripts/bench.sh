#!/usr/bin/env bash
# The README's benchmark command. Builds the wasm + npm package (scripts/build.sh; skip
# with SKIP_BUILD=1), prints the wasm size budget, then runs bench/run.mjs under `nice`: a private
# Synapse (support/synapse.mjs), headless Chromium via playwright-core, gallery / cold start / core speed
# (native divan + in-page wasm vs matrix-js-sdk) / fallback memory / video seek. Prints Markdown
# tables and writes bench/results/*.json + summary.md (git-ignored). Timings never fail anything;
# it fails only if the build or a benchmark could not run at all.
#
#   scripts/bench.sh                          everything, 5 interleaved rounds
#   SKIP_BUILD=1 ROUNDS=1 ONLY=gallery scripts/bench.sh     a quick look
# Needs scripts/setup.sh once (Rust wasm target, wasm-bindgen, Chromium, ffmpeg, Synapse, tests/node_modules).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/build.sh
fi
echo "== wasm sizes (scripts/size-budget.sh)"
bash scripts/size-budget.sh || echo "(over budget: reported, benchmarks continue)"
echo "== benchmarks (bench/run.mjs)"
exec nice -n 10 node bench/run.mjs
