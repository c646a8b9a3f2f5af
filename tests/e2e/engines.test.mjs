/**
 * The cross-engine scenarios of tests/pages/engines/scenarios.mjs in Chromium (playwright-core) and
 * Firefox ESR (geckodriver, service workers on): the same tests tests/e2e/webkit.test.mjs runs in
 * WebKit — images through the worker with and without `crossorigin`, the 8 s mp4 playing and seeking
 * through the worker in both forms, no token to other origins (also across a 307 to a CDN), and the
 * page SDK's fallback on a page no worker controls. Together they back the README's browser matrix.
 *
 * Set AUTHMEDIA_SKIP_SW_BUILD=1 to use an existing sw/dist/.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';
import * as s from '../pages/engines/scenarios.mjs';

let world;
let site;
let pageSite;
let video;
// Distinct URLs per run and per test (no cache answers, no match in an earlier run's Synapse log).
let n = (Date.now() % 1_000_000) * 100 + 50;

before(async () => {
  s.ensureWorkerBuilt();
  world = await loadWorld();
  video = await s.engineVideo(world);
  site = await s.startEngineSite();
  pageSite = await startPageSite();
  assert.ok(hasWorker(), 'npm/sw is missing: run scripts/build.sh');
});

after(async () => {
  await site?.close();
  await pageSite?.close();
});

const launchers = {
  chromium: async () => s.fromPlaywright('chromium', await launchChromium()),
  firefox: async () => {
    const session = await launchFirefox();
    await session.setTimeouts({ script: 180_000, pageLoad: 60_000 });
    return s.fromWebDriver('firefox', session);
  },
};

for (const [name, launch] of Object.entries(launchers)) {
  describe(name, () => {
    let engine;
    before(async () => {
      engine = await launch();
    });
    after(async () => {
      await engine?.close();
    });
    const ctx = () => ({ engine, world, site, video, unique: () => (n += 1) });

    for (const crossOrigin of [null, 'anonymous']) {
      const form = crossOrigin === null ? 'without crossorigin' : 'with crossorigin="anonymous"';
      test(`${name} worker: <img> ${form} — v1 download, thumbnail, frozen legacy URL, sent with the token`, { timeout: 120_000 }, async () => {
        await s.workerImages(ctx(), crossOrigin);
      });
      if (name === 'firefox' && crossOrigin === null) {
        // Measured: Firefox ESR refuses the worker's answer to a no-cors <video> load
        // (MEDIA_ERR_SRC_NOT_SUPPORTED, "Failed to open media"); with crossorigin it plays (next test).
        test(`${name} worker: <video> ${form} does not play (Firefox refuses a worker-built answer to a no-cors media load)`, { timeout: 180_000 }, async () => {
          await assert.rejects(s.workerVideo(ctx(), crossOrigin), /video error 4/);
        });
        continue;
      }
      test(`${name} worker: <video> ${form} (8 s H.264 mp4) plays and seeks; one download`, { timeout: 180_000 }, async () => {
        await s.workerVideo(ctx(), crossOrigin);
      });
    }

    test(`${name}: no token to other origins (with crossorigin): media-like paths elsewhere, a 307 to a CDN`, { timeout: 120_000 }, async () => {
      const out = await s.noTokenElsewhere(ctx(), 'anonymous');
      // Unlike WebKit, the CDN sees no preflight naming Authorization.
      assert.deepEqual(out.announced, [], JSON.stringify(out));
    });

    test(`${name} worker: navigations to media URLs (same tab, iframe) are never answered with the token`, { timeout: 120_000 }, async () => {
      await s.navigationsUntouched(ctx());
    });

    test(`${name} fallback: a page no worker controls (workerUrl: null) renders images and plays/seeks the mp4 from blob URLs`, { timeout: 240_000 }, async () => {
      await s.fallbackUncontrolled(ctx(), pageSite);
    });
  });
}
