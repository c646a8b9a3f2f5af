/**
 * Page SDK (npm package `matrix-authmedia`) in its fallback, in headless Chromium against the real
 * Synapse: no service worker serves the page, so media is fetched with the token into blob: URLs.
 *
 * - an insecure origin (plain http on a name mapped to 127.0.0.1: no service workers at all):
 *   `src()` gives a blob: URL that renders; `mount()` hydrates images (thumbnail sizes from the CSS box)
 *   and the ≥ 5 MB mp4 plays; blob types are made safe; errors carry codes on the elements;
 * - no token reaches another origin: media served by a "homeserver" that redirects to a CDN on another
 *   origin (recording servers) — the CDN never sees Authorization;
 * - the byte budget: more images than the budget → evictions, the object URLs still alive stay under the
 *   budget (checked by fetching every blob: URL ever assigned), images in view never break;
 * - a video over the budget gets data-authmedia-state="too-large" and download() still saves it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../harness/env.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, renderReport } from '../pages/page/site.mjs';

const INSECURE_HOST = 'authmedia.test';

let world;
let site;
let browser;
let consoleLines;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** The page on the insecure origin http://authmedia.test:PORT/ (not loopback by name: no workers). */
async function openInsecure(page = browser.page) {
  await page.goto(`http://${INSECURE_HOST}:${site.port}/`);
  await waitForPackage(page);
  const ctx = await page.evaluate(() => ({ secure: window.isSecureContext, sw: 'serviceWorker' in navigator }));
  assert.deepEqual(ctx, { secure: false, sw: false }, 'the test page must be an insecure context without service workers');
}

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

const logs = () => consoleLines.slice(-30).join('\n');

test('insecure origin: init picks the fallback, src() gives a blob: URL that renders', { timeout: 120_000 }, async () => {
  const page = browser.page;
  await openInsecure(page);
  const info = await initInPage(page, alice());
  assert.deepEqual(info, { mode: 'fallback', api: 'v1', reason: 'insecure_context' });
  const r = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc);
    const img = document.createElement('img');
    img.src = url;
    document.getElementById('root').append(img);
    await img.decode();
    const blob = await (await fetch(url)).blob();
    return { url, w: img.naturalWidth, h: img.naturalHeight, type: blob.type, size: blob.size };
  }, world.media.png64.mxc);
  assert.match(r.url, /^blob:http:\/\/authmedia\.test:\d+\//);
  assert.equal(r.w, 64);
  assert.equal(r.h, 64);
  assert.equal(r.type, 'image/png');
  assert.equal(r.size, world.media.png64.bytes);
  const thumb = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc, { thumbnail: { width: 320, height: 240, method: 'scale' } });
    const img = new Image();
    img.src = url;
    await img.decode();
    return { w: img.naturalWidth, h: img.naturalHeight };
  }, world.media.png800.mxc);
  assert.deepEqual(thumb, { w: 320, h: 240 });
  const stats = await page.evaluate(() => window.media.stats());
  assert.equal(stats.worker, null);
  assert.equal(stats.fallback.fetches, 2);
  assert.equal(stats.byKind.download, 1);
  assert.equal(stats.byKind.thumbnail, 1);
});
