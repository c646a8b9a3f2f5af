/**
 * Every public JS API of the npm package (npm/index.d.ts) called with wrong types, missing fields
 * and garbage, in headless Chromium against the real Synapse, in worker mode and in fallback mode.
 *
 * The rows live in tests/pages/api-garbage.js (undefined, null, numbers, NaN, objects, arrays,
 * Symbols, BigInts, functions, Proxies whose traps throw, objects whose toString throws, huge
 * strings, `mxc://../config`, NUL/CR/LF in mxcs and tokens, wrong `this`). For each row:
 *   - the call throws, or its promise rejects, with an `Error` that is `instanceof AuthMediaError`
 *     and carries a `code` from the documented `AuthMediaErrorCode` union (read from index.d.ts);
 *     nothing hangs (a promise that settles in neither way within 15 s fails the row);
 *   - rows marked 'ok' (calls that take no argument, ignoring garbage extra ones) must not throw;
 *   - no request leaves the browser while the rows run: no page or worker request (Playwright's
 *     context 'request' event sees both), nothing at the recorder standing in for the homeserver of
 *     the init/fromMatrixClient rows, no new line in Synapse's access log;
 *   - no wasm panic: no "panicked at", "unreachable" or RuntimeError in the console, and the
 *     instance keeps working afterwards (a valid src() renders, a valid httpUrl() is built).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

const GARBAGE_JS = path.join(REPO_ROOT, 'tests', 'pages', 'api-garbage.js');

/** The documented codes: the `AuthMediaErrorCode` union of npm/index.d.ts. */
const CODES = (() => {
  const dts = readFileSync(path.join(REPO_ROOT, 'npm', 'index.d.ts'), 'utf8');
  const m = /export type AuthMediaErrorCode =([^;]+);/.exec(dts);
  if (!m) throw new Error('AuthMediaErrorCode not found in npm/index.d.ts');
  return new Set([...m[1].matchAll(/'([a-z_]+)'/g)].map((x) => x[1]));
})();

let world;
let site;
let recorder;
let browser;
let consoleLines;
/** Every request the browser (pages and workers) made, as URLs. */
const browserRequests = [];
let encryptedFile;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  recorder = await startRecorder();
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
  browser.context.on('request', (r) => browserRequests.push(`${r.method()} ${r.url().slice(0, 300)}`));
  // A valid EncryptedFile (the srcEncrypted rows mutate copies of it).
  const plain = readFileSync(world.media.png64.path);
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  const url = await mx.upload(world.synapse.baseUrl, world.users.alice.accessToken, ciphertext, 'application/octet-stream', 'garbage.bin');
  encryptedFile = {
    url,
    key: { kty: 'oct', alg: 'A256CTR', key_ops: ['encrypt', 'decrypt'], k: key.toString('base64url'), ext: true },
    iv: iv.toString('base64').replace(/=+$/, ''),
    hashes: { sha256: createHash('sha256').update(ciphertext).digest('base64').replace(/=+$/, '') },
    v: 'v2',
  };
});

after(async () => {
  await browser?.close();
  await recorder?.close();
  await site?.close();
});

const synapseLines = () => readFileSync(world.synapse.logFile, 'utf8').split('\n').filter((l) => l.includes('Processed request'));
const panics = () => consoleLines.filter((l) => /panicked at|unreachable|RuntimeError/i.test(l));

/** Opens the test page and inits `window.media` in `mode`. */
async function openMode(mode) {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  await page.addScriptTag({ path: GARBAGE_JS });
  const opts = { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId };
  if (mode === 'fallback') opts.workerUrl = null;
  await page.evaluate(async (opts) => {
    window.media = await window.am.AuthMedia.init(opts);
  }, opts);
  if (mode === 'worker') {
    await page.waitForFunction(() => window.media.mode === 'worker', null, { timeout: 30_000 });
  }
  assert.equal(await page.evaluate(() => window.media.mode), mode);
  return page;
}

/**
 * Runs the rows of `api` in the page and checks each; also that no request left and nothing
 * panicked meanwhile.
 */
async function check(page, api, { homeserver = recorder.origin } = {}) {
  const ctx = {
    mxc: world.media.png64.mxc,
    homeserver,
    token: world.users.alice.accessToken,
    userId: world.users.alice.userId,
    file: encryptedFile,
  };
  const requestsBefore = browserRequests.length;
  const recorderBefore = recorder.requests.length;
  const synapseBefore = synapseLines().length;
  const panicsBefore = panics().length;
  const results = await page.evaluate(async ([api, ctx]) => {
    const list = window.garbage.rows(api, { ...ctx, media: window.media, am: window.am });
    return window.garbage.run(list);
  }, [api, ctx]);
  assert.ok(results.length > 0, `no rows for ${api}`);
  const bad = [];
  for (const r of results) {
    if (r.expect === 'ok') {
      if (r.outcome !== 'returned' && r.outcome !== 'resolved') bad.push(`${r.label}: expected to succeed, ${r.outcome} (${r.code}: ${r.message})`);
      continue;
    }
    if (r.outcome !== 'threw' && r.outcome !== 'rejected') {
      bad.push(`${r.label}: ${r.outcome}${r.value !== undefined ? ` ${JSON.stringify(r.value)}` : ''} instead of an error`);
    } else if (!r.isError || !r.instanceOfAuthMediaError || !CODES.has(r.code)) {
      bad.push(`${r.label}: ${r.outcome} ${r.name} code=${r.code} instanceof=${r.instanceOfAuthMediaError} "${r.message}"`);
    }
  }
  const sent = browserRequests.slice(requestsBefore);
  const atRecorder = recorder.requests.slice(recorderBefore).map((r) => `${r.method} ${r.url.slice(0, 200)}`);
  const atSynapse = synapseLines().slice(synapseBefore);
  const newPanics = panics().slice(panicsBefore);
  const summary = results.reduce((acc, r) => ((acc[r.code ?? r.outcome] = (acc[r.code ?? r.outcome] ?? 0) + 1), acc), {});
  console.log(`# ${api}: ${results.length} rows → ${JSON.stringify(summary)}`);
  assert.deepEqual(bad, [], `${api}: ${bad.length} of ${results.length} rows misbehaved`);
  assert.deepEqual(sent, [], `${api}: the browser sent requests`);
  assert.deepEqual(atRecorder, [], `${api}: requests reached the recorder`);
  assert.deepEqual(atSynapse, [], `${api}: requests reached Synapse`);
  assert.deepEqual(newPanics, [], `${api}: wasm panicked`);
  return results;
}

/** The instance still works: a valid src() renders, a valid httpUrl() is built, no panic. */
async function stillWorks(page, mode) {
  const r = await page.evaluate(async (mxc) => {
    const url = await window.media.src(mxc, { thumbnail: { width: 32, height: 32, method: 'crop' } });
    const img = new Image();
    img.src = url;
    await img.decode();
    return { url: url.slice(0, 8), http: window.media.httpUrl(mxc), w: img.naturalWidth, mode: window.media.mode };
  }, world.media.png800.mxc);
  assert.equal(r.mode, mode);
  assert.equal(r.w, 32);
  assert.equal(r.url, mode === 'worker' ? world.synapse.baseUrl.slice(0, 8) : 'blob:htt');
  assert.ok(r.http.startsWith(`${world.synapse.baseUrl}/_matrix/client/v1/media/download/`), r.http);
  assert.deepEqual(panics(), [], 'wasm panicked');
}

test('before the wasm is loaded: initAsync(garbage) rejects wasm_load_failed, then initAsync() works', { timeout: 120_000 }, async () => {
  const page = await browser.context.newPage();
  const lines = collectConsole(page);
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await page.addScriptTag({ path: GARBAGE_JS });
    const requestsBefore = browserRequests.length;
    const out = await page.evaluate(async () => {
      const am = window.am;
      const rows = window.garbage
        .values()
        .filter(([, v]) => v !== undefined && typeof v !== 'string')
        .map(([l, v]) => [`initAsync(${l})`, () => am.initAsync(v), 'error']);
      rows.push(['new AuthMedia() before init', () => new am.AuthMedia(), 'error']);
      const results = await window.garbage.run(rows);
      return { results, initialized: am.isInitialized() };
    });
    const bad = out.results.filter((r) => !['threw', 'rejected'].includes(r.outcome) || !r.instanceOfAuthMediaError || !CODES.has(r.code));
    assert.deepEqual(bad, []);
    assert.ok(out.results.slice(0, -1).every((r) => r.code === 'wasm_load_failed'), JSON.stringify(out.results));
    assert.equal(out.results.at(-1).code, 'not_initialized');
    assert.equal(out.initialized, false);
    // Nothing fetched for those (no wasm URL was given).
    assert.deepEqual(browserRequests.slice(requestsBefore), []);
    // A valid initAsync still works afterwards.
    assert.equal(await page.evaluate(async () => (await window.am.initAsync(), window.am.isInitialized())), true);
    assert.deepEqual(lines.filter((l) => /panicked at|unreachable|RuntimeError/i.test(l)), []);
  } finally {
    await page.close();
  }
});

const GROUPS = ['init', 'constructor', 'src', 'httpUrl', 'download', 'srcEncrypted', 'mount', 'setAccessToken', 'setForceFallback', 'events', 'detached', 'extraArgs', 'fromMatrixClient', 'AuthMediaError'];

for (const mode of ['worker', 'fallback']) {
  test(`${mode} mode: every public API refuses garbage with a coded AuthMediaError, sends nothing, keeps working`, { timeout: 600_000 }, async (t) => {
    const page = await openMode(mode);
    for (const api of GROUPS) {
      await t.test(api, async () => {
        await check(page, api);
        assert.equal(await page.evaluate(() => window.media.mode), mode, 'the mode did not change');
      });
    }
    await stillWorks(page, mode);
    // Every API on a logged-out instance: a logged_out error (or a no-op), never a panic.
    const requestsBefore = browserRequests.length;
    const after = await page.evaluate(async (mxc) => {
      await window.media.logout();
      const m = window.media;
      return window.garbage.run([
        ['src', () => m.src(mxc)],
        ['srcEncrypted', () => m.srcEncrypted({ url: mxc })],
        ['download', () => m.download(mxc)],
        ['setAccessToken', () => m.setAccessToken('abc')],
        ['logout again', () => m.logout(), 'ok'],
        ['stats', () => m.stats(), 'ok'],
        ['httpUrl', () => m.httpUrl(mxc), 'ok'],
      ].map(([l, f, e = 'error']) => [l, f, e]));
    }, world.media.png64.mxc);
    const wrong = after.filter((r) => (r.expect === 'ok' ? !['returned', 'resolved'].includes(r.outcome) : !['threw', 'rejected'].includes(r.outcome) || !CODES.has(r.code)));
    assert.deepEqual(wrong, [], JSON.stringify(after));
    assert.ok(after.filter((r) => r.label === 'src' || r.label === 'download' || r.label === 'setAccessToken').every((r) => r.code === 'logged_out'), JSON.stringify(after));
    assert.deepEqual(
      browserRequests.slice(requestsBefore).filter((u) => !u.includes('/_matrix/client/versions')),
      [],
      'nothing was requested after logout',
    );
    assert.deepEqual(panics(), []);
  });
}
