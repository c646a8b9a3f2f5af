/**
 * The page's one dispatcher of the worker's messages (Chromium, real Synapse, the built package and
 * worker): three `AuthMedia` instances in one tab, each with its own token, disposed one by one.
 *
 * Every question of the worker (`need-session`, `need-token`, `need-encrypted`) gets exactly one
 * answer from the page: from the last live holder of the tab's session (for `need-encrypted`, from
 * the instance that registered the id), or "none" (`{session: null}`, `{accessToken: null}`,
 * `{file: null}`) when no instance can — also when the id belongs to a disposed instance and when
 * every instance is disposed, where a silent page would hold the worker's request for its whole
 * wait. A session, a token or a key never goes to a sender that is not this SDK's worker, nor a
 * session to a worker of another protocol; `unauthorized` reaches the answering instance only.
 *
 * The questions are the worker's own messages, dispatched on `navigator.serviceWorker` with the
 * controller as their source (the listeners run synchronously, so the answers the page posted are
 * all recorded when the dispatch returns), and once for real: a restarted worker asking for a key
 * registered by a disposed instance.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorld } from '../../support/world.mjs';
import { readFixture } from '../../support/fixtures.mjs';
import * as mx from '../../support/matrix.mjs';
import { uploadEncrypted } from '../harness/encrypted.mjs';
import { launchChromium, collectConsole, stopServiceWorkers } from '../lib/browser.mjs';
import { startPageSite, waitForPackage, hasWorker } from '../pages/page/site.mjs';

let world;
let site;
let browser;
let lines;
let file;

before(async () => {
  world = await loadWorld();
  if (!hasWorker()) throw new Error('npm/sw/authmedia-sw.js is missing: run scripts/build.sh');
  file = await uploadEncrypted(world, 'dispatcher', readFixture(world.media.png64));
  site = await startPageSite();
  browser = await launchChromium();
  lines = collectConsole(browser.page);
});

after(async () => {
  await browser?.close();
  await site?.close();
});

const logs = () => lines.slice(-30).join('\n');

/** In the page: instances by name, their `error` events, every answer the page posts on a port. */
function setUpPage(page) {
  return page.evaluate(() => {
    // The page's answers to the worker go out on the question's MessagePort (what the page sends
    // the worker itself goes through ServiceWorker.postMessage).
    window.answers = [];
    const post = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (data, ...rest) {
      window.answers.push(data);
      return post.call(this, data, ...rest);
    };
    // The protocol the page speaks: the one its `authmedia:session` messages carry.
    const toWorker = ServiceWorker.prototype.postMessage;
    ServiceWorker.prototype.postMessage = function (data, ...rest) {
      if (data && data.type === 'authmedia:session') window.protocol = data.protocol;
      return toWorker.call(this, data, ...rest);
    };
    window.instances = {};
    window.errors = [];
    window.makeInstance = async (name, opts) => {
      const token = opts.accessToken;
      // A refresh hands back the instance's own token: the answer says which instance refreshed.
      const media = await window.am.AuthMedia.init({ ...opts, onTokenRefresh: async () => token });
      media.addEventListener('error', (e) => window.errors.push({ name, code: e.detail.error && e.detail.error.code }));
      window.instances[name] = media;
      return media.mode;
    };
    /**
     * Dispatches a worker's message `data` from `source` (the controller, or this window: not a
     * worker) and returns the answers the page posted for it, summarised.
     */
    window.ask = async (data, fromWindow) => {
      const source = fromWindow ? window : navigator.serviceWorker.controller;
      const channel = new MessageChannel();
      const first = new Promise((resolve) => (channel.port1.onmessage = (e) => resolve(e.data)));
      const from = window.answers.length;
      navigator.serviceWorker.dispatchEvent(new MessageEvent('message', { data, ports: [channel.port2], source }));
      // A token refresh answers later (bounded here: no answer is a failure of the test); anything
      // else was answered, or not, while the listeners ran.
      if (window.answers.length === from && data.type === 'authmedia:need-token') {
        await Promise.race([first, new Promise((r) => setTimeout(r, 5000))]);
      }
      channel.port1.close();
      const field = (a, k, inner) => (k in a ? a[k] && inner(a[k]) : 'absent');
      return window.answers.slice(from).map((a) => ({
        session: field(a, 'session', (s) => s.accessToken),
        accessToken: field(a, 'accessToken', (t) => t),
        file: field(a, 'file', (f) => f.url),
      }));
    };
  });
}

const answer = (field, value) => ({ session: 'absent', accessToken: 'absent', file: 'absent', [field]: value });

test('one dispatcher: each worker question answered once, by the last live holder or the registering instance, else "none"', { timeout: 180_000 }, async () => {
  const { page } = browser;
  const base = world.synapse.baseUrl;
  const tokens = {};
  for (const name of ['a', 'b', 'c', 'd']) tokens[name] = (await mx.login(base, 'alice', world.users.alice.password)).accessToken;
  const opts = (name) => ({ homeserver: base, accessToken: tokens[name], userId: world.users.alice.userId, fallbackWarning: false });
  const ask = (data, fromWindow = false) => page.evaluate(([data, fromWindow]) => window.ask(data, fromWindow), [data, fromWindow]);
  let protocol;
  const needSession = (p = protocol) => ({ type: 'authmedia:need-session', protocol: p });
  const needToken = { type: 'authmedia:need-token', userId: world.users.alice.userId };
  const needKey = (id) => ({ type: 'authmedia:need-encrypted', id });
  const sessionOf = (name) => [answer('session', tokens[name])];
  const tokenOf = (name) => [answer('accessToken', tokens[name])];
  const noSession = [answer('session', null)];
  const noToken = [answer('accessToken', null)];
  const noKey = [answer('file', null)];
  const theKey = [answer('file', file.url)];
  const idOf = (url) => url.split('/').pop();
  try {
    await page.goto(site.url('/'));
    await waitForPackage(page);
    await setUpPage(page);
    await page.evaluate((o) => window.makeInstance('a', o), opts('a'));
    await page.waitForFunction(() => window.instances.a.mode === 'worker' && navigator.serviceWorker.controller, null, { timeout: 30_000 });
    assert.equal(await page.evaluate((o) => window.makeInstance('b', o), opts('b')), 'worker');
    assert.equal(await page.evaluate((o) => window.makeInstance('c', o), opts('c')), 'worker');
    protocol = await page.evaluate(() => window.protocol);
    assert.equal(typeof protocol, 'number');
    // a and b register the same file: each under its own id, served by the worker.
    const urls = await page.evaluate((f) => Promise.all(['a', 'b'].map((n) => window.instances[n].srcEncrypted(f, { mimetype: 'image/png' }))), file);
    assert.ok(urls.every((u) => u.startsWith(site.url('/'))), JSON.stringify(urls));
    const [idA, idB] = urls.map(idOf);
    assert.notEqual(idA, idB);
    assert.equal(await page.evaluate(async (u) => (await fetch(u)).status, urls[1]), 200);

    // Three live instances: c, the last to hand over its session, answers.
    assert.deepEqual(await ask(needSession()), sessionOf('c'));
    assert.deepEqual(await ask(needToken), tokenOf('c'));
    assert.deepEqual(await ask(needKey(idB)), theKey, 'b registered idB');

    // The middle one disposed: c still answers; b's key is gone ("none", not silence), a's is there.
    await page.evaluate(() => window.instances.b.dispose());
    assert.deepEqual(await ask(needSession()), sessionOf('c'));
    assert.deepEqual(await ask(needToken), tokenOf('c'));
    assert.deepEqual(await ask(needKey(idA)), theKey, 'a registered idA');
    assert.deepEqual(await ask(needKey(idB)), noKey, 'idB was registered by the disposed b');
    assert.deepEqual(await ask(needKey('unknown')), noKey);
    // Nothing secret to a sender that is not this SDK's worker, no session to another protocol.
    assert.deepEqual(await ask(needSession(), true), noSession);
    assert.deepEqual(await ask(needToken, true), noToken);
    assert.deepEqual(await ask(needKey(idA), true), noKey);
    assert.deepEqual(await ask(needSession(protocol + 1)), noSession);
    assert.deepEqual(await ask({ type: 'authmedia:need-session' }), noSession);
    // `unauthorized` reaches the answering instance only.
    await page.evaluate(() => (window.errors.length = 0));
    assert.deepEqual(await ask({ type: 'authmedia:unauthorized', userId: world.users.alice.userId, errcode: 'M_UNKNOWN_TOKEN' }), []);
    assert.deepEqual(await page.evaluate(() => window.errors), [{ name: 'c', code: 'unauthorized' }]);

    // A restarted worker asks for b's key for real: one "none" from the page, then the worker's 404.
    await stopServiceWorkers(page);
    await page.evaluate(() => (window.answers.length = 0));
    const restarted = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { status: r.status, code: r.headers.get('authmedia-code') };
    }, urls[1]);
    assert.deepEqual(restarted, { status: 404, code: 'not_found' });
    const real = await page.evaluate(() => window.answers.map((a) => Object.keys(a).sort().join(',')));
    assert.deepEqual(real.filter((k) => k !== 'api,protocol,session,type,version'), ['file'], `the page's answers: ${JSON.stringify(real)}`);

    // c disposed: a answers.
    await page.evaluate(() => window.instances.c.dispose());
    assert.deepEqual(await ask(needSession()), sessionOf('a'));
    assert.deepEqual(await ask(needToken), tokenOf('a'));
    // Every instance disposed: the page still answers, "none" to each question.
    await page.evaluate(() => window.instances.a.dispose());
    assert.deepEqual(await ask(needSession()), noSession);
    assert.deepEqual(await ask(needToken), noToken);
    assert.deepEqual(await ask(needKey(idA)), noKey);
    await page.evaluate(() => (window.errors.length = 0));
    await ask({ type: 'authmedia:unauthorized', errcode: 'M_UNKNOWN_TOKEN' });
    assert.deepEqual(await page.evaluate(() => window.errors), []);

    // Init again (a remount): the new instance answers.
    assert.equal(await page.evaluate((o) => window.makeInstance('d', o), opts('d')), 'worker');
    assert.deepEqual(await ask(needSession()), sessionOf('d'));
    assert.deepEqual(await ask(needToken), tokenOf('d'));
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  }
});
