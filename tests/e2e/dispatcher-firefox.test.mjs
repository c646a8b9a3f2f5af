/**
 * The page's one dispatcher of the worker's messages in Firefox ESR (geckodriver, real Synapse, the
 * built package and worker): the scenario of tests/harness/dispatcher.mjs — three instances in one
 * tab disposed one by one, then a new one; each worker question answered exactly once, by the last
 * live holder or the instance that registered the key, else "none"; nothing secret to a sender
 * that is not this SDK's worker. (Stopping a worker on demand is Chromium-only: the real restart
 * is in dispatcher.test.mjs.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { dispatcherScenario } from '../harness/dispatcher.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let ff;
let file;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  file = await uploadEncrypted(world, 'dispatcher', readFixture(world.media.png64));
  site = await startPageSite();
  ff = await launchFirefox();
  await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
});

after(async () => {
  await ff?.close();
  await site?.close();
});

test('Firefox ESR: one dispatcher: each worker question answered once, by the last live holder or the registering instance, else "none"', { timeout: 240_000 }, async () => {
  await ff.navigate(site.url('/'));
  await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
  assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
  const run = (body, arg) => ff.evaluate(`const arg = args[0]; ${body}`, arg === undefined ? null : arg);
  await dispatcherScenario({ run, world, file });
});
