/**
 * The documents say what the build and the repository hold:
 * - the size figures of README.md and FALLBACK.md agree with the current build
 *   (`scripts/doc-figures.sh --check`, within 5 %; needs scripts/build.sh);
 * - every repository file or directory the README links to exists, and the README's React snippet
 *   uses the hooks `examples/react/src/useAuthMedia.js` exports;
 * - the README's copy command of the worker copies every file the package ships in `sw/`;
 * - the README keeps its two commands (demo, every test) on its first screen, the quick start
 *   before the reference, and an Appendix at the end for other sections;
 * - CHANGELOG.md follows Keep a Changelog with an `[Unreleased]` section and the versioning policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../pages/page/site.mjs';

const execFileP = promisify(execFile);
const read = (f) => readFileSync(path.join(REPO, f), 'utf8');

test('the size figures in README.md and FALLBACK.md come from the build (scripts/doc-figures.sh --check)', async () => {
  const r = await execFileP('bash', [path.join(REPO, 'scripts', 'doc-figures.sh'), '--check'], { cwd: REPO }).catch((e) => e);
  assert.equal(r.code ?? 0, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /agree with the build/);
});

test('README: links to repository files resolve; the React snippet uses the example hooks', () => {
  const readme = read('README.md');
  const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]);
  assert.ok(links.length >= 8, `expected links to repository files, found ${links.join(', ')}`);
  for (const l of links) assert.ok(existsSync(path.join(REPO, l)), `README links to ${l}, which does not exist`);
  const hooks = read('examples/react/src/useAuthMedia.js');
  const used = readme.match(/import \{ ([^}]+) \} from '\.\/useAuthMedia\.js'/);
  assert.ok(used, 'the README imports the hooks from ./useAuthMedia.js');
  for (const name of used[1].split(',').map((s) => s.trim())) {
    assert.match(hooks, new RegExp(`export function ${name}\\(`), `${name} is not exported by the example`);
  }
});

test('README: every copy command of the worker copies every file the package ships in sw/', () => {
  const readme = read('README.md');
  const shipped = readdirSync(path.join(REPO, 'npm', 'sw')).filter((f) => !f.startsWith('.'));
  assert.ok(shipped.includes('authmedia-sw.js') && shipped.length >= 3, `npm/sw is built: ${shipped.join(', ')}`);
  const copies = readme.split('\n').filter((l) => /^\s*cp\b.*matrix-authmedia\/sw\//.test(l));
  assert.ok(copies.length >= 1, 'the README shows how to copy the worker files');
  for (const line of copies) {
    for (const f of shipped) assert.ok(line.includes('sw/*') || line.includes(f), `"${line.trim()}" does not copy ${f}`);
  }
});

test('README: the two commands on the first screen, quick start before reference, Appendix last', () => {
  const readme = read('README.md');
  const firstScreen = readme.split('\n').slice(0, 30).join('\n');
  assert.match(firstScreen, /^scripts\/demo\.sh\b/m);
  assert.match(firstScreen, /^scripts\/test\.sh\b/m);
  const heads = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.equal(heads[0], 'Quick start', heads.join(' | '));
  assert.ok(heads.indexOf('Reference') > 0, heads.join(' | '));
  assert.ok(heads.includes('Appendix'), heads.join(' | '));
  for (const needle of ["from 'matrix-authmedia/vite'", "require('matrix-authmedia/webpack')", 'fromMatrixClient(client)', '<script type="importmap">', 'useAuthMedia(session)']) {
    assert.ok(readme.indexOf(needle) > 0 && readme.indexOf(needle) < readme.indexOf('\n## Reference'), `${needle} belongs to the quick start`);
  }
});

test('CHANGELOG.md: Keep a Changelog, an [Unreleased] section, the versioning policy with the protocol rule', () => {
  const log = read('CHANGELOG.md');
  assert.match(log, /^# Changelog\n/);
  assert.match(log, /keepachangelog\.com/);
  assert.match(log, /^## \[Unreleased\]$/m);
  assert.match(log, /^## Versioning policy$/m);
  assert.match(log, /page ↔ worker protocol/);
});
