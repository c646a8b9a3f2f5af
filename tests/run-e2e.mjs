#!/usr/bin/env node
/**
 * End-to-end runner: starts the shared test world (support/world.mjs) once, writes it to
 * tests/artifacts/world-<pid>.json (one file per run, so runs side by side in one checkout do not
 * read each other's Synapse; removed at the end), runs the e2e test files with `node --test --test-concurrency=1` and
 * AUTHMEDIA_WORLD=<that file>, forwards the exit code, and stops Synapse in every case.
 *
 * Usage:
 *   node tests/run-e2e.mjs                 every tests/e2e/*.test.mjs
 *   node tests/run-e2e.mjs smoke worker    files whose name contains "smoke" or "worker"
 *   node tests/run-e2e.mjs tests/e2e/x.test.mjs
 *
 * Leaves in tests/artifacts/: e2e.tap (TAP of the run), e2e-summary.json
 * ({pass, fail, skipped, todo, cancelled, files, durationMs}) and synapse.log.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorld } from '../support/world.mjs';
import { spawnGroup } from '../support/procs.mjs';

const TESTS = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(TESTS);
const E2E = path.join(TESTS, 'e2e');
const ARTIFACTS = path.join(TESTS, 'artifacts');

function selectFiles(args) {
  const all = existsSync(E2E)
    ? readdirSync(E2E)
        .filter((f) => f.endsWith('.test.mjs'))
        .sort()
        .map((f) => path.join(E2E, f))
    : [];
  if (args.length === 0) return all;
  const chosen = new Set();
  for (const arg of args) {
    // A path only when it names a test file: `examples` or `demo` are also directories of the
    // repository, and node --test given a directory without test files runs nothing.
    if (arg.endsWith('.test.mjs') && existsSync(arg)) {
      chosen.add(path.resolve(arg));
      continue;
    }
    const matches = all.filter((f) => path.basename(f).includes(arg));
    if (matches.length === 0) throw new Error(`no e2e test file matches "${arg}"`);
    for (const m of matches) chosen.add(m);
  }
  return [...chosen];
}

/** Remove test Synapse dirs left by runs whose process is gone. */
function removeStaleWorlds() {
  const local = path.join(REPO, '.local');
  if (!existsSync(local)) return;
  for (const name of readdirSync(local)) {
    const m = /^test-synapse-(\d+)$/.exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) rmSync(path.join(local, name), { recursive: true, force: true });
  }
}

function parseTap(file) {
  const summary = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  let found = false;
  for (const key of Object.keys(summary)) {
    const m = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text);
    if (m) {
      summary[key] = Number(m[1]);
      found = true;
    }
  }
  return found ? summary : null;
}

async function main() {
  const files = selectFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error('run-e2e: no test files found under tests/e2e');
    return 1;
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  removeStaleWorlds();
  const started = Date.now();
  console.log(`run-e2e: starting Synapse and seeding the test world…`);
  const world = await startWorld();
  let code = 1;
  let worldFile = null;
  try {
    worldFile = path.join(ARTIFACTS, `world-${process.pid}.json`);
    writeFileSync(worldFile, JSON.stringify(world, null, 2) + '\n', { mode: 0o600 });
    console.log(
      `run-e2e: world ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${world.synapse.baseUrl}); ` +
        `running ${files.length} file(s)`,
    );
    const tap = path.join(ARTIFACTS, `e2e-${process.pid}.tap`);
    rmSync(tap, { force: true });
    const runner = spawnGroup(
      process.execPath,
      [
        '--test',
        '--test-concurrency=1',
        // A hung test (or file) fails after 20 minutes instead of hanging CI; tests set their own,
        // shorter timeouts. Node applies this to each file as a whole too, and a loaded 2-core machine
        // has taken more than 10 minutes for the demo file.
        '--test-timeout=1200000',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
        ...files,
      ],
      { cwd: REPO, env: { ...process.env, AUTHMEDIA_WORLD: worldFile }, stdio: 'inherit', keepAlive: true },
    );
    const { code: exitCode, signal } = await runner.exited;
    code = exitCode ?? (signal ? 1 : 0);
    const summary = parseTap(tap);
    if (existsSync(tap)) {
      copyFileSync(tap, path.join(ARTIFACTS, 'e2e.tap'));
      rmSync(tap, { force: true });
    }
    const durationMs = Date.now() - started;
    writeFileSync(
      path.join(ARTIFACTS, 'e2e-summary.json'),
      JSON.stringify({ ...(summary ?? {}), files: files.length, durationMs, exitCode: code }, null, 2) + '\n',
    );
    if (summary) {
      console.log(
        `run-e2e: ${summary.pass} passed, ${summary.fail} failed, ${summary.cancelled} cancelled ` +
          `(timed out or aborted), ${summary.skipped} skipped in ${(durationMs / 1000).toFixed(1)} s` +
          (code !== 0 ? ` — exit code ${code}` : ''),
      );
    }
  } finally {
    if (worldFile) rmSync(worldFile, { force: true });
    await world.stop();
    try {
      copyFileSync(world.synapse.logFile, path.join(ARTIFACTS, 'synapse.log'));
    } catch {
      // no log to keep
    }
    rmSync(world.synapse.dir, { recursive: true, force: true });
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`run-e2e: ${err.stack ?? err}`);
    process.exit(1);
  },
);
