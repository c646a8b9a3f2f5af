/**
 * The drop-in service worker (sw/dist/authmedia-sw.js, built by scripts/build-sw.sh) in headless
 * Chromium against the real Synapse of the test world (issue 3, tests (a)–(i)).
 *
 * The test page (tests/pages/worker/) speaks the page↔worker protocol itself (no page SDK), so
 * these tests exercise the worker alone. Each test launches a fresh browser (empty HTTP cache,
 * no worker) and uses URLs no earlier test used, so nothing is answered from a browser cache.
 * Which token the worker used is checked server-side: Synapse's access log names the user of
 * every request, and `whoami` tells which user a recorded token belongs to.
 *
 * Set AUTHMEDIA_SKIP_SW_BUILD=1 to use an existing sw/dist/ (scripts/build.sh already built it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../harness/env.mjs';
import * as mx from '../harness/matrix.mjs';
import { REPO_ROOT } from '../harness/synapse.mjs';
import { startStaticServer } from '../lib/static-server.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { waitUntil } from '../lib/procs.mjs';

const DIST = path.join(REPO_ROOT, 'sw', 'dist');
const PAGES = path.join(REPO_ROOT, 'tests', 'pages', 'worker');

/** @type {any} */
let world;
let base = '';
/** @type {Awaited<ReturnType<typeof startStaticServer>>} */
let site;
/** @type {Awaited<ReturnType<typeof startRecorder>>} */
let recorder;
let unique = 0;

before(async () => {
  if (process.env.AUTHMEDIA_SKIP_SW_BUILD !== '1' || !existsSync(path.join(DIST, 'authmedia-sw.js'))) {
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'build-sw.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  world = await loadWorld();
  base = world.synapse.baseUrl;
  site = await startStaticServer({ root: PAGES, mounts: { '/dist/': DIST } });
  recorder = await startRecorder();
});

after(async () => {
  await site?.close();
  await recorder?.close();
});

/** A session object for the page protocol. */
function sessionOf(user) {
  return { homeserver: base, accessToken: user.accessToken, userId: user.userId };
}

/** A v1 URL no other test used (a distinct file name or thumbnail size defeats every cache). */
function freshUrl(media, { kind = 'download', api = 'v1', ...rest } = {}) {
  unique += 1;
  if (kind === 'download') return mx.mediaUrl(base, media.mxc, { api, kind, filename: `t${unique}-${media.filename}`, ...rest });
  return mx.mediaUrl(base, media.mxc, { api, kind, width: 96, height: 96, method: 'crop', extra: { timeout_ms: String(20000 + unique) }, ...rest });
}

/** The user Synapse logged for the (first) request whose path contains `needle`. */
async function loggedUser(needle) {
  const line = await waitUntil(
    () => readFileSync(world.synapse.logFile, 'utf8').split('\n').find((l) => l.includes('Processed request') && l.includes(needle)),
    { timeoutMs: 10000, what: `Synapse access-log line for ${needle}` },
  );
  const m = /\{(@[^}]+|None)\}/.exec(line);
  return m ? m[1] : null;
}

/** A fresh browser with one tab on the test page, controlled by the worker. */
async function openBrowser() {
  const browser = await launchChromium();
  const consoleLines = collectConsole(browser.page);
  await browser.page.goto(site.url('/index.html'));
  await browser.page.evaluate(() => t.register());
  return { ...browser, consoleLines };
}

async function withBrowser(fn) {
  const browser = await openBrowser();
  try {
    await fn(browser);
  } catch (error) {
    error.message += `\n--- browser console ---\n${browser.consoleLines.join('\n')}`;
    throw error;
  } finally {
    await browser.close();
  }
}

test('(a) <img> with v1 download and thumbnail URLs renders, sent with the tab\'s token', async () => {
  await withBrowser(async ({ page }) => {
    const alice = world.users.alice;
    assert.deepEqual(await page.evaluate((s) => t.setSession(s), sessionOf(alice)), { ok: true });
    const png = world.media.png800;

    const download = freshUrl(png);
    const img = await page.evaluate((u) => t.loadImage(u), download);
    assert.equal(img.loaded, true, `download ${download} did not render`);
    assert.equal(img.naturalWidth, png.width);

    const thumbnail = freshUrl(png, { kind: 'thumbnail' });
    const thumb = await page.evaluate((u) => t.loadImage(u), thumbnail);
    assert.equal(thumb.loaded, true, `thumbnail ${thumbnail} did not render`);
    assert.equal(thumb.naturalWidth, 96);

    // Server side: Synapse served both to alice (the token was on the request).
    assert.equal(await loggedUser(new URL(download).pathname), alice.userId);
    assert.equal(await loggedUser(new URL(thumbnail).search.slice(1).split('&').find((p) => p.startsWith('timeout_ms'))), alice.userId);

    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.authenticated, 2);
    assert.equal(stats.refused, 0);
  });
});
