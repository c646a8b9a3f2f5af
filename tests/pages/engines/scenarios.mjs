/**
 * The same end-to-end scenarios in every engine: Chromium (playwright-core), Firefox ESR
 * (geckodriver) and WebKitGTK (WebKitWebDriver + MiniBrowser). tests/e2e/webkit.test.mjs runs them
 * in WebKit, tests/e2e/engines.test.mjs in Chromium and Firefox.
 *
 * API:
 *   fromPlaywright(name, browser)   an Engine over launchChromium()'s { page, close }
 *   fromWebDriver(name, session)    an Engine over a tests/lib/webdriver.mjs session
 *     Engine: { name, goto(url), run(body, ...args) → value of `async (args) => { body }`, close() }
 *   startEngineSite()               static server: this directory at "/", sw/dist at "/dist/",
 *                                   tests/pages/worker at "/worker/" (its page.js protocol helpers),
 *                                   tests/harness at "/harness/" (play-advancing.js)
 *   ensureWorkerBuilt()             runs scripts/build-sw.sh unless AUTHMEDIA_SKIP_SW_BUILD=1 and a build exists
 *   engineVideo(world)              uploads the 8 s mp4 every engine plays (see there) → { mxc, bytes, durationS, width, height }
 *   Scenarios (each asserts; `ctx` = { engine, world, site, video, fallbackVideo?, unique() }):
 *     workerImages(ctx, crossOrigin)        v1 download + thumbnail + frozen legacy v3 URL through the worker
 *     workerVideo(ctx, crossOrigin)         the 8 s mp4 (engineVideo) plays and seeks through the worker
 *     noTokenElsewhere(ctx, crossOrigin)    other origins with media-like paths; a 307 to a "CDN"
 *     navigationsUntouched(ctx)             a controlled page with a session navigating itself (and an
 *                                           iframe) to media URLs of its homeserver: no token on them
 *     fallbackUncontrolled(ctx, pageSite)   page SDK on a page no worker controls (workerUrl: null): images,
 *                                           ctx.fallbackVideo (default ctx.video) plays and seeks from a blob: URL
 *     fallbackForced(ctx, pageSite)         page SDK with fallback: 'force'
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mx from '../../../support/matrix.mjs';
import { startStaticServer } from '../../../support/static-server.mjs';
import { startRecorder } from '../../lib/recorder.mjs';
import { waitUntil } from '../../../support/procs.mjs';
import { PLAY_ADVANCING, logReplay } from '../../harness/play.mjs';

/** The worker's answer to an accepted session: the handshake gives its protocol and package version. */
const SESSION_OK = { ok: true, protocol: 1, version: JSON.parse(readFileSync(new URL('../../../npm/package.json', import.meta.url), 'utf8')).version };

/**
 * The video every engine plays in both `crossorigin` forms: the first 8 s of the world's mp4 fixture
 * (H.264 854×480, stream copy, about 2.2 MB), uploaded by alice. WebKitGTK asks for the rest of a
 * large file with a second Range request and gives up on a 200 answer ("Received unexpected 200 HTTP
 * status code for range request"): from a Range-ignoring server (Synapse, a plain static server) the
 * 24 s / 6.6 MB fixture fails with MEDIA_ERR_SRC_NOT_SUPPORTED while this cut plays. Through the
 * worker (206 answers) the 24 s fixture plays with `crossorigin` (webkit.test.mjs); without it, it
 * stalled after "playing" in WebKit (not investigated), hence this cut for the both-forms tests.
 * Cached in .local/fixtures/engines-8s.mp4.
 */
export async function engineVideo(world) {
  const file = path.join(REPO, '.local', 'fixtures', 'engines-8s.mp4');
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp.mp4`;
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', world.media.mp4.path, '-t', '8', '-c', 'copy', '-movflags', '+faststart', tmp]);
    renameSync(tmp, file);
  }
  const durationS = Number(
    execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file], { encoding: 'utf8' }).trim(),
  );
  const bytes = readFileSync(file);
  const mxc = await mx.upload(world.synapse.baseUrl, world.users.alice.accessToken, bytes, 'video/mp4', 'engines 8s.mp4');
  return { mxc, bytes: bytes.length, durationS, width: world.media.mp4.width, height: world.media.mp4.height, path: file };
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..', '..');
const DIST = path.join(REPO, 'sw', 'dist');

export function fromPlaywright(name, browser) {
  return {
    name,
    goto: (url) => browser.page.goto(url),
    run: (body, ...args) =>
      browser.page.evaluate(
        ([body, args]) => new (Object.getPrototypeOf(async () => {}).constructor)('args', body)(args),
        [body, args],
      ),
    close: () => browser.close(),
  };
}

export function fromWebDriver(name, session) {
  return {
    name,
    goto: (url) => session.navigate(url),
    // WebKit's Error#stack lacks the message: throw the message itself so failures say what happened.
    run: (body, ...args) =>
      session.evaluate(
        `try { return await (async () => { ${body}\n})(); } catch (err) { throw String((err && err.message) || err); }`,
        ...args,
      ),
    close: () => session.close(),
  };
}

export function ensureWorkerBuilt() {
  if (process.env.AUTHMEDIA_SKIP_SW_BUILD !== '1' || !existsSync(path.join(DIST, 'authmedia-sw.js'))) {
    execFileSync('bash', [path.join(REPO, 'scripts', 'build-sw.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

export function startEngineSite() {
  return startStaticServer({
    root: HERE,
    mounts: { '/dist/': DIST, '/worker/': path.join(REPO, 'tests', 'pages', 'worker'), '/harness/': path.join(REPO, 'tests', 'harness') },
  });
}

/** Synapse access-log lines whose request line contains `needle`. */
export function loggedLines(world, needle) {
  return readFileSync(world.synapse.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Processed request') && l.includes(needle));
}

/** The user Synapse logged for the first request containing `needle` ("None": no token). */
export async function loggedUser(world, needle) {
  const line = await waitUntil(() => loggedLines(world, needle)[0], { timeoutMs: 10_000, what: `Synapse log line for ${needle}` });
  const m = /\{(@[^}]+|None)\}/.exec(line);
  return m ? m[1] : null;
}

const label = (crossOrigin) => (crossOrigin === null ? 'no crossorigin' : `crossorigin=${crossOrigin}`);

function sessionOf(world, user) {
  return { homeserver: world.synapse.baseUrl, accessToken: user.accessToken, userId: user.userId };
}

/** Opens the engines page on `site`, registers the worker and waits until it controls the page. */
export async function openControlled({ engine, site }, session) {
  await engine.goto(site.url('/index.html'));
  assert.equal(await engine.run('return t.register()'), true);
  if (session) assert.deepEqual(await engine.run('return t.setSession(args[0])', session), SESSION_OK);
}

export async function workerImages(ctx, crossOrigin) {
  const { engine, world, site } = ctx;
  const alice = world.users.alice;
  await openControlled(ctx, sessionOf(world, alice));
  // The worker may outlive a test (one browser per file): compare its counters before and after.
  const before = await engine.run('return t.stats()');
  const base = world.synapse.baseUrl;
  const png = world.media.png800;
  const n = ctx.unique();
  const download = mx.mediaUrl(base, png.mxc, { filename: `${engine.name}-${n}.png` });
  const thumbnail = mx.mediaUrl(base, png.mxc, { kind: 'thumbnail', width: 96, height: 96, method: 'crop', extra: { timeout_ms: String(30000 + n) } });
  const legacy = mx.mediaUrl(base, world.media.png64.mxc, { api: 'legacy', filename: `${engine.name}-legacy-${n}.png` });
  const results = {};
  for (const [name, url] of Object.entries({ download, thumbnail, legacy })) {
    results[name] = await engine.run('return e.image(args[0], args[1])', url, crossOrigin);
    assert.equal(results[name].loaded, true, `${engine.name}, ${label(crossOrigin)}: ${name} ${url} did not render`);
    // With crossorigin the worker's answer must be CORS-same-origin (readable from a canvas). Without
    // it, engines differ: Chromium and WebKit leave the canvas readable, Firefox taints it.
    if (crossOrigin !== null) {
      assert.equal(results[name].canvasReadable, true, `${engine.name}, ${label(crossOrigin)}: ${name} taints the canvas`);
    }
  }
  assert.deepEqual([results.download.naturalWidth, results.download.naturalHeight], [png.width, png.height]);
  assert.deepEqual([results.thumbnail.naturalWidth, results.thumbnail.naturalHeight], [96, 96]);
  assert.equal(results.legacy.naturalWidth, world.media.png64.width);
  // Server side: each reached Synapse once, with alice's token; the legacy URL only as v1.
  assert.equal(await loggedUser(world, new URL(download).pathname), alice.userId);
  assert.equal(await loggedUser(world, `timeout_ms=${30000 + n}`), alice.userId);
  const legacyPath = new URL(legacy).pathname;
  assert.equal(await loggedUser(world, legacyPath.replace('/_matrix/media/v3/', '/_matrix/client/v1/media/')), alice.userId);
  assert.equal(loggedLines(world, legacyPath).length, 0, 'the browser never sent the frozen legacy URL');
  assert.equal(loggedLines(world, new URL(download).pathname).length, 1);
  const stats = await engine.run('return t.stats()');
  assert.equal(stats.authenticated - before.authenticated, 3);
  assert.equal(stats.upgraded - before.upgraded, 1);
  assert.equal(stats.refused - before.refused, 0);
  return results;
}

export async function workerVideo(ctx, crossOrigin) {
  const { engine, world } = ctx;
  const alice = world.users.alice;
  await openControlled(ctx, sessionOf(world, alice));
  const mp4 = ctx.video;
  const url = mx.mediaUrl(world.synapse.baseUrl, mp4.mxc, { filename: `${engine.name}-video-${ctx.unique()}.mp4` });
  const middle = mp4.durationS / 2;
  const v = await engine.run('return e.video(args[0], args[1], args[2])', url, crossOrigin, middle);
  const where = `${engine.name}, ${label(crossOrigin)}: ${JSON.stringify(v)}`;
  logReplay(`${engine.name}, ${label(crossOrigin)}`, v);
  assert.ok(v.playedTo > 0.2, `played: ${where}`);
  assert.ok(Math.abs(v.currentTime - middle) < 0.5, `seek landed: ${where}`);
  assert.ok(v.readyState >= 2, `data at the seek target: ${where}`);
  assert.ok(Math.abs(v.duration - mp4.durationS) < 1, `duration: ${where}`);
  assert.deepEqual([v.videoWidth, v.videoHeight], [mp4.width, mp4.height], where);
  // Whatever Range requests the engine made, Synapse saw one request for the body, with alice's token.
  const lines = loggedLines(world, new URL(url).pathname);
  assert.equal(lines.length, 1, `the video was downloaded exactly once (${engine.name}):\n${lines.join('\n')}`);
  assert.equal(await loggedUser(world, new URL(url).pathname), alice.userId);
  return v;
}

/**
 * Navigations are never answered by the worker: a controlled tab with alice's session sets
 * `location.href` to a v1 media URL of its own homeserver, and an iframe loads another. Synapse's
 * access log names the user of each request: both must be `None` (no token). A `fetch()` of a
 * third URL from the same tab is the control (alice).
 */
export async function navigationsUntouched(ctx) {
  const { engine, world } = ctx;
  const alice = world.users.alice;
  await openControlled(ctx, sessionOf(world, alice));
  const base = world.synapse.baseUrl;
  const n = ctx.unique();
  const url = (what) => mx.mediaUrl(base, world.media.png64.mxc, { filename: `${engine.name}-${what}-${n}.png` });
  const control = await engine.run('return t.fetch(args[0]).then((r) => r.status)', url('navcontrol'));
  assert.equal(control, 200);
  assert.equal(await loggedUser(world, `${engine.name}-navcontrol-${n}.png`), alice.userId, 'control: a fetch() carries the token');
  await engine.run(
    `const f = document.createElement('iframe');
     f.src = args[0];
     document.body.append(f);
     await new Promise((resolve) => { f.onload = resolve; });
     setTimeout(() => { location.href = args[1]; }, 0);
     return true;`,
    url('naviframe'),
    url('navself'),
  );
  for (const what of ['naviframe', 'navself']) {
    assert.equal(await loggedUser(world, `${engine.name}-${what}-${n}.png`), 'None', `${engine.name}: a navigation (${what}) carried the token`);
  }
}

export async function noTokenElsewhere(ctx, crossOrigin) {
  const { engine, world } = ctx;
  const recorder = await startRecorder();
  const cdn = await startRecorder();
  try {
    await openControlled(ctx, sessionOf(world, world.users.alice));
    const n = ctx.unique();
    // 1. Another loopback origin with media-like paths (v1 and legacy): not the homeserver, untouched.
    for (const p of [`/_matrix/client/v1/media/download/authmedia.test/elsewhere${n}`, `/_matrix/media/v3/thumbnail/authmedia.test/elsewhere${n}b?width=32&height=32`]) {
      const img = await engine.run('return e.image(args[0], args[1])', recorder.url(p), crossOrigin);
      assert.equal(img.loaded, true, `${engine.name}: ${p}`);
      await recorder.waitFor((r) => r.url === p);
    }
    assert.deepEqual(recorder.withAuthorization(), [], `${engine.name}, ${label(crossOrigin)}: no Authorization reached the other origin`);

    // 2. A homeserver whose media answers 307 to another origin: the token goes to the homeserver
    //    only; the browser drops it on the cross-origin redirect.
    recorder.redirect('/_matrix/client/v1/media/download/', (u) => cdn.url(`/cdn${u.pathname}`));
    const token = `secret-token-${engine.name}-${n}`;
    assert.deepEqual(
      await engine.run('return t.setSession(args[0])', { homeserver: recorder.origin, accessToken: token, userId: '@alice:authmedia.test' }),
      SESSION_OK,
    );
    const img = await engine.run('return e.image(args[0], args[1])', recorder.url(`/_matrix/client/v1/media/download/authmedia.test/redirected${n}`), crossOrigin);
    assert.equal(img.loaded, true, `${engine.name}: the redirected image loads`);
    const atHomeserver = recorder.requests.find((r) => r.method === 'GET' && r.path.endsWith(`/redirected${n}`));
    assert.equal(atHomeserver?.headers.authorization, `Bearer ${token}`, 'the homeserver got the token');
    const atCdn = await cdn.waitFor((r) => r.method === 'GET' && r.path.endsWith(`/redirected${n}`));
    assert.equal(atCdn.headers.authorization, undefined, `${engine.name}: the token did not follow the redirect`);
    // No request at the CDN carried the token: not as a header, not in a URL, not anywhere.
    for (const r of cdn.requests) {
      assert.equal(r.headers.authorization, undefined, `${engine.name}: ${r.method} ${r.path} carried Authorization`);
      assert.ok(!JSON.stringify(r).includes(token), `${engine.name}: the token reached the CDN in ${JSON.stringify(r)}`);
    }
    assert.ok(recorder.requests.every((r) => !r.url.includes(token)), 'no token in a URL');
    // Engines differ here (README, browser notes): WebKit preflights the redirected request at the CDN
    // announcing `Access-Control-Request-Headers: authorization` (the name only), then sends the GET
    // without it; Chromium and Firefox drop the header before the CDN sees anything.
    const announced = cdn.withAuthorization().map((r) => r.method);
    return { announced, cdnRequests: cdn.requests.map((r) => `${r.method} ${r.path}`) };
  } finally {
    await recorder.close();
    await cdn.close();
  }
}

/** Inits the page SDK on `pageSite` (tests/pages/page/site.mjs) and mounts images and the mp4. */
async function fallbackPage(ctx, pageSite, options) {
  const { engine, world } = ctx;
  const fv = ctx.fallbackVideo ?? ctx.video;
  await engine.goto(pageSite.url('/'));
  await engine.run(
    `const t0 = Date.now();
     while (!window.amLoaded && !window.amLoadError && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 50));
     if (!window.amLoaded) throw new Error('package not loaded: ' + window.amLoadError);`,
  );
  const m = world.media;
  const info = await engine.run(
    `const [opts, html] = args;
     const media = await window.am.AuthMedia.init(opts);
     window.media = media;
     const root = document.getElementById('root');
     root.innerHTML = html;
     media.mount(root);
     return { mode: media.mode, reason: media.fallbackReason, controlled: Boolean(navigator.serviceWorker && navigator.serviceWorker.controller) };`,
    { ...sessionOf(world, world.users.alice), ...options },
    `<img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px;display:block" alt="">
     <img id="full" data-mxc="${m.png64.mxc}" alt="">
     <img id="cors" data-mxc="${m.jpeg.mxc}" crossorigin="anonymous" style="width:100px;height:100px;display:block" data-method="crop" alt="">
     <video id="mp4" data-mxc="${fv.mxc}" muted playsinline preload="auto" style="width:320px;height:180px;display:block"></video>`,
  );
  await engine.run(
    `const t0 = Date.now();
     const settled = () => [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState));
     while (!settled() && Date.now() - t0 < 90000) await new Promise((r) => setTimeout(r, 100));`,
  );
  const report = await engine.run(
    `return [...document.querySelectorAll('#root [data-mxc]')].map((el) => ({
       id: el.id, state: el.dataset.authmediaState, error: el.dataset.authmediaError || null,
       blob: (el.getAttribute('src') || '').startsWith('blob:'),
       w: el.tagName === 'IMG' ? el.naturalWidth : el.videoWidth, h: el.tagName === 'IMG' ? el.naturalHeight : el.videoHeight,
       ok: el.tagName === 'IMG' ? el.complete && el.naturalWidth > 0 : el.readyState >= 1 && el.videoWidth > 0,
     }));`,
  );
  const r = Object.fromEntries(report.map((x) => [x.id, x]));
  for (const id of ['box', 'full', 'cors', 'mp4']) {
    assert.ok(r[id] && r[id].ok && r[id].state === 'loaded' && r[id].blob, `${engine.name} ${id}: ${JSON.stringify(r[id])}`);
  }
  assert.deepEqual([r.box.w, r.box.h], [320, 240]);
  assert.deepEqual([r.full.w, r.full.h], [64, 64]);
  assert.deepEqual([r.mp4.w, r.mp4.h], [fv.width, fv.height]);
  // The video plays from its blob URL and seeks.
  const v = await engine.run(
    `${PLAY_ADVANCING}
     const v = document.getElementById('mp4');
     const wait = (name, ok) => new Promise((resolve, reject) => {
       if (ok()) return resolve();
       const timer = setTimeout(() => reject(new Error('no ' + name)), 30000);
       const on = () => { if (ok()) { clearTimeout(timer); v.removeEventListener(name, on); resolve(); } };
       v.addEventListener(name, on);
     });
     const { replayed } = await playAdvancing(v, 0.2, 30000);
     v.pause();
     const target = v.duration / 2;
     const seeked = wait('seeked', () => !v.seeking && Math.abs(v.currentTime - target) < 0.5);
     v.currentTime = target;
     await seeked;
     return { currentTime: v.currentTime, duration: v.duration, readyState: v.readyState, replayed };`,
  );
  logReplay(`${engine.name} fallback video`, v);
  assert.ok(Math.abs(v.currentTime - fv.durationS / 2) < 0.5 && v.readyState >= 2, `${engine.name} fallback video: ${JSON.stringify(v)}`);
  const stats = await engine.run('return window.media.stats()');
  assert.equal(stats.fallback.fetches, 4);
  return { info, report, video: v, stats };
}

export async function fallbackUncontrolled(ctx, pageSite) {
  const out = await fallbackPage(ctx, pageSite, { workerUrl: null });
  assert.equal(out.info.mode, 'fallback');
  assert.equal(out.info.controlled, false);
  return out;
}

export async function fallbackForced(ctx, pageSite) {
  const out = await fallbackPage(ctx, pageSite, { fallback: 'force' });
  assert.deepEqual([out.info.mode, out.info.reason], ['fallback', 'forced']);
  return out;
}
