#!/usr/bin/env bash
# The README's demo command: setup (idempotent), build, then a local Synapse with seeded media and the
# demo page on http://127.0.0.1:8088/. Options (see `scripts/demo.sh --help`): --port N,
# --homeserver URL (no local Synapse), --data-dir DIR, --ready-file PATH.
# Ctrl-C stops everything it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then exec node demo/run.mjs --help; fi
done

echo "[demo] setup (scripts/setup.sh; quick when already done)" >&2
scripts/setup.sh
echo "[demo] build (scripts/build.sh)" >&2
scripts/build.sh

# exec: node receives Ctrl-C / SIGTERM itself and stops the Synapse process group it started.
exec node demo/run.mjs "$@"
