/**
 * Page SDK fallback in Firefox ESR (geckodriver/WebDriver) with service workers disabled by the pref
 * `dom.serviceWorkers.enabled = false` (as a policy or a hardened profile does): no
 * `navigator.serviceWorker`, so the SDK must use its fallback, and mounted images and video render.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite } from '../pages/page/site.mjs';

let world;
let site;
let ff;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
  ff = await launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } });
  await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
});

after(async () => {
  await ff?.close();
  await site?.close();
});

test('Firefox ESR without service workers: the fallback renders images (box-sized thumbnails) and video', { timeout: 240_000 }, async () => {
  await ff.navigate(site.url('/'));
  await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
  const loadError = await ff.executeScript('return window.amLoadError || null');
  assert.equal(loadError, null);
  const m = world.media;
  const info = await ff.evaluate(
    `const [opts, html] = args;
     const media = await window.am.AuthMedia.init(opts);
     window.media = media;
     const root = document.getElementById('root');
     root.innerHTML = html;
     media.mount(root);
     return { mode: media.mode, reason: media.fallbackReason, sw: 'serviceWorker' in navigator };`,
    { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId },
    `<img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px;display:block" alt="">
     <img id="jpeg" data-mxc="${m.jpeg.mxc}" style="width:100px;height:100px;display:block" data-method="crop" alt="">
     <img id="full" data-mxc="${m.png64.mxc}" alt="">
     <video id="webm" data-mxc="${m.webm.mxc}" muted style="width:320px;height:240px;display:block"></video>`,
  );
  assert.deepEqual(info, { mode: 'fallback', reason: 'no_service_worker', sw: false });
  await ff.waitFor(
    `return [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState))`,
    { timeoutMs: 90_000 },
  );
  const report = await ff.executeScript(`
    return [...document.querySelectorAll('#root [data-mxc]')].map((el) => ({
      id: el.id, state: el.dataset.authmediaState, error: el.dataset.authmediaError || null,
      blob: (el.getAttribute('src') || '').startsWith('blob:'),
      w: el.naturalWidth ?? el.videoWidth, h: el.naturalHeight ?? el.videoHeight,
      ok: el.tagName === 'IMG' ? el.complete && el.naturalWidth > 0 : el.readyState >= 1 && el.videoWidth > 0,
    }));`);
  const r = Object.fromEntries(report.map((x) => [x.id, x]));
  for (const id of ['box', 'jpeg', 'full', 'webm']) {
    assert.ok(r[id].ok && r[id].state === 'loaded' && r[id].blob, `${id}: ${JSON.stringify(r[id])}`);
  }
  assert.deepEqual([r.box.w, r.box.h], [320, 240]);
  assert.deepEqual([r.full.w, r.full.h], [64, 64]);
  assert.deepEqual([r.webm.w, r.webm.h], [320, 240]);
  const stats = await ff.executeScript('return window.media.stats()');
  assert.equal(stats.fallback.fetches, 4);
  assert.equal(stats.worker, null);
});
