/**
 * Token safety, part two: the holes an outside review found, each closed by the one gate every
 * token-bearing request passes (the core's `gate`: `admit_request`, `CanonicalUrl`, `authorize`;
 * the worker's `Sessions::pass`, the page fallback's `Inner::pass`). Headless Chromium against the
 * real Synapse (or a recorder posing as a homeserver where the test must hold an answer).
 *
 *   (h1) the encrypted-attachment path: a logout while the worker waits for its own /versions →
 *        nothing goes out with the token, the tab gets `cancelled` (as on the media path);
 *   (h2) navigations are never answered: `location.href = <media URL>`, an opener of another origin
 *        setting `w.location`, an iframe; on the media and the encrypted routes;
 *   (h3) shared state is keyed by the session the worker established, not by the user id a page
 *        claims: a garbage token claiming @alice gets no body alice fetched; one account's logout
 *        leaves another's cache alone when both claim the same user id;
 *   (h4) only the canonical URL goes upstream: a file name that decodes to a path traversal never
 *        carries the token; unknown parameters (`access_token=`, `user_id=`) are dropped;
 *   (h5) `logout()` on a page no worker controlled yet (hard reload) reaches the worker that holds
 *        the session, so after its claim no request carries the logged-out token;
 *   hardening: `need-session` / `need-encrypted` are answered to the SDK's own worker only; a token
 *        the homeserver no longer knows (no fresh one) purges the worker's media of that session;
 *        `download()` object URLs are revoked by `logout()`;
 *   and the entry script's list of media destinations is the core's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { encryptAttachment } from '../harness/encrypted.mjs';
import { startRecorder } from '../lib/recorder.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { launchChromium, cdp } from '../lib/browser.mjs';
import { waitUntil } from '../../support/procs.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

const INSECURE_HOST = 'authmedia.test';
const WORKER_PAGES = path.join(REPO_ROOT, 'tests', 'pages', 'worker');
const SW_DIST = path.join(REPO_ROOT, 'sw', 'dist');

let world;
let browser;
let unique = Date.now() % 100_000;
const fresh = () => (unique += 1);

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
});

after(async () => {
  await browser?.close();
});

const base = () => world.synapse.baseUrl;
const alice = () => world.users.alice;
const bob = () => world.users.bob;

/** Synapse access-log lines whose request line contains `needle`. */
const loggedLines = (needle) =>
  readFileSync(world.synapse.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Processed request') && l.includes(needle));
const loggedUsers = (needle) => loggedLines(needle).map((l) => /\{(@[^}]+|None)\}/.exec(l)?.[1] ?? '?');
const waitLogged = (needle, what) =>
  waitUntil(() => {
    const u = loggedUsers(needle);
    return u.length ? u : null;
  }, { timeoutMs: 20_000, what: what ?? `Synapse log line for ${needle}` });

/** Requests at a recorder that carried a token (header, a preflight announcing one, or in the URL). */
const withToken = (rec, token) =>
  rec.requests.filter(
    (r) => r.headers.authorization !== undefined || String(r.headers['access-control-request-headers'] ?? '').toLowerCase().includes('authorization') || r.url.includes(token),
  );

/** A recorder posing as a homeserver; `/versions` answers v1.11 unless `holdVersions`. */
async function fakeHomeserver({ holdVersions = false } = {}) {
  const hs = await startRecorder();
  const held = [];
  hs.route('/_matrix/client/versions', async (req, res) => {
    if (holdVersions) await new Promise((release) => held.push(release));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(JSON.stringify({ versions: ['v1.11'] }));
  });
  return Object.assign(hs, { held });
}

/** A fresh origin serving the worker test page (tests/pages/worker) and the built worker. */
async function workerSite(extraRoutes) {
  return startStaticServer({ root: WORKER_PAGES, mounts: { '/dist/': SW_DIST }, routes: extraRoutes });
}

/** A new tab on `server`'s worker page, registered and controlled. */
async function controlledTab(server) {
  const page = await browser.context.newPage();
  await page.goto(server.url('/index.html'));
  assert.equal(await page.evaluate(() => t.register()), true);
  return page;
}

test('(h1) encrypted path: a logout while the worker waits for /versions sends nothing with the token; the tab gets `cancelled`', { timeout: 120_000 }, async () => {
  const hs = await fakeHomeserver({ holdVersions: true });
  const server = await workerSite();
  const token = `h1-token-${fresh()}`;
  const page = await controlledTab(server);
  try {
    // A session without `api` (the protocol allows it): the worker must ask /versions first.
    await page.evaluate((s) => t.setSession(s), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    const { secrets } = encryptAttachment(Buffer.from('secret attachment'));
    const reg = await page.evaluate((m) => t.raw(m), {
      type: 'authmedia:encrypted',
      id: 'h1encrypted',
      file: { url: 'mxc://authmedia.test/h1Media', ...secrets },
      mimetype: 'text/plain',
    });
    assert.equal(reg.ok, true, JSON.stringify(reg));
    const pending = page.evaluate((u) => t.fetch(u), reg.url);
    await waitUntil(() => hs.held.length === 1, { timeoutMs: 15_000, what: "the worker's /versions request" });
    assert.ok(hs.requests.some((r) => r.path === '/_matrix/client/versions' && r.headers.authorization === `Bearer ${token}`), 'non-vacuous: the session was in use');
    assert.equal((await page.evaluate(() => t.logout())).ok, true);
    for (const release of hs.held.splice(0)) release();
    const answer = await pending;
    const media = hs.requests.filter((r) => r.path.includes('/h1Media'));
    console.log(`# (h1) answer ${answer.status} ${answer.text.slice(0, 100)}; media requests ${media.length}, with the token ${withToken({ requests: media }, token).length}`);
    assert.deepEqual(withToken({ requests: media }, token).map((r) => `${r.method} ${r.url}`), [], 'the ciphertext download went out with the token after logout');
    assert.equal(answer.status, 502, JSON.stringify(answer));
    assert.equal(JSON.parse(answer.text).authmedia_code, 'cancelled');
    assert.equal(answer.headers['authmedia-code'], 'cancelled');
    assert.ok(!answer.text.includes('secret attachment'));
  } finally {
    for (const release of hs.held.splice(0)) release();
    await page.close();
    await server.close();
    await hs.close();
  }
});

test('(h2) navigations to media and encrypted URLs are never answered with the token (same tab, an opener of another origin, an iframe)', { timeout: 120_000 }, async () => {
  const hs = await fakeHomeserver();
  const server = await workerSite();
  const attacker = await startStaticServer({ root: WORKER_PAGES });
  const token = `h2-token-${fresh()}`;
  const page = await controlledTab(server);
  try {
    await page.evaluate((s) => t.setSession(s, 'v1'), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    // Non-vacuous: a fetch() of media from this tab does carry the token.
    const control = await page.evaluate((u) => t.fetch(u), hs.url('/_matrix/client/v1/media/download/authmedia.test/h2control'));
    assert.equal(control.status, 200);
    assert.equal(hs.requests.find((r) => r.path.endsWith('/h2control') && r.method === 'GET')?.headers.authorization, `Bearer ${token}`);
    const { secrets } = encryptAttachment(Buffer.from('h2 plaintext'));
    const reg = await page.evaluate((m) => t.raw(m), { type: 'authmedia:encrypted', id: 'h2enc', file: { url: 'mxc://authmedia.test/h2EncMedia', ...secrets }, mimetype: 'text/html' });
    assert.equal(reg.ok, true);

    // An iframe of the app loading a media URL (and the encrypted URL).
    await page.evaluate(([a, b]) => {
      for (const src of [a, b]) {
        const f = document.createElement('iframe');
        f.src = src;
        document.body.append(f);
      }
    }, [hs.url('/_matrix/client/v1/media/download/authmedia.test/h2iframe'), reg.url]);
    await hs.waitFor((r) => r.path.endsWith('/h2iframe'));

    // An opener of another origin: it opened the app and sets `w.location` to media of its choosing.
    const evil = await browser.context.newPage();
    await evil.goto(attacker.url('/index.html'));
    await evil.evaluate((u) => {
      const b = document.createElement('button');
      b.id = 'open';
      b.textContent = 'open the app';
      b.onclick = () => { window.app = window.open(u); };
      document.body.prepend(b);
    }, server.url('/index.html'));
    const [popup] = await Promise.all([browser.context.waitForEvent('page'), evil.click('#open')]);
    await popup.waitForLoadState('load');
    await popup.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
    await popup.evaluate((s) => t.setSession(s, 'v1'), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    await evil.evaluate((u) => { window.app.location = u; }, hs.url('/_matrix/client/v1/media/download/other.server/h2opener'));
    await hs.waitFor((r) => r.path.endsWith('/h2opener'));

    // The same tab navigating itself: to the media URL, then (new tab) to the encrypted URL.
    const nav = await controlledTab(server);
    await nav.evaluate((s) => t.setSession(s, 'v1'), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    await Promise.all([nav.waitForEvent('load'), nav.evaluate((u) => { setTimeout(() => { location.href = u; }, 0); }, hs.url('/_matrix/client/v1/media/download/authmedia.test/h2self'))]);
    await hs.waitFor((r) => r.path.endsWith('/h2self'));
    const nav2 = await controlledTab(server);
    await nav2.evaluate((s) => t.setSession(s, 'v1'), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    const reg2 = await nav2.evaluate((m) => t.raw(m), { type: 'authmedia:encrypted', id: 'h2enc2', file: { url: 'mxc://authmedia.test/h2EncMedia2', ...secrets }, mimetype: 'text/html' });
    const [response] = await Promise.all([nav2.waitForEvent('response', (r) => r.url() === reg2.url), nav2.evaluate((u) => { setTimeout(() => { location.href = u; }, 0); }, reg2.url)]);
    await nav2.waitForURL(reg2.url);
    await nav2.waitForLoadState('load');
    const shown = await nav2.evaluate(() => document.documentElement.innerText);

    const navigations = hs.requests.filter((r) => /\/h2(iframe|opener|self|EncMedia2?)$/.test(r.path));
    console.log(`# (h2) navigation requests at the homeserver: ${navigations.map((r) => `${r.method} ${r.path.split('/').pop()} auth=${r.headers.authorization ? 'yes' : 'no'}`).join(', ')}; encrypted navigation answered ${response.status()} by the network`);
    assert.deepEqual(withToken({ requests: navigations }, token).map((r) => `${r.method} ${r.path}`), [], 'a navigation carried the token');
    // The encrypted URLs were never downloaded for a navigation (nothing decrypted into a document).
    assert.deepEqual(navigations.filter((r) => r.path.includes('EncMedia')).map((r) => r.path), []);
    assert.equal(response.fromServiceWorker(), false, 'the worker answered a navigation to an encrypted URL');
    assert.ok(!shown.includes('h2 plaintext'));
    await Promise.all([nav.close(), nav2.close(), popup.close(), evil.close()]);
  } finally {
    await page.close();
    await attacker.close();
    await server.close();
    await hs.close();
  }
});

test('(h3) a garbage token claiming @alice gets nothing alice fetched; one account\'s logout leaves another\'s cache alone', { timeout: 120_000 }, async () => {
  const server = await workerSite();
  const tabA = await controlledTab(server);
  const liar = await browser.context.newPage();
  try {
    await liar.goto(server.url('/index.html'));
    await liar.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
    const url = mx.mediaUrl(base(), world.media.png64.mxc, { filename: `h3-${fresh()}.png` });
    await tabA.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: alice().accessToken, userId: alice().userId });
    const a = await tabA.evaluate((u) => t.fetch(u), url);
    assert.equal(a.status, 200, 'alice loads her image');
    await liar.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: `garbage-${fresh()}`, userId: alice().userId });
    const l = await liar.evaluate((u) => t.fetch(u), url);
    console.log(`# (h3) alice ${a.status} (${a.length} bytes); a garbage token claiming alice: ${l.status} (${l.length} bytes) ${l.text.slice(0, 80)}`);
    assert.equal(l.status, 401, 'a tab with a garbage token received a body fetched with alice\'s token');
    assert.equal(JSON.parse(l.text).errcode, 'M_UNKNOWN_TOKEN');

    // Two accounts claiming the same (empty) user id: bob's logout must not purge alice's cache.
    const anonA = await controlledTab(server);
    const anonB = await controlledTab(server);
    await anonA.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: alice().accessToken, userId: '' });
    await anonB.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: bob().accessToken, userId: '' });
    const url2 = mx.mediaUrl(base(), world.media.png64.mxc, { filename: `h3b-${fresh()}.png` });
    assert.equal((await anonA.evaluate((u) => t.fetch(u), url2)).status, 200);
    assert.equal((await anonB.evaluate((u) => t.fetch(u), url2)).status, 200);
    const before = await anonA.evaluate(() => t.stats());
    assert.equal((await anonB.evaluate(() => t.logout())).ok, true);
    assert.equal((await anonA.evaluate((u) => t.fetch(u), url2)).status, 200);
    const afterStats = await anonA.evaluate(() => t.stats());
    console.log(`# (h3) after bob's logout: cacheHits ${before.cacheHits}→${afterStats.cacheHits}, upstream ${before.upstream}→${afterStats.upstream}`);
    assert.equal(afterStats.cacheHits, before.cacheHits + 1, 'alice\'s stored body went with bob\'s logout');
    assert.equal(afterStats.upstream, before.upstream);
    await Promise.all([anonA.close(), anonB.close()]);
  } finally {
    await tabA.close();
    await liar.close();
    await server.close();
  }
});

test('(h4) only the canonical URL goes upstream: no traversal in a file name, no access_token= or other unknown parameters', { timeout: 120_000 }, async () => {
  const hs = await fakeHomeserver();
  const server = await workerSite();
  const token = `h4-token-${fresh()}`;
  const page = await controlledTab(server);
  try {
    await page.evaluate((s) => t.setSession(s, 'v1'), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    const v1 = '/_matrix/client/v1/media';
    const asked = [
      `${v1}/download/authmedia.test/h4a/..%2F..%2F..%2F..%2F..%2Fv3%2Faccount%2Fwhoami`,
      `${v1}/download/authmedia.test/h4b/a%5Cb`,
      `${v1}/download/authmedia.test/h4c/a%00b`,
      `${v1}/download/authmedia.test/h4d?access_token=zzz&user_id=%40mallory%3Aevil&timeout_ms=7`,
      `${v1}/thumbnail/authmedia.test/h4e?method=crop&height=32&width=32&allow_remote=false&access_token=zzz`,
    ];
    for (const p of asked) await page.evaluate((u) => t.fetch(u), hs.url(p));
    const carried = withToken(hs, token).filter((r) => r.method === 'GET');
    console.log(`# (h4) sent with the token: ${carried.map((r) => r.url).join(' | ')}`);
    assert.deepEqual(carried.map((r) => r.url).sort(), [
      `${v1}/download/authmedia.test/h4d?timeout_ms=7`,
      `${v1}/thumbnail/authmedia.test/h4e?width=32&height=32&method=crop`,
    ]);
    // The traversal-looking ones went to the network as the page made them, without the token.
    for (const id of ['h4a', 'h4b', 'h4c']) {
      const got = hs.requests.filter((r) => r.path.includes(`/${id}/`));
      assert.ok(got.length >= 1, `${id} was not requested at all`);
      assert.deepEqual(withToken({ requests: got }, token), [], `${id} carried the token`);
    }
  } finally {
    await page.close();
    await server.close();
    await hs.close();
  }
  // Against Synapse: `access_token=` in the page's URL no longer makes the homeserver answer
  // 401 M_MISSING_TOKEN ("mixing" header and query), which the app would take for a revoked token.
  const server2 = await workerSite();
  const tab = await controlledTab(server2);
  try {
    await tab.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: alice().accessToken, userId: alice().userId });
    const url = `${mx.mediaUrl(base(), world.media.png64.mxc, { filename: `h4-${fresh()}.png` })}?access_token=zzz`;
    const r = await tab.evaluate((u) => t.fetch(u), url);
    assert.equal(r.status, 200, `${r.status} ${r.text.slice(0, 120)}`);
  } finally {
    await tab.close();
    await server2.close();
  }
});

test('(h5) logout() on a page no worker controlled yet reaches the worker holding the session: after its claim no request carries the token', { timeout: 180_000 }, async () => {
  const site = await startPageSite();
  const page = await browser.context.newPage();
  try {
    const session = await mx.login(base(), alice().userId, alice().password);
    const opts = { homeserver: base(), accessToken: session.accessToken, userId: alice().userId };
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await page.evaluate(async (o) => {
      const media = await window.am.AuthMedia.init(o);
      if (media.mode !== 'worker') await new Promise((r) => media.addEventListener('modechange', r, { once: true }));
    }, opts);
    const client = await cdp(page);
    await Promise.all([page.waitForEvent('load', { timeout: 30_000 }), client.send('Page.reload', { ignoreCache: true })]);
    await waitForPackage(page);
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller), null, 'a hard reload leaves the page uncontrolled');
    // Hold the SDK's claim request until after logout(), so that logout happens while the page
    // is still uncontrolled (the window in which the session sits only in the active worker).
    const info = await page.evaluate(async (o) => {
      const post = ServiceWorker.prototype.postMessage;
      window.heldClaims = [];
      ServiceWorker.prototype.postMessage = function (message, transfer) {
        if (message && message.type === 'authmedia:claim') {
          window.heldClaims.push([this, message]);
          return undefined;
        }
        return post.call(this, message, transfer);
      };
      const media = await window.am.AuthMedia.init(o);
      window.media = media;
      await new Promise((r) => setTimeout(r, 0));
      const mode = media.mode;
      await media.logout();
      ServiceWorker.prototype.postMessage = post;
      const controlled = new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
      for (const [worker, message] of window.heldClaims) {
        const channel = new MessageChannel();
        post.call(worker, message, [channel.port2]);
      }
      await controlled;
      return { mode, held: window.heldClaims.length, controlled: navigator.serviceWorker.controller !== null };
    }, opts);
    assert.deepEqual(info, { mode: 'fallback', held: 1, controlled: true });
    const marker = `timeout_ms=${7_000_000 + fresh()}`;
    const url = mx.mediaUrl(base(), world.media.png800.mxc, { kind: 'thumbnail', width: 48, height: 48, method: 'crop', extra: { timeout_ms: marker.split('=')[1] } });
    await page.evaluate((u) => new Promise((resolve) => {
      const img = new Image();
      img.onload = img.onerror = resolve;
      img.src = u;
    }), url);
    const users = await waitLogged(marker, 'the post-logout request in the Synapse log');
    console.log(`# (h5) after logout on an uncontrolled page and the claim: Synapse saw ${users.join(', ')}`);
    assert.ok(users.every((u) => u === 'None'), `a request after logout carried the token: ${users}`);
    await mx.logout(base(), session.accessToken);
  } finally {
    await page.close();
    await site.close();
  }
});

test('hardening: need-session and need-encrypted are answered to the SDK\'s own worker only', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmedia-evil-'));
  // Another service worker of the same origin (another registration): it asks every window for
  // the session and for an encrypted attachment's keys.
  writeFileSync(path.join(dir, 'evil-sw.js'), `
    self.addEventListener('install', () => self.skipWaiting());
    self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
    const ask = (client, message) => new Promise((resolve) => {
      const channel = new MessageChannel();
      const timer = setTimeout(() => resolve('no answer'), 3000);
      channel.port1.onmessage = (m) => { clearTimeout(timer); resolve(m.data); };
      client.postMessage(message, [channel.port2]);
    });
    self.addEventListener('message', (event) => {
      event.waitUntil((async () => {
        const clients = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' });
        const answers = [];
        for (const c of clients) {
          answers.push(await ask(c, { type: 'authmedia:need-session' }));
          answers.push(await ask(c, { type: 'authmedia:need-encrypted', id: event.data.id }));
        }
        event.ports[0].postMessage({ clients: clients.length, answers });
      })());
    });`);
  const site = await startPageSite({
    routes: {
      '/evil/evil-sw.js': (req, res) => res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(path.join(dir, 'evil-sw.js'))),
    },
  });
  const page = await browser.context.newPage();
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    const opts = { homeserver: base(), accessToken: alice().accessToken, userId: alice().userId };
    const { secrets } = encryptAttachment(Buffer.from('x'));
    const out = await page.evaluate(async ([o, file]) => {
      const media = await window.am.AuthMedia.init(o);
      if (media.mode !== 'worker') await new Promise((r) => media.addEventListener('modechange', r, { once: true }));
      const url = await media.srcEncrypted(file, { mimetype: 'image/png' });
      const id = url.split('/').pop();
      const reg = await navigator.serviceWorker.register('/evil/evil-sw.js', { scope: '/evil/' });
      const evil = reg.installing || reg.waiting || reg.active;
      if (evil.state !== 'activated') await new Promise((r) => evil.addEventListener('statechange', () => evil.state === 'activated' && r()));
      const channel = new MessageChannel();
      const answer = new Promise((r) => { channel.port1.onmessage = (m) => r(m.data); });
      evil.postMessage({ id }, [channel.port2]);
      return { evil: await answer, id };
    }, [opts, { url: world.media.png64.mxc, ...secrets }]);
    const text = JSON.stringify(out.evil);
    console.log(`# hardening: another worker of the origin asked ${out.evil.clients} window(s): ${text.slice(0, 200)}`);
    assert.ok(out.evil.clients >= 1, 'the other worker found no window to ask');
    assert.ok(!text.includes(alice().accessToken), 'the page gave its token to another service worker');
    assert.ok(!text.includes(secrets.key.k), 'the page gave an attachment key to another service worker');
    // Only "none", what silence would mean to any worker, without the wait.
    assert.deepEqual(out.evil.answers, out.evil.answers.map((_, i) => (i % 2 === 0 ? { session: null } : { file: null })));
  } finally {
    await page.close();
    await site.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hardening: a token the homeserver no longer knows (and no fresh one) purges the worker\'s media of that session', { timeout: 120_000 }, async () => {
  const server = await workerSite();
  const page = await controlledTab(server);
  try {
    const session = await mx.login(base(), alice().userId, alice().password);
    await page.evaluate((s) => t.setSession(s, 'v1'), { homeserver: base(), accessToken: session.accessToken, userId: alice().userId });
    const kept = mx.mediaUrl(base(), world.media.png64.mxc, { filename: `purge-${fresh()}.png` });
    assert.equal((await page.evaluate((u) => t.fetch(u), kept)).status, 200);
    const stored = await page.evaluate(() => t.stats());
    assert.ok(stored.storeEntries >= 1, JSON.stringify(stored));
    // Logged out on another device: the token is dead, the tab has no fresh one.
    await mx.logout(base(), session.accessToken);
    await page.evaluate(() => t.setFreshToken(null));
    const other = mx.mediaUrl(base(), world.media.png64.mxc, { filename: `purge-other-${fresh()}.png` });
    const rejected = await page.evaluate((u) => t.fetch(u), other);
    assert.equal(rejected.status, 401);
    const after = await page.evaluate(() => t.stats());
    const again = await page.evaluate((u) => t.fetch(u), kept);
    console.log(`# hardening: store ${stored.storeEntries}→${after.storeEntries} entries after M_UNKNOWN_TOKEN; the kept image now ${again.status}`);
    assert.equal(after.storeEntries, 0, 'media of a revoked session stayed readable in the worker');
    assert.equal(again.status, 401, 'the revoked session still read its stored image');
  } finally {
    await page.close();
    await server.close();
  }
});

test('hardening: download() object URLs are revoked by logout(), not only by their timer', { timeout: 120_000 }, async () => {
  const site = await startPageSite();
  const page = await browser.context.newPage();
  try {
    await page.goto(`http://${INSECURE_HOST}:${site.port}/`);
    await waitForPackage(page);
    const out = await page.evaluate(async ([o, mxc]) => {
      const media = await window.am.AuthMedia.init(o);
      const create = URL.createObjectURL;
      const made = [];
      URL.createObjectURL = (b) => {
        const u = create.call(URL, b);
        made.push(u);
        return u;
      };
      await media.download(mxc, 'x.png');
      URL.createObjectURL = create;
      const readable = async (u) => fetch(u).then((r) => r.ok, () => false);
      const before = await Promise.all(made.map(readable));
      await media.logout();
      const after = await Promise.all(made.map(readable));
      return { mode: media.mode, made: made.length, before, after };
    }, [{ homeserver: base(), accessToken: alice().accessToken, userId: alice().userId }, world.media.png64.mxc]);
    console.log(`# hardening: download() in ${out.mode}: ${out.made} object URL(s), readable before logout ${out.before}, after ${out.after}`);
    assert.equal(out.mode, 'fallback');
    assert.ok(out.made >= 1 && out.before.every(Boolean), JSON.stringify(out));
    assert.deepEqual(out.after, out.after.map(() => false), 'a download URL outlived logout()');
  } finally {
    await page.close();
    await site.close();
  }
});

test('the entry script answers exactly the core\'s media destinations', () => {
  const core = readFileSync(path.join(REPO_ROOT, 'crates', 'core', 'src', 'gate.rs'), 'utf8');
  const js = readFileSync(path.join(REPO_ROOT, 'sw', 'authmedia-sw.js'), 'utf8');
  const list = (text, re) => JSON.parse(`[${re.exec(text)?.[1].replace(/'/g, '"')}]`);
  const fromCore = list(core, /MEDIA_DESTINATIONS: \[&str; \d+\] = \[([^\]]*)\]/);
  const fromJs = list(js, /const MEDIA_DESTINATIONS = \[([^\]]*)\]/);
  assert.ok(fromCore.includes('image') && fromCore.includes(''), JSON.stringify(fromCore));
  assert.deepEqual(fromJs, fromCore);
});
