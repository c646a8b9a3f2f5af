/**
 * Encrypted attachments for the e2e tests (encrypted.test.mjs, encrypted-firefox.test.mjs,
 * webkit.test.mjs): encrypt like a Matrix client (the spec's `EncryptedFile` v2: AES-256-CTR with a
 * random key, iv = 8 random bytes + a zero counter, SHA-256 of the ciphertext) and upload the
 * ciphertext to the world's Synapse as alice; plus in-page script bodies (WebDriver `evaluate`
 * bodies, `args` = their arguments) that show an encrypted image / play an encrypted video through
 * `window.media` (the page SDK of tests/pages/page/).
 *
 * API:
 *   encryptAttachment(plain) → { ciphertext: Buffer, secrets: EncryptedFile minus url }
 *   uploadEncrypted(world, name, plain, mutate?) → Promise<EncryptedFile>   `mutate(ciphertext)` alters the
 *       uploaded bytes (tampering); the file keeps the original hash
 *   SHOW_IMAGE   body: args [file, mimetype] → { url, outcome: 'load'|'error', w, h } or { rejected: {code, reason} }
 *   PLAY_AND_SEEK  body: args [file, mimetype, seekTo, crossOrigin|null] → { url, played, replayed, seeked, readyState, duration, w, h };
 *       throws on a media error or a 30 s stall (play.mjs: `replayed` when WebKitGTK's stuck start was pressed again)
 *   FETCH_JSON   body: args [url] → { status, type, json }
 *   missingAndTampered(world, flipped) → html for MOUNT_SETTLED: an unknown mxc, the tampered file, a good
 *       image; WHY_EXPECTED is what the SDK must report for them in either mode
 *   MOUNT_SETTLED  body: args [html] → { [id]: { state, error } } — mounts `html` (elements with
 *       `data-mxc` / `data-encrypted` and an id) with `window.media.mount()` and waits (≤ 60 s) until
 *       each is loaded, in error or too large; then unmounts it
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import * as mx from '../../support/matrix.mjs';
import { PLAY_ADVANCING } from './play.mjs';

const b64 = (buf) => buf.toString('base64').replace(/=+$/, '');

export function encryptAttachment(plain) {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const c = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  const secrets = {
    key: { kty: 'oct', alg: 'A256CTR', key_ops: ['encrypt', 'decrypt'], k: key.toString('base64url'), ext: true },
    iv: b64(iv),
    hashes: { sha256: b64(createHash('sha256').update(ciphertext).digest()) },
    v: 'v2',
  };
  return { ciphertext, secrets };
}

export async function uploadEncrypted(world, name, plain, mutate = (c) => c) {
  const { ciphertext, secrets } = encryptAttachment(plain);
  const url = await mx.upload(world.synapse.baseUrl, world.users.alice.accessToken, mutate(Buffer.from(ciphertext)), 'application/octet-stream', `${name}.bin`);
  return { url, ...secrets };
}

export const SHOW_IMAGE = `
  const [file, mimetype] = args;
  let url;
  try {
    url = await window.media.srcEncrypted(file, { mimetype });
  } catch (e) {
    return { rejected: { code: e.code, reason: e.reason } };
  }
  const img = document.createElement('img');
  document.getElementById('root').append(img);
  const outcome = await new Promise((resolve) => {
    img.onload = () => resolve('load');
    img.onerror = () => resolve('error');
    img.src = url;
  });
  return { url, outcome, w: img.naturalWidth, h: img.naturalHeight };`;

export const PLAY_AND_SEEK = `${PLAY_ADVANCING}
  const [file, mimetype, seekTo, crossOrigin] = args;
  const url = await window.media.srcEncrypted(file, { mimetype });
  const v = document.createElement('video');
  v.muted = true;
  v.playsInline = true;
  v.preload = 'auto';
  if (crossOrigin !== null) v.crossOrigin = crossOrigin;
  document.getElementById('root').append(v);
  // Polls the element's state (bounded); rejects on a media error or after ms.
  const until = (cond, ms) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const timer = setInterval(() => {
      let err = null;
      if (v.error) err = 'video error ' + v.error.code + ' ' + v.error.message + ' (crossorigin=' + crossOrigin + ')';
      else if (!cond() && performance.now() - t0 > ms) err = 'timeout (t=' + v.currentTime + ', readyState=' + v.readyState + ', crossorigin=' + crossOrigin + ')';
      else if (!cond()) return;
      clearInterval(timer);
      if (err) reject(new Error(err));
      else resolve();
    }, 50);
  });
  v.src = url;
  // Play once it can, until the time advances (tests/harness/play.mjs: WebKitGTK's stuck start).
  await until(() => v.readyState >= 3, 30000);
  const { playedTo: played, replayed } = await playAdvancing(v, 0.3, 30000);
  v.pause();
  v.currentTime = seekTo;
  await until(() => !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - seekTo) < 0.5, 30000);
  return { url, played, replayed, seeked: v.currentTime, readyState: v.readyState, duration: v.duration, w: v.videoWidth, h: v.videoHeight };`;

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

export function missingAndTampered(world, flipped) {
  const missing = `mxc://${world.synapse.serverName}/NoSuchMedia${Date.now()}`;
  return `<img id="missing" data-mxc="${missing}" alt="">
    <img id="tampered" data-encrypted="${attr(JSON.stringify(flipped))}" data-mimetype="image/png" alt="">
    <img id="fine" data-mxc="${world.media.png64.mxc}" alt="">`;
}

export const WHY_EXPECTED = {
  missing: { state: 'error', error: 'not_found' },
  tampered: { state: 'error', error: 'hash_mismatch' },
  fine: { state: 'loaded', error: null },
};

export const MOUNT_SETTLED = `
  const [html] = args;
  const root = document.createElement('div');
  document.getElementById('root').append(root);
  root.innerHTML = html;
  const unmount = window.media.mount(root);
  const els = [...root.querySelectorAll('[data-mxc], [data-encrypted]')];
  const done = () => els.every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState));
  if (!done()) {
    await new Promise((resolve) => {
      const mo = new MutationObserver(() => done() && (mo.disconnect(), resolve()));
      mo.observe(root, { subtree: true, attributes: true, attributeFilter: ['data-authmedia-state'] });
      setTimeout(() => (mo.disconnect(), resolve()), 60000);
    });
  }
  const out = Object.fromEntries(els.map((el) => [el.id, { state: el.dataset.authmediaState, error: el.dataset.authmediaError || null }]));
  unmount();
  root.remove();
  return out;`;

export const FETCH_JSON = `
  const r = await fetch(args[0], { cache: 'no-store' });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, type: r.headers.get('content-type'), json };`;
