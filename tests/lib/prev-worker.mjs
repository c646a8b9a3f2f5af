/**
 * The previous release's service worker files (authmedia-sw.js + authmedia_sw_bg.wasm), built from
 * git: what a site still serves when the package was updated but the copied worker files were not.
 *
 *   prevWorkerDir() → Promise<directory holding both files>
 *
 * Built once from PREV_WORKER_COMMIT (a temporary `git worktree`, its own `scripts/build-sw.sh`)
 * into target/prev-worker-<commit>/ and reused from there; AUTHMEDIA_PREV_WORKER_DIR names a
 * directory with the two files instead. Needs the repository's history (not a shallow clone).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The last commit before the page ↔ worker handshake carried a protocol version. */
export const PREV_WORKER_COMMIT = '2ff2933';

const FILES = ['authmedia-sw.js', 'authmedia_sw_bg.wasm'];

export async function prevWorkerDir() {
  const given = process.env.AUTHMEDIA_PREV_WORKER_DIR;
  if (given) {
    for (const f of FILES) if (!existsSync(path.join(given, f))) throw new Error(`AUTHMEDIA_PREV_WORKER_DIR: ${f} missing in ${given}`);
    return given;
  }
  const out = path.join(REPO, 'target', `prev-worker-${PREV_WORKER_COMMIT}`);
  if (FILES.every((f) => existsSync(path.join(out, f)))) return out;
  const git = (...args) => execFileSync('git', ['-C', REPO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  try {
    git('cat-file', '-e', `${PREV_WORKER_COMMIT}^{commit}`);
  } catch {
    throw new Error(`commit ${PREV_WORKER_COMMIT} is not in this clone (a shallow clone?): fetch the history, or set AUTHMEDIA_PREV_WORKER_DIR`);
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'authmedia-prev-worker-'));
  const tree = path.join(tmp, 'tree');
  git('worktree', 'add', '--detach', tree, PREV_WORKER_COMMIT);
  try {
    // The old build uses the same tools: the toolchain setup and the wasm-opt of tests/node_modules.
    if (existsSync(path.join(REPO, '.local'))) symlinkSync(path.join(REPO, '.local'), path.join(tree, '.local'));
    symlinkSync(path.join(REPO, 'tests', 'node_modules'), path.join(tree, 'tests', 'node_modules'));
    execFileSync('bash', [path.join(tree, 'scripts', 'build-sw.sh')], {
      cwd: tree,
      stdio: ['ignore', 'inherit', 'inherit'],
      // Its own target dir under ours: rebuilt incrementally, never mixed with the current build.
      env: { ...process.env, CARGO_TARGET_DIR: path.join(REPO, 'target', 'prev-worker-build') },
    });
    mkdirSync(out, { recursive: true });
    for (const f of FILES) copyFileSync(path.join(tree, 'sw', 'dist', f), path.join(out, f));
  } finally {
    try {
      git('worktree', 'remove', '--force', tree);
    } catch {
      // removed below; `git worktree prune` forgets it
    }
    rmSync(tmp, { recursive: true, force: true });
    try {
      git('worktree', 'prune');
    } catch {
      // nothing to prune
    }
  }
  return out;
}
