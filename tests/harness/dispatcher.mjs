/**
 * The page's one dispatcher of the worker's messages, as a scenario any browser driver can run
 * (`tests/e2e/dispatcher.test.mjs` in Chromium, `dispatcher-firefox.test.mjs` in Firefox ESR):
 * three `AuthMedia` instances in one tab, each with its own token, disposed one by one, then
 * a new one. Every question of the worker is answered exactly once — by the last live holder of the
 * tab's session (for `need-encrypted`, by the instance that registered the id) or "none".
 *
 * The questions are the worker's own messages dispatched on `navigator.serviceWorker` with the
 * controller as their source: the listeners run synchronously, so the answers the page posted are
 * all recorded when the dispatch returns (a token refresh answers later, and is awaited).
 */
import assert from 'node:assert/strict';
import * as mx from '../../support/matrix.mjs';

/** In-page helpers: instances by name, their `error` events, every answer posted on a port. */
const SET_UP = `
  // The page's answers to the worker go out on the question's MessagePort (what the page sends the
  // worker itself goes through ServiceWorker.postMessage).
  window.answers = [];
  const post = MessagePort.prototype.postMessage;
  MessagePort.prototype.postMessage = function (data, ...rest) {
    window.answers.push(data);
    return post.call(this, data, ...rest);
  };
  // The protocol the page speaks: the one its authmedia:session messages carry.
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
  // Dispatches a worker's message from the controller (or from this window: not a worker) and
  // returns the answers the page posted for it, summarised.
  window.ask = async (data, fromWindow) => {
    const source = fromWindow ? window : navigator.serviceWorker.controller;
    const channel = new MessageChannel();
    const first = new Promise((resolve) => (channel.port1.onmessage = (e) => resolve(e.data)));
    const from = window.answers.length;
    navigator.serviceWorker.dispatchEvent(new MessageEvent('message', { data, ports: [channel.port2], source }));
    // A token refresh answers later (bounded: no answer fails the test's comparison).
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
`;

const answer = (field, value) => ({ session: 'absent', accessToken: 'absent', file: 'absent', [field]: value });

/**
 * Runs the scenario on a page that has loaded the package (`window.am`) and no instance yet.
 * `run(body, arg)` evaluates the async function body `body` in the page with `arg` bound;
 * `restart()` (optional) makes the browser stop the worker, for the one real question (a restarted
 * worker asking for a disposed instance's key).
 */
export async function dispatcherScenario({ run, world, file, restart }) {
  const base = world.synapse.baseUrl;
  const tokens = {};
  for (const name of ['a', 'b', 'c', 'd']) tokens[name] = (await mx.login(base, 'alice', world.users.alice.password)).accessToken;
  const opts = (name) => ({ homeserver: base, accessToken: tokens[name], userId: world.users.alice.userId, fallbackWarning: false });
  const make = (name) => run('return window.makeInstance(arg[0], arg[1]);', [name, opts(name)]);
  const dispose = (name) => run('window.instances[arg].dispose();', name);
  const ask = (data, fromWindow = false) => run('return window.ask(arg[0], arg[1]);', [data, fromWindow]);
  const errors = () => run('const e = window.errors.slice(); window.errors.length = 0; return e;');
  let protocol;
  const needSession = (p = protocol) => ({ type: 'authmedia:need-session', protocol: p });
  const needToken = { type: 'authmedia:need-token', userId: world.users.alice.userId };
  const needKey = (id) => ({ type: 'authmedia:need-encrypted', id });
  const unauthorized = { type: 'authmedia:unauthorized', userId: world.users.alice.userId, errcode: 'M_UNKNOWN_TOKEN' };
  const sessionOf = (name) => [answer('session', tokens[name])];
  const tokenOf = (name) => [answer('accessToken', tokens[name])];
  const noSession = [answer('session', null)];
  const noToken = [answer('accessToken', null)];
  const noKey = [answer('file', null)];
  const theKey = [answer('file', file.url)];

  await run(SET_UP);
  await make('a');
  // The first load: a reaches worker mode once the worker claimed the page.
  const reached = await run(`
    const ready = () => window.instances.a.mode === 'worker' && navigator.serviceWorker.controller !== null;
    const deadline = Date.now() + 30000;
    while (!ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return ready();`);
  assert.equal(reached, true, 'instance a never reached worker mode with a controller');
  assert.equal(await make('b'), 'worker');
  assert.equal(await make('c'), 'worker');
  protocol = await run('return window.protocol;');
  assert.equal(typeof protocol, 'number');
  // a and b register the same file: each under its own id, served by the worker.
  const urls = await run(
    "return Promise.all(['a', 'b'].map((n) => window.instances[n].srcEncrypted(arg, { mimetype: 'image/png' })));",
    file,
  );
  const [idA, idB] = urls.map((u) => u.split('/').pop());
  assert.ok(idA && idB && idA !== idB, JSON.stringify(urls));
  assert.equal(await run('return (await fetch(arg)).status;', urls[1]), 200);

  // Three live instances: c, the last to hand over its session, answers.
  assert.deepEqual(await ask(needSession()), sessionOf('c'));
  assert.deepEqual(await ask(needToken), tokenOf('c'));
  assert.deepEqual(await ask(needKey(idB)), theKey, 'b registered idB');

  // The middle one disposed: c still answers; b's key is gone ("none", not silence), a's is there.
  await dispose('b');
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
  await errors();
  assert.deepEqual(await ask(unauthorized), []);
  assert.deepEqual(await errors(), [{ name: 'c', code: 'unauthorized' }]);

  if (restart) {
    // A restarted worker asks for b's key for real: one "none" from the page, then the worker's 404.
    await restart();
    await run('window.answers.length = 0;');
    const restarted = await run(
      "const r = await fetch(arg); return { status: r.status, code: r.headers.get('authmedia-code') };",
      urls[1],
    );
    assert.deepEqual(restarted, { status: 404, code: 'not_found' });
    const real = await run("return window.answers.map((a) => Object.keys(a).sort().join(','));");
    // Besides the session the restarted worker asked for: exactly one answer, with no file.
    assert.deepEqual(real.filter((k) => k !== 'api,protocol,session,type,version'), ['file'], `the page's answers: ${JSON.stringify(real)}`);
  }

  // c disposed: a answers.
  await dispose('c');
  assert.deepEqual(await ask(needSession()), sessionOf('a'));
  assert.deepEqual(await ask(needToken), tokenOf('a'));
  // Every instance disposed: the page still answers, "none" to each question.
  await dispose('a');
  assert.deepEqual(await ask(needSession()), noSession);
  assert.deepEqual(await ask(needToken), noToken);
  assert.deepEqual(await ask(needKey(idA)), noKey);
  await errors();
  assert.deepEqual(await ask(unauthorized), []);
  assert.deepEqual(await errors(), []);

  // Init again (a remount): the new instance answers.
  assert.equal(await make('d'), 'worker');
  assert.deepEqual(await ask(needSession()), sessionOf('d'));
  assert.deepEqual(await ask(needToken), tokenOf('d'));
}
