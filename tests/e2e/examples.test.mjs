/**
 * The README's examples and the bundler plugins, as a user gets them: the packed tarball
 * (target/npm/matrix-authmedia.tgz, built by scripts/build.sh) installed into a fresh copy of each
 * app, each app served from a sub-path or the site root, driven in headless Chromium (a fresh
 * profile each: the first load) against the real Synapse.
 *
 * - examples/react, `vite build` with `matrix-authmedia/vite` and `base: '/app/'`: the worker files
 *   are emitted at /app/ (the package's bytes), the page declares them (meta element), and with no
 *   `workerUrl` the worker at /app/authmedia-sw.js controls the page; after the login form the
 *   gallery's images and the `useMediaSrc` cover load, and a tokenless fetch of a v1 media URL from
 *   the page succeeds (only the worker can add the token);
 * - the same app under `vite dev` (the plugin's middleware serves the worker from node_modules);
 * - a webpack 5 app with `matrix-authmedia/webpack` (`publicPath: 'auto'`), served under /app/;
 * - examples/importmap: one HTML file, no bundler, the package copied to /vendor/, an import map.
 *
 * Each test prints what `init` resolved with on its fresh profile (README, "the first load").
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadWorld } from '../../support/world.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { freePort } from '../../support/procs.mjs';
import { REPO } from '../pages/page/site.mjs';

const execFileP = promisify(execFile);
const TARBALL = path.join(REPO, 'target', 'npm', 'matrix-authmedia.tgz');
const TESTS = path.join(REPO, 'tests');
const EXAMPLES = path.join(REPO, 'examples');
// Inside tests/ so the apps resolve vite, react and webpack from tests/node_modules.
const WORK = path.join(TESTS, 'artifacts', 'examples');
const WORKER_FILES = ['authmedia-sw.js', 'authmedia_sw_bg.wasm', 'authmedia_sw_crypto_bg.wasm'];

let world;
let mxcs;

before(async () => {
  world = await loadWorld();
  if (!existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: run scripts/build.sh`);
  mxcs = [world.media.png800.mxc, world.media.jpeg.mxc];
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
});

after(() => {
  rmSync(WORK, { recursive: true, force: true });
});

/** A fresh app directory: `files` copied from `from`, a minimal package.json, the tarball installed. */
async function freshApp(name, from, files) {
  const dir = path.join(WORK, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) cpSync(path.join(from, f), path.join(dir, f), { recursive: true });
  // Not the example's own package.json: its dependencies would be fetched from the registry; here
  // react, vite and webpack come from tests/node_modules.
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `authmedia-${name}`, private: true, type: 'module' }));
  await execFileP('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefer-offline', TARBALL], { cwd: dir, timeout: 120_000 });
  return dir;
}

const installedSw = (dir, f) => readFileSync(path.join(dir, 'node_modules', 'matrix-authmedia', 'sw', f));

/**
 * Logs in through the example's form, then waits for: every gallery image loaded, the worker at
 * `workerPath` controlling the page and the SDK in worker mode. Returns what it saw.
 */
async function loginAndCheck(page, lines, { workerPath, coverSelector }) {
  await page.fill('input[name=homeserver]', world.synapse.baseUrl);
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', world.users.alice.password);
  await page.fill('textarea[name=mxcs]', mxcs.join('\n'));
  await page.click('button[type=submit]');
  const fail = (what) => (e) => {
    throw new Error(`${what}: ${e.message}\n${lines.slice(-30).join('\n')}`);
  };
  const firstMode = await page
    .waitForFunction(() => /^(worker|fallback)$/.test(document.getElementById('mode')?.textContent ?? '') && document.getElementById('mode').textContent, null, { timeout: 60_000 })
    .then((h) => h.jsonValue())
    .catch(fail('init'));
  await page
    .waitForFunction((n) => {
      const imgs = [...document.querySelectorAll('img[data-mxc]')];
      return imgs.length === n && imgs.every((i) => i.dataset.authmediaState === 'loaded' && i.complete && i.naturalWidth > 0);
    }, mxcs.length, { timeout: 60_000 })
    .catch(fail('gallery'));
  await page
    .waitForFunction(() => document.getElementById('mode').textContent === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 })
    .catch(fail('worker mode'));
  const seen = await page.evaluate(
    async ({ base, mxc, coverSelector }) => {
      const [server, id] = mxc.slice('mxc://'.length).split('/');
      // No Authorization here: a 200 means the controlling worker added the token.
      const res = await fetch(`${base}/_matrix/client/v1/media/download/${server}/${id}?probe=${Math.random()}`, { cache: 'no-store' });
      const imgs = [...document.querySelectorAll('img[data-mxc]')];
      return {
        controller: new URL(navigator.serviceWorker.controller.scriptURL).pathname,
        scope: (await navigator.serviceWorker.getRegistration()).scope,
        tokenlessFetch: res.status,
        sizes: imgs.map((i) => [i.naturalWidth, i.naturalHeight]),
        blobs: imgs.filter((i) => i.src.startsWith('blob:')).length,
        cover: coverSelector ? document.querySelector(coverSelector)?.dataset.src ?? null : null,
      };
    },
    { base: world.synapse.baseUrl, mxc: mxcs[1], coverSelector },
  );
  assert.equal(seen.controller, workerPath, JSON.stringify(seen));
  assert.equal(seen.tokenlessFetch, 200, `the worker did not authenticate the page's media request: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.sizes, mxcs.map(() => [96, 96]), JSON.stringify(seen));
  // Elements shown before a switch keep their blob: URLs (README, "the first load").
  if (firstMode === 'worker') assert.equal(seen.blobs, 0, JSON.stringify(seen));
  return { firstMode, ...seen };
}

async function withBrowser(fn) {
  const browser = await launchChromium();
  const lines = collectConsole(browser.page);
  try {
    return await fn(browser.page, lines);
  } finally {
    await browser.close();
  }
}

let reactApp;

test('examples/react + matrix-authmedia/vite, vite build, base /app/: worker emitted and declared; worker mode with no workerUrl; media loads', { timeout: 300_000 }, async (t) => {
  reactApp = await freshApp('react', path.join(EXAMPLES, 'react'), ['index.html', 'vite.config.js', 'src']);
  const vite = path.join(TESTS, 'node_modules', 'vite', 'bin', 'vite.js');
  await execFileP(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: reactApp, timeout: 180_000 });
  const dist = path.join(reactApp, 'dist');
  for (const f of WORKER_FILES) {
    assert.ok(readFileSync(path.join(dist, f)).equals(installedSw(reactApp, f)), `dist/${f} is not the package's ${f}`);
  }
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
  assert.match(html, /<meta name="matrix-authmedia-worker" content="\/app\/authmedia-sw\.js">/);
  // Nothing at the site root: the app and its worker live under /app/ only.
  const site = await startStaticServer({ mounts: { '/app/': dist } });
  try {
    const seen = await withBrowser(async (page, lines) => {
      await page.goto(site.url('/app/'));
      return loginAndCheck(page, lines, { workerPath: '/app/authmedia-sw.js', coverSelector: '#cover' });
    });
    assert.equal(seen.scope, site.url('/app/'));
    assert.match(seen.cover ?? '', /^(https?:|blob:)/, 'useMediaSrc gave the cover a URL');
    assert.ok(!site.requests.some((r) => r.url.startsWith('/authmedia')), 'nothing asked for the worker at the site root');
    t.diagnostic(`first load (vite build): init resolved in ${seen.firstMode} mode`);
  } finally {
    await site.close();
  }
});

test('examples/react under vite dev: the plugin serves the worker from node_modules at /app/; worker mode; media loads', { timeout: 300_000 }, async (t) => {
  assert.ok(reactApp, 'needs the app of the previous test');
  const { createServer } = await import('vite');
  const port = await freePort();
  const server = await createServer({
    root: reactApp,
    configFile: path.join(reactApp, 'vite.config.js'),
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
  });
  try {
    await server.listen();
    const origin = `http://127.0.0.1:${port}`;
    for (const f of WORKER_FILES) {
      const res = await fetch(`${origin}/app/${f}`);
      assert.equal(res.status, 200, f);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(installedSw(reactApp, f)), `dev server's /app/${f} is not the package's`);
      assert.equal(res.headers.get('content-type').split(';')[0], f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
    }
    const seen = await withBrowser(async (page, lines) => {
      await page.goto(`${origin}/app/`);
      return loginAndCheck(page, lines, { workerPath: '/app/authmedia-sw.js', coverSelector: '#cover' });
    });
    t.diagnostic(`first load (vite dev): init resolved in ${seen.firstMode} mode`);
  } finally {
    await server.close();
  }
});

test('webpack 5 + matrix-authmedia/webpack, publicPath auto, served under /app/: worker emitted; worker mode with no workerUrl; media loads', { timeout: 300_000 }, async (t) => {
  const app = await freshApp('webpack-plugin', path.join(TESTS, 'npm-consumer', 'webpack-plugin-app'), ['index.html', 'webpack.config.cjs', 'src']);
  const require = createRequire(path.join(TESTS, 'package.json'));
  const webpack = require('webpack');
  const config = require(path.join(app, 'webpack.config.cjs'));
  const stats = await new Promise((resolve, reject) => webpack(config, (err, st) => (err ? reject(err) : resolve(st))));
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  const dist = path.join(app, 'dist');
  for (const f of WORKER_FILES) {
    assert.ok(readFileSync(path.join(dist, f)).equals(installedSw(app, f)), `dist/${f} is not the package's ${f}`);
  }
  cpSync(path.join(app, 'index.html'), path.join(dist, 'index.html'));
  const site = await startStaticServer({ mounts: { '/app/': dist } });
  try {
    const seen = await withBrowser(async (page, lines) => {
      await page.goto(site.url('/app/'));
      await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
      const info = await page.evaluate(
        (cfg) => window.startApp(cfg),
        { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, mxc: mxcs[0] },
      );
      await page
        .waitForFunction(() => window.media.mode === 'worker' && document.getElementById('avatar').dataset.authmediaState === 'loaded', null, { timeout: 60_000 })
        .catch((e) => {
          throw new Error(`${e.message}\n${lines.slice(-30).join('\n')}`);
        });
      return page.evaluate(async (first) => ({
        first,
        declared: globalThis.__MATRIX_AUTHMEDIA_WORKER_URL__,
        controller: new URL(navigator.serviceWorker.controller.scriptURL).pathname,
        size: [document.getElementById('avatar').naturalWidth, document.getElementById('avatar').naturalHeight],
      }), info);
    });
    assert.equal(seen.declared, site.url('/app/authmedia-sw.js'));
    assert.equal(seen.controller, '/app/authmedia-sw.js');
    assert.deepEqual(seen.size, [96, 96]);
    t.diagnostic(`first load (webpack): init resolved in ${seen.first.mode} mode${seen.first.reason ? ` (${seen.first.reason})` : ''}`);
  } finally {
    await site.close();
  }
});

test('examples/importmap: no bundler, the package under /vendor/ through an import map; worker mode; media loads', { timeout: 300_000 }, async (t) => {
  const pkgDir = path.join(await freshApp('importmap-install', EXAMPLES, []), 'node_modules', 'matrix-authmedia');
  // The deployment the example describes: the package → /vendor/matrix-authmedia/, sw/* → the root.
  const site = path.join(WORK, 'importmap-site');
  mkdirSync(site, { recursive: true });
  cpSync(path.join(EXAMPLES, 'importmap', 'index.html'), path.join(site, 'index.html'));
  cpSync(pkgDir, path.join(site, 'vendor', 'matrix-authmedia'), { recursive: true });
  for (const f of WORKER_FILES) cpSync(path.join(pkgDir, 'sw', f), path.join(site, f));
  const server = await startStaticServer({ root: site });
  try {
    const seen = await withBrowser(async (page, lines) => {
      await page.goto(server.url('/'));
      return loginAndCheck(page, lines, { workerPath: '/authmedia-sw.js' });
    });
    t.diagnostic(`first load (import map): init resolved in ${seen.firstMode} mode`);
  } finally {
    await server.close();
  }
});
