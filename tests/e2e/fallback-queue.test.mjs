/**
 * The fallback's default concurrency against an HTTP/1.1 homeserver, in headless Chromium (no
 * worker: `workerUrl: null`), with a scripted homeserver (the bodies are paced, which Synapse
 * cannot do):
 *
 * A browser opens at most six HTTP/1.1 connections to one host and queues the rest of its fetches.
 * The fallback's `fetchTimeoutMs` deadline starts when the page calls `fetch`, so a fetch the
 * browser holds in its own queue behind six slow-but-healthy downloads must not be one the page
 * has already started: it would time out though the homeserver answers everything.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../lib/browser.mjs';
import { startScriptedHomeserver, CORS } from '../lib/scripted-homeserver.mjs';
import { startPageSite, waitForPackage } from '../pages/page/site.mjs';
import { encodeRgbPng } from '../lib/png.mjs';

const FETCH_TIMEOUT_MS = 1500;
/** A slow download's body: this many pieces, one every PACE_MS (each well under the deadline). */
const PIECES = 14;
const PACE_MS = 300;

let site;
let browser;
let hs;
const timers = new Set();

const png = encodeRgbPng(8, 8, Buffer.alloc((8 * 3 + 1) * 8, 0));

function homeserver(req, res, url) {
  const id = url.pathname.split('/').pop();
  const body = png;
  res.writeHead(200, { ...CORS, 'Content-Type': 'image/png', 'Content-Length': String(body.length) });
  if (!id.startsWith('slow')) {
    res.end(body);
    return;
  }
  // Headers at once, then the body in PIECES pieces, one every PACE_MS: healthy, just slow.
  const size = Math.ceil(body.length / PIECES);
  let at = 0;
  const timer = setInterval(() => {
    res.write(body.subarray(at, at + size));
    at += size;
    if (at >= body.length) {
      clearInterval(timer);
      timers.delete(timer);
      res.end();
    }
  }, PACE_MS);
  timers.add(timer);
}

before(async () => {
  hs = await startScriptedHomeserver(homeserver);
  site = await startPageSite();
  browser = await launchChromium();
});

after(async () => {
  for (const t of timers) clearInterval(t);
  await browser?.close();
  await site?.close();
  hs?.closeAllConnections?.();
  await new Promise((r) => hs?.close(r) ?? r());
});

test('fallback, default concurrency, HTTP/1.1 homeserver: fetches queued behind six slow downloads do not time out', { timeout: 60_000 }, async () => {
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  const base = `http://127.0.0.1:${hs.address().port}`;
  const r = await page.evaluate(async ([base, fetchTimeoutMs]) => {
    const media = await window.am.AuthMedia.init({ homeserver: base, accessToken: 't', userId: '@u:x', workerUrl: null, fetchTimeoutMs });
    const attempt = async (id) => {
      try {
        await media.src(`mxc://x/${id}`);
        return 'ok';
      } catch (e) {
        return e.code;
      }
    };
    const slow = [0, 1, 2, 3, 4, 5].map((i) => attempt(`slow${i}`));
    const quick = [0, 1, 2, 3, 4, 5].map((i) => attempt(`quick${i}`));
    return { mode: media.mode, slow: await Promise.all(slow), quick: await Promise.all(quick) };
  }, [base, FETCH_TIMEOUT_MS]);
  assert.equal(r.mode, 'fallback');
  assert.deepEqual(r.slow, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], JSON.stringify(r));
  assert.deepEqual(r.quick, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], JSON.stringify(r));
});
