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
 *   URL made, and the module decrypts the next one;
 * - the same condition has the same code in both modes: a mounted attachment over the budget shows
 *   `data-authmedia-error="over_budget"` in the fallback (`budgetBytes`) and in worker mode (the
 *   worker's `storeBudgetBytes`, set by a site worker script that imports the package's), whose
 *   answer is 413 `authmedia-code: over_budget` (`errcode: AUTHMEDIA_TOO_LARGE`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted, MOUNT_SETTLED, FETCH_JSON } from '../harness/encrypted.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let file;
let big;
/** The path answering 404 while set. */
let blocked = null;
/** The budget of both modes' over-budget test: between the two fixtures' sizes. */
const BUDGET = 1 << 20;
/** A site worker script: the package's worker with a store budget of `BUDGET`. */
const SMALL_STORE_WORKER = `self.AUTHMEDIA_SW_OPTIONS = { storeBudgetBytes: ${BUDGET} };\nimportScripts('/authmedia-sw.js');\n`;

before(async () => {
  world = await loadWorld();
  file = await uploadEncrypted(world, 'decryptor-load', readFixture(world.media.png64));
  big = await uploadEncrypted(world, 'decryptor-load-big', readFixture(world.media.mp4));
  site = await startPageSite({
    routes: (req, res, url) => {
      if (url.pathname === '/small-store-sw.js') {
        res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' }).end(SMALL_STORE_WORKER);
        return true;
      }
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

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

test('both modes: a mounted attachment over the budget shows over_budget (the worker answers 413 over_budget), one under it loads', { timeout: 120_000 }, async () => {
  assert.ok(readFixture(world.media.mp4).length > BUDGET && readFixture(world.media.png64).length < BUDGET);
  const html = `<img id="big" data-encrypted="${attr(JSON.stringify(big))}" data-mimetype="image/png" alt="">
    <img id="fine" data-encrypted="${attr(JSON.stringify(file))}" data-mimetype="image/png" alt="">`;
  const expected = { big: { state: 'error', error: 'over_budget' }, fine: { state: 'loaded', error: null } };
  const alice = world.users.alice;
  const opts = { homeserver: world.synapse.baseUrl, accessToken: alice.accessToken, userId: alice.userId };

  const fallback = browser.page;
  await fallback.goto(site.url('/'));
  await waitForPackage(fallback);
  assert.equal((await initInPage(fallback, { ...opts, fallback: 'force', budgetBytes: BUDGET })).mode, 'fallback');
  assert.deepEqual(await fallback.evaluate(`(async (args) => { ${MOUNT_SETTLED} })(${JSON.stringify([html])})`), expected, 'fallback');
  await fallback.evaluate(() => window.media.logout());

  const own = await launchChromium();
  try {
    const page = own.page;
    await openInWorkerMode(page, site.url('/'), { ...opts, workerUrl: '/small-store-sw.js' });
    const run = (body, ...args) => page.evaluate(`(async (args) => { ${body} })(${JSON.stringify(args)})`);
    assert.deepEqual(await run(MOUNT_SETTLED, html), expected, 'worker mode');
    const url = await run("return (await window.media.srcEncrypted(args[0], { mimetype: 'image/png' }));", big);
    const answer = await run(FETCH_JSON, url);
    assert.equal(answer.status, 413, JSON.stringify(answer));
    assert.equal(answer.json?.authmedia_code, 'over_budget');
    assert.equal(answer.json?.errcode, 'AUTHMEDIA_TOO_LARGE');
    await run('await window.media.logout();');
  } finally {
    await own.close();
  }
});
