#!/usr/bin/env bash
# Fuzzing authmedia-core with cargo-fuzz (libFuzzer, nightly). See RELIABILITY.md.
#
#   scripts/fuzz.sh smoke [TARGET...]   each target for FUZZ_SECS seconds (default 30): CI
#   scripts/fuzz.sh long  [TARGET...]   each target to FUZZ_RUNS executions (default 10000000)
#   scripts/fuzz.sh build               build every target only
#   scripts/fuzz.sh list                print the target names
#
# Targets run one after another, one libFuzzer process each (no -jobs). Each starts from the
# committed seeds in fuzz/corpus/<target>/ (read only) plus its working corpus fuzz/work/<target>/
# (ignored by git, grown by libFuzzer). Crash inputs land in fuzz/artifacts/<target>/. Prints a
# per-target table (executions, exec/s, corpus, coverage, crashes) and writes it to
# fuzz/work/<mode>-summary.txt. Exits non-zero if any target crashed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_FUZZ_VERSION=0.13.1
MODE="${1:-smoke}"
shift || true

# --- tools (idempotent) -------------------------------------------------------------------
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "[fuzz] installing the nightly toolchain (rustup)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "[fuzz] cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# --sanitizer none: the core is `unsafe_code = "forbid"`, so AddressSanitizer would only slow
# every execution down. --debug-assertions also turns on integer overflow checks.
BUILD_FLAGS=(--sanitizer none --debug-assertions)
# Slowest (url_build: structured input, several URL parses per execution) last.
ALL_TARGETS=(mxc_parse homeserver classify versions matrix_error url_build retry gate lifecycle)
if [ -f fuzz/fuzz_targets/attachment.rs ]; then ALL_TARGETS+=(attachment); fi

dict_for() {
  case "$1" in
    mxc_parse | homeserver | classify) echo "fuzz/dict/url.dict" ;;
    versions | matrix_error | attachment) echo "fuzz/dict/json.dict" ;;
    *) echo "" ;;
  esac
}

case "$MODE" in
  list) printf '%s\n' "${ALL_TARGETS[@]}"; exit 0 ;;
  build) cargo +nightly fuzz build "${BUILD_FLAGS[@]}"; exit 0 ;;
  smoke) LIMIT=(-max_total_time="${FUZZ_SECS:-30}") ;;
  long) LIMIT=(-runs="${FUZZ_RUNS:-10000000}") ;;
  *) echo "usage: $0 smoke|long|build|list [TARGET...]" >&2; exit 2 ;;
esac
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

echo "[fuzz] building ${TARGETS[*]} ($(cargo +nightly --version))"
for t in "${TARGETS[@]}"; do
  cargo +nightly fuzz build "${BUILD_FLAGS[@]}" "$t"
done

mkdir -p fuzz/work
SUMMARY="fuzz/work/$MODE-summary.txt"
{
  echo "# scripts/fuzz.sh $MODE, $(date -u '+%Y-%m-%d %H:%M UTC'), $(cargo +nightly --version), cargo-fuzz $CARGO_FUZZ_VERSION"
  printf '%-13s %12s %9s %8s %20s %8s %8s %s\n' target executions exec/s seconds "corpus (units/bytes)" cov ft crashes
} >"$SUMMARY"

STATUS=0
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  log="fuzz/work/$t-$MODE.log"
  dict="$(dict_for "$t")"
  args=("${LIMIT[@]}" -max_len=4096 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
    -artifact_prefix="fuzz/artifacts/$t/")
  [ -n "$dict" ] && args+=(-dict="$dict")
  echo "[fuzz] $t: ${args[*]}"
  start=$(date +%s)
  touch "$log.start"
  set +e
  # The working corpus comes first: libFuzzer writes new inputs only into the first directory.
  cargo +nightly fuzz run "${BUILD_FLAGS[@]}" "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  crashes=$(find "fuzz/artifacts/$t" -type f -newer "$log.start" | wc -l)
  printf '%-13s %12s %9s %8s %20s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$secs" "${corp:-?}" \
    "${cov:-?}" "${ft:-?}" "$crashes" >>"$SUMMARY"
  if [ "$rc" -ne 0 ]; then
    STATUS=1
    echo "!! [fuzz] $t failed (exit $rc); log $log; last lines:"
    tail -40 "$log"
  fi
done

echo
cat "$SUMMARY"
exit "$STATUS"
