/**
 * A first load in worker mode (headless Chromium, real Synapse, fresh profile): what `init` does
 * between `register()` and resolving.
 *
 * - The worker is handed the session once: `init` sends it to the installing worker as soon as
 *   `register()` resolves; the same worker, once active and in control of the page, gets no second
 *   `authmedia:session` message (neither after activation nor on `controllerchange`).
 * - `init` still resolves in worker mode on that first load (it waits for the activating worker's
 *   claim), and media is served by the worker.
 * - The wasm's `init` calls `register()` before it returns (the options read first; invalid ones
 *   reject without a registration).
 * - `performanceMarks: true` adds User Timing marks of `init`'s steps; without it the page's
 *   performance timeline gets no `authmedia` entry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker, NPM_DIR } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;

// The worker's wasm is held until the page has posted its first session message (the page asks
// /release-wasm then): the worker cannot finish installing before the early handoff, however
// fast this machine runs it, so the first load's one message goes to the installing worker.
let wasmHeld = true;
const heldWasm = [];
function serveWasm(res) {
  res.writeHead(200, { 'content-type': 'application/wasm', 'cache-control': 'no-store' });
  res.end(readFileSync(path.join(NPM_DIR, 'sw', 'authmedia_sw_bg.wasm')));
}
function routes(req, res, url) {
  if (url.pathname === '/release-wasm') {
    wasmHeld = false;
    for (const held of heldWasm.splice(0)) serveWasm(held);
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
    return true;
  }
  if (url.pathname === '/authmedia_sw_bg.wasm' && wasmHeld) {
    heldWasm.push(res);
    return true;
  }
  return false;
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh (it runs scripts/build-sw.sh)');
  site = await startPageSite({ routes });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-40).join('\n');

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, fallbackWarning: false, ...extra };
}

/**
 * Counts the `authmedia:session` messages the page posts to any service worker, inits with `opts`,
 * loads one authenticated image, and asks the worker for its stats (a round trip after everything
 * init started). Returns what init resolved with, the count, the image's size and the page's
 * `authmedia` marks.
 */
function initCounting(page, opts, mxc) {
  return page.evaluate(
    async ({ opts, mxc }) => {
      const sessions = [];
      const post = ServiceWorker.prototype.postMessage;
      ServiceWorker.prototype.postMessage = function (message, ...rest) {
        if (message && message.type === 'authmedia:session') {
          sessions.push(this.state);
          if (sessions.length === 1) fetch('/release-wasm', { cache: 'no-store' });
        }
        return post.call(this, message, ...rest);
      };
      try {
        const media = await window.am.AuthMedia.init(opts);
        const resolved = { mode: media.mode, reason: media.fallbackReason, controlled: navigator.serviceWorker.controller !== null };
        const img = new Image();
        img.src = await media.src(mxc);
        await img.decode();
        const stats = await media.refreshStats();
        return {
          resolved,
          sessions,
          width: img.naturalWidth,
          authenticated: stats.worker ? stats.worker.authenticated : null,
          marks: performance.getEntriesByType('mark').map((m) => m.name).filter((n) => n.startsWith('authmedia')),
        };
      } finally {
        ServiceWorker.prototype.postMessage = post;
      }
    },
    { opts, mxc },
  );
}

test('first load: the worker is handed the session once, init resolves in worker mode; performanceMarks marks init’s steps, and nothing without it', { timeout: 120_000 }, async () => {
  const png = world.media.png64;
  const page = browser.page;
  await page.goto(site.url('/'));
  await waitForPackage(page);
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller), null, 'a fresh profile: no worker yet');
  const first = await initCounting(page, alice({ performanceMarks: true }), png.mxc).catch((e) => {
    throw new Error(`${e.message}\n${logs()}`);
  });
  assert.deepEqual(first.resolved, { mode: 'worker', reason: null, controlled: true }, logs());
  assert.deepEqual(first.sessions, ['installing'], 'one session message, to the installing worker');
  assert.equal(first.width, png.width);
  assert.ok(first.authenticated >= 1, `the worker served the image: ${JSON.stringify(first)}`);
  for (const name of ['authmedia:versions-done', 'authmedia:session-sent-early', 'authmedia:session-sent', 'authmedia:session-acked']) {
    assert.ok(first.marks.includes(name), `${name} in ${first.marks}`);
  }

  // A second tab of the same site, already controlled: the session goes to the active worker
  // (one message), and without the option the page's timeline holds no authmedia mark.
  const second = await browser.context.newPage();
  try {
    await second.goto(site.url('/'));
    await waitForPackage(second);
    const r = await initCounting(second, alice(), png.mxc);
    assert.deepEqual(r.resolved, { mode: 'worker', reason: null, controlled: true });
    assert.deepEqual(r.sessions, ['activated']);
    assert.equal(r.width, png.width);
    assert.deepEqual(r.marks, []);
  } finally {
    await second.close();
  }
});

test('the wasm’s init calls register() within the call, before its first await; invalid options reject without registering', { timeout: 60_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    const r = await page.evaluate(async (opts) => {
      await window.am.initAsync();
      // The module instance the loader initialised (same URL).
      const { AuthMediaCore } = await import('/pkg/dist/authmedia_web.js');
      const calls = [];
      const register = ServiceWorkerContainer.prototype.register;
      ServiceWorkerContainer.prototype.register = function (...args) {
        calls.push(String(args[0]));
        return register.apply(this, args);
      };
      try {
        const bad = AuthMediaCore.init({ ...opts, homeserver: 'not a url' });
        const afterBad = calls.length;
        const badCode = await bad.then(
          () => 'resolved',
          (e) => e.code,
        );
        const pending = AuthMediaCore.init(opts);
        const withinCall = calls.length;
        const core = await pending;
        const mode = core.mode;
        core.dispose();
        return { afterBad, badCode, withinCall, calls, mode };
      } finally {
        ServiceWorkerContainer.prototype.register = register;
      }
    }, alice());
    assert.equal(r.afterBad, 0, 'invalid options: no registration');
    assert.equal(r.badCode, 'invalid_argument');
    assert.equal(r.withinCall, 1, `register() called before init returned: ${JSON.stringify(r)}`);
    assert.deepEqual(r.calls, ['/authmedia-sw.js']);
    assert.equal(r.mode, 'worker');
  } finally {
    await page.close();
  }
});
