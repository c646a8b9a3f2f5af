/**
 * Several `AuthMedia` instances in one tab (Chromium, real Synapse, the built package and worker):
 * the worker keeps one session per tab, not per instance.
 *
 * - `dispose()` detaches one instance (its elements unmounted, its listeners gone) and leaves the
 *   session to the others: the survivor keeps loading new media in worker mode, also after a worker
 *   restart, when exactly one instance answers the worker's `need-session`.
 * - `logout()` of one instance ends the tab's session: a sibling does not keep claiming worker mode
 *   (where every load would fail) but switches to the fallback (`modechange`, `fallbackReason:
 *   'session_ended'`) and shows its media from there; its `setAccessToken()` hands the worker its
 *   session again: worker mode, media load.
 * - The SDK listens with `addEventListener('message')`: a host page's own
 *   `navigator.serviceWorker.onmessage` stays in place.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let lines;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  site = await startPageSite();
  browser = await launchChromium();
  lines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => lines.slice(-30).join('\n');

/** In the page: helpers on window (instances, roots, load waits, a count of session answers). */
function setUpPage(page) {
  return page.evaluate(() => {
    window.hostHandler = () => {};
    navigator.serviceWorker.onmessage = window.hostHandler;
    // Every answer to need-session the page posts (a `session` field), counted.
    window.sessionAnswers = [];
    const post = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (data, ...rest) {
      if (data && typeof data === 'object' && 'session' in data) window.sessionAnswers.push(data.session ? data.session.accessToken : null);
      return post.call(this, data, ...rest);
    };
    window.instances = {};
    window.modeEvents = [];
    window.makeInstance = async (name, opts) => {
      const media = await window.am.AuthMedia.init(opts);
      media.addEventListener('modechange', (e) => window.modeEvents.push({ name, mode: e.detail.mode, reason: media.fallbackReason }));
      const root = document.createElement('div');
      root.id = `root-${name}`;
      document.body.append(root);
      media.mount(root);
      window.instances[name] = { media, root };
      return media.mode;
    };
    // Adds an image (a thumbnail of a size not asked before: a new request) under the instance's root.
    window.addImage = (name, id, mxc, size) => {
      const img = document.createElement('img');
      img.id = id;
      img.alt = '';
      img.dataset.mxc = mxc;
      img.dataset.width = String(size);
      img.dataset.height = String(size);
      window.instances[name].root.append(img);
    };
    window.settled = async (ids) => {
      const deadline = Date.now() + 30000;
      const els = ids.map((id) => document.getElementById(id));
      const done = (el) => ['error', 'too-large'].includes(el.dataset.authmediaState) || (el.dataset.authmediaState === 'loaded' && el.complete && (el.naturalWidth > 0 || !el.getAttribute('src')));
      while (!els.every(done) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return els.map((el) => ({
        id: el.id,
        state: el.dataset.authmediaState ?? null,
        error: el.dataset.authmediaError ?? null,
        scheme: (el.getAttribute('src') || '').split(':')[0],
        shown: el.complete && el.naturalWidth > 0,
      }));
    };
  });
}

function alice() {
  return { homeserver: world.synapse.baseUrl, accessToken: world.users.alice.accessToken, userId: world.users.alice.userId, fallbackWarning: false };
}

const shownIn = (scheme) => (r) => r.state === 'loaded' && r.shown && r.scheme === scheme;

test('two instances in one tab: dispose keeps the session for the other; logout moves siblings to the fallback; setAccessToken resumes', { timeout: 180_000 }, async () => {
  const { page } = browser;
  const png = world.media.png800.mxc;
  const jpeg = world.media.jpeg.mxc;
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await setUpPage(page);
    await page.evaluate((o) => window.makeInstance('a', o), alice());
    await page.waitForFunction(() => window.instances.a.media.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    assert.equal(await page.evaluate((o) => window.makeInstance('b', o), alice()), 'worker');
    await page.evaluate(([png, jpeg]) => {
      window.addImage('a', 'a1', png, 40);
      window.addImage('b', 'b1', jpeg, 41);
    }, [png, jpeg]);
    let r = await page.evaluate(() => window.settled(['a1', 'b1']));
    assert.ok(r.every(shownIn('http')), JSON.stringify(r));
    assert.equal(await page.evaluate(() => navigator.serviceWorker.onmessage === window.hostHandler), true, "the host's onmessage is kept");

    // dispose(a): a's elements are unmounted, b keeps the session.
    await page.evaluate(() => window.instances.a.media.dispose());
    const a1 = await page.evaluate(() => ({ src: document.getElementById('a1').getAttribute('src') }));
    assert.equal(a1.src, null, 'a disposed: its element is unmounted');
    await assert.rejects(page.evaluate(() => window.instances.a.media.src('mxc://x/y')), /logged out or was disposed/);
    await page.evaluate((jpeg) => window.addImage('b', 'b2', jpeg, 42), jpeg);
    r = await page.evaluate(() => window.settled(['b2']));
    assert.ok(r.every(shownIn('http')), `b after a.dispose(): ${JSON.stringify(r)}`);

    // A restarted worker asks the tab for its session: exactly one answer, b's token.
    await stopServiceWorkers(page);
    await page.evaluate(() => (window.sessionAnswers.length = 0));
    await page.evaluate((png) => window.addImage('b', 'b3', png, 43), png);
    r = await page.evaluate(() => window.settled(['b3']));
    assert.ok(r.every(shownIn('http')), `b after a worker restart: ${JSON.stringify(r)}`);
    assert.deepEqual(await page.evaluate(() => window.sessionAnswers), [world.users.alice.accessToken]);

    // c joins, then logs out: the tab's session ends; b goes to the fallback and shows its media from there.
    assert.equal(await page.evaluate((o) => window.makeInstance('c', o), alice()), 'worker');
    await page.evaluate(() => window.instances.c.media.logout());
    assert.deepEqual(
      await page.evaluate(() => ({ mode: window.instances.b.media.mode, reason: window.instances.b.media.fallbackReason, events: window.modeEvents })),
      { mode: 'fallback', reason: 'session_ended', events: [{ name: 'b', mode: 'fallback', reason: 'session_ended' }] },
    );
    r = await page.evaluate(() => window.settled(['b1', 'b2', 'b3']));
    assert.ok(r.every(shownIn('blob')), `b after c.logout(): ${JSON.stringify(r)}`);
    await page.evaluate((png) => window.addImage('b', 'b4', png, 44), png);
    r = await page.evaluate(() => window.settled(['b4']));
    assert.ok(r.every(shownIn('blob')), `a new element of b after c.logout(): ${JSON.stringify(r)}`);

    // b.setAccessToken hands the worker its session again: worker mode, media from the worker.
    await page.evaluate((t) => window.instances.b.media.setAccessToken(t), world.users.alice.accessToken);
    await page.waitForFunction(() => window.instances.b.media.mode === 'worker', null, { timeout: 10_000 });
    await page.evaluate((jpeg) => window.addImage('b', 'b5', jpeg, 45), jpeg);
    r = await page.evaluate(() => window.settled(['b1', 'b2', 'b3', 'b4', 'b5']));
    assert.ok(r.every(shownIn('http')), `b after setAccessToken: ${JSON.stringify(r)}`);
    assert.equal(await page.evaluate(() => navigator.serviceWorker.onmessage === window.hostHandler), true);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  }
});
