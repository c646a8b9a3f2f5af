/**
 * `mount()` with encrypted attachments (`data-encrypted` = the event's `EncryptedFile` JSON,
 * `data-mimetype` = its `info.mimetype`), end to end in headless Chromium against the real Synapse,
 * in worker mode and in the fallback (`fallback: 'force'`):
 *
 * - an encrypted PNG (which also carries a `data-mxc`: the ciphertext's own mxc, which would not
 *   decode — `data-encrypted` wins) renders at its real size; an encrypted mp4 `<video>` plays;
 *   worker mode: same-origin URLs under the worker's scope; fallback: `blob:` URLs;
 * - a tampered ciphertext (one flipped byte, the file keeps the original hash) ends in
 *   `data-authmedia-state="error"` with `data-authmedia-error="hash_mismatch"`, and `retryFailed()`
 *   leaves it alone;
 * - invalid JSON ends in error (`invalid_argument`) with no request: no `src`, and from its
 *   mounting until the next element (the PNG) has loaded, the page records no request but the PNG's;
 * - `logout()` clears every element (`logged_out`, no `src`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, hasWorker, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;
const files = {};

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  const png = readFixture(world.media.png64);
  files.png = await uploadEncrypted(world, 'mount-png', png);
  files.mp4 = await uploadEncrypted(world, 'mount-mp4', readFixture(world.media.mp4));
  files.flipped = await uploadEncrypted(world, 'mount-flipped', png, (c) => {
    c[Math.floor(c.length / 2)] ^= 0x01;
    return c;
  });
  site = await startPageSite();
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-40).join('\n');

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

const state = (page, id) =>
  page.evaluate((id) => {
    const el = document.getElementById(id);
    return { state: el.dataset.authmediaState ?? null, error: el.dataset.authmediaError ?? null, src: el.getAttribute('src') };
  }, id);

/** Waits until element `id` is in `want` (or in error when want is not 'error'); returns its state. */
async function settle(page, id, want) {
  await page
    .waitForFunction(
      ([id, want]) => {
        const s = document.getElementById(id).dataset.authmediaState;
        return s === want || (want !== 'error' && s === 'error');
      },
      [id, want],
      { timeout: 60_000 },
    )
    .catch(async (e) => {
      throw new Error(`${id}: ${e.message} ${JSON.stringify(await state(page, id))}\n${logs()}`);
    });
  return state(page, id);
}

/** In the page: appends a `data-encrypted` element to #root (64×64 box, in view). */
function add(page, tag, id, encrypted, attrs = {}) {
  return page.evaluate(
    ([tag, id, encrypted, attrs]) => {
      const el = document.createElement(tag);
      el.id = id;
      el.setAttribute('data-encrypted', encrypted);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      el.style.width = '64px';
      el.style.height = '64px';
      if (tag === 'video') el.muted = true;
      document.getElementById('root').append(el);
    },
    [tag, id, encrypted, attrs],
  );
}

async function scenario(page, mode) {
  const { png, mp4, flipped } = files;
  await page.evaluate(() => {
    const root = document.getElementById('root');
    root.className = 'col';
    root.innerHTML = '';
    performance.setResourceTimingBufferSize(100_000);
    window.unmount = window.media.mount(root);
    window.resourcesBefore = performance.getEntriesByType('resource').length;
    window.fetchesBefore = window.media.stats().fallback.fetches;
  });
  // Invalid JSON: an error before any request.
  await add(page, 'img', 'invalid', '{"url": "mxc:// not json', { 'data-mimetype': 'image/png' });
  const bad = await settle(page, 'invalid', 'error');
  assert.deepEqual(bad, { state: 'error', error: 'invalid_argument', src: null });
  // Then the PNG, also carrying a data-mxc (the ciphertext's own: it would not decode): data-encrypted
  // wins. It is the barrier: from the mark on, the only requests may be the PNG's.
  await add(page, 'img', 'png', JSON.stringify(png), { 'data-mimetype': 'image/png', 'data-mxc': png.url });
  const origin = new URL(site.url('/')).origin;
  const s = await settle(page, 'png', 'loaded');
  assert.equal(s.state, 'loaded', `${JSON.stringify(s)}\n${logs()}`);
  if (mode === 'worker') assert.ok(s.src.startsWith(`${origin}/authmedia/encrypted/`), s.src);
  else assert.ok(s.src.startsWith('blob:'), s.src);
  const size = await page.evaluate(() => [document.getElementById('png').naturalWidth, document.getElementById('png').naturalHeight]);
  assert.deepEqual(size, [world.media.png64.width, world.media.png64.height]);
  const resources = await page.evaluate(() => ({
    names: performance.getEntriesByType('resource').slice(window.resourcesBefore).map((e) => e.name),
    fetches: window.media.stats().fallback.fetches - window.fetchesBefore,
  }));
  const mediaPath = `/download/${png.url.slice('mxc://'.length)}`;
  // The fallback decrypts in its on-demand module, fetched with the first attachment it shows; a
  // worker-mode page never fetches it.
  const decryptorModule = (n) => mode === 'fallback' && /\/dist\/authmedia_crypto(\.js|_bg\.wasm)$/.test(new URL(n).pathname);
  assert.ok(
    resources.names.length >= 1 && resources.names.every((n) => n === s.src || new URL(n).pathname.endsWith(mediaPath) || decryptorModule(n)),
    `requests after the invalid element: ${JSON.stringify(resources)}`,
  );
  assert.equal(resources.fetches, mode === 'fallback' ? 1 : 0, JSON.stringify(resources));

  await add(page, 'video', 'mp4', JSON.stringify(mp4), { 'data-mimetype': 'video/mp4' });
  await add(page, 'img', 'flipped', JSON.stringify(flipped), { 'data-mimetype': 'image/png' });
  const video = await settle(page, 'mp4', 'loaded');
  assert.equal(video.state, 'loaded', `${JSON.stringify(video)}\n${logs()}`);
  if (mode === 'worker') {
    assert.ok(video.src.startsWith(`${origin}/authmedia/encrypted/`), video.src);
  } else {
    assert.ok(video.src.startsWith('blob:'), video.src);
  }
  await page.evaluate(() => document.getElementById('mp4').play());
  await page
    .waitForFunction(() => document.getElementById('mp4').currentTime >= 0.5, null, { timeout: 60_000 })
    .catch(async (e) => {
      const v = await page.evaluate(() => {
        const v = document.getElementById('mp4');
        return { t: v.currentTime, readyState: v.readyState, error: v.error && v.error.message };
      });
      throw new Error(`${e.message} ${JSON.stringify(v)}\n${logs()}`);
    });
  assert.equal(await page.evaluate(() => document.getElementById('mp4').videoWidth), world.media.mp4.width);

  const tampered = await settle(page, 'flipped', 'error');
  assert.equal(tampered.state, 'error', JSON.stringify(tampered));
  assert.equal(tampered.error, 'hash_mismatch', `${JSON.stringify(tampered)}\n${logs()}`);
  assert.equal(await page.evaluate(() => document.getElementById('flipped').naturalWidth), 0);
  if (mode === 'worker') {
    // The code came from the worker's record (authmedia:why): the page requested the URL once.
    const loads = await page.evaluate((src) => performance.getEntriesByType('resource').filter((e) => e.name === src).length, tampered.src);
    assert.equal(loads, 1, 'the failed element was not fetched again to learn why');
  }
  // Not retryable: retryFailed() loads nothing again.
  assert.equal(await page.evaluate(() => window.media.retryFailed()), 0);
  assert.deepEqual(await state(page, 'flipped'), tampered);

  await page.evaluate(() => window.media.logout());
  for (const id of ['png', 'mp4', 'flipped', 'invalid']) {
    assert.deepEqual(await state(page, id), { state: 'error', error: 'logged_out', src: null }, id);
  }
}

test('worker mode: data-encrypted elements show the worker-served plaintext; tampered → hash_mismatch; invalid JSON → no request', { timeout: 240_000 }, async () => {
  const page = browser.page;
  await openInWorkerMode(page, site.url('/'), alice(), logs);
  await scenario(page, 'worker');
});

test('fallback: data-encrypted elements show verified blob: URLs; tampered → hash_mismatch; invalid JSON → no request', { timeout: 240_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const init = await initInPage(page, alice({ fallback: 'force' }));
  assert.equal(init.mode, 'fallback');
  await scenario(page, 'fallback');
});
