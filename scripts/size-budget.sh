#!/usr/bin/env bash
# Size budget of the shipped wasm binaries (issue 6): prints raw and gzipped (-9) sizes of the
# worker's and the page SDK's wasm as built by scripts/build.sh (both already passed through
# `wasm-opt -Oz` there) and fails when a gzipped size is above its budget.
#
#   scripts/size-budget.sh                       check npm/sw + npm/dist (after scripts/build.sh)
#   SW_BUDGET_KB=48 scripts/size-budget.sh       override a budget (KB = 1000 bytes, gzipped)
#
# Budgets: the issue starts at 100 KB gzipped per binary. Measured on 2026-11-27 15:40 UTC (after the
# encrypted-attachment code landed in both binaries) the worker was 72.8 KB and the page 87.8 KB
# gzipped: the page keeps the issue's 100 KB, the worker is held at 90 KB. Tighten them as the
# binaries shrink (the worker's target is 48 KB gzipped, see BENCHMARKS.md). The page went to
# 102 KB when it took the homeserver's media URLs as input (`hs_urls`: the core's URL classifier,
# about 3.5 KB gzipped, on top of 97.8 KB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SW_BUDGET_KB="${SW_BUDGET_KB:-90}"
PAGE_BUDGET_KB="${PAGE_BUDGET_KB:-102}"

fail=0
check() {
  local name="$1" file="$2" budget_kb="$3"
  if [ ! -f "$file" ]; then
    echo "size-budget: $file is missing (run scripts/build.sh first)" >&2
    fail=1
    return
  fi
  local raw gz limit verdict
  raw=$(wc -c <"$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  limit=$((budget_kb * 1000))
  verdict=ok
  if [ "$gz" -gt "$limit" ]; then verdict="OVER BUDGET"; fail=1; fi
  printf '%-6s %-32s raw %7d B (%6.1f KB)  gzip %7d B (%5.1f KB)  budget %3d KB gz  %s\n' \
    "$name" "${file#"$ROOT"/}" "$raw" "$(awk -v b="$raw" 'BEGIN {print b / 1000}')" "$gz" "$(awk -v b="$gz" 'BEGIN {print b / 1000}')" "$budget_kb" "$verdict"
}

check worker "$ROOT/npm/sw/authmedia_sw_bg.wasm" "$SW_BUDGET_KB"
check page "$ROOT/npm/dist/authmedia_web_bg.wasm" "$PAGE_BUDGET_KB"
if [ "$fail" -ne 0 ]; then
  echo "size-budget: FAILED" >&2
  exit 1
fi
echo "size-budget: ok"
