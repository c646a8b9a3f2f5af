#!/usr/bin/env bash
# Size budget of the shipped wasm binaries (and the worker script): prints raw and gzipped (-9) sizes of the
# worker's wasm, script and decryption module and of the page SDK's wasm as built by scripts/build.sh (the wasm passed through
# `wasm-opt -Oz` there) and fails when a gzipped size is above its budget.
#
#   scripts/size-budget.sh                       check npm/sw + npm/dist (after scripts/build.sh)
#   SW_BUDGET_KB=48 scripts/size-budget.sh       override a budget (KB = 1000 bytes, gzipped; 59.6 is fine)
#
# Budgets (KB gzipped), each the measured size + ~5 %. The worker: 69.9 KB once its software
# AES/SHA-256 went (every service worker has WebCrypto), its string-slicing panic paths, substring
# search and B-trees went (same behaviour), and its import/export names were shortened
# (scripts/minify-wasm-names.mjs) → 73; 65.0 KB once the encrypted attachments' decryption (the
# `EncryptedFile` reader and the WebCrypto calls) moved to its own wasm, fetched by the entry script
# on the first encrypted request (crates/sw-crypto, npm/sw/authmedia_sw_crypto_bg.wasm: 22.4 KB →
# 24, checked here as it ships in the worker's files; the entry script with both glues 5.6 KB → 6),
# and the ciphertext's download went through the media handler → 69. The page: 81.7 KB after its attachment decryption (the
# software AES-CTR/SHA-256 and the WebCrypto path: only the fallback decrypts in the page) moved to
# its own wasm loaded on demand (crates/crypto, npm/dist/authmedia_crypto_bg.wasm, not budgeted
# here: worker-mode pages never fetch it), the core's cuts above, short import/export names, one
# boxed instance of the future_to_promise/spawn_local machinery and no hash map at all → 86.
# Then talc as the allocator instead of dlmalloc (every binary), `wasm-opt --low-memory-unused`, and
# the worker's own attachment refusals written out instead of formatted from `AttachmentError`:
# worker 61.6 KB → 65, its decryption module 19.7 KB → 21, page 79.6 KB → 84. Then no formatter on
# the worker's paths (keys and texts concatenated, numbers by the core's push_decimal), its state's
# RefCell borrowed in one non-inlined place, shared_task's wait non-generic, no JsFuture and no
# closure per tab question or timer, JS objects read and written through one js::get/js::set:
# worker 57.6 KB → 60 (58.1 with the CPU changes). The page, at 82.2 KB later, is 81.0 KB after one
# panic location for all its `RefCell` borrows, a `const` thread-local, one boxed spawn and
# `wasm-opt --flatten --rereloop` → 84 (+4 %); 80.9 KB once the fallback's chunked body read is
# one state machine (budget kept at 84, +4 %). The worker's encrypted attachments then served
# by its media handler with a decrypt step instead of a serving path of their own: worker 56.8 KB
# → 59.6 (budgets may have one decimal); 58.9 KB after its error bodies and ciphertexts were
# bounded and its decryption given a deadline (budget kept). The page: 81.8 KB once the instances
# of one tab share their session's token, 82.1 KB without `--flatten --rereloop` (which made a
# new request's httpUrl ~1.6x slower): budget kept at 84 (+2 %). The targets are 48 KB
# (worker) and 64 KB (page); what is left and why: BENCHMARKS.md, "Wasm weight".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SW_BUDGET_KB="${SW_BUDGET_KB:-59.6}"
SW_CRYPTO_BUDGET_KB="${SW_CRYPTO_BUDGET_KB:-21}"
SW_SCRIPT_BUDGET_KB="${SW_SCRIPT_BUDGET_KB:-6}"
PAGE_BUDGET_KB="${PAGE_BUDGET_KB:-84}"

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
  limit=$(awk -v b="$budget_kb" 'BEGIN { printf "%d", b * 1000 }')
  verdict=ok
  if [ "$gz" -gt "$limit" ]; then verdict="OVER BUDGET"; fail=1; fi
  printf '%-6s %-32s raw %7d B (%6.1f KB)  gzip %7d B (%5.1f KB)  budget %5s KB gz  %s\n' \
    "$name" "${file#"$ROOT"/}" "$raw" "$(awk -v b="$raw" 'BEGIN {print b / 1000}')" "$gz" "$(awk -v b="$gz" 'BEGIN {print b / 1000}')" "$budget_kb" "$verdict"
}

check worker "$ROOT/npm/sw/authmedia_sw_bg.wasm" "$SW_BUDGET_KB"
check sw-js "$ROOT/npm/sw/authmedia-sw.js" "$SW_SCRIPT_BUDGET_KB"
check sw-dec "$ROOT/npm/sw/authmedia_sw_crypto_bg.wasm" "$SW_CRYPTO_BUDGET_KB"
check page "$ROOT/npm/dist/authmedia_web_bg.wasm" "$PAGE_BUDGET_KB"
if [ "$fail" -ne 0 ]; then
  echo "size-budget: FAILED" >&2
  exit 1
fi
echo "size-budget: ok"
