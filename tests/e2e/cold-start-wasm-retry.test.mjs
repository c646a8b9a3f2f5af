/**
 * A first load whose worker wasm failed to load while the worker installed (headless Chromium,
 * real Synapse, fresh profile): `init` hands the session to the installing worker, which answers
 * "wasm unavailable"; the wasm is served again from then on. Once the worker is active, `init`
 * must ask it again (it loads its wasm anew for that message) rather than take the installing
 * worker's refusal as the active worker's answer — which made `init` fall back (`worker_outdated`,
 * the session taken back) for the page's whole life.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;
let wasmFailing = true;
const wasmAnswers = [];

/** The worker's wasm answers 503 until the page calls /wasm-back. */
function routes(req, res, url) {
  if (url.pathname === '/wasm-back') {
    wasmFailing = false;
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
    return true;
  }
  if (url.pathname === '/authmedia_sw_bg.wasm' && wasmFailing) {
    wasmAnswers.push(503);
    res.writeHead(503, { 'cache-control': 'no-store' }).end();
    return true;
  }
  if (url.pathname === '/authmedia_sw_bg.wasm') wasmAnswers.push(200);
  return false;
}

/**
 * Runs in the page: defines `window.watchRefusals()`, which starts recording the answers the page
 * receives from a worker on a reply port — the first "wasm unavailable" brings the wasm back
 * (/wasm-back) before the SDK reads it, so whatever the SDK asks next can succeed — and returns a
 * function that stops recording and returns what was seen.
 */
function defineWatchRefusals() {
  window.watchRefusals = () => {
    const seen = [];
    const desc = Object.getOwnPropertyDescriptor(MessagePort.prototype, 'onmessage');
    Object.defineProperty(MessagePort.prototype, 'onmessage', {
      configurable: true,
      get() {
        return desc.get.call(this);
      },
      set(fn) {
        if (typeof fn !== 'function') return desc.set.call(this, fn);
        desc.set.call(this, function (e) {
          const d = e.data || {};
          if (d.ok === false && /wasm unavailable/.test(d.error || '')) {
            seen.push('wasm unavailable');
            return fetch('/wasm-back', { cache: 'no-store' }).then(() => fn.call(this, e));
          }
          if (d.ok === true) seen.push('ok');
          return fn.call(this, e);
        });
      },
    });
    return () => {
      Object.defineProperty(MessagePort.prototype, 'onmessage', desc);
      return seen;
    };
  };
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite({ routes });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('first load: an installing worker whose wasm did not load refuses the early handoff; the active worker is asked again and init resolves in worker mode', { timeout: 120_000 }, async () => {
  const page = browser.page;
  const logs = () => consoleLines.slice(-40).join('\n');
  await page.goto(site.url('/'));
  await waitForPackage(page);
  await page.evaluate(defineWatchRefusals);
  const r = await page.evaluate(async (opts) => {
    const unhook = window.watchRefusals();
    const media = await window.am.AuthMedia.init(opts);
    return { mode: media.mode, reason: media.fallbackReason, seen: unhook() };
  }, { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, fallbackWarning: false });
  assert.equal(r.seen[0], 'wasm unavailable', `the installing worker's wasm did not load: ${JSON.stringify(r)} ${JSON.stringify(wasmAnswers)}`);
  assert.deepEqual({ mode: r.mode, reason: r.reason }, { mode: 'worker', reason: null }, `${JSON.stringify(r)} ${JSON.stringify(wasmAnswers)}\n${logs()}`);
});

test('an active worker whose wasm did not load refuses the session once: init asks it again and resolves in worker mode', { timeout: 120_000 }, async () => {
  // The worker was registered (by an earlier visit, or another part of the app) and activated
  // while its wasm's URL failed, so no early handoff happens: the first answer to the page's
  // session message comes from the active worker, which loads its wasm anew for each message.
  wasmFailing = true;
  const fresh = await launchChromium();
  try {
    await fresh.page.goto(site.url('/'));
    await waitForPackage(fresh.page);
    await fresh.page.evaluate(defineWatchRefusals);
    const r = await fresh.page.evaluate(async (opts) => {
      const reg = await navigator.serviceWorker.register('/authmedia-sw.js');
      await navigator.serviceWorker.ready;
      const activeBefore = !!reg.active;
      const unhook = window.watchRefusals();
      const media = await window.am.AuthMedia.init(opts);
      return { activeBefore, mode: media.mode, reason: media.fallbackReason, seen: unhook() };
    }, { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, fallbackWarning: false });
    assert.equal(r.activeBefore, true, JSON.stringify(r));
    assert.equal(r.seen[0], 'wasm unavailable', `the active worker's wasm did not load: ${JSON.stringify(r)} ${JSON.stringify(wasmAnswers)}`);
    assert.deepEqual({ mode: r.mode, reason: r.reason }, { mode: 'worker', reason: null }, `${JSON.stringify(r)} ${JSON.stringify(wasmAnswers)}`);
  } finally {
    await fresh.close();
  }
});

test('a worker whose wasm never loads: init serves from the fallback with worker_refused_session and the worker\'s words, not worker_outdated', { timeout: 120_000 }, async () => {
  wasmFailing = true;
  const fresh = await launchChromium();
  try {
    await fresh.page.goto(site.url('/'));
    await waitForPackage(fresh.page);
    const r = await fresh.page.evaluate(async (opts) => {
      const media = await window.am.AuthMedia.init(opts);
      return { mode: media.mode, reason: media.fallbackReason, detail: media.fallbackDetail };
    }, { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, fallbackWarning: false });
    assert.equal(r.mode, 'fallback', JSON.stringify(r));
    assert.equal(r.reason, 'worker_refused_session', JSON.stringify(r));
    assert.match(r.detail.error ?? '', /wasm unavailable/, JSON.stringify(r));
    assert.match(r.detail.message ?? '', /refused this page's session \(wasm unavailable/, JSON.stringify(r));
    assert.ok(wasmAnswers.includes(503), `the wasm was refused: ${JSON.stringify(wasmAnswers)}`);
  } finally {
    await fresh.close();
  }
});
