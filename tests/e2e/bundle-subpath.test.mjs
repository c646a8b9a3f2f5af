/**
 * The npm package in apps served from a sub-path (`/sub/`, not the site root), against the real
 * Synapse in headless Chromium: the tarball (target/npm/matrix-authmedia.tgz, made by
 * scripts/build.sh) in the Vite app of tests/npm-consumer/vite-app built with `--base /sub/`, and
 * in the webpack 5 app of tests/npm-consumer/webpack-app (its `publicPath: 'auto'` default) whose
 * page loads `main.js` relatively. A fallback instance shows an encrypted attachment: the page
 * wasm, the decryption module's chunk and its wasm all resolve under `/sub/`, none at the root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadWorld } from '../../support/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { REPO } from '../pages/page/site.mjs';

const execFileP = promisify(execFile);
const TARBALL = path.join(REPO, 'target', 'npm', 'matrix-authmedia.tgz');
const TESTS = path.join(REPO, 'tests');
// Inside tests/ so the apps resolve vite and webpack from tests/node_modules (git-ignored dir).
const ARTIFACTS = path.join(TESTS, 'artifacts');

let world;
let browser;
let file;

before(async () => {
  world = await loadWorld();
  if (!existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: run scripts/build.sh`);
  file = await uploadEncrypted(world, 'bundle-subpath.png', readFixture(world.media.png64));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** A copy of tests/npm-consumer/<app> in tests/artifacts with the tarball installed. */
async function app(name) {
  const dir = path.join(ARTIFACTS, `subpath-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  cpSync(path.join(TESTS, 'npm-consumer', name), dir, { recursive: true });
  await execFileP('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefer-offline', TARBALL], { cwd: dir, timeout: 120_000 });
  return dir;
}

/** Serves `dist` at /sub/ only; shows an encrypted attachment from a fallback instance there. */
async function showsUnderSubPath(dist) {
  const site = await startStaticServer({ mounts: { '/sub/': dist } });
  const page = await browser.context.newPage();
  const requested = [];
  page.on('request', (r) => requested.push(new URL(r.url())));
  try {
    await page.goto(site.url('/sub/'));
    await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
    const r = await page.evaluate((cfg) => window.showEncrypted(cfg), {
      homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, file,
    });
    assert.deepEqual(r, { mode: 'fallback', width: world.media.png64.width });
    const ours = requested.filter((u) => u.protocol === 'http:' && u.origin === site.origin).map((u) => u.pathname);
    const wasm = ours.filter((p) => p.endsWith('.wasm'));
    assert.equal(wasm.length, 2, `the page wasm and the decryption wasm: ${ours.join(', ')}`);
    assert.deepEqual(ours.filter((p) => !p.startsWith('/sub/')), [], `requests outside /sub/: ${ours.join(', ')}`);
  } finally {
    await page.close();
    await site.close();
  }
}

test('a Vite app built with --base /sub/ and served there: the decryption module and both wasm load under /sub/', { timeout: 300_000 }, async () => {
  const dir = await app('vite-app');
  const vite = path.join(TESTS, 'node_modules', 'vite', 'bin', 'vite.js');
  await execFileP(process.execPath, [vite, 'build', '--base', '/sub/'], { cwd: dir, timeout: 180_000 });
  await showsUnderSubPath(path.join(dir, 'dist'));
});

test('a webpack 5 app served from /sub/ (publicPath auto): the decryption module and both wasm load under /sub/', { timeout: 300_000 }, async () => {
  const dir = await app('webpack-app');
  const require = createRequire(path.join(TESTS, 'package.json'));
  const webpack = require('webpack');
  const config = require(path.join(dir, 'webpack.config.cjs'));
  const stats = await new Promise((resolve, reject) => webpack(config, (err, st) => (err ? reject(err) : resolve(st))));
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  const dist = path.join(dir, 'dist');
  // The page loads its script relatively, as a page under a sub-path does.
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><meta charset="utf-8"><title>sub-path</title><div id="app"></div><script src="main.js"></script>');
  await showsUnderSubPath(dist);
});
