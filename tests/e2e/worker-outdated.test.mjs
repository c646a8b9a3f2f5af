/**
 * A stale worker copy (Chromium and Firefox ESR, real Synapse): the site serves the current package
 * but still the previous release's worker files (copied by hand, not updated with the package).
 * That worker replies to the session handshake without `protocol`/`version`; the page must notice,
 * take the session back, warn once (same switch as the other deployment warnings) and serve from the
 * fallback with `fallbackReason: 'worker_outdated'` and a `fallbackDetail` naming both versions —
 * also once the old worker controls the page. Once the current worker files are deployed, the page
 * goes to worker mode. Without the handshake the old worker would be used as if it were current.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { prevWorkerDir, PREV_WORKER_COMMIT } from '../lib/prev-worker.mjs';
import { startPageSite, waitForPackage, hasWorker, NPM_DIR } from '../pages/page/site.mjs';

let world;
let site;
let prev;
const VERSION = JSON.parse(readFileSync(path.join(NPM_DIR, 'package.json'), 'utf8')).version;
const FILES = ['authmedia-sw.js', 'authmedia_sw_bg.wasm'];

/** Puts the worker files of `dir` at the site root, where workerUrl points. */
function deployWorker(dir) {
  for (const f of FILES) copyFileSync(path.join(dir, f), path.join(site.dir, f));
}

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  prev = await prevWorkerDir();
  site = await startPageSite();
});

after(async () => {
  await site?.close();
});

function alice(extra) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

/**
 * In the page: init with args[0] (console.warn recorded), wait until a worker controls the page
 * (the old one claims it on activation; the mode must stay the fallback), mount a thumbnail and wait
 * for it; returns what the instance says and shows.
 */
const INIT_BODY = `
  const [opts, mxc] = args;
  const warnings = [];
  const original = console.warn;
  console.warn = (...a) => {
    const line = a.map(String).join(' ');
    if (line.startsWith('matrix-authmedia:')) warnings.push(line);
    return original.apply(console, a);
  };
  let media;
  try {
    media = await window.am.AuthMedia.init(opts);
  } catch (e) {
    console.warn = original;
    return { rejected: { code: e.code, message: e.message, reason: e.detail?.reason ?? null }, warnings };
  } finally {
    console.warn = original;
  }
  window.media = media;
  const atInit = { mode: media.mode, reason: media.fallbackReason };
  const deadline = Date.now() + 20000;
  while (!navigator.serviceWorker.controller && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // A controllerchange handshake (if any) has finished once a session message round trip is done.
  await media.refreshStats();
  const root = document.getElementById('root');
  root.innerHTML = '<img id="thumb" data-mxc="' + mxc + '" data-width="64" data-height="64" alt="">';
  media.mount(root);
  const img = document.getElementById('thumb');
  while (!['loaded', 'error'].includes(img.dataset.authmediaState) && Date.now() < deadline + 20000) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => (img.complete ? r() : img.addEventListener('load', r, { once: true })));
  return {
    atInit,
    controlled: !!navigator.serviceWorker.controller,
    mode: media.mode,
    reason: media.fallbackReason,
    detail: media.fallbackDetail,
    img: { state: img.dataset.authmediaState, error: img.dataset.authmediaError ?? null, blob: img.src.startsWith('blob:'), width: img.naturalWidth },
    warnings,
  };`;

/** What the page must say about the old worker. */
function checkOutdated(r, where) {
  assert.equal(r.rejected, undefined, `${where}: ${JSON.stringify(r)}`);
  assert.deepEqual(r.atInit, { mode: 'fallback', reason: 'worker_outdated' }, `${where}: ${JSON.stringify(r)}`);
  assert.equal(r.controlled, true, `${where}: the old worker claims the page`);
  assert.deepEqual([r.mode, r.reason], ['fallback', 'worker_outdated'], `${where}: controlled by the old worker, still the fallback: ${JSON.stringify(r)}`);
  assert.equal(r.detail.reason, 'worker_outdated', where);
  assert.equal(r.detail.url, site.url('/authmedia-sw.js'), where);
  assert.equal(r.detail.pageVersion, VERSION, where);
  assert.equal(r.detail.pageProtocol, 1, where);
  assert.equal(r.detail.workerVersion ?? null, null, `${where}: the old worker reports no version`);
  assert.ok(r.detail.message.includes('from before the protocol handshake') && r.detail.message.includes(`version ${VERSION}`), `${where}: ${r.detail.message}`);
  assert.deepEqual(r.img, { state: 'loaded', error: null, blob: true, width: 64 }, `${where}: the fallback serves media under the old worker: ${JSON.stringify(r.img)}`);
}

test(`Chromium: the previous release's worker (${PREV_WORKER_COMMIT}) → worker_outdated, one warning; current worker files → worker mode`, { timeout: 180_000 }, async () => {
  const browser = await launchChromium();
  const lines = collectConsole(browser.page);
  const evaluate = (opts) => browser.page.evaluate(([body, opts, mxc]) => new Function('args', `return (async () => {${body}})()`)([opts, mxc]), [INIT_BODY, opts, world.media.png64.mxc]);
  try {
    deployWorker(prev);
    await browser.page.goto(site.url('/'));
    await waitForPackage(browser.page);
    const first = await evaluate(alice());
    checkOutdated(first, 'Chromium, first load');
    assert.equal(first.warnings.length, 1, JSON.stringify(first.warnings));
    assert.ok(first.warnings[0].includes('using the blob fallback (worker_outdated)') && first.warnings[0].includes(first.detail.message), first.warnings[0]);
    // Controlled from the start (a reload), warnings off.
    await browser.page.reload();
    await waitForPackage(browser.page);
    const quiet = await evaluate(alice({ fallbackWarning: false }));
    checkOutdated(quiet, 'Chromium, reload');
    assert.deepEqual(quiet.warnings, []);
    // fallback: 'never' names the cause.
    const never = await evaluate(alice({ fallback: 'never' }));
    assert.equal(never.rejected?.code, 'no_worker', JSON.stringify(never));
    assert.equal(never.rejected.reason, 'worker_outdated');
    assert.match(never.rejected.message, /\(worker_outdated\) and fallback is 'never': .*from another release of matrix-authmedia/);
    // The site is fixed: the current worker files. The registration updates and the page, reloaded, is served by the worker.
    deployWorker(path.join(NPM_DIR, 'sw'));
    await browser.page.reload();
    await waitForPackage(browser.page);
    await browser.page.evaluate(async (opts) => {
      window.media = await window.am.AuthMedia.init(opts);
    }, alice({ fallbackWarning: false }));
    await browser.page.waitForFunction(() => window.media.mode === 'worker', null, { timeout: 30_000 });
  } catch (e) {
    e.message += `\n${lines.slice(-30).join('\n')}`;
    throw e;
  } finally {
    await browser.close();
  }
});

test(`Firefox ESR: the previous release's worker (${PREV_WORKER_COMMIT}) → worker_outdated, one warning`, { timeout: 180_000 }, async () => {
  deployWorker(prev);
  const ff = await launchFirefox();
  try {
    await ff.setTimeouts({ script: 90_000, pageLoad: 60_000 });
    await ff.navigate(site.url('/'));
    await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
    assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
    const r = await ff.evaluate(INIT_BODY, alice(), world.media.png64.mxc);
    checkOutdated(r, 'Firefox');
    assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
    assert.ok(r.warnings[0].includes('using the blob fallback (worker_outdated)'), r.warnings[0]);
  } finally {
    await ff.close();
  }
});
