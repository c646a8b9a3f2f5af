/**
 * Token refresh with the real matrix-js-sdk (tests/package.json: the current major) and a real
 * Synapse whose access tokens expire after a few seconds (`refreshable_access_token_lifetime`),
 * through `fromMatrixClient`, in worker mode and in the fallback (Chromium):
 *
 * three refreshes in a row, and after each one a new image loads. The adapter must never refresh
 * by itself: the client's own refresh flow runs (matrix-js-sdk's TokenManager, an OAuth2 refresh
 * grant — tests/lib/oauth-shim.mjs turns it into Synapse's /refresh), rotates the refresh token,
 * calls the app's `onTokenRefresh` (the app's store gets both tokens each time), and the media
 * follow the token the client then holds. Every grant uses the refresh token the previous one
 * produced (a reused refresh token is refused by Synapse); the page never calls the legacy
 * /refresh itself.
 *
 * Expiry is waited for by condition: Synapse is asked (whoami) until it refuses the token the
 * client holds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSynapse } from '../../support/synapse.mjs';
import * as mx from '../../support/matrix.mjs';
import { encodeRgbPng } from '../lib/png.mjs';
import { waitUntil } from '../../support/procs.mjs';
import { startOAuthShim } from '../lib/oauth-shim.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { REPO, NPM_DIR, requirePackage, hasWorker } from '../pages/page/site.mjs';

const execFileP = promisify(execFile);
const TESTS = path.join(REPO, 'tests');
const APP_SRC = path.join(TESTS, 'npm-consumer', 'refresh-app');
const APP_DIST = path.join(TESTS, 'artifacts', 'refresh-app-dist');
/** Short enough for three refreshes in well under a minute, long enough for one page load. */
const LIFETIME_S = 10;
const PASSWORD = 'rita-password-1';
const SIZE = 48;

let synapse;
let synapseDir;
let shim;
let site;
let browser;
let consoleLines;
let mxc;
let userId;

before(async () => {
  requirePackage();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  synapseDir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-refresh-synapse-'));
  synapse = await startSynapse({ dir: synapseDir, extraConfig: { refreshable_access_token_lifetime: `${LIFETIME_S}s` } });
  const base = synapse.baseUrl;
  ({ userId } = await mx.registerUser(base, synapse.registrationSecret, 'rita', PASSWORD));
  const uploader = await mx.login(base, 'rita', PASSWORD);
  const raw = Buffer.alloc(SIZE * (1 + 3 * SIZE), 0x7f);
  for (let y = 0; y < SIZE; y++) raw[y * (1 + 3 * SIZE)] = 0;
  mxc = await mx.upload(base, uploader.accessToken, encodeRgbPng(SIZE, SIZE, raw), 'image/png', 'r.png');
  // Each grant takes 2.5 s, as with a slow identity provider: longer than a worker's usual wait
  // for a tab's answer, so the worker must wait for the refresh the tab runs.
  shim = await startOAuthShim({ target: base, grantDelayMs: 2500 });
  // The app: matrix-js-sdk + this checkout's package, bundled by Vite; worker files at its root.
  const vite = path.join(TESTS, 'node_modules', 'vite', 'bin', 'vite.js');
  rmSync(APP_DIST, { recursive: true, force: true });
  await execFileP(process.execPath, [vite, 'build', '--outDir', APP_DIST], { cwd: APP_SRC, timeout: 180_000 });
  for (const f of readdirSync(path.join(NPM_DIR, 'sw'))) copyFileSync(path.join(NPM_DIR, 'sw', f), path.join(APP_DIST, f));
  site = await startStaticServer({ root: APP_DIST });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await shim?.close();
  await synapse?.stop();
  if (synapseDir) rmSync(synapseDir, { recursive: true, force: true });
});

const logs = () => consoleLines.slice(-40).join('\n');

/** Until Synapse refuses `token` (expired): polled, no fixed sleep. */
async function waitForExpiry(token) {
  await waitUntil(
    async () => {
      try {
        await mx.whoami(synapse.baseUrl, token);
        return false;
      } catch (e) {
        if (e.errcode === 'M_UNKNOWN_TOKEN') return true;
        throw Object.assign(e, { fatal: true });
      }
    },
    { timeoutMs: LIFETIME_S * 1000 + 30_000, intervalMs: 250, what: 'the access token to expire' },
  );
}

/** A new `<img data-mxc>` (its own URL: no cache can answer it) under the mounted root; its end state. */
function showImage(page, name) {
  return page.evaluate(
    async ([mxc, name]) => {
      const img = document.createElement('img');
      img.id = name;
      img.alt = '';
      img.dataset.mxc = mxc;
      img.dataset.filename = `${name}.png`;
      document.getElementById('app').append(img);
      const done = () => ['loaded', 'error'].includes(img.dataset.authmediaState);
      const t0 = performance.now();
      while (!done() && performance.now() - t0 < 30_000) {
        await new Promise((resolve) => new MutationObserver((_, o) => (o.disconnect(), resolve())).observe(img, { attributes: true }));
      }
      if (done() && img.dataset.authmediaState === 'loaded' && !img.complete) await img.decode().catch(() => {});
      return { state: img.dataset.authmediaState ?? null, error: img.dataset.authmediaError ?? null, w: img.naturalWidth, src: img.src.slice(0, 5) };
    },
    [mxc, name],
  );
}

for (const mode of ['worker', 'fallback']) {
  test(`${mode}: three token refreshes in a row by matrix-js-sdk's own flow; media loads after each`, { timeout: 240_000 }, async () => {
    const login = await mx.request(synapse.baseUrl, '/_matrix/client/v3/login', {
      json: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'rita' }, password: PASSWORD, refresh_token: true },
    });
    assert.ok(login.refresh_token && login.expires_in_ms <= LIFETIME_S * 1000, JSON.stringify(login));
    const page = await browser.context.newPage();
    page.on('console', (m) => consoleLines.push(`${mode} ${m.type()}: ${m.text()}`));
    const grantsBefore = shim.grants.length;
    const forwardedBefore = shim.forwarded.length;
    try {
      await page.goto(site.url('/'));
      await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
      const info = await page.evaluate((cfg) => window.startRefreshApp(cfg), {
        baseUrl: shim.origin,
        accessToken: login.access_token,
        refreshToken: login.refresh_token,
        userId,
        deviceId: login.device_id,
        fallback: mode === 'fallback',
      });
      assert.equal(info.api, 'v1');
      if (mode === 'worker') {
        await page
          .waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 })
          .catch((e) => {
            throw new Error(`${e.message}\n${logs()}`);
          });
      } else {
        assert.equal(info.mode, 'fallback');
      }
      const first = await showImage(page, `${mode}-0`);
      assert.deepEqual([first.state, first.w], ['loaded', SIZE], `${JSON.stringify(first)}\n${logs()}`);
      let prev = { accessToken: login.access_token, refreshToken: login.refresh_token };
      let calls = 0;
      for (let round = 1; round <= 3; round++) {
        await waitForExpiry(prev.accessToken);
        const shown = await showImage(page, `${mode}-${round}`);
        const s = await page.evaluate(() => ({ store: window.store, client: window.clientTokens(), calls: window.refreshCalls.length, errors: window.errors, mode: window.media.mode }));
        const where = `${mode}, refresh ${round}: ${JSON.stringify({ shown, calls: s.calls, errors: s.errors })}`;
        assert.deepEqual([shown.state, shown.w], ['loaded', SIZE], `${where}\n${logs()}`);
        assert.equal(shown.src, mode === 'worker' ? 'http:' : 'blob:', where);
        assert.equal(s.mode, mode, where);
        // The client refreshed (its callback ran) and the app's store holds the new pair.
        assert.ok(s.calls > calls, `${where}: the client's onTokenRefresh was not called`);
        assert.notEqual(s.store.accessToken, prev.accessToken, where);
        assert.notEqual(s.store.refreshToken, prev.refreshToken, `${where}: the refresh token was not rotated into the store`);
        assert.deepEqual(s.client, s.store, `${where}: the client's own state and the app's store disagree`);
        await mx.whoami(synapse.baseUrl, s.store.accessToken); // the stored token works on the server
        prev = s.store;
        calls = s.calls;
      }
      // Each grant spent the refresh token the previous one produced; none was refused.
      // This session's grants: those spending a refresh token of its own chain (a grant of an
      // earlier test's page may still finish after it closed).
      const mine = new Set([login.refresh_token]);
      const grants = shim.grants.slice(grantsBefore).filter((g) => mine.has(g.refreshTokenIn) && (mine.add(g.refreshTokenOut), true));
      assert.ok(grants.length >= 3, JSON.stringify(shim.grants.slice(grantsBefore)));
      assert.deepEqual(grants.filter((g) => !g.ok), [], 'a refresh grant was refused');
      assert.equal(grants[0].refreshTokenIn, login.refresh_token);
      for (let i = 1; i < grants.length; i++) assert.equal(grants[i].refreshTokenIn, grants[i - 1].refreshTokenOut, `grant ${i}`);
      assert.equal(grants.at(-1).refreshTokenOut, prev.refreshToken);
      // The adapter did not refresh behind the client's back (the legacy endpoint, directly).
      const legacy = shim.forwarded.slice(forwardedBefore).filter((r) => r.path.endsWith('/refresh'));
      assert.deepEqual(legacy, []);
      await page.evaluate(() => window.media.logout());
    } finally {
      await page.close();
    }
  });
}
