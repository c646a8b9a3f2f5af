/**
 * Fault injection end to end (RELIABILITY.md, "Faults"): real Synapse, headless Chromium, the page SDK
 * (npm package) with its service worker, and a loopback fault proxy (tests/lib/fault-proxy.mjs)
 * between the browser and Synapse where a fault has to be injected or sequenced.
 *
 *   (a) Synapse stopped in the middle of a gallery load (a private Synapse: the shared one belongs
 *       to the runner), then restarted → every element reaches a final state in bounded time while
 *       it is down; `retryFailed()` loads the failed ones, no page reload.
 *   (b) 429 M_LIMIT_EXCEEDED with Retry-After (header) or retry_after_ms (body) → honoured (gaps
 *       between the attempts the proxy recorded), bounded attempts, then success; a 429 that never
 *       ends → a final error answer after a bounded budget.
 *   (c) 504 M_NOT_YET_UPLOADED: async upload (POST /_matrix/media/v1/create), the page shows the
 *       mxc, the content is PUT once the proxy has seen the first download attempt → it appears.
 *   (d) a stalling server → 504 JSON `authmedia_code: "timeout"` after `fetchTimeoutMs` (worker),
 *       code `timeout` (fallback) while other media load; the window's `online` event retries.
 *   (e) the worker stopped mid-video (a 72 s video whose end the browser has not fetched yet) →
 *       playback goes on; a seek past the fetched data is served by the restarted worker, with the
 *       token (the proxy sees the Range request), no error on the element.
 *   (f) after a wasm trap, several later requests (images, a Range request, a video seek) are
 *       served by the fresh instance (the trap itself: worker.test.mjs "a trapped wasm instance…").
 *
 * No sleeps: every wait is on an event or a condition (proxy.waitFor, waitUntil, waitForFunction);
 * time bounds measure elapsed time and compare it with a generous bound. Figures go to the test
 * output as `figure:` lines (RELIABILITY.md, "Fault injection").
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startSynapse, REPO_ROOT } from '../../support/synapse.mjs';
import { ensureFixtures, readFixture } from '../../support/fixtures.mjs';
import { startFaultProxy } from '../lib/fault-proxy.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { waitUntil } from '../../support/procs.mjs';
import { startPageSite, waitForPackage, initInPage, renderReport, hasWorker } from '../pages/page/site.mjs';

const FAULTS_SW = path.join(REPO_ROOT, 'tests', 'pages', 'faults-sw.js');
const WORKER_PAGES = path.join(REPO_ROOT, 'tests', 'pages', 'worker');
const SW_DIST = path.join(REPO_ROOT, 'sw', 'dist');
const FINAL = ['loaded', 'error', 'too-large'];
const execFileP = promisify(execFile);

/** @type {any} */
let world;
/** @type {Awaited<ReturnType<typeof startPageSite>>} */
let site;
let unique = 0;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite({
    routes: {
      '/faults-sw.js': (_req, res) => {
        res.writeHead(200, {
          'Content-Type': 'text/javascript; charset=utf-8',
          'Cache-Control': 'no-store',
          'Service-Worker-Allowed': '/',
        });
        res.end(readFileSync(FAULTS_SW));
      },
    },
  });
});

after(async () => {
  await site?.close();
});

const figure = (text) => console.log(`figure: ${text}`);

/** A name no other test used (distinct URLs defeat every cache). */
function fresh(stem) {
  unique += 1;
  return `faults-${process.pid}-${unique}-${stem}`;
}

/**
 * A fresh browser on the SDK test page, `window.media` initialised with `options` (homeserver,
 * token, user + extras). In worker mode (the default) waits until the worker controls the page.
 */
async function openPage({ homeserver, user, options = {}, worker = true }) {
  const browser = await launchChromium();
  const consoleLines = collectConsole(browser.page);
  const { page } = browser;
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    // A marker that a reload would lose.
    await page.evaluate(() => {
      window.noReload = `page-${Math.random()}`;
    });
    await initInPage(page, { homeserver, accessToken: user.accessToken, userId: user.userId, ...options });
    if (worker) {
      await page.waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller !== null, null, {
        timeout: 30_000,
      });
    }
  } catch (error) {
    await browser.close();
    error.message += `\n--- browser console ---\n${consoleLines.join('\n')}`;
    throw error;
  }
  return { ...browser, consoleLines };
}

async function withPage(opts, fn) {
  const browser = await openPage(opts);
  try {
    await fn(browser);
  } catch (error) {
    error.message += `\n--- browser console ---\n${browser.consoleLines.slice(-60).join('\n')}`;
    throw error;
  } finally {
    await browser.close();
  }
}

/** Sets #root's content, records every state change with its time, mounts it. */
function mountHtml(page, html) {
  return page.evaluate((html) => {
    const root = document.getElementById('root');
    root.innerHTML = html;
    window.stateLog = window.stateLog ?? [];
    if (!window.stateObserver) {
      window.stateObserver = new MutationObserver((records) => {
        for (const r of records) {
          window.stateLog.push({ id: r.target.id, state: r.target.getAttribute('data-authmedia-state'), t: Date.now() });
        }
      });
      window.stateObserver.observe(root, { subtree: true, attributes: true, attributeFilter: ['data-authmedia-state'] });
    }
    window.unmount = window.media.mount(root);
  }, html);
}

/** Appends elements to the mounted #root (the SDK's MutationObserver hydrates them). */
function appendHtml(page, html) {
  return page.evaluate((html) => document.getElementById('root').insertAdjacentHTML('beforeend', html), html);
}

/** {id → report} of every [data-mxc] element. */
async function report(page) {
  return Object.fromEntries((await renderReport(page)).map((r) => [r.id, r]));
}

/** fetch() in the page (through the worker when it controls the page). */
function pageFetch(page, url, init = {}) {
  return page.evaluate(
    async ([url, init]) => {
      const started = Date.now();
      try {
        const res = await fetch(url, init);
        const body = new Uint8Array(await res.arrayBuffer());
        const headers = {};
        res.headers.forEach((v, k) => {
          headers[k] = v;
        });
        return { status: res.status, headers, length: body.length, text: new TextDecoder().decode(body.slice(0, 2000)), ms: Date.now() - started };
      } catch (e) {
        return { error: String(e), ms: Date.now() - started };
      }
    },
    [url, init],
  );
}

/** Loads an <img src=url> in the page; {loaded, naturalWidth, ms}. `timeoutMs` only bounds a broken run. */
function pageImage(page, url, timeoutMs = 90_000) {
  return page.evaluate(
    ([url, timeoutMs]) =>
      new Promise((resolve) => {
        const started = Date.now();
        const img = new Image();
        const done = (loaded) => {
          clearTimeout(timer);
          resolve({ loaded, naturalWidth: img.naturalWidth, ms: Date.now() - started });
        };
        const timer = setTimeout(() => done(false), timeoutMs);
        img.onload = () => done(true);
        img.onerror = () => done(false);
        img.src = url;
      }),
    [url, timeoutMs],
  );
}

/** GET requests the proxy saw whose URL contains `needle`. */
const gets = (proxy, needle) => proxy.requests.filter((r) => r.method === 'GET' && r.url.includes(needle));

/** The worker's counters (`authmedia:stats`). */
const workerStats = (page) => page.evaluate(async () => (await window.media.refreshStats()).worker);

// ---------------------------------------------------------------------------------------------

/**
 * A private Synapse for (a) (the shared one belongs to the runner process and must not be
 * stopped): a user and a gallery of 12 images + 2 added later, uploaded once for both modes.
 */
let privateHs = null;
async function galleryHomeserver() {
  if (privateHs) return privateHs;
  const dir = path.join(REPO_ROOT, '.local', `faults-synapse-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const synapse = await startSynapse({ dir });
  privateHs = { synapse, dir };
  const user = await mx.registerUser(synapse.baseUrl, synapse.registrationSecret, 'gallery', 'gallery-password-1');
  const fixtures = await ensureFixtures();
  const names = ['png64', 'png800', 'jpeg', 'png1600', 'gif', 'bobPng'];
  const upload = (info, name) => mx.upload(synapse.baseUrl, user.accessToken, readFixture(info), info.contentType, name);
  const gallery = [];
  for (let i = 0; i < 12; i += 1) gallery.push(await upload(fixtures[names[i % names.length]], `g${i}.img`));
  const late = [await upload(fixtures.png800, 'late0.png'), await upload(fixtures.png64, 'late1.png')];
  Object.assign(privateHs, { user, gallery, late });
  return privateHs;
}

after(async () => {
  if (!privateHs) return;
  await privateHs.synapse.stop();
  rmSync(privateHs.dir, { recursive: true, force: true });
});

/**
 * (a) in worker mode or in the fallback: 8 of 12 gallery thumbnails load, the last 4 are held by
 * the proxy (no answer) until Synapse has really been stopped, then their connections are cut (as
 * a dying server's would be); 2 more images are added while it is down. Every element must reach a
 * final state within BOUND_MS; after the restart one `retryFailed()` loads the six failed ones.
 */
async function stopMidGallery({ worker }) {
  const { synapse, user, gallery, late } = await galleryHomeserver();
  const proxy = await startFaultProxy({ target: synapse.baseUrl });
  const mode = worker ? 'worker' : 'fallback';
  try {
    const idOf = (mxc) => mx.parseMxc(mxc).mediaId;
    const held = gallery.slice(8).map(idOf);
    for (const id of held) proxy.fault({ pathIncludes: `/${id}?` }, { stall: true, times: 1 });
    // A thumbnail size per mode, so the second run's URLs are not answered from any cache.
    const size = worker ? 64 : 48;
    const imgs = (list, prefix) =>
      list.map((mxc, i) => `<img id="${prefix}${i}" data-mxc="${mxc}" data-width="${size}" data-height="${size}" data-method="crop" alt="">`).join('');
    const options = worker ? {} : { workerUrl: null };

    await withPage({ homeserver: proxy.origin, user, options, worker }, async ({ page }) => {
      assert.equal(await page.evaluate(() => window.media.mode), mode);
      await mountHtml(page, imgs(gallery, 'g'));
      await page.waitForFunction(
        () => [...Array(8).keys()].every((i) => document.getElementById(`g${i}`).dataset.authmediaState === 'loaded'),
        null,
        { timeout: 60_000 },
      );
      for (const id of held) await proxy.waitFor((r) => r.method === 'GET' && r.url.includes(`/${id}?`) && r.fault === 'stall', 30_000);
      const before = await report(page);
      for (let i = 8; i < 12; i += 1) assert.equal(before[`g${i}`].state, 'loading', `g${i} is in flight when Synapse stops`);

      // The real stop; then the held connections die (the proxy drops every open connection once).
      await synapse.stop();
      const stoppedAt = Date.now();
      proxy.down(true);
      proxy.down(false);
      await appendHtml(page, imgs(late, 'late'));

      // Nothing hangs: every element reaches a final state, in bounded time.
      const BOUND_MS = 60_000;
      await waitUntil(
        () => page.evaluate((final) => [...document.querySelectorAll('#root [data-mxc]')].every((el) => final.includes(el.dataset.authmediaState)), FINAL),
        { timeoutMs: BOUND_MS + 30_000, intervalMs: 100, what: `every gallery element in a final state while Synapse is down (${mode})` },
      );
      const settledMs = Date.now() - stoppedAt;
      const down = await report(page);
      const failed = Object.values(down).filter((r) => r.state === 'error');
      assert.deepEqual(
        failed.map((r) => r.id).sort(),
        ['g10', 'g11', 'g8', 'g9', 'late0', 'late1'],
        `exactly the held and the late images failed: ${JSON.stringify(down)}`,
      );
      const retryable = ['network', 'load_failed', 'server_error', 'timeout'];
      for (const r of failed) assert.ok(retryable.includes(r.error), `a retryable code: ${JSON.stringify(r)}`);
      for (let i = 0; i < 8; i += 1) assert.ok(down[`g${i}`].ok, `g${i} still shows`);
      assert.ok(settledMs < BOUND_MS, `all final ${settledMs} ms after the stop (bound ${BOUND_MS} ms)`);
      // Requests per failed image while down, GET + OPTIONS (after the stop a CORS preflight is
      // refused by the proxy's 502, so the GET itself is never sent: that is a network error too).
      const attemptsDown = [...held, ...late.map(idOf)].map((id) => {
        const seen = proxy.requests.filter((r) => r.url.includes(`/${id}?`));
        return `${seen.filter((r) => r.method === 'GET').length}+${seen.filter((r) => r.method === 'OPTIONS').length}`;
      });
      figure(
        `(a) ${mode}, Synapse down: 6 failed elements (${[...new Set(failed.map((r) => r.error))].join(', ')}) final ${settledMs} ms after the stop; ` +
          `requests per failed image (GET+OPTIONS): ${attemptsDown.join(', ')}`,
      );

      // Back up: one call, no reload.
      await synapse.restart();
      const restarted = await page.evaluate(() => window.media.retryFailed());
      assert.equal(restarted, 6, 'retryFailed() restarted the six failed elements');
      const retriedAt = Date.now();
      await page.waitForFunction(
        (final) => [...document.querySelectorAll('#root [data-mxc]')].every((el) => final.includes(el.dataset.authmediaState)),
        FINAL,
        { timeout: 60_000 },
      );
      const up = await report(page);
      for (const r of Object.values(up)) assert.ok(r.state === 'loaded' && r.ok, `${r.id} loaded after the restart: ${JSON.stringify(r)}`);
      figure(`(a) ${mode}, after the restart: retryFailed() → ${restarted}, all 14 loaded ${Date.now() - retriedAt} ms later`);
      assert.match(await page.evaluate(() => window.noReload), /^page-/, 'the page was not reloaded');
      assert.equal(await page.evaluate(() => window.media.retryFailed()), 0, 'nothing left to retry');
      // Each failed image was requested again and answered 200 by the restarted Synapse.
      for (const mxc of [...gallery.slice(8), ...late]) {
        const last = gets(proxy, `/${idOf(mxc)}?`).at(-1);
        assert.equal(last?.status, 200, `${mxc}: ${JSON.stringify(last)}`);
      }
    });
  } finally {
    await proxy.close();
  }
}

test('(a) worker mode: Synapse stopped mid-gallery, then restarted: bounded failures while down, retryFailed() loads them without a reload', { timeout: 300_000 }, () =>
  stopMidGallery({ worker: true }));

test('(a) fallback: Synapse stopped mid-gallery, then restarted: bounded failures while down, retryFailed() loads them without a reload', { timeout: 300_000 }, () =>
  stopMidGallery({ worker: false }));

test('(b) 429 M_LIMIT_EXCEEDED: Retry-After / retry_after_ms honoured with bounded attempts, then success; an endless 429 ends in a clear error', { timeout: 300_000 }, async () => {
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  try {
    await withPage({ homeserver: proxy.origin, user: world.users.alice }, async ({ page }) => {
      const limited = { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests' };
      const httpUrl = (mxc, name) => page.evaluate(([m, f]) => window.media.httpUrl(m, { filename: f }), [mxc, name]);
      const gaps = (reqs) => reqs.slice(1).map((r, i) => r.time - reqs[i].time);

      // 1. Retry-After header, first 2 answers: the image loads on the 3rd attempt.
      const a = fresh('retry-after.png');
      proxy.fault({ pathIncludes: a }, { status: 429, headers: { 'Retry-After': '2' }, body: limited, times: 2 });
      const img = await pageImage(page, await httpUrl(world.media.png800.mxc, a));
      assert.equal(img.loaded, true, 'the image loads after two 429s');
      assert.equal(img.naturalWidth, world.media.png800.width);
      const ra = gets(proxy, a);
      assert.deepEqual(ra.map((r) => r.status), [429, 429, 200], 'two refusals, then the answer');
      for (const g of gaps(ra)) assert.ok(g >= 2000 - 20, `waited ${g} ms between attempts, Retry-After is 2 s`);
      figure(`(b) Retry-After: 2 → attempts at +${gaps(ra).join(' ms, +')} ms, loaded after ${img.ms} ms`);

      // 2. retry_after_ms in the body, no header.
      const b = fresh('retry-after-ms.png');
      proxy.fault({ pathIncludes: b }, { status: 429, body: { ...limited, retry_after_ms: 1500 }, times: 2 });
      const viaBody = await pageFetch(page, await httpUrl(world.media.png64.mxc, b));
      assert.equal(viaBody.status, 200);
      assert.equal(viaBody.length, world.media.png64.bytes);
      const rb = gets(proxy, b);
      assert.deepEqual(rb.map((r) => r.status), [429, 429, 200]);
      for (const g of gaps(rb)) assert.ok(g >= 1500 - 20, `waited ${g} ms, retry_after_ms is 1500`);
      figure(`(b) retry_after_ms: 1500 → attempts at +${gaps(rb).join(' ms, +')} ms, answered after ${viaBody.ms} ms`);

      // 3. A 429 that never ends: a final 429 JSON answer after a bounded number of attempts.
      const c = fresh('endless.png');
      proxy.fault({ pathIncludes: c }, { status: 429, headers: { 'Retry-After': '1' }, body: limited });
      const endless = await pageFetch(page, await httpUrl(world.media.png64.mxc, c));
      assert.equal(endless.status, 429, JSON.stringify(endless));
      assert.equal(JSON.parse(endless.text).errcode, 'M_LIMIT_EXCEEDED');
      const rc = gets(proxy, c);
      assert.ok(rc.length >= 2 && rc.length <= 4, `${rc.length} attempts (bounded by retryMaxAttempts 4)`);
      assert.ok(endless.ms < 30_000, `gave up after ${endless.ms} ms`);
      for (const g of gaps(rc)) assert.ok(g >= 1000 - 20, `waited ${g} ms, Retry-After is 1 s`);
      const d = fresh('endless-img.png');
      proxy.fault({ pathIncludes: d }, { status: 429, headers: { 'Retry-After': '1' }, body: limited });
      const endlessImg = await pageImage(page, await httpUrl(world.media.png800.mxc, d));
      assert.equal(endlessImg.loaded, false, 'an <img> under an endless 429 ends in error');
      assert.ok(endlessImg.ms < 30_000, `<img> error after ${endlessImg.ms} ms`);
      figure(`(b) endless 429 (Retry-After: 1): ${rc.length} attempts, final 429 after ${endless.ms} ms; <img> error after ${endlessImg.ms} ms`);

      const stats = await workerStats(page);
      assert.ok(typeof stats.retries === 'number' && stats.retries >= 4 + rc.length - 1, `worker stats: ${JSON.stringify(stats)}`);
    });
  } finally {
    await proxy.close();
  }
});

test('(c) 504 M_NOT_YET_UPLOADED: an async upload appears once its content is PUT', { timeout: 300_000 }, async () => {
  const base = world.synapse.baseUrl;
  const { alice } = world.users;
  const png = world.media.png800;
  const bytes = readFileSync(png.path);
  const create = async () => ({ content_uri: await mx.createMedia(base, alice.accessToken) });
  const put = (mxc) => mx.uploadTo(base, alice.accessToken, mxc, bytes, png.contentType, 'async.png');
  const proxy = await startFaultProxy({ target: base });
  try {
    await withPage({ homeserver: proxy.origin, user: alice }, async ({ page }) => {
      // 1. mount(): <img data-mxc> of a created, empty mxc. Synapse holds the download (default
      //    timeout_ms); the content is PUT once the proxy has seen the download attempt.
      const first = await create();
      assert.match(first.content_uri, /^mxc:\/\//);
      const firstId = mx.parseMxc(first.content_uri).mediaId;
      await mountHtml(page, `<img id="async" data-mxc="${first.content_uri}" alt="">`);
      const seen = await proxy.waitFor((r) => r.method === 'GET' && r.path.includes(`/download/`) && r.path.includes(firstId), 30_000);
      const putAt = Date.now();
      await put(first.content_uri);
      await page.waitForFunction(() => ['loaded', 'error'].includes(document.getElementById('async').dataset.authmediaState), null, { timeout: 90_000 });
      const shown = (await report(page)).async;
      assert.ok(shown.state === 'loaded' && shown.ok && shown.naturalWidth === png.width, JSON.stringify(shown));
      figure(`(c) mount(): PUT ${putAt - seen.time} ms after the first download attempt; shown ${Date.now() - putAt} ms after the PUT`);

      // 2. A request with a short timeout_ms: Synapse answers 504 M_NOT_YET_UPLOADED; the worker
      //    keeps the request's timeout_ms and tries again; the PUT follows the first 504.
      const second = await create();
      const secondId = mx.parseMxc(second.content_uri).mediaId;
      const url = `${await page.evaluate((m) => window.media.httpUrl(m), second.content_uri)}?timeout_ms=1000`;
      const loading = pageImage(page, url);
      const refused = await proxy.waitFor((r) => r.method === 'GET' && r.path.includes(secondId) && r.status === 504, 30_000);
      assert.match(refused.url, /timeout_ms=1000/, 'the worker kept the request\'s timeout_ms');
      await put(second.content_uri);
      const img = await loading;
      assert.equal(img.loaded, true, 'the image appears once uploaded');
      assert.equal(img.naturalWidth, png.width);
      const attempts = gets(proxy, secondId);
      assert.equal(attempts.at(-1).status, 200);
      assert.ok(attempts.filter((r) => r.status === 504).length >= 1);
      assert.ok(attempts.length <= 4, `${attempts.length} attempts`);
      figure(`(c) timeout_ms=1000: answers ${attempts.map((r) => r.status).join(', ')}; shown after ${img.ms} ms`);
    });
  } finally {
    await proxy.close();
  }
});

test('(d) a stalling server: a clear timeout error after a bounded time (worker and fallback) while other media load; `online` retries', { timeout: 300_000 }, async () => {
  const FETCH_TIMEOUT_MS = 3000;
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  try {
    const stalled = fresh('stalled.png');
    proxy.fault({ pathIncludes: stalled }, { stall: true });

    // Worker mode, fetchTimeoutMs 3000 through AUTHMEDIA_SW_OPTIONS (tests/pages/faults-sw.js).
    await withPage(
      { homeserver: proxy.origin, user: world.users.alice, options: { workerUrl: `/faults-sw.js?fetchTimeoutMs=${FETCH_TIMEOUT_MS}` } },
      async ({ page }) => {
        const url = await page.evaluate((m) => window.media.httpUrl(m, { filename: 'x' }), world.media.png64.mxc);
        const stalledUrl = url.replace(/\/x$/, `/${stalled}`);
        const pending = pageFetch(page, stalledUrl).then((answer) => ({ ...answer, endedAt: Date.now() }));
        await proxy.waitFor((r) => r.method === 'GET' && r.url.includes(stalled), 30_000);
        // Meanwhile other media load.
        const others = [world.media.png800, world.media.jpeg, world.media.gif];
        await mountHtml(page, others.map((m, i) => `<img id="o${i}" data-mxc="${m.mxc}" data-filename="${fresh('other.png')}" alt="">`).join(''));
        await page.waitForFunction(() => [0, 1, 2].every((i) => ['loaded', 'error'].includes(document.getElementById(`o${i}`).dataset.authmediaState)), null, {
          timeout: 30_000,
        });
        const othersDoneAt = Date.now();
        const r = await report(page);
        for (let i = 0; i < 3; i += 1) assert.ok(r[`o${i}`].state === 'loaded' && r[`o${i}`].ok, JSON.stringify(r[`o${i}`]));

        const answer = await pending;
        assert.equal(answer.status, 504, JSON.stringify(answer));
        const body = JSON.parse(answer.text);
        assert.equal(body.errcode, 'M_UNKNOWN');
        assert.equal(body.authmedia_code, 'timeout');
        assert.equal(typeof body.error, 'string');
        assert.ok(answer.ms >= FETCH_TIMEOUT_MS - 50, `not before the stall timeout (${answer.ms} ms)`);
        assert.ok(answer.ms < 30_000, `a clear error after ${answer.ms} ms, not an endless load`);
        assert.ok(othersDoneAt < answer.endedAt, 'the other images loaded while the stalled request was pending');
        figure(`(d) worker, fetchTimeoutMs ${FETCH_TIMEOUT_MS}: 504 timeout after ${answer.ms} ms (${gets(proxy, stalled).length} attempt(s)); 3 other images loaded meanwhile`);

        // An <img> of a stalled URL: an error state, in bounded time.
        const stalledImg = fresh('stalled-img');
        proxy.fault({ pathIncludes: stalledImg }, { stall: true });
        const started = Date.now();
        await appendHtml(page, `<img id="s" data-mxc="${world.media.png64.mxc}" data-filename="${stalledImg}.png" alt="">`);
        await page.waitForFunction(() => ['loaded', 'error'].includes(document.getElementById('s').dataset.authmediaState), null, { timeout: 60_000 });
        const s = (await report(page)).s;
        assert.equal(s.state, 'error');
        assert.equal(s.error, 'timeout', 'the worker told the page why: its stall timeout');
        figure(`(d) worker: stalled <img> in error after ${Date.now() - started} ms`);
        const stats = await workerStats(page);
        assert.ok(stats.timeouts >= 2, `worker stats: ${JSON.stringify(stats)}`);
      },
    );

    // The fallback, page option fetchTimeoutMs: code "timeout"; then `online` retries the element.
    await withPage(
      { homeserver: proxy.origin, user: world.users.alice, worker: false, options: { workerUrl: null, fetchTimeoutMs: FETCH_TIMEOUT_MS } },
      async ({ page, context }) => {
        assert.equal(await page.evaluate(() => window.media.mode), 'fallback');
        const stalledSrc = fresh('fallback-stalled');
        proxy.fault({ pathIncludes: stalledSrc }, { stall: true });
        const viaSrc = await page.evaluate(async ([mxc, f]) => {
          const started = Date.now();
          // The 60 s race only turns a hang into a clear failure of this test.
          const hang = new Promise((resolve) => setTimeout(() => resolve({ hang: true }), 60_000));
          const attempt = window.media.src(mxc, { filename: f }).then(
            () => ({ ok: true }),
            (e) => ({ code: e.code, name: e.name, message: e.message }),
          );
          return { ...(await Promise.race([attempt, hang])), ms: Date.now() - started };
        }, [world.media.png64.mxc, `${stalledSrc}.png`]);
        assert.equal(viaSrc.code, 'timeout', JSON.stringify(viaSrc));
        assert.equal(viaSrc.name, 'AuthMediaError');
        assert.ok(viaSrc.ms >= FETCH_TIMEOUT_MS - 50 && viaSrc.ms < 30_000, `fallback timeout after ${viaSrc.ms} ms`);
        figure(`(d) fallback, fetchTimeoutMs ${FETCH_TIMEOUT_MS}: src() rejects "timeout" after ${viaSrc.ms} ms`);

        const stalledEl = fresh('fallback-el');
        const rule = proxy.fault({ pathIncludes: stalledEl }, { stall: true });
        await mountHtml(page, `<img id="f" data-mxc="${world.media.png800.mxc}" data-filename="${stalledEl}.png" alt="">`);
        await page.waitForFunction(() => ['loaded', 'error'].includes(document.getElementById('f').dataset.authmediaState), null, { timeout: 60_000 });
        const f = (await report(page)).f;
        assert.deepEqual([f.state, f.error], ['error', 'timeout'], JSON.stringify(f));

        // The server recovers; the browser goes offline and online again: the `online` event
        // makes the SDK retry the failed element by itself (no retryFailed() call here).
        proxy.removeFault(rule);
        await page.evaluate(() => {
          window.onlineEvents = 0;
          window.addEventListener('online', () => (window.onlineEvents += 1));
        });
        await context.setOffline(true);
        await context.setOffline(false);
        await page.waitForFunction(() => window.onlineEvents === 1, null, { timeout: 10_000 });
        await page.waitForFunction(() => document.getElementById('f').dataset.authmediaState === 'loaded', null, { timeout: 30_000 });
        const again = (await report(page)).f;
        assert.ok(again.ok && again.naturalWidth === world.media.png800.width, JSON.stringify(again));
        assert.equal(gets(proxy, stalledEl).at(-1).status, 200);
      },
    );
  } finally {
    await proxy.close();
  }
});

/**
 * A video three times as long as the mp4 fixture (its stream looped, no re-encode: 72 s, ~20 MB,
 * faststart), uploaded by alice. Long enough that the browser has not fetched its end after a
 * second of playback: Chromium reads ahead about 10 s of bitrate (plus a margin), and the worker
 * answers a `<video>`'s `bytes=0-` with one 206 of the rest of the file, which the browser goes on
 * reading by itself after the worker stopped — only a request for data past what it read needs
 * the worker again.
 */
async function longVideo() {
  const mp4 = world.media.mp4;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-faults-video-'));
  try {
    const file = path.join(dir, 'long.mp4');
    await execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '2', '-i', mp4.path, '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', file]);
    const bytes = readFileSync(file);
    const mxc = await mx.upload(world.synapse.baseUrl, world.users.alice.accessToken, bytes, 'video/mp4', 'long video.mp4');
    return { mxc, bytes: bytes.length, durationS: mp4.durationS * 3 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('(e) the worker stopped mid-video: playback goes on; a seek past what the browser fetched is served by the restarted worker with the token', { timeout: 300_000 }, async () => {
  const video = await longVideo();
  const videoId = mx.parseMxc(video.mxc).mediaId;
  const { alice } = world.users;
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  try {
    await withPage({ homeserver: proxy.origin, user: alice }, async ({ page }) => {
      await mountHtml(page, `<video id="v" data-mxc="${video.mxc}" data-filename="${fresh('video.mp4')}" muted playsinline preload="auto" style="width:320px;height:180px"></video>`);
      await page.waitForFunction(() => ['loaded', 'error'].includes(document.getElementById('v').dataset.authmediaState), null, { timeout: 60_000 });
      await page.evaluate(() => {
        const v = document.getElementById('v');
        window.videoErrors = [];
        v.addEventListener('error', () => window.videoErrors.push(v.error?.code ?? 'unknown'));
        return v.play();
      });
      await page.waitForFunction(() => document.getElementById('v').currentTime >= 1, null, { timeout: 30_000 });
      /** currentTime and the end of what the browser has fetched (video.buffered), in seconds. */
      const position = () =>
        page.evaluate(() => {
          const v = document.getElementById('v');
          const ends = Array.from({ length: v.buffered.length }, (_, i) => v.buffered.end(i));
          return { t: v.currentTime, fetched: Math.max(0, ...ends) };
        });
      const atStop = await position();
      assert.ok(atStop.fetched <= video.durationS - 20, `the browser has not fetched the end of the video when the worker stops: ${JSON.stringify(atStop)}`);
      const beforeStop = gets(proxy, videoId).length;
      assert.ok(beforeStop >= 1, 'the video was fetched through the worker before the stop');

      await stopServiceWorkers(page);
      const stoppedAt = Date.now();
      // Playback goes on past the stop point (on data the browser already had).
      await page.waitForFunction((t) => document.getElementById('v').currentTime >= t + 2, atStop.t, { timeout: 30_000 });

      // A seek 15 s past what the browser has fetched: that data can only come from a new request,
      // which the restarted worker serves.
      const beforeSeek = await position();
      const target = Math.min(video.durationS - 5, beforeSeek.fetched + 15);
      assert.ok(target > beforeSeek.fetched + 5, `the seek target ${target} s is well past the fetched ${beforeSeek.fetched} s`);
      const seek = await page.evaluate(async (target) => {
        const v = document.getElementById('v');
        const seeked = new Promise((resolve, reject) => {
          v.addEventListener('seeked', resolve, { once: true });
          v.addEventListener('error', () => reject(new Error(`video error ${v.error?.code}`)), { once: true });
        });
        v.currentTime = target;
        await seeked;
        return { t: v.currentTime, readyState: v.readyState };
      }, target);
      assert.ok(Math.abs(seek.t - target) < 0.5, `seek to ${target} landed at ${seek.t}`);
      // Playback continues from there.
      await page.waitForFunction((t) => document.getElementById('v').currentTime >= t + 1, target, { timeout: 30_000 });
      const end = await page.evaluate(() => {
        const v = document.getElementById('v');
        return { error: v.error && v.error.code, errors: window.videoErrors, paused: v.paused, state: v.dataset.authmediaState };
      });
      assert.deepEqual(end, { error: null, errors: [], paused: false, state: 'loaded' });

      // The seek's request reached the homeserver, through the restarted worker, with alice's token,
      // asking for bytes past those the browser had.
      const after = gets(proxy, videoId).filter((r) => r.time >= stoppedAt);
      assert.ok(after.length >= 1, `a GET of the video after the stop (${gets(proxy, videoId).length} in all)`);
      for (const r of after) {
        assert.equal(r.headers.authorization, `Bearer ${alice.accessToken}`, 'with alice\'s token');
        assert.equal(r.status, 200, JSON.stringify({ url: r.url, status: r.status }));
      }
      const fetchedByte = Math.floor((beforeSeek.fetched / video.durationS) * video.bytes);
      const firstByte = Number(/^bytes=(\d+)-/.exec(after[0].headers.range ?? '')?.[1]);
      assert.ok(firstByte > fetchedByte, `the request after the stop asks for bytes past those fetched (${after[0].headers.range}, fetched ≈ ${fetchedByte})`);
      const stats = await workerStats(page);
      assert.equal(stats.sessionAsks, 1, `the restarted worker asked the tab for its session once: ${JSON.stringify(stats)}`);
      assert.ok(stats.authenticated >= 1 && stats.refused === 0, JSON.stringify(stats));
      figure(
        `(e) worker stopped at t=${atStop.t.toFixed(2)} s of ${video.durationS} s (browser had fetched up to ${atStop.fetched.toFixed(1)} s); ` +
          `playback went on; seek to ${target.toFixed(1)} s landed, ${after.length} GET(s) of the video after the stop (${after[0].headers.range}), ` +
          `restarted worker: ${stats.sessionAsks} session ask, ${stats.authenticated} authenticated`,
      );
    });
  } finally {
    await proxy.close();
  }
});

test('(f) after a wasm trap the fresh instance serves several later requests: images, a Range request, a video seek', { timeout: 180_000 }, async () => {
  // The trap itself (500 for that request, a fresh instance) is worker.test.mjs "a trapped wasm
  // instance…"; this adds the requests that follow it. The worker test page speaks the protocol itself.
  const server = await startStaticServer({ root: WORKER_PAGES, mounts: { '/dist/': SW_DIST } });
  const browser = await launchChromium();
  const consoleLines = collectConsole(browser.page);
  try {
    const { page } = browser;
    const base = world.synapse.baseUrl;
    const { alice } = world.users;
    await page.goto(server.url('/index.html'));
    await page.evaluate(() => t.register('/trap-sw.js'));
    await page.evaluate((s) => t.setSession(s), { homeserver: base, accessToken: alice.accessToken, userId: alice.userId });
    const url = (m, stem) => mx.mediaUrl(base, m.mxc, { filename: fresh(stem) });
    assert.equal((await page.evaluate((u) => t.loadImage(u), url(world.media.png64, 'before.png'))).loaded, true);
    assert.deepEqual(await page.evaluate(() => t.raw('arm-trap')), { armed: true });
    const trapped = await page.evaluate((u) => t.fetch(u), url(world.media.png64, 'trapped.png'));
    assert.equal(trapped.status, 500);

    const images = [world.media.png800, world.media.jpeg, world.media.gif, world.media.bobPng];
    const loaded = await Promise.all(images.map((m) => page.evaluate((u) => t.loadImage(u), url(m, 'after.png'))));
    loaded.forEach((r, i) => assert.ok(r.loaded && r.naturalWidth === images[i].width, `image ${i}: ${JSON.stringify(r)}`));

    const mp4 = world.media.mp4;
    const video = url(mp4, 'after.mp4');
    const fixture = readFileSync(mp4.path);
    const part = await page.evaluate((u) => t.fetch(u, { headers: { Range: 'bytes=1000-1999' } }), video);
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1000-1999/${mp4.bytes}`);
    assert.equal(part.length, 1000);
    const played = await page.evaluate(([u, at]) => t.video(u, at, 60000, 'anonymous'), [video, mp4.durationS * 0.75]);
    assert.ok(Math.abs(played.currentTime - mp4.durationS * 0.75) < 0.5, JSON.stringify(played));
    assert.ok(played.readyState >= 2);
    assert.ok(fixture.length === mp4.bytes);

    assert.deepEqual(await page.evaluate(() => t.raw('instances')), { instances: 2, armed: false }, 'one fresh instance served all of them');
    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.refused, 0, JSON.stringify(stats));
    assert.ok(stats.authenticated >= 5, JSON.stringify(stats));
  } catch (error) {
    error.message += `\n--- browser console ---\n${consoleLines.slice(-60).join('\n')}`;
    throw error;
  } finally {
    await browser.close();
    await server.close();
  }
});
