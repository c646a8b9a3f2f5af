/**
 * Errors a newcomer can act on (Chromium, real Synapse, the built package):
 *
 * - a homeserver that cannot be reached: `init` rejects `network`, reason `unreachable`, and the
 *   message names the URL tried;
 * - a "homeserver" that is not one — the app's own origin (404 for `/versions`) or a site that
 *   answers every path with its HTML (an SPA fallback): "is <url> a Matrix homeserver?";
 * - a base URL ending in `/_matrix/client` or `/_matrix`: `invalid_argument` naming the base URL to
 *   give, before any request;
 * - every error from the WebAssembly module starts with `matrix-authmedia: ` like the loader's;
 * - `mount()` sizing: `data-width`/`data-height` win over the element's layout box when both are
 *   given (an `<img alt="…">` has the box of its alt text before it loads).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { freePort } from '../../support/procs.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, initInPage } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let consoleLines;
let closedPort;

const SPA_HTML = '<!doctype html><title>my app</title><div id="app"></div>';

before(async () => {
  world = await loadWorld();
  site = await startPageSite({
    // An app whose server answers every unknown path under /spa/ with its index.html.
    routes: (req, res, url) => {
      if (!url.pathname.startsWith('/spa/')) return false;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(SPA_HTML);
      return true;
    },
  });
  browser = await launchChromium();
  consoleLines = collectConsole(browser.page);
  closedPort = await freePort();
  await browser.page.goto(site.url('/'));
  await waitForPackage(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => consoleLines.slice(-30).join('\n');

/** `AuthMedia.init(opts)` in the page; the rejection as {code, reason, message, name, isOurs}. */
function initError(opts) {
  return browser.page.evaluate(async (opts) => {
    try {
      const media = await window.am.AuthMedia.init(opts);
      return { resolved: media.mode };
    } catch (e) {
      return { code: e.code, reason: e.reason ?? null, message: e.message, name: e.name, isOurs: e instanceof window.am.AuthMediaError };
    }
  }, opts);
}

function alice(extra = {}) {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, workerUrl: null, ...extra };
}

test('an unreachable homeserver: network/unreachable, the message names the URL', { timeout: 60_000 }, async () => {
  const hs = `http://127.0.0.1:${closedPort}`;
  const e = await initError(alice({ homeserver: hs }));
  assert.equal(e.code, 'network', JSON.stringify(e));
  assert.equal(e.reason, 'unreachable', JSON.stringify(e));
  assert.ok(e.isOurs && e.name === 'AuthMediaError', JSON.stringify(e));
  assert.ok(e.message.startsWith('matrix-authmedia: '), e.message);
  assert.ok(e.message.includes(`${hs}/_matrix/client/versions`), e.message);
  assert.match(e.message, /could not reach the homeserver at http:\/\/127\.0\.0\.1:\d+ /);
});

test('the app\'s own origin as homeserver (404 for /versions): "is <url> a Matrix homeserver?"', { timeout: 60_000 }, async () => {
  const e = await initError(alice({ homeserver: site.origin }));
  assert.equal(e.reason, 'not_a_homeserver', JSON.stringify(e));
  assert.ok(e.message.startsWith(`matrix-authmedia: is ${site.origin} a Matrix homeserver?`), e.message);
  assert.ok(e.message.includes('HTTP 404'), e.message);
});

test('a site answering HTML for /versions (SPA fallback): "is <url> a Matrix homeserver?"', { timeout: 60_000 }, async () => {
  const hs = `${site.origin}/spa`;
  const e = await initError(alice({ homeserver: hs }));
  assert.equal(e.reason, 'not_a_homeserver', JSON.stringify(e));
  assert.ok(e.message.startsWith(`matrix-authmedia: is ${hs} a Matrix homeserver?`), e.message);
  assert.ok(e.message.includes(`GET ${hs}/_matrix/client/versions`), e.message);
});

test('a base URL ending in /_matrix/client or /_matrix: invalid_argument naming the base URL, no request sent', { timeout: 60_000 }, async () => {
  const base = world.synapse.baseUrl;
  const before = site.requests.length;
  for (const given of [`${base}/_matrix/client`, `${base}/_matrix/client/`, `${base}/_matrix`, `${site.origin}/spa/_matrix/client/v3`]) {
    const e = await initError(alice({ homeserver: given }));
    assert.equal(e.code, 'invalid_argument', `${given}: ${JSON.stringify(e)}`);
    assert.equal(e.reason, 'endpoint_path', `${given}: ${JSON.stringify(e)}`);
    assert.ok(e.message.startsWith('matrix-authmedia: options.homeserver must be the homeserver\'s base URL'), e.message);
    const want = given.startsWith(site.origin) ? `${site.origin}/spa` : base;
    assert.ok(e.message.includes(`give "${want}"`), `${given}: ${e.message}`);
  }
  assert.equal(site.requests.slice(before).filter((r) => r.url.includes('/_matrix/')).length, 0, 'a request was sent for a refused base URL');
  // The base URL itself works.
  assert.deepEqual(await initError(alice()), { resolved: 'fallback' });
});

test('every error from the WebAssembly module starts with "matrix-authmedia: "', { timeout: 60_000 }, async () => {
  const page = browser.page;
  await initInPage(page, alice());
  const messages = await page.evaluate(async () => {
    const out = {};
    const grab = async (label, f) => {
      try {
        await f();
        out[label] = 'no error';
      } catch (e) {
        out[label] = `${e.code}|${e.message}`;
      }
    };
    await grab('mxc', () => window.media.src('mxc://../config'));
    await grab('thumbnail', () => window.media.src('mxc://a.example/b', { thumbnail: { width: -1, height: 1 } }));
    await grab('options', () => window.am.AuthMedia.init({ homeserver: 'ftp://x', accessToken: 't' }));
    await grab('token', () => window.media.setAccessToken('with space'));
    await grab('encrypted', () => window.media.srcEncrypted({ v: 'v2' }));
    await grab('data-method', async () => {
      const root = document.getElementById('root');
      root.innerHTML = '<img id="m" data-mxc="mxc://a.example/b" data-width="10" data-height="10" data-method="diagonal" alt="">';
      const events = [];
      window.media.addEventListener('error', (e) => events.push(e.detail.error));
      const unmount = window.media.mount(root);
      unmount();
      throw events[0] ?? new Error('no error event');
    });
    await window.media.logout();
    await grab('logged_out', () => window.media.src('mxc://a.example/b'));
    return out;
  });
  for (const [label, m] of Object.entries(messages)) {
    const [code, message] = m.split('|');
    assert.ok(code && code !== 'undefined', `${label}: ${m}`);
    assert.ok(message?.startsWith('matrix-authmedia: '), `${label}: ${m}`);
  }
  assert.equal(messages.mxc.split('|')[0], 'invalid_mxc');
  assert.equal(messages['data-method'].split('|')[0], 'invalid_argument');
  assert.equal(messages.logged_out.split('|')[0], 'logged_out');
});

test('mount() sizing: data-width/data-height win over the layout box (an <img alt> has its alt text\'s box)', { timeout: 90_000 }, async () => {
  const page = await browser.context.newPage();
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await initInPage(page, alice({ fallback: 'force' }));
    const m = world.media;
    await page.evaluate((m) => {
      const root = document.getElementById('root');
      root.className = 'col';
      root.innerHTML = `
        <img id="alt-attrs" data-mxc="${m.png800.mxc}" alt="A photo of the sea at sunset" data-width="48" data-height="48" data-method="crop">
        <img id="box-attrs" data-mxc="${m.png800.mxc}" style="width:400px;height:300px" data-width="48" data-height="48" data-method="crop" alt="">
        <img id="box" data-mxc="${m.png800.mxc}" style="width:160px;height:120px" alt="">
        <img id="none" data-mxc="${m.png64.mxc}" alt="">`;
      window.media.mount(root);
    }, m);
    await page.waitForFunction(() => [...document.querySelectorAll('#root [data-mxc]')].every((el) => ['loaded', 'error'].includes(el.dataset.authmediaState)), null, { timeout: 60_000 });
    const sizes = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll('#root img')].map((i) => [i.id, [i.dataset.authmediaState, i.naturalWidth, i.naturalHeight]])),
    );
    assert.deepEqual(sizes['alt-attrs'], ['loaded', 96, 96], `${JSON.stringify(sizes)}\n${logs()}`);
    assert.deepEqual(sizes['box-attrs'], ['loaded', 96, 96], JSON.stringify(sizes));
    // Without data-width/height: the CSS box (160×120 → the 320×240 preset); no size at all: the original.
    assert.deepEqual(sizes.box, ['loaded', 320, 240], JSON.stringify(sizes));
    assert.deepEqual(sizes.none, ['loaded', 64, 64], JSON.stringify(sizes));
  } finally {
    await page.close();
  }
});
