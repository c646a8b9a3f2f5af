/**
 * A site that already has a service worker (Chromium, real Synapse): the combined worker of the
 * README ("A site that already has a service worker"), taken verbatim from README.md, served as
 * `/sw.js`. Its own part answers every GET with `respondWith` (a network-first cache) and speaks
 * its own message protocol (`app:version`, answered to the sending page); authmedia is embedded
 * with `registerListeners: false` and gets the events first.
 *
 * The site registers `/sw.js` itself and the page SDK is pointed at it (`workerUrl: '/sw.js'`):
 * the SDK reaches worker mode, `/sw.js` stays the only registration (not replaced by
 * `/authmedia-sw.js`), mounted images load with the token (the site's own listener would have
 * sent them tokenless: 401), the SDK's own messages work (`refreshStats`), and the site's protocol
 * and cache keep working.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker, REPO } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;

/** The README's combined worker: the ```js block that starts with its `// sw.js` comment. */
function readmeWorker() {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = /```js\n(\/\/ sw\.js — the site's one service worker[\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no combined worker block starting with "// sw.js — the site\'s one service worker"');
  return m[1];
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  writeFileSync(path.join(site.dir, 'sw.js'), readmeWorker());
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-40).join('\n');

test('the README\'s combined worker: authmedia media load with the token, the site\'s own fetch answers and messages still work', { timeout: 180_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const m = world.media;
  const opts = { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, workerUrl: '/sw.js' };
  await page.evaluate(async (opts) => {
    // The site's page code: its own worker, its own message listener.
    window.appMessages = [];
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data && typeof e.data.type === 'string' && e.data.type.startsWith('app:')) window.appMessages.push(e.data);
    });
    await navigator.serviceWorker.register('/sw.js');
    window.media = await window.am.AuthMedia.init(opts);
  }, opts);
  await page
    .waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`${e.message}\n${logs()}`);
    });
  const regs = await page.evaluate(async () => ({
    controller: navigator.serviceWorker.controller.scriptURL,
    registered: (await navigator.serviceWorker.getRegistrations()).map((r) => (r.active || r.waiting || r.installing).scriptURL),
  }));
  assert.deepEqual(regs, { controller: site.url('/sw.js'), registered: [site.url('/sw.js')] });

  // authmedia's part: mounted images load through the worker with the token.
  await page.evaluate((m) => {
    const root = document.getElementById('root');
    root.className = 'col';
    root.innerHTML = `
      <img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px" alt="">
      <img id="full" data-mxc="${m.png64.mxc}" data-filename="host-worker.png" alt="">`;
    window.media.mount(root);
  }, m);
  await page.waitForFunction(() => [...document.querySelectorAll('#root img')].every((i) => ['loaded', 'error'].includes(i.dataset.authmediaState)), null, { timeout: 60_000 });
  const imgs = await page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll('#root img')].map((i) => [i.id, { state: i.dataset.authmediaState, error: i.dataset.authmediaError ?? null, w: i.naturalWidth, h: i.naturalHeight, src: i.src }])),
  );
  assert.deepEqual([imgs.box.state, imgs.box.w, imgs.box.h], ['loaded', 320, 240], `${JSON.stringify(imgs)}\n${logs()}`);
  assert.deepEqual([imgs.full.state, imgs.full.w], ['loaded', 64], JSON.stringify(imgs));
  assert.ok(imgs.full.src.startsWith(`${world.synapse.baseUrl}/_matrix/client/v1/media/download/`), imgs.full.src);
  // The SDK's messages reach authmedia inside the site's worker.
  const stats = await page.evaluate(() => window.media.refreshStats());
  assert.ok(stats.worker && stats.worker.authenticated >= 2, JSON.stringify(stats.worker));

  // The site's own message protocol: asked, answered to this page.
  await page.evaluate(() => navigator.serviceWorker.controller.postMessage({ type: 'app:version' }));
  await page.waitForFunction(() => window.appMessages.length > 0, null, { timeout: 10_000 }).catch((e) => {
    throw new Error(`the site's worker did not answer its own message: ${e.message}\n${logs()}`);
  });
  assert.deepEqual(await page.evaluate(() => window.appMessages), [{ type: 'app:version', version: '1.4.2' }]);

  // The site's own fetch handler answers the site's GETs (and caches them, as it does).
  const own = await page.evaluate(async () => {
    const url = `/index.html?probe=${Date.now()}`;
    const res = await fetch(url);
    const text = await res.text();
    const t0 = performance.now();
    let cached = null;
    while (!cached && performance.now() - t0 < 10_000) {
      cached = await caches.open('app-v1').then((c) => c.match(url));
      if (!cached) await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    return { status: res.status, page: text.includes('authmedia page SDK tests'), cached: Boolean(cached) };
  });
  assert.deepEqual(own, { status: 200, page: true, cached: true });
  // The media answers were authmedia's, not the site's cache's (it never saw them).
  const mediaCached = await page.evaluate(async (src) => Boolean(await caches.open('app-v1').then((c) => c.match(src))), imgs.full.src);
  assert.equal(mediaCached, false);
  // No media request went out without the token (the site's listener would have sent it as is).
  assert.ok(!consoleLines.some((l) => /InvalidStateError|401 \(Unauthorized\)/.test(l)), logs());
});
