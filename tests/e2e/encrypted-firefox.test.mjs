/**
 * Encrypted attachments in Firefox ESR (geckodriver/WebDriver), the page SDK of tests/pages/page/:
 *
 * - worker mode (service workers on, the package's worker): `srcEncrypted()` hands out a same-origin
 *   `<scope>authmedia/encrypted/<id>` URL — the PNG decodes at its size, the webm plays and seeks
 *   from a `<video>` with and without `crossorigin` (the worker builds the answer from the verified plaintext:
 *   a same-origin basic response, not the CORS answer Firefox refuses to a no-cors media load); a
 *   flipped byte → no image, the URL answers the worker's JSON error (502, `hash_mismatch`);
 * - fallback, with service workers disabled (`dom.serviceWorkers.enabled = false`): `srcEncrypted()`
 *   downloads with the token, verifies and decrypts in wasm and hands out a `blob:` URL — the PNG
 *   decodes at its size, the webm plays and seeks; a flipped byte rejects with `hash_mismatch` and
 *   creates no object URL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted, SHOW_IMAGE, PLAY_AND_SEEK, FETCH_JSON, MOUNT_SETTLED, missingAndTampered, WHY_EXPECTED } from '../harness/encrypted.mjs';
import { logReplay } from '../harness/play.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let ff;
const enc = {};

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  const png = readFixture(world.media.png64);
  enc.png = await uploadEncrypted(world, 'png', png);
  enc.webm = await uploadEncrypted(world, 'webm', readFixture(world.media.webm));
  enc.flipped = await uploadEncrypted(world, 'flipped', png, (c) => {
    c[c.length >> 1] ^= 0x80;
    return c;
  });
  site = await startPageSite();
});

after(async () => {
  await ff?.close();
  await site?.close();
});

/** A fresh Firefox per test (the fallback test turns service workers off). */
async function firefox(prefs = {}) {
  await ff?.close();
  ff = await launchFirefox({ prefs });
  await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
  return ff;
}

const alice = () => ({ homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId });

test('Firefox ESR worker: encrypted image and webm (with and without crossorigin, a seek) from worker URLs; a flipped byte → no image, JSON hash_mismatch', { timeout: 240_000 }, async () => {
  const ff = await firefox();
  await ff.navigate(site.url('/'));
  await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
  assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
  await ff.evaluate('window.media = await window.am.AuthMedia.init(args[0]);', alice());
  await ff.waitFor("return window.media.mode === 'worker' && navigator.serviceWorker.controller !== null", { timeoutMs: 30_000 });
  const origin = new URL(site.url('/')).origin;

  const img = await ff.evaluate(SHOW_IMAGE, enc.png, 'image/png');
  assert.equal(img.outcome, 'load', JSON.stringify(img));
  assert.ok(img.url.startsWith(`${origin}/authmedia/encrypted/`), img.url);
  assert.deepEqual([img.w, img.h], [world.media.png64.width, world.media.png64.height]);

  const m = world.media.webm;
  for (const crossOrigin of [null, 'anonymous']) {
    const v = await ff.evaluate(PLAY_AND_SEEK, enc.webm, 'video/webm', 1.5, crossOrigin);
    const where = `crossorigin=${crossOrigin}: ${JSON.stringify(v)}`;
    logReplay(`Firefox crossorigin=${crossOrigin}`, v);
    assert.ok(v.url.startsWith(`${origin}/authmedia/encrypted/`), where);
    assert.ok(v.played >= 0.3 && Math.abs(v.seeked - 1.5) < 0.5 && v.readyState >= 2, where);
    assert.deepEqual([v.w, v.h], [m.width, m.height], where);
  }

  const bad = await ff.evaluate(SHOW_IMAGE, enc.flipped, 'image/png');
  assert.equal(bad.outcome, 'error', JSON.stringify(bad));
  assert.equal(bad.w, 0);
  assert.ok(bad.url.startsWith(`${origin}/authmedia/encrypted/`), bad.url);
  const answer = await ff.evaluate(FETCH_JSON, bad.url);
  assert.equal(answer.status, 502, JSON.stringify(answer));
  assert.equal(answer.type, 'application/json');
  assert.equal(answer.json?.authmedia_code, 'hash_mismatch', JSON.stringify(answer));
  assert.equal(answer.json?.errcode, 'AUTHMEDIA_HASH_MISMATCH');
  // Mounted elements that fail say why, as in the fallback: the worker tells the page.
  const mounted = await ff.evaluate(MOUNT_SETTLED, missingAndTampered(world, enc.flipped));
  assert.deepEqual(mounted, WHY_EXPECTED, JSON.stringify(mounted));
  await ff.evaluate('await window.media.logout();');
});

test('Firefox ESR fallback: encrypted image and webm (with a seek) as blob: URLs; a flipped byte → hash_mismatch', { timeout: 240_000 }, async () => {
  const ff = await firefox({ 'dom.serviceWorkers.enabled': false });
  await ff.navigate(site.url('/'));
  await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
  assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
  const r = await ff.evaluate(
    `const [opts, files] = args;
     const media = await window.am.AuthMedia.init(opts);
     window.media = media;
     const root = document.getElementById('root');
     const out = { mode: media.mode };
     const imgUrl = await media.srcEncrypted(files.png, { mimetype: 'image/png' });
     const img = document.createElement('img');
     root.append(img);
     out.img = await new Promise((resolve) => {
       img.onload = () => resolve({ ok: true, w: img.naturalWidth, h: img.naturalHeight });
       img.onerror = () => resolve({ ok: false });
       img.src = imgUrl;
     });
     out.imgBlob = imgUrl.startsWith('blob:');
     const v = document.createElement('video');
     v.muted = true;
     root.append(v);
     v.src = await media.srcEncrypted(files.webm, { mimetype: 'video/webm' });
     const until = (cond, ms) => new Promise((resolve, reject) => {
       const t0 = performance.now();
       const timer = setInterval(() => {
         if (cond()) { clearInterval(timer); resolve(); }
         else if (v.error || performance.now() - t0 > ms) {
           clearInterval(timer);
           reject(new Error('video: ' + (v.error ? v.error.message : 'timeout') + ' t=' + v.currentTime));
         }
       }, 50);
     });
     await v.play();
     await until(() => v.currentTime >= 0.3, 30000);
     v.pause();
     v.currentTime = 1.5;
     await until(() => !v.seeking && v.readyState >= 2, 30000);
     out.video = { w: v.videoWidth, t: v.currentTime, blob: v.src.startsWith('blob:') };
     const before = media.stats().fallback.objectUrls;
     out.bad = await media.srcEncrypted(files.flipped, { mimetype: 'image/png' }).then((u) => ({ url: u }), (e) => ({ code: e.code, reason: e.reason }));
     out.urlsAdded = media.stats().fallback.objectUrls - before;
     return out;`,
    { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId },
    enc,
  );
  assert.equal(r.mode, 'fallback', JSON.stringify(r));
  assert.deepEqual(r.img, { ok: true, w: world.media.png64.width, h: world.media.png64.height });
  assert.ok(r.imgBlob);
  assert.equal(r.video.w, world.media.webm.width, JSON.stringify(r.video));
  assert.ok(Math.abs(r.video.t - 1.5) < 0.5 && r.video.blob, JSON.stringify(r.video));
  assert.deepEqual(r.bad, { code: 'hash_mismatch', reason: 'hash_mismatch' });
  assert.equal(r.urlsAdded, 0);
});
