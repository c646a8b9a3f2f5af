/**
 * Encrypted attachments end to end, in headless Chromium against the real Synapse, through
 * the npm package `matrix-authmedia` and its service worker (the page site of tests/pages/page):
 *
 * - setup: a PNG and the > 5 MB mp4 fixture are encrypted in Node (AES-256-CTR, SHA-256 of the
 *   ciphertext: the spec's `EncryptedFile` v2) and the ciphertexts uploaded to Synapse; also a copy
 *   with one flipped byte and a truncated copy (the `EncryptedFile` keeps the original hash);
 * - worker mode: `media.srcEncrypted()` hands out a same-origin URL under the worker's scope; the
 *   image decodes at its real size, the video plays and seeks; a Range request is answered 206 from
 *   the verified plaintext (bytes compared); the type is the declared one when safe, never SVG/HTML;
 *   tampered/truncated → the image errors (naturalWidth 0) and the URL answers a JSON error
 *   `AUTHMEDIA_HASH_MISMATCH`; after the worker is stopped (registry gone) the URL still works (the
 *   worker asks the tab, `authmedia:need-encrypted`); after logout it answers 401, nothing decrypted;
 *   the page never fetches its on-demand decryption module (`dist/authmedia_crypto*`);
 * - fallback (`fallback: 'force'`): `blob:` URLs, image and video (with a seek) the same; tampered
 *   and truncated → the promise rejects with `hash_mismatch`, no object URL is created; the
 *   decryption module is fetched once, on the first attachment.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, hasWorker, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;
/** name → { file: EncryptedFile, plain: Buffer, mimetype } */
const enc = {};

async function seed(name, plain, mimetype, mutate) {
  enc[name] = { file: await uploadEncrypted(world, name, plain, mutate), plain, mimetype };
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  const png = readFixture(world.media.png64);
  const mp4 = readFixture(world.media.mp4);
  await seed('png', png, 'image/png');
  await seed('mp4', mp4, 'video/mp4');
  await seed('flipped', png, 'image/png', (c) => {
    c[Math.floor(c.length / 2)] ^= 0x01;
    return c;
  });
  await seed('truncated', png, 'image/png', (c) => c.subarray(0, c.length - 7));
  site = await startPageSite();
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** Progress on stderr, so a timeout shows where it stopped. */
const step = (what) => process.stderr.write(`[encrypted.test] ${what}\n`);
const logs = () => consoleLines.slice(-40).join('\n');

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

/** In the page: srcEncrypted → an <img>; resolves with what it shows (or the rejection). */
function showImage(page, { file, mimetype }) {
  return page.evaluate(async ({ file, mimetype }) => {
    let url;
    try {
      url = await window.media.srcEncrypted(file, { mimetype });
    } catch (e) {
      return { rejected: { code: e.code, reason: e.reason, name: e.name, message: e.message } };
    }
    const img = document.createElement('img');
    document.getElementById('root').append(img);
    const outcome = await new Promise((resolve) => {
      img.onload = () => resolve('load');
      img.onerror = () => resolve('error');
      img.src = url;
    });
    return { url, outcome, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight };
  }, { file, mimetype });
}

/** In the page: srcEncrypted → a <video>; plays ≥ 0.5 s, then seeks to `seekTo` and waits for it. */
function playAndSeek(page, { file, mimetype }, seekTo) {
  return page.evaluate(
    async ({ file, mimetype, seekTo }) => {
      const url = await window.media.srcEncrypted(file, { mimetype });
      const v = document.createElement('video');
      v.muted = true;
      v.playsInline = true;
      v.preload = 'auto';
      document.getElementById('root').append(v);
      // Polls the element's state (bounded); rejects on a media error or after `ms`.
      const until = (cond, ms) =>
        new Promise((resolve, reject) => {
          const t0 = performance.now();
          const timer = setInterval(() => {
            let err = null;
            if (v.error) err = `video error ${v.error.code} ${v.error.message}`;
            else if (!cond() && performance.now() - t0 > ms) err = `timeout (t=${v.currentTime}, readyState=${v.readyState})`;
            else if (!cond()) return;
            clearInterval(timer);
            if (err) reject(new Error(err));
            else resolve();
          }, 50);
        });
      v.src = url;
      await v.play();
      await until(() => v.currentTime >= 0.5, 30_000);
      const played = v.currentTime;
      v.pause();
      v.currentTime = seekTo;
      await until(() => !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - seekTo) < 1, 30_000);
      return { url, played, seeked: v.currentTime, duration: v.duration, videoWidth: v.videoWidth };
    },
    { file, mimetype, seekTo }, // not the plaintext: a 6 MB Buffer serialises very slowly
  );
}

/** In the page: fetch(url) with optional headers → status, headers and a digest of the body. */
function fetchInPage(page, url, headers = {}) {
  return page.evaluate(
    async ({ url, headers }) => {
      const r = await fetch(url, { headers, cache: 'no-store' });
      const buf = new Uint8Array(await r.arrayBuffer());
      const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)), (b) => b.toString(16).padStart(2, '0')).join('');
      let json = null;
      try {
        json = JSON.parse(new TextDecoder().decode(buf));
      } catch {}
      return {
        status: r.status,
        type: r.headers.get('content-type'),
        cacheControl: r.headers.get('cache-control'),
        contentRange: r.headers.get('content-range'),
        nosniff: r.headers.get('x-content-type-options'),
        length: buf.length,
        digest,
        json,
      };
    },
    { url, headers },
  );
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');

/** Records the page's requests for the on-demand decryption module (`dist/authmedia_crypto*`). */
function watchDecryptorModule(page) {
  const urls = [];
  const onRequest = (req) => {
    if (req.url().includes('authmedia_crypto')) urls.push(req.url());
  };
  page.on('request', onRequest);
  return { urls, stop: () => page.off('request', onRequest) };
}

test('worker mode: encrypted image and video (with a seek) served by the worker; ranges, safe types, tampering, restart, logout', { timeout: 240_000 }, async () => {
  const page = browser.page;
  const module = watchDecryptorModule(page);
  await openInWorkerMode(page, site.url('/'), alice(), logs);
  const origin = new URL(site.url('/')).origin;

  step('worker: image');
  const img = await showImage(page, enc.png);
  assert.equal(img.outcome, 'load', `${JSON.stringify(img)}\n${logs()}`);
  assert.ok(img.url.startsWith(`${origin}/authmedia/encrypted/`), img.url);
  assert.ok(!img.url.includes(enc.png.file.key.k), 'the key is never in the URL');
  assert.deepEqual([img.naturalWidth, img.naturalHeight], [world.media.png64.width, world.media.png64.height]);
  // The same file again gets the same URL (no second registration).
  assert.equal((await showImage(page, enc.png)).url, img.url);

  const whole = await fetchInPage(page, img.url);
  assert.equal(whole.status, 200);
  assert.equal(whole.type, 'image/png');
  assert.equal(whole.cacheControl, 'no-store');
  assert.equal(whole.nosniff, 'nosniff');
  assert.equal(whole.digest, sha(enc.png.plain), 'the worker serves exactly the plaintext');

  // An unsafe declared type is served as application/octet-stream.
  const svg = await page.evaluate(({ file }) => window.media.srcEncrypted(file, { mimetype: 'image/svg+xml' }), { file: enc.png.file });
  assert.notEqual(svg, img.url);
  assert.equal((await fetchInPage(page, svg)).type, 'application/octet-stream');
  const html = await page.evaluate(({ file }) => window.media.srcEncrypted(file, { mimetype: 'text/html' }), { file: enc.png.file });
  assert.equal((await fetchInPage(page, html)).type, 'application/octet-stream');

  step('worker: video');
  // Video: plays and seeks (a <video> sends Range requests: answered 206 from the plaintext).
  const video = await playAndSeek(page, enc.mp4, 15);
  assert.ok(video.url.startsWith(`${origin}/authmedia/encrypted/`), video.url);
  assert.ok(video.played >= 0.5, JSON.stringify(video));
  assert.ok(Math.abs(video.seeked - 15) < 1, JSON.stringify(video));
  assert.equal(video.videoWidth, world.media.mp4.width);
  const plain = enc.mp4.plain;
  const part = await fetchInPage(page, video.url, { Range: 'bytes=1000-1999' });
  assert.equal(part.status, 206);
  assert.equal(part.contentRange, `bytes 1000-1999/${plain.length}`);
  assert.equal(part.digest, sha(plain.subarray(1000, 2000)));
  assert.equal(part.type, 'video/mp4');
  const tail = await fetchInPage(page, video.url, { Range: `bytes=${plain.length - 100}-` });
  assert.equal(tail.status, 206);
  assert.equal(tail.digest, sha(plain.subarray(plain.length - 100)));

  step('worker: tampered');
  // Tampered and truncated ciphertexts: nothing rendered, a clear JSON error.
  for (const name of ['flipped', 'truncated']) {
    const bad = await showImage(page, enc[name]);
    assert.equal(bad.outcome, 'error', `${name}: ${JSON.stringify(bad)}`);
    assert.equal(bad.naturalWidth, 0);
    const r = await fetchInPage(page, bad.url);
    assert.equal(r.status, 502, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.json?.errcode, 'AUTHMEDIA_HASH_MISMATCH', JSON.stringify(r.json));
    assert.equal(r.type, 'application/json');
  }

  step('worker: restart');
  // The worker restarts (its registry and store are gone): it asks the tab and serves again.
  await stopServiceWorkers(page);
  const again = await fetchInPage(page, img.url);
  assert.equal(again.status, 200, `${JSON.stringify(again)}\n${logs()}`);
  assert.equal(again.digest, sha(enc.png.plain));
  const stillBad = await fetchInPage(page, (await showImage(page, enc.flipped)).url);
  assert.equal(stillBad.json?.errcode, 'AUTHMEDIA_HASH_MISMATCH');
  // A registration reaching a restarted worker first (before any media request) is accepted: the
  // worker learns the tab's session, and the page keeps its worker URL (no fallback blob).
  await stopServiceWorkers(page);
  const fresh = await showImage(page, enc.png);
  assert.equal(fresh.url, img.url, JSON.stringify(fresh));
  assert.equal(fresh.outcome, 'load');
  // The worker verified and decrypted with WebCrypto (every service worker has crypto.subtle).
  const ws = (await page.evaluate(() => window.media.refreshStats())).worker;
  assert.ok(ws.decryptedWebCrypto >= 1 && ws.decryptedWasm === 0, JSON.stringify(ws));
  // The page only registered the files with the worker: its decryption module was never fetched.
  module.stop();
  assert.deepEqual(module.urls, [], 'a worker-mode page does not load the decryption module');

  step('worker: logout');
  // Logout: keys and decrypted copies are gone; the URL answers 401 with no plaintext.
  await page.evaluate(() => window.media.logout());
  const after = await fetchInPage(page, img.url);
  assert.equal(after.status, 401, JSON.stringify(after));
  assert.notEqual(after.digest, sha(enc.png.plain));
  const rejected = await page.evaluate(({ file }) => window.media.srcEncrypted(file, { mimetype: 'image/png' }).then(() => null, (e) => e.code), { file: enc.png.file });
  assert.equal(rejected, 'logged_out');
});

test('fallback: encrypted image and video (with a seek) as blob: URLs; tampered or truncated → hash_mismatch, nothing created', { timeout: 240_000 }, async () => {
  const page = browser.page;
  const module = watchDecryptorModule(page);
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const init = await initInPage(page, alice({ fallback: 'force' }));
  assert.equal(init.mode, 'fallback');
  assert.deepEqual(module.urls, [], 'nothing of the decryption module before an attachment needs it');

  const img = await showImage(page, enc.png);
  assert.equal(img.outcome, 'load', `${JSON.stringify(img)}\n${logs()}`);
  assert.ok(img.url.startsWith('blob:'), img.url);
  assert.deepEqual([img.naturalWidth, img.naturalHeight], [world.media.png64.width, world.media.png64.height]);
  const blob = await page.evaluate(async (u) => {
    const b = await (await fetch(u)).blob();
    return { type: b.type, size: b.size };
  }, img.url);
  assert.deepEqual(blob, { type: 'image/png', size: enc.png.plain.length });
  const svgType = await page.evaluate(async ({ file }) => (await (await fetch(await window.media.srcEncrypted(file, { mimetype: 'image/svg+xml' }))).blob()).type, { file: enc.png.file });
  assert.equal(svgType, 'application/octet-stream');

  step('fallback: video');
  const video = await playAndSeek(page, enc.mp4, 15);
  assert.ok(video.url.startsWith('blob:'), video.url);
  assert.ok(video.played >= 0.5 && Math.abs(video.seeked - 15) < 1, JSON.stringify(video));

  const urlsBefore = await page.evaluate(() => window.media.stats().fallback.objectUrls);
  for (const name of ['flipped', 'truncated']) {
    const bad = await showImage(page, enc[name]);
    assert.equal(bad.rejected?.code, 'hash_mismatch', `${name}: ${JSON.stringify(bad)}`);
    assert.equal(bad.rejected?.reason, 'hash_mismatch');
    assert.equal(bad.rejected?.name, 'AuthMediaError');
  }
  assert.equal(await page.evaluate(() => window.media.stats().fallback.objectUrls), urlsBefore, 'no object URL for a failed attachment');
  // A secure context: the fallback verified and decrypted with WebCrypto.
  const fs = await page.evaluate(() => window.media.stats().fallback);
  assert.ok(fs.decryptedWebCrypto >= 2 && fs.decryptedWasm === 0, JSON.stringify(fs));
  // The fallback's decryption lives in the module loaded on the first attachment: fetched once.
  module.stop();
  assert.equal(module.urls.filter((u) => /authmedia_crypto_bg\.wasm/.test(u)).length, 1, module.urls.join(', '));

  // A malformed EncryptedFile is refused before any download.
  const malformed = await page.evaluate(
    ({ file }) => window.media.srcEncrypted({ ...file, iv: 'AAAA' }).then(() => null, (e) => ({ code: e.code, reason: e.reason })),
    { file: enc.png.file },
  );
  assert.deepEqual(malformed, { code: 'invalid_argument', reason: 'invalid_length' });
  await page.evaluate(() => window.media.logout());
});
