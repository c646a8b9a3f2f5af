/**
 * Harness smoke test: the real Synapse, the fixtures and every browser driver work end to end.
 * It tests the environment the other e2e suites stand on, not the library: if this file fails,
 * look at the harness (tests/harness, tests/lib) before the worker or page code.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { launchFirefox, launchWebKit } from '../lib/webdriver.mjs';

const PAGE = '<!doctype html><meta charset="utf-8"><title>authmedia smoke</title><body><main id="out"></main></body>';

/** @type {any} */
let world;
/** @type {Awaited<ReturnType<typeof startStaticServer>>} */
let site;
/** @type {Awaited<ReturnType<typeof launchChromium>>} */
let chromium;
/** @type {string[]} */
let consoleLines;

before(async () => {
  world = await loadWorld();
  site = await startStaticServer({
    routes: {
      '/': (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(PAGE),
    },
  });
  chromium = await launchChromium();
  consoleLines = collectConsole(chromium.page);
  await chromium.page.goto(site.url('/'));
});

after(async () => {
  await chromium?.close();
  await site?.close();
});

/** Browser-side: fetch a URL and describe the answer (status, errcode, decoded image size, sha256). */
async function probe(url, token) {
  return chromium.page.evaluate(
    async ([url, token]) => {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const res = await fetch(url, { headers, cache: 'no-store' });
      const buf = await res.arrayBuffer();
      const type = res.headers.get('content-type') ?? '';
      const out = { status: res.status, type, size: buf.byteLength, errcode: null, width: null, height: null, sha256: null };
      if (type.startsWith('application/json')) {
        out.errcode = JSON.parse(new TextDecoder().decode(buf)).errcode ?? null;
      } else if (type.startsWith('image/')) {
        const bmp = await createImageBitmap(new Blob([buf], { type }));
        out.width = bmp.width;
        out.height = bmp.height;
      }
      const digest = await crypto.subtle.digest('SHA-256', buf);
      out.sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      return out;
    },
    [url, token ?? null],
  );
}

test('fixtures: the mp4 is H.264-sized (>= 5 MB) and every fixture file matches its recorded hash', async () => {
  assert.ok(world.media.mp4.bytes >= 5 * 1024 * 1024, `mp4 is ${world.media.mp4.bytes} bytes`);
  for (const [name, item] of Object.entries(world.media)) {
    const sha = createHash('sha256').update(readFileSync(item.path)).digest('hex');
    assert.equal(sha, item.sha256, `${name} on disk differs from the uploaded file`);
    assert.match(item.mxc, /^mxc:\/\/authmedia\.test\/[A-Za-z0-9_-]+$/);
  }
});

test('Synapse: tokens belong to the right users; a guest can register', async () => {
  const base = world.synapse.baseUrl;
  for (const name of ['alice', 'bob']) {
    const me = await mx.whoami(base, world.users[name].accessToken);
    assert.equal(me.user_id, world.users[name].userId);
  }
  const guest = await mx.registerGuest(base);
  const me = await mx.whoami(base, guest.accessToken);
  assert.equal(me.is_guest, true);
  await assert.rejects(mx.whoami(base, 'not-a-token'), (err) => err.status === 401 && err.errcode === 'M_UNKNOWN_TOKEN');
});

test('Chromium: a v1 thumbnail with the token is a 32×32 image; without a token it is 401', { timeout: 120_000 }, async () => {
  const url = mx.mediaUrl(world.synapse.baseUrl, world.media.png64.mxc, { kind: 'thumbnail', width: 32, height: 32, method: 'crop' });
  const ok = await probe(url, world.users.alice.accessToken);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.equal(ok.width, 32);
  assert.equal(ok.height, 32);

  const missing = await probe(url, null);
  assert.equal(missing.status, 401);
  assert.equal(missing.errcode, 'M_MISSING_TOKEN');

  const bad = await probe(url, 'syt_not_a_real_token');
  assert.equal(bad.status, 401);
  assert.equal(bad.errcode, 'M_UNKNOWN_TOKEN');
});

test('Chromium: v1 download returns the uploaded bytes (5+ MB video included)', { timeout: 120_000 }, async () => {
  for (const name of ['png800', 'mp4']) {
    const item = world.media[name];
    const got = await probe(mx.mediaUrl(world.synapse.baseUrl, item.mxc), world.users.bob.accessToken);
    assert.equal(got.status, 200, `${name}: ${JSON.stringify(got)}`);
    assert.equal(got.size, item.bytes, name);
    assert.equal(got.sha256, item.sha256, name);
  }
});

test('Chromium: the media freeze — legacy v3 of fresh media is 404, of pre-freeze media renders', { timeout: 120_000 }, async () => {
  const base = world.synapse.baseUrl;
  const fresh = await probe(mx.mediaUrl(base, world.media.png64.mxc, { api: 'legacy' }), null);
  assert.equal(fresh.status, 404);
  assert.equal(fresh.errcode, 'M_NOT_FOUND');
  // Even with a token: the freeze is about the endpoint, not authentication.
  const freshWithToken = await probe(mx.mediaUrl(base, world.media.png64.mxc, { api: 'legacy' }), world.users.alice.accessToken);
  assert.equal(freshWithToken.status, 404);

  const pre = world.media.prefreezePng;
  const legacyUrl = mx.mediaUrl(base, pre.mxc, { api: 'legacy' });
  const natural = await chromium.page.evaluate(async (src) => {
    const img = document.createElement('img');
    img.src = src;
    document.getElementById('out')?.append(img);
    await img.decode();
    return { w: img.naturalWidth, h: img.naturalHeight };
  }, legacyUrl);
  assert.deepEqual(natural, { w: pre.width, h: pre.height }, consoleLines.join('\n'));
});

test('recorder: sees an Authorization header that reaches it, and answers a 307 to another origin', { timeout: 60_000 }, async () => {
  const a = await startRecorder();
  const b = await startRecorder();
  try {
    a.redirect('/hop/', (u) => b.url(u.pathname.replace('/hop/', '/landed/')), 307);
    const result = await chromium.page.evaluate(async (url) => {
      const res = await fetch(url, { headers: { Authorization: 'Bearer leak-canary' }, cache: 'no-store' });
      return { status: res.status, url: res.url, redirected: res.redirected };
    }, a.url('/hop/x.png'));
    assert.equal(result.status, 200);
    assert.equal(result.redirected, true);
    assert.equal(result.url, b.url('/landed/x.png'));
    // The first hop carried the header (after a preflight that announced it): the recorder detects leaks.
    const leaked = a.withAuthorization();
    assert.ok(leaked.some((r) => r.method === 'GET' && r.headers.authorization === 'Bearer leak-canary'), JSON.stringify(a.requests));
    assert.ok(leaked.some((r) => r.method === 'OPTIONS'), 'preflight announcing Authorization recorded');
    const landed = await b.waitFor((r) => r.method === 'GET' && r.path === '/landed/x.png');
    // Fetch drops Authorization on a cross-origin redirect (whatwg/fetch#1544); Chromium 156 does.
    assert.equal(landed.headers.authorization, undefined, 'Authorization crossed origins on a 307');
  } finally {
    await a.close();
    await b.close();
  }
});

test('static server: MIME types for wasm/js, Service-Worker-Allowed, no caching, no path traversal', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-static-'));
  const outside = mkdtempSync(path.join(os.tmpdir(), 'authmedia-outside-'));
  writeFileSync(path.join(dir, 'm.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  writeFileSync(path.join(dir, 'sw.js'), 'self.x = 1;');
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  const srv = await startStaticServer({ root: dir });
  try {
    const wasm = await fetch(srv.url('/m.wasm'));
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('service-worker-allowed'), '/');
    assert.equal(wasm.headers.get('cache-control'), 'no-store');
    assert.equal((await wasm.arrayBuffer()).byteLength, 8);
    const js = await fetch(srv.url('/sw.js'));
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(await js.text(), 'self.x = 1;');
    const index = await fetch(srv.url('/'));
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    const rel = path.relative(dir, path.join(outside, 'secret.txt'));
    for (const p of [`/${rel}`, `/${encodeURIComponent(rel)}`, '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd']) {
      const res = await fetch(srv.url(p));
      const body = await res.text();
      assert.equal(res.status, 404, `${p} answered ${res.status}: ${body.slice(0, 40)}`);
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

/** Script (async function body) run in Firefox/WebKit: fetch with and without the token. */
const ENGINE_SCRIPT = `
  const [url, token] = args;
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const authed = await fetch(url, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  const body = await authed.arrayBuffer();
  const anon = await fetch(url, { cache: 'no-store' });
  const anonBody = await anon.json();
  return {
    secure: isSecureContext,
    hasServiceWorker: 'serviceWorker' in navigator,
    status: authed.status,
    sha256: hex(await crypto.subtle.digest('SHA-256', body)),
    anonStatus: anon.status,
    anonErrcode: anonBody.errcode,
  };`;

test('Firefox ESR (geckodriver): loads a page and runs a script against Synapse', { timeout: 180_000 }, async () => {
  const ff = await launchFirefox();
  try {
    await ff.navigate(site.url('/'));
    assert.equal(await ff.title(), 'authmedia smoke');
    const item = world.media.jpeg;
    const out = await ff.evaluate(ENGINE_SCRIPT, mx.mediaUrl(world.synapse.baseUrl, item.mxc), world.users.alice.accessToken);
    assert.deepEqual(out, {
      secure: true,
      hasServiceWorker: true,
      status: 200,
      sha256: item.sha256,
      anonStatus: 401,
      anonErrcode: 'M_MISSING_TOKEN',
    });
  } finally {
    await ff.close();
  }
});

test('Firefox ESR: the pref dom.serviceWorkers.enabled=false removes navigator.serviceWorker', { timeout: 180_000 }, async () => {
  const ff = await launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } });
  try {
    await ff.navigate(site.url('/'));
    assert.equal(await ff.executeScript("return 'serviceWorker' in navigator"), false);
  } finally {
    await ff.close();
  }
});

test('WebKitGTK (WebKitWebDriver under xvfb): loads a page and runs a script against Synapse', { timeout: 180_000 }, async () => {
  const wk = await launchWebKit();
  try {
    await wk.navigate(site.url('/'));
    assert.equal(await wk.title(), 'authmedia smoke');
    const item = world.media.gif;
    const out = await wk.evaluate(ENGINE_SCRIPT, mx.mediaUrl(world.synapse.baseUrl, item.mxc), world.users.bob.accessToken);
    assert.deepEqual(out, {
      secure: true,
      hasServiceWorker: true,
      status: 200,
      sha256: item.sha256,
      anonStatus: 401,
      anonErrcode: 'M_MISSING_TOKEN',
    });
  } finally {
    await wk.close();
  }
});
