/**
 * Page SDK in its fallback against a homeserver that advertises authenticated media (`/versions`
 * says v1.11+) but turns out not to serve it: the real Synapse behind the fault proxy, which answers
 * 404 `M_UNRECOGNIZED` on `/_matrix/client/v1/media/…` (a reverse proxy that does not route the
 * new endpoints, as the spec warns). Like the worker, the page falls back once to the legacy
 * endpoint — without the token (the legacy endpoints are unauthenticated) — and uses the legacy
 * API from then on. Media uploaded before the freeze is what the legacy endpoint still serves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage } from '../pages/page/site.mjs';

/** @type {any} */
let world;
/** @type {Awaited<ReturnType<typeof startPageSite>>} */
let site;
/** @type {Awaited<ReturnType<typeof startFaultProxy>>} */
let proxy;
/** @type {any} */
let browser;
/** @type {string[]} */
let consoleLines;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
  proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-30).join('\n');

test('fallback: 404 M_UNRECOGNIZED on the authenticated endpoint → the legacy endpoint once, without the token, then legacy URLs', { timeout: 120_000 }, async () => {
  const alice = world.users.alice;
  const pre = world.media.prefreezePng;
  proxy.fault(
    { pathIncludes: '/_matrix/client/v1/media/' },
    { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' } },
  );
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  // No worker: the fallback serves the page on a secure origin.
  const info = await initInPage(page, { homeserver: proxy.origin, accessToken: alice.accessToken, userId: alice.userId, workerUrl: null });
  assert.deepEqual(info, { mode: 'fallback', api: 'v1', reason: 'no_worker_url' });

  const shown = await page.evaluate(async (mxc) => {
    try {
      const url = await window.media.src(mxc);
      const img = new Image();
      img.src = url;
      await img.decode();
      return { url, w: img.naturalWidth, h: img.naturalHeight, api: window.media.api };
    } catch (e) {
      return { error: String(e && e.code), message: String(e && e.message) };
    }
  }, pre.mxc);
  assert.equal(shown.error, undefined, `src() failed: ${JSON.stringify(shown)}\n${logs()}`);
  assert.match(shown.url, /^blob:/);
  assert.deepEqual([shown.w, shown.h], [pre.width, pre.height]);

  const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(pre.mediaId));
  // First the authenticated endpoint, with the token; it answered M_UNRECOGNIZED.
  assert.ok(gets.length >= 2, JSON.stringify(gets.map((r) => r.path)));
  assert.match(gets[0].path, /^\/_matrix\/client\/v1\/media\/download\//);
  assert.equal(gets[0].headers.authorization, `Bearer ${alice.accessToken}`);
  assert.equal(gets[0].faulted, true);
  // Then the legacy endpoint, once, without the token, served by Synapse.
  const legacy = gets.filter((r) => r.path.startsWith('/_matrix/media/v3/download/'));
  assert.equal(legacy.length, 1, JSON.stringify(gets.map((r) => r.path)));
  assert.equal(legacy[0].headers.authorization, undefined);
  assert.equal(legacy[0].status, 200);
  assert.equal(gets.length, 2, JSON.stringify(gets.map((r) => r.path)));

  // From then on the page uses the legacy API, as the worker does after the same answer.
  assert.equal(shown.api, 'legacy');
  const next = await page.evaluate((mxc) => window.media.src(mxc), pre.mxc);
  assert.ok(next.startsWith(`${proxy.origin}/_matrix/media/v3/download/${pre.serverName}/${pre.mediaId}`), next);
  proxy.clearFaults();
});
