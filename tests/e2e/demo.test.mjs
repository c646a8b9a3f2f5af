/**
 * The demo, started the way the README says (`scripts/demo.sh`), driven in headless Chromium.
 *
 * It gets its own Synapse directory (`.local/demo-e2e-synapse`, kept between runs like a developer's demo,
 * so the second run exercises the "already seeded" start) and a free port, and waits for the demo's
 * `--ready-file` instead of sleeping. Checks, in worker mode and after the switch in fallback mode:
 * every tile rendered (images decoded, video playable and seekable), the full image opens, the file
 * downloads with its name, the counters moved; legacy URLs are upgraded by the worker. Then, in a
 * browser where service workers are blocked: everything renders through the fallback and, on legacy
 * URLs, only the pre-freeze item loads. Leaves `tests/artifacts/demo.png` (and demo-fallback.png,
 * demo-no-worker.png).
 * Finally SIGTERM stops the demo and nothing it started may still answer.
 *
 * Environment: AUTHMEDIA_DEMO_FRESH=1 wipes the test's demo Synapse first (first-start path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { spawnGroup, waitUntil, freePort } from '../../support/procs.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';

const ARTIFACTS = path.join(REPO_ROOT, 'tests', 'artifacts');
const DATA_DIR = path.join(REPO_ROOT, '.local', 'demo-e2e-synapse');
const READY_FILE = path.join(REPO_ROOT, '.local', `demo-e2e-ready-${process.pid}.json`);
const DEMO_LOG = path.join(ARTIFACTS, 'demo.log');
const FILE_NAME = 'meeting notes #1 (draft).txt';

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Is anything still answering HTTP at this origin? */
async function answers(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Render state of every media element of the page, computed in the page. */
function tileReport(page) {
  return page.evaluate(() => {
    const out = [];
    const label = (node) => node.closest('.tile')?.querySelector('.name')?.textContent ?? node.id ?? node.alt;
    for (const img of document.querySelectorAll('#avatar, #timeline img, #legacy img')) {
      out.push({
        label: label(img),
        kind: img.closest('.tile')?.dataset.kind ?? 'avatar',
        frozen: img.closest('.tile')?.dataset.frozen === 'true',
        ok: img.complete && img.naturalWidth > 0,
        settled: img.complete && Boolean(img.getAttribute('src')),
        src: img.currentSrc.slice(0, 120),
        width: img.naturalWidth,
        height: img.naturalHeight,
        animated: img.dataset.animated ?? null,
        state: img.dataset.authmediaState ?? null,
      });
    }
    for (const video of document.querySelectorAll('#timeline video')) {
      out.push({
        label: label(video),
        kind: 'video',
        ok: video.readyState >= 2,
        settled: video.readyState >= 2 || video.error !== null,
        src: video.currentSrc.slice(0, 120),
        readyState: video.readyState,
        state: video.dataset.authmediaState ?? null,
      });
    }
    return out;
  });
}

/** Counters as the status panel shows them (the JSON of the last media.stats()). */
async function stats(page) {
  const json = await page.locator('#stats').getAttribute('data-json');
  return json ? JSON.parse(json) : null;
}

/**
 * The controlling worker's own answer to `authmedia:stats` (not the panel's last copy), with the
 * page's count of `controllerchange` events (installed by `watchController`): which worker start
 * and which wasm instance the counters belong to.
 */
async function workerLife(page) {
  return page.evaluate(async () => {
    const ctrl = navigator.serviceWorker.controller;
    if (!ctrl) return { controller: null, controllerChanges: window.demoControllerChanges };
    const channel = new MessageChannel();
    const answer = new Promise((resolve) => {
      channel.port1.onmessage = (e) => resolve(e.data);
      setTimeout(() => resolve(null), 2000);
    });
    ctrl.postMessage({ type: 'authmedia:stats' }, [channel.port2]);
    const s = (await answer) ?? {};
    channel.port1.close();
    return {
      scriptURL: ctrl.scriptURL,
      controllerChanges: window.demoControllerChanges,
      workerStartedAt: s.workerStartedAt,
      instanceStartedAt: s.instanceStartedAt,
      instanceReplacements: s.instanceReplacements,
      lastTrap: s.lastTrap,
      authenticated: s.authenticated,
      upgraded: s.upgraded,
      sessionAsks: s.sessionAsks,
    };
  });
}

/** Counts the page's `controllerchange` events from now on (a new worker took control). */
function watchController(page) {
  return page.evaluate(() => {
    window.demoControllerChanges = 0;
    navigator.serviceWorker.addEventListener('controllerchange', () => (window.demoControllerChanges += 1));
  });
}

/** Why the worker's counters may have restarted, for a failure message. */
function lifeReport(atStart, now) {
  const restarted = atStart.workerStartedAt !== now.workerStartedAt;
  return `worker life at worker mode: ${JSON.stringify(atStart)}; now: ${JSON.stringify(now)}; ` +
    `worker started again: ${restarted}; new controller: ${now.controllerChanges > atStart.controllerChanges}; ` +
    `instances replaced after a trap: ${now.instanceReplacements} (last: ${now.lastTrap})`;
}

function sum(obj) {
  let total = 0;
  for (const v of Object.values(obj ?? {})) total += typeof v === 'number' ? v : v && typeof v === 'object' ? sum(v) : 0;
  return total;
}

/** Wait until every non-frozen tile rendered and the frozen ones (fallback) settled; return the report. */
async function waitForTiles(page, { frozenMustFail }, what) {
  let last = [];
  try {
    await waitUntil(
      async () => {
        last = await tileReport(page);
        if (last.length === 0) return false;
        // The fallback loads media near the viewport only: bring the first waiting one into view.
        await page.evaluate(() => {
          const waiting = [...document.querySelectorAll('#avatar, #timeline img, #timeline video, #legacy img')].find((n) =>
            n instanceof HTMLVideoElement ? n.readyState < 2 && !n.error : !n.getAttribute('src') || !n.complete,
          );
          waiting?.scrollIntoView({ block: 'center' });
        });
        return last.every((t) => (frozenMustFail && t.frozen ? t.settled : t.ok));
      },
      { timeoutMs: 90_000, intervalMs: 250, what },
    );
  } catch (err) {
    const bad = last.filter((t) => !t.ok);
    throw new Error(`${err.message}\nnot rendered: ${JSON.stringify(bad, null, 1)}`);
  }
  return last;
}

/** Seek the video and wait until it has data at the new position. */
function seekVideo(page, seconds) {
  return page.evaluate(
    (to) =>
      new Promise((resolve, reject) => {
        const video = document.querySelector('#timeline video');
        if (!video) return reject(new Error('no video'));
        const timer = setTimeout(() => reject(new Error(`seek to ${to}s timed out (readyState ${video.readyState})`)), 30_000);
        video.addEventListener(
          'seeked',
          () => {
            clearTimeout(timer);
            resolve({ currentTime: video.currentTime, readyState: video.readyState, duration: video.duration });
          },
          { once: true },
        );
        video.currentTime = to;
      }),
    seconds,
  );
}

/** Open the full image of the JPEG tile, return its natural size, close with Escape. */
async function openFullImage(page) {
  await page.locator('#timeline button.thumb:has(img[alt^="photo"])').focus();
  await page.keyboard.press('Enter');
  const img = page.locator('#viewer img');
  await img.waitFor({ state: 'attached', timeout: 10_000 });
  const size = await img.evaluate(
    (node) =>
      new Promise((resolve, reject) => {
        const done = () => (node.naturalWidth > 0 ? resolve([node.naturalWidth, node.naturalHeight]) : reject(new Error('full image failed')));
        if (node.complete && node.naturalWidth > 0) return done();
        node.addEventListener('load', done, { once: true });
        node.addEventListener('error', () => reject(new Error(`full image error, src ${node.currentSrc.slice(0, 100)}`)), { once: true });
        setTimeout(() => reject(new Error('full image timed out')), 30_000);
      }),
  );
  assert.equal(await page.locator('#viewer').evaluate((d) => d.open), true, 'viewer dialog open');
  await page.keyboard.press('Escape');
  await waitUntil(async () => !(await page.locator('#viewer').evaluate((d) => d.open)), { timeoutMs: 5000, what: 'viewer closed' });
  return size;
}

/** Click the file link and the media.download() button; both must save the file under its name. */
async function downloads(page) {
  const names = [];
  for (const target of ['#timeline a.file-link', '#timeline .file-box button']) {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.locator(target).first().click()]);
    const file = await download.path();
    names.push({ via: target, name: download.suggestedFilename(), body: file ? readFileSync(file, 'utf8') : null });
  }
  return names;
}

test('the demo starts with scripts/demo.sh and shows every tile in worker and fallback mode', { timeout: 15 * 60_000 }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  if (process.env.AUTHMEDIA_DEMO_FRESH === '1') rmSync(DATA_DIR, { recursive: true, force: true });
  rmSync(READY_FILE, { force: true });
  rmSync(DEMO_LOG, { force: true });
  const port = await freePort();

  const started = Date.now();
  const demo = spawnGroup(
    path.join(REPO_ROOT, 'scripts', 'demo.sh'),
    ['--port', String(port), '--data-dir', DATA_DIR, '--ready-file', READY_FILE],
    { cwd: REPO_ROOT, logFile: DEMO_LOG },
  );
  t.after(() => demo.kill(20_000));

  const ready = await waitUntil(
    () => {
      if (demo.hasExited) throw Object.assign(new Error(`demo.sh exited early:\n${tail(DEMO_LOG)}`), { fatal: true });
      return existsSync(READY_FILE) ? JSON.parse(readFileSync(READY_FILE, 'utf8')) : null;
    },
    { timeoutMs: 25 * 60_000, intervalMs: 200, what: 'the demo ready file' },
  );
  t.diagnostic(`demo.sh ready after ${((Date.now() - started) / 1000).toFixed(1)} s (runner ${ready.startSeconds} s) at ${ready.url}`);
  assert.equal(ready.url, `http://127.0.0.1:${port}/`);
  assert.ok(ready.user && ready.password, 'credentials printed');
  assert.match(readFileSync(DEMO_LOG, 'utf8'), new RegExp(`http://127\\.0\\.0\\.1:${port}/`), 'URL printed');

  const browser = await launchChromium({ viewport: { width: 1360, height: 900 } });
  t.after(() => browser.close());
  const { page } = browser;
  const consoleLines = collectConsole(page);
  const why = () => `\nconsole:\n${consoleLines.slice(-30).join('\n')}`;

  await page.goto(ready.url);
  // The login form is filled and wired by the page's module script; wait for it before reading or clicking.
  await page.waitForFunction(() => document.documentElement.dataset.demo === 'login', null, { timeout: 30_000 });
  // The seeded account is prefilled; log in for real.
  assert.equal(await page.locator('#user').inputValue(), ready.user);
  assert.equal(await page.locator('#hs').inputValue(), ready.homeserver);
  await page.locator('#login-button').click();
  await page.waitForFunction(() => document.documentElement.dataset.demo === 'ready', null, { timeout: 60_000 }).catch((err) => {
    throw new Error(`${err.message}${why()}`);
  });
  await page
    .waitForFunction(() => document.documentElement.dataset.mode === 'worker', null, { timeout: 30_000 })
    .catch((err) => {
      throw new Error(`never reached worker mode: ${err.message}${why()}`);
    });
  assert.equal(await page.locator('#api').textContent(), 'v1');
  await watchController(page);
  const lifeAtStart = await workerLife(page);

  // ---- worker mode ----
  const workerTiles = await waitForTiles(page, { frozenMustFail: false }, 'every tile in worker mode').catch((err) => {
    throw new Error(`${err.message}${why()}`);
  });
  const kinds = new Set(workerTiles.map((x) => x.kind));
  for (const kind of ['avatar', 'image', 'video', 'legacy']) assert.ok(kinds.has(kind), `a ${kind} tile exists`);
  assert.ok(workerTiles.filter((x) => x.kind === 'image').length >= 6, 'PNG/JPEG sizes, GIF and more');
  const avatar = workerTiles.find((x) => x.kind === 'avatar');
  assert.deepEqual([avatar?.width, avatar?.height], [96, 96], 'avatar is a 96×96 crop');
  for (const tile of workerTiles.filter((x) => x.kind !== 'video')) {
    assert.ok(!tile.src.startsWith('blob:'), `worker mode uses real URLs, not blobs: ${tile.label} ${tile.src}`);
  }
  const gif = workerTiles.find((x) => x.animated !== null);
  assert.equal(gif?.animated, 'true', 'animated thumbnail without reduced motion');
  const seekW = await seekVideo(page, 12);
  assert.ok(seekW.currentTime >= 11 && seekW.readyState >= 1, `worker: seeked ${JSON.stringify(seekW)}`);
  assert.deepEqual(await openFullImage(page), [1024, 768], 'worker: full JPEG');
  const dlWorker = await downloads(page);
  for (const d of dlWorker) {
    assert.equal(d.name, FILE_NAME, `worker: file name via ${d.via}`);
    assert.match(d.body ?? '', /authmedia test attachment/, `worker: file body via ${d.via}`);
  }
  await waitUntil(async () => (await stats(page))?.worker?.upgraded > 0, { timeoutMs: 10_000, what: 'worker counters' });
  const statsWorker = await stats(page);
  const lifeNow = await workerLife(page);
  const life = lifeReport(lifeAtStart, lifeNow);
  t.diagnostic(`${life}; panel: ${JSON.stringify(statsWorker.worker)}`);
  // A trapped wasm instance is a bug, whatever else passed (asked of the worker itself, and as the
  // panel last showed it).
  assert.deepEqual([lifeNow.instanceReplacements, statsWorker.worker.instanceReplacements], [0, 0], `a wasm instance trapped: ${life}`);
  assert.ok(statsWorker.worker.authenticated > 0, `worker authenticated requests: ${JSON.stringify(statsWorker)}; ${life}`);
  assert.ok(statsWorker.worker.upgraded >= 2, `legacy URLs upgraded: ${JSON.stringify(statsWorker)}; ${life}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo.png'), fullPage: true });

  // Reduced motion: the GIF thumbnail is asked for still.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await waitUntil(async () => (await tileReport(page)).some((x) => x.animated === 'false'), { timeoutMs: 10_000, what: 'still GIF thumbnail' });
  await page.emulateMedia({ reducedMotion: 'no-preference' });

  // ---- fallback mode (the switch) ----
  const rendersBefore = Number(await page.evaluate(() => document.documentElement.dataset.renders));
  await page.locator('#force-fallback').check();
  await page.waitForFunction(() => document.documentElement.dataset.mode === 'fallback', null, { timeout: 15_000 });
  await page.waitForFunction((n) => Number(document.documentElement.dataset.renders) > n, rendersBefore, { timeout: 15_000 });
  // The worker still controls the page: forcing the fallback changes how data-mxc elements are
  // rendered (blob: URLs), while plain legacy <img src> requests are still upgraded by the worker.
  const fallbackTiles = await waitForTiles(page, { frozenMustFail: false }, 'every tile in fallback mode').catch((err) => {
    throw new Error(`${err.message}${why()}`);
  });
  for (const tile of fallbackTiles.filter((x) => x.kind !== 'legacy')) {
    assert.ok(tile.src.startsWith('blob:'), `fallback mode shows blob: URLs: ${tile.label} ${tile.src}`);
  }
  const seekF = await seekVideo(page, 18);
  assert.ok(seekF.currentTime >= 17, `fallback: seeked ${JSON.stringify(seekF)}`);
  assert.deepEqual(await openFullImage(page), [1024, 768], 'fallback: full JPEG');
  const dlFallback = await downloads(page);
  for (const d of dlFallback) assert.equal(d.name, FILE_NAME, `fallback: file name via ${d.via}`);
  await waitUntil(async () => (await stats(page))?.fallback?.fetches > 0, { timeoutMs: 10_000, what: 'fallback counters' });
  const statsFallback = await stats(page);
  assert.ok(statsFallback.fallback.fetches >= workerTiles.filter((x) => x.kind === 'image').length, `fallback fetches: ${JSON.stringify(statsFallback)}`);
  assert.ok(sum(statsFallback.byKind) > sum(statsWorker.byKind), `counters by kind moved: ${JSON.stringify(statsWorker.byKind)} → ${JSON.stringify(statsFallback.byKind)}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-fallback.png'), fullPage: true });

  // Back to the worker: tiles render again.
  await page.locator('#force-fallback').uncheck();
  await page.waitForFunction(() => document.documentElement.dataset.mode === 'worker', null, { timeout: 15_000 });
  await waitForTiles(page, { frozenMustFail: false }, 'every tile back in worker mode');
  await browser.close();

  // ---- no worker at all (service workers blocked): the fallback alone, and legacy URLs unauthenticated ----
  const blocked = await launchChromium({ viewport: { width: 1360, height: 900 }, serviceWorkers: 'block' });
  t.after(() => blocked.close());
  const page2 = blocked.page;
  const console2 = collectConsole(page2);
  await page2.goto(ready.url);
  // The login form is filled and wired by the page's module script; wait for it before reading or clicking.
  await page2.waitForFunction(() => document.documentElement.dataset.demo === 'login', null, { timeout: 30_000 });
  await page2.locator('#login-button').click();
  // AuthMedia.init waits up to workerReadyTimeoutMs (3 s) for a worker that never becomes ready before it settles on the fallback.
  await page2.waitForFunction(() => document.documentElement.dataset.demo === 'ready', null, { timeout: 120_000 }).catch(async (err) => {
    const status = await page2.locator('#login-status').textContent().catch(() => '');
    throw new Error(`${err.message}\nlogin status: ${status}\nconsole:\n${console2.slice(-30).join('\n')}`);
  });
  assert.equal(await page2.evaluate(() => document.documentElement.dataset.mode), 'fallback', 'no worker → fallback');
  assert.equal(await page2.locator('#legacy-controller').getAttribute('data-controlled'), 'false');
  const noWorkerTiles = await waitForTiles(page2, { frozenMustFail: true }, 'every tile without a worker').catch((err) => {
    throw new Error(`${err.message}\nconsole:\n${console2.slice(-30).join('\n')}`);
  });
  for (const tile of noWorkerTiles.filter((x) => x.kind !== 'legacy')) {
    assert.ok(tile.ok && tile.src.startsWith('blob:'), `no worker: ${tile.label} rendered from a blob: URL (${tile.src})`);
  }
  const legacy = noWorkerTiles.filter((x) => x.kind === 'legacy');
  assert.ok(legacy.some((x) => !x.frozen) && legacy.filter((x) => !x.frozen).every((x) => x.ok), 'pre-freeze item loads through legacy URLs without a worker');
  assert.ok(legacy.some((x) => x.frozen) && legacy.filter((x) => x.frozen).every((x) => !x.ok), 'post-freeze media is 404 on legacy URLs without a worker');
  await page2.evaluate(() => window.scrollTo(0, 0));
  await page2.screenshot({ path: path.join(ARTIFACTS, 'demo-no-worker.png'), fullPage: true });
  await blocked.close();

  // ---- Ctrl-C / SIGTERM: everything stops ----
  await demo.kill(20_000);
  assert.equal(await answers(`${ready.homeserver}/_matrix/client/versions`), false, 'Synapse stopped with the demo');
  assert.equal(await answers(ready.url), false, 'demo server stopped');
  assert.equal(existsSync(READY_FILE), false, 'ready file removed');
});

test('the demo points at another homeserver with --homeserver (no local Synapse)', { timeout: 5 * 60_000 }, async (t) => {
  const { loadWorld } = await import('../../support/world.mjs');
  const world = await loadWorld();
  const alice = world.users.alice;
  const port = await freePort();
  const readyFile = path.join(REPO_ROOT, '.local', `demo-e2e-hs-ready-${process.pid}.json`);
  const dataDir = path.join(REPO_ROOT, '.local', `demo-e2e-unused-${process.pid}`);
  const log = path.join(ARTIFACTS, 'demo-homeserver.log');
  rmSync(readyFile, { force: true });
  rmSync(log, { force: true });
  const demo = spawnGroup(
    process.execPath,
    [path.join(REPO_ROOT, 'demo', 'run.mjs'), '--homeserver', `${world.synapse.baseUrl}/`, '--user', 'alice', '--password', alice.password,
      '--port', String(port), '--data-dir', dataDir, '--ready-file', readyFile],
    { cwd: REPO_ROOT, logFile: log },
  );
  t.after(() => demo.kill(10_000));
  const ready = await waitUntil(
    () => {
      if (demo.hasExited) throw Object.assign(new Error(`demo exited early:\n${tail(log)}`), { fatal: true });
      return existsSync(readyFile) ? JSON.parse(readFileSync(readyFile, 'utf8')) : null;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: 'the demo ready file' },
  );
  assert.equal(ready.homeserver, world.synapse.baseUrl, 'trailing slash dropped, that homeserver used');
  assert.equal(existsSync(dataDir), false, 'no local Synapse directory created');
  const config = await (await fetch(`${ready.url}demo-config.json`)).json();
  assert.deepEqual([config.homeserver, config.user, config.local], [world.synapse.baseUrl, 'alice', false]);

  const browser = await launchChromium({ viewport: { width: 1200, height: 900 } });
  t.after(() => browser.close());
  const { page } = browser;
  const lines = collectConsole(page);
  await page.goto(ready.url);
  // The login form is filled and wired by the page's module script; wait for it before reading or clicking.
  await page.waitForFunction(() => document.documentElement.dataset.demo === 'login', null, { timeout: 30_000 });
  assert.equal(await page.locator('#hs').inputValue(), world.synapse.baseUrl);
  await page.locator('#login-button').click();
  await page.waitForFunction(() => document.documentElement.dataset.demo === 'ready', null, { timeout: 60_000 }).catch((err) => {
    throw new Error(`${err.message}\n${lines.slice(-20).join('\n')}`);
  });
  await page.waitForFunction(() => document.documentElement.dataset.mode === 'worker', null, { timeout: 30_000 });
  // The harness room (one message per fixture); other tests may have added rooms, so choose it.
  const renders = Number(await page.evaluate(() => document.documentElement.dataset.renders));
  if ((await page.locator('#room').inputValue()) !== world.room.roomId) {
    await page.locator('#room').selectOption(world.room.roomId);
    await page.waitForFunction((n) => Number(document.documentElement.dataset.renders) > n, renders, { timeout: 30_000 });
  }
  const tiles = await waitForTiles(page, { frozenMustFail: false }, 'every tile from the other homeserver');
  assert.ok(tiles.filter((x) => x.kind === 'image').length >= 6, `images rendered: ${tiles.length}`);
  assert.ok(tiles.some((x) => x.kind === 'video' && x.ok), 'video rendered');
  await browser.close();
  await demo.kill(10_000);
  assert.equal(await answers(ready.url), false, 'demo server stopped');
  assert.equal(await answers(`${world.synapse.baseUrl}/_matrix/client/versions`), true, 'the other homeserver is left running');
});
