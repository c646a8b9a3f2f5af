/**
 * The service worker's on-demand decryption module (`authmedia_sw_crypto_bg.wasm`, next to the
 * worker's wasm), in headless Chromium, Firefox ESR and WebKitGTK against the real Synapse, through the
 * npm package (the page site of tests/pages/page: the package's worker files at the site root):
 *
 * - a first visit in worker mode that shows media but no encrypted attachment downloads the
 *   worker script and its wasm, never the decryption module;
 * - the first attachment fetches it; while it answers 404 the attachment's URL answers a JSON
 *   error 503 with `authmedia-code: wasm_load_failed` (the client code the page knows for a wasm
 *   module that did not load; `errcode: AUTHMEDIA_DECRYPTOR_UNAVAILABLE` and the error text say
 *   which) and the image does not show; a mounted element shows `data-authmedia-error=
 *   "wasm_load_failed"` (the page asks the worker why); once it is served again, the same URL (no
 *   reload, same worker) decrypts: a failed load is retried by the next request, not remembered;
 * - once loaded it is fetched no more: further attachments reuse it;
 * - a ciphertext the homeserver does not have answers 404 `M_NOT_FOUND` (`authmedia-code:
 *   not_found`): the worker's media download path, which the attachment's download goes through.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted, SHOW_IMAGE, MOUNT_SETTLED } from '../harness/encrypted.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { launchFirefox, launchWebKit } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';

const MODULE = '/authmedia_sw_crypto_bg.wasm';

let world;
let site;
let png;
const files = {};
/** Paths the site was asked for, in order (page, worker and module alike). */
let requested = [];
/** The path answering 404 while set. */
let blocked = null;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  png = readFixture(world.media.png64);
  for (const name of ['first', 'second']) files[name] = await uploadEncrypted(world, `sw-decryptor-${name}`, png);
  site = await startPageSite({
    routes: (req, res, url) => {
      requested.push(url.pathname);
      if (url.pathname !== blocked) return false;
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('gone');
      return true;
    },
  });
});

after(async () => {
  await site?.close();
});

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

const alice = () => ({ homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId });

/** An authenticated (unencrypted) image through the worker. */
const SHOW_MEDIA = `
  const url = await window.media.src(args[0]);
  const img = document.createElement('img');
  document.getElementById('root').append(img);
  const outcome = await new Promise((resolve) => {
    img.onload = () => resolve('load');
    img.onerror = () => resolve('error');
    img.src = url;
  });
  return { url, outcome, w: img.naturalWidth };`;

/** fetch(url): status, the `authmedia-code` header, the JSON body's code, a digest of the body. */
const FETCH = `
  const r = await fetch(args[0], { cache: 'no-store' });
  const buf = new Uint8Array(await r.arrayBuffer());
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)), (b) => b.toString(16).padStart(2, '0')).join('');
  let json = null;
  try { json = JSON.parse(new TextDecoder().decode(buf)); } catch {}
  return { status: r.status, code: r.headers.get('authmedia-code'), json, digest };`;

const INIT = `
  window.media = await window.am.AuthMedia.init(args[0]);
  return window.media.mode;`;

/**
 * The scenario in one engine; `run(body, ...args)` runs an async function body in the page
 * (`args` holds the arguments) and `open()` loads the page site.
 */
async function scenario(engine, open, run, waitFor) {
  requested = [];
  blocked = null;
  await open();
  await waitFor('return window.amLoaded || window.amLoadError');
  assert.equal(await run('return window.amLoadError || null'), null);
  await run(INIT, alice());
  await waitFor("return window.media.mode === 'worker' && navigator.serviceWorker.controller !== null");

  const shown = await run(SHOW_MEDIA, world.media.png64.mxc);
  assert.equal(shown.outcome, 'load', `${engine}: ${JSON.stringify(shown)}`);
  assert.equal(shown.w, world.media.png64.width);
  const firstVisit = [...new Set(requested)];
  assert.ok(firstVisit.includes('/authmedia-sw.js') && firstVisit.includes('/authmedia_sw_bg.wasm'), `${engine}: ${firstVisit.join(', ')}`);
  assert.ok(!firstVisit.includes(MODULE), `${engine}: a page without attachments fetched the decryption module: ${firstVisit.join(', ')}`);
  process.stderr.write(`[worker-decryptor-load] ${engine}: first visit fetched ${firstVisit.join(' ')}\n`);

  // The module missing: a clear error answer, nothing shown.
  blocked = MODULE;
  const failed = await run(SHOW_IMAGE, files.first, 'image/png');
  assert.equal(failed.outcome, 'error', `${engine}: ${JSON.stringify(failed)}`);
  // What the page reports for it: a mounted attachment's error code, asked of the worker.
  const mounted = await run(MOUNT_SETTLED, `<img id="attachment" data-encrypted="${attr(JSON.stringify(files.first))}" data-mimetype="image/png" alt="">`);
  assert.deepEqual(mounted, { attachment: { state: 'error', error: 'wasm_load_failed' } }, `${engine}: ${JSON.stringify(mounted)}`);
  const answer = await run(FETCH, failed.url);
  assert.equal(answer.status, 503, `${engine}: ${JSON.stringify(answer)}`);
  assert.equal(answer.code, 'wasm_load_failed', `${engine}: ${JSON.stringify(answer)}`);
  assert.equal(answer.json?.authmedia_code, 'wasm_load_failed');
  assert.equal(answer.json?.errcode, 'AUTHMEDIA_DECRYPTOR_UNAVAILABLE');
  assert.match(answer.json?.error ?? '', /decryption module did not load: .*authmedia_sw_crypto_bg\.wasm: HTTP 404/);
  const failedLoads = requested.filter((p) => p === MODULE).length;
  assert.ok(failedLoads >= 2, `${engine}: each request tried to load it again (${failedLoads})`);

  // Served again: the same URL, same worker, decrypts.
  blocked = null;
  const again = await run(FETCH, failed.url);
  assert.equal(again.status, 200, `${engine}: ${JSON.stringify(again)}`);
  assert.equal(again.digest, createHash('sha256').update(png).digest('hex'));
  const shownNow = await run(SHOW_IMAGE, files.second, 'image/png');
  assert.equal(shownNow.outcome, 'load', `${engine}: ${JSON.stringify(shownNow)}`);
  assert.equal(shownNow.w, world.media.png64.width);
  assert.equal(requested.filter((p) => p === MODULE).length, failedLoads + 1, `${engine}: loaded once, then reused`);

  // A ciphertext the homeserver does not have: its answer, with the worker's code.
  const missing = { ...files.first, url: `mxc://${world.synapse.serverName}/NoSuchCiphertext${Date.now()}` };
  const gone = await run(SHOW_IMAGE, missing, 'image/png');
  assert.equal(gone.outcome, 'error', `${engine}: ${JSON.stringify(gone)}`);
  const goneAnswer = await run(FETCH, gone.url);
  assert.equal(goneAnswer.status, 404, `${engine}: ${JSON.stringify(goneAnswer)}`);
  assert.equal(goneAnswer.code, 'not_found');
  assert.equal(goneAnswer.json?.errcode, 'M_NOT_FOUND');
  await run('await window.media.logout();');
}

test('Chromium worker mode: no attachment → the decryption module is never fetched; the first attachment fetches it; a failed load answers 503 wasm_load_failed (also on the mounted element) and is retried', { timeout: 180_000 }, async () => {
  const browser = await launchChromium();
  try {
    const page = browser.page;
    const run = (body, ...args) => page.evaluate(`(async (args) => { ${body} })(${JSON.stringify(args)})`);
    const waitFor = (body) => page.waitForFunction(`(() => { ${body} })()`, null, { timeout: 30_000 });
    await scenario('chromium', () => page.goto(site.url('/')), run, waitFor);
  } finally {
    await browser.close();
  }
});

test('Firefox ESR worker mode: the same', { timeout: 180_000 }, async () => {
  const ff = await launchFirefox();
  try {
    await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
    await scenario(
      'firefox',
      () => ff.navigate(site.url('/')),
      (body, ...args) => ff.evaluate(body, ...args),
      (body) => ff.waitFor(body, { timeoutMs: 30_000 }),
    );
  } finally {
    await ff.close();
  }
});

test('WebKitGTK worker mode: the same', { timeout: 180_000 }, async () => {
  const wk = await launchWebKit();
  try {
    await wk.setTimeouts({ script: 120_000, pageLoad: 60_000 });
    await scenario(
      'webkit',
      () => wk.navigate(site.url('/')),
      (body, ...args) => wk.evaluate(body, ...args),
      (body) => wk.waitFor(body, { timeoutMs: 30_000 }),
    );
  } finally {
    await wk.close();
  }
});

test('the module file ships next to the worker wasm in the package', () => {
  const bytes = readFileSync(path.join(site.dir, MODULE.slice(1)));
  assert.ok(WebAssembly.validate(bytes), 'a valid wasm module');
});
