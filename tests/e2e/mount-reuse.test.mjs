/**
 * A mounted element reused for other media (a virtual list's row): changing `data-mxc` on a mounted
 * `<img>` to media that fails must take the old picture off the screen at once — in the same
 * microtask as the SDK notices the change, before the new load settles — and the element must end
 * in `error` with nothing shown, in worker mode and in the fallback (Chromium, real Synapse).
 * A reuse for media that loads shows the new media.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, hasWorker, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-30).join('\n');

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

/** Mounts one `<img id="row">` showing `mxc` and waits until it is loaded; returns its src. */
async function mountRow(page, mxc, mode) {
  await page.evaluate((mxc) => {
    window.unmount?.();
    const root = document.getElementById('root');
    root.innerHTML = `<img id="row" data-mxc="${mxc}" alt="">`;
    window.unmount = window.media.mount(root);
  }, mxc);
  await page
    .waitForFunction(() => document.getElementById('row').dataset.authmediaState === 'loaded', null, { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`${mode}: ${e.message}\n${logs()}`);
    });
  const shown = await page.evaluate(() => ({ src: document.getElementById('row').getAttribute('src'), w: document.getElementById('row').naturalWidth }));
  assert.equal(shown.w, world.media.png64.width, `${mode}: ${JSON.stringify(shown)}`);
  return shown.src;
}

/**
 * Changes the row's data-mxc and reports what the element shows right after the SDK's
 * MutationObserver ran (a microtask queued by the change, before ours), then after it settles.
 */
async function reuseRow(page, mxc) {
  return page.evaluate(async (mxc) => {
    const img = document.getElementById('row');
    img.dataset.mxc = mxc;
    await new Promise((resolve) => queueMicrotask(resolve));
    const atOnce = { src: img.getAttribute('src'), state: img.dataset.authmediaState };
    const t0 = performance.now();
    while (!['loaded', 'error'].includes(img.dataset.authmediaState) && performance.now() - t0 < 30_000) {
      await new Promise((resolve) => new MutationObserver((_, o) => (o.disconnect(), resolve())).observe(img, { attributes: true }));
    }
    if (img.dataset.authmediaState === 'loaded' && !img.complete) await img.decode().catch(() => {});
    return {
      atOnce,
      state: img.dataset.authmediaState,
      error: img.dataset.authmediaError ?? null,
      src: img.getAttribute('src'),
      naturalWidth: img.naturalWidth,
    };
  }, mxc);
}

for (const mode of ['worker', 'fallback']) {
  test(`${mode}: data-mxc changed to missing media → the old image goes at once, the row ends error/not_found showing nothing`, { timeout: 120_000 }, async () => {
    const page = await browser.context.newPage();
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    try {
      if (mode === 'worker') {
        await openInWorkerMode(page, site.url('/'), alice(), logs);
      } else {
        await page.goto(site.url('/'));
        await waitForPackage(page);
        assert.equal((await initInPage(page, alice({ fallback: 'force' }))).mode, 'fallback');
      }
      const old = await mountRow(page, world.media.png64.mxc, mode);
      assert.ok(mode === 'fallback' ? old.startsWith('blob:') : old.startsWith(world.synapse.baseUrl), old);
      const missing = `mxc://${world.synapse.serverName}/NoSuchRow${mode}${Date.now()}`;
      const r = await reuseRow(page, missing);
      assert.notEqual(r.atOnce.src, old, `${mode}: the old image was still set after the change: ${JSON.stringify(r)}`);
      assert.deepEqual([r.state, r.error], ['error', 'not_found'], `${mode}: ${JSON.stringify(r)}\n${logs()}`);
      assert.equal(r.naturalWidth, 0, `${mode}: the failed row still shows a picture: ${JSON.stringify(r)}`);
      assert.ok(r.src === null || !r.src.startsWith('blob:'), `${mode}: a blob: URL is still shown: ${JSON.stringify(r)}`);
      // The row reused once more, for media that exists: it shows that media.
      const back = await reuseRow(page, world.media.png800.mxc);
      assert.equal(back.state, 'loaded', `${mode}: ${JSON.stringify(back)}`);
      assert.equal(back.naturalWidth, world.media.png800.width, `${mode}: ${JSON.stringify(back)}`);
      // An invalid mxc (refused before any request) does not leave the previous picture either.
      const bad = await reuseRow(page, 'mxc://../config');
      assert.deepEqual([bad.state, bad.error, bad.naturalWidth, bad.src], ['error', 'invalid_mxc', 0, null], `${mode}: ${JSON.stringify(bad)}`);
    } finally {
      await page.close();
    }
  });
}
