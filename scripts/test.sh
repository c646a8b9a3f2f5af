#!/usr/bin/env bash
# The README's test command: setup, lints, docs, architecture check, native tests, wasm tests in
# headless Chromium and Firefox and in WebKitGTK, the wasm/npm build, and the end-to-end suite against a real Synapse.
# Fails fast; every section is timed. Logs of each section: tests/artifacts/test-logs/.
#
#   scripts/test.sh            everything
#   SKIP_SETUP=1 scripts/test.sh   skip scripts/setup.sh (when you know it is done)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

LOGS="$ROOT/tests/artifacts/test-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"

TOTAL_START=$(date +%s)
TIMINGS=()
PASSED=0
FAILED=0
COUNTED=()

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

print_timings() {
  echo
  echo "== section times =="
  for t in "${TIMINGS[@]}"; do echo "  $t"; done
  echo "  total: $(fmt_secs $(($(date +%s) - TOTAL_START)))"
}

# Sum the "test result: ok. N passed; M failed" lines cargo's and wasm-bindgen-test's runners print.
count_rust_results() {
  local log="$1" lines p f
  lines=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" || true)
  p=$(echo "$lines" | awk 'NF {s+=$4} END {print s+0}')
  f=$(echo "$lines" | awk 'NF {s+=$6} END {print s+0}')
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  COUNTED+=("$2: $p passed, $f failed")
}

# attempt_section NAME LOGNAME CMD...: prints a header and runs CMD with output to the terminal and
# to tests/artifacts/test-logs/LOGNAME.log; sets SECTION_RC and SECTION_TOOK (seconds).
attempt_section() {
  local name="$1" logname="$2"
  shift 2
  local start
  start=$(date +%s)
  echo
  echo "================================================================================"
  echo "== $name"
  echo "================================================================================"
  set +e
  "$@" 2>&1 | tee "$LOGS/$logname.log"
  SECTION_RC=${PIPESTATUS[0]}
  set -e
  SECTION_TOOK=$(($(date +%s) - start))
}

# finish_section NAME LOGNAME: records the time of the last attempt_section; stops on its failure.
finish_section() {
  TIMINGS+=("$(printf '%-52s %s' "$1" "$(fmt_secs "$SECTION_TOOK")")")
  if [ "$SECTION_RC" -ne 0 ]; then
    echo
    echo "!! FAILED: $1 (exit $SECTION_RC, after $(fmt_secs "$SECTION_TOOK")); log: $LOGS/$2.log"
    print_timings
    exit "$SECTION_RC"
  fi
  echo "-- ok: $1 ($(fmt_secs "$SECTION_TOOK"))"
}

# run_section NAME LOGNAME CMD...: runs CMD with output to the terminal and to a log; stops on failure.
run_section() {
  attempt_section "$@"
  finish_section "$1" "$2"
}

# run_webkit_section NAME LOGNAME CMD...: run_section for the WebKitGTK wasm runs, with one rerun
# reserved for a fault of the engine itself. Seen once in CI (stop 11): `RuntimeError: Out of
# bounds memory access` inside the `url` crate's parser in a deterministic property test of the
# core — safe Rust, the same .wasm passed in Chromium and Firefox in that run, the next test in
# the same page passed, and 60+ local WebKitGTK runs (also at 40x the iterations) never
# reproduced it. A failure is rerun only when the log shows such a JavaScriptCore trap and no
# Rust panic or assertion; a test that fails by its own check fails at once, and a fault that
# comes back fails the run. Every rerun is printed and listed in the final summary.
ENGINE_RERUNS=()
run_webkit_section() {
  local name="$1" logname="$2" log="$LOGS/$2.log"
  attempt_section "$@"
  if [ "$SECTION_RC" -ne 0 ] &&
    grep -Eq 'RuntimeError: (Out of bounds memory access|Unreachable code should not be executed|call_indirect to a null table entry)' "$log" &&
    ! grep -Eq 'panicked at|assertion .*failed' "$log"; then
    local fault
    fault=$(grep -Eo 'RuntimeError: [A-Za-z ]+' "$log" | head -1 | sed 's/ *$//')
    mv "$log" "$LOGS/$logname.engine-fault.log"
    echo
    echo "!! $name: JavaScriptCore trapped ($fault) with no Rust panic or failed assertion;"
    echo "!! rerunning this section once (first log: $LOGS/$logname.engine-fault.log)"
    ENGINE_RERUNS+=("$name: $fault after $(fmt_secs "$SECTION_TOOK"); rerun once")
    shift 2
    attempt_section "$name (rerun after an engine fault)" "$logname" "$@"
  fi
  finish_section "$name" "$logname"
}

if [ "${SKIP_SETUP:-0}" != "1" ]; then
  run_section "setup (scripts/setup.sh)" setup bash scripts/setup.sh
fi

run_section "cargo fmt --all --check" fmt cargo fmt --all --check
run_section "cargo clippy (host, all targets, -D warnings)" clippy-host \
  cargo clippy --workspace --all-targets -- -D warnings
run_section "cargo clippy (wasm32, all targets, -D warnings)" clippy-wasm \
  cargo clippy --workspace --exclude authmedia-cli --all-targets --target wasm32-unknown-unknown -- -D warnings
run_section "cargo doc (RUSTDOCFLAGS=-Dwarnings)" doc \
  env RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

# The core must stay free of JS bindings on every target (test-only dependencies are allowed).
arch_check() {
  local target out bad=0
  for target in host wasm32-unknown-unknown; do
    if [ "$target" = host ]; then
      out=$(cargo tree -p authmedia-core -e normal --prefix none)
    else
      out=$(cargo tree -p authmedia-core -e normal --prefix none --target "$target")
    fi
    echo "-- cargo tree -p authmedia-core -e normal ($target):"
    echo "$out" | sed 's/^/   /'
    if echo "$out" | grep -Eq '^(wasm-bindgen|web-sys|js-sys)( |$)'; then
      echo "!! authmedia-core depends on a JS binding crate on $target:"
      echo "$out" | grep -E '^(wasm-bindgen|web-sys|js-sys)( |$)'
      bad=1
    fi
  done
  # The check itself must be able to fail: the worker crate does depend on wasm-bindgen.
  if ! cargo tree -p authmedia-sw -e normal --prefix none --target wasm32-unknown-unknown \
    | grep -Eq '^wasm-bindgen( |$)'; then
    echo "!! sanity: the pattern did not find wasm-bindgen in authmedia-sw's tree; the check is broken"
    bad=1
  fi
  return $bad
}
run_section "architecture: authmedia-core has no wasm-bindgen/web-sys/js-sys" arch arch_check
# No import cycle between the modules of any crate; the worker and page crates stay independent.
run_section "architecture: no import cycle (scripts/check-imports.mjs)" imports node scripts/check-imports.mjs --print

run_section "cargo test --workspace" cargo-test cargo test --workspace
count_rust_results "$LOGS/cargo-test.log" "cargo test"

# wasm tests in real browsers, for every crate that has them.
# Not exported: wasm-bindgen-test-runner picks its browser from these variables, so with both in the
# environment the --chrome run silently runs Firefox again. wasm-pack gets them as flags instead.
CHROMEDRIVER_BIN="${CHROMEDRIVER:-/usr/bin/chromedriver}"
GECKODRIVER_BIN="${GECKODRIVER:-$(command -v geckodriver || true)}"
# WebKit: wasm-pack's --safari run with WebKitGTK's driver (SAFARIDRIVER) on a virtual display
# (WebKitWebDriver has no headless mode; without a display session creation hangs).
SAFARIDRIVER_BIN="${SAFARIDRIVER:-/usr/bin/WebKitWebDriver}"
unset CHROMEDRIVER GECKODRIVER SAFARIDRIVER
for crate in core js crypto sw sw-crypto web; do
  dir="crates/$crate"
  [ -d "$dir" ] || continue
  if grep -rqs 'wasm_bindgen_test' "$dir/src" "$dir/tests"; then
    # --mode no-install: use the drivers and wasm-bindgen installed by setup, never download one.
    run_section "wasm-pack test --headless --chrome --firefox $dir" "wasm-$crate" \
      wasm-pack test --mode no-install --headless --chrome --chromedriver "$CHROMEDRIVER_BIN" \
      --firefox --geckodriver "$GECKODRIVER_BIN" "$dir"
    count_rust_results "$LOGS/wasm-$crate.log" "wasm $crate (chrome+firefox)"
    run_webkit_section "wasm-pack test --safari $dir (WebKitGTK, xvfb-run)" "wasm-$crate-webkit" \
      xvfb-run -a wasm-pack test --mode no-install --headless --safari --safaridriver "$SAFARIDRIVER_BIN" "$dir"
    count_rust_results "$LOGS/wasm-$crate-webkit.log" "wasm $crate (webkit)"
  else
    echo "-- $dir has no wasm_bindgen_test tests; skipped"
  fi
done

if [ -x scripts/build.sh ] || [ -f scripts/build.sh ]; then
  run_section "build (scripts/build.sh: wasm + npm package)" build bash scripts/build.sh
fi
# Size budget of the worker's and the page's wasm, gzipped.
run_section "size budget (scripts/size-budget.sh)" size-budget bash scripts/size-budget.sh

# Fuzz smoke run (RELIABILITY.md): every cargo-fuzz target ~30 s from the committed seeds.
run_section "fuzz smoke (scripts/fuzz.sh smoke)" fuzz-smoke bash scripts/fuzz.sh smoke

# e2e_counts: "passed failed" of the last run-e2e summary (a cancelled test counts as failed).
e2e_counts() {
  [ -f tests/artifacts/e2e-summary.json ] || { echo "0 0"; return; }
  node -e 'const s=require(process.argv[1]); console.log((s.pass||0)+" "+((s.fail||0)+(s.cancelled||0)))' \
    "$ROOT/tests/artifacts/e2e-summary.json"
}

# webkit_engine_failures LOG: true when every failing test of the e2e run is in webkit.test.mjs and
# *each* failed by a WebKitGTK-side error reported by the driver — its page process crashed or hung
# ("session deleted because of page crash or hang", "Could not parse script result") — and none by
# an assertion or by a check of the test's own (a test's own timeout, e.g. "no timeupdate within",
# is an assertion about our media path and never counts as an engine fault). Each failure block
# (from its "test at" line to the next) must carry the driver's text. Seen in this project's runs:
# page crashes right after an encrypted mp4 played, about 1 full run in 6, never reproduced.
webkit_engine_failures() {
  local section files blocks faulty
  section=$(sed -n '/failing tests:/,$p' "$1")
  files=$(echo "$section" | grep -Eo '^test at tests/e2e/[^:]+' | sort -u)
  [ "$files" = "test at tests/e2e/webkit.test.mjs" ] || return 1
  echo "$section" | grep -Eq 'AssertionError|ERR_ASSERTION|no timeupdate within' && return 1
  blocks=$(echo "$section" | grep -Ec '^test at tests/e2e/')
  faulty=$(echo "$section" | awk '/^test at tests\/e2e\//{if (block != "") print block; block=""} {block = block " " $0} END {print block}' |
    grep -Ec 'session deleted because of page crash or hang|Could not parse script result' || true)
  [ "$blocks" -gt 0 ] && [ "$faulty" -ge "$blocks" ]
}

rm -f tests/artifacts/e2e-summary.json
E2E_NAME="end-to-end (node tests/run-e2e.mjs: real Synapse, real browsers)"
attempt_section "$E2E_NAME" e2e node tests/run-e2e.mjs
read -r ep ef < <(e2e_counts)
if [ "$SECTION_RC" -ne 0 ] && [ "$ef" -gt 0 ] && webkit_engine_failures "$LOGS/e2e.log"; then
  # Only WebKitGTK's own failures: that file once more, on its own (a fresh world and browser).
  TIMINGS+=("$(printf '%-52s %s' "$E2E_NAME" "$(fmt_secs "$SECTION_TOOK")")")
  mv "$LOGS/e2e.log" "$LOGS/e2e.engine-fault.log"
  echo
  echo "!! $ef e2e failure(s), all WebKitGTK page crashes/hangs or media stalls in webkit.test.mjs;"
  echo "!! rerunning that file once (first log: $LOGS/e2e.engine-fault.log)"
  first_pass=$ep
  attempt_section "e2e webkit.test.mjs (rerun after WebKitGTK engine failures)" e2e node tests/run-e2e.mjs webkit.test
  ENGINE_RERUNS+=("e2e: $ef WebKitGTK failure(s) in webkit.test.mjs; rerun of that file: exit $SECTION_RC")
  finish_section "e2e webkit.test.mjs (rerun after WebKitGTK engine failures)" e2e
  # The rerun passed every test of the file. What failed on the first run is not counted as
  # passed: it is reported as rerun (the summary lists it with the first log).
  PASSED=$((PASSED + first_pass))
  COUNTED+=("e2e: $first_pass passed, 0 failed; $ef failed on the first run with a WebKitGTK page crash and passed on the rerun of webkit.test.mjs (first log: $LOGS/e2e.engine-fault.log)")
else
  finish_section "$E2E_NAME" e2e
  PASSED=$((PASSED + ep))
  FAILED=$((FAILED + ef))
  COUNTED+=("e2e: $ep passed, $ef failed")
fi

print_timings
echo
echo "== test counts (from the runners' result lines) =="
for c in "${COUNTED[@]}"; do echo "  $c"; done
if [ "${#ENGINE_RERUNS[@]}" -gt 0 ]; then
  echo "== WebKitGTK engine faults rerun (see run_webkit_section) =="
  for c in "${ENGINE_RERUNS[@]}"; do echo "  $c"; done
fi
echo "$PASSED passed, $FAILED failed"
