/**
 * The fallback's on-demand decryption module (`dist/authmedia_crypto.js` + its wasm) failing to
 * load, in headless Chromium against the real Synapse, through the npm package (the page site of
 * tests/pages/page, `fallback: 'force'`):
 *
 * - while its JS (first page load) or its wasm (second page load) answers 404, `srcEncrypted`
 *   rejects with `wasm_load_failed` (reason `crypto_unavailable`) and a message naming the files;
 * - once the file is served again, the same attachment on the same page (no reload) decrypts and
 *   shows: a failed load is retried by the next attachment;
 * - an attachment over `budgetBytes` is refused `over_budget` (reason `too_large`) with no object
 *   URL made, and the module decrypts the next one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let file;
let big;
/** The path answering 404 while set. */
let blocked = null;

before(async () => {
  world = await loadWorld();
  file = await uploadEncrypted(world, 'decryptor-load', readFixture(world.media.png64));
  big = await uploadEncrypted(world, 'decryptor-load-big', readFixture(world.media.mp4));
  site = await startPageSite({
    routes: (req, res, url) => {
      if (url.pathname !== blocked) return false;
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('gone');
      return true;
    },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** In the page: srcEncrypted → an <img>; what it shows, or the rejection. */
function show(page, f = file) {
  return page.evaluate(async (file) => {
    let url;
    try {
      url = await window.media.srcEncrypted(file, { mimetype: 'image/png' });
    } catch (e) {
      return { rejected: { code: e.code, reason: e.reason, message: e.message } };
    }
    const img = document.createElement('img');
    document.body.append(img);
    const outcome = await new Promise((resolve) => {
      img.onload = () => resolve('load');
      img.onerror = () => resolve('error');
      img.src = url;
    });
    return { outcome, width: img.naturalWidth };
  }, f);
}

for (const name of ['authmedia_crypto.js', 'authmedia_crypto_bg.wasm']) {
  test(`fallback: the decryption module's ${name} missing → wasm_load_failed; served again → the next attempt decrypts`, { timeout: 90_000 }, async () => {
    const page = browser.page;
    await page.goto(site.url('/'));
    await waitForPackage(page);
    const alice = world.users.alice;
    const init = await initInPage(page, { homeserver: world.synapse.baseUrl, accessToken: alice.accessToken, userId: alice.userId, fallback: 'force' });
    assert.equal(init.mode, 'fallback');

    blocked = `/pkg/dist/${name}`;
    const failed = await show(page);
    assert.equal(failed.rejected?.code, 'wasm_load_failed', JSON.stringify(failed));
    assert.equal(failed.rejected?.reason, 'crypto_unavailable', JSON.stringify(failed));
    assert.match(failed.rejected.message, /authmedia_crypto/);

    blocked = null;
    const shown = await show(page);
    assert.equal(shown.outcome, 'load', JSON.stringify(shown));
    assert.equal(shown.width, world.media.png64.width);
    await page.evaluate(() => window.media.logout());
  });
}

test('fallback: an attachment over budgetBytes → over_budget (too_large), no object URL; the next one decrypts', { timeout: 90_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const alice = world.users.alice;
  const budgetBytes = 1 << 20;
  assert.ok(readFixture(world.media.mp4).length > budgetBytes && readFixture(world.media.png64).length < budgetBytes);
  const init = await initInPage(page, { homeserver: world.synapse.baseUrl, accessToken: alice.accessToken, userId: alice.userId, fallback: 'force', budgetBytes });
  assert.equal(init.mode, 'fallback');
  const refused = await show(page, big);
  assert.equal(refused.rejected?.code, 'over_budget', JSON.stringify(refused));
  assert.equal(refused.rejected?.reason, 'too_large', JSON.stringify(refused));
  assert.equal(await page.evaluate(() => window.media.stats().fallback.objectUrls), 0);
  const shown = await show(page);
  assert.equal(shown.outcome, 'load', JSON.stringify(shown));
  await page.evaluate(() => window.media.logout());
});
