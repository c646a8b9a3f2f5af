/**
 * The homeserver's own media URLs without a worker: a page whose own code writes legacy
 * (`/_matrix/media/v3/…`) and v1 (`/_matrix/client/v1/media/…`) URLs into `<img src>` /
 * `<video src>`, with service workers unavailable — Chromium on an insecure origin
 * (http://authmedia.test:PORT, no `navigator.serviceWorker`) and Firefox ESR with
 * `dom.serviceWorkers.enabled = false`:
 *
 * - `mount(root, { homeserverUrls: true })` shows them through the fallback (blob: URLs of the
 *   right size, the video plays): set before the mount, added after it, and a `src` changed later;
 *   the original URL is kept in `data-authmedia-original-src`; a media-looking URL of another
 *   origin is left alone;
 * - the control: `mount(root)` without the option leaves such an element broken (what the option fixes);
 * - `src()` takes a homeserver media URL (legacy → the authenticated endpoint, shown as a blob),
 *   refuses another origin's (`invalid_mxc`, reason `not_media`) and options next to a URL;
 * - the cost: the elements' original URLs are never requested (the observer runs before their
 *   fetches start), counted from the browser's request log (Chromium) and Resource Timing
 *   (Firefox), each shown to see the control element's failed load; printed as diagnostics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { launchFirefox } from '../lib/webdriver.mjs';
import { startPageSite, waitForPackage } from '../pages/page/site.mjs';

const INSECURE_HOST = 'authmedia.test';

let world;
let site;

before(async () => {
  world = await loadWorld();
  site = await startPageSite();
});

after(async () => {
  await site?.close();
});

function urls() {
  const base = world.synapse.baseUrl;
  const part = (mxc) => mxc.slice('mxc://'.length);
  const m = world.media;
  return {
    base,
    // Set before mount():
    legacyDownload: `${base}/_matrix/media/v3/download/${part(m.png800.mxc)}`,
    legacyThumb: `${base}/_matrix/media/v3/thumbnail/${part(m.jpeg.mxc)}?width=32&height=32&method=crop`,
    // Added after mount():
    v1Thumb: `${base}/_matrix/client/v1/media/thumbnail/${part(m.png800.mxc)}?width=96&height=96&method=crop`,
    v1Video: `${base}/_matrix/client/v1/media/download/${part(m.webm.mxc)}`,
    // A src changed later:
    r0Download: `${base}/_matrix/media/r0/download/${part(m.jpeg.mxc)}`,
    // The control (mounted without the option) and src():
    v1Plain: `${base}/_matrix/client/v1/media/download/${part(m.png64.mxc)}`,
    legacySrc: `${base}/_matrix/media/v3/download/${part(m.png64.mxc)}`,
    // Media-looking, but not the homeserver: the page's own origin.
    otherOrigin: `/_matrix/media/v3/download/${part(m.png64.mxc)}`,
  };
}

/** The page's own code (run in either browser): init, mounts, elements with homeserver URLs. */
const SCENARIO = `
  const [opts, u] = args;
  const media = await window.am.AuthMedia.init(opts);
  window.media = media;
  const root = document.getElementById('root');
  const add = (parent, tag, id, src) => {
    const el = document.createElement(tag);
    el.id = id;
    if (tag === 'video') el.muted = true;
    else el.alt = '';
    el.src = src;
    parent.append(el);
    return el;
  };
  const plain = document.createElement('div');
  const watched = document.createElement('div');
  root.append(plain, watched);
  add(plain, 'img', 'plain-v1', u.v1Plain);
  media.mount(plain);
  add(watched, 'img', 'legacy', u.legacyDownload);
  add(watched, 'img', 'legacy-thumb', u.legacyThumb);
  add(watched, 'img', 'other', u.otherOrigin);
  media.mount(watched, { homeserverUrls: true });
  add(watched, 'img', 'v1-thumb', u.v1Thumb);
  add(watched, 'video', 'v1-video', u.v1Video);
  const late = add(watched, 'img', 'late', u.otherOrigin + '?late');
  // Let the observers see 'late' with its first src (a microtask queued after theirs), so the
  // change below reaches them as an attribute change.
  await new Promise((resolve) => queueMicrotask(resolve));
  late.src = u.r0Download;
  const outcome = (p) => p.then((url) => ({ url }), (e) => ({ code: e.code, reason: e.reason ?? null }));
  const viaSrc = await outcome(media.src(u.legacySrc).then(async (url) => {
    const img = new Image();
    img.src = url;
    await img.decode();
    return url.startsWith('blob:') ? img.naturalWidth : 'not a blob: ' + url;
  }));
  const elsewhere = await outcome(media.src('https://elsewhere.example/_matrix/media/v3/download/example.org/abc'));
  const withOptions = await outcome(media.src(u.v1Plain, { thumbnail: { width: 32, height: 32 } }));
  return { mode: media.mode, reason: media.fallbackReason, sw: 'serviceWorker' in navigator, viaSrc, elsewhere, withOptions };
`;

const SETTLED = `return ['legacy', 'legacy-thumb', 'v1-thumb', 'v1-video', 'late'].every((id) => {
  const el = document.getElementById(id);
  return el && ['loaded', 'error', 'too-large'].includes(el.dataset.authmediaState);
})`;

const REPORT = `return [...document.querySelectorAll('#root img, #root video')].map((el) => ({
  id: el.id,
  state: el.dataset.authmediaState ?? null,
  error: el.dataset.authmediaError ?? null,
  original: el.dataset.authmediaOriginalSrc ?? null,
  mxc: el.dataset.mxc ?? null,
  blob: (el.getAttribute('src') || '').startsWith('blob:'),
  size: el.tagName === 'IMG' ? [el.naturalWidth, el.naturalHeight] : [el.videoWidth, el.videoHeight],
  ready: el.tagName === 'IMG' ? el.complete && el.naturalWidth > 0 : el.readyState >= 1,
}))`;

function check(report, info) {
  const u = urls();
  const m = world.media;
  assert.equal(info.mode, 'fallback');
  assert.equal(info.sw, false, 'this page must have no service workers');
  assert.deepEqual(info.viaSrc, { url: m.png64.width });
  assert.deepEqual(info.elsewhere, { code: 'invalid_mxc', reason: 'not_media' });
  assert.equal(info.withOptions.code, 'invalid_argument');
  const r = Object.fromEntries(report.map((x) => [x.id, x]));
  const expected = {
    legacy: { original: u.legacyDownload, mxc: m.png800.mxc, size: [m.png800.width, m.png800.height] },
    'legacy-thumb': { original: u.legacyThumb, mxc: m.jpeg.mxc, size: [32, 32] },
    'v1-thumb': { original: u.v1Thumb, mxc: m.png800.mxc, size: [96, 96] },
    'v1-video': { original: u.v1Video, mxc: m.webm.mxc, size: [m.webm.width, m.webm.height] },
    late: { original: u.r0Download, mxc: m.jpeg.mxc, size: [m.jpeg.width, m.jpeg.height] },
  };
  for (const [id, want] of Object.entries(expected)) {
    const got = r[id];
    assert.ok(got, `${id} missing`);
    assert.deepEqual(
      { state: got.state, blob: got.blob, ready: got.ready, original: got.original, mxc: got.mxc, size: got.size },
      { state: 'loaded', blob: true, ready: true, ...want },
      `${id}: ${JSON.stringify(got)}`,
    );
  }
  // Not the homeserver: untouched.
  assert.deepEqual([r.other.mxc, r.other.original, r.other.state, r.other.blob], [null, null, null, false], JSON.stringify(r.other));
  // Without the option the page's v1 URL stays broken (the browser cannot send the token).
  assert.deepEqual([r['plain-v1'].mxc, r['plain-v1'].ready, r['plain-v1'].blob], [null, false, false], JSON.stringify(r['plain-v1']));
}

test('Chromium, insecure origin (no service workers): mount(root, {homeserverUrls: true}) shows legacy and v1 URLs the page wrote; src() takes them; the original URLs are never requested', { timeout: 180_000 }, async (t) => {
  const browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
  const lines = collectConsole(browser.page);
  const requests = [];
  browser.page.on('request', (req) => requests.push({ url: req.url(), auth: 'authorization' in req.headers() }));
  try {
    const page = browser.page;
    await page.goto(`http://${INSECURE_HOST}:${site.port}/`);
    await waitForPackage(page);
    const opts = { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId };
    const info = await page.evaluate(([body, args]) => new Function('args', `return (async () => {${body}})()`)(args), [SCENARIO, [opts, urls()]]);
    assert.equal(info.reason, 'insecure_context');
    await page.waitForFunction(new Function(SETTLED), null, { timeout: 90_000 }).catch((e) => {
      throw new Error(`${e.message}\n${lines.slice(-30).join('\n')}`);
    });
    check(await page.evaluate(new Function(REPORT)), info);
    // The cost, from the browser's own request log.
    const u = urls();
    const adopted = [u.legacyDownload, u.legacyThumb, u.v1Thumb, u.v1Video, u.r0Download];
    const tokenless = adopted.map((url) => requests.filter((r) => r.url === url && !r.auth).length);
    t.diagnostic(`homeserverUrls cost: tokenless requests per adopted element (legacy, legacy thumbnail, v1 thumbnail, v1 video, r0): ${tokenless.join(', ')}`);
    // The observer runs before the elements' fetches start (they await a stable state): README.
    for (const [i, n] of tokenless.entries()) assert.equal(n, 0, `${adopted[i]} was requested ${n} times without a token`);
    // The log does see such loads: the control element's URL went out without a token.
    assert.ok(requests.some((r) => r.url === u.v1Plain && !r.auth), 'the request log missed the control element');
    assert.ok(!requests.some((r) => r.auth && !r.url.startsWith(world.synapse.baseUrl)), 'a token went to another origin');
  } finally {
    await browser.close();
  }
});

test('Firefox ESR, service workers disabled: mount(root, {homeserverUrls: true}) shows legacy and v1 URLs the page wrote; src() takes them; the original URLs are never requested', { timeout: 240_000 }, async (t) => {
  const ff = await launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } });
  try {
    await ff.setTimeouts({ script: 120_000, pageLoad: 60_000 });
    await ff.navigate(site.url('/'));
    await ff.waitFor('return window.amLoaded || window.amLoadError', { timeoutMs: 30_000 });
    assert.equal(await ff.executeScript('return window.amLoadError || null'), null);
    const opts = { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId };
    const info = await ff.evaluate(SCENARIO, opts, urls());
    assert.equal(info.reason, 'no_service_worker');
    await ff.waitFor(SETTLED, { timeoutMs: 90_000 });
    check(await ff.executeScript(REPORT), info);
    // The cost, from Resource Timing (it lists the control's failed load, so it sees such requests).
    const u = urls();
    const adopted = [u.legacyDownload, u.legacyThumb, u.v1Thumb, u.v1Video, u.r0Download];
    const counts = await ff.executeScript(
      // Not the fallback's own fetch() (initiatorType "fetch"), which asks for the same v1 URLs with the token.
      'const loads = performance.getEntriesByType("resource").filter((e) => e.initiatorType !== "fetch").map((e) => e.name); return arguments[0].map((url) => loads.filter((n) => n === url).length);',
      [u.v1Plain, ...adopted],
    );
    assert.ok(counts[0] >= 1, `Resource Timing did not list the control's load: ${counts}`);
    t.diagnostic(`homeserverUrls cost in Firefox: element loads of the original URL per adopted element (legacy, legacy thumbnail, v1 thumbnail, v1 video, r0): ${counts.slice(1).join(', ')}`);
    for (const [i, n] of counts.slice(1).entries()) assert.equal(n, 0, `${adopted[i]} was loaded ${n} times by its element`);
  } finally {
    await ff.close();
  }
});
