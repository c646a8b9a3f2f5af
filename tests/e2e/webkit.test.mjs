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
 * Encrypted attachments (page SDK `srcEncrypted`, tests/harness/encrypted.mjs): worker mode (own
 * page site origin) — image, the 8 s mp4 encrypted (plays, seeks, both crossorigin forms), a flipped
 * byte → no image and the worker's JSON `hash_mismatch`; fallback "force" — image and webm from blob:
 * URLs, a flipped byte → rejected with `hash_mismatch`.
 * The same scenarios (tests/pages/engines/scenarios.mjs) run in Chromium and Firefox in
 * tests/e2e/engines.test.mjs.
 *
 * Set AUTHMEDIA_SKIP_SW_BUILD=1 to use an existing sw/dist/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted, SHOW_IMAGE, PLAY_AND_SEEK, FETCH_JSON, MOUNT_SETTLED, missingAndTampered, WHY_EXPECTED } from '../harness/encrypted.mjs';
import { logReplay } from '../harness/play.mjs';
import { launchWebKit } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';
import * as s from '../pages/engines/scenarios.mjs';

let world;
let site;
let pageSite;
let engine;
let session;
let video;
/** Encrypted attachments (EncryptedFile v2, tests/harness/encrypted.mjs): png, flipped (one byte altered), mp4 (the 8 s cut), webm. */
const enc = {};
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
  const png = readFixture(world.media.png64);
  enc.png = await uploadEncrypted(world, 'png', png);
  enc.flipped = await uploadEncrypted(world, 'flipped', png, (c) => {
    c[c.length >> 1] ^= 0x80;
    return c;
  });
  enc.mp4 = await uploadEncrypted(world, 'mp4', readFileSync(video.path));
  enc.webm = await uploadEncrypted(world, 'webm', readFixture(world.media.webm));
  session = await launchWebKit();
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

test('WebKit worker: navigations to media URLs (same tab, iframe) are never answered with the token', { timeout: 120_000 }, async () => {
  await s.navigationsUntouched(ctx());
});

test('WebKit fallback: a page no worker controls (workerUrl: null) renders images and plays/seeks the webm from blob URLs', { timeout: 240_000 }, async () => {
  await s.fallbackUncontrolled(ctx(), pageSite);
});

test('WebKit fallback: fallback "force" renders images and the webm', { timeout: 240_000 }, async () => {
  await s.fallbackForced(ctx(), pageSite);
});

const alice = (extra = {}) => ({ homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra });

/** Opens the page SDK's test page on `siteOf` and inits `window.media` with alice and `extra`. */
async function openPageSdk(siteOf, extra) {
  await engine.goto(siteOf.url('/'));
  await session.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
  assert.equal(await engine.run('return window.amLoadError || null'), null);
  return engine.run('window.media = await window.am.AuthMedia.init(args[0]); return { mode: window.media.mode, reason: window.media.fallbackReason };', alice(extra));
}

test('WebKit worker: encrypted image and 8 s mp4 (with and without crossorigin: plays, seeks) from worker URLs; a flipped byte → no image, JSON hash_mismatch', { timeout: 240_000 }, async () => {
  // Its own origin: the worker registered here must not control the page SDK site of the fallback tests.
  const encSite = await startPageSite();
  try {
    await openPageSdk(encSite, {});
    await session.waitFor("return window.media.mode === 'worker' && navigator.serviceWorker.controller !== null", { timeoutMs: 30_000 });
    const origin = new URL(encSite.url('/')).origin;

    const img = await engine.run(SHOW_IMAGE, enc.png, 'image/png');
    assert.equal(img.outcome, 'load', JSON.stringify(img));
    assert.ok(img.url.startsWith(`${origin}/authmedia/encrypted/`), img.url);
    assert.deepEqual([img.w, img.h], [world.media.png64.width, world.media.png64.height]);

    const middle = video.durationS / 2;
    for (const crossOrigin of [null, 'anonymous']) {
      const v = await engine.run(PLAY_AND_SEEK, enc.mp4, 'video/mp4', middle, crossOrigin);
      const where = `crossorigin=${crossOrigin}: ${JSON.stringify(v)}`;
      logReplay(`WebKit crossorigin=${crossOrigin}`, v);
      assert.ok(v.url.startsWith(`${origin}/authmedia/encrypted/`), where);
      assert.ok(v.played >= 0.3 && Math.abs(v.seeked - middle) < 0.5 && v.readyState >= 2, where);
      assert.deepEqual([v.w, v.h], [video.width, video.height], where);
    }

    const bad = await engine.run(SHOW_IMAGE, enc.flipped, 'image/png');
    assert.equal(bad.outcome, 'error', JSON.stringify(bad));
    assert.equal(bad.w, 0);
    const answer = await engine.run(FETCH_JSON, bad.url);
    assert.equal(answer.status, 502, JSON.stringify(answer));
    assert.equal(answer.json?.authmedia_code, 'hash_mismatch', JSON.stringify(answer));
    // Mounted elements that fail say why, as in the fallback: the worker tells the page.
    const mounted = await engine.run(MOUNT_SETTLED, missingAndTampered(world, enc.flipped));
    assert.deepEqual(mounted, WHY_EXPECTED, JSON.stringify(mounted));
    await engine.run('await window.media.logout();');
  } finally {
    await encSite.close();
  }
});

test('WebKit fallback: encrypted image and webm (plays, seeks) as blob: URLs (fallback "force"); a flipped byte → hash_mismatch, no object URL', { timeout: 120_000 }, async () => {
  assert.deepEqual(await openPageSdk(pageSite, { fallback: 'force' }), { mode: 'fallback', reason: 'forced' });
  const img = await engine.run(SHOW_IMAGE, enc.png, 'image/png');
  assert.equal(img.outcome, 'load', JSON.stringify(img));
  assert.ok(img.url.startsWith('blob:'), img.url);
  assert.deepEqual([img.w, img.h], [world.media.png64.width, world.media.png64.height]);
  // The webm, as for the fallback's plain video (an mp4 of a few MB from a blob: URL is unreliable in WebKitGTK, above).
  const m = world.media.webm;
  const v = await engine.run(PLAY_AND_SEEK, enc.webm, 'video/webm', 1, null);
  logReplay('WebKit fallback', v);
  assert.ok(v.url.startsWith('blob:'), JSON.stringify(v));
  assert.ok(v.played >= 0.3 && Math.abs(v.seeked - 1) < 0.5 && v.readyState >= 2, JSON.stringify(v));
  assert.deepEqual([v.w, v.h], [m.width, m.height]);
  const before = await engine.run('return window.media.stats().fallback.objectUrls');
  const bad = await engine.run(SHOW_IMAGE, enc.flipped, 'image/png');
  assert.deepEqual(bad, { rejected: { code: 'hash_mismatch', reason: 'hash_mismatch' } });
  assert.equal(await engine.run('return window.media.stats().fallback.objectUrls'), before);
  // The same codes as in worker mode for mounted elements that fail.
  const mounted = await engine.run(MOUNT_SETTLED, missingAndTampered(world, enc.flipped));
  assert.deepEqual(mounted, WHY_EXPECTED, JSON.stringify(mounted));
  await engine.run('await window.media.logout();');
});
