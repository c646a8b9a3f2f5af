/**
 * Encrypted attachments in Firefox ESR (geckodriver/WebDriver) through the page SDK's fallback, with
 * service workers disabled (`dom.serviceWorkers.enabled = false`): `srcEncrypted()` downloads with the
 * token, verifies and decrypts in wasm and hands out a `blob:` URL — the PNG decodes at its size, the
 * webm plays and seeks; a flipped byte rejects with `hash_mismatch` and creates no object URL.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { loadWorld } from '../harness/env.mjs';
import { readFixture } from '../harness/fixtures.mjs';
import * as mx from '../harness/matrix.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite } from '../pages/page/site.mjs';

let world;
let site;
let ff;
const enc = {};

const b64 = (buf) => buf.toString('base64').replace(/=+$/, '');

/** Encrypts like a Matrix client (EncryptedFile v2) and uploads the ciphertext, optionally altered. */
async function seed(name, plain, mutate = (c) => c) {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  const sha256 = b64(createHash('sha256').update(ciphertext).digest());
  const url = await mx.upload(world.synapse.baseUrl, world.users.alice.accessToken, mutate(ciphertext), 'application/octet-stream', `${name}.bin`);
  enc[name] = {
    url,
    key: { kty: 'oct', alg: 'A256CTR', key_ops: ['encrypt', 'decrypt'], k: key.toString('base64url'), ext: true },
    iv: b64(iv),
    hashes: { sha256 },
    v: 'v2',
  };
}

before(async () => {
  world = await loadWorld();
  const png = readFixture(world.media.png64);
  await seed('png', png);
  await seed('webm', readFixture(world.media.webm));
  await seed('flipped', png, (c) => {
    c[c.length >> 1] ^= 0x80;
    return c;
  });
  site = await startPageSite();
  ff = await launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } });
  await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
});

after(async () => {
  await ff?.close();
  await site?.close();
});

test('Firefox ESR fallback: encrypted image and webm (with a seek) as blob: URLs; a flipped byte → hash_mismatch', { timeout: 240_000 }, async () => {
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
