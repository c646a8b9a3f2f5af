/**
 * The drop-in service worker (sw/dist/authmedia-sw.js, built by scripts/build-sw.sh) in headless
 * Chromium against the real Synapse of the test world (tests (a)–(i)).
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
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { launchChromium, collectConsole, stopServiceWorkers, cdp } from '../lib/browser.mjs';
import { waitUntil } from '../../support/procs.mjs';
import { fnv1a32 } from '../lib/fingerprint.mjs';

/** The worker's answer to an accepted session: the handshake gives its protocol and package version. */
const SESSION_OK = { ok: true, protocol: 1, version: JSON.parse(readFileSync(new URL('../../npm/package.json', import.meta.url), 'utf8')).version };

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
    assert.deepEqual(await page.evaluate((s) => t.setSession(s), sessionOf(alice)), SESSION_OK);
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

/** Synapse access-log lines (as the server saw them) whose request line contains `needle`. */
function loggedLines(needle) {
  return readFileSync(world.synapse.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Processed request') && l.includes(needle));
}

/** Path + query of a URL as the browser sends it (what Synapse logs). */
const wire = (url) => {
  const u = new URL(url);
  return u.pathname + u.search;
};

test('(b) a legacy v3 URL of frozen media renders through the upgrade to v1', async () => {
  const png = world.media.png64;
  const legacy = mx.mediaUrl(base, png.mxc, { api: 'legacy', filename: `legacy-${Date.now()}.png` });
  // Frozen: the legacy endpoint itself refuses this media, token or not.
  const direct = await fetch(legacy, { headers: { Authorization: `Bearer ${world.users.alice.accessToken}` } });
  assert.equal(direct.status, 404, 'media uploaded after the freeze must be 404 on the legacy endpoint');
  const legacyHits = loggedLines(new URL(legacy).pathname).length; // that probe itself

  await withBrowser(async ({ page }) => {
    // No `api` in the session: the worker negotiates with an authenticated /versions itself.
    await page.evaluate((s) => t.setSession(s), sessionOf(world.users.alice));
    const img = await page.evaluate((u) => t.loadImage(u), legacy);
    assert.equal(img.loaded, true, `${legacy} did not render`);
    assert.equal(img.naturalWidth, png.width);
    const v1Path = new URL(legacy).pathname.replace('/_matrix/media/v3/', '/_matrix/client/v1/media/');
    assert.equal(await loggedUser(v1Path), world.users.alice.userId, 'the v1 request carried alice\'s token');
    assert.equal(loggedLines(new URL(legacy).pathname).length, legacyHits, 'the browser never sent the legacy URL');
    const negotiated = loggedLines('GET /_matrix/client/versions ').filter((l) => l.includes(`{${world.users.alice.userId}}`) && l.includes('HeadlessChrome'));
    assert.ok(negotiated.length >= 1, 'the worker asked /versions with alice\'s token');
    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.upgraded, 1);
    assert.equal(stats.authenticated, 1);
  });
});

test('(c) <video> plays and a seek to the middle lands (206 from the body the worker holds)', async () => {
  const mp4 = world.media.mp4;
  assert.ok(mp4.bytes >= 5 * 1024 * 1024, 'the video fixture is at least 5 MB');
  const url = freshUrl(mp4);
  await withBrowser(async ({ page }) => {
    await page.evaluate((s) => t.setSession(s), sessionOf(world.users.alice));
    const middle = mp4.durationS / 2;
    const video = await page.evaluate(([u, at]) => t.video(u, at), [url, middle]);
    assert.ok(Math.abs(video.currentTime - middle) < 0.5, `currentTime ${video.currentTime}, wanted ${middle}`);
    assert.ok(video.readyState >= 2, `readyState ${video.readyState}: no data at the seek target`);
    assert.ok(Math.abs(video.duration - mp4.durationS) < 1, `duration ${video.duration}`);
    assert.ok(video.buffered.some(([s, e]) => s <= middle && middle <= e), `middle not buffered: ${JSON.stringify(video.buffered)}`);

    // Synapse ignores Range; the worker answers with correct 206s cut from the body it holds.
    const part = await page.evaluate((u) => t.fetch(u, { headers: { Range: 'bytes=100-199' } }), url);
    assert.equal(part.status, 206);
    assert.equal(part.length, 100);
    assert.equal(part.headers['content-range'], `bytes 100-199/${mp4.bytes}`);
    assert.equal(part.headers['content-length'], '100');
    assert.equal(part.headers['accept-ranges'], 'bytes');
    const fixture = readFileSync(mp4.path);
    const tail = await page.evaluate((u) => t.fetch(u, { headers: { Range: 'bytes=-10' } }), url);
    assert.equal(tail.status, 206);
    assert.equal(tail.headers['content-range'], `bytes ${mp4.bytes - 10}-${mp4.bytes - 1}/${mp4.bytes}`);
    assert.equal(tail.length, 10);
    const beyond = await page.evaluate((u) => t.fetch(u, { headers: { Range: `bytes=${10 ** 9}-` } }), url);
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${mp4.bytes}`);
    assert.ok(fixture.length === mp4.bytes);

    // Seeks did not download the video again: one request reached Synapse for this URL.
    assert.equal(loggedLines(new URL(url).pathname).length, 1, 'the video was downloaded exactly once');
    const stats = await page.evaluate(() => t.stats());
    assert.ok(stats.cacheHits >= 3, `cacheHits ${stats.cacheHits}`);
  });
});

test('(d) two tabs, two users: each tab\'s media goes out with its own token', async () => {
  await withBrowser(async ({ page, context }) => {
    const second = await context.newPage();
    await second.goto(site.url('/index.html'));
    await second.evaluate(() => t.register());
    const { alice, bob } = world.users;
    await page.evaluate((s) => t.setSession(s), sessionOf(alice));
    await second.evaluate((s) => t.setSession(s), sessionOf(bob));
    const forAlice = freshUrl(world.media.png800);
    const forBob = freshUrl(world.media.png800);
    const [a, b] = await Promise.all([
      page.evaluate((u) => t.loadImage(u), forAlice),
      second.evaluate((u) => t.loadImage(u), forBob),
    ]);
    assert.equal(a.loaded, true);
    assert.equal(b.loaded, true);
    assert.equal(await loggedUser(new URL(forAlice).pathname), alice.userId);
    assert.equal(await loggedUser(new URL(forBob).pathname), bob.userId);
    // Bob's own media, in bob's tab.
    const bobs = freshUrl(world.media.bobPng, { kind: 'thumbnail', width: 32, height: 32 });
    const thumb = await second.evaluate((u) => t.loadImage(u), bobs);
    assert.equal(thumb.loaded, true);
    assert.equal(await loggedUser(wire(bobs)), bob.userId);
  });
});

test('(e) revoked token → 401 → the tab gives a fresh token → the image loads; refused again → 401 + unauthorized', async () => {
  const { alice } = world.users;
  const first = await mx.login(base, alice.userId, alice.password);
  await withBrowser(async ({ page }) => {
    await page.evaluate((s) => t.setSession(s), { homeserver: base, accessToken: first.accessToken, userId: alice.userId });
    const before = await page.evaluate((u) => t.loadImage(u), freshUrl(world.media.png64));
    assert.equal(before.loaded, true);

    await mx.logout(base, first.accessToken); // revoked
    const second = await mx.login(base, alice.userId, alice.password);
    await page.evaluate((token) => t.setFreshToken(token), second.accessToken);
    const url = freshUrl(world.media.png64);
    const after = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(after.loaded, true, 'the image loads with the fresh token');
    const lines = loggedLines(new URL(url).pathname);
    assert.equal(lines.length, 2, 'one refused request, one retry');
    assert.match(lines[0], / 401 /);
    assert.match(lines[1], new RegExp(`\\{${alice.userId}\\}.* 200 `));
    const asked = await page.evaluate(() => t.state.log.filter((m) => m.type === 'authmedia:need-token'));
    // The question names the refused token by its fingerprint (32-bit FNV-1a), never the token.
    assert.deepEqual(asked, [{ type: 'authmedia:need-token', userId: alice.userId, refused: fnv1a32(first.accessToken) }]);

    // Refused for good: the fresh token is revoked too and the tab has none to give.
    await mx.logout(base, second.accessToken);
    await page.evaluate(() => t.setFreshToken(null));
    const refusedUrl = freshUrl(world.media.png64);
    const refused = await page.evaluate((u) => t.fetch(u), refusedUrl);
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.text).errcode, 'M_UNKNOWN_TOKEN');
    const note = await waitUntil(
      () => page.evaluate(() => t.state.log.find((m) => m.type === 'authmedia:unauthorized')),
      { timeoutMs: 5000, what: 'authmedia:unauthorized' },
    );
    assert.deepEqual(note, { type: 'authmedia:unauthorized', userId: alice.userId, errcode: 'M_UNKNOWN_TOKEN' });
    assert.ok(loggedLines(new URL(refusedUrl).pathname).every((l) => /\{None\}/.test(l) || / 401 /.test(l)));
    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.refused, 1);
  });
});

test('(f) after logout, media is refused and nothing comes from the worker\'s cache', async () => {
  const { alice } = world.users;
  const session = await mx.login(base, alice.userId, alice.password);
  await withBrowser(async ({ page }) => {
    const s = { homeserver: base, accessToken: session.accessToken, userId: alice.userId };
    await page.evaluate((x) => t.setSession(x), s);
    const url = freshUrl(world.media.png800);
    assert.equal((await page.evaluate((u) => t.fetch(u), url)).status, 200);
    const again = await page.evaluate((u) => t.fetch(u), url);
    assert.equal(again.status, 200);
    assert.equal((await page.evaluate(() => t.stats())).cacheHits, 1, 'the second read came from the worker store');
    assert.equal(loggedLines(new URL(url).pathname).length, 1);

    assert.deepEqual(await page.evaluate(() => t.logout()), { ok: true });
    const refused = await page.evaluate((u) => t.fetch(u), url);
    assert.equal(refused.status, 401, 'after logout the request goes out without a token and is refused');
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, false, 'no image after logout');
    assert.equal((await page.evaluate(() => t.stats())).cacheHits, 1, 'nothing served from the worker store');
    const lines = loggedLines(new URL(url).pathname);
    assert.ok(lines.length >= 2 && lines.slice(1).every((l) => /\{None\}/.test(l)), lines.join('\n'));

    // Logged in again (same user): the store was purged, so Synapse sees the request again.
    await page.evaluate((x) => t.setSession(x), s);
    const count = loggedLines(new URL(url).pathname).length;
    assert.equal((await page.evaluate((u) => t.fetch(u), url)).status, 200);
    assert.equal(loggedLines(new URL(url).pathname).length, count + 1);
    assert.equal((await page.evaluate(() => t.stats())).cacheHits, 1);
  });
});

test('(g) no token to other origins: media-like paths elsewhere, and a redirect to another origin', async () => {
  const other = await startRecorder();
  try {
    await withBrowser(async ({ page }) => {
      await page.evaluate((s) => t.setSession(s), sessionOf(world.users.alice));
      // 1. Another loopback origin with a media-like path: not this tab's homeserver, untouched.
      const elsewhere = recorder.url('/_matrix/client/v1/media/download/authmedia.test/elsewhere1');
      const img = await page.evaluate((u) => t.loadImage(u), elsewhere);
      assert.equal(img.loaded, true);
      await recorder.waitFor((r) => r.path.endsWith('/elsewhere1'));
      assert.deepEqual(recorder.withAuthorization(), [], 'no Authorization reached the other origin');
      const legacyElsewhere = recorder.url('/_matrix/media/v3/thumbnail/authmedia.test/elsewhere2?width=32&height=32');
      assert.equal((await page.evaluate((u) => t.loadImage(u), legacyElsewhere)).loaded, true);
      await recorder.waitFor((r) => r.path.endsWith('/elsewhere2'));
      assert.deepEqual(recorder.withAuthorization(), []);
    });

    // 2. A homeserver whose media endpoint answers 307 to another origin (a CDN): the token goes
    //    to the homeserver only; the browser drops it on the cross-origin redirect.
    recorder.clear();
    recorder.redirect('/_matrix/client/v1/media/download/', (u) => other.url(`/cdn${u.pathname}`));
    await withBrowser(async ({ page }) => {
      await page.evaluate(
        (s) => t.setSession(s),
        { homeserver: recorder.origin, accessToken: 'secret-token-for-redirect-test', userId: '@alice:authmedia.test' },
      );
      const img = await page.evaluate((u) => t.loadImage(u), recorder.url('/_matrix/client/v1/media/download/authmedia.test/redirected1'));
      assert.equal(img.loaded, true, 'the redirected image loads');
      const atHomeserver = recorder.requests.find((r) => r.method === 'GET' && r.path.endsWith('/redirected1'));
      assert.equal(atHomeserver?.headers.authorization, 'Bearer secret-token-for-redirect-test', 'the homeserver got the token');
      const atCdn = await other.waitFor((r) => r.method === 'GET' && r.path.endsWith('/redirected1'));
      assert.equal(atCdn.headers.authorization, undefined, 'the token did not follow the redirect');
      assert.deepEqual(other.withAuthorization(), []);
      assert.ok(other.requests.every((r) => !r.url.includes('secret-token')), 'no token in a URL');
    });
  } finally {
    await other.close();
  }
});

test('(h) the browser stops the worker between requests → the next image still loads with the token', async () => {
  await withBrowser(async ({ page }) => {
    const { alice } = world.users;
    await page.evaluate((s) => t.setSession(s), sessionOf(alice));
    assert.equal((await page.evaluate((u) => t.loadImage(u), freshUrl(world.media.png64))).loaded, true);
    const statsBefore = await page.evaluate(() => t.stats());
    assert.equal(statsBefore.authenticated, 1);

    await stopServiceWorkers(page);
    const url = freshUrl(world.media.png800);
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, true);
    assert.equal(await loggedUser(new URL(url).pathname), alice.userId, 'sent with alice\'s token after the restart');
    assert.equal(loggedLines(new URL(url).pathname).length, 1, 'never sent tokenless first');
    const asked = await page.evaluate(() => t.state.log.filter((m) => m.type === 'authmedia:need-session').length);
    assert.equal(asked, 1, 'the restarted worker asked the tab for its session once');
    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.authenticated, 1, 'fresh counters: the worker really restarted');
    // The stats tell this restart from a trapped instance's replacement.
    assert.ok(stats.workerStartedAt > statsBefore.workerStartedAt, `a new worker start: ${JSON.stringify([statsBefore, stats])}`);
    assert.deepEqual([stats.instanceReplacements, stats.lastTrap], [0, null]);
  });
});

test('(i) a guest account sees its media', async () => {
  const guest = await mx.registerGuest(base);
  assert.equal((await mx.whoami(base, guest.accessToken)).is_guest, true);
  await withBrowser(async ({ page }) => {
    await page.evaluate((s) => t.setSession(s), { homeserver: base, accessToken: guest.accessToken, userId: guest.userId });
    const url = freshUrl(world.media.gif);
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, true);
    assert.equal(img.naturalWidth, world.media.gif.width);
    assert.equal(await loggedUser(new URL(url).pathname), guest.userId);
  });
});

test('a tab without a session (login page, SSO icons) is passed through untouched', async () => {
  await withBrowser(async ({ page }) => {
    const url = mx.mediaUrl(base, world.media.prefreezePng.mxc, { api: 'legacy', filename: `sso-${Date.now()}.png` });
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, true, 'pre-freeze legacy media loads without a token');
    assert.match(loggedLines(new URL(url).pathname)[0] ?? '', /\{None\}/);
    const stats = await page.evaluate(() => t.stats());
    assert.equal(stats.authenticated, 0);
    assert.equal(stats.passthrough, 1);
  });
});

test('mode 2: inside a site\'s own worker via importScripts + self.authmedia.handleFetch', async () => {
  const browser = await launchChromium();
  try {
    const { page } = browser;
    await page.goto(site.url('/index.html'));
    await page.evaluate(() => t.register('/host-sw.js'));
    await page.evaluate((s) => t.setSession(s), sessionOf(world.users.bob));
    const url = freshUrl(world.media.jpeg);
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, true);
    assert.equal(await loggedUser(new URL(url).pathname), world.users.bob.userId);
    const probe = await page.evaluate(() => t.fetch('/host-probe'));
    assert.equal(probe.text, 'answered by the host worker');
  } finally {
    await browser.close();
  }
});

test('the wasm cannot load → media gets a clear JSON error at once, nothing goes out tokenless', async () => {
  const browser = await launchChromium();
  try {
    const { page } = browser;
    await page.goto(site.url('/index.html'));
    await page.evaluate(() => t.register('/host-sw.js?wasm=/missing.wasm'));
    const answer = await page.evaluate((s) => t.setSession(s), sessionOf(world.users.alice));
    assert.equal(answer.ok, false);
    assert.match(answer.error, /wasm unavailable/);
    const url = freshUrl(world.media.png64);
    const started = Date.now();
    const response = await page.evaluate((u) => t.fetch(u), url);
    assert.ok(Date.now() - started < 5000, 'answered without waiting for a timeout');
    assert.equal(response.status, 503);
    assert.equal(response.headers['cache-control'], 'no-store');
    const body = JSON.parse(response.text);
    assert.equal(body.errcode, 'M_UNKNOWN');
    assert.match(body.error, /wasm unavailable/);
    assert.equal(loggedLines(new URL(url).pathname).length, 0, 'the media request never reached Synapse');
    assert.equal((await page.evaluate(() => t.fetch('/host-probe'))).text, 'answered by the host worker');
  } finally {
    await browser.close();
  }
});

test('a trapped wasm instance: a clear error for that request, a fresh instance for the next', async () => {
  const browser = await launchChromium();
  try {
    const { page } = browser;
    await page.goto(site.url('/index.html'));
    await page.evaluate(() => t.register('/trap-sw.js'));
    const { alice } = world.users;
    await page.evaluate((s) => t.setSession(s), sessionOf(alice));
    assert.equal((await page.evaluate((u) => t.loadImage(u), freshUrl(world.media.png64))).loaded, true);
    assert.deepEqual(await page.evaluate(() => t.raw('instances')), { instances: 1, armed: false });
    const before = await page.evaluate(() => t.stats());
    assert.deepEqual([before.instanceReplacements, before.lastTrap], [0, null]);

    assert.deepEqual(await page.evaluate(() => t.raw('arm-trap')), { armed: true });
    const trapped = freshUrl(world.media.png64);
    const started = Date.now();
    const response = await page.evaluate((u) => t.fetch(u), trapped);
    assert.ok(Date.now() - started < 5000, 'no hang');
    assert.equal(response.status, 500);
    assert.equal(JSON.parse(response.text).errcode, 'M_UNKNOWN');
    assert.equal(loggedLines(new URL(trapped).pathname).length, 0, 'nothing was sent (tokenless or not)');

    // The next request is served by a fresh instance, which asks the tab for its session again.
    const url = freshUrl(world.media.png800);
    const img = await page.evaluate((u) => t.loadImage(u), url);
    assert.equal(img.loaded, true);
    assert.equal(await loggedUser(new URL(url).pathname), alice.userId);
    assert.deepEqual(await page.evaluate(() => t.raw('instances')), { instances: 2, armed: false });
    const after = await page.evaluate(() => t.stats());
    assert.equal(after.authenticated, 1, 'counters of the fresh instance');
    // The same worker start, one instance replaced, and why.
    assert.equal(after.workerStartedAt, before.workerStartedAt);
    assert.equal(after.instanceReplacements, 1);
    assert.match(after.lastTrap, /RuntimeError/);
  } finally {
    await browser.close();
  }
});

test('a page a hard reload left uncontrolled asks to be claimed, then its media gets the token', async () => {
  await withBrowser(async ({ page }) => {
    const session = await cdp(page);
    try {
      const loaded = page.waitForEvent('load');
      await session.send('Page.reload', { ignoreCache: true }); // Ctrl+Shift+R
      await loaded;
    } finally {
      await session.detach().catch(() => {});
    }
    assert.equal(await page.evaluate(() => t.controlled()), false, 'a hard reload leaves the page uncontrolled');
    assert.equal(await page.evaluate(() => t.ready()), true);
    assert.deepEqual(await page.evaluate(() => t.claim()), { ok: true });
    await waitUntil(() => page.evaluate(() => t.controlled()), { timeoutMs: 5000, what: 'controller after claim' });
    await page.evaluate((s) => t.setSession(s), sessionOf(world.users.bob));
    const url = freshUrl(world.media.png64);
    assert.equal((await page.evaluate((u) => t.loadImage(u), url)).loaded, true);
    assert.equal(await loggedUser(new URL(url).pathname), world.users.bob.userId);
  });
});

test('legacy URLs on other servers: v1 answering M_UNRECOGNIZED falls back to legacy; an unstable-only server gets the MSC3916 prefix', async () => {
  // A scripted homeserver (the recording server): Synapse supports v1, so these answers need a fake.
  const fake = await startRecorder();
  try {
    let versions = { versions: ['r0.6.1', 'v1.11'], unstable_features: {} };
    const json = (res, status, body) =>
      res.writeHead(status, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    fake.route('/_matrix/client/versions', (_req, res) => json(res, 200, versions));
    fake.route('/_matrix/client/v1/media/', (_req, res) => json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }));
    const gets = () => fake.requests.filter((r) => r.method === 'GET');
    const session = { homeserver: fake.origin, accessToken: 'fake-token', userId: '@alice:fake.test' };

    await withBrowser(async ({ page }) => {
      await page.evaluate((s) => t.setSession(s), session);
      const first = await page.evaluate((u) => t.loadImage(u), fake.url('/_matrix/media/v3/download/fake.test/abc1'));
      assert.equal(first.loaded, true);
      assert.deepEqual(gets().map((r) => r.path), [
        '/_matrix/client/versions',
        '/_matrix/client/v1/media/download/fake.test/abc1',
        '/_matrix/media/v3/download/fake.test/abc1',
      ]);
      assert.deepEqual(gets().map((r) => r.headers.authorization), ['Bearer fake-token', 'Bearer fake-token', undefined],
        '/versions and the authenticated endpoint get the token; the unauthenticated legacy endpoint does not');
      fake.clear();
      const second = await page.evaluate((u) => t.loadImage(u), fake.url('/_matrix/media/r0/thumbnail/fake.test/abc2?width=32&height=32'));
      assert.equal(second.loaded, true);
      assert.deepEqual(gets().map((r) => r.path), ['/_matrix/media/r0/thumbnail/fake.test/abc2'], 'the decision "legacy" is remembered');
      assert.equal(gets()[0].headers.authorization, undefined, 'no token to the legacy endpoint');
    });

    versions = { versions: ['r0.6.1', 'v1.5'], unstable_features: { 'org.matrix.msc3916': true } };
    fake.clear();
    await withBrowser(async ({ page }) => {
      await page.evaluate((s) => t.setSession(s), session);
      const img = await page.evaluate((u) => t.loadImage(u), fake.url('/_matrix/media/v3/download/fake.test/abc3'));
      assert.equal(img.loaded, true);
      assert.deepEqual(gets().map((r) => r.path), [
        '/_matrix/client/versions',
        '/_matrix/client/unstable/org.matrix.msc3916/media/download/fake.test/abc3',
      ]);
      assert.equal((await page.evaluate(() => t.stats())).upgraded, 1);
    });
  } finally {
    await fake.close();
  }
});

test('authmedia:encrypted: a file without a valid url, or larger than 4096 bytes as JSON, is refused at registration', async () => {
  await withBrowser(async ({ page }) => {
    assert.deepEqual(await page.evaluate((s) => t.setSession(s), sessionOf(world.users.alice)), SESSION_OK);
    const secrets = {
      v: 'v2',
      key: { kty: 'oct', alg: 'A256CTR', ext: true, key_ops: ['encrypt', 'decrypt'], k: 'A'.repeat(43) },
      iv: 'A'.repeat(22),
      hashes: { sha256: 'A'.repeat(43) },
    };
    const register = (id, file) => page.evaluate((m) => t.raw(m), { type: 'authmedia:encrypted', id, file, mimetype: 'image/png' });
    const ok = await register('regok', { url: 'mxc://authmedia.test/regOk', ...secrets });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    const noUrl = await register('regnourl', { ...secrets });
    assert.equal(noUrl.ok, false, JSON.stringify(noUrl));
    assert.match(noUrl.error, /url/);
    const huge = await register('reghuge', { url: 'mxc://authmedia.test/regHuge', ...secrets, padding: 'x'.repeat(5000) });
    assert.equal(huge.ok, false, JSON.stringify(huge));
    assert.match(huge.error, /more than 4096/);
  });
});
