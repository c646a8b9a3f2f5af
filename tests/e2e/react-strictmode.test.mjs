/**
 * React 19 StrictMode (Chromium, real Synapse): an app built with Vite from this checkout's package
 * (tests/npm-consumer/react-app) renders two gallery components, each with its own AuthMedia.
 * StrictMode runs every effect init → cleanup → init, so four instances are made and the first of
 * each component is disposed. Both galleries must end in worker mode with every image shown; after
 * one gallery's instance logs out (which ends the tab's session in the worker), the other must not
 * keep claiming worker mode (where its loads would fail) but show its images from the fallback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { REPO, NPM_DIR, requirePackage, hasWorker } from '../pages/page/site.mjs';

const execFileP = promisify(execFile);
const TESTS = path.join(REPO, 'tests');
const APP_SRC = path.join(TESTS, 'npm-consumer', 'react-app');
const APP_DIST = path.join(TESTS, 'artifacts', 'react-app-dist');

let world;
let site;
let browser;
let lines;

before(async () => {
  requirePackage();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  world = await loadWorld();
  const vite = path.join(TESTS, 'node_modules', 'vite', 'bin', 'vite.js');
  rmSync(APP_DIST, { recursive: true, force: true });
  await execFileP(process.execPath, [vite, 'build', '--outDir', APP_DIST], { cwd: APP_SRC, timeout: 180_000 });
  for (const f of readdirSync(path.join(NPM_DIR, 'sw'))) copyFileSync(path.join(NPM_DIR, 'sw', f), path.join(APP_DIST, f));
  site = await startStaticServer({ root: APP_DIST });
  browser = await launchChromium();
  lines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/** Every gallery image's end state (waits until each is loaded and decoded, or failed). */
function images(page) {
  return page.evaluate(async () => {
    const deadline = Date.now() + 30000;
    const all = () => [...document.querySelectorAll('section img')];
    const done = (el) => el.dataset.authmediaState === 'error' || (el.dataset.authmediaState === 'loaded' && el.complete && el.naturalWidth > 0);
    while (!(all().length && all().every(done)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return all().map((el) => ({ id: el.id, state: el.dataset.authmediaState ?? null, error: el.dataset.authmediaError ?? null, scheme: (el.getAttribute('src') || '').split(':')[0], w: el.naturalWidth }));
  });
}

test('React 19 StrictMode, two components with their own AuthMedia: worker mode, images shown; one logs out → the other serves from the fallback', { timeout: 240_000 }, async () => {
  const { page } = browser;
  const mxcs = [world.media.png800.mxc, world.media.jpeg.mxc, world.media.png64.mxc];
  try {
    await page.goto(site.url('/'));
    await page.waitForFunction(() => window.appReady, null, { timeout: 30_000 });
    await page.evaluate((cfg) => window.startApp(cfg), { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, mxcs });
    // The first load: the worker registers and claims the page, then both galleries are in worker mode.
    await page.waitForFunction(() => ['left', 'right'].every((n) => document.getElementById(n)?.dataset.mode === 'worker'), null, { timeout: 30_000 });
    // The first instance of each component is disposed when its init resolves (maybe after the second's).
    await page.waitForFunction(() => window.lifecycle.length === 6, null, { timeout: 10_000 }).catch(() => {});
    const lifecycle = await page.evaluate(() => window.lifecycle.slice().sort());
    assert.deepEqual(lifecycle, ['left:disposed', 'left:init', 'left:init', 'right:disposed', 'right:init', 'right:init'], 'StrictMode: two inits per component, the first disposed');
    let imgs = await images(page);
    assert.equal(imgs.length, 6);
    for (const img of imgs) assert.deepEqual([img.state, img.scheme, img.w > 0], ['loaded', 'http', true], JSON.stringify(imgs));

    // The left gallery's instance logs out: the tab's session ends in the worker.
    await page.evaluate(() => window.galleries.left.logout());
    await page.waitForFunction(() => document.getElementById('right').dataset.mode === 'fallback', null, { timeout: 10_000 });
    assert.deepEqual(await page.evaluate(() => [window.galleries.right.mode, window.galleries.right.fallbackReason]), ['fallback', 'session_ended']);
    imgs = (await images(page)).filter((i) => i.id.startsWith('right-'));
    for (const img of imgs) assert.deepEqual([img.state, img.scheme, img.w > 0], ['loaded', 'blob', true], JSON.stringify(imgs));
  } catch (e) {
    e.message += `\n${lines.slice(-30).join('\n')}`;
    throw e;
  }
});
