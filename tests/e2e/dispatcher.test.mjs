/**
 * The page's one dispatcher of the worker's messages in Chromium (real Synapse, the built package
 * and worker): the scenario of tests/harness/dispatcher.mjs — three instances in one tab disposed
 * one by one, then a new one; each worker question answered exactly once, by the last live holder
 * or the instance that registered the key, else "none"; nothing secret to a sender that is not
 * this SDK's worker — plus one real question: a worker the browser restarted asks for a key
 * registered by a disposed instance and gets "none" at once.
 */
import { test, before, after } from 'node:test';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { dispatcherScenario } from '../harness/dispatcher.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let lines;
let file;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  file = await uploadEncrypted(world, 'dispatcher', readFixture(world.media.png64));
  site = await startPageSite();
  browser = await launchChromium();
  lines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('one dispatcher: each worker question answered once, by the last live holder or the registering instance, else "none"', { timeout: 180_000 }, async () => {
  const { page } = browser;
  const run = (body, arg) =>
    page.evaluate(([body, arg]) => new Function('arg', `return (async () => { ${body} })();`)(arg), [body, arg]);
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await dispatcherScenario({ run, world, file, restart: () => stopServiceWorkers(page) });
  } catch (e) {
    e.message += `\n${lines.slice(-30).join('\n')}`;
    throw e;
  }
});
