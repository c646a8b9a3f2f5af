/**
 * WebKit, the third engine: WebKitGTK's MiniBrowser driven over WebDriver (WebKitWebDriver under
 * `xvfb-run -a`; Playwright cannot drive it) against the real Synapse of the test world.
 *
 * Worker path (the drop-in worker, sw/dist, on the engines test page tests/pages/engines/):
 * images via v1 download/thumbnail and a frozen legacy v3 URL, with and without a `crossorigin`
 * attribute; an 8 s H.264 mp4 plays and seeks (scenarios.mjs engineVideo: why not the 24 s one); no token to other origins (the recording server),
 * also across a 307 to a "CDN". Fallback path (page SDK, tests/pages/page/): a page no worker
 * controls (`workerUrl: null`, another origin than the worker's page) and `fallback: 'force'`;
 * images (one with crossorigin) and a video (the webm, see ctx below) from blob: URLs.
 * The same scenarios (tests/pages/engines/scenarios.mjs) run in Chromium and Firefox in
 * tests/e2e/engines.test.mjs.
 *
 * Set AUTHMEDIA_SKIP_SW_BUILD=1 to use an existing sw/dist/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../harness/env.mjs';
import { launchWebKit } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';
import * as s from '../pages/engines/scenarios.mjs';

let world;
let site;
let pageSite;
let engine;
let video;
// Distinct URLs per run and per test: nothing is answered from a cache, and Synapse's log of an
// earlier run (a reused world) never matches.
let n = (Date.now() % 1_000_000) * 100;

before(async () => {
  s.ensureWorkerBuilt();
  world = await loadWorld();
  video = await s.engineVideo(world);
  site = await s.startEngineSite();
  pageSite = await startPageSite();
  assert.ok(hasWorker(), 'npm/sw is missing: run scripts/build.sh');
  const session = await launchWebKit();
  await session.setTimeouts({ script: 180_000, pageLoad: 60_000 });
  engine = s.fromWebDriver('webkit', session);
});

after(async () => {
  await engine?.close();
  await site?.close();
  await pageSite?.close();
});

// The fallback's video in WebKit is the 2 s VP8 webm: WebKitGTK 2.50 plays an mp4 of a few MB from a
// blob: URL only sometimes (stuck at readyState 0, or qtdemux "This file is invalid" under GST_DEBUG),
// the same blob with preload=metadata or without a type then plays — an engine issue (README notes).
const ctx = () => ({ engine, world, site, video, fallbackVideo: world.media.webm, unique: () => (n += 1) });

test('WebKit: the session is WebKitGTK with service workers', async () => {
  const info = await engine.run(`return { ua: navigator.userAgent, sw: 'serviceWorker' in navigator, secure: window.isSecureContext }`);
  assert.match(info.ua, /AppleWebKit/);
  assert.doesNotMatch(info.ua, /Chrome|Firefox/);
  await engine.goto(site.url('/index.html'));
  assert.deepEqual(await engine.run(`return { sw: 'serviceWorker' in navigator, secure: window.isSecureContext }`), { sw: true, secure: true });
});

for (const crossOrigin of [null, 'anonymous']) {
  const form = crossOrigin === null ? 'without crossorigin' : 'with crossorigin="anonymous"';
  test(`WebKit worker: <img> ${form} — v1 download, thumbnail, frozen legacy URL, sent with the token`, { timeout: 120_000 }, async () => {
    await s.workerImages(ctx(), crossOrigin);
  });
}

test('WebKit worker: <video> (8 s H.264 mp4) without crossorigin plays and seeks to the middle; one download', { timeout: 180_000 }, async () => {
  await s.workerVideo(ctx(), null);
});

test('WebKit worker: <video crossorigin="anonymous"> plays and seeks', { timeout: 180_000 }, async () => {
  await s.workerVideo(ctx(), 'anonymous');
});

test('WebKit worker: <video crossorigin="anonymous"> with the 24 s / 6.6 MB mp4 plays and seeks; one download', { timeout: 180_000 }, async () => {
  // The fixture that does not play in WebKit from a Range-ignoring server (scenarios.mjs engineVideo)
  // plays through the worker's 206 answers. (Without crossorigin it reached "playing", then stalled
  // in the one run we made: not covered.)
  await s.workerVideo({ ...ctx(), video: world.media.mp4 }, 'anonymous');
});

for (const crossOrigin of [null, 'anonymous']) {
  const form = crossOrigin === null ? 'without crossorigin' : 'with crossorigin';
  test(`WebKit: no token to other origins (${form}): media-like paths elsewhere, a 307 to a CDN`, { timeout: 120_000 }, async () => {
    const out = await s.noTokenElsewhere(ctx(), crossOrigin);
    // Measured WebKit behaviour: the CDN's preflight names the header (never its value).
    assert.deepEqual(out.announced, ['OPTIONS'], JSON.stringify(out));
  });
}

test('WebKit fallback: a page no worker controls (workerUrl: null) renders images and plays/seeks the webm from blob URLs', { timeout: 240_000 }, async () => {
  await s.fallbackUncontrolled(ctx(), pageSite);
});

test('WebKit fallback: fallback "force" renders images and the webm', { timeout: 240_000 }, async () => {
  await s.fallbackForced(ctx(), pageSite);
});
