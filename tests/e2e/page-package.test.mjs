/**
 * The npm package `matrix-authmedia` as a consumer gets it (built by scripts/build.sh, packed into
 * target/npm/matrix-authmedia.tgz):
 * - the tarball holds the loader, types, page wasm and the worker files; `exports` resolve;
 * - in Node: using the API before init throws AuthMediaError{code:'not_initialized'}; initAsync() is
 *   idempotent; option errors carry codes;
 * - the types: tests/types/*.ts checked with tsc --noEmit (usage compiles, misuse is rejected);
 * - a fresh Vite app (tests/npm-consumer/vite-app) installs the tarball, builds, is served with the
 *   worker files copied to its root, and shows an authenticated image in headless Chromium; a
 *   fallback instance shows an encrypted attachment through the on-demand decryption module (its own
 *   chunk and wasm asset), which is fetched only then;
 * - the same with webpack 5 (tests/npm-consumer/webpack-app, through webpack's Node API);
 * - the matrix-js-sdk adapter: fromMatrixClient(client) with the real matrix-js-sdk logged in to the
 *   real Synapse shows media, follows client.setAccessToken, and client.logout() logs the media out.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { REPO, NPM_DIR } from '../pages/page/site.mjs';
import { createRequire } from 'node:module';

const execFileP = promisify(execFile);
const TARBALL = path.join(REPO, 'target', 'npm', 'matrix-authmedia.tgz');
const TESTS = path.join(REPO, 'tests');
// Inside tests/ so the app resolves vite and matrix-js-sdk from tests/node_modules (git-ignored dir).
const APP_DIR = path.join(TESTS, 'artifacts', 'npm-consumer-vite');
const WEBPACK_APP_DIR = path.join(TESTS, 'artifacts', 'npm-consumer-webpack');

let world;
let browser;
let consoleLines;
let site;

let encryptedPng;

before(async () => {
  world = await loadWorld();
  if (!existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: run scripts/build.sh`);
  encryptedPng = await uploadEncrypted(world, 'npm-consumer.png', readFixture(world.media.png64));
});

/** The `.wasm` URLs `page` requests from now on. */
function wasmRequests(page) {
  const urls = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.endsWith('.wasm')) urls.push(r.url());
  });
  return urls;
}

/**
 * A fallback instance of the built app shows an encrypted attachment: the decryption module's wasm
 * (a second asset of the bundle) is fetched then, and not before (`wasm` holds the page's one).
 */
async function showsEncryptedOnDemand(page, wasm) {
  assert.equal(new Set(wasm).size, 1, `only the page wasm before an attachment: ${wasm.join(', ')}`);
  const r = await page.evaluate((cfg) => window.showEncrypted(cfg), {
    homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, file: encryptedPng,
  });
  assert.deepEqual(r, { mode: 'fallback', width: world.media.png64.width });
  assert.equal(new Set(wasm).size, 2, `the decryption module's wasm once it is needed: ${wasm.join(', ')}`);
}

after(async () => {
  await browser?.close();
  await site?.close();
});

test('the tarball holds loader, types, page wasm and worker files; exports resolve', async () => {
  const { stdout } = await execFileP('tar', ['tzf', TARBALL]);
  const files = stdout.split('\n').filter(Boolean).sort();
  for (const f of ['package/package.json', 'package/index.js', 'package/index.d.ts', 'package/dist/authmedia_web.js', 'package/dist/authmedia_web_bg.wasm', 'package/dist/authmedia_crypto.js', 'package/dist/authmedia_crypto_bg.wasm', 'package/sw/authmedia-sw.js', 'package/sw/authmedia_sw_bg.wasm', 'package/sw/authmedia_sw_crypto_bg.wasm']) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(', ')}`);
  }
  assert.ok(!files.some((f) => f.includes('.gitignore') || f.endsWith('.rs')), files.join(', '));
  const pkg = JSON.parse(readFileSync(path.join(NPM_DIR, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'matrix-authmedia');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.equal(pkg.exports['./sw/*'], './sw/*');
});

test('Node: before init → not_initialized; initAsync is idempotent; bad options → invalid_argument', async () => {
  const m = await import(path.join(NPM_DIR, 'index.js'));
  assert.equal(m.isInitialized(), false);
  assert.throws(() => new m.AuthMedia(), (e) => e instanceof m.AuthMediaError && e.code === 'not_initialized' && /initAsync/.test(e.message));
  const bytes = readFileSync(path.join(NPM_DIR, 'dist', 'authmedia_web_bg.wasm'));
  const p1 = m.initAsync(bytes);
  const p2 = m.initAsync(bytes);
  assert.equal(p1, p2, 'initAsync must return the same promise');
  await p1;
  assert.equal(m.isInitialized(), true);
  await assert.rejects(m.AuthMedia.init({ accessToken: 't' }), (e) => e instanceof m.AuthMediaError && e.code === 'invalid_argument');
  await assert.rejects(m.AuthMedia.init({ homeserver: 'ftp://x', accessToken: 't' }), (e) => e.code === 'invalid_argument' && e instanceof Error);
  await assert.rejects(m.AuthMedia.init({ homeserver: 'https://h', accessToken: 't', fallback: 'maybe' }), (e) => e.code === 'invalid_argument');
  // A well-formed init outside a browser: a coded error, not a crash.
  await assert.rejects(m.AuthMedia.init({ homeserver: 'https://h', accessToken: 't' }), (e) => e.code === 'unsupported');
});

test('types: tsc --noEmit over tests/types (usage compiles, misuse is rejected)', async () => {
  const tsc = path.join(TESTS, 'node_modules', '.bin', 'tsc');
  const r = await execFileP(tsc, ['-p', path.join(TESTS, 'types')]).catch((e) => e);
  assert.equal(r.code ?? 0, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

test('a fresh Vite app installs the tarball, builds, and shows an authenticated image in Chromium', { timeout: 300_000 }, async () => {
  rmSync(APP_DIR, { recursive: true, force: true });
  mkdirSync(path.dirname(APP_DIR), { recursive: true });
  cpSync(path.join(TESTS, 'npm-consumer', 'vite-app'), APP_DIR, { recursive: true });
  await execFileP('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefer-offline', TARBALL], { cwd: APP_DIR, timeout: 120_000 });
  const installed = path.join(APP_DIR, 'node_modules', 'matrix-authmedia');
  assert.ok(existsSync(path.join(installed, 'dist', 'authmedia_web_bg.wasm')));
  // README: copy the worker files to the site root (Vite's public/ dir is copied there).
  mkdirSync(path.join(APP_DIR, 'public'), { recursive: true });
  for (const f of readdirSync(path.join(installed, 'sw'))) copyFileSync(path.join(installed, 'sw', f), path.join(APP_DIR, 'public', f));
  const vite = path.join(TESTS, 'node_modules', 'vite', 'bin', 'vite.js');
  await execFileP(process.execPath, [vite, 'build'], { cwd: APP_DIR, timeout: 180_000 });
  const dist = path.join(APP_DIR, 'dist');
  const assets = readdirSync(path.join(dist, 'assets'));
  for (const name of ['authmedia_web_bg', 'authmedia_crypto_bg']) {
    assert.ok(assets.some((f) => f.startsWith(name) && f.endsWith('.wasm')), `Vite did not emit ${name}.wasm: ${assets.join(', ')}`);
  }
  assert.ok(existsSync(path.join(dist, 'authmedia-sw.js')));
  site = await startStaticServer({ root: dist });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
  const page = browser.page;
  const wasm = wasmRequests(page);
  await page.goto(site.url('/'));
  await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
  const info = await page.evaluate(
    (cfg) => window.startApp(cfg),
    { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, mxc: world.media.png800.mxc },
  );
  assert.equal(info.api, 'v1');
  assert.equal(info.badMxcCode, 'invalid_mxc');
  await page.waitForFunction(() => document.getElementById('avatar').dataset.authmediaState === 'loaded', null, { timeout: 60_000 }).catch((e) => {
    throw new Error(`${e.message}\n${consoleLines.slice(-20).join('\n')}`);
  });
  const img = await page.evaluate(() => { const i = document.getElementById('avatar'); return { w: i.naturalWidth, h: i.naturalHeight, src: i.src }; });
  assert.deepEqual([img.w, img.h], [96, 96], JSON.stringify(img));
  await showsEncryptedOnDemand(page, wasm);
});

test('matrix-js-sdk adapter: fromMatrixClient shows media, follows setAccessToken, logs out with the client', { timeout: 180_000 }, async () => {
  assert.ok(browser && site, 'needs the Vite app of the previous test');
  const base = world.synapse.baseUrl;
  const a1 = await mx.login(base, 'alice', world.users.alice.password);
  const a2 = await mx.login(base, 'alice', world.users.alice.password);
  const page = browser.page;
  await page.goto(site.url('/sdk.html'));
  await page.waitForFunction(() => window.sdkReady, null, { timeout: 30_000 });
  const info = await page.evaluate((cfg) => window.startSdk(cfg), { baseUrl: base, accessToken: a1.accessToken, userId: a1.userId, mxc: world.media.png64.mxc });
  assert.deepEqual(info, { mode: 'fallback', api: 'v1' });
  await page.waitForFunction(() => document.getElementById('pic').dataset.authmediaState === 'loaded', null, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => document.getElementById('pic').naturalWidth), 64);
  // The first token dies; the client moves to the second one; the media follows.
  await mx.logout(base, a1.accessToken);
  await page.evaluate((t) => window.client.setAccessToken(t), a2.accessToken);
  const fresh = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc, { thumbnail: { width: 32, height: 32, method: 'crop' } });
    const img = new Image();
    img.src = url;
    await img.decode();
    return img.naturalWidth;
  }, world.media.png800.mxc);
  assert.equal(fresh, 32);
  // client.logout(): the server session ends and the media session with it.
  await page.evaluate(() => window.client.logout());
  const who = await mx.whoami(base, a2.accessToken).then(() => 'alive', (e) => e.errcode ?? String(e));
  assert.equal(who, 'M_UNKNOWN_TOKEN');
  const after = await page.evaluate(async (mxc) => ({ code: await window.codeOf(window.media.src(mxc)), urls: window.media.stats().fallback.objectUrls }), world.media.jpeg.mxc);
  assert.deepEqual(after, { code: 'logged_out', urls: 0 });
});

test('a fresh webpack 5 app installs the tarball, builds, and shows an authenticated image in Chromium', { timeout: 300_000 }, async () => {
  rmSync(WEBPACK_APP_DIR, { recursive: true, force: true });
  mkdirSync(path.dirname(WEBPACK_APP_DIR), { recursive: true });
  cpSync(path.join(TESTS, 'npm-consumer', 'webpack-app'), WEBPACK_APP_DIR, { recursive: true });
  await execFileP('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefer-offline', TARBALL], { cwd: WEBPACK_APP_DIR, timeout: 120_000 });
  const require = createRequire(path.join(TESTS, 'package.json'));
  const webpack = require('webpack');
  const config = require(path.join(WEBPACK_APP_DIR, 'webpack.config.cjs'));
  const stats = await new Promise((resolve, reject) => webpack(config, (err, st) => (err ? reject(err) : resolve(st))));
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  const dist = path.join(WEBPACK_APP_DIR, 'dist');
  const emitted = readdirSync(dist);
  assert.equal(emitted.filter((f) => f.endsWith('.wasm')).length, 2, `webpack did not emit the page and decryption wasm: ${emitted.join(', ')}`);
  copyFileSync(path.join(WEBPACK_APP_DIR, 'index.html'), path.join(dist, 'index.html'));
  const installed = path.join(WEBPACK_APP_DIR, 'node_modules', 'matrix-authmedia');
  for (const f of readdirSync(path.join(installed, 'sw'))) copyFileSync(path.join(installed, 'sw', f), path.join(dist, f));
  const wsite = await startStaticServer({ root: dist });
  browser ??= await launchChromium();
  const page = await browser.context.newPage();
  const lines = collectConsole(page);
  const wasm = wasmRequests(page);
  try {
    await page.goto(wsite.url('/'));
    await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
    const info = await page.evaluate(
      (cfg) => window.startApp(cfg),
      { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, mxc: world.media.jpeg.mxc },
    );
    assert.equal(info.api, 'v1');
    assert.equal(info.badMxcCode, 'invalid_mxc');
    await page.waitForFunction(() => document.getElementById('avatar').dataset.authmediaState === 'loaded', null, { timeout: 60_000 }).catch((e) => {
      throw new Error(`${e.message}\n${lines.slice(-20).join('\n')}`);
    });
    assert.deepEqual(await page.evaluate(() => [document.getElementById('avatar').naturalWidth, document.getElementById('avatar').naturalHeight]), [96, 96]);
    await showsEncryptedOnDemand(page, wasm);
  } finally {
    await page.close();
    await wsite.close();
  }
});
