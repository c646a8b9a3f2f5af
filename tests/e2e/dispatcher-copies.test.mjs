/**
 * Two copies of the SDK on one page (two bundles, a micro-frontend beside the app; real Synapse,
 * the built package and worker, Chromium): each copy installs its own listener of the worker's
 * messages and answers "none" when none of its instances can answer. Copy B's instance is disposed,
 * copy A's holds the tab's session; the browser stops the worker, which then asks the tab for its
 * session. B's listener runs first (B registered first): its "none" must not be the answer the
 * worker takes, or the tab's media go out without a token (and its attachments find no key) after
 * every worker restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import * as mx from '../../support/matrix.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker, NPM_DIR } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let lines;
let file;

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** The package a second time at /pkg2/: a module graph (and wasm instance) of its own. */
function secondCopy(req, res, url) {
  if (!url.pathname.startsWith('/pkg2/')) return false;
  const file = path.join(NPM_DIR, path.normalize(url.pathname.slice('/pkg2/'.length)));
  if (!file.startsWith(NPM_DIR) || !existsSync(file)) {
    res.writeHead(404).end();
    return true;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
  return true;
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  file = await uploadEncrypted(world, 'dispatcher-copies', readFixture(world.media.png64));
  site = await startPageSite({ routes: secondCopy });
  browser = await launchChromium();
  lines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('two SDK copies: a copy without a holder does not answer "none" before the copy that holds the session', { timeout: 120_000 }, async () => {
  const { page } = browser;
  const base = world.synapse.baseUrl;
  const alice = world.users.alice;
  const tokenA = (await mx.login(base, 'alice', alice.password)).accessToken;
  const tokenB = (await mx.login(base, 'alice', alice.password)).accessToken;
  const [server, id] = world.media.png64.mxc.slice('mxc://'.length).split('/');
  const media = `${base}/_matrix/client/v1/media/download/${server}/${id}`;
  const opts = (accessToken) => ({ homeserver: base, accessToken, userId: alice.userId, fallbackWarning: false });
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    // Copy B first: its listener is the first on navigator.serviceWorker. Its instance reaches
    // worker mode (the worker claimed the page), then is disposed.
    const b = await page.evaluate(async (o) => {
      window.am2 = await import('/pkg2/index.js');
      if (window.am2.AuthMedia === window.am.AuthMedia) return 'same copy';
      const media = await window.am2.AuthMedia.init(o);
      const deadline = Date.now() + 30000;
      while (!(media.mode === 'worker' && navigator.serviceWorker.controller) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const mode = media.mode;
      media.dispose();
      return mode;
    }, opts(tokenB));
    assert.equal(b, 'worker');
    // Copy A holds the tab's session.
    assert.equal(await page.evaluate(async (o) => (window.media = await window.am.AuthMedia.init(o)).mode, opts(tokenA)), 'worker');
    const status = (u) => page.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, u);
    const encrypted = await page.evaluate((f) => window.media.srcEncrypted(f, { mimetype: 'image/png' }), file);
    assert.equal(await status(`${media}?before`), 200);
    // A restarted worker knows no session: it asks the tab, and must get A's.
    await stopServiceWorkers(page);
    assert.equal(await status(`${media}?after-restart`), 200, 'the restarted worker did not get the session of copy A');
    // Restarted again, it asks for the session and the attachment's key: both A's.
    await stopServiceWorkers(page);
    assert.equal(await status(encrypted), 200, "the restarted worker did not get copy A's key");
  } catch (e) {
    e.message += `\n${lines.slice(-30).join('\n')}`;
    throw e;
  }
});
