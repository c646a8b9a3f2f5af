#!/usr/bin/env bash
# A sample `authmedia probe` report from a local Synapse (the test suite's configuration:
# authenticated media on, so the legacy endpoints are frozen).
#
#   scripts/probe-sample.sh                  prints the report (table)
#   scripts/probe-sample.sh --json           prints the JSON report
#   scripts/probe-sample.sh --write-readme   puts the table into README.md between the
#                                            `probe-sample` markers
#
# Builds the CLI, starts Synapse in .local/probe-sample-<pid> (removed afterwards), registers a
# user, and runs `authmedia probe <synapse> --upload --origin http://localhost:5173`. Needs the
# Synapse venv of scripts/setup.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

MODE=table
case "${1:-}" in
  "") ;;
  --json) MODE=json ;;
  --write-readme) MODE=readme ;;
  *) echo "usage: scripts/probe-sample.sh [--json | --write-readme]" >&2; exit 2 ;;
esac

cargo build -q -p authmedia-cli
BIN="$ROOT/target/debug/authmedia"
ORIGIN="http://localhost:5173"

REPORT=$(AUTHMEDIA_PROBE_MODE="$MODE" AUTHMEDIA_BIN="$BIN" AUTHMEDIA_ORIGIN="$ORIGIN" node --input-type=module -e '
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { startSynapse, REPO_ROOT } from "./support/synapse.mjs";
import { registerUser } from "./support/matrix.mjs";

const dir = path.join(REPO_ROOT, ".local", `probe-sample-${process.pid}`);
rmSync(dir, { recursive: true, force: true });
const synapse = await startSynapse({ dir, authenticatedMedia: true });
let code = 0;
try {
  const user = await registerUser(synapse.baseUrl, synapse.registrationSecret, "probe", "probe-password-1");
  const args = ["probe", synapse.baseUrl, "--upload", "--origin", process.env.AUTHMEDIA_ORIGIN];
  if (process.env.AUTHMEDIA_PROBE_MODE === "json") args.push("--json");
  const out = await new Promise((resolve) => {
    // The token goes through the environment, not the command line.
    execFile(process.env.AUTHMEDIA_BIN, args, { env: { ...process.env, AUTHMEDIA_TOKEN: user.accessToken } },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  process.stderr.write(out.stderr);
  process.stdout.write(out.stdout);
  code = typeof out.code === "number" ? out.code : 1;
} finally {
  await synapse.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = code;
') || STATUS=$?
STATUS=${STATUS:-0}

# Ports and media ids change from run to run; the rest is what the probe printed.
if [ "$MODE" = readme ]; then
  REPORT="$REPORT" STATUS="$STATUS" python3 - <<'PY'
import os, re
readme = open("README.md", encoding="utf-8").read()
start, end = "<!-- probe-sample:start -->", "<!-- probe-sample:end -->"
if start not in readme or end not in readme:
    raise SystemExit("README.md has no probe-sample markers")
report = os.environ['REPORT']
m = re.match(r"authmedia probe (\S+)", report)
base = m.group(1) if m else "http://127.0.0.1:PORT"
block = f"{start}\n```text\n$ AUTHMEDIA_TOKEN=… authmedia probe {base} --upload --origin http://localhost:5173\n{os.environ['REPORT'].rstrip()}\n$ echo $?\n{os.environ['STATUS']}\n```\n{end}"
head, rest = readme.split(start, 1)
_, tail = rest.split(end, 1)
open("README.md", "w", encoding="utf-8").write(head + block + tail)
PY
  echo "README.md updated (exit status of the probe: $STATUS)" >&2
else
  printf '%s\n' "$REPORT"
fi
exit 0
