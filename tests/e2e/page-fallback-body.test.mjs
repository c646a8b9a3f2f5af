/**
 * The fallback's reading of small bodies (announced below one progress step), against a scripted
 * homeserver in headless Chromium (no worker: `workerUrl: null`):
 *
 * - a body that stops half-way is cut after `fetchTimeoutMs` with code `timeout`;
 * - a body whose decoded size is over the budget while its `Content-Length` (the gzip on the
 *   wire) is under it is refused `over_budget`, never shown;
 * - a normal small body shows, with the safe type, and one final `progress` event;
 * - a fetch hands its slot of the concurrency bound on as soon as its body is in: the next
 *   waiting fetch starts before the first one's `Blob` and object URL are built.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { launchChromium } from '../lib/browser.mjs';
import { startScriptedHomeserver, CORS } from '../lib/scripted-homeserver.mjs';
import { startPageSite, waitForPackage } from '../pages/page/site.mjs';
import { encodeRgbPng } from '../lib/png.mjs';

const FETCH_TIMEOUT_MS = 1500;
const BUDGET = 20_000;

let site;
let browser;
let hs;
const held = new Set();

function homeserver(req, res, url) {
  const id = url.pathname.split('/').pop();
  if (id === 'half') {
    // Announces 4000 bytes, sends 1000, then nothing (the socket stays open).
    res.writeHead(200, { ...CORS, 'Content-Type': 'image/png', 'Content-Length': '4000' });
    res.write(Buffer.alloc(1000, 1));
    held.add(res);
    return;
  }
  if (id === 'bomb') {
    // 200 KB of zeros, a few hundred bytes gzipped: Content-Length is the gzip's.
    const body = gzipSync(Buffer.alloc(200_000));
    res.writeHead(200, { ...CORS, 'Content-Type': 'image/png', 'Content-Encoding': 'gzip', 'Content-Length': String(body.length) });
    res.end(body);
    return;
  }
  if (id.startsWith('ok')) {
    const body = encodeRgbPng(8, 8, Buffer.alloc((8 * 3 + 1) * 8, 0));
    res.writeHead(200, { ...CORS, 'Content-Type': 'image/png', 'Content-Length': String(body.length) });
    res.end(body);
    return;
  }
  res.writeHead(404, { ...CORS, 'Content-Type': 'application/json' }).end(JSON.stringify({ errcode: 'M_NOT_FOUND', error: 'no' }));
}

before(async () => {
  hs = await startScriptedHomeserver(homeserver);
  site = await startPageSite();
  browser = await launchChromium();
});

after(async () => {
  for (const res of held) res.destroy();
  await browser?.close();
  await site?.close();
  hs?.closeAllConnections?.();
  await new Promise((r) => hs?.close(r) ?? r());
});

test('fallback, small bodies (below one progress step): a stall half-way is a timeout, a body over the budget once decoded is refused, a normal one shows', { timeout: 60_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const base = `http://127.0.0.1:${hs.address().port}`;
  const r = await page.evaluate(async ([base, fetchTimeoutMs, budgetBytes]) => {
    const media = await window.am.AuthMedia.init({ homeserver: base, accessToken: 't', userId: '@u:x', workerUrl: null, fetchTimeoutMs, budgetBytes });
    const progress = [];
    media.addEventListener('progress', (e) => progress.push({ mxc: e.detail.mxc, loaded: e.detail.loaded, total: e.detail.total }));
    const attempt = async (id) => {
      const t0 = performance.now();
      try {
        const url = await media.src(`mxc://x/${id}`);
        const blob = await (await fetch(url)).blob();
        return { ok: true, type: blob.type, size: blob.size };
      } catch (e) {
        return { code: e.code, ms: Math.round(performance.now() - t0) };
      }
    };
    const out = { mode: media.mode };
    out.half = await attempt('half');
    out.bomb = await attempt('bomb');
    out.ok = await attempt('ok');
    out.progress = progress.filter((p) => p.mxc === 'mxc://x/ok');
    return out;
  }, [base, FETCH_TIMEOUT_MS, BUDGET]);
  assert.equal(r.mode, 'fallback');
  assert.equal(r.half.code, 'timeout', JSON.stringify(r.half));
  assert.ok(r.half.ms >= FETCH_TIMEOUT_MS - 50 && r.half.ms < 15_000, `cut after ${r.half.ms} ms`);
  assert.equal(r.bomb.code, 'over_budget', JSON.stringify(r.bomb));
  assert.equal(r.ok.ok, true, JSON.stringify(r.ok));
  assert.equal(r.ok.type, 'image/png');
  assert.equal(r.progress.length, 1, JSON.stringify(r.progress));
  assert.equal(r.progress[0].loaded, r.ok.size);
});

test('fallback, concurrency 1: the next fetch starts once the body is in, before the Blob and the object URL are built', { timeout: 60_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const base = `http://127.0.0.1:${hs.address().port}`;
  const r = await page.evaluate(async ([base, fetchTimeoutMs]) => {
    // A ledger of the browser calls the SDK makes, in the order it makes them (the page's own
    // event loop: no timing involved).
    const calls = [];
    const realFetch = window.fetch;
    window.fetch = function (input, init) {
      const u = String(input instanceof Request ? input.url : input);
      if (u.includes('/media/')) calls.push(`fetch ${u.split('?')[0].split('/').pop()}`);
      return realFetch.call(this, input, init);
    };
    const RealBlob = window.Blob;
    window.Blob = class extends RealBlob {
      constructor(...args) {
        super(...args);
        calls.push('new Blob');
      }
    };
    const realCreate = URL.createObjectURL;
    URL.createObjectURL = (b) => {
      calls.push('createObjectURL');
      return realCreate.call(URL, b);
    };
    try {
      const media = await window.am.AuthMedia.init({ homeserver: base, accessToken: 't', userId: '@u:x', workerUrl: null, fetchTimeoutMs, concurrency: 1 });
      const urls = await Promise.all([media.src('mxc://x/ok1'), media.src('mxc://x/ok2')]);
      return { mode: media.mode, calls, blobs: urls.every((u) => u.startsWith('blob:')) };
    } finally {
      window.fetch = realFetch;
      window.Blob = RealBlob;
      URL.createObjectURL = realCreate;
    }
  }, [base, FETCH_TIMEOUT_MS]);
  assert.equal(r.mode, 'fallback');
  assert.equal(r.blobs, true, JSON.stringify(r));
  assert.deepEqual(r.calls, ['fetch ok1', 'fetch ok2', 'new Blob', 'createObjectURL', 'new Blob', 'createObjectURL'], JSON.stringify(r.calls));
});
