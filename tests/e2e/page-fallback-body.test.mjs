/**
 * The fallback's reading of small bodies (announced below one progress step), against a scripted
 * homeserver in headless Chromium (no worker: `workerUrl: null`):
 *
 * - a body that stops half-way is cut after `fetchTimeoutMs` with code `timeout`;
 * - a body whose decoded size is over the budget while its `Content-Length` (the gzip on the
 *   wire) is under it is refused `over_budget`, never shown;
 * - a normal small body shows, with the safe type, and one final `progress` event.
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
  if (id === 'ok') {
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
