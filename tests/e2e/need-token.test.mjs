/**
 * `authmedia:need-token` says which token the homeserver refused, and the page refreshes only when
 * that token is its current one (Chromium, worker mode, the built package and worker, real Synapse
 * behind the fault proxy).
 *
 * The tokens are real refreshable ones: a login with `refresh_token: true`, then Synapse's
 * `POST /_matrix/client/v3/refresh` (each refresh token works once) gives the next access token;
 * the app's `onTokenRefresh` runs that in Node and counts its calls. Once a token is replaced the
 * proxy refuses it (401 `M_UNKNOWN_TOKEN`), as a homeserver that revokes a refreshed token does.
 *
 * - the worker still holds t1 (the page's `authmedia:token` with t2 has not reached it: held back
 *   here, as a message still in transit or a worker restarted with older state) while the page
 *   holds t2: the 401 for t1 is answered with t2 and no `onTokenRefresh` call — a second refresh
 *   would rotate the app's refresh token behind its back — and the image loads with t2;
 * - the token the page holds expires: exactly one `onTokenRefresh` call for several images that
 *   hit the 401 together, and they load with the new token;
 * - the question carries a fingerprint of the refused token, never the token.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import * as mx from '../../support/matrix.mjs';
import { startFaultProxy, revokeToken } from '../lib/fault-proxy.mjs';
import { launchChromium, collectConsole } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';
import { fnv1a32 } from '../lib/fingerprint.mjs';

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
  revokeToken(proxy, token, 'Access token has expired');
}

/** The tokens of the media requests the proxy saw from index `from` on (`Bearer ` stripped). */
function mediaTokens(proxy, from = 0) {
  return proxy.requests
    .slice(from)
    .filter((r) => r.method === 'GET' && r.path.includes('/media/'))
    .map((r) => (r.headers.authorization ?? '').replace(/^Bearer /, ''));
}

/**
 * The page: `window.refreshes` counts `onTokenRefresh` calls (each one runs `refreshInNode`);
 * `window.questions` records the worker's `need-token` questions as the page received them; while
 * `window.holdTokens` is set the page's `authmedia:token` messages to the worker are dropped
 * (`window.heldTokens` counts them); `window.showThumbs(sizes)` shows the image at each thumbnail
 * size in an `<img>` and resolves with their outcomes.
 */
function setUpPage(page) {
  return page.evaluate(() => {
    window.refreshes = 0;
    window.questions = [];
    window.holdTokens = false;
    window.heldTokens = 0;
    navigator.serviceWorker.addEventListener('message', (ev) => {
      if (ev.data && ev.data.type === 'authmedia:need-token') window.questions.push(ev.data);
    });
    const post = ServiceWorker.prototype.postMessage;
    ServiceWorker.prototype.postMessage = function (data, ...rest) {
      if (window.holdTokens && data && data.type === 'authmedia:token') {
        window.heldTokens += 1;
        return undefined;
      }
      return post.call(this, data, ...rest);
    };
    window.makeInstance = async (opts) => {
      opts.onTokenRefresh = async () => {
        window.refreshes += 1;
        return window.refreshInNode();
      };
      window.media = await window.am.AuthMedia.init(opts);
      return window.media.mode;
    };
    window.showThumbs = (mxc, sizes) =>
      Promise.all(
        sizes.map(
          (size) =>
            new Promise((resolve) => {
              const img = document.createElement('img');
              img.onload = () => resolve({ size, outcome: img.naturalWidth > 0 ? 'load' : 'empty' });
              img.onerror = () => resolve({ size, outcome: 'error' });
              img.src = window.media.httpUrl(mxc, { thumbnail: { width: size, height: size } });
              document.body.append(img);
            }),
        ),
      );
  });
}

/** A worker-mode page of alice holding `t1`, whose `onTokenRefresh` rotates `state.tokens`. */
async function withPage(run) {
  const proxy = await startFaultProxy({ target: world.synapse.baseUrl });
  const browser = await launchChromium();
  const lines = collectConsole(browser.page);
  const page = browser.page;
  try {
    const state = { tokens: await refreshableLogin() };
    await page.exposeFunction('refreshInNode', async () => {
      const old = state.tokens.accessToken;
      state.tokens = await refresh(state.tokens.refreshToken);
      revoke(proxy, old);
      return state.tokens.accessToken;
    });
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await setUpPage(page);
    const opts = { homeserver: proxy.origin, accessToken: state.tokens.accessToken, userId: world.users.alice.userId, fallbackWarning: false };
    await page.evaluate((o) => window.makeInstance(o), opts);
    await page.waitForFunction(() => window.media.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    await run(page, proxy, state);
  } catch (e) {
    e.message += `\n--- browser console ---\n${lines.slice(-40).join('\n')}`;
    throw e;
  } finally {
    await browser.close();
    await proxy.close();
  }
}

const loaded = (sizes) => sizes.map((size) => ({ size, outcome: 'load' }));

test('worker: a 401 for a token the page has already replaced is answered with the current token, without onTokenRefresh', { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  await withPage(async (page, proxy, state) => {
    const t1 = state.tokens.accessToken;
    assert.deepEqual(await page.evaluate((png) => window.showThumbs(png, [50]), png), loaded([50]));

    // The app refreshed on its own and tells the SDK; the worker does not hear of it.
    await page.evaluate(() => (window.holdTokens = true));
    state.tokens = await refresh(state.tokens.refreshToken);
    const t2 = state.tokens.accessToken;
    revoke(proxy, t1);
    await page.evaluate((t) => window.media.setAccessToken(t), t2);
    assert.ok((await page.evaluate(() => window.heldTokens)) >= 1, 'setAccessToken tried to tell the worker');

    const before = proxy.requests.length;
    assert.deepEqual(await page.evaluate((png) => window.showThumbs(png, [60]), png), loaded([60]));
    assert.deepEqual(mediaTokens(proxy, before), [t1, t2], 'the worker tried t1, was refused, and used the page\'s t2');
    assert.equal(await page.evaluate(() => window.refreshes), 0, 'no onTokenRefresh: the refused token was not the page\'s');
    assert.equal(state.tokens.accessToken, t2, 'the app\'s refresh token was not rotated behind its back');

    const questions = await page.evaluate(() => window.questions);
    assert.equal(questions.length, 1, JSON.stringify(questions));
    assert.equal(questions[0].refused, fnv1a32(t1), `the question names the refused token by its fingerprint: ${JSON.stringify(questions[0])}`);
    assert.ok(!JSON.stringify(questions[0]).includes(t1), 'the question does not carry the token');

    // The worker keeps t2: the next image goes out with it, no question.
    const next = proxy.requests.length;
    assert.deepEqual(await page.evaluate((png) => window.showThumbs(png, [61]), png), loaded([61]));
    assert.deepEqual(mediaTokens(proxy, next), [t2]);
  });
});

test('worker: the token the page holds expires → exactly one onTokenRefresh for several images, which load with the new token', { timeout: 120_000 }, async () => {
  const png = world.media.png800.mxc;
  await withPage(async (page, proxy, state) => {
    const t1 = state.tokens.accessToken;
    assert.deepEqual(await page.evaluate((png) => window.showThumbs(png, [50]), png), loaded([50]));

    revoke(proxy, t1);
    const before = proxy.requests.length;
    const sizes = [70, 71, 72, 73];
    assert.deepEqual(await page.evaluate(([png, sizes]) => window.showThumbs(png, sizes), [png, sizes]), loaded(sizes));
    assert.equal(await page.evaluate(() => window.refreshes), 1, 'one refresh');
    const t2 = state.tokens.accessToken;
    assert.notEqual(t2, t1);
    const used = mediaTokens(proxy, before);
    assert.deepEqual(used.filter((t) => t !== t1), sizes.map(() => t2), `every image loaded with t2: ${JSON.stringify(used)}`);
    const questions = await page.evaluate(() => window.questions);
    assert.ok(questions.length >= 1 && questions.every((q) => q.refused === fnv1a32(t1)), JSON.stringify(questions));
  });
});
