#!/usr/bin/env bash
# Load figures (RELIABILITY.md "Load"). Builds the service worker (scripts/build-sw.sh; skip
# with SKIP_BUILD=1), then runs tests/load-report.mjs under `nice`: a private Synapse on loopback
# (support/synapse.mjs), 200 distinct PNGs uploaded, headless Chromium with the drop-in worker, the fault
# proxy (tests/lib/fault-proxy.mjs, no faults) between worker and Synapse counting upstream requests,
# and 1000 concurrent requests per phase (cold / warm / after a worker restart / 256 KiB store budget).
# The same scenario is the CI check tests/e2e/load.test.mjs (node tests/run-e2e.mjs load), which
# asserts; this only measures and prints a Markdown table (it fails only if the scenario cannot run).
#
#   scripts/load.sh
#   SKIP_BUILD=1 LOAD_REQUESTS=2000 LOAD_IMAGES=400 scripts/load.sh
#   LOAD_JSON=/tmp/load.json scripts/load.sh           also write the phases as JSON
# Other knobs (tests/load-report.mjs): LOAD_IMG_EVERY (default 5), LOAD_SMALL_BUDGET (bytes, 262144).
# Needs scripts/setup.sh once (Rust wasm target, wasm-bindgen, Chromium, Synapse, tests/node_modules).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  nice -n 10 bash scripts/build-sw.sh
fi
echo "# machine: $(nproc) cores; before: $(uptime)"
nice -n 10 node tests/load-report.mjs
echo "# after: $(uptime)"
