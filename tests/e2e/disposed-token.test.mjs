/**
 * Worker mode, every instance of the tab disposed (a component unmounted; the worker keeps the
 * tab's session, as `dispose()` says), then the token dies on the real Synapse: an `<img>`/fetch of
 * the tab still goes through the worker, gets 401 `M_UNKNOWN_TOKEN`, and the worker asks the tab
 * for a new token. No instance is left to answer; the request must still fail promptly (the
 * worker's short wait for a silent tab), not hang for the whole `fetchTimeoutMs` (30 s).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startPageSite, hasWorker, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('worker mode, all instances disposed, token dead: the worker\'s unanswered need-token does not hold the request for fetchTimeoutMs', { timeout: 120_000 }, async () => {
  const base = world.synapse.baseUrl;
  const login = await mx.login(base, 'alice', world.users.alice.password);
  const page = browser.page;
  await openInWorkerMode(page, site.url('/'), { homeserver: base, accessToken: login.accessToken, userId: login.userId, onTokenRefresh: undefined });
  const [first, second] = [world.media.png64.mxc, world.media.jpeg.mxc];
  const urls = await page.evaluate(([a, b]) => [window.media.httpUrl(a), window.media.httpUrl(b)], [first, second]);
  // While the token lives, the worker serves the tab.
  assert.equal(await page.evaluate(async (u) => (await fetch(u)).status, urls[0]), 200);
  await page.evaluate(() => window.media.dispose());
  await mx.logout(base, login.accessToken);
  const r = await page.evaluate(async (u) => {
    const t0 = performance.now();
    const res = await fetch(u);
    await res.arrayBuffer();
    return { status: res.status, ms: Math.round(performance.now() - t0) };
  }, urls[1]);
  assert.equal(r.status, 401, JSON.stringify(r));
  assert.ok(r.ms < 10_000, `the request waited ${r.ms} ms for a tab with no instance to answer`);
});
