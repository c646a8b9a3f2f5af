/**
 * Token safety of the npm package (page SDK + its service worker), headless Chromium against the
 * real Synapse, each rule in worker mode (http://127.0.0.1:PORT, a secure context: the worker
 * controls the page) and in fallback mode (http://authmedia.test:PORT mapped to 127.0.0.1: an
 * insecure context without service workers, so blob: URLs) where it applies.
 *
 * The access token never reaches:
 *   (a) another origin — media-looking paths (v1 and legacy v3) on another origin loaded with
 *       <img>, fetch(), mount() and a src() result get no Authorization there;
 *   (b) the media's server_name when it is not the user's homeserver — mxc://127.0.0.1:<recorder>/…
 *       is fetched from the user's homeserver (federation is the homeserver's job), never from
 *       that server name;
 *   (c) any URL — no token (and no `access_token=`) in src()/httpUrl() results, the DOM after
 *       mount(), blob: URLs, error messages, any request the browser made, the recorders saw or
 *       Synapse logged;
 *   (d) a cross-origin redirect target — a homeserver answering 307/308 to a CDN origin: the CDN
 *       never sees Authorization (worker and fallback, src(), download() and an encrypted
 *       attachment's ciphertext);
 *   (e) any request after logout — including requests queued behind the fallback's concurrency
 *       limit when logout() is called, and media requests (the worker's upstream fetches, or the
 *       fallback's) still waiting in the browser's connection queue, and (worker) a media request
 *       still waiting for the worker's own /versions answer; object URLs are revoked;
 *   (f) a tab of another account — two tabs, two users, one worker: each tab's media carries its
 *       own token; a tab without a session sends none; one tab's logout leaves the other's token.
 * and (g) the blob fallback never serves active content inline: media uploaded as HTML, SVG with a
 *   script, JavaScript, XML, and HTML labelled image/png → a safe blob type, and no script runs
 *   when the blob: URL is put in an <iframe>, an <object> or opened as a page (a control blob of
 *   type text/html built by the test does run, so the detector works). What the worker answers for
 *   such media (no blob involved) is printed; its answers for active types must carry
 *   `X-Content-Type-Options: nosniff` and a `sandbox` CSP.
 *
 * "Carries a token" is checked where the request arrives: recorders (tests/lib/recorder.mjs) record
 * Authorization headers and preflights announcing one; Synapse's access log names the user of each
 * request ({@alice:…} or {None}).
 */
import { test as nodeTest, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startRecorder, PIXEL_PNG } from '../lib/recorder.mjs';
import { encryptAttachment } from '../harness/encrypted.mjs';
import { startStaticServer } from '../../support/static-server.mjs';
import { REPO_ROOT } from '../../support/synapse.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { waitUntil } from '../../support/procs.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

const INSECURE_HOST = 'authmedia.test';
/** AUTHMEDIA_ONLY=<text>: run only the tests whose name contains it (debugging aid). */
const ONLY = process.env.AUTHMEDIA_ONLY;
const test = (name, opts, fn) => nodeTest(name, { ...opts, skip: ONLY && !name.includes(ONLY) ? `AUTHMEDIA_ONLY=${ONLY}` : false }, fn);
const MODES = ['worker', 'fallback'];
/** The worker test page (it speaks the worker's protocol itself) and the built worker. */
const WORKER_PAGES = path.join(REPO_ROOT, 'tests', 'pages', 'worker');
const SW_DIST = path.join(REPO_ROOT, 'sw', 'dist');

let world;
let site;
let browser;
let consoleLines;
/** Every request the browser made (pages and the worker), as "METHOD URL". */
const browserRequests = [];
let unique = 0;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
  consoleLines = collectConsole(browser.page);
  browser.context.on('request', (r) => browserRequests.push(`${r.method()} ${r.url()}`));
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const alice = () => world.users.alice;
const bob = () => world.users.bob;
const base = () => world.synapse.baseUrl;

/**
 * Where the Synapse log stood when the current test began: other test files of the run share this
 * Synapse, and may have asked for the same media at the same size (a needle matches their lines).
 */
let logFrom = 0;
beforeEach(() => {
  logFrom = statSync(world.synapse.logFile).size;
});

/** Synapse access-log lines of the current test whose request line contains `needle`. */
function loggedLines(needle) {
  return readFileSync(world.synapse.logFile)
    .subarray(logFrom)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.includes('Processed request') && l.includes(needle));
}
/** The users Synapse logged for requests containing `needle` ("@alice:…" or "None"). */
const loggedUsers = (needle) => loggedLines(needle).map((l) => /\{(@[^}]+|None)\}/.exec(l)?.[1] ?? '?');

/** A thumbnail size no other request used (defeats every cache and makes the URL unique). */
function freshSize() {
  unique += 1;
  return 40 + unique;
}

/** A new tab on the test page in `mode`, with AuthMedia initialised as window.media. */
async function openTab(mode, opts) {
  const page = await browser.context.newPage();
  const lines = collectConsole(page);
  const origin = mode === 'worker' ? site.url('') : `http://${INSECURE_HOST}:${site.port}`;
  await page.goto(`${origin.replace(/\/$/, '')}/`);
  await waitForPackage(page);
  await page.evaluate(() => {
    window.pwned = [];
    window.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && e.data.startsWith('pwned')) window.pwned.push(e.data);
    });
  });
  if (opts) await initTab(page, mode, opts);
  return Object.assign(page, { lines });
}

async function initTab(page, mode, opts) {
  await page.evaluate(async (opts) => {
    window.media = await window.am.AuthMedia.init(opts);
    window.errors = [];
    window.media.addEventListener('error', (e) => window.errors.push(String(e.detail.error?.message ?? '') + ' ' + String(e.detail.error?.code ?? '')));
  }, opts);
  if (mode === 'worker') {
    await page.waitForFunction(() => window.media.mode === 'worker', null, { timeout: 30_000 });
  }
  assert.equal(await page.evaluate(() => window.media.mode), mode);
}

const sessionOf = (user, extra = {}) => ({ homeserver: base(), accessToken: user.accessToken, userId: user.userId, ...extra });

/** Loads `url` in an <img>; resolves {loaded, w}. */
function loadImage(page, url) {
  return page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const img = new Image();
        img.onload = () => resolve({ loaded: true, w: img.naturalWidth });
        img.onerror = () => resolve({ loaded: false, w: 0 });
        img.src = url;
        document.body.append(img);
      }),
    url,
  );
}

/** A recorder posing as a homeserver: /versions answers v1.11, everything else the recorder's default. */
async function fakeHomeserver() {
  const hs = await startRecorder();
  hs.route('/_matrix/client/versions', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(JSON.stringify({ versions: ['v1.11'] }));
  });
  return hs;
}

/** Requests at `rec` that carried `token` anywhere (headers or URL). */
const carrying = (rec, token) => rec.requests.filter((r) => JSON.stringify(r.headers).includes(token) || r.url.includes(token));

for (const mode of MODES) {
  test(`(a) ${mode}: media-looking paths on another origin get no token (<img>, fetch, <video>, mount)`, { timeout: 120_000 }, async () => {
    const other = await startRecorder();
    const page = await openTab(mode, sessionOf(alice()));
    try {
      const paths = [
        '/_matrix/client/v1/media/download/authmedia.test/elsewhereA',
        '/_matrix/client/v1/media/thumbnail/authmedia.test/elsewhereB?width=32&height=32&method=crop',
        '/_matrix/media/v3/download/authmedia.test/elsewhereC',
        '/_matrix/media/v3/thumbnail/authmedia.test/elsewhereD?width=32&height=32',
        '/_matrix/client/unstable/org.matrix.msc3916/media/download/authmedia.test/elsewhereE',
      ];
      for (const p of paths) assert.equal((await loadImage(page, other.url(p))).loaded, true, `<img> ${p}`);
      const fetched = await page.evaluate(async (u) => (await fetch(u)).status, other.url('/_matrix/client/v1/media/download/authmedia.test/elsewhereF'));
      assert.equal(fetched, 200);
      // A mounted element whose data-mxc names the other origin's host still goes to the homeserver,
      // and a plain <img>/<video> next to it pointing at the other origin stays tokenless.
      await page.evaluate(([v, i]) => {
        const root = document.getElementById('root');
        root.innerHTML = `<video src="${v}" preload="auto" muted></video><img src="${i}" alt="">`;
        window.media.mount(root);
      }, [other.url('/_matrix/client/v1/media/download/authmedia.test/elsewhereG'), other.url('/_matrix/client/v1/media/download/authmedia.test/elsewhereH')]);
      for (const id of ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H']) await other.waitFor((r) => r.path.endsWith(`/elsewhere${id}`));
      assert.deepEqual(other.withAuthorization(), [], 'a token reached the other origin');
      assert.deepEqual(carrying(other, alice().accessToken), []);
      // Non-vacuous: the SDK's own media (src() → <img>) did go to the homeserver with alice's token.
      const size = freshSize();
      const url = await page.evaluate(([mxc, s]) => window.media.src(mxc, { thumbnail: { width: s, height: s, method: 'crop' } }), [world.media.png800.mxc, size]);
      assert.equal((await loadImage(page, url)).loaded, true);
      const users = await waitUntil(() => { const u = loggedUsers(`width=${size}&height=${size}`); return u.length ? u : null; }, { timeoutMs: 10_000, what: 'the src() request in the Synapse log' });
      assert.deepEqual(users, [alice().userId]);
    } finally {
      await page.close();
      await other.close();
    }
  });

  test(`(b) ${mode}: media whose server_name is not the homeserver is fetched from the homeserver, never from that server`, { timeout: 120_000 }, async () => {
    const remote = await startRecorder();
    const page = await openTab(mode, sessionOf(alice()));
    try {
      const serverName = `127.0.0.1:${remote.port}`;
      const mxc = `mxc://${serverName}/remoteMedia${freshSize()}`;
      const out = await page.evaluate(async (mxc) => {
        const http = window.media.httpUrl(mxc);
        const thumb = window.media.httpUrl(mxc, { thumbnail: { width: 32, height: 32 } });
        let src = null;
        let error = null;
        try {
          src = await window.media.src(mxc);
        } catch (e) {
          error = e.code;
        }
        // Worker mode: the authenticated URL in an <img> (the worker adds the token). Fallback: the
        // blob: URL if src() gave one (a raw http URL would only go out without a token).
        const shown = src ?? (window.media.mode === 'worker' ? http : null);
        const img = shown === null ? 'none' : await new Promise((resolve) => {
          const i = new Image();
          i.onload = () => resolve('loaded');
          i.onerror = () => resolve('error');
          i.src = shown;
        });
        return { http, thumb, src, error, img };
      }, mxc);
      const hs = new URL(base());
      for (const u of [out.http, out.thumb]) {
        const url = new URL(u);
        assert.equal(url.origin, hs.origin, `${u} is not on the homeserver`);
        assert.ok(url.pathname.includes(`/${serverName}/`) || url.pathname.includes(`/${serverName.replace(':', '%3A')}/`), u);
      }
      if (mode === 'worker') assert.equal(new URL(out.src).origin, hs.origin);
      // Fallback: Synapse cannot reach that server (loopback is off limits for its federation), so
      // src() rejects with a coded error — after asking the homeserver, not the media's server.
      else assert.ok(out.src === null ? typeof out.error === 'string' && out.error.length > 0 : out.src.startsWith('blob:'), JSON.stringify(out));
      // The homeserver was asked (with alice's token) …
      const media = `/remoteMedia${mxc.split('remoteMedia')[1]}`;
      const users = await waitUntil(() => { const u = loggedUsers(media); return u.length ? u : null; }, { timeoutMs: 30_000, what: 'the remote media request in the Synapse log' });
      assert.ok(users.every((u) => u === alice().userId), `Synapse saw ${users}`);
      // … and nothing from the browser went to the media's server name, and the user's token
      // never arrived there (Synapse may try federation to it — with its own server signature).
      assert.deepEqual(browserRequests.filter((r) => r.includes(`//${serverName}/`)), [], 'the browser contacted the media server');
      assert.deepEqual(carrying(remote, alice().accessToken), [], 'the user token reached the media server');
      assert.deepEqual(remote.requests.filter((r) => /^Bearer /.test(r.headers.authorization ?? '')), []);
      console.log(`# (b) ${mode}: ${mxc} → ${out.http.slice(0, 90)}…; image ${out.img}${out.error ? ` (${out.error})` : ''}; requests at the media server: ${remote.requests.length}`);
    } finally {
      await page.close();
      await remote.close();
    }
  });

  test(`(c) ${mode}: the token appears in no URL: built, in the DOM, blob:, requested, logged`, { timeout: 180_000 }, async () => {
    const session = await mx.login(base(), alice().userId, alice().password);
    const token = session.accessToken;
    const other = await startRecorder();
    const page = await openTab(mode, sessionOf(alice(), { accessToken: token }));
    const logStart = readFileSync(world.synapse.logFile, 'utf8').length;
    const reqStart = browserRequests.length;
    try {
      const m = world.media;
      const builtUrls = await page.evaluate(async ([m, otherUrl]) => {
        const urls = [];
        const mxcs = [m.png64.mxc, m.png800.mxc, m.jpeg.mxc, m.gif.mxc, m.file.mxc, m.prefreezePng.mxc, `mxc://${m.png64.serverName}/missingMedia1`];
        for (const mxc of mxcs) {
          urls.push(window.media.httpUrl(mxc));
          urls.push(window.media.httpUrl(mxc, { filename: 'a b?c#d&access_token=x.png' }));
          urls.push(window.media.httpUrl(mxc, { thumbnail: { width: 96, height: 96, method: 'crop', animated: true } }));
          for (const o of [undefined, { thumbnail: { width: 32, height: 32 } }, { filename: 'n.png' }]) {
            try {
              urls.push(await window.media.src(mxc, o));
            } catch (e) {
              urls.push(`error ${e.code} ${e.message} ${JSON.stringify(e)}`);
            }
          }
        }
        const root = document.getElementById('root');
        root.className = 'col';
        root.innerHTML = mxcs.map((x, i) => `<img id="m${i}" data-mxc="${x}" data-width="32" data-height="32" alt=""><a data-mxc="${x}" data-filename="f${i}.bin">f</a>`).join('') +
          `<video data-mxc="${m.mp4.mxc}" muted preload="metadata"></video><img src="${otherUrl}" alt="">`;
        window.media.mount(root);
        return urls;
      }, [m, other.url('/_matrix/client/v1/media/download/authmedia.test/urlCheck')]);
      await page.waitForFunction(
        () => [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState)),
        null,
        { timeout: 60_000 },
      );
      const built = await page.evaluate(async (urls) => {
        const blobs = urls.filter((u) => u.startsWith('blob:'));
        const blobBodies = [];
        for (const b of blobs.slice(0, 5)) blobBodies.push((await (await fetch(b)).blob()).type);
        return { urls, dom: document.documentElement.outerHTML, blobs, blobBodies, errors: window.errors, stats: JSON.stringify(window.media.stats()) };
      }, builtUrls);
      await other.waitFor((r) => r.path.endsWith('/urlCheck'));
      const synapseText = readFileSync(world.synapse.logFile, 'utf8').slice(logStart);
      const requested = browserRequests.slice(reqStart);
      const places = {
        'src()/httpUrl() results': built.urls.join('\n'),
        'the DOM after mount()': built.dom,
        'error events': built.errors.join('\n'),
        'stats()': built.stats,
        'browser request URLs': requested.join('\n'),
        'recorder request URLs': other.requests.map((r) => r.url).join('\n'),
        'Synapse access log': synapseText,
      };
      for (const [where, text] of Object.entries(places)) {
        assert.ok(!text.includes(token), `the token appears in ${where}`);
        assert.ok(!/access_token=/.test(text.replace(/access_token%3Dx|access_token=x\.png/g, '')), `access_token= in ${where}`);
      }
      // Non-vacuous: URLs were built, mounted, requested, and Synapse served alice for them.
      assert.ok(built.urls.length >= 40, built.urls.length);
      assert.ok(requested.length > 0 && synapseText.includes(`{${alice().userId}}`), 'nothing was requested with the token');
      if (mode === 'fallback') assert.ok(built.blobs.length >= 10 && built.blobs.every((b) => /^blob:http:\/\/authmedia\.test:\d+\/[0-9a-f-]{36}$/.test(b)), JSON.stringify(built.blobs.slice(0, 3)));
      else assert.ok(built.urls.filter((u) => u.startsWith(base())).length >= 40);
      console.log(`# (c) ${mode}: ${built.urls.length} URLs built, ${requested.length} browser requests, ${synapseText.split('\n').filter((l) => l.includes('Processed request')).length} Synapse log lines: no token, no access_token=`);
    } finally {
      await page.close();
      await other.close();
    }
  });

  test(`(d) ${mode}: a 307/308 to another origin never carries the token (src(), download(), srcEncrypted())`, { timeout: 120_000 }, async () => {
    const cdn = await startRecorder();
    const hs = await fakeHomeserver();
    const token = `redirect-test-token-${mode}`;
    hs.redirect('/_matrix/client/v1/media/download/authmedia.test/r307', (u) => cdn.url(`/cdn307${u.pathname}${u.search}`), 307);
    hs.redirect('/_matrix/client/v1/media/thumbnail/authmedia.test/r308', (u) => cdn.url(`/cdn308${u.pathname}${u.search}`), 308);
    hs.redirect('/_matrix/client/v1/media/download/authmedia.test/rdl', (u) => cdn.url(`/cdndl${u.pathname}`), 307);
    // A chain: homeserver → homeserver (same origin, keeps the token) → CDN.
    hs.redirect('/_matrix/client/v1/media/download/authmedia.test/rchain', (u) => hs.url(`/_matrix/client/v1/media/download/authmedia.test/r307chain${u.search}`), 307);
    // An encrypted attachment whose ciphertext the homeserver redirects to the CDN.
    const { ciphertext, secrets } = encryptAttachment(PIXEL_PNG);
    hs.redirect('/_matrix/client/v1/media/download/authmedia.test/renc', (u) => cdn.url(`/cdnenc${u.pathname}`), 307);
    cdn.route('/cdnenc/', (req, res) => {
      res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream', 'Content-Length': String(ciphertext.length), 'Cache-Control': 'no-store' }).end(ciphertext);
    });
    const page = await openTab(mode, { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    try {
      const shown = await page.evaluate(async (secrets) => {
        const out = [];
        for (const [mxc, o] of [
          ['mxc://authmedia.test/r307', undefined],
          ['mxc://authmedia.test/r308', { thumbnail: { width: 32, height: 32 } }],
          ['mxc://authmedia.test/rchain', undefined],
        ]) {
          const img = new Image();
          img.src = await window.media.src(mxc, o);
          await img.decode();
          out.push(img.naturalWidth);
        }
        const img = new Image();
        img.src = await window.media.srcEncrypted({ url: 'mxc://authmedia.test/renc', ...secrets }, { mimetype: 'image/png' });
        await img.decode();
        out.push(img.naturalWidth);
        return out;
      }, secrets);
      assert.deepEqual(shown, [1, 1, 1, 1], 'the redirected images load (the last one encrypted)');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.evaluate(() => window.media.download('mxc://authmedia.test/rdl', 'x.png'))]);
      assert.equal(download.suggestedFilename(), 'x.png');
      for (const p of ['/cdn307/', '/cdn308/', '/cdndl/', '/cdnenc/']) await cdn.waitFor((r) => r.method === 'GET' && r.path.startsWith(p));
      assert.deepEqual(cdn.withAuthorization(), [], 'the token followed a cross-origin redirect');
      assert.deepEqual(carrying(cdn, token), []);
      // Non-vacuous: the homeserver got the token on the first hop (and on the same-origin hop).
      const authed = hs.withAuthorization().filter((r) => r.method === 'GET').map((r) => r.path.split('/'));
      for (const id of ['r307', 'r308', 'rchain', 'r307chain', 'rdl', 'renc']) assert.ok(authed.some((segs) => segs.includes(id)), `the homeserver got no token for ${id}: ${authed.map((x) => x.at(-1))}`);
      assert.ok(hs.requests.every((r) => !r.url.includes(token)) && cdn.requests.every((r) => !r.url.includes(token)), 'token in a URL');
    } finally {
      await page.close();
      await cdn.close();
      await hs.close();
    }
  });

  test(`(e) ${mode}: after logout() no request carries the token, queued ones included; object URLs revoked`, { timeout: 120_000 }, async () => {
    const hs = await fakeHomeserver();
    const token = `logout-test-token-${mode}`;
    // Media answers are held until released, so requests pile up behind them.
    const held = [];
    let holding = true;
    hs.route('/_matrix/client/v1/media/', async (req, res) => {
      // One held answer (one connection): the others pass, and the marker below is not stuck
      // behind HTTP/1.1's six connections per host.
      if (holding && req.method === 'GET' && req.url.includes('held0')) await new Promise((r) => held.push(r));
      res.writeHead(200, { 'Content-Type': 'image/png', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));
    });
    hs.route('/marker', (req, res) => res.writeHead(204, { 'Access-Control-Allow-Origin': '*' }).end());
    const page = await openTab(mode, { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test', concurrency: 1 });
    try {
      // Before: an image, and (fallback) its object URL.
      const before = await page.evaluate(async () => {
        const u = await window.media.src('mxc://authmedia.test/before1');
        const img = new Image();
        img.src = u;
        await img.decode();
        return u;
      });
      // Queue: 8 mounted images; the first answers are held, the rest wait behind them.
      await page.evaluate(() => {
        const root = document.getElementById('root');
        root.innerHTML = Array.from({ length: 8 }, (_, i) => `<img data-mxc="mxc://authmedia.test/held${i}" alt="" style="width:10px;height:10px">`).join('');
        window.media.mount(root);
      });
      await waitUntil(() => held.length > 0, { timeoutMs: 15_000, what: 'a held media request' });
      // Worker mode: the worker forwards every element's request at once; wait until all but the
      // held one have arrived, so that what follows logout() is attributable (fallback: the others
      // wait in the SDK's queue, concurrency 1, and must never be sent).
      if (mode === 'worker') {
        for (let i = 1; i < 8; i += 1) await hs.waitFor((r) => r.method === 'GET' && r.path.endsWith(`/held${i}`));
      }
      // The marker orders the recorder's log: everything after it was sent after logout() started.
      await page.evaluate(async (origin) => {
        await fetch(`${origin}/marker`);
        await window.media.logout();
      }, hs.origin);
      const markerAt = hs.requests.findIndex((r) => r.path === '/marker');
      assert.ok(markerAt >= 0);
      holding = false;
      for (const release of held.splice(0)) release();
      // After: new URLs in <img> (worker mode: the worker was told), fetch, src() refused.
      const afterOut = await page.evaluate(async ([origin, before]) => {
        const http = `${origin}/_matrix/client/v1/media/download/authmedia.test/after1`;
        const img = await new Promise((resolve) => {
          const i = new Image();
          i.onload = () => resolve('loaded');
          i.onerror = () => resolve('error');
          i.src = http;
        });
        const f = await fetch(`${origin}/_matrix/client/v1/media/thumbnail/authmedia.test/after2?width=32&height=32`).then((r) => r.status, () => 'failed');
        let src = null;
        try {
          await window.media.src('mxc://authmedia.test/after3');
        } catch (e) {
          src = e.code;
        }
        // The old object URL is revoked (Chromium applies revocation asynchronously: probe, bounded).
        let revoked = !before.startsWith('blob:');
        for (const t0 = performance.now(); !revoked && performance.now() - t0 < 5000; ) {
          revoked = await fetch(before).then(() => false, () => true);
          if (!revoked) await new Promise((r) => requestAnimationFrame(r));
        }
        return { img, f, src, revoked, stats: window.media.stats().fallback };
      }, [hs.origin, before]);
      await hs.waitFor((r) => r.path.endsWith('/after1'));
      await hs.waitFor((r) => r.path.endsWith('/after2'));
      const after = hs.requests.slice(markerAt + 1);
      const leaked = after.filter((r) => r.headers.authorization !== undefined || String(r.headers['access-control-request-headers'] ?? '').toLowerCase().includes('authorization'));
      assert.deepEqual(leaked.map((r) => `${r.method} ${r.path}`), [], 'requests after logout carried the token');
      assert.deepEqual(carrying({ requests: after }, token), []);
      assert.equal(afterOut.src, 'logged_out');
      assert.equal(afterOut.revoked, true, 'the old object URL still resolves');
      assert.equal(afterOut.stats.objectUrls, 0);
      // Non-vacuous: before logout the token did go out.
      assert.ok(hs.requests.slice(0, markerAt).some((r) => r.headers.authorization === `Bearer ${token}`));
      console.log(`# (e) ${mode}: ${markerAt} requests before logout (token), ${after.length} after (none with it); after logout: <img> ${afterOut.img}, fetch ${afterOut.f}`);
    } finally {
      for (const release of held.splice(0)) release();
      await page.close();
      await hs.close();
    }
  });

  for (const how of mode === 'worker' ? ['mount', 'img'] : ['mount'])
  test(`(e) ${mode}: requests the browser still holds in its connection queue at logout() do not go out with the token (${how === 'mount' ? 'mounted elements' : "the app's own <img src=httpUrl()>"})`, { timeout: 120_000 }, async () => {
    // Six held answers occupy HTTP/1.1's six connections to the homeserver; two more media
    // requests (with the token) wait in the browser's connection queue. Then logout(): the queued
    // requests must be cancelled (the browser reports them failed), and once the held answers are
    // released they must not reach the homeserver with the token.
    const hs = await fakeHomeserver();
    const token = `queued-test-token-${mode}`;
    const held = [];
    let holding = true;
    hs.route('/_matrix/client/v1/media/', async (req, res) => {
      if (holding && req.method === 'GET') await new Promise((r) => held.push(r));
      res.writeHead(200, { 'Content-Type': 'image/png', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));
    });
    const page = await openTab(mode, { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test', concurrency: 12 });
    try {
      await page.evaluate((how) => {
        const root = document.getElementById('root');
        if (how === 'mount') {
          root.innerHTML = Array.from({ length: 8 }, (_, i) => `<img data-mxc="mxc://authmedia.test/queued${i}" alt="" style="width:10px;height:10px">`).join('');
          window.media.mount(root);
        } else {
          for (let i = 0; i < 8; i += 1) {
            const img = new Image();
            img.src = window.media.httpUrl(`mxc://authmedia.test/queued${i}`);
            root.append(img);
          }
        }
      }, how);
      await waitUntil(() => held.length === 6, { timeoutMs: 15_000, what: 'six held media requests' });
      const arrived = () => new Set(hs.requests.filter((r) => r.method === 'GET' && r.path.includes('/queued')).map((r) => r.path.split('/').pop()));
      const before = arrived();
      assert.equal(before.size, 6, `six requests arrived: ${[...before]}`);
      const queued = [...Array(8).keys()].map((i) => `queued${i}`).filter((id) => !before.has(id));
      // The requests in the connection queue are the worker's own upstream fetches in worker mode
      // (the page's requests go to the worker, not to the network), the page's in the fallback.
      // Only their failure counts: the page's cancelled <img> loads fail at once in worker mode,
      // before the worker has aborted anything.
      const failed = new Set();
      const onFailed = (r) => {
        const id = /\/(queued\d+)(\?|$)/.exec(r.url())?.[1];
        if (id && (r.serviceWorker() !== null) === (mode === 'worker')) failed.add(id);
      };
      browser.context.on('requestfailed', onFailed);
      await page.evaluate(() => window.media.logout());
      // An abort reaches the browser's network layer asynchronously: release the held answers only
      // once the browser reported every queued request cancelled (they never are if nothing aborts
      // them, and the test fails here) and, in worker mode, the worker has no upstream fetch left.
      try {
        await waitUntil(() => queued.every((id) => failed.has(id)), { timeoutMs: 10_000, what: `the browser cancelling the queued requests ${queued} (${mode})` });
        if (mode === 'worker') {
          await waitUntil(async () => (await page.evaluate(async () => (await window.media.refreshStats()).worker?.inflight)) === 0, {
            timeoutMs: 10_000,
            what: 'the worker without upstream fetches in flight after logout',
          });
        }
      } finally {
        browser.context.off('requestfailed', onFailed);
      }
      const n0 = hs.requests.length;
      holding = false;
      for (const release of held.splice(0)) release();
      // Whatever the browser still sends for the other two after the release, it is sent after
      // logout: wait until every element settled (its load ended one way or another).
      await page.waitForFunction(() => [...document.querySelectorAll('img')].every((i) => i.complete), null, { timeout: 30_000 });
      const after = hs.requests.slice(n0);
      const late = after.filter((r) => r.path.includes('/queued'));
      const leaked = late.filter((r) => r.headers.authorization !== undefined || String(r.headers['access-control-request-headers'] ?? '').toLowerCase().includes('authorization'));
      console.log(`# (e) ${mode} connection queue: ${late.length} requests for the queued media after logout, ${leaked.length} with the token: ${leaked.map((r) => `${r.method} ${r.path.split('/').pop()}`).join(', ')}`);
      assert.deepEqual(leaked.map((r) => `${r.method} ${r.path}`), [], 'a request queued before logout went out with the token after it');
    } finally {
      holding = false;
      for (const release of held.splice(0)) release();
      await page.close();
      await hs.close();
    }
  });

  test(`(f) ${mode}: two tabs, two accounts, one tab without a session: each request carries its own tab's token`, { timeout: 120_000 }, async () => {
    const tabA = await openTab(mode, sessionOf(alice()));
    const tabB = await openTab(mode, sessionOf(bob()));
    const tabC = await openTab(mode); // no session at all (a login page)
    try {
      const load = async (tab, viaSrc) => {
        const s = freshSize();
        const url = viaSrc
          ? await tab.evaluate(([mxc, s]) => window.media.src(mxc, { thumbnail: { width: s, height: s, method: 'crop' } }), [world.media.png800.mxc, s])
          : mx.mediaUrl(base(), world.media.png800.mxc, { kind: 'thumbnail', width: s, height: s, method: 'crop' });
        const r = await loadImage(tab, url);
        const users = await waitUntil(() => { const u = loggedUsers(`width=${s}&height=${s}`); return u.length ? u : null; }, { timeoutMs: 10_000, what: `request ${s} in the Synapse log` });
        return { loaded: r.loaded, users };
      };
      const [a, b, c] = await Promise.all([load(tabA, true), load(tabB, true), load(tabC, false)]);
      assert.deepEqual(a, { loaded: true, users: [alice().userId] });
      assert.deepEqual(b, { loaded: true, users: [bob().userId] });
      assert.equal(c.loaded, false);
      assert.ok(c.users.every((u) => u === 'None'), `the tab without a session sent ${c.users}`);
      // Tab A logs out: B keeps its own token, A's and C's requests carry none.
      await tabA.evaluate(() => window.media.logout());
      const b2 = await load(tabB, true);
      assert.deepEqual(b2, { loaded: true, users: [bob().userId] });
      const a2 = await load(tabA, false);
      assert.ok(a2.users.every((u) => u === 'None'), `tab A after logout sent ${a2.users}`);
      const c2 = await load(tabC, false);
      assert.ok(c2.users.every((u) => u === 'None'), `the tab without a session sent ${c2.users}`);
      // B's worker URL works in B; the same URL in C goes out without a token.
      const s = freshSize();
      const bUrl = await tabB.evaluate(([mxc, s]) => window.media.httpUrl(mxc, { thumbnail: { width: s, height: s, method: 'crop' } }), [world.media.png800.mxc, s]);
      assert.equal((await loadImage(tabC, bUrl)).loaded, false);
      const cu = await waitUntil(() => { const u = loggedUsers(`width=${s}&height=${s}`); return u.length ? u : null; }, { timeoutMs: 10_000, what: 'C request' });
      assert.ok(cu.every((u) => u === 'None'), `tab C used someone's token: ${cu}`);
    } finally {
      await tabA.close();
      await tabB.close();
      await tabC.close();
    }
  });
}

test('(e) worker: a media request still waiting for the worker\'s own /versions at logout does not go out with the token afterwards', { timeout: 120_000 }, async () => {
  // The page SDK tells the worker the negotiated API with the session; without it (a tab speaking
  // the protocol itself, or after the negotiation's TTL) the worker asks /versions first and the
  // media request waits for that answer before its upstream fetch exists — logout's abort of the
  // running fetches cannot reach it. The worker test page sends a session without `api`.
  const hs = await startRecorder();
  const heldVersions = [];
  hs.route('/_matrix/client/versions', async (req, res) => {
    await new Promise((release) => heldVersions.push(release));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' }).end(JSON.stringify({ versions: ['v1.11'] }));
  });
  const server = await startStaticServer({ root: WORKER_PAGES, mounts: { '/dist/': SW_DIST } });
  const page = await browser.context.newPage();
  const token = 'versions-wait-test-token';
  try {
    await page.goto(server.url('/index.html'));
    await page.evaluate(() => t.register());
    await page.evaluate((s) => t.setSession(s), { homeserver: hs.origin, accessToken: token, userId: '@alice:authmedia.test' });
    const media = (r) => r.path.includes('/waiting');
    const pending = page.evaluate((u) => t.fetch(u), `${hs.origin}/_matrix/media/v3/download/authmedia.test/waiting`);
    await waitUntil(() => heldVersions.length === 1, { timeoutMs: 15_000, what: "the worker's /versions request" });
    // Non-vacuous: the session was in use (the worker's /versions carries the token).
    assert.ok(hs.requests.some((r) => r.path === '/_matrix/client/versions' && r.headers.authorization === `Bearer ${token}`));
    assert.deepEqual(hs.requests.filter(media), [], 'no media request before /versions is answered');
    assert.equal((await page.evaluate(() => t.logout())).ok, true);
    for (const release of heldVersions.splice(0)) release();
    // The worker answers only after whatever it sends upstream for this request.
    const answer = await pending;
    const leaked = hs.requests.filter(media).filter((r) => r.headers.authorization !== undefined || String(r.headers['access-control-request-headers'] ?? '').toLowerCase().includes('authorization'));
    console.log(`# (e) worker, /versions wait across logout: answer ${answer.status} ${answer.text.slice(0, 120)}; media requests ${hs.requests.filter(media).length}, with the token ${leaked.length}`);
    assert.deepEqual(leaked.map((r) => `${r.method} ${r.path}`), [], 'the waiting media request went out with the token after logout');
    assert.equal(answer.status, 502, JSON.stringify(answer));
    assert.equal(JSON.parse(answer.text).authmedia_code, 'cancelled');
  } finally {
    for (const release of heldVersions.splice(0)) release();
    await page.close();
    await server.close();
    await hs.close();
  }
});

/**
 * In the page: `url` in an iframe and in an object; resolves with what each reported (`load`,
 * `error`, or `no event` after 8 s — a download fires neither on some elements).
 */
const embedInIframeAndObject = (url) =>
  Promise.all(
    ['iframe', 'object'].map(
      (tag) =>
        new Promise((resolve) => {
          const el = document.createElement(tag);
          if (tag === 'iframe') el.src = url;
          else el.data = url;
          el.onload = () => resolve(`${tag} load`);
          el.onerror = () => resolve(`${tag} error`);
          document.body.append(el);
          setTimeout(() => resolve(`${tag} no event`), 8000);
        }),
    ),
  );

test('(g) the blob fallback never serves active content inline; what the worker answers for it', { timeout: 180_000 }, async () => {
  const token = alice().accessToken;
  const script = (tag) => `parent.postMessage('pwned:${tag}','*');top.postMessage('pwned:${tag}','*');try{localStorage.setItem('pwned','${tag}')}catch(e){}`;
  const uploads = {
    html: ['text/html', `<!doctype html><script>${script('html')}</script>`],
    svg: ['image/svg+xml', `<svg xmlns="http://www.w3.org/2000/svg" onload="${script('svg-onload')}"><script>${script('svg')}</script></svg>`],
    js: ['application/javascript', script('js')],
    xml: ['text/xml', `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>${script('xml')}</script></html>`],
    xhtml: ['application/xhtml+xml', `<html xmlns="http://www.w3.org/1999/xhtml"><body><script>${script('xhtml')}</script></body></html>`],
    lyingPng: ['image/png', `<!doctype html><script>${script('lying-png')}</script>`],
    plain: ['text/plain', `<!doctype html><script>${script('plain')}</script>`],
  };
  const mxcs = {};
  for (const [k, [type, body]] of Object.entries(uploads)) mxcs[k] = await mx.upload(base(), token, Buffer.from(body), type, `active.${k}`);

  // Fallback: blob types, and no script runs from the blob: URLs in an iframe, an object, a new page.
  const page = await openTab('fallback', sessionOf(alice()));
  try {
    const types = await page.evaluate(async (mxcs) => {
      const out = {};
      window.blobUrls = {};
      for (const [k, mxc] of Object.entries(mxcs)) {
        const u = await window.media.src(mxc);
        window.blobUrls[k] = u;
        out[k] = (await (await fetch(u)).blob()).type;
      }
      return out;
    }, mxcs);
    assert.deepEqual(types, {
      html: 'application/octet-stream',
      svg: 'application/octet-stream',
      js: 'application/octet-stream',
      xml: 'application/octet-stream',
      xhtml: 'application/octet-stream',
      lyingPng: 'image/png',
      plain: 'application/octet-stream',
    });
    /** Puts `url` in an iframe and an object; resolves once each loaded, errored or became a download. */
    const embed = async (url) => {
      // Whichever comes first: the browser turning it into a download (octet-stream), or both
      // elements reporting load/error (8 s bound per element for neither).
      const download = page.waitForEvent('download', { predicate: (d) => d.url() === url, timeout: 10_000 }).then(() => ['download'], () => null);
      // Downloads fire neither event on some elements: the page-side download event covers them.
      const events = page.evaluate(embedInIframeAndObject, url);
      events.catch(() => {});
      const first = await Promise.race([download.then((d) => d ?? events), events]);
      return first;
    };
    // Control: a text/html blob built here runs its script in an iframe: the detector works.
    const control = await page.evaluate((s) => URL.createObjectURL(new Blob([`<script>${s}</script>`], { type: 'text/html' })), script('control'));
    await embed(control);
    await page.waitForFunction(() => window.pwned.includes('pwned:control'), null, { timeout: 10_000 });
    const seen = {};
    for (const k of Object.keys(mxcs)) {
      const url = await page.evaluate((k) => window.blobUrls[k], k);
      seen[k] = (await embed(url)).join(', ');
    }
    // Opened as a page of its own (a user following the link).
    for (const k of ['html', 'svg', 'lyingPng']) {
      const url = await page.evaluate((k) => window.blobUrls[k], k);
      const tab = await browser.context.newPage();
      const dl = tab.waitForEvent('download', { timeout: 10_000 }).then(() => 'download', () => null);
      const nav = await tab.goto(url).then((r) => `navigated ${r?.headers()['content-type'] ?? ''}`, (e) => (/Download is starting/.test(e.message) ? 'download' : `error ${e.message.split('\n')[0]}`));
      seen[`${k} as a page`] = `${nav}${(await dl) ? ' (download)' : ''}`;
      const ran = await tab.evaluate(() => localStorage.getItem('pwned')).catch(() => null);
      assert.ok(ran === null || ran === 'control', `${k} ran as a page (${ran})`);
      await tab.close();
    }
    const pwned = await page.evaluate(() => window.pwned.filter((p) => p !== 'pwned:control'));
    const stored = await page.evaluate(() => localStorage.getItem('pwned'));
    console.log(`# (g) fallback: ${JSON.stringify(seen)}`);
    assert.deepEqual(pwned, [], `scripts ran from SDK blobs: ${JSON.stringify(seen)}`);
    assert.equal(stored, 'control', 'a script other than the control wrote localStorage');
  } finally {
    await page.close();
  }

  // Worker mode: what the worker answers for the same media (its response to a page fetch of the
  // authenticated URL: the type and the protective headers that reach the page).
  const wpage = await openTab('worker', sessionOf(alice()));
  try {
    const answers = await wpage.evaluate(async (mxcs) => {
      const out = {};
      for (const [k, mxc] of Object.entries(mxcs)) {
        const r = await fetch(await window.media.src(mxc));
        out[k] = {
          status: r.status,
          type: r.headers.get('content-type'),
          csp: r.headers.get('content-security-policy'),
          nosniff: r.headers.get('x-content-type-options'),
          disposition: r.headers.get('content-disposition'),
        };
      }
      return out;
    }, mxcs);
    // Synapse's own answer (read directly, as the worker cannot: these headers are not CORS-exposed).
    const direct = await fetch(mx.mediaUrl(base(), mxcs.html, {}), { headers: { Authorization: `Bearer ${token}` } });
    const synapseHeaders = {
      type: direct.headers.get('content-type'),
      csp: direct.headers.get('content-security-policy'),
      nosniff: direct.headers.get('x-content-type-options'),
      disposition: direct.headers.get('content-disposition'),
    };
    await direct.arrayBuffer();
    console.log(`# (g) worker answers: ${JSON.stringify(answers)}`);
    console.log(`# (g) Synapse's own headers for the HTML upload: ${JSON.stringify(synapseHeaders)}`);
    for (const [k, a] of Object.entries(answers)) assert.equal(a.status, 200, `${k}: ${JSON.stringify(a)}`);
    // The worker's answers only ever reach the page as subresources of the homeserver's URL
    // (navigations to the homeserver's origin never go through this origin's worker): an iframe
    // and an object pointing at the HTML media's URL run nothing.
    const url = await wpage.evaluate((mxc) => window.media.src(mxc), mxcs.html);
    const ev = await wpage.evaluate(embedInIframeAndObject, url);
    const pwned = await wpage.evaluate(() => window.pwned);
    console.log(`# (g) worker mode, the HTML media's URL in an iframe/object: ${ev.join(', ')}; scripts run: ${JSON.stringify(pwned)}`);
    assert.deepEqual(pwned, [], 'a script from the HTML media ran in worker mode');
  } finally {
    await wpage.close();
  }
});

test('(g) worker: its answers for active content carry X-Content-Type-Options: nosniff and a sandboxing CSP (or a safe type)', { timeout: 120_000 }, async () => {
  const token = alice().accessToken;
  const mxc = await mx.upload(base(), token, Buffer.from('<!doctype html><script>parent.postMessage("pwned:w","*")</script>'), 'text/html', 'w.html');
  const page = await openTab('worker', sessionOf(alice()));
  try {
    const a = await page.evaluate(async (mxc) => {
      const r = await fetch(await window.media.src(mxc));
      return { type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy'), nosniff: r.headers.get('x-content-type-options') };
    }, mxc);
    const safe = !/html|xml|svg|javascript/i.test(a.type ?? '');
    assert.ok(safe || (a.nosniff === 'nosniff' && /sandbox/.test(a.csp ?? '')), JSON.stringify(a));
  } finally {
    await page.close();
  }
});
