#!/usr/bin/env bash
# Size budget of the shipped wasm binaries (issue 6): prints raw and gzipped (-9) sizes of the
# worker's and the page SDK's wasm as built by scripts/build.sh (both already passed through
# `wasm-opt -Oz` there) and fails when a gzipped size is above its budget.
#
#   scripts/size-budget.sh                       check npm/sw + npm/dist (after scripts/build.sh)
#   SW_BUDGET_KIB=48 scripts/size-budget.sh      override a budget (KiB, gzipped)
#
# Budgets: the issue starts at 100 KB gzipped per binary; measured on 2026-11-27 the worker was
# 49.8 KiB and the page 69.1 KiB gzipped, so the budgets sit about 25 % above those. Tighten them
# as the binaries shrink (the worker's target is 48 KB gzipped, see BENCHMARKS.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SW_BUDGET_KIB="${SW_BUDGET_KIB:-64}"
PAGE_BUDGET_KIB="${PAGE_BUDGET_KIB:-88}"

fail=0
check() {
  local name="$1" file="$2" budget_kib="$3"
  if [ ! -f "$file" ]; then
    echo "size-budget: $file is missing (run scripts/build.sh first)" >&2
    fail=1
    return
  fi
  local raw gz limit verdict
  raw=$(wc -c <"$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  limit=$((budget_kib * 1024))
  verdict=ok
  if [ "$gz" -gt "$limit" ]; then verdict="OVER BUDGET"; fail=1; fi
  printf '%-6s %-32s raw %7d B (%6.1f KiB)  gzip %7d B (%5.1f KiB)  budget %3d KiB gz  %s\n' \
    "$name" "${file#"$ROOT"/}" "$raw" "$(awk -v b="$raw" 'BEGIN {print b / 1024}')" "$gz" "$(awk -v b="$gz" 'BEGIN {print b / 1024}')" "$budget_kib" "$verdict"
}

check worker "$ROOT/npm/sw/authmedia_sw_bg.wasm" "$SW_BUDGET_KIB"
check page "$ROOT/npm/dist/authmedia_web_bg.wasm" "$PAGE_BUDGET_KIB"
if [ "$fail" -ne 0 ]; then
  echo "size-budget: FAILED" >&2
  exit 1
fi
echo "size-budget: ok"
