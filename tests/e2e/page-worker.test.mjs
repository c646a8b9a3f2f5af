/**
 * Page SDK (npm package `matrix-authmedia`) with its service worker, in headless Chromium against the
 * real Synapse, on a secure origin (http://127.0.0.1, loopback):
 *
 * - first load: the worker registers and claims the page; the SDK ends in worker mode; `mount()`
 *   hydrates images with authenticated (not blob:) URLs whose thumbnail sizes come from the CSS box,
 *   the worker authenticates them, the ≥ 5 MB mp4 plays (Range through the worker);
 * - hard reload (ignoreCache reload: the page is not controlled): init starts in the fallback
 *   (reason "uncontrolled"), images and video render, then the worker claims the page and the SDK
 *   switches to worker mode (a modechange event); elements added after the switch use worker URLs;
 * - setForceFallback switches modes at runtime; logout revokes object URLs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { launchChromium, collectConsole, cdp } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage, renderReport, hasWorker, openInWorkerMode } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh (it runs scripts/build-sw.sh)');
  site = await startPageSite();
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-40).join('\n');

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, ...extra };
}

const settled = () =>
  [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState));

function mediaHtml(m) {
  return `
    <img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px" alt="">
    <img id="attrs" data-mxc="${m.png800.mxc}" data-width="48" data-height="48" data-method="crop" alt="">
    <img id="gif" data-mxc="${m.gif.mxc}" style="width:80px;height:60px" data-animated="true" alt="">
    <video id="mp4" data-mxc="${m.mp4.mxc}" muted playsinline preload="auto" style="width:320px;height:180px"></video>`;
}

async function playVideo(page, id) {
  return page.evaluate(async (id) => {
    const v = document.getElementById(id);
    await v.play();
    const t0 = performance.now();
    while (v.currentTime < 0.5 && performance.now() - t0 < 20_000) await new Promise((r) => v.addEventListener('timeupdate', r, { once: true }));
    v.pause();
    return { t: v.currentTime, duration: v.duration, src: v.currentSrc };
  }, id);
}

test('worker mode: mount() hydrates authenticated URLs sized from the box; the worker serves them; video plays', { timeout: 180_000 }, async () => {
  const page = browser.page;
  await openInWorkerMode(page, site.url('/'), alice(), logs);
  await page.evaluate((html) => {
    const root = document.getElementById('root');
    root.className = 'col';
    root.innerHTML = html;
    window.unmount = window.media.mount(root);
  }, mediaHtml(world.media));
  await page.waitForFunction(settled, null, { timeout: 60_000 });
  const r = Object.fromEntries((await renderReport(page)).map((x) => [x.id, x]));
  const base = world.synapse.baseUrl;
  assert.equal(r.box.state, 'loaded', `${JSON.stringify(r.box)}\n${logs()}`);
  assert.ok(r.box.src.startsWith(`${base}/_matrix/client/v1/media/thumbnail/`), r.box.src);
  assert.match(r.box.src, /width=320&height=240&method=scale/);
  assert.deepEqual([r.box.naturalWidth, r.box.naturalHeight], [320, 240]);
  assert.match(r.attrs.src, /width=96&height=96&method=crop/);
  assert.deepEqual([r.attrs.naturalWidth, r.attrs.naturalHeight], [96, 96]);
  assert.match(r.gif.src, /animated=true/);
  assert.ok(r.gif.ok, JSON.stringify(r.gif));
  assert.equal(r.mp4.state, 'loaded', JSON.stringify(r.mp4));
  assert.ok(r.mp4.src.startsWith(`${base}/_matrix/client/v1/media/download/`));
  const played = await playVideo(page, 'mp4');
  assert.ok(played.t >= 0.5, JSON.stringify(played));
  const stats = await page.evaluate(() => window.media.refreshStats());
  assert.ok(stats.worker && stats.worker.authenticated >= 4, JSON.stringify(stats));
  assert.equal(stats.fallback.fetches, 0);
  assert.equal(stats.byKind.thumbnail, 3);
  assert.deepEqual(stats.byMode, { worker: 4, fallback: 0, legacy: 0 });
  // Runtime switch: forced fallback → new elements get blob: URLs; back to the worker.
  const switched = await page.evaluate(async (mxc) => {
    window.media.setForceFallback(true);
    const a = { mode: window.media.mode, url: await window.media.src(mxc) };
    window.media.setForceFallback(false);
    const b = { mode: window.media.mode, url: await window.media.src(mxc) };
    return { a, b, changes: window.events.filter((e) => e.type === 'modechange').map((e) => e.mode) };
  }, world.media.png64.mxc);
  assert.equal(switched.a.mode, 'fallback');
  assert.ok(switched.a.url.startsWith('blob:'));
  assert.equal(switched.b.mode, 'worker');
  assert.ok(switched.b.url.startsWith(base));
  assert.deepEqual(switched.changes.slice(-2), ['fallback', 'worker']);
});

test('worker mode: a failed element says why, as the fallback does — not_found (not retried by retryFailed), the worker asked, not the server', { timeout: 120_000 }, async () => {
  const page = browser.page;
  await openInWorkerMode(page, site.url('/'), alice(), logs);
  const missing = `mxc://${world.synapse.serverName}/NoSuchMedia${Date.now()}`;
  // One mount; elements added later are hydrated by its MutationObserver.
  const add = (html) => page.evaluate((html) => document.getElementById('root').insertAdjacentHTML('beforeend', html), html);
  await page.evaluate(() => {
    window.unmount?.();
    const root = document.getElementById('root');
    root.innerHTML = '';
    window.unmount = window.media.mount(root);
  });
  await add(`<img id="gone" data-mxc="${missing}" data-width="32" data-height="32" alt="">
    <img id="gone-dl" data-mxc="${missing}" alt="">
    <img id="fine" data-mxc="${world.media.png64.mxc}" alt="">`);
  await page.waitForFunction(settled, null, { timeout: 60_000 });
  const before = await page.evaluate(() => window.media.refreshStats());
  let r = Object.fromEntries((await renderReport(page)).map((x) => [x.id, x]));
  assert.equal(r.fine.state, 'loaded', JSON.stringify(r.fine));
  for (const id of ['gone', 'gone-dl']) {
    assert.equal(r[id].state, 'error', JSON.stringify(r[id]));
    assert.equal(r[id].error, 'not_found', `${JSON.stringify(r[id])}\n${logs()}`);
    assert.ok(r[id].src.startsWith(`${world.synapse.baseUrl}/_matrix/client/v1/media/`), r[id].src);
  }
  // A deleted or unknown file cannot load by trying again: retryFailed() leaves it alone.
  const retried = await page.evaluate(() => window.media.retryFailed());
  assert.equal(retried, 0);
  const after = await page.evaluate(() => window.media.refreshStats());
  assert.equal(after.worker.upstream, before.worker.upstream, 'asking why sent nothing upstream');
  r = Object.fromEntries((await renderReport(page)).map((x) => [x.id, x]));
  assert.equal(r.gone.error, 'not_found');
  // The fallback reports the same code for the same file.
  await page.evaluate(() => window.media.setForceFallback(true));
  await add(`<img id="gone-fb" data-mxc="${missing}" data-width="32" data-height="32" alt="">`);
  await page.waitForFunction(settled, null, { timeout: 60_000 });
  r = Object.fromEntries((await renderReport(page)).map((x) => [x.id, x]));
  assert.equal(r['gone-fb'].error, 'not_found', JSON.stringify(r['gone-fb']));
  await page.evaluate(() => window.media.setForceFallback(false));
});

test('a revoked token: mounted images fail unauthorized; setAccessToken(new token) loads them again, worker mode and fallback', { timeout: 120_000 }, async () => {
  const page = browser.page;
  const base = world.synapse.baseUrl;
  const alice = world.users.alice;
  for (const mode of ['worker', 'fallback']) {
    const first = await mx.login(base, alice.userId, alice.password);
    const opts = { homeserver: base, accessToken: first.accessToken, userId: alice.userId };
    if (mode === 'worker') {
      await openInWorkerMode(page, site.url('/'), opts, logs);
    } else {
      await page.goto(site.url('/'));
      await waitForPackage(page);
      assert.equal((await initInPage(page, { ...opts, fallback: 'force' })).mode, 'fallback');
    }
    await mx.logout(base, first.accessToken); // the server revokes it: media answers 401 M_UNKNOWN_TOKEN
    const name = `revoked-${mode}-${Date.now()}.png`; // a URL no cache has seen
    await page.evaluate((html) => {
      window.unmount?.();
      const root = document.getElementById('root');
      root.innerHTML = html;
      window.unmount = window.media.mount(root);
    }, `<img id="revoked" data-mxc="${world.media.png64.mxc}" data-filename="${name}" alt="">`);
    await page.waitForFunction(settled, null, { timeout: 60_000 });
    let r = (await renderReport(page))[0];
    assert.deepEqual([r.state, r.error], ['error', 'unauthorized'], `${mode}: ${JSON.stringify(r)}\n${logs()}`);
    // Not something retryFailed() retries with the same token…
    assert.equal(await page.evaluate(() => window.media.retryFailed()), 0);
    // …but a new token loads it again, once the worker has it.
    const second = await mx.login(base, alice.userId, alice.password);
    await page.evaluate((t) => window.media.setAccessToken(t), second.accessToken);
    await page.waitForFunction(() => document.getElementById('revoked').dataset.authmediaState === 'loaded', null, { timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${mode}: ${e.message} ${JSON.stringify(await renderReport(page))}\n${logs()}`);
    });
    r = (await renderReport(page))[0];
    assert.ok(r.ok && r.naturalWidth === world.media.png64.width, `${mode}: ${JSON.stringify(r)}`);
    await page.evaluate(() => window.media.logout());
    await mx.logout(base, second.accessToken);
  }
});

test('hard reload (uncontrolled page): starts in the fallback, media renders, then the worker takes over', { timeout: 180_000 }, async () => {
  const page = browser.page;
  // The previous test registered the worker; make sure it controls this page first.
  await page.goto(site.url('/'));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
  // A hard reload (Ctrl+Shift+R) bypasses the worker: the page is not controlled.
  const session = await cdp(page);
  await Promise.all([page.waitForEvent('load', { timeout: 30_000 }), session.send('Page.reload', { ignoreCache: true })]);
  await waitForPackage(page);
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller), null, 'the hard-reloaded page must be uncontrolled');
  const info = await page.evaluate(async ([opts, html]) => {
    const media = await window.am.AuthMedia.init(opts);
    window.media = media;
    const modes = [];
    media.addEventListener('modechange', (e) => modes.push(e.detail.mode));
    window.modes = modes;
    // Mount in the same task as init resolved: decided in the fallback.
    const root = document.getElementById('root');
    root.className = 'col';
    root.innerHTML = html;
    media.mount(root);
    return { mode: media.mode, reason: media.fallbackReason };
  }, [alice(), mediaHtml(world.media)]);
  assert.deepEqual(info, { mode: 'fallback', reason: 'uncontrolled' });
  await page.waitForFunction(settled, null, { timeout: 90_000 });
  const r = Object.fromEntries((await renderReport(page)).map((x) => [x.id, x]));
  for (const id of ['box', 'attrs', 'gif', 'mp4']) assert.ok(r[id].ok && r[id].state === 'loaded', `${id}: ${JSON.stringify(r[id])}`);
  assert.deepEqual([r.box.naturalWidth, r.box.naturalHeight], [320, 240]);
  const played = await playVideo(page, 'mp4');
  assert.ok(played.t >= 0.5, JSON.stringify(played));
  // The page asked the worker to claim it: worker mode follows, with an event.
  await page.waitForFunction(() => window.media.mode === 'worker', null, { timeout: 30_000 });
  assert.deepEqual(await page.evaluate(() => window.modes), ['worker']);
  assert.notEqual(await page.evaluate(() => navigator.serviceWorker.controller), null);
  // Elements hydrated before keep their (still valid) URLs; new ones use the worker.
  const late = await page.evaluate(async (mxc) => {
    const img = document.createElement('img');
    img.dataset.mxc = mxc;
    img.id = 'late';
    document.getElementById('root').append(img);
    await new Promise((resolve) => img.addEventListener('load', resolve, { once: true }));
    return { src: img.src, w: img.naturalWidth, boxStillShown: document.getElementById('box').complete && document.getElementById('box').naturalWidth };
  }, world.media.png64.mxc);
  assert.ok(late.src.startsWith(world.synapse.baseUrl), late.src);
  assert.equal(late.w, 64);
  assert.equal(late.boxStillShown, 320);
});

test('logout: the worker is told, object URLs are revoked, mounted media is cleared', { timeout: 60_000 }, async () => {
  const page = browser.page;
  const out = await page.evaluate(async (mxc) => {
    window.media.setForceFallback(true);
    const url = await window.media.src(mxc);
    const alive = await fetch(url).then(() => true, () => false);
    await window.media.logout();
    const after = await fetch(url).then(() => true, () => false);
    let code = null;
    try {
      await window.media.src(mxc);
    } catch (e) {
      code = e instanceof window.am.AuthMediaError ? e.code : `not an AuthMediaError: ${e}`;
    }
    const states = [...document.querySelectorAll('#root [data-mxc]')].map((el) => el.dataset.authmediaState);
    return { alive, after, code, states, objectUrls: window.media.stats().fallback.objectUrls };
  }, world.media.png64.mxc);
  assert.equal(out.alive, true);
  assert.equal(out.after, false, 'the object URL survived logout');
  assert.equal(out.code, 'logged_out');
  assert.equal(out.objectUrls, 0);
  assert.ok(out.states.length > 0 && out.states.every((s) => s === 'error'), JSON.stringify(out.states));
});

test('worker mode: after a 401 the worker asks the page (need-token), onTokenRefresh answers, the image loads', { timeout: 90_000 }, async () => {
  const base = world.synapse.baseUrl;
  const t1 = await mx.login(base, 'alice', world.users.alice.password);
  const t2 = await mx.login(base, 'alice', world.users.alice.password);
  const page = await browser.context.newPage();
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await page.evaluate(async ([opts, t2]) => {
      window.refreshCalls = 0;
      window.media = await window.am.AuthMedia.init({ ...opts, onTokenRefresh: async () => ((window.refreshCalls += 1), t2) });
    }, [{ ...alice(), accessToken: t1.accessToken }, t2.accessToken]);
    await page.waitForFunction(() => window.media.mode === 'worker', null, { timeout: 30_000 });
    await mx.logout(base, t1.accessToken);
    await page.evaluate((mxc) => {
      const root = document.getElementById('root');
      // 57×41 crop snaps to the 96×96 preset; no other worker test asks for this jpeg thumbnail.
      root.innerHTML = `<img id="r" data-mxc="${mxc}" data-width="57" data-height="41" data-method="crop" alt="">`;
      window.media.mount(root);
    }, world.media.jpeg.mxc);
    await page.waitForFunction(() => ['loaded', 'error'].includes(document.getElementById('r').dataset.authmediaState), null, { timeout: 30_000 });
    const r = await page.evaluate(() => {
      const i = document.getElementById('r');
      return { state: i.dataset.authmediaState, w: i.naturalWidth, calls: window.refreshCalls, http: i.src.startsWith('http') };
    });
    assert.deepEqual(r, { state: 'loaded', w: 96, calls: 1, http: true }, logs());
  } finally {
    await page.close();
  }
});
