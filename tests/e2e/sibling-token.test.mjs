/**
 * Several `AuthMedia` instances of one account in one tab share one session: a token change on one
 * of them is the token of all (Chromium, real Synapse behind the fault proxy, the built package and
 * worker).
 *
 * The tokens are real refreshable ones: a login with `refresh_token: true`, then Synapse's
 * `POST /_matrix/client/v3/refresh` gives the new access token. Once the app holds the new token,
 * the old one is refused by the proxy (401 `M_UNKNOWN_TOKEN`), as a homeserver that revokes a
 * refreshed token does; every request's `Authorization` is recorded there.
 *
 * - worker mode, `setAccessToken(t2)` on the instance that does not answer the worker: after the
 *   worker restarts, the tab's answer to `need-session` is t2 (the sibling answers), and the media
 *   loads with it;
 * - worker mode, an image of b that failed `unauthorized` (t1 revoked before the app had t2) loads
 *   again after `setAccessToken(t2)` on a;
 * - worker mode, the answering instance's `onTokenRefresh` produces t2 after a 401, then that
 *   instance is disposed (a component unmounting): after a worker restart the survivor answers t2,
 *   and nobody refreshes a second time;
 * - the fallback (every instance forced into it): a sibling of the same account fetches with t2;
 *   an instance of another account in the tab keeps its own token; a disposed one sends nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startFaultProxy, revokeToken } from '../lib/fault-proxy.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

let world;
let site;

before(async () => {
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  world = await loadWorld();
  site = await startPageSite();
});

after(async () => {
  await site?.close();
});

/** A fresh refreshable login of alice: `{accessToken, refreshToken}`. */
function refreshableLogin() {
  return mx.refreshableLogin(world.synapse.baseUrl, 'alice', world.users.alice.password);
}

/** Synapse's refresh of `refreshToken`: the next `{accessToken, refreshToken}`. */
function refresh(refreshToken) {
  return mx.refreshLogin(world.synapse.baseUrl, refreshToken);
}

/** From now on the proxy refuses `token` on every request, as a homeserver that revoked it. */
function revoke(proxy, token) {
  revokeToken(proxy, token, 'Access token has been refreshed');
}

/** In the page: instances by name, the tab's answers to `need-session` (their tokens), a media fetch. */
function setUpPage(page) {
  return page.evaluate(() => {
    window.sessionAnswers = [];
    const post = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (data, ...rest) {
      if (data && typeof data === 'object' && 'session' in data) window.sessionAnswers.push(data.session ? data.session.accessToken : null);
      return post.call(this, data, ...rest);
    };
    window.refreshes = 0;
    window.instances = {};
    window.makeInstance = async (name, opts, refreshing) => {
      if (refreshing) {
        opts.onTokenRefresh = async () => {
          window.refreshes += 1;
          return window.refreshInNode();
        };
      }
      window.instances[name] = await window.am.AuthMedia.init(opts);
      return window.instances[name].mode;
    };
    // A thumbnail of a size not asked before (a new request) through the worker: its status.
    window.fetchThumb = async (name, mxc, size) => {
      const url = window.instances[name].httpUrl(mxc, { thumbnail: { width: size, height: size } });
      const r = await fetch(url);
      await r.arrayBuffer();
      return { status: r.status, code: r.headers.get('authmedia-code') };
    };
    // The same through an instance's own fetch (the fallback): 'ok' or the error's code.
    window.srcThumb = (name, mxc, size) =>
      window.instances[name].src(mxc, { thumbnail: { width: size, height: size } }).then(
        (u) => (u.startsWith('blob:') ? 'ok' : u),
        (e) => e.code,
      );
  });
}

/** The tokens of the media requests the proxy saw from index `from` on (`Bearer ` stripped). */
function mediaTokens(proxy, from = 0) {
  return proxy.requests
    .slice(from)
    .filter((r) => r.method === 'GET' && r.path.includes('/media/'))
    .map((r) => (r.headers.authorization ?? '').replace(/^Bearer /, ''));
}

async function withPage(run) {
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  const browser = await launchChromium();
  const lines = collectConsole(browser.page);
  try {
    await browser.page.goto(site.url('/'));
    await waitForPackage(browser.page);
    await setUpPage(browser.page);
    await run(browser.page, proxy);
  } catch (e) {
    e.message += `\n--- browser console ---\n${lines.slice(-40).join('\n')}`;
    throw e;
  } finally {
    await browser.close();
    await proxy.close();
  }
}

const aliceOpts = (proxy, accessToken, extra = {}) => ({ homeserver: proxy.origin, accessToken, userId: world.users.alice.userId, fallbackWarning: false, ...extra });

test('worker: setAccessToken on one instance is the token its sibling gives a restarted worker', { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  await withPage(async (page, proxy) => {
    const t1 = await refreshableLogin();
    await page.evaluate((o) => window.makeInstance('a', o), aliceOpts(proxy, t1.accessToken));
    await page.waitForFunction(() => window.instances.a.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    // b came second: it answers the worker's questions for the tab.
    assert.equal(await page.evaluate((o) => window.makeInstance('b', o), aliceOpts(proxy, t1.accessToken)), 'worker');
    assert.deepEqual(await page.evaluate((png) => window.fetchThumb('a', png, 50), png), { status: 200, code: null });

    // The app refreshes and tells a.
    const t2 = await refresh(t1.refreshToken);
    await page.evaluate((t) => window.instances.a.setAccessToken(t), t2.accessToken);
    revoke(proxy, t1.accessToken);
    // The worker has t2 once a new request goes out with it (a's `authmedia:token` is posted at once).
    const tried = proxy.requests.length;
    let size = 60;
    for (; size < 80; size++) {
      const got = await page.evaluate(([png, size]) => window.fetchThumb('a', png, size), [png, size]);
      if (got.status === 200) break;
    }
    assert.ok(size < 80 && mediaTokens(proxy, tried).includes(t2.accessToken), `the worker got t2: ${JSON.stringify(mediaTokens(proxy, tried))}`);

    // The browser stops the idle worker; the restarted one asks the tab for its session.
    await stopServiceWorkers(page);
    await page.evaluate(() => (window.sessionAnswers.length = 0));
    const before = proxy.requests.length;
    const got = await page.evaluate((png) => window.fetchThumb('a', png, 90), png);
    assert.deepEqual(await page.evaluate(() => window.sessionAnswers), [t2.accessToken], 'the tab answers need-session with the current token');
    assert.deepEqual(got, { status: 200, code: null });
    assert.deepEqual(mediaTokens(proxy, before), [t2.accessToken], 'after the restart the media went out with t2 only');
  });
});

test("worker: a sibling's image that failed 'unauthorized' loads again after setAccessToken on another instance", { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  await withPage(async (page, proxy) => {
    const t1 = await refreshableLogin();
    await page.evaluate((o) => window.makeInstance('a', o), aliceOpts(proxy, t1.accessToken));
    await page.waitForFunction(() => window.instances.a.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    assert.equal(await page.evaluate((o) => window.makeInstance('b', o), aliceOpts(proxy, t1.accessToken)), 'worker');
    // The homeserver revokes t1 before the app has the next token: b's image fails.
    const t2 = await refresh(t1.refreshToken);
    revoke(proxy, t1.accessToken);
    await page.evaluate((png) => {
      const root = document.createElement('div');
      document.body.append(root);
      window.instances.b.mount(root);
      const img = document.createElement('img');
      img.id = 'b1';
      img.alt = '';
      img.dataset.mxc = png;
      img.dataset.width = '70';
      img.dataset.height = '70';
      root.append(img);
    }, png);
    await page.waitForFunction(() => document.getElementById('b1').dataset.authmediaState === 'error', null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.getElementById('b1').dataset.authmediaError), 'unauthorized');
    // The app gives the new token to a only.
    await page.evaluate((t) => window.instances.a.setAccessToken(t), t2.accessToken);
    await page.waitForFunction(() => document.getElementById('b1').dataset.authmediaState === 'loaded', null, { timeout: 30_000 });
    assert.ok(await page.evaluate(() => document.getElementById('b1').decode().then(() => document.getElementById('b1').naturalWidth > 0)));
  });
});

test("worker: the token one instance's onTokenRefresh produced is its sibling's after it is disposed", { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  await withPage(async (page, proxy) => {
    let tokens = await refreshableLogin();
    const t1 = tokens.accessToken;
    // The app's refresh (one rotation of the refresh token per call), run in Node.
    await page.exposeFunction('refreshInNode', async () => {
      tokens = await refresh(tokens.refreshToken);
      revoke(proxy, t1);
      return tokens.accessToken;
    });
    await page.evaluate((o) => window.makeInstance('a', o, true), aliceOpts(proxy, t1));
    await page.waitForFunction(() => window.instances.a.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    assert.equal(await page.evaluate((o) => window.makeInstance('b', o, true), aliceOpts(proxy, t1)), 'worker');

    // t1 is refused once (it expired): the worker asks the tab, b (the answerer) refreshes.
    proxy.fault((r) => r.method === 'GET' && r.headers.authorization === `Bearer ${t1}`, {
      status: 401,
      times: 1,
      body: { errcode: 'M_UNKNOWN_TOKEN', error: 'Access token has expired', soft_logout: true },
    });
    assert.deepEqual(await page.evaluate((png) => window.fetchThumb('a', png, 50), png), { status: 200, code: null });
    assert.equal(await page.evaluate(() => window.refreshes), 1);
    const t2 = tokens.accessToken;

    // b's component unmounts; a answers for the tab from now on.
    await page.evaluate(() => window.instances.b.dispose());
    await stopServiceWorkers(page);
    await page.evaluate(() => (window.sessionAnswers.length = 0));
    const before = proxy.requests.length;
    const got = await page.evaluate((png) => window.fetchThumb('a', png, 51), png);
    assert.deepEqual(await page.evaluate(() => window.sessionAnswers), [t2], 'the survivor answers need-session with the refreshed token');
    assert.deepEqual(got, { status: 200, code: null });
    assert.deepEqual(mediaTokens(proxy, before), [t2], 'after the restart the media went out with t2 only');
    assert.equal(await page.evaluate(() => window.refreshes), 1, 'no second refresh');
  });
});

test('fallback: a sibling of the same account fetches with the new token; another account and a disposed instance are not touched', { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  const bob = world.users.bob;
  await withPage(async (page, proxy) => {
    const t1 = await refreshableLogin();
    const force = { fallback: 'force' };
    for (const name of ['a', 'b', 'd']) {
      assert.equal(await page.evaluate(([n, o]) => window.makeInstance(n, o), [name, aliceOpts(proxy, t1.accessToken, force)]), 'fallback');
    }
    const bobOpts = { homeserver: proxy.origin, accessToken: bob.accessToken, userId: bob.userId, fallbackWarning: false, ...force };
    assert.equal(await page.evaluate((o) => window.makeInstance('c', o), bobOpts), 'fallback');
    assert.equal(await page.evaluate((png) => window.srcThumb('b', png, 50), png), 'ok');
    await page.evaluate(() => window.instances.d.dispose());

    const t2 = await refresh(t1.refreshToken);
    await page.evaluate((t) => window.instances.a.setAccessToken(t), t2.accessToken);
    revoke(proxy, t1.accessToken);

    let before = proxy.requests.length;
    assert.equal(await page.evaluate((png) => window.srcThumb('b', png, 60), png), 'ok', "b's own fetch after a's setAccessToken");
    assert.deepEqual(mediaTokens(proxy, before), [t2.accessToken], 'b fetched with t2 only');
    before = proxy.requests.length;
    assert.equal(await page.evaluate((png) => window.srcThumb('c', png, 61), png), 'ok');
    assert.deepEqual(mediaTokens(proxy, before), [bob.accessToken], "bob's instance keeps bob's token");
    before = proxy.requests.length;
    assert.equal(await page.evaluate((png) => window.srcThumb('d', png, 62), png), 'logged_out');
    assert.deepEqual(mediaTokens(proxy, before), [], 'a disposed instance sends nothing');
  });
});
